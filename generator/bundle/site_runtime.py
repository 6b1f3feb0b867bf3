"""The Pyodide runtime a site hosts (``build --pyodide local``): only the files the page loads.

The offline bundle (:mod:`generator.pyodide_bundle`, ~76 MB) holds everything the tests and
the notebooks-style tools may load (scipy, matplotlib, pyarrow, ...). A site copies only:

* the boot files :data:`~generator.bundle.common.BOOT_FILES` (what ``loadPyodide`` fetches);
* the package files of the lock closure of :data:`generator.build.PAGE_PACKAGES` (followed
  through the bundle's ``pyodide-lock.json`` with ``pyodide-lock``, so the page's list of
  packages is written down once);
* the WebAssembly Blosc decoder (``numcodecs-js/``) and its licence;
* a ``pyodide-lock.json`` restricted to those packages: Pyodide reads the lock at boot and
  resolves ``loadPackage`` names through it; a package outside the closure then fails with
  Pyodide's own "No known package" error instead of a 404.

Every copied file is the bundle's file byte for byte (the benchmark and the browser tests
measure the same bytes the deploy serves); only the lock is written anew, from the
bundle's own entries.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from .blosc import JS_DIR, blosc_module_files
from .common import BOOT_FILES, LOCK_FILE, BundleError
from .lock import check_lock, lock_closure, read_lock, restricted_lock, write_lock

#: Besides the decoder's modules, its licence travels with it (c-blosc and numcodecs.js are MIT/BSD).
BLOSC_EXTRA_FILES = (f"{JS_DIR}/LICENSE",)


def runtime_files(bundle: Path, packages) -> tuple[list[str], object]:
    """The bundle-relative files a site hosts for `packages`, and the restricted lock.

    Parameters
    ----------
    bundle : Path
        A complete offline bundle.
    packages : iterable of str
        The packages the page loads (their dependencies are added through the lock).

    Returns
    -------
    (list of str, PyodideLockSpec)
        The files to copy (without the lock, which is written from the second item), and the
        lock restricted to the closure.

    Raises
    ------
    BundleError
        If a package or dependency is not in the bundle's lock, or a file is missing.
    """
    bundle = Path(bundle)
    lock = read_lock(bundle / LOCK_FILE)
    keys = lock_closure(lock, packages)
    hosted = restricted_lock(lock, keys)
    check_lock(hosted)
    files = [*BOOT_FILES, *(hosted.packages[key].file_name for key in keys), *blosc_module_files(),
             *BLOSC_EXTRA_FILES]
    missing = [name for name in files if not (bundle / name).is_file()]
    if missing:
        raise BundleError(f"{bundle} lacks {', '.join(missing)}")
    return files, hosted


def copy_site_runtime(bundle: Path, dest: Path, packages) -> list[str]:
    """Copy the runtime for `packages` from `bundle` into `dest` (created); return the files written.

    Parameters
    ----------
    bundle : Path
        A complete offline bundle.
    dest : Path
        The site's ``pyodide/`` folder; must not exist yet.
    packages : iterable of str
        The packages the page loads.

    Returns
    -------
    list of str
        The ``dest``-relative paths written, the lock included.
    """
    files, hosted = runtime_files(bundle, packages)
    dest = Path(dest)
    dest.mkdir(parents=True)
    for name in files:
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(Path(bundle) / name, target)
    write_lock(dest, hosted)
    return [*files, LOCK_FILE]
