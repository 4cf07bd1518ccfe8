"""Exogenous observed covariates (lavaan fixed.x = TRUE) against lavaan 0.6-14.

R (tests/reference/lavaan_engine_extra.R):
``sem(model, data = HolzingerSwineford1939)`` with ``visual ~ ageyr + sex``,
``textual ~ ageyr + grade`` (one case with missing grade is dropped).
Covariate (co)variances are fixed at their sample values and not counted in
npar/df; log-likelihoods are conditional on the covariates; the h1
information and Gamma treat the covariates as fixed.  Tolerances: estimates
1e-4, SEs 0.5%, chisq 1e-6 relative, fit measures 1e-3, MI 1e-3 relative,
standardized residuals 1e-3.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline.sem import fit
from tests.conftest import REFERENCE, load_fixture, assert_parameters_match


def test_fixed_x_model_matches_lavaan():
    ref = load_fixture("lavaan_engine_fixedx.json")
    data = pd.read_csv(REFERENCE / "data" / ref["data"])
    res = fit(ref["model"], data)
    assert res.nobs == ref["nobs"] and res.observed == ref["ov"]
    assert [res.observed[i] for i in res.x_idx] == ref["ov.x"]
    m = pd.DataFrame(ref["parameters"]).merge(res.parameters, on=["lhs", "op", "rhs"],
                                               how="outer", suffixes=("_r", ""), indicator=True)
    assert (m["_merge"] == "both").all()
    for col in ["est", "std.lv", "std.all"]:
        np.testing.assert_allclose(m[col], m[col + "_r"], atol=1e-4, err_msg=col)
    free = m["se_r"] > 0
    np.testing.assert_allclose(m.loc[free, "se"], m.loc[free, "se_r"], rtol=5e-3)
    assert (m.loc[~free, "se"] == 0).all()
    f = ref["fit"]
    assert (res.npar, res.df, res.baseline_df) == (f["npar"], f["df"], f["baseline.df"])
    assert res.chisq == pytest.approx(f["chisq"], rel=1e-6)
    fm = res.fit_measures()
    for k, v in f.items():
        if k in fm.index and v is not None:
            tol = 1e-6 * abs(v) if k in ("chisq", "logl", "unrestricted.logl", "aic", "bic",
                                         "bic2", "baseline.chisq") else 1e-3
            assert fm[k] == pytest.approx(v, abs=tol), k
    r2 = pd.Series(ref["r2"], dtype=float)
    np.testing.assert_allclose(res.r2[r2.index], r2, atol=1e-4)
    want = pd.DataFrame(ref["modindices"])
    want = want[want["mi"] > 1e-10]          # lavaan lists the fixed x (co)variances with MI ~ 1e-30
    mi = res.modification_indices()
    mm = want.merge(mi, on=["lhs", "op", "rhs"], how="outer", suffixes=("_r", ""), indicator=True)
    assert (mm["_merge"] == "both").all(), mm.loc[mm["_merge"] != "both", ["lhs", "op", "rhs"]]
    np.testing.assert_allclose(mm["mi"], mm["mi_r"], rtol=1e-3, atol=1e-5)
    np.testing.assert_allclose(res.residuals("standardized").to_numpy(),
                               np.array(ref["residuals_standardized"], float), atol=1e-3)


def test_fiml_with_fixed_x_matches_lavaan():
    """R: ``sem(model, data = hs_mcar, missing = "ml")`` with ``visual ~ ageyr + sex``,
    ``textual ~ ageyr`` (covariates complete; baseline keeps their covariances)."""
    ref = load_fixture("lavaan_engine_fiml_x.json")
    data = pd.read_csv(REFERENCE / "data" / ref["data"])
    res = fit(ref["model"], data, missing="fiml")
    assert res.nobs == ref["nobs"] and res.observed == ref["ov"]
    assert_parameters_match(ref["parameters"], res.parameters)
    fm = res.fit_measures()
    for k, v in ref["fit"].items():
        if k in fm.index and v is not None:
            tol = 1e-6 * abs(v) if k in ("chisq", "logl", "unrestricted.logl", "aic", "bic",
                                         "bic2", "baseline.chisq") else 1e-3
            assert fm[k] == pytest.approx(v, abs=tol), k
