"""Nonparametric bootstrap of a fitted SEM.

Each draw resamples the N cases used by the fit (rows with replacement) and
refits the model with the same :class:`~pipeline.sem.estimate.Estimator`,
warm-started at the full-sample estimate.  Draw *b* uses its own generator
``default_rng(SeedSequence(seed).spawn(B)[b])``, so the draws, and hence the
intervals, do not depend on the order or the number of workers.

Intervals, as lavaan's ``parameterEstimates(fit, boot.ci.type=...)``:

* percentile (``"perc"``): ``boot::norm.inter`` interpolation of the order
  statistics at ``(1 -/+ level)/2``;
* bias-corrected (``"bca.simple"``, acceleration 0):
  ``w = qnorm(mean(t < t0))``, ``alpha' = pnorm(2w + z_alpha)``.

The bootstrap SE is the standard deviation of the successful draws.  Draws
that fail (non-convergence, non-positive-definite sample or implied
covariance matrix) are counted and excluded; inadmissible draws (a negative
variance estimate) are counted and, by default, excluded too (lavaan 0.6-14
counts them but keeps them: pass ``drop_inadmissible=False`` to match).

In R: ``sem(model, data, se = "bootstrap", bootstrap = B)``;
``parameterEstimates(fit, boot.ci.type = "perc")`` / ``"bca.simple"``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from pipeline.core.distributions import norm_cdf, norm_ppf

from pipeline.sem.results import add_wald_columns

__all__ = ["bootstrap", "BootstrapResult", "norm_inter", "percentile_ci", "bc_ci"]


def norm_inter(t: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Quantiles of *t* by normal-scale interpolation of order statistics.

    In R: ``boot:::norm.inter(t, alpha)[, 2]`` (used by lavaan for "perc").
    """
    t = np.sort(np.asarray(t, float)[np.isfinite(t)])
    R = len(t)
    alpha = np.atleast_1d(np.asarray(alpha, float))
    out = np.full(alpha.shape, np.nan)
    if R == 0:
        return out
    rk = (R + 1) * alpha
    k = np.trunc(rk).astype(int)
    for i in range(len(alpha)):
        if k[i] == rk[i] and 1 <= k[i] <= R:
            out[i] = t[k[i] - 1]
        elif k[i] <= 0:
            out[i] = t[0]
        elif k[i] >= R:
            out[i] = t[R - 1]
        else:
            z1 = norm_ppf(alpha[i])
            z2 = norm_ppf(k[i] / (R + 1))
            z3 = norm_ppf((k[i] + 1) / (R + 1))
            tk, tk1 = t[k[i] - 1], t[k[i]]
            out[i] = tk + (z1 - z2) / (z3 - z2) * (tk1 - tk)
    return out


def percentile_ci(t: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval (lavaan ``boot.ci.type="perc"``)."""
    a = np.array([(1 - level) / 2, (1 + level) / 2])
    lo, hi = norm_inter(t, a)
    return float(lo), float(hi)


def bc_ci(t: np.ndarray, t0: float, level: float = 0.95) -> tuple[float, float]:
    """Bias-corrected interval (lavaan ``boot.ci.type="bca.simple"``, a = 0)."""
    t = np.asarray(t, float)
    t = t[np.isfinite(t)]
    if len(t) < 2 or np.var(t) == 0:
        return float(t0), float(t0)
    za = norm_ppf([(1 - level) / 2, (1 + level) / 2])
    w = norm_ppf(np.mean(t < t0))
    adj = norm_cdf(w + (w + za))
    lo, hi = norm_inter(t, adj)
    return float(lo), float(hi)


@dataclass
class BootstrapResult:
    """Bootstrap draws and intervals of every parameter and defined parameter."""

    B: int
    seed: int | None
    level: float
    draws: np.ndarray                  # successful draws x (npar + ndefined)
    n_ok: int
    n_failed: int
    n_inadmissible: int
    inadmissible_dropped: bool
    table: pd.DataFrame                # lhs op rhs label est se ci.lower ci.upper ci.*.bc
    failures: dict = field(default_factory=dict)

    def summary_dict(self) -> dict:
        return {"B": self.B, "seed": self.seed, "level": self.level, "n_ok": self.n_ok,
                "n_failed": self.n_failed, "n_inadmissible": self.n_inadmissible,
                "inadmissible_dropped": self.inadmissible_dropped,
                "ci": "percentile (ci.lower/ci.upper), bias-corrected (ci.lower.bc/ci.upper.bc)"}

    def report(self) -> str:
        kept = "excluded" if self.inadmissible_dropped else "kept"
        return (f"Bootstrap: B = {self.B}, seed = {self.seed}: {self.n_ok} draws used, "
                f"{self.n_failed} failed (excluded), {self.n_inadmissible} inadmissible "
                f"({kept}); {int(self.level * 100)}% percentile and bias-corrected intervals")

    def to_frame(self) -> pd.DataFrame:
        return self.table.copy()



def _bootstrap_result(res, B, seed, level, D: np.ndarray, table: pd.DataFrame, failures: dict,
                      n_inadm: int, drop_inadmissible: bool, why: str = "") -> "BootstrapResult":
    """The :class:`BootstrapResult` of *D* (the kept draws), with one warning for
    failed and one for inadmissible draws, each recorded once on *res*."""
    import warnings

    from pipeline.core.exceptions import ConvergenceWarning, InadmissibleFitWarning
    n_failed = sum(failures.values())
    br = BootstrapResult(B=int(B), seed=seed, level=level, draws=D, n_ok=len(D),
                         n_failed=n_failed, n_inadmissible=n_inadm,
                         inadmissible_dropped=drop_inadmissible, table=table,
                         failures=failures)
    if n_failed:
        msg = (f"bootstrap: {n_failed} of {B} draws failed and were excluded "
               f"({', '.join(f'{k}: {v}' for k, v in failures.items())})")
        res.warnings.append(f"ConvergenceWarning: {msg}")
        warnings.warn(msg, ConvergenceWarning, stacklevel=3)
    if n_inadm:
        msg = (f"bootstrap: {n_inadm} of {B} draws were inadmissible{why} and were "
               f"{'excluded' if drop_inadmissible else 'kept'}")
        res.warnings.append(f"InadmissibleFitWarning: {msg}")
        warnings.warn(msg, InadmissibleFitWarning, stacklevel=3)
    return br

def _draw(est, X, idx, theta0, missing, likelihood):
    from pipeline.sem.estimate import sample_stats
    Xb = X[idx]
    try:
        st = sample_stats(Xb, likelihood=likelihood, missing=missing, em=False)
    except (np.linalg.LinAlgError, ValueError):
        return None, "sample"
    if missing == "listwise" and not np.isfinite(st.logdet):
        return None, "sample covariance not positive definite"
    opt = est.optimize(st, start=theta0, maxiter=100)
    if not opt.converged:
        return None, "not converged"
    return (opt.theta, st), None


def _run_draws(it, children, est, X, N, theta0, res, model, var_par, nd, drop_inadmissible):
    from pipeline.sem.results import _env_first
    draws, failures, n_inadm = [], {}, 0
    for b in it:
        rng = np.random.default_rng(children[b])
        idx = rng.integers(0, N, size=N)
        out, why = _draw(est, X, idx, theta0, res.missing, res.likelihood)
        if out is None:
            failures[why] = failures.get(why, 0) + 1
            continue
        theta, st = out
        inadm = bool(len(var_par) and np.any(theta[var_par] < 0))
        if not inadm:
            Sig = model.moments(est.values(theta, st))[0]
            inadm = np.linalg.eigvalsh((Sig + Sig.T) / 2).min() <= 0
        if inadm:
            n_inadm += 1
            if drop_inadmissible:
                continue
        row = theta
        if nd:
            vals = est.values(theta, st)
            row = np.concatenate([theta, model.defined.evaluate(_env_first(model, vals))])
        draws.append(row)
    return draws, failures, n_inadm


def bootstrap(result_or_model, data: pd.DataFrame | None = None, B: int = 1000,
              seed: int | None = None, *, level: float = 0.95,
              drop_inadmissible: bool = True, progress: bool = True,
              attach: bool = True, workers: int | None = None, scheduler=None,
              fast: bool | None = None, **fit_kwargs) -> BootstrapResult:
    """Nonparametric bootstrap of every parameter and defined parameter.

    Parameters
    ----------
    result_or_model : SEMResult or model
        A fitted result, or a model (lavaan syntax / path / SEMModel) that is
        first fitted to *data* with ``fit_kwargs``.
    data : DataFrame, optional
        Needed when a model is given; with a result, the cases the result
        used are resampled (the default).
    B : int
        Number of draws.
    seed : int, optional
        Root of the ``SeedSequence``; the same seed gives the same intervals.
    level : float
        Confidence level.
    drop_inadmissible : bool
        Exclude draws with a negative variance estimate (lavaan keeps them).
    progress : bool
        Show a tqdm progress bar.
    workers : int, optional
        Local worker processes for the fast path (default: the available
        cores; 1 runs in this process).  Never changes the results.
    scheduler : str or distributed.Client, optional
        Run the draws on a dask.distributed cluster (default:
        ``$DASK_SCHEDULER_ADDRESS``; none: local processes).  Never changes
        the results.
    fast : bool, optional
        Default (None): every design runs on the parallel fast path
        (:func:`pipeline.core.parallel.map_draws`: local processes or Dask,
        the same draws for any number of workers) -- complete-data ML, MLM
        and MLR through :func:`pipeline.sem.fast.bootstrap_draws` (compiled
        model, warm quasi-Newton refits); FIML and mean structures through
        :func:`pipeline.sem.fast.engine_bootstrap_draws`; multi-group fits
        through :func:`pipeline.sem.fast.multigroup_bootstrap_draws`.
        ``True`` forces :func:`~pipeline.sem.fast.bootstrap_draws` (complete
        data, no mean structure); ``False`` refits every draw with the
        engine in this process (the reference loop).  All use the same
        resamples (same seeds) and agree to the optimizers' tolerance.
        Least-squares fits (WLSMV, DWLS, ULS) are refused.
    attach : bool
        Store the result on ``result.bootstrap`` and replace ``se``,
        ``ci.lower``/``ci.upper`` (percentile) in ``result.parameters``, add
        ``ci.lower.bc``/``ci.upper.bc``, recompute ``z``/``pvalue`` from the
        bootstrap SE (lavaan's ``se="bootstrap"``).  The ML table is kept in
        ``result.parameters_ml``.

    Returns
    -------
    BootstrapResult

    In R: ``sem(model, data, se="bootstrap", bootstrap=B)``,
    ``parameterEstimates(fit, boot.ci.type="perc")``.
    """
    from pipeline.sem import SEMResult, fit
    if not isinstance(B, (int, np.integer)) or B < 2:
        raise ValueError(f"B must be an integer >= 2, got {B!r}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    if isinstance(result_or_model, SEMResult) or hasattr(result_or_model, "chisq_group"):
        res = result_or_model
    else:
        if data is None:
            raise ValueError("data is required when result_or_model is a model")
        res = fit(result_or_model, data, **fit_kwargs)
    if hasattr(res, "chisq_group"):
        return bootstrap_multigroup(res, B, seed, level=level,
                                    drop_inadmissible=drop_inadmissible, progress=progress,
                                    attach=attach, workers=workers, scheduler=scheduler,
                                    fast=fast)
    if getattr(res, "wls", None) is not None:
        raise ValueError(
            f"bootstrap: estimator={res.options.get('estimator', 'WLS')!r} is a least-squares fit; "
            "the bootstrap covers ML, MLM, MLR (complete data, FIML, mean structures); "
            "use estimator='ML' or 'MLR' for bootstrap intervals")
    model, est = res.model, res.estimator
    X = res.stats.data
    N = X.shape[0]
    theta0 = res.theta
    children = np.random.SeedSequence(seed).spawn(int(B))
    nd = len(model.defined)
    draws = []
    failures: dict[str, int] = {}
    n_inadm = 0
    var_rows = [k for k, r in enumerate(model.rows)
                if r["op"] == "~~" and r["lhs"] == r["rhs"] and r["par"] >= 0]
    var_par = np.array([model.rows[k]["par"] for k in var_rows], dtype=int)
    use_fast = _fast_applies(res) if fast is None else bool(fast)
    use_engine_pool = not use_fast and fast is None      # FIML / mean structures
    if use_fast:
        draws, failures, n_inadm = _fast_draws(res, X, theta0, int(B), seed, drop_inadmissible,
                                               workers=workers, scheduler=scheduler,
                                               progress=progress)
    elif use_engine_pool:
        draws, failures, n_inadm = _engine_draws(res, int(B), seed, drop_inadmissible,
                                                 workers=workers, scheduler=scheduler,
                                                 progress=progress)
        use_fast = True
    it = range(0 if use_fast else int(B))
    if progress and not use_fast:
        from tqdm.auto import tqdm
        it = tqdm(it, desc="bootstrap", unit="draw", leave=False)
    if not use_fast:
        from pipeline.sem.estimate import single_thread_blas
        with single_thread_blas():   # small matrices: threaded BLAS only adds contention
            draws, failures, n_inadm = _run_draws(it, children, est, X, N, theta0, res,
                                                  model, var_par, nd, drop_inadmissible)
    D = np.array(draws).reshape(len(draws), model.npar + nd)
    table = _boot_table(res, D, level)
    br = _bootstrap_result(res, B, seed, level, D, table, failures, n_inadm,
                           drop_inadmissible,
                           why=" (negative variance or non-PD implied covariance)")
    if attach:
        if getattr(res, "parameters_ml", None) is None:
            res.parameters_ml = res.parameters.copy()
        p = res.parameters_ml.copy()
        for col in ("se", "ci.lower", "ci.upper", "ci.lower.bc", "ci.upper.bc"):
            p[col] = table[col].to_numpy()
        add_wald_columns(p, ci=False)           # z and p from the bootstrap SE
        cols = ["lhs", "op", "rhs", "label", "est", "se", "z", "pvalue", "ci.lower", "ci.upper",
                "ci.lower.bc", "ci.upper.bc", "std.lv", "std.all"]
        res.parameters = p[cols]
        res.bootstrap = br
        res.options.update({"se": "bootstrap", "bootstrap": int(B), "seed": seed,
                            "boot.ci.type": "perc", "level": level})
    return br


def bootstrap_multigroup(res, B: int = 1000, seed: int | None = None, *, level: float = 0.95,
                         drop_inadmissible: bool = False, progress: bool = True,
                         attach: bool = True, workers: int | None = None, scheduler=None,
                         fast: bool | None = None) -> BootstrapResult:
    """Nonparametric bootstrap of a multi-group fit: cases resampled within each group.

    Draw *b* takes, in every group *g*, ``n_g`` cases with replacement from
    the cases that group's fit used (the group sizes are kept, as lavaan
    does), and refits the same model with the same ``group.equal`` /
    ``group.partial`` constraints from the original estimates.  Draw *b*'s
    random stream is child *b* of ``SeedSequence(seed)``, so the same seed
    gives the same intervals.  Failed refits are excluded and counted;
    inadmissible ones (a negative variance in any group) are kept unless
    *drop_inadmissible*.  Percentile and bias-corrected intervals of every
    row of ``res.parameters`` (``:=`` rows included).

    Parameters
    ----------
    res : MultiGroupResult
        A fit of :func:`pipeline.sem.multigroup.fit_multigroup` (ML, MLM, MLR;
        complete data or FIML).
    B, seed, level, drop_inadmissible, progress, attach
        As in :func:`bootstrap`.
    workers, scheduler
        Local worker processes or a Dask scheduler
        (:func:`pipeline.core.parallel.map_draws`); they never change the
        results.
    fast : bool, optional
        Default (None or True): the draws run as
        :class:`pipeline.sem.fast.MultiGroupBootstrapTask` -- the stacked
        objective refitted by the engine's Newton iterations without data
        frames, tables or standard errors -- on local processes or Dask.
        ``False``: the reference loop in this process, a full
        :func:`~pipeline.sem.multigroup.fit_multigroup` per draw.  Both use
        the same resamples and start values: the same draws to the
        optimizers' tolerance, except where a resample's likelihood has two
        stationary points and the loop's quasi-Newton stops at the higher
        one (the task's Newton iterations reach the lower).

    Returns
    -------
    BootstrapResult

    In R: ``sem(model, data, group = "g", se = "bootstrap", bootstrap = B,
    parallel = "multicore", ncpus = workers)`` (``lav_bootstrap_internal``
    resamples within groups).
    """
    if getattr(res, "wls", None) is not None or str(res.estimator).upper() in (
            "WLSMV", "DWLS", "ULS", "ULSMV"):
        raise ValueError(f"bootstrap: estimator={res.estimator!r} is a least-squares fit; "
                         "the bootstrap covers ML, MLM and MLR")
    est0 = res.parameters["est"].to_numpy(dtype=float)
    if fast is None or fast:
        from pipeline.sem.fast import multigroup_bootstrap_draws
        est, status = multigroup_bootstrap_draws(res, int(B), np.random.SeedSequence(seed),
                                                 workers=workers, scheduler=scheduler,
                                                 progress=progress)
        failures: dict[str, int] = {}
        if np.any(status == 1):
            failures["not converged or singular resample"] = int(np.sum(status == 1))
        n_inadm = int(np.sum(status == 2))
        keep = (status == 0) | ((status == 2) & (not drop_inadmissible))
        draws = est[keep]
    else:
        draws, failures, n_inadm = _multigroup_loop(res, int(B), seed, drop_inadmissible,
                                                    progress)
    D = np.array(draws).reshape(len(draws), len(est0))
    recs = []
    for j, r in enumerate(res.parameters.itertuples(index=False)):
        rec = {"lhs": r.lhs, "op": r.op, "rhs": r.rhs, "group": r.group, "label": r.label,
               "est": r.est}
        t = D[:, j]
        if len(t) > 1 and np.ptp(t) > 0:
            se = float(np.std(t, ddof=1))
            lo, hi = percentile_ci(t, level)
            blo, bhi = bc_ci(t, r.est, level)
        elif len(t) > 1:                       # fixed (or equal in every draw)
            se, lo, hi, blo, bhi = 0.0, r.est, r.est, r.est, r.est
        else:
            se = lo = hi = blo = bhi = math.nan
        rec.update({"se": se, "ci.lower": lo, "ci.upper": hi, "ci.lower.bc": blo,
                    "ci.upper.bc": bhi})
        recs.append(rec)
    table = pd.DataFrame.from_records(recs)
    br = _bootstrap_result(res, B, seed, level, D, table, failures, n_inadm, drop_inadmissible)
    if attach:
        p = res.parameters.copy()
        for col in ("se", "ci.lower", "ci.upper", "ci.lower.bc", "ci.upper.bc"):
            p[col] = table[col].to_numpy()
        add_wald_columns(p, ci=False)           # z and p from the bootstrap SE
        res.parameters_ml = res.parameters
        res.parameters = p
        res.bootstrap = br
        res.options.update({"se": "bootstrap", "bootstrap": int(B), "seed": seed,
                            "boot.ci.type": "perc", "level": level})
    return br


def _multigroup_loop(res, B, seed, drop_inadmissible, progress):
    """The reference: a whole :func:`~pipeline.sem.multigroup.fit_multigroup` per draw."""
    import warnings

    from pipeline.core.exceptions import PipelineWarning
    from pipeline.sem.multigroup import fit_multigroup
    opts = res.options
    observed = list(res.models[0].observed)
    gcol = res.group_column
    parts = [(g, np.asarray(st.data, dtype=float)) for g, st in zip(res.groups, res.stats)]
    children = np.random.SeedSequence(seed).spawn(int(B))
    est0 = res.parameters["est"].to_numpy(dtype=float)
    var_rows = ((res.parameters["op"] == "~~") & (res.parameters["lhs"] == res.parameters["rhs"])
                ).to_numpy()
    draws, failures, n_inadm = [], {}, 0
    it = range(int(B))
    if progress:
        from tqdm.auto import tqdm
        it = tqdm(it, desc="bootstrap", unit="draw", leave=False)
    for b in it:
        rng = np.random.default_rng(children[b])
        frames = []
        for g, X in parts:
            idx = rng.integers(0, X.shape[0], size=X.shape[0])
            f = pd.DataFrame(X[idx], columns=observed)
            f[gcol] = g
            frames.append(f)
        boot = pd.concat(frames, ignore_index=True)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", PipelineWarning)
                with np.errstate(all="ignore"):
                    r = fit_multigroup(res.model_text, boot, gcol,
                                       group_equal=opts.get("group.equal", ()),
                                       group_partial=opts.get("group.partial", ()),
                                       estimator=res.estimator, likelihood=res.likelihood,
                                       missing=res.missing, fixed_x=opts.get("fixed.x", True),
                                       std_lv=opts.get("std.lv", False),
                                       meanstructure=opts.get("meanstructure"), se=False,
                                       baseline=False, emit_warnings=False, start=res.theta)
        except (np.linalg.LinAlgError, ValueError, ArithmeticError) as exc:
            key = type(exc).__name__
            failures[key] = failures.get(key, 0) + 1
            continue
        if not r.converged:
            failures["not converged"] = failures.get("not converged", 0) + 1
            continue
        row = r.parameters["est"].to_numpy(dtype=float)
        if len(row) != len(est0):
            failures["parameter table"] = failures.get("parameter table", 0) + 1
            continue
        inadm = (not r.admissible) or bool(np.any(row[var_rows] < 0))
        if inadm:
            n_inadm += 1
            if drop_inadmissible:
                continue
        draws.append(row)
    return draws, failures, n_inadm


def _fast_applies(res) -> bool:
    """The fast path needs complete data and a covariance structure only."""
    return res.missing == "listwise" and not bool(np.any(res.model.is_m))


def _fast_draws(res, X, theta0, B, seed, drop_inadmissible, *, workers, scheduler, progress):
    """Draws through :func:`pipeline.sem.fast.bootstrap_draws` (same seeds as the loop)."""
    from pipeline.sem.fast import bootstrap_draws
    if np.any(res.model.is_m):
        raise ValueError("fast=True needs a model without a mean structure")
    ss = np.random.SeedSequence(seed)
    est, status = bootstrap_draws(res.model, X, theta0, B, ss, likelihood=res.likelihood,
                                  workers=workers, scheduler=scheduler, progress=progress)
    failures: dict[str, int] = {}
    n_failed = int(np.sum(status == 1))
    if n_failed:
        failures["not converged or singular sample covariance"] = n_failed
    n_inadm = int(np.sum(status == 2))
    keep = (status == 0) | ((status == 2) & (not drop_inadmissible))
    return est[keep], failures, n_inadm       # an array: no per-draw Python objects


def _engine_draws(res, B, seed, drop_inadmissible, *, workers, scheduler, progress):
    """FIML / mean-structure draws through :func:`pipeline.sem.fast.engine_bootstrap_draws`
    (local processes or Dask; the same streams as the in-process loop)."""
    from pipeline.sem.fast import engine_bootstrap_draws
    est, status = engine_bootstrap_draws(res, B, np.random.SeedSequence(seed), workers=workers,
                                         scheduler=scheduler, progress=progress)
    failures: dict[str, int] = {}
    n_failed = int(np.sum(status == 1))
    if n_failed:
        failures["not converged or unusable resample"] = n_failed
    n_inadm = int(np.sum(status == 2))
    keep = (status == 0) | ((status == 2) & (not drop_inadmissible))
    return est[keep], failures, n_inadm


def _boot_table(res, D: np.ndarray, level: float) -> pd.DataFrame:
    model = res.model
    params = getattr(res, "parameters_ml", None)
    params = res.parameters if params is None else params
    recs = []
    nrow = len(model.rows)
    for i, r in enumerate(params.itertuples(index=False)):
        rec = {"lhs": r.lhs, "op": r.op, "rhs": r.rhs, "label": r.label, "est": r.est}
        if i < nrow:
            j = model.rows[i]["par"]
        else:
            j = model.npar + (i - nrow)
        if j < 0 or D.shape[0] == 0:
            se = 0.0 if j < 0 else math.nan
            lo = hi = blo = bhi = (r.est if j < 0 else math.nan)
        else:
            t = D[:, j]
            se = float(np.std(t, ddof=1)) if len(t) > 1 else math.nan
            lo, hi = percentile_ci(t, level)
            blo, bhi = bc_ci(t, r.est, level)
        rec.update({"se": se, "ci.lower": lo, "ci.upper": hi, "ci.lower.bc": blo,
                    "ci.upper.bc": bhi})
        recs.append(rec)
    return pd.DataFrame.from_records(recs)
