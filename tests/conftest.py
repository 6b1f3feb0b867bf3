"""Shared fixtures: small synthetic libraries and a local data server on loopback."""

from __future__ import annotations

import contextlib
import json
import threading
from pathlib import Path

import pytest

from pipeline.catalogue import consolidate
from pipeline.sources.synthetic import write_synthetic_library
from pipeline.storage import LibraryStorage


def pytest_configure(config):
    """Under pytest-xdist, assemble the offline Pyodide bundle once, in the controller, first.

    On a fresh machine every worker would find it missing and assemble its own, and the last to
    finish renames the others' bundle away while a browser test may be serving it.
    """
    if getattr(config, "workerinput", None) is not None or not config.getoption("numprocesses", None):
        return
    from generator.bundle import assemble as pb

    if not pb.is_complete(pb.DEFAULT_DEST):
        pb.ensure_bundle(pb.DEFAULT_DEST)


def pytest_collection_modifyitems(config, items):
    """Files with slow or browser tests run first, each file's tests in their order.

    ``.ci/run`` hands whole files to the workers in this order (``--dist loadfile
    --no-loadscope-reorder``; by default pytest-xdist starts with the files that hold the most
    tests, which left the few-test browser files, 10-30 s a test, for a long tail at the end).
    (``--dist loadgroup`` would keep the browser files on one worker, but pytest-xdist 3.8 here
    ignores ``xdist_group`` marks, from a module's ``pytestmark`` as much as from this hook.)
    """
    heavy = {item.path for item in items if item.get_closest_marker("slow") or item.get_closest_marker("browser")}
    items.sort(key=lambda item: item.path not in heavy)


QUERY_CASES = Path(__file__).parent / "data" / "query_cases.json"


def query_cases(table: str) -> list:
    """The cases of one table of ``tests/data/query_cases.json`` (its "about" says what each table
    is), all its groups in order: an expression, or a tuple (expression, expected)."""
    def expression(written):
        if isinstance(written, str):
            return written
        return "".join(piece if isinstance(piece, str) else piece[0] * piece[1] for piece in written)

    groups = json.loads(QUERY_CASES.read_text(encoding="utf-8"))[table]
    return [expression(case) if isinstance(case, str) else (expression(case[0]), case[1])
            for cases in groups.values() for case in cases]


def build_library(root, datasets=3, units=6, seed=0, compressor="blosc"):
    storage = LibraryStorage(str(root))
    storage.make_root()
    write_synthetic_library(storage, datasets, units, seed=seed, compressor=compressor)
    consolidate(storage)
    return storage


def library_fixture(name, datasets, units, seed, compressor="zlib"):
    """A module's ``library`` fixture: a synthetic library built once for the module, in a
    folder named ``name`` (zlib by default: the browser needs no Blosc decoder for it). The
    ``site``, ``data`` and ``catalogue`` fixtures below serve and read it."""

    @pytest.fixture(scope="module")
    def library(tmp_path_factory):
        return build_library(tmp_path_factory.mktemp(name) / "lib", datasets=datasets, units=units, seed=seed,
                             compressor=compressor)

    return library


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


class HandlerServer:
    """A loopback library server whose request handler a test replaces with a subclass.

    ``handler(base)`` returns the subclass of ``base`` (``LibraryRequestHandler``) to serve with;
    ``release`` is set on exit, so a handler that holds requests back lets them go.
    """

    def __init__(self, folder, **kw):
        import functools

        from generator.data_server import LibraryRequestHandler, make_server

        self.release = threading.Event()
        server = make_server(folder, "127.0.0.1", 0, **kw)
        server.RequestHandlerClass = functools.partial(self.handler(LibraryRequestHandler),
                                                       **server.RequestHandlerClass.keywords)
        self.running = RunningServer(server)
        self.url = self.running.url

    def handler(self, base):
        return base

    def __enter__(self):
        self.running.__enter__()
        return self

    def __exit__(self, *exc):
        self.release.set()
        self.running.__exit__(*exc)


class RecordingServer(HandlerServer):
    """A loopback data/site server that records request paths and can hold some back.

    ``paths`` lists every answered request (unquoted), ``arrived`` the held ones as they arrive;
    requests whose path contains ``hold`` wait until ``gate`` is set (or 120 s).
    """

    def __init__(self, folder, hold: str | None = None, **kw):
        self.paths: list[str] = []
        self.arrived: list[str] = []
        self.hold = hold
        super().__init__(folder, **kw)
        self.gate = self.release

    def handler(self, base):
        import urllib.parse

        outer = self

        class Handler(base):
            def do_GET(self):  # noqa: N802 - http.server's naming
                if outer.hold and outer.hold in self.path:
                    outer.arrived.append(self.path)
                    outer.release.wait(120)
                super().do_GET()

            def log_message(self, *args):
                outer.paths.append(urllib.parse.unquote(self.path))

        return Handler

    def count(self, text: str) -> int:
        return sum(text in p for p in self.paths)


@contextlib.contextmanager
def serve_built_site(tmp_path_factory, **build):
    """A site built with the offline Pyodide and no docs (``build``: more build_site arguments),
    served on loopback without CORS, as the tests' page host."""
    from generator.build import build_site
    from generator.data_server import make_server

    folder = build_site(tmp_path_factory.mktemp("site") / "_site", pyodide="local", docs=False, **build)
    with RunningServer(make_server(folder, "127.0.0.1", 0, cors=False, index=True)) as site:
        yield site


def start_data_server(root, cors=True) -> RunningServer:
    """A data server on a free loopback port; use it as a context manager."""
    from generator.data_server import make_server

    return RunningServer(make_server(root, "127.0.0.1", 0, cors=cors))


# The browser test modules each define a module-scoped ``library`` fixture; these three read and
# serve whichever library the requesting module defines (a module may still override any of them).

@pytest.fixture(scope="module")
def catalogue(library):
    """The ``library``'s templates.csv as pandas reads it."""
    import pandas as pd

    return pd.read_csv(f"{library.path}/templates.csv")


@pytest.fixture(scope="module")
def site(tmp_path_factory, library):
    """A built site (:func:`serve_built_site`) with ``library``'s catalogue, the page host."""
    with serve_built_site(tmp_path_factory, catalogue=f"{library.path}/templates.csv") as server:
        yield server


@pytest.fixture(scope="module")
def data(library):
    """``library`` served with CORS on loopback, the page's ``?source=``."""
    with start_data_server(library.path) as server:
        yield server
