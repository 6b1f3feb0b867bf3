"""The live codec in the browser: a Blosc-lz4-shuffle library read by a ``--pyodide local`` site.

The offline bundle's numcodecs decodes Blosc through the WebAssembly c-blosc of npm numcodecs,
registered by the page's worker before Python reads data. The library has no previews, so
every thumbnail is computed from template chunks in the browser; the values must equal what
CPython's numcodecs decodes from the same chunks. Uses the bundle at ``$HTL_PYODIDE_BUNDLE``
(default ``<repo>/.cache/pyodide-<version>``).
"""

from __future__ import annotations

import json
import re
import urllib.parse

import numcodecs
import pytest
import zarr

from conftest import RunningServer, library_fixture, start_data_server
from generator.build import build_site
from generator.data_server import make_server
from templatelib import format as fmt
from templatelib.preview import as_json, decode_rows, encode_rows
from test_page_start_e2e import thumbnails, without_previews
from test_site_e2e import BOOT_TIMEOUT, browser, count_status, page  # noqa: F401 (fixtures)

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect
pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]


library = library_fixture("blosc", datasets=3, units=6, seed=11, compressor="blosc")


@pytest.fixture(scope="module")
def folder(library, tmp_path_factory):
    return without_previews(library, tmp_path_factory.mktemp("blosc_nopreviews") / "lib")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    site_dir = build_site(tmp_path_factory.mktemp("blosc_site") / "_site", pyodide="local", docs=False)
    with RunningServer(make_server(site_dir, "127.0.0.1", 0, cors=False, index=True)) as server:
        server.dir = site_dir
        yield server


def cpython_trace(library, row):
    group = zarr.open_consolidated(library.mapper(row["dataset"]), mode="r")
    return group["templates_array"][row["template_index"]][:, row["best_channel_index"]]


def test_library_really_is_blosc_lz4_shuffle(library, catalogue):
    group = zarr.open_consolidated(library.mapper(catalogue["dataset"][0]), mode="r")
    assert group["templates_array"].compressor == numcodecs.Blosc(cname="lz4", clevel=5, shuffle=numcodecs.Blosc.SHUFFLE)


def test_site_config_names_the_blosc_decoder(site):
    html = (site.dir / "index.html").read_text()
    config = json.loads(re.search(r'<script[^>]*type="application/json"[^>]*>(.*?)</script>', html, re.S).group(1))
    assert config["bloscModuleURL"] == "pyodide/numcodecs-js/numcodecs_blosc.mjs"
    assert (site.dir / config["bloscModuleURL"]).is_file()
    assert "pyodide/numcodecs-js/blosc.mjs" in (site.dir / "sw.js").read_text()


def test_blosc_chunks_give_catalogue_thumbnails_and_view(page, site, library, folder, catalogue):
    warnings = []
    page.on("console", lambda message: warnings.append(message.text) if message.type in ("warning", "error") else None)
    with start_data_server(folder) as data:
        page.goto(f"{site.url}/?" + urllib.parse.urlencode({"source": data.url + "/"}))
        expect(count_status(page)).to_have_text(f"{len(catalogue)} templates", timeout=BOOT_TIMEOUT)
        expect(thumbnails(page)).to_have_count(min(25, len(catalogue)), timeout=60_000)
        expect(page.locator("#stage")).to_contain_text("no previews")

        # The thumbnails came from chunks decoded in the browser: compare the worker's preview
        # rows with the same rows computed from CPython's decoding of the same chunks.
        rows = [catalogue.iloc[k] for k in (0, 7, len(catalogue) - 1)]
        asked = [{"template_id": r["template_id"], "dataset": r["dataset"], "template_index": int(r["template_index"]),
                  "best_channel_index": int(r["best_channel_index"])} for r in rows]
        answer = page.evaluate("rows => window.__htl.call('preview_rows', {rows})", asked)
        for row, got in zip(rows, answer):
            encoded = encode_rows([row["template_id"]], cpython_trace(library, row)[None, :])
            expected = as_json(decode_rows(encoded))[row["template_id"]]
            assert got["template_id"] == row["template_id"]
            assert got["preview"]["scale"] == pytest.approx(expected["scale"], rel=1e-6)
            assert got["preview"]["steps"] == list(expected["steps"])
            assert len(got["preview"]["steps"]) == fmt.PREVIEW_SAMPLES

        template_id = rows[1]["template_id"]
        page.get_by_role("button", name=f"View {template_id}").click()
        view = page.get_by_role("region", name="Template view")
        expect(view.get_by_role("img", name=re.compile(f"^Waveform {template_id}"))).to_be_visible(timeout=30_000)
        expect(view).to_contain_text("amplitude_uv")
        assert not [w for w in warnings if "Blosc" in w or "blosc" in w], warnings
