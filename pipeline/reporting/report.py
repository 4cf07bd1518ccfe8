"""Reports: executing the parameterized notebooks, exporting tables and figures.

Notebooks hold no statistics.  A DVC stage calls :func:`run_notebook`, which

1. checks the injected parameters against the typed literals of the
   notebook's ``parameters`` cell (a wrong type fails before any cell runs);
2. executes the notebook with papermill in the project's own kernel, inside a
   temporary directory;
3. converts it to standalone HTML;
4. moves the finished directory into place with one rename, so a failing
   cell leaves no half-written report (the previous report, if any, is
   removed: DVC removes stage outputs before rerunning anyway).

Tables are exported as CSV (full precision) and LaTeX (rounded for display);
figures as PNG and SVG.
"""
from __future__ import annotations

import ast
import html
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from pipeline.core import paths
from pipeline.core.io import atomic_write, guard_not_raw, write_csv, write_text
from pipeline.core.exceptions import PipelineError

__all__ = [
    "NotebookError", "run_notebook", "notebook_parameters", "check_parameters",
    "export_table", "save_figure", "synthetic_banner", "wave_is_synthetic",
    "render_table_html", "SectionWriter", "SectionReader",
]


class NotebookError(PipelineError):
    """A report notebook failed: names the notebook and the cell."""


# ---------------------------------------------------------------- parameters
def notebook_parameters(notebook: str | os.PathLike) -> tuple[int, dict[str, Any]]:
    """Return (cell index, {name: default}) of the notebook's ``parameters`` cell.

    The cell may hold only assignments of literals (``wave: str = "cs2019"``
    or ``wave = "cs2019"``); anything else is an error naming the notebook.
    """
    import nbformat

    nb_path = Path(notebook)
    nb = nbformat.read(nb_path, as_version=4)
    for idx, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and "parameters" in cell.get("metadata", {}).get("tags", []):
            values: dict[str, Any] = {}
            tree = ast.parse(cell.source)
            for node in tree.body:
                if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                    target, value = node.target.id, node.value
                elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                    target, value = node.targets[0].id, node.value
                else:
                    raise NotebookError(f"{nb_path}: cell {idx} (parameters) may hold only "
                                        f"literal assignments, found: {ast.unparse(node)}")
                try:
                    values[target] = ast.literal_eval(value) if value is not None else None
                except ValueError as exc:
                    raise NotebookError(f"{nb_path}: cell {idx} (parameters): {target} is not "
                                        f"a literal") from exc
            return idx, values
    raise NotebookError(f"{nb_path}: no cell tagged 'parameters'")


def check_parameters(notebook: str | os.PathLike, parameters: Mapping[str, Any]) -> None:
    """Raise :class:`NotebookError` when a parameter is unknown or of the wrong type.

    An ``int`` is accepted where the default is a ``float``; ``None`` defaults
    accept anything.
    """
    idx, defaults = notebook_parameters(notebook)
    for name, value in parameters.items():
        if name not in defaults:
            raise NotebookError(f"{notebook}: cell {idx} (parameters) has no parameter {name!r}; "
                                f"known: {sorted(defaults)}")
        default = defaults[name]
        if default is None or value is None:
            continue
        expected = type(default)
        ok = isinstance(value, expected) or (expected is float and isinstance(value, int)
                                             and not isinstance(value, bool))
        if isinstance(value, bool) != isinstance(default, bool):
            ok = False
        if not ok:
            raise NotebookError(f"{notebook}: cell {idx} (parameters): parameter {name!r} must be "
                                f"{expected.__name__}, got {type(value).__name__} {value!r}")


# ----------------------------------------------------------------- execution
@dataclass
class NotebookRun:
    notebook: Path
    html: Path


def run_notebook(notebook: str | os.PathLike, out_dir: str | os.PathLike,
                 parameters: Mapping[str, Any], *, name: str = "report",
                 kernel_name: str = "python3", timeout: int = 1800) -> NotebookRun:
    """Execute *notebook* with papermill into *out_dir* as ``<name>.ipynb`` + ``.html``.

    Every other file the notebook writes into the directory given by its
    ``out_dir`` parameter (tables, figures) is moved along with it.  The
    whole directory appears at once; on failure nothing is left behind and a
    :class:`NotebookError` names the notebook and the failing cell.
    """
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    from pipeline.core.io import atomic_dir

    nb_path = Path(notebook)
    final = guard_not_raw(Path(out_dir))
    check_parameters(nb_path, parameters)
    with atomic_dir(final) as staging:
        executed = staging / f"{name}.ipynb"
        params = dict(parameters)
        if "out_dir" in notebook_parameters(nb_path)[1]:
            params["out_dir"] = str(staging)
        try:
            pm.execute_notebook(str(nb_path), str(executed), parameters=params,
                                kernel_name=kernel_name, cwd=str(paths.ROOT),
                                progress_bar=False, execution_timeout=timeout)
        except PapermillExecutionError as exc:
            raise NotebookError(f"{nb_path}: cell {exc.exec_count} failed "
                                f"({exc.ename}: {exc.evalue})") from None
        _to_html(executed, staging / f"{name}.html")
    return NotebookRun(final / f"{name}.ipynb", final / f"{name}.html")


def _to_html(executed: Path, target: Path) -> None:
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(executed, as_version=4)
    exporter = HTMLExporter()
    exporter.exclude_input = True  # a report for readers, not the code
    body, _ = exporter.from_notebook_node(nb)
    write_text(target, body)


# ----------------------------------------------------------- tables/figures
def export_table(df: pd.DataFrame, name: str, out_dir: str | os.PathLike, *,
                 caption: str | None = None, digits: int = 3, index: bool = True) -> dict[str, Path]:
    """Write *df* as ``tables/<name>.csv`` (full precision) and ``.tex`` (rounded)."""
    tables = Path(out_dir) / "tables"
    csv_path = write_csv(tables / f"{name}.csv", df, index=index)
    shown = df.copy()
    for col in shown.columns:
        if pd.api.types.is_float_dtype(shown[col]):
            shown[col] = shown[col].map(lambda v: "" if pd.isna(v) else f"{v:.{digits}f}")
    latex = shown.to_latex(index=index, caption=caption, label=f"tab:{name}", escape=True)
    tex_path = write_text(tables / f"{name}.tex", latex)
    return {"csv": csv_path, "tex": tex_path}


def save_figure(fig: Any, name: str, out_dir: str | os.PathLike) -> dict[str, Path]:
    """Save a matplotlib figure as ``figures/<name>.png`` and ``.svg`` (atomically)."""
    figures = Path(out_dir) / "figures"
    out = {}
    for ext in ("png", "svg"):
        target = figures / f"{name}.{ext}"
        with atomic_write(target, "wb", encoding=None) as fh:
            fig.savefig(fh, format=ext, dpi=150, bbox_inches="tight", metadata=_fig_metadata(ext))
        out[ext] = target
    return out


def _fig_metadata(ext: str) -> dict[str, Any]:
    """No creation date and fixed SVG ids: the same figure gives the same bytes,
    so DVC does not rerun downstream stages for an unchanged result."""
    import matplotlib
    if matplotlib.rcParams.get("svg.hashsalt") is None:
        matplotlib.rcParams["svg.hashsalt"] = "amirova-sem-pipeline"
    return {"Date": None} if ext in ("svg", "pdf") else {}


def render_table_html(df: pd.DataFrame, *, digits: int = 3, caption: str | None = None) -> str:
    """Round for display only and return an HTML table."""
    styler = df.style.format(precision=digits, na_rep="—")
    if caption:
        styler = styler.set_caption(caption)
    return styler.to_html()


# -------------------------------------------------------------- synthetic
def wave_is_synthetic(raw_file: str | os.PathLike) -> dict[str, Any] | None:
    """Return the synthetic-data metadata of *raw_file*, or ``None`` when real.

    A file is synthetic when a sidecar ``<stem>.meta.json`` says so.
    """
    p = paths.resolve(raw_file)
    meta = p.with_name(p.stem + ".meta.json")
    if meta.exists():
        data = json.loads(meta.read_text(encoding="utf-8"))
        if data.get("synthetic"):
            return data
    return None


def synthetic_banner(meta: Mapping[str, Any] | None) -> str:
    """The visible banner every report built from synthetic data shows (HTML)."""
    if not meta:
        return ""
    seed = html.escape(str(meta.get("seed", "?")))
    version = html.escape(str(meta.get("generator_version", meta.get("version", "?"))))
    return (
        '<div style="border:3px solid #b00;background:#fee;padding:10px;margin:8px 0;'
        'font-weight:bold;color:#700">SYNTHETIC DATA — these results are computed from '
        "calibrated synthetic respondents, not from the thesis's real questionnaires "
        f"(generator {version}, seed {seed}). Structural conclusions hold by construction "
        "of the population model.</div>"
    )


# ------------------------------------------------------------ result store
class SectionWriter:
    """Collects one report section's tables, figures and notes on disk.

    The analyze stage writes ``<results>/<section>/manifest.json`` plus one
    CSV per table (full precision) and PNG + SVG per figure; the report
    stage only reads and displays them (:class:`SectionReader`).
    """

    def __init__(self, results_dir: str | os.PathLike, key: str, title: str) -> None:
        self.dir = Path(results_dir) / key
        self.key, self.title = key, title
        self.items: list[dict[str, Any]] = []

    def table(self, name: str, df: pd.DataFrame, *, caption: str = "", note: str = "",
              digits: int = 3, index: bool = True) -> None:
        write_csv(self.dir / f"{name}.csv", df, index=index)
        self.items.append({"kind": "table", "name": name, "caption": caption, "note": note,
                           "digits": digits, "index": index,
                           "index_cols": df.index.nlevels if index else 0})

    def figure(self, name: str, fig: Any, *, caption: str = "") -> None:
        for ext in ("png", "svg"):
            with atomic_write(self.dir / f"{name}.{ext}", "wb", encoding=None) as fh:
                fig.savefig(fh, format=ext, dpi=150, bbox_inches="tight", metadata=_fig_metadata(ext))
        self.items.append({"kind": "figure", "name": name, "caption": caption})

    def text(self, markdown: str) -> None:
        self.items.append({"kind": "text", "markdown": markdown})

    def warning(self, message: str) -> None:
        """A visible warning of the section, once.

        A message is left out when the section already shows it, with or
        without its ``<Class>:`` prefix, or inside a longer warning (an
        "INADMISSIBLE: w1; w2" summary followed by w1 and w2).
        """
        text = _warning_text(message)
        for it in self.items:
            if it["kind"] == "warning" and (text == _warning_text(it["message"])
                                            or text in it["message"]):
                return
        self.items.append({"kind": "warning", "message": message})

    def close(self) -> None:
        from pipeline.core.io import write_json
        write_json(self.dir / "manifest.json", {"key": self.key, "title": self.title,
                                                "items": self.items})


def _warning_text(message: str) -> str:
    """A warning's text without its ``<Class>:`` prefix."""
    import re
    return re.sub(r"^[A-Za-z]*Warning: ", "", str(message).strip())


class SectionReader:
    """Displays a stored section and exports its tables/figures to a report directory."""

    def __init__(self, results_dir: str | os.PathLike, key: str) -> None:
        self.dir = Path(results_dir) / key
        manifest = self.dir / "manifest.json"
        if not manifest.exists():
            raise FileNotFoundError(f"section {key!r} was not computed: {manifest} is missing")
        self.manifest = json.loads(manifest.read_text(encoding="utf-8"))

    def render(self, out_dir: str | os.PathLike) -> str:
        """Return the section as HTML; export tables (CSV + LaTeX) and figures."""
        import base64

        parts: list[str] = []
        for item in self.manifest["items"]:
            kind = item["kind"]
            if kind == "table":
                df = pd.read_csv(self.dir / f"{item['name']}.csv",
                                 index_col=list(range(item["index_cols"])) or None)
                df.index = _blank_index(df.index)
                export_table(df, f"{self.manifest['key']}_{item['name']}", out_dir,
                             caption=item.get("caption") or None, digits=item["digits"],
                             index=item["index"])
                parts.append(render_table_html(df, digits=item["digits"],
                                               caption=item.get("caption") or None))
                if item.get("note"):
                    parts.append(f"<p><em>{html.escape(item['note'])}</em></p>")
            elif kind == "figure":
                figs = Path(out_dir) / "figures"
                for ext in ("png", "svg"):
                    src = self.dir / f"{item['name']}.{ext}"
                    from pipeline.core.io import write_bytes
                    write_bytes(figs / f"{self.manifest['key']}_{item['name']}.{ext}", src.read_bytes())
                data = base64.b64encode((self.dir / f"{item['name']}.png").read_bytes()).decode()
                cap = html.escape(item.get("caption", ""))
                parts.append(f'<figure><img style="max-width:100%" src="data:image/png;base64,{data}"/>'
                             f"<figcaption>{cap}</figcaption></figure>")
            elif kind == "text":
                parts.append(_markdown_to_html(item["markdown"]))
            elif kind == "warning":
                parts.append('<div style="border:2px solid #c60;background:#fff4e5;padding:6px">'
                             f"⚠ {html.escape(item['message'])}</div>")
        return "\n".join(parts)


def _blank_index(index: pd.Index) -> pd.Index:
    """Empty index labels (a CSV round trip makes them NaN) shown as blanks."""
    if isinstance(index, pd.MultiIndex):
        return pd.MultiIndex.from_arrays(
            [lv.map(lambda v: "" if pd.isna(v) else v)
             for lv in (index.get_level_values(i) for i in range(index.nlevels))],
            names=index.names)
    return index.map(lambda v: "" if pd.isna(v) else v) if index.hasnans else index


def _markdown_to_html(text: str) -> str:
    """Minimal Markdown (paragraphs, bullet lists, **bold**) to HTML, escaping the rest."""
    import re

    out, in_list = [], False
    for block in text.strip().split("\n"):
        line = html.escape(block.rstrip())
        line = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", line)
        line = re.sub(r"`(.+?)`", r"<code>\1</code>", line)
        if line.lstrip().startswith(("- ", "* ")):
            if not in_list:
                out.append("<ul>")
                in_list = True
            out.append(f"<li>{line.lstrip()[2:]}</li>")
            continue
        if in_list:
            out.append("</ul>")
            in_list = False
        if line.strip():
            out.append(f"<p>{line}</p>")
    if in_list:
        out.append("</ul>")
    return "\n".join(out)
