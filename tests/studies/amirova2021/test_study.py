"""The 2019 study layer: Table 12/13/K.2 forms, hypothesis decisions, and the
wave stages run in a temporary copy of the project (PII never survives,
no half-written outputs)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from pipeline.sem.hypotheses import decide_hypotheses
from pipeline.workflow.wave import fit_table, paths_table

ROOT = Path(__file__).resolve().parents[3]


# ------------------------------------------------------------- pure layer
def _pt(tot_R=-0.05, p_L=0.002, dlo=0.05):
    """A parameter table shaped like the thesis SEM's (only the rows the tests use)."""
    rows = []
    for f, est, p in [("L", 0.30, p_L), ("S", 0.45, 1e-6), ("HC", 0.29, 0.004), ("O", 0.46, 1e-4),
                      ("R", tot_R, 0.65)]:
        rows.append(dict(lhs=f"tot_{f}", op=":=", rhs="", est=est, se=0.1, z=est / 0.1, pvalue=p,
                         **{"ci.lower": est - 0.2, "ci.upper": est + 0.2}))
        rows.append(dict(lhs="ICS", op="~", rhs=f, est=est / 2, se=0.1, z=est / 0.2, pvalue=p,
                         **{"ci.lower": 0, "ci.upper": 1}))
        if f != "R":
            rows.append(dict(lhs=f"dtot_{f}", op=":=", rhs="", est=est - tot_R, se=0.1, z=1,
                             pvalue=0.01, **{"ci.lower": 0, "ci.upper": 1}))
    rows.append(dict(lhs="basic_tot", op=":=", rhs="", est=0.4, se=0.1, z=4, pvalue=0.001,
                     **{"ci.lower": 0, "ci.upper": 1}))
    pt = pd.DataFrame(rows)
    boot = pt[pt.op == ":="].copy()
    boot.loc[boot.lhs.str.startswith("dtot_"), "ci.lower"] = dlo
    boot.loc[boot.lhs == "basic_tot", "ci.lower"] = 0.1
    return pt, boot


def _spec(effect="tot_", diff="dtot_", basic="basic_tot"):
    """The thesis's hypotheses as data (same shape as models/cs2019/hypotheses.yaml)."""
    tests = [{"id": h, "factor": f, "effect": f"{effect}{f}" if effect else f"ICS ~ {f}",
              "test": "wald", "direction": "positive"}
             for h, f in (("H1", "L"), ("H2", "S"), ("H3", "HC"), ("H4", "O"))]
    tests.append({"id": "H5", "factor": "R", "all_of": [f"{diff}{f}" for f in ("L", "S", "HC", "O")],
                  "test": "bootstrap", "direction": "positive"})
    tests.append({"id": "basic", "effect": basic, "test": "bootstrap", "direction": "positive"})
    return {"alpha": 0.05, "tests": tests}


SPEC = _spec()


def hypothesis_table(pt, boot, spec, admissible=True):
    return decide_hypotheses(spec, pt, boot_table=None if boot is None else
                             boot.set_index(["lhs", "op", "rhs"]).reindex(
                                 pd.MultiIndex.from_frame(pt[["lhs", "op", "rhs"]])).reset_index(),
                             admissible=admissible)


def test_hypotheses_decided_from_explicit_tests():
    pt, boot = _pt()
    h = hypothesis_table(pt, boot, SPEC)
    assert list(h.index) == ["H1", "H2", "H3", "H4", "H5", "basic"]
    assert (h["decision"] == "Supported").all()
    # H1 fails when its p-value is not below alpha
    pt2, boot2 = _pt(p_L=0.2)
    assert hypothesis_table(pt2, boot2, SPEC).loc["H1", "decision"] == "Not supported"
    # H5 fails when one difference's bootstrap CI reaches below 0
    pt3, boot3 = _pt(dlo=-0.01)
    assert hypothesis_table(pt3, boot3, SPEC).loc["H5", "decision"] == "Not supported"


def test_inadmissible_fit_never_supports_a_hypothesis():
    """Issue 8 item 14."""
    pt, boot = _pt()
    h = hypothesis_table(pt, boot, SPEC, admissible=False)
    assert not (h["decision"] == "Supported").any()
    assert h["decision"].str.startswith("Not decided").all()


def test_hypothesis_without_bootstrap_is_not_decided():
    pt, _ = _pt()
    h = hypothesis_table(pt, None, SPEC)
    assert h.loc["H5", "decision"] == "Not decided (no bootstrap)"
    assert h.loc["H1", "decision"] == "Supported"


def test_direct_effect_uses_the_regression_on_ics():
    pt, boot = _pt()
    h = hypothesis_table(pt, boot, _spec(effect=""))
    assert h.loc["H1", "estimate"] == pytest.approx(0.15)


def test_thesis_hypotheses_file_is_the_same_spec():
    """The thesis's hypotheses live in its study folder, not in code."""
    from pipeline.cli import config
    from pipeline.workflow.wave import hypotheses_spec
    spec = hypotheses_spec(config.wave_settings("cs2019"))
    got = [(t["id"], t.get("effect"), tuple(t.get("all_of") or ()), t["test"]) for t in spec["tests"]]
    want = [(t["id"], t.get("effect"), tuple(t.get("all_of") or ()), t["test"]) for t in SPEC["tests"]]
    assert got == want and spec["alpha"] == 0.05


def test_fit_table_verdicts_follow_thresholds():
    fm = pd.Series({"chisq": 150.0, "df": 132.0, "pvalue": 0.13, "gfi": 0.88, "agfi": 0.84,
                    "rmsea": 0.037, "cfi": 0.98, "cmin_df": 150 / 132})
    th = {"gfi": {"op": ">", "value": 0.9}, "agfi": {"op": ">", "value": 0.8},
          "rmsea": {"op": "<", "value": 0.08}, "cfi": {"op": ">", "value": 0.9}}
    table = fit_table(fm, th, likelihood="wishart")
    t = table.set_index("name")
    assert t.loc["gfi", "verdict"] == "fails" and t.loc["agfi", "verdict"] == "meets"
    assert t.loc["rmsea", "verdict"] == "meets" and t.loc["chisq", "verdict"] == ""
    assert t.loc["cmin_df", "value"] == pytest.approx(150 / 132)  # full precision kept
    # the chi-square row names its likelihood convention
    chisq_label = table.index[table["name"] == "chisq"][0]
    assert "wishart" in chisq_label and "(N-1)" in chisq_label


def test_paths_table_amos_form():
    """lavaan: parameterEstimates(cfa(HS.model, HolzingerSwineford1939), standardized=TRUE)."""
    from pipeline.sem import fit

    data = pd.read_csv(ROOT / "tests" / "reference" / "data" / "holzinger_swineford.csv")
    res = fit("visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9", data)
    t = paths_table(res.parameters)
    assert list(t.columns) == ["Estimate", "S.E.", "C.R.", "P", "Standardized"]
    assert t.loc["x1 <--- visual", "Estimate"] == 1.0 and pd.isna(t.loc["x1 <--- visual", "S.E."])
    # lavaan: x2 on visual 0.554 (se 0.100), std.all 0.424
    assert t.loc["x2 <--- visual", "Estimate"] == pytest.approx(0.554, abs=1e-3)
    assert t.loc["x2 <--- visual", "Standardized"] == pytest.approx(0.424, abs=1e-3)


# --------------------------------------------------- stages in a copy
@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A copy of the project's data/config with PII seeded into free-text answers."""
    root = tmp_path_factory.mktemp("proj")
    for d in ("data/synthetic", "studies"):
        shutil.copytree(ROOT / d, root / d)
    (root / "data" / "raw").mkdir(parents=True)
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    params["waves"]["cs2019"]["bootstrap"]["B"] = 50
    (root / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True), encoding="utf-8")
    raw = root / "data" / "synthetic" / "cs2019.csv"
    df = pd.read_csv(raw, dtype=str, keep_default_na=False)
    pii = ["call me +7 701 234 56 78", "mail aigerim.test@example.kz", "IIN 900101300123",
           "ask Назарбаев about it", "see https://evil.example.com/x"]
    df.loc[df.index[:5], "D1"] = pii
    df.to_csv(raw, index=False)
    return root


def _stage(root: Path, name: str, wave: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PIPELINE_ROOT=str(root))
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run([sys.executable, "-m", "pipeline", "stage", name, "--wave", wave],
                          env=env, capture_output=True, text=True, timeout=900)


@pytest.mark.slow
def test_stages_run_and_no_seeded_pii_survives(project):
    for name in ("prepare", "analyze", "report"):
        r = _stage(project, name, "cs2019")
        assert r.returncode == 0, r.stderr
    from pipeline.data.privacy import scan_files

    # e-mails and listed names by pattern; phones and IINs by the seeded
    # strings below (full-precision floats in result tables look like digit runs)
    hits = scan_files([project / "data" / "processed", project / "reports"],
                      names=["Назарбаев"], kinds=("email", "name"))
    assert hits == []
    text = "\n".join(p.read_text(encoding="utf-8", errors="ignore")
                     for p in list((project / "data" / "processed").rglob("*"))
                     + list((project / "reports").rglob("*"))
                     if p.is_file() and p.suffix in (".csv", ".json", ".html", ".ipynb", ".tex"))
    for s in ("701 234 56 78", "aigerim.test@example.kz", "900101300123", "evil.example.com"):
        assert s not in text
    # the redaction is logged per column and kind
    red = pd.read_csv(project / "data" / "processed" / "cs2019" / "prepared" / "redaction.csv",
                      index_col="column")
    assert red.loc["D1", ["phone", "email", "iin", "name", "url"]].sum() >= 3
    # computed values for the scorecard and the wave's sections
    computed = json.loads((project / "data" / "processed" / "cs2019" / "results" /
                           "computed.json").read_text())
    assert computed["cs2019.screening.valid"] == 100
    assert computed["cs2019.screening.returned"] == 120
    assert computed["cs2019.screening.response_rate"] == pytest.approx(100 * 100 / 150)
    html = (project / "reports" / "cs2019" / "report.html").read_text(encoding="utf-8")
    assert "SYNTHETIC DATA" in html and "Hypotheses (Table 13)" in html
    # issue 13 item 1: Table 11's civil service experience block (6 codes x 2 organizations,
    # count and share) is computed from cs_experience
    exp = {k: v for k, v in computed.items() if k.startswith("cs2019.table11.experience.")}
    assert len(exp) == 24 and sum(v for k, v in exp.items() if not k.endswith(".pct")) == 100
    # issue 13 item 11: each warning once
    import collections
    import re as _re
    warned = collections.Counter(_re.findall(r"⚠ ([^<]*)", html))
    assert warned and max(warned.values()) == 1, warned
    # issue 13 items 3, 4, 6: Word exports, the Graphviz diagram, methods and provenance
    rep = project / "reports" / "cs2019"
    assert (rep / "report.docx").is_file() and list((rep / "tables").glob("*.docx"))
    assert "Methods and provenance" in html and "1.97" in html and "|z| &gt; 1.960" in html
    assert "(N - 1) x F_ML" in html and "SHA-256" in html
    assert b"<svg" in (rep / "figures" / "diagram_path_diagram.svg").read_bytes()[:400]
    # issue 14 item 1: the response distribution prints no count 1..4
    dist = pd.read_csv(rep / "tables" / "descriptives_distribution.csv", index_col=0, dtype=str)
    for col in [c for c in dist.columns if c.endswith(" n")]:
        v = pd.to_numeric(dist[col], errors="coerce")
        assert not ((v > 0) & (v < 5)).any(), col
    # issue 13 item 7: no path of the copy in any output
    for p in list((project / "data" / "processed").rglob("*")) + list(rep.rglob("*")):
        if p.is_file() and p.suffix in (".csv", ".json", ".html", ".ipynb", ".tex"):
            assert str(project) not in p.read_text(encoding="utf-8", errors="ignore"), p


@pytest.mark.slow
def test_failing_stage_leaves_previous_results_intact(project):
    """A crash inside analyze leaves no half-written results directory."""
    results = project / "data" / "processed" / "cs2019" / "results"
    before = sorted(p.relative_to(results) for p in results.rglob("*")) if results.exists() else []
    params_path = project / "params.yaml"
    saved = params_path.read_text(encoding="utf-8")
    params = yaml.safe_load(saved)
    params["waves"]["cs2019"]["sem"]["model"] = "studies/amirova2021/models/cs2019/does_not_exist.lav"
    params_path.write_text(yaml.safe_dump(params), encoding="utf-8")
    try:
        r = _stage(project, "analyze", "cs2019")
    finally:
        params_path.write_text(saved, encoding="utf-8")
    assert r.returncode != 0
    assert "Traceback" not in r.stderr
    after = sorted(p.relative_to(results) for p in results.rglob("*")) if results.exists() else []
    assert after == before
    assert not list(results.parent.glob(".results.*"))
