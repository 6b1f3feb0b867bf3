"""What a source run reports: one NWB file's result, and the summary of a session.

A *session* (one input file: a plain NWB file or a DANDI asset) ends in a
:class:`SessionSummary` holding one :class:`DatasetEntry` per dataset it wrote, skipped or
failed. Session functions (:func:`pipeline.sources.dandi_ibl.run_session`,
:func:`pipeline.scale_out.run_nwb_session`) return it as a plain dict
(:meth:`SessionSummary.to_dict`): that is what travels back from Dask workers and what the
report code reads, so it needs nothing from this package to unpickle::

    {"asset": ..., "status": "written" | "skipped" | "failed", "reason": ..., "elapsed_s": ...,
     "datasets": [{"dataset", "series", "status", "reason"[, "units", "elapsed_s"]}, ...]}
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

WRITTEN, SKIPPED, FAILED = "written", "skipped", "failed"
STATUSES = (WRITTEN, SKIPPED, FAILED)


@dataclass
class NwbResult:
    """What :func:`~pipeline.sources.nwb.nwb_to_dataset` wrote.

    Attributes
    ----------
    dataset : str
        The dataset key (``<name>.zarr``).
    electrical_series : str
        Path of the ``ElectricalSeries`` inside the file.
    units_in_table, units_passing_filter, units_written : int
        The unit counts at each stage.
    spikes_per_unit : list of int
        Spikes averaged into each written template.
    sampling_frequency : float
        Rate of the recording.
    window_minutes : float
        Length of the window the templates come from.
    elapsed_s : float
        Wall time of the whole call.
    """

    dataset: str
    electrical_series: str
    units_in_table: int
    units_passing_filter: int
    units_written: int
    spikes_per_unit: list = field(default_factory=list)
    sampling_frequency: float = 0.0
    window_minutes: float = 0.0
    elapsed_s: float = 0.0

    def summary(self) -> str:
        """One line for the CLI."""
        return (
            f"{self.dataset}: {self.units_written} templates ({self.units_passing_filter} of "
            f"{self.units_in_table} units passed the filter) from {self.electrical_series}, "
            f"last {self.window_minutes:g} min at {self.sampling_frequency:g} Hz, {self.elapsed_s:.1f} s"
        )


@dataclass
class DatasetEntry:
    """One dataset of a session: ``written`` (with its unit count and time), ``skipped`` or ``failed``."""

    dataset: str
    series: str
    status: str
    reason: str = ""
    units: int | None = None
    elapsed_s: float | None = None

    def to_dict(self) -> dict:
        entry = {"dataset": self.dataset, "series": self.series, "status": self.status, "reason": self.reason}
        if self.status == WRITTEN:
            entry.update(units=self.units, elapsed_s=self.elapsed_s)
        return entry

    @classmethod
    def from_dict(cls, entry: dict) -> DatasetEntry:
        return cls(entry["dataset"], entry.get("series", ""), entry["status"], entry.get("reason", ""),
                   entry.get("units"), entry.get("elapsed_s"))


@dataclass
class SessionSummary:
    """The outcome of one session (see the module docstring for its dict form)."""

    asset: str
    status: str
    reason: str = ""
    datasets: list[DatasetEntry] = field(default_factory=list)
    elapsed_s: float = 0.0

    @classmethod
    def failed(cls, asset: str, reason: str, started: float, datasets=None) -> SessionSummary:
        """A session that failed as a whole (``started`` is a ``time.perf_counter()`` value)."""
        entries = [e if isinstance(e, DatasetEntry) else DatasetEntry.from_dict(e) for e in datasets or []]
        return cls(str(asset), FAILED, reason, entries, _since(started))

    @classmethod
    def of_entries(cls, asset: str, entries, started: float) -> SessionSummary:
        """A session that got as far as its datasets: ``failed`` if one failed, else ``written``
        if one was written, else ``skipped``; the reason lists the failed datasets."""
        entries = [e if isinstance(e, DatasetEntry) else DatasetEntry.from_dict(e) for e in entries]
        statuses = {e.status for e in entries}
        status = FAILED if FAILED in statuses else WRITTEN if WRITTEN in statuses else SKIPPED
        reason = "; ".join(f"{e.dataset}: {e.reason}" for e in entries if e.status == FAILED)
        return cls(str(asset), status, reason, entries, _since(started))

    def to_dict(self) -> dict:
        return {"asset": self.asset, "status": self.status, "reason": self.reason,
                "datasets": [e.to_dict() for e in self.datasets], "elapsed_s": self.elapsed_s}


def _since(started: float) -> float:
    return round(time.perf_counter() - started, 3)


def failed_summary(asset_path: str, reason: str, started: float, datasets=None) -> dict:
    """The dict of a session of status ``failed`` (:meth:`SessionSummary.failed`)."""
    return SessionSummary.failed(asset_path, reason, started, datasets).to_dict()


def session_summary(asset_path: str, entries: list[dict], started: float) -> dict:
    """The dict of a session that got as far as its datasets (:meth:`SessionSummary.of_entries`)."""
    return SessionSummary.of_entries(asset_path, entries, started).to_dict()
