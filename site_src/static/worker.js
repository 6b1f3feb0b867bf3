// The Web Worker that owns Pyodide: the page's Python runs here so the UI never freezes.
// Messages in:  {type: "init", config} | {type: "call", id, method, args}
// Messages out: {type: "stage", stage, detail} | {type: "ready", info} | {type: "fatal", error}
//               {type: "result", id, ok, result | error}
/* global loadPyodide, importScripts */
"use strict";

let api = null;
let ready = null;

function stage(name, detail) {
  self.postMessage({ type: "stage", stage: name, detail: detail || "" });
}

async function boot(config) {
  stage("runtime", "Starting Python");
  importScripts(config.pyodideIndexURL + "pyodide.js");
  const pyodide = await loadPyodide({ indexURL: config.pyodideIndexURL });
  stage("packages", "Loading packages");
  // One call: the lock file's packages and our own wheel download in parallel.
  await pyodide.loadPackage(["numpy", "pandas", "zarr", config.wheelURL], {
    messageCallback: () => {},
    errorCallback: (msg) => console.warn(msg),
  });
  stage("catalogue", "Reading catalogue");
  api = pyodide.pyimport("templatelib.worker_api");
  api.start(config.source);
  if (config.preview) {
    // First rows and waveforms before pandas is imported (see templatelib/preview.py).
    const first = JSON.parse(await api.preview(config.pageSize || 25));
    if (first) self.postMessage({ type: "preview", ...first });
  }
  const answer = JSON.parse(await api.call("load", "{}"));
  if (!answer.ok) throw answer.error;
  return answer.result;
}

self.onmessage = async (event) => {
  const msg = event.data;
  if (msg.type === "init") {
    ready = boot(msg.config);
    try {
      const info = await ready;
      self.postMessage({ type: "ready", info });
    } catch (error) {
      const payload = error && error.kind ? error : { kind: "internal", message: String(error && error.message || error) };
      self.postMessage({ type: "fatal", error: payload });
    }
    return;
  }
  if (msg.type === "call") {
    try {
      await ready;
      const answer = JSON.parse(await api.call(msg.method, JSON.stringify(msg.args || {})));
      self.postMessage({ type: "result", id: msg.id, ...answer });
    } catch (error) {
      self.postMessage({ type: "result", id: msg.id, ok: false,
        error: error && error.kind ? error : { kind: "internal", message: String(error && error.message || error) } });
    }
  }
};
