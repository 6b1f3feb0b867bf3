"""Your own waveform: a user's file read in the page, aligned like the library, as a preview.

The file never leaves the browser: the UI thread reads it (after checking its size against
:data:`MAX_BYTES`, which reaches the page through its config) and hands the bytes to the
worker, which calls :func:`read_waveform`. Everything in the file is untrusted; every refusal is
one :class:`WaveformError` sentence naming the file and the problem.

- ``.npy``: the header is parsed here (never ``numpy.load``), so an object array is refused
  before anything is unpickled, and a header whose shape disagrees with the bytes that follow
  is refused before any array is made. 1-D (samples) or 2-D (samples x channels), of integers
  or floats of at most 8 bytes.
- ``.csv``: one value per line (samples), or one line per sample with one column per channel,
  or a single line of samples; an optional header line; ``,``, ``;``, tab or spaces between
  values.

Then (docs/site.md "Your own waveform"): the channel of largest peak-to-peak is taken, its
median subtracted (the library's templates are high-pass filtered: their baseline is 0), it is
resampled to the library's rate when the given rate differs, and placed so that its trough (its
most negative sample) falls at the library's trough sample, in the library's window; samples
the file does not cover are 0. The result is reduced to a preview exactly as the library's rows
are (:func:`templatelib.preview.quantise`).
"""

from __future__ import annotations

import ast
import math
import re

import numpy as np

from . import format as fmt
from .preview import quantise

#: Largest file read, in bytes; the page checks the file's size against it before reading it.
#: A waveform of 384 channels x 240 samples of float64 is 0.7 MiB.
MAX_BYTES = 8 * 1024 * 1024
#: Sampling rates accepted, in Hz.
MIN_RATE_HZ = 1_000.0
MAX_RATE_HZ = 1_000_000.0
#: A waveform lasts milliseconds: a file (at its given rate) shorter than MIN or longer than MAX
#: seconds is refused, which catches a rate given in kHz instead of Hz.
MIN_DURATION_S = 0.0005
MAX_DURATION_S = 0.1
MIN_SAMPLES = 8
MAX_SAMPLES = int(MAX_RATE_HZ * MAX_DURATION_S)
MAX_CHANNELS = 4096
#: Most numbers a .csv may hold (parsing is a Python loop: this bounds its time in the page).
MAX_CSV_VALUES = 1_000_000
#: An .npy header longer than this is not one numpy wrote (numpy pads to 64 bytes; v2 headers
#: for huge structured dtypes are the only long ones, and those are refused anyway).
MAX_NPY_HEADER_BYTES = 65_536
EXTENSIONS = (".npy", ".csv")
NPY_MAGIC = b"\x93NUMPY"


class WaveformError(ValueError):
    """A user's waveform file cannot be used; the message says why in words, on one line."""


def _name(name) -> str:
    text = str(name)[:80] if name is not None else "the file"
    return repr(re.sub(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u200b-\u200f\u202a-\u202e\u2066-\u2069]", "?", text))


def parse_npy(data: bytes, name: str = "the file") -> np.ndarray:
    """The array of an ``.npy`` file's bytes, without ``numpy.load`` and without unpickling.

    Raises
    ------
    WaveformError
        Not an .npy file, an object or structured array, a dtype other than integers or floats
        of at most 8 bytes, or a header whose shape disagrees with the byte count.
    """
    where = _name(name)
    if len(data) < 10 or data[:6] != NPY_MAGIC:
        raise WaveformError(f"{where} is not a .npy file (it does not start with the .npy signature)")
    major = data[6]
    if major == 1:
        length, start = int.from_bytes(data[8:10], "little"), 10
    elif major in (2, 3):
        length, start = int.from_bytes(data[8:12], "little"), 12
    else:
        raise WaveformError(f"{where} is a .npy file of version {major}, which this page does not read")
    if length > MAX_NPY_HEADER_BYTES or start + length > len(data):
        raise WaveformError(f"{where}: its .npy header claims {length} bytes; the file is cut short or damaged")
    try:
        text = data[start:start + length].decode("utf-8" if major == 3 else "latin-1")
        header = ast.literal_eval(text.strip())  # literals only: never code, never a pickle
    except Exception:  # SyntaxError, ValueError, RecursionError, MemoryError: all mean "not a header"
        raise WaveformError(f"{where}: its .npy header cannot be read") from None
    if not isinstance(header, dict) or set(header) != {"descr", "fortran_order", "shape"}:
        raise WaveformError(f"{where}: its .npy header does not have exactly descr, fortran_order and shape")
    descr, fortran, shape = header["descr"], header["fortran_order"], header["shape"]
    if not isinstance(descr, str):
        raise WaveformError(f"{where} holds a structured array (fields), not numbers")
    if "O" in descr:
        raise WaveformError(f"{where} holds Python objects (a pickled array); this page never unpickles "
                            "files: save plain numbers, e.g. np.save(path, waveform.astype('float32'))")
    try:
        dtype = np.dtype(descr)
    except Exception:
        raise WaveformError(f"{where}: its .npy header names an unknown type {descr[:20]!r}") from None
    if dtype.kind not in "iuf" or dtype.itemsize > 8 or dtype.hasobject:
        raise WaveformError(f"{where} holds {dtype.name} values; a waveform is integers or floats")
    if not isinstance(fortran, bool):
        raise WaveformError(f"{where}: its .npy header's fortran_order is not True or False")
    if (not isinstance(shape, tuple) or len(shape) > 32
            or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape)):
        raise WaveformError(f"{where}: its .npy header's shape is not a tuple of sizes")
    count = math.prod(shape)
    body = len(data) - start - length
    if count * dtype.itemsize != body:
        raise WaveformError(f"{where}: its .npy header says shape {shape[:4]} of {dtype.name} "
                            f"({count * dtype.itemsize} bytes) but {body} bytes follow it")
    array = np.frombuffer(data, dtype=dtype, count=count, offset=start + length)
    return array.reshape(shape, order="F" if fortran else "C")


def _cells(line: str) -> list[str]:
    for separator in (",", ";", "\t"):
        if separator in line:
            return [c.strip() for c in line.split(separator)]
    return line.split()


def parse_csv(data: bytes, name: str = "the file") -> np.ndarray:
    """The numbers of a ``.csv`` file: 1-D for one column or one line, else samples x channels.

    Raises
    ------
    WaveformError
        Not UTF-8 text, a cell that is not a number (past an optional header line), or lines
        with different numbers of values.
    """
    where = _name(name)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise WaveformError(f"{where} is not a text file (UTF-8); a .csv holds numbers as text") from None
    lines = [(k + 1, line) for k, line in enumerate(text.splitlines()) if line.strip()]
    if len(lines) > MAX_SAMPLES + 1:
        raise WaveformError(f"{where} has {len(lines):,} lines; a waveform has at most {MAX_SAMPLES:,} samples")
    rows, width, total = [], None, 0
    for position, (number, line) in enumerate(lines):
        cells = _cells(line)
        total += len(cells)
        if total > MAX_CSV_VALUES:
            raise WaveformError(f"{where} holds more than {MAX_CSV_VALUES:,} values; a waveform holds fewer")
        try:
            values = [float(c) for c in cells]
        except ValueError:
            if position == 0:
                continue  # a header line (column names)
            bad = next(c for c in cells if not _is_float(c))
            raise WaveformError(f"{where}, line {number}: {bad[:30]!r} is not a number") from None
        if width is None:
            width = len(values)
        elif len(values) != width:
            raise WaveformError(f"{where}, line {number} has {len(values)} values, the lines before it {width}")
        rows.append(values)
    if not rows:
        raise WaveformError(f"{where} holds no numbers")
    array = np.array(rows, dtype=np.float64)
    if array.shape[0] == 1 or array.shape[1] == 1:
        return array.ravel()  # one line or one column: a single channel's samples
    return array


def _is_float(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def resample(trace: np.ndarray, rate: float, target: float) -> np.ndarray:
    """``trace`` sampled at ``rate`` Hz, resampled to ``target`` Hz (Fourier interpolation).

    The line through the first and last samples is removed first and added back after, so the
    implied periodic signal has no jump at its ends (no ringing from the edges). Going down in
    rate keeps the frequencies below the new Nyquist frequency (an ideal low-pass). The output
    has ``round(len * target / rate)`` samples, the first at the same time as the input's.
    """
    n = len(trace)
    m = max(2, int(round(n * target / rate)))
    if m == n:
        return trace.astype(np.float64)
    ramp_in = np.linspace(trace[0], trace[-1], n)
    spectrum = np.fft.rfft(trace - ramp_in)
    bins = m // 2 + 1
    out = np.zeros(bins, dtype=complex)
    keep = min(bins, len(spectrum))
    out[:keep] = spectrum[:keep]
    if m % 2 == 0 and keep == bins:
        out[-1] = out[-1].real  # the new Nyquist bin of a real signal is real
    values = np.fft.irfft(out, m) * (m / n)
    # The removed line at the output's times (in input samples; past the last input sample when
    # going up in rate, where the line is extended).
    times = np.arange(m) * (n / m)
    return values + trace[0] + (trace[-1] - trace[0]) * times / max(n - 1, 1)


def align(trace: np.ndarray) -> np.ndarray:
    """``trace`` in the library's window: its trough at ``TEMPLATE_NBEFORE``, zeros elsewhere."""
    window = np.zeros(fmt.TEMPLATE_SAMPLES)
    trough = int(np.argmin(trace))
    first = trough - fmt.TEMPLATE_NBEFORE  # the trace's sample at window sample 0
    lo, hi = max(0, -first), min(fmt.TEMPLATE_SAMPLES, len(trace) - first)
    window[lo:hi] = trace[first + lo:first + hi]
    return window


def read_waveform(data: bytes, name: str, sampling_frequency) -> dict:
    """A user's waveform file as the library's preview of it.

    Parameters
    ----------
    data : bytes
        The file's content (at most :data:`MAX_BYTES`).
    name : str
        The file's name: its extension decides the parser; shown in messages.
    sampling_frequency : float
        The rate the user gives, in Hz.

    Returns
    -------
    dict
        ``{"name", "samples", "channels", "channel", "sampling_frequency", "resampled",
        "preview": {"scale", "steps"}}``; ``channel`` is the channel used (largest
        peak-to-peak), 0 for a 1-D waveform.
    """
    where = _name(name)
    if not isinstance(name, str) or not name.lower().endswith(EXTENSIONS):
        raise WaveformError(f"{where} is neither a .npy nor a .csv file")
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise WaveformError(f"{where} could not be read")
    if len(data) > MAX_BYTES:
        raise WaveformError(f"{where} is {len(data):,} bytes; a waveform file may be at most {MAX_BYTES:,}")
    if len(data) == 0:
        raise WaveformError(f"{where} is empty")
    rate = _rate(sampling_frequency)
    data = bytes(data)
    array = parse_npy(data, name) if name.lower().endswith(".npy") else parse_csv(data, name)
    trace, channel, channels = _one_channel(array, where)
    duration = len(trace) / rate
    if not MIN_DURATION_S <= duration <= MAX_DURATION_S:
        raise WaveformError(
            f"{where}: {len(trace)} samples at {rate:g} Hz last {1000 * duration:.3g} ms; a waveform lasts "
            f"{1000 * MIN_DURATION_S:g} to {1000 * MAX_DURATION_S:g} ms: is the sampling rate right (in Hz)?")
    trace = trace - np.median(trace)
    resampled = rate != fmt.TEMPLATE_SAMPLING_FREQUENCY
    if resampled:
        trace = resample(trace, rate, fmt.TEMPLATE_SAMPLING_FREQUENCY)
    scale, steps = quantise(align(trace)[None, :])
    if scale[0] == 0:
        raise WaveformError(f"{where} is flat: it has no shape to compare")
    return {"name": str(name)[:200], "samples": int(array.shape[0]), "channels": channels, "channel": channel,
            "sampling_frequency": rate, "resampled": resampled,
            "preview": {"scale": float(scale[0]), "steps": steps[0].tolist()}}


def _rate(value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise WaveformError("give the waveform's sampling rate in Hz (a number)")
    try:
        rate = float(value)
    except ValueError:
        raise WaveformError(f"the sampling rate {str(value)[:30]!r} is not a number (Hz)") from None
    if not math.isfinite(rate) or not MIN_RATE_HZ <= rate <= MAX_RATE_HZ:
        raise WaveformError(f"the sampling rate {str(value)[:30]} Hz is not between {MIN_RATE_HZ:,.0f} and "
                            f"{MAX_RATE_HZ:,.0f} Hz")
    return rate


def _one_channel(array: np.ndarray, where: str) -> tuple[np.ndarray, int, int]:
    """``(trace, channel, channels)``: the channel of largest peak-to-peak, as float64."""
    if array.ndim == 0 or array.ndim > 2:
        raise WaveformError(f"{where} has shape {array.shape[:4]}; a waveform is samples, or samples x channels")
    if array.size == 0:
        raise WaveformError(f"{where} holds no samples (shape {array.shape})")
    values = array.astype(np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        sample = int(np.argwhere(bad)[0][0])
        raise WaveformError(f"{where} holds NaN or infinite values (the first at sample {sample})")
    if values.ndim == 1:
        values = values[:, None]
    samples, channels = values.shape
    if channels > MAX_CHANNELS:
        raise WaveformError(f"{where} has {channels} channels (shape {array.shape}); at most {MAX_CHANNELS}: "
                            "is it channels x samples? Save it as samples x channels")
    if samples > MAX_SAMPLES:
        raise WaveformError(f"{where} has {samples:,} samples per channel; a waveform has at most {MAX_SAMPLES:,}")
    if samples < MIN_SAMPLES:
        raise WaveformError(f"{where} has {samples} samples per channel (shape {array.shape}); a waveform needs "
                            f"at least {MIN_SAMPLES}: if it is channels x samples, save it as samples x channels")
    channel = int(np.argmax(np.ptp(values, axis=0)))
    return values[:, channel], channel, channels
