"""``consolidate --workers N`` / ``--scheduler URL``: the changed datasets' metrics and previews on Dask.

``build_catalogue`` (:mod:`pipeline.catalogue`) reads every dataset's small arrays in-process
(rows, fingerprint) and reuses what the previous ``library.json`` pins for unchanged datasets.
With Dask options it leaves the rest pending; :func:`complete_on_dask` then sends one task per
pending dataset through :func:`pipeline.scale_out.run_on_dask` (the sources' driver: a
``LocalCluster`` on 127.0.0.1 or an existing scheduler) and fills the results in, in catalogue
order. Nothing pending means no cluster is started or contacted.

A task (:func:`dataset_work`) opens its dataset, checks the fingerprint is the one the
coordinator saw (a dataset rewritten meanwhile must not be catalogued with the other
version's rows), and computes what is missing: spikeinterface's shape metrics and/or the
preview rows, reading the templates in blocks (:data:`pipeline.previews.READ_BLOCK_UNITS`
units), so neither a worker nor the coordinator ever holds a whole dataset's templates. A task
that fails, or whose worker dies, leaves its dataset out with one line naming it; the rest of
the library is consolidated, as for damaged datasets.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from templatelib import format as fmt

#: Longest reason kept from a worker's exception: the message stays one readable line.
REASON_CHARS = 200


@dataclass(frozen=True)
class DaskOptions:
    """Where ``consolidate`` computes: an existing scheduler, else a local cluster of ``workers``.

    Attributes
    ----------
    scheduler : str, optional
        ``tcp://HOST:PORT``; its workers must read the library root and import this package.
    workers : int
        Single-threaded worker processes of the ``LocalCluster`` (ignored with ``scheduler``).
    storage_options : dict, optional
        fsspec options the workers open the root with (default: the standard AWS variables).
    """

    scheduler: str | None = None
    workers: int = 2
    storage_options: dict | None = None


def dataset_work(item, root: str, storage_options: dict | None = None) -> dict:
    """Compute what ``item = (dataset, fingerprint, need_metrics, need_previews)`` lacks.

    Runs on a Dask worker. Never raises: a failure is a ``failed`` summary with its reason.

    Returns
    -------
    dict
        ``{"asset": dataset, "status": "written", "metrics": DataFrame or None,
        "previews": bytes or None, "elapsed_s": ...}``, or ``status: "failed"`` with ``reason``.
    """
    from .catalogue import dataset_fingerprint, dataset_metrics, dataset_rows, open_dataset
    from .previews import compute_previews
    from .sources.summary import failed_summary
    from .storage import LibraryStorage

    key, fingerprint, need_metrics, need_previews = item
    started = time.perf_counter()
    try:
        storage = LibraryStorage(root, storage_options)
        group = open_dataset(storage, key)
        if dataset_fingerprint(storage, key, group) != fingerprint:
            return failed_summary(key, "changed while being consolidated (run consolidate again)", started)
        rows = dataset_rows(group, key)
        metrics = dataset_metrics(group, rows, None)[0] if need_metrics else None
        previews = (compute_previews(group, list(rows["template_id"]), rows["best_channel_index"])
                    if need_previews else None)
    except Exception as error:  # any failure is this dataset's, never the whole consolidation's
        return failed_summary(key, f"{type(error).__name__}: {str(error)[:REASON_CHARS]}", started)
    return {"asset": key, "status": "written", "reason": "", "metrics": metrics, "previews": previews,
            "elapsed_s": round(time.perf_counter() - started, 3)}


def pending_items(parts: dict) -> list[tuple]:
    """``(dataset, fingerprint, need_metrics, need_previews)`` for every part lacking something."""
    return [(key, part.summary["fingerprint"], part.metrics is None, part.previews is None)
            for key, part in parts.items() if part.metrics is None or part.previews is None]


def complete_on_dask(storage, parts: dict, options: DaskOptions) -> dict:
    """Fill the missing metrics and previews of ``parts`` on Dask; drop the datasets that failed.

    Parameters
    ----------
    storage : LibraryStorage
        The library (its root URL is sent to the workers).
    parts : dict
        ``{dataset: DatasetPart}`` from :func:`pipeline.catalogue.build_catalogue`, in catalogue
        order; completed in place, failed datasets removed.
    options : DaskOptions
        The cluster.

    Returns
    -------
    dict
        ``{dataset: one line saying why it was left out}``.

    Raises
    ------
    pipeline.scale_out.SchedulerError
        The scheduler is unreachable or has no worker: nothing was computed.
    """
    items = pending_items(parts)
    if not items:
        return {}
    from .scale_out import run_on_dask

    # A local root made absolute: the workers need not share this process's working directory.
    root = storage.root if "://" in storage.root else os.path.abspath(storage.root)
    summaries = run_on_dask(dataset_work, items, args=(root, options.storage_options),
                            scheduler=options.scheduler, workers=options.workers,
                            label=lambda item: item[0])
    damaged = {}
    for (key, *_), summary in zip(items, summaries):
        if summary.get("status") != "written":
            reason = " ".join(str(summary.get("reason", "")).split())[:REASON_CHARS]
            damaged[key] = f"{key}: failed on a Dask worker ({reason})"
            del parts[key]
            continue
        part = parts[key]
        # A worker on another machine may run other code: its answer must fit the rows read here.
        count = len(part.rows)
        if (summary["metrics"] is not None and len(summary["metrics"]) != count) or \
                (summary["previews"] is not None and len(summary["previews"]) != count * fmt.PREVIEW_ROW_BYTES):
            damaged[key] = f"{key}: a Dask worker answered for another number of templates than {count}"
            del parts[key]
            continue
        if summary["metrics"] is not None:
            part.metrics = summary["metrics"]
        if summary["previews"] is not None:
            part.previews = summary["previews"]
    return damaged
