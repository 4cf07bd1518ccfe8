"""The project's warning and error classes.

Statistical problems are reported through :func:`warnings.warn` with one of
the classes below (never through logging), and are also recorded on the
result object that produced them.  ``pyproject.toml`` configures pytest to
turn every :class:`PipelineWarning` into an error, so a test must say
``pytest.warns(...)`` when it expects one.

Bad input raises :class:`DataValidationError` (a ``ValueError``) whose
message names the file, the column(s) and the row number(s).
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

__all__ = [
    "PipelineWarning", "ConvergenceWarning", "HeywoodCaseWarning",
    "NotPositiveDefiniteWarning", "IdentificationWarning",
    "InadmissibleFitWarning", "ReverseKeyedItemWarning", "LowCoverageWarning",
    "NotEstimableWarning", "SyntheticDataWarning", "SparseTableWarning",
    "PipelineError", "DataValidationError", "ModelSpecificationError",
    "RawDataWriteError",
]


class PipelineWarning(UserWarning):
    """Base class of every warning the project emits."""


class ConvergenceWarning(PipelineWarning):
    """The optimizer stopped before meeting its convergence criterion."""


class HeywoodCaseWarning(PipelineWarning):
    """A negative (or boundary) variance estimate: an improper solution."""


class NotPositiveDefiniteWarning(PipelineWarning):
    """A sample, implied or latent covariance matrix is not positive definite."""


class IdentificationWarning(PipelineWarning):
    """A singular information matrix or non-PD vcov: probably not identified."""


class InadmissibleFitWarning(PipelineWarning):
    """A fit that must not be interpreted (see :class:`ConvergenceWarning` etc.)."""


class ReverseKeyedItemWarning(PipelineWarning):
    """A negative corrected item-total correlation: is the item reverse-keyed?"""


class LowCoverageWarning(PipelineWarning):
    """Pairwise coverage of observed data below the configured minimum."""


class NotEstimableWarning(PipelineWarning):
    """A statistic that cannot be estimated here (e.g. alpha of one item)."""


class SyntheticDataWarning(PipelineWarning):
    """Results computed from synthetic, not real, respondent data."""


class PipelineError(Exception):
    """Base class of the project's errors."""


def _fmt_rows(rows: Iterable[int], limit: int = 20) -> str:
    rows = list(rows)
    shown = ", ".join(str(r) for r in rows[:limit])
    if len(rows) > limit:
        shown += f", ... ({len(rows)} rows in all)"
    return shown


class DataValidationError(PipelineError, ValueError):
    """A raw file that breaks the codebook contract.

    Parameters
    ----------
    message : str
        What is wrong.
    file : str, optional
        The file being read.
    columns : sequence of str, optional
        The offending column(s).
    rows : sequence of int, optional
        1-based data row numbers as a spreadsheet user sees them (the header
        is row 1, so the first respondent is row 2).
    """

    def __init__(self, message: str, *, file: str | None = None,
                 columns: Sequence[str] | None = None,
                 rows: Sequence[int] | None = None) -> None:
        self.file = file
        self.columns = list(columns) if columns else []
        self.rows = list(rows) if rows else []
        parts = []
        if file:
            parts.append(f"file {file}")
        if self.columns:
            parts.append("column" + ("s " if len(self.columns) > 1 else " ")
                         + ", ".join(map(str, self.columns)))
        if self.rows:
            parts.append(("rows " if len(self.rows) > 1 else "row ")
                         + _fmt_rows(self.rows))
        where = "; ".join(parts)
        super().__init__(f"{where}: {message}" if where else message)


class ModelSpecificationError(PipelineError, ValueError):
    """A model that cannot be fitted as written (syntax, unknown variables, df < 0)."""


class RawDataWriteError(PipelineError, PermissionError):
    """An attempt to write under ``data/raw`` (which is read-only by contract)."""


class SparseTableWarning(PipelineWarning):
    """A chi-square approximation on a table with small expected counts (Cochran's rule)."""
