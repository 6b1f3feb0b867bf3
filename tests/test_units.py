"""Units: stored once in format.COLUMN_UNITS (and docs/metrics.md), shown by templatelib.units."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from templatelib import format as fmt
from templatelib import units

DOCS = Path(__file__).resolve().parents[1] / "site_src" / "docs"


def test_every_measured_column_has_one_unit_and_the_docs_agree():
    assert set(fmt.METRIC_COLUMNS) <= set(fmt.COLUMN_UNITS) <= set(fmt.COLUMNS)
    table = re.findall(r"^\| `([a-z_]+)` \| ([^|]*) \|", (DOCS / "metrics.md").read_text(), re.M)
    documented: dict = {}
    for column, unit in table:  # the first table (column | unit | ...); later tables count NaNs
        if column in fmt.METRIC_COLUMNS:
            documented.setdefault(column, unit.strip())
    assert documented == {c: fmt.COLUMN_UNITS[c] for c in fmt.METRIC_COLUMNS}


@pytest.mark.parametrize("column, value, shown", [
    ("peak_to_trough_duration", 0.00053, "0.53 ms"),
    ("trough_width", 0.000123456, "0.1235 ms"),
    ("repolarization_slope", 5.9240e5, "592,400 µV/s"),
    ("amplitude_uv", 123.456789, "123.5 µV"),
    ("signal_to_noise_ratio", 7.123456, "7.123"),
    ("peak_before_to_trough_ratio", 0.25, "0.25"),
    ("num_positive_peaks", 2.0, "2"),
    ("depth_along_probe", 3840.0, "3840 µm"),
    ("spread", 0.0, "0 µm"),
    ("recovery_slope", 1.5e12, "1.500e+12 µV/s"),
    ("trough_width", math.nan, units.MISSING),
    ("amplitude_uv", math.inf, units.MISSING),
    ("amplitude_uv", None, units.MISSING),
    ("template_id", "0123abcd", "0123abcd"),
    ("template_index", 3.0, "3"),
    ("brain_area", "CA1", "CA1"),
])
def test_values_are_shown_with_their_unit(column, value, shown):
    assert units.text(column, value) == shown


def test_durations_are_labelled_and_scaled_as_milliseconds():
    assert units.label("trough_half_width") == "trough_half_width (ms)"
    assert units.scale("trough_half_width") == 1000.0
    assert units.label("num_negative_peaks") == "num_negative_peaks"
    assert units.label("template_id") == "template_id" and units.scale("template_id") == 1.0
