"""serve-data: CORS, HEAD, Range, literal '+', traversal, clean 404s."""

import http.client
import subprocess
import sys
import time
import urllib.parse

import pytest

from conftest import start_data_server


def _request(server, method, path, headers=None):
    host, port = server.server.server_address[:2]
    conn = http.client.HTTPConnection(host, port, timeout=10)
    conn.request(method, path, headers=headers or {})  # raw path: no client-side normalising
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response, body


@pytest.fixture(scope="module")
def server(small_library):
    with start_data_server(small_library.path) as running:
        yield running


def test_catalogue_with_cors_and_type(server, small_library):
    response, body = _request(server, "GET", "/templates.csv")
    assert response.status == 200
    assert response.getheader("Access-Control-Allow-Origin") == "*"
    assert response.getheader("Content-Type").startswith("text/csv")
    assert body == open(f"{small_library.path}/templates.csv", "rb").read()


def test_bucket_prefix_and_literal_plus(server, small_library):
    key = next(k for k in small_library.complete_datasets() if "+" in k)
    for path in (f"/{key}/.zmetadata", f"/spikeinterface-template-database/{key}/.zmetadata",
                 "/" + urllib.parse.quote(key) + "/.zmetadata"):
        response, body = _request(server, "GET", path)
        assert response.status == 200, path
        assert response.getheader("Content-Type") == "application/json"
    # '+' must not become a space
    response, _ = _request(server, "GET", "/" + key.replace("+", " ").replace(" ", "%20") + "/.zmetadata")
    assert response.status == 404


def test_head_and_range(server, small_library):
    key = small_library.complete_datasets()[0]
    path = f"/{key}/templates_array/0.0.0"
    size = len(open(f"{small_library.path}{path}", "rb").read())
    response, body = _request(server, "HEAD", path)
    assert response.status == 200 and body == b""
    assert int(response.getheader("Content-Length")) == size
    assert response.getheader("Accept-Ranges") == "bytes"
    response, body = _request(server, "GET", path, {"Range": "bytes=10-19"})
    assert response.status == 206
    assert response.getheader("Content-Range") == f"bytes 10-19/{size}"
    assert body == open(f"{small_library.path}{path}", "rb").read()[10:20]
    response, body = _request(server, "GET", path, {"Range": "bytes=-5"})
    assert response.status == 206 and len(body) == 5
    response, _ = _request(server, "GET", path, {"Range": f"bytes={size + 10}-"})
    assert response.status == 416


def test_preflight(server):
    response, _ = _request(server, "OPTIONS", "/templates.csv",
                           {"Origin": "http://127.0.0.1:9", "Access-Control-Request-Method": "GET",
                            "Access-Control-Request-Headers": "range"})
    assert response.status == 204
    assert response.getheader("Access-Control-Allow-Origin") == "*"
    assert "GET" in response.getheader("Access-Control-Allow-Methods")
    assert response.getheader("Access-Control-Allow-Headers") == "range"


@pytest.mark.parametrize("path", ["/../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd",
                                  "/spikeinterface-template-database/../../etc/passwd", "/a/..%2f..%2fetc/passwd"])
def test_traversal_refused(server, path):
    response, body = _request(server, "GET", path)
    assert response.status in (403, 404)
    assert b"root:" not in body


@pytest.mark.parametrize("path", ["/missing.zarr/.zmetadata", "/", "/templates.csv/x"])
def test_missing_is_404_not_500(server, path):
    response, _ = _request(server, "GET", path)
    assert response.status == 404
    assert response.getheader("Access-Control-Allow-Origin") == "*"


def test_no_cors_mode(small_library):
    with start_data_server(small_library.path, cors=False) as running:
        response, _ = _request(running, "GET", "/templates.csv")
        assert response.status == 200 and response.getheader("Access-Control-Allow-Origin") is None


def test_cli_prints_urls_and_logs_requests(small_library, tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "generator", "serve-data", small_library.path, "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stdout.readline()
        assert f"http://127.0.0.1:{port}/" in first
        assert "AWS_ENDPOINT_URL" in proc.stdout.readline() + proc.stdout.readline()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/templates.csv")
        assert conn.getresponse().status == 200
        deadline = time.time() + 10
        line = proc.stderr.readline()
        while "templates.csv" not in line and time.time() < deadline:
            line = proc.stderr.readline()
        assert '"GET /templates.csv HTTP/1.1" 200' in line
    finally:
        proc.terminate()
        proc.wait(10)
