"""Dataset writer: a spikeinterface ``Templates`` plus per-unit metadata -> one dataset zarr.

The layout is the live bucket's (``docs/format.md``): zarr format 2, one chunk per unit in
``templates_array``, the probe group as probeinterface writes it, consolidated ``.zmetadata``.
The consolidated metadata is written last: a dataset counts as present only once it exists,
so an interrupted write is never listed in the catalogue.
"""

from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass, field

import numpy as np
import zarr
from numcodecs import Blosc, VLenUTF8, Zlib
from zarr.util import json_dumps

from templatelib import format as fmt

from .storage import LibraryStorage

COMPRESSORS = ("blosc", "zlib")


def make_compressor(name: str):
    """The codec for ``name``: Blosc lz4/5/shuffle like the live bucket, or zlib.

    zlib exists because the offline Pyodide bundle used by browser tests cannot decode Blosc
    (no registry has a wasm32 numcodecs: see ``generator/bundle/assemble.py``); the CDN build of
    the page decodes both.
    """
    if name == "blosc":
        return Blosc(cname="lz4", clevel=5, shuffle=Blosc.SHUFFLE)
    if name == "zlib":
        return Zlib(level=5)
    raise ValueError(f"unknown compressor {name!r}: choose one of {', '.join(COMPRESSORS)}")


@dataclass
class UnitMetadata:
    """What the writer needs besides the templates themselves, one entry per unit.

    Parameters
    ----------
    brain_area : sequence of str
        Brain area acronym of each unit.
    spikes_per_unit : sequence of int
        Number of spikes averaged into each template.
    channel_noise_levels : array, optional
        Per-channel noise level in uV (shape ``(num_channels,)``). Absent for sources without
        raw data (NP-Ultra); the catalogue then reports NaN noise and SNR.
    """

    brain_area: list
    spikes_per_unit: list
    channel_noise_levels: np.ndarray | None = None


@dataclass
class WriteOptions:
    """How to encode a dataset, including the live bucket's historical variants.

    Parameters
    ----------
    compressor : {"blosc", "zlib"}
        Codec of every array.
    legacy_is_scaled : bool
        Write the pre-0.103 ``is_scaled`` attribute instead of ``is_in_uV``.
    fixed_width_brain_area : bool
        Store ``brain_area`` as fixed-width ``<U`` (as a live maintenance script did)
        instead of object + ``vlen-utf8``.
    dimension_separator : {".", "/"}
        Chunk key separator. New datasets use the live bucket's ``.``; an in-place rewrite
        (``pipeline.maintenance``) switches to the other one so that the new chunks never
        overwrite chunks a reader of the old metadata may still fetch.
    unit_chunk_length : int, optional
        Chunk length of the per-unit 1-D arrays (``unit_ids``, ``brain_area``,
        ``spikes_per_unit``, ``best_channel_index``); default: zarr's choice (one chunk). An
        in-place rewrite makes it longer than the previous generation's, so a reader of the old
        metadata cannot decode the new chunk (it fails instead of reading new values).
    extra_attrs : dict
        More root attributes, written as given.
    """

    compressor: str = "blosc"
    legacy_is_scaled: bool = False
    fixed_width_brain_area: bool = False
    dimension_separator: str = "."
    unit_chunk_length: int | None = None
    extra_attrs: dict = field(default_factory=dict)


class DatasetExistsError(FileExistsError):
    """Raised when a complete dataset is in the way and overwriting was not asked for."""


def best_channels(templates_array: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Peak-to-peak per unit and channel, and the channel where it is largest."""
    peak_to_peak = np.ptp(templates_array, axis=1)
    return peak_to_peak, np.argmax(peak_to_peak, axis=1)


def write_probe_group(group: zarr.Group, probe, compressor) -> None:
    """Serialise ``probe`` exactly as ``Probe.add_probe_to_zarr_group`` does, with our codec.

    probeinterface's own method always uses zarr's default codec (Blosc); the offline browser
    bundle cannot decode Blosc, so the zlib variant of the library needs the codec chosen here.
    ``Probe.from_zarr_group`` reads both.
    """
    probe_arr = probe.to_numpy(complete=True)
    for name, (dtype, _offset) in probe_arr.dtype.fields.items():
        group.create_dataset(name=name, data=probe_arr[name], dtype=dtype, chunks=False, compressor=compressor)
    annotations = group.create_group("annotations")
    for key, value in probe.annotations.items():
        annotations.attrs[key] = value
    if probe.probe_planar_contour is not None:
        group.create_dataset(
            name="probe_planar_contour",
            data=probe.probe_planar_contour,
            dtype="float64",
            chunks=False,
            compressor=compressor,
        )


def _check_inputs(templates, meta: UnitMetadata) -> None:
    num_units, _num_samples, num_channels = templates.templates_array.shape
    if templates.probe is None:
        raise ValueError("templates need a probe: the catalogue's depth and probe model come from it")
    if templates.probe.get_contact_count() != num_channels:
        raise ValueError(
            f"probe has {templates.probe.get_contact_count()} contacts but templates have {num_channels} channels"
        )
    for name in ("brain_area", "spikes_per_unit"):
        if len(getattr(meta, name)) != num_units:
            raise ValueError(f"{name} has {len(getattr(meta, name))} entries for {num_units} units")
    if meta.channel_noise_levels is not None and len(meta.channel_noise_levels) != num_channels:
        raise ValueError(f"channel_noise_levels has {len(meta.channel_noise_levels)} entries for {num_channels} channels")
    if len(set(np.asarray(templates.unit_ids).tolist())) != num_units:
        raise ValueError("unit_ids must be unique within a dataset: template IDs derive from them")


def write_dataset(
    storage: LibraryStorage,
    dataset: str,
    templates,
    meta: UnitMetadata,
    options: WriteOptions | None = None,
    overwrite: bool = False,
) -> str:
    """Write one dataset; it becomes visible only when its consolidated metadata lands.

    Parameters
    ----------
    storage : LibraryStorage
        The library root.
    dataset : str
        Dataset name; ``.zarr`` is appended when missing.
    templates : spikeinterface.core.Templates
        Dense templates with a probe whose contact ``i`` is channel ``i``.
    meta : UnitMetadata
        Per-unit metadata.
    options : WriteOptions, optional
        Encoding variants.
    overwrite : bool
        Replace a complete dataset of the same name. An incomplete one (an interrupted
        earlier write) is always replaced.

    Returns
    -------
    str
        The dataset key (``<name>.zarr``).
    """
    options = options or WriteOptions()
    if not dataset or "/" in dataset or "\\" in dataset or dataset.startswith(".") or "\x00" in dataset:
        raise ValueError(f"dataset name {dataset!r} must be one path segment (no '/', not starting with '.')")
    key = fmt.dataset_key(dataset)
    _check_inputs(templates, meta)
    if storage.is_complete(key) and not overwrite:
        raise DatasetExistsError(f"{storage.url(key)} already exists; pass overwrite to replace it")
    # Hide the old version first: without .zmetadata nobody lists or opens it.
    storage.remove(posixpath.join(key, fmt.CONSOLIDATED_KEY))
    storage.remove(key)

    compressor = make_compressor(options.compressor)
    store = storage.mapper(key)
    root = zarr.group(store=store, overwrite=True, zarr_version=fmt.ZARR_FORMAT)
    if options.dimension_separator not in (".", "/"):
        raise ValueError(f"dimension_separator must be '.' or '/', not {options.dimension_separator!r}")
    separator = options.dimension_separator
    per_unit = {"chunks": (options.unit_chunk_length,)} if options.unit_chunk_length else {}
    array = np.asarray(templates.templates_array)
    num_units, num_samples, num_channels = array.shape
    peak_to_peak, best = best_channels(array)

    root.create_dataset(
        "templates_array", data=array, chunks=(1, num_samples, num_channels), compressor=compressor,
        dimension_separator=separator,
    )
    root.create_dataset("channel_ids", data=np.asarray(templates.channel_ids), compressor=compressor)
    root.create_dataset("unit_ids", data=np.asarray(templates.unit_ids), compressor=compressor, **per_unit)
    areas = [str(a) for a in meta.brain_area]
    if options.fixed_width_brain_area:
        root.create_dataset("brain_area", data=np.asarray(areas, dtype=f"<U{max(map(len, areas), default=1)}"),
                            compressor=compressor, **per_unit)
    else:
        root.create_dataset("brain_area", data=np.asarray(areas, dtype=object), dtype=object,
                            object_codec=VLenUTF8(), compressor=compressor, **per_unit)
    root.create_dataset("spikes_per_unit", data=np.asarray(meta.spikes_per_unit, dtype="<u4"), compressor=compressor,
                        **per_unit)
    root.create_dataset("best_channel_index", data=best.astype("<u4"), compressor=compressor, **per_unit)
    root.create_dataset("peak_to_peak", data=peak_to_peak.astype(array.dtype), compressor=compressor,
                        dimension_separator=separator)
    if meta.channel_noise_levels is not None:
        root.create_dataset("channel_noise_levels", data=np.asarray(meta.channel_noise_levels, dtype="<f4"),
                            compressor=compressor)
    if templates.sparsity_mask is not None:
        root.create_dataset("sparsity_mask", data=np.asarray(templates.sparsity_mask, dtype=bool),
                            compressor=compressor, dimension_separator=separator)
    write_probe_group(root.create_group(fmt.PROBE_GROUP), templates.probe, compressor)

    root.attrs[fmt.ATTR_SAMPLING_FREQUENCY] = float(templates.sampling_frequency)
    root.attrs[fmt.ATTR_NBEFORE] = int(templates.nbefore)
    in_uv_attr = fmt.ATTR_IN_UV_LEGACY if options.legacy_is_scaled else fmt.ATTR_IN_UV
    root.attrs[in_uv_attr] = bool(templates.is_in_uV)
    for name, value in options.extra_attrs.items():
        root.attrs[name] = value

    write_consolidated_metadata(storage, key)
    return key


def write_consolidated_metadata(storage: LibraryStorage, key: str) -> None:
    """Write ``.zmetadata`` for dataset ``key`` in one atomic object write.

    Same content as ``zarr.consolidate_metadata``, but through :meth:`LibraryStorage.write_bytes`
    so a crash mid-write cannot leave a truncated ``.zmetadata`` that marks a dataset complete.
    """
    store = storage.mapper(key)
    metadata = {
        name: json.loads(store[name])
        for name in sorted(store.keys())
        if posixpath.basename(name) in (".zarray", ".zgroup", ".zattrs")
    }
    document = {"zarr_consolidated_format": 1, "metadata": metadata}
    storage.write_bytes(posixpath.join(key, fmt.CONSOLIDATED_KEY), json_dumps(document))
