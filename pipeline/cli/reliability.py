"""``python -m pipeline reliability DATA --scale NAME=ITEM,ITEM,-ITEM ...``.

Cronbach's alpha (Feldt CI), item-total statistics and omega total per scale
(:mod:`pipeline.psychometrics.reliability`), with psych's defaults unless
told otherwise.  The JSON (``--json OUT``) is written whatever a scale
allows (a two-item scale has no omega: ``null`` and a warning).

In R: ``psych::alpha(x, keys)``; ``psych::omega(x, nfactors = 1)``.
"""
from __future__ import annotations

import sys
import warnings

from pipeline.cli.common import options_line, parser, read_data

__all__ = ["main"]


def _parser():
    from pipeline.psychometrics.efa import MISSING
    ap = parser("reliability", __doc__.split("\n\n")[1])
    ap.add_argument("data", help="CSV, XLSX or SAV file")
    ap.add_argument("--scale", action="append", required=True, metavar="NAME=ITEMS",
                    help="one scale per flag, e.g. A=-A1,A2,A3 ('-' = reverse-keyed)")
    ap.add_argument("--missing", default="pairwise", choices=MISSING,
                    help="pairwise (psych) or listwise (SPSS)")
    ap.add_argument("--min-score", type=float, default=None,
                    help="lowest response code for reversal (default: the scale's smallest answer)")
    ap.add_argument("--max-score", type=float, default=None,
                    help="highest response code for reversal (default: the scale's largest answer)")
    ap.add_argument("--ci-level", type=float, default=0.95, help="level of the Feldt interval")
    ap.add_argument("--omega-factors", type=int, default=1,
                    help="factors of the minres solution behind omega total")
    ap.add_argument("--threshold", type=float, default=0.7,
                    help="alpha at or above this is flagged acceptable (Nunnally's .70)")
    ap.add_argument("--json", default=None, help="write the result as JSON here")
    return ap


def _scales(specs: list[str]) -> dict[str, str]:
    scales: dict[str, str] = {}
    for s in specs:
        if "=" not in s:
            raise ValueError(f"--scale {s!r}: expected NAME=ITEM,ITEM,-ITEM")
        name, spec = s.split("=", 1)
        if name.strip() in scales:
            raise ValueError(f"--scale: scale {name.strip()!r} given twice")
        scales[name.strip()] = spec
    return scales


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from pipeline.core.exceptions import NotEstimableWarning, ReverseKeyedItemWarning
    from pipeline.core.io import write_json
    from pipeline.psychometrics.reliability import reliability
    scales = _scales(args.scale)
    df = read_data(args.data)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = reliability(df, scales, missing=args.missing, min_score=args.min_score,
                          max_score=args.max_score, level=args.ci_level,
                          threshold=args.threshold, omega_factors=args.omega_factors,
                          file=str(args.data))
    if args.json:      # first: nothing printed below can cost the file
        write_json(args.json, res.to_dict())
    print(options_line({"missing": args.missing, "ci_level": args.ci_level,
                        "omega_factors": args.omega_factors, "threshold": args.threshold,
                        "min_score": args.min_score, "max_score": args.max_score}))
    print(res.summary())
    for w in caught:  # the scale's own warnings are in its summary; others shown once here
        if not issubclass(w.category, (ReverseKeyedItemWarning, NotEstimableWarning)):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if args.json:
        print(f"wrote {args.json}", file=sys.stderr)
    return 0
