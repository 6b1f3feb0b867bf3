// The first paint's csv reader against the shared vectors: the same outcome, row count and
// first IDs as Python's read_catalogue_csv (tests/test_catalogue_csv.py runs the same file).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";

import { CatalogueCsvReader, addFallbackIds, readCatalogueHead } from "../../site_src/static/catalogue_csv.js";
import { REPO, fromPython } from "./python_facts.mjs";

const rules = fromPython({ imports: "from templatelib.catalogue import csv_rules", value: "csv_rules()" });
const cases = JSON.parse(readFileSync(join(REPO, "tests", "data", "catalogue_csv_cases.json"), "utf8"));

function bytesOf(vector) {
  return vector.csv_hex !== undefined ? Uint8Array.from(Buffer.from(vector.csv_hex, "hex")) : new TextEncoder().encode(vector.csv);
}

async function readWhole(bytes, chunk) {
  const reader = new CatalogueCsvReader(rules, Infinity);
  for (let at = 0; at < bytes.length; at += chunk) reader.pushBytes(bytes.subarray(at, at + chunk));
  reader.endBytes();
  if (reader.error === null) await addFallbackIds(reader);
  return reader;
}

for (const vector of cases) {
  test(`vector: ${vector.name}`, async () => {
    const bytes = bytesOf(vector);
    // Whole, and in 7-byte pieces: chunk boundaries inside a \r\n, a quote or a UTF-8 character.
    for (const chunk of [bytes.length || 1, 7]) {
      const reader = await readWhole(bytes, chunk);
      if (vector.outcome === "refused") {
        assert.notEqual(reader.error, null, `accepted in ${chunk}-byte pieces`);
      } else {
        assert.equal(reader.error, null, `refused (${reader.error}) in ${chunk}-byte pieces`);
        assert.equal(reader.rowCount, vector.rows);
        assert.deepEqual(Array.from(reader.rows.slice(0, vector.first_ids.length), (r) => r.template_id), vector.first_ids);
      }
    }
  });
}

test("the head reader stops validating after the rows it keeps", () => {
  const header = rules.liveColumns.join(",") + ",template_id\n";
  const row = (k) => "NP1,IMEC,CA1,1,2,3,4," + k + ",0,10,a.zarr,s3://x/a.zarr," + k.toString(16).padStart(16, "0") + "\n";
  const reader = new CatalogueCsvReader(rules, 2);
  reader.pushBytes(new TextEncoder().encode(header + row(0) + row(1) + row(2) + "broken,row\n"));
  assert.equal(reader.error, null);
  assert.equal(reader.rows.length, 2);
  assert.ok(reader.done);
});

function csvOf(rows) {
  const header = rules.liveColumns.join(",") + ",template_id\n";
  let text = header;
  for (let k = 0; k < rows; k++) text += "NP1,IMEC,CA1,1,2,3,4," + k + ",0,10,a.zarr,s3://x/a.zarr," + k.toString(16).padStart(16, "0") + "\n";
  return new TextEncoder().encode(text);
}

async function head(bytes, { status, contentRange, rows }) {
  const headers = contentRange ? { "content-range": contentRange } : {};
  const response = new Response(bytes, { status, headers });
  const painted = [];
  const result = await readCatalogueHead(response, { rules, rows, onRows: (r) => painted.push(r.rows.length), enough: () => false });
  return { result, painted };
}

test("a 206 head paints its complete rows and hands no bytes on (Python needs the whole file)", async () => {
  const whole = csvOf(40);
  const cut = whole.subarray(0, Math.floor(whole.length * 0.8));  // the last record is cut
  const { result, painted } = await head(cut, { status: 206, contentRange: `bytes 0-${cut.length - 1}/${whole.length}`, rows: 25 });
  assert.equal(result, null);
  assert.deepEqual(painted, [25]);
});

test("a 206 head holding fewer rows than the page paints nothing", async () => {
  const whole = csvOf(40);
  const cut = whole.subarray(0, Math.floor(whole.length * 0.3));
  const { result, painted } = await head(cut, { status: 206, contentRange: `bytes 0-${cut.length - 1}/${whole.length}`, rows: 25 });
  assert.equal(result, null);
  assert.deepEqual(painted, []);
});

test("a 206 that reaches the end of a small file is the whole file", async () => {
  const whole = csvOf(10);
  const { result, painted } = await head(whole, { status: 206, contentRange: `bytes 0-${whole.length - 1}/${whole.length}`, rows: 25 });
  assert.equal(result.length, whole.length);
  assert.deepEqual(painted, [10]);
});

test("a server that ignores Range sends the whole file: it is read and handed on", async () => {
  const whole = csvOf(30);
  const { result, painted } = await head(whole, { status: 200, rows: 25 });
  assert.equal(result.length, whole.length);
  assert.deepEqual(painted, [25]);
});
