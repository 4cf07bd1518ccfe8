"""Reports: executing the parameterized notebooks, exporting tables and figures.

Notebooks hold no statistics.  A DVC stage calls :func:`run_notebook`, which

1. checks the injected parameters against the typed literals of the
   notebook's ``parameters`` cell (a wrong type fails before any cell runs);
2. executes the notebook with papermill in the project's own kernel, inside a
   temporary directory;
3. strips what depends on the run, not on the results (papermill's times
   and paths, random cell ids, the staging folder: :func:`reproducible_notebook`)
   and converts it to a standalone HTML page that loads nothing from the
   network (:mod:`pipeline.reporting.page`), with the APA table styles;
4. moves the finished directory into place with one rename, so a failing
   cell leaves no half-written report (the previous report, if any, is
   removed: DVC removes stage outputs before rerunning anyway).

Every table a reader sees goes through :mod:`pipeline.reporting.format`
(APA numbers) and :mod:`pipeline.reporting.escape` (HTML, LaTeX, CSV):
HTML (:func:`render_table_html`), CSV for spreadsheets (full precision,
formulas neutralised), LaTeX and Word (:mod:`pipeline.reporting.docx`);
figures as PNG and SVG.  Tables and figures are numbered in report order.
Counts of respondents below ``k`` are refused before a table is stored
(:func:`check_counts`), and bar figures are drawn from
:func:`disclosed_bar_counts` / :func:`disclosed_shares`
(:mod:`pipeline.data.disclosure`).  The same results give the same bytes.

In R: ``rmarkdown::render(params = ...)`` with ``knitr::kable`` / ``flextable``.
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
    "render_table_html", "SectionWriter", "SectionReader", "check_counts",
    "disclosed_bar_counts", "disclosed_shares",
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
        reproducible_notebook(executed, {str(staging): _shown_path(final),
                                         str(paths.ROOT): "."})
        _to_html(executed, staging / f"{name}.html")
    return NotebookRun(final / f"{name}.ipynb", final / f"{name}.html")


def _shown_path(final: Path) -> str:
    """*final* relative to the project (``reports/cs2019``), else its name."""
    try:
        return final.resolve().relative_to(paths.ROOT.resolve()).as_posix()
    except ValueError:
        return final.name


#: papermill's notebook metadata that depends on the run (times, paths), not on the results.
_RUN_METADATA = ("start_time", "end_time", "duration", "input_path", "output_path", "exception")


def reproducible_notebook(path: str | os.PathLike, replace: Mapping[str, str] | None = None) -> Path:
    """Make an executed notebook byte-reproducible, in place.

    Removes what depends on the run rather than on the results: papermill's
    start/end times, duration and input/output paths, the per-cell
    ``papermill`` and ``execution`` timings; renumbers the cell ids
    (``cell-0`` ...; papermill gives its injected cell a random id); and
    replaces each key of *replace* (the staging folder, the project root)
    by its value in every cell source, output and parameter, so no
    absolute or temporary path remains.
    """
    import nbformat

    p = Path(path)
    nb = nbformat.read(p, as_version=4)
    subs = sorted((replace or {}).items(), key=lambda kv: -len(kv[0]))

    def clean(value: Any) -> Any:
        if isinstance(value, str):
            for old, new in subs:
                value = value.replace(old, new)
            return value
        if isinstance(value, list):
            return [clean(v) for v in value]
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        return value

    pm = nb.metadata.get("papermill")
    if pm is not None:
        for key in _RUN_METADATA:
            pm.pop(key, None)
        pm["environment_variables"] = {}
        nb.metadata["papermill"] = clean(dict(pm))
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i}"
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
        cell["source"] = clean(cell["source"])
        if "outputs" in cell:
            cell["outputs"] = [nbformat.from_dict(clean(dict(o))) for o in cell["outputs"]]
    from pipeline.core.io import write_text
    return write_text(p, nbformat.writes(nb) + "\n")


# ----------------------------------------------------------- tables/figures
def export_table(df: pd.DataFrame, name: str, out_dir: str | os.PathLike, *,
                 caption: str | None = None, digits: int = 3, index: bool = True,
                 note: str | None = None, number: int | str | None = None,
                 docx: bool = False) -> dict[str, Path]:
    """Write *df* as ``tables/<name>.csv`` (full precision), ``.tex`` and optionally ``.docx``.

    The CSV is meant for people (spreadsheets): text cells, column names and
    index labels that begin like a formula are neutralised
    (:func:`pipeline.reporting.escape.csv_frame`); numbers are unchanged.
    The LaTeX table shows the cells as a paper prints them
    (:func:`pipeline.reporting.format.format_frame`) and escapes every cell,
    column and index name and the caption (:mod:`pipeline.reporting.escape`).
    The Word table is APA style (:func:`pipeline.reporting.docx.write_table_docx`).
    """
    from pipeline.reporting import escape
    from pipeline.reporting.format import format_frame

    tables = Path(out_dir) / "tables"
    csv_path = write_csv(tables / f"{name}.csv", df, index=index, for_people=True)
    shown = escape.latex_frame(format_frame(df, digits=None if digits == 3 else digits))
    latex = shown.to_latex(index=index, escape=False)
    if caption:
        latex = latex.replace("\\begin{tabular}", "\\caption{" + escape.latex(caption) + "}\n"
                              "\\label{tab:" + escape.latex(name) + "}\n\\begin{tabular}", 1)
        latex = "\\begin{table}\n" + latex + "\\end{table}\n"
    out = {"csv": csv_path, "tex": write_text(tables / f"{name}.tex", latex)}
    if docx:
        from pipeline.reporting.docx import write_table_docx
        out["docx"] = write_table_docx(df, tables / f"{name}.docx",
                                       number=number if number is not None else 1,
                                       title=caption or name, note=note or None, index=index,
                                       digits=None if digits == 3 else digits)
    return out


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


def render_table_html(df: pd.DataFrame, *, digits: int = 3, caption: str | None = None,
                      note: str | None = None, number: int | str | None = None,
                      index: bool = True) -> str:
    """An APA table in HTML (:func:`pipeline.reporting.format.html_table`): every cell
    formatted and escaped, no random ids (the same table gives the same bytes)."""
    from pipeline.reporting.format import html_table
    return html_table(df, caption=caption, number=number, note=note, index=index,
                      digits=None if digits == 3 else digits)


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

    def __init__(self, results_dir: str | os.PathLike, key: str, title: str, *,
                 k: int | None = None) -> None:
        self.dir = Path(results_dir) / key
        self.key, self.title = key, title
        self.k = k
        self.items: list[dict[str, Any]] = []

    def table(self, name: str, df: pd.DataFrame, *, caption: str = "", note: str = "",
              digits: int = 3, index: bool = True) -> None:
        """Store a table (full precision).  With ``k`` set, a respondent count
        ``0 < n < k`` in a count column is refused before anything is written
        (:func:`check_counts`)."""
        if self.k is not None:
            check_counts(df, self.k, f"{self.key}/{name}")
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


#: Column names (case-insensitive) that hold counts of respondents.
COUNT_COLUMNS = ("n", "count", "respondents", "frequency", "freq")


def check_counts(df: pd.DataFrame, k: int, where: str) -> None:
    """Refuse a table that prints a count of respondents ``0 < n < k``.

    The columns checked are those named as respondent counts
    (:data:`COUNT_COLUMNS`, or ending in `` n`` as ``"<code> n"`` of a
    distribution) whose numbers are all whole (a correlation matrix with a
    factor named ``N`` is not a count column).  A suppressed cell is text (``<5``, ``[c]``) and passes;
    a printed 1..k-1 raises :class:`pipeline.data.disclosure.DisclosureError`
    naming the table, column and row, so nothing is written.
    """
    from pipeline.data.disclosure import DisclosureError
    for col in df.columns:
        name = str(col[-1] if isinstance(col, tuple) else col).strip().lower()
        if not (name in COUNT_COLUMNS or name.endswith(" n")):
            continue
        vals = pd.to_numeric(df[col], errors="coerce")
        nums = vals.dropna()
        if nums.empty or not (nums == nums.round()).all():
            continue            # not counts (a factor named N in a correlation matrix)
        small = vals[(vals > 0) & (vals < k)]
        if len(small):
            raise DisclosureError(f"{where}: column {col!r} prints a count below k = {k} "
                                  f"(row {small.index[0]!r}); suppress it "
                                  "(pipeline.data.privacy.suppress_small_cells) before writing")


def disclosed_bar_counts(counts: pd.DataFrame, k: int, *, label: str = "suppressed") -> pd.DataFrame:
    """Counts to draw as bars without revealing a suppressed cell.

    The table (rows = bars, columns = segments) is suppressed at *k* as a
    report table is (:func:`pipeline.data.privacy.suppress_small_cells`, with
    complementary suppression); the suppressed cells of each bar are merged
    into one last segment *label* (:func:`pipeline.data.disclosure.merge_suppressed`),
    dropped when no bar has one.  Bar widths then show only what the table shows.
    """
    from pipeline.data.disclosure import merge_suppressed
    from pipeline.data.privacy import suppress_small_cells
    if not isinstance(counts, pd.DataFrame):
        raise TypeError("counts: a DataFrame (bars x segments) is required")
    sup = suppress_small_cells(counts, k, margins=False)
    mask = sup.mask.reindex(index=counts.index, columns=counts.columns).fillna(False).astype(bool)
    merged = merge_suppressed(counts, mask, label)
    if not (merged[label] > 0).any():
        merged = merged.drop(columns=label)
    return merged


def disclosed_shares(counts: pd.Series, k: int) -> tuple[pd.Series, pd.Series]:
    """(counts, mask) of one distribution drawn as separate bars: suppressed bars
    (``0 < n < k`` and their complements) get width 0 and must be labelled as
    suppressed, not with a percentage."""
    from pipeline.data.privacy import suppress_small_cells
    if not isinstance(counts, pd.Series):
        raise TypeError("counts: a Series (bar -> count) is required")
    frame = counts.to_frame("n")
    mask = suppress_small_cells(frame, k, margins=False).mask["n"].reindex(counts.index)
    mask = mask.fillna(False).astype(bool)
    return counts.where(~mask, 0), mask


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

    def render(self, out_dir: str | os.PathLike, *, first_table: int = 1,
               first_figure: int = 1) -> str:
        """Return the section as HTML; export tables (CSV, LaTeX, Word) and figures.

        Tables and figures are numbered from *first_table* / *first_figure*
        (:attr:`n_tables` / :attr:`n_figures` count what this section adds).
        Every table goes through :func:`pipeline.reporting.format.html_table`
        (APA numbers, escaped text); captions, notes and warnings are escaped.
        """
        from pipeline.core.io import write_bytes
        from pipeline.reporting.escape import html as esc
        from pipeline.reporting.page import figure_html

        parts: list[str] = []
        self.n_tables = self.n_figures = 0
        key = self.manifest["key"]
        for item in self.manifest["items"]:
            kind = item["kind"]
            if kind == "table":
                df = self.table(item)
                number = first_table + self.n_tables
                self.n_tables += 1
                caption = item.get("caption") or None
                export_table(df, f"{key}_{item['name']}", out_dir, caption=caption,
                             digits=item["digits"], index=item["index"],
                             note=item.get("note") or None, number=number, docx=True)
                parts.append(render_table_html(df, digits=item["digits"], caption=caption,
                                               note=item.get("note") or None, number=number,
                                               index=item["index"]))
            elif kind == "figure":
                figs = Path(out_dir) / "figures"
                for ext in ("png", "svg"):
                    src = self.dir / f"{item['name']}.{ext}"
                    write_bytes(figs / f"{key}_{item['name']}.{ext}", src.read_bytes())
                number = first_figure + self.n_figures
                self.n_figures += 1
                cap = item.get("caption", "")
                parts.append(figure_html(self.dir / f"{item['name']}.png",
                                         alt=cap or item["name"], caption=cap, number=number))
            elif kind == "text":
                parts.append(_markdown_to_html(item["markdown"]))
            elif kind == "warning":
                parts.append('<div class="warning" style="border:2px solid #c60;background:#fff4e5;'
                             f'padding:6px">⚠ {esc(item["message"])}</div>')
        return "\n".join(parts)

    def table(self, item: Mapping[str, Any]) -> pd.DataFrame:
        """A stored table (full precision) with its index as written."""
        df = pd.read_csv(self.dir / f"{item['name']}.csv",
                         index_col=list(range(item["index_cols"])) or None,
                         float_precision="round_trip")
        df.index = _blank_index(df.index)
        return df


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


def _to_html(executed: str | os.PathLike, target: str | os.PathLike) -> Path:
    """The report page of an executed notebook: offline, deterministic
    (:func:`pipeline.reporting.page.notebook_to_html`)."""
    from pipeline.reporting.page import PAGE_CSS, notebook_to_html
    out = notebook_to_html(executed, target)
    text = out.read_text(encoding="utf-8")
    if PAGE_CSS not in text:            # the APA table and figure styles, once per page
        text = text.replace("</head>", f"<style>{PAGE_CSS}</style>\n</head>", 1)
        write_text(out, text)
    return out
