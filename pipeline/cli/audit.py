"""``python -m pipeline audit``: consistency audit of published statistics.

With ``--fit FILE`` (YAML or JSON: ``chisq``, ``df``, ``cmin_df``,
``pvalue``, ``rmsea``, ``cfi``, ``tli``, ``ifi``, optional ``thresholds``)
any paper's fit table is audited against its N and model
(:func:`pipeline.replication.audit.audit_fit_table`) and the findings
printed.  Without it the thesis's transcribed tables are audited with the
study's rules (:mod:`studies.amirova2021.audit_rules`, settings group
``audit``) and ``audit.csv``, ``audit.json`` and ``audit.html`` written
(default ``reports/audit/``).
"""
from __future__ import annotations

import html
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pipeline.cli.common import parser

__all__ = ["main"]


def _read_mapping(path: str) -> dict[str, Any]:
    import yaml
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"--fit file not found: {p}")
    text = p.read_text(encoding="utf-8")
    try:
        data = json.loads(text) if p.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ValueError(f"{p}: not valid {'JSON' if p.suffix.lower() == '.json' else 'YAML'}: "
                         f"{exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{p}: expected a mapping of fit measures (chisq, df, cmin_df, rmsea, ...)")
    return data


def _html(res: Any) -> str:
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Consistency audit</title>"
            "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;font-size:13px}"
            "td,th{border:1px solid #ccc;padding:3px 6px}tr.error td{background:#fbe3e3}"
            "tr.warning td{background:#fff5d6}</style></head><body>"
            "<h1>Consistency audit of the published statistics</h1>"
            f"<p>{html.escape(res.summary().splitlines()[0])}</p>" + res.to_html() + "</body></html>")


def main(argv: Sequence[str] | None = None) -> int:
    ap = parser("audit", __doc__.split("\n\n")[1])
    ap.add_argument("--out", default=None,
                    help="output directory (default: reports/audit; with --fit: print only)")
    ap.add_argument("--fit", default=None, help="YAML/JSON file with a reported fit table to audit")
    ap.add_argument("--n", type=int, default=None, help="sample size of --fit (required with --fit)")
    ap.add_argument("--n-observed", type=int, default=None, help="number of observed variables")
    ap.add_argument("--model-df", type=int, default=None, help="the model's degrees of freedom")
    ap.add_argument("--n-factors", type=int, default=None, help="number of latent factors")
    ap.add_argument("--single-indicator-factors", type=int, default=0,
                    help="factors measured by one indicator")
    args = ap.parse_args(list(argv or []))
    from pipeline.core import paths
    from pipeline.core.io import write_csv, write_json, write_text
    from pipeline.replication.audit import AuditResult, audit_fit_table
    if args.fit:
        if args.n is None:
            raise ValueError("--n (the sample size) is required with --fit")
        found = audit_fit_table(_read_mapping(args.fit), n=args.n, n_observed=args.n_observed,
                                model_df=args.model_df, n_factors=args.n_factors,
                                single_indicator_factors=args.single_indicator_factors,
                                where=str(args.fit))
        res = AuditResult(found, {"fit measures": 1})
        for f in found:
            print(f)
        if not found:
            print("no inconsistencies found")
        if args.out:
            out = paths.resolve(args.out)
            write_csv(out / "audit.csv", res.to_frame(), index=False)
            write_json(out / "audit.json", [f.to_dict() for f in found])
        return 0
    from pipeline.cli.config import load_params
    from studies.amirova2021.audit_rules import audit_thesis
    cfg = load_params().get("audit") or {}
    res = audit_thesis(n=int(cfg.get("n", 100)), indicators_per_factor=cfg.get("indicators_per_factor"))
    out = paths.resolve(args.out) if args.out else paths.report_dir("audit")
    write_csv(out / "audit.csv", res.to_frame(), index=False)
    write_json(out / "audit.json", [f.to_dict() for f in res.findings])
    write_text(out / "audit.html", _html(res))
    print(res.summary())
    return 0
