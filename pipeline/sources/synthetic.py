"""Synthetic source: a realistic demo library, the project's embedded default.

Real probe geometry (probeinterface's Neuropixels 1.0 and an NP-Ultra-like UHD probe), templates
from ``spikeinterface.generation.generate_templates`` at 30 kHz with nbefore=90 and 240 samples,
brain areas laid out by depth along each probe, log-normal amplitudes and spike counts, and
per-channel noise levels. Some datasets reproduce the live bucket's quirks (see ``QUIRKS``) so
every reader is tested against them. Deterministic for a seed.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from templatelib import format as fmt

from ..dataset_writer import UnitMetadata, WriteOptions, write_dataset
from ..storage import LibraryStorage
from .probes import IMEC, NP1, NP_ULTRA, ProbeInfo, neuropixels_probe

SAMPLING_FREQUENCY = 30_000.0
#: The library's template window (90 + 150 samples) in ms at 30 kHz: 3 ms and 5 ms.
MS_BEFORE = fmt.TEMPLATE_NBEFORE / SAMPLING_FREQUENCY * 1000.0
MS_AFTER = (fmt.TEMPLATE_SAMPLES - fmt.TEMPLATE_NBEFORE) / SAMPLING_FREQUENCY * 1000.0
NUM_CHANNELS = 384

#: Allen CCF acronyms met along typical IBL insertions, cortex to midbrain.
TRACKS = (
    ("VISa5", "VISa6a", "CA1", "DG-mo", "LP", "PO", "VPM"),
    ("MOs2/3", "MOs5", "MOs6a", "ACB", "CP"),
    ("SSp-bfd4", "SSp-bfd5", "CA1", "CA3", "DG-sg", "LGd-sh"),
    ("RSPagl5", "RSPd6a", "CA1", "APN", "MRN", "SCm"),
    ("VISp2/3", "VISp4", "VISp5", "VISp6a", "CA1", "DG-mo", "LGd-co"),
    ("ORBl5", "ORBl6a", "CP", "GPe", "VAL"),
)
ULTRA_AREAS = ("VISp5", "VISp6a", "CA1", "SCs", "MOp5")


@dataclass(frozen=True)
class SyntheticPlan:
    """One dataset to generate: its name, probe kind and which live quirks it carries."""

    name: str
    probe_kind: str  # "np1" or "ultra"
    legacy_is_scaled: bool = False
    fixed_width_brain_area: bool = False


def plan_library(num_datasets: int, rng: np.random.Generator) -> list[SyntheticPlan]:
    """Names and quirks of the datasets: the last one is NP-Ultra-like (no noise levels).

    Dataset 0 carries a literal ``+`` in its name (as IBL's NWB stems do), dataset 1 the
    legacy ``is_scaled`` attribute, the NP-Ultra one a fixed-width ``brain_area``.
    """
    plans = []
    num_ultra = 1 if num_datasets >= 2 else 0
    for i in range(num_datasets - num_ultra):
        session = uuid.UUID(bytes=rng.bytes(16), version=4)
        suffix = "_behavior+ecephys+image" if i == 0 else "_ecephys"
        name = f"synthetic_sub-SYN{i:02d}_ses-{session}{suffix}_probe0{i % 2}"
        plans.append(SyntheticPlan(name, "np1", legacy_is_scaled=(i == 1)))
    for i in range(num_ultra):
        plans.append(SyntheticPlan(f"synthetic_np_ultra_{i}", "ultra", fixed_width_brain_area=True))
    return plans


def make_probe(kind: str):
    """The first 384 contacts of a real Neuropixels geometry, annotated like the live bucket."""
    part_number, model_name = {"np1": ("NP1000", NP1), "ultra": ("NP1110", NP_ULTRA)}[kind]
    return neuropixels_probe(part_number, ProbeInfo(model_name, IMEC), NUM_CHANNELS)


def _areas_by_depth(depths: np.ndarray, areas: tuple[str, ...], span: tuple[float, float]) -> list[str]:
    # The probe tip (y=0) sits deepest: the track's last area is at the bottom.
    edges = np.linspace(span[0], span[1], len(areas) + 1)
    band = np.clip(np.searchsorted(edges, depths, side="right") - 1, 0, len(areas) - 1)
    return [areas[len(areas) - 1 - b] for b in band]


def synthesize_dataset(plan: SyntheticPlan, num_units: int, seed: int):
    """Templates and metadata of one synthetic dataset.

    Returns
    -------
    templates : spikeinterface.core.Templates
    meta : UnitMetadata
    """
    from spikeinterface.core import Templates
    from spikeinterface.core.generate import generate_templates

    rng = np.random.default_rng(seed)
    probe = make_probe(plan.probe_kind)
    positions = probe.contact_positions
    span = (float(positions[:, 1].min()), float(positions[:, 1].max()))
    x_mid = float(positions[:, 0].mean())
    units_locations = np.column_stack(
        [
            rng.normal(x_mid, 12.0, num_units),
            rng.uniform(span[0] + 20, span[1] - 20, num_units),
            rng.uniform(15.0, 70.0, num_units),
        ]
    )
    templates_array = generate_templates(
        positions, units_locations, SAMPLING_FREQUENCY, MS_BEFORE, MS_AFTER, seed=seed, dtype="float32"
    )
    # generate_templates fixes the shape, not a plausible scale: set each unit's peak-to-peak
    # on its best channel to a log-normal amplitude (median ~110 uV, as in IBL recordings).
    target = np.clip(rng.lognormal(np.log(110.0), 0.55, num_units), 25.0, 900.0)
    ptp = np.ptp(templates_array, axis=1).max(axis=1)
    templates_array = (templates_array * (target / ptp)[:, None, None]).astype("float32")
    if templates_array.shape[1] != fmt.TEMPLATE_SAMPLES:
        raise RuntimeError(f"generate_templates gave {templates_array.shape[1]} samples, not {fmt.TEMPLATE_SAMPLES}")

    unit_ids = np.sort(rng.choice(np.arange(2 * num_units + 50), size=num_units, replace=False)).astype("int64")
    templates = Templates(
        templates_array=templates_array,
        sampling_frequency=SAMPLING_FREQUENCY,
        nbefore=fmt.TEMPLATE_NBEFORE,
        channel_ids=np.arange(NUM_CHANNELS, dtype="int64"),
        unit_ids=unit_ids,
        probe=probe,
        is_in_uV=True,
    )
    if plan.probe_kind == "ultra":
        areas = _areas_by_depth(units_locations[:, 1], ULTRA_AREAS[: 2 + seed % 3], span)
        noise = None  # NP-Ultra templates come without raw data: no noise levels, NaN SNR.
    else:
        areas = _areas_by_depth(units_locations[:, 1], TRACKS[seed % len(TRACKS)], span)
        noise = np.clip(rng.normal(6.5, 1.2, NUM_CHANNELS), 3.0, None).astype("float32")
    spikes = np.clip(rng.lognormal(np.log(1500), 1.1, num_units), 50, 60_000).astype("uint32")
    return templates, UnitMetadata(brain_area=areas, spikes_per_unit=spikes, channel_noise_levels=noise)


def synthetic_provenance(seed: int) -> dict:
    """The ``provenance`` root attribute of a synthetic dataset (see pipeline/provenance.py)."""
    return {"source": "synthetic", "generator": __name__, "seed": int(seed)}


def write_synthetic_library(
    storage: LibraryStorage,
    num_datasets: int = 8,
    num_units: int = 50,
    seed: int = 0,
    compressor: str = "blosc",
    overwrite: bool = False,
) -> list[str]:
    """Write ``num_datasets`` synthetic datasets of ``num_units`` units each.

    Returns
    -------
    list of str
        The dataset keys written, in order.
    """
    if num_datasets < 1 or num_units < 1:
        raise ValueError("need at least one dataset and one unit")
    plans = plan_library(num_datasets, np.random.default_rng(seed))
    written = []
    for index, plan in enumerate(tqdm(plans, desc="synthetic datasets", unit="dataset")):
        dataset_seed = seed * 1000 + index
        templates, meta = synthesize_dataset(plan, num_units, seed=dataset_seed)
        options = WriteOptions(
            compressor=compressor,
            legacy_is_scaled=plan.legacy_is_scaled,
            fixed_width_brain_area=plan.fixed_width_brain_area,
            extra_attrs={"provenance": synthetic_provenance(dataset_seed)},
        )
        written.append(write_dataset(storage, plan.name, templates, meta, options, overwrite=overwrite))
    return written
