"""Multi-group models (pipeline.sem.multigroup) against lavaan 0.6-14.

Reference: tests/reference/lavaan_multigroup.R -> fixtures/lavaan_multigroup.json,
HolzingerSwineford1939 grouped by school (Pasteur n = 156, Grant-White n = 145).
Measured deviations (all cases, ML/MLR/MLM): estimates <= 1.6e-5, SEs <= 7.5e-5
relative, fit measures <= 1.6e-4 (chisq.scaled; everything else <= 1e-6).
"""
from __future__ import annotations

import functools
import math

import numpy as np
import pandas as pd
import pytest

from pipeline.core.exceptions import ModelSpecificationError
from pipeline.sem.multigroup import build_multigroup, fit_multigroup, parse_group_partial
from tests.conftest import REFERENCE, load_fixture

REF = load_fixture("lavaan_multigroup.json")
CASES = sorted(k for k in REF["cases"] if "fiml" not in k)   # FIML: see below


@functools.lru_cache(maxsize=None)
def hs() -> pd.DataFrame:
    return pd.read_csv(REFERENCE / "data" / REF["data"])


@functools.lru_cache(maxsize=None)
def fitted(key: str):
    c = REF["cases"][key]
    data = pd.read_csv(REFERENCE / "data" / c["data"]) if "data" in c else hs()
    return fit_multigroup(c["model"], data, REF["group"], group_equal=c["group_equal"],
                          group_partial=c["group_partial"], estimator=c["estimator"],
                          missing="fiml" if c.get("missing") == "ml" else "listwise")


def test_fixture_versions():
    assert REF["versions"]["lavaan"] == "0.6.14"
    assert REF["group_labels"] == ["Pasteur", "Grant-White"]


@pytest.mark.parametrize("key", CASES)
def test_parameters_match_lavaan(key):
    """R: parameterEstimates(cfa(model, HS, group = "school", group.equal = ...,
    estimator = ...), standardized = TRUE): every row (with its group and label),
    est, std.lv and std.all within 1e-4 (measured <= 1.6e-5), free SEs within 0.1%
    (measured <= 7.5e-5)."""
    c = REF["cases"][key]
    res = fitted(key)
    assert res.groups == REF["group_labels"]
    assert res.nobs == c["nobs"]
    assert res.npar == c["npar"] and res.df == c["df"]
    ref = pd.DataFrame(c["parameters"])
    m = ref.merge(res.parameters, on=["lhs", "op", "rhs", "group"], how="outer",
                  suffixes=("_r", ""), indicator=True)
    assert (m["_merge"] == "both").all(), m[m["_merge"] != "both"]
    assert list(m["label"].fillna("")) == list(m["label_r"].fillna(""))
    np.testing.assert_allclose(m["est"], m["est_r"], atol=1e-4)
    np.testing.assert_allclose(m["std.lv"], m["std.lv_r"], atol=1e-4, equal_nan=True)
    np.testing.assert_allclose(m["std.all"], m["std.all_r"], atol=1e-4, equal_nan=True)
    free = m["se_r"] > 0
    np.testing.assert_allclose(m.loc[free, "se"], m.loc[free, "se_r"], rtol=1e-3)
    assert (m.loc[~free, "se"] == 0).all()


@pytest.mark.parametrize("key", CASES)
def test_fit_measures_match_lavaan(key):
    """R: fitMeasures(fit): every measure lavaan reports is computed, within 1e-3
    (chisq within 1e-4 relative)."""
    c = REF["cases"][key]
    fm = fitted(key).fit_measures()
    ref = {k: v for k, v in c["fit"].items() if v is not None}
    missing = sorted(set(ref) - set(fm.index))
    assert missing == []
    for k, v in ref.items():
        assert fm[k] == pytest.approx(v, abs=1e-3, rel=1e-4 if "chisq" in k else 0), k


def test_rmsea_uses_the_multiple_group_correction():
    """lavaan (lav_fit_rmsea): sqrt(max(0, X2/(N df) - 1/N)) * sqrt(G)."""
    res = fitted("configural_ml")
    x, d, N = res.chisq, res.df, res.ntotal
    assert res.fit_measures()["rmsea"] == pytest.approx(
        math.sqrt((x - d) / (N * d)) * math.sqrt(2), rel=1e-12)
    assert res.chisq == pytest.approx(sum(res.chisq_group), rel=1e-12)


def test_equality_classes_and_lv_means():
    """scalar: 6 loadings and 9 intercepts equal (15 classes of 2 rows); the
    latent means are free in group 2 only, as lavaan frees them."""
    mg = build_multigroup(REF["cases"]["scalar_ml"]["model"], 2,
                          group_equal=["loadings", "intercepts"])
    assert len(mg.classes) == 15 and all(len(c) == 2 for c in mg.classes)
    for g, m in enumerate(mg.models):
        means = [r for r in m.rows if r["op"] == "~1" and r["lhs"] in m.latent]
        assert all((r["par"] >= 0) == (g == 1) for r in means)
    assert mg.npar == 48 and len(mg.free_rows()) == 63


def test_group_partial_parsing():
    assert parse_group_partial("visual =~ x2, x3~1") == {("visual", "=~", "x2"), ("x3", "~1", "")}
    assert parse_group_partial(["x1 ~~ x2"]) == {("x1", "~~", "x2"), ("x2", "~~", "x1")}
    with pytest.raises(ValueError, match="group_partial"):
        parse_group_partial(["x1"])
    with pytest.raises(ValueError, match="not in the model: x99~1"):
        build_multigroup("f =~ x1 + x2 + x3", 2, group_equal=["intercepts"],
                         group_partial=["x99~1"])
    with pytest.raises(ValueError, match="unknown keyword"):
        build_multigroup("f =~ x1 + x2 + x3", 2, group_equal=["loading"])


def test_errors_before_fitting():
    data = hs()
    with pytest.raises(ModelSpecificationError, match=r"not in the data.*x99 \(line 2\)"):
        fit_multigroup("f =~ x1 + x2\ng =~ x3 + x99", data, "school")
    with pytest.raises(ValueError, match="group='schol' is not a column"):
        fit_multigroup("f =~ x1 + x2 + x3", data, "schol")
    with pytest.raises(ModelSpecificationError, match="3 element"):
        fit_multigroup("f =~ x1 + c(a, b, c)*x2 + x3", data, "school")
    with pytest.raises(ValueError, match="estimator"):
        fit_multigroup("f =~ x1 + x2 + x3", data, "school", estimator="GLS")



def test_general_constraints_and_unicode_names():
    """A nonlinear == and an inequality in a two-group model with Cyrillic and
    dotted names: the constraints hold at the solution and the fit equals the
    one with the equivalent label equality (a == b written as labels)."""
    data = hs().rename(columns={"x1": "Лидер1", "x2": "Лидер2", "x3": "Лидер3",
                                "x4": "c.1", "x5": "c.2", "x6": "c.3"})
    text = ("Лидер =~ Лидер1 + c(а, b)*Лидер2 + Лидер3\n"
            "clutched.up =~ c.1 + c.2 + c.3\n")
    r1 = fit_multigroup(text + "а == b", data, "school", baseline=False)
    r2 = fit_multigroup(text + "b - а == 0\nb > 0.1", data, "school", baseline=False)
    assert r1.df == r2.df == 17
    assert r2.chisq == pytest.approx(r1.chisq, abs=1e-5)
    p1, p2 = r1.parameters, r2.parameters
    np.testing.assert_allclose(p2["est"], p1["est"], atol=1e-4)
    np.testing.assert_allclose(p2["se"], p1["se"], rtol=1e-3)


def test_single_group_general_constraints_match_lavaan():
    """group=None: one group.  R: cfa("... b == a^2 + 0.1; a > 0.6", HS): npar 12
    (13 free - 1 equality), the (inactive) inequality changes nothing; estimates,
    SEs (augmented information) and every fit measure as lavaan's."""
    c = REF["constrained"]
    res = fit_multigroup(c["model"], hs(), None)
    assert (res.npar, res.df) == (c["npar"], c["df"]) and res.converged
    ref = pd.DataFrame(c["parameters"])
    m = ref.merge(res.parameters, on=["lhs", "op", "rhs"], suffixes=("_r", ""))
    assert len(m) == len(ref) == len(res.parameters)
    np.testing.assert_allclose(m["est"], m["est_r"], atol=1e-4)
    free = m["se_r"] > 0
    np.testing.assert_allclose(m.loc[free, "se"], m.loc[free, "se_r"], rtol=1e-3)
    fm = res.fit_measures()
    for k, v in c["fit"].items():
        if v is not None:
            assert fm[k] == pytest.approx(v, abs=1e-3, rel=1e-4 if "chisq" in k else 0), k


@pytest.mark.parametrize("key", ["configural_fiml", "metric_fiml", "metric_fiml_mlr"])
def test_fiml_multigroup_matches_lavaan(key):
    """R: cfa(model, hs_mcar, group = "school", missing = "ml"[, estimator = "MLR"]).
    Estimates and SEs (observed information; MLR sandwich with FIML scores), and
    every fit measure, the FIML-corrected robust CFI/TLI/RMSEA (Zhang & Savalei;
    lav_fit_fiml_corrected V6 for ML, V3 for MLR: measured <= 1.6e-5) and GFI
    (available-case moments, per pattern) included."""
    c = REF["cases"][key]
    data = pd.read_csv(REFERENCE / "data" / c["data"])
    res = fit_multigroup(c["model"], data, "school", group_equal=c["group_equal"],
                         estimator=c["estimator"], missing="fiml")
    ref = pd.DataFrame(c["parameters"])
    m = ref.merge(res.parameters, on=["lhs", "op", "rhs", "group"], suffixes=("_r", ""))
    assert len(m) == len(ref)
    np.testing.assert_allclose(m["est"], m["est_r"], atol=1e-4)
    free = m["se_r"] > 0
    np.testing.assert_allclose(m.loc[free, "se"], m.loc[free, "se_r"], rtol=1e-3)
    fm = res.fit_measures()
    assert sorted(set(c["fit"]) - set(fm.index)) == []
    for k, v in c["fit"].items():
        if v is not None:
            assert fm[k] == pytest.approx(v, abs=1e-3, rel=1e-4 if "chisq" in k else 0), k


@pytest.mark.parametrize("key", sorted(REF["extra"]))
def test_more_groups_missing_group_values_and_fixed_x(key):
    """R: cfa(model, bfi, group = "education", estimator = "ML"/"MLR", group.equal = ...)
    -- five groups in order of first appearance, 223 rows with a missing group
    left out -- and sem(visual ~ ageyr, HS, group = "school") with a fixed.x
    covariate per group (ML, MLR and MLM: the h1 information without the
    covariates' moments, MLM's ADF Gamma of the residuals from the covariates,
    the baseline with the covariates fixed, as lavaan); std.lv = TRUE (factor variances free in group 2 with
    equal loadings).  Measured: est <= 6.2e-5, SE <= 1.2e-4 relative, fit
    measures <= 9.1e-5 (chisq.scaled)."""
    c = REF["extra"][key]
    data = pd.read_csv(REFERENCE / "data" / c["data"])
    res = fit_multigroup(c["model"], data, c["group"], group_equal=c["group_equal"],
                         estimator=c["estimator"], emit_warnings=False,
                         std_lv=bool(c.get("std_lv", False)))
    assert [str(g) for g in res.groups] == [str(g) for g in c["group_labels"]]
    assert res.nobs == c["nobs"] and (res.npar, res.df) == (c["npar"], c["df"])
    ref = pd.DataFrame(c["parameters"])
    m = ref.merge(res.parameters, on=["lhs", "op", "rhs", "group"], how="outer",
                  suffixes=("_r", ""), indicator=True)
    assert (m["_merge"] == "both").all()
    np.testing.assert_allclose(m["est"], m["est_r"], atol=1e-4)
    free = m["se_r"] > 0
    np.testing.assert_allclose(m.loc[free, "se"], m.loc[free, "se_r"], rtol=1e-3)
    fm = res.fit_measures()
    for k, v in c["fit"].items():
        if v is not None:
            assert fm[k] == pytest.approx(v, abs=1e-3, rel=1e-4 if "chisq" in k else 0), k


def test_active_inequality_matches_lavaan():
    """R: cfa("...a*x2...; a < 0.5", HS): the bound is active (a = 0.5), npar and df
    unchanged, the other estimates and SEs (augmented information with the active
    constraint) as lavaan's; no SE for a (NA), as lavaan."""
    c = REF["constrained_active"]
    res = fit_multigroup(c["model"], hs(), None)
    assert (res.npar, res.df) == (c["npar"], c["df"])
    assert res.chisq == pytest.approx(c["fit"]["chisq"], rel=1e-6)
    m = pd.DataFrame(c["parameters"]).merge(res.parameters, on=["lhs", "op", "rhs"],
                                            suffixes=("_r", ""))
    assert m.loc[m["label"] == "a", "est"].item() == pytest.approx(0.5, abs=1e-6)
    np.testing.assert_allclose(m["est"], m["est_r"], atol=1e-4)
    ok = m["se_r"].notna() & (m["se_r"] > 0)
    np.testing.assert_allclose(m.loc[ok, "se"], m.loc[ok, "se_r"], rtol=1e-3)
    assert m.loc[m["se_r"].isna(), "se"].isna().all() and m["se_r"].isna().sum() == 1


@pytest.mark.parametrize("key", ["configural_ml", "metric_ml", "strict_mlr", "sem_struct_ml"])
def test_r2_per_group_matches_lavaan(key):
    """R: lavInspect(fit, "r2"): one R² per indicator / dependent variable and group."""
    res = fitted(key)
    want = {(g, v): x for g, d in REF["cases"][key]["r2"].items() for v, x in d.items()}
    got = res.r2
    assert set(got.index) == set(want)
    for k, v in want.items():
        assert got[k] == pytest.approx(v, abs=1e-5)


def test_whitened_design_information_equals_the_jacobian_formula():
    """The expected information from the whitened RAM design (optimizer metric and
    ML standard errors) equals 1/2 tr(W dS_k W dS_l) + dmu_k' W dmu_l per group,
    with equal loadings and intercepts (shared columns) and a regression."""
    from pipeline.sem.multigroup import _Objective
    model = ("visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9\n"
             "speed ~ textual")
    res = fit_multigroup(model, hs(), REF["group"], group_equal=["loadings", "intercepts"],
                         baseline=False)
    obj = _Objective(res.estimators, res.stats, [n / res.ntotal for n in res.nobs])
    fast = obj.fast_information(res.theta, exact=True)
    np.testing.assert_allclose(fast, obj.expected_information(res.theta), atol=1e-12)


def test_warm_start_and_cached_statistics_reach_the_same_optimum():
    """A fit started from a neighbouring model's estimates (as the invariance
    sequence does) and with a shared statistics cache gives the cold fit's
    estimates, chi-square and standard errors."""
    model = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"
    cache: dict = {}
    conf = fit_multigroup(model, hs(), REF["group"], stats_cache=cache)
    cold = fit_multigroup(model, hs(), REF["group"], group_equal="loadings", estimator="MLR")
    warm = fit_multigroup(model, hs(), REF["group"], group_equal="loadings", estimator="MLR",
                          warm_start=conf, stats_cache=cache)
    assert warm.iterations < cold.iterations
    assert warm.chisq == pytest.approx(cold.chisq, rel=1e-10)
    np.testing.assert_allclose(warm.theta, cold.theta, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(warm.parameters["se"], cold.parameters["se"], rtol=1e-6)
    assert warm.fit_measures()["chisq.scaled"] == pytest.approx(
        cold.fit_measures()["chisq.scaled"], rel=1e-8)
