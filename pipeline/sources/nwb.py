"""NWB source: one NWB file, local or streamed over HTTP(S), -> one dataset of templates.

This is the recipe that built the IBL part of the live library (RESEARCH section 1), applied
to any NWB file with raw extracellular data and a units table:

1. the units table's scalar columns go through an optional QC filter (a pandas query such as
   ``"label == 1"`` or ``"presence_ratio > 0.9"``); IBL files list every probe's units in one
   table, so for ``ElectricalSeriesApNN`` only units with ``probe_name == "probeNN"`` are kept;
2. only the last ``minutes`` of the recording are used, spike trains included;
3. preprocessing ``float32 in uV -> phase_shift`` (only when the electrodes table has an
   ``inter_sample_shift`` column) ``-> highpass_filter(1 Hz) -> common_reference`` (global
   median);
4. a dense ``SortingAnalyzer`` with every spike (``random_spikes`` method ``"all"``) and
   average templates of exactly 90 samples before and 150 after the spike at the recording's
   own sampling rate (``ms_before = 90 / fs * 1000``);
5. units with fewer than ``min_spikes`` spikes in the window are dropped; the best channel is
   the peak-to-peak maximum; noise levels are per channel (MAD of the preprocessed traces, uV);
6. the brain area of a unit is the units table's own area column when it has one
   (``brain_area``, ``location`` or IBL's ``allen_location``), else the electrodes table's
   ``location`` at the unit's best channel;
7. one dataset through :func:`~pipeline.dataset_writer.write_dataset`.

Every refusal (missing file, not NWB, no electrodes table, no units table, a recording shorter
than the window, no unit left) raises :class:`SourceError` before anything is written.

Templates are in uV: the ``ElectricalSeries`` ``conversion`` (and ``channel_conversion``,
``offset``) are applied up front, as float32, so a non-zero NWB offset cannot leak into the
templates. For the int16, zero-offset data of IBL this equals the original order
(``astype(float32)`` first, gains applied at the end), because every step is linear or, for the
median, scale-equivariant with one gain for all channels.
"""

from __future__ import annotations

import contextlib
import inspect
import posixpath
import re
import time
import urllib.parse
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from templatelib import format as fmt

from ..dataset_writer import UnitMetadata, WriteOptions, write_dataset
from ..storage import LibraryStorage

#: Samples before / after the spike in every template of the library, whatever the rate.
TARGET_NBEFORE = fmt.TEMPLATE_NBEFORE
TARGET_NAFTER = fmt.TEMPLATE_SAMPLES - fmt.TEMPLATE_NBEFORE
DEFAULT_MINUTES = 30.0
DEFAULT_MIN_SPIKES = 50
HIGHPASS_HZ = 1.0
#: Margin of the 1 Hz highpass on each side of every chunk. The live library was built with
#: spikeinterface's former fixed 5 ms: too short for a 1 Hz filter, it leaves a slow transient in
#: every chunk that averages out of templates but inflates noise levels (+20 % on white noise,
#: measured with the fidelity recording). spikeinterface's current automatic margin for 1 Hz is
#: 5 s (11x the samples filtered per 1 s chunk); 500 ms gives noise levels within 2 % of the 5 s
#: margin's for 2x (measured: 11.5 s instead of 7 s for the fidelity recording, 56 s with 5 s).
DEFAULT_HIGHPASS_MARGIN_MS = 500.0
#: Chunk length of the chunked steps. Every chunk is filtered with the highpass margin on both
#: sides, so 1 s chunks filter 2 s per second; 5 s chunks filter 1.2 s. Measured on 60 s x 384
#: channels, one process: 2.41 s of compute per recorded second with 1 s chunks, 1.85 with 5 s
#: (tests/benchmarks/nwb_session.py). A 5 s chunk of 384 channels is ~0.5 GB as float64 in the filter.
DEFAULT_CHUNK_DURATION = "5s"
#: Units table columns holding a brain area, in order of preference.
UNIT_AREA_COLUMNS = ("brain_area", "location", "allen_location")
UNKNOWN_AREA = "unknown"
ELECTRODES_PATH = "general/extracellular_ephys/electrodes"
UNITS_PATH = "units"
NOISE_SLICES = {"num_chunks_per_segment": 20, "chunk_size": 10_000, "chunk_duration": None, "seed": 0}


class SourceError(Exception):
    """An input a source refuses; the message says what is wrong and nothing was written."""


#: What h5py raises on a damaged file: a bad heap or B-tree signature (RuntimeError), an
#: undecodable or unreadable block (OSError), an object whose link is broken (KeyError).
H5_DAMAGE = (OSError, RuntimeError, KeyError)


def _damaged(path_or_url, error: BaseException) -> SourceError:
    detail = " ".join(str(error).split())[:300]
    return SourceError(f"{path_or_url}: the file is damaged or not the NWB it claims to be "
                       f"({type(error).__name__}: {detail})")


@dataclass
class NwbResult:
    """What :func:`nwb_to_dataset` wrote.

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


# --------------------------------------------------------------------------- opening the file


def is_url(path_or_url) -> bool:
    """True for an ``http(s)://`` address (streamed with remfile), False for a local path."""
    return str(path_or_url).lower().startswith(("http://", "https://"))


def _open_handle(path_or_url):
    """An ``h5py.File`` on a local path or a remfile stream; SourceError when it cannot be."""
    import h5py

    source = str(path_or_url)
    if "://" in source and not is_url(source):
        raise SourceError(f"{source}: only local paths and http(s):// URLs can be read (use the https form of S3 URLs)")
    if is_url(source):
        import remfile

        try:
            target = remfile.File(source)
        except Exception as error:
            raise SourceError(f"cannot open {source}: {error}") from error
    else:
        target = Path(source)
        if not target.exists():
            raise SourceError(f"{source}: no such file")
        if target.is_dir():
            raise SourceError(f"{source}: is a folder, not an NWB file")
    try:
        return h5py.File(target, "r")
    except OSError as error:
        if "signature" in str(error):  # HDF5's own words for "these bytes are not HDF5"
            raise SourceError(f"{source}: not an NWB file (not HDF5)") from error
        raise SourceError(f"cannot open {source}: {error}") from error


@contextlib.contextmanager
def open_nwb(path_or_url):
    """Open an NWB file for metadata reads; refuses HDF5 files that are not NWB.

    Yields
    ------
    h5py.File
    """
    handle = _open_handle(path_or_url)
    try:
        if "nwb_version" not in handle.attrs:
            raise SourceError(f"{path_or_url}: an HDF5 file but not NWB (no nwb_version attribute)")
        yield handle
    finally:
        handle.close()


def _text(value) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def electrical_series_paths(handle) -> list[str]:
    """Paths of every ``ElectricalSeries`` in the file (not its subtypes), sorted."""
    import h5py

    found = set()

    def visit(_name, item):
        if isinstance(item, h5py.Group) and _text(item.attrs.get("neurodata_type", "")) == "ElectricalSeries":
            found.add(item.name.lstrip("/"))

    for root in ("acquisition", "processing"):
        if root in handle:
            handle[root].visititems(visit)
    return sorted(found)


def raw_series(paths: list[str]) -> list[str]:
    """The series that can hold spikes: IBL's LF band (``...Lf``, ``LFP``) is left out when others exist."""
    def is_lfp(path):
        name = posixpath.basename(path)
        return bool(re.search(r"(lfp|Lf\d*$)", name, flags=re.IGNORECASE))

    kept = [p for p in paths if not is_lfp(p)]
    return kept or list(paths)


def choose_series(paths: list[str], requested: str | None, source: str) -> str:
    """The one ``ElectricalSeries`` to read: ``requested`` (a path or a name), or the only raw one."""
    if not paths:
        raise SourceError(f"{source}: the NWB file has no ElectricalSeries (no raw extracellular data)")
    if requested:
        matches = [p for p in paths if p == requested.strip("/") or posixpath.basename(p) == requested]
        if not matches:
            raise SourceError(f"{source}: no ElectricalSeries {requested!r}; the file has {', '.join(paths)}")
        return matches[0]
    candidates = raw_series(paths)
    if len(candidates) > 1:
        raise SourceError(
            f"{source}: several ElectricalSeries ({', '.join(candidates)}); choose one with --series"
        )
    return candidates[0]


def require_tables(handle, source: str) -> None:
    """Refuse a file without the electrodes table or the units table."""
    if ELECTRODES_PATH not in handle:
        raise SourceError(f"{source}: the NWB file has no electrodes table ({ELECTRODES_PATH})")
    if UNITS_PATH not in handle:
        raise SourceError(f"{source}: the NWB file has no units table (/{UNITS_PATH}): nothing to average")
    if "spike_times" not in handle[UNITS_PATH] or "spike_times_index" not in handle[UNITS_PATH]:
        raise SourceError(f"{source}: the units table has no spike_times")
    if "id" not in handle[UNITS_PATH]:
        raise SourceError(f"{source}: the units table has no id column")


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


# --------------------------------------------------------------------------- recording and templates


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


def _highpass(recording, margin_ms: float):
    from spikeinterface.preprocessing import highpass_filter

    kwargs = {"freq_min": HIGHPASS_HZ, "margin_ms": margin_ms}
    # spikeinterface >= 0.103 refuses cut-offs below 100 Hz unless told the low cut-off is meant.
    if "ignore_low_freq_error" in inspect.signature(highpass_filter).parameters:
        kwargs["ignore_low_freq_error"] = True
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*margin.*")
        return highpass_filter(recording, **kwargs)


def preprocess(recording, highpass_margin_ms: float = DEFAULT_HIGHPASS_MARGIN_MS):
    """``float32 uV -> phase_shift`` (with ``inter_sample_shift`` only) ``-> highpass 1 Hz -> CMR``."""
    from spikeinterface.preprocessing import common_reference, phase_shift, scale_to_uV

    processed = scale_to_uV(recording)
    if recording.get_property("inter_sample_shift") is not None:
        processed = phase_shift(processed)
    processed = _highpass(processed, highpass_margin_ms)
    return common_reference(processed, reference="global", operator="median")


def template_ms(sampling_frequency: float) -> tuple[float, float]:
    """``ms_before``/``ms_after`` that give exactly 90 and 150 samples at ``sampling_frequency``."""
    return TARGET_NBEFORE / sampling_frequency * 1000.0, TARGET_NAFTER / sampling_frequency * 1000.0


def compute_templates(recording, sorting, job_kwargs: dict) -> np.ndarray:
    """Average templates ``(units, 240, channels)`` in uV from a dense analyzer over every spike."""
    from spikeinterface.core import create_sorting_analyzer

    analyzer = create_sorting_analyzer(
        sorting, recording, format="memory", sparse=False, return_in_uV=True, job_kwargs=job_kwargs
    )
    analyzer.compute("random_spikes", method="all")
    ms_before, ms_after = template_ms(recording.sampling_frequency)
    analyzer.compute("templates", ms_before=ms_before, ms_after=ms_after, operators=["average"], **job_kwargs)
    array = analyzer.get_extension("templates").get_data(operator="average").astype("float32")
    expected = (sorting.get_num_units(), TARGET_NBEFORE + TARGET_NAFTER, recording.get_num_channels())
    if array.shape != expected:
        raise RuntimeError(f"templates have shape {array.shape}, expected {expected}")
    return array


def channel_noise_levels(recording, job_kwargs: dict) -> np.ndarray:
    """Noise per channel in uV: MAD of 20 random 10,000-sample chunks, as the original pipeline."""
    from spikeinterface.core import get_noise_levels

    return get_noise_levels(
        recording, return_in_uV=True, method="mad", random_slices_kwargs=dict(NOISE_SLICES), **job_kwargs
    ).astype("float32")


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


@dataclass(frozen=True)
class ProbeInfo:
    """The probe annotations the catalogue shows (``model_name``, ``manufacturer``)."""

    model_name: str
    manufacturer: str


_MODEL_PATTERNS = (
    (r"ultra|NP1110", "Neuropixels Ultra"),
    (r"NP\s*2|neuropixels\s*2|NP2\d{3}|probe_type\"?\s*:\s*\"?(21|24)\b", "Neuropixels 2.0"),
    (r"NP\s*1\.0|neuropixels\s*1\.0|NP1000|\b3B\d?\b|\b3A\b|probe_type\"?\s*:\s*\"?0\b", "Neuropixels 1.0"),
)


def model_from_text(text: str) -> str | None:
    """A Neuropixels model named in a device description, or None."""
    for pattern, model in _MODEL_PATTERNS:
        if re.search(pattern, text, flags=re.IGNORECASE):
            return model
    return None


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


def build_probe(positions: np.ndarray, info: ProbeInfo):
    """A probeinterface probe whose contact ``i`` is channel ``i``, annotated for the catalogue."""
    from probeinterface import Probe

    probe = Probe(ndim=2, si_units="um")
    if info.model_name == "Neuropixels Ultra":
        probe.set_contacts(positions=positions, shapes="square", shape_params={"width": 5})
    elif info.model_name.startswith("Neuropixels"):
        probe.set_contacts(positions=positions, shapes="square", shape_params={"width": 12})
    else:
        probe.set_contacts(positions=positions, shapes="circle", shape_params={"radius": 5})
    probe.set_device_channel_indices(np.arange(len(positions)))
    probe.annotations = {"model_name": info.model_name, "manufacturer": info.manufacturer}
    return probe


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
        processed = preprocess(windowed, options.highpass_margin_ms)
        sorting = NumpySorting.from_unit_dict([selection.frames], recording.sampling_frequency)
        templates_array = compute_templates(processed, sorting, options.job_kwargs())
        noise = channel_noise_levels(processed, options.job_kwargs())
    unit_ids = np.asarray(sorting.unit_ids)
    best = np.argmax(np.ptp(templates_array, axis=1), axis=1)
    areas = unit_brain_areas(selection.table, unit_ids, best, recording.get_property("brain_area"))
    probe = build_probe(np.asarray(recording.get_channel_locations())[:, :2], selection.probe_info)
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
                          highpass_margin_ms: float = DEFAULT_HIGHPASS_MARGIN_MS, n_jobs: int = 1,
                          progress: bool = True) -> np.ndarray:
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
    options = NwbOptions(minutes=minutes, n_jobs=n_jobs, highpass_margin_ms=highpass_margin_ms, progress=progress)
    processed = preprocess(recording.frame_slice(window.start, window.stop), highpass_margin_ms)
    return channel_noise_levels(processed, options.job_kwargs())
