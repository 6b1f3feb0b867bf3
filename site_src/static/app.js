// The UI thread: renders and forwards events to the Python worker; it never runs Python.
// Every string from the data or the URL goes through textContent, never innerHTML; the only
// markup inserted is the template view's SVG, which the page's Python built with every
// string escaped. Thumbnails are drawn by previews.js (one renderer for the whole page).
//
// Speed: the worker (Pyodide) starts first; meanwhile this thread fetches templates.csv
// (streamed), library.json and the first preview shard, and paints the first page of rows
// with their waveforms without waiting for Python (docs/site.md "How the page starts").
"use strict";

(function (HTL) {
  const config = JSON.parse(document.getElementById("site-config").textContent);
  const $ = (id) => document.getElementById(id);
  for (const key of ["pageSize", "callTimeoutMs", "loadTimeoutMs", "methodGroups", "stagePackages", "compactCatalogue"]) {
    if (config[key] === undefined) throw new Error("the page config lacks " + key);
  }
  const PAGE_SIZE = config.pageSize;
  const COLUMNS = config.resultColumns;  // [[name, title, kind], ...] from the generator

  // ---- state (mirrored in the URL so every view can be shared and reloaded) ----
  const params = new URLSearchParams(location.search);
  const state = {
    source: params.get("source") || config.defaultSource,
    q: params.get("q") || "",
    sel: [...new Set((params.get("sel") || "").split(",").map((s) => s.trim()).filter(Boolean))],
    view: params.get("view") || "",
    sort: params.get("sort") || "",
    desc: params.get("desc") === "1",
    page: Math.max(0, parseInt(params.get("page") || "1", 10) - 1) || 0,
  };
  // A shared link can only sort by a results column; anything else is dropped, and said so.
  const sortNote = state.sort && !COLUMNS.some(([name]) => name === state.sort)
    ? "?sort=" + JSON.stringify(state.sort.slice(0, 60)) + " is not a results column; the default order is shown." : "";
  if (sortNote) { state.sort = ""; state.desc = false; }
  let info = null;
  let count = 0;
  let renderToken = 0;
  let previews = null;        // HTL.PreviewStore once library.json is known
  let previewsReady = null;   // Promise<PreviewStore|null>
  let earlyChunks = null;     // the first paint's preview_rows call, when previews are unusable

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

  // ---- source ----
  function sourceIsValid() {
    try {
      const url = new URL(state.source);
      return /^https?:$/.test(url.protocol);
    } catch (e) {
      return false;
    }
  }
  function showSource() {
    const label = $("source-label");
    const host = new URL(state.source).hostname;
    let kind = "custom";
    if (state.source.replace(/\/?$/, "/") === config.publicSource) kind = "public";
    else if (host === "localhost" || host.startsWith("127.") || host === "[::1]") kind = "local";
    label.textContent = kind === "public" ? "public library (spikeinterface-template-database)" : kind + ": " + state.source;
    label.dataset.kind = kind;
  }
  const validSource = sourceIsValid();
  const sourceRoot = validSource ? state.source.replace(/\/?$/, "/") : "";

  // What the first paint fetched, filed for offline use once the service worker is there.
  const firstObjects = {};
  // What the UI thread fetched, handed to Python (again after a restart) so nothing is fetched twice.
  const handOver = { csv: null, compact: null, manifest: null, manifestMissing: false, done: false };
  handOver.promise = new Promise((resolve) => { handOver.resolve = () => { if (!handOver.done) { handOver.done = true; resolve(); } }; });

  // ---- worker: started before anything else so Pyodide's boot overlaps everything below ----
  // A call that runs too long stops the worker and starts a fresh one (worker_client.js).
  const client = validSource ? new HTL.WorkerClient({
    url: new URL(config.workerURL, location.href),
    init: { pyodideIndexURL: new URL(config.pyodideIndexURL, location.href).href,
      wheelURL: new URL(config.wheelURL, location.href).href, source: state.source,
      bloscModuleURL: config.bloscModuleURL ? new URL(config.bloscModuleURL, location.href).href : null,
      methodGroups: config.methodGroups, stagePackages: config.stagePackages, loadTimeoutMs: config.loadTimeoutMs },
    catalogue: () => handOver.promise.then(() => ({ type: "catalogue", csv: handOver.csv, compact: handOver.compact,
      manifest: handOver.manifest, manifestMissing: handOver.manifestMissing })),
    callTimeoutMs: config.callTimeoutMs,
    loadTimeoutMs: config.loadTimeoutMs,
    bootMethods: new Set(config.methodGroups.boot),
    onMessage: (msg) => {
      if (msg.type === "stage" && (msg.stage === "later" || msg.stage === "ready")) {
        // A call waits for the rest of Python (or no longer does): said until it runs.
        waitingForPython = msg.stage === "later";
        if (info) dataBusy(0);
      } else if (msg.type === "stage") setStage(STAGES[msg.stage] || msg.detail, "busy");
      else if (msg.type === "milestone") {
        performance.mark("htl-py-" + msg.name, { startTime: msg.at - performance.timeOrigin, detail: msg.detail });
      }
      else if (msg.type === "ready") onReady(msg.info);
      else if (msg.type === "fatal") showFatal(msg.error);
    },
    onError: (event) => showFatal({ kind: "internal", message: event.message || "the worker failed to start" }),
    onRestart: (message, stopped) => onRestart(message, stopped),
    onLoadStopped: (message) => showFatal({ kind: "stopped", message }),
  }) : null;
  if (client) client.start();
  const call = (method, args) => client.call(method, args);
  let restarted = false;  // a fresh worker after a stopped call: never re-run what was stopped
  let queryAfterRestart = false;  // the visitor asked for a query while Python restarted
  let shown = state;      // the order and page the table shows (the defaults after a restart)

  const STAGES = { runtime: "Starting Python…", catalogue: "Reading catalogue…", later: "Loading the rest of Python…" };
  let busy = 0;
  let stageText = "Starting Python…";
  let previewNote = "";
  let catalogueNote = "";  // why the compact catalogue was not used, from Python
  function setStage(text, kind) {
    stageText = text;
    const el = $("stage");
    const notes = kind === "error" ? [] : [catalogueNote, previewNote].filter(Boolean);
    el.textContent = [text, ...notes].join(" · ");
    el.dataset.kind = kind || "";
  }
  function notePreviewProblem(problem) {
    if (!problem || previewNote) return;
    previewNote = "previews unavailable (" + problem + "), thumbnails come from the templates";
    setStage(stageText, $("stage").dataset.kind);
  }
  let waitingForPython = false;
  function dataBusy(delta) {
    busy += delta;
    if (!info) return;
    if (waitingForPython) setStage(STAGES.later, "busy");
    else setStage(busy > 0 ? "Loading data…" : "Ready", busy > 0 ? "busy" : "ready");
  }

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
      catalogue: "The catalogue is malformed. ", too_large: "Too large for this page. ", data: "The data is damaged. ", input: "Bad source. ", stopped: "Stopped. " }[error.kind] || "Error. ";
    const text = document.createElement("span");
    text.textContent = describeError(error);
    box.append(title, text);
    $("count").textContent = "0 templates";
    // Rows painted before Python refused the catalogue must not stay on screen as if valid.
    if (!info) { $("rows").textContent = ""; updatePager(); }
  }

  // ---- first paint: rows and waveforms before Python ----
  // Only the default order is the csv's file order, so only then can rows be painted early.
  const earlyPaint = !state.q && !state.sort;

  async function fetchLibraryObject(name) {
    // "no-cache": revalidate (ETag), so a republished catalogue is never shown stale.
    return fetch(sourceRoot + name, { cache: "no-cache" });
  }

  // The compact catalogue (docs/format.md) when library.json lists a usable one: the UI thread
  // fetches it for Python, bounded by the size the entry declares. Python checks its sha256.
  function compactEntry(manifest) {
    const spec = config.compactCatalogue;
    const entry = manifest && manifest[spec.manifestKey];
    if (!entry || entry.file !== spec.file || !Number.isInteger(entry.bytes) || entry.bytes < 0 ||
        entry.bytes > spec.maxBytes || entry.templates_csv_sha256 !== manifest.templates_csv_sha256) return null;
    return entry;
  }
  // More rows than the page holds: fetch neither form; Python says so in words.
  const tooLarge = (manifest) => {
    const entry = manifest && manifest[config.compactCatalogue.manifestKey];
    return !!entry && Number.isInteger(entry.rows) && entry.rows > config.compactCatalogue.maxRows;
  };

  async function readBounded(response, limit) {
    const reader = response.body.getReader();
    const parts = [];
    let size = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.length;
      if (size > limit) { reader.cancel(); return null; }
      parts.push(value);
    }
    return HTL.concatBytes(parts, size);
  }

  async function fetchWholeCsv() {
    try {
      const response = await fetchLibraryObject(config.catalogueFile);
      return response.ok ? new Uint8Array(await response.arrayBuffer()) : null;
    } catch (e) {
      return null;  // Python fetches it again and explains the failure in words
    }
  }

  async function firstPaint() {
    // Only the head of templates.csv (a Range request): the first page's rows. The rest is
    // fetched only when Python needs it (no compact catalogue), so a large catalogue costs its
    // compact form, never its csv. A server that ignores Range sends it all: read as before.
    const csvPromise = fetch(sourceRoot + config.catalogueFile,
      { cache: "no-cache", headers: { Range: "bytes=0-" + (config.catalogueCsv.headBytes - 1) } });
    const manifestPromise = fetchLibraryObject(config.manifestFile).catch(() => null);
    // The preview shard of the first page's rows, fetched with the csv (only the default order
    // is the csv's order; with a query or a sort the rows are Python's to find).
    const firstShard = Math.floor(state.page * PAGE_SIZE / config.previewFormat.rowsPerShard);
    const shardName = config.previewFormat.dir + "/" + firstShard + ".bin";
    const shardPromise = earlyPaint ? fetchLibraryObject(shardName).catch(() => null) : null;
    let manifest = null;
    const manifestRead = (async () => {
      const response = await manifestPromise;
      let manifestBytes = null;
      if (response && response.ok) {
        manifestBytes = new Uint8Array(await response.arrayBuffer());
        try { manifest = JSON.parse(new TextDecoder().decode(manifestBytes)); } catch (e) { manifest = null; }
      }
      handOver.manifest = manifestBytes;
      if (manifestBytes) firstObjects[config.manifestFile] = { bytes: manifestBytes, type: "application/json" };
      handOver.manifestMissing = !!response && (response.status === 404 || response.status === 403);
      return manifest;
    })();
    // Fetched while Python boots; with it, the csv is only read as far as the first page.
    const compactRead = manifestRead.then(async (m) => {
      const entry = compactEntry(m);
      if (!entry || tooLarge(m)) return null;
      const response = await fetchLibraryObject(config.compactCatalogue.file);
      return response.ok ? readBounded(response, entry.bytes) : null;
    }).catch(() => null);
    previewsReady = (async () => {
      previews = new HTL.PreviewStore(sourceRoot, await manifestRead);
      // Not awaited: a shard that never answers costs its thumbnails (bounded), never the boot.
      if (previews.usable && shardPromise) {
        previews.adoptResponse(firstShard, shardPromise, (bytes) => {
          firstObjects[shardName] = { bytes, type: "application/octet-stream" };
        });
      }
      return previews;
    })();

    let response;
    try {
      response = await csvPromise;
    } catch (e) {
      response = null;  // Python fetches it again and explains the failure in words
    }
    const first = state.page * PAGE_SIZE;
    let usesCompact = false;
    manifestRead.then((m) => { usesCompact = !!compactEntry(m) || tooLarge(m); });
    const bytes = response && response.ok ? await HTL.readCatalogueHead(response, {
      rules: config.catalogueCsv,
      // Only the default order is the csv's file order, so only then is the head worth parsing.
      rows: earlyPaint ? first + PAGE_SIZE : 0,
      onRows: (reader) => paintEarlyRows(reader.rows.slice(first, first + PAGE_SIZE), reader),
      // With a compact catalogue Python needs none of the rest: stop the download.
      enough: () => usesCompact,
    }) : null;
    handOver.compact = await compactRead;
    // No compact catalogue for Python: it needs the whole csv, which the head did not hold.
    handOver.csv = bytes || (handOver.compact || tooLarge(await manifestRead) ? null : await fetchWholeCsv());
    if (handOver.csv) firstObjects[config.catalogueFile] = { bytes: handOver.csv, type: "text/csv; charset=utf-8" };
    if (handOver.compact) {
      firstObjects[config.compactCatalogue.file] = { bytes: handOver.compact, type: "application/octet-stream" };
    }
    await previewsReady;
    handOver.resolve();
    if (handOver.csv && previews.usable && manifest &&
        (await HTL.sha256Hex(handOver.csv)) !== manifest.templates_csv_sha256) {
      notePreviewProblem("templates.csv does not match library.json");
    }
  }

  async function paintEarlyRows(rows, reader) {
    // A live csv has no template_id: its rows get the format's fallback IDs, as in Python. IDs
    // of another form are Python's to show: nothing is painted early for them.
    if (!rows.length || info || !(await HTL.addFallbackIds(reader))) return;
    if (!rows.every((r) => /^[0-9a-f]{16}$/.test(r.template_id))) return;
    const earlyToken = renderToken;
    renderRows(rows);
    $("count").textContent = "Showing the first rows · queries start once Python has loaded";
    const store = await previewsReady;
    if (info || renderToken !== earlyToken) return;
    const found = await store.lookup(rows);
    if (info || renderToken !== earlyToken) return;
    if (found.size === rows.length) {
      drawThumbnails(found);
      return;
    }
    notePreviewProblem(store.problem || "library.json lists no previews");
    // No usable previews: Python draws the data for them from the template chunks, before pandas.
    try {
      earlyChunks = call("preview_rows", { rows: rows.map(previewRequest) });
      const answer = await earlyChunks;
      if (info || renderToken !== earlyToken) return;
      drawChunkPreviews(answer);
    } catch (error) {
      // The full load that follows reports problems in words.
    }
  }

  function previewRequest(row) {
    return { template_id: row.template_id || null, dataset: row.dataset, template_index: row.template_index,
      best_channel_index: row.best_channel_index };
  }

  // Previews Python computed from template chunks; a damaged dataset or an unusable row is
  // named in words (in its slot and the alert), the rest drawn.
  function drawChunkPreviews(answer) {
    drawThumbnails(new Map(answer.filter((a) => a.preview).map((a) => [a.template_id, a.preview])));
    const errors = new Map(answer.filter((a) => a.error).map((a) => [String(a.template_id), String(a.error)]));
    for (const slot of document.querySelectorAll(".thumb-slot")) {
      if (!errors.has(slot.dataset.id) || slot.dataset.drawn === "1") continue;
      slot.textContent = "no waveform";
      slot.title = errors.get(slot.dataset.id);
      slot.removeAttribute("aria-busy");
    }
    const failed = [...new Set(errors.values())];
    if (failed.length) $("query-error").textContent = "Waveforms: " + failed.join(" · ");
  }

  // `found`: a Map template_id -> preview (a Map, so an ID like "__proto__" is a key like any other).
  function drawThumbnails(found) {
    let drawn = 0;
    for (const slot of document.querySelectorAll(".thumb-slot")) {
      const preview = found.get(slot.dataset.id);
      if (!preview || slot.dataset.drawn === "1") continue;
      slot.textContent = "";
      slot.append(HTL.sparkline(slot.dataset.id, preview));
      slot.dataset.drawn = "1";
      slot.removeAttribute("aria-busy");
      drawn++;
    }
    if (drawn && !performance.getEntriesByName("htl-first-waveform").length) performance.mark("htl-first-waveform");
  }

  // ---- a call ran too long: the worker was stopped and a fresh one is starting ----
  function onRestart(message, stopped) {
    info = null;
    restarted = true;
    renderToken++;  // answers still in flight belong to the stopped worker
    setStage("Restarting Python…", "busy");
    $("count").textContent = "Restarting Python…";
    $("stopped").textContent = message;
    $("stopped").hidden = false;
    // A stopped view leaves the URL, so that reloading the page does not open it again.
    if (stopped.method === "view" && state.view === stopped.args.template_id) { state.view = ""; writeURL(); }
    updatePager();
  }

  // ---- Python is ready ----
  function onReady(libraryInfo) {
    info = libraryInfo;
    setStage("Ready", "ready");
    if (restarted) {
      // Keep the query text, selection, sort and page; show the default results, re-run nothing
      // but what the visitor asked for while Python restarted.
      const asked = queryAfterRestart;
      queryAfterRestart = false;
      runQuery(asked, !asked);
      refreshBasket();
      return;
    }
    if (info.library) {
      const datasets = info.library.datasets === null ? "" : " in " + info.library.datasets + " datasets";
      $("library-info").textContent = "· " + info.count + " templates" + datasets + " · built " + (info.library.created || "?");
    } else {
      $("library-info").textContent = "· " + info.count + " templates";
    }
    if (info.catalogue_note) { catalogueNote = info.catalogue_note; setStage(stageText, "ready"); }
    fillFilters();
    performance.mark("htl-catalogue-loaded");
    runQuery(false).then(() => {
      if (sortNote && !$("query-error").textContent) $("query-error").textContent = sortNote;
      if (state.view) openView(state.view);
    });
    refreshBasket();
    HTL.registerOffline(config, sourceRoot, firstObjects);
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
    return "'" + text.replace(/\\/g, "\\\\").replace(/'/g, "\\'").replace(/\n/g, "\\n").replace(/\r/g, "\\r") + "'";
  }
  function filterExpression() {
    const parts = [];
    if ($("f-probe").value) parts.push("probe == " + pyString($("f-probe").value));
    if ($("f-area").value) parts.push("brain_area == " + pyString($("f-area").value));
    // `scale` turns the box's unit into the column's (peak-to-trough: ms in the box, s in the csv).
    const num = (id, column, op, scale = 1) => {
      const v = $(id).value.trim();
      if (v !== "" && isFinite(Number(v))) parts.push(column + " " + op + " " + Number(v) * scale);
    };
    num("f-amp-min", "amplitude_uv", ">="); num("f-amp-max", "amplitude_uv", "<=");
    num("f-depth-min", "depth_along_probe", ">="); num("f-depth-max", "depth_along_probe", "<=");
    num("f-snr-min", "signal_to_noise_ratio", ">="); num("f-spikes-min", "spikes_per_unit", ">=");
    num("f-ptt-min", "peak_to_trough_duration", ">=", 1e-3); num("f-ptt-max", "peak_to_trough_duration", "<=", 1e-3);
    num("f-spread-min", "spread", ">=");
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
  $("query").value = state.q;
  $("query-form").addEventListener("submit", (event) => { event.preventDefault(); submitQuery(); });
  $("clear-query").addEventListener("click", () => {
    $("query").value = "";
    for (const el of $("filters").querySelectorAll("input, select")) el.value = "";
    state.sort = "";
    state.desc = false;
    submitQuery();
  });
  $("prev-page").addEventListener("click", () => { if (shown.page > 0) { state.page = shown.page - 1; runQuery(true); } });
  $("next-page").addEventListener("click", () => {
    if ((shown.page + 1) * PAGE_SIZE < count) { state.page = shown.page + 1; runQuery(true); }
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

  async function runQuery(userAction, defaults) {
    if (!info) {
      // Python is restarting: the visitor's query waits for it, and the page says so.
      if (restarted && userAction) {
        queryAfterRestart = true;
        $("count").textContent = "Restarting Python… your query runs once it is back";
      }
      return;
    }
    const token = ++renderToken;
    $("query-error").textContent = "";
    const ask = defaults ? { expression: "", sort_by: null, descending: false, offset: 0 }
      : { expression: state.q, sort_by: state.sort || null, descending: state.desc, offset: state.page * PAGE_SIZE };
    try {
      const result = await call("query", { ...ask, limit: PAGE_SIZE });
      if (token !== renderToken) return;
      count = result.count;
      shown = defaults ? { sort: "", desc: false, page: 0 } : state;
      if (!defaults) state.page = Math.floor(result.offset / PAGE_SIZE);
      if (userAction) $("stopped").hidden = true;
      $("count").textContent = count + " templates";
      renderRows(result.rows);
      performance.mark("htl-catalogue-queryable");
      client.notify({ type: "queryable" });  // the worker's background stages start now
      if (!defaults) writeURL();
      loadThumbnails(result.rows, token);
    } catch (error) {
      if (token !== renderToken || error.kind === "stopped") return;  // the stop is explained in #stopped
      $("query-error").textContent = describeError(error);
      if (!userAction) { $("count").textContent = "0 templates"; renderRows([]); }
    }
  }

  function fmt(value, digits) {
    if (value === null || value === undefined) return "–";
    if (typeof value === "number") return digits === undefined ? String(value) : value.toFixed(digits);
    return String(value);
  }

  function updatePager() {
    const pages = Math.max(1, Math.ceil(count / PAGE_SIZE));
    $("page-label").textContent = info ? "Page " + (shown.page + 1) + " of " + pages : "Page " + (shown.page + 1);
    $("prev-page").disabled = !info || shown.page === 0;
    $("next-page").disabled = !info || shown.page + 1 >= pages;
    for (const th of document.querySelectorAll("#results-table th[aria-sort]")) {
      const column = th.querySelector("button").dataset.column;
      th.setAttribute("aria-sort", column === shown.sort ? (shown.desc ? "descending" : "ascending") : "none");
    }
  }

  function renderRows(rows) {
    const body = $("rows");
    const onScreen = [...body.querySelectorAll("tr")].map((tr) => tr.dataset.id);
    // Python taking over the rows the first paint showed: keep them (no flicker, no refetch).
    if (onScreen.length === rows.length && rows.every((r, k) => r.template_id === onScreen[k])) {
      rows.forEach((r, k) => { body.children[k].dataset.row = String(r.row); });
      updatePager();
      return;
    }
    body.textContent = "";
    for (const row of rows) {
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
      for (const [name, , kind, digits] of COLUMNS) {
        if (name === "template_id") continue;
        const td = document.createElement("td");
        td.textContent = kind === "text" ? fmt(row[name]) : fmt(row[name], digits === null ? undefined : digits);
        if (kind !== "text") td.className = "num";
        if (name === "dataset") { td.className = "dataset"; td.title = td.textContent; }
        tr.append(td);
      }
      body.append(tr);
    }
    updatePager();
  }

  async function loadThumbnails(rows, token) {
    // The first paint's chunk previews may still be on their way: never fetch them twice.
    if (earlyChunks) await earlyChunks.catch(() => null);
    if (token !== renderToken) return;
    const missing = rows.filter((r) => {
      const slot = document.querySelector(`.thumb-slot[data-id="${CSS.escape(String(r.template_id))}"]`);
      return slot && slot.dataset.drawn !== "1";
    });
    if (!missing.length) return;
    dataBusy(1);
    try {
      const store = await previewsReady;
      const found = store ? await store.lookup(missing) : new Map();
      if (token !== renderToken) return;
      drawThumbnails(found);
      const rest = missing.filter((r) => !found.has(r.template_id));
      if (!rest.length) return;
      if (store) notePreviewProblem(store.problem);
      const answer = await call("preview_rows", { rows: rest.map(previewRequest) });
      if (token !== renderToken) return;
      drawChunkPreviews(answer);
    } catch (error) {
      // Words, never a raw script error: the worker's errors carry a kind, anything else does not.
      if (token === renderToken) {
        $("query-error").textContent = "Waveforms: " + (error && error.kind ? describeError(error) : "the thumbnails could not be drawn");
      }
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

  HTL.app = { state, call, openView, writeURL, describeError, isReady: () => info !== null };
  // The Selection section (basket.js): grouped list, snippet, Copy link, Download CSV, Cite.
  const basket = HTL.makeBasket(HTL.app);
  const toggleSelection = basket.toggleSelection;
  const refreshBasket = basket.refresh;
  HTL.app.toggleSelection = toggleSelection;
  if (!validSource) {
    $("source-label").textContent = state.source;
    showFatal({ kind: "input", message: "?source= must be an http(s) URL of a library root, not " + JSON.stringify(state.source) });
  } else {
    showSource();
    updatePager();
    firstPaint().catch(() => handOver.resolve());
  }

  window.__htl = { state, call };
})(self.HTL = self.HTL || {});
