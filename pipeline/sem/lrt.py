"""Likelihood-ratio (chi-square difference) tests of nested models, as ``lavTestLRT``.

For ML the difference of the two chi-squares is referred to chi-square with
the difference of the degrees of freedom.  For robust estimators the
difference of two scaled statistics is not chi-square; the scaled difference
is computed from the two *unscaled* statistics ``T0`` (restricted model,
``r0`` df) and ``T1`` (less restricted, ``r1`` df), ``m = r0 - r1``:

* ``satorra.bentler.2001`` (lavaan's default for MLM and MLR; Satorra &
  Bentler 2001): ``c_d = (r0 c0 - r1 c1) / m``, ``T_d = (T0 - T1) / c_d``
  with ``c0``, ``c1`` the models' scaling factors (a negative ``c_d`` gives NA);
* ``satorra.bentler.2010`` (Satorra & Bentler 2010, always positive):
  ``c_d = (r0 c0 - r1 c10) / m``, ``c10`` the scaling factor of the less
  restricted model evaluated at the restricted model's estimates;
* ``satorra.2000`` (Satorra 2000; lavaan's default for WLSMV-type scaled
  and shifted tests): ``c_d = tr(U_d Gamma) / m`` with
  ``U_d = V Delta1 P^-1 A' (A P^-1 A')^- A P^-1 Delta1' V``, ``A`` spanning
  the constraints (delta method: the orthogonal complement of
  ``ginv(Delta1) Delta0``).

``RMSEA`` of the difference (ML only) is ``lav_fit_rmsea(dT, ddf, N, G)``.

References
----------
Satorra, A. (2000). Scaled and adjusted restricted tests in multi-sample
analysis of moment structures. In Heijmans et al. (Eds.), Innovations in
multivariate statistical analysis (pp. 233-247). Kluwer.
Satorra, A., & Bentler, P. M. (2001). A scaled difference chi-square test
statistic for moment structure analysis. Psychometrika, 66, 507-514.
Satorra, A., & Bentler, P. M. (2010). Ensuring positiveness of the scaled
difference chi-square test statistic. Psychometrika, 75, 243-248.

In R: ``lavaan::lavTestLRT(fit1, fit0, method = "default" |
"satorra.bentler.2001" | "satorra.bentler.2010" | "satorra.2000")``.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
from scipy import linalg

from pipeline.core.distributions import chi2_sf

from pipeline.core.exceptions import NotEstimableWarning

__all__ = ["lrt", "lav_test_lrt", "METHODS"]

METHODS = ("default", "standard", "satorra.bentler.2001", "satorra.bentler.2010", "satorra.2000")


def _info(res) -> dict:
    ts = getattr(res, "test_scaled", None)
    est = getattr(res, "estimator", None)
    if not isinstance(est, str):
        est = (getattr(res, "options", {}) or {}).get("estimator", "ML")
    n = getattr(res, "ntotal", None) or getattr(res, "nobs")
    if isinstance(n, (list, tuple)):
        n = sum(n)
    return {"chisq": float(res.chisq), "df": int(res.df), "scaled": ts,
            "estimator": est, "npar": int(res.npar), "logl": float(res.logl),
            "ntotal": int(n), "ngroups": int(getattr(res, "ngroups", 1))}


def lrt(m1, m0, *, method: str = "default", scaled_shifted: bool = True) -> dict:
    """Chi-square difference test of two nested fits.

    Parameters
    ----------
    m1, m0 : fitted results
        ``m1`` the less restricted model (fewer df), ``m0`` the restricted one
        (swapped automatically if given the other way round).  Any result
        with ``chisq``, ``df``, ``npar``, ``logl``, ``ntotal`` and, for
        robust estimators, ``test_scaled`` (a dict with ``scaling_factor``
        and ``test``); ``satorra.bentler.2010`` and ``satorra.2000`` need
        :class:`~pipeline.sem.multigroup.MultiGroupResult` objects.
    method : str
        ``"default"``: the standard difference for ML; for MLM/MLR
        ``satorra.bentler.2001``; for scaled-shifted tests ``satorra.2000``.
    scaled_shifted : bool
        ``satorra.2000`` only: the scaled-and-shifted difference
        ``a (T0 - T1) + b`` with ``a = sqrt(m / tr((U Gamma)^2))``,
        ``b = m - a tr(U Gamma)`` (lavaan's default ``scaled.shifted = TRUE``);
        ``False``: ``(T0 - T1) / (tr(U Gamma) / m)`` for MLM/MLR, the
        Satterthwaite (mean and variance adjusted) version otherwise.

    Returns
    -------
    dict
        ``chisq_diff``, ``df_diff``, ``pvalue``, ``scaling_factor`` (NaN for
        ML), ``method``, ``rmsea`` (ML only), ``scaled`` (bool).

    In R: ``lavTestLRT(m1, m0, method = method)``.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    a, b = _info(m1), _info(m0)
    if a["df"] > b["df"]:
        m1, m0, a, b = m0, m1, b, a
    scaled_a, scaled_b = a["scaled"] is not None, b["scaled"] is not None
    if scaled_a != scaled_b:
        raise ValueError("some models (but not all) have scaled test statistics")
    scaled = scaled_a and method != "standard"
    test = a["scaled"]["test"] if scaled_a else "standard"
    if method == "default":
        method = ("satorra.2000" if test in ("scaled.shifted", "mean.var.adjusted")
                  else "satorra.bentler.2001") if scaled else "standard"
    T1, r1, T0, r0 = a["chisq"], a["df"], b["chisq"], b["df"]
    m = r0 - r1
    out = {"method": method, "scaled": scaled, "df_diff": m, "scaling_factor": math.nan,
           "rmsea": math.nan, "shift": math.nan}
    if m == 0:
        out.update(chisq_diff=T0 - T1, pvalue=math.nan)
        warnings.warn("the two models have the same degrees of freedom", NotEstimableWarning,
                      stacklevel=2)
        return out
    if not scaled:
        d = T0 - T1
        out.update(chisq_diff=d, pvalue=float(chi2_sf(d, m)))
        N, G = a["ntotal"], a["ngroups"]
        out["rmsea"] = math.sqrt(max(d / N / m - 1.0 / N, 0.0)) * math.sqrt(G)
        return out
    if method == "satorra.bentler.2001":
        c1 = 1.0 if r1 == 0 else a["scaled"]["scaling_factor"]
        c0 = b["scaled"]["scaling_factor"]
        cd = (r0 * c0 - r1 * c1) / m
        if cd < 0:
            warnings.warn("the Satorra-Bentler (2001) scaling factor of the difference is "
                          "negative; use method='satorra.bentler.2010'", NotEstimableWarning,
                          stacklevel=2)
            cd = math.nan
        d = (T0 - T1) / cd
        df_d = m
    elif method == "satorra.bentler.2010":
        c0 = b["scaled"]["scaling_factor"]
        c10 = 1.0 if r1 == 0 else _scaling_at(m1, _theta_in(m1, m0))
        cd = (r0 * c0 - r1 * c10) / m
        d = (T0 - T1) / cd
        df_d = m
    else:   # satorra.2000
        from pipeline.sem.multigroup import one_thread_blas
        with one_thread_blas():
            d, cd, df_d, shift = _satorra_2000(m1, m0, T0 - T1, m, test, scaled_shifted)
        out["shift"] = shift
    out.update(chisq_diff=float(d), df_diff=df_d, scaling_factor=float(cd),
               pvalue=float(chi2_sf(d, df_d)) if np.isfinite(d) else math.nan)
    return out


def lav_test_lrt(*fits, names: list[str] | None = None, method: str = "default",
                 scaled_shifted: bool = True) -> pd.DataFrame:
    """lavaan's ``lavTestLRT`` table for two or more nested fits.

    Models are sorted by their degrees of freedom (as lavaan does); each is
    compared with the one before.  Columns ``Df AIC BIC Chisq "Chisq diff"
    ["RMSEA"] "Df diff" "Pr(>Chisq)"`` (``RMSEA`` only for unscaled tests);
    ``Chisq`` holds the unscaled statistics, as lavaan's.

    In R: ``lavTestLRT(fit1, fit2, ..., method = method)``.
    """
    if len(fits) < 2:
        raise ValueError("lav_test_lrt needs at least two fitted models")
    names = list(names) if names is not None else [f"model{i + 1}" for i in range(len(fits))]
    if len(names) != len(fits):
        raise ValueError("names must have one entry per model")
    order = sorted(range(len(fits)), key=lambda i: _info(fits[i])["df"])
    rows = []
    prev = None
    for i in order:
        f = _info(fits[i])
        N = f["ntotal"]
        row = {"model": names[i], "Df": f["df"], "AIC": -2 * f["logl"] + 2 * f["npar"],
               "BIC": -2 * f["logl"] + f["npar"] * math.log(N), "Chisq": f["chisq"],
               "Chisq diff": math.nan, "RMSEA": math.nan, "Df diff": math.nan,
               "Pr(>Chisq)": math.nan}
        if prev is not None:
            t = lrt(fits[prev], fits[i], method=method, scaled_shifted=scaled_shifted)
            row.update({"Chisq diff": t["chisq_diff"], "RMSEA": t["rmsea"],
                        "Df diff": t["df_diff"], "Pr(>Chisq)": t["pvalue"]})
            scaled = t["scaled"]
        else:
            scaled = f["scaled"] is not None and method != "standard"
        rows.append(row)
        prev = i
    out = pd.DataFrame(rows).set_index("model")
    if scaled:
        out = out.drop(columns="RMSEA")
    return out


# ------------------------------------------------------------ scaled pieces
def _require_mg(res, what: str):
    from pipeline.sem.multigroup import MultiGroupResult
    if not isinstance(res, MultiGroupResult):
        raise TypeError(f"{what} needs fits from pipeline.sem.multigroup.fit_multigroup")


def _theta_in(m1, m0) -> np.ndarray:
    """m0's estimates as a point of m1's parameter space (row values matched
    by group and row; m0 is nested in m1)."""
    _require_mg(m1, "method='satorra.bentler.2010'")
    _require_mg(m0, "method='satorra.bentler.2010'")
    theta = np.array(m1.theta, dtype=float)
    for g, (mod1, mod0) in enumerate(zip(m1.models, m0.models)):
        vals0 = mod0.row_values(m0.theta, m0.estimators[g].exo_values(m0.stats[g]))
        keys0 = {(r["lhs"], r["op"], r["rhs"]): k for k, r in enumerate(mod0.rows)}
        for k, r in enumerate(mod1.rows):
            if r["par"] >= 0:
                k0 = keys0.get((r["lhs"], r["op"], r["rhs"]))
                if k0 is None:
                    raise ValueError(f"the models are not nested: {r['lhs']} {r['op']} "
                                     f"{r['rhs']} is not in the restricted model")
                theta[r["par"]] = vals0[k0]
    return theta


def _scaling_at(res, theta) -> float:
    """Scaling factor of *res*'s robust test at parameters *theta* (lavaan's M10)."""
    from pipeline.sem import robust
    from pipeline.sem.multigroup import _Objective, _augmented_inverse, _robust_pieces
    w = [n / res.ntotal for n in res.nobs]
    obj = _Objective(res.estimators, res.stats, w)
    info = (obj.observed_information(theta) if res.information == "observed"
            else obj.expected_information(theta))
    E_inv = _augmented_inverse(info, None)
    Xs = [s.data for s in res.stats]
    pieces = _robust_pieces(res.mg, res.estimators, res.stats, Xs, theta, res.estimator, E_inv,
                            res.missing)
    t = robust.scaled_test(1.0, res.df, pieces["trace"], pieces.get("trace2", math.nan),
                           pieces["test"])
    return t["scaling_factor"]


def _orth_complement(H: np.ndarray) -> np.ndarray:
    """Columns spanning the orthogonal complement of the column space of H."""
    u, s, _ = np.linalg.svd(H, full_matrices=True)
    tol = max(H.shape) * (s[0] if len(s) else 0.0) * np.finfo(float).eps
    rank = int((s > tol).sum())
    return u[:, rank:]


def _satorra_2000(m1, m0, dT, m, test, scaled_shifted=True):
    """Satorra (2000) scaled (or scaled-and-shifted) difference, delta-method A."""
    _require_mg(m1, "method='satorra.2000'")
    _require_mg(m0, "method='satorra.2000'")
    from pipeline.sem import robust
    from pipeline.sem.multigroup import _Objective, _augmented_inverse, _deltas
    fg = np.array(m1.nobs, dtype=float) / m1.ntotal
    if getattr(m1, "wls", None) is not None:
        # least squares (WLSMV): Delta, W = diag weights and Gamma of each group
        PI = list(m1.wls["delta"])
        Delta1 = np.vstack(PI)
        Delta0 = np.vstack(m0.wls["delta"])
        V = [np.diag(w) for w in m1.wls["weights"]]
        Gam = list(m1.wls["gamma"])
        P = sum(f * d.T @ v @ d for f, d, v in zip(fg, PI, V))
    else:
        D1 = _deltas(m1.mg, m1.estimators, m1.stats, m1.theta)
        D0 = _deltas(m0.mg, m0.estimators, m0.stats, m0.theta)
        PI = [d for *_, d in D1]
        Delta1 = np.vstack(PI)
        Delta0 = np.vstack([d for *_, d in D0])
        obj = _Objective(m1.estimators, m1.stats, list(fg))
        P = (obj.observed_information(m1.theta) if m1.information == "observed"
             else obj.expected_information(m1.theta))
        from pipeline.sem.multigroup import _gamma_adf_fixed_x, _x_moments
        ms = m1.mg.meanstructure
        V, Gam = [], []
        for (S, _, _), s, e, mod in zip(D1, m1.stats, m1.estimators, m1.models):
            v = robust.h1_expected_information(S, ms)
            xm = _x_moments(e.x_idx, mod.p, ms)
            if xm.any():      # fixed.x: zero h1 rows of the covariates' moments (lavaan)
                v[xm, :] = 0.0
                v[:, xm] = 0.0
                Gam.append(_gamma_adf_fixed_x(s.data, e.x_idx, ms))
            else:
                Gam.append(robust.gamma_adf(s.data, ms))
            V.append(v)
    A = _orth_complement(np.linalg.pinv(Delta1) @ Delta0).T
    P_inv = _augmented_inverse(P, None)
    APA = A @ P_inv @ A.T
    keep = ~((np.abs(APA.sum(axis=0)) < np.sqrt(np.finfo(float).eps))
             & (np.abs(APA.sum(axis=1)) < np.sqrt(np.finfo(float).eps)))
    A = A[keep]
    PAAPAAP = P_inv @ A.T @ np.linalg.pinv(A @ P_inv @ A.T) @ A @ P_inv
    tr = 0.0
    for g in range(len(PI)):
        UG = V[g] @ Gam[g] @ V[g] @ PI[g] @ PAAPAAP @ PI[g].T
        tr += fg[g] * float(np.trace(UG))
    satterthwaite = scaled_shifted or test in ("scaled.shifted", "mean.var.adjusted")
    if not satterthwaite:
        cd = tr / m
        return dT / cd, cd, m, math.nan
    Vall = linalg.block_diag(*V)
    Gall = linalg.block_diag(*[f * g for f, g in zip(fg, Gam)])
    PIall = np.vstack(PI)
    U = Vall @ PIall @ PAAPAAP @ PIall.T @ Vall
    UG = U @ Gall
    tr2 = float(np.sum(UG * UG.T))
    if scaled_shifted:
        a = math.sqrt(m / tr2)
        b = m - a * tr
        return dT * a + b, 1.0 / a, m, b
    cd = tr2 / tr
    return dT / cd, cd, tr ** 2 / tr2, math.nan
