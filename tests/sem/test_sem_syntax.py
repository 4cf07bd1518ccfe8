"""lavaan syntax parser and parameter table (pipeline.sem.syntax) against lavaanify."""
from __future__ import annotations


import numpy as np
import pytest

from pipeline.core.exceptions import ModelSpecificationError
from pipeline.sem import implied_moments, lavaanify, parse_model
from tests.conftest import load_fixture

CASES = ["poldem", "mediator_x", "free_marker", "single", "higher"]


@pytest.mark.parametrize("case", CASES)
def test_partable_matches_lavaanify(case):
    """R: lavaanify(model, auto.var=TRUE, auto.fix.first=TRUE, auto.fix.single=TRUE,
    auto.cov.lv.x=TRUE, auto.cov.y=TRUE, fixed.x=TRUE, meanstructure=TRUE,
    int.ov.free=TRUE)  (tests/reference/lavaan_engine_extra.R)."""
    ref = load_fixture("lavaan_engine_partables.json")[case]
    pt = lavaanify(ref["model"], meanstructure=True)
    as_list = lambda v: [v] if isinstance(v, str) else list(v or [])  # noqa: E731 (R unboxes)
    assert pt.observed == as_list(ref["ov"])
    assert pt.ov_x == as_list(ref["ov.x"])
    assert pt.latent == as_list(ref["lv"])
    got = [(r["lhs"], r["op"], r["rhs"]) for r in pt.rows]
    want = [(r["lhs"], r["op"], r["rhs"]) for r in ref["partable"]]
    assert got == want
    for r, w in zip(pt.rows, ref["partable"]):
        assert int(r["free"]) == w["free"], (r, w)
        assert int(r["exo"]) == w["exo"], (r, w)
        assert r["label"] == w["label"]
        if w["ustart"] is not None and not r["free"]:
            assert r["ustart"] == pytest.approx(w["ustart"])


def test_parser_multiline_comments_and_modifiers():
    pm = parse_model("""
        # a comment
        f =~ NA*x1 + a1*x2 +   # continued
             start(0.5)*x3 + 1e-1*x4
        y ~ b*f ; y ~ 1
        ind := a1*b
    """)
    ops = [(f.lhs, f.op) for f in pm.formulas]
    assert ops == [("f", "=~"), ("y", "~"), ("y", "~1"), ("ind", ":=")]
    t = pm.formulas[0].terms
    assert [x.name for x in t] == ["x1", "x2", "x3", "x4"]
    assert t[0].free and t[1].label == "a1" and t[2].start == 0.5 and t[3].fixed == 0.1
    assert pm.definitions == [("ind", "a1*b")]


@pytest.mark.parametrize("text", ["f =~ ", "f =~ x1 + x2 <~ x3", "f x1 x2", "f =~ c(a,b)*x1"])
def test_parser_rejects_bad_syntax(text):
    with pytest.raises(ModelSpecificationError):
        parse_model(text)


def test_implied_moments_unit_variance_rule():
    """Loadings are standardized when residual variances are not given."""
    obs, S, mu = implied_moments("""
        L =~ 0.8*L1 + 0.7*L2 + 0.6*L3
        S =~ 0.7*S1 + 0.7*S2
        L ~~ 0.4*S
        CC ~ 0.3*L + 0.2*S
        ICS =~ 0.8*ICS1 + 0.8*ICS2
        ICS ~ 0.3*CC
        L1 ~~ 0.5*L1
    """)
    assert obs == ["L1", "L2", "L3", "S1", "S2", "ICS1", "ICS2", "CC"]
    d = dict(zip(obs, np.diag(S)))
    # L1's residual variance is given: 0.8^2 + 0.5
    assert d["L1"] == pytest.approx(1.14)
    for v in obs[1:]:
        assert d[v] == pytest.approx(1.0)
    i = obs.index
    assert S[i("L2"), i("L3")] == pytest.approx(0.7 * 0.6)
    assert S[i("L2"), i("S1")] == pytest.approx(0.7 * 0.4 * 0.7)
    # CC = .3 L + .2 S + e; cov(CC, L2) = .7 * (.3 + .2*.4)
    assert S[i("CC"), i("L2")] == pytest.approx(0.7 * (0.3 + 0.2 * 0.4))
    # ICS latent has unit variance, ICS1 loads .8; cov(ICS1, CC) = .8 * .3 * 1
    assert S[i("ICS1"), i("CC")] == pytest.approx(0.8 * 0.3)
    assert np.allclose(mu, 0) and np.allclose(S, S.T)
    assert np.all(np.linalg.eigvalsh(S) > 0)


def test_implied_moments_requires_numeric_paths():
    with pytest.raises(ModelSpecificationError, match="numeric value"):
        implied_moments("L =~ 0.8*L1 + L2")
    with pytest.raises(ModelSpecificationError, match="exceeds 1"):
        implied_moments("L =~ 1.2*L1 + 0.5*L2")


def test_implied_moments_intercepts():
    obs, S, mu = implied_moments("L =~ 0.8*L1 + 0.6*L2\nL1 ~ 3.5*1\nL2 ~ 2*1")
    assert list(mu) == [3.5, 2.0]
