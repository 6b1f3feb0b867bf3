"""Hybrid preview: the first ~100 ms of the hybrid recording the snippet makes, drawn in the page.

The snippet (:mod:`snippet`) injects one probe group of the selection into a noise recording
with ``generate_hybrid_recording(..., seed=SEED)``. That function draws its spike trains with
``generate_sorting`` (Poisson trains with a refractory period, seeded) and an amplitude factor
per spike (``normal(1, amplitude_std)``, seeded), then adds each template at each spike with
``InjectTemplatesRecording``. This module does the same three steps in numpy, with the same
parameters (:class:`HybridParameters`, which the snippet writes into its call), so the page's
spikes and amplitudes are the snippet's (``tests/test_hybrid_preview.py`` checks both against
spikeinterface, and the injected traces against ``InjectTemplatesRecording`` to float32
precision). Only the noise differs: the page draws white Gaussian noise of the same level from
its own seeded generator, not ``NoiseGeneratorRecording``'s samples (docs/site.md "Hybrid
preview").
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

#: Longest preview, in ms, and the most templates and channels it draws (bounds the work).
MAX_PREVIEW_MS = 500.0
MAX_TEMPLATES = 64
MAX_CHANNELS = 32
#: Channels drawn: those within this distance of any template's best channel (nearest first).
NEIGHBOURHOOD_UM = 50.0
#: Most noise a user may ask for (µV): far above any recording's.
MAX_NOISE_UV = 1000.0
MAX_SEED = 2**31 - 1


@dataclass(frozen=True)
class HybridParameters:
    """What the preview and the snippet's ``generate_hybrid_recording`` share.

    ``firing_rate_hz``, ``refractory_period_ms`` and ``amplitude_std`` are
    ``generate_hybrid_recording``'s own defaults, written out so the snippet states them.
    """

    seed: int = 0
    noise_uv: float = 10.0
    firing_rate_hz: float = 15.0
    refractory_period_ms: float = 4.0
    amplitude_std: float = 0.05
    duration_s: float = 10.0
    preview_ms: float = 100.0

    @classmethod
    def checked(cls, seed=None, noise_uv=None, default_noise_uv: float = 10.0, preview_ms=None) -> "HybridParameters":
        """Parameters from untrusted values (the page's inputs, a URL); errors in words."""
        seed = 0 if seed is None else seed
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
            raise ValueError(f"the seed must be a whole number from 0 to {MAX_SEED}, not {str(seed)[:30]!r}")
        noise = default_noise_uv if noise_uv is None else noise_uv
        if isinstance(noise, bool) or not isinstance(noise, (int, float)) or not 0 <= noise <= MAX_NOISE_UV:
            raise ValueError(f"the noise level must be 0 to {MAX_NOISE_UV:g} µV, not {str(noise_uv)[:30]!r}")
        span = 100.0 if preview_ms is None else preview_ms
        if isinstance(span, bool) or not isinstance(span, (int, float)) or not 1 <= span <= MAX_PREVIEW_MS:
            raise ValueError(f"the preview lasts 1 to {MAX_PREVIEW_MS:g} ms, not {str(preview_ms)[:30]!r}")
        return cls(seed=int(seed), noise_uv=round(float(noise), 3), preview_ms=float(span))

    def as_dict(self) -> dict:
        return asdict(self)


def default_noise_uv(noise_levels) -> float:
    """The library's median ``noise_level_uv`` (finite values), rounded to 0.1 µV; 10 µV without any."""
    values = np.asarray(noise_levels, dtype=np.float64)
    values = values[np.isfinite(values) & (values >= 0)]
    return round(float(np.median(values)), 1) if len(values) else 10.0


def spike_train(num_units: int, sampling_frequency: float, params: HybridParameters) -> tuple[np.ndarray, np.ndarray]:
    """``(sample_index, unit_index)`` of every spike in ``params.duration_s``, sorted by sample.

    spikeinterface's ``generate_sorting`` (one segment) with ``synthesize_poisson_spike_vector``:
    geometric inter-spike intervals at a rate raised to make up for the refractory period, the
    refractory frames added, the seed of segment 0 being ``seed``.
    """
    rng = np.random.default_rng(seed=params.seed)
    rates = np.full(num_units, float(params.firing_rate_hz))
    refractory_s = params.refractory_period_ms / 1000.0
    refractory_frames = int(refractory_s * sampling_frequency)
    if np.any(refractory_s >= 1.0 / rates):
        raise ValueError("the refractory period is too long for the firing rate")
    p = rates / sampling_frequency
    max_frames = int(params.duration_s * sampling_frequency) - 1
    max_p = float(np.max(p))
    expected = math.ceil(max_frames * max_p)
    spread = int(np.sqrt(expected * (1 - max_p)))
    most = expected + 4 * spread
    raised = np.minimum(rates / (1 - rates * refractory_s) / sampling_frequency, 1.0)
    intervals = rng.geometric(p=raised[:, np.newaxis], size=(num_units, most))
    intervals[:, 1:] += refractory_frames
    frames = np.cumsum(intervals, axis=1).ravel()
    units = np.repeat(np.arange(num_units, dtype="uint16"), most)
    keep = frames <= max_frames
    frames, units = frames[keep], units[keep]
    order = np.argsort(frames, kind="stable")
    return frames[order], units[order]


def amplitude_factors(num_spikes: int, params: HybridParameters) -> np.ndarray | None:
    """``generate_hybrid_recording``'s factor per spike: its first draw from ``default_rng(seed)``."""
    if not params.amplitude_std:
        return None
    return np.random.default_rng(params.seed).normal(loc=1, scale=params.amplitude_std, size=num_spikes)


def inject(templates: np.ndarray, nbefore: int, samples, units, amplitudes, num_samples: int,
           channels=None) -> np.ndarray:
    """The templates added at the spikes, on ``channels``: ``InjectTemplatesRecording``'s traces.

    The same arithmetic in the same order (spike by spike, each waveform times its factor in
    float64, then cast to float32 and added), so the result is equal to float32 precision.

    Parameters
    ----------
    templates : array (units, samples, all channels)
    nbefore : int
        Samples before the spike's sample in a template.
    samples, units : arrays
        The spikes, sorted by sample.
    amplitudes : array or None
        A factor per spike.
    num_samples : int
        Length of the traces (from sample 0).
    channels : array of int, optional
        Channel indices drawn (all by default).
    """
    templates = np.asarray(templates)
    if channels is not None:
        templates = templates[:, :, np.asarray(channels, dtype=np.int64)]
    width = templates.shape[1]
    traces = np.zeros((num_samples, templates.shape[2]), dtype=np.float32)
    stop = np.searchsorted(samples, num_samples + width, side="right")
    for i in range(stop):
        begin = int(samples[i]) - nbefore
        end = begin + width
        if begin >= num_samples or end <= 0:
            continue
        first, last = max(0, -begin), width - max(0, end - num_samples)
        waveform = templates[units[i], first:last]
        if amplitudes is not None:
            waveform = waveform * amplitudes[i]
        traces[max(begin, 0):min(end, num_samples)] += waveform.astype(np.float32, copy=False)
    return traces


def nearby_channels(positions: np.ndarray, best_channels) -> np.ndarray:
    """Channels within :data:`NEIGHBOURHOOD_UM` of any best channel, at most :data:`MAX_CHANNELS`,
    nearest first, returned in depth order (then x) so the plot reads like the probe."""
    positions = np.asarray(positions, dtype=np.float64)
    best = np.unique(np.asarray(best_channels, dtype=np.int64))
    distance = np.min(np.linalg.norm(positions[:, None, :] - positions[None, best, :], axis=2), axis=1)
    near = np.flatnonzero(distance <= NEIGHBOURHOOD_UM)
    near = near[np.argsort(distance[near], kind="stable")][:MAX_CHANNELS]
    return near[np.lexsort((positions[near, 0], positions[near, 1]))]


def preview_traces(templates: np.ndarray, nbefore: int, sampling_frequency: float, positions: np.ndarray,
                   params: HybridParameters) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(traces float32 (samples, channels), channels, spike samples, spike units)`` of the preview.

    ``templates`` are one probe group's, in selection order (unit ``k`` is the ``k``-th), as the
    snippet's ``Templates`` holds them; the spikes are those of the whole ``duration_s``.
    """
    templates = np.asarray(templates, dtype=np.float32)
    num_units = len(templates)
    if not 0 < num_units <= MAX_TEMPLATES:
        raise ValueError(f"the preview draws 1 to {MAX_TEMPLATES} templates of one probe group, not {num_units}")
    num_samples = int(round(params.preview_ms / 1000.0 * sampling_frequency))
    samples, units = spike_train(num_units, sampling_frequency, params)
    amplitudes = amplitude_factors(len(samples), params)
    best = np.argmax(np.ptp(templates, axis=1), axis=1)
    channels = nearby_channels(positions, best)
    traces = inject(templates, nbefore, samples, units, amplitudes, num_samples, channels)
    if params.noise_uv > 0:
        # Its own stream (seed, 1): the spikes' stream (seed) stays the snippet's.
        noise = np.random.default_rng([params.seed, 1]).standard_normal(traces.shape, dtype=np.float32)
        traces += noise * np.float32(params.noise_uv)
    return traces, channels, samples, units


def preview(templates: np.ndarray, nbefore: int, sampling_frequency: float, positions: np.ndarray,
            params: HybridParameters) -> dict:
    """The hybrid preview of one probe group's templates (selection order), for the page.

    Returns
    -------
    dict
        ``{"parameters", "sampling_frequency", "channels", "channel_positions", "traces"
        (channels x samples, µV rounded to 0.01), "spikes": [{"sample", "unit"}]}``: the spikes
        within the preview, ``unit`` being the template's place in the group.
    """
    traces, channels, samples, units = preview_traces(templates, nbefore, sampling_frequency, positions, params)
    shown = samples < len(traces)
    return {
        "parameters": params.as_dict(),
        "sampling_frequency": float(sampling_frequency),
        "channels": channels.tolist(),
        "channel_positions": np.asarray(positions)[channels].round(2).tolist(),
        "traces": np.round(traces.T.astype(np.float64), 2).tolist(),
        "spikes": [{"sample": int(s), "unit": int(u)} for s, u in zip(samples[shown], units[shown])],
    }
