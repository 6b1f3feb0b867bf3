// Waveform previews (docs/format.md "Previews") and the page's one sparkline renderer.
// Every thumbnail is drawn here, whether its 52 steps came from a preview shard or from the
// page's Python reading a template chunk (libraries without previews).
"use strict";

(function (HTL) {
  const SVG_NS = "http://www.w3.org/2000/svg";
  // The layout's numbers come from templatelib/format.py through the page config (one place).
  const config = JSON.parse(document.getElementById("site-config").textContent);
  const { rowBytes: ROW_BYTES, idBytes: ID_BYTES, scaleBytes: SCALE_BYTES, steps: STEPS,
    rowsPerShard: ROWS_PER_SHARD, formatVersion: FORMAT_VERSION, dir: DIR } = config.previewFormat;
  // A shard holds at most rowsPerShard rows; anything larger is refused before it is read,
  // and a body without Content-Length is read only up to this bound, then cancelled.
  const MAX_SHARD_BYTES = ROWS_PER_SHARD * ROW_BYTES;
  // A shard that has not arrived within the page's call limit is given up: its thumbnails come
  // from the templates instead, as for a library without previews.
  const SHARD_TIMEOUT_MS = config.callTimeoutMs || 8000;

  // A problem with a shard, in words (what the page shows after "previews unavailable (...)").
  class ShardProblem extends Error {}

  function withDeadline(promise, deadline, onLate) {
    let timer;
    const late = new Promise((resolve, reject) => {
      timer = setTimeout(() => { if (onLate) onLate(); reject(new ShardProblem("did not arrive in " +
        SHARD_TIMEOUT_MS / 1000 + " s")); }, Math.max(0, deadline - Date.now()));
    });
    return Promise.race([promise, late]).finally(() => clearTimeout(timer));
  }

  // The body of `response`, at most `maxBytes`, by `deadline` (ms since the epoch): a body that
  // grows past the bound or stalls is cancelled, never read to its end.
  async function readBounded(response, maxBytes, deadline) {
    const declared = response.headers.get("content-length");
    if (declared !== null && Number(declared) > maxBytes) {
      if (response.body) response.body.cancel().catch(() => {});
      throw new ShardProblem("is larger than " + maxBytes + " bytes");
    }
    if (!response.body) return withDeadline(response.arrayBuffer(), deadline);
    const reader = response.body.getReader();
    const chunks = [];
    let total = 0;
    try {
      for (;;) {
        const { done, value } = await withDeadline(reader.read(), deadline);
        if (done) break;
        total += value.byteLength;
        if (total > maxBytes) throw new ShardProblem("is larger than " + maxBytes + " bytes");
        chunks.push(value);
      }
    } catch (error) {
      reader.cancel().catch(() => {});
      throw error;
    }
    const out = new Uint8Array(total);
    let at = 0;
    for (const chunk of chunks) { out.set(chunk, at); at += chunk.byteLength; }
    return out.buffer;
  }

  function hex(bytes) {
    let out = "";
    for (const b of bytes) out += b.toString(16).padStart(2, "0");
    return out;
  }

  async function sha256Hex(buffer) {
    return hex(new Uint8Array(await crypto.subtle.digest("SHA-256", buffer)));
  }

  // One thumbnail: an SVG polyline of the best channel, named "Waveform <template_id>".
  function sparkline(templateId, preview, width = 120, height = 40) {
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

  // The verified preview shards of one library. `manifest` is library.json (parsed); every
  // shard is checked against its size and sha256 there before any row of it is used.
  class PreviewStore {
    constructor(source, manifest) {
      this.source = source;
      this.shards = new Map();   // index -> Promise<DataView|null>
      this.problem = null;
      const part = manifest && typeof manifest === "object" ? manifest.previews : null;
      this.spec = this.checkSpec(part);
    }

    checkSpec(part) {
      if (!part || typeof part !== "object") { this.problem = "this library has no previews"; return null; }
      if (part.format_version !== FORMAT_VERSION || part.row_bytes !== ROW_BYTES || part.samples !== STEPS ||
          part.rows_per_shard !== ROWS_PER_SHARD || !Array.isArray(part.shards)) {
        this.problem = "library.json describes previews this page cannot read";
        return null;
      }
      for (const s of part.shards) {
        if (!s || typeof s.sha256 !== "string" || !/^[0-9a-f]{64}$/.test(s.sha256) || !Number.isInteger(s.bytes) ||
            s.bytes < 0 || s.bytes > MAX_SHARD_BYTES || s.bytes % ROW_BYTES) {
          this.problem = "library.json lists a malformed preview shard";
          return null;
        }
      }
      return part;
    }

    get usable() { return this.spec !== null; }

    url(index) { return this.source + DIR + "/" + index + ".bin"; }

    // Adopt a shard request made before library.json arrived (the first paint fetches both at
    // once). Nothing waits on it here: it is read with the same bounds as any shard, and
    // `onBytes` gets a copy of the bytes once they arrived whole.
    adoptResponse(index, responsePromise, onBytes) {
      this.shards.set(index, this.readShard(index, responsePromise, null, onBytes));
    }

    // A shard's DataView, or null with `problem` in words: an HTTP error, a body larger than
    // a shard can be, no answer within SHARD_TIMEOUT_MS, or bytes that do not verify.
    async readShard(index, responsePromise, controller, onBytes) {
      const deadline = Date.now() + SHARD_TIMEOUT_MS;
      const abort = () => { if (controller) controller.abort(); };
      try {
        const response = await withDeadline(Promise.resolve(responsePromise), deadline, abort);
        if (!response) throw new ShardProblem("could not be read");
        if (!response.ok) {
          if (response.body) response.body.cancel().catch(() => {});
          throw new ShardProblem("HTTP " + response.status);
        }
        const buffer = await readBounded(response, MAX_SHARD_BYTES, deadline).catch((error) => { abort(); throw error; });
        if (onBytes) onBytes(buffer.slice(0));
        return await this.verify(index, buffer);
      } catch (error) {
        this.problem = `${DIR}/${index}.bin ` + (error instanceof ShardProblem ? error.message : "could not be read");
        return null;
      }
    }

    async verify(index, buffer) {
      const expected = this.spec && this.spec.shards[index];
      if (!expected) { this.problem = `${DIR}/${index}.bin is not listed in library.json`; return null; }
      if (buffer.byteLength !== expected.bytes) {
        this.problem = `${DIR}/${index}.bin has ${buffer.byteLength} bytes, library.json says ${expected.bytes}`;
        return null;
      }
      if ((await sha256Hex(buffer)) !== expected.sha256) {
        this.problem = `${DIR}/${index}.bin does not match its sha256 in library.json`;
        return null;
      }
      return new DataView(buffer);
    }

    shard(index) {
      if (!this.shards.has(index)) {
        const controller = new AbortController();
        const response = fetch(this.url(index), { cache: "no-cache", signal: controller.signal });
        this.shards.set(index, this.readShard(index, response, controller));
      }
      return this.shards.get(index);
    }

    // Previews for catalogue rows: `rows` are {row, template_id}. Returns a Map id -> preview
    // (a Map: IDs such as "__proto__" are keys like any other) for the rows whose shard
    // verified, whose stored ID matches and whose scale is finite; the others are left out,
    // so they fall back to the templates as when previews are unusable.
    async lookup(rows) {
      const out = new Map();
      if (!this.usable) return out;
      await Promise.all(rows.map(async ({ row, template_id: id }) => {
        if (!Number.isInteger(row) || row < 0) return;
        const view = await this.shard(Math.floor(row / ROWS_PER_SHARD));
        const offset = (row % ROWS_PER_SHARD) * ROW_BYTES;
        if (!view || offset + ROW_BYTES > view.byteLength) return;
        const stored = hex(new Uint8Array(view.buffer, offset, ID_BYTES));
        if (stored !== id) { this.problem = `previews do not match templates.csv at row ${row + 1}`; return; }
        const scale = view.getFloat32(offset + ID_BYTES, true);
        if (!Number.isFinite(scale)) { this.problem = `previews row ${row + 1} has a scale that is not a finite number`; return; }
        const steps = new Int8Array(view.buffer, offset + ID_BYTES + SCALE_BYTES, STEPS);
        out.set(id, { scale, steps: Array.from(steps) });
      }));
      return out;
    }
  }

  HTL.sparkline = sparkline;
  HTL.sha256Hex = sha256Hex;
  HTL.PreviewStore = PreviewStore;
  HTL.MAX_SHARD_BYTES = MAX_SHARD_BYTES;
})(self.HTL = self.HTL || {});
