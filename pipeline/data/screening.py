"""Respondent screening: missing answers, straight-lining, out-of-range codes,
duplicate submissions, Mahalanobis outliers and response times, with an
exclusion log and the survey funnel.

The thesis (line 975) rejected 20 of 120 returned 2019 questionnaires for
"lack of the answers to some questions (approximately, 20-50%)" and for
"duplication of the same answers for Section C", leaving 100 valid answers
from 150 distributed: a response rate of 66.7%.  The rules and thresholds
live in ``params.yaml`` (group ``screening``); :data:`DEFAULTS` documents
each key.

Every respondent gets a row in the report with the measurements and the
reasons; excluded respondents appear in the exclusion log once per reason.
Mahalanobis outliers are flagged, not dropped, unless configured.  Raw N
(returned) and clean N (valid) are both reported.

Nothing unredacted is written: :meth:`ScreeningResult.write` redacts every
free-text column of ``clean.csv`` (:func:`pipeline.data.privacy.redact`)
and refuses to write respondent ids that are themselves personal data
(e-mail addresses, IINs, phone numbers) unless they were replaced by
pseudonyms (:func:`pipeline.data.privacy.pseudonymize_ids`) first.
The command line lives in :mod:`pipeline.cli.screen`.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from pipeline.core.exceptions import DataValidationError, NotEstimableWarning

__all__ = ["DEFAULTS", "ScreeningResult", "screen", "longest_run", "longest_runs", "straightlined",
           "straightlined_rows", "mahalanobis", "funnel"]

#: Default screening rules (overridden by ``params.yaml``'s ``screening`` group).
DEFAULTS: dict[str, Any] = {
    # reject a respondent who left at least this share of the questions
    # unanswered (thesis: "approximately 20-50%")
    "missing_threshold": 0.20,
    # which questions count: "questions" (every required coded item outside
    # the 'meta' section) or "likert" (the Likert items only)
    "missing_scope": "questions",
    # reject one identical answer across every item of these sections
    # (thesis: Section C); [] disables the rule
    "straightline_sections": ["C"],
    # a section is checked only when at least this many items are answered
    "straightline_min_items": 5,
    # flag (and with exclude_long_runs, reject) a run of identical
    # consecutive Likert answers at least this long; null = report only
    "max_run_length": None,
    "exclude_long_runs": False,
    # codes outside the codebook's codes: "exclude" the respondent or "error"
    "out_of_range": "exclude",
    # identical answers on every item (id excluded) count as a duplicate
    # submission; later copies are excluded
    "drop_duplicates": True,
    # Mahalanobis distance of the Likert answers (complete cases)
    "mahalanobis_alpha": 0.001,
    "drop_mahalanobis": False,
    # response time (seconds) where the file has this column
    "response_time_column": "duration",
    "min_response_time": None,
    # funnel counts by this column where present (thesis: ACSA 35, akimat 65)
    "group_column": "org",
}


# --------------------------------------------------------------------------
# pure helpers
# --------------------------------------------------------------------------
def longest_run(values: Sequence[Any]) -> int:
    """Length of the longest run of identical consecutive non-missing answers
    (a missing answer breaks a run).

    In R: ``careless::longstring(x)`` (``max(rle(x)$lengths)``).
    """
    best = cur = 0
    prev = object()
    for v in values:
        if v is None or (isinstance(v, float) and np.isnan(v)):
            cur, prev = 0, object()
            continue
        cur = cur + 1 if v == prev else 1
        prev = v
        best = max(best, cur)
    return best


def straightlined(values: Sequence[Any], min_items: int = 2) -> bool:
    """True when at least *min_items* answers are given and all are identical.

    In R: ``length(unique(na.omit(x))) == 1``.
    """
    a = pd.Series(list(values), dtype=float).dropna()
    return len(a) >= min_items and a.nunique() == 1


def longest_runs(block: pd.DataFrame) -> np.ndarray:
    """:func:`longest_run` of every row of *block*, vectorised over the rows.

    Numeric blocks are compared as floats (NaN breaks a run); any other block
    is factorised jointly (one code per distinct value, ``1 == 1.0``; None and
    NaN missing), so equality is Python's, as in :func:`longest_run`.

    In R: ``apply(x, 1, careless::longstring)``.
    """
    n, k = block.shape
    best = np.zeros(n, dtype=np.int64)
    if k == 0 or n == 0:
        return best
    if all(pd.api.types.is_numeric_dtype(t) and not pd.api.types.is_bool_dtype(t) for t in block.dtypes):
        cols = [block.iloc[:, j].to_numpy(dtype=float, na_value=np.nan) for j in range(k)]
        missing = [np.isnan(c) for c in cols]
    else:
        codes, _ = pd.factorize(block.to_numpy(dtype=object).ravel(order="F"), use_na_sentinel=True)
        codes = codes.reshape((n, k), order="F")
        cols = [codes[:, j] for j in range(k)]
        missing = [c < 0 for c in cols]
    cur = np.zeros(n, dtype=np.int64)
    prev_ok = np.zeros(n, dtype=bool)
    for j in range(k):
        ok = ~missing[j]
        same = ok & prev_ok & (cols[j] == cols[j - 1]) if j else np.zeros(n, dtype=bool)
        cur = np.where(same, cur + 1, ok.astype(np.int64))
        np.maximum(best, cur, out=best)
        prev_ok = ok
    return best


def straightlined_rows(block: pd.DataFrame, min_items: int = 2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`straightlined` for every row of *block*: ``(flag, answer, n_answered)``.

    In R: ``apply(x, 1, function(r) sum(!is.na(r)) >= k && length(unique(na.omit(r))) == 1)``.
    """
    A = block.to_numpy(dtype=float, na_value=np.nan)
    ok = ~np.isnan(A)
    cnt = ok.sum(axis=1)
    lo = np.where(ok, A, np.inf).min(axis=1, initial=np.inf)
    hi = np.where(ok, A, -np.inf).max(axis=1, initial=-np.inf)
    return (cnt >= min_items) & (cnt > 0) & (lo == hi), lo, cnt


def _row_groups(frame: pd.DataFrame) -> np.ndarray:
    """One integer per row, equal for rows whose cells print identically
    (``frame.astype(str)`` row for row), numbered in order of first appearance.

    Floats are compared by their bits (NaN as one value), integers as they
    are, anything else by its text; one column at a time, so no text copy of
    the whole frame is made.
    """
    n = len(frame)
    g = np.zeros(n, dtype=np.int64)
    for j in range(frame.shape[1]):
        s = frame.iloc[:, j]
        if pd.api.types.is_float_dtype(s.dtype) and not pd.api.types.is_extension_array_dtype(s.dtype):
            x = s.to_numpy(dtype=float, copy=True)
            x[np.isnan(x)] = np.nan                      # one NaN bit pattern
            c, _ = pd.factorize(x.view(np.int64))
        elif (pd.api.types.is_integer_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype)) \
                and not pd.api.types.is_extension_array_dtype(s.dtype):
            c, _ = pd.factorize(s.to_numpy())
        else:
            c, _ = pd.factorize(s.astype(str).to_numpy(dtype=object))
        g, _ = pd.factorize(g * (int(c.max(initial=0)) + 1) + c)
    return g


def mahalanobis(X: Any) -> tuple[np.ndarray, int]:
    """Squared Mahalanobis distances of the rows of X from the centroid.

    ``D2_i = (x_i - mean)' S^-1 (x_i - mean)`` with S the covariance matrix
    (divisor n - 1) of the complete rows; rows with a missing value get NaN.
    Under multivariate normality D2 ~ chi2(p) (Tabachnick & Fidell 2013, 4.1.4).

    In R: ``stats::mahalanobis(x, colMeans(x), cov(x))``.

    Returns
    -------
    distances, n of complete rows used
    """
    A = np.asarray(X, dtype=float)
    ok = ~np.isnan(A).any(1)
    out = np.full(len(A), np.nan)
    C = A[ok]
    if len(C) <= A.shape[1]:
        raise ValueError(f"X: Mahalanobis distances need more complete rows ({len(C)}) "
                         f"than variables ({A.shape[1]})")
    S = np.cov(C, rowvar=False)
    w = np.linalg.eigvalsh(S)
    if w[0] <= 1e-10 * max(w[-1], 1e-300):
        raise ValueError("X: the covariance matrix of the complete rows is singular "
                         "(constant or collinear items)")
    d = C - C.mean(0)
    out[ok] = np.einsum("ij,ij->i", d, np.linalg.solve(S, d.T).T)
    return out, int(ok.sum())


def funnel(distributed: int | None, returned: int, valid: int) -> dict[str, Any]:
    """distributed -> returned -> valid, with the response rate (valid /
    distributed, the thesis's definition: 100 / 150 = 66.7%) and the return
    rate (returned / distributed).

    In R: no package function; ``valid / distributed``.
    """
    out: dict[str, Any] = {"distributed": distributed, "returned": int(returned),
                           "excluded": int(returned - valid), "valid": int(valid)}
    if distributed:
        if returned > distributed:
            raise ValueError(f"returned ({returned}) exceeds distributed ({distributed})")
        out["return_rate"] = returned / distributed
        out["response_rate"] = valid / distributed
    else:
        out["return_rate"] = out["response_rate"] = None
    return out


# --------------------------------------------------------------------------
# result
# --------------------------------------------------------------------------
@dataclass
class ScreeningResult:
    """The outcome of :func:`screen`.

    Attributes
    ----------
    clean : DataFrame
        Retained respondents (the screened dataset).
    report : DataFrame
        One row per returned respondent: measurements, flags, ``excluded``
        and ``reasons``.
    log : DataFrame
        Exclusion log, one row per (respondent, reason): ``id row rule reason``.
    funnel : dict
        distributed, returned, excluded, valid, return_rate, response_rate.
    params : dict
        The rules applied.
    """
    clean: pd.DataFrame
    report: pd.DataFrame
    log: pd.DataFrame
    funnel: dict[str, Any]
    params: dict[str, Any]
    recodings: pd.DataFrame | None = None
    warnings: list[str] = field(default_factory=list)
    id_column: str | None = None

    @property
    def n_raw(self) -> int:
        return int(self.funnel["returned"])

    @property
    def n_clean(self) -> int:
        return int(self.funnel["valid"])

    def to_frame(self) -> pd.DataFrame:
        """The per-respondent report."""
        return self.report.copy()

    def reason_counts(self) -> pd.Series:
        """Excluded respondents per rule (a respondent can count under several)."""
        if self.log.empty:
            return pd.Series(dtype=int, name="respondents")
        return self.log.groupby("rule")["id"].nunique().rename("respondents")

    def to_dict(self) -> dict[str, Any]:
        return {"funnel": self.funnel, "n_raw": self.n_raw, "n_clean": self.n_clean,
                "reasons": {k: int(v) for k, v in self.reason_counts().items()},
                "flagged_outliers": int(self.report["mahalanobis_outlier"].sum()),
                "exclusions": self.log.astype({"id": str}).to_dict("records"),
                "recodings": None if self.recodings is None
                else self.recodings.to_dict("records"),
                "params": self.params, "warnings": list(self.warnings)}

    def summary(self) -> str:
        f = self.funnel
        head = (f"Screening: {f['returned']} returned"
                + (f" of {f['distributed']} distributed" if f["distributed"] else "")
                + f"; {f['excluded']} excluded; {f['valid']} valid")
        if f.get("response_rate") is not None:
            head += f"; response rate {f['response_rate']:.1%}"
        lines = [head, f"  raw N = {self.n_raw}, clean N = {self.n_clean}"]
        for rule, n in self.reason_counts().items():
            lines.append(f"  {rule}: {n}")
        n_out = int(self.report["mahalanobis_outlier"].sum())
        lines.append(f"  Mahalanobis outliers (p < {self.params['mahalanobis_alpha']}): "
                     f"{n_out} flagged" + (", dropped" if self.params["drop_mahalanobis"]
                                           else ", kept"))
        if self.recodings is not None and len(self.recodings) and "action" in self.recodings:
            miss = self.recodings[self.recodings.action.isin(["declared_missing",
                                                              "spss_user_missing"])]
            if len(miss):
                lines.append(f"  declared missing codes set to NaN by the loader: "
                             f"{int(miss['count'].sum())} cell(s) in {miss.column.nunique()} item(s)")
        lines += [f"  WARNING: {w}" for w in self.warnings]
        return "\n".join(lines)

    def write(self, outdir: str | Path, *, names: Sequence[str] = (),
              text_columns: Sequence[str] | None = None) -> dict[str, Path]:
        """Write clean.csv, screening_report.csv, exclusion_log.csv and
        screening.json (funnel, counts, rules) atomically into *outdir*.

        Free text is redacted before it reaches the disk: *text_columns*
        (default: every text column of ``clean`` except the id) with the
        personal *names* to remove (a codebook's ``names_to_redact``).
        Respondent ids that look like personal data raise ``ValueError``
        before anything is written: pseudonymise them first.
        """
        from pipeline.core.io import write_csv, write_json
        from pipeline.data.privacy import looks_like_pii, redact_frame
        kind = looks_like_pii(self.report["id"].tolist())
        if kind:
            raise ValueError(f"ids: the respondent ids ({self.id_column or 'id'}) look like personal data "
                             f"({kind}); replace them by pseudonyms (pipeline.data.privacy.pseudonymize_ids, "
                             "key in $PIPELINE_PSEUDONYM_KEY) before writing")
        if text_columns is None:
            text_columns = [c for c in self.clean.columns if c != self.id_column
                            and (self.clean[c].dtype == object or isinstance(self.clean[c].dtype, pd.StringDtype))]
        clean, _ = redact_frame(self.clean, [c for c in text_columns if c in self.clean.columns], names)
        outdir = Path(outdir)
        files = {"clean": outdir / "clean.csv", "report": outdir / "screening_report.csv",
                 "log": outdir / "exclusion_log.csv", "summary": outdir / "screening.json"}
        write_csv(files["clean"], clean, index=False)
        write_csv(files["report"], self.report, index=False)
        write_csv(files["log"], self.log, index=False)
        write_json(files["summary"], self.to_dict())
        return files


# --------------------------------------------------------------------------
# the wrapper
# --------------------------------------------------------------------------
def _rules(params: Mapping[str, Any] | None) -> dict[str, Any]:
    rules = dict(DEFAULTS)
    for k, v in (params or {}).items():
        if k not in DEFAULTS:
            raise ValueError(f"params: unknown screening rule {k!r}; known: {sorted(DEFAULTS)}")
        rules[k] = v
    t = rules["missing_threshold"]
    if not isinstance(t, (int, float)) or not 0 < t <= 1:
        raise ValueError(f"params: missing_threshold must lie in (0, 1], not {t!r}")
    a = rules["mahalanobis_alpha"]
    if not isinstance(a, (int, float)) or not 0 < a < 1:
        raise ValueError(f"params: mahalanobis_alpha must lie in (0, 1), not {a!r}")
    if rules["out_of_range"] not in ("exclude", "error"):
        raise ValueError("params: out_of_range must be 'exclude' or 'error'")
    if rules["missing_scope"] not in ("questions", "likert"):
        raise ValueError("params: missing_scope must be 'questions' or 'likert'")
    return rules


def screen(data: pd.DataFrame, codebook: Any = None, params: Mapping[str, Any] | None = None,
           *, items: Sequence[str] | None = None,
           sections: Mapping[str, Sequence[str]] | None = None,
           codes: Mapping[str, Sequence[Any]] | None = None,
           id_column: str | None = None, distributed: int | None = None,
           rows: Sequence[int] | None = None, recodings: Any = None,
           file: str | None = None) -> ScreeningResult:
    """Screen the returned questionnaires of one wave.

    Parameters
    ----------
    data : DataFrame
        One row per returned questionnaire (e.g. ``pipeline.data.loading.read_raw``'s
        ``.data``).
    codebook : Codebook, optional
        Source of the questions (missingness), the Likert items (runs,
        Mahalanobis), the sections (straight-lining) and the valid codes.
    params : mapping, optional
        Screening rules (see :data:`DEFAULTS`), e.g.
        ``config.stage_params("screening")``.
    items, sections, codes, id_column :
        Explicit alternatives to the codebook: the items counted for
        missingness and used for runs and distances, section -> items for
        straight-lining (every section given is checked), item -> valid codes.
    distributed : int, optional
        Questionnaires handed out (``params.yaml`` ``waves.<wave>.distributed``).
    rows : sequence of int, optional
        Spreadsheet row of each respondent (for the log); default index + 2.
    recodings : optional
        The loader's recoding log (``LoadResult.log_frame()``), carried into
        the result (declared-missing codes turned into NaN, with counts).

    Returns
    -------
    ScreeningResult

    In R: no single equivalent; ``careless::longstring``, ``stats::mahalanobis``
    and ``duplicated`` cover parts of it.
    """
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"data must be a pandas DataFrame, not {type(data).__name__}")
    rules = _rules(params)
    explicit_sections = sections is not None
    original = data
    data = data.copy(deep=False)          # columns are replaced, never written into
    for c in data.columns:  # nullable integers (pd.NA) -> float with NaN
        if pd.api.types.is_extension_array_dtype(data[c]) and pd.api.types.is_numeric_dtype(data[c]):
            data[c] = data[c].astype(float)
    # ---- what to check ------------------------------------------------------
    if codebook is not None:
        id_column = id_column or codebook.id_column
        likert = [i for i in codebook.likert_items if i in data.columns]
        if items is None:
            if rules["missing_scope"] == "likert":
                items = likert
            else:
                items = [n for n, v in codebook.variables.items()
                         if n in data.columns and v.section != "meta" and v.required
                         and v.type in ("likert", "categorical", "multi", "numeric")]
        if sections is None:
            sections = {s: [i for i in its if i in likert]
                        for s, its in codebook.sections.items()}
        if codes is None:
            codes = {n: list(v.codes) for n, v in codebook.variables.items()
                     if n in data.columns and v.type in ("likert", "categorical")
                     and v.numeric_codes}
    else:
        id_column = id_column or ("id" if "id" in data.columns else None)
        if items is None:
            items = [c for c in data.columns if c != id_column
                     and pd.api.types.is_numeric_dtype(data[c])]
        likert = [i for i in items if pd.api.types.is_numeric_dtype(data[i])]
        sections = dict(sections or {})
        codes = dict(codes or {})
    items = list(items)
    unknown = [c for c in items if c not in data.columns]
    if unknown:
        raise DataValidationError("screening items missing from the data", file=file,
                                  columns=unknown)
    if not items:
        raise ValueError("items: nothing to screen (no item columns)")
    empty_cols = [c for c in items if data[c].isna().all()]
    if empty_cols and len(data):
        raise DataValidationError("item has no answers at all (an empty column); remove "
                                  "it from the codebook/items or fix the file",
                                  file=file, columns=empty_cols)
    n = len(data)
    ids = (data[id_column].astype(object).tolist() if id_column and id_column in data.columns
           else list(range(1, n + 1)))
    rows = list(rows) if rows is not None else [int(i) + 2 for i in range(n)]
    reasons: list[list[tuple[str, str]]] = [[] for _ in range(n)]
    warn_list: list[str] = []

    # ---- duplicate ids (the loader refuses them; here for explicit data) ----
    if id_column and id_column in data.columns:
        dup = data[id_column].duplicated(keep="first").to_numpy()
        if dup.any():
            id_codes, _ = pd.factorize(data[id_column], use_na_sentinel=False)
            _, first_of = np.unique(id_codes, return_index=True)    # codes number first rows in order
            for i in np.flatnonzero(dup):
                first = int(first_of[id_codes[i]])
                reasons[i].append(("duplicate_id", f"id {ids[i]} already used at row {rows[first]}"))

    # ---- missing answers ----------------------------------------------------
    answered = data[items].notna()
    # a multi-choice item answered as "" counts as missing
    n_missing = (~answered).sum(1).to_numpy()
    share = n_missing / len(items)
    for i in np.flatnonzero(share >= rules["missing_threshold"] - 1e-12):
        what = "no answers at all" if n_missing[i] == len(items) else (
            f"{n_missing[i]} of {len(items)} questions unanswered ({share[i]:.0%})")
        reasons[i].append(("missing", f"{what} >= threshold {rules['missing_threshold']:.0%}"))

    # ---- out-of-range codes --------------------------------------------------
    oor_count = np.zeros(n, dtype=int)
    for it, valid in (codes or {}).items():
        if it not in data.columns or not valid:
            continue
        v = pd.to_numeric(data[it], errors="coerce")
        bad = v.notna() & ~v.isin([float(c) for c in valid])
        for i in np.flatnonzero(bad.to_numpy()):
            if rules["out_of_range"] == "error":
                raise DataValidationError(
                    f"code {v.iloc[i]:g} is not one of the item's codes {list(valid)}",
                    file=file, columns=[it], rows=[rows[i]])
            oor_count[i] += 1
            reasons[i].append(("out_of_range", f"{it} = {v.iloc[i]:g} is not a valid code"))

    # ---- straight-lining and runs -------------------------------------------
    # explicit sections are all checked; otherwise the configured ones
    sl_sections = list(sections) if explicit_sections else (rules["straightline_sections"] or [])
    sl_flag = [[] for _ in range(n)]
    for sec in sl_sections:
        sec_items = [i for i in (sections or {}).get(sec, []) if i in data.columns]
        if not sec_items:
            msg = f"straight-lining rule: section {sec!r} has no items in the data"
            warn_list.append(msg)
            continue
        flag, answer, answered = straightlined_rows(data[sec_items], rules["straightline_min_items"])
        for i in np.flatnonzero(flag):
            sl_flag[i].append(sec)
            reasons[i].append(("straightlining",
                               f"section {sec}: the same answer ({answer[i]:g}) to all "
                               f"{answered[i]} answered items"))
    run_items = likert if likert else items
    runs = longest_runs(data[run_items]).astype(int)
    long_run = np.zeros(n, dtype=bool)
    if rules["max_run_length"]:
        long_run = runs >= int(rules["max_run_length"])
        if rules["exclude_long_runs"]:
            for i in np.flatnonzero(long_run):
                reasons[i].append(("long_run", f"{runs[i]} identical answers in a row "
                                               f">= {rules['max_run_length']}"))

    # ---- duplicate submissions ---------------------------------------------
    dup_of: list[Any] = [None] * n
    if rules["drop_duplicates"]:
        content = [c for c in data.columns if c != id_column
                   and c != rules["response_time_column"]]
        group = _row_groups(data[content]) if content else np.arange(n)
        _, first_of = np.unique(group, return_index=True)      # groups number first rows in order
        first = first_of[group]
        for i in np.flatnonzero(first != np.arange(n)):
            f = int(first[i])
            dup_of[i] = ids[f]
            reasons[i].append(("duplicate_submission",
                               f"identical to respondent {ids[f]} (row {rows[f]}) on every item"))

    # ---- response time -------------------------------------------------------
    rt_col = rules["response_time_column"]
    rt = (pd.to_numeric(data[rt_col], errors="coerce").to_numpy()
          if rt_col and rt_col in data.columns else np.full(n, np.nan))
    if rules["min_response_time"] is not None and rt_col in data.columns:
        for i in np.flatnonzero(rt < float(rules["min_response_time"])):
            reasons[i].append(("response_time", f"answered in {rt[i]:g} s < "
                                                f"{rules['min_response_time']} s"))

    # ---- Mahalanobis (on respondents not excluded so far) --------------------
    d2 = np.full(n, np.nan)
    pval = np.full(n, np.nan)
    keep_so_far = np.array([not r for r in reasons])
    maha_items = likert if len(likert) >= 2 else []
    if maha_items:
        try:
            sub = data.loc[keep_so_far, maha_items].apply(pd.to_numeric, errors="coerce")
            dd, _ = mahalanobis(sub.to_numpy(dtype=float))
            d2[keep_so_far] = dd
            pval = np.where(np.isnan(d2), np.nan, stats.chi2.sf(d2, len(maha_items)))
        except ValueError as exc:
            msg = f"Mahalanobis distances not computed: {exc}"
            warnings.warn(msg, NotEstimableWarning, stacklevel=2)
            warn_list.append(msg)
    outlier = np.nan_to_num(pval, nan=1.0) < rules["mahalanobis_alpha"]
    if rules["drop_mahalanobis"]:
        for i in np.flatnonzero(outlier):
            reasons[i].append(("mahalanobis", f"D2 = {d2[i]:.2f}, p = {pval[i]:.2g} < "
                                              f"{rules['mahalanobis_alpha']}"))

    # ---- assemble ------------------------------------------------------------
    excluded = np.array([bool(r) for r in reasons])
    report = pd.DataFrame({
        "id": ids, "row": rows, "n_items": len(items), "n_missing": n_missing,
        "share_missing": share,
        "straightlined_sections": [";".join(s) for s in sl_flag],
        "longest_run": runs, "long_run": long_run, "out_of_range": oor_count,
        "duplicate_of": dup_of, "response_time": rt,
        "mahalanobis_d2": d2, "mahalanobis_p": pval, "mahalanobis_outlier": outlier,
        "excluded": excluded,
        "reasons": ["; ".join(txt for _, txt in r) for r in reasons]})
    log = pd.DataFrame([{"id": ids[i], "row": rows[i], "rule": rule, "reason": txt}
                        for i in range(n) for rule, txt in reasons[i]],
                       columns=["id", "row", "rule", "reason"])
    clean = original.loc[~excluded].reset_index(drop=True)
    rec = None
    if recodings is not None:
        rec = recodings if isinstance(recodings, pd.DataFrame) else pd.DataFrame(
            [getattr(r, "__dict__", r) for r in recodings])
    fun = funnel(distributed, n, int((~excluded).sum()))
    gcol = rules["group_column"]
    if gcol and gcol in data.columns:
        g = data[gcol].astype(object).where(data[gcol].notna(), "(missing)").astype(str)
        fun["returned_by_group"] = {k: int(v) for k, v in g.value_counts().sort_index().items()}
        fun["valid_by_group"] = {k: int(v) for k, v in
                                 g[~excluded].value_counts().sort_index().items()}
    return ScreeningResult(clean=clean, report=report, log=log, funnel=fun,
                           params=rules, recodings=rec, warnings=warn_list, id_column=id_column)
