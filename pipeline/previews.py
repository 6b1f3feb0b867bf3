"""Where the waveform previews are built: one 64-byte row per catalogue row, in shards.

``consolidate`` calls :func:`dataset_previews` for every dataset and :func:`write_shards` once.
A dataset whose fingerprint (see :func:`pipeline.catalogue.dataset_fingerprint`) is the one
the previous ``library.json`` recorded keeps its previous rows: re-consolidating a published
library then reads no template chunk, which on S3 is the difference between a few small
requests and downloading every dataset again.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import zarr

from templatelib import format as fmt
from templatelib.preview import PreviewError, best_channel_traces, encode_rows

from .storage import LibraryStorage

#: Units decoded at once while computing previews: bounds memory for big datasets
#: (64 NP1.0 templates are ~24 MB of float32).
READ_BLOCK_UNITS = 64


def compute_previews(group: zarr.Group, template_ids, best_channels) -> bytes:
    """Preview rows of every unit of ``group``, reading ``templates_array`` once, in blocks."""
    array = group["templates_array"]
    best = np.asarray(best_channels, dtype=np.int64)
    parts = []
    for start in range(0, array.shape[0], READ_BLOCK_UNITS):
        stop = min(start + READ_BLOCK_UNITS, array.shape[0])
        traces = best_channel_traces(array[start:stop], best[start:stop])
        parts.append(encode_rows(template_ids[start:stop], traces))
    return b"".join(parts)


class PreviousPreviews:
    """What the last consolidation published: its ``library.json`` (read once, also for the
    metrics' reuse), the datasets' fingerprints and the preview rows by template_id.

    Anything unreadable (no manifest, a shard missing or not matching its sha256) simply
    means nothing is reused: previews are then recomputed, never trusted blindly.
    """

    def __init__(self, storage: LibraryStorage):
        self.manifest: dict = {}
        self.fingerprints: dict[str, str] = {}
        self.rows: dict[str, bytes] = {}
        self.shard_keys: list[str] = []
        try:
            manifest = json.loads(storage.read_bytes(fmt.MANIFEST_FILE))
            datasets = manifest.get("datasets", {})
            self.fingerprints = {k: v.get("fingerprint") for k, v in datasets.items() if isinstance(v, dict)}
            self.manifest = manifest
        except (OSError, ValueError, TypeError, AttributeError):
            return
        try:
            shards = manifest.get("previews", {}).get("shards", [])
            self.shard_keys = [s["key"] for s in shards]
            for shard in shards:
                data = storage.read_bytes(shard["key"])
                if hashlib.sha256(data).hexdigest() != shard["sha256"]:
                    raise PreviewError(f"{shard['key']} does not match library.json")
                for offset in range(0, len(data) - fmt.PREVIEW_ROW_BYTES + 1, fmt.PREVIEW_ROW_BYTES):
                    row = data[offset: offset + fmt.PREVIEW_ROW_BYTES]
                    self.rows[row[: fmt.PREVIEW_ID_BYTES].hex()] = row
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            self.rows = {}  # a damaged shard: its datasets' previews are recomputed

    def reuse(self, dataset: str, fingerprint: str, template_ids) -> bytes | None:
        """The dataset's previous rows in ``template_ids`` order, if it is unchanged."""
        if not fingerprint or self.fingerprints.get(dataset) != fingerprint:
            return None
        try:
            return b"".join(self.rows[t] for t in template_ids)
        except KeyError:
            return None


def dataset_previews(previous: PreviousPreviews, group: zarr.Group, dataset: str, fingerprint: str,
                     template_ids, best_channels) -> tuple[bytes, bool]:
    """``(rows, reused)`` for one dataset: the previous rows when unchanged, else computed."""
    template_ids = list(template_ids)
    reused = previous.reuse(dataset, fingerprint, template_ids)
    if reused is not None:
        return reused, True
    return compute_previews(group, template_ids, best_channels), False


def write_shards(storage: LibraryStorage, rows: bytes) -> dict:
    """Write the shards of ``rows`` (all catalogue rows, csv order); return the manifest part."""
    count = len(rows) // fmt.PREVIEW_ROW_BYTES
    shard_bytes = fmt.PREVIEW_ROWS_PER_SHARD * fmt.PREVIEW_ROW_BYTES
    shards = []
    for shard in range(fmt.preview_shard_count(count)):
        data = rows[shard * shard_bytes: (shard + 1) * shard_bytes]
        key = fmt.preview_shard_key(shard)
        storage.write_bytes(key, data)
        shards.append({"key": key, "rows": len(data) // fmt.PREVIEW_ROW_BYTES, "bytes": len(data),
                       "sha256": hashlib.sha256(data).hexdigest()})
    return {
        "format_version": fmt.PREVIEW_FORMAT_VERSION,
        "row_bytes": fmt.PREVIEW_ROW_BYTES,
        "samples": fmt.PREVIEW_SAMPLES,
        "rows_per_shard": fmt.PREVIEW_ROWS_PER_SHARD,
        "rows": count,
        "shards": shards,
    }


def remove_stale_shards(storage: LibraryStorage, previous: PreviousPreviews, manifest_part: dict) -> None:
    """Delete shards the new manifest no longer lists (after it is published)."""
    current = {s["key"] for s in manifest_part["shards"]}
    for key in previous.shard_keys:
        if key not in current and key.startswith(fmt.PREVIEW_DIR + "/"):
            storage.remove(key)


def preview_problems(storage: LibraryStorage, manifest: dict, template_ids: list[str]) -> list[str]:
    """What is wrong with the library's previews, one line each (``pipeline validate``).

    A library without a ``previews`` entry has none to check (the page then draws thumbnails
    from the templates); one that lists previews must have every shard whole, matching its
    size and sha256, and its rows must carry the csv's template_ids in csv order.
    """
    part = manifest.get("previews")
    if part is None:
        return []
    where = f"{fmt.MANIFEST_FILE} previews"
    expected = {"format_version": fmt.PREVIEW_FORMAT_VERSION, "row_bytes": fmt.PREVIEW_ROW_BYTES,
                "samples": fmt.PREVIEW_SAMPLES, "rows_per_shard": fmt.PREVIEW_ROWS_PER_SHARD}
    if not isinstance(part, dict):
        return [f"{where}: not an object"]
    problems = [f"{where}: {key} is {part.get(key)!r}, expected {value!r}"
                for key, value in expected.items() if part.get(key) != value]
    shards = part.get("shards")
    if problems or not isinstance(shards, list):
        return problems or [f"{where}: shards is not a list"]
    if part.get("rows") != len(template_ids):
        problems.append(f"{where}: {part.get('rows')!r} rows for {len(template_ids)} catalogue rows")
    if len(shards) != fmt.preview_shard_count(len(template_ids)):
        return problems + [f"{where}: {len(shards)} shards for {len(template_ids)} rows"]
    limit = fmt.PREVIEW_ROWS_PER_SHARD * fmt.PREVIEW_ROW_BYTES
    for number, shard in enumerate(shards):
        key = fmt.preview_shard_key(number)
        if not isinstance(shard, dict) or shard.get("key") != key:
            problems.append(f"{where}: shard {number} should be {key}")
            continue
        first = number * fmt.PREVIEW_ROWS_PER_SHARD
        ids = template_ids[first: first + fmt.PREVIEW_ROWS_PER_SHARD]
        if not storage.exists(key):
            problems.append(f"{key}: missing (run 'python -m pipeline consolidate')")
            continue
        size = storage.fs.size(storage.key_path(key))
        if size != shard.get("bytes") or size != len(ids) * fmt.PREVIEW_ROW_BYTES or size > limit:
            problems.append(f"{key}: {size} bytes, library.json says {shard.get('bytes')!r} for {len(ids)} rows")
            continue
        data = storage.read_bytes(key)
        if hashlib.sha256(data).hexdigest() != shard.get("sha256"):
            problems.append(f"{key}: does not match its sha256 in library.json")
            continue
        stored = [data[k: k + fmt.PREVIEW_ID_BYTES].hex() for k in range(0, len(data), fmt.PREVIEW_ROW_BYTES)]
        wrong = next((k for k, (a, b) in enumerate(zip(stored, ids)) if a != b), None)
        if wrong is not None:
            problems.append(f"{key}: row {first + wrong} is template {stored[wrong]}, the csv has {ids[wrong]}")
    return problems
