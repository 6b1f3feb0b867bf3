"""Consolidate on S3: adding previews and shape metrics to a published library, then reusing them.

Not a test (timings are noisy here): run it and read the figures.

    .venv/bin/python tests/benchmarks/consolidate_s3.py [--datasets 8] [--units 50]

It starts ``moto_server`` on loopback, publishes the demo library (zlib) to a bucket, strips
what a library published before previews and metrics lacks (the metric columns, the preview
shards, the fingerprints), and times three consolidations through the real S3 API:

1. ``first``: like today's public bucket, every dataset is read once to add previews and
   metrics;
2. ``again``: nothing changed, so every dataset is reused and no template chunk is read;
3. one dataset republished, then ``one changed``: only that dataset is read.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from s3_server import make_bucket, moto_server, s3_environment  # noqa: E402

from templatelib import format as fmt  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=int, default=8)
    parser.add_argument("--units", type=int, default=50)
    args = parser.parse_args(argv)
    with moto_server() as endpoint:
        os.environ.update(s3_environment(endpoint))
        from pipeline.catalogue import consolidate
        from pipeline.sources.synthetic import write_synthetic_library
        from pipeline.storage import LibraryStorage

        make_bucket(endpoint, "bench")
        storage = LibraryStorage("s3://bench/lib")
        write_synthetic_library(storage, args.datasets, args.units, compressor="zlib")
        consolidate(storage)
        # What a library published before previews and metrics looks like.
        table = pd.read_csv(io.BytesIO(storage.read_bytes(fmt.CATALOGUE_FILE)))
        old_csv = table.drop(columns=list(fmt.METRIC_COLUMNS)).to_csv(index=False).encode()
        manifest = json.loads(storage.read_bytes(fmt.MANIFEST_FILE))
        storage.remove(fmt.PREVIEW_DIR)
        manifest.pop("previews")
        for entry in manifest["datasets"].values():
            entry.pop("fingerprint")
        storage.write_bytes(fmt.CATALOGUE_FILE, old_csv)
        storage.write_bytes(fmt.MANIFEST_FILE, json.dumps(manifest).encode())

        def timed(label):
            started = time.perf_counter()
            consolidate(storage)
            print(f"{label:12s} {time.perf_counter() - started:6.1f} s  ({len(table)} templates, "
                  f"{args.datasets} datasets, moto S3 on loopback)")

        timed("first")
        timed("again")
        first = storage.complete_datasets()[0]
        write_synthetic_library_one(storage, first, args.units)
        timed("one changed")
    return 0


def write_synthetic_library_one(storage, dataset: str, units: int) -> None:
    from pipeline.dataset_writer import WriteOptions, write_dataset
    from pipeline.sources.synthetic import SyntheticPlan, synthesize_dataset

    name = dataset[: -len(fmt.DATASET_SUFFIX)]
    templates, meta = synthesize_dataset(SyntheticPlan(name, "np1"), units, seed=123)
    write_dataset(storage, name, templates, meta, WriteOptions(compressor="zlib"), overwrite=True)


if __name__ == "__main__":
    sys.exit(main())
