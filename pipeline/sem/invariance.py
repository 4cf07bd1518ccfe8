"""Measurement invariance across groups: configural, metric, scalar, strict.

:func:`measurement_invariance` fits a sequence of increasingly constrained
multi-group models (:func:`pipeline.sem.multigroup.fit_multigroup`):

============  ==============================================  ===================
step          group_equal                                     also called
============  ==============================================  ===================
configural    (none)                                          form invariance
metric        loadings                                        weak invariance
scalar        loadings, intercepts                            strong invariance
strict        loadings, intercepts, residuals                 residual invariance
============  ==============================================  ===================

(with equal intercepts the latent means are freed in every group but the
first, as lavaan does).  Each step is compared with the step before it:

* the chi-square difference test (:func:`pipeline.sem.lrt.lrt`): for ML the
  plain difference, for MLM/MLR the scaled difference of Satorra & Bentler
  (2001), lavaan's ``lavTestLRT`` default;
* ``delta_cfi``, ``delta_rmsea`` and ``delta_srmr`` (constrained minus less
  constrained; for MLM/MLR the robust CFI and RMSEA of Brosseau-Liard &
  Savalei (2014) and Brosseau-Liard, Savalei & Li (2012));

and judged by named decision rules (:data:`RULES`):

* ``chisq``: the difference test is not significant (p >= alpha);
* ``cheung_rensvold_2002``: ``delta_cfi >= -0.01`` (Cheung & Rensvold 2002);
* ``chen_2007`` (the default ``decision_rule``): ``delta_cfi >= -0.010`` and
  ``delta_rmsea <= 0.015`` and ``delta_srmr <= 0.030`` for metric, ``<= 0.010``
  for scalar and strict invariance (Chen 2007, for samples above 300 with
  equal group sizes).

Where a step fails under the decision rule, score tests
(:func:`pipeline.sem.score_test.score_test`, lavaan's ``lavTestScore``) of
the constraints that step added point to the parameters to free
(``suggestions``); with ``partial=True`` the largest is freed (lavaan's
``group.partial``) and the step refitted until it holds, no constraint is
significant (p < alpha) any more, or ``max_free`` parameters are freed.  The
steps after it keep the freed parameters (partial invariance; Byrne,
Shavelson & Muthén 1989).

Ordinal indicators (``ordered=``, WLSMV with the delta parameterization)
follow Wu & Estabrook (2016) (:data:`ORDINAL_STEPS`): configural, equal
thresholds (scale factors and item intercepts free in groups 2..G, latent
means 0: statistically equivalent to the configural model for items with
three or more categories), thresholds and loadings, then equal item
intercepts (latent means free in groups 2..G).  Differences are tested by
the scaled-and-shifted difference of Satorra (2000) (lavTestLRT's default for
WLSMV); the scaled CFI and RMSEA are compared.  In the scalar step the score
tests release the (zero) item intercepts of groups 2..G one at a time
(lavaan's ``modindices`` of ``~1``).

Use from a study's workflow (no settings are read here)::

    from pipeline.sem.invariance import measurement_invariance
    inv = measurement_invariance(model_text, data, group="school", estimator="MLR")
    inv.steps        # one row per step: name, chisq, df, cfi, rmsea, srmr, chisq_diff,
                     # df_diff, p_diff, delta_cfi, delta_rmsea, delta_srmr, decision,
                     # rules (every rule's verdict), group_partial, fit (all measures)
    inv.suggestions  # step, parameter ("x3~1"), X2, df, p_value, constraint, rows
    inv.to_dict()    # the JSON of ``python -m pipeline invariance``
    inv.fits["scalar"].parameters   # the fitted models (MultiGroupResult)

References
----------
Brosseau-Liard, P. E., & Savalei, V. (2014). Adjusting incremental fit
indices for nonnormality. Multivariate Behavioral Research, 49, 460-470.
Byrne, B. M., Shavelson, R. J., & Muthén, B. (1989). Psychological Bulletin, 105, 456-466.
Chen, F. F. (2007). Sensitivity of goodness of fit indexes to lack of
measurement invariance. Structural Equation Modeling, 14, 464-504.
Cheung, G. W., & Rensvold, R. B. (2002). Evaluating goodness-of-fit indexes
for testing measurement invariance. Structural Equation Modeling, 9, 233-255.
Satorra, A., & Bentler, P. M. (2001). Psychometrika, 66, 507-514.
Wu, H., & Estabrook, R. (2016). Identification of confirmatory factor
analysis models of different levels of invariance for ordered categorical
outcomes. Psychometrika, 81, 1014-1045.

In R: ``semTools::measEq.syntax`` / a sequence of
``cfa(..., group =, group.equal =)`` fits compared with ``lavTestLRT`` and
``lavTestScore``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from pipeline.sem.lrt import lrt
from pipeline.sem.multigroup import MultiGroupResult, fit_multigroup
from pipeline.sem.score_test import score_test

__all__ = ["measurement_invariance", "InvarianceResult", "STEPS", "ORDINAL_STEPS",
           "ORDINAL_STEPS_LAVAAN", "RULES", "DECISION_RULES"]

#: The steps, each with the group.equal keywords of its model.
STEPS: dict[str, tuple[str, ...]] = {
    "configural": (),
    "metric": ("loadings",),
    "scalar": ("loadings", "intercepts"),
    "strict": ("loadings", "intercepts", "residuals"),
}
#: Steps for ordinal indicators (Wu & Estabrook 2016; identification as
#: semTools' ``measEq.syntax(ID.cat = "Wu.Estabrook.2016")``).
ORDINAL_STEPS: dict[str, tuple[str, ...]] = {
    "configural": (),
    "thresholds": ("thresholds",),
    "metric": ("thresholds", "loadings"),
    "scalar": ("thresholds", "loadings", "intercepts"),
}

#: Steps for ordinal indicators as lavaan users often run them with
#: ``group.equal`` (``ordinal_id="lavaan"``): loadings, then thresholds.
ORDINAL_STEPS_LAVAAN: dict[str, tuple[str, ...]] = {
    "configural": (),
    "metric": ("loadings",),
    "scalar": ("loadings", "thresholds"),
}

#: Decision rules: name -> description (the verdicts are computed in :func:`_verdicts`).
RULES: dict[str, str] = {
    "chisq": "chi-square difference test not significant (p_diff >= alpha)",
    "cheung_rensvold_2002": "delta_cfi >= -0.010 (Cheung & Rensvold 2002)",
    "chen_2007": ("delta_cfi >= -0.010 and delta_rmsea <= 0.015 and delta_srmr <= 0.030 "
                  "(metric) / 0.010 (scalar, strict) (Chen 2007)"),
}
DECISION_RULES = tuple(RULES)


def _verdicts(step: str, row: dict, alpha: float) -> dict[str, str]:
    """``holds`` / ``fails`` / ``undetermined`` under each rule."""
    def v(ok):
        if ok is None:
            return "undetermined"
        return "holds" if ok else "fails"
    p = row.get("p_diff")
    dc, dr, ds = row.get("delta_cfi"), row.get("delta_rmsea"), row.get("delta_srmr")
    fin = lambda *xs: all(x is not None and np.isfinite(x) for x in xs)  # noqa: E731
    srmr_max = 0.030 if step in ("metric", "thresholds") else 0.010
    return {
        "chisq": v(p >= alpha if fin(p) else None),
        "cheung_rensvold_2002": v(dc >= -0.010 - 1e-12 if fin(dc) else None),
        "chen_2007": v((dc >= -0.010 - 1e-12 and dr <= 0.015 + 1e-12 and ds <= srmr_max + 1e-12)
                       if fin(dc, dr, ds) else None),
    }


@dataclass
class InvarianceResult:
    """The invariance sequence: ``steps`` and ``suggestions`` frames, the fits.

    ``to_dict()`` is the JSON of ``python -m pipeline invariance``:
    ``steps`` (records ``name chisq df cfi rmsea srmr chisq_diff df_diff
    p_diff delta_cfi delta_rmsea delta_srmr decision rules ...``; ``chisq``,
    ``cfi``, ``rmsea`` are the versions named in ``indices`` -- scaled /
    robust for MLM, MLR, WLSMV -- and ``fit`` holds every lavaan fit measure
    of the step by lavaan's name) and ``suggestions`` (records ``step
    parameter X2 df p_value constraint rows``).
    """

    group: str
    groups: list
    nobs: list[int]
    estimator: str
    decision_rule: str
    alpha: float
    indices: dict[str, str]
    difference_test: str
    steps: pd.DataFrame
    suggestions: pd.DataFrame
    fits: dict[str, MultiGroupResult] = field(repr=False, default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        from pipeline.core.io import json_ready as clean
        return {
            "group": self.group, "groups": [str(g) for g in self.groups],
            "nobs": [int(n) for n in self.nobs], "estimator": self.estimator,
            "difference_test": self.difference_test, "indices": dict(self.indices),
            "decision_rule": self.decision_rule, "rules": dict(RULES), "alpha": self.alpha,
            "steps": [{k: clean(v) for k, v in r.items()}
                      for r in self.steps.to_dict(orient="records")],
            "suggestions": [{k: clean(v) for k, v in r.items()}
                            for r in self.suggestions.to_dict(orient="records")],
            "warnings": list(self.warnings),
        }

    def summary(self, digits: int = 3) -> str:
        cols = ["name", "chisq", "df", "cfi", "rmsea", "srmr", "chisq_diff", "df_diff", "p_diff",
                "delta_cfi", "delta_rmsea", "decision"]
        lines = [f"Measurement invariance across {self.group} ("
                 + ", ".join(f"{g} n={n}" for g, n in zip(self.groups, self.nobs))
                 + f"), estimator {self.estimator}, difference test {self.difference_test}, "
                 f"decision rule {self.decision_rule}: {RULES[self.decision_rule]}",
                 "indices: " + ", ".join(f"{k} = {v}" for k, v in self.indices.items())]
        with pd.option_context("display.width", 200, "display.max_columns", 20):
            lines.append(self.steps[cols].to_string(
                index=False, float_format=lambda x: f"{x:.{digits}f}", na_rep=""))
        if len(self.suggestions):
            lines += ["", "Score tests (lavTestScore) of the constraints of failing steps:"]
            with pd.option_context("display.width", 200):
                lines.append(self.suggestions.to_string(
                    index=False, float_format=lambda x: f"{x:.{digits}f}"))
        if self.warnings:
            lines += ["", "Warnings"] + [f"  - {w}" for w in self.warnings]
        return "\n".join(lines)


def _indices(estimator: str, missing: str = "listwise") -> dict[str, str]:
    if estimator in ("WLSMV",):
        return {"chisq": "chisq.scaled", "cfi": "cfi.scaled", "rmsea": "rmsea.scaled",
                "srmr": "srmr"}
    if estimator in ("MLM", "MLR"):
        return {"chisq": "chisq.scaled", "cfi": "cfi.robust", "rmsea": "rmsea.robust",
                "srmr": "srmr"}
    return {"chisq": "chisq", "cfi": "cfi", "rmsea": "rmsea", "srmr": "srmr"}


def measurement_invariance(model, data: pd.DataFrame, group: str, *, estimator: str = "ML",
                           ordered=None, missing: str = "listwise",
                           steps=None,
                           decision_rule: str = "chen_2007", alpha: float = 0.05,
                           partial: bool = True, max_free: int = 5,
                           ordinal_id: str = "wu.estabrook.2016", std_lv: bool = False,
                           source: str | None = None) -> InvarianceResult:
    """Test configural, metric, scalar and strict invariance of a model across groups.

    Parameters
    ----------
    model : str or Path
        lavaan syntax (a measurement model) or a ``.lav`` file.
    data : DataFrame
        Raw data with the indicators and the group column.
    group : str
        The grouping column (groups in order of first appearance).
    estimator : {"ML", "MLM", "MLR", "WLSMV", "DWLS"}
        With MLM/MLR the scaled chi-square difference (Satorra-Bentler 2001)
        and the robust CFI/RMSEA are used; with ordered items WLSMV (the
        default then), the scaled-shifted difference (Satorra 2000) and the
        scaled CFI/RMSEA.
    ordered : list of str or "all", optional
        Ordinal indicators: the Wu & Estabrook (2016) sequence
        (:data:`ORDINAL_STEPS`).
    missing : {"listwise", "fiml"}
    steps : sequence of str, optional
        Which steps of :data:`STEPS` (ordinal: :data:`ORDINAL_STEPS`), in
        order (the first is the reference); default all of them.
    decision_rule : {"chen_2007", "cheung_rensvold_2002", "chisq"}
        The rule that decides each step (every rule is reported).
    alpha : float
        Level of the difference and score tests.
    partial : bool
        Free the constraints the score tests point to, one at a time, until
        a failing step holds (partial invariance).
    max_free : int
        At most this many parameters freed per step.
    ordinal_id : {"wu.estabrook.2016", "lavaan"}
        Ordinal items: the Wu & Estabrook (2016) steps (:data:`ORDINAL_STEPS`)
        or lavaan's ``group.equal`` sequence configural, loadings, loadings +
        thresholds (:data:`ORDINAL_STEPS_LAVAAN`; scale factors and latent
        means free in groups 2..G once thresholds are equal, as lavaan).
    std_lv : bool
        lavaan's ``std.lv=TRUE``: factors identified by unit variances (free in
        groups 2..G once loadings are equal); the fit is the same as with
        marker variables, the parameters (and score-test labels) differ.
    source : str, optional
        Data file name for messages.

    Returns
    -------
    InvarianceResult

    Examples
    --------
    >>> res = measurement_invariance(hs_model, hs, "school", estimator="MLR")  # doctest: +SKIP
    >>> res.steps[["name", "chisq_diff", "p_diff", "delta_cfi", "decision"]]  # doctest: +SKIP

    In R: ``cfa(model, data, group = group, group.equal = ...)`` per step,
    ``lavTestLRT(fit_prev, fit)``, ``lavTestScore(fit)``.
    """
    if decision_rule not in RULES:
        raise ValueError(f"decision_rule must be one of {DECISION_RULES}, got {decision_rule!r}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    estimator = str(estimator).upper()
    if ordered:
        if ordinal_id not in ("wu.estabrook.2016", "lavaan"):
            raise ValueError(f"ordinal_id must be 'wu.estabrook.2016' or 'lavaan', "
                             f"got {ordinal_id!r}")
        table = ORDINAL_STEPS if ordinal_id == "wu.estabrook.2016" else ORDINAL_STEPS_LAVAAN
        if estimator == "ML":
            estimator = "WLSMV"
        if estimator not in ("WLSMV", "DWLS"):
            raise ValueError(f"ordered items need estimator='WLSMV' or 'DWLS', got {estimator!r}")
        extra = {"ordered": ordered, "ordinal_id": ordinal_id, "stats_cache": {}}
    else:
        table = STEPS
        if estimator in ("WLSMV", "DWLS"):
            raise ValueError(f"estimator={estimator!r} needs ordered= items")
        extra = {"stats_cache": {}}
    if std_lv:
        extra["std_lv"] = True
    steps = list(table) if steps is None else list(steps)
    unknown = [s for s in steps if s not in table]
    if unknown or not steps:
        raise ValueError(f"steps must be names of {list(table)}, got {steps!r}")
    from pipeline.sem.multigroup import one_thread_blas
    with one_thread_blas():
        return _sequence(model, data, group, estimator=estimator, ordered=ordered,
                         missing=missing, steps=steps, table=table, extra=extra,
                         decision_rule=decision_rule, alpha=alpha, partial=partial,
                         max_free=max_free, source=source)


def _sequence(model, data, group, *, estimator, ordered, missing, steps, table, extra,
              decision_rule, alpha, partial, max_free, source) -> InvarianceResult:
    """The steps of :func:`measurement_invariance` (arguments checked there)."""
    idx = _indices(estimator, "fiml" if missing in ("fiml", "ml") else missing)
    fits: dict[str, MultiGroupResult] = {}
    rows, sugg, warns = [], [], []
    freed: list[str] = []
    prev_name, prev_fit = None, None
    for name in steps:
        equal = table[name]
        warm = {} if ordered or prev_fit is None else {"warm_start": prev_fit}
        fit = fit_multigroup(model, data, group, group_equal=equal, group_partial=freed,
                             estimator=estimator, missing=missing, source=source,
                             emit_warnings=False,
                             baseline=fits[steps[0]] if fits and not ordered else True,
                             **extra, **warm)
        warns += [w for w in fit.warnings if w not in warns]
        row = _row(name, fit, prev_fit, idx, alpha, freed, prev_name, decision_rule)
        fits[name] = fit
        rows.append(row)
        if prev_fit is not None and row["decision"] == "fails":
            new_types = set(equal) - set(table.get(prev_name.split(".")[0], ()))
            cands = _suggest(fit, new_types, name, alpha, exclude=set(freed))
            sugg += cands
            if partial and cands:
                step_freed: list[str] = []
                cur, cur_row = fit, row
                while cur_row["decision"] == "fails" and len(step_freed) < max_free:
                    cands_now = _suggest(cur, new_types, name, alpha,
                                         exclude=set(freed) | set(step_freed))
                    if not cands_now:
                        break
                    step_freed.append(cands_now[0]["parameter"])
                    cur = fit_multigroup(model, data, group, group_equal=equal,
                                         group_partial=freed + step_freed,
                                         estimator=estimator, missing=missing, source=source,
                                         emit_warnings=False,
                                         baseline=True if ordered else fits[steps[0]], **extra,
                                         **({} if ordered else {"warm_start": cur}))
                    cur_row = _row(f"{name}.partial", cur, prev_fit, idx, alpha,
                                   freed + step_freed, prev_name, decision_rule)
                fits[f"{name}.partial"] = cur
                rows.append(cur_row)
                freed = freed + step_freed
                fit = cur
                name = f"{name}.partial"
        prev_name, prev_fit = name, fit
    first = fits[steps[0]]
    steps_df = pd.DataFrame(rows)
    sugg_df = pd.DataFrame(sugg, columns=["step", "parameter", "X2", "df", "p_value",
                                          "constraint", "rows"])
    test = "standard"
    if len(rows) > 1:
        test = rows[1]["difference_test"]
    return InvarianceResult(group=group, groups=list(first.groups), nobs=list(first.nobs),
                            estimator=estimator, decision_rule=decision_rule, alpha=alpha,
                            indices=idx, difference_test=test, steps=steps_df,
                            suggestions=sugg_df, fits=fits, warnings=warns)


def _row(name, fit, prev_fit, idx, alpha, freed, prev_name, rule) -> dict:
    fm = fit.fit_measures()
    row = {"name": name, "group_equal": list(fit.options["group.equal"]),
           "group_partial": list(freed), "compared_with": prev_name,
           "chisq": float(fm[idx["chisq"]]), "df": int(fit.df),
           "pvalue": float(fm["pvalue.scaled" if idx["chisq"] == "chisq.scaled" else "pvalue"]),
           "chisq_ml": float(fit.chisq), "npar": int(fit.npar),
           "cfi": float(fm[idx["cfi"]]), "tli": float(fm[idx["cfi"].replace("cfi", "tli")]),
           "rmsea": float(fm[idx["rmsea"]]), "srmr": float(fm[idx["srmr"]]),
           "aic": float(fm.get("aic", math.nan)), "bic": float(fm.get("bic", math.nan)),
           "chisq_diff": math.nan, "df_diff": math.nan, "p_diff": math.nan,
           "delta_cfi": math.nan, "delta_rmsea": math.nan, "delta_srmr": math.nan,
           "difference_test": None, "converged": bool(fit.converged),
           "fit": {str(k): float(v) for k, v in fm.items()}}
    if prev_fit is None:
        row["decision"] = "reference"
        row["rules"] = {k: "reference" for k in RULES}
        return row
    t = lrt(prev_fit, fit)
    pm = prev_fit.fit_measures()
    row.update({"chisq_diff": t["chisq_diff"], "df_diff": int(t["df_diff"]),
                "p_diff": t["pvalue"], "difference_test": t["method"],
                "delta_cfi": row["cfi"] - float(pm[idx["cfi"]]),
                "delta_rmsea": row["rmsea"] - float(pm[idx["rmsea"]]),
                "delta_srmr": row["srmr"] - float(pm[idx["srmr"]])})
    base = name.split(".")[0]
    rules = _verdicts(base, row, alpha)
    row["rules"] = rules
    row["decision"] = rules[rule]
    return row


def _suggest(fit, types, step, alpha, exclude=()) -> list[dict]:
    """Univariate score tests of the step's new constraints, largest first,
    one entry per parameter (its largest X2 over group pairs), p < alpha.
    Ordinal (Wu-Estabrook) scalar step: the fixed item intercepts of groups
    2..G are released one at a time."""
    release = []
    if getattr(fit, "wls", None) is not None and "intercepts" in types:
        ordered = set(fit.options.get("ordered") or [])
        release = [(g, k) for g in range(1, fit.ngroups)
                   for k, r in enumerate(fit.models[g].rows)
                   if r["op"] == "~1" and r["lhs"] in ordered and r["par"] < 0]
    try:
        st = score_test(fit, release=release)
    except ValueError:
        return []
    uni = st["uni"]
    from pipeline.sem.multigroup import _row_type
    out: dict[str, dict] = {}
    for rec in uni.to_dict(orient="records"):
        g, k = _locate(fit, rec["lhs"])
        r = fit.models[g].rows[k]
        if _row_type(r, set(fit.models[g].latent)) not in types:
            continue
        par = rec["parameter"]
        if par in exclude:
            continue
        if par not in out or rec["X2"] > out[par]["X2"]:
            rhs_txt = (f"{rec['rhs_row']} ({rec['rhs_group']})" if rec["rhs_group"]
                       else rec["rhs_row"])
            out[par] = {"step": step, "parameter": par, "X2": rec["X2"], "df": 1,
                        "p_value": rec["p.value"],
                        "constraint": f"{rec['lhs']} == {rec['rhs']}",
                        "rows": f"{rec['lhs_row']} ({rec['lhs_group']}) = {rhs_txt}"}
    res = sorted((v for v in out.values() if v["p_value"] < alpha), key=lambda v: -v["X2"])
    return res


def _locate(fit, plabel: str) -> tuple[int, int]:
    n = int(plabel.strip(".p")) - 1
    for g, m in enumerate(fit.models):
        if n < len(m.rows):
            return g, n
        n -= len(m.rows)
    raise ValueError(plabel)  # pragma: no cover
