"""Psychometrics: descriptives as SPSS prints them, reliability and validity, EFA.

Front door::

    from pipeline.psychometrics import describe, scale_reliability, run_efa, validity_from_sem
    describe(data, items, {"A": ["A1", "A2"]})        # n, mean, SD, skewness, kurtosis, Mardia
    scale_reliability(data, ["A1", "A2", "A3"], ["A1"])   # alpha (Feldt CI), item-total, omega
    run_efa(data, items, n_factors="parallel")        # KMO, Bartlett, parallel analysis, loadings
    validity_from_sem(cfa_result)                     # CR, AVE, Fornell-Larcker, HTMT

The functions ``reliability.reliability`` and ``efa.efa`` share their
modules' names, so they are not re-exported under them (that would hide the
modules ``pipeline.psychometrics.reliability`` and ``.efa``): use
:func:`scale_reliability` / :func:`reliability_of_scales` and :func:`run_efa`.

In R: ``psych::describe``, ``psych::alpha``, ``psych::omega``, ``psych::fa``,
``semTools::compRelSEM``/``AVE``/``htmt``.
"""
from pipeline.psychometrics.descriptives import construct_scores, describe, describe_codebook
from pipeline.psychometrics.efa import (bartlett_sphericity, candidate_items, correlation_matrix,
                                        factor_analysis, kmo, parallel_analysis)
from pipeline.psychometrics.efa import efa as run_efa
from pipeline.psychometrics.reliability import (average_variance_extracted, composite_reliability,
                                                cronbach_alpha, htmt, omega_total,
                                                reliability_from_codebook, scale_reliability,
                                                validity_from_sem)
from pipeline.psychometrics.reliability import reliability as reliability_of_scales

__all__ = ["describe", "describe_codebook", "construct_scores",
           "reliability_of_scales", "scale_reliability", "reliability_from_codebook", "cronbach_alpha",
           "omega_total", "composite_reliability", "average_variance_extracted", "htmt",
           "validity_from_sem",
           "run_efa", "candidate_items", "correlation_matrix", "kmo", "bartlett_sphericity",
           "parallel_analysis", "factor_analysis"]
