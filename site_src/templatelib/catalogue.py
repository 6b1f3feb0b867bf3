"""Read ``templates.csv``: THE definition of a valid catalogue, shared by Python and the page.

:func:`read_catalogue_csv` parses the csv with the standard library alone (``csv``, ``array``:
the page answers queries before numpy and pandas have loaded) into a
:class:`~templatelib.column_table.ColumnTable`. Its rules are written down in
``docs/format.md`` ("A valid templates.csv"), and ``tests/data/catalogue_csv_cases.json`` holds
the vectors that this reader and the page's JavaScript reader must judge alike.

It accepts both the live 12-column csv and ours (with ``template_id`` and ``unit_id``): rows
without an ID get the spec's fallback ID (``format.fallback_template_id``). For valid files it
gives the values ``pandas.read_csv`` gave before (``tests/test_compact_catalogue.py`` compares
them); structure that pandas silently repaired (ragged rows, an unterminated quote, duplicated
or padded header names, NUL bytes, invalid UTF-8) is refused in one line naming the place.
"""

from __future__ import annotations

import array
import csv
import io
import itertools
import math
import re
from operator import itemgetter

from . import format as fmt
from .column_table import INTEGER_COLUMNS, ColumnTable, TextColumn
NUMERIC_COLUMNS = fmt.LIVE_NUMERIC_COLUMNS

_NAME = fmt.CATALOGUE_FILE
_BLANK = " \t"
_NA = frozenset(fmt.CSV_NA_TOKENS)
_NUMBER = re.compile(fmt.CSV_NUMBER_PATTERN)
_INTEGER = re.compile(fmt.CSV_INTEGER_PATTERN)


class CatalogueError(ValueError):
    """The catalogue cannot be used; the message says why in words a user can act on."""


# -- text and structure ------------------------------------------------------------------------

def _text(data: bytes | str) -> str:
    """The csv as text: size-checked, strict UTF-8, one leading BOM dropped, no NUL."""
    if len(data) > fmt.CSV_MAX_BYTES:
        raise CatalogueError(f"{_NAME} is {len(data)} bytes, more than the {fmt.CSV_MAX_BYTES} a catalogue may have")
    if isinstance(data, (bytes, bytearray, memoryview)):
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError as error:
            line = bytes(data).count(b"\n", 0, error.start) + 1
            raise CatalogueError(f"{_NAME} line {line}: not UTF-8 text (byte {error.start}: {error.reason})") from None
    else:
        text = str(data)
    if text.startswith("\ufeff"):
        text = text[1:]
    nul = text.find("\x00")
    if nul >= 0:
        raise CatalogueError(f"{_NAME} line {_line_at(text, nul)}: holds a NUL character: not a csv")
    if not text.strip():
        raise CatalogueError(f"{_NAME} is empty")
    return text


def _line_at(text: str, position: int) -> int:
    # physical line as the csv module counts them (\r\n, \n and a lone \r each end a line)
    head = text[:position]
    return head.count("\n") + head.count("\r") - head.count("\r\n") + 1


def _records(text: str):
    """``(first line, cells)`` of every non-blank record, the header first: the slow path that
    knows line numbers, run only to name the place of a problem.

    Raises CatalogueError for an unterminated quote, text after a closing quote, or an
    oversized cell, naming the line.
    """
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    previous = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            words = "unterminated quote" if "end of data" in str(error) else str(error)
            if "field limit" in words:
                words = f"a cell holds more than the {fmt.CSV_MAX_CELL_CHARS} characters a cell may have"
            raise CatalogueError(f"{_NAME} line {previous + 1}: not valid csv ({words})") from None
        start, previous = previous + 1, reader.line_num
        if cells:  # a blank line is skipped, as pandas does
            yield start, cells


class _Lines:
    """The first line of every data row, found by a second, slower parse on first use (only
    messages need them)."""

    def __init__(self, text: str):
        self.text, self.lines = text, None

    def __getitem__(self, row: int) -> int:
        if self.lines is None:
            with _cell_limit():
                self.lines = [start for start, _ in _records(self.text)][1:]
        return self.lines[row]


class _cell_limit:
    """The csv module's field limit set to the format's cell limit while parsing (the csv
    module refuses longer cells at C speed); the caller's limit is restored."""

    def __enter__(self):
        self.saved = csv.field_size_limit(fmt.CSV_MAX_CELL_CHARS)

    def __exit__(self, *exc):
        csv.field_size_limit(self.saved)


def _header(start: int, names: list[str]) -> list[str]:
    if len(names) > fmt.CSV_MAX_COLUMNS:
        raise CatalogueError(f"{_NAME} line {start}: {len(names)} columns, more than the {fmt.CSV_MAX_COLUMNS} allowed")
    seen = set()
    for number, name in enumerate(names, 1):
        if name != name.strip():
            raise CatalogueError(f"{_NAME} line {start}: column {number} name {name!r} has surrounding whitespace")
        if not name:
            raise CatalogueError(f"{_NAME} line {start}: column {number} has no name")
        if name in seen:
            raise CatalogueError(f"{_NAME} line {start}: column name {name!r} appears twice")
        seen.add(name)
    return names


def _rows(text: str) -> tuple[list[str], list[list[str]], _Lines]:
    """Header, rows and their first lines; structure and limits checked."""
    lines = _Lines(text)
    with _cell_limit():
        records = filter(None, csv.reader(io.StringIO(text, newline=""), strict=True))
        try:
            names = next(records, None)
            rows = list(itertools.islice(records, fmt.CSV_MAX_ROWS + 1))
        except csv.Error:
            names = rows = None
    if rows is None:
        with _cell_limit():
            for _ in _records(text):  # raises, naming the line
                pass
        raise CatalogueError(f"{_NAME}: not valid csv")
    if names is None:
        raise CatalogueError(f"{_NAME} is empty")
    start = next(_records(text))[0]
    names = _header(start, names)
    if len(rows) > fmt.CSV_MAX_ROWS:
        raise CatalogueError(f"{_NAME}: more than the {fmt.CSV_MAX_ROWS} rows a catalogue may have")
    width = len(names)
    if any(len(row) != width for row in rows):
        k = next(k for k, row in enumerate(rows) if len(row) != width)
        raise CatalogueError(f"{_NAME} line {lines[k]}: {len(rows[k])} cells, the header has {width} columns")
    return names, rows, lines


# -- cells -------------------------------------------------------------------------------------

#: Characters with which ``float()`` accepts more than the format's number grammar (``1_0``,
#: other whitespace); cells holding them, or non-ASCII ones, take the exact per-cell path.
_FLOAT_EXTRAS = "_\n\r\x0b\x0c\x1c\x1d\x1e\x1f"


def _fast_floats(cells: list[str]) -> array.array | None:
    """float64 of cells that are all numbers or NA tokens (NA -> NaN), else None.

    ``float()`` reads the format's grammar at C speed once the characters it would accept
    beyond it are ruled out; NaN results are then checked to come from an NA token (``float``
    also reads ``NAN`` or ``+nan``, which the format refuses).
    """
    joined = "\x00".join(cells)
    if not joined.isascii() or any(ch in joined for ch in _FLOAT_EXTRAS):
        return None
    nan = math.nan
    try:
        values = array.array("d", map(float, cells))
    except ValueError:
        try:  # "" is the NA token pandas writes for NaN: the common one, read without a Python loop
            values = array.array("d", map(float, [c or "nan" for c in cells]))
        except ValueError:  # other NA tokens float() does not know ("NA", "1.#IND"...)
            try:
                values = array.array("d", (nan if c.strip(_BLANK) in _NA else float(c) for c in cells))
            except ValueError:
                return None
    for k in itertools.compress(range(len(values)), map(math.isnan, values)):
        if cells[k].strip(_BLANK) not in _NA:
            return None
    return values


def _number_column(name: str, cells: list[str], lines: _Lines, lenient: bool) -> array.array:
    """A number column; unreadable cells refused (``lenient``: read as NaN, for metrics)."""
    values = _fast_floats(cells)
    if values is not None:
        return values
    nan = math.nan
    exact = []
    for k, cell in enumerate(cells):
        stripped = cell.strip(_BLANK)
        if stripped in _NA:
            exact.append(nan)
        elif _NUMBER.fullmatch(stripped):
            exact.append(float(stripped))
        elif lenient:
            exact.append(nan)
        else:
            raise CatalogueError(f"{_NAME} line {lines[k]}: {name} is not a number ({cell[:80]!r})")
    return array.array("d", exact)


def _whole(value: float) -> bool:
    return math.isfinite(value) and abs(value) <= fmt.CSV_MAX_EXACT_INTEGER and value == math.floor(value)


def _integer_column(name: str, cells: list[str], lines: _Lines) -> array.array:
    values = _number_column(name, cells, lines, lenient=False)
    if not all(map(_whole, values)):
        k = next(k for k, v in enumerate(values) if not _whole(v))
        if cells[k].strip(_BLANK) in _NA:
            raise CatalogueError(f"{_NAME} line {lines[k]}: {name} has empty values")
        raise CatalogueError(f"{_NAME} line {lines[k]}: {name} is not an integer ({cells[k][:80]!r})")
    return array.array("q", map(int, values))


def _unit_ids(cells: list[str]):
    """``unit_id`` as pandas infers it: int64, else float64, else text."""
    if all(_INTEGER.fullmatch(c.strip(_BLANK)) for c in cells):
        values = [int(c) for c in cells]
        if all(abs(v) <= fmt.CSV_MAX_EXACT_INTEGER for v in values):
            return array.array("q", values)
        return TextColumn.from_strings(c.strip(_BLANK) for c in cells)  # never rounded silently
    if all((s := c.strip(_BLANK)) in _NA or _NUMBER.fullmatch(s) for c in cells):
        return _number_column("unit_id", cells, None, lenient=False)
    return _text_column(cells)


def _text_column(cells: list[str]) -> TextColumn:
    """Text cells stripped of spaces and tabs, NA tokens as "": cleaned once per distinct cell."""
    cleaned = {raw: "" if (s := raw.strip(_BLANK)) in _NA else s for raw in dict.fromkeys(cells)}
    categories = sorted(set(cleaned.values()))
    index = {text: code for code, text in enumerate(categories)}
    code_of = {raw: index[text] for raw, text in cleaned.items()}
    return TextColumn(array.array("i", map(code_of.__getitem__, cells)), categories)


# -- the catalogue -----------------------------------------------------------------------------

def read_catalogue_csv(data: bytes | str) -> ColumnTable:
    """Parse and check a ``templates.csv`` into typed columns.

    Parameters
    ----------
    data : bytes or str
        The csv file's content (bytes must be UTF-8).

    Returns
    -------
    ColumnTable
        The format's columns (``format.COLUMNS``) present in the csv, in its order, with a
        unique ``template_id`` (derived when the csv has none: ``id_is_fallback``).

    Raises
    ------
    CatalogueError
        One line naming the line and column: the text is not UTF-8 csv of the allowed size,
        its structure is broken, a live column is missing, or a value is not what its column
        holds. See docs/format.md "A valid templates.csv".
    """
    names, rows, lines = _rows(_text(data))
    missing = fmt.missing_live_columns(names)
    if missing:
        raise CatalogueError(
            f"{_NAME} lacks the column(s) " + ", ".join(missing) + "; is the source a template library root?"
        )
    position = {name: k for k, name in enumerate(names)}
    known = set(fmt.COLUMNS)
    columns: dict = {}
    for name in (n for n in names if n in known):
        cells = list(map(itemgetter(position[name]), rows))
        if name in INTEGER_COLUMNS:
            columns[name] = _integer_column(name, cells, lines)
        elif name in NUMERIC_COLUMNS or name in fmt.METRIC_COLUMNS:
            # an undefined or unreadable metric is NaN, as in the format
            columns[name] = _number_column(name, cells, lines, lenient=name in fmt.METRIC_COLUMNS)
        elif name == "unit_id":
            columns[name] = _unit_ids(cells)
        else:
            columns[name] = _text_column(cells)
    fallback = "template_id" not in columns
    if fallback:
        datasets = columns["dataset"].values()
        columns["template_id"] = TextColumn.from_strings(
            fmt.fallback_template_id(d, i) for d, i in zip(datasets, columns["template_index"]))
    ids = columns["template_id"]
    if len(ids.categories) != len(ids):
        first_line = {}
        for k, code in enumerate(ids.codes.tolist()):
            if code in first_line:
                raise CatalogueError(f"{_NAME} line {lines[k]}: template_id {ids.categories[code]} "
                                     f"appears twice (first on line {first_line[code]})")
            first_line[code] = lines[k]
    if len(ids) and ids.categories[0] == "":
        k = ids.codes.index(0)
        raise CatalogueError(f"{_NAME} line {lines[k]}: template_id is empty")
    return ColumnTable(columns, id_is_fallback=fallback)


def load_catalogue(data: bytes | str):
    """:func:`read_catalogue_csv` as a pandas DataFrame (text as ``object`` strings), with an
    ``id_is_fallback`` column, for the code that still uses pandas."""
    return read_catalogue_csv(data).to_pandas()


def brain_area_counts(table) -> list[tuple[str, int]]:
    """Brain areas with their template counts, most common first (for the quick filter)."""
    counts = table["brain_area"].value_counts()
    return [(str(area), int(n)) for area, n in counts.items()]


#: How much of templates.csv the page's first paint asks for (a Range request): the header and
#: the first page of rows take ~15 kB; a first page deeper than this is painted by Python.
CSV_HEAD_BYTES = 256 * 1024


def csv_rules() -> dict:
    """The rules above as the page's first paint applies them (``static/catalogue_csv.js``),
    JSON-able, for the page config: the one definition of a valid catalogue, written here."""
    return {
        "naTokens": list(fmt.CSV_NA_TOKENS),
        "numberPattern": fmt.CSV_NUMBER_PATTERN,
        "maxBytes": fmt.CSV_MAX_BYTES,
        "headBytes": CSV_HEAD_BYTES,
        "maxRows": fmt.CSV_MAX_ROWS,
        "maxColumns": fmt.CSV_MAX_COLUMNS,
        "maxCellChars": fmt.CSV_MAX_CELL_CHARS,
        "maxExactInteger": fmt.CSV_MAX_EXACT_INTEGER,
        "liveColumns": list(fmt.LIVE_COLUMNS),
        "keptColumns": list(fmt.COLUMNS),
        "integerColumns": list(INTEGER_COLUMNS),
        "numberColumns": [c for c in NUMERIC_COLUMNS if c not in INTEGER_COLUMNS],
        "metricColumns": list(fmt.METRIC_COLUMNS),
    }
