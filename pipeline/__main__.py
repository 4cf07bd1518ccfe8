"""Command-line entry point: ``python -m pipeline <command> [...]``.

Commands are dispatched lazily: each maps to a module exposing
``main(argv: list[str]) -> int``, imported only when that command runs, so
``--help`` stays fast and one broken analysis cannot stop the others.
Expected bad input (:class:`~pipeline.core.exceptions.PipelineError`, ``ValueError``
raised with a message) exits with status 2 and a one-line message, no
traceback.
"""
from __future__ import annotations

import importlib
import sys

# name -> (module, one-line help).  Keep sorted by workflow order.
COMMANDS: dict[str, tuple[str, str]] = {
    "synth": ("pipeline.cli.synth", "write the calibrated synthetic survey waves"),
    "validate": ("pipeline.cli.validate", "check a raw file against its instrument codebook"),
    "screen": ("pipeline.cli.screen", "screen a wave: missingness, straight-lining, outliers"),
    "describe": ("pipeline.cli.describe", "descriptive statistics of items and constructs"),
    "reliability": ("pipeline.cli.reliability", "Cronbach's alpha, item-total statistics, omega"),
    "efa": ("pipeline.cli.efa", "exploratory factor analysis with KMO, Bartlett, parallel analysis"),
    "fit": ("pipeline.cli.fit", "fit a lavaan-syntax model (ML, MLM, MLR, WLSMV, ..., FIML, groups, bootstrap)"),
    "invariance": ("pipeline.cli.invariance", "measurement invariance across groups (configural ... strict)"),
    "power": ("pipeline.cli.power", "Monte Carlo power analysis for a planned wave"),
    "cea": ("pipeline.cli.cea", "cost-effectiveness analysis of the pay-by-results pilot"),
    "new-study": ("pipeline.cli.new_study", "set up a study from a data file: codebook, models, params.yaml"),
    "stage": ("pipeline.cli.stage", "run one DVC stage (used by dvc.yaml)"),
    "audit": ("pipeline.cli.audit", "consistency audit of a reported fit table"),
    "scorecard": ("pipeline.cli.scorecard", "replication scorecard of the published numbers"),
}


def _usage() -> str:
    width = max(map(len, COMMANDS))
    lines = ["usage: python -m pipeline <command> [options]", "", "commands:"]
    lines += [f"  {name:<{width}}  {help_}" for name, (_, help_) in COMMANDS.items()]
    lines += ["", "Run 'python -m pipeline <command> --help' for a command's options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in {"-h", "--help", "help"}:
        print(_usage())
        return 0
    if argv[0] in {"-V", "--version"}:
        from pipeline import __version__
        print(__version__)
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"error: unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    from pipeline.core.exceptions import PipelineError
    try:
        return int(module.main(rest) or 0)
    except (PipelineError, ValueError, TypeError, FileNotFoundError, UnicodeDecodeError) as exc:
        if isinstance(exc, (TypeError,)) and not str(exc):
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
