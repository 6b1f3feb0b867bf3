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
from . import units
from .catalogue import CatalogueError
from .catalogue_source import CatalogueTooLarge, read_catalogue
from .citations import citation, provenances_for
from .column_query import evaluate
from .column_table import known_columns
from .empty_result import explain_empty
from .http_fetch import Fetcher, FetchError
from .page_contract import EXTRA_COLUMNS, HINTED_COLUMNS, MAX_EXTRA_COLUMNS, TABLE_COLUMNS
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



def extra_fields(columns) -> tuple:
    """The added table columns a query may return: known metric names, at most
    ``MAX_EXTRA_COLUMNS`` of them, each once (the rest is untrusted input and dropped)."""
    if not isinstance(columns, (list, tuple)):
        return ()
    names = [c for c in columns[:MAX_EXTRA_COLUMNS * 4] if isinstance(c, str) and c in EXTRA_COLUMNS]
    return tuple(dict.fromkeys(names))[:MAX_EXTRA_COLUMNS]


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
        self._previews = None  # similar.PreviewIndex, built on the first similarity call
        self._ranking = (None, None)  # (key, similar.Ranking) of the last one
        self._scores = (None, None)  # (template or own waveform, the measure for every row)
        self._own = None  # the user's waveform as preview steps (own_waveform)

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
        for name in HINTED_COLUMNS:  # the quick filters' placeholders
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
              offset: int = 0, limit: int = 50, columns=()) -> dict:
        """One page of the rows matching ``expression``; ``count`` is the whole result's size.

        ``columns``: metric columns the visitor added to the table (``page_contract.EXTRA_COLUMNS``);
        anything else, and any beyond ``MAX_EXTRA_COLUMNS``, is left out of the rows.
        """
        result = self._query(str(expression or ""), str(sort_by) if sort_by else None, bool(descending))
        limit = max(1, min(int(limit), MAX_PAGE))
        offset = max(0, min(int(offset), max(len(result) - 1, 0)))
        page = result[offset: offset + limit]
        # "row" is the csv row: where the UI thread finds the template's preview.
        rows = [{"row": int(position), **record}
                for position, record in zip(page, self.columns.records(page, ROW_FIELDS + extra_fields(columns)))]
        answer = {"count": int(len(result)), "offset": offset, "rows": rows}
        if not len(result) and str(expression or "").strip():
            # "0 templates" says why: each condition's own count and what the columns hold.
            answer["empty"] = explain_empty(self.columns, str(expression), known_columns(self.columns.names))
        return answer

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
            # Shown as people read them: durations in ms, every measurement with its unit.
            "fields": [[c, units.text(c, row[c])] for c in DETAIL_FIELDS if c in row],
        }

    def snippet(self, template_ids, group: int = 0, noise_uv=None, seed=None) -> str:
        """The runnable snippet; ``group``, ``noise_uv`` and ``seed`` are the hybrid preview's, so
        its ``generate_hybrid_recording`` call is the one the preview drew."""
        template_ids = list(template_ids)
        text = self.cite(template_ids)["text"] if template_ids else None
        params = self._hybrid_parameters(noise_uv, seed)
        group = group if isinstance(group, int) and not isinstance(group, bool) else 0
        return python_snippet(self.table, template_ids, self.source, text, params, group)

    def _hybrid_parameters(self, noise_uv=None, seed=None, preview_ms=None):
        from .hybrid_preview import HybridParameters, default_noise_uv

        noise = self.columns["noise_level_uv"] if "noise_level_uv" in self.columns else []
        return HybridParameters.checked(seed, noise_uv, default_noise_uv(noise), preview_ms)

    async def hybrid_preview(self, template_ids, group: int = 0, noise_uv=None, seed=None,
                             preview_ms=None) -> dict:
        """The first ``preview_ms`` (100) ms of the snippet's hybrid recording for probe group
        ``group`` of the selection (:mod:`hybrid_preview`), on the channels around the templates'
        best channels: ``{"probe", "group", "template_ids", "in_uv", "parameters",
        "sampling_frequency", "channels", "channel_positions", "traces", "spikes"}``."""
        from .hybrid_preview import MAX_TEMPLATES, preview

        params = self._hybrid_parameters(noise_uv, seed, preview_ms)
        groups = probe_groups(self.table, list(template_ids))
        if not groups:
            raise ValueError("select templates first: the preview injects the selection")
        if isinstance(group, bool) or not isinstance(group, int) or not 0 <= group < len(groups):
            raise ValueError(f"the selection has {len(groups)} probe group(s); group {str(group)[:20]!r} is not one")
        probe, ids = groups[group]
        if len(ids) > MAX_TEMPLATES:
            raise ValueError(f"the preview draws at most {MAX_TEMPLATES} templates; this probe group has {len(ids)}")
        rows = [(fmt.dataset_key(d), index) for d, _, index, _ in selection_rows(self.table, ids)]
        handles = [await self.reader.dataset(key) for key in dict.fromkeys(k for k, _ in rows)]
        shapes = {(h.sampling_frequency, h.nbefore, h.num_samples, h.num_channels, h.is_in_uv) for h in handles}
        if len(shapes) > 1:
            raise ValueError(f"the templates of probe group {probe or '(no probe name)'} differ in sampling rate, "
                             "window or channels; the snippet would split them: select one geometry")
        first = handles[0]
        arrays, positions = await asyncio.gather(self.reader.templates(rows), self.reader.positions(first.key))
        import numpy as np  # the "full" stage has it

        templates = np.stack([arrays[key] for key in rows])
        answer = preview(templates, first.nbefore, first.sampling_frequency, positions, params)
        return {"probe": probe, "group": group, "template_ids": ids, "in_uv": first.is_in_uv, **answer}

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

    async def _preview_index(self):
        from .similar import PreviewIndex, load_index

        if isinstance(self._previews, PreviewIndex):
            return self._previews
        if self._previews is None:
            # A future, so two calls at once fetch the shards once.
            self._previews = asyncio.ensure_future(
                load_index(self.reader, self.manifest, self.columns["template_id"].values()))
        try:
            self._previews = await self._previews
        except BaseException:
            self._previews = None  # a failed fetch may succeed later
            raise
        return self._previews

    async def similar(self, like=None, own: bool = False, expression: str = "", offset: int = 0,
                      limit: int = 50, columns=()) -> dict:
        """The rows matching ``expression`` ranked by similarity (:mod:`similar`) to template
        ``like`` (an untrusted string, e.g. from ``?like=``) or, with ``own``, to the waveform
        :meth:`own_waveform` read: ``{"count", "offset", "rows"}`` as :meth:`query` gives, each row
        with its ``similarity``, plus ``"like"`` and the ``"measure"`` in words. ``columns``: the
        metric columns the visitor added to the table, as for :meth:`query`."""
        from .similar import MEASURE, Ranking, SimilarityError, similarity_page

        index = await self._preview_index()
        if own:
            if self._own is None:
                raise SimilarityError("no waveform of yours has been read yet: pick a file first")
            key, steps, described = ("own", self._own["name"]), self._own["steps"], {"own": self._own["name"]}
        else:
            if not isinstance(like, str) or not fmt.is_valid_template_id(like):
                raise SimilarityError(f"{str(like)[:40]!r} is not a template ID (16 hex characters)")
            row = self.columns.row_of(like)
            if row is None:
                raise KeyError(f"template {like} is not in this catalogue")
            key, steps, described = ("like", like), index.vector(row), {"template_id": like}
        if self._scores[0] != key:  # a new query on the same template reuses its scores
            self._scores = (key, index.scores(steps))
        key = (key, str(expression or ""))
        if self._ranking[0] != key:
            self._ranking = (key, Ranking(self._query(key[1], None, False), self._scores[1]))
        page = similarity_page(self.columns, self._ranking[1], ROW_FIELDS + extra_fields(columns), offset,
                               min(int(limit), MAX_PAGE))
        return {**page, "like": described, "measure": MEASURE, "note": index.note}

    def own_waveform(self, name: str, data_b64: str, sampling_frequency) -> dict:
        """Read the user's waveform file (:mod:`own_waveform`; base64 of its bytes, which the page
        read locally) for :meth:`similar` with ``own``: its preview, channel and rate, or an error
        in words. Nothing is sent anywhere."""
        import numpy as np  # the "view" stage has it

        from .own_waveform import MAX_BYTES, WaveformError, read_waveform

        # The page checked the size before reading; base64 is checked again before decoding.
        if not isinstance(data_b64, str) or len(data_b64) > 4 * (MAX_BYTES // 3 + 1):
            raise WaveformError(f"a waveform file may be at most {MAX_BYTES:,} bytes")
        try:
            data = base64.b64decode(data_b64, validate=True)
        except ValueError:
            raise WaveformError("the file's bytes did not reach Python intact; pick it again") from None
        answer = read_waveform(data, name, sampling_frequency)
        self._own = {"name": answer["name"], "steps": np.array(answer["preview"]["steps"], dtype=np.float32)}
        self._ranking = self._scores = (None, None)
        return answer

    def stats(self) -> dict:
        return {"requests": self.reader.fetcher.requests, "bytes": self.reader.fetcher.bytes}
