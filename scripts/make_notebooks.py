"""Regenerate the thin report notebooks in studies/amirova2021/notebooks/ (run once after editing SECTIONS).

The notebooks hold no statistics: a typed ``parameters`` cell, then one
``report.show(section)`` call per section; everything is computed in
``pipeline/`` and rendered by ``pipeline.workflow.wave``.  Written without outputs.
"""
from __future__ import annotations

import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.workflow.wave import REPORT_SECTIONS  # noqa: E402

TITLES = {
    "sem_wave_report": "2019 civil servants: conceptual-model test (Annex G)",
    "org_wave_report": "2020 civil servants: organizational diagnostics (Annex H)",
    "citizens_report": "2020 residents of the capital (Annex I)",
}


def build(kind: str, sections: list[tuple[str, str]]) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('wave: str = "cs2019"\nout_dir: str = "."')
    params.metadata["tags"] = ["parameters"]
    cells = [
        nbformat.v4.new_markdown_cell(f"# {TITLES[kind]}"),
        params,
        nbformat.v4.new_code_cell(
            "from pipeline.workflow.wave import WaveReport\n"
            "report = WaveReport(wave, out_dir)\n"
            "report.header()"),
    ]
    for key, title in sections:
        cells.append(nbformat.v4.new_markdown_cell(f"## {title}"))
        cells.append(nbformat.v4.new_code_cell(f'report.show("{key}")'))
    nb.cells = cells
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def main() -> None:
    for kind, sections in REPORT_SECTIONS.items():
        nbformat.write(build(kind, sections), ROOT / "notebooks" / f"{kind}.ipynb")


if __name__ == "__main__":
    main()
