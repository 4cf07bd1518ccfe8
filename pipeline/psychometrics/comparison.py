"""Group comparisons: Mann-Whitney U, Welch's t, chi-square, and multiple-testing adjustment.

Two layers, as everywhere in the project:

* pure functions on numbers -- :func:`mann_whitney` (U, z, p, rank-biserial
  correlation), :func:`chi_square_test` (Pearson's X², df, p -- asymptotic
  or Monte Carlo -- and Cramér's V), :func:`welch_t` (Welch's t with
  Hedges' g, computed by pingouin), :func:`adjust_pvalues` (Holm, Hochberg,
  Hommel, Benjamini-Hochberg, Benjamini-Yekutieli, Bonferroni, computed by
  statsmodels; :func:`p_adjust` is the same function);
* a per-item table on a respondent-level frame, :func:`compare_items`, that
  compares two groups (ACSA vs akimat) item by item and adjusts the p-values
  of the whole family of items.

Definitions
-----------
Mann-Whitney U (R's ``wilcox.test(x, y)``, whose ``W`` is ``U_x``)::

    U_x = R_x - n_x (n_x + 1) / 2              (R_x: sum of mid-ranks of x)
    mu = n_x n_y / 2
    sigma² = n_x n_y / 12 · [(N + 1) - Σ (t³ - t) / (N (N - 1))]   (ties t)
    z = (U_x - mu - c) / sigma,  c = 0.5 · sign(U_x - mu) (continuity)

Exact p-values (R's default when both groups have fewer than 50 values and
there are no ties) come from the exact null distribution of U.

Rank-biserial correlation (Glass 1965; Kerby 2014, "The simple difference
formula", Comprehensive Psychology 3)::

    r_rb = 2 U_x / (n_x n_y) - 1 = P(X > Y) - P(X < Y) = 2 (mean rank_x - mean rank_y) / N

It is Cliff's delta; positive when *x* tends to be larger.  Its confidence
interval is the normal one on Fisher's z scale, as R's ``effectsize``::

    tanh(atanh(r_rb) ± z_(1-a/2) · sqrt((n_x + n_y + 1) / (3 n_x n_y)))

(bounded at -1 / 1 on the untested side of a one-sided alternative).  The
common-language effect size is ``U_x / (n_x n_y) = P(X > Y) + P(X = Y) / 2``.

Chi-square: ``X² = Σ (O - E)² / E`` with ``E = row · col / n``; the Yates
continuity correction on 2 x 2 tables (as R).  Cramér's V =
``sqrt(X² / (n (min(r, c) - 1)))`` from the uncorrected X²; the bias-
corrected V of Bergsma (2013, J. Korean Stat. Soc. 42, 323-328) alongside.
When more than 20% of the expected counts are below 5 (Cochran 1954) the
asymptotic p-value is unreliable: :func:`chi_square_test` warns
(:class:`~pipeline.core.exceptions.SparseTableWarning`), and the Monte Carlo
p-value of Hope (1968) -- R's ``simulate.p.value = TRUE``, random tables
with the observed margins -- is available.

Welch's t and Hedges' g: see :func:`welch_t`.

Adjustment: R's ``p.adjust`` (Holm 1979; Hommel 1988; Hochberg 1988; Benjamini &
Hochberg 1995; Benjamini & Yekutieli 2001), with missing p-values left out
of the family (R's default ``n = length(p[!is.na(p)])``).

In R: ``wilcox.test``, ``t.test(var.equal = FALSE)``, ``chisq.test``, ``p.adjust``;
``effectsize::rank_biserial``, ``rcompanion::cramerV``.
"""
from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from pipeline.core.exceptions import NotEstimableWarning, SparseTableWarning

__all__ = [
    "MannWhitneyResult", "ChiSquareResult", "mann_whitney", "rank_biserial", "rank_biserial_ci",
    "chi_square_test", "cramers_v", "adjust_pvalues", "p_adjust", "P_ADJUST_METHODS",
    "WelchResult", "welch_t", "compare_items",
]

#: Methods of :func:`p_adjust` (R's names).
P_ADJUST_METHODS = ("holm", "hochberg", "hommel", "BH", "BY", "bonferroni", "none")
_ALIASES = {"fdr": "BH", "bh": "BH", "by": "BY"}
_ALTERNATIVES = ("two-sided", "greater", "less")


# ----------------------------------------------------------------- helpers
def _values(x: Any, name: str) -> np.ndarray:
    try:
        a = np.asarray(pd.to_numeric(pd.Series(np.asarray(x, dtype=object).ravel()),
                                     errors="raise"), dtype=float)
    except (ValueError, TypeError):
        raise TypeError(f"{name}: must hold numbers") from None
    a = a[~np.isnan(a)]
    if a.size == 0:
        raise ValueError(f"{name}: has no non-missing values")
    return a


# ------------------------------------------------------------ Mann-Whitney
@dataclass
class MannWhitneyResult:
    """Mann-Whitney U test of *x* against *y*.

    Attributes
    ----------
    statistic : float
        ``U_x`` (R's ``W``).
    pvalue : float
    z : float
        Normal-approximation z with the continuity correction (also given
        when the p-value is exact).
    rank_biserial : float
        ``2 U_x / (n_x n_y) - 1`` in [-1, 1]; positive when x tends to be larger.
    ci_lower, ci_upper : float
        Its confidence interval (:func:`rank_biserial_ci`).
    cles : float
        Common-language effect size ``P(X > Y) + P(X = Y) / 2``.
    n_x, n_y : int
    method : str
        ``"exact"`` or ``"asymptotic"``.
    alternative : str
    ties : bool
    """

    statistic: float
    pvalue: float
    z: float
    rank_biserial: float
    ci_lower: float
    ci_upper: float
    cles: float
    n_x: int
    n_y: int
    method: str
    alternative: str
    ties: bool
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def rank_biserial(u_x: float, n_x: int, n_y: int) -> float:
    """Rank-biserial correlation from ``U_x``: ``2 U_x / (n_x n_y) - 1``.

    Parameters
    ----------
    u_x : float
        Mann-Whitney U of the first group (ties counted one half).
    n_x, n_y : int
        Group sizes (positive).

    Returns
    -------
    float
        In [-1, 1]; equals Cliff's delta ``P(X > Y) - P(X < Y)``.

    In R: ``effectsize::rank_biserial(x, y)``.
    """
    if n_x < 1 or n_y < 1:
        raise ValueError(f"n_x, n_y: must be positive, got {n_x}, {n_y}")
    if not 0 <= u_x <= n_x * n_y:
        raise ValueError(f"u_x: must lie in [0, n_x*n_y] = [0, {n_x * n_y}], got {u_x}")
    return 2.0 * u_x / (n_x * n_y) - 1.0


def rank_biserial_ci(r: float, n_x: int, n_y: int, level: float = 0.95,
                     alternative: str = "two-sided") -> tuple[float, float]:
    """Confidence interval of the rank-biserial correlation (Fisher's z).

    Parameters
    ----------
    r : float
        Rank-biserial correlation in [-1, 1].
    n_x, n_y : int
        Group sizes.
    level : float
        Confidence level in (0, 1).
    alternative : {"two-sided", "greater", "less"}
        One-sided intervals put all of ``1 - level`` on one side and are
        bounded by 1 ("greater") or -1 ("less") on the other.

    Returns
    -------
    (float, float)

    Notes
    -----
    ``SE = sqrt((n_x + n_y + 1) / (3 n_x n_y))`` on the ``atanh`` scale;
    ``r = ±1`` gives the degenerate interval at that bound.

    In R: ``effectsize::rank_biserial(x, y, ci = level)``.
    """
    if not 0 < level < 1:
        raise ValueError(f"level: must lie in (0, 1), got {level!r}")
    if alternative not in _ALTERNATIVES:
        raise ValueError(f"alternative: must be one of {_ALTERNATIVES}, got {alternative!r}")
    if not -1 <= r <= 1:
        raise ValueError(f"r: must lie in [-1, 1], got {r!r}")
    if n_x < 1 or n_y < 1:
        raise ValueError(f"n_x, n_y: must be positive, got {n_x}, {n_y}")
    se = np.sqrt((n_x + n_y + 1) / (3.0 * n_x * n_y))
    with np.errstate(divide="ignore"):
        zr = np.arctanh(r)
    if alternative == "two-sided":
        q = stats.norm.ppf(1 - (1 - level) / 2)
        return float(np.tanh(zr - q * se)), float(np.tanh(zr + q * se))
    q = stats.norm.ppf(level)
    if alternative == "greater":
        return float(np.tanh(zr - q * se)), 1.0
    return -1.0, float(np.tanh(zr + q * se))


def mann_whitney(x: Any, y: Any, *, alternative: str = "two-sided", correct: bool = True,
                 method: str = "auto", ci_level: float = 0.95) -> MannWhitneyResult:
    """Mann-Whitney U (Wilcoxon rank-sum) test with the rank-biserial effect size.

    Parameters
    ----------
    x, y : array-like
        The two samples (NaN dropped).
    alternative : {"two-sided", "greater", "less"}
        ``"greater"``: x tends to be larger than y.
    correct : bool
        Continuity correction of the normal approximation (R's ``correct``).
    method : {"auto", "asymptotic", "exact"}
        ``auto`` follows R: exact when both samples have fewer than 50
        values and there are no ties, asymptotic otherwise.  ``exact`` with
        ties is refused (the exact distribution assumes no ties).
    ci_level : float
        Level of the rank-biserial confidence interval.

    Returns
    -------
    MannWhitneyResult

    Notes
    -----
    Tie-corrected variance ``n_x n_y / 12 [(N+1) - Σ(t³-t)/(N(N-1))]``; the
    continuity correction is ``0.5 sign(U - mu)`` for two-sided tests and
    ``±0.5`` for one-sided ones, exactly as ``stats:::wilcox.test.default``.
    When every value is tied, sigma is 0: the p-value is NaN (with a
    :class:`~pipeline.core.exceptions.NotEstimableWarning`).

    In R: ``wilcox.test(x, y, alternative, correct = TRUE, exact = NULL)``.
    """
    if alternative not in _ALTERNATIVES:
        raise ValueError(f"alternative: must be one of {_ALTERNATIVES}, got {alternative!r}")
    if method not in ("auto", "asymptotic", "exact"):
        raise ValueError(f"method: must be 'auto', 'asymptotic' or 'exact', got {method!r}")
    xv, yv = _values(x, "x"), _values(y, "y")
    nx, ny = xv.size, yv.size
    n = nx + ny
    allv = np.concatenate([xv, yv])
    ranks = stats.rankdata(allv)
    u = float(ranks[:nx].sum() - nx * (nx + 1) / 2.0)
    _, t = np.unique(allv, return_counts=True)
    ties = bool((t > 1).any())
    if method == "exact" and ties:
        raise ValueError("method: 'exact' needs samples without ties; use 'asymptotic'")
    use_exact = method == "exact" or (method == "auto" and nx < 50 and ny < 50 and not ties)
    mu = nx * ny / 2.0
    tie_term = float((t ** 3 - t).sum()) / (n * (n - 1)) if n > 1 else 0.0
    sigma = float(np.sqrt(nx * ny / 12.0 * ((n + 1) - tie_term)))
    if correct:
        cc = {"two-sided": 0.5 * np.sign(u - mu), "greater": 0.5, "less": -0.5}[alternative]
    else:
        cc = 0.0
    msgs: list[str] = []
    if sigma > 0:
        z = float((u - mu - cc) / sigma)
    else:
        z = float("nan")
        msg = "mann_whitney: every value is tied (x and y are one constant); no test is possible"
        warnings.warn(msg, NotEstimableWarning, stacklevel=2)
        msgs.append(msg)
    if use_exact:
        p = float(stats.mannwhitneyu(xv, yv, alternative=alternative, method="exact").pvalue)
    elif np.isnan(z):
        p = float("nan")
    elif alternative == "two-sided":
        p = float(min(1.0, 2.0 * min(stats.norm.cdf(z), stats.norm.sf(z))))
    elif alternative == "greater":
        p = float(stats.norm.sf(z))
    else:
        p = float(stats.norm.cdf(z))
    r = rank_biserial(u, nx, ny)
    lo, hi = rank_biserial_ci(r, nx, ny, ci_level, alternative)
    return MannWhitneyResult(statistic=u, pvalue=p, z=z, rank_biserial=r, ci_lower=lo,
                             ci_upper=hi, cles=u / (nx * ny), n_x=nx, n_y=ny,
                             method="exact" if use_exact else "asymptotic",
                             alternative=alternative, ties=ties, warnings=msgs)


# -------------------------------------------------------------- chi-square
@dataclass
class ChiSquareResult:
    """Pearson's chi-square test of independence of a contingency table.

    Attributes
    ----------
    statistic : float
        X² (Yates-corrected on 2 x 2 tables when ``correct``).
    df : int
    pvalue : float
    method : str
        ``"asymptotic"`` or ``"monte carlo (B = ...)"``.
    cramers_v, cramers_v_corrected : float
        From the uncorrected X²; the second with Bergsma's bias correction.
    n : int
    expected : DataFrame
    share_expected_below_5 : float
    min_expected : float
    dropped : list
        Empty rows/columns removed before the test (labels).
    """

    statistic: float
    df: int
    pvalue: float
    method: str
    cramers_v: float
    cramers_v_corrected: float
    n: int
    expected: pd.DataFrame
    share_expected_below_5: float
    min_expected: float
    dropped: list[Any] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _pearson(obs: np.ndarray, expected: np.ndarray) -> float:
    return float(((obs - expected) ** 2 / expected).sum())


def cramers_v(chisq: float, n: int, n_rows: int, n_cols: int, *, bias_correct: bool = False) -> float:
    """Cramér's V from an (uncorrected) chi-square.

    Parameters
    ----------
    chisq : float
        Pearson's X² without continuity correction.
    n : int
        Table total.
    n_rows, n_cols : int
        Table dimensions (each >= 2).
    bias_correct : bool
        Bergsma (2013): ``phi²~ = max(0, X²/n - (r-1)(c-1)/(n-1))``,
        ``r~ = r - (r-1)²/(n-1)``, ``c~`` likewise,
        ``V~ = sqrt(phi²~ / min(r~-1, c~-1))``.

    Returns
    -------
    float
        In [0, 1].

    In R: ``rcompanion::cramerV(tab, bias.correct = FALSE)``.
    """
    if n_rows < 2 or n_cols < 2:
        raise ValueError(f"n_rows, n_cols: need at least 2 x 2, got {n_rows} x {n_cols}")
    if n < 2:
        raise ValueError(f"n: must be at least 2, got {n}")
    if chisq < 0:
        raise ValueError(f"chisq: must be non-negative, got {chisq}")
    if not bias_correct:
        return float(min(1.0, np.sqrt(chisq / (n * (min(n_rows, n_cols) - 1)))))
    phi2 = max(0.0, chisq / n - (n_rows - 1) * (n_cols - 1) / (n - 1))
    rt = n_rows - (n_rows - 1) ** 2 / (n - 1)
    ct = n_cols - (n_cols - 1) ** 2 / (n - 1)
    den = min(rt - 1, ct - 1)
    return float(min(1.0, np.sqrt(phi2 / den))) if den > 0 else float("nan")


def chi_square_test(table: Any, *, correct: bool = True, simulate: bool = False, B: int = 2000,
                    seed: int | np.random.Generator | None = None) -> ChiSquareResult:
    """Pearson's chi-square test of independence, with Cramér's V.

    Parameters
    ----------
    table : DataFrame or 2-d array of counts
        Rows and columns that are entirely zero are dropped first (R would
        return NaN); at least 2 x 2 must remain.
    correct : bool
        Yates's continuity correction on 2 x 2 tables (R's default).
    simulate : bool
        Monte Carlo p-value from *B* random tables with the observed margins
        (Patefield's algorithm, :class:`scipy.stats.random_table`):
        ``p = (1 + #{X²_b >= X²}) / (B + 1)`` with R's tolerance; X² is
        then uncorrected, as in R.
    B : int
        Number of simulated tables.
    seed : int or Generator, optional
        For the simulation (reproducible).

    Returns
    -------
    ChiSquareResult

    Warns
    -----
    SparseTableWarning
        Asymptotic p-value with more than 20% of the expected counts below 5.

    In R: ``chisq.test(tab, correct = TRUE, simulate.p.value = FALSE, B = 2000)``.
    """
    if isinstance(table, pd.DataFrame):
        df = table.copy()
    else:
        arr = np.asarray(table)
        if arr.ndim != 2:
            raise ValueError(f"table: must be two-dimensional, got {arr.ndim} dimension(s)")
        df = pd.DataFrame(arr)
    try:
        obs = df.apply(pd.to_numeric, errors="raise").to_numpy(dtype=float)
    except (ValueError, TypeError):
        raise ValueError("table: must hold counts (numbers)") from None
    if np.isnan(obs).any() or (obs < 0).any() or not np.allclose(obs, np.round(obs)):
        raise ValueError("table: counts must be non-negative integers without missing values")
    if not isinstance(B, (int, np.integer)) or isinstance(B, bool) or B < 1:
        raise ValueError(f"B: must be a positive integer, got {B!r}")
    keep_r, keep_c = obs.sum(axis=1) > 0, obs.sum(axis=0) > 0
    dropped = [("row", lab) for lab, k in zip(df.index, keep_r) if not k] + \
              [("column", lab) for lab, k in zip(df.columns, keep_c) if not k]
    df = df.loc[keep_r, keep_c]
    obs = obs[np.ix_(keep_r, keep_c)]
    r, c = obs.shape
    if r < 2 or c < 2:
        raise ValueError(f"table: needs at least 2 non-empty rows and columns, has {r} x {c}")
    n = int(round(obs.sum()))
    rs, cs = obs.sum(axis=1), obs.sum(axis=0)
    expected = np.outer(rs, cs) / n
    stat_unc = _pearson(obs, expected)
    if correct and r == 2 and c == 2 and not simulate:
        yates = np.minimum(0.5, np.abs(obs - expected))
        stat = float(((np.abs(obs - expected) - yates) ** 2 / expected).sum())
    else:
        stat = stat_unc
    dof = (r - 1) * (c - 1)
    share5 = float((expected < 5).mean())
    msgs: list[str] = []
    if simulate:
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        tables = stats.random_table(rs.astype(int), cs.astype(int)).rvs(B, random_state=rng)
        sims = (((tables - expected) ** 2) / expected).sum(axis=(1, 2))
        almost1 = 1 - 64 * np.finfo(float).eps
        p = float((1 + np.sum(sims >= almost1 * stat)) / (B + 1))
        method = f"monte carlo (B = {B})"
    else:
        p = float(stats.chi2.sf(stat, dof))
        method = "asymptotic"
        if share5 > 0.2:
            msg = (f"chi_square_test: {share5:.0%} of the expected counts are below 5 "
                   f"(smallest {expected.min():.2f}); the chi-square approximation may be "
                   "incorrect (use simulate=True)")
            warnings.warn(msg, SparseTableWarning, stacklevel=2)
            msgs.append(msg)
    return ChiSquareResult(
        statistic=stat, df=dof, pvalue=p, method=method,
        cramers_v=cramers_v(stat_unc, n, r, c),
        cramers_v_corrected=cramers_v(stat_unc, n, r, c, bias_correct=True), n=n,
        expected=pd.DataFrame(expected, index=df.index, columns=df.columns),
        share_expected_below_5=share5, min_expected=float(expected.min()),
        dropped=dropped, warnings=msgs)


# ------------------------------------------------------------- adjustment
#: R's ``p.adjust`` method names -> ``statsmodels.stats.multitest.multipletests``'s.
_SM_METHODS = {"holm": "holm", "hochberg": "simes-hochberg", "hommel": "hommel",
               "BH": "fdr_bh", "BY": "fdr_by", "bonferroni": "bonferroni"}


def adjust_pvalues(p: Any, method: str = "holm") -> np.ndarray:
    """Adjust p-values for multiple testing (R's ``p.adjust``), computed by statsmodels.

    Parameters
    ----------
    p : array-like of float
        p-values in [0, 1]; NaN values stay NaN and are not counted in the
        family size (R's default ``n = length(p[!is.na(p)])``).
    method : {"holm", "hochberg", "hommel", "BH", "BY", "bonferroni", "none"}
        R's names; ``"fdr"`` is an alias of ``"BH"``.

    Returns
    -------
    ndarray
        Adjusted p-values, in the input order.

    Notes
    -----
    The family of the ``m`` non-missing p-values is passed to
    ``statsmodels.stats.multitest.multipletests`` (methods ``holm``,
    ``simes-hochberg``, ``hommel``, ``fdr_bh``, ``fdr_by``, ``bonferroni``).
    With ``o`` the ascending order and ``i = 1..m``:
    Holm ``cummax((m - i + 1) p_(i))``; Hochberg ``cummin`` from the top of
    ``(m - i + 1) p_(i)``; BH ``cummin`` from the top of ``m / i · p_(i)``;
    BY multiplies BH by ``Σ_{j<=m} 1/j``; Hommel (1988) as R's algorithm;
    all capped at 1.  Measured against R 4.2.2's ``p.adjust`` on four
    vectors (NA, ties, 0/1 edges, 25 random): largest relative difference
    3.3e-15 (tests/reference/comparison_deps.R).

    References
    ----------
    Holm (1979) Scand J Stat 6, 65-70; Hochberg (1988) Biometrika 75,
    800-802; Hommel (1988) Biometrika 75, 383-386; Benjamini & Hochberg
    (1995) JRSS B 57, 289-300; Benjamini & Yekutieli (2001) Ann Stat 29,
    1165-1188.

    In R: ``p.adjust(p, method)``.
    """
    if not isinstance(method, str):
        raise TypeError(f"method: expected a string, got {type(method).__name__}")
    method = _ALIASES.get(method, method)
    if method not in P_ADJUST_METHODS:
        raise ValueError(f"method: must be one of {P_ADJUST_METHODS}, got {method!r}")
    try:
        arr = np.asarray(p, dtype=float).ravel().copy()
    except (ValueError, TypeError):
        raise TypeError("p: must hold numbers") from None
    ok = ~np.isnan(arr)
    if ((arr[ok] < 0) | (arr[ok] > 1)).any():
        raise ValueError("p: p-values must lie in [0, 1]")
    if not ok.any() or method == "none":
        return arr
    from statsmodels.stats.multitest import multipletests

    arr[ok] = multipletests(arr[ok], method=_SM_METHODS[method])[1]
    return arr


#: Former name of :func:`adjust_pvalues` (same function).
p_adjust = adjust_pvalues


# ------------------------------------------------------------------ Welch
@dataclass
class WelchResult:
    """Welch's two-sample t-test of *x* against *y*, with Hedges' g.

    Attributes
    ----------
    statistic : float
        Welch's t.
    df : float
        Welch-Satterthwaite degrees of freedom.
    pvalue : float
    mean_diff : float
        ``mean(x) - mean(y)``.
    ci_lower, ci_upper : float
        Confidence interval of the mean difference (R's ``conf.int``).
    hedges_g : float
        Bias-corrected standardized difference (pooled SD); positive when x
        is larger.
    g_ci_lower, g_ci_upper : float
        Its confidence interval (Hedges & Olkin 1985 standard error).
    cohen_d : float
        Uncorrected ``(mean(x) - mean(y)) / s_pooled`` (signed).
    n_x, n_y : int
    alternative : str
    level : float
    """

    statistic: float
    df: float
    pvalue: float
    mean_diff: float
    ci_lower: float
    ci_upper: float
    hedges_g: float
    g_ci_lower: float
    g_ci_upper: float
    cohen_d: float
    n_x: int
    n_y: int
    alternative: str
    level: float
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def welch_t(x: Any, y: Any, *, alternative: str = "two-sided",
            level: float = 0.95) -> WelchResult:
    """Welch's t-test (unequal variances) with Hedges' g, computed by pingouin.

    Parameters
    ----------
    x, y : array-like
        The two samples (NaN dropped); at least 2 values each.
    alternative : {"two-sided", "greater", "less"}
        ``"greater"``: the mean of x is larger.
    level : float
        Confidence level of both intervals, in (0, 1).

    Returns
    -------
    WelchResult

    Notes
    -----
    ::

        t  = (mean_x - mean_y) / se,   se² = s_x²/n_x + s_y²/n_y
        df = se⁴ / [(s_x²/n_x)² / (n_x - 1) + (s_y²/n_y)² / (n_y - 1)]
        d  = (mean_x - mean_y) / s_p,  s_p² = [(n_x-1) s_x² + (n_y-1) s_y²] / (n_x + n_y - 2)
        g  = d · (1 - 3 / (4 (n_x + n_y) - 9))                      (Hedges 1981)
        SE(g) = sqrt((n_x + n_y) / (n_x n_y) + g² / (2 (n_x + n_y)))  (Hedges & Olkin 1985)
        g CI  = g ± t_(n_x+n_y-2) · SE(g)

    t, df and p come from ``pingouin.ttest(x, y, correction=True)`` (its
    default ``correction="auto"`` is Student's test when the groups have
    equal sizes); g from ``pingouin.compute_effsize(x, y, eftype="hedges")``
    and its interval from ``pingouin.compute_esci``.  The interval of the
    mean difference is ``mean_diff ± t_(df) · se`` here: pingouin rounds its
    ``CI95`` column to 2 decimals, and its ``cohen_d`` column drops the sign.
    One-sided alternatives give one-sided intervals (the other bound
    infinite).  With no variance in either group t is not defined: NaN
    with a :class:`~pipeline.core.exceptions.NotEstimableWarning`.

    Measured against R 4.2.2 on Holzinger & Swineford (1939), Pasteur vs
    Grant-White, x1..x9: t, df, p, g and its interval within 2e-13
    (relative; tests/reference/comparison_deps.R).  The exact correction
    factor ``J = Γ(df/2) / (sqrt(df/2) Γ((df-1)/2))`` differs from the
    approximation by at most 2.1e-7 there (n = 301).

    References
    ----------
    Welch (1947) Biometrika 34, 28-35; Hedges (1981) J Educ Stat 6,
    107-128; Hedges & Olkin (1985) Statistical Methods for Meta-Analysis.

    In R: ``t.test(x, y, var.equal = FALSE, alternative, conf.level = level)``;
    g by hand (``effsize::cohen.d(x, y, hedges.correction = TRUE)``).
    """
    if alternative not in _ALTERNATIVES:
        raise ValueError(f"alternative: must be one of {_ALTERNATIVES}, got {alternative!r}")
    if not isinstance(level, (int, float)) or isinstance(level, bool) or not 0 < level < 1:
        raise ValueError(f"level: must lie in (0, 1), got {level!r}")
    xv, yv = _values(x, "x"), _values(y, "y")
    for name, v in (("x", xv), ("y", yv)):
        if v.size < 2:
            raise ValueError(f"{name}: needs at least 2 non-missing values, has {v.size}")
    nx, ny = xv.size, yv.size
    diff = float(xv.mean() - yv.mean())
    se = float(np.sqrt(xv.var(ddof=1) / nx + yv.var(ddof=1) / ny))
    msgs: list[str] = []
    if se == 0:
        msg = "welch_t: neither group varies; t is not defined"
        warnings.warn(msg, NotEstimableWarning, stacklevel=2)
        nan = float("nan")
        return WelchResult(statistic=nan, df=nan, pvalue=nan, mean_diff=diff, ci_lower=nan,
                           ci_upper=nan, hedges_g=nan, g_ci_lower=nan, g_ci_upper=nan,
                           cohen_d=nan, n_x=nx, n_y=ny, alternative=alternative,
                           level=float(level), warnings=[msg])
    import pingouin as pg

    with warnings.catch_warnings():
        # the Bayes factor pingouin adds (and ignores here) may warn on huge |t|
        warnings.simplefilter("ignore", RuntimeWarning)
        tt = pg.ttest(xv, yv, paired=False, alternative=alternative, correction=True,
                      confidence=level)
    t = float(tt["T"].iloc[0])
    dof = float(tt["dof"].iloc[0])
    p = float(tt["p_val"].iloc[0])
    d = float(pg.compute_effsize(xv, yv, paired=False, eftype="cohen"))
    g = float(pg.compute_effsize(xv, yv, paired=False, eftype="hedges"))
    if alternative == "two-sided":
        q = stats.t.ppf(1 - (1 - level) / 2, dof)
        lo, hi = diff - q * se, diff + q * se
        glo, ghi = (float(v) for v in pg.compute_esci(stat=g, nx=nx, ny=ny, eftype="hedges",
                                                      confidence=level, decimals=20))
    else:
        q = stats.t.ppf(level, dof)
        # a one-sided interval at `level` is one bound of the two-sided one at 2 level - 1
        g2 = [float(v) for v in pg.compute_esci(stat=g, nx=nx, ny=ny, eftype="hedges",
                                                 confidence=2 * level - 1, decimals=20)]
        if alternative == "greater":
            lo, hi, glo, ghi = diff - q * se, np.inf, g2[0], np.inf
        else:
            lo, hi, glo, ghi = -np.inf, diff + q * se, -np.inf, g2[1]
    return WelchResult(statistic=t, df=dof, pvalue=p, mean_diff=diff, ci_lower=float(lo),
                       ci_upper=float(hi), hedges_g=g, g_ci_lower=float(glo),
                       g_ci_upper=float(ghi), cohen_d=d, n_x=nx, n_y=ny,
                       alternative=alternative, level=float(level), warnings=msgs)


# --------------------------------------------------------------- per item
def compare_items(data: pd.DataFrame, items: Sequence[str], group: str, *,
                  groups: Sequence[Any] | None = None,
                  adjust: Sequence[str] = ("holm", "BH"), chisq: bool = True,
                  simulate: str | bool = "auto", B: int = 2000, seed: int | None = None,
                  labels: Mapping[str, str] | None = None, welch: bool = False) -> pd.DataFrame:
    """Compare two groups item by item: Mann-Whitney, chi-square and Welch's t, adjusted.

    Parameters
    ----------
    data : DataFrame
        Respondent-level data with the *items* (ordinal codes) and *group*.
    items : sequence of str
        The family of items; the adjustment runs over all of them.
    group : str
        Column naming each respondent's group.
    groups : pair of labels, optional
        ``(first, second)``; the effect size is positive when the first
        group answers higher.  Default: the two groups in order of
        appearance; an error when there are not exactly two.
    adjust : sequence of str
        :func:`p_adjust` methods; one column ``p_<method>`` each for the
        Mann-Whitney p-values (and ``chisq_p_<method>``).
    chisq : bool
        Also run the chi-square test of the answer distributions (item
        codes x group), with Cramér's V.
    simulate : "auto", True or False
        Monte Carlo chi-square p-values: always, never, or ("auto") only
        where more than 20% of the expected counts are below 5.
    B, seed : int
        Monte Carlo draws and seed (each item gets its own child seed).
    labels : mapping, optional
        Item -> label (a ``label`` column).
    welch : bool
        Also run Welch's t-test with Hedges' g (:func:`welch_t`) next to
        Mann-Whitney; its p-values are adjusted as a family of their own.

    Returns
    -------
    DataFrame
        One row per item: ``item label group1 group2 n1 n2 median1 median2
        mean1 mean2 U z pvalue method rank_biserial rb_ci_lower rb_ci_upper cles
        p_<adj>...`` (95% interval of the rank-biserial correlation) and,
        with *chisq*, ``chisq df chisq_pvalue chisq_method cramers_v
        cramers_v_corrected chisq_p_<adj>...`` and, with *welch*, ``t t_df
        t_pvalue mean_diff md_ci_lower md_ci_upper hedges_g g_ci_lower
        g_ci_upper t_p_<adj>...`` (95% intervals).  Full precision.

    In R: ``sapply(items, function(i) wilcox.test(d[[i]] ~ d$org)$p.value)``,
    then ``p.adjust(p, "holm")``; with *welch*
    ``t.test(d[[i]] ~ d$org, var.equal = FALSE)``.
    """
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"data: expected a DataFrame, got {type(data).__name__}")
    if group not in data.columns:
        raise ValueError(f"group: column {group!r} not in data")
    items = list(items)
    if not items:
        raise ValueError("items: empty")
    missing = [i for i in items if i not in data.columns]
    if missing:
        raise ValueError(f"items: not in data: {missing}")
    present = list(pd.unique(data[group].dropna()))
    if groups is None:
        if len(present) != 2:
            raise ValueError(f"groups: column {group!r} has {len(present)} groups {present}; "
                             "pass the two to compare")
        groups = present
    groups = list(groups)
    if len(groups) != 2:
        raise ValueError(f"groups: need exactly two, got {groups}")
    absent = [g for g in groups if g not in present]
    if absent:
        raise ValueError(f"groups: {absent} not found in column {group!r}")
    if simulate not in ("auto", True, False):
        raise ValueError(f"simulate: must be 'auto', True or False, got {simulate!r}")
    adjust = [_ALIASES.get(a, a) for a in adjust]
    for a in adjust:
        if a not in P_ADJUST_METHODS:
            raise ValueError(f"adjust: unknown method {a!r}; known {P_ADJUST_METHODS}")
    g1, g2 = groups
    seeds = np.random.SeedSequence(seed).spawn(len(items))
    rows = []
    for item, ss in zip(items, seeds):
        try:
            col = pd.to_numeric(data[item], errors="raise").astype(float)
        except (ValueError, TypeError):
            raise ValueError(f"items: column {item!r} is not numeric") from None
        x = col[data[group] == g1].dropna()
        y = col[data[group] == g2].dropna()
        row: dict[str, Any] = {"item": item}
        if labels is not None:
            row["label"] = labels.get(item, "")
        row.update({"group1": g1, "group2": g2, "n1": int(x.size), "n2": int(y.size),
                    "median1": float(x.median()) if x.size else np.nan,
                    "median2": float(y.median()) if y.size else np.nan,
                    "mean1": float(x.mean()) if x.size else np.nan,
                    "mean2": float(y.mean()) if y.size else np.nan})
        if x.size and y.size:
            mw = mann_whitney(x, y)
            row.update({"U": mw.statistic, "z": mw.z, "pvalue": mw.pvalue, "method": mw.method,
                        "rank_biserial": mw.rank_biserial, "rb_ci_lower": mw.ci_lower,
                        "rb_ci_upper": mw.ci_upper, "cles": mw.cles})
        else:
            row.update({"U": np.nan, "z": np.nan, "pvalue": np.nan, "method": "",
                        "rank_biserial": np.nan, "rb_ci_lower": np.nan, "rb_ci_upper": np.nan,
                        "cles": np.nan})
        if welch:
            row.update(_welch_row(x, y))
        if chisq:
            tab = pd.crosstab(col, data[group]).reindex(columns=[g1, g2], fill_value=0)
            try:
                sparse = _share_expected_below_5(tab) > 0.2
                sim = bool(simulate) if simulate != "auto" else sparse
                cs = chi_square_test(tab, simulate=sim, B=B, seed=np.random.default_rng(ss))
                row.update({"chisq": cs.statistic, "df": cs.df, "chisq_pvalue": cs.pvalue,
                            "chisq_method": cs.method, "cramers_v": cs.cramers_v,
                            "cramers_v_corrected": cs.cramers_v_corrected,
                            "share_expected_below_5": cs.share_expected_below_5})
            except ValueError:
                row.update({"chisq": np.nan, "df": np.nan, "chisq_pvalue": np.nan,
                            "chisq_method": "not estimable", "cramers_v": np.nan,
                            "cramers_v_corrected": np.nan, "share_expected_below_5": np.nan})
        rows.append(row)
    out = pd.DataFrame(rows)
    for a in adjust:
        out[f"p_{a}"] = p_adjust(out["pvalue"].to_numpy(dtype=float), a)
    if chisq:
        for a in adjust:
            out[f"chisq_p_{a}"] = p_adjust(out["chisq_pvalue"].to_numpy(dtype=float), a)
    if welch:
        for a in adjust:
            out[f"t_p_{a}"] = p_adjust(out["t_pvalue"].to_numpy(dtype=float), a)
    return out


_WELCH_COLUMNS = {"t": "statistic", "t_df": "df", "t_pvalue": "pvalue", "mean_diff": "mean_diff",
                  "md_ci_lower": "ci_lower", "md_ci_upper": "ci_upper", "hedges_g": "hedges_g",
                  "g_ci_lower": "g_ci_lower", "g_ci_upper": "g_ci_upper"}


def _welch_row(x: pd.Series, y: pd.Series) -> dict[str, float]:
    if x.size < 2 or y.size < 2:
        return {c: np.nan for c in _WELCH_COLUMNS}
    res = welch_t(x, y)
    return {c: getattr(res, a) for c, a in _WELCH_COLUMNS.items()}


def _share_expected_below_5(tab: pd.DataFrame) -> float:
    obs = tab.to_numpy(dtype=float)
    obs = obs[obs.sum(axis=1) > 0][:, obs.sum(axis=0) > 0]
    if obs.size == 0 or obs.sum() == 0:
        return 0.0
    e = np.outer(obs.sum(axis=1), obs.sum(axis=0)) / obs.sum()
    return float((e < 5).mean())
