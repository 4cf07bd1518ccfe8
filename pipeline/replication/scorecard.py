"""Replication scorecard: every published number next to what the pipeline recomputes.

Published numbers live in a study's ``published/*.yaml`` (read by
:mod:`pipeline.replication.published`; format in ``docs/ARCHITECTURE.md``),
one entry per printed cell with its table and line.  A :class:`Scorecard` joins them on ``key`` with computed values and
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
  comes from the respondent files it was given (synthetic ones, for a study
  whose data are not public), so agreement or disagreement says nothing
  about the published study.

Keys are the study's (a wave's analyses write them into ``computed.json``);
a study documents its own conventions, e.g. ``<wave>.fit.<lavaan name>``,
``<wave>.alpha.<construct>``, ``<wave>.loading.<factor>.<item>.est``.

:func:`collect` joins what a study recomputes from published aggregates
(rows it is given) and every ``<processed>/<wave>/results/computed.json``
({key: value}) of the waves it is given.  ``python -m pipeline scorecard``
(:mod:`pipeline.cli.scorecard`) reads the study's settings, passes the
registered waves and the study's extra rows, and writes
``reports/scorecard.csv`` and ``reports/index.html``.
"""
from __future__ import annotations

import fnmatch
import html
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import pandas as pd

from pipeline.replication.published import (DIFFERS, EXACT, NOT_RECOMPUTABLE, RESPONDENT_LEVEL,
                                             STATUSES, WITHIN_TOLERANCE, PublishedValue,
                                             _as_float, _is_missing, compare_value,
                                             load_published, parse_number, printed_decimals)

__all__ = [
    "Scorecard", "render_index", "discover_reports", "collect", "ExtraRow",
    # the published-value model, re-exported from pipeline.replication.published
    "STATUSES", "EXACT", "WITHIN_TOLERANCE", "DIFFERS", "NOT_RECOMPUTABLE",
    "RESPONDENT_LEVEL", "PublishedValue", "parse_number", "printed_decimals",
    "load_published", "compare_value",
]

#: A value a study recomputes for a published key: (key, value, note, tolerance, source).
ExtraRow = tuple[str, Any, str, "float | None", str]

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
    published : mapping
        ``key -> PublishedValue``, e.g. :func:`load_published` without input
        tables (``include_inputs=False``: ``role: input`` tables are data,
        not results).
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
    >>> sc = Scorecard(load_published("studies/amirova2021/published", include_inputs=False))
    >>> sc.add("cea.t19.acsa.pilot.cer.2018", 10.5 / 91.2)   # doctest: +SKIP
    >>> sc.to_frame()                                        # doctest: +SKIP
    """

    def __init__(self, published: Mapping[str, PublishedValue], *,
                 respondent_level: Sequence[str] = (), synthetic: bool = False) -> None:
        if not isinstance(published, Mapping):
            raise TypeError("published must be a mapping key -> PublishedValue "
                            "(pipeline.replication.published.load_published)")
        self.published: dict[str, PublishedValue] = dict(published)
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
            raise ValueError(f"key={key!r} is not a published key (no published value to compare)")
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
                    "from calibrated synthetic questionnaires, not from the study's survey "
                    "data (which was never published). They demonstrate the pipeline; they "
                    "are not evidence about the study's claims.")


def render_index(scorecard: Scorecard, report_links: Mapping[str, str] | Sequence[tuple[str, str]],
                 *, synthetic: bool | None = None, audit: Any = None,
                 title: str = "Replication: reports and scorecard",
                 published_label: str = "published/") -> str:
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
    title : str
        The page's title (a study's settings name it).
    published_label : str
        Where the published numbers are transcribed, as the page names it.

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
    parts.append(f"<p>Every published number transcribed in <code>{html.escape(published_label)}</code>, with "
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


# ------------------------------------------------------------- collecting
def discover_reports(reports: Path) -> list[tuple[str, str]]:
    """Every ``*.html`` under *reports* (but its own ``index.html``) as (label, href):
    the page's ``<title>`` and its path relative to *reports*."""
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


def collect(scorecard: Scorecard, *, processed: str | Path,
            waves: Mapping[str, Mapping[str, Any] | None],
            extra_rows: Iterable[ExtraRow] = (), label: str | None = None) -> list[str]:
    """Fill *scorecard* with a study's recomputed values and its waves' ``computed.json``.

    Parameters
    ----------
    scorecard : Scorecard
    processed : path
        The folder of the waves' derived files (``data/processed``): each
        ``<processed>/<wave>/computed.json`` or ``.../results/computed.json``
        ({key: value}) of a wave in *waves* is joined.
    waves : mapping
        Every registered wave -> its settings (``synthetic: true`` marks
        values from synthetic respondent data).  Values of these waves are
        recorded as depending on respondent-level data; a ``computed.json``
        of a folder that is not a registered wave is skipped (and said so).
    extra_rows : iterable of (key, value, note, tolerance, source)
        Values the study recomputes from published aggregates alone (a
        cost-effectiveness table, the audit's recomputations); rows whose key
        is not published are skipped.
    label : str, optional
        How *processed* is named in the rows' ``source`` (default: its folder name).

    Returns
    -------
    list of str
        Messages about what was read or skipped.
    """
    msgs: list[str] = []
    waves = dict(waves)
    n_extra = 0
    for key, val, note, tol, source in extra_rows:
        if key in scorecard.published:
            scorecard.add(key, val, tolerance=tol, source=source, note=note)
            n_extra += 1
    if n_extra:
        msgs.append(f"{n_extra} values recomputed from published numbers")
    processed = Path(processed)
    files = sorted(set(processed.glob("*/computed.json")) | set(processed.glob("*/results/computed.json")))
    seen = set()
    for f in files:
        wave = f.relative_to(processed).parts[0]
        if wave not in waves:
            msgs.append(f"{f.relative_to(processed).as_posix()}: skipped, {wave!r} is not a "
                        f"registered wave ({', '.join(sorted(waves))})")
            continue
        seen.add(wave)
        try:
            data = json.loads(f.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{f}: not valid JSON ({exc})") from None
        if not isinstance(data, dict):
            raise ValueError(f"{f}: expected a JSON object {{key: value}}")
        synthetic = bool((waves.get(wave) or {}).get("synthetic", True))
        skipped = scorecard.add_many(data, depends_on_respondent_data=True,
                                     source=f"{label or processed.name}/{wave}/computed.json",
                                     note="from synthetic respondent data" if synthetic else "")
        if synthetic:
            scorecard.synthetic = True
        msgs.append(f"{f.relative_to(processed).as_posix()}: {len(data) - len(skipped)} values "
                    f"joined, {len(skipped)} keys not published")
    for wave in waves:
        if wave not in seen:
            msgs.append(f"wave {wave}: no computed.json yet (its published numbers stay unjoined)")
    return msgs
