"""Report runner: typed parameters, failing cells, atomic output, exports (issue 8 item 16)."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import matplotlib
import nbformat
import numpy as np
import pandas as pd
import pytest

from pipeline.reporting.report import (NotebookError, check_parameters, export_table,
                              notebook_parameters, run_notebook, save_figure)

matplotlib.use("Agg")
ROOT = Path(__file__).resolve().parents[2]


def _notebook(path: Path, body: str, params: str = 'wave: str = "cs2019"\nout_dir: str = "."\nreps: int = 3') -> Path:
    nb = nbformat.v4.new_notebook()
    p = nbformat.v4.new_code_cell(params)
    p.metadata["tags"] = ["parameters"]
    nb.cells = [p, nbformat.v4.new_code_cell("x = 1"), nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def test_parameters_cell_is_read_with_types(tmp_path):
    nb = _notebook(tmp_path / "a.ipynb", "pass")
    idx, params = notebook_parameters(nb)
    assert idx == 0
    assert params == {"wave": "cs2019", "out_dir": ".", "reps": 3}


@pytest.mark.parametrize("bad", [{"reps": "3"}, {"wave": 2019}, {"reps": True}, {"unknown": 1}])
def test_wrong_parameter_type_or_name_is_an_error_naming_notebook_and_cell(tmp_path, bad):
    nb = _notebook(tmp_path / "a.ipynb", "pass")
    with pytest.raises(NotebookError, match=r"a\.ipynb: cell 0"):
        check_parameters(nb, bad)


def test_failing_cell_names_cell_and_leaves_no_output(tmp_path):
    nb = _notebook(tmp_path / "a.ipynb", "raise RuntimeError('boom')")
    out = tmp_path / "reports" / "w"
    with pytest.raises(NotebookError, match=r"a\.ipynb: cell \d+ failed \(RuntimeError: boom\)"):
        run_notebook(nb, out, {"wave": "w"})
    assert not out.exists()
    assert list((tmp_path / "reports").iterdir()) == []  # no staging directory left


def test_successful_run_writes_ipynb_html_and_notebook_files(tmp_path):
    body = ("from pathlib import Path\n"
            "Path(out_dir, 'tables').mkdir(parents=True, exist_ok=True)\n"
            "Path(out_dir, 'tables', 't.csv').write_text('a\\n1\\n')\n"
            "print('wave', wave)")
    nb = _notebook(tmp_path / "a.ipynb", body)
    out = tmp_path / "reports" / "w"
    run = run_notebook(nb, out, {"wave": "w"})
    assert run.notebook.exists() and run.html.exists()
    assert (out / "tables" / "t.csv").read_text() == "a\n1\n"
    executed = nbformat.read(run.notebook, as_version=4)
    assert any("wave w" in "".join(o.get("text", "")) for c in executed.cells
               for o in c.get("outputs", []))


def test_stage_cli_failure_exits_nonzero_without_traceback(tmp_path):
    r = subprocess.run([sys.executable, "-m", "pipeline", "stage", "report", "--wave", "nope"],
                       capture_output=True, text=True)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr and "nope" in r.stderr


def test_export_table_and_figure(tmp_path):
    import matplotlib.pyplot as plt

    df = pd.DataFrame({"est": [0.123456789, 1.5]}, index=["a", "b"])
    out = export_table(df, "t1", tmp_path, caption="c")
    back = pd.read_csv(out["csv"], index_col=0)
    assert back["est"].iloc[0] == pytest.approx(0.123456789, abs=1e-12)  # full precision
    assert "0.123" in out["tex"].read_text() and "0.1234" not in out["tex"].read_text()
    fig, ax = plt.subplots()
    ax.plot([1, 2])
    files = save_figure(fig, "f1", tmp_path)
    assert files["png"].read_bytes()[:4] == b"\x89PNG"
    assert b"<svg" in files["svg"].read_bytes()[:500]
    plt.close(fig)


def test_figures_are_byte_identical_across_runs(tmp_path):
    """Deterministic outputs: DVC must not see a changed figure for an unchanged result."""
    import matplotlib.pyplot as plt

    blobs = []
    for i in range(2):
        fig, ax = plt.subplots()
        ax.plot([1, 2, 3], [3, 1, 2])
        files = save_figure(fig, "f", tmp_path / str(i))
        plt.close(fig)
        blobs.append((files["png"].read_bytes(), files["svg"].read_bytes()))
    assert blobs[0] == blobs[1]


def test_one_generic_notebook_knows_no_study():
    """Every wave of every study runs pipeline/reporting/wave_report.ipynb: a wave
    parameter, then the stored sections; no title, section or study word in it."""
    from pipeline.cli.stage import NOTEBOOK
    _, params = notebook_parameters(NOTEBOOK)
    assert params == {"wave": "", "out_dir": "."}
    text = NOTEBOOK.read_text(encoding="utf-8")
    for word in ("cs2019", "Table", "Annex", "Citizen", "H5", "amirova", "holzinger"):
        assert word not in text
    # the notebook in the repository is what scripts/make_notebooks.py writes
    import importlib.util
    spec = importlib.util.spec_from_file_location("mk", ROOT / "scripts" / "make_notebooks.py")
    mk = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mk)
    assert nbformat.reads(text, as_version=4) == mk.build()


def test_empty_sections_are_left_out(tmp_path):
    """A section that writes no table or figure is not listed and leaves no folder."""
    from pipeline.workflow.wave import _Section

    class Ctx:
        results = tmp_path
        report = {"sections": {"cfa": {"title": "CFA fit (Table 12)"}}, "captions": {"cfa.fit": "T12"}}
        written: list = []

    ctx = Ctx()
    empty = _Section(ctx, "efa")
    empty.text("nothing to show")
    empty.close()
    full = _Section(ctx, "cfa")
    full.table("fit", pd.DataFrame({"value": [1.0]}), caption="default caption")
    full.close()
    assert ctx.written == [("cfa", "CFA fit (Table 12)")]
    assert not (tmp_path / "efa").exists()
    man = json.loads((tmp_path / "cfa" / "manifest.json").read_text(encoding="utf-8"))
    assert man["items"][0]["caption"] == "T12"      # the study's caption, not the default


def test_each_warning_appears_once(tmp_path):
    """Issue 13 item 11: a result's own warnings list repeats what the capture helper
    caught ("<Class>: msg" and "msg"); an INADMISSIBLE summary repeats its parts.
    The section shows each once."""
    import warnings as _w

    from pipeline.core.exceptions import NotEstimableWarning
    from pipeline.reporting.report import SectionWriter
    from pipeline.workflow.wave import _Captured, merge_warnings

    with _Captured() as caught:
        _w.warn("omega not estimable", NotEstimableWarning)
        _w.warn("omega not estimable", NotEstimableWarning)
    assert caught == ["NotEstimableWarning: omega not estimable"]
    assert merge_warnings(caught, ["omega not estimable", "other"]) == \
        ["NotEstimableWarning: omega not estimable", "other"]
    sw = SectionWriter(tmp_path, "s", "S")
    sw.warning("The solution is INADMISSIBLE: negative variance of x1; Heywood case")
    sw.warning("InadmissibleFitWarning: negative variance of x1")
    sw.warning("NotEstimableWarning: omega not estimable")
    sw.warning("omega not estimable")
    assert [i["message"] for i in sw.items] == [
        "The solution is INADMISSIBLE: negative variance of x1; Heywood case",
        "NotEstimableWarning: omega not estimable"]


def test_org_uses_the_one_capture_helper():
    """Issue 13 item 11: one warning-capture helper (wave._Captured)."""
    src = (ROOT / "pipeline" / "workflow" / "org.py").read_text(encoding="utf-8")
    assert "catch_warnings" not in src and "_Captured" in src


def test_demographics_spec_naming_an_unknown_variable_fails_with_the_name(monkeypatch):
    """Issue 13 item 1: Table 11 mapped `experience`, the column is `cs_experience`;
    the block was skipped silently.  Now the check fails naming it."""
    from pipeline.cli import config
    from pipeline.cli.schema import SettingsError
    from pipeline.workflow import wave as wave_mod

    real = config.wave_settings("cs2019")
    assert real["demographics"]["variables"]["experience"]["variable"] == "cs_experience"
    bad = {**real, "demographics": {**real["demographics"], "variables": {
        **real["demographics"]["variables"],
        "experience": {"variable": "experience", "codes": {"lt3": 1}}}}}
    monkeypatch.setattr(config, "wave_settings", lambda w: bad)
    with pytest.raises(SettingsError, match=r"demographics\.variables\.experience\.variable: "
                                            r"'experience' is not a codebook variable"):
        wave_mod.check_wave("cs2019")
    bad["demographics"]["variables"]["experience"] = {"variable": "cs_experience",
                                                       "codes": {"lt3": 9}}
    with pytest.raises(SettingsError, match=r"codes: \[9\] are not codes"):
        wave_mod.check_wave("cs2019")


# ------------------------------------------------------------------ issue 13 items 3, 6, 7; issue 14 items 1, 3
_EVIL = "<script>alert(1)</script>"


def _stored_section(results: Path) -> None:
    from pipeline.reporting.report import SectionWriter

    w = SectionWriter(results, "fit", "Fit", k=5)
    df = pd.DataFrame({"est": [26.153846153846153, 0.007990122166582365],
                       "pvalue": [0.0001, 0.0342], "n": [100, 57], "ok": [True, False],
                       f"col {_EVIL}": ["=HYPERLINK(\"x\")", "b"]},
                      index=pd.Index([f"row <img src=x onerror=alert(2)>", "b"], name="path"))
    w.table("t", df, caption=f"Caption {_EVIL} \\input{{/etc/passwd}}", note=f"note {_EVIL}")
    w.warning(f"Warning {_EVIL}")
    w.close()


def test_section_tables_are_apa_escaped_and_exported_to_csv_tex_docx(tmp_path):
    """Every table through reporting.format (no unrounded float, p as .034 / < .001,
    integers, words for booleans) and reporting.escape (HTML, LaTeX caption, CSV
    formulas); each table also a .docx; CSV keeps full precision."""
    from pipeline.reporting.report import SectionReader

    _stored_section(tmp_path / "results")
    r = SectionReader(tmp_path / "results", "fit")
    html = r.render(tmp_path / "out", first_table=3)
    assert r.n_tables == 1 and r.n_figures == 0
    assert "<script>" not in html and "<img src=x" not in html and "&lt;script&gt;" in html
    assert "26.154" in html and "26.1538" not in html and ".008" in html and "0.00799" not in html
    assert "&lt; .001" in html and ".034" in html and ">yes<" in html and ">100<" in html
    assert "Table 3" in html and 'id="T_' not in html
    tables = tmp_path / "out" / "tables"
    back = pd.read_csv(tables / "fit_t.csv", index_col=0, float_precision="round_trip")
    assert back["est"].iloc[0] == 26.153846153846153            # full precision
    assert back.iloc[0, -1].startswith("'=")                     # formula neutralised
    tex = (tables / "fit_t.tex").read_text(encoding="utf-8")
    assert "\\input{" not in tex and "\\textbackslash{}input\\{" in tex
    assert "26.154" in tex and "26.1538" not in tex
    assert (tables / "fit_t.docx").read_bytes()[:2] == b"PK"


def test_count_below_k_is_refused_before_writing(tmp_path):
    """Issue 14 item 1: a respondent count 1..k-1 never reaches a stored table."""
    from pipeline.data.disclosure import DisclosureError
    from pipeline.reporting.report import SectionWriter

    w = SectionWriter(tmp_path, "d", "D", k=5)
    with pytest.raises(DisclosureError, match=r"d/dist: column '2 n' prints a count below k = 5"):
        w.table("dist", pd.DataFrame({"1 n": ["<5", 40], "2 n": [3, 60]}, index=["A", "B"]))
    assert not (tmp_path / "d" / "dist.csv").exists()
    w.table("ok", pd.DataFrame({"1 n": ["<5", 40], "2 n": ["[c]", 60]}, index=["A", "B"]))


def test_distribution_table_prints_no_count_below_k():
    """Issue 14 item 1: the 2019 response-distribution table printed counts of 1-3."""
    import warnings as _w

    from pipeline.workflow import wave as wave_mod

    ws = wave_mod.check_wave("cs2019")
    cb = wave_mod.wave_codebook(ws)
    rng = np.random.default_rng(3)
    items = [n for n in cb.likert_items][:4]
    data = pd.DataFrame({i: rng.choice([1, 2, 3, 4, 5], p=[.02, .03, .15, .4, .4], size=100)
                         for i in items})

    class Sec:
        tables: dict = {}

        def table(self, name, df, **kw):
            self.tables[name] = (df, kw)

        def text(self, *a):
            pass

        def warning(self, *a):
            pass

        def close(self):
            pass

    class Ctx:
        pass

    ctx = Ctx()
    ctx.cb, ctx.data, ctx.items, ctx.constructs, ctx.ws, ctx.k = cb, data, items, {}, ws, 5
    sec = Sec()
    ctx.section = lambda key: sec
    with _w.catch_warnings():
        _w.simplefilter("ignore")
        wave_mod._descriptives(ctx)
    shown, kw = sec.tables["distribution"]
    for col in [c for c in shown.columns if c.endswith(" n")]:
        v = pd.to_numeric(shown[col], errors="coerce")
        assert not ((v > 0) & (v < 5)).any(), col
    assert (shown == "<5").any().any() and "fewer than 5" in kw["note"]


def test_reproducible_notebook_strips_run_metadata_and_paths(tmp_path):
    """Issue 13 item 7: papermill's times, paths and random cell ids leave the notebook."""
    from pipeline.reporting.report import reproducible_notebook

    nb = nbformat.v4.new_notebook()
    c = nbformat.v4.new_code_cell('out_dir = "/tmp/xyz/.staging/reports__w.123.ab.tmp"')
    c.metadata["papermill"] = {"start_time": "2026-01-01T00:00:00", "duration": 1.2}
    c.metadata["execution"] = {"iopub.status.busy": "2026-01-01T00:00:00"}
    c.outputs = [nbformat.v4.new_output("stream", name="stdout",
                                        text="wrote /tmp/xyz/.staging/reports__w.123.ab.tmp/t.csv")]
    c["id"] = "a1b2c3d4-random"
    nb.cells = [c]
    nb.metadata["papermill"] = {"start_time": "x", "end_time": "y", "duration": 3.0,
                                "input_path": "/tmp/xyz/nb.ipynb", "output_path": "/tmp/xyz/o",
                                "parameters": {"out_dir": "/tmp/xyz/.staging/reports__w.123.ab.tmp"}}
    p = tmp_path / "r.ipynb"
    nbformat.write(nb, p)
    reproducible_notebook(p, {"/tmp/xyz/.staging/reports__w.123.ab.tmp": "reports/w",
                              "/tmp/xyz": "."})
    text = p.read_text(encoding="utf-8")
    for bad in ("/tmp/xyz", "staging", "2026-01-01", "start_time", "duration", "random"):
        assert bad not in text, bad
    assert 'out_dir = \\"reports/w\\"' in text and "reports/w/t.csv" in text


def test_provenance_section_from_settings(tmp_path):
    """Issue 13 item 6: chi-square convention and why, the thesis's rule (from the
    study's methods.yaml) next to the one used, versions, SHA-256 of the input."""
    import hashlib

    from pipeline.core import paths
    from pipeline.workflow import wave as wave_mod
    from pipeline.workflow.provenance import provenance_section

    ws = wave_mod.check_wave("cs2019")
    ctx = wave_mod._Context("cs2019", ws, wave_mod.wave_codebook(ws), pd.DataFrame(), tmp_path)
    provenance_section(ctx)
    t = pd.read_csv(tmp_path / "provenance" / "methods.csv", index_col=0)["value"]
    digest = hashlib.sha256(paths.resolve(ws["raw"]).read_bytes()).hexdigest()
    assert t["SHA-256 of the input file"] == digest
    assert "(N - 1) x F_ML" in t["chi-square convention"] and "AMOS" in t["why this convention"]
    assert "1.97" in t["The thesis's decision rule (line 1050)"]
    assert "|z| > 1.960" in t["decision rule used here"]
    assert t["version: pandas"] == pd.__version__
    text = (tmp_path / "provenance" / "methods.csv").read_text(encoding="utf-8")
    assert str(paths.ROOT) not in text and not re.search(r"20\d\d-\d\d-\d\d", text)


def test_bar_geometry_reveals_no_suppressed_count():
    """Issue 14 item 1: stacked-bar widths gave the exact counts; a bar of 33.0 % next
    to a [c] cell gave a count of 1.  Suppressed segments are merged (stacked bars)
    or drawn empty (one bar per answer)."""
    from pipeline.reporting.report import disclosed_bar_counts, disclosed_shares

    c = pd.DataFrame({5: [40, 30], 4: [50, 60], 3: [7, 8], 2: [2, 1], 1: [1, 1]}, index=["a", "b"])
    drawn = disclosed_bar_counts(c, 5)
    assert list(drawn.columns) == [5, 4, 3, 2, 1, "suppressed"]
    assert drawn[[2, 1]].to_numpy().sum() == 0
    assert drawn["suppressed"].tolist() == [3, 2]
    assert (drawn.sum(axis=1) == c.sum(axis=1)).all()
    # no drawn segment is a count 1..k-1 except the merged one (their sum, known from the total)
    shown = drawn.drop(columns="suppressed").to_numpy()
    assert not ((shown > 0) & (shown < 5)).any()
    counts, hidden = disclosed_shares(pd.Series([40, 50, 7, 2, 0], index=[5, 4, 3, 2, 1]), 5)
    assert counts[2] == 0 and hidden[2] and hidden.sum() >= 2   # complementary: two hidden
    assert not (((counts > 0) & (counts < 5))).any()


def test_report_header_and_titles_are_escaped(tmp_path, monkeypatch):
    """Issue 14 item 3: a codebook title, an answer label or the input path with
    markup appears as text in report.html (header table, headings, tables)."""
    from pipeline.workflow.wave import WaveReport

    results = tmp_path / "results"
    _stored_section(results)
    (results / "info.json").write_text(json.dumps({
        "title": f"Survey {_EVIL}", "raw file": "data/raw/<img src=x onerror=alert(3)>.csv",
        "synthetic": False, "instrument": _EVIL}), encoding="utf-8")
    (results / "sections.json").write_text(json.dumps([["fit", f"Fit {_EVIL}"]]), encoding="utf-8")
    shown: list[str] = []
    import IPython.display as disp
    monkeypatch.setattr(disp, "display", lambda obj: shown.append(obj.data))
    r = WaveReport.__new__(WaveReport)
    r.wave, r.out_dir, r.results = "w", tmp_path / "out", results
    r.info = json.loads((results / "info.json").read_text(encoding="utf-8"))
    r.header()
    r.show_all()
    page = "\n".join(shown)
    assert "<script>" not in page and "<img src=x" not in page
    assert page.count("&lt;script&gt;") >= 5           # title, instrument, section, column, caption
    assert "Table 1" in page
    assert r.write_docx().read_bytes()[:2] == b"PK"


def test_a_factor_named_n_is_not_a_count(tmp_path):
    """bfi's Neuroticism factor N in a Fornell-Larcker matrix is not a respondent count."""
    from pipeline.reporting.report import SectionWriter

    w = SectionWriter(tmp_path, "rel", "R", k=5)
    w.table("fl", pd.DataFrame({"A": [0.71, 0.2], "N": [0.2, 0.68]}, index=["A", "N"]))
    assert (tmp_path / "rel" / "fl.csv").exists()
