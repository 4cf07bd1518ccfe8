"""Version-drift smoke test: the locked run-time libraries import and do their job --
statsmodels adjusts p-values, pingouin runs a Welch test, python-docx writes a document,
graphviz builds a DOT source -- and the project's own fit, EFA and alpha run.

semopy and factor_analyzer are test-only oracles: tests/oracles/.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


def _one_factor_data(n=300, k=5, seed=1):
    rng = np.random.default_rng(seed)
    f = rng.normal(size=n)
    x = 0.7 * f[:, None] + rng.normal(scale=0.6, size=(n, k))
    return pd.DataFrame(x, columns=[f"x{i + 1}" for i in range(k)])


def test_runtime_roles_of_statsmodels_and_pingouin():
    from pipeline.psychometrics.comparison import adjust_pvalues, welch_t

    # Holm by hand: sorted .01 .02 .03 -> 3*.01, 2*.02, 1*.03 (cummax) = .03 .04 .04
    np.testing.assert_allclose(adjust_pvalues([0.02, 0.01, 0.03], "holm"), [0.04, 0.03, 0.04])
    r = welch_t([1.0, 2.0, 3.0, 4.0], [2.0, 4.0, 6.0, 8.0, 10.0])
    # by hand: means 2.5 / 6, variances 5/3 and 10: se² = 5/12 + 2, t = -3.5 / sqrt(29/12)
    assert r.statistic == pytest.approx(-3.5 / np.sqrt(29 / 12), rel=1e-12)
    assert r.df == pytest.approx((29 / 12) ** 2 / ((5 / 12) ** 2 / 3 + 2 ** 2 / 4), rel=1e-12)


def test_python_docx_and_graphviz_bindings(tmp_path):
    import docx
    import graphviz

    d = docx.Document()
    d.add_paragraph("Лидер1 ≥ .70")
    d.save(tmp_path / "a.docx")
    assert docx.Document(tmp_path / "a.docx").paragraphs[0].text == "Лидер1 ≥ .70"
    g = graphviz.Digraph()
    g.edge("F", "x1")
    assert "F -> x1" in g.source


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
