"""Placeholders for numcodecs' compiled codecs in the offline Pyodide bundle.

No package registry has a Pyodide (wasm32) build of numcodecs, so the offline bundle ships
numcodecs' pure-Python modules and replaces each Cython extension with a stand-in that
imports, registers and reports its configuration like the real codec. This keeps
``import zarr`` working and lets arrays compressed with zlib/gzip (or not at all) be read.
``blosc`` decodes through WebAssembly c-blosc (see its docstring); encoding or decoding with
the other placeholder codecs raises CodecUnavailableError. The CDN build of Pyodide ships
the real numcodecs with all these codecs.
"""

from .abc import Codec

OFFLINE_PLACEHOLDER = True


class CodecUnavailableError(RuntimeError):
    """A compiled numcodecs codec was used in the offline Pyodide bundle."""


def unavailable(codec):
    """The error for using `codec`, which this build has only as a placeholder."""
    return CodecUnavailableError(
        f"codec {codec} is not available in the offline Pyodide bundle (this numcodecs is a "
        "pure-Python build with placeholder modules for its compiled codecs); "
        "the CDN build decodes it"
    )


def unavailable_function(codec, name):
    """A module-level function of a compiled codec module that always raises."""

    def function(*args, **kwargs):
        raise unavailable(codec)

    function.__name__ = function.__qualname__ = name
    return function


class UnavailableCodec(Codec):
    """Base of the placeholder codecs: configured like the real one, unusable on data."""

    def encode(self, buf):
        raise unavailable(self.codec_id)

    def decode(self, buf, out=None):
        raise unavailable(self.codec_id)
