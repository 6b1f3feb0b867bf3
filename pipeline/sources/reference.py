"""The common reference of the NWB recipe, chosen from the probe's geometry.

A median reference subtracts from every channel, at every sample, the median of a set of
channels. It removes what all channels share (the reference electrode's noise, movement and
licking artefacts), and it is meant to leave units alone: a unit moves only the channels
around it, and the median ignores a minority of channels. That holds when a unit's footprint
is a small share of the reference set. On a long probe (Neuropixels 1.0, 384 channels over
3.84 mm) a unit covers ~6 % of the channels and the global median moves by a fraction of the
noise. On a small or dense probe it does not: on an 8 x 48 patch at 6 um pitch one unit covers
20-90 % of the channels, the median follows the unit, and its spike-triggered part is
subtracted from every channel (templates 5-15 % too small, cosine down to 0.92).

So the reference is chosen by geometry (:func:`plan_reference`):

``global``
    the median of all channels, when the channels within :data:`FOOTPRINT_UM` of a contact are
    at most :data:`GLOBAL_MAX_SHARE` of the probe (the recipe as the live library was built);
``outside``
    otherwise the probe is cut into bands of :data:`BAND_UM` along its depth, and each band is
    referenced to the median of the channels farther than :data:`FOOTPRINT_UM` from every
    channel of the band. It is spikeinterface's ``common_reference(reference="global",
    groups=bands, ref_channel_ids=outside_sets)``: one median per band, not one per channel (a
    ``"local"`` annulus median is one per channel, ~100x the cost on 384 channels). This is
    unbiased only when each band's reference channels are also out of reach of the units the band
    sees, which can be up to :data:`FOOTPRINT_UM` beyond it: every band has
    :data:`MIN_REFERENCE_CHANNELS` channels farther than twice :data:`FOOTPRINT_UM` (probes
    longer than ~500 um: 2-column probes, 64 contacts of a Neuropixels 1.0);
``unit``
    on shorter probes (an NP-Ultra patch, 282 um) the same bands and reference sets, but applied
    per unit instead of per channel: every channel of a unit's template is referenced to the set
    of the band holding the unit's best channel, so the reference channels are more than
    :data:`FOOTPRINT_UM` from the unit itself (:func:`~pipeline.sources.recipe.compute_referenced_templates`).
    Per channel, a band's set was only 100 um from the band: on the 282 um patch it lay 60-80 um
    from a unit next to the band, and a broad unit (exponential decay of ~40 um: still 28 % of its
    peak at 60-80 um, 10 % at 100-120 um) lost that share of its signal on the band's channels
    (worst cosine 0.9855 over 60 um on ``tests/test_dense_probes.py``; 0.944 and -4.6 % with the
    global median; 0.992 and +1.3 % per unit). Noise levels, a MAD over time that spike-locked
    leaks do not move, are measured on the traces referenced band by band, as ``outside``;
``none``
    when some band has fewer than :data:`MIN_REFERENCE_CHANNELS` channels outside the footprint
    (a probe shorter than about twice the footprint): no reference. Common-mode noise then stays
    in the traces; it averages out of templates but is counted in the noise levels.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: Distance (um) from a contact beyond which a unit seen on that contact is taken to be
#: negligible: the footprint of spikeinterface's generated units (exponential decay, 20-40 um
#: constant) is under ~10 % of their peak there, and the median of many such channels less still.
FOOTPRINT_UM = 100.0
#: The global median is kept while a footprint holds at most this share of the channels: its
#: bias is then at most ~1.25 x share x noise (a few tenths of a uV), whatever the unit's size.
GLOBAL_MAX_SHARE = 0.10
#: Height (um) of the bands that share one reference: each band costs one median per sample,
#: so 80 um bands on an 8 x 48 patch cost about one global median (4 bands of ~100 channels).
BAND_UM = 80.0
#: Fewest channels a band's reference may be the median of.
MIN_REFERENCE_CHANNELS = 8


@dataclass(frozen=True)
class ReferencePlan:
    """The reference :func:`plan_reference` chose, and why.

    Attributes
    ----------
    kind : str
        ``"global"``, ``"outside"``, ``"unit"`` or ``"none"``.
    footprint_share : float
        Median share of the channels within :data:`FOOTPRINT_UM` of a contact.
    groups : list of numpy.ndarray
        For ``"outside"`` and ``"unit"``: channel indices of each band.
    references : list of numpy.ndarray
        For ``"outside"`` and ``"unit"``: indices of the channels each band (``"outside"``), or
        each unit whose best channel is in the band (``"unit"``), is referenced to.
    """

    kind: str
    footprint_share: float
    groups: list = field(default_factory=list)
    references: list = field(default_factory=list)

    def describe(self) -> str:
        """One line for logs and reports."""
        share = f"a {FOOTPRINT_UM:g} um footprint holds {self.footprint_share:.0%} of the channels"
        if self.kind in ("outside", "unit"):
            sizes = [len(r) for r in self.references]
            per = "band" if self.kind == "outside" else "unit, by the band of its best channel"
            return (f"median of the channels outside the footprint, per {per}, {len(self.groups)} bands of "
                    f"{BAND_UM:g} um ({min(sizes)}-{max(sizes)} reference channels each); {share}")
        return f"{'global median' if self.kind == 'global' else 'no reference'}; {share}"


def plan_reference(positions) -> ReferencePlan:
    """Choose the reference for contacts at ``positions`` (``(channels, 2)`` um), see the module docstring."""
    positions = np.asarray(positions, dtype=float)[:, :2]
    distances = np.linalg.norm(positions[:, None, :] - positions[None, :, :], axis=2)
    share = float(np.median(np.mean(distances <= FOOTPRINT_UM, axis=1)))
    if share <= GLOBAL_MAX_SHARE:
        return ReferencePlan("global", share)
    depth = positions[:, 1]
    band_of = np.floor((depth - depth.min()) / BAND_UM).astype(int)
    groups, references, out_of_reach = [], [], True
    for band in np.unique(band_of):
        members = np.flatnonzero(band_of == band)
        nearest = distances[members].min(axis=0)
        outside = np.flatnonzero(nearest > FOOTPRINT_UM)
        if len(outside) < MIN_REFERENCE_CHANNELS:
            return ReferencePlan("none", share)
        out_of_reach &= int(np.sum(nearest > 2 * FOOTPRINT_UM)) >= MIN_REFERENCE_CHANNELS
        groups.append(members)
        references.append(outside)
    return ReferencePlan("outside" if out_of_reach else "unit", share, groups, references)


def apply_reference(recording, plan: ReferencePlan):
    """``recording`` referenced as ``plan`` says, with spikeinterface's ``common_reference``.

    A ``"unit"`` plan references the traces band by band, as ``"outside"`` (its templates are
    referenced per unit by :func:`~pipeline.sources.recipe.compute_referenced_templates`).
    """
    from spikeinterface.preprocessing import common_reference

    if plan.kind == "none":
        return recording
    if plan.kind == "global":
        return common_reference(recording, reference="global", operator="median")
    ids = np.asarray(recording.channel_ids)
    return common_reference(
        recording, reference="global", operator="median",
        groups=[list(ids[g]) for g in plan.groups], ref_channel_ids=[list(ids[r]) for r in plan.references],
    )
