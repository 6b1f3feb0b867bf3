"""Py-compile the bundle's heaviest wheels, so the page does not compile pandas at every visit.

The official Pyodide 0.27.7 wheels carry ``.py`` sources only, and Pyodide's in-memory file
system forgets the bytecode it compiles, so every page load compiles numpy and pandas again:
in this project's measurements ``import pandas`` takes 1.9 s from sources and 0.6 s from
bytecode (Node, 2-core machine). Here each ``.py`` of the page's heavy wheels becomes an
unchecked hash-based ``.pyc`` in the module's own place (what ``pyodide py-compile`` does;
that command needs a host CPython 3.12, so the bundle's own interpreter does the compiling,
in Node: ``pycompile_wheels.mjs``). File names stay; the bundle's lock records the new sha256,
and its manifest lists what was compiled.

Only wheels that run nowhere but in Pyodide are compiled: zarr, numcodecs and asciitree are
also imported by host-side tests from the bundle, and are small.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from pyodide_lock import PyodideLockSpec

from .common import BundleError, log, sha256_file

#: What the page imports on its way to "queryable", by lock name.
PY_COMPILED_PACKAGES = ("numpy", "pandas", "python-dateutil", "pytz", "six")
SCRIPT = Path(__file__).with_name("pycompile_wheels.mjs")
#: Compiling ~700 modules in WebAssembly takes seconds; a hung Node must not hang the build.
TIMEOUT_S = 600


def py_compile_wheels(out: Path, lock: PyodideLockSpec) -> tuple[PyodideLockSpec, list[str]]:
    """Replace the wheels of :data:`PY_COMPILED_PACKAGES` in ``out`` by py-compiled copies.

    ``out`` must already hold the runtime and a lock file Pyodide can boot with.

    Returns
    -------
    (PyodideLockSpec, list of str)
        The lock with the new sha256 sums, and the file names compiled (empty without Node:
        the bundle then works as before, only slower to import).
    """
    node = shutil.which("node")
    if node is None:
        log("node not found: wheels stay uncompiled (the page imports pandas ~1 s slower)")
        return lock, []
    names = [lock.packages[key].file_name for key in PY_COMPILED_PACKAGES if key in lock.packages]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "in").mkdir()
        (work / "out").mkdir()
        for name in names:
            shutil.copyfile(out / name, work / "in" / name)
        try:
            subprocess.run([node, str(SCRIPT), str(out), str(work), *names], check=True, capture_output=True,
                           text=True, timeout=TIMEOUT_S)
        except subprocess.CalledProcessError as error:
            raise BundleError(f"py-compiling wheels in Pyodide failed: {error.stderr[-2000:]}") from None
        except subprocess.TimeoutExpired:
            raise BundleError(f"py-compiling wheels in Pyodide took more than {TIMEOUT_S} s") from None
        new_lock = lock.model_copy(deep=True)
        for key in PY_COMPILED_PACKAGES:
            if key in new_lock.packages:
                name = new_lock.packages[key].file_name
                shutil.copyfile(work / "out" / name, out / name)
                new_lock.packages[key].sha256 = sha256_file(out / name)
    log(f"py-compiled {', '.join(names)}")
    return new_lock, names
