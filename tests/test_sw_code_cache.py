"""The service worker lets Chrome reuse the compiled ``pyodide.asm.wasm``, across deploys too.

V8 stores the compiled code of a streamed module with its Cache Storage entry and loads it on
a later visit only if the service worker answers with that entry's very object (see
``site_src/templates/sw.js.j2``). Chrome's trace says which happened: ``wasm.Deserialize``
is the compiled code being reused. V8 stores code once its optimising tier has done enough
work, a few seconds after a boot, so each visit stays open a while; the test allows several
visits before it expects the reuse.
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import pytest

from test_site_e2e import CHROMIUM, CHROMIUM_ARGS

playwright_api = pytest.importorskip("playwright.sync_api")
pytestmark = [pytest.mark.browser, pytest.mark.slow]
sys.path.insert(0, str(Path(__file__).resolve().parent / "benchmarks"))
from page_speed import Server, build_measured_site  # noqa: E402
from wasm_code_cache import REUSED, add_boot_pages, visit  # noqa: E402

SETTLE_S = 8
VISITS = 5


def cache_names(page) -> list[str]:
    return page.evaluate("async () => (await caches.keys()).sort()")


@pytest.mark.timeout(600)
def test_compiled_runtime_is_reused_and_survives_a_deploy(tmp_path):
    site_dir = build_measured_site(tmp_path / "site")
    add_boot_pages(site_dir)
    site = Server(site_dir)
    url = f"{site.url}/boot.html?sw"
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_context().new_page()
            visits = []
            for _ in range(VISITS):
                visits.append(visit(browser, page, url, SETTLE_S))
                if REUSED in visits[-1][1]:
                    break
            assert REUSED not in visits[0][1]  # nothing compiled yet on the first visit
            assert REUSED in visits[-1][1], f"no visit of {len(visits)} reused the compiled code"
            caches_before = cache_names(page)

            # A deploy that changes the page but not the runtime: a new service worker version.
            sw = (site_dir / "sw.js").read_text()
            version = re.search(r'const VERSION = "([0-9a-f]+)";', sw)[1]
            (site_dir / "sw.js").write_text(sw.replace(f'"{version}"', '"0123456789ab"'))
            page.evaluate("() => navigator.serviceWorker.getRegistration().then((r) => r.update())")
            deadline = time.monotonic() + 60
            while (f"htl-site-{version}" in cache_names(page)
                   or "htl-site-0123456789ab" not in cache_names(page)):  # until the new one is active
                assert time.monotonic() < deadline, cache_names(page)
                page.wait_for_timeout(300)
            caches_after = cache_names(page)
            start = len(site.paths)
            boot_s, events = visit(browser, page, url, 1)
            runtime_fetched = [path for _, path in site.paths[start:] if path.startswith("/pyodide/")]
        finally:
            browser.close()
    runtime_caches = [name for name in caches_before if name.startswith("htl-runtime-")]
    assert len(runtime_caches) == 1 and runtime_caches == [n for n in caches_after if n.startswith("htl-runtime-")]
    assert REUSED in events, "the compiled code did not survive a deploy that left the runtime alone"
    assert runtime_fetched == [], runtime_fetched
