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


# --------------------------------------------------------------------------- hostile requests


def _raw(server, request: bytes, timeout=10) -> bytes:
    """Send ``request`` as is (no client-side checks) and read the whole answer."""
    import socket

    host, port = server.server.server_address[:2]
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(request)
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


def _status(answer: bytes) -> int:
    assert answer.startswith(b"HTTP/1."), answer[:200]  # an answer, not a dropped connection
    return int(answer.split(b" ", 2)[1])


@pytest.fixture
def hostile_root(tmp_path):
    """A tiny library folder with a symlink loop, a folder and a link pointing outside."""
    import os

    root = tmp_path / "lib"
    (root / "folder.zarr").mkdir(parents=True)
    (root / "data.bin").write_bytes(bytes(range(256)) * 4)
    os.symlink(root / "loop_b", root / "loop_a")
    os.symlink(root / "loop_a", root / "loop_b")
    os.symlink("/etc", root / "outside")
    with start_data_server(root) as running:
        yield running


@pytest.mark.timeout(30)
@pytest.mark.parametrize("path, statuses", [
    # a symlink loop: 404, not a 500 from RuntimeError('Symlink loop')
    ("/loop_a", {404}), ("/loop_a/x", {404}), ("/loop_b/.zmetadata", {404}),
    # a link leaving the root: refused
    ("/outside/passwd", {403}),
    # a segment longer than NAME_MAX: 404 (no file can have that name), not ENAMETOOLONG -> 500
    ("/" + "x" * 256, {404}), ("/" + "%C3%A9" * 128, {404}), ("/a/" + "x" * 300 + "/b", {404}),
    # a path longer than PATH_MAX: 414
    ("/" + "/".join(["abcdefgh"] * 600), {414}),
    # a folder: 404, as S3 answers for a prefix
    ("/folder.zarr", {404}), ("/folder.zarr/", {404}),
    # NUL, invalid UTF-8, a backslash: 4xx
    ("/data.bin%00.txt", {403}), ("/%00", {403}), ("/%ff%fe", {404}), ("/a%5c..%5c..%5cetc", {403}),
])
def test_hostile_paths_get_a_4xx(hostile_root, path, statuses):
    """The user sees a 4xx answer with CORS headers: never a 500, never a closed connection."""
    for method in ("GET", "HEAD"):
        response, body = _request(hostile_root, method, path)
        assert response.status in statuses, (method, path[:80], response.status)
        assert response.getheader("Access-Control-Allow-Origin") == "*"
        assert b"root:" not in body


@pytest.mark.timeout(30)
@pytest.mark.parametrize("header, status, expected", [
    ("bytes=0-1,5-6", 200, slice(None)),  # several ranges: ignored, the whole file
    ("bytes=abc", 200, slice(None)),  # garbage: ignored
    ("items=0-3", 200, slice(None)),  # other units: ignored
    ("bytes=5-3", 200, slice(None)),  # last before first: invalid, ignored
    ("bytes=1_0-20", 200, slice(None)),  # int() would accept '1_0'; the grammar does not
    ("bytes=" + "9" * 5000 + "-", 200, slice(None)),  # too many digits: ignored, no int() of 5000 digits
    ("bytes=0-99999999999999999999", 206, slice(None)),  # huge last: clipped to the file
    ("bytes=99999999999999999999-", 416, slice(0)),  # huge first: unsatisfiable
    ("bytes=-99999999999999999999", 206, slice(None)),  # huge suffix: the whole file
    ("bytes=-0", 416, slice(0)),
    ("bytes= 10-19 ", 206, slice(10, 20)),
])
def test_malformed_range_is_ignored_or_416(hostile_root, header, status, expected):
    """A Range header the server cannot honour gives 200 (whole file) or 416: never 500."""
    data = bytes(range(256)) * 4
    response, body = _request(hostile_root, "GET", "/data.bin", {"Range": header})
    assert response.status == status, (header[:40], response.status)
    assert body == data[expected]


@pytest.mark.timeout(30)
def test_control_characters_are_escaped_in_the_log(hostile_root, capsys):
    """The log line shows ESC, BEL, CR, NUL and C1 bytes as escapes: a request cannot drive the terminal."""
    answer = _raw(hostile_root, b"GET /\x1b[2J\x1b]0;owned\x07\x9b31m\x00x\rb HTTP/1.0\r\n\r\n")
    assert 400 <= _status(answer) < 500
    _raw(hostile_root, b"GET /data.bin HTTP/1.0\r\nX: \x1b[31m\r\n\r\n")  # headers are not logged, but must not hurt
    _raw(hostile_root, b"\x1b[31m\x00\r\n\r\n")  # not even a request line
    log = capsys.readouterr().err
    assert log.count("\n") >= 3
    for line in log.splitlines():
        assert line.isprintable(), repr(line)
    assert "\\x1b[2J" in log and "\\x07" in log and "\\x9b" in log and "\\x00" in log


@pytest.mark.timeout(60)
def test_two_hundred_parallel_requests(hostile_root):
    """200 clients at once are all answered promptly: the listen backlog is not the default 5."""
    import threading

    assert hostile_root.server.request_queue_size >= 200
    count = 200
    barrier = threading.Barrier(count)
    results = [None] * count

    def fetch(k):
        barrier.wait()
        try:
            response, body = _request(hostile_root, "GET", "/data.bin")
            results[k] = (response.status, len(body))
        except Exception as error:  # noqa: BLE001 - recorded for the assertion
            results[k] = error

    threads = [threading.Thread(target=fetch, args=(k,)) for k in range(count)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    elapsed = time.perf_counter() - started
    assert results == [(200, 1024)] * count
    # With a backlog of 5, connections beyond it wait for SYN retransmits (1 s, then 3 s...).
    assert elapsed < 10, elapsed
