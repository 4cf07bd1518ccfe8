"""``python -m pipeline new-study NAME --data FILE [--id COL] [--group COL]``.

Sets up a new study from one data file so that ``dvc repro`` builds
``reports/<NAME>/report.html`` with no further edits:

1. reads the file (CSV, XLSX or SAV: :func:`pipeline.data.loading.read_table`;
   for SPSS also the value labels and user-missing codes, via pyreadstat);
2. infers a codebook, ``studies/<NAME>/codebook.yaml``: every column's name
   (dots and Unicode kept), type (id, categorical, likert, numeric, text),
   range, value labels and missing codes, and constructs from item-name
   prefixes (``A1 .. A5`` -> construct ``A``);
3. marks items that look reverse-keyed (a negative corrected item-total
   correlation within their construct; flipped one at a time, most negative
   first) with ``reverse: true`` and a note asking the user to confirm;
4. writes ``studies/<NAME>/models/cfa.lav`` (one factor per construct, all
   factors correlated), ``sem.lav`` (a structural starting point: the last
   construct regressed on the others) and an empty ``hypotheses.yaml``;
5. registers the study and its wave ``<NAME>`` in ``params.yaml``
   (ruamel.yaml round trip: comments and order are kept).

Nothing of any other study changes, so DVC reruns none of its stages.
The data file is copied to ``data/raw/<NAME>/`` (version it with ``dvc
add``); a file already under ``data/raw`` is used where it is.
"""
from __future__ import annotations

import argparse
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.core import paths

__all__ = ["main", "infer_codebook", "reverse_candidates", "cfa_syntax", "sem_syntax",
           "register_study", "item_prefix"]

_STUDY_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_ITEM_RE = re.compile(r"^(.*?[^\W\d])[._]?(\d+)$", re.UNICODE)
_ID_NAMES = ("id", "ID", "Id", "respondent", "respondent_id", "resp_id", "case", "caseid")


def item_prefix(name: str) -> str | None:
    """The construct prefix of an item name: ``A1`` -> ``A``, ``x.3`` -> ``x``, ``Лидер2`` -> ``Лидер``."""
    m = _ITEM_RE.match(name)
    return m.group(1) if m else None


def _integer_valued(s: pd.Series) -> bool:
    v = pd.to_numeric(s, errors="coerce").dropna()
    return len(v) > 0 and bool(np.all(np.isfinite(v))) and bool((v % 1 == 0).all())


def _sav_meta(path: Path) -> tuple[dict[str, dict], dict[str, list], dict[str, str]]:
    """(value labels, user-missing codes, column labels) of an SPSS file."""
    import pyreadstat
    _, meta = pyreadstat.read_sav(str(path), metadataonly=True, user_missing=True)
    labels = {c: dict(v) for c, v in (meta.variable_value_labels or {}).items()}
    missing: dict[str, list] = {}
    for c, vals in (getattr(meta, "missing_user_values", None) or {}).items():
        missing.setdefault(c, []).extend(vals)
    for c, ranges in (getattr(meta, "missing_ranges", None) or {}).items():
        for r in ranges:
            lo, hi = r.get("lo"), r.get("hi")
            if lo is not None and lo == hi:
                missing.setdefault(c, []).append(lo)
            elif lo is not None and hi is not None and float(hi) - float(lo) <= 20 \
                    and float(lo) % 1 == 0:
                missing.setdefault(c, []).extend(range(int(lo), int(hi) + 1))
    col_labels = dict(zip(meta.column_names, meta.column_labels or []))
    return labels, missing, {k: v for k, v in col_labels.items() if v}


def _code(v: Any) -> Any:
    f = float(v)
    return int(f) if f % 1 == 0 else f


def reverse_candidates(data: pd.DataFrame, items: list[str]) -> dict[str, float]:
    """Items of one scale that look reverse-keyed, with their item-rest correlation.

    Repeatedly flips the item with the most negative corrected item-total
    (item-rest) correlation, computed on the pairwise-complete correlation
    matrix with the current signs, until no correlation is negative.
    Returns ``{item: r}`` with r as first found (negative).

    In R: ``psych::alpha(x, check.keys = TRUE)`` flips items by the sign of
    their loading on the first principal component; this rule is its
    item-rest version.
    """
    if len(items) < 3:
        return {}
    R = data[items].apply(pd.to_numeric, errors="coerce").corr().to_numpy()
    if not np.all(np.isfinite(R)):
        return {}
    sign = np.ones(len(items))
    found: dict[str, float] = {}
    for _ in range(len(items)):
        S = R * np.outer(sign, sign)
        # item-rest correlation from the correlation matrix (unit variances)
        tot = S.sum(axis=1) - 1.0
        var_rest = np.array([S.sum() - 2 * S[i].sum() + 1.0 for i in range(len(items))])
        r = tot / np.sqrt(np.clip(var_rest, 1e-12, None))
        j = int(np.argmin(r))
        if r[j] >= 0:
            break
        sign[j] = -sign[j]
        found[items[j]] = float(r[j])
    return {k: v for k, v in found.items() if sign[items.index(k)] < 0}


def infer_codebook(df: pd.DataFrame, name: str, *, id_column: str | None = None,
                   group: str | None = None, source: str = "",
                   value_labels: dict[str, dict] | None = None,
                   missing_codes: dict[str, list] | None = None,
                   column_labels: dict[str, str] | None = None) -> dict[str, Any]:
    """A codebook (as a YAML-ready mapping) inferred from a data frame.

    Types: the id column; the group column and integer or text columns with
    at most 10 (numbers) or 20 (text) distinct values -> categorical; members of an item family
    (two or more columns sharing a name prefix) with integer values spanning
    at most 11 points, or with value labels -> likert (consecutive codes);
    other numbers -> numeric (observed min and max); other text -> text.
    Items of a family form a construct named by the prefix.
    """
    value_labels = value_labels or {}
    missing_codes = missing_codes or {}
    column_labels = column_labels or {}
    if id_column is None:
        id_column = next((c for c in df.columns if c in _ID_NAMES and df[c].notna().all()
                          and df[c].is_unique), None)
    if id_column is None or id_column not in df.columns:
        raise ValueError(f"--id: no respondent id column found (looked for {list(_ID_NAMES)}); "
                         f"name one of {list(df.columns)[:20]}")
    if df[id_column].isna().any() or not df[id_column].is_unique:
        raise ValueError(f"--id {id_column}: the column has empty or repeated values")
    if group is not None and group not in df.columns:
        raise ValueError(f"--group {group}: no such column; columns: {list(df.columns)[:30]}")

    numeric = {c for c in df.columns if pd.api.types.is_numeric_dtype(df[c])}
    families: dict[str, list[str]] = {}
    for c in df.columns:
        p = item_prefix(str(c))
        if p and c in numeric and c not in (id_column, group):
            families.setdefault(p, []).append(c)
    families = {p: cs for p, cs in families.items() if len(cs) >= 2}
    family_of = {c: p for p, cs in families.items() for c in cs}

    variables, constructs = [], {}
    for c in df.columns:
        s = df[c]
        label = column_labels.get(c) or str(c)
        v: dict[str, Any] = {"name": str(c), "label": label, "wording": label, "required": True}
        miss = [_code(m) for m in missing_codes.get(c, [])] if c in numeric else \
            list(missing_codes.get(c, []))
        vals = s.dropna()
        if miss and c in numeric:
            vals = vals[~vals.isin(miss)]
        labs = value_labels.get(c) or {}
        if c == id_column:
            v.update(section="meta", type="id")
        elif c in numeric and _integer_valued(vals) and (
                c in family_of and (labs or (vals.max() - vals.min() <= 10 and vals.nunique() >= 2))):
            lo, hi = int(vals.min()), int(vals.max())
            if labs:
                lab_codes = [int(k) for k in labs if float(k) % 1 == 0 and _code(k) not in miss]
                if lab_codes:
                    lo, hi = min(lo, min(lab_codes)), max(hi, max(lab_codes))
            v.update(section="items", type="likert",
                     codes={k: str(labs.get(k, labs.get(float(k), k))) for k in range(lo, hi + 1)})
        elif c == group or (c in numeric and _integer_valued(vals) and vals.nunique() <= 10
                            and c not in family_of) or \
                (c not in numeric and 0 < vals.nunique() <= 20 and vals.nunique() <= max(2, len(vals) // 2)):
            if c in numeric and _integer_valued(vals):
                codes = sorted({_code(x) for x in vals} | {_code(k) for k in labs if _code(k) not in miss})
                v.update(codes={k: str(labs.get(k, labs.get(float(k), k))) for k in codes})
            else:
                v.update(codes={str(k): str(k) for k in sorted(vals.astype(str).unique())})
            v.update(section="meta" if c == group else "other", type="categorical")
        elif c in numeric:
            v.update(section="items" if c in family_of else "other", type="numeric")
            if len(vals):
                v.update(min=_code(vals.min()) if float(vals.min()) % 1 == 0 else float(vals.min()),
                         max=_code(vals.max()) if float(vals.max()) % 1 == 0 else float(vals.max()))
        else:
            v.update(section="other", type="text")
        if miss and v["type"] in ("likert", "categorical"):
            v["missing_codes"] = {m: "missing (SPSS user-missing)" for m in miss}
        if c in family_of and v["type"] in ("likert", "numeric"):
            key = _construct_key(family_of[c], set(map(str, df.columns)))
            v["construct"] = key
            constructs.setdefault(key, {"label": family_of[c], "items": []})["items"].append(str(c))
        variables.append(v)
    # a construct needs two items of one kind
    for key, spec in list(constructs.items()):
        if len(spec["items"]) < 2:
            for v in variables:
                if v.get("construct") == key:
                    del v["construct"]
            del constructs[key]
    by_name = {v["name"]: v for v in variables}
    for key, spec in constructs.items():
        likert = [i for i in spec["items"] if by_name[i]["type"] == "likert"]
        for item, r in reverse_candidates(df, likert).items():
            by_name[item]["reverse"] = True
            by_name[item]["note"] = (f"CONFIRM: marked reverse-keyed by new-study (item-rest "
                                     f"correlation {r:.2f} in {key}); set reverse: false if not")
    return {
        "instrument": name, "title": name, "source": source, "id_column": str(id_column),
        "constructs": {k: {"label": v["label"]} for k, v in constructs.items()},
        "variables": variables,
    }


def _construct_key(prefix: str, columns: set[str]) -> str:
    key = re.sub(r"\W", "_", prefix).strip("_") or "F"
    if not key[0].isalpha():
        key = "F" + key
    while key in columns:
        key += "_f"
    return key


def _constructs(cb: dict[str, Any]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {k: [] for k in cb["constructs"]}
    for v in cb["variables"]:
        if v.get("construct"):
            out[v["construct"]].append(v["name"])
    return out


def cfa_syntax(cb: dict[str, Any], source: str) -> str:
    """One factor per construct (lavaan syntax); lavaan correlates the factors by default."""
    lines = [f"# Measurement model written by `python -m pipeline new-study` from {source}:",
             "# one factor per construct of the codebook (all factors correlated).",
             "# Edit freely: the analyze stage refits when this file changes."]
    lines += [f"{k} =~ {' + '.join(items)}" for k, items in _constructs(cb).items()]
    return "\n".join(lines) + "\n"


def sem_syntax(cb: dict[str, Any], source: str) -> str | None:
    """A structural starting point: the last construct regressed on the others."""
    cons = _constructs(cb)
    if len(cons) < 2:
        return None
    names = list(cons)
    lines = [f"# Structural starting point written by `python -m pipeline new-study` from {source}.",
             "# The measurement part repeats cfa.lav; the regression below is a placeholder:",
             "# replace it with your theory (and name effects with := for the hypotheses).",
             *[f"{k} =~ {' + '.join(items)}" for k, items in cons.items()],
             f"{names[-1]} ~ {' + '.join(names[:-1])}"]
    return "\n".join(lines) + "\n"


_HYPOTHESES = """\
# Hypotheses of this study (pipeline.sem.hypotheses).  Each test names a
# parameter ("lhs ~ rhs"), a label or a := effect of sem.lav, the test (wald |
# bootstrap), the direction (positive | negative | nonzero) and optionally
# alpha; `compare: [a, b]` tests a - b; `all_of: [...]` needs every interval.
alpha: 0.05
correction: null        # e.g. holm or fdr_bh (statsmodels.stats.multitest), over the Wald tests
tests: []
{example}"""


def register_study(name: str, wave: dict[str, Any], study: dict[str, Any],
                   params_path: Path | None = None) -> None:
    """Add ``studies.<name>`` and ``waves.<name>`` to params.yaml, keeping comments and order."""
    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap

    from pipeline.cli.schema import validate_params
    p = Path(params_path or paths.PARAMS)
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096
    yaml.representer.add_representer(
        type(None), lambda r, _: r.represent_scalar("tag:yaml.org,2002:null", "null"))
    data = yaml.load(p.read_text(encoding="utf-8")) if p.exists() else CommentedMap()
    data = data if data is not None else CommentedMap()
    for key in ("studies", "waves"):
        if data.get(key) is None:
            data[key] = CommentedMap()

    def cm(d: Any) -> Any:
        if isinstance(d, dict):
            out = CommentedMap()
            for k, v in d.items():
                out[k] = cm(v)
            return out
        return d

    data["studies"][name] = cm(study)
    data["waves"][name] = cm(wave)
    validate_params(_plain(data))
    from io import StringIO
    buf = StringIO()
    yaml.dump(data, buf)
    from pipeline.core.io import write_text
    write_text(p, buf.getvalue())


def _plain(d: Any) -> Any:
    if isinstance(d, dict):
        return {k: _plain(v) for k, v in d.items()}
    if isinstance(d, list):
        return [_plain(v) for v in d]
    return d


def _rel(p: Path) -> str:
    return p.resolve().relative_to(paths.ROOT.resolve()).as_posix()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m pipeline new-study",
        description="Set up a study from one data file: codebook, models, params.yaml entry. "
                    "Then `dvc repro` builds reports/<NAME>/report.html.")
    ap.add_argument("name", help="study (and wave) name: letters, digits, _ (e.g. holzinger1939)")
    ap.add_argument("--data", required=True, help="CSV, XLSX or SAV file")
    ap.add_argument("--id", default=None, help="respondent id column (default: a unique column "
                    f"named one of {', '.join(_ID_NAMES)})")
    ap.add_argument("--group", default=None, help="column of two groups to compare "
                    "(default: none)")
    ap.add_argument("--title", default=None, help="report title (default: NAME)")
    ap.add_argument("--force", action="store_true", help="overwrite an existing study of that name")
    args = ap.parse_args(argv)

    name = args.name
    if not _STUDY_RE.match(name):
        raise ValueError(f"NAME {name!r}: use letters, digits and _ (starting with a letter)")
    from pipeline.cli import config
    reg = config.load_registry() if paths.PARAMS.exists() else {}
    folder = paths.STUDIES / name
    if not args.force and (name in (reg.get("studies") or {}) or name in (reg.get("waves") or {})
                           or folder.exists()):
        raise ValueError(f"NAME {name!r}: a study or wave of that name exists (studies/{name} or "
                         "params.yaml); pass --force to overwrite it")
    src = Path(args.data)
    if not src.is_file():
        raise FileNotFoundError(f"--data: file not found: {src}")
    from pipeline.data.loading import read_table
    df = read_table(src)
    labels: dict[str, dict] = {}
    missing: dict[str, list] = {}
    col_labels: dict[str, str] = {}
    if src.suffix.lower() == ".sav":
        labels, missing, col_labels = _sav_meta(src)
    # the raw file lives in data/raw/<NAME>/ (used in place when already under data/raw)
    try:
        src.resolve().relative_to(paths.DATA_RAW.resolve())
        raw = _rel(src)
    except ValueError:
        dest = paths.DATA_RAW / name / src.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)
        raw = _rel(dest)
        print(f"copied {src} to {raw} (version it with `dvc add {raw}`, or git for public data)")
    cb = infer_codebook(df, name, id_column=args.id, group=args.group,
                        source=f"inferred by `python -m pipeline new-study` from {src.name}",
                        value_labels=labels, missing_codes=missing, column_labels=col_labels)
    if args.title:
        cb["title"] = args.title
    cons = _constructs(cb)
    if not cons:
        raise ValueError(f"--data {src}: no item family found (two or more numeric columns named "
                         "PREFIX1, PREFIX2 ...); rename the items or write the codebook by hand")
    import yaml as _yaml

    from pipeline.core.io import write_text
    models = folder / "models"
    write_text(folder / "codebook.yaml",
               "# Codebook inferred by `python -m pipeline new-study`: check types, labels,\n"
               "# constructs and every item marked CONFIRM (reverse keys).\n"
               + _yaml.safe_dump(cb, allow_unicode=True, sort_keys=False, width=100))
    write_text(models / "cfa.lav", cfa_syntax(cb, src.name))
    sem = sem_syntax(cb, src.name)
    if sem:
        write_text(models / "sem.lav", sem)
    last = list(cons)
    example = (f"# example:\n# tests:\n#   - id: H1\n#     statement: {last[0]} predicts {last[-1]}\n"
               f"#     effect: \"{last[-1]} ~ {last[0]}\"\n#     test: wald\n#     direction: positive\n"
               if sem else "")
    write_text(models / "hypotheses.yaml", _HYPOTHESES.format(example=example))
    base = f"studies/{name}"
    wave: dict[str, Any] = {
        "study": name, "codebook": f"{base}/codebook.yaml", "raw": raw, "synthetic": False,
        "models": f"{base}/models",
        "sem": {"cfa_model": f"{base}/models/cfa.lav",
                "model": f"{base}/models/sem.lav" if sem else None},
        "hypotheses": f"{base}/models/hypotheses.yaml",
        "report": {"title": args.title or name},
    }
    if args.group:
        wave["groups"] = {"column": args.group}
        wave["demographics"] = {"by": args.group}
    study = {"title": args.title or name,
             "settings": {"screening": {"group_column": args.group}}}
    register_study(name, wave, study)
    rev = [v["name"] for v in cb["variables"] if v.get("reverse")]
    types: dict[str, int] = {}
    for v in cb["variables"]:
        types[v["type"]] = types.get(v["type"], 0) + 1
    print(f"study {name}: {len(df)} rows, {len(df.columns)} columns "
          f"({', '.join(f'{n} {t}' for t, n in types.items())})")
    print("constructs: " + "; ".join(f"{k} ({len(v)} items)" for k, v in cons.items()))
    if rev:
        print(f"CONFIRM reverse-keyed items (negative item-rest correlation): {', '.join(rev)}")
    print(f"wrote {base}/codebook.yaml, {base}/models/cfa.lav"
          + (f", {base}/models/sem.lav" if sem else "") + f", {base}/models/hypotheses.yaml")
    print(f"registered studies.{name} and waves.{name} in params.yaml; next: dvc repro "
          f"(builds reports/{name}/report.html)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
