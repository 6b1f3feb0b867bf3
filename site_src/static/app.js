// The UI thread: renders and forwards events to the Python worker; it never runs Python.
// Every string from the data or the URL goes through textContent, never innerHTML; the only
// markup inserted is the SVG the page's Python built with every string escaped.
"use strict";

(function () {
  const config = JSON.parse(document.getElementById("site-config").textContent);
  const $ = (id) => document.getElementById(id);
  const PAGE_SIZE = config.pageSize || 25;

  // ---- state (mirrored in the URL so every view can be shared and reloaded) ----
  const params = new URLSearchParams(location.search);
  const state = {
    source: params.get("source") || config.defaultSource,
    q: params.get("q") || "",
    sel: (params.get("sel") || "").split(",").map((s) => s.trim()).filter(Boolean),
    view: params.get("view") || "",
    sort: params.get("sort") || "",
    desc: params.get("desc") === "1",
    page: Math.max(0, parseInt(params.get("page") || "1", 10) - 1) || 0,
  };
  let info = null;
  let count = 0;
  let renderToken = 0;

  function writeURL() {
    const p = new URLSearchParams();
    if (state.source !== config.defaultSource) p.set("source", state.source);
    if (state.q) p.set("q", state.q);
    if (state.sel.length) p.set("sel", state.sel.join(","));
    if (state.view) p.set("view", state.view);
    if (state.sort) p.set("sort", state.sort);
    if (state.desc) p.set("desc", "1");
    if (state.page) p.set("page", String(state.page + 1));
    const qs = p.toString();
    history.replaceState(null, "", location.pathname + (qs ? "?" + qs : ""));
  }

  // ---- worker ----
  const worker = new Worker(new URL(config.workerURL, location.href));
  const pending = new Map();
  let nextId = 1;
  function call(method, args) {
    const id = nextId++;
    return new Promise((resolve, reject) => {
      pending.set(id, { resolve, reject });
      worker.postMessage({ type: "call", id, method, args: args || {} });
    });
  }

  const STAGES = { runtime: "Starting Python…", packages: "Loading packages…", catalogue: "Reading catalogue…" };
  let busy = 0;
  function setStage(text, kind) {
    const el = $("stage");
    el.textContent = text;
    el.dataset.kind = kind || "";
  }
  function dataBusy(delta) {
    busy += delta;
    if (info) setStage(busy > 0 ? "Loading data…" : "Ready", busy > 0 ? "busy" : "ready");
  }

  worker.onmessage = (event) => {
    const msg = event.data;
    if (msg.type === "stage") setStage(STAGES[msg.stage] || msg.detail, "busy");
    else if (msg.type === "preview") onPreview(msg);
    else if (msg.type === "ready") onReady(msg.info);
    else if (msg.type === "fatal") showFatal(msg.error);
    else if (msg.type === "result") {
      const waiter = pending.get(msg.id);
      pending.delete(msg.id);
      if (!waiter) return;
      if (msg.ok) waiter.resolve(msg.result);
      else waiter.reject(msg.error);
    }
  };
  worker.onerror = (event) => showFatal({ kind: "internal", message: event.message || "the worker failed to start" });

  function describeError(error) {
    if (!error) return "Unknown error";
    if (error.kind === "missing") return "Not found: " + error.message + ". Is the source a template library root?";
    return error.message || String(error);
  }

  function showFatal(error) {
    setStage("Failed", "error");
    const box = $("fatal");
    box.hidden = false;
    box.textContent = "";
    const title = document.createElement("strong");
    title.textContent = { unreachable: "Cannot read the source. ", missing: "Missing object. ",
      catalogue: "The catalogue is malformed. ", data: "The data is damaged. ", input: "Bad source. " }[error.kind] || "Error. ";
    const text = document.createElement("span");
    text.textContent = describeError(error);
    box.append(title, text);
    $("count").textContent = "0 templates";
  }

  // ---- start ----
  function showSource() {
    const label = $("source-label");
    let kind = "custom";
    let host = "";
    try {
      const url = new URL(state.source);
      host = url.hostname;
      if (!/^https?:$/.test(url.protocol)) throw new Error("bad scheme");
    } catch (e) {
      return false;
    }
    if (state.source.replace(/\/?$/, "/") === config.publicSource) kind = "public";
    else if (host === "localhost" || host.startsWith("127.") || host === "[::1]") kind = "local";
    label.textContent = kind === "public" ? "public library (spikeinterface-template-database)" : kind + ": " + state.source;
    label.dataset.kind = kind;
    return true;
  }

  if (!showSource()) {
    $("source-label").textContent = state.source;
    showFatal({ kind: "input", message: "?source= must be an http(s) URL of a library root, not " + JSON.stringify(state.source) });
  } else {
    worker.postMessage({ type: "init", config: {
      pyodideIndexURL: new URL(config.pyodideIndexURL, location.href).href,
      wheelURL: new URL(config.wheelURL, location.href).href,
      source: state.source,
      pageSize: PAGE_SIZE,
      // Only the default view is the csv's first rows in file order.
      preview: !state.q && !state.sort && state.page === 0,
    } });
  }

  function onPreview(first) {
    if (info) return;
    renderRows(first.rows);
    $("count").textContent = "Counting templates…";
    for (const slot of document.querySelectorAll(".thumb-slot")) {
      const svg = first.thumbnails[slot.dataset.id];
      if (svg) { slot.innerHTML = svg; slot.removeAttribute("aria-busy"); }
    }
    for (const box of document.querySelectorAll("#rows input, #rows button")) box.disabled = true;
    performance.mark("htl-first-waveform");
  }

  function onReady(libraryInfo) {
    info = libraryInfo;
    setStage("Ready", "ready");
    if (info.library) {
      $("library-info").textContent = "· " + info.count + " templates in " + info.library.datasets +
        " datasets · built " + (info.library.created || "?");
    } else {
      $("library-info").textContent = "· " + info.count + " templates";
    }
    fillFilters();
    $("query").value = state.q;
    performance.mark("htl-catalogue-loaded");
    runQuery(false).then(() => {
      if (state.view) openView(state.view);
    });
    refreshBasket();
  }

  // ---- quick filters ----
  function option(value, text) {
    const o = document.createElement("option");
    o.value = value;
    o.textContent = text;
    return o;
  }
  function fillFilters() {
    for (const probe of info.probes) $("f-probe").append(option(probe, probe));
    for (const [area, n] of info.brain_areas) $("f-area").append(option(area, (area || "(none)") + " (" + n + ")"));
    const r = info.ranges;
    const hint = (id, key) => { if (r[key]) $(id).placeholder = String(Math.round(r[key][id.endsWith("max") ? 1 : 0])); };
    hint("f-amp-min", "amplitude_uv"); hint("f-amp-max", "amplitude_uv");
    hint("f-depth-min", "depth_along_probe"); hint("f-depth-max", "depth_along_probe");
    hint("f-snr-min", "signal_to_noise_ratio"); hint("f-spikes-min", "spikes_per_unit");
  }
  function pyString(text) {
    return "'" + text.replace(/\\/g, "\\\\").replace(/'/g, "\\'") + "'";
  }
  function filterExpression() {
    const parts = [];
    if ($("f-probe").value) parts.push("probe == " + pyString($("f-probe").value));
    if ($("f-area").value) parts.push("brain_area == " + pyString($("f-area").value));
    const num = (id, column, op) => {
      const v = $(id).value.trim();
      if (v !== "" && isFinite(Number(v))) parts.push(column + " " + op + " " + Number(v));
    };
    num("f-amp-min", "amplitude_uv", ">="); num("f-amp-max", "amplitude_uv", "<=");
    num("f-depth-min", "depth_along_probe", ">="); num("f-depth-max", "depth_along_probe", "<=");
    num("f-snr-min", "signal_to_noise_ratio", ">="); num("f-spikes-min", "spikes_per_unit", ">=");
    return parts.join(" and ");
  }
  $("filters").addEventListener("change", () => {
    $("query").value = filterExpression();
    submitQuery();
  });

  // ---- query + results ----
  function submitQuery() {
    state.q = $("query").value.trim();
    state.page = 0;
    runQuery(true);
  }
  $("query-form").addEventListener("submit", (event) => { event.preventDefault(); submitQuery(); });
  $("clear-query").addEventListener("click", () => {
    $("query").value = "";
    for (const el of $("filters").querySelectorAll("input, select")) el.value = "";
    submitQuery();
  });
  $("prev-page").addEventListener("click", () => { if (state.page > 0) { state.page--; runQuery(true); } });
  $("next-page").addEventListener("click", () => {
    if ((state.page + 1) * PAGE_SIZE < count) { state.page++; runQuery(true); }
  });
  for (const button of document.querySelectorAll("button.sort")) {
    button.addEventListener("click", () => {
      const column = button.dataset.column;
      if (state.sort === column) state.desc = !state.desc;
      else { state.sort = column; state.desc = false; }
      state.page = 0;
      runQuery(true);
    });
  }

  async function runQuery(userAction) {
    if (!info) return;
    const token = ++renderToken;
    $("query-error").textContent = "";
    try {
      const result = await call("query", { expression: state.q, sort_by: state.sort || null,
        descending: state.desc, offset: state.page * PAGE_SIZE, limit: PAGE_SIZE });
      if (token !== renderToken) return;
      count = result.count;
      state.page = Math.floor(result.offset / PAGE_SIZE);
      $("count").textContent = count + " templates";
      renderRows(result.rows);
      performance.mark("htl-catalogue-queryable");
      writeURL();
      loadThumbnails(result.rows.map((r) => r.template_id), token);
    } catch (error) {
      if (token !== renderToken) return;
      $("query-error").textContent = describeError(error);
      if (!userAction) { $("count").textContent = "0 templates"; renderRows([]); }
    }
  }

  function fmt(value, digits) {
    if (value === null || value === undefined) return "–";
    if (typeof value === "number") return digits === undefined ? String(value) : value.toFixed(digits);
    return String(value);
  }

  function renderRows(rows) {
    const body = $("rows");
    body.textContent = "";
    for (const row of rows) {
      const tr = document.createElement("tr");
      tr.dataset.id = row.template_id;
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
      const cells = [
        [row.dataset, "dataset"], [row.brain_area, ""], [fmt(row.depth_along_probe, 0), "num"],
        [fmt(row.amplitude_uv, 1), "num"], [fmt(row.signal_to_noise_ratio, 1), "num"],
        [fmt(row.spikes_per_unit), "num"], [row.probe, ""],
      ];
      for (const [text, cls] of cells) {
        const td = document.createElement("td");
        td.textContent = text;
        if (cls) td.className = cls;
        if (cls === "dataset") td.title = text;
        tr.append(td);
      }
      body.append(tr);
    }
    const pages = Math.max(1, Math.ceil(count / PAGE_SIZE));
    $("page-label").textContent = "Page " + (state.page + 1) + " of " + pages;
    $("prev-page").disabled = state.page === 0;
    $("next-page").disabled = state.page + 1 >= pages;
    for (const th of document.querySelectorAll("#results-table th[aria-sort]")) {
      const column = th.querySelector("button").dataset.column;
      th.setAttribute("aria-sort", column === state.sort ? (state.desc ? "descending" : "ascending") : "none");
    }
  }

  async function loadThumbnails(ids, token) {
    if (!ids.length) return;
    dataBusy(1);
    try {
      const svgs = await call("thumbnails", { template_ids: ids });
      if (token !== renderToken) return;
      for (const slot of document.querySelectorAll(".thumb-slot")) {
        const svg = svgs[slot.dataset.id];
        if (svg) { slot.innerHTML = svg; slot.removeAttribute("aria-busy"); }
      }
      if (!performance.getEntriesByName("htl-first-waveform").length) performance.mark("htl-first-waveform");
    } catch (error) {
      if (token === renderToken) $("query-error").textContent = "Waveforms: " + describeError(error);
    } finally {
      dataBusy(-1);
    }
  }

  // ---- template view ----
  async function openView(templateId) {
    state.view = templateId;
    writeURL();
    $("view-empty").textContent = "Loading " + templateId + "…";
    $("view-empty").hidden = false;
    dataBusy(1);
    try {
      const view = await call("view", { template_id: templateId });
      if (state.view !== templateId) return;
      $("view-empty").hidden = true;
      $("view-figure").innerHTML = view.svg;
      const dl = $("view-fields");
      dl.textContent = "";
      for (const [name, value] of view.fields) {
        const dt = document.createElement("dt");
        dt.textContent = name;
        const dd = document.createElement("dd");
        dd.textContent = typeof value === "number" && !Number.isInteger(value) ? value.toPrecision(5) : fmt(value);
        dl.append(dt, dd);
      }
      $("view").scrollIntoView({ block: "nearest" });
    } catch (error) {
      $("view-empty").textContent = describeError(error);
    } finally {
      dataBusy(-1);
    }
  }

  // ---- basket ----
  function toggleSelection(templateId, on) {
    const at = state.sel.indexOf(templateId);
    if (on && at < 0) state.sel.push(templateId);
    if (!on && at >= 0) state.sel.splice(at, 1);
    for (const box of document.querySelectorAll("#rows input[type=checkbox]")) {
      if (box.getAttribute("aria-label") === "Select " + templateId) box.checked = on;
    }
    writeURL();
    refreshBasket();
  }

  async function refreshBasket() {
    if (!info) return;
    if (state.sel.length) {
      const known = await call("known_ids", { template_ids: state.sel });
      if (known.length !== state.sel.length) {
        $("basket-note").textContent = (state.sel.length - known.length) + " selected template(s) are not in this catalogue and were dropped.";
        state.sel = known;
        writeURL();
      }
    }
    $("basket-count").textContent = "(" + state.sel.length + ")";
    const list = $("basket-list");
    list.textContent = "";
    for (const id of state.sel) {
      const li = document.createElement("li");
      const name = document.createElement("button");
      name.type = "button"; name.className = "link"; name.textContent = id;
      name.addEventListener("click", () => openView(id));
      const remove = document.createElement("button");
      remove.type = "button"; remove.textContent = "Remove"; remove.setAttribute("aria-label", "Remove " + id);
      remove.addEventListener("click", () => toggleSelection(id, false));
      li.append(name, " ", remove);
      list.append(li);
    }
    $("snippet").textContent = await call("snippet", { template_ids: state.sel });
  }

  $("clear-basket").addEventListener("click", () => {
    state.sel = [];
    for (const box of document.querySelectorAll("#rows input[type=checkbox]")) box.checked = false;
    writeURL();
    refreshBasket();
  });

  async function copyText(text, what) {
    try {
      await navigator.clipboard.writeText(text);
      $("basket-note").textContent = what + " copied.";
    } catch (e) {
      $("basket-note").textContent = "Copying is blocked here: select the text and copy it by hand.";
    }
  }
  $("copy-snippet").addEventListener("click", () => copyText($("snippet").textContent, "Code"));
  $("copy-link").addEventListener("click", () => copyText(location.href, "Link"));
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

  window.__htl = { state, call };
})();
