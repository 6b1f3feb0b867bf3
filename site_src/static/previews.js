// Waveform previews (docs/format.md "Previews"): the verified preview shards of one library.
// The layout's numbers come from templatelib/format.py through the page config
// (config.previewFormat, one place); every shard is bounded in size and time and checked
// against its size and sha256 in library.json before any row of it is used. Pure logic, no
// DOM: the node tests run it against real shards written by the pipeline's Python.

// A problem with a shard, in words (what the page shows after "previews unavailable (...)").
export class ShardProblem extends Error {}

// `promise`, or a ShardProblem once `deadline` (ms since the epoch, `limitMs` after the start) passed.
function withDeadline(promise, deadline, limitMs, onLate) {
  let timer;
  const late = new Promise((resolve, reject) => {
    timer = setTimeout(() => { if (onLate) onLate(); reject(new ShardProblem("did not arrive in " +
      limitMs / 1000 + " s")); }, Math.max(0, deadline - Date.now()));
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

// The body of `response`, at most `maxBytes`, by `deadline` (ms since the epoch): a body that
// grows past the bound or stalls is cancelled, never read to its end.
async function readBounded(response, maxBytes, deadline, limitMs) {
  const declared = response.headers.get("content-length");
  if (declared !== null && Number(declared) > maxBytes) {
    if (response.body) response.body.cancel().catch(() => {});
    throw new ShardProblem("is larger than " + maxBytes + " bytes");
  }
  if (!response.body) return withDeadline(response.arrayBuffer(), deadline, limitMs);
  const reader = response.body.getReader();
  const chunks = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await withDeadline(reader.read(), deadline, limitMs);
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

export async function sha256Hex(buffer) {
  return hex(new Uint8Array(await crypto.subtle.digest("SHA-256", buffer)));
}

// The verified preview shards of one library. `manifest` is library.json (parsed); every
// shard is checked against its size and sha256 there before any row of it is used.
export class PreviewStore {
  /**
   * source: the library root (ending in "/"); manifest: library.json, parsed (or null);
   * format: config.previewFormat; timeoutMs: how long a shard may take (config.callTimeoutMs);
   * fetchShard(url, init): how a shard is fetched (default: fetch).
   */
  constructor(source, manifest, { format, timeoutMs, fetchShard }) {
    this.source = source;
    this.format = format;
    // A shard holds at most rowsPerShard rows; anything larger is refused before it is read,
    // and a body without Content-Length is read only up to this bound, then cancelled.
    this.maxShardBytes = format.rowsPerShard * format.rowBytes;
    // A shard that has not arrived in time is given up: its thumbnails come from the templates
    // instead, as for a library without previews.
    this.timeoutMs = timeoutMs;
    this.fetchShard = fetchShard || ((url, init) => fetch(url, init));
    this.shards = new Map();   // index -> Promise<DataView|null>
    this.problem = null;
    const part = manifest && typeof manifest === "object" ? manifest.previews : null;
    this.spec = this.checkSpec(part);
  }

  checkSpec(part) {
    if (!part || typeof part !== "object") { this.problem = "this library has no previews"; return null; }
    const f = this.format;
    if (part.format_version !== f.formatVersion || part.row_bytes !== f.rowBytes || part.samples !== f.steps ||
        part.rows_per_shard !== f.rowsPerShard || !Array.isArray(part.shards)) {
      this.problem = "library.json describes previews this page cannot read";
      return null;
    }
    for (const s of part.shards) {
      if (!s || typeof s.sha256 !== "string" || !/^[0-9a-f]{64}$/.test(s.sha256) || !Number.isInteger(s.bytes) ||
          s.bytes < 0 || s.bytes > this.maxShardBytes || s.bytes % f.rowBytes) {
        this.problem = "library.json lists a malformed preview shard";
        return null;
      }
    }
    return part;
  }

  get usable() { return this.spec !== null; }

  url(index) { return this.source + this.name(index); }

  name(index) { return this.format.dir + "/" + index + ".bin"; }

  // Adopt a shard request made before library.json arrived (the first paint fetches both at
  // once). Nothing waits on it here: it is read with the same bounds as any shard, and
  // `onBytes` gets a copy of the bytes once they arrived whole.
  adoptResponse(index, responsePromise, onBytes) {
    this.shards.set(index, this.readShard(index, responsePromise, null, onBytes));
  }

  // A shard's DataView, or null with `problem` in words: an HTTP error, a body larger than
  // a shard can be, no answer within `timeoutMs`, or bytes that do not verify.
  async readShard(index, responsePromise, controller, onBytes) {
    const deadline = Date.now() + this.timeoutMs;
    const abort = () => { if (controller) controller.abort(); };
    try {
      const response = await withDeadline(Promise.resolve(responsePromise), deadline, this.timeoutMs, abort);
      if (!response) throw new ShardProblem("could not be read");
      if (!response.ok) {
        if (response.body) response.body.cancel().catch(() => {});
        throw new ShardProblem("HTTP " + response.status);
      }
      const buffer = await readBounded(response, this.maxShardBytes, deadline, this.timeoutMs).catch((error) => { abort(); throw error; });
      if (onBytes) onBytes(buffer.slice(0));
      return await this.verify(index, buffer);
    } catch (error) {
      this.problem = this.name(index) + " " + (error instanceof ShardProblem ? error.message : "could not be read");
      return null;
    }
  }

  async verify(index, buffer) {
    const expected = this.spec && this.spec.shards[index];
    if (!expected) { this.problem = `${this.name(index)} is not listed in library.json`; return null; }
    if (buffer.byteLength !== expected.bytes) {
      this.problem = `${this.name(index)} has ${buffer.byteLength} bytes, library.json says ${expected.bytes}`;
      return null;
    }
    if ((await sha256Hex(buffer)) !== expected.sha256) {
      this.problem = `${this.name(index)} does not match its sha256 in library.json`;
      return null;
    }
    return new DataView(buffer);
  }

  shard(index) {
    if (!this.shards.has(index)) {
      const controller = new AbortController();
      const response = this.fetchShard(this.url(index), { cache: "no-cache", signal: controller.signal });
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
      const { rowsPerShard, rowBytes, idBytes, scaleBytes, steps: samples } = this.format;
      const view = await this.shard(Math.floor(row / rowsPerShard));
      const offset = (row % rowsPerShard) * rowBytes;
      if (!view || offset + rowBytes > view.byteLength) return;
      const stored = hex(new Uint8Array(view.buffer, offset, idBytes));
      if (stored !== id) { this.problem = `previews do not match templates.csv at row ${row + 1}`; return; }
      const scale = view.getFloat32(offset + idBytes, true);
      if (!Number.isFinite(scale)) { this.problem = `previews row ${row + 1} has a scale that is not a finite number`; return; }
      const steps = new Int8Array(view.buffer, offset + idBytes + scaleBytes, samples);
      out.set(id, { scale, steps: Array.from(steps) });
    }));
    return out;
  }
}
