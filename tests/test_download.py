"""Download templates: the page's files, made in CPython through TemplateBrowser over real HTTP,
opened with the unmodified ``spikeinterface.core.Templates.from_zarr``."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import zipfile

import numpy as np
import pytest
from spikeinterface.core import Templates

from conftest import build_library, start_data_server
from templatelib import download
from templatelib import format as fmt
from templatelib.app import TemplateBrowser, error_payload
from templatelib.zarr_reader import DataError

run = asyncio.run
pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def served(small_library):
    with start_data_server(small_library.path) as server:
        yield server


def loaded(url):
    browser = TemplateBrowser(url)
    run(browser.load())
    return browser


def mixed_selection(table):
    """Templates from every dataset, interleaved and out of dataset order."""
    ids = []
    for _dataset, rows in table.groupby("dataset", sort=True):
        ids.append(list(rows["template_id"])[::-1][:3])
    return [t for triple in zip(*ids) for t in triple][::-1]


def save(files, folder):
    paths = []
    for file in files:
        path = folder / file["name"]
        path.write_bytes(base64.b64decode(file["bytes_b64"]))
        assert path.stat().st_size == file["bytes"]
        paths.append(path)
    return paths


def test_files_open_in_spikeinterface_and_match_the_library(served, small_library, tmp_path, monkeypatch):
    monkeypatch.setattr(download, "FILE_PART_BYTES", 1024 * 1024)  # each file comes in several parts
    browser = loaded(served.url)
    table = browser.table.set_index("template_id", drop=False)
    ids = mixed_selection(browser.table)
    result = run(browser.download_templates(ids))
    # one file per probe geometry: the two Neuropixels 1.0 datasets share one, NP-Ultra has its own
    assert len(result["files"]) == 2
    assert sum(f["templates"] for f in result["files"]) == len(ids)
    assert result["bytes"] == sum(f["bytes"] for f in result["files"])
    seen = []
    for path in save(result["files"], tmp_path):
        opened = Templates.from_zarr(str(path))  # the unmodified client, a path ending in .zip
        assert path.name.endswith(".zarr.zip")
        unit_ids = [str(u) for u in opened.unit_ids]
        # selection order within the file
        assert unit_ids == [t for t in ids if t in set(unit_ids)]
        seen += unit_ids
        for k, template_id in enumerate(unit_ids):
            row = table.loc[template_id]
            own = Templates.from_zarr(f"{small_library.path}/{fmt.dataset_key(row['dataset'])}")
            np.testing.assert_array_equal(opened.templates_array[k], own.templates_array[int(row["template_index"])])
            assert opened.sampling_frequency == own.sampling_frequency
            assert opened.nbefore == own.nbefore
            assert opened.is_in_uV == own.is_in_uV
            np.testing.assert_array_equal(opened.probe.contact_positions, own.probe.contact_positions)
            np.testing.assert_array_equal(opened.channel_ids, own.channel_ids)
            assert opened.probe.model_name == own.probe.model_name == row["probe"]
        attrs = opened_attrs(path)
        assert attrs["template_ids"] == unit_ids
        assert attrs["source"] == served.url + "/"
        assert "SpikeInterface" in attrs["citation"] and "@article{buccino2020spikeinterface" in attrs["bibtex"]
        for dataset in set(attrs["datasets"]):
            assert dataset in attrs["provenance"] and dataset in attrs["citation"]
        assert [str(u) for u in attrs["dataset_unit_ids"]] == [str(table.loc[t, "unit_id"]) for t in unit_ids]
    assert sorted(seen) == sorted(ids)
    job = browser._download[0]
    assert browser.download_file(job, 0)["next_offset"] == 1024 * 1024
    with pytest.raises(ValueError, match="there is no byte"):
        browser.download_file(job, 0, 10**9)


def opened_attrs(path):
    import zarr

    return zarr.open_group(str(path), mode="r").attrs[download.PROVENANCE_ATTR]


def test_reads_only_the_selected_chunks_and_reports_the_size(served):
    browser = loaded(served.url)
    ids = list(browser.table["template_id"])[:2]
    fetched = []
    transport = browser.reader.fetcher.transport

    async def counting(url):
        fetched.append(url)
        return await transport(url)

    browser.reader.fetcher.transport = counting
    plan = run(browser.download_plan(ids))
    assert not [u for u in fetched if "/templates_array/" in u]  # the plan fetches no template
    assert plan["templates"] == 2 and not plan["confirm"]
    assert plan["fetch_bytes"] >= 2 * 240 * 384 * 4
    while not run(browser.download_step(plan["job"]))["complete"]:
        pass
    chunks = [u for u in fetched if "/templates_array/" in u]
    rows = browser.table.set_index("template_id").loc[ids]
    assert sorted(c.rsplit("/", 1)[1] for c in chunks) == sorted(f"{int(i)}.0.0" for i in rows["template_index"])
    with zipfile.ZipFile(io.BytesIO(base64.b64decode(
            browser.download_file(plan["job"], 0)["bytes_b64"]))) as archive:
        names = archive.namelist()
    assert len(names) == len(set(names))  # each key once: no stale duplicates in the zip
    assert "templates_array/1.0.0" in names and "probe/annotations/.zattrs" in names


def test_too_large_a_selection_is_refused_in_words(served, monkeypatch):
    browser = loaded(served.url)
    ids = list(browser.table["template_id"])
    monkeypatch.setattr(download, "MAX_TEMPLATES", len(ids) - 1)
    with pytest.raises(ValueError, match=f"{len(ids)} templates are selected; a download holds at most"):
        run(browser.download_plan(ids))
    monkeypatch.setattr(download, "MAX_TEMPLATES", 500)
    monkeypatch.setattr(download, "MAX_DECODED_BYTES", 3 * 240 * 384 * 4)
    before = browser.reader.fetcher.requests
    with pytest.raises(ValueError, match="MB once decoded; a download holds at most"):
        run(browser.download_plan(ids[:4]))
    assert browser.reader.fetcher.requests - before <= 3 * 3  # metadata and positions only
    # through the worker's entry point: words, never a traceback
    from templatelib import worker_api

    worker_api._state.clear()
    worker_api._state["browser"] = browser
    answer = json.loads(run(worker_api.call("download_plan", json.dumps({"template_ids": ids[:4]}))))
    assert answer["ok"] is False and answer["error"]["kind"] == "input"
    assert "at most" in answer["error"]["message"] and "Traceback" not in answer["error"]["message"]
    worker_api._state.clear()


def test_a_large_download_asks_first(served, monkeypatch):
    browser = loaded(served.url)
    monkeypatch.setattr(download, "CONFIRM_BYTES", 240 * 384 * 4)
    plan = run(browser.download_plan(list(browser.table["template_id"])[:2]))
    assert plan["confirm"] is True


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_a_damaged_chunk_gives_words_and_no_file(tmp_path, damage):
    library = build_library(tmp_path / "lib", datasets=2, units=3, seed=3, compressor="zlib")
    with start_data_server(library.path) as server:
        browser = loaded(server.url)
        row = browser.table.iloc[1]
        chunk = tmp_path / "lib" / fmt.dataset_key(row["dataset"]) / "templates_array" / f"{int(row['template_index'])}.0.0"
        raw = chunk.read_bytes()
        chunk.write_bytes(b"\x00not zlib" * 100 if damage == "garbage" else raw[: len(raw) // 2])
        ids = list(browser.table["template_id"])[:3]
        plan = run(browser.download_plan(ids))
        with pytest.raises(DataError, match="templates_array") as caught:
            while not run(browser.download_step(plan["job"]))["complete"]:
                pass
        assert error_payload(caught.value)["kind"] == "data"
        assert "damaged" in str(caught.value) or "corrupt" in str(caught.value)
        # the failed download is gone: no file, not even the part that was made
        with pytest.raises(ValueError, match="replaced or cancelled"):
            browser.download_file(plan["job"], 0)


def test_no_file_before_every_template_is_in(served, monkeypatch):
    browser = loaded(served.url)
    monkeypatch.setattr(download, "STEP_BYTES", 1)  # one template per step
    plan = run(browser.download_plan(list(browser.table["template_id"])[:3]))
    progress = run(browser.download_step(plan["job"]))
    assert progress == {"done": 1, "total": 3, "complete": False}
    with pytest.raises(ValueError, match="not complete .1 of 3 templates"):
        browser.download_file(plan["job"], 0)
    run(browser.download_plan(list(browser.table["template_id"])[:1]))  # a new plan replaces it
    with pytest.raises(ValueError, match="replaced or cancelled"):
        run(browser.download_step(plan["job"]))


def test_a_stale_catalogue_is_named(tmp_path):
    library = build_library(tmp_path / "lib", datasets=1, units=3, seed=4, compressor="zlib")
    with start_data_server(library.path) as server:
        browser = loaded(server.url)
        browser.table.loc[0, "unit_id"] = 999  # the catalogue says another unit than the dataset holds
        plan = run(browser.download_plan([browser.table.loc[0, "template_id"]]))
        with pytest.raises(DataError, match="catalogue says unit 999.*stale catalogue"):
            run(browser.download_step(plan["job"]))


@pytest.mark.parametrize("damage, words", [
    ({"chunks": [1]}, "384 chunks; at most 16 are read"),
    ({"shape": [10**9], "chunks": [10**9]}, "more than 16777216 bytes"),
    ({"dtype": "|O", "filters": [{"id": "vlen-utf8"}]}, "vlen-utf8'}] are not supported"),
])
def test_a_hostile_probe_array_is_refused_in_words(tmp_path, damage, words):
    library = build_library(tmp_path / "lib", datasets=1, units=2, seed=6, compressor="zlib")
    with start_data_server(library.path) as server:
        browser = loaded(server.url)
        path = tmp_path / "lib" / fmt.dataset_key(browser.table.loc[0, "dataset"]) / fmt.CONSOLIDATED_KEY
        consolidated = json.loads(path.read_text())
        consolidated["metadata"]["probe/contact_shapes/.zarray"].update(damage)
        path.write_text(json.dumps(consolidated))
        plan = run(browser.download_plan(list(browser.table["template_id"])))
        with pytest.raises(DataError, match="probe/contact_shapes") as caught:
            run(browser.download_step(plan["job"]))
        assert words in str(caught.value)
        with pytest.raises(ValueError, match="replaced or cancelled"):
            browser.download_file(plan["job"], 0)
