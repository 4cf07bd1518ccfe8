"""Report runner: typed parameters, failing cells, atomic output, exports (issue 8 item 16)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import matplotlib
import nbformat
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
