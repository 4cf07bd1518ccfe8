"""Multi-group bootstrap on the fast path (pipeline.sem.fast.multigroup_bootstrap_draws).

Draw b resamples every group within itself from ``default_rng(SeedSequence(seed).spawn(B)[b])``
(groups in order), the streams of the reference loop
(``bootstrap_multigroup(..., fast=False)``: a whole ``fit_multigroup`` per
draw) from the same start (the full-sample estimates), so the draws equal
the loop's to the optimizers' tolerance (the seeds here avoid the rare
resample with two stationary points, where the loop's quasi-Newton can stop
at the higher one: docs/perf_scaleout.md) and are bit-identical for any
number of local workers, chunk size, or a dask.distributed cluster
(processes or threads).
The agreement of the SEs with lavaan's multi-group bootstrap is checked in
``tests/sem/test_sem_bootstrap.py`` (fixture ``lavaan_boot_multigroup.R``),
which runs this path.
"""
from __future__ import annotations

import functools
import warnings

import numpy as np
import pandas as pd
import pytest

from pipeline.core.exceptions import PipelineWarning
from pipeline.sem import fit
from pipeline.sem.bootstrap import bootstrap
from pipeline.sem.fast import MultiGroupBootstrapTask, multigroup_bootstrap_draws
from tests.conftest import REFERENCE

HS = REFERENCE / "data" / "holzinger_swineford.csv"
MODEL = (REFERENCE / "models" / "holzinger_3factor.lav").read_text()


@functools.lru_cache(maxsize=None)
def _hs():
    return pd.read_csv(HS)


@functools.lru_cache(maxsize=None)
def _mg_fit(group_equal="loadings", group_partial=(), estimator="ML"):
    return fit(MODEL, _hs(), group="school", group_equal=group_equal,
               group_partial=list(group_partial), estimator=estimator)


def _loop(res, B, seed):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PipelineWarning)
        return bootstrap(res, B=B, seed=seed, fast=False, progress=False, attach=False,
                         drop_inadmissible=False)


def test_draws_identical_for_any_workers_and_equal_to_the_reference_loop():
    res = _mg_fit()
    one, s1 = multigroup_bootstrap_draws(res, 8, 21, workers=1, progress=False)
    two, s2 = multigroup_bootstrap_draws(res, 8, 21, workers=2, chunk_size=3, progress=False)
    np.testing.assert_array_equal(one, two)
    np.testing.assert_array_equal(s1, s2)
    assert one.shape == (8, len(res.parameters)) and np.all(s1 != 1)
    loop = _loop(res, 8, 21)
    assert loop.n_ok == 8
    np.testing.assert_allclose(one, loop.draws, rtol=0, atol=1e-7)
    # real resamples: every draw moves the estimates
    assert np.all(np.abs(one - res.parameters["est"].to_numpy()).max(axis=1) > 1e-3)


def test_equality_constraints_hold_in_every_draw():
    """group.equal = loadings with one loading freed by group.partial: the equal
    loadings are equal in each draw, the freed one differs between the groups."""
    res = _mg_fit("loadings", ("speed=~x9",))
    est, status = multigroup_bootstrap_draws(res, 6, 5, workers=1, progress=False)
    p = res.parameters
    load = p[(p.op == "=~")]
    g1 = load[load.group == 1]
    g2 = load[load.group == 2]
    for (_, a), (_, b) in zip(g1.iterrows(), g2.iterrows()):
        assert (a.lhs, a.rhs) == (b.lhs, b.rhs)
        da, db = est[:, a.name], est[:, b.name]
        if a.rhs == "x9":
            assert np.all(np.abs(da - db) > 1e-6)
        else:
            np.testing.assert_array_equal(da, db)
    # intercepts are group-specific: they differ
    ints = p[(p.op == "~1") & (p.lhs == "x1")]
    assert np.all(np.abs(est[:, ints.index[0]] - est[:, ints.index[1]]) > 1e-6)


def test_bootstrap_routes_multigroup_fits_to_the_fast_path_and_uses_the_workers():
    res = _mg_fit()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PipelineWarning)
        a = bootstrap(res, B=6, seed=3, workers=1, progress=False, attach=False,
                      drop_inadmissible=False)
        b = bootstrap(res, B=6, seed=3, workers=2, progress=False, attach=False,
                      drop_inadmissible=False)
    est, _ = multigroup_bootstrap_draws(res, 6, np.random.SeedSequence(3), workers=1,
                                        progress=False)
    np.testing.assert_array_equal(a.draws, est)
    np.testing.assert_array_equal(a.draws, b.draws)
    pd.testing.assert_frame_equal(a.table, b.table)


def test_mlr_fit_bootstraps_the_ml_estimates():
    """MLR changes the SEs and the test, not the estimates: the same draws as ML."""
    ml, mlr = _mg_fit(), _mg_fit(estimator="MLR")
    a, _ = multigroup_bootstrap_draws(ml, 4, 9, workers=1, progress=False)
    b, _ = multigroup_bootstrap_draws(mlr, 4, 9, workers=1, progress=False)
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-9)


def test_fiml_multigroup_draws_equal_the_reference_loop():
    d = _hs().copy()
    rng = np.random.default_rng(4)
    items = [f"x{i}" for i in range(1, 10)]
    mask = rng.random((len(d), 9)) < 0.08
    mask[:, 0] = False                      # keep one complete column
    d[items] = d[items].mask(mask)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PipelineWarning)
        res = fit(MODEL, d, group="school", group_equal="loadings", missing="fiml")
    assert res.missing == "fiml"
    one, s1 = multigroup_bootstrap_draws(res, 4, 2, workers=1, progress=False)
    two, s2 = multigroup_bootstrap_draws(res, 4, 2, workers=2, chunk_size=1, progress=False)
    np.testing.assert_array_equal(one, two)
    loop = _loop(res, 4, 2)
    assert loop.n_ok == 4 and np.all(s1 != 1)
    np.testing.assert_allclose(one, loop.draws, rtol=0, atol=1e-6)


def test_general_constraints_are_refitted_by_the_constrained_optimizer():
    """``a == b`` across rows: SLSQP in the worker, same draws as the loop."""
    model = "visual =~ x1 + a*x2 + b*x3\ntextual =~ x4 + x5 + x6\na == b"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PipelineWarning)
        res = fit(model, _hs(), group="school")
    est, status = multigroup_bootstrap_draws(res, 3, 6, workers=1, progress=False)
    p = res.parameters
    ia = p.index[(p.op == "=~") & (p.rhs == "x2")]
    ib = p.index[(p.op == "=~") & (p.rhs == "x3")]
    np.testing.assert_allclose(est[:, ia], est[:, ib], atol=1e-6)    # a == b in every draw
    loop = _loop(res, 3, 6)
    np.testing.assert_allclose(est[status != 1], loop.draws, rtol=0, atol=1e-6)


def test_draws_identical_on_a_dask_cluster_of_processes_and_of_threads():
    """A LocalCluster of 2 worker processes (BLAS single-threaded by the nanny's
    environment) and one of 2 threads in this process: bit for bit the local draws."""
    distributed = pytest.importorskip("distributed")
    res = _mg_fit()
    ref, s0 = multigroup_bootstrap_draws(res, 6, 13, workers=1, progress=False)
    for processes in (True, False):
        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=processes,
                                      dashboard_address=None) as cluster:
            got, s1 = multigroup_bootstrap_draws(res, 6, 13, scheduler=cluster.scheduler_address,
                                                 chunk_size=2, progress=False)
        np.testing.assert_array_equal(got, ref)
        np.testing.assert_array_equal(s1, s0)


def test_task_rejects_bad_arguments():
    res = _mg_fit()
    parts = [st.data for st in res.stats]
    with pytest.raises(ValueError, match="missing"):
        MultiGroupBootstrapTask(res.mg, parts, res.theta, 1, missing="pairwise")
    with pytest.raises(ValueError, match="parts"):
        MultiGroupBootstrapTask(res.mg, parts[:1], res.theta, 1)
    with pytest.raises(ValueError, match="theta0"):
        MultiGroupBootstrapTask(res.mg, parts, res.theta[:-1], 1)
    with pytest.raises(ValueError, match="B must"):
        multigroup_bootstrap_draws(res, 0, 1, progress=False)


def test_general_constraints_with_std_lv_refit_the_same_model():
    """``std.lv = TRUE`` travels in the result's options, so the worker refits
    the model the user fitted (latent variances 1, all loadings free)."""
    from pipeline.sem.multigroup import fit_multigroup
    model = "visual =~ a*x1 + b*x2 + x3\ntextual =~ x4 + x5 + x6\na == b"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PipelineWarning)
        res = fit_multigroup(model, _hs(), group="school", std_lv=True)
    assert res.options["std.lv"] is True
    p = res.parameters
    lv_var = p[(p.op == "~~") & (p.lhs == p.rhs) & p.lhs.isin(["visual", "textual"])]
    assert np.allclose(lv_var.est, 1.0)
    est, status = multigroup_bootstrap_draws(res, 3, 6, workers=1, progress=False)
    ia = p.index[(p.op == "=~") & (p.rhs == "x1")]
    ib = p.index[(p.op == "=~") & (p.rhs == "x2")]
    np.testing.assert_allclose(est[:, ia], est[:, ib], atol=1e-6)    # a == b in every draw
    np.testing.assert_allclose(est[:, lv_var.index], 1.0)            # still std.lv
    loop = _loop(res, 3, 6)
    np.testing.assert_allclose(est[status != 1], loop.draws, rtol=0, atol=1e-6)
