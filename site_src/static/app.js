// The page's entry module: starts the Python worker first (so Pyodide's boot overlaps
// everything else), then the first paint, and wires what Python says to the page. The UI
// thread never runs Python. Every string from the data or the URL goes through textContent,
// never innerHTML; the only markup inserted is the template view's SVG, which the page's
// Python built with every string escaped.
//
// The modules: state.js (the one with mutable state) · config.js · url_state.js · status.js ·
// runtime_module.js (Pyodide's runtime compiled here, for Chrome's code cache) ·
// first_paint.js · catalogue_csv.js · previews.js · thumbnails.js · results.js · filters.js ·
// view.js · basket.js · download.js · worker_client.js (+ worker.js, the worker) · offline.js;
// find by example: similar.js · similarity_column.js · own_waveform.js · hybrid_plot.js ·
// example_logic.js.
import { bindBasket, refreshBasket } from "./basket.js";
import { bindColumnPicker, fillColumnPicker } from "./column_picker.js";
import { bindDownload } from "./download.js";
import { bindFilters, fillFilters } from "./filters.js";
import { firstPaint } from "./first_paint.js";
import { bindHybrid } from "./hybrid_plot.js";
import { registerOffline } from "./offline.js";
import { compileRuntime } from "./runtime_module.js";
import { bindOwnWaveform } from "./own_waveform.js";
import { bindResults, runQuery, updatePager } from "./results.js";
import { call, config, firstObjects, firstPaintHeadStart, handOver, root, run, sortNote, stage, state, writeURL } from "./state.js";
import { $, STAGES, dataBusy, setStage } from "./status.js";
import { bindSimilar } from "./similar.js";
import { clearRanking, showRanking } from "./similarity_column.js";
import { sourceKind } from "./url_state.js";
import { openView } from "./view.js";
import { WorkerClient } from "./worker_client.js";
import { FATAL_TITLES, describeError } from "./words.js";

const absolute = (url) => new URL(url, location.href).href;

function showFatal(error) {
  setStage("Failed", "error");
  const box = $("fatal");
  box.hidden = false;
  box.textContent = "";
  const title = document.createElement("strong");
  title.textContent = FATAL_TITLES[error.kind] || "Error. ";
  const text = document.createElement("span");
  text.textContent = describeError(error);
  box.append(title, text);
  $("count").textContent = "0 templates";
  // Rows painted before Python refused the catalogue must not stay on screen as if valid.
  if (!run.info) { $("rows").textContent = ""; updatePager(); }
}

function onWorkerMessage(msg) {
  if (msg.type === "stage" && (msg.stage === "later" || msg.stage === "ready")) {
    // A call waits for the rest of Python (or no longer does): said until it runs.
    stage.waitingForPython = msg.stage === "later";
    if (run.info) dataBusy(0);
  } else if (msg.type === "stage") setStage(STAGES[msg.stage] || msg.detail, "busy");
  else if (msg.type === "milestone") {
    performance.mark("htl-py-" + msg.name, { startTime: msg.at - performance.timeOrigin, detail: msg.detail });
  } else if (msg.type === "ready") onReady(msg.info);
  else if (msg.type === "fatal") showFatal(msg.error);
}

// A call ran too long: the worker was stopped and a fresh one is starting.
function onRestart(message, stopped) {
  run.info = null;
  run.restarted = true;
  run.renderToken++;  // answers still in flight belong to the stopped worker
  setStage("Restarting Python…", "busy");
  $("count").textContent = "Restarting Python…";
  $("stopped").textContent = message;
  $("stopped").hidden = false;
  // A stopped view leaves the URL, so that reloading the page does not open it again.
  if (stopped.method === "view" && state.view === stopped.args.template_id) { state.view = ""; writeURL(); }
  // So does a stopped ranking (?like=), and the results return to the query's own order.
  if (stopped.method === "similar") { clearRanking(); showRanking(null); writeURL(); }
  updatePager();
}

function onReady(libraryInfo) {
  run.info = libraryInfo;
  setStage("Ready", "ready");
  if (run.restarted) {
    // Keep the query text, selection, sort and page; show the default results, re-run nothing
    // but what the visitor asked for while Python restarted.
    const asked = run.queryAfterRestart;
    run.queryAfterRestart = false;
    runQuery(asked, !asked);
    refreshBasket();
    return;
  }
  const info = libraryInfo;
  if (info.library) {
    const datasets = info.library.datasets === null ? "" : " in " + info.library.datasets + " datasets";
    $("library-info").textContent = "· " + info.count + " templates" + datasets + " · built " + (info.library.created || "?");
  } else {
    $("library-info").textContent = "· " + info.count + " templates";
  }
  if (info.catalogue_note) { stage.catalogueNote = info.catalogue_note; setStage(stage.text, "ready"); }
  fillFilters();
  fillColumnPicker();
  performance.mark("htl-catalogue-loaded");
  // The first answer first: the basket's snippet (pandas) and the service worker's install (which
  // fetches the runtime's packages) would otherwise start the background downloads before it.
  runQuery(false).then(() => {
    if (sortNote && !$("query-error").textContent) $("query-error").textContent = sortNote;
    if (state.view) openView(state.view);
    refreshBasket();
    registerOffline(config, root, firstObjects);
  });
}

function startWorker() {
  performance.mark("htl-worker-start");
  // The runtime's download and compile start once the first waveforms are drawn (measured: they
  // otherwise delayed the first paint by ~0.1 s on 2 cores), or after the head start; the worker
  // meanwhile fetches the rest of the runtime and needs the module only to instantiate it.
  const runtime = firstPaintHeadStart.then(() => compileRuntime(absolute(config.pyodideIndexURL)));
  // A call that runs too long stops the worker and starts a fresh one (worker_client.js).
  run.client = new WorkerClient({
    runtime: () => runtime,
    url: absolute(config.workerURL),
    init: { pyodideIndexURL: absolute(config.pyodideIndexURL), wheelURL: absolute(config.wheelURL), source: state.source,
      bloscModuleURL: config.bloscModuleURL ? absolute(config.bloscModuleURL) : null,
      methodGroups: config.methodGroups, stagePackages: config.stagePackages, loadTimeoutMs: config.loadTimeoutMs },
    catalogue: () => handOver.promise.then(() => ({ type: "catalogue", csv: handOver.csv, compact: handOver.compact,
      manifest: handOver.manifest, manifestMissing: handOver.manifestMissing })),
    callTimeoutMs: config.callTimeoutMs,
    loadTimeoutMs: config.loadTimeoutMs,
    bootMethods: new Set(config.methodGroups.boot),
    onMessage: onWorkerMessage,
    onError: (event) => showFatal({ kind: "internal", message: event.message || "the worker failed to start" }),
    onRestart,
    onLoadStopped: (message) => showFatal({ kind: "stopped", message }),
  });
  run.client.start();
}

// The worker first: Pyodide's boot then overlaps everything below.
if (root) startWorker();
bindResults();
bindFilters();
bindColumnPicker();
bindBasket();
bindDownload();
bindSimilar();
bindOwnWaveform();
bindHybrid();
if (!root) {
  $("source-label").textContent = state.source;
  showFatal({ kind: "input", message: "?source= must be an http(s) URL of a library root, not " + JSON.stringify(state.source) });
} else {
  const kind = sourceKind(state.source, config.publicSource);
  $("source-label").textContent = kind === "public" ? "public library (spikeinterface-template-database)" : kind + ": " + state.source;
  $("source-label").dataset.kind = kind;
  updatePager();
  firstPaint().catch(() => handOver.resolve());
}
// For the tests and benchmarks (tests/test_blosc_e2e.py, tests/benchmarks/): the page's state,
// a worker call, whether Python is ready, and the WorkerClient (download_speed times its calls).
window.__htl = { state, call, isReady: () => run.info !== null, get client() { return run.client; } };
// The readiness hook under the name the classic-script page gave it (`HTL.app.isReady()`), so
// scripts and tests written against that page keep working; nothing in the page reads it.
window.HTL = Object.freeze({ app: Object.freeze({ isReady: window.__htl.isReady }) });
