"""Escaping of untrusted text in HTML, LaTeX and CSV outputs (issue 14, item 3)."""
from __future__ import annotations

import io
import re

import numpy as np
import pandas as pd
import pytest

from pipeline.reporting import escape

PAYLOADS = ["<script>alert(1)</script>", '<img src=x onerror="alert(1)">', "\\input{/etc/passwd}",
            "=HYPERLINK(\"http://evil\",\"x\")"]


def test_html_injection_is_inert():
    for p in PAYLOADS:
        out = escape.html(p)
        assert "<" not in out and ">" not in out and '"' not in out
    assert escape.html("<script>") == "&lt;script&gt;"
    assert escape.html("a & 'b'") == "a &amp; &#x27;b&#x27;"
    assert escape.html(None) == "" and escape.html(float("nan")) == ""


def test_html_frame_escapes_cells_columns_index_and_index_name():
    df = pd.DataFrame({"<script>x</script>": ["<img src=x onerror=alert(1)>", 1.5]},
                      index=pd.Index(["<b>row</b>", "ok"], name="<i>idx</i>"))
    out = escape.html_frame(df)
    rendered = out.to_html(escape=False)
    assert "<script>" not in rendered and "<img" not in rendered and "<b>row" not in rendered
    assert "<i>idx" not in rendered
    assert "&lt;img src=x onerror=alert(1)&gt;" in rendered
    assert out.iloc[1, 0] == 1.5          # numbers untouched
    assert df.columns[0] == "<script>x</script>"   # the input is not modified


def test_latex_escapes_commands_braces_and_specials():
    assert escape.latex("\\input{/etc/passwd}") == r"\textbackslash{}input\{/etc/passwd\}"
    assert escape.latex("50% & $5_x #1 ^ ~") == r"50\% \& \$5\_x \#1 \textasciicircum{} \textasciitilde{}"
    # no backslash survives that starts a command
    out = escape.latex("\\write18{rm -rf}")
    assert not re.search(r"\\[a-zA-Z]+(?<!textbackslash)\{", out.replace(r"\textbackslash{}", ""))


def test_latex_frame_escapes_index_names_and_captions():
    df = pd.DataFrame({"a_b": ["\\input{x}"]}, index=pd.Index(["r%1"], name="\\input{y}"))
    out = escape.latex_frame(df)
    tex = out.to_latex(escape=False)
    assert "\\input{" not in tex
    assert r"a\_b" in tex and r"r\%1" in tex and r"\textbackslash{}input\{y\}" in tex


@pytest.mark.parametrize("cell", ["=1+1", "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A2)", "\t=1", "\r=1"])
def test_csv_formulas_are_neutralised(cell):
    assert escape.csv_cell(cell) == "'" + cell


def test_csv_numbers_and_plain_text_unchanged():
    assert escape.csv_cell(-0.25) == -0.25
    assert escape.csv_cell("Agree") == "Agree"
    assert escape.csv_cell(None) is None
    df = pd.DataFrame({"=col": ["=cmd", "text", np.nan], "x": [-1.0, 2.0, 3.0]},
                      index=pd.Index(["@a", "b", "c"]))
    out = escape.csv_frame(df)
    buf = io.StringIO()
    out.to_csv(buf)
    text = buf.getvalue()
    assert "'=col" in text and "'=cmd" in text and "'@a" in text
    assert ",-1.0" in text                         # a negative number stays a number
    assert not re.search(r"(^|,)[=+@]", text, re.M)


def test_frame_type_is_checked():
    with pytest.raises(TypeError, match="df"):
        escape.html_frame(["<x>"])
