// A streaming RFC 4180 csv reader for the first paint: rows reach the page while
// templates.csv is still arriving, long before Python (pandas) is ready. It only reads;
// the catalogue's meaning (columns, IDs, checks) stays in the page's Python.
"use strict";

(function (HTL) {
  // Bounds for hostile files: a "row" that never ends or a cell of megabytes is refused.
  const MAX_CELL_CHARS = 64 * 1024;
  const MAX_FIELDS = 512;

  class CsvStreamParser {
    constructor() {
      this.rows = [];
      this.field = "";
      this.record = [];
      this.quoted = false;   // inside a quoted field
      this.afterQuote = false;  // just saw a quote inside a quoted field
      this.error = null;
    }

    push(text) {
      if (this.error) return;
      let field = this.field;
      for (let i = 0; i < text.length; i++) {
        const c = text[i];
        if (this.quoted) {
          if (this.afterQuote) {
            this.afterQuote = false;
            if (c === '"') { field += '"'; continue; }
            this.quoted = false;  // the quote closed the field; fall through to c
          } else if (c === '"') { this.afterQuote = true; continue; }
          else { field += c; if (field.length > MAX_CELL_CHARS) return this.fail("a cell is longer than 64 KB"); continue; }
        }
        if (c === '"' && field === "") { this.quoted = true; continue; }
        if (c === ",") { this.record.push(field); field = ""; if (this.record.length > MAX_FIELDS) return this.fail("a row has more than 512 cells"); continue; }
        if (c === "\n") { this.record.push(field); field = ""; this.finishRecord(); continue; }
        if (c === "\r") continue;
        field += c;
        if (field.length > MAX_CELL_CHARS) return this.fail("a cell is longer than 64 KB");
      }
      this.field = field;
    }

    end() {
      if (this.error) return;
      if (this.quoted && !this.afterQuote) return this.fail("a quoted cell is never closed");
      if (this.field !== "" || this.record.length) { this.record.push(this.field); this.field = ""; this.finishRecord(); }
    }

    finishRecord() {
      const record = this.record;
      this.record = [];
      if (record.length === 1 && record[0] === "") return;  // blank line
      this.rows.push(record);
    }

    fail(message) {
      this.error = message;
    }
  }

  // Stream `response` through the parser, calling `onProgress(parser)` after each chunk.
  // Resolves with the raw bytes (for Python and for the sha256 check).
  async function readCsvStream(response, parser, onProgress) {
    const decoder = new TextDecoder("utf-8");
    const parts = [];
    let size = 0;
    if (!response.body || !response.body.getReader) {
      const bytes = new Uint8Array(await response.arrayBuffer());
      parser.push(decoder.decode(bytes));
      parser.end();
      onProgress(parser);
      return bytes;
    }
    const reader = response.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      parts.push(value);
      size += value.length;
      parser.push(decoder.decode(value, { stream: true }));
      onProgress(parser);
    }
    parser.push(decoder.decode());
    parser.end();
    onProgress(parser);
    const bytes = new Uint8Array(size);
    let at = 0;
    for (const part of parts) { bytes.set(part, at); at += part.length; }
    return bytes;
  }

  /** Catalogue rows first..last as the results table's row objects (columns: the page's resultColumns). */
  function csvRowObjects(parser, first, last, columns) {
    const header = parser.rows[0];
    const index = Object.fromEntries(header.map((name, i) => [name.trim(), i]));
    if (!("dataset" in index) || !("template_index" in index)) return null;
    const out = [];
    // parser.rows[0] is the header, so catalogue row k is parser.rows[k + 1].
    for (let k = first; k <= last && k + 1 < parser.rows.length; k++) {
      const cells = parser.rows[k + 1];
      const row = { row: k };
      for (const [name, , kind] of columns) {
        const raw = name in index ? (cells[index[name]] ?? "").trim() : "";
        row[name] = kind === "text" ? raw : raw === "" || !isFinite(Number(raw)) ? null : Number(raw);
      }
      row.template_index = Number(cells[index.template_index]);
      row.best_channel_index = "best_channel_index" in index ? Number(cells[index.best_channel_index]) : null;
      out.push(row);
    }
    return out;
  }

  HTL.CsvStreamParser = CsvStreamParser;
  HTL.csvRowObjects = csvRowObjects;
  HTL.readCsvStream = readCsvStream;
})(self.HTL = self.HTL || {});
