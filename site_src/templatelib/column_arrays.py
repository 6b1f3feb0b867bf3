"""The catalogue's two array backends: the standard library's ``array`` module, then numpy.

numpy costs 3.6 MB and its extension module is compiled from bytes on every visit (Pyodide
never lets the browser cache it), so the page reads, queries, sorts and pages the catalogue
with no package at all, and switches the same table to numpy columns once numpy has loaded in
the background (:meth:`ColumnTable.to_numpy <templatelib.column_table.ColumnTable.to_numpy>`,
zero-copy: numpy views the ``array`` buffers).

One evaluator (:mod:`column_query`) runs on both; this module is the seam. A backend holds

- number columns as ``float64``/``int64`` (``array('d')``/``array('q')``, or numpy arrays),
- conditions (one truth value per row) as ``bytes`` of 0/1, or numpy ``bool`` arrays,
- row sets as ascending ``int`` sequences (``range``/``list``, or numpy ``int64``).

The standard-library backend answers what it can answer exactly as numpy does (comparisons,
``in``, ``isna``, string methods, ``and``/``or``/``not``, sorting); arithmetic on columns, where
numpy's wrapping and float rules would have to be re-implemented, raises :class:`NeedsNumpy`,
and the worker answers that query once numpy is there (the page shows it is loading).
"""

from __future__ import annotations

import array
import contextlib
import itertools
import math
import sys

_FLIP = bytes([1, 0]) + bytes(254)


class NeedsNumpy(Exception):
    """The query needs numpy (arithmetic on columns); asked again once numpy has loaded."""


def array_kind(value) -> str | None:
    """``"f"``, ``"i"`` or ``"b"`` for a float, integer or condition column of either backend;
    None for anything else (Python scalars, text)."""
    if isinstance(value, bytes):
        return "b"
    if isinstance(value, array.array):
        return "f" if value.typecode == "d" else "i"
    dtype = getattr(value, "dtype", None)
    if dtype is not None and getattr(value, "ndim", 0) == 1 and dtype.kind in "fib":
        return dtype.kind
    return None


def _scalar_kind(value) -> str | None:
    if isinstance(value, bool):
        return "b"
    if isinstance(value, int):
        return "i"
    if isinstance(value, float):
        return "f"
    return None


class Python:
    """Columns as ``array.array``, conditions as ``bytes``: no package needed."""

    name = "python"

    @staticmethod
    def all_rows(n: int):
        return range(n)

    @staticmethod
    def nonzero(mask: bytes) -> list:
        hits = mask.count(1)
        if hits * 16 > len(mask):
            return list(itertools.compress(range(len(mask)), mask))
        rows, find, at = [], mask.find, -1
        for _ in range(hits):  # few rows: found by bytes.find at C speed
            at = find(1, at + 1)
            rows.append(at)
        return rows

    @staticmethod
    def full(n: int, flag: bool) -> bytes:
        return (b"\x01" if flag else b"\x00") * n

    @staticmethod
    def _bits(value, n):
        return int.from_bytes(value, "little") if isinstance(value, bytes) else (int.from_bytes(b"\x01" * n, "little") if value else 0)

    def logical(self, op, left, right):
        """``op`` (``operator.and_``/``or_``) of two conditions, either may be a Python bool."""
        if not isinstance(left, bytes) and not isinstance(right, bytes):
            return op(left, right)
        n = len(left) if isinstance(left, bytes) else len(right)
        # 0/1 bytes combine bytewise as the bits of one big integer: C speed, no loop per row
        return op(self._bits(left, n), self._bits(right, n)).to_bytes(n, "little")

    @staticmethod
    def invert(mask: bytes) -> bytes:
        return mask.translate(_FLIP)

    @staticmethod
    def compare(op, left, right):
        """``op`` row by row, numbers compared as numpy compares them: an integer meeting a
        float is converted to float64 first (``float()`` rounds as numpy's cast does, and
        raises OverflowError as numpy does for a Python int beyond float64)."""
        kinds = (array_kind(left) or _scalar_kind(left), array_kind(right) or _scalar_kind(right))
        if "f" in kinds:
            left, right = _as_float(left), _as_float(right)
        if array_kind(left) and array_kind(right):
            return bytes(map(op, left, right))
        if array_kind(left):
            return bytes(map(op, left, itertools.repeat(right, len(left))))
        return bytes(map(op, itertools.repeat(left, len(right)), right))

    @staticmethod
    def compare_each(op, left: list, right: list) -> bytes:
        return bytes(map(op, left, right))

    @staticmethod
    def isnan(column) -> bytes:
        return bytes(map(math.isnan, column))

    @staticmethod
    def isin(column, items: list) -> bytes:
        """Rows whose value equals one of ``items`` (numbers already of the column's type)."""
        wanted = frozenset(i for i in items if i == i)  # NaN equals nothing, as in numpy
        return bytes(map(wanted.__contains__, column))

    @staticmethod
    def spread(values: list, codes, kind: str):
        """Per-category ``values`` given to every row by its category code."""
        if kind != "b":
            return array.array("q", map(values.__getitem__, codes))
        flags = bytes(values)
        if len(flags) > 65536 or sys.byteorder != "little":
            return bytes(map(flags.__getitem__, codes))
        # The codes' low and high bytes, sliced out of the int32 buffer, are looked up with
        # bytes.translate: C speed, one pass per 256 categories that hold a selected one.
        raw = codes.tobytes()
        low = raw[0::4]
        if len(flags) <= 256:
            return low.translate(flags.ljust(256, b"\0"))
        high, selected = raw[1::4], 0
        for group in range(0, len(flags), 256):
            part = flags[group: group + 256]
            if part.count(0) == len(part):
                continue
            h = group // 256
            in_group = high.translate(bytes(h) + b"\x01" + bytes(255 - h))
            hit = low.translate(part.ljust(256, b"\0"))
            selected |= int.from_bytes(in_group, "little") & int.from_bytes(hit, "little")
        return selected.to_bytes(len(codes), "little")

    @staticmethod
    def require_numpy(what: str):
        raise NeedsNumpy(f"{what} needs numpy, which is still loading")

    errstate = staticmethod(contextlib.nullcontext)


def _as_float(value):
    if isinstance(value, array.array) and value.typecode != "d":
        return array.array("d", map(float, value))
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


class Numpy:
    """Columns as numpy arrays: what the table switches to once numpy has loaded."""

    name = "numpy"

    def __init__(self):
        import numpy as np

        self.np = np

    def all_rows(self, n: int):
        return self.np.arange(n, dtype=self.np.int64)

    def nonzero(self, mask):
        return self.np.flatnonzero(mask).astype(self.np.int64, copy=False)

    def full(self, n: int, flag: bool):
        return self.np.full(n, bool(flag))

    @staticmethod
    def logical(op, left, right):
        return op(left, right)

    @staticmethod
    def invert(mask):
        return ~mask

    @staticmethod
    def compare(op, left, right):
        return op(left, right)

    def compare_each(self, op, left, right):
        return self.np.asarray(op(self.np.asarray(left, dtype=object), self.np.asarray(right, dtype=object)), dtype=bool)

    def isnan(self, column):
        return self.np.isnan(column)

    def isin(self, column, items: list):
        dtype = self.np.float64 if column.dtype.kind == "f" else self.np.int64
        return self.np.isin(column, self.np.array(items, dtype=dtype))

    def spread(self, values: list, codes, kind: str):
        dtype = bool if kind == "b" else self.np.int64
        per_category = self.np.array(values, dtype=dtype)
        return per_category[codes] if len(per_category) else self.np.zeros(len(codes), dtype=dtype)

    @staticmethod
    def require_numpy(what: str):
        return None

    def errstate(self):
        return self.np.errstate(all="ignore")


PYTHON = Python()
_numpy = []


def numpy_backend() -> Numpy:
    """The numpy backend (imports numpy: only once it is installed)."""
    if not _numpy:
        _numpy.append(Numpy())
    return _numpy[0]


def is_numpy(column) -> bool:
    """True for a numpy array (without importing numpy)."""
    return type(column).__module__ == "numpy" and hasattr(column, "dtype")


def from_typed(values, kind: str):
    """A standard-library column of ``kind`` ``"f"``/``"i"`` from any sequence of numbers."""
    return array.array("d" if kind == "f" else "q", values)


def sorted_rows(rows, keys, descending: bool) -> list:
    """``rows`` stably ordered by ``keys[row]``, NaN last: pandas'
    ``sort_values(kind="stable", na_position="last")`` (ties keep csv order, also descending,
    which ``sorted(reverse=True)`` keeps as pandas' nargsort does)."""
    rows = list(rows)
    if isinstance(keys, array.array) and keys.typecode == "d":
        present = [r for r in rows if keys[r] == keys[r]]
        missing = [r for r in rows if keys[r] != keys[r]]
    else:
        present, missing = rows, []
    return sorted(present, key=keys.__getitem__, reverse=descending) + missing

