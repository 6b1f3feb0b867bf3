"""The Blosc decoder of the offline bundle: WebAssembly c-blosc from the npm package ``numcodecs``.

npm ``numcodecs`` (numcodecs.js, by Trevor Manz) ships ``dist/blosc.js``: an ES module with
c-blosc compiled by emscripten (the wasm inlined as base64) and a ``Blosc`` class whose
``decode`` is async. Python's zarr decodes synchronously, and the emscripten module's own
``decompress`` is synchronous once instantiated, but ``blosc.js`` exports only the class.
The bundle therefore gets, in ``numcodecs-js/``:

* ``blosc.mjs``: ``dist/blosc.js`` byte for byte (sha256 pinned) plus one appended line that
  exports the emscripten factory and the wasm bytes it already defines;
* ``chunk-INHXZS53.js`` (its base64 helper) and ``LICENSE``, unchanged (sha256 pinned);
* ``numcodecs_blosc.mjs`` (from ``generator/bundle/numcodecs_offline/``): instantiates the module once
  and registers ``globalThis.numcodecsBlosc.decompress`` for ``numcodecs/blosc.py``.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from .common import BundleError
from .wheels import OFFLINE_MODULES_DIR

JS_DIR = "numcodecs-js"
REGISTER_MODULE = "numcodecs_blosc.mjs"
# Files of the npm tarball (below package/) taken as they are, with their pinned sha256.
NPM_FILES = {
    "dist/blosc.js": "2058d97e637d1437a69400709410bf14cdc93fca5bee3ff5d47fcce7857d444b",
    "dist/chunk-INHXZS53.js": "73f3299e7103f9a9e0dfad5d24cd4076c5a995dbebaecda7f248b03c0df13bd9",
    "LICENSE": "785e5823c2471046f06ae8f64f0374557f1a14ec786febf690e2dbc65e804ce7",
}
# blosc.js defines these two names and passes them to emscripten exactly like this line does;
# the appended export is only valid if the line is there.
_FACTORY_CALL = "var init = () => blosc_codec_default({ noInitialRun: true, wasmBinary: blosc_codec_default2 });"
# These bytes are part of every built bundle (and of the deployed site's hashes): the text keeps
# the module's old name, bundle_blosc.py, so a rename does not invalidate existing bundles.
APPENDED_EXPORT = ("\n// Appended by generator/bundle_blosc.py: the emscripten factory and wasm bytes defined above,\n"
                   "// for a synchronous decoder (numcodecs_blosc.mjs).\n"
                   "export { blosc_codec_default as createBloscModule, blosc_codec_default2 as bloscWasmBinary };\n")


def blosc_module_files() -> tuple[str, ...]:
    """Paths, relative to the bundle, of every file the Blosc decoder loads (for precaching)."""
    return tuple(f"{JS_DIR}/{name}" for name in (REGISTER_MODULE, "blosc.mjs", "chunk-INHXZS53.js"))


def install_blosc_decoder(package_dir: Path, out: Path) -> list[Path]:
    """Copy the WebAssembly Blosc decoder of the unpacked npm ``numcodecs`` into ``out/numcodecs-js``.

    Parameters
    ----------
    package_dir : Path
        The unpacked npm package (its ``package`` folder), already checked by tarball sha256.
    out : Path
        The bundle folder being assembled.

    Returns
    -------
    list of Path
        The files written.

    Raises
    ------
    BundleError
        If a file differs from its pin or ``blosc.js`` no longer defines the names exported.
    """
    contents = {}
    for name, expected in NPM_FILES.items():
        path = package_dir / name
        if not path.is_file():
            raise BundleError(f"npm numcodecs lacks {name}")
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != expected:
            raise BundleError(f"npm numcodecs {name}: sha256 differs from the pinned {expected}")
        contents[name] = data
    source = contents["dist/blosc.js"].decode()
    if source.count(_FACTORY_CALL) != 1:
        raise BundleError("npm numcodecs dist/blosc.js no longer instantiates blosc_codec_default(wasmBinary: "
                          "blosc_codec_default2): the appended export would be wrong")
    target = out / JS_DIR
    target.mkdir()
    written = [target / "blosc.mjs", target / "chunk-INHXZS53.js", target / "LICENSE", target / REGISTER_MODULE]
    written[0].write_bytes(contents["dist/blosc.js"] + APPENDED_EXPORT.encode())
    written[1].write_bytes(contents["dist/chunk-INHXZS53.js"])
    written[2].write_bytes(contents["LICENSE"])
    shutil.copyfile(OFFLINE_MODULES_DIR / REGISTER_MODULE, written[3])
    return written
