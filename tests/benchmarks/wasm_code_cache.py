"""Does Chrome reuse compiled code for ``pyodide.asm.wasm`` when the site's service worker serves it?

Not a test (it depends on V8's tier-up timing): run it and read the table.

    .venv/bin/python tests/benchmarks/wasm_code_cache.py [--visits 4] [--settle 6]

It builds the benchmark's site and boots a bare ``loadPyodide()`` in a Web Worker (as the page
does) on successive visits of one browser profile, in two conditions:

* ``http cache``: no service worker; the runtime comes from the HTTP cache (revalidated);
* ``service worker``: the page registers the site's ``sw.js`` first, which answers the
  runtime from Cache Storage.

For every visit it reports the boot time and the ``v8.wasm`` trace events of Chrome (the
renderer's record of what happened to the streamed module: ``wasm.Deserialize`` means the
compiled code was reused, ``wasm.SerializeModule`` that it was stored). V8 stores code
only after its optimising tier has compiled enough, a few seconds after the boot, so each
visit stays open ``--settle`` seconds.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from page_speed import Server, build_measured_site  # noqa: E402
from test_site_e2e import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

BOOT_WORKER = """importScripts("pyodide/pyodide.js");
const t0 = performance.now();
loadPyodide({indexURL: "pyodide/"}).then(() => postMessage(performance.now() - t0),
                                        (error) => postMessage("error: " + error));
"""
BOOT_PAGE = """<!doctype html><meta charset="utf-8"><title>bare boot in a worker</title>
<script>
window.booted = (async () => {
  if (location.search === "?sw") {
    await navigator.serviceWorker.register("sw.js");
    await navigator.serviceWorker.ready;
    if (!navigator.serviceWorker.controller) {
      await new Promise((resolve) => navigator.serviceWorker.addEventListener("controllerchange", resolve));
    }
  }
  const worker = new Worker("boot-worker.js");
  return await new Promise((resolve) => { worker.onmessage = (event) => resolve(event.data); });
})();
</script>
"""
CATEGORIES = ["v8.wasm", "disabled-by-default-v8.wasm.detailed", "v8", "devtools.timeline"]


#: The trace event of V8 loading a streamed module's compiled code from the cache.
REUSED = "wasm.Deserialize"


def add_boot_pages(site_dir: Path) -> None:
    """Write the bare boot page (``boot.html``, ``?sw`` to boot under the site's service worker)."""
    (site_dir / "boot.html").write_text(BOOT_PAGE)
    (site_dir / "boot-worker.js").write_text(BOOT_WORKER)


def wasm_events(trace: bytes) -> list[str]:
    """Names of the WebAssembly events of a Chrome trace, in order."""
    events = json.loads(trace)
    events = events["traceEvents"] if isinstance(events, dict) else events
    return [e["name"] for e in events if "wasm" in str(e.get("name", "")).lower()]


def visit(browser, page, url: str, settle_s: float) -> tuple[float, list[str]]:
    """Open `url` while tracing; return the bare boot's seconds and the wasm trace events."""
    browser.start_tracing(page=page, categories=CATEGORIES)
    page.goto(url)
    boot_ms = page.evaluate("() => window.booted")
    if not isinstance(boot_ms, (int, float)):
        raise RuntimeError(f"boot failed: {boot_ms}")
    page.wait_for_timeout(settle_s * 1000)
    events = wasm_events(browser.stop_tracing())
    return boot_ms / 1000, events


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--visits", type=int, default=4)
    parser.add_argument("--settle", type=float, default=6.0, help="seconds each visit stays open")
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        site_dir = build_measured_site(Path(tmp) / "site")
        add_boot_pages(site_dir)
        site = Server(site_dir)
        rows: dict[str, list[list[tuple[float, list[str]]]]] = {}
        with sync_playwright() as p:
            for round_ in range(args.rounds):
                for name, fragment in (("http cache", ""), ("service worker", "?sw")):
                    browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
                    page = browser.new_context().new_page()
                    url = f"{site.url}/boot.html{fragment}"
                    rows.setdefault(name, []).append([visit(browser, page, url, args.settle)
                                                      for _ in range(args.visits)])
                    browser.close()
                print(f"round {round_ + 1}/{args.rounds} done", file=sys.stderr)
    print(f"| condition | visit | boot (s), median | boot per round | compiled code reused ({REUSED}), rounds |")
    print("|---|---|---|---|---|")
    for name, rounds in rows.items():
        for index in range(args.visits):
            boots = [r[index][0] for r in rounds]
            reused = sum(REUSED in r[index][1] for r in rounds)
            print(f"| {name} | {index + 1} | {statistics.median(boots):.2f} | {[round(b, 2) for b in boots]} | "
                  f"{reused}/{len(rounds)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
