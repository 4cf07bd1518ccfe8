"""Consistency audit of published statistics.

The four known problems of THESIS_MAP.md must be flagged; a consistent fit
table (lavaan's Holzinger-Swineford CFA, printed at 3 decimals) must not.
"""
from __future__ import annotations

import math

import pytest

from tests.conftest import load_fixture
from pipeline.replication import audit
from pipeline.replication.audit import (Inconsistency, audit_counts, audit_critical_ratios, audit_fit_table,
                            audit_reliability)

THESIS_TABLE12 = {"chisq": "293.157", "pvalue": "Significant", "gfi": ".941", "rmsea": ".036",
                  "tli": ".968", "agfi": ".921", "cfi": ".974", "ifi": ".974", "cmin_df": "1.559",
                  "thresholds": {"rmsea": "Acceptable <.80 Good fit <.50", "gfi": ">.90",
                                 "pvalue": "Significant"}}


def _checks(found):
    return {f.check for f in found}


@pytest.fixture(scope="module")
def hs():
    """Rscript tests/reference/audit_fit.R:
    ``fitMeasures(cfa(HS.model, data = HolzingerSwineford1939))``."""
    return load_fixture("audit_fit.json")


# ------------------------------------------------------------ pure formulas
def test_rmsea_matches_lavaan(hs):
    """lavaan (likelihood = "normal") divides by N; AMOS / Wishart by N - 1."""
    f = hs["fit"]
    r = audit.rmsea_from_chisq(f["chisq"], f["df"], int(f["ntotal"]), convention="N")
    assert r == pytest.approx(f["rmsea"], abs=1e-12)
    r1 = audit.rmsea_from_chisq(f["chisq"], f["df"], int(f["ntotal"]), convention="N-1")
    assert r1 == pytest.approx(math.sqrt((f["chisq"] - 24) / (24 * 300)), abs=1e-12)
    assert audit.rmsea_from_chisq(10.0, 20, 100) == 0.0          # clipped at 0
    with pytest.raises(ValueError, match="convention"):
        audit.rmsea_from_chisq(10.0, 20, 100, convention="n")
    with pytest.raises(ValueError, match="df"):
        audit.rmsea_from_chisq(10.0, 0, 100)


def test_pvalue_matches_pchisq(hs):
    assert audit.chisq_pvalue(293.157, 188) == pytest.approx(hs["pchisq_293_157_188"], rel=1e-10)
    assert audit.chisq_pvalue(hs["fit"]["chisq"], 24) == pytest.approx(hs["fit"]["pvalue"], rel=1e-8)


def test_measurement_model_df(hs):
    assert audit.measurement_model_df([3, 3, 3]) == hs["fit"]["df"] == 24
    # the thesis's 7-factor CFA (L2 S3 HC5 O3 R3 CC1 ICS2): 190 moments - 58 parameters
    assert audit.measurement_model_df([2, 3, 5, 3, 3, 1, 2]) == 132
    assert audit.min_free_parameters(19, 7, 1) == 37
    assert audit.moments(19) == 190


def test_decimal_commas_and_leading_dots_are_parsed():
    assert audit.reported_value("66,7").value == 66.7
    assert audit.reported_value("66,7").decimals == 1
    assert audit.reported_value(".036").value == 0.036
    assert audit.reported_value(".036").half == pytest.approx(0.0005)
    assert audit.parse_thresholds("Acceptable <.80 Good fit <.50") == [0.8, 0.5]
    assert audit.parse_thresholds("Lower limit:1,0") == [1.0]


# ------------------------------------------------------------ fit table
def test_consistent_table_has_no_findings(hs):
    """lavaan's own numbers, printed at 3 decimals, must pass every check."""
    f = hs["fit"]
    rep = {k: f"{f[k]:.3f}" for k in ("chisq", "cfi", "tli", "ifi")}
    rep.update(df=24, pvalue="<.001", cmin_df=f"{f['chisq'] / 24:.3f}", rmsea=f"{f['rmsea']:.3f}",
               thresholds={"rmsea": "<.08", "cfi": ">.90"})
    found = audit_fit_table(rep, n=301, n_observed=9, model_df=24, n_factors=3)
    assert found == [], [str(x) for x in found]


def test_flags_thesis_table12_known_problems():
    found = audit_fit_table(THESIS_TABLE12, n=100, n_observed=19, n_factors=7,
                            single_indicator_factors=1)
    by = {f.check: f for f in found}
    # (1) implied df ~ 188 > maximum possible 153 for 19 items and 7 factors
    f = by["df_exceeds_maximum"]
    assert f.recomputed == pytest.approx(293.157 / 1.559)
    assert "188" in f.arithmetic and "153" in f.arithmetic and f.severity == "error"
    # (2) RMSEA .036 inconsistent: .0752 (N-1) / .0748 (N)
    r = by["rmsea_recomputed"]
    assert r.recomputed["N-1"] == pytest.approx(math.sqrt((293.157 - 188) / (188 * 99)))
    assert r.recomputed["N"] == pytest.approx(math.sqrt((293.157 - 188) / (188 * 100)))
    # (3) thresholds .80/.50 meant as .08/.05
    t = by["threshold_decimal_shift"]
    assert t.recomputed == pytest.approx([0.08, 0.05])
    # the p-value criterion is inverted
    assert "threshold_pvalue_direction" in by
    # CFI/TLI imply a baseline model with more df than 19 variables allow
    assert by["incremental_indices_baseline_df"].recomputed["range"][0] > 171
    # "Significant" is consistent with p = 1.4e-6
    assert "pvalue_vs_chisq" not in by


def test_df_vs_model_df_and_reported_df():
    rep = {"chisq": "293.157", "cmin_df": "1.559", "df": 131}
    found = audit_fit_table(rep, n=100, model_df=132)
    assert _checks(found) >= {"df_vs_cmin_df", "df_vs_model"}
    ok = audit_fit_table({"chisq": "293.157", "cmin_df": "1.559", "df": 188}, n=100, model_df=188)
    assert "df_vs_model" not in _checks(ok) and "df_vs_cmin_df" not in _checks(ok)


def test_max_df_without_factor_count():
    """Without n_factors the bound is p(p+1)/2 - p: 171 for 19 variables, still < 188."""
    found = audit_fit_table({"chisq": "293.157", "cmin_df": "1.559"}, n=100, n_observed=19)
    assert "df <= 190 - 19 = 171" in {f.check: f for f in found}["df_exceeds_maximum"].arithmetic
    assert "df_exceeds_maximum" not in _checks(
        audit_fit_table({"chisq": "293.157", "cmin_df": "1.559"}, n=100, n_observed=25))


def test_pvalue_checks():
    f = audit_fit_table({"chisq": 30.0, "df": 30, "pvalue": "Significant"}, n=200)
    assert "pvalue_vs_chisq" in _checks(f)
    f = audit_fit_table({"chisq": 90.0, "df": 30, "pvalue": ".20"}, n=200)
    assert "pvalue_vs_chisq" in _checks(f)
    ok = audit_fit_table({"chisq": 30.0, "df": 30, "pvalue": f"{audit.chisq_pvalue(30.0, 30):.3f}"}, n=200)
    assert "pvalue_vs_chisq" not in _checks(ok)


def test_fit_table_argument_errors():
    with pytest.raises(ValueError, match="n="):
        audit_fit_table({"chisq": 1.0}, n=1)
    with pytest.raises(TypeError, match="reported"):
        audit_fit_table([("chisq", 1.0)], n=100)
    with pytest.raises(ValueError, match="severity"):
        Inconsistency("x", {}, None, "", severity="fatal")


# ------------------------------------------------------------ reliability
def test_alpha_for_one_item_scale():
    table = [{"scale": "CC", "alpha": "0,80", "n_items": 1},
             {"scale": "L", "alpha": "0.86", "items": ["L1", "L2"]},
             {"scale": "X", "alpha": 1.2, "n_items": 3},
             {"scale": "Y", "alpha": -0.1, "n_items": 3}]
    found = audit_reliability(table)
    assert [(f.check, f.reported["scale"]) for f in found] == [
        ("alpha_one_item", "CC"), ("alpha_above_one", "X"), ("alpha_negative", "Y")]


# ----------------------------------------------------------------- counts
def test_counts_vs_percentages_hand_made():
    groups = [
        {"name": "ok", "total": 3, "items": [{"label": "a", "count": 1, "percent": "33,3"},
                                             {"label": "b", "count": 2, "percent": "66,7"}]},
        {"name": "bad_pct", "total": 65, "items": [{"label": "a", "count": 17, "percent": "26,1"},
                                                   {"label": "b", "count": 48, "percent": "73,8"}]},
        {"name": "bad_sum", "total": 100, "items": [{"label": "a", "count": 40, "percent": "40"},
                                                    {"label": "b", "count": 50, "percent": "50"}]},
        {"name": "pct_100", "items": [{"label": "a", "percent": "50,0"},
                                      {"label": "b", "percent": "48,0"}]},
    ]
    found = audit_counts(groups)
    got = {(f.check, f.reported["group"]) for f in found}
    assert ("percent_vs_count", "bad_pct") in got           # 17/65 = 26.15 -> 26.2, printed 26,1
    assert ("count_sum_vs_total", "bad_sum") in got          # 40 + 50 = 90 != 100
    assert ("percent_sum", "bad_sum") in got                 # 90 %
    assert ("percent_sum", "pct_100") in got                 # 98 %
    assert not any(g == "ok" for _, g in got)
    trunc = [f for f in found if f.reported.get("label") == "a" and f.reported["group"] == "bad_pct"][0]
    assert "truncated" in trunc.arithmetic and trunc.severity == "warning"


def test_critical_ratio():
    ok = audit_critical_ratios([{"name": "L2", "est": "1.261", "se": ".113", "z": "11.116"}])
    assert ok == []
    bad = audit_critical_ratios([{"name": "x", "est": "1.261", "se": ".113", "z": "13.0"}])
    assert [f.check for f in bad] == ["critical_ratio"]


def test_wrapper_takes_n_p_df_from_fitted_model():
    from types import SimpleNamespace
    fit = SimpleNamespace(nobs=100, observed=[f"x{i}" for i in range(19)], df=132,
                          meanstructure=False)
    found = audit.audit_fit_table_model({"chisq": "293.157", "cmin_df": "1.559", "rmsea": ".036"}, fit)
    assert {"df_vs_model", "df_exceeds_maximum", "rmsea_recomputed"} <= _checks(found)
    # RMSEA is then recomputed with the model's df: sqrt((293.157-132)/(132*99)) = .1111
    r = {f.check: f for f in found}["rmsea_recomputed"]
    assert r.recomputed["N-1"] == pytest.approx(math.sqrt((293.157 - 132) / (132 * 99)))
    with pytest.raises(TypeError, match="nobs"):
        audit.audit_fit_table_model({}, object())


from hypothesis import given, settings, strategies as st  # noqa: E402


@settings(max_examples=150, deadline=None)
@given(df=st.integers(1, 300), n=st.integers(30, 3000), ratio=st.floats(0.3, 6.0))
def test_consistent_rounded_tables_are_never_flagged(df, n, ratio):
    """Invariant: any chisq/df/N printed at 3 decimals, with its own CMIN/DF,
    RMSEA (either convention) and p, passes the df, RMSEA and p checks."""
    chisq = ratio * df
    for conv in ("N-1", "N"):
        rep = {"chisq": f"{chisq:.3f}", "cmin_df": f"{chisq / df:.3f}",
               "rmsea": f"{audit.rmsea_from_chisq(chisq, df, n, convention=conv):.3f}",
               "pvalue": f"{audit.chisq_pvalue(chisq, df):.3f}"}
        found = audit_fit_table(rep, n=n, model_df=df)
        assert not _checks(found) & {"df_vs_model", "df_not_integer", "rmsea_recomputed",
                                     "pvalue_vs_chisq"}, [str(f) for f in found]




# ------------------------------------------------ identities and repeats (generic)
def _pv(key, value, printed=None, table="T1", line=1):
    from pipeline.replication.published import PublishedValue
    return PublishedValue(key=key, label="", value=value, printed=printed or str(value), unit="count",
                          line=line, note="", table=table, table_line=line, title="", file="t.yaml")


def test_identities_and_repeats_on_any_published_numbers():
    pub = {"a": _pv("a", 40), "b": _pv("b", 60), "n": _pv("n", 100, line=2),
           "pct": _pv("pct", 40.1, "40,1", line=3), "n2": _pv("n2", 101, table="T2", line=9)}
    ids = [("n", "sum", ("a", "b")), ("pct", "pct", ("a", "n")), ("x", "sum", ("a", "zzz"))]
    assert [t for t, _, _ in audit.evaluate_identities(pub, ids)] == ["n", "pct"]
    found, n = audit.audit_identities(pub, ids)
    assert n == 2 and [f.where for f in found] == ["T1, line 3"]
    assert found[0].recomputed == pytest.approx(40.0) and "printed 40,1" in found[0].arithmetic
    found, n = audit.audit_repeats(pub, [("n", "n2"), ("a", "nope")])
    assert n == 1 and found[0].check == "cross_table_repeat" and "T2 line 9 prints 101" in found[0].arithmetic
    with pytest.raises(ValueError, match="operation"):
        audit.evaluate_identities(pub, [("n", "product", ("a", "b"))])


def test_rmsea_and_pvalue_are_the_fit_indices_formulas():
    """One implementation per formula: the audit's RMSEA and p call pipeline.sem.fit_indices."""
    from pipeline.sem import fit_indices as FI
    assert audit.rmsea_from_chisq(293.157, 188, 100) == FI.rmsea(293.157, 188, 99)
    assert audit.rmsea_from_chisq(293.157, 188, 100, convention="N") == FI.rmsea(293.157, 188, 100)
    assert audit.chisq_pvalue(293.157, 188) == FI.chisq_pvalue(293.157, 188)


def test_text_numbers_against_the_tables_they_summarize(tmp_path):
    """A stated percentage is recomputed from the table cells it names (counts/total); a share
    of a published total must be k/N for an integer k; truncation names no key."""
    from pipeline.replication.audit import audit_text_against_tables, text_reference
    from pipeline.replication.published import load_published
    (tmp_path / "t.yaml").write_text(
        "source: s\ntable: Table 3\nline: 10\nvalues:\n"
        "  - {key: t.a, value: 41, printed: '41', unit: count, line: 11}\n"
        "  - {key: t.b, value: 40, printed: '40', unit: count, line: 12}\n"
        "  - {key: t.total, value: 168, printed: '168', unit: count, line: 13}\n"
        "  - {key: n.total, value: 103, printed: '103', unit: count, line: 14}\n", encoding="utf-8")
    (tmp_path / "text.yaml").write_text(
        "source: s\ntable: text\nline: 50\nvalues:\n"
        "  - {key: x.ok, value: 48.2, printed: '48,2%', unit: percent, line: 51,"
        " counts: [t.a, t.b], total: t.total}\n"
        "  - {key: x.bad, value: 80.3, printed: '80,3%', unit: percent, line: 52,"
        " counts: [t.a, t.b], total: t.total}\n"
        "  - {key: x.count, value: 81, printed: '81 people', unit: count, line: 53, counts: [t.a, t.b]}\n"
        "  - {key: x.grim, value: 18.1, printed: '18,1%', unit: percent, line: 54, total: n.total}\n"
        "  - {key: x.trunc, value: 14.5, printed: '14,5%', unit: percent, line: 55, total: n.total}\n"
        "  - {key: x.fine, value: 18.4, printed: '18,4%', unit: percent, line: 56, total: n.total}\n",
        encoding="utf-8")
    pub = load_published(tmp_path)
    v, arith = text_reference(pub, "x.ok")
    assert v == pytest.approx(100 * 81 / 168)
    assert arith == "100 x (41 + 40) / 168 = 48.21% (Table 3, lines 11, 12; total Table 3, line 13)"
    found, n = audit_text_against_tables(pub)
    assert n == 6
    got = {(f.check, f.severity, f.keys) for f in found}
    assert got == {("text_vs_table", "error", ("x.bad",)),
                   ("text_percent_granularity", "error", ("x.grim",)),
                   ("text_percent_granularity", "warning", ())}
    grim = [f for f in found if f.keys == ("x.grim",)][0]
    assert "18/103 = 17.48%, 19/103 = 18.45%" in grim.arithmetic
    (tmp_path / "bad.yaml").write_text(
        "source: s\ntable: text\nline: 60\nvalues:\n"
        "  - {key: y, value: 1, printed: '1', unit: count, line: 61, counts: [nope]}\n", encoding="utf-8")
    with pytest.raises(ValueError, match="bad.yaml: y: counts/total name unpublished key"):
        audit_text_against_tables(load_published(tmp_path))
