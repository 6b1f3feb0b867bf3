"""How the page starts, in headless Chromium: waveforms before Python, the hand-over to
Python, thumbnails from previews on every page, libraries without (or with broken) previews,
and the service worker (offline reload, never a stale catalogue).

Python is held back by a site server that answers ``pyodide.asm.wasm`` only when the test
says so: what the page shows before that is what a visitor sees while Pyodide boots.
"""

from __future__ import annotations

import json
import re
import shutil
import urllib.parse

import numpy as np
import pytest
import zarr

from conftest import RecordingServer as Recorder
from conftest import library_fixture
from pipeline.catalogue import consolidate
from templatelib import format as fmt
from templatelib.preview import bin_extrema
from test_site_e2e import BOOT_TIMEOUT, browser, count_status, page, site_dir  # noqa: F401 (fixtures)

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect
pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]


library = library_fixture("start", datasets=3, units=10, seed=5)


def url_for(site, data, **params):
    return f"{site.url}/?" + urllib.parse.urlencode({"source": data.url + "/", **params})


def thumbnails(page):
    return page.locator("#rows").get_by_role("img", name=re.compile("^Waveform "))


def trough_bin(page, template_id):
    """Index of the lowest point of a sparkline (largest y in SVG coordinates)."""
    points = page.get_by_role("img", name=f"Waveform {template_id}").locator("polyline").get_attribute("points")
    ys = [float(p.split(",")[1]) for p in points.split()]
    return int(np.argmax(ys)), len(ys)


def test_first_page_paints_from_previews_before_python_then_python_takes_over(page, site_dir, library, catalogue):
    with Recorder(site_dir, hold="pyodide.asm.wasm", cors=False, index=True) as site, Recorder(library.path) as data:
        page.goto(url_for(site, data))
        expect(thumbnails(page)).to_have_count(25, timeout=30_000)
        # Python is still held back: the status says what is loading, not "N templates".
        expect(page.locator("#count")).to_contain_text("queries start once Python has loaded")
        assert count_status(page).count() == 0
        shown = page.locator("#rows tr").evaluate_all("rows => rows.map(r => r.dataset.id)")
        assert shown == catalogue["template_id"].tolist()[:25]
        for k in (0, 7, 24):
            row = catalogue.iloc[k]
            group = zarr.open_consolidated(library.mapper(row["dataset"]), mode="r")
            trace = group["templates_array"][row["template_index"]][:, row["best_channel_index"]]
            lowest, steps = trough_bin(page, row["template_id"])
            assert steps == fmt.PREVIEW_SAMPLES and lowest == int(np.argmin(bin_extrema(trace[None, :])[0]))
            cells = page.locator(f'#rows tr[data-id="{row["template_id"]}"] td')
            expect(cells.nth(4)).to_have_text(row["brain_area"])
            expect(cells.nth(6)).to_have_text(f"{row['amplitude_uv']:.1f}")
        # The compact catalogue too: library.json lists it, so the UI thread fetches it for Python,
        # once the first waveforms are drawn (it is Python's, and large at scale).
        started = page.wait_for_function("""() => {
            const entry = performance.getEntriesByType("resource").find((e) => e.name.endsWith("/catalogue.htlc"));
            return entry && entry.startTime; }""").json_value()
        assert started >= page.evaluate("() => performance.getEntriesByName('htl-first-waveform')[0].startTime")
        assert sorted(data.paths) == sorted(["/templates.csv", "/library.json", "/previews/0.bin", "/catalogue.htlc"])
        # Mark the painted rows: after the hand-over they must be the very same nodes.
        page.locator("#rows tr").evaluate_all("rows => rows.forEach(r => r.dataset.early = '1')")
        site.gate.set()
        expect(count_status(page)).to_have_text(f"{len(catalogue)} templates", timeout=BOOT_TIMEOUT)
        assert page.locator("#rows tr[data-early='1']").count() == 25
        assert data.count("templates.csv") == 1 and data.count("library.json") == 1
        assert data.count("templates_array") == 0


def test_every_results_page_draws_thumbnails_from_previews(page, site_dir, library, catalogue):
    with Recorder(site_dir, cors=False, index=True) as site, Recorder(library.path) as data:
        page.goto(url_for(site, data))
        expect(count_status(page)).to_have_text(f"{len(catalogue)} templates", timeout=BOOT_TIMEOUT)
        page.get_by_role("button", name="Next page").click()
        expect(page.locator("#page-label")).to_have_text("Page 2 of 2")
        expect(thumbnails(page)).to_have_count(len(catalogue) - 25)
        shown = page.locator("#rows tr").evaluate_all("rows => rows.map(r => r.dataset.id)")
        assert shown == catalogue["template_id"].tolist()[25:]
        page.get_by_role("button", name="Amplitude (µV)").click()
        expect(page.locator("th[aria-sort='ascending']")).to_contain_text("Amplitude")
        expected = catalogue.sort_values("amplitude_uv", kind="stable")["template_id"].tolist()[:25]
        expect(thumbnails(page)).to_have_count(25)
        assert page.locator("#rows tr").evaluate_all("rows => rows.map(r => r.dataset.id)") == expected
        page.get_by_label("Query").fill("amplitude_uv > 150")
        page.get_by_label("Query").press("Enter")
        expected_count = int((catalogue["amplitude_uv"] > 150).sum())
        expect(count_status(page)).to_have_text(f"{expected_count} templates")
        expect(thumbnails(page)).to_have_count(min(expected_count, 25))
        assert data.count("templates_array") == 0 and data.count("previews/0.bin") == 1
        # The template view still reads its chunk with zarr in Python.
        first = expected[0]
        page.get_by_role("button", name="Clear", exact=True).click()
        page.get_by_label("Query").fill(f"template_id == '{first}'")
        page.get_by_label("Query").press("Enter")
        page.get_by_role("button", name=f"View {first}").click()
        view = page.get_by_role("region", name="Template view")
        expect(view.get_by_role("img", name=re.compile(f"^Waveform {first}"))).to_be_visible(timeout=30_000)
        assert data.count("templates_array") == 1


def without_previews(library, folder):
    shutil.copytree(library.path, folder)
    shutil.rmtree(folder / fmt.PREVIEW_DIR)
    manifest = json.loads((folder / fmt.MANIFEST_FILE).read_text())
    manifest.pop("previews")
    (folder / fmt.MANIFEST_FILE).write_text(json.dumps(manifest))
    return folder


@pytest.mark.parametrize("damage", ["absent", "tampered", "truncated"])
def test_missing_or_broken_previews_fall_back_to_template_chunks(page, site_dir, library, catalogue, tmp_path, damage):
    if damage == "absent":
        folder = without_previews(library, tmp_path / "lib")
        note = "no previews"
    else:
        folder = tmp_path / "lib"
        shutil.copytree(library.path, folder)
        shard = folder / fmt.preview_shard_key(0)
        data = shard.read_bytes()
        shard.write_bytes(data[:-64] if damage == "truncated" else data[:100] + b"\x01" + data[101:])
        note = "bytes, library.json says" if damage == "truncated" else "does not match its sha256"
    with Recorder(site_dir, cors=False, index=True) as site, Recorder(folder) as data:
        page.goto(url_for(site, data))
        expect(thumbnails(page)).to_have_count(25, timeout=BOOT_TIMEOUT)
        expect(page.locator("#stage")).to_contain_text(note)
        expect(count_status(page)).to_have_text(f"{len(catalogue)} templates", timeout=BOOT_TIMEOUT)
        assert data.count("templates_array") == 25
        row = catalogue.iloc[3]
        group = zarr.open_consolidated(library.mapper(row["dataset"]), mode="r")
        trace = group["templates_array"][row["template_index"]][:, row["best_channel_index"]]
        assert trough_bin(page, row["template_id"])[0] == int(np.argmin(bin_extrema(trace[None, :])[0]))


def test_live_csv_without_ids_or_previews_still_paints(page, site_dir, library, catalogue, tmp_path):
    folder = without_previews(library, tmp_path / "lib")
    catalogue[list(fmt.LIVE_COLUMNS)].to_csv(folder / fmt.CATALOGUE_FILE, index=False)
    (folder / fmt.MANIFEST_FILE).unlink()
    with Recorder(site_dir, cors=False, index=True) as site, Recorder(folder) as data:
        page.goto(url_for(site, data))
        expect(count_status(page)).to_have_text(f"{len(catalogue)} templates", timeout=BOOT_TIMEOUT)
        first = fmt.fallback_template_id(catalogue["dataset"][0], catalogue["template_index"][0])
        expect(page.get_by_role("img", name=f"Waveform {first}")).to_be_visible(timeout=30_000)
        expect(thumbnails(page)).to_have_count(25)


def wait_offline_ready(page):
    page.wait_for_function("navigator.serviceWorker.controller !== null", timeout=60_000)


def test_seen_once_works_offline_and_a_republished_catalogue_is_never_stale(browser, site_dir, library, catalogue,
                                                                           tmp_path):
    folder = tmp_path / "lib"
    shutil.copytree(library.path, folder)
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    try:
        site = Recorder(site_dir, cors=False, index=True).__enter__()
        data = Recorder(folder).__enter__()
        page.goto(url_for(site, data))
        expect(count_status(page)).to_have_text(f"{len(catalogue)} templates", timeout=BOOT_TIMEOUT)
        wait_offline_ready(page)
        viewed = catalogue["template_id"][2]
        page.get_by_role("button", name=f"View {viewed}").click()
        expect(page.get_by_role("region", name="Template view").get_by_role(
            "img", name=re.compile(f"^Waveform {viewed}"))).to_be_visible(timeout=30_000)

        # A reload boots Pyodide with no network request for the runtime.
        site.paths.clear()
        page.reload()
        expect(count_status(page)).to_have_text(f"{len(catalogue)} templates", timeout=BOOT_TIMEOUT)
        assert [p for p in site.paths if p.startswith(("/pyodide/", "/static/", "/wheels/"))] == []

        # Republish with one dataset fewer: the next visit shows the new catalogue, not the cache.
        dropped = catalogue["dataset"].iloc[-1]
        shutil.rmtree(folder / dropped)
        consolidate(__import__("pipeline.storage", fromlist=["LibraryStorage"]).LibraryStorage(str(folder)))
        remaining = int((catalogue["dataset"] != dropped).sum())
        page.reload()
        expect(count_status(page)).to_have_text(f"{remaining} templates", timeout=BOOT_TIMEOUT)
        expect(thumbnails(page)).to_have_count(min(remaining, 25))

        # Offline: both servers are gone; the page, the catalogue, queries and the viewed template still work.
        page.get_by_role("button", name=f"View {viewed}").click()
        expect(page.get_by_role("region", name="Template view").get_by_role(
            "img", name=re.compile(f"^Waveform {viewed}"))).to_be_visible(timeout=30_000)
        site.__exit__(None, None, None)
        data.__exit__(None, None, None)
        page.reload()
        expect(count_status(page)).to_have_text(f"{remaining} templates", timeout=BOOT_TIMEOUT)
        expect(thumbnails(page)).to_have_count(min(remaining, 25))
        page.get_by_label("Query").fill("amplitude_uv > 150")
        page.get_by_label("Query").press("Enter")
        kept = catalogue[catalogue["dataset"] != dropped]
        expect(count_status(page)).to_have_text(f"{int((kept['amplitude_uv'] > 150).sum())} templates")
        page.get_by_label("Query").fill(f"template_id == '{viewed}'")
        page.get_by_label("Query").press("Enter")
        page.get_by_role("button", name=f"View {viewed}").click()
        expect(page.get_by_role("region", name="Template view").get_by_role(
            "img", name=re.compile(f"^Waveform {viewed}"))).to_be_visible(timeout=30_000)
    finally:
        context.close()


class NoServiceWorkerSite(Recorder):
    """The site without its service worker (whose install fetches the runtime again)."""

    #: Paths it answers with 404.
    missing = ("/sw.js",)

    def handler(self, base):
        missing = self.missing

        class Handler(super().handler(base)):
            def do_GET(self):  # noqa: N802 - http.server's naming
                if self.path.startswith(missing):
                    self.send_error(404)
                    return
                super().do_GET()

        return Handler


class OctetStreamSite(NoServiceWorkerSite):
    """... with its WebAssembly served as ``application/octet-stream`` (as some static servers
    do), which WebAssembly's streaming compile refuses."""

    def handler(self, base):
        class Handler(super().handler(base)):
            def guess_type(self, path):
                return "application/octet-stream" if str(path).endswith(".wasm") else super().guess_type(path)

        return Handler


@pytest.mark.parametrize("server", [NoServiceWorkerSite, OctetStreamSite], ids=["application/wasm", "octet-stream"])
def test_the_worker_boots_from_the_runtime_the_page_compiled(page, site_dir, library, catalogue, server):
    # The page compiles pyodide.asm.wasm (Chrome keeps a page's compiled code for the next
    # visit, not a worker's) and hands the module to the worker, which then fetches no runtime
    # of its own: one request for the 10 MB file, whatever type it is served as.
    with server(site_dir, cors=False, index=True) as site, Recorder(library.path) as data:
        page.goto(url_for(site, data))
        expect(count_status(page)).to_have_text(f"{len(catalogue)} templates", timeout=BOOT_TIMEOUT)
        detail = page.evaluate("() => performance.getEntriesByName('htl-py-runtime')[0].detail")
        assert detail == {"compiledOnPage": True}
        assert site.count("pyodide.asm.wasm") == 1, site.paths
        # Python works past the boot: a query answers.
        page.get_by_label("Query").fill("amplitude_uv > 150")
        page.get_by_label("Query").press("Enter")
        expect(count_status(page)).to_have_text(f"{int((catalogue['amplitude_uv'] > 150).sum())} templates")


class NoWheelSite(NoServiceWorkerSite):
    """... whose page wheel is missing too (a deploy caught half-way)."""

    missing = ("/sw.js", "/wheels/")


def test_a_missing_page_wheel_is_said_in_words(page, site_dir, library):
    with NoWheelSite(site_dir, cors=False, index=True) as site, Recorder(library.path) as data:
        page.goto(url_for(site, data))
        expect(page.get_by_role("alert").filter(has_text="could not be loaded: HTTP 404")).to_be_visible(
            timeout=BOOT_TIMEOUT)
