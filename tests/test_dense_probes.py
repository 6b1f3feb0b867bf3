"""Dense and small probes: the reference must not eat the unit, and noise levels stay honest.

Ground truth from spikeinterface's generators (``generate_templates``, ``InjectTemplatesRecording``
over ``NoiseGeneratorRecording``), written as real NWB files (``fixtures_nwb``) and run through
:func:`~pipeline.sources.nwb.nwb_to_dataset`, on two probes with common-mode noise on top of
the independent noise (so leaving the reference out is not free):

- an NP-Ultra-like dense patch, 4 x 48 contacts at 6 um (18 x 282 um: the length of the
  issue's 8 x 48 patch, which sets how much of it a unit covers, at half the channels), eight
  units of 120-300 uV within 10-40 um of the shank, several on the same channels, 12 s;
- a 2-column probe, 64 contacts (2 x 32, 32 um apart, 20 um rows), six units of 150-300 uV, 30 s.

No two spikes overlap (one Poisson train with a dead time of one template, ~12 spikes/s per
unit on the dense patch, ~6 on the other): in seconds-long recordings the overlaps of other
units, not the recipe, would set the worst cosine (0.96-0.97 with or without a reference on
the dense patch in 10 s). Amplitudes start at 120 uV for the same reason: a 90 uV unit 50 um
away spreads thin over the channels within 60 um, and its ~100 spikes leave noise alone at a
cosine of 0.986, whatever the reference.

Recovered templates are compared with the injected ones on the channels within 60 um of each
best channel: worst cosine >= 0.99 and peak-to-peak within 5 % for every unit (issue 18). On
the dense patch the same file is also referenced as the former recipes did, and must fail:
the global median (cosine 0.945, -5.5 %: the median follows a unit that covers most of the
patch) and the median outside each band applied per channel (0.984: a band's reference channels
are 60-80 um from a broad unit next to the band). Noise levels must be the injected
independent noise (plus int16 quantisation and the reference's own noise) within 4 %, also on
the best channels of the largest units, where the 500 ms highpass margin of the former noise
estimate inflated them (checked on the 2-column probe; on the dense patch a unit is in most of the channels
and spikes fill most of the time, so a MAD there counts the units' tails too).
The Neuropixels 1.0 path is ``test_fidelity.py`` (64 channels, referenced outside the
footprint per band) and the plan for a full 384-channel NP 1.0, which keeps the global median.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
import zarr

from fixtures_nwb import GAIN_UV, grid_positions, make_ground_truth, neuropixels_positions, write_ground_truth_nwb
from pipeline.sources.nwb import nwb_to_dataset
from pipeline.storage import LibraryStorage

NEIGHBOURHOOD_UM = 60.0
MIN_COSINE = 0.99
MAX_AMPLITUDE_ERROR = 0.05
MAX_NOISE_ERROR = 0.04
NOISE_UV = 5.0
COMMON_NOISE_UV = 10.0

PROBES = {
    # name: (positions, units, seconds, rate Hz, amplitudes uV, distances um)
    "dense": (grid_positions(4, 48, 6.0, 6.0), 8, 12.0, 50.0, (120.0, 300.0), (10.0, 40.0)),
    "two_column": (grid_positions(2, 32, 32.0, 20.0), 6, 30.0, 8.0, (150.0, 300.0), (10.0, 40.0)),
}


def convert(folder, probe: str):
    """Write the probe's ground truth as NWB and run the NWB source on all of it."""
    positions, units, seconds, rate, amplitudes, distances = PROBES[probe]
    truth = make_ground_truth(folder / f"sub-GT_ses-{probe}_ecephys.nwb", duration_s=seconds, num_units=units,
                              noise_uv=NOISE_UV, firing_rates=[rate] * units, seed=11, positions=positions,
                              amplitude_uv=amplitudes, distance_um=distances, common_noise_uv=COMMON_NOISE_UV,
                              non_overlapping=True)
    write_ground_truth_nwb(truth)
    storage = LibraryStorage(str(folder / "lib"))
    started = time.perf_counter()
    result = nwb_to_dataset(truth.path, storage, minutes=seconds / 60.0, min_spikes=50, progress=False)
    print(f"\n{probe}: {len(positions)} channels, {seconds:g} s, source {time.perf_counter() - started:.1f} s")
    return truth, zarr.open_consolidated(storage.mapper(result.dataset), mode="r")


def fidelity(truth, recovered, unit_ids) -> tuple[list, list]:
    """Cosine (channels within 60 um of the best) and signed peak-to-peak error of every unit."""
    positions = truth.channel_positions
    cosines, errors = [], []
    for index, unit_id in enumerate(unit_ids):
        expected = truth.templates_uv[list(truth.unit_ids).index(unit_id)]
        best = int(np.argmax(np.ptp(expected, axis=0)))
        near = np.linalg.norm(positions - positions[best], axis=1) <= NEIGHBOURHOOD_UM
        a, b = recovered[index][:, near].ravel(), expected[:, near].ravel()
        cosines.append(float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b))))
        errors.append(float(np.ptp(recovered[index][:, best]) / np.ptp(expected[:, best]) - 1.0))
    return cosines, errors


def expected_noise(truth) -> np.ndarray:
    """Per channel: the independent noise, int16 quantisation, and the noise of the reference.

    The common-mode noise is gone; the median of ``n`` reference channels adds its own noise,
    of variance ``pi / 2 * noise^2 / n`` (the variance of a median of Gaussians).
    """
    from pipeline.sources.reference import plan_reference

    plan = plan_reference(truth.channel_positions)
    variance = np.full(len(truth.channel_positions), truth.noise_uv ** 2 + GAIN_UV ** 2 / 12)
    for members, reference in zip(plan.groups, plan.references):
        variance[members] += np.pi / 2 * truth.noise_uv ** 2 / len(reference)
    return np.sqrt(variance)


def summary(cosines, errors) -> str:
    return (f"worst cosine {min(cosines):.4f}, median {np.median(cosines):.4f}; "
            f"worst p2p error {errors[int(np.argmax(np.abs(errors)))] * 100:+.1f} %, median {np.median(errors) * 100:+.1f} %")


def meets_issue(cosines, errors) -> bool:
    return min(cosines) >= MIN_COSINE and max(abs(e) for e in errors) <= MAX_AMPLITUDE_ERROR


def check(truth, group, probe: str) -> np.ndarray:
    cosines, errors = fidelity(truth, group["templates_array"][:], group["unit_ids"][:])
    noise = group["channel_noise_levels"][:]
    best = group["best_channel_index"][:]
    largest = best[np.argsort(np.ptp(truth.templates_uv, axis=1).max(axis=1))[-3:]]
    print(f"{probe}: {summary(cosines, errors)}; "
          f"noise {noise.min():.2f}-{noise.max():.2f} uV (largest units' best channels {noise[largest].max():.2f})")
    assert min(cosines) >= MIN_COSINE, cosines
    assert max(abs(e) for e in errors) <= MAX_AMPLITUDE_ERROR, errors
    return noise


def assert_honest_noise(truth, noise) -> None:
    expected = expected_noise(truth)
    print(f"noise / expected: {np.min(noise / expected):.3f}-{np.max(noise / expected):.3f}")
    assert np.all(np.abs(noise / expected_noise(truth) - 1) <= MAX_NOISE_ERROR), noise


def former_recipes(truth) -> dict:
    """Templates of the ground-truth file referenced as the former recipes did.

    ``global``: the median of all channels; ``per channel``: each band to the median of its
    channels outside the footprint (the plan's bands, applied to channels, not units).
    """
    from spikeinterface.core import NumpySorting
    from spikeinterface.preprocessing import common_reference

    from pipeline.sources.nwb import open_recording
    from pipeline.sources.recipe import compute_templates, preprocess
    from pipeline.sources.reference import plan_reference

    recording = open_recording(truth.path, "acquisition/ElectricalSeriesAp")
    highpassed = preprocess(recording, reference=False)
    sorting = NumpySorting.from_unit_dict([truth.spike_frames], recording.sampling_frequency)
    plan = plan_reference(truth.channel_positions)
    ids = np.asarray(recording.channel_ids)
    referenced = {
        "global": common_reference(highpassed, reference="global", operator="median"),
        "per channel": common_reference(highpassed, reference="global", operator="median",
                                        groups=[list(ids[g]) for g in plan.groups],
                                        ref_channel_ids=[list(ids[r]) for r in plan.references]),
    }
    job = {"n_jobs": 1, "chunk_duration": "5s", "progress_bar": False}
    return {name: (compute_templates(rec, sorting, job), sorting.unit_ids) for name, rec in referenced.items()}


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_dense_patch_templates_and_noise_match_ground_truth(tmp_path):
    truth, group = convert(tmp_path, "dense")
    check(truth, group, "dense")
    # The same file and thresholds fail the former recipes: the test tells them apart.
    for name, (templates, unit_ids) in former_recipes(truth).items():
        cosines, errors = fidelity(truth, templates, unit_ids)
        print(f"dense, former {name} reference: {summary(cosines, errors)}")
        assert not meets_issue(cosines, errors), (name, cosines, errors)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_two_column_probe_templates_and_noise_match_ground_truth(tmp_path):
    truth, group = convert(tmp_path, "two_column")
    assert_honest_noise(truth, check(truth, group, "two_column"))


def test_reference_is_chosen_by_geometry():
    from pipeline.sources.reference import plan_reference

    assert plan_reference(neuropixels_positions(384)).kind == "global"  # NP 1.0: the recipe as it was
    dense = plan_reference(PROBES["dense"][0])
    assert dense.kind == "unit" and dense.footprint_share > 0.5  # too short for a per-channel reference
    assert plan_reference(grid_positions(8, 48, 6.0, 6.0)).kind == "unit"  # the issue's NP-Ultra patch
    for long_probe in (PROBES["two_column"][0], neuropixels_positions(64)):
        assert plan_reference(long_probe).kind == "outside"
    positions = PROBES["dense"][0]
    for members, reference in zip(dense.groups, dense.references):
        distances = np.linalg.norm(positions[members][:, None] - positions[reference][None], axis=2)
        assert distances.min() > 100.0 and len(reference) >= 8
    assert sorted(np.concatenate(dense.groups).tolist()) == list(range(len(positions)))
    assert plan_reference(grid_positions(8, 16, 6.0, 6.0)).kind == "none"  # 90 um: nothing is outside
