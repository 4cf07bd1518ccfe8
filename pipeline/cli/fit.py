"""``python -m pipeline fit DATA MODEL [options]``: fit a lavaan-syntax model.

Maximum likelihood with lavaan's defaults -- normal likelihood (chisq =
N x F_ML) and listwise deletion -- unless told otherwise; no study's
settings are read.  Prints the options used, the fit table (chi-square
labelled with its convention), the parameter table and R^2; ``--json OUT``
writes ``{nobs, fit, parameters, r2, warnings, options}`` (NaN as null).

In R: ``summary(sem(model, data), fit.measures = TRUE, standardized = TRUE, rsquare = TRUE)``.
"""
from __future__ import annotations

import sys
import warnings

from pipeline.cli.common import options_line, parser, read_data

__all__ = ["main", "read_data"]


def _parser():
    ap = parser("fit", __doc__.split("\n\n")[1])
    ap.add_argument("data", help="data file (.csv, .xlsx, .sav)")
    ap.add_argument("model", help="lavaan model: a .lav file or the syntax itself")
    ap.add_argument("--likelihood", choices=["normal", "wishart"], default="normal",
                    help="normal: chisq = N*F (lavaan); wishart: (N-1)*F (AMOS)")
    ap.add_argument("--missing", choices=["listwise", "fiml"], default="listwise",
                    help="listwise deletion (lavaan) or full-information ML")
    ap.add_argument("--estimator", type=str.upper, default="ML",
                    choices=["ML", "MLM", "MLR", "ULS", "DWLS", "WLSMV", "ULSMV"],
                    help="lavaan's estimator names (ML; WLSMV when --ordered is given)")
    ap.add_argument("--ordered", default=None, metavar="ITEM,ITEM,...|all",
                    help="ordinal items (thresholds, polychoric correlations); "
                         "'all' = every observed variable of the model")
    ap.add_argument("--group", default=None, metavar="COL",
                    help="grouping column: a multi-group model (lavaan's group=)")
    ap.add_argument("--group-equal", default="", metavar="WHAT,WHAT,...",
                    help="lavaan's group.equal: loadings, intercepts, thresholds, residuals, "
                         "residual.covariances, means, lv.variances, lv.covariances, regressions")
    ap.add_argument("--group-partial", default="", metavar="PAR,PAR,...",
                    help="lavaan's group.partial: parameters exempt from --group-equal, "
                         "e.g. \"visual=~x2,x7~1\"")
    ap.add_argument("--bootstrap", type=int, default=0, metavar="B",
                    help="bootstrap draws for percentile / bias-corrected CIs (0: none)")
    ap.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    ap.add_argument("--level", type=float, default=0.95, help="bootstrap confidence level")
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--drop-inadmissible", dest="drop_inadmissible", action="store_true",
                   default=False, help="drop bootstrap draws with a negative variance")
    g.add_argument("--keep-inadmissible", dest="drop_inadmissible", action="store_false",
                   help="keep them, as lavaan 0.6 and AMOS do")
    ap.add_argument("--workers", type=int, default=None,
                    help="local worker processes for the draws (None: all cores); "
                         "never changes the results")
    ap.add_argument("--scheduler", default=None, metavar="ADDRESS",
                    help="dask.distributed scheduler for the draws (None: "
                         "$DASK_SCHEDULER_ADDRESS, else local processes)")
    ap.add_argument("--modindices", type=int, default=0, metavar="K",
                    help="also print the K largest modification indices (with EPC)")
    ap.add_argument("--json", metavar="OUT", default=None, help="write the result as JSON")
    ap.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from pipeline.core.exceptions import PipelineWarning
    from pipeline.sem import fit
    data = read_data(args.data)
    ordered = None
    if args.ordered:
        ordered = "all" if args.ordered.strip().lower() == "all" else [
            v.strip() for v in args.ordered.split(",") if v.strip()]
    estimator = "WLSMV" if ordered and args.estimator == "ML" else args.estimator
    used = {"estimator": estimator, "likelihood": args.likelihood, "missing": args.missing}
    if ordered:
        used["ordered"] = args.ordered
    group_equal = [s.strip() for s in args.group_equal.split(",") if s.strip()]
    group_partial = [s.strip() for s in args.group_partial.split(",") if s.strip()]
    if (group_equal or group_partial) and not args.group:
        raise ValueError("--group-equal / --group-partial need --group COL")
    if args.group:
        if args.group not in data.columns:
            raise ValueError(f"--group {args.group!r} is not a column of {args.data}")
        if args.bootstrap:
            raise ValueError("--bootstrap is not available with --group (multi-group fits)")
        used.update({"group": args.group, "group_equal": ",".join(group_equal) or "none",
                     "group_partial": ",".join(group_partial) or "none"})
    if args.bootstrap:
        used.update({"bootstrap": args.bootstrap, "seed": args.seed, "level": args.level,
                     "drop_inadmissible": args.drop_inadmissible})
    with warnings.catch_warnings():
        # the warnings are recorded on the result and printed in the summary
        warnings.simplefilter("ignore", PipelineWarning)
        res = fit(args.model, data, likelihood=args.likelihood, missing=args.missing,
                  source=str(args.data), estimator=estimator, ordered=ordered,
                  group=args.group, group_equal=group_equal, group_partial=group_partial)
        if args.bootstrap:
            from pipeline.sem.bootstrap import bootstrap
            bootstrap(res, B=args.bootstrap, seed=args.seed, level=args.level,
                      drop_inadmissible=args.drop_inadmissible, progress=not args.no_progress,
                      workers=args.workers, scheduler=args.scheduler)
    res.options.update({"data": str(args.data), "model": str(args.model)})
    if args.json:
        from pipeline.core.io import write_json
        write_json(args.json, res.to_dict())
    print(options_line(used))
    print(res.summary())
    if getattr(res, "bootstrap", None) is not None:
        print("")
        print(res.bootstrap.report())
    if args.modindices > 0:
        mi = res.modification_indices().head(args.modindices)
        print("\nModification indices (largest first)")
        print(mi.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    if args.json:
        print(f"\nwrote {args.json}", file=sys.stderr)
    return 0
