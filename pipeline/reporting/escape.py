"""Escaping of text that reaches a report: HTML, LaTeX and CSV for spreadsheets.

Anything that comes from a codebook, a data file or a path (titles, answer
labels, column and index names, captions, cells) is untrusted: a label
``<script>alert(1)</script>`` must print as text in ``report.html``, a caption
``\\input{/etc/passwd}`` must not be executed by LaTeX, and a cell
``=HYPERLINK("http://x", "click")`` must not become a live formula when a
person opens the CSV in Excel or LibreOffice.

Functions
---------
:func:`html` escapes ``& < > " '`` (``html.escape(s, quote=True)``).
:func:`latex` escapes the ten LaTeX special characters
``\\ { } $ & # ^ _ % ~`` so ``\\input{x}`` prints literally.
:func:`csv_cell` neutralises a spreadsheet formula: a text cell that begins
with ``=``, ``+``, ``-``, ``@`` (or TAB / CR, which some spreadsheets strip
before evaluating) gets a leading apostrophe (OWASP "CSV injection"
recommendation).  Numbers are never changed, so ``-0.25`` stays a number.
:func:`html_frame`, :func:`latex_frame` and :func:`csv_frame` apply these to
every cell, the column names and the index names of a DataFrame.

In R: ``htmltools::htmlEscape``; ``Hmisc::latexTranslate``; no base
equivalent for formula neutralisation.
"""
from __future__ import annotations

import html as _html
import math
import numbers
from typing import Any

import pandas as pd

__all__ = ["html", "latex", "csv_cell", "html_frame", "latex_frame", "csv_frame",
           "FORMULA_PREFIXES"]

#: First characters that make a spreadsheet evaluate a cell as a formula.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

_LATEX = {
    "\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "$": r"\$", "&": r"\&",
    "#": r"\#", "^": r"\textasciicircum{}", "_": r"\_", "%": r"\%", "~": r"\textasciitilde{}",
}


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)


def html(value: Any) -> str:
    """HTML-escape *value* (``str()`` of it; ``None``/NaN give ``""``).

    ``&`` -> ``&amp;``, ``<`` -> ``&lt;``, ``>`` -> ``&gt;``, ``"`` ->
    ``&quot;``, ``'`` -> ``&#x27;``, so the result is safe both as element
    text and inside a quoted attribute.

    In R: ``htmltools::htmlEscape(x, attribute = TRUE)``.
    """
    return _html.escape(_text(value), quote=True)


def latex(value: Any) -> str:
    """Escape the LaTeX special characters of *value*.

    Every one of ``\\ { } $ & # ^ _ % ~`` is replaced by its literal form,
    so no command (``\\input``, ``\\write18``) and no group survives.

    In R: ``Hmisc::latexTranslate(x)``.
    """
    return "".join(_LATEX.get(ch, ch) for ch in _text(value))


def csv_cell(value: Any) -> Any:
    """Neutralise a spreadsheet formula in one CSV cell.

    A string that starts with one of :data:`FORMULA_PREFIXES` is returned
    with a leading ``'`` (the spreadsheet shows the text, evaluates nothing);
    numbers, ``None`` and NaN are returned unchanged, so a negative number
    stays numeric.

    In R: no equivalent.
    """
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def _check_frame(df: Any) -> pd.DataFrame:
    if isinstance(df, pd.Series):
        df = df.to_frame()
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"df: expected a DataFrame, got {type(df).__name__}")
    return df


def _map_labels(index: pd.Index, fn: Any) -> pd.Index:
    if isinstance(index, pd.MultiIndex):
        return pd.MultiIndex.from_tuples([tuple(fn(v) if isinstance(v, str) else v for v in t)
                                          for t in index],
                                         names=[fn(n) if isinstance(n, str) else n for n in index.names])
    out = pd.Index([fn(v) if isinstance(v, str) else v for v in index], dtype=object)
    out.name = fn(index.name) if isinstance(index.name, str) else index.name
    return out


def _escape_frame(df: Any, fn: Any) -> pd.DataFrame:
    df = _check_frame(df).copy()
    for col in df.columns:
        if df[col].dtype == object or isinstance(df[col].dtype, pd.StringDtype):
            df[col] = df[col].map(lambda v: fn(v) if isinstance(v, str) else v)
    df.columns = _map_labels(df.columns, fn)
    df.index = _map_labels(df.index, fn)
    return df


def html_frame(df: Any) -> pd.DataFrame:
    """A copy of *df* with every text cell, column name and index label/name HTML-escaped.

    Render the result with ``escape=False`` (``DataFrame.to_html``) or
    ``Styler.format(escape=None)``: the escaping is done here, once.
    """
    return _escape_frame(df, html)


def latex_frame(df: Any) -> pd.DataFrame:
    """A copy of *df* with every text cell, column name and index label/name LaTeX-escaped.

    Render with ``escape=False``; escape a caption with :func:`latex`.
    """
    return _escape_frame(df, latex)


def csv_frame(df: Any) -> pd.DataFrame:
    """A copy of *df* whose text cells, column names and index labels cannot be formulas."""
    return _escape_frame(df, csv_cell)


def is_number(value: Any) -> bool:
    """True for real numbers (not bools): the cells :func:`csv_cell` never changes."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)
