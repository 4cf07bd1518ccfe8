"""Descriptives against R psych 2.2.9 (``describe(type = 2)``, ``mardia``) and
``shapiro.test``; SPSS skewness/kurtosis standard errors against SPSS's formulas
and its printed values.  Fixtures: ``tests/reference/psych_reference.R``."""
from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from pipeline.psychometrics import descriptives as D
from pipeline.core.exceptions import DataValidationError, NotEstimableWarning
from tests.conftest import REFERENCE, load_fixture

FX = load_fixture("psych_describe.json")
BFI = pd.read_csv(REFERENCE / "data" / "bfi.csv")
HS = pd.read_csv(REFERENCE / "data" / "holzinger.csv")


@pytest.mark.parametrize("case,data", [("bfi", BFI), ("holzinger", HS)])
def test_item_descriptives_match_psych_type2(case, data):
    """R: ``psych::describe(x, type = 2)`` -- type 2 is SPSS's G1/G2; bfi has NAs
    (item-wise deletion, as SPSS DESCRIPTIVES)."""
    ref = FX[case]
    t = D.describe(data, ref["items"]).items
    assert t["n"].tolist() == ref["n"]
    for ours, theirs in [("mean", "mean"), ("sd", "sd"), ("median", "median"),
                         ("skewness", "skew"), ("kurtosis", "kurtosis")]:
        np.testing.assert_allclose(t[ours].astype(float), ref[theirs], atol=1e-12, rtol=0)


def test_spss_formulas_by_hand():
    """G1, G2 and their SEs equal the SPSS formulas written out independently,
    and SPSS's printed SEs for N = 100 (0.241, 0.478) and N = 30 (0.427, 0.833)."""
    x = np.array([1, 2, 2, 3, 3, 3, 4, 5, 5, 1, 2, 4, 4, 5, 3], float)
    n = len(x)
    d = x - x.mean()
    m2, m3, m4 = (d ** 2).mean(), (d ** 3).mean(), (d ** 4).mean()
    G1 = m3 / m2 ** 1.5 * np.sqrt(n * (n - 1)) / (n - 2)
    G2 = (n - 1) / ((n - 2) * (n - 3)) * ((n + 1) * (m4 / m2 ** 2 - 3) + 6)
    assert D.spss_skewness(x)[0] == pytest.approx(G1, abs=1e-14)
    assert D.spss_kurtosis(x)[0] == pytest.approx(G2, abs=1e-14)
    # also equal to the unbiased k-statistics ratios of scipy
    from scipy import stats
    assert D.spss_skewness(x)[0] == pytest.approx(stats.skew(x, bias=False), abs=1e-12)
    assert D.spss_kurtosis(x)[0] == pytest.approx(stats.kurtosis(x, bias=False), abs=1e-12)
    for n, se_s, se_k in [(100, 0.241, 0.478), (30, 0.427, 0.833)]:
        v = np.arange(n, dtype=float) % 5
        assert round(D.spss_skewness(v)[1], 3) == se_s
        assert round(D.spss_kurtosis(v)[1], 3) == se_k


def test_shapiro_wilk_matches_r():
    """R: ``shapiro.test(HS$xk)`` for x1..x9."""
    t = D.describe(HS, FX["holzinger"]["items"]).items
    for it in FX["holzinger"]["items"]:
        ref = FX["holzinger"]["shapiro"][it]
        assert t.loc[it, "shapiro_w"] == pytest.approx(ref["W"], abs=1e-6)
        assert t.loc[it, "shapiro_p"] == pytest.approx(ref["p"], abs=1e-6, rel=1e-4)


@pytest.mark.parametrize("case,data,items", [
    ("mardia_holzinger", HS, [f"x{i}" for i in range(1, 10)]),
    ("mardia_bfi_A", BFI, ["A1", "A2", "A3", "A4", "A5"])])
def test_mardia_matches_psych(case, data, items):
    """R: ``psych::mardia(x, plot = FALSE)`` (complete cases for bfi A1..A5: n = 2709)."""
    ref = FX[case]
    m = D.mardia(data[items])
    assert m["n"] == ref["n"]
    for k in ("b1p", "b2p", "skew", "kurtosis", "p_skew", "p_kurt"):
        assert m[k] == pytest.approx(ref[k], rel=1e-9, abs=1e-15), k


def test_constructs_distribution_and_codebook_wrapper():
    var = SimpleNamespace(codes={c: str(c) for c in range(1, 7)})
    cb = SimpleNamespace(likert_items=["A1", "A2", "A3", "A4", "A5"],
                         constructs={"A": ["A1", "A2", "A3", "A4", "A5"], "X": ["A2"]},
                         reverse_keyed=frozenset({"A1"}),
                         variables={f"A{i}": var for i in range(1, 6)})
    with pytest.warns(NotEstimableWarning, match="one item"):
        r = D.describe_codebook(BFI, cb)
    # construct score: mean of the keyed items, complete answers only
    X = BFI[["A1", "A2", "A3", "A4", "A5"]].copy()
    X["A1"] = 7 - X["A1"]
    score = X.dropna().mean(1)
    assert r.constructs.loc["A", "n"] == len(score) == 2709
    assert r.constructs.loc["A", "mean"] == pytest.approx(score.mean(), abs=1e-12)
    assert r.constructs.loc["A", "skewness"] == pytest.approx(D.spss_skewness(score)[0])
    assert r.mardia.loc["A", "n"] == 2709
    dist = r.distribution[r.distribution.item == "A1"].set_index("code")
    assert dist.loc[6, "count"] == int((BFI.A1 == 6).sum())
    assert dist.loc["missing", "count"] == int(BFI.A1.isna().sum()) == 16
    assert dist["count"].sum() == 2800
    assert dist.loc[1, "valid_percent"] == pytest.approx(100 * (BFI.A1 == 1).sum() / BFI.A1.notna().sum())
    d = r.to_dict()
    assert d["items"]["A1"]["n"] == 2784 and "pairwise" in d["missing"]
    assert "Mardia" in r.summary()


def test_codes_nobody_chose_are_listed():
    df = pd.DataFrame({"q": [1, 2, 2, 5, np.nan]})
    dist = D.response_distribution(df, ["q"], codes=[1, 2, 3, 4, 5]).set_index("code")
    assert dist.loc[3, "count"] == 0 and dist.loc[2, "percent"] == 40.0
    assert dist.loc[2, "valid_percent"] == 50.0


def test_bad_input():
    with pytest.raises(DataValidationError, match="non-numeric"):
        D.describe(pd.DataFrame({"q": [1, "n/a", 3]}), ["q"])
    with pytest.raises(ValueError, match="min_share"):
        D.construct_scores(HS, {"v": ["x1", "x2"]}, min_share=0)
    assert np.isnan(D.spss_skewness([1, 2])[0])


def test_distribution_table_is_suppressed_for_reports():
    df = pd.DataFrame({"q1": [1] * 2 + [2] * 10 + [3] * 12 + [5] * 6,
                       "q2": [4] * 15 + [5] * 14 + [np.nan]})
    r = D.describe(df, ["q1", "q2"])
    counts = r.distribution_counts()
    assert counts.loc["q1", 1] == 2 and counts.loc["q2", "missing"] == 1
    assert (counts.sum(1) == 30).all()
    t = r.distribution_table(k=5)
    assert t.display.loc["q1", 1] == "<5" and t.display.loc["q2", "missing"] == "<5"
    assert t.counts.loc["q1", 1] == 2          # internal numbers stay exact
    assert t.n_suppressed >= 4                 # complementary cells as well
