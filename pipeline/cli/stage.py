"""DVC stage entry points: ``python -m pipeline stage NAME --wave W``.

``dvc.yaml`` runs one of these per wave (``foreach`` over ``params.yaml``'s
``waves``).  Each stage reads its inputs through ``pipeline.core.paths`` and
``pipeline.cli.config``, writes its outputs atomically and never touches
``data/raw``:

``prepare``
    load the wave's raw file against its codebook, screen it, write the clean
    data, the exclusion log and the funnel to ``data/processed/<wave>/``.
``analyze``
    run the wave's analyses (``pipeline.workflow.wave``) into
    ``data/processed/<wave>/results/``.
``report``
    execute the wave's notebook into ``reports/<wave>/``.
"""
from __future__ import annotations

import argparse
import sys

from pipeline.cli import config
from pipeline.core import paths

__all__ = ["main", "STAGES"]


def _prepare(wave: str) -> None:
    from pipeline.workflow.wave import prepare_wave
    prepare_wave(wave)


def _analyze(wave: str) -> None:
    from pipeline.workflow.wave import analyze_wave
    analyze_wave(wave)


def _report(wave: str) -> None:
    from pipeline.reporting.report import run_notebook

    wp = config.wave_params(wave)
    run_notebook(paths.resolve(wp["notebook"]), paths.report_dir(wave),
                 {"wave": wave}, name="report")


STAGES = {"prepare": _prepare, "analyze": _analyze, "report": _report}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m pipeline stage",
                                 description="Run one DVC stage for one wave.")
    ap.add_argument("name", choices=sorted(STAGES))
    ap.add_argument("--wave", required=True, help="a wave listed in params.yaml")
    args = ap.parse_args(argv)
    config.wave_params(args.wave)  # fails with the list of known waves
    STAGES[args.name](args.wave)
    return 0


if __name__ == "__main__":
    sys.exit(main())
