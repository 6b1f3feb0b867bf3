"""The page contract (``templatelib/page_contract.py``) is the one place of what page and Python
share: the built page carries it whole, its header and filters are rendered from it, no title,
label or filter id is written a second time in the page's JavaScript or templates, and the
service worker and the module preloads follow the modules in ``static/`` by themselves."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest

from generator.build import WORKER_MODULE, build_site
from templatelib import format as fmt
from templatelib import units
from templatelib.page_contract import (EXTRA_COLUMNS, HINTED_COLUMNS, MAX_EXTRA_COLUMNS, QUICK_FILTERS, RESULT_COLUMNS,
                                       TABLE_COLUMNS,
                                       page_facts)

SITE_SRC = Path(__file__).resolve().parent.parent / "site_src"
PAGE_SOURCES = sorted([*(SITE_SRC / "static").glob("*.js"), *(SITE_SRC / "templates").glob("*.j2")])


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = build_site(tmp_path_factory.mktemp("site") / "site", pyodide="cdn", docs=False)
    page = (out / "index.html").read_text(encoding="utf-8")
    config = json.loads(re.search(r'<script id="site-config" type="application/json">(.*?)</script>', page, re.S)[1])
    return out, page, config


def test_the_contract_names_real_columns_and_operators():
    assert TABLE_COLUMNS == tuple(c.name for c in RESULT_COLUMNS)
    assert RESULT_COLUMNS[0].name == "template_id"  # the page shows it as the button opening the view
    for column in RESULT_COLUMNS:
        assert column.name in fmt.COLUMNS and column.kind in ("text", "number"), column
        assert column.kind == "number" or column.decimals is None, column
    assert len({f.id for f in QUICK_FILTERS}) == len(QUICK_FILTERS)
    for f in QUICK_FILTERS:
        assert f.column in fmt.COLUMNS and f.id.startswith("f-"), f
        assert (f.operator == "==") == (f.choices is not None), f
        assert f.choices or (f.operator in (">=", "<=") and f.scale > 0 and f.step in ("any", "1")), f
        assert not f.hint or f.column in fmt.LIVE_NUMERIC_COLUMNS, f
    assert set(HINTED_COLUMNS) <= {f.column for f in QUICK_FILTERS}


def test_no_title_label_or_filter_id_is_written_a_second_time():
    facts = [c.title for c in RESULT_COLUMNS] + [f.label for f in QUICK_FILTERS] + [f.id for f in QUICK_FILTERS]
    facts += [c["title"] for c in page_facts()["extraColumns"]["columns"]]
    found = []
    for path in PAGE_SOURCES:
        text = path.read_text(encoding="utf-8")
        for fact in facts:
            if re.search(r"(?<![\w-])" + re.escape(fact) + r"(?![\w-])", text):
                found.append(f"{path.relative_to(SITE_SRC)}: {fact!r}")
    assert found == [], "declared in templatelib/page_contract.py; read it from the page config instead"


def test_units_in_titles_come_from_units_py_not_from_hand():
    """The results titles read as users know them, and their unit text is built by units.py:
    the contract's source writes no unit in parentheses itself."""
    titles = {c.name: c.title for c in RESULT_COLUMNS}
    assert titles["depth_along_probe"] == "Depth (µm)" and titles["amplitude_uv"] == "Amplitude (µV)"
    for name in ("depth_along_probe", "amplitude_uv"):
        assert titles[name].endswith(f"({units.shown_unit(name)})")
    source = (SITE_SRC / "templatelib" / "page_contract.py").read_text(encoding="utf-8")
    column_block = source[source.index("RESULT_COLUMNS = ("):source.index("class QuickFilter")]
    assert not re.search(r"\((µm|µV|ms|s)\)", column_block), "derive the unit from units.py"
    # The addable columns: every measured column the table lacks, each with its shown unit and scale.
    extra = page_facts()["extraColumns"]
    assert [c["name"] for c in extra["columns"]] == list(EXTRA_COLUMNS)
    assert set(EXTRA_COLUMNS).isdisjoint(titles) and set(EXTRA_COLUMNS) <= set(fmt.COLUMN_UNITS)
    assert "spread" in EXTRA_COLUMNS and "trough_half_width" in EXTRA_COLUMNS
    by_name = {c["name"]: c for c in extra["columns"]}
    assert by_name["trough_half_width"] == {"name": "trough_half_width", "title": "trough_half_width (ms)",
                                            "unit": "ms", "scale": 1000.0}
    assert by_name["num_positive_peaks"]["title"] == "num_positive_peaks" and by_name["spread"]["unit"] == "µm"
    assert extra["max"] == MAX_EXTRA_COLUMNS and 1 <= MAX_EXTRA_COLUMNS <= 10
    assert extra["significantDigits"] == units.SIGNIFICANT_DIGITS and extra["missing"] == units.MISSING


def test_the_page_carries_the_contract_and_renders_it(built):
    _, page, config = built
    assert {key: config[key] for key in page_facts()} == json.loads(json.dumps(page_facts()))
    header = re.findall(r'<button type="button" class="sort" data-column="([^"]+)">([^<]+)</button>', page)
    assert [(name, html.unescape(title)) for name, title in header] == [(c.name, c.title) for c in RESULT_COLUMNS]
    boxes = re.findall(r'<label>([^<]+?) <(?:select|input) id="([^"]+)"', page)
    assert [(html.unescape(label), box) for label, box in boxes] == [(f.label, f.id) for f in QUICK_FILTERS]
    # The JavaScript's list of required keys covers every fact (a missing one is an error there).
    required = re.search(r"REQUIRED_KEYS = \[(.*?)\];", (SITE_SRC / "static" / "config.js").read_text(), re.S)[1]
    assert set(page_facts()) <= set(re.findall(r'"(\w+)"', required))


def test_modules_are_preloaded_precached_and_versioned_by_themselves(built):
    out, page, config = built
    version = re.search(r'<script type="module" src="static/app\.js\?v=([0-9a-f]+)"></script>', page)[1]
    modules = sorted(p.name for p in (out / "static").glob("*.js"))
    assert WORKER_MODULE in modules and config["workerURL"] == f"static/{WORKER_MODULE}?v={version}"
    preloaded = re.findall(r'<link rel="modulepreload" href="static/([^"?]+)\?v=' + version + '">', page)
    assert preloaded == [m for m in modules if m != WORKER_MODULE]
    precache = json.loads(re.search(r"const PRECACHE = (\[.*?\])\.map", (out / "sw.js").read_text())[1])
    assert {f"static/{m}?v={version}" for m in modules} | {f"static/style.css?v={version}"} <= set(precache)
    assert "<script src=" not in page  # no classic scripts, no order to keep
    for module in modules:
        text = (out / "static" / module).read_text(encoding="utf-8")
        imports = re.findall(r'\bfrom\s+"([^"]+)"', text)
        assert all(re.fullmatch(r"\./\w+\.js\?v=" + version, i) for i in imports), (module, imports)
        assert all(i.split("?")[0][2:] in modules for i in imports), (module, imports)
        assert "self.HTL" not in text and "importScripts" not in text, module
