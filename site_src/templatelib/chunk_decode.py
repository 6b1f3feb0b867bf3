"""Decode one zarr 2 chunk without trusting it: bounded work, bounded memory, one clear error.

A library is hostile input: anybody can point the page or the validator at a copy whose chunks
were truncated, replaced or crafted. zarr and numcodecs trust a chunk's bytes; this module does
not. It knows the size a chunk must decode to (``prod(chunks) * itemsize``, from the array's
``.zarray``) and refuses, before inflating anything beyond that size:

- a compressed object larger than the decoded chunk plus codec overhead
  (:func:`max_compressed_bytes`), so nobody reads a 1 GiB object to find out it is wrong;
- a zlib/gzip stream that would inflate past the expected size (a "bomb": 1 GiB of zeros
  deflates to ~1 MB). It is inflated with ``max_length=expected + 1``, so at most one byte
  more than the chunk is ever produced;
- a blosc frame whose header announces another decoded size, or whose compressed size does
  not match the bytes given (a truncated object). The 16-byte header is read first, and
  blosc then allocates exactly the announced size;
- a truncated zlib/gzip stream, bytes after the end of the stream, and raw (uncompressed)
  chunks of the wrong length;
- filters, other compressors and object or structured dtypes: templates and the per-unit
  numbers are plain numbers (or fixed-width strings) stored without filters, so anything else
  is refused by name rather than handed to a codec we did not review.

Limits
------
``MAX_DECODED_BYTES`` (64 MiB) bounds the memory one chunk may take once decoded. A live
template chunk is 240 samples x 384 channels x 4 bytes = 360 KiB; 64 MiB leaves room for
~180x longer or wider templates while keeping one chunk well inside the few hundred MB a
browser tab (Pyodide's wasm heap) can use. Callers may pass a smaller ``max_decoded``.

Only the standard library, numpy and numcodecs are imported, so the page (Pyodide) can use it
as the pipeline does.
"""

from __future__ import annotations

import math
import struct
import zlib

import numpy as np

#: Largest chunk, once decoded, that :func:`decode_chunk` accepts (see the module docstring).
MAX_DECODED_BYTES = 64 * 1024 * 1024

#: Codec ids of ``.zarray`` ``compressor`` that are decoded here.
SUPPORTED_COMPRESSORS = ("zlib", "gzip", "blosc")

# Headroom for codec framing: blosc adds 16 header bytes plus 4 per block, a stored
# (incompressible) deflate stream 5 bytes per 64 KiB block, gzip ~18 bytes of header/trailer.
# 1/16 of the payload plus 4 KiB is far above all of them and still refuses oversized objects.
_OVERHEAD_FRACTION = 16
_OVERHEAD_BYTES = 4096
_BLOSC_HEADER_BYTES = 16


class ChunkError(ValueError):
    """A chunk or its array metadata is unusable; the message names the chunk's key."""


def chunk_grid(meta: dict, key: str = "") -> tuple[int, ...]:
    """Number of chunks along each dimension of an array described by a ``.zarray`` dict.

    Parameters
    ----------
    meta : dict
        The array's ``.zarray`` metadata (``shape`` and ``chunks``).
    key : str
        The array's key, for messages.

    Raises
    ------
    ChunkError
        When ``shape`` is not a list of non-negative integers or ``chunks`` not a list of
        positive integers of the same length.
    """
    shape, chunks = _shape_and_chunks(meta, key)
    return tuple(-(-s // c) for s, c in zip(shape, chunks))


def chunk_count(meta: dict, key: str = "") -> int:
    """Total number of chunks of the array (a Python int: no overflow on absurd shapes)."""
    return math.prod(chunk_grid(meta, key))


def chunk_key(array: str, index, meta: dict) -> str:
    """Storage key of the chunk at grid position ``index``, honouring ``dimension_separator``.

    Parameters
    ----------
    array : str
        The array's key (``templates_array`` or ``<dataset>.zarr/templates_array``).
    index : sequence of int
        Grid position; empty for a 0-d array (key ``0``).
    meta : dict
        The array's ``.zarray`` metadata.
    """
    separator = meta.get("dimension_separator") or "."
    if separator not in (".", "/"):
        raise ChunkError(f"{array}: dimension_separator {separator!r} is neither '.' nor '/'")
    name = separator.join(str(int(i)) for i in index) if len(index) else "0"
    return f"{array}/{name}" if array else name


def chunk_nbytes(meta: dict, key: str = "") -> int:
    """Bytes one chunk decodes to: ``prod(chunks) * itemsize`` (zarr 2 stores edge chunks whole)."""
    _shape, chunks = _shape_and_chunks(meta, key)
    return math.prod(chunks) * _dtype(meta, key).itemsize


def max_compressed_bytes(expected: int) -> int:
    """Largest stored object accepted for a chunk that decodes to ``expected`` bytes."""
    return expected + expected // _OVERHEAD_FRACTION + _OVERHEAD_BYTES


def decode_chunk(raw: bytes, zarray_meta: dict, key: str, max_decoded: int = MAX_DECODED_BYTES) -> np.ndarray:
    """Decode one stored chunk into an array shaped like the array's ``chunks``.

    Parameters
    ----------
    raw : bytes
        The stored object.
    zarray_meta : dict
        The array's ``.zarray`` metadata: ``chunks``, ``dtype``, ``order``, ``compressor``,
        ``filters``.
    key : str
        The chunk's key, named in every error.
    max_decoded : int
        Refuse chunks that would decode to more bytes than this.

    Returns
    -------
    numpy.ndarray
        A read-only view of the decoded bytes, shape ``chunks``.

    Raises
    ------
    ChunkError
        For every refused input; nothing is inflated beyond ``expected + 1`` bytes first.
    """
    if not isinstance(zarray_meta, dict):
        raise ChunkError(f"{key}: array metadata is not an object")
    if zarray_meta.get("filters"):
        raise ChunkError(f"{key}: filters {zarray_meta['filters']!r} are not supported (only none)")
    _shape, chunks = _shape_and_chunks(zarray_meta, key)
    dtype = _dtype(zarray_meta, key)
    # Fixed-size types only: object arrays (vlen-utf8 brain_area) need a filter we refuse anyway.
    if dtype.kind not in "biufcSU" or dtype.fields is not None:
        raise ChunkError(f"{key}: dtype {dtype.str} is not a fixed-size number or string type")
    expected = math.prod(chunks) * dtype.itemsize
    if expected > max_decoded:
        raise ChunkError(f"{key}: a chunk of {expected} bytes exceeds the decode limit of {max_decoded} bytes")
    raw = bytes(raw)
    if len(raw) > max_compressed_bytes(expected):
        raise ChunkError(f"{key}: stored object of {len(raw)} bytes is too large for a {expected}-byte chunk")
    compressor = zarray_meta.get("compressor")
    if compressor is None:
        data = raw
    elif not isinstance(compressor, dict) or compressor.get("id") not in SUPPORTED_COMPRESSORS:
        name = compressor.get("id") if isinstance(compressor, dict) else compressor
        raise ChunkError(f"{key}: compressor {name!r} is not supported ({', '.join(SUPPORTED_COMPRESSORS)} or none)")
    elif compressor["id"] == "blosc":
        data = _blosc(raw, expected, key)
    else:
        data = _inflate(raw, expected, key, gzip=compressor["id"] == "gzip")
    if len(data) != expected:
        raise ChunkError(f"{key}: decodes to {len(data)} bytes, expected {expected}")
    order = zarray_meta.get("order", "C")
    if order not in ("C", "F"):
        raise ChunkError(f"{key}: order {order!r} is neither 'C' nor 'F'")
    return np.frombuffer(data, dtype=dtype).reshape(chunks, order=order)


def _shape_and_chunks(meta: dict, key: str) -> tuple[list[int], list[int]]:
    shape, chunks = meta.get("shape"), meta.get("chunks")
    if not _int_list(shape) or any(s < 0 for s in shape):
        raise ChunkError(f"{key}: shape {shape!r} is not a list of non-negative integers")
    if not _int_list(chunks) or any(c <= 0 for c in chunks):
        raise ChunkError(f"{key}: chunks {chunks!r} is not a list of positive integers")
    if len(chunks) != len(shape):
        raise ChunkError(f"{key}: chunks {chunks} and shape {shape} differ in length")
    return shape, chunks


def _int_list(value) -> bool:
    # bool is an int subclass; true/false in a shape is damage, not a size
    return isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in value)


def _dtype(meta: dict, key: str) -> np.dtype:
    try:
        return np.dtype(meta.get("dtype"))
    except (TypeError, ValueError) as error:
        raise ChunkError(f"{key}: dtype {meta.get('dtype')!r} is not a numpy dtype ({error})") from None


def _inflate(raw: bytes, expected: int, key: str, gzip: bool) -> bytes:
    # wbits 31 reads the gzip framing numcodecs' GZip writes; 15 the zlib framing of Zlib.
    inflater = zlib.decompressobj(31 if gzip else 15)
    try:
        data = inflater.decompress(raw, expected + 1)
    except zlib.error as error:
        raise ChunkError(f"{key}: corrupt {'gzip' if gzip else 'zlib'} stream ({error})") from None
    if len(data) > expected:
        raise ChunkError(f"{key}: inflates past the expected {expected} bytes (refused: possible zlib bomb)")
    if not inflater.eof:
        raise ChunkError(f"{key}: truncated {'gzip' if gzip else 'zlib'} stream ({len(data)} of {expected} bytes)")
    if inflater.unused_data:
        raise ChunkError(f"{key}: {len(inflater.unused_data)} unexpected bytes after the compressed stream")
    return data


def _blosc(raw: bytes, expected: int, key: str) -> bytes:
    from numcodecs import blosc

    if len(raw) < _BLOSC_HEADER_BYTES:
        raise ChunkError(f"{key}: {len(raw)} bytes is shorter than a blosc header (truncated)")
    # The blosc 1 header: version, versionlz, flags, typesize (1 byte each), then nbytes,
    # blocksize, cbytes (uint32 little-endian). Read here rather than with
    # numcodecs.blosc.cbuffer_sizes, which numcodecs 0.15 deprecates.
    _version, _versionlz, _flags, _typesize, nbytes, _blocksize, cbytes = struct.unpack_from("<BBBBIII", raw)
    if cbytes != len(raw):
        raise ChunkError(
            f"{key}: blosc header announces {cbytes} compressed bytes, the object has {len(raw)} (truncated or padded)"
        )
    if nbytes != expected:
        raise ChunkError(f"{key}: blosc header announces {nbytes} decoded bytes, expected {expected} (refused)")
    try:
        return bytes(blosc.decompress(raw))
    except Exception as error:
        raise ChunkError(f"{key}: corrupt blosc frame ({error})") from None
