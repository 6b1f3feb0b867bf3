"""``python -m generator demo``: the main job on the embedded default.

Builds the synthetic demo library once (reused on later runs unless ``--rebuild``), checks it,
builds the site pointed at it, and serves both on loopback, printing the URL to open.
The defaults work offline: a zlib library and the self-hosted runtime (``--pyodide local``,
what the deploy publishes; it decodes Blosc with WebAssembly c-blosc), so
``--compressor blosc`` gives the live bucket's setup.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from templatelib import format as fmt

REPO = Path(__file__).resolve().parent.parent
DEFAULT_LIBRARY = REPO / "demo_library"


def ensure_demo_library(root: Path, compressor: str, rebuild: bool) -> None:
    """Build the demo library unless a complete one is already there."""
    if (root / fmt.MANIFEST_FILE).exists() and not rebuild:
        print(f"demo library: reusing {root} (pass --rebuild to regenerate)")
        return
    command = [sys.executable, "-m", "pipeline", "synthetic", str(root), "--compressor", compressor, "--overwrite"]
    subprocess.run(command, check=True)


def run_demo(args) -> int:
    import threading
    import urllib.parse

    from .build import build_site
    from .data_server import describe, make_server

    root = Path(args.library).resolve()
    ensure_demo_library(root, args.compressor, args.rebuild)
    subprocess.run([sys.executable, "-m", "pipeline", "validate", str(root)], check=True)
    data_server = make_server(root, args.host, args.data_port)
    data_url = f"http://{args.host}:{data_server.server_address[1]}/"
    site = build_site(Path(args.site), pyodide=args.pyodide, default_source=data_url,
                      catalogue=str(Path(args.library) / "templates.csv"))
    site_server = make_server(site, args.host, args.site_port, cors=False, index=True)
    print(describe(data_server))
    page = f"http://{args.host}:{site_server.server_address[1]}/?source={urllib.parse.quote(data_url, safe='')}"
    print(f"Site built in {site}\nOpen the page: {page}\n(Ctrl-C stops both servers)", flush=True)
    threading.Thread(target=data_server.serve_forever, daemon=True).start()
    try:
        site_server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        site_server.server_close()
        data_server.shutdown()
    return 0


def add_arguments(parser) -> None:
    parser.add_argument("--library", default=str(DEFAULT_LIBRARY), help="library folder (default: ./demo_library)")
    parser.add_argument("--rebuild", action="store_true", help="regenerate the demo library")
    parser.add_argument("--compressor", choices=("zlib", "blosc"), default="zlib",
                        help="zlib (default: readable by the offline Pyodide bundle) or blosc (like the live bucket)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--data-port", type=int, default=8000)
    parser.add_argument("--site-port", type=int, default=8080)
    parser.add_argument("--site", default=str(REPO / "_site"), help="site output folder (default: ./_site)")
    parser.add_argument("--pyodide", default="local",
                        help="local (default: offline bundle), cdn, or a URL of a Pyodide distribution")
