"""Fitting a model to data and the :class:`SEMResult` it returns.

Estimators (lavaan's names): ``ML`` (default), ``MLM`` and ``MLR`` (ML
estimates with robust standard errors and scaled tests,
:func:`robust_ml_pieces`, :mod:`pipeline.sem.robust`), and the
least-squares ``ULS`` / ``DWLS`` / ``WLSMV`` / ``ULSMV`` for ordinal items
(:mod:`pipeline.sem.wls`, :mod:`pipeline.sem.ordinal`).

``fit(model, data)`` validates the data against the model (every missing
variable named, constant / all-missing columns, N < p, df < 0 before any
optimisation), estimates by ML (listwise) or FIML, computes standard errors
(expected information for complete data, observed information under FIML,
as lavaan's defaults), the lavaan-style parameter table with ``std.lv`` /
``std.all``, delta-method standard errors of ``:=`` parameters, R², the
baseline model, and records every statistical problem both as a project
warning and on ``result.warnings``.

In R: ``lavaan::sem(model, data, likelihood=, missing=)``;
``parameterEstimates(fit, standardized=TRUE)``; ``inspect(fit, "r2")``.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import linalg

from pipeline.core.distributions import chi2_sf, norm_ppf, norm_sf

from pipeline.core.exceptions import (ConvergenceWarning, DataValidationError, HeywoodCaseWarning,
                          IdentificationWarning, LowCoverageWarning,
                          ModelSpecificationError, NotPositiveDefiniteWarning)
from pipeline.sem.estimate import Estimator, SampleStats, fiml_logl, sample_stats, single_thread_blas
from pipeline.sem import robust
from pipeline.sem.model import SEMModel, set_sample_moments
from pipeline.sem.standardize import standardize
from pipeline.sem.syntax import ParsedModel, lavaanify, parse_model

__all__ = ["SEMResult", "fit", "build_model", "prepare_data", "PARAM_COLUMNS"]

PARAM_COLUMNS = ["lhs", "op", "rhs", "label", "est", "se", "z", "pvalue", "ci.lower",
                 "ci.upper", "std.lv", "std.all"]
LIKELIHOODS = ("normal", "wishart")
MISSING = ("listwise", "fiml")
ESTIMATORS = ("ML", "MLM", "MLR", "ULS", "DWLS", "WLSMV", "ULSMV")
_Z975 = float(norm_ppf(0.975))


def _read_model_text(model: str | Path) -> str:
    """A model is lavaan syntax or a path to a .lav file."""
    if isinstance(model, Path):
        return model.read_text(encoding="utf-8")
    if isinstance(model, str) and not any(op in model for op in ("=~", "~")):
        for cand in (Path(model), Path(f"{model}.lav")):
            if cand.is_file():
                return cand.read_text(encoding="utf-8")
        raise FileNotFoundError(f"model={model!r} is neither lavaan syntax nor a model file")
    return model


def build_model(model: str | Path | ParsedModel, *, meanstructure: bool = False,
                fixed_x: bool = True) -> SEMModel:
    """Parse lavaan syntax (text or a path to a .lav file) into a :class:`SEMModel`."""
    if isinstance(model, ParsedModel):
        pt = lavaanify(model, meanstructure=meanstructure, fixed_x=fixed_x)
    else:
        pt = lavaanify(_read_model_text(model), meanstructure=meanstructure, fixed_x=fixed_x)
    return SEMModel(pt)


def prepare_data(data: pd.DataFrame, model: SEMModel, *, missing: str = "listwise",
                 source: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Check *data* against *model* and return ``(X, kept_row_index)``.

    Raises
    ------
    ModelSpecificationError
        Variables of the model missing from the data (all of them listed).
    DataValidationError
        Non-numeric, all-missing or constant variables; fewer usable cases
        than observed variables.
    """
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    names = model.observed
    missing_names = [v for v in names if v not in data.columns]
    if missing_names:
        raise ModelSpecificationError(
            f"the model names {len(missing_names)} variable(s) missing from the data"
            + (f" ({source})" if source else "") + ": " + ", ".join(missing_names)
            + f"; data columns: {', '.join(map(str, data.columns[:40]))}"
            + (" ..." if len(data.columns) > 40 else ""))
    sub = data[names]
    bad = [c for c in names if not (pd.api.types.is_numeric_dtype(sub[c])
                                    or pd.api.types.is_bool_dtype(sub[c]))]
    if bad:
        rows = []
        for c in bad:
            conv = pd.to_numeric(sub[c], errors="coerce")
            rows += [int(i) + 2 for i in np.flatnonzero(conv.isna() & sub[c].notna())[:5]]
        raise DataValidationError("non-numeric values in model variables", file=source,
                                  columns=bad, rows=sorted(set(rows)))
    X = sub.to_numpy(dtype=float)
    inf = np.isinf(X)
    if inf.any():
        rr, cc = np.nonzero(inf)
        cells = ", ".join(f"{names[j]} row {i + 2} ({X[i, j]:+g})" for i, j in zip(rr[:5], cc[:5]))
        raise DataValidationError(
            f"non-finite value(s) in {int(inf.sum())} cell(s): {cells}"
            + (" ..." if inf.sum() > 5 else "") + "; recode them as missing or fix the data",
            file=source, columns=sorted({names[j] for j in cc}, key=names.index),
            rows=sorted({int(i) + 2 for i in rr})[:20])
    allna = [c for j, c in enumerate(names) if np.all(np.isnan(X[:, j]))]
    if allna:
        raise DataValidationError("variable(s) have no observed values", file=source,
                                  columns=allna)
    if missing == "listwise":
        keep = ~np.isnan(X).any(axis=1)
    else:
        keep = ~np.isnan(X).all(axis=1)
        xi = [names.index(v) for v in model.pt.ov_x]
        if xi:   # fixed.x: cases with missing covariates are removed (as lavaan)
            keep &= ~np.isnan(X[:, xi]).any(axis=1)
    X = X[keep]
    kept = np.flatnonzero(keep)
    const = []
    for j, c in enumerate(names):
        col = X[:, j]
        col = col[~np.isnan(col)]
        if col.size and np.ptp(col) == 0:
            const.append(c)
    if const:
        raise DataValidationError(
            "variable(s) are constant in the cases used" + (" (listwise)" if missing ==
                                                           "listwise" else ""),
            file=source, columns=const)
    if X.shape[0] < len(names):
        raise DataValidationError(
            f"{X.shape[0]} usable cases ({missing}) but {len(names)} observed variables: "
            "N must be at least the number of observed variables", file=source)
    return X, kept


@dataclass
class SEMResult:
    """A fitted SEM; attributes as in docs/ARCHITECTURE.md ("Fitted SEM result").

    ``fmin`` is F_ML (lavaan's ``fmin`` is half of it); ``sample_cov`` has
    divisor N (also under wishart; FIML: the EM estimate of the saturated
    model); ``vcov`` is the covariance matrix of the free parameters
    (``theta``, in the order of ``model.par_rows``); ``data`` the matrix of
    cases used, ``x_idx`` the fixed.x covariates.

    Robust and least-squares fits add ``estimator_name`` (lavaan's name),
    ``test_scaled`` / ``baseline_test_scaled`` (the scaled tests, dicts of
    :func:`pipeline.sem.robust.scaled_test`) and, for least squares, ``wls``
    (:class:`pipeline.sem.wls.WLSFit`: statistics, weights, Gamma, Delta);
    ``vcov`` is then the robust covariance matrix of the estimates.

    In R: a fitted ``lavaan`` object; ``parameterEstimates()``,
    ``fitMeasures()``, ``inspect(fit, "r2")``, ``modindices()``, ``residuals()``.
    """

    model: SEMModel
    estimator: Estimator
    stats: SampleStats
    theta: np.ndarray
    nobs: int
    likelihood: str
    missing: str
    meanstructure: bool
    observed: list[str]
    sample_cov: np.ndarray
    sample_mean: np.ndarray
    implied_cov: np.ndarray
    implied_mean: np.ndarray
    npar: int
    df: int
    fmin: float
    chisq: float
    baseline_chisq: float
    baseline_df: int
    logl: float
    logl_unrestricted: float
    converged: bool
    admissible: bool
    warnings: list[str]
    parameters: pd.DataFrame
    r2: pd.Series
    vcov: np.ndarray
    iterations: int = 0
    optimizer: str = ""
    information: str = "expected"
    model_text: str = ""
    options: dict = field(default_factory=dict)
    bootstrap: Any = None
    parameters_ml: Any = None
    estimator_name: str = "ML"
    #: lavaan's scaled test of the model (robust estimators), a dict from
    #: :func:`pipeline.sem.robust.scaled_test`; None for ML / ULS / DWLS.
    test_scaled: dict | None = None
    #: the same for the baseline (independence) model
    baseline_test_scaled: dict | None = None
    #: least-squares fits (WLSMV, DWLS, ULS...): :class:`pipeline.sem.wls.WLSFit`
    wls: Any = None

    # -------------------------------------------------------------- fit table
    @property
    def pvalue(self) -> float:
        return float(chi2_sf(self.chisq, self.df)) if self.df > 0 else math.nan

    @property
    def baseline_pvalue(self) -> float:
        return float(chi2_sf(self.baseline_chisq, self.baseline_df))

    @property
    def ntotal(self) -> int:
        return self.nobs

    @property
    def data(self) -> np.ndarray | None:
        """The data matrix fitted (cases used, columns in ``observed`` order)."""
        return self.stats.data

    @property
    def x_idx(self) -> list[int]:
        """Indices (in ``observed``) of the fixed.x exogenous covariates."""
        return [self.observed.index(v) for v in self.model.pt.ov_x]

    def fit_measures(self) -> pd.Series:
        """lavaan ``fitMeasures`` names (via :mod:`pipeline.sem.fit_indices`)."""
        try:
            from pipeline.sem import fit_indices
        except ImportError:  # pragma: no cover - the fit-index module is another engineer's
            return pd.Series({"npar": self.npar, "fmin": self.fmin / 2, "chisq": self.chisq,
                              "df": self.df, "pvalue": self.pvalue,
                              "baseline.chisq": self.baseline_chisq,
                              "baseline.df": self.baseline_df,
                              "baseline.pvalue": self.baseline_pvalue,
                              "logl": self.logl, "unrestricted.logl": self.logl_unrestricted})
        return fit_indices.fit_measures(self)

    # ----------------------------------------------------------- diagnostics
    def modification_indices(self, *, sort: bool = True, minimum: float = 0.0) -> pd.DataFrame:
        """Modification indices with EPC (lavaan ``modindices(fit, sort.=TRUE)``)."""
        from pipeline.sem.diagnostics import modification_indices
        return modification_indices(self, sort=sort, minimum=minimum)

    def residuals(self, kind: str = "standardized") -> pd.DataFrame:
        """Residual covariances: ``raw``, ``standardized`` (lavaan), ``normalized``,
        ``cor`` (correlation residuals) or ``cor.bentler``."""
        from pipeline.sem.diagnostics import residuals
        return residuals(self, kind)

    # ------------------------------------------------------------- rendering
    def to_frame(self) -> pd.DataFrame:
        return self.parameters.copy()

    def to_dict(self) -> dict:
        """The CLI JSON: ``{nobs, fit, parameters, r2, warnings, options}`` (NaN -> None)."""
        from pipeline.core.io import json_ready as clean
        fm = self.fit_measures()
        params = [{k: clean(v) for k, v in rec.items()}
                  for rec in self.parameters.to_dict(orient="records")]
        out = {
            "nobs": int(self.nobs),
            "fit": {str(k): clean(v) for k, v in fm.items()},
            "parameters": params,
            "r2": {str(k): clean(v) for k, v in self.r2.items()},
            "warnings": list(self.warnings),
            "options": {k: clean(v) for k, v in self.options.items()},
        }
        if self.bootstrap is not None:
            out["bootstrap"] = {k: clean(v) for k, v in self.bootstrap.summary_dict().items()}
        return out

    def summary(self, digits: int = 3) -> str:
        """A readable report: fit table, parameters, R²."""
        lines = []
        if self.missing == "fiml":
            chi_label = "chi-square (FIML likelihood ratio -2(logL0 - logL1), lavaan missing='ml')"
        elif self.likelihood == "normal":
            chi_label = "chi-square (N x F_ML, lavaan 'normal')"
        else:
            chi_label = "chi-square ((N-1) x F_ML, AMOS 'wishart')"
        lines.append(f"ML estimation ({self.missing}), N = {self.nobs}, "
                     f"likelihood = {self.likelihood}, "
                     f"{'converged' if self.converged else 'NOT CONVERGED'} "
                     f"in {self.iterations} iterations ({self.optimizer})")
        if self.wls is not None:
            w = self.wls
            kind = ("ordinal items (thresholds, polychoric correlations, delta "
                    "parameterization)" if w.ordinal else "continuous data")
            lines[-1] = (f"{self.estimator_name} estimation ({kind}), N = {self.nobs} (listwise), "
                         f"{'converged' if self.converged else 'NOT CONVERGED'} "
                         f"in {self.iterations} iterations ({self.optimizer})")
            chi_label = "chi-square ((N-1) x F_WLS, lavaan)"
        elif self.estimator_name in ("MLM", "MLR"):
            lines[-1] = lines[-1].replace("ML estimation", f"{self.estimator_name} estimation "
                                          f"(ML estimates, robust standard errors: "
                                          f"{self.options.get('se')})", 1)
        lines.append(f"{chi_label}: {self.chisq:.{digits}f}, df = {self.df}, "
                     f"p = {self.pvalue:.{digits}g}")
        if self.test_scaled is not None:
            t = self.test_scaled
            name = {"satorra.bentler": "Satorra-Bentler scaled",
                    "yuan.bentler.mplus": "Yuan-Bentler (Mplus variant) scaled",
                    "scaled.shifted": "mean and variance adjusted (scaled-shifted)"}.get(
                        t["test"], t["test"])
            lines.append(f"{name} chi-square: {t['stat']:.{digits}f}, df = {t['df']:g}, "
                         f"p = {t['pvalue']:.{digits}g}, scaling factor = "
                         f"{t['scaling_factor']:.{digits}f}"
                         + (f", shift = {t['shift_parameter']:.{digits}f}"
                            if t["test"] == "scaled.shifted" else ""))
        lines.append("")
        fm = self.fit_measures()
        lines.append("Fit measures")
        lines.append(fm.to_string(float_format=lambda x: f"{x:.{digits}f}"))
        lines.append("")
        lines.append("Parameters")
        with pd.option_context("display.width", 160, "display.max_rows", 1000,
                               "display.max_columns", 20):
            lines.append(self.parameters.to_string(
                index=False, float_format=lambda x: f"{x:.{digits}f}", na_rep=""))
        lines.append("")
        lines.append("R-squared")
        lines.append(self.r2.to_string(float_format=lambda x: f"{x:.{digits}f}"))
        if self.warnings:
            lines.append("")
            lines.append("Warnings")
            lines += [f"  - {w}" for w in self.warnings]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"<SEMResult N={self.nobs} chisq={self.chisq:.3f} df={self.df} "
                f"npar={self.npar} {'converged' if self.converged else 'not converged'}"
                f"{'' if self.admissible else ' INADMISSIBLE'}>")


# ---------------------------------------------------------------------------
def _warn(store: list[str], msg: str, cls, emit: bool = True) -> None:
    store.append(f"{cls.__name__}: {msg}")
    if emit:
        warnings.warn(msg, cls, stacklevel=3)


def count_moments(model: SEMModel, meanstructure: bool) -> int:
    p, nx = model.p, len(model.pt.ov_x)
    nd = p * (p + 1) // 2 - nx * (nx + 1) // 2
    if meanstructure:
        nd += p - nx
    return nd


def model_df(model: SEMModel, meanstructure: bool) -> int:
    """Degrees of freedom: sample moments minus free parameters; a
    :class:`ModelSpecificationError` when negative (not identified)."""
    ndat = count_moments(model, meanstructure)
    df = ndat - model.npar
    if df < 0:
        raise ModelSpecificationError(
            f"the model has more free parameters ({model.npar}) than sample moments "
            f"({ndat}): df = {df} < 0, the model is not identified")
    return df


def _env_first(model: SEMModel, vals) -> dict[str, float]:
    env = {}
    for k, r in enumerate(model.rows):
        if r["label"] and r["label"] not in env:
            env[r["label"]] = vals[k]
    return env


def defined_jacobian(model: SEMModel, est, theta, exo):
    """Values of ``:=`` parameters and their Jacobian w.r.t. theta (central differences)."""
    d = model.defined
    vals = model.row_values(theta, exo)
    base = d.evaluate(_env_first(model, vals))
    J = np.zeros((len(d), len(theta)))
    for j in range(len(theta)):
        h = 1e-6 * max(1.0, abs(theta[j]))
        tp, tm = theta.copy(), theta.copy()
        tp[j] += h
        tm[j] -= h
        fp = d.evaluate(_env_first(model, model.row_values(tp, exo)))
        fm = d.evaluate(_env_first(model, model.row_values(tm, exo)))
        J[:, j] = (fp - fm) / (2 * h)
    return base, J


def fit(model: str | Path | ParsedModel | SEMModel, data: pd.DataFrame, *,
        likelihood: str = "normal", missing: str = "listwise",
        meanstructure: bool | None = None, fixed_x: bool = True,
        start: np.ndarray | None = None, se: bool = True, emit_warnings: bool = True,
        source: str | None = None, maxiter: int = 200, estimator: str = "ML",
        ordered: list[str] | str | None = None, group: str | None = None,
        group_equal=(), group_partial=()):
    """Fit a lavaan-syntax model by maximum likelihood (or a robust / WLS variant).

    Parameters
    ----------
    model : str, Path, ParsedModel or SEMModel
        lavaan syntax, a path to a ``.lav`` file or a name in ``studies/amirova2021/models/``.
    data : DataFrame
        Raw data; the model's observed variables must be columns.
    likelihood : {"normal", "wishart"}
        ``normal``: S with divisor N and chisq = N x F_ML (lavaan default);
        ``wishart``: S with divisor N-1 and chisq = (N-1) x F_ML (AMOS).
    missing : {"listwise", "fiml"}
        ``fiml`` is lavaan's ``missing="ml"`` (casewise likelihood, mean
        structure, h1 by EM, observed-information standard errors).
    meanstructure : bool, optional
        Default: False for listwise (True if the syntax has ``~ 1``), True
        under FIML.
    fixed_x : bool
        lavaan's ``fixed.x=TRUE`` for exogenous observed covariates.
    start : array, optional
        Starting values of the free parameters (warm start).
    se : bool
        Compute standard errors.
    emit_warnings : bool
        Emit project warnings (always recorded on ``result.warnings``).
    source : str, optional
        Name of the data file, used in error messages.
    maxiter : int
        Iteration limit of the optimizer.
    estimator : {"ML", "MLM", "MLR", "ULS", "DWLS", "WLSMV", "ULSMV"}
        lavaan's names.  ``MLM``: ML estimates, robust (sandwich) standard
        errors with the ADF Gamma and the Satorra-Bentler scaled test
        (complete data).  ``MLR``: ML estimates, Huber-White standard errors
        (observed information, case-wise scores) and the Yuan-Bentler (Mplus
        variant) scaled test; also with ``missing="fiml"``.  ``WLSMV`` /
        ``DWLS`` / ``ULSMV`` / ``ULS`` with *ordered* items: thresholds and
        polychoric correlations, delta parameterization
        (:mod:`pipeline.sem.ordinal`); ``ULS`` without ordered items fits
        the covariances by unweighted least squares.
    ordered : list of str or "all", optional
        Ordinal items (lavaan's ``ordered=``); ``"all"`` = every observed
        variable of the model.  Implies ``estimator="WLSMV"`` when the
        estimator is ML (as lavaan).
    group : str, optional
        A grouping column: a multi-group fit
        (:func:`pipeline.sem.multigroup.fit_multigroup`), as lavaan's ``group=``.
        Models with general constraints (``==``, ``<``, ``>`` over
        expressions) are also fitted there, as one group.
    group_equal, group_partial : sequence of str or str
        lavaan's ``group.equal`` / ``group.partial`` (with *group* only).

    Returns
    -------
    SEMResult, or MultiGroupResult with *group* or general constraints

    In R: ``lavaan::sem(model, data, likelihood=, missing=)``.
    """
    if likelihood not in LIKELIHOODS:
        raise ValueError(f"likelihood must be one of {LIKELIHOODS}, got {likelihood!r}")
    if (group_equal or group_partial) and group is None:
        raise ValueError("group_equal / group_partial need a grouping column (group=)")
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    if not isinstance(model, SEMModel):
        from pipeline.sem.syntax import check_variables
        parsed0 = model if isinstance(model, ParsedModel) else parse_model(
            _read_model_text(model))
        check_variables(parsed0, data.columns, source=source)
        constrained = any(f.op in ("==", "<", ">") for f in parsed0.formulas)
        if group is not None or constrained:
            from pipeline.sem.multigroup import fit_multigroup
            return fit_multigroup(parsed0, data, group, group_equal=group_equal,
                                  group_partial=group_partial, estimator=estimator,
                                  meanstructure=meanstructure, ordered=ordered,
                                  likelihood=likelihood, missing=missing, fixed_x=fixed_x,
                                  se=se, emit_warnings=emit_warnings, source=source,
                                  start=start)
        model = parsed0
    elif group is not None:
        raise ValueError("group= needs lavaan syntax, not a built SEMModel")
    if not isinstance(estimator, str) or estimator.upper() not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {ESTIMATORS}, got {estimator!r}")
    estimator = estimator.upper()
    if ordered is not None and not isinstance(ordered, str):
        ordered = list(ordered)
    if ordered is not None and isinstance(ordered, str) and ordered != "all":
        raise ValueError(f"ordered must be a list of variable names or 'all', got {ordered!r}")
    if not isinstance(model, SEMModel) and ordered != "all":
        # lavaan: variables given thresholds in the syntax ('y | t1 + t2') are ordered
        parsed_ = model if isinstance(model, ParsedModel) else parse_model(
            _read_model_text(model))
        th_vars = list(dict.fromkeys(f.lhs for f in parsed_.formulas if f.op == "|"))
        extra = [v for v in th_vars if v not in (ordered or [])]
        if extra:
            ordered = list(ordered or []) + extra
    if ordered:
        if estimator == "ML":
            estimator = "WLSMV"
        if estimator not in ("WLSMV", "DWLS", "ULSMV", "ULS"):
            raise ValueError(f"estimator={estimator!r} is not available with ordered items "
                             "(use WLSMV, DWLS, ULSMV or ULS)")
    if estimator in ("WLSMV", "DWLS", "ULSMV", "ULS"):
        from pipeline.sem.wls import fit_wls
        with single_thread_blas():
            return fit_wls(model, data, estimator=estimator, ordered=ordered, se=se,
                           emit_warnings=emit_warnings, source=source, fixed_x=fixed_x,
                           meanstructure=meanstructure, missing=missing)
    if estimator == "MLM" and missing == "fiml":
        raise ValueError("estimator='MLM' needs complete data (missing='listwise'); "
                         "use estimator='MLR' with missing='fiml'")
    if estimator in ("MLM", "MLR") and likelihood == "wishart":
        raise ValueError(f"estimator={estimator!r} uses likelihood='normal' (lavaan)")
    if missing in ("ml", "FIML"):
        missing = "fiml"
    if missing not in MISSING:
        raise ValueError(f"missing must be one of {MISSING}, got {missing!r}")
    if missing == "fiml" and likelihood == "wishart":
        raise ValueError("likelihood='wishart' is not available with missing='fiml' "
                         "(lavaan uses the normal likelihood under FIML)")
    if isinstance(model, SEMModel):
        sem_model = model
        model_text = ""
    else:
        text = model if isinstance(model, ParsedModel) else _read_model_text(model)
        model_text = text.text if isinstance(text, ParsedModel) else text
        text = text if isinstance(text, ParsedModel) else parse_model(text)
        has_int = any(f.op == "~1" for f in text.formulas)
        ms = (missing == "fiml" or has_int) if meanstructure is None else bool(meanstructure)
        if missing == "fiml":
            ms = True
        sem_model = build_model(text, meanstructure=ms, fixed_x=fixed_x)
    ms = sem_model.meanstructure
    if missing == "fiml" and not ms:
        raise ValueError("missing='fiml' needs a model built with meanstructure=True")
    X, kept = prepare_data(data, sem_model, missing=missing, source=source)
    df = model_df(sem_model, ms)
    warn_list: list[str] = []
    if missing == "fiml":
        _check_coverage(X, sem_model.observed, warn_list, emit_warnings)
    _Est = _estimator_class(missing)
    with single_thread_blas():
        st = sample_stats(X, likelihood=likelihood, missing=missing)
    est = _Est(sem_model, likelihood=likelihood, missing=missing, meanstructure=ms)
    with single_thread_blas():
        res = _finish(sem_model, est, st, start=start, se=se, emit=emit_warnings,
                      warn_list=warn_list, model_text=model_text, df=df, fixed_x=fixed_x,
                      maxiter=maxiter)
        if estimator in ("MLM", "MLR"):
            _apply_robust(res, estimator, se=se, emit=emit_warnings)
        return res


def _estimator_class(missing: str) -> type:
    """The ML estimator class ``fit`` uses for *missing*.

    FIML: the batched pattern kernel (:mod:`pipeline.sem.fiml`, analytic
    gradient, BFGS from the EM moments).  Complete data: quasi-Newton through
    the RAM matrices (:class:`pipeline.sem.fast.FastMLEstimator`), equal to the
    engine's Newton fit without a Hessian per iteration; it hands mean
    structures and fits it cannot finish to the engine's Newton iterations.
    """
    if missing == "fiml":
        from pipeline.sem.fiml import FIMLEstimator
        return FIMLEstimator
    from pipeline.sem.fast import FastMLEstimator
    return FastMLEstimator


#: Pairwise coverage below which FIML estimates rest on too few joint observations
#: (lavaan warns under the same condition: ``lavInspect(fit, "coverage")``).
MIN_COVERAGE = 0.10


def pairwise_coverage(X: np.ndarray) -> np.ndarray:
    """Share of cases observing both variables of each pair.

    In R: ``lavInspect(fit, "coverage")``.
    """
    obs = (~np.isnan(X)).astype(float)
    return obs.T @ obs / X.shape[0]


def _check_coverage(X: np.ndarray, names, warn_list: list[str], emit: bool,
                    minimum: float = MIN_COVERAGE) -> None:
    cov = pairwise_coverage(X)
    low = np.argwhere(np.triu(cov < minimum))
    if low.size:
        names = list(names) if names is not None else [f"v{j + 1}" for j in range(X.shape[1])]
        pairs = ", ".join(f"{names[i]}-{names[j]} ({cov[i, j]:.1%})" for i, j in low[:10])
        more = f" and {len(low) - 10} more" if len(low) > 10 else ""
        _warn(warn_list, f"pairwise coverage below {minimum:.0%} under FIML for "
              f"{len(low)} pair(s): {pairs}{more}; those covariances rest on very few cases",
              LowCoverageWarning, emit)


def _finish(sem_model: SEMModel, est: Estimator, st: SampleStats, *, start, se, emit,
            warn_list, model_text, df, fixed_x, maxiter=200) -> SEMResult:
    likelihood, missing, ms = est.likelihood, est.missing, est.meanstructure
    p = sem_model.p
    N = st.nobs
    admissible = True
    ev = np.linalg.eigvalsh(st.cov)
    if ev.min() <= 1e-12 * max(ev.max(), 1e-300):
        _warn(warn_list, "the sample covariance matrix is not positive definite "
              f"(smallest eigenvalue {ev.min():.3g}); chi-square and likelihood are undefined "
              "and the matrix was NOT replaced", NotPositiveDefiniteWarning, emit)
        admissible = False
    opt = est.optimize(st, start=start, maxiter=maxiter)
    theta = opt.theta
    if not opt.converged:
        _warn(warn_list, f"the optimizer did not converge ({opt.method}, {opt.iterations} "
              f"iterations{': ' + opt.message if opt.message else ''}); the estimates "
              "must not be interpreted", ConvergenceWarning, emit)
        admissible = False
    exo = est.exo_values(st)
    vals = sem_model.row_values(theta, exo)
    Sigma, mu, B, C, Bm = sem_model.moments(vals)
    Sigma = (Sigma + Sigma.T) / 2
    if not ms:
        mu_out = st.mean.copy()
    else:
        mu_out = mu
    # --- admissibility checks
    heywood = []
    for k, r in enumerate(sem_model.rows):
        if r["op"] == "~~" and r["lhs"] == r["rhs"] and r["par"] >= 0 and vals[k] < 0:
            heywood.append(f"{r['lhs']} ({vals[k]:.4g})")
    if heywood:
        _warn(warn_list, "negative variance estimate(s) (Heywood case): " + ", ".join(heywood),
              HeywoodCaseWarning, emit)
        admissible = False
    evs = np.linalg.eigvalsh(Sigma)
    if evs.min() <= 0:
        _warn(warn_list, "the model-implied covariance matrix is not positive definite "
              f"(smallest eigenvalue {evs.min():.3g})", NotPositiveDefiniteWarning, emit)
        admissible = False
    if sem_model.latent:
        Clv = C[p:, p:]
        evl = np.linalg.eigvalsh((Clv + Clv.T) / 2)
        if evl.min() <= 0:
            _warn(warn_list, "the covariance matrix of the latent variables is not positive "
                  f"definite (smallest eigenvalue {evl.min():.3g}): check for correlations "
                  "above 1 or negative variances", NotPositiveDefiniteWarning, emit)
            admissible = False
    # --- test statistic and likelihoods
    if missing == "fiml":
        logl = fiml_logl(st.patterns, Sigma, mu)
        logl1 = st.logl_h1
        chisq = max(2.0 * (logl1 - logl), 0.0) if df > 0 else 2.0 * (logl1 - logl)
        fmin = chisq / N
        # baseline: independence model, free means and variances (per-variable ML)
        bvar = np.nanvar(st.data, axis=0)
        bmean = np.nanmean(st.data, axis=0)
        Sb = np.diag(bvar)
        xb = [sem_model.observed.index(v) for v in sem_model.pt.ov_x]
        if xb:   # fixed.x: the covariates keep their (complete-data) covariances
            Sb[np.ix_(xb, xb)] = st.cov[np.ix_(xb, xb)]
        logl_b = fiml_logl(st.patterns, Sb, bmean)
        nx = len(sem_model.pt.ov_x)
        baseline_chisq = 2.0 * (logl1 - logl_b)
        baseline_df = _baseline_df(p, nx, ms)
    else:
        fmin = est.objective(theta, st, gradient=False)
        mult = N - 1 if likelihood == "wishart" else N
        chisq = mult * fmin if np.isfinite(st.logdet) else math.nan
        S = st.cov
        sign, logdetSig = np.linalg.slogdet(Sigma)
        Sinv = np.linalg.inv(Sigma)
        d = st.mean - mu_out
        logl = -N / 2 * (p * math.log(2 * math.pi) + logdetSig + np.trace(S @ Sinv)
                         + (d @ Sinv @ d if ms else 0.0))
        logl1 = -N / 2 * (p * math.log(2 * math.pi) + st.logdet + p)
        nx = len(sem_model.pt.ov_x)
        Sb = _baseline_cov(S, sem_model)
        sb, ldb = np.linalg.slogdet(Sb)
        fb = ldb + np.trace(S @ np.linalg.inv(Sb)) - st.logdet - p
        baseline_chisq = mult * fb
        baseline_df = _baseline_df(p, nx, ms)
    # fixed.x: lavaan's log-likelihoods are conditional on the covariates
    xi = [sem_model.observed.index(v) for v in sem_model.pt.ov_x]
    if xi:
        sxx = st.cov[np.ix_(xi, xi)]
        lx = -N / 2 * (len(xi) * math.log(2 * math.pi) + np.linalg.slogdet(sxx)[1] + len(xi))
        logl -= lx
        logl1 -= lx
    # --- standard errors
    npar = sem_model.npar
    vcov = np.full((npar, npar), np.nan)
    information = "observed" if missing == "fiml" else "expected"
    if se and npar:
        try:
            if missing == "fiml":
                info = est.observed_information(theta, st)
            else:
                info = est.expected_information(theta, st)
            n_eff = (N - 1) if likelihood == "wishart" else N
            # identification does not depend on the variables' units: judge the
            # information matrix after Jacobi scaling (unit diagonal), so a
            # variable measured in thousandths does not look "singular"
            dgi = np.sqrt(np.abs(np.diag(info)))
            if np.any(dgi == 0):
                evi = np.zeros(1)
            else:
                evi = np.linalg.eigvalsh(info / np.outer(dgi, dgi))
            if evi.min() <= 1e-10 * max(abs(evi.max()), 1e-300):
                _warn(warn_list, "the information matrix is singular (smallest eigenvalue "
                      f"{evi.min():.3g}): the model may not be identified; standard errors "
                      "are not available", IdentificationWarning, emit)
                admissible = False
            else:
                vcov = linalg.inv(info) / n_eff
                vcov = (vcov + vcov.T) / 2
                evv = np.linalg.eigvalsh(vcov)
                if evv.min() <= 0:
                    _warn(warn_list, "the covariance matrix of the estimates (vcov) is not "
                          f"positive definite (smallest eigenvalue {evv.min():.3g}): the model "
                          "may not be identified", IdentificationWarning, emit)
                    admissible = False
        except (linalg.LinAlgError, ValueError) as exc:
            _warn(warn_list, f"standard errors could not be computed ({exc})",
                  IdentificationWarning, emit)
            admissible = False
    params = _parameter_table(sem_model, theta, exo, vals, C, vcov)
    if se and npar and np.any(~np.isfinite(params["se"].to_numpy(dtype=float))) \
            and np.all(np.isfinite(vcov)):
        bad = params.loc[~np.isfinite(params["se"].astype(float)), ["lhs", "op", "rhs"]]
        _warn(warn_list, "standard errors are NaN for: " + "; ".join(
            " ".join(map(str, r)) for r in bad.itertuples(index=False)),
            IdentificationWarning, emit)
        admissible = False
    r2 = _rsquare(sem_model, params)
    options = {"likelihood": likelihood, "missing": missing, "meanstructure": ms,
               "fixed.x": fixed_x, "information": information,
               "estimator": "ML", "se": "standard" if se else "none",
               "optimizer": opt.method}
    return SEMResult(
        model=sem_model, estimator=est, stats=st, theta=theta, nobs=N, likelihood=likelihood,
        missing=missing, meanstructure=ms, observed=list(sem_model.observed),
        sample_cov=st.cov * ((N - 1) / N if likelihood == "wishart" else 1.0),
        sample_mean=st.mean, implied_cov=Sigma, implied_mean=mu_out,
        npar=npar, df=int(df), fmin=float(fmin), chisq=float(chisq),
        baseline_chisq=float(baseline_chisq), baseline_df=int(baseline_df), logl=float(logl),
        logl_unrestricted=float(logl1), converged=opt.converged, admissible=admissible,
        warnings=warn_list, parameters=params, r2=r2, vcov=vcov, iterations=opt.iterations,
        optimizer=opt.method, information=information, model_text=model_text, options=options)


def _baseline_df(p: int, nx: int, ms: bool) -> int:
    ny = p - nx
    return ny * (ny - 1) // 2 + ny * nx


def _baseline_cov(S: np.ndarray, model: SEMModel) -> np.ndarray:
    """Independence model: diagonal, with the fixed.x block kept at its sample values."""
    Sb = np.diag(np.diag(S))
    xi = [model.observed.index(v) for v in model.pt.ov_x]
    if xi:
        Sb[np.ix_(xi, xi)] = S[np.ix_(xi, xi)]
    return Sb


def _parameter_table(model: SEMModel, theta, exo, vals, C, vcov) -> pd.DataFrame:
    rows = model.rows
    se = np.zeros(len(rows))
    free = model.free_mask
    with np.errstate(invalid="ignore"):
        dv = np.diag(vcov)
        se_par = np.where(dv >= 0, np.sqrt(np.abs(dv)), np.nan)
    se[free] = se_par[model.par[free]]
    std_lv, std_all = standardize(model, vals, C)
    recs = []
    for k, r in enumerate(rows):
        recs.append({"lhs": r["lhs"], "op": r["op"], "rhs": r["rhs"], "label": r["label"],
                     "est": vals[k], "se": se[k], "std.lv": std_lv[k], "std.all": std_all[k]})
    d = model.defined
    if len(d):
        base, J = defined_jacobian(model, vals, theta, exo)
        dse = np.sqrt(np.clip(np.einsum("ij,jk,ik->i", J, vcov, J), 0, None))
        s_lv = d.evaluate(_env_first(model, std_lv))
        s_all = d.evaluate(_env_first(model, std_all))
        for i, (name, expr) in enumerate(zip(d.names, d.exprs)):
            recs.append({"lhs": name, "op": ":=", "rhs": expr.replace(" ", ""), "label": name,
                         "est": base[i], "se": dse[i], "std.lv": s_lv[i],
                         "std.all": s_all[i]})
    df = pd.DataFrame.from_records(recs)
    return add_wald_columns(df)[PARAM_COLUMNS]


def add_wald_columns(df: pd.DataFrame, *, ci: bool = True) -> pd.DataFrame:
    """Add lavaan's Wald columns to a parameter table with ``est`` and ``se``.

    ``z = est / se`` (NaN where ``se`` is 0 or missing: fixed parameters),
    ``pvalue = 2 (1 - Phi(|z|))`` and, with *ci*, the 95% interval
    ``est -/+ 1.96 se``.  Modifies and returns *df*.

    In R: ``parameterEstimates(fit)``'s ``z pvalue ci.lower ci.upper``.
    """
    est, sev = df["est"].to_numpy(float), df["se"].to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(sev > 0, est / sev, np.nan)
    df["z"] = z
    df["pvalue"] = 2 * norm_sf(np.abs(z))
    if ci:
        df["ci.lower"] = est - _Z975 * sev
        df["ci.upper"] = est + _Z975 * sev
    return df


def _rsquare(model: SEMModel, params: pd.DataFrame) -> pd.Series:
    """R² of indicators and dependent variables: 1 - std.all of their (residual) variance."""
    ind = [r["rhs"] for r in model.rows if r["op"] == "=~"]
    ys = [r["lhs"] for r in model.rows if r["op"] == "~"]
    ynames = list(dict.fromkeys(ind + ys))
    yset = set(ynames)
    out = {}
    for lhs, op, rhs, sa in zip(params["lhs"], params["op"], params["rhs"], params["std.all"]):
        if op == "~~" and lhs == rhs and lhs in yset:
            v = 1.0 - sa
            out[lhs] = v if v <= 1 else np.nan
    return pd.Series(out, name="r2", dtype=float)


# ---------------------------------------------------------------- robust ML
def _fiml_h1_information(st: SampleStats) -> np.ndarray:
    """Observed information per case of the saturated FIML model at the EM estimates.

    Parameters ``[mu; vech(Sigma)]``; the Hessian of ``F = -2 logL / N`` is
    linear-model curvature only (the moments are the parameters), halved.

    In R: ``lavaan:::lav_mvnorm_missing_information_observed_samplestats``.
    """
    from pipeline.sem.estimate import _h1_block
    p = st.cov.shape[0]
    r, c = robust.vech_indices(p)
    q = len(r)
    dS = np.zeros((p, p, q))
    dS[r, c, np.arange(q)] = 1.0
    dS[c, r, np.arange(q)] = 1.0
    dmu = np.eye(p)
    k = p + q
    H = np.zeros((k, k))
    Sigma, mu = st.cov, st.mean
    for pat in st.patterns:
        o = pat.obs
        W = np.linalg.inv(Sigma[pat.ix])
        d = pat.mean - mu[o]
        M = pat.cov + np.outer(d, d)
        full_dS = np.zeros((len(o), len(o), k))
        full_dS[:, :, p:] = dS[pat.ix]
        full_dm = np.zeros((len(o), k))
        full_dm[:, :p] = dmu[o]
        H += (pat.n / st.nobs) * _h1_block(W, M, d, full_dS, full_dm, True)
    return H / 2.0


def ml_scores_free(est: Estimator, st, theta: np.ndarray, X: np.ndarray,
                   meanstructure: bool) -> np.ndarray:
    """Case-wise scores of the normal log-likelihood w.r.t. the free parameters.

    Complete data without fixed.x covariates: the RAM-cell scores of
    :func:`pipeline.sem.robust.ml_scores_cells` at the free rows, summed over
    rows that share a parameter (equality labels).  Equal to
    ``ml_moment_scores(X, Sigma, mu) @ Delta`` (N x npar); without a mean
    structure ``mu`` is the sample mean.

    In R: ``lavaan:::lav_model_scores``.
    """
    m = est.model
    Sigma, mu, B, C, Bm = m.moments(est.values(theta, st))
    rows = est._free_rows
    sc = robust.ml_scores_cells(X, (Sigma + Sigma.T) / 2, mu if meanstructure else st.mean,
                                B, C, Bm, m.kind[rows], m.ii[rows], m.jj[rows], meanstructure)
    return sc @ m.P[rows]


def robust_ml_pieces(est: Estimator, st: SampleStats, theta: np.ndarray, estimator: str,
                     chisq: float, df: float, h1: tuple[float, int] | None = None) -> dict:
    """Robust standard errors and scaled test of an ML fit (one group).

    ``MLM``: ``vcov = E^-1 (Delta' A1 Gamma_ADF A1 Delta) E^-1 / N`` with ``E``
    the expected information ``Delta' A1 Delta`` (A1 the normal-theory h1
    information at the model-implied moments) and the Satorra-Bentler test
    ``T / (tr(U Gamma) / df)``.
    ``MLR``: ``vcov = E^-1 B0 E^-1 / N`` with ``E`` the observed information
    (Hessian) and ``B0`` the mean outer product of the case-wise scores
    (FIML: per missingness pattern); Yuan-Bentler (Mplus) test with trace
    ``tr(B1 A1^-1) - tr(B0 E^-1)`` (h1 pieces at the saturated estimates).

    *h1*: the MLR h1 term ``(tr(B1 A1^-1), ndat)`` if already known (it
    depends on the data only: the baseline model reuses the model's).

    Returns ``{"vcov", "test", "E_inv", "Delta", "h1"}`` (``h1`` None for MLM).

    In R: ``sem(..., estimator = "MLM")`` / ``"MLR"``; ``lavaan:::lav_model_vcov``,
    ``lav_test_satorra_bentler``, ``lav_test_yuan_bentler_mplus``.
    """
    X = st.data
    N = st.nobs
    ms = est.meanstructure
    fiml = est.missing == "fiml"
    Sigma, mu, dS, dm = est.jacobian(theta, st)
    Sigma = (Sigma + Sigma.T) / 2
    Delta = robust.vech_jacobian(dS, dm if ms else None)
    xi = list(est.x_idx)
    if xi:   # fixed.x: the covariates' moments are not modelled (zero rows, as lavaan)
        r_, c_ = robust.vech_indices(est.p)
        xs = set(xi)
        zero = [k for k, (a, b) in enumerate(zip(r_, c_)) if a in xs and b in xs]
        zero = ([j for j in xi] if ms else []) + [(est.p if ms else 0) + k for k in zero]
        Delta = Delta.copy()
        Delta[zero] = 0.0
    if estimator == "MLM":
        A1 = robust.h1_expected_information(Sigma, ms)
        Gam = robust.gamma_adf(X, ms, xi)
        E_inv = linalg.inv(Delta.T @ A1 @ Delta)
        vcov = robust.sandwich_vcov(E_inv, robust.robust_sem_meat(Delta, A1, Gam, N), N)
        tr, tr2 = robust.ugamma_traces(Delta, A1, Gam, N, E_inv)
        test = robust.scaled_test(chisq, df, tr, tr2, "satorra.bentler")
    elif estimator == "MLR":
        E_inv = linalg.inv(est.observed_information(theta, st))
        E_inv = (E_inv + E_inv.T) / 2
        mu_s = mu if ms else st.mean
        SC = (robust.ml_scores_delta(X, Sigma, mu_s, Delta, ms) if fiml or xi
              else ml_scores_free(est, st, theta, X, ms))
        B0 = SC.T @ SC / N
        vcov = robust.sandwich_vcov(E_inv, B0, N)
        A1 = B1 = None
        if h1 is None and not fiml and not xi:      # closed form, no p* x p* matrices
            h1 = (robust.h1_trace_complete(X, st.cov, st.mean, ms), Delta.shape[0])
        if h1 is None:
            if fiml:
                A1 = _fiml_h1_information(st)
                s1 = robust.ml_moment_scores(X, st.cov, st.mean, True)
            else:
                A1 = robust.h1_expected_information(st.cov, ms)
                s1 = robust.ml_moment_scores(X, st.cov, st.mean, ms)
            B1 = s1.T @ s1 / N
            if xi:   # lavaan's h1 information has zero rows for the fixed.x moments
                A1 = A1.copy()
                B1 = B1.copy()
                A1[zero] = 0.0
                A1[:, zero] = 0.0
                B1[zero] = 0.0
                B1[:, zero] = 0.0
            yb = robust.yuan_bentler_mplus_trace(A1, B1, B0, E_inv, N)
            h1 = (yb["h1"][0], yb["h1_ndat"][0])
        yb = robust.yuan_bentler_mplus_trace(None, None, B0, E_inv, N, h1=[h1])
        test = robust.scaled_test(chisq, df, yb["trace"], math.nan, "yuan.bentler.mplus")
        test["scaling_factor_h1"] = sum(yb["h1"]) / sum(yb["h1_ndat"])
        test["scaling_factor_h0"] = sum(yb["h0"]) / Delta.shape[1]
    else:
        raise ValueError(f"estimator must be 'MLM' or 'MLR', got {estimator!r}")
    return {"vcov": vcov, "test": test, "E_inv": E_inv, "Delta": Delta, "h1": h1}


def _baseline_model(res: SEMResult) -> SEMModel:
    """The independence model of *res* (variances, means if any; fixed.x block kept)."""
    lines = [f"{v} ~~ {v}" for v in res.observed]
    ov_x = list(res.model.pt.ov_x)
    lines += [f"{a} ~~ {b}" for i, a in enumerate(ov_x) for b in ov_x[i + 1:]]
    if res.meanstructure:
        lines += [f"{v} ~ 1" for v in res.observed]
    m = build_model("\n".join(lines), meanstructure=res.meanstructure, fixed_x=False)
    if not ov_x:
        return m
    # fixed.x: the covariates' (co)variances and means are sample values, not parameters
    import copy
    pt = copy.copy(m.pt)
    pt.rows = [dict(r) for r in m.pt.rows]
    for r in pt.rows:
        if r["lhs"] in ov_x and (r["op"] == "~1" or (r["op"] == "~~" and r["rhs"] in ov_x)):
            r["free"] = False
            r["exo"] = True
            r["label"] = ""
    pt.ov_x = ov_x
    return SEMModel(pt)


def _baseline_optimize(best: Estimator, st: SampleStats):
    """The independence model's ML estimates: observed variances and means at the
    sample (EM under FIML) moments, which is the optimum when the gradient
    vanishes there; otherwise the engine's Newton iterations from that start."""
    m = best.model
    theta = set_sample_moments(m, np.array(best.start_values(st), dtype=float), st.cov,
                               st.mean)
    if best.missing != "fiml":
        f, g = best.objective(theta, st)
        if np.isfinite(f) and np.max(np.abs(g), initial=0.0) < 1e-10:
            from pipeline.sem.estimate import OptimResult
            return OptimResult(theta, float(f), True, 0, "closed form")
    return best.optimize(st, start=theta)


def _apply_robust(res: SEMResult, estimator: str, *, se: bool, emit: bool) -> None:
    """Replace the ML standard errors and add the scaled tests (model and baseline)."""
    est, st = res.estimator, res.stats
    res.estimator_name = estimator
    res.options.update({"estimator": estimator,
                        "se": ("robust.sem" if estimator == "MLM" else "robust.huber.white")
                        if se else "none",
                        "test": "satorra.bentler" if estimator == "MLM" else "yuan.bentler.mplus",
                        "information": "expected" if estimator == "MLM" else "observed"})
    res.information = res.options["information"]
    try:
        pieces = robust_ml_pieces(est, st, res.theta, estimator, res.chisq, res.df)
    except (linalg.LinAlgError, np.linalg.LinAlgError, ValueError) as exc:
        _warn(res.warnings, f"{estimator} standard errors and scaled test are not available "
              f"({exc}): the information matrix is singular", IdentificationWarning, emit)
        res.admissible = False
        res.vcov = np.full_like(res.vcov, np.nan)
        exo = est.exo_values(st)
        vals = res.model.row_values(res.theta, exo)
        res.parameters = _parameter_table(res.model, res.theta, exo, vals,
                                          res.model.moments(vals)[3], res.vcov)
        return
    res.test_scaled = pieces["test"]
    if se and res.npar and np.all(np.isfinite(res.vcov)):
        res.vcov = pieces["vcov"]
        exo = est.exo_values(st)
        vals = res.model.row_values(res.theta, exo)
        _, _, _, C, _ = res.model.moments(vals)
        res.parameters = _parameter_table(res.model, res.theta, exo, vals, C, res.vcov)
    # baseline
    bm = _baseline_model(res)
    best = Estimator(bm, likelihood=res.likelihood, missing=res.missing,
                     meanstructure=res.meanstructure)
    bopt = _baseline_optimize(best, st)
    try:
        bpieces = robust_ml_pieces(best, st, bopt.theta, estimator, res.baseline_chisq,
                                   res.baseline_df, h1=pieces.get("h1"))
        res.baseline_test_scaled = bpieces["test"]
        if res.missing == "fiml":
            res.test_scaled["fiml_corrected"] = fiml_corrected(
                est, st, res.theta, best, bopt.theta, res.df, res.baseline_df)
    except (linalg.LinAlgError, np.linalg.LinAlgError, ValueError) as exc:
        _warn(res.warnings, f"the scaled baseline test is not available ({exc}); scaled and "
              "robust incremental fit indices are NaN", IdentificationWarning, emit)


def _ml_f(S, m, Sigma, mu) -> float:
    """Complete-data ML discrepancy ``log|Sigma| + tr(S Sigma^-1) - log|S| - p + d' Sigma^-1 d``."""
    W = np.linalg.inv(Sigma)
    d = m - mu
    return float(np.linalg.slogdet(Sigma)[1] + np.trace(S @ W) - np.linalg.slogdet(S)[1]
                 - len(S) + d @ W @ d)


def fiml_corrected(est: Estimator, st: SampleStats, theta, best: Estimator, btheta,
                   df: float, baseline_df: float) -> dict:
    """Savalei's FIML-corrected chi-squares for robust CFI/TLI/RMSEA under FIML (V3).

    ``XX3 = N F_ML(Sigma(theta_FIML); S_EM, m_EM)`` (the FIML estimates
    evaluated against the EM moments as if complete), scaled by
    ``c = tr(U Wm^-1 Wc Wm^-1 U Gamma) / df`` with ``Wm`` the observed h1
    information under missingness, ``Wc`` the complete-data h1 information at
    the EM moments, ``Gamma = Wm^-1 Jm Wm^-1`` (``Jm`` the first-order h1
    information) and ``U = Wm - Wm Delta (Delta' Wm Delta)^-1 Delta' Wm``;
    the same for the independence model.

    Returns ``{XX3, df3, c_hat3, XX3_scaled, XX3_null, df3_null, c_hat3_null}``.

    Reference: Zhang, X., & Savalei, V. (2023). New computations for RMSEA and
    CFI following FIML and TS estimation with missing data. *Psychological
    Methods*, 28, 263-283.

    In R: ``lavaan:::lav_fit_fiml_corrected(fit, version = "V3")``.
    """
    N = st.nobs
    S, m = st.cov, st.mean
    Wm = _fiml_h1_information(st)
    s1 = robust.ml_moment_scores(st.data, S, m, True)
    Jm = s1.T @ s1 / N
    Wc = robust.h1_expected_information(S, True)
    p = S.shape[0]
    keep = np.arange(Wm.shape[0])
    if len(est.x_idx):      # fixed.x: the covariates' moments are dropped (lavaan's zero rows)
        xs = set(int(j) for j in est.x_idx)
        r_, c_ = robust.vech_indices(p)
        drop = set(xs) | {p + k for k, (a, b) in enumerate(zip(r_, c_)) if a in xs and b in xs}
        keep = np.array([k for k in keep if k not in drop], dtype=int)
    ix = np.ix_(keep, keep)
    Wm, Jm, Wc = Wm[ix], Jm[ix], Wc[ix]
    Wmi = np.linalg.inv(Wm)
    Gam = Wmi @ Jm @ Wmi
    M = Wmi @ Wc @ Wmi
    out = {}
    for tag, e, th, d in (("", est, theta, df), ("_null", best, btheta, baseline_df)):
        Sigma, mu, dS, dm = e.jacobian(th, st)
        Delta = robust.vech_jacobian(dS, dm)[keep]
        WD = Wm @ Delta
        U = Wm - WD @ np.linalg.solve(Delta.T @ WD, WD.T)
        k = float(np.trace(U @ M @ U @ Gam))
        xx = N * _ml_f(S, m, (Sigma + Sigma.T) / 2, mu)
        c = k / d if d > 0 else math.nan
        out["XX3" + tag] = xx
        out["df3" + tag] = d
        out["c_hat3" + tag] = c
        if not tag:
            out["XX3_scaled"] = xx / c
    return out
