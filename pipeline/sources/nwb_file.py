"""Opening an NWB file and finding what is in it: HDF5 metadata only, no samples.

Local paths and ``http(s)://`` URLs (streamed with remfile) are read the same way. Every
refusal is a :class:`~pipeline.sources.errors.SourceError` naming the file.
"""

from __future__ import annotations

import contextlib
import posixpath
import re
from pathlib import Path

from .errors import SourceError

ELECTRODES_PATH = "general/extracellular_ephys/electrodes"
UNITS_PATH = "units"

#: What h5py raises on a damaged file: a bad heap or B-tree signature (RuntimeError), an
#: undecodable or unreadable block (OSError), an object whose link is broken (KeyError).
H5_DAMAGE = (OSError, RuntimeError, KeyError)


def _damaged(path_or_url, error: BaseException) -> SourceError:
    detail = " ".join(str(error).split())[:300]
    return SourceError(f"{path_or_url}: the file is damaged or not the NWB it claims to be "
                       f"({type(error).__name__}: {detail})")


def is_url(path_or_url) -> bool:
    """True for an ``http(s)://`` address (streamed with remfile), False for a local path."""
    return str(path_or_url).lower().startswith(("http://", "https://"))


def _open_handle(path_or_url):
    """An ``h5py.File`` on a local path or a remfile stream; SourceError when it cannot be."""
    import h5py

    source = str(path_or_url)
    if "://" in source and not is_url(source):
        raise SourceError(f"{source}: only local paths and http(s):// URLs can be read (use the https form of S3 URLs)")
    if is_url(source):
        import remfile

        try:
            target = remfile.File(source)
        except Exception as error:
            raise SourceError(f"cannot open {source}: {error}") from error
    else:
        target = Path(source)
        if not target.exists():
            raise SourceError(f"{source}: no such file")
        if target.is_dir():
            raise SourceError(f"{source}: is a folder, not an NWB file")
    try:
        return h5py.File(target, "r")
    except OSError as error:
        if "signature" in str(error):  # HDF5's own words for "these bytes are not HDF5"
            raise SourceError(f"{source}: not an NWB file (not HDF5)") from error
        raise SourceError(f"cannot open {source}: {error}") from error


@contextlib.contextmanager
def open_nwb(path_or_url):
    """Open an NWB file for metadata reads; refuses HDF5 files that are not NWB.

    Yields
    ------
    h5py.File
    """
    handle = _open_handle(path_or_url)
    try:
        if "nwb_version" not in handle.attrs:
            raise SourceError(f"{path_or_url}: an HDF5 file but not NWB (no nwb_version attribute)")
        yield handle
    finally:
        handle.close()


def _text(value) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def electrical_series_paths(handle) -> list[str]:
    """Paths of every ``ElectricalSeries`` in the file (not its subtypes), sorted."""
    import h5py

    found = set()

    def visit(_name, item):
        if isinstance(item, h5py.Group) and _text(item.attrs.get("neurodata_type", "")) == "ElectricalSeries":
            found.add(item.name.lstrip("/"))

    for root in ("acquisition", "processing"):
        if root in handle:
            handle[root].visititems(visit)
    return sorted(found)


def raw_series(paths: list[str]) -> list[str]:
    """The series that can hold spikes: IBL's LF band (``...Lf``, ``LFP``) is left out when others exist."""
    def is_lfp(path):
        name = posixpath.basename(path)
        return bool(re.search(r"(lfp|Lf\d*$)", name, flags=re.IGNORECASE))

    kept = [p for p in paths if not is_lfp(p)]
    return kept or list(paths)


def choose_series(paths: list[str], requested: str | None, source: str) -> str:
    """The one ``ElectricalSeries`` to read: ``requested`` (a path or a name), or the only raw one."""
    if not paths:
        raise SourceError(f"{source}: the NWB file has no ElectricalSeries (no raw extracellular data)")
    if requested:
        matches = [p for p in paths if p == requested.strip("/") or posixpath.basename(p) == requested]
        if not matches:
            raise SourceError(f"{source}: no ElectricalSeries {requested!r}; the file has {', '.join(paths)}")
        return matches[0]
    candidates = raw_series(paths)
    if len(candidates) > 1:
        raise SourceError(
            f"{source}: several ElectricalSeries ({', '.join(candidates)}); choose one with --series"
        )
    return candidates[0]


def require_tables(handle, source: str) -> None:
    """Refuse a file without the electrodes table or the units table."""
    if ELECTRODES_PATH not in handle:
        raise SourceError(f"{source}: the NWB file has no electrodes table ({ELECTRODES_PATH})")
    if UNITS_PATH not in handle:
        raise SourceError(f"{source}: the NWB file has no units table (/{UNITS_PATH}): nothing to average")
    if "spike_times" not in handle[UNITS_PATH] or "spike_times_index" not in handle[UNITS_PATH]:
        raise SourceError(f"{source}: the units table has no spike_times")
    if "id" not in handle[UNITS_PATH]:
        raise SourceError(f"{source}: the units table has no id column")
