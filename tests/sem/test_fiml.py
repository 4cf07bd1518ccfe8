"""The batched FIML kernel (pipeline.sem.fiml) against the per-row formula and lavaan.

Per-row formula (Arbuckle 1996), for every case i with observed set o_i::

    F = 1/N sum_i [q_i log 2pi + log|S_oo| + d_i' S_oo^-1 d_i]
    dF/dSigma = 1/N sum_i pad(W_i - W_i d_i d_i' W_i),  dF/dmu = -2/N sum_i pad(W_i d_i)

with W_i = S_oo^-1, computed here by a plain loop over the rows.  lavaan
fixtures: tests/reference/lavaan_engine.R (``cfa(model, HS_mcar, missing =
"ml")``, lavaan 0.6-14) and lavaan_engine_extra.R (fixed.x covariates).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from pipeline.sem import fiml as F
from tests.conftest import REFERENCE, assert_parameters_match, load_fixture


def _per_row(X, Sigma, mu):
    N, p = X.shape
    f, G, gmu = 0.0, np.zeros((p, p)), np.zeros(p)
    for x in X:
        o = np.flatnonzero(~np.isnan(x))
        W = np.linalg.inv(Sigma[np.ix_(o, o)])
        d = x[o] - mu[o]
        f += len(o) * math.log(2 * math.pi) + np.linalg.slogdet(Sigma[np.ix_(o, o)])[1] + d @ W @ d
        Wd = W @ d
        G[np.ix_(o, o)] += W - np.outer(Wd, Wd)
        gmu[o] += -2.0 * Wd
    return f / N, G / N, gmu / N


def _data(seed=3, N=90, p=7):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((p, p))
    Sigma = A @ A.T / p + np.eye(p)
    mu = rng.standard_normal(p)
    X = rng.multivariate_normal(mu, Sigma, size=N)
    miss = rng.random((N, p)) < 0.2
    miss[:30] = False                     # one large complete pattern (collapsed rows)
    miss[30:45, :] = False
    miss[30:45, [1, 4]] = True            # a repeated pattern with 15 cases
    miss[45:50] = True
    miss[45:50, 2] = False                # 6 of 7 missing: the direct formula
    miss[50:52] = True
    miss[50:52, [0, 5]] = False
    X[miss] = np.nan
    return X, Sigma, mu


def test_batched_kernel_equals_the_per_row_formula():
    X, Sigma, mu = _data()
    rows = F.MissingRows(X)
    assert rows.groups and rows.direct        # both code paths are exercised
    assert rows.D0.shape[0] < X.shape[0]      # the complete pattern was collapsed
    # evaluate away from the data's own moments
    S2 = Sigma + 0.3 * np.eye(7)
    m2 = mu + 0.2
    f, G, gmu = F.fiml_value(rows, S2, m2)
    f0, G0, gmu0 = _per_row(X, S2, m2)
    assert f == pytest.approx(f0, rel=1e-12)
    np.testing.assert_allclose(G, G0, atol=1e-12)
    np.testing.assert_allclose(gmu, gmu0, atol=1e-12)
    assert F.fiml_loglik(rows, S2, m2) == pytest.approx(-0.5 * len(X) * f0, rel=1e-12)
    # without collapsing, and from pattern summaries (mean, cov per pattern)
    f1, G1, g1 = F.fiml_value(F.MissingRows(X, collapse=None), S2, m2)
    assert f1 == pytest.approx(f0, rel=1e-12)
    np.testing.assert_allclose(G1, G0, atol=1e-12)
    from pipeline.sem.estimate import _patterns
    f2, G2, g2 = F.fiml_value(F.MissingRows(patterns=_patterns(X), p=7), S2, m2)
    assert f2 == pytest.approx(f0, rel=1e-12)
    np.testing.assert_allclose(G2, G0, atol=1e-12)
    np.testing.assert_allclose(g2, gmu0, atol=1e-12)


def test_kernel_when_sigma_is_not_positive_definite_but_observed_blocks_are():
    """Every case observes 2 of 3 variables; Sigma (all correlations -0.6) is
    indefinite, its 2 x 2 blocks are not: the direct formula takes over."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 3))
    X[np.arange(40), np.arange(40) % 3] = np.nan
    S = np.full((3, 3), -0.6) + 1.6 * np.eye(3)
    assert np.linalg.eigvalsh(S).min() < 0
    mu = np.zeros(3)
    f, G, gmu = F.fiml_value(F.MissingRows(X), S, mu)
    f0, G0, g0 = _per_row(X, S, mu)
    assert f == pytest.approx(f0, rel=1e-12)
    np.testing.assert_allclose(G, G0, atol=1e-12)
    # an observed block that is not PD: infinite discrepancy
    S[0, 1] = S[1, 0] = 1.2
    assert F.fiml_value(F.MissingRows(X), S, mu, gradient=False) == np.inf


def test_gradient_is_the_derivative_of_the_value():
    X, Sigma, mu = _data(seed=5)
    rows = F.MissingRows(X)
    f, G, gmu = F.fiml_value(rows, Sigma, mu)
    h = 1e-6
    E = np.zeros((7, 7))
    E[2, 5] = E[5, 2] = h
    num = (F.fiml_value(rows, Sigma + E, mu, False) - F.fiml_value(rows, Sigma - E, mu, False)) / (2 * h)
    assert num == pytest.approx(2 * G[2, 5], rel=1e-6)
    e = np.zeros(7)
    e[3] = h
    num = (F.fiml_value(rows, Sigma, mu + e, False) - F.fiml_value(rows, Sigma, mu - e, False)) / (2 * h)
    assert num == pytest.approx(gmu[3], rel=1e-6)


def test_em_reaches_the_saturated_maximum_and_lavaan_h1():
    """At the EM estimate the FIML gradient of the saturated model vanishes;
    its log-likelihood is lavaan's ``unrestricted.logl``."""
    X, _, _ = _data(seed=7)
    rows = F.MissingRows(X)
    mu, S, ll, it = F.em_saturated(rows, tol=1e-12)
    f, G, gmu = F.fiml_value(rows, S, mu)
    assert np.abs(G).max() < 1e-9 and np.abs(gmu).max() < 1e-9
    assert 1 < it < 2000
    ref = load_fixture("lavaan_hs_fiml.json")
    data = pd.read_csv(REFERENCE / "data" / ref["data"])
    Xh = data[ref["observed"]].to_numpy(float)
    Xh = Xh[~np.isnan(Xh).all(axis=1)]
    mu, S, ll, _ = F.em_saturated(Xh)
    assert ll == pytest.approx(ref["fit"]["unrestricted.logl"], rel=1e-9)
    np.testing.assert_allclose(S, np.array(ref["sample"]["cov"]), atol=1e-5)


@pytest.mark.parametrize("case", ["lavaan_hs_fiml.json", "lavaan_engine_fiml_x.json"])
def test_fit_fiml_matches_lavaan(case):
    ref = load_fixture(case)
    data = pd.read_csv(REFERENCE / "data" / ref["data"])
    res = F.fit_fiml(ref["model"], data)
    assert res.converged and res.admissible and res.optimizer == "bfgs-fiml"
    assert res.nobs == ref["nobs"]
    assert_parameters_match(ref["parameters"], res.parameters, atol=1e-5, se_rtol=1e-4)
    fm = res.fit_measures()
    for k in ("chisq", "logl", "unrestricted.logl", "baseline.chisq"):
        assert fm[k] == pytest.approx(ref["fit"][k], rel=1e-6), k
    for k in ("cfi", "tli", "rmsea", "srmr"):
        assert fm[k] == pytest.approx(ref["fit"][k], abs=1e-5), k


def test_finite_difference_hessian_equals_the_analytic_one():
    """FIMLEstimator's observed information (differences of the analytic
    gradient) against the engine's exact analytic Hessian."""
    from pipeline.sem.estimate import Estimator
    ref = load_fixture("lavaan_hs_fiml.json")
    data = pd.read_csv(REFERENCE / "data" / ref["data"])
    res = F.fit_fiml(ref["model"], data)
    exact = Estimator(res.model, missing="fiml", meanstructure=True).hessian(res.theta, res.stats)
    num = res.estimator.hessian(res.theta, res.stats)
    np.testing.assert_allclose(num, exact, atol=1e-7 * np.abs(exact).max())


def test_fit_and_bootstrap_route_fiml_to_the_batched_kernel():
    """``fit(missing="fiml")`` estimates with :class:`FIMLEstimator` (the batched
    kernel) and ``bootstrap`` of a FIML fit draws through
    ``fast.engine_bootstrap_draws``: the same draws for 1 and 2 workers."""
    import warnings

    import numpy as np
    import pandas as pd

    from pipeline.sem import fit
    from pipeline.sem.bootstrap import bootstrap
    from pipeline.sem.fiml import FIMLEstimator
    from tests.conftest import REFERENCE
    d = pd.read_csv(REFERENCE / "data" / "holzinger_swineford_mcar.csv")
    model = (REFERENCE / "models" / "holzinger_3factor.lav").read_text()
    res = fit(model, d, missing="fiml")
    assert isinstance(res.estimator, FIMLEstimator)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = bootstrap(res, B=12, seed=3, workers=1, progress=False, attach=False)
        b = bootstrap(fit(model, d, missing="fiml"), B=12, seed=3, workers=2, progress=False,
                      attach=False)
    assert a.n_ok + a.n_failed + (a.n_inadmissible if a.inadmissible_dropped else 0) == 12
    np.testing.assert_array_equal(a.draws, b.draws)
