"""Version-drift smoke test: the pinned libraries import and run one tiny
EFA (factor_analyzer on the pinned scikit-learn), one SEM fit and one alpha."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


def _one_factor_data(n=300, k=5, seed=1):
    rng = np.random.default_rng(seed)
    f = rng.normal(size=n)
    x = 0.7 * f[:, None] + rng.normal(scale=0.6, size=(n, k))
    return pd.DataFrame(x, columns=[f"x{i + 1}" for i in range(k)])


@pytest.mark.filterwarnings("ignore:'force_all_finite' was renamed:FutureWarning")
def test_factor_analyzer_runs_on_pinned_sklearn():
    from factor_analyzer import FactorAnalyzer

    df = _one_factor_data()
    fa = FactorAnalyzer(n_factors=1, rotation=None, method="ml")
    fa.fit(df.to_numpy())
    loadings = np.abs(fa.loadings_.ravel())
    # population loading 0.7 / sqrt(0.7^2 + 0.6^2) = 0.759
    assert np.all(np.abs(loadings - 0.759) < 0.08)


def test_semopy_fits_one_factor_model():
    import semopy

    df = _one_factor_data()
    m = semopy.Model("F =~ x1 + x2 + x3 + x4 + x5")
    m.fit(df)
    est = m.inspect()
    lam = est[(est.op == "~") & (est.rval == "F")]["Estimate"].to_numpy()
    assert lam[0] == 1.0
    assert np.all(np.abs(lam[1:] - 1.0) < 0.2)


def test_project_stack_runs_one_tiny_fit_efa_and_alpha():
    """Issue 8 item 19: after a dependency change, the project's own fit, EFA and alpha run.

    The values are population-level checks (tolerances from sampling error at n = 300).
    """
    from pipeline.psychometrics.efa import efa
    from pipeline.psychometrics.reliability import cronbach_alpha
    from pipeline.sem import fit

    df = _one_factor_data()
    res = fit("F =~ x1 + x2 + x3 + x4 + x5", df)
    assert res.converged and res.admissible and res.df == 5
    std = res.parameters.query("op == '=~'")["std.all"].to_numpy()
    assert np.all(np.abs(std - 0.759) < 0.08)
    e = efa(df, n_factors=1, method="ml", rotation="none")
    assert np.all(np.abs(np.abs(e.loadings.to_numpy().ravel()) - 0.759) < 0.08)
    # population alpha of 5 parallel items with loading .759: 5r/(1+4r), r = .576
    r = 0.759 ** 2
    assert cronbach_alpha(df.cov().to_numpy()) == pytest.approx(5 * r / (1 + 4 * r), abs=0.04)
