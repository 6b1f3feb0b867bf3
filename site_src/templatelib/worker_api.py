"""The Web Worker's entry point: one JSON call in, one JSON answer out.

The worker calls :func:`call` for every UI event; only the methods in ``METHODS`` can be
reached, whatever the message says.
"""

from __future__ import annotations

import json

from .zarr_reader import LibraryReader

METHODS = frozenset({"load", "query", "thumbnails", "view", "snippet", "selection_csv", "known_ids", "stats"})
_state: dict = {}


def start(source: str) -> None:
    """Point the app at ``source``; raises ValueError for anything but an http(s) URL.

    Imports nothing heavy: pandas is imported by the first :func:`call` (``load``), after
    :func:`preview` has drawn the first waveforms.
    """
    _state["reader"] = LibraryReader(source)
    _state["csv"] = None


async def preview(limit: int = 25) -> str:
    """JSON of the default first page with thumbnails, or ``null`` when it cannot be had."""
    from .preview import preview as first_page

    try:
        reader = _state["reader"]
        _state["csv"] = await reader.catalogue_bytes()
        return json.dumps(await first_page(reader, _state["csv"], int(limit)))
    except Exception:  # the full load that follows reports any problem in words
        return "null"


def _browser():
    if "browser" not in _state:
        from .app import TemplateBrowser

        _state["browser"] = TemplateBrowser(reader=_state["reader"], catalogue=_state.pop("csv", None))
    return _state["browser"]


async def call(method: str, args_json: str = "{}") -> str:
    """Run ``method`` with keyword arguments from ``args_json``; errors come back as data."""
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
