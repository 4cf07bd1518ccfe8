"""Figures of README "Dependencies" for semopy 2.3.11 under missing data (FIML).

Not a test (too slow for the suite: 20-90 s per fit on 2 cores).  Run from the
repository root:  .venv/bin/python -m tests.oracles.semopy_fiml_figures

Data: tests/reference/data/holzinger_swineford_mcar.csv (HS 1939, x1..x9, MCAR 12%),
reference: lavaan 0.6-14 ``cfa(model, missing = "ml")`` (fixtures/lavaan_hs_fiml.json).
"""
from __future__ import annotations

import time

import numpy as np
import pandas as pd


def _rows(ins: pd.DataFrame) -> pd.DataFrame:
    ins = ins.copy()
    lhs = np.where(ins["op"] == "~", ins["rval"], ins["lval"])
    rhs = np.where(ins["op"] == "~", ins["lval"], ins["rval"])
    op = np.where(ins["op"] == "~", "=~", ins["op"])
    return pd.DataFrame({"lhs": lhs, "op": op, "rhs": rhs, "est_semopy": ins["Estimate"],
                         "se_semopy": pd.to_numeric(ins["Std. Err"], errors="coerce")})


def main() -> None:
    import semopy

    from tests.conftest import REFERENCE, load_fixture

    ref = load_fixture("lavaan_hs_fiml.json")
    data = pd.read_csv(REFERENCE / "data" / ref["data"])[ref["observed"]]
    lav = pd.DataFrame(ref["parameters"])
    lav = lav[lav["op"].isin(["=~", "~~"])]
    for label, cls, obj in [("Model(obj='FIML')", semopy.Model, "FIML"),
                            ("ModelMeans(obj='ML')", semopy.ModelMeans, "ML")]:
        m = cls(ref["model"])
        t0 = time.perf_counter()
        m.fit(data, obj=obj, solver="L-BFGS-B")
        sec = time.perf_counter() - t0
        got = _rows(m.inspect())
        sym = got.assign(lhs=got["rhs"], rhs=got["lhs"])
        both = pd.concat([got.merge(lav, on=["lhs", "op", "rhs"]),
                          sym[sym["op"] == "~~"].merge(lav, on=["lhs", "op", "rhs"])])
        both = both.drop_duplicates(["lhs", "op", "rhs"])
        free = both["se"] > 0
        d_est = np.abs(both["est_semopy"] - both["est"]).max()
        ratio = (both.loc[free, "se_semopy"] / both.loc[free, "se"])
        st = semopy.calc_stats(m).T["Value"]
        print(f"{label}: {sec:.1f} s; max|est - lavaan| = {d_est:.4g}; "
              f"SE ratio semopy/lavaan {ratio.min():.3f}..{ratio.max():.3f}; "
              f"chi2 = {st['chi2']:.3f} (df {st['DoF']:.0f}) vs lavaan {ref['fit']['chisq']:.3f} "
              f"(df {ref['df']}); CFI {st['CFI']:.3f} vs {ref['fit']['cfi']:.3f}")


if __name__ == "__main__":
    main()
