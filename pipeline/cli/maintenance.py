"""The maintenance commands of ``python -m pipeline``: ``prune``, ``delete``, ``restore-noise``.

Each prints what it would change and changes nothing unless ``--apply`` is given. After an
applied change the catalogue (``templates.csv``, ``library.json``) is regenerated and the library
validated; the command exits 1 if validation finds a problem.
"""

from __future__ import annotations

import sys

from templatelib import format as fmt

from .common import add_bucket, existing_root, missing_root
from .common import error as _error
from ..storage import LibraryStorage

DRY_RUN_NOTE = "dry run: nothing was changed; rerun with --apply to do it"


def _finish(storage: LibraryStorage, bucket: str) -> int:
    """Regenerate the catalogue, validate, report."""
    from ..catalogue import consolidate
    from ..validate import validate_library

    manifest = consolidate(storage, bucket=bucket)
    print(f"{fmt.CATALOGUE_FILE}: {manifest['template_count']} templates from {len(manifest['datasets'])} datasets")
    problems = validate_library(storage)
    for problem in problems:
        print(f"  - {problem}")
    print(f"{storage.url()}: " + (f"{len(problems)} problem(s)" if problems else "valid"))
    return 1 if problems else 0


def _cmd_prune(args) -> int:
    from ..maintenance import MaintenanceError, apply_prune, plan_prune

    storage = existing_root(args.root)
    if storage is None:
        return missing_root(args.root)
    datasets = [fmt.dataset_key(d) for d in args.dataset] if args.dataset else None
    missing = [d for d in datasets or [] if not storage.is_complete(d)]
    if missing:
        return _error(f"no complete dataset {', '.join(missing)} in {storage.url()}")
    plans = plan_prune(storage, args.min_spikes, datasets)
    if not plans:
        print(f"every template has at least {args.min_spikes} spikes: nothing to prune")
        return 0
    for plan in plans:
        print(plan.describe())
    dropped = sum(len(p.dropped_unit_ids) for p in plans)
    print(f"{dropped} templates in {len(plans)} datasets below {args.min_spikes} spikes")
    if not args.apply:
        print(DRY_RUN_NOTE)
        return 0
    for plan in plans:
        try:
            counts = apply_prune(storage, plan, grace_s=args.grace_seconds)
        except MaintenanceError as error:
            print(f"error: {error}", file=sys.stderr)
            _finish(storage, args.bucket)
            return 1
        print(f"pruned {plan.dataset}: {counts}")
    return _finish(storage, args.bucket)


def _root_and_key(args):
    """``(storage, dataset key)``, or ``(None, exit code)`` after saying the root is missing."""
    storage = existing_root(args.root)
    if storage is None:
        return None, missing_root(args.root)
    return storage, fmt.dataset_key(args.dataset)


def _cmd_delete(args) -> int:
    from ..catalogue import consolidate
    from ..maintenance import delete_dataset

    storage, key = _root_and_key(args)
    if storage is None:
        return key
    if key not in storage.dataset_names():
        return _error(f"no dataset {key} in {storage.url()}")
    state = "complete" if storage.is_complete(key) else "incomplete (an interrupted write)"
    print(f"would delete {storage.url(key)} ({state}) and rebuild the catalogue without it")
    if not args.apply:
        print(DRY_RUN_NOTE)
        return 0
    delete_dataset(storage, key, on_hidden=lambda: consolidate(storage, bucket=args.bucket))
    print(f"deleted {key}")
    return _finish(storage, args.bucket)


def _cmd_restore_noise(args) -> int:
    from ..maintenance import MaintenanceError, apply_noise, plan_noise
    from ..sources.nwb import SourceError, noise_levels_from_nwb

    storage, key = _root_and_key(args)
    if storage is None:
        return key
    if not storage.is_complete(key):
        return _error(f"no complete dataset {key} in {storage.url()}")
    try:
        if args.from_npy:
            import numpy as np

            levels = np.load(args.from_npy)
        else:
            levels = noise_levels_from_nwb(args.from_nwb, minutes=args.minutes, electrical_series=args.series,
                                           progress=not args.quiet)
        plan = plan_noise(storage, key, levels)
    except (MaintenanceError, SourceError, OSError, ValueError) as error:
        return _error(str(error))
    print(plan.describe())
    if not args.apply:
        print(DRY_RUN_NOTE)
        return 0
    try:
        counts = apply_noise(storage, plan, grace_s=args.grace_seconds)
    except MaintenanceError as error:
        return _error(str(error))
    print(f"restored noise levels of {key}: {counts}")
    return _finish(storage, args.bucket)


def add_commands(subparsers) -> None:
    """Add ``prune``, ``delete`` and ``restore-noise`` to ``python -m pipeline``."""
    from ..maintenance import DEFAULT_GRACE_S
    from ..sources.nwb import DEFAULT_MIN_SPIKES, DEFAULT_MINUTES

    def common(parser, rewrites=True):
        parser.add_argument("--apply", action="store_true", help="make the change (default: only print it)")
        add_bucket(parser)
        if rewrites:
            parser.add_argument("--grace-seconds", type=float, default=DEFAULT_GRACE_S,
                                help="refuse to rewrite a dataset rewritten less than this long ago: readers of "
                                     f"the generation before may still use it (default: {DEFAULT_GRACE_S:g})")

    p = subparsers.add_parser("prune", help="drop templates averaged from too few spikes (dry run unless --apply)")
    p.add_argument("root", metavar="ROOT")
    p.add_argument("--min-spikes", type=int, default=DEFAULT_MIN_SPIKES,
                   help=f"keep templates with at least this many spikes (default: {DEFAULT_MIN_SPIKES})")
    p.add_argument("--dataset", action="append", metavar="NAME", help="only this dataset (repeatable)")
    common(p)
    p.set_defaults(func=_cmd_prune)

    p = subparsers.add_parser("delete", help="remove one dataset and its catalogue rows (dry run unless --apply)")
    p.add_argument("dataset", metavar="DATASET")
    p.add_argument("root", metavar="ROOT")
    common(p, rewrites=False)
    p.set_defaults(func=_cmd_delete)

    p = subparsers.add_parser("restore-noise", help="(re)compute a dataset's channel noise levels from its source "
                                                    "recording (dry run unless --apply)")
    p.add_argument("root", metavar="ROOT")
    p.add_argument("dataset", metavar="DATASET")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--from-nwb", metavar="PATH_OR_URL", help="the dataset's NWB file (same recipe as `nwb`)")
    source.add_argument("--from-npy", metavar="FILE", help="a .npy of per-channel noise levels in uV")
    p.add_argument("--minutes", type=float, default=DEFAULT_MINUTES, help="window at the end of the recording")
    p.add_argument("--series", help="ElectricalSeries name, when the file has several raw ones")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    common(p)
    p.set_defaults(func=_cmd_restore_noise)
