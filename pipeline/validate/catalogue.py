"""The catalogue half of the validator: ``templates.csv`` and ``library.json``.

The csv is checked as text first (UTF-8, parseable, the live columns), then its numbers
(finite, positive, integral where the format says so), then each row against the datasets the
dataset checks established. ``library.json`` is checked against
:data:`templatelib.library_schema.LIBRARY_SCHEMA` and against the csv.
"""

from __future__ import annotations

import hashlib
import io
import json

import numpy as np
import pandas as pd
from jsonschema import Draft202012Validator

from templatelib import format as fmt
from templatelib.catalogue import CatalogueError, read_catalogue_csv
from templatelib.library_schema import LIBRARY_SCHEMA

from ..pack import compact_problems
from ..previews import preview_problems

#: A live catalogue is ~1 MB for ~5000 templates; 512 MiB is ~2.5 million rows.
MAX_CATALOGUE_BYTES = 512 * 1024 * 1024
#: ``library.json`` has one small entry per dataset.
MAX_MANIFEST_BYTES = 16 * 1024 * 1024
#: Rows named per rule before the rest are only counted.
MAX_NAMED = 10

# column -> (NaN allowed, what the value must satisfy, the rule in words)
_NUMBER_RULES = {
    "depth_along_probe": (False, lambda v: np.isfinite(v), "a finite number"),
    "amplitude_uv": (False, lambda v: np.isfinite(v) & (v > 0), "a finite number > 0"),
    "noise_level_uv": (True, lambda v: np.isfinite(v) & (v >= 0), "empty (NaN) or a finite number >= 0"),
    "signal_to_noise_ratio": (True, lambda v: np.isfinite(v) & (v >= 0), "empty (NaN) or a finite number >= 0"),
    "template_index": (False, lambda v: np.isfinite(v) & (v >= 0) & (v == np.floor(v)), "an integer >= 0"),
    "best_channel_index": (False, lambda v: np.isfinite(v) & (v >= 0) & (v == np.floor(v)), "an integer >= 0"),
    "spikes_per_unit": (False, lambda v: np.isfinite(v) & (v > 0) & (v == np.floor(v)), "an integer > 0"),
}


def _named(problems: list[str], more: int, what: str) -> list[str]:
    return problems + ([f"{fmt.CATALOGUE_FILE}: ... and {more} more rows with {what}"] if more > 0 else [])


def number_problems(table: pd.DataFrame) -> tuple[list[str], np.ndarray]:
    """Cells that break the format's number rules, and a mask of rows whose numbers are usable.

    ``noise_level_uv`` and ``signal_to_noise_ratio`` may be NaN (NP-Ultra has no noise
    levels), never infinite or negative; every other numeric column must be finite.
    """
    problems, usable = [], np.ones(len(table), dtype=bool)
    for column, (nan_ok, rule, words) in _NUMBER_RULES.items():
        raw = table[column]
        values = pd.to_numeric(raw, errors="coerce").astype(np.float64).to_numpy()
        with np.errstate(invalid="ignore"):
            good = rule(values)
        if nan_ok:
            good |= np.isnan(values) & raw.isna().to_numpy()
        bad = np.flatnonzero(~good)
        usable[bad] = False
        named = [
            f"{fmt.CATALOGUE_FILE} line {i + 2}: {column} is {raw.iloc[i]!r}, must be {words}" for i in bad[:MAX_NAMED]
        ]
        problems += _named(named, len(bad) - MAX_NAMED, f"bad {column}")
    return problems, usable


def _read_table(raw: bytes) -> tuple[pd.DataFrame | None, list[str]]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        return None, [f"{fmt.CATALOGUE_FILE}: not UTF-8 text (byte {error.start}: {error.reason})"]
    if "\x00" in text:
        return None, [f"{fmt.CATALOGUE_FILE}: holds NUL bytes: not a csv"]
    try:
        table = pd.read_csv(io.StringIO(text))
    except Exception as error:  # pandas raises ParserError, EmptyDataError, ValueError, csv.Error...
        return None, [f"{fmt.CATALOGUE_FILE}: cannot be parsed as csv ({type(error).__name__}: {str(error)[:200]})"]
    missing = fmt.missing_live_columns(table.columns)
    if missing:
        return None, [f"{fmt.CATALOGUE_FILE}: missing column '{c}'" for c in missing]
    return table, []


def _id_problems(table: pd.DataFrame) -> list[str]:
    ids = table["template_id"]
    bad = [str(v) for v in ids if not fmt.is_valid_template_id(str(v))]
    problems = [f"{fmt.CATALOGUE_FILE}: malformed template_id {v!r}" for v in bad[:MAX_NAMED]]
    duplicated = ids[ids.duplicated()].unique().tolist()
    return problems + [
        f"{fmt.CATALOGUE_FILE}: template_id {v} appears more than once" for v in duplicated[:MAX_NAMED]
    ]


def _row_problems(table: pd.DataFrame, usable: np.ndarray, facts: dict) -> list[str]:
    problems, more = [], 0
    has_ids = "template_id" in table.columns
    has_units = "unit_id" in table.columns
    # the coerced numbers, not the cells: a column holding one word is read as text ("5.0")
    indices = pd.to_numeric(table["template_index"], errors="coerce").to_numpy()
    channels = pd.to_numeric(table["best_channel_index"], errors="coerce").to_numpy()
    for position, row in enumerate(table.itertuples(index=False)):
        if len(problems) >= 4 * MAX_NAMED:
            more += 1
            continue
        where = f"{fmt.CATALOGUE_FILE} line {position + 2}"
        dataset = str(row.dataset)
        if dataset not in facts:
            problems.append(f"{where}: dataset {dataset} is not a complete dataset of this library")
            continue
        info = facts[dataset]
        if "units" not in info or not usable[position]:
            continue  # the dataset or the row's numbers are already reported
        index, channel = int(indices[position]), int(channels[position])
        if not 0 <= index < info["units"]:
            problems.append(f"{where}: template_index {index} points at a missing unit of {dataset} ({info['units']} units)")
            continue
        if not 0 <= channel < info["channels"]:
            problems.append(f"{where}: best_channel_index {channel} outside 0..{info['channels'] - 1}")
        unit_ids = info.get("unit_ids")
        if unit_ids is None:
            continue
        if has_units and str(row.unit_id) != str(unit_ids[index]):
            problems.append(f"{where}: unit_id {row.unit_id} but {dataset} has unit {unit_ids[index]} at index {index}")
        if has_ids and row.template_id != fmt.template_id(dataset, unit_ids[index]):
            problems.append(f"{where}: template_id {row.template_id} does not match {dataset} unit {unit_ids[index]}")
    return _named(problems, more, "problems (not checked further)")


def catalogue_problems(storage, facts: dict) -> list[str]:
    """Problems of ``templates.csv`` and ``library.json`` given the datasets' ``facts``."""
    if not storage.exists(fmt.CATALOGUE_FILE):
        return [f"{fmt.CATALOGUE_FILE}: missing (run 'python -m pipeline consolidate')"]
    size = storage.size(fmt.CATALOGUE_FILE)
    if size > MAX_CATALOGUE_BYTES:
        return [f"{fmt.CATALOGUE_FILE}: {size} bytes, more than the {MAX_CATALOGUE_BYTES} the validator reads"]
    raw = storage.read_bytes(fmt.CATALOGUE_FILE)
    table, problems = _read_table(raw)
    if table is not None:
        try:  # THE definition of a valid catalogue, the one the page applies
            read_catalogue_csv(raw)
        except CatalogueError as error:
            problems.append(str(error))
    if table is None:
        return problems + manifest_problems(storage, None, None)
    numbers, usable = number_problems(table)
    problems += numbers
    if "template_id" in table.columns:
        problems += _id_problems(table)
    problems += _row_problems(table, usable, facts)
    listed = set(table["dataset"].astype(str))
    problems += [
        f"{dataset}: complete but not in {fmt.CATALOGUE_FILE} (run 'python -m pipeline consolidate')"
        for dataset in sorted(facts)
        if dataset not in listed and facts[dataset].get("units", 0) > 0
    ]
    ids = table["template_id"].astype(str).tolist() if "template_id" in table.columns else None
    return problems + manifest_problems(storage, raw, len(table), ids)


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def manifest_problems(storage, csv_bytes: bytes | None, rows: int | None, template_ids=None) -> list[str]:
    """Problems of ``library.json``: its schema, and its count and hash against the csv.

    Parameters
    ----------
    storage : LibraryStorage
        The library root.
    csv_bytes : bytes or None
        ``templates.csv`` as stored; None when it could not be parsed (no hash check then:
        the csv problem is already reported).
    rows : int or None
        Rows of the csv, for ``template_count``.
    template_ids : list of str, optional
        The csv's template_ids in row order, to check the preview shards against.
    """
    name = fmt.MANIFEST_FILE
    if not storage.exists(name):
        return [f"{name}: missing (run 'python -m pipeline consolidate')"]
    size = storage.size(name)
    if size > MAX_MANIFEST_BYTES:
        return [f"{name}: {size} bytes, more than the {MAX_MANIFEST_BYTES} the validator reads"]
    try:
        manifest = json.loads(storage.read_bytes(name), parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as error:  # UnicodeDecodeError is a ValueError
        return [f"{name}: not valid JSON ({type(error).__name__}: {str(error)[:200]})"]
    errors = sorted(Draft202012Validator(LIBRARY_SCHEMA).iter_errors(manifest), key=lambda e: list(map(str, e.path)))
    problems = [
        f"{name}: {'/'.join(map(str, error.path)) or '(top level)'}: {error.message[:200]}" for error in errors[:MAX_NAMED]
    ]
    if len(errors) > MAX_NAMED:
        problems.append(f"{name}: ... and {len(errors) - MAX_NAMED} more schema errors")
    if not isinstance(manifest, dict):
        return problems
    count = manifest.get("template_count")
    if rows is not None and isinstance(count, int) and not isinstance(count, bool) and count != rows:
        problems.append(f"{name}: template_count {count} but {fmt.CATALOGUE_FILE} has {rows} rows")
    if csv_bytes is not None and manifest.get("templates_csv_sha256") != hashlib.sha256(csv_bytes).hexdigest():
        problems.append(f"{name}: templates_csv_sha256 does not match {fmt.CATALOGUE_FILE}")
    if template_ids is not None:
        problems += preview_problems(storage, manifest, template_ids)
    return problems + compact_problems(storage, manifest, csv_bytes)
