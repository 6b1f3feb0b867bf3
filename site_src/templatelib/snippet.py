"""The Python the page hands to the user: it fetches exactly the selected templates.

The generated code runs as is in a fresh Python with spikeinterface installed (fsspec and
aiohttp come with s3fs, which spikeinterface's template database needs anyway). It returns one
``Templates`` per probe geometry, each holding its templates **in selection order**
(``query_templates_from_database`` returns dataset order and refuses mixed geometries), and
reads only the selected templates' chunks: one request per template instead of whole
``templates_array``s. Its first comments say what to cite (``citations``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import format as fmt
from .citations import visible

if TYPE_CHECKING:  # hybrid_preview needs numpy; the snippet's stage has it, the first query's not
    from .hybrid_preview import HybridParameters

_READER = '''
def read_selection(source, selection):
    \"\"\"One Templates per probe geometry (sampling rate, nbefore, contact layout), in the order the
    geometries first occur; each holds its templates in selection order. A Templates has one probe,
    so a selection spanning probe types (e.g. Neuropixels 1.0 and NP-Ultra) gives several.\"\"\"
    datasets, parts = {}, {}
    for dataset, unit_id, index, template_id in selection:
        if dataset not in datasets:
            # Consolidated metadata only: no array is read until it is indexed.
            group = zarr.open_consolidated(source + quote(dataset), mode="r")
            attrs = group.attrs.asdict()
            locations = np.column_stack([group["probe"]["x"][:], group["probe"]["y"][:]])
            geometry = (float(attrs["sampling_frequency"]), int(attrs["nbefore"]), IN_UV_EXPRESSION,
                        locations.shape, (locations - locations[0]).tobytes())
            datasets[dataset] = (group, geometry)
        group, geometry = datasets[dataset]
        if unit_id is not None:
            # unit_ids survive pruning; template_index may not.
            matches = np.flatnonzero(group["unit_ids"][:] == unit_id)
            if len(matches) == 0:
                raise LookupError(f"unit {unit_id} ({template_id}) is no longer in {dataset}")
            index = int(matches[0])
        part = parts.setdefault(geometry, {"group": group, "arrays": [], "ids": []})
        part["arrays"].append(group["templates_array"][index])  # one chunk = one template
        part["ids"].append(template_id)
    return [
        Templates(
            templates_array=np.stack(part["arrays"]),
            sampling_frequency=geometry[0],
            nbefore=geometry[1],
            channel_ids=part["group"]["channel_ids"][:],
            unit_ids=np.array(part["ids"]),
            probe=Probe.from_zarr_group(part["group"]["probe"]),
            is_in_uV=geometry[2],
        )
        for geometry, part in parts.items()
    ]
'''.replace("IN_UV_EXPRESSION", fmt.IN_UV_EXPRESSION)  # the format's rule, inlined

_HYBRID = '''
# Next: inject them into a recording. A recording has one probe, so this uses one group,
# templates_by_probe[{group}]; the others go into recordings on their own probes the same way.
# Here {duration:g} s of Gaussian noise ({noise:g} uV) on the same probe; use your own recording
# (same probe geometry) instead. The page's "Hybrid preview" draws the first {preview_ms:g} ms of this
# hybrid recording: the same spikes and amplitudes (same parameters and seed), other noise samples.
templates = templates_by_probe[{group}]
recording = NoiseGeneratorRecording(
    num_channels=templates.num_channels,
    sampling_frequency=templates.sampling_frequency,
    durations=[{duration!r}],
    noise_levels={noise!r},
    dtype="float32",
    seed={seed!r},
)
recording.set_probe(templates.probe, in_place=True)
hybrid_recording, hybrid_sorting = generate_hybrid_recording(
    recording,
    templates=templates,
    amplitude_std={amplitude_std!r},
    generate_sorting_kwargs=dict(firing_rates={firing_rate!r}, refractory_period_ms={refractory!r}),
    seed={seed!r},
)
print(hybrid_recording)
'''


def hybrid_code(params: HybridParameters, group: int = 0) -> str:
    """The snippet's injection, with the parameters the page's hybrid preview used."""
    return _HYBRID.format(group=int(group), duration=float(params.duration_s), noise=float(params.noise_uv),
                          seed=int(params.seed), amplitude_std=float(params.amplitude_std),
                          firing_rate=float(params.firing_rate_hz), refractory=float(params.refractory_period_ms),
                          preview_ms=float(params.preview_ms))


def comment_lines(text: str, width: int = 96) -> str:
    """``text`` as Python comment lines. It holds catalogue strings: every line break of any kind
    becomes a new ``# `` line, so nothing in it can leave the comment, and every invisible
    character (a bidi override, a zero-width space...) is written as its ``\\uXXXX`` escape,
    so the comment reads as what it holds. Catalogue strings in string literals are ``repr``'d,
    which escapes the same characters."""
    import textwrap

    lines = []
    for paragraph in text.split("\n\n"):
        words = visible(" ".join(paragraph.split()))  # str.split: every Unicode line break and space
        lines.extend("# " + line for line in (textwrap.wrap(words, width) or [""]))
        lines.append("#")
    return "\n".join(lines[:-1]) + "\n"


#: Characters that make a spreadsheet read a cell as a formula (OWASP, CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def unique_ids(template_ids) -> list:
    """``template_ids`` without repeats, in first-seen order (a link may repeat an ID)."""
    return list(dict.fromkeys(template_ids))


def neutralise_formula(value):
    """A text cell starting like a formula gets a leading ``'``; anything else is returned as is."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def selection_rows(table, template_ids) -> list[tuple]:
    """``(dataset, unit_id or None, template_index, template_id)`` in the order of ``template_ids``.

    Repeated IDs are kept once, at their first place.
    """
    indexed = table.set_index("template_id", drop=False)
    rows = []
    for tid in unique_ids(template_ids):
        if tid not in indexed.index:
            raise KeyError(f"template {tid} is not in this catalogue")
        row = indexed.loc[tid]
        unit_id = None
        if "unit_id" in indexed.columns and str(row["unit_id"]) not in ("", "nan", "None"):
            unit_id = int(row["unit_id"]) if str(row["unit_id"]).lstrip("-").isdigit() else str(row["unit_id"])
        rows.append((str(row["dataset"]), unit_id, int(row["template_index"]), str(row["template_id"])))
    return rows


def probe_groups(table, template_ids) -> list[tuple[str, list[str]]]:
    """``[(probe, [template_id, ...]), ...]``: the selection split by the catalogue's ``probe``,
    in the order the probes first occur, each in selection order (unknown IDs are left out).

    The snippet splits by the geometry it reads (one ``Templates`` per probe geometry); for
    libraries whose probe models each have one geometry, as every source here writes, the two
    agree, so the page shows these groups and the snippet's comments name them.
    """
    indexed = table.set_index("template_id", drop=False)
    groups: dict = {}
    for tid in unique_ids(template_ids):
        if tid in indexed.index:
            probe = indexed.loc[tid, "probe"] if "probe" in indexed.columns else ""
            probe = "" if probe is None or str(probe) == "nan" else str(probe)
            groups.setdefault(probe, []).append(tid)
    return list(groups.items())


def python_snippet(table, template_ids, source: str, citation_text: str | None = None,
                   hybrid: HybridParameters | None = None, group: int = 0) -> str:
    """The runnable snippet for ``template_ids`` (in that order) read from ``source``.

    Parameters
    ----------
    table : pandas.DataFrame
        The catalogue (``catalogue.load_catalogue``).
    template_ids : list of str
        The basket, in selection order.
    source : str
        http(s) URL of the library root the page reads.
    citation_text : str, optional
        What to cite (``citations.citation``'s text), added as comments.
    hybrid : HybridParameters, optional
        The hybrid preview's parameters (default: its defaults); ``group`` is the probe group
        injected (its index in ``templates_by_probe``).
    """
    rows = selection_rows(table, template_ids)
    if not rows:
        return "# Select templates (tick their boxes) to get the Python that fetches them."
    where = "the public library" if source.rstrip("/") + "/" == fmt.PUBLIC_HTTP_ROOT else "this source"
    selection = "\n".join(f"    {row!r}," for row in rows)
    groups = probe_groups(table, template_ids)
    header = (
        f"# {len(rows)} hybrid template(s) from {where}, in the order you selected them.\n"
        "# Needs: pip install spikeinterface s3fs  (s3fs brings fsspec + aiohttp for HTTP reads)\n"
    )
    if citation_text:
        header += "#\n# Please cite:\n" + comment_lines(citation_text)
    header += (
        "from urllib.parse import quote\n\n"
        "import numpy as np\n"
        "import zarr\n"
        "from probeinterface import Probe\n"
        "from spikeinterface.core import Templates\n"
        "from spikeinterface.generation import NoiseGeneratorRecording, generate_hybrid_recording\n"
    )
    described = "; ".join(f"[{k}] {probe or '(no probe name)'}: {len(ids)} template(s)"
                          for k, (probe, ids) in enumerate(groups))
    body = (
        f"\nSOURCE = {source!r}\n"
        "# (dataset, unit_id, template_index in this catalogue, template_id)\n"
        f"SELECTION = [\n{selection}\n]\n"
        "\n# One Templates per probe geometry, each in selection order:\n"
        + comment_lines(described)
        + "templates_by_probe = read_selection(SOURCE, SELECTION)\n"
        "for group in templates_by_probe:\n"
        "    print(group)\n"
    )
    group = int(group) if 0 <= int(group) < len(groups) else 0
    if hybrid is None:
        from .hybrid_preview import HybridParameters

        hybrid = HybridParameters()
    return header + _READER + body + hybrid_code(hybrid, group)


def selection_csv(table, template_ids) -> str:
    """The selected catalogue rows, in selection order, as csv (the format's columns).

    Repeated IDs give one row. The catalogue comes from any ``?source=``, so a text cell that a
    spreadsheet would run as a formula (starting with ``= + - @``, tab or CR) gets a leading
    ``'`` (OWASP's advice for CSV injection); numbers, negative ones included, are untouched.
    Rows end with CRLF.
    """
    import pandas as pd  # here, not at import: the page loads pandas after its first view

    indexed = table.set_index("template_id", drop=False)
    present = [t for t in unique_ids(template_ids) if t in indexed.index]
    columns = [c for c in fmt.COLUMNS if c in indexed.columns]
    rows = indexed.loc[present, columns].copy()
    for column in columns:
        if rows[column].dtype == object or pd.api.types.is_string_dtype(rows[column]):
            rows[column] = rows[column].map(neutralise_formula)
    # CRLF rows (RFC 4180): the csv writer then quotes every cell holding a CR or an LF, so a
    # value with a lone CR cannot split its row in the reader.
    return rows.to_csv(index=False, lineterminator="\r\n")
