// Boots an offline Pyodide bundle in Node, loads numpy + zarr from the bundle's own lock,
// round-trips zarr v2 arrays through the in-memory file system, reads the Blosc arrays of a
// zarr group written by CPython numcodecs (before and after registering the bundle's WebAssembly
// Blosc decoder) and prints one JSON line ("RESULT {...}") with checksums, versions and timings
// for tests/test_pyodide_bundle.py.
//
// Usage: node tests/node/boot_bundle.mjs <bundle-dir> <blosc-zarr-dir>

import path from "node:path";
import { pathToFileURL } from "node:url";

import { bootOffline, mountHost, runMain } from "./pyodide_boot.mjs";

const PYTHON = `
import hashlib, json, time, zlib
started = time.perf_counter()
import numpy as np
import numcodecs
import zarr
from numcodecs import GZip, Zlib
imported = time.perf_counter()

# Exactly representable in float32, so the host test can recompute the checksum.
data = np.arange(240 * 16, dtype="<f4").reshape(240, 16) * np.float32(0.25) - np.float32(3)
root = zarr.open_group("/tmp/roundtrip.zarr", mode="w", zarr_version=2)
root.create_dataset("zlib", data=data, chunks=(60, 16), compressor=Zlib(level=5))
root.create_dataset("gzip", data=data, chunks=(60, 16), compressor=GZip())
root.create_dataset("raw", data=data, chunks=(60, 16), compressor=None)
zarr.consolidate_metadata("/tmp/roundtrip.zarr")

back = zarr.open_consolidated("/tmp/roundtrip.zarr", mode="r")
result = {name: hashlib.sha256(back[name][:].tobytes()).hexdigest() for name in ("zlib", "gzip", "raw")}
with open("/tmp/roundtrip.zarr/zlib/1.0", "rb") as chunk:
    result["zlib_chunk_is_zlib"] = zlib.decompress(chunk.read()) == data[60:120].tobytes()
with open("/tmp/roundtrip.zarr/.zgroup") as group:
    result["zarr_format"] = json.load(group)["zarr_format"]

# Blosc arrays written by CPython, before the WebAssembly decoder is registered: a clear error.
host = zarr.open_group("/host", mode="r")
try:
    host["lz4_shuffle"][:]
    result["blosc_error"] = None
except Exception as exc:
    result["blosc_error"] = f"{type(exc).__name__}: {exc}"

result.update(zarr=zarr.__version__, numcodecs=numcodecs.__version__, numpy=np.__version__,
              import_ms=round((imported - started) * 1000), total_ms=round((time.perf_counter() - started) * 1000))
json.dumps(result)
`;

const BLOSC_PYTHON = `
import hashlib, json
import numpy as np
import zarr
from numcodecs import blosc
host = zarr.open_group("/host", mode="r")
out = {name: hashlib.sha256(np.ascontiguousarray(array[:]).tobytes()).hexdigest() for name, array in host.arrays()}
chunk = open("/host/lz4_shuffle/0.0", "rb").read()
out["header"] = [list(blosc.cbuffer_sizes(chunk)), blosc.cbuffer_complib(chunk), list(blosc.cbuffer_metainfo(chunk))]
out["decompress_into"] = bytes(blosc.decompress(chunk, bytearray(blosc.cbuffer_sizes(chunk)[0]))) == blosc.decompress(chunk)
try:
    blosc.decompress(chunk[:-40])
    out["truncated_error"] = None
except Exception as exc:
    out["truncated_error"] = f"{type(exc).__name__}: {exc}"
json.dumps(out)
`;

async function main() {
  const indexURL = path.resolve(process.argv[2]) + path.sep;
  const messages = [];
  const t0 = performance.now();
  const pyodide = await bootOffline(indexURL, { stdout: (line) => messages.push(line) });
  const booted = performance.now();
  await pyodide.loadPackage(["numpy", "zarr"], {
    messageCallback: (line) => messages.push(line),
    errorCallback: (line) => messages.push(`error: ${line}`),
  });
  const loaded = performance.now();
  mountHost(pyodide, process.argv[3], "/host");
  const result = JSON.parse(await pyodide.runPythonAsync(PYTHON));
  // What the page's worker does before Python reads data.
  const registerStarted = performance.now();
  const { registerBlosc } = await import(pathToFileURL(path.join(indexURL, "numcodecs-js", "numcodecs_blosc.mjs")).href);
  await registerBlosc();
  result.blosc_register_ms = Math.round(performance.now() - registerStarted);
  result.blosc = JSON.parse(await pyodide.runPythonAsync(BLOSC_PYTHON));
  result.boot_ms = Math.round(booted - t0);
  result.load_packages_ms = Math.round(loaded - booted);
  result.node_total_ms = Math.round(performance.now() - t0);
  result.messages = messages;
  console.log(`RESULT ${JSON.stringify(result)}`);
}

runMain(main);
