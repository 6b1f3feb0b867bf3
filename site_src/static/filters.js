// The quick filters: they write the query (the same text works in Python). Which filters, on
// which column, with which operator and unit scale: config.quickFilters (step 3 declares them
// in Python); until then the inputs' ids below.
import { run } from "./state.js";
import { $ } from "./status.js";
import { submitQuery } from "./results.js";
import { pyString } from "./words.js";

function option(value, text) {
  const o = document.createElement("option");
  o.value = value;
  o.textContent = text;
  return o;
}

/** The choices of the select filters and the range hints, from the library's info. */
export function fillFilters() {
  const info = run.info;
  for (const probe of info.probes) $("f-probe").append(option(probe, probe));
  for (const [area, n] of info.brain_areas) $("f-area").append(option(area, (area || "(none)") + " (" + n + ")"));
  const r = info.ranges;
  const hint = (id, key) => { if (r[key]) $(id).placeholder = String(Math.round(r[key][id.endsWith("max") ? 1 : 0])); };
  hint("f-amp-min", "amplitude_uv"); hint("f-amp-max", "amplitude_uv");
  hint("f-depth-min", "depth_along_probe"); hint("f-depth-max", "depth_along_probe");
  hint("f-snr-min", "signal_to_noise_ratio"); hint("f-spikes-min", "spikes_per_unit");
}

function filterExpression() {
  const parts = [];
  if ($("f-probe").value) parts.push("probe == " + pyString($("f-probe").value));
  if ($("f-area").value) parts.push("brain_area == " + pyString($("f-area").value));
  // `scale` turns the box's unit into the column's (peak-to-trough: ms in the box, s in the csv).
  const num = (id, column, op, scale = 1) => {
    const v = $(id).value.trim();
    if (v !== "" && isFinite(Number(v))) parts.push(column + " " + op + " " + Number(v) * scale);
  };
  num("f-amp-min", "amplitude_uv", ">="); num("f-amp-max", "amplitude_uv", "<=");
  num("f-depth-min", "depth_along_probe", ">="); num("f-depth-max", "depth_along_probe", "<=");
  num("f-snr-min", "signal_to_noise_ratio", ">="); num("f-spikes-min", "spikes_per_unit", ">=");
  num("f-ptt-min", "peak_to_trough_duration", ">=", 1e-3); num("f-ptt-max", "peak_to_trough_duration", "<=", 1e-3);
  num("f-spread-min", "spread", ">=");
  return parts.join(" and ");
}

/** A change of any filter rewrites the query and runs it. */
export function bindFilters() {
  $("filters").addEventListener("change", () => {
    $("query").value = filterExpression();
    submitQuery();
  });
}
