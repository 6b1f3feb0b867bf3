// The synchronous Blosc decoder of the offline Pyodide bundle (numcodecs-js/ in the bundle).
//
// blosc.mjs is npm numcodecs' dist/blosc.js (c-blosc compiled to WebAssembly with emscripten)
// with one export line appended by generator/bundle_blosc.py: its emscripten factory and wasm
// bytes. Its own Blosc class only decodes asynchronously; Python's zarr decodes synchronously,
// so this module instantiates the emscripten module once and registers its (synchronous)
// decompress on globalThis, where numcodecs/blosc.py of the bundle's numcodecs wheel finds it.
// Call `await registerBlosc()` before Python reads Blosc data.
import { createBloscModule, bloscWasmBinary } from "./blosc.mjs";

export const GLOBAL_NAME = "numcodecsBlosc";

export async function registerBlosc(target = globalThis) {
  const module = await createBloscModule({ noInitialRun: true, wasmBinary: bloscWasmBinary });
  const decoder = {
    source: "npm numcodecs (c-blosc compiled to WebAssembly)",
    decompress(bytes) {
      const view = module.decompress(bytes);
      const out = new Uint8Array(view); // a copy: the view points into the wasm heap
      module.free_result();
      return out;
    },
  };
  target[GLOBAL_NAME] = decoder;
  return decoder;
}
