"""FIML and mean-structure bootstrap on processes / Dask (pipeline.sem.fast.engine_bootstrap_draws).

Draw i resamples rows with ``default_rng(SeedSequence(seed).spawn(B)[i])``,
the streams of the in-process loop of ``pipeline.sem.bootstrap.bootstrap``,
so the fast path reproduces the loop's draws (up to the optimizers'
tolerance) and its own draws bit for bit for any number of local workers
and chunk sizes, locally or on a dask.distributed cluster (threads or processes).
"""
from __future__ import annotations

import functools
import warnings

import numpy as np
import pandas as pd
import pytest

from pipeline.core.exceptions import PipelineWarning
from pipeline.sem.fast import EngineBootstrapTask, engine_bootstrap_draws
from pipeline.sem.fiml import fit_fiml
from tests.conftest import REFERENCE, load_fixture


@functools.lru_cache(maxsize=None)
def _fiml_fit():
    ref = load_fixture("lavaan_hs_fiml.json")
    data = pd.read_csv(REFERENCE / "data" / ref["data"])
    return fit_fiml(ref["model"], data)


def test_fiml_draws_identical_for_any_workers_and_equal_to_the_engine_loop():
    from pipeline.sem.bootstrap import bootstrap
    res = _fiml_fit()
    one, s1 = engine_bootstrap_draws(res, 6, 17, workers=1, progress=False)
    two, s2 = engine_bootstrap_draws(res, 6, 17, workers=2, chunk_size=2, progress=False)
    np.testing.assert_array_equal(one, two)
    np.testing.assert_array_equal(s1, s2)
    assert one.shape == (6, res.npar) and np.all(s1 == 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PipelineWarning)
        loop = bootstrap(res, B=6, seed=17, fast=False, progress=False, attach=False,
                         drop_inadmissible=False)
    assert loop.n_ok == 6
    np.testing.assert_allclose(one, loop.draws, atol=2e-5)
    # each draw changes the estimates (a real resample, not the warm start)
    assert np.all(np.abs(one - res.theta).max(axis=1) > 1e-3)


def test_fiml_draws_identical_on_a_dask_cluster():
    distributed = pytest.importorskip("distributed")
    res = _fiml_fit()
    ref, s0 = engine_bootstrap_draws(res, 5, 3, workers=1, progress=False)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        got, s1 = engine_bootstrap_draws(res, 5, 3, scheduler=cluster.scheduler_address,
                                         chunk_size=2, progress=False)
    # bit for bit: every worker thread computes with single-threaded BLAS
    # (pipeline.core.parallel.blas_single_thread routes the limit through one
    # thread; before, threaded workers ran threaded OpenBLAS and differed by 3e-15)
    np.testing.assert_array_equal(got, ref)
    np.testing.assert_array_equal(s1, s0)


def test_mean_structure_draws_on_the_engine_task():
    """Complete data with intercepts (listwise, mean structure): same seeds as the loop."""
    from pipeline.sem import fit
    from pipeline.sem.bootstrap import bootstrap
    ref = load_fixture("lavaan_hs_fiml.json")
    data = pd.read_csv(REFERENCE / "data" / ref["data"]).dropna()
    res = fit(ref["model"], data, meanstructure=True)
    assert res.meanstructure and res.missing == "listwise"
    one, s1 = engine_bootstrap_draws(res, 4, 8, workers=1, progress=False)
    two, s2 = engine_bootstrap_draws(res, 4, 8, workers=2, chunk_size=1, progress=False)
    np.testing.assert_array_equal(one, two)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PipelineWarning)
        loop = bootstrap(res, B=4, seed=8, fast=False, progress=False, attach=False,
                         drop_inadmissible=False)
    np.testing.assert_allclose(one[s1 != 1], loop.draws, atol=1e-6)


def test_engine_task_rejects_bad_arguments():
    res = _fiml_fit()
    with pytest.raises(ValueError, match="missing"):
        EngineBootstrapTask(res.model, res.stats.data, res.theta, 1, missing="pairwise")
    with pytest.raises(TypeError, match="model"):
        EngineBootstrapTask("F =~ x1 + x2 + x3", res.stats.data, res.theta, 1)
    with pytest.raises(ValueError, match="B must"):
        engine_bootstrap_draws(res, 0, 1, progress=False)
