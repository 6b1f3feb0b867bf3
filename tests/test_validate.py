"""validate: passes on a good library, names each problem of each broken variant."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import zarr

from pipeline.validate import validate_library

PY = sys.executable


def _run(*args, **kw):
    return subprocess.run([PY, "-m", "pipeline", *args], capture_output=True, text=True, **kw)


def _csv(storage):
    return pd.read_csv(f"{storage.path}/templates.csv")


def _write_csv(storage, table):
    table.to_csv(f"{storage.path}/templates.csv", index=False)


def test_valid_library_passes(small_library):
    assert validate_library(small_library) == []
    result = _run("validate", small_library.path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "valid (3 datasets)" in result.stdout


def test_row_pointing_at_missing_unit(fresh_library):
    table = _csv(fresh_library)
    table.loc[0, "template_index"] = 99
    _write_csv(fresh_library, table)
    result = _run("validate", fresh_library.path)
    assert result.returncode == 1
    assert "line 2: template_index 99 points at a missing unit" in result.stdout


def test_wrong_array_shape(fresh_library):
    key = fresh_library.complete_datasets()[0]
    group = zarr.open_group(fresh_library.mapper(key), mode="a")
    group.create_dataset("peak_to_peak", data=np.zeros((2, 3), "f4"), overwrite=True)
    zarr.consolidate_metadata(fresh_library.mapper(key))
    problems = validate_library(fresh_library)
    assert f"{key}: peak_to_peak has shape (2, 3), expected (6, 384)" in problems


def test_missing_zmetadata(fresh_library):
    key = fresh_library.complete_datasets()[1]
    os.remove(f"{fresh_library.path}/{key}/.zmetadata")
    problems = validate_library(fresh_library)
    assert any(p.startswith(f"{key}: incomplete (no .zmetadata)") for p in problems)
    # its csv rows now point at a dataset that is not complete
    assert any(f"dataset {key} is not a complete dataset" in p for p in problems)


def test_csv_dataset_absent(fresh_library):
    key = fresh_library.complete_datasets()[0]
    shutil.rmtree(f"{fresh_library.path}/{key}")
    result = _run("validate", fresh_library.path)
    assert result.returncode == 1
    assert f"dataset {key} is not a complete dataset of this library" in result.stdout


def test_malformed_and_duplicated_ids_and_manifest_drift(fresh_library):
    table = _csv(fresh_library)
    table.loc[1, "template_id"] = table.loc[0, "template_id"]
    table.loc[2, "template_id"] = "<b>x</b>"
    _write_csv(fresh_library, table)
    problems = validate_library(fresh_library)
    assert any("appears more than once" in p for p in problems)
    assert any("malformed template_id '<b>x</b>'" in p for p in problems)
    assert "library.json: templates_csv_sha256 does not match templates.csv" in problems


def test_malformed_csv(fresh_library):
    with open(f"{fresh_library.path}/templates.csv", "w") as fh:
        fh.write('probe,dataset\n"unterminated,\n')
    problems = validate_library(fresh_library)
    assert len(problems) == 1 and "templates.csv" in problems[0]


def test_complete_dataset_missing_from_csv(fresh_library):
    table = _csv(fresh_library)
    key = table["dataset"].iloc[0]
    _write_csv(fresh_library, table[table["dataset"] != key])
    assert any(p.startswith(f"{key}: complete but not in templates.csv") for p in validate_library(fresh_library))


def test_live_twelve_column_csv_is_accepted(fresh_library):
    table = _csv(fresh_library).iloc[:, :12]
    _write_csv(fresh_library, table)
    problems = validate_library(fresh_library)
    assert problems == ["library.json: templates_csv_sha256 does not match templates.csv"]


def test_corrupt_zmetadata_is_reported_not_raised(fresh_library):
    key = fresh_library.complete_datasets()[0]
    with open(f"{fresh_library.path}/{key}/.zmetadata", "w") as fh:
        fh.write("{not json")
    problems = validate_library(fresh_library)
    assert any(p.startswith(f"{key}: cannot be opened") for p in problems)


def test_consolidate_reports_and_skips_incomplete(fresh_library):
    key = fresh_library.complete_datasets()[0]
    os.remove(f"{fresh_library.path}/{key}/.zmetadata")
    result = _run("consolidate", fresh_library.path)
    assert result.returncode == 0
    assert f"skipped incomplete dataset {key}" in result.stdout
    assert key not in set(_csv(fresh_library)["dataset"])
    manifest = json.loads(open(f"{fresh_library.path}/library.json").read())
    assert key not in manifest["datasets"]
