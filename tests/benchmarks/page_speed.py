"""Page speed benchmark: cold and warm load in headless Chromium, and a 100,000-row query.

Not a test (timings are noisy here): run it and read the figures.

    .venv/bin/python tests/benchmarks/page_speed.py [--runs 3]

It builds the demo library (zlib, 8 datasets x 50 units) and the site with ``--pyodide
local`` in a temporary folder, serves both on loopback, and for each run opens the page with
a fresh browser profile (cold) and then reloads it (warm). Reported per load: time to
"catalogue queryable" (first results rendered) and to "first waveform plotted" (first
thumbnail inserted), requests and bytes. Then it swaps in a 100,000-row catalogue and times
a query through the worker.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from test_site_e2e import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

from generator.build import build_site  # noqa: E402
from generator.data_server import make_server  # noqa: E402
from pipeline.catalogue import consolidate  # noqa: E402
from pipeline.sources.synthetic import write_synthetic_library  # noqa: E402
from pipeline.storage import LibraryStorage  # noqa: E402
from templatelib import format as fmt  # noqa: E402

QUERY = "brain_area == 'CA1' and 100 < amplitude_uv < 200"


def serve(folder, **kw):
    server = make_server(folder, "127.0.0.1", 0, **kw)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def load_once(page, url):
    stats = {"requests": 0, "bytes": 0}

    def on_finished(request):
        stats["requests"] += 1
        try:
            sizes = request.sizes()
            stats["bytes"] += sizes.get("responseBodySize", 0) + sizes.get("responseHeadersSize", 0)
        except Exception:
            pass

    page.on("requestfinished", on_finished)
    start = time.perf_counter()
    page.goto(url)
    page.wait_for_function("performance.getEntriesByName('htl-first-waveform').length > 0 && "
                           "performance.getEntriesByName('htl-catalogue-queryable').length > 0", timeout=180_000)
    wall = time.perf_counter() - start
    marks = page.evaluate(
        "() => Object.fromEntries(['htl-catalogue-queryable', 'htl-first-waveform'].map("
        "n => [n, performance.getEntriesByName(n)[0].startTime / 1000]))"
    )
    page.wait_for_timeout(300)
    page.remove_listener("requestfinished", on_finished)
    return {"queryable_s": marks["htl-catalogue-queryable"], "first_waveform_s": marks["htl-first-waveform"],
            "wall_s": wall, **stats}


def query_time(page, expression, repeats=5):
    return page.evaluate(
        """async ([expression, repeats]) => {
            const times = [];
            for (let i = 0; i < repeats; i++) {
              const t = performance.now();
              await window.__htl.call('query', {expression: expression + ' and amplitude_uv != ' + i, offset: 0, limit: 25});
              times.push(performance.now() - t);
            }
            return times;
        }""",
        [expression, repeats],
    )


def big_catalogue(csv_path: Path, rows: int = 100_000) -> None:
    table = pd.read_csv(csv_path)
    reps = int(np.ceil(rows / len(table)))
    big = pd.concat([table] * reps, ignore_index=True).iloc[:rows].copy()
    rng = np.random.default_rng(0)
    big["amplitude_uv"] = rng.lognormal(np.log(110), 0.55, rows)
    big["template_id"] = [f"{i:016x}" for i in range(rows)]
    big.to_csv(csv_path, index=False)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        storage = LibraryStorage(str(tmp / "lib"))
        storage.make_root()
        write_synthetic_library(storage, 8, 50, compressor="zlib")
        consolidate(storage)
        site = build_site(tmp / "site", pyodide="local", docs=False)
        _, site_url = serve(site, cors=False, index=True)
        _, data_url = serve(storage.path)
        url = f"{site_url}/?source={urllib.parse.quote(data_url + '/', safe='')}"
        results = {"cold": [], "warm": []}
        with sync_playwright() as p:
            for run in range(args.runs):
                context = p.chromium.launch_persistent_context(
                    str(tmp / f"profile{run}"), executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
                page = context.new_page()
                results["cold"].append(load_once(page, url))
                results["warm"].append(load_once(page, url))
                context.close()
            for kind, runs in results.items():
                for key in ("queryable_s", "first_waveform_s", "requests", "bytes"):
                    values = [r[key] for r in runs]
                    print(f"{kind:5s} {key:17s} median {statistics.median(values):>12.2f}  runs {values}")
            big_catalogue(Path(storage.path) / fmt.CATALOGUE_FILE)
            context = p.chromium.launch_persistent_context(
                str(tmp / "profile-big"), executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            page = context.new_page()
            page.goto(url)
            page.wait_for_function("performance.getEntriesByName('htl-catalogue-queryable').length > 0",
                                   timeout=180_000)
            times = query_time(page, QUERY)
            print(f"100000-row query via the worker: median {statistics.median(times):.0f} ms  runs "
                  f"{[round(t) for t in times]}")
            context.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
