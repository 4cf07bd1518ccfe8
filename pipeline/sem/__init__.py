"""SEM engine: lavaan syntax, ML/FIML estimation, parameter table, diagnostics.

Public front door::

    from pipeline.sem import parse_model, implied_moments, fit
    res = fit("L =~ L1 + L2 + L3 ...", data)
    res.parameters, res.r2, res.fit_measures(), res.modification_indices()

``python -m pipeline fit DATA MODEL`` dispatches to :func:`main`.

In R: ``lavaan::sem()``.
"""
from __future__ import annotations

from .estimate import Estimator, SampleStats, sample_stats
from .model import SEMModel, implied_moments
from .results import SEMResult, build_model, fit
from .syntax import ParsedModel, ParTable, lavaanify, parse_model

__all__ = ["parse_model", "lavaanify", "implied_moments", "fit", "build_model", "SEMResult",
           "SEMModel", "Estimator", "SampleStats", "sample_stats", "ParsedModel", "ParTable",
           "main"]


def main(argv: list[str] | None = None) -> int:
    """CLI entry point of ``python -m pipeline fit`` (see :mod:`pipeline.sem.cli`)."""
    from .cli import main as _main
    return _main(argv)
