"""NP-Ultra source on a small copy of the figshare 19493588 v2 layout.

The fixture writes the published file names with the published shapes except for size: 235
clusters of 82 samples (trough at 40) on 16 channels (8 columns x 2 rows at 6 um) instead of
384. Five clusters have fewer than 50 spikes, so 230 units remain: datasets of 100, 100, 30.
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
import pytest
import zarr

from pipeline.catalogue import consolidate
from pipeline.cli.sources import add_commands
from pipeline.sources.np_ultra import (
    REQUIRED_FILES,
    dataset_name,
    edge_taper,
    pad_templates,
    write_np_ultra,
)
from pipeline.sources.nwb import SourceError
from pipeline.storage import LibraryStorage
from pipeline.validate import validate_library

NUM_CLUSTERS = 235
SPARSE_CLUSTERS = (3, 50, 120, 199, 234)
AREAS = ("VISp5", "VISp6a", "CA1", "SCs")


def write_ultra_folder(folder, seed: int = 3):
    """The published NP-Ultra file set, shrunk to 16 channels; returns what was written."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    columns, rows = np.meshgrid(np.arange(8) * 6.0, np.arange(2) * 6.0)
    x, y = columns.reshape(-1, 1), rows.reshape(-1, 1)
    time = np.arange(82) - 40
    shape = -np.exp(-0.5 * (time / 3.0) ** 2) + 0.3 * np.exp(-0.5 * ((time - 12) / 6.0) ** 2)
    best = rng.integers(0, 16, NUM_CLUSTERS)
    distance = np.hypot(x.reshape(1, -1) - x[best], y.reshape(1, -1) - y[best])
    amplitude = rng.uniform(40, 300, NUM_CLUSTERS)[:, None] * np.exp(-distance / 20.0)
    # A baseline offset, so the edges are not zero: the taper has something to do.
    waveforms = (shape[None, :, None] * amplitude[:, None, :] + 5.0).astype("float32")
    counts = rng.integers(50, 300, NUM_CLUSTERS)
    counts[list(SPARSE_CLUSTERS)] = 10
    spike_clusters = rng.permutation(np.repeat(np.arange(NUM_CLUSTERS), counts))
    acronyms = [AREAS[i % len(AREAS)] for i in range(NUM_CLUSTERS)]
    np.save(folder / "clusters.waveforms.npy", waveforms)
    np.save(folder / "spikes.clusters.npy", spike_clusters.astype("uint32"))
    np.save(folder / "spikes.times.npy", np.sort(rng.uniform(0, 3600, spike_clusters.size)))
    np.save(folder / "channels.xcoords.npy", x)
    np.save(folder / "channels.ycoords.npy", y)
    pd.DataFrame({"acronym": acronyms}).to_csv(folder / "clusters.acronym.tsv", sep="\t", index=False)
    return {"waveforms": waveforms, "counts": counts, "acronyms": acronyms, "positions": np.hstack([x, y])}


@pytest.fixture(scope="module")
def ultra(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ultra") / "NPUltraWaveforms"
    published = write_ultra_folder(folder)
    storage = LibraryStorage(str(folder.parent / "lib"))
    result = write_np_ultra(folder, storage, progress=False)
    return folder, published, storage, result


def test_units_split_into_datasets_of_100(ultra):
    _folder, published, storage, result = ultra
    assert result.written == [f"{dataset_name(i)}.zarr" for i in range(3)]
    assert dataset_name(0) == "steinmetz_ye_np_ultra_2022_figshare19493588v2_0"
    kept = [c for c in range(NUM_CLUSTERS) if c not in SPARSE_CLUSTERS]
    groups = [zarr.open_consolidated(storage.mapper(key), mode="r") for key in result.written]
    assert [g["templates_array"].shape for g in groups] == [(100, 240, 16), (100, 240, 16), (30, 240, 16)]
    assert np.concatenate([g["unit_ids"][:] for g in groups]).tolist() == kept
    assert np.concatenate([g["spikes_per_unit"][:] for g in groups]).tolist() == published["counts"][kept].tolist()
    assert sum((g["brain_area"][:].tolist() for g in groups), []) == [published["acronyms"][c] for c in kept]


def test_dataset_layout(ultra):
    _folder, published, storage, result = ultra
    group = zarr.open_consolidated(storage.mapper(result.written[0]), mode="r")
    assert group.attrs["nbefore"] == 90 and group.attrs["sampling_frequency"] == 30000.0
    assert "channel_noise_levels" not in group
    annotations = group["probe/annotations"].attrs
    assert annotations["model_name"] == "Neuropixels Ultra" and annotations["manufacturer"] == "IMEC"
    np.testing.assert_allclose(np.column_stack([group["probe/x"][:], group["probe/y"][:]]), published["positions"])
    templates = group["templates_array"][:]
    best = group["best_channel_index"][:]
    troughs = np.argmin(templates[np.arange(len(best)), :, best], axis=1)
    assert np.all(troughs == 90)
    assert np.all(templates[:, :50] == 0) and np.all(templates[:, 132:] == 0)


def test_catalogue_has_no_noise_and_validates(ultra):
    _folder, _published, storage, _result = ultra
    consolidate(storage)
    table = pd.read_csv(storage.key_path("templates.csv"))
    assert len(table) == 230 and table["noise_level_uv"].isna().all()
    assert set(table["probe"]) == {"Neuropixels Ultra"}
    assert validate_library(storage) == []


def test_rerun_skips_complete_datasets(ultra):
    folder, _published, storage, _result = ultra
    again = write_np_ultra(folder, storage, progress=False)
    assert again.written == [] and len(again.skipped) == 3


def test_padding_is_tapered_and_aligned():
    waveforms = np.full((2, 82, 3), 7.0, dtype="float32")
    waveforms[:, 40, :] = -100.0
    padded = pad_templates(waveforms)
    assert padded.shape == (2, 240, 3)
    assert padded[0, 90, 0] == pytest.approx(-100.0)
    region = padded[0, 50:132, 0]
    assert abs(region[0]) < 0.2 and abs(region[-1]) < 0.2  # joins the zero padding without a step
    assert np.all(np.abs(np.diff(padded[0, :, 0])[:45]) < 1.5)
    np.testing.assert_allclose(edge_taper(82, 10)[10:72], 1.0)


def test_missing_files_are_named_and_nothing_is_written(tmp_path):
    folder = tmp_path / "partial"
    write_ultra_folder(folder)
    (folder / "clusters.acronym.tsv").unlink()
    (folder / "channels.ycoords.npy").unlink()
    root = tmp_path / "lib"
    with pytest.raises(SourceError) as caught:
        write_np_ultra(folder, LibraryStorage(str(root)), progress=False)
    message = str(caught.value)
    assert "missing clusters.acronym.tsv, channels.ycoords.npy" in message
    assert all(name in message for name in REQUIRED_FILES)
    assert not root.exists()


def _run(argv) -> int:
    parser = argparse.ArgumentParser(prog="pipeline")
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def test_npultra_command(tmp_path, capsys):
    folder = tmp_path / "NPUltraWaveforms"
    write_ultra_folder(folder)
    root = tmp_path / "lib"
    assert _run(["npultra", str(folder), "--root", str(root), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "230 units in 3 datasets (3 written" in out and "templates.csv: 230 templates from 3 datasets" in out
    assert _run(["npultra", str(tmp_path / "absent"), "--root", str(tmp_path / "other"), "--quiet"]) == 1
    assert capsys.readouterr().err.startswith("error: ")
    assert not (tmp_path / "other").exists()
