"""``python -m generator serve``: serve a built site on loopback (index.html for folders)."""

from __future__ import annotations

from .data_server import make_server


def serve_site(folder, host: str = "127.0.0.1", port: int = 8080) -> None:
    server = make_server(folder, host, port, cors=False, index=True)
    print(f"Serving the site in {folder} at http://{host}:{server.server_address[1]}/", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
