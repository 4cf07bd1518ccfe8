"""FIML bootstrap, 24 items, N = 4,000, 5 % missing: ours against lavaan.

Run from the repository root::

    .venv/bin/python benchmarks/bench_fiml_bootstrap.py [--B 1000] [--B-lavaan 100]
        [--workers 2] [--seed 1]

Data: a 4-factor x 6-item CFA (``benchmarks/_cases.py``), N = 4,000, each
value missing with probability 0.05 (about 70 % of the cases incomplete,
some 350 missingness patterns); another ``--seed`` gives a hidden case of
the same size.

* ours, one fresh process (start-up included): ``fit_fiml(model, data)``
  (FIML fit with observed-information SEs), then
  ``engine_bootstrap_draws(res, B, seed, workers=2)`` (local processes);
* lavaan, timed inside R: ``sem(model, d, missing = "ml")`` and
  ``sem(model, d, missing = "ml", se = "bootstrap", bootstrap = B_lavaan,
  parallel = "multicore", ncpus = 2)``.  With ``--B-lavaan`` below ``--B``
  lavaan's time for B draws is extrapolated linearly:
  ``t_fit + (t_boot - t_fit) * B / B_lavaan`` (a full B = 1,000 lavaan run
  takes about an hour on this machine; ``--B-lavaan 1000`` runs it).

Prints both times and the ratio (target <= 0.10), and the largest
difference between the bootstrap SEs (ours B, lavaan B_lavaan; Monte Carlo
error about 1/sqrt(2 B_lavaan) relative).
"""
from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _cases import cfa_case  # noqa: E402
from _common import have_r, machine  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

OURS = r"""
import sys, time, warnings
t0 = time.perf_counter()
import numpy as np, pandas as pd
from pipeline.core.exceptions import PipelineWarning
from pipeline.sem.fiml import fit_fiml
from pipeline.sem.fast import engine_bootstrap_draws
model = open(sys.argv[1]).read()
data = pd.read_csv(sys.argv[2])
B, workers, seed = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
with warnings.catch_warnings():
    warnings.simplefilter("ignore", PipelineWarning)
    res = fit_fiml(model, data)
    t1 = time.perf_counter()
    est, status = engine_bootstrap_draws(res, B, seed, workers=workers, progress=False)
t2 = time.perf_counter()
ok = status != 1
se = est[ok].std(axis=0, ddof=1)
rows = res.model.rows
names = [f"{rows[r]['lhs']} {rows[r]['op']} {rows[r]['rhs']}" for r in res.model.par_rows]
pd.DataFrame({"name": names, "se": se}).to_csv(sys.argv[6], index=False)
print(f"FIT {t1 - t0:.3f}")
print(f"DRAWS {t2 - t1:.3f}")
print(f"STATUS ok={int((status == 0).sum())} failed={int((status == 1).sum())} inadmissible={int((status == 2).sum())}")
"""

LAVAAN = r"""
suppressPackageStartupMessages(library(lavaan))
args <- commandArgs(trailingOnly = TRUE)
model <- paste(readLines(args[1]), collapse = "\n")
d <- read.csv(args[2]); B <- as.integer(args[3]); ncpus <- as.integer(args[4])
set.seed(1)
t_fit <- system.time(fit0 <- sem(model, data = d, missing = "ml"))[["elapsed"]]
t_boot <- system.time(fit <- sem(model, data = d, missing = "ml", se = "bootstrap",
                                 bootstrap = B, parallel = "multicore",
                                 ncpus = ncpus))[["elapsed"]]
pe <- parameterEstimates(fit)
pe <- pe[pe$se > 0, ]
write.csv(data.frame(name = paste(pe$lhs, pe$op, pe$rhs), se = pe$se), args[5],
          row.names = FALSE)
cat(sprintf("FIT %.3f\nBOOT %.3f\n", t_fit, t_boot))
"""


def _cpu_children() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _run(cmd, timeout):
    c0 = _cpu_children()
    t = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=timeout)
    wall = time.perf_counter() - t
    if r.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed:\n{r.stderr[-2000:]}")
    out = dict(line.split(" ", 1) for line in r.stdout.splitlines() if " " in line)
    out["CPU"] = _cpu_children() - c0
    return wall, out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--B", type=int, default=1000)
    ap.add_argument("--B-lavaan", type=int, default=100)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=7200)
    args = ap.parse_args(argv)
    print(machine())
    tmp = Path(tempfile.mkdtemp(prefix="bench_fiml_boot_"))
    model, data = cfa_case(4, 6, 4000, 0.05, seed=args.seed)
    mp, dp = tmp / "m.lav", tmp / "d.csv"
    mp.write_text(model)
    data.to_csv(dp, index=False)
    (tmp / "ours.py").write_text(OURS)
    (tmp / "lavaan.R").write_text(LAVAAN)
    print(f"data: N = {len(data)}, 24 items, {data.isna().any(axis=1).mean():.0%} incomplete "
          f"cases, {len(data.isna().drop_duplicates())} missingness patterns")
    wall, o = _run([sys.executable, str(tmp / "ours.py"), str(mp), str(dp), str(args.B),
                    str(args.workers), "20260601", str(tmp / "ours_se.csv")], args.timeout)
    print(f"ours: {wall:.2f} s whole process (fit and start-up {o['FIT']} s, {args.B} draws "
          f"{o['DRAWS']} s on {args.workers} workers, "
          f"{float(o['DRAWS']) / args.B * 1e3:.1f} ms per draw); CPU {o['CPU']:.1f} s; "
          f"{o['STATUS']}", flush=True)
    if not have_r():
        print("R/lavaan not found: lavaan skipped")
        return 0
    lw, lo = _run(["Rscript", str(tmp / "lavaan.R"), str(mp), str(dp), str(args.B_lavaan),
                   str(args.workers), str(tmp / "lav_se.csv")], args.timeout)
    t_fit, t_boot = float(lo["FIT"]), float(lo["BOOT"])
    est = t_fit + (t_boot - t_fit) * args.B / args.B_lavaan
    print(f"lavaan: fit {t_fit:.2f} s; se='bootstrap', B = {args.B_lavaan}, ncpus = "
          f"{args.workers}: {t_boot:.2f} s ({(t_boot - t_fit) / args.B_lavaan * 1e3:.0f} ms "
          f"per draw); for B = {args.B}: "
          f"{'measured' if args.B_lavaan == args.B else 'extrapolated'} {est:.1f} s; "
          f"CPU {lo['CPU']:.1f} s for B = {args.B_lavaan}")
    ours_se = pd.read_csv(tmp / "ours_se.csv").set_index("name")["se"]
    lav_se = pd.read_csv(tmp / "lav_se.csv").set_index("name")["se"]
    common = ours_se.index.intersection(lav_se.index)
    rel = np.abs(ours_se[common] / lav_se[common] - 1)
    print(f"bootstrap SEs: {len(common)} parameters, median |ours/lavaan - 1| = "
          f"{rel.median():.3f}, max {rel.max():.3f} (MC error ~{1 / np.sqrt(2 * args.B_lavaan):.3f})")
    print(f"\nSummary: ratio ours / lavaan = {wall:.1f} / {est:.1f} = {wall / est:.3f} "
          f"(target <= 0.10): {'met' if wall / est <= 0.10 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
