"""Each dataset's provenance for ``library.json``'s ``"provenance"`` (see docs/format.md).

Writers store it as the root attribute ``"provenance"`` (a dict with ``"source"``; the synthetic,
IBL and NP-Ultra sources do). Datasets written before that, or by other writers, get it inferred
from their name (marked ``"inferred": true, "basis": "dataset name"``), else
``{"source": "unknown"}``. The name rules live in :mod:`templatelib.citations`, which the page
uses for live-format libraries without provenance.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from templatelib.citations import KNOWN_SOURCES, infer_provenance

ATTR_PROVENANCE = "provenance"


def _plain(value):
    """JSON-safe copy of an attribute value: standard JSON, so NaN and infinities become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value if value is None or isinstance(value, (str, int, float, bool)) else str(value)


def dataset_provenance(key: str, attrs: Mapping) -> dict:
    """The provenance of dataset ``key`` from its root attributes, else from its name.

    Parameters
    ----------
    key : str
        ``<name>.zarr``.
    attrs : Mapping
        The dataset's root attributes (``group.attrs``).
    """
    stored = attrs.get(ATTR_PROVENANCE) if isinstance(attrs, Mapping) else None
    if isinstance(stored, Mapping) and stored.get("source") in KNOWN_SOURCES:
        return _plain(stored)
    return infer_provenance(key)
