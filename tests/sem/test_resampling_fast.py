"""Fast refits (pipeline.sem.fast) and the fast bootstrap against lavaan.

Fixture (tests/reference/lavaan_boot_thesis.R) on tests/reference/data/thesis_n300.csv
(N = 300 drawn from studies/amirova2021/models/thesis_population.lav by make_thesis_n300.py)::

    fit <- sem(model, data = d)
    set.seed(20260601); fitb <- sem(model, data = d, se = "bootstrap", bootstrap = 1000)
    parameterEstimates(fitb, boot.ci.type = "perc") / "bca.simple"

lavaan 0.6-14 keeps non-admissible draws, so the comparison does too
(``drop_inadmissible=False``).

Monte Carlo tolerances, both sides B = 1000: the standard error of a 2.5% /
97.5% bootstrap quantile is about sqrt(q(1-q)/B) / phi(z_q) = 0.085 bootstrap
SDs, so two independent runs differ by 0.12 SD (sd); endpoints must agree
within 0.6 SD (5 sd, for 2 x 83 endpoints).  The bias-corrected endpoints sit
at slightly more extreme quantiles: same tolerance.  Bootstrap SEs: relative
MC error 1/sqrt(2B) = 2.2% per run, 3.2% for the difference; tolerance 15%.
"""
from __future__ import annotations

import functools
import tracemalloc
import warnings

import numpy as np
import pandas as pd
import pytest

from pipeline.core.exceptions import PipelineWarning
from pipeline.sem.fast import FastML, bootstrap_draws, sample_cov
from tests.conftest import REFERENCE, load_fixture


@functools.lru_cache(maxsize=None)
def _ref():
    ref = load_fixture("lavaan_boot_thesis.json")
    data = pd.read_csv(REFERENCE / "data" / "thesis_n300.csv")
    p = pd.DataFrame(ref["parameters"])
    p["key"] = np.where(p["op"] == ":=", p["lhs"], p["lhs"] + " " + p["op"] + " " + p["rhs"])
    return ref, data, p.set_index("key")


def test_fast_estimates_and_se_match_lavaan():
    """``sem(model, data = d)``: estimates within 1e-4, expected-information SEs within 0.5%."""
    ref, data, p = _ref()
    fm = FastML(ref["model"], observed=list(data.columns))
    S = sample_cov(data.to_numpy()[:, fm.columns])
    r = fm.fit(S, want_info=True)
    assert r.converged and r.admissible
    V = fm.vcov(r.info, ref["nobs"])
    J = fm.defined_jacobian(r.theta)
    est = np.r_[r.theta, fm.defined(r.theta)]
    se = np.r_[np.sqrt(np.diag(V)), np.sqrt(np.einsum("ij,jk,ik->i", J, V, J))]
    got = pd.DataFrame({"est": est, "se": se}, index=fm.names)
    assert set(got.index) == set(p.index)
    got = got.loc[p.index]
    np.testing.assert_allclose(got["est"], p["est"], atol=1e-4)
    np.testing.assert_allclose(got["se"], p["se"], rtol=5e-3)
    chisq, cfi, rmsea = fm.fit_stats(r.fmin, S, ref["nobs"])
    assert fm.df == ref["fit"]["df"]
    assert chisq == pytest.approx(ref["fit"]["chisq"], rel=1e-5)
    assert r.fmin / 2 == pytest.approx(ref["fit"]["fmin"], rel=1e-5)   # lavaan's fmin is F/2
    assert cfi == pytest.approx(ref["fit"]["cfi"], abs=1e-6)
    assert rmsea == pytest.approx(ref["fit"]["rmsea"], abs=1e-6)


def test_fast_bootstrap_intervals_match_lavaan_within_monte_carlo_error():
    from pipeline.sem.bootstrap import bootstrap
    from pipeline.sem import fit
    ref, data, p = _ref()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PipelineWarning)
        res = fit(ref["model"], data)
        br = bootstrap(res, B=1000, seed=20190601, progress=False, drop_inadmissible=False,
                       workers=2, attach=False)
    assert br.n_ok + br.n_failed == 1000 and br.n_failed <= 5
    # lavaan: 8 of 1000 non-admissible at this seed; a similar small share here
    assert br.n_inadmissible < 40
    t = br.table.copy()
    t["key"] = np.where(t["op"] == ":=", t["lhs"], t["lhs"] + " " + t["op"] + " " + t["rhs"])
    t = t.set_index("key").loc[p.index]
    sd = p["boot_se"]
    np.testing.assert_allclose(t["est"], p["est"], atol=1e-3)
    np.testing.assert_allclose(t["se"], sd, rtol=0.15)
    for ours, theirs in [("ci.lower", "perc.lower"), ("ci.upper", "perc.upper"),
                         ("ci.lower.bc", "bc.lower"), ("ci.upper.bc", "bc.upper")]:
        dev = (t[ours] - p[theirs]).abs() / sd
        assert dev.max() < 0.6, (ours, dev.idxmax(), float(dev.max()))
        # and no systematic shift: the mean deviation is within MC error
        assert abs(((t[ours] - p[theirs]) / sd).mean()) < 0.1


def test_bootstrap_is_reproducible_and_a_prefix():
    ref, data, p = _ref()
    fm = FastML(ref["model"], observed=list(data.columns))
    x = data.to_numpy()[:, fm.columns]
    theta0 = fm.fit(sample_cov(x)).theta
    a, sa = bootstrap_draws(ref["model"], data[fm.observed].to_numpy(), theta0, 30, 5,
                            workers=1, progress=False)
    b, sb = bootstrap_draws(ref["model"], data[fm.observed].to_numpy(), theta0, 12, 5,
                            workers=1, progress=False)
    np.testing.assert_array_equal(a[:12], b)
    c, _ = bootstrap_draws(ref["model"], data[fm.observed].to_numpy(), theta0, 12, 6,
                           workers=1, progress=False)
    assert not np.allclose(b, c)
    # draw 3 is a refit to the rows drawn by SeedSequence(5).spawn(30)[3]
    idx = np.random.default_rng(np.random.SeedSequence(5).spawn(30)[3]).integers(0, 300, 300)
    r = fm.fit(sample_cov(x[idx]), max_iter=1000)
    np.testing.assert_allclose(a[3, : fm.q], r.theta, atol=1e-5)


def test_memory_stores_estimates_only():
    """Peak traced memory grows with B by about the stored estimates only.

    4 x more draws may add at most 3 x the extra estimate storage
    (B x (q + defined) doubles) plus 64 kB; resampled data sets and fit
    internals are transient.
    """
    ref, data, p = _ref()
    fm = FastML(ref["model"], observed=list(data.columns))
    x = data[fm.observed].to_numpy()
    theta0 = fm.fit(sample_cov(x)).theta
    k = fm.q + fm.n_defined

    def peak(B):
        tracemalloc.start()
        bootstrap_draws(ref["model"], x, theta0, B, 3, workers=1, chunk_size=20, progress=False)
        _, pk = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return pk

    small, large = peak(40), peak(160)
    assert large - small < 3 * 120 * k * 8 + 64 * 1024


def test_fastml_rejects_bad_input():
    with pytest.raises(ValueError, match="likelihood"):
        FastML("F =~ a + b + c", likelihood="ml")
    with pytest.raises(TypeError, match="model"):
        FastML(3)
    with pytest.raises(ValueError, match="B must"):
        bootstrap_draws("F =~ a + b + c", np.zeros((5, 3)), np.zeros(6), 0, 1)


@pytest.mark.parametrize("case", ["hs_normal", "hs_wishart", "poldem", "hs_fixedx"])
def test_fast_ml_estimator_equals_the_engine_fit(case, monkeypatch):
    """FastMLEstimator (FastML's quasi-Newton inside ``fit``): the same estimates,
    SEs and chi-square as the engine's Newton fit, and lavaan's."""
    import pipeline.sem.results as R
    from pipeline.sem import fit
    from pipeline.sem.estimate import Estimator
    from pipeline.sem.fast import FastMLEstimator
    from tests.conftest import assert_parameters_match
    ref = load_fixture(f"lavaan_{case}.json")
    data = pd.read_csv(REFERENCE / "data" / ref["data"])
    lik = ref["options"]["likelihood"]
    res = fit(ref["model"], data, likelihood=lik)            # fit's default: FastML
    monkeypatch.setattr(R, "_estimator_class", lambda missing: Estimator)
    base = fit(ref["model"], data, likelihood=lik)            # the engine's Newton fit
    assert isinstance(res.estimator, FastMLEstimator) and not isinstance(base.estimator,
                                                                         FastMLEstimator)
    assert isinstance(base.estimator, Estimator)
    assert res.optimizer.startswith("bfgs-fast") and res.converged
    np.testing.assert_allclose(res.theta, base.theta, atol=1e-7)
    np.testing.assert_allclose(res.vcov, base.vcov, rtol=1e-5, atol=1e-9)
    assert res.chisq == pytest.approx(base.chisq, rel=1e-9)
    assert_parameters_match(ref["parameters"], res.parameters)
    # warm start at the optimum: at most a polishing step (as the engine's test)
    again = fit(ref["model"], data, likelihood=lik, start=res.theta)
    assert again.iterations <= 3
    np.testing.assert_allclose(again.theta, res.theta, atol=1e-7)
