"""The first paint never shows a row that Python would not show the same way (issue: hostile
input, round 3, class 3), in headless Chromium.

Each case serves a library whose templates.csv is damaged (and without a compact catalogue, as
the live bucket), while the site server holds Python back: what the page shows then is the
first paint alone. A damage in the csv's head paints nothing; a damage past the head lets the
first page paint (those rows are valid) and removes it when Python refuses the catalogue.
Either way the alert names the problem in words and no "Select" box stays next to it.
"""

from __future__ import annotations

import json
import re
import shutil
import urllib.parse

import pytest

from conftest import RecordingServer as Recorder
from templatelib import format as fmt
from test_page_start_e2e import library  # noqa: F401 (fixtures: a 30-row zlib library)
from test_site_e2e import BOOT_TIMEOUT, browser, count_status, page, site_dir  # noqa: F401 (fixtures)

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect
pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]


def lines_of(root):
    return (root / fmt.CATALOGUE_FILE).read_text(encoding="utf-8").splitlines(keepends=True)


def ragged_head(lines):
    lines[3] = lines[3].rstrip("\n") + ",extra\n"
    return "".join(lines)


def duplicated_header(lines):
    lines[0] = lines[0].replace("brain_area", "brain_area,brain_area", 1)
    return "".join(lines)


def nul_in_head(lines):
    lines[2] = lines[2].replace(",", ",\x00", 1)
    return "".join(lines)


def padded_header(lines):
    lines[0] = lines[0].replace("amplitude_uv", " amplitude_uv", 1)
    return "".join(lines)


def bad_value_past_the_head(lines):
    header = lines[0].rstrip("\n").split(",")
    cells = lines[28].rstrip("\n").split(",")
    cells[header.index("amplitude_uv")] = "loud"
    lines[28] = ",".join(cells) + "\n"
    return "".join(lines)


def unterminated_quote_at_the_end(lines):
    return "".join(lines) + '"never closed'


@pytest.fixture
def damaged(library, tmp_path):
    def make(damage):
        root = tmp_path / "lib"
        shutil.copytree(library.path, root, symlinks=True)
        (root / fmt.CATALOGUE_FILE).write_text(damage(lines_of(root)), encoding="utf-8")
        manifest = json.loads((root / fmt.MANIFEST_FILE).read_text())
        manifest.pop(fmt.COMPACT_MANIFEST_KEY, None)
        (root / fmt.MANIFEST_FILE).write_text(json.dumps(manifest))
        (root / fmt.COMPACT_CATALOGUE_FILE).unlink(missing_ok=True)
        return root
    return make


def select_boxes(page):
    return page.get_by_role("checkbox", name=re.compile("^Select "))


@pytest.mark.parametrize("damage", [ragged_head, duplicated_header, nul_in_head, padded_header])
def test_damage_in_the_head_paints_nothing(page, site_dir, damaged, damage):
    root = damaged(damage)
    with Recorder(site_dir, hold="pyodide.asm.wasm", cors=False, index=True) as site, Recorder(root) as data:
        page.goto(f"{site.url}/?" + urllib.parse.urlencode({"source": data.url + "/"}))
        page.wait_for_timeout(3_000)  # the first paint has had its chance (it takes ~0.3 s)
        assert "/templates.csv" in data.paths
        assert select_boxes(page).count() == 0
        site.gate.set()
        expect(page.get_by_role("alert").filter(has_text="templates.csv")).to_be_visible(timeout=BOOT_TIMEOUT)
        assert select_boxes(page).count() == 0
        expect(page.locator("#count")).to_have_text("0 templates")


@pytest.mark.parametrize("damage", [bad_value_past_the_head, unterminated_quote_at_the_end])
def test_rows_painted_before_python_refused_the_catalogue_go_away(page, site_dir, damaged, catalogue, damage):
    root = damaged(damage)
    with Recorder(site_dir, hold="pyodide.asm.wasm", cors=False, index=True) as site, Recorder(root) as data:
        page.goto(f"{site.url}/?" + urllib.parse.urlencode({"source": data.url + "/"}))
        expect(select_boxes(page)).to_have_count(25, timeout=30_000)
        shown = page.locator("#rows tr").evaluate_all("rows => rows.map(r => r.dataset.id)")
        assert shown == catalogue["template_id"].tolist()[:25]
        site.gate.set()
        expect(page.get_by_role("alert").filter(has_text="templates.csv")).to_be_visible(timeout=BOOT_TIMEOUT)
        expect(select_boxes(page)).to_have_count(0)
        assert count_status(page).filter(has_text=re.compile(r"^[1-9]")).count() == 0
