"""Similar templates: the catalogue ranked by waveform shape, from the previews alone.

The measure (docs/site.md "Similar templates") is the **cosine similarity of two previews'
52 steps**: the best channel of each template, reduced to the extremum of each of 52 equal bins
of its 240 samples (docs/format.md "Previews"). A preview's ``scale`` is positive, so the
cosine of the int8 steps equals the cosine of the binned waveforms in µV: amplitude does not
count, sign does (an inverted waveform scores -1). This is spikeinterface's ``cosine`` template
similarity (``compute_template_similarity(method="cosine")``) restricted to one channel and
the preview's resolution, with no time shift: every library template has its trough at the
same sample.

Why previews: the page already has them for thumbnails, a whole library of them is 64 bytes a
row (6.4 MB at 100,000 rows, read once), and ranking is then one matrix-vector product. A
template chunk per row would cost 0.3 MB each.

Everything here is numpy only (the page's ``view`` stage); the preview shards are checked
against ``library.json`` (size, sha256) and each row against the catalogue's ``template_id``,
so a tampered or stale shard costs its own rows a similarity, never a wrong one.
"""

from __future__ import annotations

import asyncio
import hashlib
import re

import numpy as np

from . import format as fmt
from .http_fetch import FetchError

#: What the page shows as the measure's name (the column header's description).
MEASURE = "cosine similarity of the best-channel previews (52 steps; amplitude ignored)"

_ROW_DTYPE = np.dtype([
    ("id", f"V{fmt.PREVIEW_ID_BYTES}"),
    ("scale", "<f4"),
    ("steps", "i1", (fmt.PREVIEW_SAMPLES,)),
])


_ID = re.compile(f"[0-9a-f]{{{fmt.TEMPLATE_ID_LENGTH}}}")


class SimilarityError(ValueError):
    """Similarity cannot be computed; the message says why in words."""


def unit_vectors(steps: np.ndarray) -> np.ndarray:
    """Rows of ``steps`` divided by their Euclidean norm, as float32; a zero row becomes NaN.

    Parameters
    ----------
    steps : array (n, PREVIEW_SAMPLES)
        Preview steps (any numeric dtype).
    """
    values = np.asarray(steps, dtype=np.float32)
    norms = np.sqrt(np.einsum("ij,ij->i", values, values))
    with np.errstate(divide="ignore", invalid="ignore"):
        out = values / norms[:, None]
    out[norms == 0] = np.nan  # a flat template has no shape to compare
    return out


def cosine(a, b) -> float:
    """The measure between two previews' steps (the reference definition, for tests and docs)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    norm = np.linalg.norm(a) * np.linalg.norm(b)
    return float(a @ b / norm) if norm > 0 else float("nan")


#: Scores are compared at this resolution (2**-20, far below what 52 int8 steps resolve), so that
#: the sort key is one integer per row; see :class:`Ranking`.
_KEY_STEPS = 2**20


class Ranking:
    """``rows`` by descending score, computed only as far as a page needs.

    Rows without a score (NaN: no usable preview, or a flat one) come last; equal scores keep the
    order of ``rows`` (the query's), so the ranking is deterministic.

    Why a key and a partition: in Pyodide a full sort of 100,000 scores takes 20-40 ms on top of
    the ~20 ms of the scores themselves, while a page needs only its first ``offset + limit``
    rows. The key is the score quantised to 2**-20 (NaN above every score), times the row count,
    plus the row's place in the query: unique integers, so ``argpartition`` and an unstable sort
    of the head give one answer, ties in query order.

    Parameters
    ----------
    rows : array of int
        Catalogue rows (the query's answer, in its order).
    scores : array of float
        The measure for every catalogue row.
    """

    def __init__(self, rows, scores):
        self.rows = np.asarray(rows, dtype=np.int64)
        self.values = scores[self.rows]
        quantised = np.rint(np.nan_to_num(-self.values, nan=2.0) * _KEY_STEPS).astype(np.int64)
        self.key = (quantised + 2 * _KEY_STEPS) * max(len(self.rows), 1) + np.arange(len(self.rows), dtype=np.int64)

    def __len__(self) -> int:
        return len(self.rows)

    def head(self, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """The first ``stop`` rows of the ranking and their scores."""
        stop = max(0, min(int(stop), len(self.rows)))
        if stop == 0:
            return self.rows[:0], self.values[:0]
        if stop < len(self.rows):
            first = np.argpartition(self.key, stop - 1)[:stop]
        else:
            first = np.arange(len(self.rows))
        first = first[np.argsort(self.key[first])]
        return self.rows[first], self.values[first]


def rank(rows, scores) -> tuple[np.ndarray, np.ndarray]:
    """The whole ranking (:class:`Ranking`): ``(ordered rows, their scores)``."""
    ranking = Ranking(rows, scores)
    return ranking.head(len(ranking))


def _previews_entry(manifest, rows: int) -> dict:
    """``library.json``'s ``previews`` entry, checked against the catalogue it must describe."""
    entry = manifest.get("previews") if isinstance(manifest, dict) else None
    if not isinstance(entry, dict):
        raise SimilarityError("this library has no waveform previews (library.json lists none), "
                              "and similarity is computed from them")
    expected = {"format_version": fmt.PREVIEW_FORMAT_VERSION, "row_bytes": fmt.PREVIEW_ROW_BYTES,
                "samples": fmt.PREVIEW_SAMPLES, "rows_per_shard": fmt.PREVIEW_ROWS_PER_SHARD}
    for key, value in expected.items():
        if entry.get(key) != value:
            raise SimilarityError(f"library.json's previews.{key} is {str(entry.get(key))[:40]!r}, "
                                  f"not {value}: these previews are not ones this page reads")
    if entry.get("rows") != rows:
        raise SimilarityError(f"library.json's previews cover {str(entry.get('rows'))[:40]} rows, "
                              f"the catalogue has {rows}: they were made for another catalogue")
    shards = entry.get("shards")
    if not isinstance(shards, list) or len(shards) != fmt.preview_shard_count(rows):
        raise SimilarityError("library.json's previews.shards does not list one shard per "
                              f"{fmt.PREVIEW_ROWS_PER_SHARD} rows")
    return entry


class PreviewIndex:
    """Every catalogue row's preview as a unit vector, for ranking by :func:`cosine`.

    Parameters
    ----------
    units : array (n, PREVIEW_SAMPLES) float32
        Row ``r`` is catalogue row ``r``'s steps over their norm; NaN where the row has no
        usable preview.
    note : str or None
        Why some rows have none (a shard that failed its checks), in words.
    """

    def __init__(self, units: np.ndarray, note: str | None = None):
        self.units = np.ascontiguousarray(units, dtype=np.float32)
        self.note = note
        # A NaN row must give a NaN score, and a matrix product does that by itself.

    @classmethod
    def from_rows(cls, data: bytes, template_ids, note: str | None = None) -> "PreviewIndex":
        """The index from preview rows (``len(template_ids)`` of them, catalogue order).

        A row whose ID bytes differ from its catalogue row's ``template_id`` gets no preview.
        """
        template_ids = list(template_ids)
        if len(data) != len(template_ids) * fmt.PREVIEW_ROW_BYTES:
            raise SimilarityError(f"{len(data)} bytes of previews do not hold {len(template_ids)} rows")
        rows = np.frombuffer(data, dtype=_ROW_DTYPE)
        # One fromhex for all rows (a call per row costs seconds in Pyodide at 100,000 rows).
        # An ID that is not 16 hex characters matches no preview: its row gets none.
        # (format.is_valid_template_id's rule as one regex: its per-character loop is slow here.)
        blank = "0" * 2 * fmt.PREVIEW_ID_BYTES
        valid_id = [isinstance(t, str) and _ID.fullmatch(t) is not None for t in template_ids]
        hexes = "".join(t if ok else blank for t, ok in zip(template_ids, valid_id))
        expected = np.frombuffer(bytes.fromhex(hexes), dtype=f"V{fmt.PREVIEW_ID_BYTES}")
        invalid = ~np.array(valid_id, dtype=bool)
        valid = (rows["id"] == expected) & ~invalid & np.isfinite(rows["scale"]) & (rows["scale"] > 0)
        units = unit_vectors(rows["steps"])
        units[~valid] = np.nan
        return cls(units, note)

    def __len__(self) -> int:
        return len(self.units)

    def vector(self, row: int) -> np.ndarray:
        """Row ``row``'s unit vector; SimilarityError when it has no usable preview."""
        vector = self.units[row]
        if not np.all(np.isfinite(vector)):
            raise SimilarityError("this template has no usable preview (flat, missing or not matching "
                                  "its catalogue row), so nothing can be ranked by its shape")
        return vector

    def scores(self, steps) -> np.ndarray:
        """The measure between ``steps`` (52 values) and every row: float32 (n,), NaN where undefined."""
        query = unit_vectors(np.asarray(steps, dtype=np.float32).reshape(1, fmt.PREVIEW_SAMPLES))[0]
        if not np.all(np.isfinite(query)):
            raise SimilarityError("a flat waveform has no shape to compare")
        return self.units @ query


async def load_index(reader, manifest, template_ids) -> PreviewIndex:
    """Fetch every preview shard ``library.json`` lists and build the :class:`PreviewIndex`.

    Shard keys are computed from the format (never taken from the manifest); each shard must
    have the size and sha256 the manifest gives, else its rows have no preview and the index's
    ``note`` says so. Fetches run with the reader's bounded concurrency.
    """
    template_ids = list(template_ids)
    rows = len(template_ids)
    entry = _previews_entry(manifest, rows)
    keys = [fmt.preview_shard_key(k) for k in range(len(entry["shards"]))]

    async def one(k: int) -> bytes | str:
        listed = entry["shards"][k] if isinstance(entry["shards"][k], dict) else {}
        want = min(fmt.PREVIEW_ROWS_PER_SHARD, rows - k * fmt.PREVIEW_ROWS_PER_SHARD) * fmt.PREVIEW_ROW_BYTES
        if listed.get("bytes") != want or not isinstance(listed.get("sha256"), str):
            return f"{keys[k]} is listed with the wrong size"
        try:
            data = await reader.fetcher.fetch(reader.url(keys[k]))
        except FetchError as error:
            return str(error)
        if len(data) != want or hashlib.sha256(data).hexdigest() != listed["sha256"]:
            return f"{keys[k]} does not match its size and sha256 in library.json"
        return data

    parts = await asyncio.gather(*(one(k) for k in range(len(keys))))
    problems = [p for p in parts if isinstance(p, str)]
    data = bytearray()
    for k, part in enumerate(parts):
        if isinstance(part, str):
            want = min(fmt.PREVIEW_ROWS_PER_SHARD, rows - k * fmt.PREVIEW_ROWS_PER_SHARD)
            part = b"\0" * (want * fmt.PREVIEW_ROW_BYTES)  # zero ID and scale: no preview
        data += part
    note = None
    if problems:
        note = (f"{len(problems)} of {len(keys)} preview shards could not be used ({problems[0]}); "
                "their templates have no similarity")
    return PreviewIndex.from_rows(bytes(data), template_ids, note)


def similarity_page(columns, ranking: Ranking, fields, offset: int, limit: int) -> dict:
    """One page of a :class:`Ranking`: the query's answer plus ``similarity`` per row.

    ``similarity`` is rounded to 4 decimals (the previews' int8 steps carry no more) and None
    where undefined.
    """
    offset = max(0, min(int(offset), max(len(ranking) - 1, 0)))
    ordered, values = ranking.head(offset + max(1, int(limit)))
    ordered, values = ordered[offset:], values[offset:]
    out = []
    for position, value, record in zip(ordered, values, columns.records(ordered, fields)):
        value = float(value)
        out.append({"row": int(position), **record,
                    "similarity": round(value, 4) if np.isfinite(value) else None})
    return {"count": int(len(ranking)), "offset": offset, "rows": out}
