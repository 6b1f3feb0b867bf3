"""The catalogue as typed numpy columns: what the page queries, sorts and pages without pandas.

pandas (7 MB to download, ~1 s to import in Pyodide) used to stand between the visitor and
the first answered query. The page now holds the catalogue as one numpy array per column and
evaluates the allow-listed query tree of :mod:`safe_query` on them (:mod:`column_query`);
pandas loads afterwards, in the background, for what still needs it (snippet, citation,
selection csv), through :meth:`ColumnTable.to_pandas`.

Only the format's own columns (``format.COLUMNS``) are kept: they are all a query, the
results table or the template view can name. Text columns are stored as categories (sorted
unique strings and an ``int32`` code per row): a condition on text is evaluated once per
distinct value, and 100,000 rows of ``brain_area`` cost 400 kB instead of 100,000 objects.
"""

from __future__ import annotations

import math

import numpy as np

from . import format as fmt

#: Columns that hold whole numbers in every valid catalogue (int64, never NaN).
INTEGER_COLUMNS = ("template_index", "best_channel_index", "spikes_per_unit")


class TextColumn:
    """One text column as categories: ``categories[codes[i]]`` is row ``i``'s string.

    Parameters
    ----------
    codes : numpy.ndarray
        ``int32`` index into ``categories`` for every row.
    categories : numpy.ndarray
        Sorted, unique strings (object dtype). Sorting them makes the code order the text
        order, so sorting the column is sorting its codes.
    """

    __slots__ = ("codes", "categories")

    def __init__(self, codes: np.ndarray, categories: np.ndarray):
        self.codes = np.asarray(codes, dtype=np.int32)
        self.categories = np.asarray(categories, dtype=object)

    @classmethod
    def from_strings(cls, values) -> "TextColumn":
        """Categories of a sequence of ``str`` (sorted by code point, as Python sorts text)."""
        values = list(values)
        # a dict finds the distinct strings at C speed; only those are sorted (np.unique would
        # sort every row's Python object: ~10x slower on 100,000 rows of a few areas)
        categories = sorted(dict.fromkeys(values))
        index = {text: code for code, text in enumerate(categories)}
        codes = np.fromiter(map(index.__getitem__, values), dtype=np.int32, count=len(values))
        return cls(codes, np.array(categories, dtype=object))

    def __len__(self) -> int:
        return len(self.codes)

    def values(self, rows=None) -> np.ndarray:
        """The strings of ``rows`` (all rows when None), as an object array."""
        return self.categories[self.codes if rows is None else self.codes[rows]]

    def map_categories(self, function) -> np.ndarray:
        """``function`` applied once per distinct value, spread back to the rows."""
        per_category = np.array([function(c) for c in self.categories])
        if per_category.size == 0:
            return np.zeros(len(self.codes), dtype=bool)
        return per_category[self.codes]


class ColumnTable:
    """The catalogue, one typed array per column, rows in ``templates.csv`` order.

    Parameters
    ----------
    columns : dict
        Column name -> ``numpy.ndarray`` (``float64`` or ``int64``) or :class:`TextColumn`,
        all of the same length, in the order the catalogue lists them.
    id_is_fallback : bool
        True when the csv had no ``template_id`` column and the IDs were derived
        (``format.fallback_template_id``).
    """

    def __init__(self, columns: dict, id_is_fallback: bool = False):
        lengths = {len(column) for column in columns.values()}
        if len(lengths) > 1:
            raise ValueError(f"columns of different lengths: {sorted(lengths)}")
        self.columns = dict(columns)
        self.n_rows = lengths.pop() if lengths else 0
        self.id_is_fallback = bool(id_is_fallback)
        self._row_of_id = None

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
        return isinstance(self.columns[name], TextColumn)

    def text_columns(self) -> tuple:
        return tuple(name for name, column in self.columns.items() if isinstance(column, TextColumn))

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
        item = column[row].item()
        if isinstance(item, float) and not math.isfinite(item):
            return None
        return item

    def records(self, rows, fields) -> list[dict]:
        """``[{field: value}]`` for ``rows``; fields the table lacks are left out."""
        present = [f for f in fields if f in self.columns]
        return [{f: self.value(f, int(r)) for f in present} for r in rows]

    # -- order ---------------------------------------------------------------------------------
    def sort_keys(self, name: str) -> np.ndarray:
        """Values whose numeric order is the column's order (text: category codes)."""
        column = self.columns[name]
        return column.codes if isinstance(column, TextColumn) else column

    def order(self, rows: np.ndarray, name: str, descending: bool = False) -> np.ndarray:
        """``rows`` sorted by column ``name``, stable, NaN last, as pandas'
        ``sort_values(kind="stable", na_position="last")`` orders them (ties keep csv order,
        also when descending)."""
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
        counts = np.bincount(column.codes, minlength=len(column.categories))
        first_seen = np.full(len(column.categories), len(column.codes), dtype=np.int64)
        np.minimum.at(first_seen, column.codes, np.arange(len(column.codes)))
        order = np.lexsort((first_seen, -counts))
        return [(str(column.categories[k]), int(counts[k])) for k in order if counts[k] > 0]

    def finite_range(self, name: str) -> tuple[float, float] | None:
        values = np.asarray(self.columns[name], dtype=float)
        values = values[np.isfinite(values)]
        return (float(values.min()), float(values.max())) if len(values) else None

    # -- pandas, once it has loaded --------------------------------------------------------------
    def to_pandas(self):
        """The same catalogue as a DataFrame (text as ``object`` strings), for the methods that
        still use pandas and for the tests that compare the two."""
        import pandas as pd

        data = {}
        for name, column in self.columns.items():
            data[name] = column.values() if isinstance(column, TextColumn) else column
        frame = pd.DataFrame(data)
        frame["id_is_fallback"] = self.id_is_fallback
        return frame


def known_columns(names) -> list[str]:
    """The format's columns among ``names``, in the catalogue's order."""
    wanted = set(fmt.COLUMNS)
    return [n for n in names if n in wanted]
