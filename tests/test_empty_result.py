"""A query that matches nothing says why (templatelib/empty_result.py), in the worker's answer."""

from __future__ import annotations

import numpy as np
import pytest

from templatelib.column_table import ColumnTable, TextColumn, known_columns
from templatelib.empty_result import MAX_CONDITIONS, explain_empty


@pytest.fixture
def table():
    n = 200
    return ColumnTable({
        "template_id": TextColumn.from_strings([f"{k:016x}" for k in range(n)]),
        "brain_area": TextColumn.from_strings(["CA1"] * 120 + ["VISp"] * 60 + ["LP\u202e"] * 19 + ["x" * 500]),
        "amplitude_uv": np.linspace(20.0, 400.0, n),
        "peak_to_trough_duration": np.r_[np.linspace(0.0002, 0.0009, n - 1), np.nan],
    })


def test_each_condition_is_counted_alone_and_each_column_described(table):
    why = explain_empty(table, "amplitude_uv > 300 and brain_area == 'CA3'", known_columns(table.names))
    assert why["conditions"] == [{"condition": "amplitude_uv > 300", "count": int(np.sum(table["amplitude_uv"] > 300))},
                                 {"condition": "brain_area == 'CA3'", "count": 0}]
    assert "amplitude_uv spans 20 to 400 µV" in why["columns"]
    (areas,) = [c for c in why["columns"] if c.startswith("brain_area")]
    assert areas.startswith("brain_area takes 4 values: 'CA1', 'VISp'")
    assert len(areas) < 250 and "x" * 100 not in areas  # a hostile category is quoted short
    assert "brain_area == 'CA3' alone matches 0" in why["text"]


def test_durations_are_described_in_the_unit_the_query_uses(table):
    why = explain_empty(table, "peak_to_trough_duration > 1", known_columns(table.names))
    assert why["columns"] == ["peak_to_trough_duration spans 0.0002 to 0.0009 s"]
    assert why["text"].startswith("No template matches this condition.")


def test_work_is_bounded(table):
    expression = " and ".join(f"amplitude_uv > {1000 + k}" for k in range(3 * MAX_CONDITIONS))
    assert len(explain_empty(table, expression, known_columns(table.names))["conditions"]) == MAX_CONDITIONS


def test_the_worker_answers_an_empty_query_with_the_reason():
    from templatelib.app import TemplateBrowser

    browser = TemplateBrowser("http://127.0.0.1:9/")
    browser.columns = ColumnTable({"template_id": TextColumn.from_strings(["0" * 16, "1" * 16]),
                                   "amplitude_uv": np.array([50.0, 60.0])})
    empty = browser.query("amplitude_uv > 100")
    assert empty["count"] == 0 and "amplitude_uv spans 50 to 60 µV" in empty["empty"]["text"]
    assert "empty" not in browser.query("amplitude_uv > 55") and "empty" not in browser.query("")
