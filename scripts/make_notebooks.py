"""Regenerate the one generic report notebook, pipeline/reporting/wave_report.ipynb.

The notebook holds no statistics and nothing of any study: a typed
``parameters`` cell, then the wave's title, header and every section with
something to show (``WaveReport.show_all``); the sections, their titles and
captions come from the wave's stored results (``pipeline.workflow.wave``),
which take them from the study's settings.  Written without outputs.
"""
from __future__ import annotations

import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGET = ROOT / "pipeline" / "reporting" / "wave_report.ipynb"


def build() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('wave: str = ""\nout_dir: str = "."')
    params.metadata["tags"] = ["parameters"]
    cells = [
        params,
        nbformat.v4.new_code_cell(
            "from pipeline.workflow.wave import WaveReport\n"
            "report = WaveReport(wave, out_dir)\n"
            "report.header()\n"
            "report.show_all()\n"
            "report.write_docx();"),
    ]
    for i, c in enumerate(cells):   # fixed cell ids: the file is byte-reproducible
        c["id"] = f"cell-{i}"
    nb.cells = cells
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def main() -> None:
    nbformat.write(build(), TARGET)


if __name__ == "__main__":
    main()
