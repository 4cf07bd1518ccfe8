"""Peak memory (RSS) of the power analysis and the bootstrap: bounded, not growing with reps.

Run from the repository root::

    .venv/bin/python benchmarks/bench_memory.py [--reps 10000] [--n 1000] [--workers 2]

Each configuration runs in a fresh child process, which reports the peak
resident set size of itself (``ru_maxrss``, RUSAGE_SELF) and of its largest
worker process (RUSAGE_CHILDREN); the total is bounded by
``main + workers x largest worker``.  Baselines in the same session: the
same command with 10x fewer replications / draws.  Target: 10,000
replications at N = 1000 under 1 GB in all.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DATA_N300, MODEL, POPULATION, machine  # noqa: E402


def _child(kind: str, size: int, n: int, workers: int) -> None:
    import pandas as pd
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t = time.perf_counter()
    if kind == "power":
        from pipeline.sem.power import power_analysis
        power_analysis(POPULATION.read_text(), MODEL.read_text(), [n], size, seed=1,
                       workers=workers, progress=False)
    else:
        import warnings

        from pipeline.core.exceptions import PipelineWarning
        from pipeline.sem.bootstrap import bootstrap
        from pipeline.sem import fit
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PipelineWarning)
            res = fit(MODEL.read_text(), pd.read_csv(DATA_N300))
            bootstrap(res, B=size, seed=1, workers=workers, progress=False, attach=False)
    wall = time.perf_counter() - t
    print(json.dumps({"self_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                      "start_kb": rss0,
                      "child_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
                      "wall": wall}))


def _run(kind, size, n, workers):
    r = subprocess.run([sys.executable, __file__, "--child", kind, str(size), str(n), str(workers)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(r.stderr[-2000:])
    return json.loads(r.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    if argv is None and len(sys.argv) > 1 and sys.argv[1] == "--child":
        _child(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=10000)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--B", type=int, default=20000)
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args(argv)
    print(f"machine: {machine()}")
    rows = []
    for kind, size, label in [("power", a.reps // 10, f"power, N={a.n}, {a.reps // 10} reps"),
                              ("power", a.reps, f"power, N={a.n}, {a.reps} reps"),
                              ("boot", a.B // 10, f"bootstrap N=300, B={a.B // 10}"),
                              ("boot", a.B, f"bootstrap N=300, B={a.B}")]:
        r = _run(kind, size, a.n, a.workers)
        total = r["self_kb"] + a.workers * r["child_kb"]
        rows.append((label, r, total))
        print(f"  {label:34s} main {r['self_kb'] / 1024:7.1f} MB  largest worker "
              f"{r['child_kb'] / 1024:7.1f} MB  bound {total / 1024:7.1f} MB  ({r['wall']:.1f} s)",
              flush=True)
    p_small, p_large = rows[0][2], rows[1][2]
    b_small, b_large = rows[2][2], rows[3][2]
    print("\nresults")
    print(f"  power: {a.reps} reps / {a.reps // 10} reps peak-RSS ratio {p_large / p_small:.3f}; "
          f"peak {p_large / 1024:.0f} MB (target < 1024 MB)")
    print(f"  bootstrap: B={a.B} / B={a.B // 10} peak-RSS ratio {b_large / b_small:.3f} "
          f"(estimates stored: {a.B} x parameters x 8 bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
