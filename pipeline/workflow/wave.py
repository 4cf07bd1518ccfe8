"""Any study, wave by wave: preparation, analyses and report sections.

This module orchestrates the analysis modules for the DVC stages
(:mod:`pipeline.cli.stage`) and renders the stored results for the one
generic report notebook.  Everything a wave does comes from its settings
(:func:`pipeline.cli.config.wave_settings`, schema in
:mod:`pipeline.cli.schema`): codebook, models, estimator options, bootstrap,
hypotheses (data, decided by :mod:`pipeline.sem.hypotheses`) and the report
layout (title, section titles, table captions).  It computes nothing itself
that belongs to an analysis family.

Stages
------
``prepare_wave(wave)``
    raw file -> codebook validation -> screening -> free-text redaction ->
    ``data/processed/<wave>/prepared/``.
``analyze_wave(wave)``
    prepared data -> the sections listed in the wave's ``analyses``, stored
    under ``data/processed/<wave>/results/<section>/`` plus ``sections.json``
    (the sections with something to show, in order), ``info.json`` and
    ``computed.json`` (values the replication scorecard compares with
    published ones).  Sections with nothing to show are left out.

Reverse keys mean one thing everywhere: the codebook's reverse-keyed items
are recoded once (``min + max - x``) and the EFA, CFA and SEM use that keyed
data; alpha, omega and scale scores reverse the same items internally, so
CR/AVE and alpha agree in direction.
"""
from __future__ import annotations

import json
import os
import shutil
from functools import cached_property
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from pipeline.cli import config
from pipeline.core import paths
from pipeline.core.io import read_yaml, write_csv, write_json

__all__ = ["WaveReport", "prepare_wave", "analyze_wave", "prepared_dir", "results_dir",
           "load_prepared", "fit_table", "paths_table", "FIT_ROWS", "SECTION_TITLES",
           "wave_codebook", "report_spec", "hypotheses_spec", "check_wave"]

#: Default section titles; a study's report spec (``report.sections.<key>.title``) overrides them.
SECTION_TITLES: dict[str, str] = {
    "screening": "Screening",
    "demographics": "Demographics",
    "descriptives": "Descriptive statistics",
    "reliability": "Reliability and validity",
    "efa": "Exploratory factor analysis",
    "cfa": "CFA fit",
    "structural": "Structural model",
    "hypotheses": "Hypotheses",
    "groups": "Group comparison",
    "diagram": "Path diagram",
    "replication": "Replication of the published numbers",
    "provenance": "Methods and provenance",
    # the 2020 thesis waves' own sections (pipeline.workflow.org)
    "profile": "Respondent profile",
    "distributions": "Response distributions",
    "comparison": "Group comparison, item by item",
    "frequencies": "Frequencies",
    "freetext": "Free-text answers",
}


def prepared_dir(wave: str) -> Path:
    return paths.wave_dir(wave) / "prepared"


def results_dir(wave: str) -> Path:
    return paths.wave_dir(wave) / "results"


# ------------------------------------------------------------------ settings
def _read_spec_file(path: str, where: str, group: str) -> dict[str, Any]:
    from pipeline.cli.schema import SettingsError, check_group
    p = paths.resolve(path)
    if not p.is_file():
        raise SettingsError(f"{where}.file: {path} does not exist")
    raw = read_yaml(p) or {}
    if not isinstance(raw, dict):
        raise SettingsError(f"{path}: the top level must be a mapping")
    check_group(str(path), group, raw)
    return raw


def report_spec(ws: dict[str, Any]) -> dict[str, Any]:
    """The wave's report layout: ``title``, ``sections`` ({key: {title, ...}}), ``captions``."""
    spec = dict(ws["report"])
    f = spec.pop("file", None)
    if f:
        spec = {**_read_spec_file(f, f"waves.{ws['wave']}.report", "report"),
                **{k: v for k, v in spec.items() if v not in (None, {}, [])}}
    spec.setdefault("sections", {})
    spec.setdefault("captions", {})
    return spec


def hypotheses_spec(ws: dict[str, Any]) -> dict[str, Any]:
    """The wave's hypotheses (``alpha``, ``correction``, ``tests``), from its file or inline."""
    spec = dict(ws["hypotheses"])
    f = spec.pop("file", None)
    if f:
        loaded = _read_spec_file(f, f"waves.{ws['wave']}.hypotheses", "hypotheses")
        spec = {"alpha": spec.get("alpha", 0.05), "correction": spec.get("correction"),
                **loaded}
    spec.setdefault("tests", [])
    return spec


def wave_codebook(ws: dict[str, Any]) -> Any:
    from pipeline.data.codebook import load_codebook
    return load_codebook(paths.resolve(ws["codebook"]))


def _inside(path: str, folder: str) -> bool:
    try:
        paths.resolve(path).resolve().relative_to(paths.resolve(folder).resolve())
        return True
    except ValueError:
        return False


def check_wave(wave: str) -> dict[str, Any]:
    """Validate everything the wave's analyze stage will read, before any computation.

    The settings (schema), the codebook, the model files (which must lie in
    the wave's ``models`` folder, the stage's DVC dependency), the report
    spec and the hypotheses (each test's effect named by the model).
    Returns the wave's settings.
    """
    from pipeline.cli.schema import SettingsError
    ws = config.wave_settings(wave)
    cb = wave_codebook(ws)
    where = f"waves.{wave}"
    for key in ("model", "cfa_model"):
        f = ws["sem"].get(key)
        if f is None:
            continue
        if not paths.resolve(f).is_file():
            raise SettingsError(f"{where}.sem.{key}: {f} does not exist")
        if not _inside(f, ws["models"]):
            raise SettingsError(f"{where}.sem.{key}: {f} lies outside the wave's models folder "
                                f"{ws['models']} (DVC would not rerun the wave when it changes)")
    for group in ("report", "hypotheses"):
        f = ws[group].get("file")
        if f and not _inside(f, ws["models"]):
            raise SettingsError(f"{where}.{group}: {f} lies outside the wave's models folder "
                                f"{ws['models']}")
    if ws.get("published") and not paths.resolve(ws["published"]).is_dir():
        raise SettingsError(f"{where}.published: {ws['published']} is not a folder")
    report_spec(ws)
    spec = hypotheses_spec(ws)
    if spec["tests"]:
        if not ws["sem"].get("model"):
            raise SettingsError(f"{where}.hypotheses: tests need a structural model (sem.model)")
        from pipeline.sem.syntax import parse_model
        text = paths.resolve(ws["sem"]["model"]).read_text(encoding="utf-8")
        parsed = parse_model(text)
        names = _model_names(parsed)
        for i, t in enumerate(spec["tests"]):
            for name in ([t["effect"]] if t.get("effect") is not None else []) + \
                    list(t.get("compare") or []) + list(t.get("all_of") or []):
                if str(name) not in names and "~" not in str(name):
                    raise SettingsError(f"{where}.hypotheses.tests[{i}] ({t['id']}): the model "
                                        f"{ws['sem']['model']} defines no effect or label "
                                        f"{name!r}; known: {sorted(names)}")
    group = ws["groups"].get("column")
    if group and group not in cb:
        raise SettingsError(f"{where}.groups.column: {group!r} is not a codebook variable")
    _check_demographics(ws, cb, where)
    return ws


def _check_demographics(ws: dict[str, Any], cb: Any, where: str) -> None:
    """Every variable (and code) the demographics spec names exists in the codebook.

    A misspelt name used to be skipped silently, leaving a whole block of a
    published table empty; now the stage fails naming it.
    """
    from pipeline.cli.schema import SettingsError
    spec = ws.get("demographics") or {}
    by = spec.get("by")
    if by is not None and by not in cb:
        raise SettingsError(f"{where}.demographics.by: {by!r} is not a codebook variable")
    for name, v in (spec.get("variables") or {}).items():
        var = (v or {}).get("variable", name)
        if var not in cb:
            raise SettingsError(f"{where}.demographics.variables.{name}.variable: {var!r} is not a "
                                f"codebook variable of {ws['codebook']}")
        known = cb.variables[var].codes or {}
        bad = [c for c in ((v or {}).get("codes") or {}).values() if known and c not in known]
        if bad:
            raise SettingsError(f"{where}.demographics.variables.{name}.codes: {bad} are not codes "
                                f"of {var!r} ({sorted(known)})")


def _model_names(parsed: Any) -> set[str]:
    """Labels and ``:=`` names a parsed model defines."""
    names = {name for name, _ in parsed.definitions}
    for f in parsed.formulas:
        for t in f.terms:
            if getattr(t, "label", ""):
                names.add(t.label)
    return names


# ------------------------------------------------------------------ report
class WaveReport:
    """What the report notebook calls: a title, a header (with the synthetic banner), sections."""

    def __init__(self, wave: str, out_dir: str | os.PathLike = ".") -> None:
        self.wave = wave
        self.out_dir = Path(out_dir)
        self.results = results_dir(wave)
        self.info = json.loads((self.results / "info.json").read_text(encoding="utf-8")) \
            if (self.results / "info.json").exists() else {}

    @property
    def title(self) -> str:
        return str(self.info.get("title") or self.wave)

    def sections(self) -> list[tuple[str, str]]:
        """(key, title) of every section with something to show, in report order."""
        f = self.results / "sections.json"
        return [tuple(x) for x in json.loads(f.read_text(encoding="utf-8"))] if f.exists() else []

    def header_html(self) -> str:
        """The synthetic banner (if any) and the wave's facts, every text escaped."""
        from pipeline.reporting.escape import html as esc
        from pipeline.reporting.report import synthetic_banner, wave_is_synthetic

        meta = wave_is_synthetic(self.info["raw file"]) if self.info.get("synthetic") else None
        rows = "".join(f"<tr><th style='text-align:left'>{esc(k)}</th><td>{esc(v)}</td></tr>"
                       for k, v in self.info.items() if k not in ("title", "synthetic"))
        return synthetic_banner(meta) + f'<table class="header">{rows}</table>'

    def header(self) -> None:
        from IPython.display import HTML, display

        from pipeline.reporting.escape import html as esc
        display(HTML(f"<h1>{esc(self.title)}</h1>"))
        display(HTML(self.header_html()))

    def section_html(self, key: str) -> str:
        """One section's HTML; tables and figures numbered on from the previous sections."""
        from pipeline.reporting.report import SectionReader
        reader = SectionReader(self.results, key)
        out = reader.render(self.out_dir, first_table=self._tables + 1,
                            first_figure=self._figures + 1)
        self._tables += reader.n_tables
        self._figures += reader.n_figures
        return out

    _tables = 0
    _figures = 0

    def show(self, key: str) -> None:
        from IPython.display import HTML, display
        display(HTML(self.section_html(key)))

    def show_all(self) -> None:
        """Every section with something to show, each under its own heading."""
        from IPython.display import HTML, display

        from pipeline.reporting.escape import html as esc
        self._tables = self._figures = 0
        for key, title in self.sections():
            display(HTML(f"<h2>{esc(title)}</h2>"))
            display(HTML(self.section_html(key)))

    def write_docx(self) -> Path:
        """The wave's ``report.docx`` (every section, APA tables and figures numbered
        as in the HTML) into the report directory (:func:`pipeline.reporting.docx.sections_to_docx`)."""
        from pipeline.reporting.docx import sections_to_docx
        from pipeline.reporting.report import synthetic_banner, wave_is_synthetic
        meta = wave_is_synthetic(self.info["raw file"]) if self.info.get("synthetic") else None
        secs = self.sections()
        return sections_to_docx(self.results, [k for k, _ in secs], self.out_dir / "report.docx",
                                title=self.title, banner=synthetic_banner(meta) or None,
                                titles=dict(secs))


class _Section:
    """A :class:`SectionWriter` titled from the report spec; left out when empty."""

    def __init__(self, ctx: "_Context", key: str) -> None:
        from pipeline.reporting.report import SectionWriter
        self.ctx, self.key = ctx, key
        spec = ctx.report["sections"].get(key) or {}
        self.title = spec.get("title") or SECTION_TITLES.get(key, key)
        self.w = SectionWriter(ctx.results, key, self.title, k=getattr(ctx, "k", None))

    def caption(self, name: str, default: str) -> str:
        return self.ctx.report["captions"].get(f"{self.key}.{name}", default)

    def table(self, name: str, df: pd.DataFrame, *, caption: str = "", **kw: Any) -> None:
        self.w.table(name, df, caption=self.caption(name, caption), **kw)

    def figure(self, name: str, fig: Any, *, caption: str = "") -> None:
        self.w.figure(name, fig, caption=self.caption(name, caption))

    def text(self, markdown: str) -> None:
        self.w.text(markdown)

    def warning(self, message: str) -> None:
        self.w.warning(message)

    def close(self) -> None:
        if any(i["kind"] in ("table", "figure") for i in self.w.items):
            self.w.close()
            self.ctx.written.append((self.key, self.title))
        elif self.w.dir.exists():
            shutil.rmtree(self.w.dir)


class _Captured:
    """Collect the project's warnings raised inside a block (shown in the report).

    The one warning-capture helper of the workflow (:mod:`pipeline.workflow.org`
    uses it too): each project warning is kept once, as ``"<Class>: <message>"``;
    other warnings (a library's) are re-emitted unchanged.
    """

    def __enter__(self) -> list[str]:
        import warnings

        from pipeline.core.exceptions import PipelineWarning
        self._cm = warnings.catch_warnings(record=True)
        self._log = self._cm.__enter__()
        warnings.simplefilter("always", PipelineWarning)
        self.messages: list[str] = []
        return self.messages

    def __exit__(self, *exc: Any) -> None:
        import warnings

        from pipeline.core.exceptions import PipelineWarning
        others = []
        for w in self._log:
            if issubclass(w.category, PipelineWarning):
                msg = f"{w.category.__name__}: {w.message}"
                if msg not in self.messages:
                    self.messages.append(msg)
            else:
                others.append(w)
        self._cm.__exit__(*exc)
        for w in others:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def warning_text(message: str) -> str:
    """A warning's text without its ``<Class>:`` prefix (how duplicates are recognised)."""
    import re
    return re.sub(r"^[A-Za-z]*Warning: ", "", str(message).strip())


def merge_warnings(*groups: Any) -> list[str]:
    """The warnings of several lists, each once, in order.

    A result's own ``warnings`` list repeats, without the class name, what
    :class:`_Captured` caught as ``"<Class>: <message>"``: the captured form
    is kept and the repetition dropped (the 2019 report printed each twice).
    """
    out: list[str] = []
    seen: set[str] = set()
    for g in groups:
        for m in g or []:
            key = warning_text(m)
            if key not in seen:
                seen.add(key)
                out.append(str(m))
    return out


# ------------------------------------------------------------------ prepare
def prepare_wave(wave: str) -> Path:
    """Load, validate, screen and redact one wave into ``data/processed/<wave>/prepared``.

    Writes ``clean.csv`` (screened and redacted), ``screening_report.csv``,
    ``exclusion_log.csv``, ``screening.json`` (funnel, reasons, raw N and
    clean N), ``load_log.csv`` (every recoding the loader made) and
    ``redaction.csv`` (PII replaced, per column and kind).  The directory
    appears atomically.
    """
    from pipeline.core.io import atomic_dir
    from pipeline.data.loading import read_raw
    from pipeline.data.privacy import pseudonymize_ids, redact_wave
    from pipeline.data.screening import screen

    ws = config.wave_settings(wave)
    cb = wave_codebook(ws)
    raw = paths.resolve(ws["raw"])
    lr = read_raw(raw, cb, encoding=ws["loading"].get("encoding"))
    # ids that are personal data (e-mail, IIN) -> keyed pseudonyms ($PIPELINE_PSEUDONYM_KEY)
    lr.data, _ = pseudonymize_ids(lr.data, cb.id_column)
    with _Captured() as warned:
        rules = dict(ws["screening"])
        scr = screen(lr.data, cb, rules,
                     distributed=ws.get("distributed"), rows=lr.rows,
                     recodings=lr.log_frame(), file=str(ws["raw"]))
    clean, redaction = redact_wave(scr.clean, cb)
    scr.clean = clean
    scr.warnings = merge_warnings(warned, scr.warnings)
    with atomic_dir(prepared_dir(wave)) as tmp:
        scr.write(tmp)
        write_csv(tmp / "load_log.csv", lr.log_frame(), index=False)
        write_csv(tmp / "redaction.csv", redaction)
        # the file as the settings name it (relative to the project), never an absolute path
        write_json(tmp / "load.json", lr.to_dict() | {"file": str(ws["raw"]), "raw": str(ws["raw"])})
    return prepared_dir(wave)


def load_prepared(wave: str) -> pd.DataFrame:
    """The screened, redacted data of a wave (as written by :func:`prepare_wave`)."""
    cb = wave_codebook(config.wave_settings(wave))
    text = {n: str for n, v in cb.variables.items() if v.type in ("text", "multi", "id")}
    text |= {n: str for n, v in cb.variables.items()
             if v.codes and not all(isinstance(c, int) for c in v.codes)}
    path = prepared_dir(wave) / "clean.csv"
    df = pd.read_csv(path, dtype=text, keep_default_na=True)
    import pandera.errors

    from pipeline.core.exceptions import DataValidationError
    try:
        # the stage boundary: what analyze reads is still what the codebook promises
        cb.schema(columns=df.columns).validate(df, lazy=True)
    except pandera.errors.SchemaErrors as exc:
        fc = exc.failure_cases
        cols = sorted(set(map(str, fc["column"].dropna())))
        rows = sorted({int(i) + 2 for i in fc["index"].dropna()})
        raise DataValidationError(f"prepared data break the codebook {cb.name!r} "
                                  f"({len(fc)} failing cell(s))", file=str(path),
                                  columns=cols, rows=rows) from None
    return df


# ------------------------------------------------------------------ analyze
class _Context:
    """Everything one wave's analyses share; fits are computed once, on demand."""

    def __init__(self, wave: str, ws: dict[str, Any], cb: Any, data: pd.DataFrame,
                 results: Path) -> None:
        self.wave, self.ws, self.cb, self.data, self.results = wave, ws, cb, data, results
        self.report = report_spec(ws)
        self.hypotheses = hypotheses_spec(ws)
        self.computed: dict[str, Any] = {}
        self.written: list[tuple[str, str]] = []
        self.k = int(ws["privacy"]["k"])

    def section(self, key: str) -> _Section:
        return _Section(self, key)

    @cached_property
    def items(self) -> list[str]:
        """Scale items: every item of a construct, plus the other Likert items."""
        cons = [n for n, v in self.cb.variables.items() if v.construct and n in self.data]
        lik = [n for n in self.cb.likert_items if n in self.data and n not in cons]
        return cons + lik

    @cached_property
    def constructs(self) -> dict[str, list[str]]:
        """Scales of two or more items: the codebook's constructs, or (``reliability.scales:
        model``) the factors of the measurement model."""
        cons = dict(self.cb.constructs)
        f = self.ws["sem"].get("cfa_model")
        if self.ws["reliability"]["scales"] == "model" and f:
            from pipeline.sem.syntax import parse_model
            parsed = parse_model(paths.resolve(f).read_text(encoding="utf-8"))
            cons = {}
            for fo in parsed.formulas:
                if fo.op == "=~":
                    cons.setdefault(fo.lhs, []).extend(t.name for t in fo.terms)
        return {k: [i for i in v if i in self.data] for k, v in cons.items()
                if len([i for i in v if i in self.data]) >= 2}

    @cached_property
    def keyed(self) -> pd.DataFrame:
        """The data with every reverse-keyed item recoded (what EFA, CFA and SEM use)."""
        return self.cb.apply_reverse_keying(self.data)

    def _fit(self, key: str) -> tuple[Any, list[str]] | None:
        f = self.ws["sem"].get(key)
        if not f:
            return None
        from pipeline.sem import fit
        with _Captured() as warned:
            res = fit(paths.resolve(f), self.keyed, likelihood=self.ws["sem"]["likelihood"],
                      missing=self.ws["sem"]["missing"])
            res.fit_measures()
        return res, warned

    @cached_property
    def cfa(self) -> tuple[Any, list[str]] | None:
        return self._fit("cfa_model")

    @cached_property
    def sem(self) -> tuple[Any, list[str]] | None:
        return self._fit("model")

    @cached_property
    def boot(self) -> Any:
        """The bootstrap of the structural model, run only where something uses it."""
        if self.sem is None:
            return None
        res = self.sem[0]
        bp = self.ws["bootstrap"]
        needed = bool((res.parameters.op == ":=").any()) or any(
            t.get("test") == "bootstrap" for t in self.hypotheses["tests"])
        if not needed or int(bp["B"]) <= 0:
            return None
        from pipeline.sem.bootstrap import bootstrap
        with _Captured() as warned:
            b = bootstrap(res, B=int(bp["B"]), seed=bp.get("seed"), level=float(bp["level"]),
                          drop_inadmissible=bool(bp["drop_inadmissible"]),
                          workers=bp.get("workers"), scheduler=bp.get("scheduler"),
                          progress=False, attach=False)
        self.sem[1][:] = merge_warnings(self.sem[1], warned)
        return b


def analyze_wave(wave: str) -> Path:
    """Run the wave's analyses (its ``analyses`` list) into ``data/processed/<wave>/results``."""
    from pipeline.core.io import atomic_dir
    from pipeline.reporting.report import wave_is_synthetic

    ws = check_wave(wave)          # every setting, file and hypothesis, before any fit
    cb = wave_codebook(ws)
    data = load_prepared(wave)
    with atomic_dir(results_dir(wave)) as tmp:
        ctx = _Context(wave, ws, cb, data, tmp)
        for name in ws["analyses"]:
            ANALYSES[name](ctx)
        from pipeline.workflow.provenance import provenance_section
        provenance_section(ctx)     # every report ends with its methods and provenance
        write_json(tmp / "sections.json", [list(x) for x in ctx.written])
        write_json(tmp / "computed.json", ctx.computed)
        meta = wave_is_synthetic(ws["raw"]) if ws.get("synthetic") else None
        title = ctx.report.get("title") or cb.title or wave
        write_json(tmp / "info.json", {
            "title": title, "wave": wave, "study": ws["study"], "instrument": cb.name,
            "raw file": str(ws["raw"]), "synthetic": bool(ws.get("synthetic")),
            "data": "synthetic (seed %s)" % meta.get("seed") if meta else "real",
            "respondents analysed": int(len(data)),
        })
    return results_dir(wave)


# ------------------------------------------------------------------ sections
def _screening(ctx: _Context) -> None:
    wave = ctx.wave
    summ = json.loads((prepared_dir(wave) / "screening.json").read_text(encoding="utf-8"))
    f = summ["funnel"]
    sec = ctx.section("screening")
    rows = [("distributed", f.get("distributed")), ("returned", f.get("returned")),
            ("excluded", f.get("excluded")), ("valid", f.get("valid")),
            ("response rate (valid / distributed), %",
             None if f.get("response_rate") is None else 100 * f["response_rate"])]
    funnel = pd.DataFrame(rows, columns=["step", "questionnaires"]).set_index("step")
    sec.table("funnel", funnel, caption="Screening funnel: distributed → returned → valid",
              digits=1, note=f"Raw N = {summ['n_raw']}, clean N = {summ['n_clean']}.")
    reasons = pd.Series(summ.get("reasons") or {}, name="respondents", dtype=float)
    if len(reasons):
        reasons.index.name = "rule"
        from pipeline.data.disclosure import mask_count
        reasons = reasons.map(lambda v: mask_count(v, ctx.k)).astype(object)
        sec.table("reasons", reasons.to_frame(), digits=0,
                  caption="Excluded questionnaires by rule (one questionnaire may break several)")
    else:
        sec.text("No questionnaire was excluded.")
    sec.text(f"Mahalanobis-distance outliers flagged (kept): {summ.get('flagged_outliers', 0)}. "
             "The exclusion log with respondent ids and reasons is kept in "
             f"`data/processed/{wave}/prepared/exclusion_log.csv`, not in the report.")
    rec = summ.get("recodings") or []
    miss = [r for r in rec if r.get("action") in ("declared_missing", "spss_user_missing")]
    if miss:
        t = pd.DataFrame(miss)[["column", "action", "count", "detail"]].set_index("column")
        sec.table("recodings", t, digits=0, caption="Declared missing codes turned into NaN")
    for w in summ.get("warnings") or []:
        sec.warning(w)
    sec.close()
    prefix = f"{wave}.screening"
    ctx.computed.update({f"{prefix}.distributed": f.get("distributed"),
                         f"{prefix}.returned": f.get("returned"),
                         f"{prefix}.valid": f.get("valid"),
                         f"{prefix}.rejected": f.get("excluded"),
                         f"{prefix}.response_rate": None if f.get("response_rate") is None
                         else 100 * f["response_rate"]})


def _demographics(ctx: _Context) -> None:
    """Categorical variables (counts and column %), split by ``demographics.by``, suppressed."""
    from pipeline.data.privacy import suppress_small_cells

    spec, cb, data = ctx.ws["demographics"], ctx.cb, ctx.data
    by = spec.get("by")
    if by is not None and by not in data.columns:
        from pipeline.cli.schema import SettingsError
        raise SettingsError(f"waves.{ctx.wave}.demographics.by: {by!r} is not a column of the "
                            "prepared data")
    variables = spec.get("variables")
    if variables is None:
        group_col = ctx.ws["groups"].get("column")
        variables = {n: {"variable": n, "codes": {str(c): c for c in v.codes}}
                     for n, v in cb.variables.items()
                     if v.type == "categorical" and n in data.columns and n not in (by, group_col)}
    prefix = spec.get("key_prefix") or f"{ctx.wave}.demographics"
    cols = list(cb.variables[by].codes) if by and by in cb.variables and cb.variables[by].codes \
        else ([c for c in pd.unique(data[by].dropna())] if by else ["all"])
    frame = data if by else data.assign(_all="all")
    byc = by or "_all"
    blocks, note = [], ""
    for name, v in variables.items():
        var = v["variable"]
        if var not in data.columns:
            from pipeline.cli.schema import SettingsError
            raise SettingsError(f"waves.{ctx.wave}.demographics.variables.{name}.variable: "
                                f"{var!r} is not a column of the prepared data")
        codes = v.get("codes") or {str(c): c for c in pd.unique(data[var].dropna())}
        labels = cb.variables[var].codes if var in cb.variables else {}
        ct = pd.crosstab(frame[var], frame[byc]).reindex(index=list(codes.values()), columns=cols,
                                                          fill_value=0)
        ct.index = [f"{name}: {labels.get(c, c)}" for c in ct.index]
        sup = suppress_small_cells(ct, ctx.k)
        note = sup.note
        pct = 100 * ct / ct.sum(axis=0)
        for slug, code in codes.items():
            for g in cols:
                n = int(((frame[var] == code) & (frame[byc] == g)).sum())
                tot = int((frame[byc] == g).sum())
                key = f"{prefix}.{name}.{slug}" + (f".{g}" if by else "")
                ctx.computed[key] = n
                ctx.computed[f"{key}.pct"] = 100 * n / tot if tot else None
        disp = sup.display.drop(index=sup.total_label, errors="ignore")
        shown = pd.DataFrame(index=disp.index)
        pshown = sup.apply_to(pct)
        for g in cols:
            shown[f"{g} n"] = disp[g]
            shown[f"{g} %"] = pshown[g].reindex(disp.index)
        blocks.append(shown)
    sec = ctx.section("demographics")
    if blocks:
        sec.table("table", pd.concat(blocks).fillna(""), digits=1,
                  caption="Respondents' characteristics" + (f" by {by}" if by else ""),
                  note=note)
    sec.close()


def _descriptives(ctx: _Context) -> None:
    from pipeline.psychometrics import descriptives

    cb, data, items = ctx.cb, ctx.data, ctx.items
    if not items:
        return
    codes = {i: list(cb.variables[i].codes) for i in items if cb.variables[i].codes}
    allc = [c for i in items for c in cb.variables[i].codes]
    lo, hi = (min(allc), max(allc)) if allc else (None, None)
    with _Captured() as warned:
        d = descriptives.describe(data, items, ctx.constructs, reverse=cb.reverse_keyed,
                                  codes=codes or None, min_score=lo, max_score=hi,
                                  min_share=ctx.ws["descriptives"]["construct_min_share"])
    sec = ctx.section("descriptives")
    cols = ["n", "mean", "sd", "median", "skewness", "se_skewness", "kurtosis", "se_kurtosis",
            "shapiro_w", "shapiro_p"]
    sec.text("Skewness and kurtosis are SPSS's bias-corrected G1 and G2 with SPSS's standard "
             "errors (psych::describe(type = 2)).")
    sec.table("items", d.items[[c for c in cols if c in d.items]], caption="Items")
    if len(d.constructs):
        sec.table("constructs", d.constructs[[c for c in cols if c in d.constructs]],
                  caption="Construct scores (mean of the items, reverse-keyed items reversed)")
    if len(d.mardia):
        sec.table("mardia", d.mardia, caption="Mardia's multivariate skewness and kurtosis")
    dist = d.distribution
    if len(dist):
        dist = dist[dist["item"].isin(list(codes))]    # coded items only
    if len(dist):
        # issue 14: no count 1..k-1 is printed, and no percentage gives one back
        # (pipeline.data.disclosure.distribution_display: complementary suppression)
        from pipeline.data.disclosure import distribution_display
        counts = d.distribution_counts()
        counts = counts.loc[[i for i in counts.index if i in codes]]
        counts.columns = counts.columns.astype(str)
        shown, note = distribution_display(counts, ctx.k, digits=1)
        sec.table("distribution", shown, digits=1,
                  caption="Response distribution per item: counts (n) and percentages of "
                          "all respondents (%)", note=note)
    for w in merge_warnings(warned, d.warnings):
        sec.warning(w)
    sec.close()


def _reliability(ctx: _Context) -> None:
    from pipeline.psychometrics import reliability as rel

    cb, data = ctx.cb, ctx.data
    if not ctx.constructs:
        return
    rp = ctx.ws["reliability"]
    sec = ctx.section("reliability")
    with _Captured() as warned:
        codes = [float(c) for its in ctx.constructs.values() for i in its
                 for c in (cb.variables[i].codes if i in cb.variables else {})]
        rr = rel.reliability(data, ctx.constructs, missing=rp["missing"],
                             min_score=min(codes) if codes else None,
                             max_score=max(codes) if codes else None,
                             reverse=cb.reverse_keyed, level=rp["ci_level"],
                             threshold=rp["alpha_threshold"], omega_factors=rp["omega_factors"])
        cfa = ctx.cfa
        val = rel.validity_from_sem(cfa[0]) if cfa is not None and cfa[0].admissible else None
    t = rr.to_frame()
    t.insert(0, "items", [", ".join(ctx.constructs[s]) for s in t.index])
    sec.table("alpha", t, caption="Cronbach's alpha (raw, standardized, Feldt CI) and "
              "McDonald's omega total per construct",
              note=f"missing = {rr.missing}; reverse-keyed items reversed: "
                   f"{', '.join(sorted(cb.reverse_keyed)) or 'none'}")
    sec.table("item_total", rr.item_total(), caption="Item-Total Statistics (SPSS form)")
    if val is not None:
        sec.table("cr_ave", val.table, caption="Composite reliability and AVE from the CFA "
                  "(std.all, reverse-keyed items reversed)")
        sec.table("fornell_larcker", val.fornell_larcker,
                  caption="Fornell-Larcker: sqrt(AVE) on the diagonal, latent correlations below")
        if val.htmt is not None:
            sec.table("htmt", val.htmt, caption="Heterotrait-monotrait ratio (HTMT)")
    for w in warned:
        sec.warning(w)
    sec.close()
    item_to_latent: dict[str, list[str]] = {}
    if cfa is not None:
        for r in cfa[0].parameters[cfa[0].parameters.op == "=~"].itertuples():
            item_to_latent.setdefault(r.lhs, []).append(r.rhs)
    for s, its in ctx.constructs.items():
        latent = next((lv for lv, li in item_to_latent.items() if set(li) == set(its)), s)
        ctx.computed[f"{ctx.wave}.alpha.{latent}"] = rr.scales[s].alpha


def _efa(ctx: _Context) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pipeline.psychometrics import efa as efa_mod

    items = ctx.items
    if len(items) < 3:
        return
    ep = ctx.ws["efa"]
    with _Captured() as warned:
        e = efa_mod.efa(ctx.keyed, items, n_factors=ep["n_factors"], method=ep["method"],
                        rotation=ep["rotation"], missing=ep["missing"], seed=ep["seed"],
                        n_iter=ep["parallel_iter"])
    sec = ctx.section("efa")
    b = e.bartlett or {}
    sec.table("adequacy", pd.DataFrame({"value": [e.kmo, b.get("chisq"), b.get("df"), b.get("pvalue"),
                                                  int((e.eigenvalues > 1).sum()), e.n_factors]},
                                       index=["KMO (overall MSA)", "Bartlett chi-square", "Bartlett df",
                                              "Bartlett p", "eigenvalues > 1",
                                              f"factors retained ({e.factor_rule})"]),
              caption=f"Sampling adequacy; n = {e.n}, missing = {e.missing}")
    sec.table("loadings", e.to_frame(), caption=f"{e.method} loadings, {e.rotation} rotation "
              "(reverse-keyed items reversed)")
    sec.table("variance", e.variance, caption="Variance explained")
    if e.phi is not None:
        sec.table("factor_correlations", e.phi, caption="Factor correlations")
    fig, ax = plt.subplots(figsize=(6, 4))
    x = range(1, len(e.eigenvalues) + 1)
    ax.plot(x, e.eigenvalues, "o-", label="components (observed)")
    if e.parallel is not None:
        ax.plot(x, e.parallel.pc_sim_quantile, "--", label="components (simulated, parallel analysis)")
    ax.axhline(1.0, color="grey", lw=0.8)
    ax.set_xlabel("component")
    ax.set_ylabel("eigenvalue")
    ax.legend()
    sec.figure("scree", fig, caption="Scree plot with parallel analysis")
    plt.close(fig)
    for w in merge_warnings(warned, e.warnings):
        sec.warning(w)
    sec.close()


def _cfa(ctx: _Context) -> None:
    if ctx.cfa is None:
        return
    cfa, warned = ctx.cfa
    sp = ctx.ws["sem"]
    lik = sp["likelihood"]
    fm = cfa.fit_measures()
    sec = ctx.section("cfa")
    if not cfa.admissible:
        sec.warning("The measurement model's solution is INADMISSIBLE; its fit must not be "
                    "interpreted: " + "; ".join(cfa.warnings))
    sec.table("fit", fit_table(fm, sp["thresholds"], likelihood=lik),
              caption="Model fit of the measurement model",
              note=f"N = {cfa.nobs}, likelihood = {lik}, missing = {sp['missing']}, "
                   f"model: {sp['cfa_model']}")
    sec.table("loadings", paths_table(cfa.parameters), caption="Loadings: Estimate, S.E., C.R., "
              "P and standardized (std.all)")
    for w in warned:
        sec.warning(w)
    sec.close()
    for key in ("chisq", "df", "gfi", "agfi", "rmsea", "srmr", "tli", "cfi", "ifi", "cmin_df"):
        if key in fm.index:
            ctx.computed[f"{ctx.wave}.fit.{key}"] = float(fm[key])
    # a published table may print the p-value as a verdict: 1 = p < .05
    ctx.computed[f"{ctx.wave}.fit.pvalue"] = int(float(fm["pvalue"]) < 0.05)


def _structural(ctx: _Context) -> None:
    if ctx.sem is None:
        return
    res, warned = ctx.sem
    boot = ctx.boot
    sp = ctx.ws["sem"]
    sec = ctx.section("structural")
    if not res.admissible:
        sec.warning("The structural model's solution is INADMISSIBLE; estimates are shown for "
                    "diagnosis only: " + "; ".join(res.warnings))
    sec.table("paths", paths_table(res.parameters), caption="Regression weights: Estimate, S.E., "
              "C.R., P and standardized (std.all)")
    if len(res.r2):
        sec.table("r2", res.r2.to_frame("R²"), caption="Squared multiple correlations")
    if boot is not None:
        sec.text(boot.report())
    groups = (ctx.report["sections"].get("structural") or {}).get("effects")
    bt = None if boot is None else boot.table
    if (res.parameters.op == ":=").any():
        for name, prefix in (groups or {"effects": ""}).items():
            t = _effects_table(bt, res.parameters, prefix)
            if len(t):
                sec.table(name, t, caption="Defined effects (:=): delta-method SE" +
                          (", bootstrap percentile and bias-corrected intervals"
                           if boot is not None else ""))
    sec.table("fit", fit_table(res.fit_measures(), sp["thresholds"], likelihood=sp["likelihood"]),
              caption="Fit of the structural model",
              note=f"N = {res.nobs}, likelihood = {sp['likelihood']}, missing = {sp['missing']}, "
                   f"model: {sp['model']}")
    for w in warned:
        sec.warning(w)
    sec.close()
    prm = res.parameters
    for r in prm[prm.op == "=~"].itertuples():
        base = f"{ctx.wave}.loading.{r.lhs}.{r.rhs}"
        ctx.computed[f"{base}.est"] = r.est
        if r.se > 0:
            ctx.computed[f"{base}.se"] = r.se
            ctx.computed[f"{base}.z"] = r.z
            ctx.computed[f"{base}.pvalue"] = r.pvalue


def _hypotheses(ctx: _Context) -> None:
    spec = ctx.hypotheses
    if not spec["tests"] or ctx.sem is None:
        return
    from pipeline.sem.hypotheses import hypotheses_table
    res = ctx.sem[0]
    boot = ctx.boot
    hyp = hypotheses_table(spec, res, boot)
    sec = ctx.section("hypotheses")
    bp = ctx.ws["bootstrap"]
    corr = spec.get("correction")
    sec.text(f"alpha = {spec.get('alpha', 0.05)}"
             + (f"; Wald p-values adjusted by {corr} (statsmodels)" if corr else "")
             + (f"; bootstrap B = {bp['B']}, seed = {bp.get('seed')}" if boot is not None else "")
             + f". Effects as defined in `{ctx.ws['sem']['model']}`.")
    if not res.admissible:
        sec.warning("Inadmissible fit: no hypothesis is marked supported.")
    sec.table("table", hyp, caption="Summary of the hypotheses' status")
    sec.close()
    for h in hyp.index:
        ctx.computed[f"{ctx.wave}.hypothesis.{h}"] = hyp.loc[h, "decision"]


def _groups(ctx: _Context) -> None:
    """Two groups compared: items (Mann-Whitney, Welch t, adjusted), scale scores, CFA per group."""
    gp = ctx.ws["groups"]
    col = gp.get("column")
    if not col or col not in ctx.data.columns:
        return
    from pipeline.psychometrics.comparison import compare_items
    data = ctx.data
    levels = [g for g in pd.unique(data[col].dropna())]
    sec = ctx.section("groups")
    counts = data[col].value_counts().reindex(levels).to_frame("n")
    counts.index.name = col
    sec.table("sizes", counts, digits=0, caption=f"Respondents by {col}")
    if len(levels) != 2:
        sec.warning(f"groups.column {col!r} has {len(levels)} groups; the comparison needs two")
        sec.close()
        return
    keyed = ctx.keyed
    with _Captured() as warned:
        items = [i for i in ctx.items if keyed[i].notna().any()]
        ordinal = all(ctx.cb.variables[i].codes for i in items)
        t = compare_items(keyed, items, col, groups=levels, adjust=(gp["adjust"],),
                          chisq=ordinal, welch=True)
    keep = [c for c in t.columns if c in (
        "item", "n1", "n2", "mean1", "mean2", "median1", "median2", "U", "pvalue",
        "rank_biserial", f"p_{gp['adjust']}", "t", "t_df", "t_pvalue", "mean_diff", "hedges_g",
        "g_ci_lower", "g_ci_upper", f"t_p_{gp['adjust']}")]
    sec.table("items", t[keep].set_index("item") if "item" in keep else t[keep],
              caption=f"{levels[0]} vs {levels[1]}, item by item: Mann-Whitney (rank-biserial r) "
                      f"and Welch's t (Hedges' g); p adjusted by {gp['adjust']} "
                      "(reverse-keyed items reversed)")
    if ctx.cfa is not None:
        from pipeline.sem import fit
        rows = []
        for g in levels:
            with _Captured() as w2:
                r = fit(paths.resolve(ctx.ws["sem"]["cfa_model"]), keyed[keyed[col] == g],
                        likelihood=ctx.ws["sem"]["likelihood"], missing=ctx.ws["sem"]["missing"])
                fm = r.fit_measures()
            warned.extend(w2)
            rows.append({col: g, "n": r.nobs, **{m: float(fm[m]) for m in
                                                 ("chisq", "df", "pvalue", "cfi", "tli", "rmsea",
                                                  "srmr") if m in fm.index}})
            for m in ("chisq", "cfi", "rmsea"):
                if m in fm.index:
                    ctx.computed[f"{ctx.wave}.groups.{g}.fit.{m}"] = float(fm[m])
        sec.table("cfa_by_group", pd.DataFrame(rows).set_index(col),
                  caption="The measurement model fitted in each group separately")
    for w in warned:
        sec.warning(w)
    sec.close()


def _diagram(ctx: _Context) -> None:
    """The fitted model laid out by Graphviz (:func:`pipeline.reporting.diagram.sem_path_diagram`):
    standardized coefficients with significance marks on their arrows, factor
    covariances, disturbances with R²."""
    from pipeline.reporting.diagram import sem_path_diagram
    fitted = ctx.sem or ctx.cfa
    if fitted is None:
        return
    res = fitted[0]
    sec = ctx.section("diagram")
    r2 = getattr(res, "r2", None)
    fig = sem_path_diagram(res.parameters, r2=r2 if r2 is not None and len(r2) else None,
                           title=f"{ctx.wave}: standardized estimates")
    sec.figure("path_diagram", fig, caption=("Structural model" if ctx.sem else
                                             "Measurement model") + " with standardized estimates "
               "(* p < .05, ** p < .01, *** p < .001); dashed curves: covariances; small "
               "circles: disturbances with R²")
    sec.close()


def _register_written(ctx: _Context, before: set[str]) -> None:
    """Register the sections a study-specific family wrote (titles: report spec, else its own)."""
    order = ["profile", "distributions", "frequencies", "freetext", "reliability", "comparison"]
    new = [d.name for d in ctx.results.iterdir()
           if d.is_dir() and d.name not in before and (d / "manifest.json").exists()]
    for key in sorted(new, key=lambda k: (order.index(k) if k in order else len(order), k)):
        man = json.loads((ctx.results / key / "manifest.json").read_text(encoding="utf-8"))
        title = (ctx.report["sections"].get(key) or {}).get("title") or man.get("title") or key
        if title != man.get("title"):
            man["title"] = title
            write_json(ctx.results / key / "manifest.json", man)
        ctx.written.append((key, title))


def _org(ctx: _Context) -> None:
    from pipeline.workflow.org import analyze_org_wave
    before = {d.name for d in ctx.results.iterdir()}
    analyze_org_wave(ctx.wave, ctx.data, ctx.cb, ctx.results, ctx.computed, settings=ctx.ws)
    _register_written(ctx, before)


def _citizens(ctx: _Context) -> None:
    from pipeline.workflow.org import analyze_citizens_wave
    before = {d.name for d in ctx.results.iterdir()}
    analyze_citizens_wave(ctx.wave, ctx.data, ctx.cb, ctx.results, ctx.computed, settings=ctx.ws)
    _register_written(ctx, before)


def _replication(ctx: _Context) -> None:
    """Published values next to the recomputed ones, each with the status the index gives it
    (:func:`pipeline.cli.scorecard.wave_table`); only where the study has published values."""
    if not ctx.ws.get("published"):
        return
    from pipeline.cli.scorecard import wave_table

    shown = wave_table(ctx.wave, {k: v for k, v in ctx.computed.items() if v is not None}, ctx.ws)
    if shown.empty:
        return
    sec = ctx.section("replication")
    if ctx.ws.get("synthetic"):
        sec.warning("These values are recomputed from synthetic respondents: agreement with the "
                    "published values shows the generator's calibration, not a replication.")
    sec.table("scorecard", shown, digits=3,
              caption="Published value as printed, where it is printed, the value recomputed here, "
                      "its status (the same as in the index) and what the status rests on")
    sec.close()


#: analysis name (``waves.<wave>.analyses``) -> section function
ANALYSES: dict[str, Callable[[_Context], None]] = {
    "screening": _screening, "demographics": _demographics, "descriptives": _descriptives,
    "reliability": _reliability, "efa": _efa, "cfa": _cfa, "structural": _structural,
    "hypotheses": _hypotheses, "groups": _groups, "diagram": _diagram, "org": _org,
    "citizens": _citizens, "replication": _replication,
}
# the SEM diagnostics sections (estimators, diagnostics, alternatives, ...)
from pipeline.workflow.sem_sections import SECTION_TITLES as _SEM_TITLES  # noqa: E402
from pipeline.workflow.sem_sections import SECTIONS as _SEM_SECTIONS  # noqa: E402

ANALYSES.update(_SEM_SECTIONS)
SECTION_TITLES.update(_SEM_TITLES)


# ------------------------------------------------------- tables
_OPS = {">": lambda v, t: v > t, "<": lambda v, t: v < t,
        ">=": lambda v, t: v >= t, "<=": lambda v, t: v <= t}

#: Fit-table rows in AMOS's order (CMIN, GFI, AGFI, RMSEA ...), plus what lavaan adds.
FIT_ROWS = [("chisq", "Chi-square (CMIN)"), ("df", "Degrees of freedom"), ("pvalue", "P-value"),
            ("gfi", "GFI"), ("agfi", "AGFI"), ("rmsea", "RMSEA"),
            ("rmsea.ci.lower", "RMSEA 90% CI, lower"), ("rmsea.ci.upper", "RMSEA 90% CI, upper"),
            ("rmsea.pvalue", "PCLOSE (p of close fit, RMSEA <= .05)"), ("srmr", "SRMR"),
            ("tli", "TLI"), ("cfi", "CFI"), ("ifi", "IFI"), ("nfi", "NFI"),
            ("cmin_df", "CMIN/DF")]


def fit_table(measures: pd.Series, thresholds: dict[str, Any], *, likelihood: str) -> pd.DataFrame:
    """Fit table: measure, threshold, value and verdict.

    Parameters
    ----------
    measures : Series
        ``SEMResult.fit_measures()`` (lavaan names).
    thresholds : dict
        ``{name: {"op": ">", "value": .90}}`` from ``params.yaml`` (``sem.thresholds``).
    likelihood : str
        Labelled in the chi-square row (``wishart`` = AMOS, ``normal`` = lavaan).

    In R: ``fitMeasures(fit, c("chisq", "df", "pvalue", "gfi", "agfi", ...))``.
    """
    rows = []
    conv = {"wishart": "(N-1)·F_ML, AMOS", "normal": "N·F_ML, lavaan"}.get(likelihood, likelihood)
    for key, label in FIT_ROWS:
        if key not in measures.index:
            continue
        th = thresholds.get(key)
        value = float(measures[key])
        if th:
            verdict = "meets" if _OPS[th["op"]](value, th["value"]) else "fails"
            thr = f"{th['op']} {th['value']}"
        else:
            verdict, thr = "", ""
        if key == "chisq":
            label = f"{label} [likelihood = {likelihood}: {conv}]"
        rows.append({"measure": label, "name": key, "threshold": thr, "value": value,
                     "verdict": verdict})
    return pd.DataFrame(rows).set_index("measure")


def paths_table(parameters: pd.DataFrame) -> pd.DataFrame:
    """AMOS's "Regression Weights" form: Estimate, S.E., C.R., P, standardized.

    Loadings are printed as ``item <--- factor``, regressions as
    ``outcome <--- predictor``; fixed markers have no S.E.

    In R: ``parameterEstimates(fit, standardized = TRUE)`` rows with op ``=~`` / ``~``.
    """
    pt = parameters
    rows = []
    for r in pt[pt.op.isin(["=~", "~"])].itertuples(index=False):
        lhs, rhs = (r.rhs, r.lhs) if r.op == "=~" else (r.lhs, r.rhs)
        fixed = not (r.se > 0) if pd.notna(r.se) else True
        rows.append({"path": f"{lhs} <--- {rhs}", "Estimate": r.est,
                     "S.E.": None if fixed else r.se, "C.R.": None if fixed else r.z,
                     "P": None if fixed else r.pvalue})
    out = pd.DataFrame(rows).set_index("path")
    out["Standardized"] = list(pt[pt.op.isin(["=~", "~"])]["std.all"])
    return out


def _effects_table(boot_table: pd.DataFrame | None, parameters: pd.DataFrame,
                   prefix: str) -> pd.DataFrame:
    """Defined effects (``ind_X`` / ``tot_X``) with delta-method SE and bootstrap CIs."""
    pt = parameters[(parameters.op == ":=") & parameters.lhs.str.startswith(prefix)]
    out = pt.set_index("lhs")[["est", "se", "z", "pvalue", "std.all"]].copy()
    out.index = [i[len(prefix):] for i in out.index]
    out.index.name = "factor" if prefix else "effect"
    if boot_table is not None:
        bt = boot_table[(boot_table.op == ":=") & boot_table.lhs.str.startswith(prefix)]
        bt = bt.set_index("lhs")
        bt.index = [i[len(prefix):] for i in bt.index]
        out["boot.se"] = bt["se"]
        for c in ("ci.lower", "ci.upper", "ci.lower.bc", "ci.upper.bc"):
            out[c] = bt[c]
    return out
