"""`python -m pipeline new-study` on real data the repository's studies do not
use (psych's bfi: 2,800 respondents, five scales, reverse-keyed items, missing
answers): a codebook, models and a registration that leaves every other study
untouched, and then a report with no thesis words in which reverse keys mean
the same thing for alpha, CFA and CR."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from pipeline.cli.new_study import infer_codebook, item_prefix, reverse_candidates
from tests.conftest import load_fixture

ROOT = Path(__file__).resolve().parents[2]
BFI = ROOT / "tests" / "reference" / "data" / "bfi.csv"


def _run(root: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PIPELINE_ROOT=str(root))
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run([sys.executable, "-m", "pipeline", *args], env=env, cwd=root,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("newstudy")
    shutil.copy(ROOT / "params.yaml", root / "params.yaml")
    (root / "studies").mkdir()
    r = _run(root, "new-study", "bfi", "--data", str(BFI), "--group", "gender")
    assert r.returncode == 0, r.stderr
    return root, r.stdout


def test_item_prefixes_accept_dots_and_unicode():
    assert item_prefix("A1") == "A" and item_prefix("clutched.up2") == "clutched.up"
    assert item_prefix("Лидер3") == "Лидер" and item_prefix("қызмет_12") == "қызмет"
    assert item_prefix("age") is None and item_prefix("2020") is None


def test_codebook_types_constructs_and_reverse_keys(project):
    root, out = project
    cb = yaml.safe_load((root / "studies" / "bfi" / "codebook.yaml").read_text(encoding="utf-8"))
    types = {v["name"]: v["type"] for v in cb["variables"]}
    assert types["id"] == "id" and types["gender"] == "categorical" and types["age"] == "numeric"
    assert types["education"] == "categorical"
    assert sum(t == "likert" for t in types.values()) == 25
    assert list(cb["constructs"]) == ["A", "C", "E", "N", "O"]
    a1 = next(v for v in cb["variables"] if v["name"] == "A1")
    assert a1["codes"] == {i: str(i) for i in range(1, 7)} and a1["construct"] == "A"
    # psych::bfi's keys (psych's own bfi.keys): A1 C4 C5 E1 E2 O2 O5
    psych = load_fixture("psych_alpha.json")
    keys = set()
    for s in "ACENO":
        rev = psych[f"{s}_pairwise"]["reverse"]
        keys |= {rev} if isinstance(rev, str) else set(rev)
    assert {v["name"] for v in cb["variables"] if v.get("reverse")} == keys
    assert all(v["note"].startswith("CONFIRM") for v in cb["variables"] if v.get("reverse"))
    assert "CONFIRM reverse-keyed items" in out
    cfa = (root / "studies" / "bfi" / "models" / "cfa.lav").read_text(encoding="utf-8")
    assert "A =~ A1 + A2 + A3 + A4 + A5" in cfa
    sem = (root / "studies" / "bfi" / "models" / "sem.lav").read_text(encoding="utf-8")
    assert "O ~ A + C + E + N" in sem


def test_registration_keeps_every_other_study_and_the_comments(project):
    root, _ = project
    before_text = (ROOT / "params.yaml").read_text(encoding="utf-8")
    after_text = (root / "params.yaml").read_text(encoding="utf-8")
    before, after = yaml.safe_load(before_text), yaml.safe_load(after_text)
    for s in before["studies"]:
        assert after["studies"][s] == before["studies"][s]
    for w in before["waves"]:
        assert after["waves"][w] == before["waves"][w]
    assert after["waves"]["bfi"]["raw"] == "data/raw/bfi/bfi.csv"
    assert after["waves"]["bfi"]["groups"] == {"column": "gender"}
    # every original line (comments included) survives, in order
    lines = iter(after_text.splitlines())
    assert all(any(line == a for a in lines) for line in before_text.splitlines() if line.strip())


def test_a_second_run_refuses_to_overwrite(project):
    root, _ = project
    r = _run(root, "new-study", "bfi", "--data", str(BFI))
    assert r.returncode == 2 and "exists" in r.stderr and "Traceback" not in r.stderr


def test_report_without_thesis_words_and_reverse_keys_everywhere(project):
    root, _ = project
    for stage in ("prepare", "analyze", "report"):
        r = _run(root, "stage", stage, "--wave", "bfi")
        assert r.returncode == 0, (stage, r.stderr[-2000:])
    html = (root / "reports" / "bfi" / "report.html").read_text(encoding="utf-8")
    text = re.sub(r"data:image/[a-z+]+;base64,[A-Za-z0-9+/=]+", "", html)
    for word in ("Citizen", "Annex", "Table 11.", "H5", "ICS", "SYNTHETIC", "Replication"):
        assert word not in text, word
    res = root / "data" / "processed" / "bfi" / "results"
    alpha = pd.read_csv(res / "reliability" / "alpha.csv").set_index("scale")["alpha"]
    cr = pd.read_csv(res / "reliability" / "cr_ave.csv", index_col=0)["cr"]
    psych = load_fixture("psych_alpha.json")
    # keyed alpha (psych .703 on all 2,800; screening keeps 2,794), not the unkeyed .431
    assert alpha["A"] == pytest.approx(psych["A_pairwise"]["raw_alpha"], abs=0.005)
    assert psych["A_unreversed_pairwise"]["raw_alpha"] < 0.5
    # CR from the CFA on the same keyed data agrees with alpha in direction and size
    assert np.all(np.abs(cr[list("ACENO")] - alpha[list("ACENO")]) < 0.05)
    loadings = pd.read_csv(res / "cfa" / "loadings.csv").set_index("path")["Standardized"]
    assert (loadings > 0).all()                   # A1, C4, ... load positively once keyed
    assert (res / "groups" / "items.csv").exists()


def test_spss_labels_and_user_missing_codes(tmp_path):
    """Value labels and user-missing codes come from the .sav file (pyreadstat)."""
    import pyreadstat

    from pipeline.cli.new_study import _sav_meta
    df = pd.DataFrame({"id": [1, 2, 3, 4, 5, 6], "Q1": [1, 2, 3, 9, 2, 1], "Q2": [2, 3, 1, 2, 9, 3],
                       "Q3": [3, 3, 2, 1, 2, 9]})
    path = tmp_path / "s.sav"
    labels = {1: "disagree", 2: "neutral", 3: "agree", 9: "no answer"}
    pyreadstat.write_sav(df, str(path), variable_value_labels={q: labels for q in ("Q1", "Q2", "Q3")},
                         missing_ranges={q: [9] for q in ("Q1", "Q2", "Q3")},
                         column_labels=["id", "First", "Second", "Third"])
    vl, miss, cl = _sav_meta(path)
    cb = infer_codebook(df, "s", value_labels=vl, missing_codes=miss, column_labels=cl)
    q1 = next(v for v in cb["variables"] if v["name"] == "Q1")
    assert q1["type"] == "likert" and q1["codes"] == {1: "disagree", 2: "neutral", 3: "agree"}
    assert q1["missing_codes"] == {9: "missing (SPSS user-missing)"} and q1["label"] == "First"
    assert cb["constructs"] == {"Q": {"label": "Q"}}


def test_reverse_candidates_flip_until_no_negative_item_rest_correlation():
    rng = np.random.default_rng(1)
    f = rng.normal(size=500)
    d = pd.DataFrame({f"i{k}": f + rng.normal(size=500) for k in range(4)})
    d["i4"] = -f + rng.normal(size=500)
    assert list(reverse_candidates(d, list(d.columns))) == ["i4"]
    assert reverse_candidates(d, ["i0", "i1"]) == {}


def test_dotted_and_unicode_names_run_through_the_stages(tmp_path):
    """Names with dots and Kazakh/Cyrillic letters (issue 11 item 7): inferred, fitted."""
    rng = np.random.default_rng(3)
    n = 200
    f, g = rng.normal(size=n), rng.normal(size=n)
    d = pd.DataFrame({"id": range(1, n + 1)})
    for k in (1, 2, 3):
        d[f"clutched.up{k}"] = np.clip(np.round(3 + f + rng.normal(size=n)), 1, 5).astype(int)
        d[f"Лидер{k}"] = np.clip(np.round(3 + g + 0.5 * f + rng.normal(size=n)), 1, 5).astype(int)
    d["қызмет"] = rng.choice(["а", "ә"], size=n)
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    d.to_csv(tmp_path / "uni.csv", index=False)
    r = _run(tmp_path, "new-study", "uni", "--data", str(tmp_path / "uni.csv"), "--group", "қызмет")
    assert r.returncode == 0, r.stderr
    cfa = (tmp_path / "studies" / "uni" / "models" / "cfa.lav").read_text(encoding="utf-8")
    assert "Лидер =~ Лидер1 + Лидер2 + Лидер3" in cfa
    assert "clutched_up =~ clutched.up1 + clutched.up2 + clutched.up3" in cfa
    for stage in ("prepare", "analyze"):
        r = _run(tmp_path, "stage", stage, "--wave", "uni")
        assert r.returncode == 0, (stage, r.stderr[-1500:])
    fit = pd.read_csv(tmp_path / "data" / "processed" / "uni" / "results" / "cfa" / "loadings.csv")
    assert "Лидер2 <--- Лидер" in set(fit["path"])
