"""The Amirova (2021) study, wave by wave: preparation, analyses and report sections.

This module orchestrates the analysis modules for the DVC stages
(:mod:`pipeline.cli.stage`) and renders the stored results for the thin report
notebooks.  It computes nothing itself that belongs to an analysis family:
screening, descriptives, reliability, EFA, SEM and fit indices come from
their own modules.

Stages
------
``prepare_wave(wave)``
    raw file -> codebook validation -> screening -> free-text redaction ->
    ``data/processed/<wave>/prepared/``.
``analyze_wave(wave)``
    prepared data -> every section of the wave's report, stored under
    ``data/processed/<wave>/results/<section>/`` plus ``computed.json``
    (values the replication scorecard compares with the published ones).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.cli import config
from pipeline.core import paths
from pipeline.core.io import write_csv, write_json

__all__ = ["REPORT_SECTIONS", "WaveReport", "prepare_wave", "analyze_wave",
           "analyze_sem_wave", "prepared_dir", "results_dir", "load_prepared",
           "fit_table", "paths_table", "hypothesis_table", "FIT_ROWS"]

# notebook kind -> ordered (section key, title)
REPORT_SECTIONS: dict[str, list[tuple[str, str]]] = {
    "sem_wave_report": [
        ("screening", "Screening"),
        ("demographics", "Demographics (Table 11)"),
        ("descriptives", "Descriptive statistics"),
        ("reliability", "Reliability and validity (Table K.1)"),
        ("efa", "Exploratory factor analysis"),
        ("cfa", "CFA fit (Table 12)"),
        ("structural", "Structural model (Table K.2)"),
        ("hypotheses", "Hypotheses (Table 13)"),
        ("diagram", "Path diagram"),
        ("replication", "Replication of the published numbers"),
    ],
    "org_wave_report": [
        ("screening", "Screening"),
        ("profile", "Respondent profiles (Tables 14 and 16)"),
        ("distributions", "Response distributions (figures 16-27)"),
        ("reliability", "Reliability and CFA of the 2020 instrument"),
        ("comparison", "ACSA vs akimat, item by item"),
        ("replication", "Replication of the published numbers"),
    ],
    "citizens_report": [
        ("screening", "Screening"),
        ("profile", "Respondent profile (Table 17)"),
        ("frequencies", "Frequencies (figures 28-31)"),
        ("freetext", "Free-text answers"),
        ("replication", "Replication of the published numbers"),
    ],
}


def prepared_dir(wave: str) -> Path:
    return paths.wave_dir(wave) / "prepared"


def results_dir(wave: str) -> Path:
    return paths.wave_dir(wave) / "results"


def _raw_path(wave: str) -> Path:
    return paths.resolve(config.wave_params(wave)["raw"])


# ------------------------------------------------------------------ report
class WaveReport:
    """What a report notebook calls: a header (with the synthetic banner) and sections."""

    def __init__(self, wave: str, out_dir: str | os.PathLike = ".") -> None:
        self.wave = wave
        self.out_dir = Path(out_dir)
        self.params = config.wave_params(wave)
        self.results = results_dir(wave)

    def header_html(self) -> str:
        from pipeline.reporting.report import synthetic_banner, wave_is_synthetic

        meta = wave_is_synthetic(self.params["raw"])
        info = json.loads((self.results / "info.json").read_text(encoding="utf-8")) \
            if (self.results / "info.json").exists() else {}
        rows = "".join(f"<tr><th style='text-align:left'>{k}</th><td>{v}</td></tr>"
                       for k, v in info.items())
        return synthetic_banner(meta) + f"<table>{rows}</table>"

    def header(self) -> None:
        from IPython.display import HTML, display
        display(HTML(self.header_html()))

    def section_html(self, key: str) -> str:
        from pipeline.reporting.report import SectionReader
        return SectionReader(self.results, key).render(self.out_dir)

    def show(self, key: str) -> None:
        from IPython.display import HTML, display
        display(HTML(self.section_html(key)))




# ----------------------------------------------------------------- helpers
def _kind(wave: str) -> str:
    nb = Path(config.wave_params(wave)["notebook"]).stem
    if nb not in REPORT_SECTIONS:
        raise ValueError(f"waves.{wave}.notebook: unknown report kind {nb!r}; "
                         f"known: {sorted(REPORT_SECTIONS)}")
    return nb


class _Captured:
    """Collect the project's warnings raised inside a block (shown in the report)."""

    def __enter__(self) -> list[str]:
        import warnings

        from pipeline.core.exceptions import PipelineWarning
        self._cm = warnings.catch_warnings(record=True)
        self._log = self._cm.__enter__()
        warnings.simplefilter("always", PipelineWarning)
        self.messages: list[str] = []
        return self.messages

    def __exit__(self, *exc: Any) -> None:
        from pipeline.core.exceptions import PipelineWarning
        for w in self._log:
            if issubclass(w.category, PipelineWarning):
                msg = f"{w.category.__name__}: {w.message}"
                if msg not in self.messages:
                    self.messages.append(msg)
        self._cm.__exit__(*exc)


# ------------------------------------------------------------------ prepare
def prepare_wave(wave: str) -> Path:
    """Load, validate, screen and redact one wave into ``data/processed/<wave>/prepared``.

    Writes ``clean.csv`` (screened and redacted), ``screening_report.csv``,
    ``exclusion_log.csv``, ``screening.json`` (funnel, reasons, raw N and
    clean N), ``load_log.csv`` (every recoding the loader made) and
    ``redaction.csv`` (PII replaced, per column and kind).  The directory
    appears atomically.
    """
    from pipeline.core.io import atomic_dir
    from pipeline.data.codebook import load_codebook
    from pipeline.data.loading import read_raw
    from pipeline.data.privacy import redact_wave
    from pipeline.data.screening import screen

    wp = config.wave_params(wave)
    cb = load_codebook(wp["instrument"])
    raw = _raw_path(wave)
    loading = config.load_params().get("loading") or {}
    lr = read_raw(raw, cb, encoding=loading.get("encoding"))
    with _Captured() as warned:
        rules = {**config.stage_params("screening"), **(wp.get("screening") or {})}
        scr = screen(lr.data, cb, rules,
                     distributed=wp.get("distributed"), rows=lr.rows,
                     recodings=lr.log_frame(), file=str(raw))
    clean, redaction = redact_wave(scr.clean, cb)
    scr.clean = clean
    scr.warnings = list(scr.warnings) + [w for w in warned if w not in scr.warnings]
    with atomic_dir(prepared_dir(wave)) as tmp:
        scr.write(tmp)
        write_csv(tmp / "load_log.csv", lr.log_frame(), index=False)
        write_csv(tmp / "redaction.csv", redaction)
        write_json(tmp / "load.json", lr.to_dict() | {"raw": str(wp["raw"])})
    return prepared_dir(wave)


def load_prepared(wave: str) -> pd.DataFrame:
    """The screened, redacted data of a wave (as written by :func:`prepare_wave`)."""
    from pipeline.data.codebook import load_codebook

    cb = load_codebook(config.wave_params(wave)["instrument"])
    text = {n: str for n, v in cb.variables.items() if v.type in ("text", "multi", "id")}
    path = prepared_dir(wave) / "clean.csv"
    df = pd.read_csv(path, dtype=text, keep_default_na=True)
    import pandera.errors

    from pipeline.core.exceptions import DataValidationError
    try:
        # the stage boundary: what analyze reads is still what the codebook promises
        cb.schema(columns=df.columns).validate(df, lazy=True)
    except pandera.errors.SchemaErrors as exc:
        fc = exc.failure_cases
        cols = sorted(set(map(str, fc["column"].dropna())))
        rows = sorted({int(i) + 2 for i in fc["index"].dropna()})
        raise DataValidationError(f"prepared data break the codebook {cb.name!r} "
                                  f"({len(fc)} failing cell(s))", file=str(path),
                                  columns=cols, rows=rows) from None
    return df


# ------------------------------------------------------------------ analyze
def analyze_wave(wave: str) -> Path:
    """Run every analysis of a wave's report into ``data/processed/<wave>/results``."""
    from pipeline.core.io import atomic_dir
    from pipeline.data.codebook import load_codebook

    kind = _kind(wave)
    wp = config.wave_params(wave)
    cb = load_codebook(wp["instrument"])
    data = load_prepared(wave)
    computed: dict[str, Any] = {}
    with atomic_dir(results_dir(wave)) as tmp:
        _section_screening(wave, tmp, computed)
        if kind == "sem_wave_report":
            analyze_sem_wave(wave, data, cb, tmp, computed)
        elif kind == "org_wave_report":
            from pipeline.workflow.org import analyze_org_wave
            analyze_org_wave(wave, data, cb, tmp, computed)
        else:
            from pipeline.workflow.org import analyze_citizens_wave
            analyze_citizens_wave(wave, data, cb, tmp, computed)
        _section_replication(wave, tmp, computed)
        write_json(tmp / "computed.json", computed)
        from pipeline.reporting.report import wave_is_synthetic
        meta = wave_is_synthetic(wp["raw"])
        write_json(tmp / "info.json", {
            "wave": wave, "instrument": cb.name, "title": cb.title,
            "raw file": str(wp["raw"]),
            "data": "synthetic (seed %s)" % meta.get("seed") if meta else "real",
            "respondents analysed": int(len(data)),
        })
    return results_dir(wave)


def _section_screening(wave: str, results: Path, computed: dict[str, Any]) -> None:
    from pipeline.reporting.report import SectionWriter

    summ = json.loads((prepared_dir(wave) / "screening.json").read_text(encoding="utf-8"))
    f = summ["funnel"]
    sec = SectionWriter(results, "screening", "Screening")
    rows = [("distributed", f.get("distributed")), ("returned", f.get("returned")),
            ("excluded", f.get("excluded")), ("valid", f.get("valid")),
            ("response rate (valid / distributed), %",
             None if f.get("response_rate") is None else 100 * f["response_rate"])]
    funnel = pd.DataFrame(rows, columns=["step", "questionnaires"]).set_index("step")
    sec.table("funnel", funnel, caption="Screening funnel: distributed → returned → valid",
              digits=1, note=f"Raw N = {summ['n_raw']}, clean N = {summ['n_clean']}.")
    reasons = pd.Series(summ.get("reasons") or {}, name="respondents", dtype=float)
    if len(reasons):
        reasons.index.name = "rule"
        sec.table("reasons", reasons.to_frame(), digits=0,
                  caption="Excluded questionnaires by rule (one questionnaire may break several)")
    else:
        sec.text("No questionnaire was excluded.")
    sec.text(f"Mahalanobis-distance outliers flagged (kept): {summ.get('flagged_outliers', 0)}. "
             "The exclusion log with respondent ids and reasons is kept in "
             f"`data/processed/{wave}/prepared/exclusion_log.csv`, not in the report.")
    rec = summ.get("recodings") or []
    miss = [r for r in rec if r.get("action") in ("declared_missing", "spss_user_missing")]
    if miss:
        t = pd.DataFrame(miss)[["column", "action", "count", "detail"]].set_index("column")
        sec.table("recodings", t, digits=0, caption="Declared missing codes turned into NaN")
    for w in summ.get("warnings") or []:
        sec.warning(w)
    sec.close()
    # scorecard: the funnel of the 2019 wave (text at line 975)
    prefix = f"{wave}.screening"
    computed.update({f"{prefix}.distributed": f.get("distributed"),
                     f"{prefix}.returned": f.get("returned"),
                     f"{prefix}.valid": f.get("valid"),
                     f"{prefix}.rejected": f.get("excluded"),
                     f"{prefix}.response_rate": None if f.get("response_rate") is None
                     else 100 * f["response_rate"]})


def _section_replication(wave: str, results: Path, computed: dict[str, Any]) -> None:
    from pipeline.reporting.report import SectionWriter
    from pipeline.replication.scorecard import Scorecard

    sc = Scorecard()
    sc.add_many({k: v for k, v in computed.items() if v is not None},
                depends_on_respondent_data=True, source=f"{wave} analysis")
    df = sc.to_frame()
    df = df[df["key"].str.startswith(f"{wave}.")]
    sec = SectionWriter(results, "replication", "Replication of the published numbers")
    if config.wave_params(wave).get("synthetic"):
        sec.warning("These values are recomputed from synthetic respondents: agreement with the "
                    "thesis shows the generator's calibration, not a replication.")
    shown = df[["key", "table", "line", "published", "computed", "status"]].set_index("key")
    sec.table("scorecard", shown, digits=3,
              caption="Published value, where it is printed, the value recomputed here, status")
    sec.close()


# ------------------------------------------------------- the 2019 SEM wave
_OPS = {">": lambda v, t: v > t, "<": lambda v, t: v < t,
        ">=": lambda v, t: v >= t, "<=": lambda v, t: v <= t}

#: Table 12's rows in the thesis's order, plus what AMOS/lavaan add.
FIT_ROWS = [("chisq", "Chi-square (CMIN)"), ("df", "Degrees of freedom"), ("pvalue", "P-value"),
            ("gfi", "GFI"), ("agfi", "AGFI"), ("rmsea", "RMSEA"),
            ("rmsea.ci.lower", "RMSEA 90% CI, lower"), ("rmsea.ci.upper", "RMSEA 90% CI, upper"),
            ("rmsea.pvalue", "PCLOSE (p of close fit, RMSEA <= .05)"), ("srmr", "SRMR"),
            ("tli", "TLI"), ("cfi", "CFI"), ("ifi", "IFI"), ("nfi", "NFI"),
            ("cmin_df", "CMIN/DF")]


def fit_table(measures: pd.Series, thresholds: dict[str, Any], *, likelihood: str) -> pd.DataFrame:
    """Table 12 form: measure, threshold, value and verdict.

    Parameters
    ----------
    measures : Series
        ``SEMResult.fit_measures()`` (lavaan names).
    thresholds : dict
        ``{name: {"op": ">", "value": .90}}`` from ``params.yaml`` (``sem.thresholds``).
    likelihood : str
        Labelled in the chi-square row (``wishart`` = AMOS, ``normal`` = lavaan).

    In R: ``fitMeasures(fit, c("chisq", "df", "pvalue", "gfi", "agfi", ...))``.
    """
    rows = []
    conv = {"wishart": "(N-1)·F_ML, AMOS", "normal": "N·F_ML, lavaan"}.get(likelihood, likelihood)
    for key, label in FIT_ROWS:
        if key not in measures.index:
            continue
        th = thresholds.get(key)
        value = float(measures[key])
        if th:
            verdict = "meets" if _OPS[th["op"]](value, th["value"]) else "fails"
            thr = f"{th['op']} {th['value']}"
        else:
            verdict, thr = "", ""
        if key == "chisq":
            label = f"{label} [likelihood = {likelihood}: {conv}]"
        rows.append({"measure": label, "name": key, "threshold": thr, "value": value,
                     "verdict": verdict})
    return pd.DataFrame(rows).set_index("measure")


def paths_table(parameters: pd.DataFrame) -> pd.DataFrame:
    """Table K.2 form (AMOS "Regression Weights"): Estimate, S.E., C.R., P, standardized.

    Loadings are printed as ``item <--- factor``, regressions as
    ``outcome <--- predictor``; fixed markers have no S.E.

    In R: ``parameterEstimates(fit, standardized = TRUE)`` rows with op ``=~`` / ``~``.
    """
    pt = parameters
    rows = []
    for r in pt[pt.op.isin(["=~", "~"])].itertuples(index=False):
        lhs, rhs = (r.rhs, r.lhs) if r.op == "=~" else (r.lhs, r.rhs)
        fixed = not (r.se > 0) if pd.notna(r.se) else True
        rows.append({"path": f"{lhs} <--- {rhs}", "Estimate": r.est,
                     "S.E.": None if fixed else r.se, "C.R.": None if fixed else r.z,
                     "P": None if fixed else r.pvalue})
    out = pd.DataFrame(rows).set_index("path")
    out["Standardized"] = list(pt[pt.op.isin(["=~", "~"])]["std.all"])
    return out


def _effects_table(boot_table: pd.DataFrame | None, parameters: pd.DataFrame,
                   prefix: str) -> pd.DataFrame:
    """Defined effects (``ind_X`` / ``tot_X``) with delta-method SE and bootstrap CIs."""
    pt = parameters[(parameters.op == ":=") & parameters.lhs.str.startswith(prefix)]
    out = pt.set_index("lhs")[["est", "se", "z", "pvalue", "std.all"]].copy()
    out.index = [i[len(prefix):] for i in out.index]
    out.index.name = "factor"
    if boot_table is not None:
        bt = boot_table[(boot_table.op == ":=") & boot_table.lhs.str.startswith(prefix)]
        bt = bt.set_index("lhs")
        bt.index = [i[len(prefix):] for i in bt.index]
        out["boot.se"] = bt["se"]
        for c in ("ci.lower", "ci.upper", "ci.lower.bc", "ci.upper.bc"):
            out[c] = bt[c]
    return out


def hypothesis_table(parameters: pd.DataFrame, boot_table: pd.DataFrame | None,
                    spec: dict[str, Any], *, admissible: bool = True) -> pd.DataFrame:
    """Decide H1-H5 and the basic hypothesis from explicit tests.

    * H1-H4 (``spec["factors"]``): the named effect (``spec["effect"]``: total,
      direct or indirect) of the factor on ICS is positive with a two-sided
      p < ``alpha`` (Wald z; delta method for total and indirect effects).
    * H5: Resources' effect is smaller than each other factor's: every
      bootstrap percentile CI of the difference (other − Resources) lies
      above 0 (the model defines the differences, ``dtot_X`` etc.).
    * basic: the mean effect of the four factors exceeds Resources' (CI of
      ``basic_tot`` etc. above 0).

    An inadmissible fit (non-convergence, Heywood case, NaN SEs) never
    yields "Supported": the decision is "Not decided (inadmissible fit)".

    In R: ``parameterEstimates(fit, boot.ci.type = "perc")`` on the
    ``:=`` rows of the model.
    """
    effect = spec.get("effect", "total")
    if effect not in ("total", "direct", "indirect"):
        raise ValueError(f"hypotheses.effect must be total, direct or indirect, not {effect!r}")
    alpha = float(spec.get("alpha", 0.05))
    weakest = spec.get("weakest", "R")
    pt = parameters
    prefix = {"total": "tot_", "indirect": "ind_"}.get(effect)
    diff_prefix = {"total": "dtot_", "direct": "ddir_", "indirect": "dind_"}[effect]
    basic_name = {"total": "basic_tot", "direct": "basic_dir", "indirect": "basic_ind"}[effect]
    rows = []

    def row_of(name: str) -> pd.Series:
        if effect == "direct":
            sel = pt[(pt.op == "~") & (pt.rhs == name) & (pt.lhs != "CC")]
            sel = sel[sel.lhs == "ICS"] if (sel.lhs == "ICS").any() else sel
        else:
            sel = pt[(pt.op == ":=") & (pt.lhs == prefix + name)]
        if sel.empty:
            raise ValueError(f"the model defines no {effect} effect for factor {name!r}")
        return sel.iloc[0]

    def boot_ci(name: str) -> tuple[float, float]:
        if boot_table is None:
            return float("nan"), float("nan")
        sel = boot_table[(boot_table.op == ":=") & (boot_table.lhs == name)]
        if sel.empty:
            raise ValueError(f"the model defines no parameter {name!r} (needed for H5)")
        return float(sel["ci.lower"].iloc[0]), float(sel["ci.upper"].iloc[0])

    undecided = "Not decided (inadmissible fit)"
    for h, factor in spec.get("factors", {}).items():
        r = row_of(factor)
        ok = bool(r.est > 0 and r.pvalue < alpha)
        rows.append({"hypothesis": h, "factor": factor, "test": f"{effect} effect > 0, Wald z, "
                     f"two-sided p < {alpha}", "estimate": r.est, "se": r.se, "z": r.z,
                     "pvalue": r.pvalue, "ci.lower": r["ci.lower"], "ci.upper": r["ci.upper"],
                     "decision": (undecided if not admissible
                                  else "Supported" if ok else "Not supported")})
    others = list(spec.get("factors", {}).values())
    diffs = []
    for f in others:
        lo, hi = boot_ci(f"{diff_prefix}{f}")
        est = float(pt.loc[(pt.op == ":=") & (pt.lhs == f"{diff_prefix}{f}"), "est"].iloc[0])
        diffs.append((f, est, lo, hi))
    ok5 = all(lo > 0 for _, _, lo, _ in diffs) if boot_table is not None else False
    detail = "; ".join(f"{f} − {weakest}: {est:.3f} [{lo:.3f}, {hi:.3f}]" for f, est, lo, hi in diffs)
    rows.append({"hypothesis": "H5", "factor": weakest,
                 "test": f"every bootstrap percentile CI of ({effect} effect of X − {weakest}) > 0"
                         f" for X in {', '.join(others)}: {detail}",
                 "estimate": min(d[1] for d in diffs) if diffs else float("nan"),
                 "se": float("nan"), "z": float("nan"), "pvalue": float("nan"),
                 "ci.lower": min(d[2] for d in diffs) if diffs else float("nan"),
                 "ci.upper": float("nan"),
                 "decision": (undecided if not admissible else
                              "Not decided (no bootstrap)" if boot_table is None else
                              "Supported" if ok5 else "Not supported")})
    lo, hi = boot_ci(basic_name)
    est = float(pt.loc[(pt.op == ":=") & (pt.lhs == basic_name), "est"].iloc[0])
    rows.append({"hypothesis": "basic", "factor": ", ".join(others) + f" vs {weakest}",
                 "test": f"bootstrap percentile CI of mean {effect} effect of "
                         f"{', '.join(others)} − {weakest} > 0",
                 "estimate": est, "se": float("nan"), "z": float("nan"), "pvalue": float("nan"),
                 "ci.lower": lo, "ci.upper": hi,
                 "decision": (undecided if not admissible else
                              "Not decided (no bootstrap)" if boot_table is None else
                              "Supported" if lo > 0 else "Not supported")})
    return pd.DataFrame(rows).set_index("hypothesis")


def _wide_distribution(dist: pd.DataFrame) -> pd.DataFrame:
    """Long (item, code, count, percent) to one row per item: ``<code> n``, ``<code> %``."""
    codes = list(dict.fromkeys(dist["code"].astype(str)))
    n = dist.pivot(index="item", columns="code", values="count")
    pct = dist.pivot(index="item", columns="code", values="percent")
    n.columns, pct.columns = n.columns.astype(str), pct.columns.astype(str)
    out = pd.DataFrame(index=list(dict.fromkeys(dist["item"])))
    for c in codes:
        out[f"{c} n"] = n[c]
        out[f"{c} %"] = pct[c]
    out.index.name = "item"
    return out


def _published_labels(prefix: str) -> dict[str, str]:
    from pipeline.replication.scorecard import load_published
    return {k: v.label for k, v in load_published().items() if k.startswith(prefix)}


def analyze_sem_wave(wave: str, data: pd.DataFrame, cb: Any, results: Path,
                     computed: dict[str, Any]) -> None:
    """Every section of the conceptual-model report (the 2019 wave)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pipeline.psychometrics import descriptives
    from pipeline.psychometrics import efa as efa_mod
    from pipeline.psychometrics import reliability as rel
    from pipeline.reporting.diagram import path_diagram
    from pipeline.data.privacy import default_k, suppress_small_cells
    from pipeline.reporting.report import SectionWriter
    from pipeline.sem.bootstrap import bootstrap
    from pipeline.sem import fit

    params = config.load_params()
    sem_p, boot_p, hyp_p = params["sem"], params["bootstrap"], params["hypotheses"]
    k = default_k()

    # ---- demographics (Table 11 layout, suppressed) ----------------------
    from studies.amirova2021.synth import load_targets
    targets = load_targets().get(wave, {})
    sec = SectionWriter(results, "demographics", "Demographics (Table 11)")
    orgs = [c for c in cb.variables["org"].codes] if "org" in cb.variables else []
    blocks = []
    for name, spec in (targets.get("demographics") or {}).items():
        var = spec["variable"]
        if var not in data.columns:
            continue
        labels = cb.variables[var].codes
        ct = pd.crosstab(data[var], data["org"]).reindex(
            index=list(spec["codes"].values()), columns=orgs, fill_value=0)
        ct.index = [f"{name}: {labels.get(c, c)}" for c in ct.index]
        sup = suppress_small_cells(ct, k)
        pct = 100 * ct / ct.sum(axis=0)
        for slug, code in spec["codes"].items():
            for org in orgs:
                n = int(((data[var] == code) & (data["org"] == org)).sum())
                tot = int((data["org"] == org).sum())
                computed[f"{targets.get('demographics_prefix', wave)}.{name}.{slug}.{org}"] = n
                computed[f"{targets.get('demographics_prefix', wave)}.{name}.{slug}.{org}.pct"] = \
                    100 * n / tot if tot else None
        disp = sup.display.drop(index=sup.total_label, errors="ignore")
        shown = pd.DataFrame(index=disp.index)
        pshown = sup.apply_to(pct)
        for org in orgs:
            shown[f"{org} n"] = disp[org]
            shown[f"{org} %"] = pshown[org].reindex(disp.index)
        blocks.append(shown)
    if blocks:
        sec.table("table11", pd.concat(blocks).fillna(""), digits=1,
                  caption="Demographic characteristics of respondents by organization",
                  note=sup.note)
    sec.close()

    # ---- descriptives ------------------------------------------------------
    with _Captured() as warned:
        d = descriptives.describe_codebook(data, cb)
    sec = SectionWriter(results, "descriptives", "Descriptive statistics")
    cols = ["n", "mean", "sd", "median", "skewness", "se_skewness", "kurtosis", "se_kurtosis",
            "shapiro_w", "shapiro_p"]
    sec.text("Skewness and kurtosis are SPSS's bias-corrected G1 and G2 with SPSS's standard "
             "errors (psych::describe(type = 2)).")
    sec.table("items", d.items[[c for c in cols if c in d.items]], caption="Items")
    if len(d.constructs):
        sec.table("constructs", d.constructs[[c for c in cols if c in d.constructs]],
                  caption="Construct scores (mean of the items)")
    if len(d.mardia):
        sec.table("mardia", d.mardia, caption="Mardia's multivariate skewness and kurtosis")
    dist = d.distribution
    if len(dist):
        sec.table("distribution", _wide_distribution(dist), digits=1,
                  caption="Response distribution per item: counts (n) and percentages of "
                          "all respondents (%)")
    for w in warned + d.warnings:
        sec.warning(w)
    sec.close()

    # ---- CFA (fit table, also feeds CR/AVE) ----------------------------------
    lik, miss = sem_p.get("likelihood", "normal"), sem_p.get("missing", "listwise")
    with _Captured() as cfa_warned:
        cfa = fit(paths.resolve(sem_p["cfa_model"]), data, likelihood=lik, missing=miss)
        cfa_fm = cfa.fit_measures()
    # ---- reliability -------------------------------------------------------
    with _Captured() as warned:
        rr = rel.reliability_from_codebook(data, cb, missing=params["reliability"].get(
            "missing", "pairwise"))
        val = rel.validity_from_sem(cfa)
    sec = SectionWriter(results, "reliability", "Reliability and validity (Table K.1)")
    k1 = rr.to_frame()
    k1.insert(0, "items", [", ".join(cb.constructs[s]) for s in k1.index])
    sec.table("table_k1", k1, caption="Cronbach's alpha (raw, standardized, Feldt 95% CI) and "
              "McDonald's omega total per construct", note=f"missing = {rr.missing}")
    sec.table("item_total", rr.item_total(), caption="Item-Total Statistics (SPSS form)")
    sec.table("cr_ave", val.table, caption="Composite reliability and AVE from the CFA (std.all)")
    sec.table("fornell_larcker", val.fornell_larcker,
              caption="Fornell-Larcker: sqrt(AVE) on the diagonal, latent correlations below")
    if val.htmt is not None:
        sec.table("htmt", val.htmt, caption="Heterotrait-monotrait ratio (HTMT)")
    for w in warned:
        sec.warning(w)
    sec.close()
    item_to_latent = {}
    for r in cfa.parameters[cfa.parameters.op == "=~"].itertuples():
        item_to_latent.setdefault(r.lhs, []).append(r.rhs)
    for s, items in cb.constructs.items():
        latent = next((lv for lv, its in item_to_latent.items() if set(its) == set(items)),
                      items[0] if len(items) == 1 else s)
        sc = rr.scales[s]
        computed[f"{wave}.alpha.{latent}"] = sc.alpha

    # ---- EFA -------------------------------------------------------------------
    ep = params["efa"]
    with _Captured() as warned:
        e = efa_mod.efa(data, [i for i in cb.likert_items if i in data.columns],
                        n_factors=ep.get("n_factors", "parallel"), method=ep.get("method", "minres"),
                        rotation=ep.get("rotation", "oblimin"), missing=ep.get("missing", "pairwise"),
                        seed=ep.get("seed"), n_iter=ep.get("parallel_iter", 20))
    sec = SectionWriter(results, "efa", "Exploratory factor analysis")
    b = e.bartlett or {}
    sec.table("adequacy", pd.DataFrame({"value": [e.kmo, b.get("chisq"), b.get("df"), b.get("pvalue"),
                                                  int((e.eigenvalues > 1).sum()), e.n_factors]},
                                       index=["KMO (overall MSA)", "Bartlett chi-square", "Bartlett df",
                                              "Bartlett p", "eigenvalues > 1",
                                              f"factors retained ({e.factor_rule})"]),
              caption=f"Sampling adequacy; n = {e.n}, missing = {e.missing}")
    sec.table("loadings", e.to_frame(), caption=f"{e.method} loadings, {e.rotation} rotation")
    sec.table("variance", e.variance, caption="Variance explained")
    if e.phi is not None:
        sec.table("factor_correlations", e.phi, caption="Factor correlations")
    fig, ax = plt.subplots(figsize=(6, 4))
    x = range(1, len(e.eigenvalues) + 1)
    ax.plot(x, e.eigenvalues, "o-", label="components (observed)")
    if e.parallel is not None:
        ax.plot(x, e.parallel.pc_sim_quantile, "--", label="components (simulated, parallel analysis)")
    ax.axhline(1.0, color="grey", lw=0.8)
    ax.set_xlabel("component")
    ax.set_ylabel("eigenvalue")
    ax.legend()
    sec.figure("scree", fig, caption="Scree plot with parallel analysis")
    plt.close(fig)
    for w in warned + e.warnings:
        sec.warning(w)
    sec.close()

    # ---- CFA fit section ---------------------------------------------------------
    sec = SectionWriter(results, "cfa", "CFA fit (Table 12)")
    if not cfa.admissible:
        sec.warning("The measurement model's solution is INADMISSIBLE; its fit must not be "
                    "interpreted: " + "; ".join(cfa.warnings))
    ft = fit_table(cfa_fm, sem_p.get("thresholds", {}), likelihood=lik)
    sec.table("table12", ft, caption=f"Model fit of the measurement model (N = {cfa.nobs}, "
              f"likelihood = {lik})")
    for w in cfa_warned:
        sec.warning(w)
    sec.close()
    for key in ("chisq", "gfi", "agfi", "rmsea", "tli", "cfi", "ifi", "cmin_df"):
        if key in cfa_fm.index:
            computed[f"{wave}.fit.{key}"] = float(cfa_fm[key])
    # Table 12 prints the p-value as a verdict ("Significant"): 1 = p < .05
    computed[f"{wave}.fit.pvalue"] = int(float(cfa_fm["pvalue"]) < 0.05)

    # ---- structural model ------------------------------------------------------
    with _Captured() as sem_warned:
        res = fit(paths.resolve(sem_p["model"]), data, likelihood=lik, missing=miss)
        B = int(boot_p.get("B", 5000))
        boot = bootstrap(res, B=B, seed=boot_p.get("seed"), level=boot_p.get("level", 0.95),
                         drop_inadmissible=bool(boot_p.get("drop_inadmissible", False)),
                         progress=False, attach=False) if B > 0 else None
    sec = SectionWriter(results, "structural", "Structural model (Table K.2)")
    if not res.admissible:
        sec.warning("The structural model's solution is INADMISSIBLE; estimates are shown for "
                    "diagnosis only: " + "; ".join(res.warnings))
    pt = paths_table(res.parameters)
    sec.table("table_k2", pt, caption="Regression weights: Estimate, S.E., C.R., P and "
              "standardized (std.all)")
    sec.table("r2", res.r2.to_frame("R²"), caption="Squared multiple correlations")
    if boot is not None:
        sec.text(boot.report())
    sec.table("indirect", _effects_table(None if boot is None else boot.table, res.parameters,
                                         "ind_"),
              caption="Indirect effects through Citizen Centricity (delta-method SE, bootstrap "
                      "percentile and bias-corrected CIs)")
    sec.table("total", _effects_table(None if boot is None else boot.table, res.parameters, "tot_"),
              caption="Total effects on ICS (direct + indirect)")
    fm = res.fit_measures()
    sec.table("fit", fit_table(fm, sem_p.get("thresholds", {}), likelihood=lik),
              caption="Fit of the structural model")
    for w in sem_warned:
        sec.warning(w)
    sec.close()
    prm = res.parameters
    for r in prm[prm.op == "=~"].itertuples():
        base = f"{wave}.loading.{r.lhs}.{r.rhs}"
        computed[f"{base}.est"] = r.est
        if r.se > 0:
            computed[f"{base}.se"] = r.se
            computed[f"{base}.z"] = r.z
            computed[f"{base}.pvalue"] = r.pvalue

    # ---- hypotheses --------------------------------------------------------------
    hyp = hypothesis_table(prm, None if boot is None else boot.table, hyp_p,
                          admissible=bool(res.admissible))
    labels = _published_labels(f"{wave}.hypothesis.")
    hyp.insert(0, "statement", [labels.get(f"{wave}.hypothesis.{h}", "") for h in hyp.index])
    sec = SectionWriter(results, "hypotheses", "Hypotheses (Table 13)")
    sec.text(f"Effect tested for H1-H4: **{hyp_p.get('effect', 'total')}** "
             f"(params.yaml `hypotheses.effect`); alpha = {hyp_p.get('alpha', 0.05)}. "
             "H5 and the basic hypothesis use bootstrap percentile intervals of differences "
             f"defined in `{sem_p['model']}` (B = {B}, seed = {boot_p.get('seed')}).")
    if not res.admissible:
        sec.warning("Inadmissible fit: no hypothesis is marked supported.")
    sec.table("table13", hyp, caption="Summary of the hypotheses' status")
    sec.close()
    for h in hyp.index:
        if h.startswith("H"):
            computed[f"{wave}.hypothesis.{h}"] = hyp.loc[h, "decision"]

    # ---- path diagram ------------------------------------------------------------
    sec = SectionWriter(results, "diagram", "Path diagram")
    fig = path_diagram(prm, title=f"{wave}: standardized estimates")
    sec.figure("path_diagram", fig, caption="Structural model with standardized estimates")
    plt.close(fig)
    sec.close()
