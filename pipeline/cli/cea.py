"""``python -m pipeline cea [--out DIR]``: the thesis's cost-effectiveness analysis.

Runs :mod:`studies.amirova2021.cea` (Tables 15, 18-21, 23-24) with the
study's ``cea`` settings and writes tables (CSV + LaTeX), figures (PNG +
SVG) and an HTML section into ``reports/cea/``.
"""
from __future__ import annotations

from collections.abc import Sequence

from pipeline.cli.common import parser

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    ap = parser("cea", __doc__.split("\n\n")[1])
    ap.add_argument("--out", default=None, help="output directory (default: reports/cea)")
    args = ap.parse_args(list(argv or []))
    from pipeline.cli.config import load_params
    from pipeline.core import paths
    from studies.amirova2021 import cea
    res = cea.run(load_params().get("cea") or {})
    out = paths.resolve(args.out) if args.out else paths.report_dir("cea")
    files = cea.write_outputs(res, out)
    print(res.summary())
    print(f"\nwrote {len(files)} files into {out}")
    return 0
