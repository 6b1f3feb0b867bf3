"""``python -m pipeline``: the command line, one module per family of commands.

``main`` (the parser, and the library commands ``synthetic``, ``consolidate``, ``pack``,
``validate``), ``sources`` (``nwb``, ``ibl``, ``npultra``), ``maintenance`` (``prune``,
``delete``, ``restore-noise``) and ``common`` (arguments and exit codes they share).
"""

from .main import build_parser, main

__all__ = ["build_parser", "main"]
