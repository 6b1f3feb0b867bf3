"""Waveform previews: the best channel of a template in 64 bytes, for thumbnails.

One encoder for everybody: ``python -m pipeline consolidate`` writes the library's preview
shards with it, and the page's Python uses it for libraries without previews (it reads the
template's chunk, then hands the same 52 steps to the one JavaScript sparkline renderer).
The layout is specified in ``docs/format.md`` ("Previews") and its constants live in
:mod:`templatelib.format`.

Why 52 extrema and not 52 plain samples: a sparkline 120 px wide cannot show 240 samples
anyway, but decimating would cut the trough, the one feature people read off a thumbnail.
Each step keeps the sample of largest magnitude in its bin, so the trough and the peak survive.
"""

from __future__ import annotations

import asyncio

import numpy as np

from . import format as fmt

_ROW_DTYPE = np.dtype([
    ("id", f"V{fmt.PREVIEW_ID_BYTES}"),
    ("scale", "<f4"),
    ("steps", "i1", (fmt.PREVIEW_SAMPLES,)),
])
assert _ROW_DTYPE.itemsize == fmt.PREVIEW_ROW_BYTES


class PreviewError(ValueError):
    """A preview shard cannot be used; the message names the shard and the problem."""


def bin_extrema(traces: np.ndarray, steps: int = fmt.PREVIEW_SAMPLES) -> np.ndarray:
    """The sample of largest magnitude in each of ``steps`` equal bins of every trace.

    Parameters
    ----------
    traces : array (n, samples)
        One best-channel trace per row. Traces shorter than ``steps`` are resampled linearly.

    Returns
    -------
    array (n, steps) float64
    """
    traces = np.nan_to_num(np.asarray(traces, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    n, samples = traces.shape
    if samples == 0:
        return np.zeros((n, steps))
    if samples < steps:
        grid = np.linspace(0, samples - 1, steps)
        return np.stack([np.interp(grid, np.arange(samples), t) for t in traces]) if n else np.zeros((0, steps))
    edges = np.linspace(0, samples, steps + 1).round().astype(int)
    out = np.empty((n, steps))
    rows = np.arange(n)
    for k in range(steps):
        block = traces[:, edges[k]:edges[k + 1]]
        out[:, k] = block[rows, np.argmax(np.abs(block), axis=1)]
    return out


def quantise(traces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(scale float32 (n,), steps int8 (n, PREVIEW_SAMPLES))``: the preview of each trace.

    The one reduction every preview gets (the library's rows, and a user's own waveform on the
    page): :func:`bin_extrema`, then steps of ``scale = peak / PREVIEW_MAX_STEP``.
    """
    values = bin_extrema(traces)
    peak = np.abs(values).max(axis=1) if len(values) else np.zeros(0)
    scale = np.where(peak > 0, peak / fmt.PREVIEW_MAX_STEP, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        steps = np.where(scale[:, None] > 0, np.rint(values / scale[:, None]), 0.0)
    steps = np.clip(steps, -fmt.PREVIEW_MAX_STEP, fmt.PREVIEW_MAX_STEP).astype(np.int8)
    return scale.astype(np.float32), steps


def encode_rows(template_ids, traces: np.ndarray) -> bytes:
    """Preview rows for ``template_ids`` from their best-channel ``traces``.

    Parameters
    ----------
    template_ids : sequence of str
        16-hex-character IDs, one per trace.
    traces : array (n, samples)
        Best-channel traces in the dataset's stored units (uV for every live dataset).

    Returns
    -------
    bytes
        ``n * PREVIEW_ROW_BYTES`` bytes, rows in the given order.
    """
    template_ids = list(template_ids)
    scale, steps = quantise(np.asarray(traces).reshape(len(template_ids), -1))
    rows = np.zeros(len(template_ids), dtype=_ROW_DTYPE)
    for k, template_id in enumerate(template_ids):
        if not fmt.is_valid_template_id(template_id):
            raise PreviewError(f"cannot preview template_id {template_id!r}: not 16 hex characters")
        rows["id"][k] = np.void(bytes.fromhex(template_id))
    rows["scale"] = scale
    rows["steps"] = steps
    return rows.tobytes()


def best_channel_traces(templates: np.ndarray, best_channels) -> np.ndarray:
    """``templates[u, :, best_channels[u]]`` for every unit: shape (units, samples)."""
    templates = np.asarray(templates)
    best = np.asarray(best_channels, dtype=np.int64)
    return templates[np.arange(len(best)), :, best]


def decode_rows(data: bytes, where: str = "preview") -> list[dict]:
    """Rows of a preview shard as ``{"template_id", "scale", "steps"}`` (tests, validation).

    Raises
    ------
    PreviewError
        When ``data`` is not a whole number of rows.
    """
    if len(data) % fmt.PREVIEW_ROW_BYTES:
        raise PreviewError(f"{where}: {len(data)} bytes is not a whole number of {fmt.PREVIEW_ROW_BYTES}-byte rows")
    rows = np.frombuffer(data, dtype=_ROW_DTYPE)
    return [
        {"template_id": bytes(r["id"]).hex(), "scale": float(r["scale"]), "steps": r["steps"].tolist()}
        for r in rows
    ]


def as_json(rows: list[dict]) -> dict:
    """``template_id -> {"scale", "steps"}``: what the page's renderer takes."""
    return {r["template_id"]: {"scale": r["scale"], "steps": r["steps"]} for r in rows}


#: Longest template_id a preview is computed for. The catalogue's IDs are 16 hex characters;
#: any other string (the catalogue keeps what the csv says) is drawn under its own name.
MAX_ID_LENGTH = 64


def _checked_request(row, where: str) -> tuple[str | None, str, int, int | None]:
    """One ``preview_rows`` request, checked: values come from a csv, hence untrusted."""
    if not isinstance(row, dict):
        raise ValueError(f"{where}: not an object")
    template_id, dataset = row.get("template_id"), row.get("dataset")
    index, best = row.get("template_index"), row.get("best_channel_index")
    if template_id is not None and (not isinstance(template_id, str) or not 0 < len(template_id) <= MAX_ID_LENGTH):
        raise ValueError(f"{where}: template_id {str(template_id)[:40]!r} is not an ID of at most "
                         f"{MAX_ID_LENGTH} characters")
    if not isinstance(dataset, str) or not dataset or "/" in dataset or "\\" in dataset or dataset in (".", ".."):
        raise ValueError(f"{where}: dataset {str(dataset)[:80]!r} is not a dataset name")
    if not isinstance(index, int) or isinstance(index, bool) or index < 0:
        raise ValueError(f"{where}: template_index {index!r} is not a row of the dataset")
    if best is not None and (not isinstance(best, int) or isinstance(best, bool) or best < 0):
        best = None  # the template's own peak-to-peak decides, as the writer did
    return template_id, dataset, index, best


#: Most previews one call computes from chunks: a results page is 25; a hostile caller
#: cannot make the page fetch thousands of chunks at once.
MAX_PREVIEW_ROWS = 200


async def previews_from_chunks(reader, rows) -> list[dict]:
    """Previews for libraries without preview shards, from each template's chunk.

    Parameters
    ----------
    reader : LibraryReader
        Reads the chunks (zarr and numpy only: no pandas, so it can run while pandas loads).
    rows : list of dict
        ``{"template_id" (or None for a live csv), "dataset", "template_index",
        "best_channel_index"}`` per wanted row.

    Returns
    -------
    list of dict
        ``{"template_id", "preview": {"scale", "steps"}}`` in the order asked, or
        ``{"template_id", "error"}`` for a request that cannot be used or a row of a dataset
        that cannot be read (the message names it): one bad row never costs the others their
        thumbnails. A row without an ID gets the format's fallback ID.
    """
    if not isinstance(rows, list) or len(rows) > MAX_PREVIEW_ROWS:
        raise ValueError(f"preview_rows takes a list of at most {MAX_PREVIEW_ROWS} rows")
    checked, refused = [], {}
    for k, row in enumerate(rows):
        try:
            checked.append(_checked_request(row, f"preview row {k}"))
        except ValueError as error:
            given = row.get("template_id") if isinstance(row, dict) else None
            refused[k] = {"template_id": str(given)[:MAX_ID_LENGTH * 4] if given is not None else None,
                          "error": str(error)}
            checked.append(None)
    usable = [c for c in checked if c is not None]
    # One dataset at a time: a damaged dataset costs its own thumbnails, never the others'.
    datasets = list(dict.fromkeys(fmt.dataset_key(d) for _, d, _, _ in usable))
    results = await asyncio.gather(*(
        reader.templates([(d, i) for _, d, i, _ in usable if fmt.dataset_key(d) == key]) for key in datasets
    ), return_exceptions=True)
    arrays, failed = {}, {}
    for key, result in zip(datasets, results):
        if isinstance(result, Exception):
            failed[key] = str(result)
        else:
            arrays.update(result)
    out = []
    for k, request in enumerate(checked):
        if request is None:
            out.append(refused[k])
            continue
        template_id, dataset, index, best = request
        template_id = template_id or fmt.fallback_template_id(dataset, index)
        if fmt.dataset_key(dataset) in failed:
            out.append({"template_id": template_id, "error": failed[fmt.dataset_key(dataset)]})
            continue
        template = arrays[(fmt.dataset_key(dataset), index)]
        channels = template.shape[1]
        if best is None or best >= channels:
            best = int(np.argmax(np.ptp(template, axis=0)))
        # The shard layout holds a 16-hex ID; any other ID is encoded under the fallback one.
        code = template_id if fmt.is_valid_template_id(template_id) else fmt.fallback_template_id(dataset, index)
        encoded = encode_rows([code], template[:, best][None, :])
        out.append({"template_id": template_id, "preview": as_json(decode_rows(encoded))[code]})
    return out
