"""The compact catalogue (``catalogue.htlc``): identical to templates.csv, checked, bounded."""

import hashlib
import json
import struct
import subprocess
import sys
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import pytest

from pipeline.pack import MANIFEST_KEY, compact_catalogue
from pipeline.validate import validate_library
from templatelib import format as fmt
from templatelib.catalogue import CatalogueError, read_catalogue_csv
from templatelib.column_table import ColumnTable, DeferredNumbers, TextColumn
from templatelib.compact_catalogue import read_compact, table_difference, write_compact

pytestmark = pytest.mark.timeout(120)
CASES = json.loads((Path(__file__).parent / "data" / "catalogue_csv_cases.json").read_text())
SHA = "0" * 64


def _pipeline(*args):
    return subprocess.run([sys.executable, "-m", "pipeline", *args], capture_output=True, text=True, timeout=120)


def roundtrip(table: ColumnTable) -> ColumnTable:
    data = write_compact(table, SHA)
    back = read_compact(data)
    assert back.backend.name == "python"  # the reader needs no numpy (the page reads it before numpy)
    assert table_difference(table, back) is None  # columns not used yet: numpy decodes them
    assert table_difference(table, read_compact(data).to_python()) is None  # used before numpy: Python does
    return back.to_numpy()


# ---- identical values --------------------------------------------------------------------

def test_library_roundtrip_and_consolidate_writes_it(small_library):
    raw = small_library.read_bytes(fmt.CATALOGUE_FILE)
    table = read_catalogue_csv(raw)
    compact = small_library.read_bytes(fmt.COMPACT_CATALOGUE_FILE)
    assert table_difference(table, read_compact(compact)) is None
    entry = json.loads(small_library.read_bytes(fmt.MANIFEST_FILE))[MANIFEST_KEY]
    assert entry == {"file": fmt.COMPACT_CATALOGUE_FILE, "format_version": fmt.COMPACT_FORMAT_VERSION,
                     "sha256": hashlib.sha256(compact).hexdigest(), "bytes": len(compact), "rows": len(table),
                     "templates_csv_sha256": hashlib.sha256(raw).hexdigest()}
    assert compact_catalogue(raw)[0] == compact  # a pure function of the csv


@pytest.mark.parametrize("case", [c for c in CASES if c["outcome"] == "ok"], ids=lambda c: c["name"])
def test_every_valid_vector_roundtrips(case):
    data = bytes.fromhex(case["csv_hex"]) if "csv_hex" in case else case["csv"].encode()
    roundtrip(read_catalogue_csv(data))


def _table(**numbers):
    n = len(next(iter(numbers.values())))
    columns = {name: TextColumn.from_strings(["x"] * n) for name in fmt.LIVE_TEXT_COLUMNS}
    columns.update({name: np.zeros(n) for name in fmt.LIVE_NUMERIC_COLUMNS})
    columns.update({name: np.arange(n, dtype=np.int64) for name in ("template_index", "best_channel_index",
                                                                    "spikes_per_unit")})
    columns["template_id"] = TextColumn.from_strings([f"{i:016x}" for i in range(n)])
    columns.update(numbers)
    return ColumnTable(columns)


@pytest.mark.parametrize("values", [
    [0.1, 0.2, 0.3, 1e-7, 123456.789, -0.000583333],  # decimals: scaled integers
    [float(f"{x:.6g}") for x in np.random.default_rng(0).lognormal(0, 5, 1000)],
    [np.nan, np.inf, -np.inf, 1.5, 0.0],  # the specials beside decimals
    [-0.0, 1.0],  # -0.0 has no integer: raw float64
    [5e-324, 1e308, np.pi],  # subnormal, huge, 17 digits: raw float64
    list(np.random.default_rng(1).normal(size=500)),
])
def test_floats_are_bit_identical(values):
    table = _table(amplitude_uv=np.array(values, dtype=np.float64))
    back = roundtrip(table)
    assert back["amplitude_uv"].view(np.int64).tolist() == table["amplitude_uv"].view(np.int64).tolist()


def test_decimal_is_float_of_the_digits():
    """m / 10**k is correctly rounded, so it equals float() of the csv's digits exactly."""
    texts = [f"{x:.6g}" for x in np.random.default_rng(2).lognormal(-3, 4, 5000)]
    table = _table(spread=np.array([float(t) for t in texts]))
    back = roundtrip(table)
    assert back["spread"].tolist() == [float(t) for t in texts]


def test_number_columns_are_decoded_when_first_used():
    table = _table(spread=np.array([1.5, np.nan, 2.25]), amplitude_uv=np.array([np.inf, 0.5, -np.inf]))
    back = read_compact(write_compact(table, SHA))
    assert isinstance(back.columns.stored["spread"], DeferredNumbers)  # reading the file decoded nothing
    assert "spread" in back and back.names == table.names and not back.is_text("spread")
    assert isinstance(back.columns.stored["spread"], DeferredNumbers)  # nor did asking about it
    assert back.finite_range("amplitude_uv") == (0.5, 0.5)
    assert back["amplitude_uv"].typecode == "d"  # decoded in Python, and kept
    assert isinstance(back.columns.stored["spread"], DeferredNumbers)
    numpy_table = back.to_numpy()
    assert numpy_table["spread"].tobytes() == np.array([1.5, np.nan, 2.25]).tobytes()


# ---- bounded, checked reading ------------------------------------------------------------

def _parts(data: bytes):
    length = struct.unpack_from("<I", data, 8)[0]
    return json.loads(data[12:12 + length]), 12 + length


def _with_header(data: bytes, edit) -> bytes:
    header, start = _parts(data)
    edit(header)
    text = json.dumps(header).encode()
    text += b" " * (-(12 + len(text)) % 8)
    return fmt.COMPACT_MAGIC + struct.pack("<I", len(text)) + text + data[start:]


def _column(header, name):
    return next(c for c in header["columns"] if c["name"] == name)


@pytest.fixture(scope="module")
def compact(small_library):
    return small_library.read_bytes(fmt.COMPACT_CATALOGUE_FILE)


def _set(path, value):
    def edit(header):
        target = header
        for key in path[:-1]:
            target = _column(target, key) if isinstance(key, str) and "columns" in target else target[key]
        target[path[-1]] = value
    return edit


HOSTILE = {
    "bad magic": (lambda d: b"PK\x03\x04" + d[4:], "bad magic"),
    "empty": (lambda d: b"", "bad magic"),
    "truncated": (lambda d: d[: len(d) - 8], "outside the file"),
    "truncated in the header": (lambda d: d[:100], "does not fit"),
    "header longer than the file": (lambda d: d[:8] + struct.pack("<I", 2**31) + d[12:], "does not fit"),
    "version 2": (lambda d: _with_header(d, _set(["version"], 2)), "version 2"),
    "a billion rows": (lambda d: _with_header(d, _set(["rows"], 10**9)), "rows 1000000000"),
    "rows as text": (lambda d: _with_header(d, _set(["rows"], "12")), "rows '12'"),
    "rows one more": (lambda d: _with_header(d, lambda h: h.update(rows=h["rows"] + 1)), "expected"),
    "huge decoded buffer": (lambda d: _with_header(d, lambda h: _column(h, "brain_area")["buffers"][1].update(
        decoded=2**40)), "decoded bytes"),
    "buffer beyond the file": (lambda d: _with_header(d, lambda h: _column(h, "amplitude_uv")["buffers"][0].update(
        offset=2**40)), "outside the file"),
    "unknown column": (lambda d: _with_header(d, lambda h: _column(h, "amplitude_uv").update(name="evil")),
                       "not a catalogue column"),
    "column twice": (lambda d: _with_header(d, lambda h: _column(h, "probe").update(name="brain_area")),
                     "appears twice"),
    "number column as text": (lambda d: _with_header(d, lambda h: _column(h, "amplitude_uv").update(type="text")),
                              "the format's is float64"),
    "category count beyond rows": (lambda d: _with_header(d, lambda h: _column(h, "brain_area").update(
        categories=10**9)), "categories for"),
    "unknown encoding": (lambda d: _with_header(d, lambda h: _column(h, "brain_area").update(encoding="pickle")),
                         "unknown text encoding"),
    "bad sha": (lambda d: _with_header(d, _set(["templates_csv_sha256"], "x")), "64 hex"),
    "NaN in header": (lambda d: fmt.COMPACT_MAGIC + struct.pack("<I", 16) + b'{"rows": NaN}   ', "NaN"),
}


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_compact_is_refused_in_one_line(compact, name):
    damage, words = HOSTILE[name]
    tracemalloc.start()
    try:
        with pytest.raises(CatalogueError) as refused:
            read_compact(damage(compact))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    message = str(refused.value)
    assert words in message and "\n" not in message and message.startswith(fmt.COMPACT_CATALOGUE_FILE)
    assert peak < 8 * len(compact) + 4 * 1024 * 1024  # refused before allocating what it claims


def _rewrite_buffer(data: bytes, name: str, number: int, payload: bytes, **spec) -> bytes:
    """Replace one buffer of ``name`` by ``payload`` (stored raw at the end of the file)."""
    header, start = _parts(data)
    padded = data + b"\0" * (-(len(data) - start) % 8)
    buffer = _column(header, name)["buffers"][number]
    buffer.update({"offset": len(padded) - start, "length": len(payload), "decoded": len(payload), "zlib": False,
                   "shuffle": False, **spec})
    rebuilt = _with_header(padded + payload, lambda h: h.update(columns=header["columns"]))
    return rebuilt


@pytest.mark.parametrize("categories, words", [
    (["CA1", "CA1", "DG"], "sorted and unique"),
    (["DG", "CA1", "VISp"], "sorted and unique"),
    ([1, 2, 3], "strings"),
])
def test_bad_categories(small_library, categories, words):
    table = read_catalogue_csv(small_library.read_bytes(fmt.CATALOGUE_FILE))
    data = write_compact(table, SHA)
    header, _ = _parts(data)
    count = _column(header, "brain_area")["categories"]
    categories = (categories + [f"z{k}" for k in range(count)])[:count]
    damaged = _rewrite_buffer(data, "brain_area", 1, json.dumps(categories).encode())
    with pytest.raises(CatalogueError, match=words):
        read_compact(damaged)


def test_code_out_of_range(small_library):
    table = read_catalogue_csv(small_library.read_bytes(fmt.CATALOGUE_FILE))
    data = write_compact(table, SHA)
    codes = np.full(len(table), 250, dtype=np.uint8).tobytes()
    with pytest.raises(CatalogueError, match="code is out of range"):
        read_compact(_rewrite_buffer(data, "brain_area", 0, codes))


def test_zlib_bomb_and_damage(small_library):
    table = read_catalogue_csv(small_library.read_bytes(fmt.CATALOGUE_FILE))
    data = write_compact(table, SHA)
    decoded = _column(_parts(data)[0], "amplitude_uv")["buffers"][0]["decoded"]
    bomb = zlib.compress(b"\0" * (64 * 1024 * 1024))
    with pytest.raises(CatalogueError, match="does not inflate"):
        read_compact(_rewrite_buffer(data, "amplitude_uv", 0, bomb, zlib=True, decoded=decoded))
    with pytest.raises(CatalogueError, match="damaged"):
        read_compact(_rewrite_buffer(data, "amplitude_uv", 0, b"not zlib" * 8, zlib=True, decoded=decoded))


def test_duplicate_hex_ids(small_library):
    table = read_catalogue_csv(small_library.read_bytes(fmt.CATALOGUE_FILE))
    data = write_compact(table, SHA)
    ids = bytes.fromhex("".join(table["template_id"].values()))
    twice = ids[:8] + ids[:-8]
    with pytest.raises(CatalogueError, match="appears twice"):
        read_compact(_rewrite_buffer(data, "template_id", 0, twice))


# ---- pack and validate -------------------------------------------------------------------

def test_pack_cli_rebuilds_it_from_the_csv_alone(fresh_library):
    before = fresh_library.read_bytes(fmt.COMPACT_CATALOGUE_FILE)
    manifest = json.loads(fresh_library.read_bytes(fmt.MANIFEST_FILE))
    entry = manifest.pop(MANIFEST_KEY)
    fresh_library.write_bytes(fmt.MANIFEST_FILE, json.dumps(manifest).encode())
    fresh_library.remove(fmt.COMPACT_CATALOGUE_FILE)
    assert validate_library(fresh_library) == []  # absent is fine, as in the live library
    result = _pipeline("pack", fresh_library.path)
    assert result.returncode == 0, result.stderr
    assert f"{entry['rows']} rows" in result.stdout
    assert fresh_library.read_bytes(fmt.COMPACT_CATALOGUE_FILE) == before
    assert json.loads(fresh_library.read_bytes(fmt.MANIFEST_FILE))[MANIFEST_KEY] == entry
    assert validate_library(fresh_library) == []
    assert not [n for n in fresh_library.top_level_names() if n.startswith(".tmp-")]  # atomic writes


def test_pack_refuses_a_csv_the_reader_refuses(fresh_library):
    raw = fresh_library.read_bytes(fmt.CATALOGUE_FILE)
    fresh_library.write_bytes(fmt.CATALOGUE_FILE, raw + b'"unterminated\n')
    before = fresh_library.read_bytes(fmt.COMPACT_CATALOGUE_FILE)
    result = _pipeline("pack", fresh_library.path)
    assert result.returncode == 1 and "unterminated quote" in result.stderr and len(result.stderr.splitlines()) == 1
    assert fresh_library.read_bytes(fmt.COMPACT_CATALOGUE_FILE) == before  # nothing half-written


def _other_table(raw: bytes) -> ColumnTable:
    table = read_catalogue_csv(raw).to_numpy()
    columns = dict(table.columns)
    columns["amplitude_uv"] = columns["amplitude_uv"] + 1.0
    return ColumnTable(columns)


def _publish(storage, data, **entry):
    storage.write_bytes(fmt.COMPACT_CATALOGUE_FILE, data)
    manifest = json.loads(storage.read_bytes(fmt.MANIFEST_FILE))
    manifest[MANIFEST_KEY].update(sha256=hashlib.sha256(data).hexdigest(), bytes=len(data), **entry)
    storage.write_bytes(fmt.MANIFEST_FILE, json.dumps(manifest).encode())


DAMAGE = {
    "bytes changed": (lambda s, raw, c: s.write_bytes(fmt.COMPACT_CATALOGUE_FILE, c[:-1] + bytes([c[-1] ^ 1])),
                      "does not match its sha256"),
    "missing": (lambda s, raw, c: s.remove(fmt.COMPACT_CATALOGUE_FILE), "missing, though"),
    "not listed": (lambda s, raw, c: s.write_bytes(fmt.MANIFEST_FILE, json.dumps(
        {k: v for k, v in json.loads(s.read_bytes(fmt.MANIFEST_FILE)).items() if k != MANIFEST_KEY}).encode()),
        "not listed"),
    "rows in library.json": (lambda s, raw, c: _publish(s, c, rows=1), "rows, library.json says 1"),
    "other values, same csv sha": (lambda s, raw, c: _publish(
        s, write_compact(_other_table(raw), hashlib.sha256(raw).hexdigest())), "disagrees with templates.csv: column amplitude_uv row 0"),
    "from another csv": (lambda s, raw, c: _publish(s, write_compact(read_catalogue_csv(raw), "1" * 64)),
                         "derives from another templates.csv"),
    "fewer rows": (lambda s, raw, c: _publish(s, write_compact(read_catalogue_csv(
        b"\n".join(raw.split(b"\n")[:-2]) + b"\n"), hashlib.sha256(raw).hexdigest())), "rows instead of"),
    "garbage": (lambda s, raw, c: _publish(s, b"garbage"), "bad magic"),
    "schema": (lambda s, raw, c: s.write_bytes(fmt.MANIFEST_FILE, json.dumps({
        **json.loads(s.read_bytes(fmt.MANIFEST_FILE)), MANIFEST_KEY: {"file": "x"}}).encode()), "catalogue_compact"),
}


@pytest.mark.parametrize("name", DAMAGE)
def test_validate_names_a_disagreeing_compact_catalogue(fresh_library, name):
    damage, words = DAMAGE[name]
    raw = fresh_library.read_bytes(fmt.CATALOGUE_FILE)
    damage(fresh_library, raw, fresh_library.read_bytes(fmt.COMPACT_CATALOGUE_FILE))
    problems = validate_library(fresh_library)
    assert any(words in p for p in problems), problems
    assert all("\n" not in p for p in problems)


def test_grown_library_is_valid_but_for_one_template_per_row(small_library, tmp_path):
    sys.path.insert(0, str(Path(__file__).parent / "benchmarks"))
    from grow_library import grow_library

    rows = 2 * fmt.PREVIEW_ROWS_PER_SHARD + 5  # three preview shards
    manifest = grow_library(small_library.path, str(tmp_path / "grown"), rows)
    grown = type(small_library)(str(tmp_path / "grown"))
    table = read_compact(grown.read_bytes(fmt.COMPACT_CATALOGUE_FILE))
    assert len(table) == rows == manifest["template_count"] == manifest[MANIFEST_KEY]["rows"]
    source = read_catalogue_csv(small_library.read_bytes(fmt.CATALOGUE_FILE))
    assert table["template_id"].values()[: len(source)] == source["template_id"].values()
    assert len(manifest["previews"]["shards"]) == 3
    problems = validate_library(grown)
    # the one inherent disagreement: a grown row's ID is not its unit's sha256
    assert problems and all("does not match" in p and "unit" in p or "more rows with problems" in p
                            for p in problems), problems[:5]
