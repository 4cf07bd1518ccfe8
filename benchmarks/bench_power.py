"""Monte Carlo power analysis of the thesis SEM: throughput against a naive semopy loop.

Run from the repository root::

    .venv/bin/python benchmarks/bench_power.py [--reps 1000] [--n 100,200,300,500] [--workers 2]
    .venv/bin/python benchmarks/bench_power.py --reps 100000        # the scale-out study only
    .venv/bin/python benchmarks/bench_power.py --reps 100000 --configs cluster2

In one session, interleaved:

* ours: ``pipeline.sem.power.power_analysis(studies/amirova2021/models/thesis_population.lav,
  studies/amirova2021/models/cs2019/thesis_sem.lav, n, reps, workers=2)`` (target: 4 N x 1000 reps
  in < 30 s on 2 cores);
* naive semopy: for ``--naive`` replications per N, draw the same data
  (population Cholesky factor), ``semopy.Model(desc).fit(data)`` and
  ``model.inspect()`` (estimates, SEs and p-values, as a power analysis
  needs), in one process with BLAS limited to one thread; throughput
  scaled to the same number of replications.

Prints replications per second and the ratio (target >= 3x).

Scale-out (issue 15, item 6): the same power study (``--scale-n``, default
N = 300) with ``--reps`` replications in all, run three ways, each in a
fresh child process that reports how the replications ran
(``PowerResult.throughput``) and its peak memory (resident set size of the
child and all its descendants, sampled every 0.1 s with psutil):

* 1 local worker (in the process);
* 2 local worker processes;
* a ``dask.distributed.LocalCluster`` of 2 single-threaded worker
  processes (cluster start-up timed separately), the code path of a
  SLURM cluster started with dask-jobqueue (docs/perf_scaleout.md).

It prints replications per second per worker and checks that the three
give the same table.  ``--reps 100000`` is the 100,000-replication study
(about 15 minutes on 2 cores; the semopy comparison is then skipped);
the default (1000) keeps the whole script to a few minutes.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import MODEL, POPULATION, machine, semopy_syntax, timer  # noqa: E402


def run_ours(ns, reps, workers, seed):
    from pipeline.sem.power import power_analysis
    return power_analysis(POPULATION.read_text(), MODEL.read_text(), ns, reps, seed=seed,
                          workers=workers, progress=False)


def run_naive(ns, reps_each, seed):
    import semopy

    from pipeline.core.parallel import blas_single_thread
    from pipeline.sem import implied_moments
    obs, sigma, _ = implied_moments(POPULATION.read_text())
    chol = np.linalg.cholesky(sigma)
    desc = semopy_syntax(MODEL.read_text())
    rng = np.random.default_rng(seed)
    n_done = 0
    with blas_single_thread():
        t = time.perf_counter()
        for n in ns:
            for _ in range(reps_each):
                x = rng.standard_normal((n, len(obs))) @ chol.T
                m = semopy.Model(desc)
                m.fit(pd.DataFrame(x, columns=obs))
                m.inspect()
                n_done += 1
        return n_done / (time.perf_counter() - t)


class _PeakRSS:
    """Peak resident set size of this process and all its descendants (psutil)."""

    def __init__(self, every: float = 0.1):
        import psutil
        self._me = psutil.Process()
        self.peak = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._loop, args=(every,), daemon=True)
        self._t.start()

    def _rss(self) -> int:
        total = 0
        for p in [self._me, *self._me.children(recursive=True)]:
            try:
                total += p.memory_info().rss
            except Exception:       # a worker that just exited
                pass
        return total

    def _loop(self, every):
        while not self._stop.is_set():
            self.peak = max(self.peak, self._rss())
            self._stop.wait(every)

    def stop(self) -> int:
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, self._rss())
        return self.peak


def _scale_child(config: str, reps: int, n: int) -> None:
    """One scale-out configuration, in a fresh process; prints a JSON line."""
    from pipeline.sem.power import power_analysis
    mem = _PeakRSS()
    kw: dict = {}
    cluster = None
    t_cluster = 0.0
    if config == "cluster2":
        from distributed import LocalCluster
        t = time.perf_counter()
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        t_cluster = time.perf_counter() - t
        kw["scheduler"] = cluster.scheduler_address
    else:
        kw["workers"] = 1 if config == "local1" else 2
    try:
        res = power_analysis(POPULATION.read_text(), MODEL.read_text(), [n], reps, seed=2026,
                             progress=False, **kw)
        peak = mem.stop()
    finally:
        if cluster is not None:
            cluster.close()
    digest = hashlib.sha1(res.parameters.to_csv().encode() + res.fit.to_csv().encode())
    print(json.dumps({"throughput": res.throughput, "peak_mb": peak / 2**20,
                      "cluster_start_s": t_cluster, "sha1": digest.hexdigest(),
                      "converged": float(res.fit["converged"].iloc[0])}))


CONFIGS = {"local1": "1 local worker", "local2": "2 local worker processes",
           "cluster2": "LocalCluster, 2 worker processes"}


def run_scaleout(reps: int, n: int, configs=tuple(CONFIGS)) -> None:
    print(f"\nscale-out: thesis SEM, N = {n}, {reps:,} replications per configuration")
    print(f"  {'configuration':38s} {'workers':>7s} {'wall s':>8s} {'reps/s':>8s} "
          f"{'reps/s/worker':>13s} {'peak RSS MB':>11s}")
    digests = set()
    for config in configs:
        label = CONFIGS[config]
        r = subprocess.run([sys.executable, __file__, "--scale-child", config, str(reps), str(n)],
                           capture_output=True, text=True)
        if r.returncode != 0:
            print(f"  {label}: failed\n{r.stderr[-1500:]}")
            continue
        out = json.loads(r.stdout.strip().splitlines()[-1])
        t = out["throughput"]
        digests.add(out["sha1"])
        extra = (f"   (+ cluster start {out['cluster_start_s']:.1f} s)"
                 if config == "cluster2" else "")
        print(f"  {label:38s} {t['workers']:7d} {t['wall_s']:8.1f} {t['reps_per_s']:8.0f} "
              f"{t['reps_per_s_per_worker']:13.0f} {out['peak_mb']:11.0f}{extra}", flush=True)
    if len(configs) > 1:
        print(f"  identical tables across configurations: {'yes' if len(digests) == 1 else 'NO'}")


def main(argv=None) -> int:
    if argv is None and len(sys.argv) > 1 and sys.argv[1] == "--scale-child":
        _scale_child(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", default="100,200,300,500")
    ap.add_argument("--reps", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--naive", type=int, default=10, help="semopy replications per N timed")
    ap.add_argument("--scale-n", type=int, default=300,
                    help="sample size of the scale-out study (--reps replications in all)")
    ap.add_argument("--no-scaleout", action="store_true", help="skip the scale-out section")
    ap.add_argument("--configs", default=",".join(CONFIGS),
                    help="scale-out configurations (local1, local2, cluster2)")
    a = ap.parse_args(argv)
    ns = [int(x) for x in a.n.split(",")]
    configs = [c.strip() for c in a.configs.split(",") if c.strip()]
    bad = [c for c in configs if c not in CONFIGS]
    if bad:
        ap.error(f"--configs: unknown {bad}; choose from {list(CONFIGS)}")
    if a.reps >= 10_000:           # the large study: scale-out only
        print(f"machine: {machine()}")
        run_scaleout(a.reps, a.scale_n, configs)
        return 0
    total = len(ns) * a.reps
    print(f"machine: {machine()}")
    print(f"thesis SEM: N = {ns}, {a.reps} replications each ({total} fits), workers = {a.workers}")
    run_ours([100], 20, a.workers, 0)                      # warm-up
    t: dict = {}
    naive = []
    for rep in range(a.repeats):
        with timer(t, "ours"):
            res = run_ours(ns, a.reps, a.workers, 100 + rep)
        conv = res.fit["converged"].mean()
        print(f"  round {rep + 1}: ours {t['ours'][-1]:.2f} s ({total / t['ours'][-1]:.0f} reps/s, "
              f"converged {conv:.3f})", flush=True)
        naive.append(run_naive(ns, a.naive, 5 + rep))
        print(f"  round {rep + 1}: naive semopy {naive[-1]:.1f} reps/s "
              f"(-> {total / naive[-1]:.0f} s for {total})", flush=True)
    ours = statistics.median(t["ours"])
    thr = total / ours
    nv = statistics.median(naive)
    print("\nresults (median over rounds)")
    print(f"  ours           {ours:8.2f} s for {total} replications ({thr:.0f} reps/s; target < 30 s)")
    print(f"  naive semopy   {total / nv:8.2f} s scaled ({nv:.1f} reps/s, 1 process)")
    print(f"  throughput ratio ours / naive semopy {thr / nv:8.1f} x   (target >= 3)")
    print(f"  per core: ours {thr / a.workers:.0f} reps/s/core vs semopy {nv:.1f}")
    if not a.no_scaleout:
        run_scaleout(a.reps, a.scale_n, configs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
