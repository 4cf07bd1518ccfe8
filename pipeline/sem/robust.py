"""Robust (non-normality) corrections: Satorra-Bentler, Yuan-Bentler, sandwich SEs.

Group-general API (used by single-group fits here and by multi-group fits,
which pass their per-group pieces as lists)
--------------------------------------------------------------------------

Conventions, as in lavaan (``lav_test_satorra_bentler.R``, ``lav_model_vcov.R``):

* ``nobs`` : list of group sizes ``n_g``; ``fg = n_g / N``.
* ``Delta`` : list of ``(nmom_g, npar)`` Jacobians of the model-implied sample
  moments of group *g* w.r.t. the **common** free parameter vector (columns
  identical across groups; a parameter not in group g has a zero column).
  Moment order: ``[mean (if meanstructure), vech(Sigma)]`` with lavaan's
  column-major lower-triangle ``vech`` (:func:`vech_indices`); for WLS the
  order of :mod:`pipeline.sem.ordinal` (thresholds, then correlations).
* ``W`` : list of per-case weight matrices of group g (ML: the h1 expected
  information :func:`h1_expected_information`; DWLS: ``diag(1/diag(Gamma_g))``;
  a 1-d array is taken as a diagonal).
* ``Gamma`` : list of per-case asymptotic covariances of the sample moments of
  group g, i.e. ``ACOV(sqrt(n_g) s_g)`` (:func:`gamma_adf`, :func:`gamma_nt`,
  :func:`pipeline.sem.ordinal.wls_stats`).
* ``info = sum_g fg Delta_g' W_g Delta_g`` (per-case information) and
  ``E_inv`` its inverse (pass your own, e.g. with equality constraints).

Functions

``vech_indices(p)`` -> (rows, cols)
``vech_jacobian(dSigma, dmu=None)`` -> Delta (nmom x k) from (p,p,k) / (p,k) arrays
``gamma_adf(X, meanstructure=False, x_idx=None)`` -> ADF Gamma (divisor N, lavaan default;
    fixed.x covariates by lavaan's residual approach)
``gamma_nt(Sigma, mu=None, meanstructure=False)`` -> normal-theory Gamma
``h1_expected_information(Sigma, meanstructure=False)`` -> A1 (= gamma_nt^-1)
``h1_trace_complete(X, S, mean, meanstructure)`` -> tr(B1 A1^-1) in closed form
``ml_moment_scores(X, Sigma, mu, meanstructure)`` -> N x nmom casewise scores of
    the normal log-likelihood w.r.t. the moments (NaN cells = FIML patterns)
``ml_scores_delta(X, Sigma, mu, Delta, meanstructure)`` -> the same times Delta,
    without forming the N x nmom scores (complete data)
``ml_scores_cells(X, Sigma, mu, B, C, Bm, kind, I, J, meanstructure)`` -> the same for
    RAM cells, from the rank-two structure of each cell's dSigma (complete data)
``ugamma_traces(Delta, W, Gamma, nobs, E_inv=None)`` -> (tr(UG), tr((UG)^2))
``scaled_test(chisq, df, traces..., test=)`` -> dict of lavaan's test entries
    (``satorra.bentler``, ``scaled.shifted``, ``mean.var.adjusted``,
    ``yuan.bentler.mplus``): stat, df, pvalue, scaling_factor, shift_parameter,
    trace_UGamma, trace_UGamma2
``yuan_bentler_mplus_trace(A1, B1, B0, E_inv, nobs)`` -> trace(UGamma) (lists)
``sandwich_vcov(E_inv, meat, ntotal)`` -> ``E_inv meat E_inv / N``
``robust_sem_meat(Delta, W, Gamma, nobs)`` -> ``sum fg Delta' W Gamma W Delta``
``scaled_difference_test(chisq0, df0, c0, chisq1, df1, c1)`` -> Satorra-Bentler 2001
    scaled difference of nested models (lavTestLRT's default for MLM/MLR)
``satorra2000_difference(chisq0, df0, chisq1, df1, Delta1, W1, Gamma, nobs, P_inv, A)``
    -> Satorra (2000) scaled-shifted difference (lavTestLRT's method for WLSMV)

Single-group fits: :func:`pipeline.sem.results.robust_ml_pieces` (MLM/MLR: vcov,
test, E_inv, Delta) and :mod:`pipeline.sem.wls` (``_WLSProblem.implied`` gives
sigma and Delta of a compiled model; :func:`pipeline.sem.ordinal.wls_stats`
the per-group s, Gamma and DWLS weights).

In R: ``lavaan:::lav_test_satorra_bentler``, ``lav_test_yuan_bentler``,
``lav_model_nvcov_robust_sem``, ``lav_model_nvcov_robust_sandwich``.
"""
from __future__ import annotations

import functools
import math

import numpy as np
from pipeline.core.distributions import chi2_sf

__all__ = ["vech_indices", "vech_jacobian", "gamma_adf", "gamma_nt", "h1_expected_information",
           "h1_trace_complete", "ml_moment_scores", "ml_scores_delta", "ml_scores_cells", "ugamma_traces", "scaled_test", "yuan_bentler_mplus_trace",
           "sandwich_vcov", "robust_sem_meat", "duplication", "scaled_difference_test",
           "satorra2000_difference"]


def _aslist(x):
    if x is None:
        return None
    return list(x) if isinstance(x, (list, tuple)) else [x]


def vech_indices(p: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column of each ``vech`` element (lavaan: column-major lower triangle).

    In R: ``lavaan::lav_matrix_vech_idx`` (``row(S)[lower.tri(S, diag=TRUE)]``).
    """
    return _vech_indices(int(p))


@functools.lru_cache(maxsize=64)
def _vech_indices(p: int) -> tuple[np.ndarray, np.ndarray]:
    c, r = np.triu_indices(p)           # column-major lower triangle: (r >= c), by column
    r, c = r.astype(int), c.astype(int)
    r.flags.writeable = False           # cached: shared by every caller
    c.flags.writeable = False
    return r, c


def duplication(p: int) -> np.ndarray:
    """Duplication matrix ``D`` with ``vec(S) = D vech(S)`` (p^2 x p(p+1)/2)."""
    r, c = vech_indices(p)
    D = np.zeros((p * p, len(r)))
    k = np.arange(len(r))
    D[r * p + c, k] = 1.0
    D[c * p + r, k] = 1.0
    return D


def vech_jacobian(dSigma: np.ndarray, dmu: np.ndarray | None = None) -> np.ndarray:
    """Stack ``[dmu; vech(dSigma)]`` into a ``(nmom, k)`` Jacobian (lavaan's Delta)."""
    p = dSigma.shape[0]
    r, c = vech_indices(p)
    d = dSigma[r, c, :]
    if dmu is not None:
        d = np.vstack([dmu, d])
    return d


def gamma_adf(X: np.ndarray, meanstructure: bool = False,
              x_idx: list[int] | None = None) -> np.ndarray:
    """Asymptotically distribution-free Gamma: covariance of the case-wise moments.

    ``z_i = [x_i ; vech((x_i - xbar)(x_i - xbar)')]``,
    ``Gamma = 1/N sum (z_i - zbar)(z_i - zbar)'`` (Browne 1984; lavaan's
    default ``gamma.n.minus.one = FALSE``, ``gamma.unbiased = FALSE``).
    With fixed.x covariates (*x_idx*), ``z_i`` is replaced by
    ``z(x_i) - z(xhat_i)`` where ``xhat`` has the non-covariates replaced by
    their OLS predictions from the covariates, so that the covariates'
    moments carry no sampling variance.

    In R: ``lavaan:::lav_samplestats_Gamma(Y, x.idx =, fixed.x =, meanstructure =)``.
    """
    X = np.asarray(X, dtype=float)
    n, p = X.shape
    r, c = vech_indices(p)

    def z(Y):
        Yc = Y - Y.mean(axis=0)
        Z = Yc[:, r] * Yc[:, c]
        return np.hstack([Y, Z]) if meanstructure else Z

    Z = z(X)
    if x_idx:
        xi = list(x_idx)
        yi = [j for j in range(p) if j not in xi]
        D = np.hstack([np.ones((n, 1)), X[:, xi]])
        coef, *_ = np.linalg.lstsq(D, X[:, yi], rcond=None)
        Yhat = X.copy()
        Yhat[:, yi] = D @ coef
        Z = Z - z(Yhat)
    Z = Z - Z.mean(axis=0)
    return Z.T @ Z / n


def gamma_nt(Sigma: np.ndarray, mu: np.ndarray | None = None,
             meanstructure: bool = False) -> np.ndarray:
    """Normal-theory Gamma: ``cov(s_ij, s_kl) = s_ik s_jl + s_il s_jk``; means block ``Sigma``.

    In R: ``lavaan:::lav_samplestats_Gamma_NT``.
    """
    S = np.asarray(Sigma, dtype=float)
    p = S.shape[0]
    r, c = vech_indices(p)
    G = S[np.ix_(r, r)] * S[np.ix_(c, c)] + S[np.ix_(r, c)] * S[np.ix_(c, r)]
    if meanstructure:
        q = len(r)
        out = np.zeros((p + q, p + q))
        out[:p, :p] = S
        out[p:, p:] = G
        return out
    return G


def h1_expected_information(Sigma: np.ndarray, meanstructure: bool = False) -> np.ndarray:
    """Per-case expected information of the saturated normal model (lavaan's A1).

    ``A1 = 1/2 D' (W kron W) D`` for ``vech(Sigma)``, ``W = Sigma^-1``, and
    ``W`` for the means; equal to ``gamma_nt(Sigma)^-1``.

    In R: ``lavaan:::lav_mvnorm_h1_information_expected``.
    """
    S = np.asarray(Sigma, dtype=float)
    p = S.shape[0]
    W = np.linalg.inv(S)
    W = (W + W.T) / 2
    # 1/2 D'(W kron W)D without the p^2 x p^2 Kronecker product: entry ((i,j),(k,l)) is
    # 1/4 m_ij m_kl (W_ik W_jl + W_il W_jk), m = 2 off the diagonal (= gamma_nt(W) scaled)
    r, c = vech_indices(p)
    mult = np.where(r == c, 0.5, 1.0)
    A = gamma_nt(W)
    A *= mult[:, None]
    A *= mult[None, :]
    if meanstructure:
        q = A.shape[0]
        out = np.zeros((p + q, p + q))
        out[:p, :p] = W
        out[p:, p:] = A
        return out
    return A


def h1_trace_complete(X: np.ndarray, S: np.ndarray, mean: np.ndarray,
                      meanstructure: bool = False) -> float:
    """``tr(B1 A1^-1)`` of the saturated normal model, complete data, in closed form.

    ``A1^-1 = gamma_nt(S)`` and ``B1 = 1/N sum_i s_i s_i'`` with the case-wise
    scores ``s_i`` of :func:`ml_moment_scores` at ``(S, mean)``; with
    ``d_i = e_i' S^-1 e_i`` (``e_i = x_i - mean``),
    ``s_i' gamma_nt(S) s_i = 1/2 (d_i^2 - 2 d_i + p)`` for the covariances
    plus ``d_i`` for the means, so the trace is the mean of those (no
    ``p* x p*`` matrix is formed).  Equal to
    ``yuan_bentler_mplus_trace``'s h1 part without fixed.x covariates.

    In R: ``lavaan:::lav_test_yuan_bentler_mplus_trace`` (its h1 term,
    ``sum(B1 * t(A1.inv))``).
    """
    X = np.asarray(X, dtype=float)
    p = X.shape[1]
    E = X - mean
    W = np.linalg.inv(np.asarray(S, dtype=float))
    d = np.einsum("ij,ij->i", E @ ((W + W.T) / 2), E)
    t = 0.5 * (d * d - 2.0 * d + p)
    if meanstructure:
        t = t + d
    return float(t.mean())


def ml_scores_delta(X: np.ndarray, Sigma: np.ndarray, mu: np.ndarray, Delta: np.ndarray,
                    meanstructure: bool = True, chunk: int = 1024) -> np.ndarray:
    """Case-wise scores w.r.t. the free parameters: ``ml_moment_scores(...) @ Delta``.

    Complete data (no NaN) without forming the ``N x nmom`` moment scores:
    with ``u_i = Sigma^-1 (x_i - mu)``, the covariance part is
    ``1/2 [vech(u_i u_i') - vech(Sigma^-1)] * m @ Delta`` (``m`` = 2 off the
    diagonal), computed in blocks of *chunk* cases, with the non-zero rows
    of each column of Delta only when Delta is sparse (a CFA's loadings and
    variances touch few moments).  Data with NaN cells fall back to
    :func:`ml_moment_scores`.

    In R: ``lavaan:::lav_model_scores`` (``lav_mvnorm_scores_mu_vech_sigma %*% Delta``).
    """
    X = np.asarray(X, dtype=float)
    if np.isnan(X).any():
        return ml_moment_scores(X, Sigma, mu, meanstructure) @ Delta
    n, p = X.shape
    r, c = vech_indices(p)
    W = np.linalg.inv(np.asarray(Sigma, dtype=float))
    W = (W + W.T) / 2
    U = (X - mu) @ W
    Dc = Delta[p:] if meanstructure else Delta
    Dh = Dc * np.where(r == c, 0.5, 1.0)[:, None]           # 1/2 * mult
    k = Dh.shape[1]
    out = np.empty((n, k))
    nz = Dh != 0
    sparse = nz.sum() < 0.25 * nz.size
    if sparse:      # per column: the moments it touches
        cols = [np.flatnonzero(nz[:, t]) for t in range(k)]
        used = np.flatnonzero(nz.any(axis=1))
        pos = np.full(len(r), -1)
        pos[used] = np.arange(len(used))
        for a in range(0, n, chunk):
            b = min(n, a + chunk)
            Z = U[a:b, r[used]] * U[a:b, c[used]]
            for t, ix in enumerate(cols):
                out[a:b, t] = Z[:, pos[ix]] @ Dh[ix, t]
    else:
        for a in range(0, n, chunk):
            b = min(n, a + chunk)
            out[a:b] = (U[a:b, r] * U[a:b, c]) @ Dh
    out -= W[r, c] @ Dh
    if meanstructure:
        out += U @ Delta[:p]
    return out


def ml_scores_cells(X: np.ndarray, Sigma: np.ndarray, mu: np.ndarray, B: np.ndarray,
                    C: np.ndarray, Bm: np.ndarray, kind, I, J,
                    meanstructure: bool = True) -> np.ndarray:
    """Case-wise ML scores w.r.t. RAM cells, complete data (N x k).

    The cells are those of :meth:`pipeline.sem.model.SEMModel.cell_jacobian`
    (``kind`` 0: ``A[I, J]``, 1: symmetric ``S[I, J]``, 2: ``m[I]``), ``B =
    (I - A)^-1``, ``C = B S B'``, ``Bm = B m``.  Each cell moves Sigma by a
    rank-two ``a b' + b a'`` (A: ``a = B[:p, I]``, ``b = C[:p, J]``; S:
    ``a = B[:p, I]``, ``b = B[:p, J]``), so with ``u_i = Sigma^-1 (x_i - mu)``
    the score ``1/2 u_i' dSigma u_i - 1/2 tr(Sigma^-1 dSigma) + u_i' dmu``
    needs only the products ``u_i' a`` and ``u_i' b``: ``O(N p n)`` work, no
    ``N x p*`` moment scores.  Equal to ``ml_moment_scores(X, Sigma, mu) @
    Delta`` for the cells' Delta; without *meanstructure* ``mu`` is the
    sample mean and there is no mean part.

    In R: ``lavaan:::lav_model_scores`` (``lav_mvnorm_scores_mu_vech_sigma %*% Delta``).
    """
    X = np.asarray(X, dtype=float)
    p = X.shape[1]
    W = np.linalg.inv(np.asarray(Sigma, dtype=float))
    W = (W + W.T) / 2
    U = (X - mu) @ W
    Bp, Cp = B[:p], C[:p]
    V1, V2 = U @ Bp, U @ Cp                      # N x n
    WB = W @ Bp
    kind, I, J = np.asarray(kind), np.asarray(I), np.asarray(J)
    out = np.zeros((X.shape[0], len(kind)))
    a = kind == 0
    if a.any():
        Ia, Ja = I[a], J[a]
        out[:, a] = V1[:, Ia] * V2[:, Ja] - np.einsum("ik,ik->k", WB[:, Ia], Cp[:, Ja])
        if meanstructure:
            out[:, a] += V1[:, Ia] * Bm[Ja]
    s = kind == 1
    if s.any():
        Is, Js = I[s], J[s]
        h = np.where(Is == Js, 0.5, 1.0)
        out[:, s] = h * (V1[:, Is] * V1[:, Js] - np.einsum("ik,ik->k", WB[:, Is], Bp[:, Js]))
    m = kind == 2
    if m.any() and meanstructure:
        out[:, m] = V1[:, I[m]]
    return out


def ml_moment_scores(X: np.ndarray, Sigma: np.ndarray, mu: np.ndarray,
                     meanstructure: bool = True) -> np.ndarray:
    """Case-wise scores of the normal log-likelihood w.r.t. ``[mu; vech(Sigma)]``.

    For case i with observed variables o (all of them for complete data),
    ``e = x_o - mu_o``, ``W = Sigma_oo^-1``:

        d logL_i / d mu_o      = W e
        d logL_i / d sigma_kl  = (2 - [k = l]) * 1/2 (W e e' W - W)_kl

    (missing cells contribute nothing: FIML scores).  Without
    *meanstructure* the mean rows are dropped (pass ``mu`` = sample mean).

    In R: ``lavaan:::lav_mvnorm_scores_mu_vech_sigma``,
    ``lav_mvnorm_missing_scores_mu_vech_sigma``.
    """
    X = np.asarray(X, dtype=float)
    n, p = X.shape
    r, c = vech_indices(p)
    mult = np.where(r == c, 1.0, 2.0)
    miss = np.isnan(X)
    out = np.zeros((n, p + len(r)))
    if not miss.any():
        groups = [(np.arange(n), np.arange(p))]
    else:
        keys, inv = np.unique(miss, axis=0, return_inverse=True)
        inv = inv.ravel()
        groups = [(np.flatnonzero(inv == g), np.flatnonzero(~key)) for g, key in enumerate(keys)]
    for rows, o in groups:
        if len(o) == 0:
            continue
        So = Sigma[np.ix_(o, o)]
        W = np.linalg.inv(So)
        W = (W + W.T) / 2
        E = X[np.ix_(rows, o)] - mu[o]
        WE = E @ W                              # n_r x |o|
        Gfull = np.zeros((len(rows), p, p))
        Gfull[:, o[:, None], o[None, :]] = 0.5 * (WE[:, :, None] * WE[:, None, :] - W[None])
        out[np.ix_(rows, o)] = WE
        out[rows, p:] = Gfull[:, r, c] * mult
    if not meanstructure:
        out = out[:, p:]
    return out


# ---------------------------------------------------------------------------
def _diag_or_matrix(w):
    w = np.asarray(w, dtype=float)
    return np.diag(w) if w.ndim == 1 else w


def ugamma_traces(Delta, W, Gamma, nobs, E_inv: np.ndarray | None = None
                  ) -> tuple[float, float]:
    """``tr(U Gamma)`` and ``tr((U Gamma)^2)`` over stacked groups.

    ``U = V - V D E^-1 D' V`` with ``V = bdiag(fg W_g)``, ``D = rbind(Delta_g)``,
    ``E = D' V D``, and ``Gamma = bdiag(Gamma_g / fg)`` (lavaan >= 0.6-13,
    the multiple-group UG^2 fix).  Computed without the ``nmom x nmom``
    product ``U Gamma``: with ``M = V D``,

        tr(UG)     = tr(VG) - tr(E^-1 M'GM),
        tr((UG)^2) = tr(VGVG) - 2 tr(E^-1 (GM)'V(GM)) + tr((E^-1 M'GM)^2),

    group by group (``O(nmom^2 npar)``; a diagonal W, as DWLS's, never
    becomes a matrix).

    In R: ``lavaan:::lav_test_satorra_bentler_trace_original``.
    """
    Delta, W, Gamma, nobs = _aslist(Delta), _aslist(W), _aslist(Gamma), _aslist(nobs)
    N = float(sum(nobs))
    k = np.asarray(Delta[0]).shape[1]
    trVG = trVGVG = 0.0
    MGM = np.zeros((k, k))
    GVG = np.zeros((k, k))
    E = np.zeros((k, k)) if E_inv is None else None
    for d, w, g, n in zip(Delta, W, Gamma, nobs):
        f = n / N
        d = np.asarray(d, dtype=float)
        G = np.asarray(g, dtype=float) / f
        w = np.asarray(w, dtype=float)
        if w.ndim == 1:
            v = f * w
            M = v[:, None] * d
            GM = G @ M
            trVG += float(v @ np.diag(G))
            VG = None
            trVGVG += float(v @ (G * G) @ v)
            GVG += GM.T @ (v[:, None] * GM)
        else:
            V = f * w
            M = V @ d
            GM = G @ M
            VG = V @ G
            trVG += float(np.trace(VG))
            trVGVG += float(np.sum(VG * VG.T))
            GVG += GM.T @ V @ GM
        MGM += M.T @ GM
        if E is not None:
            E += d.T @ M
    if E_inv is None:
        E_inv = np.linalg.inv(E)
    EM = E_inv @ MGM
    tr = trVG - float(np.trace(EM))
    tr2 = trVGVG - 2.0 * float(np.sum(E_inv * GVG.T)) + float(np.sum(EM * EM.T))
    return tr, tr2


def yuan_bentler_mplus_trace(A1, B1, B0, E_inv: np.ndarray, nobs, h1=None) -> dict:
    """Trace of the Yuan-Bentler (Mplus variant) correction, MLR's default test.

    ``tr = sum_g [ tr(B1_g A1_g^-1) - fg tr(B0_g E^-1) ]`` with ``A1_g`` the
    unstructured h1 information, ``B1_g`` the h1 first-order (outer product
    of case-wise scores at the saturated estimates) information, ``B0_g`` the
    first-order information of the model (per case in group g) and ``E^-1``
    the inverse of the model's per-case (observed) information.
    Rows/columns of ``A1_g`` with a zero diagonal are dropped.

    *h1*, optional: per group ``(tr(B1 A1^-1), ndat)`` computed elsewhere
    (e.g. :func:`h1_trace_complete`); *A1* and *B1* are then ignored.

    Returns ``{"trace": ..., "h1": [...], "h0": [...], "h1_ndat": [...]}``.

    In R: ``lavaan:::lav_test_yuan_bentler_mplus_trace``.
    """
    B0, nobs = _aslist(B0), _aslist(nobs)
    N = float(sum(nobs))
    th1, th0, nd = [], [], []
    if h1 is None:
        A1, B1 = _aslist(A1), _aslist(B1)
        for a, b1 in zip(A1, B1):
            keep = np.flatnonzero(np.diag(a) != 0)
            ai = np.linalg.inv(a[np.ix_(keep, keep)])
            th1.append(float(np.sum(b1[np.ix_(keep, keep)] * ai.T)))
            nd.append(len(keep))
    else:
        th1 = [float(t) for t, _ in h1]
        nd = [int(k) for _, k in h1]
    for b0, n in zip(B0, nobs):
        th0.append(float(n / N * np.sum(b0 * E_inv.T)))
    return {"trace": float(sum(th1) - sum(th0)), "h1": th1, "h0": th0, "h1_ndat": nd}


def scaled_test(chisq: float, df: float, trace_UGamma: float, trace_UGamma2: float = math.nan,
                test: str = "satorra.bentler") -> dict:
    """lavaan's scaled test statistics from the two traces.

    * ``satorra.bentler`` / ``yuan.bentler.mplus``: ``c = tr(UG) / df``,
      ``T = chisq / c``, same df.
    * ``mean.var.adjusted``: ``df* = tr(UG)^2 / tr((UG)^2)``, ``c = tr(UG)/df*``.
    * ``scaled.shifted`` (WLSMV; Asparouhov & Muthen 2010):
      ``a = sqrt(df / tr((UG)^2))``, ``b = df - a tr(UG)``, ``T = a chisq + b``,
      ``scaling_factor = 1/a``, ``shift_parameter = b``.

    Returns a dict with ``stat df pvalue scaling_factor shift_parameter
    trace_UGamma trace_UGamma2 test``.

    In R: ``lavaan:::lav_test_satorra_bentler`` (its returned list).
    """
    out = {"test": test, "trace_UGamma": trace_UGamma, "trace_UGamma2": trace_UGamma2,
           "shift_parameter": math.nan}
    if not (df > 0) or not np.isfinite(trace_UGamma):
        out.update(stat=math.nan, df=df, pvalue=math.nan, scaling_factor=math.nan)
        return out
    if test in ("satorra.bentler", "yuan.bentler.mplus", "yuan.bentler"):
        c = trace_UGamma / df
        c = c if c >= 0 else math.nan
        stat, dfs = chisq / c, df
    elif test == "mean.var.adjusted":
        dfs = trace_UGamma ** 2 / trace_UGamma2
        c = trace_UGamma / dfs
        stat = chisq / c
    elif test == "scaled.shifted":
        a = math.sqrt(df / trace_UGamma2) if trace_UGamma2 > 0 else math.nan
        c = 1.0 / a
        b = df - a * trace_UGamma
        stat, dfs = chisq * a + b, df
        out["shift_parameter"] = b
    else:
        raise ValueError(f"test must be satorra.bentler, yuan.bentler.mplus, mean.var.adjusted "
                         f"or scaled.shifted, got {test!r}")
    out.update(stat=float(stat), df=float(dfs), scaling_factor=float(c),
               pvalue=float(chi2_sf(stat, dfs)) if np.isfinite(stat) else math.nan)
    return out


def robust_sem_meat(Delta, W, Gamma, nobs) -> np.ndarray:
    """``sum_g fg Delta_g' W_g Gamma_g W_g Delta_g`` (the "meat" of robust.sem SEs)."""
    Delta, W, Gamma, nobs = _aslist(Delta), _aslist(W), _aslist(Gamma), _aslist(nobs)
    N = float(sum(nobs))
    out = 0.0
    for d, w, g, n in zip(Delta, W, Gamma, nobs):
        w = np.asarray(w, dtype=float)
        WD = w[:, None] * d if w.ndim == 1 else w @ d
        out = out + (n / N) * WD.T @ np.asarray(g) @ WD
    return out


def sandwich_vcov(E_inv: np.ndarray, meat: np.ndarray, ntotal: int) -> np.ndarray:
    """``vcov = E^-1 meat E^-1 / N`` (robust.sem with the meat above; Huber-White
    with ``meat = B0``, the mean outer product of the case-wise scores).

    In R: ``lavaan:::lav_model_nvcov_robust_sem`` /
    ``lav_model_nvcov_robust_sandwich``.
    """
    V = E_inv @ meat @ E_inv / float(ntotal)
    return (V + V.T) / 2


def scaled_difference_test(chisq0: float, df0: float, c0: float,
                           chisq1: float, df1: float, c1: float) -> dict:
    """Satorra-Bentler (2001) scaled chi-square difference of nested models.

    Model 0 is the restricted one (more df).  With the unscaled statistics
    ``T0, T1``, their df ``r0 > r1`` and scaling factors ``c0, c1``
    (``c1 = 1`` for a saturated model),

        c_d = (r0 c0 - r1 c1) / (r0 - r1),   T_d = (T0 - T1) / c_d,

    on ``r0 - r1`` df; ``c_d < 0`` gives NaN (lavaan warns).  lavaan's
    ``lavTestLRT`` default for MLM / MLR (``method = "satorra.bentler.2001"``).

    Returns ``{"stat", "df", "pvalue", "scaling_factor"}``.

    In R: ``lavTestLRT(fit1, fit0)`` (``lavaan:::lav_test_diff_SatorraBentler2001``).
    """
    if df1 == 0:
        c1 = 1.0
    m = df0 - df1
    if m == 0:
        return {"stat": chisq0 - chisq1, "df": 0.0, "pvalue": math.nan,
                "scaling_factor": math.nan}
    cd = (df0 * c0 - df1 * c1) / m
    if not cd >= 0:
        cd = math.nan
    t = (chisq0 - chisq1) / cd
    return {"stat": float(t), "df": float(m), "scaling_factor": float(cd),
            "pvalue": float(chi2_sf(t, m)) if np.isfinite(t) else math.nan}


def satorra2000_difference(chisq0: float, df0: float, chisq1: float, df1: float, Delta1, W1,
                           Gamma, nobs, P_inv: np.ndarray, A: np.ndarray | None = None, *,
                           Delta0=None, scaled_shifted: bool = True) -> dict:
    """Satorra (2000) scaled difference of nested models (lavTestLRT's WLSMV method).

    Model 1 is the larger model, model 0 adds restrictions ``a(theta1) = 0``
    with Jacobian ``A`` (rows = restrictions, columns = model 1's free
    parameters).  lavaan's default (``A.method = "delta"``) does not use the
    restrictions themselves but ``A`` = the orthogonal complement of
    ``H = Delta1^+ Delta0`` with ``Delta0`` model 0's Jacobian at *its*
    estimates (columns = model 0's free parameters): pass ``Delta0`` (list
    per group) instead of ``A`` to get lavaan's numbers.  With ``P^-1`` the
    inverse of model 1's per-case information,
    ``Q = P^-1 A' (A P^-1 A')^+ A P^-1``,

        tr(UG)    = sum_g fg tr(W_g Gamma_g W_g Delta_g Q Delta_g'),
        tr(UG^2)  = tr((V D Q D' V Gamma_f)^2),  V = bdiag(W_g), Gamma_f = bdiag(fg Gamma_g),

    and for ``scaled_shifted`` (lavaan's default for WLSMV):
    ``a = sqrt(m / tr(UG^2))``, ``b = m - a tr(UG)``, ``T = a (T0 - T1) + b``
    on ``m = df0 - df1`` df; otherwise ``T = (T0 - T1) / (tr(UG) / m)``.
    Restrictions whose row of ``A P^-1 A'`` is empty are dropped, as lavaan.
    Lists as in the module docstring (per-group Delta, W, Gamma of model 1).

    Returns ``{"stat", "df", "pvalue", "scaling_factor", "a", "b",
    "trace_UGamma", "trace_UGamma2"}``.

    In R: ``lavTestLRT(fit1, fit0)`` for WLSMV (``method = "satorra.2000"``,
    ``lavaan:::lav_test_diff_Satorra2000``).
    """
    Delta1, W1, Gamma, nobs = _aslist(Delta1), _aslist(W1), _aslist(Gamma), _aslist(nobs)
    m = df0 - df1
    nan = math.nan
    if m == 0:
        return {"stat": chisq0 - chisq1, "df": 0.0, "pvalue": nan, "scaling_factor": nan,
                "a": nan, "b": nan, "trace_UGamma": nan, "trace_UGamma2": nan}
    if A is None:
        if Delta0 is None:
            raise ValueError("satorra2000_difference needs A (restriction Jacobian) or Delta0")
        H = np.linalg.pinv(np.vstack(Delta1)) @ np.vstack(_aslist(Delta0))
        rank = np.linalg.matrix_rank(H)
        Qh = np.linalg.qr(H, mode="complete")[0]
        A = Qh[:, rank:].T
    A = np.atleast_2d(np.asarray(A, dtype=float))
    APA = A @ P_inv @ A.T
    eps = math.sqrt(np.finfo(float).eps)
    keep = ~((np.abs(APA.sum(axis=0)) < eps) & (np.abs(APA.sum(axis=1)) < eps))
    A = A[keep]
    Q = P_inv @ A.T @ np.linalg.pinv(A @ P_inv @ A.T) @ A @ P_inv
    N = float(sum(nobs))
    fg = [n / N for n in nobs]
    # with T = sum_g fg Delta_g' W_g Gamma_g W_g Delta_g (npar x npar):
    # tr(UG) = tr(Q T) and tr(UG^2) = tr((Q T)^2), no nmom x nmom products
    T = 0.0
    for D, w, G, f in zip(Delta1, W1, Gamma, fg):
        w = np.asarray(w, dtype=float)
        WD = w[:, None] * D if w.ndim == 1 else w @ D
        T = T + f * (WD.T @ np.asarray(G) @ WD)
    QT = Q @ T
    tr = float(np.trace(QT))
    tr2 = nan
    if scaled_shifted:
        tr2 = float(np.sum(QT * QT.T))
        a = math.sqrt(m / tr2)
        b = m - a * tr
        t = (chisq0 - chisq1) * a + b
        cd = nan
    else:
        a = b = nan
        cd = tr / m
        t = (chisq0 - chisq1) / cd
    return {"stat": float(t), "df": float(m), "scaling_factor": cd, "a": a, "b": b,
            "trace_UGamma": tr, "trace_UGamma2": tr2,
            "pvalue": float(chi2_sf(t, m)) if np.isfinite(t) else nan}
