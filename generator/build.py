"""``python -m generator build``: render ``site_src/`` into one static folder for GitHub Pages.

Output layout (relative URLs only, so it works under a sub-path like ``/hybrid_template_library/``)::

    index.html            jinja2-rendered page
    static/               the page's ES modules (app.js the entry, worker.js the module worker),
                          style.css; relative imports carry the build's ``?v=`` version
    wheels/               the page's own wheel (templatelib)
    pyodide/              the Pyodide runtime the page loads (``--pyodide local`` only; the boot
                          files and the lock closure of PAGE_PACKAGES from the offline bundle,
                          see ``site_runtime``)
    docs/                 the mkdocs documentation
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

import jinja2
import pandas as pd
import yaml

from templatelib import format as fmt
from templatelib.page_contract import CALL_TIMEOUT_MS, LOAD_TIMEOUT_MS, QUICK_FILTERS, RESULT_COLUMNS, page_facts
from templatelib.worker_api import page_packages

from .overview import build_overview, inert
from .page_wheel import build_page_wheel
from .bundle.pin import PYODIDE_CDN_URL, PYODIDE_VERSION

REPO = Path(__file__).resolve().parent.parent
SITE_SRC = REPO / "site_src"
MARKER = ".hybrid-template-site"
#: The page's entry module (it imports the others) and the worker's (a module worker).
ENTRY_MODULE = "app.js"
WORKER_MODULE = "worker.js"
#: A static relative import in the page's modules (``from "./name.js"``): the build adds its
#: version, so a deploy never mixes modules of two builds from the browser's cache.
_RELATIVE_IMPORT = re.compile(r'(\bfrom\s+"\./)([A-Za-z0-9_]+\.js)(")')
#: Pyodide packages the page loads, by stage (templatelib/worker_api.py declares them):
#: ``--pyodide local`` hosts them with their lock closure, and the service worker caches them.
PAGE_PACKAGES = page_packages()
#: Cache Storage name shared by the page (which files the catalogue it fetched) and sw.js.
DATA_CACHE = "htl-data-v1"


def _prepare_out(out: Path) -> None:
    """Empty ``out`` if it is a previous build (or empty); refuse to wipe anything else."""
    if out.exists():
        if any(out.iterdir()) and not (out / MARKER).exists():
            raise FileExistsError(f"{out} exists and is not a site built by this generator; choose another --out")
        shutil.rmtree(out)
    out.mkdir(parents=True)
    (out / MARKER).write_text("built by python -m generator build\n")


def _pyodide_index(out: Path, pyodide: str) -> str:
    if pyodide == "cdn":
        return PYODIDE_CDN_URL
    if pyodide == "local":
        from .bundle.assemble import ensure_bundle

        from .bundle.site_runtime import copy_site_runtime

        copy_site_runtime(ensure_bundle(), out / "pyodide", PAGE_PACKAGES)
        return "pyodide/"
    if pyodide.startswith(("http://", "https://")) or pyodide.startswith("/"):
        return pyodide.rstrip("/") + "/"
    raise ValueError(f"--pyodide takes cdn, local or a URL, not {pyodide!r}")


def _runtime_version(out: Path, pyodide_index: str) -> str:
    """A name for the runtime's content: the service worker keeps its runtime cache (and the
    compiled code Chrome stores with it) across deploys until this changes."""
    digest = hashlib.sha256(f"{PYODIDE_VERSION} {pyodide_index} {' '.join(PAGE_PACKAGES)}".encode())
    hosted = out / "pyodide"
    for path in sorted(hosted.rglob("*")) if hosted.is_dir() else ():
        if path.is_file():
            digest.update(path.relative_to(hosted).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def _blosc_module_files(out: Path, pyodide: str) -> list[str]:
    """Site paths of the offline bundle's WebAssembly Blosc decoder, the module to import first."""
    if pyodide != "local":
        return []
    from .bundle.blosc import blosc_module_files

    files = [f"pyodide/{name}" for name in blosc_module_files()]
    return files if all((out / name).is_file() for name in files) else []


def _static_digest() -> str:
    """A content hash of the assets (``site_src/static``), part of the cache-busting version."""
    digest = hashlib.sha256()
    for path in sorted((SITE_SRC / "static").rglob("*")):
        if path.is_file():
            digest.update(path.relative_to(SITE_SRC).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def _copy_static(out: Path, version: str) -> list[str]:
    """Copy the assets, every relative module import stamped with ``?v=version``.

    Returns
    -------
    list of str
        The page's modules (every ``.js`` but the worker's), sorted: the page preloads them
        all, and the service worker precaches them with the worker and the stylesheet.
    """
    shutil.copytree(SITE_SRC / "static", out / "static")
    modules = []
    for path in sorted((out / "static").glob("*.js")):
        text = path.read_text(encoding="utf-8")
        path.write_text(_RELATIVE_IMPORT.sub(rf"\g<1>\g<2>?v={version}\g<3>", text), encoding="utf-8")
        if path.name != WORKER_MODULE:
            modules.append(path.name)
    return modules


#: How long the build waits for a remote catalogue before drawing the overview without it.
CATALOGUE_TIMEOUT_S = 20


def read_catalogue(where: str) -> tuple[pd.DataFrame, str]:
    """``(rows, note)``: the catalogue at a path or URL, or no rows and a sentence saying why."""
    try:
        if where.startswith(("http://", "https://")):
            with urllib.request.urlopen(where, timeout=CATALOGUE_TIMEOUT_S) as response:
                data = response.read()
        else:
            data = Path(where).read_bytes()
        return pd.read_csv(io.BytesIO(data), dtype={"template_id": str}), ""
    except (OSError, ValueError, pd.errors.ParserError) as error:
        note = f"The catalogue could not be read when this site was built ({type(error).__name__})."
        return pd.DataFrame(columns=list(fmt.COLUMNS)), note


def catalogue_name(where: str) -> str:
    """How the overview names its catalogue: the library's URL, never the build machine's path.

    Parameters
    ----------
    where : str
        The path or URL the catalogue was read from.

    Returns
    -------
    str
        Markdown: "the library at <URL>" for a URL (shown as inert text), else "the library".
    """
    if where.startswith(("http://", "https://")):
        library = where.rsplit("/", 1)[0] + "/" if where.endswith("/" + fmt.CATALOGUE_FILE) else where
        return f"the library at {inert(library)}"
    return "the library"


def _build_docs(out: Path, catalogue: str) -> None:
    """mkdocs over a copy of the docs plus the library overview drawn for ``catalogue``."""
    with tempfile.TemporaryDirectory() as tmp:
        docs = Path(tmp) / "docs"
        shutil.copytree(SITE_SRC / "docs", docs)
        rows, note = read_catalogue(catalogue)
        page = build_overview(rows, docs)
        title, _, rest = page.read_text(encoding="utf-8").partition("\n")
        source = f"Drawn from {catalogue_name(catalogue)} when this site was built." + (" " + note if note else "")
        page.write_text(f"{title}\n\n{source}\n{rest}", encoding="utf-8")
        config = yaml.safe_load((REPO / "mkdocs.yml").read_text(encoding="utf-8"))
        config["docs_dir"] = str(docs)
        config["nav"] = [*config["nav"], {"Library overview": "overview.md"}]
        (Path(tmp) / "mkdocs.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
        subprocess.run(
            [sys.executable, "-m", "mkdocs", "build", "--quiet", "--strict", "--config-file",
             str(Path(tmp) / "mkdocs.yml"), "--site-dir", str(out / "docs")],
            check=True, cwd=REPO, timeout=600,
        )


def build_site(out: Path, pyodide: str = "cdn", default_source: str = fmt.PUBLIC_HTTP_ROOT, docs: bool = True,
               catalogue: str | None = None, call_timeout_ms: int = CALL_TIMEOUT_MS,
               load_timeout_ms: int = LOAD_TIMEOUT_MS) -> Path:
    """Build the site into ``out``.

    Parameters
    ----------
    out : Path
        Output folder; replaced if it holds an earlier build, refused otherwise.
    pyodide : str
        ``cdn`` (the official Pyodide CDN), ``local`` (copy the offline bundle into the site)
        or a URL of a Pyodide distribution.
    default_source : str
        Library root the page reads when the URL has no ``?source=``.
    docs : bool
        Also build the mkdocs documentation into ``out/docs``, with the library overview.
    catalogue : str, optional
        Path or URL of the ``templates.csv`` the overview is drawn from; default: the default
        source's. When it cannot be read the overview says so (the build does not fail).
    call_timeout_ms, load_timeout_ms : int
        How long a worker call, and the boot with the catalogue load, may run before the page
        stops the worker (a call then restarts it; tests build sites with short limits).
    """
    if call_timeout_ms <= 0 or load_timeout_ms <= 0:
        raise ValueError("timeouts must be positive milliseconds")
    out = Path(out).resolve()
    _prepare_out(out)
    wheel = build_page_wheel(out / "wheels")
    wheel_digest = hashlib.sha256(wheel.read_bytes()).hexdigest()[:12]
    # Pyodide only installs URLs ending in .whl, so the content hash goes in the folder name:
    # a stable URL per content, which browsers may cache, and a new one after every change.
    (out / "wheels" / wheel_digest).mkdir()
    wheel = wheel.rename(out / "wheels" / wheel_digest / wheel.name)
    version = hashlib.sha256((_static_digest() + wheel_digest).encode()).hexdigest()[:12]
    modules = _copy_static(out, version)
    pyodide_index = _pyodide_index(out, pyodide)
    blosc_files = _blosc_module_files(out, pyodide)
    page_config = {
        "pyodideIndexURL": pyodide_index,
        "wheelURL": f"wheels/{wheel_digest}/{wheel.name}",
        "workerURL": f"static/{WORKER_MODULE}?v={version}",
        "serviceWorkerURL": f"sw.js?v={version}",
        "defaultSource": default_source.rstrip("/") + "/",
        "publicSource": fmt.PUBLIC_HTTP_ROOT,
        "callTimeoutMs": int(call_timeout_ms),
        "loadTimeoutMs": int(load_timeout_ms),
        "pyodideVersion": PYODIDE_VERSION,
        # The offline bundle's numcodecs decodes Blosc through this WebAssembly module, which the
        # worker registers before Python reads data; the CDN's numcodecs has Blosc built in.
        "bloscModuleURL": blosc_files[0] if blosc_files else None,
        "dataCache": DATA_CACHE,
        "catalogueFile": fmt.CATALOGUE_FILE,
        "manifestFile": fmt.MANIFEST_FILE,
        # What the page and Python agree on (columns, filters, methods, packages, formats).
        **page_facts(),
    }
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(SITE_SRC / "templates"), undefined=jinja2.StrictUndefined,
        # HTML is escaped; sw.js gets JSON literals made here from build-time values.
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",), default=False),
    )
    # "</" cannot occur inside the JSON script block: it would end the element early.
    config_json = json.dumps(page_config).replace("</", "<\\/")
    html = environment.get_template("index.html.j2").render(
        config_json=jinja2.utils.markupsafe.Markup(config_json),
        asset_version=version,
        columns=RESULT_COLUMNS,
        quick_filters=QUICK_FILTERS,
        entry=f"static/{ENTRY_MODULE}?v={version}",
        modules=[f"static/{name}?v={version}" for name in modules],
        built=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        pyodide_version=PYODIDE_VERSION,
    )
    (out / "index.html").write_text(html, encoding="utf-8")
    # The service worker sits at the site root so that its scope is the whole site.
    service_worker = environment.get_template("sw.js.j2").render(
        version=version,
        precache=json.dumps(["./", *(f"static/{name}?v={version}" for name in (*modules, "style.css")),
                             page_config["workerURL"], page_config["wheelURL"], *blosc_files]),
        pyodide_index=json.dumps(pyodide_index),
        pyodide_packages=json.dumps(list(PAGE_PACKAGES)),
        runtime_version=_runtime_version(out, pyodide_index),
        data_cache=DATA_CACHE,
    )
    (out / "sw.js").write_text(service_worker, encoding="utf-8")
    (out / ".nojekyll").write_text("")  # GitHub Pages: serve folders starting with "_" as is
    if docs:
        _build_docs(out, catalogue or default_source.rstrip("/") + "/" + fmt.CATALOGUE_FILE)
    return out
