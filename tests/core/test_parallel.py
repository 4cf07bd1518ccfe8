"""pipeline.core.parallel: per-unit seeds, ordered delivery, identical results for
any number of workers, locally or on a dask.distributed LocalCluster.

No timing assertions here (speed is measured by benchmarks/).
"""
from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from pipeline.core.parallel import DrawTask, draw_seeds, map_draws, resolve_scheduler
from pipeline.sem.fast import FastML, bootstrap_draws, sample_cov
from tests.conftest import REFERENCE


class _Toy(DrawTask):
    """Unit i: 3 normal draws from its own stream, plus the worker's pid and setup id."""

    def __init__(self, seed):
        self.seed = seed
        self.key = f"toy:{seed}"

    def setup(self):
        return {"pid": os.getpid(), "token": np.random.default_rng().integers(1 << 62)}

    def run(self, state, start, stop):
        rows = [np.random.default_rng(ss).standard_normal(3) for ss in draw_seeds(self.seed, start, stop)]
        return np.array(rows), state["pid"], state["token"]


def _collect(task, n, **kw):
    out, tokens = {}, set()

    def consume(start, res):
        arr, _pid, token = res
        out[start] = arr
        tokens.add(token)
    starts = []
    map_draws(task, n, consume=lambda s, r: (starts.append(s), consume(s, r)), **kw)
    assert starts == sorted(starts)            # delivered in index order
    return np.concatenate([out[s] for s in sorted(out)]), tokens


def test_draw_seeds_are_the_spawned_children():
    kids = np.random.SeedSequence(123).spawn(10)
    mine = draw_seeds(123, 0, 10)
    for a, b in zip(kids, mine):
        np.testing.assert_array_equal(a.generate_state(4), b.generate_state(4))
    # a window of units gives the same streams as the whole run
    for a, b in zip(kids[4:7], draw_seeds(123, 4, 7)):
        np.testing.assert_array_equal(a.generate_state(4), b.generate_state(4))
    # nested prefix = grandchildren
    grand = np.random.SeedSequence(5).spawn(3)[2].spawn(4)[1]
    np.testing.assert_array_equal(grand.generate_state(4),
                                  draw_seeds(5, 1, 2, prefix=(2,))[0].generate_state(4))


def test_results_identical_for_any_workers_and_chunking():
    task = _Toy(99)
    ref, tokens1 = _collect(task, 37, workers=1)
    assert ref.shape == (37, 3) and len(tokens1) == 1       # set up once, not per chunk
    for kw in ({"workers": 2}, {"workers": 2, "chunk_size": 1}, {"workers": 3, "chunk_size": 5}):
        got, tokens = _collect(task, 37, **kw)
        np.testing.assert_array_equal(got, ref)
        assert len(tokens) <= kw["workers"]                  # state built once per worker
    # unit i is the i-th spawned child's stream
    kid = np.random.default_rng(np.random.SeedSequence(99).spawn(37)[20]).standard_normal(3)
    np.testing.assert_array_equal(ref[20], kid)


def test_local_cluster_gives_the_same_results(monkeypatch):
    distributed = pytest.importorskip("distributed")
    task = _Toy(7)
    ref, _ = _collect(task, 25, workers=1)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        with distributed.Client(cluster) as client:
            got, _ = _collect(task, 25, scheduler=client, chunk_size=4)
            np.testing.assert_array_equal(got, ref)
        # the address, through the environment variable
        monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", cluster.scheduler_address)
        assert resolve_scheduler(None) == cluster.scheduler_address
        got, _ = _collect(task, 25, chunk_size=6)
        np.testing.assert_array_equal(got, ref)


def test_bootstrap_identical_locally_and_on_cluster():
    distributed = pytest.importorskip("distributed")
    data = pd.read_csv(REFERENCE / "data" / "thesis_n300.csv")
    text = (REFERENCE.parent.parent / "studies" / "amirova2021" / "models" / "thesis_population.lav").read_text()
    # the analysis model: the population model's structure with free values
    model = "\n".join(["L =~ L1 + L2", "S =~ S1 + S2 + S3", "HC =~ HC1 + HC2 + HC3 + HC4 + HC5",
                       "O =~ O1 + O2 + O3", "R =~ R1 + R2 + R3", "ICS =~ ICS1 + ICS2",
                       "CC ~ a1*L + a2*S + a3*HC + a4*O + a5*R",
                       "ICS ~ b*CC + L + S + HC + O + R", "ind_HC := a3*b"])
    assert "ICS" in text
    fm = FastML(model)
    x = data[fm.observed].to_numpy()
    theta0 = fm.fit(sample_cov(x)).theta
    one, s1 = bootstrap_draws(model, x, theta0, 24, 11, workers=1, progress=False)
    two, s2 = bootstrap_draws(model, x, theta0, 24, 11, workers=2, chunk_size=5, progress=False)
    np.testing.assert_array_equal(one, two)
    np.testing.assert_array_equal(s1, s2)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        dk, s3 = bootstrap_draws(model, x, theta0, 24, 11, scheduler=cluster.scheduler_address,
                                 chunk_size=7, progress=False)
    np.testing.assert_array_equal(one, dk)
    np.testing.assert_array_equal(s1, s3)
    assert one.shape == (24, fm.q + 1) and (s1 == 0).all()


def test_bad_arguments_name_the_argument():
    task = _Toy(1)
    with pytest.raises(ValueError, match="workers"):
        map_draws(task, 5, consume=lambda s, r: None, workers=0)
    with pytest.raises(ValueError, match="chunk_size"):
        map_draws(task, 5, consume=lambda s, r: None, chunk_size=0)
    with pytest.raises(ValueError, match="n must"):
        map_draws(task, -1, consume=lambda s, r: None)


def test_resampling_bootstrap_uses_the_cluster_from_the_environment(monkeypatch):
    """``pipeline.sem.bootstrap.bootstrap`` with ``DASK_SCHEDULER_ADDRESS`` set: same table."""
    import warnings

    distributed = pytest.importorskip("distributed")
    from pipeline.core.exceptions import PipelineWarning
    from pipeline.sem.bootstrap import bootstrap
    from pipeline.sem import fit
    data = pd.read_csv(REFERENCE / "data" / "thesis_n300.csv")
    model = "L =~ L1 + L2\nS =~ S1 + S2 + S3\nCC ~ a*L + b*S\nab := a*b"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PipelineWarning)
        res = fit(model, data)
        local = bootstrap(res, B=30, seed=4, workers=1, progress=False, attach=False)
        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                      dashboard_address=None) as cluster:
            monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", cluster.scheduler_address)
            remote = bootstrap(res, B=30, seed=4, progress=False, attach=False)
    np.testing.assert_array_equal(local.draws, remote.draws)
    pd.testing.assert_frame_equal(local.table, remote.table)


def test_blas_limit_holds_in_every_thread_and_is_lifted_after_the_last():
    """Two threads entering and leaving ``blas_single_thread`` in interleaved order
    (Dask workers in one process) both compute with one BLAS thread every time, and
    the setting is restored when the last one leaves.  threadpoolctl lets only one
    "controlling" thread change OpenBLAS's process-wide setting: when the limit was
    set by whichever thread entered first and restored by whichever left last, the
    restore was ignored (BLAS stuck at one thread here) and a threaded Dask cluster
    ran some chunks with threaded BLAS (draws off by 3e-15)."""
    import threading
    import time

    threadpoolctl = pytest.importorskip("threadpoolctl")
    from pipeline.core.parallel import blas_single_thread

    def blas_threads():
        return [i["num_threads"] for i in threadpoolctl.threadpool_info()
                if i["user_api"] == "blas"]

    before = blas_threads()
    seen = []

    def worker(k):
        for i in range(30):
            with blas_single_thread():
                seen.extend(blas_threads())
                time.sleep(0.001 * ((i * 7 + k * 3) % 5))
            time.sleep(0.001 * ((i * 3 + k) % 4))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(seen) >= 60 and set(seen) == {1}
    assert blas_threads() == before
    # control is handed back: this thread's own limit (the engine's single-thread
    # blocks) still takes effect afterwards -- it did not while the owner kept
    # control, and a FIML fit after a bootstrap then differed in the last bits
    with threadpoolctl.threadpool_limits(limits=1, user_api="blas"):
        assert set(blas_threads()) == {1}
    assert blas_threads() == before


def test_slurm_cluster_job_script_starts_single_threaded_workers():
    """The documented SLURM setup (docs/perf_scaleout.md), as far as it goes without
    SLURM: the job script of ``slurm_cluster`` exports single-threaded BLAS before
    the workers start, runs one single-threaded worker process per core under a
    nanny, and carries the account, partition, cores and walltime."""
    pytest.importorskip("dask_jobqueue")
    from pipeline.core.parallel import BLAS_ENV, slurm_cluster
    cluster = slurm_cluster(cores=4, memory="8GB", walltime="01:30:00", account="proj42",
                            queue="compute", python="/opt/project/.venv/bin/python",
                            job_script_prologue=["module load gcc"],
                            scheduler_options={"dashboard_address": None})
    try:
        script = cluster.job_script()
    finally:
        cluster.close()
    lines = script.splitlines()
    export = next(i for i, line in enumerate(lines) if line.startswith("export "))
    start = next(i for i, line in enumerate(lines) if "dask_worker" in line)
    assert export < lines.index("module load gcc") < start
    for k, v in BLAS_ENV.items():
        assert f"{k}={v}" in lines[export]
    worker = lines[start]
    assert worker.startswith("/opt/project/.venv/bin/python -m distributed.cli.dask_worker")
    assert "--nthreads 1" in worker and "--nworkers 4" in worker and "--nanny" in worker
    for directive in ("#SBATCH -A proj42", "#SBATCH -p compute", "#SBATCH --cpus-per-task=4",
                      "#SBATCH -t 01:30:00"):
        assert directive in lines
    with pytest.raises(ValueError, match="cores"):
        slurm_cluster(cores=0, memory="1GB", walltime="00:10:00")
