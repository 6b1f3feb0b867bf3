"""Grow a library to N catalogue rows without writing N templates (for scale benchmarks).

The grown library reuses the source's datasets (symlinked ``.zarr`` folders), repeats the
source's catalogue rows in order with new unique template IDs (16 hex), writes preview shards
whose rows are the source rows' previews under the new IDs, a ``library.json`` that pins
the new csv and shards, and then runs ``pipeline pack`` for the compact catalogue.

``pipeline validate`` accepts it except for the check that inherently needs one template per
row: each grown row's ``template_id`` is not ``sha256("<dataset>/<unit_id>")`` of the unit it
points at (those rows are named, the first 40, then counted).

Usage::

    PYTHONPATH=site_src:. .venv/bin/python tests/benchmarks/grow_library.py SRC DST N
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import sys
from datetime import datetime, timezone

import pandas as pd

from pipeline.catalogue import catalogue_csv_bytes
from pipeline.pack import MANIFEST_KEY, pack
from pipeline.previews import PreviousPreviews, write_shards
from pipeline.storage import LibraryStorage
from templatelib import format as fmt


def grown_id(source_id: str, copy: int) -> str:
    """A new 16-hex ID for copy ``copy`` of a source row (copy 0 keeps the source's ID)."""
    if copy == 0:
        return source_id
    return hashlib.sha256(f"grown/{source_id}/{copy}".encode()).hexdigest()[: fmt.TEMPLATE_ID_LENGTH]


def grow_library(src_root: str, dst_root: str, n_rows: int) -> dict:
    """Write a library of ``n_rows`` catalogue rows at ``dst_root`` (local) from ``src_root``.

    Returns
    -------
    dict
        The grown library's manifest.
    """
    source = LibraryStorage(src_root)
    target = LibraryStorage(dst_root)
    if not target.is_empty():
        raise ValueError(f"{dst_root} is not empty")
    target.make_root()
    for key in source.complete_datasets():
        os.symlink(os.path.abspath(source.key_path(key)), target.key_path(key))
    frame = pd.read_csv(io.BytesIO(source.read_bytes(fmt.CATALOGUE_FILE)), dtype={"template_id": str},
                        keep_default_na=True)
    if "template_id" not in frame or not len(frame):
        raise ValueError(f"{src_root}: needs a catalogue with template_id and at least one row")
    copies = -(-n_rows // len(frame))
    grown = pd.concat([frame] * copies, ignore_index=True).iloc[:n_rows].copy()
    copy_of = [k // len(frame) for k in range(n_rows)]
    source_ids = grown["template_id"].tolist()
    grown["template_id"] = [grown_id(t, c) for t, c in zip(source_ids, copy_of)]
    if grown["template_id"].duplicated().any():
        raise ValueError("grown template IDs collide")  # 64-bit IDs: never in practice
    previous = PreviousPreviews(source)
    if len(previous.rows) < len(frame):
        raise ValueError(f"{src_root}: its preview shards are missing or do not match library.json")
    preview_rows = b"".join(bytes.fromhex(new) + previous.rows[old][fmt.PREVIEW_ID_BYTES:]
                            for old, new in zip(source_ids, grown["template_id"]))
    csv_bytes = catalogue_csv_bytes(grown)
    previews = write_shards(target, preview_rows)
    manifest = {k: v for k, v in previous.manifest.items() if k != MANIFEST_KEY}
    manifest.update(created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    templates_csv_sha256=hashlib.sha256(csv_bytes).hexdigest(), template_count=n_rows,
                    previews=previews)
    target.write_bytes(fmt.CATALOGUE_FILE, csv_bytes)
    target.write_bytes(fmt.MANIFEST_FILE, (json.dumps(manifest, indent=2) + "\n").encode("utf-8"))
    manifest[MANIFEST_KEY] = pack(target)
    return manifest


if __name__ == "__main__":
    src, dst, rows = sys.argv[1], sys.argv[2], int(sys.argv[3])
    written = grow_library(src, dst, rows)
    entry = written[MANIFEST_KEY]
    print(f"{dst}: {rows} rows; {fmt.CATALOGUE_FILE} {os.path.getsize(os.path.join(dst, fmt.CATALOGUE_FILE)):,} bytes, "
          f"{fmt.COMPACT_CATALOGUE_FILE} {entry['bytes']:,} bytes, {len(written['previews']['shards'])} preview shards")
