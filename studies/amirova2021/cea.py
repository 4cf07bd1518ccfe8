"""Cost-effectiveness analysis of the pay-by-results pilot (thesis Tables 15, 18-21, 23-24).

The thesis (lines 722-800) maps the conceptual model's factors to official
indicators (Table 7): Leadership -> overall effectiveness of the state body,
Strategy -> goal achievement, Organization -> organizational development,
Human Capital -> net turnover (ACSA database; lower is better), Citizen
Centricity (mediator) -> quality of public services and interaction with
citizens, Resources (cost) -> payroll fund.  The published indicator values
for 2017-2020 (Table 15 for the ACSA, Table 18 for the akimats of Nur-Sultan
and Mangistau) are transcribed in ``studies/amirova2021/published/cea_table15.yaml`` and
``cea_table18.yaml``; every result here is computed from them.

* **Table 19**: cost-effectiveness ratio CER = cost / effectiveness, pilot
  mode (actual payroll and actual overall effectiveness) against standard
  mode (the 2017 payroll grown by inflation, the 2017 effectiveness held).
* **Table 20**: sign of each factor's effect by the rule of Annex N
  (line 3680): "a decrease in the values of indicators that reflect each of
  the factors in the analyzed period" is negative, an increase positive.
  The period, the direction of each indicator and how a factor with two
  indicators is combined come from ``params.yaml``; the published signs are
  compared cell by cell for every candidate period.
* **Table 21**: H0 (every factor positive) / H1 (at least one negative).
* The Evaluation Center efficiency bands (90 / 70 / 50, line 780).
* Charts of the indicators 2017-2020 and of the forecasts (Tables 23-24).

``python -m pipeline cea [--out DIR]`` (:mod:`pipeline.cli.cea`) writes
tables (CSV + LaTeX), figures (PNG + SVG) and an HTML report section into
``reports/cea/``; :func:`scorecard_rows` gives the scorecard its rows.
"""
from __future__ import annotations

import html
import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from pipeline.replication.published import EXACT, compare_value, load_published

__all__ = [
    "INDICATORS", "FACTORS", "PILOTS", "Indicator",
    "load_indicators", "load_forecasts", "indicator_series",
    "standard_mode_cost", "cost_effectiveness_ratio", "cost_effectiveness_table",
    "format_table19", "formula2", "effect_sign", "factor_signs", "compare_signs",
    "candidate_periods", "sign_agreement", "decide_hypotheses",
    "efficiency_band", "efficiency_bands", "plot_indicators", "plot_forecasts",
    "plot_cer", "compare_published", "CEAResult", "run", "write_outputs", "render_html",
    "scorecard_rows", "PUBLISHED",
]

#: The thesis's transcribed tables (Tables 15 and 18 are this analysis's input).
PUBLISHED = Path(__file__).resolve().parent / "published"


@dataclass(frozen=True)
class Indicator:
    """One indicator of Table 7 (line 760)."""

    id: str
    factor: str
    label: str
    database: str          # "Evaluation Center" or "ACSA" (Table 7, column References)
    role: str              # "effect", "mediating effect" or "cost"


#: Table 7 (line 760): factor -> indicator, in the thesis's order.
INDICATORS: tuple[Indicator, ...] = (
    Indicator("overall_effectiveness", "leadership",
              "Evaluation of overall effectiveness of a state body", "Evaluation Center", "effect"),
    Indicator("goal_achievement", "strategy", "Goal achievement", "Evaluation Center", "effect"),
    Indicator("organizational_development", "organization", "Organizational development",
              "Evaluation Center", "effect"),
    Indicator("net_turnover", "human_capital", "Net turnover", "ACSA", "effect"),
    Indicator("public_services_quality", "citizen_centricity",
              "Quality of public services delivery", "ACSA", "mediating effect"),
    Indicator("interaction_with_citizens", "citizen_centricity", "Interaction with citizens",
              "Evaluation Center", "mediating effect"),
    Indicator("payroll", "resources", "Budget of Payroll Fund", "ACSA", "cost"),
)
_IND = {i.id: i for i in INDICATORS}

#: The effect factors of Table 20, in its row order, with their printed names.
FACTORS: dict[str, str] = {
    "leadership": "Leadership", "strategy": "Strategy", "organization": "Organization",
    "human_capital": "Human Capital", "citizen_centricity": "Citizen Centricity",
}

#: The two pilot bodies and the table holding their indicators.
PILOTS: dict[str, tuple[str, str]] = {
    "acsa": ("t15", "Agency for Civil Service Affairs"),
    "nur_sultan": ("t18", "Nur-Sultan Akimat"),
}

ENTITY_LABELS = {
    "acsa": "ACSA", "central_avg": "Central authorities' average",
    "country_avg": "Country's average", "nur_sultan": "Nur-Sultan Akimat",
    "mangistau": "Mangistau region Akimat", "local_avg": "Local authorities' average",
}

SIGN_WORD = {1: "Positive", -1: "Negative", 0: "No change"}

DEFAULTS: dict[str, Any] = {
    "inflation": 0.03,
    "base_year": 2017,
    "pilot_years": [2018, 2019, 2020],
    "standard_cost_decimals": 1,
    "cer_decimals": 3,
    "effectiveness_indicator": "overall_effectiveness",
    "cost_indicator": "payroll",
    "sign_rule": {"period": [2017, 2020], "mode": "endpoints", "combine": "any",
                  "lower_is_better": ["net_turnover"]},
    "candidate_modes": ["endpoints", "any_decline"],
    "candidate_combine": ["any", "all"],
    "bands": {"high": 90.0, "average": 70.0, "low": 50.0},
    "verbal_ratio_tolerance": 0.25,
}


def _merge(params: Mapping[str, Any] | None) -> dict[str, Any]:
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in DEFAULTS.items()}
    for k, v in (params or {}).items():
        if isinstance(v, Mapping) and isinstance(out.get(k), dict):
            out[k] = {**out[k], **v}
        else:
            out[k] = v
    return out


# ------------------------------------------------------------------ data
def load_indicators(published: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Tables 15 and 18 as one tidy frame.

    Parameters
    ----------
    published : mapping, optional
        ``key -> PublishedValue`` (from :func:`pipeline.replication.published.load_published`);
        read from ``studies/amirova2021/published`` by default.

    Returns
    -------
    DataFrame
        Columns ``table entity indicator factor year value printed unit line key``.

    Raises
    ------
    ValueError
        If Table 15 or 18 is missing from the published data.
    """
    if published is None:
        published = load_published(PUBLISHED)
    recs = []
    for key, pv in published.items():
        parts = key.split(".")
        if len(parts) != 5 or parts[0] != "cea" or parts[1] not in ("t15", "t18"):
            continue
        _, tab, ent, ind, year = parts
        if ind not in _IND:
            raise ValueError(f"{pv.file}: key {key!r} names an unknown indicator {ind!r}")
        recs.append(dict(table=tab, entity=ent, indicator=ind, factor=_IND[ind].factor,
                         year=int(year), value=float(pv.value), printed=pv.printed,
                         unit=pv.unit, line=pv.line, key=key))
    df = pd.DataFrame.from_records(recs)
    if df.empty or not {"t15", "t18"} <= set(df["table"]):
        raise ValueError("published data lacks Table 15 and/or Table 18 (studies/amirova2021/published/cea_table15.yaml, "
                         "cea_table18.yaml)")
    return df


def load_forecasts(published: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Tables 23 (ACSA) and 24 (Nur-Sultan akimat): 2020 actual, 2021 estimate, 2022-2024 forecasts."""
    if published is None:
        published = load_published(PUBLISHED)
    recs = []
    for key, pv in published.items():
        parts = key.split(".")
        if len(parts) == 5 and parts[0] == "cea" and parts[1] in ("t23", "t24"):
            _, tab, ent, ind, year = parts
            recs.append(dict(table=tab, entity=ent, indicator=ind, factor=_IND[ind].factor,
                             year=int(year), value=float(pv.value), printed=pv.printed,
                             kind="actual" if int(year) == 2020 else
                             ("estimated" if int(year) == 2021 else "forecast"),
                             line=pv.line, key=key))
    return pd.DataFrame.from_records(recs)


def indicator_series(indicators: pd.DataFrame, entity: str, indicator: str) -> pd.Series:
    """Values of one indicator of one body, indexed by year."""
    sel = indicators[(indicators["entity"] == entity) & (indicators["indicator"] == indicator)]
    if sel.empty:
        raise ValueError(f"no data for entity={entity!r}, indicator={indicator!r}")
    s = sel.drop_duplicates("year").set_index("year")["value"].sort_index()
    s.name = f"{entity}.{indicator}"
    return s


# -------------------------------------------------------------- Table 19
def standard_mode_cost(base_cost: float, years: Iterable[int], *, base_year: int,
                       inflation: float) -> pd.Series:
    """Payroll under the standard (non-pilot) regime.

    ``C_std(t) = C(base_year) * (1 + inflation) ** (t - base_year)``: the
    thesis's assumption 1 (line 1593): "the payroll fund for the standard mode
    is unchanged, except for conversion to the percentage of inflation".

    In R: ``base_cost * (1 + inflation)^(years - base_year)``.
    """
    if not np.isfinite(base_cost) or base_cost <= 0:
        raise ValueError(f"base_cost={base_cost!r} must be a positive number")
    if not (-1 < inflation < 10):
        raise ValueError(f"inflation={inflation!r} must be an annual rate such as 0.03")
    yrs = list(years)
    return pd.Series([base_cost * (1.0 + inflation) ** (y - base_year) for y in yrs],
                     index=pd.Index(yrs, name="year"), name="cost")


def cost_effectiveness_ratio(cost: Any, effectiveness: Any) -> Any:
    """CER = cost / effectiveness (Levin & McEwan's cost-effectiveness ratio).

    Here: payroll in mln USD per percentage point of overall effectiveness;
    lower is better.  Works elementwise on arrays and Series.

    In R: ``cost / effectiveness``.
    """
    eff = np.asarray(effectiveness, dtype=float)
    if np.any(eff <= 0):
        raise ValueError("effectiveness must be positive to form a cost-effectiveness ratio")
    return cost / effectiveness


def cost_effectiveness_table(indicators: pd.DataFrame, params: Mapping[str, Any] | None = None
                             ) -> pd.DataFrame:
    """Table 19 in tidy form, at full precision.

    For each pilot body and year: pilot-mode cost (published payroll) and
    effectiveness (published overall effectiveness); standard-mode cost
    (:func:`standard_mode_cost`) and effectiveness (the base-year value held
    constant); CER for the pilot years only (footnote of Table 19).

    ``standard_cost_decimals`` (params): the thesis divides the standard-mode
    payroll *as printed*, rounded to 0.1 mln USD; with ``None`` the
    full-precision payroll is used (the akimat's 2019 and 2020 standard CER
    are then 0.094 and 0.097, not the printed 0.095 and 0.098).

    Returns
    -------
    DataFrame
        Columns ``org mode year cost cost_used effectiveness cer``
        (``cost_used`` is the cost entering the ratio).

    In R: ``round(c0 * 1.03^(t - 2017), 1) / e0`` (standard), ``cost / eff`` (pilot).
    """
    p = _merge(params)
    base, pilot_years = int(p["base_year"]), [int(y) for y in p["pilot_years"]]
    dec = p.get("standard_cost_decimals")
    recs = []
    for org in PILOTS:
        cost = indicator_series(indicators, org, p["cost_indicator"])
        eff = indicator_series(indicators, org, p["effectiveness_indicator"])
        years = [base] + pilot_years
        missing = [y for y in years if y not in cost.index or y not in eff.index]
        if missing:
            raise ValueError(f"{org}: no indicator values for year(s) {missing}")
        std = standard_mode_cost(float(cost[base]), years, base_year=base,
                                 inflation=float(p["inflation"]))
        for y in years:
            for mode in ("pilot", "standard"):
                c = float(cost[y]) if mode == "pilot" else float(std[y])
                used = c if (mode == "pilot" or dec is None) else round(c, int(dec))
                e = float(eff[y]) if mode == "pilot" else float(eff[base])
                cer = float(cost_effectiveness_ratio(used, e)) if y in pilot_years else np.nan
                recs.append(dict(org=org, mode=mode, year=y, cost=c, cost_used=used,
                                 effectiveness=e, cer=cer))
    return pd.DataFrame.from_records(recs)


def format_table19(table: pd.DataFrame, *, cer_decimals: int = 3) -> pd.DataFrame:
    """Table 19 in its printed layout (strings; cost 1 decimal, CER *cer_decimals*)."""
    rows = []
    specs = [("Equivalent total cost (Budget of Payroll Fund), mln. USD", "cost", 1),
             ("Total effectiveness measure, %", "effectiveness", 1),
             ("Cost-effectiveness ratio*", "cer", cer_decimals)]
    for label, col, d in specs:
        for y in sorted(table["year"].unique()):
            row = {"Parameter": label, "Year": int(y)}
            ok = False
            for org in PILOTS:
                for mode in ("pilot", "standard"):
                    v = table[(table.org == org) & (table["mode"] == mode) & (table.year == y)][col]
                    val = float(v.iloc[0]) if len(v) else np.nan
                    ok |= bool(np.isfinite(val))
                    row[f"{PILOTS[org][1]}, {mode} mode"] = "" if not np.isfinite(val) else f"{val:.{d}f}"
            if ok:
                rows.append(row)
    return pd.DataFrame(rows)


def formula2(table: pd.DataFrame) -> pd.DataFrame:
    """The thesis's formula (2), CER(pilot) > CER(standard), per body and pilot year,
    with the break-even inflation rate.

    The break-even rate r* makes the standard-mode CER equal the pilot CER:
    ``C0 (1 + r*)^(t - t0) / E0 = CER_pilot(t)``, so
    ``r* = (CER_pilot(t) E0 / C0)^(1 / (t - t0)) - 1``.  Formula (2) holds for
    every annual inflation rate below r* (full-precision standard cost).

    In R: ``(cer_pilot * e0 / c0)^(1 / (t - t0)) - 1``.

    Returns
    -------
    DataFrame
        ``org year cer_pilot cer_standard holds break_even_inflation``.
    """
    rows = []
    for org in table["org"].unique():
        d = table[table.org == org]
        base = d[d["mode"] == "standard"].sort_values("year").iloc[0]
        for y in sorted(d.dropna(subset=["cer"])["year"].unique()):
            pil = d[(d["mode"] == "pilot") & (d.year == y)].iloc[0]
            std = d[(d["mode"] == "standard") & (d.year == y)].iloc[0]
            r = (pil["cer"] * base["effectiveness"] / base["cost"]) ** (1.0 / (y - base["year"])) - 1
            rows.append(dict(org=org, year=int(y), cer_pilot=pil["cer"], cer_standard=std["cer"],
                             holds=bool(pil["cer"] > std["cer"]), break_even_inflation=r))
    return pd.DataFrame(rows)


# -------------------------------------------------------------- Table 20
def effect_sign(values: pd.Series, *, start: int, end: int, higher_is_better: bool = True,
                mode: str = "endpoints") -> int:
    """Sign of an indicator's effect over ``start..end`` by the Annex N rule.

    Annex N (line 3680): "A negative effect is considered to be a decrease in
    the values of indicators that reflect each of the factors in the analyzed
    period. Accordingly, the increase in indicators in the reporting period is
    positive."  For an indicator where lower is better (net turnover) the
    change is reversed.

    Parameters
    ----------
    values : Series
        Indicator values indexed by year.
    start, end : int
        The analysed period.
    higher_is_better : bool
    mode : {"endpoints", "any_decline"}
        ``"endpoints"``: sign of ``values[end] - values[start]``;
        ``"any_decline"``: negative if any year-on-year change within the
        period is a worsening, positive if all are improvements.

    Returns
    -------
    int
        +1 positive, -1 negative, 0 no change.

    In R: ``sign(x[end] - x[start])``.
    """
    if end <= start:
        raise ValueError(f"end={end!r} must be after start={start!r}")
    if mode not in ("endpoints", "any_decline"):
        raise ValueError(f"mode={mode!r} must be 'endpoints' or 'any_decline'")
    yrs = [y for y in range(start, end + 1)]
    missing = [y for y in yrs if y not in values.index]
    if missing:
        raise ValueError(f"values lacks year(s) {missing} for the period {start}-{end}")
    d = 1.0 if higher_is_better else -1.0
    if mode == "endpoints":
        ch = d * (float(values[end]) - float(values[start]))
        return int(np.sign(round(ch, 10)))
    ch = [d * (float(values[b]) - float(values[a])) for a, b in zip(yrs[:-1], yrs[1:])]
    ch = [round(c, 10) for c in ch]
    if any(c < 0 for c in ch):
        return -1
    if all(c == 0 for c in ch):
        return 0
    return 1


def _combine(signs: Sequence[int], how: str) -> int:
    if how == "any":      # negative if any indicator of the factor worsened
        return -1 if any(s < 0 for s in signs) else (1 if any(s > 0 for s in signs) else 0)
    if how == "all":      # negative only if all worsened
        return -1 if all(s < 0 for s in signs) else (1 if any(s > 0 for s in signs) else 0)
    if how == "majority":
        t = sum(signs)
        return int(np.sign(t))
    raise ValueError(f"combine={how!r} must be 'any', 'all' or 'majority'")


def factor_signs(indicators: pd.DataFrame, *, period: Sequence[int], mode: str = "endpoints",
                 combine: str = "any", lower_is_better: Iterable[str] = ("net_turnover",),
                 orgs: Iterable[str] = tuple(PILOTS)) -> pd.DataFrame:
    """Effect sign per pilot body, factor and indicator (Table 20 in tidy form).

    Factors with two indicators (Citizen Centricity) are combined by
    *combine*.  The "total" row is negative when any factor is negative and
    positive when all are positive (the H1 rule of Table 21).

    Returns
    -------
    DataFrame
        Columns ``org factor indicator start end value_start value_end sign
        level`` with ``level`` in {"indicator", "factor", "total"}.

    In R: ``sign(x[end] - x[start]) * ifelse(lower_is_better, -1, 1)`` per indicator.
    """
    if len(period) != 2:
        raise ValueError(f"period={period!r} must be [start, end]")
    start, end = int(period[0]), int(period[1])
    lower = set(lower_is_better)
    recs = []
    for org in orgs:
        fsigns = []
        for fac in FACTORS:
            inds = [i.id for i in INDICATORS if i.factor == fac]
            s_ind = []
            for ind in inds:
                s = indicator_series(indicators, org, ind)
                sg = effect_sign(s, start=start, end=end, higher_is_better=ind not in lower, mode=mode)
                s_ind.append(sg)
                recs.append(dict(org=org, factor=fac, indicator=ind, start=start, end=end,
                                 value_start=float(s[start]), value_end=float(s[end]),
                                 sign=sg, level="indicator"))
            fs = _combine(s_ind, combine) if len(s_ind) > 1 else s_ind[0]
            fsigns.append(fs)
            recs.append(dict(org=org, factor=fac, indicator="", start=start, end=end,
                             value_start=np.nan, value_end=np.nan, sign=fs, level="factor"))
        total = -1 if any(s < 0 for s in fsigns) else (1 if all(s > 0 for s in fsigns) else 0)
        recs.append(dict(org=org, factor="total", indicator="", start=start, end=end,
                         value_start=np.nan, value_end=np.nan, sign=total, level="total"))
    return pd.DataFrame.from_records(recs)


def compare_signs(signs: pd.DataFrame, published: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Cell-by-cell comparison of computed factor signs with Table 20.

    Returns
    -------
    DataFrame
        ``org factor computed published agree key line``; includes the
        "total" row.
    """
    if published is None:
        published = load_published(PUBLISHED)
    rows = []
    for _, r in signs[signs["level"] != "indicator"].iterrows():
        key = f"cea.t20.{r['org']}.{r['factor']}"
        if key not in published:
            raise ValueError(f"Table 20 cell {key!r} is not in studies/amirova2021/published")
        pv = published[key]
        rows.append(dict(org=r["org"], factor=r["factor"], computed=int(r["sign"]),
                         published=int(pv.value), agree=int(r["sign"]) == int(pv.value),
                         key=key, line=pv.line))
    return pd.DataFrame(rows)


def candidate_periods(years: Iterable[int]) -> list[tuple[int, int]]:
    """Every (start, end) pair of the analysed years, start < end."""
    ys = sorted(set(int(y) for y in years))
    return [(a, b) for a, b in itertools.combinations(ys, 2)]


def sign_agreement(indicators: pd.DataFrame, published: Mapping[str, Any] | None = None, *,
                   periods: Iterable[Sequence[int]] | None = None,
                   modes: Iterable[str] = ("endpoints", "any_decline"),
                   combines: Iterable[str] = ("any",),
                   lower_is_better: Iterable[str] = ("net_turnover",)) -> pd.DataFrame:
    """Agreement with Table 20 for every candidate period and rule variant.

    The rule is applied as written for each period; nothing is tuned to the
    published signs.  The count ``agree_factors`` is over the ten
    factor cells (5 factors x 2 pilots), ``agree_total`` adds the two "Total
    Result" cells.

    Returns
    -------
    DataFrame
        One row per (period, mode, combine): ``start end mode combine agree_factors
        n_factors agree_total n_total acsa nur_sultan mismatches
        h1_supported`` (the Table 21 decision that period would give).
    """
    if published is None:
        published = load_published(PUBLISHED)
    if periods is None:
        periods = candidate_periods(indicators["year"].unique())
    lower = tuple(lower_is_better)
    rows = []
    for (a, b), mode, combine in itertools.product(list(periods), list(modes), list(combines)):
        if mode == "any_decline" and b - a < 2:
            continue  # identical to endpoints for adjacent years
        sg = factor_signs(indicators, period=(a, b), mode=mode, combine=combine,
                          lower_is_better=lower)
        cmp = compare_signs(sg, published)
        fac = cmp[cmp["factor"] != "total"]
        rows.append(dict(
            start=a, end=b, mode=mode, combine=combine,
            agree_factors=int(fac["agree"].sum()), n_factors=len(fac),
            agree_total=int(cmp["agree"].sum()), n_total=len(cmp),
            acsa=int(fac[fac.org == "acsa"]["agree"].sum()),
            nur_sultan=int(fac[fac.org == "nur_sultan"]["agree"].sum()),
            mismatches=", ".join(f"{r.org}:{r.factor}" for r in fac.itertuples() if not r.agree),
            h1_supported=bool((sg[sg["level"] == "factor"]["sign"] < 0).any())))
    return pd.DataFrame(rows)


# -------------------------------------------------------------- Table 21
def decide_hypotheses(signs: pd.DataFrame) -> pd.DataFrame:
    """The H0/H1 decision of Table 21 from factor signs.

    H0 ("a positive change in all factors justifies the resources spent") is
    supported when every factor of every pilot body is positive; H1 ("if at
    least one factor generates negative effects, the project ... is
    considered as insufficient") when at least one is negative (line 786).

    Returns
    -------
    DataFrame
        ``hypothesis supported printed basis``.

    In R: ``c(H0 = all(signs > 0), H1 = any(signs < 0))``.
    """
    fac = signs[signs["level"] == "factor"]
    if fac.empty:
        raise ValueError("signs has no factor-level rows")
    neg = fac[fac["sign"] < 0]
    h0 = bool((fac["sign"] > 0).all())
    h1 = bool(len(neg) > 0)
    basis = ", ".join(f"{r.org}:{r.factor}" for r in neg.itertuples()) or "none"
    return pd.DataFrame([
        dict(hypothesis="H0", supported=h0, printed="Supported" if h0 else "Not supported",
             basis=f"factors with a non-positive effect: "
                   f"{', '.join(f'{r.org}:{r.factor}' for r in fac[fac['sign'] <= 0].itertuples()) or 'none'}"),
        dict(hypothesis="H1", supported=h1, printed="Supported" if h1 else "Not supported",
             basis=f"factors with a negative effect: {basis}"),
    ])


# ------------------------------------------------------- Evaluation Center
def efficiency_band(score: float, bands: Mapping[str, float] | None = None) -> str:
    """Evaluation Center band of a score in points (line 780).

    90 or higher: "high"; 70-89.99: "average"; 50-69.99: "low"; below 50:
    "inefficient".

    In R: ``cut(score, c(-Inf, 50, 70, 90, Inf), right = FALSE,
    labels = c("inefficient", "low", "average", "high"))``.
    """
    b = {**DEFAULTS["bands"], **(bands or {})}
    if not (b["high"] > b["average"] > b["low"]):
        raise ValueError(f"bands={dict(b)!r} must satisfy high > average > low")
    if not np.isfinite(score):
        raise ValueError(f"score={score!r} is not finite")
    if score >= b["high"]:
        return "high"
    if score >= b["average"]:
        return "average"
    if score >= b["low"]:
        return "low"
    return "inefficient"


def efficiency_bands(indicators: pd.DataFrame, bands: Mapping[str, float] | None = None
                     ) -> pd.DataFrame:
    """Bands for every Evaluation Center indicator (Table 7) of every body and year.

    Net turnover, the quality of public services and the payroll are not
    Evaluation Center scores and get no band.
    """
    ec = [i.id for i in INDICATORS if i.database == "Evaluation Center"]
    df = indicators[indicators["indicator"].isin(ec)].copy()
    df["band"] = [efficiency_band(v, bands) for v in df["value"]]
    return df[["table", "entity", "indicator", "factor", "year", "value", "band"]].reset_index(drop=True)


# ----------------------------------------------------------------- charts
def _save(fig: Any, out_dir: Path, name: str) -> list[Path]:
    import io

    from pipeline.core.io import write_bytes
    from pipeline.reporting.report import _fig_metadata
    out = []
    for ext in ("png", "svg"):
        buf = io.BytesIO()
        fig.savefig(buf, format=ext, dpi=130, metadata=_fig_metadata(ext))
        out.append(write_bytes(Path(out_dir) / f"{name}.{ext}", buf.getvalue()))
    return out


def _plt():
    import matplotlib
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    return plt


def plot_indicators(indicators: pd.DataFrame, out_dir: str | Path) -> list[Path]:
    """Line charts of every indicator 2017-2020, one figure per table (15, 18).

    Writes ``cea_indicators_t15.{png,svg}`` and ``cea_indicators_t18.{png,svg}``
    into *out_dir*; returns the paths.
    """
    plt = _plt()
    written = []
    for tab, title in (("t15", "Table 15: ACSA and averages, 2017-2020"),
                       ("t18", "Table 18: akimats of Nur-Sultan and Mangistau, 2017-2020")):
        d = indicators[indicators["table"] == tab]
        fig, axes = plt.subplots(2, 4, figsize=(16, 7))
        for ax, ind in zip(axes.flat, INDICATORS):
            sub = d[d["indicator"] == ind.id]
            for ent, g in sub.groupby("entity", sort=False):
                g = g.sort_values("year")
                ax.plot(g["year"], g["value"], marker="o", label=ENTITY_LABELS.get(ent, ent),
                        lw=2.2 if ent in PILOTS else 1.2)
            ax.set_title(f"{FACTORS.get(ind.factor, 'Resources')}: {ind.label}", fontsize=8)
            ax.set_xticks(sorted(sub["year"].unique()))
            ax.set_ylabel("mln USD" if ind.id == "payroll" else "%")
            ax.grid(alpha=.3)
        axes.flat[-1].axis("off")
        h, lab = axes.flat[0].get_legend_handles_labels()
        axes.flat[-1].legend(h, lab, loc="center")
        fig.suptitle(title + " (source: thesis, official indicators)")
        fig.tight_layout()
        written += _save(fig, Path(out_dir), f"cea_indicators_{tab}")
        plt.close(fig)
    return written


def plot_forecasts(indicators: pd.DataFrame, forecasts: pd.DataFrame, out_dir: str | Path
                   ) -> list[Path]:
    """Observed 2017-2020 (Tables 15/18) and the author's 2021-2024 forecasts (Tables 23/24).

    Forecasts are drawn dashed: they are the author's targets, not data.
    Writes ``cea_forecasts.{png,svg}``.
    """
    plt = _plt()
    inds = [i for i in INDICATORS if i.id != "payroll"]
    fig, axes = plt.subplots(2, 3, figsize=(14, 7))
    for ax, ind in zip(axes.flat, inds):
        for org, tab in (("acsa", "t23"), ("nur_sultan", "t24")):
            obs = indicator_series(indicators, org, ind.id)
            line, = ax.plot(obs.index, obs.values, marker="o", label=f"{ENTITY_LABELS[org]} (observed)")
            f = forecasts[(forecasts["entity"] == org) & (forecasts["indicator"] == ind.id)].sort_values("year")
            if len(f):
                ax.plot(f["year"], f["value"], ls="--", marker="x", color=line.get_color(),
                        label=f"{ENTITY_LABELS[org]} (Table {tab[1:]} forecast)")
        ax.axvspan(2020.5, 2024.5, color="0.92", zorder=0)
        ax.set_title(f"{FACTORS[ind.factor]}: {ind.label}", fontsize=8)
        ax.set_xticks(range(2017, 2025))
        ax.tick_params(axis="x", labelsize=7)
        ax.grid(alpha=.3)
    axes.flat[0].legend(fontsize=7)
    fig.suptitle("Indicators 2017-2020 and the thesis's forecasts 2021-2024 (Tables 23-24)")
    fig.tight_layout()
    out = _save(fig, Path(out_dir), "cea_forecasts")
    plt.close(fig)
    return out


def plot_cer(table: pd.DataFrame, out_dir: str | Path) -> list[Path]:
    """Pilot vs standard CER per pilot body (Table 19). Writes ``cea_cer.{png,svg}``."""
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for ax, org in zip(axes, PILOTS):
        for mode in ("pilot", "standard"):
            d = table[(table.org == org) & (table["mode"] == mode)].dropna(subset=["cer"])
            ax.plot(d["year"], d["cer"], marker="o", label=f"{mode} mode")
        ax.set_title(PILOTS[org][1])
        ax.set_xticks(sorted(table.dropna(subset=["cer"])["year"].unique()))
        ax.set_ylabel("CER (mln USD per point of effectiveness)")
        ax.grid(alpha=.3)
        ax.legend()
    fig.suptitle("Cost-effectiveness ratio, computed (Table 19)")
    fig.tight_layout()
    out = _save(fig, Path(out_dir), "cea_cer")
    plt.close(fig)
    return out


def compare_published(computed: Mapping[str, Any], published: Mapping[str, Any], prefix: str
                      ) -> pd.DataFrame:
    """Computed values against the published cells whose key starts with *prefix*.

    A cell matches when the computed value, rounded to the printed number of
    decimals, equals the printed value.

    Returns
    -------
    DataFrame
        ``key line printed published computed shown match``.
    """
    rows = []
    for key, pv in published.items():
        if not key.startswith(prefix):
            continue
        c = computed.get(key)
        dec = pv.decimals
        shown = "" if c is None else (f"{float(c):.{dec}f}" if dec is not None else str(c))
        status, _ = compare_value(pv, c)
        rows.append(dict(key=key, line=pv.line, printed=pv.printed, published=pv.value,
                         computed=c, shown=shown, match=status == EXACT))
    return pd.DataFrame(rows, columns=["key", "line", "printed", "published", "computed", "shown",
                                       "match"])


# ----------------------------------------------------------------- result
@dataclass
class CEAResult:
    """Everything the CEA computes (see :func:`run`)."""

    params: dict[str, Any]
    indicators: pd.DataFrame
    forecasts: pd.DataFrame
    table19: pd.DataFrame
    signs: pd.DataFrame
    table20: pd.DataFrame
    agreement: pd.DataFrame
    table21: pd.DataFrame
    bands: pd.DataFrame
    notes: dict[str, str] = field(default_factory=dict)
    tolerances: dict[str, float] = field(default_factory=dict)
    text_keys: list[str] = field(default_factory=list)
    table19_check: pd.DataFrame = field(default_factory=pd.DataFrame)
    table21_check: pd.DataFrame = field(default_factory=pd.DataFrame)

    def computed_values(self) -> dict[str, Any]:
        """Computed values keyed like ``studies/amirova2021/published`` (Tables 19-21, 23-24 actuals)."""
        out: dict[str, Any] = {}
        for r in self.table19.itertuples():
            base = f"cea.t19.{r.org}.{r.mode}"
            out[f"{base}.cost.{r.year}"] = r.cost
            out[f"{base}.effectiveness.{r.year}"] = r.effectiveness
            if np.isfinite(r.cer):
                out[f"{base}.cer.{r.year}"] = r.cer
        for r in self.table20.itertuples():
            out[r.key] = r.computed
        for r in self.table21.itertuples():
            out[f"cea.t21.{r.hypothesis}"] = int(r.supported)
        out.update(self.text_values())
        # Tables 23/24 print the 2020 actual values again: check them against 15/18
        for r in self.forecasts[self.forecasts["year"] == 2020].itertuples():
            obs = self.indicators[(self.indicators.entity == r.entity) &
                                  (self.indicators.indicator == r.indicator) &
                                  (self.indicators.year == 2020)]
            if len(obs):
                out[r.key] = float(obs["value"].iloc[0])
        return out

    def text_values(self) -> dict[str, float]:
        """Numbers the text states about Tables 15/18 (``studies/amirova2021/published/cea_text.yaml``).

        ``cea.text.<body>.<indicator>.decline.<a>_<b>``: the worsening from
        year a to b (a rise for lower-is-better indicators, else a fall);
        ``.ratio.<a>_<b>``: value(b) / value(a); ``.<year>``: the value itself.
        """
        lower = set(self.params["sign_rule"].get("lower_is_better", ["net_turnover"]))
        out: dict[str, float] = {}
        for key in self.text_keys:
            parts = key.split(".")
            try:
                s = indicator_series(self.indicators, parts[2], parts[3])
            except ValueError:
                continue
            if len(parts) == 6 and parts[4] in ("decline", "ratio"):
                a, b = (int(x) for x in parts[5].split("_"))
                if parts[4] == "ratio":
                    out[key] = float(s[b]) / float(s[a])
                else:
                    d = float(s[b]) - float(s[a])
                    out[key] = d if parts[3] in lower else -d
            elif len(parts) == 5 and parts[4].isdigit():
                out[key] = float(s[int(parts[4])])
        return out

    def to_frame(self) -> pd.DataFrame:
        """Table 19 in tidy form (the central numeric result)."""
        return self.table19.copy()

    def summary(self) -> str:
        p = self.params
        rule = p["sign_rule"]
        t19 = format_table19(self.table19, cer_decimals=int(p["cer_decimals"]))
        best = self.agreement.sort_values(["agree_factors", "agree_total"], ascending=False)
        lines = [
            "Cost-effectiveness analysis (thesis Tables 15, 18-21)",
            f"inflation {p['inflation']:.3%} per year from {p['base_year']}; "
            f"standard-mode payroll rounded to {p['standard_cost_decimals']} decimals before the ratio",
            "", "Table 19 (computed):", t19.to_string(index=False),
            f"{int(self.table19_check['match'].sum())} of {len(self.table19_check)} cells of the "
            "published Table 19 reproduced at their printed precision", "",
            f"Table 20 (Annex N rule, period {rule['period'][0]}-{rule['period'][1]}, "
            f"mode {rule['mode']}, combine {rule['combine']}):",
            self.table20.assign(computed=self.table20["computed"].map(SIGN_WORD),
                                published=self.table20["published"].map(SIGN_WORD))
            [["org", "factor", "computed", "published", "agree"]].to_string(index=False),
            "", "Agreement with the ten published factor signs, every candidate period:",
            best[["start", "end", "mode", "agree_factors", "n_factors", "agree_total", "n_total",
                  "mismatches"]].to_string(index=False),
            "", "Table 21 (computed):",
            self.table21[["hypothesis", "printed", "basis"]].to_string(index=False),
        ]
        return "\n".join(lines)


def run(params: Mapping[str, Any] | None = None, published: Mapping[str, Any] | None = None
        ) -> CEAResult:
    """Compute the whole CEA from the published indicator tables.

    Parameters
    ----------
    params : mapping, optional
        The ``cea`` group of ``params.yaml`` (defaults in :data:`DEFAULTS`).
    published : mapping, optional
        ``key -> PublishedValue``; read from ``studies/amirova2021/published`` by default.
    """
    if published is None:
        published = load_published(PUBLISHED)
    p = _merge(params)
    rule = p["sign_rule"]
    if rule.get("mode") not in ("endpoints", "any_decline"):
        raise ValueError(f"cea.sign_rule.mode={rule.get('mode')!r} must be 'endpoints' or 'any_decline'")
    ind = load_indicators(published)
    fc = load_forecasts(published)
    t19 = cost_effectiveness_table(ind, p)
    signs = factor_signs(ind, period=rule["period"], mode=rule["mode"], combine=rule["combine"],
                         lower_is_better=rule.get("lower_is_better", ["net_turnover"]))
    t20 = compare_signs(signs, published)
    agreement = sign_agreement(ind, published, modes=p.get("candidate_modes", ["endpoints"]),
                               combines=p.get("candidate_combine", [rule["combine"]]),
                               lower_is_better=rule.get("lower_is_better", ["net_turnover"]))
    t21 = decide_hypotheses(signs)
    bands = efficiency_bands(ind, p.get("bands"))
    notes = {}
    per = f"{rule['period'][0]}-{rule['period'][1]}"
    for r in t20.itertuples():
        notes[r.key] = f"Annex N rule, {per}, {rule['mode']}"
    dec = p.get("standard_cost_decimals")
    for r in t19[(t19["mode"] == "standard")].itertuples():
        if dec is not None and np.isfinite(r.cer):
            notes[f"cea.t19.{r.org}.standard.cer.{r.year}"] = (
                f"standard payroll {r.cost:.4f} rounded to {r.cost_used} before dividing, as printed")
    for r in fc[fc["year"] == 2020].itertuples():
        notes[r.key] = f"2020 actual value checked against Table {'15' if r.entity == 'acsa' else '18'}"
    text_keys = [k for k in published if k.startswith("cea.text.")]
    tolerances = {k: float(p.get("verbal_ratio_tolerance", 0.25)) for k in text_keys
                  if ".ratio." in k and published[k].decimals is None}
    res = CEAResult(params=p, indicators=ind, forecasts=fc, table19=t19, signs=signs, table20=t20,
                    agreement=agreement, table21=t21, bands=bands, notes=notes,
                    tolerances=tolerances, text_keys=text_keys)
    cv = res.computed_values()
    res.table19_check = compare_published(cv, published, "cea.t19.")
    res.table21_check = compare_published(cv, published, "cea.t21.")
    return res


# ------------------------------------------------------------------ output
def _latex(df: pd.DataFrame) -> str:
    return df.to_latex(index=False, escape=True, na_rep="")


def write_outputs(result: CEAResult, out_dir: str | Path) -> list[Path]:
    """Tables (CSV + LaTeX), figures (PNG + SVG) and ``cea.html`` into *out_dir*."""
    from pipeline.core.io import write_csv, write_text
    out = Path(out_dir)
    tdir, fdir = out / "tables", out / "figures"
    p = result.params
    written: list[Path] = []
    t19_fmt = format_table19(result.table19, cer_decimals=int(p["cer_decimals"]))
    t20_fmt = result.table20.assign(computed=result.table20["computed"].map(SIGN_WORD),
                                    published=result.table20["published"].map(SIGN_WORD))
    tables = {
        "table19_cer": (result.table19, t19_fmt),
        "table19_vs_published": (result.table19_check, result.table19_check),
        "formula2_break_even": (formula2(result.table19), formula2(result.table19)),
        "table20_signs": (result.table20, t20_fmt),
        "table20_indicator_signs": (result.signs, result.signs),
        "table20_agreement_by_period": (result.agreement, result.agreement),
        "table21_hypotheses": (result.table21, result.table21),
        "efficiency_bands": (result.bands, result.bands),
        "indicators_2017_2020": (result.indicators, result.indicators),
    }
    for name, (full, shown) in tables.items():
        written.append(write_csv(tdir / f"{name}.csv", full, index=False))
        written.append(write_text(tdir / f"{name}.tex", _latex(shown)))
    figs = plot_indicators(result.indicators, fdir)
    figs += plot_forecasts(result.indicators, result.forecasts, fdir)
    figs += plot_cer(result.table19, fdir)
    written += figs
    written.append(write_text(out / "cea.html", render_html(result)))
    return written


def render_html(result: CEAResult) -> str:
    """The CEA report section as a standalone HTML page (figures linked from ``figures/``)."""
    p = result.params
    rule = p["sign_rule"]

    def tbl(df: pd.DataFrame) -> str:
        return df.to_html(index=False, border=0, classes="t", na_rep="")
    t19 = format_table19(result.table19, cer_decimals=int(p["cer_decimals"]))
    t20 = result.table20.assign(computed=result.table20["computed"].map(SIGN_WORD),
                                published=result.table20["published"].map(SIGN_WORD))
    n_ag = int(t20[t20.factor != "total"]["agree"].sum())
    best = int(result.agreement["agree_factors"].max()) if len(result.agreement) else 0
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<title>Cost-effectiveness analysis</title><style>body{font-family:sans-serif;margin:2em}"
        "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px}"
        "img{max-width:100%}</style></head><body>",
        "<h1>Cost-effectiveness analysis of the pay-by-results pilot</h1>",
        "<p>Computed from the official indicators published in the thesis's Tables 15 (line 1251) "
        "and 18 (line 1536), transcribed in <code>studies/amirova2021/published/</code>. No respondent data "
        "is used: this section does not depend on synthetic data.</p>",
        "<h2 id='table19'>Table 19: cost-effectiveness ratio</h2>",
        f"<p>Standard mode: 2017 payroll grown by {p['inflation']:.1%} a year; effectiveness held "
        f"at its 2017 value. CER = cost / effectiveness, shown to {p['cer_decimals']} decimals.</p>",
        tbl(t19),
        f"<p>{int(result.table19_check['match'].sum())} of {len(result.table19_check)} cells of "
        "the published Table 19 (line 1601) reproduced at their printed precision.</p>",
        tbl(result.table19_check[["key", "line", "printed", "shown", "match"]]),
        "<h3>Formula (2): CER(pilot) &gt; CER(standard)</h3>",
        "<p>Holds in every pilot year for both bodies when the column <em>holds</em> is true; it "
        "would hold for any annual inflation rate below <em>break_even_inflation</em>.</p>",
        tbl(formula2(result.table19)),
        "<h2 id='table20'>Table 20: effect signs (Annex N rule)</h2>",
        f"<p>Period {rule['period'][0]}-{rule['period'][1]}, mode <em>{rule['mode']}</em>, "
        f"two-indicator factors combined by <em>{rule['combine']}</em>. {n_ag} of 10 published "
        f"factor signs agree. Over every candidate period the best agreement is {best} of 10: "
        "no single period reproduces all published signs.</p>",
        tbl(t20[["org", "factor", "computed", "published", "agree", "line"]]),
        "<h3>Agreement by candidate period</h3>", tbl(result.agreement),
        "<h2 id='table21'>Table 21: hypotheses</h2>", tbl(result.table21),
        "<p>Published (line 1644): " + ", ".join(
            f"{r.key.split('.')[-1]} {r.printed} ({'reproduced' if r.match else 'differs'})"
            for r in result.table21_check.itertuples()) + ".</p>",
        "<h2 id='bands'>Evaluation Center efficiency bands (90 / 70 / 50)</h2>",
        tbl(result.bands.pivot_table(index=["entity", "indicator"], columns="year",
                                     values="band", aggfunc="first").reset_index()),
        "<h2 id='charts'>Charts</h2>",
    ]
    for name in ("cea_cer", "cea_indicators_t15", "cea_indicators_t18", "cea_forecasts"):
        parts.append(f"<p><img src='figures/{name}.svg' alt='{html.escape(name)}'></p>")
    parts.append("</body></html>")
    return "\n".join(parts)


def scorecard_rows(result: CEAResult) -> list[tuple[str, Any, str, float | None, str]]:
    """The values of *result* as scorecard rows (key, value, note, tolerance, source):
    the extra rows of :func:`pipeline.replication.scorecard.collect`."""
    return [(key, val, result.notes.get(key, ""), result.tolerances.get(key),
             "studies.amirova2021.cea") for key, val in result.computed_values().items()]
