"""Difference tests (lavTestLRT), score tests (lavTestScore) and the invariance
sequence against lavaan 0.6-14 (tests/reference/lavaan_multigroup.R).

Measured: every lavTestLRT "Chisq diff" within 1.4e-4 (ML: 1e-6; satorra.2000
scaled-shifted 3e-5), p within 6e-6; lavTestScore total and univariate X2 within
3e-5 with lavaan's constraint labels (.pN. == .pM.).
"""
from __future__ import annotations

import functools
import json

import numpy as np
import pandas as pd
import pytest

from pipeline.sem.invariance import RULES, _verdicts, measurement_invariance
from pipeline.sem.lrt import lav_test_lrt, lrt
from pipeline.sem.multigroup import fit_multigroup
from pipeline.sem.score_test import score_test
from tests.conftest import REFERENCE, load_fixture

REF = load_fixture("lavaan_multigroup.json")
MODEL = REF["cases"]["configural_ml"]["model"]


@functools.lru_cache(maxsize=None)
def hs() -> pd.DataFrame:
    return pd.read_csv(REFERENCE / "data" / REF["data"])


@functools.lru_cache(maxsize=None)
def fitted(key: str):
    c = REF["cases"][key]
    return fit_multigroup(c["model"], hs(), "school", group_equal=c["group_equal"],
                          group_partial=c["group_partial"], estimator=c["estimator"])


def _lrt_cases():
    out = []
    for name in REF["lrt"]:
        restricted, rest = name.split("_vs_")
        if rest.startswith("scalar_partial"):
            free, toks = "scalar_partial", rest.split("_")[2:]
        else:
            free, toks = rest.split("_")[0], rest.split("_")[1:]
        est = toks[0]
        method = "default"
        if len(toks) > 1:
            method = ".".join(toks[1:])
        out.append((name, f"{free}_{est}", f"{restricted}_{est}", method))
    return out


@pytest.mark.parametrize("name, less, more, method", _lrt_cases())
def test_lrt_matches_lavaan(name, less, more, method):
    """R: lavTestLRT(fit_less, fit_more[, method = ...]) (scaled.shifted = TRUE)."""
    ref = REF["lrt"][name][1]
    t = lrt(fitted(less), fitted(more), method=method)
    assert t["df_diff"] == ref["Df diff"]
    assert t["chisq_diff"] == pytest.approx(ref["Chisq diff"], rel=1e-4)
    assert t["pvalue"] == pytest.approx(ref["Pr(>Chisq)"], abs=1e-4)
    if "RMSEA" in ref:
        assert t["rmsea"] == pytest.approx(ref["RMSEA"], abs=1e-6)
    expected = {"default": "standard" if less.endswith("_ml") else "satorra.bentler.2001"}
    assert t["method"] == expected.get(method, method)


def test_lrt_table_matches_lavaan():
    """The table: models sorted by df, AIC/BIC, unscaled Chisq (lavaan's columns)."""
    tab = lav_test_lrt(fitted("metric_mlr"), fitted("configural_mlr"),
                       names=["metric", "configural"])
    ref = pd.DataFrame(REF["lrt"]["metric_vs_configural_mlr"]).set_index("model")
    assert list(tab.index) == ["configural", "metric"]
    assert list(tab.columns) == ["Df", "AIC", "BIC", "Chisq", "Chisq diff", "Df diff",
                                 "Pr(>Chisq)"]
    for col in ["Df", "AIC", "BIC", "Chisq", "Chisq diff", "Df diff", "Pr(>Chisq)"]:
        np.testing.assert_allclose(tab[col].to_numpy(float), ref[col].to_numpy(float),
                                   rtol=1e-4, equal_nan=True)


def test_lrt_refuses_mixed_scaled_and_unscaled():
    with pytest.raises(ValueError, match="some models"):
        lrt(fitted("configural_ml"), fitted("metric_mlr"))


@pytest.mark.parametrize("key", sorted(REF["score"]))
def test_score_test_matches_lavaan(key):
    """R: lavTestScore(fit): $test and $uni (the constraints named by lavaan's plabels)."""
    ref = REF["score"][key]
    out = score_test(fitted(key))
    assert out["test"]["X2"][0] == pytest.approx(ref["test"][0]["X2"], rel=1e-5)
    assert int(out["test"]["df"][0]) == ref["test"][0]["df"]
    uni, ru = out["uni"], pd.DataFrame(ref["uni"])
    assert list(uni["lhs"]) == list(ru["lhs"]) and list(uni["rhs"]) == list(ru["rhs"])
    np.testing.assert_allclose(uni["X2"], ru["X2"], rtol=1e-4, atol=1e-4)
    want_rows = ru["lhs_row"].str.replace(r"\s+g\d+$", "", regex=True).str.replace(" ", "")
    assert list(uni["lhs_row"].str.replace(" ", "")) == list(want_rows)


def test_invariance_sequence_ml_and_partial():
    """HS by school, ML: metric holds, scalar fails (all three rules), the score tests
    point to x3~1 and x7~1 -- freeing them (lavaan's classic partial model) gives
    the fixture's scalar_partial fit -- and strict is tested against the partial model."""
    res = measurement_invariance(MODEL, hs(), "school", estimator="ML")
    st = res.steps.set_index("name")
    assert list(st.index) == ["configural", "metric", "scalar", "scalar.partial", "strict"]
    assert list(st["decision"]) == ["reference", "holds", "fails", "holds", "holds"]
    assert st.loc["scalar", "rules"] == {k: "fails" for k in RULES}
    assert st.loc["scalar.partial", "group_partial"] == ["x3~1", "x7~1"]
    lrt_ref = REF["lrt"]
    assert st.loc["metric", "chisq_diff"] == pytest.approx(
        lrt_ref["metric_vs_configural_ml"][1]["Chisq diff"], rel=1e-6)
    assert st.loc["scalar.partial", "chisq_diff"] == pytest.approx(
        lrt_ref["scalar_partial_vs_metric_ml"][1]["Chisq diff"], rel=1e-6)
    fit_ref = REF["cases"]
    for step, key in [("configural", "configural_ml"), ("metric", "metric_ml"),
                      ("scalar", "scalar_ml"), ("scalar.partial", "scalar_partial_ml")]:
        for col in ("chisq", "cfi", "rmsea", "srmr"):
            assert st.loc[step, col] == pytest.approx(fit_ref[key]["fit"][col], abs=1e-6)
    assert st.loc["scalar", "delta_cfi"] == pytest.approx(
        fit_ref["scalar_ml"]["fit"]["cfi"] - fit_ref["metric_ml"]["fit"]["cfi"], abs=1e-6)
    sug = res.suggestions
    assert list(sug["parameter"][:2]) == ["x3~1", "x7~1"]
    assert (sug["p_value"] < 0.05).all() and list(sug["X2"]) == sorted(sug["X2"], reverse=True)
    d = json.loads(json.dumps(res.to_dict()))
    need = {"name", "chisq", "df", "cfi", "rmsea", "srmr", "chisq_diff", "df_diff", "p_diff",
            "delta_cfi", "delta_rmsea", "decision"}
    assert all(need <= set(s) for s in d["steps"]) and d["suggestions"]


def test_invariance_mlr_uses_scaled_difference_and_robust_indices():
    res = measurement_invariance(MODEL, hs(), "school", estimator="MLR", partial=False,
                                 steps=("configural", "metric", "scalar"))
    st = res.steps.set_index("name")
    assert res.indices["cfi"] == "cfi.robust" and res.difference_test == "satorra.bentler.2001"
    f = REF["cases"]
    assert st.loc["metric", "chisq"] == pytest.approx(f["metric_mlr"]["fit"]["chisq.scaled"],
                                                      abs=1e-3)
    assert st.loc["metric", "cfi"] == pytest.approx(f["metric_mlr"]["fit"]["cfi.robust"],
                                                    abs=1e-6)
    assert st.loc["scalar", "chisq_diff"] == pytest.approx(
        REF["lrt"]["scalar_vs_metric_mlr"][1]["Chisq diff"], rel=1e-4)
    assert list(st["decision"]) == ["reference", "holds", "fails"]
    assert "scalar.partial" not in st.index


@pytest.mark.parametrize("step, row, want", [
    ("metric", dict(p_diff=0.2, delta_cfi=-0.009, delta_rmsea=0.010, delta_srmr=0.025),
     {"chisq": "holds", "cheung_rensvold_2002": "holds", "chen_2007": "holds"}),
    ("scalar", dict(p_diff=0.01, delta_cfi=-0.009, delta_rmsea=0.010, delta_srmr=0.025),
     {"chisq": "fails", "cheung_rensvold_2002": "holds", "chen_2007": "fails"}),
    ("metric", dict(p_diff=0.2, delta_cfi=-0.011, delta_rmsea=0.0, delta_srmr=0.0),
     {"chisq": "holds", "cheung_rensvold_2002": "fails", "chen_2007": "fails"}),
    ("strict", dict(p_diff=0.2, delta_cfi=-0.005, delta_rmsea=0.016, delta_srmr=0.0),
     {"chisq": "holds", "cheung_rensvold_2002": "holds", "chen_2007": "fails"}),
])
def test_decision_rules(step, row, want):
    """Cheung & Rensvold (2002): dCFI >= -.01; Chen (2007): dCFI >= -.01, dRMSEA <= .015,
    dSRMR <= .030 (loadings) / .010 (intercepts, residuals)."""
    assert _verdicts(step, row, 0.05) == want


def test_invariance_cli(tmp_path):
    from pipeline.__main__ import main
    model = tmp_path / "hs.lav"
    model.write_text(MODEL, encoding="utf-8")
    out = tmp_path / "inv.json"
    rc = main(["invariance", str(REFERENCE / "data" / REF["data"]), str(model), "--group",
               "school", "--steps", "configural,metric", "--json", str(out)])
    assert rc == 0
    d = json.loads(out.read_text(encoding="utf-8"))
    assert [s["name"] for s in d["steps"]] == ["configural", "metric"]
    assert d["steps"][1]["chisq_diff"] == pytest.approx(8.1922, abs=1e-4)
    assert d["options"]["group"] == "school" and d["suggestions"] == []
    assert main(["invariance", str(REFERENCE / "data" / REF["data"]), str(model),
                 "--group", "nope"]) == 2
    assert main(["invariance", str(REFERENCE / "data" / REF["data"]), str(model),
                 "--group", "school", "--ordered", "x1"]) == 2


def test_suggestions_only_name_the_constraints_a_step_adds():
    """After a partial scalar step, the strict step's score tests point only to
    residual variances (the constraints strict adds), never to loadings or
    intercepts; five groups (bfi by education, MLR)."""
    data = pd.read_csv(REFERENCE / "data" / "bfi.csv")
    res = measurement_invariance("agree =~ A1 + A2 + A3 + A4 + A5\nconsc =~ C1 + C2 + C3 + C4 + C5",
                                 data, "education", estimator="MLR", decision_rule="chisq",
                                 max_free=2)
    sug = res.suggestions
    strict = sug[sug["step"] == "strict"]["parameter"]
    assert len(strict) and all("~~" in p and p.split("~~")[0] == p.split("~~")[1] for p in strict)
    scalar = sug[sug["step"] == "scalar"]["parameter"]
    assert len(scalar) and all(p.endswith("~1") for p in scalar)
    assert res.warnings == ["223 row(s) with a missing 'education' were not used"]


@pytest.mark.parametrize("key", sorted(REF["lrt_fixedx"]))
def test_scaled_differences_with_a_fixed_x_covariate(key):
    """R: lavTestLRT(sem(visual ~ ageyr, group = "school", estimator = ...), the same
    with group.equal = "loadings", method = ...): the covariates' moments are left out
    of the h1 information and MLM's Gamma is lavaan's fixed.x ADF Gamma."""
    est, method = key.split("_", 1)
    method = method.replace("_", ".")
    model = REF["extra"]["hs_fixedx_metric_ml"]["model"]
    a = fit_multigroup(model, hs(), "school", estimator=est.upper(), baseline=False)
    b = fit_multigroup(model, hs(), "school", estimator=est.upper(), group_equal=["loadings"],
                       baseline=False)
    t = lrt(a, b, method=method)
    assert t["chisq_diff"] == pytest.approx(REF["lrt_fixedx"][key][1]["Chisq diff"], rel=1e-4)
