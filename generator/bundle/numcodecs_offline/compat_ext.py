"""Placeholder for the compiled numcodecs.compat_ext (see numcodecs._unavailable)."""

from ._unavailable import unavailable


class Buffer:
    """Only the compiled codecs use this buffer helper; none of them exist here."""

    def __init__(self, *args, **kwargs):
        raise unavailable("support module compat_ext")
