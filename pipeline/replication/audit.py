"""Consistency audit of published statistics.

Given the numbers a paper prints, recompute what they imply and list every
contradiction, with the arithmetic behind it.  Nothing here needs the
paper's data: the checks use only the printed values and their printed
precision (every reported number stands for an interval of half a unit in
its last decimal, and a check fails only when *no* value in those
intervals is consistent).

* :func:`audit_fit_table` -- a reported fit table (chi-square, df, CMIN/DF,
  p, RMSEA, CFI, TLI, IFI, thresholds) against the model and N.
* :func:`audit_reliability` -- alphas against the number of items.
* :func:`audit_counts` -- counts against percentages and totals.
* :func:`audit_critical_ratios` -- C.R. against Estimate / S.E.
* :func:`audit_identities`, :func:`audit_repeats` -- sums, differences and
  percentages between published numbers, and numbers printed twice.
* :func:`audit_text_against_tables` -- every percentage and count a text
  states against the table cells it summarizes (``counts``/``total`` of its
  published entry), and shares of a published total that no count gives.

Each finding names the published keys it contradicts (``keys``); the
scorecard gives them the status "inconsistent in the source" (or "not
estimable" for an undefined statistic, :data:`UNDEFINED_CHECKS`).

A study combines these into its own rules (the thesis's are
``studies/amirova2021/audit_rules.py``).  ``python -m pipeline audit``
(:mod:`pipeline.cli.audit`) audits any paper's fit table, or a study's
published tables.  The fit formulas are those of
:mod:`pipeline.sem.fit_indices` (one implementation per formula).

Example
-------
>>> from pipeline.replication.audit import audit_fit_table
>>> found = audit_fit_table({"chisq": "293.157", "cmin_df": "1.559", "rmsea": ".036"},
...                         n=100, n_observed=19)
>>> sorted({i.check for i in found})                      # doctest: +NORMALIZE_WHITESPACE
['df_exceeds_maximum', 'rmsea_recomputed']
"""
from __future__ import annotations

import html
import itertools
import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from pipeline.replication.published import EXACT, compare_value, parse_number, printed_decimals
from pipeline.sem import fit_indices

__all__ = [
    "Inconsistency", "SEVERITIES", "Reported", "reported_value",
    "rmsea_from_chisq", "chisq_pvalue", "implied_df_interval", "moments",
    "min_free_parameters", "measurement_model_df", "parse_thresholds",
    "audit_fit_table", "audit_fit_table_model", "audit_reliability", "audit_counts",
    "audit_critical_ratios", "Identity", "evaluate_identities", "audit_identities",
    "audit_repeats", "text_reference", "audit_text_against_tables", "AuditResult", "UNDEFINED_CHECKS",
]

SEVERITIES = ("error", "warning", "note")
#: Checks whose finding means the statistic is undefined, not misprinted.
UNDEFINED_CHECKS = ("alpha_one_item",)


@dataclass(frozen=True)
class Inconsistency:
    """One inconsistency found in reported statistics.

    Attributes
    ----------
    check : str
        Machine name of the check (e.g. ``"rmsea_recomputed"``).
    reported : dict
        The reported values involved, as printed.
    recomputed : Any
        What the reported values imply (number, interval or text).
    arithmetic : str
        The computation, written out so a reader can redo it by hand.
    severity : {"error", "warning", "note"}
        ``error``: the numbers cannot all be right; ``warning``: a likely
        misprint or misstatement; ``note``: worth knowing.
    where : str
        Table and line, when known.
    keys : tuple of str
        Published keys this finding contradicts (the scorecard gives them the
        status "inconsistent in the source", or "not estimable" for a check in
        :data:`UNDEFINED_CHECKS`); empty when the finding names no published key
        (a misprinted threshold, a hand-made table).
    """

    check: str
    reported: dict
    recomputed: Any
    arithmetic: str
    severity: str = "error"
    where: str = ""
    keys: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity={self.severity!r} must be one of {SEVERITIES}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        return f"[{self.severity}] {self.check}: {self.arithmetic}"


@dataclass(frozen=True)
class Reported:
    """A printed number: its value and the interval its rounding allows."""

    value: float
    text: str
    decimals: int | None

    @property
    def half(self) -> float:
        return 0.0 if self.decimals is None else 0.5 * 10.0 ** (-self.decimals)

    @property
    def lo(self) -> float:
        return self.value - self.half

    @property
    def hi(self) -> float:
        return self.value + self.half


def reported_value(x: Any) -> Reported | None:
    """Parse a reported number (``"66,7"``, ``".036"``, ``1.559``); None if not numeric.

    A float passed as a number is taken at the precision of its shortest
    repr (``0.036`` -> 3 decimals).
    """
    if x is None or isinstance(x, bool):
        return None
    if isinstance(x, (int, float, np.integer, np.floating)):
        if not np.isfinite(float(x)):
            return None
        text = repr(float(x)) if not isinstance(x, (int, np.integer)) else str(int(x))
        if "e" in text:
            return Reported(float(x), text, None)
        dec = printed_decimals(text)
        if isinstance(x, (float, np.floating)) and text.endswith(".0"):
            dec = None  # 188.0 as a float carries no printed precision
        return Reported(float(x), text, dec)
    if isinstance(x, str):
        try:
            v = parse_number(x)
        except ValueError:
            return None
        return Reported(v, x, printed_decimals(x))
    return None


# ----------------------------------------------------------- pure formulas
def rmsea_from_chisq(chisq: float, df: float, n: int, *, convention: str = "N-1") -> float:
    """RMSEA point estimate from a reported model chi-square.

    ``RMSEA = sqrt(max(0, (chisq - df) / (df * (N - 1))))`` (Steiger, 1990;
    AMOS; lavaan with ``likelihood = "wishart"``) or with ``N`` in place of
    ``N - 1`` (lavaan's default normal likelihood, Mplus).  The formula is
    :func:`pipeline.sem.fit_indices.rmsea` with the N of
    :func:`pipeline.sem.fit_indices.rmsea_n`; this wrapper names the
    convention and refuses df <= 0 (a printed table with no df to check).

    In R: ``lavaan::fitMeasures(fit, "rmsea")`` (``convention="N"`` under the
    default normal likelihood; tested against it).
    """
    if df <= 0:
        raise ValueError(f"df={df!r} must be positive for RMSEA")
    if n is None or n < 2:
        raise ValueError(f"n={n!r} must be at least 2")
    if convention not in ("N-1", "N"):
        raise ValueError(f"convention={convention!r} must be 'N-1' or 'N'")
    m = fit_indices.rmsea_n(n, "wishart" if convention == "N-1" else "normal")
    return fit_indices.rmsea(chisq, df, m)


def chisq_pvalue(chisq: float, df: float) -> float:
    """Upper-tail p-value of the chi-square test (:func:`pipeline.sem.fit_indices.chisq_pvalue`),
    refusing df <= 0. In R: ``pchisq(chisq, df, lower.tail = FALSE)``."""
    if df <= 0:
        raise ValueError(f"df={df!r} must be positive")
    return fit_indices.chisq_pvalue(chisq, df)


def implied_df_interval(chisq: Reported, cmin_df: Reported) -> tuple[float, float, float]:
    """The df implied by chi-square and CMIN/DF: point, lower and upper bound over rounding.

    ``df = chisq / (chisq/df)``; bounds from ``chisq +- h1`` and ``CMIN/DF +- h2``
    (half a unit in each printed last decimal). In R: ``chisq / cmin_df``.
    """
    if cmin_df.value <= 0:
        raise ValueError(f"cmin_df={cmin_df.text!r} must be positive")
    point = chisq.value / cmin_df.value
    lo = chisq.lo / cmin_df.hi
    hi = chisq.hi / max(cmin_df.lo, 1e-12)
    return point, lo, hi


def moments(n_observed: int, *, meanstructure: bool = False) -> int:
    """Number of sample moments: p(p+1)/2 variances and covariances (+ p means)."""
    if n_observed is None or n_observed < 1:
        raise ValueError(f"n_observed={n_observed!r} must be a positive integer")
    return n_observed * (n_observed + 1) // 2 + (n_observed if meanstructure else 0)


def min_free_parameters(n_observed: int, n_factors: int | None = None,
                        single_indicator_factors: int = 0) -> int:
    """A lower bound on the free parameters of a latent-variable model of *n_observed* indicators.

    With *n_factors* (marker-variable identification, every indicator on one
    factor, no cross-loadings, uncorrelated factors, no structural paths --
    the most parsimonious such model): ``(p - k)`` loadings + ``(p - s)``
    residual variances (single-indicator factors have theirs fixed) + ``k``
    factor variances ``= 2p - s``.  Without *n_factors*: ``p``, one free
    parameter per indicator at the very least.
    """
    p = int(n_observed)
    if n_factors is None:
        return p
    k, s = int(n_factors), int(single_indicator_factors)
    if not (1 <= k <= p) or not (0 <= s <= k):
        raise ValueError(f"n_factors={n_factors!r} / single_indicator_factors={single_indicator_factors!r} "
                         f"inconsistent with n_observed={n_observed!r}")
    return (p - k) + (p - s) + k


def measurement_model_df(indicators_per_factor: Sequence[int], *, factor_covariances: bool = True
                         ) -> int:
    """df of a simple-structure CFA with marker-variable identification.

    ``q = sum(k_j - 1) loadings + (p - s) residual variances + m factor
    variances (+ m(m-1)/2 covariances)``, ``df = p(p+1)/2 - q``; a
    single-indicator factor has its residual variance fixed to 0.

    In R: ``lavaan::fitMeasures(cfa(model, data), "df")``.
    """
    ks = [int(k) for k in indicators_per_factor]
    if not ks or any(k < 1 for k in ks):
        raise ValueError(f"indicators_per_factor={indicators_per_factor!r} must be positive integers")
    p, m, s = sum(ks), len(ks), sum(1 for k in ks if k == 1)
    q = (p - m) + (p - s) + m + (m * (m - 1) // 2 if factor_covariances else 0)
    return moments(p) - q


_THR_NUM = re.compile(r"(?<![\d])(?:\d+)?[.,]\d+|\d+")


def parse_thresholds(text: Any) -> list[float]:
    """All numbers in a printed threshold (``"Acceptable <.80 Good fit <.50"`` -> [0.8, 0.5])."""
    if text is None:
        return []
    if isinstance(text, (int, float)):
        return [float(text)]
    return [float(m.replace(",", ".")) for m in _THR_NUM.findall(str(text))]


# -------------------------------------------------------------- fit table
_ALIASES = {"chisq": ("chisq", "chi2", "chi-square", "chi_square", "cmin"),
            "df": ("df",),
            "cmin_df": ("cmin_df", "cmin/df", "chisq/df", "chisq_df", "normed_chisq"),
            "pvalue": ("pvalue", "p", "p-value", "p_value"),
            "rmsea": ("rmsea",), "cfi": ("cfi",), "tli": ("tli", "nnfi"), "ifi": ("ifi",),
            "gfi": ("gfi",), "agfi": ("agfi",), "srmr": ("srmr",)}


def _get(reported: Mapping[str, Any], name: str) -> Any:
    low = {str(k).lower(): v for k, v in reported.items()}
    for a in _ALIASES.get(name, (name,)):
        if a in low:
            return low[a]
    return None


def _fmt(x: float, d: int = 3) -> str:
    return f"{x:.{d}f}"


def audit_fit_table(reported: Mapping[str, Any], *, n: int, n_observed: int | None = None,
                    model_df: int | None = None, n_factors: int | None = None,
                    single_indicator_factors: int = 0, meanstructure: bool = False,
                    alpha: float = 0.05, where: str = "") -> list[Inconsistency]:
    """Audit a reported fit table against itself, the model and N.

    Parameters
    ----------
    reported : mapping
        Reported values by lavaan fit name (aliases accepted): ``chisq``,
        ``df``, ``cmin_df`` (chi-square / df), ``pvalue`` (a number,
        ``"<.001"`` or ``"Significant"``), ``rmsea``, ``cfi``, ``tli``,
        ``ifi``, ``gfi``, ``agfi``, ``srmr``; numbers or printed text
        (decimal commas accepted).  An optional ``"thresholds"`` mapping
        gives the printed cut-offs per measure.
    n : int
        Sample size the table is based on.
    n_observed : int, optional
        Number of observed variables p (bounds df by p(p+1)/2 - q).
    model_df : int, optional
        The model's own df (e.g. :func:`measurement_model_df`, or a fitted
        model's ``df``).
    n_factors, single_indicator_factors : int, optional
        Sharpen the lower bound on free parameters (:func:`min_free_parameters`).
    meanstructure : bool
        Whether means count as moments.
    alpha : float
        Significance level for a verbal p-value ("Significant").
    where : str
        Table and line, copied into every finding.

    Returns
    -------
    list of Inconsistency
        Empty when everything is consistent.

    Notes
    -----
    Checks: df implied by chisq and CMIN/DF vs the reported df, the model's
    df and the maximum possible df; CMIN/DF vs chisq/df; p-value vs chisq and
    df; RMSEA recomputed from chisq, df and N (N-1 and N conventions) over
    the rounding intervals; CFI, TLI and IFI mutually consistent with one
    baseline model whose df cannot exceed p(p-1)/2; thresholds printed a
    decimal place off (RMSEA ".80/.50" for .08/.05) or outside [0, 1];
    a p-value threshold that asks for significance.

    In R: no single equivalent; compare ``lavaan::fitMeasures()`` by hand.
    """
    if not isinstance(reported, Mapping):
        raise TypeError(f"reported must be a mapping, not {type(reported).__name__}")
    if n is None or int(n) < 2:
        raise ValueError(f"n={n!r} must be an integer >= 2")
    n = int(n)
    out: list[Inconsistency] = []
    chisq = reported_value(_get(reported, "chisq"))
    cmin = reported_value(_get(reported, "cmin_df"))
    rdf = reported_value(_get(reported, "df"))
    p_raw = _get(reported, "pvalue")
    rmsea = reported_value(_get(reported, "rmsea"))

    # ---- df
    df_candidates: list[int] = []
    if chisq is not None and cmin is not None:
        point, lo, hi = implied_df_interval(chisq, cmin)
        ints = list(range(math.ceil(lo - 1e-9), math.floor(hi + 1e-9) + 1))
        arith = (f"df = chisq / (CMIN/DF) = {chisq.text} / {cmin.text} = {point:.2f} "
                 f"(rounding interval [{lo:.2f}, {hi:.2f}]"
                 + ((f", integer {ints[0]})" if len(ints) == 1 else f", integers {ints[0]}-{ints[-1]})")
                    if ints else ", no integer)"))
        if not ints:
            out.append(Inconsistency("df_not_integer", {"chisq": chisq.text, "cmin_df": cmin.text},
                                     (lo, hi), arith + ": no integer df fits", "error", where))
        df_candidates = ints or [round(point)]
        if rdf is not None and not (lo - 1e-9 <= rdf.value <= hi + 1e-9):
            out.append(Inconsistency(
                "df_vs_cmin_df", {"chisq": chisq.text, "cmin_df": cmin.text, "df": rdf.text},
                point, arith + f"; the table reports df = {rdf.text}", "error", where))
        if model_df is not None and not (lo - 1e-9 <= model_df <= hi + 1e-9):
            out.append(Inconsistency(
                "df_vs_model", {"chisq": chisq.text, "cmin_df": cmin.text}, point,
                arith + f"; the model has df = {model_df}", "error", where))
        if n_observed is not None:
            mom = moments(n_observed, meanstructure=meanstructure)
            qmin = min_free_parameters(n_observed, n_factors, single_indicator_factors) + (
                n_observed if meanstructure else 0)   # free intercepts with a mean structure
            dmax = mom - qmin
            if lo > dmax + 1e-9:
                basis = (f"{n_factors} factors, {single_indicator_factors} with a single indicator: "
                         f"q >= (p-k) + (p-s) + k = {qmin}" if n_factors is not None
                         else f"at least one free parameter per observed variable: q >= {qmin}")
                out.append(Inconsistency(
                    "df_exceeds_maximum", {"chisq": chisq.text, "cmin_df": cmin.text},
                    point,
                    arith + f"; but p = {n_observed} observed variables give {mom} sample moments "
                    f"(p(p+1)/2{' + p' if meanstructure else ''}) and ({basis}) df <= {mom} - {qmin} "
                    f"= {dmax}", "error", where))
    elif rdf is not None:
        df_candidates = [int(round(rdf.value))]
    df_use = [model_df] if model_df is not None else ([int(round(rdf.value))] if rdf is not None
                                                      else df_candidates)
    df_use = [d for d in df_use if d and d > 0]

    # ---- p-value
    if chisq is not None and df_use:
        ps = [chisq_pvalue(c, d) for d in df_use for c in (chisq.lo, chisq.hi)]
        plo, phi = min(ps), max(ps)
        pv = reported_value(p_raw) if not isinstance(p_raw, str) or re.search(r"\d", p_raw) else None
        dtxt = f"df = {df_use[0]}" if len(df_use) == 1 else f"df in {df_use[0]}-{df_use[-1]}"
        arith = f"p = P(chi2({dtxt}) > {chisq.text}) = {plo:.3g}" + (f" to {phi:.3g}" if phi - plo > 1e-12 else "")
        if isinstance(p_raw, str) and not re.search(r"\d", p_raw):
            word = p_raw.strip().lower()
            says_sig = word.startswith("sig") or word in ("yes", "significant")
            says_not = "not" in word or "non" in word or word.startswith("n.s")
            if says_not and plo < alpha:
                out.append(Inconsistency("pvalue_vs_chisq", {"pvalue": p_raw, "chisq": chisq.text}, plo,
                                         arith + f" < {alpha}, yet reported '{p_raw}'", "error", where))
            elif says_sig and not says_not and phi >= alpha:
                out.append(Inconsistency("pvalue_vs_chisq", {"pvalue": p_raw, "chisq": chisq.text}, phi,
                                         arith + f" >= {alpha}, yet reported '{p_raw}'", "error", where))
        elif isinstance(p_raw, str) and p_raw.strip().startswith("<"):
            bound = parse_number(p_raw)
            if plo >= bound:
                out.append(Inconsistency("pvalue_vs_chisq", {"pvalue": p_raw, "chisq": chisq.text}, plo,
                                         arith + f", not {p_raw}", "error", where))
        elif pv is not None and not (pv.lo - 1e-12 <= phi and plo <= pv.hi + 1e-12):
            out.append(Inconsistency("pvalue_vs_chisq", {"pvalue": pv.text, "chisq": chisq.text}, plo,
                                     arith + f", not {pv.text}", "error", where))

    # ---- RMSEA
    if rmsea is not None and chisq is not None and df_use:
        vals = {}
        for conv in ("N-1", "N"):
            vals[conv] = [rmsea_from_chisq(c, d, n, convention=conv)
                          for d in df_use for c in (chisq.lo, chisq.hi)]
        allv = [v for vs in vals.values() for v in vs]
        rlo, rhi = min(allv), max(allv)
        if not (rmsea.lo - 1e-12 <= rhi and rlo <= rmsea.hi + 1e-12):
            d0 = df_use[0] if len(df_use) == 1 else df_use[len(df_use) // 2]
            r1 = rmsea_from_chisq(chisq.value, d0, n, convention="N-1")
            r0 = rmsea_from_chisq(chisq.value, d0, n, convention="N")
            chi_impl = d0 * (1 + rmsea.value ** 2 * (n - 1))
            dtxt = f"df = {d0}" if len(df_use) == 1 else f"df = {d0} (of {df_use[0]}-{df_use[-1]})"
            out.append(Inconsistency(
                "rmsea_recomputed", {"rmsea": rmsea.text, "chisq": chisq.text, "n": n},
                {"N-1": r1, "N": r0, "range": (rlo, rhi)},
                f"RMSEA = sqrt((chisq - df) / (df (N - 1))) = sqrt(({chisq.text} - {d0}) / ({d0} x {n - 1})) "
                f"= {r1:.4f} (with N: {r0:.4f}; over rounding and df {rlo:.4f}-{rhi:.4f}), "
                f"not {rmsea.text}; RMSEA {rmsea.text} with {dtxt} and N = {n} would need "
                f"chisq = df (1 + RMSEA^2 (N-1)) = {chi_impl:.1f}", "error", where))

    # ---- CFI / TLI / IFI against one baseline model
    cfi, tli, ifi = (reported_value(_get(reported, k)) for k in ("cfi", "tli", "ifi"))
    if chisq is not None and cfi is not None and tli is not None and df_use:
        out += _incremental_consistency(chisq, cfi, tli, ifi, df_use, cmin, n_observed, where)

    # ---- thresholds
    thr = reported.get("thresholds") or {}
    for meas, text in thr.items():
        nums = parse_thresholds(text)
        m = str(meas).lower()
        if m in ("rmsea", "srmr") and any(x > 0.2 for x in nums):
            meant = [x / 10 for x in nums]
            out.append(Inconsistency(
                "threshold_decimal_shift", {f"threshold.{m}": str(text)}, meant,
                f"{m.upper()} cut-offs {', '.join(f'{x:.2f}' for x in nums)} exceed any conventional bound "
                f"(.05-.10); read one decimal place off they are {', '.join(f'{x:.2f}' for x in meant)} "
                f"(Browne & Cudeck 1993; Hu & Bentler 1999). As printed every {m.upper()} below .80 "
                "would pass", "warning", where))
        if m in ("gfi", "agfi", "cfi", "tli", "ifi", "nfi") and any(x > 1 for x in nums):
            out.append(Inconsistency("threshold_out_of_range", {f"threshold.{m}": str(text)}, nums,
                                     f"{m.upper()} lies in [0, 1]; a cut-off of {max(nums)} is impossible",
                                     "error", where))
        if m in ("pvalue", "p") and "signif" in str(text).lower() and "not" not in str(text).lower() \
                and "non" not in str(text).lower():
            out.append(Inconsistency(
                "threshold_pvalue_direction", {"threshold.pvalue": str(text)}, "p > .05",
                "the chi-square test's null hypothesis is exact fit, so acceptable fit is a "
                "NON-significant p (p > .05); the threshold asks for a significant one", "warning", where))
    return out


def audit_fit_table_model(reported: Mapping[str, Any], fit: Any, **kwargs: Any) -> list[Inconsistency]:
    """:func:`audit_fit_table` against a fitted model (thin wrapper).

    Takes N, p, df and the mean structure from *fit* (any object with
    ``nobs``, ``observed``, ``df`` and optionally ``meanstructure``, such as
    :class:`pipeline.sem.SEMResult`): "is this published table what *this*
    model on *this* many respondents could have produced?".
    """
    for attr in ("nobs", "observed", "df"):
        if not hasattr(fit, attr):
            raise TypeError(f"fit must have a {attr!r} attribute (a fitted SEM result)")
    return audit_fit_table(reported, n=int(fit.nobs), n_observed=len(fit.observed),
                           model_df=int(fit.df),
                           meanstructure=bool(getattr(fit, "meanstructure", False)), **kwargs)


def _incremental_consistency(chisq: Reported, cfi: Reported, tli: Reported, ifi: Reported | None,
                             df_use: Sequence[int], cmin: Reported | None, n_observed: int | None,
                             where: str) -> list[Inconsistency]:
    """Solve CFI and TLI for the baseline model; check its df and the reported IFI.

    CFI = 1 - (chisq - df) / (chisq_b - df_b) and
    TLI = (chisq_b/df_b - chisq/df) / (chisq_b/df_b - 1) give
    chisq_b - df_b = (chisq - df) / (1 - CFI), r = chisq_b/df_b =
    (chisq/df - TLI) / (1 - TLI), df_b = (chisq_b - df_b) / (r - 1).
    """
    out: list[Inconsistency] = []
    sols = []
    for d, c, t, x in itertools.product(df_use, (cfi.lo, cfi.hi), (tli.lo, tli.hi),
                                        (chisq.lo, chisq.hi)):
        ratio = x / d
        if c >= 1 or t >= 1 or x <= d:
            continue
        Db = (x - d) / (1 - c)
        r = (ratio - t) / (1 - t)
        if r <= 1:
            continue
        dfb = Db / (r - 1)
        sols.append((dfb, r * dfb, d, x))
    if not sols:
        return out
    dfb_lo, dfb_hi = min(s[0] for s in sols), max(s[0] for s in sols)
    d0 = df_use[len(df_use) // 2]
    Db0 = (chisq.value - d0) / (1 - cfi.value)
    r0 = (chisq.value / d0 - tli.value) / (1 - tli.value)
    dfb0 = Db0 / (r0 - 1)
    chib0 = r0 * dfb0
    arith = (f"CFI = 1 - (chisq - df)/(chisq_b - df_b) gives chisq_b - df_b = ({chisq.text} - {d0})/(1 - {cfi.text}) "
             f"= {Db0:.0f}; TLI = (chisq_b/df_b - chisq/df)/(chisq_b/df_b - 1) gives chisq_b/df_b = "
             f"({chisq.value / d0:.3f} - {tli.text})/(1 - {tli.text}) = {r0:.2f}; so df_b = {dfb0:.0f}, "
             f"chisq_b = {chib0:.0f} (over rounding df_b in [{dfb_lo:.0f}, {dfb_hi:.0f}])")
    if n_observed is not None:
        dfb_max = n_observed * (n_observed - 1) // 2
        if dfb_lo > dfb_max + 0.5:
            # the smallest p whose independence model has that many df
            p_need = math.ceil((1 + math.sqrt(1 + 8 * dfb_lo)) / 2)
            out.append(Inconsistency(
                "incremental_indices_baseline_df", {"chisq": chisq.text, "cfi": cfi.text, "tli": tli.text},
                {"df_b": dfb0, "chisq_b": chib0, "range": (dfb_lo, dfb_hi)},
                arith + f"; but the independence model of p = {n_observed} variables has df_b = "
                f"p(p-1)/2 = {dfb_max} (df_b >= {dfb_lo:.0f} needs p >= {p_need})", "error", where))
    if ifi is not None:
        ifis = [(cb - x) / (cb - d) for (_, cb, d, x) in sols if cb > d]
        if ifis and not (ifi.lo - 1e-12 <= max(ifis) and min(ifis) <= ifi.hi + 1e-12):
            out.append(Inconsistency(
                "ifi_vs_cfi_tli", {"ifi": ifi.text, "cfi": cfi.text, "tli": tli.text},
                (min(ifis), max(ifis)),
                arith + f"; then IFI = (chisq_b - chisq)/(chisq_b - df) lies in "
                f"[{min(ifis):.3f}, {max(ifis):.3f}], not {ifi.text}", "error", where))
    return out


# ------------------------------------------------------------ reliability
def audit_reliability(table: Any, *, where: str = "") -> list[Inconsistency]:
    """Flag alphas that cannot be what they claim.

    Parameters
    ----------
    table : DataFrame or iterable of mappings
        Columns/keys ``scale``, ``alpha`` and ``n_items`` (or ``items``, a
        list of item names); optional ``where`` and ``key`` (the published
        key of the alpha, copied into the finding's ``keys``).

    Checks
    ------
    * an alpha reported for a one-item scale: alpha = k/(k-1) (1 - sum
      var_i / var_total) divides by zero at k = 1 (psych::alpha refuses);
    * alpha above 1 (impossible); negative alpha (a reverse-keyed item or an
      error).

    In R: ``psych::alpha(items)`` (errors for a single item).
    """
    rows = table.to_dict("records") if isinstance(table, pd.DataFrame) else list(table)
    out: list[Inconsistency] = []
    for i, r in enumerate(rows):
        if not isinstance(r, Mapping):
            raise TypeError(f"table row {i} must be a mapping, not {type(r).__name__}")
        scale = str(r.get("scale", f"row {i}"))
        a = reported_value(r.get("alpha"))
        k = r.get("n_items")
        if k is None and r.get("items") is not None:
            k = len(r["items"])
        w = str(r.get("where") or where)
        keys = (str(r["key"]),) if r.get("key") else ()
        if a is None:
            continue
        if k is not None and int(k) == 1:
            out.append(Inconsistency(
                "alpha_one_item", {"scale": scale, "alpha": a.text, "n_items": 1}, None,
                f"alpha = k/(k-1) x (1 - sum(var_i)/var_total) with k = 1 divides by zero: alpha is "
                f"undefined for the one-item scale '{scale}', yet {a.text} is reported", "error", w,
                keys))
        if a.value > 1:
            out.append(Inconsistency("alpha_above_one", {"scale": scale, "alpha": a.text}, None,
                                     f"alpha <= 1 always; {a.text} is impossible", "error", w, keys))
        elif a.value < 0:
            out.append(Inconsistency("alpha_negative", {"scale": scale, "alpha": a.text}, None,
                                     f"negative alpha {a.text}: negatively correlated items "
                                     "(reverse keying?)", "warning", w))
    return out


# ----------------------------------------------------------------- counts
def audit_counts(groups: Iterable[Mapping[str, Any]], *, percent_decimals: int | None = None
                 ) -> list[Inconsistency]:
    """Check counts against percentages and totals.

    Parameters
    ----------
    groups : iterable of mappings
        Each ``{"name": str, "total": count or None, "where": str,
        "items": [{"label": str, "count": n or None, "percent": pct or None,
        "where": str}, ...]}``; numbers or printed text ("66,7").  A group is
        one categorical variable (its categories should add up).  Optional
        published keys (``total_key``; per item ``count_key``, ``percent_key``)
        are copied into the findings' ``keys``.
    percent_decimals : int, optional
        Printed precision of the percentages; by default read from each
        printed percentage.

    Checks
    ------
    * ``percent_vs_count``: ``100 count / total`` must round to the printed
      percentage (total: the group's stated total, else the sum of counts);
    * ``count_sum_vs_total``: the counts must add up to the stated total;
    * ``percent_sum``: the printed percentages must add up to 100 within the
      rounding of the categories (``k x`` half a unit in the last decimal).

    In R: ``abs(100 * count / total - pct) > 0.05`` and ``sum(pct)``.
    """
    out: list[Inconsistency] = []
    for g in groups:
        name = str(g.get("name", ""))
        items = list(g.get("items") or [])
        where = str(g.get("where", ""))
        counts = [reported_value(it.get("count")) for it in items]
        pcts = [reported_value(it.get("percent")) for it in items]
        tot = reported_value(g.get("total"))
        csum = sum(c.value for c in counts if c is not None)
        all_counts = all(c is not None for c in counts) and counts
        if tot is not None and all_counts and abs(csum - tot.value) > 1e-9:
            out.append(Inconsistency(
                "count_sum_vs_total", {"group": name, "total": tot.text,
                                       "counts": [c.text for c in counts]}, csum,
                f"{' + '.join(c.text for c in counts)} = {csum:g}, not the stated total {tot.text}",
                "error", where, tuple(k for k in [g.get("total_key")] if k)))
        denom = tot.value if tot is not None else (csum if all_counts else None)
        for it, c, p in zip(items, counts, pcts):
            if c is None or p is None or not denom:
                continue
            d = percent_decimals if percent_decimals is not None else p.decimals
            half = 0.5 * 10.0 ** (-(d or 0))
            exact = 100.0 * c.value / denom
            if abs(exact - p.value) > half + 1e-9:
                trunc = math.floor(exact * 10 ** (d or 0)) / 10 ** (d or 0)
                hint = " (truncated rather than rounded)" if abs(trunc - p.value) < 1e-9 else ""
                out.append(Inconsistency(
                    "percent_vs_count", {"group": name, "label": str(it.get("label", "")),
                                         "count": c.text, "percent": p.text,
                                         "total": tot.text if tot is not None else f"{denom:g} (sum)"},
                    exact,
                    f"100 x {c.text} / {denom:g} = {exact:.{max((d or 0) + 1, 2)}f}%, printed {p.text}%{hint}",
                    "warning" if hint or abs(exact - p.value) <= 2 * half + 1e-9 else "error",
                    str(it.get("where") or where),
                    () if hint else tuple(k for k in [it.get("percent_key")] if k)))
        if pcts and all(p is not None for p in pcts):
            psum = sum(p.value for p in pcts)
            decs = [percent_decimals if percent_decimals is not None else (p.decimals or 0) for p in pcts]
            slack = sum(0.5 * 10.0 ** (-d) for d in decs)
            if abs(psum - 100.0) > slack + 1e-9:
                out.append(Inconsistency(
                    "percent_sum", {"group": name, "percents": [p.text for p in pcts]}, psum,
                    f"{' + '.join(p.text for p in pcts)} = {psum:.2f}%, more than the rounding "
                    f"slack {slack:.2f} away from 100", "error" if abs(psum - 100) > 1 else "warning",
                    where, tuple(it["percent_key"] for it in items if it.get("percent_key"))))
    return out


def audit_critical_ratios(rows: Iterable[Mapping[str, Any]]) -> list[Inconsistency]:
    """C.R. must equal Estimate / S.E. within the rounding of the three printed numbers.

    Rows: ``{"name", "est", "se", "z", "where"}`` and optionally ``key`` (the
    published key of the C.R., copied into the finding's ``keys``).
    In R: ``parameterEstimates(fit)$z``.
    """
    out = []
    for r in rows:
        e, s, z = (reported_value(r.get(k)) for k in ("est", "se", "z"))
        if e is None or s is None or z is None or s.value == 0:
            continue
        lo = min(e.lo / s.hi, e.hi / max(s.lo, 1e-12))
        hi = max(e.lo / s.hi, e.hi / max(s.lo, 1e-12))
        if not (z.lo - 1e-12 <= hi and lo <= z.hi + 1e-12):
            out.append(Inconsistency(
                "critical_ratio", {"name": str(r.get("name", "")), "est": e.text, "se": s.text, "z": z.text},
                e.value / s.value, f"C.R. = {e.text}/{s.text} = {e.value / s.value:.3f} "
                f"(rounding interval [{lo:.3f}, {hi:.3f}]), printed {z.text}", "error", str(r.get("where", "")),
                tuple(k for k in [r.get("key")] if k)))
    return out


# ------------------------------------------------- identities and repeats
#: An arithmetic identity between published numbers: (target, operation, operands);
#: "sum": target = sum(operands); "diff": operands[0] - operands[1];
#: "pct": 100 * operands[0] / operands[1].
Identity = tuple[str, str, tuple[str, ...]]


def evaluate_identities(published: Mapping[str, Any], identities: Iterable[Identity]
                        ) -> list[tuple[str, float, str]]:
    """Evaluate the *identities* whose keys are all published.

    Parameters
    ----------
    published : mapping
        ``key -> PublishedValue`` (:func:`pipeline.replication.published.load_published`).
    identities : iterable of (target, operation, operands)
        See :data:`Identity`.

    Returns
    -------
    list of (target key, value implied by the other published numbers, arithmetic)

    In R: ``sum(x)``, ``x[1] - x[2]``, ``100 * x[1] / x[2]`` by hand.
    """
    out = []
    for target, op, keys in identities:
        if op not in ("sum", "diff", "pct"):
            raise ValueError(f"identities: unknown operation {op!r} for {target!r} "
                             "(sum, diff or pct)")
        if target not in published or any(k not in published for k in keys):
            continue
        vals = [float(published[k].value) for k in keys]
        named = [f"{k} ({x:g})" for k, x in zip(keys, vals)]
        if op == "sum":
            v, txt = sum(vals), " + ".join(named)
        elif op == "diff":
            v, txt = vals[0] - vals[1], f"{named[0]} - {named[1]}"
        else:
            v, txt = 100.0 * vals[0] / vals[1], f"100 x {named[0]} / {named[1]}"
        out.append((target, v, f"{target} = {txt} = {v:g}"))
    return out


def audit_identities(published: Mapping[str, Any], identities: Iterable[Identity]
                     ) -> tuple[list[Inconsistency], int]:
    """A finding for every identity whose target does not round to its printed value.

    Returns
    -------
    (findings, number of identities checked)
    """
    out, n = [], 0
    for target, v, arith in evaluate_identities(published, identities):
        n += 1
        status, _ = compare_value(published[target], v)
        if status != EXACT:
            pv = published[target]
            out.append(Inconsistency("published_identity", {target: pv.printed}, v,
                                     arith + f", printed {pv.printed}", "error",
                                     f"{pv.table}, line {pv.line}", (target,)))
    return out, n


def audit_repeats(published: Mapping[str, Any], pairs: Iterable[tuple[str, str]]
                  ) -> tuple[list[Inconsistency], int]:
    """Numbers printed twice (in two tables) must be equal.

    Parameters
    ----------
    pairs : iterable of (key, key)
        Published keys of the same quantity; pairs with an unpublished key are skipped.

    Returns
    -------
    (findings, number of pairs checked)
    """
    out, n = [], 0
    for a, b in pairs:
        if a in published and b in published:
            n += 1
            pa, pb = published[a], published[b]
            if abs(float(pa.value) - float(pb.value)) > 1e-9:
                out.append(Inconsistency(
                    "cross_table_repeat", {a: pa.printed, b: pb.printed}, None,
                    f"{pa.table} line {pa.line} prints {pa.printed}, {pb.table} line "
                    f"{pb.line} prints {pb.printed} for the same quantity", "error",
                    f"{pa.table}, line {pa.line}", (a, b)))
    return out, n


def text_reference(published: Mapping[str, Any], key: str) -> tuple[float, str] | None:
    """What a stated number is, recomputed from the table it refers to.

    The published entry of *key* names the table cells it summarizes in two
    extra fields of its YAML entry: ``counts`` (a list of published count
    keys, added up) and, for a percentage, ``total`` (the published key of
    the denominator)::

        - {key: cs2020.text.ACSA.experience.5_15.pct, value: 48.2, printed: "48,2%",
           unit: percent, line: 1134,
           counts: [cs2020.table14.experience.5_10.ACSA, cs2020.table14.experience.10_15.ACSA],
           total: cs2020.table14.total.ACSA}

    ``100 x sum(counts) / total`` (a percentage) or ``sum(counts)`` (a count).

    Returns
    -------
    (value, arithmetic) or None when the entry names no ``counts``.

    Raises
    ------
    ValueError
        A referenced key that is not published (naming the entry's file and key).

    In R: ``100 * sum(counts) / total``.
    """
    pv = published[key]
    refs = pv.extra.get("counts")
    if not refs:
        return None
    if isinstance(refs, str):
        refs = [refs]
    total = pv.extra.get("total")
    missing = [k for k in list(refs) + ([total] if total else []) if k not in published]
    if missing:
        raise ValueError(f"{pv.file}: {key}: counts/total name unpublished key(s) {missing}")
    cells = [published[k] for k in refs]
    csum = sum(float(c.value) for c in cells)
    lines = ", ".join(str(c.line) for c in cells)
    tables = sorted({c.table for c in cells})
    src = f"{', '.join(tables)}, line{'s' if len(cells) > 1 else ''} {lines}"
    parts = " + ".join(c.printed for c in cells)
    if total:
        t = published[total]
        if not float(t.value):
            raise ValueError(f"{pv.file}: {key}: total {total!r} is zero")
        v = 100.0 * csum / float(t.value)
        num = f"({parts})" if len(cells) > 1 else parts
        arith = (f"100 x {num} / {t.printed} = {v:.2f}% ({src}; total {t.table}, line {t.line})")
    else:
        v = csum
        arith = f"{parts} = {v:g} ({src})"
    return v, arith


def audit_text_against_tables(published: Mapping[str, Any]) -> tuple[list[Inconsistency], int]:
    """Every percentage and count a text states against the table cells it summarizes.

    Each published entry with ``counts`` (and ``total`` for a percentage;
    :func:`text_reference`) is recomputed from those cells and must round to
    its printed value (half a unit in its last printed decimal).  An entry
    with a ``total`` but no ``counts`` (a share of a published group whose
    cells the table does not print) must be ``100 k / N`` for some integer
    ``k`` (finding ``text_percent_granularity``).  A printed
    value that is the recomputed one truncated rather than rounded is a
    ``warning`` naming no key (a rounding convention, not a contradiction);
    one within two half-units is a ``warning``, beyond that an ``error``;
    both name the stated key in ``keys``.

    Returns
    -------
    (findings, number of stated numbers checked)

    In R: ``abs(100 * sum(counts) / total - printed) > 0.5 * 10^-decimals``.
    """
    out: list[Inconsistency] = []
    n = 0
    for key, pv in published.items():
        if pv.extra.get("total") and not pv.extra.get("counts"):
            n += 1
            out += _granularity(published, key)
            continue
        ref = text_reference(published, key)
        if ref is None:
            continue
        n += 1
        v, arith = ref
        p = reported_value(pv.printed)
        if p is None:
            raise ValueError(f"{pv.file}: {key}: printed {pv.printed!r} holds no number to check")
        d = p.decimals or 0
        half = 0.5 * 10.0 ** (-d)
        if abs(v - p.value) <= half + 1e-9:
            continue
        trunc = math.floor(v * 10 ** d + 1e-9) / 10 ** d
        truncated = abs(trunc - p.value) < 1e-9
        sev = "warning" if truncated or abs(v - p.value) <= 2 * half + 1e-9 else "error"
        out.append(Inconsistency(
            "text_vs_table", {key: pv.printed}, v,
            arith + f"; the text (line {pv.line}) states {pv.printed}"
            + (" (truncated rather than rounded)" if truncated else ""),
            sev, f"{pv.table}, line {pv.line}", () if truncated else (key,)))
    return out, n


def _granularity(published: Mapping[str, Any], key: str) -> list[Inconsistency]:
    """A percentage of a published total N must be 100 k / N for some integer k (rounded to
    its printed decimals); "GRIM" (Brown & Heathers 2017) on a stated share."""
    pv = published[key]
    total = pv.extra["total"]
    if total not in published:
        raise ValueError(f"{pv.file}: {key}: total names unpublished key {total!r}")
    t = published[total]
    n = int(round(float(t.value)))
    p = reported_value(pv.printed)
    if p is None or n <= 0:
        raise ValueError(f"{pv.file}: {key}: printed {pv.printed!r} or total {t.printed!r} unusable")
    d = p.decimals or 0
    half = 0.5 * 10.0 ** (-d)
    k_lo = max(0, math.floor(p.lo * n / 100.0))
    fits = [k for k in range(k_lo, k_lo + 3) if abs(100.0 * k / n - p.value) <= half + 1e-9]
    if fits:
        return []
    k = int(round(p.value * n / 100.0))
    near = ", ".join(f"{j}/{n} = {100.0 * j / n:.2f}%" for j in (k - 1, k, k + 1) if 0 <= j <= n)
    trunc = any(abs(math.floor(100.0 * j / n * 10 ** d + 1e-9) / 10 ** d - p.value) < 1e-9
                for j in (k - 1, k, k + 1))
    return [Inconsistency(
        "text_percent_granularity", {key: pv.printed, total: t.printed}, None,
        f"no count k of N = {t.printed} ({t.table}, line {t.line}) gives {pv.printed}: {near}"
        + (" (one of them truncated rather than rounded)" if trunc else ""),
        "warning" if trunc else "error", f"{pv.table}, line {pv.line}", () if trunc else (key,))]


@dataclass
class AuditResult:
    """Findings of an audit, and how many numbers of each kind were checked."""

    findings: list[Inconsistency]
    checked: dict[str, int] = field(default_factory=dict)

    def to_frame(self) -> pd.DataFrame:
        cols = ["check", "severity", "where", "reported", "recomputed", "arithmetic"]
        return pd.DataFrame([{c: getattr(f, c) for c in cols} for f in self.findings], columns=cols)

    def summary(self) -> str:
        lines = [f"Consistency audit: {len(self.findings)} findings "
                 f"({', '.join(f'{k}: {v}' for k, v in self.checked.items())} checked)"]
        for f in self.findings:
            lines.append(f"- [{f.severity}] {f.where}: {f.check}: {f.arithmetic}")
        return "\n".join(lines)

    def to_html(self) -> str:
        rows = "".join(
            f"<tr class='{html.escape(f.severity)}'><td>{html.escape(f.check)}</td><td>{html.escape(f.severity)}</td>"
            f"<td>{html.escape(f.where)}</td><td>{html.escape(str(f.reported))}</td>"
            f"<td>{html.escape(f.arithmetic)}</td></tr>" for f in self.findings)
        return ("<table class='audit'><thead><tr><th>check</th><th>severity</th><th>where</th>"
                "<th>reported</th><th>arithmetic</th></tr></thead><tbody>" + rows + "</tbody></table>")
