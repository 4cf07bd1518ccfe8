"""``python -m pipeline efa DATA [--items ...] [--factors K|parallel|kaiser] ...``.

Exploratory factor analysis with KMO, Bartlett's test and parallel analysis
(:mod:`pipeline.psychometrics.efa`), with psych's defaults (minres,
oblimin, pairwise) unless told otherwise.  Without ``--items`` every numeric
column is an item except id-like and derived score columns; the command
names what it left out.

In R: ``psych::fa.parallel(x)``; ``psych::fa(x, nfactors, fm = "minres", rotate = "oblimin")``.
"""
from __future__ import annotations

import sys

from pipeline.cli.common import options_line, parser, read_data

__all__ = ["main"]


def _parser():
    from pipeline.psychometrics.efa import METHODS, MISSING, ROTATIONS
    ap = parser("efa", __doc__.split("\n\n")[1])
    ap.add_argument("data", help="CSV, XLSX or SAV file")
    ap.add_argument("--items", nargs="+", default=None,
                    help="item columns (default: every numeric column except id-like and "
                         "derived score columns)")
    ap.add_argument("--factors", default="parallel", help="K, 'parallel' or 'kaiser'")
    ap.add_argument("--method", default="minres", choices=METHODS, help="extraction")
    ap.add_argument("--rotation", default="oblimin", choices=ROTATIONS, help="rotation")
    ap.add_argument("--missing", default="pairwise", choices=MISSING,
                    help="pairwise (psych) or listwise (SPSS)")
    ap.add_argument("--seed", type=int, default=20190601, help="parallel-analysis seed")
    ap.add_argument("--n-iter", type=int, default=20, help="parallel-analysis data sets")
    ap.add_argument("--json", default=None, help="write the result as JSON here")
    ap.add_argument("--scree", default=None, help="write a scree plot (png or svg) here")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from pipeline.core.io import write_json
    from pipeline.psychometrics.efa import candidate_items, efa, scree_plot
    df = read_data(args.data)
    if args.items:
        items = [i for part in args.items for i in part.split(",") if i]
    else:
        items, excluded = candidate_items(df)
        for col, why in excluded.items():
            print(f"excluded column {col!r}: {why} (name it in --items to include it)")
    f = str(args.factors)
    factors: int | str = int(f) if f.isdigit() else f
    res = efa(df, items, n_factors=factors, method=args.method, rotation=args.rotation,
              missing=args.missing, seed=args.seed, n_iter=args.n_iter, file=str(args.data))
    if args.json:
        write_json(args.json, res.to_dict())
    print(options_line({"items": ",".join(map(str, items)), "factors": args.factors,
                        "method": args.method, "rotation": args.rotation,
                        "missing": args.missing, "seed": args.seed, "n_iter": args.n_iter}))
    print(res.summary())
    if args.scree:
        scree_plot(res, args.scree)
    if args.json:
        print(f"wrote {args.json}", file=sys.stderr)
    return 0
