"""The validator's view of a dataset's arrays: metadata sanity, chunk presence, bounded reads.

zarr reads a missing chunk as its fill value and trusts every byte it decodes, which is right
for a reader and wrong for a validator. Here the array metadata is checked before anything is
computed from it, the chunks that must exist are compared with one storage listing, and every
chunk the validator reads goes through :func:`templatelib.chunk_decode.decode_chunk`, which
refuses truncated chunks and decompression bombs before inflating them.

Limits (each reported as a problem instead of worked through):

- ``MAX_CHUNKS_PER_ARRAY`` (100 000): a chunk grid larger than this is not listed or decoded.
  It is 20x the largest live dataset's unit count and keeps a hostile ``.zarray`` claiming a
  million chunks from costing a million keys of work.
- ``MAX_READ_BYTES`` (256 MiB): arrays the validator reads whole (``unit_ids``,
  ``best_channel_index``, ``spikes_per_unit``, ``peak_to_peak``) must be at most this large.
  ``peak_to_peak`` of 100 000 units x 384 channels of float32 is 147 MiB.
- the decoded-chunk limit of ``chunk_decode`` (64 MiB by default), for every chunk read.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from templatelib.chunk_decode import (
    MAX_DECODED_BYTES,
    ChunkError,
    chunk_count,
    chunk_grid,
    chunk_key,
    decode_chunk,
    max_compressed_bytes,
)

from ..storage import LibraryStorage

MAX_CHUNKS_PER_ARRAY = 100_000
MAX_READ_BYTES = 256 * 1024 * 1024
#: Missing or damaged chunks named per dataset before the rest are only counted.
MAX_NAMED = 10
#: A decoded template must match its stored ``peak_to_peak`` within this relative tolerance
#: (both are float32 maxima minus minima of the same values: they differ by rounding only).
PTP_RTOL = 1e-4
PTP_ATOL = 1e-6
#: Bytes fetched per batch in ``--deep`` (s3fs fetches a batch concurrently).
FETCH_BATCH_BYTES = 32 * 1024 * 1024


def array_metadata_problems(dataset: str, arrays: dict) -> tuple[list[str], dict]:
    """Check each array's ``.zarray`` before anything is computed from it.

    Parameters
    ----------
    dataset : str
        Dataset key, for messages.
    arrays : dict
        Array path inside the dataset -> its ``.zarray`` dict (from ``.zmetadata``).

    Returns
    -------
    problems : list of str
    usable : dict
        The arrays whose metadata passed: only these are read or listed afterwards.
    """
    problems, usable = [], {}
    for name, meta in sorted(arrays.items()):
        where = f"{dataset}/{name}"
        if not isinstance(meta, dict):
            problems.append(f"{where}: .zarray is not a JSON object")
            continue
        try:
            if meta.get("zarr_format") != 2:
                raise ChunkError(f"{where}: zarr_format {meta.get('zarr_format')!r}, expected 2")
            chunk_grid(meta, where)
            count = chunk_count(meta, where)
            if count > MAX_CHUNKS_PER_ARRAY:
                raise ChunkError(
                    f"{where}: chunk grid of {count} chunks (shape {meta['shape']}, chunks {meta['chunks']}) "
                    f"exceeds the validator's limit of {MAX_CHUNKS_PER_ARRAY}; not checked"
                )
            chunk_key(where, (), meta)  # validates dimension_separator
            if meta.get("dtype") not in ("|O", "object"):
                np.dtype(meta.get("dtype"))
        except ChunkError as error:
            problems.append(str(error))
            continue
        except (TypeError, ValueError) as error:
            problems.append(f"{where}: dtype {meta.get('dtype')!r} is not a numpy dtype ({error})")
            continue
        usable[name] = meta
    return problems, usable


def read_array(storage: LibraryStorage, dataset: str, name: str, meta: dict,
               max_decoded: int = MAX_DECODED_BYTES) -> np.ndarray:
    """Read a whole numeric array chunk by chunk through the bounded decoder.

    Missing chunks read as the fill value, as zarr reads them.

    Raises
    ------
    ChunkError
        When the array is larger than ``MAX_READ_BYTES`` or a chunk is refused.
    """
    where = f"{dataset}/{name}"
    shape, chunks = meta["shape"], meta["chunks"]
    dtype = np.dtype(meta["dtype"])
    if math.prod(shape) * dtype.itemsize > MAX_READ_BYTES:
        raise ChunkError(f"{where}: shape {shape} is larger than the validator reads ({MAX_READ_BYTES} bytes)")
    out = np.full(shape, _fill_value(meta, dtype, where), dtype=dtype)
    present = storage.object_sizes(where)
    for index in itertools.product(*(range(n) for n in chunk_grid(meta, where))):
        relative = chunk_key("", index, meta)
        if relative not in present:
            continue
        if present[relative] > max_compressed_bytes(math.prod(chunks) * dtype.itemsize):
            raise ChunkError(f"{where}/{relative}: stored object of {present[relative]} bytes is too large for its chunk")
        chunk = decode_chunk(storage.read_bytes(f"{where}/{relative}"), meta, f"{where}/{relative}", max_decoded)
        region = tuple(slice(i * c, min((i + 1) * c, s)) for i, c, s in zip(index, chunks, shape))
        out[region] = chunk[tuple(slice(0, r.stop - r.start) for r in region)]
    return out


def _fill_value(meta: dict, dtype: np.dtype, where: str):
    value = meta.get("fill_value")
    if value is None:
        return 0 if dtype.kind not in "SU" else ""
    special = {"NaN": np.nan, "Infinity": np.inf, "-Infinity": -np.inf}
    if isinstance(value, str) and value in special:
        value = special[value]
    try:
        return np.array(value).astype(dtype, casting="unsafe")[()]
    except (TypeError, ValueError) as error:
        raise ChunkError(f"{where}: fill_value {meta.get('fill_value')!r} does not fit {dtype} ({error})") from None


def _unit_chunks(dataset: str, meta: dict) -> list[tuple[int, str]]:
    # one entry per chunk along the unit axis; bad chunking (other than one unit per chunk) is
    # reported elsewhere, here every chunk of the grid is still named by its first unit
    grid = chunk_grid(meta, f"{dataset}/templates_array")
    return [
        (index[0] * meta["chunks"][0], chunk_key("", index, meta))
        for index in itertools.product(*(range(n) for n in grid))
    ]


def template_chunk_problems(storage: LibraryStorage, dataset: str, meta: dict) -> tuple[list[str], dict]:
    """Every chunk of ``templates_array`` exists: one listing, compared with the chunk grid.

    Returns
    -------
    problems : list of str
        One line per missing chunk (the first ``MAX_NAMED``), naming dataset and unit.
    present : dict
        Chunk key (relative to the array) -> stored size, for the deep check.
    """
    present = storage.object_sizes(f"{dataset}/templates_array")
    missing = [(unit, key) for unit, key in _unit_chunks(dataset, meta) if key not in present]
    problems = [
        f"{dataset}: templates_array chunk {key} of unit {unit} is missing (it would read as fill values)"
        for unit, key in missing[:MAX_NAMED]
    ]
    if len(missing) > MAX_NAMED:
        problems.append(f"{dataset}: {len(missing) - MAX_NAMED} more templates_array chunks are missing")
    return problems, present


def deep_template_problems(storage: LibraryStorage, dataset: str, meta: dict, present: dict,
                           peak_to_peak: np.ndarray | None, max_decoded: int = MAX_DECODED_BYTES) -> list[str]:
    """Decode every template chunk within ``max_decoded`` and check what it holds.

    A template must decode to exactly ``samples * channels * itemsize`` bytes, hold finite
    values, not be constant, and match the stored ``peak_to_peak`` row of its unit.
    """
    problems = []
    expected = math.prod(meta["chunks"]) * np.dtype(meta["dtype"]).itemsize
    stored = [(unit, key) for unit, key in _unit_chunks(dataset, meta) if key in present]
    for batch in _batches(stored, present):
        raw = storage.read_many([f"{dataset}/templates_array/{key}" for _unit, key in batch])
        for unit, key in batch:
            full = f"{dataset}/templates_array/{key}"
            data = raw.get(full)
            if isinstance(data, Exception) or data is None:
                problems.append(f"{full}: cannot be read (unit {unit}: {type(data).__name__}: {data})")
                continue
            if len(data) > max_compressed_bytes(expected):
                problems.append(f"{full}: stored object of {len(data)} bytes is too large (unit {unit})")
                continue
            try:
                chunk = decode_chunk(data, meta, full, max_decoded)
            except ChunkError as error:
                problems.append(f"{error} (unit {unit})")
                continue
            problems += _template_value_problems(dataset, unit, chunk, peak_to_peak)
        if len(problems) > 4 * MAX_NAMED:
            problems.append(f"{dataset}: stopped the deep check after {len(problems)} problems")
            break
    return problems


def _batches(chunks: list, present: dict):
    batch, size = [], 0
    for unit, key in chunks:
        if batch and size + present[key] > FETCH_BATCH_BYTES:
            yield batch
            batch, size = [], 0
        batch.append((unit, key))
        size += present[key]
    if batch:
        yield batch


def _template_value_problems(dataset: str, first_unit: int, chunk: np.ndarray, peak_to_peak) -> list[str]:
    problems = []
    for offset, template in enumerate(chunk):
        unit = first_unit + offset
        if peak_to_peak is not None and unit >= len(peak_to_peak):
            break  # the padding of an edge chunk: not a unit
        values = template.astype(np.float64)
        if values.ndim != 2:
            break
        if not np.isfinite(values).all():
            problems.append(f"{dataset}: template of unit {unit} holds NaN or infinite values")
            continue
        if not values.size or values.max() == values.min():
            problems.append(f"{dataset}: template of unit {unit} is flat (constant)")
            continue
        ptp = values.max(axis=0) - values.min(axis=0)
        if peak_to_peak is not None:
            stored = np.asarray(peak_to_peak[unit], dtype=np.float64)
            if stored.shape != ptp.shape or not np.allclose(ptp, stored, rtol=PTP_RTOL, atol=PTP_ATOL):
                worst = float(np.nanmax(np.abs(ptp - stored))) if stored.shape == ptp.shape else float("nan")
                problems.append(
                    f"{dataset}: peak_to_peak of unit {unit} does not match its template (largest difference {worst:.6g})"
                )
    return problems

