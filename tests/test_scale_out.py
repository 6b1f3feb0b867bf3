"""Scale-out on Dask distributed: many sessions, failures reported, nothing stopped, loopback only.

Three seconds-long NWB files (one too short for the window, so its session fails) run on a
two-worker ``LocalCluster`` started by the command, then on an existing cluster started here
(``--scheduler``), as plain NWB files and as IBL assets behind the DANDI stand-in of
``test_dandi_ibl``. The driver's own behaviour (a task that raises, a worker that dies,
``limit``) is checked with builtins as session functions (``dict`` copies a prepared summary,
``os._exit`` kills its worker), so workers import nothing from the tests.
"""

from __future__ import annotations

import os
import time

import psutil
import pytest
from distributed import LocalCluster

from fixtures_nwb import write_plain_hdf5, write_small_nwb
from pipeline.cli import sources as source_commands
from pipeline.cli import main
from pipeline.scale_out import SchedulerError, format_summary, run_nwb_session, run_on_dask
from pipeline.storage import LibraryStorage
from pipeline.validate import validate_library
from test_dandi_ibl import KS051, KS091, NYU11, FakeDandi, _ids, closed_port, served  # noqa: F401 (fixture)

RECIPE = ["--minutes", "0.1", "--min-spikes", "10", "--quiet"]  # the last 6 s of the 8 s files
SHORT_REASON = "acquisition/ElectricalSeriesAp is 0.08 min long, shorter than the requested 0.1 min"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("scale_out_nwb")
    return {
        "a": str(write_small_nwb(folder / "a.nwb").path),
        "b": str(write_small_nwb(folder / "b.nwb").path),
        "short": str(write_small_nwb(folder / "short.nwb", duration_s=5.0).path),  # shorter than the 6 s window
        "plain": str(write_plain_hdf5(folder / "plain.nwb")),
    }


@pytest.fixture(scope="module")
def cluster():
    """An existing cluster for ``--scheduler``: two worker processes on 127.0.0.1.

    ``allowed_failures=0``: a task whose worker dies is failed at once instead of being retried
    on three more workers.
    """
    existing = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                            dashboard_address=None, scheduler_kwargs={"allowed_failures": 0})
    yield existing
    existing.close()


def _listening() -> set:
    """Addresses that this process and its children (the cluster) listen on."""
    me = psutil.Process()
    found = set()
    for process in [me, *me.children(recursive=True)]:
        try:
            found |= {(c.laddr.ip, c.laddr.port) for c in process.net_connections("inet") if c.status == "LISTEN"}
        except psutil.NoSuchProcess:
            pass
    return found


def _summary(asset, status):
    """A session summary as a session function would return it (``dict`` copies it on a worker)."""
    entry = {"dataset": f"{asset}_ds", "series": "s", "status": status,
             "reason": "already complete in the library" if status == "skipped" else "", "units": 3}
    return {"asset": asset, "status": status, "reason": "", "datasets": [entry], "elapsed_s": 0.0}


# --------------------------------------------------------------------------- local cluster


def test_three_sessions_on_a_two_worker_local_cluster(files, tmp_path, capsys, monkeypatch):
    sockets = []

    def spy(summary):  # runs in the driver while the cluster is up
        sockets.append(_listening())
        printed(summary)

    printed = source_commands._print_session
    monkeypatch.setattr(source_commands, "_print_session", spy)
    root = tmp_path / "lib"
    argv = ["nwb", files["a"], files["short"], files["b"], "--root", str(root), "--workers", "2", *RECIPE]

    started = time.perf_counter()
    code = main(argv)
    out = capsys.readouterr().out
    elapsed = time.perf_counter() - started
    assert code == 1, out
    assert "sessions: 2 written, 0 skipped, 1 failed" in out
    assert "written datasets (2):\n  a_ElectricalSeriesAp: 3 templates\n  b_ElectricalSeriesAp: 3 templates" in out
    assert f"failed datasets (1):\n  short_ElectricalSeriesAp: {SHORT_REASON}" in out
    assert "templates.csv: 6 templates from 2 datasets" in out
    storage = LibraryStorage(str(root))
    assert storage.complete_datasets() == ["a_ElectricalSeriesAp.zarr", "b_ElectricalSeriesAp.zarr"]
    assert storage.dataset_names() == storage.complete_datasets()  # the failed one left nothing
    assert validate_library(storage) == []

    # Every socket of the run, scheduler and workers included, is on loopback; no port 8787.
    assert len(sockets) == 3 and all(sockets)
    assert {ip for seen in sockets for ip, _port in seen} == {"127.0.0.1"}
    assert all(port != 8787 for seen in sockets for _ip, port in seen)

    code = main(argv)
    out = capsys.readouterr().out
    assert code == 1
    assert "sessions: 0 written, 2 skipped, 1 failed" in out
    assert ("skipped datasets (2):\n  a_ElectricalSeriesAp: already complete in the library\n"
            "  b_ElectricalSeriesAp: already complete in the library") in out
    assert f"  short_ElectricalSeriesAp: {SHORT_REASON}" in out
    assert validate_library(storage) == []
    print(f"first run {elapsed:.1f} s")


def test_run_nwb_session_summaries(files, tmp_path):
    root = str(tmp_path / "lib")
    written = run_nwb_session(files["a"], root, {"minutes": 0.1, "min_spikes": 10})
    assert written["status"] == "written" and written["reason"] == ""
    assert written["datasets"] == [{"dataset": "a_ElectricalSeriesAp", "series": "acquisition/ElectricalSeriesAp",
                                    "status": "written", "reason": "", "units": 3,
                                    "elapsed_s": written["datasets"][0]["elapsed_s"]}]
    again = run_nwb_session(files["a"], root, {"minutes": 0.1, "min_spikes": 10})
    assert again["status"] == "skipped"
    plain = run_nwb_session(files["plain"], root, {"minutes": 0.1})
    assert plain["status"] == "failed" and plain["datasets"] == []
    assert plain["reason"].endswith("an HDF5 file but not NWB (no nwb_version attribute)")
    assert f"failed datasets (1):\n  {files['plain']}: an HDF5 file but not NWB" in format_summary([written, plain])


# --------------------------------------------------------------------------- command-line refusals


@pytest.mark.parametrize("extra, message", [
    (["--name", "mine"], "--name names one dataset; it cannot be used with several files"),
    (["--workers", "2", "--scheduler", "tcp://127.0.0.1:1"], "--workers sizes the local cluster"),
    (["--scheduler", "127.0.0.1:8786"], "is not of the form tcp://HOST:PORT"),
])
def test_refusals_write_nothing(files, tmp_path, capsys, extra, message):
    root = tmp_path / "lib"
    assert main(["nwb", files["a"], files["b"], "--root", str(root), *extra, *RECIPE]) == 1
    assert message in capsys.readouterr().err
    assert not root.exists()


def test_inputs_with_the_same_stem_are_refused(files, tmp_path, capsys):
    root = tmp_path / "lib"
    assert main(["nwb", files["a"], files["a"], "--root", str(root), *RECIPE]) == 1
    assert "several inputs share the file stem a" in capsys.readouterr().err
    assert not root.exists()


def test_unreachable_scheduler_fails_fast():
    started = time.perf_counter()
    with pytest.raises(SchedulerError, match="cannot reach the Dask scheduler at tcp://127.0.0.1:"):
        run_on_dask(dict, [{}], scheduler=f"tcp://127.0.0.1:{closed_port()}", connect_timeout=1.0)
    assert time.perf_counter() - started < 10


# --------------------------------------------------------------------------- existing cluster


def test_nwb_command_on_an_existing_scheduler(files, cluster, tmp_path, capsys):
    root = tmp_path / "lib"
    code = main(["nwb", files["b"], "--root", str(root), "--scheduler", cluster.scheduler_address, *RECIPE])
    out = capsys.readouterr().out
    assert code == 0, out
    assert f"1 NWB file(s) on {cluster.scheduler_address}" in out
    assert "sessions: 1 written, 0 skipped, 0 failed" in out
    assert validate_library(LibraryStorage(str(root))) == []


def test_a_raising_task_does_not_stop_the_others(cluster):
    reported = []
    items = [_summary("one", "written"), 5, _summary("two", "written")]  # dict(5) raises TypeError
    summaries = run_on_dask(dict, items, scheduler=cluster.scheduler_address, report=reported.append)
    assert [s["status"] for s in summaries] == ["written", "failed", "written"]
    assert summaries[1]["asset"] == "5" and summaries[1]["reason"].startswith("TypeError: ")
    assert sorted(s["asset"] for s in reported) == ["5", "one", "two"]


def test_a_dead_worker_is_a_failed_session(cluster):
    summaries = run_on_dask(os._exit, [1], scheduler=cluster.scheduler_address)
    assert summaries[0]["status"] == "failed" and summaries[0]["reason"].startswith("KilledWorker: ")


def test_limit_counts_only_sessions_that_did_work(cluster):
    statuses = ["skipped", "written", "skipped", "failed", "written"]
    items = [_summary(f"s{i}", status) for i, status in enumerate(statuses)]
    summaries = run_on_dask(dict, items, scheduler=cluster.scheduler_address, limit=2)
    assert [s["status"] for s in summaries] == ["skipped", "written", "skipped", "failed"]


def test_ibl_command_on_an_existing_scheduler(served, cluster, tmp_path, capsys):  # noqa: F811
    ids = _ids()
    urls = {ids[KS051]: served["good"], ids[KS091]: served["good"], ids[NYU11]: served["broken"]}
    root = tmp_path / "lib"
    with FakeDandi(urls) as fake:
        argv = ["ibl", "--api-url", fake.api_url, "--root", str(root), "--scheduler", cluster.scheduler_address,
                "--limit", "2", *RECIPE]
        first = main(argv)
        first_out = capsys.readouterr().out
        second = main(argv)
        second_out = capsys.readouterr().out
    assert first == 0, first_out
    assert "sessions: 2 written, 0 skipped, 0 failed" in first_out
    # The two complete sessions do not count towards --limit 2: the third asset runs, and fails.
    assert second == 1
    assert "sessions: 0 written, 2 skipped, 1 failed" in second_out
    assert f"failed datasets (1):\n  {NYU11}: " in second_out and "not an NWB file" in second_out
    assert validate_library(LibraryStorage(str(root))) == []
