"""``python -m generator serve``: serve a built site on loopback (index.html for folders)."""

from __future__ import annotations

from .data_server import serve_forever


def serve_site(folder, host: str = "127.0.0.1", port: int = 8080) -> None:
    def banner(server):
        return f"Serving the site in {folder} at http://{host}:{server.server_address[1]}/"

    serve_forever(folder, host, port, cors=False, index=True, banner=banner)
