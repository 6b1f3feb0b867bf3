"""Query speed: the page's evaluator (column_query) on numpy and on ``array`` columns against pandas, 100,000 rows.

Not a test (timings are noisy here): run it and read the figures.

    PYTHONPATH=$PWD/site_src:$PWD .venv/bin/python tests/benchmarks/column_query_speed.py [--rows 100000]

The table is shaped like the real catalogue: every format column, numbers as float64 (NaN in
noise and metrics) or int64, text as categories (a few hundred brain areas, a handful of
probes, a hundred datasets). Each query is timed through ``column_query.evaluate`` on the
``ColumnTable`` (numpy columns, and the standard-library ``array`` columns the page holds
before numpy has loaded: ``to_python()``) and ``safe_query.run_query`` on its ``to_pandas()``
frame (all parse and check the expression); the figure is the median of the repeats, and the
row counts must agree. Then a sort and a page turn (the worker's ``query`` with an offset) on
both backends, and reading the compact catalogue (no numpy needed) and the switch to numpy.
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np

from templatelib import format as fmt
from templatelib.app import TemplateBrowser
from templatelib.column_arrays import NeedsNumpy
from templatelib.column_query import evaluate
from templatelib.column_table import INTEGER_COLUMNS, ColumnTable, TextColumn
from templatelib.safe_query import run_query
from timing import median_seconds

QUERIES = [
    "probe == 'Neuropixels 1.0' and brain_area == 'CA1' and amplitude_uv >= 80 and spikes_per_unit >= 100",
    "brain_area == 'CA1' and 50 < amplitude_uv < 200",
    "brain_area.str.startswith('VIS') or brain_area in ['CA1', 'DG-mo']",
    "amplitude_uv / noise_level_uv > 10",
    "probe == 'Neuropixels 1.0' & (depth_along_probe >= 100) | ~(spikes_per_unit > 100) "
    "or signal_to_noise_ratio.isna()",
]


def catalogue(rows: int, seed: int = 0) -> ColumnTable:
    rng = np.random.default_rng(seed)
    areas = ["CA1", "DG-mo", "VISp5"] + [f"AREA{k}-{s}" for k in range(300) for s in ("a",)]
    text = {
        "probe": ["Neuropixels 1.0", "Neuropixels 2.0", "NP-Ultra", "Neuropixels 1.0 NHP", "UHD"],
        "probe_manufacturer": ["IMEC", "other"],
        "brain_area": areas,
        "dataset": [f"sub-{k:03d}_ses-1" for k in range(100)],
        "dataset_path": [f"datasets/sub-{k:03d}_ses-1.zarr" for k in range(100)],
        "template_id": None,
        "unit_id": [str(k) for k in range(500)],
    }
    columns = {}
    for name in fmt.COLUMNS:
        if name == "template_id":
            columns[name] = TextColumn.from_strings(f"t{k:06d}" for k in range(rows))
        elif name in text:
            columns[name] = TextColumn.from_strings(rng.choice(text[name], rows))
        elif name in INTEGER_COLUMNS:
            columns[name] = rng.integers(0, 5000, rows).astype(np.int64)
        else:
            values = rng.lognormal(4, 1, rows)
            values[rng.random(rows) < 0.1] = np.nan
            columns[name] = values
    return ColumnTable(columns)


def median_ms(function, repeats: int) -> float:
    return median_seconds(function, repeats) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    table = catalogue(args.rows)
    pure = table.to_python()
    frame = table.to_pandas()
    print(f"{args.rows} rows; median of {args.repeats}; ms")
    print(f"{'numpy':>8} {'array':>8} {'pandas':>8} {'rows':>7}  query")
    for query in QUERIES:
        ours = len(evaluate(table, query))
        theirs = len(run_query(frame, query))
        assert ours == theirs, (query, ours, theirs)
        numpy_ms = median_ms(lambda q=query: evaluate(table, q), args.repeats)
        try:
            assert len(evaluate(pure, query)) == ours
            pure_ms = f"{median_ms(lambda q=query: evaluate(pure, q), args.repeats):8.2f}"
        except NeedsNumpy:
            pure_ms = f"{'(numpy)':>8}"
        pandas_ms = median_ms(lambda q=query: run_query(frame, q), args.repeats)
        print(f"{numpy_ms:8.2f} {pure_ms} {pandas_ms:8.2f} {ours:7d}  {query}")
    # The worker's calls: a sort of the whole result and a page turn (records of 25 rows).
    print(f"\n{'numpy':>8} {'array':>8}  worker call")
    for words, call in [
        ("query + sort by amplitude_uv, descending", lambda b, k: b.query(QUERIES[1] + f" and amplitude_uv != {k}",
                                                                          "amplitude_uv", True, 0, 25)),
        ("sort everything by brain_area", lambda b, k: b.query(f"amplitude_uv != {k}", "brain_area", False, 0, 25)),
        ("page turn (cached result, offset 5000)", lambda b, k: b.query("", "amplitude_uv", True, 5000 + k, 25)),
    ]:
        timings = []
        for columns in (table, pure):
            browser = TemplateBrowser("http://127.0.0.1:1/")
            browser.columns = columns
            counter = iter(range(10**6))
            timings.append(median_ms(lambda b=browser, c=counter, f=call: f(b, next(c)), args.repeats))
        print(f"{timings[0]:8.2f} {timings[1]:8.2f}  {words}")
    from templatelib.compact_catalogue import read_compact, write_compact

    data = write_compact(table, "0" * 64)
    print(f"\nread the compact catalogue ({len(data) / 1e6:.1f} MB) into array columns: "
          f"{median_ms(lambda: read_compact(data), 3):.0f} ms; switch to numpy: "
          f"{median_ms(lambda: read_compact(data).to_numpy(), 3) - median_ms(lambda: read_compact(data), 3):.0f} ms")


if __name__ == "__main__":
    main()
