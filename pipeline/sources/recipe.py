"""The signal recipe of the NWB source: preprocessing, templates and noise levels, in uV.

``float32 in uV -> phase_shift`` (only with an ``inter_sample_shift`` electrode column)
``-> highpass_filter(1 Hz) -> common_reference`` (global median); a dense ``SortingAnalyzer``
over every spike averages templates of exactly the library's window (90 samples before the
spike, 150 after) at the recording's own rate; noise levels are the per-channel MAD of the
preprocessed traces. :mod:`pipeline.sources.nwb` reads the file and runs these steps.
"""

from __future__ import annotations

import inspect
import warnings

import numpy as np

from templatelib import format as fmt

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
