"""``python -m generator demo``: the main job on the embedded default.

Builds the synthetic demo library once (reused on later runs unless ``--rebuild``), checks it,
and serves it on loopback with CORS, printing the URLs to use.
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
    from .data_server import serve_forever

    root = Path(args.library).resolve()
    ensure_demo_library(root, args.compressor, args.rebuild)
    subprocess.run([sys.executable, "-m", "pipeline", "validate", str(root)], check=True)
    serve_forever(root, args.host, args.data_port)
    return 0


def add_arguments(parser) -> None:
    parser.add_argument("--library", default=str(DEFAULT_LIBRARY), help="library folder (default: ./demo_library)")
    parser.add_argument("--rebuild", action="store_true", help="regenerate the demo library")
    parser.add_argument("--compressor", choices=("zlib", "blosc"), default="zlib",
                        help="zlib (default: readable by the offline Pyodide bundle) or blosc (like the live bucket)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--data-port", type=int, default=8000)
