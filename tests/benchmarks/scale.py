"""The page against the catalogue's size: 400 rows, 100,000 and 1,000,000 (issue: a library of
100,000 templates feels like one of 400).

Not a test (timings are noisy here): run it and read the ratios to the 400-row figures.

    PYTHONPATH=site_src:. .venv/bin/python tests/benchmarks/scale.py [--rows 400 100000 1000000] [--rounds 3]

It builds the demo library (8 datasets x 50 units, consolidated: previews and the compact
catalogue), grows copies of it to each size without writing more templates
(``grow_library.py``: the same datasets, new template IDs, matching previews, ``pipeline
pack``), builds the site as the deploy does, and opens each size in a fresh browser profile,
sizes alternating within each round. Per size it reports the medians over rounds of:

* first waveform and catalogue queryable (the page's own performance marks), and their ratio
  to the smallest size;
* the bytes the library server sent before queryable (catalogue, manifest, first preview shard),
  beside the sizes of ``templates.csv`` and the compact catalogue;
* how long Python takes to read the catalogue (``htl-py-booted`` to ``htl-py-loaded``) and
  the WebAssembly memory it holds then;
* in the worker, once all of Python has loaded: a query, a sort and a page turn (ms, through
  the page's own worker client); the slowest of the three right after "N templates", while
  the worker installs numpy, zarr and pandas (a call waits for that synchronous work); and
  the preview shards requested by a page turn deep in the results.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from conftest import build_library  # noqa: E402
from grow_library import grow_library  # noqa: E402
from page_speed import CHROMIUM, CHROMIUM_ARGS, MARKS_JS, Server, build_measured_site, wait_mark  # noqa: E402

from templatelib import format as fmt  # noqa: E402

#: What the csv weighed per row before it was written with the precision it carries.
OLD_CSV_BYTES_PER_ROW = 565
WORKER_CALLS = """async ([rows]) => {
    const call = window.__htl.call;
    const time = async (method, args) => { const t = performance.now(); await call(method, args); return performance.now() - t; };
    const out = {query: [], sort: [], page: []};
    // A page turn keeps the query and order (the worker keeps the sorted result): warm it once.
    await call("query", {expression: "", sort_by: "template_id", descending: false, offset: 0, limit: 25});
    for (let i = 0; i < 5; i++) {
        out.query.push(await time("query", {expression: "brain_area != 'CA1' and amplitude_uv > " + (60 + i), offset: 0, limit: 25}));
        out.sort.push(await time("query", {expression: "", sort_by: i % 2 ? "amplitude_uv" : "depth_along_probe", descending: i % 2 === 0, offset: 0, limit: 25}));
        out.page.push(await time("query", {expression: "", sort_by: "template_id", descending: false, offset: Math.floor(rows / 2) + 25 * i, limit: 25}));
    }
    return out;
}"""


def measure(p, tmp: Path, tag: str, url: str, data: Server, rows: int) -> dict:
    context = p.chromium.launch_persistent_context(str(tmp / f"profile-{tag}"), executable_path=CHROMIUM,
                                                   args=CHROMIUM_ARGS, headless=True)
    page = context.new_page()
    before = data.bytes_sent
    page.goto(url)
    marks = wait_mark(page, ["htl-catalogue-queryable", "htl-first-waveform"], timeout=600_000)
    fetched = data.bytes_sent - before
    memory = page.evaluate("() => (performance.getEntriesByName('htl-py-loaded')[0] || {}).detail")
    # Right after "N templates" the worker also installs numpy, zarr and pandas (a call waits for
    # that synchronous work); once the last stage is in (htl-py-full) it is idle.
    busy = page.evaluate(WORKER_CALLS, [rows])
    wait_mark(page, ["htl-py-full"], timeout=600_000)
    calls = page.evaluate(WORKER_CALLS, [rows])
    stages = page.evaluate(MARKS_JS)
    # A visitor jumping deep into the results: which preview shards does that page cost?
    start = time.perf_counter()
    deep = max(0, rows // 25 - 3)
    page.goto(f"{url}&page={deep + 1}")
    wait_mark(page, ["htl-catalogue-queryable"], timeout=600_000)
    page.wait_for_function("document.querySelectorAll('.thumb-slot[data-drawn=\"1\"]').length > 0", timeout=120_000)
    shards = sorted({p for _, p in data.since(start) if p.startswith(f"/{fmt.PREVIEW_DIR}/")})
    context.close()
    return {"first_waveform_s": marks["htl-first-waveform"], "queryable_s": marks["htl-catalogue-queryable"],
            "data_bytes": fetched, "wasm_bytes": (memory or {}).get("wasmMemoryBytes"),
            "query_ms": statistics.median(calls["query"]), "sort_ms": statistics.median(calls["sort"]),
            "page_ms": statistics.median(calls["page"]), "deep_page_shards": shards,
            "busy_ms": max(statistics.median(busy[kind]) for kind in ("query", "sort", "page")),
            "catalogue_s": stages["htl-py-loaded"] - stages["htl-py-booted"]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[400, 100_000, 1_000_000])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        base = build_library(tmp / "lib-400", datasets=8, units=50, compressor="zlib")
        roots = {}
        for rows in args.rows:
            if rows == 400:
                roots[rows] = Path(base.path)
            else:
                grow_library(base.path, str(tmp / f"lib-{rows}"), rows)
                roots[rows] = tmp / f"lib-{rows}"
            print(f"library of {rows} rows ready", file=sys.stderr)
        site = Server(build_measured_site(tmp / "site"))
        servers = {rows: Server(root, site=False) for rows, root in roots.items()}
        results: dict[int, list[dict]] = {rows: [] for rows in args.rows}
        with sync_playwright() as p:
            for run in range(args.rounds):
                order = args.rows if run % 2 == 0 else list(reversed(args.rows))
                for rows in order:
                    url = f"{site.url}/?source={urllib.parse.quote(servers[rows].url + '/', safe='')}"
                    results[rows].append(measure(p, tmp, f"{rows}-{run}", url, servers[rows], rows))
                print(f"round {run + 1}/{args.rounds} done", file=sys.stderr)
        report(results, roots)
    return 0


def _spread(runs: list[dict], key: str) -> str:
    return f"{min(r[key] for r in runs):.2f}-{max(r[key] for r in runs):.2f}"


def report(results: dict[int, list[dict]], roots: dict[int, Path]) -> None:
    smallest = min(results)
    base = {key: statistics.median(r[key] for r in results[smallest]) for key in ("first_waveform_s", "queryable_s")}
    print("| rows | templates.csv | compact | data sent before queryable | first waveform | queryable | "
          "Python reads the catalogue | wasm memory | query | sort | page turn | slowest of the three while "
          "installing | shards of a deep page |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for rows, runs in results.items():
        med = {key: statistics.median(r[key] for r in runs) for key in
               ("first_waveform_s", "queryable_s", "data_bytes", "query_ms", "sort_ms", "page_ms", "busy_ms", "catalogue_s")}
        csv_mb = (roots[rows] / fmt.CATALOGUE_FILE).stat().st_size / 1e6
        compact = roots[rows] / fmt.COMPACT_CATALOGUE_FILE
        compact_mb = compact.stat().st_size / 1e6 if compact.exists() else float("nan")
        memory = [r["wasm_bytes"] for r in runs if r["wasm_bytes"]]
        print(f"| {rows:,} | {csv_mb:.2f} MB (was {rows * OLD_CSV_BYTES_PER_ROW / 1e6:.1f}) | {compact_mb:.2f} MB | "
              f"{med['data_bytes'] / 1e6:.2f} MB ({med['data_bytes'] / (rows * OLD_CSV_BYTES_PER_ROW):.3f}x the old csv) | "
              f"{med['first_waveform_s']:.2f} s ({_spread(runs, 'first_waveform_s')}; "
              f"{med['first_waveform_s'] / base['first_waveform_s']:.2f}x) | "
              f"{med['queryable_s']:.2f} s ({_spread(runs, 'queryable_s')}; {med['queryable_s'] / base['queryable_s']:.2f}x) | "
              f"{med['catalogue_s']:.2f} s | {max(memory) / 1e6 if memory else float('nan'):.0f} MB | "
              f"{med['query_ms']:.0f} ms | {med['sort_ms']:.0f} ms | {med['page_ms']:.0f} ms | {med['busy_ms']:.0f} ms | "
              f"{runs[-1]['deep_page_shards']} |")


if __name__ == "__main__":
    sys.exit(main())
