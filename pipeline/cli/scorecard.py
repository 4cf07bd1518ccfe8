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

__all__ = ["main", "extra_rows", "audit_findings", "STUDY_HOOKS"]


def extra_rows(params: dict[str, Any], published: dict[str, Any]) -> list[tuple]:
    """The thesis's rows recomputed from published numbers alone: the CEA (its stage
    parameters ``cea``) and the consistency audit (``audit``)."""
    from studies.amirova2021 import audit_rules, cea
    rows = list(cea.scorecard_rows(cea.run(params.get("cea") or {}, published)))
    rows += audit_rules.scorecard_rows(published, n=int((params.get("audit") or {}).get("n", 100)))
    return rows


def audit_findings(params: dict[str, Any], published: dict[str, Any]) -> list:
    """The thesis's consistency-audit findings (its ``audit`` parameters)."""
    from studies.amirova2021.audit_rules import audit_thesis
    cfg = params.get("audit") or {}
    return audit_thesis(published=published, n=int(cfg.get("n", 100)),
                        indicators_per_factor=cfg.get("indicators_per_factor")).findings


#: Studies that recompute published numbers from published aggregates and audit them:
#: study -> (rows, findings).
STUDY_HOOKS = {"amirova2021": (extra_rows, audit_findings)}


def _published(dirs: list, load_published) -> dict[str, Any]:
    """Every published value of the given folders; a key in two folders is an error."""
    out: dict[str, Any] = {}
    for d in dirs:
        for k, v in load_published(d).items():
            if k in out:
                raise ValueError(f"published key {k!r} is in {out[k].file} and in {d}/{v.file}")
            out[k] = v
    return out


def main(argv: Sequence[str] | None = None) -> int:
    ap = parser("scorecard", __doc__.split("\n\n")[1])
    ap.add_argument("--out", default=None, help="output directory (default: reports/)")
    ap.add_argument("--published", default=None,
                    help="directory of published YAML files (default: the 'published' folder "
                         "of every registered wave)")
    args = ap.parse_args(list(argv or []))
    from pipeline.cli.config import load_params
    from pipeline.core import paths
    from pipeline.core.io import write_csv, write_text
    from pipeline.replication.published import load_published
    from pipeline.replication.scorecard import Scorecard, collect, discover_reports, render_index
    params = load_params()
    studies = params.get("studies") or {}
    waves = {w: dict(v or {}) for w, v in (params.get("waves") or {}).items()}
    if args.published:
        dirs = [paths.resolve(args.published)]
    else:
        dirs = list(dict.fromkeys(paths.resolve(w["published"]) for w in waves.values()
                                  if w.get("published")))
    published_all = _published(dirs, load_published)
    results = {k: v for k, v in published_all.items() if v.role != "input"}
    sc_params = params.get("scorecard") or {}
    patterns = sc_params.get("respondent_level_keys") or (
        [f"{w}.*" for w in waves] + ["!*.threshold.*"])
    sc = Scorecard(results, respondent_level=patterns,
                   synthetic=any(bool(w.get("synthetic")) for w in waves.values()))
    rows: list[tuple] = []
    audit = None
    for study in studies:
        if study in STUDY_HOOKS and published_all:
            rows_of, findings_of = STUDY_HOOKS[study]
            rows += rows_of(params, published_all)
            audit = (audit or []) + list(findings_of(params, published_all))
    for m in collect(sc, processed=paths.DATA_PROCESSED, waves=waves, extra_rows=rows,
                     label="data/processed"):
        print(m)
    out = paths.resolve(args.out) if args.out else paths.REPORTS
    write_csv(out / "scorecard.csv", sc.to_frame(), index=False)
    titles = [str((v or {}).get("title") or k) for k, v in studies.items()]
    title = (titles[0] + ": reports and replication scorecard" if len(titles) == 1
             else "Reports and replication scorecard")
    labels = []
    for d in dirs:
        try:
            labels.append(d.resolve().relative_to(paths.ROOT).as_posix() + "/")
        except ValueError:
            labels.append(d.name + "/")
    write_text(out / "index.html",
               render_index(sc, discover_reports(out), audit=audit,
                            title=title, published_label=", ".join(labels) or "published/"))
    print(sc.summary())
    print(f"wrote {out / 'scorecard.csv'} and {out / 'index.html'}")
    return 0
