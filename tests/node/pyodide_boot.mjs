// What the node scripts that run Python in the offline bundle share: booting the bundle's
// Pyodide with every fetch refused, mounting host folders, and the one-JSON-line protocol
// ("RESULT {...}") their pytest callers read. Not a test file itself (no .test.mjs).
import path from "node:path";
import { pathToFileURL } from "node:url";

/**
 * Boots the bundle in `bundleDir` with `options` for loadPyodide. Every fetch is refused first:
 * Pyodide in Node falls back to the CDN for a package missing from the bundle, and refusing
 * turns that silent download into a failure, so a pass proves the bundle is self-sufficient.
 */
export async function bootOffline(bundleDir, options = {}) {
  globalThis.fetch = async (resource) => {
    throw new Error(`network access attempted during offline boot: ${resource}`);
  };
  const indexURL = path.resolve(bundleDir) + path.sep;
  const { loadPyodide } = await import(pathToFileURL(path.join(indexURL, "pyodide.mjs")).href);
  return loadPyodide({ indexURL, ...options });
}

/** Mounts the host folder `dir` at `at` in Pyodide's file system (read through NODEFS). */
export function mountHost(pyodide, dir, at) {
  pyodide.FS.mkdirTree(at);
  pyodide.FS.mount(pyodide.FS.filesystems.NODEFS, { root: path.resolve(dir) }, at);
}

/** Runs `main`; an error is printed and ends the process with code 1, for the pytest caller. */
export function runMain(main) {
  main().catch((error) => {
    console.error(error);
    process.exit(1);
  });
}

/**
 * The script `node <script> <bundle-dir> <site_src-dir> <data-dir>`: boots the bundle, loads
 * `packages`, mounts site_src at /src and the data folder at /data, runs `python` (whose last
 * expression is a JSON string) and prints it as "RESULT <json>".
 */
export function printPythonResult(packages, python) {
  runMain(async () => {
    const [bundle, src, data] = process.argv.slice(2);
    const pyodide = await bootOffline(bundle);
    await pyodide.loadPackage(packages, { messageCallback: () => {} });
    mountHost(pyodide, src, "/src");
    mountHost(pyodide, data, "/data");
    console.log(`RESULT ${await pyodide.runPythonAsync(python)}`);
  });
}
