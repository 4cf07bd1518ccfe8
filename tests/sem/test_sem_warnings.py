"""Errors before fitting and warnings of pipeline.sem.fit (project classes)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline.core.exceptions import (ConvergenceWarning, PipelineWarning, DataValidationError, HeywoodCaseWarning,
                                 IdentificationWarning, ModelSpecificationError,
                                 NotPositiveDefiniteWarning)
from pipeline.sem import fit
from tests.conftest import REFERENCE

HS = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"


def _hs():
    return pd.read_csv(REFERENCE / "data" / "holzinger_swineford.csv")


def _exact(cov, n=400, seed=0, names=None):
    """Data whose sample covariance (divisor N) is exactly *cov*."""
    cov = np.asarray(cov, float)
    rng = np.random.default_rng(seed)
    Z = rng.normal(size=(n, len(cov)))
    Z -= Z.mean(axis=0)
    L = np.linalg.cholesky(Z.T @ Z / n)
    Z = Z @ np.linalg.inv(L).T
    X = Z @ np.linalg.cholesky(cov).T
    return pd.DataFrame(X, columns=names or [f"x{i + 1}" for i in range(len(cov))])


def test_unknown_variables_are_all_listed():
    with pytest.raises(ModelSpecificationError) as exc:
        fit(HS + "\nextra =~ foo + x1 + bar", _hs())
    assert "foo" in str(exc.value) and "bar" in str(exc.value)
    assert "2 variable(s)" in str(exc.value)


def test_negative_df_is_an_error_before_fitting():
    with pytest.raises(ModelSpecificationError, match="df = -1"):
        fit("f =~ x1 + x2", _hs())


def test_constant_and_all_missing_variables_are_named():
    d = _hs()
    d["x5"] = 3.0
    with pytest.raises(DataValidationError, match="x5"):
        fit(HS, d, source="hs.csv")
    d = _hs()
    d["x7"] = np.nan
    with pytest.raises(DataValidationError, match="x7.*no observed values"):
        fit(HS, d)


def test_n_below_number_of_variables():
    with pytest.raises(DataValidationError, match="N must be at least"):
        fit(HS, _hs().head(8))


def test_non_numeric_column():
    d = _hs()
    d["x2"] = d["x2"].astype(object)
    d.loc[3, "x2"] = "n/a"
    with pytest.raises(DataValidationError, match="x2"):
        fit(HS, d)


def test_bad_options():
    with pytest.raises(ValueError, match="likelihood"):
        fit(HS, _hs(), likelihood="ols")
    with pytest.raises(ValueError, match="missing"):
        fit(HS, _hs(), missing="pairwise")
    with pytest.raises(TypeError, match="data"):
        fit(HS, _hs().to_numpy())


def test_heywood_case_is_reported_not_bounded():
    """cov(x1,x2) cov(x1,x3) / cov(x2,x3) = .49/.45 > var(x1): loading^2 above 1."""
    d = _exact([[1, .7, .7], [.7, 1, .45], [.7, .45, 1]])
    with pytest.warns(HeywoodCaseWarning, match="x1"):
        res = fit("f =~ x1 + x2 + x3", d)
    assert not res.admissible
    assert any(w.startswith("HeywoodCaseWarning") for w in res.warnings)
    theta1 = res.parameters.query("lhs == 'x1' and op == '~~'")["est"].item()
    # just-identified: exact solution 1 - .7 * .7 / .45 = -0.089 (no bound at 0)
    assert theta1 == pytest.approx(1 - 0.49 / 0.45, abs=1e-6)


def test_latent_correlation_above_one():
    """Cross-factor covariances (.4) above the within-factor ones (.3): phi > 1."""
    c = np.full((6, 6), 0.4)
    c[:3, :3] = c[3:, 3:] = 0.3
    np.fill_diagonal(c, 1.0)
    d = _exact(c)
    with pytest.warns(NotPositiveDefiniteWarning, match="latent"):
        res = fit("f =~ x1 + x2 + x3\ng =~ x4 + x5 + x6", d)
    assert not res.admissible
    std = res.parameters.query("lhs == 'f' and rhs == 'g'")["std.all"].item()
    assert std == pytest.approx(0.4 / 0.3, abs=1e-4)


def test_singular_sample_covariance_is_not_replaced():
    d = _hs()
    d["x3"] = d["x1"] + d["x2"]
    with pytest.warns(PipelineWarning) as rec:
        res = fit(HS, d)
    assert any(issubclass(r.category, NotPositiveDefiniteWarning)
               and "sample covariance" in str(r.message) for r in rec)
    assert not res.admissible
    assert np.isnan(res.chisq)
    # the matrix was not altered
    X = d[res.observed].to_numpy()
    np.testing.assert_allclose(res.sample_cov, np.cov(X.T, bias=True), atol=1e-12)


def test_empirically_unidentified_model_warns():
    """A two-indicator factor uncorrelated with everything: only lambda*phi is identified."""
    c = np.eye(5)
    c[0, 1] = c[1, 0] = 0.5
    c[2:, 2:] = 0.4
    np.fill_diagonal(c, 1.0)
    d = _exact(c, seed=3)
    with pytest.warns(IdentificationWarning):
        res = fit("f =~ x1 + x2\ng =~ x3 + x4 + x5\nf ~~ 0*g", d)
    assert not res.admissible


def test_non_convergence_warns():
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        res = fit(HS, _hs(), maxiter=1)
    assert not res.converged and not res.admissible


def test_low_pairwise_coverage_under_fiml_warns_and_is_recorded():
    """Issue 8 item 12: pairwise coverage below 10% under FIML is a warning.

    In R: lavaan warns likewise; ``lavInspect(fit, "coverage")`` gives the matrix.
    """
    import numpy as np
    import pandas as pd

    from pipeline.core.exceptions import LowCoverageWarning
    from pipeline.sem import fit
    from pipeline.sem.results import pairwise_coverage

    rng = np.random.default_rng(3)
    n = 400
    f = rng.normal(size=n)
    df = pd.DataFrame({f"x{i}": 0.7 * f + rng.normal(scale=0.7, size=n) for i in range(1, 5)})
    # x1 and x4 are almost never observed together (planned-missing design gone wrong)
    half = np.arange(n) < n // 2
    df.loc[half[:n] & (np.arange(n) >= 20), "x4"] = np.nan
    df.loc[~half, "x1"] = np.nan
    cov = pairwise_coverage(df.to_numpy())
    assert cov[0, 3] == pytest.approx(20 / n)
    with pytest.warns(LowCoverageWarning, match=r"x1-x4 \(5\.0%\)"):
        res = fit("F =~ x1 + x2 + x3 + x4", df, missing="fiml")
    assert any("coverage" in w for w in res.warnings)
