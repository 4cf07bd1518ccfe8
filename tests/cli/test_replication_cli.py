"""``python -m pipeline audit``, ``scorecard`` and ``cea``: the replication commands."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from pipeline.cli import audit as audit_cli
from pipeline.cli import cea as cea_cli
from pipeline.cli import scorecard as sc_cli
from pipeline.replication.published import load_published
from pipeline.replication.scorecard import (DIFFERS, EXACT, NOT_RECOMPUTABLE, RESPONDENT_LEVEL,
                                            STATUSES, WITHIN_TOLERANCE, Scorecard, collect)
from studies.amirova2021.cea import PUBLISHED


def test_cli(tmp_path):
    assert audit_cli.main(["--out", str(tmp_path)]) == 0
    assert "alpha_one_item" in (tmp_path / "audit.csv").read_text()
    assert "<table class='audit'>" in (tmp_path / "audit.html").read_text()


def test_cli_any_paper(tmp_path, capsys):
    f = tmp_path / "paper.yaml"
    f.write_text('chisq: "293,157"\ncmin_df: "1,559"\nrmsea: ".036"\n'
                 'thresholds: {rmsea: "<.80"}\n', encoding="utf-8")
    assert audit_cli.main(["--fit", str(f), "--n", "100", "--n-observed", "19",
                       "--out", str(tmp_path / "o")]) == 0
    out = capsys.readouterr().out
    assert "df_exceeds_maximum" in out and "rmsea_recomputed" in out and "threshold_decimal_shift" in out
    assert (tmp_path / "o" / "audit.csv").exists()
    with pytest.raises(ValueError, match="--n"):
        audit_cli.main(["--fit", str(f)])


def test_scorecard_thesis_rows_and_computed_json(tmp_path):
    """CEA tables and the audit are computed from published data; computed.json
    values of a (synthetic) wave are recorded as respondent-level."""
    proc = tmp_path / "processed"
    (proc / "cs2019").mkdir(parents=True)
    (proc / "cs2019" / "computed.json").write_text(
        json.dumps({"cs2019.alpha.L": 0.857, "cs2019.not_published": 1.0}), encoding="utf-8")
    sc = Scorecard(load_published(PUBLISHED, include_inputs=False),
                   respondent_level=["cs2019.*", "cs2020.*", "citizens2020.*", "!*.threshold.*"])
    waves = {w: {"synthetic": True} for w in ("cs2019", "cs2020", "citizens2020")}
    msgs = collect(sc, processed=proc, waves=waves,
                   extra_rows=sc_cli.extra_rows({}, load_published(PUBLISHED)))
    assert any("1 values joined, 1 keys not published" in m for m in msgs)
    df = sc.to_frame()
    by = df.groupby("key")["status"].agg(list)
    assert by["cs2019.alpha.L"] == ["agrees (calibrated synthetic)"]
    t19 = df[df["table"] == "Table 19"]
    assert len(t19) == 44 and (t19["status"] == EXACT).all()
    assert by["cs2019.fit.rmsea"] == [DIFFERS]                 # .075 recomputed vs .036 printed
    assert by["cs2019.loading.L.L2.z"] == [WITHIN_TOLERANCE]   # 1.261/.113 = 11.159 vs 11.116
    assert by["cs2019.fit.threshold.rmsea.acceptable"] == [NOT_RECOMPUTABLE]
    assert by["cea.text.acsa.payroll.ratio.2017_2020"] == [WITHIN_TOLERANCE]  # 'twofold' vs 1.82
    assert by["cea.text.acsa.interaction_with_citizens.decline.2018_2019"] == [EXACT]  # 'about 14%'
    t20 = df[df["table"] == "Table 20"]
    assert len(t20) == 12 and (t20["status"] == DIFFERS).sum() >= 2
    assert not any(df["table"].isin(["Table 15", "Table 18"]))  # input data, not results
    assert sc.synthetic is True


def test_cli_writes_index_and_csv(tmp_path):
    (tmp_path / "cea").mkdir()
    (tmp_path / "cea" / "cea.html").write_text("<html><title>CEA</title></html>", encoding="utf-8")
    assert sc_cli.main(["--out", str(tmp_path)]) == 0
    page = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert "href='cea/cea.html'" in page and ">CEA (cea/cea.html)</a>" in page
    assert "id='audit'" in page and "alpha_one_item" in page
    df = pd.read_csv(tmp_path / "scorecard.csv")
    assert set(df["status"]) <= set(STATUSES)
    assert {"key", "table", "line", "printed", "computed", "status"} <= set(df.columns)


def test_cea_writes_tables_and_figures(tmp_path):
    assert cea_cli.main(["--out", str(tmp_path)]) == 0
    for name in ("table19_cer", "table20_signs", "table21_hypotheses", "efficiency_bands",
                 "table20_agreement_by_period"):
        assert (tmp_path / "tables" / f"{name}.csv").stat().st_size > 0
        assert "\\begin{tabular}" in (tmp_path / "tables" / f"{name}.tex").read_text()
    for name in ("cea_indicators_t15", "cea_indicators_t18", "cea_forecasts", "cea_cer"):
        assert (tmp_path / "figures" / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
        assert "<svg" in (tmp_path / "figures" / f"{name}.svg").read_text()[:2000]
    html = (tmp_path / "cea.html").read_text()
    for anchor in ("table19", "table20", "table21", "bands", "charts"):
        assert f"id='{anchor}'" in html
    t19 = pd.read_csv(tmp_path / "tables" / "table19_cer.csv")
    assert len(t19) == 16       # 2 bodies x 2 modes x 4 years, full precision
