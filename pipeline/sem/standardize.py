"""Standardized solutions: model-implied scales of every node, ``std.lv`` / ``std.all``.

Kept apart from :mod:`pipeline.sem.results` so that diagnostics (modification
indices, EPC standardization) can use it without importing the fitting code.

In R: ``lavaan:::lav_standardize_lv``, ``lav_standardize_all``;
``standardizedSolution(fit)``.
"""
from __future__ import annotations

import numpy as np

from pipeline.sem.model import SEMModel

__all__ = ["node_scales", "standardize_cells", "standardize"]


def node_scales(model: SEMModel, vals: np.ndarray, C: np.ndarray):
    """Model-implied SD of every node and the (residual) variance parameter of each."""
    var = np.diag(C).copy()
    with np.errstate(invalid="ignore"):
        sd = np.where(var > 0, np.sqrt(np.where(var > 0, var, 1.0)), np.nan)
    rv = np.full(model.n, np.nan)
    for k in range(len(model.rows)):
        if model.kind[k] == 1 and model.ii[k] == model.jj[k]:
            rv[model.ii[k]] = vals[k]
    return sd, rv


def standardize_cells(model: SEMModel, kind, I, J, v, sd_all, rv):
    """``(std.lv, std.all)`` of values *v* sitting in RAM cells ``(kind, I, J)``.

    Loadings and regressions are rescaled by the model-implied SDs (latent
    only for std.lv); variances are divided by the total variance;
    covariances become (residual) correlations ``cov / sqrt(|v_i| |v_j|)``
    with ``v`` the variance parameters of the two variables (lavaan's
    ``cov.std=TRUE``); intercepts are divided by the SD.

    In R: ``lavaan:::lav_standardize_lv`` / ``lav_standardize_all``.
    """
    p = model.p
    kind, I, J, v = map(np.asarray, (kind, I, J, v))
    is_lat = np.arange(model.n) >= p
    sd_lv = sd_all.copy()
    sd_lv[:p] = 1.0
    out = []
    for name, sd in (("std.lv", sd_lv), ("std.all", sd_all)):
        s = np.full(len(v), np.nan)
        with np.errstate(invalid="ignore", divide="ignore"):
            a = kind == 0
            s[a] = v[a] * sd[J[a]] / sd[I[a]]
            m = kind == 2
            s[m] = v[m] / sd[I[m]]
            d = (kind == 1) & (I == J)
            s[d] = v[d] / sd[I[d]] ** 2
            o = (kind == 1) & (I != J)
            ri = np.sqrt(np.abs(rv[I[o]]))
            rj = np.sqrt(np.abs(rv[J[o]]))
            if name == "std.lv":
                ri = np.where(is_lat[I[o]], ri, 1.0)
                rj = np.where(is_lat[J[o]], rj, 1.0)
            den = ri * rj
            s[o] = np.where(den > 0, v[o] / np.where(den > 0, den, 1.0), np.nan)
        out.append(s)
    return out[0], out[1]


def standardize(model: SEMModel, vals: np.ndarray, C: np.ndarray):
    """``std.lv`` and ``std.all`` of every parameter-table row."""
    sd, rv = node_scales(model, vals, C)
    return standardize_cells(model, model.kind, model.ii, model.jj, vals, sd, rv)
