"""Reading ``params.yaml``, the single source of configuration.

``params.yaml`` is grouped by stage (``synth``, ``screening``, ``sem`` ...);
``waves`` lists the survey waves that ``dvc.yaml`` loops over with
``foreach``.
"""
from __future__ import annotations

import copy
from functools import lru_cache
from pathlib import Path
from typing import Any

from pipeline.core import paths

__all__ = ["load_params", "stage_params", "wave_params", "wave_names"]


@lru_cache(maxsize=8)
def _load(path: str) -> dict[str, Any]:
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"params file not found: {p}")
    from pipeline.core.io import read_yaml
    data = read_yaml(p) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{p}: top level must be a mapping of stage groups")
    return data


def load_params(path: str | Path | None = None) -> dict[str, Any]:
    """Return a deep copy of the parameters (callers may mutate it)."""
    return copy.deepcopy(_load(str(path or paths.PARAMS)))


def stage_params(stage: str, path: str | Path | None = None) -> dict[str, Any]:
    """The parameter group of one stage, e.g. ``stage_params("sem")``."""
    params = load_params(path)
    if stage not in params:
        raise KeyError(f"params.yaml has no group {stage!r}; groups: {sorted(params)}")
    return params[stage]


def wave_names(path: str | Path | None = None) -> list[str]:
    return list(load_params(path).get("waves", {}))


def wave_params(wave: str, path: str | Path | None = None) -> dict[str, Any]:
    """The ``waves.<wave>`` entry: instrument, raw file, report notebook ..."""
    waves = load_params(path).get("waves", {})
    if wave not in waves:
        raise ValueError(f"wave={wave!r} is not listed in params.yaml; known waves: {sorted(waves)}")
    return waves[wave]
