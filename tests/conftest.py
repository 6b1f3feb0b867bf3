"""Shared fixtures: small synthetic libraries and a local data server on loopback."""

from __future__ import annotations

import threading

import pytest

from pipeline.catalogue import consolidate
from pipeline.sources.synthetic import write_synthetic_library
from pipeline.storage import LibraryStorage


def build_library(root, datasets=3, units=6, seed=0, compressor="blosc"):
    storage = LibraryStorage(str(root))
    storage.make_root()
    write_synthetic_library(storage, datasets, units, seed=seed, compressor=compressor)
    consolidate(storage)
    return storage


@pytest.fixture(scope="session")
def small_library(tmp_path_factory):
    """A read-only Blosc library: 3 datasets (one NP-Ultra-like) of 6 units. Do not modify."""
    return build_library(tmp_path_factory.mktemp("small_library") / "lib")


@pytest.fixture
def fresh_library(tmp_path):
    """A library a test may damage."""
    return build_library(tmp_path / "lib")


class RunningServer:
    def __init__(self, server):
        self.server = server
        host, port = server.server_address[:2]
        self.url = f"http://{host}:{port}"
        self.thread = threading.Thread(target=server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def start_data_server(root, cors=True) -> RunningServer:
    """A data server on a free loopback port; use it as a context manager."""
    from generator.data_server import make_server

    return RunningServer(make_server(root, "127.0.0.1", 0, cors=cors))
