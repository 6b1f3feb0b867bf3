"""Download templates in headless Chromium (offline bundle): the files the page saves open with
the unmodified ``spikeinterface.core.Templates.from_zarr``."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from spikeinterface.core import Templates

from conftest import library_fixture
from test_site_e2e import chromium, open_page, wait_ready
from templatelib import format as fmt

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect
pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]


# 2 NP1.0 datasets and one NP-Ultra-like one
library = library_fixture("download", datasets=3, units=3, seed=7)


def test_download_templates_saves_files_spikeinterface_opens(site, data, library, tmp_path):
    catalogue = pd.read_csv(f"{library.path}/templates.csv", dtype={"template_id": str})
    ultra = catalogue[catalogue["probe"] != "Neuropixels 1.0"].iloc[1]
    np1 = catalogue[catalogue["probe"] == "Neuropixels 1.0"].iloc[2]
    ids = [ultra["template_id"], np1["template_id"]]
    # read before the test damages a chunk of the library
    own = {row["template_id"]: Templates.from_zarr(f"{library.path}/{fmt.dataset_key(row['dataset'])}")
           for row in (ultra, np1)}
    with chromium() as browser:
        page = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True).new_page()
        wait_ready(open_page(page, site, data, sel=",".join(ids)))
        basket = page.get_by_role("region", name="Selection")
        expect(basket.locator("h3.basket-probe")).to_have_count(2, timeout=30_000)
        downloads = []
        page.on("download", lambda download: downloads.append(download))
        # expect_download waits for the first file; the second follows it
        with page.expect_download(timeout=60_000):
            basket.get_by_role("button", name="Download templates").click()
        page.wait_for_function("() => document.querySelectorAll('#download-files a').length === 2",
                               timeout=30_000)
        page.wait_for_timeout(500)
        assert len(downloads) == 2
        saved = []
        for download in downloads:
            assert download.failure() is None
            path = tmp_path / download.suggested_filename
            download.save_as(path)
            saved.append(path)
        expect(basket.get_by_role("status", name="Download progress")).to_have_text(
            "Downloaded 2 template(s) in 2 file(s).")
        expect(basket.get_by_role("list", name="Downloaded files").get_by_role("link")).to_have_count(2)
        expect(page.get_by_role("alert").filter(has_text="Download templates")).to_have_count(0)

        # a damaged chunk: words in an alert, and no file at all (the good one is not saved either)
        damaged = catalogue[catalogue["probe"] == "Neuropixels 1.0"].iloc[0]
        chunk = f"{library.path}/{fmt.dataset_key(damaged['dataset'])}/templates_array/" \
                f"{int(damaged['template_index'])}.0.0"
        with open(chunk, "r+b") as handle:
            handle.truncate(40)
        wait_ready(open_page(page, site, data, sel=f"{np1['template_id']},{damaged['template_id']}"))
        before = len(downloads)
        basket.get_by_role("button", name="Download templates").click()
        alert = page.get_by_role("alert").filter(has_text="Download templates:")
        expect(alert).to_contain_text("templates_array", timeout=30_000)
        expect(alert).to_contain_text("No file was saved.")
        expect(basket.get_by_role("list", name="Downloaded files").get_by_role("link")).to_have_count(0)
        page.wait_for_timeout(500)
        assert len(downloads) == before
    assert sorted(p.name for p in saved) == ["hybrid_templates_0_Neuropixels-Ultra.zarr.zip",
                                             "hybrid_templates_1_Neuropixels-1-0.zarr.zip"]
    for path, row in zip(sorted(saved), (ultra, np1)):
        opened, library_own = Templates.from_zarr(str(path)), own[row["template_id"]]
        assert list(opened.unit_ids) == [row["template_id"]]
        np.testing.assert_array_equal(opened.templates_array[0],
                                      library_own.templates_array[int(row["template_index"])])
        np.testing.assert_array_equal(opened.probe.contact_positions, library_own.probe.contact_positions)
        assert (opened.sampling_frequency, opened.nbefore) == (library_own.sampling_frequency, library_own.nbefore)
