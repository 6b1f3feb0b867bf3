// The results' thumbnails: the page's one sparkline renderer, and where each row's waveform
// comes from (a verified preview shard, else the page's Python reading the template chunks).
// Every thumbnail is drawn here, named "Waveform <template_id>".
import { call, painted, run } from "./state.js";
import { $, dataBusy, notePreviewProblem } from "./status.js";
import { describeError } from "./words.js";

const SVG_NS = "http://www.w3.org/2000/svg";

/** One thumbnail: an SVG polyline of the best channel, named "Waveform <template_id>". */
export function sparkline(templateId, preview, width = 120, height = 40) {
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", "Waveform " + templateId);
  svg.setAttribute("class", "thumb");
  svg.setAttribute("width", String(width));
  svg.setAttribute("height", String(height));
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  // Only finite numbers are drawn: a preview from anywhere never shows "NaN" or "Infinity".
  const steps = Array.isArray(preview && preview.steps) ? preview.steps.filter(Number.isFinite) : [];
  let lo = Infinity, hi = -Infinity;
  for (const v of steps) { if (v < lo) lo = v; if (v > hi) hi = v; }
  if (!steps.length) lo = hi = 0;
  const span = hi - lo || 1;
  const points = [];
  for (let k = 0; k < steps.length; k++) {
    const x = 2 + (k * (width - 4)) / Math.max(steps.length - 1, 1);
    const y = height - 3 - ((steps[k] - lo) * (height - 6)) / span;
    points.push(x.toFixed(1) + "," + y.toFixed(1));
  }
  const line = document.createElementNS(SVG_NS, "polyline");
  line.setAttribute("fill", "none");
  line.setAttribute("stroke", "#1f5fbf");
  line.setAttribute("stroke-width", "1.5");
  line.setAttribute("points", points.join(" "));
  const title = document.createElementNS(SVG_NS, "title");
  const peak = Math.round(Math.max(Math.abs(lo), Math.abs(hi)) * Number(preview && preview.scale));
  title.textContent = Number.isFinite(peak) ? `Best channel, peak ${peak} (stored units)` : "Best channel";
  svg.append(title, line);
  return svg;
}

/** What Python needs to draw a row's preview from its template chunk. */
export function previewRequest(row) {
  return { template_id: row.template_id || null, dataset: row.dataset, template_index: row.template_index,
    best_channel_index: row.best_channel_index };
}

/** Draw the slots whose ID `found` (a Map template_id -> preview: "__proto__" is a key like any other) holds. */
export function drawThumbnails(found) {
  let drawn = 0;
  for (const slot of document.querySelectorAll(".thumb-slot")) {
    const preview = found.get(slot.dataset.id);
    if (!preview || slot.dataset.drawn === "1") continue;
    slot.textContent = "";
    slot.append(sparkline(slot.dataset.id, preview));
    slot.dataset.drawn = "1";
    slot.removeAttribute("aria-busy");
    drawn++;
  }
  if (drawn && !performance.getEntriesByName("htl-first-waveform").length) {
    performance.mark("htl-first-waveform");
    painted.resolve();
  }
}

/** Previews Python computed from template chunks; a damaged dataset or an unusable row is
 * named in words (in its slot and the alert), the rest drawn. */
export function drawChunkPreviews(answer) {
  drawThumbnails(new Map(answer.filter((a) => a.preview).map((a) => [a.template_id, a.preview])));
  const errors = new Map(answer.filter((a) => a.error).map((a) => [String(a.template_id), String(a.error)]));
  for (const slot of document.querySelectorAll(".thumb-slot")) {
    if (!errors.has(slot.dataset.id) || slot.dataset.drawn === "1") continue;
    slot.textContent = "no waveform";
    slot.title = errors.get(slot.dataset.id);
    slot.removeAttribute("aria-busy");
  }
  const failed = [...new Set(errors.values())];
  if (failed.length) $("query-error").textContent = "Waveforms: " + failed.join(" · ");
}

/** The thumbnails of `rows` (the answer of query number `token`): previews first, Python for the rest. */
export async function loadThumbnails(rows, token) {
  // The first paint's chunk previews may still be on their way: never fetch them twice.
  if (run.earlyChunks) await run.earlyChunks.catch(() => null);
  if (token !== run.renderToken) return;
  const missing = rows.filter((r) => {
    const slot = document.querySelector(`.thumb-slot[data-id="${CSS.escape(String(r.template_id))}"]`);
    return slot && slot.dataset.drawn !== "1";
  });
  if (!missing.length) return;
  dataBusy(1);
  try {
    const store = await run.previewsReady;
    const found = store ? await store.lookup(missing) : new Map();
    if (token !== run.renderToken) return;
    drawThumbnails(found);
    const rest = missing.filter((r) => !found.has(r.template_id));
    if (!rest.length) return;
    if (store) notePreviewProblem(store.problem);
    const answer = await call("preview_rows", { rows: rest.map(previewRequest) });
    if (token !== run.renderToken) return;
    drawChunkPreviews(answer);
  } catch (error) {
    // Words, never a raw script error: the worker's errors carry a kind, anything else does not.
    if (token === run.renderToken) {
      $("query-error").textContent = "Waveforms: " + (error && error.kind ? describeError(error) : "the thumbnails could not be drawn");
    }
  } finally {
    dataBusy(-1);
  }
}
