"""The compact catalogue (``catalogue.htlc``): ``templates.csv``'s rows, typed and columnar.

The page fetches this instead of the csv when the library has one: at 100,000 rows it is a
fraction of the csv's bytes and reads in numpy without parsing text. It is a pure function
of ``templates.csv`` (:func:`write_compact` of :func:`~templatelib.catalogue.read_catalogue_csv`)
and reads back to the identical :class:`~templatelib.column_table.ColumnTable`: same rows,
order, float64 bits and strings. Layout (docs/format.md "The compact catalogue")::

    magic (8 bytes) | header length (u32 LE) | header (UTF-8 JSON) | padding to 8 |
    buffers, each at an 8-aligned offset, optionally zlib-compressed

Numbers written with the precision they carry are stored as scaled integers: ``m / 10**k``
is correctly rounded, so it equals ``float("<the csv's digits>")`` bit for bit whenever
``|m| < 2**53`` and ``k <= 22``; the writer checks every value round-trips and keeps raw
float64 otherwise. Text is categories (sorted unique strings) and integer codes; 16-hex
template IDs are 8 raw bytes each. The reader trusts nothing: sizes, offsets, counts and codes
are checked before anything is allocated or decompressed (:data:`format.COMPACT_MAX_ROWS`...).
The reader needs the standard library only (``struct``, ``array``, ``zlib``: the page reads
it before numpy has loaded); the writer uses numpy.
"""

from __future__ import annotations

import array
import json
import math
import struct
import sys
import zlib

from . import format as fmt
from .catalogue import CatalogueError
from .column_table import INTEGER_COLUMNS, ColumnTable, DeferredNumbers, TextColumn

_NAME = fmt.COMPACT_CATALOGUE_FILE
_ALIGN = 8
_INT_DTYPES = ("<i1", "<i2", "<i4", "<i8")
_CODE_DTYPES = ("<u1", "<u2", "<u4")
#: Scaled-integer sentinels, the lowest values of the stored dtype.
_SPECIALS = (math.nan, math.inf, -math.inf)
_MAX_SCALE = 22  # 10.0**k is exact up to 22
_EXACT = 2**53
#: The ``array`` type code of each stored dtype (little-endian in the file).
_TYPECODES = {"<i1": "b", "<i2": "h", "<i4": "i", "<i8": "q", "<u1": "B", "<u2": "H", "<u4": "I", "<f8": "d"}
#: The type every column but ``unit_id`` (int64, float64 or text, as its csv) must have.
_TYPES = {
    **{name: "float64" for name in fmt.LIVE_NUMERIC_COLUMNS + fmt.METRIC_COLUMNS},
    **{name: "int64" for name in INTEGER_COLUMNS},
    **{name: "text" for name in fmt.LIVE_TEXT_COLUMNS + ("template_id",)},
}


# -- writing -------------------------------------------------------------------------------

def _smallest_int(low: int, high: int, reserved: int = 0) -> str:
    import numpy as np

    for dtype in _INT_DTYPES:
        info = np.iinfo(dtype)
        if info.min + reserved <= low and high <= info.max:
            return dtype
    raise ValueError("does not fit int64")


def _decimal(values):
    """``(k, m)`` with ``m / 10**k`` bit-identical to every finite value, or None."""
    import numpy as np

    finite = np.isfinite(values)
    v = values[finite]
    if not len(v):
        return 0, np.zeros(0, dtype=np.int64)
    bits = v.view(np.int64)
    for k in range(_MAX_SCALE + 1):
        scale = 10.0**k
        with np.errstate(over="ignore", invalid="ignore"):
            m = np.round(v * scale)
        if not (np.abs(m) < _EXACT).all():
            return None
        decoded = m.astype(np.int64).astype(np.float64) / scale
        if np.array_equal(decoded.view(np.int64), bits):  # also refuses -0.0, which m cannot carry
            return k, m.astype(np.int64)
    return None


def _float_column(values) -> tuple[dict, bytes]:
    import numpy as np

    found = _decimal(values)
    if found is None:
        return {"type": "float64", "encoding": "float64"}, values.astype("<f8").tobytes()
    k, finite_ints = found
    finite = np.isfinite(values)
    low = int(finite_ints.min()) if len(finite_ints) else 0
    high = int(finite_ints.max()) if len(finite_ints) else 0
    dtype = _smallest_int(low, high, reserved=len(_SPECIALS))
    stored = np.zeros(len(values), dtype=dtype)
    stored[finite] = finite_ints
    base = int(np.iinfo(dtype).min)
    for offset, special in enumerate(_SPECIALS):
        where = np.isnan(values) if offset == 0 else values == special
        stored[where] = base + offset
    return {"type": "float64", "encoding": "decimal", "scale": k, "dtype": dtype}, stored.tobytes()


def _is_hex_ids(column: TextColumn) -> bool:
    categories = column.categories
    return len(categories) == len(column) and all(fmt.is_valid_template_id(c) for c in categories)


def _buffers_of(name: str, column) -> tuple[dict, list[bytes]]:
    import numpy as np

    if isinstance(column, TextColumn):
        if name == "template_id" and len(column) and _is_hex_ids(column):
            ids = column.values()
            raw = bytes.fromhex("".join(ids.tolist()))
            return {"type": "text", "encoding": "hex8"}, [raw]
        dtype = next(d for d in _CODE_DTYPES if len(column.categories) <= np.iinfo(d).max + 1)
        categories = json.dumps(column.categories.tolist(), ensure_ascii=False, separators=(",", ":"))
        meta = {"type": "text", "encoding": "categories", "dtype": dtype, "categories": len(column.categories)}
        return meta, [column.codes.astype(dtype).tobytes(), categories.encode("utf-8")]
    if column.dtype == np.int64:
        dtype = _smallest_int(int(column.min()), int(column.max())) if len(column) else "<i1"
        return {"type": "int64", "encoding": "int", "dtype": dtype}, [column.astype(dtype).tobytes()]
    meta, data = _float_column(np.asarray(column, dtype=np.float64))
    return meta, [data]


def _shuffle(data: bytes, itemsize: int) -> bytes:
    # bytes of equal significance next to each other: zlib then finds the runs of high bytes
    if itemsize == 1 or not data:
        return data
    import numpy as np

    return np.frombuffer(data, dtype=np.uint8).reshape(-1, itemsize).T.tobytes()


def write_compact(table: ColumnTable, csv_sha256: str, level: int = 9) -> bytes:
    """The compact catalogue of ``table``.

    Parameters
    ----------
    table : ColumnTable
        ``read_catalogue_csv(templates.csv)``.
    csv_sha256 : str
        sha256 (hex) of that ``templates.csv``, recorded in the header.
    level : int
        zlib level of the buffers (a buffer is stored raw when zlib does not shrink it).
    """
    if not isinstance(csv_sha256, str) or len(csv_sha256) != 64:
        raise ValueError("csv_sha256 must be 64 hex characters")
    table = table.to_numpy()
    columns, blobs, offset = [], [], 0
    for name in table.names:
        meta, parts = _buffers_of(name, table[name])
        buffers = []
        for number, part in enumerate(parts):
            itemsize = _itemsize(meta["dtype"]) if number == 0 and "dtype" in meta else 1
            shuffled = _shuffle(part, itemsize)
            packed = zlib.compress(shuffled, level)
            compressed = len(packed) < len(part)
            data = packed if compressed else part
            buffers.append({"offset": offset, "length": len(data), "decoded": len(part),
                            "zlib": compressed, "shuffle": compressed and itemsize > 1})
            padded = data + b"\0" * (-len(data) % _ALIGN)
            blobs.append(padded)
            offset += len(padded)
        columns.append({"name": name, **meta, "buffers": buffers})
    header = {"format": "htlc", "version": fmt.COMPACT_FORMAT_VERSION, "rows": len(table),
              "templates_csv_sha256": csv_sha256, "id_is_fallback": table.id_is_fallback, "columns": columns}
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    start = len(fmt.COMPACT_MAGIC) + 4 + len(text)
    text += b" " * (-start % _ALIGN)  # JSON allows trailing spaces: the buffers start aligned
    return fmt.COMPACT_MAGIC + struct.pack("<I", len(text)) + text + b"".join(blobs)


# -- reading -------------------------------------------------------------------------------

def _fail(words: str):
    raise CatalogueError(f"{_NAME}: {words}")


def read_header(data: bytes) -> tuple[dict, int]:
    """The checked header and where the buffers start."""
    magic = fmt.COMPACT_MAGIC
    if len(data) < len(magic) + 4 or bytes(data[: len(magic)]) != magic:
        _fail("not a compact catalogue (bad magic)")
    (length,) = struct.unpack_from("<I", data, len(magic))
    if length > fmt.COMPACT_MAX_HEADER_BYTES or len(magic) + 4 + length > len(data):
        _fail(f"header of {length} bytes does not fit (file {len(data)} bytes, limit {fmt.COMPACT_MAX_HEADER_BYTES})")
    try:
        header = json.loads(bytes(data[len(magic) + 4: len(magic) + 4 + length]).decode("utf-8"),
                            parse_constant=lambda name: _fail(f"header holds {name}, not JSON"))
    except CatalogueError:
        raise
    except (ValueError, RecursionError) as error:
        _fail(f"header is not JSON ({type(error).__name__})")
    if not isinstance(header, dict) or header.get("format") != "htlc":
        _fail("header is not a compact catalogue header")
    if header.get("version") != fmt.COMPACT_FORMAT_VERSION:
        _fail(f"version {header.get('version')!r}, this reader knows {fmt.COMPACT_FORMAT_VERSION}")
    rows = header.get("rows")
    if not _is_int(rows) or not 0 <= rows <= fmt.COMPACT_MAX_ROWS:
        _fail(f"rows {rows!r} is not an integer in 0..{fmt.COMPACT_MAX_ROWS}")
    sha = header.get("templates_csv_sha256")
    if not (isinstance(sha, str) and len(sha) == 64 and all(c in "0123456789abcdef" for c in sha)):
        _fail("templates_csv_sha256 is not 64 hex characters")
    columns = header.get("columns")
    if not isinstance(columns, list) or not 0 < len(columns) <= fmt.CSV_MAX_COLUMNS:
        _fail("columns is not a list of 1..{} columns".format(fmt.CSV_MAX_COLUMNS))
    if not isinstance(header.get("id_is_fallback"), bool):
        _fail("id_is_fallback is not true or false")
    return header, len(magic) + 4 + length


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _buffer(data: bytes, start: int, spec, expected: int, where: str, limit: int | None = None) -> bytes:
    """One buffer's decoded bytes: its place and sizes checked before reading or inflating."""
    if not isinstance(spec, dict):
        _fail(f"{where}: buffer is not an object")
    offset, length, decoded = spec.get("offset"), spec.get("length"), spec.get("decoded")
    if not all(_is_int(v) and v >= 0 for v in (offset, length, decoded)):
        _fail(f"{where}: buffer offset/length/decoded are not integers >= 0")
    if (expected >= 0 and decoded != expected) or (limit is not None and decoded > limit):
        _fail(f"{where}: {decoded} decoded bytes, expected {expected if expected >= 0 else f'at most {limit}'}")
    if start + offset + length > len(data) or (start + offset) % _ALIGN:
        _fail(f"{where}: buffer at {offset} of {length} bytes lies outside the file (truncated?)")
    raw = bytes(data[start + offset: start + offset + length])
    if spec.get("zlib") is True:
        inflater = zlib.decompressobj()
        try:
            out = inflater.decompress(raw, decoded + 1)  # one byte more tells "too long"
        except zlib.error as error:
            _fail(f"{where}: zlib data is damaged ({error})")
        if len(out) != decoded or not inflater.eof:
            _fail(f"{where}: zlib data does not inflate to {decoded} bytes")
    elif spec.get("zlib") is False:
        out = raw
        if len(out) != decoded:
            _fail(f"{where}: {len(out)} stored bytes, {decoded} declared")
    else:
        _fail(f"{where}: zlib is not true or false")
    return out


def _itemsize(dtype: str) -> int:
    return int(dtype[2:])


def _array(out: bytes, dtype: str, shuffled: bool) -> array.array:
    """The stored values of ``dtype`` (the writer's byte shuffle undone)."""
    itemsize = _itemsize(dtype)
    if shuffled and itemsize > 1:
        count = len(out) // itemsize
        interleaved = bytearray(len(out))
        for j in range(itemsize):  # byte j of every value was stored together
            interleaved[j::itemsize] = out[j * count:(j + 1) * count]
        out = interleaved
    values = array.array(_TYPECODES[dtype])
    values.frombytes(out)
    if sys.byteorder == "big":
        values.byteswap()
    return values


def _numbers(data, start, rows, column, where) -> array.array:
    encoding, buffers = column.get("encoding"), column.get("buffers")
    if not isinstance(buffers, list) or len(buffers) != 1:
        _fail(f"{where}: expected one buffer")
    if column["type"] == "float64" and encoding == "float64":
        out = _buffer(data, start, buffers[0], rows * 8, where)
        return _array(out, "<f8", buffers[0].get("shuffle") is True)
    dtype = column.get("dtype")
    if dtype not in _INT_DTYPES:
        _fail(f"{where}: dtype {dtype!r} is not one of {', '.join(_INT_DTYPES)}")
    out = _buffer(data, start, buffers[0], rows * _itemsize(dtype), where)
    stored = _array(out, dtype, buffers[0].get("shuffle") is True)
    if column["type"] == "int64" and encoding == "int":
        return stored if stored.typecode == "q" else array.array("q", stored)
    if column["type"] == "float64" and encoding == "decimal":
        scale = column.get("scale")
        if not _is_int(scale) or not 0 <= scale <= _MAX_SCALE:
            _fail(f"{where}: scale {scale!r} is not an integer in 0..{_MAX_SCALE}")
        base = -(2 ** (8 * _itemsize(dtype) - 1))
        if dtype == "<i8" and any(abs(w) >= _EXACT for w in stored if w > base + len(_SPECIALS) - 1):
            _fail(f"{where}: a scaled value is beyond 2**53")
        divisor = 10.0**scale
        # checked now, decoded when first used (by numpy, if it has loaded by then)
        return DeferredNumbers(rows, lambda: _decimal_python(stored, base, divisor),
                               lambda: _decimal_numpy(stored, base, divisor))
    _fail(f"{where}: unknown {column['type']} encoding {encoding!r}")


def _decimal_python(stored: array.array, base: int, divisor: float) -> array.array:
    """Scaled integers as float64: ``m / 10**k``, sentinels from ``base`` up as NaN, +inf, -inf."""
    specials = {base + offset: special for offset, special in enumerate(_SPECIALS)}
    top = base + len(_SPECIALS) - 1
    # float(m) is exact below 2**53, so m / 10**k rounds as numpy's float64 division does
    return array.array("d", [w / divisor if w > top else specials[w] for w in stored])


def _decimal_numpy(stored: array.array, base: int, divisor: float):
    """:func:`_decimal_python` in numpy (the same IEEE division, so the same bits)."""
    import numpy as np

    ints = np.frombuffer(stored, dtype=np.dtype(stored.typecode)) if len(stored) else np.zeros(0, np.int64)
    values = ints.astype(np.float64) / divisor
    for offset, special in enumerate(_SPECIALS):
        values[ints == base + offset] = special
    return values


def _text(data, start, rows, column, where) -> TextColumn:
    encoding, buffers = column.get("encoding"), column.get("buffers")
    if encoding == "hex8":
        if not isinstance(buffers, list) or len(buffers) != 1:
            _fail(f"{where}: expected one buffer")
        # C-speed throughout (a loop per ID cost ~0.3 s in Pyodide at 100,000 rows)
        ids = _buffer(data, start, buffers[0], rows * 8, where).hex(" ", 8).split()
        categories = sorted(ids)  # lower-case hex sorts as the bytes do
        code_of = dict(zip(categories, range(rows)))
        if len(code_of) != rows:
            _fail(f"{where}: an ID appears twice")
        return TextColumn(array.array("i", map(code_of.__getitem__, ids)), categories)
    if encoding != "categories" or not isinstance(buffers, list) or len(buffers) != 2:
        _fail(f"{where}: unknown text encoding {encoding!r}")
    dtype, count = column.get("dtype"), column.get("categories")
    if dtype not in _CODE_DTYPES:
        _fail(f"{where}: code dtype {dtype!r} is not one of {', '.join(_CODE_DTYPES)}")
    if not _is_int(count) or not 0 <= count <= max(rows, 1):
        _fail(f"{where}: {count!r} categories for {rows} rows")
    codes = _array(_buffer(data, start, buffers[0], rows * _itemsize(dtype), where), dtype,
                   buffers[0].get("shuffle") is True)
    text = _buffer(data, start, buffers[1], -1, where, limit=fmt.COMPACT_MAX_CATEGORY_BYTES)
    try:
        categories = json.loads(text.decode("utf-8"))
    except (ValueError, RecursionError):
        _fail(f"{where}: categories are not a JSON list")
    if not isinstance(categories, list) or len(categories) != count or not all(isinstance(c, str) for c in categories):
        _fail(f"{where}: categories are not {count} strings")
    if any(a >= b for a, b in zip(categories, categories[1:])):
        _fail(f"{where}: categories are not sorted and unique")
    if len(codes) and max(codes) >= count:
        _fail(f"{where}: a code is out of range ({max(codes)} for {count} categories)")
    return TextColumn(codes if codes.typecode == "i" else array.array("i", codes), categories)


def read_compact(data: bytes) -> ColumnTable:
    """The :class:`ColumnTable` a compact catalogue holds.

    Raises
    ------
    CatalogueError
        One line naming the file and, where it applies, the column: bad magic or version,
        a header or count beyond the limits (refused before allocating), a buffer outside
        the file or not inflating to its declared size, codes out of range, categories not
        sorted and unique, columns missing or repeated, template IDs not unique.
    """
    header, start = read_header(data)
    rows, columns = header["rows"], {}
    known = set(fmt.COLUMNS)
    for column in header["columns"]:
        name = column.get("name") if isinstance(column, dict) else None
        if not isinstance(name, str) or name not in known:
            _fail(f"column {name!r} is not a catalogue column")
        if name in columns:
            _fail(f"column {name} appears twice")
        where = f"column {name}"
        kind = column.get("type")
        if _TYPES.get(name, kind) != kind:
            _fail(f"{where}: type {kind!r}, the format's is {_TYPES[name]}")
        if kind == "text":
            columns[name] = _text(data, start, rows, column, where)
        elif kind in ("float64", "int64"):
            columns[name] = _numbers(data, start, rows, column, where)
        else:
            _fail(f"{where}: unknown type {kind!r}")
    missing = fmt.missing_live_columns(columns)
    if missing or "template_id" not in columns:
        _fail("lacks the column(s) " + ", ".join(missing + ([] if "template_id" in columns else ["template_id"])))
    ids = columns["template_id"]
    if not isinstance(ids, TextColumn) or len(ids.categories) != rows:
        _fail("template_id is not unique text")
    return ColumnTable(columns, id_is_fallback=header["id_is_fallback"])


def compact_header(data: bytes) -> dict:
    """The checked header alone (rows, ``templates_csv_sha256``...): what validate compares."""
    return read_header(data)[0]


def table_difference(a: ColumnTable, b: ColumnTable) -> str | None:
    """The first way ``b`` differs from ``a`` (columns, rows, IDs, values: float64 bits and
    strings), in words, or None when they are identical."""
    import numpy as np

    a, b = a.to_numpy(), b.to_numpy()
    if a.names != b.names:
        return f"columns {list(b.names)} instead of {list(a.names)}"
    if len(a) != len(b):
        return f"{len(b)} rows instead of {len(a)}"
    if a.id_is_fallback != b.id_is_fallback:
        return "id_is_fallback differs"
    for name in ("template_id",) + tuple(n for n in a.names if n != "template_id"):
        x, y = a[name], b[name]
        if isinstance(x, TextColumn) != isinstance(y, TextColumn):
            return f"column {name} is {'text' if isinstance(y, TextColumn) else 'numbers'} instead"
        if isinstance(x, TextColumn):
            same = x.values() == y.values()
        elif x.dtype != y.dtype:
            return f"column {name} is {y.dtype} instead of {x.dtype}"
        else:
            same = x.view(np.int64) == y.view(np.int64) if x.dtype.kind == "f" else x == y
        if not np.all(same):
            row = int(np.flatnonzero(~np.asarray(same, dtype=bool))[0])
            return f"column {name} row {row}: {b.value(name, row)!r} instead of {a.value(name, row)!r}"
    return None
