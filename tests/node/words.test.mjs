// How values and errors are written, and the quoting of filter values: pyString's output is
// read back by Python itself.
import assert from "node:assert/strict";
import { test } from "node:test";

import { checkConfig } from "../../site_src/static/config.js";
import { describeError, filterExpression, formatField, formatValue, pyString } from "../../site_src/static/words.js";
import { fromPython } from "./python_facts.mjs";

test("pyString quotes any text as the same Python string", () => {
  const texts = ["CA1", "it's \"CA1\"\\ \nnext line", "\r\n\t", "'''", "\\'", "é µ 漢", "a\\", ""];
  const literals = JSON.stringify(texts.map(pyString));
  const back = fromPython({ imports: "import ast", value: `[ast.literal_eval(t) for t in json.loads(${JSON.stringify(literals)})]` });
  assert.deepEqual(back, texts);
});

test("formatValue: missing values, decimals, text", () => {
  assert.equal(formatValue(null), "–");
  assert.equal(formatValue(undefined, 2), "–");
  assert.equal(formatValue(12.345, 1), "12.3");
  assert.equal(formatValue(12.345, null), "12.345");
  assert.equal(formatValue(7), "7");
  assert.equal(formatValue("CA1", 1), "CA1");
  assert.equal(formatField(0.123456789), "0.12346");
  assert.equal(formatField(42), "42");
});

test("describeError words every kind, never an object", () => {
  assert.equal(describeError(null), "Unknown error");
  assert.match(describeError({ kind: "missing", message: "templates.csv" }), /^Not found: templates.csv\. /);
  assert.equal(describeError({ kind: "data", message: "chunk 0 is damaged" }), "chunk 0 is damaged");
  assert.equal(describeError("plain"), "plain");
});

test("a config without a key the page needs is refused, naming the key", () => {
  const facts = fromPython({ imports: "from templatelib.page_contract import page_facts", value: "page_facts()" });
  const config = { ...facts, pyodideIndexURL: "p/", wheelURL: "w.whl", workerURL: "static/worker.js", defaultSource: "d/",
    publicSource: "d/", callTimeoutMs: 1, loadTimeoutMs: 1, bloscModuleURL: null, dataCache: "c", catalogueFile: "t.csv",
    manifestFile: "library.json" };
  assert.ok(Object.isFrozen(checkConfig(structuredClone(config)).resultColumns));
  for (const key of Object.keys(config)) {
    const lacking = { ...config };
    delete lacking[key];
    assert.throws(() => checkConfig(lacking), new RegExp("lacks " + key));
  }
});

test("the quick filters write the query the contract declares, and Python accepts it", () => {
  const facts = fromPython({ imports: "from templatelib.page_contract import page_facts", value: "page_facts()" });
  const filters = facts.quickFilters;
  const only = (id, value) => filterExpression(filters, (k) => (k === id ? value : ""));
  assert.equal(only("f-amp-min", "120"), "amplitude_uv >= 120");
  assert.equal(only("f-ptt-max", "0.5"), "peak_to_trough_duration <= 0.0005");  // ms in the box, s in the csv
  assert.equal(only("f-area", "it's"), "brain_area == 'it\\'s'");
  for (const junk of ["", "  ", "abc", "1e999x"]) assert.equal(only("f-amp-min", junk), "");
  const all = filterExpression(filters, (id) => (filters.find((f) => f.id === id).choices ? "it's \"CA1\"\\ \nnext" : " 2.5 "));
  assert.equal(all.split(" and ").length, filters.length);
  const checked = fromPython({ imports: "from templatelib import format as fmt\nfrom templatelib.safe_query import check_expression",
    value: `bool(check_expression(json.loads(${JSON.stringify(JSON.stringify(all))}), fmt.COLUMNS, ("probe", "brain_area")))` });
  assert.equal(checked, true);
});
