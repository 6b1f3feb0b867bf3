"""Check a library against ``docs/format.md``: every dataset, then the catalogue against them.

``validate_library`` collects every problem instead of stopping at the first, so a maintainer
sees the whole damage in one run. The library is hostile input: each problem is one line that
names the object, and no input makes it raise. It reads a dataset from its consolidated
metadata as JSON, never through zarr: zarr trusts shapes, chunk sizes and chunk bytes, and a
damaged ``.zarray`` or chunk must become a message, not an exception or a 1 GiB allocation.

Array metadata, chunk listing and bounded chunk reads are in :mod:`pipeline.validate_chunks`;
the csv and ``library.json`` checks in :mod:`pipeline.validate_catalogue`.
"""

from __future__ import annotations

import json
import posixpath

from templatelib import format as fmt
from templatelib.chunk_decode import MAX_DECODED_BYTES, ChunkError
from templatelib.dataset_checks import attribute_problems, templates_array_problems

from .storage import LibraryStorage
from .validate_catalogue import catalogue_problems
from .validate_chunks import (
    array_metadata_problems,
    deep_template_problems,
    read_array,
    template_chunk_problems,
)

#: ``.zmetadata`` larger than this is not read: a live one is ~20 KiB (a few dozen arrays).
MAX_ZMETADATA_BYTES = 16 * 1024 * 1024


class DatasetError(ValueError):
    """A dataset cannot be checked at all; the message is the one line to report."""


def load_consolidated(storage: LibraryStorage, key: str) -> dict:
    """The ``metadata`` member of a dataset's ``.zmetadata``, checked to be usable.

    Raises
    ------
    DatasetError
        When it is too large, not JSON, not an object or not zarr's consolidated format.
    """
    where = f"{key}: cannot be opened: {fmt.CONSOLIDATED_KEY}"
    path = posixpath.join(key, fmt.CONSOLIDATED_KEY)
    size = storage.size(path)
    if size > MAX_ZMETADATA_BYTES:
        raise DatasetError(f"{where} is {size} bytes, more than the {MAX_ZMETADATA_BYTES} the validator reads")
    try:
        document = json.loads(storage.read_bytes(path))
    except (ValueError, RecursionError) as error:  # UnicodeDecodeError is a ValueError
        raise DatasetError(f"{where} is not valid JSON ({type(error).__name__}: {_short(error)})") from None
    if not isinstance(document, dict):
        raise DatasetError(f"{where} is a JSON {type(document).__name__}, not an object")
    if document.get("zarr_consolidated_format") != 1:
        raise DatasetError(f"{where} has zarr_consolidated_format {document.get('zarr_consolidated_format')!r}, not 1")
    metadata = document.get("metadata")
    if not isinstance(metadata, dict):
        raise DatasetError(f"{where} has no 'metadata' object")
    if not isinstance(metadata.get(".zgroup"), dict):
        raise DatasetError(f"{where} has no root '.zgroup': not a zarr group")
    return metadata


def _short(error: BaseException, limit: int = 200) -> str:
    text = str(error)
    return text if len(text) <= limit else text[:limit] + "..."


def _attrs(metadata: dict, group: str) -> dict | None:
    attrs = metadata.get(posixpath.join(group, ".zattrs") if group else ".zattrs", {})
    return attrs if isinstance(attrs, dict) else None


def _arrays(metadata: dict) -> dict:
    return {name[: -len("/.zarray")]: meta for name, meta in metadata.items() if name.endswith("/.zarray")}


def _probe_problems(key: str, metadata: dict, arrays: dict, channels: int) -> list[str]:
    if not isinstance(metadata.get(f"{fmt.PROBE_GROUP}/.zgroup"), dict):
        return [f"{key}: missing group '{fmt.PROBE_GROUP}'"]
    problems = []
    for name in ("x", "y"):
        meta = arrays.get(f"{fmt.PROBE_GROUP}/{name}")
        if meta is None:
            problems.append(f"{key}: probe group has no '{name}'")
        elif list(meta["shape"]) != [channels]:
            problems.append(f"{key}: probe/{name} has shape {meta['shape']}: expected {channels} contacts for {channels} channels")
    annotations = _attrs(metadata, fmt.PROBE_ANNOTATIONS_GROUP)
    if not annotations or "model_name" not in annotations:
        problems.append(f"{key}: probe annotations lack 'model_name'")
    elif not isinstance(annotations["model_name"], str):
        problems.append(f"{key}: probe model_name {annotations['model_name']!r} is not a string")
    return problems


def _read(storage, key, name, usable, problems, max_decoded):
    """Read one array through the bounded decoder; a refusal becomes one problem and None."""
    try:
        return read_array(storage, key, name, usable[name], max_decoded)
    except ChunkError as error:
        problems.append(str(error))
        return None


def dataset_problems(storage: LibraryStorage, key: str, deep: bool = False,
                     max_decoded: int = MAX_DECODED_BYTES) -> tuple[list[str], dict]:
    """Problems of one complete dataset, and the facts the csv check needs.

    Parameters
    ----------
    storage : LibraryStorage
        The library root.
    key : str
        The dataset's ``<name>.zarr``.
    deep : bool
        Also decode every template chunk (see :func:`validate_library`).
    max_decoded : int
        Decoded-size limit for any chunk the validator reads.

    Returns
    -------
    problems : list of str
    facts : dict
        ``units``, ``channels``, ``unit_ids`` as far as they could be established.
    """
    metadata = load_consolidated(storage, key)
    arrays = _arrays(metadata)
    problems, usable = array_metadata_problems(key, arrays)
    facts: dict = {}
    problems += [f"{key}: missing array '{name}'" for name in fmt.REQUIRED_ARRAYS if name not in arrays]
    templates = usable.get("templates_array")
    if templates is None:
        return problems + attribute_problems(key, _attrs(metadata, ""), None), facts
    array_problems, shape = templates_array_problems(key, templates)
    problems += array_problems
    if shape is None:
        return problems + attribute_problems(key, _attrs(metadata, ""), None), facts
    units, samples, channels = shape
    facts.update(units=units, channels=channels)
    problems += attribute_problems(key, _attrs(metadata, ""), samples)
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
    for name, want in expected.items():
        if name in usable and tuple(usable[name]["shape"]) != want:
            problems.append(f"{key}: {name} has shape {tuple(usable[name]['shape'])}, expected {want}")
            del usable[name]  # a mis-shaped array is not read: the checks below assume the shape
    if "best_channel_index" in usable:
        best = _read(storage, key, "best_channel_index", usable, problems, max_decoded)
        if best is not None and len(best):
            if best.dtype.kind not in "iu":
                problems.append(f"{key}: best_channel_index has dtype {best.dtype}, expected integers")
            elif best.min() < 0 or best.max() >= channels:
                problems.append(f"{key}: best_channel_index outside 0..{channels - 1}")
    if "spikes_per_unit" in usable:
        spikes = _read(storage, key, "spikes_per_unit", usable, problems, max_decoded)
        if spikes is not None and spikes.dtype.kind in "iuf" and len(spikes) and not (spikes > 0).all():
            problems.append(f"{key}: spikes_per_unit has {int((~(spikes > 0)).sum())} entries that are not > 0")
    problems += _probe_problems(key, metadata, usable, channels)
    if "unit_ids" in usable:
        unit_ids = _read(storage, key, "unit_ids", usable, problems, max_decoded)
        if unit_ids is not None:
            unit_ids = unit_ids.tolist()
            if len(set(unit_ids)) != len(unit_ids):
                problems.append(f"{key}: unit_ids are not unique")
            facts["unit_ids"] = unit_ids
    chunk_problems, present = template_chunk_problems(storage, key, templates)
    problems += chunk_problems
    if deep:
        ptp = _read(storage, key, "peak_to_peak", usable, problems, max_decoded) if "peak_to_peak" in usable else None
        problems += deep_template_problems(storage, key, templates, present, ptp, max_decoded)
    return problems, facts


def validate_library(storage: LibraryStorage, deep: bool = False, max_decoded: int = MAX_DECODED_BYTES) -> list[str]:
    """Every problem found in the library at ``storage``; an empty list means valid.

    Parameters
    ----------
    storage : LibraryStorage
        The library root.
    deep : bool
        Also download and decode every template chunk (bounded by ``max_decoded``) and check
        its size, that it is finite and not flat, and that it matches ``peak_to_peak``. Costs
        one read of the whole library; without it only listings and small arrays are read.
    max_decoded : int
        Largest decoded chunk accepted (bytes); larger chunks are reported, not decoded.
    """
    if not storage.root_exists():
        return [f"{storage.url()}: does not exist"]
    if not storage.fs.isdir(storage.path):
        return [f"{storage.url()}: is a file, not a library folder"]
    problems, facts = [], {}
    for key in storage.dataset_names():
        if not storage.is_complete(key):
            problems.append(
                f"{key}: incomplete (no {fmt.CONSOLIDATED_KEY}): an interrupted write; rerun the source or delete it"
            )
            continue
        try:
            found, facts[key] = dataset_problems(storage, key, deep, max_decoded)
        except (DatasetError, ChunkError) as error:
            facts[key] = {}
            problems.append(str(error))
            continue
        except Exception as error:  # an unforeseen damage: still one line, and the rest is checked
            facts[key] = {}
            problems.append(f"{key}: cannot be checked ({type(error).__name__}: {_short(error)})")
            continue
        problems += found
    try:
        problems += catalogue_problems(storage, facts)
    except Exception as error:
        problems.append(f"{fmt.CATALOGUE_FILE}: cannot be checked ({type(error).__name__}: {_short(error)})")
    return problems

