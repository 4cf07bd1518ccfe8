"""Hypotheses as data: Wald and bootstrap-interval tests of model parameters.

A study lists its hypotheses (YAML or a mapping); each test names

* ``id`` and ``statement``;
* what is tested, exactly one of

  - ``effect``: a parameter, given as ``"lhs op rhs"`` (``"y ~ x1"``), a
    parameter label, or the name of a ``:=`` defined effect (``tot_L``);
  - ``compare: [a, b]``: the difference of two effects, ``a - b``;
  - ``all_of: [e1, e2, ...]``: every listed effect (bootstrap only);

* ``test``: ``wald`` (z = est / SE, SE from the information matrix, the
  delta method for ``:=`` effects) or ``bootstrap`` (the percentile or
  bias-corrected interval at the bootstrap's level);
* ``direction``: ``positive``, ``negative`` or ``nonzero``;
* ``alpha`` (default: the spec's ``alpha``, 0.05).

Decision rules
--------------
Wald: supported when the two-sided p-value (after the optional multiple-
testing ``correction`` over all Wald tests of the spec,
:func:`statsmodels.stats.multitest.multipletests`) is below alpha and the
estimate has the stated sign (any sign for ``nonzero``):
``z = est / se``, ``p = 2 (1 - Phi(|z|))``.

Bootstrap: supported when the interval lies entirely above 0 (positive),
below 0 (negative) or excludes 0 (nonzero); for ``all_of``, when every
interval does.

An inadmissible fit never supports a hypothesis: the decision is
"Not decided (inadmissible fit)".

References
----------
Rosseel, Y. (2012). lavaan: An R package for structural equation modeling.
Journal of Statistical Software, 48(2).  Efron, B., & Tibshirani, R. (1993).
An Introduction to the Bootstrap, ch. 13.

In R: ``parameterEstimates(fit, boot.ci.type = "perc")`` for the rows and
intervals; ``p.adjust(p, "holm")`` for the correction.
"""
from __future__ import annotations

import math
import re
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from pipeline.core.distributions import norm_sf

__all__ = ["wald_test", "interval_supports", "adjust_pvalues", "find_parameter",
           "decide_hypotheses", "hypotheses_table", "DECISIONS"]

DIRECTIONS = ("positive", "negative", "nonzero")
#: Every decision a test can produce.
DECISIONS = ("Supported", "Not supported", "Not decided (inadmissible fit)",
             "Not decided (no bootstrap)")
_SPEC_RE = re.compile(r"^\s*(\S+)\s*(=~|~~|~1|~)\s*(\S*)\s*$")


# ------------------------------------------------------------ numbers only
def wald_test(est: float, se: float) -> tuple[float, float]:
    """Wald z and two-sided p of an estimate.

    ``z = est / se``, ``p = 2 (1 - Phi(|z|))``; NaN when ``se`` is not positive.

    In R: the ``z`` and ``pvalue`` columns of ``parameterEstimates(fit)``.
    """
    if not (se > 0) or not np.isfinite(est):
        return math.nan, math.nan
    z = float(est) / float(se)
    return z, float(2 * norm_sf(abs(z)))


def _direction(direction: str) -> str:
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {list(DIRECTIONS)}, not {direction!r}")
    return direction


def wald_supports(est: float, p: float, *, direction: str, alpha: float) -> bool:
    """p < alpha and the estimate's sign matches *direction*."""
    _direction(direction)
    if not np.isfinite(p) or not p < alpha:
        return False
    return {"positive": est > 0, "negative": est < 0, "nonzero": True}[direction]


def interval_supports(lower: float, upper: float, *, direction: str) -> bool:
    """The interval lies above 0 (positive), below 0 (negative) or excludes 0 (nonzero)."""
    _direction(direction)
    if not (np.isfinite(lower) and np.isfinite(upper)):
        return False
    return {"positive": lower > 0, "negative": upper < 0,
            "nonzero": lower > 0 or upper < 0}[direction]


def adjust_pvalues(p: Sequence[float], method: str | None) -> np.ndarray:
    """Multiple-testing adjusted p-values (NaN kept); ``None`` returns them unchanged.

    *method* is a :func:`statsmodels.stats.multitest.multipletests` name
    (``holm``, ``bonferroni``, ``fdr_bh`` ...).

    In R: ``p.adjust(p, method)`` (``fdr_bh`` is ``"BH"``).
    """
    arr = np.asarray(p, float).copy()
    if method is None or not len(arr):
        return arr
    from statsmodels.stats.multitest import multipletests
    ok = np.isfinite(arr)
    if ok.any():
        arr[ok] = multipletests(arr[ok], method=method)[1]
    return arr


# --------------------------------------------------------- parameter lookup
def find_parameter(parameters: pd.DataFrame, name: str) -> int:
    """Row position of *name* in a lavaan-style parameter table.

    *name* is ``"lhs op rhs"`` (``"y ~ x1"``), a ``:=`` effect's name, or a
    parameter label.
    """
    pt = parameters.reset_index(drop=True)
    m = _SPEC_RE.match(name) if any(op in name for op in ("~", "=~")) else None
    if m:
        lhs, op, rhs = m.groups()
        sel = pt.index[(pt.lhs == lhs) & (pt.op == op) & (pt.rhs == rhs)]
    else:
        sel = pt.index[(pt.op == ":=") & (pt.lhs == name)]
        if not len(sel) and "label" in pt.columns:
            sel = pt.index[pt["label"].astype(str) == name]
    if not len(sel):
        raise ValueError(f"hypotheses: the model has no parameter or defined effect {name!r}")
    return int(sel[0])


# ------------------------------------------------------------------ decide
def _alpha(test: Mapping[str, Any], spec: Mapping[str, Any]) -> float:
    a = test.get("alpha")
    return float(spec.get("alpha", 0.05) if a is None else a)


def decide_hypotheses(spec: Mapping[str, Any], parameters: pd.DataFrame, *,
                      boot_table: pd.DataFrame | None = None,
                      draws: Mapping[str, np.ndarray] | None = None,
                      vcov: Any = None, level: float = 0.95,
                      admissible: bool = True) -> pd.DataFrame:
    """Decide every test of *spec* from a parameter table (and bootstrap results).

    Parameters
    ----------
    spec : mapping
        ``{"alpha": .05, "correction": None|"holm"|..., "tests": [...]}``
        (see the module docstring).
    parameters : DataFrame
        lavaan columns ``lhs op rhs [label] est se z pvalue``.
    boot_table : DataFrame, optional
        Bootstrap intervals, rows aligned with *parameters*
        (``ci.lower``/``ci.upper`` percentile, ``ci.lower.bc``/``ci.upper.bc``).
    draws : mapping, optional
        ``{effect name: bootstrap draws}`` for ``compare`` tests with
        ``test: bootstrap``.
    vcov : callable, optional
        ``vcov(i, j)`` -> covariance of the estimates of rows *i* and *j*,
        for Wald ``compare`` tests.
    level : float
        The bootstrap interval's level (shown in the test description).
    admissible : bool
        False: no test is decided.

    Returns
    -------
    DataFrame
        Index ``hypothesis``; columns statement, factor, test, estimate, se,
        z, pvalue, [pvalue.adj], ci.lower, ci.upper, decision.
    """
    tests = list(spec.get("tests") or [])
    pt = parameters.reset_index(drop=True)
    bt = None if boot_table is None else boot_table.reset_index(drop=True)
    rows: list[dict[str, Any]] = []
    for t in tests:
        kind = t.get("test", "wald")
        direction = _direction(t.get("direction", "positive"))
        alpha = _alpha(t, spec)
        ci_cols = ("ci.lower.bc", "ci.upper.bc") if t.get("interval") == "bc" else \
            ("ci.lower", "ci.upper")
        row = {"hypothesis": str(t["id"]), "statement": t.get("statement", ""),
               "factor": t.get("factor") or "", "estimate": math.nan, "se": math.nan,
               "z": math.nan, "pvalue": math.nan, "ci.lower": math.nan, "ci.upper": math.nan,
               "_ok": None, "_kind": kind, "_dir": direction, "_alpha": alpha}
        if t.get("effect") is not None:
            i = find_parameter(pt, str(t["effect"]))
            r = pt.iloc[i]
            row["estimate"], row["se"] = float(r.est), float(r.se)
            what = f"{t['effect']}"
            if kind == "wald":
                # the table's own z and p (lavaan's), else computed from est / se
                z, p = (float(r.get("z", math.nan)), float(r.get("pvalue", math.nan)))
                row["z"], row["pvalue"] = (z, p) if np.isfinite(p) else wald_test(r.est, r.se)
                row["ci.lower"], row["ci.upper"] = r.get("ci.lower", math.nan), r.get("ci.upper", math.nan)
            elif bt is not None:
                row["ci.lower"], row["ci.upper"] = float(bt.iloc[i][ci_cols[0]]), float(bt.iloc[i][ci_cols[1]])
                row["_ok"] = interval_supports(row["ci.lower"], row["ci.upper"], direction=direction)
        elif t.get("compare") is not None:
            a, b = (str(x) for x in t["compare"])
            ia, ib = find_parameter(pt, a), find_parameter(pt, b)
            row["estimate"] = float(pt.iloc[ia].est - pt.iloc[ib].est)
            what = f"{a} − {b}"
            if kind == "wald":
                if vcov is None:
                    raise ValueError(f"hypotheses: test {t['id']!r} compares {a} and {b} with a "
                                     "Wald test, which needs their covariance: define the "
                                     "difference with := in the model, or use test: bootstrap")
                var = vcov(ia, ia) + vcov(ib, ib) - 2 * vcov(ia, ib)
                row["se"] = math.sqrt(var) if var > 0 else math.nan
                row["z"], row["pvalue"] = wald_test(row["estimate"], row["se"])
            elif draws is not None:
                d = np.asarray(draws[a], float) - np.asarray(draws[b], float)
                from pipeline.sem.bootstrap import bc_ci, percentile_ci
                lo, hi = (bc_ci(d, row["estimate"], level) if t.get("interval") == "bc"
                          else percentile_ci(d, level))
                row["se"] = float(np.std(d[np.isfinite(d)], ddof=1)) if len(d) > 1 else math.nan
                row["ci.lower"], row["ci.upper"] = lo, hi
                row["_ok"] = interval_supports(lo, hi, direction=direction)
        else:
            names = [str(x) for x in t["all_of"]]
            idx = [find_parameter(pt, n) for n in names]
            ests = [float(pt.iloc[i].est) for i in idx]
            pick = np.argmax if direction == "negative" else np.argmin
            row["estimate"] = ests[int(pick(ests))]
            what = "each of " + ", ".join(names)
            if bt is not None:
                los = [float(bt.iloc[i][ci_cols[0]]) for i in idx]
                his = [float(bt.iloc[i][ci_cols[1]]) for i in idx]
                row["ci.lower"], row["ci.upper"] = min(los), max(his)
                row["_ok"] = all(interval_supports(lo, hi, direction=direction)
                                 for lo, hi in zip(los, his))
                what += ": " + "; ".join(f"{n} {e:.3f} [{lo:.3f}, {hi:.3f}]"
                                         for n, e, lo, hi in zip(names, ests, los, his))
        side = {"positive": "> 0", "negative": "< 0", "nonzero": "≠ 0"}[direction]
        if kind == "wald":
            row["test"] = f"{what} {side}: Wald z, two-sided p < {alpha}"
        else:
            ci = "bias-corrected" if t.get("interval") == "bc" else "percentile"
            row["test"] = f"{what} {side}: bootstrap {ci} {int(round(level * 100))}% interval"
        rows.append(row)
    out = pd.DataFrame(rows)
    if out.empty:
        return pd.DataFrame(columns=["statement", "factor", "test", "estimate", "se", "z", "pvalue",
                                     "ci.lower", "ci.upper", "decision"]).rename_axis("hypothesis")
    wald = out["_kind"] == "wald"
    method = spec.get("correction")
    p_used = out["pvalue"].to_numpy(float).copy()
    if method and wald.any():
        adj = adjust_pvalues(out.loc[wald, "pvalue"].to_numpy(float), method)
        out["pvalue.adj"] = math.nan
        out.loc[wald, "pvalue.adj"] = adj
        p_used[wald.to_numpy()] = adj
    decisions = []
    for k in range(len(out)):
        if not admissible:
            decisions.append("Not decided (inadmissible fit)")
        elif out.at[k, "_kind"] == "wald":
            ok = wald_supports(out.at[k, "estimate"], p_used[k], direction=out.at[k, "_dir"],
                               alpha=out.at[k, "_alpha"])
            decisions.append("Supported" if ok else "Not supported")
        elif out.at[k, "_ok"] is None:
            decisions.append("Not decided (no bootstrap)")
        else:
            decisions.append("Supported" if out.at[k, "_ok"] else "Not supported")
    out["decision"] = decisions
    out = out.drop(columns=["_ok", "_kind", "_dir", "_alpha"]).set_index("hypothesis")
    return out


def _draw_column(result: Any, row: int) -> int:
    """Column of the bootstrap draws holding parameter-table row *row*."""
    model = result.model
    nrow = len(model.rows)
    return model.rows[row]["par"] if row < nrow else model.npar + (row - nrow)


def hypotheses_table(spec: Mapping[str, Any], result: Any, boot: Any = None) -> pd.DataFrame:
    """Decide *spec* on a fitted model (:class:`pipeline.sem.SEMResult`) and its bootstrap.

    The thin wrapper of :func:`decide_hypotheses`: takes the parameter
    table, the covariance of the estimates (Wald comparisons: the delta
    method, ``var(a - b) = (g_a - g_b)' V (g_a - g_b)`` with g the gradient
    of each effect in the free parameters) and the bootstrap draws
    (bootstrap comparisons).

    In R: ``parameterEstimates(fit, boot.ci.type = "perc")``.
    """
    params = getattr(result, "parameters_ml", None)
    params = result.parameters if params is None else params
    pt = params.reset_index(drop=True)
    draws = None
    if boot is not None and any(t.get("compare") for t in spec.get("tests") or []):
        draws = {}
        for t in spec.get("tests") or []:
            for name in t.get("compare") or []:
                j = _draw_column(result, find_parameter(pt, str(name)))
                draws[str(name)] = boot.draws[:, j] if j >= 0 else np.zeros(len(boot.draws))

    grads: dict[int, np.ndarray] = {}
    J = None

    def gradient(i: int) -> np.ndarray:
        """d(row i)/d(theta): a unit vector (free), a row of the := Jacobian, or 0 (fixed)."""
        nonlocal J
        if i not in grads:
            c = _draw_column(result, i)
            g = np.zeros(result.model.npar)
            if 0 <= c < result.model.npar:
                g[c] = 1.0
            elif c >= result.model.npar:
                if J is None:
                    from pipeline.sem.results import defined_jacobian
                    exo = result.estimator.exo_values(result.stats)
                    J = defined_jacobian(result.model, None, result.theta, exo)[1]
                g = J[c - result.model.npar]
            grads[i] = g
        return grads[i]

    def vcov(i: int, j: int) -> float:
        # delta method: cov(f_i, f_j) = g_i' V g_j (lavaan's SEs of := rows)
        return float(gradient(i) @ result.vcov @ gradient(j))

    return decide_hypotheses(spec, pt, boot_table=None if boot is None else boot.table,
                             draws=draws, vcov=vcov,
                             level=1.0 * (boot.level if boot is not None else 0.95),
                             admissible=bool(getattr(result, "admissible", True)))
