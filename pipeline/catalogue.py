"""The catalogue: every complete dataset -> ``templates.csv`` + ``library.json``.

One row per template, the live bucket's 12 columns in their order, then our additions
(``template_id``, ``unit_id``). ``library.json`` describes the datasets and pins the csv by its
sha256. Incomplete datasets (no ``.zmetadata``: an interrupted write) are never listed.
"""

from __future__ import annotations

import hashlib
import io
import json
from datetime import datetime, timezone

import numpy as np
import pandas as pd
import zarr
from tqdm import tqdm

from templatelib import format as fmt

from .storage import LibraryStorage


def open_dataset(storage: LibraryStorage, dataset: str) -> zarr.Group:
    """Open a complete dataset read-only through its consolidated metadata."""
    return zarr.open_consolidated(storage.mapper(fmt.dataset_key(dataset)), mode="r")


def _text_array(array) -> list[str]:
    # brain_area is object+vlen-utf8 or fixed-width <U depending on the writer: both give str.
    return [str(v) for v in array[:]]


def dataset_rows(group: zarr.Group, dataset: str, bucket: str = fmt.PUBLIC_BUCKET) -> pd.DataFrame:
    """Catalogue rows for one open dataset group.

    Parameters
    ----------
    group : zarr.Group
        The dataset, opened consolidated.
    dataset : str
        Its key (``<name>.zarr``).
    bucket : str
        Bucket named in ``dataset_path``; the public one unless publishing elsewhere.
    """
    key = fmt.dataset_key(dataset)
    unit_ids = group["unit_ids"][:]
    best = group["best_channel_index"][:].astype(np.int64)
    peak_to_peak = group["peak_to_peak"][:]
    amplitude = peak_to_peak[np.arange(len(best)), best].astype(np.float64)
    y = group[fmt.PROBE_GROUP]["y"][:]
    annotations = group[fmt.PROBE_GROUP]["annotations"].attrs
    if "channel_noise_levels" in group:
        noise = group["channel_noise_levels"][:].astype(np.float64)[best]
    else:
        noise = np.full(len(best), np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        snr = amplitude / noise
    rows = {
        "probe": annotations.get("model_name", ""),
        "probe_manufacturer": annotations.get("manufacturer", ""),
        "brain_area": _text_array(group["brain_area"]),
        "depth_along_probe": y[best].astype(np.float64),
        "amplitude_uv": amplitude,
        "noise_level_uv": noise,
        "signal_to_noise_ratio": snr,
        "template_index": np.arange(len(best)),
        "best_channel_index": best,
        "spikes_per_unit": group["spikes_per_unit"][:].astype(np.int64),
        "dataset": key,
        "dataset_path": fmt.dataset_s3_path(key, bucket),
        "template_id": [fmt.template_id(key, u) for u in unit_ids.tolist()],
        "unit_id": unit_ids,
    }
    return pd.DataFrame(rows, columns=list(fmt.COLUMNS))


def dataset_summary(group: zarr.Group) -> dict:
    """The manifest's description of one dataset."""
    array = group["templates_array"]
    return {
        "units": int(array.shape[0]),
        "shape": list(array.shape),
        "dtype": str(array.dtype),
        "sampling_frequency": float(group.attrs[fmt.ATTR_SAMPLING_FREQUENCY]),
        "nbefore": int(group.attrs[fmt.ATTR_NBEFORE]),
        "probe_model": group[fmt.PROBE_GROUP]["annotations"].attrs.get("model_name", ""),
    }


def build_catalogue(storage: LibraryStorage, bucket: str = fmt.PUBLIC_BUCKET) -> tuple[pd.DataFrame, dict]:
    """Read every complete dataset and return the catalogue and the manifest's datasets part."""
    frames, summaries = [], {}
    for key in tqdm(storage.complete_datasets(), desc="catalogue", unit="dataset", leave=False):
        group = open_dataset(storage, key)
        frames.append(dataset_rows(group, key, bucket))
        summaries[key] = dataset_summary(group)
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(fmt.COLUMNS))
    return table, summaries


def catalogue_csv_bytes(table: pd.DataFrame) -> bytes:
    buffer = io.StringIO()
    table.to_csv(buffer, index=False)
    return buffer.getvalue().encode("utf-8")


def consolidate(storage: LibraryStorage, bucket: str = fmt.PUBLIC_BUCKET) -> dict:
    """Write ``templates.csv`` then ``library.json`` for all complete datasets under ``storage``.

    Each file replaces its predecessor atomically (see :meth:`LibraryStorage.write_bytes`).

    Returns
    -------
    dict
        The manifest that was written.
    """
    table, summaries = build_catalogue(storage, bucket)
    csv_bytes = catalogue_csv_bytes(table)
    manifest = {
        "format_version": fmt.FORMAT_VERSION,
        "zarr_format": fmt.ZARR_FORMAT,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "templates_csv_sha256": hashlib.sha256(csv_bytes).hexdigest(),
        "template_count": int(len(table)),
        "datasets": summaries,
    }
    storage.write_bytes(fmt.CATALOGUE_FILE, csv_bytes)
    storage.write_bytes(fmt.MANIFEST_FILE, (json.dumps(manifest, indent=2) + "\n").encode("utf-8"))
    return manifest
