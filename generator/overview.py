"""Library overview: ``overview.md`` plus PNG figures drawn from the catalogue.

:func:`build_overview` reads ``templates.csv`` (or a DataFrame of it) and writes, into one
folder, a markdown page and one PNG per figure: templates by probe, by brain area (top 30),
the distribution of each numeric column by probe (amplitude, depth, SNR, spike count and the
template shape metrics of ``docs/metrics.md``, whichever exist) and amplitude against
peak-to-trough duration. Every figure has alt text and, below it, the numbers behind it as a
markdown table. Bad input never fails the build: an empty catalogue, a missing or all-NaN
column gives an empty figure with a sentence saying why.

Catalogue strings are data, never markup: every one goes through :func:`inert` before it
reaches the markdown (so ``<script>``, ``[x](javascript:...)`` or ``![x](http://...)`` are
shown as text, never an element, a link or a fetch), and the figures are drawn with
matplotlib's mathtext off (so ``$\\frac{$`` is a label, not a parse error).
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd

from templatelib import format as fmt
from templatelib import units

#: Catalogue columns whose distributions are drawn, when present.
BASIC_COLUMNS = ("amplitude_uv", "depth_along_probe", "signal_to_noise_ratio", "spikes_per_unit")

#: Template shape metrics (spikeinterface's names, from the format), drawn when present.
SHAPE_COLUMNS = fmt.METRIC_COLUMNS

TOP_AREAS = 30
BINS = 30


#: Characters of a data string written as themselves; every other one becomes a numeric
#: character reference, which markdown passes through as text and HTML shows as the character.
_PLAIN = re.compile(r"[A-Za-z0-9 .,+/:;%?@=()-]")  # "(" and ")" are syntax only after "]"


def _inert_char(char: str) -> str:
    if _PLAIN.fullmatch(char):
        return char
    if char in "\r\n\t":
        return " "
    if unicodedata.category(char) in ("Cc", "Cs") or char in "\ufffe\uffff":
        return "\N{REPLACEMENT CHARACTER}"  # no character reference may name these
    if ord(char) > 0x7F and unicodedata.category(char)[0] in "LNPSZ" and char.isprintable():
        return char
    return f"&#{ord(char)};"


def inert(text) -> str:
    """A catalogue string as markdown that renders as exactly that text, never as markup.

    Parameters
    ----------
    text : object
        The value; ``str(text)`` is what is shown.

    Returns
    -------
    str
        The text with every character that markdown or HTML could read as syntax written as a
        numeric character reference (line breaks become spaces; control characters, which no
        reference may name, become U+FFFD).
    """
    return "".join(_inert_char(c) for c in str(text))


def _values(frame: pd.DataFrame, column: str) -> pd.Series:
    values = pd.to_numeric(frame[column], errors="coerce").astype(float)
    values = values.where(np.isfinite(values))
    return values * units.scale(column)


def _fmt(value) -> str:
    if isinstance(value, (float, np.floating)):
        if not np.isfinite(value):
            return ""
        return f"{value:.4g}"
    return inert(value)


def markdown_table(frame: pd.DataFrame) -> str:
    """A DataFrame as a GitHub-flavoured markdown table (index not included)."""
    header = "| " + " | ".join(inert(c) for c in frame.columns) + " |"
    rule = "|" + "---|" * len(frame.columns)
    rows = ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *rows])


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "figure"


class _Page:
    """Collects the markdown and writes figures into ``out_dir``."""

    def __init__(self, out_dir: Path):
        self.out_dir = out_dir
        self.lines: list[str] = ["# Library overview", ""]

    def figure(self, name: str, title: str, alt: str, draw, table: pd.DataFrame | None, empty: str | None):
        """Draw one figure (``draw(ax)``) or, when ``empty`` is a sentence, an empty one."""
        import matplotlib

        matplotlib.use("Agg")
        filename = f"{_safe_name(name)}.png"
        empty_md = empty  # sentences of this module name only its own column names
        # Labels hold catalogue strings: mathtext off, so "$" and "\\" are only characters.
        with matplotlib.rc_context({"text.parse_math": False, "text.usetex": False}):
            if empty is None:
                try:
                    self._save(filename, title, draw, None)
                except Exception as exc:  # never fail the build on a figure
                    empty = f"This figure could not be drawn ({type(exc).__name__}: {exc})."
                    empty_md = inert(empty)  # the message may quote a catalogue string
            if empty is not None:
                self._save(filename, title, None, empty)
                alt = f"{title}: no data. {empty}"
        self.lines += [f"## {title}", "", f"![{inert(alt)}]({filename})", ""]
        if empty is not None:
            self.lines += [empty_md, ""]
        elif table is not None:
            self.lines += [markdown_table(table), ""]

    def _save(self, filename: str, title: str, draw, empty: str | None):
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
        try:
            if empty is None:
                draw(ax)
            else:
                ax.set_axis_off()
                ax.text(0.5, 0.5, empty, ha="center", va="center", wrap=True, fontsize=10)
            ax.set_title(title)
            fig.tight_layout()
            fig.savefig(self.out_dir / filename)
        finally:
            plt.close(fig)


def _read(catalogue) -> pd.DataFrame:
    if isinstance(catalogue, pd.DataFrame):
        return catalogue.copy()
    path = Path(catalogue)
    try:
        return pd.read_csv(path, keep_default_na=True)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()


def _probe_labels(frame: pd.DataFrame) -> pd.Series:
    if "probe" not in frame:
        return pd.Series(["(unknown probe)"] * len(frame), index=frame.index)
    return frame["probe"].fillna("").astype(str).replace("", "(unknown probe)")


def _counts_figure(page: _Page, labels: pd.Series, name: str, title: str, what: str, top: int | None):
    counts = labels.value_counts()
    shown = counts.head(top) if top else counts
    table = pd.DataFrame({what: shown.index.astype(str), "templates": shown.to_numpy()})
    if top and len(counts) > top:
        table.loc[len(table)] = [f"(other {len(counts) - top})", int(counts.iloc[top:].sum())]
    empty = None if len(counts) else "The catalogue has no templates."

    def draw(ax):
        ax.barh(shown.index.astype(str)[::-1], shown.to_numpy()[::-1], color="#4c72b0")
        ax.set_xlabel("templates")
        ax.tick_params(axis="y", labelsize=7 if len(shown) > 12 else 9)

    alt = f"Bar chart of the number of templates per {what}: " + ", ".join(
        f"{k} {v}" for k, v in shown.head(8).items()
    ) + ("..." if len(shown) > 8 else "")
    page.figure(name, title, alt, draw, table, empty)


def _distribution_figure(page: _Page, frame: pd.DataFrame, probes: pd.Series, column: str):
    title = f"Distribution of {column} by probe"
    if column not in frame:
        page.figure(f"dist_{column}", title, "", None, None, f"The catalogue has no {column} column.")
        return
    values = _values(frame, column)
    if values.notna().sum() == 0:
        reason = "The catalogue has no templates." if len(values) == 0 else f"Every {column} value is NaN."
        page.figure(f"dist_{column}", title, "", None, None, reason)
        return
    rows = []
    for probe in sorted(probes.unique()):
        v = values[probes == probe]
        finite = v.dropna()
        rows.append(
            {
                "probe": probe,
                "templates": len(v),
                "NaN": int(v.isna().sum()),
                "min": finite.min() if len(finite) else np.nan,
                "median": finite.median() if len(finite) else np.nan,
                "max": finite.max() if len(finite) else np.nan,
            }
        )
    table = pd.DataFrame(rows)
    finite_all = values.dropna().to_numpy()
    edges = np.histogram_bin_edges(finite_all, bins=BINS)

    def draw(ax):
        for probe in table["probe"]:
            v = values[probes == probe].dropna().to_numpy()
            if len(v):
                ax.hist(v, bins=edges, histtype="step", linewidth=1.5, label=f"{probe} (n={len(v)})")
        ax.set_xlabel(units.label(column))
        ax.set_ylabel("templates")
        ax.legend(fontsize=8)

    alt = f"Histogram of {units.label(column)} per probe; " + "; ".join(
        f"{r['probe']}: median {_fmt(r['median'])}, {r['NaN']} NaN of {r['templates']}" for r in rows
    )
    page.figure(f"dist_{column}", title, alt, draw, table, None)


def _scatter_figure(page: _Page, frame: pd.DataFrame, probes: pd.Series, x: str, y: str):
    title = f"{y} against {x}"
    missing = [c for c in (x, y) if c not in frame]
    if missing:
        page.figure(f"scatter_{y}_{x}", title, "", None, None, f"The catalogue has no {' or '.join(missing)} column.")
        return
    xs, ys = _values(frame, x), _values(frame, y)
    both = xs.notna() & ys.notna()
    if not both.any():
        page.figure(f"scatter_{y}_{x}", title, "", None, None, f"No template has both {x} and {y} defined.")
        return
    rows = []
    for probe in sorted(probes.unique()):
        sel = both & (probes == probe)
        rows.append(
            {
                "probe": probe,
                "templates plotted": int(sel.sum()),
                f"median {units.label(x)}": xs[sel].median() if sel.any() else np.nan,
                f"median {units.label(y)}": ys[sel].median() if sel.any() else np.nan,
            }
        )
    table = pd.DataFrame(rows)

    def draw(ax):
        for probe in table["probe"]:
            sel = both & (probes == probe)
            if sel.any():
                ax.scatter(xs[sel], ys[sel], s=8, alpha=0.6, label=f"{probe} (n={int(sel.sum())})")
        ax.set_xlabel(units.label(x))
        ax.set_ylabel(units.label(y))
        ax.legend(fontsize=8)

    alt = f"Scatter plot of {units.label(y)} against {units.label(x)}, one point per template, coloured by probe; " + "; ".join(
        f"{r['probe']}: {r['templates plotted']} templates" for r in rows
    )
    page.figure(f"scatter_{y}_{x}", title, alt, draw, table, None)


def build_overview(catalogue: str | Path | pd.DataFrame, out_dir: str | Path) -> Path:
    """Write ``overview.md`` and its PNG figures.

    Parameters
    ----------
    catalogue : str, Path or pandas.DataFrame
        The catalogue (``templates.csv``) or its rows.
    out_dir : str or Path
        Folder to write into (created if needed).

    Returns
    -------
    Path
        The path of ``overview.md``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    frame = _read(catalogue).reset_index(drop=True)
    probes = _probe_labels(frame)
    page = _Page(out)
    num_datasets = frame["dataset"].nunique() if "dataset" in frame else 0
    page.lines += [
        f"{len(frame)} templates from {num_datasets} datasets on {probes.nunique()} probe types.",
        "",
    ]
    _counts_figure(page, probes, "templates_by_probe", "Templates by probe", "probe", None)
    if "brain_area" in frame:
        areas = frame["brain_area"].fillna("").astype(str).replace("", "(none)")
        _counts_figure(
            page, areas, "templates_by_brain_area", f"Templates by brain area (top {TOP_AREAS})", "brain area", TOP_AREAS
        )
    else:
        page.figure(
            "templates_by_brain_area", f"Templates by brain area (top {TOP_AREAS})", "", None, None,
            "The catalogue has no brain_area column.",
        )
    for column in BASIC_COLUMNS:
        _distribution_figure(page, frame, probes, column)
    for column in SHAPE_COLUMNS:
        if column in frame:
            _distribution_figure(page, frame, probes, column)
    if not any(c in frame for c in SHAPE_COLUMNS):
        page.lines += ["No template shape metrics in this catalogue.", ""]
    _scatter_figure(page, frame, probes, "peak_to_trough_duration", "amplitude_uv")
    path = out / "overview.md"
    path.write_text("\n".join(page.lines), encoding="utf-8")
    return path
