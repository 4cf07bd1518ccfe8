"""Replication scorecard: every published number next to what the pipeline recomputes.

Published numbers live in a study's ``published/*.yaml`` (read by
:mod:`pipeline.replication.published`; format in ``docs/ARCHITECTURE.md``),
one entry per printed cell with its table and line.  A :class:`Scorecard`
joins them on ``key`` with what is recomputed and gives each published
number exactly **one** status, decided by :func:`status_of` (the only place a
status is decided: the index and every wave's replication table call it):

1. ``"not estimable"`` -- an audit finding says the statistic is undefined
   for what it is printed for (alpha of a one-item scale);
2. ``"inconsistent in the source"`` -- an audit finding (error or warning)
   says the number contradicts other published numbers (a text percentage
   against the counts of its table, an RMSEA against its chi-square);
3. recomputed from **real** respondent data: ``"reproduced exactly"`` (rounds
   to the printed value), ``"within tolerance"`` or ``"differs"``;
4. recomputed from published numbers alone (a cost-effectiveness table,
   an identity between tables): the same three statuses;
5. recomputed from **synthetic** respondent data: ``"agrees (calibrated
   synthetic)"`` or ``"differs (synthetic)"`` -- the generator's
   calibration, never evidence about the study;
6. ``"not computed"`` -- needs respondent-level data and no wave computed it;
7. ``"cannot be recomputed from published data"`` -- the rest.

Whether respondent data are synthetic is the wave's own ``synthetic`` flag,
row by row: real data are never labelled synthetic.

Keys are the study's (a wave's analyses write them into ``computed.json``);
a study documents its own conventions, e.g. ``<wave>.fit.<lavaan name>``,
``<wave>.alpha.<construct>``, ``<wave>.loading.<factor>.<item>.est``.

:func:`collect` joins what a study recomputes from published aggregates
(rows it is given) and every ``<processed>/<wave>/results/computed.json``
({key: value}) of the waves it is given.  ``python -m pipeline scorecard``
(:mod:`pipeline.cli.scorecard`) reads the study's settings, passes the
registered waves, the study's extra rows and audit findings, and writes
``reports/scorecard.csv`` and ``reports/index.html`` (:func:`render_index`).

In R: no equivalent; ``round(x, d) == printed`` by hand, row by row.
"""
from __future__ import annotations

import fnmatch
import html
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import pandas as pd

from pipeline.replication.published import (AGREES_SYNTHETIC, DIFFERS, DIFFERS_SYNTHETIC, EXACT,
                                             INCONSISTENT, NOT_COMPUTED, NOT_ESTIMABLE,
                                             NOT_RECOMPUTABLE, RESPONDENT_LEVEL, STATUSES,
                                             SUPPRESSED,
                                             WITHIN_TOLERANCE, PublishedValue, _as_float,
                                             _is_missing, compare_value, load_published,
                                             parse_number, printed_decimals)

__all__ = [
    "Scorecard", "Evidence", "KeyStatus", "status_of", "render_index", "discover_reports",
    "collect", "join_wave", "ExtraRow", "table_order", "STATUS_CLASSES",
    # the published-value model, re-exported from pipeline.replication.published
    "STATUSES", "EXACT", "WITHIN_TOLERANCE", "DIFFERS", "AGREES_SYNTHETIC", "DIFFERS_SYNTHETIC",
    "INCONSISTENT", "NOT_ESTIMABLE", "NOT_COMPUTED", "NOT_RECOMPUTABLE", "RESPONDENT_LEVEL",
    "SUPPRESSED", "small_count_keys",
    "PublishedValue", "parse_number", "printed_decimals", "load_published", "compare_value",
]

#: A value a study recomputes for a published key: (key, value, note, tolerance, source).
ExtraRow = tuple[str, Any, str, "float | None", str]

#: CSS class of each status (rows of the index).
STATUS_CLASSES = {EXACT: "exact", WITHIN_TOLERANCE: "tol", DIFFERS: "differs",
                  INCONSISTENT: "inconsistent", NOT_ESTIMABLE: "undefined",
                  AGREES_SYNTHETIC: "synth-agrees", DIFFERS_SYNTHETIC: "synth-differs",
                  NOT_COMPUTED: "notcomputed", NOT_RECOMPUTABLE: "na", SUPPRESSED: "suppressed"}

#: Basis of a status (the ``basis`` column).
BASIS_PUBLISHED = "published numbers"
BASIS_REAL = "respondent data"
BASIS_SYNTHETIC = "synthetic respondent data"
BASIS_AUDIT = "audit of the published numbers"

# worst first: the status of several comparisons of one kind is the worst of them
_SEVERITY = {DIFFERS: 0, WITHIN_TOLERANCE: 1, EXACT: 2}


@dataclass(frozen=True)
class Evidence:
    """One recomputed value of a published number.

    Attributes
    ----------
    value : object
        The recomputed value (full precision).
    tolerance : float, optional
        Allowed difference beyond rounding (``"within tolerance"``).
    respondent : bool
        Computed from respondent-level data (else from published numbers alone).
    synthetic : bool
        Those respondent data were synthetic (the wave's ``synthetic`` flag).
    source, note : str
        Where the value comes from; a remark shown next to the status.
    """

    value: Any
    tolerance: float | None = None
    respondent: bool = False
    synthetic: bool = False
    source: str = ""
    note: str = ""


@dataclass(frozen=True)
class KeyStatus:
    """The one status of a published number, and what it rests on."""

    status: str
    computed: Any = None
    difference: float | None = None
    tolerance: float | None = None
    basis: str = ""
    source: str = ""
    findings: tuple = ()
    evidence: Evidence | None = None


def _worst(published: PublishedValue, evidence: Sequence[Evidence]) -> tuple[str, Evidence, float | None]:
    best = None
    for ev in evidence:
        st, diff = compare_value(published, ev.value, ev.tolerance)
        if st not in _SEVERITY:
            continue
        if best is None or _SEVERITY[st] < _SEVERITY[best[0]]:
            best = (st, ev, diff)
    return best  # type: ignore[return-value]


def status_of(published: PublishedValue, evidence: Iterable[Evidence] = (), *,
              respondent_level: bool = False, findings: Iterable[Any] = (),
              suppressed: bool = False) -> KeyStatus:
    """The one status of a published number (see the module docstring for the order).

    Parameters
    ----------
    published : PublishedValue
    evidence : iterable of Evidence
        Every recomputed value of this number: from published numbers
        (``respondent=False``) and from respondent data (``respondent=True``,
        ``synthetic`` as the wave's flag).  Missing values (None, NaN) are
        ignored.
    respondent_level : bool
        The number needs respondent-level data: with no evidence it is
        ``"not computed"``, else ``"cannot be recomputed from published data"``.
    findings : iterable of Inconsistency
        Audit findings naming this key in their ``keys``
        (:class:`pipeline.replication.audit.Inconsistency`); errors and
        warnings make it ``"inconsistent in the source"``, a check of
        :data:`pipeline.replication.audit.UNDEFINED_CHECKS` ``"not estimable"``;
        notes change nothing.
    suppressed : bool
        The respondent-data value is a count below the small-cell threshold
        (or a share of one, :func:`small_count_keys`): respondent evidence is
        ignored, and without a recomputation from published numbers the
        status is ``"suppressed (count below k)"`` -- never an agreement with a
        published count that would reveal it.

    Returns
    -------
    KeyStatus

    Examples
    --------
    >>> pv = PublishedValue("x", "", 0.036, ".036", "index", 1, "", "T", 1, "", "f.yaml")
    >>> status_of(pv, [Evidence(0.0301, respondent=True, synthetic=True)]).status
    'differs (synthetic)'
    >>> status_of(pv, [Evidence(0.0364, respondent=True, synthetic=False)]).status
    'reproduced exactly'

    In R: no equivalent.
    """
    if not isinstance(published, PublishedValue):
        raise TypeError(f"published must be a PublishedValue, not {type(published).__name__}")
    from pipeline.replication.audit import UNDEFINED_CHECKS
    evs = list(evidence)
    for e in evs:
        if not isinstance(e, Evidence):
            raise TypeError(f"evidence must hold Evidence, not {type(e).__name__}")
    evs = [e for e in evs if not _is_missing(e.value)]
    if suppressed:
        evs = [e for e in evs if not e.respondent]
    hard = tuple(f for f in findings if getattr(f, "severity", "error") in ("error", "warning"))
    pub_ev = [e for e in evs if not e.respondent]
    first_pub = pub_ev[0] if pub_ev else None
    if any(f.check in UNDEFINED_CHECKS for f in hard):
        return KeyStatus(NOT_ESTIMABLE, None, None, None, BASIS_AUDIT, "", hard)
    if hard:
        return KeyStatus(INCONSISTENT, first_pub.value if first_pub else None, None, None,
                         BASIS_AUDIT, first_pub.source if first_pub else "", hard, first_pub)
    for group, basis, synthetic in (([e for e in evs if e.respondent and not e.synthetic], BASIS_REAL, False),
                                    (pub_ev, BASIS_PUBLISHED, False),
                                    ([e for e in evs if e.respondent and e.synthetic], BASIS_SYNTHETIC, True)):
        w = _worst(published, group) if group else None
        if w is None:
            continue
        st, ev, diff = w
        if synthetic:
            st = DIFFERS_SYNTHETIC if st == DIFFERS else AGREES_SYNTHETIC
        return KeyStatus(st, ev.value, diff, ev.tolerance, basis, ev.source, (), ev)
    if suppressed:
        return KeyStatus(SUPPRESSED)
    if respondent_level:
        return KeyStatus(NOT_COMPUTED)
    return KeyStatus(NOT_RECOMPUTABLE)


@dataclass
class _Row:
    key: str
    evidence: Evidence
    recomputable: bool


class Scorecard:
    """Published numbers joined with recomputed ones: one row, one status per number.

    Parameters
    ----------
    published : mapping
        ``key -> PublishedValue``, e.g. :func:`load_published` without input
        tables (``include_inputs=False``: ``role: input`` tables are data,
        not results).
    respondent_level : sequence of str
        Glob patterns of keys that need respondent-level data: such keys,
        with nothing recomputed, are ``"not computed"`` instead of
        ``"cannot be recomputed from published data"``.  A pattern starting
        with ``!`` excludes (``"!*.threshold.*"``: printed cut-offs are not
        estimates).
    synthetic : bool, optional
        Default of :meth:`add`'s ``synthetic`` for respondent-level values,
        and whether :func:`render_index` shows the synthetic-data banner.
        None (the default): unknown, and respondent values added without
        their own flag count as synthetic (a value of unknown provenance is
        never claimed as a replication); :func:`join_wave` always passes the
        wave's own flag.

    Examples
    --------
    >>> sc = Scorecard(load_published("studies/amirova2021/published", include_inputs=False))
    >>> sc.add("cea.t19.acsa.pilot.cer.2018", 10.5 / 91.2)   # doctest: +SKIP
    >>> sc.to_frame()                                        # doctest: +SKIP
    """

    def __init__(self, published: Mapping[str, PublishedValue], *,
                 respondent_level: Sequence[str] = (), synthetic: bool | None = None) -> None:
        if not isinstance(published, Mapping):
            raise TypeError("published must be a mapping key -> PublishedValue "
                            "(pipeline.replication.published.load_published)")
        self.published: dict[str, PublishedValue] = dict(published)
        self._rows: list[_Row] = []
        self._respondent_patterns: list[str] = list(respondent_level)
        self._findings: list[Any] = []
        self.synthetic = synthetic
        #: keys whose respondent-data value is a count below k (or its share): withheld
        self.suppressed: set[str] = set()

    # -- building ---------------------------------------------------------
    def add(self, key: str, computed: Any, *, tolerance: float | None = None,
            depends_on_respondent_data: bool = False, recomputable: bool = True,
            synthetic: bool | None = None, note: str = "", source: str = "") -> "Scorecard":
        """Record a recomputed value for a published *key*.

        A key may be added more than once (recomputed from published
        aggregates by the audit *and* estimated from respondent data); all
        additions are evidence for its one status (:func:`status_of`).

        Parameters
        ----------
        depends_on_respondent_data : bool
            Computed from respondent-level data.
        synthetic : bool, optional
            Those data were synthetic (default: the scorecard's ``synthetic``;
            True when that is unknown).
        recomputable : bool
            False records a value that is not a recomputation (ignored for the status).

        Raises
        ------
        ValueError
            *key* is not a published key, or *tolerance* is negative.
        """
        if key not in self.published:
            raise ValueError(f"key={key!r} is not a published key (no published value to compare)")
        if tolerance is not None and not (tolerance >= 0):
            raise ValueError(f"tolerance={tolerance!r} must be >= 0")
        resp = bool(depends_on_respondent_data)
        if synthetic is None:
            synthetic = True if self.synthetic is None else bool(self.synthetic)
        syn = bool(synthetic) if resp else False
        self._rows.append(_Row(key, Evidence(computed, tolerance, resp, syn, source, note),
                               bool(recomputable)))
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

    def add_findings(self, findings: Iterable[Any]) -> "Scorecard":
        """Audit findings (:class:`pipeline.replication.audit.Inconsistency`); those naming
        published keys in ``keys`` decide those keys' status (:func:`status_of`)."""
        for f in findings:
            for attr in ("check", "severity", "arithmetic"):
                if not hasattr(f, attr):
                    raise TypeError(f"findings must be audit Inconsistency objects (no {attr!r})")
            self._findings.append(f)
        return self

    @property
    def findings(self) -> list[Any]:
        return list(self._findings)

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
    def status(self, key: str) -> KeyStatus:
        """The one status of a published *key* (:func:`status_of` on everything recorded)."""
        if key not in self.published:
            raise ValueError(f"key={key!r} is not a published key")
        evs = [r.evidence for r in self._rows if r.key == key and r.recomputable]
        fs = [f for f in self._findings if key in tuple(getattr(f, "keys", ()) or ())]
        return status_of(self.published[key], evs,
                         respondent_level=self._is_respondent_key(key), findings=fs,
                         suppressed=key in self.suppressed)

    def to_frame(self) -> pd.DataFrame:
        """One row per published number, in the order of the published files.

        Columns: ``key table line label published printed unit status basis
        computed difference tolerance from_published from_respondents
        synthetic source note file``.  ``computed`` is the value the status
        rests on; ``from_published`` / ``from_respondents`` what was
        recomputed from published numbers and from respondent data (the
        first of each; NaN when none); ``synthetic`` whether those respondent
        data were synthetic.  Full precision.
        """
        by_key: dict[str, list[_Row]] = {}
        for r in self._rows:
            by_key.setdefault(r.key, []).append(r)
        fmap: dict[str, list[Any]] = {}
        for f in self._findings:
            for k in tuple(getattr(f, "keys", ()) or ()):
                fmap.setdefault(k, []).append(f)
        recs = []
        for key, pv in self.published.items():
            rows = by_key.get(key, [])
            evs = [r.evidence for r in rows if r.recomputable]
            if key in self.suppressed:
                evs = [e for e in evs if not e.respondent]
            st = status_of(pv, evs, respondent_level=self._is_respondent_key(key),
                           findings=fmap.get(key, ()), suppressed=key in self.suppressed)
            pub = next((e for e in evs if not e.respondent and not _is_missing(e.value)), None)
            resp = next((e for e in evs if e.respondent and not _is_missing(e.value)), None)
            # the note of what the status rests on; other recomputations named by kind and value
            notes = [st.evidence.note] if st.evidence is not None and st.evidence.note else []
            for e in evs:
                if e is st.evidence or _is_missing(e.value):
                    continue
                kind = (BASIS_SYNTHETIC if e.synthetic else BASIS_REAL) if e.respondent else BASIS_PUBLISHED
                notes.append(f"also from {kind}: "
                             + _display(e.value, pv.decimals, pv.unit, _fmt_number))
            notes += [f"audit: {f.check} ({f.severity})" for f in fmap.get(key, ())]
            if pv.note:
                notes.append(pv.note)
            recs.append(dict(
                key=key, table=pv.table, line=pv.line, label=pv.label, published=pv.value,
                printed=pv.printed, unit=pv.unit, status=st.status, basis=st.basis,
                computed=st.computed, difference=st.difference, tolerance=st.tolerance,
                from_published=pub.value if pub else None,
                from_respondents=resp.value if resp else None,
                synthetic=(resp.synthetic if resp else None),
                source=st.source or "; ".join(dict.fromkeys(r.evidence.source for r in rows
                                                             if r.evidence.source)),
                note="; ".join(dict.fromkeys(notes)), file=pv.file))
        cols = ["key", "table", "line", "label", "published", "printed", "unit", "status", "basis",
                "computed", "difference", "tolerance", "from_published", "from_respondents",
                "synthetic", "source", "note", "file"]
        return pd.DataFrame.from_records(recs, columns=cols)

    def counts(self) -> pd.DataFrame:
        """Numbers per table (in :func:`table_order`) and status (every status a column, zeros kept)."""
        df = self.to_frame()
        tab = pd.crosstab(df["table"], df["status"]).reindex(columns=list(STATUSES), fill_value=0)
        tab = tab.loc[sorted(tab.index, key=table_order)]
        tab.loc["All"] = tab.sum()
        return tab

    def summary(self) -> str:
        """A plain-text summary: counts per status, then per table."""
        df = self.to_frame()
        lines = [f"Replication scorecard: {len(df)} published values"]
        for s in STATUSES:
            lines.append(f"  {s:<45} {int((df['status'] == s).sum()):>5}")
        lines.append("")
        lines.append(self.counts().to_string())
        return "\n".join(lines)

    @property
    def uses_respondent_data(self) -> bool:
        return any(r.evidence.respondent for r in self._rows)

    def to_html(self, *, fmt: Callable[[Any, int], str] | None = None,
                escape: Callable[[Any], str] | None = None) -> str:
        """The scorecard as HTML: one ``<section>`` per published table in thesis order."""
        return _scorecard_html(self.to_frame(), fmt or _fmt_number, escape or _escape)


# ---------------------------------------------------------------- formatting
def table_order(name: Any) -> tuple:
    """Sort key of table names in a document's order: "Table 6" before "Table 24"
    (natural order), annex tables ("Table K.1") after the numbered ones, then
    anything else ("text"), then "All"."""
    s = str(name)
    m = re.match(r"^\s*table\s+(\d+)(?:\.(\d+))?\s*$", s, flags=re.I)
    if m:
        return (0, int(m.group(1)), int(m.group(2) or 0), "", s)
    m = re.match(r"^\s*table\s+([A-Za-z]+)\.?(\d+)?\s*$", s, flags=re.I)
    if m:
        return (1, 0, int(m.group(2) or 0), m.group(1).upper(), s)
    if s == "All":
        return (3, 0, 0, "", s)
    return (2, 0, 0, s.lower(), s)


def _escape(x: Any) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return ""
    return html.escape(str(x), quote=True)


def _fmt_number(x: float, digits: int) -> str:
    s = f"{x:.{digits}f}"
    return s.lstrip("-") if float(s) == 0 else s


def _display(x: Any, pv_decimals: int | None, unit: str, fmt: Callable[[Any, int], str]) -> str:
    """A recomputed value rounded for reading: counts as integers, numbers to one decimal more
    than the published value prints (at least 2, at most 4), booleans as words."""
    if _is_missing(x):
        return ""
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, str):
        return x
    f = _as_float(x)
    if f is None:
        return str(x)
    if math.isinf(f):
        return "\u221e" if f > 0 else "-\u221e"
    if unit == "count" or (f.is_integer() and (pv_decimals or 0) == 0):
        return fmt(f, 0) if f.is_integer() else fmt(f, 1)
    d = 2 if pv_decimals is None else min(max(pv_decimals + 1, 2), 4)
    return fmt(f, d)


def _anchor(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", str(text)).strip("-").lower() or "x"


def _scorecard_html(df: pd.DataFrame, fmt: Callable[[Any, int], str], esc: Callable[[Any], str],
                    finding_ids: Mapping[str, list[int]] | None = None) -> str:
    out = []
    finding_ids = finding_ids or {}
    tables = sorted(df["table"].unique(), key=table_order)
    for t in tables:
        sub = df[df["table"] == t]
        out.append(f"<section class='sc-table' id='table-{esc(_anchor(t))}'>"
                   f"<h3>{esc(t)} <small>({len(sub)} numbers)</small></h3>")
        out.append("<table class='scorecard'><thead><tr>"
                   + "".join(f"<th>{c}</th>" for c in ("key", "line", "label", "published",
                                                       "recomputed", "status", "basis", "note"))
                   + "</tr></thead><tbody>")
        for _, r in sub.iterrows():
            dec = printed_decimals(r["printed"])
            rec = _display(r["computed"], dec, str(r["unit"]), fmt)
            if r["status"] in (AGREES_SYNTHETIC, DIFFERS_SYNTHETIC, NOT_ESTIMABLE, INCONSISTENT) \
                    and rec == "" and not _is_missing(r["from_respondents"]):
                rec = _display(r["from_respondents"], dec, str(r["unit"]), fmt)
            links = "".join(f" <a href='#finding-{i}'>finding {i}</a>"
                            for i in finding_ids.get(r["key"], []))
            out.append(
                f"<tr id='k-{esc(r['key'])}' class='{STATUS_CLASSES[r['status']]}' "
                f"data-status='{esc(r['status'])}'><td><code>{esc(r['key'])}</code></td>"
                f"<td>{int(r['line'])}</td><td>{esc(r['label'])}</td><td>{esc(r['printed'])}</td>"
                f"<td>{esc(rec)}</td><td>{esc(r['status'])}</td><td>{esc(r['basis'])}</td>"
                f"<td>{esc(r['note'])}{links}</td></tr>")
        out.append("</tbody></table></section>")
    return "\n".join(out)


_CSS = """
body{font-family:sans-serif;margin:2em;max-width:1400px}
table{border-collapse:collapse;font-size:13px;margin:1em 0;max-width:100%}
td,th{border:1px solid #ccc;padding:3px 6px;vertical-align:top;overflow-wrap:break-word}
td code{overflow-wrap:anywhere}
th{background:#eee}
tr.exact td{background:#e6f4e6} tr.tol td{background:#f0f7dc}
tr.differs td{background:#fbe3e3} tr.na td{background:#f4f4f4}
tr.inconsistent td{background:#f6d0f0} tr.undefined td{background:#e4e4f8}
tr.synth-agrees td{background:#fff5d6} tr.synth-differs td{background:#ffe8c2}
tr.notcomputed td{background:#fafafa}
.banner{background:#b00020;color:#fff;padding:1em;font-weight:bold;margin-bottom:1em}
.filter{position:sticky;top:0;background:#fff;padding:.5em 0;border-bottom:1px solid #ccc}
"""

SYNTHETIC_BANNER = ("SYNTHETIC DATA: the respondent-level results linked here were computed "
                    "from calibrated synthetic questionnaires, not from the study's survey "
                    "data (which was never published). They demonstrate the pipeline; they "
                    "are not evidence about the study's claims.")

_FILTER_JS = """
(function () {
  var sel = document.getElementById('status-filter');
  var out = document.getElementById('filter-count');
  if (!sel) { return; }
  function apply() {
    var v = sel.value, shown = 0;
    var secs = document.querySelectorAll('section.sc-table');
    for (var i = 0; i < secs.length; i++) {
      var rows = secs[i].querySelectorAll('tbody tr'), vis = 0;
      for (var j = 0; j < rows.length; j++) {
        var ok = (v === '' || rows[j].getAttribute('data-status') === v);
        rows[j].style.display = ok ? '' : 'none';
        if (ok) { vis++; }
      }
      secs[i].style.display = vis ? '' : 'none';
      shown += vis;
    }
    if (out) { out.textContent = shown + ' numbers shown'; }
  }
  sel.addEventListener('change', apply);
  var links = document.querySelectorAll('a[data-status]');
  for (var k = 0; k < links.length; k++) {
    links[k].addEventListener('click', function () {
      sel.value = this.getAttribute('data-status');
      apply();
    });
  }
  apply();
})();
"""


def render_index(scorecard: Scorecard, report_links: Mapping[str, str] | Sequence[tuple[str, str]],
                 *, synthetic: bool | None = None, audit: Any = None,
                 title: str = "Replication: reports and scorecard",
                 published_label: str = "published/", methods: Mapping[str, Any] | None = None,
                 fmt: Callable[[Any, int], str] | None = None,
                 escape: Callable[[Any], str] | None = None) -> str:
    """HTML of ``reports/index.html``: a reviewer's entry point.

    In this order: the synthetic-data banner (when respondent data were
    synthetic); summary counts per status (each a link that filters the
    tables) and per table; links to every report; the audit findings, each
    linking to the numbers it contradicts; methods and provenance; then one
    table of published numbers per source table in the document's order
    (:func:`table_order`), with a filter by status (a small inline script,
    no external resource).

    Parameters
    ----------
    scorecard : Scorecard
    report_links : mapping or sequence of (label, href)
        One link per report, hrefs relative to ``reports/``.
    synthetic : bool, optional
        Show the synthetic-data banner (default ``scorecard.synthetic``).
    audit : AuditResult or list of Inconsistency, optional
        Findings of :mod:`pipeline.replication.audit` (default: those added
        to the scorecard).
    title : str
    published_label : str
        Where the published numbers are transcribed, as the page names it.
    methods : mapping, optional
        ``{"waves": [ {column: text}, ... ], "rules": [(label, text)], "packages":
        {name: version}, "notes": [text]}``: one row per wave (chi-square
        convention and why, decision rule used, input file and its SHA-256 ...),
        the decision rules side by side, package versions, remarks.
    fmt : callable (x, digits) -> str, optional
        Number formatter (the CLI passes :func:`pipeline.reporting.format.format_number`).
    escape : callable, optional
        HTML escaping of every text (the CLI passes :func:`pipeline.reporting.escape.html`).

    Returns
    -------
    str
        A complete HTML document (no timestamp, no absolute path).
    """
    if not isinstance(scorecard, Scorecard):
        raise TypeError(f"scorecard must be a Scorecard, not {type(scorecard).__name__}")
    esc = escape or _escape
    fmt = fmt or _fmt_number
    items = list(report_links.items()) if isinstance(report_links, Mapping) else list(report_links)
    show_banner = bool(scorecard.synthetic) if synthetic is None else bool(synthetic)
    findings = list(getattr(audit, "findings", audit)) if audit is not None else scorecard.findings
    df = scorecard.to_frame()
    parts = ["<!DOCTYPE html>", "<html lang='en'><head><meta charset='utf-8'>",
             f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>"]
    if show_banner:
        parts.append(f"<div class='banner' id='synthetic-banner'>{esc(SYNTHETIC_BANNER)}</div>")
    parts.append(f"<h1>{esc(title)}</h1>")
    # 1. summary counts
    parts.append("<h2 id='summary'>Summary</h2>")
    parts.append(f"<p>{len(df)} published numbers, transcribed with their table and line in "
                 f"<code>{esc(published_label)}</code>; {len(findings)} audit findings. "
                 "Each number has exactly one status; click a status to show only its numbers.</p>")
    parts.append("<table class='summary'><thead><tr><th>status</th><th>numbers</th><th>meaning</th>"
                 "</tr></thead><tbody>")
    for s in STATUSES:
        n = int((df["status"] == s).sum())
        parts.append(f"<tr class='{STATUS_CLASSES[s]}'><td><a href='#scorecard' data-status='{esc(s)}'>"
                     f"{esc(s)}</a></td><td>{n}</td><td>{esc(_MEANING[s])}</td></tr>")
    parts.append("</tbody></table>")
    counts = scorecard.counts()
    parts.append("<table class='counts'><thead><tr><th>table</th>"
                 + "".join(f"<th>{esc(s)}</th>" for s in STATUSES) + "</tr></thead><tbody>")
    for t, row in counts.iterrows():
        cell = (f"<a href='#table-{esc(_anchor(t))}'>{esc(t)}</a>" if t != "All" else esc(t))
        parts.append(f"<tr><td>{cell}</td>" + "".join(f"<td>{int(row[s])}</td>" for s in STATUSES)
                     + "</tr>")
    parts.append("</tbody></table>")
    # reports
    parts.append("<h2 id='reports'>Reports</h2><ul class='reports'>")
    for label, href in items:
        parts.append(f"<li><a href='{esc(href)}'>{esc(label)}</a></li>")
    if not items:
        parts.append("<li>(no reports built yet)</li>")
    parts.append("</ul>")
    # 2. audit findings
    fid: dict[str, list[int]] = {}
    parts.append("<h2 id='audit'>Consistency audit of the published statistics</h2>")
    parts.append(f"<p>{len(findings)} findings: what the printed numbers imply, recomputed from "
                 "the printed numbers alone (<code>pipeline.replication.audit</code>). A number "
                 "named by an error or warning is <em>inconsistent in the source</em>.</p>")
    parts.append("<table class='audit'><thead><tr><th>#</th><th>check</th><th>severity</th>"
                 "<th>where</th><th>numbers</th><th>arithmetic</th></tr></thead><tbody>")
    table_names = {t.lower(): t for t in df["table"].unique()}
    for i, f in enumerate(findings, start=1):
        keys = [k for k in (getattr(f, "keys", ()) or ()) if k in scorecard.published]
        for k in keys:
            fid.setdefault(k, []).append(i)
        where = str(f.where)
        tname = next((table_names[t] for t in sorted(table_names, key=len, reverse=True)
                      if where.lower().startswith(t)), None)
        wcell = (f"<a href='#table-{esc(_anchor(tname))}'>{esc(where)}</a>" if tname else esc(where))
        kcell = ", ".join(f"<a href='#k-{esc(k)}'><code>{esc(k)}</code></a>" for k in keys)
        parts.append(f"<tr id='finding-{i}'><td>{i}</td><td>{esc(f.check)}</td><td>{esc(f.severity)}</td>"
                     f"<td>{wcell}</td><td>{kcell}</td><td>{esc(f.arithmetic)}</td></tr>")
    parts.append("</tbody></table>")
    # methods and provenance
    if methods:
        parts.append(_methods_html(methods, esc))
    # 3. the tables in document order, with a filter
    parts.append("<h2 id='scorecard'>Published numbers, table by table</h2>")
    parts.append("<div class='filter'><label for='status-filter'>Show status: </label>"
                 "<select id='status-filter'><option value=''>all</option>"
                 + "".join(f"<option value='{esc(s)}'>{esc(s)}</option>" for s in STATUSES)
                 + "</select> <span id='filter-count'></span></div>")
    parts.append(_scorecard_html(df, fmt, esc, fid))
    parts.append(f"<script>{_FILTER_JS}</script>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


_MEANING = {
    EXACT: "recomputed value rounds to the printed one",
    WITHIN_TOLERANCE: "within the stated tolerance, not exact",
    DIFFERS: "recomputed from published numbers or real data, and different",
    INCONSISTENT: "contradicts other published numbers (see the audit finding)",
    NOT_ESTIMABLE: "the statistic is undefined for what it is printed for",
    AGREES_SYNTHETIC: "synthetic respondents reproduce it: calibration, not replication",
    DIFFERS_SYNTHETIC: "synthetic respondents do not reproduce it: says nothing about the study",
    SUPPRESSED: "a respondent count below the small-cell threshold k (or its share): withheld, as in the wave's tables",
    NOT_COMPUTED: "needs respondent-level data; no wave computed it",
    NOT_RECOMPUTABLE: "nothing published allows recomputing it",
}


def _methods_html(methods: Mapping[str, Any], esc: Callable[[Any], str]) -> str:
    out = ["<h2 id='methods'>Methods and provenance</h2>"]
    waves = list(methods.get("waves") or [])
    if waves:
        cols = list(dict.fromkeys(c for w in waves for c in w))
        out.append("<table class='methods'><thead><tr>" + "".join(f"<th>{esc(c)}</th>" for c in cols)
                   + "</tr></thead><tbody>")
        for w in waves:
            out.append("<tr>" + "".join(f"<td>{esc(w.get(c, ''))}</td>" for c in cols) + "</tr>")
        out.append("</tbody></table>")
    rules = list(methods.get("rules") or [])
    if rules:
        out.append("<table class='rules'><tbody>" + "".join(
            f"<tr><th>{esc(a)}</th><td>{esc(b)}</td></tr>" for a, b in rules) + "</tbody></table>")
    pk = dict(methods.get("packages") or {})
    if pk:
        out.append("<p>Package versions: " + ", ".join(f"{esc(k)} {esc(v)}" for k, v in pk.items())
                   + ".</p>")
    notes = list(methods.get("notes") or [])
    if notes:
        out.append("<ul class='notes'>" + "".join(f"<li>{esc(n)}</li>" for n in notes) + "</ul>")
    return "\n".join(out)


# ------------------------------------------------------------- collecting
def discover_reports(reports: Path) -> list[tuple[str, str]]:
    """Every ``*.html`` under *reports* (but its own ``index.html``) as (label, href):
    the page's ``<title>`` (its first ``<h1>`` when the title is a notebook export's
    default, "Notebook") and its path relative to *reports*."""
    links = []
    if reports.exists():
        for p in sorted(reports.rglob("*.html")):
            if p.name == "index.html" and p.parent == reports:
                continue
            rel = p.relative_to(reports).as_posix()
            title = ""
            try:
                head = p.read_text(encoding="utf-8", errors="replace")[:400000]
                m = re.search(r"<title>(.*?)</title>", head, flags=re.S | re.I)
                title = html.unescape(m.group(1)).strip() if m else ""
                if title.lower() in ("", "notebook", "untitled"):   # a notebook export's default
                    m = re.search(r"<h1[^>]*>(.*?)</h1>", head, flags=re.S | re.I)
                    title = (html.unescape(re.sub(r"<[^>]+>", "", m.group(1))).strip()
                             if m else title)
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
        values from synthetic respondent data; absent: real data).  Values of
        these waves are recorded as respondent-level (:func:`join_wave`); a
        ``computed.json`` of a folder that is not a registered wave is
        skipped (and said so).
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
        skipped = join_wave(scorecard, wave, data, waves.get(wave),
                            source=f"{label or processed.name}/{wave}/computed.json")
        msgs.append(f"{f.relative_to(processed).as_posix()}: {len(data) - len(skipped)} values "
                    f"joined, {len(skipped)} keys not published")
    for wave in waves:
        if wave not in seen:
            msgs.append(f"wave {wave}: no computed.json yet (its published numbers stay unjoined)")
    return msgs


def small_count_keys(published: Mapping[str, PublishedValue], values: Mapping[str, Any],
                     k: int) -> set[str]:
    """Keys of *values* that would print a count of respondents ``0 < n < k``.

    A key whose published unit is ``count`` with a value in (0, k), and the
    share of such a count (the key with ``.pct`` appended, or any key whose
    count sibling -- the key without its last part -- is one).  These are the
    cells the wave's own tables suppress; printing them (or an agreement
    with the published count) in the scorecard would undo the suppression.

    In R: no equivalent (``sdcTable`` protects one table at a time).
    """
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    small = set()
    for key, v in values.items():
        pv = published.get(key)
        x = _as_float(v)
        if pv is not None and str(pv.unit) == "count" and x is not None and 0 < x < k:
            small.add(key)
    for key in values:
        base = key.rsplit(".", 1)[0]
        if key not in small and base in small:
            small.add(key)
    return small


def join_wave(scorecard: Scorecard, wave: str, values: Mapping[str, Any],
              settings: Mapping[str, Any] | None, *, source: str | None = None) -> list[str]:
    """Add one wave's respondent-level values (its ``computed`` mapping) to *scorecard*.

    The wave's own ``synthetic`` flag (in *settings*; absent means real data)
    marks the values synthetic or not: real data are never labelled synthetic.
    Missing values (None, NaN) are not added.  Used by :func:`collect` for the
    index and by a wave's own replication table, so both give a key the same status.

    Returns
    -------
    list of str
        Keys of *values* that are not published.
    """
    if not isinstance(values, Mapping):
        raise TypeError(f"values of wave {wave!r} must be a mapping key -> value")
    synthetic = bool((settings or {}).get("synthetic", False))
    vals = {k: v for k, v in values.items() if not _is_missing(v)}
    # counts below the wave's small-cell threshold (and their shares) are withheld here too
    kk = int(((settings or {}).get("privacy") or {}).get("k") or 5)
    small = small_count_keys(scorecard.published, vals, kk)
    scorecard.suppressed |= small
    vals = {k: v for k, v in vals.items() if k not in small}
    skipped = [k for k in values if k not in scorecard.published]
    scorecard.add_many({k: v for k, v in vals.items() if k in scorecard.published},
                       depends_on_respondent_data=True, synthetic=synthetic,
                       source=source or f"{wave} analysis",
                       note="from synthetic respondent data" if synthetic else "")
    if synthetic:
        scorecard.synthetic = True
    elif scorecard.synthetic is None:
        scorecard.synthetic = False
    return skipped
