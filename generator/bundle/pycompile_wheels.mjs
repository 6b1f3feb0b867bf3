// Py-compiles wheels inside the bundle's own Pyodide (CPython 3.12 in WebAssembly), because
// .pyc files must come from the exact interpreter that loads them and this machine's host
// Python is 3.11 (`pyodide py-compile` would need a host 3.12). Run by
// generator/bundle/pycompile.py; nothing here touches the network.
//
// Usage: node pycompile_wheels.mjs <bundle-dir> <work-dir> <wheel-file-name>...
//   reads <work-dir>/in/<wheel>, writes <work-dir>/out/<wheel>.

import path from "node:path";
import { pathToFileURL } from "node:url";

globalThis.fetch = async (resource) => {
  throw new Error(`network access attempted while py-compiling: ${resource}`);
};

const [bundle, work, ...wheels] = process.argv.slice(2);
const { loadPyodide } = await import(pathToFileURL(path.join(bundle, "pyodide.mjs")).href);
const pyodide = await loadPyodide({ indexURL: bundle + path.sep, stdout: () => {}, stderr: (m) => console.error(m) });
pyodide.FS.mkdirTree("/work");
pyodide.FS.mount(pyodide.FS.filesystems.NODEFS, { root: path.resolve(work) }, "/work");
pyodide.globals.set("WHEELS", pyodide.toPy(wheels));
pyodide.runPython(`
import base64, hashlib, importlib.util, zipfile
from importlib._bootstrap_external import _code_to_hash_pyc

SITE = "/lib/python3.12/site-packages/"
EPOCH = (1980, 1, 1, 0, 0, 0)

def digest(data):
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()

for name in WHEELS:
    with zipfile.ZipFile("/work/in/" + name) as source, \\
         zipfile.ZipFile("/work/out/" + name, "w", zipfile.ZIP_DEFLATED) as target:
        record = next(n for n in source.namelist() if n.endswith(".dist-info/RECORD"))
        lines = []
        for info in source.infolist():
            if info.filename == record or info.is_dir():
                continue
            data, arcname = source.read(info), info.filename
            if arcname.endswith(".py") and ".data/" not in arcname:
                try:
                    code = compile(data, SITE + arcname, "exec", dont_inherit=True)
                except (SyntaxError, ValueError):
                    pass  # kept as source: Python reports it the usual way if it is ever imported
                else:
                    # Unchecked hash-based pyc (PEP 552) in the module's own place: imported
                    # without a source file and without a timestamp check.
                    data = bytes(_code_to_hash_pyc(code, importlib.util.source_hash(data), checked=False))
                    arcname = arcname[:-3] + ".pyc"
            entry = zipfile.ZipInfo(arcname, EPOCH)
            entry.external_attr = info.external_attr
            entry.compress_type = zipfile.ZIP_DEFLATED
            target.writestr(entry, data)
            lines.append(f"{arcname},{digest(data)},{len(data)}")
        lines.append(f"{record},,")
        entry = zipfile.ZipInfo(record, EPOCH)
        entry.compress_type = zipfile.ZIP_DEFLATED
        target.writestr(entry, "\\n".join(lines) + "\\n")
`);
console.log(`py-compiled ${wheels.length} wheels`);
