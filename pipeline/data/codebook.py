"""Instrument codebooks: the single source of variable names, wording, codes.

One YAML file per instrument lives in ``studies/amirova2021/codebooks/`` (``cs2019``,
``cs2020``, ``citizens2020``), transcribed from the thesis annexes with the
line of every question.  :func:`load_codebook` validates the file's structure
and returns an immutable :class:`Codebook`; the loader
(:mod:`pipeline.data.loading`), the analyses and the reports take names, item
wording, answer codes, constructs, reverse keys, declared missing codes and
the names to redact from it, never from code.

YAML layout (see ``studies/amirova2021/codebooks/cs2019.yaml``)::

    instrument: cs2019
    title: "..."
    source: "Amirova (2021), Annex G, ..."
    source_line: 2785
    id_column: id
    names_to_redact: [..]
    scales: {..}                 # free-form, for YAML anchors only
    constructs:
      LEAD: {label: Leadership, role: independent, source_line: 2908}
    variables:
      - name: L1
        section: C
        type: likert            # id | categorical | likert | numeric | text | multi
        label: Transformational leader
        wording: "It is important that ..."
        codes: {1: Strongly Disagree, ..., 5: Strongly Agree}
        missing_codes: {9: No answer}
        construct: LEAD
        reverse: false
        required: true
        source_line: 2909
        # optional: options (questionnaire wording by code), note,
        #           min / max (numeric items)

Names (instrument, construct keys, variable names) follow
:mod:`pipeline.core.names`, the rule of the model syntax: letters of any
script (Cyrillic and Kazakh included), digits, ``_`` and ``.``
(``Лидер1``, ``clutched.up``).

In R: there is no single equivalent; the role is that of a ``labelled``/
``haven`` value-label set plus a lavaan model's indicator lists.
"""
from __future__ import annotations

import copy
import keyword
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from pipeline.core.io import read_yaml
from pipeline.core.names import is_name

__all__ = ["Variable", "Codebook", "load_codebook", "available_codebooks",
           "VARIABLE_TYPES", "normalize_label"]

#: The allowed values of a variable's ``type``.
VARIABLE_TYPES = ("id", "categorical", "likert", "numeric", "text", "multi")
_CODED = {"categorical", "likert", "multi"}
_TOP_KEYS = {"instrument", "title", "source", "source_line", "id_column",
             "names_to_redact", "scales", "constructs", "variables"}
_VAR_KEYS = {"name", "section", "type", "label", "wording", "codes",
             "missing_codes", "construct", "reverse", "required", "options",
             "note", "source_line", "min", "max"}


def normalize_label(text: Any) -> str:
    """Case-fold a label and collapse whitespace and quote variants.

    Used to match an answer written out as text (a Survio or Excel export
    stores "Strongly Agree", not 5) against a codebook label.
    """
    s = str(text).replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"')
    return " ".join(s.split()).casefold()


@dataclass(frozen=True)
class Variable:
    """One column of a raw file, as the codebook declares it.

    Attributes
    ----------
    name : str
        Column name in the raw file.
    section : str
        Questionnaire section (``A``, ``B`` ..., ``meta`` for id/org).
    type : str
        One of :data:`VARIABLE_TYPES`.
    label : str
        Short label for tables.
    wording : str
        The question or statement as printed in the thesis annex.
    codes : Mapping
        Stored code -> label (empty for ``id``, ``numeric``, ``text``).
    missing_codes : Mapping
        Codes declared as missing (-> NaN on loading, counted).
    construct : str or None
        Construct key for scale items.
    reverse : bool
        Reverse-keyed item (recoded ``min + max - x`` by
        :meth:`Codebook.apply_reverse_keying`).
    required : bool
        The column must be present in a raw file.
    options : Mapping
        The questionnaire's own wording of an option, where it differs from
        the label in ``codes`` (which follows the thesis's result tables).
    note : str
        Transcription notes.
    source_line : int or None
        Line of the question in the thesis text file.
    min, max : float or None
        Admissible range of a ``numeric`` item.
    """

    name: str
    section: str
    type: str
    label: str
    wording: str
    codes: Mapping[Any, str] = field(default_factory=dict)
    missing_codes: Mapping[Any, str] = field(default_factory=dict)
    construct: str | None = None
    reverse: bool = False
    required: bool = False
    options: Mapping[Any, str] = field(default_factory=dict)
    note: str = ""
    source_line: int | None = None
    min: float | None = None
    max: float | None = None

    @property
    def is_coded(self) -> bool:
        """True for categorical, likert and multi items."""
        return self.type in _CODED

    @property
    def numeric_codes(self) -> bool:
        """True when the codes are integers (False for e.g. ``org``)."""
        return self.is_coded and all(isinstance(c, int) for c in self.codes)

    @property
    def scale_min(self) -> int | None:
        return min(self.codes) if self.numeric_codes else None

    @property
    def scale_max(self) -> int | None:
        return max(self.codes) if self.numeric_codes else None

    def label_of(self, code: Any) -> str | None:
        """The label of *code* (``None`` when it is not a valid code)."""
        if code in self.codes:
            return self.codes[code]
        return self.missing_codes.get(code)

    def label_lookup(self) -> dict[str, Any]:
        """Normalised label/option text -> code, for answers stored as text."""
        out: dict[str, Any] = {}
        for code in (*self.codes, *self.missing_codes):
            if isinstance(code, str):
                out.setdefault(normalize_label(code), code)
        for source in (self.codes, self.options, self.missing_codes):
            for code, lab in source.items():
                out.setdefault(normalize_label(lab), code)
        return out

    def reverse_values(self, values: Any) -> Any:
        """Return ``min + max - values`` (NaN stays NaN)."""
        if not self.numeric_codes:
            raise ValueError(f"variable={self.name!r}: only integer-coded items can be reversed")
        return self.scale_min + self.scale_max - values


@dataclass(frozen=True)
class Codebook:
    """A validated instrument codebook (see the module docstring).

    Attributes
    ----------
    name : str
        Instrument name (``cs2019`` ...).
    title, source : str
    source_line : int or None
    path : pathlib.Path
        The YAML file.
    id_column : str
        Respondent id column (``"id"``).
    variables : Mapping[str, Variable]
        In questionnaire order.
    sections : Mapping[str, list[str]]
    constructs : Mapping[str, list[str]]
        Construct key -> item names, in order.
    construct_labels : Mapping[str, str]
        Construct key -> full name ("Leadership").
    likert_items : list[str]
    reverse_keyed : frozenset[str]
    text_items : list[str]
    names_to_redact : list[str]
    """

    name: str
    title: str
    source: str
    source_line: int | None
    path: Path
    id_column: str
    variables: Mapping[str, Variable]
    constructs: Mapping[str, list[str]]
    construct_labels: Mapping[str, str]
    names_to_redact: list[str]

    @property
    def columns(self) -> list[str]:
        return list(self.variables)

    @property
    def required_columns(self) -> list[str]:
        return [n for n, v in self.variables.items() if v.required]

    @property
    def sections(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for n, v in self.variables.items():
            out.setdefault(v.section, []).append(n)
        return out

    @property
    def likert_items(self) -> list[str]:
        return [n for n, v in self.variables.items() if v.type == "likert"]

    @property
    def reverse_keyed(self) -> frozenset[str]:
        return frozenset(n for n, v in self.variables.items() if v.reverse)

    @property
    def text_items(self) -> list[str]:
        return [n for n, v in self.variables.items() if v.type == "text"]

    def __getitem__(self, name: str) -> Variable:
        try:
            return self.variables[name]
        except KeyError:
            raise KeyError(f"codebook {self.name!r} has no variable {name!r}") from None

    def __contains__(self, name: object) -> bool:
        return name in self.variables

    def wording(self, name: str) -> str:
        """The question/statement of *name* as printed in the thesis."""
        return self[name].wording

    def construct_of(self, name: str) -> str | None:
        return self[name].construct

    def apply_reverse_keying(self, df: Any) -> Any:
        """Return a copy of *df* with every reverse-keyed item recoded.

        ``x -> min + max - x`` on the item's code range; columns not in *df*
        are skipped.  No thesis item is reverse-keyed, so for the shipped
        codebooks this returns an unchanged copy.
        """
        out = df.copy()
        for name in sorted(self.reverse_keyed):
            if name in out.columns:
                out[name] = self[name].reverse_values(out[name])
        return out

    def categorical(self, name: str, values: Any) -> Any:
        """Codes of item *name* as a pandas Categorical of labels, categories in code order.

        Every answer option is a category, also those nobody chose, so
        tables list them with a zero count.  NaN stays missing; a value
        that is not a code raises ``ValueError``.
        """
        import numpy as np
        import pandas as pd
        var = self[name]
        if not var.is_coded or var.type == "multi":
            raise ValueError(f"name={name!r}: not a single-choice coded item ({var.type})")
        s = pd.Series(values)
        # each distinct value is checked and labelled once (a Likert item has 5-10)
        codes, uniques = pd.factorize(s, use_na_sentinel=True)
        distinct = pd.Series(uniques).astype(object).tolist()
        bad = sorted({v for v in distinct if v not in var.codes}, key=str)
        if bad:
            raise ValueError(f"values: {bad[:10]} are not codes of {name!r} ({list(var.codes)})")
        labels = list(var.codes.values())
        position = {lab: i for i, lab in enumerate(labels)}
        per = np.array([position[var.codes[v]] for v in distinct] + [-1], dtype=np.int64)
        return pd.Categorical.from_codes(per[codes], categories=labels)

    def crosstab(self, data: Any, name: str, by: str | None = None) -> Any:
        """Counts of item *name* (rows: every answer label) by the groups of *by*.

        The input of :func:`pipeline.data.privacy.suppress_small_cells`, and of
        demographic tables such as the thesis's Table 11 (``by="org"``).
        Missing answers are not counted.
        """
        import pandas as pd
        rows = self.categorical(name, data[name].to_numpy())
        if by is None:
            out = pd.Series(rows).value_counts(sort=False).reindex(rows.categories, fill_value=0)
            return out.rename("n").to_frame().rename_axis(self[name].label)
        cols = self.categorical(by, data[by].to_numpy())
        tab = pd.crosstab(pd.Series(rows, name=self[name].label), pd.Series(cols, name=self[by].label),
                          dropna=False)
        return tab.reindex(index=rows.categories, columns=cols.categories, fill_value=0)

    def schema(self, *, columns: Any = None) -> Any:
        """A pandera schema of the *validated* data (after loading and recoding).

        Used at the stage boundary (``data/processed``) to check that what a
        stage reads is still what the codebook promises: the id unique and
        present, every coded item inside its codes (NaN allowed), numeric
        items inside ``min``/``max``.  The raw-file contract itself is
        :func:`pipeline.data.loading.read_raw` (its messages name file, column and
        row).

        Parameters
        ----------
        columns : iterable of str, optional
            Restrict the schema to these columns (default: every variable).
        """
        import pandera.pandas as pa

        cols = {}
        wanted = set(columns) if columns is not None else None
        for v in self.variables.values():
            if wanted is not None and v.name not in wanted:
                continue
            if v.type == "id":
                cols[v.name] = pa.Column(str, nullable=False, unique=True, coerce=True)
            elif v.type in ("likert", "categorical") and v.numeric_codes:
                cols[v.name] = pa.Column(float, pa.Check.isin([float(c) for c in v.codes]),
                                         nullable=True, coerce=True, required=v.required)
            elif v.type in ("likert", "categorical"):
                cols[v.name] = pa.Column(str, pa.Check.isin([str(c) for c in v.codes]),
                                         nullable=True, coerce=True, required=v.required)
            elif v.type == "numeric":
                checks = []
                if v.min is not None:
                    checks.append(pa.Check.ge(v.min))
                if v.max is not None:
                    checks.append(pa.Check.le(v.max))
                cols[v.name] = pa.Column(float, checks, nullable=True, coerce=True,
                                         required=v.required)
            else:
                cols[v.name] = pa.Column(object, nullable=True, required=False)
        return pa.DataFrameSchema(cols, strict=False, name=f"codebook {self.name}")

    def to_frame(self) -> Any:
        """The codebook as a tidy table (one row per variable), for reports."""
        import pandas as pd
        rows = []
        for v in self.variables.values():
            rows.append({
                "name": v.name, "section": v.section, "type": v.type,
                "label": v.label, "wording": v.wording,
                "codes": "; ".join(f"{c} = {lab}" for c, lab in v.codes.items()),
                "missing_codes": "; ".join(f"{c} = {lab}" for c, lab in v.missing_codes.items()),
                "construct": v.construct or "", "reverse": v.reverse,
                "required": v.required, "source_line": v.source_line,
            })
        return pd.DataFrame(rows)


# --------------------------------------------------------------------------
# loading and validation


def _folder(directory: str | Path | None) -> Path:
    if directory is not None:
        return Path(directory)
    from pipeline.core import paths
    return paths.CODEBOOKS


def available_codebooks(directory: str | Path | None = None) -> list[str]:
    """Names of the codebooks (``*.yaml``) in *directory* (default: the first study's
    ``studies/amirova2021/codebooks``, :data:`pipeline.core.paths.CODEBOOKS`)."""
    return sorted(p.stem for p in _folder(directory).glob("*.yaml"))


def _resolve(name: str | Path, directory: str | Path | None = None) -> Path:
    p = Path(name)
    if p.suffix in {".yaml", ".yml"}:
        if not p.exists():
            raise FileNotFoundError(f"codebook file not found: {p}")
        return p.resolve()
    cand = _folder(directory) / f"{name}.yaml"
    if not cand.exists():
        raise ValueError(f"name={str(name)!r}: no codebook of that name in {_folder(directory)}; "
                         f"available: {available_codebooks(directory)}")
    return cand.resolve()


def load_codebook(name: str | Path, directory: str | Path | None = None) -> Codebook:
    """Load and validate an instrument codebook.

    Parameters
    ----------
    name : str or path-like
        The path of a codebook YAML file, or an instrument name looked up in
        *directory*.
    directory : path, optional
        Folder of codebooks for a name (default: the first study's,
        :data:`pipeline.core.paths.CODEBOOKS`: ``"cs2019"``, ``"cs2020"``,
        ``"citizens2020"``).

    Returns
    -------
    Codebook

    Raises
    ------
    ValueError
        The file breaks the codebook structure; the message names the file,
        the variable and the key.

    In R: ``yaml::read_yaml`` plus hand-written checks.
    """
    path = _resolve(name, directory)
    # a private copy: a caller mutating a mapping cannot corrupt the cache
    return copy.deepcopy(_load_cached(str(path), path.stat().st_mtime_ns))


@lru_cache(maxsize=32)
def _load_cached(path: str, mtime: int) -> Codebook:  # noqa: ARG001 - cache key
    p = Path(path)
    try:
        raw = read_yaml(p)
    except yaml.YAMLError as exc:
        raise ValueError(f"{p}: not valid YAML: {exc}") from None
    return _build(raw, p)


def _err(path: Path, where: str, msg: str) -> ValueError:
    return ValueError(f"codebook {path}: {where}: {msg}")


def _codes(path: Path, where: str, key: str, value: Any) -> dict[Any, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _err(path, where, f"key {key!r} must be a mapping code -> label, got {type(value).__name__}")
    out: dict[Any, str] = {}
    for code, lab in value.items():
        if isinstance(code, bool) or not isinstance(code, (int, str)):
            raise _err(path, where, f"key {key!r}: code {code!r} must be an integer or a string")
        if isinstance(code, str) and not code.strip():
            raise _err(path, where, f"key {key!r}: empty code")
        if not isinstance(lab, (str, int, float)) or isinstance(lab, bool) or str(lab).strip() == "":
            raise _err(path, where, f"key {key!r}: code {code!r} needs a non-empty label")
        out[code] = str(lab)
    return out


def _build(raw: Any, path: Path) -> Codebook:
    if not isinstance(raw, Mapping):
        raise _err(path, "top level", "must be a mapping")
    unknown = set(raw) - _TOP_KEYS
    if unknown:
        raise _err(path, "top level", f"unknown key(s) {sorted(unknown)}; allowed: {sorted(_TOP_KEYS)}")
    for key in ("instrument", "variables"):
        if key not in raw:
            raise _err(path, "top level", f"missing key {key!r}")
    name = raw["instrument"]
    if not isinstance(name, str) or not is_name(name):
        raise _err(path, "key 'instrument'", f"must be a name (letters of any script, digits, "
                   f"'_' and '.'; a letter, '_' or '.' first), got {name!r}")
    id_column = raw.get("id_column", "id")
    if not isinstance(id_column, str):
        raise _err(path, "key 'id_column'", "must be a string")

    constructs_raw = raw.get("constructs") or {}
    if not isinstance(constructs_raw, Mapping):
        raise _err(path, "key 'constructs'", "must be a mapping key -> {label: ...}")
    construct_labels: dict[str, str] = {}
    for key, spec in constructs_raw.items():
        if not isinstance(key, str) or not is_name(key):
            raise _err(path, f"constructs.{key}", "construct key must be a name (letters of any "
                       "script, digits, '_' and '.'; a letter, '_' or '.' first)")
        if isinstance(spec, Mapping):
            label = spec.get("label")
        else:
            label = spec
        if not isinstance(label, str) or not label.strip():
            raise _err(path, f"constructs.{key}", "key 'label' must be a non-empty string")
        construct_labels[key] = label

    names = raw.get("names_to_redact") or []
    if not isinstance(names, list) or not all(isinstance(n, str) and n.strip() for n in names):
        raise _err(path, "key 'names_to_redact'", "must be a list of non-empty strings")

    vars_raw = raw["variables"]
    if not isinstance(vars_raw, list) or not vars_raw:
        raise _err(path, "key 'variables'", "must be a non-empty list")
    variables: dict[str, Variable] = {}
    for i, spec in enumerate(vars_raw):
        where = f"variables[{i}]"
        if not isinstance(spec, Mapping):
            raise _err(path, where, "must be a mapping")
        vname = spec.get("name")
        if not isinstance(vname, str) or not is_name(vname) or keyword.iskeyword(vname):
            raise _err(path, where, "key 'name' must be a name (letters of any script, digits, "
                       f"'_' and '.'; a letter, '_' or '.' first), got {vname!r}")
        where = f"variables[{i}] ({vname})"
        unknown = set(spec) - _VAR_KEYS
        if unknown:
            raise _err(path, where, f"unknown key(s) {sorted(unknown)}; allowed: {sorted(_VAR_KEYS)}")
        if vname in variables:
            raise _err(path, where, "key 'name': duplicate variable name")
        vtype = spec.get("type")
        if vtype not in VARIABLE_TYPES:
            raise _err(path, where, f"key 'type' must be one of {list(VARIABLE_TYPES)}, got {vtype!r}")
        for key in ("section", "label", "wording"):
            val = spec.get(key)
            if not isinstance(val, (str, int)) or isinstance(val, bool) or not str(val).strip():
                raise _err(path, where, f"key {key!r} must be a non-empty string")
        codes = _codes(path, where, "codes", spec.get("codes"))
        missing = _codes(path, where, "missing_codes", spec.get("missing_codes"))
        options = _codes(path, where, "options", spec.get("options"))
        if vtype in _CODED and not codes:
            raise _err(path, where, f"key 'codes' is required for a {vtype} item")
        if vtype not in _CODED and codes:
            raise _err(path, where, f"key 'codes' is not allowed for a {vtype} item")
        if codes and len({type(c) for c in codes}) > 1:
            raise _err(path, where, "key 'codes': mix integer and string codes")
        clash = set(codes) & set(missing)
        if clash:
            raise _err(path, where, f"key 'missing_codes': {sorted(clash, key=str)} also valid codes")
        stray = set(options) - set(codes)
        if stray:
            raise _err(path, where, f"key 'options': {sorted(stray, key=str)} not in 'codes'")
        if vtype == "likert":
            if not all(isinstance(c, int) for c in codes):
                raise _err(path, where, "key 'codes': a likert item needs integer codes")
            if sorted(codes) != list(range(min(codes), max(codes) + 1)) or len(codes) < 2:
                raise _err(path, where, "key 'codes': likert codes must be consecutive integers")
        for key in ("reverse", "required"):
            val = spec.get(key, False)
            if not isinstance(val, bool):
                raise _err(path, where, f"key {key!r} must be true or false, got {val!r}")
        reverse = spec.get("reverse", False)
        if reverse and vtype != "likert":
            raise _err(path, where, "key 'reverse': only likert items can be reverse-keyed")
        construct = spec.get("construct")
        if construct is not None:
            if construct not in construct_labels:
                raise _err(path, where, f"key 'construct': {construct!r} is not declared under "
                                        f"'constructs' {sorted(construct_labels)}")
            if vtype not in {"likert", "numeric"}:
                raise _err(path, where, "key 'construct': only likert/numeric items belong to a construct")
        lo, hi = spec.get("min"), spec.get("max")
        for key, val in (("min", lo), ("max", hi)):
            if val is not None and (vtype != "numeric" or isinstance(val, bool)
                                    or not isinstance(val, (int, float))):
                raise _err(path, where, f"key {key!r}: only a number, and only for numeric items")
        if lo is not None and hi is not None and lo > hi:
            raise _err(path, where, "key 'min' exceeds 'max'")
        sl = spec.get("source_line")
        if sl is not None and (isinstance(sl, bool) or not isinstance(sl, int) or sl < 1):
            raise _err(path, where, "key 'source_line' must be a positive integer")
        variables[vname] = Variable(
            name=vname, section=str(spec["section"]), type=vtype,
            label=str(spec["label"]), wording=str(spec["wording"]),
            codes=dict(codes), missing_codes=dict(missing),
            construct=construct, reverse=reverse, required=spec.get("required", False),
            options=dict(options), note=str(spec.get("note") or ""),
            source_line=sl, min=lo, max=hi)

    ids = [n for n, v in variables.items() if v.type == "id"]
    if ids != [id_column]:
        raise _err(path, "key 'id_column'",
                   f"exactly one variable of type 'id' named {id_column!r} is required, found {ids}")
    if not variables[id_column].required:
        raise _err(path, f"variables ({id_column})", "key 'required': the id column must be required")
    constructs: dict[str, list[str]] = {k: [] for k in construct_labels}
    for n, v in variables.items():
        if v.construct:
            constructs[v.construct].append(n)
    empty = [k for k, items in constructs.items() if not items]
    if empty:
        raise _err(path, "key 'constructs'", f"construct(s) {empty} have no items")
    title = raw.get("title") or name
    return Codebook(
        name=name, title=str(title), source=str(raw.get("source") or ""),
        source_line=raw.get("source_line"), path=path, id_column=id_column,
        variables=dict(variables),
        constructs=dict({k: list(v) for k, v in constructs.items()}),
        construct_labels=dict(construct_labels),
        names_to_redact=list(dict.fromkeys(names)))
