"""Bytes and parse time of the catalogue formats considered for the page (docs/format.md).

Builds a realistic N-row catalogue from a real library's ``templates.csv``: rows repeated
with new unique template IDs, and every measured value scaled by a random per-row factor so
that rows differ as they would in a real library (repeating rows unchanged would let any
compressor win unfairly). Then writes it as ``templates.csv`` today (17-digit floats), as
the pipeline now writes it (6 significant digits), as ``.npz`` (stored, deflated), as our
``catalogue.htlc`` (zlib and raw) and, when a Python with pyarrow is given, as Arrow IPC and
Parquet, and prints bytes (raw, gzip -6) and the median parse time to typed columns.

Usage::

    PYTHONPATH=site_src:. .venv/bin/python tests/benchmarks/catalogue_formats.py ROOT \
        [--rows 100000] [--rounds 3] [--arrow-python /tmp/pa_venv/bin/python]

ROOT is a library (e.g. one ``python -m pipeline synthetic`` wrote). The Arrow and Parquet
rows need pyarrow, which the page cannot use (no Pyodide wheel of a size we accept); they
are measured in a separate interpreter for comparison only.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.catalogue import catalogue_csv_bytes
from templatelib import format as fmt
from templatelib.catalogue import read_catalogue_csv
from templatelib.column_table import ColumnTable, TextColumn
from templatelib.compact_catalogue import read_compact, table_difference, write_compact
from timing import median_seconds

MEASURED = ("depth_along_probe", "amplitude_uv", "noise_level_uv", "signal_to_noise_ratio") + fmt.METRIC_COLUMNS


def grown_frame(csv_path: Path, rows: int, seed: int = 0) -> pd.DataFrame:
    """``rows`` rows of the library's catalogue with new IDs and per-row varied values."""
    source = pd.read_csv(csv_path, dtype={"template_id": str})
    frame = pd.concat([source] * (rows // len(source) + 1), ignore_index=True).iloc[:rows].copy()
    frame["template_id"] = [hashlib.sha256(f"grown/{k}".encode()).hexdigest()[:16] for k in range(rows)]
    rng = np.random.default_rng(seed)
    for column in MEASURED:
        if column in frame and frame[column].dtype.kind == "f" and not column.startswith("num_"):
            frame[column] = frame[column] * rng.lognormal(0, 0.3, rows)
    return frame


def npz_bytes(table: ColumnTable, compressed: bool) -> bytes:
    arrays = {}
    for name, column in table.columns.items():
        if isinstance(column, TextColumn):
            arrays[f"{name}.codes"] = column.codes
            arrays[f"{name}.categories"] = column.categories.astype(str)
        else:
            arrays[name] = column
    buffer = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buffer, **arrays)
    return buffer.getvalue()


def read_npz(data: bytes) -> ColumnTable:
    loaded = np.load(io.BytesIO(data), allow_pickle=False)
    columns = {}
    for key in loaded.files:
        name, _, part = key.partition(".")
        if part == "codes":
            columns[name] = TextColumn(loaded[key], loaded[f"{name}.categories"].astype(object))
        elif not part:
            columns[name] = loaded[key]
    return ColumnTable(columns)


ARROW_SCRIPT = r"""
import io, json, statistics, sys, time
import numpy as np, pyarrow as pa, pyarrow.ipc as ipc, pyarrow.parquet as pq
data = np.load(sys.argv[1], allow_pickle=False)
rounds = int(sys.argv[2])
columns = {}
for key in data.files:
    name, _, part = key.partition(".")
    if part == "codes":
        columns[name] = pa.DictionaryArray.from_arrays(pa.array(data[key]), pa.array(data[name + ".categories"].tolist()))
    elif not part:
        columns[name] = pa.array(data[key])
table = pa.table(columns)
def timed(f):
    ts = []
    for _ in range(rounds):
        t = time.perf_counter(); f(); ts.append(time.perf_counter() - t)
    return statistics.median(ts)
def to_numpy(t):
    return {n: (c.combine_chunks().indices.to_numpy() if pa.types.is_dictionary(c.type) else c.to_numpy())
            for n, c in zip(t.column_names, t.columns)}
out = []
for label, kw in (("Arrow IPC, uncompressed", {}), ("Arrow IPC, zstd", {"compression": "zstd"}),
                  ("Arrow IPC, lz4", {"compression": "lz4"})):
    sink = io.BytesIO()
    with ipc.new_file(sink, table.schema, options=ipc.IpcWriteOptions(**kw)) as w:
        w.write_table(table)
    blob = sink.getvalue()
    out.append([label, blob.hex() if False else len(blob), timed(lambda: to_numpy(ipc.open_file(io.BytesIO(blob)).read_all())), blob[:0].hex()])
    open(sys.argv[1] + "." + label.replace(" ", "_").replace(",", ""), "wb").write(blob)
for label, comp in (("Parquet, snappy", "snappy"), ("Parquet, zstd", "zstd"), ("Parquet, none", "none")):
    sink = io.BytesIO()
    pq.write_table(table, sink, compression=comp)
    blob = sink.getvalue()
    out.append([label, len(blob), timed(lambda: to_numpy(pq.read_table(io.BytesIO(blob)))), ""])
    open(sys.argv[1] + "." + label.replace(" ", "_").replace(",", ""), "wb").write(blob)
print(json.dumps(out))
"""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--arrow-python", help="a Python with pyarrow, for the Arrow IPC and Parquet rows")
    args = parser.parse_args(argv)

    frame = grown_frame(Path(args.root) / fmt.CATALOGUE_FILE, args.rows)
    today = io.StringIO()
    frame.to_csv(today, index=False)  # 17 significant digits, as consolidate wrote before
    options = {"templates.csv today (17-digit floats)": today.getvalue().encode()}
    options["templates.csv, 6 significant digits (now)"] = catalogue_csv_bytes(frame)
    short_csv = options["templates.csv, 6 significant digits (now)"]
    table = read_catalogue_csv(short_csv)
    sha = hashlib.sha256(short_csv).hexdigest()
    options[".npz stored"] = npz_bytes(table, compressed=False)
    options[".npz deflated"] = npz_bytes(table, compressed=True)
    options["catalogue.htlc (ours, zlib per column)"] = write_compact(table, sha)
    options["catalogue.htlc (ours, uncompressed)"] = write_compact(table, sha, level=0)
    assert table_difference(table, read_compact(options["catalogue.htlc (ours, zlib per column)"])) is None
    assert table_difference(table, read_compact(options["catalogue.htlc (ours, uncompressed)"])) is None

    readers = {
        "templates.csv today (17-digit floats)": read_catalogue_csv,
        "templates.csv, 6 significant digits (now)": read_catalogue_csv,
        ".npz stored": read_npz,
        ".npz deflated": read_npz,
        "catalogue.htlc (ours, zlib per column)": read_compact,
        "catalogue.htlc (ours, uncompressed)": read_compact,
    }
    baseline = len(options["templates.csv today (17-digit floats)"])
    results = []
    for label, data in options.items():
        seconds = median_seconds(lambda read=readers[label], data=data: read(data), args.rounds)
        results.append((label, len(data), len(gzip.compress(data, 6)), seconds))
    pandas_seconds = median_seconds(lambda: pd.read_csv(io.BytesIO(options["templates.csv today (17-digit floats)"])),
                                    args.rounds)
    if args.arrow_python:
        with tempfile.TemporaryDirectory() as folder:
            path = str(Path(folder) / "table.npz")
            Path(path).write_bytes(options[".npz stored"])
            done = subprocess.run([args.arrow_python, "-c", ARROW_SCRIPT, path, str(args.rounds)],
                                  capture_output=True, text=True, timeout=1200)
            if done.returncode:
                print(f"pyarrow run failed: {done.stderr[-500:]}", file=sys.stderr)
            else:
                for label, size, seconds, _ in json.loads(done.stdout):
                    blob = Path(path + "." + label.replace(" ", "_").replace(",", "")).read_bytes()
                    results.append((label + " (pyarrow)", size, len(gzip.compress(blob, 6)), seconds))
    print(f"{args.rows} rows; parse = median of {args.rounds} to typed columns in CPython {sys.version.split()[0]}")
    print("| format | bytes | bytes/row | gzip -6 | x today's csv | parse (s) |")
    print("|---|---|---|---|---|---|")
    for label, size, zipped, seconds in results:
        print(f"| {label} | {size:,} | {size / args.rows:.0f} | {zipped:,} | {size / baseline:.3f} | {seconds:.3f} |")
    print(f"| pandas.read_csv of today's csv (for reference) | | | | | {pandas_seconds:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
