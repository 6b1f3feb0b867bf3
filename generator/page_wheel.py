"""Build the page's own wheel (``site_src/templatelib``) for Pyodide to install.

``python -m build --wheel`` rather than ``pyodide build``: the latter downloads a cross-build
environment, impossible offline, and the package is pure Python (``py3-none-any``), which
Pyodide installs as is.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

SITE_SRC = Path(__file__).resolve().parent.parent / "site_src"


def build_page_wheel(out_dir: Path) -> Path:
    """Build ``templatelib-*.whl`` into ``out_dir`` and return its path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        # A copy keeps setuptools' build/ and *.egg-info out of the source tree.
        work = Path(tmp) / "src"
        work.mkdir()
        shutil.copy2(SITE_SRC / "pyproject.toml", work / "pyproject.toml")
        shutil.copytree(SITE_SRC / "templatelib", work / "templatelib",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        # --no-isolation: the project venv already has setuptools and wheel; offline-safe.
        subprocess.run(
            [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out_dir), str(work)],
            check=True, stdout=subprocess.DEVNULL,
        )
    wheels = sorted(out_dir.glob("templatelib-*-py3-none-any.whl"))
    if not wheels:
        raise RuntimeError("python -m build produced no templatelib wheel")
    return wheels[-1]
