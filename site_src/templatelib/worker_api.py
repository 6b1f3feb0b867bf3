"""The Web Worker's entry point: one JSON call in, one JSON answer out.

The worker calls :func:`call` for every UI event; only the methods in ``METHODS`` can be
reached, whatever the message says.
"""

from __future__ import annotations

import json

from .app import TemplateBrowser, error_payload

METHODS = frozenset({"load", "query", "thumbnails", "view", "snippet", "selection_csv", "known_ids", "stats"})
_state: dict = {}


def start(source: str) -> None:
    """Point the app at ``source``; raises ValueError for anything but an http(s) URL."""
    _state["browser"] = TemplateBrowser(source)


async def call(method: str, args_json: str = "{}") -> str:
    """Run ``method`` with keyword arguments from ``args_json``; errors come back as data."""
    try:
        if method not in METHODS:
            raise ValueError(f"unknown method {method!r}")
        browser = _state["browser"]
        result = getattr(browser, method)(**json.loads(args_json or "{}"))
        if hasattr(result, "__await__"):
            result = await result
        return json.dumps({"ok": True, "result": result})
    except Exception as error:  # every failure reaches the user as words, never a dead page
        return json.dumps({"ok": False, "error": error_payload(error)})
