"""Hostile preview shards and IDs, in headless Chromium: bounded reads, a boot that never waits on them.

The library is served by a loopback server that misbehaves on ``previews/0.bin`` as a broken
or hostile host might: a body without Content-Length that never ends, or no answer at all.
Other cases damage the library itself: a shard row with a non-finite scale, and a library
without previews whose catalogue holds IDs that are markup, too long, or the names of
``Object.prototype`` properties. The page must always load the catalogue, draw every
thumbnail it can (from the templates when previews are unusable), say what it could not in
words, and never run anything it was given.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import struct
import time
import urllib.parse

import pandas as pd
import pytest

from conftest import HandlerServer, library_fixture, serve_built_site, start_data_server
from templatelib import format as fmt
from test_site_e2e import BOOT_TIMEOUT, browser, count_status, page  # noqa: F401 (fixtures)

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect
pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

CALL_TIMEOUT_MS = 6000  # the page's call limit, and so its bound on waiting for a shard (2.5 s stopped ordinary calls on a busy runner)
SHARD = fmt.preview_shard_key(0)
ENDLESS_BYTES = 256 * 1024 * 1024


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    with serve_built_site(tmp_path_factory, call_timeout_ms=CALL_TIMEOUT_MS) as server:
        yield server


library = library_fixture("previews", datasets=3, units=10, seed=3)


class ShardServer(HandlerServer):
    """Serves a library; ``previews/0.bin`` is answered per ``mode``: "endless" (no
    Content-Length, zeros until the client hangs up or 256 MiB), "silent" (never answered)."""

    def __init__(self, folder, mode: str):
        self.sent = 0
        self.mode = mode
        super().__init__(folder)

    def handler(self, base):
        outer = self

        class Handler(base):
            def do_GET(self):  # noqa: N802 - http.server's naming
                if SHARD not in self.path:
                    return super().do_GET()
                if outer.mode == "silent":
                    outer.release.wait(120)
                    self.close_connection = True
                    return None
                self.send_response(200)
                self._cors_headers()
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                self.close_connection = True
                block = bytes(64 * 1024)
                try:
                    while outer.sent < ENDLESS_BYTES:
                        self.wfile.write(block)
                        outer.sent += len(block)
                except OSError:
                    pass  # the client hung up: what the page must do
                return None

        return Handler


def open_page(page, site, data):
    page.goto(f"{site.url}/?" + urllib.parse.urlencode({"source": data.url + "/"}))


def thumbnails(page):
    return page.locator("#rows").get_by_role("img", name=re.compile("^Waveform "))


def copy_library(library, tmp_path):
    root = tmp_path / "lib"
    shutil.copytree(library.path, root)
    return root


def republish(root, manifest):
    """Write library.json again, pinning the current csv and shards."""
    manifest["templates_csv_sha256"] = hashlib.sha256((root / "templates.csv").read_bytes()).hexdigest()
    for k, shard in enumerate((manifest.get("previews") or {}).get("shards", [])):
        data = (root / fmt.preview_shard_key(k)).read_bytes()
        shard.update(sha256=hashlib.sha256(data).hexdigest(), bytes=len(data))
    (root / "library.json").write_text(json.dumps(manifest, indent=2))


@pytest.mark.parametrize("mode", ["endless", "silent"])
def test_a_shard_that_never_ends_or_never_answers_costs_only_its_thumbnails(page, site, library, mode):
    rows = len(pd.read_csv(f"{library.path}/templates.csv"))
    with ShardServer(library.path, mode) as data:
        started = time.monotonic()
        open_page(page, site, data)
        expect(count_status(page)).to_have_text(f"{rows} templates", timeout=BOOT_TIMEOUT)
        expect(thumbnails(page)).to_have_count(25, timeout=60_000)  # from the templates
        took = time.monotonic() - started
        expect(page.locator("#stage")).to_contain_text("previews unavailable")
        if mode == "endless":  # read up to the format's bound, then cancelled (socket buffers aside)
            assert data.sent < 32 * 1024 * 1024, data.sent
        assert took < 90, took
    assert page.dialogs == []


@pytest.mark.parametrize("scale", [float("nan"), float("inf"), float("-inf")], ids=["nan", "inf", "-inf"])
def test_a_non_finite_scale_never_shows_as_a_number(page, site, library, tmp_path, scale):
    root = copy_library(library, tmp_path)
    shard = bytearray((root / SHARD).read_bytes())
    for row in (0, 3):
        offset = row * fmt.PREVIEW_ROW_BYTES + fmt.PREVIEW_ID_BYTES
        shard[offset:offset + 4] = struct.pack("<f", scale)
    (root / SHARD).write_bytes(bytes(shard))
    republish(root, json.loads((root / "library.json").read_text()))
    with start_data_server(root) as data:
        open_page(page, site, data)
        expect(thumbnails(page)).to_have_count(25, timeout=BOOT_TIMEOUT)
        expect(page.locator("#stage")).to_have_text(re.compile("Ready"), timeout=BOOT_TIMEOUT)
        titles = page.locator("#rows svg title").all_text_contents()
        assert len(titles) == 25 and not any(re.search("NaN|Infinity", t) for t in titles), titles


def test_odd_ids_without_previews_each_get_a_thumbnail_or_words(page, site, library, tmp_path):
    root = copy_library(library, tmp_path)
    table = pd.read_csv(root / "templates.csv", dtype={"template_id": str})
    markup = '<img src=x onerror="window.__pwned=1">'
    overlong = "f" * 100
    table.loc[0:3, "template_id"] = [markup, "__proto__", "constructor", overlong]
    table.to_csv(root / "templates.csv", index=False)
    manifest = json.loads((root / "library.json").read_text())
    manifest.pop("previews")  # a library without previews: thumbnails come from the templates
    republish(root, manifest)
    with start_data_server(root) as data:
        open_page(page, site, data)
        expect(count_status(page)).to_have_text(f"{len(table)} templates", timeout=BOOT_TIMEOUT)
        rows = page.locator("#rows")
        for template_id in (markup, "__proto__", "constructor", table["template_id"][4]):
            expect(rows.get_by_role("img", name=f"Waveform {template_id}", exact=True)).to_be_visible(timeout=60_000)
        expect(thumbnails(page)).to_have_count(24, timeout=60_000)  # all but the overlong ID
        expect(rows.locator(f'.thumb-slot[data-id="{overlong}"]')).to_have_text(re.compile(r"\w"))
        alert = page.locator("#query-error")
        expect(alert).to_contain_text(overlong[:16])
        assert not re.search(r"iterable|TypeError|undefined|null", alert.text_content())
        assert page.evaluate("window.__pwned") is None
        assert page.locator("#rows img").count() == 0  # no element from an ID
    assert page.dialogs == []
