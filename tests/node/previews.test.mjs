// The preview store (previews.js) against shards written by the pipeline's own Python
// (pipeline.previews.write_shards): decoding matches templatelib.preview.decode_rows, and every
// bound holds: size, sha256, the listed shards, IDs in csv order, HTTP errors, stalls.
import assert from "node:assert/strict";
import { test } from "node:test";

import { PreviewStore } from "../../site_src/static/previews.js";
import { fromPython } from "./python_facts.mjs";

const written = fromPython({
  imports: `
import pathlib, tempfile
import numpy as np
from pipeline.previews import write_shards
from pipeline.storage import LibraryStorage
from templatelib.page_contract import page_facts
from templatelib.preview import as_json, decode_rows, encode_rows
ids = [f"{k:016x}" for k in (1, 2, 0xabcdef, 2**63)]
traces = np.random.default_rng(5).normal(size=(len(ids), 90)) * 50
rows = encode_rows(ids, traces)
root = tempfile.mkdtemp()
part = write_shards(LibraryStorage(root), rows)
shard = (pathlib.Path(root) / part["shards"][0]["key"]).read_bytes()`,
  value: `{"ids": ids, "part": part, "shard": shard.hex(), "expected": as_json(decode_rows(rows)),
           "format": page_facts()["previewFormat"]}`,
});
const SHARD = Uint8Array.from(Buffer.from(written.shard, "hex"));
const ROWS = written.ids.map((id, row) => ({ row, template_id: id }));
const ROOT = "https://example.org/lib/";

/** A store whose shard requests are answered by `answer(url)` (a Response, or a Promise of one). */
function store(answer, { manifest = { previews: written.part }, timeoutMs = 2000 } = {}) {
  const asked = [];
  const s = new PreviewStore(ROOT, manifest, { format: written.format, timeoutMs,
    fetchShard: (url) => { asked.push(url); return Promise.resolve(answer(url)); } });
  return { s, asked };
}

const ok = (bytes) => new Response(bytes, { status: 200 });

test("rows decode as the pipeline's Python decodes them; one request per shard", async () => {
  const { s, asked } = store(() => ok(SHARD));
  assert.ok(s.usable);
  const found = await s.lookup(ROWS);
  assert.equal(found.size, ROWS.length);
  for (const id of written.ids) {
    const expected = written.expected[id];
    assert.deepEqual(found.get(id).steps, expected.steps);
    assert.equal(found.get(id).scale, Math.fround(expected.scale));
  }
  await s.lookup(ROWS);
  assert.deepEqual(asked, [ROOT + written.format.dir + "/0.bin"]);
  assert.equal(s.problem, null);
});

test("an ID that is not the csv's at that row is left out and named", async () => {
  const { s } = store(() => ok(SHARD));
  const found = await s.lookup([{ row: 1, template_id: written.ids[0] }, { row: 0, template_id: written.ids[0] }]);
  assert.deepEqual([...found.keys()], [written.ids[0]]);
  assert.match(s.problem, /do not match templates.csv at row 2/);
});

test("rows outside the shard or not whole numbers are left out", async () => {
  const { s } = store(() => ok(SHARD));
  const found = await s.lookup([{ row: 99, template_id: "x" }, { row: -1, template_id: "y" }, { row: 0.5, template_id: "z" }]);
  assert.equal(found.size, 0);
});

test("a shard that does not verify is refused, in words", async () => {
  const damaged = SHARD.slice();
  damaged[20] ^= 1;
  const cases = [
    [() => ok(damaged), /0\.bin does not match its sha256/],
    [() => ok(SHARD.slice(0, 64)), /0\.bin has 64 bytes, library.json says/],
    [() => new Response("gone", { status: 404 }), /0\.bin HTTP 404/],
    [() => ok(new Uint8Array(written.format.rowsPerShard * written.format.rowBytes + 1)), /is larger than/],
  ];
  for (const [answer, problem] of cases) {
    const { s } = store(answer);
    assert.equal((await s.lookup(ROWS)).size, 0);
    assert.match(s.problem, problem);
  }
});

test("a shard that never answers is given up after timeoutMs", async () => {
  const { s } = store(() => new Promise(() => {}), { timeoutMs: 50 });
  const started = Date.now();
  assert.equal((await s.lookup(ROWS)).size, 0);
  assert.ok(Date.now() - started < 1000);
  assert.match(s.problem, /did not arrive in 0.05 s/);
});

test("a body that stalls is cancelled at the deadline", async () => {
  const stalled = new ReadableStream({ start(controller) { controller.enqueue(SHARD.slice(0, 64)); } });
  const { s } = store(() => new Response(stalled), { timeoutMs: 50 });
  assert.equal((await s.lookup(ROWS)).size, 0);
  assert.match(s.problem, /did not arrive/);
});

test("a manifest this page cannot read makes the store unusable, in words", () => {
  const bad = [
    [null, /has no previews/],
    [{ previews: { ...written.part, row_bytes: 65 } }, /cannot read/],
    [{ previews: { ...written.part, shards: [{ sha256: "xyz", bytes: 64 }] } }, /malformed preview shard/],
    [{ previews: { ...written.part, shards: [{ ...written.part.shards[0], bytes: 63 }] } }, /malformed preview shard/],
  ];
  for (const [manifest, problem] of bad) {
    const { s } = store(() => ok(SHARD), { manifest });
    assert.equal(s.usable, false);
    assert.match(s.problem, problem);
  }
});

test("a shard adopted from the first paint is read once, and its bytes are handed on", async () => {
  const { s, asked } = store(() => ok(SHARD));
  let copied = null;
  s.adoptResponse(0, Promise.resolve(ok(SHARD)), (bytes) => { copied = bytes; });
  assert.equal((await s.lookup(ROWS)).size, ROWS.length);
  assert.deepEqual(asked, []);
  assert.deepEqual(new Uint8Array(copied), SHARD);
});
