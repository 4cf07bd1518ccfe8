"""Tests of pipeline.psychometrics.comparison: R reference values, scipy/statsmodels/pingouin, invariants."""
from __future__ import annotations

from tests.conftest import REFERENCE
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from pipeline.psychometrics.comparison import (adjust_pvalues, chi_square_test, compare_items,
                                               cramers_v, mann_whitney, p_adjust, rank_biserial,
                                               rank_biserial_ci, welch_t)
from pipeline.core.exceptions import NotEstimableWarning, SparseTableWarning

FIX = json.loads((REFERENCE / "fixtures" / "comparison.json")
                 .read_text(encoding="utf-8"))
#: tests/reference/comparison_deps.R (R 4.2.2): p.adjust on four vectors, Welch's t and
#: Hedges' g on Holzinger & Swineford (1939), Pasteur vs Grant-White.
DEPS = json.loads((REFERENCE / "fixtures" / "comparison_deps.json").read_text(encoding="utf-8"))
HS = pd.read_csv(REFERENCE / "data" / "holzinger_swineford.csv")


def _na(v):
    return np.array([np.nan if e is None else e for e in v], dtype=float)


# ------------------------------------------------------------------ R
@pytest.mark.parametrize("alt,key,correct", [("two-sided", "two.sided", True),
                                             ("greater", "greater", True),
                                             ("less", "less", True),
                                             ("two-sided", "nocorrect", False)])
def test_mann_whitney_matches_r_with_ties(alt, key, correct):
    """R: ``wilcox.test(x, y, alternative = alt, correct = correct)`` (tests/reference/comparison.R)."""
    res = mann_whitney(FIX["x"], FIX["y"], alternative=alt, correct=correct)
    assert res.method == "asymptotic" and res.ties
    assert res.statistic == FIX["wilcox"][key]["W"]
    assert res.pvalue == pytest.approx(FIX["wilcox"][key]["p"], rel=1e-10)


def test_mann_whitney_exact_matches_r():
    """R: ``wilcox.test(xs, ys)``: no ties and n < 50, so the exact p-value."""
    res = mann_whitney(FIX["xs"], FIX["ys"])
    assert res.method == "exact"
    assert res.statistic == FIX["wilcox"]["exact"]["W"]
    assert res.pvalue == pytest.approx(FIX["wilcox"]["exact"]["p"], rel=1e-10)


@pytest.mark.parametrize("name", ["t22", "trc"])
def test_chisq_matches_r(name):
    """R: ``chisq.test(tab)`` (Yates on the 2 x 2 table, none on 3 x 3)."""
    res = chi_square_test(np.array(FIX[name]))
    ref = FIX["chisq"][name]
    assert res.statistic == pytest.approx(ref["X2"], rel=1e-10)
    assert res.df == ref["df"]
    assert res.pvalue == pytest.approx(ref["p"], rel=1e-9)


@pytest.mark.parametrize("method", ["holm", "hochberg", "BH", "BY", "bonferroni"])
def test_p_adjust_matches_r_with_na(method):
    """R: ``p.adjust(p, method)`` with one NA (left out of the family size)."""
    p = np.array([np.nan if v is None else v for v in FIX["p"]])
    ref = np.array([np.nan if v is None else v for v in FIX["p_adjust"][method]])
    got = p_adjust(p, method)
    assert np.isnan(got[6]) and np.isnan(ref[6])
    np.testing.assert_allclose(got[~np.isnan(ref)], ref[~np.isnan(ref)], rtol=1e-12)


# --------------------------------------------------------- scipy / statsmodels
@pytest.mark.parametrize("seed", range(5))
def test_mann_whitney_against_scipy(seed):
    rng = np.random.default_rng(seed)
    x, y = rng.integers(1, 6, 60 + seed), rng.integers(1, 6, 45)
    for alt in ("two-sided", "greater", "less"):
        ours = mann_whitney(x, y, alternative=alt)
        ref = stats.mannwhitneyu(x, y, alternative=alt, method="asymptotic", use_continuity=True)
        assert ours.statistic == pytest.approx(ref.statistic)
        assert ours.pvalue == pytest.approx(ref.pvalue, rel=1e-10)


@pytest.mark.parametrize("seed", range(5))
def test_chisq_and_cramers_v_against_scipy(seed):
    rng = np.random.default_rng(seed)
    tab = rng.integers(6, 40, size=(3 + seed % 2, 2 + seed % 3))
    ours = chi_square_test(tab)
    stat, p, dof, exp = stats.chi2_contingency(tab)
    assert ours.statistic == pytest.approx(stat) and ours.pvalue == pytest.approx(p)
    assert ours.df == dof
    np.testing.assert_allclose(ours.expected.to_numpy(), exp)
    assert ours.cramers_v == pytest.approx(stats.contingency.association(tab, method="cramer"))


def _hand_adjust(q, method):
    """The step-up/step-down formulas written out (an oracle independent of statsmodels)."""
    m = q.size
    if method == "bonferroni":
        return np.minimum(1.0, m * q)
    if method == "holm":
        o = np.argsort(q, kind="mergesort")
        adj = np.empty(m)
        adj[o] = np.minimum(1.0, np.maximum.accumulate((m - np.arange(1, m + 1) + 1) * q[o]))
        return adj
    o = np.argsort(-q, kind="mergesort")
    i = np.arange(m, 0, -1)
    factor = {"hochberg": (m - i + 1.0), "BH": m / i,
              "BY": np.sum(1.0 / np.arange(1, m + 1)) * m / i}[method]
    adj = np.empty(m)
    adj[o] = np.minimum(1.0, np.minimum.accumulate(factor * q[o]))
    return adj


@pytest.mark.parametrize("method", ["holm", "hochberg", "BH", "BY", "bonferroni"])
def test_adjust_pvalues_against_the_formulas(method):
    p = np.random.default_rng(3).uniform(size=25) ** 3
    np.testing.assert_allclose(adjust_pvalues(p, method), _hand_adjust(p, method), rtol=1e-12)


@pytest.mark.parametrize("vector", ["with_na", "ties", "edges", "random"])
@pytest.mark.parametrize("method", ["holm", "hochberg", "hommel", "BH", "BY", "bonferroni"])
def test_adjust_pvalues_matches_r(vector, method):
    """R 4.2.2 ``p.adjust(p, method)``; measured largest relative difference 3.3e-15."""
    p, ref = _na(DEPS["p"][vector]), _na(DEPS["p_adjust"][vector][method])
    got = adjust_pvalues(p, method)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
    ok = ~np.isnan(ref)
    np.testing.assert_allclose(got[ok], ref[ok], rtol=1e-13, atol=1e-15)


def test_adjust_pvalues_is_computed_by_statsmodels(monkeypatch):
    """The run-time role: the numbers come from statsmodels' multipletests."""
    import statsmodels.stats.multitest as smt
    seen = []

    def spy(p, method):
        seen.append((len(p), method))
        return None, np.full(len(p), 0.5)
    monkeypatch.setattr(smt, "multipletests", spy)
    got = adjust_pvalues([0.01, np.nan, 0.2], "hochberg")
    assert seen == [(2, "simes-hochberg")]
    np.testing.assert_array_equal(got, [0.5, np.nan, 0.5])
    assert p_adjust is adjust_pvalues


# ------------------------------------------------------------------ Welch (pingouin)
def _school(var):
    return (HS.loc[HS.school == "Pasteur", var].to_numpy(),
            HS.loc[HS.school == "Grant-White", var].to_numpy())


@pytest.mark.parametrize("var", [f"x{i}" for i in range(1, 10)])
def test_welch_matches_r_on_holzinger_swineford(var):
    """R: ``t.test(x, y, var.equal = FALSE)``; Hedges' g and its CI by hand (comparison_deps.R)."""
    ref = DEPS["welch"][var]
    res = welch_t(*_school(var))
    assert (res.n_x, res.n_y) == (ref["n1"], ref["n2"]) == (156, 145)
    assert res.statistic == pytest.approx(ref["t"], rel=1e-11)
    assert res.df == pytest.approx(ref["df"], rel=1e-12)
    assert res.pvalue == pytest.approx(ref["p"], rel=1e-11)
    assert res.mean_diff == pytest.approx(ref["mean_diff"], rel=1e-11)
    assert (res.ci_lower, res.ci_upper) == pytest.approx(tuple(ref["ci"]), rel=1e-11)
    assert res.cohen_d == pytest.approx(ref["d"], rel=1e-11)
    assert res.hedges_g == pytest.approx(ref["g"], rel=1e-11)
    assert (res.g_ci_lower, res.g_ci_upper) == pytest.approx(tuple(ref["g_ci"]), rel=1e-11)
    # Hedges' approximation vs the exact gamma factor: < 2.1e-7 at n = 301
    assert abs(ref["g_exact"] - ref["g"]) < 2.1e-7


def test_welch_one_sided_and_level_match_r():
    x, y = _school("x5")
    for alt in ("greater", "less"):
        ref, res = DEPS["welch_x5"][alt], welch_t(x, y, alternative=alt)
        assert res.statistic == pytest.approx(ref["t"], rel=1e-11)
        assert res.pvalue == pytest.approx(ref["p"], rel=1e-10)
        lo, hi = ref["ci"]                       # jsonlite writes R's Inf as null
        lo, hi = (-np.inf if lo is None else lo), (np.inf if hi is None else hi)
        assert (res.ci_lower, res.ci_upper) == pytest.approx((lo, hi), rel=1e-11)
    r90 = welch_t(x, y, level=0.90)
    assert (r90.ci_lower, r90.ci_upper) == pytest.approx(tuple(DEPS["welch_x5"]["level90"]["ci"]),
                                                         rel=1e-11)
    assert (r90.g_ci_lower, r90.g_ci_upper) == pytest.approx(tuple(DEPS["g_ci90_x5"]), rel=1e-11)
    g = welch_t(x, y, alternative="greater")
    assert g.g_ci_lower == pytest.approx(r90.g_ci_lower) and g.g_ci_upper == np.inf
    le = welch_t(x, y, alternative="less")
    assert le.g_ci_upper == pytest.approx(r90.g_ci_upper) and le.g_ci_lower == -np.inf


def test_welch_against_scipy_and_pingouin_pitfalls():
    """scipy gives the same t and p; pingouin's own defaults would be wrong for us."""
    import pingouin as pg
    x, y = _school("x6")
    res = welch_t(x, y)
    ref = stats.ttest_ind(x, y, equal_var=False)
    assert res.statistic == pytest.approx(ref.statistic, rel=1e-12)
    assert res.pvalue == pytest.approx(ref.pvalue, rel=1e-12)
    # pingouin rounds its CI95 column to 2 decimals and reports |d|
    raw = pg.ttest(x, y, correction=True)
    assert raw["CI95"].iloc[0][0] == round(res.ci_lower, 2) != res.ci_lower
    assert raw["cohen_d"].iloc[0] == pytest.approx(-res.cohen_d) and res.cohen_d < 0
    # correction="auto" is Student's test when the groups have equal sizes
    a, b = x[:40], y[:40]
    assert pg.ttest(a, b)["dof"].iloc[0] == 78
    assert welch_t(a, b).df == pytest.approx(stats.ttest_ind(a, b, equal_var=False).df)
    assert welch_t(a, b).df < 78


def test_welch_invariants_and_errors():
    x, y = _school("x3")
    a, b = welch_t(x, y), welch_t(y, x)
    assert a.statistic == pytest.approx(-b.statistic) and a.pvalue == pytest.approx(b.pvalue)
    assert a.hedges_g == pytest.approx(-b.hedges_g)
    assert a.g_ci_lower < a.hedges_g < a.g_ci_upper
    assert abs(a.hedges_g) < abs(a.cohen_d)
    # shift invariance, scale equivariance of the mean difference only
    s = welch_t(3 * x + 1, 3 * y + 1)
    assert s.statistic == pytest.approx(a.statistic) and s.hedges_g == pytest.approx(a.hedges_g)
    assert s.mean_diff == pytest.approx(3 * a.mean_diff)
    with pytest.raises(ValueError, match="x: needs at least 2"):
        welch_t([1.0], [1, 2, 3])
    with pytest.raises(ValueError, match="alternative"):
        welch_t(x, y, alternative="bigger")
    with pytest.raises(ValueError, match="level"):
        welch_t(x, y, level=95)
    with pytest.raises(TypeError, match="y: must hold numbers"):
        welch_t(x, ["a", "b"])
    with pytest.warns(NotEstimableWarning):
        assert np.isnan(welch_t([2, 2, 2], [2, 2]).pvalue)


def test_mann_whitney_agrees_with_pingouin_mwu():
    """pingouin.mwu: same U, p, rank-biserial (sign: positive when x is larger) and CLES."""
    import pingouin as pg
    ref = pg.mwu(FIX["x"], FIX["y"]).iloc[0]
    res = mann_whitney(FIX["x"], FIX["y"])
    assert res.statistic == ref["U_val"] and res.pvalue == pytest.approx(ref["p_val"], rel=1e-12)
    assert res.rank_biserial == pytest.approx(ref["RBC"]) and res.cles == pytest.approx(ref["CLES"])


# ------------------------------------------------------------- invariants
def test_rank_biserial_is_cliffs_delta_and_antisymmetric():
    rng = np.random.default_rng(7)
    x, y = rng.integers(1, 6, 37), rng.integers(1, 6, 23)
    r = mann_whitney(x, y).rank_biserial
    diff = np.sign(x[:, None] - y[None, :])
    assert r == pytest.approx(diff.mean())                              # Cliff's delta
    assert mann_whitney(y, x).rank_biserial == pytest.approx(-r)
    ranks = stats.rankdata(np.concatenate([x, y]))
    assert r == pytest.approx(2 * (ranks[:37].mean() - ranks[37:].mean()) / 60)   # Glass
    assert mann_whitney(x, y).cles == pytest.approx((diff > 0).mean() + (diff == 0).mean() / 2)


def test_rank_biserial_ci():
    """effectsize::rank_biserial: tanh(atanh(r) +- z sqrt((n1 + n2 + 1) / (3 n1 n2)))."""
    # by hand: r = 0.3, n = 40/30: se = sqrt(71/3600) = 0.140436; atanh(.3) = 0.309520
    lo, hi = rank_biserial_ci(0.3, 40, 30)
    assert lo == pytest.approx(np.tanh(0.3095196 - 1.959964 * 0.1404358), abs=1e-6)
    assert hi == pytest.approx(np.tanh(0.3095196 + 1.959964 * 0.1404358), abs=1e-6)
    assert lo == pytest.approx(0.03426, abs=1e-5) and hi == pytest.approx(0.52612, abs=1e-5)
    lo90, hi90 = rank_biserial_ci(0.3, 40, 30, level=0.90)
    assert lo < lo90 < 0.3 < hi90 < hi
    g = rank_biserial_ci(0.3, 40, 30, level=0.95, alternative="greater")
    assert g[1] == 1.0 and g[0] == pytest.approx(lo90)
    assert rank_biserial_ci(-0.3, 40, 30) == pytest.approx((-hi, -lo))
    assert rank_biserial_ci(1.0, 5, 5) == (1.0, 1.0)
    res = mann_whitney(FIX["x"], FIX["y"])
    assert (res.ci_lower, res.ci_upper) == pytest.approx(
        rank_biserial_ci(res.rank_biserial, res.n_x, res.n_y))
    with pytest.raises(ValueError, match="level"):
        rank_biserial_ci(0.1, 5, 5, level=95)


def test_rank_biserial_extremes_and_errors():
    assert mann_whitney([5, 5, 4], [1, 2, 2, 1]).rank_biserial == 1.0
    assert rank_biserial(0, 3, 4) == -1.0
    with pytest.raises(ValueError, match="u_x"):
        rank_biserial(13, 3, 4)
    with pytest.raises(ValueError, match="alternative"):
        mann_whitney([1, 2], [3, 4], alternative="bigger")
    with pytest.raises(ValueError, match="method"):
        mann_whitney([1, 2, 2], [2, 3], method="exact")
    with pytest.raises(ValueError, match="x: has no"):
        mann_whitney([np.nan], [1, 2])
    with pytest.warns(NotEstimableWarning):
        assert np.isnan(mann_whitney([3, 3, 3], [3, 3], method="asymptotic").pvalue)


def test_p_adjust_invariants():
    p = np.random.default_rng(11).uniform(size=40) ** 2
    for m in ("holm", "hochberg", "hommel", "BH", "BY", "bonferroni"):
        a = p_adjust(p, m)
        assert (a >= p - 1e-15).all() and (a <= 1).all()
        o = np.argsort(p)
        assert (np.diff(a[o]) >= -1e-15).all()               # monotone in p
    assert (p_adjust(p, "holm") <= p_adjust(p, "bonferroni") + 1e-15).all()
    assert (p_adjust(p, "BH") <= p_adjust(p, "holm") + 1e-15).all()
    np.testing.assert_array_equal(p_adjust(p, "none"), p)
    assert (p_adjust(p, "hommel") <= p_adjust(p, "hochberg") + 1e-15).all()   # Hommel 1988
    with pytest.raises(ValueError, match="method"):
        p_adjust(p, "hommel2")
    with pytest.raises(ValueError, match="p:"):
        p_adjust([0.1, 1.2])
    with pytest.raises(TypeError, match="p: must hold numbers"):
        adjust_pvalues(["a", 0.1])
    with pytest.raises(TypeError, match="method"):
        adjust_pvalues([0.1], method=None)
    assert adjust_pvalues([], "holm").size == 0
    np.testing.assert_array_equal(adjust_pvalues([np.nan, np.nan], "BH"), [np.nan, np.nan])


def test_chisq_monte_carlo_is_reproducible_and_close():
    tab = np.array([[12, 5, 9], [3, 20, 7], [11, 2, 8]])
    a = chi_square_test(tab, simulate=True, B=4000, seed=5)
    b = chi_square_test(tab, simulate=True, B=4000, seed=5)
    assert a.pvalue == b.pvalue and a.method.startswith("monte carlo")
    assert 1 / 4001 <= a.pvalue < 0.002                     # asymptotic p = 9.3e-05
    # R: set.seed(1); chisq.test(weak, simulate.p.value = TRUE, B = 1e5); the
    # Monte Carlo SE of both p-values is < 0.003, hence abs = 0.01
    weak = np.array(FIX["weak"])
    mc = chi_square_test(weak, simulate=True, B=20000, seed=1)
    assert mc.statistic == pytest.approx(FIX["chisq"]["weak_mc"]["X2"], rel=1e-10)
    assert mc.pvalue == pytest.approx(FIX["chisq"]["weak_mc"]["p"], abs=0.01)
    assert abs(mc.pvalue - stats.chi2_contingency(weak)[1]) > 0.05   # not the asymptotic one


def test_chisq_drops_empty_rows_and_checks_input():
    tab = pd.DataFrame({"A": [10, 0, 12, 7], "B": [9, 0, 4, 15]}, index=[1, 2, 3, 4])
    res = chi_square_test(tab)
    assert res.dropped == [("row", 2)] and res.df == 2
    with pytest.raises(ValueError, match="table"):
        chi_square_test([[1, 2], [3, -1]])
    with pytest.raises(ValueError, match="table"):
        chi_square_test([[1, 2, 3]])
    with pytest.raises(ValueError, match="B"):
        chi_square_test([[5, 6], [7, 8]], simulate=True, B=0)


def test_cramers_v_bounds_and_bias_correction():
    tab = np.array([[30, 0], [0, 30]])
    assert chi_square_test(tab, correct=False).cramers_v == pytest.approx(1.0)
    ind = np.array([[10, 20], [20, 40]])
    res = chi_square_test(ind, correct=False)
    assert res.cramers_v == pytest.approx(0.0) and res.cramers_v_corrected == pytest.approx(0.0)
    assert cramers_v(5.0, 100, 3, 3, bias_correct=True) < cramers_v(5.0, 100, 3, 3)
    # Bergsma (2013) by hand: phi2 = .05 - 4/99, r~ = c~ = 3 - 4/99
    assert cramers_v(5.0, 100, 3, 3, bias_correct=True) == pytest.approx(0.0699779, abs=1e-6)
    assert cramers_v(5.0, 100, 3, 3) == pytest.approx(np.sqrt(5 / 200))
    with pytest.raises(ValueError, match="n_rows"):
        cramers_v(1.0, 10, 1, 3)


# ------------------------------------------------------------- per item
def _two_groups(seed=0, n1=80, n2=60):
    rng = np.random.default_rng(seed)
    d = pd.DataFrame({"org": ["A"] * n1 + ["B"] * n2,
                      "q1": np.r_[rng.integers(3, 6, n1), rng.integers(1, 6, n2)],
                      "q2": rng.integers(1, 6, n1 + n2),
                      "q3": rng.integers(1, 6, n1 + n2).astype(float)})
    d.loc[3, "q3"] = np.nan
    return d


def test_compare_items_matches_the_pure_functions():
    d = _two_groups()
    out = compare_items(d, ["q1", "q2", "q3"], "org", groups=["A", "B"], seed=1)
    assert list(out["item"]) == ["q1", "q2", "q3"]
    for _, row in out.iterrows():
        x = d.loc[d.org == "A", row["item"]].dropna()
        y = d.loc[d.org == "B", row["item"]].dropna()
        ref = stats.mannwhitneyu(x, y, method="asymptotic")
        assert row["U"] == ref.statistic and row["pvalue"] == pytest.approx(ref.pvalue)
        assert row["n1"] == len(x) and row["n2"] == len(y)
    assert out.loc[2, "n1"] == 79
    np.testing.assert_allclose(out["p_holm"], p_adjust(out["pvalue"], "holm"))
    np.testing.assert_allclose(out["p_BH"], p_adjust(out["pvalue"], "BH"))
    np.testing.assert_allclose(out["chisq_p_holm"], p_adjust(out["chisq_pvalue"], "holm"))
    assert out.loc[0, "rank_biserial"] > 0.3 and out.loc[0, "p_holm"] < 0.001
    # reversing the groups flips the sign of the effect only
    rev = compare_items(d, ["q1", "q2", "q3"], "org", groups=["B", "A"], seed=1)
    np.testing.assert_allclose(rev["rank_biserial"], -out["rank_biserial"])
    np.testing.assert_allclose(rev["pvalue"], out["pvalue"])


def test_compare_items_welch_columns():
    d = _two_groups()
    out = compare_items(d, ["q1", "q2", "q3"], "org", groups=["A", "B"], chisq=False, welch=True)
    for _, row in out.iterrows():
        x = d.loc[d.org == "A", row["item"]].dropna()
        y = d.loc[d.org == "B", row["item"]].dropna()
        ref = welch_t(x, y)
        assert row["t"] == ref.statistic and row["t_df"] == ref.df
        assert row["hedges_g"] == ref.hedges_g and row["g_ci_upper"] == ref.g_ci_upper
    np.testing.assert_allclose(out["t_p_holm"], adjust_pvalues(out["t_pvalue"], "holm"))
    assert out.loc[0, "hedges_g"] > 0.5 and out.loc[0, "t_p_holm"] < 0.001
    plain = compare_items(d, ["q1"], "org", chisq=False)
    assert "t" not in plain.columns and "hedges_g" not in plain.columns


def test_compare_items_simulates_sparse_tables_only_under_auto():
    d = pd.DataFrame({"org": ["A"] * 30 + ["B"] * 30,
                      "q": [5] * 26 + [1, 2, 3, 4] + [5] * 20 + [4] * 8 + [1, 2]})
    out = compare_items(d, ["q"], "org", seed=3)
    assert out.loc[0, "chisq_method"].startswith("monte carlo")
    with pytest.warns(SparseTableWarning):
        out2 = compare_items(d, ["q"], "org", simulate=False)
    assert out2.loc[0, "chisq_method"] == "asymptotic"


def test_compare_items_errors():
    d = _two_groups()
    with pytest.raises(ValueError, match="group"):
        compare_items(d, ["q1"], "unit")
    with pytest.raises(ValueError, match="items"):
        compare_items(d, ["q9"], "org")
    with pytest.raises(ValueError, match="groups"):
        compare_items(d.assign(org=["A", "B", "C", "D"] * 35), ["q1"], "org")
    with pytest.raises(ValueError, match="adjust"):
        compare_items(d, ["q1"], "org", adjust=["sidak"])
    with pytest.raises(TypeError, match="data"):
        compare_items(d.to_numpy(), ["q1"], "org")


# ------------------------------------------------------------ properties
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_likert = st.lists(st.integers(1, 5), min_size=2, max_size=60)


@settings(max_examples=60, deadline=None)
@given(_likert, _likert)
def test_property_mann_whitney(x, y):
    """U_x + U_y = n_x n_y; r_rb antisymmetric and equal to Cliff's delta; p in [0, 1]."""
    if len(set(x) | set(y)) < 2:
        return                                  # all tied: not testable (warned elsewhere)
    a, b = mann_whitney(x, y), mann_whitney(y, x)
    assert a.statistic + b.statistic == pytest.approx(len(x) * len(y))
    assert a.rank_biserial == pytest.approx(-b.rank_biserial)
    assert a.rank_biserial == pytest.approx(np.sign(np.subtract.outer(x, y)).mean())
    assert 0 <= a.pvalue <= 1 and a.pvalue == pytest.approx(b.pvalue)
    assert -1 <= a.ci_lower <= a.rank_biserial <= a.ci_upper <= 1


@settings(max_examples=80, deadline=None)
@given(st.lists(st.one_of(st.floats(0, 1), st.just(float("nan"))), min_size=1, max_size=40),
       st.sampled_from(["holm", "hochberg", "hommel", "BH", "BY", "bonferroni"]))
def test_property_p_adjust(p, method):
    """Adjusted >= raw, <= 1, NaN kept, order of the finite p-values preserved (weakly)."""
    p = np.array(p)
    a = p_adjust(p, method)
    ok = ~np.isnan(p)
    assert np.array_equal(np.isnan(a), ~ok)
    assert (a[ok] >= p[ok] - 1e-12).all() and (a[ok] <= 1).all()
    o = np.argsort(p[ok], kind="mergesort")
    assert (np.diff(a[ok][o]) >= -1e-12).all()
    # invariant to permutation of the input
    perm = np.random.default_rng(0).permutation(len(p))
    np.testing.assert_allclose(p_adjust(p[perm], method), a[perm])


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(st.integers(0, 30), min_size=2, max_size=4), min_size=2, max_size=4)
       .filter(lambda t: len({len(r) for r in t}) == 1))
def test_property_chisq_transpose_and_scale(tab):
    """X² and V do not change under transposition; V in [0, 1]."""
    t = np.array(tab)
    if (t.sum(axis=0) == 0).sum() > t.shape[1] - 2 or (t.sum(axis=1) == 0).sum() > t.shape[0] - 2:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SparseTableWarning)
        a = chi_square_test(t, correct=False)
        b = chi_square_test(t.T, correct=False)
    assert a.statistic == pytest.approx(b.statistic) and a.df == b.df
    assert 0 <= a.cramers_v <= 1 + 1e-12 and a.cramers_v == pytest.approx(b.cramers_v)
