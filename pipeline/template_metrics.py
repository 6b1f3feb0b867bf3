"""Template shape metrics, computed by spikeinterface, one row per template.

Every value comes from spikeinterface's own template-metric code (``spikeinterface.metrics.template``
in 0.105): the same preparation as ``ComputeTemplateMetrics._prepare_data`` (upsample the
best-channel template with ``scipy.signal.resample_poly``, detect its extrema with
``get_trough_and_peak_idx``), then each metric class of ``ComputeTemplateMetrics.metric_list``
through ``BaseMetric.compute``, with spikeinterface's default parameters. No formula is
re-implemented here. What this module adds:

* it works on a bare templates array (no ``SortingAnalyzer``, no recording);
* it computes **one template at a time**, so a template spikeinterface cannot handle gives NaN in
  its own row and never aborts the dataset (the analyzer extension, on an error in one metric,
  sets that metric to NaN for every unit);
* it says **why** a value is NaN: :func:`template_metrics_with_reasons` returns a second frame
  of reason codes (:data:`NAN_REASONS`);
* an extremum spikeinterface's detector could not search for (its index is the sentinel ``-1``:
  the trough sits too close to the template edge) is passed to the metric functions as ``None``,
  which they document as "missing" and answer with NaN, instead of reading ``template[-1]``;
* templates with NaN/inf samples, and flat templates, are not handed to spikeinterface at all:
  all their metrics are NaN (``nan_input``, ``flat_template``).

The columns and their order are :data:`METRIC_COLUMNS` (spikeinterface's column names; see
``site_src/docs/metrics.md`` for units and meaning). All columns are float64, including the
two peak counts, so that a missing value is NaN everywhere.
"""

from __future__ import annotations

import inspect
import warnings
from copy import deepcopy

import numpy as np
import pandas as pd
from tqdm import tqdm

from templatelib import format as fmt

#: The columns (spikeinterface's names, in its order) are part of the library format:
#: ``templatelib.format`` holds them; tests check they equal spikeinterface's own columns.
SINGLE_CHANNEL_COLUMNS = fmt.SINGLE_CHANNEL_METRIC_COLUMNS
MULTI_CHANNEL_COLUMNS = fmt.MULTI_CHANNEL_METRIC_COLUMNS
METRIC_COLUMNS = fmt.METRIC_COLUMNS

#: Why a metric is NaN: the codes of :func:`template_metrics_with_reasons`. An empty string
#: means the value is defined.
NAN_REASONS = {
    "nan_input": "the template has NaN or infinite samples (on its best channel for single-channel "
    "metrics, on any channel for multi-channel metrics)",
    "flat_template": "the template is zero everywhere (on its best channel, or on every channel)",
    "single_channel": "fewer than two channels: a multi-channel metric needs a neighbourhood",
    "no_trough": "no trough: spikeinterface's detector had no window to search for it",
    "no_peak_before": "no peak before the trough: the trough is too close to the template start "
    "for spikeinterface's detector to search there",
    "no_peak_after": "no peak after the trough: the trough is too close to the template end "
    "for spikeinterface's detector to search there",
    "no_peak": "neither a peak before nor a peak after the trough could be searched",
    "no_half_amplitude_crossing": "the waveform does not cross half the extremum's amplitude on "
    "both sides of it inside the template",
    "no_return_to_baseline": "after the trough the waveform does not return to 0 uV, or returns "
    "within 3 (upsampled) samples",
    "zero_denominator": "the ratio's denominator (trough or peak amplitude) is zero",
    "no_width": "spikeinterface's peak finder gave no width for this extremum (it was chosen as "
    "the plain maximum of its window, not as a prominent peak)",
    "too_few_channels": "fewer than 3 channels above (velocity_above) or below (velocity_below) "
    "the channel of the most negative sample",
    "fit_rejected": "spikeinterface rejected the fit: R^2 at or below 0.2 (or a zero slope), or "
    "the exponential fit did not converge",
    "missing_dependency": "spikeinterface needs an optional package for this metric that is not "
    "installed (exp_decay: scikit-learn, for its R^2)",
    "error": "spikeinterface raised an exception for this template (logged as a warning)",
    "undefined": "spikeinterface returned NaN for another reason",
}


def _si():
    """spikeinterface's template-metric module (0.105: ``metrics.template``; older: postprocessing)."""
    try:
        from spikeinterface.metrics import template as mod
    except ImportError:  # pragma: no cover - spikeinterface < 0.104
        from spikeinterface.postprocessing import template_metrics as mod
    return mod


def extension_defaults() -> dict:
    """The common parameters of spikeinterface's ``template_metrics`` extension, as it defaults them.

    Read from ``ComputeTemplateMetrics._set_params``'s signature, so they follow spikeinterface.

    Returns
    -------
    dict
        ``upsampling_factor``, ``depth_direction``, ``min_thresh_detect_peaks_troughs``,
        ``edge_exclusion_ms``, ``min_peak_trough_distance_ratio``, ``min_extremum_distance_samples``.
    """
    signature = inspect.signature(_si().ComputeTemplateMetrics._set_params)
    names = (
        "upsampling_factor",
        "depth_direction",
        "min_thresh_detect_peaks_troughs",
        "edge_exclusion_ms",
        "min_peak_trough_distance_ratio",
        "min_extremum_distance_samples",
    )
    return {name: signature.parameters[name].default for name in names}


#: Optional packages spikeinterface imports inside a metric function.
OPTIONAL_DEPENDENCIES = {"exp_decay": "sklearn"}


def _metric_classes():
    mod = _si()
    return list(mod.ComputeTemplateMetrics.metric_list)


def missing_dependencies() -> dict:
    """Metrics whose optional dependency is not importable: ``{metric_name: module}``."""
    import importlib.util

    return {m: mod for m, mod in OPTIONAL_DEPENDENCIES.items() if importlib.util.find_spec(mod) is None}


def _prepare_unit(template, best, locations, sampling_frequency, params, multi):
    """spikeinterface's ``_prepare_data`` for one unit: the ``tmp_data`` its metric functions read."""
    from scipy.signal import resample_poly

    factor = params["upsampling_factor"]
    single = template[:, best]
    single_up = resample_poly(single, up=factor, down=1) if factor > 1 else single
    fs_up = sampling_frequency * factor if factor > 1 else sampling_frequency
    peaks_info = _si().get_trough_and_peak_idx(
        single_up,
        fs_up,
        min_thresh_detect_peaks_troughs=params["min_thresh_detect_peaks_troughs"],
        edge_exclusion_ms=params["edge_exclusion_ms"],
        min_peak_trough_distance_ratio=params["min_peak_trough_distance_ratio"],
        min_extremum_distance_samples=params["min_extremum_distance_samples"],
    )
    # The detector marks an extremum it had no window to search for with index -1; the metric
    # functions test `is None` for a missing extremum. Pass None so they answer NaN.
    missing = {k for k in ("trough", "peak_before", "peak_after") if peaks_info[f"{k}_index"] < 0}
    for k in missing:
        peaks_info[f"{k}_index"] = None
    tmp = {
        "sampling_frequency": fs_up,
        "peaks_info": [peaks_info],
        "main_channel_templates": np.array([single_up]),
    }
    if multi:
        multi_up = resample_poly(template, up=factor, down=1, axis=0) if factor > 1 else template
        tmp["multi_channel_templates"] = [multi_up]
        tmp["channel_locations_multi"] = [locations]
        tmp["depth_direction"] = params["depth_direction"]
    return tmp, missing


def _run_metric(metric, tmp, metric_params):
    """One spikeinterface metric on one prepared unit: {column: value}."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = metric.compute(
            None, unit_ids=[0], metric_params=deepcopy(metric_params), tmp_data=tmp, job_kwargs={}, periods=None
        )
    columns = list(metric.metric_columns)
    if isinstance(res, dict):
        return {columns[0]: res[0]}
    return {col: res[i][0] for i, col in enumerate(res._fields)}


def _explain(column, tmp, missing, num_channels, metric_params, depth_direction):
    """Reason code for a NaN that spikeinterface returned."""
    needs = {
        "peak_to_trough_duration": ("trough", "peak_after"),
        "recovery_slope": ("peak_after",),
        "peak_after_to_trough_ratio": ("peak_after",),
        "peak_before_to_trough_ratio": ("peak_before",),
        "peak_before_to_peak_after_ratio": ("peak_before", "peak_after"),
        "peak_before_width": ("peak_before",),
        "peak_after_width": ("peak_after",),
        "trough_width": ("trough",),
        "trough_half_width": ("trough",),
        "repolarization_slope": ("trough",),
    }
    for k in needs.get(column, ()):
        if k in missing:
            return f"no_{k}"
    if column in ("peak_half_width", "main_peak_to_trough_ratio", "main_to_next_extremum_duration") and {"peak_before", "peak_after"} <= missing:
        return "no_peak"
    if column in ("trough_half_width", "peak_half_width"):
        return "no_half_amplitude_crossing"
    if column == "repolarization_slope":
        return "no_return_to_baseline"
    if column.endswith("_ratio"):
        return "zero_denominator"
    if column.endswith("_width"):
        return "no_width"
    if column in ("velocity_above", "velocity_below"):
        template = tmp["multi_channel_templates"][0]
        locations = tmp["channel_locations_multi"][0]
        depth = locations[:, 1 if depth_direction == "y" else 0]
        _, channel = np.unravel_index(np.argmin(template), template.shape)
        side = depth >= depth[channel] if column == "velocity_above" else depth <= depth[channel]
        if side.sum() < metric_params["velocity_fits"]["min_channels"]:
            return "too_few_channels"
        return "fit_rejected"
    if column == "exp_decay":
        return "fit_rejected"
    return "undefined"


def _unit_metrics(template, best, locations, sampling_frequency, params, metric_params, classes, unavailable):
    """All metric columns and reason codes for one template (num_samples, num_channels)."""
    values = dict.fromkeys(METRIC_COLUMNS, np.nan)
    reasons = dict.fromkeys(METRIC_COLUMNS, "")
    num_channels = template.shape[1]
    single = template[:, best]
    multi = num_channels >= 2
    single_reason = None
    if not np.all(np.isfinite(single)):
        single_reason = "nan_input"
    elif not np.any(single):
        single_reason = "flat_template"
    if not multi:
        multi_reason = "single_channel"
    elif not np.all(np.isfinite(template)):
        multi_reason = "nan_input"
    elif not np.any(template):
        multi_reason = "flat_template"
    else:
        multi_reason = None

    tmp, missing = None, set()
    if single_reason is None or multi_reason is None:
        try:
            tmp, missing = _prepare_unit(
                template, best, locations, sampling_frequency, params, multi and multi_reason is None
            )
        except Exception as exc:  # spikeinterface's detector failed: nothing is defined
            warnings.warn(f"template metrics: preparation failed ({type(exc).__name__}: {exc})")
            single_reason = single_reason or "error"
            multi_reason = multi_reason or "error"

    for metric in classes:
        columns = list(metric.metric_columns)
        is_multi = columns[0] in MULTI_CHANNEL_COLUMNS
        blocked = multi_reason if is_multi else single_reason
        if blocked is None and metric.metric_name in unavailable:
            blocked = "missing_dependency"
        if blocked is not None:
            for col in columns:
                reasons[col] = blocked
            continue
        try:
            result = _run_metric(metric, tmp, metric_params[metric.metric_name])
        except ImportError as exc:  # an optional package spikeinterface imports lazily
            warnings.warn(f"template metrics: {metric.metric_name} needs a missing package ({exc})")
            for col in columns:
                reasons[col] = "missing_dependency"
            continue
        except Exception as exc:
            warnings.warn(f"template metrics: {metric.metric_name} failed ({type(exc).__name__}: {exc})")
            for col in columns:
                reasons[col] = "error"
            continue
        for col, value in result.items():
            value = float(value) if value is not None else np.nan
            values[col] = value
            if not np.isfinite(value):
                values[col] = np.nan
                reasons[col] = _explain(
                    col, tmp, missing, num_channels, metric_params, params["depth_direction"]
                )
    return values, reasons


def _best_channels(templates: np.ndarray) -> np.ndarray:
    # The library's definition (dataset_writer.best_channels): argmax of peak-to-peak, NaN-safe.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ptp = np.nanmax(templates, axis=1) - np.nanmin(templates, axis=1)
    ptp = np.where(np.isfinite(ptp), ptp, -np.inf)
    return np.argmax(ptp, axis=1)


def template_metrics_with_reasons(
    templates: np.ndarray,
    channel_locations: np.ndarray,
    sampling_frequency: float,
    nbefore: int,
    best_channels: np.ndarray | None = None,
    *,
    progress: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Template metrics and, for every NaN, the reason code.

    Parameters
    ----------
    templates : np.ndarray
        Dense templates, shape ``(num_units, num_samples, num_channels)``, in uV.
    channel_locations : np.ndarray
        Contact positions in um, shape ``(num_channels, 2)`` (a third column is ignored, as
        spikeinterface does).
    sampling_frequency : float
        Sampling frequency of the templates in Hz.
    nbefore : int
        Samples before the spike time. Kept for the library's format; spikeinterface's metrics
        locate the extrema themselves and do not use it.
    best_channels : np.ndarray, optional
        The channel each unit's single-channel metrics are measured on (the dataset's
        ``best_channel_index``). Default: argmax of peak-to-peak, the library's definition.
    progress : bool, default: True
        Show a tqdm progress bar.

    Returns
    -------
    metrics : pandas.DataFrame
        One row per template (index ``template_index``), columns :data:`METRIC_COLUMNS`, float64.
    reasons : pandas.DataFrame
        Same shape: ``""`` where the value is defined, else a key of :data:`NAN_REASONS`.
    """
    templates = np.asarray(templates)
    if templates.ndim != 3:
        raise ValueError(f"templates must be (units, samples, channels), got shape {templates.shape}")
    num_units, _, num_channels = templates.shape
    locations = np.asarray(channel_locations, dtype=np.float64)
    if locations.ndim != 2 or locations.shape[0] != num_channels or locations.shape[1] < 2:
        raise ValueError(f"channel_locations must be ({num_channels}, 2), got shape {locations.shape}")
    locations = locations[:, :2]
    if best_channels is None:
        best_channels = _best_channels(templates) if num_units else np.zeros(0, dtype=int)
    best_channels = np.asarray(best_channels, dtype=np.int64)
    if best_channels.shape != (num_units,):
        raise ValueError("best_channels needs one channel index per template")
    del nbefore  # not used by spikeinterface's template metrics

    params = extension_defaults()
    metric_params = _si().get_default_template_metrics_params()
    classes = _metric_classes()
    unavailable = missing_dependencies()
    if unavailable and num_units:
        warnings.warn(
            "template metrics: "
            + ", ".join(f"{m} needs {mod}" for m, mod in unavailable.items())
            + " (not installed): those columns are NaN (missing_dependency)"
        )
    rows, reason_rows = [], []
    for unit in tqdm(range(num_units), desc="template metrics", unit="template", disable=not progress):
        values, reasons = _unit_metrics(
            templates[unit], int(best_channels[unit]), locations, float(sampling_frequency), params,
            metric_params, classes, unavailable,
        )
        rows.append(values)
        reason_rows.append(reasons)
    index = pd.RangeIndex(num_units, name="template_index")
    metrics = pd.DataFrame(rows, index=index, columns=list(METRIC_COLUMNS), dtype=np.float64)
    reasons = pd.DataFrame(reason_rows, index=index, columns=list(METRIC_COLUMNS), dtype=object)
    if num_units == 0:
        reasons = reasons.astype(object)
    return metrics, reasons


def nan_reason_counts(reasons: pd.DataFrame) -> pd.DataFrame:
    """How many templates each metric leaves undefined, per reason.

    Parameters
    ----------
    reasons : pandas.DataFrame
        The second frame of :func:`template_metrics_with_reasons` (possibly concatenated over
        datasets).

    Returns
    -------
    pandas.DataFrame
        Rows: metric columns (all of :data:`METRIC_COLUMNS`); columns ``nan`` (total) and one per
        reason code that occurs.
    """
    long = reasons.melt(var_name="metric", value_name="reason")
    long = long[long["reason"] != ""]
    table = pd.crosstab(long["metric"], long["reason"]) if len(long) else pd.DataFrame()
    table = table.reindex(list(METRIC_COLUMNS), fill_value=0)
    table.insert(0, "nan", table.sum(axis=1))
    table.index.name = "metric"
    return table.astype(int)
