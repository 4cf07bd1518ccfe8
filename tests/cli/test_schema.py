"""The settings schema (pipeline.cli.schema): unknown keys are rejected with
their path, defaults are lavaan's and the library's, never another study's,
and the layers merge in order: defaults < study settings < wave."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from pipeline.cli.schema import SettingsError, defaults, validate_params, wave_settings

ROOT = Path(__file__).resolve().parents[2]
PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))


def _minimal():
    return {"studies": {"s": {"settings": {}}},
            "waves": {"w": {"study": "s", "codebook": "c.yaml", "raw": "r.csv", "models": "m"}}}


def test_the_project_params_are_valid():
    validate_params(PARAMS)


@pytest.mark.parametrize("edit, path", [
    (lambda p: p["waves"]["w"].update(sem={"likelyhood": "normal"}), "waves.w.sem.likelyhood"),
    (lambda p: p["waves"]["w"].update(bootstrapp={"B": 10}), "waves.w.bootstrapp"),
    (lambda p: p["studies"]["s"]["settings"].update(efa={"rotaton": "varimax"}),
     "studies.s.settings.efa.rotaton"),
    (lambda p: p["studies"]["s"].update(colour="red"), "studies.s.colour"),
    (lambda p: p.update(sem={"model": "x.lav"}), "sem"),
    (lambda p: p["waves"]["w"].update(hypotheses={"tests": [{"id": "H1", "effect": "a", "tset": "wald"}]}),
     "waves.w.hypotheses.tests[0].tset"),
    (lambda p: p["waves"]["w"].update(sem={"thresholds": {"cfi": {"op": ">", "valeu": 0.9}}}),
     "waves.w.sem.thresholds.cfi.valeu"),
])
def test_unknown_keys_are_rejected_with_their_path(edit, path):
    p = _minimal()
    edit(p)
    with pytest.raises(SettingsError, match="unknown") as exc:
        validate_params(p)
    assert str(exc.value).startswith(path + ":" if not path == "sem" else "sem:")


@pytest.mark.parametrize("edit, msg", [
    (lambda p: p["waves"]["w"].update(sem={"likelihood": "wishrt"}),
     r"waves.w.sem.likelihood: 'wishrt' is not one of \['normal', 'wishart'\]"),
    (lambda p: p["waves"]["w"].update(bootstrap={"B": "many"}), r"waves.w.bootstrap.B: must be int"),
    (lambda p: p["waves"]["w"].update(study="nope"), r"waves.w.study: 'nope' is not listed"),
    (lambda p: p["waves"]["w"].pop("codebook"), r"waves.w.codebook: required"),
    (lambda p: p["waves"]["w"].update(analyses=["screening", "cfaa"]), r"waves.w.analyses\[1\]"),
    (lambda p: p["waves"]["w"].update(hypotheses={"tests": [{"id": "H1", "effect": "a",
                                                               "compare": ["a", "b"]}]}),
     r"give exactly one of effect, compare, all_of"),
    (lambda p: p["waves"]["w"].update(hypotheses={"tests": [{"id": "H1", "all_of": ["a"]}]}),
     r"all_of: needs test: bootstrap"),
    (lambda p: p["studies"]["s"].pop("settings"), r"studies.s.settings: required"),
    (lambda p: p["waves"]["w"].update(hypotheses={"tests": [{"id": "H1", "effect": "a"},
                                                               {"id": "H1", "effect": "b"}]}),
     r"tests\[1\].id: duplicate id"),
])
def test_bad_values_name_their_path(edit, msg):
    p = _minimal()
    edit(p)
    with pytest.raises(SettingsError, match=msg):
        validate_params(p)


def test_defaults_are_lavaans_not_another_studys():
    ws = wave_settings(_minimal(), "w")
    assert ws["sem"]["likelihood"] == "normal" and ws["sem"]["missing"] == "listwise"
    assert ws["bootstrap"]["B"] == 1000 and ws["bootstrap"]["level"] == 0.95
    assert ws["screening"]["straightline_sections"] == [] and ws["screening"]["group_column"] is None
    assert ws["efa"]["rotation"] == "oblimin" and ws["reliability"]["alpha_threshold"] == 0.7
    assert ws["hypotheses"]["tests"] == [] and ws["published"] is None
    # the thesis's settings (wishart, B 5000, Section C) reach no other study
    p = copy.deepcopy(PARAMS)
    p["studies"]["s"] = {"settings": {}}
    p["waves"]["w"] = _minimal()["waves"]["w"]
    ws = wave_settings(p, "w")
    assert ws == wave_settings(_minimal(), "w")


def test_layers_merge_defaults_study_wave():
    p = _minimal()
    p["studies"]["s"]["settings"] = {"efa": {"rotation": "varimax", "seed": 7}}
    p["waves"]["w"]["efa"] = {"seed": 11}
    ws = wave_settings(p, "w")
    assert ws["efa"] == {**defaults()["efa"], "rotation": "varimax", "seed": 11}


def test_thesis_waves_keep_their_decisions_in_settings():
    cs = wave_settings(PARAMS, "cs2019")
    assert cs["sem"]["likelihood"] == "wishart" and cs["bootstrap"]["B"] == 5000
    assert cs["hypotheses"]["file"] == "studies/amirova2021/models/cs2019/hypotheses.yaml"
    assert cs["screening"]["straightline_sections"] == ["C"]
    assert wave_settings(PARAMS, "cs2020")["screening"]["straightline_sections"] == []
    hs = wave_settings(PARAMS, "holzinger1939")
    assert hs["sem"]["likelihood"] == "normal" and hs["screening"]["straightline_sections"] == []
    assert hs["efa"]["seed"] == 1 and hs["published"] is None


def test_stage_params_finds_study_groups():
    from pipeline.cli import config
    assert config.stage_params("cea")["inflation"] == 0.03           # studies.amirova2021.stages
    assert config.stage_params("screening")["group_column"] == "org"  # the first study's settings
    with pytest.raises(KeyError, match="no group"):
        config.stage_params("nonexistent")


def test_hypotheses_as_a_file_a_mapping_or_a_bare_list():
    p = _minimal()
    p["waves"]["w"]["hypotheses"] = [{"id": "H1", "effect": "y ~ x", "test": "wald"}]
    assert wave_settings(p, "w")["hypotheses"]["tests"][0]["id"] == "H1"
    p["waves"]["w"]["hypotheses"] = [{"id": "H1", "efect": "y ~ x"}]
    with pytest.raises(SettingsError, match=r"waves.w.hypotheses.tests\[0\].efect: unknown key"):
        validate_params(p)
    p["waves"]["w"]["hypotheses"] = "m/hypotheses.yaml"
    assert wave_settings(p, "w")["hypotheses"]["file"] == "m/hypotheses.yaml"
