"""Placeholder for the compiled numcodecs.zstd (see numcodecs._unavailable)."""

from ._unavailable import UnavailableCodec, unavailable_function

DEFAULT_CLEVEL = 0
MAX_CLEVEL = 22
compress = unavailable_function("zstd", "compress")
decompress = unavailable_function("zstd", "decompress")


class Zstd(UnavailableCodec):
    codec_id = "zstd"

    def __init__(self, level=DEFAULT_CLEVEL, checksum=False):
        self.level = level
        self.checksum = checksum

    def __repr__(self):
        return f"{type(self).__name__}(level={self.level!r})"
