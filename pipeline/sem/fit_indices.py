"""Fit indices of a structural equation model, computed as lavaan computes them.

Two layers (see CONTRIBUTING.md):

* pure functions on numbers (chi-square, degrees of freedom, N, sample and
  model-implied moments), each with its formula, its references and the
  lavaan function it reproduces (lavaan 0.6-14, ``R/lav_fit_*.R``);
* :func:`fit_measures`, a thin wrapper taking any fitted model that carries
  the attributes of ``SEMResult`` (``docs/ARCHITECTURE.md``) and returning a
  :class:`pandas.Series` named as lavaan's ``fitMeasures()``, plus
  ``cmin_df`` (AMOS's CMIN/DF).

Conventions that matter when numbers are compared with lavaan or AMOS:

* ``likelihood="normal"`` (lavaan's default): chisq = N * F_ML, RMSEA uses N;
  ``likelihood="wishart"`` (AMOS): chisq = (N - 1) * F_ML with S of divisor
  N - 1, and RMSEA uses N - 1 (lavaan's ``lav_utils_get_ntotal``).
* ``rmsea.pvalue`` is the test of close fit (H0: RMSEA <= .05), AMOS's PCLOSE.
* CFI is clipped to [0, 1] by construction; TLI (NNFI) is **not** clipped,
  neither by lavaan nor by AMOS: it exceeds 1 when chisq < df.  NFI, IFI and
  RFI follow lavaan's special cases (see each function).
* GFI/AGFI are Joreskog-Sorbom's ML indices written as lavaan writes them: a
  weighted least-squares ratio with the ML weight (expected information at
  the implied moments).  With a mean structure (always under FIML) the means
  enter both sums, which pushes GFI towards 1 -- this is what lavaan reports.
* SRMR is lavaan's ``srmr`` = Bentler's: residuals of the covariances scaled
  by the *sample* standard deviations, the diagonal included, plus the
  scaled mean residuals when the model has a mean structure.

Never take these numbers from semopy 2.3.11: its "GFI" is NFI, its AGFI is
wrong, its RMSEA uses N - 1 and its log-likelihood is on another scale.
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from pipeline.core.distributions import chi2_cdf, chi2_ppf, chi2_sf, ncx2_cdf, ncx2_ncp

from pipeline.core.exceptions import NotEstimableWarning

__all__ = [
    "FIT_MEASURE_NAMES",
    "chisq_pvalue", "ml_discrepancy", "chisq_ml", "baseline_chisq_ml",
    "cfi", "tli", "nfi", "ifi", "rfi", "rni", "pnfi",
    "rmsea_n", "rmsea", "rmsea_ci", "rmsea_pvalue", "rmsea_notclose_pvalue",
    "ml_weight_quadratic", "gfi", "agfi", "pgfi", "srmr", "rmr", "crmr",
    "srmr_mplus", "hoelter_cn", "mfi", "ecvi",
    "loglik_normal", "loglik_missing", "missing_patterns",
    "available_case_moments",
    "aic", "bic", "bic2", "cmin_df",
    "fit_measures",
]

#: Names of :func:`fit_measures`: lavaan's ``fitMeasures()`` for an ML fit,
#: in lavaan's order, plus AMOS's ``cmin_df`` after ``pvalue``.  A fit with a
#: scaled test (MLM, MLR, WLSMV, ULSMV) adds :data:`SCALED_MEASURE_NAMES` where
#: lavaan has them; least-squares fits use :func:`wls_fit_measures`.
FIT_MEASURE_NAMES: tuple[str, ...] = (
    "npar", "fmin", "chisq", "df", "pvalue", "cmin_df",
    "baseline.chisq", "baseline.df", "baseline.pvalue",
    "cfi", "tli", "nnfi", "rfi", "nfi", "pnfi", "ifi", "rni",
    "logl", "unrestricted.logl", "aic", "bic", "ntotal", "bic2",
    "rmsea", "rmsea.ci.lower", "rmsea.ci.upper", "rmsea.ci.level",
    "rmsea.pvalue", "rmsea.close.h0", "rmsea.notclose.pvalue",
    "rmsea.notclose.h0",
    "rmr", "rmr_nomean", "srmr", "srmr_bentler", "srmr_bentler_nomean",
    "crmr", "crmr_nomean", "srmr_mplus", "srmr_mplus_nomean",
    "cn_05", "cn_01", "gfi", "agfi", "pgfi", "mfi", "ecvi",
)

_NAN = float("nan")

#: lavaan's additional names for a scaled (robust) test, in lavaan's order;
#: :func:`fit_measures` inserts them where lavaan puts them.
SCALED_MEASURE_NAMES: tuple[str, ...] = (
    "chisq.scaled", "df.scaled", "pvalue.scaled", "chisq.scaling.factor",
    "baseline.chisq.scaled", "baseline.df.scaled", "baseline.pvalue.scaled",
    "baseline.chisq.scaling.factor",
    "cfi.scaled", "tli.scaled", "cfi.robust", "tli.robust",
    "nnfi.scaled", "rfi.scaled", "nfi.scaled", "pnfi.scaled", "ifi.scaled", "rni.scaled",
    "nnfi.robust", "rni.robust",
    "scaling.factor.h1", "scaling.factor.h0",
    "rmsea.scaled", "rmsea.ci.lower.scaled", "rmsea.ci.upper.scaled", "rmsea.pvalue.scaled",
    "rmsea.notclose.pvalue.scaled",
    "rmsea.robust", "rmsea.ci.lower.robust", "rmsea.ci.upper.robust", "rmsea.pvalue.robust",
    "rmsea.notclose.pvalue.robust",
)
_AFTER = {"chisq.scaled": "pvalue", "baseline.chisq.scaled": "baseline.pvalue",
          "cfi.scaled": "tli", "nnfi.scaled": "rni", "scaling.factor.h1": "bic2",
          "rmsea.scaled": "rmsea.notclose.h0"}


def c_hat(test: dict) -> float:
    """The scaling factor robust CFI/TLI/RMSEA use (lavaan's ``c.hat``).

    Satorra-Bentler / Yuan-Bentler: the scaling factor; scaled-shifted:
    ``c (df - b) / df`` with ``c`` the scaling factor and ``b`` the shift.

    In R: ``c.hat`` in ``lavaan:::lav_fit_cfi_lavobject`` / ``lav_fit_rmsea_lavobject``.
    """
    if test is None:
        return _NAN
    c = float(test.get("scaling_factor", _NAN))
    if test.get("test") == "scaled.shifted":
        d = float(test.get("df", _NAN))
        b = float(test.get("shift_parameter", _NAN))
        return c * (d - b) / d if d > 0 else _NAN
    return c


def scaled_fit_measures(chisq: float, df: float, n: float, test: dict,
                        baseline_chisq: float, baseline_df: float, baseline_test: dict | None,
                        *, robust: bool = True, rmsea_ci_level: float = 0.90,
                        close_h0: float = 0.05, notclose_h0: float = 0.08) -> dict:
    """lavaan's ``*.scaled`` and ``*.robust`` fit measures from a scaled test.

    * ``*.scaled``: the incremental indices of the scaled statistics of the
      model and the baseline model; ``rmsea.scaled`` uses the unscaled chisq
      with ``df = tr(U Gamma)`` for Satorra-Bentler / Yuan-Bentler and the
      scaled statistic with the model df for scaled-shifted.
    * ``*.robust``: Brosseau-Liard, Savalei & Li (2012) and Brosseau-Liard &
      Savalei (2014): ``chisq - c df`` with ``c`` = :func:`c_hat` (unscaled
      chi-squares); the robust RMSEA interval inverts the noncentral
      chi-square at the scaled statistic and multiplies lambda by ``c``.
      With ``robust=False`` (FIML and categorical data, where lavaan uses
      other corrections) they are NaN.

    *test* / *baseline_test* are dicts of :func:`pipeline.sem.robust.scaled_test`
    (keys ``stat df pvalue scaling_factor shift_parameter trace_UGamma test``).

    In R: ``fitMeasures(fit)`` for ``estimator = "MLM"/"MLR"/"WLSMV"``
    (``lav_fit_cfi_lavobject``, ``lav_fit_rmsea_lavobject``).
    """
    out = {k: _NAN for k in SCALED_MEASURE_NAMES}
    xs, ds = float(test["stat"]), float(test["df"])
    out.update({"chisq.scaled": xs, "df.scaled": ds, "pvalue.scaled": float(test["pvalue"]),
                "chisq.scaling.factor": float(test["scaling_factor"])})
    if "scaling_factor_h1" in test:
        out["scaling.factor.h1"] = float(test["scaling_factor_h1"])
        out["scaling.factor.h0"] = float(test["scaling_factor_h0"])
    if baseline_test is not None:
        x0s, d0s = float(baseline_test["stat"]), float(baseline_test["df"])
        out.update({"baseline.chisq.scaled": x0s, "baseline.df.scaled": d0s,
                    "baseline.pvalue.scaled": float(baseline_test["pvalue"]),
                    "baseline.chisq.scaling.factor": float(baseline_test["scaling_factor"])})
        out["cfi.scaled"] = cfi(xs, ds, x0s, d0s)
        out["tli.scaled"] = out["nnfi.scaled"] = tli(xs, ds, x0s, d0s)
        out["rfi.scaled"] = rfi(xs, ds, x0s, d0s)
        out["nfi.scaled"] = nfi(xs, ds, x0s, d0s)
        out["pnfi.scaled"] = pnfi(xs, ds, x0s, d0s)
        out["ifi.scaled"] = ifi(xs, ds, x0s, d0s)
        out["rni.scaled"] = rni(xs, ds, x0s, d0s)
    ch = c_hat(test)
    # the chi-squares the robust indices use: the unscaled ones, except under
    # FIML (Zhang & Savalei's corrected statistics, from the fit) and ordinal
    # data (lavaan's catML statistics)
    alt = test.get("fiml_corrected") or test.get("catml")
    xr, xr0, xs_r, c_int = chisq, baseline_chisq, xs, float(test["scaling_factor"])
    ch0 = c_hat(baseline_test) if baseline_test is not None else _NAN
    if alt is not None:
        robust = True
        xr, xr0, xs_r = alt["XX3"], alt["XX3_null"], alt["XX3_scaled"]
        ch, ch0, c_int = alt["c_hat3"], alt["c_hat3_null"], alt["c_hat3"]
    if robust and (baseline_test is not None or alt is not None):
        out["cfi.robust"] = cfi(xr, df, xr0, baseline_df, ch, ch0, robust=True)
        out["tli.robust"] = out["nnfi.robust"] = tli(xr, df, xr0, baseline_df, ch, ch0,
                                                     robust=True)
        out["rni.robust"] = rni(xr, df, xr0, baseline_df, ch, ch0, robust=True)
    if test.get("test") == "scaled.shifted":
        x2, d2 = xs, df
    else:
        x2, d2 = chisq, float(test.get("trace_UGamma", _NAN))
        if not np.isfinite(d2) or d2 == 0:
            d2 = _NAN
    if not _isnan(x2, d2):
        out["rmsea.scaled"] = rmsea(x2, d2, n)
        out["rmsea.ci.lower.scaled"], out["rmsea.ci.upper.scaled"] = rmsea_ci(
            x2, d2, n, rmsea_ci_level)
        out["rmsea.pvalue.scaled"] = rmsea_pvalue(x2, d2, n, close_h0)
        out["rmsea.notclose.pvalue.scaled"] = rmsea_notclose_pvalue(x2, d2, n, notclose_h0)
    if robust and np.isfinite(ch):
        # lavaan: the point estimate uses c.hat3 (scaled-shifted: c(df-b)/df),
        # the interval and p-values the scaled statistic with c = scaling factor
        out["rmsea.robust"] = rmsea(xr, df, n, ch)
        out["rmsea.ci.lower.robust"], out["rmsea.ci.upper.robust"] = rmsea_ci(
            xs_r, df, n, rmsea_ci_level, c_int)
        out["rmsea.pvalue.robust"] = rmsea_pvalue(xs_r, df, n, close_h0, c_int)
        out["rmsea.notclose.pvalue.robust"] = rmsea_notclose_pvalue(xs_r, df, n, notclose_h0,
                                                                    c_int)
    return out


# --------------------------------------------------------------- validation
def _num(value: Any, name: str) -> float:
    """Coerce a scalar to float; ``None`` becomes NaN."""
    if value is None:
        return _NAN
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a number, not bool")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}") from None


def _nonneg(value: Any, name: str) -> float:
    x = _num(value, name)
    if x < 0:
        raise ValueError(f"{name} must be >= 0, got {x!r}")
    return x


def _positive(value: Any, name: str) -> float:
    x = _num(value, name)
    if x <= 0:
        raise ValueError(f"{name} must be > 0, got {x!r}")
    return x


def _isnan(*xs: float) -> bool:
    return any(math.isnan(x) for x in xs)


def _is_zero(x: float) -> bool:
    """R's ``isTRUE(all.equal(x, 0))``: |x| below 1.5e-8."""
    return abs(x) < 1.5e-8


def _matrix(value: Any, name: str) -> np.ndarray:
    m = np.asarray(value, dtype=float)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(f"{name} must be a square matrix, got shape {m.shape}")
    if not np.all(np.isfinite(m)):
        raise ValueError(f"{name} contains non-finite values")
    return m


def _vector(value: Any, name: str, p: int) -> np.ndarray | None:
    if value is None:
        return None
    v = np.asarray(value, dtype=float).reshape(-1)
    if v.shape[0] != p:
        raise ValueError(f"{name} must have length {p}, got {v.shape[0]}")
    return v


# ---------------------------------------------------------------- chi-square
def _moments(sample_cov, implied_cov, sample_mean=None, implied_mean=None):
    """Validated (S, Sigma, m, mu): square matrices of one shape, means both or neither."""
    S = _matrix(sample_cov, "sample_cov")
    Sig = _matrix(implied_cov, "implied_cov")
    if S.shape != Sig.shape:
        raise ValueError("sample_cov and implied_cov must have the same shape")
    p = S.shape[0]
    m = _vector(sample_mean, "sample_mean", p)
    mu = _vector(implied_mean, "implied_mean", p)
    if (m is None) != (mu is None):
        raise ValueError("give both sample_mean and implied_mean, or neither")
    return S, Sig, m, mu


def chisq_pvalue(chisq: float, df: float) -> float:
    """Upper-tail p-value of a chi-square statistic.

    ``p = 1 - F_chi2(chisq; df)``; NaN when ``df == 0`` (a saturated model
    has no test), as lavaan.

    In R: ``fitMeasures(fit, "pvalue")`` (``lav_model_test``:
    ``1 - pchisq(chisq, df)``).
    """
    x, d = _num(chisq, "chisq"), _nonneg(df, "df")
    if _isnan(x, d) or d == 0:
        return _NAN
    return float(chi2_sf(x, d))


def ml_discrepancy(sample_cov, implied_cov, sample_mean=None,
                   implied_mean=None) -> float:
    """Maximum-likelihood discrepancy F_ML between sample and implied moments.

    ``F_ML = log|Sigma| + tr(S Sigma^-1) - log|S| - p
    + (m - mu)' Sigma^-1 (m - mu)``, the mean term only when both mean
    vectors are given.  lavaan's ``fmin`` is half of this (``chisq = 2 N
    fmin``).

    References: Joreskog (1967); Bollen (1989), *Structural Equations with
    Latent Variables*, eq. 4.67.

    In R: ``2 * fitMeasures(fit, "fmin")``.
    """
    S = _matrix(sample_cov, "sample_cov")
    Sig = _matrix(implied_cov, "implied_cov")
    if S.shape != Sig.shape:
        raise ValueError("sample_cov and implied_cov must have the same shape")
    p = S.shape[0]
    sign_s, logdet_s = np.linalg.slogdet(S)
    sign_m, logdet_m = np.linalg.slogdet(Sig)
    if sign_s <= 0:
        raise ValueError("sample_cov is not positive definite")
    if sign_m <= 0:
        raise ValueError("implied_cov is not positive definite")
    Sinv = np.linalg.inv(Sig)
    f = logdet_m + np.trace(S @ Sinv) - logdet_s - p
    m = _vector(sample_mean, "sample_mean", p)
    mu = _vector(implied_mean, "implied_mean", p)
    if m is not None and mu is not None:
        r = m - mu
        f += float(r @ Sinv @ r)
    return float(max(f, 0.0))


def chisq_ml(f_ml: float, nobs: int, likelihood: str = "normal") -> float:
    """Likelihood-ratio chi-square from the ML discrepancy.

    ``chisq = N * F_ML`` (``likelihood="normal"``, lavaan's default) or
    ``(N - 1) * F_ML`` (``"wishart"``, AMOS; F_ML then uses S with divisor
    N - 1).  Negative values are set to 0, as lavaan.

    In R: ``fitMeasures(fit, "chisq")`` (``lav_model_test``).
    """
    f = _num(f_ml, "f_ml")
    n = _positive(nobs, "nobs")
    return float(max(f, 0.0) * rmsea_n(n, likelihood))


def baseline_chisq_ml(sample_cov, nobs: int, likelihood: str = "normal",
                      x_idx: Sequence[int] | None = None) -> float:
    """Chi-square of lavaan's baseline (independence) model, complete data.

    The baseline model has free variances (and free means), no covariances,
    so ``F_0 = sum(log s_ii) - log|S|`` and ``chisq_0 = N * F_0`` (or
    ``(N - 1) * F_0`` under Wishart); ``df_0 = p (p - 1) / 2``.  With fixed-x
    covariates (*x_idx*, q of them) their covariances stay free:
    ``F_0 = sum_{i not x} log s_ii + log|S_xx| - log|S|`` and
    ``df_0 = p (p - 1) / 2 - q (q - 1) / 2``.  Under FIML the baseline is
    fitted by FIML and has no closed form: use the engine's value.

    In R: ``fitMeasures(fit, "baseline.chisq")``.
    """
    S = _matrix(sample_cov, "sample_cov")
    sign, logdet = np.linalg.slogdet(S)
    if sign <= 0:
        raise ValueError("sample_cov is not positive definite")
    xi = sorted(set(int(i) for i in (x_idx or [])))
    rest = [i for i in range(S.shape[0]) if i not in xi]
    f0 = float(np.sum(np.log(np.diag(S)[rest])) - logdet)
    if xi:
        sx, ldx = np.linalg.slogdet(S[np.ix_(xi, xi)])
        if sx <= 0:
            raise ValueError("sample_cov is not positive definite on x_idx")
        f0 += float(ldx)
    return chisq_ml(f0, nobs, likelihood)


# ------------------------------------------------- incremental fit indices
def cfi(chisq: float, df: float, baseline_chisq: float, baseline_df: float,
        c_hat: float = 1.0, c_hat_null: float = 1.0, robust: bool = False) -> float:
    """Comparative fit index (Bentler, 1990).

    ``CFI = 1 - max(chisq - df, 0) / max(chisq - df, chisq_0 - df_0, 0)``,
    hence always in [0, 1]; 1 when both numerator and denominator are 0.

    Reference: Bentler, P. M. (1990). Comparative fit indexes in structural
    models. *Psychological Bulletin*, 107, 238-246.

    With scaling factors ``c_hat`` / ``c_hat_null`` (both != 1, or
    ``robust=True``: a factor of exactly 1, e.g. a DWLS baseline, still
    counts) this is the robust CFI of Brosseau-Liard & Savalei (2014):
    ``chisq - c df`` in place of ``chisq - df`` (lavaan's ``cfi.robust``,
    unscaled chi-squares).

    In R: ``fitMeasures(fit, "cfi")`` (``lav_fit_cfi``).
    """
    x, d = _num(chisq, "chisq"), _num(df, "df")
    x0, d0 = _num(baseline_chisq, "baseline_chisq"), _num(baseline_df, "baseline_df")
    if _isnan(x, d, x0, d0, c_hat, c_hat_null):
        return _NAN
    use = d > 0 and (robust or (c_hat != 1 and c_hat_null != 1))
    c, c0 = (c_hat, c_hat_null) if use else (1.0, 1.0)
    t1 = max(x - c * d, 0.0)
    t2 = max(x - c * d, x0 - c0 * d0, 0.0)
    if _is_zero(t1) and _is_zero(t2):
        return 1.0
    return 1.0 - t1 / t2


def tli(chisq: float, df: float, baseline_chisq: float, baseline_df: float,
        c_hat: float = 1.0, c_hat_null: float = 1.0, robust: bool = False) -> float:
    """Tucker-Lewis index / non-normed fit index (NNFI).

    ``TLI = 1 - [(chisq - df) df_0] / [(chisq_0 - df_0) df]`` for df > 0,
    1 for df = 0.  **Not clipped** (lavaan and AMOS): TLI > 1 when
    chisq < df, and it can be negative.

    References: Tucker, L. R., & Lewis, C. (1973). *Psychometrika*, 38, 1-10;
    Bentler, P. M., & Bonett, D. G. (1980). *Psychological Bulletin*, 88,
    588-606.

    In R: ``fitMeasures(fit, "tli")`` (``lav_fit_tli``; ``"nnfi"`` is the
    same number).
    """
    x, d = _num(chisq, "chisq"), _num(df, "df")
    x0, d0 = _num(baseline_chisq, "baseline_chisq"), _num(baseline_df, "baseline_df")
    if _isnan(x, d, x0, d0, c_hat, c_hat_null):
        return _NAN
    use = d > 0 and (robust or (c_hat != 1 and c_hat_null != 1))
    c, c0 = (c_hat, c_hat_null) if use else (1.0, 1.0)
    t1 = (x - c * d) * d0
    t2 = (x0 - c0 * d0) * d
    if d > 0 and abs(t2) > 0:
        return 1.0 - t1 / t2
    if not (math.isfinite(t1) and math.isfinite(t2)):
        return _NAN
    return 1.0


def nfi(chisq: float, df: float, baseline_chisq: float, baseline_df: float) -> float:
    """Normed fit index (Bentler & Bonett, 1980).

    ``NFI = (chisq_0 - chisq) / chisq_0``; NaN when df > df_0 or chisq_0 = 0,
    1 when df = 0.  This is what semopy 2.3.11 mislabels "GFI".

    In R: ``fitMeasures(fit, "nfi")`` (``lav_fit_nfi``).
    """
    x, d = _num(chisq, "chisq"), _num(df, "df")
    x0, d0 = _num(baseline_chisq, "baseline_chisq"), _num(baseline_df, "baseline_df")
    if _isnan(x, d, x0, d0):
        return _NAN
    if d > d0 or _is_zero(x0):
        return _NAN
    if d > 0:
        return (x0 - x) / x0
    return 1.0


def ifi(chisq: float, df: float, baseline_chisq: float, baseline_df: float) -> float:
    """Incremental fit index (Bollen, 1989), also "BL89".

    ``IFI = (chisq_0 - chisq) / (chisq_0 - df)``; 1 when the denominator is
    negative, NaN when it is 0.  Not clipped above: IFI > 1 when chisq < df.

    Reference: Bollen, K. A. (1989). A new incremental fit index for general
    structural equation models. *Sociological Methods & Research*, 17,
    303-316.

    In R: ``fitMeasures(fit, "ifi")`` (``lav_fit_ifi``).
    """
    x, d = _num(chisq, "chisq"), _num(df, "df")
    x0, d0 = _num(baseline_chisq, "baseline_chisq"), _num(baseline_df, "baseline_df")
    if _isnan(x, d, x0, d0):
        return _NAN
    t1, t2 = x0 - x, x0 - d
    if not (math.isfinite(t1) and math.isfinite(t2)):
        return _NAN
    if t2 < 0:
        return 1.0
    if _is_zero(t2):
        return _NAN
    return t1 / t2


def rfi(chisq: float, df: float, baseline_chisq: float, baseline_df: float) -> float:
    """Relative fit index (Bollen, 1986), also "RHO1".

    ``RFI = (chisq_0/df_0 - chisq/df) / (chisq_0/df_0)``, set to 1 when
    either part is negative or df = 0, NaN when df > df_0.

    In R: ``fitMeasures(fit, "rfi")`` (``lav_fit_rfi``).
    """
    x, d = _num(chisq, "chisq"), _num(df, "df")
    x0, d0 = _num(baseline_chisq, "baseline_chisq"), _num(baseline_df, "baseline_df")
    if _isnan(x, d, x0, d0):
        return _NAN
    if d > d0:
        return _NAN
    if d > 0 and d0 > 0:
        t1 = x0 / d0 - x / d
        t2 = x0 / d0
        if not (math.isfinite(t1) and math.isfinite(t2)):
            return _NAN
        if t1 < 0 or t2 < 0:
            return 1.0
        return t1 / t2
    return 1.0


def rni(chisq: float, df: float, baseline_chisq: float, baseline_df: float,
        c_hat: float = 1.0, c_hat_null: float = 1.0, robust: bool = False) -> float:
    """Relative noncentrality index (McDonald & Marsh, 1990): CFI unclipped.

    ``RNI = 1 - (chisq - df) / (chisq_0 - df_0)``; NaN when the denominator
    is 0.

    In R: ``fitMeasures(fit, "rni")`` (``lav_fit_rni``).
    """
    x, d = _num(chisq, "chisq"), _num(df, "df")
    x0, d0 = _num(baseline_chisq, "baseline_chisq"), _num(baseline_df, "baseline_df")
    if _isnan(x, d, x0, d0, c_hat, c_hat_null):
        return _NAN
    use = d > 0 and (robust or (c_hat != 1 and c_hat_null != 1))
    c, c0 = (c_hat, c_hat_null) if use else (1.0, 1.0)
    t1, t2 = x - c * d, x0 - c0 * d0
    if _is_zero(t2) or not (math.isfinite(t1) and math.isfinite(t2)):
        return _NAN
    return 1.0 - t1 / t2


def pnfi(chisq: float, df: float, baseline_chisq: float, baseline_df: float) -> float:
    """Parsimony normed fit index (James, Mulaik & Brett, 1982).

    ``PNFI = (df / df_0) * NFI``; NaN unless df_0 > 0 and chisq_0 > 0.

    In R: ``fitMeasures(fit, "pnfi")`` (``lav_fit_pnfi``).
    """
    x, d = _num(chisq, "chisq"), _num(df, "df")
    x0, d0 = _num(baseline_chisq, "baseline_chisq"), _num(baseline_df, "baseline_df")
    if _isnan(x, d, x0, d0):
        return _NAN
    if d0 > 0 and x0 > 0:
        return (d / d0) * ((x0 - x) / x0)
    return _NAN


# -------------------------------------------------------------------- RMSEA
def rmsea_n(nobs: float, likelihood: str = "normal") -> float:
    """The N that RMSEA (and the chi-square) use: N or N - 1.

    lavaan's ``lav_utils_get_ntotal``: N under ML with ``likelihood =
    "normal"`` (the default, also under FIML); N - 1 (N minus the number of
    groups) under ``likelihood = "wishart"``, which is AMOS's convention.

    In R: ``lavaan:::lav_utils_get_ntotal(fit)``.
    """
    n = _positive(nobs, "nobs")
    if likelihood == "normal":
        return n
    if likelihood == "wishart":
        return n - 1.0
    raise ValueError(f"likelihood must be 'normal' or 'wishart', got {likelihood!r}")


def rmsea(chisq: float, df: float, n: float, c_hat: float = 1.0) -> float:
    """Root mean square error of approximation (Steiger & Lind, 1980).

    ``RMSEA = sqrt(max(chisq / (n df) - 1 / n, 0))`` for df > 0, 0 for
    df = 0; *n* from :func:`rmsea_n` (N, or N - 1 under Wishart).

    References: Steiger, J. H. (1990). *Multivariate Behavioral Research*,
    25, 173-180; Browne, M. W., & Cudeck, R. (1993). Alternative ways of
    assessing model fit.

    In R: ``fitMeasures(fit, "rmsea")`` (``lav_fit_rmsea``).
    """
    x, d, nn = _num(chisq, "chisq"), _nonneg(df, "df"), _positive(n, "n")
    if _isnan(x, d, nn):
        return _NAN
    if d <= 0:
        return 0.0
    if _isnan(c_hat):
        return _NAN
    return math.sqrt(max(x / nn / d - c_hat / nn, 0.0))


def _ncx2_cdf(x: float, df: float, ncp: float) -> float:
    if ncp <= 0:
        return float(chi2_cdf(x, df))
    return float(ncx2_cdf(x, df, ncp))


def _ncp_root(x: float, df: float, p: float) -> float:
    """lambda with F(x; df, lambda) = p, or ValueError when there is none."""
    lam = float(ncx2_ncp(x, df, p))
    if not math.isfinite(lam):
        raise ValueError("no noncentrality solves the equation")
    return lam


def rmsea_ci(chisq: float, df: float, n: float, level: float = 0.90,
             c_hat: float = 1.0) -> tuple[float, float]:
    """Confidence interval of RMSEA by noncentral chi-square inversion.

    The limits solve ``F_chi2(chisq; df, lambda) = 1 - (1 - level)/2`` (lower)
    and ``= (1 - level)/2`` (upper) for the noncentrality lambda, then
    ``RMSEA = sqrt(lambda / (n df))``.  As lavaan: the lower limit is 0 when
    ``F(chisq; df, 0)`` is already below ``1 - (1 - level)/2`` (and when
    df < 1); the upper limit is searched on ``[0, max(n, 4 chisq)]`` and is 0
    when no root lies there.

    Reference: Browne & Cudeck (1993); MacCallum, Browne & Sugawara (1996).
    *Psychological Methods*, 1, 130-149.

    In R: ``fitMeasures(fit, c("rmsea.ci.lower", "rmsea.ci.upper"))``
    (``lav_fit_rmsea_ci``).
    """
    x, d, nn = _num(chisq, "chisq"), _nonneg(df, "df"), _positive(n, "n")
    lv = _num(level, "level")
    if not (0 < lv < 1):
        raise ValueError(f"level must be in (0, 1), got {lv!r}")
    if _isnan(x, d, nn):
        return (_NAN, _NAN)
    upper_p = 1 - (1 - lv) / 2
    lower_p = (1 - lv) / 2

    def f_lower(lam: float) -> float:
        return _ncx2_cdf(x, d, lam) - upper_p

    def f_upper(lam: float) -> float:
        return _ncx2_cdf(x, d, lam) - lower_p

    if d < 1 or f_lower(0.0) < 0:
        lo = 0.0
    else:
        try:
            lam = _ncp_root(x, d, upper_p)
            lo = math.sqrt(c_hat * lam / (nn * d))
        except ValueError:
            lo = _NAN
    n_upper = max(nn, 4 * x)
    if d < 1 or f_upper(n_upper) > 0 or f_upper(0.0) < 0:
        hi = 0.0
    else:
        try:
            lam = _ncp_root(x, d, lower_p)
            hi = math.sqrt(c_hat * lam / (nn * d))
        except ValueError:
            hi = _NAN
    return (lo, hi)


def rmsea_pvalue(chisq: float, df: float, n: float, h0: float = 0.05,
                 c_hat: float = 1.0) -> float:
    """p-value of the test of close fit, H0: RMSEA <= h0 (AMOS's PCLOSE).

    ``p = 1 - F_chi2(chisq; df, lambda0)`` with ``lambda0 = n df h0^2``;
    NaN when df = 0.

    Reference: Browne & Cudeck (1993); MacCallum, Browne & Sugawara (1996).

    In R: ``fitMeasures(fit, "rmsea.pvalue")`` (``lav_fit_rmsea_closefit``).
    """
    x, d, nn = _num(chisq, "chisq"), _nonneg(df, "df"), _positive(n, "n")
    if _isnan(x, d, nn) or d == 0:
        return _NAN
    ncp = nn * d / c_hat * _num(h0, "h0") ** 2
    return 1.0 - _ncx2_cdf(x, d, ncp)


def rmsea_notclose_pvalue(chisq: float, df: float, n: float, h0: float = 0.08,
                          c_hat: float = 1.0) -> float:
    """p-value of the test of not-close fit, H0: RMSEA >= h0.

    ``p = F_chi2(chisq; df, n df h0^2)`` (MacCallum et al., 1996).

    In R: ``fitMeasures(fit, "rmsea.notclose.pvalue")``.
    """
    x, d, nn = _num(chisq, "chisq"), _nonneg(df, "df"), _positive(n, "n")
    if _isnan(x, d, nn) or d == 0:
        return _NAN
    return _ncx2_cdf(x, d, nn * d / c_hat * _num(h0, "h0") ** 2)


# ---------------------------------------------------------------- GFI, SRMR
def missing_patterns(data) -> list[tuple[np.ndarray, int]]:
    """Missing-data patterns of a data matrix: ``[(observed_mask, count)]``.

    Rows with no observed value are dropped (lavaan drops empty cases).

    In R: ``lavInspect(fit, "patterns")``.
    """
    y = np.asarray(data, dtype=float)
    if y.ndim != 2:
        raise ValueError(f"data must be 2-dimensional, got shape {y.shape}")
    obs = ~np.isnan(y)
    obs = obs[obs.any(axis=1)]
    pats, counts = np.unique(obs, axis=0, return_counts=True)
    return [(p.astype(bool), int(c)) for p, c in zip(pats, counts)]


def available_case_moments(data) -> tuple[np.ndarray, np.ndarray]:
    """Available-case moments of data with missing values, lavaan's way.

    Means over the observed values of each column; covariances over the
    pairwise-complete rows (R's ``cov(use = "pairwise")``, divisor
    n_ij - 1), then rescaled by (N - 1)/N with N the number of non-empty
    rows.  Under ``missing = "ml"`` these (not the EM estimates) are
    lavaan's ``WLS.obs``, the s that enters GFI.

    In R: ``lavInspect(fit, "wls.obs")`` with ``missing = "ml"``.
    """
    y = np.asarray(data, dtype=float)
    if y.ndim != 2:
        raise ValueError(f"data must be 2-dimensional, got shape {y.shape}")
    y = y[~np.all(np.isnan(y), axis=1)]
    n = y.shape[0]
    if n < 2:
        raise ValueError("data must have at least two non-empty rows")
    frame = pd.DataFrame(y)
    cov = frame.cov(ddof=1).to_numpy() * (n - 1) / n
    return cov, frame.mean().to_numpy()


def _pattern_inverses(Sigma: np.ndarray, patterns) -> list[tuple[np.ndarray, float]]:
    p = Sigma.shape[0]
    if patterns is None:
        return [(np.linalg.inv(Sigma), 1.0)]
    out, total = [], 0.0
    for mask, freq in patterns:
        mask = np.asarray(mask, dtype=bool).reshape(-1)
        if mask.shape[0] != p:
            raise ValueError(f"patterns: mask of length {mask.shape[0]}, expected {p}")
        A = np.zeros((p, p))
        idx = np.flatnonzero(mask)
        A[np.ix_(idx, idx)] = np.linalg.inv(Sigma[np.ix_(idx, idx)])
        out.append((A, float(freq)))
        total += float(freq)
    if total <= 0:
        raise ValueError("patterns: the counts must sum to > 0")
    return [(A, f / total) for A, f in out]


def ml_weight_quadratic(cov_part, mean_part, implied_cov, patterns=None,
                        x_idx: Sequence[int] | None = None) -> float:
    """Quadratic form ``w' V w`` with lavaan's ML weight matrix V.

    V is the expected information of the saturated normal model at the
    implied moments (lavaan ``lav_model_h1_information_expected``,
    ``h1.information = "structured"``): for the covariances
    ``0.5 D' (Sigma^-1 (x) Sigma^-1) D``, for the means ``Sigma^-1``.  Since
    ``vech(X)' V vech(X) = 0.5 tr(X A X A)`` no duplication matrix is
    needed.  With missing data, V averages over the missing-data *patterns*
    (``[(observed_mask, count)]``) the same blocks built from the inverse
    of the observed part of Sigma (``lav_mvnorm_missing_information_expected``).
    Elements among the fixed-x covariates *x_idx* get weight 0.

    In R: ``lavInspect(fit, "wls.v")``.
    """
    Sig = _matrix(implied_cov, "implied_cov")
    X = _matrix(cov_part, "cov_part")
    r = _vector(mean_part, "mean_part", Sig.shape[0])
    if x_idx:
        xi = np.asarray(list(x_idx), dtype=int)
        X = X.copy()
        X[np.ix_(xi, xi)] = 0.0
        if r is not None:
            r = r.copy()
            r[xi] = 0.0
    total = 0.0
    for A, w in _pattern_inverses(Sig, patterns):
        XA = X @ A
        q = 0.5 * float(np.sum(XA * XA.T))
        if r is not None:
            q += float(r @ A @ r)
        total += w * q
    return total


def gfi(sample_cov, implied_cov, sample_mean=None, implied_mean=None, *,
        patterns=None, x_idx: Sequence[int] | None = None) -> float:
    """Goodness-of-fit index for ML (Joreskog & Sorbom), lavaan's version.

    ``GFI = 1 - (s - sigma)' V (s - sigma) / s' V s`` with s = (m, vech S),
    sigma = (mu, vech Sigma) and V the ML weight of
    :func:`ml_weight_quadratic`.  Without means and without missing data this
    is Joreskog-Sorbom's ``1 - tr[(Sigma^-1 S - I)^2] / tr[(Sigma^-1 S)^2]``.
    With a mean structure (always under FIML) lavaan adds
    ``(m - mu)' Sigma^-1 (m - mu)`` and ``m' Sigma^-1 m`` (raw means) to the
    two sums.  Under FIML lavaan weights by the missing-data *patterns* and
    takes s from the available-case moments (:func:`available_case_moments`),
    not from the EM estimates (which SRMR uses).

    References: Joreskog, K. G., & Sorbom, D. (1984). *LISREL VI User's
    Guide*; Tanaka, J. S., & Huba, G. J. (1985). *British Journal of
    Mathematical and Statistical Psychology*, 38, 197-201.

    In R: ``fitMeasures(fit, "gfi")`` (``lav_fit_gfi``).
    """
    S, Sig, m, mu = _moments(sample_cov, implied_cov, sample_mean, implied_mean)
    t1 = ml_weight_quadratic(S - Sig, None if m is None else m - mu, Sig,
                             patterns, x_idx)
    t2 = ml_weight_quadratic(S, m, Sig, patterns, x_idx)
    return 1.0 - t1 / t2


def agfi(gfi_value: float, nel: int, df: float) -> float:
    """Adjusted goodness-of-fit index.

    ``AGFI = 1 - (nel / df) (1 - GFI)`` with nel the number of sample
    moments (``p(p+1)/2``, plus p with a mean structure); 1 when df = 0.

    Reference: Joreskog & Sorbom (1984).

    In R: ``fitMeasures(fit, "agfi")`` (``lav_fit_agfi``).
    """
    g, k, d = _num(gfi_value, "gfi_value"), _num(nel, "nel"), _nonneg(df, "df")
    if _isnan(g, k, d):
        return _NAN
    if d > 0:
        return 1.0 - (k / d) * (1.0 - g)
    return 1.0


def pgfi(gfi_value: float, nel: int, df: float) -> float:
    """Parsimony GFI (Mulaik et al., 1989): ``PGFI = (df / nel) GFI``.

    In R: ``fitMeasures(fit, "pgfi")`` (``lav_fit_pgfi``).
    """
    g, k, d = _num(gfi_value, "gfi_value"), _num(nel, "nel"), _nonneg(df, "df")
    if _isnan(g, k, d) or k == 0:
        return _NAN
    return (d / k) * g


def _rescale(x: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """lavaan's ``lav_residuals_rescale``: entries with |x| < 1e-5 stay."""
    out = x * scale
    near_zero = np.abs(x) < 1e-5
    out[near_zero] = x[near_zero]
    return out


def srmr(sample_cov, implied_cov, sample_mean=None, implied_mean=None) -> float:
    """Standardized root mean square residual, Bentler's version (lavaan's).

    ``SRMR = sqrt(sum_{i<=j} r_ij^2 / p*)`` with
    ``r_ij = s_ij / sqrt(s_ii s_jj) - sigma_ij / sqrt(s_ii s_jj)`` (both scaled
    by the *sample* variances, the diagonal included, ``p* = p(p+1)/2``).
    With means, the scaled mean residuals ``(m_i - mu_i)/sqrt(s_ii)`` are
    added and ``p* = p(p+1)/2 + p``.  As lavaan, an entry whose absolute value
    is below 1e-5 is left unscaled.

    References: Bentler, P. M. (1995). *EQS Structural Equations Program
    Manual*; Hu, L., & Bentler, P. M. (1999). *Structural Equation
    Modeling*, 6, 1-55.

    In R: ``fitMeasures(fit, "srmr")`` (= ``"srmr_bentler"``;
    ``lavResiduals(fit, type = "cor.bentler")``).
    """
    S, Sig, m, mu = _moments(sample_cov, implied_cov, sample_mean, implied_mean)
    p = S.shape[0]
    var = np.diag(S).copy()
    if np.any(var < np.finfo(float).eps):
        raise ValueError("sample_cov has a zero or negative variance")
    sd = np.sqrt(var)
    scale = 1.0 / np.outer(sd, sd)
    R = _rescale(S, scale) - _rescale(Sig, scale)
    rows, cols = np.tril_indices(p)
    resid = [R[rows, cols]]
    if m is not None:
        resid.insert(0, _rescale(m, 1.0 / sd) - _rescale(mu, 1.0 / sd))
    r = np.concatenate(resid)
    return float(math.sqrt(np.sum(r * r) / r.size))


def rmr(sample_cov, implied_cov, sample_mean=None, implied_mean=None) -> float:
    """Root mean square residual (unstandardized).

    ``RMR = sqrt(sum r^2 / p*)`` over the raw residuals ``s_ij - sigma_ij``
    (i <= j, ``p* = p(p+1)/2``), plus the mean residuals ``m_i - mu_i`` when
    means are given (``p* = p(p+1)/2 + p``).

    Reference: Joreskog & Sorbom (1981), *LISREL V*.

    In R: ``fitMeasures(fit, c("rmr", "rmr_nomean"))``.
    """
    S, Sig, m, mu = _moments(sample_cov, implied_cov, sample_mean, implied_mean)
    p = S.shape[0]
    rows, cols = np.tril_indices(p)
    r = [(S - Sig)[rows, cols]]
    if m is not None:
        r.insert(0, m - mu)
    v = np.concatenate(r)
    return float(math.sqrt(np.sum(v * v) / v.size))


def crmr(sample_cov, implied_cov, sample_mean=None, implied_mean=None) -> float:
    """Correlation root mean square residual (Bollen's residual correlations).

    Residuals of the correlations, ``s_ij/sqrt(s_ii s_jj) -
    sigma_ij/sqrt(sigma_ii sigma_jj)``, averaged over the ``p(p-1)/2``
    off-diagonal elements (the diagonal residuals are 0 and do not count);
    with means, ``m_i/sqrt(s_ii) - mu_i/sqrt(s_ii)`` are added and
    ``p* = p(p-1)/2 + p``.  Entries below 1e-5 in absolute value are left
    unscaled, as lavaan.

    Reference: Bollen, K. A. (1989), *Structural Equations with Latent
    Variables*, p. 258.

    In R: ``fitMeasures(fit, c("crmr", "crmr_nomean"))``.
    """
    S, Sig, m, mu = _moments(sample_cov, implied_cov, sample_mean, implied_mean)
    p = S.shape[0]
    sd_o = np.sqrt(np.diag(S))
    sd_e = np.sqrt(np.diag(Sig))
    R = _rescale(S, 1.0 / np.outer(sd_o, sd_o)) - _rescale(Sig, 1.0 / np.outer(sd_e, sd_e))
    rows, cols = np.tril_indices(p)
    r = [R[rows, cols]]
    if m is not None:
        r.insert(0, _rescale(m, 1.0 / sd_o) - _rescale(mu, 1.0 / sd_o))
    v = np.concatenate(r)
    return float(math.sqrt(np.sum(v * v) / (v.size - p)))


def srmr_mplus(sample_cov, implied_cov, sample_mean=None, implied_mean=None) -> float:
    """SRMR as Mplus defines it.

    Off-diagonal correlation residuals ``cor(S) - cor(Sigma)``, the
    variance residuals ``(s_ii - sigma_ii) / s_ii`` and, with means,
    ``m_i/sqrt(s_ii) - mu_i/sqrt(sigma_ii)``; divided by
    ``p(p+1)/2`` (+ p with means).

    Reference: Muthen, L. K., & Muthen, B. O., *Mplus Technical Appendices*.

    In R: ``fitMeasures(fit, c("srmr_mplus", "srmr_mplus_nomean"))``.
    """
    S, Sig, m, mu = _moments(sample_cov, implied_cov, sample_mean, implied_mean)
    p = S.shape[0]
    sd_o = np.sqrt(np.diag(S))
    sd_e = np.sqrt(np.diag(Sig))
    R = S / np.outer(sd_o, sd_o) - Sig / np.outer(sd_e, sd_e)
    rows, cols = np.tril_indices(p, k=-1)
    total = float(np.sum(R[rows, cols] ** 2))
    total += float(np.sum(((np.diag(S) - np.diag(Sig)) / np.diag(S)) ** 2))
    e = p * (p + 1) / 2
    if m is not None:
        total += float(np.sum((m / sd_o - mu / sd_e) ** 2))
        e += p
    return math.sqrt(total / e)


def hoelter_cn(chisq: float, df: float, n: float, alpha: float = 0.05) -> float:
    """Hoelter's critical N: ``CN = chi2_{1-alpha}(df) / (chisq / n) + 1``.

    NaN for a saturated model with chisq 0.  *n* as for RMSEA.

    Reference: Hoelter, J. W. (1983). *Sociological Methods & Research*,
    11, 325-344.

    In R: ``fitMeasures(fit, c("cn_05", "cn_01"))`` (``lav_fit_cn``).
    """
    x, d, nn = _num(chisq, "chisq"), _nonneg(df, "df"), _positive(n, "n")
    if _isnan(x, d, nn) or (d == 0 and x < np.finfo(float).eps):
        return _NAN
    if x == 0:
        return math.inf
    return float(chi2_ppf(1 - _num(alpha, "alpha"), d)) / (x / nn) + 1


def mfi(chisq: float, df: float, n: float) -> float:
    """McDonald's fit index, ``MFI = exp(-(chisq - df) / (2 n))``.

    Reference: McDonald, R. P. (1989). *Journal of Classification*, 6, 97-103.

    In R: ``fitMeasures(fit, "mfi")`` (``lav_fit_mfi``).
    """
    x, d, nn = _num(chisq, "chisq"), _nonneg(df, "df"), _positive(n, "n")
    return math.exp(-0.5 * (x - d) / nn)


def ecvi(chisq: float, npar: float, n: float) -> float:
    """Expected cross-validation index, ``ECVI = chisq / n + 2 npar / n``.

    Reference: Browne, M. W., & Cudeck, R. (1989). *Multivariate Behavioral
    Research*, 24, 445-455.

    In R: ``fitMeasures(fit, "ecvi")`` (``lav_fit_ecvi``).
    """
    x, q, nn = _num(chisq, "chisq"), _num(npar, "npar"), _positive(n, "n")
    return x / nn + 2 * q / nn


# --------------------------------------------------------- log-likelihoods
_LOG2PI = math.log(2 * math.pi)


def loglik_normal(sample_cov, nobs: int, implied_cov=None, sample_mean=None,
                  implied_mean=None, x_idx: Sequence[int] | None = None) -> float:
    """Normal log-likelihood of complete data from sample moments.

    ``logl = -N/2 [p log 2 pi + log|Sigma| + tr(S Sigma^-1)
    + (m - mu)' Sigma^-1 (m - mu)]``; with ``implied_cov=None`` the saturated
    (unrestricted) value ``-N/2 [p log 2 pi + log|S| + p]``.  lavaan uses the
    S it fitted: divisor N, or N - 1 under ``likelihood="wishart"`` (still
    multiplied by N/2).  Without a mean structure mu = m.  With fixed-x
    covariates (*x_idx*, q of them) lavaan reports the likelihood
    conditional on them: the marginal ``-N/2 [q log 2 pi + log|S_xx| + q]``
    is subtracted from both values.

    In R: ``fitMeasures(fit, c("logl", "unrestricted.logl"))``.
    """
    S = _matrix(sample_cov, "sample_cov")
    n = _positive(nobs, "nobs")
    p = S.shape[0]
    xi = sorted(set(int(i) for i in (x_idx or [])))
    marginal_x = 0.0
    if xi:
        sx, ldx = np.linalg.slogdet(S[np.ix_(xi, xi)])
        if sx <= 0:
            raise ValueError("sample_cov is not positive definite on x_idx")
        marginal_x = -n / 2 * (len(xi) * _LOG2PI + ldx + len(xi))
    if implied_cov is None:
        sign, logdet = np.linalg.slogdet(S)
        if sign <= 0:
            raise ValueError("sample_cov is not positive definite")
        return float(-n / 2 * (p * _LOG2PI + logdet + p) - marginal_x)
    Sig = _matrix(implied_cov, "implied_cov")
    sign, logdet = np.linalg.slogdet(Sig)
    if sign <= 0:
        raise ValueError("implied_cov is not positive definite")
    Sinv = np.linalg.inv(Sig)
    q = float(np.trace(S @ Sinv))
    m = _vector(sample_mean, "sample_mean", p)
    mu = _vector(implied_mean, "implied_mean", p)
    if m is not None and mu is not None:
        r = m - mu
        q += float(r @ Sinv @ r)
    return float(-n / 2 * (p * _LOG2PI + logdet + q) - marginal_x)


def loglik_missing(data, mean, cov) -> float:
    """Casewise (FIML) normal log-likelihood of data with missing values.

    ``logl = sum_i -1/2 [p_i log 2 pi + log|Sigma_i| + (y_i - mu_i)'
    Sigma_i^-1 (y_i - mu_i)]`` over the observed part of each row; rows with
    nothing observed are skipped.  At the model's implied moments this is
    lavaan's ``logl``; at the EM estimates of the saturated model it is
    ``unrestricted.logl`` (and ``chisq = -2 (logl - unrestricted.logl)``).

    Reference: Arbuckle, J. L. (1996). Full information estimation in the
    presence of incomplete data.

    In R: ``fitMeasures(fit, c("logl", "unrestricted.logl"))`` with
    ``missing = "ml"``.
    """
    y = np.asarray(data, dtype=float)
    if y.ndim != 2:
        raise ValueError(f"data must be 2-dimensional, got shape {y.shape}")
    Sig = _matrix(cov, "cov")
    p = Sig.shape[0]
    if y.shape[1] != p:
        raise ValueError(f"data has {y.shape[1]} columns, cov is {p} x {p}")
    mu = _vector(mean, "mean", p)
    obs = ~np.isnan(y)
    total = 0.0
    for mask in np.unique(obs, axis=0):
        if not mask.any():
            continue
        rows = np.all(obs == mask, axis=1)
        idx = np.flatnonzero(mask)
        S = Sig[np.ix_(idx, idx)]
        sign, logdet = np.linalg.slogdet(S)
        if sign <= 0:
            raise ValueError("cov is not positive definite on a missing-data pattern")
        d = y[np.ix_(rows, idx)] - mu[idx]
        q = np.einsum("ij,jk,ik->i", d, np.linalg.inv(S), d)
        total += float(-0.5 * np.sum(idx.size * _LOG2PI + logdet + q))
    return total


def aic(logl: float, npar: int) -> float:
    """Akaike information criterion, ``AIC = -2 logl + 2 npar``.

    In R: ``fitMeasures(fit, "aic")`` (``lav_fit_aic``).
    """
    return -2.0 * _num(logl, "logl") + 2.0 * _num(npar, "npar")


def bic(logl: float, npar: int, nobs: int) -> float:
    """Bayesian information criterion, ``BIC = -2 logl + npar log N``.

    In R: ``fitMeasures(fit, "bic")`` (``lav_fit_bic``).
    """
    return -2.0 * _num(logl, "logl") + _num(npar, "npar") * math.log(_positive(nobs, "nobs"))


def bic2(logl: float, npar: int, nobs: int) -> float:
    """Sample-size adjusted BIC (Sclove, 1987): N* = (N + 2) / 24.

    ``BIC2 = -2 logl + npar log((N + 2) / 24)``.

    In R: ``fitMeasures(fit, "bic2")`` (``lav_fit_sabic``).
    """
    n = _positive(nobs, "nobs")
    return -2.0 * _num(logl, "logl") + _num(npar, "npar") * math.log((n + 2) / 24)


def cmin_df(chisq: float, df: float) -> float:
    """AMOS's CMIN/DF, the chi-square divided by its degrees of freedom.

    NaN when df = 0.  Note that AMOS's CMIN is the Wishart chi-square
    ((N - 1) F_ML): fit with ``likelihood="wishart"`` to reproduce AMOS.

    In R: ``fitMeasures(fit, "chisq") / fitMeasures(fit, "df")``.
    """
    x, d = _num(chisq, "chisq"), _nonneg(df, "df")
    if _isnan(x, d) or d == 0:
        return _NAN
    return x / d


# ------------------------------------------------------------ wrapper layer
_REQUIRED = ("nobs", "likelihood", "missing", "sample_cov", "implied_cov",
             "meanstructure", "npar", "df", "chisq", "baseline_chisq",
             "baseline_df", "logl", "logl_unrestricted")


def _result_data(result, p: int, observed: list[str] | None) -> np.ndarray | None:
    data = getattr(result, "data", None)
    if data is None:
        return None
    if isinstance(data, pd.DataFrame) and observed is not None:
        missing_cols = [c for c in observed if c not in data.columns]
        if missing_cols:
            raise ValueError("result.data lacks the observed column(s): "
                             + ", ".join(missing_cols))
        data = data.loc[:, observed]
    arr = np.asarray(data, dtype=float)
    if arr.ndim != 2 or arr.shape[1] != p:
        raise ValueError(f"result.data must have {p} observed columns, got shape {arr.shape}")
    return arr


def fit_measures(result, *, rmsea_ci_level: float = 0.90,
                 close_h0: float = 0.05, notclose_h0: float = 0.08) -> pd.Series:
    """lavaan's ``fitMeasures()`` of a fitted model, plus AMOS's CMIN/DF.

    Parameters
    ----------
    result : object
        Anything with the ``SEMResult`` attributes of ``docs/ARCHITECTURE.md``:
        ``nobs``, ``likelihood`` ("normal"/"wishart"), ``missing``
        ("listwise"/"fiml"), ``observed``, ``sample_cov`` (divisor N; under
        FIML the EM estimate), ``sample_mean``, ``implied_cov``,
        ``implied_mean``, ``meanstructure``, ``npar``, ``df``, ``chisq``,
        ``baseline_chisq``, ``baseline_df``, ``logl``, ``logl_unrestricted``.
        Under FIML, GFI/AGFI/PGFI need the raw data (attribute ``data``, a
        DataFrame holding the ``observed`` columns, or an array in that
        order) for its missing-data patterns and available-case moments;
        without it they are NaN and a
        :class:`~pipeline.core.exceptions.NotEstimableWarning` is emitted.
        An optional ``x_idx`` (indices of fixed-x covariates) is honoured.
    rmsea_ci_level : float
        Level of the RMSEA confidence interval (lavaan: 0.90).
    close_h0, notclose_h0 : float
        RMSEA values of the close-fit (PCLOSE) and not-close-fit tests.

    Returns
    -------
    pandas.Series
        Indexed by :data:`FIT_MEASURE_NAMES`, full precision, NaN where
        lavaan gives NA.

    Notes
    -----
    The chi-squares, log-likelihoods and npar are taken from the result (the
    engine computed them); everything else is computed here.  ``fmin`` is
    lavaan's (chisq / (2 n), half of ``result.fmin``).  Under Wishart
    likelihood lavaan fits S with divisor N - 1, so ``sample_cov`` (divisor N)
    is rescaled by N / (N - 1) for GFI and SRMR.

    In R: ``fitMeasures(fit)``.
    """
    if getattr(result, "wls", None) is not None:
        return wls_fit_measures(result, rmsea_ci_level=rmsea_ci_level, close_h0=close_h0,
                                notclose_h0=notclose_h0)
    missing_attrs = [a for a in _REQUIRED if not hasattr(result, a)]
    if missing_attrs:
        raise TypeError("result lacks the SEMResult attribute(s): "
                        + ", ".join(missing_attrs))
    likelihood = result.likelihood
    if likelihood not in ("normal", "wishart"):
        raise ValueError(f"result.likelihood must be 'normal' or 'wishart', got {likelihood!r}")
    missing = result.missing
    if missing not in ("listwise", "fiml"):
        raise ValueError(f"result.missing must be 'listwise' or 'fiml', got {missing!r}")
    nobs = _positive(result.nobs, "result.nobs")
    n_eff = rmsea_n(nobs, likelihood)
    x, d = _num(result.chisq, "result.chisq"), _nonneg(result.df, "result.df")
    x0, d0 = _num(result.baseline_chisq, "result.baseline_chisq"), _num(
        result.baseline_df, "result.baseline_df")
    npar = _num(result.npar, "result.npar")
    logl = _num(result.logl, "result.logl")
    logl_u = _num(result.logl_unrestricted, "result.logl_unrestricted")

    S = _matrix(result.sample_cov, "result.sample_cov")
    Sig = _matrix(result.implied_cov, "result.implied_cov")
    p = S.shape[0]
    if likelihood == "wishart":
        S = S * nobs / (nobs - 1.0)
    meanstructure = bool(result.meanstructure)
    m = mu = None
    if meanstructure:
        m = _vector(result.sample_mean, "result.sample_mean", p)
        mu = _vector(result.implied_mean, "result.implied_mean", p)
        if m is None or mu is None:
            raise ValueError("result.meanstructure is True but sample_mean or "
                             "implied_mean is missing")
    observed = list(getattr(result, "observed", []) or []) or None
    x_idx = getattr(result, "x_idx", None)

    if missing == "fiml":
        data = _result_data(result, p, observed)
        if data is None:
            warnings.warn("GFI/AGFI under FIML need the raw data (result.data) "
                          "for the missing-data patterns; set to NaN",
                          NotEstimableWarning, stacklevel=2)
            g = _NAN
        else:
            s_obs, m_obs = available_case_moments(data)
            g = gfi(s_obs, Sig, m_obs if meanstructure else None, mu,
                    patterns=missing_patterns(data), x_idx=x_idx)
    else:
        g = gfi(S, Sig, m, mu, x_idx=x_idx)
    nel = p * (p + 1) // 2 + (p if meanstructure else 0)
    lo, hi = rmsea_ci(x, d, n_eff, rmsea_ci_level)

    values = {
        "npar": npar,
        "fmin": x / (2 * n_eff),
        "chisq": x,
        "df": d,
        "pvalue": chisq_pvalue(x, d),
        "cmin_df": cmin_df(x, d),
        "baseline.chisq": x0,
        "baseline.df": d0,
        "baseline.pvalue": chisq_pvalue(x0, d0) if not math.isnan(d0) else _NAN,
        "cfi": cfi(x, d, x0, d0),
        "tli": tli(x, d, x0, d0),
        "nnfi": tli(x, d, x0, d0),
        "rfi": rfi(x, d, x0, d0),
        "nfi": nfi(x, d, x0, d0),
        "pnfi": pnfi(x, d, x0, d0),
        "ifi": ifi(x, d, x0, d0),
        "rni": rni(x, d, x0, d0),
        "logl": logl,
        "unrestricted.logl": logl_u,
        "aic": aic(logl, npar),
        "bic": bic(logl, npar, nobs),
        "ntotal": nobs,
        "bic2": bic2(logl, npar, nobs),
        "rmsea": rmsea(x, d, n_eff),
        "rmsea.ci.lower": lo,
        "rmsea.ci.upper": hi,
        "rmsea.ci.level": float(rmsea_ci_level),
        "rmsea.pvalue": rmsea_pvalue(x, d, n_eff, close_h0),
        "rmsea.close.h0": float(close_h0),
        "rmsea.notclose.pvalue": rmsea_notclose_pvalue(x, d, n_eff, notclose_h0),
        "rmsea.notclose.h0": float(notclose_h0),
        "rmr": rmr(S, Sig, m, mu),
        "rmr_nomean": rmr(S, Sig),
        "srmr": srmr(S, Sig, m, mu),
        "srmr_bentler": srmr(S, Sig, m, mu),
        "srmr_bentler_nomean": srmr(S, Sig),
        "crmr": crmr(S, Sig, m, mu),
        "crmr_nomean": crmr(S, Sig),
        "srmr_mplus": srmr_mplus(S, Sig, m, mu),
        "srmr_mplus_nomean": srmr_mplus(S, Sig),
        "cn_05": hoelter_cn(x, d, n_eff, 0.05),
        "cn_01": hoelter_cn(x, d, n_eff, 0.01),
        "gfi": g,
        "agfi": agfi(g, nel, d),
        "pgfi": pgfi(g, nel, d),
        "mfi": mfi(x, d, n_eff),
        "ecvi": ecvi(x, npar, n_eff),
    }
    names = list(FIT_MEASURE_NAMES)
    test = getattr(result, "test_scaled", None)
    if test is not None:
        extra = scaled_fit_measures(
            x, d, n_eff, test, x0, d0, getattr(result, "baseline_test_scaled", None),
            robust=(missing != "fiml"), rmsea_ci_level=rmsea_ci_level, close_h0=close_h0,
            notclose_h0=notclose_h0)
        if "scaling_factor_h1" not in test:
            extra.pop("scaling.factor.h1")
            extra.pop("scaling.factor.h0")
        values.update(extra)
        names = _insert_scaled(names, list(extra))
    return pd.Series([values[k] for k in names], index=names, dtype=float, name="fit")


def _insert_scaled(names: list[str], extra: list[str]) -> list[str]:
    """Put the scaled names where lavaan's ``fitMeasures`` has them."""
    blocks: dict[str, list[str]] = {}
    anchor = None
    for k in SCALED_MEASURE_NAMES:
        if k in _AFTER:
            anchor = _AFTER[k]
        if k in extra:
            blocks.setdefault(anchor, []).append(k)
    out = []
    for k in names:
        out.append(k)
        out += blocks.get(k, [])
    return out


def wls_fit_measures(result, *, rmsea_ci_level: float = 0.90, close_h0: float = 0.05,
                     notclose_h0: float = 0.08) -> pd.Series:
    """lavaan's ``fitMeasures()`` of a least-squares fit (WLSMV, DWLS, ULSMV, ULS).

    As lavaan for these estimators: no likelihood-based measures; ``pvalue``
    is NA under ULS / ULSMV; RMSEA, Hoelter's CN, MFI and ECVI use N - 1
    (N minus the number of groups, lavaan's ``lav_utils_get_ntotal``); GFI ``= 1 - e'We / s'Ws`` over the WLS
    statistics (thresholds included), AGFI/PGFI with ``nel`` = their number;
    for ordinal data the residual measures use the polychoric correlations
    (thresholds count as the "mean" part, their residuals enter RMR/SRMR
    with-mean variants), ``srmr_mplus`` is NA and ``wrmr = sqrt(chisq / nel)``
    replaces ``ecvi``.  Robust CFI/TLI/RMSEA for ordinal data (lavaan's
    catML-based correction) are not computed (NaN).

    In R: ``fitMeasures(cfa(model, data, ordered = , estimator = "WLSMV"))``.
    """
    w = result.wls
    # lavaan's lav_utils_get_ntotal: N - (number of groups) for least-squares estimators
    N = float(result.nobs) - float(getattr(result, "ngroups", 1) or 1)
    x, d = float(result.chisq), float(result.df)
    x0, d0 = float(result.baseline_chisq), float(result.baseline_df)
    uls = w.estimator in ("ULS", "ULSMV")
    nel = len(w.obs)
    e = w.obs - w.implied
    g = 1.0 - float(np.sum(w.weights * e ** 2) / np.sum(w.weights * w.obs ** 2))
    lo, hi = rmsea_ci(x, d, N, rmsea_ci_level)
    values = {
        "npar": float(result.npar), "fmin": float(w.fmin), "chisq": x, "df": d,
        "pvalue": _NAN if uls else chisq_pvalue(x, d),
        "baseline.chisq": x0, "baseline.df": d0,
        "baseline.pvalue": _NAN if uls else chisq_pvalue(x0, d0),
        "cfi": cfi(x, d, x0, d0), "tli": tli(x, d, x0, d0), "nnfi": tli(x, d, x0, d0),
        "rfi": rfi(x, d, x0, d0), "nfi": nfi(x, d, x0, d0), "pnfi": pnfi(x, d, x0, d0),
        "ifi": ifi(x, d, x0, d0), "rni": rni(x, d, x0, d0),
        "rmsea": rmsea(x, d, N), "rmsea.ci.lower": lo, "rmsea.ci.upper": hi,
        "rmsea.ci.level": float(rmsea_ci_level),
        "rmsea.pvalue": rmsea_pvalue(x, d, N, close_h0), "rmsea.close.h0": float(close_h0),
        "rmsea.notclose.pvalue": rmsea_notclose_pvalue(x, d, N, notclose_h0),
        "rmsea.notclose.h0": float(notclose_h0),
        "cn_05": hoelter_cn(x, d, N, 0.05), "cn_01": hoelter_cn(x, d, N, 0.01),
        "gfi": g, "agfi": agfi(g, nel, d), "pgfi": pgfi(g, nel, d), "mfi": mfi(x, d, N),
    }
    S = np.asarray(result.sample_cov, dtype=float)
    Sig = np.asarray(result.implied_cov, dtype=float)
    p = S.shape[0]
    if w.ordinal:
        # correlation scale for SRMR/CRMR, covariance scale (continuous
        # variables) for RMR; the "mean" part counts the ordinal thresholds
        sd_s, sd_h = np.sqrt(np.diag(S)), np.sqrt(np.diag(Sig))
        R = S / np.outer(sd_s, sd_s)
        Rh = Sig / np.outer(sd_h, sd_h)
        il = np.tril_indices(p, -1)
        ss_off = float(np.sum((R[il] - Rh[il]) ** 2))
        lo = np.tril_indices(p, 0)
        ss_raw = float(np.sum((S[lo] - Sig[lo]) ** 2))
        th_e = e[:w.nth + len(getattr(w.stats, "numeric", []) or [])]
        ss_th = float(np.sum(th_e ** 2))
        n_cov, n_off = p * (p + 1) / 2, p * (p - 1) / 2
        # conditional.x: lavaan's RMR/SRMR denominators count one element per
        # covariate more (measured against lavaan 0.6-14; the CRMR ones do not)
        n_cov += len(getattr(w.stats, "xnames", []) or [])
        values.update({
            "rmr": math.sqrt((ss_raw + ss_th) / (n_cov + w.nth)),
            "rmr_nomean": math.sqrt(ss_raw / n_cov),
            "srmr": math.sqrt(ss_off / n_cov),
            "srmr_bentler": math.sqrt((ss_off + ss_th) / (n_cov + w.nth)),
            "srmr_bentler_nomean": math.sqrt(ss_off / n_cov),
            "crmr": math.sqrt((ss_off + ss_th) / (n_off + w.nth)),
            "crmr_nomean": math.sqrt(ss_off / n_off),
            "srmr_mplus": _NAN, "srmr_mplus_nomean": _NAN,
            "wrmr": math.sqrt(x / nel)})
        tail = "wrmr"
    else:
        m = mu = None
        if result.meanstructure:
            m = np.asarray(result.sample_mean, dtype=float)
            mu = np.asarray(result.implied_mean, dtype=float)
        values.update({
            "rmr": rmr(S, Sig, m, mu), "rmr_nomean": rmr(S, Sig),
            "srmr": srmr(S, Sig, m, mu), "srmr_bentler": srmr(S, Sig, m, mu),
            "srmr_bentler_nomean": srmr(S, Sig), "crmr": crmr(S, Sig, m, mu),
            "crmr_nomean": crmr(S, Sig), "srmr_mplus": srmr_mplus(S, Sig, m, mu),
            "srmr_mplus_nomean": srmr_mplus(S, Sig), "ecvi": ecvi(x, result.npar, N)})
        tail = "ecvi"
    names = [k for k in FIT_MEASURE_NAMES if k in values and k not in ("ecvi",)] + [tail]
    test = getattr(result, "test_scaled", None)
    if test is not None:
        extra = scaled_fit_measures(
            x, d, N, test, x0, d0, getattr(result, "baseline_test_scaled", None),
            robust=not w.ordinal or bool(test.get("catml")), rmsea_ci_level=rmsea_ci_level,
            close_h0=close_h0,
            notclose_h0=notclose_h0)
        extra.pop("scaling.factor.h1")
        extra.pop("scaling.factor.h0")
        values.update(extra)
        names = _insert_scaled(names, list(extra))
    return pd.Series([values[k] for k in names], index=names, dtype=float, name="fit")
