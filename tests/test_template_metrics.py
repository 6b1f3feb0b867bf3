"""pipeline.template_metrics against spikeinterface's public template_metrics extension.

The reference is computed the way a spikeinterface user would: inject the templates into a
silent recording at well-separated spike times, build an in-memory SortingAnalyzer, compute
"templates" (which gives back the injected templates exactly) and then
``analyzer.compute("template_metrics", include_multi_channel_metrics=True)``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from pipeline.sources.synthetic import SyntheticPlan, make_probe, synthesize_dataset
from pipeline.template_metrics import (
    METRIC_COLUMNS,
    MULTI_CHANNEL_COLUMNS,
    NAN_REASONS,
    SINGLE_CHANNEL_COLUMNS,
    nan_reason_counts,
    template_metrics_with_reasons,
)

FS = 30_000.0
NBEFORE = 90


def spikeinterface_reference(templates_array, probe, best, nbefore=NBEFORE):
    """Template metrics through spikeinterface's public SortingAnalyzer API."""
    from spikeinterface.core import InjectTemplatesRecording, NumpySorting, create_sorting_analyzer

    num_units, num_samples, _ = templates_array.shape
    times = np.arange(num_units) * 1000 + 500
    sorting = NumpySorting.from_samples_and_labels([times], [np.arange(num_units)], FS)
    recording = InjectTemplatesRecording(
        sorting, templates_array, nbefore=nbefore, num_samples=[int(times[-1] + 1000)]
    )
    recording.set_probe(probe, in_place=True)
    analyzer = create_sorting_analyzer(
        sorting, recording, format="memory", sparse=False, main_channel_indices=best, return_in_uV=True
    )
    analyzer.compute("random_spikes", method="all")
    analyzer.compute(
        "templates", ms_before=nbefore / FS * 1000, ms_after=(num_samples - nbefore) / FS * 1000
    )
    recovered = analyzer.get_extension("templates").get_data()
    np.testing.assert_array_equal(recovered, templates_array)  # the reference sees our templates
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return analyzer.compute("template_metrics", include_multi_channel_metrics=True).get_data()


def assert_same(ours: pd.DataFrame, ref: pd.DataFrame):
    assert list(ref.columns) == list(METRIC_COLUMNS)
    np.testing.assert_allclose(ours.to_numpy(), ref.to_numpy(dtype=float), rtol=1e-6, atol=0, equal_nan=True)


def assert_reasons_consistent(metrics, reasons):
    assert reasons.shape == metrics.shape
    nan = metrics.isna().to_numpy()
    codes = reasons.to_numpy()
    assert np.all((codes == "") == ~nan), "a reason exactly where a value is NaN"
    assert set(codes[nan]) <= set(NAN_REASONS)


@pytest.mark.timeout(180)
@pytest.mark.parametrize("kind", ["np1", "ultra"])
def test_matches_spikeinterface_analyzer(kind):
    templates, _ = synthesize_dataset(SyntheticPlan(f"cmp_{kind}", kind), 6, seed=3)
    array = templates.templates_array
    best = np.argmax(np.ptp(array, axis=1), axis=1)
    ref = spikeinterface_reference(array, templates.probe, best)
    ours, reasons = template_metrics_with_reasons(
        array, templates.probe.contact_positions, FS, NBEFORE, best, progress=False
    )
    assert_same(ours, ref)
    assert_reasons_consistent(ours, reasons)
    # the comparison is not vacuous: the waveform metrics and the spread are defined here
    for column in ("peak_to_trough_duration", "trough_half_width", "repolarization_slope", "spread"):
        assert ours[column].notna().all(), column
    # default best channel = argmax of peak-to-peak, the library's best_channel_index
    default = template_metrics_with_reasons(array, templates.probe.contact_positions, FS, NBEFORE, progress=False)[0]
    pd.testing.assert_frame_equal(default, ours)


@pytest.mark.timeout(60)
def test_column_names_are_spikeinterface_names():
    from spikeinterface.metrics.template import ComputeTemplateMetrics, get_template_metric_list

    columns = ComputeTemplateMetrics.get_metric_columns(get_template_metric_list())
    assert list(METRIC_COLUMNS) == list(columns)
    single = ComputeTemplateMetrics.get_metric_columns(
        [m for m in get_template_metric_list() if m not in ("velocity_fits", "exp_decay", "spread")]
    )
    assert list(SINGLE_CHANNEL_COLUMNS) == list(single)
    assert set(MULTI_CHANNEL_COLUMNS) == set(METRIC_COLUMNS) - set(SINGLE_CHANNEL_COLUMNS)


def _np1_case(num_units=2, seed=5):
    templates, _ = synthesize_dataset(SyntheticPlan("edge", "np1"), num_units, seed=seed)
    return templates.templates_array.copy(), templates.probe


@pytest.mark.timeout(120)
def test_flat_and_nan_templates_give_nan_rows_only():
    array, probe = _np1_case(3)
    good = template_metrics_with_reasons(array, probe.contact_positions, FS, NBEFORE, progress=False)[0]
    array[1] = 0.0  # flat
    array[2, 100:110, :] = np.nan  # NaN samples on every channel
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        metrics, reasons = template_metrics_with_reasons(array, probe.contact_positions, FS, NBEFORE, progress=False)
    assert_reasons_consistent(metrics, reasons)
    assert metrics.iloc[1].isna().all() and set(reasons.iloc[1]) == {"flat_template"}
    assert metrics.iloc[2].isna().all() and set(reasons.iloc[2]) == {"nan_input"}
    # the bad templates do not spoil the good one
    pd.testing.assert_series_equal(metrics.iloc[0], good.iloc[0])


@pytest.mark.timeout(120)
def test_nan_on_one_far_channel_spoils_only_multichannel_metrics():
    array, probe = _np1_case(1)
    best = int(np.argmax(np.ptp(array[0], axis=0)))
    far = (best + 200) % array.shape[2]
    array[0, :, far] = np.nan
    metrics, reasons = template_metrics_with_reasons(array, probe.contact_positions, FS, NBEFORE, progress=False)
    assert metrics.loc[0, list(MULTI_CHANNEL_COLUMNS)].isna().all()
    assert set(reasons.loc[0, list(MULTI_CHANNEL_COLUMNS)]) == {"nan_input"}
    assert metrics.loc[0, "peak_to_trough_duration"] > 0


@pytest.mark.timeout(120)
def test_positive_going_template_no_exception_and_matches_spikeinterface():
    array, probe = _np1_case(2)
    array = -array  # positive-going: the main extremum is a peak
    best = np.argmax(np.ptp(array, axis=1), axis=1)
    metrics, reasons = template_metrics_with_reasons(
        array, probe.contact_positions, FS, NBEFORE, best, progress=False
    )
    assert_reasons_consistent(metrics, reasons)
    assert_same(metrics, spikeinterface_reference(array, probe, best))


@pytest.mark.timeout(120)
def test_purely_positive_bump_no_exception_and_matches_spikeinterface():
    # a positive Gaussian bump and nothing else on a 4-channel neighbourhood
    t = np.arange(240)
    bump = (80.0 * np.exp(-0.5 * ((t - 90) / 6.0) ** 2)).astype("float32")
    probe = make_probe("np1").get_slice(np.arange(4))
    array = np.zeros((1, 240, 4), dtype="float32")
    array[0] = bump[:, None] * np.array([1.0, 0.6, 0.3, 0.1], dtype="float32")
    metrics, reasons = template_metrics_with_reasons(array, probe.contact_positions, FS, NBEFORE, progress=False)
    assert_reasons_consistent(metrics, reasons)
    assert_same(metrics, spikeinterface_reference(array, probe, np.array([0])))


@pytest.mark.timeout(120)
def test_single_channel_neighbourhood():
    array, probe = _np1_case(2)
    best = np.argmax(np.ptp(array, axis=1), axis=1)
    single = np.stack([array[u, :, best[u]] for u in range(2)])[:, :, None]
    locations = probe.contact_positions[best[:1]]
    metrics, reasons = template_metrics_with_reasons(single, locations, FS, NBEFORE, progress=False)
    assert_reasons_consistent(metrics, reasons)
    assert metrics[list(MULTI_CHANNEL_COLUMNS)].isna().all().all()
    assert set(reasons[list(MULTI_CHANNEL_COLUMNS)].to_numpy().ravel()) == {"single_channel"}
    # single-channel metrics equal those on the full probe
    full = template_metrics_with_reasons(array, probe.contact_positions, FS, NBEFORE, best, progress=False)[0]
    pd.testing.assert_frame_equal(metrics[list(SINGLE_CHANNEL_COLUMNS)], full[list(SINGLE_CHANNEL_COLUMNS)])


@pytest.mark.timeout(60)
def test_empty_and_bad_shapes():
    locations = make_probe("np1").contact_positions
    metrics = template_metrics_with_reasons(np.zeros((0, 240, 384), "float32"), locations, FS, NBEFORE, progress=False)[0]
    assert list(metrics.columns) == list(METRIC_COLUMNS) and len(metrics) == 0
    with pytest.raises(ValueError):
        template_metrics_with_reasons(np.zeros((240, 384), "float32"), locations, FS, NBEFORE)
    with pytest.raises(ValueError):
        template_metrics_with_reasons(np.zeros((1, 240, 384), "float32"), locations[:10], FS, NBEFORE)


@pytest.mark.timeout(120)
def test_missing_extremum_is_nan_not_template_end():
    """A trough near the template end leaves no window to search a peak after it.

    spikeinterface's detector then returns index -1 and its analyzer reads ``template[-1]``
    (a negative peak_to_trough_duration); we pass the missing peak as None: NaN with a reason.
    """
    array, probe = _np1_case(1)
    best = int(np.argmax(np.ptp(array[0], axis=0)))
    trough = int(np.argmin(array[0, :, best]))
    shifted = np.zeros_like(array)
    shifted[0, 176:240] = array[0, trough - 60 : trough + 4]  # trough at sample 236 of 240
    metrics, reasons = template_metrics_with_reasons(
        shifted, probe.contact_positions, FS, NBEFORE, np.array([best]), progress=False
    )
    assert_reasons_consistent(metrics, reasons)
    for column in ("peak_to_trough_duration", "recovery_slope", "peak_after_to_trough_ratio", "peak_after_width"):
        assert np.isnan(metrics.loc[0, column]) and reasons.loc[0, column] == "no_peak_after", column
    assert metrics.loc[0, "trough_half_width"] > 0  # what does not need the missing peak stays defined
    ref = spikeinterface_reference(shifted, probe, np.array([best]))
    assert ref.loc[0, "peak_to_trough_duration"] < 0  # the analyzer's value we refuse to publish


@pytest.mark.timeout(60)
def test_nan_reason_counts_table():
    reasons = pd.DataFrame([dict.fromkeys(METRIC_COLUMNS, "")] * 2)
    reasons.loc[0, "spread"] = "single_channel"
    reasons.loc[1, "spread"] = "nan_input"
    table = nan_reason_counts(reasons)
    assert list(table.index) == list(METRIC_COLUMNS)
    assert table.loc["spread", "nan"] == 2 and table.loc["peak_to_trough_duration", "nan"] == 0
