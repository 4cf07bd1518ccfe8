"""Modification indices and standardized residuals against lavaan 0.6-14.

Fixtures from tests/reference/lavaan_engine.R:
``modindices(fit, sort. = TRUE)`` and ``residuals(fit, type = "standardized")$cov``.
Tolerances: MI, EPC, sepc.lv, sepc.all within 1e-3 relative (or 1e-5
absolute for near-zero values: lavaan's optimizer stops ~1e-6 from ours);
standardized residuals within 1e-3 absolute.
"""
from __future__ import annotations


import numpy as np
import pandas as pd
import pytest

from tests.conftest import fitted_case

CASES = ["hs_normal", "hs_wishart", "hs_equal", "poldem", "mediator_single", "hs_fiml"]


def _fitted(case):
    return fitted_case(case)


@pytest.mark.parametrize("case", CASES)
def test_modification_indices_match_lavaan(case):
    ref, res = _fitted(case)
    mi = res.modification_indices()
    assert list(mi.columns) == ["lhs", "op", "rhs", "mi", "epc", "sepc.lv", "sepc.all"]
    assert np.all(np.diff(mi["mi"].to_numpy()) <= 0)          # sorted, largest first
    want = pd.DataFrame(ref["modindices"])
    m = want.merge(mi, on=["lhs", "op", "rhs"], how="outer", suffixes=("_r", ""),
                   indicator=True)
    assert (m["_merge"] == "both").all(), m.loc[m["_merge"] != "both", ["lhs", "op", "rhs"]]
    for col in ["mi", "epc", "sepc.lv", "sepc.all"]:
        np.testing.assert_allclose(m[col], m[col + "_r"], rtol=1e-3, atol=1e-5, err_msg=col)
    # the largest MI is lavaan's largest
    assert tuple(mi.iloc[0][["lhs", "op", "rhs"]]) == tuple(want.iloc[0][["lhs", "op", "rhs"]])


@pytest.mark.parametrize("case", CASES)
def test_standardized_residuals_match_lavaan(case):
    ref, res = _fitted(case)
    got = res.residuals("standardized")
    assert list(got.index) == ref["observed"]
    np.testing.assert_allclose(got.to_numpy(), np.array(ref["residuals_standardized"], float),
                               atol=1e-3)


def test_raw_and_correlation_residuals():
    ref, res = _fitted("hs_normal")
    raw = res.residuals("raw").to_numpy()
    np.testing.assert_allclose(raw, np.array(ref["sample"]["cov"]) - np.array(
        ref["implied"]["cov"]), atol=1e-5)
    cor = res.residuals("cor").to_numpy()
    assert np.allclose(np.diag(cor), 0, atol=1e-6)
    with pytest.raises(ValueError, match="kind"):
        res.residuals("bogus")
