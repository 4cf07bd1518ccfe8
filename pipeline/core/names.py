"""The one rule for names: variables, constructs, model labels, instruments.

A name is what lavaan accepts in model syntax: a Unicode letter (any script:
Latin, Cyrillic and the Kazakh letters ә ғ қ ң ө ұ ү һ і), ``_`` or ``.``
first, then letters, digits, ``_`` and ``.``.  ``Лидер1``, ``clutched.up``,
``q_3`` are names; ``3a``, ``a-b``, ``a b`` are not.  The codebook
(:mod:`pipeline.data.codebook`) and the model syntax
(:mod:`pipeline.sem.syntax`) use this pattern, so a codebook never accepts a
name a model cannot use, nor the other way round.

In R: ``make.names(x) == x`` for most names (R also allows a leading dot
followed by a letter); lavaan's parser takes the same set.
"""
from __future__ import annotations

import re
import unicodedata

__all__ = ["NAME_PATTERN", "NAME_RE", "RESERVED", "is_name", "check_name"]

#: A name: a Unicode letter, ``_`` or ``.`` first, then letters, digits, ``_`` and ``.``
#: (``\w`` is Unicode-aware: Cyrillic and Kazakh letters match).
NAME_PATTERN = r"(?:[^\W\d]|\.)[\w.]*"
#: :data:`NAME_PATTERN` anchored at both ends.
NAME_RE = re.compile(rf"^{NAME_PATTERN}$")


#: Words of the model syntax that cannot name a variable (``NA*x`` frees a parameter).
RESERVED = frozenset({"NA", "na"})


def is_name(text: object) -> bool:
    """Whether *text* is a name: a ``str`` matching :data:`NAME_PATTERN`, in Unicode NFC
    (one code point per accented letter, as a keyboard writes it), not :data:`RESERVED`."""
    return (isinstance(text, str) and NAME_RE.match(text) is not None
            and text not in RESERVED and unicodedata.normalize("NFC", text) == text)


def check_name(text: object, what: str = "name") -> str:
    """Return *text* if it is a name, else raise ``ValueError`` naming *what* and the rule."""
    if not is_name(text):
        raise ValueError(f"{what} must be a name (a letter, '_' or '.' first, then letters of "
                         f"any script, digits, '_' and '.'), got {text!r}")
    return text  # type: ignore[return-value]
