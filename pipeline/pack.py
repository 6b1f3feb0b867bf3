"""``python -m pipeline pack``: the compact catalogue, a pure function of ``templates.csv``.

:func:`compact_catalogue` turns the csv's bytes into ``catalogue.htlc``
(:func:`templatelib.catalogue.read_catalogue_csv` then
:func:`templatelib.compact_catalogue.write_compact`) and describes it for ``library.json``.
``consolidate`` calls it after writing the csv; :func:`pack` rewrites it from a published
csv alone, so a maintainer can repair it and a benchmark can grow a library without
consolidating every template. :func:`compact_problems` is ``pipeline validate``'s check.
"""

from __future__ import annotations

import hashlib
import json

from templatelib import format as fmt
from templatelib.catalogue import CatalogueError, read_catalogue_csv
from templatelib.compact_catalogue import compact_header, read_compact, table_difference, write_compact

from .storage import LibraryStorage

#: ``library.json``'s member describing the compact catalogue.
MANIFEST_KEY = fmt.COMPACT_MANIFEST_KEY


def compact_catalogue(csv_bytes: bytes) -> tuple[bytes, dict]:
    """``(catalogue.htlc bytes, its library.json entry)`` for ``templates.csv``'s bytes.

    Raises
    ------
    CatalogueError
        When ``read_catalogue_csv`` refuses the csv (the page could not read it either).
    """
    csv_sha256 = hashlib.sha256(csv_bytes).hexdigest()
    table = read_catalogue_csv(csv_bytes)
    data = write_compact(table, csv_sha256)
    entry = {
        "file": fmt.COMPACT_CATALOGUE_FILE,
        "format_version": fmt.COMPACT_FORMAT_VERSION,
        "sha256": hashlib.sha256(data).hexdigest(),
        "bytes": len(data),
        "rows": len(table),
        "templates_csv_sha256": csv_sha256,
    }
    return data, entry


def pack(storage: LibraryStorage) -> dict:
    """Rewrite ``catalogue.htlc`` from the library's ``templates.csv`` and record it in
    ``library.json``; return the entry.

    The compact file is written first, then ``library.json``, each atomically
    (:meth:`LibraryStorage.write_bytes`): a reader sees either the old pair or a new file that
    the old manifest does not vouch for (which it then ignores), never a torn file.

    Raises
    ------
    CatalogueError
        When the csv or ``library.json`` is missing or unusable (one line).
    """
    for name in (fmt.CATALOGUE_FILE, fmt.MANIFEST_FILE):
        if not storage.exists(name):
            raise CatalogueError(f"{name}: missing (run 'python -m pipeline consolidate')")
    try:
        manifest = json.loads(storage.read_bytes(fmt.MANIFEST_FILE))
    except ValueError as error:
        raise CatalogueError(f"{fmt.MANIFEST_FILE}: not valid JSON ({type(error).__name__})") from None
    if not isinstance(manifest, dict):
        raise CatalogueError(f"{fmt.MANIFEST_FILE}: not a JSON object")
    data, entry = compact_catalogue(storage.read_bytes(fmt.CATALOGUE_FILE))
    storage.write_bytes(fmt.COMPACT_CATALOGUE_FILE, data)
    manifest[MANIFEST_KEY] = entry
    storage.write_bytes(fmt.MANIFEST_FILE, (json.dumps(manifest, indent=2) + "\n").encode("utf-8"))
    return entry


def compact_problems(storage: LibraryStorage, manifest: dict, csv_bytes: bytes | None) -> list[str]:
    """What is wrong with the compact catalogue, one line each (``pipeline validate``).

    Absent and unlisted is fine (the live library has none). Otherwise it must be listed in
    ``library.json`` and present, match the entry's sha256, size and rows, derive from this
    ``templates.csv`` (its header's sha256) and hold exactly the csv's rows and values.
    """
    name = fmt.COMPACT_CATALOGUE_FILE
    entry = manifest.get(MANIFEST_KEY)
    present = storage.exists(name)
    if entry is None:
        return [f"{name}: present but not listed in {fmt.MANIFEST_FILE} (run 'python -m pipeline pack')"] if present else []
    where = f"{fmt.MANIFEST_FILE} {MANIFEST_KEY}"
    if not isinstance(entry, dict):
        return [f"{where}: not an object"]
    if not present:
        return [f"{name}: missing, though {fmt.MANIFEST_FILE} lists it (run 'python -m pipeline pack')"]
    size = storage.size(name)
    if size > fmt.CSV_MAX_BYTES:
        return [f"{name}: {size} bytes, more than the {fmt.CSV_MAX_BYTES} the validator reads"]
    data = storage.read_bytes(name)
    problems = []
    if entry.get("sha256") != hashlib.sha256(data).hexdigest():
        problems.append(f"{name}: does not match its sha256 in {fmt.MANIFEST_FILE}")
    if entry.get("bytes") != len(data):
        problems.append(f"{name}: {len(data)} bytes, {fmt.MANIFEST_FILE} says {entry.get('bytes')!r}")
    try:
        header = compact_header(data)
        table = read_compact(data)
    except CatalogueError as error:
        return problems + [str(error)]
    if entry.get("rows") != header["rows"]:
        problems.append(f"{name}: {header['rows']} rows, {fmt.MANIFEST_FILE} says {entry.get('rows')!r}")
    if csv_bytes is None:
        return problems
    csv_sha256 = hashlib.sha256(csv_bytes).hexdigest()
    if header["templates_csv_sha256"] != csv_sha256 or entry.get("templates_csv_sha256") != csv_sha256:
        problems.append(f"{name}: derives from another {fmt.CATALOGUE_FILE} (sha256 differs; run 'python -m pipeline pack')")
    try:
        expected = read_catalogue_csv(csv_bytes)
    except CatalogueError:
        return problems  # the csv's own problem is reported by the csv check
    difference = table_difference(expected, table)
    if difference:
        problems.append(f"{name}: disagrees with {fmt.CATALOGUE_FILE}: {difference}")
    return problems
