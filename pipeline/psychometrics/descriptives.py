"""Descriptive statistics of items and construct scores, as SPSS prints them.

Per item and per construct score: n, mean, SD (n - 1), median, min, max,
skewness and kurtosis in SPSS's bias-corrected definitions with SPSS's
standard errors, and the Shapiro-Wilk test.  Per construct: Mardia's
multivariate skewness and kurtosis.  Per item: the response distribution
(counts and percentages of each code, and of missing answers).

Definitions (Joanes & Gill 1998, "Comparing measures of sample skewness and
kurtosis", The Statistician 47, 183-189; SPSS Statistics Algorithms,
DESCRIPTIVES).  With ``m_r = sum (x - mean)^r / n``::

    g1 = m3 / m2^(3/2)                      g2 = m4 / m2^2 - 3
    G1 = g1 sqrt(n (n - 1)) / (n - 2)       (SPSS / Excel SKEW; psych type = 2)
    G2 = ((n + 1) g2 + 6) (n - 1) / ((n - 2)(n - 3))   (SPSS / Excel KURT)
    SE(G1) = sqrt(6 n (n - 1) / ((n - 2)(n + 1)(n + 3)))
    SE(G2) = 2 SE(G1) sqrt((n^2 - 1) / ((n - 3)(n + 5)))

Missing answers are excluded item by item (SPSS "exclude cases pairwise"
for DESCRIPTIVES); construct scores are the mean of a respondent's items
(reverse-keyed items reflected first) and need at least ``min_share`` of the
items answered (default: all).  Mardia's coefficients use complete cases.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from pipeline.psychometrics.efa import check_items
from pipeline.core.exceptions import NotEstimableWarning

__all__ = [
    "spss_skewness", "spss_kurtosis", "shapiro_wilk", "mardia", "describe_values",
    "construct_scores", "response_distribution", "DescriptivesResult", "describe",
    "describe_codebook",
]


def _clean(x: Any, name: str = "x") -> np.ndarray:
    a = np.asarray(x, dtype=float).ravel()
    if np.any(np.isinf(a)):
        raise ValueError(f"{name} contains infinite values")
    return a[~np.isnan(a)]


def spss_skewness(x: Any) -> tuple[float, float]:
    """SPSS skewness G1 and its standard error (see the module docstring).

    NaN when n < 3 or the values are constant.

    In R: ``psych::skew(x, type = 2)`` (point value); SPSS DESCRIPTIVES
    /STATISTICS=SKEWNESS.
    """
    a = _clean(x)
    n = len(a)
    if n < 3:
        return float("nan"), float("nan")
    d = a - a.mean()
    m2, m3 = np.mean(d ** 2), np.mean(d ** 3)
    se = np.sqrt(6.0 * n * (n - 1) / ((n - 2) * (n + 1) * (n + 3)))
    if m2 == 0:
        return float("nan"), float(se)
    g1 = m3 / m2 ** 1.5
    return float(g1 * np.sqrt(n * (n - 1)) / (n - 2)), float(se)


def spss_kurtosis(x: Any) -> tuple[float, float]:
    """SPSS excess kurtosis G2 and its standard error (module docstring).

    NaN when n < 4 or the values are constant.

    In R: ``psych::kurtosi(x, type = 2)``; SPSS DESCRIPTIVES /STATISTICS=KURTOSIS.
    """
    a = _clean(x)
    n = len(a)
    if n < 4:
        return float("nan"), float("nan")
    d = a - a.mean()
    m2, m4 = np.mean(d ** 2), np.mean(d ** 4)
    se_s = np.sqrt(6.0 * n * (n - 1) / ((n - 2) * (n + 1) * (n + 3)))
    se = 2.0 * se_s * np.sqrt((n * n - 1.0) / ((n - 3) * (n + 5)))
    if m2 == 0:
        return float("nan"), float(se)
    g2 = m4 / m2 ** 2 - 3.0
    return float(((n + 1) * g2 + 6) * (n - 1) / ((n - 2) * (n - 3))), float(se)


def shapiro_wilk(x: Any) -> tuple[float, float]:
    """Shapiro-Wilk W and p (Royston 1995 algorithm AS R94, as R and SPSS).

    NaN for n < 3, n > 5000 (R's limit) or constant values.

    In R: ``shapiro.test(x)``.
    """
    a = _clean(x)
    if len(a) < 3 or len(a) > 5000 or np.ptp(a) == 0:
        return float("nan"), float("nan")
    res = stats.shapiro(a)
    return float(res.statistic), float(res.pvalue)


def mardia(X: Any) -> dict[str, float]:
    """Mardia's (1970) multivariate skewness and kurtosis on complete cases.

    With centred data x_i, S the covariance matrix (divisor n - 1, as psych;
    Mardia's paper divides by n) and
    ``d_ij = x_i' S^-1 x_j``::

        b1p = sum_ij d_ij^3 / n^2,   b2p = sum_i d_ii^2 / n
        skew = n b1p / 6 ~ chi2(p (p + 1)(p + 2) / 6)
        small_skew = n k b1p / 6, k = (p+1)(n+1)(n+3) / (n ((n+1)(p+1) - 6))
        kurtosis = (b2p - p (p + 2)) / sqrt(8 p (p + 2) / n) ~ N(0, 1)

    In R: ``psych::mardia(x)`` (``b1p b2p skew small.skew kurtosis p.skew
    p.small p.kurt``).
    """
    A = np.asarray(X.to_numpy() if isinstance(X, pd.DataFrame) else X, dtype=float)
    if A.ndim != 2:
        raise ValueError("X must be a 2-D array of respondents x items")
    A = A[~np.isnan(A).any(1)]
    n, p = A.shape
    if n <= p:
        raise ValueError(f"X: Mardia's coefficients need more complete cases ({n}) than items ({p})")
    Xc = A - A.mean(0)
    S = Xc.T @ Xc / (n - 1)
    D = Xc @ np.linalg.solve(S, Xc.T)
    b1p = float((D ** 3).sum() / n ** 2)
    b2p = float(np.sum(np.diag(D) ** 2) / n)
    df = p * (p + 1) * (p + 2) / 6
    k = (p + 1) * (n + 1) * (n + 3) / (n * ((n + 1) * (p + 1) - 6))
    skew = n * b1p / 6
    small = n * k * b1p / 6
    kurt = (b2p - p * (p + 2)) * np.sqrt(n / (8 * p * (p + 2)))
    return {"n": int(n), "p": int(p), "b1p": b1p, "b2p": b2p, "skew": float(skew),
            "small_skew": float(small), "df": float(df), "kurtosis": float(kurt),
            "p_skew": float(stats.chi2.sf(skew, df)), "p_small": float(stats.chi2.sf(small, df)),
            "p_kurt": float(2 * stats.norm.sf(abs(kurt)))}


def describe_values(x: Any) -> dict[str, float]:
    """Every univariate statistic of one variable (missing values excluded).

    In R: ``psych::describe(x, type = 2)`` plus ``shapiro.test(x)``.
    """
    a = _clean(x)
    n = len(a)
    sk, se_sk = spss_skewness(a)
    ku, se_ku = spss_kurtosis(a)
    w, pw = shapiro_wilk(a)
    return {"n": int(n), "mean": float(a.mean()) if n else np.nan,
            "sd": float(a.std(ddof=1)) if n > 1 else np.nan,
            "median": float(np.median(a)) if n else np.nan,
            "min": float(a.min()) if n else np.nan, "max": float(a.max()) if n else np.nan,
            "skewness": sk, "se_skewness": se_sk, "kurtosis": ku, "se_kurtosis": se_ku,
            "shapiro_w": w, "shapiro_p": pw}


def construct_scores(data: pd.DataFrame, constructs: Mapping[str, Sequence[str]],
                     reverse: Iterable[str] = (), *, min_score: float | None = None,
                     max_score: float | None = None, min_share: float = 1.0) -> pd.DataFrame:
    """Construct scores: the mean of each respondent's items.

    Reverse-keyed items are reflected as ``min + max - x`` first.  A score is
    NaN when fewer than ``min_share`` of its items are answered (default 1.0:
    every item, as SPSS ``MEAN.k`` with k = all items).

    In R: ``rowMeans(x_keyed)`` (min_share = 1); ``psych::scoreItems(keys, x,
    impute = "none")`` averages whatever items were answered.
    """
    if not 0 < min_share <= 1:
        raise ValueError(f"min_share must lie in (0, 1], not {min_share!r}")
    reverse = set(reverse)
    out = {}
    for name, items in constructs.items():
        X = check_items(data, list(items), min_answers=1) if len(items) else None
        if X is None:
            raise ValueError(f"constructs: {name!r} has no items")
        for c in X.columns:
            if c in reverse:
                lo = np.nanmin(X.to_numpy()) if min_score is None else min_score
                hi = np.nanmax(X.to_numpy()) if max_score is None else max_score
                X[c] = lo + hi - X[c]
        k = X.shape[1]
        answered = X.notna().sum(1)
        s = X.mean(1)
        s[answered < np.ceil(min_share * k - 1e-9)] = np.nan
        out[name] = s
    return pd.DataFrame(out, index=data.index)


def response_distribution(data: pd.DataFrame, items: Sequence[str],
                          codes: Mapping[str, Sequence[Any]] | Sequence[Any] | None = None
                          ) -> pd.DataFrame:
    """Counts and percentages of each answer code per item (tidy).

    Columns ``item, code, count, percent, valid_percent`` (SPSS FREQUENCIES:
    percent of all respondents, valid percent of those who answered); the
    code ``"missing"`` counts unanswered items.  Codes that nobody chose are
    listed with count 0 when *codes* gives the full code list.

    In R: ``table(factor(x, levels = codes), useNA = "always")``.
    """
    rows = []
    n = len(data)
    for it in items:
        v = data[it]
        valid = v.dropna()
        cl = codes.get(it) if isinstance(codes, Mapping) else codes
        levels = list(cl) if cl is not None else sorted(valid.unique().tolist())
        counts = valid.value_counts()
        extra = [c for c in counts.index if c not in levels]
        for c in levels + sorted(extra):
            cnt = int(counts.get(c, 0))
            rows.append({"item": it, "code": c, "count": cnt,
                         "percent": 100.0 * cnt / n if n else np.nan,
                         "valid_percent": 100.0 * cnt / len(valid) if len(valid) else np.nan})
        miss = int(v.isna().sum())
        rows.append({"item": it, "code": "missing", "count": miss,
                     "percent": 100.0 * miss / n if n else np.nan, "valid_percent": np.nan})
    return pd.DataFrame(rows, columns=["item", "code", "count", "percent", "valid_percent"])


@dataclass
class DescriptivesResult:
    """Item and construct descriptives, Mardia per construct, distributions."""
    items: pd.DataFrame
    constructs: pd.DataFrame
    mardia: pd.DataFrame
    distribution: pd.DataFrame
    n_rows: int
    missing: str = "pairwise (item by item); construct scores need every item answered"
    warnings: list[str] = field(default_factory=list)

    def distribution_counts(self) -> pd.DataFrame:
        """Item x code table of counts (internal, unsuppressed numbers)."""
        d = self.distribution
        wide = d.pivot(index="item", columns="code", values="count")
        order = list(dict.fromkeys(d["code"]))
        codes = [c for c in order if c != "missing"] + (["missing"] if "missing" in order else [])
        return wide.reindex(index=list(dict.fromkeys(d["item"])), columns=codes).fillna(0).astype(int)

    def distribution_table(self, k: int):
        """The response distribution for a report, with small-cell suppression
        (cells below *k*, with complementary suppression) --
        see :func:`pipeline.data.privacy.suppress_small_cells`.  Items are rows
        (each row total is the number of respondents)."""
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"k must be a positive integer, not {k!r}")
        from pipeline.data.privacy import suppress_small_cells
        return suppress_small_cells(self.distribution_counts(), k)

    def to_frame(self) -> pd.DataFrame:
        """Items and construct scores in one table (``kind`` column)."""
        a = self.items.assign(kind="item")
        b = self.constructs.assign(kind="construct")
        return pd.concat([a, b])

    def to_dict(self) -> dict[str, Any]:
        def rec(df):
            return {str(k): {c: (None if isinstance(v, float) and not np.isfinite(v) else v)
                             for c, v in row.items()} for k, row in df.to_dict("index").items()}
        return {"n_rows": self.n_rows, "missing": self.missing,
                "items": rec(self.items), "constructs": rec(self.constructs),
                "mardia": rec(self.mardia),
                "distribution": self.distribution.astype({"code": str}).to_dict("records"),
                "warnings": list(self.warnings)}

    def summary(self) -> str:
        cols = ["n", "mean", "sd", "median", "skewness", "se_skewness", "kurtosis",
                "se_kurtosis", "shapiro_w", "shapiro_p"]
        parts = [f"Descriptive statistics ({self.n_rows} respondents; missing: {self.missing})",
                 self.items[cols].round(3).to_string()]
        if len(self.constructs):
            parts += ["Construct scores:", self.constructs[cols].round(3).to_string()]
        if len(self.mardia):
            parts += ["Mardia's multivariate skewness and kurtosis:",
                      self.mardia.round(3).to_string()]
        parts += [f"WARNING: {w}" for w in self.warnings]
        return "\n".join(parts)


def describe(data: pd.DataFrame, items: Sequence[str] | None = None,
             constructs: Mapping[str, Sequence[str]] | None = None, *,
             reverse: Iterable[str] = (), codes: Any = None,
             min_score: float | None = None, max_score: float | None = None,
             min_share: float = 1.0, file: str | None = None) -> DescriptivesResult:
    """Descriptives of every item and construct score (wrapper).

    In R: ``psych::describe(x, type = 2)``, ``shapiro.test``, ``psych::mardia``.
    """
    if items is None:
        items = [c for c in data.columns if c != "id" and pd.api.types.is_numeric_dtype(data[c])]
    X = check_items(data, list(items), file=file, min_answers=1) if items else pd.DataFrame()
    item_tab = pd.DataFrame({c: describe_values(X[c]) for c in X.columns}).T
    item_tab.index.name = "item"
    constructs = dict(constructs or {})
    warn_list = []
    if constructs:
        S = construct_scores(data, constructs, reverse, min_score=min_score,
                             max_score=max_score, min_share=min_share)
        con_tab = pd.DataFrame({c: describe_values(S[c]) for c in S.columns}).T
        mrows = {}
        for name, its in constructs.items():
            if len(its) < 2:
                msg = f"construct {name!r} has one item: Mardia's coefficients not estimable"
                warnings.warn(msg, NotEstimableWarning, stacklevel=2)
                warn_list.append(msg)
                continue
            try:
                mrows[name] = mardia(check_items(data, list(its), min_answers=1))
            except ValueError as exc:
                warn_list.append(f"construct {name!r}: {exc}")
        mar = pd.DataFrame(mrows).T
    else:
        con_tab, mar = pd.DataFrame(columns=item_tab.columns), pd.DataFrame()
    con_tab.index.name = "construct"
    for t in (item_tab, con_tab):
        if len(t):
            t["n"] = t["n"].astype(int)
    dist = response_distribution(X, list(X.columns), codes)
    return DescriptivesResult(item_tab, con_tab, mar, dist, len(data), warnings=warn_list)


def describe_codebook(data: pd.DataFrame, codebook: Any, *, min_share: float = 1.0,
                      file: str | None = None) -> DescriptivesResult:
    """Descriptives of a codebook's Likert items and constructs, with every
    answer code listed in the distributions."""
    items = [i for i in codebook.likert_items if i in data.columns]
    cons = {k: [i for i in v if i in data.columns] for k, v in codebook.constructs.items()}
    cons = {k: v for k, v in cons.items() if v}
    codes = {i: list(codebook.variables[i].codes) for i in items}
    allc = [c for i in items for c in codebook.variables[i].codes]
    lo, hi = (min(allc), max(allc)) if allc else (None, None)
    return describe(data, items, cons, reverse=codebook.reverse_keyed, codes=codes,
                    min_score=lo, max_score=hi, min_share=min_share, file=file)
