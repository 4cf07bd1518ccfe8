"""Exploratory factor analysis: KMO, Bartlett, parallel analysis, ML/minres/PA
extraction with varimax/oblimin/promax rotation, matching R ``psych::fa``.

Everything here is computed by the project itself, because the library
equivalent is wrong or incomplete for survey data: factor_analyzer 0.5.1
imputes medians silently, has no parallel analysis, returns NaN/inf for KMO
and Bartlett on a constant or duplicated column, and its promax differs from
psych's (psych applies Kaiser normalisation around ``Promax``).

Missing values
--------------
``missing="pairwise"`` (the default, as in psych) builds the correlation
matrix from pairwise-complete observations; ``missing="listwise"`` (SPSS's
default) drops every respondent with a missing item first.  The sample size
used for tests and confidence intervals is the number of complete cases
(listwise) or the *smallest* pairwise count (pairwise; conservative, and
unlike psych, which uses the number of rows).  Every result states which
treatment and which n were used.  Values are never imputed.

Bad input is refused before any computation (:class:`DataValidationError`
naming the column): non-numeric or infinite cells, columns with fewer than
two answers, constant columns, duplicated or perfectly collinear columns (an
eigenvalue check of the correlation matrix; never a silent near-PD
replacement), fewer respondents than items.

The public front door::

    correlation_matrix(data, missing) -> CorrelationData
    kmo(R) -> (overall, per_item);  bartlett_sphericity(R, n) -> dict
    extract(R, n_factors, method);  varimax / promax / oblimin rotations
    factor_analysis(R, n_factors, method, rotation, n) -> EFAResult
    parallel_analysis(R, n, ...) -> ParallelResult
    efa(data, items=None, n_factors="parallel", ...) -> EFAResult
"""
from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
from scipy import optimize, stats

from pipeline.core.exceptions import DataValidationError, ConvergenceWarning

__all__ = [
    "CorrelationData", "correlation_matrix", "check_items", "smc", "kmo",
    "bartlett_sphericity", "extract", "varimax", "promax", "oblimin", "rotate",
    "factor_analysis", "parallel_analysis", "ParallelResult", "EFAResult", "efa",
    "scree_plot", "read_data", "candidate_items", "METHODS", "ROTATIONS", "MISSING",
]

METHODS = ("minres", "ml", "pa", "pc")
ROTATIONS = ("oblimin", "varimax", "promax", "none")
MISSING = ("pairwise", "listwise")
#: smallest eigenvalue of R, relative to the largest, below which the items
#: are treated as duplicated or perfectly collinear
COLLINEARITY_TOL = 1e-8


# --------------------------------------------------------------------------
# reading files (CLI)
# --------------------------------------------------------------------------
def read_data(path: str | Path) -> pd.DataFrame:
    """Read a CSV, XLSX or SAV file for the analysis commands
    (:func:`pipeline.data.loading.read_table`: strict encodings, SAV user-missing
    codes as NaN)."""
    from pipeline.data.loading import read_table
    return read_table(path)


#: Column names that identify respondents rather than measure them.
_ID_NAME = re.compile(r"(?:^|[_.\s-])(?:id|uuid|respondent|resp|case|row)(?:$|[_.\s-])|^id\d*$|^(?:n|no|nr|num|index)$",
                      re.IGNORECASE)
#: Column names of scores derived from items (sums, means, scale scores).
_SCORE_NAME = re.compile(r"(?:^|[_.\s-])(?:score|scores|total|sum|mean|avg|average|index|scale)(?:$|[_.\s-])",
                         re.IGNORECASE)


def candidate_items(data: pd.DataFrame) -> tuple[list[str], dict[str, str]]:
    """The numeric columns that can be items of an EFA, and why the others are left out.

    Excluded, with the reason:

    * non-numeric columns;
    * id-like columns: a name such as ``id``, ``ID``, ``resp_id``,
      ``respondent``, ``case``, or integer values that are all distinct
      (more than 10 rows: an item with a handful of answer codes cannot be);
    * derived score columns: a name such as ``score``, ``A_total``,
      ``mean_L``, ``sum``, or values that are an exact linear function of
      other numeric columns (a row sum or mean; checked from the last column
      backwards, so the score goes and its items stay).

    Returns
    -------
    (items, excluded)
        The item names in file order and ``{column: reason}``.

    In R: no equivalent (``psych::fa`` takes every column it is given).
    """
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"data must be a pandas DataFrame, not {type(data).__name__}")
    excluded: dict[str, str] = {}
    numeric: list[str] = []
    for c in data.columns:
        col = data[c]
        if pd.api.types.is_bool_dtype(col) or not pd.api.types.is_numeric_dtype(col):
            excluded[str(c)] = "not numeric"
            continue
        name = str(c)
        if _ID_NAME.search(name):
            excluded[name] = "id-like name"
            continue
        v = col.dropna().to_numpy(dtype=float)
        if (len(data) > 10 and len(v) == len(data) and np.all(v == np.round(v))
                and len(np.unique(v)) == len(v)):
            excluded[name] = "id-like: distinct integer values"
            continue
        if _SCORE_NAME.search(name):
            excluded[name] = "derived score (name)"
            continue
        numeric.append(c)
    # a column that is an exact linear function of the others (a sum or mean score);
    # derived columns usually follow their items, so the last such column goes first
    X = data[numeric].apply(pd.to_numeric, errors="coerce").astype(float)
    for c in reversed(list(numeric)):
        others = [o for o in numeric if o != c and str(o) not in excluded]
        rows = X[others + [c]].notna().all(axis=1).to_numpy()
        if len(others) < 2 or rows.sum() <= len(others) + 1:
            continue
        A = np.column_stack([np.ones(rows.sum()), X.loc[rows, others].to_numpy()])
        y = X.loc[rows, c].to_numpy()
        coef, *_ = np.linalg.lstsq(A, y, rcond=None)
        if np.max(np.abs(A @ coef - y)) > 1e-9 * max(1.0, float(np.max(np.abs(y)))):
            continue
        used = [(o, b) for o, b in zip(others, coef[1:]) if abs(b) > 1e-9]
        names = ", ".join(str(o) for o, _ in used)
        w = np.array([b for _, b in used])
        if abs(coef[0]) < 1e-9 and np.allclose(w, 1.0):
            how = f"the row sum of {names}"
        elif abs(coef[0]) < 1e-9 and np.allclose(w, 1.0 / len(w)):
            how = f"the row mean of {names}"
        else:
            how = f"a linear combination of {names}"
        excluded[str(c)] = f"derived score: {how}"
    numeric = [c for c in numeric if str(c) not in excluded]
    return numeric, excluded


# --------------------------------------------------------------------------
# input checks and correlation matrix
# --------------------------------------------------------------------------
def _sheet_rows(index: Sequence[Any], positions: Sequence[int]) -> list[int]:
    """1-based spreadsheet rows (header is row 1) for positional indices."""
    return [int(i) + 2 for i in positions]


def check_items(data: pd.DataFrame, items: Sequence[str] | None = None, *,
                file: str | None = None, min_answers: int = 2) -> pd.DataFrame:
    """Validate the item columns of *data* and return them as floats.

    Raises :class:`DataValidationError` naming the column (and rows) for:
    unknown columns, non-numeric cells, infinite values, columns with fewer
    than *min_answers* answers, and constant columns.  NaN stays NaN.

    In R: no equivalent (``psych::alpha`` drops constant items with a warning;
    ``psych::fa`` stops on NA correlations).
    """
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"data must be a pandas DataFrame, not {type(data).__name__}")
    items = list(data.columns if items is None else items)
    if len(items) == 0:
        raise ValueError("items must name at least one column")
    missing_cols = [c for c in items if c not in data.columns]
    if missing_cols:
        raise DataValidationError("unknown item column(s); available: "
                                  + ", ".join(map(str, data.columns)),
                                  file=file, columns=missing_cols)
    dup = sorted({c for c in items if items.count(c) > 1})
    if dup:
        raise ValueError(f"items lists column(s) more than once: {', '.join(dup)}")
    out = {}
    for c in items:
        col = data[c]
        if pd.api.types.is_bool_dtype(col) or not (pd.api.types.is_numeric_dtype(col)
                                                     or col.dtype == object):
            raise DataValidationError("item is not numeric", file=file, columns=[c])
        num = pd.to_numeric(col, errors="coerce")
        bad = np.flatnonzero(num.isna().to_numpy() & col.notna().to_numpy())
        if len(bad):
            raise DataValidationError(
                f"non-numeric value {col.iloc[bad[0]]!r} in a numeric item",
                file=file, columns=[c], rows=_sheet_rows(data.index, bad))
        arr = num.to_numpy(dtype=float)
        inf = np.flatnonzero(np.isinf(arr))
        if len(inf):
            raise DataValidationError("infinite value in an item", file=file,
                                      columns=[c], rows=_sheet_rows(data.index, inf))
        n_ok = int(np.isfinite(arr).sum())
        if n_ok < min_answers:
            raise DataValidationError(
                f"item has {n_ok} answer(s); at least {min_answers} are needed",
                file=file, columns=[c])
        vals = arr[np.isfinite(arr)]
        if np.ptp(vals) == 0:
            raise DataValidationError(
                f"constant item: every answer is {vals[0]:g}; it has no variance "
                "and must be removed before reliability or factor analysis",
                file=file, columns=[c])
        out[c] = arr
    return pd.DataFrame(out, index=data.index)


@dataclass
class CorrelationData:
    """A correlation matrix with the missing-data treatment that produced it.

    Attributes
    ----------
    R : DataFrame
        Correlation matrix (items x items).
    cov : DataFrame
        Covariance matrix (divisor n - 1) from the same observations.
    n : int
        Sample size for inference: complete cases (listwise) or the smallest
        pairwise count (pairwise).
    n_rows : int
        Rows in the data before any deletion.
    pair_counts : DataFrame
        Number of respondents answering both items.
    missing : str
        ``"pairwise"`` or ``"listwise"``.
    """
    R: pd.DataFrame
    cov: pd.DataFrame
    n: int
    n_rows: int
    pair_counts: pd.DataFrame
    missing: str

    @property
    def items(self) -> list[str]:
        return list(self.R.columns)


def _check_missing(missing: str) -> str:
    if missing not in MISSING:
        raise ValueError(f"missing must be 'pairwise' or 'listwise', not {missing!r}")
    return missing


def correlation_matrix(data: pd.DataFrame, items: Sequence[str] | None = None,
                       missing: str = "pairwise", *, file: str | None = None,
                       check_collinear: bool = True) -> CorrelationData:
    """Pearson correlations with an explicit missing-data treatment.

    Parameters
    ----------
    data : DataFrame
        Respondents x items; NaN marks a missing answer.
    items : sequence of str, optional
        Columns to use (default: all).
    missing : {"pairwise", "listwise"}
        Pairwise-complete correlations (psych's default) or complete cases
        only (SPSS's default).
    check_collinear : bool
        Refuse duplicated / perfectly collinear / non-positive-definite
        matrices (see :data:`COLLINEARITY_TOL`).

    Notes
    -----
    In R: ``cor(x, use = "pairwise")`` / ``cor(na.omit(x))``.
    """
    _check_missing(missing)
    X = check_items(data, items, file=file)
    n_rows = len(X)
    if missing == "listwise":
        X = X.dropna()
        if len(X) < 2:
            raise DataValidationError(
                f"only {len(X)} respondent(s) answered every item; listwise "
                "deletion leaves nothing to analyse (try missing='pairwise')",
                file=file, columns=list(X.columns))
        for c in X.columns:  # an item can become constant after deletion
            if np.ptp(X[c].to_numpy()) == 0:
                raise DataValidationError(
                    "constant item after listwise deletion", file=file, columns=[c])
    obs = X.notna().to_numpy().astype(float)
    counts = obs.T @ obs
    cov = X.cov(min_periods=2)
    R = X.corr(min_periods=2)
    if R.isna().to_numpy().any():
        i, j = np.argwhere(R.isna().to_numpy())[0]
        raise DataValidationError(
            f"items {R.columns[i]} and {R.columns[j]} have {int(counts[i, j])} "
            "respondent(s) in common; their correlation cannot be computed",
            file=file, columns=[R.columns[i], R.columns[j]])
    n = int(len(X)) if missing == "listwise" else int(counts.min())
    pair_counts = pd.DataFrame(counts.astype(int), index=X.columns, columns=X.columns)
    cd = CorrelationData(R=R, cov=cov, n=n, n_rows=n_rows, pair_counts=pair_counts,
                         missing=missing)
    if check_collinear:
        if n <= R.shape[0]:
            raise DataValidationError(
                f"n = {n} respondents ({missing}) is not larger than the number of "
                f"items ({R.shape[0]}); the correlation matrix is singular",
                file=file, columns=list(R.columns))
        _check_collinearity(R, file=file, missing=missing)
    return cd


def _check_collinearity(R: pd.DataFrame, *, file: str | None = None,
                        missing: str = "pairwise") -> None:
    """Raise when R is singular (duplicated / collinear items) or not PD."""
    A = R.to_numpy()
    p = A.shape[0]
    if p < 2:
        return
    off = np.abs(A - np.eye(p))
    dup = np.argwhere(np.triu(off >= 1 - 1e-10, 1))
    if len(dup):
        i, j = dup[0]
        raise DataValidationError(
            f"items {R.columns[i]} and {R.columns[j]} are duplicated "
            f"(correlation {A[i, j]:+.6f}); remove one of them",
            file=file, columns=[R.columns[i], R.columns[j]])
    w, V = np.linalg.eigh(A)
    if w[0] <= COLLINEARITY_TOL * max(w[-1], 1.0):
        v = V[:, 0]
        involved = [R.columns[k] for k in np.flatnonzero(np.abs(v) > 0.1)]
        if w[0] < -COLLINEARITY_TOL:
            raise DataValidationError(
                f"the {missing} correlation matrix is not positive definite "
                f"(smallest eigenvalue {w[0]:.3g}); pairwise deletion has produced "
                "an impossible matrix. Use missing='listwise' or inspect these items",
                file=file, columns=involved)
        raise DataValidationError(
            f"items are perfectly collinear (smallest eigenvalue of the correlation "
            f"matrix {w[0]:.3g}): one is a linear combination of the others",
            file=file, columns=involved)


def _as_corr(R: Any, name: str = "R") -> tuple[np.ndarray, list[str]]:
    if isinstance(R, CorrelationData):
        R = R.R
    if isinstance(R, pd.DataFrame):
        names = [str(c) for c in R.columns]
        A = R.to_numpy(dtype=float)
    else:
        A = np.asarray(R, dtype=float)
        names = [f"V{i + 1}" for i in range(A.shape[0])] if A.ndim == 2 else []
    if A.ndim != 2 or A.shape[0] != A.shape[1]:
        raise ValueError(f"{name} must be a square correlation matrix")
    if not np.all(np.isfinite(A)):
        raise ValueError(f"{name} contains NaN or infinite values")
    if not np.allclose(A, A.T, atol=1e-10):
        raise ValueError(f"{name} is not symmetric")
    return A, names


# --------------------------------------------------------------------------
# pure statistics on a correlation matrix
# --------------------------------------------------------------------------
def smc(R: Any) -> np.ndarray:
    """Squared multiple correlations, ``1 - 1 / diag(R^-1)``.

    In R: ``psych::smc(R)``.
    """
    A, _ = _as_corr(R)
    return 1.0 - 1.0 / np.diag(np.linalg.inv(A))


def kmo(R: Any) -> tuple[float, pd.Series]:
    """Kaiser-Meyer-Olkin measure of sampling adequacy.

    With r the correlations and q the partial (anti-image) correlations,
    ``q_ij = -Q_ij / sqrt(Q_ii Q_jj)`` for ``Q = R^-1``, both without the
    diagonal::

        MSA   = sum r^2 / (sum r^2 + sum q^2)
        MSA_j = sum_i r_ij^2 / (sum_i r_ij^2 + sum_i q_ij^2)

    References: Kaiser (1970) Psychometrika 35; Kaiser & Rice (1974).

    In R: ``psych::KMO(R)`` (``$MSA``, ``$MSAi``).

    Returns
    -------
    overall : float
    per_item : Series indexed by item
    """
    A, names = _as_corr(R)
    Q = np.linalg.inv(A)
    d = np.sqrt(np.diag(Q))
    P = Q / np.outer(d, d)
    np.fill_diagonal(P, 0.0)
    r = A.copy()
    np.fill_diagonal(r, 0.0)
    r2, q2 = (r ** 2).sum(0), (P ** 2).sum(0)
    overall = float(r2.sum() / (r2.sum() + q2.sum()))
    return overall, pd.Series(r2 / (r2 + q2), index=names, name="msa")


def bartlett_sphericity(R: Any, n: int) -> dict[str, float]:
    """Bartlett's test that the correlation matrix is an identity matrix.

    ``chisq = -(n - 1 - (2p + 5) / 6) * log|R|`` with ``df = p(p-1)/2``.

    Reference: Bartlett (1950) Br J Psychol Stat Sect 3, 77-85.

    In R: ``psych::cortest.bartlett(R, n = n)``.
    """
    A, _ = _as_corr(R)
    if not isinstance(n, (int, np.integer)) or n < 2:
        raise ValueError(f"n must be an integer >= 2, not {n!r}")
    p = A.shape[0]
    sign, logdet = np.linalg.slogdet(A)
    if sign <= 0:
        raise ValueError("R is not positive definite; Bartlett's test is undefined")
    chisq = -logdet * (n - 1 - (2 * p + 5) / 6)
    df = p * (p - 1) / 2
    return {"chisq": float(chisq), "df": int(df), "pvalue": float(stats.chi2.sf(chisq, df))}


# --------------------------------------------------------------------------
# extraction (psych::fa's fac(): minres, ml, pa)
# --------------------------------------------------------------------------
def _top_loadings(S: np.ndarray, nf: int) -> np.ndarray:
    w, V = np.linalg.eigh(S)
    w, V = w[::-1], V[:, ::-1]
    return V[:, :nf] * np.sqrt(np.maximum(w[:nf], 0.0))


def _minres_fun(psi, S, nf):
    Sr = S.copy()
    np.fill_diagonal(Sr, 1.0 - psi)
    w, V = np.linalg.eigh(Sr)
    w, V = w[::-1], V[:, ::-1]
    w = np.where(w < np.finfo(float).eps, 100 * np.finfo(float).eps, w)
    L = V[:, :nf] * np.sqrt(w[:nf])
    res = (S - L @ L.T)[np.tril_indices_from(S, -1)]
    return float((res ** 2).sum())


def _minres_grad(psi, S, nf):
    L = _top_loadings(S - np.diag(psi), nf)
    return np.diag(L @ L.T) + psi - np.diag(S)


def _ml_fun(psi, S, nf):
    sc = 1.0 / np.sqrt(psi)
    e = np.linalg.eigvalsh(S * np.outer(sc, sc))[::-1][nf:]
    return float(-(np.sum(np.log(e) - e) - nf + S.shape[0]))


def _ml_loadings(psi, S, nf):
    sc = 1.0 / np.sqrt(psi)
    w, V = np.linalg.eigh(S * np.outer(sc, sc))
    w, V = w[::-1], V[:, ::-1]
    return np.sqrt(psi)[:, None] * (V[:, :nf] * np.sqrt(np.maximum(w[:nf] - 1.0, 0.0)))


def _ml_grad(psi, S, nf):
    L = _ml_loadings(psi, S, nf)
    return (np.diag(L @ L.T) + psi - np.diag(S)) / psi ** 2


def extract(R: Any, n_factors: int, method: str = "minres", *,
            max_iter: int = 50, min_err: float = 0.001) -> dict[str, Any]:
    """Unrotated factor extraction as in ``psych::fa``.

    * ``minres`` — minimise the sum of squared off-diagonal residuals over the
      uniquenesses ``psi`` (L-BFGS-B, bounds [0.005, 1], start ``1 - smc``),
      loadings from the eigen decomposition of ``R - diag(psi)``.
    * ``ml`` — maximum likelihood: minimise
      ``-sum_{k>m}(log e_k - e_k) - m + p`` with ``e`` the eigenvalues of
      ``psi^-1/2 R psi^-1/2``; loadings ``psi^1/2 V (e - 1)^1/2``
      (Jöreskog 1967; Lawley & Maxwell 1971).
    * ``pa`` — iterated principal axis from SMC communalities until the sum
      of communalities changes by less than *min_err* (at most *max_iter*).
    * ``pc`` — principal components, ``V_m diag(w_m)^1/2`` from the eigen
      decomposition of R (SPSS FACTOR's default extraction; not a factor
      model, communalities are the retained components' share).

    In R: ``psych::fa(R, nfactors, fm = "minres" | "ml" | "pa", rotate = "none")``;
    ``psych::principal(R, nfactors, rotate = "none")``.

    Returns
    -------
    dict with ``loadings`` (p x m), ``uniquenesses``, ``communalities``,
    ``values`` (eigenvalues of R with communalities on the diagonal),
    ``converged``, ``iterations``, ``objective``.
    """
    A, _ = _as_corr(R)
    p = A.shape[0]
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, not {method!r}")
    if not isinstance(n_factors, (int, np.integer)) or n_factors < 1:
        raise ValueError(f"n_factors must be a positive integer, not {n_factors!r}")
    if n_factors >= p:
        raise ValueError(f"n_factors={n_factors} must be smaller than the number of items ({p})")
    s = smc(A)
    converged, iters, obj = True, 0, float("nan")
    if method == "pc":
        w, V = np.linalg.eigh(A)
        w, V = w[::-1], V[:, ::-1]
        pc_values = w.copy()
        w = np.maximum(w, np.finfo(float).eps)
        L = V[:, :n_factors] * np.sqrt(w[:n_factors])
    elif method == "pa":
        Rm = A.copy()
        np.fill_diagonal(Rm, s)
        comm = s.sum()
        for iters in range(1, max_iter + 1):
            pa_values = np.sort(np.linalg.eigvalsh(Rm))[::-1]  # psych reports these
            L = _top_loadings(Rm, n_factors)
            new = (L ** 2).sum(1)
            np.fill_diagonal(Rm, new)
            err = abs(comm - new.sum())
            comm = new.sum()
            if err < min_err:
                break
        else:
            converged = False
    else:
        upper = max(s.max(), 1.0)
        start = np.diag(A) - s
        fun, grad = ((_minres_fun, _minres_grad) if method == "minres"
                     else (_ml_fun, _ml_grad))
        scale = 0.01  # R's optim(parscale = 0.01)
        res = optimize.minimize(
            lambda x: fun(x * scale, A, n_factors), start / scale,
            jac=lambda x: grad(x * scale, A, n_factors) * scale,
            method="L-BFGS-B", bounds=[(0.005 / scale, upper / scale)] * p,
            options={"maxiter": 100, "ftol": 1e7 * np.finfo(float).eps, "gtol": 0.0})
        psi = res.x * scale
        converged, iters, obj = bool(res.success), int(res.nit), float(res.fun)
        if method == "minres":
            L = _top_loadings(A - np.diag(psi), n_factors)
        else:
            L = _ml_loadings(psi, A, n_factors)
    if n_factors > 1:
        sg = np.sign(L.sum(0))
        sg[sg == 0] = 1
        L = L * sg
    elif L.sum() < 0:
        L = -L
    h2 = (L ** 2).sum(1)
    if method == "pa":
        values = pa_values
    elif method == "pc":
        values = pc_values
    else:
        Sred = A.copy()
        np.fill_diagonal(Sred, h2)
        values = np.sort(np.linalg.eigvalsh(Sred))[::-1]
    return {"loadings": L, "communalities": h2, "uniquenesses": np.diag(A) - h2,
            "values": values, "converged": converged, "iterations": iters,
            "objective": obj}


# --------------------------------------------------------------------------
# rotations
# --------------------------------------------------------------------------
def varimax(L: np.ndarray, normalize: bool = True, eps: float = 1e-5,
            max_iter: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """Kaiser's varimax, the algorithm of R's ``stats::varimax``.

    In R: ``stats::varimax(L, normalize = TRUE, eps = 1e-5)`` (what
    ``psych::fa(rotate = "varimax")`` uses).

    Returns
    -------
    loadings, rotation matrix T (``loadings = L @ T``)
    """
    x = np.asarray(L, dtype=float)
    nc = x.shape[1]
    if nc < 2:
        return x.copy(), np.eye(nc)
    sc = np.sqrt((x ** 2).sum(1)) if normalize else np.ones(x.shape[0])
    x = x / sc[:, None]
    p = x.shape[0]
    T = np.eye(nc)
    d = 0.0
    for _ in range(max_iter):
        z = x @ T
        B = x.T @ (z ** 3 - z @ np.diag((z ** 2).sum(0)) / p)
        u, sv, vt = np.linalg.svd(B)
        T = u @ vt
        dpast, d = d, sv.sum()
        if d < dpast * (1 + eps):
            break
    z = (x @ T) * sc[:, None]
    return z, T


def promax(L: np.ndarray, m: int = 4, kaiser: bool = True
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Promax as ``psych::fa(rotate = "promax")``: Kaiser-normalised rows,
    varimax, target ``Q = x |x|^(m-1)``, least-squares transformation rescaled
    to unit-variance factors, rows de-normalised.  With ``kaiser=False`` the
    rows are not normalised first (R's ``stats::promax``, which
    ``psych::principal`` uses).

    Factor correlations ``Phi = U^-1 U^-T`` with U the full transformation.

    Reference: Hendrickson & White (1964) Br J Stat Psychol 17.

    In R: ``psych::kaiser(L, rotate = "Promax")`` (``psych::Promax`` inside).

    Returns
    -------
    loadings, rotation matrix U, Phi
    """
    L = np.asarray(L, dtype=float)
    h = np.sqrt((L ** 2).sum(1)) if kaiser else np.ones(L.shape[0])
    x0 = L / h[:, None]
    x, T = varimax(x0)
    Q = x * np.abs(x) ** (m - 1)
    U = np.linalg.lstsq(x, Q, rcond=None)[0]
    d = np.diag(np.linalg.inv(U.T @ U))
    U = U @ np.diag(np.sqrt(d))
    z = x @ U
    U = T @ U
    ui = np.linalg.inv(U)
    return z * h[:, None], U, ui @ ui.T


def oblimin(L: np.ndarray, gamma: float = 0.0, eps: float = 1e-5,
            max_iter: int = 1000) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """Direct oblimin by gradient projection (Jennrich 2002), unnormalised.

    Criterion ``f = sum(L^2 * (L^2 N)) / 4`` with ``N`` ones off the diagonal
    (gamma = 0: quartimin); loadings ``A T^-T``, ``Phi = T' T``.

    Reference: Bernaards & Jennrich (2005) Educ Psychol Meas 65, 676-696.

    In R: ``GPArotation::oblimin(L)`` (as ``psych::fa(rotate = "oblimin")``).

    Returns
    -------
    loadings, T, Phi, converged
    """
    A = np.asarray(L, dtype=float)
    k = A.shape[1]
    p = A.shape[0]
    Nmat = 1.0 - np.eye(k)

    def vgq(Lr):
        X = (Lr ** 2) @ Nmat
        if gamma != 0:
            X = (np.eye(p) - gamma / p) @ X
        return Lr * X, float(np.sum(Lr ** 2 * X) / 4)

    T = np.eye(k)
    al = 1.0
    Lr = A @ np.linalg.inv(T).T
    Gq, f = vgq(Lr)
    G = -(Lr.T @ Gq @ np.linalg.inv(T)).T
    converged = False
    for _ in range(max_iter + 1):
        Gp = G - T @ np.diag((T * G).sum(0))
        s = math.sqrt(np.sum(Gp ** 2))
        if s < eps:
            converged = True
            break
        al *= 2
        for _i in range(11):
            X = T - al * Gp
            Tt = X / np.sqrt((X ** 2).sum(0))
            Lr = A @ np.linalg.inv(Tt).T
            Gqt, ft = vgq(Lr)
            if f - ft > 0.5 * s ** 2 * al:
                break
            al /= 2
        T, f, Gq = Tt, ft, Gqt
        G = -(Lr.T @ Gq @ np.linalg.inv(Tt)).T
    return Lr, T, T.T @ T, converged


def rotate(L: np.ndarray, rotation: str, style: str = "fa"
           ) -> tuple[np.ndarray, np.ndarray | None]:
    """Rotate, then sign-align and order factors exactly as ``psych::fa``
    (``style="fa"``: promax with Kaiser normalisation, order by
    ``diag(Phi L'L)``) or ``psych::principal`` (``style="principal"``:
    ``stats::promax``, order by ``diag(L'L)``).

    Returns rotated loadings and Phi (None for orthogonal rotations).

    In R: the rotation step of ``psych::fa`` / ``psych::principal``.
    """
    if style not in ("fa", "principal"):
        raise ValueError(f"style must be 'fa' or 'principal', not {style!r}")
    if rotation not in ROTATIONS:
        raise ValueError(f"rotation must be one of {ROTATIONS}, not {rotation!r}")
    L = np.asarray(L, dtype=float)
    phi = None
    if L.shape[1] > 1 and rotation != "none":
        if rotation == "varimax":
            L, _ = varimax(L)
        elif rotation == "promax":
            L, _, phi = promax(L, kaiser=(style == "fa"))
        else:
            L, _, phi, ok = oblimin(L)
            if not ok:
                warnings.warn("oblimin rotation did not converge in 1000 iterations",
                              ConvergenceWarning, stacklevel=2)
    if L.shape[1] > 1:
        sg = np.sign(L.sum(0))
        sg[sg == 0] = 1
        L = L * sg
        if phi is not None:
            phi = phi * np.outer(sg, sg)
        ev = (np.diag(phi @ L.T @ L) if phi is not None and style == "fa"
              else (L ** 2).sum(0))
        order = np.argsort(-ev, kind="stable")
        L = L[:, order]
        if phi is not None:
            phi = phi[np.ix_(order, order)]
    return L, phi


# --------------------------------------------------------------------------
# parallel analysis
# --------------------------------------------------------------------------
@dataclass
class ParallelResult:
    """Horn's parallel analysis (psych ``fa.parallel`` with simulated data)."""
    pc_values: np.ndarray
    fa_values: np.ndarray
    pc_sim_mean: np.ndarray
    fa_sim_mean: np.ndarray
    pc_sim_quantile: np.ndarray
    fa_sim_quantile: np.ndarray
    n_factors: int
    n_components: int
    n: int
    n_iter: int
    quantile: float
    seed: int | None
    items: list[str] = field(default_factory=list)

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame({
            "pc_observed": self.pc_values, "pc_simulated_mean": self.pc_sim_mean,
            f"pc_simulated_q{self.quantile:g}": self.pc_sim_quantile,
            "fa_observed": self.fa_values, "fa_simulated_mean": self.fa_sim_mean,
            f"fa_simulated_q{self.quantile:g}": self.fa_sim_quantile},
            index=pd.RangeIndex(1, len(self.pc_values) + 1, name="factor"))

    def summary(self) -> str:
        return (f"Parallel analysis ({self.n_iter} simulated data sets of n = {self.n}, "
                f"{self.quantile:.0%} quantile, seed {self.seed}): "
                f"{self.n_factors} factor(s), {self.n_components} component(s).")


def _leading_count(obs: np.ndarray, thr: np.ndarray) -> int:
    below = np.flatnonzero(~(obs > thr))
    return int(below[0]) if len(below) else int(len(obs))


def parallel_analysis(R: Any, n: int, *, n_iter: int = 20, seed: int | None = 20190601,
                      quantile: float = 0.95, method: str = "minres") -> ParallelResult:
    """Horn's (1965) parallel analysis for factors and components.

    Observed eigenvalues of R (components) and of R with one-factor
    communalities on the diagonal (factors, ``fa(R, 1, fm = method)$values``)
    are compared with the *quantile* of the same eigenvalues from *n_iter*
    correlation matrices of n x p standard-normal data drawn with
    ``numpy.random.default_rng(seed)``.  The number retained is the count of
    leading observed eigenvalues that exceed the simulated quantile.

    In R: ``psych::fa.parallel(R, n.obs = n, fm = "minres", fa = "both",
    n.iter = 20)`` (random draws differ from R's; the observed eigenvalues
    are identical).
    """
    A, names = _as_corr(R)
    if not isinstance(n, (int, np.integer)) or n < 3:
        raise ValueError(f"n must be an integer >= 3, not {n!r}")
    if not isinstance(n_iter, (int, np.integer)) or n_iter < 1:
        raise ValueError(f"n_iter must be a positive integer, not {n_iter!r}")
    if not 0 < quantile < 1:
        raise ValueError(f"quantile must lie in (0, 1), not {quantile!r}")
    p = A.shape[0]
    pc = np.sort(np.linalg.eigvalsh(A))[::-1]
    fa_vals = extract(A, 1, method)["values"]
    rng = np.random.default_rng(seed)
    sim_pc = np.empty((n_iter, p))
    sim_fa = np.empty((n_iter, p))
    for i in range(n_iter):
        C = np.corrcoef(rng.standard_normal((n, p)), rowvar=False)
        sim_pc[i] = np.sort(np.linalg.eigvalsh(C))[::-1]
        sim_fa[i] = extract(C, 1, method)["values"]
    q_pc = np.quantile(sim_pc, quantile, axis=0)
    q_fa = np.quantile(sim_fa, quantile, axis=0)
    return ParallelResult(pc, fa_vals, sim_pc.mean(0), sim_fa.mean(0), q_pc, q_fa,
                          _leading_count(fa_vals, q_fa), _leading_count(pc, q_pc),
                          int(n), int(n_iter), float(quantile), seed, names)


# --------------------------------------------------------------------------
# the result object and the wrapper
# --------------------------------------------------------------------------
@dataclass
class EFAResult:
    """An exploratory factor analysis with its adequacy checks."""
    loadings: pd.DataFrame
    communalities: pd.Series
    uniquenesses: pd.Series
    phi: pd.DataFrame | None
    eigenvalues: np.ndarray          # of R (principal components)
    values: np.ndarray               # of R with communalities on the diagonal
    method: str
    rotation: str
    n_factors: int
    n: int | None
    missing: str
    kmo: float | None = None
    kmo_items: pd.Series | None = None
    bartlett: dict[str, float] | None = None
    parallel: ParallelResult | None = None
    factor_rule: str = "fixed"
    converged: bool = True
    n_rows: int | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def variance(self) -> pd.DataFrame:
        """SS loadings, proportion and cumulative proportion of variance
        (``psych``'s ``Vaccounted``; for oblique rotations
        ``diag(Phi L'L)``)."""
        L = self.loadings.to_numpy()
        p = L.shape[0]
        ss = np.diag(self.phi.to_numpy() @ L.T @ L) if self.phi is not None else (L ** 2).sum(0)
        prop = ss / p
        return pd.DataFrame({"ss_loadings": ss, "proportion": prop,
                             "cumulative": np.cumsum(prop)},
                            index=self.loadings.columns).T

    def to_frame(self) -> pd.DataFrame:
        """Loadings with communality (h2) and uniqueness (u2) per item."""
        df = self.loadings.copy()
        df["h2"] = self.communalities
        df["u2"] = self.uniquenesses
        if self.kmo_items is not None:
            df["msa"] = self.kmo_items
        return df

    def to_dict(self) -> dict[str, Any]:
        """The JSON of ``python -m pipeline efa``."""
        out: dict[str, Any] = {
            "n": self.n, "n_rows": self.n_rows, "missing": self.missing,
            "method": self.method, "rotation": self.rotation,
            "kmo": self.kmo,
            "kmo_items": None if self.kmo_items is None else
            {k: float(v) for k, v in self.kmo_items.items()},
            "bartlett": self.bartlett,
            "n_factors": self.n_factors, "factor_rule": self.factor_rule,
            "eigenvalues": [float(v) for v in self.eigenvalues],
            "eigenvalues_gt1": int((self.eigenvalues > 1).sum()),
            "loadings": {i: [float(v) for v in row]
                         for i, row in zip(self.loadings.index, self.loadings.to_numpy())},
            "communalities": {k: float(v) for k, v in self.communalities.items()},
            "factor_correlations": None if self.phi is None else self.phi.to_numpy().tolist(),
            "variance": {c: {k: float(v) for k, v in col.items()}
                         for c, col in self.variance.items()},
            "converged": self.converged, "warnings": list(self.warnings),
        }
        if self.parallel is not None:
            pr = self.parallel
            out["parallel"] = {"n_factors": pr.n_factors, "n_components": pr.n_components,
                               "n_iter": pr.n_iter, "seed": pr.seed, "quantile": pr.quantile,
                               "fa_values": pr.fa_values.tolist(),
                               "fa_simulated": pr.fa_sim_quantile.tolist(),
                               "pc_simulated": pr.pc_sim_quantile.tolist()}
        return out

    def summary(self) -> str:
        lines = [f"Exploratory factor analysis: {self.method}, {self.rotation} rotation, "
                 f"{self.n_factors} factor(s) ({self.factor_rule}); missing = {self.missing}, "
                 f"n = {self.n}" + (f" of {self.n_rows} rows" if self.n_rows else "")]
        if self.kmo is not None:
            lines.append(f"KMO = {self.kmo:.3f}")
        if self.bartlett is not None:
            b = self.bartlett
            lines.append(f"Bartlett: chisq({b['df']}) = {b['chisq']:.2f}, p = {b['pvalue']:.3g}")
        lines.append(f"Eigenvalues > 1: {int((self.eigenvalues > 1).sum())}")
        if self.parallel is not None:
            lines.append(self.parallel.summary())
        lines.append(self.to_frame().round(3).to_string())
        lines.append(self.variance.round(3).to_string())
        if self.phi is not None:
            lines.append("Factor correlations:\n" + self.phi.round(3).to_string())
        lines += [f"WARNING: {w}" for w in self.warnings]
        return "\n".join(lines)


def factor_analysis(R: Any, n_factors: int, method: str = "minres",
                    rotation: str = "oblimin", *, n: int | None = None,
                    missing: str = "pairwise") -> EFAResult:
    """Factor analysis of a correlation matrix (pure layer).

    Extraction by :func:`extract`, rotation by :func:`rotate`; communalities
    are those of the unrotated solution (rotation does not change them).

    In R: ``psych::fa(R, nfactors, n.obs = n, fm = method, rotate = rotation)``;
    ``psych::principal(R, nfactors, rotate = rotation)`` for ``method="pc"``.
    """
    A, names = _as_corr(R)
    ex = extract(A, n_factors, method)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        L, phi = rotate(ex["loadings"], rotation,
                        style="principal" if method == "pc" else "fa")
    rot_warn = [str(w.message) for w in caught if issubclass(w.category, ConvergenceWarning)]
    for w in caught:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    prefix = {"minres": "MR", "ml": "ML", "pa": "PA", "pc": "PC"}[method]
    cols = [f"{prefix}{j + 1}" for j in range(n_factors)]
    warn_list = list(rot_warn)
    if not ex["converged"]:
        msg = f"{method} extraction did not converge ({ex['iterations']} iterations)"
        warnings.warn(msg, ConvergenceWarning, stacklevel=2)
        warn_list.append(msg)
    # minres/ml bound the uniquenesses below at 0.005 (as psych): a communality
    # at that bound (>= 0.995) or above 1 (pa) is a Heywood case
    heywood = (ex["communalities"] >= 0.995 - 1e-6) & (method != "pc")
    if np.any(heywood):
        bad = [names[i] for i in np.flatnonzero(heywood)]
        from pipeline.core.exceptions import HeywoodCaseWarning
        msg = (f"Heywood case: communality at or above the bound (0.995) for "
               f"{', '.join(bad)}; the solution is improper")
        warnings.warn(msg, HeywoodCaseWarning, stacklevel=2)
        warn_list.append(msg)
    return EFAResult(
        loadings=pd.DataFrame(L, index=names, columns=cols),
        communalities=pd.Series(ex["communalities"], index=names, name="h2"),
        uniquenesses=pd.Series(ex["uniquenesses"], index=names, name="u2"),
        phi=None if phi is None else pd.DataFrame(phi, index=cols, columns=cols),
        eigenvalues=np.sort(np.linalg.eigvalsh(A))[::-1], values=ex["values"],
        method=method, rotation=rotation, n_factors=n_factors,
        n=None if n is None else int(n), missing=missing,
        converged=ex["converged"], warnings=warn_list)


def efa(data: pd.DataFrame, items: Sequence[str] | None = None, *,
        n_factors: int | str = "parallel", method: str = "minres",
        rotation: str = "oblimin", missing: str = "pairwise", seed: int | None = 20190601,
        n_iter: int = 20, file: str | None = None) -> EFAResult:
    """Exploratory factor analysis of respondent data (wrapper).

    Validates the items, builds the correlation matrix under *missing*,
    computes KMO and Bartlett's test, chooses the number of factors
    (an integer, ``"parallel"`` for parallel analysis or ``"kaiser"`` for
    eigenvalues > 1), extracts and rotates.

    In R: ``psych::KMO``, ``psych::cortest.bartlett``, ``psych::fa.parallel``,
    ``psych::fa``.
    """
    _check_missing(missing)
    cd = correlation_matrix(data, items, missing, file=file)
    p = len(cd.items)
    if p < 3:
        raise ValueError(f"items: an EFA needs at least 3 items, got {p}")
    if cd.n <= p:
        raise DataValidationError(
            f"n = {cd.n} respondents ({missing}) is not larger than the number of "
            f"items ({p}); the factor analysis is not estimable", file=file,
            columns=cd.items)
    k_overall, k_items = kmo(cd.R)
    bart = bartlett_sphericity(cd.R, cd.n)
    par = None
    if isinstance(n_factors, str):
        if n_factors == "parallel":
            par = parallel_analysis(cd.R, cd.n, n_iter=n_iter, seed=seed, method="minres")
            k = par.n_components if method == "pc" else par.n_factors
            k, rule = max(k, 1), "parallel analysis"
        elif n_factors == "kaiser":
            k, rule = max(int((np.linalg.eigvalsh(cd.R.to_numpy()) > 1).sum()), 1), "eigenvalues > 1"
        else:
            try:
                k, rule = int(n_factors), "fixed"
            except ValueError:
                raise ValueError("n_factors must be an integer, 'parallel' or 'kaiser', "
                                 f"not {n_factors!r}") from None
    else:
        k, rule = int(n_factors), "fixed"
    max_k = int(np.floor((2 * p + 1 - np.sqrt(8 * p + 1)) / 2))  # df >= 0 (Ledermann bound)
    if k > max_k and method == "ml":
        raise ValueError(f"n_factors={k} exceeds the Ledermann bound {max_k} for {p} items")
    res = factor_analysis(cd.R, k, method, rotation, n=cd.n, missing=missing)
    res.kmo, res.kmo_items, res.bartlett = k_overall, k_items, bart
    res.parallel, res.factor_rule, res.n_rows = par, rule, cd.n_rows
    return res


def scree_plot(result: EFAResult, path: str | Path) -> Path:
    """Scree plot (observed and, if present, simulated eigenvalues), PNG or SVG,
    written atomically."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pipeline.core.io import atomic_write
    path = Path(path)
    fig, ax = plt.subplots(figsize=(6, 4))
    x = np.arange(1, len(result.eigenvalues) + 1)
    ax.plot(x, result.eigenvalues, "o-", label="components (observed)")
    if result.parallel is not None:
        ax.plot(x, result.parallel.fa_values, "s-", label="factors (observed)")
        ax.plot(x, result.parallel.pc_sim_quantile, "--", label="components (simulated)")
        ax.plot(x, result.parallel.fa_sim_quantile, ":", label="factors (simulated)")
    ax.axhline(1.0, color="grey", lw=0.8)
    ax.set_xlabel("factor / component")
    ax.set_ylabel("eigenvalue")
    ax.set_title(f"Scree plot (n = {result.n}, {result.missing})")
    ax.legend()
    fig.tight_layout()
    with atomic_write(path, "wb", encoding=None) as fh:
        fig.savefig(fh, format=path.suffix.lstrip(".").lower() or "png")
    plt.close(fig)
    return path
