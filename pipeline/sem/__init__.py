"""SEM engine: lavaan syntax, ML/FIML estimation, parameter table, diagnostics.

Public front door::

    from pipeline.sem import parse_model, implied_moments, fit
    res = fit("L =~ L1 + L2 + L3 ...", data)
    res.parameters, res.r2, res.fit_measures(), res.modification_indices()
    fit(model, data, estimator="MLR")                 # MLM, MLR, ULS, DWLS, WLSMV
    fit(model, data, ordered="all")                   # thresholds, polychorics, WLSMV
    fit(model, data, group="school", group_equal="loadings")   # multi-group
    measurement_invariance(model, data, group="school")        # configural ... strict

The multi-group and invariance names are imported on first use, so that
``import pipeline.sem`` stays light.

``python -m pipeline fit DATA MODEL`` is :mod:`pipeline.cli.fit`.

In R: ``lavaan::sem()``.
"""
from __future__ import annotations

from pipeline.sem.estimate import Estimator, SampleStats, sample_stats
from pipeline.sem.model import SEMModel, implied_moments
from pipeline.sem.results import SEMResult, build_model, fit
from pipeline.sem.syntax import ParsedModel, ParTable, lavaanify, parse_model

__all__ = ["parse_model", "lavaanify", "implied_moments", "fit", "build_model", "SEMResult",
           "SEMModel", "Estimator", "SampleStats", "sample_stats", "ParsedModel", "ParTable",
           "fit_multigroup", "MultiGroupResult", "measurement_invariance", "lav_test_lrt",
           "lav_test_score"]

_LAZY = {"fit_multigroup": "pipeline.sem.multigroup", "MultiGroupResult": "pipeline.sem.multigroup",
         "measurement_invariance": "pipeline.sem.invariance", "lav_test_lrt": "pipeline.sem.lrt",
         "lav_test_score": "pipeline.sem.score_test"}
#: names that differ from the function's name in its module (lavaan's lavTestScore)
_ALIAS = {"lav_test_score": "score_test"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib
        return getattr(importlib.import_module(_LAZY[name]), _ALIAS.get(name, name))
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

