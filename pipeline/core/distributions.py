"""Normal and chi-square distribution functions without ``scipy.stats``.

The SEM engine needs a handful of tail probabilities and quantiles: the
normal for z tests and intervals, the central chi-square for model tests
and the noncentral chi-square for the RMSEA interval.  ``scipy.stats``
builds every distribution object at import (about 0.3 s of a fit's start-up
on the machines we measured, ``docs/PERFORMANCE.md``); these functions call
the same special functions it calls (``scipy.special``: Cephes ``ndtr``,
``ndtri``, ``chdtrc``, ``chdtri`` and Boost's noncentral chi-square), so
results equal ``scipy.stats`` to the last bit or, for the quantiles, the last
unit in the last place.

Every function accepts scalars or arrays (numpy broadcasting) and returns
what ``scipy.special`` returns (a numpy float or array).

In R: ``pnorm``, ``qnorm``, ``pchisq``, ``qchisq`` (with ``ncp``).
"""
from __future__ import annotations

import numpy as np
from scipy import special

__all__ = ["norm_cdf", "norm_sf", "norm_ppf", "chi2_cdf", "chi2_sf", "chi2_ppf",
           "ncx2_cdf", "ncx2_ncp"]


def norm_cdf(x):
    """Standard normal distribution function, ``Phi(x)``.

    In R: ``pnorm(x)``.
    """
    return special.ndtr(x)


def norm_sf(x):
    """Standard normal upper tail, ``1 - Phi(x)`` computed as ``Phi(-x)``.

    In R: ``pnorm(x, lower.tail = FALSE)``.
    """
    return special.ndtr(np.negative(x))


def norm_ppf(p):
    """Standard normal quantile, ``Phi^-1(p)``.

    In R: ``qnorm(p)``.
    """
    return special.ndtri(p)


def chi2_cdf(x, df):
    """Chi-square distribution function with *df* degrees of freedom.

    In R: ``pchisq(x, df)``.
    """
    return special.chdtr(df, x)


def chi2_sf(x, df):
    """Chi-square upper tail probability (the p-value of a chi-square test).

    In R: ``pchisq(x, df, lower.tail = FALSE)``.
    """
    return special.chdtrc(df, x)


def chi2_ppf(p, df):
    """Chi-square quantile: the *x* with ``chi2_cdf(x, df) = p``.

    In R: ``qchisq(p, df)``.
    """
    return special.chdtri(df, 1.0 - p)


def ncx2_cdf(x, df, ncp):
    """Noncentral chi-square distribution function (central when ``ncp = 0``).

    In R: ``pchisq(x, df, ncp)``.
    """
    return special.chndtr(x, df, ncp)


def ncx2_ncp(x, df, p):
    """The noncentrality ``lambda`` with ``ncx2_cdf(x, df, lambda) = p``.

    Solved by ``scipy.special.chndtrinc`` (a bracketing root search on the
    distribution function, which decreases in ``lambda``); used for the
    RMSEA confidence limits (Browne & Cudeck, 1993).

    In R: ``uniroot(function(l) pchisq(x, df, ncp = l) - p, ...)``, as
    ``lavaan:::lav_fit_rmsea_ci``.
    """
    return special.chndtrinc(x, df, p)
