"""The first page of results before pandas is imported, so the first waveform comes early.

Importing pandas costs seconds in Pyodide. The default view (no query, no sort, page 1) is
just the first rows of ``templates.csv`` in file order, which the ``csv`` module reads in
milliseconds; their thumbnails need only numpy and zarr. The full catalogue replaces this
preview as soon as pandas is ready, and reuses the templates already fetched.
"""

from __future__ import annotations

import csv
import io
import math

from . import format as fmt
from .plots_svg import thumbnail_svg

PREVIEW_COLUMNS = (
    "template_id", "dataset", "brain_area", "depth_along_probe", "amplitude_uv",
    "signal_to_noise_ratio", "spikes_per_unit", "probe",
)
_NUMBERS = ("depth_along_probe", "amplitude_uv", "signal_to_noise_ratio")


def _number(text: str):
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(value) or math.isinf(value) else value


def first_rows(csv_bytes: bytes, limit: int) -> list[dict] | None:
    """The first ``limit`` rows shaped like ``TemplateBrowser.query`` rows.

    Returns None when the csv is not a well-formed catalogue: the full load then reports
    the problem in words.
    """
    reader = csv.DictReader(io.StringIO(csv_bytes.decode("utf-8", errors="replace")))
    if not reader.fieldnames or fmt.missing_live_columns(reader.fieldnames):
        return None
    rows = []
    for raw in reader:
        if len(rows) >= limit:
            break
        try:
            index = int(raw["template_index"])
            spikes = int(float(raw["spikes_per_unit"]))
        except (TypeError, ValueError):
            return None
        row = {
            "template_id": raw.get("template_id") or fmt.fallback_template_id(raw["dataset"], index),
            "dataset": (raw["dataset"] or "").strip(),
            "brain_area": (raw["brain_area"] or "").strip(),
            "spikes_per_unit": spikes,
            "probe": (raw["probe"] or "").strip(),
            "_index": index,
        }
        row.update({name: _number(raw[name]) for name in _NUMBERS})
        rows.append(row)
    return rows


async def preview(reader, csv_bytes: bytes, limit: int) -> dict | None:
    """Rows and thumbnails of the default first page, or None if it cannot be previewed."""
    rows = first_rows(csv_bytes, limit)
    if not rows:
        return None
    arrays = await reader.templates([(r["dataset"], r["_index"]) for r in rows])
    thumbnails = {
        r["template_id"]: thumbnail_svg(arrays[(fmt.dataset_key(r["dataset"]), r["_index"])], r["template_id"])
        for r in rows
    }
    return {"rows": [{c: r[c] for c in PREVIEW_COLUMNS} for r in rows], "thumbnails": thumbnails}
