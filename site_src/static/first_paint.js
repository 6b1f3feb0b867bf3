// The first paint: rows and waveforms before Python (docs/site.md "How the page starts").
// While the worker boots Pyodide, this thread fetches the head of templates.csv (a Range
// request), library.json and the first page's preview shard, paints the first page of rows
// with their waveforms, and hands what it fetched to Python (state.handOver) so that nothing
// is fetched twice. Only the default order is the csv's file order, so only then are rows
// painted early; with a query or a sort the rows are Python's to find.
import { addFallbackIds, concatBytes, readCatalogueHead } from "./catalogue_csv.js";
import { PreviewStore, sha256Hex } from "./previews.js";
import { renderRows } from "./results.js";
import { call, config, firstObjects, firstPaintHeadStart, handOver, root, run, state } from "./state.js";
import { $, notePreviewProblem } from "./status.js";
import { drawChunkPreviews, drawThumbnails, previewRequest } from "./thumbnails.js";

const PAGE_SIZE = config.pageSize;

function fetchLibraryObject(name) {
  // "no-cache": revalidate (ETag), so a republished catalogue is never shown stale.
  return fetch(root + name, { cache: "no-cache" });
}

/** The compact catalogue's entry (docs/format.md) when library.json lists a usable one. */
export function compactEntry(manifest, spec) {
  const entry = manifest && manifest[spec.manifestKey];
  if (!entry || entry.file !== spec.file || !Number.isInteger(entry.bytes) || entry.bytes < 0 ||
      entry.bytes > spec.maxBytes || entry.templates_csv_sha256 !== manifest.templates_csv_sha256) return null;
  return entry;
}

/** More rows than the page holds: fetch neither form; Python says so in words. */
export function tooLarge(manifest, spec) {
  const entry = manifest && manifest[spec.manifestKey];
  return !!entry && Number.isInteger(entry.rows) && entry.rows > spec.maxRows;
}

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
  return concatBytes(parts, size);
}

async function fetchWholeCsv() {
  try {
    const response = await fetchLibraryObject(config.catalogueFile);
    return response.ok ? new Uint8Array(await response.arrayBuffer()) : null;
  } catch (e) {
    return null;  // Python fetches it again and explains the failure in words
  }
}

// library.json, parsed (null if absent or not JSON); its bytes go to Python and the offline cache.
async function readManifest(manifestPromise) {
  const response = await manifestPromise;
  let manifestBytes = null;
  let manifest = null;
  if (response && response.ok) {
    manifestBytes = new Uint8Array(await response.arrayBuffer());
    try { manifest = JSON.parse(new TextDecoder().decode(manifestBytes)); } catch (e) { manifest = null; }
  }
  handOver.manifest = manifestBytes;
  if (manifestBytes) firstObjects[config.manifestFile] = { bytes: manifestBytes, type: "application/json" };
  handOver.manifestMissing = !!response && (response.status === 404 || response.status === 403);
  return manifest;
}

/** Fetch, paint and hand over; resolves once Python has what it needs (handOver.promise). */
export async function firstPaint() {
  const spec = config.compactCatalogue;
  const earlyPaint = !state.q && !state.sort;
  // Only the head of templates.csv (a Range request): the first page's rows. The rest is
  // fetched only when Python needs it (no compact catalogue), so a large catalogue costs its
  // compact form, never its csv. A server that ignores Range sends it all: read as before.
  const csvPromise = fetch(root + config.catalogueFile,
    { cache: "no-cache", headers: { Range: "bytes=0-" + (config.catalogueCsv.headBytes - 1) } });
  const manifestPromise = fetchLibraryObject(config.manifestFile).catch(() => null);
  // The preview shard of the first page's rows, fetched with the csv.
  const firstShard = Math.floor(state.page * PAGE_SIZE / config.previewFormat.rowsPerShard);
  const shardName = config.previewFormat.dir + "/" + firstShard + ".bin";
  const shardPromise = earlyPaint ? fetchLibraryObject(shardName).catch(() => null) : null;
  const manifestRead = readManifest(manifestPromise);
  // Fetched while Python boots, after the first page's waveforms (at 1,000,000 rows its 8.9 MB
  // delayed them); with it, the csv is only read as far as the first page.
  const compactRead = manifestRead.then(async (m) => {
    const entry = compactEntry(m, spec);
    if (!entry || tooLarge(m, spec)) return null;
    await firstPaintHeadStart;
    const response = await fetchLibraryObject(spec.file);
    return response.ok ? readBounded(response, entry.bytes) : null;
  }).catch(() => null);
  run.previewsReady = (async () => {
    run.previews = new PreviewStore(root, await manifestRead, { format: config.previewFormat, timeoutMs: config.callTimeoutMs });
    // Not awaited: a shard that never answers costs its thumbnails (bounded), never the boot.
    if (run.previews.usable && shardPromise) {
      run.previews.adoptResponse(firstShard, shardPromise, (bytes) => {
        firstObjects[shardName] = { bytes, type: "application/octet-stream" };
      });
    }
    return run.previews;
  })();

  let response;
  try {
    response = await csvPromise;
  } catch (e) {
    response = null;  // Python fetches it again and explains the failure in words
  }
  const first = state.page * PAGE_SIZE;
  let usesCompact = false;
  manifestRead.then((m) => { usesCompact = !!compactEntry(m, spec) || tooLarge(m, spec); });
  const bytes = response && response.ok ? await readCatalogueHead(response, {
    rules: config.catalogueCsv,
    // Only the default order is the csv's file order, so only then is the head worth parsing.
    rows: earlyPaint ? first + PAGE_SIZE : 0,
    onRows: (reader) => paintEarlyRows(reader.rows.slice(first, first + PAGE_SIZE), reader),
    // With a compact catalogue Python needs none of the rest: stop the download.
    enough: () => usesCompact,
  }) : null;
  handOver.compact = await compactRead;
  const manifest = await manifestRead;
  // No compact catalogue for Python: it needs the whole csv, which the head did not hold.
  handOver.csv = bytes || (handOver.compact || tooLarge(manifest, spec) ? null : await fetchWholeCsv());
  if (handOver.csv) firstObjects[config.catalogueFile] = { bytes: handOver.csv, type: "text/csv; charset=utf-8" };
  if (handOver.compact) firstObjects[spec.file] = { bytes: handOver.compact, type: "application/octet-stream" };
  await run.previewsReady;
  handOver.resolve();
  if (handOver.csv && run.previews.usable && manifest &&
      (await sha256Hex(handOver.csv)) !== manifest.templates_csv_sha256) {
    notePreviewProblem("templates.csv does not match library.json");
  }
}

async function paintEarlyRows(rows, reader) {
  // A live csv has no template_id: its rows get the format's fallback IDs, as in Python. IDs
  // of another form are Python's to show: nothing is painted early for them.
  if (!rows.length || run.info || !(await addFallbackIds(reader))) return;
  if (!rows.every((r) => /^[0-9a-f]{16}$/.test(r.template_id))) return;
  const earlyToken = run.renderToken;
  renderRows(rows);
  $("count").textContent = "Showing the first rows · queries start once Python has loaded";
  const store = await run.previewsReady;
  if (run.info || run.renderToken !== earlyToken) return;
  const found = await store.lookup(rows);
  if (run.info || run.renderToken !== earlyToken) return;
  if (found.size === rows.length) {
    drawThumbnails(found);
    return;
  }
  notePreviewProblem(store.problem || "library.json lists no previews");
  // No usable previews: Python draws the data for them from the template chunks, before pandas.
  try {
    run.earlyChunks = call("preview_rows", { rows: rows.map(previewRequest) });
    const answer = await run.earlyChunks;
    if (run.info || run.renderToken !== earlyToken) return;
    drawChunkPreviews(answer);
  } catch (error) {
    // The full load that follows reports problems in words.
  }
}
