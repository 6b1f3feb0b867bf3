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
  // A shard holds at most rowsPerShard rows; anything larger is refused before it is read.
  const MAX_SHARD_BYTES = ROWS_PER_SHARD * ROW_BYTES;

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
    const steps = preview.steps;
    let lo = Infinity, hi = -Infinity;
    for (const v of steps) { if (v < lo) lo = v; if (v > hi) hi = v; }
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
    title.textContent = `Best channel, peak ${Math.round(Math.max(Math.abs(lo), Math.abs(hi)) * preview.scale)} (stored units)`;
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

    // Adopt bytes fetched before library.json arrived (the first paint fetches both at once).
    adopt(index, buffer) {
      this.shards.set(index, this.verify(index, buffer));
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
        this.shards.set(index, (async () => {
          try {
            const response = await fetch(this.url(index), { cache: "no-cache" });
            if (!response.ok) { this.problem = `${DIR}/${index}.bin: HTTP ${response.status}`; return null; }
            const length = Number(response.headers.get("content-length") || 0);
            if (length > MAX_SHARD_BYTES) { this.problem = `${DIR}/${index}.bin is too large`; return null; }
            return await this.verify(index, await response.arrayBuffer());
          } catch (error) {
            this.problem = `${DIR}/${index}.bin could not be read`;
            return null;
          }
        })());
      }
      return this.shards.get(index);
    }

    // Previews for catalogue rows: `rows` are {row, template_id}. Returns id -> preview for
    // the rows whose shard verified and whose stored ID matches (a mismatch is never drawn).
    async lookup(rows) {
      const out = {};
      if (!this.usable) return out;
      await Promise.all(rows.map(async ({ row, template_id: id }) => {
        if (!Number.isInteger(row) || row < 0) return;
        const view = await this.shard(Math.floor(row / ROWS_PER_SHARD));
        const offset = (row % ROWS_PER_SHARD) * ROW_BYTES;
        if (!view || offset + ROW_BYTES > view.byteLength) return;
        const stored = hex(new Uint8Array(view.buffer, offset, ID_BYTES));
        if (stored !== id) { this.problem = `previews do not match templates.csv at row ${row + 1}`; return; }
        const steps = new Int8Array(view.buffer, offset + ID_BYTES + SCALE_BYTES, STEPS);
        out[id] = { scale: view.getFloat32(offset + ID_BYTES, true), steps: Array.from(steps) };
      }));
      return out;
    }
  }

  HTL.sparkline = sparkline;
  HTL.sha256Hex = sha256Hex;
  HTL.PreviewStore = PreviewStore;
  HTL.MAX_SHARD_BYTES = MAX_SHARD_BYTES;
})(self.HTL = self.HTL || {});
