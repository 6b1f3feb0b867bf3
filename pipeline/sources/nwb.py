"""NWB source: one NWB file, local or streamed over HTTP(S), -> one dataset of templates.

This is the recipe that built the IBL part of the live library (``site_src/docs/sources.md``), applied
to any NWB file with raw extracellular data and a units table:

1. the units table's scalar columns go through an optional QC filter (a pandas query such as
   ``"label == 1"`` or ``"presence_ratio > 0.9"``); IBL files list every probe's units in one
   table, so for ``ElectricalSeriesApNN`` only units with ``probe_name == "probeNN"`` are kept;
2. only the last ``minutes`` of the recording are used, spike trains included;
3. preprocessing ``float32 in uV -> phase_shift`` (only when the electrodes table has an
   ``inter_sample_shift`` column) ``-> highpass_filter(1 Hz) -> common_reference`` (a median
   reference chosen from the probe's geometry, :mod:`pipeline.sources.reference`; per unit on
   short dense probes);
4. a dense ``SortingAnalyzer`` with every spike (``random_spikes`` method ``"all"``) and
   average templates of exactly 90 samples before and 150 after the spike at the recording's
   own sampling rate (``ms_before = 90 / fs * 1000``);
5. units with fewer than ``min_spikes`` spikes in the window are dropped; the best channel is
   the peak-to-peak maximum; noise levels are per channel (MAD of the preprocessed traces, uV,
   with a 2 s highpass margin);
6. the brain area of a unit is the units table's own area column when it has one
   (``brain_area``, ``location`` or IBL's ``allen_location``), else the electrodes table's
   ``location`` at the unit's best channel;
7. one dataset through :func:`~pipeline.dataset_writer.write_dataset`.

Every refusal (missing file, not NWB, no electrodes table, no units table, a recording shorter
than the window, no unit left) raises :class:`~pipeline.sources.errors.SourceError` before
anything is written.

This module reads the file and runs the steps; the pieces live next to it: opening the file
and finding its series (:mod:`~pipeline.sources.nwb_file`), the signal recipe of steps 3 to 5
(:mod:`~pipeline.sources.recipe`), the probe (:mod:`~pipeline.sources.probes`) and the result
(:class:`~pipeline.sources.summary.NwbResult`).

Templates are in uV: the ``ElectricalSeries`` ``conversion`` (and ``channel_conversion``,
``offset``) are applied up front, as float32, so a non-zero NWB offset cannot leak into the
templates. For the int16, zero-offset data of IBL this equals the original order
(``astype(float32)`` first, gains applied at the end), because every step is linear or, for the
median, scale-equivariant with one gain for all channels.
"""

from __future__ import annotations

import contextlib
import posixpath
import re
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from templatelib import format as fmt

from ..dataset_writer import UnitMetadata, WriteOptions, write_dataset
from ..storage import LibraryStorage
# SourceError, the file helpers, model_from_text and template_ms are imported from here by
# other modules and tests (this module held them all before errors, nwb_file, probes, recipe
# and summary split off): keep them importable from here.
from .errors import SourceError
from .nwb_file import (  # noqa: F401
    ELECTRODES_PATH,
    H5_DAMAGE,
    UNITS_PATH,
    _damaged,
    _text,
    choose_series,
    electrical_series_paths,
    is_url,
    open_nwb,
    raw_series,
    require_tables,
)
from .probes import ProbeInfo, contact_probe, model_from_text
from .recipe import (  # noqa: F401
    DEFAULT_CHUNK_DURATION,
    DEFAULT_HIGHPASS_MARGIN_MS,
    TARGET_NAFTER,
    TARGET_NBEFORE,
    channel_noise_levels,
    compute_referenced_templates,
    compute_templates,
    noise_margin_ms,
    preprocess,
    sample_quantum_uv,
    template_ms,
)
from .summary import NwbResult

DEFAULT_MINUTES = 30.0
DEFAULT_MIN_SPIKES = 50
#: Units table columns holding a brain area, in order of preference.
UNIT_AREA_COLUMNS = ("brain_area", "location", "allen_location")
UNKNOWN_AREA = "unknown"


# --------------------------------------------------------------------------- units table


def _scalar_columns(group, num_rows: int) -> dict:
    """Columns of a DynamicTable group that are one plain value per row."""
    import h5py

    columns = {}
    for name, item in group.items():
        if not isinstance(item, h5py.Dataset) or name == "id" or name.endswith("_index"):
            continue
        if f"{name}_index" in group or _text(item.attrs.get("neurodata_type", "")) == "DynamicTableRegion":
            continue
        if item.ndim != 1 or item.shape[0] != num_rows or h5py.check_dtype(ref=item.dtype) is not None:
            continue
        values = item[:]
        if values.dtype.kind in ("S", "O"):
            values = np.array([_text(v) for v in values], dtype=object)
        columns[name] = values
    return columns


def read_units_table(handle) -> pd.DataFrame:
    """The units table's scalar columns, indexed by unit ID, plus each unit's row number.

    Ragged columns (``spike_times``, IBL's per-spike amplitudes) are left out: the filter works
    on per-unit values, and reading per-spike columns over the network would be wasted.
    """
    group = handle[UNITS_PATH]
    ids = group["id"][:]
    table = pd.DataFrame(_scalar_columns(group, len(ids)), index=pd.Index(ids, name="unit_id"))
    table["_row"] = np.arange(len(ids))
    return table


def apply_unit_filter(table: pd.DataFrame, expression: str | None) -> pd.DataFrame:
    """Rows of ``table`` for which the pandas query ``expression`` holds (all rows without one)."""
    if not expression:
        return table
    try:
        kept = table.query(expression, engine="python")
    except Exception as error:
        columns = ", ".join(c for c in table.columns if c != "_row") or "(none)"
        raise SourceError(f"unit filter {expression!r} failed ({type(error).__name__}: {error}); "
                          f"units table columns: {columns}") from error
    if not isinstance(kept, pd.DataFrame):
        raise SourceError(f"unit filter {expression!r} must be a condition on the units table columns")
    return kept


def units_of_series(table: pd.DataFrame, series_path: str) -> pd.DataFrame:
    """Units recorded by the series' probe.

    IBL lists the units of all probes of a session in one table with a ``probe_name`` column
    (``probe00``, ``probe01``) while the raw data is ``ElectricalSeriesAp00``/``...Ap01``; other
    files keep every unit.
    """
    match = re.search(r"(\d+)$", posixpath.basename(series_path))
    if "probe_name" not in table.columns or match is None:
        return table
    return table[table["probe_name"].astype(str) == f"probe{match.group(1)}"]


# --------------------------------------------------------------------------- time base and spikes


@dataclass(frozen=True)
class Window:
    """The last minutes of a recording, in frames of the full recording."""

    start: int
    stop: int
    sampling_frequency: float

    @property
    def length(self) -> int:
        return self.stop - self.start


def last_minutes(num_samples: int, sampling_frequency: float, minutes: float, series: str) -> Window:
    """The window of the last ``minutes``; refuses a recording that is shorter."""
    if minutes <= 0:
        raise SourceError(f"minutes must be positive, got {minutes:g}")
    wanted = int(round(minutes * 60.0 * sampling_frequency))
    if wanted > num_samples:
        raise SourceError(
            f"{series} is {num_samples / sampling_frequency / 60.0:.2f} min long, shorter than the "
            f"requested {minutes:g} min"
        )
    return Window(num_samples - wanted, num_samples, float(sampling_frequency))


def session_time_to_window(handle, series_path: str, window: Window):
    """A function mapping spike times (s, session clock) to frames of ``window``.

    A series with ``starting_time`` and a rate is linear. With ``timestamps`` only the window's
    first and last timestamps are read (a full timestamps vector is ~0.9 GB per hour of
    Neuropixels data) and the clock is taken as linear between them.
    """
    series = handle[series_path]
    fs = window.sampling_frequency
    if "starting_time" in series:
        t0 = float(series["starting_time"][()])
        return lambda times: np.round((times - t0) * fs).astype("int64") - window.start
    if "timestamps" in series:
        first = float(series["timestamps"][window.start])
        last = float(series["timestamps"][window.stop - 1])
        scale = (window.length - 1) / (last - first) if last > first else fs
        return lambda times: np.round((times - first) * scale).astype("int64")
    raise SourceError(f"{series_path} has neither starting_time nor timestamps: spikes cannot be aligned")


def read_spike_frames(handle, rows: pd.Series, to_window, window: Window, progress: bool = True) -> dict:
    """Frames (within ``window``) of each selected unit's spikes whose template fits in it.

    Parameters
    ----------
    handle : h5py.File
        The open NWB file.
    rows : pandas.Series
        Unit ID -> row number in the units table, for the selected units.
    to_window : callable
        From :func:`session_time_to_window`.
    window : Window
        The last minutes.
    progress : bool
        Show a progress bar (one read per unit when streaming).
    """
    group = handle[UNITS_PATH]
    ends = group["spike_times_index"][:].astype("int64")
    starts = np.concatenate([[0], ends[:-1]])
    times = group["spike_times"]
    frames = {}
    for unit_id, row in tqdm(rows.items(), total=len(rows), desc="spike trains", unit="unit", disable=not progress):
        unit_frames = to_window(np.asarray(times[starts[row]:ends[row]], dtype="float64"))
        inside = (unit_frames >= TARGET_NBEFORE) & (unit_frames < window.length - TARGET_NAFTER)
        frames[unit_id] = np.unique(unit_frames[inside])
    return frames


# --------------------------------------------------------------------------- recording


def open_recording(path_or_url, series_path: str):
    """The ``ElectricalSeries`` as a spikeinterface recording (gains in uV, probe from rel_x/rel_y)."""
    from spikeinterface.extractors.nwbextractors import NwbRecordingExtractor

    kwargs = {"stream_mode": "remfile"} if is_url(path_or_url) else {}
    file_path = str(path_or_url) if is_url(path_or_url) else str(Path(path_or_url).resolve())
    try:
        recording = NwbRecordingExtractor(file_path=file_path, electrical_series_path=series_path, **kwargs)
    except Exception as error:
        raise SourceError(f"cannot read {series_path} of {path_or_url}: {type(error).__name__}: {error}") from error
    if not recording.has_probe():
        raise SourceError(f"{path_or_url}: the electrodes table has no rel_x/rel_y contact positions")
    if not recording.has_scaleable_traces():
        raise SourceError(f"{series_path} has no conversion to volts: templates could not be in uV")
    return recording


def unit_brain_areas(table: pd.DataFrame, unit_ids, best_channels: np.ndarray, channel_areas) -> list[str]:
    """Area of each unit: the units table's area column, else the best channel's ``location``."""
    column = next((c for c in UNIT_AREA_COLUMNS if c in table.columns), None)
    areas = []
    for unit_id, best in zip(unit_ids, best_channels):
        area = table.at[unit_id, column] if column else None
        if area is None or (isinstance(area, float) and np.isnan(area)) or str(area).strip() == "":
            area = channel_areas[best] if channel_areas is not None else UNKNOWN_AREA
        areas.append(str(area))
    return areas


# --------------------------------------------------------------------------- probe


def read_probe_info(handle, series_path: str) -> ProbeInfo:
    """Model and manufacturer of the device behind the series' first electrode.

    NWB >= 2.9 devices may carry ``model_name``; neuroconv's SpikeGLX conversion (IBL on DANDI)
    puts the probe type in the description instead; the device's name is the last resort.
    """
    try:
        first = int(handle[series_path]["electrodes"][0])
        group = handle[handle[ELECTRODES_PATH]["group"][first]]
        device = group["device"]
    except Exception:
        return ProbeInfo("", "")
    attrs = {k: _text(v) for k, v in device.attrs.items() if isinstance(v, (str, bytes))}
    model = attrs.get("model_name") or model_from_text(attrs.get("description", "") + " " + device.name)
    manufacturer = attrs.get("manufacturer", "")
    if manufacturer.lower() == "imec" or (not manufacturer and model and model.startswith("Neuropixels")):
        manufacturer = "IMEC"
    return ProbeInfo(model or posixpath.basename(device.name), manufacturer)


# --------------------------------------------------------------------------- naming and writing


def file_stem(path_or_url) -> str:
    """The file name up to its first dot, as the original IBL upload named datasets."""
    path = urllib.parse.urlparse(str(path_or_url)).path if is_url(path_or_url) else str(path_or_url)
    return posixpath.basename(path.replace("\\", "/")).split(".")[0]


def default_dataset_name(path_or_url, series_path: str) -> str:
    """``<file stem>_<series name>`` for files outside DANDI (see ``dandi_ibl`` for 000409)."""
    return f"{file_stem(path_or_url)}_{posixpath.basename(series_path)}"


def _write(storage: LibraryStorage, name: str, templates, meta: UnitMetadata, options, overwrite: bool) -> str:
    # An exception mid-write leaves a dataset without .zmetadata: remove it so nothing is left.
    storage.make_root()
    try:
        return write_dataset(storage, name, templates, meta, options, overwrite=overwrite)
    except BaseException:
        if not storage.is_complete(name):
            storage.remove(fmt.dataset_key(name))
        raise


@dataclass
class NwbOptions:
    """Everything :func:`nwb_to_dataset` can be told, in one picklable object.

    Attributes
    ----------
    minutes : float
        Length of the window at the end of the recording.
    min_spikes : int
        Units with fewer spikes in the window are dropped.
    unit_filter : str, optional
        pandas query over the units table's scalar columns, e.g. ``"label == 1"``.
    dataset_name : str, optional
        Default ``<file stem>_<series name>``.
    electrical_series : str, optional
        Path or name of the ``ElectricalSeries``; needed only when the file has several raw ones.
    probe_model, manufacturer : str, optional
        Override the probe annotations read from the file's device.
    overwrite : bool
        Replace a complete dataset of the same name.
    n_jobs : int
        Processes for spikeinterface's chunked jobs.
    chunk_duration : str
        Chunk length of those jobs.
    highpass_margin_ms : float
        Margin of the 1 Hz highpass (see :data:`DEFAULT_HIGHPASS_MARGIN_MS`).
    scratch_folder : str, optional
        Copy the window's raw samples to a temporary folder here first, in one sequential pass,
        as the original upload did: streamed files are then read once instead of once per
        step (and per margin). The copy is deleted afterwards.
    progress : bool
        Show progress bars.
    write_options : WriteOptions, optional
        Encoding of the dataset.
    """

    minutes: float = DEFAULT_MINUTES
    min_spikes: int = DEFAULT_MIN_SPIKES
    unit_filter: str | None = None
    dataset_name: str | None = None
    electrical_series: str | None = None
    probe_model: str | None = None
    manufacturer: str | None = None
    overwrite: bool = False
    n_jobs: int = 1
    chunk_duration: str = DEFAULT_CHUNK_DURATION
    highpass_margin_ms: float = DEFAULT_HIGHPASS_MARGIN_MS
    scratch_folder: str | None = None
    progress: bool = True
    write_options: WriteOptions | None = None

    def job_kwargs(self) -> dict:
        return {"n_jobs": self.n_jobs, "chunk_duration": self.chunk_duration, "progress_bar": self.progress}


@dataclass
class _Selection:
    """What the metadata pass found: everything needed before the heavy work."""

    series_path: str
    name: str
    table: pd.DataFrame
    units_passing: int
    frames: dict
    window: Window
    probe_info: ProbeInfo


def _refuse_existing(storage: LibraryStorage, name: str, overwrite: bool) -> None:
    if storage.is_complete(name) and not overwrite:
        raise SourceError(f"{storage.url(fmt.dataset_key(name))} already exists (pass --overwrite to replace it)")


def _select(handle, path_or_url, storage: LibraryStorage, options: NwbOptions) -> tuple[_Selection, object]:
    """Every check and metadata read, cheapest first, so a refusal costs little and writes nothing."""
    source = str(path_or_url)
    require_tables(handle, source)
    series_path = choose_series(electrical_series_paths(handle), options.electrical_series, source)
    name = options.dataset_name or default_dataset_name(path_or_url, series_path)
    _refuse_existing(storage, name, options.overwrite)
    table = read_units_table(handle)
    recording = open_recording(path_or_url, series_path)
    window = last_minutes(recording.get_num_samples(), recording.sampling_frequency, options.minutes, series_path)
    selected = units_of_series(apply_unit_filter(table, options.unit_filter), series_path)
    if selected.empty:
        raise SourceError(f"no unit of {len(table)} passes the unit filter {options.unit_filter!r} for {series_path}")
    to_window = session_time_to_window(handle, series_path, window)
    frames = read_spike_frames(handle, selected["_row"], to_window, window, options.progress)
    kept = {u: f for u, f in frames.items() if len(f) >= options.min_spikes}
    if not kept:
        raise SourceError(
            f"none of the {len(selected)} units passing the filter has at least {options.min_spikes} spikes "
            f"in the last {options.minutes:g} min of {series_path}"
        )
    info = read_probe_info(handle, series_path)
    info = ProbeInfo(options.probe_model or info.model_name, options.manufacturer or info.manufacturer)
    return _Selection(series_path, name, table, len(selected), kept, window, info), recording


@contextlib.contextmanager
def _window_recording(recording, window: Window, options: NwbOptions):
    """The window of ``recording``, copied to ``scratch_folder`` first when one is given."""
    sliced = recording.frame_slice(window.start, window.stop)
    if not options.scratch_folder:
        yield sliced
        return
    import shutil
    import tempfile

    Path(options.scratch_folder).mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="nwb-window-", dir=options.scratch_folder))
    try:
        yield sliced.save(folder=folder / "recording", format="binary", overwrite=True, **options.job_kwargs())
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _extract(recording, selection: _Selection, options: NwbOptions):
    """Templates and per-unit metadata of the selected units over the window."""
    from spikeinterface.core import NumpySorting, Templates

    with _window_recording(recording, selection.window, options) as windowed:
        sorting = NumpySorting.from_unit_dict([selection.frames], recording.sampling_frequency)
        templates_array = compute_referenced_templates(windowed, sorting, options.highpass_margin_ms,
                                                       options.job_kwargs())
        noise = channel_noise_levels(preprocess(windowed, noise_margin_ms(options.highpass_margin_ms)),
                                     progress=options.progress, quantum_uv=sample_quantum_uv(windowed))
    unit_ids = np.asarray(sorting.unit_ids)
    best = np.argmax(np.ptp(templates_array, axis=1), axis=1)
    areas = unit_brain_areas(selection.table, unit_ids, best, recording.get_property("brain_area"))
    probe = contact_probe(np.asarray(recording.get_channel_locations())[:, :2], selection.probe_info)
    templates = Templates(
        templates_array=templates_array, sampling_frequency=recording.sampling_frequency, nbefore=TARGET_NBEFORE,
        is_in_uV=True, channel_ids=np.asarray(recording.channel_ids), unit_ids=unit_ids.astype("int64"), probe=probe,
    )
    spikes = [int(len(selection.frames[u])) for u in unit_ids]
    return templates, UnitMetadata(brain_area=areas, spikes_per_unit=spikes, channel_noise_levels=noise)


def nwb_to_dataset(
    path_or_url,
    storage: LibraryStorage,
    minutes: float = DEFAULT_MINUTES,
    min_spikes: int = DEFAULT_MIN_SPIKES,
    unit_filter: str | None = None,
    dataset_name: str | None = None,
    progress: bool = True,
    **options,
) -> NwbResult:
    """Turn one NWB file into one dataset of templates (the recipe in the module docstring).

    Parameters
    ----------
    path_or_url : str or Path
        Local NWB file or ``http(s)://`` URL (streamed with remfile, never downloaded whole).
    storage : LibraryStorage
        Library root to write to; untouched when the input is refused.
    minutes, min_spikes, unit_filter, dataset_name, progress
        See :class:`NwbOptions`.
    **options
        Any other field of :class:`NwbOptions` (``electrical_series``, ``overwrite``,
        ``n_jobs``, ``scratch_folder``...).

    Returns
    -------
    NwbResult

    Raises
    ------
    SourceError
        For every refused input; nothing is written then.
    """
    settings = NwbOptions(minutes=float(minutes), min_spikes=int(min_spikes), unit_filter=unit_filter,
                          dataset_name=dataset_name, progress=progress, **options)
    started = time.perf_counter()
    try:
        with open_nwb(path_or_url) as handle:
            selection, recording = _select(handle, path_or_url, storage, settings)
    except H5_DAMAGE as error:  # the metadata pass reads the file's structure: damage shows here
        raise _damaged(path_or_url, error) from error
    try:
        templates, meta = _extract(recording, selection, settings)
    except OSError as error:  # h5py could not read a chunk of the raw data
        raise _damaged(path_or_url, error) from error
    key = _write(storage, selection.name, templates, meta, settings.write_options, settings.overwrite)
    return NwbResult(
        dataset=key, electrical_series=selection.series_path, units_in_table=len(selection.table),
        units_passing_filter=selection.units_passing, units_written=len(meta.spikes_per_unit),
        spikes_per_unit=list(meta.spikes_per_unit), sampling_frequency=float(recording.sampling_frequency),
        window_minutes=settings.minutes, elapsed_s=time.perf_counter() - started,
    )


def noise_levels_from_nwb(path_or_url, minutes: float = DEFAULT_MINUTES, electrical_series: str | None = None,
                          highpass_margin_ms: float = DEFAULT_HIGHPASS_MARGIN_MS, progress: bool = True) -> np.ndarray:
    """Per-channel noise levels (uV) of an NWB recording, computed exactly as :func:`nwb_to_dataset` does.

    For ``restore-noise``: datasets whose noise levels were lost get them back from their source
    without recomputing templates.
    """
    with open_nwb(path_or_url) as handle:
        if ELECTRODES_PATH not in handle:
            raise SourceError(f"{path_or_url}: the NWB file has no electrodes table ({ELECTRODES_PATH})")
        series_path = choose_series(electrical_series_paths(handle), electrical_series, str(path_or_url))
    recording = open_recording(path_or_url, series_path)
    window = last_minutes(recording.get_num_samples(), recording.sampling_frequency, minutes, series_path)
    windowed = recording.frame_slice(window.start, window.stop)
    return channel_noise_levels(preprocess(windowed, noise_margin_ms(highpass_margin_ms)), progress=progress,
                                quantum_uv=sample_quantum_uv(windowed))
