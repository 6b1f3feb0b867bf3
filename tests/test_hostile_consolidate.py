"""``consolidate`` on damaged datasets: one line naming the dataset, the rest consolidated, standard JSON.

A dataset's root attributes are rewritten the way a careless writer might (``.zattrs`` and the
consolidated ``.zmetadata`` both, as zarr reads the latter): a sampling rate as a string, missing,
NaN, infinite, negative, or a provenance holding NaN. ``python -m pipeline consolidate`` must
leave that dataset out in one line naming it (exit 1, the rest of the library consolidated) or,
for the provenance, write ``null``; ``library.json`` must always parse as standard JSON.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from conftest import build_library
from pipeline.catalogue import manifest_bytes

PY = sys.executable
MISSING = object()


def strict_json(data: bytes):
    """JSON as the page's ``JSON.parse`` reads it: NaN and Infinity are refused."""
    def refuse(constant):
        raise ValueError(f"not standard JSON: {constant}")
    return json.loads(data, parse_constant=refuse)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    storage = build_library(tmp_path_factory.mktemp("consolidate") / "lib", datasets=3, units=3, compressor="zlib")
    return Path(storage.root)


def damage(root: Path, dataset: str, change) -> None:
    """Apply ``change(attrs)`` to the dataset's root attributes, in .zattrs and .zmetadata."""
    folder = root / dataset
    attrs = json.loads((folder / ".zattrs").read_text())
    change(attrs)
    (folder / ".zattrs").write_text(json.dumps(attrs))  # json writes NaN/Infinity as zarr would read them
    meta = json.loads((folder / ".zmetadata").read_text())
    meta["metadata"][".zattrs"] = attrs
    (folder / ".zmetadata").write_text(json.dumps(meta))


def set_rate(value):
    def change(attrs):
        if value is MISSING:
            del attrs["sampling_frequency"]
        else:
            attrs["sampling_frequency"] = value
    return change


RATES = {"string": "30 kHz", "missing": MISSING, "nan": math.nan, "inf": math.inf, "negative": -30000.0,
         "zero": 0, "list": [30000.0], "null": None}


@pytest.mark.timeout(300)
@pytest.mark.parametrize("rate", list(RATES), ids=list(RATES))
def test_a_damaged_sampling_rate_leaves_one_dataset_out_in_one_line(pristine, tmp_path, rate):
    root = tmp_path / "lib"
    shutil.copytree(pristine, root)
    datasets = sorted(p.name for p in root.glob("*.zarr"))
    victim = datasets[0]
    damage(root, victim, set_rate(RATES[rate]))
    result = subprocess.run([PY, "-m", "pipeline", "consolidate", str(root)], capture_output=True, text=True,
                            timeout=240)
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr + result.stdout
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and victim in lines[0] and "sampling_frequency" in lines[0], result.stderr
    manifest = strict_json((root / "library.json").read_bytes())
    assert sorted(manifest["datasets"]) == datasets[1:]
    table = pd.read_csv(root / "templates.csv")
    assert sorted(set(table["dataset"])) == datasets[1:] and len(table) == manifest["template_count"] == 6


@pytest.mark.timeout(300)
def test_a_provenance_holding_nan_is_written_as_null(pristine, tmp_path):
    root = tmp_path / "lib"
    shutil.copytree(pristine, root)
    victim = sorted(p.name for p in root.glob("*.zarr"))[0]
    damage(root, victim, lambda attrs: attrs["provenance"].update(seed=math.nan, extra=[math.inf, 1.5]))
    result = subprocess.run([PY, "-m", "pipeline", "consolidate", str(root)], capture_output=True, text=True,
                            timeout=240)
    assert result.returncode == 0, result.stderr
    manifest = strict_json((root / "library.json").read_bytes())
    assert manifest["provenance"][victim]["seed"] is None
    assert manifest["provenance"][victim]["extra"] == [None, 1.5]


@pytest.mark.timeout(30)
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_library_json_is_never_written_with_a_non_finite_number(value):
    with pytest.raises(ValueError):
        manifest_bytes({"datasets": {"a.zarr": {"sampling_frequency": value}}})
