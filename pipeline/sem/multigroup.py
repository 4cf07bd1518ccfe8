"""Multi-group structural equation models, as lavaan fits them.

One lavaan syntax is fitted in G groups of a data set (``group=COL``).
Each group gets the single-group parameter table of
:func:`pipeline.sem.syntax.lavaanify` (a mean structure is always added, as
lavaan does for multiple groups), with the group's element of every
``c(...)`` modifier.  The groups' :class:`~pipeline.sem.model.SEMModel` share
**one** free-parameter vector: rows with the same label, rows made equal by
``group_equal`` (and not freed by ``group_partial``) and label equalities
``a == b`` map to the same parameter.

Estimation minimises lavaan's multi-group discrepancy

    F(theta) = sum_g (n_g / N) F_g(theta)

(``F_g`` the ML discrepancy of group g, or ``-2 logL_g / n_g`` under FIML),
with the analytic gradient and Hessian the sums of the per-group ones
(Newton with the exact Hessian, Fisher scoring as fallback).  General
constraints (``a == 2*b``, ``a > 0``) are handled by SLSQP, and their
standard errors by the augmented (bordered) information matrix.

* ``chisq = sum_g n_g F_g``; the baseline is the independence model of each
  group (free means and variances), its chi-square summed over groups;
* ``rmsea = sqrt(max(0, chisq/(N df) - 1/N)) * sqrt(G)`` (lavaan's multiple
  group correction; Steiger 1998), the interval and the close-fit test with
  the same correction (Dudgeon 2004, eq. 16);
* ``srmr`` (and rmr, crmr, GFI) the ``n_g / N`` weighted mean of the groups';
* robust estimators (``MLM``: robust.sem SEs and the Satorra-Bentler test;
  ``MLR``: Huber-White SEs and the Yuan-Bentler (Mplus) test, also under
  FIML) use the group-general functions of :mod:`pipeline.sem.robust`; the
  robust CFI/TLI/RMSEA are Brosseau-Liard & Savalei's, under FIML the
  corrected ones of Zhang & Savalei (lavaan's ``lav_fit_fiml_corrected``);
* ordinal indicators (``ordered=``; WLSMV or DWLS): thresholds and
  polychoric correlations per group (:func:`pipeline.sem.ordinal.wls_stats`),
  the delta parameterization with scale factors ``~*~``, lavaan's or Wu &
  Estabrook's (2016) identification of models with equal thresholds, the
  scaled-and-shifted test, and lavaan's cat-ML robust CFI/TLI/RMSEA;
* ``group=None`` fits one group, with general constraints (``a == 2*b``,
  ``a > 0``) by SLSQP.

Not available: ordinal models with continuous indicators (refused), score
tests of general constraints, the FIML-corrected robust indices with fixed.x
covariates (NaN).

References
----------
Jöreskog, K. G. (1971). Simultaneous factor analysis in several populations.
Psychometrika, 36, 409-426.
Steiger, J. H. (1998). A note on multiple sample extensions of the RMSEA fit
index. Structural Equation Modeling, 5, 411-419.

In R: ``lavaan::cfa(model, data, group = "COL", group.equal = c(...),
group.partial = c(...), estimator = "ML" | "MLM" | "MLR" | "WLSMV",
ordered = ...)``.
"""
from __future__ import annotations

import contextlib
import math
import re
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import linalg

from pipeline.core.distributions import chi2_sf

from pipeline.core.exceptions import (ConvergenceWarning, DataValidationError,
                                      HeywoodCaseWarning, IdentificationWarning,
                                      ModelSpecificationError)
from pipeline.sem import fit_indices as fi
from pipeline.sem import robust
from pipeline.sem.estimate import (Estimator, fiml_logl, newton_minimize,
                                   sample_stats, single_thread_blas)
from pipeline.sem.model import SEMModel, set_sample_moments
from pipeline.sem.results import add_wald_columns
from pipeline.sem.syntax import ParsedModel, check_variables, lavaanify, parse_model

__all__ = ["GROUP_EQUAL", "MultiGroupModel", "MultiGroupResult", "build_multigroup",
           "fit_multigroup", "parse_group_partial", "ESTIMATORS"]

#: lavaan's ``group.equal`` keywords understood here.
GROUP_EQUAL = ("loadings", "intercepts", "means", "thresholds", "residuals",
               "residual.covariances", "lv.variances", "lv.covariances", "regressions")
ESTIMATORS = ("ML", "MLM", "MLR")
PARAM_COLUMNS = ["lhs", "op", "rhs", "group", "label", "est", "se", "z", "pvalue",
                 "ci.lower", "ci.upper", "std.lv", "std.all"]
_PARTIAL_RE = re.compile(r"^(.+?)(=~|~~|~1|~|\|)(.*)$")


# --------------------------------------------------------------------- table
_BLAS_DEPTH = threading.local()


@contextlib.contextmanager
def one_thread_blas():
    """:func:`pipeline.sem.estimate.single_thread_blas`, entered once however deeply
    nested within a thread (an invariance sequence, its fits, their baseline fits
    and tests): threadpoolctl scans the loaded libraries at every entry (about 2 ms).

    In R: nothing to do (R's reference BLAS is single-threaded).
    """
    depth = getattr(_BLAS_DEPTH, "n", 0)
    if depth:
        _BLAS_DEPTH.n = depth + 1
        try:
            yield
        finally:
            _BLAS_DEPTH.n -= 1
        return
    with single_thread_blas():
        _BLAS_DEPTH.n = 1
        try:
            yield
        finally:
            _BLAS_DEPTH.n = 0


def parse_group_partial(items) -> set[tuple[str, str, str]]:
    """``group.partial`` strings (``"visual=~x2"``, ``"x3~1"``, ``"x1~~x1"``,
    ``"u1|t2"``) as ``(lhs, op, rhs)`` keys; ``~1`` rows have ``rhs == ""``.

    In R: ``lavaan(..., group.partial = c("visual=~x2", "x3~1"))``.
    """
    if items is None:
        return set()
    if isinstance(items, str):
        items = [s for s in re.split(r"[,;\n]", items) if s.strip()]
    out = set()
    for raw in items:
        s = re.sub(r"\s+", "", str(raw))
        m = _PARTIAL_RE.match(s)
        if not m or not m.group(1):
            raise ValueError(f"group_partial: cannot read {raw!r} (write e.g. 'visual=~x2', "
                             "'x3~1', 'x1~~x1')")
        lhs, op, rhs = m.group(1), m.group(2), m.group(3)
        if op == "~" and rhs == "1":
            op, rhs = "~1", ""
        out.add((lhs, op, rhs))
        if op == "~~":
            out.add((rhs, op, lhs))
    return out


def _apply_std_lv(parsed, pts, free_later: bool) -> None:
    """lavaan's ``std.lv=TRUE`` on the groups' tables (see :func:`build_multigroup`)."""
    user_fixed = set()
    user_var = set()
    for f in parsed.formulas:
        for t in f.terms:
            fixed = t.fixed is not None or (t.group_fixed is not None
                                             and any(v is not None for v in t.group_fixed))
            if f.op == "=~" and fixed:
                user_fixed.add((f.lhs, t.name))
            if f.op == "~~" and f.lhs == t.name and (fixed or t.label or t.group_labels):
                user_var.add(f.lhs)
    for g, pt in enumerate(pts):
        lv = set(pt.latent)
        for r in pt.rows:
            if r["op"] == "=~" and not r["free"] and (r["lhs"], r["rhs"]) not in user_fixed \
                    and r["ustart"] == 1.0:
                r["free"], r["ustart"] = True, math.nan
            elif (r["op"] == "~~" and r["lhs"] == r["rhs"] and r["lhs"] in lv
                  and r["lhs"] not in user_var):
                if g > 0 and free_later:
                    r["free"], r["ustart"] = True, math.nan
                else:
                    r["free"], r["ustart"] = False, 1.0


def _add_ordinal_rows(pt, nthresholds: dict[str, int], ngroups: int, free_scale: bool) -> None:
    """lavaan's rows of ordinal indicators (delta parameterization), in lavaan's order."""
    unknown = [v for v in nthresholds if v not in pt.observed]
    if unknown:
        raise ModelSpecificationError(f"ordered= names variable(s) not in the model: "
                                      f"{', '.join(unknown)}")
    rows = pt.rows
    have = {(r["lhs"], r["op"], r["rhs"]) for r in rows}
    nuser = 0
    while nuser < len(rows) and rows[nuser]["user"] == 1:
        nuser += 1
    base = {"user": 0, "free": True, "ustart": math.nan, "label": "", "exo": False,
            "start": math.nan}
    th = []
    for v in pt.observed:
        if v not in nthresholds:
            continue
        for k in range(1, nthresholds[v] + 1):
            if (v, "|", f"t{k}") not in have:
                th.append({**base, "lhs": v, "op": "|", "rhs": f"t{k}"})
    user_th = [r for r in rows if r["op"] == "|"]
    for r in user_th:
        k = int(r["rhs"][1:])
        if r["lhs"] not in nthresholds or k > nthresholds[r["lhs"]]:
            raise ModelSpecificationError(
                f"threshold {r['lhs']} | {r['rhs']}: the item has "
                f"{nthresholds.get(r['lhs'], 0)} threshold(s) in the data")
    rows[nuser:nuser] = th
    for r in rows:
        if r["lhs"] in nthresholds and r["op"] == "~~" and r["lhs"] == r["rhs"]:
            if r["user"] and not r["free"]:
                raise NotImplementedError(
                    f"a fixed residual variance of the ordinal item {r['lhs']} needs the theta "
                    "parameterization, which is not implemented")
            r["free"], r["ustart"], r["derived"] = False, 1.0, True
        elif r["lhs"] in nthresholds and r["op"] == "~1" and r["user"] == 0:
            r["free"], r["ustart"] = False, 0.0
    if ngroups > 1:
        first_int = next((i for i, r in enumerate(rows) if r["op"] == "~1"), len(rows))
        sc = [{**base, "lhs": v, "op": "~*~", "rhs": v, "free": free_scale,
               "ustart": math.nan if free_scale else 1.0}
              for v in pt.observed if v in nthresholds and (v, "~*~", v) not in have]
        rows[first_int:first_int] = sc


def _row_type(r: dict, lv: set[str]) -> str | None:
    """The ``group.equal`` keyword a parameter-table row belongs to."""
    op, lhs, rhs = r["op"], r["lhs"], r["rhs"]
    if op == "=~":
        return "loadings"
    if op == "~":
        return "regressions"
    if op == "|":
        return "thresholds"
    if op == "~1":
        return "means" if lhs in lv else "intercepts"
    if op == "~~":
        a, b = lhs in lv, rhs in lv
        if lhs == rhs:
            return "lv.variances" if a else "residuals"
        if a and b:
            return "lv.covariances"
        if not a and not b:
            return "residual.covariances"
    return None


@dataclass
class MultiGroupModel:
    """The groups' models sharing one free-parameter vector.

    Attributes
    ----------
    models : list of SEMModel
        One per group (rows in lavaan's order), ``rows[k]["par"]`` indexing
        the common ``theta``.
    npar : int
        Free parameters after all equality constraints (lavaan's ``npar``).
    plabels : list of list of str
        Per group and row: the label lavaan shows (user label, or ``.pN.``
        for rows made equal by ``group_equal``).
    classes : list of list of (group, row)
        Free rows sharing one parameter (only classes of two or more rows):
        the equality constraints, in lavaan's order.
    """

    models: list[SEMModel]
    npar: int
    plabels: list[list[str]]
    classes: list[list[tuple[int, int]]]
    group_equal: tuple[str, ...]
    group_partial: set
    parsed: ParsedModel
    meanstructure: bool = True

    @property
    def ngroups(self) -> int:
        return len(self.models)

    def free_rows(self) -> list[tuple[int, int]]:
        """Every free (group, row), in lavaan's order: lavaan's unconstrained parameters."""
        return [(g, k) for g, m in enumerate(self.models) for k in range(len(m.rows))
                if m.rows[k]["par"] >= 0]


def build_multigroup(model: str | ParsedModel, ngroups: int, *, group_equal=(),
                     group_partial=(), fixed_x: bool = True,
                     meanstructure: bool = True,
                     nthresholds: dict[str, int] | None = None,
                     ordinal_id: str = "lavaan", std_lv: bool = False) -> MultiGroupModel:
    """Parameter tables of *ngroups* groups and their shared parameter vector.

    Parameters
    ----------
    model : str or ParsedModel
        lavaan syntax; ``c(...)`` modifiers give group-specific labels/values.
    ngroups : int
        Number of groups.
    group_equal : sequence of str
        lavaan's ``group.equal`` keywords (:data:`GROUP_EQUAL`).  With
        ``intercepts`` (or ``thresholds``) but not ``means``, the latent
        means are freed in every group but the first, as lavaan does.
    group_partial : sequence of str
        Rows exempt from ``group_equal`` (``"x3~1"``, ``"visual=~x2"``).
    fixed_x : bool
        lavaan's ``fixed.x``.
    meanstructure : bool
        Intercepts and means (always, as lavaan, with two or more groups).
    nthresholds : dict, optional
        Ordinal indicators and their number of thresholds (categories - 1):
        lavaan's rows for the delta parameterization are added -- thresholds
        ``x | t1 ...`` after the written rows, the residual variances fixed
        (derived: ``1/Delta^2 - explained``), the scale factors ``x ~*~ x``
        (fixed to 1; with two or more groups and equal thresholds, free in
        groups 2..G, as lavaan), intercepts fixed to 0.
    ordinal_id : {"lavaan", "wu.estabrook.2016"}
        Identification of ordinal models with equal thresholds.  ``lavaan``
        (``group.equal`` as lavaan does it): scale factors and latent means
        free in groups 2..G, item intercepts fixed to 0.
        ``wu.estabrook.2016`` (Wu & Estabrook 2016; semTools'
        ``ID.cat = "Wu.Estabrook.2016"``): scale factors free in groups
        2..G; without equal ``intercepts`` the item intercepts are free in
        groups 2..G and the latent means stay 0; with equal intercepts the
        latent means are free in groups 2..G.
    std_lv : bool
        lavaan's ``std.lv=TRUE``: factors identified by unit variances (the
        first loadings free unless written fixed); with equal loadings the
        factor variances are free in groups 2..G, as lavaan.

    Returns
    -------
    MultiGroupModel

    In R: ``lavaanify(model, ngroups = G, group.equal = ..., group.partial = ...,
    meanstructure = TRUE)``.
    """
    parsed = parse_model(model) if isinstance(model, str) else model
    if isinstance(group_equal, str):
        group_equal = [s.strip() for s in group_equal.split(",") if s.strip()]
    group_equal = tuple(group_equal or ())
    bad = [g for g in group_equal if g not in GROUP_EQUAL]
    if bad:
        raise ValueError(f"group_equal: unknown keyword(s) {bad}; use {', '.join(GROUP_EQUAL)}")
    partial = parse_group_partial(group_partial)
    if ngroups > 1:
        meanstructure = True
    pts = [lavaanify(parsed, meanstructure=meanstructure, fixed_x=fixed_x, ngroups=ngroups,
                     group=g) for g in range(ngroups)]
    if std_lv:
        _apply_std_lv(parsed, pts, free_later="loadings" in group_equal)
    if nthresholds:
        for g, pt in enumerate(pts):
            _add_ordinal_rows(pt, nthresholds, ngroups,
                              free_scale=g > 0 and "thresholds" in group_equal)
    keys0 = [(r["lhs"], r["op"], r["rhs"]) for r in pts[0].rows]
    for pt in pts[1:]:
        if [(r["lhs"], r["op"], r["rhs"]) for r in pt.rows] != keys0:  # pragma: no cover
            raise ModelSpecificationError("the groups' parameter tables differ in structure")
    lv = set(pts[0].latent)
    known = {(r["lhs"], r["op"], r["rhs"]) for r in pts[0].rows}
    unknown = [p for p in partial if p not in known and (p[2], p[1], p[0]) not in known]
    if unknown:
        raise ValueError("group_partial names parameter(s) not in the model: "
                         + ", ".join(f"{a}{o}{b}" for a, o, b in sorted(unknown)))
    if ordinal_id not in ("lavaan", "wu.estabrook.2016"):
        raise ValueError(f"ordinal_id must be 'lavaan' or 'wu.estabrook.2016', got {ordinal_id!r}")
    we = bool(nthresholds) and ordinal_id == "wu.estabrook.2016"
    if we and "thresholds" in group_equal:
        for pt in pts[1:]:
            for r in pt.rows:
                if r["op"] == "~1" and r["lhs"] in nthresholds and r["user"] == 0 and (
                        "intercepts" not in group_equal or (r["lhs"], "~1", "") in partial):
                    # free item intercepts of groups 2..G (all of them before the
                    # scalar step; those in group_partial after it)
                    r["free"], r["ustart"] = True, math.nan
    # lavaan: equal intercepts/thresholds (but not means) free the latent means
    # of groups 2..G (Wu & Estabrook: equal intercepts only)
    free_means = ("intercepts" in group_equal
                  or ("thresholds" in group_equal and not we))
    if free_means and "means" not in group_equal:
        for pt in pts[1:]:
            for r in pt.rows:
                if r["op"] == "~1" and r["lhs"] in lv and r["user"] == 0:
                    r["free"], r["ustart"] = True, math.nan
    # a key per free row; equal keys share a parameter
    parent: dict = {}

    def find(x):
        while parent.get(x, x) != x:
            parent[x] = parent.get(parent[x], parent[x])
            x = parent[x]
        return x

    def union(a, b):
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[rb] = ra

    nrow = len(keys0)
    row_key: dict[tuple[int, int], tuple] = {}
    fixed_label_value: dict[str, float] = {}
    for g, pt in enumerate(pts):
        for k, r in enumerate(pt.rows):
            if r["label"] and not r["free"] and not math.isnan(r["ustart"]):
                fixed_label_value.setdefault(r["label"], r["ustart"])
    for g, pt in enumerate(pts):
        for a, b in pt.equalities:
            union(("L", a), ("L", b))
        for k, r in enumerate(pt.rows):
            if not r["free"]:
                continue
            typ = _row_type(r, lv)
            if r["label"]:
                key = ("L", r["label"])
            elif (typ in group_equal and (r["lhs"], r["op"], r["rhs"]) not in partial
                  and not r["exo"] and all(q.rows[k]["free"] and not q.rows[k]["label"]
                                           for q in pts)):
                key = ("E", k)
            else:
                key = ("F", g, k)
            row_key[(g, k)] = key
    fixed_roots = {find(("L", lab)): val for lab, val in fixed_label_value.items()}
    par_of_root: dict = {}
    pars = [np.full(nrow, -1, dtype=int) for _ in pts]
    members: dict[int, list[tuple[int, int]]] = {}
    npar = 0
    for g, pt in enumerate(pts):
        for k, r in enumerate(pt.rows):
            key = row_key.get((g, k))
            if key is None:
                continue
            root = find(key)
            if root in fixed_roots:   # a label shared with a fixed row fixes it
                r["free"], r["ustart"] = False, fixed_roots[root]
                continue
            if root not in par_of_root:
                par_of_root[root] = npar
                npar += 1
            j = par_of_root[root]
            pars[g][k] = j
            members.setdefault(j, []).append((g, k))
    all_labels = {r["label"] for pt in pts for r in pt.rows if r["label"]}
    models = [SEMModel(pt, par=pars[g], npar=npar, labels=all_labels, constraints_ok=True)
              for g, pt in enumerate(pts)]
    plabels = []
    for g, pt in enumerate(pts):
        labs = []
        for k, r in enumerate(pt.rows):
            key = row_key.get((g, k))
            if r["label"]:
                labs.append(r["label"])
            elif key is not None and key[0] == "E":
                labs.append(f".p{key[1] + 1}.")
            else:
                labs.append("")
        plabels.append(labs)
    classes = [members[j] for j in range(npar) if len(members.get(j, [])) > 1]
    return MultiGroupModel(models=models, npar=npar, plabels=plabels, classes=classes,
                           group_equal=group_equal, group_partial=partial, parsed=parsed,
                           meanstructure=meanstructure)


# ------------------------------------------------------------------- results
@dataclass
class MultiGroupResult:
    """A fitted multi-group model (the multi-group counterpart of ``SEMResult``).

    ``parameters`` is lavaan's ``parameterEstimates()`` with a ``group``
    column (1..G, 0 for ``:=`` rows); ``fit_measures()`` lavaan's
    ``fitMeasures()`` for the whole model; ``test_scaled`` the robust test
    (MLM/MLR).

    In R: a fitted multi-group ``lavaan`` object.
    """

    mg: MultiGroupModel
    estimators: list[Estimator]
    stats: list
    groups: list
    group_column: str
    nobs: list[int]
    theta: np.ndarray
    estimator: str
    likelihood: str
    missing: str
    npar: int
    df: int
    fmin: float
    chisq: float
    chisq_group: list[float]
    baseline_chisq: float
    baseline_df: int
    logl: float
    logl_unrestricted: float
    converged: bool
    admissible: bool
    warnings: list[str]
    parameters: pd.DataFrame
    vcov: np.ndarray
    information: str = "expected"
    iterations: int = 0
    optimizer: str = ""
    model_text: str = ""
    test_scaled: dict | None = None
    baseline_test_scaled: dict | None = None
    E_inv: np.ndarray | None = None
    options: dict = field(default_factory=dict)

    # ------------------------------------------------------------------
    @property
    def ngroups(self) -> int:
        return len(self.groups)

    @property
    def ntotal(self) -> int:
        return int(sum(self.nobs))

    @property
    def models(self) -> list[SEMModel]:
        return self.mg.models

    @property
    def pvalue(self) -> float:
        return float(chi2_sf(self.chisq, self.df)) if self.df > 0 else math.nan

    def implied(self, g: int):
        """Model-implied ``(Sigma, mu)`` of group *g* (0-based)."""
        est, st = self.estimators[g], self.stats[g]
        Sigma, mu, *_ = self.models[g].moments(est.values(self.theta, st))
        return (Sigma + Sigma.T) / 2, mu

    @property
    def r2(self) -> pd.Series:
        """R² of indicators and dependent variables per group (index: group label,
        variable): ``1 - std.all`` of the (residual) variance.

        In R: ``lavInspect(fit, "r2")``.
        """
        out = {}
        P = self.parameters
        for g, (label, m) in enumerate(zip(self.groups, self.models)):
            ys = list(dict.fromkeys([r["rhs"] for r in m.rows if r["op"] == "=~"]
                                    + [r["lhs"] for r in m.rows if r["op"] == "~"]))
            sub = P[(P["group"] == g + 1) & (P["op"] == "~~") & (P["lhs"] == P["rhs"])]
            for _, r in sub.iterrows():
                if r["lhs"] in ys:
                    v = 1.0 - r["std.all"]
                    out[(label, r["lhs"])] = v if v <= 1 else np.nan
        return pd.Series(out, name="r2", dtype=float)

    def fit_measures(self) -> pd.Series:
        """lavaan's ``fitMeasures()`` of the whole multi-group model."""
        if getattr(self, "wls", None) is not None:
            return _fit_measures_wls(self)
        return _fit_measures(self)

    def to_frame(self) -> pd.DataFrame:
        return self.parameters.copy()

    def to_dict(self) -> dict:
        from pipeline.core.io import json_ready as clean
        return {
            "group": self.group_column,
            "groups": [str(g) for g in self.groups],
            "nobs": [int(n) for n in self.nobs],
            "fit": {str(k): clean(v) for k, v in self.fit_measures().items()},
            "parameters": [{k: clean(v) for k, v in rec.items()}
                           for rec in self.parameters.to_dict(orient="records")],
            "warnings": list(self.warnings),
            "options": clean(dict(self.options)),
        }

    def summary(self, digits: int = 3) -> str:
        fm = self.fit_measures()
        lines = [f"{self.estimator} estimation, {self.ngroups} groups ({self.group_column}: "
                 + ", ".join(f"{g} n={n}" for g, n in zip(self.groups, self.nobs)) + "), "
                 + ("converged" if self.converged else "NOT CONVERGED")
                 + f" in {self.iterations} iterations"]
        if self.options.get("group.equal"):
            lines.append("group.equal: " + ", ".join(self.options["group.equal"]))
        lines.append(f"chi-square {self.chisq:.{digits}f}, df = {self.df}, "
                     f"p = {self.pvalue:.{digits}g}")
        if self.test_scaled:
            t = self.test_scaled
            lines.append(f"scaled chi-square ({t['test']}) {t['stat']:.{digits}f}, "
                         f"scaling factor {t['scaling_factor']:.{digits}f}")
        lines += ["", "Fit measures", fm.to_string(float_format=lambda x: f"{x:.{digits}f}"),
                  "", "Parameters"]
        with pd.option_context("display.width", 160, "display.max_rows", 2000,
                               "display.max_columns", 20):
            lines.append(self.parameters.to_string(
                index=False, float_format=lambda x: f"{x:.{digits}f}", na_rep=""))
        if self.warnings:
            lines += ["", "Warnings"] + [f"  - {w}" for w in self.warnings]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"<MultiGroupResult G={self.ngroups} N={self.ntotal} chisq={self.chisq:.3f} "
                f"df={self.df} npar={self.npar} {self.estimator}>")


# ------------------------------------------------------------------- fitting
def _warn(store: list[str], msg: str, cls, emit: bool) -> None:
    store.append(f"{cls.__name__}: {msg}")
    if emit:
        warnings.warn(msg, cls, stacklevel=3)


def split_groups(data: pd.DataFrame, group: str, *, source: str | None = None):
    """Rows of *data* per group, groups in order of first appearance (lavaan);
    rows with a missing group are left out (their count is returned).

    In R: ``lavInspect(fit, "group.label")``.
    """
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    if not isinstance(group, str) or group not in data.columns:
        raise ValueError(f"group={group!r} is not a column of the data"
                         + (f" ({source})" if source else ""))
    col = data[group]
    keep = col.notna().to_numpy()
    labels = list(pd.unique(col[keep]))
    # a numeric column read with missing values is float: show 3, not 3.0 (as lavaan)
    shown = [int(v) if isinstance(v, (float, np.floating)) and float(v).is_integer() else v
             for v in labels]
    if len(labels) < 2:
        raise DataValidationError(f"the group column {group!r} has {len(labels)} value(s); "
                                  "a multi-group model needs at least 2", file=source)
    return shown, [data.loc[keep & (col == lab).to_numpy()] for lab in labels], int((~keep).sum())


class _Objective:
    """``F = sum_g w_g F_g`` with gradient, Hessian and information."""

    def __init__(self, ests, sts, weights):
        self.ests, self.sts, self.w = ests, sts, weights

    def __call__(self, theta, gradient=True):
        if not gradient:
            return float(sum(w * e.objective(theta, s, gradient=False)
                             for e, s, w in zip(self.ests, self.sts, self.w)))
        f, g = 0.0, 0.0
        for e, s, w in zip(self.ests, self.sts, self.w):
            fg, gg = e.objective(theta, s)
            f += w * fg
            g = g + w * gg
        return float(f), np.asarray(g, dtype=float)

    def hessian(self, theta):
        return sum(w * e.hessian(theta, s) for e, s, w in zip(self.ests, self.sts, self.w))

    def expected_information(self, theta):
        return sum(w * e.expected_information(theta, s)
                   for e, s, w in zip(self.ests, self.sts, self.w))

    def observed_information(self, theta):
        return self.hessian(theta) / 2.0

    def fast_information(self, theta, exact: bool = False):
        """The expected information from the whitened design (:class:`_GroupDesign`);
        None where a group has FIML data, or (*exact*) fixed.x covariates, whose
        moments the h1 information leaves out (a metric for the optimizer only)."""
        if exact and any(len(e.x_idx) for e in self.ests):
            return None
        if self.designs is None:
            self.designs = [(_GroupDesign(e.model, e.meanstructure)
                             if e.missing != "fiml" else None) for e in self.ests]
        if any(d is None for d in self.designs):
            return None
        return sum(w * d.information(e.values(theta, s))
                   for d, e, s, w in zip(self.designs, self.ests, self.sts, self.w))

    designs = None


class _GroupDesign:
    """Whitened Jacobian of one group's moments, complete data.

    With ``K`` the inverse Cholesky factor of the implied ``Sigma`` (``K Sigma
    K' = I``), every free RAM cell moves ``K Sigma K'`` by a rank-two
    ``(K a)(K b)' + (K b)(K a)'`` (see :func:`pipeline.sem.robust.ml_scores_cells`)
    and the means by ``K dmu``; the rows ``[vech(K dSigma K') w ; K dmu]``
    with ``w = 1/sqrt(2)`` on the diagonal form a design ``X`` with
    ``X'X = 1/2 tr(W dSigma_k W dSigma_l) + dmu_k' W dmu_l``, the expected
    information per case (:meth:`pipeline.sem.estimate.Estimator.expected_information`
    without fixed.x covariates), at ``O(p^2 k)`` cost instead of ``O(p^3 k)``.
    """

    def __init__(self, m: SEMModel, meanstructure: bool):
        self.m, self.ms, self.p = m, bool(meanstructure), m.p
        rows = np.flatnonzero(m.free_mask)
        kind, I, J = m.kind[rows], m.ii[rows], m.jj[rows]
        self.a, self.s, self.mm = kind == 0, kind == 1, kind == 2
        self.aI, self.aJ = I[self.a], J[self.a]
        self.sI, self.sJ = I[self.s], J[self.s]
        self.off = (self.sI != self.sJ).astype(float)
        self.mI = I[self.mm]
        self.P = m.P[rows]
        self.ta, self.tb = np.tril_indices(self.p)
        self.w = np.where(self.ta == self.tb, math.sqrt(0.5), 1.0)

    def design(self, vals) -> np.ndarray:
        m, p = self.m, self.p
        Sigma, mu, B, C, Bm = m.moments(vals)
        L = np.linalg.cholesky((Sigma + Sigma.T) / 2)
        K = linalg.solve_triangular(L, np.eye(p), lower=True)
        U, V = K @ B[:p], K @ C[:p]
        ta, tb = self.ta, self.tb
        nv = len(ta)
        X = np.zeros((nv + (p if self.ms else 0), len(self.P)))
        Ua, Ub = U[ta], U[tb]
        if self.a.any():
            X[:nv, self.a] = (Ua[:, self.aI] * V[tb][:, self.aJ]
                              + V[ta][:, self.aJ] * Ub[:, self.aI])
            if self.ms:
                X[nv:, self.a] = U[:, self.aI] * Bm[self.aJ]
        if self.s.any():
            X[:nv, self.s] = (Ua[:, self.sI] * Ub[:, self.sJ]
                              + Ub[:, self.sI] * Ua[:, self.sJ] * self.off)
        X[:nv] *= self.w[:, None]
        if self.ms and self.mm.any():
            X[nv:, self.mm] = U[:, self.mI]
        return X

    def information(self, vals) -> np.ndarray:
        X = self.design(vals)
        info = self.P.T @ (X.T @ X) @ self.P
        return (info + info.T) / 2


def _warm_values(mg: MultiGroupModel, prev, theta0: np.ndarray) -> np.ndarray:
    """Start values from the estimates of another fit *prev* of the same groups:
    each free parameter the mean of *prev*'s values of its rows (lhs, op, rhs, group)."""
    est: dict[tuple, float] = {}
    for g, (m, e, s) in enumerate(zip(prev.models, prev.estimators, prev.stats)):
        vals = m.row_values(prev.theta, e.exo_values(s))
        for k, r in enumerate(m.rows):
            est[(r["lhs"], r["op"], r["rhs"], g)] = float(vals[k])
    tot = np.zeros(mg.npar)
    cnt = np.zeros(mg.npar)
    for g, m in enumerate(mg.models):
        for k, r in enumerate(m.rows):
            j = m.par[k]
            v = est.get((r["lhs"], r["op"], r["rhs"], g))
            if j >= 0 and v is not None and np.isfinite(v):
                tot[j] += v
                cnt[j] += 1
    out = theta0.copy()
    out[cnt > 0] = tot[cnt > 0] / cnt[cnt > 0]
    return out


def _moment_values(mg: MultiGroupModel, ests, sts, theta0: np.ndarray) -> np.ndarray:
    """Start values with the observed variables' free variances and intercepts
    at the sample moments (the estimates of the independence model)."""
    out = theta0.copy()
    for m, s in zip(mg.models, sts):
        set_sample_moments(m, out, s.cov, s.mean)
    return out


def _quasi_newton(obj: _Objective, theta, maxiter: int = 300, gtol: float = 1e-9):
    """BFGS on the stacked objective whose metric starts (and restarts) at twice
    the expected information (Fisher scoring's), with an Armijo line search,
    as :meth:`pipeline.sem.fast.FastML.fit`; converged when the largest gradient
    element is below *gtol*.  Returns ``(theta, f, ok, iterations)``; not ok
    (no design, a failed line search along the Fisher direction, the
    iteration limit) leaves the point to :func:`_newton`."""
    theta = np.array(theta, dtype=float)
    f, g = obj(theta)
    if not np.isfinite(f):
        return theta, f, False, 0

    def fisher_inv(t):
        info = obj.fast_information(t)
        if info is None:
            return None
        try:
            L = np.linalg.cholesky(2.0 * info)
            return linalg.cho_solve((L, True), np.eye(len(t)))
        except np.linalg.LinAlgError:
            return np.linalg.pinv(2.0 * info)

    try:
        Hinv = fisher_inv(theta)
    except np.linalg.LinAlgError:
        Hinv = None
    if Hinv is None:
        return theta, f, False, 0
    fresh = True
    for it in range(1, maxiter + 1):
        if np.max(np.abs(g)) < gtol:
            return theta, f, True, it - 1
        d = -(Hinv @ g)
        slope = float(g @ d)
        if slope >= 0:
            if fresh:
                return theta, f, False, it
            Hinv, fresh = fisher_inv(theta), True
            continue
        lam, fn, gn = 1.0, None, None
        for _ in range(40):
            fn, gn = obj(theta + lam * d)
            if np.isfinite(fn) and fn <= f + 1e-4 * lam * slope:
                break
            fn = None
            lam *= 0.5
        if fn is None:
            if fresh:
                return theta, f, False, it
            Hinv, fresh = fisher_inv(theta), True
            continue
        step = lam * d
        y = gn - g
        df_ = f - fn
        theta, f, g = theta + step, fn, gn
        if df_ < 1e-15 and np.max(np.abs(g)) < 1e-6:
            return theta, f, True, it
        sy = float(step @ y)
        if sy > 1e-12 * max(1.0, float(np.abs(step).max() * np.abs(y).max())):
            rho = 1.0 / sy
            Hy = Hinv @ y
            sHy = step[:, None] * Hy[None, :]
            Hinv = (Hinv - rho * (sHy + sHy.T)
                    + (rho * rho * float(y @ Hy) + rho) * (step[:, None] * step[None, :]))
        fresh = False
    return theta, f, False, maxiter


def _newton(obj: _Objective, theta, maxiter=300, gtol=1e-9):
    """:func:`pipeline.sem.estimate.newton_minimize` on the stacked multi-group objective."""
    f, g = obj(theta)
    theta, f, ok, it, method, _ = newton_minimize(obj, obj.hessian, obj.expected_information,
                                                  theta, f, g, maxiter=maxiter, gtol=gtol,
                                                  lbfgs_maxiter=5000)
    return theta, f, ok, it, method


def _label_env(mg: MultiGroupModel, ests, sts, theta) -> dict[str, float]:
    env: dict[str, float] = {}
    for m, e, s in zip(mg.models, ests, sts):
        vals = m.row_values(theta, e.exo_values(s))
        for k, r in enumerate(m.rows):
            if r["label"] and r["label"] not in env:
                env[r["label"]] = float(vals[k])
    return env


def _constrained(mg, obj, ests, sts, theta):
    """SLSQP under the general constraints (``==``, ``<``, ``>``)."""
    cons = mg.models[0].constraints
    eq = cons.is_equality

    def cvals(t):
        return cons.values(_label_env(mg, ests, sts, t))

    def jac(t, idx):
        h = 1e-7
        base = cvals(t)[idx]
        J = np.zeros((len(base), len(t)))
        for j in range(len(t)):
            tp = t.copy()
            tp[j] += h * max(1.0, abs(t[j]))
            J[:, j] = (cvals(tp)[idx] - base) / (h * max(1.0, abs(t[j])))
        return J
    clist = []
    if eq.any():
        clist.append({"type": "eq", "fun": lambda t: cvals(t)[eq], "jac": lambda t: jac(t, eq)})
    if (~eq).any():
        clist.append({"type": "ineq", "fun": lambda t: cvals(t)[~eq],
                      "jac": lambda t: jac(t, ~eq)})
    from scipy import optimize
    res = optimize.minimize(obj, theta, jac=True, method="SLSQP", constraints=clist,
                            options={"maxiter": 2000, "ftol": 1e-14})
    g = cvals(res.x)
    ok = bool(res.success) and np.all(np.abs(g[eq]) < 1e-6) and np.all(g[~eq] > -1e-6)
    # active constraints: equalities and inequalities at their bound
    active = eq | (np.abs(g) < 1e-6)
    H = jac(res.x, active) if active.any() else np.zeros((0, len(theta)))
    return res.x, float(res.fun), ok, int(res.nit), "SLSQP", H


def fit_multigroup(model: str | Path | ParsedModel, data: pd.DataFrame, group: str | None, *,
                   group_equal=(), group_partial=(), estimator: str = "ML",
                   meanstructure: bool | None = None, ordered=None,
                   ordinal_id: str = "lavaan", stats_cache: dict | None = None,
                   std_lv: bool = False,
                   likelihood: str = "normal", missing: str = "listwise",
                   fixed_x: bool = True, se: bool = True, baseline: bool = True,
                   emit_warnings: bool = True, source: str | None = None,
                   start: np.ndarray | None = None,
                   warm_start: MultiGroupResult | str | None = None) -> MultiGroupResult:
    """Fit a lavaan-syntax model in the groups of *data*.

    Parameters
    ----------
    model : str, Path or ParsedModel
        lavaan syntax or a ``.lav`` file; ``c(a, b)*x`` gives group-specific
        labels or values (one element per group, groups in order of first
        appearance in the data, as lavaan orders them).
    data : DataFrame
        Raw data with the model's observed variables and the group column.
    group : str or None
        The grouping column; rows with a missing group are dropped (noted).
        ``None``: one group (the whole data), e.g. to fit general
        constraints (``a == 2*b``, ``a > 0``) in a single-group model.
    group_equal : sequence of str or str
        lavaan's ``group.equal`` (:data:`GROUP_EQUAL`), e.g.
        ``["loadings", "intercepts"]`` or ``"loadings,intercepts"``.
    group_partial : sequence of str or str
        lavaan's ``group.partial``: rows exempt from ``group_equal``.
    ordered : list of str or "all", optional
        Ordinal indicators: WLSMV (default) or DWLS with thresholds,
        polychoric correlations and the delta parameterization.
    ordinal_id : {"lavaan", "wu.estabrook.2016"}
        Identification of ordinal models with equal thresholds (see
        :func:`build_multigroup`).
    std_lv : bool
        lavaan's ``std.lv=TRUE`` (factor variances 1; see :func:`build_multigroup`).
    warm_start : MultiGroupResult or "moments", optional
        Starting values (when *start* is None) from a fit of a nested or
        nesting model of the same data, e.g. the previous step of an
        invariance sequence: each free parameter starts at the mean of that
        fit's estimates of its rows (matched on lhs, op, rhs, group); or
        ``"moments"``: variances and intercepts of observed variables at the
        sample moments (the independence model's estimates).  The optimum
        does not depend on it, only the number of iterations.
    stats_cache : dict, optional
        Ordinal fits: a dict kept across fits of the same data (e.g. the
        steps of an invariance sequence) that stores the per-group
        thresholds, polychoric correlations and their Gamma.
    meanstructure : bool, optional
        Default: True with two or more groups (always, as lavaan), else True
        only if the syntax has intercepts or under FIML.
    estimator : {"ML", "MLM", "MLR"}
        ``MLM``: robust.sem SEs, Satorra-Bentler test (complete data);
        ``MLR``: Huber-White SEs (observed information), Yuan-Bentler (Mplus)
        test, also with ``missing="fiml"``.
    likelihood : {"normal", "wishart"}
    missing : {"listwise", "fiml"}
    fixed_x : bool
    se : bool
        Compute standard errors.
    baseline : bool or MultiGroupResult
        Fit the baseline model (needed for CFI/TLI); a previous fit on the
        same data, groups, estimator and missing-data treatment lends its
        baseline instead (e.g. the steps of an invariance sequence).
    emit_warnings : bool
    source : str, optional
        Data file name for messages.
    start : array, optional
        Starting values of the common parameter vector.

    Returns
    -------
    MultiGroupResult

    Raises
    ------
    ModelSpecificationError
        Unknown variables (checked on the formulas before any table is
        built), a ``c(...)`` of the wrong length, df < 0.
    ValueError
        Unknown ``group_equal`` keyword, estimator, or group column.

    In R: ``lavaan::cfa(model, data, group = group, group.equal = group_equal,
    group.partial = group_partial, estimator = estimator)``.
    """
    from pipeline.sem.results import _read_model_text, prepare_data, count_moments
    estimator = str(estimator).upper()
    if estimator not in ESTIMATORS + WLS_ESTIMATORS:
        raise ValueError(f"estimator must be one of {ESTIMATORS} for multi-group fits, "
                         f"got {estimator!r}")
    if missing in ("ml", "FIML"):
        missing = "fiml"
    if missing not in ("listwise", "fiml"):
        raise ValueError(f"missing must be 'listwise' or 'fiml', got {missing!r}")
    if likelihood not in ("normal", "wishart"):
        raise ValueError(f"likelihood must be 'normal' or 'wishart', got {likelihood!r}")
    if estimator in WLS_ESTIMATORS or ordered:
        estimator = "WLSMV" if estimator == "ML" else estimator
        if estimator not in WLS_ESTIMATORS:
            raise ValueError(f"ordered items need estimator WLSMV or DWLS, got {estimator!r}")
        if not ordered:
            raise ValueError(f"estimator={estimator!r} needs ordered= items")
        if missing != "listwise":
            raise ValueError(f"estimator={estimator!r} uses listwise deletion (missing='listwise')")
    if estimator == "MLM" and missing == "fiml":
        raise ValueError("estimator='MLM' needs complete data; use 'MLR' with missing='fiml'")
    if isinstance(model, ParsedModel):
        parsed, text = model, model.text
    else:
        text = _read_model_text(model)
        parsed = parse_model(text)
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    check_variables(parsed, data.columns, source=source)
    if group is None:
        labels, parts, n_dropped = [1], [data], 0
        if group_equal or group_partial:
            raise ValueError("group_equal / group_partial need a group column")
    else:
        labels, parts, n_dropped = split_groups(data, group, source=source)
    G = len(labels)
    if ordered:
        warn_list0: list[str] = []
        if n_dropped:
            warn_list0.append(f"{n_dropped} row(s) with a missing {group!r} were not used")
        res = _fit_ordinal(parsed, text, data, group, labels, parts, ordered=ordered,
                           group_equal=group_equal, group_partial=group_partial,
                           estimator=estimator, se=se, source=source, emit=emit_warnings,
                           warn_list=warn_list0, ordinal_id=ordinal_id,
                           stats_cache=stats_cache, std_lv=std_lv)
        return res
    if meanstructure is None or G > 1:
        meanstructure = (G > 1 or missing == "fiml"
                         or any(f.op == "~1" for f in parsed.formulas)) \
            if meanstructure is None else True
    if missing == "fiml":
        meanstructure = True
    mg = build_multigroup(parsed, G, group_equal=group_equal, group_partial=group_partial,
                          fixed_x=fixed_x, meanstructure=bool(meanstructure), std_lv=std_lv)
    ms = mg.meanstructure

    warn_list: list[str] = []
    if n_dropped:
        warn_list.append(f"{n_dropped} row(s) with a missing {group!r} were not used")
    Xs, sts, ests = [], [], []
    if stats_cache is None:
        stats_cache = {}          # shared with the baseline fit
    with one_thread_blas():
        for g, (m, part) in enumerate(zip(mg.models, parts)):
            key = ("ml", g, tuple(m.observed), missing, likelihood, id(data), len(part))
            hit = stats_cache.get(key) if stats_cache is not None else None
            if hit is None:
                X, _ = prepare_data(part, m, missing=missing,
                                    source=f"{source or 'data'}, {group} = {labels[g]}")
                # (data kept in the entry: its id cannot be reused while cached)
                hit = (X, sample_stats(X, likelihood=likelihood, missing=missing), data)
                if stats_cache is not None:
                    stats_cache[key] = hit
            Xs.append(hit[0])
            sts.append(hit[1])
            ests.append(Estimator(m, likelihood=likelihood, missing=missing, meanstructure=ms))
    nobs = [s.nobs for s in sts]
    N = sum(nobs)
    ndat = sum(count_moments(m, ms) for m in mg.models)
    ncon_eq = int(mg.models[0].constraints.is_equality.sum())
    df = ndat - mg.npar + ncon_eq
    if df < 0:
        raise ModelSpecificationError(
            f"the model has more free parameters ({mg.npar}) than sample moments ({ndat}) "
            f"over {G} groups: df = {df} < 0")
    w = [n / N for n in nobs]
    obj = _Objective(ests, sts, w)
    if start is None:
        theta0 = np.zeros(mg.npar)
        seen = np.zeros(mg.npar, dtype=bool)
        for e, s, m in zip(ests, sts, mg.models):
            t = e.start_values(s)
            used = np.zeros(mg.npar, dtype=bool)
            used[m.par[m.free_mask]] = True
            take = used & ~seen
            theta0[take] = t[take]
            seen |= used
        if isinstance(warm_start, MultiGroupResult):
            theta0 = _warm_values(mg, warm_start, theta0)
        elif warm_start == "moments":
            theta0 = _moment_values(mg, ests, sts, theta0)
    else:
        theta0 = np.asarray(start, dtype=float)
    H_con = None
    with one_thread_blas():
        if len(mg.models[0].constraints):
            theta, f, ok, it, method, H_con = _constrained(mg, obj, ests, sts, theta0)
        else:
            theta, f, ok, it = _quasi_newton(obj, theta0)
            method = "quasi-newton"
            if not ok:
                theta, f, ok, it2, method = _newton(obj, theta)
                it += it2
        if not ok:
            _warn(warn_list, f"the optimizer did not converge ({method}, {it} iterations); "
                  "the estimates must not be interpreted", ConvergenceWarning, emit_warnings)
        res = _finish(mg, ests, sts, Xs, theta, obj, estimator=estimator, likelihood=likelihood,
                      missing=missing, se=se, df=df, labels=labels, group=group,
                      warn_list=warn_list, emit=emit_warnings, H_con=H_con)
        res.converged, res.iterations, res.optimizer = ok, it, method
        res.npar = mg.npar - ncon_eq      # lavaan: free parameters minus equality constraints
        res.admissible = res.admissible and ok
        res.model_text = text
        res.options.update({"estimator": estimator, "likelihood": likelihood, "missing": missing,
                            "group": group, "group.equal": list(mg.group_equal),
                            "group.partial": sorted(f"{a}{o}{b}" for a, o, b in mg.group_partial
                                                    if not (o == "~~" and a > b)),
                            "meanstructure": ms, "fixed.x": fixed_x, "std.lv": bool(std_lv)})
        if isinstance(baseline, MultiGroupResult):
            if (baseline.estimator, baseline.missing, baseline.nobs, baseline.groups) != (
                    estimator, missing, res.nobs, res.groups):
                raise ValueError("baseline: the given fit differs in estimator, missing-data "
                                 "treatment or groups")
            res.baseline_chisq, res.baseline_df = baseline.baseline_chisq, baseline.baseline_df
            res.baseline_test_scaled = baseline.baseline_test_scaled
            res._baseline_fit = getattr(baseline, "_baseline_fit", None)
        elif baseline:
            _baseline(res, data, group, Xs, source, stats_cache)
    return res


def _finish(mg, ests, sts, Xs, theta, obj, *, estimator, likelihood, missing, se, df, labels,
            group, warn_list, emit, H_con=None) -> MultiGroupResult:
    N = sum(s.nobs for s in sts)
    admissible = True
    chisq_g, logl, logl1 = [], 0.0, 0.0
    for m, e, s in zip(mg.models, ests, sts):
        vals = m.row_values(theta, e.exo_values(s))
        Sigma, mu, *_ = m.moments(vals)
        Sigma = (Sigma + Sigma.T) / 2
        n = s.nobs
        p = m.p
        if missing == "fiml":
            ll = fiml_logl(s.patterns, Sigma, mu)
            ll1 = s.logl_h1
            chisq_g.append(2.0 * (ll1 - ll))
        else:
            fval = e.objective(theta, s, gradient=False)
            chisq_g.append((n - 1 if likelihood == "wishart" else n) * fval)
            Sinv = np.linalg.inv(Sigma)
            d = s.mean - mu if mg.meanstructure else np.zeros(p)
            ll = -n / 2 * (p * math.log(2 * math.pi) + np.linalg.slogdet(Sigma)[1]
                           + np.trace(s.cov @ Sinv) + d @ Sinv @ d)
            ll1 = -n / 2 * (p * math.log(2 * math.pi) + s.logdet + p)
        xi = [m.observed.index(v) for v in m.pt.ov_x]
        if xi:
            sxx = s.cov[np.ix_(xi, xi)]
            lx = -n / 2 * (len(xi) * math.log(2 * math.pi) + np.linalg.slogdet(sxx)[1] + len(xi))
            ll -= lx
            ll1 -= lx
        logl += ll
        logl1 += ll1
        for k, r in enumerate(m.rows):
            if r["op"] == "~~" and r["lhs"] == r["rhs"] and r["par"] >= 0 and vals[k] < 0:
                _warn(warn_list, f"negative variance estimate (Heywood case): {r['lhs']} "
                      f"({vals[k]:.4g}) in group {labels[mg.models.index(m)]}",
                      HeywoodCaseWarning, emit)
                admissible = False
    chisq = float(sum(chisq_g))
    npar = mg.npar
    vcov = np.full((npar, npar), np.nan)
    information = "observed" if (missing == "fiml" or estimator == "MLR") else "expected"
    E_inv = None
    test_scaled = None
    if npar:
        if information == "observed":
            info = obj.observed_information(theta)
        else:
            info = obj.fast_information(theta, exact=True)
            if info is None:
                info = obj.expected_information(theta)
        E_inv = _inverse_or_warn(info, H_con, warn_list, emit)
        admissible = admissible and E_inv is not None
    if E_inv is not None:
        n_eff = (N - len(sts)) if likelihood == "wishart" else N
        if estimator == "ML":
            vcov = E_inv / n_eff
        else:
            pieces = _robust_pieces(mg, ests, sts, Xs, theta, estimator, E_inv, missing)
            vcov = robust.sandwich_vcov(E_inv, pieces["meat"], N)
            test_scaled = robust.scaled_test(chisq, df, pieces["trace"], pieces.get(
                "trace2", math.nan), pieces["test"])
            if "yb" in pieces:
                yb = pieces["yb"]
                test_scaled.update(h1_trace=float(sum(yb["h1"])), h0_trace=float(sum(yb["h0"])),
                                   h1_ndat=float(sum(yb["h1_ndat"])))
        vcov = (vcov + vcov.T) / 2
    if not se:
        vcov = np.full((npar, npar), np.nan)
    params = _parameter_table(mg, ests, sts, theta, vcov)
    return MultiGroupResult(
        mg=mg, estimators=ests, stats=sts, groups=list(labels), group_column=group,
        nobs=[s.nobs for s in sts], theta=theta, estimator=estimator, likelihood=likelihood,
        missing=missing, npar=npar, df=int(df), fmin=float(obj(theta, gradient=False)),
        chisq=chisq, chisq_group=[float(c) for c in chisq_g], baseline_chisq=math.nan,
        baseline_df=0, logl=float(logl), logl_unrestricted=float(logl1), converged=True,
        admissible=admissible, warnings=warn_list, parameters=params, vcov=vcov,
        information=information, test_scaled=test_scaled, E_inv=E_inv)


def _inverse_or_warn(info: np.ndarray, H: np.ndarray | None, warn_list: list[str],
                     emit: bool) -> np.ndarray | None:
    """:func:`_augmented_inverse`, or None with an :class:`IdentificationWarning`
    (recorded once in *warn_list*) when the information matrix is singular."""
    try:
        return _augmented_inverse(info, H)
    except np.linalg.LinAlgError:
        _warn(warn_list, "the information matrix is singular: the model may not be "
              "identified; standard errors are not available", IdentificationWarning, emit)
        return None


def _augmented_inverse(info: np.ndarray, H: np.ndarray | None) -> np.ndarray:
    """``info^-1``, or under constraints with Jacobian H the top-left block of
    ``[[info, H'], [H, 0]]^-1`` (lavaan ``lav_model_information_augment_invert``)."""
    k = info.shape[0]
    d = np.sqrt(np.abs(np.diag(info)))
    if np.any(d == 0):
        raise np.linalg.LinAlgError("zero information")
    ev = np.linalg.eigvalsh(info / np.outer(d, d))
    if H is None or len(H) == 0:
        if ev.min() <= 1e-10 * max(abs(ev.max()), 1e-300):
            raise np.linalg.LinAlgError("singular information")
        out = linalg.inv(info)
    else:
        r = H.shape[0]
        Z = np.block([[info, H.T], [H, np.zeros((r, r))]])
        out = linalg.inv(Z)[:k, :k]
    return (out + out.T) / 2


def _deltas(mg, ests, sts, theta):
    """Per group ``(Sigma, mu, Delta)``; without a mean structure ``mu`` is the
    sample mean and Delta has no mean rows."""
    out = []
    for e, s in zip(ests, sts):
        Sigma, mu, dS, dm = e.jacobian(theta, s)
        if not mg.meanstructure:
            out.append(((Sigma + Sigma.T) / 2, s.mean, robust.vech_jacobian(dS, None)))
        else:
            out.append(((Sigma + Sigma.T) / 2, mu, robust.vech_jacobian(dS, dm)))
    return out


def _gamma_adf_fixed_x(X: np.ndarray, x_idx, meanstructure: bool) -> np.ndarray:
    """ADF Gamma with fixed.x covariates: the case-wise moments of the data minus
    those of its projection on the covariates (``yhat`` from OLS on ``[1, x]``).

    In R: ``lavaan:::lav_samplestats_Gamma(Y, x.idx =, fixed.x = TRUE)``.
    """
    X = np.asarray(X, dtype=float)
    n, p = X.shape
    xi = np.asarray(x_idx, dtype=int)
    yi = np.setdiff1d(np.arange(p), xi)
    Z1 = np.column_stack([np.ones(n), X[:, xi]])
    coef, *_ = np.linalg.lstsq(Z1, X[:, yi], rcond=None)
    YH = X.copy()
    YH[:, yi] = Z1 @ coef
    r, c = robust.vech_indices(p)

    def moments(Y):
        Yc = Y - Y.mean(axis=0)
        Z = Yc[:, r] * Yc[:, c]
        return np.hstack([Y, Z]) if meanstructure else Z
    Z = moments(X) - moments(YH)
    Zc = Z - Z.mean(axis=0)
    return Zc.T @ Zc / n


def _x_moments(x_idx, p: int, meanstructure: bool) -> np.ndarray:
    """Mask of the moments ``[mean; vech(Sigma)]`` of the fixed.x covariates."""
    r, c = robust.vech_indices(p)
    xs = set(int(j) for j in x_idx)
    cov = np.array([a in xs and b in xs for a, b in zip(r, c)], dtype=bool)
    if meanstructure:
        return np.concatenate([np.array([j in xs for j in range(p)], dtype=bool), cov])
    return cov


def _robust_pieces(mg, ests, sts, Xs, theta, estimator, E_inv, missing):
    """Meat of the sandwich and trace of the scaled test, over groups.

    MLM: ``meat = sum_g f_g Delta_g' A1_g Gamma_g A1_g Delta_g`` (A1 the
    normal-theory h1 information at the implied moments, Gamma the ADF
    Gamma), Satorra-Bentler trace ``tr(U Gamma)``.
    MLR: ``meat = B0 = sum_g f_g Delta_g' B1s_g Delta_g`` with B1s the mean
    outer product of the case-wise moment scores at the implied moments;
    Yuan-Bentler (Mplus) trace ``sum_g tr(B1_g A1_g^-1) - f_g tr(B0_g E^-1)``
    with the h1 pieces at the saturated estimates.
    """
    nobs = [s.nobs for s in sts]
    N = sum(nobs)
    ms = mg.meanstructure
    fast = [missing != "fiml" and not len(e.x_idx) for e in ests]
    D = _deltas(mg, ests, sts, theta) if estimator == "MLM" or not all(fast) else None
    xmask = [_x_moments(e.x_idx, m.p, mg.meanstructure) for e, m in zip(ests, mg.models)]

    def zero_x(M, k):       # lavaan: the h1 information has zero rows for fixed.x moments
        if xmask[k].any():
            M = M.copy()
            M[xmask[k], :] = 0.0
            M[:, xmask[k]] = 0.0
        return M
    if estimator == "MLM":
        ms = mg.meanstructure
        A1 = [zero_x(robust.h1_expected_information(S, ms), k)
              for k, (S, _, _) in enumerate(D)]
        Gam = [_gamma_adf_fixed_x(X, e.x_idx, ms) if len(e.x_idx) else robust.gamma_adf(X, ms)
               for X, e in zip(Xs, ests)]
        Del = [d for _, _, d in D]
        meat = robust.robust_sem_meat(Del, A1, Gam, nobs)
        tr, tr2 = robust.ugamma_traces(Del, A1, Gam, nobs, E_inv)
        return {"meat": meat, "trace": tr, "trace2": tr2, "test": "satorra.bentler"}
    B0s, h1 = [], []
    meat = 0.0
    from pipeline.sem.results import ml_scores_free
    for k, (m, X, s, n) in enumerate(zip(mg.models, Xs, sts, nobs)):
        if fast[k]:       # RAM-cell scores, closed-form h1 trace: no p* x p* matrices
            SC = ml_scores_free(ests[k], s, theta, X, ms)
        else:
            Sigma, mu, Delta = D[k]
            SC = robust.ml_scores_delta(X, Sigma, mu, Delta, ms)
        B0 = SC.T @ SC / n
        B0s.append(B0)
        meat = meat + (n / N) * B0
        if fast[k]:
            nmom = m.p * (m.p + 1) // 2 + (m.p if ms else 0)
            h1.append((robust.h1_trace_complete(X, s.cov, s.mean, ms), nmom))
            continue
        if missing == "fiml":
            from pipeline.sem.results import _fiml_h1_information
            A1 = _fiml_h1_information(s)
        else:
            A1 = robust.h1_expected_information(s.cov, ms)
        s1 = robust.ml_moment_scores(X, s.cov, s.mean, ms or missing == "fiml")
        A1z, B1z = zero_x(A1, k), zero_x(s1.T @ s1 / n, k)
        t = robust.yuan_bentler_mplus_trace(A1z, B1z, B0, E_inv, n)
        h1.append((t["h1"][0], t["h1_ndat"][0]))
    yb = robust.yuan_bentler_mplus_trace(None, None, B0s, E_inv, nobs, h1=h1)
    return {"meat": meat, "trace": yb["trace"], "test": "yuan.bentler.mplus", "yb": yb}


def _parameter_table(mg, ests, sts, theta, vcov) -> pd.DataFrame:
    from pipeline.sem.standardize import standardize
    with np.errstate(invalid="ignore"):
        dv = np.diag(vcov)
        # a parameter pinned by an active constraint has no SE (lavaan: NA)
        tiny = 1e-13 * max(float(np.nanmax(np.abs(dv))) if np.any(np.isfinite(dv)) else 0.0,
                           1e-300)
        se_par = np.where(dv > tiny, np.sqrt(np.abs(dv)), np.nan)
    recs = []
    for g, (m, e, s) in enumerate(zip(mg.models, ests, sts)):
        vals = m.row_values(theta, e.exo_values(s))
        _, _, B, C, _ = m.moments(vals)
        std_lv, std_all = standardize(m, vals, C)
        for k, r in enumerate(m.rows):
            se_k = se_par[r["par"]] if r["par"] >= 0 else 0.0
            recs.append({"lhs": r["lhs"], "op": r["op"], "rhs": r["rhs"], "group": g + 1,
                         "label": mg.plabels[g][k], "est": float(vals[k]), "se": se_k,
                         "std.lv": std_lv[k], "std.all": std_all[k]})
    d = mg.models[0].defined
    if len(d):
        env_f = lambda t: _label_env(mg, ests, sts, t)  # noqa: E731
        base = d.evaluate(env_f(theta))
        J = np.zeros((len(d), len(theta)))
        for j in range(len(theta)):
            h = 1e-6 * max(1.0, abs(theta[j]))
            tp, tm = theta.copy(), theta.copy()
            tp[j] += h
            tm[j] -= h
            J[:, j] = (d.evaluate(env_f(tp)) - d.evaluate(env_f(tm))) / (2 * h)
        dse = np.sqrt(np.clip(np.einsum("ij,jk,ik->i", J, vcov, J), 0, None))
        for i, (name, expr) in enumerate(zip(d.names, d.exprs)):
            recs.append({"lhs": name, "op": ":=", "rhs": expr.replace(" ", ""), "group": 0,
                         "label": name, "est": base[i], "se": dse[i], "std.lv": np.nan,
                         "std.all": np.nan})
    df = pd.DataFrame.from_records(recs)
    return add_wald_columns(df)[PARAM_COLUMNS]


def _baseline(res: MultiGroupResult, data, group, Xs, source, stats_cache=None) -> None:
    """Independence model per group (free means and variances; fixed.x block
    kept), with the same estimator: chi-square (and scaled test) summed."""
    obs = res.models[0].observed
    ov_x = res.models[0].pt.ov_x
    ms = res.mg.meanstructure
    lines = [f"{v} ~~ {v}" for v in obs if v not in ov_x]
    if ms:
        lines += [f"{v} ~ 1" for v in obs if v not in ov_x]
    ys = [v for v in obs if v not in ov_x]
    if ov_x and ys:
        # the covariates stay fixed.x (their moments the sample's) and unrelated
        # to the other variables: zero regressions make them exogenous
        lines.append(f"{ys[0]} ~ " + " + ".join(f"0*{x}" for x in ov_x))
    try:
        b = fit_multigroup("\n".join(lines), data, group, estimator=res.estimator,
                           likelihood=res.likelihood, missing=res.missing, fixed_x=True,
                           se=False, baseline=False, emit_warnings=False, source=source,
                           meanstructure=ms, stats_cache=stats_cache,
                           warm_start="moments" if res.missing != "fiml" else None)
    except (ModelSpecificationError, np.linalg.LinAlgError, ValueError):
        return
    nx = len(ov_x)
    p = len(obs)
    ny = p - nx
    res._baseline_fit = b
    res.baseline_chisq = b.chisq
    res.baseline_df = res.ngroups * (ny * (ny - 1) // 2 + ny * nx)
    if b.test_scaled is not None:
        res.baseline_test_scaled = robust.scaled_test(
            b.chisq, res.baseline_df, b.test_scaled["trace_UGamma"],
            b.test_scaled.get("trace_UGamma2", math.nan), b.test_scaled["test"])


# -------------------------------------------------------------- fit measures
def _fit_measures(res: MultiGroupResult) -> pd.Series:
    """lavaan's fitMeasures() for a multi-group fit (see the module docstring)."""
    x, d, N, G = res.chisq, float(res.df), float(res.ntotal), res.ngroups
    x0, d0 = res.baseline_chisq, float(res.baseline_df)
    npar = float(res.npar)
    n_eff = N - G if res.likelihood == "wishart" else N
    out: dict[str, float] = {
        "npar": npar, "fmin": x / (2 * n_eff), "chisq": x, "df": d,
        "pvalue": fi.chisq_pvalue(x, d)}
    ts, tb = res.test_scaled, res.baseline_test_scaled
    if ts is not None:
        out.update({"chisq.scaled": ts["stat"], "df.scaled": ts["df"],
                    "pvalue.scaled": ts["pvalue"], "chisq.scaling.factor": ts["scaling_factor"]})
    out.update({"baseline.chisq": x0, "baseline.df": d0,
                "baseline.pvalue": fi.chisq_pvalue(x0, d0) if d0 > 0 else math.nan})
    if ts is not None:
        tb = tb or {"stat": math.nan, "df": math.nan, "pvalue": math.nan,
                    "scaling_factor": math.nan}
        out.update({"baseline.chisq.scaled": tb["stat"], "baseline.df.scaled": tb["df"],
                    "baseline.pvalue.scaled": tb["pvalue"],
                    "baseline.chisq.scaling.factor": tb["scaling_factor"]})
    out["cfi"] = fi.cfi(x, d, x0, d0)
    out["tli"] = fi.tli(x, d, x0, d0)
    if ts is not None:
        xs, x0s, c, c0 = ts["stat"], tb["stat"], ts["scaling_factor"], tb["scaling_factor"]
        out["cfi.scaled"] = fi.cfi(xs, d, x0s, d0)
        out["tli.scaled"] = fi.tli(xs, d, x0s, d0)
        out["cfi.robust"] = _cfi_robust(x, d, x0, d0, c, c0)
        out["tli.robust"] = _tli_robust(x, d, x0, d0, c, c0)
        out["nnfi.scaled"] = out["tli.scaled"]
        out["rfi.scaled"] = fi.rfi(xs, d, x0s, d0)
        out["nfi.scaled"] = fi.nfi(xs, d, x0s, d0)
        out["pnfi.scaled"] = fi.pnfi(xs, d, x0s, d0)
        out["ifi.scaled"] = fi.ifi(xs, d, x0s, d0)
        out["rni.scaled"] = fi.rni(xs, d, x0s, d0)
        out["nnfi.robust"] = out["tli.robust"]
        t2 = x0 - c0 * d0
        out["rni.robust"] = 1.0 - (x - c * d) / t2 if t2 != 0 else math.nan
        if "h1_trace" in ts:
            out["scaling.factor.h1"] = ts["h1_trace"] / ts["h1_ndat"]
            # lavaan divides by its free parameters before equality constraints
            out["scaling.factor.h0"] = ts["h0_trace"] / len(res.mg.free_rows())
    out.update({"nnfi": fi.tli(x, d, x0, d0), "rfi": fi.rfi(x, d, x0, d0),
                "nfi": fi.nfi(x, d, x0, d0), "pnfi": fi.pnfi(x, d, x0, d0),
                "ifi": fi.ifi(x, d, x0, d0), "rni": fi.rni(x, d, x0, d0)})
    logl = res.logl
    out.update({"logl": logl, "unrestricted.logl": res.logl_unrestricted,
                "aic": -2 * logl + 2 * npar, "bic": -2 * logl + npar * math.log(N),
                "ntotal": N, "bic2": -2 * logl + npar * math.log((N + 2) / 24)})
    sg = math.sqrt(G)
    out["rmsea"] = _rmsea(x, d, n_eff, G)
    lo, hi = fi.rmsea_ci(x, d, n_eff, 0.90)
    out["rmsea.ci.lower"], out["rmsea.ci.upper"] = lo * sg, hi * sg
    out["rmsea.ci.level"] = 0.90
    out["rmsea.pvalue"] = fi.rmsea_pvalue(x, d, n_eff, 0.05 / sg)
    out["rmsea.close.h0"] = 0.05
    out["rmsea.notclose.pvalue"] = fi.rmsea_notclose_pvalue(x, d, n_eff, 0.08 / sg)
    out["rmsea.notclose.h0"] = 0.08
    if ts is not None:
        # lavaan (lav_fit_rmsea_lavobject): the scaled RMSEA, its interval and
        # tests use the unscaled X2 with df = tr(U Gamma); the robust ones the
        # scaled X2 with df and c.hat (Brosseau-Liard, Savalei & Li 2012)
        xs, c, tr = ts["stat"], ts["scaling_factor"], ts["trace_UGamma"]
        out["rmsea.scaled"] = _rmsea(x, tr, n_eff, G)
        lo, hi = fi.rmsea_ci(x, tr, n_eff, 0.90)
        out["rmsea.ci.lower.scaled"], out["rmsea.ci.upper.scaled"] = lo * sg, hi * sg
        out["rmsea.pvalue.scaled"] = fi.rmsea_pvalue(x, tr, n_eff, 0.05 / sg)
        out["rmsea.notclose.pvalue.scaled"] = fi.rmsea_notclose_pvalue(x, tr, n_eff, 0.08 / sg)
        out["rmsea.robust"] = _rmsea(x, d, n_eff, G, c)
        sc = math.sqrt(c) if c > 0 else math.nan
        lo, hi = fi.rmsea_ci(xs, d, n_eff, 0.90)
        out["rmsea.ci.lower.robust"] = lo * sg * sc
        out["rmsea.ci.upper.robust"] = hi * sg * sc
        out["rmsea.pvalue.robust"] = fi.rmsea_pvalue(xs, d, n_eff, 0.05 / (sg * sc))
        out["rmsea.notclose.pvalue.robust"] = fi.rmsea_notclose_pvalue(xs, d, n_eff,
                                                                       0.08 / (sg * sc))
    # residual-based indices: n_g / N weighted means over groups
    wsum: dict[str, float] = {k: 0.0 for k in ("rmr", "rmr_nomean", "srmr", "srmr_bentler",
                                                "srmr_bentler_nomean", "crmr", "crmr_nomean",
                                                "srmr_mplus", "srmr_mplus_nomean", "gfi")}
    for g in range(G):
        s = res.stats[g]
        Sigma, mu = res.implied(g)
        S = s.cov * (s.nobs / (s.nobs - 1.0) if res.likelihood == "wishart" else 1.0)
        m = s.mean
        if not res.mg.meanstructure:
            m = mu = None
        wg = s.nobs / N
        xi = [res.models[g].observed.index(v) for v in res.models[g].pt.ov_x]
        vals = {"rmr": fi.rmr(S, Sigma, m, mu), "rmr_nomean": fi.rmr(S, Sigma),
                "srmr": fi.srmr(S, Sigma, m, mu), "srmr_bentler": fi.srmr(S, Sigma, m, mu),
                "srmr_bentler_nomean": fi.srmr(S, Sigma), "crmr": fi.crmr(S, Sigma, m, mu),
                "crmr_nomean": fi.crmr(S, Sigma), "srmr_mplus": fi.srmr_mplus(S, Sigma, m, mu),
                "srmr_mplus_nomean": fi.srmr_mplus(S, Sigma)}
        if res.missing == "fiml":
            s_obs, m_obs = fi.available_case_moments(s.data)
            vals["gfi"] = fi.gfi(s_obs, Sigma, m_obs, mu, patterns=fi.missing_patterns(s.data),
                                 x_idx=xi or None)
        else:
            vals["gfi"] = fi.gfi(S, Sigma, m, mu, x_idx=xi or None)
        for k, v in vals.items():
            wsum[k] += wg * v
    p = res.models[0].p
    nel = G * (p * (p + 1) // 2 + (p if res.mg.meanstructure else 0))
    out.update(wsum)
    out["agfi"] = fi.agfi(wsum["gfi"], nel, d)
    out["pgfi"] = fi.pgfi(wsum["gfi"], nel, d)
    out["cn_05"] = fi.hoelter_cn(x, d, n_eff, 0.05)
    out["cn_01"] = fi.hoelter_cn(x, d, n_eff, 0.01)
    out["mfi"] = fi.mfi(x, d, n_eff)
    out["ecvi"] = fi.ecvi(x, npar, n_eff)
    if res.missing == "fiml":
        # lavaan's robust CFI/TLI/RMSEA under FIML: the FIML-corrected statistic
        out = {k: v for k, v in out.items() if not k.endswith(".robust")}
        out.update(_fiml_robust(res, n_eff, "V3" if ts is not None else "V6"))
    return pd.Series(out, dtype=float, name="fit")


def _fiml_robust(res: MultiGroupResult, N: float, version: str) -> dict:
    """Robust CFI/TLI/RMSEA under FIML (Zhang & Savalei 2023; lavaan's
    ``lav_fit_fiml_corrected``, version V3 with a scaled test, V6 without).

    ``XX3 = sum_g n_g F_ML(Sigma_g, mu_g; S_g, m_g)`` with the FIML estimates
    and the EM moments taken as complete data; ``c3 = k / df`` with
    V3: ``k = tr(U Wm^-1 Wc Wm^-1 U Gamma)``, ``Gamma = Wm^-1 Jm Wm^-1``;
    V6: ``k = tr(Wc Wm^-1 U Wm^-1)``; ``U = Wm - Wm Delta E^-1 Delta' Wm``,
    ``E = Delta' Wm Delta`` (all block-diagonal over groups, ``Wm`` the
    observed h1 information under missingness, ``Jm`` its first-order
    version, ``Wc`` the complete-data h1 information, weighted by n_g/N);
    the same for the independence model.

    In R: ``lavaan:::lav_fit_fiml_corrected(fit, version = "V3" | "V6")``.
    """
    from pipeline.sem.results import _fiml_h1_information
    keys = ("cfi.robust", "tli.robust", "nnfi.robust", "rni.robust", "rmsea.robust",
            "rmsea.ci.lower.robust", "rmsea.ci.upper.robust", "rmsea.pvalue.robust",
            "rmsea.notclose.pvalue.robust")
    if any(m.pt.ov_x for m in res.models):
        return {k: math.nan for k in keys}
    G = res.ngroups
    nobs = np.array(res.nobs, dtype=float)
    fg = nobs / nobs.sum()
    Wm_g, Wmi_g, Wc_g, Gam_g = [], [], [], []
    for g, s in enumerate(res.stats):
        Wm = _fiml_h1_information(s)
        s1 = robust.ml_moment_scores(s.data, s.cov, s.mean, True)
        Jm = s1.T @ s1 / s.nobs
        Wc = robust.h1_expected_information(s.cov, True)
        Wmi = np.linalg.inv(Wm)
        Wm_g.append(fg[g] * Wm)
        Wmi_g.append(Wmi / fg[g])
        Wc_g.append(fg[g] * Wc)
        Gam_g.append(Wmi @ Jm @ Wmi / fg[g])
    Wm_all, Wmi_all = linalg.block_diag(*Wm_g), linalg.block_diag(*Wmi_g)
    Wc_all, Gam_all = linalg.block_diag(*Wc_g), linalg.block_diag(*Gam_g)

    def pieces(fit):
        D = np.vstack([d for *_, d in _deltas(fit.mg, fit.estimators, fit.stats, fit.theta)])
        WD = Wm_all @ D
        U = Wm_all - WD @ np.linalg.solve(D.T @ WD, WD.T)
        if version == "V3":
            k = float(np.trace(U @ Wmi_all @ Wc_all @ Wmi_all @ U @ Gam_all))
        else:
            k = float(np.trace(Wc_all @ Wmi_all @ U @ Wmi_all))
        xx = 0.0
        for g, (m, e, s) in enumerate(zip(fit.models, fit.estimators, fit.stats)):
            Sigma, mu, *_ = m.moments(e.values(fit.theta, s))
            Sigma = (Sigma + Sigma.T) / 2
            W = np.linalg.inv(Sigma)
            dlt = s.mean - mu
            xx += s.nobs * float(np.linalg.slogdet(Sigma)[1] + np.trace(s.cov @ W)
                                 - np.linalg.slogdet(s.cov)[1] - len(W) + dlt @ W @ dlt)
        return xx, k
    XX3, k = pieces(res)
    d, d0 = float(res.df), float(res.baseline_df)
    c3 = k / d if d > 0 else math.nan
    base = getattr(res, "_baseline_fit", None)
    if base is not None:
        XX3n, kb = pieces(base)
        c3n = kb / d0
    else:
        XX3n = c3n = math.nan
    out = {"cfi.robust": _cfi_robust(XX3, d, XX3n, d0, c3, c3n),
           "tli.robust": _tli_robust(XX3, d, XX3n, d0, c3, c3n)}
    out["nnfi.robust"] = out["tli.robust"]
    t2 = XX3n - c3n * d0
    out["rni.robust"] = 1.0 - (XX3 - c3 * d) / t2 if np.isfinite(t2) and t2 != 0 else math.nan
    sg = math.sqrt(G)
    sc = math.sqrt(c3) if c3 > 0 else math.nan
    xs = XX3 / c3
    out["rmsea.robust"] = _rmsea(XX3, d, N, G, c3)
    lo, hi = fi.rmsea_ci(xs, d, N, 0.90)
    out["rmsea.ci.lower.robust"], out["rmsea.ci.upper.robust"] = lo * sg * sc, hi * sg * sc
    out["rmsea.pvalue.robust"] = fi.rmsea_pvalue(xs, d, N, 0.05 / (sg * sc))
    out["rmsea.notclose.pvalue.robust"] = fi.rmsea_notclose_pvalue(xs, d, N, 0.08 / (sg * sc))
    return out


def _rmsea(x, d, n, G, c_hat=1.0):
    """lavaan's ``lav_fit_rmsea``: ``sqrt(max(0, x/(n d) - c/n)) sqrt(G)``."""
    if not d > 0 or not np.isfinite(x):
        return 0.0 if d == 0 else math.nan
    return math.sqrt(max(x / n / d - c_hat / n, 0.0)) * math.sqrt(G)


def _cfi_robust(x, d, x0, d0, c, c0):
    """Brosseau-Liard & Savalei (2014) robust CFI (lavaan ``lav_fit_cfi`` with c.hat)."""
    if not all(np.isfinite(v) for v in (x, d, x0, d0, c, c0)):
        return math.nan
    t1 = max(x - c * d, 0.0)
    t2 = max(x - c * d, x0 - c0 * d0, 0.0)
    if math.isclose(t1, 0.0, abs_tol=1e-8) and math.isclose(t2, 0.0, abs_tol=1e-8):
        return 1.0
    return 1.0 - t1 / t2


def _tli_robust(x, d, x0, d0, c, c0):
    """Robust TLI (lavaan ``lav_fit_tli`` with c.hat)."""
    if not all(np.isfinite(v) for v in (x, d, x0, d0, c, c0)):
        return math.nan
    t1 = (x - c * d) * d0
    t2 = (x0 - c0 * d0) * d
    return 1.0 - t1 / t2 if d > 0 and abs(t2) > 0 else math.nan


# ------------------------------------------------------------- ordinal (WLS)
WLS_ESTIMATORS = ("WLSMV", "DWLS")


class _OrdinalGroup:
    """sigma_g(theta) of one group for ordinal indicators (delta parameterization).

    With ``Sigma*`` and ``mu*`` the RAM moments of the latent responses
    (residual variances of the items derived so that ``diag(Sigma*) =
    1 / Delta^2``), the model implies the standardized thresholds
    ``(tau_jk - mu*_j) Delta_j`` and the polychoric correlations
    ``Delta_i Delta_j Sigma*_ij``, stacked as lavaan's ``WLS.est``
    (thresholds in item and category order, then ``vech(R, diagonal=FALSE)``).

    In R: ``lavaan:::lav_model_implied`` + ``lav_model_wls_est`` with
    ``parameterization = "delta"``.
    """

    def __init__(self, m: SEMModel, ws):
        self.m = m
        p = m.p
        pos = {v: i for i, v in enumerate(m.observed)}
        th_key = {(r["lhs"], r["rhs"]): k for k, r in enumerate(m.rows) if r["op"] == "|"}
        self.th_rows = np.array([th_key[tuple(n.split("|"))] for n in ws.th_names], dtype=int)
        self.th_node = np.array([pos[n.split("|")[0]] for n in ws.th_names], dtype=int)
        self.scale_rows = np.array([k for k, r in enumerate(m.rows) if r["op"] == "~*~"],
                                   dtype=int)
        self.scale_node = m.ii[self.scale_rows] if len(self.scale_rows) else np.zeros(0, int)
        self.dv_rows = np.array([k for k, r in enumerate(m.rows) if r.get("derived")], dtype=int)
        self.dv_node = m.ii[self.dv_rows]
        self.r = np.array([i for i, _ in ws.pairs], dtype=int)
        self.c = np.array([j for _, j in ws.pairs], dtype=int)
        self.p = p

    def values(self, theta):
        vals, delta, _, _ = self.derive(self.m.row_values(theta))
        return vals, delta

    def derive(self, vals):
        """Row values with the derived residual variances, the scale factors,
        and the implied ``Sigma*``, ``mu*``.

        ``Sigma* = B S B'`` is linear in the residual variances ``d``:
        ``diag(Sigma*)_i = diag(Sigma*_0)_i + sum_j B_ij^2 d_j`` (``Sigma*_0``
        with ``d = 0``), so ``diag = 1/Delta^2`` is one linear solve.
        """
        m = self.m
        vals = np.array(vals, dtype=float)
        delta = np.ones(self.p)
        if len(self.scale_rows):
            delta[self.scale_node] = vals[self.scale_rows]
        vals[self.dv_rows] = 0.0
        Sigma, mu, B, _, _ = m.moments(vals)
        if len(self.dv_rows):
            n_ = self.dv_node
            target = 1.0 / delta[n_] ** 2
            M = B[np.ix_(n_, n_)] ** 2
            d = np.linalg.solve(M, target - np.diag(Sigma)[n_])
            vals[self.dv_rows] = d
            Bp = B[:self.p, n_]
            Sigma = Sigma + (Bp * d) @ Bp.T
        return vals, delta, Sigma, mu

    def implied(self, theta):
        return self.implied_rows(self.m.row_values(theta))

    def implied_rows(self, vals):
        """sigma_g from the row values (free rows may be perturbed independently:
        lavaan's unconstrained parameters, for score tests)."""
        vals, delta, Sigma, mu = self.derive(vals)
        th = (vals[self.th_rows] - mu[self.th_node]) * delta[self.th_node]
        cor = delta[self.r] * delta[self.c] * Sigma[self.r, self.c]
        return np.concatenate([th, cor])


def _num_jacobian(fun, theta, h=1e-6, cols=None):
    """Central differences; only the columns *cols* (the others are zero)."""
    f0 = fun(theta)
    J = np.zeros((len(f0), len(theta)))
    for j in (range(len(theta)) if cols is None else cols):
        step = h * max(1.0, abs(theta[j]))
        tp, tm = theta.copy(), theta.copy()
        tp[j] += step
        tm[j] -= step
        J[:, j] = (fun(tp) - fun(tm)) / (2 * step)
    return f0, J


def _fit_ordinal(parsed, text, data, group, labels, parts, *, ordered, group_equal,
                 group_partial, estimator, se, source, emit, warn_list,
                 ordinal_id="lavaan", stats_cache=None, std_lv=False) -> MultiGroupResult:
    """Multi-group WLSMV / DWLS for ordinal indicators (see :class:`_OrdinalGroup`).

    ``F = sum_g (n_g / N) (s_g - sigma_g)' W_g (s_g - sigma_g)`` with
    ``W_g = diag(Gamma_g)^-1``; robust (``robust.sem``) standard errors
    ``E^-1 (sum_g f_g Delta_g' W_g Gamma_g W_g Delta_g) E^-1 / N`` with
    ``E = sum_g f_g Delta_g' W_g Delta_g`` (lavaan divides by N - G); the
    chi-square ``sum_g (n_g - 1) F_g`` and (WLSMV) the scaled-shifted test of Asparouhov &
    Muthén (2010) from ``tr(U Gamma)`` and ``tr((U Gamma)^2)`` over groups.
    """
    from pipeline.sem.ordinal import wls_stats
    from pipeline.sem.results import prepare_data
    from pipeline.sem.syntax import model_variables
    observed, _ = model_variables(parsed)
    if ordered == "all":
        ordered = list(observed)
    ordered = list(ordered)
    unknown = [v for v in ordered if v not in observed]
    if unknown:
        raise ModelSpecificationError(f"ordered= names variable(s) not in the model: "
                                      f"{', '.join(unknown)}")
    cont = [v for v in observed if v not in ordered]
    if cont:
        raise ModelSpecificationError(
            f"estimator={estimator!r} with continuous variables in the model "
            f"({', '.join(cont)}) is not implemented: declare every indicator ordered "
            "(ordered='all') or use ML/MLR")
    # categories from the whole data: an empty category in a group is an error
    allv = pd.concat(parts)[ordered].apply(pd.to_numeric, errors="coerce")
    levels = {v: sorted(allv[v].dropna().unique().tolist()) for v in ordered}
    nth = {v: len(levels[v]) - 1 for v in ordered}
    G = len(parts)
    mg = build_multigroup(parsed, G, group_equal=group_equal, group_partial=group_partial,
                          fixed_x=False, meanstructure=True, nthresholds=nth,
                          ordinal_id=ordinal_id, std_lv=std_lv)
    if any(m.pt.ov_x for m in mg.models):  # pragma: no cover - fixed_x=False above
        raise NotImplementedError("exogenous covariates with ordinal indicators")
    Xs, wss, probs = [], [], []
    for g, (m, part) in enumerate(zip(mg.models, parts)):
        src = f"{source or 'data'}, {group} = {labels[g]}"
        X, kept = prepare_data(part, m, missing="listwise", source=src)
        key = (g, tuple(m.observed), tuple(ordered), X.tobytes())
        ws = stats_cache.get(key) if stats_cache is not None else None
        if ws is None:
            ws = wls_stats(X, list(m.observed), ordered, levels=levels, source=src,
                           row_numbers=np.asarray(part.index)[kept] + 2)
            if stats_cache is not None:
                stats_cache[key] = ws
        Xs.append(X)
        wss.append(ws)
        probs.append(_OrdinalGroup(m, ws))
    nobs = [ws.nobs for ws in wss]
    N = sum(nobs)
    fg = np.array(nobs, dtype=float) / N
    ws_w = [(1.0 / np.diag(ws.gamma)) if estimator in ("WLSMV", "DWLS") else
            np.ones(len(ws.obs)) for ws in wss]
    ndat = sum(len(ws.obs) for ws in wss)
    df = ndat - mg.npar
    if df < 0:
        raise ModelSpecificationError(
            f"the model has more free parameters ({mg.npar}) than sample statistics ({ndat}): "
            f"df = {df} < 0")
    # start values: the ML starts on the polychoric correlations, sample thresholds
    theta0 = np.zeros(mg.npar)
    seen = np.zeros(mg.npar, dtype=bool)
    for m, ws, pr in zip(mg.models, wss, probs):
        from pipeline.sem.estimate import SampleStats
        est0 = Estimator(m, meanstructure=True)
        t = est0.start_values(SampleStats(nobs=ws.nobs, cov=ws.cor, mean=np.zeros(m.p)))
        for k, r in enumerate(m.rows):
            j = r["par"]
            if j < 0:
                continue
            if r["op"] == "|":
                t[j] = ws.th[list(pr.th_rows).index(k)]
            elif r["op"] == "~*~":
                t[j] = 1.0
            elif r["op"] == "~1":
                t[j] = 0.0
        used = np.zeros(mg.npar, dtype=bool)
        used[m.par[m.free_mask]] = True
        take = used & ~seen
        theta0[take] = t[take]
        seen |= used
    sw = [np.sqrt(f * w) for f, w in zip(fg, ws_w)]

    def resid(t):
        return np.concatenate([s_ * (ws.obs - pr.implied(t)) for s_, ws, pr in zip(sw, wss, probs)])

    used = [np.unique(m.par[m.free_mask]) for m in mg.models]

    def jac(t):
        return -np.vstack([s_[:, None] * _num_jacobian(pr.implied, t, cols=u)[1]
                           for s_, pr, u in zip(sw, probs, used)])
    with one_thread_blas():
        from scipy import optimize
        sol = optimize.least_squares(resid, theta0, jac=jac, method="trf", xtol=1e-15,
                                     ftol=1e-15, gtol=1e-12, max_nfev=500)
        theta = sol.x
        grad = sol.jac.T @ sol.fun
        ok = bool(sol.success or np.max(np.abs(grad)) < 1e-7)
        if not ok:
            _warn(warn_list, f"the least-squares optimizer did not converge ({sol.message})",
                  ConvergenceWarning, emit)
        Js, sigs, Fg = [], [], []
        for ws, pr, w, u in zip(wss, probs, ws_w, used):
            sig, J = _num_jacobian(pr.implied, theta, cols=u)
            Js.append(J)
            sigs.append(sig)
            Fg.append(float(np.sum(w * (ws.obs - sig) ** 2)))
        chisq_g = [(n - 1) * F for n, F in zip(nobs, Fg)]   # lavaan: (n_g - 1) F_g
        chisq = float(sum(chisq_g))
        E = sum(f * J.T @ (w[:, None] * J) for f, J, w in zip(fg, Js, ws_w))
        vcov = np.full((mg.npar, mg.npar), np.nan)
        test = None
        admissible = ok
        E_inv = _inverse_or_warn(E, None, warn_list, emit)
        admissible = admissible and E_inv is not None
        gam = [ws.gamma for ws in wss]
        if E_inv is not None:
            robust_se = estimator == "WLSMV"
            if se:
                # lavaan divides by N - G for least-squares estimators
                if robust_se:
                    vcov = robust.sandwich_vcov(E_inv, robust.robust_sem_meat(Js, ws_w, gam, nobs),
                                                N - G)
                else:
                    vcov = E_inv / (N - G)
            if robust_se:
                tr, tr2 = robust.ugamma_traces(Js, ws_w, gam, nobs, E_inv)
                test = robust.scaled_test(chisq, df, tr, tr2, "scaled.shifted")
    # parameter table: the derived residual variances as values
    recs = []
    with np.errstate(invalid="ignore"):
        dv = np.diag(vcov)
        se_par = np.where(dv >= 0, np.sqrt(np.abs(dv)), np.nan)
    from pipeline.sem.standardize import standardize
    for g, (m, pr) in enumerate(zip(mg.models, probs)):
        vals, _ = pr.values(theta)
        C = m.moments(vals)[3]
        std_lv, std_all = standardize(m, vals, C)
        # thresholds and scale factors (lavaan): std.lv = est; std.all divides
        # (thresholds) or multiplies (scales) by the SD of the latent response
        sd = np.sqrt(np.clip(np.diag(C)[:m.p], 0, None))
        for k in np.flatnonzero(m.is_th | m.is_scale):
            std_lv[k] = vals[k]
            j = m.ii[k]
            std_all[k] = vals[k] / sd[j] if m.is_th[k] else vals[k] * sd[j]
        for k, r in enumerate(m.rows):
            recs.append({"lhs": r["lhs"], "op": r["op"], "rhs": r["rhs"], "group": g + 1,
                         "label": mg.plabels[g][k], "est": float(vals[k]),
                         "se": se_par[r["par"]] if r["par"] >= 0 else 0.0,
                         "std.lv": std_lv[k], "std.all": std_all[k]})
    params = add_wald_columns(pd.DataFrame.from_records(recs))[PARAM_COLUMNS]
    sts = [SampleStatsLite(ws.nobs, ws.cor, np.zeros(len(ws.cor)), X) for ws, X in zip(wss, Xs)]
    res = MultiGroupResult(
        mg=mg, estimators=[], stats=sts, groups=list(labels), group_column=group,
        nobs=nobs, theta=theta, estimator=estimator, likelihood="normal", missing="listwise",
        npar=mg.npar, df=int(df), fmin=chisq / (2 * N),
        chisq=chisq, chisq_group=chisq_g, baseline_chisq=math.nan, baseline_df=0,
        logl=math.nan, logl_unrestricted=math.nan, converged=ok, admissible=admissible,
        warnings=warn_list, parameters=params, vcov=vcov, information="expected",
        iterations=int(sol.nfev), optimizer="least_squares", model_text=text,
        test_scaled=test, E_inv=E_inv)
    res.wls = {"obs": [ws.obs for ws in wss], "implied": sigs, "weights": ws_w, "gamma": gam,
               "delta": Js, "stats": wss, "problems": probs}
    # baseline: thresholds free per group, correlations 0
    b_chisq, Ds = 0.0, []
    offs = np.cumsum([0] + [len(ws.th) for ws in wss])
    for g, (ws, w) in enumerate(zip(wss, ws_w)):
        nthg = len(ws.th)
        r_ = ws.obs.copy()
        r_[:nthg] = 0.0
        b_chisq += (nobs[g] - 1) * float(np.sum(w * r_ ** 2))
        D = np.zeros((len(ws.obs), int(offs[-1])))
        D[np.arange(nthg), offs[g] + np.arange(nthg)] = 1.0
        Ds.append(D)
    res.baseline_chisq = b_chisq
    res.baseline_df = int(sum(len(ws.obs) - len(ws.th) for ws in wss))
    if estimator == "WLSMV":
        tr, tr2 = robust.ugamma_traces(Ds, ws_w, gam, nobs)
        res.baseline_test_scaled = robust.scaled_test(b_chisq, res.baseline_df, tr, tr2,
                                                      "scaled.shifted")
    res.options.update({"estimator": estimator, "ordered": ordered, "parameterization": "delta",
                        "ordinal_id": ordinal_id,
                        "group": group, "group.equal": list(mg.group_equal),
                        "group.partial": sorted(f"{a}{o}{b}" for a, o, b in mg.group_partial
                                                if not (o == "~~" and a > b))})
    return res


@dataclass
class SampleStatsLite:
    """Per-group sample statistics of an ordinal fit: polychoric ``cov``, zero means."""

    nobs: int
    cov: np.ndarray
    mean: np.ndarray
    data: np.ndarray | None = None


def _fit_measures_wls(res: MultiGroupResult) -> pd.Series:
    """lavaan's fitMeasures() of a multi-group WLSMV / DWLS fit of ordinal items.

    The chi-square-based indices as for ML (``N`` the total sample size minus
    the number of groups, as lavaan for least-squares estimators,
    RMSEA with the sqrt(G) correction; the scaled versions from the
    scaled-shifted statistic with its df); the residual indices on the
    polychoric correlations (``srmr``: lavaan's choice for categorical data,
    the residuals of the correlations, diagonal included as zeros) and
    thresholds (``rmr``/``srmr_bentler``: thresholds as the "means"), ``n_g/N``
    weighted; ``wrmr = sqrt(chisq / nel)`` with nel the statistics of the
    first group (as lavaan); GFI with the DWLS weights; the robust CFI/TLI/
    RMSEA from the cat-ML statistic (:func:`_catml_robust`).
    """
    x, d, G = res.chisq, float(res.df), res.ngroups
    # lavaan (lav_utils_get_ntotal): N - G for least-squares estimators
    N = float(res.ntotal) - G
    x0, d0 = res.baseline_chisq, float(res.baseline_df)
    npar = float(res.npar)
    out: dict[str, float] = {"npar": npar, "fmin": res.fmin, "chisq": x, "df": d,
                             "pvalue": fi.chisq_pvalue(x, d)}
    ts, tb = res.test_scaled, res.baseline_test_scaled
    if ts is not None:
        out.update({"chisq.scaled": ts["stat"], "df.scaled": ts["df"],
                    "pvalue.scaled": ts["pvalue"], "chisq.scaling.factor": ts["scaling_factor"]})
    out.update({"baseline.chisq": x0, "baseline.df": d0,
                "baseline.pvalue": fi.chisq_pvalue(x0, d0)})
    if ts is not None and tb is not None:
        out.update({"baseline.chisq.scaled": tb["stat"], "baseline.df.scaled": tb["df"],
                    "baseline.pvalue.scaled": tb["pvalue"],
                    "baseline.chisq.scaling.factor": tb["scaling_factor"]})
    out.update({"cfi": fi.cfi(x, d, x0, d0), "tli": fi.tli(x, d, x0, d0)})
    if ts is not None and tb is not None:
        xs, x0s = ts["stat"], tb["stat"]
        out.update({"cfi.scaled": fi.cfi(xs, d, x0s, d0), "tli.scaled": fi.tli(xs, d, x0s, d0)})
    out.update({"nnfi": fi.tli(x, d, x0, d0), "rfi": fi.rfi(x, d, x0, d0),
                "nfi": fi.nfi(x, d, x0, d0), "pnfi": fi.pnfi(x, d, x0, d0),
                "ifi": fi.ifi(x, d, x0, d0), "rni": fi.rni(x, d, x0, d0)})
    if ts is not None and tb is not None:
        out.update({"nnfi.scaled": fi.tli(xs, d, x0s, d0), "rfi.scaled": fi.rfi(xs, d, x0s, d0),
                    "nfi.scaled": fi.nfi(xs, d, x0s, d0), "pnfi.scaled": fi.pnfi(xs, d, x0s, d0),
                    "ifi.scaled": fi.ifi(xs, d, x0s, d0), "rni.scaled": fi.rni(xs, d, x0s, d0)})
    sg = math.sqrt(G)
    out["rmsea"] = _rmsea(x, d, N, G)
    lo, hi = fi.rmsea_ci(x, d, N, 0.90)
    out.update({"rmsea.ci.lower": lo * sg, "rmsea.ci.upper": hi * sg, "rmsea.ci.level": 0.90,
                "rmsea.pvalue": fi.rmsea_pvalue(x, d, N, 0.05 / sg), "rmsea.close.h0": 0.05,
                "rmsea.notclose.pvalue": fi.rmsea_notclose_pvalue(x, d, N, 0.08 / sg),
                "rmsea.notclose.h0": 0.08})
    if ts is not None:
        out["rmsea.scaled"] = _rmsea(xs, d, N, G)
        lo, hi = fi.rmsea_ci(xs, d, N, 0.90)
        out.update({"rmsea.ci.lower.scaled": lo * sg, "rmsea.ci.upper.scaled": hi * sg,
                    "rmsea.pvalue.scaled": fi.rmsea_pvalue(xs, d, N, 0.05 / sg),
                    "rmsea.notclose.pvalue.scaled": fi.rmsea_notclose_pvalue(xs, d, N,
                                                                             0.08 / sg)})
    acc = {k: 0.0 for k in ("rmr", "rmr_nomean", "srmr", "srmr_bentler", "srmr_bentler_nomean",
                            "crmr", "crmr_nomean", "gfi")}
    w_ = res.wls
    for g in range(G):
        wg = res.nobs[g] / float(res.ntotal)
        ws = w_["stats"][g]
        nth = len(ws.th)
        e = w_["obs"][g] - w_["implied"][g]
        p = len(ws.cor)
        ecor = e[nth:]
        eth = e[:nth]
        ss_cor = float(np.sum(ecor ** 2))
        nomean = math.sqrt(ss_cor / (p * (p + 1) / 2))
        withmean = math.sqrt((ss_cor + float(np.sum(eth ** 2))) / (p * (p + 1) / 2 + nth))
        crmr_nm = math.sqrt(ss_cor / (p * (p - 1) / 2))
        crmr_m = math.sqrt((ss_cor + float(np.sum(eth ** 2))) / (p * (p - 1) / 2 + nth))
        sv = w_["obs"][g]
        wv = w_["weights"][g]
        gfi_g = 1.0 - float(np.sum(wv * e ** 2)) / float(np.sum(wv * sv ** 2))
        for k, v in (("rmr", withmean), ("rmr_nomean", nomean), ("srmr", nomean),
                     ("srmr_bentler", withmean), ("srmr_bentler_nomean", nomean),
                     ("crmr", crmr_m), ("crmr_nomean", crmr_nm), ("gfi", gfi_g)):
            acc[k] += wg * v
    out.update(acc)
    out["srmr_mplus"] = out["srmr_mplus_nomean"] = math.nan   # NA in lavaan (categorical)
    nel = float(sum(len(o) for o in w_["obs"]))
    out["agfi"] = fi.agfi(acc["gfi"], nel, d)
    out["pgfi"] = fi.pgfi(acc["gfi"], nel, d)
    out["cn_05"] = fi.hoelter_cn(x, d, N, 0.05)
    out["cn_01"] = fi.hoelter_cn(x, d, N, 0.01)
    out["mfi"] = fi.mfi(x, d, N)
    out["wrmr"] = math.sqrt(x / len(w_["obs"][0]))
    out.update(_catml_robust(res, N))
    return pd.Series(out, dtype=float, name="fit")


def _catml_robust(res: MultiGroupResult, N: float) -> dict:
    """lavaan's robust CFI/TLI/RMSEA for categorical data (``lav_fit_catml_dwls``;
    Savalei 2021).

    The normal-theory ML discrepancy of the model-implied correlations ``P_g``
    (at the WLSMV estimates) from the polychoric ``R_g`` gives
    ``XX3 = sum_g n_g (log|P| + tr(R P^-1) - log|R| - p)`` (baseline:
    ``-sum_g n_g log|R_g|``), with the correction ``c3 = tr(U' V U Gamma) / df``,
    ``U = I - Delta E^-1 Delta' W`` over the correlation rows, ``V`` the NT
    weight of the correlations at ``P``, and ``c3_null = tr(Gamma) / df_null``.
    As lavaan, NA when scale factors or item intercepts are free (the catML
    model then does not exist).
    """
    keys = ("cfi.robust", "tli.robust", "nnfi.robust", "rni.robust", "rmsea.robust",
            "rmsea.ci.lower.robust", "rmsea.ci.upper.robust", "rmsea.pvalue.robust",
            "rmsea.notclose.pvalue.robust")
    nan = {k: math.nan for k in keys}
    w_ = res.wls
    if res.test_scaled is None or res.E_inv is None:
        return nan
    for m in res.models:
        if any(r["par"] >= 0 and r["op"] in ("~*~",) or (r["op"] == "~1" and r["par"] >= 0
                                                          and r["lhs"] in m.observed)
               for r in m.rows):
            return nan
    G = res.ngroups
    n = np.array(res.nobs, dtype=float)
    fg = n / n.sum()
    XX3 = XX3n = 0.0
    Dc, Wc, Vc, Gc = [], [], [], []
    df3n = 0
    for g in range(G):
        ws, pr = w_["stats"][g], w_["problems"][g]
        p, nth = len(ws.cor), len(ws.th)
        vals, delta, Sig, _ = pr.derive(res.models[g].row_values(res.theta))
        P = Sig * np.outer(delta, delta)
        R = ws.cor
        sP, ldP = np.linalg.slogdet(P)
        sR, ldR = np.linalg.slogdet(R)
        if sP <= 0 or sR <= 0 or np.linalg.eigvalsh(R).min() < np.sqrt(np.finfo(float).eps):
            return nan
        Pi = np.linalg.inv(P)
        XX3 += n[g] * (ldP + np.trace(R @ Pi) - ldR - p)
        XX3n += n[g] * (-ldR)
        rr, cc = pr.r, pr.c
        Vc.append(fg[g] * (Pi[np.ix_(rr, rr)] * Pi[np.ix_(cc, cc)]
                           + Pi[np.ix_(rr, cc)] * Pi[np.ix_(cc, rr)]))
        Dc.append(w_["delta"][g][nth:])
        Wc.append(fg[g] * np.diag(w_["weights"][g][nth:]))
        Gc.append(w_["gamma"][g][nth:, nth:] / fg[g])
        df3n += p * (p - 1) // 2
    d = float(res.df)
    d0 = float(res.baseline_df)
    Vall, Wall = linalg.block_diag(*Vc), linalg.block_diag(*Wc)
    Gall, Dall = linalg.block_diag(*Gc), np.vstack(Dc)
    U = np.eye(len(Wall)) - Dall @ res.E_inv @ Dall.T @ Wall
    c3 = float(np.trace(U.T @ Vall @ U @ Gall)) / d if d > 0 else math.nan
    c3n = float(np.trace(Gall)) / df3n
    out = {"cfi.robust": _cfi_robust(XX3, d, XX3n, d0, c3, c3n),
           "tli.robust": _tli_robust(XX3, d, XX3n, d0, c3, c3n)}
    out["nnfi.robust"] = out["tli.robust"]
    t2 = XX3n - c3n * d0
    out["rni.robust"] = 1.0 - (XX3 - c3 * d) / t2 if t2 != 0 else math.nan
    sg, sc = math.sqrt(G), math.sqrt(c3) if c3 > 0 else math.nan
    xs = XX3 / c3
    out["rmsea.robust"] = _rmsea(XX3, d, N, G, c3)
    lo, hi = fi.rmsea_ci(xs, d, N, 0.90)
    out["rmsea.ci.lower.robust"], out["rmsea.ci.upper.robust"] = lo * sg * sc, hi * sg * sc
    out["rmsea.pvalue.robust"] = fi.rmsea_pvalue(xs, d, N, 0.05 / (sg * sc))
    out["rmsea.notclose.pvalue.robust"] = fi.rmsea_notclose_pvalue(xs, d, N, 0.08 / (sg * sc))
    return out
