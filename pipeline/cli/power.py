"""``python -m pipeline power --population POP.lav --model MODEL.lav [options]``.

Monte Carlo power analysis for a planned wave (:mod:`pipeline.sem.power`):
data drawn from the population model (continuous, or cut into Likert
categories), the analysis model fitted by ML to every replication; power,
bias, RMSE and coverage per parameter and sample size.

In R: ``simsem::sim(nRep, model, n, generate = pop)`` + ``simsem::getPower()``.
"""
from __future__ import annotations

import sys
from typing import Any

import numpy as np

from pipeline.cli.common import options_line, parser

__all__ = ["main"]


def _floats(s: str) -> list[float]:
    try:
        return [float(x) for x in s.split(",") if x.strip()]
    except ValueError:
        raise ValueError(f"expected comma-separated numbers, got {s!r}") from None


class _ItemCuts(dict):
    """Per-item cut points from category shares ({item: shares, "default": shares})."""

    def __init__(self, categories: dict[str, Any]):
        from pipeline.sem.power import thresholds_from_shares
        super().__init__()
        if "default" not in categories:
            raise ValueError("categories: a 'default' entry (shares of items not listed) is required")
        self.default = thresholds_from_shares(categories["default"])
        for k, v in categories.items():
            if k != "default":
                self[k] = thresholds_from_shares(v)

    def for_items(self, items):
        return {v: np.asarray(self.get(v, self.default)) for v in items}


def _parse_thresholds(spec: str | None, shares: str | None):
    """``--ordinal-thresholds`` (cut points, a YAML file of per-item category shares, or
    ``synth``: the thesis generator's) or ``--ordinal-shares``."""
    if spec and shares:
        raise ValueError("give --ordinal-thresholds or --ordinal-shares, not both")
    if shares:
        from pipeline.sem.power import thresholds_from_shares
        return [float(x) for x in thresholds_from_shares(_floats(shares))]
    if not spec:
        return None
    if spec == "synth":
        from studies.amirova2021.synth import load_targets
        t = load_targets()
        cats = t.get("categories") or t.get("cs2019", {}).get("categories")
        if cats is None:
            raise ValueError("--ordinal-thresholds synth: no categories in the thesis's synth targets")
        return _ItemCuts(cats)
    if spec.endswith((".yaml", ".yml")):
        from pipeline.core import paths
        from pipeline.core.io import read_yaml
        doc = read_yaml(paths.resolve(spec)) or {}
        cats = doc.get("categories") if isinstance(doc, dict) else None
        if not isinstance(cats, dict):
            raise ValueError(f"--ordinal-thresholds {spec}: expected a mapping 'categories: "
                             "{default: [shares], ITEM: [shares]}'")
        return _ItemCuts(cats)
    return _floats(spec)


def _model_text(spec: str, flag: str) -> str:
    """Model syntax as given, or the text of the ``.lav`` file it names (relative to the project)."""
    if "~" in spec or "\n" in spec:
        return spec
    from pipeline.core import paths
    p = paths.resolve(spec)
    if not p.exists():
        raise FileNotFoundError(f"{flag}: model file not found: {spec}")
    return p.read_text(encoding="utf-8")


def _parser():
    ap = parser("power", __doc__.split("\n\n")[1])
    ap.add_argument("--population", required=True,
                    help="population model with values (lavaan syntax or a .lav file)")
    ap.add_argument("--model", required=True, help="analysis model (lavaan syntax or a .lav file)")
    ap.add_argument("--n", default="100,200,300,500", help="comma-separated sample sizes")
    ap.add_argument("--reps", type=int, default=1000, help="replications per sample size")
    ap.add_argument("--ordinal-thresholds", default=None,
                    help="cut points on the standardized response (e.g. -2.05,-1.41,-0.7,0.3), "
                         "a YAML file 'categories: {default: [shares], ITEM: [shares]}', or "
                         "'synth' for the thesis generator's per-item cuts (default: continuous)")
    ap.add_argument("--ordinal-shares", default=None,
                    help="category shares instead of cut points (e.g. .02,.05,.13,.42,.38)")
    ap.add_argument("--alpha", type=float, default=0.05, help="level of the Wald tests")
    ap.add_argument("--seed", type=int, default=1, help="seed of the replications")
    ap.add_argument("--likelihood", choices=["normal", "wishart"], default="normal",
                    help="normal: chisq = N*F (lavaan); wishart: (N-1)*F (AMOS)")
    ap.add_argument("--exclude-inadmissible", action="store_true",
                    help="leave inadmissible solutions out of the statistics")
    ap.add_argument("--workers", type=int, default=None, help="local processes (None: all cores)")
    ap.add_argument("--scheduler", default=None,
                    help="dask.distributed scheduler address (None: $DASK_SCHEDULER_ADDRESS, "
                         "else local processes)")
    ap.add_argument("--json", default=None, help="write the results as JSON")
    ap.add_argument("--out-dir", default=None,
                    help="directory of the table (CSV, LaTeX) and power-curve figure (PNG, SVG)")
    ap.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return ap


def main(argv: list[str] | None = None) -> int:
    a = _parser().parse_args(argv)
    from pipeline.core import paths
    from pipeline.sem.power import power_analysis
    ns = [int(x) for x in _floats(a.n)]
    thr = _parse_thresholds(a.ordinal_thresholds, a.ordinal_shares)
    population, model = _model_text(a.population, "--population"), _model_text(a.model, "--model")
    if isinstance(thr, _ItemCuts):
        from pipeline.sem import implied_moments
        thr = thr.for_items(implied_moments(population)[0])
    res = power_analysis(population, model, ns, a.reps, seed=a.seed, alpha=a.alpha,
                         thresholds=thr, likelihood=a.likelihood,
                         exclude_inadmissible=a.exclude_inadmissible, workers=a.workers,
                         scheduler=a.scheduler, progress=not a.no_progress)
    if a.json:
        from pipeline.core.io import write_json
        write_json(paths.resolve(a.json), res.to_dict())
    print(options_line({"n": a.n, "reps": a.reps, "alpha": a.alpha, "seed": a.seed,
                        "likelihood": a.likelihood, "ordinal": a.ordinal_thresholds or a.ordinal_shares,
                        "exclude_inadmissible": a.exclude_inadmissible}))
    print(res.summary())
    if a.out_dir:
        from pipeline.reporting.report import export_table, save_figure
        out = paths.resolve(a.out_dir)
        export_table(res.parameters, "power_parameters", out, index=False,
                     caption="Monte Carlo power, bias, RMSE and coverage")
        export_table(res.fit, "power_fit", out, index=False,
                     caption="Convergence and fit statistics over replications")
        fig = res.plot()
        files = save_figure(fig, "power_curve", out)
        import matplotlib.pyplot as plt
        plt.close(fig)
        print(f"\nwrote {out / 'tables'} and {files['png']}")
    if a.json:
        print(f"wrote {a.json}", file=sys.stderr)
    return 0
