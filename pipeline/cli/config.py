"""Reading ``params.yaml``, the single source of configuration.

``params.yaml`` has two registries (see :mod:`pipeline.cli.schema`):
``studies`` (each study's shared settings and its own stages' parameters)
and ``waves`` (each wave's data, codebook, models and overrides).
``dvc.yaml`` loops over ``waves`` with ``foreach``; a wave's stages depend on
``waves.<wave>`` and ``studies.<study>.settings`` only, so editing one study
never reruns another study's stages.

:func:`wave_settings` is what the stages use: the wave's complete, validated
settings.  :func:`stage_params` serves the commands that read one group by
name (``synth``, ``cea``, ``screening`` ...): a top-level group if present,
else the group of the first study (registry order) that defines it under
``stages`` or ``settings``.
"""
from __future__ import annotations

import copy
from functools import lru_cache
from pathlib import Path
from typing import Any

from pipeline.core import paths

__all__ = ["load_params", "load_registry", "stage_params", "wave_params", "wave_names",
           "wave_settings", "study_of"]


@lru_cache(maxsize=8)
def _load(path: str, mtime: int) -> dict[str, Any]:  # noqa: ARG001 - cache key
    p = Path(path)
    from pipeline.core.io import read_yaml
    data = read_yaml(p) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{p}: top level must be a mapping of stage groups")
    return data


def load_registry(path: str | Path | None = None) -> dict[str, Any]:
    """``params.yaml`` as written (``studies`` and ``waves``), a deep copy."""
    p = Path(path or paths.PARAMS)
    if not p.exists():
        raise FileNotFoundError(f"params file not found: {p}")
    return copy.deepcopy(_load(str(p), p.stat().st_mtime_ns))


def load_params(path: str | Path | None = None) -> dict[str, Any]:
    """The registry plus, at the top level, every group of :func:`stage_params`.

    A deep copy (callers may mutate it).  ``load_params()["cea"]`` is the
    ``stages.cea`` group of the first study defining it.
    """
    raw = load_registry(path)
    out = dict(raw)
    for study in (raw.get("studies") or {}).values():
        for block in ("stages", "settings"):
            for group, value in ((study or {}).get(block) or {}).items():
                out.setdefault(group, copy.deepcopy(value))
    return out


def stage_params(stage: str, path: str | Path | None = None) -> dict[str, Any]:
    """One parameter group by name, e.g. ``stage_params("synth")`` (see the module docstring)."""
    params = load_params(path)
    if stage not in params:
        raise KeyError(f"params.yaml has no group {stage!r}; groups: {sorted(params)}")
    return params[stage]


def wave_names(path: str | Path | None = None) -> list[str]:
    return list(load_registry(path).get("waves") or {})


def wave_settings(wave: str, path: str | Path | None = None) -> dict[str, Any]:
    """The complete, validated settings of *wave* (:func:`pipeline.cli.schema.wave_settings`)."""
    from pipeline.cli.schema import wave_settings as _ws
    return _ws(load_registry(path), wave)


def study_of(wave: str, path: str | Path | None = None) -> str:
    return wave_settings(wave, path)["study"]


def wave_params(wave: str, path: str | Path | None = None) -> dict[str, Any]:
    """The wave's settings (:func:`wave_settings`) plus ``instrument``: the codebook's path."""
    ws = wave_settings(wave, path)
    ws["instrument"] = str(paths.resolve(ws["codebook"]))
    return ws
