"""Shared fixtures."""
from __future__ import annotations

import functools
import json
from pathlib import Path

import pytest

REFERENCE = Path(__file__).parent / "reference"
FIXTURES = REFERENCE / "fixtures"


def load_fixture(name: str):
    """Load a committed R-generated fixture (JSON) by file name."""
    with (FIXTURES / name).open(encoding="utf-8") as fh:
        return json.load(fh)


@pytest.fixture
def fixture_json():
    return load_fixture


@functools.lru_cache(maxsize=None)
def fitted_case(case: str):
    """(fixture, SEMResult) for a lavaan reference case, fitted once per session."""
    import pandas as pd

    from pipeline.sem import fit

    ref = load_fixture(f"lavaan_{case}.json")
    data = pd.read_csv(REFERENCE / "data" / ref["data"])
    miss = "fiml" if ref["options"]["missing"] == "ml" else "listwise"
    return ref, fit(ref["model"], data, likelihood=ref["options"]["likelihood"], missing=miss)


def assert_parameters_match(lavaan_rows, parameters, *, atol: float = 1e-4, se_rtol: float = 5e-3):
    """Every lavaan parameter row has a match: est and std.all within *atol*,
    free parameters' SEs within *se_rtol* relative."""
    import numpy as np
    import pandas as pd

    m = pd.DataFrame(lavaan_rows).merge(parameters, on=["lhs", "op", "rhs"], how="outer",
                                         suffixes=("_r", ""), indicator=True)
    assert (m["_merge"] == "both").all()
    np.testing.assert_allclose(m["est"], m["est_r"], atol=atol)
    np.testing.assert_allclose(m["std.all"], m["std.all_r"], atol=atol)
    free = m["se_r"] > 0
    np.testing.assert_allclose(m.loc[free, "se"], m.loc[free, "se_r"], rtol=se_rtol)
