"""Placeholder for the compiled numcodecs.lz4 (see numcodecs._unavailable)."""

from ._unavailable import UnavailableCodec, unavailable_function

DEFAULT_ACCELERATION = 1
compress = unavailable_function("lz4", "compress")
decompress = unavailable_function("lz4", "decompress")


class LZ4(UnavailableCodec):
    codec_id = "lz4"

    def __init__(self, acceleration=DEFAULT_ACCELERATION):
        self.acceleration = acceleration

    def __repr__(self):
        return f"{type(self).__name__}(acceleration={self.acceleration!r})"
