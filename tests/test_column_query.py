"""The page's query evaluator (column_query) answers exactly as pandas' query does.

pandas itself is the oracle: every query that both answer must select the same rows.
A query column_query refuses is fine (the page then says why in words); a query pandas fails
on must not be answered by column_query either. Every query is also evaluated on the
standard-library columns the page starts with (``ColumnTable.to_python``, before numpy has
loaded): it answers the same rows and refuses the same queries, or defers the query to numpy
(``NeedsNumpy``: arithmetic on a column).
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import test_hostile
from conftest import query_cases
from templatelib.catalogue import load_catalogue
from templatelib.column_arrays import NeedsNumpy
from templatelib.column_query import evaluate
from templatelib.column_table import INTEGER_COLUMNS, ColumnTable, TextColumn, known_columns
from templatelib.safe_query import QueryError, run_query

HOSTILE = "<img src=x onerror=alert(1)>"
TRICKY = "it's \"CA1\"\\ \nnext line"
AREAS = ["CA1", "DG-mo", "VISp5", "VISa", "", "é", "ß", "SS", "ca1", "CA1 ", "日本", "a|b", HOSTILE, TRICKY]
PROBES = ["Neuropixels 1.0", "NP-Ultra", "", "np2", "Z"]
SPECIAL_FLOATS = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, 0.5, 2.5, 100.0, 150.0, 1e308, -1e308,
                  5e-324, 0.0005, 9007199254740993.0, 1e30]
SPECIAL_INTS = [0, 1, -1, 3, 7, 100, 2**53 + 1, 2**62, -(2**63), 2**63 - 1]
FLOAT_COLUMNS = ("amplitude_uv", "noise_level_uv", "depth_along_probe")
INT_COLUMNS = ("spikes_per_unit", "template_index")
TEXT_COLUMNS = ("brain_area", "probe")


def table_from_frame(frame: pd.DataFrame) -> ColumnTable:
    """The ColumnTable of a catalogue DataFrame: numbers as they are, text as categories."""
    columns = {}
    for name in known_columns(frame.columns):
        column = frame[name]
        if pd.api.types.is_numeric_dtype(column):
            columns[name] = column.to_numpy(np.int64 if name in INTEGER_COLUMNS else np.float64)
        else:
            columns[name] = TextColumn.from_strings(column.astype(str))
    return ColumnTable(columns)


#: What the standard-library path did with the queries compared so far.
PURE = Counter()


def pure_outcome(table: ColumnTable, expression: str, columns, on_numpy):
    """Evaluate on the standard-library columns: the same rows or the same refusal as on numpy,
    or NeedsNumpy (returned as the string "deferred")."""
    pure = table.to_python()
    assert pure.backend.name == "python"
    try:
        rows = evaluate(pure, expression, columns)
    except QueryError:
        rows = None
    except NeedsNumpy:
        PURE["deferred"] += 1
        return "deferred"
    PURE["refused" if rows is None else "answered"] += 1
    if on_numpy is None:
        assert rows is None, f"the standard-library path answers what numpy refuses: {expression!r}"
    else:
        assert rows is not None, f"the standard-library path refuses what numpy answers: {expression!r}"
        assert list(rows) == on_numpy.tolist(), expression
    return rows


def outcomes(table: ColumnTable, expression: str, columns=None):
    """(pandas' rows or None when it fails, our rows or None when we refuse); the
    standard-library path is checked against ours on the way."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas' RuntimeWarnings of 1/0, regex-group UserWarnings
        try:
            theirs = run_query(table.to_pandas(), expression, columns).index.to_numpy(np.int64)
        except QueryError:
            theirs = None
    try:
        ours = evaluate(table, expression, columns)
    except QueryError as error:
        assert "\n" not in str(error).replace("\\n", "")
        ours = None
    if ours is not None:
        assert ours.dtype == np.int64 and (np.diff(ours) > 0).all()
    pure_outcome(table, expression, columns, ours)
    return theirs, ours


def assert_same(table, expression, columns=None, must_answer=False, before_numpy=False):
    theirs, ours = outcomes(table, expression, columns)
    if must_answer:
        assert ours is not None, f"refused: {expression!r}"
    if before_numpy:  # answered on the standard-library columns, without waiting for numpy
        assert pure_outcome(table, expression, columns, ours) != "deferred", expression
    if ours is not None:
        assert theirs is not None, f"pandas fails but column_query answers {expression!r}"
        np.testing.assert_array_equal(ours, theirs, err_msg=expression)


@pytest.fixture(scope="module")
def catalogue():
    """300 rows like the real catalogue, with its odd values: NaN, infinities, empty and hostile text."""
    rng = np.random.default_rng(14)
    n = 300
    frame = pd.DataFrame({
        "template_id": [f"t{k:04d}" for k in range(n)],
        "probe": rng.choice(PROBES, n),
        "brain_area": rng.choice(AREAS, n),
        "depth_along_probe": rng.uniform(0, 3800, n).round(1),
        "amplitude_uv": np.where(rng.random(n) < 0.05, np.nan, rng.lognormal(4.5, 0.8, n)),
        "noise_level_uv": np.where(rng.random(n) < 0.2, np.nan, rng.uniform(2, 20, n)),
        "signal_to_noise_ratio": np.where(rng.random(n) < 0.1, np.inf, rng.uniform(0, 40, n)),
        "spikes_per_unit": rng.integers(0, 5000, n),
        "template_index": np.arange(n),
        "peak_to_trough_duration": rng.uniform(0.0001, 0.002, n),
        "spread": rng.uniform(0, 200, n),
    })
    return table_from_frame(frame)


# ---------------------------------------------------------------------------- queries in use today


def py_string(text: str) -> str:
    """words.js' pyString: how a quick filter quotes a value."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n").replace("\r", "\\r") + "'"


#: Queries the page's tests and quick filters send (tests/test_site_e2e.py, test_hostile_page_e2e.py,
#: site_src/static/filters.js' filterExpression: `col op number` and `col == 'text'` joined by " and ").
PAGE_QUERIES = [
    "brain_area != 'CA1' and amplitude_uv > 100",
    "amplitude_uv > 0",
    "amplitude_uv > 50",
    "amplitude_uv > 100",
    "probe == 'Neuropixels 1.0'",
    "template_id == 't0007'",
    "brain_area.str.startswith('<img')",
    "amplitude_uv >= 120",
    "peak_to_trough_duration <= 0.0005",
    "peak_to_trough_duration >= 1e-7",  # JavaScript's String(0.0001 * 1e-3)
    "brain_area == " + py_string(TRICKY),
    "brain_area == " + py_string(HOSTILE),
    " and ".join([
        "probe == " + py_string("Neuropixels 1.0"), "brain_area == " + py_string("CA1"),
        "amplitude_uv >= 80", "amplitude_uv <= 400", "depth_along_probe >= 100", "depth_along_probe <= 3000",
        "signal_to_noise_ratio >= 2.5", "spikes_per_unit >= 100", "peak_to_trough_duration >= 0.0001",
        "peak_to_trough_duration <= 0.0015", "spread >= 20",
    ]),
    "amplitude_uv >= -5 and spikes_per_unit >= 1e+21",  # JavaScript's String(1e21)
]
PAGE_PYTHON_QUERIES = query_cases("page_allowed")


@pytest.mark.timeout(60)
@pytest.mark.parametrize("expression", PAGE_QUERIES + PAGE_PYTHON_QUERIES)
def test_queries_in_use_are_answered_as_pandas_answers(catalogue, expression):
    # the page's own queries (quick filters, ranges, text) never wait for numpy
    assert_same(catalogue, expression, must_answer=True, before_numpy=expression in PAGE_QUERIES)


@pytest.fixture(scope="module")
def real_catalogue(small_library):
    """The synthetic library's own templates.csv, as the page reads it."""
    return table_from_frame(load_catalogue(open(f"{small_library.path}/templates.csv", "rb").read()))


@pytest.mark.timeout(120)
@pytest.mark.parametrize("expression", PAGE_QUERIES + PAGE_PYTHON_QUERIES)
def test_queries_in_use_on_the_real_catalogue(real_catalogue, expression):
    assert_same(real_catalogue, expression, must_answer=True)


@pytest.mark.timeout(60)
def test_queries_in_use_select_rows(catalogue):
    """The list above is no list of empty answers: most of its queries select some rows, not all."""
    sizes = [len(evaluate(catalogue, e)) for e in PAGE_QUERIES + PAGE_PYTHON_QUERIES]
    assert sum(0 < s < len(catalogue) for s in sizes) >= len(sizes) - 3


@pytest.fixture(scope="module")
def hostile_table():
    return table_from_frame(test_hostile.table._get_wrapped_function()())


@pytest.mark.timeout(30)
@pytest.mark.parametrize("expression", [expression for expression, _ in query_cases("hostile_allowed")])
def test_legitimate_hostile_table_queries_are_answered(hostile_table, expression):
    assert_same(hostile_table, expression, must_answer=True)


@pytest.mark.timeout(30)
def test_empty_and_blank_queries_select_every_row(catalogue):
    for expression in ("", "   ", None, "\n"):
        np.testing.assert_array_equal(evaluate(catalogue, expression), np.arange(len(catalogue)))


# ---------------------------------------------------------------------------- refused in the same words


@pytest.mark.timeout(30)
@pytest.mark.parametrize("expression, words", query_cases("hostile"))
def test_hostile_queries_refused_in_the_same_words(hostile_table, expression, words):
    with pytest.raises(QueryError, match=words) as caught:
        evaluate(hostile_table, expression)
    assert "\n" not in str(caught.value).replace("\\n", "")


@pytest.mark.timeout(30)
@pytest.mark.parametrize("expression, words", query_cases("page_hostile"))
def test_page_hostile_queries_refused_in_the_same_words(catalogue, expression, words):
    with pytest.raises(QueryError, match=words):
        evaluate(catalogue, expression)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("expression, words", query_cases("refusals_say_why"))
def test_refusals_say_why(catalogue, expression, words):
    with pytest.raises(QueryError, match=words):
        evaluate(catalogue, expression)


# ---------------------------------------------------------------------------- differential: pandas decides

NUMBERS = ["0", "1", "-1", "3", "2.5", "0.5", "-0.0", "100", "1e308", "1e400", "-1e400", "5e-324",
           "10**30", "2**63", "2**-1", "9007199254740993", "2**53", "1e400 - 1e400"]
STRINGS = ["CA1", "", "é", "ß", "SS", "ca1", "a", "Z", "CA1 ", "日本", "a|b", "it's\n", "<img"]
PATTERNS = ["a", "CA", "[a-z]", "^C", ".", "ß", "s", "", "1|D", "\\d", "A$", "(C)"]
COMPARE = ["<", "<=", ">", ">=", "==", "!="]


def _numbers():
    leaves = st.sampled_from([*FLOAT_COLUMNS, *INT_COLUMNS, *NUMBERS, "brain_area.str.len()"])

    def grow(inner):
        return st.one_of(
            st.builds("({} {} {})".format, inner, st.sampled_from(["+", "-", "*", "/", "%", "//"]), inner),
            st.builds("({} ** {})".format, inner, st.sampled_from(["2", "3", "-1", "0.5", "0", "63"])),
            st.builds("-{}".format, inner),
        )
    return st.recursive(leaves, grow, max_leaves=4)


def _conditions():
    numbers = _numbers()
    text = st.sampled_from([*TEXT_COLUMNS, "brain_area.str.lower()", "probe.str.upper()"])
    strings = st.sampled_from(STRINGS).map(repr)
    compare = st.sampled_from(COMPARE)
    list_items = st.lists(st.one_of(st.sampled_from(NUMBERS[:10]), strings, st.sampled_from(["None", "True"])),
                          max_size=4)
    keywords = st.lists(st.sampled_from(["case=True", "case=False", "regex=False", "regex=True", "na=True",
                                         "na=None"]), max_size=2, unique_by=lambda k: k.split("=")[0])
    atoms = st.one_of(
        st.builds("{} {} {}".format, numbers, compare, numbers),
        st.builds("{} {} {}".format, numbers, compare, numbers),
        st.builds("{} {} {} {} {}".format, numbers, compare, numbers, compare, numbers),
        st.builds("{} {} {}".format, text, compare, strings),
        st.builds("{} {} {}".format, strings, compare, text),
        st.builds("{} {} {}".format, text, compare, text),
        st.builds("{} {} [{}]".format, st.sampled_from([*FLOAT_COLUMNS, *INT_COLUMNS, *TEXT_COLUMNS]),
                  st.sampled_from(["in", "not in"]), list_items.map(", ".join)),
        st.builds("{}.{}()".format, st.sampled_from([*FLOAT_COLUMNS, *INT_COLUMNS, *TEXT_COLUMNS]),
                  st.sampled_from(["isna", "notna"])),
        st.builds("{}.str.{}({}{})".format, st.sampled_from(TEXT_COLUMNS),
                  st.sampled_from(["contains", "startswith", "endswith", "match", "fullmatch"]),
                  st.sampled_from(PATTERNS).map(repr), keywords.map(lambda k: "".join(", " + w for w in k))),
        st.builds("{} {} {}".format, st.sampled_from([*FLOAT_COLUMNS, *TEXT_COLUMNS]), compare,
                  st.sampled_from(["None", "True", "'x'", "1"])),
        st.sampled_from(["True", "False", "None"]),
        # where numpy and pandas part ways: x // 0 and x % 0 (pandas fills ±inf / NaN) ...
        *[st.builds("{} {} {} {} {}".format, st.sampled_from([*INT_COLUMNS, *FLOAT_COLUMNS, "1", "-1", "0"]),
                  st.sampled_from(["//", "%"]), st.sampled_from(["0", "0.0", "-0.0", *INT_COLUMNS, *FLOAT_COLUMNS]),
                  compare, st.sampled_from(["0", "1", "-1", "1e400"]))] * 3,
        # ... and `not` or `&` / `|` next to comparisons (pandas reads & | as and / or, before parsing)
        st.builds("not {} {} 0 {} {} {} 0".format, st.sampled_from(FLOAT_COLUMNS + INT_COLUMNS), compare,
                  st.sampled_from(["&", "|"]), st.sampled_from(FLOAT_COLUMNS + INT_COLUMNS), compare),
    )

    def grow(inner):
        return st.one_of(
            st.builds("{} {} {}".format, inner, st.sampled_from(["and", "or", "&", "|"]), inner),  # no parentheses
            st.builds("({}) {} ({})".format, inner, st.sampled_from(["and", "or", "&", "|"]), inner),
            st.builds("not {}".format, inner),
            st.builds("~({})".format, inner),
            st.builds("not ({})".format, inner),
            st.builds("({}) {} {}".format, inner, st.sampled_from(["==", "!="]), st.sampled_from(["True", "False"])),
        )
    return st.recursive(atoms, grow, max_leaves=3)


def _edges() -> ColumnTable:
    """Every odd value in every column, in shifted combinations: each generated query meets them all."""
    n = 2 * len(SPECIAL_FLOATS)

    def cycle(values, shift):
        return [values[(k + shift) % len(values)] for k in range(n)]
    ints = SPECIAL_INTS + [-3, -2, 2, 0, 5]
    columns = {name: np.array(cycle(SPECIAL_FLOATS, 5 * k), dtype=np.float64) for k, name in enumerate(FLOAT_COLUMNS)}
    columns.update({name: np.array(cycle(ints, 3 * k), dtype=np.int64) for k, name in enumerate(INT_COLUMNS)})
    columns.update({name: TextColumn.from_strings(cycle(STRINGS, 4 * k)) for k, name in enumerate(TEXT_COLUMNS)})
    return ColumnTable(columns)


EDGES = _edges()


def _tables():
    floats = st.one_of(st.sampled_from(SPECIAL_FLOATS), st.floats(allow_nan=True, allow_infinity=True))
    ints = st.one_of(st.sampled_from(SPECIAL_INTS), st.integers(-3, 3), st.integers(-(2**63), 2**63 - 1))
    texts = st.one_of(st.sampled_from(STRINGS), st.text(st.characters(codec="utf-8"), max_size=4))

    @st.composite
    def table(draw):
        n = draw(st.integers(0, 12))
        columns = {}
        for name in FLOAT_COLUMNS:
            columns[name] = np.array(draw(st.lists(floats, min_size=n, max_size=n)), dtype=np.float64)
        for name in INT_COLUMNS:
            columns[name] = np.array(draw(st.lists(ints, min_size=n, max_size=n)), dtype=np.int64)
        for name in TEXT_COLUMNS:
            columns[name] = TextColumn.from_strings(draw(st.lists(texts, min_size=n, max_size=n)))
        return ColumnTable(columns)
    return table()


#: Where numpy, Python and pandas part ways (tests/data/query_cases.json); each is answered as pandas
#: answers it on EDGES.
PITFALLS = query_cases("pitfalls")


@pytest.mark.timeout(60)
@pytest.mark.parametrize("expression", PITFALLS)
def test_pitfalls_are_answered_as_pandas_answers(expression):
    assert_same(EDGES, expression, must_answer=True)


@pytest.mark.timeout(60)
def test_generated_queries_answer_as_pandas_does():
    """Hypothesis writes queries from a grammar over tables with NaN, ±inf, huge numbers, int64
    extremes, empty and unicode text; wherever column_query answers, pandas answers the same rows."""
    counts = {"answered": 0, "refused": 0}

    @settings(max_examples=300, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(table=_tables(), expression=_conditions())
    def check(table, expression):
        for rows in (table, EDGES):
            theirs, ours = outcomes(rows, expression)
            counts["refused" if ours is None else "answered"] += 1
            if ours is not None:
                assert theirs is not None, f"pandas fails but column_query answers {expression!r}"
                np.testing.assert_array_equal(ours, theirs, err_msg=expression)

    before = PURE.copy()
    check()
    # The grammar is no grammar of refusals: most generated queries get compared with pandas.
    assert counts["answered"] >= 100, counts
    # ... and most of them are answered before numpy, not deferred to it.
    pure = PURE - before
    assert pure["answered"] >= 100 and pure["answered"] > pure["deferred"], pure


# ---------------------------------------------------------------------------- scale


@pytest.mark.timeout(60)
def test_a_query_over_100k_rows():
    n = 100_000
    amplitude = np.linspace(0, 500, n)
    areas = TextColumn.from_strings(["CA1", "VISp5", "DG-mo", "it's"] * (n // 4))
    table = ColumnTable({"amplitude_uv": amplitude, "brain_area": areas,
                         "spikes_per_unit": np.arange(n, dtype=np.int64)})
    rows = evaluate(table, "brain_area == 'CA1' and 100 < amplitude_uv < 200 & spikes_per_unit % 2 == 0")
    expected = np.flatnonzero((np.arange(n) % 4 == 0) & (amplitude > 100) & (amplitude < 200))
    np.testing.assert_array_equal(rows, expected)
    rows = evaluate(table, "brain_area.str.contains('i', case=False) or amplitude_uv.isna()")
    np.testing.assert_array_equal(rows, np.flatnonzero(np.arange(n) % 2 == 1))  # VISp5, it's


# ---------------------------------------------------------------------------- the pandas the page ships

NODE_SCRIPT = Path(__file__).parent / "node" / "query_differential.mjs"


def _generated_queries(count: int) -> list[str]:
    """``count`` queries of the grammar above, the same ones on every run."""
    queries = []

    @settings(max_examples=count, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(expression=_conditions())
    def collect(expression):
        queries.append(expression)

    collect()
    return queries


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_pyodide_pandas_answers_as_column_query_does(tmp_path):
    """In Pyodide, with the bundle's pandas 2.2 (text as object columns, not pandas 3's str), every
    query column_query answers on EDGES is answered the same by pandas; none that pandas fails on."""
    from generator.bundle import assemble as pb

    bundle = pb.ensure_bundle(pb.DEFAULT_DEST)
    queries = list(dict.fromkeys(PITFALLS + PAGE_QUERIES + PAGE_PYTHON_QUERIES + _generated_queries(600)))
    np.savez(tmp_path / "table.npz", **{
        name: np.array(column.values().tolist(), dtype=str) if isinstance(column, TextColumn) else column
        for name, column in EDGES.columns.items()})
    (tmp_path / "queries.json").write_text(json.dumps(queries))
    site_src = Path(__file__).resolve().parents[1] / "site_src"
    completed = subprocess.run(["node", str(NODE_SCRIPT), str(bundle), str(site_src), str(tmp_path)],
                               capture_output=True, text=True, timeout=280)
    assert completed.returncode == 0, completed.stderr[-3000:]
    (line,) = [x for x in completed.stdout.splitlines() if x.startswith("RESULT ")]
    result = json.loads(line[len("RESULT "):])
    assert result["pandas"].startswith("2.") and result["text_dtype"] == "object", result
    assert result["different"] == [] and result["pandas_fails"] == [], result
    assert result["same"] >= len(PITFALLS) + 200, result
    assert result["pure_different"] == [] and result["pure_same"] >= 300, {k: result[k] for k in ("pure_same", "pure_deferred")}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("categories", [3, 300, 3000, 70_000])
def test_text_conditions_over_many_categories_answer_alike_on_both_backends(categories):
    """The standard-library path spreads a per-category condition to the rows by byte lookups
    up to 256 categories, by groups of 256 up to 65,536, row by row beyond: all equal numpy."""
    n = max(2 * categories, 1000)
    rng = np.random.default_rng(categories)
    names = [f"a{k:05d}" for k in range(categories)]
    picks = rng.integers(0, categories, n)
    picks[:categories] = np.arange(categories)  # every category occurs
    table = ColumnTable({"brain_area": TextColumn.from_strings([names[k] for k in picks]),
                         "amplitude_uv": rng.normal(100, 30, n)})
    pure = table.to_python()
    for expression in ["brain_area.str.endswith('7')", "brain_area == 'a00002'", f"brain_area == '{names[-1]}'",
                       f"brain_area in ['a00001', '{names[-1]}', '{names[categories // 2]}']",
                       "brain_area.str.contains('0') and amplitude_uv > 100", "brain_area > 'a00150'",
                       "brain_area.str.len() == 6", "not brain_area.str.startswith('a0')"]:
        expected = evaluate(table, expression)
        assert list(evaluate(pure, expression)) == expected.tolist(), expression


@pytest.mark.timeout(60)
@pytest.mark.parametrize("descending", [False, True])
def test_sorts_and_summaries_equal_pandas_on_both_backends(catalogue, descending):
    """Sorting (stable, NaN last, ties in csv order also descending), the quick filters' value
    counts and ranges: the standard-library path, numpy and pandas agree."""
    frame = catalogue.to_pandas()
    pure = catalogue.to_python()
    for table in (EDGES, catalogue):
        edges_frame = table.to_pandas()
        for name in table.names:
            expected = edges_frame.sort_values(name, ascending=not descending, kind="stable",
                                               na_position="last").index.tolist()
            rows = range(len(table))
            assert table.order(np.arange(len(table)), name, descending).tolist() == expected, name
            assert table.to_python().order(rows, name, descending) == expected, name
    for name in catalogue.text_columns():
        counts = [(str(k), int(v)) for k, v in frame[name].value_counts().items()]
        assert pure.value_counts(name) == catalogue.value_counts(name) == counts
    for name in ("amplitude_uv", "spikes_per_unit", "signal_to_noise_ratio"):
        assert pure.finite_range(name) == catalogue.finite_range(name)
