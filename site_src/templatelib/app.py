"""The page's application state, driven by the Web Worker (one call per UI event).

Every public method takes and returns plain JSON-able values so the worker can pass them to
the UI thread unchanged; the UI never runs Python and never parses HTML from here except the
SVG that :mod:`plots_svg` escaped.
"""

from __future__ import annotations

import asyncio
import base64
import math

import numpy as np

from . import format as fmt
from .catalogue import TABLE_COLUMNS, CatalogueError, brain_area_counts, load_catalogue, numeric_ranges
from .http_fetch import Fetcher, FetchError
from .citations import citation, provenances_for
from .plots_svg import template_view_svg
from .safe_query import QueryError, run_query
from .snippet import probe_groups, python_snippet, selection_csv, selection_rows
from .zarr_reader import DataError, LibraryReader

MAX_PAGE = 200
DETAIL_FIELDS = fmt.COLUMNS
#: What each results row carries: the shown columns, and what a thumbnail needs.
ROW_FIELDS = TABLE_COLUMNS + ("template_index", "best_channel_index")


def _json_value(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        value = float(value)
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, (np.bool_,)):
        return bool(value)
    return value if value is None or isinstance(value, (int, str, bool)) else str(value)


def _manifest_summary(manifest: dict | None) -> dict | None:
    """What the header shows of ``library.json``; a member of the wrong type is left out.

    The page only displays these facts, so a tampered manifest costs its own line, never the
    catalogue (the validator names the problem to maintainers).
    """
    if not isinstance(manifest, dict):
        return None
    created, version, datasets = manifest.get("created"), manifest.get("format_version"), manifest.get("datasets")
    return {
        "created": created[:40] if isinstance(created, str) else None,
        "format_version": version if isinstance(version, int) and not isinstance(version, bool) else None,
        "datasets": len(datasets) if isinstance(datasets, dict) else None,
    }


def error_payload(error: BaseException) -> dict:
    """The error as the UI shows it: a kind it can style and a sentence a person can act on."""
    if isinstance(error, FetchError):
        return error.as_dict()
    kinds = {CatalogueError: "catalogue", QueryError: "query", DataError: "data", ValueError: "input", KeyError: "input"}
    for cls, kind in kinds.items():
        if isinstance(error, cls):
            return {"kind": kind, "message": str(error).strip("'\"")}
    return {"kind": "internal", "message": f"{type(error).__name__}: {error}"}


class TemplateBrowser:
    """Catalogue, query, pictures and snippet for one library source.

    Parameters
    ----------
    source : str, optional
        http(s) URL of the library root (or give ``reader``).
    fetcher : Fetcher, optional
        Transport (the browser's fetch in Pyodide).
    reader : LibraryReader, optional
        An existing reader, whose cached templates are reused.
    catalogue : bytes, optional
        ``templates.csv`` already fetched (by the page's UI thread, for its first paint).
    manifest : bytes, optional
        ``library.json`` already fetched; with ``manifest_missing`` the UI thread saw a 404.
    """

    def __init__(self, source: str | None = None, fetcher: Fetcher | None = None,
                 reader: LibraryReader | None = None, catalogue: bytes | None = None,
                 manifest: bytes | None = None, manifest_missing: bool = False):
        self.reader = reader or LibraryReader(source, fetcher)
        self.source = self.reader.source
        self.table = None
        self.manifest = None
        self._catalogue_bytes = catalogue
        self._manifest_bytes = manifest
        self._manifest_missing = manifest_missing
        self._result = None
        self._result_key = None
        self._download = None
        self._download_count = 0

    async def _catalogue(self) -> bytes:
        if self._catalogue_bytes is not None:
            data, self._catalogue_bytes = self._catalogue_bytes, None
            return data
        return await self.reader.catalogue_bytes()

    async def _manifest(self) -> dict | None:
        if self._manifest_bytes is not None:
            data, self._manifest_bytes = self._manifest_bytes, None
            return self.reader.parse_manifest(data)
        if self._manifest_missing:
            return None
        return await self.reader.manifest()

    async def load(self) -> dict:
        """Read ``templates.csv`` and ``library.json`` (handed over or fetched together)."""
        csv_bytes, manifest = await asyncio.gather(self._catalogue(), self._manifest())
        self.table = load_catalogue(csv_bytes)
        self.manifest = manifest
        return {
            "source": self.source,
            "is_public": self.source == fmt.PUBLIC_HTTP_ROOT,
            "count": int(len(self.table)),
            "columns": [c for c in fmt.COLUMNS if c in self.table.columns],
            "probes": sorted(p for p in self.table["probe"].unique() if p),
            "brain_areas": brain_area_counts(self.table),
            "ranges": numeric_ranges(self.table),
            "fallback_ids": bool(self.table["id_is_fallback"].any()),
            "library": _manifest_summary(manifest),
        }

    def _query(self, expression: str, sort_by: str | None, descending: bool):
        key = (expression, sort_by, descending)
        if key != self._result_key:
            result = run_query(self.table, expression, [c for c in fmt.COLUMNS if c in self.table.columns])
            if sort_by:
                if sort_by not in self.table.columns:
                    raise QueryError(f"cannot sort by unknown column '{sort_by}'")
                result = result.sort_values(sort_by, ascending=not descending, na_position="last", kind="stable")
            self._result, self._result_key = result, key
        return self._result

    def query(self, expression: str = "", sort_by: str | None = None, descending: bool = False,
              offset: int = 0, limit: int = 50) -> dict:
        """One page of the rows matching ``expression``; ``count`` is the whole result's size."""
        result = self._query(expression or "", sort_by or None, bool(descending))
        limit = max(1, min(int(limit), MAX_PAGE))
        offset = max(0, min(int(offset), max(len(result) - 1, 0)))
        page = result.iloc[offset: offset + limit]
        # "row" is the csv row: where the UI thread finds the template's preview.
        rows = [
            {"row": int(position), **{c: _json_value(v) for c, v in zip(ROW_FIELDS, values)}}
            for position, values in zip(page.index, page[list(ROW_FIELDS)].itertuples(index=False, name=None))
        ]
        return {"count": int(len(result)), "offset": offset, "rows": rows}

    def _rows_for(self, template_ids):
        indexed = self.table.set_index("template_id", drop=False)
        missing = [t for t in template_ids if t not in indexed.index]
        if missing:
            raise KeyError(f"template {missing[0]} is not in this catalogue")
        return indexed.loc[list(template_ids)]

    async def view(self, template_id: str) -> dict:
        """The template view: one SVG (waveform, footprint, probe) and every catalogue field."""
        row = self._rows_for([template_id]).iloc[0]
        key = (fmt.dataset_key(row["dataset"]), int(row["template_index"]))
        handle = await self.reader.dataset(key[0])
        template, positions = await asyncio.gather(self.reader.templates([key]), self.reader.positions(key[0]))
        return {
            "template_id": template_id,
            "svg": template_view_svg(template[key], positions, handle.sampling_frequency, handle.nbefore,
                                     template_id),
            "fields": [[c, _json_value(row[c])] for c in DETAIL_FIELDS if c in row.index],
        }

    def snippet(self, template_ids) -> str:
        template_ids = list(template_ids)
        text = self.cite(template_ids)["text"] if template_ids else None
        return python_snippet(self.table, template_ids, self.source, text)

    def cite(self, template_ids) -> dict:
        """``{"text", "bibtex", "sources"}``: the sources of the selected templates' datasets
        (``library.json``'s ``provenance``, else inferred from their names) and spikeinterface."""
        datasets = list(dict.fromkeys(row[0] for row in selection_rows(self.table, list(template_ids))))
        return citation(provenances_for([fmt.dataset_key(d) for d in datasets], self.manifest))

    def basket_groups(self, template_ids) -> list:
        """``[{"probe", "template_ids"}]``: the selection by probe, as the snippet groups it."""
        return [{"probe": probe, "template_ids": ids} for probe, ids in probe_groups(self.table, list(template_ids))]

    def selection_csv(self, template_ids) -> str:
        return selection_csv(self.table, list(template_ids))

    def known_ids(self, template_ids) -> list[str]:
        """The IDs still present in this catalogue (a shared basket may outlive some)."""
        present = set(self.table["template_id"])
        return [t for t in template_ids if t in present]

    async def download_plan(self, template_ids) -> dict:
        """Plan a download of the selection (see :mod:`download`): ``{"job", "templates",
        "fetch_bytes", "confirm", "files": [{"name", "probe", "templates"}]}``.

        Reads only metadata and probe positions; a selection too large is refused in words. A new
        plan replaces the previous one (one download at a time).
        """
        from .download import plan

        self._download = None
        job = await plan(self.reader, self.table, list(template_ids), self.manifest)
        self._download_count += 1
        self._download = (self._download_count, job)
        return {"job": self._download_count, **job.summary()}

    def _job(self, job):
        if self._download is None or self._download[0] != job:
            raise ValueError("this download was replaced or cancelled; start it again")
        return self._download[1]

    async def download_step(self, job: int) -> dict:
        """Fetch the next templates of download ``job``: ``{"done", "total", "complete"}``."""
        try:
            return await self._job(job).step()
        except BaseException:
            self._download = None  # a failed download is never offered, even in part
            raise

    def download_file(self, job: int, index: int, offset: int = 0) -> dict:
        """A part of file ``index`` of a complete download: ``{"name", "bytes", "templates", "probe",
        "offset", "next_offset", "bytes_b64"}`` (the page asks again from ``next_offset`` until None)."""
        from .download import encode_file

        return encode_file(self._job(job), index, offset)

    async def download_templates(self, template_ids) -> dict:
        """The whole download in one call: ``{"files": [...], "bytes": total}`` (what the page
        assembles from :meth:`download_plan`, :meth:`download_step` and :meth:`download_file`)."""
        job = (await self.download_plan(template_ids))["job"]
        while not (await self.download_step(job))["complete"]:
            pass
        files = []
        for k in range(len(self._job(job).files)):
            part = self.download_file(job, k)
            pieces = [part["bytes_b64"]]
            while part["next_offset"] is not None:
                part = self.download_file(job, k, part["next_offset"])
                pieces.append(part["bytes_b64"])
            data = b"".join(base64.b64decode(p) for p in pieces)
            files.append({"name": part["name"], "probe": part["probe"], "templates": part["templates"],
                          "bytes": len(data), "bytes_b64": base64.b64encode(data).decode("ascii")})
        return {"files": files, "bytes": sum(f["bytes"] for f in files)}

    def stats(self) -> dict:
        return {"requests": self.reader.fetcher.requests, "bytes": self.reader.fetcher.bytes}
