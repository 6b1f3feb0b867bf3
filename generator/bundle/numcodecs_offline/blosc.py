"""numcodecs.blosc of the offline Pyodide bundle: Blosc decoded by WebAssembly c-blosc.

numcodecs' own blosc module is a Cython extension and no registry has a wasm32 build of it.
The offline bundle instead carries the WebAssembly c-blosc of the npm package ``numcodecs``
(numcodecs.js); the page's worker instantiates it before Python reads data and registers its
synchronous ``decompress`` as ``globalThis.numcodecsBlosc`` (``numcodecs-js/numcodecs_blosc.mjs``
in the bundle). ``decompress`` and ``Blosc.decode`` call it, so every Blosc chunk (blosclz, lz4,
lz4hc, zlib, zstd; no, byte or bit shuffle) decodes exactly as with numcodecs. The header
helpers read the 16-byte Blosc header here. Encoding and partial decoding are not offered
(the WebAssembly build takes no type size, so its output would differ from numcodecs').
Outside Pyodide, or before the decoder is registered, decoding raises CodecUnavailableError.
"""

import struct
import sys

from ._unavailable import CodecUnavailableError, UnavailableCodec, unavailable, unavailable_function
from .compat import ensure_contiguous_ndarray

NOSHUFFLE = 0
SHUFFLE = 1
BITSHUFFLE = 2
AUTOSHUFFLE = -1
AUTOBLOCKS = 0
MAX_THREADS = 256
MAX_BUFFERSIZE = 2**31 - 1
VERSION_STRING = "c-blosc (WebAssembly build of npm numcodecs)"
JS_DECODER = "numcodecsBlosc"
_SHUFFLE_REPR = ["AUTOSHUFFLE", "NOSHUFFLE", "SHUFFLE", "BITSHUFFLE"]
_COMPLIBS = {0: "BloscLZ", 1: "LZ4", 2: "Snappy", 3: "Zlib", 4: "Zstd"}
_DOSHUFFLE, _MEMCPYED, _DOBITSHUFFLE = 0x1, 0x2, 0x4
_HEADER = 16
_nthreads = 1


def init():
    """Nothing to start: numcodecs/__init__ calls this at import time."""


def destroy():
    """Nothing to stop: registered with atexit by numcodecs/__init__."""


def list_compressors():
    """The compressors inside Blosc that decode (those of numcodecs' own build)."""
    return ["blosclz", "lz4", "lz4hc", "zlib", "zstd"]


def get_nthreads():
    return _nthreads


def set_nthreads(nthreads):
    global _nthreads
    previous, _nthreads = _nthreads, nthreads
    return previous


def _bytes(obj):
    """A flat unsigned-byte memoryview of any contiguous buffer (no copy)."""
    return memoryview(ensure_contiguous_ndarray(obj).view("u1"))


def _header(buffer):
    if len(buffer) < _HEADER:
        raise RuntimeError(f"error during blosc decompression: {len(buffer)} bytes is shorter than a Blosc header")
    version, _, flags, typesize, nbytes, blocksize, cbytes = struct.unpack_from("<BBBBIII", buffer, 0)
    return version, flags, typesize, nbytes, blocksize, cbytes


def cbuffer_sizes(source):
    """Return ``(nbytes, cbytes, blocksize)`` from the header of a Blosc buffer."""
    _, _, _, nbytes, blocksize, cbytes = _header(_bytes(source))
    return nbytes, cbytes, blocksize


def cbuffer_complib(source):
    """Name of the compression library a Blosc buffer was made with (``LZ4``, ``Zstd``, ...)."""
    flags = _header(_bytes(source))[1]
    return _COMPLIBS.get(flags >> 5, f"unknown ({flags >> 5})")


def cbuffer_metainfo(source):
    """Return ``(typesize, shuffle, memcpyed)`` from the header of a Blosc buffer."""
    _, flags, typesize, _, _, _ = _header(_bytes(source))
    shuffle = SHUFFLE if flags & _DOSHUFFLE else BITSHUFFLE if flags & _DOBITSHUFFLE else NOSHUFFLE
    return typesize, shuffle, flags & _MEMCPYED


def _decoder():
    if sys.platform != "emscripten":
        raise CodecUnavailableError(
            "codec blosc of the offline Pyodide bundle decodes through WebAssembly c-blosc and runs only in "
            "Pyodide; on CPython use the real numcodecs")
    import js

    decoder = getattr(js, JS_DECODER, None)
    if decoder is None:
        raise CodecUnavailableError(
            f"codec blosc: no WebAssembly decoder registered as globalThis.{JS_DECODER}; import "
            "numcodecs-js/numcodecs_blosc.mjs of the offline Pyodide bundle and await registerBlosc() "
            "before Python reads Blosc data")
    return decoder


def decompress(source, dest=None):
    """Decompress a Blosc buffer into new bytes, or into `dest` (which is returned)."""
    buffer = _bytes(source)
    version, _, _, nbytes, _, cbytes = _header(buffer)
    if version == 0 or cbytes < _HEADER or cbytes > len(buffer):
        raise RuntimeError(f"error during blosc decompression: not a Blosc buffer (header version {version}, "
                           f"{cbytes} compressed bytes, {len(buffer)} given)")
    decoder = _decoder()
    from js import Uint8Array

    data = Uint8Array.new(len(buffer))
    data.assign(buffer)
    try:
        result = decoder.decompress(data)
    except Exception as exc:  # a JsException from the WebAssembly module
        raise RuntimeError(f"error during blosc decompression: {exc}") from exc
    if result.length != nbytes:
        raise RuntimeError(f"error during blosc decompression: the decoder returned {result.length} bytes, "
                           f"the header says {nbytes}")
    if dest is None:
        return result.to_bytes()
    target = _bytes(dest)
    if len(target) != nbytes:
        raise ValueError(f"destination buffer has wrong size; expected {nbytes}, got {len(target)}")
    result.assign_to(target)
    return dest


compress = unavailable_function("blosc (encoding)", "compress")
decompress_partial = unavailable_function("blosc (partial decoding)", "decompress_partial")


class Blosc(UnavailableCodec):
    """Blosc that decodes (through WebAssembly c-blosc, see the module docstring) but does not encode."""

    codec_id = "blosc"
    NOSHUFFLE = NOSHUFFLE
    SHUFFLE = SHUFFLE
    BITSHUFFLE = BITSHUFFLE
    AUTOSHUFFLE = AUTOSHUFFLE
    max_buffer_size = 2**31 - 1

    def __init__(self, cname="lz4", clevel=5, shuffle=SHUFFLE, blocksize=AUTOBLOCKS):
        self.cname = cname
        self.clevel = clevel
        self.shuffle = shuffle
        self.blocksize = blocksize

    def encode(self, buf):
        raise unavailable("blosc (encoding)")

    def decode(self, buf, out=None):
        return decompress(buf, out)

    def decode_partial(self, buf, start, nitems, out=None):
        raise unavailable("blosc (partial decoding)")

    def __repr__(self):
        return (f"{type(self).__name__}(cname={self.cname!r}, clevel={self.clevel!r}, "
                f"shuffle={_SHUFFLE_REPR[self.shuffle + 1]}, blocksize={self.blocksize})")
