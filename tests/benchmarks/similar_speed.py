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

from templatelib.app import TemplateBrowser

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from test_similar import big_table  # noqa: E402


def cpython(n: int, calls: int = 7) -> float:
    table, index, _ = big_table(n)  # the test's table: ids, datasets, amplitudes, random steps
    browser = TemplateBrowser("http://127.0.0.1:9/")
    browser.columns, browser._previews = table, index
    ids = table["template_id"].values()
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
