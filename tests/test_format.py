"""The data contract's own rules (templatelib.format)."""

from templatelib import format as fmt


def test_columns_are_the_live_twelve_then_our_additions():
    assert fmt.COLUMNS[:12] == (
        "probe", "probe_manufacturer", "brain_area", "depth_along_probe", "amplitude_uv",
        "noise_level_uv", "signal_to_noise_ratio", "template_index", "best_channel_index",
        "spikes_per_unit", "dataset", "dataset_path",
    )
    assert fmt.COLUMNS[12:14] == ("template_id", "unit_id")
    assert fmt.COLUMNS[14:] == fmt.METRIC_COLUMNS and "peak_to_trough_duration" in fmt.METRIC_COLUMNS


def test_template_id_is_short_url_safe_and_independent_of_position():
    tid = fmt.template_id("a_behavior+ecephys+image.zarr", 17)
    assert fmt.is_valid_template_id(tid)
    assert len(tid) <= 16
    assert tid == fmt.template_id("a_behavior+ecephys+image", 17)  # suffix-insensitive
    assert tid != fmt.template_id("a_behavior+ecephys+image.zarr", 18)
    assert tid != fmt.template_id("b.zarr", 17)


def test_fallback_id_lives_in_another_space():
    assert fmt.fallback_template_id("x.zarr", 3) != fmt.template_id("x.zarr", 3)
    assert fmt.is_valid_template_id(fmt.fallback_template_id("x.zarr", 3))


def test_missing_live_columns():
    assert fmt.missing_live_columns(fmt.COLUMNS) == []
    assert fmt.missing_live_columns(["probe", "dataset"])[0] == "probe_manufacturer"


def test_is_valid_template_id_rejects_hostile_values():
    for bad in ("", "<script>", "A" * 16, "0123456789abcdef0", None, "../../etc/passwd"):
        assert not fmt.is_valid_template_id(bad)


IN_UV_CASES = (
    ({}, True),
    ({"is_in_uV": False}, False),
    ({"is_in_uV": True}, True),
    ({"is_scaled": False}, False),
    ({"is_scaled": True}, True),
    ({"is_scaled": False, "is_in_uV": True}, False),  # the legacy attribute wins, as in spikeinterface
    ({"is_scaled": True, "is_in_uV": False}, True),
)


def test_in_uv_has_one_precedence():
    for attrs, expected in IN_UV_CASES:
        assert fmt.in_uv(attrs) is expected, attrs


def test_the_snippets_inlined_rule_is_in_uv():
    for attrs, expected in IN_UV_CASES:
        assert eval(fmt.IN_UV_EXPRESSION, {}, {"attrs": attrs}) is expected, attrs


def test_in_uv_agrees_with_spikeinterfaces_reader(tmp_path):
    """The unmodified client is the reference: same answer on a group holding both attributes."""
    import numpy as np
    import pytest

    zarr = pytest.importorskip("zarr")
    core = pytest.importorskip("spikeinterface.core")
    for i, (attrs, expected) in enumerate(IN_UV_CASES):
        templates = core.Templates(templates_array=np.zeros((1, 4, 2), "f4"), sampling_frequency=30000.0, nbefore=1)
        group = zarr.open_group(str(tmp_path / f"g{i}.zarr"), mode="w")
        templates.add_templates_to_zarr_group(group)
        for name in ("is_in_uV", "is_scaled"):
            group.attrs.pop(name, None)
        group.attrs.update(attrs)
        assert core.Templates.from_zarr_group(group).is_in_uV is expected is fmt.in_uv(group.attrs.asdict()), attrs
