"""The second study, Holzinger and Swineford (1939), built by `new-study` plus
edits of its model and settings: its wave's stages run in a copy of the
project, and the report's numbers match lavaan 0.6-14 and psych (committed
fixtures lavaan_hs_normal.json, lavaan_multigroup.json, psych_alpha.json)."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.conftest import load_fixture

ROOT = Path(__file__).resolve().parents[3]
WAVE = "holzinger1939"


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("hs")
    shutil.copy(ROOT / "params.yaml", root / "params.yaml")
    shutil.copytree(ROOT / "studies" / WAVE, root / "studies" / WAVE)
    shutil.copytree(ROOT / "data" / "raw" / WAVE, root / "data" / "raw" / WAVE)
    env = dict(os.environ, PIPELINE_ROOT=str(root))
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    for stage in ("prepare", "analyze", "report"):
        r = subprocess.run([sys.executable, "-m", "pipeline", "stage", stage, "--wave", WAVE],
                           env=env, capture_output=True, text=True, timeout=600, cwd=root)
        assert r.returncode == 0, (stage, r.stderr[-2000:])
    return root


def _results(project: Path) -> Path:
    return project / "data" / "processed" / WAVE / "results"


def test_the_study_is_new_study_output_plus_model_and_settings_edits():
    cb = yaml.safe_load((ROOT / "studies" / WAVE / "codebook.yaml").read_text(encoding="utf-8"))
    assert cb["source"].startswith("inferred by `python -m pipeline new-study`")
    assert cb["constructs"] == {"x": {"label": "x"}}              # as inferred, not edited
    types = {v["name"]: v["type"] for v in cb["variables"]}
    assert types["id"] == "id" and types["school"] == "categorical"
    assert [n for n, t in types.items() if t == "numeric" and n.startswith("x")] == \
        [f"x{i}" for i in range(1, 10)]
    model = (ROOT / "studies" / WAVE / "models" / "cfa.lav").read_text(encoding="utf-8")
    assert "visual  =~ x1 + x2 + x3" in model


def test_cfa_fit_matches_lavaan(project):
    ref = load_fixture("lavaan_hs_normal.json")
    assert ref["options"]["likelihood"] == "normal" and ref["options"]["missing"] == "listwise"
    fit = pd.read_csv(_results(project) / "cfa" / "fit.csv").set_index("name")["value"]
    for m in ("chisq", "df", "pvalue", "cfi", "tli", "rmsea", "rmsea.ci.lower", "rmsea.ci.upper",
              "srmr", "gfi", "agfi", "nfi", "ifi"):
        assert fit[m] == pytest.approx(ref["fit"][m], rel=1e-4, abs=1e-6), m
    computed = json.loads((_results(project) / "computed.json").read_text(encoding="utf-8"))
    assert computed[f"{WAVE}.fit.chisq"] == pytest.approx(85.3055, abs=1e-3)


def test_loadings_match_lavaan(project):
    ref = pd.DataFrame(load_fixture("lavaan_hs_normal.json")["parameters"])
    ref = ref[ref.op == "=~"]
    got = pd.read_csv(_results(project) / "cfa" / "loadings.csv").set_index("path")
    assert len(got) == len(ref) == 9
    for r in ref.itertuples():
        row = got.loc[f"{r.rhs} <--- {r.lhs}"]
        assert row["Estimate"] == pytest.approx(r.est, abs=1e-4)
        assert row["Standardized"] == pytest.approx(ref.loc[r.Index, "std.all"], abs=1e-4)
        if r.se > 0:
            assert row["S.E."] == pytest.approx(r.se, rel=5e-3)


def test_two_school_comparison_matches_lavaan_configural(project):
    """The CFA fitted in each school: lavaan's configural model (no equality
    constraints) has the sum of the two chi-squares and the same group sizes."""
    ref = load_fixture("lavaan_multigroup.json")
    conf = ref["cases"]["configural_ml"]
    t = pd.read_csv(_results(project) / "groups" / "cfa_by_group.csv").set_index("school")
    assert list(t.index) == ref["group_labels"] and list(t["n"]) == conf["nobs"]
    assert t["chisq"].sum() == pytest.approx(conf["fit"]["chisq"], rel=1e-5)
    assert t["df"].sum() == conf["df"]
    items = pd.read_csv(_results(project) / "groups" / "items.csv").set_index("item")
    assert list(items.index) == [f"x{i}" for i in range(1, 10)]
    # x1, Pasteur minus Grant-White: Welch's t as R's t.test (means from the data)
    d = pd.read_csv(ROOT / "data" / "raw" / WAVE / "holzinger_swineford.csv")
    from scipy import stats
    a, b = d.loc[d.school == "Pasteur", "x1"], d.loc[d.school == "Grant-White", "x1"]
    assert items.loc["x1", "t"] == pytest.approx(stats.ttest_ind(a, b, equal_var=False).statistic,
                                                 rel=1e-10)


def test_alpha_of_the_model_factors_matches_psych(project):
    ref = load_fixture("psych_alpha.json")["HS_visual"]
    t = pd.read_csv(_results(project) / "reliability" / "alpha.csv").set_index("scale")
    assert list(t.index) == ["visual", "textual", "speed"]      # reliability.scales: model
    assert t.loc["visual", "alpha"] == pytest.approx(ref["raw_alpha"], abs=1e-10)


def test_report_has_its_own_words_only(project):
    html = (project / "reports" / WAVE / "report.html").read_text(encoding="utf-8")
    text = re.sub(r"data:image/[a-z+]+;base64,[A-Za-z0-9+/=]+", "", html)
    assert "Holzinger and Swineford (1939)" in text
    for title in ("Screening", "Demographics", "CFA fit", "Group comparison", "Path diagram"):
        assert f">{title}<" in text or f"{title}</h2>" in text, title
    # "Table 11." is the thesis's caption; the report's own APA numbers ("Table 11") may reach it
    for word in ("Citizen", "Annex", "Table 11.", "H5", "ICS", "SYNTHETIC", "Replication",
                 "Hypotheses", "Structural model"):
        assert word not in text, word
    sections = json.loads((_results(project) / "sections.json").read_text(encoding="utf-8"))
    assert [k for k, _ in sections] == ["screening", "demographics", "descriptives", "reliability",
                                        "validity", "method_bias", "efa", "cfa", "diagnostics",
                                        "invariance", "estimators", "groups", "diagram",
                                        "provenance"]


def test_codebook_is_exactly_what_new_study_infers():
    """The committed codebook is new-study's output, unedited (only the model and
    the settings were edited afterwards)."""
    from pipeline.cli.new_study import infer_codebook
    from pipeline.data.loading import read_table
    df = read_table(ROOT / "data" / "raw" / WAVE / "holzinger_swineford.csv")
    committed = yaml.safe_load((ROOT / "studies" / WAVE / "codebook.yaml").read_text(encoding="utf-8"))
    cb = infer_codebook(df, WAVE, group="school", source=committed["source"])
    cb["title"] = committed["title"]
    assert yaml.safe_load(yaml.safe_dump(cb, allow_unicode=True)) == committed
