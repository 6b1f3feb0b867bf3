"""The bundle's ``pyodide-lock.json``: read, restrict, extend, check and write it.

Uses ``pyodide-lock`` (the Pyodide project's pydantic model of the lock, which forbids
unknown fields, so a lock of another format fails loudly) and ``packaging`` for canonical
names and wheel file names.
"""

from __future__ import annotations

from pathlib import Path

from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from pyodide_lock import PackageSpec, PyodideLockSpec

from .common import LOCK_FILE, BundleError, sha256_file
from .pin import PYODIDE_VERSION


def read_lock(path: Path, version: str = PYODIDE_VERSION) -> PyodideLockSpec:
    """Parse a ``pyodide-lock.json`` and check that it belongs to `version`.

    Raises
    ------
    BundleError
        If the file does not parse as a lock, or is for another Pyodide version.
    """
    try:
        lock = PyodideLockSpec.from_json(Path(path))
    except (OSError, ValueError) as exc:
        raise BundleError(f"{path} is not a readable pyodide-lock.json: {exc}") from exc
    if lock.info.version != version:
        raise BundleError(f"{path} is for Pyodide {lock.info.version}, expected {version}")
    return lock


def restricted_lock(official_lock: PyodideLockSpec, keys: list[str]) -> PyodideLockSpec:
    """The official lock with only the given packages (``info`` kept as is).

    Parameters
    ----------
    official_lock : PyodideLockSpec
        The official lock.
    keys : list of str
        Lock keys of the packages present in the bundle.

    Returns
    -------
    PyodideLockSpec
        A new lock.
    """
    return PyodideLockSpec(info=official_lock.info.model_copy(deep=True),
                           packages={key: official_lock.packages[key].model_copy(deep=True) for key in sorted(keys)})


def add_wheel_to_lock(lock: PyodideLockSpec, wheel_path: Path, name: str, depends: list[str],
                      imports: list[str]) -> PyodideLockSpec:
    """Return a copy of `lock` with an entry for a pure-Python wheel.

    The entry refers to the wheel by file name, so the wheel must be served next to the
    lock file (or under the ``indexURL`` Pyodide boots from).

    Parameters
    ----------
    lock : PyodideLockSpec
        A lock; it is not modified.
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
    PyodideLockSpec
        The new lock.

    Raises
    ------
    ValueError
        If a dependency is not in the lock or the file is not a wheel.
    """
    wheel_path = Path(wheel_path)
    try:
        _, version, _, _ = parse_wheel_filename(wheel_path.name)
    except InvalidWheelFilename as exc:
        raise ValueError(f"{wheel_path.name} is not a wheel file name") from exc
    key = canonicalize_name(name)
    dependencies = [canonicalize_name(dep) for dep in depends]
    missing = [dep for dep in dependencies if dep not in lock.packages]
    if missing:
        raise ValueError(f"{key} depends on {', '.join(missing)}, which the lock does not have")
    new_lock = lock.model_copy(deep=True)
    new_lock.packages[key] = PackageSpec(
        name=key, version=str(version), file_name=wheel_path.name, install_dir="site",
        sha256=sha256_file(wheel_path), package_type="package", imports=list(imports),
        depends=dependencies, unvendored_tests=False,
    )
    return new_lock


def check_lock_closure(lock: PyodideLockSpec) -> None:
    """Fail unless every dependency of every lock entry is itself in the lock.

    Raises
    ------
    BundleError
        Naming the packages whose dependencies are missing.
    """
    keys = {canonicalize_name(key) for key in lock.packages}
    broken = {key: missing for key, spec in lock.packages.items()
              if (missing := [d for d in spec.depends if canonicalize_name(d) not in keys])}
    if broken:
        raise BundleError(f"lock entries with missing dependencies: {broken}")


def check_lock(lock: PyodideLockSpec) -> None:
    """Closure plus pyodide-lock's own check that wheel names and versions match their entries."""
    check_lock_closure(lock)
    try:
        lock.check_wheel_filenames()
    except ValueError as exc:
        raise BundleError(str(exc)) from exc


def write_lock(out: Path, lock: PyodideLockSpec) -> Path:
    """Write `lock` as ``pyodide-lock.json`` in `out` and return its path."""
    path = Path(out) / LOCK_FILE
    lock.to_json(path, indent=1)
    return path


def lock_closure(lock: PyodideLockSpec, names) -> list[str]:
    """The lock keys of `names` and of everything they depend on, through the lock's ``depends``.

    Parameters
    ----------
    lock : PyodideLockSpec
        A lock.
    names : iterable of str
        Package names as ``loadPackage`` takes them (normalised here).

    Returns
    -------
    list of str
        The lock keys, sorted.

    Raises
    ------
    BundleError
        If a name or a dependency is not in the lock.
    """
    by_name = {canonicalize_name(key): key for key in lock.packages}
    found: set[str] = set()
    pending = [canonicalize_name(name) for name in names]
    while pending:
        name = pending.pop()
        key = by_name.get(name)
        if key is None:
            raise BundleError(f"package {name!r} is not in the lock")
        if key not in found:
            found.add(key)
            pending.extend(canonicalize_name(dep) for dep in lock.packages[key].depends)
    return sorted(found)
