"""Hostile input is the normal case: every class of it gets a one-line error, never a hang.

Each case says what the user must see. The data server's hostile requests are in
``test_data_server.py``; here: query expressions (``?q=``, their cases in ``tests/data/query_cases.json``,
shared with ``test_column_query.py``), the selection csv, damaged NWB files.
"""

from __future__ import annotations

import argparse
import io
import shutil
import time

import numpy as np
import pandas as pd
import pytest

from conftest import query_cases
from templatelib.safe_query import QueryError, run_query


@pytest.fixture(scope="module")
def table():
    areas = ["CA1", "it's\n", 'say "hi"\\', "VISp5", "=HYPERLINK(\"http://x\")", "DG-mo"]
    return pd.DataFrame({
        "template_id": [f"t{k}" for k in range(len(areas))],
        "brain_area": areas,
        "amplitude_uv": np.linspace(-50.0, 250.0, len(areas)),
        "depth_along_probe": np.arange(len(areas)) * 20,
    })


# --------------------------------------------------------------------------- query: refused, fast


@pytest.mark.timeout(10)
@pytest.mark.parametrize("expression, words", query_cases("hostile"))
def test_hostile_query_gets_one_line_error_quickly(table, expression, words):
    """The user sees one QueryError line saying what is not allowed, within a fraction of a second."""
    started = time.perf_counter()
    with pytest.raises(QueryError, match=words) as caught:
        run_query(table, expression)
    assert time.perf_counter() - started < 2
    assert "\n" not in str(caught.value).replace("\\n", "")  # one line (a value's escapes aside)


@pytest.mark.timeout(10)
@pytest.mark.parametrize("expression, expected", query_cases("hostile_allowed"))
def test_legitimate_queries_still_work(table, expression, expected):
    """Quotes, newlines and ordinary regexes in values match exactly the rows they name."""
    assert run_query(table, expression)["brain_area"].tolist() == expected


@pytest.mark.timeout(30)
def test_allowed_regex_cost_is_bounded():
    """The worst pattern the rules allow stays in seconds on a large catalogue of short values."""
    rows = pd.DataFrame({"brain_area": ["".join(p) for p in np.random.default_rng(0).choice(list("ab"), (100_000, 12))]})
    started = time.perf_counter()
    assert run_query(rows, "brain_area.str.contains('.*.*x')").empty
    assert run_query(rows, "brain_area.str.contains('.*(a|aa|aaa|aaaa|aaaaa|b|bb|bbb|ab|ba)x')").empty
    assert time.perf_counter() - started < 15


# --------------------------------------------------------------------------- selection csv


@pytest.mark.timeout(10)
def test_selection_csv_neutralises_formulas_and_keeps_numbers(table):
    """A spreadsheet opening the downloaded csv shows the text, never runs it; -50.0 stays a number."""
    from templatelib.snippet import selection_csv

    hostile = table.assign(brain_area=["=1+1", "+SUM(A1)", "-2+3", "@cmd", "\tTAB", "\rCR"])
    text = selection_csv(hostile, hostile["template_id"].tolist())
    back = pd.read_csv(io.StringIO(text), keep_default_na=False)
    assert back["brain_area"].tolist() == ["'=1+1", "'+SUM(A1)", "'-2+3", "'@cmd", "'\tTAB", "'\rCR"]
    assert back["amplitude_uv"].tolist() == hostile["amplitude_uv"].tolist()  # -50.0 is a number, untouched
    assert ",-50.0," in text and text.endswith("\r\n")


@pytest.mark.timeout(10)
def test_repeated_template_ids_give_one_row_each_in_order(table):
    """A link repeating an ID selects it once, at its first place, in the csv and the snippet."""
    from templatelib.snippet import python_snippet, selection_csv

    ids = ["t3", "t0", "t3", "t1", "t0"]
    back = pd.read_csv(io.StringIO(selection_csv(table, ids)), keep_default_na=False)
    assert back["template_id"].tolist() == ["t3", "t0", "t1"]
    catalogue = table.assign(dataset="d.zarr", template_index=range(len(table)), unit_id=range(len(table)))
    snippet = python_snippet(catalogue, ids, "http://127.0.0.1:9/")
    assert snippet.count("'t3')") == 1 and "# 3 hybrid template(s)" in snippet


# --------------------------------------------------------------------------- damaged NWB files


@pytest.fixture(scope="module")
def good_nwb(tmp_path_factory):
    from fixtures_nwb import write_small_nwb

    path = tmp_path_factory.mktemp("hostile_nwb") / "good.nwb"
    write_small_nwb(path, duration_s=8.0, num_channels=8, num_units=3)
    return path


def _random_hdf5(good, path):
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + np.random.default_rng(1).bytes(4096))


def _truncated(good, path):
    data = good.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _scrambled(offset):
    def make(good, path):
        data = bytearray(good.read_bytes())
        data[offset:offset + 3000] = np.random.default_rng(2).bytes(3000)
        path.write_bytes(bytes(data))
    return make


def _without(dataset):
    def make(good, path):
        import h5py

        shutil.copy(good, path)
        with h5py.File(path, "a") as handle:
            del handle[dataset]
    return make


@pytest.mark.timeout(120)
@pytest.mark.parametrize("make, words", [
    (_random_hdf5, "cannot open"),  # HDF5 signature, random bytes after it
    (_truncated, "truncated file"),  # a real NWB file cut in half
    (_scrambled(512), "damaged"),  # a bad local heap: h5py's RuntimeError
    (_scrambled(4000), "damaged"),  # an undecodable block: h5py's OSError
    (_without("units/id"), "units table has no id"),
    (_without("units/spike_times_index"), "no spike_times"),
    (_without("general/extracellular_ephys/electrodes/location"), "'location'"),
], ids=["random", "truncated", "bad-heap", "bad-block", "no-unit-id", "no-spike-index", "no-location"])
def test_damaged_nwb_gets_one_line_exit_1_nothing_written(good_nwb, tmp_path, capsys, make, words):
    """`python -m pipeline nwb` prints one line `error: <file>: <problem>`, exits 1, writes nothing."""
    from pipeline.cli.sources import add_commands

    bad = tmp_path / "bad.nwb"
    make(good_nwb, bad)
    root = tmp_path / "lib"
    parser = argparse.ArgumentParser(prog="pipeline")
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["nwb", str(bad), "--root", str(root), "--minutes", "0.1", "--min-spikes", "10",
                              "--quiet"])
    code = args.func(args)
    err = capsys.readouterr().err.strip()
    assert code == 1
    lines = [line for line in err.splitlines() if "Warning" not in line and not line.startswith("  warnings.warn")]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert str(bad) in lines[0] and words in lines[0], lines[0]
    assert not root.exists()


# ---- a hostile library read by the page's Python: refused in words, bounded, never a hang ----

def _page_reader_case(tmp_path, edit):
    """A one-dataset zlib library whose files ``edit`` damages; returns (storage, first row)."""
    from conftest import build_library

    storage = build_library(tmp_path / "lib", datasets=1, units=2, compressor="zlib")
    table = pd.read_csv(f"{storage.path}/templates.csv")
    edit(f"{storage.path}/{table['dataset'][0]}", table.iloc[0])
    return storage, table.iloc[0]


def _edit_zmetadata(change):
    import json

    def edit(folder, row):
        meta = json.loads(open(f"{folder}/.zmetadata").read())
        change(meta["metadata"])
        open(f"{folder}/.zmetadata", "w").write(json.dumps(meta))
    return edit


def _zlib_bomb(mebibytes):
    def edit(folder, row):
        import zlib

        # Zeros deflate ~1000:1: the page must refuse the chunk before inflating it.
        compressor = zlib.compressobj(9)
        chunk = b"\0" * (1 << 20)
        data = b"".join(compressor.compress(chunk) for _ in range(mebibytes)) + compressor.flush()
        open(f"{folder}/templates_array/{row['template_index']}.0.0", "wb").write(data)
    return edit


@pytest.mark.timeout(60)
@pytest.mark.parametrize("edit, words", [
    (_zlib_bomb(1024), "is too large for a 368640-byte chunk"),  # 1 GiB: refused by its stored size
    (_zlib_bomb(64), "possible zlib bomb"),  # 64 MiB, ~65 KB stored: refused while inflating
    (_edit_zmetadata(lambda m: m["probe/x/.zarray"].update(chunks=[1], shape=[1_000_000])),
     "at most 16 requests"),
    (_edit_zmetadata(lambda m: m["templates_array/.zarray"].update(chunks=[0, 240, 384])), "chunks"),
    (_edit_zmetadata(lambda m: m["templates_array/.zarray"].update(chunks=[-1, 240, 384])), "chunks"),
    (_edit_zmetadata(lambda m: m[".zattrs"].update(sampling_frequency="fast")), "sampling_frequency='fast' is not a finite number"),
    (_edit_zmetadata(lambda m: m[".zattrs"].update(nbefore=10**9)), "nbefore=1000000000 outside 0.."),
    (_edit_zmetadata(lambda m: m.update({"templates_array/.zarray": [1, 2]})), "not a template dataset"),
    (_edit_zmetadata(lambda m: m["templates_array/.zarray"].update(shape=[2, 100000, 100000], chunks=[1, 100000, 100000])),
     "the page reads at most"),
])
def test_page_reader_refuses_hostile_datasets_in_words(tmp_path, edit, words):
    """What the user sees: one sentence naming the dataset, quickly, and no flood of requests."""
    import asyncio

    from conftest import start_data_server
    from templatelib.zarr_reader import DataError, LibraryReader

    storage, row = _page_reader_case(tmp_path, edit)
    with start_data_server(storage.path) as server:
        reader = LibraryReader(server.url)
        started = time.perf_counter()
        with pytest.raises(DataError, match=words) as caught:
            asyncio.run(reader.templates([(row["dataset"], int(row["template_index"]))]))
        assert time.perf_counter() - started < 20
        assert row["dataset"] in str(caught.value) and "\n" not in str(caught.value)
        assert reader.fetcher.requests <= 4  # .zmetadata, probe x and y, one chunk at most


@pytest.mark.timeout(60)
@pytest.mark.parametrize("manifest", [
    b"[1, 2, 3]", b"\"a string\"", b"{not json", b'{"datasets": 5, "created": {"x": 1}, "format_version": "1"}',
    b'{"datasets": ["a"], "created": 7}',
])
def test_library_json_of_the_wrong_shape_never_costs_the_catalogue(small_library, manifest):
    """What the user sees: the catalogue as usual; the header leaves out what it cannot read."""
    import asyncio

    from templatelib.app import TemplateBrowser

    csv = open(f"{small_library.path}/templates.csv", "rb").read()
    browser = TemplateBrowser("http://127.0.0.1:9/", catalogue=csv, manifest=manifest)
    info = asyncio.run(browser.load())
    assert info["count"] == 18
    assert info["library"] is None or all(v is None for v in info["library"].values())


@pytest.mark.timeout(60)
@pytest.mark.parametrize("change", [
    lambda m: m[".zattrs"].update(sampling_frequency="fast"),
    lambda m: m[".zattrs"].update(nbefore=10**9),
    lambda m: m[".zattrs"].update(nbefore="x" * 10_000),
    lambda m: m[".zattrs"].pop("is_in_uV", None),
    lambda m: m["templates_array/.zarray"].update(chunks=[2, 240, 384]),
])
def test_page_reader_and_validator_say_the_same_words(tmp_path, change):
    """One set of dataset checks: the line the page shows is a line the validator reports."""
    import asyncio

    from conftest import start_data_server
    from pipeline.validate import validate_library
    from templatelib.zarr_reader import DataError, LibraryReader

    storage, row = _page_reader_case(tmp_path, _edit_zmetadata(change))
    with start_data_server(storage.path) as server:
        with pytest.raises(DataError) as caught:
            asyncio.run(LibraryReader(server.url).templates([(row["dataset"], int(row["template_index"]))]))
    said = str(caught.value)
    assert len(said) < 200, said  # a hostile value is quoted short
    assert said in validate_library(storage)
