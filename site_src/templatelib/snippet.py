"""The Python the page hands to the user: it fetches exactly the selected templates.

The generated code runs as is in a fresh Python with spikeinterface installed (fsspec and
aiohttp come with s3fs, which spikeinterface's template database needs anyway). It returns a
``Templates`` holding the selection **in selection order** (``query_templates_from_database``
returns dataset order), and reads only the selected templates' chunks: one request per
template instead of whole ``templates_array``s.
"""

from __future__ import annotations

from . import format as fmt

_READER = '''
def read_selection(source, selection):
    """Templates for (dataset, unit_id, template_index, template_id) rows, in that order."""
    groups, arrays = {}, []
    for dataset, unit_id, index, template_id in selection:
        if dataset not in groups:
            # Consolidated metadata only: no array is read until it is indexed.
            groups[dataset] = zarr.open_consolidated(source + quote(dataset), mode="r")
        group = groups[dataset]
        if unit_id is not None:
            # unit_ids survive pruning; template_index may not.
            matches = np.flatnonzero(group["unit_ids"][:] == unit_id)
            if len(matches) == 0:
                raise LookupError(f"unit {unit_id} ({template_id}) is no longer in {dataset}")
            index = int(matches[0])
        arrays.append(group["templates_array"][index])  # one chunk = one template
    first = groups[selection[0][0]]
    locations = np.column_stack([first["probe"]["x"][:], first["probe"]["y"][:]])
    for dataset, group in groups.items():
        other = np.column_stack([group["probe"]["x"][:], group["probe"]["y"][:]])
        same = (
            group.attrs["sampling_frequency"] == first.attrs["sampling_frequency"]
            and group.attrs["nbefore"] == first.attrs["nbefore"]
            and other.shape == locations.shape
            and np.array_equal(other - other[0], locations - locations[0])
        )
        if not same:
            raise ValueError(f"{dataset} differs from {selection[0][0]} in sampling rate, nbefore or probe "
                             "geometry: select templates from one probe type")
    attrs = first.attrs.asdict()
    return Templates(
        templates_array=np.stack(arrays),
        sampling_frequency=float(attrs["sampling_frequency"]),
        nbefore=int(attrs["nbefore"]),
        channel_ids=first["channel_ids"][:],
        unit_ids=np.array([row[3] for row in selection]),
        probe=Probe.from_zarr_group(first["probe"]),
        is_in_uV=IN_UV_EXPRESSION,
    )
'''.replace("IN_UV_EXPRESSION", fmt.IN_UV_EXPRESSION)  # the format's rule, inlined

_HYBRID = '''
# Next: inject them into a recording. Here a 10 s synthetic one on the same probe;
# use your own recording (same probe geometry) instead.
recording = generate_recording(
    num_channels=templates.num_channels,
    durations=[10.0],
    sampling_frequency=templates.sampling_frequency,
    seed=0,
)
recording.set_probe(templates.probe, in_place=True)
hybrid_recording, hybrid_sorting = generate_hybrid_recording(recording, templates=templates, seed=0)
print(hybrid_recording)
'''


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


def python_snippet(table, template_ids, source: str) -> str:
    """The runnable snippet for ``template_ids`` (in that order) read from ``source``.

    Parameters
    ----------
    table : pandas.DataFrame
        The catalogue (``catalogue.load_catalogue``).
    template_ids : list of str
        The basket, in selection order.
    source : str
        http(s) URL of the library root the page reads.
    """
    rows = selection_rows(table, template_ids)
    if not rows:
        return "# Select templates (tick their boxes) to get the Python that fetches them."
    where = "the public library" if source.rstrip("/") + "/" == fmt.PUBLIC_HTTP_ROOT else "this source"
    selection = "\n".join(f"    {row!r}," for row in rows)
    header = (
        f"# {len(rows)} hybrid template(s) from {where}, in the order you selected them.\n"
        "# Needs: pip install spikeinterface s3fs  (s3fs brings fsspec + aiohttp for HTTP reads)\n"
        "from urllib.parse import quote\n\n"
        "import numpy as np\n"
        "import zarr\n"
        "from probeinterface import Probe\n"
        "from spikeinterface.core import Templates, generate_recording\n"
        "from spikeinterface.generation import generate_hybrid_recording\n"
    )
    body = (
        f"\nSOURCE = {source!r}\n"
        "# (dataset, unit_id, template_index in this catalogue, template_id)\n"
        f"SELECTION = [\n{selection}\n]\n"
        "\ntemplates = read_selection(SOURCE, SELECTION)\n"
        "print(templates)\n"
    )
    return header + _READER + body + _HYBRID


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
