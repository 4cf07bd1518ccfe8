"""The settings schema: what ``params.yaml`` may say, with every default.

``params.yaml`` holds two registries::

    studies:
      <study>:
        title: ...
        settings: {<group>: {...}}   # shared by the study's waves
        stages: {<name>: {...}}      # the study's own stages (free-form, checked by its code)
    waves:
      <wave>:
        study: <study>
        codebook: studies/<study>/codebook.yaml
        raw: data/raw/<file>
        models: studies/<study>/models      # the analyze stage's dependency
        <group>: {...}                      # overrides of the study's settings

A wave's effective settings are, group by group, the schema's defaults
(lavaan's and the library's own defaults, never another study's), updated
by its study's ``settings`` and then by the wave's own groups.  Unknown keys
are rejected with their path (``waves.cs2019.sem.likelyhood``), and wrong
types and values name the path too; :func:`validate_params` runs before any
expensive step (the stage entry points call it first).

The schema is data: :data:`GROUPS` maps each settings group to its fields
``{key: Field}``.  A field's ``kind`` is one of ``str``, ``int``, ``float``,
``bool``, ``path``, ``list``, ``map`` or ``any``; ``choices`` lists allowed
values; ``nullable`` allows ``null``.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Mapping

__all__ = ["Field", "GROUPS", "WAVE_KEYS", "STUDY_KEYS", "SettingsError", "validate_params",
           "wave_settings", "defaults", "ANALYSES"]


class SettingsError(ValueError):
    """A ``params.yaml`` entry breaks the settings schema (the message names its path)."""


@dataclass(frozen=True)
class Field:
    kind: str
    default: Any = None
    choices: tuple = ()
    nullable: bool = False
    doc: str = ""
    fields: Mapping[str, "Field"] | None = None   # for kind="map" with fixed keys
    item: "Field | None" = None                   # for kind="list" (and "map" values)


def F(kind: str, default: Any = None, **kw: Any) -> Field:
    return Field(kind, default, **kw)


#: The analysis families a wave may run, in report order.  ``org`` and
#: ``citizens`` are the 2020 thesis waves' own section families
#: (:mod:`pipeline.workflow.org`).
#: ``estimators`` ... ``invariance`` are the SEM diagnostics of
#: :mod:`pipeline.workflow.sem_sections`.
ANALYSES = ("screening", "demographics", "descriptives", "reliability", "validity",
            "method_bias", "efa", "cfa", "diagnostics", "invariance", "structural", "estimators",
            "alternatives", "bootstrap", "hypotheses", "power", "groups", "diagram", "org",
            "citizens", "replication")
DEFAULT_ANALYSES = ["screening", "demographics", "descriptives", "reliability", "validity",
                    "method_bias", "efa", "cfa", "diagnostics", "invariance", "structural",
                    "estimators", "alternatives", "bootstrap", "hypotheses", "power", "groups",
                    "diagram", "replication"]
_ESTIMATORS = ("ML", "MLM", "MLR", "WLSMV", "DWLS", "ULS", "ULSMV")

_THRESHOLD = Field("map", fields={"op": F("str", ">", choices=(">", "<", ">=", "<=")),
                                  "value": F("float", 0.0)})

GROUPS: dict[str, dict[str, Field]] = {
    # pipeline.data.screening.DEFAULTS (the screening module's own defaults)
    "screening": {
        "missing_threshold": F("float", 0.20, doc="reject a respondent missing this share"),
        "missing_scope": F("str", "questions", choices=("questions", "likert")),
        "straightline_sections": F("list", [], item=F("str")),
        "straightline_min_items": F("int", 5),
        "max_run_length": F("int", None, nullable=True),
        "exclude_long_runs": F("bool", False),
        "out_of_range": F("str", "exclude", choices=("exclude", "error")),
        "drop_duplicates": F("bool", True),
        "mahalanobis_alpha": F("float", 0.001),
        "drop_mahalanobis": F("bool", False),
        "response_time_column": F("str", "duration", nullable=True),
        "min_response_time": F("float", None, nullable=True),
        "group_column": F("str", None, nullable=True),
    },
    "loading": {"encoding": F("str", None, nullable=True)},
    "privacy": {"k": F("int", 5, doc="small-cell suppression threshold"),
                "pseudonym_key_file": F("path", None, nullable=True,
                                        doc="file holding the key of respondent-id pseudonyms")},
    "descriptives": {"construct_min_share": F("float", 1.0)},
    # psych::alpha / omega defaults
    "reliability": {
        "missing": F("str", "pairwise", choices=("pairwise", "listwise")),
        "ci_level": F("float", 0.95),
        "omega_factors": F("int", 1),
        "alpha_threshold": F("float", 0.7),
        "scales": F("str", "codebook", choices=("codebook", "model"),
                    doc="scales of alpha/omega: the codebook's constructs or the CFA's factors"),
    },
    # psych::fa defaults (minres, oblimin), fa.parallel
    "efa": {
        "missing": F("str", "pairwise", choices=("pairwise", "listwise")),
        "n_factors": F("any", "parallel", doc="an integer, parallel or kaiser"),
        "method": F("str", "minres", choices=("minres", "ml", "pa")),
        "rotation": F("str", "oblimin", choices=("oblimin", "varimax", "promax", "none")),
        "parallel_iter": F("int", 20),
        "seed": F("int", 1),
    },
    # lavaan's defaults: normal likelihood, listwise deletion
    "sem": {
        "model": F("path", None, nullable=True, doc="structural model (lavaan syntax)"),
        "cfa_model": F("path", None, nullable=True, doc="measurement model"),
        "likelihood": F("str", "normal", choices=("normal", "wishart")),
        "missing": F("str", "listwise", choices=("listwise", "fiml")),
        "thresholds": F("map", {}, item=_THRESHOLD),
        # the estimator comparison (pipeline.workflow.sem_sections)
        "compare_estimators": F("list", ["ML", "MLR", "WLSMV"], item=F("str", choices=_ESTIMATORS),
                                doc="estimators fitted side by side; fewer than two: no section"),
        "ordered": F("any", "likert", doc="items WLSMV declares ordered: likert (the codebook's "
                     "Likert items), all, a list, or null"),
        "alternative_models": F("map", {}, item=F("path"),
                                doc="{name: .lav file} compared with the model (besides the "
                                    "mediation variants derived from its regressions)"),
    },
    # SEM diagnostics (pipeline.workflow.sem_sections)
    "diagnostics": {
        "mi_top": F("int", 10, doc="modification indices shown"),
        "residuals_top": F("int", 10, doc="largest standardized residuals shown"),
        "harman_threshold": F("float", 0.50, doc="Harman's rule: one factor above this share"),
        "ave_min": F("float", 0.50),
        "cr_min": F("float", 0.70),
        "htmt_max": F("list", [0.85, 0.90], item=F("float")),
    },
    # the power note of the hypotheses not supported (pipeline.sem.power)
    "power": {
        "reps": F("int", 200, doc="Monte Carlo replications per N (0: no power section)"),
        "n": F("list", None, nullable=True, item=F("int"),
               doc="sample sizes; null = N, 2N, 4N, 8N and each analytic N"),
        "target": F("float", 0.80),
        "seed": F("int", 1),
        "max_n": F("int", 20000, doc="largest analytic N added to the grid"),
        "workers": F("int", 1, nullable=True,
                     doc="local processes (null: all cores); a few hundred fits do not pay "
                         "for a process pool"),
    },
    # measurement invariance across a grouping column (pipeline.sem.invariance)
    "invariance": {
        "group": F("str", None, nullable=True, doc="grouping column; null = groups.column"),
        "model": F("path", None, nullable=True, doc="model; null = sem.cfa_model"),
        "estimator": F("str", "ML", choices=_ESTIMATORS),
        "ordered": F("any", None, doc="likert, all, a list or null (continuous)"),
        "decision_rule": F("str", "chen_2007",
                           choices=("chen_2007", "cheung_rensvold_2002", "chisq")),
        "alpha": F("float", 0.05),
        "partial": F("bool", True),
        "max_free": F("int", 5),
        "steps": F("list", None, nullable=True, item=F("str")),
    },
    # lavaan: bootstrap = 1000 when se = "bootstrap"; run only where needed
    "bootstrap": {
        "B": F("int", 1000),
        "seed": F("int", 1, nullable=True),
        "level": F("float", 0.95),
        "drop_inadmissible": F("bool", False),
        "workers": F("int", None, nullable=True),
        "scheduler": F("str", None, nullable=True),
    },
    # hypotheses: a file (inside the wave's models folder) or the spec inline
    "hypotheses": {
        "file": F("path", None, nullable=True),
        "alpha": F("float", 0.05),
        "correction": F("str", None, nullable=True,
                        choices=("bonferroni", "holm", "sidak", "holm-sidak", "simes-hochberg",
                                 "hommel", "fdr_bh", "fdr_by")),
        "tests": F("list", [], item=F("map")),
    },
    # the demographics table: categorical variables crossed with a group
    "demographics": {
        "by": F("str", None, nullable=True, doc="column the table is split by"),
        "variables": F("map", None, nullable=True,
                       doc="{name: {variable, codes: {slug: code}}}; null = every categorical"),
        "key_prefix": F("str", None, nullable=True, doc="scorecard key prefix (default <wave>.demographics)"),
    },
    # the two-group comparison (item by item, construct scores, CFA per group)
    "groups": {
        "column": F("str", None, nullable=True),
        "adjust": F("str", "holm"),
        "alpha": F("float", 0.05),
    },
    # report layout: title, section titles and table captions
    "report": {
        "file": F("path", None, nullable=True),
        "title": F("str", None, nullable=True),
        "sections": F("map", {}, item=F("map")),
        "captions": F("map", {}, item=F("str")),
    },
    # the 2020 thesis waves' comparison (pipeline.workflow.org); free-form values
    "comparison": {k: F("any", None, nullable=True) for k in (
        "groups", "adjust", "alpha", "chisq", "simulate", "B", "seed", "top_codes",
        "positive_codes", "scope_units", "cfa_model", "cfa_likelihood", "cfa_missing",
        "fit_thresholds")},
}

#: Keys of a wave entry besides the settings groups.
WAVE_KEYS: dict[str, Field] = {
    "study": F("str", None),
    "codebook": F("path", None),
    "raw": F("path", None),
    "synthetic": F("bool", False),
    "distributed": F("int", None, nullable=True),
    "models": F("path", None),
    "published": F("path", None, nullable=True),
    "analyses": F("list", DEFAULT_ANALYSES, item=F("str", choices=ANALYSES)),
}
_WAVE_REQUIRED = ("study", "codebook", "raw", "models")

STUDY_KEYS: dict[str, Field] = {
    "title": F("str", None, nullable=True),
    "settings": F("map", {}),
    "stages": F("map", {}),
}

_TOP = {"studies", "waves"}

_HYP_KEYS = {"id": F("str"), "statement": F("str", ""), "effect": F("any"),
             "compare": F("list", None, nullable=True), "all_of": F("list", None, nullable=True),
             "test": F("str", "wald", choices=("wald", "bootstrap")),
             "direction": F("str", "positive", choices=("positive", "negative", "nonzero")),
             "alpha": F("float", None, nullable=True), "factor": F("str", None, nullable=True),
             "interval": F("str", "percentile", choices=("percentile", "bc"))}


def defaults() -> dict[str, dict[str, Any]]:
    """Every settings group with its default values (a fresh copy)."""
    return {g: {k: copy.deepcopy(f.default) for k, f in spec.items()} for g, spec in GROUPS.items()}


# ------------------------------------------------------------------ checks
def _check_value(path: str, value: Any, f: Field) -> None:
    if value is None:
        if f.nullable or f.kind == "any":
            return
        raise SettingsError(f"{path}: must not be null")
    k = f.kind
    ok = {
        "str": lambda v: isinstance(v, str),
        "path": lambda v: isinstance(v, str) and bool(v.strip()),
        "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        "bool": lambda v: isinstance(v, bool),
        "list": lambda v: isinstance(v, list),
        "map": lambda v: isinstance(v, Mapping),
        "any": lambda v: True,
    }[k](value)
    if not ok:
        raise SettingsError(f"{path}: must be {k}, got {type(value).__name__} {value!r}")
    if f.choices and k != "list" and value not in f.choices:
        raise SettingsError(f"{path}: {value!r} is not one of {list(f.choices)}")
    if k == "list" and f.item is not None:
        for i, v in enumerate(value):
            _check_value(f"{path}[{i}]", v, f.item)
    if k == "map":
        if f.fields is not None:
            _check_map(path, value, f.fields)
        elif f.item is not None:
            for key, v in value.items():
                _check_value(f"{path}.{key}", v, f.item)


def _check_map(path: str, value: Mapping[str, Any], fields: Mapping[str, Field]) -> None:
    if not isinstance(value, Mapping):
        raise SettingsError(f"{path}: must be a mapping, got {type(value).__name__}")
    for key, v in value.items():
        if key not in fields:
            raise SettingsError(f"{path}.{key}: unknown key; allowed: {sorted(fields)}")
        _check_value(f"{path}.{key}", v, fields[key])


def check_group(path: str, group: str, value: Any) -> None:
    """Validate one settings group (``value`` may be a path string for hypotheses/report)."""
    if group not in GROUPS:
        raise SettingsError(f"{path}: unknown settings group; allowed: {sorted(GROUPS)}")
    if group in ("hypotheses", "report") and isinstance(value, str):
        return  # a file, checked when read
    if group == "hypotheses" and isinstance(value, list):
        value = {"tests": value}          # a bare list of tests
    if value is None:
        return
    _check_map(path, value, GROUPS[group])
    if group == "hypotheses":
        check_hypotheses(path, value)


def check_hypotheses(path: str, spec: Mapping[str, Any]) -> None:
    """Each test: an id, one of effect / compare / all_of, a known test and direction."""
    seen = set()
    for i, t in enumerate(spec.get("tests") or []):
        where = f"{path}.tests[{i}]"
        _check_map(where, t, _HYP_KEYS)
        if "id" not in t:
            raise SettingsError(f"{where}: missing key 'id'")
        if t["id"] in seen:
            raise SettingsError(f"{where}.id: duplicate id {t['id']!r}")
        seen.add(t["id"])
        given = [k for k in ("effect", "compare", "all_of") if t.get(k) is not None]
        if len(given) != 1:
            raise SettingsError(f"{where}: give exactly one of effect, compare, all_of "
                                f"(found {given or 'none'})")
        if t.get("compare") is not None and len(t["compare"]) != 2:
            raise SettingsError(f"{where}.compare: must name two effects [a, b] (tests a - b)")
        if t.get("all_of") is not None and t.get("test", "wald") != "bootstrap":
            raise SettingsError(f"{where}.all_of: needs test: bootstrap")


def validate_params(params: Mapping[str, Any], *, root: Any = None) -> None:
    """Check the whole ``params.yaml`` (both registries) against the schema.

    Raises
    ------
    SettingsError
        Naming the path of the first bad entry, e.g.
        ``waves.cs2019.sem.likelyhood: unknown key``.
    """
    if not isinstance(params, Mapping):
        raise SettingsError("params.yaml: the top level must be a mapping")
    extra = set(params) - _TOP
    if extra:
        raise SettingsError(f"{sorted(extra)[0]}: unknown top-level key; allowed: {sorted(_TOP)} "
                            "(study-specific groups go under studies.<study>.settings or .stages)")
    studies = params.get("studies") or {}
    if not isinstance(studies, Mapping):
        raise SettingsError("studies: must be a mapping study -> settings")
    for s, spec in studies.items():
        _check_map(f"studies.{s}", spec or {}, STUDY_KEYS)
        if not isinstance((spec or {}).get("settings"), Mapping):
            raise SettingsError(f"studies.{s}.settings: required, a mapping (may be {{}}): "
                                "dvc.yaml's stages depend on it")
        for g, v in ((spec or {}).get("settings") or {}).items():
            check_group(f"studies.{s}.settings.{g}", g, v)
    waves = params.get("waves") or {}
    if not isinstance(waves, Mapping):
        raise SettingsError("waves: must be a mapping wave -> settings")
    for w, spec in waves.items():
        where = f"waves.{w}"
        if not isinstance(spec, Mapping):
            raise SettingsError(f"{where}: must be a mapping")
        for key, v in spec.items():
            if key in WAVE_KEYS:
                _check_value(f"{where}.{key}", v, WAVE_KEYS[key])
            elif key in GROUPS:
                check_group(f"{where}.{key}", key, v)
            else:
                raise SettingsError(f"{where}.{key}: unknown key; allowed: "
                                    f"{sorted(WAVE_KEYS)} and the settings groups {sorted(GROUPS)}")
        for key in _WAVE_REQUIRED:
            if spec.get(key) is None:
                raise SettingsError(f"{where}.{key}: required")
        if spec["study"] not in studies:
            raise SettingsError(f"{where}.study: {spec['study']!r} is not listed under studies "
                                f"({sorted(studies)})")


def wave_settings(params: Mapping[str, Any], wave: str) -> dict[str, Any]:
    """The effective settings of *wave*: defaults < study settings < wave groups.

    Returns a dict with every wave key (``study``, ``codebook`` ...) and every
    settings group complete.
    """
    validate_params(params)
    waves = params.get("waves") or {}
    if wave not in waves:
        raise SettingsError(f"wave={wave!r} is not listed in params.yaml; known waves: "
                            f"{sorted(waves)}")
    spec = waves[wave]
    study = (params.get("studies") or {}).get(spec["study"]) or {}
    out: dict[str, Any] = {k: copy.deepcopy(spec.get(k, f.default)) for k, f in WAVE_KEYS.items()}
    out["wave"] = wave
    out["study_title"] = study.get("title")
    groups = defaults()
    for layer in ((study.get("settings") or {}), spec):
        for g in GROUPS:
            v = layer.get(g)
            if v is None:
                continue
            if isinstance(v, str):          # hypotheses / report given as a file
                groups[g]["file"] = v
            elif isinstance(v, list):       # hypotheses given as a bare list of tests
                groups[g]["tests"] = copy.deepcopy(v)
            else:
                groups[g].update(copy.deepcopy(dict(v)))
    out.update(groups)
    return out
