"""Ordinal estimation (WLSMV, DWLS, ULSMV) against lavaan 0.6-14 on the bfi items.

Fixture: tests/reference/lavaan_ordinal.R -> fixtures/lavaan_ordinal.json
(psych::bfi agreeableness, conscientiousness and extraversion items, 6-point
Likert, N = 2563 complete cases).  Tolerances (issue 12): polychoric
correlations 1e-4 of lavCor, fit measures 1e-3 (absolute), estimates 1e-3,
standard errors 2 %.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.core.exceptions import DataValidationError
from pipeline.sem import fit
from pipeline.sem.ordinal import (EmptyCategoryWarning, bvn_cdf, check_ordinal, polychoric,
                                  polyserial, thresholds, wls_stats)

REF = Path(__file__).resolve().parents[1] / "reference"
FIX = json.loads((REF / "fixtures" / "lavaan_ordinal.json").read_text())
ITEMS = FIX["items"]
CASES = {"bfi_wlsmv": "WLSMV", "bfi_dwls": "DWLS", "bfi_ulsmv": "ULSMV",
         # the thesis's structure: an ordinal item between factors (+ indirect effect),
         # and an ordinal item correlated with factors
         "bfi_wlsmv_sem": "WLSMV", "bfi_wlsmv_cov": "WLSMV",
         # ordinal items with two continuous variables (age, education)
         "bfi_wlsmv_mixed": "WLSMV",
         # exogenous covariates (lavaan's conditional.x): probit regressions, residual
         # polychorics, slopes in the WLS statistics
         "bfi_wlsmv_x": "WLSMV",
         # A2's category 3 recoded to 4: an empty middle category, collapsed as lavaan
         "bfi_wlsmv_gap": "WLSMV"}
MIXED = [f"A{i}" for i in range(1, 6)] + ["age", "education"]
WITHX = [f"A{i}" for i in range(1, 6)] + ["age", "gender"]


@pytest.fixture(scope="module")
def bfi():
    return pd.read_csv(REF / "data" / "bfi.csv")


@pytest.fixture(scope="module")
def fits(bfi):
    data = bfi[ITEMS].dropna()
    out = {}
    for name, est in CASES.items():
        if name == "bfi_wlsmv_gap":
            dg = data[ITEMS[:5]].copy()
            dg.loc[dg["A2"] == 3, "A2"] = 4
            with pytest.warns(EmptyCategoryWarning, match=r"A2: response category 3 is empty"):
                out[name] = fit(FIX["cases"][name]["model"], dg, estimator=est, ordered="all")
        elif name in ("bfi_wlsmv_mixed", "bfi_wlsmv_x"):
            cols = MIXED if name == "bfi_wlsmv_mixed" else WITHX
            out[name] = fit(FIX["cases"][name]["model"], bfi[cols].dropna(), estimator=est,
                            ordered=cols[:5])
        else:
            out[name] = fit(FIX["cases"][name]["model"], data, estimator=est, ordered="all")
    return out


def _pairs(df):
    """``~~`` rows keyed by the unordered pair (lavaan writes ``agree ~~ C1``)."""
    df = df.copy()
    cov = df["op"] == "~~"
    lo = np.where(cov, np.minimum(df["lhs"], df["rhs"]), df["lhs"])
    hi = np.where(cov, np.maximum(df["lhs"], df["rhs"]), df["rhs"])
    df["lhs"], df["rhs"] = lo, hi
    return df


def test_fixture_versions():
    assert FIX["versions"]["lavaan"] == "0.6.14"


def test_bivariate_normal_cdf_against_scipy():
    from scipy import stats
    for r in (-0.95, -0.5, 0.0, 0.3, 0.8, 0.97):
        mvn = stats.multivariate_normal(mean=[0, 0], cov=[[1, r], [r, 1]])
        for h, k in ((-1.2, 0.3), (0.5, 0.5), (2.0, -1.5), (-0.3, -2.2)):
            assert bvn_cdf(np.array([h]), np.array([k]), r)[0] == pytest.approx(
                mvn.cdf([h, k]), abs=1e-7)


def test_polychoric_matches_lavcor(bfi):
    X = bfi[ITEMS].dropna().to_numpy(float)
    assert X.shape[0] == FIX["nobs_listwise"]
    ws = wls_stats(X, ITEMS, ITEMS)
    R = np.array(FIX["lavcor"]["cor"])
    assert FIX["lavcor"]["names"] == ITEMS
    assert np.max(np.abs(ws.cor - R)) < 1e-4
    th = np.array(FIX["cases"]["bfi_wlsmv"]["sampstat"]["th"])
    assert np.max(np.abs(ws.th - th)) < 1e-10
    assert ws.th_names == FIX["cases"]["bfi_wlsmv"]["sampstat"]["th_names"]
    obs = np.array(FIX["cases"]["bfi_wlsmv"]["wls_obs"])
    assert np.max(np.abs(ws.obs - obs)) < 1e-4


def test_polyserial_matches_lavcor(bfi):
    mix = FIX["lavcor_mixed"]
    d = bfi[mix["names"]].dropna()
    assert len(d) == mix["nobs"]
    R = np.array(mix["cor"])
    age = d["age"].to_numpy(float)
    for j, item in enumerate(mix["names"][:-1]):
        codes = check_ordinal(d[[item]].to_numpy(float), [item], [item])[item]
        assert polyserial(age, codes) == pytest.approx(R[-1, j], abs=1e-6), item
    c1 = check_ordinal(d[["A1"]].to_numpy(float), ["A1"], ["A1"])["A1"]
    c2 = check_ordinal(d[["A2"]].to_numpy(float), ["A2"], ["A2"])["A2"]
    assert polychoric(c1, c2, thresholds(c1), thresholds(c2)) == pytest.approx(R[1, 0], abs=1e-4)


@pytest.mark.parametrize("name", list(CASES))
def test_fit_measures_match_lavaan(fits, name):
    res, ref = fits[name], FIX["cases"][name]["fit"]
    fm = res.fit_measures()
    assert list(fm.index) == list(ref)
    compared = 0
    for key, val in ref.items():
        if val is None:
            assert math.isnan(fm[key]), key
            continue
        assert fm[key] == pytest.approx(val, abs=1e-3), key
        compared += 1
    assert compared >= 35
    if ref.get("cfi.robust") is not None:      # Savalei's catML-based robust indices
        for key in ("cfi.robust", "tli.robust", "rmsea.robust", "rmsea.ci.upper.robust"):
            assert fm[key] == pytest.approx(ref[key], rel=1e-4), key


@pytest.mark.parametrize("name", list(CASES))
def test_estimates_thresholds_and_se_match_lavaan(fits, name):
    res, case = fits[name], FIX["cases"][name]
    pe = _pairs(pd.DataFrame(case["parameters"]))
    m = pe.merge(_pairs(res.parameters), on=["lhs", "op", "rhs"], suffixes=("_r", ""))
    assert len(m) == len(pe) == len(res.parameters)
    assert (m["op"] == "|").sum() == 5 * len(res.options["ordered"]) - (name == "bfi_wlsmv_gap")
    assert np.max(np.abs(m["est"] - m["est_r"])) < 1e-3
    assert np.max(np.abs(m["std.all"] - m["std.all_r"])) < 1e-3
    free = m["se_r"] > 0
    assert free.sum() - (m["op"] == ":=").sum() == len(case["vcov_names"]) == res.npar
    assert np.max(np.abs(m.loc[free, "se"] / m.loc[free, "se_r"] - 1)) < 0.02
    assert res.options["se"] == case["options"]["se"]
    assert res.options["test"] == case["options"]["test"]


def test_empty_category_is_stated_or_an_error_naming_item_and_category():
    X = np.array([[1, 1], [2, 2], [4, 1], [5, 2], [2, 1]], dtype=float)
    notes = []
    codes = check_ordinal(X, ["q1", "q2"], ["q1", "q2"], notes=notes)
    assert notes == ["ordered item q1: response category 3 is empty (nobody chose it); the 4 "
                     "observed categories ['1', '2', '4', '5'] are used, with 3 thresholds (as "
                     "lavaan); recode the item to collapse the category explicitly"]
    assert codes["q1"].tolist() == [0, 1, 2, 3, 1]
    with pytest.warns(EmptyCategoryWarning, match="q1: response category 3 is empty"):
        check_ordinal(X, ["q1", "q2"], ["q1"])
    Y = np.array([[2.0], [4.0], [2.0], [4.0]])
    with pytest.raises(DataValidationError, match=r"item q2: response category 3 is empty"):
        check_ordinal(Y, ["q2"], ["q2"], levels={"q2": [2, 3, 4]})
    codes = check_ordinal(X, ["q1", "q2"], ["q2"])["q2"]
    assert codes.tolist() == [0, 1, 0, 1, 0]


def test_non_integer_and_infinite_cells_are_named(bfi):
    d = bfi[ITEMS].dropna().head(300).copy()
    d.iloc[3, 2] = 2.5
    with pytest.raises(DataValidationError, match=r"A3: non-integer value 2.5 \(row 5\)"):
        fit(FIX["cases"]["bfi_wlsmv"]["model"], d, ordered="all")
    d.iloc[3, 2] = np.inf
    with pytest.raises(DataValidationError, match=r"A3 row 5 \(\+inf\)"):
        fit(FIX["cases"]["bfi_wlsmv"]["model"], d, ordered="all")


def test_ordered_needs_a_least_squares_estimator(bfi):
    with pytest.raises(ValueError, match="not available with ordered items"):
        fit(FIX["cases"]["bfi_wlsmv"]["model"], bfi, estimator="MLR", ordered=ITEMS)
    with pytest.raises(ValueError, match="estimator must be one of"):
        fit(FIX["cases"]["bfi_wlsmv"]["model"], bfi, estimator="WLSM")


def test_satorra2000_difference_matches_lavTestLRT(bfi):
    # lavTestLRT(f1, f0) for WLSMV (lavaan 0.6-14): Chisq diff 2440.96941325 on
    # 2 df (method "satorra.2000", scaled-shifted, A by the "delta" method);
    # lav_test_diff_Satorra2000: trace.UGamma 5.51, trace.UGamma2 20.9, a 0.31
    from pipeline.sem import robust
    items = [f"A{i}" for i in range(1, 6)] + [f"E{i}" for i in range(1, 6)]
    d = bfi[items].dropna()
    f1 = fit("agree =~ A1 + A2 + A3 + A4 + A5\nextra =~ E1 + E2 + E3 + E4 + E5", d,
             ordered="all")
    f0 = fit("agree =~ A1 + a*A2 + a*A3 + A4 + A5\nextra =~ E1 + b*E2 + E3 + E4 + b*E5", d,
             ordered="all")
    w = f1.wls
    P_inv = np.linalg.inv(w.delta.T @ (w.weights[:, None] * w.delta))
    out = robust.satorra2000_difference(f0.chisq, f0.df, f1.chisq, f1.df, w.delta, w.weights,
                                        w.gamma, f1.nobs, P_inv, Delta0=f0.wls.delta)
    assert out["df"] == 2
    assert out["stat"] == pytest.approx(2440.96941325, rel=1e-6)
    assert out["trace_UGamma"] == pytest.approx(5.51, abs=0.005)
    assert out["a"] == pytest.approx(0.31, abs=0.0005)


def test_mixed_wls_statistics_and_gamma_match_lavaan(bfi):
    # continuous variables: TH holds -mean, then their variances, then the
    # covariances (polyserial x SD, Pearson covariance); NACOV by Muthen (1984)
    # with the correlation -> covariance Jacobian
    case = FIX["cases"]["bfi_wlsmv_mixed"]
    X = bfi[MIXED].dropna().to_numpy(float)
    ws = wls_stats(X, MIXED, MIXED[:5])
    assert ws.nobs == case["nobs"]
    obs = np.array(case["wls_obs"])
    assert len(ws.obs) == len(obs) == 25 + 2 + 2 + 21
    assert np.max(np.abs(ws.obs - obs) / np.maximum(1, np.abs(obs))) < 1e-6
    G = np.array(case["gamma"])
    assert np.max(np.abs(ws.gamma - G)) < 1e-6 * np.max(np.abs(G))


def test_conditional_x_statistics_and_gamma_match_lavaan(bfi):
    from pipeline.sem.ordinal import wls_stats_x
    case = FIX["cases"]["bfi_wlsmv_x"]
    X = bfi[WITHX].dropna().to_numpy(float)
    ws = wls_stats_x(X, WITHX[:5], WITHX[5:])
    assert ws.nobs == case["nobs"]
    obs = np.array(case["wls_obs"])
    assert len(ws.obs) == len(obs) == 25 + 10 + 10
    assert np.max(np.abs(ws.obs - obs)) < 1e-6
    G = np.array(case["gamma"])
    assert np.max(np.abs(ws.gamma - G)) < 1e-6 * np.max(np.abs(G))


def test_refit_wls_reproduces_the_fit_and_refits_a_resample(bfi):
    # the per-draw refit a WLSMV bootstrap needs: same data -> same estimates;
    # a resample -> a converged, different solution
    from pipeline.sem.wls import refit_wls
    d = bfi[ITEMS[:5]].dropna().head(600)
    res = fit("agree =~ A1 + A2 + A3 + A4 + A5", d, ordered="all")
    X = d.to_numpy(float)
    theta, ok = refit_wls(res, X, start=res.theta * 0.9)
    assert ok and np.allclose(theta, res.theta, atol=1e-8)
    rng = np.random.default_rng(3)
    Xb = X[rng.integers(0, len(X), len(X))]
    theta_b, ok_b = refit_wls(res, Xb)
    full = fit("agree =~ A1 + A2 + A3 + A4 + A5", pd.DataFrame(Xb, columns=ITEMS[:5]),
               ordered="all")
    assert ok_b and np.max(np.abs(theta_b - res.theta)) > 1e-3
    assert np.allclose(theta_b, full.theta, atol=1e-7)


def test_tetrachoric_with_empty_cells_matches_lavcor(bfi):
    # 2x2 tables with an empty cell get lavaan's zero.add = 0.5 with the margins
    # kept.  lavCor(b, ordered = names(b)) on the first 400 complete bfi rows,
    # a = A1 >= 6, b = A2 <= 2, c = C1 <= 1, e = E1 >= 4 (lavaan 0.6-14; the
    # a-c and b-c tables have an empty cell), lower triangle by columns:
    ref = [0.4599976762, 0.2329079505, -0.2602534647, 0.0218614199, 0.2494397667,
           -0.0162359042]
    d = bfi[["A1", "A2", "C1", "E1"]].dropna().iloc[:400]
    b = np.column_stack([d["A1"] >= 6, d["A2"] <= 2, d["C1"] <= 1, d["E1"] >= 4]).astype(float)
    ws = wls_stats(b, ["a", "b", "c", "e"], ["a", "b", "c", "e"])
    got = [ws.cor[i, j] for j in range(4) for i in range(j + 1, 4)]
    assert np.allclose(got, ref, atol=1e-6)


def test_thresholds_in_the_syntax_make_an_item_ordered(bfi):
    # lavaan: 'y | t1 + t2 ...' declares y ordered; the fit equals ordered = all
    d = bfi[ITEMS[:5]].dropna().head(800)
    full = fit("agree =~ A1 + A2 + A3 + A4 + A5", d, ordered="all")
    th = "\n".join(f"{v} | t1 + t2 + t3 + t4 + t5" for v in ("A1", "A2"))
    part = fit("agree =~ A1 + A2 + A3 + A4 + A5\n" + th, d, ordered=["A3", "A4", "A5"])
    assert sorted(part.options["ordered"]) == ITEMS[:5]
    assert part.chisq == pytest.approx(full.chisq, rel=1e-10)
    assert (part.parameters["op"] == "|").sum() == 25


@pytest.mark.parametrize("name", ["bfi_wlsmv", "bfi_wlsmv_x"])
def test_modification_indices_match_lavaan(fits, name):
    ref = pd.DataFrame(FIX["cases"][name]["modindices"])
    out = fits[name].modification_indices()
    m = ref.merge(out, on=["lhs", "op", "rhs"], suffixes=("_r", ""))
    assert len(m) == len(ref) == len(out)
    assert np.max(np.abs(m["mi"] / m["mi_r"] - 1)) < 1e-3
    assert np.max(np.abs(m["epc"] - m["epc_r"])) < 1e-4
    assert np.max(np.abs(m["sepc.all"] - m["sepc.all_r"])) < 1e-4


def test_batched_polychoric_stage_equals_the_pairwise_one(bfi):
    """The batched Fisher scoring over all pairs (wls_stats) gives each pair's
    scalar polychoric() estimate, and its cell-based scores give _bi_scores'
    case-wise sums; a mixed table size (a 3-category item) is batched separately."""
    from pipeline.sem.ordinal import _bi_scores, _polychoric_pairs
    X = bfi[ITEMS[:6]].dropna()
    X = X.assign(C1=np.minimum(X["C1"], 3))          # 3 categories: a 6 x 3 table group
    codes = check_ordinal(X.to_numpy(float), ITEMS[:6], ITEMS[:6])
    C = [codes[v] for v in ITEMS[:6]]
    ths = [thresholds(c) for c in C]
    ncat = [len(t) + 1 for t in ths]
    pairs = [(i, j) for j in range(6) for i in range(j + 1, 6)]
    out = _polychoric_pairs(C, ths, pairs, ncat)
    for (i, j) in pairs:
        r, s_rho, a_i, a_j = out[(i, j)]
        assert r == pytest.approx(polychoric(C[i], C[j], ths[i], ths[j]), abs=1e-10)
        s_ref, Si, Sj = _bi_scores(C[i], C[j], ths[i], ths[j], r)
        np.testing.assert_allclose(s_rho, s_ref, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(a_i, s_ref @ Si, rtol=1e-10, atol=1e-9)
        np.testing.assert_allclose(a_j, s_ref @ Sj, rtol=1e-10, atol=1e-9)
