"""What every ``python -m pipeline`` command shares: exit codes, error lines, common options.

Exit codes
----------
``EXIT_OK`` (0)
    Done (or, without ``--apply``, the dry run was printed).
``EXIT_FAILED`` (1)
    A refused input, a failed session, a validation problem: the message says which.
``EXIT_BAD_ROOT`` (2)
    ROOT cannot be used as given: it does not exist (``consolidate`` and the maintenance
    commands need an existing library), or ``synthetic`` would overwrite a non-empty one.
    2 is also argparse's code for a command line it cannot parse.
"""

from __future__ import annotations

import argparse
import sys

from templatelib import format as fmt

from ..storage import LibraryStorage

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_ROOT = 2


def error(message, code: int = EXIT_FAILED) -> int:
    """Print ``error: <message>`` on stderr as one line and return ``code``.

    Characters that are not printable (file names and HDF5 texts are the input's words) are
    escaped, so a message never spans lines.
    """
    line = "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in str(message))
    print(f"error: {line}", file=sys.stderr)
    return code


def missing_root(root: str) -> int:
    """The error for a ROOT that does not exist."""
    return error(f"{root} does not exist", EXIT_BAD_ROOT)


def existing_root(root: str) -> LibraryStorage | None:
    """The storage at ``root`` when it exists, else None (report it with :func:`missing_root`)."""
    storage = LibraryStorage(root)
    return storage if storage.root_exists() else None


def add_bucket(parser: argparse.ArgumentParser) -> None:
    """``--bucket``: the bucket the catalogue's ``dataset_path`` column names."""
    parser.add_argument("--bucket", default=fmt.PUBLIC_BUCKET, help="bucket named in the dataset_path column")


def add_compressor(parser: argparse.ArgumentParser) -> None:
    """``--compressor``, one of the writer's :data:`~pipeline.dataset_writer.COMPRESSORS`."""
    from ..dataset_writer import COMPRESSORS

    parser.add_argument("--compressor", choices=COMPRESSORS, default="blosc",
                        help="blosc (lz4, like the live bucket) or zlib (readable by the offline browser bundle)")


def add_scale_out(parser: argparse.ArgumentParser, runs: str, reads: str, default: str) -> None:
    """``--scheduler URL`` and ``--workers N``: where a command's work runs on Dask.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The command's parser.
    runs : str
        What the command does there, e.g. ``"run the sessions"``.
    reads : str
        What the cluster's workers must read, e.g. ``"ROOT"``.
    default : str
        Where the work runs without either option (the end of ``--workers``'s help).
    """
    parser.add_argument("--scheduler", metavar="URL",
                        help=f"{runs} on the existing Dask cluster at tcp://HOST:PORT (its workers must read "
                             f"{reads} and import this package)")
    parser.add_argument("--workers", type=int, metavar="N",
                        help=f"{runs} on a local Dask cluster of N single-threaded worker processes on 127.0.0.1 "
                             f"({default})")


def scaled_out(args) -> bool:
    """Whether the work goes to Dask: a scheduler or a worker count is given."""
    return args.scheduler is not None or args.workers is not None


def check_scale_out(args) -> str | None:
    """What is wrong with ``--scheduler``/``--workers`` (:func:`add_scale_out`), or None."""
    from ..scale_out import SchedulerError, check_scheduler_address

    if args.scheduler is not None and args.workers is not None:
        return "--workers sizes the local cluster; it cannot be combined with --scheduler"
    if args.workers is not None and args.workers < 1:
        return f"--workers must be at least 1, got {args.workers}"
    if args.scheduler is not None:
        try:
            check_scheduler_address(args.scheduler)
        except SchedulerError as error:
            return str(error)
    return None
