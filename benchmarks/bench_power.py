"""Monte Carlo power analysis of the thesis SEM: throughput against a naive semopy loop.

Run from the repository root::

    .venv/bin/python benchmarks/bench_power.py [--reps 1000] [--n 100,200,300,500] [--workers 2]

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
"""
from __future__ import annotations

import argparse
import statistics
import sys
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


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", default="100,200,300,500")
    ap.add_argument("--reps", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--naive", type=int, default=10, help="semopy replications per N timed")
    a = ap.parse_args(argv)
    ns = [int(x) for x in a.n.split(",")]
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
