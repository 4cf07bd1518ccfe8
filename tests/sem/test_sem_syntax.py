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


@pytest.mark.parametrize("text", ["f =~ ", "f =~ x1 + x2 <~ x3", "f x1 x2"])
def test_parser_rejects_bad_syntax(text):
    with pytest.raises(ModelSpecificationError):
        parse_model(text)


def test_group_vector_needs_as_many_groups():
    """c(a, b) has two elements: a single-group table is an error naming the line."""
    with pytest.raises(ModelSpecificationError, match=r"line 2: .*2 element\(s\) but the fit has 1"):
        lavaanify("f =~ x1 + x2\nf =~ c(a,b)*x3")


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


# ---------------------------------------------------------------- round 2
@pytest.mark.parametrize("text, line, what", [
    ("L =~ L1 + + L2", 1, "empty term"),
    ("F =~ F1 + F2\nL =~ L1 + L2 +", 2, "trailing '\\+'"),
    ("F =~ F1 + F2\n\nL =~ + L1 + L2", 3, "leading '\\+'"),
    ("F =~ F1 + F2\nL =~ L1 + 2x*L2", 2, "cannot read the modifier|not a variable name"),
    ("F =~ F1 + F2\n F ~~ ", 2, "a side is empty"),
    ("F =~ F1 + F2\nx1 | t1 + s2", 2, "threshold names"),
    ("F =~ F1 + F2\na > ", 2, "a side is empty"),
])
def test_malformed_lines_name_line_and_text(text, line, what):
    """Every syntax error names the line number and the line's text."""
    with pytest.raises(ModelSpecificationError, match=rf"line {line}: .*{what}") as exc:
        parse_model(text)
    bad = text.splitlines()[line - 1].strip()
    assert repr(bad)[1:-1].split(" ")[0] in str(exc.value)


def test_unicode_and_dotted_names():
    """Cyrillic, the Kazakh letters and dots are names, as lavaan accepts them."""
    kz = "әғқңөұүһі"
    pt = lavaanify(f"""
        Лидер =~ Лидер1 + Лидер2 + Лидер3
        clutched.up =~ c.1 + c.2 + c.3
        {kz} =~ {kz}1 + b.{kz}*{kz}2 + {kz}3
        Лидер ~ а.1*clutched.up
        ind := а.1 * b.{kz}
    """)
    assert pt.latent == ["Лидер", "clutched.up", kz]
    assert pt.observed[:3] == ["Лидер1", "Лидер2", "Лидер3"]
    assert {r["label"] for r in pt.rows if r["label"]} == {"а.1", f"b.{kz}"}
    from pipeline.sem.model import SEMModel
    m = SEMModel(pt)
    env = {"а.1": 0.5, f"b.{kz}": 3.0}
    assert m.defined.evaluate(env)[0] == pytest.approx(1.5)
    for bad in ("1abc", "a-b", "x y"):
        assert not __import__("pipeline.sem.syntax", fromlist=["is_name"]).is_name(bad)


def test_constraints_parsed_and_evaluated():
    """== over expressions, < and > become constraints g(theta) (= 0 / >= 0)."""
    from pipeline.sem.model import SEMModel
    pt = lavaanify("""
        f =~ x1 + a*x2 + b*x3 + c*x4
        a == b
        c == 2*a + 0.5
        a > 0.1
        b < 1e1
        d := a - c
        d < 0
    """)
    assert pt.equalities == [("a", "b")]
    assert [(c[1], c[3]) for c in pt.constraints] == [("==", 4), (">", 5), ("<", 6), ("<", 8)]
    with pytest.raises(ModelSpecificationError, match="fit_multigroup.*group=None"):
        SEMModel(pt)      # an estimator that would ignore them refuses the model
    m = SEMModel(pt, constraints_ok=True)
    g = m.constraints.values({"a": 0.3, "b": 0.3, "c": 1.0})
    np.testing.assert_allclose(g, [1.0 - 1.1, 0.3 - 0.1, 10 - 0.3, 0 - (0.3 - 1.0)])
    assert list(m.constraints.is_equality) == [True, False, False, False]
    with pytest.raises(ModelSpecificationError, match="line 3: .*unknown label 'z'"):
        lavaanify("f =~ x1 + a*x2 + x3\n\na == 2*z")


def test_thresholds_rows():
    pt = lavaanify("f =~ u1 + u2 + u3\nu1 | t1 + a*t2 + t3")
    th = [(r["lhs"], r["op"], r["rhs"], r["label"]) for r in pt.rows if r["op"] == "|"]
    assert th == [("u1", "|", "t1", ""), ("u1", "|", "t2", "a"), ("u1", "|", "t3", "")]
    from pipeline.sem.model import SEMModel
    m = SEMModel(pt)
    assert int(m.is_th.sum()) == 3 and not m.is_A[m.is_th].any()


def test_group_vectors_per_group():
    """c(a, b)*x, c(1, NA)*x and start(c(.)) give each group its element."""
    text = "f =~ x1 + c(a, a)*x2 + c(1, NA)*x3 + start(c(.5, .7))*x4 + l*x5"
    rows = [{(r["lhs"], r["rhs"]): r for r in lavaanify(text, ngroups=2, group=g).rows}
            for g in (0, 1)]
    assert rows[0][("f", "x2")]["label"] == rows[1][("f", "x2")]["label"] == "a"
    assert (rows[0][("f", "x3")]["free"], rows[0][("f", "x3")]["ustart"]) == (False, 1.0)
    assert rows[1][("f", "x3")]["free"] is True
    assert (rows[0][("f", "x4")]["start"], rows[1][("f", "x4")]["start"]) == (0.5, 0.7)
    assert rows[0][("f", "x5")]["label"] == rows[1][("f", "x5")]["label"] == "l"


def test_defined_overflow_is_a_clear_error():
    from pipeline.sem.model import SEMModel
    m = SEMModel(lavaanify("f =~ x1 + a*x2 + x3\nbig := exp(1000*a)\nr := 1/(a - a)"))
    with pytest.raises(ModelSpecificationError, match=r"big := exp\(1000\*a\) overflows"):
        m.defined.evaluate({"a": 1.0})
    with pytest.raises(ModelSpecificationError, match=r"r := 1/\(a - a\) divides by zero"):
        m.defined.evaluate({"a": -1.0})


def _big_model(k: int) -> str:
    return "\n".join(f"F{i} =~ F{i}_1 + F{i}_2 + F{i}_3" for i in range(k))


def test_unknown_variables_fail_fast_for_3000_factors():
    """A 3,000-factor model (9,000 indicators) naming variables absent from the
    data fails before any parameter table is built.  Measured: ~0.1 s; the bound
    is generous (5 s) for a loaded machine."""
    import time
    from pipeline.sem.syntax import check_variables
    text = _big_model(3000)
    cols = [f"F{i}_{j}" for i in range(2999) for j in (1, 2, 3)] + ["F2999_1"]
    t0 = time.perf_counter()
    with pytest.raises(ModelSpecificationError,
                       match=r"2 variable\(s\) not in the data \(big.csv\): F2999_2 \(line 3000\), F2999_3"):
        check_variables(text, cols, source="big.csv")
    assert time.perf_counter() - t0 < 5.0
    assert check_variables(text, cols + ["F2999_2", "F2999_3"])[:2] == ["F0_1", "F0_2"]


def test_sem_model_construction_is_linear():
    """Parameter table and RAM model of 300 factors: no n x n or rows x npar
    matrices are built eagerly (the 4.5e4 factor covariances dominate)."""
    import time
    from pipeline.sem.model import SEMModel
    t0 = time.perf_counter()
    m = SEMModel(lavaanify(_big_model(300)))
    assert m.npar == 300 * 2 + 900 + 300 + 300 * 299 // 2
    assert m._P is None
    assert time.perf_counter() - t0 < 10.0


def test_fit_imposes_general_constraints_through_the_one_group_fit():
    """``fit`` never ignores ``a > 2``: it fits the model as one group with the
    constraint imposed (free, the loading of x2 is about 0.55 < 2), exactly as
    ``fit_multigroup(model, data, None)`` does; SEMModel alone still refuses."""
    import pandas as pd
    from pipeline.sem import fit
    from pipeline.sem.multigroup import fit_multigroup
    from tests.conftest import REFERENCE
    d = pd.read_csv(REFERENCE / "data" / "holzinger_swineford.csv")
    model = "visual =~ x1 + a*x2 + x3\na > 2"
    res = fit(model, d)
    ref = fit_multigroup(model, d, None)
    p = res.parameters
    a = p[(p.lhs == "visual") & (p.op == "=~") & (p.rhs == "x2")]["est"].iloc[0]
    assert a == pytest.approx(2.0, abs=1e-4)
    assert res.fit_measures()["chisq"] == pytest.approx(ref.fit_measures()["chisq"], rel=1e-10)
    free = fit("visual =~ x1 + a*x2 + x3", d).parameters
    assert free[(free.lhs == "visual") & (free.rhs == "x2")]["est"].iloc[0] < 2
    from pipeline.sem import build_model
    with pytest.raises(ModelSpecificationError, match="a > 2"):
        build_model(model)
