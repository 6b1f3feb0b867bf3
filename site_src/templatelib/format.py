"""The template library format: every name, column and rule that writers and readers share.

This module is the executable half of ``docs/format.md``. It has no dependencies beyond the
standard library because it runs in three places: the pipeline (CPython, writing), the page
(Pyodide, reading) and the snippet users copy (any Python).

The live bucket is the reference: everything here is either what it already holds or a
backward-compatible addition that the unmodified ``spikeinterface.generation`` client ignores.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

#: Version of the additions (``template_id``, ``unit_id``, ``library.json``), not of zarr.
FORMAT_VERSION = 1

#: Zarr on-disk format: spikeinterface and probeinterface read only zarr-python 2 / format 2.
ZARR_FORMAT = 2

PUBLIC_BUCKET = "spikeinterface-template-database"
PUBLIC_HTTP_ROOT = f"https://{PUBLIC_BUCKET}.s3.us-east-2.amazonaws.com/"

CATALOGUE_FILE = "templates.csv"
MANIFEST_FILE = "library.json"
DATASET_SUFFIX = ".zarr"
CONSOLIDATED_KEY = ".zmetadata"

#: Columns of the live ``templates.csv``, in the order the original consolidation wrote them.
LIVE_COLUMNS = (
    "probe",
    "probe_manufacturer",
    "brain_area",
    "depth_along_probe",
    "amplitude_uv",
    "noise_level_uv",
    "signal_to_noise_ratio",
    "template_index",
    "best_channel_index",
    "spikes_per_unit",
    "dataset",
    "dataset_path",
)
#: The live columns that hold text; every other live column holds numbers.
LIVE_TEXT_COLUMNS = ("probe", "probe_manufacturer", "brain_area", "dataset", "dataset_path")
LIVE_NUMERIC_COLUMNS = tuple(c for c in LIVE_COLUMNS if c not in LIVE_TEXT_COLUMNS)
#: Our additions, appended after the live columns so positional readers keep working.
ADDED_COLUMNS = ("template_id", "unit_id")

#: Waveform-shape metrics, spikeinterface's template metrics under its own names and in its
#: order, appended after our additions (units and NaN rules: docs/metrics.md).
#: Single-channel ones are computed on the best channel, upsampled 10x.
SINGLE_CHANNEL_METRIC_COLUMNS = (
    "peak_to_trough_duration",
    "trough_half_width",
    "peak_half_width",
    "repolarization_slope",
    "recovery_slope",
    "num_positive_peaks",
    "num_negative_peaks",
    "main_to_next_extremum_duration",
    "peak_before_to_trough_ratio",
    "peak_after_to_trough_ratio",
    "peak_before_to_peak_after_ratio",
    "main_peak_to_trough_ratio",
    "trough_width",
    "peak_before_width",
    "peak_after_width",
    "waveform_baseline_flatness",
)
#: Multi-channel ones need the channel locations and at least two channels.
MULTI_CHANNEL_METRIC_COLUMNS = (
    "velocity_above",
    "velocity_below",
    "exp_decay",
    "spread",
)
METRIC_COLUMNS = SINGLE_CHANNEL_METRIC_COLUMNS + MULTI_CHANNEL_METRIC_COLUMNS
COLUMNS = LIVE_COLUMNS + ADDED_COLUMNS + METRIC_COLUMNS

#: The unit each measured column is stored in (docs/metrics.md's table says the same; a test
#: checks it). "" is dimensionless; "count" and "ratio" are numbers without a unit. How the
#: page and the overview *show* a unit (durations in ms) is :mod:`templatelib.units`.
COLUMN_UNITS = {
    "depth_along_probe": "µm",
    "amplitude_uv": "µV",
    "noise_level_uv": "µV",
    "signal_to_noise_ratio": "",
    "spikes_per_unit": "spikes",
    "peak_to_trough_duration": "s",
    "trough_half_width": "s",
    "peak_half_width": "s",
    "repolarization_slope": "µV/s",
    "recovery_slope": "µV/s",
    "num_positive_peaks": "count",
    "num_negative_peaks": "count",
    "main_to_next_extremum_duration": "s",
    "peak_before_to_trough_ratio": "ratio",
    "peak_after_to_trough_ratio": "ratio",
    "peak_before_to_peak_after_ratio": "ratio",
    "main_peak_to_trough_ratio": "ratio",
    "trough_width": "s",
    "peak_before_width": "s",
    "peak_after_width": "s",
    "waveform_baseline_flatness": "ratio",
    "velocity_above": "µm/ms",
    "velocity_below": "µm/ms",
    "exp_decay": "1/µm",
    "spread": "µm",
}

#: What a valid ``templates.csv`` may be at most (docs/format.md "A valid templates.csv"):
#: the page and Python refuse bigger ones before parsing them. 2 million rows is twice the
#: 1,000,000-row stress library; 1 GiB holds them at ~500 bytes a row.
CSV_MAX_BYTES = 1024 * 1024 * 1024
CSV_MAX_ROWS = 2_000_000
#: 34 columns today; a header of 100,000 names must not reach the query engine.
CSV_MAX_COLUMNS = 256
#: Longest cell (characters); Python's csv module refuses above 131,072 anyway.
CSV_MAX_CELL_CHARS = 65_536
#: Cells that mean "no value" (pandas' default NA tokens, matched exactly after stripping
#: spaces and tabs): NaN in a number column, "" in a text column.
CSV_NA_TOKENS = (
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
)
#: A number cell after stripping spaces and tabs: a decimal (``12``, ``-1.5``, ``.5``, ``1.``,
#: ``2e-3``) or an infinity (``inf``/``infinity``, any case, optional sign). Same regex in JS.
CSV_NUMBER_PATTERN = r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[+-]?(?:[iI][nN][fF](?:[iI][nN][iI][tT][yY])?)"
#: An integer cell (``unit_id`` is int64 when every cell is one, within +-2**53).
CSV_INTEGER_PATTERN = r"[+-]?[0-9]+"
#: Whole numbers beyond this are not exact in a float64 / JavaScript number.
CSV_MAX_EXACT_INTEGER = 2**53

#: Measured values (µm, µV, ratios, metrics) are written to ``templates.csv`` with this many
#: significant digits (always with a ``.`` or exponent, so every reader infers float):
#: a 17-digit float64 carries noise, not information (docs/format.md).
CSV_SIGNIFICANT_DIGITS = 6

#: The compact catalogue (docs/format.md "The compact catalogue"): the same rows as
#: ``templates.csv``, typed and columnar, for the page. A pure function of ``templates.csv``.
COMPACT_CATALOGUE_FILE = "catalogue.htlc"
COMPACT_MAGIC = b"HTLC\r\n\x1a\n"
COMPACT_FORMAT_VERSION = 1
#: Bounds a reader checks before allocating anything.
COMPACT_MAX_HEADER_BYTES = 1024 * 1024
COMPACT_MAX_ROWS = CSV_MAX_ROWS
COMPACT_MAX_CATEGORY_BYTES = 256 * 1024 * 1024
#: ``library.json``'s entry for it (file, sha256, bytes, rows, templates_csv_sha256), and the
#: largest file the page fetches (it checks the entry's ``bytes`` against this first).
COMPACT_MANIFEST_KEY = "catalogue_compact"
COMPACT_MAX_BYTES = 512 * 1024 * 1024

#: Arrays every dataset group holds (besides the ``probe`` subgroup).
REQUIRED_ARRAYS = (
    "templates_array",
    "channel_ids",
    "unit_ids",
    "brain_area",
    "spikes_per_unit",
    "best_channel_index",
    "peak_to_peak",
)
OPTIONAL_ARRAYS = ("channel_noise_levels", "sparsity_mask")
PROBE_GROUP = "probe"
PROBE_ANNOTATIONS_GROUP = "probe/annotations"

#: Group attributes. ``is_scaled`` is the pre-0.103 spelling of ``is_in_uV``; both occur live.
#: Which one a reader believes is :func:`in_uv`'s rule, nowhere else.
ATTR_SAMPLING_FREQUENCY = "sampling_frequency"
ATTR_NBEFORE = "nbefore"
ATTR_IN_UV = "is_in_uV"
ATTR_IN_UV_LEGACY = "is_scaled"
#: What a dataset with neither attribute is taken to hold (spikeinterface's default too).
IN_UV_DEFAULT = True

TEMPLATE_ID_LENGTH = 16

#: The template window every live dataset shares: 240 samples, the trough at sample 90,
#: sampled at 30 kHz (8 ms: 3 ms before the trough, 5 ms from it).
TEMPLATE_SAMPLES = 240
TEMPLATE_NBEFORE = 90
TEMPLATE_SAMPLING_FREQUENCY = 30_000.0

#: Previews: one fixed-size row per catalogue row, in ``templates.csv`` row order, split into
#: shards of ``PREVIEW_ROWS_PER_SHARD`` rows so that the first page of any library is one
#: request of at most 64 KiB. A row is ``PREVIEW_ID_BYTES`` of the template_id (its 16 hex
#: characters as 8 raw bytes), a little-endian float32 scale (stored units per step), then
#: ``PREVIEW_SAMPLES`` int8 steps of the best channel. See docs/format.md "Previews".
PREVIEW_DIR = "previews"
PREVIEW_FORMAT_VERSION = 1
PREVIEW_ROW_BYTES = 64
PREVIEW_ID_BYTES = 8
PREVIEW_SCALE_BYTES = 4
PREVIEW_SAMPLES = PREVIEW_ROW_BYTES - PREVIEW_ID_BYTES - PREVIEW_SCALE_BYTES  # 52
PREVIEW_ROWS_PER_SHARD = 1024
PREVIEW_MAX_STEP = 127


def dataset_key(dataset: str) -> str:
    """Return the dataset's folder name with its ``.zarr`` suffix.

    Parameters
    ----------
    dataset : str
        A dataset name with or without the suffix.
    """
    return dataset if dataset.endswith(DATASET_SUFFIX) else dataset + DATASET_SUFFIX


def dataset_s3_path(dataset: str, bucket: str = PUBLIC_BUCKET) -> str:
    """Value of the ``dataset_path`` column: the dataset's S3 URL in ``bucket``."""
    return f"s3://{bucket}/{dataset_key(dataset)}"


def in_uv(attrs: Mapping) -> bool:
    """Whether a dataset's templates are in uV, from its group attributes.

    Precedence: the legacy ``is_scaled`` wins when present, then ``is_in_uV``, then
    :data:`IN_UV_DEFAULT`. This is the order of spikeinterface's own reader
    (``Templates.from_zarr_group``, 0.103 to at least 0.105), the client this format must keep
    agreeing with: a dataset holding both attributes (written by something else than this
    pipeline, whose writer and maintenance rewrites emit exactly one) then means the same to
    the page, the snippet, the maintenance code and ``spikeinterface.generation``.

    The snippet users copy runs without this package; it inlines :data:`IN_UV_EXPRESSION`,
    which ``tests/test_format.py`` checks against this function.

    Parameters
    ----------
    attrs : Mapping
        The dataset group's ``.zattrs``.
    """
    if ATTR_IN_UV_LEGACY in attrs:
        return bool(attrs[ATTR_IN_UV_LEGACY])
    return bool(attrs.get(ATTR_IN_UV, IN_UV_DEFAULT))


#: :func:`in_uv` as one Python expression over a mapping named ``attrs``, for generated code.
IN_UV_EXPRESSION = (
    f"bool(attrs.get({ATTR_IN_UV_LEGACY!r}, attrs.get({ATTR_IN_UV!r}, {IN_UV_DEFAULT!r})))"
)


def template_id(dataset: str, unit_id) -> str:
    """Stable template ID: 16 hex characters of ``sha256("<dataset>.zarr/<unit_id>")``.

    Derived from the dataset name and the unit ID, never from the row position, so it survives
    pruning other units of the dataset. Hex keeps it URL-safe.

    Parameters
    ----------
    dataset : str
        Dataset name (the suffix is added when missing).
    unit_id : int or str
        The unit's entry in the dataset's ``unit_ids`` array.
    """
    text = f"{dataset_key(dataset)}/{unit_id}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:TEMPLATE_ID_LENGTH]


def fallback_template_id(dataset: str, template_index: int) -> str:
    """ID for a row of a live 12-column csv, which has no ``unit_id``.

    It hashes ``"<dataset>.zarr#<template_index>"`` (``#`` instead of ``/`` keeps the two ID
    spaces apart). Unlike :func:`template_id` it follows the row's position, so it changes
    when the dataset is pruned: readers use it only when the csv carries no ``template_id``.
    """
    text = f"{dataset_key(dataset)}#{int(template_index)}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:TEMPLATE_ID_LENGTH]


def is_valid_template_id(value: str) -> bool:
    """True for a well-formed ID: exactly 16 lowercase hex characters."""
    return (
        isinstance(value, str)
        and len(value) == TEMPLATE_ID_LENGTH
        and all(c in "0123456789abcdef" for c in value)
    )


def preview_shard_key(shard: int) -> str:
    """Key of preview shard ``shard`` (rows ``shard * PREVIEW_ROWS_PER_SHARD`` onwards)."""
    return f"{PREVIEW_DIR}/{int(shard)}.bin"


def preview_location(row: int) -> tuple[int, int]:
    """``(shard, byte offset in that shard)`` of catalogue row ``row``."""
    shard, within = divmod(int(row), PREVIEW_ROWS_PER_SHARD)
    return shard, within * PREVIEW_ROW_BYTES


def preview_shard_count(rows: int) -> int:
    """How many shards ``rows`` catalogue rows need (at least one, possibly empty)."""
    return max(1, -(-int(rows) // PREVIEW_ROWS_PER_SHARD))


def missing_live_columns(columns) -> list[str]:
    """Live columns absent from ``columns``: a csv missing any of them is malformed."""
    present = set(columns)
    return [c for c in LIVE_COLUMNS if c not in present]
