"""Protecting respondents: free-text redaction and small-cell suppression.

Free text
    :func:`redact` removes e-mail addresses (also spelled out: ``name at
    mail dot kz``, ``name (собака) mail (точка) kz``), URLs (with a scheme,
    ``www.``, or a bare domain with any top-level domain such as
    ``egov.kz`` or ``shop.xyz``; file names such as ``report.pdf`` are
    not URLs), phone numbers (Kazakh ``+7`` / ``8`` formats with spaces,
    dashes, dots and brackets, 10-digit mobiles, other ``+``-international
    numbers, short numbers after "тел./tel./phone"), 12-digit IINs (also
    written in groups: ``YYMMDD XXXXXX``, ``9001 0130 0123``,
    ``900101-300-123``; a grouped number counts as an IIN when its first
    six digits are a date and the seventh is a century digit 1-6),
    messenger handles (``@name``) and the personal names the wave's codebook
    lists (``names_to_redact``).  Names are matched on a transliteration
    skeleton, so ``Tokayev``, ``Tokaev``, ``Токаев`` and ``ТОКАЕВЫМ`` are
    one name, as are ``Жайлганова``, ``Жайлғанова`` and ``Zhaylganova``;
    a Cyrillic surname is matched with up to three letters of case ending,
    a Latin one with ``'s``.  Each match is replaced by a tag (``[EMAIL]``,
    ``[URL]``, ``[PHONE]``, ``[IIN]``, ``[HANDLE]``, ``[NAME]``) and counted.
    :func:`redact_frame` applies it to the text columns of a DataFrame and
    :func:`redact_wave` to every text item of a codebook.

Tables
    :func:`suppress_small_cells` applies primary suppression (counts
    ``0 < n < k``) and complementary suppression, so that no row or column
    total (nor the grand total) lets a reader recover a suppressed cell by
    subtraction.  It returns the internal numbers (for reproduction checks)
    and a display table where primary cells show ``"<k"`` and complementary
    cells ``"[c]"``, with a note to print under the table.

Pseudonyms
    :func:`pseudonymize` replaces identifiers that are themselves personal
    data (an e-mail address, an IIN, a phone number used as respondent id)
    by stable pseudonyms ``r-<16 hex>``: the first 64 bits of
    HMAC-SHA256(key, id).  The same key gives the same pseudonym in every
    run (so waves can still be linked); without the key the id cannot be
    recovered by hashing candidate e-mails or IINs.  The key is an explicit
    argument; :func:`pseudonym_key` reads it from the environment variable
    ``PIPELINE_PSEUDONYM_KEY`` when the caller has no setting.

In R: ``sdcTable::protectTable(method = "SIMPLEHEURISTIC")`` for the
suppression; ``digest::hmac(key, x, "sha256")`` for the pseudonyms; no
single R equivalent for the redaction.
"""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["redact", "redact_frame", "redact_wave", "find_pii", "scan_files", "PII_KINDS", "TAGS",
           "suppress_small_cells", "SuppressionResult", "default_k", "name_skeleton",
           "pseudonymize", "pseudonym_key", "looks_like_pii", "pseudonymize_ids", "PSEUDONYM_ENV"]

#: The kinds of personal data :func:`redact` removes, in the order applied.
PII_KINDS = ("email", "url", "iin", "phone", "handle", "name")
TAGS = {"email": "[EMAIL]", "url": "[URL]", "iin": "[IIN]", "phone": "[PHONE]", "handle": "[HANDLE]",
        "name": "[NAME]"}

_SEP = r"[\s\-\u2010-\u2015().\u00a0]"
_SEP_KW = r"[\s\-\u2010-\u2015.()\u00a0]"
_EMAIL_RE = re.compile(
    r"(?<![\w.+-])[\w.+-]+\s?(?:@|\(at\)|\[at\]|\(собака\))\s?[\w-]+(?:\.[\w-]+)*\.[^\W\d_]{2,}(?![\w-])",
    re.IGNORECASE)
# spelled out: "name at mail dot kz", "name (at) gmail (dot) com", "имя собака mail точка ru"
_AT = r"(?:\(at\)|\[at\]|\{at\}|\bat\b|\(собака\)|\bсобака\b|\(эт\)|\bэт\b)"
_DOT = r"(?:\(dot\)|\[dot\]|\{dot\}|\bdot\b|\(точка\)|\bточка\b|\.)"
_TLDS = ("kz|ru|com|org|net|gov|edu|info|io|me|by|uz|kg|su|ua|de|uk|us|co|tv|ai|app|dev|xyz|"
         "online|site|shop|store|biz|pro|рф|қаз")
_EMAIL_SPELLED_RE = re.compile(
    r"(?<![\w.+-])[\w.+-]+\s*" + _AT + r"\s*[\w-]+(?:\s*" + _DOT + r"\s*[\w-]+)*\s*" + _DOT
    + r"\s*(?:" + _TLDS + r")(?![\w-])", re.IGNORECASE)
_URL_TRAIL = ".,;:!?)]}»\"'"
# a bare domain: labels of letters/digits/hyphens, then a top-level domain of 2-24
# letters (ASCII, or a Cyrillic national one); file names (report.pdf) excluded below
_URL_RE = re.compile(
    r"(?:\b(?:https?|ftp)://|\bwww\.)[^\s<>\"«»]+"
    r"|(?<![\w@.-])(?:[^\W_](?:[\w-]*[^\W_])?\.)+(?P<tld>[a-zA-Z]{2,24}|рф|қаз|бел|укр|срб|мон|РФ|ҚАЗ)"
    r"(?:/[^\s<>\"«»]*)?(?![\w-])")
_FILE_EXT = {"pdf", "doc", "docx", "xls", "xlsx", "xlsm", "csv", "txt", "ppt", "pptx", "jpg", "jpeg", "png",
             "gif", "zip", "rar", "sav", "rtf", "odt", "ods", "mp3", "mp4", "avi", "mov", "exe", "tex",
             "py", "html", "htm", "gz", "tar", "7z", "json", "xml", "yaml", "yml", "md", "js", "css",
             "svg", "heic", "webp", "docm", "pptm", "dat", "log", "bak", "tmp"}
# "fine.but we ..." (a missing space after a full stop) is not a URL: a bare
# domain of one dot whose "top-level domain" is a common word is left alone
_NOT_TLD_WORDS = {"a", "i", "but", "and", "the", "so", "we", "it", "is", "in", "to", "he", "she", "they",
                  "if", "or", "as", "at", "on", "my", "our", "all", "not", "no", "yes", "also", "then",
                  "this", "that", "there", "what", "which", "when", "thanks", "thank", "please", "be",
                  "do", "an", "of", "for", "with", "you", "your", "me", "us", "by", "am", "are", "was",
                  "were", "can", "will", "would", "should", "more", "less", "very", "just", "now", "how",
                  "why", "who", "its", "his", "her", "their", "them", "one", "two", "see", "new", "good",
                  "bad", "ok", "okay", "etc"}
_IIN_RE = re.compile(
    r"(?<![\d+])(?:\d{12}|\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])[\s\-.]\d{6})(?!\d)")
# twelve digits in groups (9001 0130 0123, 900101-300-123): an IIN when the first six
# digits are a date YYMMDD and the seventh a century/sex digit 1-6
_IIN_GROUPED_RE = re.compile(r"(?<![\d+])\d(?:[ \-.\u00a0]?\d){11}(?![ \-.\u00a0]?\d)")
# messenger handles: @name (Telegram 5-32, Instagram 1-30 characters); not the @ of an e-mail
_HANDLE_RE = re.compile(r"(?<![\w.@])@[A-Za-z0-9_](?:[A-Za-z0-9_.]*[A-Za-z0-9_])?")
_PHONE_RES = [
    # Kazakhstan (and Russia): +7 / 8 / 7 and ten digits, any grouping
    re.compile(r"(?<![\w+])(?:\+\s?7|8|7)" + _SEP + r"*(?:\d" + _SEP + r"*){9}\d(?!\d)"),
    # a Kazakh mobile/city number without the trunk prefix: ten digits starting with 7
    re.compile(r"(?<![\w+])7" + _SEP + r"*(?:\d" + _SEP + r"*){8}\d(?!\d)"),
    # any other international number: +CCC and 7-14 more digits
    re.compile(r"(?<![\w+])\+\s?\d(?:" + _SEP + r"*\d){7,13}(?!\d)"),
    # short/city numbers announced as phone numbers
    re.compile(r"(?i)(?<=\b)(?:тел(?:ефон)?|моб(?:ильный)?|tel|phone|whats\s?app|ватсап|вотсап)\.?:?\s*"
               r"(\d(?:" + _SEP_KW + r"*\d){4,})"),
]
_CYR = "а-яёәғқңөұүһі"
_CYR_RE = re.compile(f"[{_CYR}]", re.IGNORECASE)

# Russian/Kazakh Cyrillic -> Latin (one of the usual transliterations; the
# skeleton below removes the differences between the others)
_TRANSLIT = {
    "а": "a", "ә": "a", "б": "b", "в": "v", "г": "g", "ғ": "g", "д": "d", "е": "e", "ё": "e",
    "ж": "zh", "з": "z", "и": "i", "й": "i", "і": "i", "к": "k", "қ": "k", "л": "l", "м": "m",
    "н": "n", "ң": "n", "о": "o", "ө": "o", "п": "p", "р": "r", "с": "s", "т": "t", "у": "u",
    "ұ": "u", "ү": "u", "ф": "f", "х": "kh", "һ": "h", "ц": "ts", "ч": "ch", "ш": "sh", "щ": "sh",
    "ъ": "", "ы": "y", "ь": "", "э": "e", "ю": "yu", "я": "ya",
    # Kazakh Latin (2018/2021) and Turkish-style letters
    "ş": "sh", "ç": "ch", "ğ": "g", "ı": "i", "ñ": "n", "ä": "a", "ö": "o", "ü": "u", "ū": "u",
    "'": "", "’": "", "`": "",
}
_SKELETON_RULES = [("dzh", "j"), ("shch", "sh"), ("zh", "j"), ("dj", "j"), ("kh", "h"), ("gh", "g"),
                   ("ts", "c"), ("tz", "c"), ("ph", "f"), ("x", "ks"), ("q", "k"), ("w", "v"),
                   ("ye", "e"), ("ie", "e"), ("je", "e"), ("yu", "u"), ("iu", "u"), ("ju", "u"),
                   ("ya", "a"), ("ia", "a"), ("ja", "a"), ("yo", "o"), ("io", "o"), ("jo", "o"),
                   ("y", "i"), ("j", "i")]


def name_skeleton(word: str) -> str:
    """A transliteration-insensitive key of a name (or a word).

    Cyrillic (Russian and Kazakh letters) is transliterated, diacritics are
    dropped, and the spelling differences between the usual romanisations
    are removed (``kh``/``h``, ``zh``/``j``, ``ye``/``e``, ``ya``/``ia``/``a``,
    ``y``/``j``/``i``, doubled letters).  ``Tokayev``, ``Tokaev``,
    ``Токаев`` and ``Токаёв`` all give ``tokaev``; ``Жайлғанова``,
    ``Жайлганова``, ``Zhailganova`` and ``Zhaylganova`` give ``iailganova``.

    In R: ``stringi::stri_trans_general(x, "Russian-Latin/BGN")`` followed by
    the same substitutions.
    """
    import unicodedata
    s = "".join(_TRANSLIT.get(ch, ch) for ch in word.casefold())
    s = "".join(ch for ch in unicodedata.normalize("NFKD", s) if not unicodedata.combining(ch))
    for a, b in _SKELETON_RULES:
        s = s.replace(a, b)
    return re.sub(r"(.)\1+", r"\1", s)


_WORD_RE = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")
_NAME_GAP_RE = re.compile(r"[\s\-\u2010-\u2015\u00a0]+")


def _stems(token: str) -> set[str]:
    """Skeletons of *token* and of its stem without a case ending.

    Cyrillic words: up to three final letters (Токаеву, Токаевым, Жайлгановой);
    Latin words: ``'s``/``s`` and, for Latin-written Russian endings
    (Tokaevym, Tokaevu), up to two letters.
    """
    out = {name_skeleton(token)}
    if _CYR_RE.search(token):
        for cut in (1, 2, 3):
            if len(token) - cut >= 3:
                out.add(name_skeleton(token[:-cut]))
    else:
        base = re.sub(r"['’]s$", "", token)
        out.add(name_skeleton(base))
        for cut in (1, 2):
            if len(base) - cut >= 5:
                out.add(name_skeleton(base[:-cut]))
    return out


def _redact_names(s: str, names: Iterable[str], counts: dict[str, int]) -> str:
    """Replace listed names (matched on :func:`name_skeleton`) by ``[NAME]``."""
    keys = []
    for name in {n.strip() for n in names if n and n.strip()}:
        toks = [t for t in re.split(r"[\s\-\u2010-\u2015]+", name) if t]
        sk = tuple(name_skeleton(t) for t in toks)
        if all(len(k) >= 2 for k in sk):
            keys.append(sk)
    if not keys:
        return s
    # longer names (more words, then more letters) first: "Kassym-Jomart Tokayev" is one match
    keys = sorted(set(keys), key=lambda k: (len(k), sum(map(len, k))), reverse=True)
    tokens = [(m.start(), m.end(), m.group(0)) for m in _WORD_RE.finditer(s)]
    stems = [_stems(t) for _, _, t in tokens]
    spans: list[tuple[int, int]] = []
    i = 0
    while i < len(tokens):
        for key in keys:
            m = len(key)
            if i + m > len(tokens):
                continue
            ok = all(key[t] in stems[i + t] for t in range(m))
            # words of one name are separated by spaces or hyphens only
            ok = ok and all(_NAME_GAP_RE.fullmatch(s[tokens[i + t][1]:tokens[i + t + 1][0]])
                            for t in range(m - 1))
            if ok:
                spans.append((tokens[i][0], tokens[i + m - 1][1]))
                i += m
                break
        else:
            i += 1
    for a, b in reversed(spans):
        s = s[:a] + TAGS["name"] + s[b:]
    counts["name"] += len(spans)
    return s


def _iin_like(digits: str) -> bool:
    mm, dd, c = int(digits[2:4]), int(digits[4:6]), digits[6]
    return 1 <= mm <= 12 and 1 <= dd <= 31 and c in "123456"


_INVISIBLE_RE = re.compile("[\u00ad\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")


def redact(text: Any, names: Iterable[str] = ()) -> tuple[Any, dict[str, int]]:
    """Remove personal data from one free-text answer.

    Invisible characters (zero-width spaces and joiners, soft hyphens,
    direction marks) are removed first, so ``Тока\u200bев`` is still a
    name; where Unicode compatibility forms hide personal data (a fullwidth
    ``＠``, ``ｍａｉｌ``), the NFKC-normalised text is redacted instead.

    Parameters
    ----------
    text : str
        The answer.  Anything that is not a ``str`` (NaN, None) is returned
        unchanged with zero counts.
    names : iterable of str
        Personal names to remove (e.g. ``Codebook.names_to_redact``); longer
        names are applied first, so "Kassym-Jomart Tokayev" is one match.

    Returns
    -------
    (str, dict)
        The redacted text and the number of replacements per kind
        (:data:`PII_KINDS`).

    In R: no single equivalent (``stringr::str_replace_all`` with patterns).
    """
    if isinstance(names, str):
        raise TypeError("names must be an iterable of names, not a single string")
    if not isinstance(text, str) or not text:
        return text, dict.fromkeys(PII_KINDS, 0)
    names = list(names)
    text = _INVISIBLE_RE.sub("", text)
    out, counts = _redact(text, names)
    import unicodedata
    norm = unicodedata.normalize("NFKC", text)
    if norm != text:
        out2, counts2 = _redact(norm, names)
        if sum(counts2.values()) > sum(counts.values()):
            return out2, counts2
    return out, counts


def _redact(text: str, names: list[str]) -> tuple[str, dict[str, int]]:
    counts = dict.fromkeys(PII_KINDS, 0)

    def sub(rx: re.Pattern[str], kind: str, s: str, group: int = 0) -> str:
        def repl(m: re.Match[str]) -> str:
            whole = m.group(0)
            target = m.group(group)
            if kind == "url":
                stripped = target.rstrip(_URL_TRAIL)
                tail = target[len(stripped):]
                counts[kind] += 1
                return TAGS[kind] + tail
            counts[kind] += 1
            if group:
                start = m.start(group) - m.start(0)
                return whole[:start] + TAGS[kind] + whole[start + len(target):]
            return TAGS[kind]
        return rx.sub(repl, s)

    def url_repl(m: re.Match[str]) -> str:
        tld = m.group("tld")
        if tld is not None:
            bare = m.group(0)
            if tld.lower() in _FILE_EXT or (not tld.islower() and tld.lower() not in _TLDS.split("|")):
                return bare           # report.pdf, or "end.Next" (a missing space), is not a URL
            if bare.count(".") == 1 and "/" not in bare and tld.lower() in _NOT_TLD_WORDS:
                return bare           # "fine.but we ...": a missing space, not a domain
        target = m.group(0)
        stripped = target.rstrip(_URL_TRAIL)
        counts["url"] += 1
        return TAGS["url"] + target[len(stripped):]

    def iin_repl(m: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", m.group(0))
        if not _iin_like(digits):
            return m.group(0)
        counts["iin"] += 1
        return TAGS["iin"]

    s = sub(_EMAIL_RE, "email", text)
    s = sub(_EMAIL_SPELLED_RE, "email", s)
    s = _URL_RE.sub(url_repl, s)
    s = sub(_IIN_RE, "iin", s)
    s = _IIN_GROUPED_RE.sub(iin_repl, s)
    s = sub(_PHONE_RES[0], "phone", s)
    s = sub(_PHONE_RES[1], "phone", s)
    s = sub(_PHONE_RES[2], "phone", s)
    s = sub(_PHONE_RES[3], "phone", s, group=1)
    s = sub(_HANDLE_RE, "handle", s)
    s = _redact_names(s, names, counts)
    return s, counts


def redact_frame(df: pd.DataFrame, text_columns: Sequence[str],
                 names: Iterable[str] = ()) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Redact the free-text columns of a respondent-level frame.

    Parameters
    ----------
    df : DataFrame
    text_columns : sequence of str
        Columns holding free text; each must exist in *df*.
    names : iterable of str
        Personal names to remove (see :func:`redact`).

    Returns
    -------
    (DataFrame, DataFrame)
        A redacted copy of *df*, and the counts of replacements (rows =
        column, columns = :data:`PII_KINDS`) for the screening log.
    """
    missing = [c for c in text_columns if c not in df.columns]
    if missing:
        raise ValueError(f"text_columns: {missing} not in the DataFrame")
    names = list(names)
    out = df.copy()
    table = {}
    for col in text_columns:
        total: Counter[str] = Counter()
        new = []
        for v in out[col].tolist():
            red, c = redact(v, names)
            total.update(c)
            new.append(red)
        out[col] = pd.Series(new, index=out.index, dtype=out[col].dtype if out[col].dtype == object else object)
        table[col] = {k: total.get(k, 0) for k in PII_KINDS}
    counts = pd.DataFrame.from_dict(table, orient="index", columns=list(PII_KINDS)).astype(int)
    counts.index.name = "column"
    return out, counts


def redact_wave(df: pd.DataFrame, codebook: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Redact every text item of *codebook* present in *df*, with its ``names_to_redact``."""
    cols = [c for c in codebook.text_items if c in df.columns]
    return redact_frame(df, cols, codebook.names_to_redact)


def find_pii(text: str, names: Iterable[str] = ()) -> dict[str, int]:
    """Count the personal data :func:`redact` would remove from *text* (nothing is changed)."""
    return redact(text, names)[1]


# ------------------------------------------------------------ pseudonyms

#: Environment variable holding the pseudonym key (see :func:`pseudonym_key`).
PSEUDONYM_ENV = "PIPELINE_PSEUDONYM_KEY"


def pseudonym_key(key: str | bytes | None = None) -> bytes | None:
    """The key for :func:`pseudonymize`: *key* when given, else ``$PIPELINE_PSEUDONYM_KEY``.

    Returns ``None`` when neither is set.  Keep the key out of the
    repository (it turns pseudonyms back into ids for anyone holding a
    list of candidate e-mails or IINs).
    """
    import os
    if key is None:
        key = os.environ.get(PSEUDONYM_ENV) or None
    if key is None:
        return None
    if isinstance(key, str):
        key = key.encode("utf-8")
    if not isinstance(key, bytes) or len(key) < 16:
        raise ValueError(f"key: a pseudonym key needs at least 16 bytes (set {PSEUDONYM_ENV})")
    return key


def looks_like_pii(values: Iterable[Any]) -> str | None:
    """The kind of personal data found in any of *values* (ids), or ``None``.

    An id that is an e-mail address, a phone number, an IIN (12 digits) or
    a handle is personal data; integers and codes such as ``R017`` are not.
    """
    for v in values:
        if v is None or (isinstance(v, float) and v != v):
            continue
        text = str(v).strip()
        if isinstance(v, (int, np.integer)) and len(text) < 12:
            continue
        found = find_pii(text)
        for kind in ("email", "iin", "phone", "handle", "url"):
            if found.get(kind):
                return kind
    return None


def pseudonymize(values: Any, key: str | bytes) -> Any:
    """Stable keyed pseudonyms of identifiers.

    ``pseudonym(x) = "r-" + hex(HMAC-SHA256(key, NFC(strip(str(x)))))[:16]``:
    64 bits, the same for the same key and id in every run and process, and
    not computable without the key.  ``None``/NaN stay missing.

    Parameters
    ----------
    values : scalar, sequence or Series
    key : str or bytes
        At least 16 bytes (see :func:`pseudonym_key`).

    Returns
    -------
    str, list or Series (the type of *values*)

    In R: ``substr(digest::hmac(key, x, "sha256"), 1, 16)``.
    """
    import hashlib
    import hmac
    import unicodedata
    k = pseudonym_key(key)
    if k is None:
        raise ValueError(f"key: a pseudonym key is required (set {PSEUDONYM_ENV})")

    def one(v: Any) -> Any:
        if v is None or (isinstance(v, float) and v != v):
            return v
        msg = unicodedata.normalize("NFC", str(v).strip()).encode("utf-8")
        return "r-" + hmac.new(k, msg, hashlib.sha256).hexdigest()[:16]

    if isinstance(values, pd.Series):
        return values.astype(object).map(one)
    if isinstance(values, (list, tuple, np.ndarray, pd.Index)):
        return [one(v) for v in values]
    return one(values)


def pseudonymize_ids(df: pd.DataFrame, column: str | None, key: str | bytes | None = None
                     ) -> tuple[pd.DataFrame, str | None]:
    """Replace the id *column* by pseudonyms when its ids are personal data.

    Integer ids and codes such as ``R017`` are left alone.  Ids that are
    e-mail addresses, IINs, phone numbers or handles (:func:`looks_like_pii`)
    are replaced by :func:`pseudonymize` with *key* (default
    ``$PIPELINE_PSEUDONYM_KEY``).

    Returns
    -------
    (DataFrame, str or None)
        The frame (a copy when changed) and the kind of personal data found.

    Raises
    ------
    ValueError
        The ids are personal data and no key is set (naming the column).
    """
    if column is None or column not in df.columns:
        return df, None
    kind = looks_like_pii(df[column].tolist())
    if kind is None:
        return df, None
    k = pseudonym_key(key)
    if k is None:
        raise ValueError(f"key: the ids in column {column!r} look like personal data ({kind}); set "
                         f"{PSEUDONYM_ENV} (at least 16 characters, kept out of git) so they are "
                         "replaced by stable pseudonyms")
    out = df.copy()
    out[column] = pseudonymize(out[column], k)
    return out, kind


_SCAN_SUFFIXES = {".csv", ".tsv", ".txt", ".json", ".html", ".htm", ".md", ".tex", ".ipynb", ".svg",
                  ".yaml", ".yml"}


def scan_files(roots: Iterable[Any], names: Iterable[str] = (),
               kinds: Sequence[str] = ("email", "iin", "phone", "name")) -> list[tuple[str, str, int]]:
    """Search text files under *roots* for surviving personal data.

    Returns ``(file, kind, count)`` for every file with a match of one of
    *kinds* (URLs are excluded by default: reports legitimately cite
    ``egov.kz``-style sources; so are handles: HTML and CSS hold ``@media``).  Used by the end-to-end test that no seeded
    PII survives under ``data/processed`` or ``reports``.
    """
    from pathlib import Path
    names = list(names)
    hits = []
    for root in roots:
        root = Path(root)
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for f in files:
            if f.suffix.lower() not in _SCAN_SUFFIXES:
                continue
            try:
                text = f.read_text(encoding="utf-8")
            except (UnicodeDecodeError, OSError):
                continue
            counts = find_pii(text, names)
            for kind in kinds:
                if counts.get(kind):
                    hits.append((str(f), kind, counts[kind]))
    return hits


# ------------------------------------------------------------ suppression

def default_k() -> int:
    """``privacy.k`` from ``params.yaml`` (5 when the key is absent)."""
    from pipeline.cli.config import stage_params
    try:
        return int(stage_params("privacy").get("k", 5))
    except (KeyError, FileNotFoundError):
        return 5


@dataclass
class SuppressionResult:
    """A count table after small-cell suppression.

    Attributes
    ----------
    counts : DataFrame
        The internal, unsuppressed numbers (with the ``Total`` row and
        column when ``margins=True``): reproduction checks use these.
    primary : DataFrame of bool
        Cells with ``0 < n < k``.
    complementary : DataFrame of bool
        Cells suppressed so that totals cannot reveal a primary cell.
    display : DataFrame of str
        What a report prints: ``"<k"`` for primary cells, ``"[c]"`` for
        complementary cells, the count otherwise.
    note : str
        The note to print under the table.
    k : int
    """

    counts: pd.DataFrame
    primary: pd.DataFrame
    complementary: pd.DataFrame
    display: pd.DataFrame
    note: str
    k: int
    total_label: str = "Total"
    warnings: list[str] = field(default_factory=list)

    @property
    def mask(self) -> pd.DataFrame:
        """True where a cell is suppressed (primary or complementary)."""
        return self.primary | self.complementary

    @property
    def n_suppressed(self) -> int:
        return int(self.mask.to_numpy().sum())

    def apply_to(self, other: pd.DataFrame, fmt: str = "{:.1f}") -> pd.DataFrame:
        """Mask a parallel table (e.g. percentages) with the same pattern."""
        other = other.reindex(index=self.counts.index, columns=self.counts.columns)
        shown = other.map(lambda v: "" if pd.isna(v) else fmt.format(v))
        shown = shown.mask(self.primary, f"<{self.k}")
        return shown.mask(self.complementary, "[c]")

    def to_frame(self) -> pd.DataFrame:
        """The display table (strings)."""
        return self.display


def _check_counts(table: pd.DataFrame) -> pd.DataFrame:
    try:
        num = table.apply(pd.to_numeric, errors="raise").astype(float)
    except (ValueError, TypeError):
        raise ValueError("table: must hold counts (numbers)") from None
    arr = num.to_numpy()
    if np.isnan(arr).any():
        raise ValueError("table: contains missing counts (NaN)")
    if (arr < 0).any() or not np.allclose(arr, np.round(arr)):
        raise ValueError("table: counts must be non-negative integers")
    return num.round().astype(np.int64)


def _determined(supp: np.ndarray, lines: list[list[tuple[int, int]]], r: int, c: int) -> list[tuple[int, int]]:
    """Suppressed cells whose value follows exactly from the published cells.

    Every line says ``sum(interior cells) = total cell``.  With the
    suppressed cells as unknowns ``x`` the published table gives ``A x = b``;
    cell ``i`` is determined iff the unit vector ``e_i`` lies in the row
    space of ``A``.
    """
    unknown = [tuple(ij) for ij in zip(*np.nonzero(supp))]
    if not unknown:
        return []
    pos = {ij: n for n, ij in enumerate(unknown)}
    rows = []
    for line in lines:
        vec = np.zeros(len(unknown))
        for (i, j) in line:
            if (i, j) in pos:
                # the line's own total is the cell at its far end
                vec[pos[(i, j)]] = -1.0 if (i, j) == line[-1] else 1.0
        if vec.any():
            rows.append(vec)
    if not rows:
        return []
    a = np.array(rows)
    rank = np.linalg.matrix_rank(a)
    out = []
    for ij, n in pos.items():
        e = np.zeros(len(unknown))
        e[n] = 1.0
        if np.linalg.matrix_rank(np.vstack([a, e])) == rank:
            out.append(ij)
    return out


def suppress_small_cells(table: pd.DataFrame | pd.Series, k: int | None = None, *,
                         margins: bool = True, total_label: str = "Total",
                         suppress_zeros: bool = False) -> SuppressionResult:
    """Small-cell suppression of a count table, with complementary suppression.

    Parameters
    ----------
    table : DataFrame or Series
        Counts of respondents (a crosstab, or a distribution as a Series /
        one-column frame), *without* totals; totals are computed here.
    k : int, optional
        Threshold: counts ``0 < n < k`` are suppressed.  Default
        ``privacy.k`` from ``params.yaml`` (5).
    margins : bool
        Add a ``Total`` row and column to the returned tables.  Totals are
        treated as published either way (they are usually printed, or the
        N is given in the text), so complementary suppression always
        protects them.
    total_label : str
    suppress_zeros : bool
        Also treat zero counts as primary (off by default: a zero is not a
        person).

    Returns
    -------
    SuppressionResult

    Notes
    -----
    Primary cells: ``0 < n < k`` (also a small *total* of a row or column).
    Complementary suppression is the usual heuristic: every line of the
    table (each row with its row total, each column with its column total,
    the total row and the total column) must hold either no suppressed cell
    or at least two, so no suppressed value follows by subtraction.  While a
    line has exactly one, the smallest non-zero unsuppressed interior cell of
    that line is suppressed as well (a total only when no interior cell is
    left); this repeats until every line is safe.  It does not solve the
    full linear-programming attack (interval disclosure) that sdcTable's
    optimal methods address.

    In R: ``sdcTable::protectTable(..., method = "SIMPLEHEURISTIC")``.
    """
    if k is None:
        k = default_k()
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k: must be a positive integer, got {k!r}")
    k = int(k)
    if isinstance(table, pd.Series):
        table = table.to_frame(name=table.name if table.name is not None else "n")
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"table: expected a DataFrame or Series, got {type(table).__name__}")
    if table.empty:
        raise ValueError("table: is empty")
    counts = _check_counts(table)
    if total_label in counts.index or total_label in counts.columns:
        raise ValueError(f"table: already has a {total_label!r} row/column; pass the interior counts")
    r, c = counts.shape
    full = np.zeros((r + 1, c + 1), dtype=np.int64)
    full[:r, :c] = counts.to_numpy()
    full[:r, c] = full[:r, :c].sum(axis=1)
    full[r, :c] = full[:r, :c].sum(axis=0)
    full[r, c] = full[:r, :c].sum()
    primary = (full > 0) & (full < k)
    if suppress_zeros:
        primary |= full == 0
    supp = primary.copy()  # (set after the totals' layout below)
    interior = np.zeros_like(supp)
    interior[:r, :c] = True
    # lines: (list of cells); every row and column of the bordered table
    # a one-column table (a distribution) has no row totals, a one-row table no
    # column totals: those "totals" would only repeat the cells
    has_row_tot, has_col_tot = c > 1, r > 1
    if not has_row_tot:
        primary[:, c] = False
    if not has_col_tot:
        primary[r, :] = False
    rows_in = range(r + 1) if has_col_tot else range(r)
    cols_in = range(c + 1) if has_row_tot else range(c)
    lines = ([[(i, j) for j in cols_in] for i in rows_in] if has_row_tot else []) + \
            ([[(i, j) for i in rows_in] for j in cols_in] if has_col_tot else [])
    supp = primary.copy()

    def add_one(line: list[tuple[int, int]]) -> bool:
        cand = [(i, j) for i, j in line if not supp[i, j]]
        if not cand:
            return False
        # prefer interior, non-zero, small cells
        cand.sort(key=lambda ij: (not interior[ij], full[ij] == 0, full[ij], ij))
        supp[cand[0]] = True
        return True

    while True:
        changed = True
        while changed:
            changed = False
            for line in lines:
                if sum(supp[i, j] for i, j in line) == 1:
                    changed |= add_one(line)
        # the line rule can leave a cell determined by a combination of lines
        # (e.g. a suppressed total and its cells): check exactly, by rank
        det = _determined(supp, lines, r, c)
        if not det:
            break
        i, j = det[0]
        own = [ln for ln in lines if (i, j) in ln]
        if not any(add_one(ln) for ln in own):
            if not any(add_one(ln) for ln in lines):
                break
    complementary = supp & ~primary
    idx = list(counts.index) + [total_label]
    cols = list(counts.columns) + [total_label]
    full_df = pd.DataFrame(full, index=idx, columns=cols)
    prim_df = pd.DataFrame(primary, index=idx, columns=cols)
    comp_df = pd.DataFrame(complementary, index=idx, columns=cols)
    if not margins:
        full_df, prim_df, comp_df = (d.iloc[:r, :c] for d in (full_df, prim_df, comp_df))
    else:
        # a one-row table has no column totals: a "Total" row would repeat its cells unsuppressed
        keep_r = list(range(r + 1)) if has_col_tot else list(range(r))
        keep_c = list(range(c + 1)) if has_row_tot else list(range(c))
        full_df, prim_df, comp_df = (d.iloc[keep_r, keep_c] for d in (full_df, prim_df, comp_df))
    display = full_df.astype(str).mask(prim_df, f"<{k}").mask(comp_df, "[c]")
    note = (f"Cells with fewer than {k} respondents are shown as \"<{k}\"; cells marked \"[c]\" are "
            "suppressed so that totals do not reveal a small cell (complementary suppression).")
    if not (prim_df | comp_df).to_numpy().any():
        note = ""
    return SuppressionResult(counts=full_df, primary=prim_df, complementary=comp_df, display=display,
                             note=note, k=k, total_label=total_label)
