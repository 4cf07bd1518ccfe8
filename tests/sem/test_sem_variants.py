"""Syntax variants on HolzingerSwineford1939 against lavaan 0.6-14.

R (tests/reference/lavaan_engine_extra.R): ``sem(model, data =
HolzingerSwineford1939)`` for a one-factor model, free markers with fixed
latent variances (``NA*x1``, ``f ~~ 1*f``), a cross-loading, a second-order
factor, structural paths with a residual covariance, fixed loadings /
``start()`` / a fixed factor covariance, and a saturated path model on
observed variables.  Tolerances: estimates and std.all 1e-4, SEs 0.5%,
chisq 1e-6 relative (1e-8 absolute when df = 0), fit measures 1e-3.
"""
from __future__ import annotations

import pandas as pd
import pytest

from pipeline.core.exceptions import IdentificationWarning
from pipeline.sem import fit
from tests.conftest import REFERENCE, load_fixture, assert_parameters_match

VARIANTS = load_fixture("lavaan_engine_variants.json")
DATA = pd.read_csv(REFERENCE / "data" / "holzinger_swineford.csv")


@pytest.mark.parametrize("name", [n for n in VARIANTS if n != "fixed_values"])
def test_variant_matches_lavaan(name):
    v = VARIANTS[name]
    res = fit(v["model"], DATA)
    f = v["fit"]
    assert res.converged and res.admissible
    assert (res.npar, res.df) == (f["npar"], f["df"])
    assert res.chisq == pytest.approx(f["chisq"], rel=1e-6, abs=1e-8)
    assert_parameters_match(v["parameters"], res.parameters)
    fm = res.fit_measures()
    for k in ["cfi", "rmsea", "srmr", "gfi"]:
        assert fm[k] == pytest.approx(f[k], abs=1e-3), k
    assert fm["logl"] == pytest.approx(f["logl"], rel=1e-8)


def test_underidentified_block_warns_like_lavaan():
    """textual with 3 indicators, a residual covariance and no covariance with visual
    is not identified: lavaan cannot invert the information matrix; neither can we."""
    v = VARIANTS["fixed_values"]
    with pytest.warns(IdentificationWarning, match="singular"):
        res = fit(v["model"], DATA)
    assert not res.admissible
    assert res.chisq == pytest.approx(v["fit"]["chisq"], rel=1e-6)
    fixed = res.parameters.query("lhs == 'visual' and rhs == 'x2'")["est"].item()
    assert fixed == 0.5
