"""The signal recipe of the NWB source: preprocessing, templates and noise levels, in uV.

``float32 in uV -> phase_shift`` (only with an ``inter_sample_shift`` electrode column)
``-> highpass_filter(1 Hz) -> common_reference`` (a median reference chosen from the probe's
geometry by :mod:`pipeline.sources.reference`: global on long probes, from the channels
outside a unit's footprint on small and dense ones); a dense ``SortingAnalyzer``
over every spike averages templates of exactly the library's window (90 samples before the
spike, 150 after) at the recording's own rate; noise levels are the per-channel MAD of the
preprocessed traces. :mod:`pipeline.sources.nwb` reads the file and runs these steps.
"""

from __future__ import annotations

import inspect
import warnings

import numpy as np

from templatelib import format as fmt

from .reference import apply_reference, plan_reference

#: Samples before / after the spike in every template of the library, whatever the rate.
TARGET_NBEFORE = fmt.TEMPLATE_NBEFORE
TARGET_NAFTER = fmt.TEMPLATE_SAMPLES - fmt.TEMPLATE_NBEFORE
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
#: Random slices of the noise estimate: 20 chunks of 10,000 samples, as the original pipeline.
NOISE_SLICES = {"num_chunks_per_segment": 20, "chunk_size": 10_000, "chunk_duration": None, "seed": 0}
#: Margin of the 1 Hz highpass for the noise estimate. A 500 ms margin is enough for templates
#: (the filter's edge transient is not locked to spikes and averages out) but not for noise: the
#: transient starts from the samples at the margin's outer edge, and next to a large unit that
#: is often a spike. The step response of the 1 Hz Butterworth (order 5) keeps 21 % of a step
#: 0.5 s later, 1.6 % at 2 s, 0.2 % at 3 s, so on a dense probe with 115-285 uV units the mean
#: noise level was 5.92 uV with 500 ms, 5.657 with 2 s and 5.656 with 5 s (spikeinterface's
#: automatic margin for 1 Hz). 2 s filters 4.3 s per 0.33 s chunk: ~87 s of traces per session
#: instead of 27 s (5 s: 207 s), less where chunks are close (:func:`_merged_reads`).
NOISE_HIGHPASS_MARGIN_MS = 2000.0
#: Longest merged read of the noise estimate, margins apart: 5 s, as a chunk of the templates
#: (384 channels at 30 kHz: ~0.5 GB as float64 inside the filter).
NOISE_READ_LIMIT_SAMPLES = 150_000
#: MAD of a Gaussian over its standard deviation.
MAD_TO_SD = 0.6744897501960817


def _highpass(recording, margin_ms: float):
    from spikeinterface.preprocessing import highpass_filter

    kwargs = {"freq_min": HIGHPASS_HZ, "margin_ms": margin_ms}
    # spikeinterface >= 0.103 refuses cut-offs below 100 Hz unless told the low cut-off is meant.
    if "ignore_low_freq_error" in inspect.signature(highpass_filter).parameters:
        kwargs["ignore_low_freq_error"] = True
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*margin.*")
        return highpass_filter(recording, **kwargs)


def preprocess(recording, highpass_margin_ms: float = DEFAULT_HIGHPASS_MARGIN_MS, reference: bool = True):
    """``float32 uV -> phase_shift`` (with ``inter_sample_shift`` only) ``-> highpass 1 Hz -> reference``.

    The reference is the one :func:`~pipeline.sources.reference.plan_reference` chooses for the
    recording's contact positions (none with ``reference=False``).
    """
    from spikeinterface.preprocessing import phase_shift, scale_to_uV

    processed = scale_to_uV(recording)
    if recording.get_property("inter_sample_shift") is not None:
        processed = phase_shift(processed)
    processed = _highpass(processed, highpass_margin_ms)
    return apply_reference(processed, plan_reference(recording.get_channel_locations())) if reference else processed


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


def compute_referenced_templates(recording, sorting, highpass_margin_ms: float, job_kwargs: dict) -> np.ndarray:
    """Templates of :func:`compute_templates` over ``recording`` preprocessed with its reference.

    A ``"unit"`` plan (:mod:`pipeline.sources.reference`) references each unit's whole template
    to the median of the reference set of the band holding its best channel. Averaging is linear,
    so that is the unreferenced template minus the spike-triggered average of that median: one
    pass over all channels (the best channels come from it; the common-mode noise moves every
    channel alike and not the argmax), and per band one over its reference channels only, the
    median taken by spikeinterface's ``common_reference`` (as ``x_r - median``, ``r`` the set's
    first channel, whose unreferenced average is known).
    """
    from spikeinterface.preprocessing import common_reference

    plan = plan_reference(recording.get_channel_locations())
    if plan.kind != "unit":
        return compute_templates(preprocess(recording, highpass_margin_ms), sorting, job_kwargs)
    highpassed = preprocess(recording, highpass_margin_ms, reference=False)
    templates = compute_templates(highpassed, sorting, job_kwargs)
    best = np.argmax(np.ptp(templates, axis=1), axis=1)
    channel_ids, unit_ids = np.asarray(recording.channel_ids), np.asarray(sorting.unit_ids)
    for members, reference in zip(plan.groups, plan.references):
        units = np.flatnonzero(np.isin(best, members))
        if len(units) == 0:
            continue
        ids = list(channel_ids[reference])
        referenced = common_reference(highpassed.select_channels(ids), reference="global", operator="median")
        shifted = compute_templates(referenced.select_channels(ids[:1]), sorting.select_units(list(unit_ids[units])),
                                    job_kwargs)
        median = templates[units, :, reference[0]] - shifted[:, :, 0]
        templates[units] -= median[:, :, None]
    return templates


def _merged_reads(slices, margin: int, limit: int) -> list[tuple[int, int, list]]:
    """Group sorted chunks whose margins overlap into reads of at most ``limit`` samples.

    A read covers its chunks and the gaps between them, so every chunk still has at least
    ``margin`` filtered samples on each side (more context never hurts a filter), and no
    sample is filtered twice where chunks are closer than two margins.
    """
    reads = []
    for start, stop in sorted(slices):
        if reads and start - reads[-1][1] < 2 * margin and stop - reads[-1][0] <= limit:
            reads[-1][1] = max(reads[-1][1], stop)
            reads[-1][2].append((start, stop))
        else:
            reads.append([start, stop, [(start, stop)]])
    return [tuple(r) for r in reads]


def noise_margin_ms(highpass_margin_ms: float) -> float:
    """Highpass margin of the noise estimate: at least :data:`NOISE_HIGHPASS_MARGIN_MS`."""
    return max(float(highpass_margin_ms), NOISE_HIGHPASS_MARGIN_MS)


def sample_quantum_uv(recording) -> np.ndarray | None:
    """uV per step of the stored integers of ``recording``, per channel (None for float data)."""
    if np.dtype(recording.get_dtype()).kind not in "iu" or not recording.has_scaleable_traces():
        return None
    return np.abs(np.asarray(recording.get_channel_gains(), dtype="float64"))


def channel_noise_levels(recording, progress: bool = False, quantum_uv=None) -> np.ndarray:
    """Noise per channel in uV: mean MAD of 20 random 10,000-sample chunks, as the original pipeline.

    ``recording`` must come from :func:`preprocess` with :func:`noise_margin_ms` (see
    :data:`NOISE_HIGHPASS_MARGIN_MS` for why). The chunks are spikeinterface's own random slices (``get_random_sample_slices``,
    seed 0), the MAD and the mean over chunks those of ``get_noise_levels``; chunks closer than
    two margins are read and filtered together, so a short recording is filtered about once.

    ``quantum_uv`` (:func:`sample_quantum_uv`) is the step of integer samples. A MAD of samples
    on a grid takes grid values: with Neuropixels' 2.34 uV step and 6 uV of noise it is 5.2 or
    6.95 uV, never 6.04. Each chunk is dithered with uniform noise of one step (seed 0) and the
    dither's variance (step^2 / 12) taken back out, which leaves the noise of the quantised
    signal (noise^2 + step^2 / 12).
    """
    from spikeinterface.core.recording_tools import get_random_sample_slices
    from tqdm import tqdm

    slices = get_random_sample_slices(recording, **NOISE_SLICES)
    margin = int(NOISE_HIGHPASS_MARGIN_MS / 1000.0 * recording.sampling_frequency)  # merge when closer
    limit = NOISE_READ_LIMIT_SAMPLES
    levels = []
    rng = np.random.default_rng(0)
    reads = _merged_reads([(s0, s1) for _seg, s0, s1 in slices], margin, limit)
    for start, stop, chunks in tqdm(reads, desc="noise levels", unit="read", disable=not progress):
        traces = recording.get_traces(start_frame=start, end_frame=stop, return_in_uV=False)
        for s0, s1 in chunks:
            chunk = traces[s0 - start:s1 - start].astype("float64")
            if quantum_uv is not None:
                chunk = chunk + rng.uniform(-0.5, 0.5, chunk.shape) * quantum_uv
            deviation = np.abs(chunk - np.median(chunk, axis=0, keepdims=True))
            mad = np.median(deviation, axis=0) / MAD_TO_SD
            if quantum_uv is not None:
                mad = np.sqrt(np.maximum(mad ** 2 - quantum_uv ** 2 / 12.0, 0.0))
            levels.append(mad)
    return np.mean(levels, axis=0).astype("float32")
