"""The page's Python (templatelib) in CPython, against real HTTP from serve-data."""

import asyncio
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from conftest import build_library, query_cases, start_data_server
from templatelib import format as fmt
from templatelib.app import TemplateBrowser, error_payload
from templatelib.catalogue import CatalogueError, load_catalogue
from templatelib.http_fetch import FetchError
from templatelib.safe_query import QueryError, check_expression, run_query
from templatelib.zarr_reader import DataError

run = asyncio.run


def preview_requests(table, ids):
    rows = table.set_index("template_id", drop=False).loc[list(ids)]
    return [{"template_id": r.template_id, "dataset": r.dataset, "template_index": int(r.template_index),
             "best_channel_index": int(r.best_channel_index)} for r in rows.itertuples()]


def thumbnails(browser, table, ids):
    from templatelib.preview import previews_from_chunks

    return run(previews_from_chunks(browser.reader, preview_requests(table, ids)))


@pytest.fixture(scope="module")
def served(small_library):
    with start_data_server(small_library.path) as server:
        yield server


@pytest.fixture(scope="module")
def catalogue(small_library):
    return load_catalogue(open(f"{small_library.path}/templates.csv", "rb").read())


# ---- catalogue ----

def test_live_twelve_columns_get_fallback_ids(catalogue):
    live = catalogue[list(fmt.LIVE_COLUMNS)].to_csv(index=False)
    table = load_catalogue(live)
    assert table["id_is_fallback"].all()
    row = table.iloc[4]
    assert row["template_id"] == fmt.fallback_template_id(row["dataset"], row["template_index"])


@pytest.mark.parametrize("text, words", [
    ("", "empty"),
    ("probe,dataset\nx,y\n", "lacks the column(s) probe_manufacturer"),
    ('a,b\n"unterminated\n', "not valid csv"),
])
def test_malformed_catalogue(text, words):
    with pytest.raises(CatalogueError, match=words.replace("(", r"\(").replace(")", r"\)")):
        load_catalogue(text)


def test_non_numeric_value_names_line(catalogue):
    broken = catalogue[list(fmt.COLUMNS)].copy().astype({"amplitude_uv": object})
    broken.loc[2, "amplitude_uv"] = "loud"
    with pytest.raises(CatalogueError, match="line 4: amplitude_uv is not a number"):
        load_catalogue(broken.to_csv(index=False))


def test_nan_noise_and_fixed_width_areas_survive(catalogue):
    assert catalogue["noise_level_uv"].isna().any()
    assert (catalogue["brain_area"].str.len() > 0).all()


# ---- query ----

@pytest.mark.parametrize("expression", query_cases("page_allowed"))
def test_allowed_queries_match_pandas(catalogue, expression):
    ours = run_query(catalogue, expression)
    pandas_own = catalogue.query(expression, engine="python")
    assert ours.index.tolist() == pandas_own.index.tolist()


@pytest.mark.parametrize("expression, words", query_cases("page_hostile"))
def test_hostile_queries_rejected(catalogue, expression, words):
    with pytest.raises(QueryError, match=words):
        run_query(catalogue, expression)


def test_query_over_100k_rows_is_supported():
    table = pd.DataFrame({"amplitude_uv": np.linspace(0, 500, 100_000), "brain_area": ["CA1", "VISp5"] * 50_000})
    expression = "brain_area == 'CA1' and 100 < amplitude_uv < 200"
    assert len(run_query(table, expression)) == len(table.query(expression)) == 10_000


def test_check_expression_refuses_unknown_columns():
    with pytest.raises(QueryError, match="unknown column 'nope'"):
        check_expression("nope > 1", ["amplitude_uv"])


# ---- reading over HTTP ----

def test_view_of_k_templates_costs_k_requests_plus_metadata(served, catalogue):
    browser = TemplateBrowser(served.url + "/")
    run(browser.load())
    after_load = browser.stats()["requests"]
    assert after_load == 2  # templates.csv + library.json
    one_dataset = catalogue[catalogue["dataset"] == catalogue["dataset"].iloc[0]]
    ids = one_dataset["template_id"].tolist()[:4]
    answer = thumbnails(browser, catalogue, ids)
    assert [a["template_id"] for a in answer] == ids
    assert all(len(a["preview"]["steps"]) == fmt.PREVIEW_SAMPLES for a in answer)
    # 1 .zmetadata once for the dataset, then one chunk per template: no probe, no zarr
    assert browser.stats()["requests"] - after_load == 1 + len(ids)
    thumbnails(browser, catalogue, ids)
    assert browser.stats()["requests"] - after_load == 1 + len(ids)  # cached
    # The template view adds the probe's x and y, once per dataset.
    run(browser.view(ids[0]))
    run(browser.view(ids[1]))
    assert browser.stats()["requests"] - after_load == 3 + len(ids)


def test_template_values_equal_the_dataset(served, small_library, catalogue):
    import zarr

    browser = TemplateBrowser(served.url)
    run(browser.load())
    row = catalogue.iloc[7]
    arrays = run(browser.reader.templates([(row["dataset"], row["template_index"])]))
    group = zarr.open_consolidated(small_library.mapper(row["dataset"]), mode="r")
    np.testing.assert_array_equal(arrays[(row["dataset"], row["template_index"])],
                                  group["templates_array"][row["template_index"]])
    view = run(browser.view(row["template_id"]))
    assert view["svg"].startswith("<svg") and "time (ms)" in view["svg"] and "µV" in view["svg"]
    fields = dict(view["fields"])
    assert fields["template_id"] == row["template_id"]
    # Every value as people read it, from format.COLUMN_UNITS: durations in ms, units written.
    from templatelib import units

    assert fields["amplitude_uv"] == units.text("amplitude_uv", float(row["amplitude_uv"]))
    assert fields["amplitude_uv"].endswith(" µV") and fields["depth_along_probe"].endswith(" µm")
    duration = float(row["peak_to_trough_duration"])
    assert fields["peak_to_trough_duration"] == (f"{units.number_text(duration * 1000)} ms"
                                                 if np.isfinite(duration) else units.MISSING)


def test_missing_source_is_a_missing_error(served):
    browser = TemplateBrowser(served.url + "/no/such/library/")
    with pytest.raises(FetchError) as caught:
        run(browser.load())
    assert caught.value.kind == "missing" and caught.value.status == 404


def test_unreachable_source_names_the_cors_server():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    browser = TemplateBrowser(f"http://127.0.0.1:{port}/")
    with pytest.raises(FetchError) as caught:
        run(browser.load())
    payload = error_payload(caught.value)
    assert payload["kind"] == "unreachable"
    assert "python -m generator serve-data ROOT" in payload["message"]


def test_corrupt_chunk_is_reported(tmp_path):
    storage = build_library(tmp_path / "lib", datasets=2, units=3, compressor="zlib")
    table = load_catalogue(open(f"{storage.path}/templates.csv", "rb").read())
    row = table.iloc[1]
    chunk = f"{storage.path}/{row['dataset']}/templates_array/{row['template_index']}.0.0"
    with open(chunk, "r+b") as fh:
        fh.write(b"garbage!" * 8)
    with start_data_server(storage.path) as server:
        browser = TemplateBrowser(server.url)
        run(browser.load())
        with pytest.raises(DataError, match="corrupt zlib stream"):
            run(browser.view(row["template_id"]))
        # A thumbnail batch names the damaged dataset and still draws the others.
        other = table[table["dataset"] != row["dataset"]].iloc[0]
        answer = thumbnails(browser, table, [row["template_id"], other["template_id"]])
        assert "corrupt zlib stream" in answer[0]["error"] and row["dataset"] in answer[0]["error"]
        assert answer[1]["template_id"] == other["template_id"] and "preview" in answer[1]


def test_malformed_csv_over_http(tmp_path):
    root = tmp_path / "lib"
    root.mkdir()
    (root / "templates.csv").write_text("hello,world\n1,2\n")
    with start_data_server(root) as server:
        with pytest.raises(CatalogueError, match="lacks the column"):
            run(TemplateBrowser(server.url).load())


def test_hostile_strings_are_escaped_in_svg():
    from templatelib.plots_svg import template_view_svg

    hostile = '<img src=x onerror=alert(1)>"'
    template = np.random.default_rng(0).normal(size=(240, 4)).astype("f4")
    positions = np.array([[0, 0], [0, 20], [32, 0], [32, 20]], float)
    svg = template_view_svg(template, positions, 30000.0, 90, hostile)
    assert "<img" not in svg and "&lt;img src=x onerror=alert(1)&gt;&quot;" in svg


def test_source_must_be_http():
    for bad in ("javascript:alert(1)", "file:///etc/passwd", "", "ftp://x/"):
        with pytest.raises(ValueError, match="http"):
            TemplateBrowser(bad)


# ---- the snippet ----

@pytest.fixture(scope="module")
def snippet_library(tmp_path_factory):
    return build_library(tmp_path_factory.mktemp("snippet") / "lib", datasets=3, units=5, seed=4)


def test_snippet_runs_and_returns_selection_in_order(snippet_library, tmp_path):
    import zarr

    table = load_catalogue(open(f"{snippet_library.path}/templates.csv", "rb").read())
    np1 = table[table["probe"] == "Neuropixels 1.0"]
    datasets = sorted(np1["dataset"].unique())
    # later dataset first, then a lower index of the earlier one: not dataset order
    picks = [np1[np1["dataset"] == datasets[1]].iloc[3], np1[np1["dataset"] == datasets[0]].iloc[2],
             np1[np1["dataset"] == datasets[1]].iloc[0]]
    ids = [p["template_id"] for p in picks]
    with start_data_server(snippet_library.path) as server:
        browser = TemplateBrowser(server.url + "/")
        run(browser.load())
        code = browser.snippet(ids)
        assert "generate_hybrid_recording(" in code
        out = tmp_path / "selected.npy"
        code += f"\nnp.save({str(out)!r}, templates.templates_array)\nassert list(templates.unit_ids) == {ids!r}\n"
        script = tmp_path / "snippet.py"
        script.write_text(code)
        before = server.server.bytes_sent
        result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=600,
                                cwd=tmp_path)
        sent = server.server.bytes_sent - before
    assert result.returncode == 0, result.stderr[-3000:]
    got = np.load(out)
    for k, pick in enumerate(picks):
        group = zarr.open_consolidated(snippet_library.mapper(pick["dataset"]), mode="r")
        np.testing.assert_array_equal(got[k], group["templates_array"][pick["template_index"]])
    chunk_bytes = sum(
        os.path.getsize(f"{snippet_library.path}/{p['dataset']}/templates_array/{p['template_index']}.0.0")
        for p in picks
    )
    assert sent <= 1.1 * chunk_bytes, (sent, chunk_bytes)


def test_snippet_of_a_mixed_selection_returns_one_templates_per_probe(snippet_library, tmp_path):
    import zarr

    table = load_catalogue(open(f"{snippet_library.path}/templates.csv", "rb").read())
    np1 = table[table["probe"] == "Neuropixels 1.0"]
    ultra = table[table["probe"] != "Neuropixels 1.0"]
    assert len(ultra) and ultra["probe"].nunique() == 1
    datasets = sorted(np1["dataset"].unique())
    # interleaved probes, not dataset order: NP1 (later dataset), Ultra, NP1 (earlier), Ultra
    picks = [np1[np1["dataset"] == datasets[1]].iloc[2], ultra.iloc[3], np1[np1["dataset"] == datasets[0]].iloc[1],
             ultra.iloc[0]]
    ids = [p["template_id"] for p in picks]
    expected_groups = [[picks[0], picks[2]], [picks[1], picks[3]]]
    with start_data_server(snippet_library.path) as server:
        browser = TemplateBrowser(server.url + "/")
        run(browser.load())
        code = browser.snippet(ids)
        groups = browser.basket_groups(ids)
        assert [g["template_ids"] for g in groups] == [[p["template_id"] for p in g] for g in expected_groups]
        assert [g["probe"] for g in groups] == ["Neuropixels 1.0", ultra["probe"].iloc[0]]
        assert "uses one group" in code and "templates_by_probe[0]" in code
        assert "# Please cite:" in code and "Buccino" in code and "not recorded data" in code
        out = tmp_path / "groups.npz"
        code += (f"\nnp.savez({str(out)!r}, *[t.templates_array for t in templates_by_probe])\n"
                 f"assert [list(t.unit_ids) for t in templates_by_probe] == "
                 f"{[[p['template_id'] for p in g] for g in expected_groups]!r}\n")
        script = tmp_path / "snippet.py"
        script.write_text(code)
        result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=600,
                                cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    got = np.load(out)
    assert len(got.files) == 2
    for k, group_picks in enumerate(expected_groups):
        arrays = got[f"arr_{k}"]
        assert arrays.shape[0] == len(group_picks)
        for j, pick in enumerate(group_picks):
            group = zarr.open_consolidated(snippet_library.mapper(pick["dataset"]), mode="r")
            np.testing.assert_array_equal(arrays[j], group["templates_array"][pick["template_index"]])


def test_snippet_citation_comments_cannot_leave_the_comment(catalogue):
    from templatelib.snippet import comment_lines

    hostile = "a\nimport os; os.system('x')\rb\u2028c\x85d\n\ne"
    lines = comment_lines(hostile).splitlines()
    assert lines and all(line.startswith("#") for line in lines)
    compile(comment_lines(hostile), "<snippet>", "exec")


def test_snippet_for_empty_selection_and_csv(catalogue):
    from templatelib.snippet import python_snippet, selection_csv

    assert python_snippet(catalogue, [], fmt.PUBLIC_HTTP_ROOT).startswith("# Select templates")
    ids = catalogue["template_id"].tolist()[:2][::-1]
    csv = pd.read_csv(__import__("io").StringIO(selection_csv(catalogue, ids)))
    assert csv["template_id"].tolist() == ids
    assert "the public library" in python_snippet(catalogue, ids, fmt.PUBLIC_HTTP_ROOT)


# ---- previews from chunks (libraries without preview shards), before pandas ----

def test_chunk_previews_equal_the_published_shard(served, small_library, catalogue):
    from templatelib.preview import as_json, decode_rows
    from templatelib.zarr_reader import LibraryReader

    shard = as_json(decode_rows(open(f"{small_library.path}/{fmt.preview_shard_key(0)}", "rb").read()))
    ids = catalogue["template_id"].tolist()[:5] + catalogue["template_id"].tolist()[-3:]
    browser = TemplateBrowser(reader=LibraryReader(served.url))
    answer = thumbnails(browser, catalogue, ids)
    assert {a["template_id"]: a["preview"] for a in answer} == {t: shard[t] for t in ids}


def test_chunk_previews_of_a_live_csv_get_fallback_ids(served, catalogue):
    from templatelib.preview import previews_from_chunks
    from templatelib.zarr_reader import LibraryReader

    rows = [{"template_id": None, "dataset": d, "template_index": int(i), "best_channel_index": None}
            for d, i in zip(catalogue["dataset"][:3], catalogue["template_index"][:3])]
    answer = run(previews_from_chunks(LibraryReader(served.url), rows))
    assert [a["template_id"] for a in answer] == [
        fmt.fallback_template_id(d, i) for d, i in zip(catalogue["dataset"][:3], catalogue["template_index"][:3])
    ]


@pytest.mark.parametrize("row, words", [
    ({"template_id": None, "dataset": "../secret", "template_index": 0}, "is not a dataset name"),
    ({"template_id": None, "dataset": "a/b", "template_index": 0}, "is not a dataset name"),
    ({"template_id": "<b>" * 30, "dataset": "d", "template_index": 0}, "at most 64 characters"),
    ({"template_id": 123, "dataset": "d", "template_index": 0}, "at most 64 characters"),
    ({"template_id": None, "dataset": "d", "template_index": -1}, "is not a row"),
    ({"template_id": None, "dataset": "d", "template_index": "0"}, "is not a row"),
    ("not an object", "not an object"),
])
def test_chunk_preview_requests_are_checked(served, row, words):
    from templatelib.preview import previews_from_chunks
    from templatelib.zarr_reader import LibraryReader

    reader = LibraryReader(served.url)
    answer = run(previews_from_chunks(reader, [row]))  # the row gets words, the call goes on
    assert len(answer) == 1 and "preview" not in answer[0] and words in answer[0]["error"]
    assert reader.fetcher.requests == 0  # refused before any request


def test_worker_api_answers_previews_in_words(served):
    import json

    from templatelib import worker_api

    worker_api.start(served.url)
    answer = json.loads(run(worker_api.call("preview_rows", json.dumps({"rows": "nope"}))))
    assert answer == {"ok": False, "error": {"kind": "input", "message": answer["error"]["message"]}}
    assert "at most 200 rows" in answer["error"]["message"]


def test_query_rows_carry_their_csv_row(served, catalogue):
    browser = TemplateBrowser(served.url)
    run(browser.load())
    page = browser.query(sort_by="amplitude_uv", descending=True, limit=5)["rows"]
    for row in page:
        assert catalogue.iloc[row["row"]]["template_id"] == row["template_id"]
        assert row["template_index"] == catalogue.iloc[row["row"]]["template_index"]


def test_query_rows_carry_the_added_metric_columns_only(served, catalogue):
    """?cols= reaches Python as untrusted names: known metric columns come back (sortable),
    anything else, repeats and names beyond the bound are left out."""
    from templatelib.page_contract import EXTRA_COLUMNS, MAX_EXTRA_COLUMNS

    browser = TemplateBrowser(served.url)
    run(browser.load())
    asked = ["trough_half_width", "__class__", "template_id", "dataset_path", "trough_half_width", 7, None]
    page = browser.query(sort_by="trough_half_width", descending=True, limit=5, columns=asked)["rows"]
    expected = catalogue.sort_values("trough_half_width", ascending=False, kind="stable")
    assert [r["trough_half_width"] for r in page] == pytest.approx(expected["trough_half_width"][:5].tolist())
    assert all("dataset_path" not in r and "__class__" not in r for r in page)
    many = browser.query(limit=1, columns=list(EXTRA_COLUMNS))["rows"][0]
    assert len(set(many) & set(EXTRA_COLUMNS)) == MAX_EXTRA_COLUMNS
    assert set(browser.query(limit=1, columns="spread")["rows"][0]).isdisjoint(EXTRA_COLUMNS)


NO_NUMPY_SCRIPT = r'''
import asyncio, importlib.abc, json, sys
blocked = {"numpy", "pandas", "zarr", "numcodecs"}

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in blocked:
            raise ImportError(f"{name} is not installed yet")

sys.meta_path.insert(0, Block())
from templatelib import worker_api

async def call(method, **args):
    return json.loads(await worker_api.call(method, json.dumps(args)))

async def main(source, csv_path):
    out = {}
    worker_api.start(source)
    if csv_path:  # the csv form, as the page hands it over without a manifest
        worker_api.provide(open(csv_path, "rb").read(), None, True)
    out["load"] = await call("load")
    out["query"] = await call("query", expression="amplitude_uv > 50 and brain_area != 'CA1'",
                              sort_by="amplitude_uv", descending=True, limit=200)
    out["ids"] = await call("known_ids", template_ids=[r["template_id"] for r in out["query"]["result"]["rows"]][:3] + ["nope"])
    out["arithmetic"] = await call("query", expression="amplitude_uv * 2 > 100")
    out["numpy_before"] = "numpy" in sys.modules
    blocked.clear()  # the worker installed the numpy stage
    worker_api.stage_loaded(worker_api.NUMPY_STAGE)
    out["backend_after"] = worker_api._state["browser"].columns.backend.name
    out["query_after"] = await call("query", expression="amplitude_uv > 50 and brain_area != 'CA1'",
                                    sort_by="amplitude_uv", descending=True, limit=200)
    out["arithmetic_after"] = await call("query", expression="amplitude_uv * 2 > 100", limit=200)
    print("RESULT " + json.dumps(out))

asyncio.run(main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None))
'''


@pytest.mark.timeout(120)
@pytest.mark.parametrize("form", ["compact", "csv"])
def test_catalogue_is_queryable_before_numpy_is_installed(served, small_library, catalogue, form, tmp_path):
    """The core stage (load, query, sort, known_ids) runs with numpy, pandas and zarr absent;
    arithmetic on a column is deferred to the numpy stage in words the worker acts on; once
    numpy is there the table switches to it and answers the same rows."""
    import json

    script = tmp_path / "no_numpy.py"
    script.write_text(NO_NUMPY_SCRIPT)
    args = [sys.executable, str(script), served.url + "/"]
    if form == "csv":
        args.append(f"{small_library.path}/{fmt.CATALOGUE_FILE}")
    else:
        assert small_library.exists(fmt.COMPACT_CATALOGUE_FILE)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    completed = subprocess.run(args, capture_output=True, text=True, timeout=100, env=env)
    assert completed.returncode == 0, completed.stderr[-3000:]
    (line,) = [x for x in completed.stdout.splitlines() if x.startswith("RESULT ")]
    out = json.loads(line[len("RESULT "):])
    assert out["load"]["ok"] and out["load"]["result"]["count"] == len(catalogue)
    assert (out["load"]["result"]["catalogue_note"] is None) or form == "csv"
    expected = run_query(catalogue, "amplitude_uv > 50 and brain_area != 'CA1'")
    expected = expected.sort_values("amplitude_uv", ascending=False, kind="stable", na_position="last")
    before = out["query"]["result"]
    assert before["count"] == len(expected)
    assert [r["template_id"] for r in before["rows"]] == expected["template_id"].tolist()
    assert out["ids"]["result"] == [r["template_id"] for r in before["rows"]][:3]
    assert out["arithmetic"]["ok"] is False and out["arithmetic"]["error"]["kind"] == "stage"
    assert out["arithmetic"]["error"]["stage"] == "arrays" and not out["numpy_before"]
    assert out["backend_after"] == "numpy" and out["query_after"]["result"] == before
    doubled = catalogue.index[catalogue["amplitude_uv"] * 2 > 100].tolist()
    assert [r["row"] for r in out["arithmetic_after"]["result"]["rows"]] == doubled[:200]
