"""Published values: the numbers a paper prints, with where it prints them.

A study transcribes every printed cell it wants to compare into YAML files
(one per table; format in ``docs/ARCHITECTURE.md``)::

    source: "Amirova (2021)"       # free text
    table: "Table 12"
    line: 1026                     # line of the table in the source text
    title: "..."                   # optional
    role: result                   # or input: data the study computes from
    values:
      - {key: cs2019.fit.rmsea, value: 0.036, printed: ".036", unit: index, line: 1030}
      # a number a text states about a table names the cells it summarizes
      # (checked by pipeline.replication.audit.audit_text_against_tables):
      - {key: cs2020.text.ACSA.experience.5_15.pct, value: 48.2, printed: "48,2%",
         unit: percent, line: 1134, counts: [<count key>, <count key>], total: <total key>}

Fields beyond the standard ones are kept in :attr:`PublishedValue.extra`.

:func:`load_published` reads them, :func:`parse_number` and
:func:`printed_decimals` read printed numbers (decimal commas, leading dots,
units), and :func:`compare_value` gives a computed value one status against
the printed precision.  The scorecard (:mod:`pipeline.replication.scorecard`),
the consistency audit (:mod:`pipeline.replication.audit`) and a study's own
comparisons all build on this module; it imports none of them.

In R: no equivalent; ``round(x, d) == printed`` by hand.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from pipeline.core.io import read_yaml

__all__ = [
    "STATUSES", "EXACT", "WITHIN_TOLERANCE", "DIFFERS", "AGREES_SYNTHETIC", "DIFFERS_SYNTHETIC",
    "SUPPRESSED",
    "INCONSISTENT", "NOT_ESTIMABLE", "NOT_COMPUTED", "NOT_RECOMPUTABLE", "RESPONDENT_LEVEL",
    "PublishedValue", "parse_number", "printed_decimals", "load_published", "compare_value",
]

#: The computed value rounds to the printed one.
EXACT = "reproduced exactly"
#: Not exact, but within the tolerance given for the comparison.
WITHIN_TOLERANCE = "within tolerance"
#: Recomputed from published numbers or real respondent data, and neither of the above.
DIFFERS = "differs"
#: Recomputed from calibrated synthetic respondents and equal within rounding/tolerance:
#: shows the generator's calibration, not a replication.
AGREES_SYNTHETIC = "agrees (calibrated synthetic)"
#: Recomputed from synthetic respondents and different: says nothing about the study.
DIFFERS_SYNTHETIC = "differs (synthetic)"
#: The published number contradicts other published numbers (an audit finding says how).
INCONSISTENT = "inconsistent in the source"
#: The statistic is undefined for what it is printed for (alpha of a one-item scale).
NOT_ESTIMABLE = "not estimable"
#: Needs respondent-level data, and no wave computed it.
NOT_COMPUTED = "not computed"
#: Nothing in the published aggregates lets it be recomputed, and it needs no respondent data.
NOT_RECOMPUTABLE = "cannot be recomputed from published data"
#: Computed from respondent data as a count below the small-cell threshold k (or a share of
#: one): withheld, as the wave's own tables suppress it (no status that would reveal it).
SUPPRESSED = "suppressed (count below k)"
STATUSES = (EXACT, WITHIN_TOLERANCE, DIFFERS, INCONSISTENT, NOT_ESTIMABLE, AGREES_SYNTHETIC,
            DIFFERS_SYNTHETIC, SUPPRESSED, NOT_COMPUTED, NOT_RECOMPUTABLE)
#: Former single status "depends on respondent-level data", split into AGREES_SYNTHETIC,
#: DIFFERS_SYNTHETIC and NOT_COMPUTED; the name is kept for importers and means "not computed".
RESPONDENT_LEVEL = NOT_COMPUTED

_REQUIRED_TOP = ("source", "table", "line", "values")
_REQUIRED_VALUE = ("key", "value", "printed", "unit", "line")
_STANDARD_FIELDS = ("key", "label", "value", "printed", "unit", "line", "note")

_NUM_RE = re.compile(r"[-+\u2212]?(?:\d+(?:[.,]\d*)?|[.,]\d+)")


def parse_number(text: Any) -> float:
    """Parse a number as a paper prints it.

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


def load_published(directory: str | Path, *,
                   include_inputs: bool = True) -> dict[str, PublishedValue]:
    """Read every ``*.yaml`` of a study's folder of published numbers.

    Parameters
    ----------
    directory : path
        The folder (e.g. ``studies/amirova2021/published``); a folder that
        does not exist holds no published numbers.
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
    if directory is None:
        raise TypeError("directory: the folder of published YAML files is required")
    d = Path(directory)
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


_BOUNDS = ((re.compile(r"^\s*(?:more than|greater than|over|above)\b", re.I), ">"),
           (re.compile(r"^\s*(?:at least|no less than)\b", re.I), ">="),
           (re.compile(r"^\s*(?:less than|fewer than|under|below)\b", re.I), "<"),
           (re.compile(r"^\s*(?:at most|no more than)\b", re.I), "<="))


def _bound(printed: str) -> str | None:
    """The comparison a printed bound states ("more than half" -> ">"), else None."""
    for rx, op in _BOUNDS:
        if rx.match(str(printed)):
            return op
    return None


def compare_value(published: PublishedValue, computed: Any,
                  tolerance: float | None = None) -> tuple[str, float | None]:
    """Status of one numeric or categorical comparison, and the difference.

    Exact means: the computed value differs from the published one by at most
    half a unit in the last printed decimal (i.e. it rounds to the printed
    number; a tiny relative slack absorbs binary floating point).  A printed
    bound ("more than half", "at least 30%", "less than 5%") is exact when
    the computed value satisfies it.
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
    bound = _bound(published.printed)
    if bound is not None:
        ok = {">": com > pub, ">=": com >= pub, "<": com < pub, "<=": com <= pub}[bound]
        return (EXACT if ok else DIFFERS), diff
    dec = published.decimals
    half = 0.5 * 10.0 ** (-(dec if dec is not None else 12))
    if abs(diff) <= half * (1 + 1e-9) + 1e-12:
        return EXACT, diff
    if tolerance is not None and abs(diff) <= tolerance:
        return WITHIN_TOLERANCE, diff
    return DIFFERS, diff
