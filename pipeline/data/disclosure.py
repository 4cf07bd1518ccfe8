"""One disclosure checker for every output built from respondent data.

Small-cell suppression (:func:`pipeline.data.privacy.suppress_small_cells`)
protects one table against its own totals.  A wave publishes much more:
other tables of the same respondents, percentages, means and medians per
group, test statistics, bar charts whose widths are proportional to counts,
scorecard values.  Together they can undo the suppression: a bar labelled
33.0 % of a group of 3 is a count of 1, a mean of a 5-point item in a group
whose other counts are printed pins the suppressed ones down.

:class:`DisclosureLedger` records what a wave's outputs publish, each
statement as a linear constraint on the unknown counts of respondents in
the cells ("atoms") of the cross-classification of the variables involved,
and :meth:`DisclosureLedger.check` attacks all of them jointly:

* **direct rules**: a count ``0 < n < k`` printed anywhere; a share or a bar
  whose numerator is such a count; a test statistic (chi-square, Cramér's V,
  p-value) over a table with a suppressed cell (a non-linear function of
  the cells, which a search over the few integer solutions inverts);
* **the joint attack**: for every suppressed cell, the minimum and maximum
  of its count over all non-negative *integer* tables that reproduce every
  published statement (integer linear programming, HiGHS through
  :func:`scipy.optimize.milp`), after a linear-programming relaxation.  A
  cell whose minimum equals its maximum is disclosed.

Statements and their constraints (``x_a`` the count of atom ``a``,
``S`` the atoms of a cell, ``N_S = sum_{a in S} x_a``):

* count ``n`` of a cell: ``N_S = n``;
* share ``p`` (percent, printed with ``d`` decimals) of cell ``S`` in ``T``:
  ``(p - h) N_T <= 100 N_S <= (p + h) N_T``, ``h = 0.5 * 10^-d`` (full
  precision: ``h = 1e-9 p``);
* mean ``m`` of a coded variable ``v`` over ``S``:
  ``sum_S (v_a - m - h) x_a <= 0 <= sum_S (v_a - m + h) x_a``;
* median ``q`` of ``v`` over ``S``: at most half of ``S`` lies strictly
  below ``q`` and at most half strictly above:
  ``2 sum_{v_a < q} x_a <= N_S`` and ``2 sum_{v_a > q} x_a <= N_S``;
* bar widths ``w_1..w_r`` of cells ``S_1..S_r`` drawn to one scale
  (stacked bars, histograms): ``|w_1 N_{S_i} - w_i N_{S_1}| <= e (N_{S_1} +
  N_{S_i})`` with ``e`` the precision of the printed widths.

The attack is exact on the cross-classification of the variables named by
the statements.  Variables whose every level count is published as an exact
count (``condition_on``, e.g. the organisation) split the statements into
independent groups solved separately (with the margin fixed, integer tables
of two groups can always be combined), which keeps each problem small.

References
----------
Hundepool, A. et al. (2012). *Statistical Disclosure Control*. Wiley,
ch. 4-5 (interval disclosure, linear-programming attacks on tables).
Fischetti, M. & Salazar-González, J.-J. (2000). Models and algorithms for
optimizing cell suppression in tabular data with linear constraints.
*JASA* 95, 916-928.

In R: ``sdcTable::protectTable`` protects one hierarchy of tables; the
attack is ``sdcTable::attack`` (LP bounds per suppressed cell).
"""
from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from pipeline.core.exceptions import PipelineError

__all__ = ["DisclosureLedger", "DisclosureReport", "Disclosure", "DisclosureError",
           "cell_label", "MISSING"]

#: The level of a variable that stands for "no answer" in a cell definition.
MISSING = "<NA>"


class DisclosureError(PipelineError, ValueError):
    """An output would disclose a suppressed or small count; nothing was written."""


def cell_label(where: Mapping[str, Any]) -> str:
    """``"education=doctorate, org=akimat"``: how a cell is named in messages."""
    return ", ".join(f"{k}={_fmt(v)}" for k, v in sorted(where.items())) or "(all respondents)"


def _fmt(v: Any) -> str:
    if isinstance(v, (list, tuple, set, frozenset)):
        return "{" + "|".join(map(_fmt, v)) + "}"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


@dataclass(frozen=True)
class Disclosure:
    """One finding of :meth:`DisclosureLedger.check`.

    Attributes
    ----------
    rule : str
        ``small_count``, ``small_share``, ``test_on_suppressed``, ``recovered``.
    cell : str
        The cell (``var=level, ...``).
    outputs : tuple of str
        The outputs that together disclose it.
    value : float or None
        The recovered count (``recovered``), the printed one otherwise.
    detail : str
    """

    rule: str
    cell: str
    outputs: tuple[str, ...]
    value: float | None = None
    detail: str = ""

    def __str__(self) -> str:
        val = "" if self.value is None else f" = {_fmt(float(self.value))}"
        return f"{self.rule}: {self.cell}{val} ({'; '.join(self.outputs)}){': ' + self.detail if self.detail else ''}"


@dataclass
class DisclosureReport:
    """What :meth:`DisclosureLedger.check` found.

    Attributes
    ----------
    findings : list of Disclosure
    bounds : DataFrame
        One row per protected cell: ``cell``, ``output``, ``lp_lower``,
        ``lp_upper``, ``ilp_lower``, ``ilp_upper``, ``disclosed``.
    k : int
    """

    findings: list[Disclosure]
    bounds: pd.DataFrame
    k: int

    @property
    def ok(self) -> bool:
        return not self.findings

    def summary(self, limit: int = 10) -> str:
        if self.ok:
            return f"disclosure check passed ({len(self.bounds)} protected cell(s), k = {self.k})"
        lines = [f"{len(self.findings)} disclosure(s) (k = {self.k}):"]
        lines += [f"  - {f}" for f in self.findings[:limit]]
        if len(self.findings) > limit:
            lines.append(f"  ... and {len(self.findings) - limit} more")
        return "\n".join(lines)


@dataclass
class _Stmt:
    kind: str
    output: str
    where: dict[str, Any]
    value: Any = None
    var: str | None = None
    den: dict[str, Any] | None = None
    tol: float = 0.0
    cells: list[dict[str, Any]] = field(default_factory=list)
    widths: list[float] = field(default_factory=list)

    def variables(self) -> set[str]:
        out = set(self.where)
        if self.var:
            out.add(self.var)
        if self.den:
            out |= set(self.den)
        for c in self.cells:
            out |= set(c)
        return out


def _norm_where(where: Mapping[str, Any] | None, arg: str) -> dict[str, Any]:
    if where is None:
        return {}
    if not isinstance(where, Mapping):
        raise TypeError(f"{arg}: expected a mapping variable -> level(s), got {type(where).__name__}")
    return {str(k): (tuple(v) if isinstance(v, (list, tuple, set, frozenset)) else v)
            for k, v in where.items()}


def _half_unit(decimals: int | None, value: float) -> float:
    if decimals is None:
        return 1e-9 * max(1.0, abs(float(value)))
    if isinstance(decimals, bool) or not isinstance(decimals, (int, np.integer)) or decimals < 0:
        raise ValueError(f"decimals: must be a non-negative integer or None, got {decimals!r}")
    return 0.5 * 10.0 ** (-int(decimals)) + 1e-12


class DisclosureLedger:
    """The statements a wave's outputs make about its respondents, and their joint attack.

    Parameters
    ----------
    levels : mapping
        Variable -> its possible levels (the codebook's codes, the
        organisations, ...), as an attacker knows them.  Include
        :data:`MISSING` where an answer may be missing.  Coded variables
        used in means and medians need numeric levels.
    k : int
        Threshold: counts ``0 < n < k`` are small (``privacy.k``).
    condition_on : sequence of str
        Variables whose every level count is published exactly (e.g. the
        organisation sizes); used to split the attack into independent
        groups.  Checked by :meth:`check`.
    max_atoms : int
        Refuse (``ValueError``) a group of statements whose cross-
        classification has more cells than this.

    Examples
    --------
    >>> led = DisclosureLedger({"org": ["a", "b"], "edu": ["phd", "ba"]}, k=5)
    >>> led.count("table11.csv", {"org": "a"}, 40)
    >>> led.protect("table11.csv", {"org": "a", "edu": "phd"}, true_value=1)

    In R: ``sdcTable::attack`` for the linear-programming part.
    """

    def __init__(self, levels: Mapping[str, Sequence[Any]], k: int, *,
                 condition_on: Sequence[str] = (), max_atoms: int = 20000) -> None:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"k: must be a positive integer, got {k!r}")
        if not isinstance(levels, Mapping) or not levels:
            raise ValueError("levels: a non-empty mapping variable -> levels is required")
        self.levels = {str(v): list(dict.fromkeys(ls)) for v, ls in levels.items()}
        empty = [v for v, ls in self.levels.items() if not ls]
        if empty:
            raise ValueError(f"levels: no levels for {empty}")
        self.k = int(k)
        self.condition_on = list(condition_on)
        unknown = [v for v in self.condition_on if v not in self.levels]
        if unknown:
            raise ValueError(f"condition_on: {unknown} not in levels")
        self.max_atoms = int(max_atoms)
        self._stmts: list[_Stmt] = []
        self._protected: list[tuple[str, dict[str, Any], float | None]] = []

    # ------------------------------------------------------------ recording
    def _check_where(self, where: dict[str, Any], arg: str) -> None:
        for var, lev in where.items():
            if var not in self.levels:
                raise ValueError(f"{arg}: unknown variable {var!r}; known: {sorted(self.levels)}")
            for lv in (lev if isinstance(lev, tuple) else (lev,)):
                if lv not in self.levels[var]:
                    raise ValueError(f"{arg}: {var}={lv!r} is not a level of {var} ({self.levels[var]})")

    def count(self, output: str, where: Mapping[str, Any], value: float) -> None:
        """A count printed in *output*: the respondents in cell *where* number *value*."""
        w = _norm_where(where, "where")
        self._check_where(w, "where")
        self._stmts.append(_Stmt("count", str(output), w, float(value)))

    def protect(self, output: str, where: Mapping[str, Any], true_value: float | None = None) -> None:
        """A count *output* suppresses (``<k`` or ``[c]``): it must stay unrecoverable."""
        w = _norm_where(where, "where")
        self._check_where(w, "where")
        self._protected.append((str(output), w, None if true_value is None else float(true_value)))

    def table(self, output: str, result: Any, row_var: str | None, col_var: str | None, *,
              where: Mapping[str, Any] | None = None, total_label: str | None = None) -> None:
        """Every cell of a suppressed table (a :class:`~pipeline.data.privacy.SuppressionResult`).

        Shown cells (including the totals) become counts, suppressed cells
        protected cells.  *row_var* / *col_var* name the variables of the
        rows and columns (``None`` for a one-column distribution whose
        column is just ``n``); *where* restricts every cell (e.g. an item
        answered, or one organisation).
        """
        base = _norm_where(where, "where")
        tot = total_label or getattr(result, "total_label", "Total")
        counts, mask = result.counts, result.mask
        if (row_var is None and len([r for r in counts.index if r != tot]) > 1) or \
                (col_var is None and len([c for c in counts.columns if c != tot]) > 1):
            raise ValueError(f"row_var/col_var: a table with several rows/columns needs both ({output})")
        for r in counts.index:
            for c in counts.columns:
                w = dict(base)
                if r != tot and row_var is not None:
                    w[row_var] = r
                if c != tot and col_var is not None:
                    w[col_var] = c
                if bool(mask.loc[r, c]):
                    self.protect(output, w, float(counts.loc[r, c]))
                else:
                    self.count(output, w, float(counts.loc[r, c]))

    def admit(self, method: str, *args: Any, integer: bool = True, **kwargs: Any) -> bool:
        """Record a statement only if the ledger stays safe with it.

        ``ledger.admit("mean", "comparison_items.csv", "B1", {"org": "akimat"}, 3.91)``
        returns False (and records nothing) when that mean, with everything
        already recorded, would disclose a protected cell: the caller then
        prints "withheld" instead of the number.
        """
        if method not in {"count", "share", "mean", "median", "widths", "test"}:
            raise ValueError(f"method: unknown statement kind {method!r}")
        before = len(self._stmts)
        getattr(self, method)(*args, **kwargs)
        if len(self._stmts) == before:
            return True
        touching = set().union(*(st.variables() for st in self._stmts[before:]))
        if self.check(integer=integer, lp=False, _touching=touching, _new_from=before).ok:
            return True
        del self._stmts[before:]
        return False

    def share(self, output: str, where: Mapping[str, Any], of: Mapping[str, Any], percent: float,
              decimals: int | None = 1) -> None:
        """A percentage printed in *output* (a table cell, a bar label such as "33.0 %").

        ``percent`` = 100 * N(*where*) / N(*of*), printed with *decimals*
        decimals (``None``: full precision).  *where* must restrict *of*
        (include its conditions).
        """
        w, d = _norm_where(where, "where"), _norm_where(of, "of")
        self._check_where(w, "where")
        self._check_where(d, "of")
        def _set(v: Any) -> set:
            return set(v) if isinstance(v, tuple) else {v}
        if any(k not in w or not _set(w[k]) <= _set(v) for k, v in d.items()):
            raise ValueError(f"where: must include the conditions of 'of' ({cell_label(d)})")
        self._stmts.append(_Stmt("share", str(output), w, float(percent), den=d,
                                 tol=_half_unit(decimals, percent)))

    def mean(self, output: str, var: str, where: Mapping[str, Any], value: float,
             decimals: int | None = None) -> None:
        """A mean of the coded variable *var* over the respondents of *where* who answered it."""
        self._stat("mean", output, var, where, value, decimals)

    def median(self, output: str, var: str, where: Mapping[str, Any], value: float) -> None:
        """A median of *var* over the respondents of *where* who answered it."""
        self._stat("median", output, var, where, value, None)

    def _stat(self, kind: str, output: str, var: str, where: Mapping[str, Any], value: float,
              decimals: int | None) -> None:
        w = _norm_where(where, "where")
        self._check_where(w, "where")
        if var not in self.levels:
            raise ValueError(f"var: unknown variable {var!r}")
        bad = [lv for lv in self.levels[var] if lv != MISSING and not isinstance(lv, (int, float, np.number))]
        if bad:
            raise ValueError(f"var: {var} has non-numeric levels {bad}; a {kind} needs codes")
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return                       # nothing printed
        self._stmts.append(_Stmt(kind, str(output), w, float(value), var=var,
                                 tol=_half_unit(decimals, value)))

    def widths(self, output: str, cells: Sequence[Mapping[str, Any]], widths: Sequence[float],
               precision: float = 0.01) -> None:
        """Bars of a figure drawn to one scale: width_i proportional to N(cell_i).

        *precision* is the resolution of the widths as written (e.g. 0.01
        for SVG coordinates printed with two decimals).
        """
        cs = [_norm_where(c, "cells") for c in cells]
        for c in cs:
            self._check_where(c, "cells")
        ws = [float(x) for x in widths]
        if len(cs) != len(ws):
            raise ValueError("widths: one width per cell is required")
        if any(x < 0 or not math.isfinite(x) for x in ws):
            raise ValueError("widths: must be finite and non-negative")
        self._stmts.append(_Stmt("widths", str(output), {}, None, cells=cs, widths=ws,
                                 tol=float(precision) / 2 + 1e-12))

    def test(self, output: str, cells: Sequence[Mapping[str, Any]], name: str = "test statistic") -> None:
        """A test statistic (chi-square, Cramér's V, a p-value) computed over *cells*."""
        cs = [_norm_where(c, "cells") for c in cells]
        for c in cs:
            self._check_where(c, "cells")
        self._stmts.append(_Stmt("test", str(output), {}, name, cells=cs))

    # ------------------------------------------------------------ the check
    def check(self, *, integer: bool = True, lp: bool = True, _touching: set[str] | None = None,
              _new_from: int = 0) -> DisclosureReport:
        """Direct rules, then the joint attack on every protected cell.

        Parameters
        ----------
        integer : bool
            Integer programming (the exact attack); ``False``: the linear
            relaxation only (weaker, faster).
        lp : bool
            Also report the linear-programming bounds (``lp_lower``,
            ``lp_upper``); ``False`` skips them when *integer* is set.

        Returns a :class:`DisclosureReport`; :meth:`assert_safe` raises
        instead.
        """
        findings: list[Disclosure] = []
        k = self.k
        # direct: small counts printed; shares / bars of small numerators
        for st in self._stmts[_new_from:]:
            if st.kind == "count" and 0 < st.value < k:
                findings.append(Disclosure("small_count", cell_label(st.where), (st.output,), st.value,
                                           f"a count below k = {k} is printed"))
        # tests over suppressed cells
        prot_keys = {self._key(w): (o, w) for o, w, _ in self._protected}
        for st in self._stmts[_new_from:]:
            if st.kind == "test":
                hit = [self._covers(c, w) for c in st.cells for (_, w) in prot_keys.values()]
                if any(hit):
                    outs = sorted({st.output} | {o for o, w in prot_keys.values()
                                                 if any(self._covers(c, w) for c in st.cells)})
                    findings.append(Disclosure("test_on_suppressed", cell_label(st.cells[0]) + ", ...",
                                               tuple(outs), None,
                                               f"{st.value} over a table with suppressed cells"))
        rows = []
        groups = self._groups()
        for gvars, stmts, prots in groups:
            if _touching is not None:
                linked = _touching - set(self.condition_on) or _touching
                if not linked & set(gvars):
                    continue              # admit(): this group did not change
            atoms = self._atoms(gvars)
            cons = [self._constraint(st, gvars, atoms) for st in stmts if st.kind != "test"]
            cons = [c for group in cons for c in group]
            outs_all = tuple(sorted({st.output for st in stmts}))
            for output, where, true in prots:
                sel = self._select(where, gvars, atoms)
                lpb = (self._bounds(sel, cons, len(atoms), integer=False)
                       if (lp or not integer) else (math.nan, math.nan))
                il = self._bounds(sel, cons, len(atoms), integer=True) if integer else lpb
                disclosed = il is not None and abs(il[1] - il[0]) < 0.5
                rows.append({"cell": cell_label(where), "output": output, "true": true,
                             "lp_lower": None if lpb is None else lpb[0],
                             "lp_upper": None if lpb is None else lpb[1],
                             "ilp_lower": None if il is None else il[0],
                             "ilp_upper": None if il is None else il[1], "disclosed": disclosed})
                if il is None:
                    findings.append(Disclosure("inconsistent", cell_label(where), outs_all, None,
                                               "the published statements admit no integer table"))
                elif disclosed:
                    findings.append(Disclosure("recovered", cell_label(where), outs_all, round(il[0]),
                                               "the published numbers admit one value only"))
        bounds = pd.DataFrame(rows, columns=["cell", "output", "true", "lp_lower", "lp_upper",
                                             "ilp_lower", "ilp_upper", "disclosed"])
        return DisclosureReport(findings=findings, bounds=bounds, k=k)

    def assert_safe(self, **kwargs: Any) -> DisclosureReport:
        """:meth:`check`, raising :class:`DisclosureError` on any finding."""
        rep = self.check(**kwargs)
        if not rep.ok:
            raise DisclosureError(rep.summary())
        return rep

    # ------------------------------------------------------------ internals
    @staticmethod
    def _key(where: Mapping[str, Any]) -> tuple:
        return tuple(sorted((k, str(v)) for k, v in where.items()))

    @staticmethod
    def _covers(cell: Mapping[str, Any], prot: Mapping[str, Any]) -> bool:
        """True when the protected cell *prot* lies inside (or equals) *cell*, or overlaps it."""
        for var, lev in prot.items():
            if var in cell:
                a = set(cell[var]) if isinstance(cell[var], tuple) else {cell[var]}
                b = set(lev) if isinstance(lev, tuple) else {lev}
                if not a & b:
                    return False
        return True

    def _groups(self) -> list[tuple[list[str], list[_Stmt], list[tuple[str, dict[str, Any], float | None]]]]:
        """Independent groups of statements: linked by variables other than *condition_on*."""
        cond = set(self.condition_on)
        for v in cond:   # every level of a conditioning variable must be published exactly
            shown = {st.where[v] for st in self._stmts
                     if st.kind == "count" and set(st.where) == {v}}
            missing = [lv for lv in self.levels[v] if lv not in shown]
            if missing:
                raise ValueError(f"condition_on: the counts of {v} = {missing} are not published; "
                                 "the attack cannot be split on it")
        items: list[tuple[set[str], Any]] = [(st.variables(), st) for st in self._stmts if st.kind != "test"]
        items += [(set(w), (o, w, t)) for o, w, t in self._protected]
        parent = list(range(len(items)))

        def find(i: int) -> int:
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i
        owner: dict[str, int] = {}
        for i, (vs, _) in enumerate(items):
            for v in vs - cond:
                if v in owner:
                    parent[find(i)] = find(owner[v])
                else:
                    owner[v] = i
        comp: dict[int, list[int]] = {}
        for i in range(len(items)):
            comp.setdefault(find(i), []).append(i)
        out = []
        for members in comp.values():
            prots = [items[i][1] for i in members if isinstance(items[i][1], tuple)]
            if not prots:
                continue
            gvars = sorted(set().union(*(items[i][0] for i in members)))
            # a group's conditioning variables: their published margins join the group
            stmts = [items[i][1] for i in members if isinstance(items[i][1], _Stmt)]
            # statements only on conditioning variables (their margins, the grand total)
            # constrain every group that holds those variables
            for st in self._stmts:
                if st.kind != "test" and st.variables() <= cond & set(gvars) \
                        and not any(st is x for x in stmts):
                    stmts.append(st)
            out.append((gvars, stmts, prots))
        return out

    def _atoms(self, gvars: list[str]) -> list[tuple]:
        n = math.prod(len(self.levels[v]) for v in gvars)
        if n > self.max_atoms:
            raise ValueError(f"max_atoms: the statements on {gvars} need {n} cells "
                             f"(> {self.max_atoms}); pass condition_on to split them")
        return list(itertools.product(*(self.levels[v] for v in gvars)))

    @staticmethod
    def _select(where: Mapping[str, Any], gvars: list[str], atoms: list[tuple],
                answered: str | None = None) -> np.ndarray:
        sel = np.ones(len(atoms), dtype=bool)
        for var, lev in where.items():
            j = gvars.index(var)
            levs = set(lev) if isinstance(lev, tuple) else {lev}
            sel &= np.array([a[j] in levs for a in atoms])
        if answered is not None:
            j = gvars.index(answered)
            sel &= np.array([a[j] != MISSING for a in atoms])
        return sel

    def _constraint(self, st: _Stmt, gvars: list[str], atoms: list[tuple]) -> list[tuple[np.ndarray, float, float]]:
        """Rows ``lo <= a @ x <= hi`` of one statement."""
        if st.kind == "count":
            a = self._select(st.where, gvars, atoms).astype(float)
            return [(a, st.value, st.value)]
        if st.kind == "share":
            num = self._select(st.where, gvars, atoms).astype(float)
            den = self._select(st.den, gvars, atoms).astype(float)
            p, h = st.value, st.tol
            return [(100 * num - (p + h) * den, -np.inf, 0.0), (100 * num - (p - h) * den, 0.0, np.inf)]
        if st.kind in ("mean", "median"):
            sel = self._select(st.where, gvars, atoms, answered=st.var).astype(float)
            j = gvars.index(st.var)
            v = np.array([float(a[j]) if a[j] != MISSING else 0.0 for a in atoms])
            if st.kind == "mean":
                m, h = st.value, st.tol
                return [((v - m - h) * sel, -np.inf, 0.0), ((v - m + h) * sel, 0.0, np.inf)]
            q = st.value
            below = (v < q - 1e-9) * sel
            above = (v > q + 1e-9) * sel
            return [(2 * below - sel, -np.inf, 0.0), (2 * above - sel, -np.inf, 0.0)]
        if st.kind == "widths":
            sels = [self._select(c, gvars, atoms).astype(float) for c in st.cells]
            w0, s0 = st.widths[0], sels[0]
            out = []
            for wi, si in zip(st.widths[1:], sels[1:]):
                e = st.tol
                # |w0 N_i - wi N_0| <= e (N_0 + N_i)
                out.append((w0 * si - wi * s0 - e * (s0 + si), -np.inf, 0.0))
                out.append((w0 * si - wi * s0 + e * (s0 + si), 0.0, np.inf))
            return out
        raise AssertionError(st.kind)

    @staticmethod
    def _bounds(sel: np.ndarray, cons: list[tuple[np.ndarray, float, float]], n: int,
                integer: bool) -> tuple[float, float] | None:
        from scipy.optimize import Bounds, LinearConstraint, linprog, milp
        if not cons:
            return (0.0, math.inf)
        A = np.vstack([c[0] for c in cons])
        lo = np.array([c[1] for c in cons])
        hi = np.array([c[2] for c in cons])
        obj = sel.astype(float)
        out = []
        for sign in (1.0, -1.0):
            if integer:
                res = milp(sign * obj, constraints=LinearConstraint(A, lo, hi),
                           integrality=np.ones(n), bounds=Bounds(0, np.inf),
                           options={"time_limit": 30})
                status = res.status
                fun = res.fun
            else:
                eq = np.isclose(lo, hi)
                a_ub = np.vstack([A[~eq & np.isfinite(hi)], -A[~eq & np.isfinite(lo)]]) if (~eq).any() else None
                b_ub = np.concatenate([hi[~eq & np.isfinite(hi)], -lo[~eq & np.isfinite(lo)]]) if (~eq).any() else None
                res = linprog(sign * obj, A_ub=a_ub, b_ub=b_ub,
                              A_eq=A[eq] if eq.any() else None, b_eq=lo[eq] if eq.any() else None,
                              bounds=(0, None), method="highs")
                status, fun = res.status, res.fun
            if status == 2:
                return None                              # infeasible
            if status == 3 or fun is None or res.x is None:
                # unbounded (HiGHS may report a MIP's unboundedness as "other")
                out.append(math.inf if sign < 0 else 0.0)
            else:
                out.append(sign * fun)
        return (out[0], out[1])


def ledger_levels(data: pd.DataFrame, columns: Iterable[str],
                  codes: Mapping[str, Sequence[Any]] | None = None) -> dict[str, list[Any]]:
    """Levels for :class:`DisclosureLedger` from a frame (and, where given, a codebook's codes).

    A column with a missing value gets the level :data:`MISSING`.
    """
    out: dict[str, list[Any]] = {}
    for c in columns:
        if c not in data.columns:
            raise ValueError(f"columns: {c!r} not in the data")
        levs = list((codes or {}).get(c) or sorted(data[c].dropna().unique().tolist(), key=str))
        if data[c].isna().any():
            levs.append(MISSING)
        out[c] = levs
    return out


def where_from_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """A cell definition from a record, NaN mapped to :data:`MISSING`."""
    return {k: (MISSING if (v is None or (isinstance(v, float) and math.isnan(v))) else v)
            for k, v in row.items()}


__all__ += ["ledger_levels", "where_from_row"]


# ------------------------------------------------------- helpers for the outputs

#: Columns of :func:`pipeline.psychometrics.comparison.compare_items` that are
#: linear in the cells (admitted through the ledger) and that are not statistics.
LINEAR_STATS = {"mean1": ("mean", 0), "mean2": ("mean", 1), "median1": ("median", 0),
                "median2": ("median", 1)}
NOT_STATISTICS = {"item", "label", "factor", "group1", "group2", "n1", "n2", "method",
                  "chisq_method", "withheld"}


def merge_suppressed(counts: pd.DataFrame, mask: pd.DataFrame, label: str = "suppressed") -> pd.DataFrame:
    """Counts for a figure: suppressed cells merged into one segment per bar.

    A stacked bar drawn from the full counts shows every cell's width, so a
    cell printed as ``<k`` or ``[c]`` in the table is read off the figure.
    Here the masked cells of each row are set to 0 and their sum goes into
    a last column *label* (draw it grey, unlabelled).  That sum follows from
    the table's own totals already, so the figure adds nothing.

    Parameters
    ----------
    counts : DataFrame
        Rows = bars, columns = segments.
    mask : DataFrame of bool
        True where the table suppresses the cell (``SuppressionResult.mask``,
        aligned to *counts*; missing cells count as not suppressed).
    """
    if not isinstance(counts, pd.DataFrame) or not isinstance(mask, pd.DataFrame):
        raise TypeError("counts, mask: DataFrames are required")
    m = mask.reindex(index=counts.index, columns=counts.columns).fillna(False).astype(bool)
    out = counts.where(~m, 0)
    out[label] = counts.where(m, 0).sum(axis=1)
    return out


def guard_item_statistics(table: pd.DataFrame, data: pd.DataFrame, group: str,
                          groups: Sequence[Any], codes: Mapping[str, Sequence[Any]], k: int, *,
                          item_column: str = "item", mean_decimals: int | None = None
                          ) -> pd.DataFrame:
    """Withhold the per-group statistics of items whose distribution is suppressed.

    For each item (a row of *table*, e.g. the result of
    :func:`pipeline.psychometrics.comparison.compare_items`): the item's
    distribution by group (codes in the order given, a missing row last when
    there are missing answers) is suppressed at *k* as the report's table
    is; a :class:`DisclosureLedger` holds that table, and the group means
    and medians are admitted one by one (:meth:`DisclosureLedger.admit`,
    the joint integer attack).  Every other statistic of the row (U, z, p,
    rank-biserial, chi-square, Cramér's V, t, g, their CIs and adjusted p)
    is a non-linear function of the cells: it is withheld when the item's
    table has a suppressed cell.  Withheld values become NaN and are named
    in a column ``withheld``.

    Returns
    -------
    DataFrame
        A copy of *table*.
    """
    from pipeline.data.privacy import suppress_small_cells
    if item_column not in table.columns:
        raise ValueError(f"item_column: {item_column!r} not in the table")
    if group not in data.columns:
        raise ValueError(f"group: {group!r} not in data")
    groups = list(groups)
    out = table.copy()
    withheld_col = []
    stat_cols = [c for c in out.columns if c not in NOT_STATISTICS and c not in LINEAR_STATS
                 and pd.api.types.is_numeric_dtype(out[c])]
    for idx, row in out.iterrows():
        item = row[item_column]
        if item not in codes or item not in data.columns:
            raise ValueError(f"codes: no codes for item {item!r}")
        sub = data[data[group].isin(groups)]
        v = pd.to_numeric(sub[item], errors="coerce")
        levels = list(codes[item])
        key = pd.Series([MISSING if pd.isna(x) else x for x in v], index=sub.index, name=item,
                        dtype=object)
        ct = pd.crosstab(key, sub[group]).reindex(index=levels + ([MISSING] if v.isna().any() else []),
                                             columns=groups, fill_value=0)
        res = suppress_small_cells(ct, k)
        held: list[str] = []
        if res.n_suppressed:
            lev = {item: list(ct.index), group: groups}
            led = DisclosureLedger(lev, k, condition_on=[group])
            led.table("distribution", res, item, group)
            for col, (kind, gi) in LINEAR_STATS.items():
                if col in out.columns and pd.notna(row[col]):
                    ok = led.admit(kind, "comparison", item, {group: groups[gi]}, float(row[col]),
                                   **({"decimals": mean_decimals} if kind == "mean" else {}))
                    if not ok:
                        held.append(col)
            held += [c for c in stat_cols if pd.notna(row[c])]
        for c in held:
            out.at[idx, c] = np.nan
        withheld_col.append(", ".join(held))
    out["withheld"] = withheld_col
    return out


__all__ += ["merge_suppressed", "guard_item_statistics", "LINEAR_STATS"]


_NUM = r"-?\d+(?:\.\d+)?(?:e-?\d+)?"


def svg_rectangles(svg: str) -> pd.DataFrame:
    """The axis-aligned rectangles (bars) of an SVG figure, as a reader would measure them.

    Reads ``<rect>`` elements and the closed four-corner ``<path>`` elements
    matplotlib writes for bars (``M x0 y0 L x1 y0 L x1 y1 L x0 y1 z``).

    Returns
    -------
    DataFrame
        ``x y width height fill``, in document order.
    """
    import re
    rows = []
    for m in re.finditer(r"<path\b[^>]*?\bd=\"([^\"]*)\"[^>]*>", svg, re.S):
        d, tag = m.group(1), m.group(0)
        pts = re.findall(rf"[ML]\s*({_NUM})\s+({_NUM})", d)
        if len(pts) != 4 or not re.search(r"z\s*$", d.strip()):
            continue
        xs, ys = sorted({float(p[0]) for p in pts}), sorted({float(p[1]) for p in pts})
        if len(xs) != 2 or len(ys) != 2:
            continue
        fill = re.search(r"fill:\s*(#[0-9a-fA-F]{3,8}|none)", tag)
        rows.append({"x": xs[0], "y": ys[0], "width": xs[1] - xs[0], "height": ys[1] - ys[0],
                     "fill": fill.group(1) if fill else None})
    for m in re.finditer(r"<rect\b[^>]*>", svg):
        tag = m.group(0)
        get = {k: re.search(rf'\b{k}="({_NUM})"', tag) for k in ("x", "y", "width", "height")}
        if get["width"] and get["height"]:
            fill = re.search(r'fill(?:=|:\s*)"?(#[0-9a-fA-F]{3,8}|none)', tag)
            rows.append({k: float(v.group(1)) if v else 0.0 for k, v in get.items()}
                        | {"fill": fill.group(1) if fill else None})
    return pd.DataFrame(rows, columns=["x", "y", "width", "height", "fill"])


__all__ += ["svg_rectangles"]


def distribution_display(counts: pd.DataFrame, k: int, *, digits: int = 1) -> tuple[pd.DataFrame, str]:
    """A response-distribution table for a report: ``<code> n`` and ``<code> %`` per item.

    *counts* is item x code (e.g.
    :meth:`pipeline.psychometrics.descriptives.DescriptivesResult.distribution_counts`,
    each row total = the respondents).  Cells are suppressed at *k* with
    complementary suppression (:func:`pipeline.data.privacy.suppress_small_cells`);
    a suppressed count and its percentage both show ``<k`` / ``[c]``, so no
    count of 1-3 is printed and no percentage gives it back.

    Returns
    -------
    (DataFrame, str)
        The display table (strings) and the note to print under it.
    """
    from pipeline.data.privacy import suppress_small_cells
    if not isinstance(counts, pd.DataFrame) or counts.empty:
        raise ValueError("counts: a non-empty item x code DataFrame is required")
    sup = suppress_small_cells(counts, k, margins=False)
    n = counts.sum(axis=1).replace(0, np.nan)
    pct = counts.div(n, axis=0) * 100
    shown_n = sup.display
    shown_p = sup.apply_to(pct, fmt=f"{{:.{int(digits)}f}}")
    out = pd.DataFrame(index=counts.index)
    for c in counts.columns:
        out[f"{c} n"] = shown_n[c]
        out[f"{c} %"] = shown_p[c]
    out.index.name = counts.index.name or "item"
    return out, sup.note


def mask_count(value: Any, k: int) -> Any:
    """A count for display: ``"<k"`` when ``0 < value < k``, else unchanged.

    For single numbers printed outside a suppressed table (a scorecard
    value, a text percentage's numerator, "n = 3" in a caption).
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        return value
    if not math.isfinite(float(value)):
        return value
    return f"<{k}" if 0 < float(value) < k else value


__all__ += ["distribution_display", "mask_count"]
