"""The layout says what is shared: the pipeline imports only templatelib's shared core, and the
core imports nothing else of templatelib (see templatelib/__init__.py)."""

from __future__ import annotations

import ast
from pathlib import Path

import templatelib

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "site_src" / "templatelib"
SHARED = set(templatelib.SHARED_WITH_PIPELINE)


def _templatelib_imports(path: Path, relative: bool) -> set[str]:
    """The templatelib modules ``path`` imports (anywhere in the file, lazy imports included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            if relative and node.level == 1:
                found |= {node.module.split(".")[0]} if node.module else {a.name for a in node.names}
            elif not relative and node.level == 0 and node.module and node.module.split(".")[0] == "templatelib":
                parts = node.module.split(".")
                found |= {parts[1]} if len(parts) > 1 else {a.name for a in node.names}
        elif isinstance(node, ast.Import) and not relative:
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("templatelib.")}
    return found


def test_the_shared_core_exists():
    assert all((PACKAGE / f"{name}.py").is_file() for name in SHARED)


def test_the_pipeline_imports_only_the_shared_core():
    used = {p.relative_to(REPO).as_posix(): _templatelib_imports(p, relative=False) - SHARED
            for p in (REPO / "pipeline").rglob("*.py")}
    assert {path: names for path, names in used.items() if names} == {}


def test_the_shared_core_imports_only_itself():
    used = {name: _templatelib_imports(PACKAGE / f"{name}.py", relative=True) - SHARED for name in SHARED}
    assert {name: others for name, others in used.items() if others} == {}
