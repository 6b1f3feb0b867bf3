"""The NWB source's parts and its ``nwb`` command, on seconds-long NWB files.

The ground-truth fidelity and the refusals are in ``test_fidelity.py``; here: series and unit
selection, both NWB clocks, streaming over HTTP, the preprocessing chain, naming, overwriting
and the command line.
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
import pytest
import zarr

from conftest import start_data_server
from fixtures_nwb import NAFTER, NBEFORE, write_small_nwb
from pipeline.catalogue import consolidate
from pipeline.cli.sources import add_commands
from pipeline.sources.nwb import (
    SourceError,
    choose_series,
    model_from_text,
    nwb_to_dataset,
    open_recording,
    preprocess,
    template_ms,
    unit_brain_areas,
    units_of_series,
)
from pipeline.sources.reference import plan_reference
from pipeline.storage import LibraryStorage
from pipeline.validate import validate_library

MINUTES = 0.1  # the last 6 s of the 8 s files
STEM = "sub-SM_ses-small_behavior+ecephys+image"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """An IBL-like small file (with an LF series), the same on a timestamps clock, one with phase shifts."""
    folder = tmp_path_factory.mktemp("small_nwb")
    shifts = np.linspace(0.0, 0.9, 8)
    return {
        "folder": folder,
        "truth": write_small_nwb(folder / f"{STEM}.nwb", lfp_series=True),
        "timestamps": write_small_nwb(folder / "timestamps.nwb", use_timestamps=True),
        "shifted": write_small_nwb(folder / "shifted.nwb", inter_sample_shift=shifts),
    }


def _window_counts(truth, minutes: float) -> list[int]:
    start = truth.num_samples - int(round(minutes * 60 * truth.sampling_frequency))
    counts = []
    for unit_id in truth.unit_ids:
        relative = truth.spike_frames[int(unit_id)] - start
        counts.append(int(np.sum((relative >= NBEFORE) & (relative < truth.num_samples - start - NAFTER))))
    return counts


def _convert(path, root, **kwargs):
    storage = LibraryStorage(str(root))
    result = nwb_to_dataset(path, storage, minutes=MINUTES, min_spikes=10, progress=False, **kwargs)
    return storage, result, zarr.open_consolidated(storage.mapper(result.dataset), mode="r")


def test_small_file_end_to_end(files, tmp_path):
    truth = files["truth"]
    storage, result, group = _convert(truth.path, tmp_path / "lib")
    assert result.dataset == f"{STEM}_ElectricalSeriesAp.zarr"  # the LF series was left aside
    assert result.electrical_series == "acquisition/ElectricalSeriesAp"
    assert group["unit_ids"][:].tolist() == truth.unit_ids.tolist()
    assert group["spikes_per_unit"][:].tolist() == _window_counts(truth, MINUTES)
    assert group["templates_array"].shape == (3, 240, 8)
    assert np.all(group["channel_noise_levels"][:] > 0)
    consolidate(storage)
    assert validate_library(storage) == []


def test_timestamps_clock_aligns_spikes_like_a_rate(files, tmp_path):
    truth = files["timestamps"]
    _storage, _result, group = _convert(truth.path, tmp_path / "lib")
    assert group["spikes_per_unit"][:].tolist() == _window_counts(truth, MINUTES)


def test_streamed_over_http_matches_the_local_file(files, tmp_path):
    truth = files["truth"]
    _s, _r, local = _convert(truth.path, tmp_path / "local")
    with start_data_server(files["folder"]) as server:
        _s, result, remote = _convert(f"{server.url}/{truth.path.name}", tmp_path / "remote")
    assert result.dataset == f"{STEM}_ElectricalSeriesAp.zarr"
    np.testing.assert_allclose(remote["templates_array"][:], local["templates_array"][:], rtol=0, atol=1e-4)
    assert remote["spikes_per_unit"][:].tolist() == local["spikes_per_unit"][:].tolist()


def test_an_existing_dataset_is_kept_unless_overwrite(files, tmp_path):
    truth = files["truth"]
    storage, result, _group = _convert(truth.path, tmp_path / "lib", dataset_name="mine")
    assert result.dataset == "mine.zarr"
    with pytest.raises(SourceError, match="already exists"):
        _convert(truth.path, tmp_path / "lib", dataset_name="mine")
    _convert(truth.path, tmp_path / "lib", dataset_name="mine", overwrite=True)
    assert storage.complete_datasets() == ["mine.zarr"]


def test_phase_shift_only_with_inter_sample_shift(files):
    def chain(recording):
        names = []
        while recording is not None:
            names.append(type(recording).__name__)
            recording = recording._kwargs.get("recording")
        return names

    recording = open_recording(files["truth"].path, "acquisition/ElectricalSeriesAp")
    # 8 contacts over 80 um: no channel lies outside a unit's footprint, so no reference.
    assert plan_reference(recording.get_channel_locations()).kind == "none"
    plain = chain(preprocess(recording))
    shifted = chain(preprocess(open_recording(files["shifted"].path, "acquisition/ElectricalSeriesAp")))
    assert plain[:2] == ["HighpassFilterRecording", "ScaleRecording"]
    assert shifted[:3] == ["HighpassFilterRecording", "PhaseShiftRecording", "ScaleRecording"]


@pytest.mark.parametrize("fs", [30000.0, 30000.123, 29999.87, 24414.0625, 32000.0])
def test_template_length_is_exact_at_any_rate(fs):
    from spikeinterface.core.core_tools import ms_to_samples

    ms_before, ms_after = template_ms(fs)
    assert (ms_to_samples(ms_before, fs), ms_to_samples(ms_after, fs)) == (90, 150)


def test_choose_series():
    ibl = ["acquisition/ElectricalSeriesAp00", "acquisition/ElectricalSeriesAp01",
           "acquisition/ElectricalSeriesLf00", "acquisition/ElectricalSeriesLf01"]
    with pytest.raises(SourceError, match="--series"):
        choose_series(ibl, None, "f.nwb")
    assert choose_series(ibl, "ElectricalSeriesAp01", "f.nwb") == "acquisition/ElectricalSeriesAp01"
    assert choose_series(["acquisition/ElectricalSeriesAp", "acquisition/ElectricalSeriesLf"], None, "f") \
        == "acquisition/ElectricalSeriesAp"
    with pytest.raises(SourceError, match="no ElectricalSeries 'X'"):
        choose_series(ibl, "X", "f.nwb")
    with pytest.raises(SourceError, match="no ElectricalSeries"):
        choose_series([], None, "f.nwb")


def test_ibl_units_table_is_split_by_probe():
    table = pd.DataFrame({"probe_name": ["probe00", "probe01", "probe00"]}, index=[10, 11, 12])
    assert units_of_series(table, "acquisition/ElectricalSeriesAp00").index.tolist() == [10, 12]
    assert units_of_series(table, "acquisition/ElectricalSeriesAp01").index.tolist() == [11]
    assert len(units_of_series(table, "acquisition/ElectricalSeriesAp")) == 3


def test_brain_area_prefers_the_units_table():
    channel_areas = ["CA1", "DG-mo", "LP"]
    with_column = pd.DataFrame({"allen_location": ["VISp5", ""]}, index=[1, 2])
    assert unit_brain_areas(with_column, [1, 2], [0, 2], channel_areas) == ["VISp5", "LP"]
    assert unit_brain_areas(pd.DataFrame(index=[1, 2]), [1, 2], [1, 0], channel_areas) == ["DG-mo", "CA1"]


def test_probe_model_from_device_descriptions():
    assert model_from_text('{"probe_type": "0", "probe_type_description": "NP1.0"}') == "Neuropixels 1.0"
    assert model_from_text("Neuropixels 3B2 probe") == "Neuropixels 1.0"
    assert model_from_text("NP2014 four shanks") == "Neuropixels 2.0"
    assert model_from_text("Neuropixels Ultra (NP1110)") == "Neuropixels Ultra"
    assert model_from_text("tetrode") is None


# --------------------------------------------------------------------------- command line


def _run(argv) -> int:
    parser = argparse.ArgumentParser(prog="pipeline")
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def test_nwb_command_writes_and_catalogues(files, tmp_path, capsys):
    root = tmp_path / "lib"
    code = _run(["nwb", str(files["truth"].path), "--root", str(root), "--minutes", str(MINUTES),
                 "--min-spikes", "10", "--unit-filter", "label == 1", "--quiet"])
    out = capsys.readouterr().out
    assert code == 0
    assert f"{STEM}_ElectricalSeriesAp.zarr: 3 templates" in out and "templates.csv: 3 templates" in out
    assert validate_library(LibraryStorage(str(root))) == []


def test_nwb_command_refusal_prints_error_and_writes_nothing(files, tmp_path, capsys):
    root = tmp_path / "lib"
    code = _run(["nwb", str(files["truth"].path), "--root", str(root), "--minutes", "5", "--quiet"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("error: acquisition/ElectricalSeriesAp is 0.13 min long, shorter than the requested 5 min")
    assert not root.exists()
