"""semopy 2.3.11 as a cross-check oracle of the SEM engine (pipeline.sem).

Where semopy is right -- ML estimates, standard errors and chi-square of a complete-data
CFA -- our fit must agree with it: Holzinger & Swineford (1939), three factors, N = 301
(measured with its L-BFGS-B solver: estimates within 1.5e-4, SEs within 1.8e-4 relative,
chi-square within 1e-8 relative).  Where semopy is wrong, the test pins the measured
figure next to lavaan 0.6-14's (fixtures/lavaan_hs_normal.json) and ours:

* its "GFI" is the NFI (.9072; lavaan GFI .9433) and its "AGFI" is the RFI (.8607;
  lavaan AGFI .8937);
* its RMSEA divides by N - 1 (.09228; lavaan .09212);
* its "LogLik" is the ML discrepancy F (0.2834; lavaan logl -3737.74), so AIC and BIC
  are on another scale (41.43 vs 7517.49);
* its default solver (SLSQP) stops early: estimates 1.2e-3 from the optimum.

FIML is not checked here (20-90 s per semopy fit): the figures are in README
"Dependencies" and come from tests/oracles/semopy_fiml_figures.py.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.conftest import REFERENCE, fitted_case


def _semopy_fit(solver: str):
    import semopy

    ref, _ = fitted_case("hs_normal")
    data = pd.read_csv(REFERENCE / "data" / ref["data"])[ref["observed"]]
    m = semopy.Model(ref["model"])
    m.fit(data, obj="MLW", solver=solver)
    return m


@pytest.fixture(scope="module")
def semopy_lbfgs():
    return _semopy_fit("L-BFGS-B")


def _gaps(model, ours: pd.DataFrame) -> tuple[float, float]:
    """Largest |estimate difference| and |SE ratio - 1| over semopy's free parameters."""
    ins = model.inspect()
    ins = ins[ins["Std. Err"] != "-"]
    d_est, d_se = 0.0, 0.0
    for _, r in ins.iterrows():
        lhs, op, rhs = (r.rval, "=~", r.lval) if r.op == "~" else (r.lval, r.op, r.rval)
        q = ours[(ours.lhs == lhs) & (ours.op == op) & (ours.rhs == rhs)]
        if q.empty:
            q = ours[(ours.lhs == rhs) & (ours.op == op) & (ours.rhs == lhs)]
        assert len(q) == 1, (lhs, op, rhs)
        d_est = max(d_est, abs(r.Estimate - q.est.iloc[0]))
        d_se = max(d_se, abs(float(r["Std. Err"]) / q.se.iloc[0] - 1))
    return d_est, d_se


def test_ml_estimates_ses_and_chisq_agree_with_semopy(semopy_lbfgs):
    import semopy

    ref, res = fitted_case("hs_normal")
    d_est, d_se = _gaps(semopy_lbfgs, res.parameters)
    assert len(semopy_lbfgs.inspect().query("`Std. Err` != '-'")) == 21 == ref["npar"]
    assert d_est < 5e-4                                   # measured 1.5e-4
    assert d_se < 1e-3                                    # measured 1.8e-4
    st = semopy.calc_stats(semopy_lbfgs).T["Value"]
    assert st["DoF"] == res.df == 24
    assert st["chi2"] == pytest.approx(res.fit_measures()["chisq"], rel=1e-6)
    assert st["chi2 Baseline"] == pytest.approx(ref["fit"]["baseline.chisq"], rel=1e-6)
    assert st["CFI"] == pytest.approx(ref["fit"]["cfi"], abs=1e-6)
    assert st["TLI"] == pytest.approx(ref["fit"]["tli"], abs=1e-6)


def test_semopy_fit_indices_that_are_wrong(semopy_lbfgs):
    import semopy

    ref, res = fitted_case("hs_normal")
    lav, ours = ref["fit"], res.fit_measures()
    for k in ("gfi", "agfi", "nfi", "rfi", "rmsea", "logl", "aic"):
        assert ours[k] == pytest.approx(lav[k], rel=1e-6), k        # ours is lavaan's
    st = semopy.calc_stats(semopy_lbfgs).T["Value"]
    n, chi2, df = 301, st["chi2"], st["DoF"]
    # "GFI" is the NFI, "AGFI" the RFI
    assert st["GFI"] == pytest.approx(st["NFI"], abs=1e-12)
    assert st["GFI"] == pytest.approx(lav["nfi"], abs=1e-6)
    assert st["GFI"] - lav["gfi"] == pytest.approx(-0.0362, abs=5e-4)
    assert st["AGFI"] == pytest.approx(lav["rfi"], abs=1e-6)
    assert st["AGFI"] - lav["agfi"] == pytest.approx(-0.0330, abs=5e-4)
    # RMSEA with N - 1
    assert st["RMSEA"] == pytest.approx(np.sqrt((chi2 - df) / (df * (n - 1))), rel=1e-9)
    assert st["RMSEA"] == pytest.approx(0.09228, abs=1e-5) and lav["rmsea"] == pytest.approx(0.09212,
                                                                                              abs=1e-5)
    # "LogLik" is the discrepancy F_ML = chi2 / N, and AIC = 2 npar - 2 F_ML
    assert st["LogLik"] == pytest.approx(chi2 / n, rel=1e-9)
    assert st["LogLik"] == pytest.approx(ref["fml"], rel=1e-6)          # lavaan fml 0.2834
    assert st["AIC"] == pytest.approx(2 * 21 - 2 * st["LogLik"], rel=1e-9)
    assert lav["logl"] == pytest.approx(-3737.745, abs=1e-3) and lav["aic"] == pytest.approx(7517.49,
                                                                                              abs=0.01)


def test_semopy_default_solver_stops_early():
    """semopy's default SLSQP: estimates 1.2e-3 from the optimum (L-BFGS-B: 1.5e-4)."""
    _, res = fitted_case("hs_normal")
    d_est, _ = _gaps(_semopy_fit("SLSQP"), res.parameters)
    assert 5e-4 < d_est < 3e-3
