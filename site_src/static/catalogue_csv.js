// The first paint's reader of templates.csv: the same definition of a valid catalogue as the
// page's Python (templatelib/catalogue.py read_catalogue_csv; docs/format.md "A valid
// templates.csv"), so the page never paints a row that Python would read differently or refuse.
// Its rules (limits, NA tokens, number patterns, column kinds) arrive in the page config
// (config.catalogueCsv, written by generator/build.py from templatelib/format.py); the shared
// test vectors tests/data/catalogue_csv_cases.json hold both readers to the same outcomes.
//
// It reads only the head of the file (the header and the rows the first page shows) and keeps
// the rest as bytes for Python, so the first paint costs one page whatever the catalogue's size.
// A refusal here only means "paint nothing early": Python names the problem in words.
export class CatalogueCsvReader {
  /** rules: config.catalogueCsv; keep: how many rows to validate and keep (Infinity: all). */
  constructor(rules, keep) {
    this.rules = rules;
    this.keep = keep;
    this.na = new Set(rules.naTokens);
    this.number = new RegExp("^(?:" + rules.numberPattern + ")$");
    this.decoder = new TextDecoder("utf-8", { fatal: true });
    this.error = null;
    this.header = null;
    this.rows = [];        // validated row objects, at most `keep`
    this.rowCount = 0;
    this.bytes = 0;
    // record state (the decoder drops one leading byte-order mark, as Python does)
    this.cells = [];
    this.cell = "";
    this.cellStarted = false;
    this.inQuotes = false;
    this.afterQuote = false;  // a closing quote (or the first of a doubled one) was just read
    this.recordHasChars = false;
    this.prevCR = false;
    this.seenIds = new Set();
  }

  get done() {
    return this.error !== null || this.rows.length >= this.keep;
  }

  fail(words) {
    if (this.error === null) this.error = words;
  }

  pushBytes(bytes) {
    if (this.error !== null) return;
    this.bytes += bytes.length;
    if (this.bytes > this.rules.maxBytes) return this.fail("larger than a catalogue may be");
    let text;
    try {
      text = this.decoder.decode(bytes, { stream: true });
    } catch (e) {
      return this.fail("not UTF-8 text");
    }
    this.pushText(text);
  }

  endBytes() {
    if (this.error !== null) return;
    let text;
    try {
      text = this.decoder.decode();
    } catch (e) {
      return this.fail("not UTF-8 text");
    }
    this.pushText(text);
    this.end();
  }

  pushText(text) {
    if (text.includes("\0")) return this.fail("holds a NUL character");
    for (let i = 0; i < text.length && !this.done; i++) {
      const c = text[i];
      const crlf = this.prevCR && c === "\n";
      this.prevCR = c === "\r";
      if (this.inQuotes) {
        if (!this.afterQuote) {
          if (c === '"') this.afterQuote = true;
          else this.addChar(c);  // line ends included: a quoted cell may hold them
          continue;
        }
        this.afterQuote = false;
        if (c === '"') { this.addChar('"'); continue; }
        this.inQuotes = false;  // that quote closed the cell: c must end it
        if (c !== "," && c !== "\n" && c !== "\r") return this.fail("',' expected after '\"'");
      }
      if (crlf) continue;  // the \n of a \r\n whose \r ended the record
      if (c === ",") this.endCell();
      else if (c === "\n" || c === "\r") this.endRecord();
      else if (c === '"' && !this.cellStarted) {
        this.inQuotes = true;
        this.cellStarted = true;
        this.recordHasChars = true;
      } else this.addChar(c);
    }
  }

  addChar(c) {
    this.cell += c;
    this.cellStarted = true;
    this.recordHasChars = true;
    if (this.cell.length > this.rules.maxCellChars) this.fail("a cell is too long");
  }

  endCell() {
    this.cells.push(this.cell);
    this.cell = "";
    this.cellStarted = false;
    this.recordHasChars = true;
  }

  endRecord() {
    if (!this.recordHasChars) return;  // a blank line is skipped
    this.endCell();
    const cells = this.cells;
    this.cells = [];
    this.recordHasChars = false;
    if (this.header === null) this.readHeader(cells);
    else this.readRow(cells);
  }

  end() {
    if (this.error !== null) return;
    if (this.inQuotes && !this.afterQuote) return this.fail("unterminated quote");
    this.inQuotes = false;
    this.endRecord();
    if (this.header === null) this.fail("empty");
  }

  readHeader(names) {
    const r = this.rules;
    if (names.length > r.maxColumns) return this.fail("too many columns");
    const seen = new Set();
    for (const name of names) {
      if (name !== name.trim()) return this.fail("a column name has surrounding whitespace");
      if (!name) return this.fail("a column has no name");
      if (seen.has(name)) return this.fail("a column name appears twice");
      seen.add(name);
    }
    if (r.liveColumns.some((c) => !seen.has(c))) return this.fail("a live column is missing");
    this.header = names;
    this.index = new Map(names.map((n, k) => [n, k]));
    this.fallback = !seen.has("template_id");
  }

  cellOf(cells, name) {
    const k = this.index.get(name);
    return k === undefined ? null : cells[k].replace(/^[ \t]+|[ \t]+$/g, "");
  }

  numberOf(text) {
    if (!this.number.test(text)) return undefined;
    const lower = text.toLowerCase().replace(/^[+-]/, "");
    if (lower === "inf" || lower === "infinity") return text.startsWith("-") ? -Infinity : Infinity;
    return Number(text);
  }

  readRow(cells) {
    const r = this.rules;
    if (this.rows.length >= this.keep) return;  // past the head: Python reads the rest
    if (cells.length !== this.header.length) return this.fail("a ragged row");
    this.rowCount += 1;
    if (this.rowCount > r.maxRows) return this.fail("too many rows");
    const row = { row: this.rowCount - 1 };
    for (const name of this.header) {
      if (!r.keptColumns.includes(name) || name === "unit_id") continue;
      const text = this.cellOf(cells, name);
      if (r.integerColumns.includes(name)) {
        const value = this.na.has(text) ? undefined : this.numberOf(text);
        if (value === undefined || !Number.isInteger(value) || Math.abs(value) > r.maxExactInteger) {
          return this.fail(name + " is not a whole number");
        }
        row[name] = value;
      } else if (r.numberColumns.includes(name)) {
        const value = this.na.has(text) ? NaN : this.numberOf(text);
        if (value === undefined) return this.fail(name + " is not a number");
        row[name] = Number.isFinite(value) ? value : null;
      } else if (r.metricColumns.includes(name)) {
        const value = this.na.has(text) ? undefined : this.numberOf(text);
        row[name] = value !== undefined && Number.isFinite(value) ? value : null;
      } else {
        row[name] = this.na.has(text) ? "" : text;
      }
    }
    if (!this.fallback) {
      if (row.template_id === "") return this.fail("an empty template_id");
      if (this.seenIds.has(row.template_id)) return this.fail("a template_id appears twice");
      this.seenIds.add(row.template_id);
    }
    this.rows.push(row);
  }
}

/** The fallback IDs of a live csv without template_id (format.fallback_template_id). */
export async function addFallbackIds(reader) {
  if (!reader.fallback) return true;
  const seen = new Set();
  for (const row of reader.rows) {
    const dataset = row.dataset.endsWith(".zarr") ? row.dataset : row.dataset + ".zarr";
    const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(dataset + "#" + row.template_index));
    row.template_id = [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("").slice(0, 16);
    if (seen.has(row.template_id)) { reader.fail("a fallback ID appears twice"); return false; }
    seen.add(row.template_id);
  }
  return true;
}

export function concatBytes(parts, size) {
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const part of parts) { bytes.set(part, at); at += part.length; }
  return bytes;
}

/**
 * Read templates.csv for the first paint: validate only its head (the header and `rows`
 * rows), call `onRows(reader)` once they are there and valid, and keep the rest as bytes for
 * Python without parsing it. Resolves with all the bytes; or null when the response is only
 * the file's head (206, a Range request), or once `enough()` says Python needs no more (it
 * reads the compact catalogue): the download is cancelled then.
 */
export async function readCatalogueHead(response, { rules, rows, onRows, enough }) {
  const reader = new CatalogueCsvReader(rules, rows);
  let reading = rows > 0;
  // A head only (206): its last record may be cut, so it is never ended as a file, and the
  // rows are painted only when the head held all of them. A 206 that reaches the file's end
  // (a file smaller than the range) is the whole file.
  const isWhole = (size) => {
    if (response.status !== 206) return true;
    const total = /\/(\d+)\s*$/.exec(response.headers.get("content-range") || "");
    return !!total && Number(total[1]) <= size;
  };
  const finish = (whole) => {
    if (!reading) return;
    reading = false;
    if (whole) reader.endBytes();
    if (reader.error === null && reader.rows.length && (whole || reader.rows.length >= rows)) onRows(reader);
  };
  if (!response.body || !response.body.getReader) {
    const bytes = new Uint8Array(await response.arrayBuffer());
    const whole = isWhole(bytes.length);
    if (reading) { reader.pushBytes(bytes); finish(whole); }
    return whole ? bytes : null;
  }
  const stream = response.body.getReader();
  const parts = [];
  let size = 0;
  for (;;) {
    if (!reading && enough()) { stream.cancel().catch(() => {}); return null; }
    const { done, value } = await stream.read();
    if (done) break;
    parts.push(value);
    size += value.length;
    if (reading) {
      reader.pushBytes(value);
      if (reader.done) finish(false);
    }
  }
  const whole = isWhole(size);
  finish(whole);
  return whole ? concatBytes(parts, size) : null;
}
