"""The error every source raises for an input it refuses."""

from __future__ import annotations


class SourceError(Exception):
    """An input a source refuses; the message says what is wrong and nothing was written."""
