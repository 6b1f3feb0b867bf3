"""The Web Worker's entry point: one JSON call in, one JSON answer out.

The worker calls :func:`call` for every UI event; only the methods in ``METHODS`` can be
reached, whatever the message says.
"""

from __future__ import annotations

import json

from .zarr_reader import LibraryReader

METHODS = frozenset({"load", "query", "view", "snippet", "selection_csv", "known_ids", "stats", "cite",
                     "basket_groups", "download_plan", "download_step", "download_file"})
#: Methods that need no pandas (they run while pandas is still loading).
EARLY_METHODS = frozenset({"preview_rows"})
_state: dict = {}


def start(source: str) -> None:
    """Point the app at ``source``; raises ValueError for anything but an http(s) URL.

    Imports nothing heavy: pandas is imported by the first pandas method (``load``).
    """
    _state["reader"] = LibraryReader(source)
    _state["handed"] = {}


def provide(csv, manifest, manifest_missing: bool = False) -> None:
    """Take what the UI thread already fetched, so the catalogue is not fetched twice.

    ``csv`` and ``manifest`` are bytes-like or None (None: fetch it here, and report in words
    why it cannot be had).
    """
    as_bytes = (lambda v: None if v is None else bytes(v.to_py() if hasattr(v, "to_py") else v))  # noqa: E731
    _state["handed"] = {"catalogue": as_bytes(csv), "manifest": as_bytes(manifest),
                        "manifest_missing": bool(manifest_missing)}


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


def _error_payload(error: BaseException) -> dict:
    from .http_fetch import FetchError
    from .zarr_reader import DataError

    if isinstance(error, FetchError):
        return error.as_dict()
    kind = "data" if isinstance(error, DataError) else "input" if isinstance(error, (ValueError, KeyError)) else "internal"
    message = str(error).strip("'\"") if kind != "internal" else f"{type(error).__name__}: {error}"
    return {"kind": kind, "message": message}


async def call(method: str, args_json: str = "{}") -> str:
    """Run ``method`` with keyword arguments from ``args_json``; errors come back as data."""
    if method in EARLY_METHODS:
        try:
            args = json.loads(args_json or "{}")
            return json.dumps({"ok": True, "result": await _early(method, args if isinstance(args, dict) else {})})
        except Exception as error:  # words for the user, never a dead page
            return json.dumps({"ok": False, "error": _error_payload(error)})
    from .app import error_payload

    try:
        if method not in METHODS:
            raise ValueError(f"unknown method {method!r}")
        browser = _browser()
        result = getattr(browser, method)(**json.loads(args_json or "{}"))
        if hasattr(result, "__await__"):
            result = await result
        return json.dumps({"ok": True, "result": result})
    except Exception as error:  # every failure reaches the user as words, never a dead page
        return json.dumps({"ok": False, "error": error_payload(error)})
