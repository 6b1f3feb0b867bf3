"""Hostile catalogue strings in Cite and the snippet: BibTeX a real parser reads back, no invisible text.

The BibTeX is read with ``bibtexparser`` (a test dependency): each hostile string must stay in
its field, with the expected number of entries and the field's text recovered. Bidi and other
invisible characters must reach neither the citation text nor the snippet unescaped, and the
snippet must still compile and select the same templates.
"""

from __future__ import annotations

import ast
import re

import pandas as pd
import pytest

from templatelib.citations import citation, visible
from templatelib.snippet import python_snippet, selection_rows

bibtexparser = pytest.importorskip("bibtexparser")

HOSTILE = [
    "}, @misc{evil, title = {pwned}",
    "lone { brace",
    "lone } brace",
    "back\\slash \\textbf{x} \\",
    "100% sure % comment",
    "a@b @article{x,",
    "line\nbreak\r\nand\u2028separator",
    "# & $ _ ^ ~ \" quote",
    "\u202eevil\u202c \u2066iso\u2069 \u200bzero \u061c",
]
INVISIBLE = [chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A), *range(0x200B, 0x2010), 0x061C,
                              0x00, 0x07, 0x1B, 0x7F, 0x85, 0x9B, 0xFEFF, 0x2028, 0x2029)]

#: The inverse of the LaTeX the BibTeX writer uses, to read a field back as text.
LATEX = [("\\textbackslash{}", "\\"), ("\\textbraceleft{}", "{"), ("\\textbraceright{}", "}"),
         ("\\textasciicircum{}", "^"), ("\\textasciitilde{}", "~"), ("{@}", "@"), ('{"}', '"'),
         ("\\%", "%"), ("\\#", "#"), ("\\&", "&"), ("\\$", "$"), ("\\_", "_")]


def latex_to_text(value: str) -> str:
    out, i = [], 0
    while i < len(value):
        for code, char in LATEX:
            if value.startswith(code, i):
                out.append(char)
                i += len(code)
                break
        else:
            out.append(value[i])
            i += 1
    return "".join(out)


def shown(text: str) -> str:
    """How the citation shows a string: one line, its invisible characters escaped."""
    return visible(" ".join(text.split()))


@pytest.mark.timeout(30)
@pytest.mark.parametrize("hostile", HOSTILE)
def test_bibtex_keeps_every_string_in_its_field(hostile):
    result = citation({
        hostile + ".zarr": {"source": "unknown"},
        "synthetic_a.zarr": {"source": "synthetic", "seed": hostile},
        "np.zarr": {"source": "np_ultra"},
    })
    entries = bibtexparser.loads(result["bibtex"]).entries
    assert sorted(e["ID"] for e in entries) == sorted(
        ["htl_unknown", "htl_synthetic", "steinmetz2022npultra", "buccino2020spikeinterface"]), result["bibtex"]
    by_id = {e["ID"]: e for e in entries}
    for entry in entries:  # nothing read as a field that was not written as one
        assert set(entry) <= {"ID", "ENTRYTYPE", "title", "note", "author", "journal", "volume", "pages", "year",
                              "doi", "howpublished", "url"}, entry
    assert shown(hostile) + ".zarr" in latex_to_text(by_id["htl_unknown"]["note"])
    assert "(seed " + shown(hostile) + ")" in latex_to_text(by_id["htl_synthetic"]["note"])
    assert latex_to_text(by_id["htl_synthetic"]["title"]) == "Hybrid Template Library: synthetic templates"


@pytest.mark.timeout(30)
@pytest.mark.parametrize("char", INVISIBLE, ids=[f"U+{ord(c):04X}" for c in INVISIBLE])
def test_invisible_characters_are_shown_escaped_in_the_citation(char):
    name = f"lab{char}x.zarr"
    result = citation({name: {"source": "unknown"}, f"synthetic_{char}.zarr": {"source": "synthetic", "seed": char}})
    for text in (result["text"], result["bibtex"]):
        assert char not in text
        assert all(c.isprintable() or c == "\n" for c in text), repr(text)
    if not char.isspace():  # whitespace is one space, as any other
        assert f"\\u{ord(char):04x}" in result["text"]


def hostile_table(text: str) -> pd.DataFrame:
    return pd.DataFrame({
        "template_id": ["00000000000000a1", "00000000000000b2", "00000000000000c3"],
        "dataset": [f"{text}.zarr", "plain.zarr", f"{text}.zarr"],
        "template_index": [0, 0, 1],
        "unit_id": [f"u{text}", "7", "8"],
        "probe": [text, "Neuropixels 1.0", text],
    })


@pytest.mark.timeout(30)
@pytest.mark.parametrize("text", [*HOSTILE, *INVISIBLE], ids=[*map(ascii, HOSTILE), *(f"U+{ord(c):04X}" for c in INVISIBLE)])
def test_the_snippet_compiles_means_the_same_and_shows_no_invisible_text(text):
    table = hostile_table(text)
    ids = ["00000000000000c3", "00000000000000b2", "00000000000000a1"]
    names = {d: {"source": "unknown"} for d in table["dataset"]}
    code = python_snippet(table, ids, "https://example.org/lib/", citation(names)["text"])
    compile(code, "snippet.py", "exec")
    assert all(c.isprintable() or c == "\n" for c in code), [c for c in code if not c.isprintable() and c != "\n"]
    tree = ast.parse(code)
    assigned = {t.targets[0].id: ast.literal_eval(t.value) for t in tree.body
                if isinstance(t, ast.Assign) and isinstance(t.targets[0], ast.Name) and t.targets[0].id in
                ("SELECTION", "SOURCE")}
    assert assigned["SELECTION"] == selection_rows(table, ids)  # the literals hold the strings themselves
    assert assigned["SOURCE"] == "https://example.org/lib/"
    # comments: each is one line starting with "#", the strings shown with their escapes
    comments = [line for line in code.splitlines() if line.lstrip().startswith("#")]
    if shown(text).strip():  # (a line break alone is one space, as any other)
        assert any(shown(text).strip() in line for line in comments), comments
    for token in re.findall(r"\\u[0-9a-f]{4}", "\n".join(comments)):
        assert chr(int(token[2:], 16)) in text
