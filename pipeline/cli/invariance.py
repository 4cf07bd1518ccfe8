"""``python -m pipeline invariance DATA MODEL --group COL [options]``: measurement invariance.

Fits configural, metric, scalar and strict multi-group models (lavaan's
group.equal; ordinal items: configural, thresholds, metric, scalar after Wu &
Estabrook 2016, by WLSMV), compares each with the step before by the chi-square
difference test (scaled, Satorra-Bentler 2001, for MLM/MLR, as lavTestLRT),
reports delta CFI / RMSEA / SRMR with named decision rules (Cheung & Rensvold
2002; Chen 2007) and, where a step fails, score tests (lavTestScore) of its
constraints; the largest are freed for partial invariance.  ``--json OUT``
writes ``{steps: [{name chisq df cfi rmsea srmr chisq_diff df_diff p_diff
delta_cfi delta_rmsea delta_srmr decision rules ...}], suggestions: [...], ...}``.

In R: ``cfa(model, data, group = COL, group.equal = ...)`` per step,
``lavTestLRT``, ``lavTestScore``.
"""
from __future__ import annotations

import sys
import warnings

from pipeline.cli.common import options_line, parser, read_data

__all__ = ["main"]


def _parser():
    from pipeline.sem.invariance import DECISION_RULES, ORDINAL_STEPS, STEPS
    ap = parser("invariance", __doc__.split("\n\n")[1])
    ap.add_argument("data", help="data file (.csv, .xlsx, .sav)")
    ap.add_argument("model", help="lavaan model: a .lav file or the syntax itself")
    ap.add_argument("--group", required=True, metavar="COL", help="the grouping column")
    ap.add_argument("--estimator", type=str.upper, default="ML",
                    choices=["ML", "MLM", "MLR", "WLSMV", "DWLS"],
                    help="ML (lavaan's default); MLM/MLR: scaled difference test and robust "
                         "CFI/RMSEA; WLSMV (implied by --ordered): scaled-shifted difference "
                         "(Satorra 2000) and scaled CFI/RMSEA")
    ap.add_argument("--ordered", default=None, metavar="ITEM,ITEM,...|all",
                    help="ordinal items: thresholds, polychoric correlations, delta "
                         "parameterization; steps configural, thresholds, metric, scalar "
                         "(Wu & Estabrook 2016)")
    ap.add_argument("--ordinal-id", dest="ordinal_id", default="wu.estabrook.2016",
                    choices=["wu.estabrook.2016", "lavaan"],
                    help="ordinal steps: Wu & Estabrook (2016) configural, thresholds, metric, "
                         "scalar; or lavaan's group.equal sequence configural, loadings, "
                         "loadings + thresholds")
    ap.add_argument("--std-lv", dest="std_lv", action="store_true", default=False,
                    help="identify factors by unit variances (lavaan's std.lv=TRUE) instead "
                         "of marker loadings")
    ap.add_argument("--missing", choices=["listwise", "fiml"], default="listwise",
                    help="listwise deletion (lavaan) or full-information ML")
    ap.add_argument("--steps", default=None,
                    help=f"comma-separated steps, in order, from {', '.join(STEPS)} "
                         f"(ordinal: {', '.join(ORDINAL_STEPS)}); default: all")
    ap.add_argument("--rule", choices=list(DECISION_RULES), default="chen_2007",
                    help="the decision rule of each step (all are reported)")
    ap.add_argument("--alpha", type=float, default=0.05,
                    help="level of the difference and score tests")
    ap.add_argument("--no-partial", dest="partial", action="store_false", default=True,
                    help="do not free constraints the score tests point to")
    ap.add_argument("--max-free", type=int, default=5,
                    help="at most this many parameters freed per failing step")
    ap.add_argument("--json", metavar="OUT", default=None, help="write the result as JSON")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from pipeline.core.exceptions import PipelineWarning
    from pipeline.sem.invariance import measurement_invariance
    from pipeline.sem.results import _read_model_text
    data = read_data(args.data)
    model = _read_model_text(args.model)
    ordered = None
    if args.ordered:
        ordered = "all" if args.ordered.strip().lower() == "all" else [
            v.strip() for v in args.ordered.split(",") if v.strip()]
    from pipeline.sem.invariance import ORDINAL_STEPS, ORDINAL_STEPS_LAVAAN, STEPS
    table = (ORDINAL_STEPS if args.ordinal_id == "wu.estabrook.2016" else ORDINAL_STEPS_LAVAAN) \
        if ordered else STEPS
    steps = ([s.strip() for s in args.steps.split(",") if s.strip()] if args.steps
             else list(table))
    estimator = "WLSMV" if ordered and args.estimator == "ML" else args.estimator
    used = {"group": args.group, "estimator": estimator, "missing": args.missing,
            "steps": ",".join(steps), "rule": args.rule, "alpha": args.alpha,
            "partial": args.partial, "max_free": args.max_free, "std_lv": args.std_lv}
    if ordered:
        used["ordered"] = args.ordered
        used["ordinal_id"] = args.ordinal_id
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PipelineWarning)   # recorded on the result
        res = measurement_invariance(model, data, args.group, estimator=estimator,
                                     ordered=ordered, missing=args.missing, steps=steps,
                                     decision_rule=args.rule, alpha=args.alpha,
                                     partial=args.partial, max_free=args.max_free,
                                     ordinal_id=args.ordinal_id, std_lv=args.std_lv,
                                     source=str(args.data))
    if args.json:
        from pipeline.core.io import write_json
        out = res.to_dict()
        out["options"] = {k: v for k, v in used.items()}
        write_json(args.json, out)
    print(options_line(used))
    print(res.summary())
    if args.json:
        print(f"\nwrote {args.json}", file=sys.stderr)
    return 0
