// The results: the query bar, the table (its columns: config.resultColumns, then the metric
// columns the visitor added, see shownColumns), the pager and the sort buttons. Every value
// goes through textContent, never innerHTML.
import { toggleSelection } from "./basket.js";
import { call, config, run, state, writeURL } from "./state.js";
import { $ } from "./status.js";
import { clearRanking, rankingAsk, showRanking, similarityCell } from "./similarity_column.js";
import { loadThumbnails } from "./thumbnails.js";
import { openView } from "./view.js";
import { datasetLabels, metricText, tableColumns } from "./table_columns.js";
import { describeError, formatValue } from "./words.js";

const PAGE_SIZE = config.pageSize;

/** Run the query in the query box from its first page. */
export function submitQuery() {
  state.q = $("query").value.trim();
  state.page = 0;
  runQuery(true);
}

/**
 * Ask Python for the page of rows `state` describes, or the default order (`defaults`: after a
 * restart, nothing but what the visitor asked for is re-run). `userAction`: the visitor asked.
 */
export async function runQuery(userAction, defaults) {
  if (!run.info) {
    // Python is restarting: the visitor's query waits for it, and the page says so.
    if (run.restarted && userAction) {
      run.queryAfterRestart = true;
      $("count").textContent = "Restarting Python… your query runs once it is back";
    }
    return;
  }
  const token = ++run.renderToken;
  $("query-error").textContent = "";
  const ask = defaults ? { expression: "", sort_by: null, descending: false, offset: 0 }
    : { expression: state.q, sort_by: state.sort || null, descending: state.desc, offset: state.page * PAGE_SIZE };
  // Similarity ranking (similarity_column.js): the same query and page, ranked by Python's `similar`.
  const ranked = defaults ? null : rankingAsk();
  try {
    const result = ranked
      ? await call("similar", { ...ranked, expression: ask.expression, offset: ask.offset, limit: PAGE_SIZE, columns: state.cols })
      : await call("query", { ...ask, limit: PAGE_SIZE, columns: state.cols });
    if (token !== run.renderToken) return;
    run.count = result.count;
    if (!defaults) state.page = Math.floor(result.offset / PAGE_SIZE);
    run.listed = defaults || ranked ? { sort: "", desc: false, page: ranked ? state.page : 0 }
      : { sort: state.sort, desc: state.desc, page: state.page };
    showRanking(ranked, result);
    if (userAction) $("stopped").hidden = true;
    $("count").textContent = run.count + " templates";
    // "0 templates" says why (Python's words: each condition's count, the columns' ranges).
    $("count-why").textContent = result.empty ? result.empty.text : "";
    renderRows(result.rows, Boolean(ranked));
    performance.mark("htl-catalogue-queryable");
    // The first answered query lets the worker start loading the rest of Python (worker.js).
    if (run.client) run.client.notify({ type: "queryable" });
    if (!defaults) writeURL();
    loadThumbnails(result.rows, token);
  } catch (error) {
    if (token !== run.renderToken || error.kind === "stopped") return;  // the stop is explained in #stopped
    if (ranked) {
      // A ranking that cannot be had (a hostile ?like=, an unknown ID): said in words, the query's own order shown.
      clearRanking();
      showRanking(null);
      await runQuery(userAction);
      $("query-error").textContent = "Similar templates: " + describeError(error);
      return;
    }
    $("query-error").textContent = describeError(error);
    $("count-why").textContent = "";
    if (!userAction) { $("count").textContent = "0 templates"; renderRows([]); }
  }
}

/** The pager's label and buttons, and each column's aria-sort, for what the table lists. */
export function updatePager() {
  const listed = run.listed;
  const pages = Math.max(1, Math.ceil(run.count / PAGE_SIZE));
  $("page-label").textContent = run.info ? "Page " + (listed.page + 1) + " of " + pages : "Page " + (listed.page + 1);
  $("prev-page").disabled = !run.info || listed.page === 0;
  $("next-page").disabled = !run.info || listed.page + 1 >= pages;
  for (const th of document.querySelectorAll("#results-table th[aria-sort]")) {
    const column = th.querySelector("button").dataset.column;
    th.setAttribute("aria-sort", column === listed.sort ? (listed.desc ? "descending" : "ascending") : "none");
  }
}

/** The table's columns after the selection box and the thumbnail: the one list header and rows follow. */
export function shownColumns() {
  return tableColumns(config.resultColumns, config.extraColumns, state.cols);
}

/** The header cells of the added columns, after the base ones the page's template renders. */
export function renderHeader() {
  const headRow = $("results-table").querySelector("thead tr");
  for (const th of headRow.querySelectorAll("th[data-added]")) th.remove();
  for (const column of shownColumns().filter((c) => c.added)) {
    const th = document.createElement("th");
    th.scope = "col";
    th.dataset.added = "true";
    th.setAttribute("aria-sort", "none");
    const button = document.createElement("button");
    button.type = "button";
    button.className = "sort";
    button.dataset.column = column.name;
    // A break opportunity after each "_" so a long column name wraps instead of widening the table.
    column.title.split(/(?<=_)/).forEach((part, k) => { if (k) button.append(document.createElement("wbr")); button.append(part); });
    th.append(button);
    headRow.append(th);
  }
  // The similarity column (similarity_column.js) stays last, as its cells do.
  const similarity = $("similarity-head");
  if (similarity) headRow.append(similarity);
}

function datasetCell(td, name, labels) {
  // A short label; the full name on hover (title) and on keyboard focus (focusable, shown by CSS).
  if (typeof name !== "string" || !name) { td.textContent = formatValue(name); return; }
  const abbr = document.createElement("abbr");
  abbr.className = "dataset-label";
  abbr.tabIndex = 0;
  abbr.title = name;
  abbr.dataset.full = name;
  abbr.textContent = labels.get(name) || name;
  td.append(abbr);
}

function rowElement(row, columns, labels, ranked) {
  const tr = document.createElement("tr");
  tr.dataset.id = row.template_id;
  tr.dataset.row = String(row.row);
  const pick = document.createElement("input");
  pick.type = "checkbox";
  pick.checked = state.sel.includes(row.template_id);
  pick.setAttribute("aria-label", "Select " + row.template_id);
  pick.addEventListener("change", () => toggleSelection(row.template_id, pick.checked));
  const tdPick = document.createElement("td");
  tdPick.append(pick);
  const tdThumb = document.createElement("td");
  const slot = document.createElement("div");
  slot.className = "thumb-slot";
  slot.dataset.id = row.template_id;
  slot.setAttribute("aria-busy", "true");
  tdThumb.append(slot);
  const tdId = document.createElement("td");
  const open = document.createElement("button");
  open.type = "button";
  open.className = "link";
  open.textContent = row.template_id;
  open.setAttribute("aria-label", "View " + row.template_id);
  open.addEventListener("click", () => openView(row.template_id));
  tdId.append(open);
  tr.append(tdPick, tdThumb, tdId);
  for (const { name, kind, digits, scale, added } of columns) {
    if (name === "template_id") continue;
    const td = document.createElement("td");
    if (name === "dataset") { td.className = "dataset"; datasetCell(td, row[name], labels); tr.append(td); continue; }
    if (added) td.textContent = metricText(row[name], scale, config.extraColumns);
    else td.textContent = kind === "text" ? formatValue(row[name]) : formatValue(row[name], digits);
    if (kind !== "text") td.className = "num";
    tr.append(td);
  }
  if (ranked) tr.append(similarityCell(row));
  return tr;
}

/** Show `rows` (objects with the results columns, `row` and `template_id`). */
export function renderRows(rows, ranked = false) {
  const body = $("rows");
  const columns = shownColumns();
  const columnsKey = columns.map((c) => c.name).join(",") + (ranked ? ",similarity" : "");
  const onScreen = [...body.querySelectorAll("tr")].map((tr) => tr.dataset.id);
  // Python taking over the rows the first paint showed: keep them (no flicker, no refetch),
  // unless they lack a column the visitor added (the first paint has only the base ones) or
  // the similarity column comes or goes.
  if (body.dataset.columns === columnsKey && onScreen.length === rows.length
      && rows.every((r, k) => r.template_id === onScreen[k])) {
    rows.forEach((r, k) => { body.children[k].dataset.row = String(r.row); });
    updatePager();
    return;
  }
  body.textContent = "";
  // Rows without an added column's values (the first paint's) are redrawn when Python's come.
  const complete = columns.every((c) => !c.added || rows.every((r) => c.name in r));
  body.dataset.columns = complete ? columnsKey : "";
  const labels = datasetLabels(rows.map((r) => r.dataset));
  for (const row of rows) body.append(rowElement(row, columns, labels, ranked));
  updatePager();
}

/** The query form, Clear, the pager and the sort buttons. */
export function bindResults() {
  $("query").value = state.q;
  $("query-form").addEventListener("submit", (event) => { event.preventDefault(); submitQuery(); });
  $("clear-query").addEventListener("click", () => {
    $("query").value = "";
    for (const el of $("filters").querySelectorAll("input, select")) el.value = "";
    state.sort = "";
    state.desc = false;
    clearRanking();
    submitQuery();
  });
  $("prev-page").addEventListener("click", () => {
    if (run.listed.page > 0) { state.page = run.listed.page - 1; runQuery(true); }
  });
  $("next-page").addEventListener("click", () => {
    if ((run.listed.page + 1) * PAGE_SIZE < run.count) { state.page = run.listed.page + 1; runQuery(true); }
  });
  // One listener for every sort button, the added columns' too (renderHeader makes them).
  $("results-table").querySelector("thead").addEventListener("click", (event) => {
    const button = event.target.closest("button.sort");
    if (!button) return;
    const column = button.dataset.column;
    clearRanking();  // a column's order replaces the similarity ranking
    if (state.sort === column) state.desc = !state.desc;
    else { state.sort = column; state.desc = false; }
    state.page = 0;
    runQuery(true);
  });
  renderHeader();
}
