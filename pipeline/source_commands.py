"""The real sources on the command line: ``nwb``, ``ibl`` and ``npultra``.

:func:`add_commands` adds them to ``python -m pipeline``'s subparsers. Each command writes its
datasets, then rewrites the catalogue (``templates.csv``, ``library.json``) of the root, prints
a summary and returns 0; a refused input prints ``error: <message>`` on stderr and returns 1
with nothing written.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from templatelib import format as fmt

from .storage import LibraryStorage


def _error(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 1


def _consolidate(storage: LibraryStorage, bucket: str) -> str:
    from .catalogue import consolidate

    manifest = consolidate(storage, bucket=bucket)
    return (f"{fmt.CATALOGUE_FILE}: {manifest['template_count']} templates from "
            f"{len(manifest['datasets'])} datasets in {storage.url()}")


def _write_options(args):
    from .dataset_writer import WriteOptions

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


# --------------------------------------------------------------------------- nwb


def _cmd_nwb(args) -> int:
    from .sources.nwb import SourceError, nwb_to_dataset

    storage = LibraryStorage(args.root)
    try:
        result = nwb_to_dataset(
            args.path_or_url, storage, minutes=args.minutes, min_spikes=args.min_spikes,
            unit_filter=args.unit_filter, dataset_name=args.name, progress=not args.quiet,
            electrical_series=args.series, overwrite=args.overwrite, **_nwb_options(args),
        )
    except SourceError as error:
        return _error(str(error))
    print(result.summary())
    print(_consolidate(storage, args.bucket))
    return 0


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
    from .sources.dandi_ibl import IblOptions, list_ecephys_assets, run_dandiset
    from .sources.nwb import SourceError

    try:
        insertions = _load_insertions(args.insertions)
        assets = list_ecephys_assets(args.dandiset, api_url=args.api_url)
    except (SourceError, ValueError) as error:
        return _error(str(error))
    print(f"dandiset {args.dandiset}: {len(assets)} ecephys NWB assets")
    nwb = _nwb_options(args)
    options = IblOptions(
        dandiset_id=args.dandiset, minutes=args.minutes, min_spikes=args.min_spikes, unit_filter=args.unit_filter,
        insertions=insertions, overwrite=args.overwrite, progress=not args.quiet, nwb=nwb,
    )
    summaries = run_dandiset(assets, args.root, options, limit=args.limit, report=_print_session)
    counts = {s: sum(x["status"] == s for x in summaries) for s in ("written", "skipped", "failed")}
    print(f"sessions: {counts['written']} written, {counts['skipped']} skipped, {counts['failed']} failed")
    storage = LibraryStorage(args.root)
    if storage.root_exists():
        print(_consolidate(storage, args.bucket))
    return 1 if counts["failed"] else 0


# --------------------------------------------------------------------------- npultra


def _cmd_npultra(args) -> int:
    from .sources.np_ultra import write_np_ultra
    from .sources.nwb import SourceError

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
    parser.add_argument("--compressor", choices=("blosc", "zlib"), default="blosc",
                        help="blosc (lz4, like the live bucket) or zlib (readable by the offline browser bundle)")
    parser.add_argument("--bucket", default=fmt.PUBLIC_BUCKET, help="bucket named in the dataset_path column")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def _add_recipe(parser: argparse.ArgumentParser, unit_filter: str | None) -> None:
    from .sources.nwb import DEFAULT_HIGHPASS_MARGIN_MS, DEFAULT_MIN_SPIKES, DEFAULT_MINUTES

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
    parser.add_argument("--chunk-duration", default="1s", help="chunk length of those steps (default: 1s)")
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
    from .sources.dandi_ibl import DEFAULT_DANDISET, IBL_UNIT_FILTER
    from .sources.np_ultra import DEFAULT_MIN_SPIKES as ULTRA_MIN_SPIKES
    from .sources.np_ultra import UNITS_PER_DATASET

    p = subparsers.add_parser("nwb", help="templates of one NWB file (local or http(s) URL) -> one dataset")
    p.add_argument("path_or_url", metavar="PATH_OR_URL")
    _add_common(p)
    _add_recipe(p, unit_filter=None)
    p.add_argument("--name", help="dataset name (default: <file stem>_<series name>)")
    p.add_argument("--series", help="ElectricalSeries name or path, when the file has several raw ones")
    p.set_defaults(func=_cmd_nwb)

    p = subparsers.add_parser("ibl", help="IBL sessions of a DANDI dandiset -> one dataset per probe (resumable)")
    p.add_argument("--dandiset", default=DEFAULT_DANDISET, help=f"dandiset ID (default: {DEFAULT_DANDISET})")
    p.add_argument("--limit", type=int, help="stop after N sessions that wrote or failed (skipped ones don't count)")
    p.add_argument("--api-url", help="DANDI API URL (default: $DANDI_API_URL or the public archive)")
    p.add_argument("--insertions", metavar="JSON",
                   help="file mapping {asset_path: {series_name: probe_insertion_id}} for dataset names")
    _add_common(p)
    _add_recipe(p, unit_filter=IBL_UNIT_FILTER)
    p.set_defaults(func=_cmd_ibl)

    p = subparsers.add_parser("npultra", help="Steinmetz & Ye 2022 NP-Ultra templates (figshare 19493588 v2) -> "
                                              f"datasets of {UNITS_PER_DATASET} units")
    p.add_argument("folder", metavar="DIR", help="folder holding the published file set")
    _add_common(p)
    p.add_argument("--units-per-dataset", type=int, default=UNITS_PER_DATASET)
    p.add_argument("--min-spikes", type=int, default=ULTRA_MIN_SPIKES,
                   help=f"drop units with fewer spikes (default: {ULTRA_MIN_SPIKES})")
    p.set_defaults(func=_cmd_npultra)
