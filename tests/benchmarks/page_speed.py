"""Page speed benchmark: the page against a bare ``loadPyodide()`` from the same site.

Not a test (timings are noisy here): run it and read the ratios.

    .venv/bin/python tests/benchmarks/page_speed.py [--runs 5] [--serving plain gzip] [--skip-big-query]

It builds the demo library (zlib, 8 datasets x 50 units, consolidated: with previews) and the
site as the deploy builds it (``--pyodide local``: the runtime the page loads, see
``build_measured_site``), serves them on loopback, plainly and gzip-encoded like GitHub Pages
(``generator serve --gzip``), and runs alternating rounds of two kinds of page:

* ``bare``: a page that only runs ``loadPyodide()`` from the site's own runtime;
* ``page``: our page on the library.

in three conditions, each against the bare boot of the same round:

* ``cold``: a fresh browser profile;
* ``reload``: the same profile again (the page's service worker in control);
* ``throttled``: a fresh profile on an emulated link (CDP ``Network.emulateNetworkConditions``:
  20000 kbit/s down, 5000 up, 40 ms latency). Chromium applies it to the page's Web Worker
  too: a 10 MB fetch in a worker takes seconds under it, and ~0.1 s without.

Reported: medians and ranges of "first waveform" and "catalogue queryable" (and their ratio to
the bare boot), the bytes fetched before queryable (body bytes the site and library servers
sent for the requests they answered before that moment, by the wall clock both share,
gzip-encoded ones as sent: CDP's Network events of the page miss the requests of its Web
Worker and service worker, the servers see them all), and the time of every start stage
(the page's ``htl-*`` performance marks, with ``htl-py-<milestone>`` from the worker, plus
the first query answered when the page is queryable). Finally a 100,000-row catalogue is
queried through the worker.
"""

from __future__ import annotations

import argparse
import functools
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
from conftest import build_library  # noqa: E402
from test_site_e2e import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

from generator.build import build_site  # noqa: E402
from generator.data_server import make_server  # noqa: E402
from generator.site_server import make_site_server  # noqa: E402
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
    """A loopback server (the site's, plain or gzip, or the library's) that counts body bytes sent."""

    def __init__(self, folder, gzip: bool = False, site: bool = True):
        server = make_site_server(folder, "127.0.0.1", 0, gzip_encoding=gzip) if site else make_server(folder, "127.0.0.1", 0)
        # Quiet: a benchmark prints its table, not one line per request.
        server.RequestHandlerClass = functools.partial(_quiet(server.RequestHandlerClass.func),
                                                       **server.RequestHandlerClass.keywords)
        self.server = server
        self.paths: list[tuple[float, str]] = []
        server.paths = self.paths
        server.sent_at = []  # (wall-clock time, bytes sent before) of every request
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{server.server_address[1]}"

    @property
    def bytes_sent(self) -> int:
        return self.server.bytes_sent

    def bytes_at(self, when: float) -> int:
        """Body bytes of the requests answered before wall-clock time ``when`` (whole bodies:
        a response is counted from its headers on, as sent right after them)."""
        later = [sent for at, sent in self.server.sent_at if at > when]
        return later[0] if later else self.server.bytes_sent

    def since(self, start: float) -> list[tuple[float, str]]:
        return [(t, p) for t, p in self.paths if t >= start]


@functools.cache
def _quiet(handler_class):
    class Recording(handler_class):
        def log_message(self, *args):
            # Logged with the headers, before the body's bytes are counted.
            self.server.sent_at.append((time.time(), self.server.bytes_sent))
            self.server.paths.append((time.perf_counter(), urllib.parse.unquote(self.path)))

    return Recording


#: The emulated link of the ``throttled`` condition (CDP units: bytes/s and ms).
LINK = {"offline": False, "latency": 40, "downloadThroughput": 20_000 * 1000 / 8,
        "uploadThroughput": 5_000 * 1000 / 8}
MARKS_JS = """() => Object.fromEntries(performance.getEntriesByType("mark")
    .filter((m) => m.name.startsWith("htl-") || m.name === "bare-ready").map((m) => [m.name, m.startTime / 1000]))"""


#: Navigation start by the system clock the servers log with, in s (``performance.timeOrigin``
#: runs on a monotonic clock that drifts from it by tens of ms in Chromium).
WALL_ORIGIN = "(Date.now() - performance.now()) / 1000"


def wait_mark(page, names, timeout=300_000):
    condition = " && ".join(f"performance.getEntriesByName({n!r}).length > 0" for n in names)
    page.wait_for_function(condition, timeout=timeout, polling=50)
    return page.evaluate(MARKS_JS)


def open_and_measure(page, url: str, kind: str, servers: list[Server]) -> dict:
    """Navigate, wait until ready (bare) or queryable (page); times in s, and the bytes of the
    requests answered until that moment (by the servers' clock: the page starts fetching its
    background stages the moment it is queryable, before this harness polls the mark)."""
    before = sum(s.bytes_sent for s in servers)
    page.goto(url)
    if kind == "bare":
        marks = wait_mark(page, ["bare-ready"])
        until = page.evaluate(WALL_ORIGIN) + marks["bare-ready"]
        return {"ready_s": marks["bare-ready"], "bytes": sum(s.bytes_at(until) for s in servers) - before,
                "marks": marks}
    marks = wait_mark(page, ["htl-catalogue-queryable"])
    until = page.evaluate(WALL_ORIGIN) + marks["htl-catalogue-queryable"]
    fetched = sum(s.bytes_at(until) for s in servers) - before
    # The first query answered once the page is queryable (what a visitor typing at once waits for).
    answered = page.evaluate("""async (expression) => {
        await window.__htl.call("query", {expression, offset: 0, limit: 25});
        return performance.now() / 1000;
    }""", QUERY)
    marks["first-query-answered"] = answered
    marks = {**marks, **{k: v for k, v in wait_mark(page, ["htl-first-waveform"]).items() if k not in marks}}
    return {"ready_s": marks["htl-catalogue-queryable"], "first_waveform_s": marks["htl-first-waveform"],
            "bytes": fetched, "marks": marks}


def wait_service_worker(page):
    page.wait_for_function("navigator.serviceWorker && navigator.serviceWorker.controller !== null", timeout=120_000)
    # The install (runtime precache) is done when the worker is active and in control.
    page.evaluate("() => navigator.serviceWorker.ready.then(() => true)")


def one_round(p, tmp: Path, run: int, serving: str, site: Server, data: Server, results: dict) -> None:
    """Both kinds in the three conditions; fresh profiles for cold and throttled."""
    urls = {"bare": f"{site.url}/bare.html",
            "page": f"{site.url}/?source={urllib.parse.quote(data.url + '/', safe='')}"}
    servers = [site, data]
    for kind in ("bare", "page") if run % 2 == 0 else ("page", "bare"):  # alternate who goes first
        context = p.chromium.launch_persistent_context(str(tmp / f"{serving}-{kind}-{run}"), executable_path=CHROMIUM,
                                                       args=CHROMIUM_ARGS, headless=True)
        page = context.new_page()
        results.setdefault((serving, "cold", kind), []).append(open_and_measure(page, urls[kind], kind, servers))
        if kind == "page":
            wait_service_worker(page)
        page.wait_for_timeout(1000)  # let V8 store compiled code, as a visitor's first read would
        results.setdefault((serving, "reload", kind), []).append(open_and_measure(page, urls[kind], kind, servers))
        context.close()
        context = p.chromium.launch_persistent_context(str(tmp / f"{serving}-{kind}-{run}-link"),
                                                       executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = context.new_page()
        cdp = context.new_cdp_session(page)
        cdp.send("Network.enable")
        cdp.send("Network.emulateNetworkConditions", LINK)
        results.setdefault((serving, "throttled", kind), []).append(open_and_measure(page, urls[kind], kind, servers))
        context.close()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--serving", nargs="+", choices=("plain", "gzip"), default=["plain", "gzip"])
    parser.add_argument("--skip-big-query", action="store_true")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        storage = build_library(tmp / "lib", datasets=8, units=50, compressor="zlib")
        site_dir = build_measured_site(tmp / "site")
        data = Server(storage.path, site=False)
        sites = {serving: Server(site_dir, gzip=serving == "gzip") for serving in args.serving}
        results: dict[tuple[str, str, str], list[dict]] = {}
        with sync_playwright() as p:
            for run in range(args.runs):
                for serving, site in sites.items():
                    one_round(p, tmp, run, serving, site, data, results)
                print(f"round {run + 1}/{args.runs} done", file=sys.stderr)
            report(results, args.serving)
            if not args.skip_big_query:
                big_query(p, tmp, storage, f"{sites[args.serving[0]].url}/?source="
                                           f"{urllib.parse.quote(data.url + '/', safe='')}")
    return 0


CONDITIONS = ("cold", "reload", "throttled")


def _spread(values: list[float], digits: int = 2) -> str:
    return f"{statistics.median(values):.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})"


def report(results: dict, servings: list[str]) -> None:
    """Print the markdown tables: figures with ratios to bare, bytes, and start stages."""
    print("\n| serving | condition | bare ready (s) | page queryable (s) | queryable / bare | first waveform (s) | "
          "MB before queryable: page / bare |")
    print("|---|---|---|---|---|---|---|")
    for serving in servings:
        for condition in CONDITIONS:
            bare, page = results[(serving, condition, "bare")], results[(serving, condition, "page")]
            ratios = [q["ready_s"] / b["ready_s"] for q, b in zip(page, bare)]
            page_mb = statistics.median(r["bytes"] for r in page) / 1e6
            bare_mb = statistics.median(r["bytes"] for r in bare) / 1e6
            print(f"| {serving} | {condition} | {_spread([r['ready_s'] for r in bare])} | "
                  f"{_spread([r['ready_s'] for r in page])} | **{_spread(ratios)}x** | "
                  f"{_spread([r['first_waveform_s'] for r in page])} | {page_mb:.2f} / {bare_mb:.2f} = "
                  f"{page_mb / bare_mb if bare_mb else float('nan'):.2f}x |")
    for serving in servings:
        names = sorted({name for condition in CONDITIONS for r in results[(serving, condition, "page")]
                        for name in r["marks"]},
                       key=lambda n: statistics.median(r["marks"].get(n, 0) for r in results[(serving, "cold", "page")]))
        print(f"\nStart stages of the page, {serving} serving: median s since navigation (range)\n")
        print("| stage | " + " | ".join(CONDITIONS) + " |")
        print("|---|" + "---|" * len(CONDITIONS))
        for name in names:
            cells = []
            for condition in CONDITIONS:
                values = [r["marks"][name] for r in results[(serving, condition, "page")] if name in r["marks"]]
                cells.append(_spread(values) if values else "-")
            print(f"| {name} | " + " | ".join(cells) + " |")
    print("\nThe bare boot's `loadPyodide()` in the same conditions: " + "; ".join(
        f"{serving} {condition} {_spread([r['ready_s'] for r in results[(serving, condition, 'bare')]])} s"
        for serving in servings for condition in CONDITIONS))


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
    timed = """async ([expression, repeats]) => {
        const times = [];
        for (let i = 0; i < repeats; i++) {
          const t = performance.now();
          await window.__htl.call('query', {expression: expression + ' and amplitude_uv != ' + i, offset: 0, limit: 25});
          times.push(performance.now() - t);
        }
        return [times, performance.getEntriesByName('htl-py-arrays').length > 0];
    }"""
    # Right after "N templates" the worker holds the catalogue as standard-library columns;
    # once numpy has loaded (htl-py-arrays) as numpy columns.
    wait_mark(page, ["htl-catalogue-queryable"])
    times, numpy_there = page.evaluate(timed, [QUERY, 5])
    print(f"100000-row query via the worker, right after queryable ({'numpy had loaded' if numpy_there else 'before numpy'}): "
          f"median {statistics.median(times):.0f} ms  runs {[round(t) for t in times]}")
    wait_mark(page, ["htl-py-arrays"])
    times, _ = page.evaluate(timed, [QUERY, 5])
    print(f"100000-row query via the worker, numpy columns: median {statistics.median(times):.0f} ms  "
          f"runs {[round(t) for t in times]}")
    context.close()


if __name__ == "__main__":
    sys.exit(main())
