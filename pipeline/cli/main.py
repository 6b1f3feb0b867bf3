"""``python -m pipeline``: build, catalogue and check a template library.

ROOT is a local folder or an fsspec URL (``s3://bucket/prefix``) everywhere.
"""

from __future__ import annotations

import argparse

from templatelib import format as fmt

from .common import EXIT_BAD_ROOT, EXIT_FAILED, add_bucket, add_compressor, add_scale_out, check_scale_out
from .common import existing_root, missing_root, scaled_out
from .common import error as _error
from ..storage import LibraryStorage


def _cmd_synthetic(args) -> int:
    from ..catalogue import consolidate
    from ..sources.synthetic import write_synthetic_library

    storage = LibraryStorage(args.root)
    if not storage.is_empty() and not args.overwrite:
        return _error(f"{storage.url()} is not empty; pass --overwrite to replace its datasets (nothing was changed)",
                      EXIT_BAD_ROOT)
    if args.overwrite:
        for name in storage.top_level_names():
            if name.endswith(fmt.DATASET_SUFFIX) or name in (fmt.CATALOGUE_FILE, fmt.MANIFEST_FILE):
                storage.remove(name)
    storage.make_root()
    written = write_synthetic_library(
        storage, args.datasets, args.units, seed=args.seed, compressor=args.compressor, overwrite=True
    )
    manifest = consolidate(storage, bucket=args.bucket)
    print(f"wrote {len(written)} datasets, {manifest['template_count']} templates to {storage.url()}")
    return 0


def _cmd_consolidate(args) -> int:
    from ..catalogue import consolidate

    storage = existing_root(args.root)
    if storage is None:
        return missing_root(args.root)
    problem = check_scale_out(args)
    if problem:
        return _error(problem)
    dask, scheduler_errors = None, ()
    if scaled_out(args):
        from ..consolidate_dask import DaskOptions
        from ..scale_out import SchedulerError

        dask, scheduler_errors = DaskOptions(scheduler=args.scheduler, workers=args.workers or 2), (SchedulerError,)
    damaged: dict = {}
    try:
        manifest = consolidate(storage, bucket=args.bucket, damaged=damaged, dask=dask)
    except scheduler_errors as error:  # raised before anything is written
        return _error(f"{error} (nothing was changed)")
    skipped = sorted(set(storage.dataset_names()) - set(manifest["datasets"]) - set(damaged))
    print(
        f"{fmt.CATALOGUE_FILE}: {manifest['template_count']} templates from {len(manifest['datasets'])} datasets"
    )
    for name in skipped:
        print(f"skipped incomplete dataset {name} (no {fmt.CONSOLIDATED_KEY})")
    for name in sorted(damaged):  # left out, the rest consolidated: exit 1 so that it is seen
        _error(f"left out damaged dataset {damaged[name]}")
    return EXIT_FAILED if damaged else 0


def _cmd_pack(args) -> int:
    from templatelib.catalogue import CatalogueError

    from ..pack import pack

    storage = existing_root(args.root)
    if storage is None:
        return missing_root(args.root)
    try:
        entry = pack(storage)
    except CatalogueError as error:
        return _error(error)
    print(f"{fmt.COMPACT_CATALOGUE_FILE}: {entry['rows']} rows, {entry['bytes']} bytes "
          f"(from {fmt.CATALOGUE_FILE}, sha256 {entry['templates_csv_sha256'][:12]}...)")
    return 0


def _cmd_validate(args) -> int:
    from ..validate import validate_library

    try:
        storage = LibraryStorage(args.root)
        problems = validate_library(storage, deep=args.deep)
        where = storage.url()
    except Exception as error:  # an unusable ROOT (bad URL, unreachable backend): one line, no traceback
        where = args.root
        problems = [f"{args.root}: cannot be read ({type(error).__name__}: {str(error)[:200]})"]
    if problems:
        print(f"{len(problems)} problem(s) in {where}:")
        for problem in problems:
            print(f"  - {problem}")
        return 1
    print(f"{where}: valid ({len(storage.complete_datasets())} datasets{', deep' if args.deep else ''})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pipeline", description=__doc__.splitlines()[0].replace("``", ""))
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("synthetic", help="write a realistic synthetic demo library (the embedded default)")
    p.add_argument("root", metavar="ROOT")
    p.add_argument("--datasets", type=int, default=8, help="number of datasets (default: 8; the last is NP-Ultra-like)")
    p.add_argument("--units", type=int, default=50, help="units per dataset (default: 50)")
    p.add_argument("--seed", type=int, default=0)
    add_compressor(p)
    p.add_argument("--overwrite", action="store_true", help="replace the datasets and catalogue already in ROOT")
    add_bucket(p)
    p.set_defaults(func=_cmd_synthetic)

    p = sub.add_parser("consolidate", help="write templates.csv and library.json for every complete dataset")
    p.add_argument("root", metavar="ROOT")
    add_bucket(p)
    add_scale_out(p, "compute the changed datasets' shape metrics and previews", "ROOT", "default: in this process")
    p.set_defaults(func=_cmd_consolidate)

    p = sub.add_parser("pack", help="rewrite catalogue.htlc (the compact catalogue) from templates.csv alone "
                                     "and record it in library.json")
    p.add_argument("root", metavar="ROOT")
    p.set_defaults(func=_cmd_pack)

    p = sub.add_parser("validate", help="check every dataset and the catalogue against the format; exit 1 on problems")
    p.add_argument("root", metavar="ROOT")
    p.add_argument("--deep", action="store_true",
                   help="also decode every template chunk (bounded: 64 MiB per chunk) and check its values "
                        "against peak_to_peak; reads the whole library")
    p.set_defaults(func=_cmd_validate)

    from .sources import add_commands as add_source_commands

    add_source_commands(sub)

    from .maintenance import add_commands as add_maintenance_commands

    add_maintenance_commands(sub)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)
