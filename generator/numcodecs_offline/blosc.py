"""Placeholder for the compiled numcodecs.blosc (see numcodecs._unavailable)."""

from ._unavailable import UnavailableCodec, unavailable, unavailable_function

NOSHUFFLE = 0
SHUFFLE = 1
BITSHUFFLE = 2
AUTOSHUFFLE = -1
AUTOBLOCKS = 0
MAX_THREADS = 256
VERSION_STRING = "unavailable (offline Pyodide bundle placeholder)"
_SHUFFLE_REPR = ["AUTOSHUFFLE", "NOSHUFFLE", "SHUFFLE", "BITSHUFFLE"]
_nthreads = 1


def init():
    """Nothing to start: numcodecs/__init__ calls this at import time."""


def destroy():
    """Nothing to stop: registered with atexit by numcodecs/__init__."""


def list_compressors():
    return []


def get_nthreads():
    return _nthreads


def set_nthreads(nthreads):
    global _nthreads
    previous, _nthreads = _nthreads, nthreads
    return previous


cbuffer_sizes = unavailable_function("blosc", "cbuffer_sizes")
cbuffer_complib = unavailable_function("blosc", "cbuffer_complib")
cbuffer_metainfo = unavailable_function("blosc", "cbuffer_metainfo")
compress = unavailable_function("blosc", "compress")
decompress = unavailable_function("blosc", "decompress")
decompress_partial = unavailable_function("blosc", "decompress_partial")


class Blosc(UnavailableCodec):
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

    def decode_partial(self, buf, start, nitems, out=None):
        raise unavailable(self.codec_id)

    def __repr__(self):
        return (f"{type(self).__name__}(cname={self.cname!r}, clevel={self.clevel!r}, "
                f"shuffle={_SHUFFLE_REPR[self.shuffle + 1]}, blocksize={self.blocksize})")
