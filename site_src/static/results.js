// The results: the query bar, the table (its columns come from config.resultColumns), the
// pager and the sort buttons. Every value goes through textContent, never innerHTML.
import { toggleSelection } from "./basket.js";
import { call, config, run, state, writeURL } from "./state.js";
import { $ } from "./status.js";
import { clearRanking, rankingAsk, showRanking, similarityCell } from "./similarity_column.js";
import { loadThumbnails } from "./thumbnails.js";
import { openView } from "./view.js";
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
      ? await call("similar", { ...ranked, expression: ask.expression, offset: ask.offset, limit: PAGE_SIZE })
      : await call("query", { ...ask, limit: PAGE_SIZE });
    if (token !== run.renderToken) return;
    run.count = result.count;
    if (!defaults) state.page = Math.floor(result.offset / PAGE_SIZE);
    run.listed = defaults || ranked ? { sort: "", desc: false, page: ranked ? state.page : 0 }
      : { sort: state.sort, desc: state.desc, page: state.page };
    showRanking(ranked, result);
    if (userAction) $("stopped").hidden = true;
    $("count").textContent = run.count + " templates";
    renderRows(result.rows, Boolean(ranked));
    performance.mark("htl-catalogue-queryable");
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

function rowElement(row, ranked) {
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
  for (const [name, , kind, digits] of config.resultColumns) {
    if (name === "template_id") continue;
    const td = document.createElement("td");
    td.textContent = kind === "text" ? formatValue(row[name]) : formatValue(row[name], digits);
    if (kind !== "text") td.className = "num";
    if (name === "dataset") { td.className = "dataset"; td.title = td.textContent; }
    tr.append(td);
  }
  if (ranked) tr.append(similarityCell(row));
  return tr;
}

/** Show `rows` (objects with the results columns, `row` and `template_id`). */
export function renderRows(rows, ranked = false) {
  const body = $("rows");
  const withSimilarity = Boolean(body.querySelector("td.similarity"));
  const onScreen = [...body.querySelectorAll("tr")].map((tr) => tr.dataset.id);
  // Python taking over the rows the first paint showed: keep them (no flicker, no refetch).
  if (!ranked && !withSimilarity && onScreen.length === rows.length && rows.every((r, k) => r.template_id === onScreen[k])) {
    rows.forEach((r, k) => { body.children[k].dataset.row = String(r.row); });
    updatePager();
    return;
  }
  body.textContent = "";
  for (const row of rows) body.append(rowElement(row, ranked));
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
  for (const button of document.querySelectorAll("button.sort")) {
    button.addEventListener("click", () => {
      const column = button.dataset.column;
      clearRanking();  // a column's order replaces the similarity ranking
      if (state.sort === column) state.desc = !state.desc;
      else { state.sort = column; state.desc = false; }
      state.page = 0;
      runQuery(true);
    });
  }
}
