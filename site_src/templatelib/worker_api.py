"""The Web Worker's entry point: one JSON call in, one JSON answer out.

The worker calls :func:`call` for every UI event; only the methods in :data:`METHOD_GROUPS`
can be reached, whatever the message says.

The page starts in stages, and each method belongs to the first stage that can run it
(``generator/build.py`` hands these groups and packages to the worker through the page config,
so the worker never lists them itself):

``boot``
    the runtime, numpy and this wheel: enough to draw thumbnails from template chunks;
``core``
    plus the catalogue as numpy columns (:mod:`column_table`): queries, sorting, paging;
``view``
    plus zarr (small), loaded in the background once the catalogue is queryable: the
    template view, which reads the probe geometry with it, and "Similar templates" (numpy
    only: ranking by the previews, and the user's own waveform file);
``full``
    plus pandas, loaded right after: the snippet, the citation, the selection's csv and the
    hybrid preview (the selection's probe groups come from the snippet's pandas code).

Stages after ``core`` load in the order written here.
"""

from __future__ import annotations

import json

from .zarr_reader import LibraryReader

METHOD_GROUPS = {
    "boot": ("preview_rows",),
    "core": ("load", "query", "known_ids", "stats"),
    "view": ("view", "similar", "own_waveform"),
    "full": ("snippet", "cite", "selection_csv", "basket_groups", "download_plan", "download_step",
             "download_file", "hybrid_preview"),
}
#: The Pyodide packages each stage adds (the page's wheel comes with ``boot``).
GROUP_PACKAGES = {"boot": ("numpy",), "core": (), "view": ("zarr",), "full": ("pandas",)}
METHODS = frozenset(m for group in ("core", "view", "full") for m in METHOD_GROUPS[group])
#: Methods that need no catalogue (they run while it is still loading).
EARLY_METHODS = frozenset(METHOD_GROUPS["boot"])
_state: dict = {}


def page_packages() -> tuple:
    """Every Pyodide package the page loads, in the order it loads them."""
    return tuple(p for group in METHOD_GROUPS for p in GROUP_PACKAGES[group])


def start(source: str) -> None:
    """Point the app at ``source``; raises ValueError for anything but an http(s) URL.

    Imports nothing heavy: neither pandas nor zarr is installed at this stage.
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
    except Exception as error:  # every failure reaches the user as words, never a dead page
        return json.dumps({"ok": False, "error": error_payload(error)})
