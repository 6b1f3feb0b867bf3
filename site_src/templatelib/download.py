"""Download the selection as files spikeinterface opens: one ``.zarr.zip`` per probe geometry.

Each file is a zarr 2 (format 2) group in a zip, laid out as spikeinterface's
``Templates.add_templates_to_zarr_group`` writes it, so the unmodified
``spikeinterface.core.Templates.from_zarr("<file>.zarr.zip")`` opens it (zarr 2 reads a path
ending in ``.zip`` as a ``ZipStore``):

- ``templates_array`` (float32, units x samples x channels, one template per chunk), the
  templates **in selection order**; ``unit_ids`` = their template IDs; ``channel_ids``;
- attributes ``sampling_frequency``, ``nbefore`` and ``is_in_uV`` (``format.in_uv``'s rule);
- ``probe/``: the dataset's probe group as probeinterface wrote it, copied array by array;
- attribute ``hybrid_template_library``: the source, each template's dataset, unit ID and
  index, ``library.json``'s provenance and the citation (text and BibTeX), so Cite works offline.

The selection is split the way the snippet's ``read_selection`` splits it: by sampling rate,
``nbefore``, ``is_in_uV`` and contact layout (positions relative to the first contact), plus the
window length (templates of other lengths cannot share an array). A ``Templates`` holds one
probe, so each geometry is one file, in the order the geometries first occur.

Work is bounded and done in short steps, because the page's worker stops any call longer than a
few seconds: :func:`plan` reads each dataset's metadata and probe positions and refuses a
selection over :data:`MAX_TEMPLATES` templates or :data:`MAX_DECODED_BYTES`; each
:meth:`DownloadJob.step` fetches at most :data:`STEP_BYTES` of templates (only the selected
templates' chunks, through the same :class:`LibraryReader` and decode limits as the template
view) and compresses them into the file being built; :meth:`DownloadJob.file` zips one file and
refuses until every template of the job is in. The page offers the files only once all are made.
"""

from __future__ import annotations

import asyncio
import base64
import io
import math
import re
import zipfile
from collections.abc import MutableMapping
from dataclasses import dataclass, field

import numpy as np

from . import format as fmt
from .chunk_decode import ChunkError, chunk_grid, chunk_key, decode_chunk
from .citations import citation, provenances_for
from .http_fetch import FetchError
from .snippet import selection_rows
from .zarr_reader import DataError, LibraryReader

#: Most templates one download holds: 500 Neuropixels templates (240 x 384 float32) are
#: ~176 MiB once decoded.
MAX_TEMPLATES = 500
#: Most bytes of decoded templates one download holds, whatever their shape: the files are
#: built in the tab's memory (Pyodide's heap), then handed to the page as base64.
MAX_DECODED_BYTES = 192 * 1024 * 1024
#: Above this many bytes to fetch the page asks first, saying how many.
CONFIRM_BYTES = 32 * 1024 * 1024
#: Bytes of decoded templates one step fetches (~22 Neuropixels templates): one step stays
#: well inside the page's per-call time limit.
STEP_BYTES = 8 * 1024 * 1024
#: Bytes of a file one call hands to the page (as base64): a 150 MB file takes ~20 calls, each
#: far inside the per-call time limit.
FILE_PART_BYTES = 4 * 1024 * 1024
#: Small arrays copied whole (probe arrays, channel_ids, unit_ids): chunk and size bounds.
MAX_SMALL_ARRAY_CHUNKS = 16
MAX_SMALL_ARRAY_BYTES = 16 * 1024 * 1024
#: A probeinterface probe group holds ~12 arrays; more is not a probe.
MAX_PROBE_ARRAYS = 64
#: Output chunks are zlib level 1: fast in the browser, readable by every numcodecs.
OUTPUT_ZLIB_LEVEL = 1
#: The attribute that carries the provenance.
PROVENANCE_ATTR = "hybrid_template_library"
FILE_PREFIX = "hybrid_templates"
FILE_SUFFIX = ".zarr.zip"


def _mib(nbytes: int) -> str:
    return f"{nbytes / (1024 * 1024):.1f} MB"


def _slug(text: str) -> str:
    """A catalogue probe name as a safe piece of a file name."""
    return re.sub(r"[^A-Za-z0-9]+", "-", str(text)).strip("-")[:40] or "probe"


def _json_scalar(value):
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value if value is None or isinstance(value, (int, float, str, bool)) else str(value)


async def read_small_array(reader: LibraryReader, handle, name: str) -> np.ndarray:
    """Array ``name`` of an opened dataset, read whole with the same decode limits as templates.

    Only for small arrays (probe arrays, ``channel_ids``, ``unit_ids``): at most
    :data:`MAX_SMALL_ARRAY_CHUNKS` requests and :data:`MAX_SMALL_ARRAY_BYTES` decoded. A chunk
    the store does not have reads as the array's ``fill_value``, as zarr reads it.
    """
    where = f"{handle.key}/{name}"
    meta = handle.metadata.get(f"{name}/.zarray")
    if not isinstance(meta, dict):
        raise DataError(f"{where}: no array metadata in .zmetadata")
    try:
        grid = chunk_grid(meta, where)
        shape, chunks = meta["shape"], meta["chunks"]
        dtype = np.dtype(meta.get("dtype"))
    except (ChunkError, TypeError, ValueError) as error:
        raise DataError(f"{where}: {error}") from None
    if math.prod(grid) > MAX_SMALL_ARRAY_CHUNKS:
        raise DataError(f"{where}: {math.prod(grid)} chunks; at most {MAX_SMALL_ARRAY_CHUNKS} are read")
    if math.prod(shape) * dtype.itemsize > MAX_SMALL_ARRAY_BYTES:
        raise DataError(f"{where}: more than {MAX_SMALL_ARRAY_BYTES} bytes; not a probe or id array")
    positions = list(np.ndindex(*grid))
    keys = [chunk_key(name, index, meta) for index in positions]

    async def get(key):
        try:
            return await reader.fetcher.fetch(reader.url(f"{handle.key}/{key}"))
        except FetchError as error:
            if error.kind == "missing" and meta.get("fill_value") is not None:
                return None
            raise

    raws = await asyncio.gather(*(get(k) for k in keys))
    try:
        out = np.full(shape, meta.get("fill_value") or 0, dtype=dtype) if dtype.kind in "biuf" \
            else np.zeros(shape, dtype=dtype)
        for index, key, raw in zip(positions, keys, raws):
            if raw is None:
                continue
            chunk = decode_chunk(raw, meta, f"{handle.key}/{key}", max_decoded=MAX_SMALL_ARRAY_BYTES)
            target = tuple(slice(g * c, min((g + 1) * c, s)) for g, c, s in zip(index, chunks, shape))
            out[target] = chunk[tuple(slice(0, t.stop - t.start) for t in target)]
    except ChunkError as error:
        raise DataError(f"{error}; the chunk is damaged or uses a codec this page cannot decode") from None
    except (TypeError, ValueError) as error:
        raise DataError(f"{where}: cannot be read ({type(error).__name__}: {error})") from None
    return out


def probe_array_names(handle) -> list[str]:
    """Names of the arrays directly in the dataset's ``probe`` group (bounded)."""
    prefix, suffix = fmt.PROBE_GROUP + "/", "/.zarray"
    names = sorted(k[len(prefix): -len(suffix)] for k in handle.metadata
                   if k.startswith(prefix) and k.endswith(suffix) and "/" not in k[len(prefix): -len(suffix)])
    if not names:
        raise DataError(f"{handle.key}: the probe group holds no arrays")
    if len(names) > MAX_PROBE_ARRAYS:
        raise DataError(f"{handle.key}: the probe group holds {len(names)} arrays; a probe has at most "
                        f"{MAX_PROBE_ARRAYS}")
    return names


@dataclass
class DownloadFile:
    """One output file: one probe geometry, its templates in selection order."""

    name: str
    probe: str
    first_dataset: str
    # (dataset_key, template_index, template_id, unit_id or None), in selection order
    entries: list = field(default_factory=list)
    store: ZipWriteStore = field(default_factory=lambda: ZipWriteStore())
    array: object = None


class DownloadJob:
    """A planned download: what is fetched in which step, and the files being built.

    Made by :func:`plan`; drive it with :meth:`step` until :attr:`complete`, then take each
    :meth:`file`.
    """

    def __init__(self, reader: LibraryReader, files: list, handles: dict, manifest, fetch_bytes: int):
        self.reader = reader
        self.files = files
        self.handles = handles
        self.manifest = manifest
        self.fetch_bytes = fetch_bytes
        self.total = sum(len(f.entries) for f in files)
        self.done = 0
        self._order = [(f, k) for f in files for k in range(len(f.entries))]
        self._prepared = False
        self._zips: dict = {}

    @property
    def complete(self) -> bool:
        return self._prepared and self.done == self.total

    def summary(self) -> dict:
        return {
            "templates": self.total,
            "fetch_bytes": int(self.fetch_bytes),
            "confirm": self.fetch_bytes > CONFIRM_BYTES,
            "files": [{"name": f.name, "probe": f.probe, "templates": len(f.entries)} for f in self.files],
        }

    async def _prepare(self) -> None:
        """Check unit IDs against the catalogue and write each file's probe, ids and attributes."""
        unit_ids = dict(zip(self.handles, await asyncio.gather(
            *(read_small_array(self.reader, h, "unit_ids") for h in self.handles.values()))))
        for file in self.files:
            for dataset, index, template_id, unit_id in file.entries:
                stored = unit_ids[dataset]
                if not 0 <= index < len(stored):
                    raise DataError(f"{dataset} has {len(stored)} units; index {index} of template {template_id} "
                                    "does not exist (stale catalogue?)")
                if unit_id is not None and str(_json_scalar(stored[index])) != str(unit_id):
                    raise DataError(f"{dataset}: unit {_json_scalar(stored[index])} is at index {index}, the "
                                    f"catalogue says unit {unit_id} for template {template_id} (stale catalogue?)")
        for file in self.files:
            await self._write_metadata(file, unit_ids)
        self._prepared = True

    async def _write_metadata(self, file: DownloadFile, unit_ids: dict) -> None:
        import zarr

        handle = self.handles[file.first_dataset]
        names = probe_array_names(handle)
        arrays = await asyncio.gather(*(read_small_array(self.reader, handle, f"{fmt.PROBE_GROUP}/{n}")
                                        for n in names))
        channel_ids = await read_small_array(self.reader, handle, "channel_ids")
        if channel_ids.shape != (handle.num_channels,):
            raise DataError(f"{handle.key}: {channel_ids.shape} channel_ids for {handle.num_channels} channels")
        root = zarr.open_group(store=file.store, mode="a")
        compressor = _compressor()
        root.create_dataset("channel_ids", data=channel_ids, compressor=compressor)
        root.create_dataset("unit_ids", data=np.array([e[2] for e in file.entries]), compressor=compressor)
        probe = root.create_group(fmt.PROBE_GROUP)
        for name, array in zip(names, arrays):
            probe.create_dataset(name, data=array, compressor=compressor)
        annotations = handle.metadata.get(f"{fmt.PROBE_ANNOTATIONS_GROUP}/.zattrs")
        # probeinterface's reader needs the annotations group, even empty
        probe.create_group("annotations").attrs.put(annotations if isinstance(annotations, dict) else {})
        probe_attrs = handle.metadata.get(f"{fmt.PROBE_GROUP}/.zattrs")
        if isinstance(probe_attrs, dict) and probe_attrs:
            probe.attrs.put(probe_attrs)
        datasets = list(dict.fromkeys(e[0] for e in file.entries))
        provenance = provenances_for(datasets, self.manifest)
        cite = citation(provenance)
        root.attrs.put({
            fmt.ATTR_SAMPLING_FREQUENCY: handle.sampling_frequency,
            fmt.ATTR_NBEFORE: handle.nbefore,
            fmt.ATTR_IN_UV: handle.is_in_uv,
            PROVENANCE_ATTR: {
                "source": self.reader.source,
                "probe": file.probe,
                "template_ids": [e[2] for e in file.entries],
                "datasets": [e[0] for e in file.entries],
                "dataset_unit_ids": [_json_scalar(unit_ids[e[0]][e[1]]) for e in file.entries],
                "template_index": [e[1] for e in file.entries],
                "provenance": provenance,
                "citation": cite["text"],
                "bibtex": cite["bibtex"],
            },
        })

    async def step(self) -> dict:
        """Fetch the next templates (at most :data:`STEP_BYTES`) into their files."""
        if not self._prepared:
            await self._prepare()
        batch, size = [], 0
        while self.done + len(batch) < self.total:
            file, k = self._order[self.done + len(batch)]
            handle = self.handles[file.entries[k][0]]
            nbytes = handle.num_samples * handle.num_channels * 4
            if batch and size + nbytes > STEP_BYTES:
                break
            batch.append((file, k))
            size += nbytes
        if batch:
            arrays = await self.reader.templates([(f.entries[k][0], f.entries[k][1]) for f, k in batch])
            for file, k in batch:
                file.array[k] = arrays[(file.entries[k][0], file.entries[k][1])]
            self.done += len(batch)
        return {"done": self.done, "total": self.total, "complete": self.complete}

    def file(self, index: int) -> bytes:
        """File ``index`` as the bytes of a zip; refused until every template is in.

        Every key went into the zip as it was written; this writes the zip's directory.
        """
        if not self.complete:
            raise ValueError(f"the download is not complete ({self.done} of {self.total} templates); "
                             "no file is offered half-made")
        index = int(index)
        if not 0 <= index < len(self.files):
            raise ValueError(f"this download has {len(self.files)} file(s); there is no file {index}")
        if index not in self._zips:
            file = self.files[index]
            self._zips[index] = file.store.close()
            file.array = None
        return self._zips[index]


def _compressor():
    from numcodecs import Zlib

    return Zlib(level=OUTPUT_ZLIB_LEVEL)


class ZipWriteStore(MutableMapping):
    """A write-once zarr store that puts every key straight into an uncompressed zip in memory.

    Chunks are compressed already, so the zip stores them as they are (``ZIP_STORED``), and no
    step copies the whole file: each template chunk is appended when its step writes it, and
    :meth:`close` only adds the zip's directory. A key written twice is refused (a zip would
    keep both copies). Metadata keys (``.zarray``, ``.zgroup``, ``.zattrs``) stay readable,
    as zarr reads them back; chunks are not kept outside the zip.
    """

    def __init__(self):
        self._buffer = io.BytesIO()
        self._zip = zipfile.ZipFile(self._buffer, "w", compression=zipfile.ZIP_STORED, allowZip64=True)
        self._names: list = []
        self._metadata: dict = {}

    def __setitem__(self, key, value):
        if key in self._metadata or key in self._names:
            raise ValueError(f"{key} written twice into a download")
        value = bytes(value)
        info = zipfile.ZipInfo(key, date_time=(1980, 1, 1, 0, 0, 0))  # a fixed date: same selection, same bytes
        info.external_attr = 0o644 << 16
        self._zip.writestr(info, value)
        self._names.append(key)
        if key.rsplit("/", 1)[-1].startswith(".z"):
            self._metadata[key] = value

    def __getitem__(self, key):
        return self._metadata[key]

    def __contains__(self, key):
        return key in self._names

    def __delitem__(self, key):
        raise ValueError(f"{key}: a download is written once")

    def __iter__(self):
        return iter(list(self._names))

    def __len__(self):
        return len(self._names)

    def __del__(self):
        # An abandoned download (failed or replaced): close the zip while its buffer is still
        # open, or the zip's own finaliser writes into a closed buffer during garbage collection.
        if self._buffer is not None:
            self._zip.close()
            self._buffer = None

    def close(self) -> bytes:
        """The finished zip's bytes (the store takes no more keys)."""
        self._zip.close()
        data, self._buffer, self._metadata = self._buffer.getvalue(), None, {}
        return data


async def plan(reader: LibraryReader, table, template_ids, manifest=None) -> DownloadJob:
    """Check the selection and group it into files; fetches only metadata and probe positions.

    Raises
    ------
    ValueError
        An empty selection, or one over :data:`MAX_TEMPLATES` or :data:`MAX_DECODED_BYTES`
        (refused before any template is fetched).
    DataError
        A dataset's metadata or probe cannot be read.
    """
    rows = selection_rows(table, list(template_ids))
    if not rows:
        raise ValueError("select templates first: the download holds the selection")
    if len(rows) > MAX_TEMPLATES:
        raise ValueError(f"{len(rows)} templates are selected; a download holds at most {MAX_TEMPLATES}. "
                         "Select fewer, or fetch them with the Python snippet")
    keys = list(dict.fromkeys(fmt.dataset_key(r[0]) for r in rows))
    handles = dict(zip(keys, await asyncio.gather(*(reader.dataset(k) for k in keys))))
    positions = dict(zip(keys, await asyncio.gather(*(reader.positions(k) for k in keys))))
    decoded = sum(4 * handles[fmt.dataset_key(r[0])].num_samples * handles[fmt.dataset_key(r[0])].num_channels
                  for r in rows)
    if decoded > MAX_DECODED_BYTES:
        raise ValueError(f"the {len(rows)} selected templates are {_mib(decoded)} once decoded; a download holds "
                         f"at most {_mib(MAX_DECODED_BYTES)}. Select fewer, or fetch them with the Python snippet")
    probes = table.set_index("template_id", drop=False)["probe"] if "probe" in table.columns else None
    groups: dict = {}
    for dataset, unit_id, index, template_id in rows:
        key = fmt.dataset_key(dataset)
        handle, where = handles[key], positions[key]
        geometry = (handle.sampling_frequency, handle.nbefore, handle.is_in_uv, handle.num_samples,
                    where.shape, (where - where[0]).tobytes())
        if geometry not in groups:
            probe = "" if probes is None else probes.loc[template_id]
            probe = "" if probe is None or str(probe) == "nan" else str(probe)
            groups[geometry] = DownloadFile(name="", probe=probe, first_dataset=key)
        groups[geometry].entries.append((key, int(index), template_id, unit_id))
    files = list(groups.values())
    import zarr

    for k, file in enumerate(files):
        file.name = f"{FILE_PREFIX}_{k}_{_slug(file.probe or 'probe')}{FILE_SUFFIX}"
        handle = handles[file.first_dataset]
        root = zarr.group(store=file.store)
        # spikeinterface's layout: one template per chunk
        file.array = root.create_dataset("templates_array", shape=(len(file.entries), handle.num_samples,
                                                                   handle.num_channels),
                                         chunks=(1, handle.num_samples, handle.num_channels), dtype="<f4",
                                         compressor=_compressor(), fill_value=0.0)
    fetch = decoded + sum(_small_bytes(h) for h in handles.values())
    return DownloadJob(reader, files, handles, manifest, fetch)


def _small_bytes(handle) -> int:
    """Decoded bytes of a dataset's probe arrays, channel_ids and unit_ids (their fetch bound)."""
    total = 0
    for key, meta in handle.metadata.items():
        if key.endswith("/.zarray") and isinstance(meta, dict) and (
                key.startswith(fmt.PROBE_GROUP + "/") or key in ("channel_ids/.zarray", "unit_ids/.zarray")):
            try:
                total += math.prod(meta["shape"]) * np.dtype(meta.get("dtype")).itemsize
            except (KeyError, TypeError, ValueError):
                continue
    return total


def encode_file(job: DownloadJob, index: int, offset: int = 0) -> dict:
    """Part of file ``index`` for the worker's JSON answer: at most :data:`FILE_PART_BYTES` from
    ``offset``, base64, with the file's name, size, probe and template count; ``next_offset`` is
    None after the last part."""
    data = job.file(index)
    file = job.files[int(index)]
    offset = int(offset)
    if not 0 <= offset <= len(data):
        raise ValueError(f"{file.name} has {len(data)} bytes; there is no byte {offset}")
    end = min(offset + FILE_PART_BYTES, len(data))
    return {"name": file.name, "probe": file.probe, "templates": len(file.entries), "bytes": len(data),
            "offset": offset, "next_offset": end if end < len(data) else None,
            "bytes_b64": base64.b64encode(data[offset:end]).decode("ascii")}
