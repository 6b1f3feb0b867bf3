// Which columns the results table shows and how their cells read: pure functions, no DOM, no
// state. The base columns are config.resultColumns; the metric columns a visitor may add (?cols=)
// are config.extraColumns, with the title, shown unit and scale Python's units.py gave them.

/**
 * The added columns a ?cols= value asks for (`param`: untrusted text; `extra`:
 * config.extraColumns). Returns {cols, note}: unknown names, repeats and names beyond
 * `extra.max` are dropped, and `note` says so in words ("" when nothing was dropped).
 */
export function readCols(param, extra) {
  const known = new Set(extra.columns.map((c) => c.name));
  const asked = (param || "").split(",").map((s) => s.trim()).filter(Boolean);
  const cols = [];
  const unknown = [];
  for (const name of asked.slice(0, 200)) {
    if (!known.has(name)) unknown.push(name);
    else if (!cols.includes(name)) cols.push(name);
  }
  const notes = [];
  if (unknown.length) {
    const shown = unknown.slice(0, 3).map((n) => JSON.stringify(n.slice(0, 40))).join(", ") + (unknown.length > 3 ? ", …" : "");
    notes.push("?cols= asks for " + shown + ": " + (unknown.length === 1 ? "not a column" : "not columns")
      + " the table can add, ignored");
  }
  if (cols.length > extra.max) notes.push("the table adds at most " + extra.max + " columns; the first " + extra.max + " are shown");
  if (asked.length > 200) notes.push("only the first 200 names of ?cols= were read");
  const note = notes.length ? notes.join("; ") + "." : "";
  return { cols: cols.slice(0, extra.max), note: note && note[0].toUpperCase() + note.slice(1) };
}

/**
 * The table's columns after the selection box and the thumbnail: the base columns, then the
 * added ones in the order `cols` names them. Each is {name, title, kind, digits, scale, added}.
 */
export function tableColumns(resultColumns, extra, cols) {
  const base = resultColumns.map(([name, title, kind, digits]) => ({ name, title, kind, digits, scale: 1, added: false }));
  const byName = new Map(extra.columns.map((c) => [c.name, c]));
  const added = cols.filter((name) => byName.has(name)).map((name) => {
    const c = byName.get(name);
    return { name, title: c.title, kind: "number", digits: null, scale: c.scale, added: true };
  });
  return [...base, ...added];
}

/**
 * An added column's cell: the stored value times `scale` (s -> ms) with `extra.significantDigits`
 * significant digits, thousands separated, never in exponent form; `extra.missing` for none.
 */
export function metricText(value, scale, extra) {
  if (typeof value !== "number" || !isFinite(value)) return extra.missing;
  const shown = Number((value * scale).toPrecision(extra.significantDigits));
  return shown.toLocaleString("en-US", { maximumFractionDigits: 20 });
}

const SEPARATOR = /[_\-.+/ ]/;
const LABEL_CHARS = 18;

/** The longest start all `names` share, cut back to just after a separator ("" if none). */
function commonStart(names) {
  const shared = names.reduce((p, n) => { let k = 0; while (k < p.length && p[k] === n[k]) k++; return p.slice(0, k); });
  let cut = shared.length;
  while (cut > 0 && !SEPARATOR.test(shared[cut - 1])) cut--;
  return shared.slice(0, cut);
}

const reversed = (text) => [...text].reverse().join("");

/**
 * Short labels for dataset names: what tells each apart from the others listed with it (the
 * start and the end they all share, cut at a separator, e.g. "synthetic_" and ".zarr", are
 * dropped), shortened in the middle to about 18 characters. Returns a Map name -> label; a
 * name that would lose everything keeps itself.
 */
export function datasetLabels(names) {
  const distinct = [...new Set(names.filter((n) => typeof n === "string"))];
  const start = distinct.length > 1 ? commonStart(distinct) : "";
  // The shared end: the same rule on the reversed names (".zarr" ends at a separator).
  const end = distinct.length > 1 ? reversed(commonStart(distinct.map((n) => reversed(n.slice(start.length))))) : "";
  const labels = new Map();
  for (const name of distinct) {
    let label = name.slice(start.length, name.length - end.length) || name;
    if (label.length > LABEL_CHARS) {
      const head = Math.ceil((LABEL_CHARS - 1) / 2);
      label = label.slice(0, head) + "…" + label.slice(label.length - (LABEL_CHARS - 1 - head));
    }
    labels.set(name, label);
  }
  return labels;
}
