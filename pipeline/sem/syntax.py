"""lavaan model syntax: parser and parameter table with lavaan's defaults.

The parser reads the subset of lavaan syntax used by single-group SEM:

* ``f =~ x1 + x2``   measurement (first loading fixed to 1 unless modified)
* ``y ~ x1 + x2``    regression; ``y ~ 1`` an intercept
* ``x1 ~~ x2``       (residual) variance / covariance
* ``ind := a*b``     defined parameter (delta-method SE)
* ``a == b``         equality of two labelled parameters; ``a == 2*b``,
  ``a + b == 1``, ``a > 0``, ``b < a`` general (in)equality constraints over
  labels (:attr:`ParTable.constraints`)
* ``x1 | t1 + t2``   thresholds of an ordinal indicator (op ``|``)
* ``x1 ~*~ x1``      scale factor of an ordinal indicator (delta parameterization)
* modifiers ``a1*x`` (label), ``0.5*x`` (fixed value), ``NA*x`` (free, e.g.
  the marker), ``start(0.5)*x``, ``label("a")*x``, ``equal("a")*x``; modifiers
  may be chained (``NA*a1*x``); shared labels are equality constraints;
  group-specific vectors ``c(a, b)*x``, ``c(1, NA)*x``, ``start(c(.5, .7))*x``
  (one element per group, see :func:`lavaanify` ``ngroups``/``group``);
* comments ``#`` / ``!``, ``;`` as a line break, formulas over several lines,
  several left-hand sides (``y1 + y2 ~ x``).

Names (variables and labels) are Unicode identifiers as lavaan accepts them:
letters of any script (Cyrillic and the Kazakh letters ә ғ қ ң ө ұ ү һ і
included), digits, ``_`` and ``.``, not starting with a digit
(``Лидер =~ Лидер1 + Лидер2``, ``clutched.up``).

Every syntax error is a :class:`~pipeline.core.exceptions.ModelSpecificationError`
naming the line number and the text of the line.  :func:`check_variables`
compares the variables a parsed model names with the columns of a data set
in time linear in the model size, before any parameter table is built.

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
# the one name rule of the project: a Unicode letter, "_" or "." first, then
# letters, digits, "_" and "." (Cyrillic and Kazakh letters), in NFC
from pipeline.core.names import NAME_PATTERN, is_name

__all__ = ["Term", "Formula", "ParsedModel", "ParTable", "parse_model", "lavaanify",
           "check_variables", "model_variables", "is_name", "NAME_PATTERN"]

_OPS = ("=~", "~~", ":=", "==", "<~", "~*~", "~", "<", ">", "|")
_OP_RE = re.compile(r"=~|~~|:=|==|<~|~\*~|~|<=|>=|<|>|\|")

_NAME_RE = re.compile(rf"^{NAME_PATTERN}$")
_THRESHOLD_RE = re.compile(r"^t\d+$")
#: functions allowed in := and constraint expressions
_CONSTRAINT_FUNCS = frozenset({"sqrt", "exp", "log", "abs"})
_NUM_RE = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


@dataclass
class Term:
    """One right-hand-side term: a variable (or ``1``) with its modifiers.

    ``group_fixed`` / ``group_labels`` / ``group_starts`` hold the elements
    of a ``c(...)`` modifier, one per group (``None`` for ``NA``: free, no
    label, no start).
    """

    name: str
    fixed: float | None = None     # numeric modifier
    free: bool = False             # NA* modifier
    label: str = ""
    start: float | None = None
    group_fixed: list | None = None
    group_labels: list | None = None
    group_starts: list | None = None

    @property
    def ngroups_required(self) -> int:
        """Length of the ``c(...)`` vectors of this term (0: none)."""
        return max(len(v) for v in (self.group_fixed, self.group_labels, self.group_starts, [])
                   if v is not None) if any(v is not None for v in (
                       self.group_fixed, self.group_labels, self.group_starts)) else 0


@dataclass
class Formula:
    lhs: str
    op: str
    terms: list[Term]
    line: int
    expr: str = ""                 # right-hand side of := / == / < / >
    text: str = ""                 # the statement as written


@dataclass
class ParsedModel:
    """The formulas of a model, as written (before lavaan's defaults)."""

    formulas: list[Formula]
    text: str

    @property
    def definitions(self) -> list[tuple[str, str]]:
        return [(f.lhs, f.expr) for f in self.formulas if f.op == ":="]

    @property
    def ngroups_required(self) -> int:
        """Largest ``c(...)`` length in the model (0: no group-specific modifier)."""
        return max((t.ngroups_required for f in self.formulas for t in f.terms), default=0)


def _split_top(s: str, sep: str) -> list[str]:
    """Split on *sep* outside parentheses (and not inside numbers like 1e+3)."""
    out, depth, cur = [], 0, []
    for ch in s:
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


def _err(lineno: int, text: str, what: str) -> ModelSpecificationError:
    """A syntax error naming the line number and the line's text."""
    return ModelSpecificationError(f"model syntax line {lineno}: {what} in {text.strip()!r}")


def _statements(text: str) -> list[tuple[str, int]]:
    """Strip comments, split on newlines/';', join continuation lines.

    Returns ``(statement, first line number)``; a statement continued over
    several lines (a line ending in ``+``, ``*``, an operator, or a line
    without an operator) keeps the number of its first line.
    """
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
    except (SyntaxError, ValueError, TypeError, ZeroDivisionError, OverflowError):
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


def _vector_elements(arg: str, lineno: int, stmt: str) -> list[str]:
    """Elements of ``c(a, b, ...)`` (quotes removed)."""
    elems = [e.strip().strip("'\"") for e in _split_top(arg, ",")]
    if any(e == "" for e in elems):
        raise _err(lineno, stmt, f"empty element in c({arg})")
    return elems


def _parse_vector(term: Term, kind: str, elems: list[str], lineno: int, stmt: str) -> None:
    """Store the elements of a ``c(...)`` modifier on *term* (kind: value/start/label)."""
    if kind == "label":
        labels = []
        for e in elems:
            if e in ("NA", "na"):
                labels.append(None)
            elif is_name(e):
                labels.append(e)
            else:
                raise _err(lineno, stmt, f"{e!r} is not a label name in c(...)")
        term.group_labels = labels
        return
    nums = []
    for e in elems:
        if e in ("NA", "na"):
            nums.append(None)
            continue
        v = _number(e)
        if v is None:
            raise _err(lineno, stmt, f"{e!r} is not a number in c(...)")
        nums.append(v)
    if kind == "start":
        term.group_starts = nums
    else:
        term.group_fixed = nums


def _parse_term(tok: str, lineno: int, stmt: str) -> Term:
    parts = [p.strip() for p in _split_top(tok, "*")]
    if any(p == "" for p in parts):
        raise _err(lineno, stmt, f"empty factor in the term {tok.strip()!r}")
    name = parts[-1]
    term = Term(name=name)
    for mod in parts[:-1]:
        m = re.match(r"^(start|label|equal|c)\((.*)\)$", mod, flags=re.S)
        if m:
            fn, arg = m.group(1), m.group(2).strip()
            inner = re.match(r"^c\((.*)\)$", arg, flags=re.S)
            if fn == "c" or inner:
                elems = _vector_elements(inner.group(1) if inner else arg, lineno, stmt)
                if fn == "start":
                    kind = "start"
                elif fn in ("label", "equal"):
                    kind = "label"
                else:   # c(...): labels if any element is a name, else values
                    kind = "label" if any(is_name(e) for e in elems) else "value"
                _parse_vector(term, kind, elems, lineno, stmt)
                continue
            arg = arg.strip("'\"")
            if fn == "start":
                val = _number(arg)
                if val is None:
                    raise _err(lineno, stmt, f"start({arg}) needs a number")
                term.start = val
            else:
                if not is_name(arg):
                    raise _err(lineno, stmt, f"{arg!r} is not a label name")
                term.label = arg
            continue
        if mod in ("NA", "na"):
            term.free = True
            continue
        val = _number(mod)
        if val is not None:
            if not math.isfinite(val):
                raise _err(lineno, stmt, f"the value {mod!r} is not finite")
            term.fixed = val
            continue
        if is_name(mod):
            term.label = mod
            continue
        raise _err(lineno, stmt, f"cannot read the modifier {mod!r}")
    if name != "1" and not is_name(name):
        raise _err(lineno, stmt, f"{name!r} is not a variable name")
    return term


def _check_expression(expr: str, lineno: int, stmt: str) -> None:
    """An (in)equality side: numbers, names, + - * / ^ ( ) and function calls."""
    if not expr.strip():
        raise _err(lineno, stmt, "empty side of a constraint")
    try:
        ast.parse(_python_expression(expr)[0], mode="eval")
    except SyntaxError:
        raise _err(lineno, stmt, f"cannot read the expression {expr.strip()!r}") from None


_EXPR_NAME_RE = re.compile(NAME_PATTERN)


def _python_expression(expr: str) -> tuple[str, dict[str, str]]:
    """Rewrite a lavaan expression into Python: names become ``_n0, _n1, ...``
    (lavaan names may hold dots), ``^`` becomes ``**``.  Returns the text and
    the map placeholder -> name."""
    names: dict[str, str] = {}
    rev: dict[str, str] = {}
    out, pos = [], 0
    for m in _EXPR_NAME_RE.finditer(expr):
        start = m.start()
        # a name may not continue a number (1e5, 2.5): skip those matches
        if start > 0 and (expr[start - 1].isdigit() or expr[start - 1] == ".") and \
                re.match(r"^[eE.]?\d*$", m.group(0)):
            continue
        nm = m.group(0)
        if re.fullmatch(r"\.\d*", nm):   # ".5" is a number
            continue
        out.append(expr[pos:start])
        if nm not in rev:
            rev[nm] = f"_n{len(rev)}"
            names[rev[nm]] = nm
        out.append(rev[nm])
        pos = m.end()
    out.append(expr[pos:])
    return "".join(out).replace("^", "**"), names


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
        On syntax lavaan would reject (naming the line number and its text:
        an empty term as in ``L =~ L1 + + L2``, a trailing ``+``, a missing
        side, a bad name) or that this engine does not support (``<~``
        composites, ``~*~`` scale parameters).

    In R: ``lavaan::lavParseModelString(model)``.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str of lavaan syntax, got {type(text).__name__}")
    formulas: list[Formula] = []
    for stmt, lineno in _statements(text):
        m = _OP_RE.search(stmt)
        if m is None:
            raise _err(lineno, stmt, "no operator (=~, ~, ~~, :=, ==, <, >, |)")
        op = m.group(0)
        lhs, rhs = stmt[:m.start()].strip(), stmt[m.end():].strip()
        if op == "<~":
            raise _err(lineno, stmt, f"the operator {op!r} is not supported by this engine")
        if not lhs or not rhs:
            raise _err(lineno, stmt, "incomplete formula (a side is empty)")
        if op in (":=", "==", "<", ">", "<=", ">="):
            op = {"<=": "<", ">=": ">"}.get(op, op)
            if op == ":=":
                if not is_name(lhs):
                    raise _err(lineno, stmt, f"{lhs!r} is not a name for a defined parameter")
            else:
                _check_expression(lhs, lineno, stmt)
            _check_expression(rhs, lineno, stmt)
            formulas.append(Formula(lhs=lhs, op=op, terms=[], line=lineno, expr=rhs, text=stmt))
            continue
        lhs_names = [s.strip() for s in lhs.split("+")]
        for nm in lhs_names:
            if not is_name(nm):
                raise _err(lineno, stmt, f"{nm!r} is not a variable name")
        pieces = _split_top(rhs, "+")
        for k, t in enumerate(pieces):
            if not t.strip():
                where = "a trailing '+'" if k == len(pieces) - 1 else (
                    "a leading '+'" if k == 0 else "an empty term ('+ +')")
                raise _err(lineno, stmt, where)
        terms = [_parse_term(t, lineno, stmt) for t in pieces]
        for t in terms:
            if t.name == "1" and op != "~":
                raise _err(lineno, stmt, "'1' is only allowed in 'y ~ 1'")
        if op == "|":
            for t in terms:
                if not _THRESHOLD_RE.match(t.name):
                    raise _err(lineno, stmt, f"threshold names are t1, t2, ...; got {t.name!r}")
        if op == "~*~":
            for t in terms:
                if t.name not in lhs_names:
                    raise _err(lineno, stmt, "a scale factor is written 'y ~*~ y' (same variable "
                                             "on both sides)")
        for nm in lhs_names:
            if op == "~" and all(t.name == "1" for t in terms):
                formulas.append(Formula(lhs=nm, op="~1", terms=terms, line=lineno, text=stmt))
            elif op == "~" and any(t.name == "1" for t in terms):
                formulas.append(Formula(lhs=nm, op="~1", line=lineno, text=stmt,
                                        terms=[t for t in terms if t.name == "1"]))
                formulas.append(Formula(lhs=nm, op="~", line=lineno, text=stmt,
                                        terms=[t for t in terms if t.name != "1"]))
            else:
                formulas.append(Formula(lhs=nm, op=op, terms=terms, line=lineno, text=stmt))
    if not any(f.op in ("=~", "~", "~~", "~1") for f in formulas):
        raise ModelSpecificationError("model syntax contains no =~, ~ or ~~ formula")
    return ParsedModel(formulas=formulas, text=text)


def model_variables(model: str | ParsedModel) -> tuple[list[str], list[str]]:
    """``(observed, latent)`` names of a model, from the formulas alone.

    Latent variables are the left-hand sides of ``=~``; every other name in
    a ``=~``, ``~``, ``~~``, ``~1`` or ``|`` formula is observed.  Linear in
    the size of the model (no parameter table is built).

    In R: ``lavNames(lavaanify(model), "ov")``, ``lavNames(..., "lv")``.
    """
    parsed = parse_model(model) if isinstance(model, str) else model
    latent = _uniq(f.lhs for f in parsed.formulas if f.op == "=~")
    lat = set(latent)
    seen: set[str] = set()
    observed: list[str] = []
    for f in parsed.formulas:
        if f.op not in ("=~", "~", "~~", "~1", "|", "~*~"):
            continue
        names = [f.lhs] + ([t.name for t in f.terms] if f.op not in ("~1", "|") else [])
        for nm in names:
            if nm != "1" and nm not in lat and nm not in seen:
                seen.add(nm)
                observed.append(nm)
    return observed, latent


def check_variables(model: str | ParsedModel, columns, *, source: str | None = None) -> list[str]:
    """Check that every observed variable of *model* is a column of the data.

    Runs on the parsed formulas in time linear in the model (a model of
    thousands of factors is checked in milliseconds), so a model naming
    unknown variables fails before any parameter table or matrix is built.

    Parameters
    ----------
    model : str or ParsedModel
        lavaan syntax.
    columns : iterable of str
        The data's column names.
    source : str, optional
        The data file's name, for the message.

    Returns
    -------
    list of str
        The observed variables, in the order they first appear.

    Raises
    ------
    ModelSpecificationError
        Listing every unknown variable (the first 20 and a count) with the
        line of the model where each first appears.

    In R: lavaan stops with "some (observed) variables specified in the model
    are not found in the dataset".
    """
    parsed = parse_model(model) if isinstance(model, str) else model
    observed, _ = model_variables(parsed)
    cols = set(map(str, columns))
    unknown = [v for v in observed if v not in cols]
    if unknown:
        first_line: dict[str, int] = {}
        for f in parsed.formulas:
            for nm in [f.lhs] + [t.name for t in f.terms]:
                first_line.setdefault(nm, f.line)
        shown = ", ".join(f"{v} (line {first_line.get(v, '?')})" for v in unknown[:20])
        more = f" and {len(unknown) - 20} more" if len(unknown) > 20 else ""
        raise ModelSpecificationError(
            f"the model names {len(unknown)} variable(s) not in the data"
            + (f" ({source})" if source else "") + f": {shown}{more}")
    return observed

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
    #: general constraints ``(lhs expression, op, rhs expression, line)`` with op
    #: ``==`` (beyond label == label), ``<`` or ``>``
    constraints: list[tuple[str, str, str, int]] = field(default_factory=list)

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
              fixed_x: bool = True, auto: bool = True, ngroups: int = 1,
              group: int = 0) -> ParTable:
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
    ngroups : int
        Number of groups of the fit: every ``c(...)`` modifier must have
        this many elements.
    group : int
        Which group's table (0-based): element ``group`` of each ``c(...)``
        modifier applies; modifiers without ``c()`` apply to every group.

    Returns
    -------
    ParTable

    In R: ``lavaanify(model, auto.var=TRUE, auto.fix.first=TRUE,
    auto.fix.single=TRUE, auto.cov.lv.x=TRUE, auto.cov.y=TRUE,
    fixed.x=TRUE, meanstructure=..., ngroups=...)`` (rows of one group).
    """
    parsed = parse_model(model) if isinstance(model, str) else model
    if not isinstance(ngroups, int) or ngroups < 1:
        raise ValueError(f"ngroups must be a positive int, got {ngroups!r}")
    if not isinstance(group, int) or not 0 <= group < ngroups:
        raise ValueError(f"group must be an int in [0, {ngroups}), got {group!r}")
    for f in parsed.formulas:
        for t in f.terms:
            k = t.ngroups_required
            if k and k != ngroups:
                raise ModelSpecificationError(
                    f"model syntax line {f.line}: the modifier c(...) of {t.name!r} has {k} "
                    f"element(s) but the fit has {ngroups} group(s) in {f.text.strip()!r}"
                    + (" (group-specific values need group=...)" if ngroups == 1 else ""))
    flat = [f for f in parsed.formulas if f.op in ("=~", "~", "~~", "~1", "|", "~*~")]
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
    lv_set = set(lv)
    ov_ind = [v for v in v_ind if v not in lv_set]
    ov_ind_set = set(ov_ind)
    ov_y_tmp = [v for v in eqs_y if v not in lv_set and v not in ov_ind_set]
    ov_y_tmp_set = set(ov_y_tmp)
    ov_x = [v for v in eqs_x if v not in lv_set and v not in ov_ind_set
            and v not in ov_y_tmp_set]
    # x variables with user-written variances/covariances/intercepts become random
    user_vars = set()
    for r in user_rows:
        if r["op"] == "~1":
            user_vars.add(r["lhs"])
        elif r["op"] == "~~":
            user_vars.update([r["lhs"], r["rhs"]])
    ov_x = [v for v in ov_x if v not in user_vars]
    ov_cov = [v for r in user_rows if r["op"] == "~~" for v in (r["lhs"], r["rhs"])
              if v not in lv_set]
    ov_int = [r["lhs"] for r in user_rows if r["op"] in ("~1", "|", "~*~")
              and r["lhs"] not in lv_set]
    ov_tmp = _uniq(ov_ind + ov_y_tmp + [v for v in eqs_x if v not in lv_set
                                         and v not in ov_ind_set and v not in ov_y_tmp_set])
    ov_extra = _uniq(ov_cov + ov_int)
    ov_tmp_set = set(ov_tmp)
    observed = ov_tmp + [v for v in ov_extra if v not in ov_tmp_set]
    ov_x_set = set(ov_x)
    ov_nox = [v for v in observed if v not in ov_x_set]
    v_ind_set, eqs_y_set, eqs_x_set = set(v_ind), set(eqs_y), set(eqs_x)
    lv_x = [v for v in lv if v not in v_ind_set and v not in eqs_y_set]
    ov_y = [v for v in observed if v in eqs_y_set and v not in v_ind_set
            and v not in eqs_x_set and v not in lv_set]
    lv_y = [v for v in lv if v in eqs_y_set and v not in v_ind_set and v not in eqs_x_set]
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
        rhs_count: dict[str, int] = {}
        for r in rows:
            if r["op"] == "=~":
                rhs_count[r["rhs"]] = rhs_count.get(r["rhs"], 0) + 1
        single = {r["rhs"] for r in rows if r["op"] == "=~" and counts[r["lhs"]] == 1
                  and r["lhs"] != r["rhs"] and rhs_count[r["rhs"]] == 1}
        for r in rows:
            if r["op"] == "~~" and r["lhs"] == r["rhs"] and r["lhs"] in single and r["user"] == 0:
                r["free"], r["ustart"] = False, 0.0
    if meanstructure:
        for r in rows:
            if r["op"] == "~1" and r["lhs"] in lv_set and r["user"] == 0:
                r["free"], r["ustart"] = False, 0.0
    if fixed_x and ov_x:
        for r in rows:
            if r["user"] == 0 and ((r["op"] == "~~" and r["lhs"] in ov_x_set
                                    and r["rhs"] in ov_x_set)
                                   or (r["op"] == "~1" and r["lhs"] in ov_x_set)):
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
            if t.group_fixed is not None:
                v = t.group_fixed[group]
                if v is None:
                    r["free"], r["ustart"] = True, math.nan
                else:
                    r["free"], r["ustart"] = False, float(v)
            if t.group_labels is not None:
                r["label"] = t.group_labels[group] or ""
            if t.group_starts is not None and t.group_starts[group] is not None:
                r["start"] = float(t.group_starts[group])

    labels = {r["label"] for r in rows if r["label"]}
    defs = parsed.definitions
    def_names = {name for name, _ in defs}
    for f in parsed.formulas:
        if f.op == ":=" and f.lhs in labels:
            raise ModelSpecificationError(
                f"model syntax line {f.line}: the defined parameter {f.lhs!r} reuses a "
                f"parameter label in {f.text.strip()!r}")
    equalities: list[tuple[str, str]] = []
    constraints: list[tuple[str, str, str, int]] = []
    # labels of every group (c(...) vectors): a constraint may name another group's label
    all_labels = labels | {lab for f in parsed.formulas for t in f.terms
                           for lab in (t.group_labels or []) if lab} | {
                               t.label for f in parsed.formulas for t in f.terms if t.label}
    known = all_labels | def_names
    for f in parsed.formulas:
        if f.op not in ("==", "<", ">"):
            continue
        a, b = f.lhs.strip(), f.expr.strip()
        for side in (a, b):
            _, names = _python_expression(side)
            for nm in names.values():
                if nm not in known and nm not in _CONSTRAINT_FUNCS:
                    raise ModelSpecificationError(
                        f"model syntax line {f.line}: the constraint names the unknown label "
                        f"{nm!r} in {f.text.strip()!r} (labels: "
                        f"{', '.join(sorted(labels)[:20]) or 'none'})")
        if f.op == "==" and a in all_labels and b in all_labels:
            equalities.append((a, b))
        else:
            constraints.append((a, f.op, b, f.line))
    return ParTable(rows=rows, observed=observed, latent=latent, ov_x=ov_x, ov_ind=ov_ind,
                    lv_x=lv_x, lv_y=lv_y, ov_y=ov_y, eqs_y=eqs_y, eqs_x=eqs_x,
                    definitions=defs, equalities=equalities, meanstructure=meanstructure,
                    constraints=constraints)
