"""``python -m pipeline scorecard [--out DIR] [--published DIR]``: the replication scorecard.

Every published number next to what the pipeline recomputes: the study's
recomputations from published aggregates (the thesis's cost-effectiveness
tables and audit), and the ``computed.json`` of every wave registered in
the settings.  Writes ``scorecard.csv`` and ``index.html`` (default
``reports/``), which links every report found there.

One scorecard, one status per number: :func:`build_scorecard` builds it for
the index, and :func:`wave_table` builds the same scorecard for one wave's
replication table (``pipeline/workflow/wave.py``), so a key has the same
status in both (:func:`pipeline.replication.scorecard.status_of`).
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Mapping

from pipeline.cli.common import parser

__all__ = ["main", "extra_rows", "audit_findings", "methods_notes", "STUDY_HOOKS",
           "build_scorecard", "wave_table", "provenance", "PACKAGES"]


def extra_rows(params: dict[str, Any], published: dict[str, Any], *, cea: bool = True) -> list[tuple]:
    """The thesis's rows recomputed from published numbers alone: the CEA (its stage
    parameters ``cea``; skipped with ``cea=False``, as its keys belong to no wave) and the
    consistency audit (``audit``; the thesis's N = 100 by default)."""
    from studies.amirova2021 import audit_rules
    rows: list[tuple] = []
    if cea:
        from studies.amirova2021 import cea as cea_mod
        rows += list(cea_mod.scorecard_rows(cea_mod.run(params.get("cea") or {}, published)))
    rows += audit_rules.scorecard_rows(published, n=int((params.get("audit") or {}).get("n", 100)))
    return rows


def audit_findings(params: dict[str, Any], published: dict[str, Any]) -> list:
    """The thesis's consistency-audit findings (its ``audit`` parameters)."""
    from studies.amirova2021.audit_rules import audit_thesis
    cfg = params.get("audit") or {}
    return audit_thesis(published=published, n=int(cfg.get("n", 100)),
                        indicators_per_factor=cfg.get("indicators_per_factor")).findings


def methods_notes(params: dict[str, Any]) -> dict[str, Any]:
    """The thesis's methods notes for the index (:func:`studies.amirova2021.audit_rules.methods_notes`)."""
    from studies.amirova2021.audit_rules import methods_notes as notes
    return notes(params)


#: Studies that recompute published numbers from published aggregates and audit them:
#: study -> (rows, findings, methods notes).
STUDY_HOOKS = {"amirova2021": (extra_rows, audit_findings, methods_notes)}

#: Packages whose versions the index records.
PACKAGES = ("numpy", "scipy", "pandas", "statsmodels", "scikit-learn", "matplotlib", "PyYAML", "dvc")


def _published(dirs: list, load_published) -> dict[str, Any]:
    """Every published value of the given folders; a key in two folders is an error."""
    out: dict[str, Any] = {}
    for d in dirs:
        for k, v in load_published(d).items():
            if k in out:
                raise ValueError(f"published key {k!r} is in {out[k].file} and in {d}/{v.file}")
            out[k] = v
    return out


def _waves(params: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {w: dict(v or {}) for w, v in (params.get("waves") or {}).items()}


def build_scorecard(params: Mapping[str, Any], *, published: str | Path | None = None,
                    computed: Mapping[str, Mapping[str, Any]] | None = None,
                    processed: str | Path | None = None) -> tuple[Any, list[str], list[Path]]:
    """The study's scorecard, as the index shows it.

    Parameters
    ----------
    params : mapping
        :func:`pipeline.cli.config.load_params`.
    published : path, optional
        One folder of published YAML files (default: the ``published`` folder of
        every registered wave).
    computed : mapping wave -> {key: value}, optional
        Respondent-level values by wave, instead of reading every
        ``<processed>/<wave>/results/computed.json``.
    processed : path, optional
        Default ``data/processed``.  A wave's ``results/info.json`` there, when it
        records ``synthetic``, gives the flag its results were computed with.

    Returns
    -------
    (Scorecard, messages, published folders)
    """
    from pipeline.core import paths
    from pipeline.replication.published import load_published
    from pipeline.replication.scorecard import Scorecard, collect, join_wave
    studies = params.get("studies") or {}
    waves = _waves(params)
    if published:
        dirs = [paths.resolve(published)]
    else:
        dirs = list(dict.fromkeys(paths.resolve(w["published"]) for w in waves.values()
                                  if w.get("published")))
    published_all = _published(dirs, load_published)
    results = {k: v for k, v in published_all.items() if v.role != "input"}
    sc_params = params.get("scorecard") or {}
    patterns = sc_params.get("respondent_level_keys") or (
        [f"{w}.*" for w in waves] + ["!*.threshold.*"])
    proc = paths.resolve(processed) if processed else paths.DATA_PROCESSED
    for w, spec in waves.items():   # the small-cell threshold of the wave's study
        st = ((params.get("studies") or {}).get(spec.get("study")) or {}).get("settings") or {}
        spec.setdefault("privacy", dict(st.get("privacy") or {}))
    for w, spec in waves.items():   # the flag the results were computed with, when recorded
        info = proc / w / "results" / "info.json"
        if computed is None and info.is_file():
            recorded = json.loads(info.read_text(encoding="utf-8"))
            if "synthetic" in recorded:
                spec["synthetic"] = bool(recorded["synthetic"])
    sc = Scorecard(results, respondent_level=patterns,
                   synthetic=any(bool(w.get("synthetic")) for w in waves.values()))
    rows: list[tuple] = []
    for study in studies:
        if study in STUDY_HOOKS and published_all:
            rows_of, findings_of, _ = STUDY_HOOKS[study]
            rows += rows_of(dict(params), published_all)
            sc.add_findings(findings_of(dict(params), published_all))
    msgs: list[str] = []
    if computed is None:
        msgs += collect(sc, processed=proc, waves=waves, extra_rows=rows, label="data/processed")
    else:
        for key, val, note, tol, source in rows:
            if key in sc.published:
                sc.add(key, val, tolerance=tol, source=source, note=note)
        for wave, values in computed.items():
            if wave not in waves:
                raise ValueError(f"computed: {wave!r} is not a registered wave ({', '.join(waves)})")
            join_wave(sc, wave, values, waves[wave], source=f"data/processed/{wave}/computed.json")
    sc.synthetic = any(bool(w.get("synthetic")) for w in waves.values())
    return sc, msgs, dirs


def wave_table(wave: str, computed: Mapping[str, Any], settings: Mapping[str, Any]):
    """One wave's replication table, with the status the index gives each key.

    Built like the index (:func:`build_scorecard`): the published folder of the
    wave, the study's recomputations from published numbers and its audit
    findings (the thesis's defaults: a wave's stage reads no other stage's
    parameters), and this wave's values with its own ``synthetic`` flag; the
    status of each key is :func:`pipeline.replication.scorecard.status_of`'s.
    The call site is ``pipeline/workflow/wave.py`` (``_replication``).

    Parameters
    ----------
    wave : str
    computed : mapping
        The wave's ``computed`` values (key -> value).
    settings : mapping
        The wave's settings (``published``, ``synthetic``, ``study``).

    Returns
    -------
    DataFrame indexed by key: ``table line published recomputed status basis``
    (``recomputed``: this wave's value, full precision), the wave's keys it
    recomputed; empty when the wave names no published folder.
    """
    import pandas as pd

    from pipeline.core import paths
    from pipeline.replication.published import load_published
    from pipeline.replication.scorecard import Scorecard, join_wave
    cols = ["table", "line", "published", "recomputed", "status", "basis"]
    if not settings.get("published"):
        return pd.DataFrame(columns=cols, index=pd.Index([], name="key"))
    published_all = load_published(paths.resolve(settings["published"]))
    results = {k: v for k, v in published_all.items() if v.role != "input"}
    sc = Scorecard(results, respondent_level=[f"{wave}.*", "!*.threshold.*"],
                   synthetic=bool(settings.get("synthetic")))
    hooks = STUDY_HOOKS.get(str(settings.get("study") or ""))
    if hooks and published_all:
        rows_of, findings_of, _ = hooks
        for key, val, note, tol, source in rows_of({}, published_all, cea=False):
            if key in sc.published:
                sc.add(key, val, tolerance=tol, source=source, note=note)
        sc.add_findings(findings_of({}, published_all))
    join_wave(sc, wave, computed, settings, source=f"data/processed/{wave}/computed.json")
    df = sc.to_frame()
    df = df[df["key"].str.startswith(f"{wave}.")
            & (df["from_respondents"].notna() | df["key"].isin(sc.suppressed))]
    out = df.drop(columns=["published"]).rename(columns={"printed": "published",
                                                         "from_respondents": "recomputed"})
    return out[["key"] + cols].set_index("key")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _chisq_convention(ws: Mapping[str, Any]) -> tuple[str, str]:
    """(which model, likelihood) of a wave's settings: the SEM/CFA, else the comparison's CFA."""
    sem = ws.get("sem") or {}
    if sem.get("model") or sem.get("cfa_model"):
        return "SEM/CFA", str(sem.get("likelihood") or "normal")
    comp = ws.get("comparison") or {}
    if comp.get("cfa_model"):
        return "CFA of the instrument", str(comp.get("cfa_likelihood") or "normal")
    return "", ""


_LIKELIHOOD = {"wishart": "wishart: chi-square = (N - 1) x F_ML (AMOS's convention)",
               "normal": "normal: chi-square = N x F_ML (lavaan's default)"}


def provenance(params: Mapping[str, Any], processed: str | Path | None = None) -> dict[str, Any]:
    """Methods and provenance for the index: per wave the data (synthetic or real), the input
    file with its SHA-256, the chi-square convention and why, the decision rule used; the
    study's own decision rule next to it; package versions; the study's notes.  No timestamp,
    no absolute path.

    The input file and the synthetic flag are those the wave's results record
    (``<processed>/<wave>/results/info.json``), else the wave's settings."""
    from importlib import metadata

    from pipeline.cli.config import wave_settings
    from pipeline.core import paths
    waves = _waves(params)
    notes: dict[str, Any] = {"why": {}, "rules": [], "notes": []}
    for study in params.get("studies") or {}:
        if study in STUDY_HOOKS:
            got = STUDY_HOOKS[study][2](dict(params)) or {}
            notes["why"].update(got.get("why") or {})
            notes["rules"] += list(got.get("rules") or [])
            notes["notes"] += list(got.get("notes") or [])
    rows = []
    for wave, w in waves.items():
        try:
            ws = wave_settings(wave)
        except Exception:            # a wave whose settings do not validate: show what is written
            ws = w
        info_f = ((paths.resolve(processed) if processed else paths.DATA_PROCESSED)
                  / wave / "results" / "info.json")
        info = json.loads(info_f.read_text(encoding="utf-8")) if info_f.is_file() else {}
        raw = str(info.get("raw file") or w.get("raw") or "")
        synthetic = bool(info["synthetic"]) if "synthetic" in info else bool(w.get("synthetic"))
        p = paths.resolve(raw) if raw else None
        digest = _sha256(p) if p is not None and p.is_file() else "(file not present)"
        what, lik = _chisq_convention(ws)
        hyp = ws.get("hypotheses") or {}
        rule = ""
        if what == "SEM/CFA" and (ws.get("sem") or {}).get("model"):
            alpha = float((hyp.get("alpha") if isinstance(hyp, Mapping) else None) or 0.05)
            from scipy import stats
            z = float(stats.norm.isf(alpha / 2))
            rule = (f"Wald z = est / SE, two-sided p < {alpha:g} (|z| > {z:.3f}) with the stated "
                    "sign; bootstrap tests: the percentile interval excludes 0")
        rows.append({
            "wave": wave,
            "data": "synthetic" if synthetic else "real",
            "input file": raw,
            "SHA-256 of the input": digest,
            "chi-square convention": (f"{what}: {_LIKELIHOOD.get(lik, lik)}" if what else "no model fitted"),
            "why": notes["why"].get(wave) or ("set in the wave's settings" if lik == "wishart"
                                              else "lavaan's default" if lik else ""),
            "decision rule used": rule,
        })
    pk = {}
    for name in PACKAGES:
        try:
            pk[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return {"waves": rows, "rules": notes["rules"], "packages": pk, "notes": notes["notes"]}


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
    from pipeline.replication.scorecard import discover_reports, render_index
    from pipeline.reporting.escape import html as escape_html
    from pipeline.reporting.format import format_number
    params = load_params()
    studies = params.get("studies") or {}
    sc, msgs, dirs = build_scorecard(params, published=args.published)
    for m in msgs:
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
               render_index(sc, discover_reports(out), title=title,
                            published_label=", ".join(labels) or "published/",
                            methods=provenance(params),
                            fmt=lambda x, d: format_number(x, digits=d), escape=escape_html))
    print(sc.summary())
    print(f"wrote {out / 'scorecard.csv'} and {out / 'index.html'}")
    return 0
