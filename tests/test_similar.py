"""Similar templates (templatelib.similar): the measure, the ranking, hostile input, and its speed."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import numpy as np
import pytest

from conftest import start_data_server
from templatelib import format as fmt
from templatelib.app import TemplateBrowser, error_payload
from templatelib.column_table import ColumnTable, TextColumn
from templatelib.preview import decode_rows
from templatelib.similar import PreviewIndex, Ranking, SimilarityError, cosine, rank, similarity_page

run = asyncio.run


@pytest.fixture(scope="module")
def served(small_library):
    with start_data_server(small_library.path) as server:
        yield server


def library_previews(root) -> dict:
    """template_id -> steps, read from the shards with the format's own decoder."""
    rows = []
    for path in sorted(Path(root, fmt.PREVIEW_DIR).glob("*.bin"), key=lambda p: int(p.stem)):
        rows += decode_rows(path.read_bytes())
    return {r["template_id"]: r["steps"] for r in rows}


def test_ranking_is_the_cosine_of_the_previews(served, small_library):
    browser = TemplateBrowser(served.url)
    run(browser.load())
    steps = library_previews(small_library.path)
    like = browser.columns["template_id"].values()[5]
    answer = run(browser.similar(like=like, limit=200))
    assert answer["count"] == len(browser.columns) == len(steps)
    assert answer["like"] == {"template_id": like} and "cosine" in answer["measure"]
    first = answer["rows"][0]
    assert first["template_id"] == like and first["similarity"] == 1.0
    values = [r["similarity"] for r in answer["rows"]]
    assert values == sorted(values, reverse=True)
    for row in answer["rows"]:
        assert row["similarity"] == pytest.approx(cosine(steps[like], steps[row["template_id"]]), abs=1e-4)
    # 1 request per shard, once: paging and a second template reuse the index.
    requests = browser.stats()["requests"]
    run(browser.similar(like=answer["rows"][-1]["template_id"], offset=3, limit=5))
    assert browser.stats()["requests"] == requests


def test_ranking_keeps_to_the_query(served):
    browser = TemplateBrowser(served.url)
    run(browser.load())
    cut = float(np.median(browser.columns["amplitude_uv"]))
    expected = browser.query(f"amplitude_uv > {cut}", limit=200)
    like = expected["rows"][0]["template_id"]
    answer = run(browser.similar(like=like, expression=f"amplitude_uv > {cut}", limit=200))
    assert answer["count"] == expected["count"]
    assert sorted(r["template_id"] for r in answer["rows"]) == sorted(r["template_id"] for r in expected["rows"])
    # A template outside the query is still a valid reference: the query decides the rows only.
    outside = browser.query(f"amplitude_uv <= {cut}", limit=1)["rows"][0]["template_id"]
    other = run(browser.similar(like=outside, expression=f"amplitude_uv > {cut}", limit=200))
    assert outside not in {r["template_id"] for r in other["rows"]}


@pytest.mark.parametrize("like, words", [
    ("../../etc/passwd", "not a template ID"),
    ("0123456789ABCDEF", "not a template ID"),  # upper case is not an ID
    ("0123456789abcdef0", "not a template ID"),
    ("", "not a template ID"),
    (None, "not a template ID"),
    (12345, "not a template ID"),
    (["0123456789abcdef"], "not a template ID"),
    ("x" * 100_000, "not a template ID"),
    ("0123456789abcdef", "not in this catalogue"),
])
def test_hostile_like_is_refused_in_words(served, like, words):
    browser = TemplateBrowser(served.url)
    run(browser.load())
    with pytest.raises((SimilarityError, KeyError)) as caught:
        run(browser.similar(like=like))
    payload = error_payload(caught.value)
    assert payload["kind"] == "input" and words in payload["message"]
    assert len(payload["message"]) < 200 and "\n" not in payload["message"]


def test_without_own_waveform_says_pick_a_file(served):
    browser = TemplateBrowser(served.url)
    run(browser.load())
    with pytest.raises(SimilarityError, match="pick a file"):
        run(browser.similar(own=True))


def test_tampered_shard_costs_its_rows_a_similarity(fresh_library):
    shard = Path(fresh_library.path, fmt.preview_shard_key(0))
    data = bytearray(shard.read_bytes())
    data[20] ^= 0x01
    shard.write_bytes(bytes(data))
    with start_data_server(fresh_library.path) as server:
        browser = TemplateBrowser(server.url)
        run(browser.load())
        like = browser.columns["template_id"].values()[0]
        with pytest.raises(SimilarityError, match="no usable preview"):
            run(browser.similar(like=like))
        assert "does not match its size and sha256" in browser._previews.note


def test_library_without_previews_is_refused_in_words(fresh_library):
    manifest_path = Path(fresh_library.path, fmt.MANIFEST_FILE)
    manifest = json.loads(manifest_path.read_text())
    del manifest["previews"]
    manifest_path.write_text(json.dumps(manifest))
    with start_data_server(fresh_library.path) as server:
        browser = TemplateBrowser(server.url)
        run(browser.load())
        with pytest.raises(SimilarityError, match="no waveform previews"):
            run(browser.similar(like=browser.columns["template_id"].values()[0]))


@pytest.mark.parametrize("change, words", [
    (lambda e: e.update(rows=e["rows"] + 1), "made for another catalogue"),
    (lambda e: e.update(row_bytes=65), "row_bytes"),
    (lambda e: e.update(shards=e["shards"] * 3), "one shard per"),
    (lambda e: e.update(shards="x" * 1000), "one shard per"),
])
def test_manifest_entry_that_lies_is_refused(change, words):
    from templatelib.similar import _previews_entry

    entry = {"format_version": 1, "row_bytes": 64, "samples": 52, "rows_per_shard": 1024, "rows": 10,
             "shards": [{"key": "previews/0.bin", "rows": 10, "bytes": 640, "sha256": "0" * 64}]}
    change(entry)
    with pytest.raises(SimilarityError, match=words):
        _previews_entry({"previews": entry}, 10)


def preview_bytes(ids, steps, scales=None) -> bytes:
    out = bytearray()
    for k, (t, s) in enumerate(zip(ids, steps)):
        scale = 1.0 if scales is None else scales[k]
        out += bytes.fromhex(t) + np.float32(scale).tobytes() + np.asarray(s, dtype=np.int8).tobytes()
    return bytes(out)


def test_rows_that_do_not_match_their_id_or_are_flat_come_last():
    rng = np.random.default_rng(1)
    ids = [fmt.template_id("d", k) for k in range(6)]
    steps = rng.integers(-127, 128, (6, fmt.PREVIEW_SAMPLES))
    steps[2] = 0  # flat
    data = preview_bytes([ids[0], ids[1], ids[2], ids[0], ids[4], ids[5]], steps,
                         scales=[1, 1, 1, 1, float("nan"), 1])
    index = PreviewIndex.from_rows(data, ids)
    scores = index.scores(steps[0])
    assert np.isnan(scores[[2, 3, 4]]).all()  # flat, wrong ID, NaN scale
    assert scores[0] == pytest.approx(1.0)
    assert scores[1] == pytest.approx(cosine(steps[0], steps[1]), abs=1e-6)
    ordered, values = rank(np.arange(6), scores)
    assert ordered[:3].tolist() == sorted([0, 1, 5], key=lambda k: -scores[k])
    assert ordered[3:].tolist() == [2, 3, 4]  # undefined last, in query order
    # Amplitude and scale do not count; the sign does.
    assert index.scores(steps[1] * 0.01)[1] == pytest.approx(1.0, abs=1e-5)
    assert cosine(steps[1], 3 * steps[1]) == pytest.approx(1.0)
    assert cosine(steps[1], -steps[1]) == pytest.approx(-1.0)
    with pytest.raises(SimilarityError, match="flat"):
        index.scores(np.zeros(fmt.PREVIEW_SAMPLES))


def big_table(n: int, seed: int = 0) -> tuple[ColumnTable, PreviewIndex]:
    rng = np.random.default_rng(seed)
    ids = [f"{k:016x}" for k in range(n)]
    table = ColumnTable({
        "template_id": TextColumn.from_strings(ids),
        "dataset": TextColumn.from_strings([f"d{k % 50}" for k in range(n)]),
        "amplitude_uv": rng.uniform(20, 500, n),
        "template_index": np.arange(n, dtype=np.int64),
        "best_channel_index": rng.integers(0, 384, n),
    })
    steps = rng.integers(-127, 128, (n, fmt.PREVIEW_SAMPLES), dtype=np.int8)
    return table, PreviewIndex.from_rows(preview_bytes(ids, steps), ids), steps


@pytest.mark.timeout(120)
def test_ranking_100k_rows_pages_the_best_matches_first():
    """The whole call after the one-time index at 100,000 rows: query, scores, ranking, one page.

    Its speed (<= 50 ms, CPython and the page's Pyodide) is measured by
    ``tests/benchmarks/similar_speed.py``, not asserted here.
    """
    n = 100_000
    table, index, steps = big_table(n)
    browser = TemplateBrowser("http://127.0.0.1:9/")
    browser.columns, browser._previews = table, index
    like = table["template_id"].values()[5 * 997]
    answer = run(browser.similar(like=like, expression="amplitude_uv > 30", limit=25))
    assert answer["rows"][0]["template_id"] == like
    assert answer["count"] == int(np.sum(table["amplitude_uv"] > 30))
    similarities = [row["similarity"] for row in answer["rows"]]
    assert similarities == sorted(similarities, reverse=True)
    # Spot-check the ranking against the reference definition.
    reference = cosine(steps[5 * 997], steps[int(answer["rows"][1]["row"])])
    assert answer["rows"][1]["similarity"] == pytest.approx(reference, abs=1e-4)


def test_similarity_page_bounds_offset_and_limit():
    table, index, _ = big_table(30)
    ranking = Ranking(np.arange(30), index.scores(index.units[3]))
    page = similarity_page(table, ranking, ("template_id",), offset=10**9, limit=-5)
    assert page["offset"] == 29 and len(page["rows"]) == 1
    # Every page is the slice of the whole ranking.
    ordered, _ = rank(np.arange(30), index.scores(index.units[3]))
    pages = [similarity_page(table, ranking, ("template_id",), offset=k, limit=7) for k in range(0, 30, 7)]
    assert [r["row"] for p in pages for r in p["rows"]] == ordered.tolist()


def test_the_worker_answers_similar_with_data_and_errors_in_words(served):
    """Through the worker's one entry point, as the page calls it (JSON in, JSON out)."""
    from templatelib import worker_api

    browser = TemplateBrowser(served.url)
    run(browser.load())
    like = browser.columns["template_id"].values()[2]
    worker_api._state.clear()
    worker_api._state["browser"] = browser
    try:
        answer = json.loads(run(worker_api.call("similar", json.dumps({"like": like, "limit": 3}))))
        assert answer["ok"] and answer["result"]["rows"][0]["template_id"] == like
        for args in ({"like": "<script>"}, {"like": like, "offset": "x"}, {"own": True}, {"like": like, "bogus": 1}):
            answer = json.loads(run(worker_api.call("similar", json.dumps(args))))
            assert answer["ok"] is False and answer["error"]["kind"] in ("input", "internal"), answer
            assert "\n" not in answer["error"]["message"]
    finally:
        worker_api._state.clear()


def test_a_query_matching_nothing_ranks_nothing():
    table, index, _ = big_table(10)
    page = similarity_page(table, Ranking(np.array([], dtype=np.int64), index.scores(index.units[0])),
                           ("template_id",), offset=5, limit=25)
    assert page == {"count": 0, "offset": 0, "rows": []}
