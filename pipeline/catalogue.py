"""The catalogue: every complete dataset -> ``templates.csv``, previews, ``catalogue.htlc``
and ``library.json``.

One row per template, the live bucket's 12 columns in their order, then our additions
(``template_id``, ``unit_id``). The waveform previews (``previews/*.bin``, one 64-byte row per
csv row, see :mod:`pipeline.previews`) are written first, the csv next and ``library.json``
last: it pins the csv and every preview shard by sha256 and records each dataset's
fingerprint, so the next consolidation can tell which datasets changed. Incomplete datasets
(no ``.zmetadata``: an interrupted write) are never listed. A damaged dataset (root attributes
the format refuses, e.g. ``sampling_frequency`` "30 kHz", missing, NaN or <= 0; an array
missing or unreadable) is left out with one line naming it (:class:`Damaged`), and the rest of
the library is consolidated. ``library.json`` is standard JSON: never NaN or Infinity.
"""

from __future__ import annotations

import hashlib
import io
import json
import sys
from datetime import datetime, timezone
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd
import zarr
from tqdm import tqdm

from templatelib import format as fmt
from templatelib.catalogue import CatalogueError
from templatelib.dataset_checks import attribute_problems

from .pack import MANIFEST_KEY as COMPACT_KEY
from .pack import compact_catalogue
from .previews import READ_BLOCK_UNITS, PreviousPreviews, dataset_previews, remove_stale_shards, write_shards
from .provenance import dataset_provenance
from .storage import LibraryStorage

#: What reading a damaged dataset may raise (zarr and numpy on bad metadata, arrays or chunks).
READ_ERRORS = (KeyError, ValueError, TypeError, IndexError, OSError, AttributeError, RuntimeError)


def open_dataset(storage: LibraryStorage, dataset: str) -> zarr.Group:
    """Open a complete dataset read-only through its consolidated metadata."""
    return zarr.open_consolidated(storage.mapper(fmt.dataset_key(dataset)), mode="r")


def _text_array(array) -> list[str]:
    # brain_area is object+vlen-utf8 or fixed-width <U depending on the writer: both give str.
    return [str(v) for v in array[:]]


def previous_metrics(storage: LibraryStorage, previous: PreviousPreviews) -> pd.DataFrame | None:
    """The metric columns of the published csv, by template_id, when they can be trusted.

    Trusted means: the previous ``library.json`` pins this very csv by sha256. Anything else
    (no csv, a mismatch, no metric columns) means nothing is reused.
    """
    if not previous.fingerprints:
        return None
    try:
        raw = storage.read_bytes(fmt.CATALOGUE_FILE)
        if hashlib.sha256(raw).hexdigest() != previous.manifest.get("templates_csv_sha256"):
            return None
        table = pd.read_csv(io.BytesIO(raw), dtype={"template_id": str})
    except (OSError, ValueError, AttributeError, pd.errors.ParserError):
        return None
    if "template_id" not in table or any(c not in table for c in fmt.METRIC_COLUMNS):
        return None
    return table.drop_duplicates("template_id").set_index("template_id")[list(fmt.METRIC_COLUMNS)]


def reused_metrics(rows: pd.DataFrame, reusable: pd.DataFrame | None) -> pd.DataFrame | None:
    """The metric columns of ``rows`` from the previous csv, or None unless all are there."""
    if reusable is not None and rows["template_id"].isin(reusable.index).all():
        return reusable.loc[rows["template_id"]].reset_index(drop=True)
    return None


def dataset_metrics(group: zarr.Group, rows: pd.DataFrame, reusable: pd.DataFrame | None) -> tuple[pd.DataFrame, bool]:
    """``(metric columns for rows, reused)``: reused from the previous csv, else computed.

    Computed by :mod:`pipeline.template_metrics` (spikeinterface), reading the templates in
    blocks of :data:`pipeline.previews.READ_BLOCK_UNITS` units to bound memory.
    """
    reused = reused_metrics(rows, reusable)
    if reused is not None:
        return reused, True
    from .template_metrics import template_metrics_with_reasons

    array = group["templates_array"]
    positions = np.column_stack([group[fmt.PROBE_GROUP]["x"][:], group[fmt.PROBE_GROUP]["y"][:]])
    best = rows["best_channel_index"].to_numpy()
    frames = []
    for start in range(0, array.shape[0], READ_BLOCK_UNITS):
        stop = min(start + READ_BLOCK_UNITS, array.shape[0])
        metrics, _ = template_metrics_with_reasons(array[start:stop], positions,
                                                   float(group.attrs[fmt.ATTR_SAMPLING_FREQUENCY]),
                                                   int(group.attrs[fmt.ATTR_NBEFORE]), best[start:stop], progress=False)
        frames.append(metrics)
    metrics = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(fmt.METRIC_COLUMNS))
    return metrics[list(fmt.METRIC_COLUMNS)].reset_index(drop=True), False


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
    return pd.DataFrame(rows, columns=list(fmt.LIVE_COLUMNS + fmt.ADDED_COLUMNS))


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


def dataset_fingerprint(storage: LibraryStorage, key: str, group: zarr.Group) -> str:
    """A sha256 that changes whenever the dataset's templates may have changed.

    ``.zmetadata`` alone is not enough: a rewrite with the same shapes has the same metadata.
    ``peak_to_peak`` (units x channels) follows every template, and with ``unit_ids`` and
    ``best_channel_index`` it is small and already read for the catalogue rows, so the
    fingerprint costs no template chunk.
    """
    digest = hashlib.sha256(storage.read_bytes(f"{fmt.dataset_key(key)}/{fmt.CONSOLIDATED_KEY}"))
    for name in ("unit_ids", "best_channel_index", "peak_to_peak"):
        digest.update(np.ascontiguousarray(group[name][:]).tobytes())
    return digest.hexdigest()


class Catalogue(NamedTuple):
    """What one pass over the datasets gives ``consolidate``."""

    table: pd.DataFrame
    datasets: dict  # the manifest's "datasets" part
    previews: bytes  # preview rows, csv order
    provenance: dict  # the manifest's "provenance" part
    damaged: dict  # {dataset: one line saying why it was left out}


class Damaged(ValueError):
    """A complete dataset that cannot be catalogued; the message is one line naming it."""


def _problem_line(problems: list[str]) -> str:
    return "; ".join(problems[:3]) + (f" (and {len(problems) - 3} more)" if len(problems) > 3 else "")


@dataclass
class DatasetPart:
    """One dataset's share of the catalogue; ``metrics``/``previews`` None while left to Dask."""

    rows: pd.DataFrame
    metrics: pd.DataFrame | None
    summary: dict
    provenance: dict
    previews: bytes | None
    previews_reused: bool


def _read_dataset(storage: LibraryStorage, key: str, bucket: str, previous: PreviousPreviews, old_metrics,
                  defer: bool = False) -> DatasetPart:
    """One dataset's rows, summary, provenance, and its metrics and previews (reused or computed).

    With ``defer``, what cannot be reused is left None for :mod:`pipeline.consolidate_dask`.

    Raises
    ------
    Damaged
        When the attributes break the format's rules or an array cannot be read.
    """
    try:
        group = open_dataset(storage, key)
        attrs = group.attrs.asdict()
        samples = group["templates_array"].shape[1] if "templates_array" in group else None
    except READ_ERRORS as error:
        raise Damaged(f"{key}: cannot be opened ({type(error).__name__}: {str(error)[:200]})") from None
    problems = attribute_problems(key, attrs, samples)
    if problems:  # checked first: the metrics and the manifest need a finite sampling rate
        raise Damaged(_problem_line(problems))
    try:
        rows = dataset_rows(group, key, bucket)
        fingerprint = dataset_fingerprint(storage, key, group)
        unchanged = bool(fingerprint) and previous.fingerprints.get(key) == fingerprint
        reusable = old_metrics if unchanged else None
        summary = {**dataset_summary(group), "fingerprint": fingerprint}
        # Where the dataset comes from (pipeline/provenance.py): recorded by its writer, else inferred.
        provenance = dataset_provenance(key, attrs)
        if defer:
            metrics = reused_metrics(rows, reusable)
            data = previous.reuse(key, fingerprint, list(rows["template_id"]))
            was_reused = data is not None
        else:
            metrics, _ = dataset_metrics(group, rows, reusable)
            data, was_reused = dataset_previews(previous, group, key, fingerprint, rows["template_id"],
                                                rows["best_channel_index"])
    except READ_ERRORS as error:
        raise Damaged(f"{key}: cannot be read ({type(error).__name__}: {str(error)[:200]})") from None
    return DatasetPart(rows, metrics, summary, provenance, data, was_reused)


def build_catalogue(storage: LibraryStorage, bucket: str = fmt.PUBLIC_BUCKET,
                    previous: PreviousPreviews | None = None, dask=None) -> Catalogue:
    """Read every complete dataset once: its rows, manifest entry, previews and provenance.

    With ``dask`` (:class:`pipeline.consolidate_dask.DaskOptions`), the metrics and previews
    that cannot be reused are computed on Dask, one task per changed dataset.
    """
    previous = previous if previous is not None else PreviousPreviews(storage)
    old_metrics = previous_metrics(storage, previous)
    parts, damaged = {}, {}
    reused = 0
    progress = tqdm(storage.complete_datasets(), desc="catalogue", unit="dataset", leave=False)
    for key in progress:
        try:
            parts[key] = _read_dataset(storage, key, bucket, previous, old_metrics, defer=dask is not None)
        except Damaged as error:
            damaged[key] = str(error)
            continue
        reused += parts[key].previews_reused
        progress.set_postfix(previews_reused=reused)
    if dask is not None:
        from .consolidate_dask import complete_on_dask

        damaged.update(complete_on_dask(storage, parts, dask))
    frames = [pd.concat([p.rows, p.metrics], axis=1) for p in parts.values()]
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(fmt.COLUMNS))
    summaries = {key: p.summary for key, p in parts.items()}
    provenance = {key: p.provenance for key, p in parts.items()}
    return Catalogue(table, summaries, b"".join(p.previews for p in parts.values()), provenance, damaged)


def short_float(value: float) -> str:
    """A measured value with the precision it carries: ``format.CSV_SIGNIFICANT_DIGITS``
    significant digits, always with a ``.`` or an exponent so every reader infers float
    (``66.0``, ``0.000583333``, ``269897.0``, ``1.5e-05``)."""
    text = f"{value:.{fmt.CSV_SIGNIFICANT_DIGITS}g}"
    return text if any(c in text for c in ".en") else text + ".0"


def catalogue_csv_bytes(table: pd.DataFrame) -> bytes:
    """``templates.csv``: floats with :func:`short_float` (17-digit float64 noise made rows
    565 bytes), NaN as an empty cell, integers as integers."""
    buffer = io.StringIO()
    table.to_csv(buffer, index=False, float_format=short_float)
    return buffer.getvalue().encode("utf-8")


def manifest_bytes(manifest: dict) -> bytes:
    """``library.json``'s bytes: standard JSON, so a NaN or an infinity is refused, never written."""
    return (json.dumps(manifest, indent=2, allow_nan=False) + "\n").encode("utf-8")


def consolidate(storage: LibraryStorage, bucket: str = fmt.PUBLIC_BUCKET, damaged: dict | None = None,
                dask=None) -> dict:
    """Write the previews, ``templates.csv``, then ``library.json`` for all complete datasets.

    Each file replaces its predecessor atomically (see :meth:`LibraryStorage.write_bytes`).
    Damaged datasets are left out; the rest of the library is consolidated.

    Parameters
    ----------
    storage : LibraryStorage
        The library.
    bucket : str
        Bucket named in ``dataset_path``.
    damaged : dict, optional
        Filled with ``{dataset: one line saying why it was left out}``.
    dask : pipeline.consolidate_dask.DaskOptions, optional
        Compute the changed datasets' metrics and previews on Dask; default in-process.

    Returns
    -------
    dict
        The manifest that was written.
    """
    previous = PreviousPreviews(storage)
    table, summaries, preview_rows, provenance, left_out = build_catalogue(storage, bucket, previous, dask)
    if damaged is not None:
        damaged.update(left_out)
    csv_bytes = catalogue_csv_bytes(table)
    previews = write_shards(storage, preview_rows)
    try:
        compact, compact_entry = compact_catalogue(csv_bytes)
    except CatalogueError as error:  # the page cannot read this csv either; validate says why
        print(f"warning: no {fmt.COMPACT_CATALOGUE_FILE}: {error}", file=sys.stderr)
        compact = compact_entry = None
    manifest = {
        "format_version": fmt.FORMAT_VERSION,
        "zarr_format": fmt.ZARR_FORMAT,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "templates_csv_sha256": hashlib.sha256(csv_bytes).hexdigest(),
        "template_count": int(len(table)),
        "datasets": summaries,
        "previews": previews,
        "provenance": provenance,
    }
    if compact is not None:
        manifest[COMPACT_KEY] = compact_entry
    manifest_data = manifest_bytes(manifest)  # before any file is replaced: nothing half-written
    storage.write_bytes(fmt.CATALOGUE_FILE, csv_bytes)
    if compact is not None:
        storage.write_bytes(fmt.COMPACT_CATALOGUE_FILE, compact)
    elif storage.exists(fmt.COMPACT_CATALOGUE_FILE):
        storage.remove(fmt.COMPACT_CATALOGUE_FILE)  # it would describe another csv
    storage.write_bytes(fmt.MANIFEST_FILE, manifest_data)
    remove_stale_shards(storage, previous, previews)
    return manifest
