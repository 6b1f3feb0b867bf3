"""The page's stages in headless Chromium: the catalogue answers queries before numpy, pandas
and zarr are installed, and every action that needs them (arithmetic in a query: numpy;
template view: zarr; snippet, selection csv, citation: pandas), started right after
"N templates", waits with a visible state and then works.

The site server holds back the numpy or pandas wheel until the test releases it, so "before
numpy" and "before pandas" are facts of the run, not races.
"""

from __future__ import annotations

import re
import urllib.parse

import pytest

from conftest import RecordingServer as Recorder
from test_page_start_e2e import library  # noqa: F401 (fixtures)
from test_site_e2e import BOOT_TIMEOUT, browser, count_status, page, run_query, site_dir, sort_by_amplitude  # noqa: F401 (fixtures)

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect
pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

PANDAS_WHEEL = "/pyodide/pandas-"
NUMPY_WHEEL = "/pyodide/numpy-"


def open_held(page, site, data):
    page.goto(f"{site.url}/?" + urllib.parse.urlencode({"source": data.url + "/"}))
    expect(count_status(page)).to_have_text(re.compile(r"^\d+ templates$"), timeout=BOOT_TIMEOUT)


def test_queries_answer_before_pandas_and_deferred_actions_then_work(page, site_dir, library, catalogue):
    with Recorder(site_dir, hold=PANDAS_WHEEL, cors=False, index=True) as site, Recorder(library.path) as data:
        open_held(page, site, data)
        expect(count_status(page)).to_have_text(f"{len(catalogue)} templates")
        # A query and a sort answer while pandas is still held back.
        expected = run_query(page, catalogue, "amplitude_uv > 80 and brain_area != 'CA1'")
        first = sort_by_amplitude(page, expected)["template_id"].iloc[0]
        assert not any(PANDAS_WHEEL in p for p in site.paths), "pandas was installed before the query answered"

        # Deferred actions, started now. The view needs only zarr, which comes first: it opens
        # while pandas is still held; the selection's snippet waits for pandas, visibly.
        page.get_by_role("checkbox", name=f"Select {first}").check()
        page.get_by_role("button", name=f"View {first}").click()
        view = page.get_by_role("region", name="Template view")
        expect(view.get_by_role("img", name=re.compile(f"^Waveform {first}"))).to_be_visible(timeout=60_000)
        expect(page.get_by_role("status").filter(has_text="Loading the rest of Python")).to_be_visible()
        assert site.arrived and not any(PANDAS_WHEEL in p for p in site.paths)
        site.gate.set()
        snippet = page.get_by_role("region", name="Python snippet")
        expect(snippet).to_contain_text(first, timeout=60_000)
        with page.expect_download(timeout=30_000) as download:
            page.get_by_role("button", name="Download CSV").click()
        text = open(download.value.path(), encoding="utf-8").read()
        assert first in text and text.count("\n") == 2
        page.get_by_role("button", name="Cite").click()
        expect(page.get_by_role("region", name="Citation")).to_contain_text("spikeinterface", ignore_case=True)
        assert page.get_by_role("alert").filter(has_text=re.compile(r"\S")).count() == 0


def test_a_view_started_right_after_the_count_waits_then_opens(page, site_dir, library, catalogue):
    """No hold: the ordinary start, with the view asked for at the first moment it can be."""
    with Recorder(site_dir, cors=False, index=True) as site, Recorder(library.path) as data:
        open_held(page, site, data)
        target = catalogue["template_id"].iloc[3]
        page.get_by_role("button", name=f"View {target}").click()
        view = page.get_by_role("region", name="Template view")
        expect(view.get_by_role("img", name=re.compile(f"^Waveform {target}"))).to_be_visible(timeout=60_000)


def test_queries_answer_before_numpy_and_arithmetic_then_waits_for_it(page, site_dir, library, catalogue):
    with Recorder(site_dir, hold=NUMPY_WHEEL, cors=False, index=True) as site, Recorder(library.path) as data:
        open_held(page, site, data)
        expect(count_status(page)).to_have_text(f"{len(catalogue)} templates")
        # A query, a sort and a page turn answer with no numpy in the worker.
        expected = run_query(page, catalogue, "amplitude_uv > 80 and brain_area.str.startswith('C')")
        sort_by_amplitude(page, expected, descending=True)
        assert not any(NUMPY_WHEEL in p for p in site.paths), "numpy was installed before the query answered"
        # Arithmetic on a column waits for numpy, visibly, and is answered once it is there.
        arithmetic = "amplitude_uv * 2 > 300"
        page.get_by_label("Query").fill(arithmetic)
        page.get_by_label("Query").press("Enter")
        expect(page.get_by_role("status").filter(has_text="Loading the rest of Python")).to_be_visible()
        page.wait_for_timeout(9_000)  # longer than a call may run: waiting for a stage is not running
        assert site.arrived and not any(NUMPY_WHEEL in p for p in site.paths)
        site.gate.set()
        expected = catalogue.query(arithmetic, engine="python")
        expect(count_status(page)).to_have_text(f"{len(expected)} templates", timeout=60_000)
        assert page.get_by_role("alert").filter(has_text=re.compile(r"\S")).count() == 0
