"""The thesis's audit rules: which published numbers of Amirova (2021) check which.

The generic checks live in :mod:`pipeline.replication.audit` (a fit table
against its model and N, alphas against their item counts, counts against
percentages, critical ratios, identities and repeats between published
numbers).  This module knows the thesis: its key names
(``cs2019.fit.*``, ``cs2019.alpha.*``, ``cs2019.loading.*``,
``<wave>.table<N>.*``), the 2019 model behind Table 12 (19 indicators of 7
factors, N = 100), the identities between its tables and the numbers it
prints twice.

* :func:`audit_thesis` -- every check on the transcribed tables of
  :data:`PUBLISHED`;
* :func:`scorecard_rows` -- what the audit recomputes for the scorecard.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Mapping

from dataclasses import replace

from pipeline.replication.audit import (AuditResult, Identity, Inconsistency, audit_counts,
                                        audit_critical_ratios, audit_fit_table,
                                        audit_identities, audit_reliability, audit_repeats,
                                        audit_text_against_tables, chisq_pvalue,
                                        evaluate_identities, reported_value, rmsea_from_chisq,
                                        text_reference)
from pipeline.replication.published import load_published

__all__ = ["PUBLISHED", "THESIS_INDICATORS", "IDENTITIES", "count_groups_from_published",
           "fit_inputs", "repeat_pairs", "published_identities", "audit_thesis",
           "scorecard_rows", "methods_notes"]

#: The thesis's transcribed tables.
PUBLISHED = Path(__file__).resolve().parent / "published"
#: ``source`` of the scorecard rows recomputed here.
SOURCE = "studies.amirova2021.audit_rules"

_COUNT_KEY = re.compile(r"^(?P<wave>[^.]+)\.(?P<table>table\d+)\.(?P<rest>.+)$")
_ORGS = ("ACSA", "akimat")


def count_groups_from_published(published: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Build :func:`audit_counts` groups from the published demographic tables.

    Keys ``<wave>.table<N>.<variable>.<category>[.<org>][.pct]`` (count and
    share of one category) and ``<wave>.table<N>.total[.<org>]`` (the
    group total) as transcribed for Tables 11, 14, 16 and 17.
    """
    cells: dict[tuple, dict[str, dict[str, Any]]] = {}
    totals: dict[tuple, Any] = {}
    meta: dict[tuple, str] = {}
    for key, pv in published.items():
        m = _COUNT_KEY.match(key)
        if not m or pv.unit not in ("count", "percent"):
            continue
        parts = m.group("rest").split(".")
        pct = parts[-1] == "pct"
        if pct:
            parts = parts[:-1]
        org = parts[-1] if parts[-1] in _ORGS else ""
        if org:
            parts = parts[:-1]
        if parts == ["total"]:
            totals[(m.group("wave"), m.group("table"), org)] = (pv.printed, key)
            continue
        if len(parts) != 2:
            continue
        var, cat = parts
        gk = (m.group("wave"), m.group("table"), org, var)
        meta.setdefault(gk, f"{pv.table}, line {pv.line}")
        c = cells.setdefault(gk, {}).setdefault(cat, {"label": cat, "where": f"{pv.table}, line {pv.line}"})
        c["percent" if pct else "count"] = pv.printed
        c["percent_key" if pct else "count_key"] = key
    groups = []
    for gk, cats in cells.items():
        wave, table, org, var = gk
        total, total_key = totals.get((wave, table, org), (None, None))
        groups.append({"name": ".".join(x for x in (wave, table, var, org) if x),
                       "total": total, "total_key": total_key, "where": meta[gk],
                       "items": list(cats.values())})
    return groups


def fit_inputs(published: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
    rep: dict[str, Any] = {}
    thr: dict[str, str] = {}
    where = ""
    lines: list[int] = []
    for key, pv in published.items():
        if not key.startswith("cs2019.fit."):
            continue
        lines.append(pv.line)
        where = f"{pv.table}, lines {min(lines)}-{max(lines)}"
        rest = key[len("cs2019.fit."):]
        if rest.startswith("threshold."):
            continue          # numeric copies of the printed thresholds
        rep[rest] = pv.printed
        if pv.extra.get("threshold"):
            thr[rest] = str(pv.extra["threshold"])
    rep["thresholds"] = thr
    return rep, where


#: The 2019 model (THESIS_MAP.md; Annex F): indicators per factor L S HC O R CC ICS.
THESIS_INDICATORS = {"L": 2, "S": 3, "HC": 5, "O": 3, "R": 3, "CC": 1, "ICS": 2}




def audit_thesis(published: Mapping[str, Any] | None = None, *, n: int = 100,
                 indicators_per_factor: Mapping[str, int] | None = None) -> AuditResult:
    """Run every audit on the thesis's transcribed tables.

    Table 12 (fit, N = 100, 19 observed variables, 7 factors of which CC has
    one indicator), Table K.1 (alphas), Table K.2 (critical ratios), the
    demographic Tables 11, 14, 16 and 17 (when transcribed), and the CEA
    tables' cross-references (Tables 23-24 vs 15/18 for 2020).

    Parameters
    ----------
    published : mapping, optional
        ``key -> PublishedValue``; all of :data:`PUBLISHED` by default.
    n : int
        N of the fit table (the study's ``audit.n``: 100 valid questionnaires).
    indicators_per_factor : mapping, optional
        Factor -> number of indicators (``audit.indicators_per_factor``);
        the thesis model by default.
    """
    pub = load_published(PUBLISHED) if published is None else published
    ipf = dict(indicators_per_factor or THESIS_INDICATORS)
    findings: list[Inconsistency] = []
    checked: dict[str, int] = {}
    rep, where = fit_inputs(pub)
    if len(rep) > 1:
        ks = [int(k) for k in ipf.values()]
        findings += [_fit_keys(f, pub) for f in audit_fit_table(
            rep, n=n, n_observed=sum(ks), n_factors=len(ks),
            single_indicator_factors=sum(1 for k in ks if k == 1),
            model_df=None, where=where)]
        checked["fit measures"] = len(rep) - 1
    rel = [dict(scale=k.split(".")[-1], alpha=pv.printed, n_items=_n_items(pv),
                where=f"{pv.table}, line {pv.line}", key=k)
           for k, pv in pub.items() if k.startswith("cs2019.alpha.")]
    if rel:
        findings += audit_reliability(rel)
        checked["alphas"] = len(rel)
    crs = _cr_rows(pub)
    if crs:
        findings += audit_critical_ratios(crs)
        checked["critical ratios"] = len(crs)
    x = audit_repeats(pub, repeat_pairs(pub))
    if x[1]:
        findings += x[0]
        checked["cross-table repeats"] = x[1]
    x = audit_identities(pub, IDENTITIES)
    if x[1]:
        findings += x[0]
        checked["identities"] = x[1]
    groups = count_groups_from_published(pub)
    if groups:
        findings += audit_counts(groups)
        checked["count groups"] = len(groups)
    x = audit_text_against_tables(pub)
    if x[1]:
        findings += x[0]
        checked["text numbers against their tables"] = x[1]
    return AuditResult(findings, checked)


def _fit_keys(f: Inconsistency, pub: Mapping[str, Any]) -> Inconsistency:
    """The Table 12 keys a fit finding contradicts: its reported measures that are published
    (a misprinted threshold contradicts no number and names none)."""
    if f.check.startswith("threshold_"):
        return f
    keys = tuple(f"cs2019.fit.{m}" for m in f.reported if f"cs2019.fit.{m}" in pub)
    return replace(f, keys=keys)


def repeat_pairs(published: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Numbers printed twice, which must agree: the country averages of Tables 15
    and 18, and the 2020 "actual" column of Tables 23/24 against Tables 15/18."""
    pairs = []
    for key in published:
        parts = key.split(".")
        if len(parts) == 5 and parts[:3] == ["cea", "t15", "country_avg"]:
            pairs.append((key, "cea.t18." + ".".join(parts[2:])))
        if len(parts) == 5 and parts[0] == "cea" and parts[1] in ("t23", "t24") and parts[4] == "2020":
            src = "t15" if parts[1] == "t23" else "t18"
            pairs.append((key, f"cea.{src}.{parts[2]}.{parts[3]}.2020"))
    return pairs


#: Arithmetic identities between published numbers: (target, operation, operands).
#: "sum": target = sum(operands); "diff": operands[0] - operands[1];
#: "pct": 100 * operands[0] / operands[1].
IDENTITIES: tuple[Identity, ...] = (
    ("cs2019.screening.valid", "diff", ("cs2019.screening.returned", "cs2019.screening.rejected")),
    ("cs2019.screening.response_rate", "pct", ("cs2019.screening.valid", "cs2019.screening.distributed")),
    ("cs2019.screening.valid", "sum", ("cs2019.screening.valid.ACSA", "cs2019.screening.valid.akimat")),
    ("cs2019.table6.n.total", "sum", ("cs2019.table6.n.ACSA", "cs2019.table6.n.akimat")),
    ("cs2019.table11.total.ACSA", "sum", ("cs2019.table6.n.ACSA",)),
    ("cs2019.table11.total.akimat", "sum", ("cs2019.table6.n.akimat",)),
    ("cs2020.table6.n.total", "sum", ("cs2020.table6.n.ACSA.central", "cs2020.table6.n.ACSA.territorial",
                                      "cs2020.table6.n.akimat.apparatus",
                                      "cs2020.table6.n.akimat.institutions")),
    ("cs2020.table14.total.ACSA", "sum", ("cs2020.table6.n.ACSA.central", "cs2020.table6.n.ACSA.territorial")),
    ("cs2020.table16.total.akimat", "sum", ("cs2020.table6.n.akimat.apparatus",
                                            "cs2020.table6.n.akimat.institutions")),
    ("citizens2020.table17.total", "sum", ("citizens2020.table6.n.total",)),
)


def published_identities(published: Mapping[str, Any]) -> list[tuple[str, float, str]]:
    """Evaluate :data:`IDENTITIES` whose keys are all published
    (:func:`pipeline.replication.audit.evaluate_identities`).

    Returns
    -------
    list of (target key, value implied by the other published numbers, arithmetic)
    """
    return evaluate_identities(published, IDENTITIES)


def _n_items(pv: Any) -> int | None:
    # n_items is an extra field of tableK1_alpha.yaml; else count the items listed in the label
    if pv.extra.get("n_items") is not None:
        return int(pv.extra["n_items"])
    k = pv.label.count(" - ")
    return k or None


def _cr_rows(pub: Mapping[str, Any]) -> list[dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}
    for k, pv in pub.items():
        if k.startswith("cs2019.loading.") and k.rsplit(".", 1)[-1] in ("est", "se", "z"):
            base, what = k.rsplit(".", 1)
            rows.setdefault(base, {"name": base, "where": f"{pv.table}, line {pv.line}",
                                   "key": base + ".z"})[what] = pv.printed
    return [r for r in rows.values() if {"est", "se", "z"} <= set(r)]


def scorecard_rows(published: Mapping[str, Any], *, n: int = 100
                   ) -> list[tuple[str, Any, str, float | None, str]]:
    """Values the audit recomputes from published numbers alone, keyed like :data:`PUBLISHED`.

    * ``cs2019.fit.rmsea``: RMSEA from the published chisq, the df implied
      by CMIN/DF and *n* (N-1 convention, AMOS's);
    * ``cs2019.fit.pvalue``: 1 if that chi-square is significant at .05;
    * ``cs2019.loading.*.z``: Estimate / S.E. from the printed values, with
      the tolerance the rounding of Estimate and S.E. allows;
    * every number the text states about a table (entries with ``counts``
      and ``total``): recomputed from that table's cells.

    Returns
    -------
    list of (key, value, note, tolerance, source): the extra rows of
    :func:`pipeline.replication.scorecard.collect`
    """
    out: list[tuple[str, Any, str, float | None]] = []
    rep, _ = fit_inputs(published)
    chisq, cmin = reported_value(rep.get("chisq")), reported_value(rep.get("cmin_df"))
    if chisq is not None and cmin is not None:
        df = round(chisq.value / cmin.value)
        if "cs2019.fit.rmsea" in published:
            out.append(("cs2019.fit.rmsea", rmsea_from_chisq(chisq.value, df, n),
                        f"recomputed from published chisq {chisq.text}, df {df} (= chisq / CMIN/DF), "
                        f"N = {n} (N-1 convention)", None))
        if "cs2019.fit.pvalue" in published:
            p = chisq_pvalue(chisq.value, df)
            out.append(("cs2019.fit.pvalue", int(p < 0.05),
                        f"p = {p:.2g} from chisq {chisq.text}, df {df}", None))
    for target, v, arith in published_identities(published):
        out.append((target, v, "from other published numbers: " + arith, None))
    for key in published:
        ref = text_reference(published, key)
        if ref is not None:
            out.append((key, ref[0], "from the table it summarizes: " + ref[1], None))
    for r in _cr_rows(published):
        e, se = reported_value(r["est"]), reported_value(r["se"])
        z = e.value / se.value
        tol = max(abs(e.hi / se.lo - z), abs(e.lo / se.hi - z))
        out.append((r["name"] + ".z", z,
                    f"Estimate / S.E. = {r['est']}/{r['se']}; tolerance {tol:.3f} is what the "
                    "rounding of both allows", tol))
    return [(k, v, note, tol, SOURCE) for k, v, note, tol in out]


def methods_notes(params: Mapping[str, Any]) -> dict[str, Any]:
    """What the index says about the thesis's methods, next to the ones used here.

    Parameters
    ----------
    params : mapping
        The study's parameters (``cea.inflation`` is read).

    Returns
    -------
    dict
        ``why``: wave -> why its chi-square convention; ``rules``: (label, text)
        pairs, the thesis's decision rule next to the one used; ``notes``: remarks
        (the CEA's inflation rate is inferred, not published).
    """
    infl = (params.get("cea") or {}).get("inflation")
    notes = []
    if infl is not None:
        notes.append(f"Cost-effectiveness analysis: the annual inflation rate of the standard-mode "
                     f"payroll, {100 * float(infl):g}%, is inferred: it is the rate that reproduces "
                     "Table 19 (line 1601); the thesis does not publish it.")
    return {
        "why": {
            "cs2019": "as the thesis: Table 12 (line 1026) is AMOS output, whose chi-square "
                      "is (N - 1) x F_ML",
            "cs2020": "the thesis fits no model to the 2020 survey; the CFA of its instrument "
                      "is the project's own and uses lavaan's default",
        },
        "rules": [
            ("The thesis's decision rule (line 1050)",
             "'All critical ratios are over 1.97': a path is significant when its critical "
             "ratio (Estimate / S.E.) exceeds 1.97"),
            ("The rule used here (cs2019)",
             "two-sided p = 2 (1 - Phi(|z|)) < .05, i.e. |z| > 1.960, with the hypothesized "
             "sign (pipeline.sem.hypotheses); the difference from 1.97 changes no decision "
             "unless a critical ratio lies in (1.960, 1.970]"),
        ],
        "notes": notes,
    }
