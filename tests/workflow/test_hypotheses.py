"""pipeline.sem.hypotheses: Wald and bootstrap-interval tests as data, the
multiple-testing correction (statsmodels, checked against R's p.adjust), and
comparisons of two effects checked against the same difference defined with
:= in the model (delta method and bootstrap draws)."""
from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.sem.hypotheses import (adjust_pvalues, decide_hypotheses, find_parameter,
                                     interval_supports, hypotheses_table, wald_test)

ROOT = Path(__file__).resolve().parents[2]
HS = ROOT / "tests" / "reference" / "data" / "holzinger_swineford.csv"
MODEL = """visual  =~ x1 + a*x2 + b*x3
textual =~ x4 + x5 + x6
speed   =~ x7 + x8 + x9
d := a - b
ta := 2*a
tb := a*b
dt := 2*a - a*b
"""


def test_wald_test_is_the_normal_z():
    z, p = wald_test(0.2, 0.1)
    assert z == 2.0 and p == pytest.approx(0.04550026389635842, rel=1e-12)  # 2*pnorm(-2) in R
    assert all(math.isnan(v) for v in wald_test(0.2, 0.0))


def test_adjusted_p_values_match_r_p_adjust():
    p = [0.01, 0.02, 0.03, 0.04, 0.05]
    # R: p.adjust(c(.01,.02,.03,.04,.05), "holm") and "BH"
    np.testing.assert_allclose(adjust_pvalues(p, "holm"), [0.05, 0.08, 0.09, 0.09, 0.09])
    np.testing.assert_allclose(adjust_pvalues(p, "fdr_bh"), [0.05] * 5)
    np.testing.assert_allclose(adjust_pvalues(p, None), p)


@pytest.mark.parametrize("lo, hi, direction, ok", [
    (0.1, 0.5, "positive", True), (-0.1, 0.5, "positive", False), (-0.5, -0.1, "negative", True),
    (-0.5, 0.1, "negative", False), (-0.5, -0.1, "nonzero", True), (-0.1, 0.1, "nonzero", False),
    (float("nan"), 0.5, "positive", False)])
def test_interval_rules(lo, hi, direction, ok):
    assert interval_supports(lo, hi, direction=direction) is ok


def _table():
    rows = [dict(lhs="y", op="~", rhs="x1", label="", est=0.30, se=0.10, z=3.0, pvalue=0.0027),
            dict(lhs="y", op="~", rhs="x2", label="", est=0.20, se=0.10, z=2.0, pvalue=0.0455),
            dict(lhs="y", op="~", rhs="x3", label="", est=-0.25, se=0.10, z=-2.5, pvalue=0.0124)]
    return pd.DataFrame(rows)


def test_direction_alpha_and_correction_decide():
    spec = {"alpha": 0.05, "tests": [
        {"id": "H1", "effect": "y ~ x1"}, {"id": "H2", "effect": "y ~ x2"},
        {"id": "H3", "effect": "y ~ x3", "direction": "negative"},
        {"id": "H4", "effect": "y ~ x3"},                                 # wrong sign
        {"id": "H5", "effect": "y ~ x2", "alpha": 0.01}]}
    h = decide_hypotheses(spec, _table())
    assert list(h["decision"]) == ["Supported", "Supported", "Supported", "Not supported",
                                   "Not supported"]
    # Holm over the five Wald tests: H2's p .0455 becomes .0455*... > .05
    hc = decide_hypotheses(spec | {"correction": "holm"}, _table())
    assert hc.loc["H2", "pvalue.adj"] == pytest.approx(
        adjust_pvalues([0.0027, 0.0455, 0.0124, 0.0124, 0.0455], "holm")[1])
    assert hc.loc["H2", "decision"] == "Not supported" and hc.loc["H1", "decision"] == "Supported"
    assert (decide_hypotheses(spec, _table(), admissible=False)["decision"]
            == "Not decided (inadmissible fit)").all()


def test_unknown_effect_is_named():
    with pytest.raises(ValueError, match="'y ~ x9'"):
        find_parameter(_table(), "y ~ x9")


@pytest.fixture(scope="module")
def hs_fit():
    from pipeline.core.exceptions import PipelineWarning
    from pipeline.sem import fit
    from pipeline.sem.bootstrap import bootstrap
    res = fit(MODEL, pd.read_csv(HS))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PipelineWarning)
        boot = bootstrap(res, B=60, seed=1, progress=False, attach=False, workers=1)
    return res, boot


def test_comparison_of_two_effects_equals_the_defined_difference(hs_fit):
    """compare: [a, b] gives what `d := a - b` gives: the delta-method SE (Wald) and
    the percentile interval of the same bootstrap draws."""
    res, boot = hs_fit
    spec = {"tests": [{"id": "W", "compare": ["a", "b"], "test": "wald", "direction": "nonzero"},
                      {"id": "Wd", "effect": "d", "test": "wald", "direction": "nonzero"},
                      {"id": "B", "compare": ["a", "b"], "test": "bootstrap", "direction": "nonzero"},
                      {"id": "Bd", "effect": "d", "test": "bootstrap", "direction": "nonzero"}]}
    h = hypotheses_table(spec, res, boot)
    d = res.parameters[res.parameters.lhs == "d"].iloc[0]
    assert h.loc["W", "estimate"] == pytest.approx(d.est, abs=1e-12)
    assert h.loc["W", "se"] == pytest.approx(d.se, rel=1e-8)
    assert h.loc["W", "pvalue"] == pytest.approx(d.pvalue, rel=1e-6)
    assert h.loc["B", "ci.lower"] == pytest.approx(h.loc["Bd", "ci.lower"], abs=1e-12)
    assert h.loc["B", "ci.upper"] == pytest.approx(h.loc["Bd", "ci.upper"], abs=1e-12)
    assert h.loc["B", "decision"] == h.loc["Bd", "decision"]
    # lavaan 0.6-14 (lavaan_hs_normal.json): x2 loading .554, x3 .729 -> a - b = -.175
    assert h.loc["W", "estimate"] == pytest.approx(0.5535003 - 0.7294561, abs=1e-4)


def test_wald_comparison_of_defined_effects_is_the_delta_method(hs_fit):
    """compare: [ta, tb] of two := effects equals the := difference dt (lavaan's delta-method SE)."""
    res, boot = hs_fit
    spec = {"tests": [{"id": "W", "compare": ["ta", "tb"], "test": "wald", "direction": "nonzero"}]}
    h = hypotheses_table(spec, res, boot)
    dt = res.parameters[res.parameters.lhs == "dt"].iloc[0]
    assert h.loc["W", "estimate"] == pytest.approx(dt.est, abs=1e-12)
    assert h.loc["W", "se"] == pytest.approx(dt.se, rel=1e-5)
    # a free parameter against a defined effect: a - ta = -a, SE of a
    h2 = hypotheses_table({"tests": [{"id": "X", "compare": ["a", "ta"], "test": "wald"}]}, res)
    a = res.parameters[res.parameters.label == "a"].iloc[0]
    assert h2.loc["X", "se"] == pytest.approx(a.se, rel=1e-5)
