"""Load ``templates.csv`` into a pandas DataFrame the page can query and show.

Accepts both the live 12-column csv and ours (with ``template_id`` and ``unit_id``): rows
without an ID get the spec's fallback ID (``format.fallback_template_id``).
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

from . import format as fmt

#: Columns shown in the results table, in order (the thumbnail column comes first in the UI).
TABLE_COLUMNS = (
    "template_id",
    "dataset",
    "brain_area",
    "depth_along_probe",
    "amplitude_uv",
    "signal_to_noise_ratio",
    "spikes_per_unit",
    "probe",
)
NUMERIC_COLUMNS = fmt.LIVE_NUMERIC_COLUMNS


class CatalogueError(ValueError):
    """The catalogue cannot be used; the message says why in words a user can act on."""


def load_catalogue(data: bytes | str) -> pd.DataFrame:
    """Parse and check a ``templates.csv``.

    Parameters
    ----------
    data : bytes or str
        The csv file's content.

    Returns
    -------
    pandas.DataFrame
        One row per template, indexed 0..n-1, with a unique ``template_id`` column and an
        ``id_is_fallback`` flag.

    Raises
    ------
    CatalogueError
        When the text is not csv, lacks a live column, or has non-numeric values where
        numbers belong.
    """
    text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
    if not text.strip():
        raise CatalogueError("templates.csv is empty")
    try:
        table = pd.read_csv(io.StringIO(text), dtype={"brain_area": str, "probe": str, "dataset": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise CatalogueError(f"templates.csv is not valid csv: {error}") from None
    missing = fmt.missing_live_columns(table.columns)
    if missing:
        raise CatalogueError(
            "templates.csv lacks the column(s) " + ", ".join(missing) + "; is the source a template library root?"
        )
    for column in NUMERIC_COLUMNS:
        converted = pd.to_numeric(table[column], errors="coerce")
        bad = converted.isna() & table[column].notna()
        if bad.any():
            line = int(np.flatnonzero(bad.to_numpy())[0]) + 2
            raise CatalogueError(f"templates.csv line {line}: {column} is not a number ({table[column][bad].iloc[0]!r})")
        table[column] = converted
    for column in ("template_index", "best_channel_index", "spikes_per_unit"):
        if table[column].isna().any():
            raise CatalogueError(f"templates.csv: {column} has empty values")
        table[column] = table[column].astype("int64")
    for column in fmt.METRIC_COLUMNS:
        if column in table.columns:  # an undefined or unreadable metric is NaN, as in the format
            table[column] = pd.to_numeric(table[column], errors="coerce").astype("float64")
    for column in ("brain_area", "probe", "probe_manufacturer", "dataset"):
        table[column] = table[column].fillna("").astype(str).str.strip()
    table["id_is_fallback"] = False
    if "template_id" not in table.columns:
        table["template_id"] = [
            fmt.fallback_template_id(d, i) for d, i in zip(table["dataset"], table["template_index"])
        ]
        table["id_is_fallback"] = True
    else:
        table["template_id"] = table["template_id"].astype(str)
    duplicated = table["template_id"].duplicated()
    if duplicated.any():
        raise CatalogueError(f"templates.csv: template_id {table['template_id'][duplicated].iloc[0]} appears twice")
    return table.reset_index(drop=True)


def brain_area_counts(table: pd.DataFrame) -> list[tuple[str, int]]:
    """Brain areas with their template counts, most common first (for the quick filter)."""
    counts = table["brain_area"].value_counts()
    return [(str(area), int(n)) for area, n in counts.items()]


def numeric_ranges(table: pd.DataFrame) -> dict[str, tuple[float, float]]:
    """Finite min/max of the filterable numeric columns (placeholders of the range filters)."""
    ranges = {}
    for column in ("amplitude_uv", "depth_along_probe", "signal_to_noise_ratio", "spikes_per_unit"):
        values = table[column].to_numpy(dtype=float)
        values = values[np.isfinite(values)]
        if len(values):
            ranges[column] = (float(values.min()), float(values.max()))
    return ranges
