"""The SEM diagnostics a committee expects, as report sections of any study.

Every section is driven by the wave's settings (:mod:`pipeline.cli.schema`:
``sem.compare_estimators``, ``sem.ordered``, ``sem.alternative_models``,
``diagnostics.*``, ``power.*``, ``invariance.*``) and computed by the engine
(:mod:`pipeline.sem`, :mod:`pipeline.psychometrics`); nothing here knows a
study.  The helpers (``estimator_comparison``, ``top_modification_indices``,
``largest_residuals``, ``mediation_alternatives``, ``compare_models``,
``harman_test``, ``validity_verdicts``, ``admissible_draws``,
``bootstrap_side_by_side``, ``population_syntax``, ``power_notes``,
``invariance_tables``) take explicit arguments and return tidy frames; the
``*_section`` functions take the analyze stage's context
(:class:`pipeline.workflow.wave._Context`) and write one section each:

============  ==============================================================
estimators    ML / MLR / WLSMV: fit table and key paths side by side
diagnostics   modification indices (top k, EPC) and standardized residuals
alternatives  direct effects only, full and partial mediation (and listed
              model files): chi-square difference, AIC, BIC
method_bias   Harman's single-factor test (one-factor CFA, unrotated EFA and
              first principal component's share; the .50 rule)
validity      AVE >= .50, HTMT < .85 / .90, Fornell-Larcker verdicts
bootstrap     intervals from all draws and from the admissible draws only
power         Monte Carlo N needed for each hypothesis not supported
invariance    configural / metric / scalar / strict across a grouping column
============  ==============================================================

In R: ``lavaan::sem(..., estimator=)``, ``modindices``, ``residuals(type=
"standardized")``, ``lavTestLRT``, ``semTools::htmt``/``AVE``,
``simsem::sim``, ``semTools::measEq.syntax``.
"""
from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["SECTIONS", "SECTION_TITLES", "estimator_comparison", "hypotheses_by_estimator",
           "top_modification_indices",
           "largest_residuals", "mediation_alternatives", "compare_models", "harman_test",
           "validity_verdicts", "admissible_draws", "bootstrap_side_by_side",
           "population_syntax", "power_notes", "invariance_tables", "invariance_section",
           "ordered_items"]

#: Default titles of the sections (a study's report spec overrides them).
SECTION_TITLES: dict[str, str] = {
    "estimators": "Estimator comparison",
    "diagnostics": "Modification indices and residuals",
    "alternatives": "Alternative models",
    "method_bias": "Common-method bias (Harman's single-factor test)",
    "validity": "Convergent and discriminant validity verdicts",
    "bootstrap": "Bootstrap with and without inadmissible draws",
    "power": "Power of the hypotheses not supported",
    "invariance": "Measurement invariance",
}

#: Fit measures of the estimator comparison (lavaan's names), in display order.
COMPARE_MEASURES = ("chisq", "df", "pvalue", "chisq.scaled", "df.scaled", "pvalue.scaled",
                    "chisq.scaling.factor", "cfi", "tli", "rmsea", "cfi.scaled", "tli.scaled",
                    "rmsea.scaled", "cfi.robust", "tli.robust", "rmsea.robust", "srmr")


# ===================================================================== helpers
def _observed(model: Any) -> list[str]:
    from pipeline.sem import build_model
    return list(build_model(model).observed)


def ordered_items(setting: Any, observed: Sequence[str], likert: Sequence[str]) -> list[str]:
    """The items a WLSMV fit declares ordered.

    ``setting``: ``"likert"`` (the codebook's Likert items among the model's
    observed variables), ``"all"`` (every observed variable), a list of
    names, or None / ``[]`` (none).

    Raises
    ------
    ValueError
        An unknown setting, or listed items the model does not observe.

    In R: the ``ordered =`` argument of ``lavaan::sem``.
    """
    if setting is None or setting == [] or setting is False:
        return []
    if setting == "likert":
        return [v for v in observed if v in set(likert)]
    if setting == "all":
        return list(observed)
    if isinstance(setting, (list, tuple)):
        unknown = [v for v in setting if v not in observed]
        if unknown:
            raise ValueError(f"sem.ordered: {unknown} are not observed variables of the model "
                             f"({list(observed)})")
        return list(setting)
    raise ValueError(f"sem.ordered must be 'likert', 'all', a list of items or null, "
                     f"got {setting!r}")


def _key_rows(pt: pd.DataFrame, effects: Sequence[str] = ()) -> pd.DataFrame:
    """Regressions (loadings when there are none) and the named ``:=`` effects."""
    reg = pt[pt.op == "~"]
    if not len(reg):
        reg = pt[pt.op == "=~"]
    defs = pt[(pt.op == ":=") & pt.lhs.isin(list(effects))]
    return pd.concat([reg, defs])


def _path_name(r: Any) -> str:
    if r.op == ":=":
        return str(r.lhs)
    if r.op == "=~":
        return f"{r.rhs} <--- {r.lhs}"
    return f"{r.lhs} <--- {r.rhs}"


def estimator_comparison(model: Any, data: pd.DataFrame, estimators: Sequence[str], *,
                         ordered: Sequence[str] = (), likelihood: str = "normal",
                         missing: str = "listwise", effects: Sequence[str] = (),
                         fits_out: dict | None = None
                         ) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Fit one model by several estimators; fit measures and key paths side by side.

    Parameters
    ----------
    model : str or Path
        lavaan syntax or a ``.lav`` file.
    data : DataFrame
    estimators : sequence of str
        lavaan names (``ML``, ``MLM``, ``MLR``, ``WLSMV`` ...).  WLSMV/DWLS
        declare *ordered* items ordinal (skipped, with a note, when there are
        none); the others treat every item as continuous.
    ordered : sequence of str
    likelihood, missing
        Of the ML-family fits (``missing="fiml"`` with MLR: lavaan's
        ``missing="ml"``; WLSMV always uses complete cases here).
    effects : sequence of str
        ``:=`` effects shown with the regressions.
    fits_out : dict, optional
        Filled with estimator -> fitted result.

    Returns
    -------
    fit : DataFrame
        Rows :data:`COMPARE_MEASURES` present in any fit, one column per
        estimator (NaN where the estimator has no such measure).
    paths : DataFrame
        One row per regression (loading when there is none) and effect;
        columns ``<E> est``, ``<E> se``, ``<E> pvalue``, ``<E> std.all``.
    notes : list of str
        Estimators skipped and why; inadmissible fits.

    In R: ``sem(model, data, estimator = E, ordered = ...)``, ``fitMeasures``,
    ``parameterEstimates(fit, standardized = TRUE)``.
    """
    from pipeline.core.exceptions import ModelSpecificationError
    from pipeline.sem import fit
    fits, notes = {}, []
    for e in estimators:
        E = str(e).upper()
        kw: dict[str, Any] = {"estimator": E}
        if E in ("WLSMV", "DWLS", "ULSMV"):
            if not ordered:
                notes.append(f"{E} not fitted: no ordinal items (settings sem.ordered)")
                continue
            kw["ordered"] = list(ordered)
        else:
            kw.update(likelihood=likelihood if E == "ML" else "normal", missing=missing)
        try:
            r = fit(model, data, emit_warnings=False, **kw)
            r.fit_measures()
        except (ValueError, ModelSpecificationError, np.linalg.LinAlgError) as exc:
            notes.append(f"{E} not fitted: {exc}")
            continue
        if not r.admissible:
            notes.append(f"{E}: inadmissible solution ({'; '.join(r.warnings)})")
        fits[E] = r
    if fits_out is not None:
        fits_out.update(fits)
    cols = {}
    for E, r in fits.items():
        fm = r.fit_measures()
        cols[E] = pd.Series({m: float(fm[m]) for m in COMPARE_MEASURES if m in fm.index})
    fit_df = pd.DataFrame(cols).reindex([m for m in COMPARE_MEASURES
                                         if any(m in c.index for c in cols.values())])
    fit_df.index.name = "measure"
    parts = []
    for E, r in fits.items():
        rows = _key_rows(r.parameters, effects)
        t = pd.DataFrame({f"{E} {c}": rows[c].to_numpy() for c in ("est", "se", "pvalue",
                                                                     "std.all")},
                         index=[_path_name(x) for x in rows.itertuples()])
        parts.append(t)
    paths_df = pd.concat(parts, axis=1) if parts else pd.DataFrame()
    paths_df.index.name = "path"
    return fit_df, paths_df, notes


def hypotheses_by_estimator(spec: Mapping[str, Any], fits: Mapping[str, Any]) -> pd.DataFrame:
    """The Wald-tested hypotheses decided under each estimator's fit.

    Bootstrap-tested hypotheses are left out (one bootstrap, of the main fit,
    decides them).  Columns ``<E> estimate``, ``<E> pvalue``, ``<E> decision``.

    In R: ``parameterEstimates(fit)`` of each ``sem(..., estimator = E)``.
    """
    from pipeline.sem.hypotheses import hypotheses_table
    tests = [t for t in spec.get("tests") or [] if t.get("test", "wald") == "wald"]
    if not tests:
        return pd.DataFrame()
    parts = []
    for E, r in fits.items():
        t = hypotheses_table({**spec, "tests": tests}, r)
        p = "pvalue.adj" if "pvalue.adj" in t.columns else "pvalue"
        parts.append(pd.DataFrame({f"{E} estimate": t["estimate"], f"{E} pvalue": t[p],
                                   f"{E} decision": t["decision"]}))
    return pd.concat(parts, axis=1) if parts else pd.DataFrame()


def top_modification_indices(result: Any, top: int = 10) -> pd.DataFrame:
    """The *top* largest modification indices with EPC (lavaan's columns).

    In R: ``head(modindices(fit, sort. = TRUE), top)``.
    """
    if int(top) < 1:
        raise ValueError(f"top must be a positive integer, got {top!r}")
    mi = result.modification_indices(sort=True)
    out = mi.head(int(top)).copy()
    out["p"] = stats.chi2.sf(out["mi"].to_numpy(dtype=float), 1)
    return out.reset_index(drop=True)


def largest_residuals(result: Any, top: int = 10) -> pd.DataFrame:
    """The *top* largest absolute standardized residuals (distinct pairs, diagonal included).

    Returns ``var1 var2 std.resid cor.resid flag`` sorted by ``|std.resid|``;
    ``flag`` marks ``|z| > 2.58`` (``**``) and ``|z| > 1.96`` (``*``).

    In R: ``residuals(fit, type = "standardized")$cov`` and
    ``residuals(fit, type = "cor")$cov``.
    """
    if int(top) < 1:
        raise ValueError(f"top must be a positive integer, got {top!r}")
    z = result.residuals("standardized")
    c = result.residuals("cor")
    names = list(z.index)
    rows = []
    for i in range(len(names)):
        for j in range(i + 1):
            v = float(z.iat[i, j])
            if np.isfinite(v):
                rows.append({"var1": names[i], "var2": names[j], "std.resid": v,
                             "cor.resid": float(c.iat[i, j])})
    out = pd.DataFrame(rows, columns=["var1", "var2", "std.resid", "cor.resid"])
    out = out.iloc[np.argsort(-out["std.resid"].abs().to_numpy(), kind="mergesort")]
    out = out.head(int(top)).reset_index(drop=True)
    a = out["std.resid"].abs()
    out["flag"] = np.where(a > 2.58, "**", np.where(a > 1.96, "*", ""))
    return out


# ------------------------------------------------------------ alternatives
def _regressions(parsed: Any) -> list[tuple[str, str]]:
    return [(f.lhs, t.name) for f in parsed.formulas if f.op == "~" for t in f.terms
            if t.name != "1"]


def mediation_alternatives(model: Any) -> dict[str, tuple[Any, str]]:
    """Direct-effects-only, full- and partial-mediation variants of a model's regressions.

    A mediator ``M`` is a variable regressed on some ``X`` (``M ~ X``) that
    predicts an outcome ``Y`` (``Y ~ M``).  From the paths ``X -> M -> Y``:

    * ``partial mediation``: every ``X -> M``, ``M -> Y`` and direct ``X -> Y``
      path free (direct paths added where the model has none);
    * ``full mediation``: the direct ``X -> Y`` paths fixed to 0;
    * ``direct effects only``: the ``X -> M`` and ``M -> Y`` paths fixed to 0,
      the direct paths free.

    Paths are fixed to 0 rather than removed, so every variable stays in the
    model and the two restricted models are nested in the partial one (the
    chi-square difference test applies).  ``:=`` definitions are dropped.

    Parameters
    ----------
    model : str, Path or ParsedModel

    Returns
    -------
    dict
        name -> (ParsedModel, description of what changed); empty when the
        model has no mediator.

    Raises
    ------
    ValueError
        When a constraint (``==``, ``<``, ``>``) names a label of a path that
        an alternative fixes.

    References: Baron & Kenny (1986); Zhao, Lynch & Chen (2010), J Consum Res
    37, 197-206 (direct-only, indirect-only and complementary mediation).

    In R: the same model with ``0*`` on the fixed paths, e.g.
    ``speed ~ textual + 0*visual``.
    """
    from pipeline.sem.syntax import Formula, ParsedModel, Term, parse_model
    if isinstance(model, ParsedModel):
        parsed = model
    else:
        p = Path(str(model))
        text = p.read_text(encoding="utf-8") if "\n" not in str(model) and p.suffix == ".lav" \
            and p.is_file() else str(model)
        parsed = parse_model(text)
    regs = _regressions(parsed)
    pred: dict[str, set[str]] = {}
    for y, x in regs:
        pred.setdefault(y, set()).add(x)
    triples = sorted({(x, m, y) for y, ms in pred.items() for m in ms for x in pred.get(m, ())
                      if x != y})
    if not triples:
        return {}
    mediation = sorted({(m, x) for x, m, _ in triples} | {(y, m) for _, m, y in triples})
    direct = sorted({(y, x) for x, _, y in triples})

    def variant(fixed: set[tuple[str, str]], add: Sequence[tuple[str, str]]) -> ParsedModel:
        forms = []
        dropped_labels = set()
        for f in parsed.formulas:
            if f.op == ":=":
                continue
            f2 = copy.deepcopy(f)
            if f.op == "~":
                for t in f2.terms:
                    if (f.lhs, t.name) in fixed:
                        if t.label:
                            dropped_labels.add(t.label)
                        t.fixed, t.label, t.free, t.start = 0.0, "", False, None
            forms.append(f2)
        for f in forms:
            if f.op in ("==", "<", ">"):
                expr = f"{f.lhs} {f.expr}"
                hit = [lab for lab in dropped_labels if lab in expr.replace("(", " ").replace(
                    ")", " ").replace("*", " ").replace("+", " ").replace("-", " ").split()]
                if hit:
                    raise ValueError(f"the constraint '{f.text or expr}' names {hit}, a path an "
                                     "alternative model fixes to 0")
        have = set(_regressions(ParsedModel(forms, parsed.text)))
        line = max((f.line for f in parsed.formulas), default=0)
        for y, x in add:
            if (y, x) not in have:
                line += 1
                forms.append(Formula(lhs=y, op="~", terms=[Term(name=x)], line=line,
                                     text=f"{y} ~ {x}"))
        return ParsedModel(forms, parsed.text)

    desc = lambda ps: ", ".join(f"{y} ~ {x}" for y, x in ps)  # noqa: E731
    added = [(y, x) for y, x in direct if (y, x) not in set(regs)]
    out = {"partial mediation": (variant(set(), direct),
                                 "every mediated and direct path free"
                                 + (f"; added: {desc(added)}" if added else "")),
           "full mediation": (variant(set(direct), ()),
                              f"direct paths fixed to 0: {desc(direct)}"),
           "direct effects only": (variant(set(mediation), direct),
                                   f"mediated paths fixed to 0: {desc(mediation)}"
                                   + (f"; direct paths added: {desc(added)}" if added else ""))}
    return out


def compare_models(fits: Mapping[str, Any], reference: str) -> pd.DataFrame:
    """Fit of several models and the chi-square difference of each against *reference*.

    Parameters
    ----------
    fits : mapping name -> fitted result
    reference : str
        The least restricted model (its row has no difference test).

    Returns
    -------
    DataFrame indexed by model: ``npar chisq df pvalue cfi rmsea aic bic
    chisq_diff df_diff p_diff`` (no p for a model with the reference's df: an
    equivalent or non-nested model); the difference from
    :func:`pipeline.sem.lrt.lrt` (plain for ML, scaled for MLM/MLR:
    ``lavTestLRT``'s default).  ``aic = -2 logL + 2 npar``,
    ``bic = -2 logL + npar ln N``.

    In R: ``lavTestLRT(fit_partial, fit_full)``; ``fitMeasures(fit, c("aic", "bic"))``.
    """
    from pipeline.sem.lrt import lrt
    if reference not in fits:
        raise ValueError(f"reference={reference!r} is not one of {list(fits)}")
    rows = {}
    for name, r in fits.items():
        fm = r.fit_measures()
        row = {"npar": int(r.npar), **{m: float(fm[m]) for m in
                                       ("chisq", "df", "pvalue", "cfi", "rmsea", "aic", "bic")
                                       if m in fm.index}}
        row.update(chisq_diff=np.nan, df_diff=np.nan, p_diff=np.nan)
        if name != reference and int(r.df) == int(fits[reference].df):
            row.update(chisq_diff=float(r.chisq) - float(fits[reference].chisq), df_diff=0)
        elif name != reference:
            d = lrt(fits[reference], r)
            row.update(chisq_diff=float(d["chisq_diff"]), df_diff=int(d["df_diff"]),
                       p_diff=float(d["pvalue"]))
        rows[name] = row
    out = pd.DataFrame(rows).T
    out.index.name = "model"
    for c in ("npar", "df"):
        out[c] = out[c].astype(int)
    return out


# ------------------------------------------------------------ Harman
def harman_test(data: pd.DataFrame, items: Sequence[str], *, likelihood: str = "normal",
                missing: str = "listwise", efa_method: str = "minres",
                threshold: float = 0.50) -> dict[str, Any]:
    """Harman's single-factor test for common-method variance.

    All *items* are loaded on one factor three ways (complete cases):

    * the first unrotated principal component: share = lambda_1 / p (the
      largest eigenvalue of the correlation matrix over the number of items);
    * a one-factor unrotated EFA (*efa_method*): share = sum of squared
      loadings / p;
    * a one-factor CFA (ML): its fit.

    The .50 rule (Podsakoff, MacKenzie, Lee & Podsakoff 2003): common-method
    bias is a concern when one factor accounts for the majority (> .50) of
    the variance.  Harman's test is insensitive (a pass does not rule the
    bias out).

    Returns
    -------
    dict with ``pc_share``, ``efa_share``, ``threshold``, ``concern``
    (bool: the larger share exceeds *threshold*), ``n``, ``p`` and ``cfa``
    (the fitted one-factor model).

    In R: ``psych::principal(X, 1, rotate = "none")$Vaccounted``,
    ``psych::fa(X, 1, rotate = "none")``, ``cfa("F =~ x1 + ... + xp", X)``.
    """
    from pipeline.psychometrics.efa import extract
    from pipeline.sem import fit
    items = list(items)
    if len(items) < 3:
        raise ValueError(f"items: Harman's test needs at least 3 items, got {items}")
    missing_cols = [i for i in items if i not in data.columns]
    if missing_cols:
        raise ValueError(f"items: {missing_cols} are not columns of the data")
    X = data[items].apply(pd.to_numeric, errors="coerce").dropna()
    R = np.corrcoef(X.to_numpy(dtype=float), rowvar=False)
    ev = np.linalg.eigvalsh(R)
    p = len(items)
    pc_share = float(ev[-1] / p)
    ex = extract(R, 1, efa_method)
    efa_share = float(np.sum(np.asarray(ex["loadings"]) ** 2) / p)
    name = "SingleFactor"
    while name in items:
        name += "_"
    res = fit(f"{name} =~ " + " + ".join(items), data[items] if missing == "fiml" else X,
              likelihood=likelihood, missing=missing, emit_warnings=False)
    return {"pc_share": pc_share, "efa_share": efa_share, "threshold": float(threshold),
            "concern": bool(max(pc_share, efa_share) > threshold), "n": int(len(X)), "p": p,
            "cfa": res, "efa_method": efa_method}


# ------------------------------------------------------------ validity
def validity_verdicts(val: Any, *, ave_min: float = 0.50, cr_min: float = 0.70,
                      htmt_max: Sequence[float] = (0.85, 0.90)) -> tuple[pd.DataFrame,
                                                                         pd.DataFrame]:
    """Convergent and discriminant validity verdicts from a :class:`ValidityResult`.

    * convergent: ``AVE >= ave_min`` (.50; Fornell & Larcker 1981) and
      ``CR >= cr_min`` (.70; Hair et al.);
    * discriminant: Fornell-Larcker (sqrt(AVE) above every correlation of the
      construct) and HTMT below .85 (strict, Kline) and .90 (liberal; Henseler,
      Ringle & Sarstedt 2015).

    Returns
    -------
    per_construct : DataFrame
        ``n_items cr ave sqrt_ave max_r max_htmt max_htmt_with`` and a verdict
        column per rule (``meets`` / ``fails`` / ``not estimable``).
    pairs : DataFrame
        Every pair of constructs: ``r`` (latent correlation), ``htmt`` and the
        HTMT verdicts.

    In R: ``semTools::AVE``, ``semTools::compRelSEM``, ``semTools::htmt``.
    """
    t = val.table.copy()
    lo, hi = sorted(float(h) for h in htmt_max)
    v = lambda ok, x: "not estimable" if not np.isfinite(x) else ("meets" if ok else "fails")  # noqa: E731
    out = t[[c for c in ("n_items", "cr", "ave", "sqrt_ave", "max_r") if c in t.columns]].copy()
    H = val.htmt
    names = list(t.index)
    mh, mw = [], []
    for c in names:
        if H is None or c not in H.index:
            mh.append(np.nan)
            mw.append("")
            continue
        row = H.loc[c].drop(c).astype(float)
        row = row[np.isfinite(row.to_numpy())]
        mh.append(float(row.max()) if len(row) else np.nan)
        mw.append(str(row.idxmax()) if len(row) else "")
    out["max_htmt"] = mh
    out["max_htmt_with"] = mw
    out[f"AVE >= {ave_min:.2f}"] = [v(a >= ave_min, a) for a in out["ave"].astype(float)]
    out[f"CR >= {cr_min:.2f}"] = [v(a >= cr_min, a) for a in out["cr"].astype(float)]
    out["Fornell-Larcker"] = [v(s > m, s - m) for s, m in zip(out["sqrt_ave"].astype(float),
                                                              out["max_r"].astype(float))]
    out[f"HTMT < {lo:.2f}"] = [v(h < lo, h) for h in out["max_htmt"]]
    out[f"HTMT < {hi:.2f}"] = [v(h < hi, h) for h in out["max_htmt"]]
    out.index.name = "construct"
    prs = []
    phi = val.latent_correlations
    for a in range(len(names)):
        for b in range(a + 1, len(names)):
            h = float(H.loc[names[a], names[b]]) if H is not None else np.nan
            prs.append({"construct 1": names[a], "construct 2": names[b],
                        "r": float(phi.loc[names[a], names[b]]), "htmt": h,
                        f"HTMT < {lo:.2f}": v(h < lo, h), f"HTMT < {hi:.2f}": v(h < hi, h)})
    pairs = pd.DataFrame(prs)
    if len(pairs):
        pairs = pairs.set_index(["construct 1", "construct 2"])
    return out, pairs


# ------------------------------------------------------------ bootstrap
def admissible_draws(result: Any, boot: Any) -> np.ndarray:
    """Per-draw admissibility of a bootstrap's kept draws (True = admissible).

    A draw is inadmissible when a variance estimate is negative, or the
    model-implied covariance matrix of the observed variables or of the
    latent variables is not positive definite: the rules of
    :func:`pipeline.sem.bootstrap.bootstrap` (engine loop) and of
    :class:`pipeline.sem.fast.FastML` (fast path).

    In R: ``lavaan:::lav_object_inspect_admissible`` on each
    ``bootstrapLavaan`` draw.
    """
    model, est, st = result.model, result.estimator, result.stats
    D = np.asarray(boot.draws, dtype=float)
    var_par = np.array([r["par"] for r in model.rows
                        if r["op"] == "~~" and r["lhs"] == r["rhs"] and r["par"] >= 0], dtype=int)
    p = len(model.observed)
    tol = np.finfo(float).eps ** 0.75
    ok = np.ones(len(D), dtype=bool)
    for b in range(len(D)):
        theta = D[b, :model.npar]
        if len(var_par) and np.any(theta[var_par] < 0):
            ok[b] = False
            continue
        mom = model.moments(est.values(theta, st))
        Sig = np.asarray(mom[0])
        if np.linalg.eigvalsh((Sig + Sig.T) / 2).min() <= 0:
            ok[b] = False
            continue
        C = np.asarray(mom[3])
        if C.shape[0] > p:
            L = C[p:, p:]
            if np.linalg.eigvalsh((L + L.T) / 2).min() < -tol:
                ok[b] = False
    return ok


def bootstrap_side_by_side(result: Any, boot: Any, *, ops: Sequence[str] = ("~", ":="),
                           mask: np.ndarray | None = None) -> pd.DataFrame:
    """Percentile and bias-corrected intervals from all kept draws and from the admissible ones.

    Columns: ``est``, then ``se ci.lower ci.upper ci.lower.bc ci.upper.bc``
    prefixed ``all:`` and ``admissible:``, and ``n`` of each.

    In R: ``parameterEstimates(fit, boot.ci.type = "perc" | "bca.simple")``
    on ``se = "bootstrap"`` fits with and without the inadmissible draws.
    """
    from pipeline.sem.bootstrap import bc_ci, percentile_ci
    mask = admissible_draws(result, boot) if mask is None else np.asarray(mask, dtype=bool)
    D = np.asarray(boot.draws, dtype=float)
    model = result.model
    params = getattr(result, "parameters_ml", None)
    params = result.parameters if params is None else params
    nrow = len(model.rows)
    recs, names = [], []
    for i, r in enumerate(params.itertuples(index=False)):
        if r.op not in ops:
            continue
        j = model.rows[i]["par"] if i < nrow else model.npar + (i - nrow)
        if j < 0:
            continue
        rec = {"est": float(r.est)}
        for tag, sel in (("all", np.ones(len(D), bool)), ("admissible", mask)):
            t = D[sel, j]
            t = t[np.isfinite(t)]
            if len(t) > 1:
                lo, hi = percentile_ci(t, boot.level)
                blo, bhi = bc_ci(t, float(r.est), boot.level)
                se = float(np.std(t, ddof=1))
            else:
                lo = hi = blo = bhi = se = np.nan
            rec.update({f"{tag}: se": se, f"{tag}: ci.lower": lo, f"{tag}: ci.upper": hi,
                        f"{tag}: ci.lower.bc": blo, f"{tag}: ci.upper.bc": bhi})
        recs.append(rec)
        names.append(_path_name(r))
    out = pd.DataFrame(recs, index=pd.Index(names, name="parameter"))
    return out


# ------------------------------------------------------------ power
def population_syntax(result: Any) -> str:
    """A population model (lavaan syntax with values) of a fitted model's standardized solution.

    Loadings, regressions and covariances take their ``std.all`` values;
    variances are left to :func:`pipeline.sem.implied_moments`'s unit
    total-variance rule, so the population reproduces the standardized
    solution.  Intercepts and thresholds are left out (zero means).

    In R: ``simulateData(standardizedSolution(fit))``-style population.
    """
    pt = result.parameters
    lines = []
    for r in pt.to_dict("records"):
        lhs, op, rhs = r["lhs"], r["op"], r["rhs"]
        if op not in ("=~", "~", "~~") or (op == "~~" and lhs == rhs):
            continue
        v = float(r["std.all"])
        if not np.isfinite(v) or (op == "~~" and v == 0.0):
            continue
        lines.append(f"{lhs} {op} {v!r}*{rhs}")
    return "\n".join(lines) + "\n"


def _unsupported_effects(spec: Mapping[str, Any], table: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for t in spec.get("tests") or []:
        hid = t["id"]
        if hid not in table.index or table.loc[hid, "decision"] != "Not supported":
            continue
        alpha = float(t.get("alpha") or spec.get("alpha", 0.05))
        direction = t.get("direction", "positive")
        if t.get("effect") is not None:
            out.append({"hypothesis": hid, "effect": str(t["effect"]), "define": None,
                        "direction": direction, "alpha": alpha, "test": t.get("test", "wald")})
        elif t.get("compare"):
            a, b = map(str, t["compare"])
            out.append({"hypothesis": hid, "effect": f"{hid}_diff",
                        "define": f"({a}) - ({b})", "direction": direction, "alpha": alpha,
                        "test": t.get("test", "wald"), "parts": (a, b)})
        for e in t.get("all_of") or []:
            out.append({"hypothesis": hid, "effect": str(e), "define": None,
                        "direction": direction, "alpha": alpha, "test": t.get("test", "wald")})
    return out


def _find_row(pt: pd.DataFrame, name: str) -> pd.Series | None:
    from pipeline.sem.hypotheses import find_parameter
    try:
        return pt.reset_index(drop=True).iloc[find_parameter(pt.reset_index(drop=True), name)]
    except (KeyError, ValueError, IndexError):
        return None


def power_notes(result: Any, spec: Mapping[str, Any], table: pd.DataFrame, model_text: str, *,
                reps: int = 200, ns: Sequence[int] | None = None, target: float = 0.80,
                seed: int = 1, workers: int | None = None, max_n: int = 20000
                ) -> tuple[pd.DataFrame, Any]:
    """The N needed for each hypothesis that is not supported, by Monte Carlo and by the Wald formula.

    The population is the fitted model's standardized solution
    (:func:`population_syntax`); the analysis model is the study's model
    (plus ``:=`` differences for ``compare`` tests), fitted by ML to
    continuous normal data (:func:`pipeline.sem.power.power_analysis`).  The
    analytic N is ``N (z_{1-alpha/2} + z_target)^2 / z^2`` with ``z`` the
    observed Wald statistic (Cohen 1988; Satorra & Saris 1985's
    approximation).  The Monte Carlo grid is *ns*, by default ``N``, each
    analytic N and twice the largest of them (capped at *max_n*).

    Returns
    -------
    notes : DataFrame
        Per (hypothesis, effect): ``estimate z direction_ok n_analytic
        n_needed`` (the smallest grid N with power >= target; NaN if none)
        and ``power@N`` columns.
    power : PowerResult or None

    In R: ``simsem::sim(reps, model, n = ..., generate = population)``,
    ``simsem::getPower``.
    """
    from pipeline.sem.power import power_analysis
    if not 0 < target < 1:
        raise ValueError(f"target must be in (0, 1), got {target!r}")
    effs = _unsupported_effects(spec, table)
    if not effs:
        return pd.DataFrame(), None
    pt = getattr(result, "parameters_ml", None)
    pt = result.parameters if pt is None else pt
    N = int(result.nobs)
    extra = []
    rows = []
    for e in effs:
        r = _find_row(pt, e["effect"]) if e["define"] is None else None
        if e["define"] is not None:
            a, b = (_find_row(pt, x) for x in e["parts"])
            if a is None or b is None or a.op not in (":=",) and not a.label \
                    or b.op not in (":=",) and not b.label:
                rows.append({**e, "estimate": np.nan, "z": np.nan, "note": "the compared effects "
                             "are not labels or := effects of the model; not computed"})
                continue
            na = a.lhs if a.op == ":=" else a.label
            nb = b.lhs if b.op == ":=" else b.label
            extra.append(f"{e['effect']} := ({na}) - ({nb})")
            est = float(a.est) - float(b.est)
            z = table.loc[e["hypothesis"], "z"] if "z" in table.columns else np.nan
            rows.append({**e, "estimate": est, "z": float(z), "note": ""})
            continue
        if r is None:
            rows.append({**e, "estimate": np.nan, "z": np.nan, "note": "effect not found"})
            continue
        z = float(r.est) / float(r.se) if float(r.se or 0) > 0 else np.nan
        rows.append({**e, "estimate": float(r.est), "z": z, "note": "", "_row": r})
    zt = float(stats.norm.ppf(target))
    for row in rows:
        za = float(stats.norm.ppf(1 - row["alpha"] / 2))
        z = row["z"]
        row["direction_ok"] = bool(np.isfinite(z) and (
            row["direction"] == "nonzero" or (row["direction"] == "positive") == (z > 0)))
        row["n_analytic"] = (int(min(math.ceil(N * ((za + zt) / z) ** 2), 10 ** 9))
                             if np.isfinite(z) and z != 0 else np.nan)
    if ns is None:
        an = [int(min(max(r["n_analytic"], 10), max_n)) for r in rows
              if np.isfinite(r["n_analytic"]) and r["direction_ok"]]
        ns = sorted({N, *an, int(min(2 * max(an + [N]), max_n))})
    ns = sorted({int(n) for n in ns})
    text = model_text.rstrip("\n") + "\n" + "\n".join(extra) + ("\n" if extra else "")
    pr = power_analysis(population_syntax(result), text, ns, int(reps), seed=int(seed),
                        alpha=float(min(r["alpha"] for r in rows)), progress=False,
                        workers=workers)
    pp = pr.parameters
    out = []
    for row in rows:
        rec = {"hypothesis": row["hypothesis"], "effect": row["effect"], "test": row["test"],
               "direction": row["direction"], "estimate": row["estimate"], "z": row["z"],
               "direction_ok": row["direction_ok"], "n_analytic": row["n_analytic"]}
        sel = _power_rows(pp, row)
        needed = np.nan
        for n in ns:
            s = sel[sel["n"] == n]
            pw = float(s["power"].iloc[0]) if len(s) else np.nan
            rec[f"power@{n}"] = pw
            if np.isfinite(pw) and pw >= target and not np.isfinite(needed) and row["direction_ok"]:
                needed = n
        rec["n_needed"] = needed
        rec["note"] = row["note"] or ("" if row["direction_ok"] else
                                      "estimate has the opposite sign: more respondents would "
                                      "not support the stated direction")
        out.append(rec)
    df = pd.DataFrame(out).set_index(["hypothesis", "effect"])
    return df, pr


def _power_rows(pp: pd.DataFrame, row: Mapping[str, Any]) -> pd.DataFrame:
    eff = row["effect"]
    sel = pp[(pp["op"] == ":=") & (pp["lhs"] == eff)]
    if not len(sel) and "label" in pp.columns:
        sel = pp[pp["label"] == eff]
    if not len(sel) and "_row" in row:
        r = row["_row"]
        sel = pp[(pp["lhs"] == r.lhs) & (pp["op"] == r.op) & (pp["rhs"] == r.rhs)]
    return sel


# ------------------------------------------------------------ invariance
def invariance_tables(inv: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The steps and the score-test suggestions of an :class:`InvarianceResult` for a report.

    In R: ``lavTestLRT(configural, metric, scalar, strict)`` and
    ``lavTestScore(fit)$uni``.
    """
    cols = ["name", "chisq", "df", "cfi", "rmsea", "srmr", "chisq_diff", "df_diff", "p_diff",
            "delta_cfi", "delta_rmsea", "delta_srmr", "decision"]
    st = inv.steps[[c for c in cols if c in inv.steps.columns]].set_index("name")
    st.index.name = "step"
    sg = inv.suggestions
    if len(sg):
        sg = sg[[c for c in ("step", "parameter", "X2", "df", "p_value", "constraint")
                 if c in sg.columns]].set_index(["step", "parameter"])
    return st, sg


def invariance_section(writer: Any, model: Any, data: pd.DataFrame, group: str,
                       settings: Mapping[str, Any], *, model_name: str = "") -> bool:
    """Write the invariance tables of *model* across *group* into a section writer.

    *settings* is the ``invariance`` settings group (estimator, ordered,
    decision_rule, alpha, partial, max_free, steps).  Returns True when
    something was written; a failure (too few respondents in a group, a
    model that does not converge) becomes a warning of the section.

    In R: ``semTools::measEq.syntax`` or ``cfa(model, data, group = group,
    group.equal = ...)`` per step, ``lavTestLRT``, ``lavTestScore``.
    """
    from pipeline.core.exceptions import ModelSpecificationError, PipelineWarning
    from pipeline.sem.invariance import RULES, measurement_invariance
    import warnings
    d = data[data[group].notna()]
    sizes = d[group].value_counts(sort=False)
    sizes = sizes.reindex(list(pd.unique(d[group])))
    t = sizes.to_frame("n")
    t.index.name = group
    writer.table("sizes", t, digits=0, caption=f"Respondents by {group}")
    if len(sizes) < 2:
        writer.warning(f"invariance not tested: {group!r} has {len(sizes)} group(s)")
        return True
    try:
        with warnings.catch_warnings(record=True) as log:
            warnings.simplefilter("always", PipelineWarning)
            inv = measurement_invariance(
                model, d, group, estimator=settings.get("estimator") or "ML",
                ordered=settings.get("ordered") or None,
                steps=settings.get("steps") or None,
                decision_rule=settings.get("decision_rule") or "chen_2007",
                alpha=float(settings.get("alpha") or 0.05),
                partial=bool(settings.get("partial", True)),
                max_free=int(settings.get("max_free") or 5))
    except (ValueError, ModelSpecificationError, np.linalg.LinAlgError) as exc:
        writer.warning(f"invariance not tested: {exc}")
        return True
    st, sg = invariance_tables(inv)
    rule = inv.decision_rule
    writer.text(
        f"Multi-group CFA of `{model_name}` across **{group}** ("
        + ", ".join(f"{g}: n = {n}" for g, n in zip(inv.groups, inv.nobs))
        + f"), estimator {inv.estimator}; each step is compared with the one before by the "
        f"{inv.difference_test} chi-square difference test (lavTestLRT). Decision rule "
        f"**{rule}**: {RULES[rule]}. Indices: "
        + ", ".join(f"{k} = {v}" for k, v in inv.indices.items()) + ".")
    writer.table("steps", st, caption=f"Measurement invariance across {group}: configural, "
                 "metric, scalar, strict (Δ = step minus the step before)")
    if len(sg):
        writer.table("suggestions", sg, caption="Score tests (lavTestScore) of the constraints "
                     "of the failing steps: the parameters to free for partial invariance")
    bad = [name for name, f in inv.fits.items() if not getattr(f, "admissible", True)]
    if bad:
        writer.warning("Inadmissible solutions (negative variances) in: " + ", ".join(bad)
                       + ". Their fit and the decisions that rest on them are for diagnosis "
                       "only.")
    failed = [s for s, dcs in st["decision"].items() if dcs == "fails"]
    holds = [s for s, dcs in st["decision"].items() if dcs == "holds"]
    writer.text(("Invariance holds for: " + ", ".join(holds) + ". " if holds else "")
                + ("Fails at: " + ", ".join(failed) + ". Each step is tested against the one "
                   "before it, so a step after a failure holds only conditionally (partial "
                   "invariance: the freed parameters stay free)." if failed else ""))
    small = [f"{g} (n = {n})" for g, n in zip(inv.groups, inv.nobs)
             if n < 10 * max(1, len(_observed(model)))]
    if small:
        writer.warning("Small groups for a multi-group CFA: " + ", ".join(small)
                       + "; the difference tests have little power and Chen's (2007) cutoffs "
                       "were derived for groups above 300.")
    def _text(w: str) -> str:       # without "<step>: " and "<Class>Warning: "
        parts = str(w).split(": ")
        return parts[-1]
    seen: set[str] = set()
    for w in list(inv.warnings) + [f"{x.category.__name__}: {x.message}" for x in log]:
        if _text(w) not in seen:     # the steps' own lists repeat the captured warnings
            seen.add(_text(w))
            writer.warning(str(w))
    return True


# ===================================================================== sections
def _main(ctx: Any) -> tuple[Any, str, str] | None:
    """The wave's main fitted model: the structural model, else the measurement model."""
    if ctx.sem is not None:
        return ctx.sem[0], ctx.ws["sem"]["model"], "structural model"
    if ctx.cfa is not None:
        return ctx.cfa[0], ctx.ws["sem"]["cfa_model"], "measurement model"
    return None


def _effect_names(ctx: Any) -> list[str]:
    names = []
    for t in ctx.hypotheses.get("tests") or []:
        for n in ([t["effect"]] if t.get("effect") is not None else []) + \
                list(t.get("compare") or []) + list(t.get("all_of") or []):
            if str(n) not in names:
                names.append(str(n))
    return names


def _ordered_setting(ctx: Any, group: str, setting: Any, observed: Sequence[str]) -> list[str]:
    from pipeline.cli.schema import SettingsError
    try:
        return ordered_items(setting, observed, list(ctx.cb.likert_items))
    except ValueError as exc:
        raise SettingsError(f"waves.{ctx.wave}.{group}.ordered: {exc}") from None


def estimators_section(ctx: Any) -> None:
    """``estimators``: the main model by every estimator of ``sem.compare_estimators``."""
    from pipeline.core import paths
    from pipeline.workflow.wave import _Captured
    main = _main(ctx)
    ests = list(ctx.ws["sem"].get("compare_estimators") or [])
    if main is None or len(ests) < 2:
        return
    res, file, what = main
    sp = ctx.ws["sem"]
    obs = list(res.observed)
    ordered = _ordered_setting(ctx, "sem", sp.get("ordered"), obs)
    fits: dict[str, Any] = {}
    with _Captured() as warned:
        fit_df, paths_df, notes = estimator_comparison(
            paths.resolve(file), ctx.keyed, ests, ordered=ordered, likelihood="normal",
            missing=sp["missing"], effects=_effect_names(ctx), fits_out=fits)
        hyp = pd.DataFrame()
        if what == "structural model" and ctx.hypotheses.get("tests"):
            try:
                hyp = hypotheses_by_estimator(ctx.hypotheses, fits)
            except (KeyError, ValueError) as exc:
                notes.append(f"hypotheses by estimator not decided: {exc}")
    if fit_df.empty:
        return
    sec = ctx.section("estimators")
    if sec.title == SECTION_TITLES["estimators"]:          # name the estimators fitted
        sec.title = sec.w.title = f"Estimator comparison ({', '.join(fit_df.columns)})"
    cat = [e for e in fit_df.columns if e in ("WLSMV", "DWLS", "ULSMV")]
    sec.text(f"The {what} (`{file}`) fitted by " + ", ".join(fit_df.columns)
             + " with lavaan's conventions (normal likelihood, N·F). ML-family estimators treat "
             "the items as continuous (MLR: Huber-White SEs, Yuan-Bentler scaled test, robust "
             "CFI/TLI/RMSEA)"
             + (f"; {'/'.join(cat)} declares " + ", ".join(ordered) + " ordered (polychoric "
                "correlations, thresholds, scaled-shifted test; estimates on the latent-response "
                "scale: compare the standardized std.all columns)" if cat else "")
             + f". Missing data: {sp['missing']}.")
    sec.table("fit", fit_df, caption="Fit by estimator (lavaan's measure names; .scaled and "
              ".robust where the estimator has them)")
    if len(paths_df):
        sec.table("paths", paths_df, caption="Key paths by estimator: estimate, S.E., p and "
                  "standardized")
    if len(hyp):
        sec.table("hypotheses", hyp, caption="The Wald-tested hypotheses under each estimator "
                  "(bootstrap-tested ones are decided once, on the main fit)")
    for n in notes + warned:
        sec.warning(n)
    sec.close()


def diagnostics_section(ctx: Any) -> None:
    """``diagnostics``: top modification indices and standardized residuals of each model."""
    from pipeline.workflow.wave import _Captured
    dp = ctx.ws["diagnostics"]
    k, kr = int(dp["mi_top"]), int(dp["residuals_top"])
    fits = []
    if ctx.cfa is not None and ctx.sem is not None:
        fits = [("measurement model", "cfa", ctx.cfa[0]), ("structural model", "sem", ctx.sem[0])]
    elif ctx.sem is not None or ctx.cfa is not None:
        r = (ctx.sem or ctx.cfa)[0]
        fits = [("structural model" if ctx.sem else "measurement model", "model", r)]
    if not fits:
        return
    sec = ctx.section("diagnostics")
    with _Captured() as warned:
        for what, tag, r in fits:
            pre = "" if tag == "model" else f"{tag}_"
            try:
                mi = top_modification_indices(r, k)
                sec.table(f"{pre}mi", mi.set_index(["lhs", "op", "rhs"]),
                          caption=f"{what.capitalize()}: the {k} largest modification indices "
                          "(1-df score test of each fixed parameter) with the expected parameter "
                          "change (EPC, sepc.all standardized)",
                          note="MI > 3.84 is significant at .05; free a parameter only with a "
                          "substantive reason.")
            except Exception as exc:  # noqa: BLE001 - a diagnostic must not stop the report
                sec.warning(f"{what}: modification indices not computed: {exc}")
            try:
                rs = largest_residuals(r, kr)
                sec.table(f"{pre}residuals", rs.set_index(["var1", "var2"]),
                          caption=f"{what.capitalize()}: the {kr} largest standardized "
                          "residuals (z; ** |z| > 2.58, * |z| > 1.96) with the correlation "
                          "residuals")
            except Exception as exc:  # noqa: BLE001
                sec.warning(f"{what}: residuals not computed: {exc}")
    for w in warned:
        sec.warning(w)
    sec.close()


def alternatives_section(ctx: Any) -> None:
    """``alternatives``: mediation variants and ``sem.alternative_models`` against the model."""
    from pipeline.core import paths
    from pipeline.sem import fit
    from pipeline.sem.syntax import parse_model
    from pipeline.workflow.wave import _Captured
    if ctx.sem is None:
        return
    sp = ctx.ws["sem"]
    res = ctx.sem[0]
    text = paths.resolve(sp["model"]).read_text(encoding="utf-8")
    sec = ctx.section("alternatives")
    try:
        alts = mediation_alternatives(parse_model(text))
    except ValueError as exc:
        alts = {}
        sec.warning(f"mediation alternatives not derived: {exc}")
    listed = dict(sp.get("alternative_models") or {})
    from pipeline.cli.schema import SettingsError
    from pipeline.workflow.wave import _inside
    for name, f in listed.items():
        if not paths.resolve(f).is_file():
            raise SettingsError(f"waves.{ctx.wave}.sem.alternative_models.{name}: {f} does not "
                                "exist")
        if not _inside(f, ctx.ws["models"]):
            raise SettingsError(f"waves.{ctx.wave}.sem.alternative_models.{name}: {f} lies "
                                f"outside the wave's models folder {ctx.ws['models']}")
    fits: dict[str, Any] = {"hypothesized": res}
    desc = {"hypothesized": f"`{sp['model']}` as specified"}
    with _Captured() as warned:
        for name, (pm, d) in alts.items():
            fits[name] = fit(pm, ctx.keyed, likelihood=sp["likelihood"], missing=sp["missing"],
                             emit_warnings=False)
            desc[name] = d
        for name, f in listed.items():
            fits[name] = fit(paths.resolve(f), ctx.keyed, likelihood=sp["likelihood"],
                             missing=sp["missing"], emit_warnings=False)
            desc[name] = f"`{f}`"
    if len(fits) < 2:
        sec.close()
        return
    ref = "partial mediation" if "partial mediation" in fits else "hypothesized"
    same = [n for n, r in fits.items() if n != ref and int(r.df) == int(fits[ref].df)
            and abs(float(r.chisq) - float(fits[ref].chisq)) < 1e-6 * max(1.0, float(r.chisq))]
    if ref == "partial mediation" and "hypothesized" in same:
        desc["hypothesized"] += " (identical to partial mediation)"
        fits.pop("partial mediation")
        desc.pop("partial mediation")
        ref = "hypothesized"
    with _Captured() as w2:
        table = compare_models(fits, ref)
    table.insert(0, "description", [desc[n] for n in table.index])
    for n, r in fits.items():
        if not r.admissible:
            sec.warning(f"{n}: inadmissible solution ({'; '.join(r.warnings)})")
    best_aic = table["aic"].astype(float).idxmin() if "aic" in table else None
    best_bic = table["bic"].astype(float).idxmin() if "bic" in table else None
    sec.text(f"Each alternative is compared with **{ref}** (the least restricted model) by the "
             f"chi-square difference test (likelihood = {sp['likelihood']}); a significant "
             "Δχ² means the restriction worsens fit. Lower AIC/BIC is better: "
             f"AIC prefers **{best_aic}**, BIC prefers **{best_bic}**.")
    sec.table("models", table, caption="Alternative models: fit, Δχ² against the reference, "
              "AIC and BIC")
    for w in warned + w2:
        sec.warning(w)
    sec.close()


def method_bias_section(ctx: Any) -> None:
    """``method_bias``: Harman's single-factor test on the measurement model's items."""
    from pipeline.sem import build_model
    from pipeline.core import paths
    from pipeline.sem.lrt import lrt
    from pipeline.workflow.wave import _Captured
    main = ctx.cfa or ctx.sem
    if main is None:
        return
    res = main[0]
    file = ctx.ws["sem"]["cfa_model"] if ctx.cfa is not None else ctx.ws["sem"]["model"]
    pt = res.parameters
    items = list(dict.fromkeys(pt[pt.op == "=~"].rhs))
    items = [i for i in items if i in ctx.keyed.columns]
    if len(items) < 3:
        return
    sp = ctx.ws["sem"]
    with _Captured() as warned:
        h = harman_test(ctx.keyed, items, likelihood=sp["likelihood"], missing=sp["missing"],
                        efa_method=ctx.ws["efa"].get("method", "minres"),
                        threshold=float(ctx.ws["diagnostics"]["harman_threshold"]))
        one = h["cfa"]
        fm1 = one.fit_measures()
        fmm = res.fit_measures()
        diff = lrt(res, one) if set(build_model(paths.resolve(file)).observed) == set(
            one.observed) else None
    sec = ctx.section("method_bias")
    thr = h["threshold"]
    tab = pd.DataFrame({
        "share of variance": [h["pc_share"], h["efa_share"]],
        f"> {thr:.2f}": ["yes" if h["pc_share"] > thr else "no",
                         "yes" if h["efa_share"] > thr else "no"]},
        index=pd.Index(["first unrotated principal component (λ1 / p)",
                        f"one-factor unrotated EFA ({h['efa_method']}, Σ loading² / p)"],
                       name="single factor"))
    sec.table("shares", tab, caption=f"Harman's single-factor test: {h['p']} items, N = {h['n']} "
              "(complete cases)")
    rows = {"one factor": {m: float(fm1[m]) for m in ("chisq", "df", "pvalue", "cfi", "tli",
                                                      "rmsea", "srmr", "aic", "bic")
                           if m in fm1.index},
            "measurement model": {m: float(fmm[m]) for m in ("chisq", "df", "pvalue", "cfi",
                                                             "tli", "rmsea", "srmr", "aic",
                                                             "bic") if m in fmm.index}}
    cmp = pd.DataFrame(rows).T
    cmp.index.name = "model"
    note = ""
    if diff is not None:
        note = (f"Δχ² = {diff['chisq_diff']:.3f}, Δdf = {diff['df_diff']}, "
                f"p = {diff['pvalue']:.3g} (one factor against `{file}`).")
    sec.table("one_factor_cfa", cmp, caption="One-factor CFA of every item against the "
              "measurement model", note=note)
    verdict = ("a single factor accounts for the majority of the variance: common-method bias "
               "is a concern" if h["concern"] else
               "no single factor accounts for the majority of the variance")
    sec.text(f"Rule: common-method bias is indicated when one factor explains more than "
             f"{thr:.0%} of the total variance (the .50 rule; Podsakoff, MacKenzie, Lee & "
             f"Podsakoff 2003). Here {verdict} (largest share "
             f"{max(h['pc_share'], h['efa_share']):.3f}). Harman's test is a weak check: "
             "passing it does not rule common-method variance out.")
    for w in warned:
        sec.warning(w)
    sec.close()


def validity_section(ctx: Any) -> None:
    """``validity``: AVE, CR, Fornell-Larcker and HTMT verdicts of the measurement model."""
    from pipeline.psychometrics.reliability import validity_from_sem
    from pipeline.workflow.wave import _Captured
    main = ctx.cfa or ctx.sem
    if main is None:
        return
    res = main[0]
    dp = ctx.ws["diagnostics"]
    with _Captured() as warned:
        try:
            val = validity_from_sem(res)
        except ValueError:
            return
        per, pairs = validity_verdicts(val, ave_min=float(dp["ave_min"]),
                                       cr_min=float(dp["cr_min"]),
                                       htmt_max=list(dp["htmt_max"]))
    sec = ctx.section("validity")
    if not res.admissible:
        sec.warning("The measurement model is inadmissible: the verdicts are for diagnosis only.")
    sec.table("verdicts", per, caption="Validity verdicts per construct: convergent (AVE, CR) "
              "and discriminant (Fornell-Larcker, largest HTMT)",
              note="AVE and CR from the standardized loadings (Fornell & Larcker 1981); HTMT2 "
                   "(geometric means; Henseler, Ringle & Sarstedt 2015): < .85 strict, < .90 "
                   "liberal. 'not estimable': single-indicator construct.")
    if len(pairs):
        sec.table("pairs", pairs, caption="Construct pairs: latent correlation and HTMT")
    fails = [f"{c}: {col}" for c in per.index for col in per.columns
             if per.loc[c, col] == "fails"]
    sec.text("Every estimable verdict is met." if not fails else
             "Fails: " + "; ".join(fails) + ".")
    for w in warned:
        sec.warning(w)
    sec.close()


def bootstrap_section(ctx: Any) -> None:
    """``bootstrap``: the structural model's intervals from all and from admissible draws."""
    if ctx.sem is None:
        return
    boot = ctx.boot
    if boot is None:
        return
    res = ctx.sem[0]
    sec = ctx.section("bootstrap")
    if boot.inadmissible_dropped:
        sec.text(f"The bootstrap excluded its {boot.n_inadmissible} inadmissible draws "
                 "(bootstrap.drop_inadmissible: true), so only the admissible draws are "
                 "available; set it to false to see both.")
    mask = admissible_draws(res, boot)
    t = bootstrap_side_by_side(res, boot, mask=mask)
    n_all, n_ok = int(len(mask)), int(mask.sum())
    sec.text(f"B = {boot.B}, seed = {boot.seed}: {n_all} draws converged, of which {n_ok} are "
             f"admissible and {n_all - n_ok} inadmissible (a negative variance or a non-positive-"
             "definite implied covariance); lavaan and AMOS keep them. Excluding them conditions "
             "the intervals on admissibility. The settings' choice "
             f"(drop_inadmissible = {str(boot.inadmissible_dropped).lower()}) is what the "
             "structural and hypotheses sections use.")
    sec.table("intervals", t, caption=f"Bootstrap SE and {int(boot.level * 100)}% percentile / "
              "bias-corrected intervals: all draws vs admissible draws only")
    sec.close()


def power_section(ctx: Any) -> None:
    """``power``: the N needed for each hypothesis the data do not support."""
    from pipeline.core import paths
    from pipeline.sem.hypotheses import hypotheses_table
    from pipeline.workflow.wave import _Captured
    spec = ctx.hypotheses
    if not spec["tests"] or ctx.sem is None:
        return
    pw = ctx.ws["power"]
    if int(pw["reps"]) <= 0:
        return
    res = ctx.sem[0]
    with _Captured() as warned:
        table = hypotheses_table(spec, res, ctx.boot)
    if not (table["decision"] == "Not supported").any():
        return
    text = paths.resolve(ctx.ws["sem"]["model"]).read_text(encoding="utf-8")
    with _Captured() as w2:
        notes, pr = power_notes(res, spec, table, text, reps=int(pw["reps"]),
                                ns=pw.get("n"), target=float(pw["target"]),
                                seed=int(pw["seed"]), workers=pw.get("workers"),
                                max_n=int(pw["max_n"]))
    if notes.empty:
        return
    sec = ctx.section("power")
    sec.text(f"For each hypothesis the data do not support: Monte Carlo power "
             f"({pw['reps']} replications per N, seed {pw['seed']}) of the Wald test of its "
             f"effect, with the fitted standardized solution as the population (continuous "
             f"normal data; Likert categories lower the power), and the analytic N "
             f"N·((z₁₋α/₂ + z_power)/z)² from the observed z. n_needed: the smallest N of the "
             f"grid with power ≥ {pw['target']}. Bootstrap-tested hypotheses are approximated "
             f"by the Wald test of the same effect. N now = {res.nobs}.")
    sec.table("notes", notes, caption="N needed for the hypotheses not supported")
    lines = []
    for h, g in notes.groupby(level="hypothesis", sort=False):
        need = g["n_needed"].astype(float)
        if not g["direction_ok"].all():
            lines.append(f"**{h}**: an estimate has the sign opposite to the hypothesis; a larger "
                         "sample would not support it.")
        elif need.notna().all():
            lines.append(f"**{h}**: about N = {int(need.max())} respondents for power "
                         f"{pw['target']} (now {res.nobs})"
                         + (", the largest over its effects" if len(g) > 1 else "") + ".")
        else:
            lines.append(f"**{h}**: power {pw['target']} is not reached within N = "
                         f"{max(int(c.split('@')[1]) for c in g.columns if c.startswith('power@'))}"
                         "; the effect is too small to be detected with a feasible sample.")
    sec.text(" ".join(lines))
    for w in warned + w2:
        sec.warning(w)
    sec.close()


def invariance_wave_section(ctx: Any) -> None:
    """``invariance``: across ``invariance.group`` (else ``groups.column``), when named."""
    from pipeline.core import paths
    ip = ctx.ws["invariance"]
    group = ip.get("group") or ctx.ws["groups"].get("column")
    model = ip.get("model") or ctx.ws["sem"].get("cfa_model")
    if not group or not model or group not in ctx.data.columns:
        return
    sec = ctx.section("invariance")
    sec.title = f"{sec.title} across {group}" if sec.title == SECTION_TITLES["invariance"] \
        else sec.title
    sec.w.title = sec.title
    obs = _observed(paths.resolve(model))
    data = ctx.keyed[[c for c in obs if c in ctx.keyed.columns] + [group]]
    ordered = _ordered_setting(ctx, "invariance", ip.get("ordered"), obs)
    invariance_section(sec.w, paths.resolve(model), data, group,
                       {**ip, "ordered": ordered or None}, model_name=str(model))
    sec.close()


def _guarded(key: str, fn: Any) -> Any:
    """A diagnostic that fails on a study's data (a singular matrix, a population model
    with an explained variance above 1, ...) becomes a visible note, not a crashed stage;
    settings errors still stop the stage."""
    def run(ctx: Any) -> None:
        from pipeline.cli.schema import SettingsError
        try:
            fn(ctx)
        except SettingsError:
            raise
        except (ValueError, ArithmeticError, np.linalg.LinAlgError) as exc:
            sec = ctx.section(key)
            for d in ((sec.w.dir,) if sec.w.dir.exists() else ()):
                import shutil
                shutil.rmtree(d)
            sec.w.items.clear()
            sec.table("not_computed", pd.DataFrame(
                {"reason": [f"{type(exc).__name__}: {exc}"]}, index=pd.Index([key],
                                                                              name="section")),
                caption="This diagnostic could not be computed on these data")
            sec.close()
    run.__name__ = fn.__name__
    run.__doc__ = fn.__doc__
    return run


#: analysis name -> section function (registered in pipeline.workflow.wave.ANALYSES)
SECTIONS = {key: _guarded(key, fn) for key, fn in {
    "estimators": estimators_section, "diagnostics": diagnostics_section,
    "alternatives": alternatives_section, "method_bias": method_bias_section,
    "validity": validity_section, "bootstrap": bootstrap_section, "power": power_section,
    "invariance": invariance_wave_section,
}.items()}
