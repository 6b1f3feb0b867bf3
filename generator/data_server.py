"""A local CORS data server for a template library folder.

It stands in for the public bucket: the page reads it with ``?source=``, and the unmodified
spikeinterface client reads it with ``AWS_ENDPOINT_URL`` because the library is also served
under ``/spikeinterface-template-database/`` (path-style S3; the client only sends HEAD and
ranged GET, never a listing).

Every request is untrusted: names too long for a file system (a segment over 255 bytes, a
path over 4096) and symlink loops are answered 4xx, never a dropped connection or a 500;
control characters in a request are escaped in the log line; a malformed ``Range`` header is
ignored (200, the whole file, as RFC 9110 says) and an unsatisfiable one is a 416.
"""

from __future__ import annotations

import email.utils
import mimetypes
import posixpath
import re
import sys
import urllib.parse
from functools import partial
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from templatelib import format as fmt

BUCKET_PREFIX = f"/{fmt.PUBLIC_BUCKET}"
#: Linux's NAME_MAX and PATH_MAX, in bytes: no file below the root can have a longer name.
MAX_SEGMENT_BYTES = 255
MAX_PATH_BYTES = 4096
#: Listen backlog: a page (or a benchmark) opening a few hundred connections at once must not
#: wait on socketserver's default of 5 (connections beyond it are delayed by SYN retries).
REQUEST_QUEUE_SIZE = 256
#: Seconds a connection may stay silent before it is closed (a stalled client holds a thread).
IDLE_TIMEOUT_S = 60
_NOT_HEADER_LIST = re.compile(r"[^A-Za-z0-9!#$%&'*+.^_`|~, -]")
_RANGE = re.compile(r"bytes[ \t]*=[ \t]*([0-9]{0,20})[ \t]*-[ \t]*([0-9]{0,20})")
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


def parse_range(header: str, size: int) -> tuple[int, int] | None | bool:
    """``(first, last)`` inclusive for a single ``bytes=`` range; None when unsatisfiable.

    False when the header is not one well-formed byte range (garbage, several ranges, other
    units, numbers of more than 20 digits): the caller ignores it and sends the whole file.
    """
    match = _RANGE.fullmatch(header.strip())
    if match is None:
        return False
    start, end = match.groups()
    if start == "":
        if end == "":
            return False
        length = int(end)
        if length <= 0 or size == 0:
            return None
        return max(size - length, 0), size - 1
    first = int(start)
    if end and int(end) < first:
        return False  # RFC 9110: an invalid range-spec makes the header ignorable
    if first >= size:
        return None
    return first, min(int(end), size - 1) if end else size - 1


def escape_for_log(text: str) -> str:
    """``text`` with every non-printable character (ESC, CR, LF, NUL, C1...) as a ``\\x``/``\\u`` escape.

    A backslash is doubled, so an escape in the log always stands for a character sent.
    """
    if text.isprintable() and "\\" not in text:
        return text
    out = []
    for char in text:
        if char == "\\":
            out.append("\\\\")
        elif char.isprintable():
            out.append(char)
        else:
            out.append(char.encode("unicode_escape").decode("ascii"))
    return "".join(out)


class LibraryRequestHandler(BaseHTTPRequestHandler):
    """Serves files below ``root`` read-only, with CORS, HEAD and Range."""

    server_version = "HybridTemplateLibraryData/1"
    timeout = IDLE_TIMEOUT_S

    def __init__(self, *args, root: Path, cors: bool, index: bool = False, **kwargs):
        self.root = root
        self.cors = cors
        self.index = index
        super().__init__(*args, **kwargs)

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        # The request line and headers are the client's bytes: never let them drive a terminal.
        sys.stderr.write(f"{self.address_string()} {escape_for_log(format % args)}\n")

    def _resolve(self) -> Path | HTTPStatus:
        # unquote, not unquote_plus: a literal '+' in a dataset name must stay a '+'.
        raw_path = urllib.parse.urlsplit(self.path).path
        path = urllib.parse.unquote(raw_path, errors="surrogateescape")
        if path == BUCKET_PREFIX or path.startswith(BUCKET_PREFIX + "/"):
            path = path[len(BUCKET_PREFIX):]
        encoded = path.encode("utf-8", "surrogateescape")
        if len(encoded) > MAX_PATH_BYTES:
            return HTTPStatus.REQUEST_URI_TOO_LONG
        parts = [p for p in path.split("/") if p]
        if any(p in ("..", ".") or "\\" in p or "\x00" in p for p in parts):
            return HTTPStatus.FORBIDDEN
        if any(len(p.encode("utf-8", "surrogateescape")) > MAX_SEGMENT_BYTES for p in parts):
            return HTTPStatus.NOT_FOUND  # no file can have that name
        try:
            target = (self.root.joinpath(*parts)).resolve() if parts else self.root
        except (OSError, RuntimeError):  # a symlink loop (RuntimeError before Python 3.13), ENAMETOOLONG
            return HTTPStatus.NOT_FOUND
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
            # Echo only header-name characters: the client's text never shapes the response's lines.
            requested = _NOT_HEADER_LIST.sub("", self.headers.get("Access-Control-Request-Headers", "*"))[:1000]
            self.send_header("Access-Control-Allow-Headers", requested or "*")
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
        try:
            if self.index and target.is_dir():
                target = target / "index.html"
            if not target.is_file():
                return self._error(HTTPStatus.NOT_FOUND, head_only)
            stat = target.stat()
            handle = open(target, "rb")
        except PermissionError:
            return self._error(HTTPStatus.FORBIDDEN, head_only)
        except OSError:  # vanished meanwhile, ELOOP, ENAMETOOLONG...
            return self._error(HTTPStatus.NOT_FOUND, head_only)
        with handle:
            self._send_file(handle, stat, target.name, head_only)

    def _send_file(self, fh, stat, name: str, head_only: bool):
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
        parsed = parse_range(range_header, size) if range_header else False
        if parsed is not False:
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
        self.send_header("Content-Type", content_type(name))
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
        fh.seek(first)
        remaining = length
        while remaining:
            chunk = fh.read(min(remaining, 1 << 20))
            if not chunk:
                break
            try:
                self.wfile.write(chunk)
            except (BrokenPipeError, ConnectionResetError):
                # The client stopped reading (the page cancels templates.csv once it has the
                # first rows and a compact catalogue): an ordinary end, not an error to print.
                self.close_connection = True
                return
            remaining -= len(chunk)


class LibraryServer(ThreadingHTTPServer):
    """A threading HTTP server with a listen backlog for many parallel requests."""

    request_queue_size = REQUEST_QUEUE_SIZE
    daemon_threads = True


def make_server(root, host: str = "127.0.0.1", port: int = 8000, cors: bool = True,
                index: bool = False) -> LibraryServer:
    """Create (not start) the server; ``port=0`` picks a free port (see ``server.server_address``).

    ``index=True`` serves ``index.html`` for folders (the site server); the data server
    answers 404 for folders, as S3 does.
    """
    root_path = Path(root).resolve()
    if not root_path.is_dir():
        raise FileNotFoundError(f"folder {root} does not exist")
    handler = partial(LibraryRequestHandler, root=root_path, cors=cors, index=index)
    server = LibraryServer((host, port), handler)
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
    run_until_interrupted(server)


def run_until_interrupted(server) -> None:
    """Serve until Ctrl-C, then release the port (the data and site servers both end so)."""
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()

