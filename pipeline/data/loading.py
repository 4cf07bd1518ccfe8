"""The raw-data contract: read a wave's raw file and validate it against its codebook.

A wave's raw file may be CSV (UTF-8, UTF-8 with BOM, cp1251 or kz1048),
Excel ``.xlsx`` or SPSS ``.sav``.  :func:`read_raw` reads it, maps answers to
the codebook's codes and checks every cell.  Every problem raises
:class:`~pipeline.core.exceptions.DataValidationError` naming the file, the
column(s) and the spreadsheet row(s) (header = row 1, first respondent =
row 2).  Problems in individual cells are collected, so one run reports all
of them.  Every silent-looking change is recorded in the result's log
(:class:`Recoding`): BOM stripped, encoding detected, empty rows dropped,
declared missing codes and SPSS user-missing values turned into NaN (counted
per column), labels written out as text mapped to codes, Excel floats
``5.0`` turned into codes ``5``.

The loader never writes anything.

Encodings
---------
A CSV is decoded strictly, never with replacement characters.  Without an
explicit ``encoding`` it is tried as UTF-8 (a BOM is stripped and logged);
if that fails, as cp1251, and the result is accepted only when it contains
no letters foreign to Russian and Kazakh (a kz1048 file read as cp1251 shows
``Ќ ћ Ў Ј ...`` where the Kazakh letters should be, and is then read as
kz1048, logged).  Whatever the encoding, decoded text is searched for
typical mojibake (``Р°Р``, ``вЂ``, ``Ð°``, ``Ã©``, U+FFFD): a file that was
decoded with the wrong code page before it was saved is an error naming the
column and rows, not silently loaded.

Big files
---------
A CSV is parsed by pandas' C parser into one categorical per column (its
distinct strings and a small integer code per row), with options that give
``csv.reader``'s cells: nothing turned into NaN, blank lines kept as
numbered rows, short rows padded.  A file the C parser refuses (a ragged
row, an unterminated quote) is read again record by record with
``csv.reader``, whose message names the row.  Every check (empty cell,
mojibake, decimal comma, label, code, range, missing code) runs once per
distinct value of a column (a Likert item has 5-10) and is broadcast to the
rows through the codes; float columns are written straight into one
float64 block.  1,000,000 rows x 53 columns validate in about 10-20 s with
a peak RSS of 0.7 GB on 2 cores (``benchmarks/bench_loader.py``).

CLI (:mod:`pipeline.cli.validate`)::

    python -m pipeline validate DATA --instrument cs2019
    python -m pipeline validate --wave cs2019
"""
from __future__ import annotations

import csv
import io
import logging
import math
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.data.codebook import Codebook, Variable, load_codebook, normalize_label
from pipeline.core.exceptions import DataValidationError

__all__ = ["read_raw", "read_table", "LoadResult", "Recoding", "find_mojibake",
           "detect_encoding", "FORMATS", "LIST_CAP"]

_LOG = logging.getLogger(__name__)

#: File suffixes the loader reads.
FORMATS = (".csv", ".txt", ".tsv", ".xlsx", ".xlsm", ".sav", ".zsav")

# ---------------------------------------------------------------- encodings

_HI = bytes(range(0x80, 0xC0))
_CP1251_HI = _HI.decode("cp1251", errors="ignore")
_KZ1048_HI = _HI.decode("kz1048", errors="ignore")
_CP1252_HI = _HI.decode("cp1252", errors="ignore")
# characters of the 0x80-0xBF block that real Russian/Kazakh text uses
_ALLOWED_HI = set("‚„…–—‘’“”•\xa0«»°№Ёё­Іі·©®§±")
_KAZAKH = set("ӘәҒғҚқҢңӨөҰұҮүҺһІі")
# letters/symbols that never occur in Russian or Kazakh survey text
_FOREIGN_CP1251 = "".join(sorted(set(_CP1251_HI) - _ALLOWED_HI))
_FOREIGN_RE = re.compile("[" + re.escape(_FOREIGN_CP1251) + "]")
_FOREIGN_KZ_RE = re.compile("[" + re.escape("".join(sorted(set(_KZ1048_HI) - _ALLOWED_HI - _KAZAKH))) + "]")
_MOJIBAKE_RES = [
    # UTF-8 Cyrillic decoded as cp1251/kz1048: "Р°Р±", "РџСЂ", "С–", "Т›"
    re.compile("(?:[РСТУ][" + re.escape("".join(sorted(set(_CP1251_HI + _KZ1048_HI)))) + "]){2,}"),
    # UTF-8 punctuation decoded as cp1251: "вЂ”", "вЂњ"
    re.compile("вЂ"),
    # UTF-8 Cyrillic/Latin decoded as latin-1/cp1252: "Ð°", "Ñ\x81", "Ã©", "Â«"
    re.compile("[ÐÑ][" + re.escape(_CP1252_HI) + "]"),
    re.compile("Ã[" + re.escape(_CP1252_HI) + "]"),
    re.compile("Â[\xa0«»°©®±·]"),
    # kz1048 Kazakh read as cp1251: "Ќызмет", "ћалыќ", "јдеп" (Қ ә ң ... became
    # Macedonian/Serbian/Belarusian letters inside Russian/Kazakh words)
    re.compile("[а-яА-ЯёЁәғқңөұүһіӘҒҚҢӨҰҮҺІ][ЌЋќћЎўЈјЅѕ]|[ЌЋќћЎўЈјЅѕ][а-яА-ЯёЁәғқңөұүһіӘҒҚҢӨҰҮҺІ]"),
    # text that already went through a replacing decoder
    re.compile("\ufffd"),
]


def find_mojibake(text: str) -> str | None:
    """Return the first mojibake-looking fragment of *text*, or ``None``.

    Detects UTF-8 text decoded as cp1251/kz1048 (``"Р°Р±"``, ``"вЂ"``), as
    latin-1/cp1252 (``"Ð°"``, ``"Ã©"``), kz1048 text decoded as cp1251
    (``"Ќызмет"``), and replacement characters.
    """
    if not isinstance(text, str) or text.isascii():
        return None
    for rx in _MOJIBAKE_RES:
        m = rx.search(text)
        if m:
            start = max(0, m.start() - 8)
            return text[start:m.end() + 8]
    return None


def _line_col_of(data: bytes, pos: int, delimiter: str | None) -> tuple[int, int | None, str]:
    """1-based line of byte *pos*, field index on that line, and a snippet."""
    line_start = data.rfind(b"\n", 0, pos) + 1
    line_no = data.count(b"\n", 0, pos) + 1
    prefix = data[line_start:pos].decode("ascii", errors="ignore")
    field_idx = None
    if delimiter:
        field_idx = prefix.count(delimiter)
    end = data.find(b"\n", pos)
    snippet = data[line_start:end if end >= 0 else len(data)][:80]
    return line_no, field_idx, _mask_pii(snippet.decode("ascii", errors="backslashreplace"))


def _header_name(data: bytes, delimiter: str | None, field_idx: int | None) -> list[str]:
    """The header name of field *field_idx* when the header line is plain ASCII."""
    if field_idx is None:
        return []
    first = data.split(b"\n", 1)[0].rstrip(b"\r")
    try:
        names = next(csv.reader([first.decode("ascii")], delimiter=delimiter or ","))
    except (UnicodeDecodeError, csv.Error, StopIteration):
        return []
    return [names[field_idx].strip()] if field_idx < len(names) and names[field_idx].strip() else []


@dataclass(frozen=True)
class Recoding:
    """One logged change the loader made to the raw file's content.

    Attributes
    ----------
    column : str
        The column concerned (``""`` for the whole file).
    action : str
        ``bom_stripped``, ``encoding``, ``empty_rows_dropped``,
        ``empty_columns_dropped``, ``empty_column``, ``declared_missing``,
        ``spss_user_missing``, ``label_to_code``, ``float_to_int``,
        ``spss_value_labels``, ``header_renamed``, ``absent_optional_column``.
    count : int
        Number of cells (or rows/columns) affected.
    detail : str
        Human-readable detail (e.g. which codes).
    rows : tuple of int
        Spreadsheet rows affected (header = row 1), where meaningful.
    """

    column: str
    action: str
    count: int
    detail: str = ""
    rows: tuple[int, ...] = ()


@dataclass
class LoadResult:
    """A validated raw file.

    Attributes
    ----------
    data : pandas.DataFrame
        One row per respondent, columns in codebook order; coded items as
        float codes (NaN = missing), ``org``-like string codes as str, text
        as str, multi-choice as ``"1;3"``.
    file : str
    instrument : str
    format : str
        ``csv``, ``xlsx`` or ``sav``.
    encoding : str or None
        The text encoding used (CSV; SAV as reported by the file).
    log : list of Recoding
    rows : list of int
        Spreadsheet row of each respondent in ``data``.
    n_rows_file : int
        Data rows in the file, including dropped empty rows.
    """

    data: pd.DataFrame
    file: str
    instrument: str
    format: str
    encoding: str | None
    log: list[Recoding] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)
    n_rows_file: int = 0

    def log_frame(self) -> pd.DataFrame:
        """The recoding log as a tidy table."""
        cols = ["column", "action", "count", "detail", "rows"]
        return pd.DataFrame([{"column": r.column, "action": r.action, "count": r.count,
                              "detail": r.detail, "rows": list(r.rows)} for r in self.log],
                            columns=cols)

    def counts(self, action: str) -> dict[str, int]:
        """Cells affected by one kind of recoding, per column."""
        out: dict[str, int] = {}
        for r in self.log:
            if r.action == action:
                out[r.column] = out.get(r.column, 0) + r.count
        return out

    @property
    def dropped_rows(self) -> list[int]:
        return [row for r in self.log if r.action == "empty_rows_dropped" for row in r.rows]

    def summary(self) -> str:
        lines = [f"{self.file}: instrument {self.instrument}, format {self.format}"
                 + (f", encoding {self.encoding}" if self.encoding else ""),
                 f"  {self.n_rows_file} data rows in the file, {len(self.data)} respondents loaded, "
                 f"{len(self.data.columns)} columns"]
        for r in self.log:
            where = f"{r.column}: " if r.column else ""
            rows = f" (rows {', '.join(map(str, r.rows[:10]))}{', ...' if len(r.rows) > 10 else ''})" \
                if r.rows else ""
            lines.append(f"  - {where}{r.action} x{r.count}" + (f" [{r.detail}]" if r.detail else "") + rows)
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "instrument": self.instrument, "format": self.format,
                "encoding": self.encoding, "n_rows_file": self.n_rows_file,
                "n_respondents": len(self.data),
                "log": [r.__dict__ | {"rows": list(r.rows)} for r in self.log]}


# ------------------------------------------------------------ raw cell grid

class _Col:
    """One column of the raw file, factorised: its distinct raw values and, per
    row, the index of the row's value (``-1``: no value, as in a short CSV row).

    Every check runs once per distinct value (a Likert column has 5-10) and is
    broadcast to the rows through ``codes``; per-value arrays built by
    :meth:`per_value` carry one extra element at the end for code ``-1``.
    """

    __slots__ = ("values", "codes", "_empty")

    def __init__(self, values: list[Any], codes: np.ndarray, empty: np.ndarray | None = None) -> None:
        self.values = values
        self.codes = codes
        self._empty = empty

    @classmethod
    def from_cells(cls, cells: Sequence[Any]) -> "_Col":
        """Factorise Python cell values exactly: ``5``, ``5.0`` and ``True`` stay
        distinct (an XLSX float is logged as such), NaN is one value."""
        index: dict[Any, int] = {}
        values: list[Any] = []
        codes = np.empty(len(cells), dtype=np.int64)
        for i, v in enumerate(cells):
            key = (v.__class__, "nan") if isinstance(v, float) and v != v else (v.__class__, v)
            k = index.get(key)
            if k is None:
                k = index[key] = len(values)
                values.append(v)
            codes[i] = k
        return cls(values, _small_codes(codes, len(values)))

    @classmethod
    def from_series(cls, s: pd.Series) -> "_Col":
        """A homogeneous column (SAV): factorised by pandas, values as Python objects
        (NaN and None become code -1, i.e. empty)."""
        codes, uniques = pd.factorize(s, use_na_sentinel=True)
        values = pd.Series(uniques).astype(object).tolist()
        return cls(values, _small_codes(codes, len(values)))

    def __len__(self) -> int:
        return len(self.codes)

    def per_value(self, fn: Any, missing: Any, dtype: Any = object) -> np.ndarray:
        """``fn(value)`` for each distinct value, plus *missing* for code ``-1``."""
        out = np.empty(len(self.values) + 1, dtype=dtype)
        out[:-1] = [fn(v) for v in self.values]
        out[-1] = missing
        return out

    def empty_values(self) -> np.ndarray:
        """Per distinct value (plus code ``-1``): is it an empty cell."""
        if self._empty is None:
            if all(type(v) is str for v in self.values):
                stripped = pd.Series(self.values, dtype=object).str.strip()
                self._empty = np.append(stripped.eq("").to_numpy(dtype=bool), True)
            else:
                self._empty = self.per_value(_is_empty, True, bool)
        return self._empty

    def used(self) -> np.ndarray:
        """Per distinct value: does any row hold it."""
        nv, codes = len(self.values), self.codes
        if codes.dtype in (np.int8, np.int16):        # -1 becomes the largest unsigned value
            counts = np.bincount(codes.view(np.uint8 if codes.dtype == np.int8 else np.uint16),
                                 minlength=nv)
            return counts[:nv] > 0
        return np.bincount(codes.astype(np.int64) + 1, minlength=nv + 1)[1:] > 0

    def take(self, keep: np.ndarray) -> "_Col":
        return _Col(self.values, self.codes[keep], self._empty)

    def cell(self, i: int) -> Any:
        k = int(self.codes[i])
        return "" if k < 0 else self.values[k]


def _small_codes(codes: np.ndarray, n_values: int) -> np.ndarray:
    for dt in (np.int8, np.int16, np.int32):
        if n_values < np.iinfo(dt).max:
            return codes.astype(dt, copy=False)
    return codes.astype(np.int64, copy=False)


@dataclass
class _Grid:
    header: list[str]
    columns: list[_Col]             # one per header cell, each as long as rownums
    rownums: np.ndarray             # spreadsheet row of each data row (header = 1)
    fmt: str
    encoding: str | None = None
    log: list[Recoding] = field(default_factory=list)
    sav_meta: Any = None
    sav_missing: dict[str, Any] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.rownums)

    def keep_rows(self, keep: np.ndarray) -> None:
        self.columns = [c.take(keep) for c in self.columns]
        self.rownums = self.rownums[keep]

    @classmethod
    def from_records(cls, header: list[str], rows: list[list[Any]], **kw: Any) -> "_Grid":
        cols = [_Col.from_cells([r[j] for r in rows]) for j in range(len(header))]
        return cls(header=header, columns=cols, rownums=np.arange(2, len(rows) + 2), **kw)


def _empty_mask(col: _Col) -> np.ndarray:
    """Per row: is the cell empty (None, NaN, blank text or absent)."""
    return col.empty_values()[col.codes]


def _empty_rows(grid: _Grid) -> np.ndarray:
    """Per row: is every cell of the row empty."""
    out = np.ones(grid.n, dtype=bool)
    for col in grid.columns:
        out &= _empty_mask(col)
    return out


#: At most this many names (columns, ids, labels) are listed in one error message.
LIST_CAP = 20


def _capped(items: Sequence[Any], cap: int = LIST_CAP) -> str:
    """``"a, b, c ... and 9,997 more"``: a list for an error message, truncated."""
    items = list(items)
    shown = ", ".join(map(str, items[:cap]))
    if len(items) > cap:
        shown += f" ... and {len(items) - cap:,} more"
    return shown


def _fail(path: Path, msg: str, columns: Sequence[str] | None = None,
          rows: Sequence[int] | None = None) -> DataValidationError:
    """The loader's error; long column lists are truncated in the message (the full
    list stays in ``.columns``), and the message itself is capped."""
    cols = list(columns) if columns else []
    shown_cols = [_show_name(c) for c in cols[:LIST_CAP]]
    if len(cols) > LIST_CAP:
        shown_cols.append(f"... and {len(cols) - LIST_CAP:,} more")
    if len(msg) > 4000:
        msg = msg[:4000] + f" ... [{len(msg) - 4000:,} more characters]"
    err = DataValidationError(msg, file=str(path), columns=shown_cols or None, rows=rows)
    err.columns = cols
    return err


def _show_name(name: Any) -> str:
    s = str(name)
    s = s if len(s) <= 60 else s[:57] + "..."
    return _mask_pii(s)


def _mask_pii(text: str) -> str:
    """*text* with personal data (e-mail, phone, IIN, handle, URL) replaced by tags:
    error messages quote cells, and a cell may hold a respondent's contact."""
    if not isinstance(text, str) or not any(ch.isdigit() or ch in "@." for ch in text):
        return text
    from pipeline.data.privacy import redact
    return redact(text)[0]


def detect_encoding(data: bytes, path: str | Path = "<bytes>",
                    encoding: str | None = None) -> tuple[str, str, list[Recoding]]:
    """Decode CSV bytes strictly; return ``(text, encoding, log)``.

    Parameters
    ----------
    data : bytes
    path : str or Path
        Only for messages.
    encoding : str, optional
        Force an encoding (still strict, still checked for mojibake by the
        caller).  ``None`` auto-detects UTF-8 (with or without BOM), then
        cp1251, then kz1048 as described in the module docstring.

    Raises
    ------
    DataValidationError
        The bytes do not decode, naming the row (line) and, where possible,
        the field of the first bad byte.
    """
    path = Path(path)
    log: list[Recoding] = []
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
        log.append(Recoding("", "bom_stripped", 1, "UTF-8 byte-order mark removed from the header"))
        if encoding and encoding.lower().replace("_", "-") not in {"utf-8", "utf8", "utf-8-sig"}:
            raise _fail(path, f"the file starts with a UTF-8 byte-order mark but encoding={encoding!r} "
                              "was requested", rows=[1])
        encoding = "utf-8"
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise _fail(path, f"starts with a UTF-16 byte-order mark but is not valid UTF-16: {exc.reason}") from None
        log.append(Recoding("", "encoding", 1, "UTF-16 (byte-order mark)"))
        return text, "utf-16", log
    delim = _sniff_delimiter_bytes(data)
    if encoding:
        try:
            text = data.decode(encoding)
        except LookupError:
            raise ValueError(f"encoding={encoding!r}: unknown encoding") from None
        except UnicodeDecodeError as exc:
            line, fld, snip = _line_col_of(data, exc.start, delim)
            raise _fail(path, f"cannot be decoded as {encoding} (byte 0x{data[exc.start]:02x}, "
                              f"field {fld + 1 if fld is not None else '?'} of the line: {snip!r}); "
                              "is it saved in another encoding (cp1251, kz1048, UTF-8)?",
                        columns=_header_name(data, delim, fld), rows=[line]) from None
        return text, encoding, log
    try:
        return data.decode("utf-8"), "utf-8", log
    except UnicodeDecodeError as exc:
        utf8_error = exc
    # Not UTF-8: a Windows Cyrillic code page?
    cp = data.decode("cp1251", errors="strict") if b"\x98" not in data else None
    if cp is not None and not _FOREIGN_RE.search(cp):
        log.append(Recoding("", "encoding", 1, "not UTF-8; decoded as cp1251 (no foreign letters)"))
        return cp, "cp1251", log
    try:
        kz = data.decode("kz1048")
    except UnicodeDecodeError:
        kz = None
    if kz is not None and not _FOREIGN_KZ_RE.search(kz):
        log.append(Recoding("", "encoding", 1, "not UTF-8; as cp1251 it shows non-Kazakh letters, "
                                               "decoded as kz1048"))
        return kz, "kz1048", log
    line, fld, snip = _line_col_of(data, utf8_error.start, delim)
    raise _fail(path, f"encoding not recognised: not UTF-8 (byte 0x{data[utf8_error.start]:02x}, field "
                      f"{fld + 1 if fld is not None else '?'} of the line: {snip!r}), and as cp1251 or "
                      "kz1048 it contains letters foreign to Russian and Kazakh; re-save the file as UTF-8 "
                      "or pass the right encoding", columns=_header_name(data, delim, fld), rows=[line])


def _sniff_delimiter(first_line: str) -> str | None:
    """The delimiter of a header line: the most frequent of , ; TAB outside quotes."""
    unquoted = re.sub(r'"[^"]*"', "", first_line)
    counts = {d: unquoted.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=counts.get)
    return best if counts[best] else None


def _sniff_delimiter_bytes(data: bytes) -> str | None:
    return _sniff_delimiter(data.split(b"\n", 1)[0].decode("latin-1"))


def _read_csv_grid(path: Path, encoding: str | None) -> _Grid:
    data = path.read_bytes()
    if not data.strip():
        raise _fail(path, "the file is empty (no header row)")
    text, enc, log = detect_encoding(data, path, encoding)
    if text.startswith("\ufeff"):
        text = text[1:]
        if not any(r.action == "bom_stripped" for r in log):
            log.append(Recoding("", "bom_stripped", 1, "byte-order mark removed from the header"))
    nul = text.find("\x00")
    if nul >= 0:
        raise _fail(path, "contains NUL characters: not a text CSV (a binary file saved as .csv?)",
                    rows=[text.count("\n", 0, nul) + 1])
    eol = text.find("\n")
    delim = _sniff_delimiter(text if eol < 0 else text[:eol]) or ","
    # the decoded text as UTF-8 bytes for the C parser; a UTF-8 file is parsed as it is
    if enc == "utf-8" and len(text) == len(data) - (3 if data.startswith(b"\xef\xbb\xbf") else 0):
        buf = data[3:] if data.startswith(b"\xef\xbb\xbf") else data     # ASCII: same bytes
    else:
        buf = text.encode("utf-8")
    del data, text
    grid = _parse_csv_fast(buf, delim)
    if grid is None:            # anything the C parser refuses: csv.reader names the row
        grid = _parse_csv_records(path, buf.decode("utf-8"), delim)
    grid.encoding, grid.log = enc, log
    return grid


def _parse_csv_fast(buf: bytes, delim: str) -> _Grid | None:
    """Parse with pandas' C parser into one categorical per column (the distinct
    strings and a small integer code per row), or ``None`` when the file is not
    a rectangular CSV (ragged rows, an unterminated quote): the caller then
    reads it record by record to name the row.

    The options give ``csv.reader``'s reading: every cell a string, nothing
    turned into NaN, blank lines kept as rows (their row numbers count),
    a short row padded with empty cells.
    """
    try:
        df = pd.read_csv(io.BytesIO(buf), sep=delim, header=None, index_col=False, dtype="category",
                         na_filter=False, keep_default_na=False, skip_blank_lines=False,
                         quotechar='"', doublequote=True, escapechar=None, comment=None,
                         skipinitialspace=False, encoding="utf-8", engine="c")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError, OverflowError):
        return None
    header: list[str] = []
    cols: list[_Col] = []
    for j in range(df.shape[1]):
        cat = df.iloc[:, j].array
        codes = np.asarray(cat.codes)
        values = list(cat.categories)
        if values and not all(isinstance(v, str) for v in values):
            return None
        header.append("" if codes[0] < 0 else values[codes[0]])
        cols.append(_Col(values, codes[1:]))
    if not header or not any(h.strip() for h in header):
        return None
    return _Grid(header=header, columns=cols, rownums=np.arange(2, len(df) + 1), fmt="csv")


def _parse_csv_records(path: Path, text: str, delim: str) -> _Grid:
    """Read *text* record by record with ``csv.reader``: the error names the row."""
    records: list[list[str]] = []
    try:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delim, strict=False)
        for rec in reader:
            records.append(rec)
    except csv.Error as exc:
        raise _fail(path, f"not a well-formed CSV file: {exc}", rows=[len(records) + 1]) from None
    if not records or not any(c.strip() for c in records[0]):
        raise _fail(path, "the first row (header) is empty", rows=[1])
    header = records[0]
    width = len(header)
    cells: list[list[Any]] = []
    for i, rec in enumerate(records[1:], start=2):
        if len(rec) > width:
            extra = rec[width:]
            if any(c.strip() for c in extra):
                raise _fail(path, f"row has {len(rec)} fields but the header has {width} "
                                  f"(unquoted delimiter {delim!r} in a cell?)", rows=[i])
            rec = rec[:width]
        elif len(rec) < width:
            rec = rec + [""] * (width - len(rec))
        cells.append(rec)
    return _Grid.from_records(header, cells, fmt="csv")


def _xlsx_value(v: Any) -> Any:
    if v is None:
        return None
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, (int, float)):
        return v
    if hasattr(v, "isoformat"):
        return v.isoformat()
    return str(v)


def _read_xlsx_grid(path: Path) -> _Grid:
    import openpyxl
    # openpyxl parses untrusted zip/XML: a damaged workbook can fail with zipfile,
    # zlib, XML, KeyError, ... errors; any of them means "not a readable workbook"
    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (MemoryError, RecursionError):
        raise
    except Exception as exc:  # noqa: BLE001 - see above
        raise _fail(path, f"not a readable .xlsx workbook: {type(exc).__name__}: {exc}") from None
    try:
        ws = wb.worksheets[0]
        # a sheet's declared dimension (<dimension ref="A1:A1"/>, as R's openpyxl-like
        # writers such as openxlsx leave it) can be wrong; read the cells that are there
        if hasattr(ws, "reset_dimensions"):
            ws.reset_dimensions()
        rows = [list(r) for r in ws.iter_rows(values_only=True)]
    except (MemoryError, RecursionError):
        raise
    except Exception as exc:  # noqa: BLE001
        raise _fail(path, f"not a readable .xlsx workbook: {type(exc).__name__}: {exc}") from None
    finally:
        wb.close()
    if not rows or all(v is None or str(v).strip() == "" for v in rows[0]):
        raise _fail(path, "the first row (header) of the first sheet is empty", rows=[1])
    width = max(len(r) for r in rows)
    if any(len(r) != width for r in rows):
        grid_log = [Recoding("", "sheet_dimension_ignored", 1,
                             "rows of unequal length (the sheet's declared dimension is wrong); "
                             "every cell present was read")]
    else:
        grid_log = []
    rows = [r + [None] * (width - len(r)) for r in rows]
    header = ["" if v is None else str(v) for v in rows[0]]
    cells = [[_xlsx_value(v) for v in r] for r in rows[1:]]
    del rows
    grid = _Grid.from_records(header, cells, fmt="xlsx", log=grid_log)
    del cells
    # Excel keeps formatted-but-empty trailing rows in the sheet dimension
    filled = np.flatnonzero(~_empty_rows(grid))
    last = int(filled[-1]) + 1 if len(filled) else 0
    trailing = grid.n - last
    if trailing:
        grid.keep_rows(np.arange(last))
        grid.log.append(Recoding("", "empty_rows_dropped", trailing,
                                 "trailing empty rows of the sheet (Excel artefact)"))
    return grid


def _read_sav_grid(path: Path, encoding: str | None) -> _Grid:
    import pyreadstat
    try:
        df, meta = pyreadstat.read_sav(str(path), user_missing=True, encoding=encoding)
    except (MemoryError, RecursionError):
        raise
    except Exception as exc:  # noqa: BLE001 - pyreadstat's ReadstatError etc. on a damaged file
        raise _fail(path, f"not a readable SPSS .sav file: {type(exc).__name__}: {exc}") from None
    log: list[Recoding] = []
    # SPSS user-missing values -> NaN, counted per column from the file's metadata
    user_vals: dict[str, list[Any]] = dict(getattr(meta, "missing_user_values", {}) or {})
    ranges: dict[str, list[dict[str, Any]]] = dict(getattr(meta, "missing_ranges", {}) or {})
    meta_missing: dict[str, tuple[list[Any], list[dict[str, Any]]]] = {}
    for col in df.columns:
        s = df[col]
        mask = pd.Series(False, index=s.index)
        vals = list(user_vals.get(col, []) or [])
        for r in ranges.get(col, []) or []:
            lo, hi = r.get("lo"), r.get("hi")
            if lo == hi:
                vals.append(lo)
            elif pd.api.types.is_numeric_dtype(s):
                mask |= s.between(lo, hi)
        if vals:
            mask |= s.isin(vals)
        n = int(mask.sum())
        if n:
            # each value found is logged as itself (97 x2, 98 x1, 99 x3), not as the
            # declared discrete value
            found = s[mask].value_counts()
            found = found.reindex(sorted(found.index, key=lambda v: (str(type(v)), v)))
            detail = "SPSS user-missing " + ", ".join(f"{_fmt_code(v)} x{int(c)}" for v, c in found.items())
            df.loc[mask, col] = np.nan
            rows = [int(i) + 2 for i in np.flatnonzero(mask.to_numpy())]
            log.append(Recoding(col, "spss_user_missing", n, detail, tuple(rows)))
        meta_missing.setdefault(col, (vals, ranges.get(col, []) or []))
    header = [str(c) for c in df.columns]
    cols = [_Col.from_series(df.iloc[:, j]) for j in range(df.shape[1])]
    grid = _Grid(header=header, columns=cols, rownums=np.arange(2, len(df) + 2), fmt="sav",
                 encoding=getattr(meta, "file_encoding", None), log=log, sav_meta=meta)
    grid.sav_missing = meta_missing
    return grid


def _fmt_code(v: Any) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _is_empty(v: Any) -> bool:
    if v is None:
        return True
    if isinstance(v, float) and math.isnan(v):
        return True
    return isinstance(v, str) and v.strip() == ""


def _suffix(path: Path) -> str:
    suf = path.suffix.lower()
    if suf not in FORMATS:
        raise _fail(path, f"unsupported file type {suf or '(none)'!r}; the loader reads "
                          f"{', '.join(FORMATS)}")
    return suf


def _read_grid(path: Path, encoding: str | None) -> _Grid:
    if not path.exists():
        raise FileNotFoundError(f"raw file not found: {path}")
    if path.is_dir():
        raise _fail(path, "is a directory, not a data file")
    suf = _suffix(path)
    if suf in {".xlsx", ".xlsm"}:
        return _read_xlsx_grid(path)
    if suf in {".sav", ".zsav"}:
        return _read_sav_grid(path, encoding)
    return _read_csv_grid(path, encoding)


# --------------------------------------------------------------- public API

def read_table(path: str | Path, *, encoding: str | None = None) -> pd.DataFrame:
    """Read a CSV, XLSX or SAV file as a plain DataFrame (no codebook).

    Encoding detection, BOM stripping and mojibake checks are those of
    :func:`read_raw`; empty trailing rows and columns are dropped; numbers
    are parsed (``"5"`` and ``5.0`` become 5; a numeric column with empty
    cells is float64 with NaN), everything else stays text.  A column whose
    cells are numbers, some written with a decimal comma (``5,0``, a
    Russian-locale export), is numeric as in :func:`read_raw`; the
    conversion is logged (``logging`` and ``df.attrs["recodings"]``).
    For SPSS files user-missing values become NaN.

    In R: ``readr::read_csv`` / ``readxl::read_xlsx`` / ``haven::read_sav``.
    """
    p = Path(path)
    grid = _read_grid(p, encoding)
    _clean_header(grid, p)
    _drop_empty_rows(grid)
    _check_mojibake(grid, p)
    log = list(grid.log)
    out: dict[str, Any] = {}
    for name, col in zip(grid.header, grid.columns):
        # per distinct value: None when empty, text stripped
        s = col.per_value(lambda v: None if _is_empty(v) else (v.strip() if isinstance(v, str) else v),
                          None)
        used = np.append(col.used(), False)
        present = used & np.array([v is not None for v in s], dtype=bool)
        # decimal commas (5,0 from a Russian-locale Excel) are numbers, as in read_raw
        commas = np.array([_decimal_comma(v) for v in s], dtype=bool) & used
        if commas.any():
            conv = s.copy()
            conv[commas] = [_as_number(v) for v in s[commas]]
            if pd.to_numeric(pd.Series(conv[present], dtype=object), errors="coerce").notna().all():
                rows = grid.rownums[commas[col.codes]].tolist()
                log.append(_comma_recoding(str(name), rows))
                s = conv
        num = pd.to_numeric(pd.Series(s[present], dtype=object), errors="coerce")
        if present.any() and num.notna().all():
            # whole numbers without gaps -> int64; with gaps float64 (NaN), as
            # pandas does: numpy-based statistics must not meet pd.NA
            cell_present = present[col.codes]
            vals = num.to_numpy()
            fvals = vals.astype(float)
            # (a whole number beyond int64, e.g. a 20-digit code, stays float64)
            if cell_present.all() and np.isfinite(fvals).all() and (vals % 1 == 0).all() \
                    and (np.abs(fvals) < 2.0 ** 63).all():
                per = np.zeros(len(s), dtype=np.int64)
                per[present] = vals.astype(np.int64)
                out[name] = per[col.codes]
            else:
                per = np.full(len(s), np.nan)
                per[present] = fvals
                out[name] = per[col.codes]
        else:
            out[name] = pd.Series(s[col.codes], dtype=object)
    df = pd.DataFrame(out, index=pd.RangeIndex(grid.n), columns=grid.header)
    # the conversions made (decimal commas, BOM, empty rows): printed by the commands
    df.attrs["recodings"] = [r.__dict__ | {"rows": list(r.rows)} for r in log]
    for r in log:
        if r.action == "decimal_comma":
            _LOG.info("%s: column %s: %d number(s) with a decimal comma read as decimals",
                      p, r.column, r.count)
    return df


def read_raw(path: str | Path, instrument: str | Codebook, *,
             encoding: str | None = None) -> LoadResult:
    """Read a raw survey file and validate it against the instrument's codebook.

    Parameters
    ----------
    path : str or Path
        A ``.csv`` (UTF-8, UTF-8 with BOM, cp1251, kz1048), ``.xlsx`` or
        ``.sav`` file.
    instrument : str or Codebook
        Codebook name (``"cs2019"``, ``"cs2020"``, ``"citizens2020"``), a
        codebook YAML path, or a loaded :class:`~pipeline.data.codebook.Codebook`.
    encoding : str, optional
        Force the CSV (or SAV) text encoding; by default it is detected.

    Returns
    -------
    LoadResult
        ``.data`` (validated, coded), ``.log`` (every recoding with counts
        and rows), ``.rows`` (spreadsheet row of each respondent).

    Raises
    ------
    DataValidationError
        Any breach of the contract, naming file, column(s) and row(s):
        undecodable or mojibake text, unknown/duplicated/missing required
        columns, an all-empty column, a duplicate or missing respondent id,
        text in a coded or numeric item, a code outside the item's codes
        that is not declared missing.
    FileNotFoundError
        *path* does not exist.

    In R: ``haven::read_sav(user_na = TRUE)`` followed by
    ``pointblank``/``validate`` rules.
    """
    p = Path(path)
    cb = instrument if isinstance(instrument, Codebook) else load_codebook(instrument)
    grid = _read_grid(p, encoding)
    _clean_header(grid, p)
    _match_columns(grid, p, cb)
    _drop_empty_rows(grid)
    n_rows_file = grid.n + sum(r.count for r in grid.log if r.action == "empty_rows_dropped")
    if not grid.n:
        raise _fail(p, "the file has a header but no data rows", rows=[1])
    _check_mojibake(grid, p)
    data, log = _validate_cells(grid, p, cb)
    return LoadResult(data=data, file=str(p), instrument=cb.name, format=grid.fmt,
                      encoding=grid.encoding, log=grid.log + log, rows=grid.rownums.tolist(),
                      n_rows_file=n_rows_file)


# ---------------------------------------------------------------- the checks

_INVISIBLE = "\ufeff\u200b\u200e\u200f\xa0"


def _clean_header(grid: _Grid, path: Path) -> None:
    cleaned = []
    for j, h in enumerate(grid.header):
        raw = "" if h is None else str(h)
        c = raw.strip().strip(_INVISIBLE).strip()
        if c != raw.strip() and "\ufeff" in raw:
            if not any(r.action == "bom_stripped" for r in grid.log):
                grid.log.append(Recoding(c, "bom_stripped", 1, "byte-order mark removed from a header cell"))
        cleaned.append(c)
    grid.header = cleaned
    # trailing (and interior) columns with neither a header nor any data: Excel artefacts
    keep, dropped = [], 0
    for j, h in enumerate(grid.header):
        if h:
            keep.append(j)
            continue
        filled = ~_empty_mask(grid.columns[j])
        if not filled.any():
            dropped += 1
            continue
        raise _fail(path, f"column {j + 1} (spreadsheet column {_col_letter(j)}) has data but no "
                          "header", columns=[f"#{j + 1}"], rows=grid.rownums[filled].tolist())
    if dropped:
        grid.log.append(Recoding("", "empty_columns_dropped", dropped,
                                 "columns with no header and no data (Excel artefact)"))
        grid.header = [grid.header[j] for j in keep]
        grid.columns = [grid.columns[j] for j in keep]
    seen: dict[str, int] = {}
    dups = []
    for h in grid.header:
        seen[h] = seen.get(h, 0) + 1
        if seen[h] == 2:
            dups.append(h)
    if dups:
        raise _fail(path, "duplicated column header(s)", columns=dups, rows=[1])
    bad = [h for h in grid.header if find_mojibake(h)]
    if bad:
        raise _fail(path, f"header looks like mojibake ({find_mojibake(bad[0])!r}): the file was decoded "
                          "with the wrong code page", columns=bad, rows=[1])


def _col_letter(j: int) -> str:
    s = ""
    j += 1
    while j:
        j, r = divmod(j - 1, 26)
        s = chr(65 + r) + s
    return s


def _wording_lookup(cb: Codebook) -> dict[str, str]:
    """Normalised question wording -> variable name, for wordings unique in the codebook.

    Survio and similar tools export the question text as the column header.
    """
    seen: dict[str, list[str]] = {}
    for n, v in cb.variables.items():
        for text in {v.wording, re.sub(r"\s*\((?:please|you can)[^)]*\)\s*$", "", v.wording)}:
            seen.setdefault(normalize_label(text), []).append(n)
    return {k: ns[0] for k, ns in seen.items() if len(set(ns)) == 1}


def _match_columns(grid: _Grid, path: Path, cb: Codebook) -> None:
    known = {n.casefold(): n for n in cb.variables}
    by_wording = _wording_lookup(cb)
    renamed = []
    header = []
    for h in grid.header:
        if h not in cb.variables and h.casefold() in known:
            renamed.append(f"{h} -> {known[h.casefold()]}")
            h = known[h.casefold()]
        elif h not in cb.variables and normalize_label(h) in by_wording:
            new = by_wording[normalize_label(h)]
            renamed.append(f"{h[:40]!r} -> {new}")
            h = new
        header.append(h)
    if renamed:
        grid.log.append(Recoding("", "header_renamed", len(renamed),
                                 "header matched by case or question wording: " + ", ".join(renamed)))
    if len(set(header)) != len(header):
        dups = sorted({h for h in header if header.count(h) > 1})
        raise _fail(path, "two header cells name the same codebook variable (case or question wording)",
                    columns=dups, rows=[1])
    grid.header = header
    unknown = [h for h in header if h not in cb.variables]
    if unknown:
        raise _fail(path, f"unknown column(s) not in codebook {cb.name!r} ({cb.path.name})",
                    columns=unknown, rows=[1])
    missing = [n for n in cb.required_columns if n not in header]
    if missing:
        raise _fail(path, f"required column(s) of codebook {cb.name!r} missing from the header",
                    columns=missing, rows=[1])


def _drop_empty_rows(grid: _Grid) -> None:
    empty = _empty_rows(grid)
    if empty.any():
        grid.log.append(Recoding("", "empty_rows_dropped", int(empty.sum()), "rows with no answer at all",
                                 tuple(grid.rownums[empty].tolist())))
        grid.keep_rows(~empty)


def _check_mojibake(grid: _Grid, path: Path) -> None:
    problems: list[tuple[str, list[int], str]] = []
    for h, col in zip(grid.header, grid.columns):
        frags = col.per_value(lambda v: find_mojibake(v) if isinstance(v, str) else None, None)
        bad = np.array([f is not None for f in frags], dtype=bool)
        if not bad.any():
            continue
        cells = np.flatnonzero(bad[col.codes])
        if len(cells):
            problems.append((h, grid.rownums[cells].tolist(), frags[col.codes[cells[0]]]))
    if problems:
        cols = [c for c, _, _ in problems]
        rows = sorted({n for _, rs, _ in problems for n in rs})
        detail = "; ".join(f"column {c} rows {', '.join(map(str, rs[:10]))}: {_mask_pii(frag)!r}"
                           for c, rs, frag in problems[:5])
        raise _fail(path, f"text looks like mojibake (UTF-8 decoded with the wrong code page somewhere "
                          f"before this file was saved, or the file read in the wrong encoding): {detail}",
                    columns=cols, rows=rows)


@dataclass
class _Problem:
    column: str
    rows: list[int]
    message: str


_INT_RE = re.compile(r"^[+-]?\d+(?:\.0*)?$")
_NUM_RE = re.compile(r"^[+-]?(?:\d+(?:[.,]\d*)?|[.,]\d+)(?:[eE][+-]?\d+)?$")


def _as_number(v: Any) -> float | None:
    """A cell as a number, or None when it is not a number (text)."""
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, np.integer)):
        return float(v)
    if isinstance(v, (float, np.floating)):
        return float(v) if math.isfinite(v) else None
    if isinstance(v, str):
        s = v.strip()
        if _NUM_RE.match(s):
            try:
                x = float(s.replace(",", "."))
            except ValueError:
                return None
            return x if math.isfinite(x) else None
    return None


_NAME_LIKE_RE = re.compile(r"\b[^\W\d_][^\W\d_]+\b")


def _looks_like_a_name(text: str) -> bool:
    """Two or more capitalised words ("Иванов Иван", "Aigerim Nurlanovna"): maybe a person."""
    words = _NAME_LIKE_RE.findall(text)
    return sum(w[0].isupper() for w in words) >= 2


def _show(v: Any) -> str:
    if isinstance(v, str):
        masked = _mask_pii(v)
        if _looks_like_a_name(masked):
            return f"[text masked, {len(v)} characters]"
        s = repr(masked)
    else:
        s = _fmt_code(v)
    return s if len(s) <= 40 else s[:37] + "..."


def _cell_list(pairs: list[tuple[int, Any]], limit: int = 8) -> str:
    out = ", ".join(f"row {n}: {_show(v)}" for n, v in pairs[:limit])
    if len(pairs) > limit:
        out += f", ... ({len(pairs)} cells in all)"
    return out


def _sav_label_map(grid: _Grid, col: str, var: Variable, path: Path,
                   log: list[Recoding]) -> dict[Any, Any] | None:
    """Map SPSS codes to codebook codes through the file's value labels."""
    meta = grid.sav_meta
    if meta is None:
        return None
    labels = (getattr(meta, "variable_value_labels", {}) or {}).get(col)
    if not labels:
        return None
    lookup = var.label_lookup()
    vals, ranges = grid.sav_missing.get(col, ([], []))

    def user_missing(code: Any) -> bool:
        # a label on a code the file declares missing (99 = "Refused"), or one the
        # codebook declares missing, says nothing about the codebook's answer codes
        if code in vals or _as_number(code) in {_as_number(v) for v in vals}:
            return True
        x = _as_number(code)
        if x is not None and any(r.get("lo") is not None and r["lo"] <= x <= r["hi"] for r in ranges):
            return True
        return x is not None and float(x).is_integer() and int(x) in var.missing_codes
    mapping, unmatched, ignored = {}, [], []
    for code, lab in labels.items():
        key = normalize_label(lab)
        if key in lookup:
            mapping[code] = lookup[key]
        elif user_missing(code):
            ignored.append((code, lab))
        else:
            unmatched.append((code, lab))
    if not mapping:
        return None          # labels unrelated to the codebook: codes are taken as they are
    if unmatched:
        raise _fail(path, "SPSS value labels disagree with the codebook: "
                          + _capped([f"{_fmt_code(c)} = {_show(lab)}" for c, lab in unmatched])
                          + f" (codebook: {dict(var.codes)})", columns=[col])
    if ignored:
        log.append(Recoding(col, "spss_missing_labels", len(ignored),
                            "value labels of user-missing codes (not answers): "
                            + _capped([f"{_fmt_code(c)} = {lab!r}" for c, lab in ignored])))
    changed = {c: m for c, m in mapping.items() if _as_number(c) != _as_number(m) and c != m}
    if changed:
        log.append(Recoding(col, "spss_value_labels", len(changed),
                            "codes remapped through value labels: "
                            + ", ".join(f"{_fmt_code(c)}->{_fmt_code(m)}" for c, m in changed.items())))
    return mapping


def _float_typed(var: Variable) -> bool:
    """Is the validated column of *var* float64 (numeric items, integer-coded items)."""
    return var.type == "numeric" or (var.is_coded and var.type != "multi" and var.numeric_codes)


def _validate_cells(grid: _Grid, path: Path, cb: Codebook) -> tuple[pd.DataFrame, list[Recoding]]:
    problems: list[_Problem] = []
    log: list[Recoding] = []
    n = grid.n
    present = dict(zip(grid.header, grid.columns))
    # every float64 column (coded items, numeric items, absent optional ones) is written
    # straight into one 2-D block, which becomes the frame without a copy
    float_cols = [name for name, var in cb.variables.items()
                  if (name in present and _float_typed(var))
                  or (name not in present and not (var.type in {"text", "multi"} or
                                                   (var.is_coded and not var.numeric_codes)))]
    block = np.empty((len(float_cols), n), dtype=np.float64)
    slot = {name: i for i, name in enumerate(float_cols)}
    other: dict[str, Any] = {}
    for col, column in present.items():
        var = cb[col]
        all_empty = not (~column.empty_values()[:-1] & column.used()).any()
        if all_empty and (var.required or var.type != "text"):
            problems.append(_Problem(col, [], "the column is empty in every row"))
            if col in slot:
                block[slot[col]] = np.nan
            else:
                other[col] = np.full(n, np.nan, dtype=object)
            continue
        if all_empty:
            log.append(Recoding(col, "empty_column", n, "optional text column with no answers"))
            other[col] = np.full(n, np.nan, dtype=object)
            continue
        if var.type == "id":
            other[col] = _check_id(column, grid, col, problems)
        elif var.type == "text":
            per = column.per_value(lambda v: None if _is_empty(v) else
                                   (v.strip() if isinstance(v, str) else _fmt_code(v)), None)
            other[col] = per[column.codes]
        elif var.type == "numeric":
            np.take(_check_numeric(column, grid, var, problems, log), column.codes, out=block[slot[col]], mode="wrap")
        elif var.type == "multi":
            other[col] = _check_multi(column, grid, var, problems, log)
        else:
            mapping = _sav_label_map(grid, col, var, path, log)
            per = _check_coded(column, grid, var, problems, log, mapping)
            if col in slot:
                np.take(per, column.codes, out=block[slot[col]], mode="wrap")
            else:
                other[col] = per[column.codes]
    if problems:
        if len(problems) == 1:
            p = problems[0]
            raise _fail(path, p.message, columns=[p.column], rows=p.rows)
        cols = list(dict.fromkeys(p.column for p in problems))
        rows = sorted({r for p in problems for r in p.rows})
        lines = [f"{len(problems)} problems:"] + [
            f"  - column {p.column}" + (f", row{'s' if len(p.rows) > 1 else ''} "
                                        f"{', '.join(map(str, p.rows[:20]))}"
                                        + (" ..." if len(p.rows) > 20 else "") if p.rows else "")
            + f": {p.message}" for p in problems[:LIST_CAP]]
        if len(problems) > LIST_CAP:
            lines.append(f"  ... and {len(problems) - LIST_CAP:,} more problems")
        err = _fail(path, "\n".join(lines), columns=cols, rows=rows)
        err.problems = problems  # type: ignore[attr-defined]
        raise err
    # absent optional columns: present as empty, logged
    for name, var in cb.variables.items():
        if name not in present:
            if name in slot:
                block[slot[name]] = np.nan
            else:
                other[name] = np.full(n, np.nan, dtype=object)
            log.append(Recoding(name, "absent_optional_column", n, "optional column not in the file; added empty"))
    df = pd.DataFrame(block.T, columns=float_cols, index=pd.RangeIndex(n), copy=False)
    with warnings.catch_warnings():
        # one block per non-float column, inserted in codebook order (no copy of the floats)
        warnings.simplefilter("ignore", pd.errors.PerformanceWarning)
        for pos, name in enumerate(cb.variables):
            if name not in slot:
                df.insert(pos, name, other[name] if isinstance(other[name], pd.Series)
                          else pd.Series(other[name], dtype=object, index=df.index, copy=False))
    return df, log


def _cells(grid: _Grid, column: _Col, mask: np.ndarray) -> list[tuple[int, Any]]:
    """(spreadsheet row, raw value) of the cells in *mask* (row order): for messages."""
    idx = np.flatnonzero(mask)
    return [(int(r), column.values[k]) for r, k in zip(grid.rownums[idx], column.codes[idx])]


def _id_key(v: Any) -> Any:
    if _is_empty(v):
        return None
    x = _as_number(v)
    if x is not None and float(x).is_integer() and abs(x) < 2 ** 63:
        return int(x)
    return str(v).strip()


def _check_id(column: _Col, grid: _Grid, col: str, problems: list[_Problem]) -> pd.Series:
    """Respondent ids: none missing, none repeated; "7", "07" and "7.0" are the same id.

    One key per distinct cell value (an integer where the value is a whole number,
    else the stripped text); plain digit strings, the usual case, are converted
    at once by numpy.
    """
    values = column.values
    nv = len(values)
    ikey = np.zeros(nv + 1, dtype=np.int64)
    is_int = np.zeros(nv + 1, dtype=bool)
    is_missing = np.ones(nv + 1, dtype=bool)
    skey: dict[int, str] = {}                       # value index -> text key
    plain = np.zeros(nv, dtype=bool)
    if nv and grid.fmt == "csv" and all(type(v) is str for v in values):
        # CSV text holds no NUL (refused on reading): a fixed-width unicode array whose
        # characters are ASCII digits up to the padding is a plain digit string
        arr = np.array(values, dtype=str)
        width = arr.dtype.itemsize // 4
        if 0 < width <= 18:
            u = arr.view(np.uint32).reshape(nv, width)
            plain = (((u >= 48) & (u <= 57)) | (u == 0)).all(axis=1) & (u[:, 0] != 0)
            if plain.any():
                ikey[:-1][plain] = arr[plain].astype(np.int64)
                is_int[:-1][plain] = True
                is_missing[:-1][plain] = False
        del arr
    used = column.used()
    for k in np.flatnonzero(~plain & used).tolist():   # (an unused value: the CSV header cell)
        key = _id_key(values[k])
        if key is None:
            continue
        is_missing[k] = False
        if isinstance(key, int):
            ikey[k], is_int[k] = key, True
        else:
            skey[k] = key
    missing = grid.rownums[is_missing[column.codes]].tolist()
    if missing:
        problems.append(_Problem(col, missing, "respondent id missing"))
    # one group per key; ints and texts never meet (a text key is never a whole number)
    if skey:
        keys = pd.Series([skey.get(k, ikey[k] if is_int[k] else None) for k in range(nv)], dtype=object)
        group_of_value, _ = pd.factorize(keys, use_na_sentinel=True)
    else:
        group_of_value, _ = pd.factorize(ikey[:-1])
        group_of_value[is_missing[:-1]] = -1
    group_of_value = np.append(group_of_value, -1)
    group = group_of_value[column.codes]
    present = np.flatnonzero(group >= 0)
    counts = np.bincount(group[present], minlength=int(group_of_value.max()) + 1)
    if (counts > 1).any():
        dup_rows = present[counts[group[present]] > 1]           # row order
        g = group[dup_rows]
        _, first = np.unique(g, return_index=True)
        dups: dict[str, list[int]] = {}
        for i in np.sort(first)[:10].tolist():                 # ids in the order of their first row
            k = int(column.codes[dup_rows[i]])
            name = skey[k] if k in skey else str(int(ikey[k]))
            dups[name] = grid.rownums[dup_rows[g == g[i]]].tolist()
        rows = grid.rownums[dup_rows].tolist()
        desc = "; ".join(f"id {_show(k) if not k.lstrip('-').isdigit() or len(k) >= 12 else k} in rows "
                         f"{_capped(rs, 5)}" for k, rs in dups.items())
        if len(first) > 10:
            desc += f"; ... and {len(first) - 10:,} more duplicated ids"
        problems.append(_Problem(col, rows, f"duplicate respondent id: {desc}"))
    used = np.append(used, False)
    if not missing and is_int[used].all():
        return pd.Series(ikey[column.codes], dtype="int64")
    strs = np.array([skey[k] if k in skey else (str(int(ikey[k])) if is_int[k] else None)
                     for k in range(nv)] + [None], dtype=object)
    return pd.Series(strs[column.codes], dtype=object)


# classes of a coded cell, decided once per distinct value
_OK, _TEXT, _FRAC, _RANGE, _MISSING, _EMPTY = range(6)


def _mask(per: np.ndarray, column: _Col, cls: int, used: np.ndarray) -> np.ndarray | None:
    """Per cell: is its value of class *cls*; ``None`` when no cell is (nothing built)."""
    hit = per == cls
    hit[:-1] &= used
    return hit[column.codes] if hit.any() else None


def _check_coded(column: _Col, grid: _Grid, var: Variable, problems, log, sav_map) -> np.ndarray:
    """Check a coded item; return its code per distinct value (and code -1): float,
    or object for string codes, NaN/None where the cell is empty or not valid."""
    col = var.name
    lookup = var.label_lookup()
    str_codes = not var.numeric_codes
    code_fold = {str(c).casefold(): c for c in var.codes} | {str(c).casefold(): c for c in var.missing_codes}
    fmt = grid.fmt

    def classify(v: Any) -> tuple[int, Any, bool, bool, bool]:
        """(class, code, written as a label, decimal comma, stored as a decimal)."""
        if _is_empty(v):
            return _EMPTY, None, False, False, False
        label = comma = flt = False
        code: Any = None
        if sav_map is not None and v in sav_map:
            code = sav_map[v]
        elif str_codes:
            s = str(v).strip() if not isinstance(v, float) else _fmt_code(v)
            if s in var.codes or s in var.missing_codes:
                code = s
            elif s.casefold() in code_fold:
                code = code_fold[s.casefold()]
            elif normalize_label(s) in lookup:
                code = lookup[normalize_label(s)]
                label = True
            else:
                return _RANGE, None, False, False, False
        else:
            x = _as_number(v)
            if x is None:
                key = normalize_label(v)
                if key in lookup:
                    code = lookup[key]
                    label = True
                else:
                    return _TEXT, None, False, False, False
            elif not float(x).is_integer():
                return _FRAC, None, False, False, False
            else:
                code = int(x)
                if _decimal_comma(v):
                    comma = True
                elif fmt != "sav" and (isinstance(v, float) or (isinstance(v, str) and "." in v)):
                    flt = True
        if code in var.missing_codes:
            return _MISSING, code, label, comma, flt
        if code in var.codes:
            return _OK, code, label, comma, flt
        return _RANGE, None, label, comma, flt

    info = [classify(v) for v in column.values] + [(_EMPTY, None, False, False, False)]
    per_cls = np.array([i[0] for i in info], dtype=np.int8)
    used = column.used()
    valid = ", ".join(map(str, var.codes))
    miss = ", ".join(map(str, var.missing_codes)) or "none"
    if (m := _mask(per_cls, column, _TEXT, used)) is not None:
        cells = _cells(grid, column, m)
        problems.append(_Problem(col, [r for r, _ in cells],
                                 f"text in a coded item ({_cell_list(cells)}); expected one of the "
                                 f"codes {valid} or their labels"))
    if (m := _mask(per_cls, column, _FRAC, used)) is not None:
        cells = _cells(grid, column, m)
        problems.append(_Problem(col, [r for r, _ in cells],
                                 f"not a whole-number code ({_cell_list(cells)}); valid codes {valid}"))
    if (m := _mask(per_cls, column, _RANGE, used)) is not None:
        cells = _cells(grid, column, m)
        problems.append(_Problem(col, [r for r, _ in cells],
                                 f"code outside the item's codes ({_cell_list(cells)}); valid codes "
                                 f"{valid}; declared missing codes {miss}"))
    if (m := _mask(per_cls, column, _MISSING, used)) is not None:
        code_of = np.array([i[1] if i[0] == _MISSING else None for i in info], dtype=object)
        idx = np.flatnonzero(m)
        by_code: dict[Any, list[int]] = {}                      # in the order of first rows
        for c, r in zip(code_of[column.codes[idx]].tolist(), grid.rownums[idx].tolist()):
            by_code.setdefault(c, []).append(r)
        for code, rows in by_code.items():
            log.append(Recoding(col, "declared_missing", len(rows),
                                f"code {code} ({var.missing_codes[code]}) -> NaN", tuple(rows)))
    label = np.array([i[2] for i in info], dtype=bool)
    if label.any():
        n_label = int(label[column.codes].sum())
        if n_label:
            log.append(Recoding(col, "label_to_code", n_label, "answers written as labels mapped to codes"))
    flt = np.array([i[4] for i in info], dtype=bool)
    if flt.any():
        n_float = int(flt[column.codes].sum())
        if n_float:
            log.append(Recoding(col, "float_to_int", n_float, "whole numbers stored as decimals (5.0 -> 5)"))
    comma = np.array([i[3] for i in info], dtype=bool)
    if comma.any():
        comma = comma[column.codes]
        if comma.any():
            log.append(_comma_recoding(col, grid.rownums[comma].tolist()))
    if str_codes:
        return np.array([i[1] if i[0] == _OK else None for i in info], dtype=object)
    # float codes per distinct value; the caller takes them to the rows
    return np.array([float(i[1]) if i[0] == _OK else np.nan for i in info], dtype=float)


_SPLIT_RE = re.compile(r"\s*[;,|]\s*")


def _check_multi(column: _Col, grid: _Grid, var: Variable, problems, log) -> np.ndarray:
    col = var.name
    lookup = var.label_lookup()

    def classify(v: Any) -> tuple[int, Any]:
        if _is_empty(v):
            return _EMPTY, None
        x = None if isinstance(v, str) else _as_number(v)
        parts = [x] if x is not None else [p for p in _SPLIT_RE.split(str(v).strip()) if p]
        codes: list[Any] = []
        for part in parts:
            num = part if isinstance(part, float) else _as_number(part)
            if num is not None and float(num).is_integer():
                c = int(num)
            elif isinstance(part, str) and normalize_label(part) in lookup:
                c = lookup[normalize_label(part)]
            else:
                return _TEXT, None
            if c not in var.codes and c not in var.missing_codes:
                return _RANGE, None
            codes.append(c)
        if any(c in var.missing_codes for c in codes):
            return (_RANGE, None) if len(codes) > 1 else (_MISSING, None)
        return _OK, ";".join(str(c) for c in sorted(set(codes)))

    info = [classify(v) for v in column.values] + [(_EMPTY, None)]
    per_cls = np.array([i[0] for i in info], dtype=np.int8)
    used = column.used()
    valid = ", ".join(map(str, var.codes))
    if (m := _mask(per_cls, column, _TEXT, used)) is not None:
        cells = _cells(grid, column, m)
        problems.append(_Problem(col, [r for r, _ in cells],
                                 f"not a list of codes ({_cell_list(cells)}); expected codes {valid} "
                                 "separated by ';'"))
    if (m := _mask(per_cls, column, _RANGE, used)) is not None:
        cells = _cells(grid, column, m)
        problems.append(_Problem(col, [r for r, _ in cells],
                                 f"code outside the item's codes, or a missing code combined with answers "
                                 f"({_cell_list(cells)}); valid codes {valid}"))
    if (m := _mask(per_cls, column, _MISSING, used)) is not None:
        rows = grid.rownums[m].tolist()
        log.append(Recoding(col, "declared_missing", len(rows), "declared missing code -> NaN",
                            tuple(rows)))
    per = np.array([i[1] for i in info], dtype=object)
    return per[column.codes]


def _check_numeric(column: _Col, grid: _Grid, var: Variable, problems, log) -> np.ndarray:
    """Check a numeric item; return its value per distinct value (and code -1)."""
    col = var.name

    def classify(v: Any) -> tuple[int, float, bool]:
        """(class, value, decimal comma)."""
        if _is_empty(v):
            return _EMPTY, np.nan, False
        x = _as_number(v)
        if x is None:
            return _TEXT, np.nan, False
        comma = _decimal_comma(v)
        if float(x).is_integer() and int(x) in var.missing_codes:
            return _MISSING, np.nan, comma
        if (var.min is not None and x < var.min) or (var.max is not None and x > var.max):
            return _RANGE, np.nan, comma
        return _OK, x, comma

    info = [classify(v) for v in column.values] + [(_EMPTY, np.nan, False)]
    per_cls = np.array([i[0] for i in info], dtype=np.int8)
    used = column.used()
    if (m := _mask(per_cls, column, _TEXT, used)) is not None:
        cells = _cells(grid, column, m)
        problems.append(_Problem(col, [r for r, _ in cells],
                                 f"text in a numeric item ({_cell_list(cells)})"))
    if (m := _mask(per_cls, column, _RANGE, used)) is not None:
        cells = _cells(grid, column, m)
        problems.append(_Problem(col, [r for r, _ in cells],
                                 f"value outside [{var.min}, {var.max}] ({_cell_list(cells)})"))
    if (m := _mask(per_cls, column, _MISSING, used)) is not None:
        rows = grid.rownums[m].tolist()
        log.append(Recoding(col, "declared_missing", len(rows), "declared missing code -> NaN",
                            tuple(rows)))
    comma = np.array([i[2] for i in info], dtype=bool)[column.codes]
    if comma.any():
        log.append(_comma_recoding(col, grid.rownums[comma].tolist()))
    # values per distinct value; the caller takes them to the rows
    return np.array([i[1] for i in info], dtype=float)


def _decimal_comma(v: Any) -> bool:
    """A text cell holding a number written with a decimal comma (``5,0``, ``3,75``)."""
    return isinstance(v, str) and "," in v and bool(_NUM_RE.match(v.strip()))


def _comma_recoding(col: str, rows: Sequence[int]) -> Recoding:
    return Recoding(col, "decimal_comma", len(rows),
                    "numbers written with a decimal comma (5,0 -> 5.0; a Russian-locale export)",
                    tuple(rows))
