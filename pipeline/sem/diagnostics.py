"""Modification indices and residuals of a fitted SEM.

Modification indices follow ``lavaan::modindices``: the candidate
parameters are lavaan's "full" parameter table (every loading of a latent
variable on an observed variable not in a regression, residual covariances
among indicators, latent (co)variances, regressions among variables already
in regressions) minus the parameters of the model; for each,

    MI  = N s^2 / V,   EPC = -s / V,   s = 1/2 dF/dtheta_extra,
    V   = I_11 - I_12 I_22^{-1} I_21

with ``I`` the expected information per observation at the estimates (the
extra parameters at 0).  ``sepc.lv``/``sepc.all`` standardize the EPC as the
parameter would be standardized.

Standardized residuals follow ``residuals(fit, type="standardized")``:
``(s - sigma_hat) / se`` with ``ACOV = Q Gamma_S Q' / N``,
``Q = I - Delta A0^{-1} Delta' A1`` (A1 the structured h1 information,
A0 = Delta' A1 Delta, Gamma_S the normal-theory ACOV of the sample moments).

In R: ``modindices(fit, sort.=TRUE)``; ``residuals(fit, type="standardized")``,
``lavResiduals(fit)``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.sem.standardize import node_scales, standardize_cells

__all__ = ["modification_indices", "residuals", "candidate_parameters"]


def _lower_tri(names):
    out = []
    n = len(names)
    for j in range(n):          # lavaan: lower.tri, column-major, lhs = column
        for i in range(j, n):
            out.append((names[j], names[i]))
    return out


def candidate_parameters(model) -> list[tuple[str, str, str]]:
    """lavaan's ``lav_partable_full`` candidates not already in the model."""
    pt = model.pt
    ov = pt.observed
    ov_x = pt.ov_x
    ov_nox = [v for v in ov if v not in ov_x]
    lv = pt.latent
    eqs = list(dict.fromkeys(pt.eqs_y + pt.eqs_x))
    cands = []
    for f in lv:
        for x in ov_nox:
            if x not in eqs:
                cands.append((f, "=~", x))
    ov_other = [v for v in ov if v not in pt.ov_ind]
    for a, b in _lower_tri(ov_nox):
        if a in ov_other or b in ov_other:
            continue
        cands.append((a, "~~", b))
    for a, b in _lower_tri(ov_x):
        cands.append((a, "~~", b))
    for a, b in _lower_tri(lv):
        cands.append((a, "~~", b))
    for y in eqs:
        for x in eqs:
            if x == y or (y in pt.ov_ind and x in lv) or (y in ov_x and x in ov_x):
                continue      # (x ~ x under fixed.x: lavaan gives no MI)
            cands.append((y, "~", x))
    existing = set()
    for r in model.rows:
        existing.add((r["lhs"], r["op"], r["rhs"]))
        if r["op"] == "~~":
            existing.add((r["rhs"], "~~", r["lhs"]))
    out, seen = [], set()
    for c in cands:
        key = c if c[1] != "~~" else (c[0], "~~", c[2])
        if c in existing or key in seen:
            continue
        if c[1] == "~~" and (c[2], "~~", c[0]) in seen:
            continue
        seen.add(key)
        out.append(c)
    return out


def _cells(model, cands):
    from pipeline.sem.model import ram_cells
    return ram_cells({v: i for i, v in enumerate(model.nodes)}, cands)


def modification_indices(result, *, sort: bool = True, minimum: float = 0.0) -> pd.DataFrame:
    """Modification indices, EPC, sepc.lv and sepc.all of every candidate parameter.

    Parameters
    ----------
    result : SEMResult
    sort : bool
        Sort by MI, largest first (lavaan ``sort.=TRUE``).
    minimum : float
        Keep only MI above this value.

    Returns
    -------
    DataFrame with columns ``lhs op rhs mi epc sepc.lv sepc.all``.

    In R: ``modindices(fit, sort. = TRUE)``.
    """
    model, est, st = result.model, result.estimator, result.stats
    cols = ["lhs", "op", "rhs", "mi", "epc", "sepc.lv", "sepc.all"]
    cands = candidate_parameters(model)
    if not cands:
        return pd.DataFrame(columns=cols)
    kind, I, J = _cells(model, cands)
    if getattr(result, "wls", None) is not None:
        return _wls_modification_indices(result, cands, kind, I, J, sort=sort,
                                         minimum=minimum)
    theta = result.theta
    f, G, gmu, B, C, Bm = est.moment_gradient(theta, st)
    score = 0.5 * model.cell_gradient(G, gmu, B, C, Bm, kind, I, J)
    vals = est.values(theta, st)
    Sigma, mu, dS_m, dm_m = est.jacobian(theta, st)
    dS_x, dm_x = model.cell_jacobian(B, C, Bm, kind, I, J)
    k = dS_m.shape[2]
    dS = np.concatenate([dS_m, dS_x], axis=2)
    dm = np.concatenate([dm_m, dm_x], axis=1)
    info = est.information_from_jacobian(Sigma, dS, dm, st)
    I22 = info[:k, :k]
    I12 = info[k:, :k]
    I11 = info[k:, k:]
    vd = _score_variances(I11, I12, I22)
    N = result.nobs
    mi = N * score ** 2 / vd
    epc = -score / vd
    return _mi_table(model, cands, kind, I, J, vals, C, mi, epc, sort=sort, minimum=minimum)


def _wls_modification_indices(result, cands, kind, I, J, *, sort, minimum) -> pd.DataFrame:
    """Score tests of a least-squares fit (DWLS / WLSMV / ULS...), as lavaan.

    With ``e = s - sigma`` and the per-case information ``I = D' W D`` of
    the model extended by the candidate cells (``D = [Delta, Delta_c]``):
    ``score = (N-1)/N Delta_c' W e`` (the gradient of lavaan's
    ``fmin = (N-1)/(2N) F``), ``MI = N score^2 / V`` and ``EPC = score / V``
    with ``V = I_cc - I_c0 I_00^-1 I_0c``.  Only covariance-structure
    candidates (loadings, (residual) covariances, regressions) are tested.

    In R: ``modindices(fit)`` for ``estimator = "WLSMV"`` etc.
    """
    w = result.wls
    prob = w.context["problem"]
    model = result.model
    vals = prob.values(result.theta)
    Sigma, mu, B, C, Bm = model.moments(vals)
    dSc, dmc = model.cell_jacobian(B, C, Bm, kind, I, J)
    Sc, dSc, _, dPc = prob._eff(Sigma, dSc)
    rows = [dSc[prob.r, prob.c, :]]
    if w.ordinal:
        top = np.zeros((prob.nTH, len(cands)))
        if len(prob.num):
            top[prob.num_pos] = -dmc[prob.num_item]
        mid = (dPc.transpose(1, 0, 2).reshape(-1, len(cands)) if prob.cond
               else dSc[prob.num, prob.num, :])
        rows = [top, mid] + rows
    elif prob.ms:
        rows = [dmc] + rows
    Dc = np.vstack(rows)
    D, W = w.delta, w.weights
    e = w.obs - w.implied
    N = result.nobs
    I11 = Dc.T @ (W[:, None] * Dc)
    I12 = Dc.T @ (W[:, None] * D)
    I22 = D.T @ (W[:, None] * D)
    vd = _score_variances(I11, I12, I22)
    score = (N - 1) / N * (Dc.T @ (W * e))
    mi = N * score ** 2 / vd
    epc = score / vd
    return _mi_table(model, cands, kind, I, J, vals, C, mi, epc, sort=sort, minimum=minimum)


def _score_variances(I11, I12, I22) -> np.ndarray:
    """Diagonal of ``V = I_cc - I_c0 I_00^-1 I_0c`` (the candidates' information
    given the model's parameters); NaN where it is numerically zero."""
    try:
        V = I11 - I12 @ np.linalg.solve(I22, I12.T)
    except np.linalg.LinAlgError:
        V = np.full_like(I11, np.nan)
    vd = np.diag(V).copy()
    vd[~(vd >= np.finfo(float).eps ** (1 / 3))] = np.nan
    return vd


def _mi_table(model, cands, kind, I, J, vals, C, mi, epc, *, sort: bool,
              minimum: float) -> pd.DataFrame:
    """lavaan's ``modindices`` table: MI, EPC and the standardized EPCs of the
    candidates, finite MI only, above *minimum*, sorted by MI if *sort*."""
    sd, rv = node_scales(model, vals, C)
    s_lv, s_all = standardize_cells(model, kind, I, J, np.abs(epc), sd, rv)
    sign = np.sign(epc)
    out = pd.DataFrame({"lhs": [c[0] for c in cands], "op": [c[1] for c in cands],
                        "rhs": [c[2] for c in cands], "mi": mi, "epc": epc,
                        "sepc.lv": sign * s_lv, "sepc.all": sign * s_all})
    out = out[np.isfinite(out["mi"])]
    if minimum > 0:
        out = out[out["mi"] > minimum]
    if sort:
        out = out.sort_values("mi", ascending=False, kind="mergesort")
    return out.reset_index(drop=True)


def _gamma(S, r, c):
    return S[np.ix_(r, r)] * S[np.ix_(c, c)] + S[np.ix_(r, c)] * S[np.ix_(c, r)]


def residuals(result, kind: str = "standardized") -> pd.DataFrame:
    """Residual covariance matrix of a fitted model.

    Parameters
    ----------
    result : SEMResult
    kind : {"raw", "standardized", "cor"}
        ``raw``: S - Sigma_hat; ``standardized``: raw / its standard error
        (lavaan's ``type="standardized"``); ``cor``: correlation residuals
        (lavaan ``type="cor.bollen"``).

    Returns
    -------
    DataFrame indexed and labelled by the observed variables.

    Notes
    -----
    Under FIML the h1 information is the observed (Hessian) information of
    the saturated model under missing data, as lavaan's ``missing="ml"``.

    In R: ``residuals(fit, type = "standardized")$cov``.
    """
    if getattr(result, "wls", None) is not None and kind not in ("raw", "cor"):
        from pipeline.core.exceptions import ModelSpecificationError
        raise ModelSpecificationError(
            f"residuals(kind={kind!r}) of a {result.options.get('estimator')} fit are not "
            "implemented; use kind='raw' or 'cor' (polychoric-scale residuals)")
    names = result.observed
    S = np.asarray(result.stats.cov)
    Sig = np.asarray(result.implied_cov)
    raw = S - Sig
    if kind == "raw":
        return pd.DataFrame(raw, index=names, columns=names)
    if kind in ("cor", "cor.bollen"):
        ds, dg = np.sqrt(np.diag(S)), np.sqrt(np.diag(Sig))
        return pd.DataFrame(S / np.outer(ds, ds) - Sig / np.outer(dg, dg),
                            index=names, columns=names)
    if kind != "standardized":
        raise ValueError(f"kind must be 'raw', 'standardized' or 'cor', got {kind!r}")
    p = len(names)
    r, c = np.tril_indices(p)
    est, st = result.estimator, result.stats
    Sigma, mu, dS, dm = est.jacobian(result.theta, st)
    Delta = dS[r, c, :]
    if result.missing == "fiml":
        # h1 information under missing data: pattern-weighted expected information of
        # the saturated model, at the model-implied moments (A1, "structured") and at
        # the EM estimates (its inverse is the ACOV of the h1 moments, "unstructured")
        Delta = np.vstack([dm, Delta])
        q = len(r)
        dS_sat = np.zeros((p, p, p + q))
        dm_sat = np.zeros((p, p + q))
        dm_sat[np.arange(p), np.arange(p)] = 1.0
        dS_sat[r, c, p + np.arange(q)] = 1.0
        dS_sat[c, r, p + np.arange(q)] = 1.0
        # lavaan uses the observed (Hessian) h1 information under missing="ml"
        A1 = _fiml_h1_observed_information(st, Sig, np.asarray(result.implied_mean), r, c)
        A_u = _fiml_h1_observed_information(st, S, np.asarray(result.sample_mean), r, c)
        G_S = np.linalg.inv(A_u)
    else:
        G_S = _gamma(S, r, c)
        A1 = np.linalg.inv(_gamma(Sig, r, c))
        xi = set(int(i) for i in est.x_idx)
        if xi:   # fixed.x: zero h1 information of the covariates' own moments (lavaan)
            xx = np.array([(a in xi and b in xi) for a, b in zip(r, c)])
            A1[xx, :] = 0.0
            A1[:, xx] = 0.0
            # ACOV of the moments with x fixed: Gamma(S) - Gamma(R) (lavaan Gamma_NT)
            x = np.array(sorted(xi))
            y = np.array([i for i in range(p) if i not in xi])
            Sxx, Syx = S[np.ix_(x, x)], S[np.ix_(y, x)]
            R = S.copy()
            R[np.ix_(y, y)] = Syx @ np.linalg.solve(Sxx, Syx.T)
            G_S = G_S - _gamma(R, r, c)
    if result.meanstructure and result.missing != "fiml":
        Delta = np.vstack([dm, Delta])
        G_S = _bdiag(S, G_S)
        A1 = _bdiag(np.linalg.inv(Sig), A1)
    A0 = Delta.T @ A1 @ Delta
    Q = np.eye(Delta.shape[0]) - Delta @ np.linalg.pinv(A0) @ Delta.T @ A1
    n = result.nobs
    acov = Q @ G_S @ Q.T / n
    d = np.diag(acov)[p:] if result.meanstructure else np.diag(acov)
    with np.errstate(invalid="ignore", divide="ignore"):
        se = np.where(d > 0, np.sqrt(np.where(d > 0, d, 1.0)), np.nan)
    # lavaan: near-zero residuals (|raw| < 1e-5) are divided by 1, not by a ~0 SE
    se = np.where(np.abs(raw[r, c]) < 1e-5, 1.0, se)
    out = np.full((p, p), np.nan)
    out[r, c] = raw[r, c] / se
    out[c, r] = out[r, c]
    return pd.DataFrame(out, index=names, columns=names)


def _fiml_h1_observed_information(st, Sigma, mu, r, c, h=1e-6):
    """Observed information (per case) of the saturated model under missing data,
    parameters ``(mu, vech Sigma)``, by central differences of the analytic gradient."""
    p = len(mu)
    q = len(r)

    def grad(x):
        m = x[:p]
        Sg = np.zeros((p, p))
        Sg[r, c] = x[p:]
        Sg[c, r] = x[p:]
        G = np.zeros((p, p))
        gmu = np.zeros(p)
        for pat in st.patterns:
            o = pat.obs
            Si = np.linalg.inv(Sg[pat.ix])
            d = pat.mean - m[o]
            M = pat.cov + np.outer(d, d)
            w = pat.n / st.nobs
            G[pat.ix] += w * (Si - Si @ M @ Si)
            gmu[o] += w * (-2.0 * Si @ d)
        gs = np.where(r == c, G[r, c], 2.0 * G[r, c])
        return np.concatenate([gmu, gs])

    x0 = np.concatenate([mu, Sigma[r, c]])
    H = np.zeros((p + q, p + q))
    for j in range(p + q):
        step = h * max(1.0, abs(x0[j]))
        xp, xm = x0.copy(), x0.copy()
        xp[j] += step
        xm[j] -= step
        H[:, j] = (grad(xp) - grad(xm)) / (2 * step)
    return 0.25 * (H + H.T)


def _bdiag(a, b):
    out = np.zeros((a.shape[0] + b.shape[0], a.shape[1] + b.shape[1]))
    out[:a.shape[0], :a.shape[1]] = a
    out[a.shape[0]:, a.shape[1]:] = b
    return out
