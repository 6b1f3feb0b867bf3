// The Python worker's lifecycle for the UI thread: start, calls with a time limit, restart.
// Python inside Pyodide cannot be interrupted, so a call that runs longer than its limit
// (config.callTimeoutMs) stops the whole worker: worker.terminate(), every pending call is
// rejected with words saying what was stopped and why, and a fresh worker starts with the
// same init and catalogue hand-over. A boot + catalogue load longer than config.loadTimeoutMs
// is stopped for good (restarting it would only hang again). The page's own code decides
// what to show after a restart; it never re-runs the call that was stopped.
const seconds = (ms) => String(Number((ms / 1000).toFixed(1))) + " s";
const clip = (text) => (text.length > 200 ? text.slice(0, 200) + "…" : text);

/** What a call was doing, in words, and what the user can do about it. */
export function describeCall(method, args) {
  if (method === "query") {
    const sorted = args.sort_by ? " sorted by " + args.sort_by : "";
    if (args.expression) return ["The query `" + clip(args.expression) + "`" + sorted, "Change the query and run it again."];
    return [args.sort_by ? "Sorting by " + args.sort_by : "Listing the templates", "Try another order or query."];
  }
  if (method === "view") return ["Opening template " + args.template_id, "Its data did not arrive in time; try it again later."];
  if (method === "preview_rows") return ["Drawing the waveforms", "Try another page or query."];
  if (["known_ids", "basket_groups", "snippet", "selection_csv"].includes(method)) return ["Updating the selection", "Try again."];
  if (method === "cite") return ["Preparing the citation", "Try again."];
  if (method === "similar") {
    const what = args.own ? "Ranking the templates by your waveform" : "Finding templates similar to " + args.like;
    return [what, "Narrow the query first, or try again."];
  }
  if (method === "own_waveform") return ["Reading your waveform file", "Try a smaller file (one waveform)."];
  if (method === "hybrid_preview") return ["Drawing the hybrid preview", "Select fewer templates, or try again."];
  if (method.startsWith("download_")) return ["Preparing the templates' download", "Try again, or select fewer templates."];
  return ["The " + method + " call", "Try again."];
}

export class WorkerClient {
  /**
   * options: url, init (the worker's init config), runtime (() => Promise of Pyodide's
   * compiled WebAssembly.Module, or null), catalogue (() => Promise of the catalogue message), callTimeoutMs, loadTimeoutMs, bootMethods (methods that run during
   * boot and are bounded elsewhere: not timed while the worker is not ready),
   * onMessage(msg) (stage/ready/fatal), onError(event), onRestart(message, stoppedCall),
   * onLoadStopped(message).
   */
  constructor(options) {
    this.options = options;
    this.pending = new Map();
    this.nextId = 1;
    this.worker = null;
    this.ready = false;
    this.generation = 0;
    this.loadTimer = null;
  }

  start() {
    const o = this.options;
    const generation = ++this.generation;
    const worker = o.createWorker ? o.createWorker(o.url) : new Worker(o.url, { type: "module" });
    this.worker = worker;
    this.ready = false;
    worker.onmessage = (event) => { if (generation === this.generation) this.receive(event.data); };
    worker.onerror = (event) => { if (generation === this.generation) o.onError(event); };
    worker.postMessage({ type: "init", config: o.init });
    // The runtime compiled once by the page (runtime_module.js), handed to every worker it starts.
    o.runtime().then((module) => { if (generation === this.generation) worker.postMessage({ type: "runtime", module }); });
    // postMessage copies (structured clone): the page keeps its bytes for the next restart.
    o.catalogue().then((msg) => { if (generation === this.generation) worker.postMessage(msg); });
    clearTimeout(this.loadTimer);
    this.loadTimer = setTimeout(() => this.loadTooLong(), o.loadTimeoutMs);
  }

  receive(msg) {
    if (msg.type === "result") {
      const waiter = this.pending.get(msg.id);
      if (!waiter) return;
      this.pending.delete(msg.id);
      clearTimeout(waiter.timer);
      if (msg.ok) waiter.resolve(msg.result);
      else waiter.reject(msg.error);
      return;
    }
    if (msg.type === "waiting") {
      // Started, then found to need a later stage: not timed again until it starts again.
      const waiter = this.pending.get(msg.id);
      if (waiter) { clearTimeout(waiter.timer); waiter.timer = null; }
      return;
    }
    if (msg.type === "started") {
      // The clock runs while Python works on the call, not while it waits for its stage
      // (a download the worker bounds itself); boot methods are bounded elsewhere until ready.
      const waiter = this.pending.get(msg.id);
      if (waiter && (this.ready || !this.options.bootMethods.has(waiter.method))) this.arm(waiter);
      if (waiter) waiter.started = true;
      return;
    }
    if (msg.type === "ready" || msg.type === "fatal") clearTimeout(this.loadTimer);
    if (msg.type === "ready") this.ready = true;
    this.options.onMessage(msg);
  }

  call(method, args) {
    if (!this.worker) return Promise.reject({ kind: "stopped", message: "Python is not running." });
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const waiter = { id, method, args: args || {}, resolve, reject, timer: null, started: false };
      this.pending.set(id, waiter);
      // The clock starts when the worker says the call started (after its stage is there).
      this.worker.postMessage({ type: "call", id, method, args: waiter.args });
    });
  }

  /** A message to the worker outside a call (e.g. {type: "queryable"}). */
  notify(message) {
    if (this.worker) this.worker.postMessage(message);
  }

  arm(waiter) {
    if (waiter.timer === null) waiter.timer = setTimeout(() => this.tooLong(waiter), this.options.callTimeoutMs);
  }

  stop() {
    clearTimeout(this.loadTimer);
    if (this.worker) this.worker.terminate();
    this.worker = null;
    this.generation++;
    const waiters = [...this.pending.values()];
    this.pending.clear();
    for (const waiter of waiters) clearTimeout(waiter.timer);
    return waiters;
  }

  tooLong(waiter) {
    if (this.pending.get(waiter.id) !== waiter) return;
    const [what, advice] = describeCall(waiter.method, waiter.args);
    const message = what + " ran longer than " + seconds(this.options.callTimeoutMs) +
      " and was stopped; Python was restarted. " + advice;
    const waiters = this.stop();
    this.start();
    this.options.onRestart(message, { method: waiter.method, args: waiter.args });
    for (const w of waiters) w.reject({ kind: "stopped", message });
  }

  loadTooLong() {
    const message = "Starting Python and reading the catalogue took longer than " +
      seconds(this.options.loadTimeoutMs) + " and was stopped. Check the source and the network, then reload the page.";
    const waiters = this.stop();
    this.options.onLoadStopped(message);
    for (const w of waiters) w.reject({ kind: "stopped", message });
  }
}
