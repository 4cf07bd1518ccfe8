"""The thesis's audit rules (studies/amirova2021/audit_rules.py) on its transcribed tables."""
from __future__ import annotations

import math

import pytest

from pipeline.replication.audit import audit_counts
from pipeline.replication.published import load_published
from studies.amirova2021 import audit_rules as R
from studies.amirova2021.audit_rules import PUBLISHED


def _checks(found):
    return {f.check for f in found}


def test_audit_thesis_flags_the_four_known_problems():
    res = R.audit_thesis()
    checks = _checks(res.findings)
    assert {"df_exceeds_maximum", "rmsea_recomputed", "threshold_decimal_shift",
            "alpha_one_item"} <= checks
    one = [f for f in res.findings if f.check == "alpha_one_item"]
    assert [f.reported["scale"] for f in one] == ["CC"] and "3429" in one[0].where
    df = res.to_frame()
    assert list(df.columns) == ["check", "severity", "where", "reported", "recomputed", "arithmetic"]


def test_demographic_tables_are_audited_when_present():
    pub = load_published(PUBLISHED)
    groups = R.count_groups_from_published(pub)
    assert groups, "the demographic tables of studies/amirova2021/published were not found"
    names = {g["name"] for g in groups}
    assert any(n.startswith("cs2019.table11.") for n in names)
    # every group with a transcribed total uses it
    g = [g for g in groups if g["name"] == "cs2019.table11.gender.ACSA"]
    if g:
        assert str(g[0]["total"]) == "35"
    found = audit_counts(groups)
    # 17 of 65 akimat employees aged 21-30 are 26.15 %, printed 26,1 (Table 11, line 989)
    if "cs2019.table11.age.21_30.akimat" in pub:
        assert any(f.check == "percent_vs_count" and f.reported["count"] == "17"
                   and f.reported["percent"] == "26,1" for f in found)


def test_scorecard_rows_recompute_from_published():
    rows = {k: (v, t) for k, v, _, t, _ in R.scorecard_rows(load_published(PUBLISHED))}
    assert rows["cs2019.fit.rmsea"][0] == pytest.approx(math.sqrt((293.157 - 188) / (188 * 99)))
    assert rows["cs2019.fit.pvalue"][0] == 1
    z, tol = rows["cs2019.loading.L.L2.z"]
    assert z == pytest.approx(1.261 / 0.113)
    # rounding of Estimate and S.E.: 1.2615 / .1125 - 1.261/.113 = 0.0544
    assert tol == pytest.approx(1.2615 / 0.1125 - 1.261 / 0.113)


def test_published_identities():
    pub = load_published(PUBLISHED)
    ids = {k: v for k, v, _ in R.published_identities(pub)}
    assert "cs2019.screening.response_rate" in ids
    assert ids["cs2019.screening.response_rate"] == pytest.approx(100 * 100 / 150)
    assert not [f for f in R.audit_thesis(pub).findings if f.check == "published_identity"]
    # a corrupted copy is flagged
    from dataclasses import replace
    bad = dict(pub)
    bad["cs2019.screening.rejected"] = replace(pub["cs2019.screening.rejected"], value=25)
    found = [f for f in R.audit_thesis(bad).findings if f.check == "published_identity"]
    assert [f.recomputed for f in found] == [95.0]


def test_scorecard_rows_are_tagged_with_their_source():
    rows = R.scorecard_rows(load_published(PUBLISHED), n=100)
    assert {r[4] for r in rows} == {"studies.amirova2021.audit_rules"}
    assert [r[0] for r in rows].count("cs2019.screening.valid") == 2   # two identities give it
