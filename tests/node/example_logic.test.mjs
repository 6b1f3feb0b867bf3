// Find by example's pure logic (site_src/static/example_logic.js): the similarity's cell, the
// checks a user's file passes before a byte of it is read, base64 for the worker, and the
// hybrid preview's plot geometry and caption.
import assert from "node:assert/strict";
import { test } from "node:test";

import { base64FromBytes, fileProblem, formatSimilarity, parseRate, previewCaption, tracePoints, traceSpan }
  from "../../site_src/static/example_logic.js";
import { fromPython } from "./python_facts.mjs";

const LIMITS = fromPython({ imports: "from templatelib.page_contract import page_facts", value: "page_facts()" }).ownWaveform;

test("a similarity has 3 decimals; anything else is a dash", () => {
  assert.equal(formatSimilarity(1), "1.000");
  assert.equal(formatSimilarity(0.98765), "0.988");
  assert.equal(formatSimilarity(-0.5), "-0.500");
  for (const bad of [null, undefined, NaN, Infinity, "0.9"]) assert.equal(formatSimilarity(bad), "–");
});

test("a file is refused by its name or size before it is read", () => {
  assert.equal(fileProblem({ name: "unit.npy", size: 1000 }, LIMITS), "");
  assert.equal(fileProblem({ name: "UNIT.CSV", size: LIMITS.maxBytes }, LIMITS), "");
  assert.match(fileProblem({ name: "unit.npy", size: 2 ** 31 }, LIMITS), /^"unit\.npy" is 2,147,483,648 bytes; .*at most .* not read\.$/);
  assert.match(fileProblem({ name: "unit.npy", size: LIMITS.maxBytes + 1 }, LIMITS), /not read/);
  assert.match(fileProblem({ name: "unit.npy", size: 0 }, LIMITS), /is empty/);
  assert.match(fileProblem({ name: "unit.pkl", size: 10 }, LIMITS), /is not a \.npy or \.csv file/);
  assert.match(fileProblem({ name: "<img src=x>".repeat(20), size: 10 }, LIMITS), /^"<img src=x>/);
  assert.ok(fileProblem({ name: "x".repeat(500) + ".npy", size: 2 ** 40 }, LIMITS).length < 200);
});

test("the sampling rate is a number within Python's limits", () => {
  assert.equal(parseRate("30000", LIMITS), 30000);
  assert.equal(parseRate(" 48000.5 ", LIMITS), 48000.5);
  for (const bad of ["", "abc", "30", "1e9", "NaN", "Infinity", "-30000"]) {
    assert.ok(parseRate(bad, LIMITS) instanceof Error, bad);
  }
  assert.match(parseRate("30", LIMITS).message, /sampling rate must be 1000 to 1000000 Hz, not "30"/);
});

test("base64 matches node's own encoder, across slice boundaries", () => {
  for (const n of [0, 1, 2, 3, 0x8000 - 1, 0x8000, 0x8000 * 2 + 5]) {
    const bytes = new Uint8Array(n).map((_, k) => (k * 7919) & 0xff);
    assert.equal(base64FromBytes(bytes), Buffer.from(bytes).toString("base64"), String(n));
  }
});

test("a trace keeps each pixel column's minimum and maximum", () => {
  const trace = new Array(3000).fill(0);
  trace[1501] = -50;  // one sample of a spike, between columns' starts
  const points = tracePoints(trace, 100, 20, 0.2).split(" ").map((p) => p.split(",").map(Number));
  assert.ok(points.length >= 100 && points.length <= 102);
  assert.equal(Math.max(...points.map(([, y]) => y)), 30);  // -50 * 0.2 below the zero line
  assert.ok(points.every(([x]) => x > 0 && x < 100));
  assert.equal(tracePoints([], 100, 0, 1), "");
  assert.equal(tracePoints([NaN, Infinity], 100, 0, 1), "");
  assert.equal(tracePoints([1, 2], 100, 10, 1).split(" ").length, 2);  // fewer samples than pixels
});

test("one scale for all traces: their largest finite value", () => {
  assert.equal(traceSpan([[1, -7, NaN], [3, Infinity]]), 7);
  assert.equal(traceSpan([[0, 0]]), 1);
});

test("the caption says it is a preview and carries the seed and parameters", () => {
  const answer = { probe: "NP1", group: 1, template_ids: ["a", "b"], channels: [3, 4, 5], spikes: [{ sample: 9, unit: 0 }],
    in_uv: true, parameters: { seed: 42, noise_uv: 7.5, firing_rate_hz: 15, refractory_period_ms: 4, amplitude_std: 0.05,
      duration_s: 10, preview_ms: 100 } };
  const text = previewCaption(answer, true);
  assert.match(text, /^Preview, not a recording: the first 100 ms/);
  assert.match(text, /seed=42, noise 7\.5 µV \(the library's median noise level\)/);
  assert.match(text, /templates_by_probe\[1\]\), 2 template\(s\), 1 spike\(s\) shown, on 3 channel\(s\)\./);
  assert.doesNotMatch(previewCaption(answer, false), /median/);
  assert.match(previewCaption({ ...answer, in_uv: false }, false), /stored units/);
});
