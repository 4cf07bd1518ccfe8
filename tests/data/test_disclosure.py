"""The disclosure checker and the joint attack on all outputs of a wave (issue 14, item 1).

A constructed wave (100 respondents in two organisations; education with a
doctorate in each; a 5-point item) publishes what the thesis reports publish:
Table 11 (education by organisation, suppressed), a response-distribution
table of the item by organisation (suppressed), per-organisation means and
medians (comparison_items.csv), a stacked-bar figure, percentage labels, a
chi-square test and the scorecard's values.  Each leak channel of the issue is
shown to recover suppressed cells when published naively; the checker catches
it; and the outputs it admits, attacked jointly by integer programming without
any splitting, recover no suppressed cell.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline.data.disclosure import MISSING, DisclosureError, DisclosureLedger, ledger_levels
from pipeline.data.privacy import suppress_small_cells

K = 5
LEVELS = {"org": ["ACSA", "akimat"], "edu": ["bachelor", "master", "doctorate", "other"],
          "X": [1, 2, 3, 4, 5]}


@pytest.fixture(scope="module")
def wave():
    rng = np.random.default_rng(1)
    org = ["ACSA"] * 35 + ["akimat"] * 65
    edu = (["bachelor"] * 20 + ["master"] * 14 + ["doctorate"]
           + ["bachelor"] * 40 + ["master"] * 23 + ["doctorate"] + ["other"])
    x = rng.choice([1, 2, 3, 4, 5], size=100, p=[.03, .07, .2, .4, .3])
    return pd.DataFrame({"org": org, "edu": edu, "X": x})


def _tables(df):
    t11 = suppress_small_cells(pd.crosstab(df.edu, df.org), k=K)
    dist = suppress_small_cells(pd.crosstab(df.X, df.org), k=K)
    return t11, dist


def _base(df, condition=True):
    t11, dist = _tables(df)
    led = DisclosureLedger(LEVELS, k=K, condition_on=["org"] if condition else [])
    led.table("table11.csv", t11, "edu", "org")
    led.table("distribution.csv", dist, "X", "org")
    return led, t11, dist


def test_suppressed_tables_alone_resist_the_integer_attack(wave):
    led, t11, dist = _base(wave)
    rep = led.check()
    assert rep.ok, rep.summary()
    assert len(rep.bounds) == t11.n_suppressed + dist.n_suppressed == 14
    b = rep.bounds
    # the true count lies inside every integer interval, and no interval is a point
    assert ((b.ilp_lower <= b["true"]) & (b["true"] <= b.ilp_upper)).all()
    assert (b.ilp_upper - b.ilp_lower >= 1).all()
    assert (b.lp_lower <= b.ilp_lower + 1e-9).all() and (b.lp_upper >= b.ilp_upper - 1e-9).all()


def test_scorecard_printing_a_suppressed_count_is_caught(wave):
    led, _, _ = _base(wave)
    led.count("scorecard.csv", {"edu": "doctorate", "org": "akimat"}, 1)
    rep = led.check()
    rules = {(f.rule, f.cell) for f in rep.findings}
    assert ("small_count", "edu=doctorate, org=akimat") in rules
    assert ("recovered", "edu=doctorate, org=akimat") in rules
    rec = [f for f in rep.findings if f.rule == "recovered"][0]
    assert rec.value == 1 and "scorecard.csv" in rec.outputs
    with pytest.raises(DisclosureError, match="doctorate"):
        led.assert_safe()


def test_per_organisation_means_and_medians_recover_suppressed_cells(wave):
    led, _, dist = _base(wave)
    for o in LEVELS["org"]:
        sub = wave.X[wave.org == o]
        led.mean("comparison_items.csv", "X", {"org": o}, sub.mean())
        led.median("comparison_items.csv", "X", {"org": o}, sub.median())
    rep = led.check()
    recovered = {f.cell: f.value for f in rep.findings if f.rule == "recovered"}
    truth = pd.crosstab(wave.X, wave.org)
    # every suppressed interior cell of the distribution table is recovered, exactly
    for (x, o), masked in dist.mask.iloc[:-1, :-1].stack().items():
        if masked:
            assert recovered[f"X={x}, org={o}"] == truth.loc[x, o]


def test_rounded_means_are_weaker_but_admit_withholds_what_discloses(wave):
    led, _, _ = _base(wave)
    shown = {}
    for o in LEVELS["org"]:
        sub = wave.X[wave.org == o]
        shown[o] = led.admit("mean", "comparison_items.csv", "X", {"org": o}, round(sub.mean(), 2),
                             decimals=2)
    assert led.check().ok
    assert shown == {"ACSA": False, "akimat": True}   # measured on this wave


def test_stacked_bar_widths_give_the_counts(wave):
    led, _, dist = _base(wave)
    # a 100%-stacked bar per organisation: width of segment x = 300 px * n(x, org) / n(org)
    for o in LEVELS["org"]:
        n = wave.X[wave.org == o].value_counts().reindex(LEVELS["X"], fill_value=0)
        widths = (300 * n / n.sum()).round(2)
        led.widths("figure_items.svg", [{"org": o, "X": x} for x in LEVELS["X"]], widths.tolist(),
                   precision=0.01)
    rep = led.check()
    rec = {f.cell for f in rep.findings if f.rule == "recovered"}
    assert {"X=1, org=ACSA", "X=2, org=akimat", "X=3, org=ACSA"} <= rec


def test_percent_label_next_to_a_suppressed_cell_reveals_it(wave):
    led, _, dist = _base(wave)
    # "33.0 %": a bar label of the doctorates among the 3 respondents with
    # education doctorate/other in the akimat ... here simply 1.5 % of the akimat
    n = int(((wave.org == "akimat") & (wave.edu == "doctorate")).sum())
    led.share("figure_education.svg", {"org": "akimat", "edu": "doctorate"}, {"org": "akimat"},
              round(100 * n / 65, 1), decimals=1)
    rep = led.check()
    assert any(f.rule == "recovered" and f.cell == "edu=doctorate, org=akimat" and f.value == 1
               for f in rep.findings)


def test_33_percent_of_a_group_of_three(wave):
    levels = {"org": ["a"], "g": ["x", "y", "z"]}
    led = DisclosureLedger(levels, k=5)
    res = suppress_small_cells(pd.Series([1, 2, 40], index=["x", "y", "z"], name="n"), k=5)
    led.table("t.csv", res, "g", None, where={"org": "a"})
    assert led.check().ok
    led.share("fig.svg", {"org": "a", "g": "x"}, {"org": "a", "g": ("x", "y")}, 33.3, decimals=1)
    rep = led.check()
    assert {f.cell: f.value for f in rep.findings if f.rule == "recovered"}["g=x, org=a"] == 1


def test_a_test_statistic_over_a_suppressed_table_is_refused(wave):
    led, _, _ = _base(wave)
    led.test("comparison_items.csv", [{"org": o, "X": x} for o in LEVELS["org"] for x in LEVELS["X"]],
             "chi-square")
    assert [f.rule for f in led.check().findings] == ["test_on_suppressed"]
    assert not led.admit("test", "comparison_items.csv", [{"org": "ACSA", "X": 1}], "Cramér's V")


def test_joint_attack_on_every_output_of_a_wave_recovers_nothing(wave):
    """All outputs a wave wants to publish go through admit(); an attacker then
    solves one integer programme over everything published (no splitting)."""
    led, t11, dist = _base(wave)
    offered = 0
    for o in LEVELS["org"]:
        sub = wave.X[wave.org == o]
        offered += 3
        led.admit("mean", "comparison_items.csv", "X", {"org": o}, round(sub.mean(), 2), decimals=2)
        led.admit("median", "comparison_items.csv", "X", {"org": o}, float(sub.median()))
        n = sub.value_counts().reindex(LEVELS["X"], fill_value=0)
        led.admit("widths", "figure_items.svg", [{"org": o, "X": x} for x in LEVELS["X"]],
                  (300 * n / n.sum()).round(2).tolist())
        m = int(((wave.org == o) & (wave.edu == "doctorate")).sum())
        led.admit("share", "figure_education.svg", {"org": o, "edu": "doctorate"}, {"org": o},
                  round(100 * m / len(sub), 1))
    led.admit("test", "comparison_items.csv",
              [{"org": o, "X": x} for o in LEVELS["org"] for x in LEVELS["X"]], "chi-square")
    # the attacker: every statement the ledger admitted, one programme over org x edu x X
    attacker = DisclosureLedger(LEVELS, k=K, condition_on=[], max_atoms=100)
    attacker._stmts = list(led._stmts)
    attacker._protected = list(led._protected)
    rep = attacker.check()
    assert rep.ok, rep.summary()
    assert len(rep.bounds) == 14
    b = rep.bounds
    assert ((b.ilp_lower <= b["true"]) & (b["true"] <= b.ilp_upper)).all()
    # something was published besides the tables, and something withheld
    from collections import Counter
    kinds = Counter(s.kind for s in led._stmts)
    # measured: 19 shown table cells; of 2 means, 2 medians, 2 bar sets, 2 shares and a test,
    # one mean and both medians are admitted, the rest withheld
    assert kinds == {"count": 19, "mean": 1, "median": 2}
    assert offered == 6


def test_condition_on_needs_published_margins():
    led = DisclosureLedger(LEVELS, k=5, condition_on=["org"])
    led.protect("t", {"org": "ACSA", "edu": "doctorate"}, 1)
    with pytest.raises(ValueError, match="condition_on"):
        led.check()


def test_bad_arguments_name_the_argument():
    with pytest.raises(ValueError, match="k"):
        DisclosureLedger(LEVELS, k=0)
    led = DisclosureLedger(LEVELS, k=5)
    with pytest.raises(ValueError, match="where"):
        led.count("t", {"nope": 1}, 3)
    with pytest.raises(ValueError, match="where"):
        led.count("t", {"org": "Mars"}, 3)
    with pytest.raises(ValueError, match="var"):
        led.mean("t", "edu", {}, 2.0)
    with pytest.raises(ValueError, match="max_atoms"):
        big = DisclosureLedger({f"v{i}": list(range(10)) for i in range(6)}, k=5)
        big.protect("t", {f"v{i}": 0 for i in range(6)}, 1)
        big.check()


def test_levels_from_data_mark_missing():
    df = pd.DataFrame({"org": ["a", "b", "a"], "X": [1.0, np.nan, 3.0]})
    lv = ledger_levels(df, ["org", "X"], codes={"X": [1, 2, 3]})
    assert lv == {"org": ["a", "b"], "X": [1, 2, 3, MISSING]}


def test_guard_item_statistics_withholds_what_would_disclose(wave):
    from pipeline.data.disclosure import guard_item_statistics
    from pipeline.psychometrics.comparison import compare_items
    df = wave.copy()
    rng = np.random.default_rng(3)
    df["Y"] = rng.choice([1, 2, 3, 4, 5], size=100, p=[.2, .2, .2, .2, .2])   # no small cells
    tab = compare_items(df, ["X", "Y"], "org", groups=["ACSA", "akimat"], adjust=["holm"],
                        chisq=True, simulate=True, B=200, seed=1)
    out = guard_item_statistics(tab, df, "org", ["ACSA", "akimat"], {"X": [1, 2, 3, 4, 5],
                                                                     "Y": [1, 2, 3, 4, 5]}, K)
    x, y = out.set_index("item").loc["X"], out.set_index("item").loc["Y"]
    assert y["withheld"] == "" and y[["U", "pvalue", "cramers_v", "mean1"]].notna().all()
    held = set(x["withheld"].split(", "))
    assert {"U", "pvalue", "chisq", "cramers_v", "rank_biserial"} <= held
    assert x[list(held)].isna().all() and x[["n1", "n2"]].notna().all()
    # measured on this wave: ACSA's full-precision mean would recover cells; with it
    # withheld, the akimat's mean and both medians are admitted
    assert "mean1" in held and not {"mean2", "median1", "median2"} & held
    assert tab.set_index("item").loc["X", "U"] == tab.set_index("item").loc["X", "U"]   # input untouched


def test_merge_suppressed_segments_for_figures(wave):
    from pipeline.data.disclosure import merge_suppressed
    counts = pd.crosstab(wave.org, wave.X)
    res = suppress_small_cells(pd.crosstab(wave.X, wave.org), k=K)
    mask = res.mask.iloc[:-1, :-1].T
    bars = merge_suppressed(counts, mask)
    assert (bars.sum(axis=1) == counts.sum(axis=1)).all()
    assert (bars.drop(columns="suppressed").where(mask.to_numpy(), 0).to_numpy() == 0).all()
    # the figure built from the merged counts discloses nothing
    led, _, _ = _base(wave)
    for o in LEVELS["org"]:
        widths = (300 * bars.loc[o] / bars.loc[o].sum()).round(2)
        cells = [{"org": o, "X": x} for x in LEVELS["X"] if not mask.loc[o, x]]
        cells.append({"org": o, "X": tuple(x for x in LEVELS["X"] if mask.loc[o, x])})
        ws = [widths[x] for x in LEVELS["X"] if not mask.loc[o, x]] + [widths["suppressed"]]
        led.widths("figure.svg", cells, ws)
    assert led.check().ok


def _stacked_svg(counts, colors):
    """A 100 % stacked horizontal bar per row of *counts* (as the reports draw them), as SVG."""
    import io as _io

    from matplotlib.figure import Figure
    fig = Figure(figsize=(6, 2))
    ax = fig.add_subplot()
    left = np.zeros(len(counts))
    shares = counts.div(counts.sum(axis=1), axis=0) * 100
    for code in counts.columns:
        ax.barh(np.arange(len(counts)), shares[code].to_numpy(), left=left, color=colors[code])
        left += shares[code].to_numpy()
    buf = _io.StringIO()
    fig.savefig(buf, format="svg")
    return buf.getvalue()


COLORS = {5: "#1a9850", 4: "#91cf60", 3: "#d9d9d9", 2: "#fc8d59", 1: "#d73027",
          "suppressed": "#bbbbbb"}


def test_figure_geometry_read_from_the_svg_recovers_cells_unless_merged(wave):
    """The attack reads the bar widths off the written SVG (as a reader would)."""
    from pipeline.data.disclosure import merge_suppressed, svg_rectangles
    counts = pd.crosstab(wave.org, wave.X).reindex(columns=[5, 4, 3, 2, 1])
    res = suppress_small_cells(pd.crosstab(wave.X, wave.org), k=K)
    mask = res.mask.iloc[:-1, :-1].T.reindex(columns=[5, 4, 3, 2, 1])

    def attack(svg, segments):
        rects = svg_rectangles(svg)
        bars = rects[rects.fill.isin([COLORS[s] for s in segments])]
        led, _, _ = _base(wave)
        for i, o in enumerate(counts.index):          # barh: row i is drawn at y = i
            row = bars[np.isclose(bars.y.rank(method="dense") - 1, len(counts.index) - 1 - i)]
            cells, ws = [], []
            for s in segments:
                w = row[row.fill == COLORS[s]].width
                if len(w):
                    x = tuple(c for c in [5, 4, 3, 2, 1] if mask.loc[o, c]) if s == "suppressed" else s
                    cells.append({"org": o, "X": x})
                    ws.append(float(w.iloc[0]))
            led.widths("figure.svg", cells, ws, precision=0.001)
        return led.check()

    naive = attack(_stacked_svg(counts, COLORS), [5, 4, 3, 2, 1])
    assert {f.cell for f in naive.findings if f.rule == "recovered"} >= {"X=1, org=ACSA", "X=3, org=akimat"}
    merged = merge_suppressed(counts, mask)
    safe = attack(_stacked_svg(merged, COLORS), [5, 4, 3, 2, 1, "suppressed"])
    assert safe.ok, safe.summary()


def test_distribution_display_prints_no_count_below_k(wave):
    from pipeline.data.disclosure import distribution_display, mask_count
    counts = pd.crosstab(wave.org, wave.X)          # 2 "items" x 5 codes, with counts 1-4
    disp, note = distribution_display(counts, K)
    assert "fewer than 5" in note
    small = [(r, c) for r in counts.index for c in counts.columns if 0 < counts.loc[r, c] < K]
    assert small
    for r, c in small:
        assert disp.loc[r, f"{c} n"] == "<5" and disp.loc[r, f"{c} %"] == "<5"
    printed = [v for v in disp.to_numpy().ravel() if v not in ("<5", "[c]")]
    n_cols = [v for col, v in disp.stack().items() if col[1].endswith(" n") and v not in ("<5", "[c]")]
    assert all(int(v) == 0 or int(v) >= K for v in n_cols) and printed
    # every row of each item discloses nothing through its total (rank check of privacy)
    led = DisclosureLedger({"org": list(counts.index), "X": list(counts.columns)}, k=K)
    res = suppress_small_cells(counts, K, margins=True)
    led.table("distribution.csv", res, "org", "X")
    assert led.check().ok
    assert mask_count(3, 5) == "<5" and mask_count(0, 5) == 0 and mask_count(7, 5) == 7
    assert mask_count("x", 5) == "x" and mask_count(float("nan"), 5) != mask_count(float("nan"), 5)


def test_grand_total_joins_the_attack_and_unbounded_cells_are_not_inconsistent():
    res = suppress_small_cells(pd.DataFrame([[0, 4], [4, 10]], index=["r0", "r1"], columns=["c0", "c1"]), K)
    led = DisclosureLedger({"R": ["r0", "r1"], "C": ["c0", "c1"]}, K)
    led.table("t", res, "R", "C")
    rep = led.check()
    assert rep.ok, rep.summary()
    b = rep.bounds.set_index("cell")
    assert b.loc["C=c1, R=r1", "ilp_upper"] == 18          # bounded by the printed grand total 18
    free = DisclosureLedger({"R": ["r0", "r1"]}, K)
    free.protect("t", {"R": "r0"}, 3)                       # nothing published: [0, inf)
    fb = free.check().bounds.iloc[0]
    assert fb.ilp_lower == 0 and fb.ilp_upper == np.inf


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=25, deadline=None)
@given(data=st.lists(st.lists(st.integers(0, 9), min_size=2, max_size=4), min_size=1, max_size=4)
       .filter(lambda rows: len({len(r) for r in rows}) == 1),
       k=st.integers(2, 7))
def test_no_suppressed_cell_of_a_single_table_falls_to_the_integer_attack(data, k):
    """suppress_small_cells guards against linear (rank) disclosure; with non-negativity
    and integrality an attacker may know more: the integer attack recovers no cell."""
    t = pd.DataFrame(data, index=[f"r{i}" for i in range(len(data))],
                     columns=[f"c{j}" for j in range(len(data[0]))])
    res = suppress_small_cells(t, k)
    led = DisclosureLedger({"R": list(t.index), "C": list(t.columns)}, k)
    led.table("t", res, "R", "C" if len(t.columns) > 1 else None)
    rep = led.check(lp=False)
    assert rep.ok, (data, k, rep.summary())
