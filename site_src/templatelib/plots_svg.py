"""Waveform pictures as SVG, drawn from numpy alone.

Only the template view is drawn here; thumbnails are drawn by the page's JavaScript from
previews (``static/previews.js``). SVG keeps matplotlib (seconds to import in Pyodide) off the path, stays
crisp at any zoom, and carries its accessible name (``role="img"``, ``aria-label``). Every
string from the data passes through :func:`html.escape`: a hostile brain area or ID is shown
as text, never parsed as markup.
"""

from __future__ import annotations

from html import escape

import numpy as np

ACCENT = "#1f5fbf"
MUTED = "#9aa4b1"
INK = "#1d2430"
FOOTPRINT_CHANNELS = 24
NEIGHBOUR_RADIUS_UM = 45.0


def _points(xs, ys) -> str:
    return " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys))


def _scale(values, lo, hi, out_lo, out_hi):
    span = (hi - lo) or 1.0
    return out_lo + (np.asarray(values, dtype=float) - lo) * (out_hi - out_lo) / span


def best_channel(template: np.ndarray) -> int:
    return int(np.argmax(np.ptp(template, axis=0)))


def _nice_ticks(lo: float, hi: float, count: int = 4) -> list[float]:
    span = hi - lo
    if span <= 0:
        return [lo]
    raw = span / count
    magnitude = 10 ** np.floor(np.log10(raw))
    step = min((m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw), default=raw)
    start = np.ceil(lo / step) * step
    return [float(t) for t in np.arange(start, hi + step * 1e-9, step)]


def _waveform_panel(template, positions, best, sampling_frequency, nbefore, box) -> list[str]:
    x0, y0, w, h = box
    times = (np.arange(template.shape[0]) - nbefore) / sampling_frequency * 1000.0
    distance = np.linalg.norm(positions - positions[best], axis=1)
    neighbours = [c for c in np.argsort(distance) if distance[c] <= NEIGHBOUR_RADIUS_UM and c != best][:8]
    shown = template[:, [best, *neighbours]]
    lo, hi = float(shown.min()), float(shown.max())
    pad = 0.08 * ((hi - lo) or 1.0)
    lo, hi = lo - pad, hi + pad
    sx = lambda t: _scale(t, times[0], times[-1], x0, x0 + w)  # noqa: E731
    sy = lambda v: _scale(v, lo, hi, y0 + h, y0)  # noqa: E731
    parts = [f'<rect x="{x0}" y="{y0}" width="{w}" height="{h}" fill="none" stroke="#d5dae1"/>']
    for t in _nice_ticks(times[0], times[-1], 6):
        x = float(sx(t))
        parts.append(f'<line x1="{x:.1f}" y1="{y0 + h}" x2="{x:.1f}" y2="{y0 + h + 4}" stroke="{INK}"/>')
        parts.append(f'<text x="{x:.1f}" y="{y0 + h + 16}" text-anchor="middle">{t:g}</text>')
    for v in _nice_ticks(lo, hi, 4):
        y = float(sy(v))
        parts.append(f'<line x1="{x0 - 4}" y1="{y:.1f}" x2="{x0}" y2="{y:.1f}" stroke="{INK}"/>')
        parts.append(f'<text x="{x0 - 6}" y="{y + 4:.1f}" text-anchor="end">{v:g}</text>')
    parts.append(f'<text x="{x0 + w / 2}" y="{y0 + h + 32}" text-anchor="middle">time (ms)</text>')
    parts.append(
        f'<text x="{x0 - 44}" y="{y0 + h / 2}" text-anchor="middle" '
        f'transform="rotate(-90 {x0 - 44} {y0 + h / 2})">amplitude (µV)</text>'
    )
    for c in neighbours:
        parts.append(f'<polyline fill="none" stroke="{MUTED}" stroke-width="1" '
                     f'points="{_points(sx(times), sy(template[:, c]))}"/>')
    parts.append(f'<polyline fill="none" stroke="{ACCENT}" stroke-width="2.2" '
                 f'points="{_points(sx(times), sy(template[:, best]))}"/>')
    return parts


def _footprint_panel(template, positions, best, box) -> list[str]:
    x0, y0, w, h = box
    # The nearest contacts rather than a fixed radius: NP1.0 (20 um pitch) and NP-Ultra (6 um)
    # then show a comparably readable footprint.
    distance = np.linalg.norm(positions - positions[best], axis=1)
    near = np.sort(np.argsort(distance, kind="stable")[:FOOTPRINT_CHANNELS])
    pos = positions[near]
    px = _scale(pos[:, 0], pos[:, 0].min() - 12, pos[:, 0].max() + 12, x0, x0 + w)
    py = _scale(pos[:, 1], pos[:, 1].min() - 12, pos[:, 1].max() + 12, y0 + h, y0)
    peak = float(np.abs(template[:, near]).max()) or 1.0
    trace_w = min(w / max(len(np.unique(pos[:, 0])), 1) * 0.9, 56.0)
    trace_h = min(h / max(len(np.unique(pos[:, 1])), 1) * 1.6, 80.0)
    parts = [f'<text x="{x0 + w / 2}" y="{y0 - 6}" text-anchor="middle">footprint ({len(near)} nearest channels)</text>']
    for k, c in enumerate(near):
        trace = template[:, c]
        xs = px[k] - trace_w / 2 + np.linspace(0, trace_w, len(trace))
        ys = py[k] - trace / peak * trace_h / 2
        colour, stroke = (ACCENT, 1.8) if c == best else (INK, 0.8)
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="{stroke}" points="{_points(xs, ys)}"/>')
    return parts


def _probe_panel(template, positions, best, box) -> list[str]:
    x0, y0, w, h = box
    ptp = np.ptp(template, axis=0)
    active = ptp >= 0.1 * ptp.max()
    xs = _scale(positions[:, 0], positions[:, 0].min() - 10, positions[:, 0].max() + 10, x0, x0 + w)
    ys = _scale(positions[:, 1], positions[:, 1].min() - 10, positions[:, 1].max() + 10, y0 + h, y0)
    parts = [f'<text x="{x0 + w / 2}" y="{y0 - 6}" text-anchor="middle">probe</text>',
             f'<rect x="{x0}" y="{y0}" width="{w}" height="{h}" fill="#f4f6f9" stroke="#d5dae1"/>']
    for c in range(len(positions)):
        fill = ACCENT if active[c] else "#c3cad4"
        parts.append(f'<rect x="{xs[c] - 1.5:.1f}" y="{ys[c] - 1:.1f}" width="3" height="2" fill="{fill}"/>')
    depth_y = float(ys[best])
    parts.append(f'<line x1="{x0 - 6}" y1="{depth_y:.1f}" x2="{x0 + w + 6}" y2="{depth_y:.1f}" stroke="#c0392b" stroke-width="1.5"/>')
    parts.append(f'<text x="{x0 + w + 8}" y="{depth_y + 4:.1f}">{positions[best, 1]:g} µm</text>')
    return parts


def template_view_svg(template, positions, sampling_frequency, nbefore, label) -> str:
    """Waveform (best channel and neighbours), footprint, and probe with depth, as one SVG.

    Parameters
    ----------
    template : array (samples, channels)
        In uV.
    positions : array (channels, 2)
        Contact x, y in um.
    sampling_frequency : float
    nbefore : int
    label : str
        Used in the accessible name ``Waveform <label>: ...``.
    """
    template = np.asarray(template, dtype=float)
    positions = np.asarray(positions, dtype=float)
    best = best_channel(template)
    # Stacked for the page's view column (~340-600 px wide): at that width a side-by-side
    # 760-unit figure shrank its 11-unit labels to ~6 px; stacked, they stay near 10 px.
    width, height = 500, 600
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" class="template-view" '
        f'aria-label="{escape(f"Waveform {label}: best channel {best} and its neighbours, footprint, probe", quote=True)}" '
        f'viewBox="0 0 {width} {height}" font-family="system-ui, sans-serif" font-size="11" fill="{INK}">'
    ]
    parts += _waveform_panel(template, positions, best, sampling_frequency, nbefore, (62, 14, 420, 230))
    parts += _footprint_panel(template, positions, best, (62, 318, 300, 266))
    parts += _probe_panel(template, positions, best, (400, 318, 36, 266))
    parts.append("</svg>")
    return "".join(parts)
