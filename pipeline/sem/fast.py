"""A lean ML estimator for refitting one model to many covariance matrices.

Bootstrap draws and Monte Carlo replications fit the *same* model thousands
of times to slightly different sample covariance matrices.  :class:`FastML`
compiles the model once (through the engine's :class:`~pipeline.sem.model.SEMModel`,
so parameter order and constraints are the engine's) and then refits by a
**quasi-Newton method started from Fisher scoring's metric**:

.. math::

    F(\\theta) = \\log|\\Sigma| + \\operatorname{tr}(S\\Sigma^{-1}) - \\log|S| - p,
    \\qquad
    \\partial F / \\partial \\Sigma = \\Sigma^{-1} - \\Sigma^{-1} S \\Sigma^{-1},

the gradient taken analytically through the RAM matrices, and the initial
inverse Hessian the inverse expected information
:math:`(X'X)^{-1}`, where, with :math:`L L' = \\Sigma` and :math:`K = L^{-1}`,
the columns of :math:`X` are :math:`\\operatorname{vech}_w(K\\,\\partial\\Sigma/\\partial\\theta_k\\,K')`
(``vech_w`` keeps the lower triangle with weight :math:`\\sqrt 2` off the
diagonal, so :math:`X'X = \\operatorname{tr}(\\Sigma^{-1}\\dot\\Sigma_k\\Sigma^{-1}\\dot\\Sigma_l)`).
BFGS updates the metric; Armijo backtracking keeps :math:`\\Sigma` positive
definite; convergence is confirmed under a fresh expected information.
Warm-started at the full-sample estimates (bootstrap) or population values
(power), with the information there shared by every refit, a draw of the
thesis SEM converges in about 14 iterations of a few small matrix products,
with no numerical differentiation and no Python loop over parameters.

Scope: complete data (listwise), covariance structure only (no ``~1``
rows; with complete data and free intercepts the means are saturated and
do not change the other estimates), ML with ``likelihood="normal"`` (N) or
``"wishart"`` (N - 1).  Exogenous observed covariates (``fixed.x``) take
their sample (co)variances in every fit, as in lavaan.

References
----------
Lee, S.-Y., & Jennrich, R. I. (1979). A study of algorithms for covariance
structure analysis with specific comparisons using factor analysis.
*Psychometrika*, 44, 99-113.
Nocedal, J., & Wright, S. J. (2006). *Numerical optimization* (2nd ed.),
ch. 6 (BFGS) and 3 (backtracking line search). Springer.

In R: ``lavaan::sem(model, sample.cov = S, sample.nobs = N,
optim.method = "nlminb")`` (the estimates agree; lavaan uses a quasi-Newton
optimizer).
"""
from __future__ import annotations

import ast
import math
from dataclasses import dataclass

import numpy as np
from scipy.linalg import lapack
from scipy.special import ndtr

from pipeline.core.exceptions import ModelSpecificationError
from pipeline.sem.model import SEMModel
from pipeline.sem.syntax import lavaanify

__all__ = ["FastML", "FitSummary", "sample_cov", "wald", "bootstrap_draws", "engine_bootstrap_draws",
           "multigroup_bootstrap_draws", "MultiGroupBootstrapTask"]

_FUNCS = {"sqrt": np.sqrt, "exp": np.exp, "log": np.log, "abs": np.abs}

# status codes of one fit
OK, NOT_CONVERGED, INADMISSIBLE = 0, 1, 2


def sample_cov(x: np.ndarray) -> np.ndarray:
    """Covariance matrix with divisor N (lavaan's sample statistic).

    In R: ``lavInspect(fit, "sampstat")$cov``.
    """
    xc = x - x.mean(axis=0)
    return (xc.T @ xc) / x.shape[0]


@dataclass
class FitSummary:
    """Result of one :meth:`FastML.fit`.

    Attributes
    ----------
    theta : ndarray (q,)
        Free parameter estimates (the engine's parameter order).
    fmin : float
        :math:`F_{ML}` at the optimum (lavaan's ``fmin`` times 2).
    iterations : int
    converged : bool
    admissible : bool
        No negative variance and a positive definite latent covariance matrix.
    info : ndarray (q, q) or None
        :math:`X'X` at the optimum (expected information of F).
    """

    theta: np.ndarray
    fmin: float
    iterations: int
    converged: bool
    admissible: bool
    info: np.ndarray | None = None

    @property
    def status(self) -> int:
        if not self.converged:
            return NOT_CONVERGED
        return OK if self.admissible else INADMISSIBLE


def _chol_inv(sigma: np.ndarray):
    """Inverse of the lower Cholesky factor and log-determinant, or None if not PD."""
    c, info = lapack.dpotrf(sigma, lower=1, clean=1)
    if info != 0:
        return None
    logdet = 2.0 * float(np.log(c.diagonal()).sum())
    k, info = lapack.dtrtri(c, lower=1)      # the zero upper triangle stays zero
    if info != 0:
        return None
    return k, logdet


class FastML:
    """Compiled ML discrepancy of one model, refitted to many covariance matrices.

    Parameters
    ----------
    model : str or SEMModel
        lavaan syntax (parsed once here) or an engine model compiled with
        ``meanstructure=False``.
    observed : sequence of str, optional
        Column order of the data the covariance matrices come from; by
        default the model's observed variables in lavaan's order.
    likelihood : {"normal", "wishart"}
        Multiplier of the chi-square and of the information: N or N - 1.

    Attributes
    ----------
    model : SEMModel
    q : int
        Number of free parameters.
    df : int
        Degrees of freedom of the chi-square test.
    names : list of str
        ``"lhs op rhs"`` of each free parameter, then each defined parameter.

    In R: ``lavaan::sem(model, sample.cov=, sample.nobs=)`` refitted.
    """

    def __init__(self, model, *, observed=None, likelihood: str = "normal"):
        if likelihood not in ("normal", "wishart"):
            raise ValueError(f"likelihood must be 'normal' or 'wishart', got {likelihood!r}")
        if isinstance(model, str):
            model = SEMModel(lavaanify(model, meanstructure=False, fixed_x=True))
        if not isinstance(model, SEMModel):
            raise TypeError(f"model must be lavaan syntax (str) or SEMModel, got {type(model).__name__}")
        if model.is_m.any():
            raise ModelSpecificationError(
                "FastML fits covariance structures only; the model has intercept (~1) rows")
        self.model = m = model
        self.likelihood = likelihood
        self.p, self.n = m.p, m.n
        self.q = m.npar
        self.observed = list(m.observed)
        if observed is not None:
            observed = list(observed)
            missing = [v for v in self.observed if v not in observed]
            if missing:
                raise ValueError(f"observed lacks model variables: {missing}")
            self.columns = np.array([observed.index(v) for v in self.observed], dtype=int)
        else:
            self.columns = np.arange(self.p)
        free = np.flatnonzero(m.free_mask)
        self._free_rows = free
        self._free_par = m.par[free]
        kind, I, J = m.kind[free], m.ii[free], m.jj[free]
        self._a = kind == 0
        self._s = kind == 1
        self._aI, self._aJ = I[self._a], J[self._a]
        self._sI, self._sJ = I[self._s], J[self._s]
        self._s_off = (self._sI != self._sJ).astype(float)
        # aggregation of free rows to parameters (equality constraints)
        P = np.zeros((len(free), self.q))
        P[np.arange(len(free)), self._free_par] = 1.0
        self._P_a = P[self._a]
        self._P_s = P[self._s]
        self._shared = len(free) != self.q
        # exogenous (fixed.x) rows take sample values
        exo = np.flatnonzero(m.exo_mask & m.is_S)
        self._exo_rows = exo
        self._exo_i = m.ii[exo]
        self._exo_j = m.jj[exo]
        # whitened vech with sqrt(2) weights
        ta, tb = np.tril_indices(self.p)
        self._ta, self._tb = ta, tb
        self._w = np.where(ta == tb, 1.0, math.sqrt(2.0))
        self.df = self.p * (self.p + 1) // 2 - self.q - len(exo)
        if self.df < 0:
            raise ModelSpecificationError(f"the model has negative degrees of freedom ({self.df})")
        # recursive models: longest directed path, for a nilpotent inverse
        self._eye_n = np.eye(self.n)
        self._eye_p = np.eye(self.p)
        pat = np.zeros((self.n, self.n))
        pat.flat[m._A_pos] = 1.0
        self._depth, power = None, np.eye(self.n)
        for d in range(1, self.n + 1):
            power = power @ pat
            if not power.any():
                self._depth = d - 1 if d > 1 else 1
                break
        # admissibility: variance rows and the latent block
        self._var_rows = np.flatnonzero(m.is_S & (m.ii == m.jj))
        self._lat = np.arange(self.p, self.n)
        rows = m.rows
        self.names = [f"{rows[r]['lhs']} {rows[r]['op']} {rows[r]['rhs']}" for r in m.par_rows]
        self.labels = [rows[r]["label"] for r in m.par_rows]
        self._def_names = list(m.defined.names)
        # the engine validated the expressions (names, numbers, + - * / ^ and
        # sqrt/exp/log/abs): compile them once to bytecode for fast evaluation
        self._def_trees = [ast.parse(e.replace("^", "**"), mode="eval").body
                           for e in m.defined.exprs]
        for tree in self._def_trees:
            for node in ast.walk(tree):
                if not isinstance(node, (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Name,
                                         ast.Constant, ast.Call, ast.Load, ast.operator,
                                         ast.unaryop)):
                    raise ModelSpecificationError(
                        f"unsupported element in a defined parameter: {ast.dump(node)}")
                if isinstance(node, ast.Call) and not (isinstance(node.func, ast.Name)
                                                       and node.func.id in _FUNCS):
                    raise ModelSpecificationError("defined parameters may call only "
                                                  f"{sorted(_FUNCS)}")
        self._def_code = [compile(ast.Expression(body=t), "<defined>", "eval")
                          for t in self._def_trees]
        self.names += self._def_names
        # label -> (par index or -1, fixed value)
        self._label_src: dict[str, tuple[int, float]] = {}
        for k, r in enumerate(rows):
            if r["label"] and r["label"] not in self._label_src:
                self._label_src[r["label"]] = (int(m.par[k]), float(m.fixed_values[k]))

    # ------------------------------------------------------------------ moments
    @property
    def n_defined(self) -> int:
        return len(self._def_names)

    def _row_values(self, theta, S):
        vals = self.model.fixed_values.copy()
        vals[self._free_rows] = theta[self._free_par]
        if len(self._exo_rows):
            vals[self._exo_rows] = S[self._exo_i, self._exo_j]
        return vals

    def _moments(self, vals):
        A, Sm, _ = self.model.matrices(vals)
        if self._depth is not None:
            # recursive model: A is nilpotent, (I - A)^-1 = I + A + ... + A^depth
            B = self._eye_n + A
            for _ in range(self._depth - 1):
                B = self._eye_n + A @ B
        else:
            B = np.linalg.inv(self._eye_n - A)
        Bp = B[: self.p]
        Cp = Bp @ Sm @ B.T          # p x n
        sigma = Cp[:, : self.p]
        return 0.5 * (sigma + sigma.T), Bp, Cp, Sm, B

    def implied_cov(self, theta: np.ndarray, S: np.ndarray | None = None) -> np.ndarray:
        """Model-implied covariance matrix (``S`` supplies fixed.x values)."""
        theta = np.asarray(theta, dtype=float)
        S = np.zeros((self.p, self.p)) if S is None else S
        return self._moments(self._row_values(theta, S))[0]

    def _design(self, K, Bp, Cp):
        """Whitened Jacobian X (vech_w x q)."""
        U = K @ Bp                        # p x n
        V = K @ Cp                        # p x n
        ta, tb, w = self._ta, self._tb, self._w
        Ua, Ub = U[ta], U[tb]
        Xa = Ua[:, self._aI] * V[tb][:, self._aJ] + V[ta][:, self._aJ] * Ub[:, self._aI]
        Xs = Ua[:, self._sI] * Ub[:, self._sJ]
        Xs = Xs + (Ub[:, self._sI] * Ua[:, self._sJ]) * self._s_off
        if self._shared:
            X = Xa @ self._P_a + Xs @ self._P_s
        else:
            X = np.empty((len(ta), self.q))
            X[:, self._free_par[self._a]] = Xa
            X[:, self._free_par[self._s]] = Xs
        return X * w[:, None]

    # ------------------------------------------------------------------ fitting
    def start_values(self, S: np.ndarray) -> np.ndarray:
        """lavaan's "simple" starting values for covariance matrix *S*.

        Free loadings and regressions 0 (loadings 1), observed residual
        variances half the sample variance, latent variances 0.05,
        covariances 0.

        In R: ``lavaan(..., start = "simple")``.
        """
        m = self.model
        theta = np.zeros(self.q)
        for k, r in enumerate(m.par_rows):
            row = m.rows[r]
            st = row.get("start", math.nan)
            if st is not None and not math.isnan(st):
                theta[k] = st
            elif row["op"] == "=~":
                theta[k] = 1.0
            elif row["op"] == "~~" and row["lhs"] == row["rhs"]:
                i = m.nodes.index(row["lhs"])
                theta[k] = 0.5 * S[i, i] if i < self.p else 0.05
        return theta

    def _evaluate(self, th, S, logdetS):
        vals = self._row_values(th, S)
        sigma, Bp, Cp, Sm, B = self._moments(vals)
        ci = _chol_inv(sigma)
        if ci is None:
            return None
        K, logdet = ci
        R = K @ S @ K.T
        f = logdet + float(np.trace(R)) - logdetS - self.p
        if not math.isfinite(f):
            return None
        return f, K, R, Bp, Cp, Sm, B, vals

    def _gradient(self, cur) -> np.ndarray:
        """dF/dtheta through dF/dSigma = W - W S W (no Jacobian needed)."""
        f, K, R, Bp, Cp, Sm, B, vals = cur
        G = K.T @ (self._eye_p - R) @ K
        T = Bp.T @ G                      # n x p
        dA = 2.0 * (T @ Cp)               # n x n
        dS = T @ Bp                       # n x n
        ga = dA[self._aI, self._aJ]
        gs = dS[self._sI, self._sJ] * (1.0 + self._s_off)
        if self._shared:
            return ga @ self._P_a + gs @ self._P_s
        g = np.empty(self.q)
        g[self._free_par[self._a]] = ga
        g[self._free_par[self._s]] = gs
        return g

    def information(self, theta: np.ndarray, S: np.ndarray | None = None) -> np.ndarray:
        """Expected information of F at *theta*: ``X'X`` (q x q).

        In R: ``lavInspect(fit, "information.expected")`` times 2.
        """
        theta = np.asarray(theta, dtype=float)
        S = np.zeros((self.p, self.p)) if S is None else S
        sigma, Bp, Cp, _, _ = self._moments(self._row_values(theta, S))
        ci = _chol_inv(sigma)
        if ci is None:
            raise ValueError("theta gives a non-positive-definite implied covariance matrix")
        X = self._design(ci[0], Bp, Cp)
        return X.T @ X

    def fit(self, S: np.ndarray, start: np.ndarray | None = None, *,
            hinv0: np.ndarray | None = None, max_iter: int = 300, xtol: float = 1e-8,
            ftol: float = 1e-12, want_info: bool = False) -> FitSummary:
        """Minimize :math:`F_{ML}` for the covariance matrix *S* (divisor N).

        Quasi-Newton (BFGS) whose initial inverse Hessian is the inverse
        expected information (Fisher scoring's metric), with backtracking
        (Armijo) line search that also keeps the implied matrix positive
        definite.  When a line search fails the metric is reset to the
        expected information at the current point.

        Parameters
        ----------
        S : ndarray (p, p)
            Sample covariance in the model's observed order.
        start : ndarray (q,), optional
            Warm start (the full-sample estimates in a bootstrap); default
            :meth:`start_values`.
        hinv0 : ndarray (q, q), optional
            Initial inverse Hessian, e.g. the inverse information at the
            full-sample estimates shared by every bootstrap draw; default
            computed at *start*.
        max_iter : int
        xtol, ftol : float
            Converged when the largest component of the quasi-Newton step
            is below *xtol*, or the Newton decrement :math:`g'H^{-1}g`
            (about twice :math:`F - F_{min}`) is below *ftol*.
        want_info : bool
            Return the expected information at the optimum (standard errors).

        Returns
        -------
        FitSummary

        In R: ``lavaan::sem(model, sample.cov = S, sample.nobs = N)``.
        """
        S = np.asarray(S, dtype=float)
        theta = self.start_values(S) if start is None else np.array(start, dtype=float)
        cs = _chol_inv(S)
        if cs is None:
            return FitSummary(theta, math.nan, 0, False, False)
        logdetS = cs[1]
        cur = self._evaluate(theta, S, logdetS)
        if cur is None:
            return FitSummary(theta, math.nan, 0, False, False)

        def fisher_inv(c):
            X = self._design(c[1], c[3], c[4])
            H = X.T @ X
            try:
                return np.linalg.inv(H)
            except np.linalg.LinAlgError:
                return np.linalg.pinv(H)

        fresh = hinv0 is None
        Hinv = fisher_inv(cur) if fresh else np.array(hinv0, dtype=float)
        g = self._gradient(cur)
        converged = False
        it = 0
        for it in range(1, max_iter + 1):
            d = -(Hinv @ g)
            slope = float(g @ d)
            # converged: tiny step, or Newton decrement g'H^-1 g (about twice
            # the distance of F from its minimum) at rounding level
            if np.max(np.abs(d)) < xtol or (-slope < ftol and slope <= 0):
                if fresh:
                    converged = True
                    break
                # confirm with the expected information: BFGS updates can make
                # the metric nearly singular along the gradient
                Hinv = fisher_inv(cur)
                fresh = True
                continue
            f = cur[0]
            if slope >= 0:                # not a descent direction: reset metric
                Hinv = fisher_inv(cur)
                fresh = True
                d = -(Hinv @ g)
                slope = float(g @ d)
            lam, new = 1.0, None
            for _ in range(40):
                new = self._evaluate(theta + lam * d, S, logdetS)
                if new is not None and new[0] <= f + 1e-4 * lam * slope:
                    break
                new = None
                lam *= 0.5
            if new is None:
                if fresh:
                    # no decrease along the Fisher direction: at the optimum
                    # up to rounding when the step is tiny
                    converged = np.max(np.abs(d)) < 1e3 * xtol
                    break
                Hinv = fisher_inv(cur)
                fresh = True
                continue
            s = lam * d
            theta = theta + s
            g_new = self._gradient(new)
            y = g_new - g
            sy = float(s @ y)
            if sy > 1e-12:
                rho = 1.0 / sy
                Hy = Hinv @ y
                sHy = s[:, None] * Hy[None, :]
                Hinv = (Hinv - rho * (sHy + sHy.T)
                        + (rho * rho * float(y @ Hy) + rho) * (s[:, None] * s[None, :]))
            cur, g = new, g_new
            fresh = False
        f, K, R, Bp, Cp, Sm, B, vals = cur
        info = None
        if want_info:
            X = self._design(K, Bp, Cp)
            info = X.T @ X
        return FitSummary(theta, f, it, converged, self._admissible(vals, Sm, B), info)

    def _admissible(self, vals, Sm, B) -> bool:
        if np.any(vals[self._var_rows] < 0):
            return False
        if len(self._lat):
            lat = self._lat
            C = B[lat] @ Sm @ B[lat].T
            ev = np.linalg.eigvalsh(0.5 * (C + C.T))
            if ev.min() < -(np.finfo(float).eps ** 0.75):
                return False
        return True

    def _admissible_theta(self, theta: np.ndarray, S: np.ndarray) -> bool:
        """:meth:`_admissible` at *theta* (``S`` supplies fixed.x values)."""
        vals = self._row_values(np.asarray(theta, dtype=float), S)
        _, _, _, Sm, B = self._moments(vals)
        return self._admissible(vals, Sm, B)

    # ------------------------------------------------------------ inference
    def nmult(self, nobs: int) -> int:
        """N (normal likelihood) or N - 1 (Wishart)."""
        return nobs if self.likelihood == "normal" else nobs - 1

    def vcov(self, info: np.ndarray, nobs: int) -> np.ndarray:
        """Covariance matrix of the estimates from the expected information.

        :math:`\\operatorname{acov}(\\hat\\theta) = (2/N)\\,(X'X)^{-1}`.

        In R: ``vcov(fit)`` with ``information = "expected"``.
        """
        return (2.0 / self.nmult(nobs)) * np.linalg.inv(info)

    def defined(self, theta: np.ndarray) -> np.ndarray:
        """Defined (``:=``) parameters; *theta* may be (q,) or (k, q) (rows of draws).

        In R: ``lavaan:::lav_model_def``.
        """
        theta = np.asarray(theta, dtype=float)
        if not self._def_names:
            return np.zeros(theta.shape[:-1] + (0,))
        env = {}
        for lab, (k, fixed) in self._label_src.items():
            env[lab] = theta[..., k] if k >= 0 else fixed
        env.update(_FUNCS)
        glb = {"__builtins__": {}}
        ones = np.ones(theta.shape[:-1])
        out = []
        for name, code in zip(self._def_names, self._def_code):
            v = eval(code, glb, env) * ones    # noqa: S307 - validated arithmetic only
            env[name] = v
            out.append(v)
        return np.stack(out, axis=-1)

    def defined_jacobian(self, theta: np.ndarray, h: float = 1e-6) -> np.ndarray:
        """Central-difference Jacobian of :meth:`defined` (n_def x q), vectorized."""
        theta = np.asarray(theta, dtype=float)
        E = np.eye(self.q) * h
        up = self.defined(theta + E)
        dn = self.defined(theta - E)
        return ((up - dn) / (2 * h)).T

    def fit_stats(self, fmin: float, S: np.ndarray, nobs: int) -> tuple[float, float, float]:
        """Chi-square, CFI and RMSEA from :math:`F_{ML}` (lavaan's formulas).

        Baseline: the independence model (for fixed.x models the exogenous
        block is kept, as lavaan does).

        In R: ``fitMeasures(fit, c("chisq", "cfi", "rmsea"))``.
        """
        N = self.nmult(nobs)
        chisq = N * fmin
        d = np.diag(S)
        ex = np.unique(np.concatenate([self._exo_i, self._exo_j])) if len(self._exo_rows) else []
        if len(ex) > 1:
            nex = [i for i in range(self.p) if i not in set(ex)]
            ld = float(np.sum(np.log(d[nex]))) + np.linalg.slogdet(S[np.ix_(ex, ex)])[1]
            bdf = self.p * (self.p + 1) // 2 - len(nex) - len(ex) * (len(ex) + 1) // 2
        else:
            ld = float(np.sum(np.log(d)))
            bdf = self.p * (self.p - 1) // 2
        bchisq = N * (ld - np.linalg.slogdet(S)[1])
        df = self.df
        num = max(chisq - df, 0.0)
        den = max(bchisq - bdf, chisq - df, 0.0)
        cfi = 1.0 if den == 0 else 1.0 - num / den
        rmsea = math.sqrt(num / (df * N)) if df > 0 else 0.0
        return chisq, cfi, rmsea


def wald(est: np.ndarray, se: np.ndarray):
    """Two-sided z test: ``(z, pvalue)``.

    In R: ``parameterEstimates(fit)[, c("z", "pvalue")]``.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        z = est / se
    return z, 2.0 * ndtr(-np.abs(z))


# ---------------------------------------------------------------- bootstrap
class BootstrapTask:
    """Nonparametric bootstrap draws of one model on one data set.

    Draw *i* resamples the rows with ``default_rng(SeedSequence(seed).spawn(B)[i])``
    and refits from the full-sample estimates with the full-sample inverse
    information as the initial quasi-Newton metric.  Picklable; the model
    is compiled once per worker by :meth:`setup`.
    """

    def __init__(self, model, data: np.ndarray, theta0: np.ndarray, seed, *,
                 likelihood: str = "normal"):
        import hashlib
        self.model = model
        self.data = np.ascontiguousarray(data, dtype=float)
        self.theta0 = np.asarray(theta0, dtype=float)
        if isinstance(seed, np.random.SeedSequence):
            self.seed = seed
            seed_id = f"{seed.entropy}:{seed.spawn_key}"
        else:
            self.seed = int(seed)
            seed_id = str(self.seed)
        self.likelihood = likelihood
        h = hashlib.sha1(model.encode() if isinstance(model, str)
                         else repr((model.rows, model.pt.definitions)).encode())
        h.update(self.data.tobytes())
        h.update(self.theta0.tobytes())
        h.update(f"{seed_id}:{likelihood}".encode())
        self.key = "boot:" + h.hexdigest()

    def setup(self):
        fm = FastML(self.model, likelihood=self.likelihood)
        S = sample_cov(self.data)
        info = fm.information(self.theta0, S)
        try:
            hinv0 = np.linalg.inv(info)
        except np.linalg.LinAlgError:
            hinv0 = np.linalg.pinv(info)
        return fm, hinv0

    def run(self, state, start: int, stop: int):
        from pipeline.core.parallel import draw_seeds
        fm, hinv0 = state
        x = self.data
        n = x.shape[0]
        k = fm.q + fm.n_defined
        est = np.full((stop - start, k), np.nan)
        status = np.zeros(stop - start, dtype=np.int8)
        for j, ss in enumerate(draw_seeds(self.seed, start, stop)):
            idx = np.random.default_rng(ss).integers(0, n, n)
            r = fm.fit(sample_cov(x[idx]), start=self.theta0, hinv0=hinv0)
            status[j] = r.status
            est[j, : fm.q] = r.theta
            if fm.n_defined:
                est[j, fm.q:] = fm.defined(r.theta)
        return est, status



def _collect_draws(task, B: int, ncol: int, *, workers, chunk_size, scheduler,
                   progress: bool) -> tuple[np.ndarray, np.ndarray]:
    """Run *task*'s B draws through :func:`pipeline.core.parallel.map_draws` and
    gather them in draw order: estimates (B x ncol) and status codes (B)."""
    from pipeline.core.parallel import map_draws
    est = np.empty((B, ncol))
    status = np.empty(B, dtype=np.int8)

    def consume(start, r):
        e, s = r
        est[start:start + len(s)] = e
        status[start:start + len(s)] = s

    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=B, desc="bootstrap", unit="draw", leave=False)
    try:
        map_draws(task, B, consume=consume, workers=workers, chunk_size=chunk_size,
                  scheduler=scheduler, progress=bar.update if bar else None)
    finally:
        if bar is not None:
            bar.close()
    return est, status

def bootstrap_draws(model, data: np.ndarray, theta0: np.ndarray, B: int, seed, *,
                    likelihood: str = "normal", workers: int | None = None,
                    scheduler=None, chunk_size: int | None = None, progress: bool = True):
    """Estimates of *B* bootstrap draws (free then defined parameters).

    Parameters
    ----------
    model : str or SEMModel
        lavaan syntax, or the engine's compiled model (``meanstructure=False``).
    data : ndarray (N, p)
        Complete cases, columns in the model's observed order
        (``FastML(model).observed``).
    theta0 : ndarray (q,)
        Full-sample estimates (warm start of every draw).
    B : int
    seed : int or numpy.random.SeedSequence
        Draw *i* uses ``SeedSequence(seed).spawn(B)[i]``.
    likelihood : {"normal", "wishart"}
    workers, scheduler, chunk_size
        See :func:`pipeline.core.parallel.map_draws`; results do not depend on them.
    progress : bool
        Show a tqdm progress bar.

    Returns
    -------
    est : ndarray (B, q + n_defined)
        Only the estimates are stored (memory O(B x parameters)).
    status : ndarray (B,) of int8
        0 ok, 1 failed (not converged, or a singular resampled covariance
        matrix), 2 inadmissible (negative variance or a latent covariance
        matrix that is not positive definite).

    In R: ``lavaan::bootstrapLavaan(fit, R = B, FUN = "coef")``.
    """
    if int(B) != B or B < 1:
        raise ValueError(f"B must be a positive integer, got {B!r}")
    B = int(B)
    task = BootstrapTask(model, data, theta0, seed, likelihood=likelihood)
    fm = FastML(model, likelihood=likelihood)
    return _collect_draws(task, B, fm.q + fm.n_defined, workers=workers, chunk_size=chunk_size,
                          scheduler=scheduler, progress=progress)


# ------------------------------------------------- bootstrap: FIML / mean structures
class EngineBootstrapTask:
    """Bootstrap draws refitted by the engine's estimator (FIML or mean structure).

    The designs :class:`FastML` does not cover -- incomplete data (FIML)
    and models with a mean structure -- take the same route as the
    complete-data path: draw *i* resamples the rows with
    ``default_rng(SeedSequence(seed).spawn(B)[i]).integers(0, N, N)`` (the
    streams of :func:`pipeline.sem.bootstrap.bootstrap`'s in-process loop)
    and refits from the full-sample estimates; under FIML with
    :class:`pipeline.sem.fiml.FIMLEstimator` (batched kernel, BFGS started
    with the inverse of the full-sample Hessian as its metric, shared by
    every draw).  Picklable; each worker compiles the estimator once in
    :meth:`setup`.  Results depend only on the seed and the draw index,
    never on the number of workers or a Dask cluster.

    Parameters
    ----------
    model : SEMModel
        The fitted model (its mean structure as fitted).
    data : ndarray (N, p)
        The cases of the fit (``nan`` for missing values under FIML).
    theta0 : ndarray (q,)
    seed : int or numpy.random.SeedSequence
    missing : {"fiml", "listwise"}
    likelihood : {"normal", "wishart"}
    hinv0 : ndarray (q, q), optional
        Initial inverse Hessian of the discrepancy F (default: computed at
        *theta0* in each worker); from a fit, ``vcov * N / 2``.

    In R: ``lavaan::bootstrapLavaan(fit, R = B, FUN = "coef", parallel =
    "multicore")`` on a ``missing = "ml"`` fit.
    """

    def __init__(self, model, data: np.ndarray, theta0: np.ndarray, seed, *,
                 missing: str = "fiml", likelihood: str = "normal",
                 hinv0: np.ndarray | None = None):
        import hashlib
        if missing not in ("fiml", "listwise"):
            raise ValueError(f"missing must be 'fiml' or 'listwise', got {missing!r}")
        if not isinstance(model, SEMModel):
            raise TypeError(f"model must be an SEMModel, got {type(model).__name__}")
        self.model = model
        self.data = np.ascontiguousarray(data, dtype=float)
        self.theta0 = np.asarray(theta0, dtype=float)
        self.missing, self.likelihood = missing, likelihood
        self.hinv0 = None if hinv0 is None else np.asarray(hinv0, dtype=float)
        if isinstance(seed, np.random.SeedSequence):
            self.seed = seed
            seed_id = f"{seed.entropy}:{seed.spawn_key}"
        else:
            self.seed = int(seed)
            seed_id = str(self.seed)
        h = hashlib.sha1(repr((model.rows, model.pt.definitions, model.meanstructure)).encode())
        h.update(self.data.tobytes())
        h.update(self.theta0.tobytes())
        h.update(f"{seed_id}:{missing}:{likelihood}".encode())
        self.key = "engine-boot:" + h.hexdigest()

    def _stats(self, X, ids=None):
        from pipeline.sem.estimate import sample_stats
        if self.missing == "fiml":
            from pipeline.sem.fiml import fiml_sample_stats
            st = fiml_sample_stats(X, em=False, patterns=False, pattern_ids=ids)
            xi = self._x_idx
            if len(xi):      # fixed.x covariates are complete: their exact moments
                xs = X[:, xi]
                st.mean[xi] = xs.mean(axis=0)
                st.cov[np.ix_(xi, xi)] = np.cov(xs, rowvar=False, bias=True).reshape(
                    len(xi), len(xi))
            return st
        return sample_stats(X, likelihood=self.likelihood, missing="listwise")

    def setup(self):
        from pipeline.sem.estimate import Estimator
        from pipeline.sem.fiml import FIMLEstimator
        m = self.model
        pos = {v: i for i, v in enumerate(m.observed)}
        self._x_idx = np.array([pos[v] for v in m.pt.ov_x], dtype=int)
        cls = FIMLEstimator if self.missing == "fiml" else Estimator
        est = cls(m, likelihood=self.likelihood, missing=self.missing,
                  meanstructure=m.meanstructure)
        est.workers = 1          # one thread per worker process
        hinv0 = self.hinv0
        if self.missing == "fiml" and (hinv0 is None or not np.all(np.isfinite(hinv0))):
            from pipeline.sem.fiml import _safe_inv
            hinv0 = _safe_inv(est.hessian(self.theta0, self._stats(self.data)))
        self._ids = None
        if self.missing == "fiml":
            from pipeline.sem.fiml import pattern_index
            self._ids = pattern_index(np.isnan(self.data))
        var_par = np.array([r["par"] for r in m.rows if r["op"] == "~~" and r["lhs"] == r["rhs"]
                            and r["par"] >= 0], dtype=int)
        return est, hinv0, var_par, self._ids

    def run(self, state, start: int, stop: int):
        from pipeline.core.parallel import draw_seeds
        from pipeline.sem.results import _env_first
        est, hinv0, var_par, ids = state
        m = self.model
        if not hasattr(self, "_x_idx"):
            pos = {v: i for i, v in enumerate(m.observed)}
            self._x_idx = np.array([pos[v] for v in m.pt.ov_x], dtype=int)
        x = self.data
        n = x.shape[0]
        nd = len(m.defined)
        out = np.full((stop - start, m.npar + nd), np.nan)
        status = np.zeros(stop - start, dtype=np.int8)
        for j, ss in enumerate(draw_seeds(self.seed, start, stop)):
            idx = np.random.default_rng(ss).integers(0, n, n)
            Xb = x[idx]
            try:
                st = self._stats(Xb, None if ids is None else (ids[0], ids[1][idx]))
            except (np.linalg.LinAlgError, ValueError):
                status[j] = NOT_CONVERGED
                continue
            if self.missing == "listwise" and not np.isfinite(st.logdet):
                status[j] = NOT_CONVERGED
                continue
            if self.missing == "fiml":
                r = est.optimize(st, start=self.theta0, maxiter=100, hinv0=hinv0)
            else:
                r = est.optimize(st, start=self.theta0, maxiter=100)
            if not r.converged:
                status[j] = NOT_CONVERGED
                continue
            theta = r.theta
            inadm = bool(len(var_par) and np.any(theta[var_par] < 0))
            vals = est.values(theta, st)
            if not inadm:
                Sig = m.moments(vals)[0]
                inadm = np.linalg.eigvalsh((Sig + Sig.T) / 2).min() <= 0
            status[j] = INADMISSIBLE if inadm else OK
            out[j, : m.npar] = theta
            if nd:
                out[j, m.npar:] = m.defined.evaluate(_env_first(m, vals))
        return out, status


def engine_bootstrap_draws(res, B: int, seed, *, workers: int | None = None,
                           scheduler=None, chunk_size: int | None = None,
                           progress: bool = True):
    """Bootstrap draws of a fitted FIML or mean-structure model on local processes or Dask.

    Parameters
    ----------
    res : SEMResult
        A fit by :func:`pipeline.sem.fit` (``missing="fiml"`` or a mean
        structure).
    B : int
    seed : int or numpy.random.SeedSequence
        Draw *i* uses ``SeedSequence(seed).spawn(B)[i]``: the same draws as
        :func:`pipeline.sem.bootstrap.bootstrap`'s in-process loop.
    workers, scheduler, chunk_size
        See :func:`pipeline.core.parallel.map_draws`; they never change the
        results.
    progress : bool

    Returns
    -------
    est : ndarray (B, npar + n_defined)
        NaN rows for failed draws.
    status : ndarray (B,) of int8
        0 ok, 1 failed (not converged, unusable resample), 2 inadmissible
        (negative variance or non-positive-definite implied covariance).

    In R: ``lavaan::bootstrapLavaan(fit, R = B, FUN = "coef", parallel =
    "multicore", ncpus = workers)``.
    """
    if int(B) != B or B < 1:
        raise ValueError(f"B must be a positive integer, got {B!r}")
    B = int(B)
    hinv0 = None
    if res.missing == "fiml" and np.all(np.isfinite(res.vcov)):
        hinv0 = res.vcov * (res.nobs / 2.0)      # vcov = (H/2)^-1 / N
    task = EngineBootstrapTask(res.model, res.stats.data, res.theta, seed,
                               missing=res.missing, likelihood=res.likelihood, hinv0=hinv0)
    k = res.model.npar + len(res.model.defined)
    return _collect_draws(task, B, k, workers=workers, chunk_size=chunk_size,
                          scheduler=scheduler, progress=progress)


# ------------------------------------------------- bootstrap: multi-group
def _mg_label_env(models, ests, sts, theta) -> dict[str, float]:
    """Label -> value over the groups (the first group holding a label wins),
    as :func:`pipeline.sem.multigroup.fit_multigroup` evaluates ``:=`` rows."""
    env: dict[str, float] = {}
    for m, e, s in zip(models, ests, sts):
        vals = m.row_values(theta, e.exo_values(s))
        for k, r in enumerate(m.rows):
            if r["label"] and r["label"] not in env:
                env[r["label"]] = float(vals[k])
    return env


class MultiGroupBootstrapTask:
    r"""Bootstrap draws of a multi-group fit, resampled within groups.

    Draw *i* takes, in every group *g* in turn, ``n_g`` row indices from
    ``rng = default_rng(SeedSequence(seed).spawn(B)[i])`` --
    ``rng.integers(0, n_g, n_g)``, the streams of the in-process loop of
    :func:`pipeline.sem.bootstrap.bootstrap_multigroup` -- and refits the
    stacked objective :math:`F = \sum_g (n_g/N) F_g` over the common
    parameter vector (so ``group.equal`` / ``group.partial`` and labels
    shared across groups hold in every draw) from the full-sample
    estimates, by the engine's damped Newton iterations
    (:func:`pipeline.sem.estimate.newton_minimize`, exact analytic Hessian,
    ``gtol = 1e-9``), without building data frames, parameter tables,
    standard errors or fit measures.  Models with general constraints
    (``a == 2*b``, ``a > 0``) are refitted by
    :func:`pipeline.sem.multigroup.fit_multigroup` (SLSQP) in the worker.
    FIML groups reuse the full sample's missingness-pattern index and take
    the exact moments of complete ``fixed.x`` covariates.

    Picklable; :meth:`setup` builds each group's estimator once per
    worker.  Results depend only on the seed and the draw index.

    Parameters
    ----------
    mg : MultiGroupModel
        The fitted model's groups and shared parameter vector (``res.mg``).
    parts : list of ndarray (n_g, p)
        The cases each group's fit used, columns in the model's order.
    theta0 : ndarray (npar,)
        Full-sample estimates (warm start).
    seed : int or numpy.random.SeedSequence
    likelihood : {"normal", "wishart"}
    missing : {"listwise", "fiml"}
    model_text, groups, group_column, options
        Only for models with general constraints: what
        :func:`~pipeline.sem.multigroup.fit_multigroup` needs to refit.

    In R: ``lavaan::bootstrapLavaan(fit, R = B, FUN = "coef", parallel =
    "multicore")`` on a multi-group fit (``lav_bootstrap_internal``
    resamples within groups).
    """

    def __init__(self, mg, parts, theta0, seed, *, likelihood: str = "normal",
                 missing: str = "listwise", model_text: str = "", groups=(),
                 group_column: str | None = None, options: dict | None = None):
        import hashlib
        if missing not in ("fiml", "listwise"):
            raise ValueError(f"missing must be 'fiml' or 'listwise', got {missing!r}")
        if likelihood not in ("normal", "wishart"):
            raise ValueError(f"likelihood must be 'normal' or 'wishart', got {likelihood!r}")
        if len(parts) != len(mg.models):
            raise ValueError(f"parts: {len(parts)} data blocks for {len(mg.models)} groups")
        self.mg = mg
        self.parts = [np.ascontiguousarray(x, dtype=float) for x in parts]
        self.theta0 = np.asarray(theta0, dtype=float)
        if self.theta0.shape != (mg.npar,):
            raise ValueError(f"theta0 must have {mg.npar} elements, got {self.theta0.shape}")
        self.likelihood, self.missing = likelihood, missing
        self.model_text, self.groups = model_text, list(groups)
        self.group_column, self.options = group_column, dict(options or {})
        if isinstance(seed, np.random.SeedSequence):
            self.seed = seed
            seed_id = f"{seed.entropy}:{seed.spawn_key}"
        else:
            self.seed = int(seed)
            seed_id = str(self.seed)
        h = hashlib.sha1(repr([m.rows for m in mg.models]).encode())
        h.update(repr((mg.models[0].pt.definitions, mg.meanstructure, mg.npar)).encode())
        for x in self.parts:
            h.update(x.tobytes())
        h.update(self.theta0.tobytes())
        h.update(f"{seed_id}:{missing}:{likelihood}:{sorted(self.options.items())}".encode())
        self.key = "mg-boot:" + h.hexdigest()

    @property
    def n_rows(self) -> int:
        """Rows of the parameter table: every group's rows, then the ``:=`` rows."""
        return sum(len(m.rows) for m in self.mg.models) + len(self.mg.models[0].defined)

    def setup(self):
        from pipeline.sem.estimate import Estimator
        mg = self.mg
        ests = [Estimator(m, likelihood=self.likelihood, missing=self.missing,
                          meanstructure=mg.meanstructure) for m in mg.models]
        x_idx = [e.x_idx for e in ests]
        ids = None
        if self.missing == "fiml":
            from pipeline.sem.fiml import pattern_index
            ids = [pattern_index(np.isnan(x)) for x in self.parts]
        var_rows = [np.array([k for k, r in enumerate(m.rows) if r["op"] == "~~"
                              and r["lhs"] == r["rhs"] and r["par"] >= 0], dtype=int)
                    for m in mg.models]
        constrained = len(mg.models[0].constraints) > 0
        return ests, x_idx, ids, var_rows, constrained

    def _stacked(self, ests, sts):
        """``F = sum_g (n_g/N) F_g`` with gradient, its Hessian and its Fisher metric."""
        N = sum(s.nobs for s in sts)
        w = [s.nobs / N for s in sts]

        def obj(t, gradient=True):
            if not gradient:
                return float(sum(wg * e.objective(t, s, gradient=False)
                                 for e, s, wg in zip(ests, sts, w)))
            f, gr = 0.0, 0.0
            for e, s, wg in zip(ests, sts, w):
                fg, gg = e.objective(t, s)
                f += wg * fg
                gr = gr + wg * gg
            return float(f), np.asarray(gr, dtype=float)

        def hess(t):
            return sum(wg * e.hessian(t, s) for e, s, wg in zip(ests, sts, w))

        def info(t):
            return sum(wg * e.expected_information(t, s) for e, s, wg in zip(ests, sts, w))

        return obj, hess, info

    def _stats(self, X, x_idx, ids):
        from pipeline.sem.estimate import sample_stats
        if self.missing == "fiml":
            from pipeline.sem.fiml import fiml_sample_stats
            # the per-pattern summaries too: the engine's exact Hessian sums over them
            st = fiml_sample_stats(X, em=False, patterns=True, pattern_ids=ids)
            if len(x_idx):     # fixed.x covariates are complete: their exact moments
                xs = X[:, x_idx]
                st.mean[x_idx] = xs.mean(axis=0)
                st.cov[np.ix_(x_idx, x_idx)] = np.cov(xs, rowvar=False, bias=True).reshape(
                    len(x_idx), len(x_idx))
            return st
        return sample_stats(X, likelihood=self.likelihood, missing="listwise")

    def _refit_constrained(self, Xs):
        """General constraints: the whole multi-group fit (SLSQP) on the resample."""
        import warnings

        import pandas as pd

        from pipeline.core.exceptions import PipelineWarning
        from pipeline.sem.multigroup import fit_multigroup
        observed = list(self.mg.models[0].observed)
        frames = []
        for g, X in zip(self.groups, Xs):
            f = pd.DataFrame(X, columns=observed)
            f[self.group_column] = g
            frames.append(f)
        o = self.options
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PipelineWarning)
            r = fit_multigroup(self.model_text, pd.concat(frames, ignore_index=True),
                               self.group_column, group_equal=o.get("group.equal", ()),
                               group_partial=o.get("group.partial", ()),
                               estimator="ML", likelihood=self.likelihood, missing=self.missing,
                               fixed_x=o.get("fixed.x", True), std_lv=o.get("std.lv", False),
                               meanstructure=o.get("meanstructure"), se=False, baseline=False,
                               emit_warnings=False, start=self.theta0)
        return r.converged, r.theta, r.stats

    def run(self, state, start: int, stop: int):
        from pipeline.core.parallel import draw_seeds
        from pipeline.sem.estimate import newton_minimize
        ests, x_idx, ids, var_rows, constrained = state
        models = self.mg.models
        d = models[0].defined
        out = np.full((stop - start, self.n_rows), np.nan)
        status = np.zeros(stop - start, dtype=np.int8)
        for j, ss in enumerate(draw_seeds(self.seed, start, stop)):
            rng = np.random.default_rng(ss)
            try:
                with np.errstate(all="ignore"):
                    Xs, sts = [], []
                    for g, x in enumerate(self.parts):
                        n = x.shape[0]
                        idx = rng.integers(0, n, size=n)
                        Xs.append(x[idx])
                        if not constrained:
                            sts.append(self._stats(Xs[-1], x_idx[g], None if ids is None
                                                   else (ids[g][0], ids[g][1][idx])))
                            if self.missing == "listwise" and not np.isfinite(sts[-1].logdet):
                                raise ValueError("singular resampled covariance matrix")
                    if constrained:
                        ok, theta, sts = self._refit_constrained(Xs)
                    else:
                        # the engine's damped Newton iterations (exact Hessian) from
                        # the full-sample estimates: the in-process loop's optimizer
                        # (a warm-started BFGS can stop at another stationary point
                        # of these small groups' likelihoods)
                        obj, hess, info = self._stacked(ests, sts)
                        f0, g0 = obj(self.theta0)
                        theta, _, ok, _, _, _ = newton_minimize(
                            obj, hess, info, self.theta0, f0, g0, maxiter=300, gtol=1e-9,
                            lbfgs_maxiter=5000)
            except (np.linalg.LinAlgError, ValueError, ArithmeticError):
                status[j] = NOT_CONVERGED
                continue
            if not ok:
                status[j] = NOT_CONVERGED
                continue
            rows, inadm = [], False
            for m, e, s, vr in zip(models, ests, sts, var_rows):
                vals = m.row_values(theta, e.exo_values(s))
                inadm = inadm or bool(np.any(vals[vr] < 0))
                rows.append(vals)
            if len(d):
                rows.append(np.asarray(d.evaluate(_mg_label_env(models, ests, sts, theta)),
                                       dtype=float))
            out[j] = np.concatenate(rows)
            status[j] = INADMISSIBLE if inadm else OK
        return out, status


def multigroup_bootstrap_draws(res, B: int, seed, *, workers: int | None = None,
                               scheduler=None, chunk_size: int | None = None,
                               progress: bool = True):
    """Bootstrap draws of a multi-group fit on local processes or Dask.

    Parameters
    ----------
    res : MultiGroupResult
        A fit of :func:`pipeline.sem.multigroup.fit_multigroup` (or
        ``pipeline.sem.fit(..., group=)``): ML, MLM or MLR (the draws are
        the ML estimates), complete data or FIML.
    B : int
    seed : int or numpy.random.SeedSequence
        Draw *i* uses ``SeedSequence(seed).spawn(B)[i]``, resampling the
        groups in order: the same resamples as the in-process loop of
        :func:`pipeline.sem.bootstrap.bootstrap_multigroup`.
    workers, scheduler, chunk_size
        See :func:`pipeline.core.parallel.map_draws`; they never change the
        results.
    progress : bool

    Returns
    -------
    est : ndarray (B, rows of ``res.parameters``)
        Every row's estimate (each group's rows, then ``:=`` rows); NaN rows
        for failed draws.
    status : ndarray (B,) of int8
        0 ok, 1 failed (not converged, singular resample), 2 inadmissible
        (a negative variance estimate in some group).

    Raises
    ------
    ValueError
        *B* not positive, or a least-squares (WLSMV/DWLS/ULS) fit.

    In R: ``lavaan::bootstrapLavaan(fit, R = B, FUN = function(x)
    parameterEstimates(x)$est, parallel = "multicore", ncpus = workers)``.
    """
    if int(B) != B or B < 1:
        raise ValueError(f"B must be a positive integer, got {B!r}")
    if getattr(res, "wls", None) is not None or str(res.estimator).upper() in (
            "WLSMV", "DWLS", "ULS", "ULSMV", "WLS"):
        raise ValueError(f"bootstrap: estimator={res.estimator!r} is a least-squares fit; "
                         "the multi-group bootstrap covers ML, MLM and MLR")
    B = int(B)
    opts = dict(res.options)
    task = MultiGroupBootstrapTask(
        res.mg, [st.data for st in res.stats], res.theta, seed, likelihood=res.likelihood,
        missing=res.missing, model_text=res.model_text, groups=res.groups,
        group_column=res.group_column,
        options={k: opts.get(k) for k in ("group.equal", "group.partial", "fixed.x",
                                          "meanstructure", "std.lv") if k in opts})
    return _collect_draws(task, B, task.n_rows, workers=workers, chunk_size=chunk_size,
                          scheduler=scheduler, progress=progress)


# ------------------------------------------------- single fits: complete-data ML
def _engine_estimator():
    from pipeline.sem.estimate import Estimator
    return Estimator


class FastMLEstimator(_engine_estimator()):
    """The engine's :class:`~pipeline.sem.estimate.Estimator` whose complete-data
    covariance-structure fits are minimised by :class:`FastML`.

    ``optimize`` runs :meth:`FastML.fit` (BFGS with the expected information
    as initial metric, a gradient through the RAM matrices, no Jacobian or
    Hessian per iteration) from the engine's start values; everything else
    (FIML, mean structures, standard errors, fit measures) is the base
    class.  On an 80-indicator, 10-factor CFA this replaces 8 Newton
    iterations with the exact Hessian (about 80 ms each) by about 30 cheap
    quasi-Newton iterations.  If :class:`FastML` does not converge or stops
    at an inadmissible solution, the base class's Newton iterations run
    from the same start.

    In R: ``lavaan::sem(model, data)`` (nlminb, quasi-Newton).
    """

    _fast: FastML | None = None

    def optimize(self, stats, start=None, *, maxiter: int = 200, gtol: float = 1e-9):
        from pipeline.sem.estimate import OptimResult
        if self.missing != "listwise" or self.meanstructure or self.model.is_m.any():
            return super().optimize(stats, start=start, maxiter=maxiter, gtol=gtol)
        if self._fast is None:
            self._fast = FastML(self.model)
        theta0 = self.start_values(stats) if start is None else np.asarray(start, float)
        if start is not None:            # warm start at an optimum: nothing to do
            f0, g0 = self.objective(theta0, stats)
            if np.isfinite(f0) and np.max(np.abs(g0)) < gtol:
                return OptimResult(theta0.copy(), float(f0), True, 0, "bfgs-fast")
        # tolerances tighter than the bootstrap's: a single fit is reported to 1e-6
        r = self._fast.fit(stats.cov, start=theta0, max_iter=maxiter, xtol=1e-9, ftol=1e-15)
        if np.isfinite(r.fmin) and r.admissible and r.iterations < maxiter:
            f, g = self.objective(r.theta, stats)
            if np.isfinite(f) and np.max(np.abs(g)) < 1e-8:
                return OptimResult(r.theta, float(f), True, r.iterations, "bfgs-fast")
            if np.isfinite(f) and np.max(np.abs(g)) < 1e-4:
                # close, at BFGS's rounding floor: Fisher scoring steps (the expected
                # information X'X, no line search; each must shrink the gradient)
                # are cheaper than Newton's exact Hessian; one step usually suffices
                th, it = r.theta, r.iterations
                for _ in range(3):
                    step = np.linalg.lstsq(self._fast.information(th, stats.cov), g,
                                           rcond=None)[0]
                    f2, g2 = self.objective(th - step, stats)
                    if not (np.isfinite(f2) and np.max(np.abs(g2)) < np.max(np.abs(g))):
                        break
                    th, f, g, it = th - step, f2, g2, it + 1
                    if np.max(np.abs(g)) < 1e-8 and self._fast._admissible_theta(th, stats.cov):
                        return OptimResult(th, float(f), True, it, "bfgs-fast")
            if np.isfinite(f) and np.max(np.abs(g)) < 1e-4:
                # quasi-Newton at its rounding floor: Newton steps finish
                r2 = super().optimize(stats, start=r.theta, maxiter=maxiter, gtol=gtol)
                if r2.converged:
                    return OptimResult(r2.theta, r2.fmin, True, r.iterations + r2.iterations,
                                       "bfgs-fast+newton")
        # not converged, or an inadmissible solution (on a ridge of a model that is
        # not identified the two optimizers can stop at different points): the
        # engine's Newton iterations from the same start decide
        return super().optimize(stats, start=start, maxiter=maxiter, gtol=gtol)

    def expected_information(self, theta, stats):
        """Expected information per observation, ``X'X / 2`` from the whitened
        Jacobian of :class:`FastML` (complete data, no mean structure); the
        base class otherwise."""
        if self.missing != "listwise" or self.meanstructure or self.model.is_m.any():
            return super().expected_information(theta, stats)
        if self._fast is None:
            self._fast = FastML(self.model)
        return self._fast.information(np.asarray(theta, float), stats.cov) / 2.0
