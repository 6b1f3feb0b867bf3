"""What makes a dataset's metadata usable: one set of checks for the validator and the page.

``pipeline.validate`` (and ``consolidate``, which skips a dataset with any problem) and the
page's :mod:`templatelib.zarr_reader` both ask these functions, so a dataset the catalogue
lists is one the page can open, and both say the same words about one that is not.

Each check returns a list of one-line problems naming the dataset (``<name>.zarr: ...``) and
never raises on hostile metadata: the validator reports every line, the reader raises the
first. Untrusted values are quoted at most :data:`MAX_QUOTED` characters long.

Checked here (docs/format.md):

- ``templates_array`` is 3-D ``(units, samples, channels)`` and stored one unit per chunk;
- ``sampling_frequency`` is a finite number > 0;
- ``nbefore`` is an integer sample of the window (``0 <= nbefore < samples``);
- the in-uV flag (``is_in_uV``, or the legacy ``is_scaled``) is present.
"""

from __future__ import annotations

import math

from . import format as fmt

#: An untrusted value is quoted with at most this many characters.
MAX_QUOTED = 40


def quoted(value) -> str:
    """``repr(value)``, cut to :data:`MAX_QUOTED` characters (a hostile value can be huge)."""
    text = repr(value)
    return text if len(text) <= MAX_QUOTED else text[:MAX_QUOTED - 1] + "…"


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def templates_array_problems(key: str, meta: dict) -> tuple[list[str], tuple | None]:
    """Problems of ``templates_array``'s ``.zarray``, and its ``(units, samples, channels)``.

    The shape is returned whenever it is 3-D (even with other problems), so the caller can
    still check what depends on it; None when it is not.
    """
    shape = meta.get("shape") if isinstance(meta, dict) else None
    if not isinstance(shape, (list, tuple)) or not all(_is_int(n) and n >= 0 for n in shape):
        return [f"{key}: templates_array has shape {quoted(shape)}, expected (units, samples, channels)"], None
    if len(shape) != 3:
        return [f"{key}: templates_array has shape {tuple(shape)}, expected (units, samples, channels)"], None
    units, samples, channels = shape
    chunks = meta.get("chunks")
    if not isinstance(chunks, (list, tuple)) or list(chunks) != [1, samples, channels]:
        shown = tuple(chunks) if isinstance(chunks, (list, tuple)) and len(chunks) <= 8 else quoted(chunks)
        return [f"{key}: templates_array chunks {shown}, expected one unit per chunk "
                f"{(1, samples, channels)}"], (units, samples, channels)
    return [], (units, samples, channels)


def attribute_problems(key: str, attrs: dict | None, samples: int | None) -> list[str]:
    """Problems of a dataset's root attributes (``samples``: the window, None if unknown)."""
    if not isinstance(attrs, dict):
        return [f"{key}: .zattrs is not a JSON object"]
    problems = []
    for attr in (fmt.ATTR_SAMPLING_FREQUENCY, fmt.ATTR_NBEFORE):
        if attr not in attrs:
            problems.append(f"{key}: missing attribute '{attr}'")
    if fmt.ATTR_IN_UV not in attrs and fmt.ATTR_IN_UV_LEGACY not in attrs:
        problems.append(f"{key}: missing attribute '{fmt.ATTR_IN_UV}' (or legacy '{fmt.ATTR_IN_UV_LEGACY}')")
    rate = attrs.get(fmt.ATTR_SAMPLING_FREQUENCY)
    if fmt.ATTR_SAMPLING_FREQUENCY in attrs and not (_is_number(rate) and math.isfinite(rate) and rate > 0):
        problems.append(f"{key}: sampling_frequency={quoted(rate)} is not a finite number > 0")
    nbefore = attrs.get(fmt.ATTR_NBEFORE)
    if fmt.ATTR_NBEFORE in attrs:  # null included
        if not _is_int(nbefore):
            problems.append(f"{key}: nbefore={quoted(nbefore)} is not an integer")
        elif samples is not None and not 0 <= nbefore < samples:
            problems.append(f"{key}: nbefore={nbefore} outside 0..{samples - 1}")
    return problems
