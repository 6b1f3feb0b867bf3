"""``python -m generator serve``: serve a built site on loopback (index.html for folders).

``--gzip`` serves the way GitHub Pages does: its CDN (Fastly) compresses text, JavaScript,
JSON, SVG and WebAssembly with ``Content-Encoding: gzip`` when the request accepts it, and
sends archives (``.whl``, ``.zip``) and images as they are. The page speed benchmark measures
both ways of serving.
"""

from __future__ import annotations

import functools
import gzip
import re
import threading
from http import HTTPStatus
from pathlib import Path

from .data_server import LibraryRequestHandler, content_type, make_server, run_until_interrupted

#: Content types sent gzip-compressed (prefixes of the Content-Type), as on GitHub Pages.
GZIP_TYPES = ("text/", "application/javascript", "application/json", "application/wasm", "application/xml",
              "image/svg+xml")
#: Level of the compression: what CDNs use for on-the-fly gzip (speed over the last percent).
GZIP_LEVEL = 6
#: Compressed bodies kept in memory, keyed by file, size and mtime (a site is tens of MB).
CACHE_ENTRIES = 256
_GZIP_TOKEN = re.compile(r"(?:^|,)\s*gzip\s*(?:;\s*q\s*=\s*([0-9.]+))?\s*(?:,|$)", re.I)


def accepts_gzip(header: str) -> bool:
    """Whether an ``Accept-Encoding`` header allows gzip (present, and not ``q=0``)."""
    match = _GZIP_TOKEN.search(header or "")
    if match is None:
        return False
    try:
        return match.group(1) is None or float(match.group(1)) > 0
    except ValueError:
        return False


def compressible(name: str) -> bool:
    """Whether a file of this name is sent gzip-compressed to a client that accepts it."""
    return content_type(name).startswith(GZIP_TYPES)


@functools.lru_cache(maxsize=CACHE_ENTRIES)
def _compressed(path: str, size: int, mtime_ns: int) -> bytes:
    # size and mtime are part of the key: a rebuilt site is compressed again.
    with open(path, "rb") as handle:
        return gzip.compress(handle.read(), compresslevel=GZIP_LEVEL, mtime=0)


_compress_lock = threading.Lock()


class GzipSiteHandler(LibraryRequestHandler):
    """The site handler, answering compressible files gzip-encoded when the client accepts it.

    Range requests get the identity encoding (as from Pages' origin); every answer of a
    compressible file says ``Vary: Accept-Encoding``, and the gzip variant has its own ETag.
    """

    def _send_file(self, fh, stat, name: str, head_only: bool):
        if (not compressible(name) or self.headers.get("Range")
                or not accepts_gzip(self.headers.get("Accept-Encoding", ""))):
            return super()._send_file(fh, stat, name, head_only)
        etag = f'"{stat.st_mtime_ns:x}-{stat.st_size:x}-gz"'
        if self.headers.get("If-None-Match") == etag:
            self.send_response(HTTPStatus.NOT_MODIFIED)
            self.send_header("ETag", etag)
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Vary", "Accept-Encoding")
            self.end_headers()
            return None
        with _compress_lock:  # one compression per file, not one per parallel request
            body = _compressed(fh.name, stat.st_size, stat.st_mtime_ns)
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", content_type(name))
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Vary", "Accept-Encoding")
        self.send_header("ETag", etag)
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        if not head_only:
            self.server.bytes_sent += len(body)
            self.wfile.write(body)
        return None


def make_site_server(folder, host: str = "127.0.0.1", port: int = 8080, gzip_encoding: bool = False):
    """Create (not start) the site server; ``gzip_encoding`` serves like GitHub Pages (see module doc)."""
    server = make_server(folder, host, port, cors=False, index=True)
    if gzip_encoding:
        server.RequestHandlerClass = functools.partial(GzipSiteHandler, **server.RequestHandlerClass.keywords)
    return server


def serve_site(folder, host: str = "127.0.0.1", port: int = 8080, gzip_encoding: bool = False) -> None:
    """Serve the built site in ``folder`` until Ctrl-C."""
    server = make_site_server(Path(folder), host, port, gzip_encoding)
    how = " (gzip-encoded like GitHub Pages)" if gzip_encoding else ""
    print(f"Serving the site in {folder} at http://{host}:{server.server_address[1]}/{how}", flush=True)
    run_until_interrupted(server)
