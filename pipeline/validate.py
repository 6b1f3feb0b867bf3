"""Check a library against ``docs/format.md``: every dataset, then the catalogue against them.

``validate_library`` collects every problem instead of stopping at the first, so a maintainer
sees the whole damage in one run.
"""

from __future__ import annotations

import hashlib
import io
import json

import pandas as pd

from templatelib import format as fmt

from .catalogue import open_dataset
from .storage import LibraryStorage


def _dataset_problems(group, key: str) -> tuple[list[str], dict]:
    """Problems of one opened dataset, and facts the csv check needs (unit IDs, shape)."""
    problems = []
    facts = {}
    missing = [name for name in fmt.REQUIRED_ARRAYS if name not in group]
    problems += [f"{key}: missing array '{name}'" for name in missing]
    for attr in (fmt.ATTR_SAMPLING_FREQUENCY, fmt.ATTR_NBEFORE):
        if attr not in group.attrs:
            problems.append(f"{key}: missing attribute '{attr}'")
    if fmt.ATTR_IN_UV not in group.attrs and fmt.ATTR_IN_UV_LEGACY not in group.attrs:
        problems.append(f"{key}: missing attribute '{fmt.ATTR_IN_UV}' (or legacy '{fmt.ATTR_IN_UV_LEGACY}')")
    if "templates_array" not in group:
        return problems, facts
    array = group["templates_array"]
    if array.ndim != 3:
        problems.append(f"{key}: templates_array has shape {array.shape}, expected (units, samples, channels)")
        return problems, facts
    units, samples, channels = array.shape
    if array.chunks != (1, samples, channels):
        problems.append(f"{key}: templates_array chunks {array.chunks}, expected one unit per chunk {(1, samples, channels)}")
    expected = {
        "unit_ids": (units,),
        "brain_area": (units,),
        "spikes_per_unit": (units,),
        "best_channel_index": (units,),
        "channel_ids": (channels,),
        "peak_to_peak": (units, channels),
        "channel_noise_levels": (channels,),
        "sparsity_mask": (units, channels),
    }
    for name, shape in expected.items():
        if name in group and group[name].shape != shape:
            problems.append(f"{key}: {name} has shape {group[name].shape}, expected {shape}")
    nbefore = group.attrs.get(fmt.ATTR_NBEFORE)
    if nbefore is not None and not 0 <= int(nbefore) < samples:
        problems.append(f"{key}: nbefore={nbefore} outside 0..{samples - 1}")
    if "best_channel_index" in group and group["best_channel_index"].shape == (units,):
        best = group["best_channel_index"][:]
        if len(best) and (best.min() < 0 or best.max() >= channels):
            problems.append(f"{key}: best_channel_index outside 0..{channels - 1}")
    if fmt.PROBE_GROUP not in group:
        problems.append(f"{key}: missing group '{fmt.PROBE_GROUP}'")
    else:
        probe = group[fmt.PROBE_GROUP]
        for name in ("x", "y"):
            if name not in probe:
                problems.append(f"{key}: probe group has no '{name}'")
            elif probe[name].shape != (channels,):
                problems.append(f"{key}: probe/{name} has {probe[name].shape[0]} contacts for {channels} channels")
        if "annotations" not in probe or "model_name" not in probe["annotations"].attrs:
            problems.append(f"{key}: probe annotations lack 'model_name'")
    if "unit_ids" in group and group["unit_ids"].shape == (units,):
        unit_ids = group["unit_ids"][:].tolist()
        if len(set(unit_ids)) != len(unit_ids):
            problems.append(f"{key}: unit_ids are not unique")
        facts["unit_ids"] = unit_ids
    facts["units"] = units
    return problems, facts


def _catalogue_problems(storage: LibraryStorage, facts: dict) -> list[str]:
    if not storage.exists(fmt.CATALOGUE_FILE):
        return [f"{fmt.CATALOGUE_FILE}: missing (run 'python -m pipeline consolidate')"]
    raw = storage.read_bytes(fmt.CATALOGUE_FILE)
    try:
        table = pd.read_csv(io.BytesIO(raw))
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as error:
        return [f"{fmt.CATALOGUE_FILE}: cannot be parsed as csv ({error})"]
    problems = [f"{fmt.CATALOGUE_FILE}: missing column '{c}'" for c in fmt.missing_live_columns(table.columns)]
    if problems:
        return problems
    has_ids = "template_id" in table.columns
    if has_ids:
        bad = [str(v) for v in table["template_id"] if not fmt.is_valid_template_id(str(v))]
        problems += [f"{fmt.CATALOGUE_FILE}: malformed template_id {v!r}" for v in bad[:10]]
        duplicated = table["template_id"][table["template_id"].duplicated()].unique().tolist()
        problems += [f"{fmt.CATALOGUE_FILE}: template_id {v} appears more than once" for v in duplicated[:10]]
    for line, row in enumerate(table.itertuples(index=False), start=2):
        where = f"{fmt.CATALOGUE_FILE} line {line}"
        dataset = str(row.dataset)
        if dataset not in facts:
            problems.append(f"{where}: dataset {dataset} is not a complete dataset of this library")
            continue
        info = facts[dataset]
        index = int(row.template_index)
        if not 0 <= index < info.get("units", 0):
            problems.append(f"{where}: template_index {index} points at a missing unit of {dataset} ({info.get('units', 0)} units)")
            continue
        unit_ids = info.get("unit_ids")
        if unit_ids is None:
            continue
        if "unit_id" in table.columns and str(row.unit_id) != str(unit_ids[index]):
            problems.append(f"{where}: unit_id {row.unit_id} but {dataset} has unit {unit_ids[index]} at index {index}")
        if has_ids and row.template_id != fmt.template_id(dataset, unit_ids[index]):
            problems.append(f"{where}: template_id {row.template_id} does not match {dataset} unit {unit_ids[index]}")
    listed = set(table["dataset"].astype(str))
    problems += [
        f"{dataset}: complete but not in {fmt.CATALOGUE_FILE} (run 'python -m pipeline consolidate')"
        for dataset in sorted(facts)
        if dataset not in listed and facts[dataset].get("units", 0) > 0
    ]
    problems += _manifest_problems(storage, raw)
    return problems


def _manifest_problems(storage: LibraryStorage, csv_bytes: bytes) -> list[str]:
    if not storage.exists(fmt.MANIFEST_FILE):
        return [f"{fmt.MANIFEST_FILE}: missing (run 'python -m pipeline consolidate')"]
    try:
        manifest = json.loads(storage.read_bytes(fmt.MANIFEST_FILE))
    except ValueError as error:
        return [f"{fmt.MANIFEST_FILE}: not valid JSON ({error})"]
    if manifest.get("templates_csv_sha256") != hashlib.sha256(csv_bytes).hexdigest():
        return [f"{fmt.MANIFEST_FILE}: templates_csv_sha256 does not match {fmt.CATALOGUE_FILE}"]
    return []


def validate_library(storage: LibraryStorage) -> list[str]:
    """Every problem found in the library at ``storage``; an empty list means valid."""
    problems, facts = [], {}
    for key in storage.dataset_names():
        if not storage.is_complete(key):
            problems.append(
                f"{key}: incomplete (no {fmt.CONSOLIDATED_KEY}): an interrupted write; rerun the source or delete it"
            )
            continue
        try:
            group = open_dataset(storage, key)
            dataset_problems, facts[key] = _dataset_problems(group, key)
        except Exception as error:  # a corrupt .zmetadata or array header: report, keep going
            problems.append(f"{key}: cannot be opened ({type(error).__name__}: {error})")
            continue
        problems += dataset_problems
    problems += _catalogue_problems(storage, facts)
    return problems

