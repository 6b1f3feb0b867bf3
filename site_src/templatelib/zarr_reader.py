"""Read datasets of a library over HTTP: consolidated metadata once, then only the chunks asked for.

The browser can only fetch asynchronously, so the reader fetches the keys a view needs first
(concurrently, see ``http_fetch``) and decodes them from memory. One template is one chunk
(``templates_array`` is chunked one unit per chunk), so k thumbnails cost k requests plus
``.zmetadata`` once per dataset; the template view adds the probe's ``x``/``y`` once, read
with zarr-python 2 (imported then, not at start: it costs ~0.5 s in Pyodide).

Metadata and chunks come from anywhere a link points, so every size is bounded before work
is done: ``.zmetadata`` at :data:`MAX_METADATA_BYTES`, the probe at
:data:`MAX_PROBE_CHUNKS` requests per dataset, a template chunk at its expected size
(decoded by :func:`templatelib.chunk_decode.decode_chunk`, which refuses a zlib bomb before
inflating it). Each refusal is a :class:`DataError` naming the object.

numpy is imported where data is decoded, not at import: the page reads the catalogue through
this reader (``library.json``, ``templates.csv``) before numpy has loaded.
"""

from __future__ import annotations

import asyncio
import json
import urllib.parse
from collections import OrderedDict
from types import SimpleNamespace
from typing import TYPE_CHECKING

from . import format as fmt
from .dataset_checks import attribute_problems, templates_array_problems
from .http_fetch import Fetcher, FetchError

if TYPE_CHECKING:
    import numpy as np

TEMPLATE_CACHE_SIZE = 128
#: A live .zmetadata is ~20 KB; anything past 16 MiB is not a template dataset's metadata.
MAX_METADATA_BYTES = 16 * 1024 * 1024
#: The probe's x and y are one chunk each in every library written so far; a dataset whose
#: metadata asks for more requests than this is refused instead of fetched.
MAX_PROBE_CHUNKS = 16
#: Largest template a view decodes: 4096 samples x 4096 channels of float32 is far above any
#: probe and far below what a browser tab can hold.
MAX_TEMPLATE_BYTES = 64 * 1024 * 1024


class DataError(ValueError):
    """A dataset's metadata or a chunk cannot be decoded; the message names the object."""


def normalise_source(source: str) -> str:
    """The library root URL with exactly one trailing slash; only http(s) URLs are accepted."""
    source = (source or "").strip()
    parsed = urllib.parse.urlsplit(source)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValueError(f"the source must be an http(s) URL of a library root, not {source!r}")
    return source.rstrip("/") + "/"


def key_url(source: str, key: str) -> str:
    # '+' is percent-encoded: S3 may read a raw '+' in a path as a space.
    return source + urllib.parse.quote(key, safe="/")


class DatasetHandle(SimpleNamespace):
    """An opened dataset: its checked consolidated metadata and the facts views need.

    The probe geometry (``positions``) is read only by :meth:`LibraryReader.positions`, for
    the template view: thumbnails need no probe and no zarr. (A namespace, not a dataclass:
    importing ``dataclasses`` costs ~40 ms of the browser's boot.)
    """

    def __init__(self, *, key: str, metadata: dict, store: dict, sampling_frequency: float, nbefore: int,
                 num_units: int, num_samples: int, num_channels: int, is_in_uv: bool, metadata_bytes: int,
                 chunk_separator: str = ".", array_meta: dict | None = None, probe_keys: tuple = ()):
        super().__init__(key=key, metadata=metadata, store=store, sampling_frequency=sampling_frequency,
                         nbefore=nbefore, num_units=num_units, num_samples=num_samples, num_channels=num_channels,
                         is_in_uv=is_in_uv, metadata_bytes=metadata_bytes, chunk_separator=chunk_separator,
                         array_meta=array_meta, probe_keys=probe_keys, positions=None)


def _chunk_keys_1d(name: str, meta: dict) -> list[str]:
    import numpy as np

    from .chunk_decode import ChunkError, chunk_grid, chunk_key

    try:
        return [chunk_key(name, index, meta) for index in np.ndindex(*chunk_grid(meta, name))]
    except ChunkError as error:
        raise DataError(str(error)) from None


class LibraryReader:
    """Reads one library root over HTTP.

    Parameters
    ----------
    source : str
        http(s) URL of the library root (where ``templates.csv`` is).
    fetcher : Fetcher, optional
        Transport with bounded concurrency and counters.
    """

    def __init__(self, source: str, fetcher: Fetcher | None = None):
        self.source = normalise_source(source)
        self.fetcher = fetcher or Fetcher()
        self._datasets: dict[str, asyncio.Future] = {}
        self._templates: OrderedDict = OrderedDict()

    def url(self, key: str) -> str:
        return key_url(self.source, key)

    async def catalogue_bytes(self) -> bytes:
        return await self.fetcher.fetch(self.url(fmt.CATALOGUE_FILE))

    async def manifest(self) -> dict | None:
        """``library.json`` when the library has one (the live bucket may not)."""
        try:
            data = await self.fetcher.fetch(self.url(fmt.MANIFEST_FILE))
        except FetchError as error:
            if error.kind == "missing":
                return None
            raise
        return self.parse_manifest(data)

    @staticmethod
    def parse_manifest(data: bytes) -> dict | None:
        """``library.json``'s content, or None when it is not a JSON object (then unused)."""
        try:
            manifest = json.loads(data)
        except ValueError:
            return None
        return manifest if isinstance(manifest, dict) else None

    async def dataset(self, key: str) -> DatasetHandle:
        """Open ``key`` once (concurrent callers share the same request)."""
        key = fmt.dataset_key(key)
        if key not in self._datasets:
            self._datasets[key] = asyncio.ensure_future(self._open(key))
        try:
            return await self._datasets[key]
        except BaseException:
            self._datasets.pop(key, None)  # let a later view retry
            raise

    async def _open(self, key: str) -> DatasetHandle:
        import numpy as np

        from .chunk_decode import ChunkError, chunk_grid

        raw = await self.fetcher.fetch(self.url(f"{key}/{fmt.CONSOLIDATED_KEY}"))
        if len(raw) > MAX_METADATA_BYTES:
            raise DataError(f"{key}/.zmetadata is {len(raw)} bytes, more than a template dataset's metadata")
        try:
            metadata = json.loads(raw)["metadata"]
            x_meta = metadata["probe/x/.zarray"]
            y_meta = metadata["probe/y/.zarray"]
            array_meta = metadata["templates_array/.zarray"]
            attrs = metadata.get(".zattrs", {})
            if not all(isinstance(m, dict) for m in (x_meta, y_meta, array_meta, attrs)):
                raise TypeError("an entry is not an object")
        except (ValueError, KeyError, TypeError) as error:
            raise DataError(f"{key}/.zmetadata is not a template dataset's metadata ({error})") from None
        try:
            probe_chunks = chunk_grid(x_meta, "probe/x")[0] + chunk_grid(y_meta, "probe/y")[0]
            chunk_grid(array_meta, "templates_array")
        except (ChunkError, IndexError) as error:
            raise DataError(f"{key}: {error}") from None
        if probe_chunks > MAX_PROBE_CHUNKS:
            raise DataError(f"{key}: the probe geometry claims {probe_chunks} chunks; at most {MAX_PROBE_CHUNKS} "
                            "requests are made for it")
        problems, window = templates_array_problems(key, array_meta)
        if not problems:
            problems = attribute_problems(key, attrs, window[1])
        if problems:
            raise DataError(problems[0])
        units, samples, channels = window
        try:
            nbytes = samples * channels * np.dtype(array_meta.get("dtype")).itemsize
        except TypeError:
            raise DataError(f"{key}: templates_array has dtype {str(array_meta.get('dtype'))[:40]!r}") from None
        if nbytes > MAX_TEMPLATE_BYTES:
            raise DataError(f"{key}: one template would be {nbytes} bytes; the page reads at most {MAX_TEMPLATE_BYTES}")
        sampling_frequency, nbefore = attrs[fmt.ATTR_SAMPLING_FREQUENCY], attrs[fmt.ATTR_NBEFORE]
        separator = array_meta.get("dimension_separator") or "."
        if separator not in (".", "/"):
            raise DataError(f"{key}: unknown dimension_separator {str(separator)[:10]!r}")
        return DatasetHandle(
            key=key,
            metadata=metadata,
            store={fmt.CONSOLIDATED_KEY: raw},
            sampling_frequency=float(sampling_frequency),
            nbefore=int(nbefore),
            num_units=int(units),
            num_samples=int(samples),
            num_channels=int(channels),
            is_in_uv=bool(fmt.in_uv(attrs)),
            metadata_bytes=len(raw),
            chunk_separator=separator,
            array_meta=array_meta,
            probe_keys=tuple(_chunk_keys_1d("probe/x", x_meta) + _chunk_keys_1d("probe/y", y_meta)),
        )

    async def positions(self, key: str) -> np.ndarray:
        """Contact positions (channels, 2) of dataset ``key``, read once with zarr."""
        import numpy as np

        handle = await self.dataset(key)
        if handle.positions is None:
            fetched = await self.fetcher.fetch_many(self.url(f"{handle.key}/{k}") for k in handle.probe_keys)
            store = {fmt.CONSOLIDATED_KEY: handle.store[fmt.CONSOLIDATED_KEY]}
            for k in handle.probe_keys:
                store[k] = fetched[self.url(f"{handle.key}/{k}")]
            # Imported here, not at module import: zarr (with numcodecs) costs ~0.5 s in
            # Pyodide, and the catalogue, queries and thumbnails never need it.
            import zarr

            try:
                group = zarr.open_consolidated(store, mode="r")
                positions = np.column_stack([group["probe"]["x"][:], group["probe"]["y"][:]]).astype(float)
                if positions.shape != (handle.num_channels, 2):
                    raise ValueError(f"{positions.shape[0]} contacts for {handle.num_channels} channels")
            except Exception as error:
                raise DataError(f"{handle.key}: cannot decode the probe geometry ({type(error).__name__}: {error})"
                                ) from None
            handle.positions = positions
        return handle.positions

    async def templates(self, wanted) -> dict:
        """Templates for ``(dataset, template_index)`` pairs, fetched concurrently.

        Returns
        -------
        dict
            ``(dataset_key, index) -> float32 array (samples, channels)``.
        """
        from .chunk_decode import chunk_key

        wanted = [(fmt.dataset_key(d), int(i)) for d, i in wanted]
        missing = [w for w in dict.fromkeys(wanted) if w not in self._templates]
        handles = dict(zip(
            {d for d, _ in missing},
            await asyncio.gather(*(self.dataset(d) for d in {d for d, _ in missing})),
        ))
        # A dataset rewritten in place by maintenance alternates the chunk separator ("." <-> "/")
        # so readers still holding the old metadata keep reading the old chunks.
        keys = {(d, i): chunk_key("templates_array", (i, 0, 0), {"dimension_separator": handles[d].chunk_separator})
                for d, i in missing}
        for d, i in keys:
            units = handles[d].num_units
            if not 0 <= i < units:
                raise DataError(f"{d} has {units} templates; index {i} does not exist (stale catalogue?)")
        urls = {w: self.url(f"{w[0]}/{k}") for w, k in keys.items()}
        fetched = await self.fetcher.fetch_many(urls.values())
        for (d, i), k in keys.items():
            handles[d].store[k] = fetched[urls[(d, i)]]
            self._remember((d, i), self._decode(handles[d], i, k))
        return {w: self._templates[w] for w in wanted}

    def _decode(self, handle: DatasetHandle, index: int, key: str) -> np.ndarray:
        import numpy as np

        from .chunk_decode import ChunkError, decode_chunk

        raw = handle.store.pop(key, None)  # the decoded copy is cached; drop the raw bytes
        try:
            # Not zarr: decode_chunk checks the size before inflating (a zlib bomb is refused).
            chunk = decode_chunk(raw, handle.array_meta, f"{handle.key}/{key}", max_decoded=MAX_TEMPLATE_BYTES)
            return np.asarray(chunk[0], dtype=np.float32)
        except ChunkError as error:
            raise DataError(f"{error}; the chunk is damaged or uses a codec this page cannot decode") from None
        except Exception as error:
            raise DataError(
                f"{handle.key}/{key} is corrupt or uses a codec this page cannot decode "
                f"({type(error).__name__}: {error})"
            ) from None

    def _remember(self, key, template) -> None:
        self._templates[key] = template
        self._templates.move_to_end(key)
        while len(self._templates) > TEMPLATE_CACHE_SIZE:
            self._templates.popitem(last=False)
