"""Monte Carlo power analysis for a planned survey wave.

Data are drawn from a **population model** with values (lavaan syntax with
numbers, as :func:`pipeline.sem.implied_moments` reads it), continuous or cut
into Likert categories as the synthetic-waves generator does
(:func:`thresholds_from_shares`), and an **analysis model** is fitted by ML
to every replication (:class:`pipeline.sem.fast.FastML`, warm-started at the
population values).  For every parameter and sample size it reports

* power: the share of replications with Wald ``p < alpha``;
* bias, relative bias, empirical SD, mean SE and RMSE of the estimates;
* coverage of the 95% Wald interval;
* the convergence and admissibility rates;
* quantiles of chi-square, CFI and RMSEA (and the chi-square rejection rate).

The "true" value of a parameter is its **population value**: the
analysis model fitted to the population moments of the generated variables
(for Likert data, the exact moments of the discretized normal responses,
:func:`discretized_moments`).  With a correctly specified
continuous model that is the value written in the population model; with
discretized data or a misspecified model it is the pseudo-true value that
ML estimates consistently.

Replication *r* at sample size *N* uses ``SeedSequence(seed, spawn_key=(N, r))``,
so results are the same for any number of workers, locally or on a Dask
cluster (:mod:`pipeline.core.parallel`), and adding a sample size leaves the others
unchanged.  Aggregation streams: each replication adds to running sums; only
three fit statistics per replication are kept (for their quantiles).

Statistics over replications use those that **converged** (as Mplus and
simsem do); inadmissible solutions are counted, and excluded too with
``exclude_inadmissible=True``.

References
----------
Muthén, L. K., & Muthén, B. O. (2002). How to use a Monte Carlo study to
decide on sample size and determine power. *Structural Equation Modeling*,
9(4), 599-620.

In R: ``simsem::sim(nRep, model, n = c(...), generate = pop)`` and
``simsem::getPower``; or ``lavaan::simulateData`` + ``lavaan::sem`` in a loop.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import ndtri

from pipeline.core.parallel import DrawTask, draw_seeds, map_draws
from pipeline.sem.fast import FastML, sample_cov, wald

__all__ = ["power_analysis", "PowerResult", "PowerTask", "analytic_power",
           "thresholds_from_shares", "discretized_moments"]

FIT_STATS = ("chisq", "cfi", "rmsea")
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
# convergence: F within about 1e-10 of its minimum, estimates within ~1e-4 SE
FTOL = 1e-10


def analytic_power(effect: float, se: float, alpha: float = 0.05) -> float:
    """Power of the two-sided Wald z test for a true *effect* with standard error *se*.

    ``Phi(|effect|/se - z_{1-alpha/2}) + Phi(-|effect|/se - z_{1-alpha/2})``.

    In R: ``pnorm(abs(b)/se - qnorm(1 - alpha/2)) + pnorm(-abs(b)/se - qnorm(1 - alpha/2))``.
    """
    from scipy.special import ndtr
    if se <= 0:
        raise ValueError(f"se must be positive, got {se}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
    d = abs(effect) / se
    c = float(ndtri(1 - alpha / 2))
    return float(ndtr(d - c) + ndtr(-d - c))


# ------------------------------------------------------------------ the task
class PowerTask(DrawTask):
    """Replications of one (population, analysis model) pair at several N.

    Unit ``i`` is replication ``i % reps`` at sample size ``ns[i // reps]``.
    """

    def __init__(self, population: str, model: str, ns: list[int], reps: int, seed: int, *,
                 cuts: dict[str, np.ndarray] | None = None, likelihood: str = "normal"):
        self.population = population
        self.model = model
        self.ns = [int(n) for n in ns]
        self.reps = int(reps)
        self.seed = int(seed)
        self.cuts = None if cuts is None else {k: np.asarray(v, dtype=float) for k, v in cuts.items()}
        self.likelihood = likelihood
        h = hashlib.sha1(f"{population}\0{model}\0{likelihood}".encode())
        if self.cuts:
            for k in sorted(self.cuts):
                h.update(k.encode() + self.cuts[k].tobytes())
        self.key = "power:" + h.hexdigest()

    def setup(self) -> dict[str, Any]:
        from pipeline.sem import implied_moments
        obs, sigma, _ = implied_moments(self.population)
        fm = FastML(self.model, likelihood=self.likelihood)
        missing = [v for v in fm.observed if v not in obs]
        if missing:
            raise ValueError(f"model: observed variables not in the population model: {missing}")
        fm = FastML(fm.model, observed=obs, likelihood=self.likelihood)
        cols = fm.columns
        chol = np.linalg.cholesky(sigma)
        sd = np.sqrt(np.diag(sigma))
        if self.cuts:
            missing = [v for v in fm.observed if v not in self.cuts]
            if missing:
                raise ValueError(f"cuts: no thresholds for {missing}")
            # only the analysis model's variables are cut (and needed)
            sub = sigma[np.ix_(cols, cols)]
            _, target = discretized_moments(sub, [self.cuts[v] for v in fm.observed])
            cut_list = [self.cuts[v] * sd[c] for v, c in zip(fm.observed, cols)]
        else:
            target = sigma[np.ix_(cols, cols)]
            cut_list = None
        pop = fm.fit(target, max_iter=1000, xtol=1e-10, ftol=1e-14)
        if not pop.converged:
            raise ValueError("model: the analysis model does not converge on the population "
                             "moments; check that it fits the population model's variables")
        info = fm.information(pop.theta, target)
        hinv0 = np.linalg.inv(info)
        true = np.concatenate([pop.theta, fm.defined(pop.theta)])
        return {"fm": fm, "cols": cols, "chol": chol, "cuts": cut_list, "theta0": pop.theta,
                "hinv0": hinv0, "true": true, "p": len(obs), "pop_fmin": pop.fmin}

    def run(self, state, start: int, stop: int):
        fm: FastML = state["fm"]
        cols, chol, cuts = state["cols"], state["chol"], state["cuts"]
        k = fm.q + fm.n_defined
        m = stop - start
        est = np.full((m, k), np.nan)
        se = np.full((m, k), np.nan)
        status = np.zeros(m, dtype=np.int8)
        fit = np.full((m, 3), np.nan)
        for u, i in enumerate(range(start, stop)):
            j, r = divmod(i, self.reps)
            n = self.ns[j]
            [ss] = draw_seeds(self.seed, r, r + 1, prefix=(n,))
            rng = np.random.default_rng(ss)
            z = rng.standard_normal((n, state["p"])) @ chol.T
            x = z[:, cols]
            if cuts is not None:
                x = np.column_stack([np.searchsorted(c, x[:, a], side="right") + 1.0
                                     for a, c in enumerate(cuts)])
            S = sample_cov(x)
            if np.any(np.diag(S) <= 0):          # a constant item (tiny N, Likert)
                status[u] = 1
                continue
            res = fm.fit(S, start=state["theta0"], hinv0=state["hinv0"], ftol=FTOL, want_info=True)
            status[u] = res.status
            if not res.converged:
                continue
            est[u, : fm.q] = res.theta
            try:
                V = fm.vcov(res.info, n)
            except np.linalg.LinAlgError:
                status[u] = 1
                continue
            se[u, : fm.q] = np.sqrt(np.clip(np.diag(V), 0, None))
            if fm.n_defined:
                est[u, fm.q:] = fm.defined(res.theta)
                Jd = fm.defined_jacobian(res.theta)
                se[u, fm.q:] = np.sqrt(np.clip(np.einsum("ij,jk,ik->i", Jd, V, Jd), 0, None))
            fit[u] = fm.fit_stats(res.fmin, S, n)
        return est, se, status, fit


# ------------------------------------------------------------ aggregation
class _Accumulator:
    """Running sums for one sample size (replications added in index order)."""

    def __init__(self, k: int, reps: int, true: np.ndarray, alpha: float, zcrit: float,
                 exclude_inadmissible: bool):
        self.k, self.true, self.alpha, self.zcrit = k, true, alpha, zcrit
        self.exclude = exclude_inadmissible
        self.reps_done = 0
        self.n_conv = 0
        self.n_adm = 0
        self.n_used = np.zeros(k)
        self.s_est = np.zeros(k)
        self.s_est2 = np.zeros(k)
        self.s_err2 = np.zeros(k)
        self.s_se = np.zeros(k)
        self.n_sig = np.zeros(k)
        self.n_cover = np.zeros(k)
        self.fit = np.full((reps, 3), np.nan)   # three floats per replication

    def add(self, est, se, status, fit) -> None:
        r = self.reps_done
        self.reps_done += 1
        if status == 1:
            return
        self.n_conv += 1
        if status == 0:
            self.n_adm += 1
        elif self.exclude:
            return
        self.fit[r] = fit
        ok = np.isfinite(est) & np.isfinite(se) & (se > 0)
        e = np.where(ok, est, 0.0)
        s = np.where(ok, se, 1.0)
        err = e - self.true
        self.n_used += ok
        self.s_est += e
        self.s_est2 += e * e
        self.s_err2 += np.where(ok, err * err, 0.0)
        self.s_se += np.where(ok, s, 0.0)
        _, p = wald(e, s)
        self.n_sig += ok & (p < self.alpha)
        self.n_cover += ok & (np.abs(err) <= self.zcrit * s)


@dataclass
class PowerResult:
    """Result of :func:`power_analysis`.

    Attributes
    ----------
    parameters : DataFrame
        One row per sample size and parameter: ``n lhs op rhs label true
        mean_est bias rel_bias sd_est mean_se rmse power coverage n_used``.
    fit : DataFrame
        One row per sample size: ``reps converged admissible`` rates,
        ``chisq_reject`` (share with chi-square p < alpha), and the mean and
        quantiles of ``chisq``, ``cfi`` and ``rmsea``.
    options : dict
    throughput : dict
        How the replications ran (a measurement, not a result: it varies
        from run to run): ``replications``, ``wall_s`` (the replications'
        wall time, worker start-up included), ``backend`` ("inline",
        "processes" or "dask"), ``workers`` (local processes, or the Dask
        cluster's worker threads), ``reps_per_s`` and
        ``reps_per_s_per_worker``.
    """

    parameters: pd.DataFrame
    fit: pd.DataFrame
    options: dict = field(default_factory=dict)
    throughput: dict = field(default_factory=dict)

    def throughput_line(self) -> str:
        """One line: replications, wall time, workers and replications per second per worker."""
        t = self.throughput
        if not t:
            return ""
        k = t["workers"]
        where = {"inline": "in this process (1 worker)",
                 "processes": f"on {k} local worker process{'es' if k != 1 else ''}",
                 "dask": f"on a Dask cluster of {k} worker thread{'s' if k != 1 else ''}"
                 }.get(t["backend"], f"on {k} workers ({t['backend']})")
        return (f"Throughput: {t['replications']:,} replications in {t['wall_s']:.2f} s {where}: "
                f"{t['reps_per_s']:,.0f} replications/s, {t['reps_per_s_per_worker']:,.0f} per "
                f"worker")

    def to_frame(self) -> pd.DataFrame:
        return self.parameters

    def power_table(self) -> pd.DataFrame:
        """Power by parameter (rows) and N (columns)."""
        t = self.parameters.assign(parameter=self.parameters["lhs"] + " " + self.parameters["op"]
                                   + " " + self.parameters["rhs"])
        return t.pivot_table(index="parameter", columns="n", values="power", sort=False)

    def summary(self, ops: tuple[str, ...] = ("~", ":=")) -> str:
        t = self.parameters[self.parameters["op"].isin(ops)]
        t = t.assign(parameter=t["lhs"] + " " + t["op"] + " " + t["rhs"])
        lines = [f"Monte Carlo power analysis: {self.options.get('reps')} replications per N, "
                 f"alpha = {self.options.get('alpha')}, seed = {self.options.get('seed')}, "
                 f"{'Likert' if self.options.get('ordinal') else 'continuous'} data", ""]
        wide = t.pivot_table(index="parameter", columns="n", values="power", sort=False)
        lines += ["Power (share of replications with p < alpha)", wide.to_string(float_format="%.3f"), ""]
        cov = t.pivot_table(index="parameter", columns="n", values="coverage", sort=False)
        lines += ["95% CI coverage", cov.to_string(float_format="%.3f"), ""]
        bias = t.pivot_table(index="parameter", columns="n", values="bias", sort=False)
        lines += ["Bias", bias.to_string(float_format="%.4f"), ""]
        cols = ["reps", "converged", "admissible", "chisq_reject", "chisq_q50", "cfi_q05",
                "cfi_q50", "rmsea_q50", "rmsea_q95"]
        lines += ["Convergence and fit", self.fit[cols].to_string(float_format="%.3f")]
        if self.throughput:
            lines += ["", self.throughput_line()]
        return "\n".join(lines)

    def plot(self, ops: tuple[str, ...] = ("~", ":=")):
        """Power curves (power against N): one panel per kind of parameter.

        Regression paths (``~``) and defined parameters (``:=``, labelled by
        name) by default; the dashed line marks 0.80.
        """
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        t = self.parameters[self.parameters["op"].isin(ops)]
        kinds = [op for op in ops if (t["op"] == op).any()] or [ops[0]]
        titles = {"~": "regression paths", ":=": "defined parameters", "=~": "loadings",
                  "~~": "(co)variances"}
        fig, axes = plt.subplots(1, len(kinds), figsize=(6.2 * len(kinds), 4.8), squeeze=False)
        styles = ["-", "--", ":", "-."]
        markers = ["o", "s", "^", "D", "v"]
        for ax, op in zip(axes[0], kinds):
            g_all = t[t["op"] == op]
            groups = list(g_all.groupby(["lhs", "op", "rhs"], sort=False))
            cmap = plt.get_cmap("tab10")
            for k, ((lhs, _op, rhs), g) in enumerate(groups):
                label = lhs if op == ":=" else f"{lhs} {op} {rhs}"
                ax.plot(g["n"], g["power"], color=cmap(k % 10), ls=styles[(k // 10) % 4],
                        marker=markers[(k // 10) % 5], ms=4, lw=1.2, label=label)
            ax.axhline(0.8, color="grey", ls="--", lw=0.8)
            ax.set_xlabel("sample size N")
            ax.set_ylabel(f"power (alpha = {self.options.get('alpha')})")
            ax.set_ylim(0, 1.02)
            ax.set_title(f"Monte Carlo power: {titles.get(op, op)}")
            ax.legend(fontsize=7, ncol=1 if len(groups) <= 14 else 2, frameon=False,
                      loc="upper left", bbox_to_anchor=(1.01, 1.0))
        fig.tight_layout()
        return fig

    def to_dict(self) -> dict:
        return {"options": self.options,
                "parameters": self.parameters.to_dict(orient="records"),
                "fit": self.fit.to_dict(orient="records"),
                "throughput": dict(self.throughput)}


def _read_text(model: str) -> str:
    """Model syntax, or the text of the ``.lav`` file it names."""
    if "\n" in model or "=~" in model or "~" in model:
        return model
    p = Path(model)
    if not p.exists():
        raise FileNotFoundError(f"model file not found: {model}")
    return p.read_text(encoding="utf-8")


def power_analysis(population: str, model: str, ns, reps: int, *, seed: int = 1,
                   alpha: float = 0.05, level: float = 0.95,
                   thresholds: dict[str, Any] | list[float] | None = None,
                   likelihood: str = "normal", exclude_inadmissible: bool = False,
                   workers: int | None = None, scheduler: Any = None,
                   chunk_size: int | None = None, progress: bool = True) -> PowerResult:
    """Monte Carlo power, bias, RMSE and coverage of an analysis model.

    Parameters
    ----------
    population : str
        Population model with values (lavaan syntax, or a path to a ``.lav``).
    model : str
        Analysis model (syntax or path); its observed variables must be
        observed in the population model.
    ns : sequence of int
        Sample sizes.
    reps : int
        Replications per sample size.
    seed : int
    alpha : float
        Significance level of the Wald tests and the chi-square test.
    level : float
        Confidence level of the Wald intervals whose coverage is reported.
    thresholds : list of float or dict, optional
        Cut points on the standardized response (``[-2.05, -1.41, -0.7,
        0.3]`` gives five categories), for all items, or a dict item ->
        cut points.  None: continuous data.
    likelihood : {"normal", "wishart"}
    exclude_inadmissible : bool
        Also drop converged but inadmissible replications from the statistics.
    workers, scheduler, chunk_size
        See :func:`pipeline.core.parallel.map_draws`; never change the results.
    progress : bool
        tqdm progress bar.

    Returns
    -------
    PowerResult

    Raises
    ------
    ValueError
        Bad *ns*, *reps*, *alpha*, *level* or *thresholds*.

    In R: ``simsem::sim(reps, model = analysis, generate = population,
    n = rep(ns, each = reps))`` then ``summaryParam`` / ``getPower``.
    """
    try:
        ns = [int(n) for n in ([ns] if np.isscalar(ns) else ns)]
    except (TypeError, ValueError):
        raise ValueError(f"ns must be integers, got {ns!r}") from None
    if not ns or min(ns) < 2 or len(set(ns)) != len(ns):
        raise ValueError(f"ns must be distinct sample sizes >= 2, got {ns}")
    if int(reps) != reps or reps < 1:
        raise ValueError(f"reps must be a positive integer, got {reps!r}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    reps = int(reps)
    pop_text, model_text = _read_text(population), _read_text(model)
    cuts = None
    if thresholds is not None:
        from pipeline.sem import implied_moments
        obs = implied_moments(pop_text)[0]
        if isinstance(thresholds, dict):
            cuts = {k: np.asarray(v, dtype=float) for k, v in thresholds.items()}
        else:
            cuts = {v: np.asarray(thresholds, dtype=float) for v in obs}
        for k, c in cuts.items():
            if c.ndim != 1 or len(c) < 1 or np.any(np.diff(c) <= 0) or not np.all(np.isfinite(c)):
                raise ValueError(f"thresholds for {k} must be finite and increasing, got {c.tolist()}")
    task = PowerTask(pop_text, model_text, ns, reps, seed, cuts=cuts, likelihood=likelihood)
    from pipeline.core.parallel import blas_single_thread
    with blas_single_thread():     # the same arithmetic as in the workers
        state = task.setup()       # validates the models here, with a clear error
    fm: FastML = state["fm"]
    k = fm.q + fm.n_defined
    zcrit = float(ndtri(0.5 + level / 2))
    accs = [_Accumulator(k, reps, state["true"], alpha, zcrit, exclude_inadmissible) for _ in ns]

    def consume(start, res):
        est, se, status, fit = res
        for u in range(len(status)):
            j = (start + u) // reps
            accs[j].add(est[u], se[u], int(status[u]), fit[u])

    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=reps * len(ns), desc="power", unit="rep", leave=False)
    try:
        run = map_draws(task, reps * len(ns), consume=consume, workers=workers,
                        chunk_size=chunk_size, scheduler=scheduler,
                        progress=bar.update if bar else None)
    finally:
        if bar is not None:
            bar.close()
    total = reps * len(ns)
    wall = max(float(run["wall_s"]), 1e-9)
    throughput = {"replications": total, "wall_s": wall, "backend": run["backend"],
                  "workers": int(run["workers"]), "reps_per_s": total / wall,
                  "reps_per_s_per_worker": total / wall / max(int(run["workers"]), 1)}
    params = _parameter_frame(fm, ns, accs, state["true"])
    fit = _fit_frame(fm, ns, accs, alpha)
    options = {"population": population if len(population) < 300 else "<text>",
               "model": model if len(model) < 300 else "<text>", "n": ns, "reps": reps,
               "seed": int(seed), "alpha": alpha, "level": level, "likelihood": likelihood,
               "ordinal": cuts is not None,
               "thresholds": None if cuts is None else {k: v.tolist() for k, v in cuts.items()},
               "exclude_inadmissible": exclude_inadmissible, "df": fm.df,
               "population_fmin": state["pop_fmin"]}
    return PowerResult(params, fit, options, throughput)


def _parameter_frame(fm: FastML, ns, accs, true) -> pd.DataFrame:
    rows = fm.model.rows
    meta = [(rows[r]["lhs"], rows[r]["op"], rows[r]["rhs"], rows[r]["label"])
            for r in fm.model.par_rows]
    meta += [(name, ":=", expr, name) for name, expr in zip(fm.model.defined.names,
                                                            fm.model.defined.exprs)]
    out = []
    for n, a in zip(ns, accs):
        used = a.n_used
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = a.s_est / used
            var = (a.s_est2 - used * mean * mean) / (used - 1)
            for t, (lhs, op, rhs, lab) in enumerate(meta):
                out.append({
                    "n": n, "lhs": lhs, "op": op, "rhs": rhs, "label": lab,
                    "true": true[t], "mean_est": mean[t], "bias": mean[t] - true[t],
                    "rel_bias": (mean[t] - true[t]) / true[t] if true[t] != 0 else math.nan,
                    "sd_est": math.sqrt(max(var[t], 0.0)) if used[t] > 1 else math.nan,
                    "mean_se": a.s_se[t] / used[t] if used[t] else math.nan,
                    "rmse": math.sqrt(a.s_err2[t] / used[t]) if used[t] else math.nan,
                    "power": a.n_sig[t] / used[t] if used[t] else math.nan,
                    "coverage": a.n_cover[t] / used[t] if used[t] else math.nan,
                    "n_used": int(used[t]),
                })
    return pd.DataFrame(out)


def _fit_frame(fm: FastML, ns, accs, alpha) -> pd.DataFrame:
    from scipy.stats import chi2
    out = []
    for n, a in zip(ns, accs):
        row = {"n": n, "reps": a.reps_done, "converged": a.n_conv / a.reps_done,
               "admissible": a.n_adm / a.reps_done}
        f = a.fit[np.isfinite(a.fit[:, 0])]
        crit = chi2.ppf(1 - alpha, fm.df) if fm.df > 0 else math.inf
        row["chisq_reject"] = float(np.mean(f[:, 0] > crit)) if len(f) else math.nan
        for c, name in enumerate(FIT_STATS):
            row[f"{name}_mean"] = float(np.mean(f[:, c])) if len(f) else math.nan
            qs = np.quantile(f[:, c], QUANTILES) if len(f) else [math.nan] * len(QUANTILES)
            for q, v in zip(QUANTILES, qs):
                row[f"{name}_q{int(round(q * 100)):02d}"] = float(v)
        out.append(row)
    return pd.DataFrame(out)


# ------------------------------------------------------------- Likert responses
def thresholds_from_shares(shares) -> np.ndarray:
    """Cut points on a standard-normal response giving category *shares*.

    ``a_k = Phi^-1(s_1 + ... + s_k)`` for k = 1..K-1.

    In R: ``qnorm(cumsum(shares))[-length(shares)]``.
    """
    s = np.asarray(shares, dtype=float)
    if s.ndim != 1 or len(s) < 2 or (s < 0).any() or not math.isclose(s.sum(), 1.0, abs_tol=1e-6):
        raise ValueError(f"shares must be >= 0 and sum to 1, got {list(np.ravel(shares))}")
    return ndtri(np.cumsum(s)[:-1])


def discretized_moments(sigma, cuts) -> tuple[np.ndarray, np.ndarray]:
    """Population mean and covariance of normal responses cut into categories.

    *cuts* are thresholds on the standardized response ``Z_i / sd_i``.  With
    ``X_i = 1 + sum_k 1(Z_i > a_ik)`` and ``Z ~ N(0, sigma)``::

        E X_i = 1 + sum_k P(Z_i > a_ik)
        Cov(X_i, X_j) = sum_k sum_l [P(Z_i > a_ik, Z_j > a_jl) - P(Z_i > a_ik) P(Z_j > a_jl)]

    the bivariate probabilities from the bivariate normal CDF.

    Returns
    -------
    mean : ndarray (p,)
    cov : ndarray (p, p)

    In R: no direct equivalent in lavaan; ``polycor`` inverts the relation
    (polychoric correlations from discrete data).
    """
    from scipy.stats import multivariate_normal, norm
    sigma = np.asarray(sigma, dtype=float)
    p = sigma.shape[0]
    if len(cuts) != p:
        raise ValueError(f"cuts must have one entry per variable ({p}), got {len(cuts)}")
    sd = np.sqrt(np.diag(sigma))
    cuts = [np.asarray(c, dtype=float) for c in cuts]      # on the standardized scale
    tail = [norm.sf(c) for c in cuts]
    mean = np.array([1 + t.sum() for t in tail])
    cov = np.zeros((p, p))
    for i in range(p):
        a = cuts[i]
        cov[i, i] = sum(norm.sf(max(x, y)) - norm.sf(x) * norm.sf(y) for x in a for y in a)
        for j in range(i + 1, p):
            b = cuts[j]
            r = sigma[i, j] / (sd[i] * sd[j])
            pts = np.array([[-x, -y] for x in a for y in b])
            joint = multivariate_normal(mean=[0.0, 0.0], cov=[[1.0, r], [r, 1.0]]).cdf(pts)
            cov[i, j] = cov[j, i] = float((joint - np.outer(tail[i], tail[j]).ravel()).sum())
    return mean, cov


