"""The real sources on the command line: ``nwb``, ``ibl`` and ``npultra``.

:func:`add_commands` adds them to ``python -m pipeline``'s subparsers. Each command writes its
datasets, then rewrites the catalogue (``templates.csv``, ``library.json``) of the root, prints
a summary and returns 0; a refused input prints ``error: <message>`` on stderr and returns 1
with nothing written.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from templatelib import format as fmt

from .common import add_bucket, add_compressor, add_scale_out, check_scale_out, scaled_out
from .common import error as _error
from ..storage import LibraryStorage


def _consolidate(storage: LibraryStorage, bucket: str) -> str:
    from ..catalogue import consolidate

    manifest = consolidate(storage, bucket=bucket)
    return (f"{fmt.CATALOGUE_FILE}: {manifest['template_count']} templates from "
            f"{len(manifest['datasets'])} datasets in {storage.url()}")


def _write_options(args):
    from ..dataset_writer import WriteOptions

    return WriteOptions(compressor=args.compressor)


def _nwb_options(args) -> dict:
    """NwbOptions fields shared by the ``nwb`` and ``ibl`` commands."""
    return {
        "n_jobs": args.n_jobs,
        "chunk_duration": args.chunk_duration,
        "highpass_margin_ms": args.highpass_margin_ms,
        "scratch_folder": args.scratch,
        "probe_model": args.probe_model,
        "manufacturer": args.manufacturer,
        "write_options": _write_options(args),
    }

# The nwb and ibl commands' --scheduler/--workers (pipeline.cli.common.add_scale_out).
SESSIONS_ON_DASK = ("run the sessions", "the inputs and ROOT", "default with several files: 2")


# --------------------------------------------------------------------------- nwb


def _absolute(path_or_url: str) -> str:
    """Local paths made absolute: Dask workers need not share the driver's working directory."""
    return path_or_url if "://" in path_or_url else os.path.abspath(path_or_url)


def _finish(summaries: list[dict], root: str, bucket: str) -> int:
    """Final summary, one consolidation of the catalogue, exit 1 if a session failed."""
    from ..scale_out import count_sessions, format_summary

    print(format_summary(summaries))
    storage = LibraryStorage(root)
    if storage.root_exists():
        print(_consolidate(storage, bucket))
    return 1 if count_sessions(summaries)["failed"] else 0


def _cmd_nwb(args) -> int:
    if len(args.path_or_url) > 1 or scaled_out(args):
        return _cmd_nwb_many(args)
    from ..sources.nwb import SourceError, nwb_to_dataset

    storage = LibraryStorage(args.root)
    try:
        result = nwb_to_dataset(
            args.path_or_url[0], storage, minutes=args.minutes, min_spikes=args.min_spikes,
            unit_filter=args.unit_filter, dataset_name=args.name, progress=not args.quiet,
            electrical_series=args.series, overwrite=args.overwrite, **_nwb_options(args),
        )
    except SourceError as error:
        return _error(str(error))
    print(result.summary())
    print(_consolidate(storage, args.bucket))
    return 0


def _cmd_nwb_many(args) -> int:
    """Several files, or one on Dask: one session per file, a summary each, one consolidation."""
    from ..scale_out import NwbSessionOptions, SchedulerError, clashing_stems, run_nwb_session, run_on_dask

    paths = [_absolute(p) for p in args.path_or_url]
    problem = check_scale_out(args)
    if problem:
        return _error(problem)
    if args.name and len(paths) > 1:
        return _error("--name names one dataset; it cannot be used with several files")
    clashes = clashing_stems(paths)
    if clashes and not args.name:
        return _error(f"several inputs share the file stem {', '.join(clashes)}: their datasets would have the "
                      "same name (<file stem>_<series name>)")
    options = NwbSessionOptions(
        minutes=args.minutes, min_spikes=args.min_spikes, unit_filter=args.unit_filter, dataset_name=args.name,
        electrical_series=args.series, overwrite=args.overwrite, progress=False, nwb=_nwb_options(args),
    )
    print(f"{len(paths)} NWB file(s) on {args.scheduler or f'a local cluster of {args.workers or 2} worker(s)'}")
    try:
        summaries = run_on_dask(run_nwb_session, paths, args=(_absolute(args.root), options),
                                scheduler=args.scheduler, workers=args.workers or 2, report=_print_session)
    except SchedulerError as error:
        return _error(str(error))
    return _finish(summaries, args.root, args.bucket)


# --------------------------------------------------------------------------- ibl


def _load_insertions(path: str | None) -> dict:
    if not path:
        return {}
    try:
        mapping = json.loads(Path(path).read_text())
    except (OSError, ValueError) as error:
        raise ValueError(f"cannot read the insertions file {path}: {error}") from error
    if not isinstance(mapping, dict):
        raise ValueError(f"{path} must hold {{asset_path: {{series_name: probe_insertion_id}}}}")
    return mapping


def _print_session(summary: dict) -> None:
    print(f"{summary['status']:>8}  {summary['asset']}  ({summary['elapsed_s']:.1f} s)")
    for entry in summary["datasets"]:
        detail = f"{entry.get('units', 0)} templates" if entry["status"] == "written" else entry["reason"]
        print(f"{'':>10}{entry['status']}: {entry['dataset']}: {detail}")
    if summary["status"] == "failed" and not summary["datasets"]:
        print(f"{'':>10}{summary['reason']}")


def _cmd_ibl(args) -> int:
    from ..scale_out import SchedulerError, run_on_dask
    from ..sources.dandi_ibl import IblOptions, list_ecephys_assets, run_dandiset, run_session
    from ..sources.nwb import SourceError

    problem = check_scale_out(args)
    if problem:
        return _error(problem)
    try:
        insertions = _load_insertions(args.insertions)
        assets = list_ecephys_assets(args.dandiset, api_url=args.api_url)
    except (SourceError, ValueError) as error:
        return _error(str(error))
    print(f"dandiset {args.dandiset}: {len(assets)} ecephys NWB assets")
    nwb = _nwb_options(args)
    scaled = scaled_out(args)
    options = IblOptions(
        dandiset_id=args.dandiset, minutes=args.minutes, min_spikes=args.min_spikes, unit_filter=args.unit_filter,
        insertions=insertions, overwrite=args.overwrite, progress=not args.quiet and not scaled, nwb=nwb,
    )
    if not scaled:
        summaries = run_dandiset(assets, args.root, options, limit=args.limit, report=_print_session)
    else:
        try:
            summaries = run_on_dask(run_session, assets, args=(_absolute(args.root), options),
                                    scheduler=args.scheduler, workers=args.workers or 2, report=_print_session,
                                    limit=args.limit)
        except SchedulerError as error:
            return _error(str(error))
    return _finish(summaries, args.root, args.bucket)


# --------------------------------------------------------------------------- npultra


def _cmd_npultra(args) -> int:
    from ..sources.np_ultra import write_np_ultra
    from ..sources.nwb import SourceError

    storage = LibraryStorage(args.root)
    try:
        result = write_np_ultra(
            args.folder, storage, units_per_dataset=args.units_per_dataset, min_spikes=args.min_spikes,
            overwrite=args.overwrite, write_options=_write_options(args), progress=not args.quiet,
        )
    except SourceError as error:
        return _error(str(error))
    print(result.summary())
    print(_consolidate(storage, args.bucket))
    return 0


# --------------------------------------------------------------------------- parsers


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--root", required=True, help="library root: a folder or an fsspec URL (s3://bucket/prefix)")
    parser.add_argument("--overwrite", action="store_true", help="replace datasets that are already complete")
    add_compressor(parser)
    add_bucket(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def _add_recipe(parser: argparse.ArgumentParser, unit_filter: str | None) -> None:
    from ..sources.nwb import DEFAULT_CHUNK_DURATION, DEFAULT_HIGHPASS_MARGIN_MS, DEFAULT_MIN_SPIKES, DEFAULT_MINUTES

    parser.add_argument("--minutes", type=float, default=DEFAULT_MINUTES,
                        help=f"use the last MINUTES of the recording (default: {DEFAULT_MINUTES:g})")
    parser.add_argument("--min-spikes", type=int, default=DEFAULT_MIN_SPIKES,
                        help=f"drop units with fewer spikes in that window (default: {DEFAULT_MIN_SPIKES})")
    parser.add_argument("--unit-filter", default=unit_filter, metavar="EXPR",
                        help="pandas query over the units table columns, e.g. \"label == 1\" or "
                             f"\"presence_ratio > 0.9\" (default: {unit_filter or 'none'})")
    parser.add_argument("--probe-model", help="probe model name (default: read from the file's device)")
    parser.add_argument("--manufacturer", help="probe manufacturer (default: read from the file's device)")
    parser.add_argument("--n-jobs", type=int, default=1, help="processes for the chunked steps (default: 1)")
    parser.add_argument("--chunk-duration", default=DEFAULT_CHUNK_DURATION,
                        help=f"chunk length of those steps (default: {DEFAULT_CHUNK_DURATION})")
    parser.add_argument("--highpass-margin-ms", type=float, default=DEFAULT_HIGHPASS_MARGIN_MS,
                        help=f"margin of the 1 Hz highpass per chunk (default: {DEFAULT_HIGHPASS_MARGIN_MS:g})")
    parser.add_argument("--scratch", metavar="DIR",
                        help="copy the window's raw samples to DIR first (one sequential read of a streamed file)")


def add_commands(subparsers) -> None:
    """Add the ``nwb``, ``ibl`` and ``npultra`` commands to ``subparsers``.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        What ``ArgumentParser.add_subparsers`` returned.
    """
    from ..sources.dandi_ibl import DEFAULT_DANDISET, IBL_UNIT_FILTER
    from ..sources.np_ultra import DEFAULT_MIN_SPIKES as ULTRA_MIN_SPIKES
    from ..sources.np_ultra import UNITS_PER_DATASET

    p = subparsers.add_parser("nwb", help="templates of NWB files (local or http(s) URLs) -> one dataset each")
    p.add_argument("path_or_url", metavar="PATH_OR_URL", nargs="+",
                   help="one or more NWB files; several run as parallel sessions on Dask")
    _add_common(p)
    _add_recipe(p, unit_filter=None)
    add_scale_out(p, *SESSIONS_ON_DASK)
    p.add_argument("--name", help="dataset name (default: <file stem>_<series name>; one file only)")
    p.add_argument("--series", help="ElectricalSeries name or path, when the file has several raw ones")
    p.set_defaults(func=_cmd_nwb)

    p = subparsers.add_parser("ibl", help="IBL sessions of a DANDI dandiset -> one dataset per probe (resumable)")
    p.add_argument("--dandiset", default=DEFAULT_DANDISET, help=f"dandiset ID (default: {DEFAULT_DANDISET})")
    p.add_argument("--limit", type=int, help="stop after N sessions that wrote or failed (skipped ones don't count; "
                                             "on Dask at most N run at once)")
    p.add_argument("--api-url", help="DANDI API URL (default: $DANDI_API_URL or the public archive)")
    p.add_argument("--insertions", metavar="JSON",
                   help="file mapping {asset_path: {series_name: probe_insertion_id}} for dataset names")
    _add_common(p)
    _add_recipe(p, unit_filter=IBL_UNIT_FILTER)
    add_scale_out(p, *SESSIONS_ON_DASK)
    p.set_defaults(func=_cmd_ibl)

    p = subparsers.add_parser("npultra", help="Steinmetz & Ye 2022 NP-Ultra templates (figshare 19493588 v2) -> "
                                              f"datasets of {UNITS_PER_DATASET} units")
    p.add_argument("folder", metavar="DIR", help="folder holding the published file set")
    _add_common(p)
    p.add_argument("--units-per-dataset", type=int, default=UNITS_PER_DATASET)
    p.add_argument("--min-spikes", type=int, default=ULTRA_MIN_SPIKES,
                   help=f"drop units with fewer spikes (default: {ULTRA_MIN_SPIKES})")
    p.set_defaults(func=_cmd_npultra)
