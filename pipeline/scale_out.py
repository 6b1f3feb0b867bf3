"""Scale-out: many sessions at once on Dask distributed.

A *session* is one input file (a plain NWB file, or one DANDI asset) processed into the
library by a function that never raises and returns a summary dict
(:func:`run_nwb_session` here, :func:`pipeline.sources.dandi_ibl.run_session` for IBL;
the structure is :class:`pipeline.sources.summary.SessionSummary`)::

    {"asset": ..., "status": "written" | "skipped" | "failed", "reason": ..., "elapsed_s": ...,
     "datasets": [{"dataset", "series", "status", "reason", "units", ...}, ...]}

:func:`run_on_dask` maps such a function over the inputs on a Dask cluster: an existing one
(``scheduler="tcp://HOST:PORT"``), or a ``LocalCluster`` it starts with one single-threaded
process per worker, every socket bound to 127.0.0.1 and no dashboard. A session that fails,
or a task that dies with its worker, becomes a ``failed`` summary with the reason; the other
sessions go on. :func:`format_summary` turns the summaries into the final report (datasets
written, skipped and failed, with reasons).

Workers write datasets; the catalogue is consolidated once by the caller, afterwards, because
``templates.csv`` and ``library.json`` describe the whole root and concurrent rewrites of them
would race.
"""

from __future__ import annotations

import re
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

from .sources.dandi_ibl import process_series
from .sources.errors import SourceError
from .sources.nwb import (
    DEFAULT_HIGHPASS_MARGIN_MS,
    DEFAULT_MIN_SPIKES,
    DEFAULT_MINUTES,
    choose_series,
    default_dataset_name,
    electrical_series_paths,
    file_stem,
    open_nwb,
)
from .sources.summary import STATUSES, failed_summary, session_summary
from .storage import LibraryStorage

#: Seconds to wait for an existing scheduler (and for it to have a worker) before giving up.
CONNECT_TIMEOUT_S = 10.0
_ADDRESS = re.compile(r"^[a-z][a-z0-9+]*://\S+:\d+$")


class SchedulerError(Exception):
    """The Dask scheduler cannot be used (bad address, unreachable, no workers)."""


# --------------------------------------------------------------------------- one plain NWB file


@dataclass
class NwbSessionOptions:
    """Settings of :func:`run_nwb_session`; picklable, so it can travel to a Dask worker.

    The field names match :class:`~pipeline.sources.dandi_ibl.IblOptions` so that both
    go through the same per-dataset step
    (:func:`~pipeline.sources.dandi_ibl.process_series`).

    Attributes
    ----------
    minutes, min_spikes, unit_filter
        As in :class:`~pipeline.sources.nwb.NwbOptions` (no unit filter by default).
    dataset_name : str, optional
        Name of the dataset; default ``<file stem>_<series name>``. Only meaningful for a
        single file: several files under one name would overwrite each other.
    electrical_series : str, optional
        Series to read when the file has several raw ones (as ``nwb --series``).
    storage_options : dict
        fsspec options of the library root.
    overwrite : bool
        Recompute a dataset that is already complete instead of skipping it.
    progress : bool
        Progress bars (off by default: parallel sessions would interleave them).
    nwb : dict
        Any other :class:`~pipeline.sources.nwb.NwbOptions` field (``n_jobs``,
        ``scratch_folder``, ``probe_model``, ``write_options``...).
    """

    minutes: float = DEFAULT_MINUTES
    min_spikes: int = DEFAULT_MIN_SPIKES
    unit_filter: str | None = None
    dataset_name: str | None = None
    electrical_series: str | None = None
    storage_options: dict = field(default_factory=dict)
    overwrite: bool = False
    progress: bool = False
    nwb: dict = field(default_factory=lambda: {"highpass_margin_ms": DEFAULT_HIGHPASS_MARGIN_MS})


def run_nwb_session(path_or_url, root_url: str, options: NwbSessionOptions | dict | None = None) -> dict:
    """Process one NWB file (local path or ``http(s)://`` URL) into the library at ``root_url``.

    The series is chosen as by ``python -m pipeline nwb``: ``options.electrical_series``, else
    the only raw one (a file with several is reported as failed, asking for ``--series``).

    Parameters
    ----------
    path_or_url : str or Path
        The NWB file; it must be readable from wherever the session runs (a Dask worker).
    root_url : str
        Library root (local path or fsspec URL).
    options : NwbSessionOptions or dict, optional
        A dict is turned into :class:`NwbSessionOptions`.

    Returns
    -------
    dict
        The session summary (same shape as :func:`pipeline.sources.dandi_ibl.run_session`):
        ``asset``, ``status``, ``reason``, ``datasets``, ``elapsed_s``. A dataset already
        complete is ``skipped`` unless ``options.overwrite``. Never raises.
    """
    options = NwbSessionOptions(**options) if isinstance(options, dict) else options or NwbSessionOptions()
    source = str(path_or_url)
    started = time.perf_counter()
    try:
        storage = LibraryStorage(root_url, options.storage_options or None)
        # Only the metadata is read here: the dataset name depends on the series, and a
        # complete dataset must be skipped before any heavy read.
        with open_nwb(source) as handle:
            series = choose_series(electrical_series_paths(handle), options.electrical_series, source)
        name = options.dataset_name or default_dataset_name(source, series)
        entries = [process_series(source, storage, series, name, options)]
    except SourceError as error:
        return failed_summary(source, str(error), started)
    except Exception as error:  # a scheduler needs a summary, not a traceback, for every file
        return failed_summary(source, f"{type(error).__name__}: {error}", started)
    return session_summary(source, entries, started)


def clashing_stems(paths) -> list[str]:
    """File stems shared by several inputs.

    Default dataset names are ``<file stem>_<series name>``: two inputs with the same stem
    (or one listed twice) would write the same dataset from two workers at once.
    """
    counts = Counter(file_stem(p) for p in paths)
    return sorted(stem for stem, count in counts.items() if count > 1)


# --------------------------------------------------------------------------- the Dask driver


def check_scheduler_address(address: str) -> str:
    """``address`` if it looks like ``tcp://HOST:PORT``; SchedulerError otherwise."""
    if not _ADDRESS.match(address or ""):
        raise SchedulerError(f"scheduler address {address!r} is not of the form tcp://HOST:PORT")
    return address


def _label(item) -> str:
    """What a summary calls an input: the asset path of ``(path, url)``, else the input itself."""
    return str(item[0]) if isinstance(item, (tuple, list)) else str(item)


def _connect(scheduler: str | None, workers: int, threads_per_worker: int, timeout: float):
    """A client and the cluster this run started (None when it joined an existing one)."""
    from distributed import Client, LocalCluster

    if scheduler:
        check_scheduler_address(scheduler)
        try:
            client = Client(scheduler, timeout=timeout, set_as_default=False)
        except (OSError, TimeoutError) as error:
            raise SchedulerError(f"cannot reach the Dask scheduler at {scheduler}: {error}") from error
        try:
            # A scheduler without workers would hold the tasks forever.
            client.wait_for_workers(1, timeout=timeout)
        except (OSError, TimeoutError) as error:
            client.close()
            raise SchedulerError(f"the Dask scheduler at {scheduler} has no worker after {timeout:g} s") from error
        return client, None
    if workers < 1:
        raise SchedulerError(f"workers must be at least 1, got {workers}")
    # host= binds the scheduler, the nannies and the workers to loopback: nothing is reachable
    # from the network. dashboard_address=None leaves the Bokeh dashboard off; the scheduler
    # still serves its small HTTP endpoint (/health, /metrics), moved from the fixed port 8787
    # to a free loopback port so parallel runs do not collide. Processes, not threads: the
    # NWB recipe holds the GIL in numpy/h5py code and each session wants its own interpreter.
    cluster = LocalCluster(
        n_workers=workers, threads_per_worker=threads_per_worker, processes=True, host="127.0.0.1",
        dashboard_address=None, scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
    )
    try:
        client = Client(cluster, set_as_default=False)
    except BaseException:
        cluster.close()
        raise
    return client, cluster


def run_on_dask(func, items, *, args=(), scheduler: str | None = None, workers: int = 2,
                threads_per_worker: int = 1, report=None, limit: int | None = None, label=_label,
                connect_timeout: float = CONNECT_TIMEOUT_S) -> list[dict]:
    """Run ``func(item, *args)`` for every item on a Dask cluster; one task per item.

    Parameters
    ----------
    func : callable
        A session function returning a summary dict (:func:`run_nwb_session`,
        :func:`pipeline.sources.dandi_ibl.run_session`); it must be importable on the workers.
    items : iterable
        The inputs, e.g. NWB paths or ``(asset_path, download_url)`` pairs.
    args : tuple
        Further arguments of every call (root URL, options), sent with every task.
    scheduler : str, optional
        ``tcp://HOST:PORT`` of an existing scheduler. Its workers must be able to import this
        package and to read the inputs and the library root. Without it, a ``LocalCluster``
        is started on 127.0.0.1 for the run and closed afterwards.
    workers, threads_per_worker : int
        Size of that local cluster (ignored with ``scheduler``).
    report : callable, optional
        Called with each summary as its session finishes (completion order).
    limit : int, optional
        As ``ibl --limit``: stop after this many sessions that wrote or failed. At most
        ``limit`` sessions run at once; one that finds its datasets complete (``skipped``) is
        replaced by the next input, so the outcome matches the sequential run's.
    label : callable
        Name of an item in a summary made here (a task that raised).
    connect_timeout : float
        Seconds to wait for an existing scheduler and one of its workers.

    Returns
    -------
    list of dict
        The summaries of the sessions that ran, in input order. A task that raised (the
        function itself, or its worker dying) is a ``failed`` summary with the exception as
        the reason; it never stops the others.

    Raises
    ------
    SchedulerError
        When the scheduler is unreachable or has no worker (nothing ran).
    """
    import dask
    from distributed import as_completed

    items = list(items)
    run_id = uuid.uuid4().hex[:8]
    name = getattr(func, "__name__", "session")
    results: dict[int, dict] = {}
    # Worker processes are daemonic by default, and daemonic processes may not start children:
    # the NWB recipe's --n-jobs > 1 (a process pool) would fail inside a worker.
    with dask.config.set({"distributed.worker.daemon": False}):
        client, cluster = _connect(scheduler, workers, threads_per_worker, connect_timeout)
        pending = list(enumerate(items))
        running = {}

        def submit():
            index, item = pending.pop(0)
            # pure=False: the same input must run again on a rerun (its datasets may be gone);
            # the key carries the run ID so that runs sharing a scheduler never collide.
            future = client.submit(func, item, *args, pure=False, key=f"{name}-{run_id}-{index}")
            running[future] = (index, item, time.perf_counter())
            return future

        try:
            first = len(pending) if limit is None else min(limit, len(pending))
            # loop=: the client is not the default one, which as_completed would look for.
            queue = as_completed([submit() for _ in range(first)], loop=client.loop)
            for future in queue:
                index, item, started = running.pop(future)
                try:
                    summary = future.result()
                except Exception as error:  # the task raised or its worker died (KilledWorker)
                    summary = failed_summary(label(item), f"{type(error).__name__}: {error}", started)
                finally:
                    future.release()
                results[index] = summary
                if report is not None:
                    report(summary)
                if limit is not None and summary.get("status") == "skipped" and pending:
                    queue.add(submit())  # a skipped session does not count towards the limit
        except BaseException:
            # Interrupted (Ctrl-C): do not leave tasks running on a shared cluster.
            client.cancel(list(running))
            raise
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    return [results[i] for i in sorted(results)]


# --------------------------------------------------------------------------- the final report


def count_sessions(summaries: list[dict]) -> dict:
    """``{"written": n, "skipped": n, "failed": n}`` over the session statuses."""
    return {s: sum(x.get("status") == s for x in summaries) for s in STATUSES}


def dataset_outcomes(summaries: list[dict]) -> dict:
    """Datasets by status: ``{"written": [(name, detail)], "skipped": [...], "failed": [...]}``.

    A session that failed before naming a dataset (unreadable file, worker died) is listed
    under ``failed`` by its input, with the session's reason.
    """
    outcomes = {s: [] for s in STATUSES}
    for summary in summaries:
        entries = summary.get("datasets") or []
        for entry in entries:
            if entry["status"] == "written":
                detail = f"{entry.get('units', 0)} templates"
            else:
                detail = entry.get("reason", "")
            outcomes[entry["status"]].append((entry["dataset"], detail))
        if summary.get("status") == "failed" and not entries:
            asset = str(summary.get("asset", "?"))
            # The NWB source's refusals start with the file name already.
            reason = str(summary.get("reason", "")).removeprefix(f"{asset}: ")
            outcomes["failed"].append((asset, reason))
    return outcomes


def format_summary(summaries: list[dict]) -> str:
    """The final report: session counts, then every dataset written, skipped and failed.

    The first line is ``sessions: N written, N skipped, N failed``; each failed dataset (or
    input) carries its reason.
    """
    counts = count_sessions(summaries)
    lines = [f"sessions: {counts['written']} written, {counts['skipped']} skipped, {counts['failed']} failed"]
    for status, entries in dataset_outcomes(summaries).items():
        lines.append(f"{status} datasets ({len(entries)}){':' if entries else ''}")
        lines.extend(f"  {name}: {detail}" if detail else f"  {name}" for name, detail in entries)
    return "\n".join(lines)
