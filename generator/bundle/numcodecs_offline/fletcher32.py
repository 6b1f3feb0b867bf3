"""Placeholder for the compiled numcodecs.fletcher32 (see numcodecs._unavailable)."""

from ._unavailable import UnavailableCodec


class Fletcher32(UnavailableCodec):
    codec_id = "fletcher32"
