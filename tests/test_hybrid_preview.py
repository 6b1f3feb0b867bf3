"""Hybrid preview (templatelib.hybrid_preview) against spikeinterface, in CPython."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import build_library, start_data_server
from templatelib.app import TemplateBrowser
from templatelib.hybrid_preview import (
    MAX_TEMPLATES,
    HybridParameters,
    amplitude_factors,
    default_noise_uv,
    inject,
    nearby_channels,
    preview_traces,
    spike_train,
)

run = asyncio.run
FS = 30_000.0


def random_templates(units=4, samples=240, channels=16, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(samples)[:, None]
    shape = -np.exp(-((t - 90) / 4.0) ** 2) + 0.3 * np.exp(-((t - 110) / 10.0) ** 2)
    gains = rng.uniform(0, 150, (units, 1, channels))
    return (shape[None] * gains + rng.normal(0, 1, (units, samples, channels))).astype(np.float32)


def probe(channels=16):
    from probeinterface import Probe

    positions = np.column_stack([np.tile([0.0, 32.0], channels // 2), np.repeat(np.arange(channels // 2) * 20.0, 2)])
    result = Probe(ndim=2, si_units="um")
    result.set_contacts(positions=positions, shapes="circle", shape_params={"radius": 6})
    result.set_device_channel_indices(np.arange(channels))
    return result


@pytest.mark.timeout(120)
@pytest.mark.parametrize("amplitude_std", [None, 0.05])
def test_injection_equals_inject_templates_recording(amplitude_std):
    """Zero noise, the same spike times: the page's traces are InjectTemplatesRecording's."""
    from spikeinterface.core import InjectTemplatesRecording, NumpySorting

    templates = random_templates()
    params = HybridParameters(seed=3, amplitude_std=amplitude_std or 0.0, duration_s=1.0)
    samples, units = spike_train(len(templates), FS, params)
    # Spikes at the very start and end too: the borders clip the templates.
    samples = np.r_[5, samples, int(FS) - 7].astype(np.int64)
    units = np.r_[1, units, 2].astype(np.int64)
    amplitudes = amplitude_factors(len(samples), params)
    sorting = NumpySorting.from_samples_and_labels([samples], [units], FS, unit_ids=np.arange(len(templates)))
    theirs = InjectTemplatesRecording(sorting, templates, nbefore=90, amplitude_factor=amplitudes,
                                      num_samples=[int(FS)]).get_traces(0, 0, int(FS))
    ours = inject(templates, 90, samples, units, amplitudes, int(FS))
    assert ours.dtype == theirs.dtype == np.float32
    np.testing.assert_array_equal(ours, theirs)
    # On a subset of channels, the same columns.
    channels = np.array([3, 0, 7])
    np.testing.assert_array_equal(inject(templates, 90, samples, units, amplitudes, 3000, channels),
                                  theirs[:3000, channels])


@pytest.mark.timeout(180)
def test_spikes_and_traces_are_generate_hybrid_recordings():
    """The snippet's call on a zero-noise recording: its spikes, amplitudes and first 100 ms."""
    from spikeinterface.core import Templates
    from spikeinterface.generation import NoiseGeneratorRecording, generate_hybrid_recording

    templates_array = random_templates(units=5)
    params = HybridParameters(seed=11, noise_uv=0.0, duration_s=3.0)
    templates = Templates(templates_array=templates_array, sampling_frequency=FS, nbefore=90, probe=probe(),
                          is_in_uV=True)
    recording = NoiseGeneratorRecording(num_channels=16, sampling_frequency=FS, durations=[params.duration_s],
                                        noise_levels=0.0, dtype="float32", seed=params.seed)
    recording.set_probe(templates.probe, in_place=True)
    hybrid, sorting = generate_hybrid_recording(
        recording, templates=templates, amplitude_std=params.amplitude_std,
        generate_sorting_kwargs=dict(firing_rates=params.firing_rate_hz,
                                     refractory_period_ms=params.refractory_period_ms),
        seed=params.seed)
    vector = sorting.to_spike_vector()
    samples, units = spike_train(5, FS, params)
    np.testing.assert_array_equal(samples, vector["sample_index"])
    np.testing.assert_array_equal(units, vector["unit_index"])
    assert len(samples) > 5 * 15 * params.duration_s * 0.5  # ~15 Hz per unit
    traces, channels, _, _ = preview_traces(templates_array, 90, FS, probe().contact_positions, params)
    theirs = hybrid.get_traces(start_frame=0, end_frame=len(traces), return_in_uV=False)[:, channels]
    np.testing.assert_allclose(traces, theirs, rtol=0, atol=1e-4 * np.abs(theirs).max())
    assert np.abs(traces).max() > 10  # spikes were injected


def test_noise_has_the_level_asked_and_the_seed_decides():
    templates = random_templates()
    positions = probe().contact_positions
    quiet, channels, _, _ = preview_traces(templates, 90, FS, positions, HybridParameters(seed=1, noise_uv=0.0))
    noisy, _, _, _ = preview_traces(templates, 90, FS, positions, HybridParameters(seed=1, noise_uv=8.0))
    assert np.std(noisy - quiet) == pytest.approx(8.0, rel=0.05)
    again, _, _, _ = preview_traces(templates, 90, FS, positions, HybridParameters(seed=1, noise_uv=8.0))
    other, _, _, _ = preview_traces(templates, 90, FS, positions, HybridParameters(seed=2, noise_uv=8.0))
    np.testing.assert_array_equal(noisy, again)
    assert not np.array_equal(noisy, other)
    assert quiet.shape == (3000, len(channels))


def test_channels_are_around_the_best_channels():
    positions = probe(64).contact_positions
    channels = nearby_channels(positions, [10, 11])
    distance = np.min(np.linalg.norm(positions[channels][:, None] - positions[[10, 11]][None], axis=2), axis=1)
    assert set([10, 11]) <= set(channels.tolist()) and (distance <= 50).all()
    far = np.setdiff1d(np.arange(64), channels)
    assert (np.min(np.linalg.norm(positions[far][:, None] - positions[[10, 11]][None], axis=2), axis=1) > 50).all()
    assert np.all(np.diff(positions[channels, 1]) >= 0)  # depth order
    assert len(nearby_channels(np.zeros((500, 2)), [0])) == 32  # bounded


def test_default_noise_is_the_median():
    assert default_noise_uv([5.0, 7.0, np.nan, 100.0, -1.0, np.inf]) == 7.0
    assert default_noise_uv([]) == 10.0


@pytest.mark.parametrize("kwargs, words", [
    (dict(seed=-1), "seed"), (dict(seed=2**40), "seed"), (dict(seed="7"), "seed"), (dict(seed=True), "seed"),
    (dict(seed=1.5), "seed"), (dict(noise_uv=-1), "noise"), (dict(noise_uv=float("nan")), "noise"),
    (dict(noise_uv=1e9), "noise"), (dict(noise_uv="5"), "noise"), (dict(preview_ms=0), "lasts"),
    (dict(preview_ms=1e7), "lasts"), (dict(preview_ms=float("inf")), "lasts"),
])
def test_hostile_parameters_are_refused_in_words(kwargs, words):
    with pytest.raises(ValueError, match=words):
        HybridParameters.checked(**kwargs)


@pytest.fixture(scope="module")
def hybrid_library(tmp_path_factory):
    return build_library(tmp_path_factory.mktemp("hybrid") / "lib", datasets=2, units=5, seed=7, compressor="zlib")


@pytest.mark.timeout(600)
def test_page_preview_is_the_start_of_the_snippets_hybrid_recording(hybrid_library, tmp_path):
    """End to end: the worker's preview (zero noise) equals the first 100 ms of the recording the
    snippet builds with the same parameters, run as a user would, on the channels drawn."""
    with start_data_server(hybrid_library.path) as server:
        browser = TemplateBrowser(server.url + "/")
        run(browser.load())
        groups = browser.basket_groups(list(browser.columns["template_id"].values()[:7]))
        ids = groups[0]["template_ids"][:4]
        answer = run(browser.hybrid_preview(ids, noise_uv=0.0, seed=5))
        noise = np.asarray(browser.columns["noise_level_uv"])
        default = run(browser.hybrid_preview(ids))
        assert default["parameters"]["noise_uv"] == round(float(np.median(noise[np.isfinite(noise)])), 1)
        assert answer["template_ids"] == ids and answer["parameters"]["seed"] == 5
        code = browser.snippet(ids, noise_uv=0.0, seed=5)
        assert "seed=5," in code and "noise_levels=0.0," in code
        out = tmp_path / "traces.npy"
        n = len(answer["traces"][0])
        code += f"\nnp.save({str(out)!r}, hybrid_recording.get_traces(start_frame=0, end_frame={n}))\n"
        script = tmp_path / "snippet.py"
        script.write_text(code)
        result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=500,
                                cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    theirs = np.load(out)[:, answer["channels"]].T
    np.testing.assert_allclose(np.array(answer["traces"]), theirs, rtol=0, atol=0.006)  # the page rounds to 0.01
    assert np.abs(theirs).max() > 5 and answer["spikes"]


def test_page_preview_refuses_in_words(hybrid_library):
    with start_data_server(hybrid_library.path) as server:
        browser = TemplateBrowser(server.url + "/")
        run(browser.load())
        ids = list(browser.columns["template_id"].values())
        for args, words in [
            (dict(template_ids=[]), "select templates first"),
            (dict(template_ids=ids[:2], group=3), "not one"),
            (dict(template_ids=ids[:2], group="0"), "not one"),
            (dict(template_ids=ids[:2], seed=-4), "seed"),
            (dict(template_ids=ids[:2], noise_uv=[1]), "noise"),
        ]:
            with pytest.raises(ValueError, match=words):
                run(browser.hybrid_preview(**args))
        assert MAX_TEMPLATES < 100


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_pyodide_draws_the_same_spikes_traces_and_own_waveform(tmp_path):
    """The page's numpy (the offline bundle's) gives the spikes, amplitudes, traces and own-waveform
    preview that CPython's numpy gives, so the CPython checks against spikeinterface hold there."""
    from generator.bundle import assemble as pb
    from templatelib.own_waveform import read_waveform

    bundle = pb.ensure_bundle(pb.DEFAULT_DEST)
    templates, positions = random_templates(units=6, channels=16, seed=4), probe().contact_positions
    np.savez(tmp_path / "case.npz", templates=templates, positions=positions)
    t = np.arange(384) / 48_000 - 0.003
    waveform = np.column_stack([-80 * np.exp(-(t / 0.0002) ** 2), 30 * np.sin(2e3 * t)])
    np.save(tmp_path / "waveform.npy", waveform)
    node_script = Path(__file__).parent / "node" / "find_by_example.mjs"
    completed = subprocess.run(["node", str(node_script), str(bundle), str(Path(__file__).parents[1] / "site_src"),
                                str(tmp_path)], capture_output=True, text=True, timeout=280)
    assert completed.returncode == 0, completed.stderr[-3000:]
    (line,) = [x for x in completed.stdout.splitlines() if x.startswith("RESULT ")]
    theirs = json.loads(line[len("RESULT "):])
    params = HybridParameters(seed=9, noise_uv=6.0)
    traces, channels, samples, units = preview_traces(templates, 90, FS, positions, params)
    assert theirs["samples"] == samples.tolist() and theirs["units"] == units.tolist()
    np.testing.assert_allclose(theirs["amplitudes"], amplitude_factors(len(samples), params), rtol=1e-12)
    assert theirs["channels"] == channels.tolist()
    np.testing.assert_allclose(np.array(theirs["traces"], dtype=np.float32), traces, rtol=1e-5, atol=1e-4)
    own = read_waveform((tmp_path / "waveform.npy").read_bytes(), "waveform.npy", 48_000)
    assert theirs["own_steps"] == own["preview"]["steps"]
    print(f"Pyodide numpy {theirs['numpy']}: hybrid preview computed in {theirs['preview_ms']:.0f} ms")
