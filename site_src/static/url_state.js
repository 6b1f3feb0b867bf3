// The page's URL state: what the address bar holds so that every view can be shared and
// reloaded (?source, ?q, ?sel, ?view, ?sort, ?desc, ?page, ?like, ?cols). Pure functions: state.js
// applies them to `location`, the node tests to strings. Every parameter is untrusted text.
import { readCols } from "./table_columns.js";

/**
 * The state a query string asks for. Returns {state, sortNote, colsNote}: a ?sort= that is not a
 * results column (`columns`: config.resultColumns, or an added one) is dropped, and `sortNote`
 * says so in words; ?cols= keeps only the columns `extra` (config.extraColumns) lists, and
 * `colsNote` says what it dropped.
 */
export function readURLState(search, defaultSource, columns, extra) {
  const params = new URLSearchParams(search);
  const state = {
    source: params.get("source") || defaultSource,
    q: params.get("q") || "",
    sel: [...new Set((params.get("sel") || "").split(",").map((s) => s.trim()).filter(Boolean))],
    view: params.get("view") || "",
    sort: params.get("sort") || "",
    desc: params.get("desc") === "1",
    page: Math.max(0, parseInt(params.get("page") || "1", 10) - 1) || 0,
    // "Similar templates": rank the results by similarity to this template (Python checks it).
    like: params.get("like") || "",
    cols: [],
  };
  const added = extra ? readCols(params.get("cols"), extra) : { cols: [], note: "" };
  state.cols = added.cols;
  // A shared link can only sort by a results column; anything else is dropped, and said so.
  const sortNote = state.sort && !columns.some(([name]) => name === state.sort) && !state.cols.includes(state.sort)
    ? "?sort=" + JSON.stringify(state.sort.slice(0, 60)) + " is not a results column; the default order is shown." : "";
  if (sortNote) { state.sort = ""; state.desc = false; }
  return { state, sortNote, colsNote: added.note };
}

/** The query string ("" or "?...") for `state`; defaults are left out. */
export function urlSearch(state, defaultSource) {
  const p = new URLSearchParams();
  if (state.source !== defaultSource) p.set("source", state.source);
  if (state.q) p.set("q", state.q);
  if (state.sel.length) p.set("sel", state.sel.join(","));
  if (state.view) p.set("view", state.view);
  if (state.sort) p.set("sort", state.sort);
  if (state.desc) p.set("desc", "1");
  if (state.page) p.set("page", String(state.page + 1));
  if (state.like) p.set("like", state.like);
  if (state.cols && state.cols.length) p.set("cols", state.cols.join(","));
  const qs = p.toString();
  return qs ? "?" + qs : "";
}

/** The library root of an http(s) `source`, ending in "/"; "" for anything else. */
export function sourceRoot(source) {
  try {
    return /^https?:$/.test(new URL(source).protocol) ? source.replace(/\/?$/, "/") : "";
  } catch (e) {
    return "";
  }
}

/** How the page names a valid source: "public", "local" (this machine) or "custom". */
export function sourceKind(source, publicSource) {
  if (source.replace(/\/?$/, "/") === publicSource) return "public";
  const host = new URL(source).hostname;
  return host === "localhost" || host.startsWith("127.") || host === "[::1]" ? "local" : "custom";
}
