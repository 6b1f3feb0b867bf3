"""Pure-Python wheels the offline bundle builds from registry sdists: asciitree and numcodecs.

Wheels are written with ``wheel.wheelfile.WheelFile`` (which writes RECORD), with sorted
entries and a fixed 1980-01-01 time stamp, so the same input always gives the same bytes and
therefore the same sha256 in the lock.

numcodecs: no registry has a Pyodide (wasm32) build, so its wheel holds the sdist's
pure-Python modules and, for each Cython extension, the module of the same name from
``generator/bundle/numcodecs_offline/``: ``blosc.py`` decodes through the WebAssembly c-blosc of npm
numcodecs (see ``blosc``); the others are placeholders that import, register and
report their configuration like the real codecs, and raise when used on data.
"""

from __future__ import annotations

import email.parser
import tarfile
import zipfile
from pathlib import Path, PurePosixPath

from wheel.wheelfile import WheelFile

from .common import BundleError
from .fetch import ASCIITREE_VERSION, NUMCODECS_JS_VERSION, NUMCODECS_VERSION

OFFLINE_MODULES_DIR = Path(__file__).resolve().parent / "numcodecs_offline"
# Shared by the offline modules; not a stand-in for a compiled module.
OFFLINE_SUPPORT_MODULES = ("_unavailable",)

_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def _zip_info(path: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(path, date_time=_ZIP_EPOCH)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    return info


class _ReproducibleWheelFile(WheelFile):
    """WheelFile whose every entry, RECORD included, gets the fixed time stamp and mode."""

    def writestr(self, zinfo_or_arcname, data, compress_type=None):
        if isinstance(zinfo_or_arcname, str):
            zinfo_or_arcname = _zip_info(zinfo_or_arcname)
        super().writestr(zinfo_or_arcname, data, compress_type)


def sdist_files(sdist: Path, project: str, version: str) -> dict[str, bytes]:
    """Regular files of an sdist, keyed by their path below the ``<project>-<version>/`` root."""
    root = f"{project}-{version}/"
    with tarfile.open(sdist) as tar:
        return {member.name[len(root):]: tar.extractfile(member).read()
                for member in tar.getmembers() if member.isfile() and member.name.startswith(root)}


def core_metadata(pkg_info: bytes, summary: str | None = None) -> str:
    """Wheel METADATA (version 2.1) from an sdist's PKG-INFO, keeping the fields installers use."""
    headers = email.parser.BytesHeaderParser().parsebytes(pkg_info)
    lines = ["Metadata-Version: 2.1"]
    for field in ("Name", "Version", "Summary", "Home-page", "Author", "Author-email", "Maintainer-email",
                  "License", "Project-URL", "Classifier", "Requires-Python", "Requires-Dist", "Provides-Extra"):
        values = [summary] if field == "Summary" and summary else headers.get_all(field) or []
        lines += [f"{field}: {' '.join(str(value).split())}" for value in values]
    return "\n".join(lines) + "\n"


def build_pure_wheel(out_dir: Path, name: str, version: str, files: dict[str, bytes], metadata: str) -> Path:
    """Write a reproducible ``py3-none-any`` wheel.

    Parameters
    ----------
    out_dir : Path
        Where to write the wheel.
    name, version : str
        Distribution name and version (the name must be a valid wheel name part).
    files : dict of str to bytes
        Package files keyed by their path inside the wheel; dist-info files other than
        METADATA, WHEEL and RECORD (e.g. a licence) may be included.
    metadata : str
        The METADATA text.

    Returns
    -------
    Path
        The wheel written.
    """
    dist_info = f"{name}-{version}.dist-info"
    wheel_text = ("Wheel-Version: 1.0\nGenerator: generator.pyodide_bundle\n"
                  "Root-Is-Purelib: true\nTag: py3-none-any\n")
    entries = dict(sorted(files.items()))
    entries[f"{dist_info}/METADATA"] = metadata.encode()
    entries[f"{dist_info}/WHEEL"] = wheel_text.encode()
    wheel = Path(out_dir) / f"{name}-{version}-py3-none-any.whl"
    with _ReproducibleWheelFile(wheel, "w") as archive:
        for path, data in entries.items():
            archive.writestr(path, data)
    return wheel


def build_asciitree_wheel(sdist: Path, out: Path) -> Path:
    """Pack the asciitree sdist (PyPI has no wheel of it) as a pure-Python wheel in `out`."""
    sources = sdist_files(sdist, "asciitree", ASCIITREE_VERSION)
    files = {path: data for path, data in sources.items()
             if path.startswith("asciitree/") and path.endswith(".py")}
    files[f"asciitree-{ASCIITREE_VERSION}.dist-info/LICENSE"] = sources["LICENSE"]
    return build_pure_wheel(out, "asciitree", ASCIITREE_VERSION, files, core_metadata(sources["PKG-INFO"]))


def offline_modules() -> dict[str, bytes]:
    """The stand-ins for numcodecs' compiled modules, by module name (``blosc``, ``zstd``, ...)."""
    return {path.stem: path.read_bytes() for path in sorted(OFFLINE_MODULES_DIR.glob("*.py"))
            if path.stem not in OFFLINE_SUPPORT_MODULES}


def numcodecs_wheel_files(sources: dict[str, bytes]) -> dict[str, bytes]:
    """The files of the pure-Python numcodecs wheel, from the files of its sdist.

    All top-level ``numcodecs/*.py`` modules are kept (tests are not); each Cython module
    (``numcodecs/*.pyx``) is replaced by its module from ``numcodecs_offline/``, plus the
    support modules they share.

    Parameters
    ----------
    sources : dict of str to bytes
        The sdist's files keyed by path below its root.

    Returns
    -------
    dict of str to bytes
        Wheel paths to contents, without dist-info.

    Raises
    ------
    BundleError
        If the sdist's compiled modules differ from the stand-ins available, or the
        generated ``numcodecs/version.py`` is missing.
    """
    stand_ins = offline_modules()
    top_level = {path: data for path, data in sources.items()
                 if path.startswith("numcodecs/") and path.count("/") == 1}
    compiled = {PurePosixPath(path).stem for path in top_level if path.endswith(".pyx")}
    if compiled != set(stand_ins):
        raise BundleError(f"numcodecs sdist compiled modules {sorted(compiled)} do not match the stand-ins "
                          f"{sorted(stand_ins)} in {OFFLINE_MODULES_DIR}")
    files = {path: data for path, data in top_level.items() if path.endswith(".py")}
    if "numcodecs/version.py" not in files:
        raise BundleError("numcodecs sdist lacks numcodecs/version.py (written by setuptools-scm)")
    for module in OFFLINE_SUPPORT_MODULES:
        files[f"numcodecs/{module}.py"] = (OFFLINE_MODULES_DIR / f"{module}.py").read_bytes()
    for module, source in stand_ins.items():
        files[f"numcodecs/{module}.py"] = source
    return files


def build_numcodecs_wheel(sdist: Path, out: Path) -> Path:
    """Pack numcodecs' pure-Python modules and the offline stand-ins as a ``py3-none-any`` wheel in `out`."""
    sources = sdist_files(sdist, "numcodecs", NUMCODECS_VERSION)
    files = numcodecs_wheel_files(sources)
    files[f"numcodecs-{NUMCODECS_VERSION}.dist-info/LICENSE.txt"] = sources["LICENSE.txt"]
    summary = (f"numcodecs pure-Python modules for the offline Pyodide bundle; Blosc decodes through the "
               f"WebAssembly c-blosc of npm numcodecs {NUMCODECS_JS_VERSION} registered by the page, Zstd, LZ4, "
               "VLen and the other compiled codecs are placeholders that raise when used")
    return build_pure_wheel(out, "numcodecs", NUMCODECS_VERSION, files,
                            core_metadata(sources["PKG-INFO"], summary=summary))
