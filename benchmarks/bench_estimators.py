"""MLR, WLSMV and the invariance sequence against lavaan, whole processes (issue 15).

Each case runs as a fresh process on each side (start-up and imports
included), back to back, ``--repeat`` times; the script prints the median
wall time of each side and the ratio ours / lavaan.  Targets: <= 0.5.

Cases (real data shipped in tests/reference/data):

* ``mlr``: the five-factor Big Five CFA of psych's bfi (25 items, N = 2,436
  complete cases), ``estimator = "MLR"``;
* ``wlsmv``: the same model with the 25 items ordered (6 categories),
  ``estimator = "WLSMV"``;
* ``invariance``: Holzinger-Swineford by school, configural / metric /
  scalar / strict under ML with lavTestLRT (``python -m pipeline
  invariance``).

Usage: ``python benchmarks/bench_estimators.py [--repeat 3]``.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import have_r, machine  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "reference" / "data"
BFI = ("A =~ A1 + A2 + A3 + A4 + A5\\nC =~ C1 + C2 + C3 + C4 + C5\\n"
       "E =~ E1 + E2 + E3 + E4 + E5\\nN =~ N1 + N2 + N3 + N4 + N5\\n"
       "O =~ O1 + O2 + O3 + O4 + O5")
HS = ROOT / "tests" / "reference" / "models" / "holzinger_3factor.lav"
ITEMS = [f"{f}{i}" for f in "ACENO" for i in range(1, 6)]

PY = {
    "mlr": ("import pandas as pd; from pipeline.sem import fit; "
            f"d = pd.read_csv('{DATA / 'bfi.csv'}')[{ITEMS!r}].dropna(); "
            f"r = fit('{BFI}', d, estimator='MLR'); print(r.fit_measures()['chisq.scaled'])"),
    "wlsmv": ("import pandas as pd; from pipeline.sem import fit; "
              f"d = pd.read_csv('{DATA / 'bfi.csv'}')[{ITEMS!r}].dropna(); "
              f"r = fit('{BFI}', d, ordered='all'); print(r.fit_measures()['chisq.scaled'])"),
    "invariance": ("import pandas as pd; from pipeline.sem import measurement_invariance; "
                   f"d = pd.read_csv('{DATA / 'holzinger_swineford.csv'}'); "
                   f"r = measurement_invariance(open('{HS}').read(), d, group='school'); "
                   "print(len(r.steps) if hasattr(r, 'steps') else r)"),
}
R_ITEMS = "c(" + ",".join(f"'{i}'" for i in ITEMS) + ")"
R = {
    "mlr": (f"suppressMessages(library(lavaan)); d <- na.omit(read.csv('{DATA / 'bfi.csv'}')[, {R_ITEMS}]); "
            f"f <- cfa('{BFI}', d, estimator = 'MLR'); print(fitMeasures(f, 'chisq.scaled'))"),
    "wlsmv": (f"suppressMessages(library(lavaan)); d <- na.omit(read.csv('{DATA / 'bfi.csv'}')[, {R_ITEMS}]); "
              f"f <- cfa('{BFI}', d, ordered = TRUE, estimator = 'WLSMV'); "
              "print(fitMeasures(f, 'chisq.scaled'))"),
    "invariance": ("suppressMessages(library(lavaan)); "
                   f"d <- read.csv('{DATA / 'holzinger_swineford.csv'}'); "
                   f"m <- paste(readLines('{HS}'), collapse = '\\n'); "
                   "f1 <- cfa(m, d, group = 'school'); "
                   "f2 <- cfa(m, d, group = 'school', group.equal = 'loadings'); "
                   "f3 <- cfa(m, d, group = 'school', group.equal = c('loadings', 'intercepts')); "
                   "f4 <- cfa(m, d, group = 'school', group.equal = c('loadings', 'intercepts', 'residuals')); "
                   "print(lavTestLRT(f1, f2, f3, f4)); "
                   "print(sapply(list(f1, f2, f3, f4), fitMeasures, c('cfi', 'rmsea', 'srmr')))"),
}


def _run(cmd: list[str]) -> float:
    t = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    dt = time.perf_counter() - t
    if r.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed:\n{r.stderr[-2000:]}")
    return dt


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--cases", default="mlr,wlsmv,invariance")
    args = ap.parse_args(argv)
    if not have_r():
        print("lavaan (Rscript) not available: nothing to compare against")
        return 1
    print(machine())
    print(f"{'case':<12} {'ours (s)':>9} {'lavaan (s)':>11} {'ratio':>7}  target <= 0.5")
    for case in args.cases.split(","):
        ours, theirs = [], []
        for _ in range(args.repeat):
            ours.append(_run([sys.executable, "-c", PY[case]]))
            theirs.append(_run(["Rscript", "-e", R[case]]))
        o, t = statistics.median(ours), statistics.median(theirs)
        print(f"{case:<12} {o:>9.2f} {t:>11.2f} {o / t:>7.3f}  {'met' if o / t <= 0.5 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
