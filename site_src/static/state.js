// The page's one module with mutable state: everything the other modules read and change lives
// in the objects below, so a reader finds all of it here. The URL state is mirrored in the
// address bar (url_state.js) so that every view can be shared and reloaded.
import { pageConfig } from "./config.js";
import { readURLState, sourceRoot, urlSearch } from "./url_state.js";

export const config = pageConfig(document);

const fromURL = readURLState(location.search, config.defaultSource, config.resultColumns, config.extraColumns);
/** What the visitor asked for: source, query, selection, view, sort, page and added columns (in the URL). */
export const state = fromURL.state;
/** Why a ?sort= of the URL was dropped, in words ("" when it was not). */
export const sortNote = fromURL.sortNote;
/** What a ?cols= of the URL asked for that the table cannot add, in words ("" when nothing). */
export const colsNote = fromURL.colsNote;
/** The library root ("" when ?source= is not an http(s) URL). */
export const root = sourceRoot(state.source);

/** The page's run: the worker, what Python said, and what the table shows. */
export const run = {
  client: null,          // the WorkerClient (null for an invalid source)
  info: null,            // the library's info once Python is ready; null while (re)starting
  count: 0,              // rows matching the query
  renderToken: 0,        // bumped by every query and restart: older answers are dropped
  // The order and page the table lists (the defaults after a restart); `state` is what was asked.
  listed: { sort: state.sort, desc: state.desc, page: state.page },
  restarted: false,          // a fresh worker after a stopped call: never re-run what was stopped
  queryAfterRestart: false,  // the visitor asked for a query while Python restarted
  previews: null,        // the PreviewStore once library.json is known
  previewsReady: null,   // Promise<PreviewStore|null>
  earlyChunks: null,     // the first paint's preview_rows call, when previews are unusable
  citeShown: false,      // the citation is open: it follows the selection
  // Download templates: the size the visitor agreed to fetch, and the files' object URLs.
  download: { confirmedBytes: 0, fileUrls: [] },
  // Find by example: the file name of the visitor's own waveform the results are ranked by
  // ("" when they are not; a local file is never in the URL), and the hybrid preview's
  // group, noise and seed that the snippet repeats (null: the snippet's defaults).
  own: "",
  hybrid: null,
};

/** The stage line (role=status) and what it adds to the stage. */
export const stage = {
  text: "Starting Python…",
  busy: 0,                 // calls fetching data for the page
  waitingForPython: false, // a call waits for the rest of Python
  previewNote: "",         // why previews are not used
  catalogueNote: "",       // why the compact catalogue was not used, from Python
};

// What the UI thread fetched, handed to Python (again after a restart) so nothing is fetched twice.
export const handOver = { csv: null, compact: null, manifest: null, manifestMissing: false, done: false };
handOver.promise = new Promise((resolve) => {
  handOver.resolve = () => { if (!handOver.done) { handOver.done = true; resolve(); } };
});

// The first waveforms are drawn (or the first paint is over without them): the page's compile of
// Python's runtime waits for this, so its 10 MB never competes with the first paint (app.js).
export const painted = { done: false };
painted.promise = new Promise((resolve) => {
  painted.resolve = () => { if (!painted.done) { painted.done = true; resolve(); } };
});

/** Resolves when the first waveforms are drawn, or config.firstPaintHeadStartMs after the page
 * started, whichever is first: what Python needs only later (the runtime's compile, the compact
 * catalogue's download) waits for it, so that nothing but the first page competes with it. */
export const firstPaintHeadStart = Promise.race([
  painted.promise, new Promise((resolve) => setTimeout(resolve, config.firstPaintHeadStartMs))]);

/** What the first paint fetched, filed for offline use once the service worker is there. */
export const firstObjects = {};

/** A worker call (worker.js documents the methods); rejects with {kind, message}. */
export function call(method, args) {
  return run.client.call(method, args);
}

/** Write `state` into the address bar (no new history entry). */
export function writeURL() {
  history.replaceState(null, "", location.pathname + urlSearch(state, config.defaultSource));
}
