"""NWB source benchmark: time per session at full Neuropixels width, and where it goes.

Not a test (timings are noisy here): run it and read the figures.

    .venv/bin/python tests/benchmarks/nwb_session.py [--seconds 120] [--channels 384] [--units 40] [--n-jobs 1 2] [--chunk-durations 1s 10s]

It writes a ground-truth NWB file like the fidelity test's (int16, conversion to volts,
electrodes, units), then runs the NWB source on all of it (``--minutes`` = its length) once per
``--n-jobs`` value and prints wall time, the real-time factor (seconds of compute per second
of recording) and the extrapolation to the live recipe's 30 minutes. Preprocessing and
template averaging scale with the window; noise levels read a fixed 20 x 10,000 samples.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from fixtures_nwb import make_ground_truth, write_ground_truth_nwb  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--channels", type=int, default=384)
    parser.add_argument("--units", type=int, default=40)
    parser.add_argument("--n-jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--chunk-durations", nargs="+", default=["1s"],
                        help="chunk length of the chunked steps, e.g. 1s 10s (each run once per n_jobs)")
    args = parser.parse_args()

    from pipeline.sources.nwb import nwb_to_dataset
    from pipeline.storage import LibraryStorage

    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        truth = make_ground_truth(Path(folder) / "bench_ecephys.nwb", duration_s=args.seconds,
                                  num_channels=args.channels, num_units=args.units, seed=1)
        write_ground_truth_nwb(truth)
        size = truth.path.stat().st_size
        print(f"wrote {args.seconds:g} s x {args.channels} channels ({size / 1e9:.2f} GB) "
              f"in {time.perf_counter() - started:.1f} s")
        for chunk in args.chunk_durations:
            for n_jobs in args.n_jobs:
                storage = LibraryStorage(str(Path(folder) / f"lib{n_jobs}-{chunk}"))
                result = nwb_to_dataset(truth.path, storage, minutes=args.seconds / 60.0, min_spikes=50,
                                        progress=False, n_jobs=n_jobs, chunk_duration=chunk)
                factor = result.elapsed_s / args.seconds
                print(f"n_jobs={n_jobs} chunks={chunk}: {result.units_written} templates in {result.elapsed_s:.1f} s, "
                      f"{factor:.2f} s per recorded s -> ~{factor * 30:.0f} min for a 30 min session", flush=True)


if __name__ == "__main__":
    main()
