// The hybrid preview in the Selection section: for one probe group of the selection, ~100 ms of
// what the snippet's hybrid recording looks like (Python's `hybrid_preview`: the selected
// templates injected at the snippet's spike times into Gaussian noise), drawn as one trace per
// channel around the templates' best channels, labelled as a preview with its seed and
// parameters; the Python snippet is then rewritten with the same group, noise and seed.
import { previewCaption, tracePoints, traceSpan } from "./example_logic.js";
import { call, config, run, state } from "./state.js";
import { $, dataBusy } from "./status.js";
import { describeError } from "./words.js";

const SVG_NS = "http://www.w3.org/2000/svg";
const WIDTH = 560, ROW = 16, LEFT = 44, TOP = 10;

/** The probe groups the Selection shows (basket.js), as the group picker's options. */
export function fillHybridGroups(groups) {
  const select = $("hybrid-group");
  const keep = select.value;
  select.textContent = "";
  groups.forEach((group, k) => {
    const option = document.createElement("option");
    option.value = String(k);
    option.textContent = "[" + k + "] " + (group.probe || "(no probe name)") + " · " + group.template_ids.length + " template(s)";
    select.append(option);
  });
  if (keep && Number(keep) < groups.length) select.value = keep;
  $("hybrid-go").disabled = !groups.length;
  // The snippet's group must exist in the new selection.
  if (run.hybrid && run.hybrid.group >= groups.length) run.hybrid = null;
}

function svgElement(name, attributes) {
  const el = document.createElementNS(SVG_NS, name);
  for (const [key, value] of Object.entries(attributes)) el.setAttribute(key, String(value));
  return el;
}

/** The plot of Python's answer: one row per channel, one µV scale for all, the spikes as ticks. */
export function hybridSVG(answer) {
  const traces = answer.traces;
  const height = TOP * 2 + ROW * Math.max(traces.length, 1);
  const span = traceSpan(traces);
  const pxPerUnit = (ROW * 0.9) / span;
  const unit = answer.in_uv === false ? "" : " µV";
  const svg = svgElement("svg", { role: "img", viewBox: `0 0 ${WIDTH} ${height}`, width: WIDTH, height, class: "hybrid" });
  svg.setAttribute("aria-label", "Hybrid preview: " + traces.length + " channels, " + answer.parameters.preview_ms +
    " ms, seed " + answer.parameters.seed + ", noise " + answer.parameters.noise_uv + " µV");
  const plotWidth = WIDTH - LEFT - 4;
  const samples = traces.length ? traces[0].length : 0;
  traces.forEach((trace, k) => {
    const mid = TOP + ROW * (k + 0.5);
    const label = svgElement("text", { x: LEFT - 4, y: mid + 3, "text-anchor": "end", "font-size": 9, fill: "#5b6675" });
    label.textContent = "ch " + answer.channels[k];
    const line = svgElement("polyline", { fill: "none", stroke: "#1f5fbf", "stroke-width": 0.8,
      transform: `translate(${LEFT} 0)`, points: tracePoints(trace, plotWidth, mid, pxPerUnit) });
    svg.append(label, line);
  });
  for (const spike of answer.spikes) {
    if (!samples) break;
    const x = LEFT + ((spike.sample + 0.5) * plotWidth) / samples;
    svg.append(svgElement("line", { x1: x, x2: x, y1: 0, y2: TOP - 2, stroke: "#a4161a", "stroke-width": 1 }));
  }
  const title = svgElement("title", {});
  title.textContent = "Each row ±" + span.toFixed(1) + unit + " (one scale for all channels); red ticks: spikes";
  svg.prepend(title);
  return svg;
}

function askedNumber(id, what) {
  const text = $(id).value.trim();
  if (text === "") return null;
  const value = Number(text);
  if (!Number.isFinite(value)) throw new Error(what + " must be a number, not " + JSON.stringify(text.slice(0, 30)));
  return value;
}

/** Ask Python for the preview of the chosen group, draw it, and rewrite the snippet with its parameters. */
export async function previewHybrid() {
  $("hybrid-error").textContent = "";
  if (run.info === null || !state.sel.length) { $("hybrid-error").textContent = "Select templates first: the preview injects the selection."; return; }
  let args;
  try {
    args = { template_ids: state.sel, group: Number($("hybrid-group").value || 0),
      noise_uv: askedNumber("hybrid-noise", "The noise level"), seed: askedNumber("hybrid-seed", "The seed") ?? 0,
      preview_ms: config.hybridPreview.previewMs };
  } catch (error) {
    $("hybrid-error").textContent = error.message;
    return;
  }
  $("hybrid-status").textContent = "Drawing the hybrid preview (waits for the rest of Python, then reads the templates)…";
  $("hybrid-go").disabled = true;
  dataBusy(1);
  try {
    const answer = await call("hybrid_preview", args);
    const defaulted = args.noise_uv === null;
    $("hybrid-plot").textContent = "";
    $("hybrid-plot").append(hybridSVG(answer));
    $("hybrid-caption").textContent = previewCaption(answer, defaulted);
    $("hybrid-figure").hidden = false;
    if (defaulted) $("hybrid-noise").value = String(answer.parameters.noise_uv);
    run.hybrid = { group: answer.group, noise_uv: answer.parameters.noise_uv, seed: answer.parameters.seed };
    $("snippet").textContent = await call("snippet", { template_ids: state.sel, ...run.hybrid });
    $("hybrid-status").textContent = "Preview drawn; the Python snippet below uses the same seed and noise level.";
  } catch (error) {
    $("hybrid-status").textContent = "";
    $("hybrid-error").textContent = "Hybrid preview: " + describeError(error);
  } finally {
    dataBusy(-1);
    $("hybrid-go").disabled = !state.sel.length;
  }
}

/** The section's button. */
export function bindHybrid() {
  $("hybrid-noise").max = String(config.hybridPreview.maxNoiseUv);
  $("hybrid-seed").max = String(config.hybridPreview.maxSeed);
  $("hybrid-go").disabled = true;
  $("hybrid-go").addEventListener("click", () => previewHybrid());
}
