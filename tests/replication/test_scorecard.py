"""Replication scorecard: loading published values, the five statuses, the index page."""
from __future__ import annotations

import json
import textwrap

import pandas as pd
import pytest

from pipeline.replication import scorecard as sc_mod
from studies.amirova2021.cea import PUBLISHED as THESIS_PUBLISHED
from pipeline.replication.scorecard import (DIFFERS, EXACT, NOT_RECOMPUTABLE, RESPONDENT_LEVEL, STATUSES,
                                WITHIN_TOLERANCE, Scorecard, load_published, parse_number,
                                printed_decimals, render_index)

YAML = textwrap.dedent("""\
    source: "test"
    table: "Table 99"
    line: 10
    title: "hand-made"
    values:
      - key: "t.ratio"
        label: "a ratio"
        value: 0.115
        printed: "0,115"
        unit: ratio
        line: 11
      - key: "t.pct"
        label: "a share"
        value: 66.7
        printed: "66,7"
        unit: percent
        line: 12
        note: "printed with a decimal comma"
      - key: "t.word"
        label: "a verdict"
        value: 1
        printed: "Supported"
        unit: decision
        line: 13
      - key: "w.item"
        label: "respondent-level"
        value: 0.86
        printed: "0.86"
        unit: coefficient
        line: 14
    """)


@pytest.fixture
def pubdir(tmp_path):
    d = tmp_path / "published"
    d.mkdir()
    (d / "t99.yaml").write_text(YAML, encoding="utf-8")
    return d


def test_parse_number_and_decimals():
    assert parse_number("66,7") == 66.7
    assert parse_number("6,6 mln. USD") == 6.6
    assert parse_number(".036") == 0.036
    assert parse_number("\u22121,5") == -1.5
    assert printed_decimals("0,115") == 3
    assert printed_decimals("12") == 0
    assert printed_decimals("Negative") is None
    with pytest.raises(ValueError, match="text"):
        parse_number("Significant")


def test_load_published(pubdir):
    pub = load_published(pubdir)
    assert list(pub) == ["t.ratio", "t.pct", "t.word", "w.item"]
    pv = pub["t.pct"]
    assert (pv.table, pv.line, pv.table_line, pv.decimals) == ("Table 99", 12, 10, 1)
    assert pv.reference == "Table 99, line 12"


def test_load_published_errors(pubdir):
    (pubdir / "dup.yaml").write_text(YAML, encoding="utf-8")
    with pytest.raises(ValueError, match="already defined in dup.yaml|already defined in t99.yaml"):
        load_published(pubdir)
    (pubdir / "dup.yaml").write_text("source: x\ntable: T\nline: 1\nvalues:\n  - key: z\n    value: 1\n",
                                     encoding="utf-8")
    with pytest.raises(ValueError, match="lacks"):
        load_published(pubdir)
    (pubdir / "dup.yaml").write_text("source: x\nvalues: []\n", encoding="utf-8")
    with pytest.raises(ValueError, match="missing field"):
        load_published(pubdir)


def test_every_status_category(pubdir):
    sc = Scorecard(load_published(pubdir), respondent_level=["w.*"])
    sc.add("t.ratio", 10.5 / 91.2)                         # 0.11513 -> 0,115
    sc.add("t.pct", 66.9, tolerance=0.5)                   # off by 0.2, tolerated
    sc.add("t.pct", 70.0, tolerance=0.5)                   # off by 3.3
    sc.add("t.word", "supported")                          # text, case-insensitive
    sc.add("t.ratio", 0.5, recomputable=False, note="not from published data")
    sc.add("w.item", 0.86, depends_on_respondent_data=True)
    df = sc.to_frame()
    assert list(df["status"]) == [EXACT, NOT_RECOMPUTABLE, WITHIN_TOLERANCE, DIFFERS, EXACT,
                                  RESPONDENT_LEVEL]
    assert set(df["status"]) == set(STATUSES)
    row = df.iloc[2]
    assert row["difference"] == pytest.approx(0.2) and row["printed"] == "66,7"
    assert row["table"] == "Table 99" and row["line"] == 12
    assert "printed with a decimal comma" in row["note"]


def test_never_added_keys(pubdir):
    sc = Scorecard(load_published(pubdir))
    assert set(sc.to_frame()["status"]) == {NOT_RECOMPUTABLE}
    sc.mark_respondent_level("w.*", "t.*", "!t.word")
    st = dict(zip(sc.to_frame()["key"], sc.to_frame()["status"]))
    assert st == {"t.ratio": RESPONDENT_LEVEL, "t.pct": RESPONDENT_LEVEL,
                  "t.word": NOT_RECOMPUTABLE, "w.item": RESPONDENT_LEVEL}


def test_exact_means_rounds_to_printed():
    pub = load_published(THESIS_PUBLISHED)
    sc = Scorecard(pub)
    sc.add("cea.t19.acsa.standard.cer.2018", 6.8 / 89.8)      # 0.07572 -> 0,076
    sc.add("cea.t19.acsa.standard.cer.2019", 0.0786)          # rounds to 0,079 (printed 0,078)
    df = sc.to_frame().set_index("key")
    assert df.loc["cea.t19.acsa.standard.cer.2018", "status"] == EXACT
    assert df.loc["cea.t19.acsa.standard.cer.2019", "status"] == DIFFERS


def test_add_errors(pubdir):
    sc = Scorecard(load_published(pubdir))
    with pytest.raises(ValueError, match="key='nope'"):
        sc.add("nope", 1.0)
    with pytest.raises(ValueError, match="tolerance"):
        sc.add("t.pct", 1.0, tolerance=-1)
    assert sc.add_many({"t.pct": 66.7, "other": 3}) == ["other"]


def test_summary_and_html(pubdir):
    sc = Scorecard(load_published(pubdir))
    sc.add("t.ratio", 0.115)
    text = sc.summary()
    assert "reproduced exactly" in text and "Table 99" in text
    counts = sc.counts()
    assert list(counts.columns) == list(STATUSES)
    assert counts.loc["All", EXACT] == 1 and counts.loc["All", NOT_RECOMPUTABLE] == 3
    h = sc.to_html()
    assert h.count("<tr class='exact'>") == 1 and h.count("<tr class='na'>") == 3


def test_render_index_banner_and_links(pubdir):
    sc = Scorecard(load_published(pubdir), synthetic=True)
    sc.add("w.item", 0.9, depends_on_respondent_data=True)
    page = render_index(sc, {"2019 wave": "cs2019/report.html", "CEA": "cea/cea.html"})
    assert "id='synthetic-banner'" in page
    assert "href='cs2019/report.html'" in page and "href='cea/cea.html'" in page
    assert "<table class='scorecard'>" in page and page.startswith("<!DOCTYPE html>")
    real = render_index(Scorecard(load_published(pubdir)), [("CEA", "cea/cea.html")])
    assert "synthetic-banner" not in real
    with pytest.raises(TypeError, match="scorecard"):
        render_index({}, [])


def test_collect_joins_registered_waves_and_extra_rows(tmp_path, pubdir):
    """Any registered wave's computed.json is joined (not a fixed list of waves); a folder
    that is not a registered wave is skipped and said so; extra rows are added as given."""
    pub = load_published(pubdir)
    keys = list(pub)
    proc = tmp_path / "processed"
    for wave in ("newwave", "stale"):
        (proc / wave / "results").mkdir(parents=True)
        (proc / wave / "results" / "computed.json").write_text(
            json.dumps({keys[0]: 1.0, "not.published": 2.0}), encoding="utf-8")
    sc = Scorecard(pub)
    msgs = sc_mod.collect(sc, processed=proc, waves={"newwave": {"synthetic": False}, "third": None},
                          extra_rows=[(keys[1], 3.0, "recomputed", None, "my.study"),
                                      ("nope", 1.0, "", None, "my.study")], label="data/processed")
    assert msgs == ["1 values recomputed from published numbers",
                    "newwave/results/computed.json: 1 values joined, 1 keys not published",
                    "stale/results/computed.json: skipped, 'stale' is not a registered wave (newwave, third)",
                    "wave third: no computed.json yet (its published numbers stay unjoined)"]
    df = sc.to_frame().set_index("key")
    assert df.loc[keys[0], "source"] == "data/processed/newwave/computed.json"
    assert df.loc[keys[0], "status"] == RESPONDENT_LEVEL
    assert df.loc[keys[1], "source"] == "my.study"
    assert sc.synthetic is False

