// The Web Worker that owns Pyodide: the page's Python runs here so the UI never freezes. A
// module worker (new Worker(url, {type: "module"})): it imports Pyodide's ES module, pyodide.mjs.
// Messages in:  {type: "init", config} | {type: "runtime", module} (a WebAssembly.Module or null)
//               {type: "catalogue", csv, compact, manifest, manifestMissing}
//               {type: "call", id, method, args} | {type: "queryable"}
// Messages out: {type: "stage", stage, detail} | {type: "ready", info} | {type: "fatal", error}
//               {type: "started", id} | {type: "waiting", id} | {type: "result", id, ok, result | error}
//               {type: "milestone", name, at}
//
// Stages (templatelib/worker_api.py declares which method needs which, and which packages
// each adds; they arrive here in config.methodGroups and config.stagePackages):
//   boot:  runtime and the page's wheel, no package;
//   core:  plus the catalogue as standard-library columns (queries, sorting, paging): "N templates";
//   then the later stages, installed in the background one after the other once the
//   catalogue is queryable (arrays: numpy, the table switches to it, thumbnails from chunks;
//   view: zarr, for the template view and similar templates; full: pandas, for the snippet,
//   citation, selection csv and hybrid preview).
// A call waits for its stage; "started" tells the page when it really begins, so the page's
// time limit counts Python's work, not the wait for a download. A call Python answers with
// {kind: "stage", stage} (arithmetic before numpy) waits for that stage and is asked again.
//
// Adding a method: declare it in templatelib/worker_api.py (METHOD_GROUPS, under the first
// stage that can run it); this file and the page's config follow, and the page calls it with
// `call(method, args)` (state.js). Say what it does in words in worker_client.js describeCall.
//
// This worker's own state (it is a separate program from the page's modules) is the few
// bindings below.

let api = null;
let stages = null;   // stage name -> Promise of the runtime once that stage is there
let groupOf = null;  // method -> stage name
let catalogueArrived;
let runtimeArrived;
// The runtime compiled by the page (runtime_module.js says why), or null: Pyodide's own way.
const runtime = new Promise((resolve) => { runtimeArrived = resolve; });
const loaded = new Set();  // the later stages already installed
let blosc = null;          // Promise of the Blosc decoder, once a later stage asked for it
let waiting = 0;           // calls waiting for a later stage (the stage line says so)
const catalogue = new Promise((resolve) => { catalogueArrived = resolve; });
// The later stages start once the page says it is queryable (its first query answered and
// shown) or a call waits for one of them, so they never compete with that first query.
let laterMayStart;
const laterStart = new Promise((resolve) => { laterMayStart = resolve; });

function stage(name, detail) {
  self.postMessage({ type: "stage", stage: name, detail: detail || "" });
}

// Wall-clock milestones of Python's start, for the page's performance marks (the benchmark
// reads them as htl-py-<name>): the worker's own clock has another origin than the page's.
function milestone(name, detail) {
  self.postMessage({ type: "milestone", name, at: performance.timeOrigin + performance.now(), detail: detail || null });
}

// The WebAssembly memory Python holds (the benchmark reports it at every catalogue size).
function wasmMemory(pyodide) {
  const heap = pyodide._module && pyodide._module.HEAP8;
  return { wasmMemoryBytes: heap ? heap.length : null };
}

// The offline bundle's numcodecs decodes Blosc through WebAssembly c-blosc (npm numcodecs),
// registered on `self` by this ES module; Python's decoding is synchronous, so it must be in
// place before Python reads data. Without it only Blosc chunks fail (with a clear error).
// Chunks are read only from the first later stage on (they need numpy), so the decoder (0.6 MB)
// loads with that stage, not before "N templates".
function registerBlosc(url) {
  if (!url) return Promise.resolve();
  blosc = blosc || import(url).then((module) => module.registerBlosc(self))
    .catch((error) => console.warn(`Blosc decoder not loaded from ${url}: ${error}`));
  return blosc;
}

function required(config, key) {
  if (config[key] === undefined) throw { kind: "internal", message: `the page config lacks ${key}` };
  return config[key];
}

// Pyodide 0.27.7 takes no compiled module: it calls
// WebAssembly.instantiateStreaming(fetch(indexURL + "pyodide.asm.wasm"), imports). While
// loadPyodide runs, that one fetch waits for the page's module (`compiled`, a Promise) and
// gets an empty stand-in response (no download) when there is one, the real response when the
// page could not compile it (null); that one instantiation then uses the page's module.
// Everything else passes through untouched, so the runtime's other files (python_stdlib.zip,
// pyodide.asm.js, the wheel) download while the page still fetches and compiles the runtime.
async function withCompiledRuntime(compiled, indexURL, start) {
  const url = indexURL + "pyodide.asm.wasm";
  const { fetch, WebAssembly: wasm } = self;
  const realStreaming = wasm.instantiateStreaming;
  const standIn = new Response(new Uint8Array(0), { headers: { "Content-Type": "application/wasm" } });
  self.fetch = (input, init) => {
    // Pyodide passes a URL object; a Request or a string would do too.
    const asked = new URL(input instanceof Request ? input.url : String(input), self.location.href).href;
    if (asked !== url) return fetch(input, init);
    return compiled.then((module) => (module ? standIn : fetch(input, init)));
  };
  wasm.instantiateStreaming = async (source, imports) => {
    const response = await source;
    if (response !== standIn) return realStreaming.call(wasm, response, imports);
    const module = await compiled;
    return { instance: await wasm.instantiate(module, imports), module };
  };
  try {
    return await start();
  } finally {
    self.fetch = fetch;
    wasm.instantiateStreaming = realStreaming;
  }
}

// The page's wheel (pure Python) is imported straight from the zip file, on sys.path (Python's
// zipimport), not installed as a package: installing it through Pyodide's package loader cost
// ~0.4 s of every boot (Node, Pyodide 0.27.7: boot + import 2.78 s installed, 2.40 s zipped).
// It downloads while the runtime starts.
async function fetchWheel(url) {
  const response = await fetch(url);
  if (!response.ok) throw { kind: "unreachable", message: `The page's Python (${url}) could not be loaded: HTTP ${response.status}` };
  return new Uint8Array(await response.arrayBuffer());
}

function putWheelOnPath(pyodide, url, bytes) {
  const path = "/lib/page/" + url.split("/").pop();
  pyodide.FS.mkdirTree("/lib/page");
  pyodide.FS.writeFile(path, bytes);
  pyodide.pyimport("sys").path.insert(0, path);
}

async function boot(config) {
  milestone("worker");
  stage("runtime", "Starting Python");
  const wheel = fetchWheel(config.wheelURL);
  // Awaited only after the runtime starts: until then a failure would be reported as unhandled
  // (the await below still throws it, in words, to the page).
  wheel.catch(() => {});
  const { loadPyodide } = await import(config.pyodideIndexURL + "pyodide.mjs");
  milestone("module");
  runtime.then((compiled) => milestone("compiled", { compiledOnPage: compiled !== null }));
  const pyodide = await withCompiledRuntime(runtime, config.pyodideIndexURL, () => loadPyodide({
    indexURL: config.pyodideIndexURL,
    packages: required(config, "stagePackages").boot,
  }));
  milestone("runtime", { compiledOnPage: (await runtime) !== null });
  putWheelOnPath(pyodide, config.wheelURL, await wheel);
  const module = pyodide.pyimport("templatelib.worker_api");
  module.start(config.source);
  api = module;
  milestone("booted");
  return pyodide;
}

async function load(booted) {
  const pyodide = await booted;
  const handed = await catalogue;
  stage("catalogue", "Reading catalogue");
  const toPy = (bytes) => (bytes ? pyodide.toPy(bytes) : null);
  api.provide(toPy(handed.csv), toPy(handed.manifest), !!handed.manifestMissing, toPy(handed.compact));
  const answer = JSON.parse(await api.call("load", "{}"));
  milestone("loaded", wasmMemory(pyodide));
  if (!answer.ok) throw answer.error;
  return answer.result;
}

// The stages after "core" (zarr for the view, then pandas): only once the catalogue answers,
// so they never compete with it for the link or the CPU, one after the other, each bounded
// like the boot, with words for the calls that waited.
async function later(config, name, previous) {
  const pyodide = await previous;
  const packages = required(config, "stagePackages")[name];
  let timer;
  const limit = new Promise((resolve, reject) => {
    timer = setTimeout(() => reject({ kind: "stopped", message:
      `Loading the rest of Python (${packages.join(", ")}) took longer than ${config.loadTimeoutMs / 1000} s; reload the page to try again.` }),
    config.loadTimeoutMs);
  });
  const errors = [];
  try {
    await Promise.race([limit, Promise.all([registerBlosc(config.bloscModuleURL),
      pyodide.loadPackage(packages, { messageCallback: () => {}, errorCallback: (m) => errors.push(m) })])]);
  } finally {
    clearTimeout(timer);
  }
  if (errors.length) throw { kind: "unreachable", message: "The rest of Python could not be loaded: " + errors[0] };
  api.stage_loaded(name);
  loaded.add(name);
  milestone(name, wasmMemory(pyodide));
  return pyodide;
}

function asError(error) {
  return error && error.kind ? error : { kind: "internal", message: String((error && error.message) || error) };
}

async function waitForStage(name) {
  const announce = !["boot", "core"].includes(name) && !loaded.has(name);
  if (announce && waiting++ === 0) stage("later", "Loading the rest of Python…");
  try {
    await stages[name];
  } finally {
    if (announce && --waiting === 0) stage("ready", "");
  }
}

async function runCall(msg) {
  const name = groupOf.get(msg.method) || "core";  // unknown methods are refused by Python itself
  if (!["boot", "core"].includes(name)) laterMayStart();
  try {
    await waitForStage(name);
    self.postMessage({ type: "started", id: msg.id });
    const ask = async () => JSON.parse(await api.call(msg.method, JSON.stringify(msg.args || {})));
    let answer = await ask();
    if (!answer.ok && answer.error.kind === "stage" && stages[answer.error.stage]) {
      laterMayStart();
      self.postMessage({ type: "waiting", id: msg.id });  // the page's clock stops for the download
      await waitForStage(answer.error.stage);
      self.postMessage({ type: "started", id: msg.id });
      answer = await ask();
    }
    self.postMessage({ type: "result", id: msg.id, ...answer });
  } catch (error) {
    self.postMessage({ type: "result", id: msg.id, ok: false, error: asError(error) });
  }
}

self.onmessage = async (event) => {
  const msg = event.data;
  if (msg.type === "init") {
    const config = msg.config;
    groupOf = new Map(Object.entries(required(config, "methodGroups")).flatMap(([g, ms]) => ms.map((m) => [m, g])));
    const booted = boot(config);
    const ready = load(booted);
    stages = { boot: booted, core: ready };
    ready.then(() => setTimeout(laterMayStart, 2000), () => {});  // a page that asks nothing
    let previous = ready.then(() => laterStart).then(() => booted);
    for (const name of Object.keys(config.methodGroups)) {
      if (name === "boot" || name === "core") continue;
      previous = stages[name] = later(config, name, previous);
      previous.catch(() => {});  // reported to the calls that wait for it
    }
    try {
      self.postMessage({ type: "ready", info: await ready });
    } catch (error) {
      self.postMessage({ type: "fatal", error: asError(error) });
    }
    return;
  }
  if (msg.type === "queryable") {
    laterMayStart();  // (the chain still waits for the catalogue itself)
    return;
  }
  if (msg.type === "catalogue") {
    catalogueArrived(msg);
    return;
  }
  if (msg.type === "runtime") {
    runtimeArrived(msg.module || null);
    return;
  }
  if (msg.type === "call") runCall(msg);
};
