"""dvc.yaml covers every registered wave, and a wave's stages depend on its
own settings and files only: editing one study never reruns another study's
stages (checked on DVC's own resolution of dvc.yaml, as `dvc status` sees it)."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def stages():
    from dvc.repo import Repo
    repo = Repo(str(ROOT))
    out = {}
    for s in repo.index.stages:
        params, files = [], []
        for d in s.deps:
            if d.__class__.__name__ == "ParamsDependency":
                params += list(d.params)
            else:
                files.append(str(d.def_path))
        out[s.addressing] = {"params": params, "files": files,
                             "outs": [str(o.def_path) for o in s.outs]}
    return out


@pytest.fixture(scope="module")
def waves():
    return yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))["waves"]


def test_every_wave_has_its_three_stages(stages, waves):
    for w in waves:
        for family in ("prepare", "analyze", "report"):
            assert f"{family}@{w}" in stages, (family, w)
    assert "holzinger1939" in waves and "cs2019" in waves


def test_a_waves_stages_read_only_its_own_settings_and_files(stages, waves):
    for w, spec in waves.items():
        study = spec["study"]
        own_params = {f"waves.{w}", f"studies.{study}.settings"}
        for family in ("prepare", "analyze", "report"):
            st = stages[f"{family}@{w}"]
            assert set(st["params"]) <= own_params, (family, w, st["params"])
            for f in st["files"]:
                ok = (f.startswith(("pipeline/", f"studies/{study}/", f"data/processed/{w}/"))
                      or f == spec["raw"])
                assert ok, (family, w, f)
    # conversely no stage of another study names this study's settings
    for name, st in stages.items():
        if "@" not in name:
            continue
        w = name.split("@")[1]
        other = {f"studies.{waves[v]['study']}.settings" for v in waves
                 if waves[v]["study"] != waves[w]["study"]}
        assert not (set(st["params"]) & other), name


def test_scorecard_depends_on_every_wave_and_no_wave_settings(stages, waves):
    sc = stages["scorecard"]
    assert "data/processed" in sc["files"]      # results and report stamps of every wave
    assert not [p for p in sc["params"] if p.startswith("waves")]
    for w in waves:                              # each report stage writes the stamp it reads
        assert f"data/processed/{w}/report.json" in stages[f"report@{w}"]["outs"]


def test_thesis_only_stages_read_the_thesis_stage_groups(stages):
    assert stages["synth"]["params"] == ["studies.amirova2021.stages.synth"]
    assert stages["cea"]["params"] == ["studies.amirova2021.stages.cea"]


def test_synth_outputs_are_persistent_and_stage_commands_watch_their_parent():
    """DVC deletes a stage's non-persistent outputs before it runs it
    (dvc/stage: ``remove_outs`` unless ``persist``): the git-tracked synthetic
    files must be ``persist: true`` so a killed ``synth`` leaves them in place;
    and the stage command starts the orphan watch (a SIGKILLed ``dvc repro``
    leaves no stage running on)."""
    import inspect

    import yaml

    from pipeline.cli import stage
    root = Path(__file__).resolve().parents[2]
    dvc = yaml.safe_load((root / "dvc.yaml").read_text(encoding="utf-8"))
    outs = dvc["stages"]["synth"]["outs"]
    assert len(outs) == 6
    for o in outs:
        (path, opts), = o.items()
        assert path.startswith("data/synthetic/")
        assert opts == {"cache": False, "persist": True}, path
    assert "exit_when_orphaned()" in inspect.getsource(stage.main)


def test_data_raw_tracks_only_the_documented_public_file():
    """data/raw holds respondents' files and is never written by a stage; git
    tracks only its README and the public Holzinger-Swineford data of the
    second study, identical to the reference copy (data/raw/README.md)."""
    import subprocess
    root = Path(__file__).resolve().parents[2]
    tracked = subprocess.run(["git", "ls-files", "data/raw"], cwd=root, capture_output=True,
                             text=True, check=True).stdout.split()
    assert sorted(tracked) == ["data/raw/README.md",
                               "data/raw/holzinger1939/holzinger_swineford.csv"]
    assert ((root / "data/raw/holzinger1939/holzinger_swineford.csv").read_bytes()
            == (root / "tests/reference/data/holzinger_swineford.csv").read_bytes())
    assert "holzinger1939/holzinger_swineford.csv" in (root / "data/raw/README.md").read_text()
