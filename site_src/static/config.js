// The page config: every fact the page shares with Python (results columns, quick filters,
// worker method groups and packages, limits and timeouts, file names, format rules), written
// into the page as JSON by generator/build.py from Python's declarations. Read once and frozen;
// a missing key is an error, never a silent default.

/** The keys the page cannot work without; `checkConfig` refuses a config that lacks one. */
export const REQUIRED_KEYS = [
  "pyodideIndexURL", "wheelURL", "workerURL", "defaultSource", "publicSource", "pageSize", "firstPaintHeadStartMs", "callTimeoutMs",
  "loadTimeoutMs", "bloscModuleURL", "dataCache", "catalogueFile", "manifestFile", "resultColumns",
  "methodGroups", "stagePackages", "catalogueCsv", "compactCatalogue", "previewFormat", "quickFilters", "extraColumns",
  "similarity", "ownWaveform", "hybridPreview",
];

/** `config` frozen (deeply), or an Error naming the first missing key. */
export function checkConfig(config) {
  for (const key of REQUIRED_KEYS) {
    if (config[key] === undefined) throw new Error("the page config lacks " + key);
  }
  return deepFreeze(config);
}

function deepFreeze(value) {
  if (value && typeof value === "object") {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

/** The page's config, from its `<script id="site-config">` block. */
export function pageConfig(doc) {
  return checkConfig(JSON.parse(doc.getElementById("site-config").textContent));
}
