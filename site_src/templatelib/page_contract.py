"""What the page and Python must agree on, declared once: the page contract.

``generator/build.py`` writes :func:`page_facts` into the page config (a JSON block in
``index.html``), the jinja template renders the results table's header and the quick filters
from :data:`RESULT_COLUMNS` and :data:`QUICK_FILTERS`, and the page's JavaScript
(``site_src/static``) reads only the config: it names no column title, filter label, unit
scale, method or package itself (``tests/test_page_contract.py`` fails if one is written a
second time). The page's Python uses the same declarations (``TABLE_COLUMNS``, the
range hints of ``app.Browser.load``).

Adding a column that the page shows and filters: a :class:`Column` here (and a
:class:`QuickFilter` for each bound), the pipeline that fills the csv column
(``format.COLUMNS``), and a test.

Units: the results titles carry their shown unit, built from ``format.COLUMN_UNITS`` by
:func:`units.titled` (``"Amplitude (µV)"``); the metric columns a visitor may add to the table
(:data:`EXTRA_COLUMNS`) carry their title, shown unit and scale (durations: s stored, ms shown)
to the page the same way. ``QuickFilter.scale`` is the factor from the box's unit to the csv's.
"""

from __future__ import annotations

from typing import NamedTuple

from . import format as _fmt
from . import units


class Column(NamedTuple):
    """One column of the results table (after the selection box and the thumbnail)."""

    #: The catalogue column (``format.COLUMNS``).
    name: str
    #: The header, also the sort button's accessible name.
    title: str
    #: ``"text"`` or ``"number"`` (numbers are right-aligned and rounded to ``decimals``).
    kind: str
    #: Decimals a number is shown with; ``None``: as it is.
    decimals: int | None


#: The results table, in order. ``template_id`` comes first: the page shows it as the button
#: that opens the template view.
RESULT_COLUMNS = (
    Column("template_id", "Template ID", "text", None),
    Column("dataset", "Dataset", "text", None),
    Column("brain_area", "Brain area", "text", None),
    Column("depth_along_probe", units.titled("Depth", "depth_along_probe"), "number", 0),
    Column("amplitude_uv", units.titled("Amplitude", "amplitude_uv"), "number", 1),
    Column("signal_to_noise_ratio", "SNR", "number", 1),
    Column("spikes_per_unit", "Spikes", "number", None),
    Column("probe", "Probe", "text", None),
)


class QuickFilter(NamedTuple):
    """One quick filter: a box (or a choice) that writes ``column operator value`` into the query."""

    #: The element's id in the page.
    id: str
    #: Its label: the box's accessible name.
    label: str
    #: The catalogue column it filters.
    column: str
    #: ``"=="`` for a choice (the value is quoted as a Python string), ``">="``/``"<="`` for a bound.
    operator: str
    #: The box's unit times ``scale`` is the column's unit (peak-to-trough: ms in the box, s in the csv).
    scale: float = 1
    #: The number box's ``step`` (``"1"``: whole numbers).
    step: str = "any"
    #: For a choice: the key of the library's info that lists the choices (``Browser.load``).
    choices: str | None = None
    #: Show the column's finite range in the box as a placeholder (the lower bound for ``>=``).
    hint: bool = False


#: The quick filters, in the order they write the query.
QUICK_FILTERS = (
    QuickFilter("f-probe", "Probe", "probe", "==", choices="probes"),
    QuickFilter("f-area", "Brain area", "brain_area", "==", choices="brain_areas"),
    QuickFilter("f-amp-min", "Amplitude min (µV)", "amplitude_uv", ">=", hint=True),
    QuickFilter("f-amp-max", "Amplitude max (µV)", "amplitude_uv", "<=", hint=True),
    QuickFilter("f-depth-min", "Depth min (µm)", "depth_along_probe", ">=", hint=True),
    QuickFilter("f-depth-max", "Depth max (µm)", "depth_along_probe", "<=", hint=True),
    QuickFilter("f-snr-min", "SNR min", "signal_to_noise_ratio", ">=", hint=True),
    QuickFilter("f-spikes-min", "Spikes min", "spikes_per_unit", ">=", step="1", hint=True),
    QuickFilter("f-ptt-min", "Peak-to-trough min (ms)", "peak_to_trough_duration", ">=", scale=1e-3),
    QuickFilter("f-ptt-max", "Peak-to-trough max (ms)", "peak_to_trough_duration", "<=", scale=1e-3),
    QuickFilter("f-spread-min", "Spread min (µm)", "spread", ">="),
)

#: Columns whose finite range the library's info carries (the filters' placeholders).
#: The names of the results columns, in order (what each results row carries for the table).
TABLE_COLUMNS = tuple(column.name for column in RESULT_COLUMNS)
HINTED_COLUMNS = tuple(dict.fromkeys(f.column for f in QUICK_FILTERS if f.hint))

#: The measured columns a visitor may add to the results table (``?cols=``), in the format's
#: order: every column with a declared unit that the table does not show already.
EXTRA_COLUMNS = tuple(name for name in _fmt.COLUMNS
                      if name in _fmt.COLUMN_UNITS and name not in {c.name for c in RESULT_COLUMNS})
#: At most this many added columns (a longer ``?cols=`` is cut, and the page says so).
MAX_EXTRA_COLUMNS = 6


def extra_column_facts() -> list[dict]:
    """The addable columns as the page shows them: the header (the column's name, which the
    query uses, with its shown unit), the shown unit and the factor from stored to shown."""
    return [{"name": name, "title": units.label(name), "unit": units.shown_unit(name), "scale": units.scale(name)}
            for name in EXTRA_COLUMNS]


#: Rows on one page of results.
PAGE_SIZE = 25

#: How long one worker call (query, sort, view, selection) may run before the page stops the
#: worker and starts a fresh one: far above a query on the public catalogue (well under 1 s)
#: or a template view on a slow link (two small chunks), short enough that a hung call is
#: noticed before the visitor gives up. (``build_site`` takes another for tests.)
CALL_TIMEOUT_MS = 8_000
#: How long booting Pyodide and loading the catalogue may take before the page gives up:
#: seconds on a normal machine, tens of seconds on a slow one with a cold cache.
LOAD_TIMEOUT_MS = 120_000
#: The longest the big downloads Python needs only later wait for the first waveforms to be drawn
#: (static/state.js ``firstPaintHeadStart``): the runtime's compile (started at once, it delayed
#: the first paint by ~0.1 s on 2 cores) and the compact catalogue (8.9 MB at 1,000,000 rows).
FIRST_PAINT_HEAD_START_MS = 400


def page_facts() -> dict:
    """The contract as the page config holds it (JSON-able): the results columns, the quick
    filters, the page size, the worker's method groups and packages by stage, the csv rules of
    the first paint, the compact catalogue's and the previews' layout.

    build.py adds what depends on the build (URLs, timeouts, the default source).
    """
    # Imported here: this module is imported by catalogue.py, and these import it back.
    from . import format as fmt
    from . import hybrid_preview, own_waveform
    from .catalogue import csv_rules
    from .similar import MEASURE as SIMILARITY_MEASURE
    from .worker_api import GROUP_PACKAGES, METHOD_GROUPS

    return {
        "pageSize": PAGE_SIZE,
        "firstPaintHeadStartMs": FIRST_PAINT_HEAD_START_MS,
        "resultColumns": [list(c) for c in RESULT_COLUMNS],
        "quickFilters": [f._asdict() for f in QUICK_FILTERS],
        "extraColumns": {"columns": extra_column_facts(), "max": MAX_EXTRA_COLUMNS,
                         "significantDigits": units.SIGNIFICANT_DIGITS, "missing": units.MISSING},
        "methodGroups": {group: list(methods) for group, methods in METHOD_GROUPS.items()},
        "stagePackages": {group: list(packages) for group, packages in GROUP_PACKAGES.items()},
        "catalogueCsv": csv_rules(),
        "compactCatalogue": {"file": fmt.COMPACT_CATALOGUE_FILE, "manifestKey": fmt.COMPACT_MANIFEST_KEY,
                             "maxBytes": fmt.COMPACT_MAX_BYTES, "maxRows": fmt.COMPACT_MAX_ROWS},
        "previewFormat": {
            "dir": fmt.PREVIEW_DIR, "formatVersion": fmt.PREVIEW_FORMAT_VERSION, "rowBytes": fmt.PREVIEW_ROW_BYTES,
            "idBytes": fmt.PREVIEW_ID_BYTES, "scaleBytes": fmt.PREVIEW_SCALE_BYTES, "steps": fmt.PREVIEW_SAMPLES,
            "rowsPerShard": fmt.PREVIEW_ROWS_PER_SHARD,
        },
        # "Similar templates", "Your own waveform" and the hybrid preview (templatelib.similar,
        # own_waveform, hybrid_preview): the page checks a file's size before reading it.
        "similarity": {"measure": SIMILARITY_MEASURE},
        "ownWaveform": {
            "maxBytes": own_waveform.MAX_BYTES, "extensions": list(own_waveform.EXTENSIONS),
            "minRateHz": own_waveform.MIN_RATE_HZ, "maxRateHz": own_waveform.MAX_RATE_HZ,
            "defaultRateHz": fmt.TEMPLATE_SAMPLING_FREQUENCY,
        },
        "hybridPreview": {
            "previewMs": hybrid_preview.HybridParameters.preview_ms, "maxPreviewMs": hybrid_preview.MAX_PREVIEW_MS,
            "maxTemplates": hybrid_preview.MAX_TEMPLATES, "maxNoiseUv": hybrid_preview.MAX_NOISE_UV,
            "maxSeed": hybrid_preview.MAX_SEED,
        },
    }
