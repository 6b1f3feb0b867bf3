"""Find templates by example (issue 18 section 3) in real headless Chromium, offline.

"Similar templates" from the template view and from a ``?like=`` link, "Your own waveform" with
``.npy`` and ``.csv`` files and hostile ones (refused in words; a file over the size limit is
refused before a byte of it is read), and the hybrid preview with the snippet carrying its seed
and noise level. One library, one site and one browser context serve every test, to keep the
suite's time small; controls are found by their accessible names.
"""

from __future__ import annotations

import io
import re
import urllib.parse

import numpy as np
import pytest
import zarr

from templatelib import format as fmt
from templatelib.own_waveform import MAX_BYTES
from test_site_e2e import BOOT_TIMEOUT, chromium, count_status, new_page, open_page, wait_ready

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect
pytestmark = pytest.mark.browser

RATE = fmt.TEMPLATE_SAMPLING_FREQUENCY
HOSTILE_LIKE = "<img src=x onerror=alert(1)>"
# Counts every way a page can read a file's bytes, so a test can tell that a file was not read.
COUNT_READS = """
window.__fileReads = 0;
for (const [owner, names] of [[Blob.prototype, ["arrayBuffer", "text", "stream", "slice"]],
                              [FileReader.prototype, ["readAsArrayBuffer", "readAsText", "readAsDataURL", "readAsBinaryString"]]]) {
  for (const name of names) {
    const original = owner[name];
    owner[name] = function (...args) { window.__fileReads++; return original.apply(this, args); };
  }
}
"""


@pytest.fixture(scope="module")
def library(small_library):
    """The conftest's catalogue, site and data fixtures serve this library."""
    return small_library


@pytest.fixture(scope="module")
def page():
    with chromium() as browser:
        yield new_page(browser, 1400, 1100, init_script=COUNT_READS)


def open_ready(page, site, data, **params):
    open_page(page, site, data, **params)
    wait_ready(page)
    return page


def similarities(page) -> list[float]:
    return [float(text) for text in page.locator("#rows td.similarity").all_text_contents()]


def first_row_id(page) -> str:
    return page.locator("#rows tr").first.get_attribute("data-id")


def template_of(small_library, row) -> np.ndarray:
    """The library's template (samples x channels) of catalogue row ``row``."""
    group = zarr.open_consolidated(small_library.mapper(row["dataset"]), mode="r")
    return np.asarray(group["templates_array"][int(row["template_index"])], dtype=np.float32)


def npy_bytes(array, **kw) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, **kw)
    return buffer.getvalue()


def pick(page, path):
    page.get_by_label("Waveform file (.npy or .csv)").set_input_files(str(path))


@pytest.mark.timeout(240)
def test_similar_templates_from_the_view_and_back(page, site, data, catalogue):
    open_ready(page, site, data)
    expect(count_status(page)).to_have_text(f"{len(catalogue)} templates", timeout=BOOT_TIMEOUT)
    target = catalogue["template_id"].iloc[7]
    page.get_by_label("Query").fill("amplitude_uv > 0")
    page.get_by_label("Query").press("Enter")
    expected = int((catalogue["amplitude_uv"] > 0).sum())
    expect(count_status(page)).to_have_text(f"{expected} templates")
    page.get_by_role("button", name="View " + target).click()
    page.get_by_role("button", name="Similar templates").click()

    expect(page.get_by_role("columnheader", name="Similarity")).to_be_visible(timeout=60_000)
    expect(page.locator("#rows tr").first).to_have_attribute("data-id", target)
    # The ranking keeps the query (its rows only), the template itself first, most similar first.
    expect(count_status(page)).to_have_text(f"{expected} templates")
    expect(page.get_by_role("status").filter(has_text="Ranked by similarity to template " + target)).to_be_visible()
    values = similarities(page)
    assert values[0] == 1.0 and values == sorted(values, reverse=True) and len(values) == min(expected, 25)
    assert all(re.fullmatch(r"-?\d\.\d{3}", t) for t in page.locator("#rows td.similarity").all_text_contents())
    assert urllib.parse.parse_qs(urllib.parse.urlparse(page.url).query)["like"] == [target]

    page.get_by_role("button", name="Clear ranking").click()
    expect(page.get_by_role("columnheader", name="Similarity")).to_have_count(0)
    expect(page.locator("#rows td.similarity")).to_have_count(0)
    assert "like" not in urllib.parse.parse_qs(urllib.parse.urlparse(page.url).query)
    assert first_row_id(page) == catalogue.query("amplitude_uv > 0")["template_id"].iloc[0]
    assert page.dialogs == []


@pytest.mark.timeout(240)
def test_a_like_link_opened_fresh_and_a_hostile_one(page, site, data, catalogue):
    target = catalogue["template_id"].iloc[3]
    open_ready(page, site, data, like=target)
    expect(page.locator("#rows tr").first).to_have_attribute("data-id", target, timeout=60_000)
    expect(count_status(page)).to_have_text(f"{len(catalogue)} templates")
    values = similarities(page)
    assert values[0] == 1.0 and values == sorted(values, reverse=True)
    # A column's order replaces the ranking.
    page.get_by_role("button", name="Template ID").click()
    expect(page.locator("#rows td.similarity")).to_have_count(0)
    assert "like" not in page.url

    for like, words in [(HOSTILE_LIKE, "is not a template ID"), ("0123456789abcdef", "not in this catalogue")]:
        open_ready(page, site, data, like=like)
        alert = page.get_by_role("alert").filter(has_text="Similar templates:")
        expect(alert).to_contain_text(words, timeout=60_000)
        # Nothing else: the query's own order, every template, no column, no markup run, the URL cleaned.
        expect(count_status(page)).to_have_text(f"{len(catalogue)} templates")
        expect(page.locator("#rows td.similarity")).to_have_count(0)
        assert page.locator("#rows img").count() == 0 and page.dialogs == []
        assert "like" not in page.url


@pytest.mark.timeout(300)
def test_own_waveform_files_are_ranked_and_hostile_ones_refused(page, site, data, catalogue, small_library, tmp_path):
    open_ready(page, site, data)
    section = page.get_by_role("region", name="Your own waveform")
    expect(section).to_contain_text("Nothing is uploaded anywhere")
    rate = page.get_by_label("Sampling rate (Hz)")
    expect(rate).to_have_value(str(int(RATE)) if float(RATE).is_integer() else str(RATE))

    # A library template saved as samples x channels finds itself first.
    row = catalogue.iloc[4]
    template = template_of(small_library, row)
    (tmp_path / "mine.npy").write_bytes(npy_bytes(template))
    pick(page, tmp_path / "mine.npy")
    expect(page.get_by_role("img", name="Your waveform mine.npy")).to_be_visible(timeout=60_000)
    expect(page.locator("#rows tr").first).to_have_attribute("data-id", row["template_id"], timeout=60_000)
    expect(page.get_by_role("status").filter(has_text='Ranked by similarity to your waveform ("mine.npy")')).to_be_visible()
    assert similarities(page)[0] >= 0.99
    assert "like" not in page.url  # a local file is never in the URL

    # Another one's best channel as a .csv (one value per line) finds that one first.
    other = catalogue.iloc[11]
    best = template_of(small_library, other)
    trace = best[:, int(np.argmax(np.ptp(best, axis=0)))]
    (tmp_path / "best.csv").write_text("\n".join(f"{v:.6f}" for v in trace) + "\n")
    pick(page, tmp_path / "best.csv")
    expect(page.locator("#rows tr").first).to_have_attribute("data-id", other["template_id"], timeout=60_000)
    assert similarities(page)[0] >= 0.99
    ranked_first = other["template_id"]

    alert = section.get_by_role("alert")
    # Over the size limit: refused on its size, not one byte read (a sparse 2 GB file).
    huge = tmp_path / "huge.npy"
    with open(huge, "wb") as f:
        f.truncate(2**31)
    reads = page.evaluate("window.__fileReads")
    pick(page, huge)
    expect(alert).to_have_text(re.compile(r'"huge\.npy" is 2,147,483,648 bytes; .* at most ' + f"{MAX_BYTES:,}"))
    assert page.evaluate("window.__fileReads") == reads
    over = tmp_path / "over.npy"
    over.write_bytes(b"\x93NUMPY" + b"\0" * MAX_BYTES)
    pick(page, over)
    expect(alert).to_contain_text("so it was not read")
    assert page.evaluate("window.__fileReads") == reads

    float_body = np.zeros(240, np.float32).tobytes()
    lying = b"\x93NUMPY\x01\x00" + (lambda h: len(h).to_bytes(2, "little") + h)(
        b"{'descr': '<f4', 'fortran_order': False, 'shape': (1000,), }")
    cases = [
        ("empty.npy", b"", "is empty"),
        ("pickled.npy", npy_bytes(np.array([{"a": 1}, 1.0], dtype=object), allow_pickle=True), "pickled"),
        ("nan.npy", npy_bytes(np.full(240, np.nan, np.float32)), "NaN or infinite"),
        ("lying.npy", lying + float_body, "follow it"),
        ("nan.csv", "1\n2\nnan\n" * 40, "NaN"),
        ("<img src=x onerror=alert(1)>.npy", npy_bytes(np.full(3, np.inf)), ""),
        ("unit.txt", b"1\n2\n", "is not a .npy or .csv file"),
    ]
    for name, content, words in cases:
        path = tmp_path / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        page.get_by_label("Waveform file (.npy or .csv)").set_input_files([])
        pick(page, path)
        expect(alert).to_contain_text(name[:30] if not words else words, timeout=30_000)
    # Wrong rates: outside the page's limits (refused before reading), then one the file's length belies.
    rate.fill("30")
    pick(page, tmp_path / "mine.npy")
    expect(alert).to_contain_text("the sampling rate must be")
    rate.fill("1000")
    page.get_by_role("button", name="Rank by your waveform").click()
    expect(alert).to_contain_text("is the sampling rate right", timeout=30_000)
    # Nothing else happened: the last good ranking stands, no markup ran.
    assert first_row_id(page) == ranked_first and page.dialogs == []
    assert page.locator("#own img, #own-preview img").count() == 0


@pytest.mark.timeout(300)
def test_hybrid_preview_is_drawn_and_the_snippet_carries_its_seed_and_noise(page, site, data, catalogue):
    # Two templates of one probe (one dataset), selected through the URL.
    ids = catalogue.groupby("dataset")["template_id"].apply(list).iloc[0][:2]
    open_ready(page, site, data, sel=",".join(ids))
    basket = page.get_by_role("region", name="Selection")
    button = basket.get_by_role("button", name="Preview hybrid recording")
    expect(button).to_be_enabled(timeout=60_000)
    button.click()
    figure = basket.get_by_role("img", name=re.compile(r"^Hybrid preview: \d+ channels, 100(\.0)? ms, seed 0, noise "))
    expect(figure).to_be_visible(timeout=90_000)
    caption = basket.locator("#hybrid-caption")
    expect(caption).to_contain_text("Preview, not a recording")
    expect(caption).to_contain_text("seed=0")
    expect(caption).to_contain_text("the library's median noise level")
    noise = float(basket.get_by_label("Noise level (µV)").input_value())
    assert noise == round(float(np.nanmedian(catalogue["noise_level_uv"])), 1)
    snippet = page.get_by_role("region", name="Python snippet")
    expect(snippet).to_contain_text(f"noise_levels={noise!r}")
    expect(snippet).to_contain_text("seed=0,")
    assert figure.locator("polyline").count() >= 1

    basket.get_by_label("Noise level (µV)").fill("3.5")
    basket.get_by_label("Seed", exact=True).fill("1234")
    button.click()
    expect(basket.get_by_role("img", name=re.compile(r"seed 1234, noise 3\.5 µV$"))).to_be_visible(timeout=60_000)
    expect(caption).to_contain_text("seed=1234, noise 3.5 µV,")
    expect(snippet).to_contain_text("noise_levels=3.5")
    expect(snippet).to_contain_text("seed=1234,")
    # The snippet keeps them when the selection changes.
    basket.get_by_role("button", name=f"Remove {ids[1]}").click()
    expect(snippet).not_to_contain_text(ids[1])
    expect(snippet).to_contain_text("seed=1234,")

    # Hostile values are refused in words.
    basket.get_by_label("Noise level (µV)").fill("-5")
    button.click()
    expect(basket.get_by_role("region", name="Hybrid preview").get_by_role("alert")).to_contain_text(
        "Hybrid preview: the noise level must be 0 to")
    expect(snippet).to_contain_text("noise_levels=3.5")  # the snippet stays the one last drawn
    assert page.dialogs == []
