"""Ordinal data for WLS estimation: thresholds, polychoric / polyserial correlations, Gamma.

API (group-general: a multi-group fit calls :func:`wls_stats` once per group
and passes the per-group pieces to :mod:`pipeline.sem.robust`)
-------------------------------------------------------------------------

``check_ordinal(X, names, ordered, source=None)`` -> list of int code arrays
    Validates the ordered columns: finite, integer-valued; categories are the
    sorted distinct values; an *empty* category inside the observed range
    (e.g. 1, 2, 4 observed on a 1..5 item whose ``levels`` say 3 exists)
    raises :class:`~pipeline.core.exceptions.DataValidationError` naming item
    and category.
``thresholds(codes, ncat)`` -> ndarray
    Univariate probit thresholds ``Phi^-1(cumulative proportion)``.
``bvn_cdf(h, k, rho)`` -> ndarray
    Bivariate standard normal CDF (Genz 2004 algorithm, vectorised).
``polychoric(x, y, tx=None, ty=None)`` -> float
    Two-step ML polychoric correlation of two code vectors (thresholds fixed).
``polyserial(x, y, ty=None)`` -> float
    Two-step ML polyserial correlation of a continuous x and codes y.
``wls_stats(X, names, ordered)`` -> WLSStats
    Everything WLSMV needs for one group: ``th`` (thresholds, item order,
    then category order), ``th_names`` ("item|t1", ...), ``cor`` (p x p,
    polychoric / polyserial / Pearson), ``obs`` (the WLS vector
    ``[th ; vech(cor, diagonal=False)]``, lavaan's ``WLS.obs``), ``gamma``
    (per-case NACOV of ``obs``, i.e. ACOV(sqrt(N) obs), lavaan's ``NACOV``
    via Muthen (1984)), ``wdiag`` (DWLS weights ``1 / diag(gamma)``),
    ``nobs``, ``pairs`` (the (i, j) of each correlation, lavaan's
    ``vech(diagonal=FALSE)`` order: column-major lower triangle).
    Continuous variables (not in *ordered*) get lavaan's layout: ``-mean``
    in the thresholds block, their variances after it, covariances
    (polyserial x SD, Pearson) in the correlation block.
``wls_stats_x(X, names, xnames)`` -> WLSStats
    The same conditional on exogenous covariates (lavaan's conditional.x):
    probit-regression thresholds, ``slopes`` (items x covariates), residual
    polychoric correlations; ``obs = [th ; vec(slopes) ; vech(res.cor)]``.

In R: ``lavCor(data, ordered=)``; ``lavInspect(fit, "sampstat")``;
``lavInspect(fit, "gamma")``; ``lavaan:::muthen1984``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import special

from pipeline.core.exceptions import DataValidationError, SparseTableWarning

__all__ = ["check_ordinal", "thresholds", "bvn_cdf", "bvn_pdf", "polychoric", "polyserial",
           "wls_stats", "wls_stats_x", "probit_regression", "WLSStats", "pairs_vech"]

_BIG = 40.0


class EmptyCategoryWarning(SparseTableWarning):
    """An ordinal item skips a response category nobody chose; the remaining
    categories are used (one threshold fewer), as lavaan does."""


def _ncdf(x):
    return special.ndtr(x)


def _npdf(x):
    return np.exp(-0.5 * np.asarray(x, dtype=float) ** 2) / math.sqrt(2 * math.pi)


def check_ordinal(X: np.ndarray, names: list[str], ordered: list[str], *,
                  levels: dict[str, list] | None = None, source: str | None = None,
                  row_numbers: np.ndarray | None = None,
                  notes: list[str] | None = None) -> dict[str, np.ndarray]:
    """Validate ordered columns and code them 0..K-1 (NaN stays missing: -1).

    Categories are the distinct observed values unless *levels* gives the
    full list for an item.  A declared level nobody chose is an error naming
    item and category (lavaan stops too).  Without *levels*, a gap in the
    integer codes (1, 2, 4, 5 on a 5-point item) is collapsed as lavaan does
    (the observed categories get consecutive thresholds) and stated: an
    :class:`EmptyCategoryWarning` naming item and category, appended to
    *notes* when a list is given (the caller reports it), emitted otherwise.  An item with one category
    is an error.

    *row_numbers* are the spreadsheet row numbers of the rows of X (header =
    row 1; default ``2, 3, ...``), used in the messages.

    Returns ``{name: codes}`` (int arrays, -1 for missing).
    """
    rown = np.arange(2, X.shape[0] + 2) if row_numbers is None else np.asarray(row_numbers)
    out = {}
    for name in ordered:
        j = names.index(name)
        col = np.asarray(X[:, j], dtype=float)
        ok = ~np.isnan(col)
        v = col[ok]
        if np.any(~np.isfinite(v)):
            row = int(rown[np.flatnonzero(ok & ~np.isfinite(col))[0]])
            raise DataValidationError(f"ordered item {name}: non-finite value at row {row}",
                                      file=source, columns=[name], rows=[row])
        if np.any(v != np.round(v)):
            i = int(np.flatnonzero(ok & (col != np.round(col)))[0])
            raise DataValidationError(
                f"ordered item {name}: non-integer value {_fmt(col[i])} (row {int(rown[i])}); "
                "ordered items must be integer-coded categories", file=source, columns=[name],
                rows=[int(rown[i])])
        cats = np.unique(v)
        if levels and name in levels:
            declared = np.asarray(levels[name], dtype=float)
            empty = [c for c in declared if c not in cats]
            extra = [c for c in cats if c not in declared]
            if extra:
                raise DataValidationError(
                    f"ordered item {name}: value(s) {[_fmt(c) for c in extra]} are not among "
                    f"its declared levels {[_fmt(c) for c in declared]}", file=source,
                    columns=[name])
            if empty:
                raise DataValidationError(
                    f"ordered item {name}: response category {_fmt(empty[0])} is empty (no case "
                    "chose it); collapse it with a neighbour or drop the item", file=source,
                    columns=[name])
            cats = declared
        else:
            full = np.arange(cats.min(), cats.max() + 1)
            gaps = [c for c in full if c not in cats]
            if gaps:
                msg = (f"ordered item {name}: response category "
                       f"{', '.join(_fmt(g) for g in gaps)} is empty (nobody chose it); the "
                       f"{len(cats)} observed categories {[_fmt(c) for c in cats]} are used, "
                       f"with {len(cats) - 1} thresholds (as lavaan); recode the item to "
                       "collapse the category explicitly")
                if notes is not None:
                    notes.append(msg)
                else:
                    import warnings
                    warnings.warn(msg, EmptyCategoryWarning, stacklevel=2)
        if len(cats) < 2:
            raise DataValidationError(f"ordered item {name}: only one response category "
                                      f"({_fmt(cats[0]) if len(cats) else 'none'})",
                                      file=source, columns=[name])
        codes = np.full(len(col), -1, dtype=int)
        codes[ok] = np.searchsorted(cats, v)
        out[name] = codes
    return out


def _fmt(c) -> str:
    c = float(c)
    return str(int(c)) if c == int(c) else repr(c)


def thresholds(codes: np.ndarray, ncat: int | None = None) -> np.ndarray:
    """Probit thresholds ``tau_k = Phi^-1(P(y <= k))``, k = 1..K-1.

    In R: ``lavaan:::lav_uvord_fit`` (no covariates: the closed form).
    """
    c = codes[codes >= 0]
    K = int(ncat if ncat is not None else c.max() + 1)
    cum = np.cumsum(np.bincount(c, minlength=K))[:-1] / len(c)
    return special.ndtri(cum)


# ------------------------------------------------------------- bivariate normal
_GL = {n: np.polynomial.legendre.leggauss(n) for n in (6, 12, 20)}


def _gl_half(n):
    x, w = _GL[n]
    keep = x < 0
    return x[keep], w[keep]


def bvn_cdf(h, k, rho) -> np.ndarray:
    """``P(X <= h, Y <= k)`` for a standard bivariate normal with correlation *rho*.

    Genz (2004) "Numerical computation of rectangular bivariate and
    trivariate normal and t probabilities" (Gauss-Legendre on the arcsine
    form for |rho| < .925, Drezner-Wesolowsky expansion above), accurate to
    about 1e-15.  Vectorised over h and k (rho scalar).

    In R: ``pbivnorm::pbivnorm`` (lavaan's ``pbinorm``).
    """
    h = -np.clip(np.asarray(h, dtype=float), -_BIG, _BIG)
    k = -np.clip(np.asarray(k, dtype=float), -_BIG, _BIG)
    h, k = np.broadcast_arrays(h, k)
    return _bvnu(h.astype(float), k.astype(float), float(rho))


def _bvnu(h, k, r):
    """Upper orthant ``P(X > h, Y > k)`` (Genz's bvnu)."""
    ar = abs(r)
    n = 6 if ar < 0.3 else (12 if ar < 0.75 else 20)
    x, w = _gl_half(n)
    hk = h * k
    if ar < 0.925:
        hs = (h * h + k * k) / 2
        asr = math.asin(r)
        bvn = np.zeros_like(h)
        for xi, wi in zip(x, w):
            for sgn in (-1.0, 1.0):
                sn = math.sin(asr * (sgn * xi + 1) / 2)
                bvn += wi * np.exp((sn * hk - hs) / (1 - sn * sn))
        return bvn * asr / (4 * math.pi) + _ncdf(-h) * _ncdf(-k)
    kk = k.copy()
    if r < 0:
        kk = -kk
        hk = -hk
    bvn = np.zeros_like(h)
    if ar < 1:
        as_ = (1 - r) * (1 + r)
        a = math.sqrt(as_)
        bs = (h - kk) ** 2
        c = (4 - hk) / 8
        d = (12 - hk) / 16
        asr = -(bs / as_ + hk) / 2
        with np.errstate(over="ignore", under="ignore", invalid="ignore"):
            bvn = np.where(asr > -100,
                           a * np.exp(asr) * (1 - c * (bs - as_) * (1 - d * bs / 5) / 3
                                              + c * d * as_ * as_ / 5), 0.0)
            b = np.sqrt(bs)
            sp = math.sqrt(2 * math.pi) * _ncdf(-b / a)
            bvn = bvn - np.where(hk > -100,
                                 np.exp(-hk / 2) * sp * b * (1 - c * bs * (1 - d * bs / 5) / 3),
                                 0.0)
            a2 = a / 2
            for xi, wi in zip(x, w):
                for sgn in (-1.0, 1.0):
                    xs = (a2 * (sgn * xi + 1)) ** 2
                    rs = math.sqrt(1 - xs)
                    asr2 = -(bs / xs + hk) / 2
                    sp2 = 1 + c * xs * (1 + d * xs)
                    ep = np.exp(-hk * (1 - rs) / (2 * (1 + rs))) / rs
                    bvn = bvn + np.where(asr2 > -100, a2 * wi * np.exp(asr2) * (ep - sp2), 0.0)
        bvn = -bvn / (2 * math.pi)
    if r > 0:
        return bvn + _ncdf(-np.maximum(h, kk))
    bvn = -bvn
    L = np.where(h < 0, _ncdf(kk) - _ncdf(h), _ncdf(-h) - _ncdf(-kk))
    return np.where(h >= kk, bvn, L + bvn)


def bvn_pdf(h, k, rho) -> np.ndarray:
    """Standard bivariate normal density (0 at infinite arguments)."""
    h = np.clip(np.asarray(h, dtype=float), -_BIG, _BIG)
    k = np.clip(np.asarray(k, dtype=float), -_BIG, _BIG)
    s = 1 - rho * rho
    return np.exp(-(h * h - 2 * rho * h * k + k * k) / (2 * s)) / (2 * math.pi * math.sqrt(s))


def _ext(t):
    return np.concatenate([[-np.inf], np.asarray(t, dtype=float), [np.inf]])


def _cell_probs(t1, t2, rho):
    """K1 x K2 cell probabilities of two discretised standard normals."""
    a, b = _ext(t1), _ext(t2)
    F = bvn_cdf(a[:, None], b[None, :], rho)
    F[0, :] = 0.0
    F[:, 0] = 0.0
    F[-1, :] = _ncdf(np.clip(b, -_BIG, _BIG))
    F[:, -1] = _ncdf(np.clip(a, -_BIG, _BIG))
    F[-1, -1] = 1.0
    return F[1:, 1:] - F[:-1, 1:] - F[1:, :-1] + F[:-1, :-1]


def _cell_dprob_drho(t1, t2, rho):
    a, b = _ext(t1), _ext(t2)
    f = bvn_pdf(a[:, None], b[None, :], rho)
    f[0, :] = f[-1, :] = 0.0
    f[:, 0] = f[:, -1] = 0.0
    return f[1:, 1:] - f[:-1, 1:] - f[1:, :-1] + f[:-1, :-1]


def _table(x, y, K1, K2):
    ok = (x >= 0) & (y >= 0)
    return np.bincount(x[ok] * K2 + y[ok], minlength=K1 * K2).reshape(K1, K2).astype(float)


def polychoric(x: np.ndarray, y: np.ndarray, tx: np.ndarray | None = None,
               ty: np.ndarray | None = None) -> float:
    """Two-step ML polychoric correlation (Olsson 1979).

    Thresholds from the margins (pairwise-present cases' own margins are
    NOT used: the thresholds are the univariate ones, as lavaan), then

        rho = argmax sum_ab n_ab log P_ab(rho),
        P_ab = Phi2(t1_a, t2_b) - Phi2(t1_{a-1}, t2_b) - Phi2(t1_a, t2_{b-1})
               + Phi2(t1_{a-1}, t2_{b-1}).

    In R: ``lavCor(data, ordered=TRUE)`` / ``lavaan:::lav_bvord_cor_twostep_fit``.
    """
    x = np.asarray(x, dtype=int)
    y = np.asarray(y, dtype=int)
    tx = thresholds(x) if tx is None else np.asarray(tx)
    ty = thresholds(y) if ty is None else np.asarray(ty)
    n = _table(x, y, len(tx) + 1, len(ty) + 1)
    if n.shape == (2, 2):
        # lavaan's 2x2 rules (lav_bvord_cor_twostep_fit, zero.add = 0.5 with
        # the margins kept): two empty cells -> +-1; one -> 0.5 moved onto its
        # diagonal; a zero cross-product difference -> 0
        zero = n == 0
        if zero.sum() == 2:
            import warnings
            from pipeline.core.exceptions import SparseTableWarning
            warnings.warn("two empty cells in a 2x2 table: the tetrachoric correlation is "
                          "set to +-1 (as lavaan)", SparseTableWarning, stacklevel=2)
            return 1.0 if n[0, 0] > 0 else -1.0
        if zero.sum() == 1:
            d = 0.5 if (zero[0, 0] or zero[1, 1]) else -0.5
            n = n + np.array([[d, -d], [-d, d]])
        if n[0, 0] * n[1, 1] == n[0, 1] * n[1, 0]:
            return 0.0
        if tx[0] == 0 and ty[0] == 0:
            return float(-math.cos(2 * math.pi * n[0, 0] / n.sum()))

    def nll(r):
        P = np.clip(_cell_probs(tx, ty, r), 1e-300, None)
        return -float(np.sum(n * np.log(P)))

    # Fisher scoring from the Pearson correlation of the codes (a few steps),
    # Brent's bounded search if it does not settle
    ok = (x >= 0) & (y >= 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = float(np.corrcoef(x[ok], y[ok])[0, 1]) if ok.sum() > 2 else 0.0
    r = 0.0 if not np.isfinite(r) else max(min(r, 0.95), -0.95)
    N = n.sum()
    for _ in range(50):
        P = np.clip(_cell_probs(tx, ty, r), 1e-300, None)
        dP = _cell_dprob_drho(tx, ty, r)
        score = float(np.sum(n * dP / P))
        info = float(N * np.sum(dP * dP / P))
        if not (info > 0 and np.isfinite(score)):
            break
        step = score / info
        new = r + step
        if not -0.9999 < new < 0.9999:
            break
        r = new
        if abs(step) < 1e-11:
            return float(r)
    from scipy import optimize
    res = optimize.minimize_scalar(nll, bounds=(-0.9999, 0.9999), method="bounded",
                                   options={"xatol": 1e-10})
    return float(res.x)


def _bvn_upper_batch(h, k, r):
    """Upper orthant ``P(X > h, Y > k)`` for arrays *h*, *k* (m, a, b) and one
    correlation per leading index (*r* of shape (m,)): Genz's bvnu, the
    Gauss-Legendre arcsine form with 20 nodes for |r| < .925, the scalar
    :func:`_bvnu` (Drezner-Wesolowsky) per pair above."""
    out = np.empty_like(h)
    r = np.asarray(r, dtype=float)
    lo = np.abs(r) < 0.925
    if lo.any():
        hh, kk = h[lo], k[lo]
        rr = r[lo][:, None, None]
        x, w = _gl_half(20)
        hk = hh * kk
        hs = (hh * hh + kk * kk) / 2
        asr = np.arcsin(rr)
        bvn = np.zeros_like(hh)
        for xi, wi in zip(x, w):
            for sgn in (-1.0, 1.0):
                sn = np.sin(asr * (sgn * xi + 1) / 2)
                bvn += wi * np.exp((sn * hk - hs) / (1 - sn * sn))
        out[lo] = bvn * asr / (4 * math.pi) + _ncdf(-hh) * _ncdf(-kk)
    for q in np.flatnonzero(~lo):
        out[q] = _bvnu(h[q], k[q], float(r[q]))
    return out


def _cell_parts_batch(t1, t2, r):
    """Cell probabilities P (m, K1, K2), dP/drho and the threshold derivatives of
    m pairs of discretised standard normals with thresholds t1 (m, K1-1),
    t2 (m, K2-1) and correlations r (m,) (the batched :func:`_cell_probs`,
    :func:`_cell_dprob_drho` and the pieces of :func:`_bi_scores`)."""
    m = len(r)
    inf = np.full((m, 1), np.inf)
    a = np.hstack([-inf, t1, inf])
    b = np.hstack([-inf, t2, inf])
    ac = np.clip(a, -_BIG, _BIG)
    bc = np.clip(b, -_BIG, _BIG)
    K1, K2 = a.shape[1] - 1, b.shape[1] - 1
    F = np.empty((m, K1 + 1, K2 + 1))
    F[:, 0, :] = 0.0
    F[:, :, 0] = 0.0
    F[:, -1, :] = _ncdf(bc)
    F[:, :, -1] = _ncdf(ac)
    F[:, -1, -1] = 1.0
    hi = -ac[:, 1:-1, None] + np.zeros((1, 1, K2 - 1))
    ki = -bc[:, None, 1:-1] + np.zeros((1, K1 - 1, 1))
    F[:, 1:-1, 1:-1] = _bvn_upper_batch(hi, ki, r)
    P = F[:, 1:, 1:] - F[:, :-1, 1:] - F[:, 1:, :-1] + F[:, :-1, :-1]
    rr = r[:, None, None]
    s2 = 1 - rr * rr
    A, B = ac[:, :, None], bc[:, None, :]
    f = np.exp(-(A * A - 2 * rr * A * B + B * B) / (2 * s2)) / (2 * math.pi * np.sqrt(s2))
    f[:, 0, :] = f[:, -1, :] = 0.0
    f[:, :, 0] = f[:, :, -1] = 0.0
    dP = f[:, 1:, 1:] - f[:, :-1, 1:] - f[:, 1:, :-1] + f[:, :-1, :-1]
    return P, dP, (ac, bc)


def _polychoric_batch(tabs, t1, t2, r0, maxiter: int = 50):
    """Fisher scoring of :func:`polychoric` on m tables at once (K1 x K2 each).

    Returns ``(r, ok)``: the pairs with ``ok`` False (no convergence, a step
    outside (-.9999, .9999), a non-positive information) are left to the
    scalar :func:`polychoric` (its Brent fallback).
    """
    r = np.array(r0, dtype=float)
    N = tabs.sum(axis=(1, 2))
    active = np.ones(len(r), dtype=bool)
    done = np.zeros(len(r), dtype=bool)
    for _ in range(maxiter):
        idx = np.flatnonzero(active)
        if not len(idx):
            break
        P, dP, _ = _cell_parts_batch(t1[idx], t2[idx], r[idx])
        P = np.clip(P, 1e-300, None)
        n = tabs[idx]
        score = np.sum(n * dP / P, axis=(1, 2))
        info = N[idx] * np.sum(dP * dP / P, axis=(1, 2))
        good = (info > 0) & np.isfinite(score)
        step = np.where(good, score / np.where(good, info, 1.0), 0.0)
        new = r[idx] + step
        inside = (new > -0.9999) & (new < 0.9999)
        fail = ~good | ~inside
        upd = ~fail
        r[idx[upd]] = new[upd]
        conv = upd & (np.abs(step) < 1e-11)
        done[idx[conv]] = True
        active[idx[fail | conv]] = False
    return r, done


def _polychoric_pairs(C, ths, pairs, ncat):
    """Polychoric correlations of the ordinal *pairs* (list of (i, j)) of one
    group, with the case-wise correlation scores and the cross-derivative sums
    the NACOV needs, from the K1 x K2 tables (grouped by table size).

    Returns ``{(i, j): (r, s_rho per case, s_rho @ S_i, s_rho @ S_j)}`` with
    ``S_i`` the case-wise scores of log P w.r.t. i's thresholds (as
    :func:`_bi_scores`).
    """
    out = {}
    groups: dict[tuple[int, int], list] = {}
    for (i, j) in pairs:
        groups.setdefault((ncat[i], ncat[j]), []).append((i, j))
    for (K1, K2), prs in groups.items():
        if K1 == 2 and K2 == 2 or K1 < 2 or K2 < 2:     # lavaan's 2x2 rules: scalar path
            for (i, j) in prs:
                r = polychoric(C[i], C[j], ths[i], ths[j])
                s_rho, Si, Sj = _bi_scores(C[i], C[j], ths[i], ths[j], r)
                out[(i, j)] = (r, s_rho, s_rho @ Si, s_rho @ Sj)
            continue
        I = np.array([i for i, _ in prs])
        J = np.array([j for _, j in prs])
        m = len(prs)
        # flat cell index of every case in every pair's table (N x m)
        cols = sorted(set(I) | set(J))
        CC = np.column_stack([C[c] for c in cols]).astype(np.intp)
        pos = {c: q for q, c in enumerate(cols)}
        flat = CC[:, [pos[i] for i in I]] * K2
        flat += CC[:, [pos[j] for j in J]]
        flat += (np.arange(m, dtype=np.intp) * (K1 * K2))[None, :]
        tabs = np.bincount(flat.ravel(), minlength=m * K1 * K2).reshape(m, K1, K2).astype(float)
        t1 = np.array([ths[i] for i in I])
        t2 = np.array([ths[j] for j in J])
        # starting values: Pearson correlations of the codes, from the tables
        N = tabs[0].sum()
        a, b = np.arange(K1, dtype=float), np.arange(K2, dtype=float)
        pa, pb = tabs.sum(axis=2) / N, tabs.sum(axis=1) / N
        ma, mb = pa @ a, pb @ b
        va, vb = pa @ (a * a) - ma * ma, pb @ (b * b) - mb * mb
        cab = np.einsum("qab,a,b->q", tabs, a, b) / N - ma * mb
        with np.errstate(invalid="ignore", divide="ignore"):
            r0 = cab / np.sqrt(va * vb)
        r0 = np.where(np.isfinite(r0), np.clip(r0, -0.95, 0.95), 0.0)
        r, ok = _polychoric_batch(tabs, t1, t2, r0)
        for q in np.flatnonzero(~ok):
            r[q] = polychoric(C[I[q]], C[J[q]], ths[I[q]], ths[J[q]])
        # scores at the estimates, cell by cell
        P, dP, (ac, bc) = _cell_parts_batch(t1, t2, r)
        rr = r[:, None, None]
        s = np.sqrt(1 - rr * rr)
        A, B = ac[:, :, None], bc[:, None, :]
        G1 = _npdf(A) * _ncdf((B - rr * A) / s)
        G1[:, 0, :] = G1[:, -1, :] = 0.0
        G2 = _npdf(B) * _ncdf((A - rr * B) / s)
        G2[:, :, 0] = G2[:, :, -1] = 0.0
        dup1 = G1[:, 1:, 1:] - G1[:, 1:, :-1]
        dlo1 = -(G1[:, :-1, 1:] - G1[:, :-1, :-1])
        dup2 = G2[:, 1:, 1:] - G2[:, :-1, 1:]
        dlo2 = -(G2[:, 1:, :-1] - G2[:, :-1, :-1])
        with np.errstate(invalid="ignore", divide="ignore"):
            sr = np.where(tabs > 0, dP / P, 0.0)                # s_rho of each cell
            w = np.where(tabs > 0, tabs * sr / P, 0.0)
        # sum_i s_rho,i S_i: a case in cell (a, b) scores dup1/P on threshold a and
        # dlo1/P on threshold a - 1
        u1, l1 = (w * dup1).sum(axis=2), (w * dlo1).sum(axis=2)      # m x K1
        u2, l2 = (w * dup2).sum(axis=1), (w * dlo2).sum(axis=1)      # m x K2
        a21_i = u1[:, :K1 - 1] + l1[:, 1:]
        a21_j = u2[:, :K2 - 1] + l2[:, 1:]
        SR = sr.reshape(-1)[flat]                                   # N x m case scores
        for q, (i, j) in enumerate(prs):
            out[(i, j)] = (float(r[q]), SR[:, q], a21_i[q], a21_j[q])
    return out


def polyserial(x: np.ndarray, y: np.ndarray, ty: np.ndarray | None = None) -> float:
    """Two-step ML polyserial correlation of continuous *x* and ordinal codes *y*.

    ``z = (x - mean) / sd`` (divisor N), thresholds from y's margin, then
    ``rho = argmax sum_i log[Phi((t_{y_i} - rho z_i)/s) - Phi((t_{y_i - 1} - rho z_i)/s)]``
    with ``s = sqrt(1 - rho^2)`` (the density of x does not involve rho).
    As lavaan, cases whose joint likelihood ``f(x_i) P(y_i | x_i)`` (x's
    normal density in its own units) is below ``sqrt(machine eps)`` are left
    out of the sum, which matters for a widely spread x such as age.

    In R: ``lavCor`` / ``lavaan:::lav_bvmix_cor_twostep_fit``.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=int)
    ok = ~np.isnan(x) & (y >= 0)
    ty = thresholds(y) if ty is None else np.asarray(ty)
    xm = x[~np.isnan(x)]
    sd = xm.std()
    z = (x[ok] - xm.mean()) / sd
    dens = _npdf(z) / sd                  # density of x in its own units
    yy = y[ok]
    t = _ext(ty)
    up, lo = t[yy + 1], t[yy]
    eps = np.finfo(float).eps

    def nll(r):
        s = math.sqrt(1 - r * r)
        P = np.maximum(_ncdf((up - r * z) / s) - _ncdf((lo - r * z) / s), eps)
        # lavaan drops cases whose joint likelihood f(x) P(y | x) is below
        # sqrt(machine eps) (lav_bvmix_lik_cache); done here too, to match it
        keep = dens * P >= math.sqrt(eps)
        return -float(np.sum(np.log(P[keep])))

    from scipy import optimize
    res = optimize.minimize_scalar(nll, bounds=(-0.9999, 0.9999), method="bounded",
                                   options={"xatol": 1e-10})
    return float(res.x)


def pairs_vech(p: int) -> list[tuple[int, int]]:
    """(i, j), i > j, in lavaan's ``vech(diagonal=FALSE)`` order (column-major)."""
    return [(i, j) for j in range(p) for i in range(j + 1, p)]


@dataclass
class WLSStats:
    """Sample statistics of one group for WLS estimation (see module docstring)."""

    names: list[str]
    nobs: int
    th: np.ndarray
    th_names: list[str]
    th_item: np.ndarray          # item index of each threshold
    ncat: list[int]
    cor: np.ndarray
    pairs: list[tuple[int, int]]
    obs: np.ndarray
    gamma: np.ndarray
    wdiag: np.ndarray
    codes: dict = field(default_factory=dict)
    #: indices of the continuous variables (their TH entry is -mean, their
    #: variance follows the thresholds in ``obs``)
    numeric: list = field(default_factory=list)
    var: np.ndarray | None = None        # variances (1 for ordered variables)
    cov: np.ndarray | None = None        # COV of lavaan's sampstat (cor for ordered pairs)
    #: statements about collapsed (empty) categories, for the fit's warnings
    notes: list = field(default_factory=list)


def _uni_scores(codes: np.ndarray, t: np.ndarray) -> np.ndarray:
    """N x (K-1) scores of log P(y_i) w.r.t. the thresholds."""
    K = len(t) + 1
    te = _ext(t)
    y = codes
    P = _ncdf(te[y + 1]) - _ncdf(te[y])
    S = np.zeros((len(y), K - 1))
    rows = np.arange(len(y))
    up = y < K - 1                     # upper threshold index y
    S[rows[up], y[up]] += _npdf(te[y[up] + 1]) / P[up]
    lo = y > 0                         # lower threshold index y - 1
    S[rows[lo], y[lo] - 1] -= _npdf(te[y[lo]]) / P[lo]
    return S


def _bi_scores(x, y, t1, t2, rho):
    """Case-wise scores of log P(x_i, y_i) w.r.t. rho and both thresholds."""
    K1, K2 = len(t1) + 1, len(t2) + 1
    a, b = _ext(t1), _ext(t2)
    P = _cell_probs(t1, t2, rho)
    dP = _cell_dprob_drho(t1, t2, rho)
    s = math.sqrt(1 - rho * rho)
    ac = np.clip(a, -_BIG, _BIG)
    bc = np.clip(b, -_BIG, _BIG)
    # dPhi2(a_i, b_j)/da_i = phi(a_i) Phi((b_j - rho a_i)/s)
    G1 = _npdf(ac)[:, None] * _ncdf((bc[None, :] - rho * ac[:, None]) / s)
    G1[0, :] = G1[-1, :] = 0.0
    G2 = _npdf(bc)[None, :] * _ncdf((ac[:, None] - rho * bc[None, :]) / s)
    G2[:, 0] = G2[:, -1] = 0.0
    # d P_ab / d a_(a+1) (upper) = G1[a+1, b+1] - G1[a+1, b];  d/d a_a (lower) = -(G1[a, b+1] - G1[a, b])
    dup1 = G1[1:, 1:] - G1[1:, :-1]          # K1 x K2, wrt upper threshold of row category
    dlo1 = -(G1[:-1, 1:] - G1[:-1, :-1])
    dup2 = G2[1:, 1:] - G2[:-1, 1:]
    dlo2 = -(G2[1:, :-1] - G2[:-1, :-1])
    n = len(x)
    Pi = P[x, y]
    s_rho = dP[x, y] / Pi
    S1 = np.zeros((n, K1 - 1))
    S2 = np.zeros((n, K2 - 1))
    rows = np.arange(n)
    m = x < K1 - 1
    S1[rows[m], x[m]] += dup1[x[m], y[m]] / Pi[m]
    m = x > 0
    S1[rows[m], x[m] - 1] += dlo1[x[m], y[m]] / Pi[m]
    m = y < K2 - 1
    S2[rows[m], y[m]] += dup2[x[m], y[m]] / Pi[m]
    m = y > 0
    S2[rows[m], y[m] - 1] += dlo2[x[m], y[m]] / Pi[m]
    return s_rho, S1, S2


def _bvmix_scores(x, ycodes, ty, rho):
    """Case-wise scores of log f(x_i, y_i) (x continuous, y ordinal) w.r.t. rho,
    the mean and variance of x and the thresholds of y (lavaan's lav_bvmix)."""
    mu, var = x.mean(), x.var()
    sd = math.sqrt(var)
    z = (x - mu) / sd
    R = math.sqrt(1 - rho * rho)
    t = _ext(ty)
    up = np.clip(t[ycodes + 1], -_BIG, _BIG)
    lo = np.clip(t[ycodes], -_BIG, _BIG)
    a1, a2 = (up - rho * z) / R, (lo - rho * z) / R
    f1, f2 = _npdf(a1), _npdf(a2)
    f1 = np.where(ycodes + 1 == len(t) - 1, 0.0, f1)     # upper threshold +inf
    f2 = np.where(ycodes == 0, 0.0, f2)                  # lower threshold -inf
    P = np.maximum(_ncdf(a1) - _ncdf(a2), np.finfo(float).eps)
    d12 = f1 - f2
    s_mu = (z + (rho / R) * d12 / P) / sd
    s_var = ((z * z - 1) + (rho * z / R) * d12 / P) / (2 * var)
    n, K1 = len(x), len(ty)
    s_th = np.zeros((n, K1))
    rows = np.arange(n)
    m = ycodes < K1
    s_th[rows[m], ycodes[m]] += f1[m] / (R * P[m])
    m = ycodes > 0
    s_th[rows[m], ycodes[m] - 1] -= f2[m] / (R * P[m])
    s_rho = (f1 * (up * rho - z) - f2 * (lo * rho - z)) / (R ** 3 * P)
    return s_rho, s_mu, s_var, s_th


def _bvreg_scores(x1, x2, rho):
    """Case-wise scores of the bivariate normal log-likelihood w.r.t. rho and
    both means and variances (lavaan's lav_bvreg)."""
    y1c, y2c = x1 - x1.mean(), x2 - x2.mean()
    v1, v2 = x1.var(), x2.var()
    s1, s2 = math.sqrt(v1), math.sqrt(v2)
    R = 1 - rho * rho
    d_mu1 = (2 * y1c / v1 - 2 * rho * y2c / (s1 * s2)) / (2 * R)
    d_mu2 = -(2 * rho * y1c / (s1 * s2) - 2 * y2c / v2) / (2 * R)
    d_v1 = -(0.5 / v1 - (y1c * y1c / (v1 * v1) - rho * y1c * y2c / (v1 * s1 * s2)) / (2 * R))
    d_v2 = -(0.5 / v2 + (rho * y1c * y2c / (v2 * s1 * s2) - y2c * y2c / (v2 * v2)) / (2 * R))
    zz = y1c * y1c / v1 - 2 * rho * y1c * y2c / (s1 * s2) + y2c * y2c / v2
    d_rho = rho / R + (y1c * y2c / (s1 * s2 * R) - zz * rho / (R * R))
    return d_rho, d_mu1, d_v1, d_mu2, d_v2


def _crossprod(A: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    """``alpha A'A`` (symmetric; BLAS syrk, half the work of ``A.T @ A``)."""
    from scipy.linalg import blas
    A = np.asarray(A, dtype=float)
    C = blas.dsyrk(alpha, A.T, trans=0, lower=0)      # A.T is Fortran-ordered: no copy
    C = np.triu(C)
    return C + np.triu(C, 1).T


def wls_stats(X: np.ndarray, names: list[str], ordered: list[str], *,
              levels: dict[str, list] | None = None, source: str | None = None,
              row_numbers: np.ndarray | None = None) -> WLSStats:
    """Thresholds, polychoric / polyserial / Pearson correlations and their NACOV
    (Muthen 1984) for one group.

    Complete cases only (listwise).  The statistics are lavaan's ``WLS.obs``:
    ``[TH ; VAR ; vech(COV, diagonal=FALSE)]`` where ``TH`` holds, in variable
    order, the thresholds of an ordered variable and ``-mean`` of a
    continuous one, ``VAR`` the variances (divisor N) of the continuous
    variables, and ``COV`` the correlations rescaled to covariances for the
    continuous variables (polyserial x SD, Pearson covariance).  The NACOV
    is the sandwich of the stacked estimating equations (univariate scores,
    then the bivariate correlation scores at fixed univariate estimates):

        Gamma = N H A^-1 B A^-T H',  B = sum_i psi_i psi_i',
        A11 = blockdiag per variable (sum s s'),  A22 = diag(sum s_rho^2),
        A21[rho_jk, .] = sum_i s_rho,i s_(bivariate, univariate parameters),i',

    ``H`` the Jacobian of correlations -> covariances (identity for ordinal
    pairs).  With only ordered variables, ``TH`` are the thresholds and
    ``COV`` the polychoric correlations.

    In R: ``lavInspect(fit, "gamma")``, ``lavInspect(fit, "sampstat")``
    (``lavaan:::muthen1984``).
    """
    X = np.asarray(X, dtype=float)
    ok = ~np.isnan(X).any(axis=1)
    rown = np.arange(2, len(ok) + 2) if row_numbers is None else np.asarray(row_numbers)
    X = X[ok]
    ordset = set(ordered)
    notes: list[str] = []
    codes = check_ordinal(X, names, [v for v in names if v in ordset], levels=levels,
                          source=source, row_numbers=rown[ok], notes=notes)
    p = len(names)
    N = X.shape[0]
    isnum = [v not in ordset for v in names]
    num_idx = [j for j in range(p) if isnum[j]]
    C = [codes.get(v) for v in names]
    xs = [X[:, j] for j in range(p)]
    ths, th_names, th_item, sc_th = [], [], [], []
    var = np.ones(p)
    sc_var = []
    for j, v in enumerate(names):
        if isnum[j]:
            mu, vj = xs[j].mean(), xs[j].var()
            var[j] = vj
            ths.append(np.array([mu]))
            th_names.append(v)
            th_item.append(j)
            res = xs[j] - mu
            sc_th.append((res / vj)[:, None])
            sc_var.append(-1.0 / (2 * vj) + res * res / (2 * vj * vj))
        else:
            t = thresholds(C[j])
            ths.append(t)
            th_names += [f"{v}|t{k + 1}" for k in range(len(t))]
            th_item += [j] * len(t)
            sc_th.append(_uni_scores(C[j], t))
    ncat = [0 if isnum[j] else len(ths[j]) + 1 for j in range(p)]
    nth = sum(len(t) for t in ths)
    nnum = len(num_idx)
    start = np.concatenate([[0], np.cumsum([len(t) for t in ths])]).astype(int)
    var_col = {j: nth + k for k, j in enumerate(num_idx)}     # column of var_j in SC
    pairs = pairs_vech(p)
    npair = len(pairs)
    na11 = nth + nnum
    R = np.eye(p)
    SC_COR = np.zeros((N, npair))
    A21 = np.zeros((npair, na11))
    H21 = np.zeros((npair, na11))
    H22 = np.ones(npair)
    sd = np.sqrt(var)
    poly = _polychoric_pairs(C, ths, [(i, j) for i, j in pairs if not isnum[i] and not isnum[j]],
                             ncat)
    for q, (i, j) in enumerate(pairs):
        if not isnum[i] and not isnum[j]:
            r, s_rho, a_i, a_j = poly[(i, j)]
            A21[q, start[i]:start[i + 1]] = a_i
            A21[q, start[j]:start[j + 1]] = a_j
        elif isnum[i] and isnum[j]:
            r = float(np.mean((xs[i] - xs[i].mean()) * (xs[j] - xs[j].mean())) / (sd[i] * sd[j]))
            s_rho, dmu1, dv1, dmu2, dv2 = _bvreg_scores(xs[i], xs[j], r)
            A21[q, start[i]] = s_rho @ dmu1
            A21[q, start[j]] = s_rho @ dmu2
            A21[q, var_col[i]] = s_rho @ dv1
            A21[q, var_col[j]] = s_rho @ dv2
            H21[q, var_col[i]] = sd[j] * r / (2 * sd[i])
            H21[q, var_col[j]] = sd[i] * r / (2 * sd[j])
            H22[q] = sd[i] * sd[j]
        else:
            a, b = (i, j) if isnum[i] else (j, i)          # a continuous, b ordinal
            r = polyserial(xs[a], C[b], ths[b])
            s_rho, dmu, dv, dth = _bvmix_scores(xs[a], C[b], ths[b], r)
            A21[q, start[a]] = s_rho @ dmu
            A21[q, var_col[a]] = s_rho @ dv
            A21[q, start[b]:start[b + 1]] = s_rho @ dth
            H21[q, var_col[a]] = r / (2 * sd[a])
            H22[q] = sd[a]
        R[i, j] = R[j, i] = r
        SC_COR[:, q] = s_rho
    SC1 = np.hstack(sc_th + ([np.column_stack(sc_var)] if nnum else []))
    # Gamma = N Binv (SC'SC) Binv' = N Psi'Psi with Psi = SC Binv' (Binv block lower
    # triangular): Psi1 = SC1 A11^-T (A11 block diagonal per variable),
    # Psi2 = (SC2 - Psi1 A21') A22^-1 (A22 diagonal)
    Psi1 = np.empty_like(SC1)
    for j in range(p):
        idx = list(range(start[j], start[j + 1])) + ([var_col[j]] if isnum[j] else [])
        blk = SC1[:, idx]
        Psi1[:, idx] = blk @ np.linalg.inv(blk.T @ blk).T
    a22 = np.sum(SC_COR ** 2, axis=0)
    Psi = np.hstack([Psi1, (SC_COR - Psi1 @ A21.T) / a22])
    k = na11 + npair
    if nnum:
        H = np.eye(k)
        H[na11:, :na11] = H21
        H[na11:, na11:] = np.diag(H22)
        Psi = Psi @ H.T
        Psi[:, [start[j] for j in num_idx]] *= -1.0          # TH holds -mean
    gamma = _crossprod(Psi, float(N))
    COV = R * np.outer(sd, sd)
    th = np.concatenate([-t if isnum[j] else t for j, t in enumerate(ths)])
    obs = np.concatenate([th, var[num_idx], np.array([COV[i, j] for i, j in pairs])])
    return WLSStats(names=list(names), nobs=N, th=th, th_names=th_names,
                    th_item=np.array(th_item, dtype=int), ncat=ncat, cor=R, pairs=pairs,
                    obs=obs, gamma=gamma, wdiag=1.0 / np.diag(gamma),
                    codes={v: c for v, c in zip(names, C) if c is not None},
                    numeric=num_idx, var=var, cov=COV, notes=notes)


# ------------------------------------------------ covariates (conditional.x)
def _probit_parts(theta, codes, Xx, K):
    """log-likelihood and case-wise scores of an ordinal probit regression
    ``P(y <= k | x) = Phi(tau_k - x'beta)``."""
    tau, beta = theta[:K - 1], theta[K - 1:]
    eta = Xx @ beta
    te = _ext(tau)
    zu = np.clip(te[codes + 1] - eta, -_BIG, _BIG)
    zl = np.clip(te[codes] - eta, -_BIG, _BIG)
    P = np.maximum(_ncdf(zu) - _ncdf(zl), 1e-300)
    fu = np.where(codes == K - 1, 0.0, _npdf(zu))
    fl = np.where(codes == 0, 0.0, _npdf(zl))
    n = len(codes)
    S = np.zeros((n, K - 1 + Xx.shape[1]))
    rows = np.arange(n)
    m = codes < K - 1
    S[rows[m], codes[m]] += fu[m] / P[m]
    m = codes > 0
    S[rows[m], codes[m] - 1] -= fl[m] / P[m]
    S[:, K - 1:] = -((fu - fl) / P)[:, None] * Xx
    return float(np.sum(np.log(P))), S


def probit_regression(codes: np.ndarray, Xx: np.ndarray, K: int | None = None):
    """ML ordinal probit regression of codes on covariates: ``(tau, beta, scores)``.

    ``P(y <= k | x) = Phi(tau_k - x'beta)``; Newton steps with the Hessian
    from differences of the analytic gradient, started at the marginal
    thresholds and beta = 0.

    In R: ``lavaan:::lav_uvord_fit(y, X)``.
    """
    K = int(codes.max() + 1) if K is None else K
    q = Xx.shape[1]
    theta = np.concatenate([thresholds(codes, K), np.zeros(q)])
    f, S = _probit_parts(theta, codes, Xx, K)
    for _ in range(100):
        g = S.sum(axis=0)
        k = len(theta)
        H = np.zeros((k, k))
        for j in range(k):
            h = 1e-6 * max(1.0, abs(theta[j]))
            tp = theta.copy()
            tp[j] += h
            tm = theta.copy()
            tm[j] -= h
            H[:, j] = (_probit_parts(tp, codes, Xx, K)[1].sum(axis=0)
                       - _probit_parts(tm, codes, Xx, K)[1].sum(axis=0)) / (2 * h)
        H = (H + H.T) / 2
        step = np.linalg.solve(-H, g)
        t = 1.0
        while True:
            new = theta + t * step
            if np.all(np.diff(new[:K - 1]) > 0):
                fn, Sn = _probit_parts(new, codes, Xx, K)
                if fn >= f - 1e-12:
                    break
            t /= 2
            if t < 1e-8:
                break
        theta, f, S = new, fn, Sn
        if np.max(np.abs(t * step)) < 1e-11:
            break
    return theta[:K - 1], theta[K - 1:], S


def _bv_x_parts(yi, yj, ti, tj, eta_i, eta_j, rho):
    """Per-case probability of (y_i, y_j) given x and its derivatives w.r.t. rho
    and the upper / lower shifted thresholds of both items."""
    ei, ej = _ext(ti), _ext(tj)
    ui = np.clip(ei[yi + 1] - eta_i, -_BIG, _BIG)
    li = np.clip(ei[yi] - eta_i, -_BIG, _BIG)
    uj = np.clip(ej[yj + 1] - eta_j, -_BIG, _BIG)
    lj = np.clip(ej[yj] - eta_j, -_BIG, _BIG)
    P = (bvn_cdf(ui, uj, rho) - bvn_cdf(li, uj, rho) - bvn_cdf(ui, lj, rho)
         + bvn_cdf(li, lj, rho))
    P = np.maximum(P, 1e-300)
    dr = bvn_pdf(ui, uj, rho) - bvn_pdf(li, uj, rho) - bvn_pdf(ui, lj, rho) + bvn_pdf(li, lj, rho)
    s = math.sqrt(1 - rho * rho)

    def g(a, b_hi, b_lo):
        return _npdf(a) * (_ncdf((b_hi - rho * a) / s) - _ncdf((b_lo - rho * a) / s))
    d_ui = np.where(yi == len(ti), 0.0, g(ui, uj, lj))
    d_li = np.where(yi == 0, 0.0, -g(li, uj, lj))
    d_uj = np.where(yj == len(tj), 0.0, g(uj, ui, li))
    d_lj = np.where(yj == 0, 0.0, -g(lj, ui, li))
    return P, dr, d_ui, d_li, d_uj, d_lj


def _th_beta_scores(y, d_u, d_l, P, Xx, K):
    n = len(y)
    S = np.zeros((n, K - 1))
    rows = np.arange(n)
    m = y < K - 1
    S[rows[m], y[m]] += d_u[m] / P[m]
    m = y > 0
    S[rows[m], y[m] - 1] += d_l[m] / P[m]
    Sb = -((d_u + d_l) / P)[:, None] * Xx
    return S, Sb


def wls_stats_x(X: np.ndarray, names: list[str], xnames: list[str], *,
                source: str | None = None, row_numbers: np.ndarray | None = None
                ) -> WLSStats:
    """WLS statistics of ordinal items conditional on exogenous covariates (lavaan's
    ``conditional.x = TRUE``, its default for categorical data with covariates).

    Per item an ordinal probit regression on the covariates (thresholds and
    slopes), per pair the residual polychoric correlation given the
    covariates (two-step ML), and the NACOV of
    ``obs = [TH ; vec(SLOPES) ; vech(RES.COR, diagonal=FALSE)]`` by Muthen
    (1984) as in :func:`wls_stats`.  ``X`` holds the items then the covariates
    (complete cases are used).  ``slopes`` (items x covariates) is stored on
    the result.

    In R: ``lavInspect(fit, "sampstat")`` (res.th, res.slopes, res.cov) and
    ``lavInspect(fit, "wls.obs")`` of ``cfa(..., ordered = , estimator = "WLSMV")``
    with exogenous covariates.
    """
    X = np.asarray(X, dtype=float)
    ok = ~np.isnan(X).any(axis=1)
    rown = np.arange(2, len(ok) + 2) if row_numbers is None else np.asarray(row_numbers)
    X = X[ok]
    p, q = len(names), len(xnames)
    notes: list[str] = []
    codes = check_ordinal(X[:, :p], names, names, source=source, row_numbers=rown[ok],
                          notes=notes)
    Xx = X[:, p:]
    N = X.shape[0]
    C = [codes[v] for v in names]
    ths, betas, sc_th, sc_sl = [], [], [], np.zeros((N, p * q))
    for j in range(p):
        K = int(C[j].max() + 1)
        t, b, S = probit_regression(C[j], Xx, K)
        ths.append(t)
        betas.append(b)
        sc_th.append(S[:, :K - 1])
        sc_sl[:, [k * p + j for k in range(q)]] = S[:, K - 1:]
    th = np.concatenate(ths)
    nth = len(th)
    start = np.concatenate([[0], np.cumsum([len(t) for t in ths])]).astype(int)
    slopes = np.array(betas)                       # p x q
    etas = [Xx @ b for b in betas]
    pairs = pairs_vech(p)
    npair = len(pairs)
    na11 = nth + p * q
    R = np.eye(p)
    SC_COR = np.zeros((N, npair))
    A21 = np.zeros((npair, na11))
    for qq, (i, j) in enumerate(pairs):
        with np.errstate(invalid="ignore"):
            r = float(np.corrcoef(C[i], C[j])[0, 1])
        r = max(min(r if np.isfinite(r) else 0.0, 0.95), -0.95)
        for _ in range(100):
            P, dr, *_ = _bv_x_parts(C[i], C[j], ths[i], ths[j], etas[i], etas[j], r)
            sc = dr / P
            step = float(sc.sum() / np.sum(sc * sc))
            r = min(max(r + step, -0.9999), 0.9999)
            if abs(step) < 1e-11:
                break
        P, dr, dui, dli, duj, dlj = _bv_x_parts(C[i], C[j], ths[i], ths[j], etas[i], etas[j], r)
        s_rho = dr / P
        Ti, Bi = _th_beta_scores(C[i], dui, dli, P, Xx, len(ths[i]) + 1)
        Tj, Bj = _th_beta_scores(C[j], duj, dlj, P, Xx, len(ths[j]) + 1)
        A21[qq, start[i]:start[i + 1]] = s_rho @ Ti
        A21[qq, start[j]:start[j + 1]] = s_rho @ Tj
        A21[qq, [nth + k * p + i for k in range(q)]] = s_rho @ Bi
        A21[qq, [nth + k * p + j for k in range(q)]] = s_rho @ Bj
        R[i, j] = R[j, i] = r
        SC_COR[:, qq] = s_rho
    SC = np.hstack(sc_th + [sc_sl, SC_COR])
    INNER = SC.T @ SC
    A11 = np.zeros((na11, na11))
    for j in range(p):
        idx = list(range(start[j], start[j + 1])) + [nth + k * p + j for k in range(q)]
        A11[np.ix_(idx, idx)] = INNER[np.ix_(idx, idx)]
    A11inv = np.linalg.inv(A11)
    A22inv = np.diag(1.0 / np.sum(SC_COR ** 2, axis=0))
    k = na11 + npair
    Binv = np.zeros((k, k))
    Binv[:na11, :na11] = A11inv
    Binv[na11:, na11:] = A22inv
    Binv[na11:, :na11] = -A22inv @ A21 @ A11inv
    gamma = N * Binv @ INNER @ Binv.T
    gamma = (gamma + gamma.T) / 2
    obs = np.concatenate([th, slopes.T.ravel(), np.array([R[i, j] for i, j in pairs])])
    th_names = [f"{v}|t{k + 1}" for v, t in zip(names, ths) for k in range(len(t))]
    th_item = np.concatenate([[j] * len(t) for j, t in enumerate(ths)]).astype(int)
    out = WLSStats(names=list(names), nobs=N, th=th, th_names=th_names, th_item=th_item,
                   ncat=[len(t) + 1 for t in ths], cor=R, pairs=pairs, obs=obs, gamma=gamma,
                   wdiag=1.0 / np.diag(gamma), codes=dict(zip(names, C)), numeric=[],
                   var=np.ones(p), cov=R, notes=notes)
    out.slopes = slopes
    out.xnames = list(xnames)
    return out
