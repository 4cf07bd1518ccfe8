"""The thesis SEM (studies/amirova2021/models/cs2019/thesis_sem.lav) against lavaan on synthetic data.

R (tests/reference/lavaan_engine_extra.R):
``sem(model, data = read.csv("tests/reference/data/sem_thesis_synthetic.csv"))``
and the same with ``likelihood = "wishart"``.  The data are N = 250 draws
from studies/amirova2021/models/thesis_population.lav.  Tolerances: estimates / std.all 1e-4,
SEs 0.5% relative, chisq 1e-6 relative, fit measures 1e-3, top-20 MI 1e-3
relative.
"""
from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import pytest

from pipeline.core import paths
from pipeline.sem import fit
from tests.conftest import REFERENCE, load_fixture


@functools.lru_cache(maxsize=None)
def _ref():
    ref = load_fixture("lavaan_engine_thesis.json")
    data = pd.read_csv(REFERENCE / "data" / ref["data"])
    return ref, data


def test_thesis_model_file_is_the_fixture_model():
    ref, _ = _ref()
    assert (paths.MODELS / "cs2019" / "thesis_sem.lav").read_text().strip() == ref["model"].strip()


def test_thesis_sem_matches_lavaan():
    ref, data = _ref()
    res = fit(ref["model"], data)
    assert res.converged and res.admissible
    m = pd.DataFrame(ref["parameters"]).merge(res.parameters, on=["lhs", "op", "rhs"],
                                               suffixes=("_r", ""), how="outer", indicator=True)
    assert (m["_merge"] == "both").all()
    for col in ["est", "std.lv", "std.all"]:
        np.testing.assert_allclose(m[col], m[col + "_r"], atol=1e-4, err_msg=col)
    free = m["se_r"] > 0
    np.testing.assert_allclose(m.loc[free, "se"], m.loc[free, "se_r"], rtol=5e-3)
    f = ref["fit"]
    assert res.chisq == pytest.approx(f["chisq"], rel=1e-6)
    assert (res.df, res.npar) == (f["df"], f["npar"])
    fm = res.fit_measures()
    for k in ["cfi", "tli", "rmsea", "rmsea.ci.lower", "rmsea.ci.upper", "rmsea.pvalue",
              "srmr", "gfi", "agfi", "nfi", "ifi"]:
        assert fm[k] == pytest.approx(f[k], abs=1e-3), k
    r2 = pd.Series(ref["r2"], dtype=float)
    np.testing.assert_allclose(res.r2[r2.index], r2, atol=1e-4)
    mi = res.modification_indices().head(20)
    want = pd.DataFrame(ref["modindices"])
    mm = want.merge(mi, on=["lhs", "op", "rhs"], suffixes=("_r", ""))
    assert len(mm) >= 18          # ties at the cut-off may reorder
    np.testing.assert_allclose(mm["mi"], mm["mi_r"], rtol=1e-3)
    np.testing.assert_allclose(mm["epc"], mm["epc_r"], rtol=1e-3, atol=1e-5)


def test_thesis_sem_wishart_fit_table():
    ref, data = _ref()
    res = fit(ref["model"], data, likelihood="wishart")
    fw = ref["fit_wishart"]
    assert res.chisq == pytest.approx(fw["chisq"], rel=1e-6)
    fm = res.fit_measures()
    for k in ["cfi", "tli", "rmsea", "gfi", "agfi"]:
        assert fm[k] == pytest.approx(fw[k], abs=1e-3), k
