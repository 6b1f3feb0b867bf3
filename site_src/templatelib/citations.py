"""Where a dataset comes from, and how to cite it: provenance -> text + BibTeX.

Standard library only: it runs in the pipeline (``pipeline.provenance`` builds the
``library.json`` ``"provenance"`` entries with :func:`infer_provenance`), in the page (Pyodide,
the "Cite" action) and its text goes into the snippet users copy.

A provenance is a small dict with at least ``"source"``: ``"synthetic"``, ``"ibl"``,
``"np_ultra"`` or ``"unknown"``. Every other value comes from a catalogue anyone may publish, so
it is untrusted: the text is plain text (the page shows it with ``textContent``) with every
invisible character (bidi controls, zero-width and other format or control characters) shown as
its ``\\uXXXX`` escape (:func:`visible`), and every BibTeX field is escaped (:func:`escape_bibtex`)
so that no value can close its field or start an entry.
"""

from __future__ import annotations

import re

IBL_DANDISET = "000409"
NP_ULTRA_DOI = "10.6084/m9.figshare.19493588.v2"
SPIKEINTERFACE_DOI = "10.7554/eLife.61834"
NP_ULTRA_PREFIX = "steinmetz_ye_np_ultra"
SYNTHETIC_PREFIX = "synthetic_"
UNKNOWN = "unknown provenance"

_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_IBL_NAME = re.compile(r"(?:^|_)sub-[^_]+_ses-(" + _UUID + r")")

#: The sources a writer may record as a dataset's ``provenance["source"]``, in the order a
#: citation names them (``pipeline.provenance`` trusts a stored provenance only for these).
KNOWN_SOURCES = ("ibl", "np_ultra", "synthetic")
#: Order of the sources in a citation (spikeinterface always comes last).
SOURCE_ORDER = KNOWN_SOURCES + ("unknown",)

SPIKEINTERFACE_TEXT = ("Buccino AP, Hurwitz CL, Garcia S, Magland J, Siegle JH, Hurwitz R, Hennig MH (2020). "
                       "SpikeInterface, a unified framework for spike sorting. eLife 9:e61834. "
                       "doi:" + SPIKEINTERFACE_DOI)
IBL_TEXT = ("International Brain Laboratory et al. (2023). A Brain-Wide Map of Neural Activity during "
            "Complex Behaviour. Data: IBL Brain Wide Map, DANDI Archive, dandiset " + IBL_DANDISET +
            " (https://dandiarchive.org/dandiset/" + IBL_DANDISET + ")")
NP_ULTRA_TEXT = ("Steinmetz NA, Ye Z (2022). Neuropixels Ultra templates (dataset). figshare. "
                 "doi:" + NP_ULTRA_DOI)

_BIBTEX = {
    "spikeinterface": {
        "kind": "article", "key": "buccino2020spikeinterface",
        "fields": (("title", "SpikeInterface, a unified framework for spike sorting"),
                   ("author", "Buccino, Alessio P. and Hurwitz, Cole L. and Garcia, Samuel and Magland, Jeremy "
                              "and Siegle, Joshua H. and Hurwitz, Roger and Hennig, Matthias H."),
                   ("journal", "eLife"), ("volume", "9"), ("pages", "e61834"), ("year", "2020"),
                   ("doi", SPIKEINTERFACE_DOI)),
    },
    "ibl": {
        "kind": "misc", "key": "ibl2023brainwidemap",
        "fields": (("title", "IBL Brain Wide Map (DANDI:" + IBL_DANDISET + ")"),
                   ("author", "{International Brain Laboratory}"), ("howpublished", "DANDI Archive"),
                   ("year", "2023"), ("url", "https://dandiarchive.org/dandiset/" + IBL_DANDISET)),
    },
    "np_ultra": {
        "kind": "misc", "key": "steinmetz2022npultra",
        "fields": (("title", "Neuropixels Ultra templates"), ("author", "Steinmetz, Nicholas A. and Ye, Zhiwen"),
                   ("howpublished", "figshare"), ("year", "2022"), ("doi", NP_ULTRA_DOI)),
    },
}


def infer_provenance(key: str) -> dict:
    """The provenance a dataset name implies, marked ``"inferred"``; ``{"source": "unknown"}`` otherwise.

    ``synthetic_*`` -> synthetic (checked first: synthetic names imitate IBL's);
    ``steinmetz_ye_np_ultra*`` -> NP-Ultra; ``[000409_]sub-<subject>_ses-<uuid>_...`` -> IBL.
    """
    name = str(key)
    name = name[: -len(".zarr")] if name.endswith(".zarr") else name
    inferred = {"inferred": True, "basis": "dataset name"}
    if name.startswith(SYNTHETIC_PREFIX):
        return {"source": "synthetic", **inferred}
    if name.startswith(NP_ULTRA_PREFIX):
        return {"source": "np_ultra", "doi": NP_ULTRA_DOI, **inferred}
    match = _IBL_NAME.search(name)
    if match and (name.startswith("sub-") or name.startswith(IBL_DANDISET + "_")):
        return {"source": "ibl", "dandiset": IBL_DANDISET, "session": match.group(1).lower(), **inferred}
    return {"source": "unknown"}


def source_of(provenance) -> str:
    source = provenance.get("source") if isinstance(provenance, dict) else None
    return source if source in SOURCE_ORDER else "unknown"


def visible(text: str) -> str:
    """``text`` with every invisible character written as its Python escape, e.g. ``\\u202e``.

    Invisible: whatever :meth:`str.isprintable` refuses except the space, i.e. control and
    format characters (the bidi overrides and isolates U+202A-202E and U+2066-2069, U+061C,
    zero-width U+200B-200F, C0 and C1 controls), line and paragraph separators, surrogates,
    private-use and unassigned code points. Text that reads one way and means another
    ("Trojan Source") cannot then reach a citation or a comment of the snippet.
    """
    return "".join(c if c == " " or c.isprintable() else
                   (f"\\u{ord(c):04x}" if ord(c) <= 0xFFFF else f"\\U{ord(c):08x}") for c in text)


def _clean(value, limit: int = 200) -> str:
    """An untrusted value as one short line of plain text, its invisible characters shown."""
    text = visible(" ".join(str(value).split()))
    return text if len(text) <= limit else text[: limit - 1] + "…"


#: LaTeX for the characters BibTeX or LaTeX would read as syntax. Braces cannot be escaped with
#: a backslash: BibTeX counts every brace of a field, so they become brace-free commands.
_BIBTEX_ESCAPES = {
    "\\": "\\textbackslash{}", "{": "\\textbraceleft{}", "}": "\\textbraceright{}",
    "%": "\\%", "#": "\\#", "&": "\\&", "$": "\\$", "_": "\\_",
    "^": "\\textasciicircum{}", "~": "\\textasciitilde{}", "@": "{@}", '"': "{\"}",
}


def escape_bibtex(value) -> str:
    """A BibTeX field value that stays inside its braces, whatever ``value`` holds.

    One line (line breaks become spaces), invisible characters shown (:func:`visible`), and
    every character of :data:`_BIBTEX_ESCAPES` replaced by its LaTeX: the only braces left are
    balanced pairs, so a value can neither close its field nor start an entry.
    """
    return "".join(_BIBTEX_ESCAPES.get(c, c) for c in _clean(value, 400))


def _entry(name: str) -> str:
    spec = _BIBTEX[name]
    lines = [f"@{spec['kind']}{{{spec['key']},"]
    for field, value in spec["fields"]:
        # Constants, except the author group braces (kept on purpose): escape nothing else.
        lines.append(f"  {field} = {{{value}}},")
    return "\n".join(lines) + "\n}"


def _synthetic_entry(seeds: list, key: str = "htl_synthetic") -> str:
    note = "Synthetic templates generated by the Hybrid Template Library's synthetic source"
    if seeds:
        note += " (seed " + ", ".join(seeds) + ")"
    note += "; not recorded data"
    return (f"@misc{{{key},\n  title = {{{escape_bibtex('Hybrid Template Library: synthetic templates')}}},\n"
            f"  note = {{{escape_bibtex(note)}}},\n}}")


def _unknown_entry(datasets: list) -> str:
    note = UNKNOWN + ": " + ", ".join(datasets)
    return f"@misc{{htl_unknown,\n  title = {{{escape_bibtex('Templates of unknown provenance')}}},\n  note = {{{escape_bibtex(note)}}},\n}}"


def citation(provenances: dict) -> dict:
    """``{"text", "bibtex", "sources"}`` for ``{dataset: provenance}`` (the datasets of a selection).

    The text names each source once with the datasets it covers, then spikeinterface, which
    every use of the library cites.
    """
    by_source: dict = {}
    for dataset, provenance in provenances.items():
        by_source.setdefault(source_of(provenance), []).append((str(dataset), provenance or {}))
    paragraphs, entries = [], []
    for source in SOURCE_ORDER:
        items = by_source.get(source)
        if not items:
            continue
        names = sorted(_clean(d) for d, _ in items)
        inferred = any(isinstance(p, dict) and p.get("inferred") for _, p in items)
        guess = " (inferred from the dataset name)" if inferred else ""
        if source == "ibl":
            sessions = sorted({_clean(p.get("session")) for _, p in items if p.get("session")})
            extra = f" Sessions: {', '.join(sessions)}." if sessions else ""
            paragraphs.append(f"{IBL_TEXT}{guess}.{extra} Datasets: {', '.join(names)}.")
            entries.append(_entry("ibl"))
        elif source == "np_ultra":
            paragraphs.append(f"{NP_ULTRA_TEXT}{guess}. Datasets: {', '.join(names)}.")
            entries.append(_entry("np_ultra"))
        elif source == "synthetic":
            seeds = sorted({_clean(p.get("seed")) for _, p in items if p.get("seed") is not None})
            seed_text = f" (seed {', '.join(seeds)})" if seeds else ""
            paragraphs.append(f"Generated by this project's synthetic source{seed_text}, not recorded data{guess}. "
                              f"Datasets: {', '.join(names)}.")
            entries.append(_synthetic_entry(seeds))
        else:
            paragraphs.append(f"Unknown provenance: {', '.join(names)}. Ask the library's publisher how to cite them.")
            entries.append(_unknown_entry(names))
    paragraphs.append("Software: " + SPIKEINTERFACE_TEXT + ".")
    entries.append(_entry("spikeinterface"))
    return {"text": "\n\n".join(paragraphs), "bibtex": "\n\n".join(entries) + "\n",
            "sources": [s for s in SOURCE_ORDER if s in by_source] + ["spikeinterface"]}


def provenances_for(datasets, manifest: dict | None) -> dict:
    """``{dataset: provenance}``: ``library.json``'s when it has one, else inferred from the name."""
    recorded = manifest.get("provenance") if isinstance(manifest, dict) else None
    recorded = recorded if isinstance(recorded, dict) else {}
    out = {}
    for dataset in datasets:
        provenance = recorded.get(dataset)
        out[dataset] = provenance if isinstance(provenance, dict) and "source" in provenance else infer_provenance(dataset)
    return out
