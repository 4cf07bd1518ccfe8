"""Standalone HTML pages that open offline, in any browser, without errors.

nbconvert's ``lab`` template loads require.js, MathJax and mermaid from a
CDN.  A report opened without network (a reviewer's laptop on a train, a
CI runner) logs a console error for each, and a page that fetches third
party scripts is neither self-contained nor byte-for-byte what was built.
The reports hold no widgets, no math and no diagrams in mermaid, so
:func:`offline_exporter` simply leaves those scripts out; the rest of the
template (styles, layout) is nbconvert's.

:func:`figure_html` embeds an image with its alternative text, and
:data:`PAGE_CSS` keeps tables and figures within the page width.

In R: ``rmarkdown::html_document(self_contained = TRUE, mathjax = NULL)``.
"""
from __future__ import annotations

import base64
import html as _html
import os
from pathlib import Path
from typing import Any

from pipeline.reporting.format import APA_CSS

__all__ = ["offline_exporter", "notebook_to_html", "figure_html", "PAGE_CSS"]

_TEMPLATE = """{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
"""

#: Page styles: the APA tables of :mod:`pipeline.reporting.format`, figures
#: no wider than the page, wide tables of other origin wrapped.
PAGE_CSS = APA_CSS + """
figure { margin: 0.8em 0; max-width: 100%; }
figure img { max-width: 100%; height: auto; }
figcaption { font-style: italic; }
.jp-RenderedHTMLCommon table { max-width: 100%; }
.jp-RenderedHTMLCommon td, .jp-RenderedHTMLCommon th { overflow-wrap: anywhere; }
/* nbconvert's lab styles stripe, centre and right-align every table: not an APA table */
.jp-RenderedHTMLCommon table.apa { margin-left: 0; margin-right: auto; table-layout: auto; }
.jp-RenderedHTMLCommon table.apa tbody tr,
.jp-RenderedHTMLCommon table.apa tbody tr:hover { background: transparent; }
.jp-RenderedHTMLCommon table.apa td, .jp-RenderedHTMLCommon table.apa th { text-align: left;
  padding: 0.25em 0.6em; }
.jp-RenderedHTMLCommon table.apa td.num { text-align: right; }
.jp-RenderedHTMLCommon table.apa thead th { text-align: center; font-weight: normal; }
.jp-RenderedHTMLCommon table.apa tbody th { font-weight: normal; }
.jp-RenderedHTMLCommon table.apa thead { border-bottom: 1px solid #000; }
"""


def offline_exporter(*, exclude_input: bool = True) -> Any:
    """An nbconvert ``HTMLExporter`` whose pages load nothing from the network.

    Parameters
    ----------
    exclude_input : bool
        Hide the code cells (a report for readers, not the code).

    Returns
    -------
    nbconvert.HTMLExporter
        The ``lab`` template without its require.js, MathJax and mermaid
        ``<script>`` tags.

    In R: ``rmarkdown::html_document(mathjax = NULL)``.
    """
    import jinja2
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="lab")
    exporter.extra_loaders = [jinja2.DictLoader({"offline_report.html.j2": _TEMPLATE})]
    exporter.template_file = "offline_report.html.j2"
    exporter.exclude_input = exclude_input
    exporter.exclude_input_prompt = True
    exporter.exclude_output_prompt = True
    return exporter


def notebook_to_html(executed: str | os.PathLike, target: str | os.PathLike) -> Path:
    """Convert an executed notebook to a standalone, offline HTML page (atomic write).

    Cell ids are renumbered (``cell-0``, ``cell-1`` ...): papermill's
    injected-parameters cell carries a random id, which would otherwise make
    every build's HTML differ.

    In R: ``rmarkdown::render(input, output_file = target)``.
    """
    import nbformat

    from pipeline.core.io import write_text

    nb = nbformat.read(Path(executed), as_version=4)
    for i, cell in enumerate(nb.cells):     # papermill gives its injected cell a random id
        cell["id"] = f"cell-{i}"
    body, _ = offline_exporter().from_notebook_node(nb)
    return write_text(Path(target), body)


def figure_html(png: bytes | str | os.PathLike, *, alt: str, caption: str = "",
                number: int | str | None = None) -> str:
    """An embedded PNG figure (data URI) with alternative text and an APA caption.

    Parameters
    ----------
    png : bytes or path
        The image.
    alt : str
        Alternative text (screen readers; shown when the image cannot load).
    caption : str
        Italic title under "Figure *number*".
    number : int or str, optional
        The figure number.

    In R: ``knitr::include_graphics(path)`` with ``fig.alt``.
    """
    data = png if isinstance(png, bytes) else Path(png).read_bytes()
    if not data.startswith(b"\x89PNG"):
        raise ValueError("png: not a PNG image")
    b64 = base64.b64encode(data).decode("ascii")
    cap = ""
    if number is not None or caption:
        head = f"<b>Figure {_html.escape(str(number))}</b><br/>" if number is not None else ""
        cap = f"<figcaption>{head}{_html.escape(caption)}</figcaption>"
    return (f'<figure><img alt="{_html.escape(alt, quote=True)}" '
            f'src="data:image/png;base64,{b64}"/>{cap}</figure>')
