"""Hostile catalogue strings in the library overview: shown as text, never markup, never a failed build.

The docs are built with the real mkdocs from a catalogue whose brain areas and probes hold
markup, markdown links and images, and matplotlib mathtext; the built ``overview.html`` is then
parsed: nothing the catalogue wrote may be an element, a link, an event handler or a fetch.
"""

from __future__ import annotations

import html.parser
from pathlib import Path

import pandas as pd
import pytest

from generator.build import _build_docs
from generator.overview import build_overview

HOSTILE = [
    "<img src=x onerror=alert(1)>",
    "<script>alert(2)</script>",
    "[x](javascript:alert(3))",
    "![x](http://evil.example/p.png)",
    "<a href='http://evil.example/'>y</a>",
    "*em* _u_ `code` | pipe & amp; &lt;",
    "$\\frac{$",
    "\\undefinedcommand",
    "$x^$ \u202e line\nbreak",
]
#: Strings matplotlib's mathtext refuses to parse.
MATHTEXT = ["$\\frac{$", "$\\undefinedcommand$", "$x^$ \u202e line\nbreak"]


def hostile_catalogue(strings) -> pd.DataFrame:
    rows = []
    for i, text in enumerate(strings * 2):
        rows.append({
            "template_id": f"{i:016x}", "dataset": f"d{i % 3}", "probe": text if i % 2 else "Neuropixels 1.0",
            "brain_area": text, "amplitude_uv": 50.0 + i, "depth_along_probe": 10.0 * i,
            "signal_to_noise_ratio": 5.0, "spikes_per_unit": 100 + i, "peak_to_trough_duration": 4e-4,
        })
    return pd.DataFrame(rows)


class Elements(html.parser.HTMLParser):
    """Every start tag with its attributes, and the page's text."""

    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, {k: v or "" for k, v in attrs}))

    def handle_data(self, data):
        self.text.append(data)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("text", MATHTEXT)
def test_a_hostile_label_never_fails_the_overview(tmp_path, text):
    md = build_overview(hostile_catalogue([text]), tmp_path)
    page = md.read_text(encoding="utf-8")
    assert "could not be drawn" not in page  # drawn, with the string as a label
    pngs = sorted(tmp_path.glob("*.png"))
    assert pngs and all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)


@pytest.mark.timeout(300)
def test_the_built_overview_shows_catalogue_strings_as_text(tmp_path):
    csv = tmp_path / "build machine" / "secret_folder" / "templates.csv"
    csv.parent.mkdir(parents=True)
    hostile_catalogue(HOSTILE).to_csv(csv, index=False)
    _build_docs(tmp_path / "site", str(csv))
    built = (tmp_path / "site" / "docs" / "overview.html").read_text(encoding="utf-8")
    parser = Elements()
    parser.feed(built)
    text = "".join(parser.text)
    for tag, attrs in parser.tags:
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        for name in ("href", "src", "action", "srcset"):
            value = attrs.get(name, "").strip().lower()
            assert not value.startswith(("javascript:", "data:")), (tag, attrs)
            assert "evil.example" not in value, (tag, attrs)
        if tag == "img":
            assert attrs["src"].endswith(".png") and "/" not in attrs["src"], attrs
    assert "<script>alert" not in built and "<img src=x" not in built
    # each string is there, as text (the table shows it whole)
    for hostile in HOSTILE:
        assert hostile.replace("\n", " ") in text, hostile
    # issue 18: the build machine's path of the catalogue is not published
    assert "secret_folder" not in built and str(tmp_path) not in built
    assert "Drawn from the library" in text


@pytest.mark.timeout(60)
def test_a_remote_catalogue_is_named_by_its_library_url():
    from generator.build import catalogue_name

    assert catalogue_name("https://example.org/lib/templates.csv") == "the library at https://example.org/lib/"
    assert catalogue_name(str(Path("/home/someone/lib/templates.csv"))) == "the library"
    assert "<" not in catalogue_name("https://example.org/<b>/templates.csv")
