// runtime_module.js: the page compiles Pyodide's runtime from a plain fetch, streamed when it
// is served as application/wasm and from its bytes otherwise, and every failure resolves to
// null (the worker then loads the runtime itself). Real WebAssembly compiles here; fetch is a
// small stand-in recording what was asked.
import assert from "node:assert/strict";
import { test } from "node:test";

import { compileResponse, compileRuntime } from "../../site_src/static/runtime_module.js";

// The smallest valid module: the magic number and version 1.
const WASM = new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);
const INDEX = "https://example.org/site/pyodide/";

const wasmResponse = (type = "application/wasm", status = 200, body = WASM) =>
  new Response(status === 200 ? body : "missing", { status, headers: { "Content-Type": type } });

function fakeEnv(answer) {
  const asked = [];
  return { asked, env: { WebAssembly, fetch: async (url) => { asked.push(url); return answer(); } } };
}

test("the runtime is fetched once, below the index, and compiled", async () => {
  const { env, asked } = fakeEnv(() => wasmResponse());
  assert.ok((await compileRuntime(INDEX, env)) instanceof WebAssembly.Module);
  assert.deepEqual(asked, [INDEX + "pyodide.asm.wasm"]);
});

test("a runtime served with another type is compiled from its bytes", async () => {
  for (const type of ["application/octet-stream", ""]) {
    const { env } = fakeEnv(() => wasmResponse(type));
    assert.ok((await compileRuntime(INDEX, env)) instanceof WebAssembly.Module, type);
  }
  // Streaming is used for application/wasm, parameters and case aside, and only then.
  const calls = [];
  const env = { WebAssembly: { compileStreaming: async () => { calls.push("stream"); return "m"; },
    compile: async () => { calls.push("bytes"); return "b"; } } };
  assert.equal(await compileResponse(wasmResponse("Application/Wasm; charset=binary"), env), "m");
  assert.equal(await compileResponse(wasmResponse("text/plain"), env), "b");
  assert.deepEqual(calls, ["stream", "bytes"]);
});

test("every failure resolves to null: the worker loads the runtime itself", async () => {
  const failures = [
    () => wasmResponse("application/wasm", 404),
    () => wasmResponse("application/wasm", 200, new Uint8Array([1, 2, 3])),
    () => { throw new TypeError("Failed to fetch"); },
  ];
  for (const answer of failures) {
    assert.equal(await compileRuntime(INDEX, fakeEnv(answer).env), null);
  }
});
