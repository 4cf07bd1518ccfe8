"""Word export of the report tables in APA style (issue 13, item 3)."""
from __future__ import annotations

import re
import zipfile

import docx
import numpy as np
import pandas as pd
import pytest
from docx.oxml.ns import qn

from pipeline.reporting import docx as rdocx
from pipeline.reporting.report import SectionWriter


def _pt() -> pd.DataFrame:
    return pd.DataFrame({
        "lhs": ["F", "F", "Y"], "op": ["=~", "=~", "~"], "rhs": ["a", "b", "F"],
        "est": [1.0, 1.2611111, 0.4123456], "se": [np.nan, 0.11333, 0.1],
        "pvalue": [np.nan, 1e-9, 0.0341], "std.all": [0.82345, 0.911, 0.2699],
        "n": [100.0, 100.0, 100.0], "admissible": [True, True, False],
    }).set_index(["lhs", "op", "rhs"])


def _borders(el, tag):
    node = el.find(qn(tag))
    return {} if node is None else {
        child.tag.split("}")[1]: child.get(qn("w:val")) for child in node}


def test_table_docx_is_apa(tmp_path):
    path = rdocx.write_table_docx(_pt(), tmp_path / "t.docx", number=2, title="Regression weights",
                                  note="Standardized estimates (std.all).")
    doc = docx.Document(str(path))
    pars = [p for p in doc.paragraphs if p.text]
    assert pars[0].text == "Table 2" and all(r.bold for r in pars[0].runs)
    assert pars[1].text == "Regression weights" and all(r.italic for r in pars[1].runs)
    assert pars[2].text == "Note. Standardized estimates (std.all)."
    assert pars[2].runs[0].text == "Note." and pars[2].runs[0].italic
    assert not pars[2].runs[1].italic
    (table,) = doc.tables
    cells = [[c.text for c in row.cells] for row in table.rows]
    assert cells[0] == ["lhs", "op", "rhs", "est", "se", "pvalue", "std.all", "n", "admissible"]
    assert cells[1] == ["F", "=~", "a", "1.000", "\u2014", "\u2014", ".823", "100", "yes"]
    assert cells[2] == ["F", "=~", "b", "1.261", "0.113", "< .001", ".911", "100", "yes"]
    assert cells[3] == ["Y", "~", "F", "0.412", "0.100", ".034", ".270", "100", "no"]
    # horizontal rules only: top and bottom of the table, below the header
    tbl = _borders(table._tbl.tblPr, "w:tblBorders")
    assert tbl["top"] == "single" and tbl["bottom"] == "single"
    assert tbl["left"] == tbl["right"] == tbl["insideV"] == tbl["insideH"] == "nil"
    for cell in table.rows[0].cells:
        assert _borders(cell._tc.tcPr, "w:tcBorders") == {"bottom": "single"}
    for row in table.rows[1:]:
        for cell in row.cells:
            tcpr = cell._tc.tcPr
            assert tcpr is None or tcpr.find(qn("w:tcBorders")) is None
    # numbers right-aligned, labels not
    assert table.rows[1].cells[3].paragraphs[0].alignment == 2    # RIGHT
    assert table.rows[1].cells[0].paragraphs[0].alignment is None


def test_docx_is_byte_reproducible_and_dateless(tmp_path):
    a = rdocx.write_table_docx(_pt(), tmp_path / "a.docx", number=1, title="T")
    b = rdocx.write_table_docx(_pt(), tmp_path / "b.docx", number=1, title="T")
    assert a.read_bytes() == b.read_bytes()
    with zipfile.ZipFile(a) as z:
        assert {i.date_time for i in z.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        core = z.read("docProps/core.xml").decode()
        body = z.read("word/document.xml").decode()
    assert "python-docx" not in core and "2013" not in core
    assert not re.search(r"\d\.\d{4,}", body)          # no unrounded float anywhere


def test_add_table_rejects_bad_input(tmp_path):
    doc = rdocx.new_document()
    with pytest.raises(ValueError, match="title"):
        rdocx.add_table(doc, _pt(), number=1, title=" ")
    with pytest.raises(TypeError, match="df: expected a DataFrame"):
        rdocx.add_table(doc, [1, 2], number=1, title="x")
    with pytest.raises(ValueError, match="items: unknown kind 'chart'"):
        rdocx.write_report_docx(tmp_path / "r.docx", [{"kind": "chart"}], title="x")


def test_report_docx_from_sections(tmp_path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results = tmp_path / "results"
    w = SectionWriter(results, "fit", "Model fit")
    w.text("Fit of the **measurement** model.")
    w.table("fit", pd.DataFrame({"name": ["chisq", "df", "pvalue", "cfi"],
                                 "value": [293.15671, 188.0, 0.0341, 0.95612]}).set_index("name"),
            caption="Fit indices", note="ML estimation.")
    w.warning("solution is admissible")
    w.close()
    w = SectionWriter(results, "diagram", "Path diagram")
    fig, ax = plt.subplots(figsize=(2, 1))
    ax.plot([0, 1], [0, 1])
    w.figure("paths", fig, caption="Structural model")
    plt.close(fig)
    w.table("r2", pd.DataFrame({"R²": [0.41234]}, index=["Y"]), caption="Explained variance")
    w.close()
    out = rdocx.sections_to_docx(results, ["fit", "diagram"], tmp_path / "report.docx",
                                 title="cs2019 report", banner="SYNTHETIC DATA")
    doc = docx.Document(str(out))
    text = [p.text for p in doc.paragraphs if p.text]
    assert text[:4] == ["cs2019 report", "SYNTHETIC DATA", "Model fit", "Fit of the measurement model."]
    assert "Table 1" in text and "Table 2" in text and "Figure 1" in text
    assert text.index("Table 1") < text.index("Figure 1") < text.index("Table 2")
    assert "Warning: solution is admissible" in text
    assert len(doc.tables) == 2 and len(doc.inline_shapes) == 1
    assert abs(doc.inline_shapes[0].width.inches - 6.0) < 0.01     # 2 x 1 inch figure: full width
    assert [c.text for c in doc.tables[0].columns[1].cells] == ["value", "293.16", "188", ".034", ".956"]
    assert [c.text for c in doc.tables[1].rows[1].cells] == ["Y", ".412"]
    again = rdocx.sections_to_docx(results, ["fit", "diagram"], tmp_path / "again.docx",
                                   title="cs2019 report", banner="SYNTHETIC DATA",
                                   tables_dir=tmp_path / "tables")
    # every table also on its own, numbered as in the report
    assert sorted(p.name for p in (tmp_path / "tables").iterdir()) == ["diagram_r2.docx",
                                                                      "fit_fit.docx"]
    own = [p.text for p in docx.Document(str(tmp_path / "tables" / "diagram_r2.docx")).paragraphs
           if p.text]
    assert own[:2] == ["Table 2", "Explained variance"]
    assert again.read_bytes() == out.read_bytes()
    from pipeline.reporting.report import synthetic_banner
    html_banner = rdocx.sections_to_docx(results, ["fit"], tmp_path / "b.docx", title="t",
                                         banner=synthetic_banner({"seed": 7, "generator_version": "g"}))
    second = [p.text for p in docx.Document(str(html_banner)).paragraphs if p.text][1]
    assert second.startswith("SYNTHETIC DATA") and "seed 7" in second and "<" not in second
    with zipfile.ZipFile(out) as z:
        for name in z.namelist():
            if name.endswith(".xml") or name.endswith(".rels"):
                assert str(tmp_path) not in z.read(name).decode(), name   # no absolute path
    with pytest.raises(FileNotFoundError, match="section 'sem' was not computed"):
        rdocx.sections_to_docx(results, ["sem"], tmp_path / "x.docx", title="x")


def test_tall_figure_fits_the_page(tmp_path):
    """A tall path diagram is scaled to the page height, not to 6 inches wide."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(2, 6))
    fig.savefig(tmp_path / "tall.png", dpi=50)
    plt.close(fig)
    out = rdocx.write_report_docx(tmp_path / "r.docx", [{"kind": "figure", "image": tmp_path / "tall.png",
                                                        "title": "tall"}], title="x")
    shape = docx.Document(str(out)).inline_shapes[0]
    assert abs(shape.height.inches - 7.5) < 0.01 and shape.width.inches < 3


def test_wide_table_gets_a_smaller_font(tmp_path):
    wide = pd.DataFrame(np.arange(40.0).reshape(2, 20) / 7, columns=[f"c{i}" for i in range(20)])
    doc = docx.Document(str(rdocx.write_table_docx(wide, tmp_path / "w.docx", number=1, title="w")))
    run = doc.tables[0].rows[1].cells[3].paragraphs[0].runs[0]
    assert run.font.size.pt == 7
    narrow = docx.Document(str(rdocx.write_table_docx(_pt(), tmp_path / "n.docx", number=1, title="n")))
    assert narrow.tables[0].rows[1].cells[3].paragraphs[0].runs[0].font.size.pt == 9   # 3 + 6 columns


def test_columns_fit_their_contents_within_the_page(tmp_path):
    """Columns are sized from their cells (not spread evenly); numbers never break;
    the table is no wider than the 6.5-inch text block."""
    df = pd.DataFrame({"scale_mean_if_deleted": [16.36, 4.09], "n": [100, 100],
                       "items": ["HC1, HC2, HC3, HC4, HC5", "L1, L2"]},
                      index=pd.Index(["HUMCAP", "LEAD"], name="scale"))
    doc = docx.Document(str(rdocx.write_table_docx(df, tmp_path / "t.docx", number=1, title="t")))
    widths = [c.width.inches for c in doc.tables[0].rows[1].cells]
    assert sum(widths) <= 6.5
    assert widths[2] >= rdocx._text_inches("100", 10) + 0.2          # "100" on one line
    assert widths[0] >= rdocx._text_inches("HUMCAP", 10) + 0.2
    assert widths[2] < widths[3]                                        # not spread evenly
    wide = pd.DataFrame(np.full((2, 30), 123.456), columns=[f"column_{i}" for i in range(30)])
    doc = docx.Document(str(rdocx.write_table_docx(wide, tmp_path / "w.docx", number=1, title="w")))
    assert sum(c.width.inches for c in doc.tables[0].rows[1].cells) <= 6.5 + 1e-6
