"""How a measured value is shown to people: its unit, its scale, its digits.

The stored unit of each column is a format fact (:data:`templatelib.format.COLUMN_UNITS`);
this module only decides how the page's template view, its results table and the overview
page show it, so "0.00053" seconds reads "0.53 ms" everywhere.

- Durations are stored in seconds and shown in milliseconds (:data:`SHOWN`).
- Values get :data:`SIGNIFICANT_DIGITS` significant digits; large ones are written out with
  thousands separators rather than in exponent form ("592,400 µV/s", not "5.9240e+5").
- A missing value (NaN, None, an infinity) is shown as :data:`MISSING`.
"""

from __future__ import annotations

import math

from . import format as fmt

#: Stored unit -> (shown unit, factor to multiply the stored value by).
SHOWN = {"s": ("ms", 1000.0)}
#: Units that are words for "a number", not written after the value.
UNITLESS = ("", "count", "ratio")
SIGNIFICANT_DIGITS = 4
MISSING = "–"


def stored_unit(column: str) -> str | None:
    """The unit ``column`` is stored in, or None for a column that is not a measurement."""
    return fmt.COLUMN_UNITS.get(column)


def shown_unit(column: str) -> str:
    """The unit a person reads for ``column`` ("" when it has none)."""
    unit = stored_unit(column) or ""
    unit = SHOWN.get(unit, (unit, 1.0))[0]
    return "" if unit in UNITLESS else unit


def scale(column: str) -> float:
    """What a stored value of ``column`` is multiplied by to be shown (1000 for seconds)."""
    return SHOWN.get(stored_unit(column) or "", ("", 1.0))[1]


def label(column: str) -> str:
    """``column`` with its shown unit, e.g. ``"trough_half_width (ms)"``."""
    unit = shown_unit(column)
    return f"{column} ({unit})" if unit else column


def titled(words: str, column: str) -> str:
    """A header or label ``words`` followed by ``column``'s shown unit, e.g. ``"Depth (µm)"``."""
    unit = shown_unit(column)
    return f"{words} ({unit})" if unit else words


def number_text(value: float) -> str:
    """A finite number with :data:`SIGNIFICANT_DIGITS` significant digits, never in exponent
    form between 1e-5 and 1e9."""
    if value == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(value)))
    if magnitude >= SIGNIFICANT_DIGITS and magnitude < 9:
        rounded = round(value, SIGNIFICANT_DIGITS - 1 - magnitude)
        return f"{rounded:,.0f}"
    if -5 <= magnitude < SIGNIFICANT_DIGITS:
        decimals = max(0, SIGNIFICANT_DIGITS - 1 - magnitude)
        return f"{value:.{decimals}f}".rstrip("0").rstrip(".") if decimals else f"{value:.0f}"
    return f"{value:.{SIGNIFICANT_DIGITS - 1}e}"


def text(column: str, value) -> str:
    """``value`` of ``column`` as a person reads it: scaled, rounded and with its unit.

    Text columns and whole numbers of non-measured columns (IDs, indexes) are returned as
    they are; a missing number is :data:`MISSING`.
    """
    if value is None:
        return MISSING
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if not math.isfinite(value):
        return MISSING
    if stored_unit(column) is None:
        return str(int(value)) if float(value).is_integer() else number_text(value)
    unit = shown_unit(column)
    shown = number_text(value * scale(column))
    return f"{shown} {unit}" if unit else shown
