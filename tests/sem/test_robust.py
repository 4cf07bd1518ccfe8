"""MLM / MLR (also with FIML) against lavaan 0.6-14 on real data.

Fixture: tests/reference/lavaan_robust.R -> fixtures/lavaan_robust.json
(HolzingerSwineford1939 and PoliticalDemocracy).  Tolerances (issue 12):
fit measures 1e-3 (absolute), estimates 1e-3, standard errors 1 %.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.sem import fit
from pipeline.sem import robust

REF = Path(__file__).resolve().parents[1] / "reference"
FIX = json.loads((REF / "fixtures" / "lavaan_robust.json").read_text())
CASES = {"hs_mlm": dict(estimator="MLM"), "poldem_mlm": dict(estimator="MLM"),
         "hs_mlr": dict(estimator="MLR"), "poldem_mlr": dict(estimator="MLR"),
         "hs_mlr_ms": dict(estimator="MLR", meanstructure=True),
         "hs_mlr_fiml": dict(estimator="MLR", missing="fiml"),
         # fixed.x covariates (ageyr, agemo): lavaan's residual-based Gamma
         "hs_fixedx_mlm": dict(estimator="MLM"), "hs_fixedx_mlr": dict(estimator="MLR"),
         "hs_fixedx_mlr_fiml": dict(estimator="MLR", missing="fiml"),
         # psych::bfi, N = 2800 with its real item nonresponse
         "bfi_mlr_fiml": dict(estimator="MLR", missing="fiml"),
         # least squares on continuous data (ADF Gamma, unbiased S)
         "hs_uls": dict(estimator="ULS"), "hs_dwls": dict(estimator="DWLS"),
         "hs_wlsmv": dict(estimator="WLSMV"), "hs_ulsmv": dict(estimator="ULSMV")}


def test_fixture_versions():
    assert FIX["versions"]["lavaan"] == "0.6.14"


@pytest.fixture(scope="module")
def fits():
    out = {}
    for name, kw in CASES.items():
        case = FIX["cases"][name]
        data = pd.read_csv(REF / "data" / case["data"])
        out[name] = fit(case["model"], data, **kw)
    return out


@pytest.mark.parametrize("name", list(CASES))
def test_fit_measures_match_lavaan(fits, name):
    res, ref = fits[name], FIX["cases"][name]["fit"]
    fm = res.fit_measures()
    compared = 0
    for key, val in ref.items():
        if val is None:
            continue
        assert key in fm.index, key
        # 1e-3 absolute, or 1e-6 relative for chi-squares in the thousands (the
        # EM estimate of the saturated model is itself only that precise)
        assert fm[key] == pytest.approx(val, abs=1e-3, rel=1e-6), key
        compared += 1
    assert compared >= 38
    for key in ("chisq.scaled", "chisq.scaling.factor", "cfi.scaled", "rmsea.scaled",
                "cfi.robust", "rmsea.robust"):   # FIML: Zhang & Savalei's corrected statistics
        if ref.get(key) is not None:
            assert fm[key] == pytest.approx(ref[key], rel=1e-4), key


@pytest.mark.parametrize("name", list(CASES))
def test_estimates_and_robust_se_match_lavaan(fits, name):
    res, case = fits[name], FIX["cases"][name]
    pe = pd.DataFrame(case["parameters"])
    m = pe.merge(res.parameters, on=["lhs", "op", "rhs"], suffixes=("_r", ""))
    assert len(m) == len(pe)
    assert np.max(np.abs(m["est"] - m["est_r"])) < 1e-3
    free = m["se_r"] > 0
    assert free.sum() == len(case["vcov_names"]) + (m["op"] == ":=").sum()
    rel = np.abs(m.loc[free, "se"] / m.loc[free, "se_r"] - 1)
    assert rel.max() < 0.01
    assert res.options["se"] == case["options"]["se"]
    assert res.options["test"] == case["options"]["test"]


def test_mlm_scaling_is_adf_over_normal_theory_for_normal_moments():
    # With Gamma = the normal-theory Gamma at the model-implied moments, the
    # Satorra-Bentler trace equals df exactly (c = 1): U Gamma_NT is idempotent.
    rng = np.random.default_rng(1)
    p = 4
    L = rng.normal(size=(p, 1))
    Sigma = L @ L.T + np.eye(p)
    D = robust.duplication(p)
    Delta = np.linalg.qr(rng.normal(size=(p * (p + 1) // 2, 6)))[0]   # any full-rank Jacobian
    A1 = robust.h1_expected_information(Sigma)
    G = robust.gamma_nt(Sigma)
    assert np.allclose(A1 @ G, np.eye(len(G)))
    tr, tr2 = robust.ugamma_traces(Delta, A1, G, 100)
    assert tr == pytest.approx(p * (p + 1) // 2 - 6)
    assert tr2 == pytest.approx(tr)
    assert D.shape == (p * p, p * (p + 1) // 2)


def test_multigroup_traces_are_sums_for_separate_parameters():
    # two groups with disjoint parameters: the stacked trace is the sum of the
    # single-group traces (the group-general API the multi-group fit uses)
    rng = np.random.default_rng(2)
    q = 6
    D1, D2 = rng.normal(size=(q, 2)), rng.normal(size=(q, 3))
    W1, W2 = np.eye(q) * 2, np.diag(rng.uniform(1, 2, q))
    G1 = np.cov(rng.normal(size=(q, 50)))
    G2 = np.cov(rng.normal(size=(q, 50)))
    t1 = robust.ugamma_traces(D1, W1, G1, 40)
    t2 = robust.ugamma_traces(D2, W2, G2, 60)
    Z = np.zeros
    tr = robust.ugamma_traces([np.hstack([D1, Z((q, 3))]), np.hstack([Z((q, 2)), D2])],
                              [W1, W2], [G1, G2], [40, 60])
    assert tr[0] == pytest.approx(t1[0] + t2[0])
    assert tr[1] == pytest.approx(t1[1] + t2[1])


def test_mlm_refuses_fiml_and_unknown_estimator():
    data = pd.read_csv(REF / "data" / "holzinger_swineford.csv")
    model = FIX["cases"]["hs_mlm"]["model"]
    with pytest.raises(ValueError, match="MLM"):
        fit(model, data, estimator="MLM", missing="fiml")
    with pytest.raises(ValueError, match="estimator must be one of"):
        fit(model, data, estimator="GLS")


def test_mlr_bootstrap_uses_the_ml_fast_path(fits):
    # MLR estimates are the ML estimates: the bootstrap of an MLR fit is the
    # ML bootstrap (same draws for the same seed), on the fast path
    from pipeline.sem.bootstrap import bootstrap
    case = FIX["cases"]["hs_mlr"]
    data = pd.read_csv(REF / "data" / case["data"])
    b_mlr = bootstrap(fits["hs_mlr"], B=20, seed=7, progress=False, workers=1)
    b_ml = bootstrap(fit(case["model"], data), B=20, seed=7, progress=False, workers=1)
    assert b_mlr.n_ok == 20
    assert np.array_equal(b_mlr.draws, b_ml.draws)
    assert fits["hs_mlr"].options["estimator"] == "MLR"


def test_scaled_difference_matches_lavTestLRT(fits):
    # lavTestLRT(f1, f0) with estimator = "MLR" (lavaan 0.6-14, R 4): the
    # Satorra-Bentler 2001 scaled difference, Chisq diff 10.8594293779 on 2 df,
    # Pr = 0.0043843 (m0 adds x2 = x3 and x5 = x6 loading equalities)
    data = pd.read_csv(REF / "data" / "holzinger_swineford.csv")
    m0 = ("visual =~ x1 + a*x2 + a*x3\ntextual =~ x4 + b*x5 + b*x6\n"
          "speed =~ x7 + x8 + x9")
    f0 = fit(m0, data, estimator="MLR")
    f1 = fits["hs_mlr"]
    t0, t1 = f0.test_scaled, f1.test_scaled
    out = robust.scaled_difference_test(f0.chisq, f0.df, t0["scaling_factor"],
                                        f1.chisq, f1.df, t1["scaling_factor"])
    assert out["df"] == 2
    assert out["stat"] == pytest.approx(10.8594293779, abs=1e-4)
    assert out["pvalue"] == pytest.approx(0.0043843, abs=1e-6)


def test_cli_estimator_and_ordered_options(tmp_path, capsys):
    from pipeline.cli.fit import main
    model = tmp_path / "hs.lav"
    model.write_text(FIX["cases"]["hs_mlr"]["model"])
    out = tmp_path / "fit.json"
    assert main([str(REF / "data" / "holzinger_swineford.csv"), str(model), "--estimator",
                 "mlr", "--json", str(out), "--no-progress"]) == 0
    res = json.loads(out.read_text())
    ref = FIX["cases"]["hs_mlr"]["fit"]
    assert res["options"]["estimator"] == "MLR"
    assert res["fit"]["chisq.scaled"] == pytest.approx(ref["chisq.scaled"], abs=1e-3)
    assert res["fit"]["cfi.robust"] == pytest.approx(ref["cfi.robust"], abs=1e-3)
    text = capsys.readouterr().out
    assert "Yuan-Bentler (Mplus variant) scaled chi-square" in text
    bfi = tmp_path / "bfi.csv"
    pd.read_csv(REF / "data" / "bfi.csv")[["A1", "A2", "A3", "A4", "A5"]].head(400).to_csv(
        bfi, index=False)
    model.write_text("agree =~ A1 + A2 + A3 + A4 + A5")
    assert main([str(bfi), str(model), "--ordered", "all", "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["options"]["estimator"] == "WLSMV"
    assert sum(p["op"] == "|" for p in res["parameters"]) == 25
    assert "chisq.scaled" in res["fit"]


# ------------------------------------------------ the fast paths equal the textbook formulas
@pytest.fixture(scope="module")
def hs_mlr_ms():
    d = pd.read_csv(REF / "data" / "holzinger_swineford.csv")
    model = ("visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + a*x6\nspeed =~ x7 + x8 + a*x9\n"
             "speed ~ visual\nx1 ~~ x4\nx2 ~ 1")
    return fit(model, d, estimator="MLR", meanstructure=True)


@pytest.mark.parametrize("ms", [False, True])
def test_h1_information_and_trace_closed_forms(hs_mlr_ms, ms):
    """A1 = 1/2 D'(W kron W)D (Kronecker form) and tr(B1 A1^-1) = the mean of
    1/2 (d^2 - 2d + p) (+ d with means) over cases, d the Mahalanobis distance."""
    st = hs_mlr_ms.stats
    X, S, m = st.data, st.cov, st.mean
    p = S.shape[0]
    W = np.linalg.inv(S)
    D = robust.duplication(p)
    A1 = 0.5 * D.T @ np.kron(W, W) @ D
    if ms:
        A1 = np.block([[W, np.zeros((p, A1.shape[0]))], [np.zeros((A1.shape[0], p)), A1]])
    np.testing.assert_allclose(robust.h1_expected_information(S, ms), A1, atol=1e-13)
    s1 = robust.ml_moment_scores(X, S, m, ms)
    B1 = s1.T @ s1 / len(X)
    direct = float(np.sum(B1 * np.linalg.inv(A1).T))
    assert robust.h1_trace_complete(X, S, m, ms) == pytest.approx(direct, rel=1e-10)


def test_case_scores_without_moment_scores(hs_mlr_ms):
    """ml_scores_delta (dense and sparse Delta) and the RAM-cell scores (equality
    label a, a regression, a residual covariance, an intercept) equal the
    moment scores times Delta."""
    from pipeline.sem.results import ml_scores_free
    res = hs_mlr_ms
    est, st = res.estimator, res.stats
    Sigma, mu, dS, dm = est.jacobian(res.theta, st)
    Sigma = (Sigma + Sigma.T) / 2
    Delta = robust.vech_jacobian(dS, dm)
    ref = robust.ml_moment_scores(st.data, Sigma, mu, True) @ Delta
    scale = np.abs(ref).max()
    np.testing.assert_allclose(robust.ml_scores_delta(st.data, Sigma, mu, Delta, True, chunk=50),
                               ref, atol=1e-12 * scale)
    dense = Delta + 1e-3          # no zero entries: the dense branch
    np.testing.assert_allclose(robust.ml_scores_delta(st.data, Sigma, mu, dense, True),
                               robust.ml_moment_scores(st.data, Sigma, mu, True) @ dense,
                               atol=1e-11 * scale)
    np.testing.assert_allclose(ml_scores_free(est, st, res.theta, st.data, True), ref,
                               atol=1e-12 * scale)


def test_ugamma_traces_equal_the_dense_products():
    """tr(UG), tr((UG)^2) from the npar x npar pieces equal the explicit
    U = V - V D E^-1 D' V and G = bdiag(Gamma_g / f_g), diagonal and full W."""
    rng = np.random.default_rng(7)
    for diag in (True, False):
        D = [rng.standard_normal((9, 3)) for _ in range(2)]
        Gam = [(lambda a: a @ a.T)(rng.standard_normal((9, 9))) for _ in range(2)]
        W = [rng.random(9) + 0.5 if diag else
             (lambda b: b @ b.T + np.eye(9))(rng.standard_normal((9, 9))) for _ in range(2)]
        n = [120, 80]
        f = [k / sum(n) for k in n]
        from scipy.linalg import block_diag
        V = block_diag(*[fg * (np.diag(w) if diag else w) for fg, w in zip(f, W)])
        G = block_diag(*[g / fg for g, fg in zip(Gam, f)])
        Dm = np.vstack(D)
        VD = V @ Dm
        U = V - VD @ np.linalg.inv(Dm.T @ VD) @ VD.T
        UG = U @ G
        tr, tr2 = robust.ugamma_traces(D, W, Gam, n)
        assert tr == pytest.approx(np.trace(UG), rel=1e-12)
        assert tr2 == pytest.approx(np.trace(UG @ UG), rel=1e-12)
