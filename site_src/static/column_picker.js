// "Columns": the metric columns a visitor adds to the results table (so they can see what they
// filter on). Which ones may be added, their titles, units and scales are config.extraColumns
// (templatelib/page_contract.py EXTRA_COLUMNS, units from units.py); the choice is ?cols=.
import { renderHeader, runQuery } from "./results.js";
import { colsNote, config, run, state, writeURL } from "./state.js";
import { $ } from "./status.js";

const EXTRA = config.extraColumns;

function setNote(text) {
  $("cols-note").textContent = text;
}

/** Boxes at the bound: the unchecked ones are disabled, and the legend says why. */
function applyBound() {
  const full = state.cols.length >= EXTRA.max;
  for (const box of $("column-choices").querySelectorAll("input[type=checkbox]")) box.disabled = full && !box.checked;
  $("column-bound").textContent = full ? "At most " + EXTRA.max + " added columns: remove one to add another."
    : "Up to " + EXTRA.max + ", sortable, kept in the link.";
}

function choose(name, on) {
  state.cols = on ? [...state.cols.filter((c) => c !== name), name].slice(0, EXTRA.max) : state.cols.filter((c) => c !== name);
  if (!on && state.sort === name) { state.sort = ""; state.desc = false; }
  applyBound();
  renderHeader();
  writeURL();
  runQuery(true);
}

/** The boxes for the metric columns this library's catalogue holds (from the library's info). */
export function fillColumnPicker() {
  const present = new Set(run.info.columns || []);
  const holder = $("column-choices");
  for (const el of holder.querySelectorAll("label")) el.remove();
  const absent = state.cols.filter((name) => !present.has(name));
  if (absent.length) {
    state.cols = state.cols.filter((name) => present.has(name));
    if (absent.includes(state.sort)) { state.sort = ""; state.desc = false; }
    setNote([colsNote, "This library's catalogue has no column " + absent.map((n) => JSON.stringify(n)).join(", ") + "."]
      .filter(Boolean).join(" "));
    renderHeader();
  }
  for (const column of EXTRA.columns.filter((c) => present.has(c.name))) {
    const label = document.createElement("label");
    const box = document.createElement("input");
    box.type = "checkbox";
    box.value = column.name;
    box.checked = state.cols.includes(column.name);
    box.addEventListener("change", () => choose(column.name, box.checked));
    label.append(box, " " + column.title);
    holder.append(label);
  }
  applyBound();
}

/** Say at once what a shared link's ?cols= asked for that the table cannot add. */
export function bindColumnPicker() {
  setNote(colsNote);
  applyBound();
}
