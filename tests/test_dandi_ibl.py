"""DANDI/IBL runner: listing through the real dandi client, resumable sessions, bounded offline failure.

DANDI is unreachable here. A loopback stand-in serves the API responses stored in
``tests/data/dandi_000409/`` (see its README) to the real ``dandi`` client, and answers each
asset's download URL with a redirect to a small NWB file on the project's data server (which
serves HTTP ranges), so the runner goes through the same steps as against the archive:
list, follow the redirect, stream with remfile, write, skip what is complete.
"""

from __future__ import annotations

import argparse
import json
import re
import socket
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from conftest import RunningServer, start_data_server
from fixtures_nwb import write_small_nwb
from pipeline.cli.sources import add_commands
from pipeline.sources.dandi_ibl import (
    IblOptions,
    fetch_asset_records,
    ibl_dataset_name,
    list_ecephys_assets,
    run_dandiset,
    run_session,
    select_ecephys,
)
from pipeline.sources.nwb import SourceError
from pipeline.storage import LibraryStorage
from pipeline.validate import validate_library

DATA = Path(__file__).parent / "data" / "dandi_000409"
OFFLINE_BOUND_S = 10.0
KS051 = "sub-KS051/sub-KS051_ses-0a018f12-ee06-4b11-97aa-bbbff5448e9f_behavior+ecephys+image.nwb"
KS091 = "sub-KS091/sub-KS091_ses-1b61b7f2-a599-4e40-abd6-3e758d2c9e25_behavior+ecephys+image.nwb"
NYU11 = "sub-NYU-11/sub-NYU-11_ses-56956777-dca5-468c-87cb-78150432cc57_behavior+ecephys+image.nwb"
SMALL = {"minutes": 0.1, "min_spikes": 10}


def recorded_assets() -> list[dict]:
    return json.loads((DATA / "assets_page.json").read_text())["results"]


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class FakeDandi:
    """The DANDI API on loopback: stored JSON answers, download URLs redirecting to ``files``."""

    def __init__(self, files: dict):
        self.files = files  # asset_id -> URL of the file the download redirects to
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                fake.answer(self)

            do_HEAD = do_GET

            def log_message(self, *args):
                pass

        self.running = RunningServer(ThreadingHTTPServer(("127.0.0.1", 0), Handler))
        self.api_url = self.running.url + "/api"

    def answer(self, request):
        path = request.path.split("?")[0]
        download = re.fullmatch(r"/api/assets/([^/]+)/download/", path)
        if download and download.group(1) in self.files:
            request.send_response(HTTPStatus.FOUND)
            request.send_header("Location", self.files[download.group(1)])
            request.end_headers()
            return
        routes = {
            "/api/info/": {"version": "0.4.0", "services": {"api": {"url": self.api_url}},
                           "cli-minimal-version": "0.60.0", "cli-bad-versions": []},
            "/api/dandisets/000409/": json.loads((DATA / "dandiset.json").read_text()),
            "/api/dandisets/000409/versions/0.240424.1517/assets/": json.loads((DATA / "assets_page.json").read_text()),
        }
        if path not in routes:
            request.send_error(HTTPStatus.NOT_FOUND)
            return
        body = json.dumps(routes[path]).encode()
        request.send_response(HTTPStatus.OK)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        if request.command == "GET":
            request.wfile.write(body)

    def __enter__(self):
        self.running.__enter__()
        return self

    def __exit__(self, *exc):
        self.running.__exit__(*exc)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """Small NWB files on a data server; yields ``name -> URL``."""
    folder = tmp_path_factory.mktemp("dandi_files")
    write_small_nwb(folder / "good.nwb", lfp_series=True)
    (folder / "broken.nwb").write_bytes(b"not HDF5 at all\n")
    with start_data_server(folder) as server:
        yield {"good": f"{server.url}/good.nwb", "broken": f"{server.url}/broken.nwb"}


def _ids() -> dict:
    return {r["path"]: r["asset_id"] for r in recorded_assets()}


# --------------------------------------------------------------------------- listing


def test_recorded_listing_keeps_the_ecephys_nwb_assets():
    assets = select_ecephys(recorded_assets(), api_url="https://api.dandiarchive.org/api")
    assert [path for path, _url in assets] == [KS051, KS091, NYU11]
    assert assets[0][1] == f"https://api.dandiarchive.org/api/assets/{_ids()[KS051]}/download/"


def test_listing_goes_through_the_real_dandi_client():
    with FakeDandi({}) as fake:
        records = fetch_asset_records("000409", api_url=fake.api_url)
        assets = list_ecephys_assets("000409", api_url=fake.api_url)
    assert [r["path"] for r in records] == [r["path"] for r in recorded_assets()]
    assert [path for path, _url in assets] == [KS051, KS091, NYU11]
    assert assets[1][1] == f"{fake.api_url}/assets/{_ids()[KS091]}/download/"


def test_unreachable_dandi_fails_fast_and_clearly():
    api_url = f"http://127.0.0.1:{closed_port()}/api"
    started = time.perf_counter()
    with pytest.raises(SourceError, match=re.escape(f"cannot reach DANDI at {api_url}: ")):
        list_ecephys_assets("000409", api_url=api_url)
    assert time.perf_counter() - started < OFFLINE_BOUND_S


def test_ibl_command_offline_via_dandi_api_url(monkeypatch, tmp_path, capsys):
    api_url = f"http://127.0.0.1:{closed_port()}/api"
    monkeypatch.setenv("DANDI_API_URL", api_url)
    started = time.perf_counter()
    code = _run(["ibl", "--root", str(tmp_path / "lib"), "--quiet"])
    assert time.perf_counter() - started < OFFLINE_BOUND_S
    assert code == 1
    assert capsys.readouterr().err.startswith(f"error: cannot reach DANDI at {api_url}: ")
    assert not (tmp_path / "lib").exists()


# --------------------------------------------------------------------------- sessions


def test_dataset_names_follow_the_live_bucket():
    series = "acquisition/ElectricalSeriesAp00"
    assert ibl_dataset_name("000409", KS051, series) == \
        "000409_sub-KS051_ses-0a018f12-ee06-4b11-97aa-bbbff5448e9f_behavior+ecephys+image_ElectricalSeriesAp00"
    pid = "3675290c-8134-4598-b924-83edb7940269"
    assert ibl_dataset_name("000409", KS051, series, {KS051: {"ElectricalSeriesAp00": pid}}).endswith(f"image_{pid}")


def test_runs_resume_and_report_per_session(served, tmp_path):
    ids = _ids()
    files = {ids[KS051]: served["good"], ids[KS091]: served["good"], ids[NYU11]: served["broken"]}
    root = str(tmp_path / "lib")
    pid = "3675290c-8134-4598-b924-83edb7940269"
    options = IblOptions(insertions={KS091: {"ElectricalSeriesAp": pid}}, **SMALL)
    with FakeDandi(files) as fake:
        assets = list_ecephys_assets("000409", api_url=fake.api_url)
        first = run_dandiset(assets, root, options)
        second = run_dandiset(assets, root, options)
    assert [s["status"] for s in first] == ["written", "written", "failed"]
    assert "not an NWB file" in first[2]["reason"]
    assert [d["dataset"] for d in first[1]["datasets"]] == [
        "000409_sub-KS091_ses-1b61b7f2-a599-4e40-abd6-3e758d2c9e25_behavior+ecephys+image_" + pid]
    assert [s["status"] for s in second] == ["skipped", "skipped", "failed"]
    assert second[0]["datasets"][0]["reason"] == "already complete in the library"
    assert len(LibraryStorage(root).complete_datasets()) == 2


def test_limit_counts_only_sessions_that_did_work(served, tmp_path):
    ids = _ids()
    files = {ids[KS051]: served["good"], ids[KS091]: served["good"], ids[NYU11]: served["good"]}
    root = str(tmp_path / "lib")
    with FakeDandi(files) as fake:
        assets = list_ecephys_assets("000409", api_url=fake.api_url)
        once = run_dandiset(assets, root, IblOptions(**SMALL), limit=1)
        twice = run_dandiset(assets, root, IblOptions(**SMALL), limit=1)
    assert [s["status"] for s in once] == ["written"]
    assert [s["status"] for s in twice] == ["skipped", "written"]


def test_run_session_reports_instead_of_raising(tmp_path):
    asset = (KS051, f"http://127.0.0.1:{closed_port()}/api/assets/x/download/")
    summary = run_session(asset, str(tmp_path / "lib"), {"minutes": 0.1})
    assert summary["status"] == "failed" and summary["asset"] == KS051
    assert summary["reason"].startswith("cannot reach http://127.0.0.1:")
    assert not (tmp_path / "lib").exists()


def test_ibl_command_against_the_stand_in(served, tmp_path, capsys):
    ids = _ids()
    files = {ids[KS051]: served["good"], ids[KS091]: served["good"], ids[NYU11]: served["good"]}
    root = tmp_path / "lib"
    with FakeDandi(files) as fake:
        code = _run(["ibl", "--api-url", fake.api_url, "--root", str(root), "--minutes", "0.1",
                     "--min-spikes", "10", "--limit", "2", "--quiet"])
    out = capsys.readouterr().out
    assert code == 0
    assert "dandiset 000409: 3 ecephys NWB assets" in out
    assert "sessions: 2 written, 0 skipped, 0 failed" in out and "templates.csv: 6 templates from 2 datasets" in out
    assert validate_library(LibraryStorage(str(root))) == []


def _run(argv) -> int:
    parser = argparse.ArgumentParser(prog="pipeline")
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)
