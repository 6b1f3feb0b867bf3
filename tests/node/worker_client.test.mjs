// The watchdog's bookkeeping (worker_client.js) against a fake worker: a call is timed from
// "started", boot methods are not timed before "ready", a call that runs too long stops the
// worker, rejects every pending call with words and starts a fresh worker, messages from a
// stopped worker are dropped, and a boot that runs too long is stopped for good.
import assert from "node:assert/strict";
import { test } from "node:test";

import { WorkerClient, describeCall } from "../../site_src/static/worker_client.js";
import { fromPython } from "./python_facts.mjs";

const facts = fromPython({ imports: "from templatelib.page_contract import page_facts", value: "page_facts()" });

class FakeWorker {
  constructor(url) {
    this.url = url;
    this.posted = [];
    this.terminated = false;
    this.onmessage = null;
    this.onerror = null;
  }
  postMessage(msg) { this.posted.push(msg); }
  terminate() { this.terminated = true; }
  say(msg) { this.onmessage({ data: msg }); }
  lastCall() { return this.posted.filter((m) => m.type === "call").at(-1); }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function client(overrides = {}) {
  const events = { messages: [], restarts: [], loadStopped: [], workers: [] };
  const c = new WorkerClient({
    url: "worker.js",
    init: { source: "s" },
    catalogue: () => Promise.resolve({ type: "catalogue" }),
    runtime: () => Promise.resolve("compiled runtime"),
    callTimeoutMs: 40,
    loadTimeoutMs: 10_000,
    bootMethods: new Set(facts.methodGroups.boot),
    onMessage: (msg) => events.messages.push(msg),
    onError: () => {},
    onRestart: (message, stopped) => events.restarts.push({ message, stopped }),
    onLoadStopped: (message) => events.loadStopped.push(message),
    createWorker: (url) => { const w = new FakeWorker(url); events.workers.push(w); return w; },
    ...overrides,
  });
  return { c, events };
}

// A started client and its (fake) worker, told that Python is ready when `ready`.
function started(overrides = {}, { ready = false } = {}) {
  const { c, events } = client(overrides);
  c.start();
  const w = events.workers[0];
  if (ready) w.say({ type: "ready", info: {} });
  return { c, events, w };
}

test("every method the worker serves is described in its own words", () => {
  const methods = Object.values(facts.methodGroups).flat().filter((m) => m !== "load" && m !== "stats");
  for (const method of methods) {
    const [what, advice] = describeCall(method, { expression: "x > 1", template_id: "abc" });
    assert.notEqual(what, "The " + method + " call", `${method} has no words: add it to describeCall`);
    assert.ok(advice.length > 0);
  }
  assert.deepEqual(describeCall("something_new", {}), ["The something_new call", "Try again."]);
});

test("a query is described with its text, clipped, and its order", () => {
  const [what] = describeCall("query", { expression: "a".repeat(500), sort_by: "amplitude_uv" });
  assert.ok(what.length < 260 && what.endsWith("sorted by amplitude_uv"), what);
  assert.equal(describeCall("query", { expression: "", sort_by: null })[0], "Listing the templates");
  assert.equal(describeCall("query", { expression: "", sort_by: "snr" })[0], "Sorting by snr");
});

test("start sends init then the catalogue; a result resolves its call", async () => {
  const { c, w } = started();
  await sleep(0);
  assert.deepEqual(w.posted.map((m) => m.type), ["init", "runtime", "catalogue"]);
  const answer = c.call("query", { expression: "" });
  w.say({ type: "started", id: w.lastCall().id });
  w.say({ type: "result", id: w.lastCall().id, ok: true, result: { count: 3 } });
  assert.deepEqual(await answer, { count: 3 });
  const refused = c.call("query", { expression: "bad" });
  w.say({ type: "result", id: w.lastCall().id, ok: false, error: { kind: "input", message: "no" } });
  await assert.rejects(refused, { kind: "input", message: "no" });
  c.stop();
});

test("the clock starts at 'started': a call waiting for its stage is never stopped", async () => {
  const { c, events, w } = started({}, { ready: true });
  const answer = c.call("view", { template_id: "t" });
  await sleep(100);  // longer than callTimeoutMs, but the call has not started
  assert.equal(events.restarts.length, 0);
  w.say({ type: "result", id: w.lastCall().id, ok: true, result: "ok" });
  assert.equal(await answer, "ok");
  c.stop();
});

test("a boot method is not timed before ready, and is once ready", async () => {
  // The boot stage serves no method today (worker_api.py); the bookkeeping is tested on one.
  const { c, events, w } = started({ bootMethods: new Set(["preview_rows"]) });
  const early = c.call("preview_rows", { rows: [] });
  w.say({ type: "started", id: w.lastCall().id });
  await sleep(100);
  assert.equal(events.restarts.length, 0, "timed during boot");
  w.say({ type: "result", id: w.lastCall().id, ok: true, result: [] });
  await early;
  w.say({ type: "ready", info: {} });
  const later = c.call("preview_rows", { rows: [] });
  w.say({ type: "started", id: w.lastCall().id });
  await assert.rejects(later, { kind: "stopped" });
  assert.equal(events.restarts.length, 1);
  c.stop();
});

test("a call too long stops the worker, rejects every pending call in words, and restarts", async () => {
  const { c, events, w: first } = started({}, { ready: true });
  const hung = c.call("query", { expression: "amplitude_uv > 1", sort_by: null });
  const hungId = first.lastCall().id;
  const waiting = c.call("known_ids", { template_ids: [] });
  first.say({ type: "started", id: hungId });
  const error = await hung.catch((e) => e);
  assert.equal(error.kind, "stopped");
  assert.match(error.message, /^The query `amplitude_uv > 1` ran longer than 0 s and was stopped; Python was restarted\. Change the query/);
  await assert.rejects(waiting, { kind: "stopped", message: error.message });
  assert.ok(first.terminated);
  assert.equal(events.workers.length, 2, "no fresh worker");
  assert.deepEqual(events.restarts.map((r) => r.stopped), [{ method: "query", args: { expression: "amplitude_uv > 1", sort_by: null } }]);
  // The stopped worker's late messages are dropped: they neither resolve nor reach the page.
  const fresh = events.workers[1];
  await sleep(0);
  assert.deepEqual(fresh.posted.map((m) => m.type), ["init", "runtime", "catalogue"]);
  const seen = events.messages.length;
  first.say({ type: "ready", info: { stale: true } });
  first.say({ type: "result", id: hungId, ok: true, result: "late" });
  assert.equal(events.messages.length, seen);
  assert.equal(c.ready, false);
  c.stop();
});

test("a boot longer than loadTimeoutMs is stopped for good", async () => {
  const { c, events } = client({ loadTimeoutMs: 30 });
  c.start();
  const pending = c.call("preview_rows", { rows: [] });
  await assert.rejects(pending, { kind: "stopped" });
  assert.equal(events.loadStopped.length, 1);
  assert.match(events.loadStopped[0], /took longer than 0 s and was stopped/);
  assert.equal(events.workers.length, 1, "restarted a boot that would only hang again");
  await assert.rejects(c.call("query", {}), { kind: "stopped", message: "Python is not running." });
});

test("ready in time clears the boot's clock", async () => {
  const { c, events } = client({ loadTimeoutMs: 30 });
  c.start();
  events.workers[0].say({ type: "ready", info: {} });
  await sleep(60);
  assert.equal(events.loadStopped.length, 0);
  c.stop();
});

test("every worker started, the restarted one too, is handed the page's compiled runtime", async () => {
  const { c, events } = client();
  c.start();
  await sleep(0);
  c.tooLong({ id: -1 });  // not pending: nothing happens
  c.stop();
  c.start();
  await sleep(0);
  assert.equal(events.workers.length, 2);
  for (const worker of events.workers) {
    assert.deepEqual(worker.posted.filter((m) => m.type === "runtime"), [{ type: "runtime", module: "compiled runtime" }]);
  }
});

test("a stopped worker is not handed the runtime that arrives after it stopped", async () => {
  let arrive;
  const late = new Promise((resolve) => { arrive = resolve; });
  const { c, events } = client({ runtime: () => late });
  c.start();
  c.stop();
  arrive(null);
  await sleep(0);
  assert.deepEqual(events.workers[0].posted.filter((m) => m.type === "runtime"), []);
});
