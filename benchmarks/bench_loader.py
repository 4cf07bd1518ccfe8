"""Big data sets (issue 15 item 5): the loader on 1,000,000 rows, and the whole
load -> validate -> screen -> fit path on 100,000 respondents x 50 items.

Run from the repository root::

    .venv/bin/python benchmarks/bench_loader.py [--seed 1] [--rows 1000000] [--n-fit 100000]
        [--skip-fit] [--skip-validate]

Data (written to a temporary directory, removed afterwards; another
``--seed`` gives a "hidden" case of the same size): a CSV with a respondent
id (7 digits), ``org`` (string codes A/B/C), ``gender`` (1/2, declared
missing code 9 on ~1 % of rows) and 50 Likert items ``x1..x50`` (codes
1-5; ~2 % of the item cells empty) drawn from a 5-factor x 10-item
correlated-factor model (loadings 0.5-0.8, factor correlations 0.3,
discretised at the normal quintiles), and its codebook in the project's
format (``pipeline.data.codebook``).

Cases, each in a fresh child process (imports included), started by a fresh
intermediate process that reports the child's wall time and peak resident
set size (``ru_maxrss`` of RUSAGE_CHILDREN: that one child, whole process):

* ``read_csv``: ``pandas.read_csv(path)`` alone on the 1,000,000-row file,
  a reference for what parsing costs on this machine (not a target).
* ``validate``: ``pipeline.data.loading.read_raw(path, codebook)`` on the
  1,000,000-row file (the ``validate`` command's work); target < 30 s.
* ``pipeline``: on 100,000 respondents, ``read_raw`` -> ``screen`` (the
  codebook's rules) -> ``pipeline.sem.fit`` of the 5 x 10 CFA (listwise
  deletion, lavaan's defaults; ``--missing fiml`` for full-information ML
  on every respondent) -> ``fit_measures()``; target peak RSS < 2 GB for
  the whole process.

Targets are absolute (2 cores).
"""
from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FACTORS, ITEMS = 5, 10
TARGET_VALIDATE_S = 30.0
TARGET_RSS_GB = 2.0


def codebook_yaml(factors: int = FACTORS, items: int = ITEMS) -> str:
    """The benchmark's codebook in the project's YAML format."""
    import yaml
    likert = {1: "Strongly Disagree", 2: "Disagree", 3: "Neutral", 4: "Agree", 5: "Strongly Agree"}
    variables = [
        {"name": "id", "section": "meta", "type": "id", "label": "Respondent", "wording": "Respondent id",
         "required": True},
        {"name": "org", "section": "meta", "type": "categorical", "label": "Organisation",
         "wording": "Organisation", "codes": {"A": "Agency A", "B": "Agency B", "C": "Agency C"},
         "required": True},
        {"name": "gender", "section": "A", "type": "categorical", "label": "Gender", "wording": "Gender",
         "codes": {1: "Male", 2: "Female"}, "missing_codes": {9: "No answer"}, "required": True},
    ]
    for f in range(factors):
        for j in range(items):
            k = f * items + j + 1
            variables.append({"name": f"x{k}", "section": "C", "type": "likert", "label": f"Item {k}",
                              "wording": f"Statement {k}", "codes": dict(likert),
                              "missing_codes": {9: "No answer"}, "construct": f"F{f + 1}",
                              "required": True})
    spec = {"instrument": "bench", "title": "Loader benchmark", "id_column": "id",
            "constructs": {f"F{f + 1}": {"label": f"Factor {f + 1}"} for f in range(factors)},
            "variables": variables}
    return yaml.safe_dump(spec, sort_keys=False, allow_unicode=True)


def model_syntax(factors: int = FACTORS, items: int = ITEMS) -> str:
    return "".join(f"F{f + 1} =~ " + " + ".join(f"x{f * items + j + 1}" for j in range(items)) + "\n"
                   for f in range(factors))


def write_csv(path: Path, n: int, seed: int, factors: int = FACTORS, items: int = ITEMS,
              empty: float = 0.02, chunk: int = 200_000) -> None:
    """Write the benchmark CSV (fixed-width fields assembled as bytes: fast)."""
    from scipy.stats import norm
    from _cases import cfa_loadings
    rng = np.random.default_rng(seed)
    p = factors * items
    lam, phi = cfa_loadings(rng, factors, items)
    chol = np.linalg.cholesky(phi)
    uniq = np.sqrt(1.0 - (lam ** 2).sum(1))
    cuts = norm.ppf([0.2, 0.4, 0.6, 0.8])
    header = ",".join(["id", "org", "gender"] + [f"x{k + 1}" for k in range(p)]) + "\n"
    with open(path, "wb") as fh:
        fh.write(header.encode())
        for start in range(0, n, chunk):
            m = min(chunk, n - start)
            eta = rng.standard_normal((m, factors)) @ chol.T
            x = eta @ lam.T + rng.standard_normal((m, p)) * uniq
            codes = (np.searchsorted(cuts, x) + 1).astype(np.uint8)      # 1..5
            keep = rng.random((m, p)) >= empty
            # fields: "1000001,A,2," then 50 x ("d," or ","), the last ending in "\n"
            ids = (np.arange(start, start + m) + 1_000_001)[:, None]
            ids = (ids // 10 ** np.arange(6, -1, -1) % 10 + ord("0")).astype(np.uint8)    # 7 digits
            org = np.frombuffer(b"ABC", dtype=np.uint8)[rng.integers(0, 3, m)]
            gender = np.where(rng.random(m) < 0.01, ord("9"), ord("0") + rng.integers(1, 3, m))
            comma = ord(",")
            pre = np.column_stack([ids, np.full(m, comma), org, np.full(m, comma), gender,
                                   np.full(m, comma)]).astype(np.uint8)
            body = np.empty((m, 2 * p), dtype=np.uint8)
            body[:, 0::2] = ord("0") + codes
            body[:, 1::2] = comma
            body[:, -1] = ord("\n")
            mask = np.ones((m, 2 * p), dtype=bool)
            mask[:, 0::2] = keep
            full = np.concatenate([pre, body], axis=1)
            fmask = np.concatenate([np.ones(pre.shape, dtype=bool), mask], axis=1)
            fh.write(full[fmask].tobytes())


CHILD = r"""
import json, resource, sys, time, warnings
t0 = time.perf_counter()
kind, data, cb = sys.argv[1], sys.argv[2], sys.argv[3]
out = {}
if kind == "read_csv":
    import pandas as pd
    df = pd.read_csv(data)
    out["shape"] = list(df.shape)
elif kind == "validate":
    from pipeline.data.loading import read_raw
    res = read_raw(data, cb)
    out["shape"] = list(res.data.shape)
    out["declared_missing"] = int(sum(res.counts("declared_missing").values()))
else:
    from pipeline.core.exceptions import PipelineWarning
    from pipeline.data.codebook import load_codebook
    from pipeline.data.loading import read_raw
    from pipeline.data.screening import screen
    from pipeline.sem import fit
    book = load_codebook(cb)
    t = time.perf_counter()
    res = read_raw(data, book)
    out["t_load"] = time.perf_counter() - t
    out["rss_load_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PipelineWarning)
        scr = screen(res.data, book, {}, rows=res.rows, recodings=res.log_frame(), file=data)
    out["t_screen"] = time.perf_counter() - t
    out["rss_screen_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out["n_clean"] = scr.n_clean
    clean = scr.clean
    del res, scr
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PipelineWarning)
        f = fit(open(sys.argv[4]).read(), clean, missing=sys.argv[5])
        fm = f.fit_measures()
    out["t_fit"] = time.perf_counter() - t
    out["n_fit"] = int(f.nobs) if hasattr(f, "nobs") else None
    out["chisq"] = float(f.chisq)
    out["cfi"] = float(fm["cfi"])
out["inside"] = time.perf_counter() - t0
print("RESULT " + json.dumps(out))
"""


def _measure(args: list[str], timeout: float) -> None:
    """In a fresh intermediate process: run one case as its only child, print its wall
    time and peak RSS (RUSAGE_CHILDREN of this process = that one child)."""
    t = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", CHILD, *args], capture_output=True, text=True,
                       cwd=ROOT, timeout=timeout)
    wall = time.perf_counter() - t
    if r.returncode != 0:
        print(r.stderr[-3000:], file=sys.stderr)
        sys.exit(1)
    line = [ln for ln in r.stdout.splitlines() if ln.startswith("RESULT ")][-1]
    out = json.loads(line[7:]) | {"wall": wall,
                                  "maxrss_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}
    print("MEASURED " + json.dumps(out))


def _run(args: list[str], timeout: float) -> tuple[float, float, dict]:
    """Wall time (s), peak RSS (GB) and the results of one case in a fresh process."""
    r = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--measure", str(timeout), *args],
                       capture_output=True, text=True, cwd=ROOT, timeout=timeout + 60)
    if r.returncode != 0:
        raise RuntimeError(f"case {args[0]} failed:\n{r.stderr[-3000:]}")
    line = [ln for ln in r.stdout.splitlines() if ln.startswith("MEASURED ")][-1]
    out = json.loads(line[9:])
    return out["wall"], out["maxrss_kb"] / 1024 ** 2, out


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--measure"]:
        _measure(argv[2:], float(argv[1]))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--rows", type=int, default=1_000_000, help="rows of the validation file")
    ap.add_argument("--n-fit", type=int, default=100_000, help="respondents of the whole-path case")
    ap.add_argument("--missing", default="listwise", choices=["listwise", "fiml"],
                    help="missing-data treatment of the fit (listwise: lavaan's default)")
    ap.add_argument("--skip-validate", action="store_true")
    ap.add_argument("--skip-fit", action="store_true")
    ap.add_argument("--timeout", type=float, default=3600)
    ap.add_argument("--keep", action="store_true", help="keep the generated files (prints where)")
    a = ap.parse_args(argv)
    print(machine())
    tmp = Path(tempfile.mkdtemp(prefix="bench_loader_"))
    summary = []
    try:
        cb = tmp / "bench.yaml"
        cb.write_text(codebook_yaml(), encoding="utf-8")
        model = tmp / "cfa.lav"
        model.write_text(model_syntax(), encoding="utf-8")
        if not a.skip_fit:
            small = tmp / f"n{a.n_fit}.csv"
            t = time.perf_counter()
            write_csv(small, a.n_fit, a.seed + 1)
            print(f"generated {small.name}: {a.n_fit:,} rows x {3 + FACTORS * ITEMS} columns, "
                  f"{small.stat().st_size / 1e6:.1f} MB in {time.perf_counter() - t:.1f} s", flush=True)
            wall, rss, o = _run(["pipeline", str(small), str(cb), str(model), a.missing], a.timeout)
            print(f"[pipeline] {a.n_fit:,} x {FACTORS * ITEMS}: load {o['t_load']:.1f} s "
                  f"(peak {o['rss_load_mb']:.0f} MB), screen {o['t_screen']:.1f} s (peak "
                  f"{o['rss_screen_mb']:.0f} MB, {o['n_clean']:,} valid), fit ({a.missing}, "
                  f"N = {o['n_fit']:,}) {o['t_fit']:.1f} s "
                  f"(chisq {o['chisq']:.2f}, CFI {o['cfi']:.4f}); whole process {wall:.1f} s, "
                  f"peak RSS {rss:.2f} GB", flush=True)
            summary.append(f"load+validate+screen+fit ({a.missing}), {a.n_fit:,} x {FACTORS * ITEMS}: peak RSS "
                           f"{rss:.2f} GB (target < {TARGET_RSS_GB:g} GB: {_met(rss < TARGET_RSS_GB)}); "
                           f"{wall:.1f} s")
        if not a.skip_validate:
            big = tmp / f"n{a.rows}.csv"
            t = time.perf_counter()
            write_csv(big, a.rows, a.seed)
            print(f"generated {big.name}: {a.rows:,} rows x {3 + FACTORS * ITEMS} columns, "
                  f"{big.stat().st_size / 1e6:.1f} MB in {time.perf_counter() - t:.1f} s", flush=True)
            wall_ref, rss_ref, o = _run(["read_csv", str(big), str(cb)], a.timeout)
            print(f"[read_csv] pandas.read_csv alone: {wall_ref:.1f} s (inside {o['inside']:.1f} s), "
                  f"peak RSS {rss_ref:.2f} GB", flush=True)
            wall, rss, o = _run(["validate", str(big), str(cb)], a.timeout)
            print(f"[validate] read_raw: {wall:.1f} s (inside {o['inside']:.1f} s), peak RSS {rss:.2f} GB, "
                  f"{o['shape'][0]:,} respondents, {o['declared_missing']:,} declared-missing cells",
                  flush=True)
            summary.append(f"read_csv reference, {a.rows:,} rows: {wall_ref:.1f} s, peak RSS {rss_ref:.2f} GB")
            summary.append(f"validate {a.rows:,} rows: {wall:.1f} s (target < {TARGET_VALIDATE_S:g} s: "
                           f"{_met(wall < TARGET_VALIDATE_S)}), peak RSS {rss:.2f} GB; "
                           f"{wall / wall_ref:.1f}x read_csv alone")
    finally:
        if a.keep:
            print(f"files kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print("\nSummary")
    for line in summary:
        print("  " + line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
