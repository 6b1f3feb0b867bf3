"""probeinterface probes for every source, annotated the way the catalogue reads them.

Every dataset's probe has contact ``i`` wired to channel ``i`` and the annotations
``model_name`` and ``manufacturer`` (``probe/annotations`` in the format). Contact shapes follow
the model: Neuropixels Ultra 5 um squares, other Neuropixels 12 um squares, anything else
5 um-radius circles.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

NP_ULTRA = "Neuropixels Ultra"
NP1 = "Neuropixels 1.0"
NP2 = "Neuropixels 2.0"
IMEC = "IMEC"
#: Square contact width (um) by model; other Neuropixels models use NEUROPIXELS_WIDTH_UM.
CONTACT_WIDTH_UM = {NP_ULTRA: 5.0}
NEUROPIXELS_WIDTH_UM = 12.0
#: Radius (um) of the round contacts of probes that are not Neuropixels.
OTHER_RADIUS_UM = 5.0


@dataclass(frozen=True)
class ProbeInfo:
    """The probe annotations the catalogue shows (``model_name``, ``manufacturer``)."""

    model_name: str
    manufacturer: str


_MODEL_PATTERNS = (
    (r"ultra|NP1110", NP_ULTRA),
    (r"NP\s*2|neuropixels\s*2|NP2\d{3}|probe_type\"?\s*:\s*\"?(21|24)\b", NP2),
    (r"NP\s*1\.0|neuropixels\s*1\.0|NP1000|\b3B\d?\b|\b3A\b|probe_type\"?\s*:\s*\"?0\b", NP1),
)


def model_from_text(text: str) -> str | None:
    """A Neuropixels model named in a device description, or None."""
    for pattern, model in _MODEL_PATTERNS:
        if re.search(pattern, text, flags=re.IGNORECASE):
            return model
    return None


def annotate(probe, info: ProbeInfo):
    """Wire contact ``i`` to channel ``i`` and set the catalogue's annotations (replacing any)."""
    probe.set_device_channel_indices(np.arange(probe.get_contact_count()))
    probe.annotations = {"model_name": info.model_name, "manufacturer": info.manufacturer}
    return probe


def contact_probe(positions: np.ndarray, info: ProbeInfo):
    """A planar probe with contacts at ``positions`` (um), shaped by model (module docstring)."""
    from probeinterface import Probe

    probe = Probe(ndim=2, si_units="um")
    if info.model_name in CONTACT_WIDTH_UM:
        probe.set_contacts(positions=positions, shapes="square",
                           shape_params={"width": CONTACT_WIDTH_UM[info.model_name]})
    elif info.model_name.startswith("Neuropixels"):
        probe.set_contacts(positions=positions, shapes="square", shape_params={"width": NEUROPIXELS_WIDTH_UM})
    else:
        probe.set_contacts(positions=positions, shapes="circle", shape_params={"radius": OTHER_RADIUS_UM})
    return annotate(probe, info)


def neuropixels_probe(part_number: str, info: ProbeInfo, num_channels: int):
    """The first ``num_channels`` contacts of probeinterface's geometry for ``part_number``."""
    from probeinterface.neuropixels_tools import build_neuropixels_probe

    probe = build_neuropixels_probe(part_number).get_slice(np.arange(num_channels))
    return annotate(probe, info)
