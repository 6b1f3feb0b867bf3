"""The Cite action and the basket's probe groups, in headless Chromium (offline bundle)."""

from __future__ import annotations

import pandas as pd
import pytest

from conftest import library_fixture
from test_site_e2e import chromium, open_page, wait_ready

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect
pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]


# 2 NP1.0 datasets and one NP-Ultra-like one
library = library_fixture("cite", datasets=3, units=4, seed=5)


def test_cite_names_sources_and_basket_groups_by_probe(site, data, library):
    catalogue = pd.read_csv(f"{library.path}/templates.csv", dtype={"template_id": str})
    np1 = catalogue[catalogue["probe"] == "Neuropixels 1.0"].iloc[1]
    ultra = catalogue[catalogue["probe"] != "Neuropixels 1.0"].iloc[0]
    ids = [ultra["template_id"], np1["template_id"]]
    with chromium() as browser:
        page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        wait_ready(open_page(page, site, data, sel=",".join(ids)))
        basket = page.get_by_role("region", name="Selection")
        # one heading per probe, in selection order, each listing its templates
        headings = basket.locator("h3.basket-probe")
        expect(headings).to_have_count(2, timeout=30_000)
        expect(headings.nth(0)).to_contain_text(ultra["probe"])
        expect(headings.nth(1)).to_contain_text("Neuropixels 1.0")
        expect(basket.get_by_role("list", name=ultra["probe"])).to_contain_text(ultra["template_id"])
        expect(basket.get_by_role("list", name="Neuropixels 1.0")).to_contain_text(np1["template_id"])
        snippet = page.get_by_role("region", name="Python snippet")
        expect(snippet).to_contain_text("templates_by_probe[0]")
        expect(snippet).to_contain_text("Buccino")

        citation = page.get_by_role("region", name="Citation")
        expect(citation).to_be_hidden()
        page.get_by_role("button", name="Cite").click()
        expect(citation).to_be_visible()
        expect(citation).to_contain_text("SpikeInterface")
        expect(citation).to_contain_text("10.7554/eLife.61834")
        expect(citation).to_contain_text("synthetic source")
        expect(citation).to_contain_text(ultra["dataset"])
        expect(citation.locator("pre")).to_contain_text("@article{buccino2020spikeinterface")
        expect(citation.get_by_role("button", name="Copy BibTeX")).to_be_visible()
