"""Neuropixels Ultra templates (Steinmetz & Ye 2022, figshare 19493588 v2) -> datasets of 100 units.

The published file set ("NPUltraWaveforms", ALF naming: rows of ``clusters.*`` are cluster IDs
0..N-1, rows of ``channels.*`` are channels) is read from one folder. Required files:

``clusters.waveforms.npy``
    Mean waveform of every cluster, ``(clusters, samples, channels)`` float, in uV: 82 samples
    at 30 kHz with the trough at sample 40 (``(-40:41)/30`` ms), 384 channels.
``spikes.clusters.npy``
    The cluster of every spike; the spike count of a unit is its number of occurrences.
``clusters.acronym.tsv``
    Tab-separated, one row per cluster, brain area in the ``acronym`` column.
``channels.xcoords.npy``, ``channels.ycoords.npy``
    Contact positions in um, ``(channels,)`` or ``(channels, 1)``: 8 columns x 48 rows at 6 um.

(``spikes.times.npy`` is part of the set too but not needed.)

The original upload kept units with at least 50 spikes; so does this source. Templates are
placed so that the trough lands on sample 90 of 240 (the library's ``nbefore``): 50 samples are
added before and 108 after. Each waveform's first and last ``taper`` samples are multiplied by a
half cosine first, so the padding joins it without a step. Units, sorted by cluster ID, go into
datasets of 100 named ``steinmetz_ye_np_ultra_2022_figshare19493588v2_<i>`` (``i`` from 0),
probe ``Neuropixels Ultra`` by ``IMEC``, without noise levels (no raw data was published).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from templatelib import format as fmt
from templatelib.citations import NP_ULTRA_DOI

from ..dataset_writer import UnitMetadata, WriteOptions, write_dataset
from ..storage import LibraryStorage
from .errors import SourceError
from .probes import IMEC, NP_ULTRA, ProbeInfo, contact_probe

WAVEFORMS_FILE = "clusters.waveforms.npy"
SPIKE_CLUSTERS_FILE = "spikes.clusters.npy"
ACRONYM_FILE = "clusters.acronym.tsv"
X_FILE = "channels.xcoords.npy"
Y_FILE = "channels.ycoords.npy"
REQUIRED_FILES = (WAVEFORMS_FILE, SPIKE_CLUSTERS_FILE, ACRONYM_FILE, X_FILE, Y_FILE)

DATASET_PREFIX = "steinmetz_ye_np_ultra_2022_figshare19493588v2"
SAMPLING_FREQUENCY = 30_000.0
SOURCE_NBEFORE = 40
UNITS_PER_DATASET = 100
DEFAULT_MIN_SPIKES = 50
DEFAULT_TAPER = 10
PROBE_MODEL = NP_ULTRA
MANUFACTURER = IMEC


@dataclass
class UltraUnits:
    """The published units that pass the spike minimum, in cluster ID order.

    Attributes
    ----------
    unit_ids : np.ndarray
        Cluster IDs.
    waveforms : np.ndarray
        ``(units, samples, channels)`` as published.
    spikes_per_unit : np.ndarray
        Spikes of each unit in ``spikes.clusters.npy``.
    brain_area : list of str
        ``acronym`` of each unit.
    positions : np.ndarray
        ``(channels, 2)`` contact positions in um.
    """

    unit_ids: np.ndarray
    waveforms: np.ndarray
    spikes_per_unit: np.ndarray
    brain_area: list
    positions: np.ndarray


def check_files(folder: Path) -> None:
    """Refuse a folder that lacks any of :data:`REQUIRED_FILES`, naming every missing one."""
    if not folder.is_dir():
        raise SourceError(f"{folder}: no such folder (expected the NP-Ultra file set: {', '.join(REQUIRED_FILES)})")
    missing = [name for name in REQUIRED_FILES if not (folder / name).is_file()]
    if missing:
        raise SourceError(
            f"{folder} is not the NP-Ultra file set of figshare 19493588 v2: missing {', '.join(missing)} "
            f"(expected {', '.join(REQUIRED_FILES)})"
        )


def _load_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError) as error:
        raise SourceError(f"{path}: not a readable .npy array ({error})") from error


def read_positions(folder: Path) -> np.ndarray:
    """``(channels, 2)`` contact positions from the x and y coordinate files."""
    x = _load_npy(folder / X_FILE).reshape(-1)
    y = _load_npy(folder / Y_FILE).reshape(-1)
    if x.shape != y.shape:
        raise SourceError(f"{X_FILE} has {x.size} channels but {Y_FILE} has {y.size}")
    return np.column_stack([x, y]).astype("float64")


def read_acronyms(folder: Path, num_clusters: int) -> list[str]:
    """One brain area per cluster from ``clusters.acronym.tsv``."""
    table = pd.read_csv(folder / ACRONYM_FILE, sep="\t", keep_default_na=False)
    if "acronym" not in table.columns:
        raise SourceError(f"{folder / ACRONYM_FILE} has no 'acronym' column (columns: {', '.join(table.columns)})")
    if len(table) != num_clusters:
        raise SourceError(f"{ACRONYM_FILE} has {len(table)} rows but {WAVEFORMS_FILE} has {num_clusters} clusters")
    return [str(a) for a in table["acronym"]]


def read_units(folder, min_spikes: int = DEFAULT_MIN_SPIKES) -> UltraUnits:
    """The published units with at least ``min_spikes`` spikes.

    Raises
    ------
    SourceError
        When a file is missing, or shapes disagree, or no unit is left.
    """
    folder = Path(folder)
    check_files(folder)
    waveforms = _load_npy(folder / WAVEFORMS_FILE)
    if waveforms.ndim != 3:
        raise SourceError(f"{WAVEFORMS_FILE} has shape {waveforms.shape}, expected (clusters, samples, channels)")
    positions = read_positions(folder)
    if len(positions) != waveforms.shape[2]:
        raise SourceError(f"{WAVEFORMS_FILE} has {waveforms.shape[2]} channels but the coordinates have {len(positions)}")
    spike_clusters = _load_npy(folder / SPIKE_CLUSTERS_FILE).reshape(-1).astype("int64")
    if spike_clusters.size and (spike_clusters.min() < 0 or spike_clusters.max() >= waveforms.shape[0]):
        raise SourceError(f"{SPIKE_CLUSTERS_FILE} names clusters outside 0..{waveforms.shape[0] - 1}")
    counts = np.bincount(spike_clusters, minlength=waveforms.shape[0])
    areas = read_acronyms(folder, waveforms.shape[0])
    keep = np.flatnonzero(counts >= min_spikes)
    if keep.size == 0:
        raise SourceError(f"no cluster in {folder} has at least {min_spikes} spikes")
    return UltraUnits(
        unit_ids=keep.astype("int64"),
        waveforms=waveforms[keep],
        spikes_per_unit=counts[keep].astype("uint32"),
        brain_area=[areas[i] for i in keep],
        positions=positions,
    )


def edge_taper(num_samples: int, taper: int) -> np.ndarray:
    """Weights that rise from ~0 to 1 over ``taper`` samples (half cosine) at both ends."""
    weights = np.ones(num_samples)
    taper = min(taper, num_samples // 2)
    if taper > 0:
        ramp = 0.5 * (1.0 - np.cos(np.pi * (np.arange(taper) + 0.5) / taper))
        weights[:taper] = ramp
        weights[num_samples - taper:] = ramp[::-1]
    return weights


def pad_templates(waveforms: np.ndarray, source_nbefore: int = SOURCE_NBEFORE, taper: int = DEFAULT_TAPER) -> np.ndarray:
    """Tapered waveforms placed in 240 samples with the spike on sample 90.

    Samples that would fall outside the 240 are cut (the published 82 all fit).
    """
    num_units, num_samples, num_channels = waveforms.shape
    tapered = waveforms.astype("float32") * edge_taper(num_samples, taper)[None, :, None].astype("float32")
    shift = fmt.TEMPLATE_NBEFORE - source_nbefore
    first, last = max(0, -shift), min(num_samples, fmt.TEMPLATE_SAMPLES - shift)
    if first >= last:
        raise SourceError(f"a waveform of {num_samples} samples with nbefore={source_nbefore} does not overlap the "
                          f"{fmt.TEMPLATE_SAMPLES}-sample template window")
    padded = np.zeros((num_units, fmt.TEMPLATE_SAMPLES, num_channels), dtype="float32")
    padded[:, first + shift:last + shift, :] = tapered[:, first:last, :]
    return padded


def ultra_probe(positions: np.ndarray):
    """The NP-Ultra probe: 5 um square contacts at the published positions, channel ``i`` = contact ``i``."""
    return contact_probe(positions, ProbeInfo(PROBE_MODEL, MANUFACTURER))


#: The ``provenance`` root attribute of every NP-Ultra dataset (see pipeline/provenance.py).
PROVENANCE = {"source": "np_ultra", "doi": NP_ULTRA_DOI}


def with_provenance(write_options: WriteOptions | None) -> WriteOptions:
    """``write_options`` (or the defaults) plus the ``provenance`` root attribute."""
    base = write_options or WriteOptions()
    return dataclasses.replace(base, extra_attrs={**base.extra_attrs, "provenance": dict(PROVENANCE)})


def dataset_name(index: int) -> str:
    """Name of the ``index``-th dataset (0-based)."""
    return f"{DATASET_PREFIX}_{index}"


def _chunks(count: int, size: int) -> list[slice]:
    return [slice(start, min(start + size, count)) for start in range(0, count, size)]


@dataclass
class UltraResult:
    """What :func:`write_np_ultra` did: dataset keys written and skipped, units in all."""

    written: list
    skipped: list
    units: int

    def summary(self) -> str:
        return (f"NP-Ultra: {self.units} units in {len(self.written) + len(self.skipped)} datasets "
                f"({len(self.written)} written, {len(self.skipped)} already complete)")


def write_np_ultra(
    folder,
    storage: LibraryStorage,
    units_per_dataset: int = UNITS_PER_DATASET,
    min_spikes: int = DEFAULT_MIN_SPIKES,
    source_nbefore: int = SOURCE_NBEFORE,
    taper: int = DEFAULT_TAPER,
    overwrite: bool = False,
    write_options: WriteOptions | None = None,
    progress: bool = True,
) -> UltraResult:
    """Write the NP-Ultra units of ``folder`` as datasets of ``units_per_dataset`` units.

    Parameters
    ----------
    folder : path-like
        The figshare file set (see the module docstring).
    storage : LibraryStorage
        Library root.
    units_per_dataset : int
        Units per dataset; the last one holds the remainder.
    min_spikes : int
        Units with fewer spikes are left out.
    source_nbefore : int
        Sample of the spike in the published waveforms.
    taper : int
        Samples tapered at each end before padding.
    overwrite : bool
        Rewrite datasets that are already complete (otherwise they are skipped).
    write_options : WriteOptions, optional
        Encoding of the datasets.
    progress : bool
        Show a progress bar.

    Returns
    -------
    UltraResult
    """
    from spikeinterface.core import Templates

    if units_per_dataset < 1:
        raise SourceError("units per dataset must be at least 1")
    units = read_units(folder, min_spikes)
    templates_array = pad_templates(units.waveforms, source_nbefore, taper)
    probe = ultra_probe(units.positions)
    channel_ids = np.arange(len(units.positions), dtype="int64")
    written, skipped = [], []
    chunks = _chunks(len(units.unit_ids), units_per_dataset)
    storage.make_root()
    for index, part in enumerate(tqdm(chunks, desc="NP-Ultra datasets", unit="dataset", disable=not progress)):
        name = dataset_name(index)
        if storage.is_complete(name) and not overwrite:
            skipped.append(fmt.dataset_key(name))
            continue
        templates = Templates(
            templates_array=templates_array[part], sampling_frequency=SAMPLING_FREQUENCY, nbefore=fmt.TEMPLATE_NBEFORE,
            is_in_uV=True, channel_ids=channel_ids, unit_ids=units.unit_ids[part], probe=probe,
        )
        meta = UnitMetadata(brain_area=units.brain_area[part], spikes_per_unit=units.spikes_per_unit[part])
        written.append(write_dataset(storage, name, templates, meta, with_provenance(write_options),
                                     overwrite=overwrite))
    return UltraResult(written=written, skipped=skipped, units=len(units.unit_ids))
