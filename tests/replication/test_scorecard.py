"""Replication scorecard: loading published values, one status per number, the index page."""
from __future__ import annotations

import json
import textwrap

import pandas as pd
import pytest

from pipeline.replication import scorecard as sc_mod
from studies.amirova2021.cea import PUBLISHED as THESIS_PUBLISHED
from pipeline.replication.audit import Inconsistency
from pipeline.replication.scorecard import (AGREES_SYNTHETIC, DIFFERS, DIFFERS_SYNTHETIC, EXACT,
                                            INCONSISTENT, NOT_COMPUTED, NOT_ESTIMABLE,
                                            NOT_RECOMPUTABLE, STATUSES, SUPPRESSED, WITHIN_TOLERANCE, Evidence,
                                            Scorecard, load_published, parse_number,
                                            printed_decimals, render_index, status_of, table_order)

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


def test_one_status_per_number_worst_of_each_kind(pubdir):
    sc = Scorecard(load_published(pubdir), respondent_level=["w.*"])
    sc.add("t.ratio", 10.5 / 91.2)                         # 0.11513 -> 0,115
    sc.add("t.ratio", 0.5, recomputable=False, note="not from published data")   # ignored
    sc.add("t.pct", 66.9, tolerance=0.5)                   # off by 0.2, tolerated
    sc.add("t.pct", 70.0, tolerance=0.5)                   # off by 3.3: the worst decides
    sc.add("t.word", "supported")                          # text, case-insensitive
    sc.add("w.item", 0.86, depends_on_respondent_data=True, synthetic=True)
    df = sc.to_frame()
    assert list(df["key"]) == ["t.ratio", "t.pct", "t.word", "w.item"]      # one row per number
    assert list(df["status"]) == [EXACT, DIFFERS, EXACT, AGREES_SYNTHETIC]
    row = df.iloc[1]
    assert row["difference"] == pytest.approx(3.3) and row["printed"] == "66,7"
    assert row["table"] == "Table 99" and row["line"] == 12
    assert "printed with a decimal comma" in row["note"]
    assert df.iloc[3]["basis"] == "synthetic respondent data" and df.iloc[3]["synthetic"] == True  # noqa: E712


def _pv(pubdir, key="t.ratio"):
    return load_published(pubdir)[key]


def test_status_of_gives_every_status(pubdir):
    """Each of the nine statuses, from the inputs that decide it, in the documented order."""
    pv = _pv(pubdir)                                                        # printed 0,115
    real, syn = dict(respondent=True, synthetic=False), dict(respondent=True, synthetic=True)
    bad = Inconsistency("x", {}, None, "0.2 / 2 = 0.1, printed 0,115", "error", "T", ("t.ratio",))
    undefined = Inconsistency("alpha_one_item", {}, None, "k = 1", "error", "T", ("t.ratio",))
    note = Inconsistency("x", {}, None, "truncated", "note", "T", ("t.ratio",))
    cases = [
        (dict(evidence=[Evidence(0.1151)]), EXACT),
        (dict(evidence=[Evidence(0.117, tolerance=0.01)]), WITHIN_TOLERANCE),
        (dict(evidence=[Evidence(0.2)]), DIFFERS),
        (dict(evidence=[Evidence(0.1151, **real)]), EXACT),
        (dict(evidence=[Evidence(0.2, **real)]), DIFFERS),
        (dict(evidence=[Evidence(0.1151, **syn)]), AGREES_SYNTHETIC),
        (dict(evidence=[Evidence(0.2, **syn)]), DIFFERS_SYNTHETIC),
        (dict(evidence=[Evidence(0.1151)], findings=[bad]), INCONSISTENT),
        (dict(evidence=[Evidence(0.1151, **syn)], findings=[undefined, bad]), NOT_ESTIMABLE),
        (dict(evidence=[Evidence(None, **syn)], respondent_level=True), NOT_COMPUTED),
        (dict(evidence=[], findings=[note]), NOT_RECOMPUTABLE),
        (dict(evidence=[Evidence(0.1151, **syn)], suppressed=True), SUPPRESSED),
        # real respondent data outrank published recomputations, which outrank synthetic data
        (dict(evidence=[Evidence(0.2), Evidence(0.1151, **real)]), EXACT),
        (dict(evidence=[Evidence(0.2, **syn), Evidence(0.1151)]), EXACT),
    ]
    got = [status_of(pv, **kw).status for kw, _ in cases]
    assert got == [want for _, want in cases]
    assert set(got) == set(STATUSES)
    with pytest.raises(TypeError, match="evidence"):
        status_of(pv, [0.1])


def test_never_added_keys(pubdir):
    sc = Scorecard(load_published(pubdir))
    assert set(sc.to_frame()["status"]) == {NOT_RECOMPUTABLE}
    sc.mark_respondent_level("w.*", "t.*", "!t.word")
    st = dict(zip(sc.to_frame()["key"], sc.to_frame()["status"]))
    assert st == {"t.ratio": NOT_COMPUTED, "t.pct": NOT_COMPUTED,
                  "t.word": NOT_RECOMPUTABLE, "w.item": NOT_COMPUTED}


def test_findings_decide_the_keys_they_name(pubdir):
    sc = Scorecard(load_published(pubdir))
    sc.add("t.pct", 66.7)
    sc.add_findings([Inconsistency("text_vs_table", {"t.pct": "66,7"}, 50.0,
                                   "100 x 1 / 2 = 50.00%, printed 66,7", "error", "Table 99, line 12",
                                   ("t.pct",))])
    df = sc.to_frame().set_index("key")
    assert df.loc["t.pct", "status"] == INCONSISTENT
    assert "audit: text_vs_table (error)" in df.loc["t.pct", "note"]
    assert df.loc["t.ratio", "status"] == NOT_RECOMPUTABLE
    with pytest.raises(TypeError, match="Inconsistency"):
        sc.add_findings(["not a finding"])


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
    assert h.count("class='exact' data-status") == 1 and h.count("class='na' data-status") == 3


def test_render_index_banner_and_links(pubdir):
    sc = Scorecard(load_published(pubdir), synthetic=True)
    sc.add("w.item", 0.9, depends_on_respondent_data=True)
    assert sc.status("w.item").status == DIFFERS_SYNTHETIC
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
    # a real wave (synthetic: false) is never labelled synthetic: 1.0 vs printed 0,115
    assert df.loc[keys[0], "status"] == DIFFERS and df.loc[keys[0], "basis"] == "respondent data"
    assert "synthetic" not in df.loc[keys[0], "note"]
    assert df.loc[keys[1], "source"] == "my.study"
    assert sc.synthetic is False



def test_table_order_is_the_documents():
    names = ["text", "Table K.2", "Table 24", "Table 6", "All", "Table K.1", "Table 11", "Table 12.1"]
    assert sorted(names, key=table_order) == ["Table 6", "Table 11", "Table 12.1", "Table 24",
                                              "Table K.1", "Table K.2", "text", "All"]


def _two_tables(tmp_path):
    d = tmp_path / "pub"
    d.mkdir()
    for num, line, key in (("24", 2006, "t24.x"), ("6", 691, "t6.x"), ("K.1", 3417, "k1.x")):
        (d / f"t{num}.yaml").write_text(textwrap.dedent(f"""\
            source: test
            table: "Table {num}"
            line: {line}
            values:
              - {{key: "{key}", label: "<b>bold</b> & 'quoted'", value: 0.036, printed: ".036",
                 unit: index, line: {line + 1}}}
            """), encoding="utf-8")
    return load_published(d)


def test_index_order_filter_links_and_cells(tmp_path):
    """(9) summary counts first, then the audit findings (linking to the numbers), then the
    tables in the document's order with a filter by status; cells rounded and escaped."""
    sc = Scorecard(_two_tables(tmp_path), respondent_level=["t6.*"])
    sc.add("t24.x", 0.0301234567891, depends_on_respondent_data=True, synthetic=True)
    sc.add("k1.x", 26.153846153846153)
    sc.add_findings([Inconsistency("rmsea_recomputed", {}, None, "sqrt(...) = 0.075, not .036",
                                   "error", "Table 24, line 2007", ("t24.x",))])
    page = render_index(sc, [("wave", "w/report.html")],
                        methods={"waves": [{"wave": "w", "chi-square convention": "wishart"}],
                                 "rules": [("thesis", "critical ratio > 1.97")],
                                 "packages": {"numpy": "1.0"}, "notes": ["inferred, not published"]})
    pos = [page.index(s) for s in ("id='summary'", "id='audit'", "id='methods'", "id='scorecard'",
                                   "id='table-table-6'", "id='table-table-24'", "id='table-table-k.1'")]
    assert pos == sorted(pos)
    # the finding links to the number and the number back to the finding; one status per row
    assert "href='#k-t24.x'" in page and "id='k-t24.x'" in page and "href='#finding-1'" in page
    assert "data-status='inconsistent in the source'" in page
    assert "data-status='not computed'" in page
    assert "<select id='status-filter'>" in page and "addEventListener('change'" in page
    assert "<script src" not in page and "http" not in page.replace("http-equiv", "")
    assert all(f"<option value='{html_escape(s)}'>" in page for s in STATUSES)
    # no unrounded float in a cell; every text escaped
    import re
    cells = re.findall(r"<td>(.*?)</td>", page, flags=re.S)
    assert not [c for c in cells if re.search(r"\d\.\d{5,}", c)]
    assert "26.1538" in page and "0.0301<" in page and "<b>bold</b>" not in page and "&lt;b&gt;bold&lt;/b&gt;" in page
    assert "critical ratio &gt; 1.97" in page and "inferred, not published" in page


def html_escape(s):
    import html
    return html.escape(s, quote=True)


def test_printed_bounds_are_satisfied_or_not(pubdir):
    from dataclasses import replace

    from pipeline.replication.published import compare_value
    pv = _pv(pubdir, "t.pct")
    more = replace(pv, value=50, printed="more than half")
    assert compare_value(more, 50.3)[0] == EXACT and compare_value(more, 50.0)[0] == DIFFERS
    least = replace(pv, value=30, printed="at least 30%")
    assert compare_value(least, 30.0)[0] == EXACT and compare_value(least, 29.9)[0] == DIFFERS
    less = replace(pv, value=5, printed="less than 5%")
    assert compare_value(less, 4.9)[0] == EXACT and compare_value(less, 5.2)[0] == DIFFERS
    about = replace(pv, value=70, printed="about 70%")           # not a bound: rounding applies
    assert compare_value(about, 70.4)[0] == EXACT and compare_value(about, 71.0)[0] == DIFFERS


def test_notes_say_what_the_status_rests_on(pubdir):
    sc = Scorecard(load_published(pubdir))
    sc.add("t.ratio", 0.1151, note="from the published table")
    sc.add("t.ratio", 0.2012345, depends_on_respondent_data=True, synthetic=True,
           note="from synthetic respondent data")
    row = sc.to_frame().set_index("key").loc["t.ratio"]
    assert (row["status"], row["basis"]) == (EXACT, "published numbers")
    assert row["note"] == "from the published table; also from synthetic respondent data: 0.2012"


def test_report_links_are_named_by_their_heading_when_the_title_is_a_default(tmp_path):
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "report.html").write_text(
        "<html><head><title>Notebook</title></head><body><style>" + "x" * 30000 + "</style>"
        "<h1 id='a'>2019 wave <em>report</em></h1></body></html>", encoding="utf-8")
    (tmp_path / "cea.html").write_text("<title>CEA</title><h1>other</h1>", encoding="utf-8")
    (tmp_path / "index.html").write_text("<title>me</title>", encoding="utf-8")
    assert sc_mod.discover_reports(tmp_path) == [("CEA (cea.html)", "cea.html"),
                                                 ("2019 wave report (w/report.html)", "w/report.html")]


def test_counts_below_k_from_respondents_are_withheld_everywhere():
    """Issue 14: a wave's count below k (doctorate.akimat = 1 in Table 11) and its
    share are not printed by the scorecard, nor is an agreement that would reveal
    them; counts of k or more, and what published numbers recompute, are shown."""
    from pipeline.replication.scorecard import join_wave, small_count_keys
    from pipeline.core import paths
    pubs = load_published(paths.STUDIES / "amirova2021" / "published", include_inputs=False)
    key = "cs2019.table11.education.doctorate.akimat"
    big = "cs2019.table11.education.doctorate.ACSA"
    assert pubs[key].unit == "count" and pubs[key].value == 1
    vals = {key: 1, key + ".pct": 1.538, big: 7, big + ".pct": 20.0}
    assert small_count_keys(pubs, vals, 5) == {key, key + ".pct"}
    sc = Scorecard(pubs, respondent_level=["cs2019.*"])
    join_wave(sc, "cs2019", vals, {"synthetic": True, "privacy": {"k": 5}})
    df = sc.to_frame().set_index("key")
    for k_ in (key, key + ".pct"):
        assert df.loc[k_, "status"] == SUPPRESSED
        assert pd.isna(df.loc[k_, "computed"]) and pd.isna(df.loc[k_, "from_respondents"])
        assert "1.538" not in str(df.loc[k_, "note"])
    assert df.loc[big, "from_respondents"] == 7
    csv = df.reset_index().to_csv(index=False)
    assert "1.538" not in csv
    with pytest.raises(ValueError, match="k must be"):
        small_count_keys(pubs, vals, 0)
