"""The Web Worker's entry point: one JSON call in, one JSON answer out.

The worker calls :func:`call` for every UI event; only the methods in :data:`METHOD_GROUPS`
can be reached, whatever the message says.

The page starts in stages, and each method belongs to the first stage that can run it
(``generator/build.py`` hands these groups and packages to the worker through the page config,
so the worker never lists them itself):

``boot``
    the runtime and this wheel, no Pyodide package at all (numpy's extension module alone is
    3.6 MB, compiled from bytes on every visit: no code cache ever applies to it);
``core``
    plus the catalogue as standard-library ``array`` columns (:mod:`column_table`): queries,
    sorting, paging, the basket's IDs: "N templates";
``arrays``
    plus numpy, loaded in the background once the catalogue is queryable: the table switches
    to numpy columns (:func:`stage_loaded`), a query doing arithmetic on a column waits for it
    (:class:`~templatelib.column_arrays.NeedsNumpy`), and thumbnails are drawn from template
    chunks when a library has no previews;
``view``
    plus zarr (small): the template view, which reads the probe geometry with it, and "Similar
    templates" (numpy only: ranking by the previews, and the user's own waveform file);
``full``
    plus pandas, loaded right after: the snippet, the citation, the selection's csv and the
    hybrid preview (the selection's probe groups come from the snippet's pandas code).

Stages after ``core`` load in the order written here.
"""

from __future__ import annotations

import json

from .column_arrays import NeedsNumpy
from .zarr_reader import LibraryReader

METHOD_GROUPS = {
    "boot": (),
    "core": ("load", "query", "known_ids", "stats"),
    "arrays": ("preview_rows",),
    "view": ("view", "similar", "own_waveform"),
    "full": ("snippet", "cite", "selection_csv", "basket_groups", "download_plan", "download_step",
             "download_file", "hybrid_preview"),
}
#: The Pyodide packages each stage adds (the page's wheel comes with ``boot``).
GROUP_PACKAGES = {"boot": (), "core": (), "arrays": ("numpy",), "view": ("zarr",), "full": ("pandas",)}
#: The stage that brings numpy: what a query waiting for numpy waits for.
NUMPY_STAGE = next(group for group, packages in GROUP_PACKAGES.items() if "numpy" in packages)
METHODS = frozenset(m for group in ("core", "view", "full") for m in METHOD_GROUPS[group])
#: Methods that need no catalogue (the reader is enough).
EARLY_METHODS = frozenset(METHOD_GROUPS["arrays"])
_state: dict = {}


def page_packages() -> tuple:
    """Every Pyodide package the page loads, in the order it loads them."""
    return tuple(p for group in METHOD_GROUPS for p in GROUP_PACKAGES[group])


def start(source: str) -> None:
    """Point the app at ``source``; raises ValueError for anything but an http(s) URL.

    Imports nothing heavy: no package (numpy, zarr, pandas) is installed at this stage.
    """
    _state["reader"] = LibraryReader(source)
    _state["handed"] = {}


def provide(csv, manifest, manifest_missing: bool = False, compact=None) -> None:
    """Take what the UI thread already fetched, so nothing is fetched twice.

    ``csv``, ``manifest`` and ``compact`` (the compact catalogue) are bytes-like or None
    (None: fetch it here when needed, and report in words why it cannot be had).
    """
    as_bytes = (lambda v: None if v is None else bytes(v.to_py() if hasattr(v, "to_py") else v))  # noqa: E731
    _state["handed"] = {"catalogue": as_bytes(csv), "manifest": as_bytes(manifest),
                        "manifest_missing": bool(manifest_missing), "compact": as_bytes(compact)}


def _browser():
    if "browser" not in _state:
        from .app import TemplateBrowser

        _state["browser"] = TemplateBrowser(reader=_state["reader"], **_state.pop("handed", {}))
    return _state["browser"]


def stage_loaded(name: str) -> None:
    """The worker installed stage ``name``'s packages: use them (numpy: the catalogue's
    columns become numpy arrays, so queries at 100,000 rows stay within their budget)."""
    if "numpy" in GROUP_PACKAGES.get(name, ()) and "browser" in _state:
        _state["browser"].use_numpy()


async def _early(method: str, args: dict):
    from .preview import previews_from_chunks

    if method == "preview_rows":
        return await previews_from_chunks(_state["reader"], args.get("rows"))
    raise ValueError(f"unknown method {method!r}")


async def call(method: str, args_json: str = "{}") -> str:
    """Run ``method`` with keyword arguments from ``args_json``; errors come back as data."""
    from .app import error_payload

    try:
        args = json.loads(args_json or "{}")
        if not isinstance(args, dict):
            raise ValueError("the call's arguments must be a JSON object")
        if method in EARLY_METHODS:
            return json.dumps({"ok": True, "result": await _early(method, args)})
        if method not in METHODS:
            raise ValueError(f"unknown method {method!r}")
        result = getattr(_browser(), method)(**args)
        if hasattr(result, "__await__"):
            result = await result
        return json.dumps({"ok": True, "result": result})
    except NeedsNumpy as error:  # the worker asks again once that stage is installed
        return json.dumps({"ok": False, "error": {"kind": "stage", "stage": NUMPY_STAGE, "message": str(error)}})
    except Exception as error:  # every failure reaches the user as words, never a dead page
        return json.dumps({"ok": False, "error": error_payload(error)})
