"""Issue 14, item 1, on the thesis's 2020 wave (synthetic respondents, committed).

The 2020 report prints every Likert item's distribution by organization with
small-cell suppression, and ``comparison_items.csv`` printed each
organization's mean and median of the item at full precision.  The joint
integer attack (:class:`pipeline.data.disclosure.DisclosureLedger`) on those
outputs recovers 28 of the 34 suppressed interior cells -- the figure the
issue reports -- and none once the statistics pass
:func:`pipeline.data.disclosure.guard_item_statistics`.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline.cli import config
from pipeline.core import paths
from pipeline.data.codebook import load_codebook
from pipeline.data.disclosure import MISSING, DisclosureLedger, guard_item_statistics
from pipeline.data.loading import read_raw
from pipeline.data.privacy import suppress_small_cells
from pipeline.data.screening import screen

GROUPS = ["ACSA", "akimat"]
K = 5


@pytest.fixture(scope="module")
def wave():
    cb = load_codebook("cs2020")
    lr = read_raw(paths.DATA_SYNTHETIC / "cs2020.csv", cb)
    rules = {**config.stage_params("screening"), **(config.wave_params("cs2020").get("screening") or {})}
    data = screen(lr.data, cb, rules).clean
    items = [i for i in cb.likert_items if i in data.columns]
    codes = {i: sorted(cb[i].codes, reverse=True) for i in items}   # rows 5..1 as the report
    return data, items, codes


def _statistics(data, items):
    """What comparison_items.csv prints per item and organization (means, medians) and a
    non-linear statistic (a stand-in for U, p, chi-square, V)."""
    rows = []
    for it in items:
        r = {"item": it}
        for gi, g in enumerate(GROUPS, start=1):
            v = pd.to_numeric(data.loc[data.org == g, it], errors="coerce").dropna()
            r |= {f"n{gi}": len(v), f"mean{gi}": v.mean(), f"median{gi}": v.median()}
        r["U"] = 1.0
        rows.append(r)
    return pd.DataFrame(rows)


def _attack(data, items, codes, table):
    protected = recovered = 0
    for it in items:
        sub = data[data.org.isin(GROUPS)]
        v = pd.to_numeric(sub[it], errors="coerce")
        key = pd.Series([MISSING if pd.isna(x) else x for x in v], index=sub.index, dtype=object)
        levels = codes[it] + ([MISSING] if v.isna().any() else [])
        res = suppress_small_cells(pd.crosstab(key, sub.org).reindex(index=levels, columns=GROUPS,
                                                                     fill_value=0), K)
        if not res.n_suppressed:
            continue
        led = DisclosureLedger({it: levels, "org": GROUPS}, K, condition_on=["org"])
        led.table("distribution", res, it, "org")
        row = table.set_index("item").loc[it]
        for gi, g in enumerate(GROUPS, start=1):
            if pd.notna(row[f"mean{gi}"]):
                led.mean("comparison_items.csv", it, {"org": g}, float(row[f"mean{gi}"]))
            if pd.notna(row[f"median{gi}"]):
                led.median("comparison_items.csv", it, {"org": g}, float(row[f"median{gi}"]))
        b = led.check(lp=False).bounds
        interior = b[b.cell.str.contains("org=")]
        assert ((interior.ilp_lower <= interior["true"]) & (interior["true"] <= interior.ilp_upper)).all()
        protected += len(interior)
        recovered += int(interior.disclosed.sum())
    return protected, recovered


def test_2020_means_recover_28_of_34_suppressed_cells_and_none_after_the_guard(wave):
    data, items, codes = wave
    naive = _statistics(data, items)
    assert _attack(data, items, codes, naive) == (34, 28)
    guarded = guard_item_statistics(naive, data, "org", GROUPS, codes, K)
    assert _attack(data, items, codes, guarded) == (34, 0)
    # what the guard withheld: the non-linear statistic of every item with a suppressed cell
    held = guarded.withheld != ""
    assert held.sum() == 8 and guarded.loc[held, "U"].isna().all()
    assert guarded.loc[~held, ["mean1", "mean2", "U"]].notna().all().all()
