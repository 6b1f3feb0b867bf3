"""A query submitted while Python restarts runs once Python is back, in headless Chromium.

A template view that hangs (its chunks held back by the data server) is stopped by the page's
call limit and Python restarts; while it does, the visitor submits a query. It must not be
dropped silently: the page shows its answer once Python is back (or, for a query Python
refuses, says so in words), never the default results under the visitor's query.
"""

from __future__ import annotations

import re

import pytest

from conftest import RecordingServer
from test_hostile_page_e2e import HOLD, site, stopped_alert, url_for  # noqa: F401 (fixtures)
from test_page_start_e2e import library  # noqa: F401 (fixtures: a 30-row zlib library)
from test_site_e2e import BOOT_TIMEOUT, browser, count_status, page  # noqa: F401 (fixtures)

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect
pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]


@pytest.mark.parametrize("expression, refused", [("amplitude_uv > 100", False), ("__import__('os')", True)],
                         ids=["valid", "refused"])
def test_a_query_submitted_during_a_restart_runs_once_python_is_back(page, site, library, catalogue,
                                                                      expression, refused):
    with RecordingServer(library.path, hold=HOLD) as data:
        page.goto(url_for(site, data))
        expect(count_status(page)).to_have_text(f"{len(catalogue)} templates", timeout=BOOT_TIMEOUT)
        hung = catalogue["template_id"].iloc[0]
        page.get_by_role("button", name=f"View {hung}").click()
        expect(stopped_alert(page)).to_be_visible(timeout=30_000)
        assert page.evaluate("!window.__htl.isReady()")  # Python is restarting
        page.get_by_label("Query").fill(expression)
        page.get_by_label("Query").press("Enter")
        assert page.evaluate("!window.__htl.isReady()"), "the restart ended before the query: the test proves nothing"
        data.gate.set()
        if refused:
            # refused in words (role=alert), not a traceback; the default results are not passed off as its answer
            expect(page.locator("#query-error")).to_have_text(re.compile(r"\w+ \w+ \w+"), timeout=BOOT_TIMEOUT)
            expect(page.locator("#query-error")).to_have_attribute("role", "alert")
            assert "Traceback" not in page.locator("#query-error").text_content()
        else:
            matching = int((catalogue["amplitude_uv"] > 100).sum())
            assert 0 < matching < len(catalogue)
            expect(count_status(page)).to_have_text(f"{matching} templates", timeout=BOOT_TIMEOUT)
            expect(page.locator("#rows tr")).to_have_count(min(matching, 25))
        expect(page.get_by_label("Query")).to_have_value(expression)
        expect(page.locator("#stage")).to_have_text("Ready")
    assert page.dialogs == []
