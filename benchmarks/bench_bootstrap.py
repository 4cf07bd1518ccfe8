"""B = 5000 percentile bootstrap of the thesis SEM on N = 300: ours against lavaan.

Run from the repository root::

    .venv/bin/python benchmarks/bench_bootstrap.py [--B 5000] [--repeats 2] [--workers 2]

In one session, interleaved (ours, lavaan, ours, lavaan, ...), on
tests/reference/data/thesis_n300.csv and studies/amirova2021/models/cs2019/thesis_sem.lav:

* ours: ``pipeline.sem.bootstrap.bootstrap(fit(model, data), B, workers=2)``
  (the engine's full-sample fit, then the fast path: compiled model, warm
  quasi-Newton refits, local processes);
* lavaan: ``sem(model, data, se = "bootstrap", bootstrap = B,
  parallel = "multicore", ncpus = 2)`` timed inside R (``system.time``,
  R start-up excluded); skipped with a message when R/lavaan is absent;
* naive semopy: ``semopy.Model(desc).fit(resampled data)`` in a loop over
  ``--naive`` draws (one process, BLAS limited to one thread, its best
  case on a busy machine), scaled to B.

Prints wall times and the ratios ours / lavaan (target <= 0.5) and
naive semopy / ours.  Timing on a shared machine is noisy: the ratios of
runs interleaved in one session are what count.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DATA_N300, MODEL, have_r, machine, semopy_syntax, timer  # noqa: E402

R_SCRIPT = r"""
suppressPackageStartupMessages(library(lavaan))
args <- commandArgs(trailingOnly = TRUE)
model <- paste(readLines(args[1]), collapse = "\n")
d <- read.csv(args[2]); B <- as.integer(args[3]); ncpus <- as.integer(args[4])
set.seed(1)
t <- system.time(fit <- sem(model, data = d, se = "bootstrap", bootstrap = B,
                            parallel = "multicore", ncpus = ncpus))[["elapsed"]]
pe <- parameterEstimates(fit, boot.ci.type = "perc")
cat(sprintf("ELAPSED %.3f\n", t))
"""


def run_ours(text, data, B, workers, seed):
    from pipeline.core.exceptions import PipelineWarning
    from pipeline.sem.bootstrap import bootstrap
    from pipeline.sem import fit
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PipelineWarning)
        res = fit(text, data)
        br = bootstrap(res, B=B, seed=seed, workers=workers, progress=False, attach=False)
    return br


def run_lavaan(model_path, data_path, B, ncpus):
    with tempfile.NamedTemporaryFile("w", suffix=".R", delete=False) as fh:
        fh.write(R_SCRIPT)
    t = time.perf_counter()
    r = subprocess.run(["Rscript", fh.name, str(model_path), str(data_path), str(B), str(ncpus)],
                       capture_output=True, text=True)
    wall = time.perf_counter() - t
    Path(fh.name).unlink()
    if r.returncode != 0:
        raise RuntimeError(r.stderr)
    elapsed = float(r.stdout.split("ELAPSED")[1].split()[0])
    return elapsed, wall


def run_naive_semopy(text, data, n_draws, seed):
    import semopy

    from pipeline.core.parallel import blas_single_thread
    desc = semopy_syntax(text)
    x = data.to_numpy()
    rng = np.random.default_rng(seed)
    with blas_single_thread():     # semopy's best case: threaded BLAS only spins here
        t = time.perf_counter()
        for _ in range(n_draws):
            d = pd.DataFrame(x[rng.integers(0, len(x), len(x))], columns=data.columns)
            m = semopy.Model(desc)
            m.fit(d)
        return (time.perf_counter() - t) / n_draws


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--B", type=int, default=5000)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--naive", type=int, default=100, help="semopy draws timed (scaled to B)")
    a = ap.parse_args(argv)
    text = MODEL.read_text()
    data = pd.read_csv(DATA_N300)
    print(f"machine: {machine()}")
    print(f"thesis SEM on {DATA_N300.name}: N = {len(data)}, B = {a.B}, workers/ncpus = {a.workers}")
    r_ok = have_r()
    if not r_ok:
        print("R with lavaan not found: the lavaan comparison is skipped "
              "(apt-get install r-base-core r-cran-lavaan)")
    t: dict = {}
    run_ours(text, data, 50, a.workers, 0)                  # warm-up (imports, fork)
    for rep in range(a.repeats):
        with timer(t, "ours"):
            br = run_ours(text, data, a.B, a.workers, 1000 + rep)
        print(f"  round {rep + 1}: ours {t['ours'][-1]:.2f} s "
              f"({br.n_ok} ok, {br.n_failed} failed, {br.n_inadmissible} inadmissible)", flush=True)
        if r_ok:
            el, wall = run_lavaan(MODEL, DATA_N300, a.B, a.workers)
            t.setdefault("lavaan", []).append(el)
            t.setdefault("lavaan_wall", []).append(wall)
            print(f"  round {rep + 1}: lavaan {el:.2f} s in R ({wall:.2f} s with R start-up); "
                  f"ratio ours/lavaan {t['ours'][-1] / el:.3f}", flush=True)
    per_draw = run_naive_semopy(text, data, a.naive, 7)
    t["semopy"] = [per_draw * a.B]
    ours = statistics.median(t["ours"])
    print("\nresults (median over rounds)")
    print(f"  ours                     {ours:8.2f} s   ({ours / a.B * 1e3:.2f} ms per draw)")
    if r_ok:
        lav = statistics.median(t["lavaan"])
        ratios = [o / l for o, l in zip(t["ours"], t["lavaan"])]
        print(f"  lavaan (ncpus={a.workers})        {lav:8.2f} s")
        print(f"  ratio ours / lavaan      {statistics.median(ratios):8.3f}   "
              f"(per round: {', '.join(f'{x:.3f}' for x in ratios)}; target <= 0.5)")
    print(f"  naive semopy loop        {t['semopy'][0]:8.2f} s   (1 process, {per_draw * 1e3:.1f} ms "
          f"per draw x {a.B}, timed on {a.naive} draws)")
    print(f"  speed-up vs naive semopy {t['semopy'][0] / ours:8.1f} x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
