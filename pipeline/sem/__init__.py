"""SEM engine: lavaan syntax, ML/FIML estimation, parameter table, diagnostics.

Public front door::

    from pipeline.sem import parse_model, implied_moments, fit
    res = fit("L =~ L1 + L2 + L3 ...", data)
    res.parameters, res.r2, res.fit_measures(), res.modification_indices()

``python -m pipeline fit DATA MODEL`` is :mod:`pipeline.cli.fit`.

In R: ``lavaan::sem()``.
"""
from __future__ import annotations

from pipeline.sem.estimate import Estimator, SampleStats, sample_stats
from pipeline.sem.model import SEMModel, implied_moments
from pipeline.sem.results import SEMResult, build_model, fit
from pipeline.sem.syntax import ParsedModel, ParTable, lavaanify, parse_model

__all__ = ["parse_model", "lavaanify", "implied_moments", "fit", "build_model", "SEMResult",
           "SEMModel", "Estimator", "SampleStats", "sample_stats", "ParsedModel", "ParTable"]

