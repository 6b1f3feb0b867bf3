"""Placeholder for the compiled numcodecs._shuffle (see numcodecs._unavailable)."""

from ._unavailable import unavailable_function

_doShuffle = unavailable_function("shuffle", "_doShuffle")
_doUnshuffle = unavailable_function("shuffle", "_doUnshuffle")
