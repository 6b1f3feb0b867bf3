"""What a new user trips over (issue 18 section 4), in real headless Chromium: table headers
that wrap instead of clipping, short dataset labels with the full name on hover and keyboard
focus, metric columns added to the table (units from Python, ms for durations, sortable, kept
in the link, hostile ``?cols=`` refused in words), "0 templates" explained, and the template
view's values with units and labels big enough to read.

One library, one site and one page are shared by the cases (each boot of Python costs seconds);
controls are found by role and name, as users find them.
"""

from __future__ import annotations

import re
import urllib.parse

import pytest

from conftest import library_fixture
from test_site_e2e import BOOT_TIMEOUT, chromium, count_status, new_page, open_page, wait_ready
from templatelib import units
from templatelib.empty_result import explain_empty
from templatelib.catalogue import read_catalogue_csv
from templatelib.column_table import known_columns

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect
pytestmark = pytest.mark.browser

DURATION = "trough_half_width"
DURATION_TITLE = units.label(DURATION)  # "trough_half_width (ms)": Python's words, not retyped here
HOSTILE_COLS = "<img src=x onerror=alert(1)>,__proto__," + "spread"


library = library_fixture("newuser", datasets=3, units=10, seed=2)


@pytest.fixture(scope="module")
def page(site, data):
    with chromium() as browser:
        page = new_page(browser, 1280, 900)
        open_page(page, site, data)
        wait_ready(page)
        yield page


def clipped_headers(page) -> list[str]:
    """Header cells whose text does not fit: wider (or taller) than the cell shows, or cut by it."""
    return page.evaluate("""() => [...document.querySelectorAll('#results-table thead th')].filter((th) => {
        const inner = th.querySelector('button') || th;
        const box = th.getBoundingClientRect(), text = inner.getBoundingClientRect();
        return th.scrollWidth > th.clientWidth || inner.scrollWidth > inner.clientWidth
          || text.right > box.right + 0.5 || text.left < box.left - 0.5;
      }).map((th) => th.textContent.trim())""")


def table_overflow(page) -> int:
    """How many pixels the table is wider than its box (it scrolls sideways then)."""
    return page.evaluate("() => { const box = document.querySelector('#results-table').parentElement;"
                         " return box.scrollWidth - box.clientWidth; }")


def header_titles(page) -> list[str]:
    return [t.strip() for t in page.locator("#results-table thead th").all_text_contents()]


@pytest.mark.timeout(240)
def test_headers_wrap_and_the_dataset_name_is_there_on_focus(page, catalogue):
    for width in (1280, 1000):
        page.set_viewport_size({"width": width, "height": 900})
        assert clipped_headers(page) == [], width
        assert table_overflow(page) <= 0, width  # the base columns fit: nothing is cut at the edge
        for title in ("Select", "Brain area", "Depth (µm)", "Amplitude (µV)"):
            assert title in header_titles(page)
    page.set_viewport_size({"width": 1280, "height": 900})

    first = page.get_by_role("row").nth(1)
    dataset = catalogue.set_index("template_id").loc[first.get_attribute("data-id"), "dataset"]
    label = first.get_by_title(dataset, exact=True)
    short = label.text_content()
    assert short and short != dataset and not short.startswith("synth") and len(short) <= 18
    # Keyboard: from the row's "View" button, Tab reaches the dataset label, which shows the full name.
    first.get_by_role("button", name=re.compile("^View ")).focus()
    page.keyboard.press("Tab")
    expect(label).to_be_focused()
    shown = label.evaluate("el => getComputedStyle(el, '::after').content")
    assert shown == '"' + dataset + '"'
    page.keyboard.press("Escape")


@pytest.mark.timeout(300)
def test_an_added_metric_column_has_its_unit_sorts_and_stays_in_the_link(page, site, data, catalogue):
    page.get_by_text("Columns", exact=True).click()
    box = page.get_by_role("checkbox", name=DURATION_TITLE)
    box.check()
    header = page.get_by_role("button", name=DURATION_TITLE)
    expect(header).to_be_visible()
    expect(page).to_have_url(re.compile("cols=" + DURATION))
    assert clipped_headers(page) == []
    page.set_viewport_size({"width": 1000, "height": 900})  # one column of layout: room for it
    assert clipped_headers(page) == [] and table_overflow(page) <= 0
    page.set_viewport_size({"width": 1280, "height": 900})

    header.click()  # ascending
    expect(page.locator("#results-table th[aria-sort=ascending]")).to_have_text(re.compile(DURATION))
    column = header_titles(page).index(DURATION_TITLE)
    smallest = catalogue[DURATION].min() * 1000
    cell = page.get_by_role("row").nth(1).get_by_role("cell").nth(column)
    # Shown in ms, as Python's units.py writes it (4 significant digits, no unit in the cell).
    expect(cell).to_have_text(units.number_text(smallest))
    header.click()  # descending
    expect(page.locator("#results-table th[aria-sort=descending]")).to_have_text(re.compile(DURATION))
    expect(cell).to_have_text(units.number_text(catalogue[DURATION].max() * 1000))

    # The link reopens the same table, sorted by the added column.
    page.goto(page.url)
    wait_ready(page)
    expect(page.get_by_role("button", name=DURATION_TITLE)).to_be_visible()
    expect(page.locator("#results-table th[aria-sort=descending]")).to_have_text(re.compile(DURATION))
    expect(page.get_by_role("row").nth(1).get_by_role("cell").nth(column)).to_have_text(
        units.number_text(catalogue[DURATION].max() * 1000))

    # A hostile ?cols= is refused in words; the known column in it is still added; nothing runs.
    open_page(page, site, data, cols=HOSTILE_COLS)
    alert = page.get_by_role("alert").filter(has_text="not columns the table can add")
    expect(alert).to_be_visible(timeout=BOOT_TIMEOUT)
    expect(alert).to_contain_text("<img src=x onerror=alert(1)>")
    wait_ready(page)
    expect(page.get_by_role("button", name=units.label("spread"))).to_be_visible()
    # Rows the first paint drew without the added column get Python's values.
    first = page.get_by_role("row").nth(1)
    spread = catalogue.set_index("template_id").loc[first.get_attribute("data-id"), "spread"]
    expect(first.get_by_role("cell").last).to_have_text(units.number_text(spread))
    assert page.locator("#results-table img, #cols-note img").count() == 0 and page.dialogs == []
    assert "cols=spread" in page.url and "onerror" not in urllib.parse.unquote(page.url)


@pytest.mark.timeout(120)
def test_zero_templates_says_why(page, library):
    expression = "amplitude_uv > 100000 and brain_area == 'CA1'"
    page.get_by_label("Query").fill(expression)
    page.get_by_label("Query").press("Enter")
    expect(count_status(page)).to_have_text("0 templates")
    status = page.get_by_role("status").filter(has_text=re.compile("^0 templates$"))
    why = page.locator("#" + status.get_attribute("aria-describedby"))
    table = read_catalogue_csv(open(f"{library.path}/templates.csv", "rb").read())
    expected = explain_empty(table, expression, known_columns(table.names))["text"]
    expect(why).to_have_text(expected)
    expect(why).to_contain_text("amplitude_uv spans")
    expect(status).to_have_accessible_description(expected)
    # A query that matches something says nothing more.
    page.get_by_label("Query").fill("")
    page.get_by_label("Query").press("Enter")
    expect(count_status(page)).not_to_have_text("0 templates")
    expect(why).to_have_text("")


@pytest.mark.timeout(120)
def test_the_view_shows_units_and_readable_labels(page, catalogue):
    page.set_viewport_size({"width": 1280, "height": 900})
    first_id = page.get_by_role("button", name=re.compile("^View ")).first.text_content()
    page.get_by_role("button", name=f"View {first_id}").click()
    view = page.get_by_role("region", name="Template view")
    figure = view.get_by_role("img", name=re.compile(f"^Waveform {first_id}"))
    expect(figure).to_be_visible(timeout=30_000)
    row = catalogue.set_index("template_id").loc[first_id]
    fields = dict(zip(view.locator("dt").all_text_contents(), view.locator("dd").all_text_contents()))
    for name in (DURATION, "peak_to_trough_duration", "amplitude_uv", "repolarization_slope"):
        assert fields[name] == units.text(name, float(row[name])), name
    assert fields[DURATION].endswith(" ms") and fields["amplitude_uv"].endswith(" µV")
    # Exponent form only outside 1e-5..1e9 (units.number_text), e.g. a ratio that is float noise.
    exponents = [float(m[0]) for v in fields.values() for m in re.finditer(r"-?\d\.?\d*e[+-]\d+", v)]
    assert all(abs(x) < 1e-5 or abs(x) >= 1e9 for x in exponents), exponents
    # The figure fills the view column and its labels are readable (not ~6 px).
    heights = figure.evaluate("svg => [...svg.querySelectorAll('text')].map((t) => t.getBoundingClientRect().height)")
    assert heights and min(heights) >= 9, heights
    column = view.bounding_box()["width"]
    assert figure.bounding_box()["width"] >= 0.85 * column
