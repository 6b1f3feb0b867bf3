"""Page speed benchmark: the page against a bare ``loadPyodide()`` from the same site.

Not a test (timings are noisy here): run it and read the ratios.

    .venv/bin/python tests/benchmarks/page_speed.py [--runs 5] [--skip-big-query]

It builds the demo library (zlib, 8 datasets x 50 units, consolidated: with previews), a copy
without previews (like today's public bucket), and the site with ``--pyodide local``, serves
them on loopback and runs alternating rounds. Each round opens, with a fresh browser profile
each (cold) and then reloads (warm):

* ``bare``: a page that only runs ``loadPyodide()`` from the site's own Pyodide;
* ``page``: our page on the library with previews;
* ``nopreview``: our page on the library without previews.

Every figure is reported as a ratio to the bare boot of the same round (cold to cold, warm to
warm), with the medians over rounds; absolute seconds are printed for reference only. Also
counted: data requests (to the library server) issued before the first waveform, template
chunks among them, and runtime requests (``pyodide/``) that reached the site server on
reload (0 when the service worker serves them). Finally a 100,000-row catalogue is queried
through the worker.
"""

from __future__ import annotations

import argparse
import functools
import json
import shutil
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
from generator.data_server import LibraryRequestHandler, make_server  # noqa: E402
from pipeline.catalogue import consolidate  # noqa: E402
from pipeline.sources.synthetic import write_synthetic_library  # noqa: E402
from pipeline.storage import LibraryStorage  # noqa: E402
from templatelib import format as fmt  # noqa: E402

QUERY = "brain_area == 'CA1' and 100 < amplitude_uv < 200"
BARE_PAGE = """<!doctype html><meta charset="utf-8"><title>bare loadPyodide</title>
<script src="pyodide/pyodide.js"></script>
<script>loadPyodide({indexURL: "pyodide/"}).then(() => performance.mark("bare-ready"));</script>
"""


def build_measured_site(out: Path) -> Path:
    """The site this benchmark measures: the deploy's runtime (``--pyodide local``), no docs.

    tests/test_deploy_runtime.py checks that the deploy serves these very runtime files.
    """
    site_dir = build_site(out, pyodide="local", docs=False)
    (site_dir / "bare.html").write_text(BARE_PAGE)
    return site_dir


class Server:
    """A loopback server that records the paths it was asked for (and logs nothing)."""

    def __init__(self, folder, **kw):
        self.paths: list[tuple[float, str]] = []
        server = make_server(folder, "127.0.0.1", 0, **kw)
        recorder = self.paths

        class Recording(LibraryRequestHandler):
            def log_message(self, *args):
                recorder.append((time.perf_counter(), urllib.parse.unquote(self.path)))

        server.RequestHandlerClass = functools.partial(Recording, **server.RequestHandlerClass.keywords)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{server.server_address[1]}"

    def since(self, start: float) -> list[tuple[float, str]]:
        return [(t, p) for t, p in self.paths if t >= start]


def wait_mark(page, names, timeout=180_000):
    condition = " && ".join(f"performance.getEntriesByName({n!r}).length > 0" for n in names)
    page.wait_for_function(condition, timeout=timeout)
    return page.evaluate(f"() => Object.fromEntries({json.dumps(names)}.map(n => [n, performance.getEntriesByName(n)[0].startTime / 1000]))")


def load_bare(page, url):
    page.goto(url)
    return {"boot_s": wait_mark(page, ["bare-ready"])["bare-ready"]}


def load_page(page, url, site: Server, data: Server):
    start = time.perf_counter()
    page.goto(url)
    marks = wait_mark(page, ["htl-first-waveform", "htl-catalogue-queryable"])
    first_at = start + marks["htl-first-waveform"]
    # Requests logged by the servers (their log line is written when the answer is sent).
    before = [p for t, p in data.since(start) if t <= first_at + 0.05]
    runtime = [p for _, p in site.since(start) if p.startswith("/pyodide/")]
    return {"first_waveform_s": marks["htl-first-waveform"], "queryable_s": marks["htl-catalogue-queryable"],
            "data_requests_before_first": len(before),
            "chunks_before_first": sum("templates_array" in p for p in before),
            "runtime_requests": len(runtime)}


def wait_service_worker(page):
    page.wait_for_function("navigator.serviceWorker && navigator.serviceWorker.controller !== null", timeout=60_000)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--skip-big-query", action="store_true")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        storage = LibraryStorage(str(tmp / "lib"))
        storage.make_root()
        write_synthetic_library(storage, 8, 50, compressor="zlib")
        consolidate(storage)
        bare_lib = tmp / "lib-nopreview"
        shutil.copytree(storage.path, bare_lib)
        shutil.rmtree(bare_lib / fmt.PREVIEW_DIR)
        manifest = json.loads((bare_lib / fmt.MANIFEST_FILE).read_text())
        manifest.pop("previews")
        (bare_lib / fmt.MANIFEST_FILE).write_text(json.dumps(manifest))
        site_dir = build_measured_site(tmp / "site")
        site, data, data_bare = Server(site_dir, cors=False, index=True), Server(storage.path), Server(bare_lib)
        page_url = f"{site.url}/?source={urllib.parse.quote(data.url + '/', safe='')}"
        nopreview_url = f"{site.url}/?source={urllib.parse.quote(data_bare.url + '/', safe='')}"
        results: dict[str, list[dict]] = {}
        with sync_playwright() as p:
            def fresh(name):
                return p.chromium.launch_persistent_context(
                    str(tmp / name), executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)

            for run in range(args.runs):
                context = fresh(f"bare{run}")
                page = context.new_page()
                results.setdefault("bare cold", []).append(load_bare(page, f"{site.url}/bare.html"))
                results.setdefault("bare warm", []).append(load_bare(page, f"{site.url}/bare.html"))
                context.close()
                for kind, url, server in (("page", page_url, data), ("nopreview", nopreview_url, data_bare)):
                    context = fresh(f"{kind}{run}")
                    page = context.new_page()
                    results.setdefault(f"{kind} cold", []).append(load_page(page, url, site, server))
                    wait_service_worker(page)
                    results.setdefault(f"{kind} warm", []).append(load_page(page, url, site, server))
                    context.close()
                print(f"round {run + 1}/{args.runs} done", file=sys.stderr)
            report(results)
            if not args.skip_big_query:
                big_query(p, tmp, storage, page_url)
    return 0


def report(results: dict[str, list[dict]]) -> None:
    bare = {"cold": [r["boot_s"] for r in results["bare cold"]], "warm": [r["boot_s"] for r in results["bare warm"]]}
    print(f"bare loadPyodide  cold median {statistics.median(bare['cold']):.2f} s  warm median "
          f"{statistics.median(bare['warm']):.2f} s  (runs cold {[round(v, 2) for v in bare['cold']]}, "
          f"warm {[round(v, 2) for v in bare['warm']]})")
    for kind in ("page", "nopreview"):
        for temp in ("cold", "warm"):
            runs = results[f"{kind} {temp}"]
            for key in ("first_waveform_s", "queryable_s"):
                ratios = [r[key] / b for r, b in zip(runs, bare[temp])]
                print(f"{kind:9s} {temp} {key:17s} median {statistics.median(ratios):.2f}x bare "
                      f"({statistics.median(r[key] for r in runs):.2f} s)  ratios {[round(x, 2) for x in ratios]}")
            for key in ("data_requests_before_first", "chunks_before_first", "runtime_requests"):
                print(f"{kind:9s} {temp} {key:27s} {[r[key] for r in runs]}")


def big_catalogue(csv_path: Path, rows: int = 100_000) -> None:
    table = pd.read_csv(csv_path)
    reps = int(np.ceil(rows / len(table)))
    big = pd.concat([table] * reps, ignore_index=True).iloc[:rows].copy()
    rng = np.random.default_rng(0)
    big["amplitude_uv"] = rng.lognormal(np.log(110), 0.55, rows)
    big["template_id"] = [f"{i:016x}" for i in range(rows)]
    big.to_csv(csv_path, index=False)


def big_query(p, tmp: Path, storage: LibraryStorage, url: str) -> None:
    big_catalogue(Path(storage.path) / fmt.CATALOGUE_FILE)
    context = p.chromium.launch_persistent_context(
        str(tmp / "profile-big"), executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    page = context.new_page()
    page.goto(url)
    wait_mark(page, ["htl-catalogue-queryable"])
    times = page.evaluate(
        """async ([expression, repeats]) => {
            const times = [];
            for (let i = 0; i < repeats; i++) {
              const t = performance.now();
              await window.__htl.call('query', {expression: expression + ' and amplitude_uv != ' + i, offset: 0, limit: 25});
              times.push(performance.now() - t);
            }
            return times;
        }""",
        [QUERY, 5],
    )
    print(f"100000-row query via the worker: median {statistics.median(times):.0f} ms  runs {[round(t) for t in times]}")
    context.close()


if __name__ == "__main__":
    sys.exit(main())
