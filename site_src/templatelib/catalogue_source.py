"""Which form of the catalogue the page reads, and the checks that decide it.

A library written by ``consolidate`` (or ``pipeline pack``) has, beside ``templates.csv``, a
compact, columnar copy of it that loads many times faster (``docs/format.md``, "The compact
catalogue"); ``library.json`` lists it with its sha256 and the sha256 of the csv it was made
from. The page uses it only when every check holds:

- ``library.json``'s entry is well-formed and names the format's file (a manifest can never
  point the page at another object);
- the entry was made from the csv that ``library.json`` lists (``templates_csv_sha256``);
- the bytes' sha256 is the entry's, and they parse as the format says (bounded: a file that
  claims more rows than the format allows is refused before anything is allocated);
- the rows are as many as the entry says.

Otherwise the page says why in one sentence and reads ``templates.csv``, as it does for the
live bucket, which has no compact copy.
"""

from __future__ import annotations

import hashlib
import re

from . import format as fmt
from .catalogue import CatalogueError, read_catalogue_csv
from .column_table import ColumnTable
from .compact_catalogue import read_compact
from .http_fetch import FetchError

_SHA256 = re.compile(r"[0-9a-f]{64}")


class CatalogueTooLarge(CatalogueError):
    """``library.json`` says the catalogue has more rows than the page can hold: said before
    anything is fetched, and final (the csv would be larger still)."""


def compact_entry(manifest: dict | None) -> dict | None:
    """``library.json``'s compact-catalogue entry when it is usable, else None.

    Raises
    ------
    CatalogueError
        When an entry is there but malformed (the page then says so and reads the csv).
    """
    if not isinstance(manifest, dict) or fmt.COMPACT_MANIFEST_KEY not in manifest:
        return None
    entry = manifest[fmt.COMPACT_MANIFEST_KEY]
    if not isinstance(entry, dict):
        raise CatalogueError(f"library.json's {fmt.COMPACT_MANIFEST_KEY} is not an object")
    if entry.get("file") != fmt.COMPACT_CATALOGUE_FILE:
        raise CatalogueError(f"library.json's {fmt.COMPACT_MANIFEST_KEY} names another file than "
                             f"{fmt.COMPACT_CATALOGUE_FILE}")
    for key in ("sha256", "templates_csv_sha256"):
        if not isinstance(entry.get(key), str) or not _SHA256.fullmatch(entry[key]):
            raise CatalogueError(f"library.json's {fmt.COMPACT_MANIFEST_KEY}.{key} is not a sha256")
    rows = entry.get("rows")
    if isinstance(rows, int) and not isinstance(rows, bool) and rows > fmt.COMPACT_MAX_ROWS:
        raise CatalogueTooLarge(f"the library lists {rows:,} templates; this page holds at most "
                                f"{fmt.COMPACT_MAX_ROWS:,} in the browser's memory. Use the Python client "
                                "(spikeinterface.generation) for a library this large.")
    for key, limit in (("rows", fmt.COMPACT_MAX_ROWS), ("bytes", fmt.COMPACT_MAX_BYTES)):
        value = entry.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= limit:
            raise CatalogueError(f"library.json's {fmt.COMPACT_MANIFEST_KEY}.{key} is not a whole number "
                                 f"up to {limit}")
    if entry["templates_csv_sha256"] != manifest.get("templates_csv_sha256"):
        raise CatalogueError(f"{fmt.COMPACT_CATALOGUE_FILE} was made from another templates.csv than "
                             "library.json lists (run `pipeline pack`)")
    return entry


def check_compact(data: bytes, entry: dict) -> ColumnTable:
    """The compact catalogue ``data`` as a table, if it is what ``entry`` describes."""
    if len(data) != entry["bytes"]:
        raise CatalogueError(f"{fmt.COMPACT_CATALOGUE_FILE} has {len(data)} bytes, library.json says {entry['bytes']}")
    if hashlib.sha256(data).hexdigest() != entry["sha256"]:
        raise CatalogueError(f"{fmt.COMPACT_CATALOGUE_FILE} does not match its sha256 in library.json")
    table = read_compact(data)
    if len(table) != entry["rows"]:
        raise CatalogueError(f"{fmt.COMPACT_CATALOGUE_FILE} has {len(table)} rows, library.json says {entry['rows']}")
    return table


async def read_catalogue(reader, manifest: dict | None, csv: bytes | None = None,
                         compact: bytes | None = None) -> tuple[ColumnTable, str | None]:
    """``(table, note)``: the catalogue, from its compact form when usable, else from the csv.

    Parameters
    ----------
    reader : LibraryReader
        Fetches what was not handed over.
    manifest : dict or None
        ``library.json``'s content.
    csv, compact : bytes, optional
        ``templates.csv`` and the compact catalogue, when the UI thread already fetched them.

    Returns
    -------
    table : ColumnTable
    note : str or None
        Why the compact form was not used, when ``library.json`` lists one.
    """
    note = None
    try:
        entry = compact_entry(manifest)
        if entry is not None:
            if compact is None:
                compact = await reader.fetcher.fetch(reader.url(fmt.COMPACT_CATALOGUE_FILE))
            return check_compact(compact, entry), None
    except CatalogueTooLarge:
        raise
    except (CatalogueError, FetchError) as error:
        note = f"The compact catalogue was not used ({error}); the page read templates.csv instead."
    if csv is None:
        csv = await reader.catalogue_bytes()
    return read_catalogue_csv(csv), note
