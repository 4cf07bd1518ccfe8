"""pingouin 0.7.0 as a cross-check oracle of pipeline.psychometrics.reliability.

(Its run-time role -- Welch's t and Hedges' g -- is tested in
tests/psychometrics/test_comparison.py against R.)

Cronbach's alpha: pingouin's value equals ours (and psych's) to 1e-15.  Its Feldt
interval is wrong under missing data: it uses the number of *rows* (and rounds to 3
decimals) whatever the deletion.  On Holzinger & Swineford with 12% MCAR cells
(x1..x9, 301 rows, 109 complete), listwise: pingouin [.634, .740] (n = 301), ours
[.594, .770] (n = 109): pingouin's interval is 40% too narrow.
"""
from __future__ import annotations

import pandas as pd
import pytest

from pipeline.psychometrics.reliability import feldt_ci, scale_reliability
from tests.conftest import REFERENCE, load_fixture

ITEMS = [f"x{i}" for i in range(1, 10)]


@pytest.fixture(scope="module")
def mcar():
    return pd.read_csv(REFERENCE / "data" / "holzinger_swineford_mcar.csv")


def test_alpha_agrees_with_pingouin_and_psych():
    import pingouin as pg

    bfi = pd.read_csv(REFERENCE / "data" / "bfi.csv")
    X = bfi[["A1", "A2", "A3", "A4", "A5"]].copy()
    X["A1"] = 7 - X["A1"]                                       # psych keys = "A1" (1..6)
    for missing in ("pairwise", "listwise"):
        a, _ = pg.cronbach_alpha(X, nan_policy=missing)
        ours = scale_reliability(bfi, list(X.columns), ["A1"], missing=missing, name="A")
        psych = load_fixture("psych_alpha.json")[f"A_{missing}"]
        assert ours.alpha == pytest.approx(a, rel=1e-13)
        assert ours.alpha == pytest.approx(psych["raw_alpha"], rel=1e-12)
        assert (ours.ci_lower, ours.ci_upper) == pytest.approx(
            (psych["feldt_lower"], psych["feldt_upper"]), rel=1e-10)


@pytest.mark.parametrize("missing,n_used,pg_ci,ours_ci", [
    ("listwise", 109, (0.634, 0.740), (0.5939, 0.7700)),
    ("pairwise", 225, (0.706, 0.791), (0.6986, 0.7967)),
])
def test_pingouin_alpha_ci_counts_rows_not_cases(mcar, missing, n_used, pg_ci, ours_ci):
    import pingouin as pg

    a, ci = pg.cronbach_alpha(mcar[ITEMS], nan_policy=missing)
    ours = scale_reliability(mcar, ITEMS, missing=missing)
    assert ours.alpha == pytest.approx(a, rel=1e-13)
    assert (ours.n, ours.n_rows) == (n_used, 301)
    # pingouin: Feldt with n = 301 rows, rounded to 3 decimals
    lo, hi = feldt_ci(a, 301, len(ITEMS))
    assert tuple(ci) == (round(lo, 3), round(hi, 3)) == pg_ci
    assert (ours.ci_lower, ours.ci_upper) == pytest.approx(feldt_ci(a, n_used, len(ITEMS)))
    assert (ours.ci_lower, ours.ci_upper) == pytest.approx(ours_ci, abs=1e-4)
    assert (hi - lo) < (ours.ci_upper - ours.ci_lower)
