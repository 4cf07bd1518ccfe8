"""Every path of the project (the repository as a DVC pipeline), resolved from one place.

The application layers (``pipeline/cli``, ``pipeline/workflow``) and study
code import the constants below; wave-specific locations come from
:func:`wave_dir` and :func:`report_dir`.  Library functions take their
paths as arguments and do not depend on this layout (``pipeline.core.io``
uses :data:`ROOT` only to stage atomic writes that land inside the project).
The root can be overridden with the ``PIPELINE_ROOT`` environment variable
(tests use it to run stages inside a temporary copy of the project).

:data:`CODEBOOKS`, :data:`MODELS` and :data:`DATA_PUBLISHED` are the first
study's folders (``studies/amirova2021``), kept for its code and tests; a
study's settings name its own folders.
"""
from __future__ import annotations

import os
from pathlib import Path

__all__ = [
    "ROOT", "STUDIES", "PARAMS", "DATA", "DATA_RAW", "DATA_PROCESSED", "DATA_SYNTHETIC",
    "DATA_PUBLISHED", "REPORTS", "MODELS", "CODEBOOKS",
    "wave_dir", "report_dir", "resolve", "is_under_raw",
]

PACKAGE = Path(__file__).resolve().parents[1]
ROOT = Path(os.environ.get("PIPELINE_ROOT", PACKAGE.parent)).resolve()
STUDIES = ROOT / "studies"
PARAMS = ROOT / "params.yaml"
DATA = ROOT / "data"
DATA_RAW = DATA / "raw"
DATA_PROCESSED = DATA / "processed"
DATA_SYNTHETIC = DATA / "synthetic"
DATA_PUBLISHED = STUDIES / "amirova2021" / "published"
REPORTS = ROOT / "reports"
MODELS = STUDIES / "amirova2021" / "models"
CODEBOOKS = STUDIES / "amirova2021" / "codebooks"


def resolve(path: str | os.PathLike) -> Path:
    """Resolve a path from ``params.yaml`` or the CLI against the project root."""
    p = Path(path)
    return p if p.is_absolute() else (ROOT / p)


def wave_dir(wave: str) -> Path:
    """``data/processed/<wave>/``: every derived file of one wave."""
    return DATA_PROCESSED / wave


def report_dir(wave: str) -> Path:
    """``reports/<wave>/``: the executed notebook, HTML and exported tables."""
    return REPORTS / wave


def is_under_raw(path: str | os.PathLike) -> bool:
    """True when *path* lies inside ``data/raw`` (which is never written)."""
    try:
        Path(path).resolve().relative_to(DATA_RAW.resolve())
        return True
    except ValueError:
        return False
