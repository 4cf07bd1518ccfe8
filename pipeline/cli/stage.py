"""DVC stage entry points: ``python -m pipeline stage NAME --wave W``.

``dvc.yaml`` runs one of these per wave (``foreach`` over ``params.yaml``'s
``waves``).  Every stage first validates the wave's settings, files and
hypotheses (:func:`pipeline.workflow.wave.check_wave`), so a typo fails in a
second, before any fit or bootstrap.  Each stage reads its inputs through
``pipeline.core.paths`` and ``pipeline.cli.config``, writes its outputs
atomically and never touches ``data/raw``:

``prepare``
    load the wave's raw file against its codebook, screen it, write the clean
    data, the exclusion log and the funnel to ``data/processed/<wave>/``.
``analyze``
    run the wave's analyses (``pipeline.workflow.wave``) into
    ``data/processed/<wave>/results/``.
``report``
    execute the generic report notebook into ``reports/<wave>/`` and write
    ``data/processed/<wave>/report.json`` (what the scorecard's index links).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipeline.core import paths

__all__ = ["main", "STAGES", "NOTEBOOK"]

#: The one report notebook every wave of every study uses.
NOTEBOOK = Path(__file__).resolve().parents[1] / "reporting" / "wave_report.ipynb"


def _prepare(wave: str) -> None:
    from pipeline.workflow.wave import prepare_wave
    prepare_wave(wave)


def _analyze(wave: str) -> None:
    from pipeline.workflow.wave import analyze_wave
    analyze_wave(wave)


def _report(wave: str) -> None:
    import json

    from pipeline.core.io import write_json
    from pipeline.reporting.report import run_notebook
    from pipeline.workflow.wave import results_dir

    run_notebook(NOTEBOOK, paths.report_dir(wave), {"wave": wave}, name="report")
    info = json.loads((results_dir(wave) / "info.json").read_text(encoding="utf-8"))
    write_json(paths.wave_dir(wave) / "report.json",
               {"wave": wave, "study": info.get("study"), "title": info.get("title"),
                "synthetic": bool(info.get("synthetic")),
                "report": f"{paths.report_dir(wave).relative_to(paths.ROOT).as_posix()}/report.html"})


STAGES = {"prepare": _prepare, "analyze": _analyze, "report": _report}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m pipeline stage",
                                 description="Run one DVC stage for one wave.")
    ap.add_argument("name", choices=sorted(STAGES))
    ap.add_argument("--wave", required=True, help="a wave listed in params.yaml")
    args = ap.parse_args(argv)
    # a SIGKILLed `dvc repro` must not leave this stage running on to swap in results later
    from pipeline.core.io import exit_when_orphaned
    exit_when_orphaned()
    from pipeline.workflow.wave import check_wave
    check_wave(args.wave)  # settings, files, hypotheses: fails fast, naming the path
    STAGES[args.name](args.wave)
    return 0


if __name__ == "__main__":
    sys.exit(main())
