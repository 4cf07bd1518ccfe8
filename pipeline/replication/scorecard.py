"""Replication scorecard: every published number next to what the pipeline recomputes.

Published numbers live in ``studies/amirova2021/published/*.yaml`` (format in
``docs/ARCHITECTURE.md``), one entry per printed cell with its table and
line.  A :class:`Scorecard` joins them on ``key`` with computed values and
gives each row exactly one of five statuses:

* ``"reproduced exactly"`` -- the computed value, rounded to the printed
  precision of the published one, equals it;
* ``"within tolerance"`` -- not exact, but within the tolerance given for
  that comparison;
* ``"differs"`` -- neither;
* ``"cannot be recomputed from published data"`` -- nothing in the
  published aggregates lets the pipeline recompute it (the default for a key
  never added);
* ``"depends on respondent-level data (synthetic here)"`` -- the number
  needs the questionnaires, which were never published; the pipeline's value
  comes from the (by default synthetic) respondent files, so agreement or
  disagreement says nothing about the thesis.

Key conventions (for stages writing ``computed.json``)
-----------------------------------------------------
* 2019 fit (Table 12): ``cs2019.fit.<name>`` with lavaan names ``chisq gfi
  agfi cfi tli ifi rmsea``, plus ``cmin_df`` (chisq/df) and ``pvalue`` (1 if
  p < .05, since the table prints "Significant");
* alphas (Table K.1): ``cs2019.alpha.<L|S|HC|O|R|CC|ICS>``;
* loadings (Table K.2): ``cs2019.loading.<factor>.<item>.<est|se|z|pvalue>``;
* hypotheses (Table 13): ``cs2019.hypothesis.H<1-5>`` (1 supported, 0 not);
* demographics (Tables 11, 14, 16, 17) and text percentages: the keys of
  their files, e.g. ``cs2019.table11.age.21_30.ACSA`` and ``...ACSA.pct``.

``python -m pipeline scorecard`` collects what can be computed now (the
cost-effectiveness tables, the consistency audit of the published
statistics) plus every ``data/processed/*/computed.json`` ({key: value})
written by other stages, and writes ``reports/scorecard.csv`` and
``reports/index.html``.
"""
from __future__ import annotations

import argparse
import fnmatch
import html
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import pandas as pd

from pipeline.core.io import read_yaml
from pipeline.core import paths

__all__ = [
    "STATUSES", "EXACT", "WITHIN_TOLERANCE", "DIFFERS", "NOT_RECOMPUTABLE",
    "RESPONDENT_LEVEL", "PublishedValue", "parse_number", "printed_decimals",
    "load_published", "compare_value", "Scorecard", "render_index", "main",
]

EXACT = "reproduced exactly"
WITHIN_TOLERANCE = "within tolerance"
DIFFERS = "differs"
NOT_RECOMPUTABLE = "cannot be recomputed from published data"
RESPONDENT_LEVEL = "depends on respondent-level data (synthetic here)"
STATUSES = (EXACT, WITHIN_TOLERANCE, DIFFERS, NOT_RECOMPUTABLE, RESPONDENT_LEVEL)

_REQUIRED_TOP = ("source", "table", "line", "values")
_REQUIRED_VALUE = ("key", "value", "printed", "unit", "line")
_STANDARD_FIELDS = ("key", "label", "value", "printed", "unit", "line", "note")

_NUM_RE = re.compile(r"[-+\u2212]?(?:\d+(?:[.,]\d*)?|[.,]\d+)")


def parse_number(text: Any) -> float:
    """Parse a number as printed in the thesis.

    Decimal commas (``"66,7"``), leading-dot decimals (``".036"``), a unit
    suffix (``"6,6 mln. USD"``, ``"80%"``) and the Unicode minus are
    accepted; the first number in the text is returned.

    Parameters
    ----------
    text : str or number
        The printed cell.

    Returns
    -------
    float

    Raises
    ------
    ValueError
        If *text* contains no number.

    Examples
    --------
    >>> parse_number("66,7")
    66.7
    >>> parse_number(".036")
    0.036
    """
    if isinstance(text, bool):
        raise ValueError(f"text={text!r} is not a number")
    if isinstance(text, (int, float)):
        return float(text)
    if not isinstance(text, str):
        raise ValueError(f"text={text!r} is not a number")
    m = _NUM_RE.search(text.replace("\u00a0", "").replace(" ", ""))
    if not m:
        raise ValueError(f"text={text!r} contains no number")
    s = m.group(0).replace("\u2212", "-").replace(",", ".")
    if s.endswith("."):
        s = s[:-1]
    return float(s)


def printed_decimals(printed: Any) -> int | None:
    """Number of decimals shown in a printed number (``"0,115"`` -> 3).

    Returns ``None`` when *printed* holds no number (e.g. ``"Negative"``).
    """
    if isinstance(printed, (int, float)) and not isinstance(printed, bool):
        printed = repr(printed)
    if not isinstance(printed, str):
        return None
    m = _NUM_RE.search(printed.replace(" ", ""))
    if not m:
        return None
    s = m.group(0).replace(",", ".")
    return len(s.split(".", 1)[1]) if "." in s else 0


@dataclass(frozen=True)
class PublishedValue:
    """One published number, with where it is printed."""

    key: str
    label: str
    value: Any
    printed: str
    unit: str
    line: int
    note: str
    table: str
    table_line: int
    title: str
    file: str
    role: str = "result"
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def decimals(self) -> int | None:
        return printed_decimals(self.printed)

    @property
    def reference(self) -> str:
        return f"{self.table}, line {self.line}"


def load_published(directory: str | Path | None = None, *,
                   include_inputs: bool = True) -> dict[str, PublishedValue]:
    """Read every ``*.yaml`` in ``studies/amirova2021/published/``.

    Parameters
    ----------
    directory : path, optional
        Defaults to :data:`pipeline.core.paths.DATA_PUBLISHED`.
    include_inputs : bool
        Files marked ``role: input`` (tables the pipeline computes *from*,
        such as Tables 15 and 18) are included unless False.

    Returns
    -------
    dict
        ``key -> PublishedValue`` in file then row order.

    Raises
    ------
    ValueError
        A file without a required field, a value without ``key``, ``value``,
        ``printed``, ``unit`` or ``line``, or a key used twice (naming both
        files).
    """
    d = Path(directory) if directory is not None else paths.DATA_PUBLISHED
    out: dict[str, PublishedValue] = {}
    if not d.exists():
        return out
    for f in sorted(d.glob("*.yaml")):
        doc = read_yaml(f) or {}
        if not isinstance(doc, dict):
            raise ValueError(f"{f}: top level must be a mapping")
        missing = [k for k in _REQUIRED_TOP if k not in doc]
        if missing:
            raise ValueError(f"{f}: missing field(s) {missing}")
        role = str(doc.get("role", "result"))
        if role == "input" and not include_inputs:
            continue
        for i, v in enumerate(doc["values"] or []):
            miss = [k for k in _REQUIRED_VALUE if k not in v]
            if miss:
                raise ValueError(f"{f}: values[{i}] (key {v.get('key')!r}) lacks {miss}")
            key = str(v["key"])
            if key in out:
                raise ValueError(f"{f}: key {key!r} already defined in {out[key].file}")
            out[key] = PublishedValue(
                key=key, label=str(v.get("label", "")), value=v["value"],
                printed=str(v["printed"]), unit=str(v["unit"]), line=int(v["line"]),
                note=str(v.get("note") or ""), table=str(doc["table"]),
                table_line=int(doc["line"]), title=str(doc.get("title", "")),
                file=f.name, role=role,
                extra={k: x for k, x in v.items() if k not in _STANDARD_FIELDS})
    return out


def _is_missing(x: Any) -> bool:
    if x is None:
        return True
    try:
        return bool(isinstance(x, float) and math.isnan(x))
    except TypeError:
        return False


def _as_float(x: Any) -> float | None:
    if isinstance(x, bool):
        return float(x)
    if isinstance(x, (int, float)):
        return float(x)
    try:
        import numpy as np
        if isinstance(x, np.generic):
            return float(x)
    except Exception:  # pragma: no cover
        pass
    if isinstance(x, str):
        try:
            return parse_number(x)
        except ValueError:
            return None
    return None


def compare_value(published: PublishedValue, computed: Any,
                  tolerance: float | None = None) -> tuple[str, float | None]:
    """Status of one numeric or categorical comparison, and the difference.

    Exact means: the computed value differs from the published one by at most
    half a unit in the last printed decimal (i.e. it rounds to the printed
    number; a tiny relative slack absorbs binary floating point).
    Non-numeric published values (e.g. ``"Supported"``) are compared as
    case-insensitive text.

    Returns
    -------
    (status, computed - published) ; the difference is None for text.
    """
    if _is_missing(computed):
        return NOT_RECOMPUTABLE, None
    pub = _as_float(published.value)
    com = _as_float(computed)
    if pub is None or com is None:
        same = str(computed).strip().lower() == str(published.printed).strip().lower() or \
            str(computed).strip().lower() == str(published.value).strip().lower()
        return (EXACT if same else DIFFERS), None
    diff = com - pub
    dec = published.decimals
    half = 0.5 * 10.0 ** (-(dec if dec is not None else 12))
    if abs(diff) <= half * (1 + 1e-9) + 1e-12:
        return EXACT, diff
    if tolerance is not None and abs(diff) <= tolerance:
        return WITHIN_TOLERANCE, diff
    return DIFFERS, diff


@dataclass
class _Row:
    key: str
    computed: Any
    tolerance: float | None
    respondent: bool
    recomputable: bool
    note: str
    source: str


class Scorecard:
    """Published numbers joined with recomputed ones.

    Parameters
    ----------
    published : mapping, optional
        ``key -> PublishedValue``; by default :func:`load_published` without
        input tables (``role: input``), which are data, not results.
    respondent_level : sequence of str
        Glob patterns of keys that need respondent-level data: such keys,
        when never added, get the status ``RESPONDENT_LEVEL`` instead of
        ``NOT_RECOMPUTABLE``.  A pattern starting with ``!`` excludes
        (``"!*.threshold.*"``: printed cut-offs are not estimates).
    synthetic : bool
        Whether the respondent-level inputs were synthetic (drives the banner
        of :func:`render_index`).

    Examples
    --------
    >>> sc = Scorecard()
    >>> sc.add("cea.t19.acsa.pilot.cer.2018", 10.5 / 91.2)   # doctest: +SKIP
    >>> sc.to_frame()                                        # doctest: +SKIP
    """

    def __init__(self, published: Mapping[str, PublishedValue] | None = None, *,
                 respondent_level: Sequence[str] = (), synthetic: bool = False) -> None:
        self.published: dict[str, PublishedValue] = dict(
            load_published(include_inputs=False) if published is None else published)
        self._rows: list[_Row] = []
        self._respondent_patterns: list[str] = list(respondent_level)
        self.synthetic = bool(synthetic)

    # -- building ---------------------------------------------------------
    def add(self, key: str, computed: Any, *, tolerance: float | None = None,
            depends_on_respondent_data: bool = False, recomputable: bool = True,
            note: str = "", source: str = "") -> "Scorecard":
        """Record a computed value for a published *key*.

        A key may be added more than once (e.g. recomputed from published
        aggregates by the audit *and* estimated from respondent data); each
        addition is one row.

        Raises
        ------
        ValueError
            *key* is not a published key, or *tolerance* is negative.
        """
        if key not in self.published:
            raise ValueError(f"key={key!r} is not in studies/amirova2021/published (no published value to compare)")
        if tolerance is not None and not (tolerance >= 0):
            raise ValueError(f"tolerance={tolerance!r} must be >= 0")
        self._rows.append(_Row(key, computed, tolerance, bool(depends_on_respondent_data),
                               bool(recomputable), note, source))
        return self

    def add_many(self, values: Mapping[str, Any], **kwargs: Any) -> list[str]:
        """Add every published key of *values*; return the keys skipped (unknown)."""
        skipped = []
        for k, v in values.items():
            if k in self.published:
                self.add(k, v, **kwargs)
            else:
                skipped.append(k)
        return skipped

    def mark_respondent_level(self, *patterns: str) -> "Scorecard":
        """Glob patterns (``"cs2019.*"``; ``"!..."`` excludes) of keys that need respondent data."""
        self._respondent_patterns.extend(patterns)
        return self

    def _is_respondent_key(self, key: str) -> bool:
        pos = [p for p in self._respondent_patterns if not p.startswith("!")]
        neg = [p[1:] for p in self._respondent_patterns if p.startswith("!")]
        return (any(fnmatch.fnmatchcase(key, p) for p in pos)
                and not any(fnmatch.fnmatchcase(key, p) for p in neg))

    # -- results ----------------------------------------------------------
    def _status(self, row: _Row) -> tuple[str, float | None]:
        pv = self.published[row.key]
        if row.respondent:
            _, diff = compare_value(pv, row.computed, row.tolerance)
            return RESPONDENT_LEVEL, diff
        if not row.recomputable:
            return NOT_RECOMPUTABLE, None
        return compare_value(pv, row.computed, row.tolerance)

    def to_frame(self) -> pd.DataFrame:
        """One row per comparison, plus one per published key never added.

        Columns: ``key table line label published printed unit computed
        difference tolerance status source note file``.  Rows follow the
        order of the published files.
        """
        added: dict[str, list[_Row]] = {}
        for r in self._rows:
            added.setdefault(r.key, []).append(r)
        recs = []
        for key, pv in self.published.items():
            rows = added.get(key)
            base = dict(key=key, table=pv.table, line=pv.line, label=pv.label,
                        published=pv.value, printed=pv.printed, unit=pv.unit, file=pv.file)
            if not rows:
                status = RESPONDENT_LEVEL if self._is_respondent_key(key) else NOT_RECOMPUTABLE
                recs.append(dict(base, computed=None, difference=None, tolerance=None,
                                 status=status, source="", note=pv.note))
                continue
            for r in rows:
                status, diff = self._status(r)
                note = "; ".join(x for x in (r.note, pv.note) if x)
                recs.append(dict(base, computed=r.computed, difference=diff,
                                 tolerance=r.tolerance, status=status, source=r.source,
                                 note=note))
        cols = ["key", "table", "line", "label", "published", "printed", "unit", "computed",
                "difference", "tolerance", "status", "source", "note", "file"]
        return pd.DataFrame.from_records(recs, columns=cols)

    def counts(self) -> pd.DataFrame:
        """Rows per table and status (every status is a column, zeros kept)."""
        df = self.to_frame()
        tab = pd.crosstab(df["table"], df["status"]).reindex(columns=list(STATUSES), fill_value=0)
        tab.loc["All"] = tab.sum()
        return tab

    def summary(self) -> str:
        """A plain-text summary: counts per status, then per table."""
        df = self.to_frame()
        lines = [f"Replication scorecard: {len(df)} rows, {df['key'].nunique()} published values"]
        for s in STATUSES:
            lines.append(f"  {s:<52} {int((df['status'] == s).sum()):>5}")
        lines.append("")
        lines.append(self.counts().to_string())
        return "\n".join(lines)

    @property
    def uses_respondent_data(self) -> bool:
        return any(r.respondent for r in self._rows)

    def to_html(self) -> str:
        """The scorecard as an HTML ``<table>`` (with a status-count table above)."""
        df = self.to_frame()
        counts = self.counts()
        head = ["<table class='counts'><thead><tr><th>table</th>"
                + "".join(f"<th>{html.escape(s)}</th>" for s in STATUSES)
                + "</tr></thead><tbody>"]
        for t, row in counts.iterrows():
            head.append("<tr><td>" + html.escape(str(t)) + "</td>"
                        + "".join(f"<td>{int(row[s])}</td>" for s in STATUSES) + "</tr>")
        head.append("</tbody></table>")
        body = ["<table class='scorecard'><thead><tr>"
                + "".join(f"<th>{c}</th>" for c in ("key", "where", "label", "published",
                                                    "recomputed", "status", "note"))
                + "</tr></thead><tbody>"]
        for _, r in df.iterrows():
            cls = {EXACT: "exact", WITHIN_TOLERANCE: "tol", DIFFERS: "differs",
                   NOT_RECOMPUTABLE: "na", RESPONDENT_LEVEL: "resp"}[r["status"]]
            body.append(
                f"<tr class='{cls}'><td><code>{html.escape(r['key'])}</code></td>"
                f"<td>{html.escape(str(r['table']))}, line {int(r['line'])}</td>"
                f"<td>{html.escape(str(r['label']))}</td>"
                f"<td>{html.escape(str(r['printed']))}</td>"
                f"<td>{html.escape(_fmt_computed(r['computed']))}</td>"
                f"<td>{html.escape(r['status'])}</td>"
                f"<td>{html.escape(str(r['note'] or ''))}</td></tr>")
        body.append("</tbody></table>")
        return "\n".join(head + body)


def _fmt_computed(x: Any) -> str:
    if _is_missing(x):
        return ""
    if isinstance(x, bool):
        return str(x)
    f = _as_float(x) if not isinstance(x, str) else None
    if f is not None:
        return f"{f:.6g}" if abs(f) >= 1e-3 or f == 0 else f"{f:.3e}"
    return str(x)


_CSS = """
body{font-family:sans-serif;margin:2em;max-width:1400px}
table{border-collapse:collapse;font-size:13px;margin:1em 0}
td,th{border:1px solid #ccc;padding:3px 6px;vertical-align:top}
th{background:#eee}
tr.exact td{background:#e6f4e6} tr.tol td{background:#f0f7dc}
tr.differs td{background:#fbe3e3} tr.na td{background:#f4f4f4} tr.resp td{background:#fff5d6}
.banner{background:#b00020;color:#fff;padding:1em;font-weight:bold;margin-bottom:1em}
"""

SYNTHETIC_BANNER = ("SYNTHETIC DATA: the respondent-level results linked here were computed "
                    "from calibrated synthetic questionnaires, not from the thesis's survey "
                    "data (which was never published). They demonstrate the pipeline; they "
                    "are not evidence about the thesis's claims.")


def render_index(scorecard: Scorecard, report_links: Mapping[str, str] | Sequence[tuple[str, str]],
                 *, synthetic: bool | None = None, audit: Any = None,
                 title: str = "Amirova (2021) replication: reports and scorecard") -> str:
    """HTML of ``reports/index.html``: links to every report and the scorecard.

    Parameters
    ----------
    scorecard : Scorecard
    report_links : mapping or sequence of (label, href)
        One link per report, hrefs relative to ``reports/``.
    synthetic : bool, optional
        Show the synthetic-data banner.  By default it is shown when the
        scorecard says its respondent inputs were synthetic
        (``scorecard.synthetic``).
    audit : AuditResult or list of Inconsistency, optional
        Findings of :mod:`pipeline.replication.audit`, listed in their own section.

    Returns
    -------
    str
        A complete HTML document.
    """
    if not isinstance(scorecard, Scorecard):
        raise TypeError(f"scorecard must be a Scorecard, not {type(scorecard).__name__}")
    items = list(report_links.items()) if isinstance(report_links, Mapping) else list(report_links)
    show_banner = scorecard.synthetic if synthetic is None else bool(synthetic)
    parts = ["<!DOCTYPE html>", "<html lang='en'><head><meta charset='utf-8'>",
             f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>"]
    if show_banner:
        parts.append(f"<div class='banner' id='synthetic-banner'>{html.escape(SYNTHETIC_BANNER)}</div>")
    parts.append(f"<h1>{html.escape(title)}</h1>")
    parts.append("<h2>Reports</h2><ul class='reports'>")
    for label, href in items:
        parts.append(f"<li><a href='{html.escape(str(href), quote=True)}'>{html.escape(str(label))}</a></li>")
    if not items:
        parts.append("<li>(no reports built yet)</li>")
    parts.append("</ul>")
    parts.append("<h2>Replication scorecard</h2>")
    parts.append("<p>Every published number transcribed in <code>studies/amirova2021/published/</code>, with "
                 "its table and line, next to what the pipeline recomputes. Statuses: "
                 + "; ".join(f"<em>{html.escape(s)}</em>" for s in STATUSES) + ".</p>")
    parts.append(scorecard.to_html())
    if audit is not None:
        findings = list(getattr(audit, "findings", audit))
        parts.append("<h2 id='audit'>Consistency audit of the published statistics</h2>")
        parts.append(f"<p>{len(findings)} findings: what the printed numbers imply, recomputed "
                     "from the printed numbers alone (<code>pipeline.replication.audit</code>).</p>")
        parts.append("<table class='audit'><thead><tr><th>check</th><th>severity</th><th>where</th>"
                     "<th>arithmetic</th></tr></thead><tbody>")
        for f in findings:
            parts.append(f"<tr><td>{html.escape(f.check)}</td><td>{html.escape(f.severity)}</td>"
                         f"<td>{html.escape(f.where)}</td><td>{html.escape(f.arithmetic)}</td></tr>")
        parts.append("</tbody></table>")
    parts.append("</body></html>")
    return "\n".join(parts)


# -------------------------------------------------------------------- CLI
def _discover_reports(reports: Path) -> list[tuple[str, str]]:
    links = []
    if reports.exists():
        for p in sorted(reports.rglob("*.html")):
            if p.name == "index.html" and p.parent == reports:
                continue
            rel = p.relative_to(reports).as_posix()
            title = ""
            try:
                head = p.read_text(encoding="utf-8", errors="replace")[:20000]
                m = re.search(r"<title>(.*?)</title>", head, flags=re.S | re.I)
                title = html.unescape(m.group(1)).strip() if m else ""
            except OSError:
                pass
            links.append((f"{title} ({rel})" if title else rel, rel))
    return links


def collect(scorecard: Scorecard, *, processed: Path | None = None,
            cea_params: Mapping[str, Any] | None = None,
            published_dir: str | Path | None = None) -> list[str]:
    """Fill *scorecard* with everything computable now.

    The cost-effectiveness tables (Tables 19-21, and the 2020 "actual" column
    of Tables 23-24 checked against Tables 15 and 18), the audit of the
    published fit statistics, and every ``data/processed/*/computed.json``.
    Values from a wave marked ``synthetic: true`` in ``params.yaml`` are
    recorded as depending on respondent-level data.

    Returns
    -------
    list of str
        Messages about what was read or skipped.
    """
    from pipeline.replication import audit
    from studies.amirova2021 import cea
    from pipeline.cli.config import load_params
    msgs: list[str] = []
    params = load_params()
    res = cea.run(cea_params if cea_params is not None else params.get("cea") or {},
                  load_published(published_dir))
    for key, val in res.computed_values().items():
        if key in scorecard.published:
            scorecard.add(key, val, source="studies.amirova2021.cea", note=res.notes.get(key, ""),
                          tolerance=res.tolerances.get(key))
    for key, val, note, tol in audit.scorecard_rows(scorecard.published):
        scorecard.add(key, val, tolerance=tol, source="pipeline.replication.audit", note=note)
    waves = params.get("waves") or {}
    processed = processed or paths.DATA_PROCESSED
    files = sorted(set(processed.glob("*/computed.json")) | set(processed.glob("*/results/computed.json")))
    for f in files:
        wave = f.relative_to(processed).parts[0]
        try:
            data = json.loads(f.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{f}: not valid JSON ({exc})") from None
        if not isinstance(data, dict):
            raise ValueError(f"{f}: expected a JSON object {{key: value}}")
        synthetic = bool((waves.get(wave) or {}).get("synthetic", wave in waves))
        skipped = scorecard.add_many(data, depends_on_respondent_data=wave in waves,
                                     source=f"data/processed/{wave}/computed.json",
                                     note="from synthetic respondent data" if synthetic else "")
        if synthetic and wave in waves:
            scorecard.synthetic = True
        msgs.append(f"{f}: {len(data) - len(skipped)} values joined, {len(skipped)} keys not published")
    return msgs


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m pipeline scorecard [--out DIR]``."""
    ap = argparse.ArgumentParser(prog="python -m pipeline scorecard",
                                 description="Replication scorecard of the published numbers.")
    ap.add_argument("--out", default=None, help="output directory (default: reports/)")
    ap.add_argument("--published", default=None, help="directory of published YAML files")
    args = ap.parse_args(list(argv or []))
    from pipeline.core.io import write_csv, write_text
    from pipeline.cli.config import load_params
    params = load_params()
    sc_params = params.get("scorecard") or {}
    published = load_published(args.published, include_inputs=False)
    waves = params.get("waves") or {}
    patterns = sc_params.get("respondent_level_keys") or (
        [f"{w}.*" for w in waves] + ["!*.threshold.*"])
    sc = Scorecard(published, respondent_level=patterns,
                   synthetic=any(bool((w or {}).get("synthetic")) for w in waves.values()))
    for m in collect(sc, published_dir=args.published):
        print(m)
    out = paths.resolve(args.out) if args.out else paths.REPORTS
    write_csv(out / "scorecard.csv", sc.to_frame(), index=False)
    links = _discover_reports(out)
    from pipeline.replication import audit as audit_mod
    ap_ = params.get("audit") or {}
    found = audit_mod.audit_thesis(published=load_published(args.published),
                                   n=int(ap_.get("n", 100)),
                                   indicators_per_factor=ap_.get("indicators_per_factor"))
    write_text(out / "index.html", render_index(sc, links, audit=found))
    print(sc.summary())
    print(f"wrote {out / 'scorecard.csv'} and {out / 'index.html'}")
    return 0
