"""``python -m pipeline fit DATA MODEL``: summary, JSON contract, errors."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from pipeline.__main__ import main as cli
from tests.conftest import REFERENCE, load_fixture

HS_CSV = REFERENCE / "data" / "holzinger_swineford.csv"


def test_fit_json_contract(tmp_path, capsys):
    out = tmp_path / "fit.json"
    rc = cli(["fit", str(HS_CSV), str(REFERENCE / "models" / "holzinger_3factor.lav"), "--likelihood", "normal",
              "--missing", "listwise", "--modindices", "3", "--json", str(out)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "chi-square (N x F_ML, lavaan 'normal')" in text and "R-squared" in text
    # lavaan's largest MI for this model: visual =~ x9, 36.411
    assert "Modification indices" in text and "36.411" in text
    d = json.loads(out.read_text())
    assert set(d) >= {"nobs", "fit", "parameters", "r2", "warnings", "options"}
    ref = load_fixture("lavaan_hs_normal.json")
    assert d["nobs"] == 301
    assert d["fit"]["chisq"] == pytest.approx(ref["fit"]["chisq"], rel=1e-6)
    for k in ["chisq", "df", "pvalue", "baseline.chisq", "baseline.df", "baseline.pvalue", "cfi",
              "tli", "nfi", "ifi", "gfi", "agfi", "rmsea", "rmsea.ci.lower", "rmsea.ci.upper",
              "rmsea.pvalue", "srmr", "logl", "aic", "bic", "cmin_df"]:
        assert k in d["fit"], k
    first = d["parameters"][0]
    assert list(first) == ["lhs", "op", "rhs", "label", "est", "se", "z", "pvalue", "ci.lower",
                           "ci.upper", "std.lv", "std.all"]
    assert first["z"] is None and first["se"] == 0          # fixed marker loading: NaN -> null
    assert d["r2"]["x1"] == pytest.approx(ref["r2"]["x1"], abs=1e-4)
    assert d["options"]["likelihood"] == "normal" and d["warnings"] == []


def test_fit_wishart_and_bootstrap_from_xlsx(tmp_path, capsys):
    xlsx = tmp_path / "pd.xlsx"
    pd.read_csv(REFERENCE / "data" / "political_democracy.csv").to_excel(xlsx, index=False)
    out = tmp_path / "boot.json"
    rc = cli(["fit", str(xlsx), str(REFERENCE / "models" / "political_democracy.lav"), "--likelihood", "wishart",
              "--bootstrap", "20", "--seed", "5", "--no-progress", "--keep-inadmissible",
              "--json", str(out)])
    assert rc == 0
    assert "AMOS 'wishart'" in capsys.readouterr().out
    d = json.loads(out.read_text())
    ref = load_fixture("lavaan_poldem.json")
    assert d["fit"]["chisq"] == pytest.approx(ref["fit"]["chisq"] * 74 / 75, rel=1e-6)
    assert d["options"]["bootstrap"] == 20 and d["options"]["seed"] == 5
    ind = next(p for p in d["parameters"] if p["lhs"] == "ind")
    assert ind["op"] == ":=" and {"ci.lower.bc", "ci.upper.bc"} <= set(ind)
    assert ind["ci.lower"] < ind["est"] < ind["ci.upper"]
    assert d["bootstrap"]["n_ok"] + d["bootstrap"]["n_failed"] == 20


def test_unknown_variables_exit_2(tmp_path, capsys):
    model = tmp_path / "bad.lav"
    model.write_text("f =~ x1 + x2 + nope1 + nope2\n")
    rc = cli(["fit", str(HS_CSV), str(model)])
    assert rc == 2
    err = capsys.readouterr().err
    assert "nope1" in err and "nope2" in err


def test_fit_cli_bootstrap_same_intervals_for_any_worker_count(tmp_path):
    """`--workers` never changes the result (per-draw SeedSequence seeds)."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    data = root / "tests" / "reference" / "data" / "holzinger_swineford.csv"
    model = root / "tests" / "reference" / "models" / "holzinger_3factor.lav"
    outs = []
    for w in (1, 2):
        out = tmp_path / f"w{w}.json"
        r = subprocess.run([sys.executable, "-m", "pipeline", "fit", str(data), str(model),
                            "--bootstrap", "60", "--seed", "7", "--workers", str(w),
                            "--no-progress", "--json", str(out)],
                           capture_output=True, text=True, cwd=root)
        assert r.returncode == 0, r.stderr
        outs.append(json.loads(out.read_text()))
    a = [(p["ci.lower"], p["ci.upper"]) for p in outs[0]["parameters"]]
    b = [(p["ci.lower"], p["ci.upper"]) for p in outs[1]["parameters"]]
    assert a == b


def test_fit_uses_lavaan_defaults_not_the_study_settings_and_says_so(tmp_path, capsys):
    """Issue 11 (item 8): params.yaml's sem.likelihood is wishart (the thesis's AMOS
    convention); the generic command ignores it: normal likelihood and listwise deletion
    (lavaan's defaults) unless told, printed first, every default shown in --help."""
    from pipeline.cli.config import load_registry
    assert load_registry()["waves"]["cs2019"]["sem"]["likelihood"] == "wishart"   # not to be taken
    out = tmp_path / "fit.json"
    assert cli(["fit", str(HS_CSV), str(REFERENCE / "models" / "holzinger_3factor.lav"),
                "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert text.splitlines()[0] == "options: estimator=ML, likelihood=normal, missing=listwise"
    d = json.loads(out.read_text())
    ref = load_fixture("lavaan_hs_normal.json")
    assert d["options"]["likelihood"] == "normal" and d["options"]["missing"] == "listwise"
    assert d["fit"]["chisq"] == pytest.approx(ref["fit"]["chisq"], rel=1e-6)
    with pytest.raises(SystemExit):
        cli(["fit", "--help"])
    helptext = " ".join(capsys.readouterr().out.split())
    for default in ("(default: normal)", "(default: listwise)", "(default: 0)", "(default: 0.95)",
                    "(default: False)", "(default: None)"):
        assert default in helptext, default


def test_fit_group_equal_is_lavaans_metric_model(capsys):
    """``fit --group school --group-equal loadings`` on Holzinger-Swineford is
    lavaan's metric model: cfa(HS.model, HolzingerSwineford1939, group = "school",
    group.equal = "loadings") gives chisq 124.044 on 54 df (lavaan_multigroup.R)."""
    import pipeline.sem as sem
    from tests.conftest import load_fixture  # noqa: F401  (fixtures dir exists)
    rc = cli(["fit", str(HS_CSV), str(REFERENCE / "models" / "holzinger_3factor.lav"),
              "--group", "school", "--group-equal", "loadings"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "group=school" in out and "group_equal=loadings" in out
    data = pd.read_csv(HS_CSV)
    res = sem.fit((REFERENCE / "models" / "holzinger_3factor.lav").read_text(), data,
                  group="school", group_equal="loadings")
    ref = sem.fit_multigroup((REFERENCE / "models" / "holzinger_3factor.lav").read_text(),
                             data, "school", group_equal="loadings")
    fm = res.fit_measures()
    assert fm["df"] == 54
    assert fm["chisq"] == pytest.approx(124.044, abs=1e-3)
    assert fm["chisq"] == pytest.approx(ref.fit_measures()["chisq"], rel=1e-12)
    assert set(res.parameters["group"]) >= {1, 2}
    assert callable(sem.lav_test_lrt) and callable(sem.lav_test_score)
    with pytest.raises(ValueError, match="--group"):
        from pipeline.cli.fit import main as fit_main
        fit_main([str(HS_CSV), str(REFERENCE / "models" / "holzinger_3factor.lav"),
                  "--group-equal", "loadings"])
