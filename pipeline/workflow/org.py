"""Report sections of the two 2020 survey waves (Amirova 2021, sections 2.3.1.4 and 2.3.2.4).

``analyze_org_wave`` -- civil servants of the ACSA and the Nur-Sultan akimat
(Annex H, line 2944):

``profile``
    Tables 14 and 16: each demographic by organization, counts and shares.
``distributions``
    The answers to every Section B item and factor by organization as
    stacked bars (figures 16-27), the share of top answers per factor and
    organization, and the number of answers to the open questions.
``reliability``
    Cronbach's alpha per factor (whole sample and per organization),
    item-total statistics, and the CFA of the five-factor 2020 instrument
    (``studies/amirova2021/models/cs2020/cfa_2020.lav``) with its fit table, loadings, CR and AVE.
``comparison``
    ACSA vs akimat item by item (and per factor score): Mann-Whitney U
    with the rank-biserial correlation, chi-square with Cramér's V, p-values
    adjusted over the family of items (:mod:`pipeline.psychometrics.comparison`).

``analyze_citizens_wave`` -- residents of Nur-Sultan (Annex I, line 3234):
``profile`` (Table 17), ``frequencies`` (figures 28-31) and ``freetext``
(the number of answers to each open question, after redaction; never the
text).

Disclosure control
------------------
Every table of counts built from respondent-level data (demographics,
distributions, open-answer counts) goes through
:func:`pipeline.data.privacy.suppress_small_cells` (k = ``privacy.k``) before it
is stored: the stored table is the display table ("<k", "[c]"), with the
suppression note.  The unsuppressed full-precision numbers go only into
``computed`` (the replication scorecard).  Figures of distributions label a
segment only when it holds at least k answers.  A test of a demographic
crosstab with suppressed cells is withheld (its statistic and the margins
would pin the suppressed cells down).  Residual risk, stated for reviewers:
per-item statistics by organization (means, medians, U, chi-square) are
analytical outputs and are not suppressed, although with the printed
margins they constrain the suppressed answer counts of an item; the
answers they concern are attitudes, not identifying characteristics.

"Top answers"
-------------
The thesis calls the bars of figures 16 and 22 the "maximum response
points": "the prevailing share of respondents gave the maximum score for
each of the factors" (line 1170).  Its Leadership figure, 75.2% for the
ACSA (line 1177), is the share of code 5 ("I totally agree") among all
answers to the factor's items; the text's "positive" shares (about 70%
positive on O1-O3, line 1192; 65.5% on R1, line 1211) are codes 5 + 4.
Both are reported (``comparison.top_codes`` and ``positive_codes``).

In R: ``table(d$age, d$org)``, ``psych::alpha``, ``lavaan::cfa``,
``wilcox.test``, ``p.adjust`` -- see the modules doing the work.
"""
from __future__ import annotations

import contextlib
import re
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd

from pipeline.cli import config
from pipeline.core import paths
from pipeline.psychometrics.comparison import compare_items
from pipeline.data.privacy import SuppressionResult, default_k, suppress_small_cells
from pipeline.reporting.report import SectionWriter, disclosed_bar_counts, disclosed_shares

__all__ = [
    "analyze_org_wave", "analyze_citizens_wave", "grouped_counts", "suppressed_distribution",
    "answer_shares", "top_answer_table", "fit_table", "published_counts",
    "published_text_percentages", "nonempty", "survey_scope", "TAG_RE",
]

MISSING_LABEL = "No answer"
#: Demographic columns of the profile tables when the wave has no published table.
_DEMOGRAPHICS = ("age", "gender", "education", "cs_experience", "experience", "position",
                 "activity")
#: The tags :func:`pipeline.data.privacy.redact` leaves in redacted text.
TAG_RE = re.compile(r"\[(?:EMAIL|URL|IIN|PHONE|HANDLE|NAME)\]")
_FACTOR_SHORT = {"LEAD": "L", "STRAT": "S", "HUMCAP": "HC", "ORGAN": "O", "RES": "R"}
# diverging palette, code 5 (dark green) ... code 1 (dark red), missing grey
_COLORS = {5: "#1a9850", 4: "#91cf60", 3: "#d9d9d9", 2: "#fc8d59", 1: "#d73027"}


# ---------------------------------------------------------------- params
#: the running wave's settings (pipeline.cli.config.wave_settings), set by
#: analyze_org_wave / analyze_citizens_wave; None: read params.yaml's groups
_SETTINGS: dict[str, Any] | None = None


def _params() -> dict[str, Any]:
    defaults = {"groups": ["ACSA", "akimat"], "adjust": ["holm", "BH"], "alpha": 0.05,
                "chisq": True, "simulate": "auto", "B": 2000, "seed": 20201015,
                "top_codes": [5], "positive_codes": [5, 4],
                "cfa_model": "studies/amirova2021/models/cs2020/cfa_2020.lav", "cfa_likelihood": "normal",
                "cfa_missing": "listwise", "fit_thresholds": {}}
    if _SETTINGS is not None:
        p = {k: v for k, v in (_SETTINGS.get("comparison") or {}).items() if v is not None}
        return {**defaults, **p}
    try:
        p = config.stage_params("comparison") or {}
    except (KeyError, FileNotFoundError):
        p = {}
    return {**defaults, **p}


def _group_params(name: str) -> dict[str, Any]:
    if _SETTINGS is not None:
        return dict(_SETTINGS.get(name) or {})
    try:
        return config.stage_params(name) or {}
    except (KeyError, FileNotFoundError):
        return {}


def _k() -> int:
    if _SETTINGS is not None:
        return int(_SETTINGS["privacy"]["k"])
    return default_k()


@contextlib.contextmanager
def _using(settings: dict[str, Any] | None) -> Iterator[None]:
    global _SETTINGS
    old, _SETTINGS = _SETTINGS, settings
    try:
        yield
    finally:
        _SETTINGS = old


@contextlib.contextmanager
def _report_warnings(writer: SectionWriter) -> Iterator[None]:
    """Record the project's warnings raised inside as visible warnings of the section
    (the workflow's one capture helper, :class:`pipeline.workflow.wave._Captured`)."""
    from pipeline.workflow.wave import _Captured
    cap = _Captured()
    caught = cap.__enter__()
    try:
        yield
    finally:
        cap.__exit__(None, None, None)
        for msg in caught:
            writer.warning(msg)


# ------------------------------------------------------------ primitives
def _numeric(s: pd.Series) -> pd.Series:
    return pd.to_numeric(s, errors="coerce").astype(float)


def nonempty(s: pd.Series) -> pd.Series:
    """True where a free-text answer is given (not NaN, not blank).

    In R: ``!is.na(x) & nzchar(trimws(x))``.
    """
    return s.notna() & s.astype(str).str.strip().ne("") & s.astype(str).ne("nan")


def grouped_counts(data: pd.DataFrame, column: str, codes: Mapping[Any, str], *,
                   group: str | None = None, groups: Sequence[Any] | None = None,
                   missing_label: str = MISSING_LABEL) -> pd.DataFrame:
    """Counts of each code of *column* (rows, labelled) by group (columns).

    Parameters
    ----------
    data : DataFrame
        Respondent-level data.
    column : str
    codes : mapping
        Code -> label, in the order of the rows (codes nobody chose get 0).
    group : str, optional
        Grouping column; without it one column ``n``.
    groups : sequence, optional
        Groups (columns) in order; default the groups in order of appearance.
    missing_label : str
        Row for respondents without an answer (only when there are any).

    Returns
    -------
    DataFrame of int
        Interior counts without totals.

    In R: ``table(factor(d[[column]], levels = codes), d[[group]], useNA = "ifany")``.
    """
    if column not in data.columns:
        raise ValueError(f"column: {column!r} not in data")
    if group is not None and group not in data.columns:
        raise ValueError(f"group: {group!r} not in data")
    numeric = all(isinstance(c, (int, np.integer, float)) for c in codes)
    values = _numeric(data[column]) if numeric else data[column]
    unknown = sorted({v for v in values.dropna() if v not in codes}, key=str)
    if unknown:
        raise ValueError(f"column: {column!r} holds values that are not codes: {unknown[:10]}")
    if group is None:
        cols = {"n": pd.Series(True, index=data.index)}
    else:
        gs = list(groups) if groups is not None else list(pd.unique(data[group].dropna()))
        cols = {g: data[group] == g for g in gs}
    rows: dict[str, list[int]] = {}
    for code, label in codes.items():
        rows[label] = [int(((values == code) & m).sum()) for m in cols.values()]
    miss = [int((values.isna() & m).sum()) for m in cols.values()]
    if sum(miss):
        rows[missing_label] = miss
    return pd.DataFrame.from_dict(rows, orient="index", columns=list(cols))


def suppressed_distribution(counts: pd.DataFrame, k: int, *, valid_percent: bool = False,
                            missing_label: str = MISSING_LABEL
                            ) -> tuple[pd.DataFrame, SuppressionResult]:
    """Display table (counts and column percentages) after small-cell suppression.

    Parameters
    ----------
    counts : DataFrame
        Interior counts (rows: answers; columns: groups), as from
        :func:`grouped_counts`.
    k : int
        Suppression threshold.
    valid_percent : bool
        Add a valid-percent column per group (share among those who
        answered; blank on the missing row).  When the missing row of a
        group is suppressed, its valid percentages are all shown as
        ``"[c]"``: with the counts they would reveal the number of
        non-answers.

    Returns
    -------
    (DataFrame, SuppressionResult)
        The display table with columns ``<g> n``, ``<g> %`` (and ``<g> valid
        %``) per group, plus ``Total`` columns when there are several groups;
        rows the answers plus ``Total``.  Suppressed cells read ``"<k"`` or
        ``"[c]"`` in every column of that cell.  The result holds the
        internal numbers.

    In R: ``sdcTable::protectTable(...)``, then ``prop.table(tab, 2) * 100``.
    """
    sup = suppress_small_cells(counts, k)
    full = sup.counts.astype(float)
    col_tot = full.loc[sup.total_label]
    pct = full.div(col_tot.where(col_tot > 0), axis=1) * 100.0
    if valid_percent:
        answered = full.drop(index=[missing_label, sup.total_label], errors="ignore").sum()
        vpct = full.div(answered.where(answered > 0), axis=1) * 100.0
        vpct.loc[[i for i in vpct.index if i in (missing_label,)]] = np.nan
        vpct.loc[sup.total_label] = 100.0
    cols: dict[str, pd.Series] = {}
    for g in sup.counts.columns:
        cols[f"{g} n"] = sup.display[g]
        cols[f"{g} %"] = sup.apply_to(pct)[g]
        if valid_percent:
            vp = sup.apply_to(vpct)[g]
            if missing_label in sup.mask.index and bool(sup.mask.loc[missing_label, g]):
                # valid % = n / answered would reveal the suppressed number of non-answers
                vp = vp.where(vp.isin([f"<{k}", "[c]"]), "[c]")
            cols[f"{g} valid %"] = vp
    out = pd.DataFrame(cols)
    if "n n" in out.columns:                      # a single ungrouped column
        out = out.rename(columns={"n n": "n", "n %": "%", "n valid %": "valid %"})
    return out, sup


def answer_shares(data: pd.DataFrame, items: Sequence[str], codes: Sequence[Any]) -> tuple[int, int]:
    """Answers in *codes* and all answers, pooled over *items*.

    Parameters
    ----------
    data : DataFrame
    items : sequence of str
    codes : sequence
        The answer codes counted (e.g. ``[5]`` for the top answer).

    Returns
    -------
    (int, int)
        Missing answers are excluded from both.

    In R: ``v <- na.omit(unlist(d[items])); c(sum(v %in% codes), length(v))``.
    """
    vals = pd.concat([_numeric(data[i]) for i in items], ignore_index=True).dropna()
    return int(vals.isin([float(c) for c in codes]).sum()), int(vals.size)


def top_answer_table(data: pd.DataFrame, constructs: Mapping[str, Sequence[str]], group: str,
                     groups: Sequence[Any], codes: Sequence[Any], k: int
                     ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Share of answers in *codes* per factor and group (figures 16 and 22).

    Returns
    -------
    (display, internal)
        *internal*: columns ``factor group count answers percent`` (full
        precision).  *display*: factors x groups, the percentage, masked
        ("<k") when the count of top answers or of the other answers is
        small (a 2 x groups table per factor, suppressed with its totals).

    In R: ``sapply(split(d, d$org), function(s) mean(unlist(s[items]) %in% codes, na.rm = TRUE))``.
    """
    rows, disp = [], {}
    for f, items in constructs.items():
        tab = {}
        for g in groups:
            sub = data[data[group] == g]
            c, n = answer_shares(sub, items, codes)
            rows.append({"factor": f, "group": g, "count": c, "answers": n,
                         "percent": 100.0 * c / n if n else np.nan})
            tab[g] = [c, n - c]
        counts = pd.DataFrame(tab, index=["top", "other"])
        sup = suppress_small_cells(counts, k)
        cur = [r["percent"] for r in rows[-len(groups):]]
        pct = pd.DataFrame([cur, [np.nan] * len(groups)], index=["top", "other"],
                           columns=list(groups))
        disp[f] = sup.apply_to(pct).loc["top", list(groups)]
    return pd.DataFrame(disp).T, pd.DataFrame(rows)


def fit_table(measures: pd.Series, thresholds: Mapping[str, Sequence[Any]]) -> pd.DataFrame:
    """Fit measures with thresholds and a verdict (good / acceptable / poor).

    Parameters
    ----------
    measures : Series
        ``SEMResult.fit_measures()`` (lavaan names).
    thresholds : mapping
        ``measure: [direction, good, acceptable]`` with direction ``">="``
        or ``"<="`` (from ``params.yaml`` ``comparison.fit_thresholds``).

    Returns
    -------
    DataFrame
        Columns ``measure value threshold verdict``; chi-square, df and p
        and the RMSEA 90% CI and PCLOSE are listed without a verdict.

    In R: ``fitMeasures(fit, c("chisq", "df", "pvalue", "cfi", ...))``.
    """
    rows = []
    for m in ("chisq", "df", "pvalue"):
        if m in measures:
            rows.append({"measure": m, "value": float(measures[m]), "threshold": "", "verdict": ""})
    for m, spec in thresholds.items():
        if m not in measures:
            continue
        if len(spec) != 3 or spec[0] not in (">=", "<="):
            raise ValueError(f"thresholds: {m!r} must be [direction, good, acceptable], got {spec!r}")
        d, good, ok = spec[0], float(spec[1]), float(spec[2])
        v = float(measures[m])
        if not np.isfinite(v):
            verdict = "not available"
        elif (v >= good) if d == ">=" else (v <= good):
            verdict = "good"
        elif (v >= ok) if d == ">=" else (v <= ok):
            verdict = "acceptable"
        else:
            verdict = "poor"
        rows.append({"measure": m, "value": v, "verdict": verdict,
                     "threshold": f"good {d} {good:g}; acceptable {d} {ok:g}"})
    for m in ("rmsea.ci.lower", "rmsea.ci.upper", "rmsea.pvalue"):
        if m in measures:
            rows.append({"measure": m, "value": float(measures[m]), "threshold": "", "verdict": ""})
    return pd.DataFrame(rows, columns=["measure", "value", "threshold", "verdict"])


# -------------------------------------------------------- published keys
def survey_scope(data: pd.DataFrame, units: Mapping[str, Mapping[str, str | None]], *,
                 group: str = "org", column: str = "authority") -> pd.DataFrame:
    """Respondents per organization and unit type (Table 6, line 699).

    Parameters
    ----------
    data : DataFrame
        Respondent-level data with *group* and *column* (the public
        authority, free text from a drop-down list).
    units : mapping
        ``{group: {unit: regex or None}}``: a respondent belongs to the first
        unit whose regular expression (case-insensitive) matches *column*;
        the unit with ``None`` takes the rest (``params.yaml``
        ``comparison.scope_units``).

    Returns
    -------
    DataFrame
        Columns ``group unit n``; unmatched respondents of a group without a
        ``None`` unit are counted under unit ``"unclassified"``.

    In R: ``table(d$org, unit)``.
    """
    for name in (group, column):
        if name not in data.columns:
            raise ValueError(f"data: has no column {name!r}")
    rows = []
    for g, spec in units.items():
        sub = data[data[group] == g]
        text = sub[column].fillna("").astype(str)
        left = pd.Series(True, index=sub.index)
        rest = None
        for unit, rx in spec.items():
            if rx is None:
                rest = unit
                continue
            try:
                hit = text.str.contains(rx, case=False, regex=True) & left
            except re.error as exc:
                raise ValueError(f"units: bad regular expression {rx!r} for {g}.{unit}: {exc}") \
                    from None
            rows.append({"group": g, "unit": unit, "n": int(hit.sum())})
            left &= ~hit
        rows.append({"group": g, "unit": rest or "unclassified", "n": int(left.sum())})
    return pd.DataFrame(rows, columns=["group", "unit", "n"])


def _targets(wave: str, instrument: str) -> dict[str, Any] | None:
    from studies.amirova2021.synth import load_targets
    try:
        t = load_targets()
    except FileNotFoundError:
        return None
    # only the thesis's own waves have published numbers: another wave with the same
    # instrument (a new survey) must not be scored against them
    spec = t.get(wave)
    return spec if isinstance(spec, dict) and spec.get("instrument") == instrument else None


def _published(files: Sequence[str]) -> dict[str, dict[str, Any]]:
    from studies.amirova2021.synth import published_values
    return published_values(files)


def published_counts(data: pd.DataFrame, spec: Mapping[str, Any], prefix: str, suffix: str,
                     published: Mapping[str, Any]) -> dict[str, float]:
    """Counts and shares of the demographic rows a published table prints.

    Parameters
    ----------
    data : DataFrame
        The respondents of the table (one organization for Tables 14/16).
    spec : mapping
        ``column: {variable: <slug of the published key>, codes: {slug: code}}``
        (``studies/amirova2021/models/synth_targets.yaml``).
    prefix, suffix : str
        Key parts: ``<prefix>.<variable>.<slug><suffix>`` and ``.pct``;
        ``<prefix>.total<suffix>``.
    published : mapping
        Published keys; only those are returned.

    Returns
    -------
    dict
        key -> count (int) or percentage of all the table's respondents
        (full precision).

    In R: ``table(factor(d$age, levels = codes))``, ``100 * prop.table(...)``.
    """
    out: dict[str, float] = {}
    n = len(data)
    total_key = f"{prefix}.total{suffix}"
    if total_key in published:
        out[total_key] = n
    for column, s in spec.items():
        if column not in data.columns:
            continue
        values = _numeric(data[column])
        for slug, code in s["codes"].items():
            key = f"{prefix}.{s['variable']}.{slug}{suffix}"
            c = int((values == float(code)).sum())
            if key in published:
                out[key] = c
            if key + ".pct" in published and n:
                out[key + ".pct"] = 100.0 * c / n
    return out


def published_text_percentages(data: pd.DataFrame, targets: Sequence[Mapping[str, Any]],
                               published: Mapping[str, Any], *, group: str | None = None
                               ) -> dict[str, float]:
    """Recompute the percentages the thesis states in its text.

    Each target (``studies/amirova2021/models/synth_targets.yaml``) is one of: ``items`` +
    ``codes`` (share of all answers to the items in the codes), ``column`` +
    ``codes`` (share of the respondents who answered the column), or
    ``column`` + ``nonempty`` (share of all respondents writing an answer).
    ``org`` restricts to one group of *group*.  Only keys present in
    *published* are returned (full precision, percent).

    In R: ``100 * mean(na.omit(d$x) %in% codes)``.
    """
    out: dict[str, float] = {}
    for t in targets:
        key = t["key"]
        if key not in published:
            continue
        sub = data
        if "org" in t and group is not None:
            sub = data[data[group] == t["org"]]
        if not len(sub):
            continue
        if "items" in t:
            if any(i not in sub.columns for i in t["items"]):
                continue
            c, n = answer_shares(sub, t["items"], t["codes"])
        elif t.get("nonempty"):
            if t["column"] not in sub.columns:
                continue
            c, n = int(nonempty(sub[t["column"]]).sum()), len(sub)
        else:
            col = t["column"]
            if col not in sub.columns:
                continue
            codes = t["codes"]
            if all(isinstance(x, (int, float)) for x in codes):
                v = _numeric(sub[col]).dropna()
                c, n = int(v.isin([float(x) for x in codes]).sum()), int(v.size)
            else:
                v = sub[col][nonempty(sub[col])].astype(str)
                c, n = int(v.isin([str(x) for x in codes]).sum()), int(v.size)
        if n:
            out[key] = 100.0 * c / n
    return out


def _demographic_text_keys(data: pd.DataFrame, spec: Mapping[str, Any], published: Mapping[str, Any],
                           prefix: str, group: str, done: Mapping[str, Any]) -> dict[str, float]:
    """``<prefix>.<org>.<variable>.<slug>.pct`` keys that restate a demographic share."""
    lookup = {(s["variable"], slug): (col, code) for col, s in spec.items()
              for slug, code in s["codes"].items()}
    out = {}
    for key in published:
        if not key.startswith(prefix + ".") or key in done:
            continue
        parts = key[len(prefix) + 1:].split(".")
        if len(parts) != 4 or parts[-1] != "pct" or (parts[1], parts[2]) not in lookup:
            continue
        col, code = lookup[(parts[1], parts[2])]
        sub = data[data[group] == parts[0]]
        if col in sub.columns and len(sub):
            out[key] = 100.0 * float((_numeric(sub[col]) == float(code)).sum()) / len(sub)
    return out


# --------------------------------------------------------------- figures
def _stacked_bars(ax: Any, shares: pd.DataFrame, counts: pd.DataFrame, k: int, title: str) -> None:
    """Horizontal 100% bars: rows of *shares* (percent) by code columns 5..1."""
    y = np.arange(len(shares))
    left = np.zeros(len(shares))
    for code in shares.columns:
        w = shares[code].to_numpy(dtype=float)
        ax.barh(y, w, left=left, color=_COLORS.get(code, "#bbbbbb"), edgecolor="white",
                label=str(code))
        for i, (wi, ci) in enumerate(zip(w, counts[code].to_numpy())):
            if ci >= k and wi >= 6:
                ax.text(left[i] + wi / 2, y[i], f"{wi:.0f}", ha="center", va="center", fontsize=7)
        left += w
    ax.set_yticks(y, [str(i) for i in shares.index], fontsize=8)
    if not ax.yaxis_inverted():       # shared y axes: invert once, first item on top
        ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("% of answers")
    ax.set_title(title, fontsize=9)


def _new_figure(w: float, h: float) -> Any:
    from matplotlib.figure import Figure
    return Figure(figsize=(w, h), layout="constrained")


def _item_label(codebook: Any, item: str) -> str:
    return f"{item}: {codebook[item].label}"


# ============================================================ civil servants
def analyze_org_wave(wave: str, data: pd.DataFrame, codebook: Any, results: Path,
                     computed: dict, *, settings: dict[str, Any] | None = None) -> None:
    """See :func:`_analyze_org_wave`; *settings* are the wave's (:func:`pipeline.cli.config.wave_settings`)."""
    _run_with_settings(_analyze_org_wave, wave, data, codebook, results, computed, settings)


def _run_with_settings(analyze, wave: str, data: pd.DataFrame, codebook: Any, results: Path,
                       computed: dict, settings: dict[str, Any] | None) -> None:
    """Run one wave's analysis under its settings (read from params.yaml when not given)."""
    if settings is None:
        try:
            settings = config.wave_settings(wave)
        except (ValueError, FileNotFoundError):
            settings = None
    with _using(settings):
        analyze(wave, data, codebook, results, computed)


def _analyze_org_wave(wave: str, data: pd.DataFrame, codebook: Any, results: Path,
                     computed: dict) -> None:
    """Every report section of a 2020 civil-servant wave (ACSA and akimat).

    Parameters
    ----------
    wave : str
        Wave name (``cs2020``).
    data : DataFrame
        Screened, redacted data: one row per respondent, codebook columns
        including ``org``.
    codebook : Codebook
        The instrument (``cs2020``).
    results : Path
        ``data/processed/<wave>/results``; one sub-directory per section.
    computed : dict
        Updated in place with every published key recomputed here
        (Tables 14 and 16, the text percentages), unsuppressed.

    In R: see the module docstring.
    """
    if "org" not in data.columns:
        raise ValueError("data: has no 'org' column (ACSA / akimat)")
    results = Path(results)
    prm = _params()
    k = _k()
    groups = [g for g in prm["groups"] if g in set(data["org"].dropna())]
    if len(groups) < 1:
        raise ValueError(f"data: column 'org' holds none of the groups {prm['groups']} "
                         "(params.yaml comparison.groups)")
    _check_items(data, [i for i in codebook.likert_items if i in data.columns], groups)
    targets = _targets(wave, codebook.name)
    published = _published(targets["published"]) if targets else {}
    if targets:
        for org, spec in targets["demographics"].items():
            sub = data[data["org"] == org]
            computed.update(published_counts(sub, targets["demographic_codes"], spec["prefix"],
                                             spec["suffix"], published))
        text = published_text_percentages(data, targets.get("targets", []), published, group="org")
        computed.update(text)
        computed.update(_demographic_text_keys(data, targets["demographic_codes"], published,
                                               f"{wave}.text", "org", text))
    table6 = _published(["table6_surveys.yaml"]) if (paths.DATA_PUBLISHED
                                                      / "table6_surveys.yaml").exists() else {}
    scope = None
    if prm.get("scope_units") and "authority" in data.columns:
        scope = survey_scope(data, prm["scope_units"])
        for r in scope.itertuples():
            key = f"{wave}.table6.n.{r.group}.{r.unit}"
            if key in table6:
                computed[key] = r.n
    if f"{wave}.table6.n.total" in table6:
        computed[f"{wave}.table6.n.total"] = int(len(data))
    _org_profile(data, codebook, results, groups, k, targets, scope)
    _org_distributions(data, codebook, results, groups, k, prm)
    _org_reliability(data, codebook, results, groups, prm)
    _org_comparison(data, codebook, results, groups, prm)
    _org_invariance(data, codebook, results, groups, prm)


def _check_items(data: pd.DataFrame, items: Sequence[str], groups: Sequence[Any]) -> None:
    """Refuse items that are constant overall or within an organization (before any fit)."""
    from pipeline.core.exceptions import DataValidationError
    for it in items:
        v = _numeric(data[it])
        scopes = [("all respondents", v)] + [(f"organization {g}", v[data["org"] == g])
                                             for g in groups]
        for where, s in scopes:
            vals = s.dropna().unique()
            if len(vals) <= 1:
                what = f"every answer is {vals[0]:g}" if len(vals) else "no answers"
                raise DataValidationError(
                    f"item {it} is constant within {where} ({what}): reliability, the CFA and "
                    "the group comparison are not defined", columns=[it])


def _demographic_columns(codebook: Any, targets: Mapping[str, Any] | None, key: str) -> list[str]:
    if targets and key in targets:
        return [c for c in targets[key] if c in codebook]
    return [c for c in _DEMOGRAPHICS if c in codebook and codebook[c].numeric_codes]


def _stack(tables: Mapping[str, pd.DataFrame], names: Sequence[str]) -> pd.DataFrame:
    out = pd.concat(tables, names=names)
    return out


def _org_profile(data: pd.DataFrame, codebook: Any, results: Path, groups: list, k: int,
                 targets: Mapping[str, Any] | None, scope: pd.DataFrame | None = None) -> None:
    w = SectionWriter(results, "profile", "Respondent profiles by group", k=k)
    cols = _demographic_columns(codebook, targets, "demographic_codes")
    tables, notes = {}, set()
    with _report_warnings(w):
        for col in cols:
            counts = grouped_counts(data, col, codebook[col].codes, group="org", groups=groups)
            disp, sup = suppressed_distribution(counts, k)
            tables[codebook[col].label] = disp.drop(index=sup.total_label)
            if sup.note:
                notes.add(sup.note)
        table = _stack(tables, ["Parameter", "Answer option"])
        ns = {g: int((data["org"] == g).sum()) for g in groups}
        ns["Total"] = int(data["org"].isin(groups).sum())
        tot = {c: (str(ns[c[:-2]]) if ns[c[:-2]] >= k or ns[c[:-2]] == 0 else f"<{k}")
               if c.endswith(" n") else "100.0" for c in table.columns}
        table.loc[("Total", ""), :] = pd.Series(tot)
    w.text("Respondents by organization: " + ", ".join(
        f"{g} {int((data['org'] == g).sum())}" for g in groups)
        + ". Shares are percentages of each organization's respondents (Table 14: ACSA, "
          "line 1136; Table 16: akimat, line 1378).")
    w.table("demographics", table, caption="Tables 14 and 16 - Profile of survey respondents "
            "by organization", note=" ".join(sorted(notes)), digits=1)
    if len(groups) == 2:
        # do the two samples differ in composition? (chi-square, Monte Carlo p where sparse)
        from pipeline.psychometrics.comparison import chi_square_test
        prm = _params()
        rows = []
        seeds = np.random.SeedSequence(int(prm["seed"])).spawn(len(cols))
        for col, ss in zip(cols, seeds):
            counts = grouped_counts(data, col, codebook[col].codes, group="org", groups=groups)
            counts = counts.drop(index=[MISSING_LABEL], errors="ignore")
            obs = counts[(counts.sum(axis=1) > 0)]
            if len(obs) < 2:
                continue
            if suppress_small_cells(counts, k).n_suppressed:
                # a test statistic plus the printed margins would let a reader solve for
                # the suppressed cells (few integer solutions): withhold it
                rows.append({"Parameter": codebook[col].label, "chisq": np.nan, "df": np.nan,
                             "pvalue": np.nan, "method": "withheld: the table has suppressed "
                             "cells", "cramers_v": np.nan})
                continue
            e = np.outer(obs.sum(axis=1), obs.sum(axis=0)) / obs.to_numpy().sum()
            sim = bool((e < 5).mean() > 0.2) if prm["simulate"] == "auto" else bool(prm["simulate"])
            cs = chi_square_test(obs, simulate=sim, B=int(prm["B"]),
                                 seed=np.random.default_rng(ss))
            rows.append({"Parameter": codebook[col].label, "chisq": cs.statistic, "df": cs.df,
                         "pvalue": cs.pvalue, "method": cs.method, "cramers_v": cs.cramers_v})
        if rows:
            w.table("composition_tests", pd.DataFrame(rows).set_index("Parameter"),
                    caption=f"Do the {groups[0]} and {groups[1]} samples differ in composition? "
                            "Chi-square test per characteristic (Monte Carlo p-value where more "
                            "than 20% of the expected counts are below 5), with Cramér's V",
                    digits=3)
    if scope is not None and len(scope):
        parts, snotes = {}, set()
        for g, sub in scope.groupby("group", sort=False):
            d, sup = suppressed_distribution(sub.set_index("unit")[["n"]], k)
            parts[g] = d
            if sup.note:
                snotes.add(sup.note)
        st = pd.concat(parts, names=["Organization", "Unit"])
        w.table("scope", st, caption="Survey scope by unit (Table 6, line 699): respondents per "
                "type of unit, classified from the public authority named (params.yaml "
                "comparison.scope_units)", note=" ".join(sorted(snotes)), digits=1)
    w.close()


def _likert_codes(codebook: Any, item: str) -> dict[Any, str]:
    return dict(sorted(codebook[item].codes.items(), key=lambda kv: -kv[0]))


def _org_distributions(data: pd.DataFrame, codebook: Any, results: Path, groups: list, k: int,
                       prm: Mapping[str, Any]) -> None:
    w = SectionWriter(results, "distributions", "Response distributions", k=k)
    constructs = {c: list(v) for c, v in codebook.constructs.items()}
    labels = dict(codebook.construct_labels)
    scale = {5: "I totally agree", 4: "Rather agree", 3: "Difficult to answer",
             2: "Rather disagree", 1: "I completely disagree"}
    notes = set()
    with _report_warnings(w):
        # --- top answers per factor (figures 16, 22)
        cons_named = {labels.get(c, c): its for c, its in constructs.items()}
        top_disp, top_int = top_answer_table(data, cons_named, "org", groups, prm["top_codes"], k)
        pos_disp, pos_int = top_answer_table(data, cons_named, "org", groups,
                                             prm["positive_codes"], k)
        disp = pd.concat([top_disp.add_suffix(" top %"), pos_disp.add_suffix(" positive %")],
                         axis=1)
        disp.index.name = "Factor"
        w.text("**Top answers** are the answers with the maximum score, code "
               + "/".join(map(str, prm["top_codes"])) + " (\"I totally agree\"), among all "
               "answers to the factor's items: the thesis's \"maximum response points\" "
               "(line 1170; 75.2% for the ACSA's Leadership, line 1177). **Positive** answers "
               "are codes " + " + ".join(map(str, prm["positive_codes"])) + " (\"I totally "
               "agree\" and \"Rather agree\").")
        w.table("top_answers", disp, caption="Share of top and positive answers per factor and "
                "organization (figures 16 and 22)", digits=1,
                note=f"Percentages of all answers to the factor's items; a share based on fewer "
                     f"than {k} answers (or leaving fewer than {k}) is shown as \"<{k}\".")
        fig = _new_figure(7, 3.6)
        ax = fig.add_subplot()
        piv = top_int.pivot(index="factor", columns="group", values="percent")
        piv = piv.reindex(index=list(cons_named), columns=groups)
        # issue 14: a share the table prints as "<k" is neither drawn nor labelled
        shown = top_disp.reindex(index=piv.index, columns=piv.columns)
        hidden = shown.apply(lambda col: col.map(
            lambda v: isinstance(v, str) and v.strip().startswith("<")))
        piv = piv.mask(hidden.fillna(False).astype(bool))
        width = 0.8 / max(1, len(groups))
        x = np.arange(len(piv))
        for j, g in enumerate(groups):
            vals = piv[g].to_numpy(dtype=float)
            bars = ax.bar(x + j * width, np.nan_to_num(vals), width, label=g,
                          color=["#2c7bb6", "#fdae61", "#abd9e9"][j % 3])
            ax.bar_label(bars, labels=[f"{v:.1f}" if np.isfinite(v) else f"<{k}" for v in vals],
                         fontsize=7)
        ax.set_xticks(x + width * (len(groups) - 1) / 2, list(piv.index), fontsize=8)
        ax.set_ylabel("% of answers with the maximum score")
        ax.set_ylim(0, 100)
        ax.legend(fontsize=8)
        ax.set_title("Distribution of the maximum response points per factor", fontsize=9)
        w.figure("top_answers", fig, caption="Share of answers \"I totally agree\" per factor "
                 "and organization (figures 16 and 22).")

        # --- per item (figures 17-21, 23-27)
        item_tables = {}
        for c, items in constructs.items():
            for it in items:
                counts = grouped_counts(data, it, {code: scale.get(code, lab) for code, lab
                                                   in _likert_codes(codebook, it).items()},
                                        group="org", groups=groups)
                d, sup = suppressed_distribution(counts, k)
                item_tables[(labels.get(c, c), it)] = d
                if sup.note:
                    notes.add(sup.note)
        tab = pd.concat({key: v for key, v in item_tables.items()})
        tab.index = tab.index.set_names(["Factor", "Item", "Answer"])
        w.table("items", tab, caption="Response distribution per item and organization "
                "(figures 17-21: ACSA; 23-27: akimat)", note=" ".join(sorted(notes)), digits=1)

        # --- per factor, answers pooled
        fac_tables, fac_notes = {}, set()
        for c, items in constructs.items():
            parts = [grouped_counts(data, it, {code: scale.get(code, lab) for code, lab
                                               in _likert_codes(codebook, it).items()},
                                    group="org", groups=groups) for it in items]
            order = list(dict.fromkeys(lab for p in parts for lab in p.index))
            counts = parts[0]
            for p in parts[1:]:
                counts = counts.add(p, fill_value=0)
            counts = counts.reindex(order).fillna(0).astype(int)
            d, sup = suppressed_distribution(counts, k)
            fac_tables[labels.get(c, c)] = d
            if sup.note:
                fac_notes.add(sup.note)
        ftab = pd.concat(fac_tables, names=["Factor", "Answer"])
        w.table("factors", ftab, caption="Response distribution per factor (all answers to the "
                "factor's items) and organization", note=" ".join(sorted(fac_notes)), digits=1)

        # --- figure: every factor (answers pooled) x organization
        fig = _new_figure(9, 0.5 * len(constructs) * len(groups) + 1.6)
        axes = fig.subplots(1, len(groups), sharey=True, squeeze=False)[0]
        for ax, g in zip(axes, groups):
            sub = data[data["org"] == g]
            counts = pd.DataFrame({labels.get(c, c): pd.concat(
                [_numeric(sub[it]) for it in its]).value_counts().reindex(
                    [5, 4, 3, 2, 1], fill_value=0) for c, its in constructs.items()}).T
            counts.columns = [5, 4, 3, 2, 1]
            counts = disclosed_bar_counts(counts, k)   # issue 14: widths reveal no suppressed cell
            shares = counts.div(counts.sum(axis=1).replace(0, np.nan), axis=0) * 100
            _stacked_bars(ax, shares.fillna(0), counts, k, f"{g} (n = {len(sub)})")
        handles, labs = axes[0].get_legend_handles_labels()
        fig.legend(handles, [scale[int(x)] if x.isdigit() else f"suppressed (< {k})"
                             for x in labs], loc="outside lower center",
                   ncol=5, fontsize=7)
        fig.suptitle("Distribution of responses per research factor (all answers to the "
                     "factor's items)", fontsize=10)
        w.figure("factors", fig, caption="Answers per factor and organization; segments of "
                 f"fewer than {k} answers are not labelled.")

        # --- figures: one per factor, items x organization
        for c, items in constructs.items():
            fig = _new_figure(9, 0.55 * len(items) * len(groups) + 1.6)
            axes = fig.subplots(1, len(groups), sharey=True, squeeze=False)[0]
            for ax, g in zip(axes, groups):
                sub = data[data["org"] == g]
                counts = pd.DataFrame({it: _numeric(sub[it]).value_counts().reindex(
                    [5, 4, 3, 2, 1], fill_value=0) for it in items}).T
                counts.columns = [5, 4, 3, 2, 1]
                counts = disclosed_bar_counts(counts, k)   # issue 14: no suppressed cell in the widths
                shares = counts.div(counts.sum(axis=1).replace(0, np.nan), axis=0) * 100
                shares.index = [_wrap(_item_label(codebook, it), 38) for it in items]
                _stacked_bars(ax, shares.fillna(0), counts, k, f"{g} (n = {len(sub)})")
            handles, labs = axes[0].get_legend_handles_labels()
            fig.legend(handles, [scale[int(x)] if x.isdigit() else f"suppressed (< {k})"
                                 for x in labs], loc="outside lower center",
                       ncol=5, fontsize=7)
            fig.suptitle(f"Distribution of responses for each element of the "
                         f"\"{labels.get(c, c)}\" factor", fontsize=10)
            w.figure(f"factor_{_FACTOR_SHORT.get(c, c)}", fig,
                     caption=f"{labels.get(c, c)}: answers per item and organization; segments "
                             f"of fewer than {k} answers are not labelled.")

        # --- open questions (Section C): number of answers, never the text
        text_items = [t for t in codebook.text_items if codebook[t].section == "C"
                      and t in data.columns]
        if text_items:
            ot, onotes = _open_answer_table(data, codebook, text_items, k, group="org",
                                            groups=groups)
            w.table("open_answers", ot, caption="Answers to the open questions (Section C) by "
                    "organization (counts after redaction; the text is not reproduced)",
                    note=" ".join(sorted(onotes)), digits=1)
    w.close()


def _wrap(text: str, width: int) -> str:
    import textwrap
    return "\n".join(textwrap.wrap(text, width)[:2])


def _open_answer_table(data: pd.DataFrame, codebook: Any, items: Sequence[str], k: int, *,
                       group: str | None = None, groups: Sequence[Any] | None = None
                       ) -> tuple[pd.DataFrame, set]:
    """Per open question (and group): answers given, share, answers with redacted data.

    Each question x group is a two-cell table (answered / not answered,
    total = the group's N) suppressed at *k*; the count of answers holding
    a redaction tag is shown only when it is 0 or at least *k*.
    """
    gs = list(groups) if groups is not None else [None]
    rows, notes = [], set()
    for it in items:
        row: dict[str, Any] = {"Question": it, "Wording": codebook[it].wording}
        for g in gs:
            sub = data if g is None else data[data[group] == g]
            s = sub[it]
            given = nonempty(s)
            a = int(given.sum())
            tagged = int(s[given].astype(str).str.contains(TAG_RE).sum())
            sup = suppress_small_cells(pd.DataFrame({"answered": [a], "no answer": [len(sub) - a]},
                                                    index=[it]), k)
            pct = pd.DataFrame({"answered": [100.0 * a / len(sub) if len(sub) else np.nan],
                                "no answer": [np.nan]}, index=[it])
            pre = "" if g is None else f"{g} "
            row[f"{pre}answers"] = sup.display.loc[it, "answered"]
            row[f"{pre}% of respondents"] = sup.apply_to(pct).loc[it, "answered"]
            row[f"{pre}with redacted personal data"] = (str(tagged) if tagged == 0 or tagged >= k
                                                        else f"<{k}")
            if sup.note:
                notes.add(sup.note)
            if 0 < tagged < k:
                notes.add(f"Counts of redacted answers below {k} are shown as \"<{k}\".")
        rows.append(row)
    return pd.DataFrame(rows).set_index("Question"), notes


def _org_reliability(data: pd.DataFrame, codebook: Any, results: Path, groups: list,
                     prm: Mapping[str, Any]) -> None:
    from pipeline import sem
    from pipeline.psychometrics.reliability import reliability_from_codebook, validity_from_sem

    w = SectionWriter(results, "reliability", "Reliability and CFA", k=_k())
    rel_p = _group_params("reliability")
    missing = rel_p.get("missing", "pairwise")
    labels = dict(codebook.construct_labels)
    with _report_warnings(w):
        rel = reliability_from_codebook(data, codebook, missing=missing)
        table = rel.to_frame()
        for g in groups:
            rg = reliability_from_codebook(data[data["org"] == g], codebook, missing=missing)
            table[f"alpha {g}"] = rg.to_frame()["alpha"]
            table[f"n {g}"] = rg.to_frame()["n"]
        table.insert(0, "factor", [labels.get(s, s) for s in table.index])
        w.text(f"Cronbach's alpha per factor of the 2020 instrument (Annex H), all respondents "
               f"and per organization; {missing} deletion; Feldt {rel_p.get('ci_level', 0.95):.0%} "
               "CI. Omega total needs at least three items (not given for Strategy and "
               "Resources, two items each).")
        w.table("alpha", table, caption="Reliability per factor (Cronbach's alpha, omega total)",
                digits=3)
        its = rel.item_total().reset_index()
        w.table("item_total", its.set_index(["scale", "item"]),
                caption="Item-total statistics (all respondents)", digits=3)

        # --- CFA
        model_path = paths.resolve(prm["cfa_model"])
        if not model_path.exists():
            raise FileNotFoundError(f"comparison.cfa_model: {model_path} not found")
        observed = [i for i in codebook.likert_items if i in data.columns]
        X = data[observed].apply(_numeric)
        res = sem.fit(model_path, X, likelihood=prm["cfa_likelihood"],
                      missing=prm["cfa_missing"])
        if not res.admissible:
            w.warning("The CFA solution is NOT admissible (" + "; ".join(res.warnings or [])
                      + "): its numbers are shown for diagnosis only and must not be interpreted.")
        fm = res.fit_measures()
        w.text(f"CFA of the five-factor 2020 instrument (`{prm['cfa_model']}`): maximum "
               f"likelihood ({prm['cfa_likelihood']} likelihood, {prm['cfa_missing']}), "
               f"N = {res.nobs}. Thresholds from `params.yaml` (comparison.fit_thresholds).")
        w.table("cfa_fit", fit_table(fm, prm.get("fit_thresholds") or {}).set_index("measure"),
                caption="CFA fit of the 2020 instrument", digits=3)
        pt = res.parameters
        load = pt[pt.op == "=~"][["lhs", "rhs", "est", "se", "z", "pvalue", "std.all"]]
        w.table("cfa_loadings", load.set_index(["lhs", "rhs"]),
                caption="CFA loadings (unstandardized and standardized)", digits=3)
        val = validity_from_sem(res)
        w.table("cfa_validity", val.to_frame(), caption="Composite reliability and average "
                "variance extracted (standardized solution)", digits=3)
        w.table("cfa_factor_correlations", val.latent_correlations,
                caption="Factor correlations (CFA)", digits=3)
        # the same model in each organization (configural check; the engine fits one
        # group at a time, so invariance constraints across groups are not tested)
        per_org, inadm = {}, []
        for g in groups:
            Xg = X[(data["org"] == g).to_numpy()]
            rg = sem.fit(model_path, Xg, likelihood=prm["cfa_likelihood"],
                         missing=prm["cfa_missing"])
            fg = rg.fit_measures()
            per_org[g] = pd.Series({"N": rg.nobs, **{m: float(fg[m]) for m in
                                    ("chisq", "df", "pvalue", "cmin_df", "cfi", "tli", "rmsea",
                                     "rmsea.ci.lower", "rmsea.ci.upper", "srmr") if m in fg},
                                    "admissible": bool(rg.admissible)})
            if not rg.admissible:
                inadm.append(f"{g}: " + "; ".join(rg.warnings or ["not admissible"]))
        if inadm:
            w.warning("The CFA is NOT admissible in " + " | ".join(inadm) + ": those columns "
                      "are shown for diagnosis only.")
        w.table("cfa_fit_by_org", pd.DataFrame(per_org), caption="CFA fit in each organization "
                "separately (configural check; no invariance constraints)", digits=3)
        try:
            from pipeline.reporting.diagram import sem_path_diagram
            fig = sem_path_diagram(pt, title="CFA of the 2020 instrument (standardized)")
            w.figure("cfa_diagram", fig, caption="CFA with standardized loadings "
                     "(* p < .05, ** p < .01, *** p < .001); dashed curves: covariances.")
        except Exception as exc:  # a drawing problem must not hide the numbers
            w.warning(f"path diagram not drawn: {exc}")
    w.close()


def _org_invariance(data: pd.DataFrame, codebook: Any, results: Path, groups: list,
                    prm: Mapping[str, Any]) -> None:
    """Measurement invariance of the instrument's CFA across the organizations.

    Runs when the wave's settings name a grouping column (``invariance.group``);
    the model is ``invariance.model``, else ``comparison.cfa_model``.  The
    sequence (configural, metric, scalar, strict, with difference tests,
    decisions and score-test suggestions) is
    :func:`pipeline.sem.invariance.measurement_invariance`, written by
    :func:`pipeline.workflow.sem_sections.invariance_section`.

    In R: ``semTools::measEq.syntax`` / ``cfa(..., group = "org", group.equal = ...)``,
    ``lavTestLRT``.
    """
    from pipeline.workflow.sem_sections import ordered_items, invariance_section, _observed
    ip = _group_params("invariance")
    group = ip.get("group")
    if not group or group not in data.columns or len(groups) < 2:
        return
    model = ip.get("model") or prm["cfa_model"]
    model_path = paths.resolve(model)
    observed = _observed(model_path)
    d = data[data[group].isin(groups)]
    X = d[[c for c in observed if c in d.columns]].apply(_numeric)
    X[group] = d[group].to_numpy()
    ordered = ordered_items(ip.get("ordered"), observed, list(codebook.likert_items))
    w = SectionWriter(results, "invariance", f"Measurement invariance across {group}", k=_k())
    with _report_warnings(w):
        invariance_section(w, model_path, X, group, {**ip, "ordered": ordered or None},
                           model_name=str(model))
    w.close()


def _org_comparison(data: pd.DataFrame, codebook: Any, results: Path, groups: list,
                    prm: Mapping[str, Any]) -> None:
    from pipeline.psychometrics.descriptives import construct_scores

    w = SectionWriter(results, "comparison", "Groups compared, item by item", k=_k())
    if len(groups) != 2:
        w.warning(f"the comparison needs two organizations; the data hold {groups}")
        w.close()
        return
    adjust = list(prm["adjust"])
    alpha = float(prm["alpha"])
    labels = dict(codebook.construct_labels)
    items = [i for i in codebook.likert_items if i in data.columns]
    with _report_warnings(w):
        tab = compare_items(data, items, "org", groups=groups, adjust=adjust,
                            chisq=bool(prm["chisq"]), simulate=prm["simulate"], B=int(prm["B"]),
                            seed=int(prm["seed"]),
                            labels={i: codebook[i].label for i in items})
        tab.insert(1, "factor", [labels.get(codebook.construct_of(i), "") for i in items])
        # one disclosure checker: per-organization means/medians only where the joint
        # integer attack recovers no suppressed cell of the item's distribution table,
        # every non-linear statistic withheld where that table has a suppressed cell
        from pipeline.data.disclosure import guard_item_statistics
        tab = guard_item_statistics(tab, data, "org", groups,
                                    {i: list(_likert_codes(codebook, i)) for i in items}, _k())
        n_withheld = int((tab["withheld"].fillna("").astype(str) != "").sum())
        first = adjust[0] if adjust else None
        pcol = f"p_{first}" if first else "pvalue"
        diff = tab[tab[pcol] < alpha]
        g1, g2 = groups
        w.text(f"Mann-Whitney U test per item ({g1} vs {g2}; R: `wilcox.test`), effect size "
               f"the rank-biserial correlation r = P({g1} > {g2}) - P({g1} < {g2}) (positive: "
               f"{g1} answers higher), with its 95% CI (Fisher z, as R's effectsize). p-values "
               f"adjusted over the {len(items)} items by "
               + " and ".join(adjust) + f"; an item differs when the {first or 'raw'}-adjusted "
               f"p < {alpha:g}. The chi-square test compares the whole answer distributions "
               "(Monte Carlo p-value where expected counts are small), with Cramér's V. "
               "The thesis compares the two organizations descriptively only (figures 16 and "
               "22); these tests are this pipeline's addition.")
        if len(diff):
            verb = "differs" if len(diff) == 1 else "differ"
            w.text(f"**{len(diff)} of {len(items)} items {verb}** ({first}-adjusted p < "
                   f"{alpha:g}): " + ", ".join(
                       f"{r.item} (r = {r.rank_biserial:+.2f})" for r in diff.itertuples()) + ".")
        else:
            w.text(f"No item differs between {g1} and {g2} after adjustment "
                   f"({first}-adjusted p < {alpha:g}).")
        if n_withheld:
            w.text(f"The tests of {n_withheld} of {len(items)} items are withheld (column "
                   f"`withheld`): their answer distributions have cells below k = {_k()}, which "
                   "the tests, means and medians would reveal. Their p-values still count in "
                   "the adjustment over all items.")
        w.table("items", tab.set_index("item"), caption=f"{g1} vs {g2}, item by item",
                digits=3,
                note=f"n1, n2: respondents of {g1} and {g2} answering the item; U: Mann-Whitney "
                     f"U of {g1} (R's W); z with continuity correction; rank_biserial with its "
                     "95% CI (rb_ci_lower, rb_ci_upper); cles = P(X > Y) + P(X = Y)/2; p_* are "
                     "the Mann-Whitney p-values adjusted over the items, chisq_p_* the "
                     "chi-square p-values adjusted separately.")
        # factor scores
        cons = {c: list(v) for c, v in codebook.constructs.items()}
        dmin = _group_params("descriptives").get("construct_min_share", 1.0)
        scores = construct_scores(data, cons, codebook.reverse_keyed, min_share=dmin)
        scores.columns = [labels.get(c, c) for c in scores.columns]
        scores["org"] = data["org"].to_numpy()
        ftab = compare_items(scores, [labels.get(c, c) for c in cons], "org", groups=groups,
                             adjust=adjust, chisq=False)
        w.table("factors", ftab.set_index("item"), caption=f"{g1} vs {g2}, factor scores (mean "
                "of the factor's items)", digits=3)
        # figure: effect sizes
        fig = _new_figure(6.5, 0.32 * len(items) + 1.4)
        ax = fig.add_subplot()
        tab = tab.reset_index(drop=True)
        y = np.arange(len(tab))
        sig = (tab[pcol] < alpha).to_numpy()
        ax.axvline(0, color="grey", lw=0.8)
        ax.hlines(y, tab["rb_ci_lower"], tab["rb_ci_upper"], color="#888888", lw=1.2)
        ax.scatter(tab["rank_biserial"], y, c=np.where(sig, "#d73027", "#4575b4"), zorder=3)
        ax.set_yticks(y, [f"{r.item} ({r.factor})" for r in tab.itertuples()], fontsize=8)
        ax.invert_yaxis()
        ax.set_xlim(-1, 1)
        ax.set_xlabel(f"rank-biserial r ({g1} vs {g2}); red: {first}-adjusted p < {alpha:g}")
        ax.set_title(f"{g1} vs {g2}: effect size per item", fontsize=9)
        w.figure("effect_sizes", fig, caption="Rank-biserial correlation per item with its 95% "
                 "confidence interval (Fisher z; unadjusted for multiplicity).")
    w.close()


# ================================================================ citizens
def analyze_citizens_wave(wave: str, data: pd.DataFrame, codebook: Any, results: Path,
                          computed: dict, *, settings: dict[str, Any] | None = None) -> None:
    """See :func:`_analyze_citizens_wave`; *settings* are the wave's (:func:`pipeline.cli.config.wave_settings`)."""
    _run_with_settings(_analyze_citizens_wave, wave, data, codebook, results, computed,
                       settings)


def _analyze_citizens_wave(wave: str, data: pd.DataFrame, codebook: Any, results: Path,
                          computed: dict) -> None:
    """Every report section of the 2020 citizens' wave.

    Parameters
    ----------
    wave : str
        Wave name (``citizens2020``).
    data : DataFrame
        Screened, redacted data (one row per respondent, codebook columns).
    codebook : Codebook
        The instrument (``citizens2020``).
    results : Path
        ``data/processed/<wave>/results``.
    computed : dict
        Updated in place with Table 17 and the text percentages (unsuppressed).

    In R: ``table(d$age)``, ``prop.table(table(d$akimat_satisfaction))``.
    """
    results = Path(results)
    k = _k()
    targets = _targets(wave, codebook.name)
    published = _published(targets["published"]) if targets else {}
    if targets:
        computed.update(published_counts(data, targets["demographics"],
                                         targets["demographics_prefix"], "", published))
        computed.update(published_text_percentages(data, targets.get("targets", []), published))
    if (paths.DATA_PUBLISHED / "table6_surveys.yaml").exists():
        table6 = _published(["table6_surveys.yaml"])
        for key in (f"{wave}.table6.n.total", f"{wave}.table6.n.total_row"):
            if key in table6:
                computed[key] = int(len(data))
    demo = _demographic_columns(codebook, targets, "demographics")

    # ---- profile (Table 17)
    w = SectionWriter(results, "profile", "Respondent profile", k=k)
    tables, notes = {}, set()
    with _report_warnings(w):
        for col in demo:
            counts = grouped_counts(data, col, codebook[col].codes)
            disp, sup = suppressed_distribution(counts, k)
            tables[codebook[col].label] = disp.drop(index=sup.total_label)
            if sup.note:
                notes.add(sup.note)
        table = _stack(tables, ["Parameter", "Answer option"])
        tot = pd.DataFrame({"n": [str(len(data))], "%": ["100.0"]},
                           index=pd.MultiIndex.from_tuples([("Total", "")],
                                                           names=table.index.names))
        table = pd.concat([table, tot])
    w.text(f"{len(data)} residents of Nur-Sultan (Table 17, line 1466). Shares are percentages "
           "of all respondents.")
    w.table("demographics", table, caption="Table 17 - Profile of survey respondents "
            "(residents of the capital)", note=" ".join(sorted(notes)), digits=1)
    w.close()

    # ---- frequencies (figures 28-31)
    w = SectionWriter(results, "frequencies", "Frequencies", k=k)
    questions = [n for n in codebook.columns if codebook[n].type == "categorical"
                 and codebook[n].numeric_codes and n not in demo and n in data.columns]
    figures = {"akimat_satisfaction": "28", "services_satisfaction": "29",
               "contact_center_satisfaction": "30", "involvement": "31"}
    tables, notes = {}, set()
    with _report_warnings(w):
        for q in questions:
            miss = MISSING_LABEL if q != "contact_center_satisfaction" else \
                "No answer / not asked (did not contact the center)"
            counts = grouped_counts(data, q, codebook[q].codes, missing_label=miss)
            disp, sup = suppressed_distribution(counts, k, valid_percent=True, missing_label=miss)
            tables[codebook[q].label] = disp
            if sup.note:
                notes.add(sup.note)
        ftab = _stack(tables, ["Question", "Answer"])
        w.text("Percent: of all respondents; valid percent: of those who answered the question "
               "(the denominators of the thesis's text percentages differ in places, see the "
               "notes of `studies/amirova2021/published/text_citizens_percentages.yaml`).")
        w.table("frequencies", ftab, caption="Answers to the closed questions (Annex I)",
                note=" ".join(sorted(notes)), digits=1)
        for q in questions:
            var = codebook[q]
            v = _numeric(data[q]).dropna()
            counts = v.value_counts().reindex([float(c) for c in var.codes], fill_value=0)
            counts, hidden = disclosed_shares(counts, k)   # issue 14: suppressed bars drawn empty
            shares = 100.0 * counts / max(1, len(v))
            fig = _new_figure(7, 0.45 * len(var.codes) + 1.3)
            ax = fig.add_subplot()
            y = np.arange(len(counts))
            ax.barh(y, shares.to_numpy(), color="#2c7bb6")
            for i, (sh, c, h) in enumerate(zip(shares, counts, hidden)):
                ax.text(sh + 1, i, "suppressed" if h else f"{sh:.1f}%" if c >= k
                        else f"<{k} answers", va="center", fontsize=8)
            ax.set_yticks(y, [_wrap(lab, 40) for lab in var.codes.values()], fontsize=8)
            ax.invert_yaxis()
            ax.set_xlim(0, 105)
            skipped = len(data) - len(v)
            ax.set_xlabel("% of those who answered" + (f" (n = {len(v)})" if skipped == 0
                                                       or skipped >= k else ""))
            num = figures.get(q)
            ax.set_title((f"Figure {num} - " if num else "") + var.label, fontsize=9)
            w.figure(q, fig, caption=(f"As figure {num} of the thesis: " if num else "")
                     + f"{var.wording} Bars with fewer than {k} answers are not labelled "
                       "with a percentage.")
    w.close()

    # ---- free text: counts only
    w = SectionWriter(results, "freetext", "Free-text answers", k=k)
    items = [t for t in codebook.text_items if t in data.columns]
    with _report_warnings(w):
        ot, onotes = _open_answer_table(data, codebook, items, k)
    w.text("Number of respondents who wrote an answer to each open question, after the "
           "redaction of personal data (e-mail addresses, phone numbers, IINs, URLs and the "
           "names the codebook lists). The answers themselves are not reproduced.")
    w.table("open_answers", ot, caption="Answers to the open questions", digits=1,
            note=" ".join(sorted(onotes)))
    w.close()
