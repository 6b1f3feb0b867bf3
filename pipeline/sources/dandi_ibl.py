"""IBL Brain Wide Map on DANDI (dandiset 000409) -> one dataset per probe, resumable.

Each ecephys NWB asset of the dandiset is streamed (never downloaded whole) through the NWB
source (:mod:`pipeline.sources.nwb`) once per raw ``ElectricalSeriesAp..`` it holds, with the
original upload's settings: last 30 minutes, units with ``label == 1`` (IBL's "good" units, all
QC metrics passed), at least 50 spikes. Datasets are named as in the live bucket,
``000409_<asset file stem>_<probe insertion id>``. The probe insertion ID is not in the NWB
files (the original upload asked IBL's Alyx server for it); without an ``insertions`` mapping
the series name stands in (``..._ElectricalSeriesAp00``), so names differ from the live ones but
stay deterministic, which is what resuming needs.

The pieces are separate so a scheduler can run them anywhere:

- :func:`fetch_asset_records` is the only code that talks to the DANDI API (the seam tests
  replace with a recorded response); :func:`select_ecephys` turns its records into
  ``[(asset_path, download_url), ...]``;
- :func:`run_session` processes one asset into the library at a root URL and returns a
  summary dict; it never raises, so it can be mapped over assets by Dask or a process pool;
- :func:`run_dandiset` is the sequential driver behind ``python -m pipeline ibl``.

A dataset already complete in the library is skipped, so an interrupted run resumes where it
stopped and a finished one is a no-op.
"""

from __future__ import annotations

import os
import posixpath
import re
import time
import urllib.parse
import dataclasses
from dataclasses import dataclass, field

import requests

from ..dataset_writer import WriteOptions
from ..storage import LibraryStorage
from .errors import SourceError
from .nwb import DEFAULT_MIN_SPIKES, DEFAULT_MINUTES, file_stem, nwb_to_dataset
from .nwb_file import electrical_series_paths, open_nwb, raw_series
from .recipe import DEFAULT_HIGHPASS_MARGIN_MS
from .summary import FAILED, SKIPPED, WRITTEN, DatasetEntry, failed_summary, session_summary

DEFAULT_DANDISET = "000409"
DEFAULT_API_URL = "https://api.dandiarchive.org/api"
#: IBL's "good" units: every QC metric passed (the original upload's ``good_clusters_only``).
IBL_UNIT_FILTER = "label == 1"
#: Seconds to wait for the DANDI API before declaring it unreachable.
CONNECT_TIMEOUT_S = 5.0
#: Connect and read timeouts of every later DANDI request; the dandi client retries on top.
REQUEST_TIMEOUT_S = (5.0, 60.0)


# --------------------------------------------------------------------------- listing (the seam)


def dandi_api_url(api_url: str | None = None) -> str:
    """The API to talk to: ``api_url``, else ``$DANDI_API_URL``, else the public archive."""
    return (api_url or os.environ.get("DANDI_API_URL") or DEFAULT_API_URL).rstrip("/")


def check_reachable(api_url: str, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """One bounded request to ``<api>/info/``, so an offline run fails in seconds, not minutes.

    The dandi client retries a refused connection 12 times with growing waits (about a minute)
    and its first request has no timeout at all; this check runs before it.
    """
    try:
        response = requests.get(f"{api_url}/info/", timeout=timeout)
        response.raise_for_status()
    except requests.RequestException as error:
        raise SourceError(f"cannot reach DANDI at {api_url}: {_short_reason(error)}") from error


def _short_reason(error) -> str:
    """The useful end of a requests error ("[Errno 111] Connection refused", "timed out")."""
    text = str(error)
    errno = re.search(r"\[Errno -?\d+\] [^'\")]+", text)
    if errno:
        return errno.group(0).strip()
    if isinstance(error, requests.Timeout):
        return f"no answer within the timeout ({type(error).__name__})"
    return (text.strip() or type(error).__name__)[:300]


def _bounded_session(timeout):
    class TimeoutSession(requests.Session):
        """A session whose requests time out unless told otherwise."""

        def request(self, *args, **kwargs):
            kwargs.setdefault("timeout", timeout)
            return super().request(*args, **kwargs)

    return TimeoutSession()


def fetch_asset_records(dandiset_id: str = DEFAULT_DANDISET, api_url: str | None = None,
                        timeout: float = CONNECT_TIMEOUT_S) -> list[dict]:
    """Every asset of the dandiset's most recent version as ``{"asset_id", "path", "size"}``.

    This is the only function that talks to DANDI; tests substitute its recorded output
    (``tests/data/dandi_000409/assets_page.json``).
    """
    url = dandi_api_url(api_url)
    check_reachable(url, timeout)
    # The dandi client otherwise asks a telemetry server for newer versions on every start.
    os.environ.setdefault("DANDI_NO_ET", "1")
    from dandi.dandiapi import DandiAPIClient

    try:
        with DandiAPIClient(api_url=url) as client:
            session = _bounded_session(REQUEST_TIMEOUT_S)
            session.headers.update(client.session.headers)
            client.session = session
            assets = client.get_dandiset(dandiset_id).get_assets()
            return [{"asset_id": a.identifier, "path": a.path, "size": a.size} for a in assets]
    except Exception as error:
        raise SourceError(f"cannot list dandiset {dandiset_id} at {url}: {type(error).__name__}: {error}") from error


def is_ecephys_nwb(path: str) -> bool:
    """The assets the original upload used: NWB files with ``ecephys`` in their name."""
    return path.endswith(".nwb") and "ecephys" in posixpath.basename(path)


def select_ecephys(records: list[dict], api_url: str | None = None) -> list[tuple[str, str]]:
    """``[(asset_path, download_url), ...]`` of the ecephys NWB assets, sorted by path.

    The download URL is the API's ``/assets/<id>/download/``, which redirects to the file on S3;
    :func:`run_session` follows that redirect once before streaming.
    """
    base = dandi_api_url(api_url)
    chosen = [(r["path"], f"{base}/assets/{r['asset_id']}/download/") for r in records if is_ecephys_nwb(r["path"])]
    return sorted(chosen)


def list_ecephys_assets(dandiset_id: str = DEFAULT_DANDISET, api_url: str | None = None,
                        timeout: float = CONNECT_TIMEOUT_S) -> list[tuple[str, str]]:
    """The ecephys NWB assets of a dandiset, from the live DANDI API."""
    return select_ecephys(fetch_asset_records(dandiset_id, api_url, timeout), api_url)


# --------------------------------------------------------------------------- one session


@dataclass
class IblOptions:
    """Settings of :func:`run_session`; picklable, so it can travel to a Dask worker.

    Attributes
    ----------
    dandiset_id : str
        First part of every dataset name.
    minutes, min_spikes, unit_filter
        As in :class:`~pipeline.sources.nwb.NwbOptions`, with the original upload's defaults.
    insertions : dict
        ``{asset_path: {series_name: probe_insertion_id}}``; series not listed are named by the
        series name.
    storage_options : dict
        fsspec options of the library root.
    overwrite : bool
        Recompute datasets that are already complete.
    resolve_redirects : bool
        Follow the download URL's redirect once (to S3) instead of on every range request.
    progress : bool
        Show the NWB source's progress bars (off by default: sessions may run in parallel).
    nwb : dict
        Any other :class:`~pipeline.sources.nwb.NwbOptions` field (``n_jobs``,
        ``scratch_folder``, ``probe_model``...).
    """

    dandiset_id: str = DEFAULT_DANDISET
    minutes: float = DEFAULT_MINUTES
    min_spikes: int = DEFAULT_MIN_SPIKES
    unit_filter: str | None = IBL_UNIT_FILTER
    insertions: dict = field(default_factory=dict)
    storage_options: dict = field(default_factory=dict)
    overwrite: bool = False
    resolve_redirects: bool = True
    progress: bool = False
    nwb: dict = field(default_factory=lambda: {"highpass_margin_ms": DEFAULT_HIGHPASS_MARGIN_MS})


def ibl_dataset_name(dandiset_id: str, asset_path: str, series_path: str, insertions: dict | None = None) -> str:
    """``<dandiset>_<asset file stem>_<probe insertion id or series name>``, as the live bucket."""
    series = posixpath.basename(series_path)
    insertion = (insertions or {}).get(asset_path, {}).get(series, series)
    return f"{dandiset_id}_{file_stem(asset_path)}_{insertion}"


def resolve_content_url(url: str, timeout: float = CONNECT_TIMEOUT_S) -> str:
    """Where ``url`` redirects to, without the query string (as the original upload did).

    DANDI's download URL answers with a redirect to the public S3 object; following it once
    spares every later range request a round trip to the API.
    """
    try:
        response = requests.head(url, allow_redirects=True, timeout=timeout)
        response.raise_for_status()
    except requests.RequestException as error:
        raise SourceError(f"cannot reach {url}: {_short_reason(error)}") from error
    if not response.history:
        return url
    final = urllib.parse.urlsplit(response.url)
    return urllib.parse.urlunsplit(final._replace(query="", fragment=""))


def ibl_provenance(dandiset_id: str, asset_path: str) -> dict:
    """The ``provenance`` root attribute of a dataset from a DANDI asset (see pipeline/provenance.py)."""
    session = re.search(r"_ses-([0-9a-fA-F-]{36})", posixpath.basename(asset_path))
    return {"source": "ibl", "dandiset": dandiset_id, "asset_path": asset_path,
            "session": session.group(1) if session else None}


def process_series(url: str, storage: LibraryStorage, series: str, name: str, options,
                   provenance: dict | None = None) -> dict:
    """One probe of one asset -> a dataset entry of the session summary.

    ``options`` is an :class:`IblOptions` or anything with its ``minutes``, ``min_spikes``,
    ``unit_filter``, ``progress``, ``overwrite`` and ``nwb`` fields (:mod:`pipeline.scale_out`
    runs plain NWB files through it, so both report and skip alike).
    """
    if storage.is_complete(name) and not options.overwrite:
        return DatasetEntry(name, series, SKIPPED, "already complete in the library").to_dict()
    nwb = dict(options.nwb)
    if provenance is not None:  # recorded as the root attribute "provenance"
        base = nwb.get("write_options") or WriteOptions()
        nwb["write_options"] = dataclasses.replace(base, extra_attrs={**base.extra_attrs, "provenance": provenance})
    try:
        result = nwb_to_dataset(
            url, storage, minutes=options.minutes, min_spikes=options.min_spikes, unit_filter=options.unit_filter,
            dataset_name=name, progress=options.progress, electrical_series=series, overwrite=options.overwrite,
            **nwb,
        )
    except SourceError as error:
        return DatasetEntry(name, series, FAILED, str(error)).to_dict()
    entry = DatasetEntry(name, series, WRITTEN, units=result.units_written, elapsed_s=round(result.elapsed_s, 3))
    return entry.to_dict()


def run_session(asset, root_url: str, options: IblOptions | dict | None = None) -> dict:
    """Process one asset (every raw ``ElectricalSeries`` in it) into the library at ``root_url``.

    Parameters
    ----------
    asset : tuple of (str, str)
        ``(asset_path, download_url)`` as :func:`select_ecephys` lists them.
    root_url : str
        Library root (local path or fsspec URL).
    options : IblOptions or dict, optional
        A dict is turned into :class:`IblOptions` (handy across process boundaries).

    Returns
    -------
    dict
        A :class:`~pipeline.sources.summary.SessionSummary` as a dict: ``asset``, ``status``
        (``written``, ``skipped`` or ``failed``), ``reason`` (empty unless failed), ``datasets``
        (one entry per probe with its own status) and ``elapsed_s``. Never raises: a scheduler
        maps it over assets and reads the summaries.
    """
    options = IblOptions(**options) if isinstance(options, dict) else options or IblOptions()
    asset_path, download_url = asset
    started = time.perf_counter()
    try:
        storage = LibraryStorage(root_url, options.storage_options or None)
        url = resolve_content_url(download_url) if options.resolve_redirects else download_url
        with open_nwb(url) as handle:
            series_paths = raw_series(electrical_series_paths(handle))
        if not series_paths:
            return failed_summary(asset_path, "no ElectricalSeries in the file", started)
        entries = []
        for series in series_paths:
            name = ibl_dataset_name(options.dandiset_id, asset_path, series, options.insertions)
            entries.append(process_series(url, storage, series, name, options,
                                          ibl_provenance(options.dandiset_id, asset_path)))
    except SourceError as error:
        return failed_summary(asset_path, str(error), started)
    except Exception as error:  # a scheduler needs a summary, not a traceback, for every asset
        return failed_summary(asset_path, f"{type(error).__name__}: {error}", started)
    return session_summary(asset_path, entries, started)


# --------------------------------------------------------------------------- the whole dandiset


def run_dandiset(assets: list[tuple[str, str]], root_url: str, options: IblOptions | None = None,
                 limit: int | None = None, report=None) -> list[dict]:
    """Run :func:`run_session` over ``assets`` in order, sequentially.

    Parameters
    ----------
    assets : list of (str, str)
        From :func:`list_ecephys_assets` or a recorded listing.
    root_url : str
        Library root.
    options : IblOptions, optional
        Settings of every session.
    limit : int, optional
        Stop after this many sessions that did work (written or failed); skipped ones do not
        count, so repeating a limited run keeps making progress.
    report : callable, optional
        Called with each session summary as it finishes (the CLI prints it).

    Returns
    -------
    list of dict
        The session summaries.
    """
    options = options or IblOptions()
    summaries, worked = [], 0
    for asset in assets:
        if limit is not None and worked >= limit:
            break
        summary = run_session(asset, root_url, options)
        summaries.append(summary)
        worked += summary["status"] != "skipped"
        if report is not None:
            report(summary)
    return summaries
