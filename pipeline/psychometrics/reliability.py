"""Reliability and validity: Cronbach's alpha with Feldt CI and SPSS
"Item-Total Statistics", McDonald's omega total, composite reliability, AVE,
the Fornell-Larcker table and HTMT.

Pure functions work on covariance/correlation matrices and loadings; the
wrappers take respondent data (with a codebook or explicit item lists) or a
fitted :class:`pipeline.sem.SEMResult`.

Missing values: ``missing="pairwise"`` (default, psych's) uses the
pairwise-complete covariance matrix; ``missing="listwise"`` (SPSS's) uses
complete cases only.  The Feldt interval uses the number of complete cases
(listwise) or the smallest pairwise count (pairwise) -- not the number of
rows, which is what pingouin and psych use.  Every result states both.

Problems reported rather than turned into a number:

* a single-item scale: :class:`NotEstimableWarning`, alpha and omega ``None``;
* a two-item scale: alpha, its CI and the item-total statistics are given,
  omega total (which needs a one-factor model of at least three items) is
  NaN with a :class:`NotEstimableWarning`;
* a negative corrected item-total correlation (or a negative alpha):
  :class:`ReverseKeyedItemWarning` naming the item;
* a constant item: :class:`DataValidationError` naming it.

Reverse-keyed items are reflected as ``min_score + max_score - x`` before
anything is computed; they come from the codebook (``Codebook.reverse_keyed``)
or a leading ``-`` in an explicit item list (``["-A1", "A2"]``).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from pipeline.psychometrics.efa import check_items, correlation_matrix, extract, MISSING
from pipeline.core.exceptions import (DataValidationError, NotEstimableWarning,
                         ReverseKeyedItemWarning)

__all__ = [
    "cronbach_alpha", "standardized_alpha", "feldt_ci", "item_total_statistics",
    "omega_total", "schmid_leiman", "omega_hierarchical", "composite_reliability", "average_variance_extracted",
    "fornell_larcker", "htmt", "parse_scale", "reverse_items",
    "ScaleReliability", "ReliabilityResult", "scale_reliability", "reliability",
    "reliability_by_group",
    "reliability_from_codebook", "ValidityResult", "validity_from_sem", "VALIDITY_BASES",
]


# --------------------------------------------------------------------------
# pure functions
# --------------------------------------------------------------------------
def _square(C: Any, name: str) -> np.ndarray:
    A = np.asarray(C.to_numpy() if isinstance(C, pd.DataFrame) else C, dtype=float)
    if A.ndim != 2 or A.shape[0] != A.shape[1]:
        raise ValueError(f"{name} must be a square matrix")
    if not np.all(np.isfinite(A)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return A


def cronbach_alpha(cov: Any) -> float:
    """Cronbach's (1951) alpha from an item covariance matrix C (k items)::

        alpha = k / (k - 1) * (1 - tr(C) / sum(C))

    In R: ``psych::alpha(x)$total$raw_alpha``; SPSS RELIABILITY "Cronbach's Alpha".
    """
    C = _square(cov, "cov")
    k = C.shape[0]
    if k < 2:
        raise ValueError("cov: alpha needs at least 2 items")
    return float(k / (k - 1) * (1.0 - np.trace(C) / C.sum()))


def standardized_alpha(R: Any) -> float:
    """Alpha of standardized items, ``k rbar / (1 + (k - 1) rbar)`` with rbar the
    mean inter-item correlation, i.e. ``k/(k-1) (1 - k / sum(R))``.

    In R: ``psych::alpha(x)$total$std.alpha``; SPSS "Cronbach's Alpha Based on
    Standardized Items".
    """
    A = _square(R, "R")
    k = A.shape[0]
    if k < 2:
        raise ValueError("R: alpha needs at least 2 items")
    return float(k / (k - 1) * (1.0 - k / A.sum()))


def feldt_ci(alpha: float, n: int, k: int, level: float = 0.95) -> tuple[float, float]:
    """Feldt (1965) confidence interval for alpha.

    ``(1 - alpha) / (1 - alpha_pop) ~ F(n - 1, (n - 1)(k - 1))``, so with
    ``F_q`` the F quantiles::

        lower = 1 - (1 - alpha) F_{1 - a/2},  upper = 1 - (1 - alpha) F_{a/2}

    References: Feldt (1965) Psychometrika 30, 357-370; Feldt, Woodruff &
    Salih (1987) Appl Psychol Meas 11, 93-103.

    In R: ``psych::alpha.ci(alpha, n.obs = n, n.var = k)``.
    """
    if not isinstance(n, (int, np.integer)) or n < 2:
        raise ValueError(f"n must be an integer >= 2, not {n!r}")
    if not isinstance(k, (int, np.integer)) or k < 2:
        raise ValueError(f"k must be an integer >= 2, not {k!r}")
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), not {level!r}")
    a = 1 - level
    df1, df2 = n - 1, (n - 1) * (k - 1)
    lower = 1 - (1 - alpha) * stats.f.ppf(1 - a / 2, df1, df2)
    upper = 1 - (1 - alpha) * stats.f.ppf(a / 2, df1, df2)
    return float(lower), float(upper)


def item_total_statistics(cov: Any, means: Sequence[float] | None = None,
                          items: Sequence[str] | None = None) -> pd.DataFrame:
    """SPSS "Item-Total Statistics" from the item covariance matrix.

    For item i, with ``C_-i`` the covariance matrix without i and
    ``c_i = sum_j!=i C_ij``:

    * ``scale_mean_if_deleted`` = sum of the other item means;
    * ``scale_var_if_deleted`` = ``sum(C_-i)``;
    * ``r_drop`` (corrected item-total correlation) = ``c_i / sqrt(C_ii sum(C_-i))``;
    * ``smc`` (squared multiple correlation) = ``1 - 1/(R^-1)_ii``;
    * ``alpha_if_deleted`` = ``cronbach_alpha(C_-i)``;
    * ``std_alpha_if_deleted`` = ``standardized_alpha(R_-i)``.

    In R: ``psych::alpha(x)$item.stats$r.drop`` and ``$alpha.drop``.
    """
    C = _square(cov, "cov")
    k = C.shape[0]
    if k < 2:
        raise ValueError("cov: item-total statistics need at least 2 items")
    names = list(items) if items is not None else (
        [str(c) for c in cov.columns] if isinstance(cov, pd.DataFrame)
        else [f"V{i + 1}" for i in range(k)])
    sd = np.sqrt(np.diag(C))
    R = C / np.outer(sd, sd)
    rows = []
    try:
        smc_v = 1.0 - 1.0 / np.diag(np.linalg.inv(R))
    except np.linalg.LinAlgError:
        smc_v = np.full(k, np.nan)
    for i in range(k):
        keep = [j for j in range(k) if j != i]
        Cd = C[np.ix_(keep, keep)]
        v_drop = Cd.sum()
        c_i = C[i, keep].sum()
        rows.append({
            "item": names[i],
            "scale_mean_if_deleted": (np.nan if means is None
                                      else float(np.sum(np.asarray(means)[keep]))),
            "scale_var_if_deleted": float(v_drop),
            "r_drop": float(c_i / np.sqrt(C[i, i] * v_drop)),
            "smc": float(smc_v[i]),
            "alpha_if_deleted": cronbach_alpha(Cd) if k > 2 else np.nan,
            "std_alpha_if_deleted": (standardized_alpha(R[np.ix_(keep, keep)])
                                     if k > 2 else np.nan),
        })
    return pd.DataFrame(rows).set_index("item")


def omega_total(R: Any, communalities: Sequence[float]) -> float:
    """McDonald's omega total from a factor solution of the (keyed) correlations.

    ``omega_t = 1 - sum(1 - h2) / sum(R)``: the share of the variance of the
    unit-weighted sum score that is common variance.  Communalities h2 are
    invariant to rotation and to the Schmid-Leiman transformation, so this
    equals psych's ``omega.tot`` for the same number of factors.

    References: McDonald (1999) *Test theory*, ch. 6; Revelle & Zinbarg (2009)
    Psychometrika 74.

    In R: ``psych::omega(x, nfactors, fm = "minres", flip = FALSE)$omega.tot``.
    """
    A = _square(R, "R")
    h2 = np.asarray(communalities, dtype=float)
    if h2.shape != (A.shape[0],):
        raise ValueError("communalities must have one value per item of R")
    return float(1.0 - np.sum(np.diag(A) - h2) / A.sum())


def schmid_leiman(R: Any, n_factors: int, method: str = "minres") -> dict[str, Any]:
    """Schmid-Leiman (1957) bifactor transformation, as ``psych::schmid``.

    A *method* solution with *n_factors* factors is rotated by varimax, then
    by (unnormalised) oblimin, giving loadings F and factor correlations Phi;
    a one-factor *method* solution of Phi gives the general loadings ``b``
    (for two factors ``b = (sqrt|phi|, sign(phi) sqrt|phi|)``, psych's
    ``option = "equal"``).  General-factor loadings of the items: ``F b``;
    group loadings ``F_j sqrt(1 - b_j^2)``.

    In R: ``psych::schmid(R, nfactors, fm = method)``.

    Returns
    -------
    dict with ``g`` (item loadings on the general factor), ``group``
    (p x k), ``h2``, ``u2``, ``gload`` (b), ``phi``.
    """
    from pipeline.psychometrics.efa import extract, factor_analysis, oblimin
    A = _square(R, "R")
    if not isinstance(n_factors, (int, np.integer)) or n_factors < 2:
        raise ValueError(f"n_factors must be an integer >= 2, not {n_factors!r}")
    orth = factor_analysis(A, n_factors, method, "varimax").loadings.to_numpy()
    F, _, phi, _ok = oblimin(orth)
    if n_factors > 2:
        b = extract(phi, 1, method)["loadings"][:, 0]
    else:
        r = phi[0, 1]
        b = np.array([np.sqrt(abs(r)), np.sign(r) * np.sqrt(abs(r))])
    g = F @ b
    h2 = (orth ** 2).sum(1)
    group = np.sign(F) * np.sqrt(np.clip(F ** 2 - (F * b) ** 2, 0, None))
    return {"g": g, "group": group, "h2": h2, "u2": np.diag(A) - h2, "gload": b, "phi": phi}


def omega_hierarchical(R: Any, n_factors: int = 3, method: str = "minres") -> dict[str, float]:
    """McDonald's omega hierarchical and omega total from a Schmid-Leiman
    solution (no item flipping: key reverse-scored items first)::

        omega_h = (sum g)^2 / sum(R),   omega_t = 1 - sum(u2) / sum(R)

    Reference: Zinbarg, Revelle, Yovel & Li (2005) Psychometrika 70, 123-133.

    In R: ``psych::omega(x, nfactors, fm = method, flip = FALSE)`` (``$omega_h``,
    ``$omega.tot``).
    """
    A = _square(R, "R")
    sl = schmid_leiman(A, n_factors, method)
    Vt = A.sum()
    return {"omega_h": float(sl["g"].sum() ** 2 / Vt),
            "omega_total": float(1.0 - sl["u2"].sum() / Vt),
            "omega_limit": float(sl["g"].sum() ** 2 / (Vt - sl["u2"].sum()))}


def composite_reliability(loadings: Sequence[float], residual_variances: Sequence[float],
                          factor_variance: float = 1.0,
                          total_variance: float | None = None) -> float:
    """Composite (construct) reliability of a congeneric factor::

        CR = (sum lambda)^2 psi / ((sum lambda)^2 psi + sum theta)

    What it equals depends on what is passed:

    * standardized loadings and residual variances (``std.all``, psi = 1):
      the Fornell & Larcker (1981) formula on the standardized solution, as
      most SEM textbooks and AMOS plug-ins print it.  This is **not**
      ``semTools::compRelSEM``: it weights every indicator by its own
      standard deviation (differences in the third decimal are usual);
    * unstandardized loadings, residual variances and factor variance psi:
      Raykov's (1997) omega of the unit-weighted sum score with the
      model-implied variance, ``semTools::compRelSEM(fit, obs.var = FALSE)``
      (no residual covariances among the indicators);
    * the same with *total_variance*, the sum of the observed covariance
      matrix of the indicators: ``semTools::compRelSEM(fit)`` (its default
      ``obs.var = TRUE``).

    References: Fornell, C., & Larcker, D. F. (1981). *J Marketing Res*, 18,
    39-50; Raykov, T. (1997). *Appl Psychol Meas*, 21, 173-184.

    In R: ``semTools::compRelSEM(fit, obs.var = FALSE)`` for unstandardized
    input (``obs.var = TRUE`` with *total_variance*); for ``std.all`` input
    ``sum(l)^2 / (sum(l)^2 + sum(1 - l^2))`` by hand.
    """
    lam = np.asarray(loadings, dtype=float)
    th = np.asarray(residual_variances, dtype=float)
    if lam.shape != th.shape or lam.ndim != 1 or len(lam) == 0:
        raise ValueError("loadings and residual_variances must be equal-length 1-D sequences")
    common = lam.sum() ** 2 * factor_variance
    denom = common + th.sum() if total_variance is None else float(total_variance)
    return float(common / denom)


def average_variance_extracted(loadings: Sequence[float], residual_variances: Sequence[float],
                               factor_variance: float = 1.0,
                               observed_variances: Sequence[float] | None = None) -> float:
    """Average variance extracted (Fornell & Larcker 1981)::

        AVE = psi sum lambda^2 / (psi sum lambda^2 + sum theta)

    With standardized input (``std.all``) this is the mean squared
    standardized loading, Fornell & Larcker's formula.  With unstandardized
    loadings and factor variance it is ``semTools::AVE(fit, obs.var =
    FALSE)``; pass *observed_variances* to divide by the observed indicator
    variances instead (``semTools::AVE(fit)``, its default).

    In R: ``semTools::AVE(fit, obs.var = FALSE)`` (``obs.var = TRUE`` with
    *observed_variances*); ``mean(l^2)`` for standardized loadings.
    """
    lam = np.asarray(loadings, dtype=float)
    th = np.asarray(residual_variances, dtype=float)
    if lam.shape != th.shape or lam.ndim != 1 or len(lam) == 0:
        raise ValueError("loadings and residual_variances must be equal-length 1-D sequences")
    common = float((lam ** 2).sum() * factor_variance)
    denom = common + th.sum() if observed_variances is None else float(np.sum(observed_variances))
    return common / denom


def fornell_larcker(ave: Mapping[str, float] | pd.Series,
                    latent_correlations: pd.DataFrame) -> pd.DataFrame:
    """Fornell-Larcker table: sqrt(AVE) on the diagonal, latent correlations
    below it; discriminant validity holds for a construct when its sqrt(AVE)
    exceeds all its correlations.

    Reference: Fornell & Larcker (1981) J Marketing Res 18, 39-50.

    In R: ``sqrt(semTools::AVE(fit))`` against ``lavInspect(fit, "cor.lv")``.
    """
    ave = pd.Series(ave, dtype=float)
    names = list(ave.index)
    Phi = latent_correlations.loc[names, names].to_numpy(dtype=float)
    T = np.tril(Phi, -1)
    T[np.triu_indices_from(T, 1)] = np.nan
    np.fill_diagonal(T, np.sqrt(ave.to_numpy()))
    return pd.DataFrame(T, index=names, columns=names)


def htmt(R: pd.DataFrame, constructs: Mapping[str, Sequence[str]],
         geometric: bool = True, absolute: bool = True) -> pd.DataFrame:
    """Heterotrait-monotrait ratio of correlations (Henseler, Ringle &
    Sarstedt 2015)::

        HTMT_ij = mean(r heterotrait i-j) / sqrt(mean(r monotrait i) mean(r monotrait j))

    with arithmetic means, or geometric means for HTMT2 (Roemer, Schuberth &
    Henseler 2021; the default, as semTools).  Monotrait means use the
    off-diagonal correlations within a construct; a single-indicator
    construct has no monotrait correlation and gives NaN.

    In R: ``semTools::htmt(model, data, htmt2 = TRUE)`` (``htmt2 = FALSE`` for
    arithmetic means).
    """
    if not isinstance(R, pd.DataFrame):
        raise TypeError("R must be a DataFrame of correlations with item names")
    names = list(constructs)
    A = R.abs() if absolute else R
    mean = (lambda v: float(np.exp(np.mean(np.log(v))))) if geometric else (
        lambda v: float(np.mean(v)))
    mono = {}
    for c in names:
        its = list(constructs[c])
        sub = A.loc[its, its].to_numpy()
        vals = sub[np.triu_indices(len(its), 1)]
        mono[c] = mean(vals) if len(vals) else np.nan
    out = pd.DataFrame(np.eye(len(names)), index=names, columns=names)
    for a in range(len(names)):
        for b in range(a + 1, len(names)):
            het = A.loc[list(constructs[names[a]]), list(constructs[names[b]])].to_numpy().ravel()
            v = mean(het) / np.sqrt(mono[names[a]] * mono[names[b]])
            out.iloc[a, b] = out.iloc[b, a] = v
    return out


# --------------------------------------------------------------------------
# scales and reversal
# --------------------------------------------------------------------------
def parse_scale(spec: str | Sequence[str]) -> tuple[list[str], list[str]]:
    """``"-A1,A2,A3"`` or ``["-A1", "A2"]`` -> (items, reverse-keyed items).

    In R: the ``keys`` convention of ``psych::make.keys`` / ``scoreItems``.
    """
    parts = spec.split(",") if isinstance(spec, str) else list(spec)
    items, rev = [], []
    for p in (s.strip() for s in parts):
        if not p:
            continue
        if p.startswith("-"):
            p = p[1:].strip()
            rev.append(p)
        items.append(p)
    if not items:
        raise ValueError(f"scale specification {spec!r} names no items")
    return items, rev


def reverse_items(data: pd.DataFrame, reverse: Iterable[str], min_score: float,
                  max_score: float) -> pd.DataFrame:
    """Reflect reverse-keyed items: ``x -> min_score + max_score - x``.

    Values outside [min_score, max_score] are an error (a wrong range would
    silently produce nonsense).

    In R: ``psych::reverse.code(keys, x, mini, maxi)``.
    """
    out = data.copy()
    if not max_score > min_score:
        raise ValueError(f"max_score ({max_score}) must exceed min_score ({min_score})")
    for c in reverse:
        v = out[c]
        bad = np.flatnonzero(((v < min_score) | (v > max_score)).to_numpy())
        if len(bad):
            raise DataValidationError(
                f"value {v.iloc[bad[0]]:g} outside the response range "
                f"{min_score:g}-{max_score:g} used for reversal",
                columns=[c], rows=[int(i) + 2 for i in bad])
        out[c] = min_score + max_score - v
    return out


# --------------------------------------------------------------------------
# results
# --------------------------------------------------------------------------
@dataclass
class ScaleReliability:
    """Reliability of one scale."""
    name: str
    items: list[str]
    reverse: list[str]
    missing: str
    n: int
    n_rows: int
    alpha: float | None
    alpha_std: float | None
    ci_lower: float | None
    ci_upper: float | None
    omega: float | None
    average_r: float | None
    item_stats: pd.DataFrame
    status: str = "ok"
    level: float = 0.95
    warnings: list[str] = field(default_factory=list)
    #: (min, max, source) used to reflect reverse-keyed items, or None
    reversal: tuple[float, float, str] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"reversal": None if self.reversal is None else
                {"min": self.reversal[0], "max": self.reversal[1], "source": self.reversal[2]},
            "alpha": self.alpha, "alpha_std": self.alpha_std,
            "ci_lower": self.ci_lower, "ci_upper": self.ci_upper, "n": self.n,
            "omega": _f(self.omega),
            "items": [{"item": i, "r_drop": _f(r.get("r_drop")),
                       "alpha_if_deleted": _f(r.get("alpha_if_deleted")),
                       "reversed": i in self.reverse}
                      for i, r in self.item_stats.to_dict("index").items()],
            "n_rows": self.n_rows, "missing": self.missing, "status": self.status,
            "n_items": len(self.items), "reverse": list(self.reverse),
            "average_r": self.average_r, "ci_level": self.level,
            "warnings": list(self.warnings),
        }

    def to_frame(self) -> pd.DataFrame:
        """SPSS "Item-Total Statistics" table of this scale."""
        return self.item_stats.copy()

    def summary(self) -> str:
        head = (f"{self.name}: {len(self.items)} item(s), n = {self.n} "
                f"({self.missing}; {self.n_rows} rows)")
        if self.status != "ok":
            return head + f" -- {self.status}"
        lines = [head,
                 f"  alpha = {_fmt3(self.alpha)} (standardized {_fmt3(self.alpha_std)}), "
                 f"{self.level:.0%} Feldt CI [{_fmt3(self.ci_lower)}, {_fmt3(self.ci_upper)}], "
                 f"omega total = {_fmt3(self.omega)}",
                 self.item_stats.round(3).to_string()]
        if self.reversal is not None:
            lines.append(f"  reversed {', '.join(self.reverse)} as {self.reversal[0]:g} + "
                         f"{self.reversal[1]:g} - x ({self.reversal[2]})")
        lines += [f"  WARNING: {w}" for w in self.warnings]
        return "\n".join(lines)


def _f(v: Any) -> float | None:
    return None if v is None or (isinstance(v, float) and not np.isfinite(v)) else float(v)


def _fmt3(v: Any) -> str:
    """Three decimals, or ``n/a`` for a statistic that is not estimable (None, NaN)."""
    return "n/a" if _f(v) is None else f"{float(v):.3f}"


@dataclass
class ReliabilityResult:
    """Reliability of several scales."""
    scales: dict[str, ScaleReliability]
    missing: str
    #: alpha at or above this is reported as acceptable (Nunnally's .70 by default)
    threshold: float = 0.7

    def to_dict(self) -> dict[str, Any]:
        """The JSON of ``python -m pipeline reliability``."""
        return {"missing": self.missing, "alpha_threshold": self.threshold,
                "scales": {k: v.to_dict() for k, v in self.scales.items()}}

    def to_frame(self) -> pd.DataFrame:
        rows = [{"scale": s.name, "n_items": len(s.items), "n": s.n, "missing": s.missing,
                 "alpha": s.alpha, "alpha_std": s.alpha_std, "ci_lower": s.ci_lower,
                 "ci_upper": s.ci_upper, "omega": s.omega, "status": s.status,
                 "alpha_ok": None if s.alpha is None else bool(s.alpha >= self.threshold)}
                for s in self.scales.values()]
        return pd.DataFrame(rows).set_index("scale")

    def item_total(self) -> pd.DataFrame:
        """Every scale's item-total statistics stacked (scale, item)."""
        return pd.concat({k: v.item_stats for k, v in self.scales.items()},
                         names=["scale", "item"])

    def summary(self) -> str:
        return "\n\n".join(s.summary() for s in self.scales.values())


# --------------------------------------------------------------------------
# wrappers on data
# --------------------------------------------------------------------------
def scale_reliability(data: pd.DataFrame, items: Sequence[str], reverse: Iterable[str] = (),
                      *, name: str = "scale", missing: str = "pairwise",
                      min_score: float | None = None, max_score: float | None = None,
                      omega_factors: int = 1, level: float = 0.95,
                      file: str | None = None) -> ScaleReliability:
    """Alpha, Feldt CI, item-total statistics and omega total of one scale.

    Reverse-keyed items are reflected with ``min_score + max_score - x``
    (default: the smallest and largest answer among the scale's items, as
    psych does).  Omega total comes from a minres solution with
    *omega_factors* factors (1 for short unidimensional scales).

    In R: ``psych::alpha(x, keys = reverse)``;
    ``psych::omega(x_keyed, nfactors = 1, flip = FALSE)$omega.tot``.
    """
    if missing not in MISSING:
        raise ValueError(f"missing must be 'pairwise' or 'listwise', not {missing!r}")
    items = list(items)
    reverse = [r for r in reverse]
    unknown = [r for r in reverse if r not in items]
    if unknown:
        raise ValueError(f"reverse names item(s) not in the scale: {', '.join(unknown)}")
    X = check_items(data, items, file=file)
    n_rows = len(X)
    if len(items) == 1:
        msg = (f"scale {name!r} has a single item ({items[0]}): alpha, omega and "
               "item-total statistics are not estimable")
        warnings.warn(msg, NotEstimableWarning, stacklevel=2)
        n1 = int(X[items[0]].notna().sum())
        return ScaleReliability(name, items, reverse, missing, n1, n_rows, None, None,
                                None, None, None, None,
                                pd.DataFrame(index=pd.Index(items, name="item")),
                                status="not estimable (single item)", level=level,
                                warnings=[msg])
    if reverse:
        lo = float(np.nanmin(X.to_numpy())) if min_score is None else float(min_score)
        hi = float(np.nanmax(X.to_numpy())) if max_score is None else float(max_score)
        X = reverse_items(X, reverse, lo, hi)
        reversal = (lo, hi, "given" if min_score is not None and max_score is not None
                    else "observed range of the scale's answers")
    else:
        reversal = None
    cd = correlation_matrix(X, items, missing, file=file)
    if missing == "listwise":
        Xu = X.dropna()
        means = Xu.mean().to_numpy()
    else:
        means = X.mean().to_numpy()
    C = cd.cov.to_numpy()
    sd = np.sqrt(np.diag(C))
    # standardized alpha from cov2cor(C), as psych::alpha (under pairwise
    # deletion this differs slightly from the pairwise correlation matrix)
    Rc = C / np.outer(sd, sd)
    R = cd.R.to_numpy()
    k = len(items)
    a = cronbach_alpha(C)
    a_std = standardized_alpha(Rc)
    lo_ci, hi_ci = feldt_ci(a, cd.n, k, level)
    its = item_total_statistics(C, means, items)
    its.insert(0, "mean", means)
    its.insert(1, "sd", np.sqrt(np.diag(C)))
    warn_list = []
    if k >= 3 and omega_factors < k - 1:
        omega = omega_total(R, extract(R, omega_factors, "minres")["communalities"])
    else:
        omega = float("nan")
        msg = (f"scale {name!r}: omega total is not estimable with {k} items and "
               f"{omega_factors} factor(s) (a {omega_factors}-factor model needs at least "
               f"{omega_factors + 2} items); alpha and item-total statistics are given")
        warnings.warn(msg, NotEstimableWarning, stacklevel=2)
        warn_list.append(msg)
    neg = [i for i, v in its["r_drop"].items() if v < 0]
    for i in neg:
        msg = (f"scale {name!r}: item {i} has a negative corrected item-total correlation "
               f"({its.loc[i, 'r_drop']:.3f}); is it reverse-keyed and left unreversed "
               "(or reversed twice)?")
        warnings.warn(msg, ReverseKeyedItemWarning, stacklevel=2)
        warn_list.append(msg)
    if a < 0:
        msg = (f"scale {name!r}: alpha is negative ({a:.3f}); the items are not keyed in "
               "one direction, so alpha is not a reliability here")
        warnings.warn(msg, ReverseKeyedItemWarning, stacklevel=2)
        warn_list.append(msg)
    avg_r = float((Rc.sum() - k) / (k * (k - 1)))
    return ScaleReliability(name, items, reverse, missing, cd.n, n_rows, a, a_std,
                            lo_ci, hi_ci, omega, avg_r, its, level=level,
                            warnings=warn_list, reversal=reversal)


def reliability(data: pd.DataFrame, scales: Mapping[str, str | Sequence[str]], *,
                missing: str = "pairwise", min_score: float | None = None,
                max_score: float | None = None, reverse: Iterable[str] = (),
                level: float = 0.95, threshold: float = 0.7, omega_factors: int = 1,
                file: str | None = None) -> ReliabilityResult:
    """Reliability of several scales given as ``{name: "-A1,A2,A3"}`` or
    ``{name: ["-A1", "A2"]}`` (a leading '-' marks a reverse-keyed item;
    *reverse* adds more reverse-keyed item names, e.g. from a codebook).
    *threshold* marks alpha as acceptable in ``to_frame()`` (0.7 is
    Nunnally's convention; a study's settings may name another).

    In R: ``psych::alpha`` per scale.
    """
    extra = set(reverse)
    out = {}
    for name, spec in scales.items():
        items, rev = parse_scale(spec)
        rev = rev + [i for i in items if i in extra and i not in rev]
        out[name] = scale_reliability(data, items, rev, name=name, missing=missing,
                                      min_score=min_score, max_score=max_score,
                                      level=level, omega_factors=omega_factors, file=file)
    return ReliabilityResult(out, missing, float(threshold))


def reliability_by_group(data: pd.DataFrame, scales: Mapping[str, str | Sequence[str]],
                         group: str, **kwargs: Any) -> dict[Any, ReliabilityResult]:
    """:func:`reliability` within each group of *group* (e.g. an
    organization column).  An item that is constant within one group is an error naming
    the item and the group."""
    if group not in data.columns:
        raise ValueError(f"group: no column {group!r} in the data")
    out = {}
    for g, sub in data.groupby(group, sort=True, dropna=False):
        try:
            out[g] = reliability(sub, scales, **kwargs)
        except DataValidationError as exc:
            err = DataValidationError(f"within {group} = {g!r}: {exc}")
            err.file, err.columns, err.rows = exc.file, exc.columns, exc.rows
            raise err from None
    return out


def reliability_from_codebook(data: pd.DataFrame, codebook: Any, *,
                              missing: str = "pairwise",
                              constructs: Sequence[str] | None = None,
                              file: str | None = None, **kwargs: Any) -> ReliabilityResult:
    """Reliability of every construct of a :class:`pipeline.data.codebook.Codebook`
    (``codebook.constructs``, ``codebook.reverse_keyed``; the response range
    for reversal from the items' codes)."""
    cons = dict(codebook.constructs)
    if constructs is not None:
        cons = {c: cons[c] for c in constructs}
    rev = set(getattr(codebook, "reverse_keyed", ()) or ())
    lo = hi = None
    codes = []
    for its in cons.values():
        for i in its:
            var = getattr(codebook, "variables", {}).get(i)
            c = getattr(var, "codes", None) if var is not None else None
            if c:
                codes += [float(k) for k in (c.keys() if isinstance(c, Mapping) else c)]
    if codes:
        lo, hi = min(codes), max(codes)
    return reliability(data, {k: list(v) for k, v in cons.items()}, missing=missing,
                       min_score=lo, max_score=hi, reverse=rev, file=file, **kwargs)


# --------------------------------------------------------------------------
# validity from a fitted CFA
# --------------------------------------------------------------------------
@dataclass
class ValidityResult:
    """Composite reliability, AVE, Fornell-Larcker and HTMT of a CFA."""
    table: pd.DataFrame            # construct x (n_items, cr, ave, sqrt_ave, max_r)
    fornell_larcker: pd.DataFrame
    latent_correlations: pd.DataFrame
    htmt: pd.DataFrame | None
    basis: str = "std.all"

    def to_frame(self) -> pd.DataFrame:
        return self.table.copy()

    def to_dict(self) -> dict[str, Any]:
        return {"basis": self.basis,
                "constructs": {k: {c: _f(v) for c, v in row.items()}
                               for k, row in self.table.to_dict("index").items()},
                "fornell_larcker": self.fornell_larcker.to_numpy().tolist(),
                "htmt": None if self.htmt is None else self.htmt.to_numpy().tolist(),
                "names": list(self.table.index)}

    def summary(self) -> str:
        parts = ["Composite reliability and AVE (" + self.basis + "):",
                 self.table.round(3).to_string(),
                 "Fornell-Larcker (sqrt(AVE) on the diagonal):",
                 self.fornell_larcker.round(3).to_string()]
        if self.htmt is not None:
            parts += ["HTMT2:", self.htmt.round(3).to_string()]
        return "\n".join(parts)


def _latent_covariances(pt: pd.DataFrame, latents: list[str]) -> pd.DataFrame:
    """Model-implied latent covariances ``(I - B)^-1 Psi (I - B)^-T`` (``est``)."""
    m = len(latents)
    idx = {l: i for i, l in enumerate(latents)}
    B = np.zeros((m, m))
    Psi = np.zeros((m, m))
    for r in pt.itertuples(index=False):
        lhs, op, rhs, est = r.lhs, r.op, r.rhs, float(r.est)
        if lhs in idx and rhs in idx:
            if op == "~":
                B[idx[lhs], idx[rhs]] = est
            elif op == "~~":
                Psi[idx[lhs], idx[rhs]] = Psi[idx[rhs], idx[lhs]] = est
    IB = np.linalg.inv(np.eye(m) - B)
    return pd.DataFrame(IB @ Psi @ IB.T, index=latents, columns=latents)


def _latent_correlations(pt: pd.DataFrame, latents: list[str]) -> pd.DataFrame:
    """Model-implied latent correlations from the parameter table:
    ``(I - B)^-1 Psi (I - B)^-T`` with B the latent regressions."""
    V = _latent_covariances(pt, latents).to_numpy()
    d = np.sqrt(np.diag(V))
    return pd.DataFrame(V / np.outer(d, d), index=latents, columns=latents)


#: The CR/AVE definitions of :func:`validity_from_sem`.
VALIDITY_BASES = ("std.all", "semTools", "semTools.implied")


def validity_from_sem(result: Any, basis: str = "std.all") -> ValidityResult:
    """CR, AVE, Fornell-Larcker and HTMT from a fitted CFA / SEM.

    *basis* chooses the CR/AVE formula (loadings ``=~`` and residual
    variances ``x ~~ x`` of each construct's indicators, from
    ``result.parameters`` with lavaan's columns ``lhs op rhs est std.all``):

    ``"std.all"`` (default)
        Fornell & Larcker (1981) on the standardized solution::

            CR  = (sum l)^2 / ((sum l)^2 + sum(1 - l^2)),   AVE = mean(l^2)

        with ``l`` the ``std.all`` loadings and ``1 - l^2`` their ``std.all``
        residual variances.  This is the coefficient most validity tables
        print; it is **not** what semTools computes.
    ``"semTools"``
        ``semTools::compRelSEM(fit)`` and ``semTools::AVE(fit)`` (their
        default ``obs.var = TRUE``): unstandardized loadings and the
        model-implied factor variance ``psi`` over the *observed* variance
        of the indicators (``result.sample_cov``)::

            CR  = (sum lambda)^2 psi / 1'S1,   AVE = psi sum lambda^2 / tr(S)
    ``"semTools.implied"``
        ``compRelSEM(fit, obs.var = FALSE)``, ``AVE(fit, obs.var = FALSE)``:
        the same numerators over the model-implied variances
        (``(sum lambda)^2 psi + sum theta + 2 sum theta_ij`` for CR).

    Latent correlations are model-implied (so they also exist for structural
    models; an endogenous factor's variance is its total variance).  HTMT
    uses ``result.sample_cov`` when the result has it.  Indicators that load
    on several constructs are counted with each (the formulas assume simple
    structure).

    References: Fornell, C., & Larcker, D. F. (1981). *J Marketing Res*, 18,
    39-50; Raykov, T. (1997). *Appl Psychol Meas*, 21, 173-184; Henseler,
    Ringle & Sarstedt (2015) for HTMT.

    In R: ``basis="semTools"`` is ``semTools::compRelSEM(fit)`` and
    ``semTools::AVE(fit)``; ``"std.all"`` is the Fornell-Larcker formula on
    ``standardizedSolution(fit)``; HTMT ``semTools::htmt(model, data)``.
    """
    if basis not in VALIDITY_BASES:
        raise ValueError(f"basis={basis!r} must be one of {VALIDITY_BASES}")
    pt = getattr(result, "parameters", None)
    if not isinstance(pt, pd.DataFrame):
        raise TypeError("result must have a .parameters DataFrame (a fitted SEMResult)")
    need = {"lhs", "op", "rhs", "est", "std.all"}
    if not need <= set(pt.columns):
        raise ValueError(f"result.parameters lacks columns {sorted(need - set(pt.columns))}")
    lo = pt[pt.op == "=~"]
    latents = list(dict.fromkeys(lo.lhs))
    if not latents:
        raise ValueError("result.parameters has no '=~' rows: not a measurement model")
    col = "std.all" if basis == "std.all" else "est"
    resid = pt[(pt.op == "~~") & (pt.lhs == pt.rhs)].set_index("lhs")[col]
    psi = (pd.Series(1.0, index=latents) if basis == "std.all" else
           pd.Series(np.diag(_latent_covariances(pt, latents).to_numpy()), index=latents))
    S = None
    if basis == "semTools":
        S = _sample_cov_frame(result)
        if S is None:
            raise ValueError("basis='semTools' divides by the observed variances: "
                             "result has no sample_cov")
    rescov = pt[(pt.op == "~~") & (pt.lhs != pt.rhs)]
    rows, constructs = {}, {}
    for f in latents:
        sub = lo[lo.lhs == f]
        inds = list(sub.rhs)
        constructs[f] = inds
        lam = sub[col].to_numpy(dtype=float)
        th = resid.reindex(inds).to_numpy(dtype=float)
        if len(inds) < 2:
            warnings.warn(f"construct {f!r} has a single indicator: CR and AVE are not "
                          "estimable", NotEstimableWarning, stacklevel=2)
            rows[f] = {"n_items": len(inds), "cr": np.nan, "ave": np.nan}
            continue
        ps = float(psi[f])
        if basis == "semTools":
            Sf = S.loc[inds, inds].to_numpy(dtype=float)
            cr = composite_reliability(lam, th, ps, total_variance=Sf.sum())
            ave = average_variance_extracted(lam, th, ps, observed_variances=np.diag(Sf))
        else:
            # semTools' implied variance counts residual covariances among the
            # indicators; the Fornell-Larcker formula does not
            within = rescov[rescov.lhs.isin(inds) & rescov.rhs.isin(inds)]
            extra = (2.0 * float(within[col].astype(float).sum())
                     if basis == "semTools.implied" and len(within) else 0.0)
            total = None if extra == 0.0 else lam.sum() ** 2 * ps + th.sum() + extra
            cr = composite_reliability(lam, th, ps, total_variance=total)
            ave = average_variance_extracted(lam, th, ps)
        rows[f] = {"n_items": len(inds), "cr": cr, "ave": ave}
    table = pd.DataFrame(rows).T
    table["n_items"] = table["n_items"].astype(int)
    table["sqrt_ave"] = np.sqrt(table["ave"].astype(float))
    phi = _latent_correlations(pt, latents)
    off = phi.abs().to_numpy().copy()
    np.fill_diagonal(off, np.nan)
    table["max_r"] = np.nanmax(off, axis=1) if len(latents) > 1 else np.nan
    table["fornell_larcker_ok"] = table["sqrt_ave"] > table["max_r"]
    fl = fornell_larcker(table["ave"], phi)
    H = None
    S = _sample_cov_frame(result)
    if S is not None and len(latents) > 1:
        d = np.sqrt(np.diag(S.to_numpy()))
        Rm = pd.DataFrame(S.to_numpy() / np.outer(d, d), index=S.index, columns=S.columns)
        H = htmt(Rm, constructs)
    return ValidityResult(table, fl, phi, H, basis=basis)


def _sample_cov_frame(result: Any) -> pd.DataFrame | None:
    """``result.sample_cov`` as a frame named by ``result.observed`` (None if absent)."""
    S = getattr(result, "sample_cov", None)
    if S is None:
        return None
    if isinstance(S, pd.DataFrame):
        return S
    obs = list(getattr(result, "observed", []) or [])
    return pd.DataFrame(np.asarray(S), index=obs, columns=obs)
