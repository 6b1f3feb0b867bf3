"""The GitHub workflows call commands that exist, with arguments the CLI accepts.

GitHub's runners cannot run here; what can be checked is that the YAML parses, that the
pipeline workflow's shell steps, run by bash with the inputs a maintainer would give, call
``python -m pipeline`` with arguments its parser accepts, and that the deploy it starts at
the end can be started that way.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

WORKFLOWS = Path(__file__).resolve().parents[1] / ".github" / "workflows"
FAKE_PYTHON = f"""#!/bin/sh
# Stands in for .venv/bin/python: records the pipeline arguments after parsing them for real.
exec {sys.executable} - "$@" <<'EOF'
import json, sys
from pipeline.cli import build_parser
args = sys.argv[1:]
assert args[:2] == ["-m", "pipeline"], args
build_parser().parse_args(args[2:])
with open("calls.jsonl", "a") as out:
    out.write(json.dumps(args[2:]) + "\\n")
EOF
"""


def load(name: str) -> dict:
    return yaml.safe_load((WORKFLOWS / name).read_text())


def step(workflow: dict, name: str) -> dict:
    return next(s for s in workflow["jobs"]["publish"]["steps"] if s.get("name") == name)


def run_step(script: str, tmp_path: Path, env: dict) -> list[list[str]]:
    fake = tmp_path / ".venv" / "bin" / "python"
    fake.parent.mkdir(parents=True, exist_ok=True)
    fake.write_text(FAKE_PYTHON)
    fake.chmod(0o755)
    (tmp_path / "calls.jsonl").unlink(missing_ok=True)
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, capture_output=True,
                            text=True, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), **env}, timeout=120)
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in (tmp_path / "calls.jsonl").read_text().splitlines()]


def test_every_workflow_parses():
    for path in WORKFLOWS.glob("*.yml"):
        workflow = yaml.safe_load(path.read_text())
        assert workflow["jobs"], path.name


def test_pipeline_workflow_is_manual_and_ends_with_the_deploy():
    workflow = load("pipeline.yml")
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as True
    assert list(triggers) == ["workflow_dispatch"]
    assert {"source", "limit"} <= set(triggers["workflow_dispatch"]["inputs"])
    env = workflow["jobs"]["publish"]["env"]
    assert env["AWS_ACCESS_KEY_ID"] == "${{ secrets.AWS_ACCESS_KEY_ID }}"
    names = [s.get("name") for s in workflow["jobs"]["publish"]["steps"]]
    order = ["Run the source", "Rebuild the catalogue", "Validate the whole library", "Start the site deploy"]
    assert [n for n in names if n in order] == order
    assert "gh workflow run deploy.yml" in step(workflow, "Start the site deploy")["run"]
    assert "workflow_dispatch" in load("deploy.yml")[True]


@pytest.mark.parametrize("source, url, expected", [
    ("ibl", "", ["ibl", "--root", "s3://bucket/lib", "--limit", "3", "--workers", "2", "--quiet"]),
    ("nwb", "https://example.org/a.nwb", ["nwb", "https://example.org/a.nwb", "--root", "s3://bucket/lib", "--quiet"]),
])
def test_the_source_step_calls_the_cli_with_valid_arguments(tmp_path, source, url, expected):
    script = step(load("pipeline.yml"), "Run the source")["run"]
    env = {"SOURCE": source, "LIMIT": "3", "SOURCE_URL": url, "WORKERS": "2", "LIBRARY_ROOT": "s3://bucket/lib",
           "AWS_ENDPOINT_URL": ""}
    assert run_step(script, tmp_path, env) == [expected]


def test_the_source_step_refuses_a_missing_url(tmp_path):
    script = step(load("pipeline.yml"), "Run the source")["run"]
    result = subprocess.run(["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True,
                            env={**os.environ, "SOURCE": "nwb", "SOURCE_URL": "", "LIBRARY_ROOT": "s3://b"}, timeout=60)
    assert result.returncode == 1 and "needs the url input" in result.stdout


def test_catalogue_and_validate_steps(tmp_path):
    workflow = load("pipeline.yml")
    env = {"LIBRARY_ROOT": "s3://bucket/lib", "AWS_ENDPOINT_URL": ""}
    assert run_step(step(workflow, "Rebuild the catalogue")["run"], tmp_path, env) == [["consolidate", "s3://bucket/lib"]]
    assert run_step(step(workflow, "Validate the whole library")["run"], tmp_path, env) == [["validate", "s3://bucket/lib"]]


def test_ci_run_lints_every_workflow_with_actionlint():
    run = (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text()
    line = next(line for line in run.splitlines() if "bin/actionlint .github" in line)
    assert set(line.split()[1:]) == {f".github/workflows/{p.name}" for p in WORKFLOWS.glob("*.yml")}


def test_workflows_pass_actionlint():
    actionlint = Path(sys.executable).parent / "actionlint"
    if not actionlint.exists():
        pytest.skip("actionlint not installed (the `lint` extra needs github.com to build)")
    result = subprocess.run([str(actionlint), *sorted(str(p) for p in WORKFLOWS.glob("*.yml"))],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_deploy_builds_the_self_hosted_runtime():
    steps = load("deploy.yml")["jobs"]["build"]["steps"]
    runs = [s.get("run", "") for s in steps]
    bundle = next(i for i, r in enumerate(runs) if "-m generator pyodide-bundle" in r)
    build = next(i for i, r in enumerate(runs) if "-m generator build" in r)
    assert bundle < build and "--pyodide local" in runs[build] and "cdn" not in runs[build]
    assert any(s.get("uses", "").startswith("actions/setup-node@") for s in steps[:bundle])  # py-compiling runs in Node
