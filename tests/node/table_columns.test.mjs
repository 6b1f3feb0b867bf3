// The results table's columns (base + added metric columns, ?cols=), their cells, and the short
// dataset labels: against the page facts Python writes into the page config.
import assert from "node:assert/strict";
import { test } from "node:test";

import { datasetLabels, metricText, readCols, tableColumns } from "../../site_src/static/table_columns.js";
import { readURLState, urlSearch } from "../../site_src/static/url_state.js";
import { fromPython } from "./python_facts.mjs";

const facts = fromPython({ imports: "from templatelib.page_contract import page_facts", value: "page_facts()" });
const extra = facts.extraColumns;
const DEFAULT = "https://example.org/library/";

test("a duration column comes from Python with its shown unit and scale: ms, x1000", () => {
  const ptt = extra.columns.find((c) => c.name === "trough_half_width");
  assert.equal(ptt.title, "trough_half_width (ms)");
  assert.equal(ptt.scale, 1000);
  assert.equal(metricText(0.00053, ptt.scale, extra), "0.53");
  assert.equal(metricText(592400, 1, extra), "592,400");
  assert.equal(metricText(null, 1, extra), extra.missing);
  assert.equal(metricText(NaN, 1, extra), extra.missing);
});

test("?cols= keeps known columns once, in order, at most the bound, and says what it dropped", () => {
  assert.deepEqual(readCols("spread,trough_half_width,spread", extra), { cols: ["spread", "trough_half_width"], note: "" });
  const hostile = readCols("<img src=x onerror=alert(1)>,__class__,spread", extra);
  assert.deepEqual(hostile.cols, ["spread"]);
  assert.match(hostile.note, /^\?cols= asks for "<img src=x onerror=alert\(1\)>", "__class__": not columns the table can add/);
  const all = extra.columns.map((c) => c.name);
  const many = readCols(all.join(","), extra);
  assert.equal(many.cols.length, extra.max);
  assert.match(many.note, new RegExp("at most " + extra.max));
  assert.deepEqual(readCols("", extra), { cols: [], note: "" });
  const huge = readCols(Array(100000).fill("x").join(","), extra);
  assert.deepEqual(huge.cols, []);
  assert.ok(huge.note.length < 300, huge.note);
  // A base column is not an added one.
  assert.deepEqual(readCols("amplitude_uv", extra).cols, []);
});

test("the added columns follow the base ones and survive the URL, with a sort on one", () => {
  const columns = tableColumns(facts.resultColumns, extra, ["spread", "no_such"]);
  assert.deepEqual(columns.map((c) => c.name), [...facts.resultColumns.map(([n]) => n), "spread"]);
  assert.equal(columns.at(-1).title, "spread (µm)");
  const { state, sortNote, colsNote } = readURLState("?cols=spread,trough_half_width&sort=trough_half_width&desc=1",
    DEFAULT, facts.resultColumns, extra);
  assert.deepEqual([state.cols, state.sort, state.desc, sortNote, colsNote], [["spread", "trough_half_width"], "trough_half_width", true, "", ""]);
  assert.equal(urlSearch(state, DEFAULT), "?sort=trough_half_width&desc=1&cols=spread%2Ctrough_half_width");
  // Sorting by a metric column that is not shown is not allowed from a link.
  assert.match(readURLState("?sort=spread", DEFAULT, facts.resultColumns, extra).sortNote, /not a results column/);
});

test("dataset labels keep what tells datasets apart, short, and never a bare prefix", () => {
  const names = ["synthetic_sub-SYN00_ses-a+b_probe00.zarr", "synthetic_sub-SYN01_ses-c_probe01.zarr",
    "synthetic_np_ultra_0.zarr"];
  const labels = datasetLabels([...names, names[0], null]);
  assert.deepEqual([...labels.entries()], [[names[0], "sub-SYN00…_probe00"], [names[1], "sub-SYN01…_probe01"],
    [names[2], "np_ultra_0"]]);
  // One dataset alone: shortened in the middle, its start and end kept.
  assert.equal(datasetLabels(["000409_sub-KS084_ses-1b715600_probe00"]).get("000409_sub-KS084_ses-1b715600_probe00"),
    "000409_su…_probe00");
  // A name that is all common part keeps itself; a prefix is cut only at a separator.
  assert.deepEqual([...datasetLabels(["a_", "a_b"]).values()], ["a_", "b"]);
  assert.deepEqual([...datasetLabels(["ab1", "ab2"]).values()], ["ab1", "ab2"]);
  // The shared end goes too, from a separator on; a shared part that is not cut at one stays.
  assert.deepEqual([...datasetLabels(["x.zarr", "y.zarr", "y.zarr"]).values()], ["x", "y"]);
  assert.deepEqual([...datasetLabels(["a_10.zarr", "b_20.zarr"]).values()], ["a_10", "b_20"]);
});
