"""prune, delete and restore-noise: dry run by default, and a reader never sees a mix.

A "mix" would be a reader holding a dataset's old metadata and getting new chunks: with one
chunk per template, that is silently the wrong waveform under a unit's name. The tests keep a
reader open across the change (zarr over the folder, and the page's own reader over HTTP) and
require it to read exactly the old templates, while a reader opening afterwards reads the new.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import zarr

from conftest import build_library, start_data_server
from fixtures_nwb import write_small_nwb
from pipeline.cli import main
from pipeline.maintenance import load_dataset, plan_prune, referenced_keys
from pipeline.sources.nwb import nwb_to_dataset
from pipeline.storage import LibraryStorage
from pipeline.validate import validate_library
from templatelib import format as fmt
from templatelib.zarr_reader import LibraryReader


def snapshot(root: Path) -> dict:
    """Every file under ``root`` with its content hash."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def catalogue(root: Path) -> pd.DataFrame:
    return pd.read_csv(root / fmt.CATALOGUE_FILE)


def threshold_dropping_some(root: Path) -> int:
    """A spike minimum that drops some but not all templates of every dataset."""
    table = catalogue(root)
    return int(table.groupby("dataset")["spikes_per_unit"].median().min())


@pytest.fixture
def library(tmp_path) -> Path:
    build_library(tmp_path / "lib", datasets=3, units=6, seed=4)
    return tmp_path / "lib"


def open_group(root: Path, key: str) -> zarr.Group:
    return zarr.open_consolidated(str(root / key), mode="r")


# --------------------------------------------------------------------------- dry runs


def test_every_command_is_a_dry_run_without_apply(library, tmp_path, capsys):
    before = snapshot(library)
    key = catalogue(library)["dataset"].iloc[0]
    noise = tmp_path / "noise.npy"
    np.save(noise, np.full(open_group(library, key)["templates_array"].shape[2], 7.5, dtype="f4"))
    assert main(["prune", str(library), "--min-spikes", str(threshold_dropping_some(library))]) == 0
    assert main(["delete", key, str(library)]) == 0
    assert main(["restore-noise", str(library), key, "--from-npy", str(noise)]) == 0
    out = capsys.readouterr().out
    assert out.count("dry run: nothing was changed") == 3
    assert "drop " in out and "would delete" in out and "channel_noise_levels" in out
    assert snapshot(library) == before


# --------------------------------------------------------------------------- prune


def test_prune_keeps_ids_and_data_of_the_remaining_templates(library, capsys):
    minimum = threshold_dropping_some(library)
    old = catalogue(library)
    old_templates = {key: open_group(library, key)["templates_array"][:] for key in old["dataset"].unique()}
    assert main(["prune", str(library), "--min-spikes", str(minimum), "--apply"]) == 0
    assert "valid" in capsys.readouterr().out
    new = catalogue(library)
    kept = old[old["spikes_per_unit"] >= minimum]
    assert 0 < len(new) < len(old)
    assert new["template_id"].tolist() == kept["template_id"].tolist()
    for key, rows in new.groupby("dataset", sort=False):
        before = kept[kept["dataset"] == key]
        np.testing.assert_array_equal(open_group(library, key)["templates_array"][:],
                                      old_templates[key][before["template_index"].to_numpy()])
        assert rows["template_index"].tolist() == list(range(len(rows)))
        assert rows["unit_id"].tolist() == before["unit_id"].tolist()
        assert rows["brain_area"].tolist() == before["brain_area"].tolist()
    assert validate_library(LibraryStorage(str(library))) == []
    assert main(["prune", str(library), "--min-spikes", str(minimum)]) == 0
    assert "nothing to prune" in capsys.readouterr().out


def test_prune_keeps_the_encoding_variants(tmp_path):
    from pipeline.catalogue import consolidate
    from pipeline.dataset_writer import WriteOptions, write_dataset
    from pipeline.sources.synthetic import SyntheticPlan, synthesize_dataset

    storage = LibraryStorage(str(tmp_path / "lib"))
    templates, meta = synthesize_dataset(SyntheticPlan("legacy", "np1"), 5, seed=9)
    meta.spikes_per_unit = [10, 500, 20, 800, 900]
    options = WriteOptions(compressor="zlib", legacy_is_scaled=True, fixed_width_brain_area=True)
    key = write_dataset(storage, "legacy", templates, meta, options)
    consolidate(storage)
    assert main(["prune", storage.path, "--min-spikes", "50", "--apply"]) == 0
    group = open_group(tmp_path / "lib", key)
    assert group["unit_ids"][:].tolist() == np.asarray(templates.unit_ids)[[1, 3, 4]].tolist()
    assert "is_scaled" in group.attrs and "is_in_uV" not in group.attrs
    assert group["brain_area"].dtype.kind == "U"
    assert group["templates_array"].compressor.codec_id == "zlib"
    reloaded, _ = load_dataset(group)
    assert reloaded.probe.annotations["model_name"] == templates.probe.annotations["model_name"]


def test_a_rewrite_keeps_what_spikeinterface_reads_from_conflicting_uv_attributes(tmp_path):
    """A dataset holding both ``is_scaled`` and ``is_in_uV`` (written elsewhere) keeps its meaning.

    The rewrite writes one attribute; its value must be the one spikeinterface believed before
    (``is_scaled`` first), not ``is_in_uV``'s (the bug before ``fmt.in_uv``).
    """
    from pipeline.catalogue import consolidate
    from pipeline.dataset_writer import WriteOptions, write_dataset
    from pipeline.sources.synthetic import SyntheticPlan, synthesize_dataset
    from spikeinterface.core import Templates

    storage = LibraryStorage(str(tmp_path / "lib"))
    templates, meta = synthesize_dataset(SyntheticPlan("both", "np1"), 4, seed=3)
    templates.is_in_uV = False
    options = WriteOptions(compressor="zlib", legacy_is_scaled=True, extra_attrs={"is_in_uV": True})
    key = write_dataset(storage, "both", templates, meta, options)
    consolidate(storage)
    assert Templates.from_zarr_group(open_group(tmp_path / "lib", key)).is_in_uV is False
    np.save(tmp_path / "noise.npy", np.full(templates.num_channels, 4.0, dtype="f4"))
    assert main(["restore-noise", storage.path, key, "--from-npy", str(tmp_path / "noise.npy"), "--apply"]) == 0
    group = open_group(tmp_path / "lib", key)
    assert group.attrs.asdict().get("is_scaled") is False
    assert Templates.from_zarr_group(group).is_in_uV is False


def test_a_reader_that_opened_before_a_prune_reads_the_old_dataset_whole(library):
    minimum = threshold_dropping_some(library)
    key = catalogue(library)["dataset"].iloc[0]
    old_group = open_group(library, key)  # metadata read now, chunks fetched lazily later
    old_units = old_group["unit_ids"][:]
    expected = {int(u): t for u, t in zip(old_units, open_group(library, key)["templates_array"][:])}
    with start_data_server(library) as server:
        page = LibraryReader(server.url)
        asyncio.run(page.dataset(key))  # the page opened the dataset before the prune
        assert main(["prune", str(library), "--min-spikes", str(minimum), "--dataset", key, "--apply"]) == 0
        after = asyncio.run(page.templates([(key, i) for i in range(len(old_units))]))
        fresh = LibraryReader(server.url)
        new_units = open_group(library, key)["unit_ids"][:]
        fresh_templates = asyncio.run(fresh.templates([(key, i) for i in range(len(new_units))]))
    assert len(new_units) < len(old_units)
    # the old readers: every template is the old one at its old index
    for index, unit in enumerate(old_units):
        np.testing.assert_array_equal(old_group["templates_array"][index], expected[int(unit)])
        np.testing.assert_array_equal(after[(key, index)], expected[int(unit)])
    # the new readers: every template is its unit's, at the new index
    for index, unit in enumerate(new_units):
        np.testing.assert_array_equal(fresh_templates[(key, index)], expected[int(unit)])
    # the per-unit 1-D arrays changed length: an old reader gets an error, not new values
    try:
        stale = old_group["spikes_per_unit"][:]
    except ValueError:
        pass
    else:
        assert len(stale) == len(old_units)


def test_concurrent_readers_never_see_a_mix(library):
    """Readers open and read the whole dataset in a loop while it is pruned twice."""
    key = catalogue(library)["dataset"].iloc[0]
    group = open_group(library, key)
    truth = {int(u): t for u, t in zip(group["unit_ids"][:], group["templates_array"][:])}
    spikes = sorted(group["spikes_per_unit"][:].tolist())
    seen, errors, mixes, stop = set(), [], [], threading.Event()

    def read_loop():
        while not stop.is_set():
            try:
                current = open_group(library, key)
                units = current["unit_ids"][:]
                array = current["templates_array"][:]
            except (KeyError, ValueError, FileNotFoundError) as error:
                errors.append(error)
                continue
            seen.add(len(units))
            if len(array) != len(units) or any(not np.array_equal(array[i], truth[int(u)]) for i, u in enumerate(units)):
                mixes.append(units.tolist())

    readers = [threading.Thread(target=read_loop) for _ in range(2)]
    for reader in readers:
        reader.start()
    try:
        assert main(["prune", str(library), "--min-spikes", str(spikes[1] + 1), "--dataset", key, "--apply"]) == 0
    finally:
        stop.set()
        for reader in readers:
            reader.join()
    assert mixes == []
    assert len(open_group(library, key)["unit_ids"][:]) == 4
    assert seen <= {6, 4} and seen
    print(f"\nreaders saw unit counts {sorted(seen)}; {len(errors)} reads failed loudly, none mixed")


def test_the_generation_before_last_is_removed_at_the_next_prune(library):
    key = catalogue(library)["dataset"].iloc[0]
    spikes = sorted(open_group(library, key)["spikes_per_unit"][:].tolist())
    assert main(["prune", str(library), "--min-spikes", str(spikes[1] + 1), "--dataset", key, "--apply"]) == 0
    chunks = {p for p in snapshot(library / key) if p.startswith("templates_array/") and not p.endswith(".zarray")}
    assert {p for p in chunks if p.count("/") == 1} == {f"templates_array/{i}.0.0" for i in range(6)}  # kept
    assert {p for p in chunks if p.count("/") == 3} == {f"templates_array/{i}/0/0" for i in range(4)}
    refused = ["prune", str(library), "--min-spikes", str(spikes[3] + 1), "--dataset", key, "--apply"]
    before = snapshot(library / key)
    assert main(refused) == 1  # the first generation may still have readers: within the grace period
    assert snapshot(library / key) == before
    assert main(refused + ["--grace-seconds", "0"]) == 0
    files = set(snapshot(library / key))
    live = referenced_keys(json.loads((library / key / fmt.CONSOLIDATED_KEY).read_text()))
    assert {f"templates_array/{i}.0.0" for i in range(2)} <= live
    assert "templates_array/4.0.0" not in files and "templates_array/5.0.0" not in files  # first generation gone
    leftovers = files - live
    assert leftovers == {f"templates_array/{i}/0/0" for i in range(4)} | {"peak_to_peak/0/0"}, leftovers
    assert validate_library(LibraryStorage(str(library))) == []


def test_a_dataset_left_empty_by_a_prune_is_deleted(library, capsys):
    table = catalogue(library)
    key = table["dataset"].iloc[0]
    minimum = int(table[table["dataset"] == key]["spikes_per_unit"].max()) + 1
    assert main(["prune", str(library), "--min-spikes", str(minimum), "--dataset", key]) == 0
    assert "would be deleted" in capsys.readouterr().out
    assert main(["prune", str(library), "--min-spikes", str(minimum), "--dataset", key, "--apply"]) == 0
    assert not (library / key).exists()
    assert key not in set(catalogue(library)["dataset"])


def test_prune_names_a_missing_dataset(library, capsys):
    before = snapshot(library)
    assert main(["prune", str(library), "--dataset", "nope", "--apply"]) == 1
    assert "no complete dataset nope.zarr" in capsys.readouterr().err
    assert snapshot(library) == before


# --------------------------------------------------------------------------- delete


def test_delete_removes_the_dataset_and_its_rows(library, capsys):
    table = catalogue(library)
    key = table["dataset"].iloc[1]
    assert main(["delete", key, str(library), "--apply"]) == 0
    assert not (library / key).exists()
    new = catalogue(library)
    assert key not in set(new["dataset"])
    assert new["template_id"].tolist() == table[table["dataset"] != key]["template_id"].tolist()
    assert validate_library(LibraryStorage(str(library))) == []
    assert main(["delete", key, str(library), "--apply"]) == 1
    assert f"no dataset {key}" in capsys.readouterr().err


# --------------------------------------------------------------------------- restore-noise


def test_restore_noise_fills_a_dataset_without_noise(library, tmp_path):
    table = catalogue(library)
    ultra = table[table["probe"] == "Neuropixels Ultra"]["dataset"].iloc[0]
    assert table[table["dataset"] == ultra]["noise_level_uv"].isna().all()
    channels = open_group(library, ultra)["templates_array"].shape[2]
    levels = np.linspace(5.0, 9.0, channels).astype("f4")
    np.save(tmp_path / "noise.npy", levels)
    assert main(["restore-noise", str(library), ultra, "--from-npy", str(tmp_path / "noise.npy"), "--apply"]) == 0
    group = open_group(library, ultra)
    np.testing.assert_array_equal(group["channel_noise_levels"][:], levels)
    rows = catalogue(library)
    rows = rows[rows["dataset"] == ultra]
    # the csv holds format.CSV_SIGNIFICANT_DIGITS (6) significant digits: each value within 5e-6
    np.testing.assert_allclose(rows["noise_level_uv"], levels[rows["best_channel_index"]], rtol=5e-6)
    np.testing.assert_allclose(rows["signal_to_noise_ratio"], rows["amplitude_uv"] / rows["noise_level_uv"], rtol=2e-5)
    assert rows["template_id"].tolist() == table[table["dataset"] == ultra]["template_id"].tolist()


def test_restore_noise_refuses_wrong_levels_and_changes_nothing(library, tmp_path, capsys):
    key = catalogue(library)["dataset"].iloc[0]
    before = snapshot(library)
    np.save(tmp_path / "short.npy", np.ones(3, dtype="f4"))
    assert main(["restore-noise", str(library), key, "--from-npy", str(tmp_path / "short.npy"), "--apply"]) == 1
    assert "got 3 noise levels" in capsys.readouterr().err
    channels = open_group(library, key)["templates_array"].shape[2]
    np.save(tmp_path / "nan.npy", np.full(channels, np.nan, dtype="f4"))
    assert main(["restore-noise", str(library), key, "--from-npy", str(tmp_path / "nan.npy"), "--apply"]) == 1
    assert "finite and positive" in capsys.readouterr().err
    assert snapshot(library) == before


def test_restore_noise_from_nwb_reproduces_the_source_recipe(tmp_path, capsys):
    truth = write_small_nwb(tmp_path / "small.nwb")
    storage = LibraryStorage(str(tmp_path / "lib"))
    result = nwb_to_dataset(truth.path, storage, minutes=0.1, min_spikes=5, progress=False)
    assert main(["consolidate", storage.path]) == 0
    written = open_group(tmp_path / "lib", result.dataset)["channel_noise_levels"][:]
    # Lose the noise levels first (as the live bucket did), then restore them from the source.
    wrong = np.full_like(written, 99.0)
    np.save(tmp_path / "wrong.npy", wrong)
    assert main(["restore-noise", storage.path, result.dataset, "--from-npy", str(tmp_path / "wrong.npy"),
                 "--apply", "--grace-seconds", "0"]) == 0
    np.testing.assert_array_equal(open_group(tmp_path / "lib", result.dataset)["channel_noise_levels"][:], wrong)
    capsys.readouterr()
    assert main(["restore-noise", storage.path, result.dataset, "--from-nwb", str(truth.path),
                 "--minutes", "0.1", "--quiet", "--apply", "--grace-seconds", "0"]) == 0
    out = capsys.readouterr().out
    assert f"largest change {99.0 - written.min():.2f} uV" in out and "valid" in out
    assert plan_prune(storage, 0) == []
    restored = open_group(tmp_path / "lib", result.dataset)["channel_noise_levels"][:]
    assert not np.array_equal(restored, wrong)
    np.testing.assert_array_equal(restored, written)  # the recipe's own levels, bit for bit
