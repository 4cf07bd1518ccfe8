"""The thesis's scorecard (issue 13, items 2, 6 and 9): one honest status per published number,
the same in the index and in every wave's replication table; text numbers audited against
the tables they summarize; the index as a reviewer's entry point, with methods and provenance.

No respondent data are read: each wave's values are a small hand-made ``computed`` mapping.
"""
from __future__ import annotations

import copy
import hashlib
import json
import re
import shutil
import subprocess

import pytest

from pipeline.cli import scorecard as cli
from pipeline.cli.config import load_params
from pipeline.core import paths
from pipeline.replication.scorecard import (AGREES_SYNTHETIC, DIFFERS, DIFFERS_SYNTHETIC, EXACT,
                                            INCONSISTENT, NOT_COMPUTED, NOT_ESTIMABLE, STATUSES,
                                            WITHIN_TOLERANCE, render_index)

#: Values a wave's analyses might write: the 11 keys that had two statuses (index vs wave
#: table) before, and a few more of every kind.
COMPUTED = {
    "cs2019": {"cs2019.fit.pvalue": 0, "cs2019.fit.rmsea": 0.0301, "cs2019.loading.L.L2.z": 7.39,
               "cs2019.loading.S.S2.z": 10.2, "cs2019.loading.S.S3.z": 10.7,
               "cs2019.screening.valid": 100, "cs2019.screening.response_rate": 66.66666666666666,
               "cs2019.alpha.L": 0.8561, "cs2019.alpha.S": 0.5, "cs2019.alpha.CC": None,
               "cs2019.table11.gender.male.akimat.pct": 49.23076923076923},
    "cs2020": {"cs2020.table14.total.ACSA": 168, "cs2020.table16.total.akimat": 103,
               "cs2020.table6.n.total": 271, "cs2020.text.ACSA.higher_education.pct": 80.3,
               "cs2020.text.ACSA.experience.5_15.pct": 48.214285714285715},
    "citizens2020": {"citizens2020.table17.total": 109},
}


@pytest.fixture(scope="module")
def params():
    return load_params()


@pytest.fixture(scope="module")
def index_frame(params, tmp_path_factory):
    proc = tmp_path_factory.mktemp("processed")
    for wave, values in COMPUTED.items():
        (proc / wave / "results").mkdir(parents=True)
        (proc / wave / "results" / "computed.json").write_text(json.dumps(values), encoding="utf-8")
    sc, _, _ = cli.build_scorecard(params, processed=proc)
    return sc, sc.to_frame().set_index("key")


def test_index_and_wave_tables_give_each_key_one_status(params, index_frame):
    """(2) The status a key has in the index is the status it has in its wave's table."""
    _, idx = index_frame
    assert idx.index.is_unique                                   # one row, one status per number
    compared = 0
    for wave, values in COMPUTED.items():
        wt = cli.wave_table(wave, values, params["waves"][wave])
        assert set(wt.index) == {k for k, v in values.items() if v is not None and k in idx.index}
        for key, row in wt.iterrows():
            assert row["status"] == idx.loc[key, "status"], key
            assert row["basis"] == idx.loc[key, "basis"], key
            compared += 1
    assert compared == 16
    st = idx["status"]
    assert st["cs2019.fit.rmsea"] == INCONSISTENT                # .075 from chisq, df, N vs .036
    assert st["cs2019.fit.pvalue"] == EXACT                      # significant, as printed
    assert idx.loc["cs2019.fit.pvalue", "basis"] == "published numbers"
    assert st["cs2019.loading.L.L2.z"] == WITHIN_TOLERANCE       # 1.261 / .113 vs 11.116
    for key in ("cs2020.table14.total.ACSA", "cs2020.table16.total.akimat", "cs2020.table6.n.total",
                "citizens2020.table17.total", "cs2019.screening.valid",
                "cs2019.screening.response_rate"):
        assert st[key] == EXACT, key


def test_depends_is_split_and_undefined_is_not_estimable(index_frame):
    """(2) "depends on respondent-level data" is gone: agrees (calibrated synthetic),
    differs (synthetic) or not computed; alpha of one item is not estimable."""
    _, idx = index_frame
    assert set(idx["status"]) <= set(STATUSES)
    assert not [s for s in idx["status"] if "depends" in s]
    assert idx.loc["cs2019.alpha.L", "status"] == AGREES_SYNTHETIC         # 0.8561 vs 0.86
    assert idx.loc["cs2019.alpha.S", "status"] == DIFFERS_SYNTHETIC        # 0.5 vs 0.74
    assert idx.loc["cs2019.alpha.HC", "status"] == NOT_COMPUTED            # no value given
    assert idx.loc["cs2019.alpha.CC", "status"] == NOT_ESTIMABLE           # one item (Table K.1)


def test_text_numbers_are_audited_against_their_tables(index_frame):
    """(2) Every percentage and count the text states about a table is recomputed from that
    table; a contradiction is "inconsistent in the source", with its arithmetic."""
    sc, idx = index_frame
    text = [f for f in sc.findings if f.check == "text_vs_table"]
    assert sorted(k for f in text for k in f.keys) == ["cs2020.text.ACSA.higher_education.pct",
                                                       "cs2020.text.akimat.higher_education.pct"]
    acsa = [f for f in text if "ACSA" in f.keys[0]][0]
    assert acsa.arithmetic.startswith("100 x (122 + 31 + 1) / 168 = 91.67% (Table 14, lines 1151, "
                                      "1152, 1153; total Table 14, line 1163)")
    assert "states 80,3%" in acsa.arithmetic and acsa.severity == "error"
    assert idx.loc["cs2020.text.ACSA.higher_education.pct", "status"] == INCONSISTENT
    # the 20 stated numbers that name their table cells: 18 follow from them
    stated = [k for k in idx.index if k in sc.published and sc.published[k].extra.get("counts")]
    assert len(stated) == 20
    ok = idx.loc[[k for k in stated if "higher_education" not in k]]
    assert set(ok["status"]) == {EXACT} and set(ok["basis"]) == {"published numbers"}
    # shares of the 103 akimat respondents by institution: 14,5% and 11,6% are no k/103
    # rounded (15/103 = 14.56%, 12/103 = 11.65%), only truncated: warnings naming no number
    grim = [f for f in sc.findings if f.check == "text_percent_granularity"]
    assert [(f.severity, f.keys) for f in grim] == [("warning", ()), ("warning", ())]
    assert "15/103 = 14.56%" in grim[0].arithmetic
    # a table percentage contradicting its own counts: 32 / 65 = 49.23 %, printed 49,3
    assert idx.loc["cs2019.table11.gender.male.akimat.pct", "status"] == INCONSISTENT


def test_real_data_are_never_labelled_synthetic(params):
    """(2) The wave's synthetic flag decides: the same values from a real wave are a
    replication (reproduced exactly / differs), never "synthetic"."""
    real = copy.deepcopy(params)
    for w in real["waves"].values():
        w["synthetic"] = False
    wt = cli.wave_table("cs2019", COMPUTED["cs2019"], real["waves"]["cs2019"])
    assert not [s for s in wt["status"] if "synthetic" in s]
    assert wt.loc["cs2019.alpha.L", "status"] == EXACT and wt.loc["cs2019.alpha.S", "status"] == DIFFERS
    assert wt.loc["cs2019.alpha.L", "basis"] == "respondent data"
    sc, _, _ = cli.build_scorecard(real, computed={"cs2019": COMPUTED["cs2019"]})
    page = render_index(sc, [])
    assert "synthetic-banner" not in page
    syn = cli.wave_table("cs2019", COMPUTED["cs2019"], params["waves"]["cs2019"])
    assert syn.loc["cs2019.alpha.L", "status"] == AGREES_SYNTHETIC


def test_the_index_takes_the_flag_the_results_were_computed_with(params, tmp_path):
    """The scorecard stage reads a wave's flag from its results (info.json), not from the
    settings: results of real questionnaires are real even if the registry says otherwise."""
    res = tmp_path / "cs2019" / "results"
    res.mkdir(parents=True)
    (res / "computed.json").write_text(json.dumps(COMPUTED["cs2019"]), encoding="utf-8")
    (res / "info.json").write_text(json.dumps({"synthetic": False}), encoding="utf-8")
    sc, _, _ = cli.build_scorecard(params, processed=tmp_path)
    df = sc.to_frame().set_index("key")
    assert df.loc["cs2019.alpha.L", "status"] == EXACT and df.loc["cs2019.alpha.S", "status"] == DIFFERS


def test_wave_tables_use_the_audit_settings_of_the_index(params):
    """A wave's stage reads no other stage's parameters, so its table uses the thesis's audit
    defaults; the index uses the study's ``audit`` settings. They must be the same numbers."""
    from studies.amirova2021.audit_rules import THESIS_INDICATORS
    audit = params.get("audit") or {}
    assert int(audit.get("n", 100)) == 100
    assert dict(audit.get("indicators_per_factor") or THESIS_INDICATORS) == THESIS_INDICATORS


def test_index_is_a_reviewers_entry_point_with_methods(params, index_frame):
    """(9) summary, audit findings with links, tables in thesis order with a filter;
    (6) chi-square convention per wave and why, the thesis's decision rule next to the one
    used, package versions, SHA-256 of each wave's input, the CEA's inflation rate inferred.
    No timestamp, no absolute path, no unrounded float, no external resource."""
    sc, _ = index_frame
    from pipeline.reporting.escape import html as esc
    from pipeline.reporting.format import format_number
    page = render_index(sc, [("2019 wave", "cs2019/report.html")], methods=cli.provenance(params),
                        fmt=lambda x, d: format_number(x, digits=d), escape=esc)
    order = [page.index(s) for s in ("id='summary'", "id='audit'", "id='methods'", "id='scorecard'",
                                     "id='table-table-6'", "id='table-table-11'",
                                     "id='table-table-24'", "id='table-table-k.1'",
                                     "id='table-table-k.2'", "id='table-text'")]
    assert order == sorted(order)
    assert "href='#k-cs2019.fit.rmsea'" in page and "href='#table-table-12'" in page
    assert "<select id='status-filter'>" in page and "src=" not in page
    methods = page[page.index("id='methods'"):page.index("id='scorecard'")]
    row19 = re.search(r"<tr><td>cs2019</td>.*?</tr>", methods).group(0)
    row20 = re.search(r"<tr><td>cs2020</td>.*?</tr>", methods).group(0)
    assert "wishart" in row19 and "AMOS" in row19 and "as the thesis" in row19
    assert "normal" in row20 and "lavaan&#x27;s default" in row20
    assert "over 1.97" in methods and "|z| &gt; 1.960" in methods
    assert "inferred" in methods and "Table 19" in methods and "does not publish" in methods
    assert "numpy " in methods and "pandas " in methods
    raw = paths.resolve(params["waves"]["cs2019"]["raw"])
    if raw.is_file():
        assert hashlib.sha256(raw.read_bytes()).hexdigest() in row19
    assert str(paths.ROOT) not in page and "/tmp/" not in page
    assert not re.search(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}", page)
    cells = re.findall(r"<td>(.*?)</td>", page, flags=re.S)
    assert not [c for c in cells if re.search(r"\d\.\d{5,}", c)]


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_filter_script_is_valid_javascript(tmp_path, index_frame):
    """(9) The inline filter parses (the browser test checks it runs without console errors)."""
    page = render_index(index_frame[0], [])
    js = tmp_path / "filter.js"
    js.write_text(re.search(r"<script>(.*?)</script>", page, flags=re.S).group(1), encoding="utf-8")
    subprocess.run(["node", "--check", str(js)], check=True, capture_output=True, timeout=30)


class _Section:
    def __init__(self, store):
        self.store = store

    def warning(self, message):
        self.store["warning"] = message

    def table(self, name, df, **kw):
        self.store[name] = df

    def close(self):
        self.store["closed"] = True


class _Ctx:
    def __init__(self, wave, ws, computed):
        self.wave, self.ws, self.computed, self.store = wave, ws, computed, {}

    def section(self, key):
        return _Section(self.store)


def test_the_waves_replication_section_shows_the_index_status(params, index_frame):
    """(2) The call site: pipeline/workflow/wave.py's replication section gives each key the
    status the index gives it (cs2019.fit.rmsea was "depends" there and "differs" here)."""
    from pipeline.cli.config import wave_settings
    from pipeline.workflow.wave import _replication
    _, idx = index_frame
    for wave, values in COMPUTED.items():
        ctx = _Ctx(wave, wave_settings(wave), dict(values))
        _replication(ctx)
        shown = ctx.store["scorecard"]
        assert ctx.store["closed"] and "synthetic" in ctx.store["warning"]
        assert len(shown) == sum(v is not None for v in values.values())
        for key, row in shown.iterrows():
            assert row["status"] == idx.loc[key, "status"], key
    assert shown.columns.tolist() == ["table", "line", "published", "recomputed", "status", "basis"]
