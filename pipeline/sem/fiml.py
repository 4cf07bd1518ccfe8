"""Full-information ML with missing data at the speed of its arithmetic.

The FIML discrepancy (``-2 logL / N`` up to a constant) of the model-implied
moments ``(Sigma, mu)`` over the cases ``x_i`` with observed set ``o_i``

.. math::

    F = \\frac1N \\sum_i \\Big[ q_i \\log 2\\pi + \\log|\\Sigma_{o_i o_i}|
        + d_i' \\Sigma_{o_i o_i}^{-1} d_i \\Big], \\qquad d_i = x_{i,o_i} - \\mu_{o_i},

and its gradient

.. math::

    \\frac{\\partial F}{\\partial \\Sigma} = \\frac1N \\sum_i \\big[W^0_i - r_i r_i'\\big],
    \\qquad
    \\frac{\\partial F}{\\partial \\mu} = -\\frac2N \\sum_i r_i, \\qquad r_i = W^0_i d_i,

where ``W^0_i`` is ``Sigma_oo^-1`` padded with zeros, are computed **without
one factorisation per pattern of the full size**.  With ``W = Sigma^-1``
and ``m`` the missing set of a pattern (partitioned inverse):

.. math::

    W^0 = W - W_{\\cdot m} W_{mm}^{-1} W_{m \\cdot}, \\qquad
    |\\Sigma_{oo}| = |\\Sigma|\\,|W_{mm}|,

so one p x p Cholesky factorisation serves every pattern, and each pattern
only needs the Cholesky factor of its ``|m| x |m|`` block of ``W``
(batched with numpy over all patterns with the same number of missing
values).  The per-case work is a product with ``W`` (one BLAS call for all
cases) and a rank-``|m|`` correction.  Patterns observed on fewer variables
than they miss, or an implied ``Sigma`` that is not positive definite while
its observed blocks are, use the direct formula on ``Sigma_oo`` (batched
Cholesky over patterns with the same number of observed variables).

Cases enter as *rows*: a pattern with few cases keeps its cases; a pattern
with many (more than its number of observed variables + 1) is reduced to its
mean (weight ``n_g``) plus the square-root factor of its scatter matrix, so
that the work is bounded by ``min(N, patterns x p)`` rows.

The saturated (h1) moments come from the EM algorithm with the same
batched E-step (:func:`em_saturated`), the FIML estimator
(:class:`FIMLEstimator`) uses a quasi-Newton (BFGS) optimizer started at the
complete-data ML fit to the EM moments, with the inverse expected
information there as its initial metric, and the observed information
(lavaan's default standard errors under ``missing = "ml"``) by central
differences of the analytic gradient, computed in parallel across cores for
large models.

References
----------
Arbuckle, J. L. (1996). Full information estimation in the presence of
incomplete data. In G. A. Marcoulides & R. E. Schumacker (Eds.),
*Advanced structural equation modeling*. Erlbaum.
Little, R. J. A., & Rubin, D. B. (2002). *Statistical analysis with missing
data* (2nd ed.), ch. 8 (EM for the multivariate normal). Wiley.
Savalei, V., & Bentler, P. M. (2009). A two-stage approach to missing data:
theory and application to auxiliary variables. *SEM*, 16, 477-497
(the partitioned-inverse identities).

In R: ``lavaan:::lav_mvnorm_missing_loglik_samplestats``,
``lavaan:::lav_mvnorm_missing_dlogl_dSigma``,
``lavaan:::lav_mvnorm_missing_h1_estimate_moments``;
``sem(model, data, missing = "ml")``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import linalg

__all__ = ["MissingRows", "kernel_for", "fiml_value", "em_saturated", "FIMLEstimator",
           "fit_fiml", "numerical_hessian"]

LOG2PI = math.log(2.0 * math.pi)


@dataclass
class _Group:
    """Patterns with the same number ``k`` of missing (or observed) variables."""

    k: int                    # size of the index set
    pats: np.ndarray          # pattern ids (G_k,)
    idx: np.ndarray           # (G_k, k) missing (direct=False) or observed (direct=True) indices
    n: np.ndarray             # cases per pattern (G_k,)
    rows: np.ndarray          # row ids of these patterns (R_k,)
    local: np.ndarray         # position of each row's pattern within pats (R_k,)
    valid: np.ndarray | None = None   # (G_k, k) False where idx is padding (points to 0)
    flat: np.ndarray | None = None    # (G_k, k*k) flat p x p positions of the idx x idx block


class MissingRows:
    """Cases of an incomplete data matrix grouped by missingness pattern.

    Parameters
    ----------
    X : ndarray (N, p), optional
        Data with ``nan`` for missing values (rows: cases).
    patterns : list of Pattern, optional
        Alternatively, pattern summaries (observed index, count, mean and
        covariance with divisor n) as :func:`pipeline.sem.estimate.sample_stats`
        stores them.
    collapse : int or None
        Patterns with more than ``max(collapse, q + 1)`` cases are reduced
        to mean + scatter-factor rows (``None``: always keep the cases).

    Attributes
    ----------
    N, p : int
    D0 : ndarray (R, p)
        Row values, zero where missing.
    mean_row : ndarray (R,) of bool
        Rows that are cases or pattern means (shifted by ``mu``); the others
        are scatter factors (not shifted).
    w : ndarray (R,)
        Weight of each row (1 for cases and scatter factors, ``n_g`` for a
        pattern mean).
    obs : ndarray (R, p) of float
        1 where observed.
    """

    def __init__(self, X: np.ndarray | None = None, patterns=None, *, p: int | None = None,
                 collapse: int | None = 0, pattern_ids: tuple[np.ndarray, np.ndarray] | None = None):
        if (X is None) == (patterns is None):
            raise ValueError("give exactly one of X or patterns")
        if X is not None:
            X = np.asarray(X, dtype=float)
            if X.ndim != 2:
                raise ValueError(f"X must be a 2-d array, got shape {X.shape}")
            N, p = X.shape
            miss = np.isnan(X)
            if pattern_ids is None:
                keys, inv = pattern_index(miss)
            else:                          # known patterns (bootstrap draws): drop absent ones
                keys, inv = pattern_ids
                present, inv = np.unique(inv, return_inverse=True)
                keys = keys[present]
            inv = inv.ravel()
            counts = np.bincount(inv, minlength=len(keys))
            q = p - keys.sum(axis=1)
            coll = np.zeros(len(keys), dtype=bool) if collapse is None else \
                counts > np.maximum(collapse, q + 1)
            keep_rows = ~coll[inv]
            blocks = [(None, np.flatnonzero(keep_rows), np.where(miss[keep_rows], 0.0, X[keep_rows]),
                       inv[keep_rows])]
            if coll.any():
                order = np.argsort(inv, kind="stable")
                starts = np.r_[0, np.cumsum(counts)]
                for g in np.flatnonzero(coll):
                    rows = order[starts[g]:starts[g + 1]]
                    xo = X[np.ix_(rows, np.flatnonzero(~keys[g]))]
                    blocks.append((g, xo.mean(axis=0), (xo - xo.mean(axis=0)), counts[g]))
            self._build(N, p, keys, counts, blocks)
        else:
            if p is None:
                p = max(int(np.max(pt.obs)) for pt in patterns) + 1
            keys, counts, blocks = [], [], []
            for g, pt in enumerate(patterns):
                key = np.ones(p, dtype=bool)
                key[pt.obs] = False
                keys.append(key)
                counts.append(pt.n)
                blocks.append((g, pt.mean, pt.cov, pt.n))
            N = int(sum(counts))
            self._build(N, p, np.array(keys), np.array(counts), blocks, from_cov=True)

    def _build(self, N, p, keys, counts, blocks, from_cov: bool = False):
        self.N, self.p = int(N), int(p)
        self.keys = np.asarray(keys, dtype=bool)          # True = missing
        self.counts = np.asarray(counts, dtype=float)
        D, pid, mrow, w = [], [], [], []
        for b in blocks:
            g = b[0]
            if g is None:                 # the cases themselves (all patterns at once)
                rows, pids = b[2], b[3]
                D.append(rows)
                pid.append(pids)
                mrow.append(np.ones(len(rows), dtype=bool))
                w.append(np.ones(len(rows)))
                continue
            o = np.flatnonzero(~self.keys[g])
            mean, spread, n = b[1], b[2], b[3]
            r = np.zeros((1, p))
            r[0, o] = mean
            if from_cov:                  # covariance (divisor n): factor n * cov
                ev, V = np.linalg.eigh(n * np.asarray(spread))
                keep = ev > 1e-13 * max(ev.max(), 1e-300)
                F = (V[:, keep] * np.sqrt(ev[keep])).T
            else:                         # centred rows: thin QR gives R'R = Xc'Xc
                F = np.linalg.qr(spread, mode="r") if spread.shape[0] > spread.shape[1] \
                    else spread
            sc = np.zeros((F.shape[0], p))
            sc[:, o] = F
            D += [r, sc]
            pid += [np.array([g]), np.full(len(sc), g)]
            mrow += [np.array([True]), np.zeros(len(sc), dtype=bool)]
            w += [np.array([float(n)]), np.ones(len(sc))]
        self.D0 = np.ascontiguousarray(np.vstack(D)) if D else np.zeros((0, p))
        self.pattern = np.concatenate(pid).astype(int) if pid else np.zeros(0, int)
        self.mean_row = np.concatenate(mrow) if mrow else np.zeros(0, bool)
        self.w = np.concatenate(w) if w else np.zeros(0)
        self.obs = (~self.keys[self.pattern]).astype(float)
        nmiss = self.keys.sum(axis=1)
        self.nobs_var = p - nmiss
        self.const = float(np.sum(self.counts * self.nobs_var) * LOG2PI)
        # groups by number of missing values (partitioned inverse) and, for
        # patterns observing fewer variables than they miss, by observed count
        self.groups: list[_Group] = []
        self.direct: list[_Group] = []
        self.complete_rows = np.flatnonzero(nmiss[self.pattern] == 0)
        lookup0 = np.full(len(self.keys), -1)
        # partitioned inverse: patterns missing at most half of the variables,
        # batched by the number missing (numpy's batched LAPACK calls cost a few
        # microseconds per matrix; padding to a common size measured slower)
        for k in np.unique(nmiss):
            if k == 0 or k > p - k:
                continue
            part = np.flatnonzero(nmiss == k)
            idx = np.nonzero(self.keys[part])[1].reshape(len(part), k)
            lookup = lookup0.copy()
            lookup[part] = np.arange(len(part))
            rws = np.flatnonzero(lookup[self.pattern] >= 0)
            self.groups.append(_Group(int(k), part, idx, self.counts[part], rws,
                                      lookup[self.pattern[rws]], None,
                                      (idx[:, :, None] * p + idx[:, None, :]).reshape(len(part), -1)))
        # patterns observing fewer variables than they miss: direct formula,
        # batched by the number observed
        for k in np.unique(nmiss):
            if k == 0 or k <= p - k:
                continue
            pats = np.flatnonzero(nmiss == k)
            idx = np.nonzero(~self.keys[pats])[1].reshape(len(pats), p - k)
            lookup = lookup0.copy()
            lookup[pats] = np.arange(len(pats))
            rws = np.flatnonzero(lookup[self.pattern] >= 0)
            self.direct.append(_Group(int(p - k), pats, idx, self.counts[pats], rws,
                                      lookup[self.pattern[rws]]))
        # all patterns as direct groups (fallback when Sigma is not PD)
        self._all_direct = None

    def missing_groups(self):
        """``(group, missing indices, valid)`` of every incomplete pattern group."""
        if getattr(self, "_mg", None) is None:
            out = [(g, g.idx, np.ones(g.idx.shape, dtype=bool)) for g in self.groups]
            for g in self.direct:
                mi = np.array([np.flatnonzero(self.keys[i]) for i in g.pats]).reshape(
                    len(g.pats), self.p - g.k)
                out.append((g, mi, np.ones(mi.shape, dtype=bool)))
            self._mg = out
        return self._mg

    @property
    def n_patterns(self) -> int:
        return len(self.keys)

    def all_direct(self) -> list[_Group]:
        if self._all_direct is None:
            out = []
            q = self.nobs_var
            lookup_all = np.full(len(self.keys), -1)
            for k in np.unique(q):
                pats = np.flatnonzero(q == k)
                idx = np.array([np.flatnonzero(~self.keys[g]) for g in pats]).reshape(len(pats), k)
                lookup = lookup_all.copy()
                lookup[pats] = np.arange(len(pats))
                rows = np.flatnonzero(lookup[self.pattern] >= 0)
                out.append(_Group(int(k), pats, idx, self.counts[pats], rows,
                                  lookup[self.pattern[rows]]))
            self._all_direct = out
        return self._all_direct


def pattern_index(miss: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows of a boolean missingness matrix and each row's pattern id.

    The rows are packed into 64-bit words before sorting (``np.unique`` on a
    boolean matrix sorts p-byte records).  Returns ``(keys, inverse)`` like
    ``np.unique(miss, axis=0, return_inverse=True)``.

    In R: ``lavaan:::lav_data_missing_patterns`` (``mice::md.pattern``).
    """
    miss = np.asarray(miss, dtype=bool)
    N, p = miss.shape
    packed = np.packbits(miss, axis=1)
    nb = packed.shape[1]
    width = -(-nb // 8) * 8
    if width != nb:
        packed = np.concatenate([packed, np.zeros((N, width - nb), np.uint8)], axis=1)
    words = np.ascontiguousarray(packed).view(">u8")
    if words.shape[1] == 1:
        u, first, inv = np.unique(words[:, 0], return_index=True, return_inverse=True)
    else:
        u, first, inv = np.unique(words, axis=0, return_index=True, return_inverse=True)
    return miss[first], inv.ravel()


def kernel_for(stats) -> MissingRows:
    """The :class:`MissingRows` of a :class:`~pipeline.sem.estimate.SampleStats`
    (built from its data matrix, else its patterns; cached on the object)."""
    mr = getattr(stats, "_fiml_rows", None)
    if mr is None:
        if getattr(stats, "data", None) is not None:
            mr = MissingRows(stats.data)
        else:
            mr = MissingRows(patterns=stats.patterns, p=stats.cov.shape[0])
        try:
            stats._fiml_rows = mr
        except AttributeError:  # pragma: no cover - slotted objects
            pass
    return mr


def _chol_batched(M: np.ndarray):
    """Batched lower Cholesky factors, or None if one matrix is not PD."""
    try:
        return np.linalg.cholesky(M)
    except np.linalg.LinAlgError:
        return None


def _padded_blocks(grp: _Group, W: np.ndarray, Rrows: np.ndarray, need_wm: bool = True):
    """``W_mm`` (padding: identity), ``W_m.`` (padding: 0) per pattern and
    ``(W d)_m`` (padding: 0) per row of a padded group."""
    idx, valid = grp.idx, grp.valid
    if valid is None:
        return (W[idx[:, :, None], idx[:, None, :]], W[idx] if need_wm else None,
                np.take_along_axis(Rrows, idx[grp.local], axis=1))
    K = idx.shape[1]
    vv = valid[:, :, None] & valid[:, None, :]
    Wmm = np.where(vv, W[idx[:, :, None], idx[:, None, :]], 0.0)
    if not valid.all():
        Wmm += (~valid)[:, :, None] * np.eye(K)
    Wm = W[idx] * valid[:, :, None]
    u = np.take_along_axis(Rrows, idx[grp.local], axis=1) * valid[grp.local]
    return Wmm, Wm, u


def fiml_value(rows: MissingRows, Sigma: np.ndarray, mu: np.ndarray, gradient: bool = True):
    """FIML discrepancy ``F = -2 logL / N`` and, optionally, ``dF/dSigma``, ``dF/dmu``.

    Parameters
    ----------
    rows : MissingRows
    Sigma, mu : ndarray
        Model-implied moments (all p observed variables).
    gradient : bool

    Returns
    -------
    f : float
        ``inf`` when an observed block of ``Sigma`` is not positive definite.
    G : ndarray (p, p) or None
        ``dF/dSigma`` (symmetric; the derivative with respect to each
        element treated as free).
    gmu : ndarray (p,) or None

    Notes
    -----
    ``logL = -N F / 2`` (lavaan's ``logl`` of the h0 model).

    In R: ``lavaan:::lav_mvnorm_missing_loglik_samplestats`` (value) and
    ``lavaan:::lav_mvnorm_missing_dlogl_dSigma`` / ``_dmu`` (gradient).
    """
    p = rows.p
    Sigma = np.asarray(Sigma, dtype=float)
    mu = np.asarray(mu, dtype=float)
    c, info = linalg.lapack.dpotrf(Sigma, lower=1, clean=1)
    if info != 0:
        return _fiml_direct(rows, Sigma, mu, gradient)
    logdet = 2.0 * float(np.log(np.diag(c)).sum())
    W, info = linalg.lapack.dpotri(c, lower=1)
    if info != 0:
        return _fiml_direct(rows, Sigma, mu, gradient)
    W = np.tril(W) + np.tril(W, -1).T
    # residual rows d (mean rows shifted by mu), masked to the observed set
    D = rows.D0.copy()
    mr = rows.mean_row
    D[mr] -= mu
    D *= rows.obs
    R = D @ W                                   # W d for every row
    ld = rows.counts.sum() * logdet            # sum_g n_g log|Sigma_oo|
    GW = rows.counts.sum() * W if gradient else None
    # partitioned inverse: W0 = W - W E_m W_mm^-1 E_m' W, so both the rank-|m|
    # corrections of the rows and the sum of the W0 are products with W of
    # sparse "missing-block" quantities scattered into p-space
    V = np.zeros_like(R)                       # E_m W_mm^-1 (W d)_m per row
    Q = np.zeros(p * p) if gradient else None  # sum_g n_g E_m W_mm^-1 E_m'
    for grp in rows.groups:
        Wmm, _, u = _padded_blocks(grp, W, R[grp.rows], need_wm=False)
        L = _chol_batched(Wmm)
        if L is None:
            return _fiml_direct(rows, Sigma, mu, gradient)
        ld += float(grp.n @ (2.0 * np.log(np.diagonal(L, axis1=1, axis2=2)).sum(axis=1)))
        Cmm = np.linalg.inv(Wmm)                           # W_mm^-1
        v = (Cmm[grp.local] @ u[:, :, None])[:, :, 0]
        mi = grp.idx[grp.local]
        V[grp.rows[:, None], mi] = v
        if gradient:
            Q += np.bincount(grp.flat.ravel(), (Cmm * grp.n[:, None, None]).ravel(), p * p)
    if rows.groups:
        R -= V @ W
        if gradient:
            Q = Q.reshape(p, p)
            GW -= W @ Q @ W
    for grp in rows.direct:
        out = _direct_group(grp, Sigma, D, R, gradient)
        if out is None:
            return (np.inf, None, None) if gradient else np.inf
        ld_g, GW_g = out
        ld += ld_g
        if gradient:
            GW += GW_g
            # GW above counted W for these patterns: remove it
            GW -= grp.n.sum() * W
    if rows.direct:
        ld -= sum(g.n.sum() for g in rows.direct) * logdet
    return _discrepancy(rows, ld, D, R, GW, gradient)


def _direct_group(grp: _Group, Sigma, D, R, gradient):
    """Patterns of *grp* (observed index ``grp.idx``) by the direct formula.

    Overwrites ``R[grp.rows]`` with ``Sigma_oo^-1 d`` (padded); returns
    ``(sum n_g log|Sigma_oo|, sum n_g W0_g)`` or None when a block is not PD.
    """
    p = Sigma.shape[0]
    idx = grp.idx
    k = idx.shape[1]
    So = Sigma[idx[:, :, None], idx[:, None, :]]
    L = _chol_batched(So)
    if L is None:
        return None
    ld = float(np.sum(grp.n * 2.0 * np.log(np.diagonal(L, axis1=1, axis2=2)).sum(axis=1)))
    Wo = np.linalg.inv(So)
    Wo = (Wo + Wo.transpose(0, 2, 1)) / 2
    rows = grp.rows
    do = np.take_along_axis(D[rows], idx[grp.local], axis=1)
    ro = (Wo[grp.local] @ do[:, :, None])[:, :, 0]
    Rg = np.zeros((len(rows), p))
    np.put_along_axis(Rg, idx[grp.local], ro, axis=1)
    R[rows] = Rg
    GW = None
    if gradient:
        GW = np.zeros(p * p)
        flat = (idx[:, :, None] * p + idx[:, None, :]).reshape(len(idx), k * k)
        GW += np.bincount(flat.ravel(), (Wo * grp.n[:, None, None]).reshape(-1), p * p)
        GW = GW.reshape(p, p)
    return ld, GW



def _discrepancy(rows: MissingRows, ld: float, D, R, GW, gradient: bool):
    """F = (const + sum of log-determinants + sum_i w_i d_i' W_oo,i d_i) / N from the
    rows' residuals D and R = W_oo D; with *gradient* also dF/dSigma
    (``(sum W0 - sum w R R') / N``, symmetrised) and dF/dmu."""
    N, mr = rows.N, rows.mean_row
    f = (rows.const + ld + float((rows.w * np.einsum("rp,rp->r", D, R)).sum())) / N
    if not gradient:
        return f
    Rw = R * np.sqrt(rows.w)[:, None]
    G = (GW - Rw.T @ Rw) / N
    G = (G + G.T) / 2
    gmu = -2.0 * (rows.w[mr] @ R[mr]) / N
    return f, G, gmu

def _fiml_direct(rows: MissingRows, Sigma, mu, gradient):
    """Every pattern by the direct formula (Sigma itself not positive definite)."""
    p = rows.p
    D = rows.D0.copy()
    mr = rows.mean_row
    D[mr] -= mu
    D *= rows.obs
    R = np.zeros_like(D)
    ld = 0.0
    GW = np.zeros((p, p))
    for grp in rows.all_direct():
        out = _direct_group(grp, Sigma, D, R, gradient)
        if out is None:
            return (np.inf, None, None) if gradient else np.inf
        ld += out[0]
        if gradient:
            GW += out[1]
    return _discrepancy(rows, ld, D, R, GW, gradient)


def fiml_loglik(rows: MissingRows, Sigma: np.ndarray, mu: np.ndarray) -> float:
    """Observed-data log-likelihood ``-N F / 2`` (``-inf`` if not PD).

    In R: ``lavaan:::lav_mvnorm_missing_loglik_samplestats``.
    """
    f = fiml_value(rows, Sigma, mu, gradient=False)
    return -0.5 * rows.N * f if np.isfinite(f) else -np.inf


# --------------------------------------------------------------------------- EM
def em_saturated(X: np.ndarray | MissingRows, *, tol: float = 1e-10, maxiter: int = 10000,
                 start: tuple[np.ndarray, np.ndarray] | None = None):
    """EM estimate of the saturated mean and covariance under MAR.

    E-step, batched over patterns with the same number of missing values:
    with ``W = Sigma^-1``, the conditional mean of the missing part is
    ``mu_m - W_mm^-1 W_mo (x_o - mu_o)`` and its conditional covariance
    ``W_mm^-1``; M-step: the complete-data moments of the filled-in rows
    plus the conditional covariances.

    Parameters
    ----------
    X : ndarray (N, p) with nan, or MissingRows
    tol : float
        Stop when no element of the mean or covariance changes by more than *tol*.
    maxiter : int
    start : (mu, Sigma), optional
        Default: available-case means and a diagonal of available-case variances.

    Returns
    -------
    mu, Sigma, logl, n_iter

    In R: ``lavaan:::lav_mvnorm_missing_h1_estimate_moments``.
    """
    rows = X if isinstance(X, MissingRows) else MissingRows(X)
    if start is None:
        # available-case moments from the rows (cases or pattern summaries)
        mr = rows.mean_row
        wobs = (rows.w[mr][:, None] * rows.obs[mr])
        nobs = wobs.sum(axis=0)
        mu = (rows.w[mr][:, None] * rows.D0[mr]).sum(axis=0) / nobs
        Dc = np.where(rows.obs > 0, rows.D0 - np.where(mr[:, None], mu, 0.0), 0.0)
        var = (rows.w[:, None] * Dc ** 2).sum(axis=0) / nobs
        sig = np.diag(var)
    else:
        mu, sig = (np.array(a, dtype=float) for a in start)
    it = 0
    mr = rows.mean_row
    for it in range(1, maxiter + 1):
        mu_new, sig_new = _em_step(rows, mu, sig)
        change = max(np.abs(mu_new - mu).max(), np.abs(sig_new - sig).max())
        mu, sig = mu_new, sig_new
        if change < tol:
            break
    return mu, sig, fiml_loglik(rows, sig, mu), it


def _em_step(rows: MissingRows, mu, sig):
    p, N = rows.p, rows.N
    W = np.linalg.inv(sig)
    W = (W + W.T) / 2
    mr = rows.mean_row
    D = rows.D0.copy()
    D[mr] -= mu
    D *= rows.obs
    Xh = D.copy()                          # filled deviations (mean rows: x - mu)
    WD = D @ W
    cond = np.zeros(p * p)
    for grp, miss, valid in rows.missing_groups():
        k = miss.shape[1]
        g2 = _Group(k, grp.pats, miss, grp.n, grp.rows, grp.local,
                    None if valid.all() else valid)
        Wmm, _, u = _padded_blocks(g2, W, WD[grp.rows])
        Cmm = np.linalg.inv(Wmm)                           # conditional covariances
        Cmm = (Cmm + Cmm.transpose(0, 2, 1)) / 2
        fill = -(Cmm[grp.local] @ u[:, :, None])[:, :, 0]
        vr = valid[grp.local]
        ri, ci = np.nonzero(vr)
        Xh[grp.rows[ri], miss[grp.local][vr]] = fill[vr]
        vv = valid[:, :, None] & valid[:, None, :]
        flat = miss[:, :, None] * p + miss[:, None, :]
        cond += np.bincount(flat[vv], (Cmm * grp.n[:, None, None])[vv], p * p)
    # moments about the current mu, then shift
    s1 = rows.w[mr] @ Xh[mr]
    Xw = Xh * np.sqrt(rows.w)[:, None]
    s2 = Xw.T @ Xw + cond.reshape(p, p)
    dm = s1 / N
    mu_new = mu + dm
    sig_new = s2 / N - np.outer(dm, dm)
    return mu_new, (sig_new + sig_new.T) / 2


# ---------------------------------------------------------------- derivatives
def numerical_hessian(grad, theta: np.ndarray, *, h: float = 1e-5,
                      workers: int | None = None) -> np.ndarray:
    """Symmetrised central-difference Jacobian of an analytic gradient.

    ``H[:, j] = (g(theta + h_j e_j) - g(theta - h_j e_j)) / (2 h_j)`` with
    ``h_j = h max(1, |theta_j|)``; the columns are independent and are
    computed by *workers* threads (numpy releases the GIL in its BLAS and
    LAPACK calls).  Truncation error O(h^2), rounding O(eps / h): about
    1e-9 relative for a smooth objective.

    In R: ``lavaan:::lav_model_hessian`` (lavaan differentiates its analytic
    gradient too, with a four-point rule).
    """
    theta = np.asarray(theta, dtype=float)
    k = len(theta)

    def column(j):
        step = h * max(1.0, abs(theta[j]))
        tp, tm = theta.copy(), theta.copy()
        tp[j] += step
        tm[j] -= step
        return (grad(tp) - grad(tm)) / (2.0 * step)

    if workers is None:
        workers = 1
    if workers > 1 and k > 8:
        from concurrent.futures import ThreadPoolExecutor
        with ThreadPoolExecutor(max_workers=workers) as ex:
            cols = list(ex.map(column, range(k)))
    else:
        cols = [column(j) for j in range(k)]
    H = np.column_stack(cols) if cols else np.zeros((0, 0))
    return (H + H.T) / 2


# ------------------------------------------------------------------ estimator
def _estimator_base():
    from pipeline.sem.estimate import Estimator
    return Estimator


class FIMLEstimator(_estimator_base()):
    """The engine's :class:`~pipeline.sem.estimate.Estimator` with the fast FIML kernel.

    Same interface; under ``missing="fiml"`` the objective, gradient,
    Hessian (observed information) and optimizer use
    :func:`fiml_value`; complete-data fits are left to the base class.

    Optimizer: BFGS with backtracking (Armijo) line search on the FIML
    discrepancy, started at the complete-data ML estimate for the EM
    moments (unless a start is given) with the inverse of twice the
    complete-data expected information there as the initial metric; when
    the quasi-Newton iterations stall, Newton steps with the
    finite-difference Hessian of the analytic gradient finish.  Converged
    when the largest gradient element is below *gtol*.

    In R: ``lavaan::sem(..., missing = "ml")`` (nlminb with the analytic
    gradient; observed information by differentiating the gradient).
    """

    #: threads computing the columns of the finite-difference Hessian (None: the
    #: available cores, at most 4; numpy releases the GIL in BLAS/LAPACK: 1.8x
    #: measured with 2 threads on 2 busy cores)
    workers: int | None = None
    _hess_cache = None

    def _n_workers(self) -> int:
        """Threads for the Hessian's columns: ``workers``, else the available cores (at most 4)."""
        if self.workers is not None:
            return max(1, int(self.workers))
        try:
            import os
            return max(1, min(4, len(os.sched_getaffinity(0))))
        except (AttributeError, OSError):  # pragma: no cover - non-Linux
            return 1

    def _grad(self, stats):
        def g(t):
            f, gr = self.objective(t, stats)
            return gr
        return g

    def hessian(self, theta, stats) -> np.ndarray:
        if self.missing != "fiml":
            return super().hessian(theta, stats)
        key = (id(stats), np.asarray(theta, float).tobytes())
        if self._hess_cache is not None and self._hess_cache[0] == key:
            return self._hess_cache[1].copy()
        H = numerical_hessian(self._grad(stats), np.asarray(theta, float),
                              workers=self._n_workers())
        self._hess_cache = (key, H)
        return H.copy()

    def information_from_jacobian(self, Sigma, dS, dm, stats) -> np.ndarray:
        if self.missing != "fiml":
            return super().information_from_jacobian(Sigma, dS, dm, stats)
        return _expected_info_fiml(self, kernel_for(stats), Sigma, dS, dm)

    # ------------------------------------------------------------ optimizer
    def _complete_start(self, stats):
        """Complete-data ML fit (with mean structure) to the EM moments: start and metric."""
        from pipeline.sem.estimate import Estimator, SampleStats
        st = SampleStats(nobs=stats.nobs, cov=stats.cov, mean=stats.mean,
                         logdet=np.linalg.slogdet(stats.cov)[1])
        base = Estimator(self.model, likelihood="normal", missing="listwise", meanstructure=True)
        r = base.optimize(st, maxiter=100)
        theta = r.theta if np.isfinite(r.fmin) else base.start_values(st)
        info = 2.0 * base.expected_information(theta, st)
        return theta, info

    def optimize(self, stats, start=None, *, maxiter: int = 200, gtol: float = 1e-9,
                 hinv0: np.ndarray | None = None):
        """Minimise the FIML discrepancy (see the class docstring).

        Parameters
        ----------
        stats : SampleStats
        start : ndarray, optional
            Warm start (bootstrap draws: the full-sample estimates).
        maxiter : int
        gtol : float
            Converged when the largest gradient element is below *gtol*, or
            when F stalls at rounding level with the gradient below 1e-6.
        hinv0 : ndarray, optional
            Initial inverse Hessian (bootstrap: the full sample's, shared).

        Returns
        -------
        OptimResult
            ``method = "bfgs-fiml"``.
        """
        from pipeline.sem.estimate import OptimResult
        if self.missing != "fiml":
            return super().optimize(stats, start=start, maxiter=maxiter, gtol=gtol)
        info0 = None
        if start is None:
            theta, info0 = self._complete_start(stats)
        else:
            theta = np.array(start, dtype=float)
        f, g = self.objective(theta, stats)
        if not np.isfinite(f):
            theta, info0 = self._complete_start(stats)
            f, g = self.objective(theta, stats)
            if not np.isfinite(f):
                theta = self.start_values(stats)
                f, g = self.objective(theta, stats)
        if hinv0 is not None:
            Hinv = np.array(hinv0, dtype=float)
        else:
            if info0 is None:
                info0 = 2.0 * self._complete_info(theta, stats)
            Hinv = _safe_inv(info0)
        it, ok, newton = 0, False, 0
        maxiter_total = max(maxiter, 50)
        while it < maxiter_total and np.isfinite(f):
            it += 1
            if np.max(np.abs(g)) < gtol:
                ok = True
                break
            d = -(Hinv @ g)
            slope = float(g @ d)
            if slope >= 0:
                Hinv = _safe_inv(2.0 * self._complete_info(theta, stats))
                d = -(Hinv @ g)
                slope = float(g @ d)
            t, new = 1.0, None
            for _ in range(40):
                cand = theta + t * d
                fn, gn = self.objective(cand, stats)
                if np.isfinite(fn) and fn <= f + 1e-4 * t * slope:
                    new = (cand, fn, gn)
                    break
                t *= 0.5
            if new is None or (f - new[1]) < 1e-15 * max(1.0, abs(f)):
                # stalled: F no longer decreases beyond rounding.  Converged when
                # the gradient is small (its rounding floor is about 1e-8 here);
                # otherwise a Newton step with the finite-difference Hessian
                gmax = np.max(np.abs(new[2] if new is not None else g))
                if gmax < 1e-6:
                    if new is not None:
                        theta, f, g = new
                    ok = True
                    break
                if newton >= 3:
                    if new is not None:
                        theta, f, g = new
                    ok = np.max(np.abs(g)) < 1e-6
                    break
                newton += 1
                H = self.hessian(theta, stats)
                try:
                    step = linalg.cho_solve(linalg.cho_factor(H), g)
                    Hinv = _safe_inv(H)
                except linalg.LinAlgError:
                    step = Hinv @ g
                t = 1.0
                for _ in range(30):
                    fn, gn = self.objective(theta - t * step, stats)
                    if np.isfinite(fn) and fn <= f:
                        break
                    t *= 0.5
                if np.isfinite(fn) and fn <= f:
                    theta, f, g = theta - t * step, fn, gn
                continue
            cand, fn, gn = new
            s = cand - theta
            y = gn - g
            sy = float(s @ y)
            if sy > 1e-14:
                rho = 1.0 / sy
                Hy = Hinv @ y
                Hinv = (Hinv - rho * (np.outer(s, Hy) + np.outer(Hy, s))
                        + (rho * rho * float(y @ Hy) + rho) * np.outer(s, s))
            theta, f, g = cand, fn, gn
        if not ok and np.isfinite(f) and np.max(np.abs(g)) < gtol:
            ok = True
        return OptimResult(theta, float(f), bool(ok), it, "bfgs-fiml")

    def _complete_info(self, theta, stats):
        from pipeline.sem.estimate import Estimator
        base = Estimator(self.model, likelihood="normal", missing="listwise", meanstructure=True)
        return base.expected_information(theta, stats)


def _safe_inv(H: np.ndarray) -> np.ndarray:
    H = (H + H.T) / 2
    try:
        w, V = np.linalg.eigh(H)
    except np.linalg.LinAlgError:
        return np.eye(len(H))
    floor = max(np.abs(w).max(), 1e-300) * 1e-8
    w = np.maximum(np.abs(w), floor)
    return (V / w) @ V.T


def _expected_info_fiml(est, rows: MissingRows, Sigma, dS, dm) -> np.ndarray:
    """Expected information under FIML, per pattern (patterns share no work)."""
    from pipeline.sem.estimate import _info_block
    k = dS.shape[2]
    info = np.zeros((k, k))
    for g in range(rows.n_patterns):
        o = np.flatnonzero(~rows.keys[g])
        ix = np.ix_(o, o)
        info += (rows.counts[g] / rows.N) * _info_block(Sigma[ix], dS[ix], dm[o], True)
    return info


def fit_fiml(model, data, **kwargs):
    """``pipeline.sem.fit(model, data, missing="fiml")`` with :class:`FIMLEstimator`.

    Same arguments and result as :func:`pipeline.sem.results.fit`; the
    saturated moments by the batched EM (:func:`em_saturated`).

    In R: ``lavaan::sem(model, data, missing = "ml")``.
    """
    from pipeline.sem import results as R
    from pipeline.sem.estimate import single_thread_blas
    from pipeline.sem.syntax import ParsedModel, parse_model
    from pipeline.sem.model import SEMModel
    kwargs = dict(kwargs)
    kwargs.pop("missing", None)
    likelihood = kwargs.pop("likelihood", "normal")
    if likelihood != "normal":
        raise ValueError("likelihood='wishart' is not available with missing='fiml' "
                         "(lavaan uses the normal likelihood under FIML)")
    fixed_x = kwargs.pop("fixed_x", True)
    start = kwargs.pop("start", None)
    se = kwargs.pop("se", True)
    emit = kwargs.pop("emit_warnings", True)
    source = kwargs.pop("source", None)
    maxiter = kwargs.pop("maxiter", 200)
    workers = kwargs.pop("workers", None)
    kwargs.pop("meanstructure", None)
    if kwargs:
        raise TypeError(f"unexpected arguments: {sorted(kwargs)}")
    if isinstance(model, SEMModel):
        sem_model, model_text = model, ""
    else:
        text = model if isinstance(model, ParsedModel) else R._read_model_text(model)
        model_text = text.text if isinstance(text, ParsedModel) else text
        text = text if isinstance(text, ParsedModel) else parse_model(text)
        sem_model = R.build_model(text, meanstructure=True, fixed_x=fixed_x)
    if not sem_model.meanstructure:
        raise ValueError("missing='fiml' needs a model built with meanstructure=True")
    X, kept = R.prepare_data(data, sem_model, missing="fiml", source=source)
    df = R.model_df(sem_model, True)
    warn_list: list[str] = []
    R._check_coverage(X, sem_model.observed, warn_list, emit)
    est = FIMLEstimator(sem_model, likelihood="normal", missing="fiml", meanstructure=True)
    est.workers = workers
    with single_thread_blas():
        st = fiml_sample_stats(X)
        return R._finish(sem_model, est, st, start=start, se=se, emit=emit,
                         warn_list=warn_list, model_text=model_text, df=df, fixed_x=fixed_x,
                         maxiter=maxiter)


def fiml_sample_stats(X: np.ndarray, *, em: bool = True, patterns: bool = True,
                      pattern_ids: tuple[np.ndarray, np.ndarray] | None = None):
    """:class:`~pipeline.sem.estimate.SampleStats` for FIML with the batched EM.

    ``patterns=False`` skips the per-pattern summaries (``stats.patterns``,
    used only by the engine's per-pattern code); *pattern_ids* ``(keys,
    inverse)`` reuses a known pattern index (bootstrap draws of the same cases).

    In R: ``lavInspect(fit, "sampstat")`` under ``missing = "ml"``.
    """
    from pipeline.sem.estimate import SampleStats, _patterns
    X = np.asarray(X, dtype=float)
    rows = MissingRows(X, pattern_ids=pattern_ids)
    if em:
        mu, cov, ll, _ = em_saturated(rows)
    else:
        mu, cov, ll = np.nanmean(X, axis=0), np.diag(np.nanvar(X, axis=0)), math.nan
    sign, logdet = np.linalg.slogdet(cov)
    st = SampleStats(nobs=X.shape[0], cov=cov, mean=mu,
                     patterns=_patterns(X) if patterns else [],
                     logdet=logdet if sign > 0 else math.nan, logl_h1=ll, data=X)
    st._fiml_rows = rows
    return st
