"""Your own waveform (templatelib.own_waveform): parsing, alignment, resampling, hostile files."""

from __future__ import annotations

import asyncio
import base64
import io

import numpy as np
import pytest

from conftest import start_data_server
from templatelib import format as fmt
from templatelib.app import TemplateBrowser, error_payload
from templatelib.own_waveform import MAX_BYTES, WaveformError, read_waveform, resample
from templatelib.preview import quantise
from templatelib.similar import cosine

run = asyncio.run
RATE = fmt.TEMPLATE_SAMPLING_FREQUENCY


def npy(array, **kw) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, **kw)
    return buffer.getvalue()


def spike(rate: float, duration_s: float = 0.008, trough_s: float = 0.003) -> np.ndarray:
    """A spike-like waveform (trough then a slower positive peak), sampled at ``rate``."""
    t = np.arange(int(round(duration_s * rate))) / rate - trough_s
    return -100 * np.exp(-(t / 0.00015) ** 2) + 35 * np.exp(-((t - 0.0005) / 0.0004) ** 2)


def reference_steps() -> np.ndarray:
    """The library-aligned preview of :func:`spike` at the library's rate."""
    return quantise(spike(RATE)[None, :])[1][0]


def test_a_library_aligned_waveform_is_its_own_preview():
    trace = spike(RATE)
    assert np.argmin(trace) == fmt.TEMPLATE_NBEFORE and len(trace) == fmt.TEMPLATE_SAMPLES
    answer = read_waveform(npy(trace.astype(np.float32)), "unit.npy", RATE)
    assert answer["resampled"] is False and answer["channels"] == 1 and answer["channel"] == 0
    np.testing.assert_array_equal(answer["preview"]["steps"], reference_steps())


@pytest.mark.parametrize("rate", [20_000.0, 25_000.0, 40_000.0, 48_000.0, 60_000.0, 120_000.0])
def test_other_rates_are_resampled_to_the_library_window(rate):
    answer = read_waveform(npy(spike(rate)), "unit.npy", rate)
    assert answer["resampled"] is True
    assert cosine(answer["preview"]["steps"], reference_steps()) > 0.99


def test_shifted_and_cropped_waveforms_are_aligned_at_the_trough():
    # 2 ms of waveform with the trough at 0.5 ms: placed at sample 90, zeros around it.
    trace = spike(RATE, duration_s=0.002, trough_s=0.0005)
    answer = read_waveform(npy(trace), "short.npy", RATE)
    assert cosine(answer["preview"]["steps"], reference_steps()) > 0.95
    window = np.zeros(fmt.TEMPLATE_SAMPLES)
    window[90 - 15: 90 - 15 + len(trace)] = trace - np.median(trace)
    np.testing.assert_array_equal(answer["preview"]["steps"], quantise(window[None])[1][0])


def test_multichannel_uses_the_channel_of_largest_peak_to_peak():
    trace = spike(RATE)
    array = np.stack([0.2 * trace, -0.5 * trace, trace, 0.7 * trace], axis=1)  # samples x channels
    for data in (npy(array), npy(np.asfortranarray(array)), npy(array.astype(np.int16))):
        answer = read_waveform(data, "multi.npy", RATE)
        assert (answer["channel"], answer["channels"], answer["samples"]) == (2, 4, fmt.TEMPLATE_SAMPLES)
        assert cosine(answer["preview"]["steps"], reference_steps()) > 0.999


@pytest.mark.parametrize("text", [
    "\n".join(f"{v:.6f}" for v in spike(RATE)),
    "uV\n" + "\n".join(f"{v:.6f}" for v in spike(RATE)) + "\n\n",
    ",".join(f"{v:.6f}" for v in spike(RATE)),
    "\ufeffa;b\n" + "\n".join(f"{0.1 * v:.6f};{v:.6f}" for v in spike(RATE)),
    "\n".join(f"{0.1 * v:.6f}\t{v:.6f}" for v in spike(RATE)),
    "\r\n".join(f"{0.1 * v:.6f}  {v:.6f}" for v in spike(RATE)),
])
def test_csv_layouts(text):
    answer = read_waveform(text.encode(), "unit.csv", "30000")
    assert cosine(answer["preview"]["steps"], reference_steps()) > 0.999


def test_resample_keeps_a_band_limited_signal():
    t30 = np.arange(240) / 30_000
    t60 = np.arange(480) / 60_000
    tone = lambda t: np.sin(2 * np.pi * 1_000 * t) + 0.5 * np.cos(2 * np.pi * 3_000 * t) + 200 * t  # noqa: E731
    np.testing.assert_allclose(resample(tone(t60), 60_000, 30_000), tone(t30), atol=0.05)
    # Going up, the last output sample lies past the input's last one (extrapolated): not compared.
    np.testing.assert_allclose(resample(tone(t30), 30_000, 60_000)[:-1], tone(t60)[:-1], atol=0.05)


class Boom:
    """Unpickling this runs code: the test proves the page never does."""

    def __reduce__(self):
        return (exec, ("import pathlib; pathlib.Path(__import__('os').environ['BOOM']).write_text('x')",))


def test_a_pickled_object_array_is_refused_and_never_unpickled(tmp_path, monkeypatch):
    marker = tmp_path / "unpickled"
    monkeypatch.setenv("BOOM", str(marker))
    data = npy(np.array([Boom(), 1.0], dtype=object), allow_pickle=True)
    assert b"exec" in data  # the payload is there
    with pytest.raises(WaveformError, match="pickled") as caught:
        read_waveform(data, "evil.npy", RATE)
    assert not marker.exists()
    assert "\n" not in str(caught.value)


def header_file(header: str, body: bytes, version: int = 1) -> bytes:
    encoded = header.encode("latin-1")
    size = len(encoded).to_bytes(2 if version == 1 else 4, "little")
    return fmt_magic(version) + size + encoded + body


def fmt_magic(version: int) -> bytes:
    return b"\x93NUMPY" + bytes([version, 0])


FLOATS = np.zeros(240, np.float32).tobytes()


@pytest.mark.parametrize("data, words", [
    (b"", "is empty"),
    (b"\x93NUMP", "not a .npy file"),
    (b"PK\x03\x04" + b"\0" * 100, "not a .npy file"),
    (fmt_magic(9) + b"\x10\x00" + b" " * 16, "version 9"),
    (fmt_magic(1) + b"\xff\xff" + b"{}", "cut short"),
    (fmt_magic(2) + (2**31).to_bytes(4, "little") + b"{}", "cut short"),
    (header_file("{'descr': '<f4', 'fortran_order': False, 'shape': (1000,), }", FLOATS), "follow it"),
    (header_file("{'descr': '<f4', 'fortran_order': False, 'shape': (100,), }", FLOATS), "follow it"),
    (header_file("{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000000, 1000000000000), }", FLOATS), "follow it"),
    (header_file("{'descr': '<f4', 'fortran_order': False, 'shape': (-240,), }", FLOATS), "tuple of sizes"),
    (header_file("{'descr': '<f4', 'fortran_order': False, 'shape': (240.0,), }", FLOATS), "tuple of sizes"),
    (header_file("{'descr': '<f4', 'fortran_order': 0, 'shape': (240,), }", FLOATS), "fortran_order"),
    (header_file("{'descr': '<f4', 'fortran_order': False, 'shape': (240,), 'x': 1}", FLOATS), "exactly"),
    (header_file("__import__('os').system('touch /tmp/pwned')", FLOATS), "cannot be read"),
    (header_file("[" * 20000 + "]" * 20000, FLOATS), "cannot be read"),
    (header_file("{'descr': 'nonsense', 'fortran_order': False, 'shape': (240,), }", FLOATS), "unknown type"),
    (header_file("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (240,), }", FLOATS), "structured"),
    (header_file("{'descr': '|O', 'fortran_order': False, 'shape': (240,), }", FLOATS), "pickled"),
    (npy(np.zeros(240, complex)), "complex128"),
    (npy(np.array(["a"] * 240)), "<U1|str"),
    (npy(np.zeros(240, bool)), "bool"),
    (npy(np.zeros((240, 2, 2))), "samples, or samples x channels"),
    (npy(np.float32(3)), "samples, or samples x channels"),
    (npy(np.zeros(0, np.float32)), "no samples"),
    (npy(np.zeros((240, 0), np.float32)), "no samples"),
    (npy(np.full(240, np.nan)), "NaN or infinite"),
    (npy(np.r_[spike(RATE)[:50], np.inf, spike(RATE)[51:]]), "the first at sample 50"),
    (npy(np.zeros((240, 5000), np.float32)), "5000 channels"),
    (npy(np.zeros((4, 240), np.float32)), "save it as samples x channels"),
    (npy(np.zeros(240, np.float32)), "flat"),
])
def test_hostile_npy_files_are_refused_in_words(data, words):
    with pytest.raises(WaveformError) as caught:
        read_waveform(data, "hostile.npy", RATE)
    message = str(caught.value)
    assert any(w in message for w in words.split("|")), message
    assert "\n" not in message and len(message) < 300 and "'hostile.npy'" in message


@pytest.mark.parametrize("text, words", [
    ("1\n2\nabc\n4\n" + "5\n" * 30, "line 3: 'abc' is not a number"),
    ("a,b\n1,2\n3\n" + "4,5\n" * 30, "line 3 has 1 values, the lines before it 2"),
    ("time,value\n", "holds no numbers"),
    ("\n\n  \n", "holds no numbers"),
    ("1\nnan\n" + "2\n" * 30, "NaN or infinite"),
    ("1,inf\n" * 40, "NaN or infinite"),
    ("1\n" * 200_002, "200,002 lines"),
    (",".join(["1"] * 1_000_001), "more than 1,000,000 values"),
    ("1\n2\n3\n", "3 samples"),
])
def test_hostile_csv_files_are_refused_in_words(text, words):
    with pytest.raises(WaveformError, match=words.replace("(", r"\(").replace(")", r"\)")) as caught:
        read_waveform(text.encode(), "hostile.csv", RATE)
    assert "\n" not in str(caught.value)


def test_non_text_csv_is_refused():
    with pytest.raises(WaveformError, match="not a text file"):
        read_waveform(b"\xff\xfe\x00\x01" * 100, "binary.csv", RATE)


@pytest.mark.parametrize("rate, words", [
    (0, "not between"), (-30_000, "not between"), (float("nan"), "not between"), (float("inf"), "not between"),
    ("abc", "not a number"), (None, "give the waveform's sampling rate"), (True, "give the"),
    ([30_000], "give the"), (1e9, "not between"),
    (1_000, "is the sampling rate right"),  # 240 samples at 1 kHz last 240 ms
    (1_000_000, "is the sampling rate right"),  # 240 samples at 1 MHz last 0.24 ms
])
def test_wrong_or_absurd_rates_are_refused(rate, words):
    with pytest.raises(WaveformError, match=words):
        read_waveform(npy(spike(RATE)), "unit.npy", rate)


def test_size_is_checked_before_anything_is_parsed():
    too_big = b"\x93NUMPY" + b"\0" * MAX_BYTES  # would be "cut short" if it were parsed
    with pytest.raises(WaveformError, match=f"at most {MAX_BYTES:,}"):
        read_waveform(too_big, "big.npy", RATE)


@pytest.mark.parametrize("name, words", [
    ("unit.pkl", "neither a .npy nor a .csv"), ("unit", "neither"), (None, "neither"), (7, "neither"),
    ("evil\nname\u202e.txt", "'evil?name?.txt' is neither"),
])
def test_names_are_untrusted(name, words):
    with pytest.raises(WaveformError, match=words.replace(".", r"\.").replace("?", r"\?")):
        read_waveform(npy(spike(RATE)), name, RATE)


@pytest.fixture(scope="module")
def served(small_library):
    with start_data_server(small_library.path) as server:
        yield server


def test_a_library_template_as_a_file_finds_itself_first(served, small_library):
    import zarr

    browser = TemplateBrowser(served.url)
    run(browser.load())
    row = browser.columns.records([4], ("template_id", "dataset", "template_index"))[0]
    group = zarr.open_consolidated(small_library.mapper(row["dataset"]), mode="r")
    template = group["templates_array"][row["template_index"]]  # samples x channels
    data = base64.b64encode(npy(template)).decode()
    answer = browser.own_waveform("mine.npy", data, RATE)
    assert answer["channel"] == int(np.argmax(np.ptp(template, axis=0)))
    ranked = run(browser.similar(own=True, limit=3))
    assert ranked["like"] == {"own": "mine.npy"}
    assert ranked["rows"][0]["template_id"] == row["template_id"] and ranked["rows"][0]["similarity"] > 0.99


def test_own_waveform_refuses_oversized_or_damaged_base64(served):
    browser = TemplateBrowser(served.url)
    run(browser.load())
    for data, words in [("A" * (4 * (MAX_BYTES // 3 + 1) + 4), "at most"), ("@@@@", "intact"), (None, "at most")]:
        with pytest.raises(WaveformError, match=words) as caught:
            browser.own_waveform("x.npy", data, RATE)
        assert error_payload(caught.value)["kind"] == "input"


@pytest.mark.timeout(300)
def test_limits_and_methods_reach_the_page_config(tmp_path):
    """The page checks a file's size before reading it, against the limit declared here."""
    import json
    import re

    from generator.build import build_site
    from templatelib import hybrid_preview

    build_site(tmp_path / "site", pyodide="cdn", docs=False)
    html = (tmp_path / "site" / "index.html").read_text()
    config = json.loads(re.search(r'<script id="site-config" type="application/json">(.*?)</script>', html, re.S)[1])
    assert config["ownWaveform"]["maxBytes"] == MAX_BYTES
    assert config["ownWaveform"]["extensions"] == [".npy", ".csv"]
    assert config["ownWaveform"]["defaultRateHz"] == fmt.TEMPLATE_SAMPLING_FREQUENCY
    assert config["hybridPreview"]["maxTemplates"] == hybrid_preview.MAX_TEMPLATES
    assert "cosine" in config["similarity"]["measure"]
    assert {"similar", "own_waveform"} <= set(config["methodGroups"]["view"])
    assert "hybrid_preview" in config["methodGroups"]["full"]


def test_a_second_file_of_the_same_name_is_ranked_afresh(served):
    browser = TemplateBrowser(served.url)
    run(browser.load())
    browser.own_waveform("w.npy", base64.b64encode(npy(spike(RATE))).decode(), RATE)
    first = run(browser.similar(own=True, limit=200))
    inverted = base64.b64encode(npy(-spike(RATE))).decode()
    browser.own_waveform("w.npy", inverted, RATE)
    second = run(browser.similar(own=True, limit=200))
    by_id = {r["template_id"]: r["similarity"] for r in first["rows"]}
    assert all(r["similarity"] != by_id[r["template_id"]] for r in second["rows"] if r["similarity"])
