"""The synthetic command and the guarantees around interrupted writes."""

import os
import subprocess
import sys
import textwrap

import pandas as pd

PY = sys.executable
#: Seconds any child process may take: a hang fails its test instead of stalling the run.
TIMEOUT_S = 300


def _run(*args):
    return subprocess.run([PY, "-m", "pipeline", *args], capture_output=True, text=True, timeout=TIMEOUT_S)


def test_help_lists_commands():
    out = _run("--help").stdout
    for command in ("synthetic", "consolidate", "pack", "validate", "nwb", "ibl", "npultra", "prune", "delete", "restore-noise"):
        assert command in out


def test_synthetic_builds_a_valid_library(tmp_path):
    root = tmp_path / "lib"
    result = _run("synthetic", str(root), "--datasets", "2", "--units", "3", "--compressor", "zlib")
    assert result.returncode == 0, result.stderr
    assert "wrote 2 datasets, 6 templates" in result.stdout
    assert _run("validate", str(root)).returncode == 0
    assert (root / "catalogue.htlc").is_file()  # the compact catalogue comes with every consolidate


def test_pack_without_a_catalogue_is_one_line(tmp_path):
    (tmp_path / "lib").mkdir()
    result = _run("pack", str(tmp_path / "lib"))
    assert result.returncode == 1
    assert result.stderr.strip() == "error: templates.csv: missing (run 'python -m pipeline consolidate')"


def test_non_empty_root_is_refused_and_untouched(tmp_path):
    root = tmp_path / "lib"
    root.mkdir()
    (root / "precious.txt").write_text("keep me")
    result = _run("synthetic", str(root), "--datasets", "1", "--units", "2")
    assert result.returncode == 2
    assert "not empty" in result.stderr and "--overwrite" in result.stderr
    assert sorted(os.listdir(root)) == ["precious.txt"]
    assert (root / "precious.txt").read_text() == "keep me"


KILL_BEFORE_CONSOLIDATING = textwrap.dedent(
    """
    import os, signal, sys
    import pipeline.dataset_writer as writer
    from pipeline.storage import LibraryStorage
    from pipeline.sources.synthetic import SyntheticPlan, synthesize_dataset

    def die(*args, **kwargs):
        # Every array and chunk is on disk; the process dies before the metadata lands.
        os.kill(os.getpid(), signal.SIGKILL)

    writer.write_consolidated_metadata = die
    templates, meta = synthesize_dataset(SyntheticPlan("late", "np1"), 4, seed=5)
    writer.write_dataset(LibraryStorage(sys.argv[1]), "late", templates, meta)
    """
)


def test_killed_writer_leaves_no_visible_dataset_and_rerun_completes(tmp_path):
    root = tmp_path / "lib"
    assert _run("synthetic", str(root), "--datasets", "2", "--units", "3").returncode == 0
    killed = subprocess.run([PY, "-c", KILL_BEFORE_CONSOLIDATING, str(root)], capture_output=True, timeout=TIMEOUT_S)
    assert killed.returncode == -9
    assert (root / "late.zarr" / "templates_array" / "3.0.0").exists()  # data landed...
    assert _run("consolidate", str(root)).returncode == 0  # ...but is never catalogued
    assert "late.zarr" not in set(pd.read_csv(root / "templates.csv")["dataset"])
    result = _run("validate", str(root))
    assert result.returncode == 1
    assert "late.zarr: incomplete (no .zmetadata): an interrupted write" in result.stdout

    rerun = subprocess.run(
        [PY, "-c", KILL_BEFORE_CONSOLIDATING.replace("writer.write_consolidated_metadata = die", ""), str(root)],
        capture_output=True, text=True, timeout=TIMEOUT_S,
    )
    assert rerun.returncode == 0, rerun.stderr
    assert _run("consolidate", str(root)).returncode == 0
    assert (pd.read_csv(root / "templates.csv")["dataset"] == "late.zarr").sum() == 4
    assert _run("validate", str(root)).returncode == 0


KILL_NWB_MIDWAY = textwrap.dedent(
    """
    import os, signal, sys
    import zarr
    from pipeline.cli import main

    create = zarr.Group.create_dataset

    def create_then_die(self, name, *args, **kwargs):
        # Midway through the dataset: templates and ids are written, the rest is not.
        if name == "peak_to_peak":
            os.kill(os.getpid(), signal.SIGKILL)
        return create(self, name, *args, **kwargs)

    zarr.Group.create_dataset = create_then_die
    sys.exit(main(sys.argv[1:]))
    """
)


def test_nwb_killed_midway_leaves_nothing_visible_and_rerun_completes(tmp_path):
    from fixtures_nwb import write_small_nwb

    truth = write_small_nwb(tmp_path / "sub-K_ses-kill_ecephys.nwb")
    root = tmp_path / "lib"
    args = ["nwb", str(truth.path), "--root", str(root), "--minutes", "0.1", "--min-spikes", "5", "--quiet"]
    killed = subprocess.run([PY, "-c", KILL_NWB_MIDWAY, *args], capture_output=True, text=True, timeout=TIMEOUT_S)
    assert killed.returncode == -9, killed.stderr
    dataset = root / "sub-K_ses-kill_ecephys_ElectricalSeriesAp.zarr"
    assert (dataset / "templates_array" / "0.0.0").exists() and not (dataset / ".zmetadata").exists()
    assert _run("consolidate", str(root)).returncode == 0
    assert pd.read_csv(root / "templates.csv").empty  # the partial dataset is not listed
    rerun = _run(*args)
    assert rerun.returncode == 0, rerun.stderr
    table = pd.read_csv(root / "templates.csv")
    assert len(table) == len(truth.unit_ids) and set(table["dataset"]) == {dataset.name}
    assert _run("validate", str(root)).returncode == 0


def test_a_missing_root_is_the_same_exit_code_everywhere(tmp_path):
    from pipeline.cli.common import EXIT_BAD_ROOT

    missing = str(tmp_path / "nowhere")
    for command in (["consolidate", missing], ["pack", missing], ["prune", missing], ["delete", "x", missing],
                    ["restore-noise", missing, "x", "--from-npy", "n.npy"]):
        result = _run(*command)
        assert result.returncode == EXIT_BAD_ROOT, (command, result.stderr)
        assert result.stderr.strip() == f"error: {missing} does not exist"


def test_compressor_choices_are_the_writers():
    from pipeline.dataset_writer import COMPRESSORS

    for command in ("synthetic", "nwb", "ibl", "npultra"):
        assert "{" + ",".join(COMPRESSORS) + "}" in _run(command, "--help").stdout, command
