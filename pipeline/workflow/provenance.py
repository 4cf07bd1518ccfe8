"""Methods and provenance of one wave, shown at the end of its report.

What a reviewer needs to judge the numbers of a report, each from the
wave's settings or files, never from code about a study:

* the chi-square convention of the wave's model (``sem.likelihood``, or
  ``comparison.cfa_likelihood`` for an instrument's CFA) and why it was
  chosen;
* the decision rule used for the hypotheses (two-sided Wald test at the
  wave's ``hypotheses.alpha``: ``|z| > z_(1 - alpha/2)``; bootstrap tests:
  the percentile interval excludes 0), next to the study's own rule where
  the study states one;
* the versions of the packages that computed the numbers;
* the SHA-256 of the wave's input file (the raw data as read).

No timestamp and no absolute path: the section is byte-reproducible.

The "why" and the study's own rules come from an optional
``methods.yaml`` in the wave's models folder (the analyze stage's
dependency), for example::

    chisq_why: "as the thesis: Table 12 is AMOS output, chi-square = (N - 1) F_ML"
    rules:
      - label: "The thesis's decision rule (line 1050)"
        text: "a path is significant when its critical ratio exceeds 1.97"
    notes: ["..."]

In R: ``sessionInfo()`` for the versions, ``digest::digest(file = f, algo = "sha256")``.
"""
from __future__ import annotations

import hashlib
from importlib import metadata
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

__all__ = ["PACKAGES", "LIKELIHOOD", "methods_file", "read_methods", "sha256", "package_versions",
           "chisq_convention", "decision_rule", "provenance_section"]

#: Packages whose versions each report names (those that compute or write its numbers).
PACKAGES = ("numpy", "scipy", "pandas", "statsmodels", "scikit-learn", "factor_analyzer",
            "matplotlib", "graphviz", "python-docx", "PyYAML", "papermill", "nbconvert", "dvc")

#: likelihood setting -> the chi-square it gives.
LIKELIHOOD = {"wishart": "chi-square = (N - 1) x F_ML (AMOS's convention)",
              "normal": "chi-square = N x F_ML (lavaan's default)"}

_ALLOWED = {"chisq_why", "rules", "notes"}


def methods_file(ws: Mapping[str, Any]) -> Path | None:
    """``<models>/methods.yaml`` of the wave, or None."""
    from pipeline.core import paths
    models = ws.get("models")
    if not models:
        return None
    f = paths.resolve(models) / "methods.yaml"
    return f if f.is_file() else None


def read_methods(ws: Mapping[str, Any]) -> dict[str, Any]:
    """The wave's ``methods.yaml`` (``chisq_why``, ``rules``, ``notes``), checked; {} when absent."""
    from pipeline.cli.schema import SettingsError
    from pipeline.core.io import read_yaml
    f = methods_file(ws)
    if f is None:
        return {}
    raw = read_yaml(f) or {}
    where = f"{ws.get('models')}/methods.yaml"
    if not isinstance(raw, dict):
        raise SettingsError(f"{where}: the top level must be a mapping")
    unknown = sorted(set(raw) - _ALLOWED)
    if unknown:
        raise SettingsError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(_ALLOWED)}")
    for i, r in enumerate(raw.get("rules") or []):
        if not isinstance(r, dict) or set(r) != {"label", "text"}:
            raise SettingsError(f"{where}: rules[{i}] needs exactly 'label' and 'text'")
    if raw.get("notes") is not None and not isinstance(raw["notes"], list):
        raise SettingsError(f"{where}: notes must be a list of sentences")
    return raw


def sha256(path: str | Path) -> str:
    """SHA-256 hex digest of a file (read in 1 MiB blocks)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    """Installed version of each package (those not installed are left out)."""
    import platform
    out = {"python": platform.python_version()}
    for n in names:
        try:
            out[n] = metadata.version(n)
        except metadata.PackageNotFoundError:
            continue
    import re
    import shutil
    import subprocess
    dot = shutil.which("dot")
    if dot:                      # the layout engine of the path diagrams
        r = subprocess.run([dot, "-V"], capture_output=True, text=True, check=False)
        m = re.search(r"version\s+(\S+)", r.stderr + r.stdout)
        if m:
            out["Graphviz (dot)"] = m.group(1)
    return out


def chisq_convention(ws: Mapping[str, Any]) -> tuple[str, str]:
    """(model, likelihood) whose chi-square the wave reports; ("", "") when no model is fitted."""
    sem = ws.get("sem") or {}
    if sem.get("model") or sem.get("cfa_model"):
        return ("structural model and CFA" if sem.get("model") else "CFA",
                str(sem.get("likelihood") or "normal"))
    comp = ws.get("comparison") or {}
    if comp.get("cfa_model"):
        return "CFA of the instrument", str(comp.get("cfa_likelihood") or "normal")
    return "", ""


def decision_rule(alpha: float) -> str:
    """The rule :mod:`pipeline.sem.hypotheses` applies at level *alpha*."""
    from scipy import stats
    z = float(stats.norm.isf(alpha / 2))
    return (f"Wald z = estimate / SE, two-sided p = 2(1 - Phi(|z|)) < {alpha:g}, i.e. |z| > "
            f"{z:.3f}, with the hypothesized sign; bootstrap tests: the percentile interval "
            "excludes 0")


def provenance_section(ctx: Any) -> None:
    """Write the ``provenance`` section of a wave (a table and the study's notes).

    *ctx* is the analyze stage's context (:mod:`pipeline.workflow.wave`):
    ``ws`` (settings), ``hypotheses`` (spec) and ``section(key)``.
    """
    from pipeline.core import paths
    ws = ctx.ws
    meth = read_methods(ws)
    rows: list[tuple[str, str]] = []
    raw = str(ws.get("raw") or "")
    p = paths.resolve(raw) if raw else None
    rows.append(("input file", raw))
    rows.append(("SHA-256 of the input file", sha256(p) if p is not None and p.is_file()
                 else "(file not present)"))
    rows.append(("data", "synthetic" if ws.get("synthetic") else "real"))
    what, lik = chisq_convention(ws)
    if what:
        rows.append(("chi-square convention", f"{what}: likelihood = {lik}, "
                                              f"{LIKELIHOOD.get(lik, lik)}"))
        rows.append(("why this convention", str(meth.get("chisq_why") or (
            "lavaan's default" if lik == "normal" else "set in the wave's settings"))))
    else:
        rows.append(("chi-square convention", "no model is fitted"))
    tests = (getattr(ctx, "hypotheses", None) or {}).get("tests") or []
    if tests:
        alpha = float(ctx.hypotheses.get("alpha") or 0.05)
        for r in meth.get("rules") or []:
            rows.append((str(r["label"]), str(r["text"])))
        rows.append(("decision rule used here", decision_rule(alpha)))
    for name, version in package_versions().items():
        rows.append((f"version: {name}", version))
    sec = ctx.section("provenance")
    sec.table("methods", pd.DataFrame(rows, columns=["item", "value"]).set_index("item"),
              caption="Methods and provenance", index=True)
    for n in meth.get("notes") or []:
        sec.text(str(n))
    sec.close()
