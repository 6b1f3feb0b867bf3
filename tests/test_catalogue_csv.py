"""``read_catalogue_csv``: the one definition of a valid catalogue (docs/format.md).

The vectors in ``tests/data/catalogue_csv_cases.json`` are shared with the page's JavaScript
csv reader, which must reach the same outcome, row count and first IDs for each.
"""

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import build_library
from templatelib import format as fmt
from templatelib.catalogue import CatalogueError, load_catalogue, read_catalogue_csv

CASES = json.loads((Path(__file__).parent / "data" / "catalogue_csv_cases.json").read_text())


def case_bytes(case) -> bytes:
    return bytes.fromhex(case["csv_hex"]) if "csv_hex" in case else case["csv"].encode("utf-8")


def test_vectors_cover_both_outcomes():
    outcomes = [case["outcome"] for case in CASES]
    assert outcomes.count("ok") >= 15 and outcomes.count("refused") >= 20
    assert len({case["name"] for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_shared_vector(case):
    data = case_bytes(case)
    if case["outcome"] == "refused":
        with pytest.raises(CatalogueError) as refused:
            read_catalogue_csv(data)
        message = str(refused.value)
        assert case["why"] in message and "\n" not in message and message.startswith(fmt.CATALOGUE_FILE)
        return
    table = read_catalogue_csv(data)
    assert table.backend.name == "python"  # the reader needs no numpy (the page reads it before numpy)
    table = table.to_numpy()
    assert len(table) == case["rows"]
    assert table["template_id"].values()[: len(case["first_ids"])].tolist() == case["first_ids"]
    if "csv" in case:  # str and bytes inputs agree
        assert read_catalogue_csv(case["csv"]).to_numpy()["template_id"].values().tolist() == table["template_id"].values().tolist()


def old_load_catalogue(data: bytes) -> pd.DataFrame:
    """The pandas reader ``load_catalogue`` was before read_catalogue_csv (valid input only)."""
    table = pd.read_csv(io.StringIO(data.decode("utf-8")), dtype={"brain_area": str, "probe": str, "dataset": str})
    for column in fmt.LIVE_NUMERIC_COLUMNS:
        table[column] = pd.to_numeric(table[column], errors="coerce")
    for column in ("template_index", "best_channel_index", "spikes_per_unit"):
        table[column] = table[column].astype("int64")
    for column in fmt.METRIC_COLUMNS:
        if column in table.columns:
            table[column] = pd.to_numeric(table[column], errors="coerce").astype("float64")
    for column in ("brain_area", "probe", "probe_manufacturer", "dataset"):
        table[column] = table[column].fillna("").astype(str).str.strip()
    table["id_is_fallback"] = False
    if "template_id" not in table.columns:
        table["template_id"] = [fmt.fallback_template_id(d, i) for d, i in zip(table["dataset"], table["template_index"])]
        table["id_is_fallback"] = True
    else:
        table["template_id"] = table["template_id"].astype(str)
    return table.reset_index(drop=True)


def assert_same_frames(ours: pd.DataFrame, old: pd.DataFrame):
    assert sorted(ours.columns) == sorted(c for c in old.columns if c in fmt.COLUMNS or c == "id_is_fallback")
    for column in ours.columns:
        a, b = ours[column], old[column]
        assert a.dtype == b.dtype, column
        if a.dtype.kind == "f":
            assert np.array_equal(np.isnan(a.to_numpy()), np.isnan(b.to_numpy())), column
            # the same float64 bits, not merely close
            assert a.to_numpy().view(np.int64)[~np.isnan(a.to_numpy())].tolist() == \
                b.to_numpy().view(np.int64)[~np.isnan(b.to_numpy())].tolist(), column
        else:
            assert a.tolist() == b.tolist(), column


@pytest.fixture(scope="module")
def library_csv(tmp_path_factory) -> bytes:
    storage = build_library(tmp_path_factory.mktemp("csv") / "lib", datasets=3, units=8, seed=3)
    return storage.read_bytes(fmt.CATALOGUE_FILE)


def test_differential_real_library(library_csv):
    assert_same_frames(load_catalogue(library_csv), old_load_catalogue(library_csv))


def test_differential_live_twelve_columns(library_csv):
    old = old_load_catalogue(library_csv)
    live = old[list(fmt.LIVE_COLUMNS)].to_csv(index=False).encode()
    ours = load_catalogue(live)
    assert ours["id_is_fallback"].all()
    assert_same_frames(ours, old_load_catalogue(live))


@pytest.mark.parametrize("name", [c["name"] for c in CASES if c["outcome"] == "ok" and "csv" in c
                                  and "padded" not in c["name"] and "stripped" not in c["name"]
                                  and "unit_id as text" not in c["name"] and "all-digit" not in c["name"]])
def test_differential_valid_vectors(name):
    """Every valid vector pandas reads the same way. Left out: padded numbers (pandas reads
    `` 2 `` in a text-inferred column as text), text stripping outside the four columns
    the old reader stripped, and all-digit template_ids (pandas read them as integers and
    dropped their leading zeros: a bug the new reader fixes)."""
    case = next(c for c in CASES if c["name"] == name)
    data = case["csv"].encode().removeprefix(b"\xef\xbb\xbf")
    if case["rows"] == 0:
        assert len(load_catalogue(data)) == 0
        return
    assert_same_frames(load_catalogue(data), old_load_catalogue(data))


def test_unit_id_types():
    base = ",".join(fmt.LIVE_COLUMNS) + ",unit_id\n"
    row = "p,m,CA1,0,50,2,25,{i},0,100,a.zarr,s3://b/a.zarr,{u}\n"
    def table(units):
        return read_catalogue_csv(base + "".join(row.format(i=i, u=u) for i, u in enumerate(units))).to_numpy()
    assert table(["3", "-4"])["unit_id"].dtype == np.int64
    assert table(["3", ""])["unit_id"].dtype == np.float64
    assert table(["3", "1.5"])["unit_id"].dtype == np.float64
    assert table(["3", "a"]).is_text("unit_id")
    big = table([str(2**60), "1"])  # beyond 2**53: kept as written, never rounded
    assert big.is_text("unit_id") and big.value("unit_id", 0) == str(2**60)


def test_row_and_byte_limits(monkeypatch):
    text = ",".join(fmt.LIVE_COLUMNS) + "\n" + "".join(
        f"p,m,CA1,0,50,2,25,{i},0,100,a.zarr,s3://b/a.zarr\n" for i in range(5))
    monkeypatch.setattr(fmt, "CSV_MAX_ROWS", 4)
    with pytest.raises(CatalogueError, match="more than the 4 rows"):
        read_catalogue_csv(text)
    monkeypatch.setattr(fmt, "CSV_MAX_ROWS", 5)
    assert len(read_catalogue_csv(text)) == 5
    monkeypatch.setattr(fmt, "CSV_MAX_BYTES", 100)
    with pytest.raises(CatalogueError, match="more than the 100 a catalogue may have"):
        read_catalogue_csv(text.encode())


def test_hundred_thousand_column_header_is_refused_fast():
    header = ",".join(f"c{k}" for k in range(100_000))
    with pytest.raises(CatalogueError, match="100000 columns"):
        read_catalogue_csv(header + "\n" + "," * 99_999 + "\n")
