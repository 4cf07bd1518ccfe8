"""APA number formatting for the HTML and Word tables (issue 13, item 3)."""
from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from pipeline.reporting import format as fmt

# an unrounded float as str() writes it: more than 3 decimals
UNROUNDED = re.compile(r"\d\.\d{4,}")


@pytest.mark.parametrize("p, text", [
    (0.0, "< .001"), (0.0004999, "< .001"), (0.001, ".001"), (0.0341, ".034"),
    (0.05, ".050"), (0.5, ".500"), (0.9994, ".999"), (0.9996, "> .999"), (1.0, "> .999"),
    (np.float64(0.0126), ".013"), (np.nan, "\u2014"), (None, "\u2014"),
])
def test_format_p(p, text):
    assert fmt.format_p(p) == text


def test_format_p_two_digits_and_bad_input():
    assert fmt.format_p(0.0341, digits=2) == ".03"
    assert fmt.format_p(0.004, digits=2) == "< .01"
    with pytest.raises(ValueError, match="p: a p-value must lie in"):
        fmt.format_p(1.2)
    with pytest.raises(ValueError, match="digits"):
        fmt.format_p(0.2, digits=4)
    with pytest.raises(TypeError, match="p: expected a real number"):
        fmt.format_p("x")


def test_numbers_counts_bools():
    assert fmt.format_number(26.153846153846153) == "26.154"
    assert fmt.format_number(-0.0001) == "0.000"            # no negative zero
    assert fmt.format_number(0.956, leading_zero=False) == ".956"
    assert fmt.format_number(-0.41, digits=2, leading_zero=False) == "-.41"
    assert fmt.format_number(1.02, leading_zero=False) == "1.020"   # beyond 1: unchanged
    assert fmt.format_count(100.0) == "100"
    assert fmt.format_count(5000) == "5,000"
    assert fmt.format_count(12.5) == "12.50"
    assert fmt.format_bool(True) == "yes" and fmt.format_bool(np.bool_(False)) == "no"
    assert fmt.format_bool(True, words=("supported", "not supported")) == "supported"
    with pytest.raises(TypeError, match="x: expected a bool"):
        fmt.format_bool("maybe")


@pytest.mark.parametrize("name, kind", [
    ("est", "coef"), ("se", "coef"), ("S.E.", "coef"), ("Estimate", "coef"), ("ci.lower", "coef"),
    ("z", "stat"), ("C.R.", "stat"), ("chisq", "stat"), ("Bartlett chi-square", "stat"),
    ("mi", "stat"), ("chisq.scaled", "stat"),
    ("pvalue", "p"), ("P", "p"), ("pclose", "p"), ("rmsea.pvalue", "p"), ("Bartlett p", "p"),
    ("cs2019.fit.pvalue", "p"),
    ("std.all", "bounded"), ("cfi", "bounded"), ("rmsea", "bounded"), ("rmsea.ci.lower", "bounded"),
    ("R²", "bounded"), ("alpha", "bounded"), ("cr", "bounded"), ("ave", "bounded"),
    ("KMO (overall MSA)", "bounded"), ("cs2019.fit.cfi", "bounded"), ("cs2019.alpha.L", "bounded"),
    ("n", "count"), ("N", "count"), ("df", "count"), ("npar", "count"), ("baseline.df", "count"),
    ("ACSA %", "pct"), ("cs2020.text.ACSA.factor.L.top.pct", "pct"),
    ("value", "number"), ("eigenvalues > 1", "number"), (("ACSA", "n"), "count"),
])
def test_column_kind(name, kind):
    assert fmt.column_kind(name) == kind


def test_column_kind_from_values():
    assert fmt.column_kind("est", pd.Series([True, False])) == "bool"
    assert fmt.column_kind("est", pd.Series([True, None], dtype=object)) == "bool"
    assert fmt.column_kind("pvalue", pd.Series(["supported", "not supported"])) == "text"


def _parameters() -> pd.DataFrame:
    return pd.DataFrame({
        "lhs": ["F", "F", "Y"], "op": ["=~", "=~", "~"], "rhs": ["a", "b", "F"],
        "est": [1.0, 1.2611111, -0.30000004], "se": [0.0, 0.11333, 0.1],
        "z": [np.nan, 11.11612, -3.0], "pvalue": [np.nan, 1e-9, 0.0026998],
        "std.all": [0.82345, 0.911, -0.2699], "n": [100.0, 100.0, 100.0],
        "supported": [True, True, False],
    })


def test_format_frame_parameter_table():
    out = fmt.format_frame(_parameters())
    assert out.shape == (3, 10)
    assert out.map(lambda v: isinstance(v, str)).all().all()
    assert out["est"].tolist() == ["1.000", "1.261", "-0.300"]
    assert out["se"].tolist() == ["0.000", "0.113", "0.100"]
    assert out["z"].tolist() == ["\u2014", "11.12", "-3.00"]
    assert out["pvalue"].tolist() == ["\u2014", "< .001", ".003"]
    assert out["std.all"].tolist() == [".823", ".911", "-.270"]
    assert out["n"].tolist() == ["100", "100", "100"]
    assert out["supported"].tolist() == ["yes", "yes", "no"]
    assert out["lhs"].tolist() == ["F", "F", "Y"]


def test_format_frame_long_fit_table_by_row():
    ft = pd.DataFrame({"name": ["chisq", "df", "pvalue", "cfi", "rmsea", "rmsea.pvalue", "srmr"],
                       "value": [293.15671, 188.0, 0.0341, 0.95612, 0.0361, 0.98, 0.0543],
                       "verdict": ["", "", "", "meets", "meets", "", "meets"]})
    out = fmt.format_frame(ft.set_index(pd.Index(list("abcdefg"), name="measure")))
    assert out["value"].tolist() == ["293.16", "188", ".034", ".956", ".036", ".980", ".054"]
    # the same by the index (no name column)
    by_index = fmt.format_frame(ft.set_index("name")[["value"]])
    assert by_index["value"].tolist() == out["value"].tolist()
    # a scorecard: keys decide
    sc = pd.DataFrame({"key": ["cs2019.fit.rmsea", "cs2019.screening.valid", "cs2019.fit.pvalue",
                               "cs2020.text.ACSA.O1.positive.pct"],
                       "published": [0.036, 100, 0.04, 70.2],
                       "computed": [0.07012345678, 100.0, 0.0000123, 70.23809523809524]})
    s = fmt.format_frame(sc)
    assert s["published"].tolist() == [".036", "100", ".040", "70.2"]
    assert s["computed"].tolist() == [".070", "100", "< .001", "70.2"]


def test_no_cell_shows_an_unrounded_float():
    """The two cells the reviewer found (issue 13) and text-typed floats after a CSV round trip."""
    df = pd.DataFrame({"what": ["share", "p"], "value": [26.153846153846153, 0.007990122166582365],
                       "mixed": ["26.153846153846153", "n/a"]})
    out = fmt.format_frame(df)
    cells = out.to_numpy().ravel().tolist()
    assert not any(UNROUNDED.search(c) for c in cells), cells
    assert out.loc[0, "value"] == "26.154" and out.loc[1, "value"] == "0.008"
    assert out.loc[0, "mixed"] == "26.154" and out.loc[1, "mixed"] == "n/a"
    # float index labels are rounded too
    idx = fmt.format_frame(pd.DataFrame({"x": [1]}, index=[0.123456789]))
    assert idx.index.tolist() == ["0.123"]


def test_format_frame_overrides_and_errors():
    df = pd.DataFrame({"a": [0.5, 0.25], "b": [12.3456, 1.0]})
    out = fmt.format_frame(df, kinds={"a": "p", "b": "pct"}, digits={"b": 2})
    assert out["a"].tolist() == [".500", ".250"]
    assert out["b"].tolist() == ["12.35", "1.00"]
    with pytest.raises(ValueError, match="kinds: 'a' has unknown kind 'pp'"):
        fmt.format_frame(df, kinds={"a": "pp"})
    with pytest.raises(ValueError, match=r"column 'pvalue', row 1: p: a p-value must lie"):
        fmt.format_frame(pd.DataFrame({"pvalue": ["0.5", "1.5"]}), kinds={"pvalue": "p"})
    # a column only named like a p-value (psych::mardia's p = number of variables)
    mardia = fmt.format_frame(pd.DataFrame({"p": [2.0, 3.0], "p_skew": [2.7e-9, 0.0312]}))
    assert mardia["p"].tolist() == ["2", "3"]
    assert mardia["p_skew"].tolist() == ["< .001", ".031"]
    # empty text cells (NaN after a CSV round trip) stay blank, missing numbers are dashes
    fit = fmt.format_frame(pd.DataFrame({"value": [0.5, np.nan], "verdict": ["meets", np.nan]}))
    assert fit["verdict"].tolist() == ["meets", ""] and fit["value"].tolist() == ["0.500", "\u2014"]
    with pytest.raises(TypeError, match="df: expected a DataFrame"):
        fmt.format_frame([1, 2])


def test_html_table_is_apa_escaped_and_deterministic():
    df = _parameters().set_index(["lhs", "op", "rhs"])
    df.loc[("F", "=~", "a"), "est"] = 1.0
    html1 = fmt.html_table(df, caption="Loadings <b>", number=3, note="p & q")
    html2 = fmt.html_table(df.copy(), caption="Loadings <b>", number=3, note="p & q")
    assert html1 == html2
    assert '<span class="apa-number">Table 3</span>' in html1
    assert '<span class="apa-title">Loadings &lt;b&gt;</span>' in html1
    assert "<em>Note.</em> p &amp; q" in html1
    assert '<td class="num">&lt; .001</td>' in html1
    assert not UNROUNDED.search(html1)
    assert "id=" not in html1                                   # no random Styler ids


def test_matrices_long_tables_and_one_format_per_column():
    # a correlation matrix (a factor named R is not a correlation column)
    m = pd.DataFrame([[1.0000000000000002, 0.329, 0.2], [0.329, 0.9999999999999999, -0.081],
                      [0.2, -0.081, 1.0]],
                     index=["L", "R", "ICS"], columns=["L", "R", "ICS"])
    out = fmt.format_frame(m)
    assert out["L"].tolist() == ["1.000", ".329", ".200"]
    assert out["R"].tolist() == [".329", "1.000", "-.081"]
    # a one-column long table: the row labels decide
    funnel = pd.DataFrame({"questionnaires": [150.0, 120.0, 20.0, 100.0, 66.66666666666667]},
                          index=["distributed", "returned", "excluded", "valid",
                                 "response rate (valid / distributed), %"])
    assert fmt.format_frame(funnel)["questionnaires"].tolist() == ["150", "120", "20", "100", "66.7"]
    # a column of plain numbers: integers only when every number is whole
    loads = pd.DataFrame({"MR1": [1.0, 0.0862, -0.057], "line": [989.0, 990.0, 1030.0]})
    out = fmt.format_frame(loads)
    assert out["MR1"].tolist() == ["1.000", "0.086", "-0.057"]
    assert out["line"].tolist() == ["989", "990", "1030"]
    # scorecard keys: the last segment names the statistic, not a variable (H2, R)
    sc = pd.DataFrame({"line": [1056, 3428], "published": [1.0, 0.72]},
                      index=["cs2019.hypothesis.H2", "cs2019.alpha.R"])
    out = fmt.format_frame(sc)
    assert out["published"].tolist() == ["1", ".720"] and out["line"].tolist() == ["1056", "3428"]
