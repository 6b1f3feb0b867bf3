"""A grown catalogue in headless Chromium: the first paint, a query, a sort and paging at
100,000 rows (the benchmark, tests/benchmarks/scale.py, times them and covers 1,000,000).
The whole test takes ~40 s here, 11 s more than at 20,000 rows.

The library is grown from the 30-row test library without writing more templates
(tests/benchmarks/grow_library.py: the same datasets, new IDs, matching previews, packed).
"""

from __future__ import annotations

import re
import sys
import urllib.parse
from pathlib import Path

import pandas as pd
import pytest

from conftest import RecordingServer as Recorder
from templatelib import format as fmt
from test_page_start_e2e import library  # noqa: F401 (fixture: a 30-row zlib library)
from test_site_e2e import BOOT_TIMEOUT, browser, count_status, page, run_query, site_dir, sort_by_amplitude  # noqa: F401 (fixtures)

sys.path.insert(0, str(Path(__file__).resolve().parent / "benchmarks"))
from grow_library import grow_library  # noqa: E402

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect
pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]
ROWS = 100_000


@pytest.fixture(scope="module")
def grown(library, tmp_path_factory):
    root = tmp_path_factory.mktemp("grown") / "lib"
    grow_library(library.path, str(root), ROWS)
    return root


@pytest.fixture(scope="module")
def grown_rows(grown):
    return pd.read_csv(grown / fmt.CATALOGUE_FILE, dtype={"template_id": str})


def shard_requests(data):
    return sorted({p for p in data.paths if p.startswith(f"/{fmt.PREVIEW_DIR}/")})


def test_first_paint_query_sort_and_paging_at_scale(page, site_dir, grown, grown_rows):
    with Recorder(site_dir, hold="pyodide.asm.wasm", cors=False, index=True) as site, Recorder(grown) as data:
        page.goto(f"{site.url}/?" + urllib.parse.urlencode({"source": data.url + "/"}))
        thumbs = page.locator("#rows").get_by_role("img", name=re.compile("^Waveform "))
        expect(thumbs).to_have_count(25, timeout=30_000)
        shown = page.locator("#rows tr").evaluate_all("rows => rows.map(r => r.dataset.id)")
        assert shown == grown_rows["template_id"].tolist()[:25]
        assert shard_requests(data) == [f"/{fmt.PREVIEW_DIR}/0.bin"]
        site.gate.set()
        expect(count_status(page)).to_have_text(f"{ROWS} templates", timeout=BOOT_TIMEOUT)
        # Python read the compact catalogue; the csv was read only as far as the first page.
        assert data.count(fmt.COMPACT_CATALOGUE_FILE) == 1 and data.count(fmt.CATALOGUE_FILE) == 1

        matching = run_query(page, grown_rows, "amplitude_uv > 100 and brain_area != 'CA1'")

        ordered = sort_by_amplitude(page, matching)["template_id"].tolist()

        before = set(shard_requests(data))
        page.get_by_role("button", name="Next page").click()
        expect(page.locator("#rows tr").first).to_have_attribute("data-id", ordered[25])
        expect(page.locator("#rows").get_by_role("img", name=re.compile("^Waveform "))).to_have_count(25, timeout=30_000)
        # Paging fetches only the shards of the rows it shows.
        rows_shown = page.locator("#rows tr").evaluate_all("rows => rows.map(r => Number(r.dataset.row))")
        needed = {f"/{fmt.PREVIEW_DIR}/{r // fmt.PREVIEW_ROWS_PER_SHARD}.bin" for r in rows_shown}
        fetched = set(shard_requests(data))
        assert fetched - before <= needed and needed <= fetched
        assert data.count("templates_array") == 0
