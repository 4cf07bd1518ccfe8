"""Everything a wave's analyze stage reads is validated before any fit: a typo
in a setting, a hypothesis naming an effect the model lacks, or a model file
outside the wave's models folder fails at once, naming the path."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WAVE = "holzinger1939"


@pytest.fixture
def project(tmp_path):
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    shutil.copytree(ROOT / "studies" / WAVE, tmp_path / "studies" / WAVE)
    return tmp_path


def _analyze(root: Path, edit) -> subprocess.CompletedProcess:
    p = yaml.safe_load((root / "params.yaml").read_text(encoding="utf-8"))
    edit(p["waves"][WAVE])
    (root / "params.yaml").write_text(yaml.safe_dump(p, allow_unicode=True), encoding="utf-8")
    env = dict(os.environ, PIPELINE_ROOT=str(root))
    return subprocess.run([sys.executable, "-m", "pipeline", "stage", "analyze", "--wave", WAVE],
                          env=env, cwd=root, capture_output=True, text=True, timeout=120)


def _sem(w):
    w["sem"]["model"] = "studies/holzinger1939/models/sem.lav"


@pytest.mark.parametrize("edit, message", [
    (lambda w: w["sem"].update(likelyhood="normal"),
     "waves.holzinger1939.sem.likelyhood: unknown key"),
    (lambda w: w.update(hypotheses={"tests": [{"id": "H1", "effect": "tot_x"}]}),
     "waves.holzinger1939.hypotheses: tests need a structural model"),
    (lambda w: (_sem(w), w.update(hypotheses={"tests": [{"id": "H1", "effect": "ind_visual"}]})),
     "defines no effect or label 'ind_visual'"),
    (lambda w: w["sem"].update(cfa_model="tests/reference/models/x.lav"),
     "waves.holzinger1939.sem.cfa_model: tests/reference/models/x.lav does not exist"),
    (lambda w: w["sem"].update(cfa_model="studies/holzinger1939/codebook.yaml", model=None) or
     w.update(models="studies/holzinger1939/models"), None),
])
def test_bad_settings_fail_before_any_computation(project, edit, message):
    (project / "studies" / WAVE / "models" / "sem.lav").write_text(
        "visual =~ x1 + x2 + x3\nspeed =~ x7 + x8 + x9\nspeed ~ b*visual\n", encoding="utf-8")
    t0 = time.perf_counter()
    r = _analyze(project, edit)
    elapsed = time.perf_counter() - t0
    assert r.returncode == 2 and "Traceback" not in r.stderr
    if message is None:      # a model outside the wave's models folder
        assert "lies outside the wave's models folder" in r.stderr
    else:
        assert message in r.stderr, r.stderr
    assert elapsed < 30       # no data were read, nothing was fitted
    assert not (project / "data" / "processed").exists()
