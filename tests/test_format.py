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
