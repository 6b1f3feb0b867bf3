"""Which catalogue the page reads: the compact form when library.json vouches for it, else
templates.csv with a sentence saying why (templatelib/catalogue_source.py), over real HTTP."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import shutil

import numpy as np
import pytest

from conftest import RecordingServer
from templatelib import format as fmt
from templatelib.app import TemplateBrowser, error_payload
from templatelib.catalogue import read_catalogue_csv
from templatelib.compact_catalogue import write_compact

pytestmark = pytest.mark.timeout(120)
run = asyncio.run


def write_compact_entry(root, data: bytes | None = None, **changes):
    """(Re)write the compact catalogue of ``root``'s csv and its library.json entry."""
    csv = (root / fmt.CATALOGUE_FILE).read_bytes()
    sha = hashlib.sha256(csv).hexdigest()
    table = read_catalogue_csv(csv)
    data = write_compact(table, sha) if data is None else data
    (root / fmt.COMPACT_CATALOGUE_FILE).write_bytes(data)
    manifest = json.loads((root / fmt.MANIFEST_FILE).read_text())
    entry = {"file": fmt.COMPACT_CATALOGUE_FILE, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data),
             "rows": len(table), "templates_csv_sha256": sha}
    entry.update(changes)
    manifest[fmt.COMPACT_MANIFEST_KEY] = entry
    (root / fmt.MANIFEST_FILE).write_text(json.dumps(manifest))
    return data


@pytest.fixture
def library(small_library, tmp_path):
    root = tmp_path / "lib"
    shutil.copytree(small_library.path, root)
    return root


def load(root):
    with RecordingServer(root) as server:
        browser = TemplateBrowser(server.url)
        info = run(browser.load())
    return browser, info, server.paths


def rows_of(browser, expression="amplitude_uv > 50"):
    return [r["template_id"] for r in browser.query(expression, limit=200)["rows"]]


def test_a_vouched_compact_catalogue_is_read_instead_of_the_csv(library):
    write_compact_entry(library)
    browser, info, paths = load(library)
    assert info["catalogue_note"] is None
    assert "/" + fmt.COMPACT_CATALOGUE_FILE in paths and "/" + fmt.CATALOGUE_FILE not in paths
    reference = read_catalogue_csv((library / fmt.CATALOGUE_FILE).read_bytes())
    assert info["count"] == len(reference)
    for name in reference.names:
        ours, theirs = browser.columns[name], reference[name]
        if reference.is_text(name):
            assert list(ours.values()) == list(theirs.values())
        else:
            np.testing.assert_array_equal(ours, theirs)


def flip_last_byte(data: bytes) -> bytes:
    return data[:-1] + bytes([data[-1] ^ 0xFF])


@pytest.mark.parametrize("damage, words", [
    (lambda root: (root / fmt.COMPACT_CATALOGUE_FILE).write_bytes(
        flip_last_byte((root / fmt.COMPACT_CATALOGUE_FILE).read_bytes())), "sha256"),
    (lambda root: write_compact_entry(root, file="../templates.csv"), "another file"),
    (lambda root: write_compact_entry(root, templates_csv_sha256="0" * 64), "another templates.csv"),
    (lambda root: write_compact_entry(root, rows=3), "rows"),
    (lambda root: write_compact_entry(root, sha256="not a sha"), "sha256"),
    (lambda root: write_compact_entry(root, data=b"HTLC but not really"), "not a compact catalogue"),
    (lambda root: (root / fmt.COMPACT_CATALOGUE_FILE).unlink(), "missing|not found|404"),
])
def test_a_compact_catalogue_that_fails_a_check_is_named_and_the_csv_used(library, damage, words):
    write_compact_entry(library)
    expected = load(library)[0]
    damage(library)
    browser, info, paths = load(library)
    assert info["catalogue_note"] and re.search(words, info["catalogue_note"], re.I), info["catalogue_note"]
    assert "\n" not in info["catalogue_note"]
    assert "/" + fmt.CATALOGUE_FILE in paths
    assert not any(".." in p for p in paths)
    assert rows_of(browser) == rows_of(expected)


def test_more_rows_than_the_page_holds_is_said_before_anything_is_fetched(library):
    write_compact_entry(library, rows=fmt.COMPACT_MAX_ROWS + 1)
    with RecordingServer(library) as server:
        browser = TemplateBrowser(server.url)
        with pytest.raises(Exception) as caught:
            run(browser.load())
        paths = server.paths
    payload = error_payload(caught.value)
    assert payload["kind"] == "too_large" and f"{fmt.COMPACT_MAX_ROWS:,}" in payload["message"]
    assert paths == ["/" + fmt.MANIFEST_FILE]


def test_a_live_library_without_a_compact_catalogue_reads_the_csv(library):
    manifest = json.loads((library / fmt.MANIFEST_FILE).read_text())
    manifest.pop(fmt.COMPACT_MANIFEST_KEY, None)
    (library / fmt.MANIFEST_FILE).write_text(json.dumps(manifest))
    (library / fmt.COMPACT_CATALOGUE_FILE).unlink(missing_ok=True)
    browser, info, paths = load(library)
    assert info["catalogue_note"] is None and "/" + fmt.CATALOGUE_FILE in paths
    assert info["count"] == len(read_catalogue_csv((library / fmt.CATALOGUE_FILE).read_bytes()))
