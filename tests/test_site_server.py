"""``generator serve --gzip``: compressed answers like GitHub Pages, identity where Pages sends identity."""

from __future__ import annotations

import gzip
import os
import urllib.error
import urllib.request

import pytest

from conftest import RunningServer
from generator.site_server import accepts_gzip, make_site_server

FILES = {
    "pyodide/pyodide.asm.wasm": b"\0asm\1\0\0\0" + os.urandom(64) + b"\0" * 4000,
    "pyodide/pyodide.js": b"var x = 1;\n" * 500,
    "pyodide/pyodide-lock.json": b'{"packages": {}}' * 100,
    "pyodide/numpy-2.0.2-cp312-cp312-pyodide_2024_0_wasm32.whl": b"PK\3\4" + b"x" * 3000,
    "pyodide/python_stdlib.zip": b"PK\3\4" + b"y" * 3000,
    "index.html": b"<!doctype html><p>hello</p>\n" * 50,
}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("site")
    for name, data in FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    with RunningServer(make_site_server(root, "127.0.0.1", 0, gzip_encoding=True)) as server:
        yield server


def get(url, **headers):
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


@pytest.mark.parametrize("name", ["pyodide/pyodide.asm.wasm", "pyodide/pyodide.js", "pyodide/pyodide-lock.json",
                                  "index.html"])
def test_text_json_and_wasm_are_gzip_encoded(site, name):
    status, headers, body = get(f"{site.url}/{name}", **{"Accept-Encoding": "gzip, deflate, br"})
    assert status == 200 and headers["Content-Encoding"] == "gzip" and headers["Vary"] == "Accept-Encoding"
    assert int(headers["Content-Length"]) == len(body) < len(FILES[name])
    assert gzip.decompress(body) == FILES[name]
    assert get(f"{site.url}/{name}", **{"Accept-Encoding": "gzip", "If-None-Match": headers["ETag"]})[0] == 304


@pytest.mark.parametrize("name", ["pyodide/numpy-2.0.2-cp312-cp312-pyodide_2024_0_wasm32.whl",
                                  "pyodide/python_stdlib.zip"])
def test_archives_are_sent_as_they_are(site, name):
    status, headers, body = get(f"{site.url}/{name}", **{"Accept-Encoding": "gzip"})
    assert status == 200 and "Content-Encoding" not in headers and body == FILES[name]


def test_identity_without_gzip_in_accept_encoding_or_for_ranges(site):
    url = f"{site.url}/pyodide/pyodide.js"
    for headers in ({}, {"Accept-Encoding": "br"}, {"Accept-Encoding": "gzip;q=0, br"}):
        status, answer, body = get(url, **headers)
        assert status == 200 and "Content-Encoding" not in answer and body == FILES["pyodide/pyodide.js"]
    status, answer, body = get(url, **{"Accept-Encoding": "gzip", "Range": "bytes=0-9"})
    assert status == 206 and "Content-Encoding" not in answer and body == FILES["pyodide/pyodide.js"][:10]


@pytest.mark.parametrize("header, expected", [
    ("gzip", True), ("deflate, gzip;q=1.0, *;q=0.5", True), ("GZIP", True), ("gzip;q=0", False),
    ("gzip;q=0.000", False), ("x-gzip", False), ("br", False), ("", False), ("gzip;q=zz", False),
])
def test_accepts_gzip(header, expected):
    assert accepts_gzip(header) is expected
