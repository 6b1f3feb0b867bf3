"""Waveform previews: the format, what consolidate writes and reuses, and that old readers
(the unmodified spikeinterface client) still read a library that has them."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import zarr

from conftest import build_library, start_data_server
from pipeline.catalogue import consolidate
from templatelib import format as fmt
from templatelib.preview import PreviewError, bin_extrema, decode_rows, encode_rows

pytestmark = pytest.mark.timeout(120)


def shard_rows(storage, shard=0):
    return decode_rows(open(f"{storage.path}/{fmt.preview_shard_key(shard)}", "rb").read())


def test_a_row_is_64_bytes_and_keeps_the_trough():
    trace = np.zeros(240)
    trace[90] = -200.0  # a one-sample trough must survive the 52 bins
    trace[120] = 50.0
    data = encode_rows(["0123456789abcdef"], trace[None, :])
    assert len(data) == fmt.PREVIEW_ROW_BYTES == 64
    row = decode_rows(data)[0]
    assert row["template_id"] == "0123456789abcdef"
    assert min(row["steps"]) == -127 and row["scale"] == pytest.approx(200 / 127, rel=1e-6)
    assert max(row["steps"]) * row["scale"] == pytest.approx(50, abs=row["scale"])


def test_flat_nan_and_short_traces_do_not_crash():
    traces = np.zeros((3, 240))
    traces[1, :] = np.nan
    data = encode_rows(["0" * 16, "1" * 16, "2" * 16], traces)
    assert all(r["scale"] == 0 and set(r["steps"]) == {0} for r in decode_rows(data))
    assert bin_extrema(np.arange(10.0)[None, :]).shape == (1, fmt.PREVIEW_SAMPLES)
    with pytest.raises(PreviewError, match="not a whole number"):
        decode_rows(b"x" * 65)
    with pytest.raises(PreviewError, match="not 16 hex"):
        encode_rows(["nothex"], np.zeros((1, 240)))


def test_consolidate_writes_one_row_per_csv_row_matching_the_templates(small_library):
    import pandas as pd

    table = pd.read_csv(f"{small_library.path}/templates.csv")
    manifest = json.loads(open(f"{small_library.path}/library.json").read())
    part = manifest["previews"]
    assert part["rows"] == len(table) and part["row_bytes"] == 64 and len(part["shards"]) == 1
    data = open(f"{small_library.path}/{part['shards'][0]['key']}", "rb").read()
    assert hashlib.sha256(data).hexdigest() == part["shards"][0]["sha256"] and len(data) == part["shards"][0]["bytes"]
    rows = decode_rows(data)
    assert [r["template_id"] for r in rows] == table["template_id"].tolist()
    for k in (0, len(table) - 1):  # the last row is the NP-Ultra dataset
        group = zarr.open_consolidated(small_library.mapper(table["dataset"][k]), mode="r")
        trace = group["templates_array"][table["template_index"][k]][:, table["best_channel_index"][k]]
        steps = np.array(rows[k]["steps"]) * rows[k]["scale"]
        assert np.abs(steps).max() == pytest.approx(np.abs(trace).max(), rel=0.01)
        assert np.argmin(steps) == np.argmin(bin_extrema(trace[None, :])[0])


def test_shards_split_rows_so_the_first_page_is_one_small_request(tmp_path, monkeypatch):
    assert fmt.PREVIEW_ROWS_PER_SHARD * fmt.PREVIEW_ROW_BYTES <= 64 * 1024
    assert fmt.preview_location(1025) == (1, 64)
    monkeypatch.setattr(fmt, "PREVIEW_ROWS_PER_SHARD", 8)  # 18 rows -> shards of 8, 8 and 2
    storage = build_library(tmp_path / "lib", datasets=3, units=6, compressor="zlib")
    shards = json.loads(open(f"{storage.path}/library.json").read())["previews"]["shards"]
    assert [s["rows"] for s in shards] == [8, 8, 2]
    rows = [r for k in range(3) for r in shard_rows(storage, k)]
    import pandas as pd
    assert [r["template_id"] for r in rows] == pd.read_csv(f"{storage.path}/templates.csv")["template_id"].tolist()


def test_second_consolidate_reads_no_template_chunk(tmp_path):
    storage = build_library(tmp_path / "lib", datasets=2, units=4, compressor="zlib")
    before = open(f"{storage.path}/{fmt.preview_shard_key(0)}", "rb").read()
    # Every template chunk becomes garbage: reading any of them would fail or change a preview.
    for dataset in storage.complete_datasets():
        folder = f"{storage.path}/{dataset}/templates_array"
        for name in os.listdir(folder):
            if not name.startswith("."):
                with open(f"{folder}/{name}", "wb") as fh:
                    fh.write(b"not a chunk")
    consolidate(storage)
    assert open(f"{storage.path}/{fmt.preview_shard_key(0)}", "rb").read() == before


def test_changed_dataset_gets_new_previews_and_stale_shards_go(tmp_path, monkeypatch):
    from pipeline.dataset_writer import WriteOptions, write_dataset
    from pipeline.sources.synthetic import SyntheticPlan, synthesize_dataset

    monkeypatch.setattr(fmt, "PREVIEW_ROWS_PER_SHARD", 4)
    storage = build_library(tmp_path / "lib", datasets=1, units=6, compressor="zlib")
    assert storage.exists(fmt.preview_shard_key(1))
    dataset = storage.complete_datasets()[0]
    templates, meta = synthesize_dataset(SyntheticPlan(dataset[: -len(".zarr")], "np1"), 3, seed=42)
    write_dataset(storage, dataset[: -len(".zarr")], templates, meta, WriteOptions(compressor="zlib"), overwrite=True)
    consolidate(storage)
    rows = shard_rows(storage)
    assert len(rows) == 3 and not storage.exists(fmt.preview_shard_key(1))
    group = zarr.open_consolidated(storage.mapper(dataset), mode="r")
    best = group["best_channel_index"][:]
    for k in range(3):
        trace = group["templates_array"][k][:, best[k]]
        assert np.abs(np.array(rows[k]["steps"]) * rows[k]["scale"]).max() == pytest.approx(np.abs(trace).max(), rel=0.01)


def test_damaged_previous_shard_is_recomputed_not_trusted(tmp_path):
    storage = build_library(tmp_path / "lib", datasets=2, units=3, compressor="zlib")
    good = open(f"{storage.path}/{fmt.preview_shard_key(0)}", "rb").read()
    with open(f"{storage.path}/{fmt.preview_shard_key(0)}", "wb") as fh:
        fh.write(good[:-64] + b"\x00" * 64)
    consolidate(storage)
    assert open(f"{storage.path}/{fmt.preview_shard_key(0)}", "rb").read() == good


@pytest.mark.timeout(300)
def test_unmodified_spikeinterface_client_reads_a_library_with_previews(small_library):
    assert os.path.exists(f"{small_library.path}/{fmt.preview_shard_key(0)}")
    script = (
        "from spikeinterface.generation import fetch_templates_database_info as info, "
        "fetch_template_object_from_database as get, list_available_datasets_in_template_database as ls\n"
        "df = info(); names = ls(); t = get(names[0])\n"
        "print(len(df), len(names), t.templates_array.shape[0])\n"
    )
    with start_data_server(small_library.path) as server:
        env = {**os.environ, "AWS_ENDPOINT_URL": server.url}
        result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=240)
    assert result.returncode == 0, result.stderr[-2000:]
    rows, datasets, units = map(int, result.stdout.split())
    assert rows == 18 and datasets == 3 and units == 6


@pytest.mark.parametrize("damage, words", [
    ("missing", "previews/0.bin: missing"),
    ("truncated", "bytes, library.json says"),
    ("tampered", "does not match its sha256"),
    ("reordered", "row 0 is template"),
])
def test_validate_reports_broken_previews(tmp_path, damage, words):
    from pipeline.validate import validate_library

    storage = build_library(tmp_path / "lib", datasets=2, units=3, compressor="zlib")
    assert validate_library(storage) == []
    shard = tmp_path / "lib" / fmt.preview_shard_key(0)
    data = shard.read_bytes()
    if damage == "missing":
        shard.unlink()
    elif damage == "truncated":
        shard.write_bytes(data[:-10])
    elif damage == "tampered":
        shard.write_bytes(data[:20] + bytes([data[20] ^ 1]) + data[21:])
    else:  # the rows of two templates swapped, and library.json updated to match: still wrong
        swapped = data[64:128] + data[:64] + data[128:]
        shard.write_bytes(swapped)
        manifest = json.loads((tmp_path / "lib" / "library.json").read_text())
        manifest["previews"]["shards"][0]["sha256"] = hashlib.sha256(swapped).hexdigest()
        (tmp_path / "lib" / "library.json").write_text(json.dumps(manifest))
    problems = validate_library(storage)
    assert len(problems) == 1 and words in problems[0], problems
