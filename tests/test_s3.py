"""The pipeline on S3: write, consolidate, prune and validate against a moto server, then read
back anonymously with the unmodified spikeinterface client.

The library goes at the root of a bucket named like the public one, because the client
hard-codes ``s3://spikeinterface-template-database``; only ``AWS_ENDPOINT_URL`` differs.
"""

from __future__ import annotations

import os

import boto3
import numpy as np
import pandas as pd
import pytest
from botocore import UNSIGNED
from botocore.config import Config

from fixtures_nwb import write_small_nwb
from pipeline import dataset_writer
from pipeline.catalogue import consolidate
from pipeline.cli import main
from pipeline.dataset_writer import write_dataset
from pipeline.sources.synthetic import SyntheticPlan, synthesize_dataset
from pipeline.storage import LibraryStorage
from pipeline.validate import validate_library
from s3_server import make_bucket, moto_server, s3_environment
from templatelib import format as fmt
from test_spikeinterface_compat import run_unmodified_client

BUCKET = fmt.PUBLIC_BUCKET
ROOT = f"s3://{BUCKET}"


@pytest.fixture(scope="module")
def endpoint():
    saved = dict(os.environ)
    with moto_server() as url:
        os.environ.update(s3_environment(url))
        try:
            make_bucket(url, BUCKET)
            make_bucket(url, "maintainers-staging")
            yield url
        finally:
            os.environ.clear()
            os.environ.update(saved)


def anonymous_s3(endpoint):
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-2", config=Config(signature_version=UNSIGNED))


def test_round_trip_through_the_unmodified_client(endpoint, tmp_path):
    storage = LibraryStorage(ROOT)
    given = {}
    for name, seed in (("ibl_like_behavior+ecephys+image", 1), ("second", 2)):
        templates, meta = synthesize_dataset(SyntheticPlan(name, "np1"), 5, seed=seed)
        meta.spikes_per_unit = [500, 20, 600, 700, 800] if name == "second" else [900] * 5
        given[write_dataset(storage, name, templates, meta)] = templates
    assert main(["consolidate", ROOT]) == 0
    # the maintenance path on S3 too: one dataset rewritten with the "/" chunk separator
    assert main(["prune", ROOT, "--min-spikes", "50", "--apply"]) == 0
    assert main(["validate", ROOT]) == 0
    expected = {key: t.templates_array[[0, 2, 3, 4]] if key == "second.zarr" else t.templates_array
                for key, t in given.items()}

    # every object the public client reads is readable without credentials
    anonymous = anonymous_s3(endpoint)
    anonymous.head_object(Bucket=BUCKET, Key=fmt.CATALOGUE_FILE)
    anonymous.head_object(Bucket=BUCKET, Key=f"second.zarr/{fmt.CONSOLIDATED_KEY}")
    anonymous.get_object(Bucket=BUCKET, Key="second.zarr/templates_array/0/0/0")

    report, arrays = run_unmodified_client(endpoint, tmp_path)
    assert report["columns"] == list(fmt.COLUMNS)
    assert report["rows"] == 9
    assert sorted(report["datasets"]) == sorted(given)
    for key, array in expected.items():
        np.testing.assert_array_equal(arrays[f"whole::{key}"], array)
    assert report["meta"]["second.zarr"][3] == [int(u) for u in np.asarray(given["second.zarr"].unit_ids)[[0, 2, 3, 4]]]


def test_nwb_source_publishes_under_a_prefix(endpoint, tmp_path, capsys):
    truth = write_small_nwb(tmp_path / "sub-S3_ses-one_ecephys.nwb")
    root = "s3://maintainers-staging/library/v1"
    assert main(["nwb", str(truth.path), "--root", root, "--minutes", "0.1", "--min-spikes", "5", "--quiet"]) == 0
    storage = LibraryStorage(root)
    assert storage.complete_datasets() == ["sub-S3_ses-one_ecephys_ElectricalSeriesAp.zarr"]
    table = pd.read_csv(storage.url(fmt.CATALOGUE_FILE), storage_options={"anon": False})
    assert len(table) == len(truth.unit_ids)
    assert validate_library(storage) == []
    # a refused input writes nothing, on S3 as locally
    before = sorted(storage.fs.find(storage.path))
    assert main(["nwb", str(truth.path), "--root", root, "--minutes", "5", "--name", "other", "--quiet"]) == 1
    assert "shorter than the requested 5 min" in capsys.readouterr().err
    storage.fs.invalidate_cache()
    assert sorted(storage.fs.find(storage.path)) == before


def test_an_interrupted_upload_is_never_visible_and_a_rerun_completes(endpoint, monkeypatch):
    storage = LibraryStorage("s3://maintainers-staging/interrupted")
    templates, meta = synthesize_dataset(SyntheticPlan("half", "np1"), 3, seed=5)

    def crash(*_args):
        raise KeyboardInterrupt("killed before the consolidated metadata")

    with monkeypatch.context() as patch:
        patch.setattr(dataset_writer, "write_consolidated_metadata", crash)
        with pytest.raises(KeyboardInterrupt):
            write_dataset(storage, "half", templates, meta)
    assert storage.exists("half.zarr/templates_array/2.0.0")  # the data went up...
    manifest = consolidate(storage)
    assert manifest["datasets"] == {} or "half.zarr" not in manifest["datasets"]  # ...but is not listed
    assert "half.zarr: incomplete" in " ".join(validate_library(storage))
    write_dataset(storage, "half", templates, meta)
    assert consolidate(storage)["template_count"] == 3
    assert validate_library(storage) == []


def test_catalogue_objects_are_replaced_whole(endpoint):
    """Each catalogue file is one PUT: a reader gets the old object or the new one."""
    storage = LibraryStorage("s3://maintainers-staging/catalogue")
    templates, meta = synthesize_dataset(SyntheticPlan("one", "np1"), 2, seed=6)
    write_dataset(storage, "one", templates, meta)
    first = consolidate(storage)
    templates, meta = synthesize_dataset(SyntheticPlan("two", "np1"), 3, seed=7)
    write_dataset(storage, "two", templates, meta)
    second = consolidate(storage)
    assert (first["template_count"], second["template_count"]) == (2, 5)
    listing = anonymous_s3(os.environ["AWS_ENDPOINT_URL"]).list_objects_v2(Bucket="maintainers-staging",
                                                                            Prefix="catalogue/")
    names = {o["Key"].split("/", 1)[1] for o in listing["Contents"] if "/" not in o["Key"].split("/", 1)[1]}
    # no temporary objects left behind
    assert names == {fmt.CATALOGUE_FILE, fmt.COMPACT_CATALOGUE_FILE, fmt.MANIFEST_FILE}


def test_npultra_and_dask_sessions_publish_to_s3(endpoint, tmp_path, capsys):
    """The other writers on S3: NP-Ultra, and NWB sessions on two Dask workers (which inherit
    the AWS variables and write their datasets themselves)."""
    from test_np_ultra import write_ultra_folder

    root = "s3://maintainers-staging/others"
    write_ultra_folder(tmp_path / "NPUltraWaveforms")
    assert main(["npultra", str(tmp_path / "NPUltraWaveforms"), "--root", root, "--quiet"]) == 0
    paths = [write_small_nwb(tmp_path / f"sub-D{i}_ses-dask_ecephys.nwb").path for i in range(2)]
    assert main(["nwb", *map(str, paths), "--root", root, "--workers", "2", "--minutes", "0.1",
                 "--min-spikes", "5", "--quiet"]) == 0
    storage = LibraryStorage(root)
    names = storage.complete_datasets()
    assert sum(n.startswith("steinmetz_ye_np_ultra_2022") for n in names) == 3
    assert {f"sub-D{i}_ses-dask_ecephys_ElectricalSeriesAp.zarr" for i in range(2)} <= set(names)
    table = pd.read_csv(storage.url(fmt.CATALOGUE_FILE))
    assert set(table["dataset"]) == set(names)
    assert validate_library(storage) == []
