"""Maximum-likelihood estimation: complete data (listwise) and FIML.

The discrepancy minimised for complete data is lavaan's ML function (times 2)

    F_ML = log|Sigma| + tr(S Sigma^-1) - log|S| - p  [+ (m - mu)' Sigma^-1 (m - mu)]

with the analytic gradient ``dF/dSigma = Sigma^-1 - Sigma^-1 (S + d d') Sigma^-1``
pushed through the RAM matrices (:meth:`SEMModel.row_gradient`).  Under FIML
the objective is ``-2 logL / N`` (minus a constant) summed over missingness
patterns.  The optimiser is Fisher scoring (Gauss-Newton with the expected
information, backtracking line search), which converges in a handful of
iterations from lavaan-like "simple" start values; if it fails, scipy's
L-BFGS-B with the same analytic gradient takes over.

An :class:`Estimator` is built once per model and refitted on new sample
moments (bootstrap), optionally warm-started.

In R: ``lavaan:::lav_model_estimate`` (nlminb on the same objective).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import linalg

from pipeline.sem.model import SEMModel

__all__ = ["SampleStats", "Estimator", "OptimResult", "em_saturated", "sample_stats",
           "single_thread_blas"]


def single_thread_blas():
    """Context manager limiting BLAS to one thread.

    The matrices of an SEM are small (p ~ 20, a few dozen parameters): a
    multi-threaded BLAS only adds synchronisation cost, several-fold on a
    loaded machine.  Uses threadpoolctl (a scikit-learn dependency) when
    available, else does nothing.
    """
    import contextlib
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")

LOG2PI = math.log(2.0 * math.pi)


@dataclass
class Pattern:
    """Cases sharing one missingness pattern (FIML)."""

    obs: np.ndarray      # indices of the observed variables
    n: int
    mean: np.ndarray
    cov: np.ndarray      # divisor n

    def __post_init__(self):
        self.ix = np.ix_(self.obs, self.obs)


@dataclass
class SampleStats:
    """Sample moments an :class:`Estimator` fits.

    ``cov`` has divisor N (likelihood normal) or N-1 (wishart); under FIML
    ``cov``/``mean`` are the EM estimates of the saturated model.
    """

    nobs: int
    cov: np.ndarray
    mean: np.ndarray
    patterns: list[Pattern] = field(default_factory=list)
    logdet: float = math.nan
    logl_h1: float = math.nan
    data: np.ndarray | None = None


def _patterns(X: np.ndarray) -> list[Pattern]:
    miss = np.isnan(X)
    keys, inv = np.unique(miss, axis=0, return_inverse=True)
    out = []
    for g, key in enumerate(keys):
        rows = X[inv.ravel() == g][:, ~key]
        n = rows.shape[0]
        m = rows.mean(axis=0)
        c = (rows - m).T @ (rows - m) / n
        out.append(Pattern(obs=np.flatnonzero(~key), n=n, mean=m, cov=c))
    return out


def em_saturated(X: np.ndarray, patterns: list[Pattern] | None = None, *,
                 tol: float = 1e-10, maxiter: int = 10000):
    """EM estimate of the saturated mean and covariance under MAR.

    Returns ``(mean, cov, logl, n_iter)``; ``logl`` is the observed-data
    log-likelihood at the estimate.  Stops when no element of the mean or
    covariance changes by more than *tol*.  The E-step is batched over
    missingness patterns (:func:`pipeline.sem.fiml.em_saturated`);
    *patterns* is accepted for compatibility and not needed.

    In R: ``lavaan:::lav_mvnorm_missing_h1_estimate_moments``.
    """
    from pipeline.sem.fiml import em_saturated as _em
    return _em(X, tol=tol, maxiter=maxiter)


def fiml_logl(patterns: list[Pattern], Sigma: np.ndarray, mu: np.ndarray) -> float:
    """Observed-data log-likelihood summed over missingness patterns.

    ``sum_g -n_g/2 [q_g log 2pi + log|Sigma_oo| + tr(Sigma_oo^-1 (C_g + d_g d_g'))]``,
    computed by the batched kernel :func:`pipeline.sem.fiml.fiml_value`
    (one Cholesky factorisation of Sigma and partitioned inverses per
    pattern); ``-inf`` when an observed block of Sigma is not positive definite.

    In R: ``lavaan:::lav_mvnorm_missing_loglik_samplestats``.
    """
    from pipeline.sem.fiml import MissingRows, fiml_loglik
    if not patterns:
        return 0.0
    rows = _FIML_ROWS_CACHE.get(id(patterns))
    if rows is None or rows[0] is not patterns:
        rows = (patterns, MissingRows(patterns=patterns, p=np.asarray(Sigma).shape[0]))
        if len(_FIML_ROWS_CACHE) >= 32:          # a few fits' groups at a time
            _FIML_ROWS_CACHE.pop(next(iter(_FIML_ROWS_CACHE)))
        _FIML_ROWS_CACHE[id(patterns)] = rows
    return float(fiml_loglik(rows[1], Sigma, mu))


_FIML_ROWS_CACHE: dict = {}


def sample_stats(X: np.ndarray, *, likelihood: str = "normal", missing: str = "listwise",
                 em: bool = True) -> SampleStats:
    """Sample moments of a data matrix (rows cases, columns in model order).

    Divisor N (``likelihood="normal"``) or N - 1 (``"wishart"``); under
    ``missing="fiml"`` the missingness patterns and the EM estimate of the
    saturated model (``em=False`` skips EM, e.g. in bootstrap draws).

    In R: ``lavInspect(fit, "sampstat")``.
    """
    n, p = X.shape
    if missing == "fiml":
        pats = _patterns(X)
        if em:
            mu, cov, ll, _ = em_saturated(X, pats)
        else:
            mu, cov, ll = np.nanmean(X, axis=0), np.diag(np.nanvar(X, axis=0)), math.nan
        sign, logdet = np.linalg.slogdet(cov)
        return SampleStats(nobs=n, cov=cov, mean=mu, patterns=pats,
                           logdet=logdet if sign > 0 else math.nan, logl_h1=ll, data=X)
    mean = X.mean(axis=0)
    Xc = X - mean
    div = n - 1 if likelihood == "wishart" else n
    cov = Xc.T @ Xc / div
    sign, logdet = np.linalg.slogdet(cov)
    return SampleStats(nobs=n, cov=cov, mean=mean, logdet=logdet if sign > 0 else math.nan,
                       data=X)


@dataclass
class OptimResult:
    theta: np.ndarray
    fmin: float
    converged: bool
    iterations: int
    method: str
    message: str = ""


class Estimator:
    """ML / FIML estimator for one model, reusable across samples.

    Parameters
    ----------
    model : SEMModel
    likelihood : {"normal", "wishart"}
    missing : {"listwise", "fiml"}
    meanstructure : bool
        Fit the means (always True under FIML).

    In R: ``lavaan::sem(..., estimator="ML", likelihood=, missing=)``.
    """

    def __init__(self, model: SEMModel, *, likelihood: str = "normal",
                 missing: str = "listwise", meanstructure: bool = False):
        self.model = model
        self.likelihood = likelihood
        self.missing = missing
        self.meanstructure = bool(meanstructure or missing == "fiml")
        self.p = model.p
        self._free_rows = np.flatnonzero(model.free_mask)
        self._free_par = model.par[self._free_rows]
        exo_rows = np.flatnonzero(model.exo_mask)
        pos = {v: i for i, v in enumerate(model.observed)}
        self._exo_rows = exo_rows
        self.x_idx = np.array([pos[v] for v in model.pt.ov_x], dtype=int)
        self._exo_ij = [(pos[model.rows[k]["lhs"]],
                         pos[model.rows[k]["rhs"]] if model.rows[k]["op"] == "~~" else -1)
                        for k in exo_rows]

    # ------------------------------------------------------------------
    def exo_values(self, stats: SampleStats) -> np.ndarray | None:
        if not len(self._exo_rows):
            return None
        return np.array([stats.cov[i, j] if j >= 0 else stats.mean[i] for i, j in self._exo_ij])

    def values(self, theta, stats) -> np.ndarray:
        return self.model.row_values(theta, self.exo_values(stats))

    def _aggregate(self, row_grad: np.ndarray) -> np.ndarray:
        return np.bincount(self._free_par, weights=row_grad[self._free_rows],
                           minlength=self.model.npar)

    def objective(self, theta, stats: SampleStats, gradient: bool = True):
        """F (complete data: F_ML; FIML: -2 logL/N up to a constant) and its gradient."""
        out = self.moment_gradient(theta, stats, gradient)
        if not gradient:
            return out
        f, G, gmu, B, C, Bm = out
        if G is None:
            return f, np.zeros(self.model.npar)
        return f, self._aggregate(self.model.row_gradient(G, gmu, B, C, Bm))

    def moment_gradient(self, theta, stats: SampleStats, gradient: bool = True):
        """``(f, dF/dSigma, dF/dmu, B, C, Bm)``; ``f`` alone when not *gradient*."""
        vals = self.values(theta, stats)
        try:
            Sigma, mu, B, C, Bm = self.model.moments(vals)
        except np.linalg.LinAlgError:      # I - A singular (non-recursive model)
            return (np.inf, None, None, None, None, None) if gradient else np.inf
        if self.missing == "fiml":
            return self._fiml_objective(Sigma, mu, B, C, Bm, stats, gradient)
        try:
            L = np.linalg.cholesky(Sigma)
        except np.linalg.LinAlgError:
            return (np.inf, None, None, B, C, Bm) if gradient else np.inf
        Sinv = linalg.cho_solve((L, True), np.eye(self.p))
        logdet = 2.0 * np.log(np.diag(L)).sum()
        S = stats.cov
        SinvS = Sinv @ S
        f = logdet + np.trace(SinvS) - self.p
        f -= stats.logdet if np.isfinite(stats.logdet) else 0.0
        gmu = None
        if self.meanstructure:
            d = stats.mean - mu
            sd = Sinv @ d
            f += d @ sd
        if not gradient:
            return f
        G = Sinv - SinvS @ Sinv
        if self.meanstructure:
            G -= np.outer(sd, sd)
            gmu = -2.0 * sd
        return f, G, gmu, B, C, Bm

    def _fiml_objective(self, Sigma, mu, B, C, Bm, stats, gradient):
        """FIML ``-2 logL / N`` (up to a constant) and ``dF/dSigma``, ``dF/dmu``
        by the batched kernel :func:`pipeline.sem.fiml.fiml_value`."""
        from pipeline.sem.fiml import fiml_value, kernel_for
        out = fiml_value(kernel_for(stats), Sigma, mu, gradient)
        if not gradient:
            return out
        f, G, gmu = out
        if G is None:
            return np.inf, None, None, B, C, Bm
        return f, G, gmu, B, C, Bm

    # ------------------------------------------------------------------
    def jacobian(self, theta, stats, rows=None):
        """d(Sigma)/d(theta) (p x p x npar) and d(mu)/d(theta) (p x npar)."""
        vals = self.values(theta, stats)
        Sigma, mu, B, C, Bm = self.model.moments(vals)
        dS, dm = self.model.row_jacobian(B, C, Bm, self._free_rows if rows is None else rows)
        if rows is None:
            P = self.model.P[self._free_rows]
            dS = dS @ P
            dm = dm @ P
        return Sigma, mu, dS, dm

    def hessian(self, theta, stats) -> np.ndarray:
        """Exact Hessian of the objective F (complete data or FIML), analytic.

        ``H = H1 + H2``: ``H1`` the curvature of F in (Sigma, mu) pushed through
        the Jacobian,

            H1_ab = -tr(W S_a W S_b) + 2 tr(W M W S_a W S_b) + 2 mu_a' W mu_b
                    + 2 (mu_a' W S_b W d + mu_b' W S_a W d),

        with ``M = S + d d'``, ``d = m - mu`` (FIML: summed over patterns),
        and ``H2_ab = tr(G d2Sigma_ab) + g_mu' d2mu_ab`` the second derivatives
        of the RAM moments, which are bilinear in ``B = (I - A)^-1``.
        At ``S = Sigma``, ``H = 2 x`` the expected information.
        """
        m = self.model
        vals = self.values(theta, stats)
        Sigma, mu, B, C, Bm = m.moments(vals)
        rows = self._free_rows
        dS, dmu = m.row_jacobian(B, C, Bm, rows)
        k = len(rows)
        H1 = np.zeros((k, k))
        if self.missing == "fiml":
            N = stats.nobs
            Gfull = np.zeros((self.p, self.p))
            gfull = np.zeros(self.p)
            for pat in stats.patterns:
                o = pat.obs
                W = np.linalg.inv(Sigma[pat.ix])
                d = pat.mean - mu[o]
                M = pat.cov + np.outer(d, d)
                w = pat.n / N
                H1 += w * _h1_block(W, M, d, dS[pat.ix], dmu[o], True)
                Gfull[pat.ix] += w * (W - W @ M @ W)
                gfull[o] += w * (-2.0 * W @ d)
            G, gmu = Gfull, gfull
        else:
            W = np.linalg.inv(Sigma)
            W = (W + W.T) / 2
            d = stats.mean - mu if self.meanstructure else np.zeros(self.p)
            M = stats.cov + np.outer(d, d)
            H1 = _h1_block(W, M, d, dS, dmu, self.meanstructure)
            G = W - W @ M @ W
            gmu = -2.0 * W @ d if self.meanstructure else np.zeros(self.p)
        # second-derivative part (RAM cells)
        p = self.p
        Gt = np.zeros((m.n, m.n))
        Gt[:p, :p] = G
        gt = np.zeros(m.n)
        gt[:p] = gmu
        P_ = B.T @ Gt @ B
        CGB = C @ Gt @ B
        Bg = B.T @ gt
        kind, I, J = m.kind[rows], m.ii[rows], m.jj[rows]
        H2 = np.zeros((k, k))
        a = np.flatnonzero(kind == 0)
        if len(a):
            Ia, Ja = I[a], J[a]
            i_, j_ = Ia[:, None], Ja[:, None]
            k_, l_ = Ia[None, :], Ja[None, :]
            t = (2.0 * B[j_, k_] * CGB[l_, i_] + 2.0 * B[l_, i_] * CGB[j_, k_]
                 + 2.0 * P_[k_, i_] * C[j_, l_]
                 + Bg[i_] * B[j_, k_] * Bm[l_] + Bg[k_] * B[l_, i_] * Bm[j_])
            H2[np.ix_(a, a)] = t
            sidx = np.flatnonzero(kind == 1)
            if len(sidx):
                Ks, Ls = I[sidx][None, :], J[sidx][None, :]
                off = (Ks != Ls)
                t = 2.0 * (B[j_, Ks] * P_[Ls, i_] + off * B[j_, Ls] * P_[Ks, i_])
                H2[np.ix_(a, sidx)] = t
                H2[np.ix_(sidx, a)] = t.T
            midx = np.flatnonzero(kind == 2)
            if len(midx):
                Km = I[midx][None, :]
                t = Bg[i_] * B[j_, Km]
                H2[np.ix_(a, midx)] = t
                H2[np.ix_(midx, a)] = t.T
        Hr = H1 + H2
        Pm = m.P[rows]
        H = Pm.T @ Hr @ Pm
        return (H + H.T) / 2

    def expected_information(self, theta, stats) -> np.ndarray:
        """Expected (structured) information per observation.

        ``I = 1/2 tr(W dSigma_k W dSigma_l) + dmu_k' W dmu_l`` with
        ``W = Sigma^-1`` (FIML: summed over patterns, weighted by n_g/N).
        """
        Sigma, mu, dS, dm = self.jacobian(theta, stats)
        return self.information_from_jacobian(Sigma, dS, dm, stats)

    def information_from_jacobian(self, Sigma, dS, dm, stats) -> np.ndarray:
        """Expected information for an arbitrary moment Jacobian (see above).

        With fixed.x covariates the h1 information has zero rows/columns for
        the moments of the covariates (lavaan ``x.idx``); equivalently, their
        entries of the Jacobian are zeroed here.
        """
        if len(self.x_idx):
            xi = self.x_idx
            dS = dS.copy()
            dm = dm.copy()
            dS[np.ix_(xi, xi)] = 0.0
            dm[xi] = 0.0
        if self.missing == "fiml":
            info = np.zeros((dS.shape[2], dS.shape[2]))
            for pat in stats.patterns:
                o = pat.obs
                info += (pat.n / stats.nobs) * _info_block(Sigma[pat.ix], dS[pat.ix], dm[o], True)
            return info
        return _info_block(Sigma, dS, dm, self.meanstructure)

    def observed_information(self, theta, stats) -> np.ndarray:
        """Observed information per observation: half the analytic Hessian of F."""
        return self.hessian(theta, stats) / 2.0

    def numerical_observed_information(self, theta, stats, h: float = 1e-5) -> np.ndarray:
        """Hessian of F/2 (per observation) by central differences of the analytic gradient."""
        k = len(theta)
        H = np.zeros((k, k))
        for j in range(k):
            step = h * max(1.0, abs(theta[j]))
            tp, tm = theta.copy(), theta.copy()
            tp[j] += step
            tm[j] -= step
            gp = self.objective(tp, stats)[1]
            gm = self.objective(tm, stats)[1]
            H[:, j] = (gp - gm) / (2 * step)
        H = (H + H.T) / 2
        return H / 2.0

    # ------------------------------------------------------------------
    def start_values(self, stats: SampleStats) -> np.ndarray:
        """lavaan-like "simple" starting values.

        Free loadings 1, regressions and residual covariances 0, residual
        variances of observed variables half their sample variance, latent
        variances the mean covariance among the factor's indicators (at least
        0.05), factor covariances half the mean cross-covariance of their
        indicators, observed intercepts the sample means; ``start()``
        modifiers win.
        """
        m = self.model
        S = stats.cov
        pos = {v: i for i, v in enumerate(m.observed)}
        theta = np.zeros(m.npar)
        ind: dict[str, list[str]] = {}
        for r in m.rows:
            if r["op"] == "=~" and r["rhs"] in pos:
                ind.setdefault(r["lhs"], []).append(r["rhs"])
        lam = self._start_loadings(S, pos)
        for k, r in enumerate(m.rows):
            j = r["par"]
            if j < 0:
                continue
            if not math.isnan(r.get("start", math.nan)):
                theta[j] = r["start"]
                continue
            lhs, op, rhs = r["lhs"], r["op"], r["rhs"]
            if op == "=~":
                theta[j] = lam.get((lhs, rhs), 1.0)
            elif op == "~~" and lhs == rhs:
                if lhs in pos:
                    theta[j] = 0.5 * S[pos[lhs], pos[lhs]]
                else:
                    its = ind.get(lhs, [])
                    items = [pos[v] for v in its]
                    val = 0.05
                    if len(items) >= 2:
                        # covariances rescaled by the loadings' starts, so the
                        # start does not depend on the indicators' units
                        ls = np.array([lam.get((lhs, v), 1.0) for v in its])
                        sub = S[np.ix_(items, items)] / np.outer(ls, ls)
                        off = sub[~np.eye(len(items), dtype=bool)]
                        val = max(float(np.mean(np.abs(off))), 0.05 * float(np.mean(np.diag(sub))))
                    elif len(items) == 1:
                        val = max(0.5 * S[items[0], items[0]], 1e-8)
                    theta[j] = val
            elif op == "~1" and lhs in pos:
                theta[j] = stats.mean[pos[lhs]]
            elif op == "~~" and lhs in ind and rhs in ind:
                # covariance of two factors: mean cross-covariance of their indicators
                a = [pos[v] for v in ind[lhs]]
                b = [pos[v] for v in ind[rhs]]
                la = np.array([lam.get((lhs, v), 1.0) for v in ind[lhs]])
                lb = np.array([lam.get((rhs, v), 1.0) for v in ind[rhs]])
                theta[j] = 0.5 * float(np.mean(S[np.ix_(a, b)] / np.outer(la, lb)))
            else:
                theta[j] = 0.0
        return theta

    def _start_loadings(self, S: np.ndarray, pos: dict[str, int]) -> dict[tuple[str, str], float]:
        """Scale-aware starts of free loadings relative to each factor's marker.

        With the marker m fixed at 1, :math:`\\lambda_j \\approx S_{jk}/S_{mk}`
        for a third indicator k (median over k); with two indicators,
        :math:`\\operatorname{sign}(S_{jm})\\sqrt{S_{jj}/S_{mm}}`.  Free loadings
        of factors without a fixed marker keep lavaan's start 1.
        """
        m = self.model
        rows: dict[str, list[dict]] = {}
        for r in m.rows:
            if r["op"] == "=~" and r["rhs"] in pos:
                rows.setdefault(r["lhs"], []).append(r)
        out: dict[tuple[str, str], float] = {}
        for f, rs in rows.items():
            marker = next((r for r in rs if r["par"] < 0 and r.get("ustart") == 1.0), None)
            if marker is None:
                continue
            mi = pos[marker["rhs"]]
            others = [pos[r["rhs"]] for r in rs]
            for r in rs:
                if r["par"] < 0 or not math.isnan(r.get("start", math.nan)):
                    continue
                j = pos[r["rhs"]]
                ks = [k for k in others if k not in (j, mi)]
                ratios = [S[j, k] / S[mi, k] for k in ks if abs(S[mi, k]) > 1e-12 * math.sqrt(
                    S[mi, mi] * S[k, k])]
                if ratios:
                    val = float(np.median(ratios))
                elif S[mi, mi] > 0:
                    val = math.copysign(math.sqrt(S[j, j] / S[mi, mi]), S[j, mi] or 1.0)
                else:
                    continue
                if np.isfinite(val) and val != 0:
                    out[(f, r["rhs"])] = val
        return out

    # ------------------------------------------------------------------
    def optimize(self, stats: SampleStats, start: np.ndarray | None = None, *,
                 maxiter: int = 200, gtol: float = 1e-9) -> OptimResult:
        """Minimise the objective.

        Newton steps with the exact analytic Hessian (:meth:`hessian`), or
        Fisher scoring (twice the expected information) where the Hessian is
        not positive definite, with a backtracking line search; converged
        when the largest gradient element is below *gtol*.  If that fails,
        scipy's L-BFGS-B with the analytic gradient takes over.
        """
        theta = np.array(self.start_values(stats) if start is None else start, dtype=float)
        f, g = self.objective(theta, stats)
        if not np.isfinite(f):
            theta = self.start_values(stats)
            f, g = self.objective(theta, stats)
        theta, f, conv, it, method, msg = newton_minimize(
            lambda th: self.objective(th, stats), lambda th: self.hessian(th, stats),
            lambda th: self.expected_information(th, stats), theta, f, g,
            maxiter=maxiter, gtol=gtol, lbfgs_maxiter=10 * maxiter)
        return OptimResult(theta, float(f), conv, it, method, msg)


def newton_minimize(objective, hessian, information, theta: np.ndarray, f: float,
                    g: np.ndarray, *, maxiter: int = 200, gtol: float = 1e-9,
                    lbfgs_maxiter: int = 2000) -> tuple[np.ndarray, float, bool, int, str, str]:
    """Damped Newton minimisation with a Fisher-scoring fallback, then L-BFGS-B.

    Each iteration solves ``H step = g`` with the Hessian (Cholesky), or,
    where it is not positive definite, ``2 I(theta) step = g`` with the
    expected information; a backtracking (Armijo, c = 1e-4) line search
    halves the step until the objective decreases.  Converged when the
    largest gradient element is below *gtol* (or the decrease stalls below
    1e-15 with a gradient under 1e-6).  If that fails, scipy's L-BFGS-B with
    the analytic gradient continues from the last point; it counts as
    converged when the largest gradient element is below 1e-5.

    Parameters
    ----------
    objective : callable
        ``theta -> (f, gradient)``.
    hessian, information : callable
        ``theta -> matrix``: the Hessian of *f* and the expected information.
    theta, f, g : the start, with its objective and gradient.

    Returns
    -------
    theta, f, converged, iterations, method ("newton" or "L-BFGS-B"), message

    In R: lavaan's ``optim.method = "nlminb"`` plays this role.
    """
    ok = False
    it = 0
    if np.isfinite(f):
        for it in range(1, maxiter + 1):
            step = None
            try:
                L = np.linalg.cholesky(hessian(theta))
                step = linalg.cho_solve((L, True), g)
                if not np.all(np.isfinite(step)):
                    step = None
            except np.linalg.LinAlgError:
                step = None
            if step is None:       # Hessian not positive definite: Fisher scoring
                try:
                    step = _psd_solve(2.0 * information(theta), g)
                except np.linalg.LinAlgError:
                    step = None
            if step is None:
                break
            slope = g @ step
            if slope <= 0:
                step, slope = g, g @ g
            t = 1.0
            while True:
                new = theta - t * step
                fn, gn = objective(new)
                if np.isfinite(fn) and fn <= f - 1e-4 * t * slope:
                    break
                t *= 0.5
                if t < 1e-10:
                    break
            if t < 1e-10:
                break
            df_ = f - fn
            theta, f, g = new, fn, gn
            if np.max(np.abs(g)) < gtol or (df_ < 1e-15 and np.max(np.abs(g)) < 1e-6):
                ok = True
                break
    if ok:
        return theta, float(f), True, it, "newton", ""
    # fallback: quasi-Newton with the analytic gradient
    from scipy import optimize
    res = optimize.minimize(objective, theta, jac=True, method="L-BFGS-B",
                            options={"maxiter": lbfgs_maxiter, "ftol": 1e-15, "gtol": 1e-10,
                                     "maxcor": 30})
    f, g = objective(res.x)
    conv = bool(np.isfinite(f) and np.max(np.abs(g)) < 1e-5)
    return res.x, float(f), conv, it + int(res.nit), "L-BFGS-B", str(res.message)


def _lmul(W: np.ndarray, dS: np.ndarray) -> np.ndarray:
    """``W @ dS[:, :, k]`` for every k (BLAS)."""
    p, q, k = dS.shape
    return (W @ dS.reshape(p, q * k)).reshape(W.shape[0], q, k)


def _h1_block(W, M, d, dS, dmu, meanstructure: bool) -> np.ndarray:
    """Curvature of F in (Sigma, mu) pushed through the Jacobian (see Estimator.hessian)."""
    p, _, k = dS.shape
    WdS = _lmul(W, dS)
    WMW = W @ M @ W
    XdS = _lmul(WMW, dS)
    WdS_t = WdS.transpose(1, 0, 2).reshape(p * p, k)
    H = (2.0 * XdS.reshape(p * p, k) - WdS.reshape(p * p, k)).T @ WdS_t
    if meanstructure:
        H += 2.0 * dmu.T @ W @ dmu
        V = np.tensordot(WdS, W @ d, axes=(1, 0))      # W S_b W d  (p x k)
        cross = dmu.T @ V
        H += 2.0 * (cross + cross.T)
    return (H + H.T) / 2


def _psd_solve(H: np.ndarray, g: np.ndarray) -> np.ndarray | None:
    """Solve ``H x = g`` for a symmetric H; eigenvalues clipped (Levenberg-style)
    when H is (near) singular or indefinite, e.g. a locally unidentified start."""
    try:
        L = np.linalg.cholesky(H)
        x = linalg.cho_solve((L, True), g)
        if np.all(np.isfinite(x)):
            d = np.diag(L)
            if d.min() > 1e-7 * d.max():
                return x
    except np.linalg.LinAlgError:
        pass
    try:
        w, V = np.linalg.eigh(H)
    except np.linalg.LinAlgError:
        return None
    floor = max(abs(w).max(), 1e-300) * 1e-6
    w = np.maximum(np.abs(w), floor)
    return V @ ((V.T @ g) / w)


def _info_block(Sigma, dS, dm, meanstructure: bool) -> np.ndarray:
    W = np.linalg.inv(Sigma)
    W = (W + W.T) / 2
    p, _, k = dS.shape
    WdS = _lmul(W, dS)                                  # W dSigma_k
    info = 0.5 * WdS.reshape(p * p, k).T @ WdS.transpose(1, 0, 2).reshape(p * p, k)
    if meanstructure:
        info += dm.T @ W @ dm
    return (info + info.T) / 2
