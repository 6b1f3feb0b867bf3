"""The built site in real headless Chromium, offline, against libraries served by serve-data.

The site is built with ``--pyodide local`` (the offline bundle) and every test runs twice: on
a zlib library and on a Blosc (lz4, shuffle) one, the live bucket's codec, which the bundle
decodes with WebAssembly c-blosc. Controls are found by their accessible names, the same way
users find them.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
import urllib.parse

import numpy as np
import pandas as pd
import pytest
import zarr

from conftest import RunningServer, build_library
from generator.build import build_site
from generator.data_server import make_server
from pipeline.catalogue import consolidate
from pipeline.dataset_writer import WriteOptions, write_dataset
from pipeline.sources.synthetic import SyntheticPlan, synthesize_dataset

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect
pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
    # Nothing may leave the machine: every host but loopback fails to resolve.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]
HOSTILE = "<img src=x onerror=alert(1)>"
TRICKY = "it's \"CA1\"\\ \nnext line"  # quotes, a backslash and a newline in a filter value
BOOT_TIMEOUT = 90_000


@pytest.fixture(scope="module", params=["zlib", "blosc"])
def library(tmp_path_factory, request):
    """The same library in both codecs the format allows: Blosc (lz4, shuffle) is the live one."""
    # 32 rows: more than one page of 25.
    storage = build_library(tmp_path_factory.mktemp("e2e") / "lib", datasets=3, units=10, seed=2,
                            compressor=request.param)
    templates, meta = synthesize_dataset(SyntheticPlan("hostile", "np1"), 2, seed=9)
    meta.brain_area = [HOSTILE, TRICKY]
    write_dataset(storage, "hostile_<b>bold<b>", templates, meta, WriteOptions(compressor=request.param))
    consolidate(storage)
    return storage


@pytest.fixture(scope="module")
def site_dir(tmp_path_factory, library):
    return build_site(tmp_path_factory.mktemp("site") / "_site", pyodide="local", docs=True,
                      catalogue=f"{library.path}/templates.csv")


@pytest.fixture(scope="module")
def site(site_dir):
    with RunningServer(make_server(site_dir, "127.0.0.1", 0, cors=False, index=True)) as server:
        yield server


@contextlib.contextmanager
def chromium():
    """Debian's headless Chromium, offline but for loopback (:data:`CHROMIUM_ARGS`), closed on exit."""
    with playwright_api.sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield instance
        finally:
            instance.close()


def new_page(browser, width=1400, height=1000, init_script=None):
    """A page in a new context of ``browser``; ``page.dialogs`` lists the message of every dialog
    the page opens (each dismissed), so a test can assert that none opened."""
    context = browser.new_context(viewport={"width": width, "height": height})
    if init_script:
        context.add_init_script(init_script)
    page = context.new_page()
    page.dialogs = []
    page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss()))
    return page


@pytest.fixture(scope="module")
def browser():
    with chromium() as instance:
        yield instance


@pytest.fixture
def page(browser):
    page = new_page(browser)
    yield page
    page.context.close()


def open_page(page, site, data, **params):
    query = urllib.parse.urlencode({"source": data.url + "/", **params})
    page.goto(f"{site.url}/?{query}")
    return page


def count_status(page):
    return page.get_by_role("status").filter(has_text=re.compile(r"^\d+ templates$"))


def wait_ready(page):
    expect(page.get_by_role("status").filter(has_text=re.compile("^Ready$"))).to_be_visible(timeout=BOOT_TIMEOUT)


def run_query(page, catalogue, expression):
    """Submit ``expression`` in the Query box and wait for the count pandas gives for it on
    ``catalogue``; return those matching rows."""
    page.get_by_label("Query").fill(expression)
    page.get_by_label("Query").press("Enter")
    expected = catalogue.query(expression, engine="python")
    expect(count_status(page)).to_have_text(f"{len(expected)} templates")
    return expected


def sort_by_amplitude(page, rows, descending=False):
    """Sort the table by its Amplitude header (clicked twice for descending) and wait for the
    row pandas puts first; return ``rows`` in that (stable) order."""
    header = page.get_by_role("button", name="Amplitude (µV)")
    header.click()
    if descending:
        header.click()
    ordered = rows.sort_values("amplitude_uv", ascending=not descending, kind="stable")
    expect(page.locator("#rows tr").first).to_have_attribute("data-id", ordered["template_id"].iloc[0])
    return ordered


def test_catalogue_count_query_thumbnails_and_view(page, site, data, catalogue):
    open_page(page, site, data)
    expect(count_status(page)).to_have_text(f"{len(catalogue)} templates", timeout=BOOT_TIMEOUT)
    expect(page.get_by_role("img", name=re.compile("^Waveform")).first).to_be_visible(timeout=30_000)

    expression = "brain_area != 'CA1' and amplitude_uv > 100"
    page.get_by_label("Query").fill(expression)
    page.get_by_label("Query").press("Enter")
    expected = len(catalogue.query(expression))
    assert 0 < expected < len(catalogue)
    expect(count_status(page)).to_have_text(f"{expected} templates")
    assert f"q={urllib.parse.quote_plus(expression)}" in page.url

    first_id = page.get_by_role("button", name=re.compile("^View ")).first.text_content()
    page.get_by_role("button", name=f"View {first_id}").click()
    view = page.get_by_role("region", name="Template view")
    expect(view.get_by_role("img", name=re.compile(f"^Waveform {first_id}"))).to_be_visible(timeout=30_000)
    expect(view).to_contain_text("amplitude_uv")


def test_query_errors_are_words_next_to_the_box(page, site, data, catalogue):
    open_page(page, site, data, q="__import__('os').system('true')")
    wait_ready(page)
    expect(page.get_by_role("alert").filter(has_text="may be called")).to_be_visible()
    page.get_by_label("Query").fill("amplitude_uv >")
    page.get_by_label("Query").press("Enter")
    expect(page.get_by_role("alert").filter(has_text="syntax error")).to_be_visible()
    assert page.dialogs == []


def test_quick_filter_writes_the_query(page, site, data, catalogue):
    open_page(page, site, data)
    wait_ready(page)
    page.get_by_label("Amplitude min (µV)").fill("120")
    page.get_by_label("Amplitude min (µV)").press("Tab")
    expect(page.get_by_label("Query")).to_have_value("amplitude_uv >= 120")
    expect(count_status(page)).to_have_text(f"{(catalogue['amplitude_uv'] >= 120).sum()} templates")
    page.get_by_label("Amplitude min (µV)").fill("")
    page.get_by_label("Peak-to-trough max (ms)").fill("0.5")
    page.get_by_label("Peak-to-trough max (ms)").press("Tab")
    expect(page.get_by_label("Query")).to_have_value("peak_to_trough_duration <= 0.0005")
    narrow = int((catalogue["peak_to_trough_duration"] <= 0.0005).sum())
    assert 0 < narrow < len(catalogue)
    expect(count_status(page)).to_have_text(f"{narrow} templates")


def test_shared_link_oddities_and_tricky_filter_values(page, site, data, catalogue):
    """A duplicated selection counts once, an unknown ?sort= is dropped in words, a brain area
    with quotes, a backslash and a newline is matched by the quick filter, Clear resets it all."""
    first = catalogue["template_id"][0]
    open_page(page, site, data, sel=f"{first},{first}", sort="no_such_column", q="amplitude_uv > 0")
    wait_ready(page)
    expect(page.get_by_role("alert").filter(has_text="is not a results column")).to_be_visible()
    expect(page.get_by_role("region", name="Selection")).to_contain_text("(1)")
    assert page.url.count(first) == 1 and "sort=" not in page.url
    page.get_by_label("Brain area").select_option(value=TRICKY)
    expect(count_status(page)).to_have_text("1 templates")
    expect(page.get_by_role("row").filter(has_text="next line")).to_have_count(1)
    page.get_by_role("button", name="Amplitude (µV)").click()
    page.get_by_role("button", name="Clear", exact=True).click()
    expect(count_status(page)).to_have_text(f"{len(catalogue)} templates")
    expect(page.get_by_label("Query")).to_have_value("")
    assert "sort=" not in page.url and "q=" not in page.url
    assert page.get_by_label("Brain area").input_value() == ""


def test_selection_snippet_runs_in_selection_order_and_survives_reload(page, site, data, library, catalogue, tmp_path):
    open_page(page, site, data, q="probe == 'Neuropixels 1.0'")
    wait_ready(page)
    np1 = catalogue[catalogue["probe"] == "Neuropixels 1.0"]
    # two templates from different datasets, the later dataset first: not dataset order
    later = np1[np1["dataset"] == sorted(np1["dataset"].unique())[1]].iloc[2]
    earlier = np1[np1["dataset"] == sorted(np1["dataset"].unique())[0]].iloc[1]
    page.get_by_role("button", name="Template ID").click()  # sort: both on the first page
    for row in (later, earlier):
        page.get_by_label("Query").fill(f"template_id == '{row['template_id']}'")
        page.get_by_label("Query").press("Enter")
        page.get_by_label(f"Select {row['template_id']}").check()
    snippet = page.get_by_role("region", name="Python snippet")
    expect(snippet).to_contain_text(earlier["template_id"])
    code = snippet.locator("code").text_content()
    assert code.index(later["template_id"]) < code.index(earlier["template_id"])

    # The selection CSV holds exactly the selected rows, in selection order, as the catalogue has them.
    with page.expect_download() as download:
        page.get_by_role("button", name="Download CSV").click()
    rows = pd.read_csv(download.value.path())
    assert rows["template_id"].tolist() == [later["template_id"], earlier["template_id"]]
    for column in ("dataset", "template_index", "unit_id"):
        assert rows[column].tolist() == [later[column], earlier[column]]
    assert rows["amplitude_uv"].tolist() == pytest.approx([later["amplitude_uv"], earlier["amplitude_uv"]])

    out = tmp_path / "selected.npy"
    script = tmp_path / "snippet.py"
    script.write_text(code + f"\nnp.save({str(out)!r}, templates.templates_array)\n")
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    got = np.load(out)
    for k, row in enumerate((later, earlier)):
        group = zarr.open_consolidated(library.mapper(row["dataset"]), mode="r")
        np.testing.assert_array_equal(got[k], group["templates_array"][row["template_index"]])

    page.reload()
    wait_ready(page)
    expect(page.get_by_label("Query")).to_have_value(f"template_id == '{earlier['template_id']}'")
    expect(page.get_by_label(f"Select {earlier['template_id']}")).to_be_checked()
    # The selection is redrawn once pandas (the full stage) has loaded in the background.
    expect(page.get_by_role("region", name="Selection")).to_contain_text(later["template_id"], timeout=60_000)
    expect(page.get_by_role("region", name="Python snippet")).to_contain_text(later["template_id"])


def test_hostile_strings_render_as_text(page, site, data, catalogue):
    open_page(page, site, data, q="brain_area.str.startswith('<img')")
    expect(count_status(page)).to_have_text("1 templates", timeout=BOOT_TIMEOUT)
    row = page.get_by_role("row").filter(has_text=HOSTILE)
    expect(row).to_be_visible()
    # The dataset cell shows a short label; the full name is its title (hover, keyboard focus).
    expect(row.get_by_title("hostile_<b>bold<b>.zarr", exact=True)).to_be_visible()
    assert page.locator("#rows img").count() == 0 and page.locator("#rows b").count() == 0
    row.get_by_role("button", name=re.compile("^View ")).click()
    expect(page.get_by_role("region", name="Template view")).to_contain_text(HOSTILE, timeout=30_000)
    assert page.dialogs == []


def test_hostile_source_parameter_is_refused_as_text(page, site):
    page.goto(f"{site.url}/?source=" + urllib.parse.quote("javascript:alert(1)//<img src=x onerror=alert(2)>"))
    expect(page.get_by_role("alert").filter(has_text="must be an http(s) URL")).to_be_visible(timeout=10_000)
    assert page.dialogs == []


def test_source_without_cors_gives_the_cors_error(page, site, library):
    with RunningServer(make_server(library.path, "127.0.0.1", 0, cors=False)) as no_cors:
        open_page(page, site, no_cors)
        alert = page.get_by_role("alert").filter(has_text="CORS")
        expect(alert).to_be_visible(timeout=BOOT_TIMEOUT)
        expect(alert).to_contain_text("python -m generator serve-data")


def test_missing_library_gives_not_found(page, site, data):
    page.goto(f"{site.url}/?source=" + urllib.parse.quote(data.url + "/nowhere/"))
    expect(page.get_by_role("alert").filter(has_text="not found (HTTP 404)")).to_be_visible(timeout=BOOT_TIMEOUT)


def test_docs_are_part_of_the_site(page, site, catalogue):
    page.goto(f"{site.url}/docs/format.html")
    expect(page.get_by_role("heading", name="The library format")).to_be_visible()
    page.goto(f"{site.url}/")
    page.get_by_role("link", name="Library overview").click()
    expect(page.get_by_role("heading", name="Library overview", exact=True, level=1)).to_be_visible()
    expect(page.get_by_text(f"{len(catalogue)} templates from")).to_be_visible()
    expect(page.get_by_role("img", name=re.compile("amplitude", re.I)).first).to_be_visible()
