// Find templates by example, the pure part: how a similarity is written, whether a user's file
// may be read at all (checked on its name and size before a byte of it is read), its bytes as
// base64 for the worker, and the hybrid preview's plot geometry and caption. No DOM, no state:
// tests/node/example_logic.test.mjs runs these.

/** A similarity as a table cell: 3 decimals, "–" for anything that is not a finite number. */
export function formatSimilarity(value) {
  return typeof value === "number" && Number.isFinite(value) ? value.toFixed(3) : "–";
}

/**
 * Why the file `file` ({name, size}) cannot be read, in words, or "" when it may be: its name
 * must end in one of `limits.extensions` and its size be 1 to `limits.maxBytes` bytes. Runs
 * before the file is read, so a 2 GB file costs nothing.
 */
export function fileProblem(file, limits) {
  const name = String(file && file.name !== undefined ? file.name : "").slice(0, 80);
  const quoted = JSON.stringify(name);
  const lower = name.toLowerCase();
  if (!limits.extensions.some((ext) => lower.endsWith(ext))) {
    return quoted + " is not a " + limits.extensions.join(" or ") + " file; nothing was read.";
  }
  const size = Number(file.size);
  if (!Number.isFinite(size) || size <= 0) return quoted + " is empty; nothing was read.";
  if (size > limits.maxBytes) {
    return quoted + " is " + size.toLocaleString("en-US") + " bytes; a waveform file may be at most " +
      limits.maxBytes.toLocaleString("en-US") + " bytes, so it was not read.";
  }
  return "";
}

/** The sampling rate typed in `text` as a number, or an Error in words (limits: config.ownWaveform). */
export function parseRate(text, limits) {
  const value = Number(String(text).trim());
  if (String(text).trim() === "" || !Number.isFinite(value) || value < limits.minRateHz || value > limits.maxRateHz) {
    return new Error("the sampling rate must be " + limits.minRateHz + " to " + limits.maxRateHz + " Hz, not " +
      JSON.stringify(String(text).slice(0, 30)));
  }
  return value;
}

/** `bytes` (a Uint8Array) as base64, in slices (String.fromCharCode takes a bounded argument list). */
export function base64FromBytes(bytes) {
  const SLICE = 0x8000;
  const parts = [];
  for (let at = 0; at < bytes.length; at += SLICE) {
    parts.push(String.fromCharCode.apply(null, bytes.subarray(at, at + SLICE)));
  }
  return btoa(parts.join(""));
}

/**
 * One trace as SVG polyline points, `width` px wide: each pixel column holds the minimum and
 * maximum of its samples (so no spike falls between two drawn samples), `mid` the trace's zero
 * line, `pxPerUnit` the vertical scale (y grows downwards). Non-finite samples are skipped.
 */
export function tracePoints(trace, width, mid, pxPerUnit) {
  const n = trace.length;
  const points = [];
  if (!n) return "";
  const columns = Math.max(1, Math.min(width, n));
  for (let c = 0; c < columns; c++) {
    const from = Math.floor((c * n) / columns);
    const to = Math.max(from + 1, Math.floor(((c + 1) * n) / columns));
    let lo = Infinity, hi = -Infinity;
    for (let k = from; k < to; k++) {
      const v = trace[k];
      if (Number.isFinite(v)) { if (v < lo) lo = v; if (v > hi) hi = v; }
    }
    if (lo === Infinity) continue;
    const x = ((c + 0.5) * width) / columns;
    // Max first, then min: the line runs through the column's whole range.
    points.push(x.toFixed(1) + "," + (mid - hi * pxPerUnit).toFixed(1));
    if (lo !== hi) points.push(x.toFixed(1) + "," + (mid - lo * pxPerUnit).toFixed(1));
  }
  return points.join(" ");
}

/** The largest absolute finite value of `traces` (arrays of numbers); 1 when there is none. */
export function traceSpan(traces) {
  let top = 0;
  for (const trace of traces) for (const v of trace) if (Number.isFinite(v) && Math.abs(v) > top) top = Math.abs(v);
  return top || 1;
}

/** The hybrid preview's caption from its answer: what it is, with the seed and parameters the snippet carries. */
export function previewCaption(answer, noiseDefaulted) {
  const p = answer.parameters;
  const noise = p.noise_uv + " µV" + (noiseDefaulted ? " (the library's median noise level)" : "");
  const units = answer.in_uv === false ? " (stored units: these templates are not in µV)" : "";
  return "Preview, not a recording: the first " + p.preview_ms + " ms of the snippet's hybrid recording for " +
    (answer.probe || "(no probe name)") + " (templates_by_probe[" + answer.group + "]), " + answer.template_ids.length +
    " template(s), " + answer.spikes.length + " spike(s) shown, on " + answer.channels.length + " channel(s)" + units +
    ". seed=" + p.seed + ", noise " + noise + ", firing rate " + p.firing_rate_hz + " Hz, refractory period " +
    p.refractory_period_ms + " ms, amplitude_std " + p.amplitude_std + ", " + p.duration_s +
    " s long. The same seed and parameters are in the Python snippet's generate_hybrid_recording call; " +
    "its noise samples differ from this preview's.";
}
