"""lavaan model syntax: parser and parameter table with lavaan's defaults.

The parser reads the subset of lavaan syntax used by single-group SEM:

* ``f =~ x1 + x2``   measurement (first loading fixed to 1 unless modified)
* ``y ~ x1 + x2``    regression; ``y ~ 1`` an intercept
* ``x1 ~~ x2``       (residual) variance / covariance
* ``ind := a*b``     defined parameter (delta-method SE)
* ``a == b``         equality of two labelled parameters
* modifiers ``a1*x`` (label), ``0.5*x`` (fixed value), ``NA*x`` (free, e.g.
  the marker), ``start(0.5)*x``, ``label("a")*x``, ``equal("a")*x``; modifiers
  may be chained (``NA*a1*x``); shared labels are equality constraints;
* comments ``#`` / ``!``, ``;`` as a line break, formulas over several lines,
  several left-hand sides (``y1 + y2 ~ x``).

:func:`lavaanify` then adds lavaan's ``sem()``/``cfa()`` defaults exactly as
``lavaan:::lav_partable_flat`` does (``auto.fix.first``, ``auto.fix.single``,
``auto.var``, ``auto.cov.lv.x``, ``auto.cov.y``, ``fixed.x``, free observed
intercepts and zero latent intercepts under a mean structure).

In R: ``lavaan::lavaanify(model, auto.var=TRUE, auto.fix.first=TRUE,
auto.fix.single=TRUE, auto.cov.lv.x=TRUE, auto.cov.y=TRUE, fixed.x=TRUE)``.
"""
from __future__ import annotations

import ast
import itertools
import math
import re
from dataclasses import dataclass, field

from pipeline.core.exceptions import ModelSpecificationError

__all__ = ["Term", "Formula", "ParsedModel", "ParTable", "parse_model", "lavaanify"]

_OPS = ("=~", "~~", ":=", "==", "<~", "~*~", "~", "<", ">", "|")
_OP_RE = re.compile(r"=~|~~|:=|==|<~|~\*~|~|<=|>=|<|>|\|")
_NAME_RE = re.compile(r"^[A-Za-z_.][A-Za-z0-9_.]*$")
_NUM_RE = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


@dataclass
class Term:
    """One right-hand-side term: a variable (or ``1``) with its modifiers."""

    name: str
    fixed: float | None = None     # numeric modifier
    free: bool = False             # NA* modifier
    label: str = ""
    start: float | None = None


@dataclass
class Formula:
    lhs: str
    op: str
    terms: list[Term]
    line: int
    expr: str = ""                 # right-hand side of := / ==


@dataclass
class ParsedModel:
    """The formulas of a model, as written (before lavaan's defaults)."""

    formulas: list[Formula]
    text: str

    @property
    def definitions(self) -> list[tuple[str, str]]:
        return [(f.lhs, f.expr) for f in self.formulas if f.op == ":="]


def _split_top(s: str, sep: str) -> list[str]:
    """Split on *sep* outside parentheses (and not inside numbers like 1e+3)."""
    out, depth, cur = [], 0, []
    for i, ch in enumerate(s):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == sep and depth == 0:
            tail = "".join(cur).split("*")[-1].strip()
            if sep == "+" and re.match(r"^[+-]?(\d+\.?\d*|\.\d+)[eE]$", tail):
                cur.append(ch)   # exponent of a number such as 1e+3
                continue
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur))
    return out


def _statements(text: str) -> list[tuple[str, int]]:
    """Strip comments, split on newlines/';', join continuation lines."""
    stmts: list[list] = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = re.split(r"[#!]", raw, maxsplit=1)[0]
        for part in line.split(";"):
            part = part.strip()
            if not part:
                continue
            has_op = bool(_OP_RE.search(part))
            if stmts:
                prev = stmts[-1][0].rstrip()
                cont = (prev.endswith(("+", "*", "=~", "~", "~~", ":=", "==", ","))
                        or part.startswith(("+", "*")) or not has_op)
                if cont:
                    stmts[-1][0] = prev + " " + part
                    continue
            stmts.append([part, lineno])
    return [(s, n) for s, n in stmts]


def _number(tok: str) -> float | None:
    tok = tok.strip()
    if _NUM_RE.match(tok):
        return float(tok)
    try:  # simple arithmetic such as -0.3 or 1/2
        node = ast.parse(tok, mode="eval").body
        return float(_eval_const(node))
    except (SyntaxError, ValueError, TypeError, ZeroDivisionError):
        return None


def _eval_const(node):
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        v = _eval_const(node.operand)
        return -v if isinstance(node.op, ast.USub) else v
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Div, ast.Mult)):
        a, b = _eval_const(node.left), _eval_const(node.right)
        return a / b if isinstance(node.op, ast.Div) else a * b
    raise ValueError("not a constant")


def _parse_term(tok: str, lineno: int, stmt: str) -> Term:
    parts = [p.strip() for p in _split_top(tok, "*")]
    if any(p == "" for p in parts):
        raise ModelSpecificationError(f"line {lineno}: empty term in {stmt!r}")
    name = parts[-1]
    term = Term(name=name)
    for mod in parts[:-1]:
        m = re.match(r"^(start|label|equal)\((.*)\)$", mod)
        if m:
            arg = m.group(2).strip().strip("'\"")
            if m.group(1) == "start":
                val = _number(arg)
                if val is None:
                    raise ModelSpecificationError(
                        f"line {lineno}: start({arg}) needs a number in {stmt!r}")
                term.start = val
            else:
                term.label = arg
            continue
        if mod in ("NA", "na"):
            term.free = True
            continue
        val = _number(mod)
        if val is not None:
            term.fixed = val
            continue
        if _NAME_RE.match(mod):
            term.label = mod
            continue
        raise ModelSpecificationError(
            f"line {lineno}: cannot read modifier {mod!r} in {stmt!r} "
            "(multi-group vectors c(...) are not supported)")
    if name != "1" and not _NAME_RE.match(name):
        raise ModelSpecificationError(f"line {lineno}: {name!r} is not a variable name in {stmt!r}")
    return term


def parse_model(text: str) -> ParsedModel:
    """Parse lavaan model syntax into formulas (no defaults added yet).

    Parameters
    ----------
    text : str
        lavaan model syntax.

    Returns
    -------
    ParsedModel

    Raises
    ------
    ModelSpecificationError
        On syntax lavaan would reject or that this engine does not support
        (``<~`` composites, thresholds ``|``, inequality constraints).

    In R: ``lavaan::lavParseModelString(model)``.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str of lavaan syntax, got {type(text).__name__}")
    formulas: list[Formula] = []
    for stmt, lineno in _statements(text):
        m = _OP_RE.search(stmt)
        if m is None:
            raise ModelSpecificationError(f"line {lineno}: no operator in {stmt!r}")
        op = m.group(0)
        lhs, rhs = stmt[:m.start()].strip(), stmt[m.end():].strip()
        if op in ("<~", "~*~", "|", "<", ">", "<=", ">="):
            raise ModelSpecificationError(
                f"line {lineno}: operator {op!r} is not supported by this engine: {stmt!r}")
        if not lhs or not rhs:
            raise ModelSpecificationError(f"line {lineno}: incomplete formula {stmt!r}")
        if op in (":=", "=="):
            if op == ":=" and not _NAME_RE.match(lhs):
                raise ModelSpecificationError(f"line {lineno}: bad name {lhs!r} in {stmt!r}")
            formulas.append(Formula(lhs=lhs, op=op, terms=[], line=lineno, expr=rhs))
            continue
        lhs_names = [s.strip() for s in lhs.split("+")]
        for nm in lhs_names:
            if not _NAME_RE.match(nm):
                raise ModelSpecificationError(f"line {lineno}: {nm!r} is not a variable name in {stmt!r}")
        terms = [_parse_term(t, lineno, stmt) for t in _split_top(rhs, "+") if t.strip()]
        if not terms:
            raise ModelSpecificationError(f"line {lineno}: empty right-hand side in {stmt!r}")
        for t in terms:
            if t.name == "1" and op != "~":
                raise ModelSpecificationError(f"line {lineno}: '1' only allowed in 'y ~ 1': {stmt!r}")
        for nm in lhs_names:
            if op == "~" and all(t.name == "1" for t in terms):
                formulas.append(Formula(lhs=nm, op="~1", terms=terms, line=lineno))
            elif op == "~" and any(t.name == "1" for t in terms):
                formulas.append(Formula(lhs=nm, op="~1",
                                        terms=[t for t in terms if t.name == "1"], line=lineno))
                formulas.append(Formula(lhs=nm, op="~",
                                        terms=[t for t in terms if t.name != "1"], line=lineno))
            else:
                formulas.append(Formula(lhs=nm, op=op, terms=terms, line=lineno))
    if not any(f.op in ("=~", "~", "~~", "~1") for f in formulas):
        raise ModelSpecificationError("model syntax contains no =~, ~ or ~~ formula")
    return ParsedModel(formulas=formulas, text=text)


# --------------------------------------------------------------------------
# parameter table
# --------------------------------------------------------------------------
@dataclass
class ParTable:
    """lavaan-style parameter table plus the variable classification.

    ``rows`` is a list of dicts with keys ``lhs op rhs user free ustart label
    exo start`` (``free`` True/False; ``ustart`` the fixed value or user start,
    NaN when none; ``exo`` True for fixed.x moments whose value comes from the
    sample).  ``definitions`` holds ``(name, expression)`` of ``:=``.
    """

    rows: list[dict]
    observed: list[str]
    latent: list[str]
    ov_x: list[str]
    ov_ind: list[str]
    lv_x: list[str]
    lv_y: list[str]
    ov_y: list[str]
    eqs_y: list[str]
    eqs_x: list[str]
    definitions: list[tuple[str, str]] = field(default_factory=list)
    equalities: list[tuple[str, str]] = field(default_factory=list)
    meanstructure: bool = False

    def to_frame(self):
        import pandas as pd
        return pd.DataFrame(self.rows)


def _uniq(seq):
    seen, out = set(), []
    for s in seq:
        if s not in seen:
            seen.add(s)
            out.append(s)
    return out


def lavaanify(model: str | ParsedModel, *, meanstructure: bool = False,
              fixed_x: bool = True, auto: bool = True) -> ParTable:
    """Parameter table with lavaan's ``sem()`` defaults.

    Parameters
    ----------
    model : str or ParsedModel
        lavaan syntax.
    meanstructure : bool
        Add intercepts (free for observed, 0 for latent variables).
    fixed_x : bool
        Exogenous observed covariates: variances, covariances and means fixed
        to their sample values (``exo=True``), as lavaan's ``fixed.x=TRUE``.
    auto : bool
        Add the default parameters (``False``: only what is written).

    Returns
    -------
    ParTable

    In R: ``lavaanify(model, auto.var=TRUE, auto.fix.first=TRUE,
    auto.fix.single=TRUE, auto.cov.lv.x=TRUE, auto.cov.y=TRUE,
    fixed.x=TRUE, meanstructure=...)``.
    """
    parsed = parse_model(model) if isinstance(model, str) else model
    flat = [f for f in parsed.formulas if f.op in ("=~", "~", "~~", "~1")]
    # user rows (duplicates: the later modifier wins, as lavaan merges them)
    user: dict[tuple, dict] = {}
    for f in flat:
        for t in f.terms:
            rhs = "" if f.op == "~1" else t.name
            lhs = f.lhs
            if f.op == "~~":
                key = (lhs, "~~", rhs)
                if (rhs, "~~", lhs) in user:
                    key = (rhs, "~~", lhs)
            else:
                key = (lhs, f.op, rhs)
            row = user.get(key, {"lhs": key[0], "op": key[1], "rhs": key[2], "mods": []})
            row["mods"].append(t)
            user[key] = row
    user_rows = list(user.values())

    lv = _uniq(r["lhs"] for r in user_rows if r["op"] == "=~")
    v_ind = _uniq(r["rhs"] for r in user_rows if r["op"] == "=~")
    eqs_y = _uniq(r["lhs"] for r in user_rows if r["op"] == "~")
    eqs_x = _uniq(r["rhs"] for r in user_rows if r["op"] == "~")
    ov_ind = [v for v in v_ind if v not in lv]
    ov_y_tmp = [v for v in eqs_y if v not in lv and v not in ov_ind]
    ov_x = [v for v in eqs_x if v not in lv and v not in ov_ind and v not in ov_y_tmp]
    # x variables with user-written variances/covariances/intercepts become random
    user_vars = set()
    for r in user_rows:
        if r["op"] == "~1":
            user_vars.add(r["lhs"])
        elif r["op"] == "~~":
            user_vars.update([r["lhs"], r["rhs"]])
    ov_x = [v for v in ov_x if v not in user_vars]
    ov_cov = [v for r in user_rows if r["op"] == "~~" for v in (r["lhs"], r["rhs"]) if v not in lv]
    ov_int = [r["lhs"] for r in user_rows if r["op"] == "~1" and r["lhs"] not in lv]
    ov_tmp = _uniq(ov_ind + ov_y_tmp + [v for v in eqs_x if v not in lv and v not in ov_ind
                                         and v not in ov_y_tmp])
    ov_extra = _uniq(ov_cov + ov_int)
    observed = ov_tmp + [v for v in ov_extra if v not in ov_tmp]
    ov_nox = [v for v in observed if v not in ov_x]
    lv_x = [v for v in lv if v not in v_ind and v not in eqs_y]
    ov_y = [v for v in observed if v in eqs_y and v not in v_ind and v not in eqs_x and v not in lv]
    lv_y = [v for v in lv if v in eqs_y and v not in v_ind and v not in eqs_x]
    latent = lv

    # default rows, in lavaan's order
    default: list[tuple[str, str, str]] = []
    if auto:
        default += [(v, "~~", v) for v in ov_nox + lv]
        if len(lv_x) > 1:
            default += [(a, "~~", b) for a, b in itertools.combinations(lv_x, 2)]
        lvov_y = lv_y + ov_y
        if len(lvov_y) > 1:
            default += [(a, "~~", b) for a, b in itertools.combinations(lvov_y, 2)]
        if ov_x:
            default += [(ov_x[i], "~~", ov_x[j]) for i in range(len(ov_x))
                        for j in range(i, len(ov_x))]
    if meanstructure:
        default += [(v, "~1", "") for v in observed + lv]
    keys = set()
    for r in user_rows:
        keys.add((r["lhs"], r["op"], r["rhs"]))
        if r["op"] == "~~":
            keys.add((r["rhs"], "~~", r["lhs"]))
    default = [d for d in default if d not in keys]

    rows = []
    for r in user_rows:
        rows.append({"lhs": r["lhs"], "op": r["op"], "rhs": r["rhs"], "user": 1,
                     "free": True, "ustart": math.nan, "label": "", "exo": False,
                     "start": math.nan, "_mods": r["mods"]})
    for (a, op, b) in default:
        rows.append({"lhs": a, "op": op, "rhs": b, "user": 0, "free": True,
                     "ustart": math.nan, "label": "", "exo": False, "start": math.nan,
                     "_mods": []})
    if auto:
        # auto.fix.first
        seen = set()
        for r in rows:
            if r["op"] == "=~" and r["lhs"] not in seen:
                seen.add(r["lhs"])
                r["free"], r["ustart"] = False, 1.0
        # auto.fix.single: single indicator -> residual variance fixed to 0
        counts: dict[str, int] = {}
        for r in rows:
            if r["op"] == "=~":
                counts[r["lhs"]] = counts.get(r["lhs"], 0) + 1
        rhs_mm = [r["rhs"] for r in rows if r["op"] == "=~"]
        single = [r["rhs"] for r in rows if r["op"] == "=~" and counts[r["lhs"]] == 1
                  and r["lhs"] != r["rhs"] and rhs_mm.count(r["rhs"]) == 1]
        for r in rows:
            if r["op"] == "~~" and r["lhs"] == r["rhs"] and r["lhs"] in single and r["user"] == 0:
                r["free"], r["ustart"] = False, 0.0
    if meanstructure:
        for r in rows:
            if r["op"] == "~1" and r["lhs"] in lv and r["user"] == 0:
                r["free"], r["ustart"] = False, 0.0
    if fixed_x and ov_x:
        for r in rows:
            if r["user"] == 0 and ((r["op"] == "~~" and r["lhs"] in ov_x and r["rhs"] in ov_x)
                                   or (r["op"] == "~1" and r["lhs"] in ov_x)):
                r["free"], r["ustart"], r["exo"] = False, math.nan, True
    # user modifiers override the defaults
    for r in rows:
        for t in r.pop("_mods"):
            if t.fixed is not None:
                r["free"], r["ustart"] = False, float(t.fixed)
            if t.free:
                r["free"], r["ustart"] = True, math.nan
            if t.label:
                r["label"] = t.label
            if t.start is not None:
                r["start"] = float(t.start)

    equalities = []
    for f in parsed.formulas:
        if f.op == "==":
            a, b = f.lhs.strip(), f.expr.strip()
            if not (_NAME_RE.match(a) and _NAME_RE.match(b)):
                raise ModelSpecificationError(
                    f"line {f.line}: only equality of two labels (a == b) is supported, got "
                    f"'{f.lhs} == {f.expr}'")
            equalities.append((a, b))
    labels = {r["label"] for r in rows if r["label"]}
    defs = parsed.definitions
    for name, _ in defs:
        if name in labels:
            raise ModelSpecificationError(f"defined parameter {name!r} reuses a parameter label")
    for a, b in equalities:
        for x in (a, b):
            if x not in labels:
                raise ModelSpecificationError(f"equality constraint names unknown label {x!r}")
    return ParTable(rows=rows, observed=observed, latent=latent, ov_x=ov_x, ov_ind=ov_ind,
                    lv_x=lv_x, lv_y=lv_y, ov_y=ov_y, eqs_y=eqs_y, eqs_x=eqs_x,
                    definitions=defs, equalities=equalities, meanstructure=meanstructure)
