"""``python -m pipeline fit DATA MODEL [options]``: fit a lavaan-syntax model.

Prints the fit table (chi-square labelled with its convention), the
parameter table and R²; ``--json OUT`` writes ``{nobs, fit, parameters, r2,
warnings, options}`` (NaN as null) through :mod:`pipeline.core.io`.

In R: ``summary(sem(model, data), fit.measures=TRUE, standardized=TRUE,
rsquare=TRUE)``.
"""
from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import pandas as pd

__all__ = ["main", "read_data"]


def read_data(path: str | Path) -> pd.DataFrame:
    """Read CSV / XLSX / SAV through the project's reader (:func:`pipeline.data.loading.read_table`)."""
    from pipeline.data.loading import read_table
    return read_table(path)


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m pipeline fit",
                                 description="Fit a lavaan-syntax SEM by ML (lavaan-equal).")
    ap.add_argument("data", help="data file (.csv, .xlsx, .sav)")
    ap.add_argument("model", help="lavaan model: a .lav path or a name in studies/amirova2021/models/")
    ap.add_argument("--likelihood", choices=["normal", "wishart"], default=None,
                    help="normal: chisq = N*F (lavaan); wishart: (N-1)*F (AMOS)")
    ap.add_argument("--missing", choices=["listwise", "fiml"], default=None)
    ap.add_argument("--bootstrap", type=int, default=0, metavar="B",
                    help="bootstrap draws for percentile / bias-corrected CIs")
    ap.add_argument("--seed", type=int, default=None, help="bootstrap seed")
    ap.add_argument("--keep-inadmissible", action="store_true",
                    help="keep bootstrap draws with a negative variance (lavaan 0.6 keeps "
                         "them; default: params.yaml bootstrap.drop_inadmissible)")
    ap.add_argument("--workers", type=int, default=None,
                    help="local worker processes for the draws (default: all cores); "
                         "never changes the results")
    ap.add_argument("--scheduler", default=None, metavar="ADDRESS",
                    help="dask.distributed scheduler for the draws (default: "
                         "$DASK_SCHEDULER_ADDRESS, else local processes)")
    ap.add_argument("--modindices", type=int, default=0, metavar="K",
                    help="also print the K largest modification indices (with EPC)")
    ap.add_argument("--json", metavar="OUT", help="write the result as JSON")
    ap.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from pipeline.cli.config import stage_params
    try:
        sem_cfg = stage_params("sem") or {}
    except (KeyError, FileNotFoundError):
        sem_cfg = {}
    try:
        boot_cfg = stage_params("bootstrap") or {}
    except (KeyError, FileNotFoundError):
        boot_cfg = {}
    likelihood = args.likelihood or sem_cfg.get("likelihood", "normal")
    missing = args.missing or sem_cfg.get("missing", "listwise")
    from pipeline.sem import fit
    data = read_data(args.data)
    with warnings.catch_warnings():
        # the warnings are recorded on the result and printed in the summary
        from pipeline.core.exceptions import PipelineWarning
        warnings.simplefilter("ignore", PipelineWarning)
        res = fit(args.model, data, likelihood=likelihood, missing=missing,
                  source=str(args.data))
        if args.bootstrap:
            from pipeline.sem.bootstrap import bootstrap
            seed = args.seed if args.seed is not None else boot_cfg.get("seed", 0)
            drop = (not args.keep_inadmissible) and bool(boot_cfg.get("drop_inadmissible", True))
            bootstrap(res, B=args.bootstrap, seed=seed, level=float(boot_cfg.get("level", 0.95)),
                      drop_inadmissible=drop, progress=not args.no_progress,
                      workers=args.workers if args.workers is not None else boot_cfg.get("workers"),
                      scheduler=args.scheduler or boot_cfg.get("scheduler"))
    res.options.update({"data": str(args.data), "model": str(args.model)})
    print(res.summary())
    if res.bootstrap is not None:
        print("")
        print(res.bootstrap.report())
    if args.modindices > 0:
        mi = res.modification_indices().head(args.modindices)
        print("\nModification indices (largest first)")
        print(mi.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    if args.json:
        from pipeline.core.io import write_json
        write_json(args.json, res.to_dict())
        print(f"\nwrote {args.json}", file=sys.stderr)
    return 0
