"""generator.overview: overview.md + PNG figures from the catalogue, never a failed build."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from generator.overview import BASIC_COLUMNS, SHAPE_COLUMNS, build_overview

IMAGE = re.compile(r"!\[([^\]]*)\]\(([^)]+)\)")


def images(md_path: Path) -> list[tuple[str, str]]:
    return IMAGE.findall(md_path.read_text(encoding="utf-8"))


def check_page(md_path: Path):
    assert md_path.name == "overview.md" and md_path.is_file()
    found = images(md_path)
    assert found, "no figure"
    for alt, filename in found:
        assert alt.strip(), f"{filename} has no alt text"
        png = md_path.parent / filename
        assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", filename
    return found


@pytest.fixture(scope="module")
def catalogue(small_library) -> pd.DataFrame:
    # Only three metric columns, made up, so each figure's content is known.
    frame = pd.read_csv(Path(small_library.root) / "templates.csv").drop(columns=list(SHAPE_COLUMNS))
    rng = np.random.default_rng(0)
    frame["peak_to_trough_duration"] = rng.uniform(2e-4, 8e-4, len(frame))
    frame["exp_decay"] = np.nan  # an all-NaN metric
    frame["velocity_above"] = np.where(np.arange(len(frame)) % 2, rng.normal(300, 50, len(frame)), np.nan)
    return frame


@pytest.mark.timeout(300)
def test_full_overview_from_csv_and_frame(tmp_path, small_library, catalogue):
    md = build_overview(Path(small_library.root) / "templates.csv", tmp_path / "from_csv")
    found = check_page(md)
    text = md.read_text(encoding="utf-8")
    # by probe, by area, four basic distributions, every shape metric, the scatter
    assert len(found) == 2 + len(BASIC_COLUMNS) + len(SHAPE_COLUMNS) + 1
    assert "Neuropixels 1.0" in text and "Neuropixels Ultra" in text
    assert "| probe | templates |" in text
    assert "## amplitude_uv against peak_to_trough_duration" in text

    no_metrics = tmp_path / "no_metrics.csv"
    pd.read_csv(Path(small_library.root) / "templates.csv").drop(columns=list(SHAPE_COLUMNS)).to_csv(no_metrics)
    text = build_overview(no_metrics, tmp_path / "no_metrics").read_text(encoding="utf-8")
    assert "The catalogue has no peak_to_trough_duration column." in text

    md = build_overview(catalogue, tmp_path / "from_frame")
    found = check_page(md)
    text = md.read_text(encoding="utf-8")
    assert len(found) == 2 + len(BASIC_COLUMNS) + 3 + 1
    assert "Every exp_decay value is NaN." in text
    assert "## amplitude_uv against peak_to_trough_duration" in text
    assert "templates plotted" in text  # the scatter's numbers
    # SNR is NaN for NP-Ultra: counted as NaN in that probe's row
    snr = text.split("## Distribution of signal_to_noise_ratio by probe")[1].split("##")[0]
    assert re.search(r"\| Neuropixels Ultra \| 6 \| 6 \|", snr), snr


@pytest.mark.timeout(120)
def test_empty_catalogue(tmp_path, catalogue):
    md = build_overview(catalogue.iloc[0:0], tmp_path / "empty")
    check_page(md)
    text = md.read_text(encoding="utf-8")
    assert "0 templates" in text and "The catalogue has no templates." in text
    empty_file = tmp_path / "empty.csv"
    empty_file.write_text("")
    check_page(build_overview(empty_file, tmp_path / "empty_file"))


@pytest.mark.timeout(120)
def test_one_probe_missing_and_nan_columns(tmp_path, catalogue):
    one = catalogue[catalogue["probe"] == "Neuropixels 1.0"].drop(columns=["brain_area", "spikes_per_unit"])
    one["amplitude_uv"] = np.nan
    md = build_overview(one, tmp_path / "one")
    check_page(md)
    text = md.read_text(encoding="utf-8")
    assert "The catalogue has no brain_area column." in text
    assert "The catalogue has no spikes_per_unit column." in text
    assert "Every amplitude_uv value is NaN." in text
    assert "No template has both peak_to_trough_duration and amplitude_uv defined." in text


@pytest.mark.timeout(120)
def test_junk_values_do_not_fail(tmp_path):
    frame = pd.DataFrame(
        {
            "probe": ["A", None, "A"],
            "brain_area": ["CA1", None, ""],
            "amplitude_uv": ["12", "not a number", np.inf],
            "peak_to_trough_duration": [3e-4, 3e-4, 3e-4],  # one value: a degenerate histogram
        }
    )
    md = build_overview(frame, tmp_path / "junk")
    check_page(md)
    assert "(unknown probe)" in md.read_text(encoding="utf-8")
