"""``consolidate --workers/--scheduler``: metrics and previews of the changed datasets on Dask.

Small libraries (3 datasets of 4 units, one NP-Ultra-like) on the local disk; the Dask path
runs on a real ``LocalCluster`` on 127.0.0.1 (one started here for ``--scheduler``, one started
by the command for ``--workers``). The Dask path must give the in-process path's files; a
dataset whose templates cannot be decoded fails on its worker, is named in one line and the
rest is consolidated; an unchanged library sends nothing to Dask.
"""

from __future__ import annotations

import json
import socket

import pytest
from distributed import Client, LocalCluster, get_task_stream

from pipeline.catalogue import consolidate
from pipeline.cli import main
from pipeline.consolidate_dask import DaskOptions
from pipeline.sources.synthetic import write_synthetic_library
from pipeline.storage import LibraryStorage
from pipeline.validate import validate_library
from templatelib import format as fmt

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def cluster():
    """An existing cluster for ``--scheduler``: one worker process on 127.0.0.1, no retries."""
    existing = LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
                            dashboard_address=None, scheduler_kwargs={"allowed_failures": 0})
    yield existing
    existing.close()


def _library(root) -> LibraryStorage:
    storage = LibraryStorage(str(root))
    storage.make_root()
    write_synthetic_library(storage, 3, 4, seed=7, compressor="zlib")
    return storage


def _manifest(storage: LibraryStorage) -> dict:
    manifest = json.loads(storage.read_bytes(fmt.MANIFEST_FILE))
    manifest.pop("created")
    return manifest


def _work_tasks(stream) -> list[str]:
    return [t["key"] for t in stream.data if str(t["key"]).startswith("dataset_work-")]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_dask_path_writes_what_the_in_process_path_writes(tmp_path, cluster):
    here, there = _library(tmp_path / "here"), _library(tmp_path / "there")
    consolidate(here)
    with Client(cluster, set_as_default=False) as client, get_task_stream(client) as stream:
        damaged: dict = {}
        consolidate(there, damaged=damaged, dask=DaskOptions(scheduler=cluster.scheduler_address))
    assert damaged == {}
    assert len(_work_tasks(stream)) == 3  # one task per dataset, all of them new
    assert there.read_bytes(fmt.CATALOGUE_FILE) == here.read_bytes(fmt.CATALOGUE_FILE)
    assert _manifest(there) == _manifest(here)
    for shard in _manifest(here)["previews"]["shards"]:
        assert there.read_bytes(shard["key"]) == here.read_bytes(shard["key"])
    assert validate_library(there) == []


def test_unchanged_library_sends_nothing_and_a_changed_dataset_alone_goes(tmp_path, cluster):
    storage = _library(tmp_path / "lib")
    options = DaskOptions(scheduler=cluster.scheduler_address)
    consolidate(storage, dask=options)
    csv, manifest = storage.read_bytes(fmt.CATALOGUE_FILE), _manifest(storage)
    with Client(cluster, set_as_default=False) as client, get_task_stream(client) as stream:
        consolidate(storage, dask=options)
    assert _work_tasks(stream) == []
    assert storage.read_bytes(fmt.CATALOGUE_FILE) == csv and _manifest(storage) == manifest
    # Not even a connection: an unreachable scheduler is never asked when nothing changed.
    assert main(["consolidate", str(tmp_path / "lib"), "--scheduler", f"tcp://127.0.0.1:{_closed_port()}"]) == 0

    # Rewrite one dataset with other templates (another seed): only that one goes to Dask.
    first = storage.complete_datasets()[0]
    other = LibraryStorage(str(tmp_path / "other"))
    other.make_root()
    write_synthetic_library(other, 3, 4, seed=8, compressor="zlib")
    storage.remove(first)
    other.fs.copy(other.key_path(other.complete_datasets()[0]), storage.key_path(first), recursive=True)
    with Client(cluster, set_as_default=False) as client, get_task_stream(client) as stream:
        consolidate(storage, dask=options)
    assert len(_work_tasks(stream)) == 1
    assert validate_library(storage) == []
    assert storage.read_bytes(fmt.CATALOGUE_FILE) != csv


def test_a_dataset_failing_on_its_worker_is_named_and_the_rest_consolidated(tmp_path, capsys):
    storage = _library(tmp_path / "lib")
    broken, *rest = storage.complete_datasets()
    # One template chunk that zlib cannot decode: the coordinator never reads template chunks,
    # so the dataset fails on the worker that computes its metrics.
    storage.write_bytes(f"{broken}/templates_array/1.0.0", b"not zlib data")
    code = main(["consolidate", str(tmp_path / "lib"), "--workers", "1"])
    captured = capsys.readouterr()
    assert code == 1
    errors = [line for line in captured.err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert errors[0].startswith(f"error: left out damaged dataset {broken}: failed on a Dask worker (")
    assert "Traceback" not in captured.err
    manifest = json.loads(storage.read_bytes(fmt.MANIFEST_FILE))
    assert sorted(manifest["datasets"]) == sorted(rest)
    assert manifest["template_count"] == 8
    assert validate_library(storage) == [] or all(broken in p for p in validate_library(storage))


def test_bad_cluster_options_are_one_line_errors(tmp_path, capsys):
    storage = _library(tmp_path / "lib")
    root = str(tmp_path / "lib")
    capsys.readouterr()
    assert main(["consolidate", root, "--workers", "0"]) == 1
    assert main(["consolidate", root, "--workers", "1", "--scheduler", "tcp://127.0.0.1:1"]) == 1
    assert main(["consolidate", root, "--scheduler", "127.0.0.1"]) == 1
    assert main(["consolidate", root, "--scheduler", f"tcp://127.0.0.1:{_closed_port()}"]) == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(errors) == 4 and all(e.startswith("error: ") for e in errors)
    assert "is not of the form tcp://HOST:PORT" in errors[2]
    assert "nothing was changed" in errors[-1]
    assert not storage.exists(fmt.CATALOGUE_FILE)
