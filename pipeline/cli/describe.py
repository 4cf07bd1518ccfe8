"""``python -m pipeline describe DATA [--instrument CODEBOOK | --items ...] [--construct NAME=ITEMS]``.

Descriptive statistics of items and construct scores as SPSS prints them
(:mod:`pipeline.psychometrics.descriptives`): n, mean, SD, skewness and
kurtosis with SPSS's standard errors, Shapiro-Wilk, Mardia, response
distributions.

In R: ``psych::describe(x, type = 2)``; ``psych::mardia(x)``.
"""
from __future__ import annotations

import sys

from pipeline.cli.common import options_line, parser, read_data

__all__ = ["main"]


def _parser():
    ap = parser("describe", __doc__.split("\n\n")[1])
    ap.add_argument("data", help="CSV, XLSX or SAV file")
    ap.add_argument("--instrument", default=None,
                    help="codebook (a YAML path, or an instrument name): items and constructs from it")
    ap.add_argument("--items", nargs="+", default=None,
                    help="item columns (default: every numeric column)")
    ap.add_argument("--construct", action="append", default=[], metavar="NAME=ITEMS",
                    help="a construct score, e.g. A=-A1,A2,A3 ('-' = reverse-keyed)")
    ap.add_argument("--min-share", type=float, default=1.0,
                    help="share of a construct's items a respondent must answer for a score")
    ap.add_argument("--json", default=None, help="write the result as JSON here")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from pipeline.core.io import write_json
    from pipeline.psychometrics.descriptives import describe, describe_codebook
    if args.instrument:
        from pipeline.data.codebook import load_codebook
        from pipeline.data.loading import read_raw
        cb = load_codebook(args.instrument)
        df = read_raw(args.data, cb).data
        res = describe_codebook(df, cb, min_share=args.min_share, file=str(args.data))
    else:
        from pipeline.psychometrics.reliability import parse_scale
        df = read_data(args.data)
        cons, rev = {}, []
        for s in args.construct:
            name, eq, spec = s.partition("=")
            if not eq:
                raise ValueError(f"--construct {s!r}: expected NAME=ITEM,ITEM,-ITEM")
            its, r = parse_scale(spec)
            cons[name.strip()] = its
            rev += r
        items = [i for part in (args.items or []) for i in part.split(",") if i] or None
        res = describe(df, items, cons, reverse=rev, min_share=args.min_share,
                       file=str(args.data))
    if args.json:
        write_json(args.json, res.to_dict())
    print(options_line({"instrument": args.instrument, "min_share": args.min_share}))
    print(res.summary())
    if args.json:
        print(f"wrote {args.json}", file=sys.stderr)
    return 0
