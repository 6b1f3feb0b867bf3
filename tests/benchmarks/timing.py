"""What the benchmark scripts share for timing Python calls (imported from the scripts' own folder)."""

from __future__ import annotations

import statistics
import time


def median_seconds(function, rounds: int) -> float:
    """The median wall time of ``rounds`` calls of ``function()``, each timed on its own, in seconds."""
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)
