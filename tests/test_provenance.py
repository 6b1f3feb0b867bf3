"""Provenance in library.json (pipeline/provenance.py) and citations (templatelib/citations.py)."""

from __future__ import annotations

import json

import pytest

from pipeline.provenance import dataset_provenance
from pipeline.sources.dandi_ibl import ibl_provenance
from pipeline.sources.np_ultra import PROVENANCE as NP_ULTRA_PROVENANCE
from pipeline.sources.np_ultra import dataset_name as np_ultra_name
from pipeline.sources.synthetic import synthetic_provenance
from templatelib.citations import UNKNOWN, citation, escape_bibtex, infer_provenance, provenances_for

SESSION = "4b7fbad4-f6de-43b4-9b15-c7c7ef44db4d"
IBL_NAME = f"sub-CSHL049_ses-{SESSION}_behavior+ecephys+image_probe00.zarr"


def test_recorded_attributes_win_for_each_source():
    synthetic = synthetic_provenance(3001)
    assert dataset_provenance("anything.zarr", {"provenance": synthetic}) == {
        "source": "synthetic", "generator": "pipeline.sources.synthetic", "seed": 3001}
    ibl = ibl_provenance("000409", f"sub-CSHL049/sub-CSHL049_ses-{SESSION}_behavior+ecephys+image.nwb")
    assert ibl["session"] == SESSION and ibl["dandiset"] == "000409"
    assert dataset_provenance("x.zarr", {"provenance": ibl}) == ibl
    assert dataset_provenance(np_ultra_name(0) + ".zarr", {"provenance": NP_ULTRA_PROVENANCE}) == {
        "source": "np_ultra", "doi": "10.6084/m9.figshare.19493588.v2"}


@pytest.mark.parametrize("key, source", [
    ("synthetic_np_ultra_0.zarr", "synthetic"),
    (f"synthetic_sub-SYN00_ses-{SESSION}_ecephys_probe00.zarr", "synthetic"),  # synthetic imitates IBL names
    (IBL_NAME, "ibl"),
    (f"000409_sub-CSHL049_ses-{SESSION}_behavior+ecephys+image_ElectricalSeriesAp00.zarr", "ibl"),
    ("steinmetz_ye_np_ultra_2022_figshare19493588v2_3.zarr", "np_ultra"),
])
def test_inferred_from_the_name(key, source):
    got = dataset_provenance(key, {"sampling_frequency": 30000.0})
    assert got["source"] == source
    assert got["inferred"] is True and got["basis"] == "dataset name"
    if source == "ibl":
        assert got["session"] == SESSION and got["dandiset"] == "000409"


@pytest.mark.parametrize("key", ["my_lab_recording.zarr", "", "<img src=x onerror=alert(1)>.zarr",
                                 "x_sub-A_ses-notauuid_probe00.zarr", "}@misc{evil, title={x}.zarr"])
def test_unknown_and_hostile_names(key):
    assert dataset_provenance(key, {}) == {"source": "unknown"}


@pytest.mark.parametrize("attrs", [{"provenance": "synthetic"}, {"provenance": {"source": "<b>x</b>"}},
                                   {"provenance": None}, {"provenance": ["a"]}])
def test_malformed_recorded_provenance_falls_back_to_the_name(attrs):
    assert dataset_provenance("my.zarr", attrs) == {"source": "unknown"}
    assert dataset_provenance("synthetic_a.zarr", attrs)["inferred"] is True


def test_consolidate_records_provenance_and_keeps_datasets(small_library):
    manifest = json.loads(small_library.read_bytes("library.json"))
    assert set(manifest["provenance"]) == set(manifest["datasets"])
    for key, provenance in manifest["provenance"].items():
        assert provenance["source"] == "synthetic" and provenance["generator"] == "pipeline.sources.synthetic"
        assert isinstance(provenance["seed"], int)
        assert "units" in manifest["datasets"][key] and "provenance" not in manifest["datasets"][key]


def test_citation_names_every_source_and_spikeinterface():
    result = citation({IBL_NAME: infer_provenance(IBL_NAME),
                       "steinmetz_ye_np_ultra_2022_figshare19493588v2_0.zarr": dict(NP_ULTRA_PROVENANCE),
                       "synthetic_a.zarr": synthetic_provenance(7)})
    text, bibtex = result["text"], result["bibtex"]
    assert "DANDI" in text and "000409" in text and SESSION in text
    assert "10.6084/m9.figshare.19493588.v2" in text and "Steinmetz" in text
    assert "synthetic source (seed 7), not recorded data" in text
    assert "Buccino" in text and "eLife 9:e61834" in text and "10.7554/eLife.61834" in text
    assert result["sources"] == ["ibl", "np_ultra", "synthetic", "spikeinterface"]
    for key in ("@misc{ibl2023brainwidemap", "@misc{steinmetz2022npultra", "@article{buccino2020spikeinterface",
                "doi = {10.7554/eLife.61834}", "doi = {10.6084/m9.figshare.19493588.v2}"):
        assert key in bibtex
    assert bibtex.count("{") == bibtex.count("}")


def test_unknown_and_hostile_strings_cannot_break_bibtex():
    hostile = "}, title={pwned}, x={\\"
    result = citation({hostile + ".zarr": {"source": "unknown"}, "s.zarr": {"source": "synthetic", "seed": hostile}})
    assert UNKNOWN in result["bibtex"] and "Unknown provenance" in result["text"]
    assert "title={pwned}" not in result["bibtex"]
    # BibTeX counts every brace, escaped or not: they are balanced (tests/test_hostile_cite.py parses it)
    assert result["bibtex"].count("{") == result["bibtex"].count("}")
    assert escape_bibtex("a{b}\\c") == "a\\textbraceleft{}b\\textbraceright{}\\textbackslash{}c"


def test_live_libraries_without_provenance_are_inferred():
    got = provenances_for(["synthetic_a.zarr", "lab.zarr"], {"datasets": {}})
    assert got["synthetic_a.zarr"]["inferred"] and got["lab.zarr"] == {"source": "unknown"}
    recorded = provenances_for(["a.zarr"], {"provenance": {"a.zarr": {"source": "np_ultra"}}})
    assert recorded["a.zarr"] == {"source": "np_ultra"}
    assert provenances_for(["a.zarr"], None)["a.zarr"] == {"source": "unknown"}


def test_every_writer_records_a_known_source_and_every_known_source_is_cited():
    """The known sources are declared once (citations.KNOWN_SOURCES); writers and citations follow it."""
    from templatelib.citations import KNOWN_SOURCES

    written = {p["source"] for p in (synthetic_provenance(1), dict(NP_ULTRA_PROVENANCE),
                                     ibl_provenance("000409", f"sub-A/sub-A_ses-{SESSION}_ecephys.nwb"))}
    assert written == set(KNOWN_SOURCES)
    cited = citation({f"d{i}.zarr": {"source": s} for i, s in enumerate(KNOWN_SOURCES)})
    assert cited["sources"] == [*KNOWN_SOURCES, "spikeinterface"]
