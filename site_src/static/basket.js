// The Selection section (the basket): the selected templates grouped by probe, the Python
// snippet, Copy link, Download CSV and Cite (Download templates: download.js). Every string
// from the catalogue goes through textContent, never innerHTML.
import { fillHybridGroups } from "./hybrid_plot.js";
import { call, run, state, writeURL } from "./state.js";
import { $ } from "./status.js";
import { openView } from "./view.js";
import { describeError } from "./words.js";

const isReady = () => run.info !== null;

/** Add (`on`) or remove a template from the selection. */
export function toggleSelection(templateId, on) {
  const at = state.sel.indexOf(templateId);
  if (on && at < 0) state.sel.push(templateId);
  if (!on && at >= 0) state.sel.splice(at, 1);
  // The row's own box, found by the row's data-id (never by its accessible name).
  for (const tr of $("rows").children) {
    if (tr.dataset.id === templateId) tr.querySelector("input[type=checkbox]").checked = on;
  }
  writeURL();
  refreshBasket();
}

function item(id) {
  const li = document.createElement("li");
  const name = document.createElement("button");
  name.type = "button"; name.className = "link"; name.textContent = id;
  name.addEventListener("click", () => openView(id));
  const remove = document.createElement("button");
  remove.type = "button"; remove.textContent = "Remove"; remove.setAttribute("aria-label", "Remove " + id);
  remove.addEventListener("click", () => toggleSelection(id, false));
  li.append(name, " ", remove);
  return li;
}

// One heading per probe: a Templates object holds one probe, so the snippet returns one
// Templates per group, in this order.
function renderGroups(groups) {
  const list = $("basket-list");
  list.textContent = "";
  groups.forEach((group, k) => {
    const head = document.createElement("h3");
    head.className = "basket-probe";
    head.textContent = (group.probe || "(no probe name)") + " · " + group.template_ids.length +
      " template(s) · templates_by_probe[" + k + "]";
    const ol = document.createElement("ol");
    ol.setAttribute("aria-label", group.probe || "(no probe name)");
    for (const id of group.template_ids) ol.append(item(id));
    list.append(head, ol);
  });
}

/** The Selection section for `state.sel` (Python checks the IDs, groups them and writes the snippet). */
export async function refreshBasket() {
  $("basket-count").textContent = "(" + state.sel.length + ")";
  if (!isReady()) return;
  if (state.sel.length) {
    const known = await call("known_ids", { template_ids: state.sel });
    if (known.length !== state.sel.length) {
      $("basket-note").textContent = (state.sel.length - known.length) + " selected template(s) are not in this catalogue and were dropped.";
      state.sel = known;
      writeURL();
    }
  }
  $("basket-count").textContent = "(" + state.sel.length + ")";
  const groups = state.sel.length ? await call("basket_groups", { template_ids: state.sel }) : [];
  renderGroups(groups);
  fillHybridGroups(groups);
  // The hybrid preview's group, noise and seed (hybrid_plot.js), so the snippet is the one it drew.
  $("snippet").textContent = await call("snippet", { template_ids: state.sel, ...(run.hybrid || {}) });
  if (run.citeShown) await cite();
}

function showCitation(result) {
  const text = $("citation-text");
  text.textContent = "";
  for (const paragraph of result.text.split("\n\n")) {
    const p = document.createElement("p");
    p.textContent = paragraph;
    text.append(p);
  }
  $("citation-bibtex").textContent = result.bibtex;
  $("citation").hidden = false;
}

async function cite() {
  run.citeShown = true;
  try {
    showCitation(await call("cite", { template_ids: state.sel }));
  } catch (error) {
    $("basket-note").textContent = "Citation: " + describeError(error);
  }
}

async function copyText(text, what) {
  try {
    await navigator.clipboard.writeText(text);
    $("basket-note").textContent = what + " copied.";
  } catch (e) {
    $("basket-note").textContent = "Copying is blocked here: select the text and copy it by hand.";
  }
}

/** The section's buttons. */
export function bindBasket() {
  $("clear-basket").addEventListener("click", () => {
    state.sel = [];
    for (const box of document.querySelectorAll("#rows input[type=checkbox]")) box.checked = false;
    writeURL();
    refreshBasket();
  });
  $("copy-snippet").addEventListener("click", () => copyText($("snippet").textContent, "Code"));
  $("copy-link").addEventListener("click", () => copyText(location.href, "Link"));
  $("cite").addEventListener("click", () => { if (isReady()) cite(); });
  $("copy-citation").addEventListener("click", () => copyText($("citation-bibtex").textContent, "BibTeX"));
  $("download-csv").addEventListener("click", async () => {
    const csv = await call("selection_csv", { template_ids: state.sel });
    const url = URL.createObjectURL(new Blob([csv], { type: "text/csv" }));
    const a = document.createElement("a");
    a.href = url;
    a.download = "hybrid_templates_selection.csv";
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  });
}
