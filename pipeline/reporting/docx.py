"""Tables and reports as Word documents (``.docx``) in APA style.

Thesis writers paste into Word: every report table is also written as a
one-table ``.docx``, and each wave gets one ``report.docx`` with all its
tables and figures, numbered in order.

APA 7th edition, sections 7.8-7.21 (tables) and 7.22-7.36 (figures):

* above the table, the table number in bold ("**Table 1**") and, on the
  next line, the title in italic title case;
* horizontal rules only: above the header, below the header and below the
  last row; no vertical rules, no rules between body rows;
* numbers as :mod:`pipeline.reporting.format` writes them (``< .001``,
  ``.034``, integers for counts, words for booleans), right-aligned;
* below the table a note beginning with "*Note.*" (italic);
* a figure: "**Figure 1**", its title in italic, then the image.

Every file is byte-reproducible: the document properties carry no date or
author, and the zip entries carry a fixed timestamp (1980-01-01), so the
same tables give the same bytes on every machine (DVC reruns nothing).

In R: ``flextable::save_as_docx()`` with ``flextable::theme_apa()``;
``papaja::apa_table()`` in an R Markdown Word document.
"""
from __future__ import annotations

import io
import json
import os
import re
import zipfile
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import pandas as pd

from pipeline.reporting.format import format_frame

__all__ = ["new_document", "add_table", "add_figure", "add_heading", "add_paragraph",
           "save_document", "write_table_docx", "write_report_docx", "sections_to_docx"]

#: Fixed zip timestamp of every part (the earliest a zip can hold).
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)
_FONT = "Times New Roman"
_NUMERIC = re.compile(r"^(<|>)?\s*[+-]?[\d,]*\.?\d+\*{0,3}$|^\u2014$|^\[[a-z]\]$")


def new_document(*, title: str = "", font: str = _FONT, size: float = 11) -> Any:
    """An empty Word document in APA typography, without date or author.

    Parameters
    ----------
    title : str
        Stored as the document's title property (not printed).
    font : str
        Font of the ``Normal`` style (Times New Roman).
    size : float
        Point size of the ``Normal`` style.

    Returns
    -------
    docx.document.Document

    In R: ``officer::read_docx()``.
    """
    import docx
    from docx.oxml.ns import qn
    from docx.shared import Pt

    doc = docx.Document()
    style = doc.styles["Normal"]
    style.font.name = font
    style.font.size = Pt(size)
    rpr = style.element.get_or_add_rPr()
    fonts = rpr.find(qn("w:rFonts"))
    if fonts is None:
        fonts = rpr.makeelement(qn("w:rFonts"), {})
        rpr.append(fonts)
    for attr in ("w:ascii", "w:hAnsi", "w:cs", "w:eastAsia"):
        fonts.set(qn(attr), font)
    cp = doc.core_properties
    cp.title = title
    cp.author = ""
    cp.last_modified_by = ""
    cp.comments = ""
    cp.revision = 1
    import datetime as _dt
    fixed = _dt.datetime(2000, 1, 1, tzinfo=_dt.timezone.utc)
    cp.created = fixed
    cp.modified = fixed
    return doc


def _border(parent: Any, tag: str, edges: Mapping[str, str | None]) -> None:
    """Set ``w:<edge>`` children of a ``w:tblBorders``/``w:tcBorders`` element."""
    from docx.oxml.ns import qn

    node = parent.find(qn(tag))
    if node is None:
        node = parent.makeelement(qn(tag), {})
        parent.append(node)
    for edge in ("top", "left", "bottom", "right", "insideH", "insideV"):
        if edge not in edges:
            continue
        el = node.find(qn(f"w:{edge}"))
        if el is None:
            el = node.makeelement(qn(f"w:{edge}"), {})
            node.append(el)
        size = edges[edge]
        if size is None:
            el.set(qn("w:val"), "nil")
        else:
            el.set(qn("w:val"), "single")
            el.set(qn("w:sz"), size)
            el.set(qn("w:space"), "0")
            el.set(qn("w:color"), "000000")


def _run(par: Any, text: str, *, bold: bool = False, italic: bool = False,
         size: float | None = None) -> Any:
    from docx.shared import Pt

    run = par.add_run(text)
    run.bold = bold or None
    run.italic = italic or None
    if size:
        run.font.size = Pt(size)
    return run


def add_heading(doc: Any, text: str, level: int = 1) -> Any:
    """A bold (level 1: centred) APA heading.

    In R: ``officer::body_add_par(doc, text, style = "heading 1")``.
    """
    from docx.enum.text import WD_ALIGN_PARAGRAPH

    par = doc.add_paragraph()
    _run(par, text, bold=True, italic=level >= 3, size=13 if level == 1 else None)
    if level == 1:
        par.alignment = WD_ALIGN_PARAGRAPH.CENTER
    return par


def add_paragraph(doc: Any, text: str, *, bold: bool = False, italic: bool = False,
                  color: str | None = None) -> Any:
    """A paragraph of plain text (``**bold**`` and backticks of Markdown are removed).

    In R: ``officer::body_add_par(doc, text)``.
    """
    from docx.shared import RGBColor

    par = doc.add_paragraph()
    clean = re.sub(r"\*\*(.+?)\*\*", r"\1", text)
    clean = re.sub(r"`(.+?)`", r"\1", clean)
    run = _run(par, clean, bold=bold, italic=italic)
    if color:
        run.font.color.rgb = RGBColor.from_string(color)
    return par


def add_table(doc: Any, df: pd.DataFrame, *, number: int | str, title: str,
              note: str | None = None, index: bool = True,
              kinds: Mapping[Any, str] | None = None,
              digits: Mapping[Any, int] | int | None = None, size: float | None = None) -> Any:
    """Append an APA table to *doc*: number, italic title, rules, formatted cells, note.

    Parameters
    ----------
    doc : docx.document.Document
    df : DataFrame
        Full-precision table; cells are written by
        :func:`pipeline.reporting.format.format_frame`.
    number : int or str
        "Table *number*".
    title : str
        Italic title line.
    note : str, optional
        "*Note.* ..." below the table.
    index : bool
        Show the index as the first column(s).
    kinds, digits
        Passed to :func:`~pipeline.reporting.format.format_frame`.
    size : float, optional
        Point size of the cells; by default 10, 9 from 9 columns on, 8 from
        13 on, 7 from 17 on, so that a wide table fits a portrait page.

    Returns
    -------
    docx.table.Table

    In R: ``flextable::flextable(df) |> flextable::theme_apa()``.
    """
    from docx.enum.table import WD_TABLE_ALIGNMENT
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.oxml.ns import qn
    from docx.shared import Pt

    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"df: expected a DataFrame, got {type(df).__name__}")
    if not str(title).strip():
        raise ValueError("title: an APA table needs a title")
    shown = format_frame(df, kinds=kinds, digits=digits)
    head = doc.add_paragraph()
    _run(head, f"Table {number}", bold=True)
    head.paragraph_format.space_after = Pt(0)
    head.paragraph_format.keep_with_next = True
    cap = doc.add_paragraph()
    _run(cap, str(title), italic=True)
    cap.paragraph_format.keep_with_next = True

    idx_levels = shown.index.nlevels if index else 0
    col_levels = shown.columns.nlevels
    n_rows = col_levels + len(shown)
    n_cols = idx_levels + shown.shape[1]
    if size is None:
        size = 10 if n_cols <= 8 else 9 if n_cols <= 12 else 8 if n_cols <= 16 else 7
    table = doc.add_table(rows=n_rows, cols=max(n_cols, 1))
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    tbl_pr = table._tbl.tblPr
    _border(tbl_pr, "w:tblBorders", {"top": "8", "bottom": "8", "left": None, "right": None,
                                     "insideH": None, "insideV": None})

    def put(cell: Any, text: str, *, right: bool = False, header: bool = False) -> None:
        par = cell.paragraphs[0]
        _run(par, text, size=size)
        par.paragraph_format.space_after = Pt(0)
        if header:
            par.alignment = WD_ALIGN_PARAGRAPH.CENTER
        elif right:
            par.alignment = WD_ALIGN_PARAGRAPH.RIGHT

    names = [("" if n is None else str(n)) for n in shown.index.names] if index else []
    for lvl in range(col_levels):
        row = table.rows[lvl]
        for j in range(idx_levels):
            put(row.cells[j], names[j] if lvl == col_levels - 1 else "", header=True)
        for j, c in enumerate(shown.columns):
            label = c[lvl] if isinstance(c, tuple) else c
            put(row.cells[idx_levels + j], str(label), header=True)
        if lvl == col_levels - 1:                     # the rule below the header
            for cell in row.cells:
                _border(cell._tc.get_or_add_tcPr(), "w:tcBorders", {"bottom": "4"})
        # a header row repeats on every page
        trpr = row._tr.get_or_add_trPr()
        trpr.append(trpr.makeelement(qn("w:tblHeader"), {}))
    for i, (key, values) in enumerate(shown.iterrows()):
        row = table.rows[col_levels + i]
        labels = key if isinstance(key, tuple) else (key,)
        for j in range(idx_levels):
            v = labels[j]
            put(row.cells[j], "" if v is None or (isinstance(v, float) and v != v) else str(v))
        for j, v in enumerate(values.tolist()):
            put(row.cells[idx_levels + j], v, right=bool(_NUMERIC.match(v.strip())))
    _fit_columns(table, size, header_rows=col_levels)
    if note:
        par = doc.add_paragraph()
        _run(par, "Note.", italic=True, size=size)
        _run(par, f" {note}", size=size)
    doc.add_paragraph()
    return table


def _text_inches(text: str, size: float) -> float:
    """Width of *text* in Times at *size* points (capitals .72 em, digits .5 em, rest .47 em)."""
    em = sum(0.72 if c.isupper() else 0.5 if c.isdigit() else 0.3 if c in " .,:;()[]|"
             else 0.47 for c in text)
    return em * size / 72.0


def _fit_columns(table: Any, size: float, header_rows: int = 1, page_inches: float = 6.5,
                 max_label_inches: float = 2.4, pad: float = 0.24) -> None:
    """Column widths from their cells (a table no wider than it needs).

    Word and LibreOffice otherwise spread the columns evenly over the page,
    which wraps long row labels and stretches short numbers.  A number or a
    single word never wraps (its full width is kept); text of the first
    column is at most *max_label_inches* wide and wraps beyond; headers wrap
    at spaces.  If the total exceeds *page_inches* every column shrinks in
    proportion.
    """
    from docx.oxml.ns import qn
    from docx.shared import Inches

    ncols = len(table.columns)
    pref = [0.3] * ncols          # the width each column would like
    least = [0.3] * ncols         # below this a number or a word would break
    for i, row in enumerate(table.rows):
        for j, cell in enumerate(row.cells):
            text = cell.text.strip()
            if not text:
                continue
            whole = _text_inches(text, size) + pad
            # a header may also break at underscores and dots (scale_mean_if_deleted)
            parts = re.split(r"[\s_.]+", text) if i < header_rows else text.split()
            word = max(_text_inches(w, size) for w in parts if w) + pad if any(parts) else pad
            if _NUMERIC.match(text):
                lo = hi = whole
            else:
                lo, hi = word, max(word, min(whole, max_label_inches if j == 0 else 1.2 + pad))
            least[j] = max(least[j], lo)
            pref[j] = max(pref[j], hi)
    if sum(pref) <= page_inches:
        widths = pref
    elif sum(least) <= page_inches:   # text columns give way first, down to their longest word
        spare = page_inches - sum(least)
        give = [p - m for p, m in zip(pref, least)]
        widths = [m + spare * g / sum(give) for m, g in zip(least, give)]
    else:
        widths = [m * page_inches / sum(least) for m in least]
    table.autofit = False
    grid = table._tbl.tblGrid
    for j, col in enumerate(grid.findall(qn("w:gridCol"))):
        col.set(qn("w:w"), str(int(widths[j] * 1440)))
    for row in table.rows:
        for j, cell in enumerate(row.cells):
            cell.width = Inches(widths[j])


def add_figure(doc: Any, image: str | os.PathLike, *, number: int | str, title: str,
               note: str | None = None, width_inches: float = 6.0,
               max_height_inches: float = 7.5) -> None:
    """Append an APA figure: "**Figure n**", the italic title, the image, an optional note.

    *image* is a PNG or JPEG file (Word shows no SVG through python-docx).
    It is *width_inches* wide, or *max_height_inches* high when it would
    otherwise not fit on a page (a tall path diagram).

    In R: ``officer::body_add_img()``.
    """
    from docx.shared import Inches, Pt

    path = Path(image)
    if not path.is_file():
        raise FileNotFoundError(f"image: {path} does not exist")
    head = doc.add_paragraph()
    _run(head, f"Figure {number}", bold=True)
    head.paragraph_format.space_after = Pt(0)
    head.paragraph_format.keep_with_next = True
    cap = doc.add_paragraph()
    _run(cap, str(title), italic=True)
    cap.paragraph_format.keep_with_next = True
    size = _png_size(path)
    if size and size[1] / size[0] * width_inches > max_height_inches:
        doc.add_picture(str(path), height=Inches(max_height_inches))
    else:
        doc.add_picture(str(path), width=Inches(width_inches))
    if note:
        par = doc.add_paragraph()
        _run(par, "Note.", italic=True)
        _run(par, f" {note}")
    doc.add_paragraph()


def _png_size(path: Path) -> tuple[int, int] | None:
    """(width, height) in pixels from a PNG's IHDR chunk; None for other files."""
    head = path.read_bytes()[:24]
    if head[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def save_document(doc: Any, path: str | os.PathLike) -> Path:
    """Write *doc* byte-reproducibly (fixed zip timestamps) and atomically.

    In R: ``print(doc, target = path)``.
    """
    from pipeline.core.io import write_bytes

    raw = io.BytesIO()
    doc.save(raw)
    raw.seek(0)
    out = io.BytesIO()
    with zipfile.ZipFile(raw) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=_ZIP_DATE)
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o644 << 16
            dst.writestr(fixed, src.read(info.filename))
    return write_bytes(Path(path), out.getvalue())


def write_table_docx(df: pd.DataFrame, path: str | os.PathLike, *, number: int | str,
                     title: str, note: str | None = None, index: bool = True,
                     kinds: Mapping[Any, str] | None = None,
                     digits: Mapping[Any, int] | int | None = None) -> Path:
    """One table as its own ``.docx`` (see :func:`add_table`); returns the path.

    In R: ``flextable::save_as_docx(ft, path = path)``.
    """
    doc = new_document(title=str(title))
    add_table(doc, df, number=number, title=title, note=note, index=index, kinds=kinds,
              digits=digits)
    return save_document(doc, path)


def write_report_docx(path: str | os.PathLike, items: Iterable[Mapping[str, Any]], *,
                      title: str, banner: str | None = None) -> Path:
    """A report as one ``.docx``: headings, text, numbered tables and figures.

    Parameters
    ----------
    path : path
        The ``report.docx`` to write.
    items : iterable of mappings
        In order; each has ``kind``:

        * ``heading``: ``text``, optional ``level``;
        * ``text``: ``text`` (light Markdown);
        * ``warning``: ``text`` (printed in bold after "Warning:");
        * ``table``: ``df``, ``title``, optional ``note``, ``index``, ``kinds``, ``digits``;
        * ``figure``: ``image`` (PNG path), ``title``, optional ``note``.
    title : str
        First line of the document.
    banner : str, optional
        Printed in bold red under the title (the synthetic-data banner;
        HTML such as ``report.synthetic_banner(meta)`` is reduced to its text).

    Returns
    -------
    Path

    Tables and figures are numbered 1, 2, ... in order of appearance.

    In R: ``rmarkdown::render(..., output_format = "word_document")``.
    """
    doc = new_document(title=title)
    add_heading(doc, title, level=1)
    if banner:
        add_paragraph(doc, _plain(banner), bold=True, color="AA0000")
    n_table = n_figure = 0
    for item in items:
        kind = item.get("kind")
        if kind == "heading":
            add_heading(doc, str(item["text"]), level=int(item.get("level", 2)))
        elif kind == "text":
            for block in str(item["text"]).strip().split("\n"):
                if block.strip():
                    add_paragraph(doc, block.strip().lstrip("-* ").strip()
                                  if block.lstrip().startswith(("- ", "* ")) else block.strip())
        elif kind == "warning":
            add_paragraph(doc, f"Warning: {item['text']}", bold=True, color="995500")
        elif kind == "table":
            n_table += 1
            add_table(doc, item["df"], number=n_table, title=item.get("title") or f"Table {n_table}",
                      note=item.get("note") or None, index=item.get("index", True),
                      kinds=item.get("kinds"), digits=item.get("digits"))
        elif kind == "figure":
            n_figure += 1
            add_figure(doc, item["image"], number=n_figure,
                       title=item.get("title") or f"Figure {n_figure}", note=item.get("note"))
        else:
            raise ValueError(f"items: unknown kind {kind!r} (heading, text, warning, table, figure)")
    return save_document(doc, path)


def _plain(text: str) -> str:
    """Text of an HTML fragment (the report's banner is HTML): tags removed, entities decoded."""
    import html as _h
    return _h.unescape(re.sub(r"<[^>]+>", "", str(text))).strip()


def sections_to_docx(results_dir: str | os.PathLike, keys: Sequence[str],
                     path: str | os.PathLike, *, title: str, banner: str | None = None,
                     titles: Mapping[str, str] | None = None,
                     tables_dir: str | os.PathLike | None = None) -> Path:
    """A wave's ``report.docx`` from the sections the analyze stage stored.

    Reads ``<results_dir>/<key>/manifest.json`` (written by
    :class:`pipeline.reporting.report.SectionWriter`) for each key in
    order: one heading per section, its text, warnings, tables (from the
    full-precision CSVs) and figures (the PNGs).

    Parameters
    ----------
    results_dir : path
        The wave's results directory.
    keys : sequence of str
        Section keys, in report order; a missing section raises
        ``FileNotFoundError`` naming its manifest.
    path : path
        The ``report.docx`` to write.
    title, banner
        See :func:`write_report_docx`.
    titles : mapping, optional
        ``{key: heading}`` overriding the manifests' titles.
    tables_dir : path, optional
        Also write every table as its own ``<tables_dir>/<key>_<name>.docx``,
        numbered as in the report.

    Returns
    -------
    Path

    In R: no equivalent (the stored sections are this project's).
    """
    root = Path(results_dir)
    items: list[dict[str, Any]] = []
    for key in keys:
        manifest_path = root / key / "manifest.json"
        if not manifest_path.exists():
            raise FileNotFoundError(f"section {key!r} was not computed: {manifest_path} is missing")
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        items.append({"kind": "heading", "text": (titles or {}).get(key, manifest.get("title", key))})
        for it in manifest["items"]:
            kind = it["kind"]
            if kind == "table":
                ncols = int(it.get("index_cols", 1 if it.get("index", True) else 0))
                df = pd.read_csv(root / key / f"{it['name']}.csv",
                                 index_col=list(range(ncols)) or None)
                items.append({"kind": "table", "df": df,
                              "title": it.get("caption") or it["name"],
                              "note": it.get("note") or None, "index": bool(ncols),
                              # the writer's digits (3 is its default: let the kinds decide)
                              "digits": None if it.get("digits", 3) == 3 else it["digits"],
                              "file": f"{key}_{it['name']}.docx"})
            elif kind == "figure":
                items.append({"kind": "figure", "image": root / key / f"{it['name']}.png",
                              "title": it.get("caption") or it["name"]})
            elif kind == "text":
                items.append({"kind": "text", "text": it["markdown"]})
            elif kind == "warning":
                items.append({"kind": "warning", "text": it["message"]})
    out = write_report_docx(path, items, title=title, banner=banner)
    if tables_dir is not None:
        tables = [it for it in items if it["kind"] == "table"]
        for number, it in enumerate(tables, 1):
            write_table_docx(it["df"], Path(tables_dir) / it["file"], number=number,
                             title=it["title"], note=it["note"], index=it["index"],
                             digits=it["digits"])
    return out

