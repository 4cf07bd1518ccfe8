"""Synthetic CFA data sets of the performance benchmarks (not a test module).

``cfa_case(factors, items, n, missing, seed)`` draws ``n`` cases of a
correlated-factor CFA (``factors`` factors x ``items`` indicators, loadings
0.5-0.8, factor correlations 0.3, unit-variance items shifted to means 2-4)
and deletes each value independently with probability ``missing`` (MCAR).
Rows with every value deleted are redrawn missing-free, so N is exact.
Different seeds give the "hidden" cases of the same sizes.
"""
from __future__ import annotations

import numpy as np
import pandas as pd


def cfa_syntax(factors: int, items: int) -> str:
    lines = []
    for f in range(factors):
        ind = " + ".join(f"x{f * items + j + 1}" for j in range(items))
        lines.append(f"F{f + 1} =~ {ind}")
    return "\n".join(lines) + "\n"


def cfa_loadings(rng: np.random.Generator, factors: int,
                 items: int) -> tuple[np.ndarray, np.ndarray]:
    """Simple-structure loadings (uniform 0.5-0.8, drawn from *rng*) and the
    factor correlation matrix (0.3 off the diagonal)."""
    lam = np.zeros((factors * items, factors))
    for f in range(factors):
        lam[f * items:(f + 1) * items, f] = rng.uniform(0.5, 0.8, items)
    return lam, np.full((factors, factors), 0.3) + 0.7 * np.eye(factors)


def cfa_case(factors: int, items: int, n: int, missing: float = 0.0,
             seed: int = 1) -> tuple[str, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    p = factors * items
    lam, phi = cfa_loadings(rng, factors, items)
    sigma = lam @ phi @ lam.T
    sigma[np.diag_indices(p)] = 1.0
    mu = rng.uniform(2.0, 4.0, p)
    x = rng.multivariate_normal(mu, sigma, size=n, method="cholesky")
    if missing > 0:
        drop = rng.random((n, p)) < missing
        drop[drop.all(axis=1)] = False
        x[drop] = np.nan
    cols = [f"x{j + 1}" for j in range(p)]
    return cfa_syntax(factors, items), pd.DataFrame(np.round(x, 6), columns=cols)
