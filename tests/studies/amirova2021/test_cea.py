"""Cost-effectiveness analysis: Tables 15 and 18 in, Tables 19-21 out.

Table 19 is checked cell by cell against its transcription
(``studies/amirova2021/published/cea_table19.yaml``) at the printed precision.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from studies.amirova2021 import cea
from pipeline.replication.published import load_published

THESIS = Path("/work/shared/seeds/003_9e4367add784b4c7.txt")


@pytest.fixture(scope="module")
def published():
    return load_published(cea.PUBLISHED)


@pytest.fixture(scope="module")
def result(published):
    return cea.run({}, published)


def _fmt_like(value: float, printed: str) -> str:
    s = printed.replace(" mln. USD", "").replace(",", ".")
    d = len(s.split(".")[1]) if "." in s else 0
    return f"{value:.{d}f}"


# ------------------------------------------------------------ transcription
def test_transcribed_tables_have_every_cell(published):
    counts = {}
    for k in published:
        if k.startswith("cea."):
            counts[k.split(".")[1]] = counts.get(k.split(".")[1], 0) + 1
    # 7 indicators x 4 years x 3 columns (Table 15), x 4 columns (Table 18);
    # 11 rows x 4 columns (Table 19); 6 x 2 (Table 20); 2 (Table 21);
    # 6 indicators x 5 years (Tables 23, 24)
    assert counts == {"t15": 84, "t18": 112, "t19": 44, "t20": 12, "t21": 2, "t23": 30, "t24": 30,
                      "text": 7}


@pytest.mark.skipif(not THESIS.exists(), reason="thesis text not available")
def test_every_transcribed_cell_is_printed_on_its_line(published):
    lines = THESIS.read_text(encoding="utf-8").splitlines()
    for k, pv in published.items():
        if not k.startswith("cea."):
            continue
        if pv.table == "text":
            assert pv.printed in lines[pv.line - 1], (k, pv.line, pv.printed)
            continue
        cells = [c.strip() for c in lines[pv.line - 1].split("\t")]
        assert pv.printed in cells, (k, pv.line, pv.printed, cells)
        if pv.unit in ("percent", "mln_usd", "ratio"):
            assert pv.value == pytest.approx(float(pv.printed.split()[0].replace(",", ".")))


# ------------------------------------------------------------------ Table 19
def test_table19_reproduced_exactly(result, published):
    """Every one of the 44 cells of Table 19 at its printed precision."""
    computed = result.computed_values()
    keys = [k for k in published if k.startswith("cea.t19.")]
    assert len(keys) == 44
    for k in keys:
        pv = published[k]
        want = pv.printed.replace(",", ".")
        assert _fmt_like(computed[k], pv.printed) == want, (k, computed[k], pv.printed)


def test_table19_full_precision_differs_only_where_thesis_rounds_first(published):
    """Without rounding the standard payroll to 0.1 mln USD first, exactly the
    akimat's 2019 and 2020 standard CER change (6.3654/67.4 = 0.0944,
    6.5564/67.4 = 0.0973), proving the thesis divided the printed payroll."""
    res = cea.run({"standard_cost_decimals": None}, published)
    computed = res.computed_values()
    bad = sorted(k for k in published if k.startswith("cea.t19.")
                 and _fmt_like(computed[k], published[k].printed) != published[k].printed.replace(",", "."))
    assert bad == ["cea.t19.nur_sultan.standard.cer.2019", "cea.t19.nur_sultan.standard.cer.2020"]
    assert computed[bad[0]] == pytest.approx(6.0 * 1.03 ** 2 / 67.4, rel=1e-12)


def test_standard_mode_cost_formula():
    s = cea.standard_mode_cost(6.6, [2017, 2018, 2020], base_year=2017, inflation=0.03)
    np.testing.assert_allclose(s.values, [6.6, 6.798, 6.6 * 1.092727], rtol=1e-12)
    z = cea.standard_mode_cost(6.6, [2017, 2019], base_year=2017, inflation=0.0)
    assert list(z) == [6.6, 6.6]
    with pytest.raises(ValueError, match="base_cost"):
        cea.standard_mode_cost(-1.0, [2017], base_year=2017, inflation=0.03)
    with pytest.raises(ValueError, match="inflation"):
        cea.standard_mode_cost(6.6, [2017], base_year=2017, inflation=3.0 * 10)


def test_cer_is_cost_over_effectiveness(result):
    t = result.table19
    row = t[(t.org == "acsa") & (t["mode"] == "pilot") & (t.year == 2018)].iloc[0]
    assert row["cer"] == 10.5 / 91.2
    assert t[t.year == 2017]["cer"].isna().all()          # footnote of Table 19
    with pytest.raises(ValueError, match="effectiveness"):
        cea.cost_effectiveness_ratio(1.0, 0.0)


def test_inflation_changes_only_standard_mode(published):
    res = cea.run({"inflation": 0.10, "standard_cost_decimals": None}, published)
    t = res.table19
    std = t[(t.org == "acsa") & (t["mode"] == "standard") & (t.year == 2020)].iloc[0]
    assert std["cost"] == pytest.approx(6.6 * 1.1 ** 3)
    pil = t[(t.org == "acsa") & (t["mode"] == "pilot") & (t.year == 2020)].iloc[0]
    assert pil["cost"] == 12.0


# ------------------------------------------------------------------ Table 20
def test_effect_sign_rule():
    s = pd.Series({2017: 5.0, 2018: 6.0, 2019: 4.0, 2020: 7.0})
    assert cea.effect_sign(s, start=2017, end=2020) == 1
    assert cea.effect_sign(s, start=2018, end=2019) == -1
    assert cea.effect_sign(s, start=2018, end=2019, higher_is_better=False) == 1
    assert cea.effect_sign(s, start=2017, end=2020, mode="any_decline") == -1
    assert cea.effect_sign(pd.Series({2017: 1.0, 2018: 1.0}), start=2017, end=2018) == 0
    with pytest.raises(ValueError, match="end"):
        cea.effect_sign(s, start=2019, end=2018)
    with pytest.raises(ValueError, match="mode"):
        cea.effect_sign(s, start=2017, end=2018, mode="mean")
    with pytest.raises(ValueError, match="2016"):
        cea.effect_sign(s, start=2016, end=2018)


def test_net_turnover_lower_is_better(result):
    ind = result.indicators
    # ACSA net turnover 5.7 (2017) -> 3.6 (2020): a fall, i.e. an improvement
    sg = cea.factor_signs(ind, period=(2017, 2020), orgs=["acsa"])
    hc = sg[(sg.factor == "human_capital") & (sg.level == "factor")]["sign"].item()
    assert hc == 1
    sg2 = cea.factor_signs(ind, period=(2017, 2020), orgs=["acsa"], lower_is_better=())
    assert sg2[(sg2.factor == "human_capital") & (sg2.level == "factor")]["sign"].item() == -1


def test_table20_period_2018_2019_by_hand(result, published):
    """2018 -> 2019 (endpoints), by hand from Table 15: L 91.2->87.2 (-),
    S 93.5->96.4 (+), O 88.5->87.7 (-), HC 4.1->4.8 (worse, -), CC 86.6->80.6
    and 91.6->77.5 (-): all five agree with Table 20 for the ACSA.  For the
    akimat (Table 18), Strategy 85.7->81.6 (published Positive) and
    Organization 66.3->70.6 (published Negative) disagree."""
    sg = cea.factor_signs(result.indicators, period=(2018, 2019))
    cmp = cea.compare_signs(sg, published)
    fac = cmp[cmp.factor != "total"]
    assert fac[fac.org == "acsa"]["agree"].all()
    wrong = set(fac[~fac["agree"]].factor + "@" + fac[~fac["agree"]].org)
    assert wrong == {"strategy@nur_sultan", "organization@nur_sultan"}


def test_no_single_period_reproduces_all_ten_signs(result):
    ag = result.agreement
    periods = {(r.start, r.end) for r in ag.itertuples()}
    assert periods == set(cea.candidate_periods([2017, 2018, 2019, 2020]))
    assert (ag["n_factors"] == 10).all()
    assert ag["agree_factors"].max() < 10
    assert ag["agree_factors"].max() == 8


def test_configured_period_agreement_is_reported(result):
    t20 = result.table20
    assert len(t20) == 12 and set(t20.columns) >= {"computed", "published", "agree", "line"}
    # 2017 -> 2020 endpoints: by hand, L(ACSA 89.8->88.3 -), S(97.4->95.5 -), O(78.5->92.3 +),
    # HC(5.7->3.6, lower better +), CC(79.6->85.0 +, 84.7->77.1 -; any -)
    acsa = dict(zip(t20[t20.org == "acsa"].factor, t20[t20.org == "acsa"].computed))
    assert acsa == {"leadership": -1, "strategy": -1, "organization": 1, "human_capital": 1,
                    "citizen_centricity": -1, "total": -1}


# ------------------------------------------------------------------ Table 21
def test_table21_decision_matches_published(result, published):
    computed = result.computed_values()
    assert computed["cea.t21.H0"] == published["cea.t21.H0"].value == 0
    assert computed["cea.t21.H1"] == published["cea.t21.H1"].value == 1


def test_h0_supported_when_all_positive():
    signs = pd.DataFrame({"org": ["a", "a"], "factor": ["x", "y"], "sign": [1, 1],
                          "level": ["factor", "factor"]})
    d = cea.decide_hypotheses(signs).set_index("hypothesis")["supported"]
    assert bool(d["H0"]) and not bool(d["H1"])


# ------------------------------------------------------------------ bands
@pytest.mark.parametrize("score,band", [(90.0, "high"), (89.99, "average"), (70.0, "average"),
                                        (69.99, "low"), (50.0, "low"), (49.99, "inefficient")])
def test_evaluation_center_bands(score, band):
    assert cea.efficiency_band(score) == band


def test_bands_only_for_evaluation_center_indicators(result):
    b = result.bands
    assert set(b.indicator) == {"overall_effectiveness", "goal_achievement",
                                "organizational_development", "interaction_with_citizens"}
    r = b[(b.entity == "acsa") & (b.indicator == "overall_effectiveness") & (b.year == 2018)]
    assert r["band"].item() == "high"          # 91.2
    with pytest.raises(ValueError, match="bands"):
        cea.efficiency_band(80, {"high": 50})


def test_forecast_tables_repeat_2020_actuals(result, published):
    computed = result.computed_values()
    keys = [k for k in published if k.startswith(("cea.t23.", "cea.t24.")) and k.endswith(".2020")]
    assert len(keys) == 12
    for k in keys:
        assert computed[k] == published[k].value


# ------------------------------------------------------------------ outputs
def test_text_numbers_recomputed(result, published):
    """Line 1287: 2019 falls of 0,7 (net turnover 4.1 -> 4.8, a rise), 0,8 (88.5 -> 87.7),
    6% (86.6 -> 80.6) and 'about 14%' (91.6 -> 77.5 = 14.1); line 1289: payroll
    'twofold' (12.0 / 6.6 = 1.82, compared within the verbal tolerance)."""
    tv = result.text_values()
    assert set(tv) == {k for k in published if k.startswith("cea.text.")}
    assert tv["cea.text.acsa.net_turnover.decline.2018_2019"] == pytest.approx(0.7)
    assert tv["cea.text.acsa.organizational_development.decline.2018_2019"] == pytest.approx(0.8)
    assert tv["cea.text.acsa.public_services_quality.decline.2018_2019"] == pytest.approx(6.0)
    assert tv["cea.text.acsa.interaction_with_citizens.decline.2018_2019"] == pytest.approx(14.1)
    assert tv["cea.text.acsa.payroll.ratio.2017_2020"] == pytest.approx(12.0 / 6.6)
    assert result.tolerances == {"cea.text.acsa.payroll.ratio.2017_2020": 0.25}


def test_table19_check_and_h1_robustness(result):
    chk = result.table19_check
    assert len(chk) == 44 and chk["match"].all()
    assert result.table21_check["match"].all()
    # every candidate period has at least one negative factor: H1 holds whichever is chosen
    assert result.agreement["h1_supported"].all()


def test_formula2_and_break_even_inflation(result):
    f2 = cea.formula2(result.table19)
    assert len(f2) == 6 and f2["holds"].all()
    r = f2[(f2.org == "acsa") & (f2.year == 2018)]["break_even_inflation"].item()
    assert r == pytest.approx((10.5 / 91.2) * 89.8 / 6.6 - 1)
    r20 = f2[(f2.org == "acsa") & (f2.year == 2020)]["break_even_inflation"].item()
    assert r20 == pytest.approx(((12.0 / 88.3) * 89.8 / 6.6) ** (1 / 3) - 1)
    # at the break-even rate the standard CER equals the pilot CER
    std = cea.standard_mode_cost(6.6, [2020], base_year=2017, inflation=r20)[2020] / 89.8
    assert std == pytest.approx(12.0 / 88.3)


def test_scorecard_rows_carry_values_notes_and_source(result):
    rows = cea.scorecard_rows(result)
    values = result.computed_values()
    assert [r[0] for r in rows] == list(values)
    assert all(r[4] == "studies.amirova2021.cea" for r in rows)
    assert all(r[1] is values[r[0]] or r[1] == values[r[0]] for r in rows)

