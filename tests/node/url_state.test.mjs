// The URL state (?source, ?q, ?sel, ?view, ?sort, ?desc, ?page, ?like): read from untrusted text and
// written back so that a shared link reopens the same view.
import assert from "node:assert/strict";
import { test } from "node:test";

import { readURLState, sourceKind, sourceRoot, urlSearch } from "../../site_src/static/url_state.js";
import { fromPython } from "./python_facts.mjs";

const facts = fromPython({ imports: "from templatelib.page_contract import page_facts", value: "page_facts()" });
const columns = facts.resultColumns;
const DEFAULT = "https://example.org/library/";

test("a full state survives writing and reading back", () => {
  const state = { source: "http://127.0.0.1:8000/lib/", q: "amplitude_uv > 100 and probe == 'a&b'", sel: ["a1", "b2"],
    view: "a1", sort: "amplitude_uv", desc: true, page: 3, like: "0123456789abcdef", cols: [] };
  const search = urlSearch(state, DEFAULT);
  assert.deepEqual(readURLState(search, DEFAULT, columns), { state, sortNote: "", colsNote: "" });
});

test("the default state writes no query string", () => {
  const { state } = readURLState("", DEFAULT, columns);
  assert.deepEqual(state, { source: DEFAULT, q: "", sel: [], view: "", sort: "", desc: false, page: 0, like: "", cols: [] });
  assert.equal(urlSearch(state, DEFAULT), "");
});

test("a duplicated or blank selection counts once", () => {
  assert.deepEqual(readURLState("?sel=a, b,,a,b ,", DEFAULT, columns).state.sel, ["a", "b"]);
});

test("a page that is not a positive whole number is the first", () => {
  for (const page of ["0", "-4", "abc", "", "1e9x"]) {
    const { state } = readURLState("?page=" + page, DEFAULT, columns);
    assert.ok(Number.isInteger(state.page) && state.page >= 0, page);
  }
  assert.equal(readURLState("?page=abc", DEFAULT, columns).state.page, 0);
  assert.equal(readURLState("?page=7", DEFAULT, columns).state.page, 6);
});

test("only a results column sorts; anything else is dropped in words, clipped", () => {
  for (const [name] of columns) assert.equal(readURLState("?sort=" + name, DEFAULT, columns).state.sort, name);
  const hostile = "x".repeat(500) + "<img src=x>";
  const { state, sortNote } = readURLState("?desc=1&sort=" + encodeURIComponent(hostile), DEFAULT, columns);
  assert.equal(state.sort, "");
  assert.equal(state.desc, false);
  assert.match(sortNote, /is not a results column/);
  assert.ok(sortNote.length < 150);
});

test("only an http(s) source has a library root", () => {
  assert.equal(sourceRoot("https://example.org/lib"), "https://example.org/lib/");
  assert.equal(sourceRoot("http://127.0.0.1:9/lib/"), "http://127.0.0.1:9/lib/");
  for (const bad of ["javascript:alert(1)//", "file:///etc/passwd", "data:text/html,x", "not a url", ""]) {
    assert.equal(sourceRoot(bad), "", bad);
  }
});

test("a source is public, local or custom", () => {
  assert.equal(sourceKind("https://example.org/library", DEFAULT), "public");
  assert.equal(sourceKind("http://localhost:8000/", DEFAULT), "local");
  assert.equal(sourceKind("http://127.0.0.5/x/", DEFAULT), "local");
  assert.equal(sourceKind("http://[::1]:80/", DEFAULT), "local");
  assert.equal(sourceKind("https://elsewhere.org/lib/", DEFAULT), "custom");
});

test("a hostile ?like= is kept as text for Python to refuse, and written back encoded", () => {
  const { state } = readURLState("?like=" + encodeURIComponent("<img src=x>&sel=z"), DEFAULT, columns);
  assert.equal(state.like, "<img src=x>&sel=z");
  assert.deepEqual(state.sel, []);
  assert.equal(readURLState(urlSearch(state, DEFAULT), DEFAULT, columns).state.like, "<img src=x>&sel=z");
});
