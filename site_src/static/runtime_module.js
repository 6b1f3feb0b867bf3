// Pyodide's runtime (pyodide.asm.wasm, 10 MB) compiled on the page's thread and handed to the
// Python worker as a WebAssembly.Module.
//
// Why not let the worker compile it, as Pyodide does: Chrome keeps a module's compiled code for
// the next visit (V8's WebAssembly code cache, and its in-memory cache of compiled modules)
// when the page's thread compiles a fetched response, but a dedicated worker's compile was not
// reused. Measured here (bare boots, loopback, medians of 3): a worker's boot took 2.3-2.6 s on
// every reload, the page thread's 1.6 s, a worker given the page's compiled module 1.6-1.8 s;
// Chrome's trace shows the page's compile stored (wasm.SerializeModule) and nearly nothing
// compiled again on reload. Compiling a response read from Cache Storage by the page itself
// was not stored, so this is a plain fetch: the HTTP cache, or the service worker's runtime
// cache once it controls the page (it answers with its cached entry, with which V8 stores the
// code). The compile streams on V8's background threads, so the page stays responsive, and
// the module is shared with the worker, not copied.
//
// Every failure resolves to null: the worker then loads the runtime the way Pyodide does.

const RUNTIME_FILE = "pyodide.asm.wasm";

/** A Module from a response: streamed when it is served as application/wasm (which the
 * streaming compile requires), else from its bytes, so a server with another type still works. */
export async function compileResponse(response, env = globalThis) {
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  const type = (response.headers.get("Content-Type") || "").split(";")[0].trim().toLowerCase();
  if (type === "application/wasm" && env.WebAssembly.compileStreaming) {
    return env.WebAssembly.compileStreaming(response);
  }
  return env.WebAssembly.compile(await response.arrayBuffer());
}

/** Promise of the compiled runtime below `indexURL` (an absolute URL ending in "/"), or null. */
export async function compileRuntime(indexURL, env = globalThis) {
  const url = indexURL + RUNTIME_FILE;
  try {
    return await compileResponse(await env.fetch(url), env);
  } catch (error) {
    console.warn(`Python's runtime was not compiled on the page (${url}): ${error}; the worker loads it itself.`);
    return null;
  }
}
