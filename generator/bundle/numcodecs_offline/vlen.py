"""Placeholder for the compiled numcodecs.vlen (see numcodecs._unavailable)."""

import numpy as np

from ._unavailable import UnavailableCodec


class VLenUTF8(UnavailableCodec):
    codec_id = "vlen-utf8"


class VLenBytes(UnavailableCodec):
    codec_id = "vlen-bytes"


class VLenArray(UnavailableCodec):
    codec_id = "vlen-array"

    def __init__(self, dtype):
        self.dtype = np.dtype(dtype)

    def get_config(self):
        return {"id": self.codec_id, "dtype": self.dtype.str}

    def __repr__(self):
        return f"{type(self).__name__}(dtype={self.dtype.str!r})"
