"""A local CORS data server for a template library folder.

It stands in for the public bucket: the page reads it with ``?source=``, and the unmodified
spikeinterface client reads it with ``AWS_ENDPOINT_URL`` because the library is also served
under ``/spikeinterface-template-database/`` (path-style S3; the client only sends HEAD and
ranged GET, never a listing).
"""

from __future__ import annotations

import email.utils
import mimetypes
import posixpath
import sys
import urllib.parse
from functools import partial
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from templatelib import format as fmt

BUCKET_PREFIX = f"/{fmt.PUBLIC_BUCKET}"
CONTENT_TYPES = {
    ".csv": "text/csv; charset=utf-8",
    ".json": "application/json",
    ".zmetadata": "application/json",
    ".zarray": "application/json",
    ".zgroup": "application/json",
    ".zattrs": "application/json",
    # Browsers compile wasm while streaming only when it is served as application/wasm.
    ".wasm": "application/wasm",
    ".mjs": "text/javascript",
    ".js": "text/javascript",
    ".whl": "application/zip",
    ".html": "text/html; charset=utf-8",
}


def content_type(path: str) -> str:
    name = posixpath.basename(path)
    suffix = name if name.startswith(".") else posixpath.splitext(name)[1]
    return CONTENT_TYPES.get(suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """``(first, last)`` inclusive for a single ``bytes=`` range, or None when unsatisfiable."""
    units, _, spec = header.partition("=")
    if units.strip() != "bytes" or "," in spec:
        return None
    start, _, end = spec.strip().partition("-")
    try:
        if start == "":
            length = int(end)
            if length <= 0:
                return None
            return max(size - length, 0), size - 1
        first = int(start)
        last = int(end) if end else size - 1
    except ValueError:
        return None
    if first >= size or last < first:
        return None
    return first, min(last, size - 1)


class LibraryRequestHandler(BaseHTTPRequestHandler):
    """Serves files below ``root`` read-only, with CORS, HEAD and Range."""

    server_version = "HybridTemplateLibraryData/1"

    def __init__(self, *args, root: Path, cors: bool, index: bool = False, **kwargs):
        self.root = root
        self.cors = cors
        self.index = index
        super().__init__(*args, **kwargs)

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        sys.stderr.write(f"{self.address_string()} {format % args}\n")

    def _resolve(self) -> Path | None | int:
        # unquote, not unquote_plus: a literal '+' in a dataset name must stay a '+'.
        raw_path = urllib.parse.urlsplit(self.path).path
        path = urllib.parse.unquote(raw_path)
        if path == BUCKET_PREFIX or path.startswith(BUCKET_PREFIX + "/"):
            path = path[len(BUCKET_PREFIX):]
        parts = [p for p in path.split("/") if p]
        if any(p in ("..", ".") or "\\" in p or "\x00" in p for p in parts):
            return HTTPStatus.FORBIDDEN
        target = (self.root.joinpath(*parts)).resolve() if parts else self.root
        if target != self.root and self.root not in target.parents:
            return HTTPStatus.FORBIDDEN
        return target

    def _cors_headers(self):
        if self.cors:
            self.send_header("Access-Control-Allow-Origin", "*")
            self.send_header("Access-Control-Expose-Headers", "Content-Length, Content-Range, ETag, Accept-Ranges")

    def _error(self, status: HTTPStatus, head_only: bool):
        body = f"{status.value} {status.phrase}\n".encode()
        self.send_response(status)
        self._cors_headers()
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head_only:
            self.wfile.write(body)

    def do_OPTIONS(self):  # noqa: N802 - http.server's naming
        self.send_response(HTTPStatus.NO_CONTENT)
        self._cors_headers()
        if self.cors:
            self.send_header("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS")
            self.send_header("Access-Control-Allow-Headers", self.headers.get("Access-Control-Request-Headers", "*"))
            self.send_header("Access-Control-Max-Age", "600")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_HEAD(self):  # noqa: N802
        self._serve(head_only=True)

    def do_GET(self):  # noqa: N802
        self._serve(head_only=False)

    def _serve(self, head_only: bool):
        target = self._resolve()
        if isinstance(target, HTTPStatus):
            return self._error(target, head_only)
        if self.index and target.is_dir():
            target = target / "index.html"
        if not target.is_file():
            return self._error(HTTPStatus.NOT_FOUND, head_only)
        stat = target.stat()
        size = stat.st_size
        etag = f'"{stat.st_mtime_ns:x}-{size:x}"'
        if self.headers.get("If-None-Match") == etag:
            # Revalidation answered without a body: warm page loads cost one round trip per file.
            self.send_response(HTTPStatus.NOT_MODIFIED)
            self._cors_headers()
            self.send_header("ETag", etag)
            self.send_header("Cache-Control", "no-cache")
            self.end_headers()
            return
        first, last = 0, size - 1
        status = HTTPStatus.OK
        range_header = self.headers.get("Range")
        if range_header:
            parsed = parse_range(range_header, size)
            if parsed is None:
                self.send_response(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE)
                self._cors_headers()
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            first, last = parsed
            status = HTTPStatus.PARTIAL_CONTENT
        length = max(last - first + 1, 0)
        self.send_response(status)
        self._cors_headers()
        self.send_header("Content-Type", content_type(target.name))
        self.send_header("Content-Length", str(length))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Last-Modified", email.utils.formatdate(stat.st_mtime, usegmt=True))
        self.send_header("ETag", etag)
        # Revalidate every time: a rebuilt demo library must never be served stale.
        self.send_header("Cache-Control", "no-cache")
        if status == HTTPStatus.PARTIAL_CONTENT:
            self.send_header("Content-Range", f"bytes {first}-{last}/{size}")
        self.end_headers()
        if head_only or length == 0:
            return
        self.server.bytes_sent += length
        with open(target, "rb") as fh:
            fh.seek(first)
            remaining = length
            while remaining:
                chunk = fh.read(min(remaining, 1 << 20))
                if not chunk:
                    break
                self.wfile.write(chunk)
                remaining -= len(chunk)


def make_server(root, host: str = "127.0.0.1", port: int = 8000, cors: bool = True,
                index: bool = False) -> ThreadingHTTPServer:
    """Create (not start) the server; ``port=0`` picks a free port (see ``server.server_address``).

    ``index=True`` serves ``index.html`` for folders (the site server); the data server
    answers 404 for folders, as S3 does.
    """
    root_path = Path(root).resolve()
    if not root_path.is_dir():
        raise FileNotFoundError(f"folder {root} does not exist")
    handler = partial(LibraryRequestHandler, root=root_path, cors=cors, index=index)
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    server.bytes_sent = 0  # body bytes served: what a client's read really cost
    return server


def describe(server: ThreadingHTTPServer) -> str:
    host, port = server.server_address[:2]
    base = f"http://{host}:{port}"
    return "\n".join(
        [
            f"Serving {server.RequestHandlerClass.keywords['root']} at {base}/",
            f"  page:            ?source={urllib.parse.quote(base + '/', safe='')}",
            f"  spikeinterface:  AWS_ENDPOINT_URL={base} (library served under {BUCKET_PREFIX}/)",
        ]
    )


def serve_forever(root, host: str, port: int, cors: bool = True, index: bool = False, banner=describe) -> None:
    """Serve until Ctrl-C, after printing ``banner(server)`` (the URLs to use)."""
    server = make_server(root, host, port, cors, index)
    print(banner(server), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()

