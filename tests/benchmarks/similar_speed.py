""""Similar templates" speed at 100,000 rows: CPython, then the page's Pyodide (issue target 50 ms).

Not a test (timings are noisy here): run it and read the figures.

    PYTHONPATH=$PWD/site_src:$PWD .venv/bin/python tests/benchmarks/similar_speed.py [--rows 100000]

CPython: ``TemplateBrowser.similar`` after its one-time preview index (a query, the scores,
the ranking and one page of 25 rows), median of 7 calls. Pyodide: the same ranking in the
offline bundle's runtime under node (``similar_speed.mjs``), which also reports the one-time
index build.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from templatelib import format as fmt
from templatelib.app import TemplateBrowser
from templatelib.column_table import ColumnTable, TextColumn
from templatelib.similar import PreviewIndex

HERE = Path(__file__).resolve().parent


def preview_rows(ids: list[str], steps: np.ndarray) -> bytes:
    rows = np.zeros(len(ids), dtype=[("id", "V8"), ("scale", "<f4"), ("steps", "i1", (fmt.PREVIEW_SAMPLES,))])
    rows["id"] = np.frombuffer(b"".join(bytes.fromhex(t) for t in ids), dtype="V8")
    rows["scale"], rows["steps"] = 1.0, steps
    return rows.tobytes()


def cpython(n: int, calls: int = 7) -> float:
    rng = np.random.default_rng(0)
    ids = [f"{k:016x}" for k in range(n)]
    table = ColumnTable({
        "template_id": TextColumn.from_strings(ids),
        "dataset": TextColumn.from_strings([f"d{k % 50}" for k in range(n)]),
        "amplitude_uv": rng.uniform(20, 500, n),
        "template_index": np.arange(n, dtype=np.int64),
        "best_channel_index": rng.integers(0, 384, n),
    })
    steps = rng.integers(-127, 128, (n, fmt.PREVIEW_SAMPLES), dtype=np.int8)
    browser = TemplateBrowser("http://127.0.0.1:9/")
    browser.columns, browser._previews = table, PreviewIndex.from_rows(preview_rows(ids, steps), ids)
    times = []
    for k in range(calls):
        start = time.perf_counter()
        asyncio.run(browser.similar(like=ids[k * 997], expression="amplitude_uv > 30", limit=25))
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def pyodide() -> dict:
    from generator.bundle import assemble

    bundle = assemble.ensure_bundle(assemble.DEFAULT_DEST)
    site_src = HERE.parents[1] / "site_src"
    done = subprocess.run(["node", str(HERE / "similar_speed.mjs"), str(bundle), str(site_src)],
                          capture_output=True, text=True, timeout=600)
    if done.returncode:
        sys.exit(done.stderr[-3000:])
    (line,) = [x for x in done.stdout.splitlines() if x.startswith("RESULT ")]
    return json.loads(line[len("RESULT "):])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--no-pyodide", action="store_true")
    args = parser.parse_args()
    print(f"CPython, {args.rows} rows: similar() median {cpython(args.rows):.1f} ms (target <= 50 ms)")
    if not args.no_pyodide:
        print("Pyodide (100,000 rows):", json.dumps(pyodide()))


if __name__ == "__main__":
    main()
