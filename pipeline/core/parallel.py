"""Reproducible parallel map over Monte Carlo draws: local processes or Dask.

Bootstrap draws and power-analysis replications are independent units of
work indexed ``0 .. n-1``.  Each unit gets its own random stream,
``SeedSequence(seed, spawn_key=prefix + (i,))`` -- exactly the *i*-th child of
``SeedSequence(seed).spawn(n)`` -- so a unit's result depends only on the seed
and its index, never on which worker ran it or how the units were chunked.
Results are handed back **in index order**, so any reduction the caller
does (sums, streaming moments) performs the same floating-point operations
in the same order: results are bit-identical for any number of workers,
locally or on a cluster.

A :class:`DrawTask` is a small picklable object: :meth:`DrawTask.setup`
builds the expensive per-worker state once (parse and compile the model,
factor the population matrix), :meth:`DrawTask.run` processes a chunk of
units with that state.  :func:`map_draws` runs the chunks

* inline, when ``workers=1`` (or a single chunk);
* on a local process pool (``fork`` on POSIX, sized to the CPU count), the
  task sent once to each process through the pool initializer;
* on a ``dask.distributed`` cluster when ``scheduler`` (an address or a
  ``distributed.Client``) is given, or the environment variable
  ``DASK_SCHEDULER_ADDRESS`` is set; the task is scattered once to every
  worker and its state cached there.

BLAS is limited to one thread per worker process: these are many small
matrix operations, where OpenBLAS threads only spin against each other.

In R: ``lavaan::bootstrapLavaan(..., parallel = "multicore"/"snow",
ncpus = )`` and ``simsem::sim(..., multicore = TRUE)``; R's
``parallel::mclapply`` seeds with L'Ecuyer streams per task.
"""
from __future__ import annotations

import contextlib
import heapq
import multiprocessing as mp
import os
import sys
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Any

import numpy as np

__all__ = ["DrawTask", "map_draws", "draw_seeds", "resolve_scheduler", "default_workers",
           "blas_single_thread", "slurm_cluster", "BLAS_ENV"]

#: environment of a worker process: single-threaded BLAS from the start
BLAS_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

ENV_SCHEDULER = "DASK_SCHEDULER_ADDRESS"


def draw_seeds(seed: int | np.random.SeedSequence, start: int, stop: int,
               prefix: tuple[int, ...] = ()) -> list[np.random.SeedSequence]:
    """Seed sequences of units ``start .. stop-1``.

    ``draw_seeds(s, 0, n)[i]`` generates the same stream as
    ``SeedSequence(s).spawn(n)[i]``; *prefix* nests streams (e.g. one per
    sample size: ``prefix=(N,)``).

    Parameters
    ----------
    seed : int or SeedSequence
    start, stop : int
    prefix : tuple of int

    Returns
    -------
    list of numpy.random.SeedSequence

    In R: ``parallel::nextRNGStream`` (L'Ecuyer-CMRG streams).
    """
    if isinstance(seed, np.random.SeedSequence):
        entropy, key, pool = seed.entropy, tuple(seed.spawn_key), seed.pool_size
    else:
        entropy, key, pool = int(seed), (), 4
    key = key + tuple(int(k) for k in prefix)
    return [np.random.SeedSequence(entropy, spawn_key=key + (i,), pool_size=pool)
            for i in range(start, stop)]


class DrawTask(ABC):
    """A picklable unit of Monte Carlo work.

    Subclasses hold only what is needed to rebuild their state (model text,
    data array, seed), must be cheap to pickle, and must be deterministic
    given the unit index.
    """

    #: identifies the task in a worker's state cache (set in ``__init__``)
    key: str = ""

    @abstractmethod
    def setup(self) -> Any:
        """Build the per-worker state (called once per worker process)."""

    @abstractmethod
    def run(self, state: Any, start: int, stop: int) -> Any:
        """Process units ``start .. stop-1``; return anything picklable."""


# ----------------------------------------------------------------- workers
_STATE: dict[str, Any] = {}
_LOCAL_TASK: list[DrawTask] = []


_BLAS_LOCK = threading.Lock()
_BLAS_DEPTH = [0, None]          # nesting count across threads, active limiter
_BLAS_OWNER: list[Any] = [None]  # the one thread that sets and restores the limit


def _blas_owner_call(fn: Callable[[], Any]) -> Any:
    """Run *fn* on the thread that owns the BLAS limit (started on first use).

    threadpoolctl (>= 3.6) lets only one "controlling" thread change
    OpenBLAS's process-wide thread count; calls from other threads are
    ignored.  When several threads (Dask workers in one process) entered
    :func:`blas_single_thread` and a different thread left last, the limit
    was restored by a thread without control (a no-op) and later entrants
    could not set it again: they ran with threaded BLAS, and the draws
    differed from the local ones in the last bits.  Routing every set and
    restore through one long-lived thread keeps the limit effective.
    """
    ex = _BLAS_OWNER[0]
    if ex is None:
        from concurrent.futures import ThreadPoolExecutor
        ex = _BLAS_OWNER[0] = ThreadPoolExecutor(max_workers=1,
                                                 thread_name_prefix="blas-limit")
    return ex.submit(fn).result()


def _reset_after_fork() -> None:        # the owner thread does not survive a fork
    _BLAS_OWNER[0] = None
    _BLAS_DEPTH[0], _BLAS_DEPTH[1] = 0, None
    global _BLAS_LOCK
    _BLAS_LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


@contextlib.contextmanager
def blas_single_thread() -> Iterator[None]:
    """Limit BLAS to one thread inside the block (no-op without threadpoolctl).

    Safe to nest and to enter from several threads at once (Dask workers
    running in threads): the limit is process-wide, set when the first
    thread enters and restored when the last one leaves, always by one
    dedicated thread (threadpoolctl's controlling thread), so every thread
    inside the block computes with single-threaded BLAS -- the same
    arithmetic as a local worker process.

    In R: ``RhpcBLASctl::blas_set_num_threads(1)``.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        yield
        return
    with _BLAS_LOCK:
        if _BLAS_DEPTH[0] == 0:
            # entered and exited as a context manager on the owner thread: the
            # exit also hands threadpoolctl's control back, so that other code
            # (the engine's own single-thread blocks) can set limits afterwards
            _BLAS_DEPTH[1] = _blas_owner_call(
                lambda: threadpool_limits(limits=1, user_api="blas").__enter__())
        _BLAS_DEPTH[0] += 1
    try:
        yield
    finally:
        with _BLAS_LOCK:
            _BLAS_DEPTH[0] -= 1
            if _BLAS_DEPTH[0] == 0 and _BLAS_DEPTH[1] is not None:
                lim = _BLAS_DEPTH[1]
                _BLAS_DEPTH[1] = None
                _blas_owner_call(lambda: lim.__exit__(None, None, None))


def _state_for(task: DrawTask) -> Any:
    st = _STATE.get(task.key)
    if st is None:
        _STATE.clear()                 # one task at a time per worker
        st = _STATE[task.key] = task.setup()
    return st


def _run_chunk(task: DrawTask, start: int, stop: int):
    with blas_single_thread():
        return start, task.run(_state_for(task), start, stop)


def _pool_init(task: DrawTask) -> None:
    os.environ.update(BLAS_ENV)
    _LOCAL_TASK[:] = [task]


def _pool_chunk(start: int, stop: int):
    return _run_chunk(_LOCAL_TASK[0], start, stop)


def default_workers() -> int:
    """CPU cores available to this process."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def resolve_scheduler(scheduler: Any = None) -> Any:
    """The Dask scheduler to use: the argument, else ``$DASK_SCHEDULER_ADDRESS``, else None."""
    if scheduler is not None and scheduler != "":
        return scheduler
    return os.environ.get(ENV_SCHEDULER) or None


def _chunks(n: int, chunk_size: int) -> list[tuple[int, int]]:
    return [(s, min(s + chunk_size, n)) for s in range(0, n, chunk_size)]


def map_draws(task: DrawTask, n: int, *, consume: Callable[[int, Any], None],
              workers: int | None = None, chunk_size: int | None = None,
              scheduler: Any = None,
              progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Run ``task`` over units ``0 .. n-1`` and feed chunk results in index order.

    Parameters
    ----------
    task : DrawTask
    n : int
        Number of units (bootstrap draws, replications).
    consume : callable ``(start, result) -> None``
        Called in the main process with each chunk's result, in increasing
        ``start`` order (out-of-order arrivals are buffered).
    workers : int, optional
        Local worker processes; default the available cores; 1 runs inline.
        Ignored on a Dask cluster (the cluster decides).
    chunk_size : int, optional
        Units per chunk (default: about 8 chunks per worker, at most 250
        units).  It affects only scheduling, never the results.
    scheduler : str, distributed.Client or a Dask cluster, optional
        Dask scheduler address, client, or cluster object (``LocalCluster``,
        :func:`slurm_cluster`); default ``$DASK_SCHEDULER_ADDRESS``; None
        runs locally.  Workers must compute with single-threaded BLAS for
        bit-identical results: worker processes started by a nanny (the
        default of ``dask worker``, ``LocalCluster(processes=True)`` and
        dask-jobqueue) get ``OPENBLAS_NUM_THREADS=1`` from Dask's
        ``distributed.nanny.pre-spawn-environ``; worker threads in one
        process are limited by :func:`blas_single_thread`.
    progress : callable ``(k) -> None``, optional
        Called with the number of units finished (e.g. ``tqdm.update``).

    Returns
    -------
    dict
        How the units ran: ``backend`` ("inline", "processes" or "dask"),
        ``workers`` (processes used; on Dask the cluster's worker threads
        when the run started), ``units``, ``chunks`` and ``wall_s`` (wall
        time of the whole map, worker start-up included).  Throughput per
        worker is ``units / wall_s / workers``.

    Raises
    ------
    ValueError
        *n*, *workers* or *chunk_size* not positive.

    In R: ``parallel::mclapply`` / ``parLapply`` over draws.
    """
    if int(n) != n or n < 0:
        raise ValueError(f"n must be a non-negative integer, got {n!r}")
    n = int(n)
    if workers is not None and (int(workers) != workers or workers < 1):
        raise ValueError(f"workers must be a positive integer, got {workers!r}")
    if chunk_size is not None and (int(chunk_size) != chunk_size or chunk_size < 1):
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    import time
    t0 = time.perf_counter()
    info: dict[str, Any] = {"backend": "inline", "workers": 1, "units": int(n), "chunks": 0,
                            "wall_s": 0.0}
    if n == 0:
        return info
    scheduler = resolve_scheduler(scheduler)
    nw = default_workers() if workers is None else int(workers)
    if chunk_size is None:
        chunk_size = max(1, min(250, -(-n // (8 * max(nw, 1)))))
    chunks = _chunks(n, int(chunk_size))
    tick = progress or (lambda k: None)

    info["chunks"] = len(chunks)
    if scheduler is not None:
        info["backend"] = "dask"
        results = _dask_results(task, chunks, scheduler, info)
    elif nw == 1 or len(chunks) == 1:
        results = _inline_results(task, chunks)
    else:
        info["backend"], info["workers"] = "processes", min(nw, len(chunks))
        results = _pool_results(task, chunks, nw)
    # deliver in index order
    heap: list[tuple[int, int, Any]] = []
    nxt = 0
    order = {s: k for k, (s, _) in enumerate(chunks)}
    for start, res in results:
        heapq.heappush(heap, (order[start], start, res))
        while heap and heap[0][0] == nxt:
            _, s, r = heapq.heappop(heap)
            consume(s, r)
            tick(chunks[nxt][1] - chunks[nxt][0])
            nxt += 1
    if nxt != len(chunks):  # pragma: no cover - defensive
        raise RuntimeError(f"only {nxt} of {len(chunks)} chunks returned")
    info["wall_s"] = time.perf_counter() - t0
    return info


def _inline_results(task, chunks):
    for s, e in chunks:
        yield _run_chunk(task, s, e)


def _mp_context():
    if sys.platform != "win32" and "fork" in mp.get_all_start_methods():
        return mp.get_context("fork")
    return mp.get_context("spawn")


def _pool_results(task, chunks, nw):
    nw = min(nw, len(chunks))
    with ProcessPoolExecutor(max_workers=nw, mp_context=_mp_context(),
                             initializer=_pool_init, initargs=(task,)) as ex:
        # keep a bounded number of chunks in flight (bounded memory)
        it = iter(chunks)
        pending = set()
        for s, e in it:
            pending.add(ex.submit(_pool_chunk, s, e))
            if len(pending) >= 4 * nw:
                break
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                yield fut.result()
                nxt = next(it, None)
                if nxt is not None:
                    pending.add(ex.submit(_pool_chunk, *nxt))


def _dask_results(task, chunks, scheduler, info=None):
    from distributed import Client, as_completed

    own = not isinstance(scheduler, Client)
    client = Client(scheduler, set_as_default=False) if own else scheduler
    try:
        if info is not None:
            info["workers"] = int(sum(client.nthreads().values()))
        [remote] = client.scatter([task], broadcast=True, hash=False)
        futures = [client.submit(_run_chunk, remote, s, e, pure=False) for s, e in chunks]
        for fut in as_completed(futures, loop=client.loop):
            yield fut.result()
            fut.release()
    finally:
        if own:
            client.close()


def slurm_cluster(*, cores: int, memory: str, walltime: str, account: str | None = None,
                  queue: str | None = None, python: str | None = None,
                  job_script_prologue: list[str] | None = None, **kwargs: Any):
    """A dask-jobqueue ``SLURMCluster`` of single-threaded worker processes.

    Each SLURM job runs *cores* worker processes of one thread each
    (``processes=cores``), started by a job script whose prologue exports
    :data:`BLAS_ENV` (``OPENBLAS_NUM_THREADS=1`` ...), so every worker
    computes with single-threaded BLAS from its start -- the arithmetic of
    a local worker process, hence the same draws bit for bit (with the same
    numpy/OpenBLAS build on the nodes).  Nothing is submitted until
    ``cluster.scale(jobs=k)``; pass the cluster (or ``Client(cluster)``) as
    ``scheduler=`` to :func:`map_draws`, the bootstrap or the power analysis.

    Parameters
    ----------
    cores : int
        CPU cores (= worker processes) per job.
    memory : str
        Memory per job, e.g. ``"32GB"``.
    walltime : str
        ``"HH:MM:SS"``.
    account, queue : str, optional
        SLURM ``-A`` and ``-p``.
    python : str, optional
        The project's interpreter on the nodes (default: this one).
    job_script_prologue : list of str, optional
        Extra lines before the worker starts (``module load ...``); the BLAS
        exports are added first.
    **kwargs
        Passed to ``dask_jobqueue.SLURMCluster`` (``job_extra_directives``,
        ``scheduler_options``, ``local_directory`` ...).

    Returns
    -------
    dask_jobqueue.SLURMCluster

    Raises
    ------
    ImportError
        dask-jobqueue is not installed (``pip install dask-jobqueue``).

    In R: ``future.batchtools::batchtools_slurm`` / ``clustermq`` workers
    for ``parallel``-style maps.
    """
    try:
        from dask_jobqueue import SLURMCluster
    except ImportError as exc:      # pragma: no cover - depends on the environment
        raise ImportError("slurm_cluster needs dask-jobqueue: pip install dask-jobqueue") from exc
    if int(cores) != cores or cores < 1:
        raise ValueError(f"cores must be a positive integer, got {cores!r}")
    exports = "export " + " ".join(f"{k}={v}" for k, v in BLAS_ENV.items())
    prologue = [exports, *(job_script_prologue or [])]
    kw = {"account": account, "queue": queue}
    kw = {k: v for k, v in kw.items() if v is not None}
    return SLURMCluster(cores=int(cores), processes=int(cores), memory=memory,
                        walltime=walltime, python=python or sys.executable,
                        job_script_prologue=prologue, **kw, **kwargs)
