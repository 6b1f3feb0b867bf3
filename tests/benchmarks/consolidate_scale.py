"""Consolidate at scale on moto S3: time and peak memory, cold and warm, in-process and on Dask.

Not a test (timings are noisy on a shared machine): run it and read the figures.

    .venv/bin/python tests/benchmarks/consolidate_scale.py [--templates 10000] [--units 50]
        [--distinct 4] [--workers 2] [--skip-cold | --cold-on-dask-only] [--hollow]

Every consolidation is the real command (``pipeline.cli.main(["consolidate", ...])``, what
``python -m pipeline consolidate`` runs) in a child process against ``moto_server`` on
loopback; its peak memory is its ``VmHWM`` at exit, its CPU time from ``RUSAGE_CHILDREN``. On
Dask it runs with ``--scheduler`` on a two-worker ``LocalCluster`` started here, fresh for
each run, so each worker's ``VmHWM`` is that run's own (a worker also holds its imports:
distributed, spikeinterface).

Stages:

1. ``cold``: ``--distinct`` synthetic datasets of ``--units`` real, different templates
   (the synthetic source); every metric and preview is computed, once in-process and once on
   Dask. spikeinterface's shape metrics cost 0.1-0.8 s per template here (its exp_decay and
   velocity fits dominate), so a cold run of 10,000 templates does not fit a benchmark on this
   2-core machine: the per-template cost is printed to extrapolate.
2. ``warm``: a library of ``--templates`` templates, made of copies of the distinct datasets
   under new names (server-side S3 copies: new template IDs, byte-identical arrays). Its
   previous catalogue is seeded by one in-process consolidation that computes the metrics
   and previews of each distinct dataset once and gives them to its copies (same arrays,
   same values; only the template IDs of the preview rows differ). Then ``consolidate`` with
   nothing changed (everything reused by fingerprint, nothing sent to Dask), and after one
   dataset is rewritten with new templates (that one alone computed).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parents[1]))
from s3_server import make_bucket, moto_server, s3_environment  # noqa: E402

from templatelib import format as fmt  # noqa: E402

MIB = 1024 * 1024
#: CPU seconds of the last run: the command's, and its Dask workers' (summed).
CPU = {"command": 0.0, "workers": 0.0}


#: The command, run as ``python -m pipeline consolidate`` runs it, reporting its own peak RSS.
#: ``VmHWM`` and not ``ru_maxrss``: Linux carries a forked parent's peak into the child's
#: ``ru_maxrss`` across ``exec``, and this benchmark's own process is large after seeding.
COMMAND = """
import atexit, sys
def peak():
    with open("/proc/self/status") as status:
        kib = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    print(f"VmHWM {kib}", file=sys.stderr)
atexit.register(peak)
from pipeline.cli import main
sys.exit(main(["consolidate", *sys.argv[1:]]))
"""


def _vmhwm_mib() -> float:
    """Peak resident memory of this process since its ``exec``, in MiB."""
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024


def _usage() -> tuple[float, float]:
    """``(peak RSS in MiB, CPU seconds)`` of this process (a Dask worker's, through client.run)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return _vmhwm_mib(), usage.ru_utime + usage.ru_stime


def run_consolidate(root: str, *extra: str) -> tuple[float, float, str]:
    """``(seconds, peak RSS of the command in MiB, its last stdout line)``; CPU seconds in CPU."""
    command = [sys.executable, "-c", COMMAND, root, *extra]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = process.communicate()
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # only this child ended meanwhile
    CPU["command"] = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    if process.returncode not in (0, 1):
        raise RuntimeError(f"consolidate {root} {' '.join(extra)} exited {process.returncode}: {err[-2000:]}")
    peak = next((int(line.split()[1]) / 1024 for line in err.splitlines() if line.startswith("VmHWM ")), float("nan"))
    return elapsed, peak, (out.strip().splitlines() or [""])[-1]


def on_dask(root: str, workers: int) -> tuple[float, float, list[float], str]:
    """One ``consolidate --scheduler`` run on a fresh local cluster; the workers' peak RSS too."""
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster, Client(cluster, set_as_default=False) as client:
        before = sum(cpu for _, cpu in client.run(_usage).values())
        elapsed, peak, line = run_consolidate(root, "--scheduler", cluster.scheduler_address)
        usage = client.run(_usage).values()
    CPU["workers"] = sum(cpu for _, cpu in usage) - before
    return elapsed, peak, sorted(rss for rss, _ in usage), line


def clear_catalogue(storage) -> None:
    for key in (fmt.CATALOGUE_FILE, fmt.MANIFEST_FILE, fmt.PREVIEW_DIR):
        storage.remove(key)


def copy_datasets(origin, storage, sources: list[str], count: int, batch: int = 20, hollow: bool = False) -> list[str]:
    """``count`` datasets in ``storage``, each a byte copy of one of ``sources`` in ``origin``.

    ``hollow``: every copy but the first of each source leaves its template chunks out (the
    warm run reads none; the seeding reads the first copies, which sort first).

    Each source is read once; the copies are uploaded ``batch`` datasets at a time with
    concurrent PUTs, every ``.zmetadata`` after the rest of its batch (a dataset counts as
    complete only once it is there).
    """
    objects = {}
    for source in sources:
        prefix = origin.key_path(source)
        objects[source] = {path[len(prefix):]: data for path, data in origin.fs.cat(origin.fs.find(prefix)).items()}
    names = [f"copy{number:06d}_{sources[number % len(sources)]}" for number in range(count)]
    for first in range(0, count, batch):
        body, metadata = {}, {}
        for number in range(first, min(first + batch, count)):
            target = storage.key_path(names[number])
            for suffix, data in objects[sources[number % len(sources)]].items():
                if hollow and number >= len(sources) and suffix.startswith("/templates_array/") \
                        and not suffix.rsplit("/", 1)[-1].startswith("."):
                    continue
                (metadata if suffix.endswith(fmt.CONSOLIDATED_KEY) else body)[target + suffix] = data
        storage.fs.pipe(body)
        storage.fs.pipe(metadata)
    storage.fs.invalidate_cache()
    return names


def seed_catalogue(storage) -> None:
    """Consolidate once, in-process, computing each distinct dataset's metrics and previews once.

    A copy has the arrays of its source, so spikeinterface would give it the same metrics and
    the same preview traces; the memo is keyed by the arrays' content (``peak_to_peak`` and
    ``.zmetadata`` bytes through the fingerprint), never by name.
    """
    import pipeline.catalogue as catalogue

    computed_metrics, computed_rows = {}, {}
    real_metrics, real_previews = catalogue.dataset_metrics, catalogue.dataset_previews

    def content(group) -> str:
        digest = hashlib.sha256(group["peak_to_peak"][:].tobytes())
        digest.update(group["unit_ids"][:].tobytes())
        return digest.hexdigest()

    def metrics(group, rows, reusable):
        key = content(group)
        if key not in computed_metrics:
            computed_metrics[key] = real_metrics(group, rows, reusable)[0]
        return computed_metrics[key].copy(), False

    def previews(previous, group, dataset, fingerprint, template_ids, best):
        key = content(group)
        template_ids = list(template_ids)
        if key not in computed_rows:
            computed_rows[key] = real_previews(previous, group, dataset, fingerprint, template_ids, best)[0]
        rows, step = computed_rows[key], fmt.PREVIEW_ROW_BYTES
        return b"".join(bytes.fromhex(t) + rows[i * step + fmt.PREVIEW_ID_BYTES:(i + 1) * step]
                        for i, t in enumerate(template_ids)), False

    catalogue.dataset_metrics, catalogue.dataset_previews = metrics, previews
    try:
        catalogue.consolidate(storage)
    finally:
        catalogue.dataset_metrics, catalogue.dataset_previews = real_metrics, real_previews


def rewrite_one(storage, dataset: str, units: int) -> None:
    from pipeline.dataset_writer import WriteOptions, write_dataset
    from pipeline.sources.synthetic import SyntheticPlan, synthesize_dataset

    name = dataset[: -len(fmt.DATASET_SUFFIX)]
    templates, meta = synthesize_dataset(SyntheticPlan(name, "np1"), units, seed=123)
    write_dataset(storage, name, templates, meta, WriteOptions(compressor="zlib"), overwrite=True)


def report(stage: str, templates: int, seconds: float, peak: float, workers=None, note: str = "") -> None:
    per = f"{seconds / templates * 1000:8.2f} ms/template" if templates else ""
    dask = f"  workers peak RSS {', '.join(f'{w:.0f}' for w in workers)} MiB" if workers else ""
    cpu = f"  CPU {CPU['command']:.1f} s" + (f" + workers {CPU['workers']:.1f} s" if workers else "")
    cpu = cpu if CPU["command"] else ""
    CPU.update(command=0.0, workers=0.0)
    print(f"{stage:34s} {templates:7d} templates {seconds:8.1f} s {per}  peak RSS {peak:6.0f} MiB{dask}{cpu}  {note}",
          flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--templates", type=int, nargs="*", default=[10_000],
                        help="sizes of the warm library (default: 10000; none: cold only)")
    parser.add_argument("--units", type=int, default=50, help="units per dataset (default: 50)")
    parser.add_argument("--distinct", type=int, default=4, help="datasets of distinct templates (default: 4)")
    parser.add_argument("--workers", type=int, default=2, help="Dask workers (default: 2)")
    parser.add_argument("--skip-cold", action="store_true")
    parser.add_argument("--cold-on-dask-only", action="store_true",
                        help="the cold run on Dask alone (a large --distinct: the in-process run would take hours)")
    parser.add_argument("--hollow", action="store_true",
                        help="copies leave their template chunks out (fits 100,000 templates in moto's memory); "
                             "only the in-process warm run is measured then, as it reads no template chunk")
    args = parser.parse_args(argv)
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(HERE.parents[2] / "site_src"), str(HERE.parents[2]),
                                                           os.environ.get("PYTHONPATH")) if p)
    os.environ["TQDM_DISABLE"] = "1"
    with moto_server() as endpoint:
        os.environ.update(s3_environment(endpoint))
        from pipeline.sources.synthetic import write_synthetic_library
        from pipeline.storage import LibraryStorage

        make_bucket(endpoint, "scale")
        cold = LibraryStorage("s3://scale/cold")
        started = time.perf_counter()
        write_synthetic_library(cold, args.distinct, args.units, compressor="zlib")
        distinct = args.distinct * args.units
        report("write distinct (synthetic)", distinct, time.perf_counter() - started, _vmhwm_mib())
        if not args.skip_cold:
            if not args.cold_on_dask_only:
                seconds, peak, line = run_consolidate(cold.url())
                report("cold, in-process", distinct, seconds, peak, note=line)
                reference = cold.read_bytes(fmt.CATALOGUE_FILE)
                clear_catalogue(cold)
            seconds, peak, workers, line = on_dask(cold.url(), args.workers)
            report(f"cold, Dask {args.workers} workers", distinct, seconds, peak, workers, line)
            if not args.cold_on_dask_only:
                same = cold.read_bytes(fmt.CATALOGUE_FILE) == reference
                print(f"  Dask templates.csv identical to in-process: {same}", flush=True)
        sources = cold.complete_datasets()
        for size in args.templates:
            big = LibraryStorage(f"s3://scale/warm{size}")
            started = time.perf_counter()
            copy_datasets(cold, big, sources, max(len(sources), size // args.units), hollow=args.hollow)
            report("copy datasets (S3 PUT)", size, time.perf_counter() - started, _vmhwm_mib())
            started = time.perf_counter()
            seed_catalogue(big)
            report("seed catalogue (setup, memoized)", size, time.perf_counter() - started, _vmhwm_mib())
            seeded = big.read_bytes(fmt.CATALOGUE_FILE)
            manifest = json.loads(big.read_bytes(fmt.MANIFEST_FILE))
            print(f"  templates.csv {len(seeded) / MIB:.1f} MiB, {len(manifest['datasets'])} datasets, "
                  f"{len(manifest['previews']['shards'])} preview shards", flush=True)
            seconds, peak, line = run_consolidate(big.url())
            report("warm, in-process", size, seconds, peak, note=line)
            print(f"  templates.csv unchanged: {big.read_bytes(fmt.CATALOGUE_FILE) == seeded}", flush=True)
            if args.hollow:
                big.remove("")
                continue
            seconds, peak, workers, line = on_dask(big.url(), args.workers)
            report(f"warm, Dask {args.workers} workers", size, seconds, peak, workers, line)
            rewrite_one(big, big.complete_datasets()[0], args.units)
            seconds, peak, workers, line = on_dask(big.url(), args.workers)
            report(f"one dataset changed, Dask {args.workers} w.", size, seconds, peak, workers, line)
            big.remove("")  # frees moto's memory before the next size
    return 0


if __name__ == "__main__":
    sys.exit(main())
