"""Synthetic data sets of the estimator benchmarks (not a test module).

The same family as :mod:`_cases` (correlated-factor CFAs, ``factors`` x
``items`` indicators, loadings 0.5-0.8, factor correlations 0.3), drawn so
that the robust and categorical estimators have something to do:

* :func:`skewed_case`: continuous items with skewed residuals
  (standardised chi-square(3), skewness 1.6), for MLR / MLM;
* :func:`ordinal_case`: the items cut into ``ncat`` ordered categories at
  item-specific thresholds, for WLSMV;
* :func:`groups_case`: ``groups`` groups of ``n`` cases each, equal
  loadings, intercepts and residual variances, latent means shifted by 0.25
  and factor variances 1.2 in groups 2.. (scalar / strict invariance holds
  in the population), with a group column ``g``; ``skewed=True`` draws the
  skewed residuals of :func:`skewed_case`.

Every generator takes a ``seed``; other seeds give the "hidden" cases of
the same sizes.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from _cases import cfa_syntax


def _loadings(rng, factors: int, items: int) -> np.ndarray:
    lam = np.zeros((factors * items, factors))
    for f in range(factors):
        lam[f * items:(f + 1) * items, f] = rng.uniform(0.5, 0.8, items)
    return lam


def _draw(rng, lam, n, *, mu, skewed: bool, eta_mean=0.0, eta_var=1.0) -> np.ndarray:
    p, k = lam.shape
    phi = np.full((k, k), 0.3 * eta_var) + (1 - 0.3) * eta_var * np.eye(k)
    eta = rng.multivariate_normal(np.full(k, eta_mean), phi, size=n, method="cholesky")
    theta = 1.0 - (lam ** 2).sum(axis=1)              # unit item variances at eta_var = 1
    if skewed:
        e = (rng.chisquare(3, size=(n, p)) - 3.0) / np.sqrt(6.0)
    else:
        e = rng.standard_normal((n, p))
    return mu + eta @ lam.T + e * np.sqrt(theta)


def _frame(x: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(np.round(x, 6), columns=[f"x{j + 1}" for j in range(x.shape[1])])


def skewed_case(factors: int, items: int, n: int, seed: int = 1) -> tuple[str, pd.DataFrame]:
    """CFA data with skewed (chi-square(3)) residuals, N = *n*."""
    rng = np.random.default_rng(seed)
    lam = _loadings(rng, factors, items)
    mu = rng.uniform(2.0, 4.0, factors * items)
    return cfa_syntax(factors, items), _frame(_draw(rng, lam, n, mu=mu, skewed=True))


def ordinal_case(factors: int, items: int, n: int, ncat: int = 5,
                 seed: int = 1) -> tuple[str, pd.DataFrame]:
    """CFA data cut into *ncat* ordered categories (codes 1..ncat), N = *n*.

    Each item's thresholds are the normal quantiles of ``ncat - 1`` sorted
    uniform(0.05, 0.95) draws, so the marginals differ (and are skewed) from
    item to item; every category is observed.
    """
    rng = np.random.default_rng(seed)
    lam = _loadings(rng, factors, items)
    p = factors * items
    while True:
        x = _draw(rng, lam, n, mu=np.zeros(p), skewed=False)
        from pipeline.core.distributions import norm_ppf
        codes = np.empty((n, p), dtype=int)
        for j in range(p):
            tau = np.sort(norm_ppf(rng.uniform(0.05, 0.95, ncat - 1)))
            codes[:, j] = 1 + np.searchsorted(tau, x[:, j])
        if all(len(np.unique(codes[:, j])) == ncat for j in range(p)):
            break
    return cfa_syntax(factors, items), pd.DataFrame(
        codes, columns=[f"x{j + 1}" for j in range(p)])


def groups_case(factors: int, items: int, n: int, groups: int = 2, *, skewed: bool = False,
                seed: int = 1) -> tuple[str, pd.DataFrame]:
    """Multi-group CFA data: *groups* groups of *n* cases, group column ``g``."""
    rng = np.random.default_rng(seed)
    lam = _loadings(rng, factors, items)
    mu = rng.uniform(2.0, 4.0, factors * items)
    parts = []
    for g in range(groups):
        x = _draw(rng, lam, n, mu=mu, skewed=skewed, eta_mean=0.25 * g,
                  eta_var=1.0 + 0.2 * (g > 0))
        d = _frame(x)
        d.insert(0, "g", f"g{g + 1}")
        parts.append(d)
    return cfa_syntax(factors, items), pd.concat(parts, ignore_index=True)
