"""Least-squares estimators: WLSMV / DWLS / ULSMV for ordinal items, ULS for continuous data.

Ordinal items (delta parameterization, lavaan's default): each item is a
discretised standard normal ``y*``; the sample statistics are the
thresholds and the polychoric correlations (:func:`pipeline.sem.ordinal.wls_stats`),
``s = [tau ; vech(R, diagonal=FALSE)]``.  The model implies
``sigma(theta) = [tau ; vech(Sigma*(theta), diagonal=FALSE)]`` where the
residual variances of the items are not free but ``1 - diag(Lambda Psi Lambda')``
(so that ``diag(Sigma*) = 1``; they appear in the parameter table as fixed
values, as lavaan shows them).  The estimate minimises

    F = (s - sigma)' W (s - sigma),     chisq = (N - 1) F  (lavaan),

with ``W = diag(1 / diag(Gamma))`` (DWLS, WLSMV) or ``W = I`` (ULS, ULSMV),
``Gamma`` the asymptotic covariance of ``sqrt(N) s`` (Muthen 1984).
Standard errors: ``E^-1 Delta' W Gamma W Delta E^-1 / (N - 1)`` with
``E = Delta' W Delta`` (``robust.sem``: WLSMV, ULSMV) or ``E^-1 / (N - 1)``
(``standard``: DWLS, ULS); test: the mean-and-variance adjusted
(scaled-shifted) statistic of Asparouhov & Muthen (2010) for WLSMV / ULSMV
(:func:`pipeline.sem.robust.scaled_test`).

Continuous variables next to ordinal items enter as lavaan does (their
``-mean`` among the thresholds, their variances, covariances with
polyserial / Pearson parts); exogenous covariates make the statistics
conditional on them (lavaan's ``conditional.x``: thresholds and slopes of
probit regressions, residual polychoric correlations; the model's moments
of the items given the covariates, residual variances derived so that
``diag(Sigma_yy|x) = 1``).

In R: ``cfa(model, data, ordered = items, estimator = "WLSMV")``.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import linalg

from pipeline.core.exceptions import (ConvergenceWarning, DataValidationError,
                                      IdentificationWarning, ModelSpecificationError)
from pipeline.sem import robust
from pipeline.sem.estimate import Estimator, SampleStats
from pipeline.sem.model import SEMModel
from pipeline.sem.ordinal import WLSStats, wls_stats, wls_stats_x
from pipeline.sem.standardize import standardize

__all__ = ["fit_wls", "WLSFit", "wls_baseline", "refit_wls"]


@dataclass
class WLSFit:
    """What a WLS fit adds to :class:`~pipeline.sem.results.SEMResult` (``result.wls``)."""

    estimator: str
    ordinal: bool
    obs: np.ndarray            # sample statistics s
    implied: np.ndarray        # sigma(theta_hat)
    weights: np.ndarray        # per-case diagonal weights W
    gamma: np.ndarray          # per-case Gamma
    delta: np.ndarray          # Jacobian d sigma / d theta (thresholds last)
    nth: int                   # number of thresholds (0 for continuous ULS)
    th_names: list
    fmin: float                # lavaan's fmin (F / 2)
    stats: WLSStats | None = None
    #: what :func:`refit_wls` needs (the compiled problem and the data layout)
    context: dict | None = None


def _strip_thresholds(pt):
    """A copy of the parameter table without ``|`` rows (thresholds are added here)."""
    rows = [r for r in pt.rows if r["op"] == "|"]
    for r in rows:
        if not r["free"] or r.get("label"):
            raise ModelSpecificationError(
                f"fixed or labelled thresholds ({r['lhs']} | {r['rhs']}) are not supported by "
                "the single-group WLS fit yet; thresholds are free")
    pt2 = copy.copy(pt)
    pt2.rows = [dict(r) for r in pt.rows if r["op"] != "|"]
    return pt2


def _ordinal_partable(pt, ordered: list[str]):
    """Residual variances of ordinal items fixed (their value is derived: delta parameterization)."""
    pt2 = _strip_thresholds(pt)
    for r in pt2.rows:
        if r["op"] == "~~" and r["lhs"] == r["rhs"] and r["lhs"] in ordered:
            if not r["free"] and r.get("user"):
                raise ModelSpecificationError(
                    f"a fixed residual variance of the ordinal item {r['lhs']} needs the theta "
                    "parameterization, which is not implemented")
            r["free"] = False
            r["ustart"] = 0.0
            r["label"] = r.get("label") or ""
        if r["op"] == "~1" and r["lhs"] in ordered:
            if r.get("user"):
                raise ModelSpecificationError(
                    f"intercepts of ordinal items ({r['lhs']} ~ 1) are fixed at 0 in the delta "
                    "parameterization")
            r["free"] = False
            r["ustart"] = 0.0
    return pt2


class _WLSProblem:
    """sigma(theta) and its Jacobian for a compiled model.

    For ordinal items the residual variances (``dv`` rows, fixed in the
    table) are derived so that every item's ``y*`` has unit variance:
    ``v(theta, d) = diag(Sigma)[items] = 1`` is solved for ``d`` by a
    fixed-point sweep (exact after as many sweeps as the longest chain of
    ordinal items predicting each other), and the Jacobian adds
    ``dSigma/dd * dd/dtheta`` with ``dd/dtheta = -(dv/dd)^-1 dv/dtheta``
    (implicit function theorem).
    """

    def __init__(self, model: SEMModel, ordinal: bool, nth: int, meanstructure: bool,
                 ordered: list[str] | None = None, ws: WLSStats | None = None,
                 x_idx: list[int] | None = None, exo: np.ndarray | None = None):
        self.m = model
        self.ordinal = ordinal
        self.nth = nth
        self.ms = meanstructure
        self.rows = np.flatnonzero(model.free_mask)
        self.exo = exo
        # conditional.x: the statistics are moments of the items given the
        # covariates: slopes Pi = Sigma_yx Sigma_xx^-1 and the residual
        # covariance Sigma_yy - Pi Sigma_xy
        self.xi = np.array(x_idx or [], dtype=int)
        self.cond = len(self.xi) > 0
        self.yi = np.array([j for j in range(model.p) if j not in set(self.xi.tolist())],
                           dtype=int)
        p = len(self.yi)
        if ordinal:
            # layout of lavaan's WLS.obs: TH (ordinal thresholds; -mean of a
            # continuous variable), VAR (continuous variables), COV off-diagonal
            num = list(ws.numeric) if ws is not None else []
            self.num = np.array(num, dtype=int)
            item = np.asarray(ws.th_item) if ws is not None else np.zeros(nth, dtype=int)
            is_num = np.isin(item, self.num)
            self.num_pos = np.flatnonzero(is_num)
            self.num_item = item[is_num]
            self.ord_pos = np.flatnonzero(~is_num)
            self.nTH = len(item)
            self.r = np.array([i for j in range(p) for i in range(j + 1, p)], dtype=int)
            self.c = np.array([j for j in range(p) for i in range(j + 1, p)], dtype=int)
            ordered = set(ordered or [])
            self.dv_rows = np.array([k for k, r in enumerate(model.rows)
                                     if r["op"] == "~~" and r["lhs"] == r["rhs"]
                                     and r["lhs"] in ordered], dtype=int)
            self.dv_nodes = model.ii[self.dv_rows]
            ypos = {int(j): a for a, j in enumerate(self.yi)}
            self.dv_eff = np.array([ypos[int(n_)] for n_ in self.dv_nodes], dtype=int)
        else:
            self.r, self.c = robust.vech_indices(p)
            self.dv_rows = np.zeros(0, dtype=int)
            self.dv_nodes = np.zeros(0, dtype=int)
            self.dv_eff = self.dv_nodes
        self.k = model.npar + nth

    def _eff(self, Sigma, dS=None):
        """The covariance the statistics refer to (conditional on x under
        conditional.x) with its Jacobian, and the slopes with theirs."""
        if not self.cond:
            return Sigma, dS, None, None
        yi, xi = self.yi, self.xi
        Sxxi = np.linalg.inv(Sigma[np.ix_(xi, xi)])
        Syx = Sigma[np.ix_(yi, xi)]
        Pi = Syx @ Sxxi
        Cy = Sigma[np.ix_(yi, yi)] - Pi @ Syx.T
        if dS is None:
            return Cy, None, Pi, None
        dSyx = dS[np.ix_(yi, xi)]
        dPi = np.einsum("abk,bc->ack", dSyx, Sxxi)
        t = np.einsum("abk,db->adk", dPi, Syx)
        dCy = dS[np.ix_(yi, yi)] - t - t.transpose(1, 0, 2)
        return Cy, dCy, Pi, dPi

    def values(self, theta):
        """Row values with the derived residual variances filled in."""
        m = self.m
        vals = m.row_values(theta[:m.npar], self.exo)
        if len(self.dv_rows):
            for _ in range(len(self.dv_rows) + 2):
                Sigma = self._eff(m.moments(vals)[0])[0]
                gap = 1.0 - np.diag(Sigma)[self.dv_eff]
                vals[self.dv_rows] += gap
                if np.max(np.abs(gap)) < 1e-14:
                    break
        return vals

    def lavaan_values(self, theta):
        """Row values as lavaan reports them: the derived residual variances from
        one sweep, ``1 - diag(Sigma(theta, d = 0))`` (differs from :meth:`values` only
        for items downstream of another ordinal item, e.g. indicators of a factor
        that an ordinal item predicts)."""
        m = self.m
        vals = m.row_values(theta[:m.npar], self.exo)
        if len(self.dv_rows):
            vals[self.dv_rows] = 1.0 - np.diag(self._eff(m.moments(vals)[0])[0])[self.dv_eff]
        return vals

    def implied(self, theta, implicit: bool = True):
        """``(sigma, Jacobian)``; ``implicit=False`` leaves out the dependence of the
        derived residual variances on theta, as lavaan's Delta does (used for the
        standard errors and the test, to match lavaan)."""
        m = self.m
        vals = self.values(theta)
        Sigma, mu, B, C, Bm = m.moments(vals)
        dS, dm = m.row_jacobian(B, C, Bm, self.rows)
        P = m.P[self.rows]
        dS = dS @ P
        dm = dm @ P
        Sigma, dS, Pi, dPi = self._eff(Sigma, dS)
        if len(self.dv_rows) and implicit:
            dSd, _ = m.row_jacobian(B, C, Bm, self.dv_rows)
            dSd = self._eff(m.moments(vals)[0], dSd)[1]
            n_ = self.dv_eff
            dv_dtheta = dS[n_, n_, :]
            dv_dd = dSd[n_, n_, :]
            dd = -np.linalg.solve(dv_dd, dv_dtheta)
            dS = dS + dSd @ dd
            if self.cond:
                dPi = dPi + self._eff(m.moments(vals)[0],
                                      m.row_jacobian(B, C, Bm, self.dv_rows)[0])[3] @ dd
        sig = Sigma[self.r, self.c]
        J = dS[self.r, self.c, :]
        if self.ordinal:
            k, npar = self.k, m.npar
            TH = np.empty(self.nTH)
            TH[self.ord_pos] = theta[npar:]
            JT = np.zeros((self.nTH, k))
            JT[self.ord_pos, npar + np.arange(self.nth)] = 1.0
            if len(self.num):
                TH[self.num_pos] = -mu[self.num_item]
                JT[self.num_pos, :npar] = -dm[self.num_item]
            nv = self.num
            JV = np.zeros((len(nv), k))
            JV[:, :npar] = dS[nv, nv, :]
            JC = np.zeros((len(self.r), k))
            JC[:, :npar] = J
            if self.cond:      # vec(Pi): for each covariate, all items
                nyx = Pi.size
                JS = np.zeros((nyx, k))
                JS[:, :npar] = dPi.transpose(1, 0, 2).reshape(nyx, npar)
                sig = np.concatenate([TH, Pi.T.ravel(), sig])
                J = np.vstack([JT, JS, JC])
            else:
                sig = np.concatenate([TH, Sigma[nv, nv], sig])
                J = np.vstack([JT, JV, JC])
        elif self.ms:
            sig = np.concatenate([mu, sig])
            J = np.vstack([dm, J])
        return sig, J


def _solve(problem: _WLSProblem, s: np.ndarray, w: np.ndarray, start: np.ndarray,
           maxiter: int = 200):
    """Gauss-Newton on ``F = (s - sigma)' W (s - sigma)`` with step halving
    (Levenberg damping when J'WJ is singular); scipy's least_squares if that fails."""
    theta = np.array(start, dtype=float)

    def F(t):
        try:
            r = s - problem.implied(t)[0]
        except np.linalg.LinAlgError:
            return np.inf
        f = float(np.sum(w * r * r))
        return f if np.isfinite(f) else np.inf

    f = F(theta)
    ok = False
    it = 0
    for it in range(1, maxiter + 1):
        sig, J = problem.implied(theta)
        r = s - sig
        WJ = w[:, None] * J
        H = J.T @ WJ
        g = WJ.T @ r                      # -1/2 dF/dtheta
        try:
            step = linalg.solve(H, g, assume_a="pos")
        except (linalg.LinAlgError, ValueError):
            step = linalg.solve(H + 1e-6 * np.trace(H) / len(H) * np.eye(len(H)), g)
        t = 1.0
        while True:
            new = theta + t * step
            fn = F(new)
            if fn <= f:
                break
            t *= 0.5
            if t < 1e-10:
                break
        if t < 1e-10:
            break
        theta, f_old, f = new, f, fn
        if np.max(np.abs(g)) < 1e-10 or np.max(np.abs(t * step)) < 1e-12 or (f_old - f) < 1e-16 * max(1.0, f):
            sig, J = problem.implied(theta)
            gr = (w[:, None] * J).T @ (s - sig)
            ok = bool(np.max(np.abs(gr)) < 1e-6)
            if ok:
                break
    if ok:
        return theta, True, it, "gauss-newton"
    sw = np.sqrt(w)
    from scipy import optimize
    res = optimize.least_squares(lambda t: sw * (s - problem.implied(t)[0]), theta,
                                 jac=lambda t: -sw[:, None] * problem.implied(t)[1],
                                 method="trf", xtol=1e-15, ftol=1e-15, gtol=1e-12,
                                 max_nfev=2000)
    g = res.jac.T @ res.fun
    return res.x, bool(res.success or np.max(np.abs(g)) < 1e-7), it + int(res.nfev), str(res.message)


def wls_baseline(s: np.ndarray, w: np.ndarray, gamma: np.ndarray, N: int, nth: int,
                 ordinal: bool, p: int, meanstructure: bool, scaled: bool):
    """Independence model: thresholds (or means and variances) free, correlations 0.

    Returns ``(chisq, df, scaled test dict or None)``.
    """
    q = len(s)
    if ordinal:
        free = np.arange(nth)
    else:
        r, c = robust.vech_indices(p)
        off = p if meanstructure else 0
        free = np.concatenate([np.arange(off), off + np.flatnonzero(r == c)]).astype(int)
    D = np.zeros((q, len(free)))
    D[free, np.arange(len(free))] = 1.0
    resid = s.copy()
    resid[free] = 0.0
    chisq = float((N - 1) * np.sum(w * resid ** 2))
    df = q - len(free)
    test = None
    if scaled:
        tr, tr2 = robust.ugamma_traces(D, w, gamma, N)
        test = robust.scaled_test(chisq, df, tr, tr2, "scaled.shifted")
    return chisq, df, test


def fit_wls(model, data: pd.DataFrame, *, estimator: str, ordered, se: bool = True,
            emit_warnings: bool = True, source: str | None = None, fixed_x: bool = True,
            meanstructure: bool | None = None, missing: str = "listwise"):
    """Fit by WLSMV / DWLS / ULSMV (ordinal items) or ULS (continuous); see the module docstring.

    Returns an :class:`~pipeline.sem.results.SEMResult` whose ``wls``
    attribute is a :class:`WLSFit`, ``test_scaled`` the scaled-shifted test
    (WLSMV, ULSMV), and whose parameter table has the thresholds
    (``op = "|"``, rhs ``t1``, ``t2``, ...).

    In R: ``cfa(model, data, ordered = , estimator = )``.
    """
    from pipeline.sem.results import (SEMResult, _read_model_text, _rsquare, _warn,
                                      build_model, prepare_data)
    from pipeline.sem.syntax import ParsedModel, parse_model
    if missing != "listwise":
        raise ValueError(f"estimator={estimator!r} uses listwise deletion here "
                         "(missing='listwise'); pairwise WLS is not implemented")
    if isinstance(model, SEMModel):
        raise TypeError("fit_wls needs lavaan syntax (text or a .lav path), not a built SEMModel")
    text = model if isinstance(model, ParsedModel) else _read_model_text(model)
    model_text = text.text if isinstance(text, ParsedModel) else text
    parsed = text if isinstance(text, ParsedModel) else parse_model(text)
    ordinal = bool(ordered)
    base = build_model(parsed, meanstructure=bool(meanstructure) and not ordinal,
                       fixed_x=fixed_x)
    ov_x = list(base.pt.ov_x)
    observed = list(base.observed)
    ynames = [v for v in observed if v not in ov_x]
    if ordered == "all":
        ordered = ynames
    if ov_x and not ordinal:
        raise ModelSpecificationError(
            f"estimator={estimator!r} with exogenous observed covariates "
            f"({', '.join(ov_x)}) and continuous data is not implemented; use ML/MLR")
    mixed = ordinal and any(v not in ordered for v in ynames)
    conditional = ordinal and bool(ov_x)
    if conditional and mixed:
        raise ModelSpecificationError(
            f"estimator={estimator!r} with exogenous covariates ({', '.join(ov_x)}) and "
            "continuous endogenous variables is not implemented: declare every indicator "
            "ordered")
    if mixed:
        base = build_model(parsed, meanstructure=True, fixed_x=fixed_x)
    warn_list: list[str] = []
    emit = emit_warnings
    if ordinal:
        unknown = [v for v in ordered if v not in observed]
        if unknown:
            raise ModelSpecificationError(
                f"ordered= names variable(s) not in the model: {', '.join(unknown)}")
        pt = _ordinal_partable(base.pt, list(ordered))
        sem_model = SEMModel(pt)
    else:
        sem_model = SEMModel(_strip_thresholds(base.pt)) if any(
            r["op"] == "|" for r in base.pt.rows) else base
    X, kept = prepare_data(data, sem_model, missing="listwise", source=source)
    N = X.shape[0]
    p = sem_model.p
    ws, s, gamma, nth, cov0, mean0, yidx, xidx = _sample_side(
        X, observed, ynames, ov_x, ordered, ordinal, conditional, sem_model.meanstructure,
        source=source, kept=kept)
    if ws is not None and ws.notes:
        from pipeline.sem.ordinal import EmptyCategoryWarning
        for note in ws.notes:
            _warn(warn_list, note, EmptyCategoryWarning, emit)
    diag_w = estimator in ("WLSMV", "DWLS")
    w = 1.0 / np.diag(gamma) if diag_w else np.ones(len(s))
    est0 = Estimator(sem_model, meanstructure=sem_model.meanstructure)
    st0 = SampleStats(nobs=N, cov=cov0, mean=mean0)
    problem = _WLSProblem(sem_model, ordinal, nth, sem_model.meanstructure and not ordinal,
                          list(ordered) if ordinal else None, ws, x_idx=xidx if conditional
                          else None, exo=est0.exo_values(st0))
    df = len(s) - problem.k
    if df < 0:
        raise ModelSpecificationError(
            f"the model has more free parameters ({problem.k}) than sample statistics "
            f"({len(s)}): df = {df} < 0, the model is not identified")
    start = est0.start_values(st0)
    if ordinal:
        start = np.concatenate([start, ws.th[problem.ord_pos]])
    theta, ok, nfev, msg = _solve(problem, s, w, start)
    admissible = True
    if not ok:
        _warn(warn_list, f"the least-squares optimizer did not converge ({msg})",
              ConvergenceWarning, emit)
        admissible = False
    sig, J = problem.implied(theta, implicit=False)
    resid = s - sig
    F = float(np.sum(w * resid ** 2))
    chisq = (N - 1) * F          # lavaan: fmin = (N-1)/N F/2, chisq = 2 N fmin
    # --- standard errors and test
    E = J.T @ (w[:, None] * J)
    vcov = np.full((problem.k, problem.k), np.nan)
    robust_se = estimator in ("WLSMV", "ULSMV")
    test = None
    try:
        E_inv = linalg.inv(E)
        E_inv = (E_inv + E_inv.T) / 2
    except linalg.LinAlgError:
        E_inv = None
        _warn(warn_list, "the information matrix is singular: the model may not be "
              "identified; standard errors are not available", IdentificationWarning, emit)
        admissible = False
    if E_inv is not None:
        if se:
            # lavaan divides by N - (number of groups) for least-squares estimators
            if robust_se:
                vcov = robust.sandwich_vcov(E_inv, robust.robust_sem_meat(J, w, gamma, N), N - 1)
            else:
                vcov = E_inv / (N - 1)
        if robust_se:
            tr, tr2 = robust.ugamma_traces(J, w, gamma, N, E_inv)
            test = robust.scaled_test(chisq, df, tr, tr2, "scaled.shifted")
    b_chisq, b_df, b_test = wls_baseline(s, w, gamma, N,
                                         (len(ws.th) + len(ws.numeric)
                                          + len(ynames) * len(ov_x)) if ordinal else 0,
                                         ordinal, p, problem.ms, robust_se)
    # --- parameter table
    m = sem_model
    vals = problem.values(theta)
    Sigma, mu, B, C, Bm = m.moments(vals)
    # the table reports lavaan's values of the derived residual variances and
    # standardizes with the variances they imply (see _WLSProblem.lavaan_values)
    tvals = problem.lavaan_values(theta) if ordinal else vals
    tC = m.moments(tvals)[3]
    params = _table(m, theta, tvals, tC, vcov, ws, ordinal)
    r2 = _rsquare(m, params)
    Sigma = (Sigma + Sigma.T) / 2
    heywood = [f"{r['lhs']} ({vals[k]:.4g})" for k, r in enumerate(m.rows)
               if r["op"] == "~~" and r["lhs"] == r["rhs"] and vals[k] < 0]
    if heywood:
        from pipeline.core.exceptions import HeywoodCaseWarning
        _warn(warn_list, "negative variance estimate(s) (Heywood case): " + ", ".join(heywood),
              HeywoodCaseWarning, emit)
        admissible = False
    if robust_se and ordinal and E_inv is not None:
        test["catml"] = catml_corrected(problem, theta, ws, J, w, E_inv, df, N)
    wfit = WLSFit(estimator=estimator, ordinal=ordinal, obs=s, implied=sig, weights=w,
                  gamma=gamma, delta=J, nth=nth, th_names=list(ws.th_names) if ws else [],
                  fmin=(N - 1) / N * F / 2, stats=ws,
                  context={"problem": problem, "observed": observed, "ynames": ynames,
                           "ov_x": ov_x, "ordered": list(ordered) if ordinal else [],
                           "ordinal": ordinal, "conditional": conditional,
                           "ms": sem_model.meanstructure, "diag": diag_w})
    options = {"estimator": estimator, "missing": "listwise", "meanstructure": problem.ms,
               "ordered": list(ordered) if ordinal else [],
               "parameterization": "delta" if ordinal else "",
               "se": ("robust.sem" if robust_se else "standard") if se else "none",
               "test": "scaled.shifted" if robust_se else "standard",
               "information": "expected", "optimizer": msg if ok else "least_squares"}
    res = SEMResult(
        model=m, estimator=est0, stats=SampleStats(nobs=N, cov=cov0, mean=mean0, data=X),
        theta=theta, nobs=N, likelihood="normal", missing="listwise",
        meanstructure=problem.ms, observed=ynames if conditional else observed,
        sample_cov=ws.cor if conditional else cov0,
        sample_mean=np.zeros(len(ynames)) if conditional else mean0,
        implied_cov=problem._eff(Sigma)[0] if conditional else Sigma,
        implied_mean=np.zeros(len(ynames)) if conditional else (mu if problem.ms else mean0),
        npar=problem.k,
        df=int(df), fmin=float(F), chisq=float(chisq), baseline_chisq=float(b_chisq),
        baseline_df=int(b_df), logl=math.nan, logl_unrestricted=math.nan, converged=ok,
        admissible=admissible, warnings=warn_list, parameters=params, r2=r2, vcov=vcov,
        iterations=nfev, optimizer=msg if ok else "least_squares", information="expected",
        model_text=model_text, options=options)
    res.estimator_name = estimator
    res.test_scaled = test
    res.baseline_test_scaled = b_test
    res.wls = wfit
    return res



def _sample_side(X, observed, ynames, ov_x, ordered, ordinal: bool, conditional: bool,
                 ms: bool, source=None, kept=None):
    """WLS statistics of a data matrix (columns in *observed* order):
    ``(ws, s, gamma, nth, cov0, mean0, yidx, xidx)``."""
    N, p = X.shape
    kept = np.arange(N) if kept is None else kept
    yidx = [observed.index(v) for v in ynames]
    xidx = [observed.index(v) for v in ov_x]
    if conditional:
        ws = wls_stats_x(np.hstack([X[:, yidx], X[:, xidx]]), ynames, ov_x, source=source,
                         row_numbers=kept + 2)
        s = ws.obs
        gamma = ws.gamma
        nth = len(ws.th)
        Xx = X[:, xidx]
        mx = Xx.mean(axis=0)
        Sxx = (Xx - mx).T @ (Xx - mx) / (N - 1)     # lavaan: unbiased cov.x (least squares)
        Pi = ws.slopes
        cov0 = np.zeros((p, p))
        cov0[np.ix_(yidx, yidx)] = ws.cor + Pi @ Sxx @ Pi.T
        cov0[np.ix_(yidx, xidx)] = Pi @ Sxx
        cov0[np.ix_(xidx, yidx)] = (Pi @ Sxx).T
        cov0[np.ix_(xidx, xidx)] = Sxx
        mean0 = np.zeros(p)
        mean0[xidx] = mx
        ws.xmeans = mx
    elif ordinal:
        ws = wls_stats(X, observed, list(ordered), source=source, row_numbers=kept + 2)
        s = ws.obs
        gamma = ws.gamma
        nth = len(ws.th) - len(ws.numeric)          # threshold parameters
        cov0 = ws.cov
        mean0 = np.where(np.isin(np.arange(p), ws.numeric), X.mean(axis=0), 0.0)
    else:
        ws = None
        mean0 = X.mean(axis=0)
        Xc = X - mean0
        cov0 = Xc.T @ Xc / (N - 1)     # lavaan: unbiased S for least-squares estimators
        r_, c_ = robust.vech_indices(p)
        s = cov0[r_, c_]
        if ms:
            s = np.concatenate([mean0, s])
        gamma = robust.gamma_adf(X, ms)
        nth = 0
    return ws, s, gamma, nth, cov0, mean0, yidx, xidx

def _table(m: SEMModel, theta, vals, C, vcov, ws, ordinal: bool) -> pd.DataFrame:
    from pipeline.sem.results import PARAM_COLUMNS, add_wald_columns
    se_all = np.sqrt(np.clip(np.diag(vcov), 0, None)) if np.all(np.isfinite(vcov)) else \
        np.full(len(theta), np.nan)
    std_lv, std_all = standardize(m, vals, C)
    recs = []
    for k, r in enumerate(m.rows):
        se = se_all[r["par"]] if r["par"] >= 0 else 0.0
        recs.append({"lhs": r["lhs"], "op": r["op"], "rhs": r["rhs"], "label": r["label"],
                     "est": vals[k], "se": se, "std.lv": std_lv[k], "std.all": std_all[k]})
    if ordinal:
        th_rows = []
        ord_names = [nm for nm in ws.th_names if "|" in nm]
        for t, name in enumerate(ord_names):
            item, tk = name.split("|")
            sd = math.sqrt(C[m.observed.index(item), m.observed.index(item)])
            th_rows.append({"lhs": item, "op": "|", "rhs": tk, "label": "",
                            "est": theta[m.npar + t], "se": se_all[m.npar + t],
                            "std.lv": theta[m.npar + t], "std.all": theta[m.npar + t] / sd})
        n_load = sum(1 for q in recs if q["op"] == "=~")
        recs = recs[:n_load] + th_rows + recs[n_load:]
        ordv = [v for j, v in enumerate(ws.names) if j not in set(ws.numeric)]
        for v in ordv:
            recs.append({"lhs": v, "op": "~*~", "rhs": v, "label": "", "est": 1.0, "se": 0.0,
                         "std.lv": 1.0, "std.all": 1.0})
        xn = list(getattr(ws, "xnames", []) or [])
        xm = dict(zip(xn, getattr(ws, "xmeans", [])))
        for v in ([] if ws.numeric else list(ws.names) + xn + list(m.latent)):
            val = float(xm.get(v, 0.0))
            sd = math.sqrt(C[m.nodes.index(v), m.nodes.index(v)]) if v in xm else 1.0
            recs.append({"lhs": v, "op": "~1", "rhs": "", "label": "", "est": val, "se": 0.0,
                         "std.lv": val / sd, "std.all": val / sd})
    d = m.defined
    if len(d):
        from pipeline.sem.results import _env_first, defined_jacobian
        npar = m.npar
        base, Jd = defined_jacobian(m, None, np.asarray(theta[:npar], dtype=float), None)
        Vm = vcov[:npar, :npar]
        dse = np.sqrt(np.clip(np.einsum("ij,jk,ik->i", Jd, Vm, Jd), 0, None))
        s_lv = d.evaluate(_env_first(m, std_lv))
        s_all = d.evaluate(_env_first(m, std_all))
        for i, (name, expr) in enumerate(zip(d.names, d.exprs)):
            recs.append({"lhs": name, "op": ":=", "rhs": expr.replace(" ", ""), "label": name,
                         "est": base[i], "se": dse[i], "std.lv": s_lv[i], "std.all": s_all[i]})
    df = pd.DataFrame.from_records(recs)
    return add_wald_columns(df)[PARAM_COLUMNS]


def catml_corrected(problem: _WLSProblem, theta, ws: WLSStats, J, w, E_inv, df, N) -> dict | None:
    """Savalei's catML statistics for robust CFI/TLI/RMSEA of an ordinal DWLS fit.

    The DWLS estimates are evaluated by the normal-theory ML discrepancy
    against the polychoric matrix R: ``XX3 = N F_ML(R, P(theta))`` (P the
    implied correlation matrix); its scaling
    ``c = tr(M' V M Gamma_r) / df`` with ``M = I - Delta_r E^-1 Delta_r' W_r``
    (``_r``: the correlation rows), ``V`` the normal-theory information of the
    correlations at P; the baseline ``XX3_null = -N log|R|``,
    ``c_null = tr(Gamma_r) / (p(p-1)/2)``.  NaN when R is not positive definite.

    Reference: Savalei, V. (2021). Improving fit indices in structural equation
    modeling with categorical data. *Multivariate Behavioral Research*, 56,
    390-407.

    In R: ``lavaan:::lav_fit_catml_dwls(fit)``.
    """
    R = ws.cor
    p = R.shape[0]
    if (len(ws.numeric) or problem.cond
            or np.linalg.eigvalsh(R).min() < np.sqrt(np.finfo(float).eps)):
        return None      # lavaan: only for all-ordinal data, no conditional.x, R pos. def.
    # lavaan evaluates the catML model at the reported values (derived residual
    # variances from one sweep, see _WLSProblem.lavaan_values), diagonal as implied
    P = problem.m.moments(problem.lavaan_values(theta))[0]
    P = (P + P.T) / 2
    Pi = np.linalg.inv(P)
    XX3 = N * float(np.linalg.slogdet(P)[1] + np.trace(R @ Pi) - np.linalg.slogdet(R)[1] - p)
    i, j = problem.r, problem.c
    V = Pi[np.ix_(i, i)] * Pi[np.ix_(j, j)] + Pi[np.ix_(i, j)] * Pi[np.ix_(j, i)]
    nth = problem.nth
    Dr = J[nth:]
    Wr = w[nth:]
    Gr = ws.gamma[nth:, nth:]
    # ks = tr(M' V M Gr), M = I - A B', A = Dr E^-1, B = diag(Wr) Dr, without the
    # nr x nr products: tr(VG) - 2 tr(V A B'G) + tr(V A (B'G B) A')
    A = Dr @ E_inv
    BG = (Wr[:, None] * Dr).T @ Gr
    VA = V @ A
    ks = float(np.sum(V * Gr) - 2.0 * np.sum(VA * BG.T)
               + np.sum((VA @ (BG @ (Wr[:, None] * Dr))) * A))
    c3 = ks / df
    pstar = p * (p - 1) / 2
    return {"XX3": XX3, "df3": df, "c_hat3": c3, "XX3_scaled": XX3 / c3,
            "XX3_null": -N * float(np.linalg.slogdet(R)[1]), "df3_null": pstar,
            "c_hat3_null": float(np.trace(Gr)) / pstar}


def refit_wls(result, X: np.ndarray, start: np.ndarray | None = None
              ) -> tuple[np.ndarray | None, bool]:
    """Re-estimate a least-squares fit on another data matrix (e.g. a bootstrap draw).

    *X* has the columns of ``result.model.observed`` (complete cases are
    used); the statistics, weights and estimates are recomputed as in
    :func:`fit_wls`, warm-started at *start* (default: the original
    estimates).  Returns ``(theta, converged)``; ``(None, False)`` when the
    draw cannot be fitted (an item lost a category, a singular matrix).

    In R: what ``bootstrapLavaan(fit)`` does per draw for a WLSMV fit.
    """
    w = getattr(result, "wls", None)
    if w is None or not w.context:
        raise TypeError("refit_wls needs the result of a least-squares fit (result.wls)")
    c = w.context
    try:
        ws, s, gamma, nth, *_ = _sample_side(
            np.asarray(X, dtype=float), c["observed"], c["ynames"], c["ov_x"], c["ordered"],
            c["ordinal"], c["conditional"], c["ms"])
    except (DataValidationError, np.linalg.LinAlgError, ValueError):
        return None, False
    if len(s) != len(w.obs) or (ws is not None and list(ws.th_names) != list(w.th_names)):
        return None, False
    wts = 1.0 / np.diag(gamma) if c["diag"] else np.ones(len(s))
    theta0 = np.asarray(result.theta if start is None else start, dtype=float)
    try:
        theta, ok, *_ = _solve(c["problem"], s, wts, theta0)
    except (np.linalg.LinAlgError, ValueError):
        return None, False
    return theta, bool(ok)
