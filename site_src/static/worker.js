// The Web Worker that owns Pyodide: the page's Python runs here so the UI never freezes.
// Messages in:  {type: "init", config} | {type: "catalogue", csv, manifest, manifestMissing}
//               {type: "call", id, method, args}
// Messages out: {type: "stage", stage, detail} | {type: "ready", info} | {type: "fatal", error}
//               {type: "result", id, ok, result | error}
//
// Two gates: `booted` (runtime, numpy, zarr and the page's wheel: enough to read templates)
// and `ready` (pandas imported and the catalogue loaded: enough to query). Methods that need
// no pandas (EARLY_METHODS) only wait for `booted`, so thumbnails of a library without
// previews never wait for pandas.
/* global loadPyodide, importScripts */
"use strict";

const EARLY_METHODS = new Set(["preview_rows"]);
let api = null;
let booted = null;
let ready = null;
let catalogueArrived;
const catalogue = new Promise((resolve) => { catalogueArrived = resolve; });

function stage(name, detail) {
  self.postMessage({ type: "stage", stage: name, detail: detail || "" });
}

// Wall-clock milestones of Python's start, for the page's performance marks (the benchmark
// reads them as htl-py-<name>): the worker's own clock has another origin than the page's.
function milestone(name) {
  self.postMessage({ type: "milestone", name, at: performance.timeOrigin + performance.now() });
}

// The offline bundle's numcodecs decodes Blosc through WebAssembly c-blosc (npm numcodecs),
// registered on `self` by this ES module; Python's decoding is synchronous, so it must be in
// place before Python reads data. Without it only Blosc chunks fail (with a clear error).
function registerBlosc(url) {
  if (!url) return Promise.resolve();
  return import(url).then((module) => module.registerBlosc(self))
    .catch((error) => console.warn(`Blosc decoder not loaded from ${url}: ${error}`));
}

async function boot(config) {
  stage("runtime", "Starting Python");
  const blosc = registerBlosc(config.bloscModuleURL);
  importScripts(config.pyodideIndexURL + "pyodide.js");
  // `packages` makes loadPyodide fetch these while the runtime itself is still starting.
  const pyodide = await loadPyodide({
    indexURL: config.pyodideIndexURL,
    packages: ["numpy", "zarr", config.wheelURL],
  });
  milestone("runtime");
  // pandas downloads and installs in the background; only `load` (queries) waits for it.
  const pandas = pyodide.loadPackage(["pandas"], { messageCallback: () => {}, errorCallback: (m) => console.warn(m) });
  await blosc;
  const module = pyodide.pyimport("templatelib.worker_api");
  module.start(config.source);
  api = module;
  milestone("booted");
  return { pyodide, pandas };
}

async function load(bootPromise) {
  const { pyodide, pandas } = await bootPromise;
  stage("packages", "Loading packages");
  await pandas;
  milestone("pandas-installed");
  const handed = await catalogue;
  stage("catalogue", "Reading catalogue");
  const toPy = (bytes) => (bytes ? pyodide.toPy(bytes) : null);
  api.provide(toPy(handed.csv), toPy(handed.manifest), !!handed.manifestMissing);
  const answer = JSON.parse(await api.call("load", "{}"));
  milestone("loaded");
  if (!answer.ok) throw answer.error;
  return answer.result;
}

function asError(error) {
  return error && error.kind ? error : { kind: "internal", message: String((error && error.message) || error) };
}

self.onmessage = async (event) => {
  const msg = event.data;
  if (msg.type === "init") {
    booted = boot(msg.config);
    ready = load(booted);
    try {
      self.postMessage({ type: "ready", info: await ready });
    } catch (error) {
      self.postMessage({ type: "fatal", error: asError(error) });
    }
    return;
  }
  if (msg.type === "catalogue") {
    catalogueArrived(msg);
    return;
  }
  if (msg.type === "call") {
    try {
      await (EARLY_METHODS.has(msg.method) ? booted : ready);
      const answer = JSON.parse(await api.call(msg.method, JSON.stringify(msg.args || {})));
      self.postMessage({ type: "result", id: msg.id, ...answer });
    } catch (error) {
      self.postMessage({ type: "result", id: msg.id, ok: false, error: asError(error) });
    }
  }
};
