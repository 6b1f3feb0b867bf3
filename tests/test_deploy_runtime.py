"""The deployed page runs the measured runtime: same Pyodide files, same bytes, nothing missing.

The site is built by the deploy workflow's own commands (read from
``.github/workflows/deploy.yml``, run by bash like the runner does), so this test follows the
workflow. The page then boots in headless Chromium against a small Blosc library, and every
request under ``pyodide/`` that reaches the site server (page, Web Worker and service worker
alike) is recorded. Each must be answered 200 with a file that is byte for byte the one the
page speed benchmark serves (``tests/benchmarks/page_speed.py`` builds its site with the
same function), and each package or boot file is the offline bundle's own file.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import subprocess
import sys
import threading
import urllib.parse
from pathlib import Path

import pytest
import yaml

from conftest import RunningServer, start_data_server
from generator.build import PAGE_PACKAGES
from generator.bundle.common import LOCK_FILE
from generator.data_server import LibraryRequestHandler, make_server
from generator.bundle.assemble import ensure_bundle
from generator.bundle.site_runtime import runtime_files
from test_site_e2e import BOOT_TIMEOUT, CHROMIUM, CHROMIUM_ARGS, count_status

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect
pytestmark = [pytest.mark.browser, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / ".github" / "workflows" / "deploy.yml"
sys.path.insert(0, str(REPO / "tests" / "benchmarks"))
import page_speed  # noqa: E402

#: GitHub Pages: a published site may be at most 1 GB; git hosts no file over 100 MB.
PAGES_SITE_LIMIT = 1_000_000_000
PAGES_FILE_LIMIT = 100_000_000


def deploy_build_commands() -> list[str]:
    """The ``run`` scripts of the deploy's build job that call ``python -m generator``."""
    steps = yaml.safe_load(DEPLOY.read_text())["jobs"]["build"]["steps"]
    commands = [step["run"] for step in steps if "python -m generator" in step.get("run", "")]
    assert commands, "the deploy workflow builds nothing with python -m generator"
    return commands


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tree(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): sha256(p) for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def deployed_site(tmp_path_factory) -> Path:
    """``_site`` as the deploy workflow builds it: its commands, run by bash in a scratch folder."""
    work = tmp_path_factory.mktemp("deploy")
    python = work / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(f"#!/bin/sh\nexec {sys.executable} \"$@\"\n")
    python.chmod(0o755)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    for command in deploy_build_commands():
        result = subprocess.run(["bash", "-euo", "pipefail", "-c", command], cwd=work, env=env,
                                capture_output=True, text=True, timeout=400)
        assert result.returncode == 0, f"{command}\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
    return work / "_site"


@pytest.fixture(scope="module")
def measured_site(tmp_path_factory) -> Path:
    """The site the page speed benchmark measures, built by the benchmark's own function."""
    return page_speed.build_measured_site(tmp_path_factory.mktemp("measured") / "site")


class Recorder:
    """The site on loopback, recording ``(path, status)`` of every answer, from any client."""

    def __init__(self, folder: Path):
        self.answers: list[tuple[str, int]] = []
        answers, lock = self.answers, threading.Lock()

        class Handler(LibraryRequestHandler):
            def log_request(self, code="-", size="-"):
                with lock:
                    answers.append((urllib.parse.unquote(urllib.parse.urlsplit(self.path).path), int(code)))

        server = make_server(folder, "127.0.0.1", 0, cors=False, index=True)
        server.RequestHandlerClass = functools.partial(Handler, **server.RequestHandlerClass.keywords)
        self.running = RunningServer(server)
        self.url = self.running.url


def test_the_deploy_hosts_the_runtime_itself(deployed_site):
    html = (deployed_site / "index.html").read_text(encoding="utf-8")
    config = json.loads(re.search(r'<script id="site-config" type="application/json">(.*?)</script>', html, re.S)[1])
    assert config["pyodideIndexURL"] == "pyodide/"
    assert "cdn.jsdelivr" not in html and "cdn.jsdelivr" not in (deployed_site / "sw.js").read_text()
    sizes = [p.stat().st_size for p in deployed_site.rglob("*") if p.is_file()]
    assert sum(sizes) < PAGES_SITE_LIMIT and max(sizes) < PAGES_FILE_LIMIT
    # Only what the page loads: far less than the 76 MB offline bundle.
    hosted = sum(p.stat().st_size for p in (deployed_site / "pyodide").rglob("*") if p.is_file())
    assert hosted < 40_000_000, hosted


def test_hosted_runtime_is_the_bundle_restricted_to_the_page_packages(deployed_site, measured_site):
    bundle = ensure_bundle()
    files, lock = runtime_files(bundle, PAGE_PACKAGES)
    hosted = tree(deployed_site / "pyodide")
    assert set(hosted) == {*files, LOCK_FILE}
    for name in files:
        assert hosted[name] == sha256(bundle / name), name
    site_lock = json.loads((deployed_site / "pyodide" / LOCK_FILE).read_text())
    bundle_lock = json.loads((bundle / LOCK_FILE).read_text())
    assert site_lock["info"] == bundle_lock["info"]
    assert set(site_lock["packages"]) == set(lock.packages)
    for key, entry in site_lock["packages"].items():
        assert entry == bundle_lock["packages"][key], key
    # The benchmark serves exactly these bytes.
    assert tree(measured_site / "pyodide") == hosted


@pytest.mark.timeout(600)
def test_every_runtime_request_is_a_measured_file(deployed_site, measured_site, small_library):
    site = Recorder(deployed_site)
    with site.running, start_data_server(small_library.path) as data, playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_context().new_page()
            page.goto(f"{site.url}/?source={urllib.parse.quote(data.url + '/', safe='')}")
            expect(count_status(page)).to_be_visible(timeout=BOOT_TIMEOUT)
            expect(page.get_by_role("img", name=re.compile("^Waveform")).first).to_be_visible(timeout=30_000)
            # The service worker precaches the runtime and the packages' closure on install.
            page.evaluate("() => navigator.serviceWorker.ready.then(() => true)")
        finally:
            browser.close()
    runtime = [(path, status) for path, status in site.answers if path.startswith("/pyodide/")]
    assert runtime, site.answers
    failed = [(path, status) for path, status in runtime if status != 200]
    assert failed == [], f"runtime requests not answered 200: {failed}"
    measured = tree(measured_site / "pyodide")
    for path, _ in runtime:
        name = path.removeprefix("/pyodide/")
        assert name in measured, f"{name} is requested but the benchmark does not serve it"
        assert sha256(deployed_site / "pyodide" / name) == measured[name], name
    requested = {path.removeprefix("/pyodide/") for path, _ in runtime}
    # Hosted but never loaded: only the classic-script twin of pyodide.mjs (the worker is a
    # module) and the decoder's licence.
    assert set(measured) - requested <= {"pyodide.js", "numcodecs-js/LICENSE"}
