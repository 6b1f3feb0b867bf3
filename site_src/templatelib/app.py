"""The page's application state, driven by the Web Worker (one call per UI event).

Every public method takes and returns plain JSON-able values so the worker can pass them to
the UI thread unchanged; the UI never runs Python and never parses HTML from here except the
SVG that :mod:`plots_svg` escaped.

The catalogue is held as typed columns (:class:`~templatelib.column_table.ColumnTable`):
loading, querying, sorting and paging need no package (the standard library's ``array``
until numpy has loaded in the background, then numpy: :meth:`TemplateBrowser.use_numpy`).
The methods of ``worker_api``'s ``full`` group (snippet, citation, selection csv) use a
pandas DataFrame of the same rows, built on first use once the worker has installed pandas.
"""

from __future__ import annotations

import asyncio
import base64

from . import format as fmt
from .catalogue import TABLE_COLUMNS, CatalogueError
from .catalogue_source import CatalogueTooLarge, read_catalogue
from .citations import citation, provenances_for
from .column_query import evaluate
from .column_table import known_columns
from .http_fetch import Fetcher, FetchError
from .safe_query import QueryError
from .snippet import probe_groups, python_snippet, selection_csv, selection_rows
from .zarr_reader import DataError, LibraryReader

MAX_PAGE = 200
DETAIL_FIELDS = fmt.COLUMNS
#: What each results row carries: the shown columns, and what a thumbnail needs.
ROW_FIELDS = TABLE_COLUMNS + ("template_index", "best_channel_index")


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
    kinds = {CatalogueTooLarge: "too_large", CatalogueError: "catalogue", QueryError: "query", DataError: "data", ValueError: "input", KeyError: "input"}
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
                 manifest: bytes | None = None, manifest_missing: bool = False, compact: bytes | None = None):
        self.reader = reader or LibraryReader(source, fetcher)
        self.source = self.reader.source
        self.columns = None
        self.manifest = None
        self._frame = None
        self._handed = {"csv": catalogue, "compact": compact}
        self._manifest_bytes = manifest
        self._manifest_missing = manifest_missing
        self._result = None
        self._result_key = None
        self._download = None
        self._download_count = 0

    async def _manifest(self) -> dict | None:
        if self._manifest_bytes is not None:
            data, self._manifest_bytes = self._manifest_bytes, None
            return self.reader.parse_manifest(data)
        if self._manifest_missing:
            return None
        return await self.reader.manifest()

    async def load(self) -> dict:
        """Read the catalogue (the compact form when ``library.json`` lists a usable one, else
        ``templates.csv``), using what the UI thread handed over and fetching the rest."""
        manifest = await self._manifest()
        handed, self._handed = self._handed, {}
        self.columns, note = await read_catalogue(self.reader, manifest, handed.get("csv"), handed.get("compact"))
        self.manifest = manifest
        columns = self.columns
        probes = columns["probe"].categories if "probe" in columns else ()
        ranges = {}
        for name in ("amplitude_uv", "depth_along_probe", "signal_to_noise_ratio", "spikes_per_unit"):
            span = columns.finite_range(name)
            if span is not None:
                ranges[name] = span
        return {
            "source": self.source,
            "is_public": self.source == fmt.PUBLIC_HTTP_ROOT,
            "count": len(columns),
            "columns": known_columns(columns.names),
            "probes": sorted(str(p) for p in probes if p),
            "brain_areas": columns.value_counts("brain_area"),
            "ranges": ranges,
            "fallback_ids": columns.id_is_fallback,
            "library": _manifest_summary(manifest),
            "catalogue_note": note,
        }

    @property
    def table(self):
        """The catalogue as a pandas DataFrame (imports pandas: ``full`` methods only)."""
        if self._frame is None:
            self._frame = self.columns.to_pandas()
        return self._frame

    def use_numpy(self) -> None:
        """Hold the catalogue as numpy columns from now on (numpy is installed): the same
        answers, faster at 100,000 rows. A cached result is kept (its rows are the same)."""
        if self.columns is not None:
            self.columns = self.columns.to_numpy()

    def _query(self, expression: str, sort_by: str | None, descending: bool):
        key = (expression, sort_by, descending)
        if key != self._result_key:
            rows = evaluate(self.columns, expression, known_columns(self.columns.names))
            if sort_by:
                if sort_by not in self.columns:
                    raise QueryError(f"cannot sort by unknown column '{sort_by}'")
                rows = self.columns.order(rows, sort_by, descending)
            self._result, self._result_key = rows, key
        return self._result

    def query(self, expression: str = "", sort_by: str | None = None, descending: bool = False,
              offset: int = 0, limit: int = 50) -> dict:
        """One page of the rows matching ``expression``; ``count`` is the whole result's size."""
        result = self._query(str(expression or ""), str(sort_by) if sort_by else None, bool(descending))
        limit = max(1, min(int(limit), MAX_PAGE))
        offset = max(0, min(int(offset), max(len(result) - 1, 0)))
        page = result[offset: offset + limit]
        # "row" is the csv row: where the UI thread finds the template's preview.
        rows = [{"row": int(position), **record}
                for position, record in zip(page, self.columns.records(page, ROW_FIELDS))]
        return {"count": int(len(result)), "offset": offset, "rows": rows}

    async def view(self, template_id: str) -> dict:
        """The template view: one SVG (waveform, footprint, probe) and every catalogue field."""
        from .plots_svg import template_view_svg  # numpy: the view's stage has it

        position = self.columns.row_of(template_id) if isinstance(template_id, str) else None
        if position is None:
            raise KeyError(f"template {template_id} is not in this catalogue")
        row = self.columns.records([position], DETAIL_FIELDS)[0]
        key = (fmt.dataset_key(row["dataset"]), int(row["template_index"]))
        handle = await self.reader.dataset(key[0])
        template, positions = await asyncio.gather(self.reader.templates([key]), self.reader.positions(key[0]))
        return {
            "template_id": template_id,
            "svg": template_view_svg(template[key], positions, handle.sampling_frequency, handle.nbefore,
                                     template_id),
            "fields": [[c, row[c]] for c in DETAIL_FIELDS if c in row],
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
        return [t for t in template_ids if isinstance(t, str) and self.columns.row_of(t) is not None]

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
