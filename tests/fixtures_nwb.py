"""NWB files with a known answer, written with pynwb for the source tests.

A ground-truth recording is built from spikeinterface's generators (templates from
``generate_templates`` placed near a Neuropixels 1.0 contact layout, Poisson spike trains,
Gaussian noise) and written the way IBL's NWB files on DANDI are laid out: int16
``ElectricalSeries`` data whose ``conversion`` factor gives volts, an electrodes table with
``rel_x``/``rel_y`` positions and ``location`` brain areas, a units table with ``spike_times``,
``electrodes`` and QC columns (``label``, ``presence_ratio``). The templates that went in are
kept, in uV, so a test can compare what the source recovers against them.

A plain module (not a conftest): test modules import the helpers they need.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

SAMPLING_FREQUENCY = 30_000.0
#: Neuropixels 1.0 AP band: 1.2 V range / 10 bits / gain 500 -> 2.34375 uV per bit.
GAIN_UV = 2.34375
NBEFORE = 90
NAFTER = 150
SERIES_NAME = "ElectricalSeriesAp"
#: Brain areas along the probe, tip (y=0) last, as on an IBL insertion.
TRACK = ("VISa5", "CA1", "DG-mo", "LP")


@dataclass
class GroundTruth:
    """What went into a ground-truth NWB file.

    Attributes
    ----------
    path : Path
        The NWB file.
    templates_uv : np.ndarray
        ``(units, 240, channels)`` templates injected into the traces, in uV.
    unit_ids : np.ndarray
        Units table IDs, in the order of ``templates_uv``.
    spike_frames : dict
        Unit ID -> sample indices (of the whole recording) where the template was injected.
    channel_positions : np.ndarray
        ``(channels, 2)`` contact positions in um (``rel_x``, ``rel_y``).
    channel_areas : list of str
        ``location`` of each electrode.
    num_samples : int
        Length of the ``ElectricalSeries``.
    starting_time : float
        Session time (s) of the first sample; spike times are on the same clock.
    labels : dict
        Unit ID -> value of the ``label`` column.
    noise_uv : float
        Standard deviation of the Gaussian noise, in uV.
    seed : int
        Seed of the noise generator.
    common_noise_uv : float
        Standard deviation of a common-mode noise shared by every channel (on top of
        ``noise_uv``), as a reference or a movement artefact adds it; 0 for none.
    """

    path: Path
    templates_uv: np.ndarray
    unit_ids: np.ndarray
    spike_frames: dict
    channel_positions: np.ndarray
    channel_areas: list
    num_samples: int
    starting_time: float
    labels: dict = field(default_factory=dict)
    noise_uv: float = 6.0
    seed: int = 0
    sampling_frequency: float = SAMPLING_FREQUENCY
    common_noise_uv: float = 0.0


def grid_positions(columns: int, rows: int, pitch_x_um: float, pitch_y_um: float) -> np.ndarray:
    """``(columns * rows, 2)`` contact positions of a regular grid, row by row from the tip."""
    x, y = np.meshgrid(np.arange(columns) * pitch_x_um, np.arange(rows) * pitch_y_um)
    return np.column_stack([x.ravel(), y.ravel()]).astype(float)


def neuropixels_positions(num_channels: int) -> np.ndarray:
    """The first ``num_channels`` contacts of a Neuropixels 1.0 probe (staggered, 20 um rows)."""
    from probeinterface.neuropixels_tools import build_neuropixels_probe

    return np.asarray(build_neuropixels_probe("NP1000").contact_positions[:num_channels], dtype=float)


def areas_by_depth(y: np.ndarray) -> list[str]:
    """Brain area of each contact: equal bands of :data:`TRACK`, deepest area at the tip."""
    edges = np.linspace(y.min(), y.max() + 1e-9, len(TRACK) + 1)
    band = np.clip(np.searchsorted(edges, y, side="right") - 1, 0, len(TRACK) - 1)
    return [TRACK[len(TRACK) - 1 - b] for b in band]


def ground_truth_templates(positions: np.ndarray, num_units: int, seed: int,
                           amplitude_uv=(80.0, 250.0), distance_um=(15.0, 35.0)) -> np.ndarray:
    """``(units, 240, channels)`` templates in uV, 3 ms before / 5 ms after the spike.

    ``generate_templates`` gives shapes in arbitrary units; each unit is rescaled to a
    peak-to-peak in ``amplitude_uv`` on its best channel (default 80-250 uV, the range of
    well-isolated IBL units), at ``distance_um`` from the probe's plane.
    """
    from spikeinterface.core.generate import generate_templates

    rng = np.random.default_rng(seed)
    # Units spread evenly along the probe (jittered), 40 um away from its ends, so each one's
    # neighbourhood is on the probe and no two units share a best channel.
    span = positions[:, 1].min() + 40.0, positions[:, 1].max() - 40.0
    step = (span[1] - span[0]) / num_units
    locations = np.column_stack([
        rng.uniform(positions[:, 0].min(), positions[:, 0].max(), num_units),
        span[0] + step * (np.arange(num_units) + 0.5) + rng.uniform(-0.2, 0.2, num_units) * step,
        rng.uniform(*distance_um, num_units),
    ])
    templates = generate_templates(
        positions, locations, SAMPLING_FREQUENCY, NBEFORE / SAMPLING_FREQUENCY * 1000,
        NAFTER / SAMPLING_FREQUENCY * 1000, seed=seed, dtype="float32",
    )
    target = rng.uniform(*amplitude_uv, num_units)
    ptp = np.ptp(templates, axis=1).max(axis=1)
    return (templates * (target / ptp)[:, None, None]).astype("float32")


def poisson_frames(rate_hz: float, num_samples: int, rng: np.random.Generator) -> np.ndarray:
    """Spike frames of a Poisson train with a 3 ms refractory period, away from both ends."""
    count = rng.poisson(rate_hz * num_samples / SAMPLING_FREQUENCY)
    frames = np.sort(rng.integers(NBEFORE, num_samples - NAFTER, count))
    refractory = int(0.003 * SAMPLING_FREQUENCY)
    keep = np.concatenate([[True], np.diff(frames) > refractory])
    return frames[keep].astype("int64")


def exclusive_frames(rates, num_samples: int, rng: np.random.Generator, unit_ids) -> dict:
    """Spike frames of all units from one Poisson train with a dead time of one template.

    The train runs at the sum of ``rates``; each spike goes to a unit with probability
    proportional to its rate. Each unit's rate comes out somewhat below its nominal one.
    """
    dead = NBEFORE + NAFTER
    total = float(np.sum(rates))
    gaps = rng.exponential(SAMPLING_FREQUENCY / total, int(total * num_samples / SAMPLING_FREQUENCY) + 10)
    frames = NBEFORE + np.cumsum(np.round(gaps).astype("int64") + dead)
    frames = frames[frames < num_samples - NAFTER]
    owner = rng.choice(len(rates), size=len(frames), p=np.asarray(rates, float) / total)
    return {int(u): frames[owner == index] for index, u in enumerate(unit_ids)}


def make_ground_truth(
    path,
    duration_s: float = 75.0,
    num_channels: int = 48,
    num_units: int = 8,
    noise_uv: float = 6.0,
    firing_rates=None,
    starting_time: float = 3.5,
    labels=None,
    seed: int = 42,
    positions=None,
    amplitude_uv=(80.0, 250.0),
    distance_um=(15.0, 35.0),
    common_noise_uv: float = 0.0,
    non_overlapping: bool = False,
) -> GroundTruth:
    """Synthesise a ground-truth recording and describe it (nothing written yet).

    Parameters
    ----------
    path : path-like
        Where :func:`write_ground_truth_nwb` will write the file.
    duration_s : float
        Length of the recording.
    num_channels, num_units : int
        Probe size (first contacts of a Neuropixels 1.0) and number of units.
    noise_uv : float
        Standard deviation of the Gaussian noise added on every channel.
    firing_rates : sequence of float, optional
        Rate of each unit in Hz; default 6 to 12 Hz.
    starting_time : float
        Session time of the first sample (the spike times carry the same offset).
    labels : sequence of float, optional
        ``label`` column of each unit (IBL: fraction of QC metrics passed); default all 1.
    seed : int
        Everything is deterministic for a seed.
    positions : array, optional
        ``(channels, 2)`` contact positions in um (dense or 2-column probes); default the first
        ``num_channels`` contacts of a Neuropixels 1.0.
    amplitude_uv, distance_um : tuple of float
        Range of the units' peak-to-peak amplitudes and distances from the probe's plane.
    common_noise_uv : float
        Standard deviation of a common-mode noise on every channel (see :class:`GroundTruth`).
    non_overlapping : bool
        No two spikes, of any units, closer than a template (240 samples): a short recording's
        templates then carry no overlap of other units, and a comparison measures the recipe.
    """
    rng = np.random.default_rng(seed)
    num_samples = int(round(duration_s * SAMPLING_FREQUENCY))
    positions = neuropixels_positions(num_channels) if positions is None else np.asarray(positions, float)
    templates = ground_truth_templates(positions, num_units, seed, amplitude_uv, distance_um)
    rates = np.asarray(firing_rates if firing_rates is not None else rng.uniform(6.0, 12.0, num_units), float)
    unit_ids = np.arange(num_units, dtype="int64") * 3 + 101
    if non_overlapping:
        frames = exclusive_frames(rates, num_samples, rng, unit_ids)
    else:
        frames = {int(u): poisson_frames(rate, num_samples, rng) for u, rate in zip(unit_ids, rates)}
    truth = GroundTruth(
        path=Path(path),
        templates_uv=templates,
        unit_ids=unit_ids,
        spike_frames=frames,
        channel_positions=positions,
        channel_areas=areas_by_depth(positions[:, 1]),
        num_samples=num_samples,
        starting_time=starting_time,
        labels={int(u): float(v) for u, v in zip(unit_ids, labels if labels is not None else [1.0] * num_units)},
        noise_uv=noise_uv,
        seed=seed,
        common_noise_uv=float(common_noise_uv),
    )
    return truth


def ground_truth_recording(truth: GroundTruth):
    """The noisy recording in uV (float32): templates injected at the spike frames."""
    from spikeinterface.core import NumpySorting
    from spikeinterface.core.generate import InjectTemplatesRecording
    from spikeinterface.generation.noise_tools import NoiseGeneratorRecording

    sorting = NumpySorting.from_unit_dict([truth.spike_frames], SAMPLING_FREQUENCY)
    noise = NoiseGeneratorRecording(
        num_channels=len(truth.channel_positions), sampling_frequency=SAMPLING_FREQUENCY,
        durations=[truth.num_samples / SAMPLING_FREQUENCY], noise_levels=truth.noise_uv,
        dtype="float32", seed=truth.seed, strategy="on_the_fly",
    )
    return InjectTemplatesRecording(sorting, truth.templates_uv, nbefore=NBEFORE, parent_recording=noise)


def common_mode_recording(truth: GroundTruth):
    """One channel of Gaussian noise that every channel carries on top (None without one).

    Drawn apart and added when the file is written: the same as a ``NoiseGeneratorRecording``
    with a covariance of ``noise^2 I + common^2``, at a fraction of the cost on 384 channels.
    """
    from spikeinterface.generation.noise_tools import NoiseGeneratorRecording

    if truth.common_noise_uv <= 0:
        return None
    return NoiseGeneratorRecording(
        num_channels=1, sampling_frequency=SAMPLING_FREQUENCY, durations=[truth.num_samples / SAMPLING_FREQUENCY],
        noise_levels=truth.common_noise_uv, dtype="float32", seed=truth.seed + 1, strategy="on_the_fly",
    )


def _int16_iterator(recording, num_samples: int, num_channels: int, common=None):
    """Feed ``recording`` (plus ``common`` on every channel) to HDF5 a few seconds at a time, as int16."""
    from hdmf.data_utils import GenericDataChunkIterator

    class Int16Iterator(GenericDataChunkIterator):
        def _get_data(self, selection):
            start, stop = selection[0].start or 0, selection[0].stop or num_samples
            traces = recording.get_traces(start_frame=start, end_frame=stop)
            if common is not None:
                traces = traces + common.get_traces(start_frame=start, end_frame=stop)
            quantised = np.clip(np.round(traces / GAIN_UV), -32768, 32767).astype("int16")
            return quantised[:, selection[1]]

        def _get_maxshape(self):
            return (num_samples, num_channels)

        def _get_dtype(self):
            return np.dtype("int16")

    second = int(SAMPLING_FREQUENCY)
    return Int16Iterator(
        chunk_shape=(second, num_channels), buffer_shape=(5 * second, num_channels), display_progress=False
    )


def _new_nwbfile(description: str):
    from pynwb import NWBFile

    return NWBFile(
        session_description=description,
        identifier=description.replace(" ", "-"),
        session_start_time=datetime(2024, 1, 1, tzinfo=timezone.utc),
        session_id="00000000-0000-4000-8000-000000000000",
    )


def _add_electrodes(nwbfile, truth: GroundTruth, inter_sample_shift=None):
    # Device.manufacturer is deprecated in NWB 2.11 (DeviceModel), but the files on DANDI were
    # written before that and carry it: keep it, without the deprecation warning.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        device = nwbfile.create_device(
            name="NeuropixelsImec0", description='{"probe_type": "0", "probe_type_description": "NP1.0"}',
            manufacturer="Imec",
        )
    group = nwbfile.create_electrode_group(
        name="probe00", description="Neuropixels 1.0 shank", location="brain", device=device
    )
    if inter_sample_shift is not None:
        nwbfile.add_electrode_column("inter_sample_shift", "time delay of each channel, in samples")
    for index, ((x, y), area) in enumerate(zip(truth.channel_positions, truth.channel_areas)):
        extra = {} if inter_sample_shift is None else {"inter_sample_shift": float(inter_sample_shift[index])}
        nwbfile.add_electrode(group=group, location=area, rel_x=float(x), rel_y=float(y), **extra)


def _add_series(nwbfile, truth: GroundTruth, use_timestamps: bool = False):
    from hdmf.backends.hdf5.h5_utils import H5DataIO
    from pynwb.ecephys import ElectricalSeries

    num_channels = len(truth.channel_positions)
    region = nwbfile.create_electrode_table_region(list(range(num_channels)), "all electrodes")
    if use_timestamps:
        clock = {"timestamps": truth.starting_time + np.arange(truth.num_samples) / SAMPLING_FREQUENCY}
    else:
        clock = {"rate": SAMPLING_FREQUENCY, "starting_time": truth.starting_time}
    series = ElectricalSeries(
        name=SERIES_NAME,
        data=H5DataIO(_int16_iterator(ground_truth_recording(truth), truth.num_samples, num_channels,
                                      common_mode_recording(truth))),
        electrodes=region,
        conversion=GAIN_UV * 1e-6,
        **clock,
    )
    nwbfile.add_acquisition(series)


def _add_lfp_series(nwbfile, truth: GroundTruth):
    """An LF-band series next to the AP one, as in IBL files (the source must pick the AP band)."""
    from pynwb.ecephys import ElectricalSeries

    num_channels = len(truth.channel_positions)
    region = nwbfile.create_electrode_table_region(list(range(num_channels)), "all electrodes")
    nwbfile.add_acquisition(ElectricalSeries(
        name="ElectricalSeriesLf", data=np.zeros((truth.num_samples // 12, num_channels), dtype="int16"),
        electrodes=region, rate=SAMPLING_FREQUENCY / 12, starting_time=truth.starting_time, conversion=GAIN_UV * 1e-6,
    ))


def _best_channels(truth: GroundTruth) -> np.ndarray:
    return np.argmax(np.ptp(truth.templates_uv, axis=1), axis=1)


def _add_units(nwbfile, truth: GroundTruth, with_electrodes: bool = True):
    nwbfile.add_unit_column("label", "fraction of IBL quality metrics passed")
    nwbfile.add_unit_column("presence_ratio", "fraction of 10 s bins with a spike")
    best = _best_channels(truth)
    for index, unit_id in enumerate(truth.unit_ids):
        frames = truth.spike_frames[int(unit_id)]
        extra = {"electrodes": [int(best[index])]} if with_electrodes else {}
        nwbfile.add_unit(
            id=int(unit_id),
            spike_times=truth.starting_time + frames / SAMPLING_FREQUENCY,
            label=float(truth.labels[int(unit_id)]),
            presence_ratio=0.95,
            **extra,
        )


def write_ground_truth_nwb(
    truth: GroundTruth,
    with_units: bool = True,
    with_electrodes: bool = True,
    inter_sample_shift=None,
    use_timestamps: bool = False,
    lfp_series: bool = False,
) -> Path:
    """Write ``truth`` as an NWB file at ``truth.path``.

    Parameters
    ----------
    truth : GroundTruth
        From :func:`make_ground_truth`.
    with_units : bool
        Write the units table (False: a file the source must refuse).
    with_electrodes : bool
        Write the electrodes table and the ``ElectricalSeries`` (False: units only, also refused).
    inter_sample_shift : array, optional
        Adds an ``inter_sample_shift`` electrodes column (fraction of a sample per channel).
    use_timestamps : bool
        Give the series a timestamps vector instead of a rate and starting time.
    lfp_series : bool
        Add an ``ElectricalSeriesLf`` next to the AP series.
    """
    from pynwb import NWBHDF5IO

    nwbfile = _new_nwbfile(f"ground truth {truth.path.stem}")
    if with_electrodes:
        _add_electrodes(nwbfile, truth, inter_sample_shift)
        _add_series(nwbfile, truth, use_timestamps)
        if lfp_series:
            _add_lfp_series(nwbfile, truth)
    if with_units:
        _add_units(nwbfile, truth, with_electrodes=with_electrodes)
    truth.path.parent.mkdir(parents=True, exist_ok=True)
    with NWBHDF5IO(str(truth.path), "w") as io:
        io.write(nwbfile)
    return truth.path


def write_small_nwb(path, duration_s: float = 8.0, num_channels: int = 8, num_units: int = 3, **options) -> GroundTruth:
    """A seconds-long ground-truth file for the refusal and CLI tests (fast to write and read).

    ``options`` go to :func:`write_ground_truth_nwb`.
    """
    truth = make_ground_truth(path, duration_s=duration_s, num_channels=num_channels, num_units=num_units,
                              firing_rates=[20.0] * num_units, seed=7)
    write_ground_truth_nwb(truth, **options)
    return truth


def write_plain_hdf5(path) -> Path:
    """An HDF5 file that is not NWB (no ``nwb_version`` attribute)."""
    import h5py

    path = Path(path)
    with h5py.File(path, "w") as handle:
        handle.create_dataset("traces", data=np.zeros((10, 4), dtype="int16"))
    return path
