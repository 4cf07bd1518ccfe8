"""Numbers as a paper prints them (APA 7th ed., section 6.36): display only.

Every cell a reader sees goes through this module; the CSV files keep full
precision.  No function here returns an unrounded float, and no cell of
:func:`format_frame` is anything but a string.

Kinds of values and how they are written
----------------------------------------
=========  =====================================================  ==================
kind       lavaan / AMOS / table names (case-insensitive)          example
=========  =====================================================  ==================
``p``      pvalue, p, P, pclose, rmsea.pvalue, "Bartlett p"        ``< .001``, ``.034``
``count``  n, N, df, npar, ntotal, nobs, count, k, freq, B         ``100``, ``5,000``
``coef``   est, se, Estimate, S.E., std.lv, ci.lower, epc, mean    ``0.412``, ``-1.250``
``bounded`` cfi, tli, rmsea, srmr, gfi, alpha, omega, cr, ave,     ``.956``, ``-.41``
           r2/R², std.all, htmt, kmo, loading, r                   (``1.02`` when > 1)
``stat``   z, C.R., chisq, Chi-square, mi, t, F, aic, bic, logl    ``2.46``, ``293.16``
``pct``    %, pct, percent                                         ``66.7``
``bool``   a bool column                                           ``yes`` / ``no``
``number`` anything else that is numeric                           ``26.154``, ``4``
=========  =====================================================  ==================

* ``p``: three decimals without the leading zero; below .001 ``< .001``,
  above .999 ``> .999`` (APA 6.36: "report exact p values ... to two or
  three decimal places ... p < .001").
* ``bounded``: statistics that cannot exceed 1 in absolute value are
  written without the leading zero (APA 6.36); a value beyond 1 (a Heywood
  case in ``std.all``) keeps it, so nothing is hidden.
* ``count``: an integer; thousands are grouped with commas (APA 6.38).  A
  non-integral count (a scaled df) is written with two decimals.
* ``number``: an integral value as an integer, otherwise three decimals
  below 100 and two from 100 on.
* Missing values are ``—`` (em dash); ``-0.000`` is written ``0.000``.

A long table (one row per statistic, e.g. the fit table with a ``name``
column of lavaan fit-measure names, or a scorecard ``key`` such as
``cs2019.fit.rmsea``) is formatted row by row: in a column whose own name
says nothing (``value``, ``published``, ``computed``), the row's label
decides the kind.

References
----------
American Psychological Association (2020). *Publication manual of the
American Psychological Association* (7th ed.), sections 6.36 (decimal
places, leading zero), 6.38 (commas in numbers), 7.1-7.21 (tables).

In R: ``papaja::apa_p()`` and ``papaja::apa_num()``; ``lavaan`` prints
``parameterEstimates()`` with ``print(..., nd = 3)``.
"""
from __future__ import annotations

import math
import numbers
import re
from typing import Any, Mapping

import numpy as np
import pandas as pd

__all__ = ["KINDS", "NA", "format_p", "format_number", "format_count", "format_bool",
           "format_value", "column_kind", "format_frame", "html_table", "APA_CSS"]

#: The kinds :func:`format_value` knows.
KINDS = ("p", "count", "coef", "bounded", "stat", "pct", "bool", "number", "text")

#: What a missing value looks like.
NA = "\u2014"

# exact (normalized) names first: lavaan's dotted names and AMOS's headers
_EXACT: dict[str, str] = {
    "p": "p", "pvalue": "p", "p.value": "p", "p-value": "p", "pr(>|z|)": "p", "sig": "p",
    "sig.": "p", "pclose": "p", "rmsea.pvalue": "p", "baseline.pvalue": "p",
    "chisq.pvalue": "p", "chisq.scaled.pvalue": "p", "p_value": "p",
    "est": "coef", "estimate": "coef", "se": "coef", "s.e.": "coef", "std.err": "coef",
    "std.lv": "coef", "ci.lower": "coef", "ci.upper": "coef", "epc": "coef", "sepc.lv": "coef",
    "b": "coef", "mean": "coef", "sd": "coef", "median": "coef", "skew": "coef",
    "skewness": "coef", "kurtosis": "coef", "min": "coef", "max": "coef", "var": "coef",
    "std.all": "bounded", "std.nox": "bounded", "sepc.all": "bounded", "sepc.nox": "bounded",
    "beta": "bounded", "β": "bounded", "r": "bounded", "rho": "bounded", "r2": "bounded",
    "r²": "bounded", "rsquare": "bounded", "r-square": "bounded", "h2": "bounded",
    "u2": "bounded", "com": "coef", "alpha": "bounded", "raw_alpha": "bounded",
    "std.alpha": "bounded", "omega": "bounded", "cr": "bounded", "ave": "bounded",
    "htmt": "bounded", "kmo": "bounded", "msa": "bounded", "r.drop": "bounded",
    "r.cor": "bounded", "loading": "bounded", "standardized": "bounded",
    "standardized estimate": "bounded", "w": "bounded", "shapiro_w": "bounded",
    "r_drop": "bounded", "r_cor": "bounded", "smc": "bounded", "max_r": "bounded",
    "rank_biserial": "bounded", "cramers_v": "bounded", "cles": "bounded", "kendall_w": "bounded",
    "eta2": "bounded", "epsilon2": "bounded", "omega2": "bounded", "phi": "bounded",
    "corrected item-total correlation": "bounded", "item-total correlation": "bounded",
    "z": "stat", "z-value": "stat", "z.value": "stat", "c.r.": "stat", "t": "stat",
    "f": "stat", "mi": "stat", "chisq": "stat", "chi2": "stat", "χ²": "stat", "x2": "stat",
    "cmin": "stat", "cmin_df": "stat", "cmin/df": "stat", "chisq/df": "stat", "aic": "stat",
    "bic": "stat", "bic2": "stat", "logl": "stat", "unrestricted.logl": "stat",
    "statistic": "stat", "ecvi": "stat",
    "n": "count", "df": "count", "npar": "count", "ntotal": "count", "nobs": "count",
    "ngroups": "count", "count": "count", "freq": "count", "frequency": "count", "k": "count",
    "items": "count", "n_items": "count", "b_used": "count", "iterations": "count",
    "%": "pct", "pct": "pct", "percent": "pct", "percentage": "pct",
}
for _m in ("cfi", "tli", "nnfi", "rfi", "nfi", "ifi", "rni", "gfi", "agfi", "pgfi", "pnfi", "mfi",
           "rmsea", "srmr", "srmr_bentler", "crmr", "wrmr"):
    _EXACT[_m] = "bounded"
_EXACT.update({"scaled": "stat", "baseline": "stat"})
#: segments of a dotted name that say nothing on their own
_WEAK = frozenset({"lower", "upper", "ci", "scaled", "robust", "baseline", "b", "t", "f", "k",
                   "n", "p", "r", "z", "sd", "min", "max", "var", "mean", "alpha", "h2", "u2",
                   "w", "beta", "com"})
# then single tokens of a longer label ("Bartlett p", "ACSA %", "rmsea.ci.lower")
_TOKENS: list[tuple[str, frozenset[str]]] = [
    ("p", frozenset({"p", "pvalue", "pclose"})),
    ("pct", frozenset({"%", "pct", "percent", "percentage"})),
    ("count", frozenset({"n", "df", "npar", "ntotal", "nobs", "count", "counts", "freq",
                         "frequency", "respondents", "distributed", "returned", "valid",
                         "rejected", "excluded"})),
    ("stat", frozenset({"chisq", "z", "mi", "aic", "bic", "logl", "cmin", "statistic", "f"})),
    ("bounded", frozenset({"cfi", "tli", "nnfi", "rfi", "nfi", "ifi", "rni", "gfi", "agfi",
                           "pgfi", "pnfi", "mfi", "rmsea", "srmr", "alpha", "omega", "ave",
                           "cr", "htmt", "kmo", "msa", "r2", "r²", "loading", "loadings",
                           "correlation", "communality"})),
    ("coef", frozenset({"est", "se", "estimate", "mean", "sd", "effect", "indirect", "direct",
                        "total", "epc", "lower", "upper"})),
]
_GENERIC = frozenset({"value", "values", "published", "computed", "reproduced", "result",
                      "observed", "expected", "difference", "diff", "delta", "stat_value",
                      "number", "x", "estimate_value", ""})
#: one-letter labels that name variables far more often than statistics
_VARIABLE_LIKE = frozenset({"r", "b", "t", "f", "k", "z", "w", "s", "l", "o", "c", "e"})
_LABEL_COLUMNS = ("name", "measure", "statistic", "key", "quantity", "index", "parameter")
_FLOAT_TEXT = re.compile(r"^[+-]?(\d+\.\d*|\.\d+)([eE][+-]?\d+)?$")
_LONG_FLOAT_TEXT = re.compile(r"^[+-]?\d*\.\d{4,}([eE][+-]?\d+)?$")


def _normalize(name: Any) -> str:
    s = str(name).strip().lower()
    s = re.sub(r"chi[\s-]?square[d]?|chi²", "chisq", s)
    return s


def column_kind(name: Any, values: pd.Series | None = None) -> str:
    """Kind of the values of a column (or row) called *name*.

    Parameters
    ----------
    name : object
        Column name or row label (a lavaan name such as ``pvalue``,
        ``std.all``, ``rmsea.ci.lower``; an AMOS header such as ``C.R.``; a
        scorecard key such as ``cs2019.fit.cfi``; a label such as
        ``"Bartlett p"``).  A tuple (MultiIndex column) uses its last level.
    values : Series, optional
        The column: a bool column is ``bool``, a column of text only is
        ``text`` whatever its name.

    Returns
    -------
    str
        One of :data:`KINDS`; ``number`` when the name says nothing.

    In R: no equivalent (``papaja`` chooses by the function called).
    """
    if values is not None:
        if pd.api.types.is_bool_dtype(values.dtype):
            return "bool"
        present = values.dropna()
        if len(present) and all(isinstance(v, (bool, np.bool_)) for v in present):
            return "bool"
        if len(present) and all(isinstance(v, str) and not _FLOAT_TEXT.match(v.strip())
                                for v in present):
            return "text"
    if isinstance(name, tuple):
        name = name[-1] if name else ""
    s = _normalize(name)
    if s in _EXACT:
        return _EXACT[s]
    # a dotted key: its last segment first (cs2019.fit.rmsea -> rmsea), then
    # its first (rmsea.ci.lower, chisq.scaled, cfi.robust)
    if "." in s and not s.startswith(".") and not _FLOAT_TEXT.match(s):
        segs = s.split(".")
        if segs[-1] in _EXACT and segs[-1] not in _WEAK:
            return _EXACT[segs[-1]]
        if segs[0] in _EXACT and segs[0] not in _WEAK:
            return _EXACT[segs[0]]
    tokens = [t for t in re.split(r"[\s_\-()/,:;=\[\].]+", s) if t]
    for t in tokens:                        # '%' glued to a word ("ACSA%")
        if t.endswith("%") and t != "%":
            tokens.append("%")
    for kind, vocab in _TOKENS:
        if any(t in vocab for t in tokens):
            return kind
    return "number"


def _is_missing(x: Any) -> bool:
    if x is None or x is pd.NA or x is pd.NaT:
        return True
    try:
        return bool(isinstance(x, (float, np.floating)) and math.isnan(x))
    except TypeError:
        return False


def _real(x: Any, arg: str) -> float:
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, numbers.Real):
        raise TypeError(f"{arg}: expected a real number, got {type(x).__name__} {x!r}")
    return float(x)


def _fixed(v: float, digits: int, leading_zero: bool = True) -> str:
    if math.isinf(v):
        return "\u221e" if v > 0 else "-\u221e"
    s = f"{v:.{digits}f}"
    if float(s) == 0.0:
        s = s.lstrip("-")                   # no "-0.000"
    if not leading_zero and abs(float(s)) < 1:
        s = s.replace("0.", ".", 1)
    return s


def format_p(p: Any, *, digits: int = 3, na_rep: str = NA) -> str:
    """A p-value as APA prints it: ``< .001``, ``.034``, ``> .999``.

    Parameters
    ----------
    p : float
        In [0, 1].
    digits : int
        Decimal places (2 or 3); the floor is ``< .001`` for 3, ``< .01`` for 2.
    na_rep : str
        Text of a missing value.

    Returns
    -------
    str

    Raises
    ------
    ValueError
        *p* outside [0, 1] (a p-value that is not one is a bug upstream).

    In R: ``papaja::apa_p(p)``; ``format.pval(p, eps = .001)``.
    """
    if _is_missing(p):
        return na_rep
    v = _real(p, "p")
    if not 0.0 <= v <= 1.0:
        raise ValueError(f"p: a p-value must lie in [0, 1], got {v!r}")
    if digits not in (2, 3):
        raise ValueError(f"digits: 2 or 3, got {digits!r}")
    floor = 10.0 ** -digits
    if v < floor:
        return "< " + _fixed(floor, digits, leading_zero=False)
    if round(v, digits) >= 1.0:
        return "> " + _fixed(1 - floor, digits, leading_zero=False)
    return _fixed(v, digits, leading_zero=False)


def format_count(x: Any, *, na_rep: str = NA) -> str:
    """A count as an integer with thousands separators (``5,000``).

    A value that is not integral (a scaled df, a mean count) keeps two decimals.

    In R: ``format(x, big.mark = ",")``.
    """
    if _is_missing(x):
        return na_rep
    v = _real(x, "x")
    if math.isinf(v):
        return _fixed(v, 0)
    if float(v).is_integer():
        return f"{int(v):,}"
    return f"{v:,.2f}"


def format_bool(x: Any, *, words: tuple[str, str] = ("yes", "no"), na_rep: str = NA) -> str:
    """``True``/``False`` as words (``yes``/``no`` by default).

    In R: ``ifelse(x, "yes", "no")``.
    """
    if _is_missing(x):
        return na_rep
    if isinstance(x, (bool, np.bool_)):
        return words[0] if x else words[1]
    if isinstance(x, str) and x.strip().lower() in ("true", "false"):
        return words[0] if x.strip().lower() == "true" else words[1]
    if isinstance(x, numbers.Real) and float(x) in (0.0, 1.0):
        return words[0] if float(x) == 1.0 else words[1]
    raise TypeError(f"x: expected a bool, got {type(x).__name__} {x!r}")


def format_number(x: Any, *, digits: int = 3, leading_zero: bool = True,
                  na_rep: str = NA) -> str:
    """A real number with *digits* decimals (``-0.000`` is ``0.000``).

    *leading_zero* = False drops the zero of a value below 1 in absolute
    value (``.956``), as APA asks for statistics bounded by 1.

    In R: ``papaja::apa_num(x, digits = 3, gt1 = TRUE)``.
    """
    if _is_missing(x):
        return na_rep
    return _fixed(_real(x, "x"), int(digits), leading_zero)


def format_value(x: Any, kind: str = "number", *, digits: int | None = None,
                 na_rep: str = NA) -> str:
    """Format one value as its *kind* says (see the module docstring).

    Parameters
    ----------
    x : object
        Number, bool, text, ``None``/NaN.  Text is returned unchanged unless
        it is a number written out (``"26.153846153846153"`` from a CSV round
        trip), which is formatted like a number.
    kind : str
        One of :data:`KINDS`.
    digits : int, optional
        Overrides the kind's decimals (p: 2 or 3; coef/bounded 3; stat 2;
        pct 1).
    na_rep : str
        Text of a missing value.

    Returns
    -------
    str

    In R: ``papaja::apa_num()`` / ``papaja::apa_p()``.
    """
    if kind not in KINDS:
        raise ValueError(f"kind: one of {KINDS}, got {kind!r}")
    if _is_missing(x):
        return na_rep
    if isinstance(x, (bool, np.bool_)):
        return format_bool(x)
    if isinstance(x, str):
        t = x.strip()
        if kind in ("text",) or not _FLOAT_TEXT.match(t):
            if _LONG_FLOAT_TEXT.match(t):       # an unrounded float that came as text
                return format_value(float(t), "number", digits=digits, na_rep=na_rep)
            return x
        x = float(t)
    if isinstance(x, (np.integer, np.floating)):
        x = x.item()
    if not isinstance(x, numbers.Real):
        return str(x)
    v = float(x)
    if kind == "p":
        return format_p(v, digits=digits or 3, na_rep=na_rep)
    if kind == "count":
        return format_count(v, na_rep=na_rep)
    if kind == "bool":
        return format_bool(x, na_rep=na_rep) if v in (0.0, 1.0) else _fixed(v, digits or 3)
    if kind == "coef":
        return _fixed(v, 3 if digits is None else digits)
    if kind == "bounded":
        return _fixed(v, 3 if digits is None else digits, leading_zero=False)
    if kind == "stat":
        return _fixed(v, 2 if digits is None else digits)
    if kind == "pct":
        return _fixed(v, 1 if digits is None else digits)
    # number / text holding a number
    if not math.isinf(v) and v.is_integer() and digits is None:
        return str(int(v))
    if digits is None:
        digits = 3 if abs(v) < 100 else 2
    return _fixed(v, digits)


def _row_kinds(df: pd.DataFrame) -> list[str] | None:
    """Kinds from a label column (``name``, ``measure``, ``key`` ...) or the index."""
    for col in _LABEL_COLUMNS:
        if col in df.columns and df[col].map(lambda v: isinstance(v, str)).all():
            kinds = [column_kind(v) for v in df[col]]
            if any(k != "number" for k in kinds):
                return kinds
    labels = [t[-1] if isinstance(t, tuple) else t for t in df.index]
    if labels and all(isinstance(v, str) for v in labels):
        kinds = ["number" if _normalize(v) in _VARIABLE_LIKE else column_kind(v) for v in labels]
        if any(k != "number" for k in kinds):
            return kinds
    return None


def _square_kind(df: pd.DataFrame) -> str | None:
    """A matrix of variables by variables (correlations, HTMT, Fornell-Larcker):
    one kind for every column, ``bounded`` when every value lies in [-1, 1]."""
    if df.shape[0] != df.shape[1] or df.shape[0] < 2:
        return None
    if [str(c) for c in df.columns] != [str(i) for i in df.index]:
        return None
    vals = pd.to_numeric(pd.Series(df.to_numpy().ravel()), errors="coerce").dropna()
    if vals.empty:
        return None
    return "bounded" if bool((vals.abs() <= 1 + 1e-9).all()) else "number"


def _all_probabilities(series: pd.Series) -> bool:
    vals = pd.to_numeric(series, errors="coerce").dropna()
    return bool(((vals >= 0) & (vals <= 1)).all())


def format_frame(df: pd.DataFrame, *, kinds: Mapping[Any, str] | None = None,
                 digits: Mapping[Any, int] | int | None = None, na_rep: str = NA,
                 format_index: bool = True) -> pd.DataFrame:
    """A copy of *df* with every cell written as a paper prints it (all strings).

    Parameters
    ----------
    df : DataFrame
        A tidy table with lavaan/AMOS column names, full precision.
    kinds : mapping, optional
        ``{column: kind}`` overriding :func:`column_kind`.
    digits : int or mapping, optional
        Decimals for every numeric column, or ``{column: digits}``; the
        kind's default otherwise.  (``digits=1`` gives percentages one
        decimal; p-values accept 2 or 3 only and keep 3 otherwise.)
    na_rep : str
        Text of missing cells (default em dash).
    format_index : bool
        Also format numeric index labels (floats become rounded text).

    Returns
    -------
    DataFrame
        Same shape, index and columns; every cell a ``str``.  Keep *df*
        itself for the CSV (full precision).

    Notes
    -----
    A column whose name says nothing (``value``, ``published``,
    ``computed``, ``questionnaires`` ...) is formatted row by row with the
    kind of the row's label (from a ``name``/``measure``/``key`` column or the
    index), so a long fit table prints ``df`` as an integer, ``pvalue`` as
    ``.034`` and ``cfi`` as ``.956``.  A matrix whose rows and columns are the
    same variables (correlations, HTMT) has one kind: ``bounded`` when every
    value lies in [-1, 1].  The numbers of a column of kind ``number`` share
    one format: integers only when all of them are whole.

    In R: ``papaja::apa_table(printnum(df))``.
    """
    if isinstance(df, pd.Series):
        df = df.to_frame()
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"df: expected a DataFrame, got {type(df).__name__}")
    kinds = dict(kinds or {})
    for col, k in kinds.items():
        if k not in KINDS:
            raise ValueError(f"kinds: {col!r} has unknown kind {k!r}; known: {KINDS}")
    rows = _row_kinds(df)
    square = _square_kind(df)
    out = pd.DataFrame(index=df.index, columns=df.columns, dtype=object)
    for j, col in enumerate(df.columns):
        series = df.iloc[:, j]
        kind = kinds.get(col) or square or column_kind(col, series)
        if kind == "p" and col not in kinds and not _all_probabilities(series):
            kind = "number"                 # named p but not p-values (psych::mardia's p = k)
        d = digits.get(col) if isinstance(digits, Mapping) else digits
        if kind == "p" and d not in (None, 2, 3):
            d = None
        name = _normalize(col[-1] if isinstance(col, tuple) else col)
        by_row = (rows is not None and col not in kinds and square is None and kind == "number"
                  and (name in _GENERIC or df.shape[1] == 1))
        cell_kinds = [rows[i] if by_row and rows[i] != "number" else kind
                      for i in range(len(series))]
        # one number format per column: integers only when every number is whole
        plain = [v for v, k in zip(series.tolist(), cell_kinds) if k == "number"
                 and isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_))
                 and not _is_missing(v)]
        d_number = d
        if d is None and not by_row and plain and not all(math.isfinite(v) and float(v).is_integer()
                                           for v in plain):
            finite = [abs(v) for v in plain if math.isfinite(v)]
            d_number = 3 if not finite or max(finite) < 100 else 2
        vals = []
        for i, v in enumerate(series.tolist()):
            k = cell_kinds[i]
            if k == "number":
                dd = d_number
            elif k == "p":
                dd = d if d in (2, 3) else None
            else:
                dd = d if not by_row else None
            try:
                vals.append(format_value(v, k, digits=dd,
                                         na_rep="" if k == "text" else na_rep))
            except (TypeError, ValueError) as exc:
                if k != kind:                   # a row label's guess: shown as a number
                    vals.append(format_value(v, kind, digits=d_number, na_rep=na_rep))
                    continue
                raise ValueError(f"column {col!r}, row {df.index[i]!r}: {exc}") from None
        out.iloc[:, j] = vals
    if format_index:
        out.index = _format_labels(df.index)
        out.columns = _format_labels(df.columns)
    return out


def _format_labels(index: pd.Index) -> pd.Index:
    def lab(v: Any) -> Any:
        if isinstance(v, (bool, np.bool_)):
            return format_bool(v)
        if isinstance(v, (float, np.floating)):
            return format_value(v, "number", na_rep="")
        return v
    if isinstance(index, pd.MultiIndex):
        return pd.MultiIndex.from_tuples([tuple(lab(v) for v in t) for t in index],
                                         names=index.names)
    if index.dtype.kind in "fb" or index.dtype == object:
        return pd.Index([lab(v) for v in index], name=index.name, dtype=object)
    return index


#: Styles of :func:`html_table`: APA rules (top, below the header, bottom), no
#: vertical lines, numbers right-aligned; long cells wrap so that no table is
#: wider than the page.
APA_CSS = """
table.apa { border-collapse: collapse; border-top: 2px solid #000; border-bottom: 2px solid #000;
  margin: 0.5em 0 0.2em 0; max-width: 100%; font-size: 0.9em; }
table.apa caption { caption-side: top; text-align: left; padding-bottom: 0.4em; }
table.apa caption .apa-number { font-weight: bold; display: block; }
table.apa caption .apa-title { font-style: italic; }
table.apa thead th { border-bottom: 1px solid #000; vertical-align: bottom; }
table.apa th, table.apa td { padding: 0.2em 0.6em; overflow-wrap: anywhere; border: none; }
table.apa td.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
table.apa tbody th { text-align: left; font-weight: normal; }
p.apa-note { font-size: 0.85em; margin-top: 0.2em; max-width: 100%; }
""".strip()

_NUMERIC_TEXT = re.compile(r"^(<|>)?\s*[+-]?[\d,]*\.?\d+\*{0,3}$|^\u2014$|^\[[a-z]\]$")


def html_table(df: pd.DataFrame, *, caption: str | None = None, number: int | str | None = None,
               note: str | None = None, index: bool = True,
               kinds: Mapping[Any, str] | None = None,
               digits: Mapping[Any, int] | int | None = None) -> str:
    """An APA-style HTML table (formatted by :func:`format_frame`, every text escaped).

    Parameters
    ----------
    df : DataFrame
        Full-precision table.
    caption : str, optional
        The title (italic).
    number : int or str, optional
        "Table *number*" above the title (bold).
    note : str, optional
        Printed below the table as "*Note.* ...".
    index : bool
        Show the index as the first column(s).
    kinds, digits
        Passed to :func:`format_frame`.

    Returns
    -------
    str
        ``<table class="apa">...</table>`` (+ note); deterministic: no
        random ids, so the same table gives the same bytes.  Add
        :data:`APA_CSS` once to the page.

    In R: ``papaja::apa_table(df, caption = ..., note = ...)`` (HTML output).
    """
    import html as _h

    shown = format_frame(df, kinds=kinds, digits=digits)
    esc = _h.escape
    parts = ['<table class="apa">']
    if caption or number is not None:
        cap = []
        if number is not None:
            cap.append(f'<span class="apa-number">Table {esc(str(number))}</span>')
        if caption:
            cap.append(f'<span class="apa-title">{esc(caption)}</span>')
        parts.append(f"<caption>{''.join(cap)}</caption>")
    idx_names = [("" if n is None else str(n)) for n in shown.index.names] if index else []
    col_levels = shown.columns.nlevels
    parts.append("<thead>")
    for lvl in range(col_levels):
        cells = [f"<th>{esc(n) if lvl == col_levels - 1 else ''}</th>" for n in idx_names]
        for c in shown.columns:
            label = c[lvl] if isinstance(c, tuple) else c
            cells.append(f"<th>{esc(str(label))}</th>")
        parts.append("<tr>" + "".join(cells) + "</tr>")
    parts.append("</thead><tbody>")
    for key, row in shown.iterrows():
        cells = []
        if index:
            labels = key if isinstance(key, tuple) else (key,)
            cells += [f"<th>{esc('' if _is_missing(v) else str(v))}</th>" for v in labels]
        for v in row.tolist():
            cls = ' class="num"' if _NUMERIC_TEXT.match(v.strip()) else ""
            cells.append(f"<td{cls}>{esc(v)}</td>")
        parts.append("<tr>" + "".join(cells) + "</tr>")
    parts.append("</tbody></table>")
    if note:
        parts.append(f'<p class="apa-note"><em>Note.</em> {esc(note)}</p>')
    return "\n".join(parts)
