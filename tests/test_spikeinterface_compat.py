"""The unmodified spikeinterface client reads what our writer wrote, through serve-data.

The client hard-codes ``s3://spikeinterface-template-database``; ``AWS_ENDPOINT_URL`` points
botocore at our server, which serves the library under that bucket path. It runs in a
subprocess: a user's fresh interpreter, and no ``functools.cache`` carried between tests.
"""

import io
import json
import os
import subprocess
import sys
import textwrap

import fsspec
import numpy as np
import pandas as pd
import pytest
import zarr

from conftest import start_data_server
from pipeline.catalogue import consolidate
from pipeline.dataset_writer import WriteOptions, write_dataset
from pipeline.sources.synthetic import SyntheticPlan, synthesize_dataset
from pipeline.storage import LibraryStorage
from templatelib import format as fmt

CLIENT = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    from spikeinterface.generation import (
        fetch_templates_database_info, list_available_datasets_in_template_database,
        fetch_template_object_from_database, query_templates_from_database,
    )
    out = sys.argv[1]
    df = fetch_templates_database_info()
    datasets = list_available_datasets_in_template_database()
    whole = {d: fetch_template_object_from_database(d) for d in datasets}
    pick = df.iloc[[5, 0, 3]]
    queried = query_templates_from_database(pick)
    arrays = {f"whole::{d}": t.templates_array for d, t in whole.items()}
    arrays["queried"] = queried.templates_array
    arrays["locations"] = queried.get_channel_locations()
    np.savez(out + ".npz", **arrays)
    json.dump({
        "columns": list(df.columns), "rows": len(df), "datasets": datasets,
        "picked": pick[["dataset", "template_index"]].values.tolist(),
        "meta": {d: [t.sampling_frequency, t.nbefore, t.is_in_uV, list(map(int, t.unit_ids))] for d, t in whole.items()},
        "probe_model": queried.probe.annotations.get("model_name"),
        "dtypes": {c: str(t) for c, t in df.dtypes.items()},
        "numbers": {c: df[c].tolist() for c in df.columns if df[c].dtype.kind in "if"},
    }, open(out + ".json", "w"))
    """
)


def run_unmodified_client(endpoint: str, folder) -> tuple[dict, dict]:
    """Run :data:`CLIENT` anonymously against ``endpoint``; its JSON report and arrays."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ENDPOINT_URL=endpoint, AWS_DEFAULT_REGION="us-east-2")
    out = str(folder / "client")
    result = subprocess.run([sys.executable, "-c", CLIENT, out], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.load(open(out + ".json")), np.load(out + ".npz")


@pytest.fixture(scope="module")
def known_library(tmp_path_factory):
    """Two NP1.0 datasets (same geometry, so the client may query across them)."""
    root = tmp_path_factory.mktemp("compat") / "lib"
    storage = LibraryStorage(str(root))
    given = {}
    for name, seed, legacy in (("ibl_like_behavior+ecephys+image", 1, True), ("second", 2, False)):
        templates, meta = synthesize_dataset(SyntheticPlan(name, "np1"), 4, seed=seed)
        key = write_dataset(storage, name, templates, meta, WriteOptions(legacy_is_scaled=legacy))
        given[key] = templates
    consolidate(storage)
    return storage, given


def test_unmodified_client_reads_our_library(known_library, tmp_path):
    storage, given = known_library
    with start_data_server(storage.path) as server:
        report, arrays = run_unmodified_client(server.url, tmp_path)
    assert report["columns"] == list(fmt.COLUMNS)
    assert report["rows"] == 8
    assert sorted(report["datasets"]) == sorted(given)
    for key, templates in given.items():
        np.testing.assert_array_equal(arrays[f"whole::{key}"], templates.templates_array)
        sampling_frequency, nbefore, in_uv, unit_ids = report["meta"][key]
        assert (sampling_frequency, nbefore, in_uv) == (30000.0, 90, True)
        assert unit_ids == list(map(int, templates.unit_ids))
    # the client returns the picked rows in dataset order, each at its template_index
    expected = np.concatenate([
        given[d].templates_array[[i for dd, i in report["picked"] if dd == d]]
        for d in sorted({d for d, _ in report["picked"]})
    ])
    np.testing.assert_array_equal(arrays["queried"], expected)
    np.testing.assert_array_equal(arrays["locations"], next(iter(given.values())).get_channel_locations())
    assert report["probe_model"] == "Neuropixels 1.0"


def test_client_reads_short_floats_as_our_reader_does(known_library, tmp_path):
    """templates.csv holds floats with the precision they carry (format.CSV_SIGNIFICANT_DIGITS);
    the unmodified client reads every number column as the page's reader does: same dtype
    kind, same float64 values."""
    from templatelib.catalogue import read_catalogue_csv

    storage, _ = known_library
    raw = storage.read_bytes(fmt.CATALOGUE_FILE)
    ours = read_catalogue_csv(raw).to_numpy()
    with start_data_server(storage.path) as server:
        report, _ = run_unmodified_client(server.url, tmp_path)
    for column in fmt.LIVE_NUMERIC_COLUMNS + fmt.METRIC_COLUMNS:
        expected = ours[column]
        assert report["dtypes"][column] == str(expected.dtype), column
        got = np.array(report["numbers"][column], dtype=expected.dtype)
        np.testing.assert_array_equal(got, expected, err_msg=column)
    # the precision they carry, not 17 digits: no cell has more significant digits than that
    cells = pd.read_csv(io.BytesIO(raw), dtype=str, keep_default_na=False)
    for column in ("amplitude_uv", "peak_to_trough_duration", "repolarization_slope"):
        digits = cells[column].str.replace(r"e.*$|^-|\.", "", regex=True).str.strip("0")
        assert digits.str.len().max() <= fmt.CSV_SIGNIFICANT_DIGITS, column


def test_plain_zarr_and_pandas_over_http(known_library):
    storage, given = known_library
    with start_data_server(storage.path) as server:
        table = pd.read_csv(f"{server.url}/templates.csv")
        assert list(table.columns) == list(fmt.COLUMNS)
        for key, templates in given.items():
            group = zarr.open_consolidated(fsspec.get_mapper(f"{server.url}/{key}"), mode="r")
            rows = table[table["dataset"] == key]
            for row in rows.itertuples():
                np.testing.assert_array_equal(group["templates_array"][row.template_index],
                                              templates.templates_array[row.template_index])
            np.testing.assert_array_equal(group["probe"]["y"][:], templates.get_channel_locations()[:, 1])
