"""validate: passes on a good library, names each problem of each broken variant."""

import json
import os
import shutil
import subprocess
import sys
import time
import tracemalloc
import zlib

import numpy as np
import pandas as pd
import pytest
import zarr

from pipeline.validate import validate_library

PY = sys.executable

# A hang or a bomb inflated in full fails one test, not the run.
pytestmark = pytest.mark.timeout(60)


def _run(*args, **kw):
    kw.setdefault("timeout", 60)
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


def _drop_compact(storage):
    """Make it a live-format library: no catalogue.htlc (which a rewritten csv would contradict)."""
    manifest = json.loads(storage.read_bytes("library.json"))
    manifest.pop("catalogue_compact")
    storage.write_bytes("library.json", json.dumps(manifest).encode())
    storage.remove("catalogue.htlc")


def test_live_twelve_column_csv_is_accepted(fresh_library):
    table = _csv(fresh_library).iloc[:, :12]
    _write_csv(fresh_library, table)
    problems = validate_library(fresh_library)
    # the compact catalogue derives from the previous csv: named, then gone for a live library
    assert problems[0] == "library.json: templates_csv_sha256 does not match templates.csv"
    assert all(p.startswith("catalogue.htlc: ") for p in problems[1:]) and len(problems) == 3
    _drop_compact(fresh_library)
    assert validate_library(fresh_library) == ["library.json: templates_csv_sha256 does not match templates.csv"]


def test_refused_by_the_page_reader_is_a_problem(fresh_library):
    """pandas pads a ragged row; the one definition of a valid catalogue refuses it."""
    raw = fresh_library.read_bytes("templates.csv")
    fresh_library.write_bytes("templates.csv", raw + b"x,y\n")
    problems = validate_library(fresh_library)
    assert any(p.startswith("templates.csv line ") and "cells, the header has" in p for p in problems), problems


def test_corrupt_zmetadata_is_reported_not_raised(fresh_library):
    key = fresh_library.complete_datasets()[0]
    with open(f"{fresh_library.path}/{key}/.zmetadata", "w") as fh:
        fh.write("{not json")
    problems = validate_library(fresh_library)
    assert any(p.startswith(f"{key}: cannot be opened") for p in problems)
    # the dataset's rows are not reported once more each: the dataset's own line says it all
    assert not any("points at a missing unit" in p for p in problems)


def test_consolidate_reports_and_skips_incomplete(fresh_library):
    key = fresh_library.complete_datasets()[0]
    os.remove(f"{fresh_library.path}/{key}/.zmetadata")
    result = _run("consolidate", fresh_library.path)
    assert result.returncode == 0
    assert f"skipped incomplete dataset {key}" in result.stdout
    assert key not in set(_csv(fresh_library)["dataset"])
    manifest = json.loads(open(f"{fresh_library.path}/library.json").read())
    assert key not in manifest["datasets"]


# --- damage to a dataset's metadata -------------------------------------------------------------

def _key(storage, index=0):
    return storage.complete_datasets()[index]


def _metadata(storage, key):
    return json.loads(open(f"{storage.path}/{key}/.zmetadata").read())


def _edit_metadata(storage, key, edit):
    """Apply ``edit`` to the consolidated ``metadata`` dict: what every reader opens."""
    document = _metadata(storage, key)
    edit(document["metadata"])
    with open(f"{storage.path}/{key}/.zmetadata", "w") as fh:
        json.dump(document, fh)


def _one_line_each(problems):
    assert problems, "expected problems"
    assert all("\n" not in p and "Traceback" not in p for p in problems), problems
    return problems


@pytest.mark.parametrize("array", ["templates_array", "unit_ids", "peak_to_peak", "best_channel_index"])
def test_missing_array(fresh_library, array):
    key = _key(fresh_library)
    _edit_metadata(fresh_library, key, lambda m: m.pop(f"{array}/.zarray"))
    assert f"{key}: missing array '{array}'" in _one_line_each(validate_library(fresh_library))


@pytest.mark.parametrize("attr", ["sampling_frequency", "nbefore", "is_in_uV"])
def test_missing_attribute(fresh_library, attr):
    key = _key(fresh_library)
    _edit_metadata(fresh_library, key, lambda m: m[".zattrs"].pop(attr))
    problems = _one_line_each(validate_library(fresh_library))
    assert any(p.startswith(f"{key}: missing attribute '{attr}'") for p in problems)


@pytest.mark.parametrize("value, message", [
    (240, "nbefore=240 outside 0..239"),
    (-1, "nbefore=-1 outside 0..239"),
    ("90", "nbefore='90' is not an integer"),
])
def test_nbefore_out_of_range(fresh_library, value, message):
    key = _key(fresh_library, 1)
    _edit_metadata(fresh_library, key, lambda m: m[".zattrs"].update(nbefore=value))
    assert f"{key}: {message}" in _one_line_each(validate_library(fresh_library))


def test_bad_chunking(fresh_library):
    key = _key(fresh_library)
    _edit_metadata(fresh_library, key, lambda m: m["templates_array/.zarray"].update(chunks=[2, 240, 384]))
    problems = _one_line_each(validate_library(fresh_library))
    assert any(p.startswith(f"{key}: templates_array chunks (2, 240, 384), expected one unit per chunk") for p in problems)


@pytest.mark.parametrize("field, value, message", [
    ("chunks", [0, 240, 384], "chunks [0, 240, 384] is not a list of positive integers"),
    ("chunks", [-1, 240, 384], "chunks [-1, 240, 384] is not a list of positive integers"),
    ("chunks", "big", "chunks 'big' is not a list of positive integers"),
    ("shape", [-6, 240, 384], "shape [-6, 240, 384] is not a list of non-negative integers"),
    ("shape", [1_000_000, 240, 384], "chunk grid of 1000000 chunks"),
    ("shape", [10**15, 240, 384], "exceeds the validator's limit of 100000"),
    ("dimension_separator", "\\", "dimension_separator '\\\\' is neither"),
    ("dtype", "not-a-dtype", "is not a numpy dtype"),
])
def test_absurd_array_metadata_is_reported_not_iterated(fresh_library, field, value, message):
    key = _key(fresh_library)
    _edit_metadata(fresh_library, key, lambda m: m["templates_array/.zarray"].update({field: value}))
    problems = _one_line_each(validate_library(fresh_library, deep=True))
    assert any(p.startswith(f"{key}/templates_array: ") and message in p for p in problems), problems


def test_absurd_shape_of_a_per_unit_array_is_not_read(fresh_library):
    key = _key(fresh_library)
    # one chunk claiming 10^12 entries: reading it would allocate 8 TB
    _edit_metadata(fresh_library, key, lambda m: m["unit_ids/.zarray"].update(shape=[10**12], chunks=[10**12]))
    problems = _one_line_each(validate_library(fresh_library))
    assert f"{key}: unit_ids has shape (1000000000000,), expected (6,)" in problems


def test_best_channel_out_of_range(fresh_library):
    key = _key(fresh_library)
    zarr.open_group(fresh_library.mapper(key), mode="a")["best_channel_index"][2] = 999
    assert f"{key}: best_channel_index outside 0..383" in _one_line_each(validate_library(fresh_library))


@pytest.mark.parametrize("remove, message", [
    ("probe/x/.zarray", "probe group has no 'x'"),
    ("probe/y/.zarray", "probe group has no 'y'"),
    ("model_name", "probe annotations lack 'model_name'"),
    ("probe/.zgroup", "missing group 'probe'"),
])
def test_probe_without_contacts_or_model(fresh_library, remove, message):
    key = _key(fresh_library)

    def edit(metadata):
        if remove == "model_name":
            metadata["probe/annotations/.zattrs"].pop("model_name")
        else:
            metadata.pop(remove)

    _edit_metadata(fresh_library, key, edit)
    assert f"{key}: {message}" in _one_line_each(validate_library(fresh_library))


def test_duplicate_unit_ids(fresh_library):
    key = _key(fresh_library)
    unit_ids = zarr.open_group(fresh_library.mapper(key), mode="a")["unit_ids"]
    unit_ids[1] = unit_ids[0]
    assert f"{key}: unit_ids are not unique" in _one_line_each(validate_library(fresh_library))


@pytest.mark.parametrize("column", ["unit_id", "template_id"])
def test_unit_id_or_template_id_mismatch(fresh_library, column):
    table = _csv(fresh_library)
    if column == "unit_id":
        table.loc[3, "unit_id"] = 123456
        expected = "line 5: unit_id 123456 but"
    else:
        table.loc[3, "template_id"] = "0123456789abcdef"
        expected = "line 5: template_id 0123456789abcdef does not match"
    _write_csv(fresh_library, table)
    assert any(expected in p for p in _one_line_each(validate_library(fresh_library)))


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", "\"text\"", "\xff\xfe garbage"])
def test_zmetadata_not_json_or_not_an_object(fresh_library, content):
    key = _key(fresh_library)
    with open(f"{fresh_library.path}/{key}/.zmetadata", "w", encoding="latin-1") as fh:
        fh.write(content)
    problems = _one_line_each(validate_library(fresh_library))
    assert any(p.startswith(f"{key}: cannot be opened: .zmetadata") for p in problems), problems


# --- chunks ---------------------------------------------------------------------------------

def _chunk_file(storage, key, unit):
    return f"{storage.path}/{key}/templates_array/{unit}.0.0"


@pytest.fixture
def zlib_library(tmp_path):
    from conftest import build_library

    return build_library(tmp_path / "zlib", compressor="zlib")


def test_deleted_chunk_is_reported_with_dataset_and_unit(fresh_library):
    key = _key(fresh_library)
    os.remove(_chunk_file(fresh_library, key, 3))
    problems = _one_line_each(validate_library(fresh_library))
    assert any(p.startswith(f"{key}: templates_array chunk 3.0.0 of unit 3 is missing") for p in problems)


def test_slash_separated_chunks_are_found_and_checked(fresh_library):
    """A dataset rewritten in place uses '/' keys (templates_array/3/0/0)."""
    key = _key(fresh_library)
    folder = f"{fresh_library.path}/{key}/templates_array"
    for unit in range(6):
        os.makedirs(f"{folder}/{unit}/0")
        os.replace(f"{folder}/{unit}.0.0", f"{folder}/{unit}/0/0")
    _edit_metadata(fresh_library, key, lambda m: m["templates_array/.zarray"].update(dimension_separator="/"))
    assert validate_library(fresh_library, deep=True) == []
    os.remove(f"{folder}/4/0/0")
    problems = _one_line_each(validate_library(fresh_library))
    assert any(p.startswith(f"{key}: templates_array chunk 4/0/0 of unit 4 is missing") for p in problems)


@pytest.mark.parametrize("compressor", ["blosc", "zlib"])
def test_truncated_chunk_is_found_by_deep(tmp_path, compressor):
    from conftest import build_library

    storage = build_library(tmp_path / "lib", compressor=compressor)
    key = _key(storage, 1)
    path = _chunk_file(storage, key, 2)
    data = open(path, "rb").read()
    with open(path, "wb") as fh:
        fh.write(data[: len(data) // 2])
    assert validate_library(storage) == []  # present: the shallow check lists, it does not read
    problems = _one_line_each(validate_library(storage, deep=True))
    assert len(problems) == 1
    assert problems[0].startswith(f"{key}/templates_array/2.0.0: ") and problems[0].endswith("(unit 2)")
    assert "truncated" in problems[0]
    result = _run("validate", storage.path, "--deep")
    assert result.returncode == 1 and "Traceback" not in result.stdout + result.stderr
    assert "(unit 2)" in result.stdout


def _zeros_deflated(nbytes):
    compressor = zlib.compressobj(9)
    block = bytes(1 << 20)
    parts = [compressor.compress(block) for _ in range(nbytes // len(block))]
    return b"".join(parts) + compressor.flush()


@pytest.mark.parametrize("gib", [1 / 16, 1])
def test_zlib_bomb_is_refused_before_inflating(zlib_library, gib):
    key = _key(zlib_library)
    bomb = _zeros_deflated(int(gib * (1 << 30)))  # 64 MiB -> ~64 KB, 1 GiB -> ~1 MB
    with open(_chunk_file(zlib_library, key, 0), "wb") as fh:
        fh.write(bomb)
    tracemalloc.start()
    started = time.monotonic()
    problems = _one_line_each(validate_library(zlib_library, deep=True))
    elapsed = time.monotonic() - started
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(problems) == 1 and problems[0].startswith(f"{key}/templates_array/0.0.0: "), problems
    assert "bomb" in problems[0] or "too large" in problems[0]
    assert elapsed < 10
    assert peak < 64 << 20  # never anywhere near the bomb's size


def _write_zlib_chunk(storage, key, unit, array):
    with open(_chunk_file(storage, key, unit), "wb") as fh:
        fh.write(zlib.compress(np.ascontiguousarray(array, dtype="<f4").tobytes()))


def _template_shape(storage, key):
    return tuple(_metadata(storage, key)["metadata"]["templates_array/.zarray"]["chunks"])


@pytest.mark.parametrize("content, message", [
    ("flat", "template of unit 1 is flat (constant)"),
    ("nan", "template of unit 1 holds NaN or infinite values"),
    ("inf", "template of unit 1 holds NaN or infinite values"),
    ("scaled", "peak_to_peak of unit 1 does not match its template"),
])
def test_deep_checks_template_values(zlib_library, content, message):
    key = _key(zlib_library)
    template = zarr.open_consolidated(zlib_library.mapper(key))["templates_array"][1:2]
    if content == "flat":
        template = np.full(_template_shape(zlib_library, key), 7.0)
    elif content in ("nan", "inf"):
        template[0, 10, 10] = np.nan if content == "nan" else np.inf
    else:
        template = template * 2
    _write_zlib_chunk(zlib_library, key, 1, template)
    assert validate_library(zlib_library) == []
    problems = _one_line_each(validate_library(zlib_library, deep=True))
    assert any(p.startswith(f"{key}: {message}") for p in problems), problems


def test_wrong_decoded_size_is_refused(zlib_library):
    key = _key(zlib_library)
    with open(_chunk_file(zlib_library, key, 5), "wb") as fh:
        fh.write(zlib.compress(bytes(1000)))
    problems = _one_line_each(validate_library(zlib_library, deep=True))
    assert any(p.startswith(f"{key}/templates_array/5.0.0: truncated zlib") or "decodes to 1000 bytes" in p
               for p in problems), problems


def test_decode_limit_refuses_large_chunks(zlib_library):
    problems = _one_line_each(validate_library(zlib_library, deep=True, max_decoded=1024))
    assert any("exceeds the decode limit of 1024 bytes" in p for p in problems)


# --- the catalogue's numbers ------------------------------------------------------------------

@pytest.mark.parametrize("column, value, rule", [
    ("amplitude_uv", np.inf, "a finite number > 0"),
    ("amplitude_uv", np.nan, "a finite number > 0"),
    ("amplitude_uv", -5.0, "a finite number > 0"),
    ("depth_along_probe", np.nan, "a finite number"),
    ("depth_along_probe", -np.inf, "a finite number"),
    ("noise_level_uv", np.inf, "empty (NaN) or a finite number >= 0"),
    ("noise_level_uv", -1.0, "empty (NaN) or a finite number >= 0"),
    ("signal_to_noise_ratio", np.inf, "empty (NaN) or a finite number >= 0"),
    ("template_index", 1.5, "an integer >= 0"),
    ("template_index", np.nan, "an integer >= 0"),
    ("best_channel_index", -1, "an integer >= 0"),
    ("best_channel_index", "many", "an integer >= 0"),
    ("spikes_per_unit", 0, "an integer > 0"),
    ("spikes_per_unit", -3, "an integer > 0"),
])
def test_catalogue_numbers(fresh_library, column, value, rule):
    table = _csv(fresh_library).astype({column: object})
    table.loc[4, column] = value
    _write_csv(fresh_library, table)
    problems = _one_line_each(validate_library(fresh_library))
    assert any(p.startswith(f"templates.csv line 6: {column} is ") and p.endswith(f"must be {rule}")
               for p in problems), problems


def test_nan_noise_is_allowed(fresh_library):
    table = _csv(fresh_library)
    table["noise_level_uv"] = np.nan
    table["signal_to_noise_ratio"] = np.nan
    _write_csv(fresh_library, table)
    _drop_compact(fresh_library)  # it describes the previous csv
    assert validate_library(fresh_library) == ["library.json: templates_csv_sha256 does not match templates.csv"]


def test_text_in_a_number_column_leaves_the_other_rows_checked(fresh_library):
    table = _csv(fresh_library).astype({"best_channel_index": object, "template_index": object})
    table.loc[0, "best_channel_index"] = "many"
    table.loc[1, "best_channel_index"] = "5.0"  # read back as text: the column holds a word
    table.loc[2, "template_index"] = "99.0"
    _write_csv(fresh_library, table)
    problems = _one_line_each(validate_library(fresh_library))
    assert any(p.startswith("templates.csv line 2: best_channel_index is 'many'") for p in problems)
    assert any("line 4: template_index 99 points at a missing unit" in p for p in problems), problems
    assert not any("cannot be checked" in p for p in problems)


def test_best_channel_beyond_the_probe_in_csv(fresh_library):
    table = _csv(fresh_library)
    table.loc[0, "best_channel_index"] = 384
    _write_csv(fresh_library, table)
    assert any("line 2: best_channel_index 384 outside 0..383" in p for p in validate_library(fresh_library))


# --- library.json ---------------------------------------------------------------------------

def _manifest_path(storage):
    return f"{storage.path}/library.json"


def _edit_manifest(storage, edit):
    manifest = json.loads(open(_manifest_path(storage)).read())
    manifest = edit(manifest) or manifest
    with open(_manifest_path(storage), "w") as fh:
        fh.write(json.dumps(manifest))


def test_missing_library_json(fresh_library):
    os.remove(_manifest_path(fresh_library))
    assert validate_library(fresh_library) == ["library.json: missing (run 'python -m pipeline consolidate')"]


@pytest.mark.parametrize("content", ["{not json", "\xff\xfe", '{"format_version": NaN}'])
def test_library_json_not_json(fresh_library, content):
    with open(_manifest_path(fresh_library), "w", encoding="latin-1") as fh:
        fh.write(content)
    problems = _one_line_each(validate_library(fresh_library))
    assert len(problems) == 1 and problems[0].startswith("library.json: not valid JSON")


def _set(path, value):
    def edit(manifest):
        target = manifest
        for part in path[:-1]:
            target = target[part] if part != "*" else next(iter(target.values()))
        target[path[-1]] = value
    return edit


@pytest.mark.parametrize("edit, where", [
    (lambda m: [m], "(top level): "),
    (_set(["format_version"], "1"), "format_version: "),
    (_set(["zarr_format"], 3), "zarr_format: "),
    (_set(["created"], 20261124), "created: "),
    (_set(["templates_csv_sha256"], "abc"), "templates_csv_sha256: "),
    (_set(["template_count"], -1), "template_count: "),
    (_set(["template_count"], "18"), "template_count: "),
    (_set(["datasets"], []), "datasets: "),
    (_set(["datasets", "*", "units"], 6.5), "/units: "),
    (_set(["datasets", "*", "shape"], [6, 240]), "/shape: "),
    (_set(["datasets", "*", "sampling_frequency"], 0), "/sampling_frequency: "),
    (_set(["datasets", "*", "nbefore"], -1), "/nbefore: "),
    (_set(["datasets", "*", "probe_model"], None), "/probe_model: "),
    (_set(["datasets", "*", "dtype"], 4), "/dtype: "),
    (lambda m: {k: v for k, v in m.items() if k != "created"}, "(top level): 'created' is a required property"),
])
def test_library_json_schema(fresh_library, edit, where):
    _edit_manifest(fresh_library, edit)
    problems = _one_line_each(validate_library(fresh_library))
    assert any(p.startswith("library.json: ") and where in p for p in problems), problems


def test_library_json_count_must_match_the_csv(fresh_library):
    _edit_manifest(fresh_library, _set(["template_count"], 17))
    assert validate_library(fresh_library) == ["library.json: template_count 17 but templates.csv has 18 rows"]


def test_library_json_may_grow_new_members(fresh_library):
    _edit_manifest(fresh_library, _set(["something_new"], {"anything": [1, 2, 3]}))
    _edit_manifest(fresh_library, _set(["provenance"], "a string today, an object tomorrow"))
    assert validate_library(fresh_library) == []
    # ...but a member the format defines is checked.
    _edit_manifest(fresh_library, _set(["previews"], {"anything": [1, 2, 3]}))
    assert any("previews: format_version" in p for p in validate_library(fresh_library))


# --- hostile input through the CLI: one line per problem, exit 1, never a traceback ------------

def _cli(capsys, *args):
    from pipeline.cli import main

    code = main(["validate", *args])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out


def test_cli_root_missing_or_a_file(tmp_path, capsys):
    code, out = _cli(capsys, str(tmp_path / "nowhere"))
    assert code == 1 and "nowhere: does not exist" in out
    (tmp_path / "file").write_text("x")
    code, out = _cli(capsys, str(tmp_path / "file"))
    assert code == 1 and "file: is a file, not a library folder" in out


@pytest.mark.parametrize("content, message", [
    (bytes(range(256)) * 4, "templates.csv: not UTF-8 text"),
    (b"a,b\x00c\n1,2\n", "templates.csv: holds NUL bytes"),
    (b"probe,dataset\nx,y\n", "templates.csv: missing column 'amplitude_uv'"),
    (b"", "templates.csv: cannot be parsed as csv"),
])
def test_cli_hostile_catalogue(fresh_library, capsys, content, message):
    with open(f"{fresh_library.path}/templates.csv", "wb") as fh:
        fh.write(content)
    code, out = _cli(capsys, fresh_library.path)
    assert code == 1 and message in out


def test_cli_hostile_metadata_and_manifest(fresh_library, capsys):
    key = _key(fresh_library)
    with open(f"{fresh_library.path}/{key}/.zmetadata", "w") as fh:
        fh.write("[]")
    with open(_manifest_path(fresh_library), "w") as fh:
        fh.write("[]")
    code, out = _cli(capsys, fresh_library.path)
    assert code == 1
    assert f"{key}: cannot be opened: .zmetadata is a JSON list, not an object" in out
    assert "library.json: (top level): [] is not of type 'object'" in out
