"""The writer against the format spec: layout, codecs, quirks, stable IDs."""

import json

import numpy as np
import pandas as pd
import pytest
import zarr

from pipeline.catalogue import consolidate, open_dataset
from pipeline.dataset_writer import DatasetExistsError, UnitMetadata, WriteOptions, write_dataset
from pipeline.sources.synthetic import SyntheticPlan, synthesize_dataset
from pipeline.storage import LibraryStorage
from templatelib import format as fmt


def _plan(kind="np1", **kw):
    return SyntheticPlan("spec_test_dataset", kind, **kw)


def test_layout_matches_spec(small_library):
    root = small_library.path
    keys = small_library.complete_datasets()
    assert len(keys) == 3
    for key in keys:
        meta = json.loads(open(f"{root}/{key}/.zmetadata").read())
        assert meta["zarr_consolidated_format"] == 1
        zarray = meta["metadata"]["templates_array/.zarray"]
        assert zarray["zarr_format"] == 2
        assert zarray["dtype"] == "<f4"
        units, samples, channels = zarray["shape"]
        assert (samples, channels) == (240, 384)
        assert zarray["chunks"] == [1, 240, 384]
        assert zarray.get("dimension_separator", ".") == "."  # zarr 2 default
        assert zarray["compressor"] == {"id": "blosc", "cname": "lz4", "clevel": 5, "shuffle": 1, "blocksize": 0}
        for name in fmt.REQUIRED_ARRAYS:
            assert f"{name}/.zarray" in meta["metadata"], name
        assert meta["metadata"]["unit_ids/.zarray"]["dtype"] == "<i8"
        assert meta["metadata"]["spikes_per_unit/.zarray"]["dtype"] == "<u4"
        assert meta["metadata"]["best_channel_index/.zarray"]["dtype"] == "<u4"
        assert meta["metadata"]["peak_to_peak/.zarray"]["shape"] == [units, channels]
        attrs = meta["metadata"][".zattrs"]
        assert attrs["sampling_frequency"] == 30000.0 and attrs["nbefore"] == 90
        assert ("is_in_uV" in attrs) != ("is_scaled" in attrs)
        model = meta["metadata"]["probe/annotations/.zattrs"]["model_name"]
        assert model in ("Neuropixels 1.0", "Neuropixels Ultra")
        assert meta["metadata"]["probe/annotations/.zattrs"]["manufacturer"] == "IMEC"
        # one chunk per unit on disk, dot-separated keys
        for u in range(units):
            assert (small_library.exists(f"{key}/templates_array/{u}.0.0"))


def test_live_quirks_are_present(small_library):
    keys = small_library.complete_datasets()
    assert any("+" in k for k in keys)
    groups = {k: open_dataset(small_library, k) for k in keys}
    assert any("is_scaled" in g.attrs for g in groups.values())
    dtypes = {str(g["brain_area"].dtype) for g in groups.values()}
    assert "object" in dtypes and any(d.startswith("<U") for d in dtypes)
    table = pd.read_csv(f"{small_library.path}/templates.csv")
    assert table["noise_level_uv"].isna().any() and table["noise_level_uv"].notna().any()
    assert set(table["probe"]) == {"Neuropixels 1.0", "Neuropixels Ultra"}


def test_catalogue_matches_arrays(small_library):
    table = pd.read_csv(f"{small_library.path}/templates.csv")
    assert tuple(table.columns) == fmt.COLUMNS
    assert table["template_id"].is_unique
    for row in table.sample(8, random_state=0).itertuples():
        group = open_dataset(small_library, row.dataset)
        template = group["templates_array"][row.template_index]
        best = int(np.argmax(np.ptp(template, axis=0)))
        assert best == row.best_channel_index
        assert np.isclose(np.ptp(template[:, best]), row.amplitude_uv, rtol=1e-5)
        assert row.depth_along_probe == group["probe"]["y"][best]
        assert row.unit_id == group["unit_ids"][row.template_index]
        assert row.dataset_path == f"s3://spikeinterface-template-database/{row.dataset}"
    manifest = json.loads(open(f"{small_library.path}/library.json").read())
    assert manifest["template_count"] == len(table)
    assert set(manifest["datasets"]) == set(table["dataset"])
    ds = next(iter(manifest["datasets"].values()))
    assert {"units", "shape", "dtype", "sampling_frequency", "probe_model", "nbefore"} <= set(ds)


def test_template_ids_survive_pruning(tmp_path):
    storage = LibraryStorage(str(tmp_path))
    templates, meta = synthesize_dataset(_plan(), 8, seed=3)
    write_dataset(storage, "d", templates, meta)
    before = pd.read_csv(_consolidated_csv(storage)).set_index("unit_id")["template_id"]
    keep = [1, 4, 6]
    pruned = templates.select_units(templates.unit_ids[keep])
    write_dataset(storage, "d", pruned, UnitMetadata(
        [meta.brain_area[i] for i in keep], [meta.spikes_per_unit[i] for i in keep], meta.channel_noise_levels),
        overwrite=True)
    after = pd.read_csv(_consolidated_csv(storage))
    assert list(after["template_index"]) == [0, 1, 2]
    for row in after.itertuples():
        assert row.template_id == before[row.unit_id]


def _consolidated_csv(storage):
    consolidate(storage)
    return f"{storage.path}/templates.csv"


def test_refuses_to_replace_complete_dataset(tmp_path):
    storage = LibraryStorage(str(tmp_path))
    templates, meta = synthesize_dataset(_plan(), 2, seed=1)
    write_dataset(storage, "d", templates, meta)
    stamp = (tmp_path / "d.zarr" / ".zmetadata").stat().st_mtime_ns
    with pytest.raises(DatasetExistsError):
        write_dataset(storage, "d", templates, meta)
    assert (tmp_path / "d.zarr" / ".zmetadata").stat().st_mtime_ns == stamp


def test_rejects_inconsistent_metadata(tmp_path):
    storage = LibraryStorage(str(tmp_path))
    templates, meta = synthesize_dataset(_plan(), 3, seed=1)
    with pytest.raises(ValueError, match="brain_area has 2 entries for 3 units"):
        write_dataset(storage, "d", templates, UnitMetadata(meta.brain_area[:2], meta.spikes_per_unit))
    assert not storage.exists("d.zarr")


def test_zlib_option_and_legacy_quirks(tmp_path):
    storage = LibraryStorage(str(tmp_path))
    templates, meta = synthesize_dataset(_plan(), 2, seed=1)
    write_dataset(storage, "z", templates, meta,
                  WriteOptions(compressor="zlib", legacy_is_scaled=True, fixed_width_brain_area=True))
    group = zarr.open_consolidated(storage.mapper("z.zarr"), mode="r")
    assert group["templates_array"].compressor.codec_id == "zlib"
    assert group["probe"]["x"].compressor.codec_id == "zlib"
    assert group.attrs["is_scaled"] is True and "is_in_uV" not in group.attrs
    assert group["brain_area"].dtype.kind == "U"
    np.testing.assert_array_equal(group["templates_array"][:], templates.templates_array)


def test_synthetic_is_deterministic_for_a_seed():
    a, ma = synthesize_dataset(_plan(), 4, seed=11)
    b, mb = synthesize_dataset(_plan(), 4, seed=11)
    c, _ = synthesize_dataset(_plan(), 4, seed=12)
    np.testing.assert_array_equal(a.templates_array, b.templates_array)
    assert ma.brain_area == mb.brain_area
    assert not np.array_equal(a.templates_array, c.templates_array)
    amplitudes = np.ptp(a.templates_array, axis=1).max(axis=1)
    assert (amplitudes > 20).all() and (amplitudes < 1000).all()
    assert a.nbefore == 90 and a.templates_array.shape[1:] == (240, 384)


@pytest.mark.parametrize("name", ["a/b", "", ".hidden", "..", "x\\y"])
def test_dataset_name_must_be_one_segment(tmp_path, name):
    storage = LibraryStorage(str(tmp_path))
    templates, meta = synthesize_dataset(_plan(), 1, seed=1)
    with pytest.raises(ValueError, match="one path segment"):
        write_dataset(storage, name, templates, meta)
