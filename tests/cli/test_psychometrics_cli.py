"""``python -m pipeline describe | reliability | efa``: psych's defaults, shown in --help,
printed when run; results against psych 2.2.9 (fixtures of tests/reference/psych_reference.R)."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from pipeline.__main__ import main as cli
from pipeline.cli import describe as D
from pipeline.cli import efa as E
from pipeline.cli import reliability as RL
from tests.conftest import REFERENCE, load_fixture
from tests.psychometrics.test_efa import HS_ITEMS, KMO_TOL, LOADING_TOL, _align

FA = load_fixture("psych_fa.json")
KB = load_fixture("psych_kmo.json")
ALPHA = load_fixture("psych_alpha.json")
FX = load_fixture("psych_describe.json")
HS = pd.read_csv(REFERENCE / "data" / "holzinger.csv")
ALPHA_TOL = 1e-4


# ---------------------------------------------------------------- efa
def test_efa_json_shape(tmp_path, capsys):
    out = tmp_path / "efa.json"
    rc = E.main([str(REFERENCE / "data" / "holzinger.csv"), "--items", *HS_ITEMS,
                 "--factors", "3", "--method", "ml", "--rotation", "promax",
                 "--missing", "listwise", "--json", str(out)])
    assert rc == 0
    d = json.loads(out.read_text())
    ref = FA["holzinger_ml_promax"]
    L = _align(np.array([d["loadings"][i] for i in HS_ITEMS]), np.array(ref["loadings"]).T)
    assert np.abs(L - np.array(ref["loadings"]).T).max() < LOADING_TOL
    assert d["n_factors"] == 3 and d["missing"] == "listwise"
    assert np.array(d["factor_correlations"]).shape == (3, 3)
    text = capsys.readouterr().out
    assert "missing = listwise" in text
    assert "options: items=x1,x2,x3,x4,x5,x6,x7,x8,x9, factors=3, method=ml, rotation=promax" in text


@pytest.mark.parametrize("fmt", ["xlsx", "sav"])
def test_efa_reads_xlsx_and_sav(tmp_path, fmt):
    path = tmp_path / f"hs.{fmt}"
    if fmt == "xlsx":
        HS.to_excel(path, index=False)
    else:
        import pyreadstat
        pyreadstat.write_sav(HS, str(path))
    out = tmp_path / "e.json"
    assert E.main([str(path), "--items", *HS_ITEMS, "--factors", "3", "--method", "ml",
                   "--rotation", "promax", "--missing", "listwise", "--json", str(out)]) == 0
    d = json.loads(out.read_text())
    assert d["kmo"] == pytest.approx(KB["holzinger"]["msa"], abs=KMO_TOL)


def test_efa_without_items_leaves_out_id_and_score_columns_and_says_so(tmp_path, capsys):
    """Issue 11 (item 8): an id column, a respondent number under another name and a
    derived scale score are not items; the analysis equals the one on x1..x9 alone."""
    df = HS.copy()
    df["pid"] = np.arange(1001, 1001 + len(df))[::-1]        # distinct integers
    df["visual_score"] = df[["x1", "x2", "x3"]].mean(axis=1)     # a derived score (name)
    df["speedy"] = df[["x7", "x8", "x9"]].sum(axis=1)             # a derived score (values)
    path = tmp_path / "hs_extra.csv"
    df.to_csv(path, index=False)
    out, ref = tmp_path / "auto.json", tmp_path / "ref.json"
    assert E.main([str(path), "--factors", "3", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "excluded column 'id': id-like name" in text
    assert "excluded column 'pid': id-like: distinct integer values" in text
    assert "excluded column 'visual_score': derived score (name)" in text
    assert "excluded column 'speedy': derived score: the row sum of x7, x8, x9" in text
    assert E.main([str(path), "--items", *HS_ITEMS, "--factors", "3", "--json", str(ref)]) == 0
    a, b = json.loads(out.read_text()), json.loads(ref.read_text())
    assert sorted(a["loadings"]) == HS_ITEMS
    assert a["loadings"] == b["loadings"]


def test_generic_commands_show_every_default_in_help(capsys):
    for mod, flags in ((E, ["--method", "--rotation", "--missing", "--seed", "--n-iter", "--factors"]),
                       (RL, ["--missing", "--ci-level", "--omega-factors", "--threshold"]),
                       (D, ["--min-share"])):
        with pytest.raises(SystemExit):
            mod.main(["--help"])
        text = " ".join(capsys.readouterr().out.split())
        assert text.count("(default:") >= len(flags), mod.__name__
        for f in flags:
            assert f in text
    from pipeline.cli import power as P
    with pytest.raises(SystemExit):
        P.main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    for default in ("(default: 100,200,300,500)", "(default: 1000)", "(default: 0.05)",
                    "(default: normal)", "(default: 1)"):
        assert default in text, default
    with pytest.raises(SystemExit):
        E.main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "(default: minres)" in text and "(default: oblimin)" in text and "(default: pairwise)" in text


# ---------------------------------------------------------------- reliability
def test_reliability_multi_scale_and_json(tmp_path, capsys):
    """JSON shape: {"scales": {NAME: {alpha, alpha_std, ci_lower, ci_upper, n, omega,
    items: [{item, r_drop, alpha_if_deleted}]}}}, psych's numbers."""
    out = tmp_path / "rel.json"
    rc = RL.main([str(REFERENCE / "data" / "bfi.csv"), "--scale", "A=-A1,A2,A3,A4,A5",
                  "--scale", "C=C1,C2,C3,-C4,-C5", "--missing", "listwise",
                  "--min-score", "1", "--max-score", "6", "--json", str(out)])
    assert rc == 0
    d = json.loads(out.read_text())
    assert d["missing"] == "listwise" and d["alpha_threshold"] == 0.7
    for name in ("A", "C"):
        s = d["scales"][name]
        ref = ALPHA[f"{name}_listwise"]
        assert {"alpha", "alpha_std", "ci_lower", "ci_upper", "n", "omega", "items"} <= set(s)
        assert s["alpha"] == pytest.approx(ref["raw_alpha"], abs=ALPHA_TOL)
        assert s["n"] == ref["n_used"]
        assert [i["item"] for i in s["items"]] == ref["items"]
        np.testing.assert_allclose([i["r_drop"] for i in s["items"]], ref["r_drop"], atol=1e-10)
        assert set(s["items"][0]) >= {"item", "r_drop", "alpha_if_deleted"}
    assert "options: missing=listwise, ci_level=0.95, omega_factors=1, threshold=0.7" in \
        capsys.readouterr().out


def test_reliability_two_item_scales_print_and_write_json(tmp_path, capsys):
    """Issue 13, item 11: two-item scales (as the thesis's L and ICS) crashed with
    "unsupported format string passed to NoneType.__format__" and wrote no JSON."""
    out = tmp_path / "rel.json"
    rc = cli(["reliability", str(REFERENCE / "data" / "holzinger.csv"), "--scale", "L=x1,x2",
              "--scale", "ICS=x4,x5", "--scale", "V=x1,x2,x3", "--json", str(out)])
    assert rc == 0
    text = capsys.readouterr().out
    assert text.count("omega total = n/a") == 2
    d = json.loads(out.read_text())
    C = HS[["x1", "x2"]].cov().to_numpy()
    assert d["scales"]["L"]["alpha"] == pytest.approx(2 * (1 - np.trace(C) / C.sum()), abs=1e-12)
    assert d["scales"]["L"]["omega"] is None and d["scales"]["ICS"]["omega"] is None
    assert d["scales"]["V"]["omega"] > 0
    assert any("omega total is not estimable" in w for w in d["scales"]["L"]["warnings"])


# ---------------------------------------------------------------- describe
def test_describe_json(tmp_path, capsys):
    out = tmp_path / "d.json"
    rc = D.main([str(REFERENCE / "data" / "holzinger.csv"), "--items", "x1", "x2", "x3",
                 "--construct", "visual=x1,x2,x3", "--json", str(out)])
    assert rc == 0
    d = json.loads(out.read_text())
    assert d["items"]["x1"]["skewness"] == pytest.approx(FX["holzinger"]["skew"][0], abs=1e-12)
    assert d["mardia"]["visual"]["n"] == 301
    assert "options: instrument=None, min_share=1.0" in capsys.readouterr().out
