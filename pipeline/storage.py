"""The one seam between the pipeline and where the library lives (a local folder or S3).

Everything takes an fsspec URL (``/data/lib``, ``file:///data/lib``, ``s3://bucket/prefix``),
so the writer, the catalogue and the validator never know which backend they talk to. S3
endpoint and credentials come from the standard AWS variables (``AWS_ENDPOINT_URL``,
``AWS_ACCESS_KEY_ID``...), which s3fs/botocore read themselves.
"""

from __future__ import annotations

import datetime
import os
import posixpath
import tempfile
import time

import fsspec

from templatelib import format as fmt


class LibraryStorage:
    """A library root: the datasets, ``templates.csv`` and ``library.json`` below one URL.

    Parameters
    ----------
    root : str
        Local path or fsspec URL of the library root.
    storage_options : dict, optional
        Extra fsspec options. On S3, objects are written ``public-read`` by default because the
        public client reads anonymously (anonymous HEAD needs the object ACL).
    """

    def __init__(self, root: str, storage_options: dict | None = None):
        self.root = str(root)
        options = dict(storage_options or {})
        protocol = fsspec.core.split_protocol(self.root)[0] or "file"
        if protocol in ("s3", "s3a"):
            options.setdefault("s3_additional_kwargs", {"ACL": "public-read"})
        self.fs, path = fsspec.core.url_to_fs(self.root, **options)
        self.path = path.rstrip("/")
        self.is_local = protocol == "file"

    def __repr__(self) -> str:
        return f"LibraryStorage({self.root!r})"

    def key_path(self, key: str) -> str:
        """Backend path of ``key`` (relative to the root, ``/``-separated)."""
        return posixpath.join(self.path, key) if key else self.path

    def url(self, key: str = "") -> str:
        """Full URL of ``key``, for messages and for zarr/pandas readers."""
        return self.fs.unstrip_protocol(self.key_path(key)) if not self.is_local else self.key_path(key)

    def mapper(self, key: str):
        """A zarr-compatible mutable mapping rooted at ``key`` (a dataset folder)."""
        return self.fs.get_mapper(self.key_path(key))

    def exists(self, key: str) -> bool:
        return self.fs.exists(self.key_path(key))

    def root_exists(self) -> bool:
        return self.fs.exists(self.path)

    def top_level_names(self) -> list[str]:
        """Names directly under the root (objects and prefixes); empty if the root is absent."""
        if not self.root_exists():
            return []
        self.fs.invalidate_cache()
        return sorted(posixpath.basename(p.rstrip("/")) for p in self.fs.ls(self.path, detail=False))

    def is_empty(self) -> bool:
        return not self.top_level_names()

    def dataset_names(self) -> list[str]:
        """Every ``*.zarr`` entry under the root, complete or not, sorted."""
        return [n for n in self.top_level_names() if n.endswith(fmt.DATASET_SUFFIX)]

    def is_complete(self, dataset: str) -> bool:
        """A dataset counts as present only once its consolidated metadata exists (written last)."""
        return self.exists(posixpath.join(fmt.dataset_key(dataset), fmt.CONSOLIDATED_KEY))

    def complete_datasets(self) -> list[str]:
        return [n for n in self.dataset_names() if self.is_complete(n)]

    def age_seconds(self, key: str) -> float:
        """Seconds since ``key`` was last written (local mtime, S3 ``LastModified``)."""
        self.fs.invalidate_cache()
        info = self.fs.info(self.key_path(key))
        stamp = info.get("mtime", info.get("LastModified", info.get("created")))
        if isinstance(stamp, datetime.datetime):
            stamp = stamp.timestamp()
        return max(0.0, time.time() - float(stamp)) if stamp is not None else float("inf")

    def read_bytes(self, key: str) -> bytes:
        return self.fs.cat_file(self.key_path(key))

    def size(self, key: str) -> int:
        """Size of object ``key`` in bytes, so callers can refuse oversized objects unread."""
        return int(self.fs.size(self.key_path(key)))

    def object_sizes(self, prefix: str) -> dict[str, int]:
        """Every object below ``prefix`` (recursively) -> its size, keys relative to ``prefix``.

        One recursive listing (on S3 a paginated LIST without delimiter, 1000 keys per request),
        instead of one HEAD per object.
        """
        base = self.key_path(prefix).rstrip("/") + "/"
        self.fs.invalidate_cache()
        found = self.fs.find(base, detail=True)
        return {
            path[len(base):]: int(info.get("size") or 0)
            for path, info in found.items()
            if path.startswith(base) and info.get("type", "file") != "directory"
        }

    def read_many(self, keys: list[str]) -> dict[str, bytes | Exception]:
        """Read several objects, concurrently where the backend can (s3fs); errors are returned."""
        paths = {self.key_path(k): k for k in keys}
        got = self.fs.cat(list(paths), on_error="return")
        return {paths[p]: v for p, v in got.items()}

    def write_bytes(self, key: str, data: bytes) -> None:
        """Write one object so that readers see the old bytes or the new ones, never a mix.

        Locally: a temporary file in the same folder, then ``os.replace`` (atomic on POSIX).
        On S3 a single PUT is already atomic: the object appears whole or not at all.
        """
        path = self.key_path(key)
        if self.is_local:
            folder = os.path.dirname(path)
            os.makedirs(folder, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix="-" + os.path.basename(path))
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                os.chmod(tmp, 0o644)
                os.replace(tmp, path)
            except BaseException:
                if os.path.exists(tmp):
                    os.unlink(tmp)
                raise
        else:
            self.fs.pipe_file(path, data)

    def remove(self, key: str) -> None:
        """Delete ``key`` and everything below it; absent keys are fine."""
        path = self.key_path(key)
        if self.fs.exists(path):
            self.fs.rm(path, recursive=True)
        self.fs.invalidate_cache()

    def make_root(self) -> None:
        if self.is_local:
            os.makedirs(self.path, exist_ok=True)
