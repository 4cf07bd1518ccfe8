"""``python -m pipeline power``: generic defaults, files written, threshold options.

(The same checks still live in tests/sem/test_power.py, which imports the command from
pipeline.sem.power through a transitional shim; once that file imports pipeline.cli.power,
the shim and its entry in tests/test_layering.py go.)"""
from __future__ import annotations

import json

import numpy as np
import pytest

from pipeline.cli.power import _parse_thresholds, main
from pipeline.sem.power import thresholds_from_shares

REG = "y ~ 0.2*x"


def test_writes_table_figure_and_json_and_prints_its_options(tmp_path, capsys):
    out = tmp_path / "power.json"
    rc = main(["--population", REG, "--model", "y ~ x", "--n", "60,90", "--reps", "30",
               "--seed", "4", "--workers", "1", "--json", str(out), "--out-dir", str(tmp_path),
               "--no-progress"])
    assert rc == 0
    d = json.loads(out.read_text())
    assert d["options"]["n"] == [60, 90] and len(d["parameters"]) == 4
    assert {"power", "bias", "rmse", "coverage"} <= set(d["parameters"][0])
    assert {"converged", "admissible", "chisq_q50", "cfi_q50", "rmsea_q95"} <= set(d["fit"][0])
    for ext in ("png", "svg"):
        assert (tmp_path / "figures" / f"power_curve.{ext}").stat().st_size > 1000
    assert (tmp_path / "tables" / "power_parameters.csv").exists()
    text = capsys.readouterr().out
    assert text.startswith("options: n=60,90, reps=30, alpha=0.05, seed=4, likelihood=normal")
    assert "Power" in text


def test_population_and_model_are_required(capsys):
    with pytest.raises(SystemExit):
        main(["--n", "50"])
    assert "--population" in capsys.readouterr().err


def test_threshold_options(tmp_path):
    shares = [0.02, 0.05, 0.13, 0.42, 0.38]
    np.testing.assert_allclose(_parse_thresholds(None, ",".join(map(str, shares))),
                               thresholds_from_shares(shares))
    # R: qnorm(cumsum(c(.02, .05, .13, .42, .38)))[-5]
    np.testing.assert_allclose(thresholds_from_shares(shares),
                               [-2.053748911, -1.475791028, -0.841621234, 0.305480788], atol=1e-8)
    assert _parse_thresholds("-1,0,1", None) == [-1.0, 0.0, 1.0]
    f = tmp_path / "cats.yaml"
    f.write_text("categories:\n  default: [0.1, 0.2, 0.4, 0.3]\n  a: [0.5, 0.5]\n", encoding="utf-8")
    cuts = _parse_thresholds(str(f), None).for_items(["a", "b"])
    np.testing.assert_allclose(cuts["a"], [0.0], atol=1e-12)
    np.testing.assert_allclose(cuts["b"], thresholds_from_shares([0.1, 0.2, 0.4, 0.3]))
    with pytest.raises(ValueError, match="not both"):
        _parse_thresholds("-1,0", "0.5,0.5")
    with pytest.raises(ValueError, match="shares"):
        thresholds_from_shares([0.5, 0.6])
