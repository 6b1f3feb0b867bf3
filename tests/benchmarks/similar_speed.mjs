// Times "Similar templates" over 100,000 rows in the page's runtime: the offline bundle's Pyodide
// and numpy, running templatelib.similar as the worker does (index built once, then per call:
// scores, ranking, one page of rows). Prints one JSON line ("RESULT {...}") for similar_speed.py.
//
// Usage: node tests/benchmarks/similar_speed.mjs <bundle-dir> <site_src-dir>

import path from "node:path";
import { pathToFileURL } from "node:url";

// Offline: a package missing from the bundle fails instead of downloading.
globalThis.fetch = async (resource) => {
  throw new Error(`network access attempted during offline boot: ${resource}`);
};

const PYTHON = `
import json, sys, time
sys.path.insert(0, "/src")
import numpy as np
from templatelib import format as fmt
from templatelib.column_table import ColumnTable, TextColumn
from templatelib.similar import PreviewIndex, Ranking, similarity_page

n = 100_000
rng = np.random.default_rng(0)
ids = [f"{k:016x}" for k in range(n)]
table = ColumnTable({"template_id": TextColumn.from_strings(ids),
                     "amplitude_uv": rng.uniform(20, 500, n)})
steps = rng.integers(-127, 128, (n, fmt.PREVIEW_SAMPLES), dtype=np.int8)
rows = np.zeros(n, dtype=[("id", "V8"), ("scale", "<f4"), ("steps", "i1", (fmt.PREVIEW_SAMPLES,))])
rows["id"] = np.frombuffer(b"".join(bytes.fromhex(t) for t in ids), dtype="V8")
rows["scale"] = 1.0
rows["steps"] = steps
start = time.perf_counter()
index = PreviewIndex.from_rows(rows.tobytes(), ids)
build_ms = 1000 * (time.perf_counter() - start)
times, first = [], True
for k in range(9):
    start = time.perf_counter()
    ranking = Ranking(np.arange(n), index.scores(index.vector(k * 997)))
    page = similarity_page(table, ranking, ("template_id", "amplitude_uv"), 0, 25)
    times.append(1000 * (time.perf_counter() - start))
    first = first and page["rows"][0]["template_id"] == ids[k * 997]
times.sort()
json.dumps({"rows": n, "median_ms": times[len(times) // 2], "max_ms": times[-1], "index_build_ms": build_ms,
            "first_row_is_the_template": first, "numpy": np.__version__})
`;

async function main() {
  const [bundle, src] = process.argv.slice(2).map((p) => path.resolve(p));
  const indexURL = bundle + path.sep;
  const { loadPyodide } = await import(pathToFileURL(path.join(indexURL, "pyodide.mjs")).href);
  const pyodide = await loadPyodide({ indexURL });
  await pyodide.loadPackage(["numpy"], { messageCallback: () => {} });
  pyodide.FS.mkdirTree("/src");
  pyodide.FS.mount(pyodide.FS.filesystems.NODEFS, { root: src }, "/src");
  console.log(`RESULT ${await pyodide.runPythonAsync(PYTHON)}`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
