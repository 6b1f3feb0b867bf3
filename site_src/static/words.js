// How values, errors and the quick filters' query are written: pure functions, no DOM, no state.

/** A catalogue value as a table cell or view field: "–" for a missing one, `digits` decimals. */
export function formatValue(value, digits) {
  if (value === null || value === undefined) return "–";
  if (typeof value === "number") return digits === undefined || digits === null ? String(value) : value.toFixed(digits);
  return String(value);
}

/** A value in the template view: a fraction with 5 significant digits, the rest as a cell. */
export function formatField(value) {
  return typeof value === "number" && !Number.isInteger(value) ? value.toPrecision(5) : formatValue(value);
}

/** An error from the worker (it carries a kind) in words. */
export function describeError(error) {
  if (!error) return "Unknown error";
  if (error.kind === "missing") return "Not found: " + error.message + ". Is the source a template library root?";
  return error.message || String(error);
}

/** The title before an error's words in the page's fatal box, by the error's kind. */
export const FATAL_TITLES = {
  unreachable: "Cannot read the source. ", missing: "Missing object. ", catalogue: "The catalogue is malformed. ",
  too_large: "Too large for this page. ", data: "The data is damaged. ", input: "Bad source. ", stopped: "Stopped. ",
};

/** `text` as a Python string literal (single quotes), safe inside a query expression. */
export function pyString(text) {
  return "'" + text.replace(/\\/g, "\\\\").replace(/'/g, "\\'").replace(/\n/g, "\\n").replace(/\r/g, "\\r") + "'";
}

/**
 * The query the quick filters write (`filters`: config.quickFilters; `valueOf(id)`: a box's
 * text): `column operator value` for each filled one, joined by "and".
 */
export function filterExpression(filters, valueOf) {
  const parts = [];
  for (const filter of filters) {
    const value = valueOf(filter.id);
    if (filter.choices) {
      if (value) parts.push(filter.column + " " + filter.operator + " " + pyString(value));
    } else if (value.trim() !== "" && isFinite(Number(value))) {
      // `scale` turns the box's unit into the column's (peak-to-trough: ms in the box, s in the csv).
      parts.push(filter.column + " " + filter.operator + " " + Number(value) * filter.scale);
    }
  }
  return parts.join(" and ");
}
