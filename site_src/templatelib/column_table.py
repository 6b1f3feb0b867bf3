"""The catalogue as typed columns: what the page queries, sorts and pages without pandas.

pandas (7 MB to download, ~1 s to import in Pyodide) and even numpy (3.6 MB, compiled on every
visit) used to stand between the visitor and the first answered query. The page now holds the
catalogue as one typed array per column, first with the standard library's ``array`` module,
then, once numpy has loaded in the background, as numpy arrays viewing the same buffers
(:meth:`ColumnTable.to_numpy`); :mod:`column_arrays` is the seam, :mod:`column_query` evaluates
the allow-listed query tree of :mod:`safe_query` on either. pandas loads last, for what still
needs it (snippet, citation, selection csv), through :meth:`ColumnTable.to_pandas`.

Only the format's own columns (``format.COLUMNS``) are kept: they are all a query, the
results table or the template view can name. Text columns are stored as categories (sorted
unique strings and an ``int32`` code per row): a condition on text is evaluated once per
distinct value, and 100,000 rows of ``brain_area`` cost 400 kB instead of 100,000 objects.
"""

from __future__ import annotations

import array
import math
from collections import Counter
from collections.abc import Mapping

from . import format as fmt
from .column_arrays import PYTHON, is_numpy, numpy_backend, sorted_rows

#: Columns that hold whole numbers in every valid catalogue (int64, never NaN).
INTEGER_COLUMNS = ("template_index", "best_channel_index", "spikes_per_unit")


class TextColumn:
    """One text column as categories: ``categories[codes[i]]`` is row ``i``'s string.

    Parameters
    ----------
    codes : array.array or numpy.ndarray
        ``int32`` index into ``categories`` for every row (``array('i')`` keeps the column
        free of numpy; anything else is made a numpy ``int32`` array).
    categories : sequence of str
        Sorted, unique strings (a list with ``array`` codes, else an object array). Sorting
        them makes the code order the text order, so sorting the column is sorting its codes.
    """

    __slots__ = ("codes", "categories")

    def __init__(self, codes, categories):
        if isinstance(codes, array.array):
            self.codes = codes if codes.typecode == "i" else array.array("i", codes)
            self.categories = list(categories)
        else:
            import numpy as np

            self.codes = np.asarray(codes, dtype=np.int32)
            self.categories = np.asarray(categories, dtype=object)

    @classmethod
    def from_strings(cls, values) -> "TextColumn":
        """Categories of a sequence of ``str`` (sorted by code point, as Python sorts text)."""
        values = list(values)
        # a dict finds the distinct strings at C speed; only those are sorted
        categories = sorted(dict.fromkeys(values))
        index = {text: code for code, text in enumerate(categories)}
        return cls(array.array("i", map(index.__getitem__, values)), categories)

    @property
    def is_numpy(self) -> bool:
        return not isinstance(self.codes, array.array)

    def __len__(self) -> int:
        return len(self.codes)

    def values(self, rows=None):
        """The strings of ``rows`` (all rows when None): a list, or an object array with numpy."""
        if self.is_numpy:
            return self.categories[self.codes if rows is None else self.codes[rows]]
        categories, codes = self.categories, self.codes
        return [categories[c] for c in (codes if rows is None else (codes[r] for r in rows))]

    def to_numpy(self) -> "TextColumn":
        import numpy as np

        if self.is_numpy:
            return self
        return TextColumn(np.frombuffer(self.codes, dtype=np.int32) if len(self.codes) else np.zeros(0, np.int32),
                          np.array(self.categories, dtype=object))

    def to_python(self) -> "TextColumn":
        if not self.is_numpy:
            return self
        return TextColumn(array.array("i", self.codes.astype("<i4").tobytes()) if len(self.codes) else array.array("i"),
                          [str(c) for c in self.categories])


class DeferredNumbers:
    """A number column decoded on first use, not when the catalogue is read.

    Decoding costs a Python step per value while the page has only the standard library (11 ms
    per 100,000 values in CPython; the 24 such columns were two thirds of the page's 1.1 s read
    at 100,000 rows), and the first answer needs only the few columns the results table and
    the filters show. A column asked for before numpy has loaded is decoded
    by ``python()``; the rest by ``numpy()`` when the table moves to numpy
    (:meth:`ColumnTable.to_numpy`). Both give the same float64 bits.

    Parameters
    ----------
    n_rows : int
        The column's length.
    python, numpy : callable
        No-argument functions returning the decoded column as ``array('d')``/``array('q')``
        and as a numpy array.
    """

    __slots__ = ("n_rows", "python", "numpy")

    def __init__(self, n_rows: int, python, numpy):
        self.n_rows, self.python, self.numpy = n_rows, python, numpy

    def __len__(self) -> int:
        return self.n_rows


class _Columns(Mapping):
    """Column name -> column, decoding a :class:`DeferredNumbers` the first time it is read
    (``in``, ``len`` and iterating the names decode nothing)."""

    __slots__ = ("stored",)

    def __init__(self, stored: dict):
        self.stored = stored

    def __getitem__(self, name):
        column = self.stored[name]
        if isinstance(column, DeferredNumbers):
            column = self.stored[name] = column.python()
        return column

    def __contains__(self, name) -> bool:
        return name in self.stored

    def __iter__(self):
        return iter(self.stored)

    def __len__(self) -> int:
        return len(self.stored)


def _numbers_to_numpy(column):
    import numpy as np

    if isinstance(column, DeferredNumbers):
        return column.numpy()
    if is_numpy(column):
        return column
    dtype = np.float64 if column.typecode == "d" else np.int64
    return np.frombuffer(column, dtype=dtype) if len(column) else np.zeros(0, dtype=dtype)


def _numbers_to_python(column):
    if isinstance(column, array.array):
        return column
    kind = column.dtype.kind
    typed = array.array("d" if kind == "f" else "q")
    typed.frombytes(column.astype("<f8" if kind == "f" else "<i8").tobytes())
    return typed


class ColumnTable:
    """The catalogue, one typed array per column, rows in ``templates.csv`` order.

    Parameters
    ----------
    columns : dict
        Column name -> number column (``float64`` or ``int64``: ``array('d')``/``array('q')``
        or numpy) or :class:`TextColumn`, all of the same length, in the catalogue's order.
        When any column is numpy, the table is numpy throughout (:attr:`backend`).
    id_is_fallback : bool
        True when the csv had no ``template_id`` column and the IDs were derived
        (``format.fallback_template_id``).
    """

    def __init__(self, columns: dict, id_is_fallback: bool = False):
        lengths = {len(column) for column in columns.values()}
        if len(lengths) > 1:
            raise ValueError(f"columns of different lengths: {sorted(lengths)}")
        numpy = any(c.is_numpy if isinstance(c, TextColumn) else is_numpy(c) for c in columns.values())
        if numpy:
            columns = {n: c.to_numpy() if isinstance(c, TextColumn) else _numbers_to_numpy(c) for n, c in columns.items()}
        self.columns = _Columns(dict(columns))
        self.backend = numpy_backend() if numpy else PYTHON
        self.n_rows = lengths.pop() if lengths else 0
        self.id_is_fallback = bool(id_is_fallback)
        self._row_of_id = None

    def to_numpy(self) -> "ColumnTable":
        """The same table on numpy (imports numpy; number columns are views, not copies)."""
        if self.backend.name == "numpy":
            return self
        table = ColumnTable({n: c.to_numpy() if isinstance(c, TextColumn) else _numbers_to_numpy(c)
                             for n, c in self.columns.stored.items()}, self.id_is_fallback)
        table._row_of_id = self._row_of_id
        return table

    def to_python(self) -> "ColumnTable":
        """The same table on the standard library's ``array`` (what the page starts with)."""
        columns = {n: c.to_python() if isinstance(c, TextColumn) else _numbers_to_python(c)
                   for n, c in self.columns.items()}
        table = ColumnTable.__new__(ColumnTable)
        table.columns, table.backend, table.n_rows = _Columns(columns), PYTHON, self.n_rows
        table.id_is_fallback, table._row_of_id = self.id_is_fallback, self._row_of_id
        return table

    # -- shape ---------------------------------------------------------------------------------
    def __len__(self) -> int:
        return self.n_rows

    def __contains__(self, name) -> bool:
        return name in self.columns

    def __getitem__(self, name):
        return self.columns[name]

    @property
    def names(self) -> tuple:
        return tuple(self.columns)

    def is_text(self, name: str) -> bool:
        return isinstance(self.columns.stored[name], TextColumn)

    def text_columns(self) -> tuple:
        return tuple(name for name, column in self.columns.stored.items() if isinstance(column, TextColumn))

    # -- rows ----------------------------------------------------------------------------------
    def row_of(self, template_id: str) -> int | None:
        """The row holding ``template_id``, or None."""
        if self._row_of_id is None:
            self._row_of_id = {t: k for k, t in enumerate(self.columns["template_id"].values())}
        return self._row_of_id.get(template_id)

    def value(self, name: str, row: int):
        """One cell as a JSON-able Python value (NaN and infinities as None)."""
        column = self.columns[name]
        if isinstance(column, TextColumn):
            return str(column.categories[column.codes[row]])
        item = column[row]
        item = item.item() if hasattr(item, "item") else item
        if isinstance(item, float) and not math.isfinite(item):
            return None
        return item

    def records(self, rows, fields) -> list[dict]:
        """``[{field: value}]`` for ``rows``; fields the table lacks are left out."""
        present = [f for f in fields if f in self.columns]
        return [{f: self.value(f, int(r)) for f in present} for r in rows]

    # -- order ---------------------------------------------------------------------------------
    def sort_keys(self, name: str):
        """Values whose numeric order is the column's order (text: category codes)."""
        column = self.columns[name]
        return column.codes if isinstance(column, TextColumn) else column

    def order(self, rows, name: str, descending: bool = False):
        """``rows`` sorted by column ``name``, stable, NaN last, as pandas'
        ``sort_values(kind="stable", na_position="last")`` orders them (ties keep csv order,
        also when descending)."""
        if self.backend.name == "python":
            return sorted_rows(rows, self.sort_keys(name), descending)
        np = self.backend.np
        rows = np.asarray(rows, dtype=np.int64)
        keys = self.sort_keys(name)[rows]
        missing = np.isnan(keys) if keys.dtype.kind == "f" else np.zeros(len(keys), dtype=bool)
        present = rows[~missing]
        present_keys = keys[~missing]
        if descending:
            # pandas' nargsort: reverse, stable ascending sort, reverse again -> ties in csv order.
            ranked = present[::-1][np.argsort(present_keys[::-1], kind="stable")][::-1]
        else:
            ranked = present[np.argsort(present_keys, kind="stable")]
        return np.concatenate([ranked, rows[missing]])

    # -- summaries for the quick filters ---------------------------------------------------------
    def value_counts(self, name: str) -> list[tuple[str, int]]:
        """Distinct values with their row counts, most common first (ties: first seen first,
        as pandas' ``value_counts`` orders them)."""
        column = self.columns[name]
        # a Counter lists its keys in first-seen order; a stable sort keeps it among ties
        counts = sorted(Counter(column.codes.tolist()).items(), key=lambda item: -item[1])
        return [(str(column.categories[code]), int(n)) for code, n in counts]

    def finite_range(self, name: str) -> tuple[float, float] | None:
        values = list(filter(math.isfinite, self.columns[name].tolist()))
        return (float(min(values)), float(max(values))) if values else None

    # -- pandas, once it has loaded --------------------------------------------------------------
    def to_pandas(self):
        """The same catalogue as a DataFrame (text as ``object`` strings), for the methods that
        still use pandas and for the tests that compare the two."""
        import pandas as pd

        table = self.to_numpy()
        data = {}
        for name, column in table.columns.items():
            data[name] = column.values() if isinstance(column, TextColumn) else column
        frame = pd.DataFrame(data)
        frame["id_is_fallback"] = self.id_is_fallback
        return frame


def known_columns(names) -> list[str]:
    """The format's columns among ``names``, in the catalogue's order."""
    wanted = set(fmt.COLUMNS)
    return [n for n in names if n in wanted]
