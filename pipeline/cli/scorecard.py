"""``python -m pipeline scorecard [--out DIR] [--published DIR]``: the replication scorecard.

Every published number next to what the pipeline recomputes: the study's
recomputations from published aggregates (the thesis's cost-effectiveness
tables and audit), and the ``computed.json`` of every wave registered in
the settings.  Writes ``scorecard.csv`` and ``index.html`` (default
``reports/``), which links every report found there.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pipeline.cli.common import parser

__all__ = ["main", "extra_rows"]


def extra_rows(params: dict[str, Any], published: dict[str, Any]) -> list[tuple]:
    """The thesis's rows recomputed from published numbers alone: the CEA (settings
    group ``cea``) and the consistency audit (group ``audit``)."""
    from studies.amirova2021 import audit_rules, cea
    rows = list(cea.scorecard_rows(cea.run(params.get("cea") or {}, published)))
    rows += audit_rules.scorecard_rows(published, n=int((params.get("audit") or {}).get("n", 100)))
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    ap = parser("scorecard", __doc__.split("\n\n")[1])
    ap.add_argument("--out", default=None, help="output directory (default: reports/)")
    ap.add_argument("--published", default=None,
                    help="directory of published YAML files (default: the study's published/)")
    args = ap.parse_args(list(argv or []))
    from pipeline.cli.config import load_params
    from pipeline.core import paths
    from pipeline.core.io import write_csv, write_text
    from pipeline.replication.published import load_published
    from pipeline.replication.scorecard import Scorecard, collect, discover_reports, render_index
    from studies.amirova2021 import audit_rules
    params = load_params()
    sc_params = params.get("scorecard") or {}
    pub_dir = paths.resolve(args.published) if args.published else paths.DATA_PUBLISHED
    published_all = load_published(pub_dir)
    waves = {w: dict(v or {}) for w, v in (params.get("waves") or {}).items()}
    patterns = sc_params.get("respondent_level_keys") or (
        [f"{w}.*" for w in waves] + ["!*.threshold.*"])
    sc = Scorecard(load_published(pub_dir, include_inputs=False), respondent_level=patterns,
                   synthetic=any(bool(w.get("synthetic")) for w in waves.values()))
    for m in collect(sc, processed=paths.DATA_PROCESSED, waves=waves,
                     extra_rows=extra_rows(params, published_all), label="data/processed"):
        print(m)
    out = paths.resolve(args.out) if args.out else paths.REPORTS
    write_csv(out / "scorecard.csv", sc.to_frame(), index=False)
    cfg = params.get("audit") or {}
    found = audit_rules.audit_thesis(published=published_all, n=int(cfg.get("n", 100)),
                                     indicators_per_factor=cfg.get("indicators_per_factor"))
    try:
        label = pub_dir.resolve().relative_to(paths.ROOT).as_posix() + "/"
    except ValueError:
        label = pub_dir.name + "/"
    write_text(out / "index.html",
               render_index(sc, discover_reports(out), audit=found,
                            title=sc_params.get("title", "Amirova (2021) replication: reports and scorecard"),
                            published_label=label))
    print(sc.summary())
    print(f"wrote {out / 'scorecard.csv'} and {out / 'index.html'}")
    return 0
