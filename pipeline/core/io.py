"""Atomic, raw-safe file output.

Every output the pipeline writes goes through :func:`atomic_write` (a
temporary file in the target directory, then ``os.replace``), so a crash or a
kill never leaves a half-written file, and nothing is ever written under
``data/raw``.
"""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

from pipeline.core.exceptions import RawDataWriteError
from pipeline.core.paths import is_under_raw

__all__ = ["atomic_write", "atomic_dir", "write_text", "write_bytes", "write_json", "write_csv",
           "guard_not_raw", "read_yaml"]


def guard_not_raw(path: str | os.PathLike) -> Path:
    """Raise :class:`RawDataWriteError` when *path* lies under ``data/raw``."""
    p = Path(path)
    if is_under_raw(p):
        raise RawDataWriteError(f"refusing to write {p}: data/raw is read-only")
    return p


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8",
                 newline: str | None = None) -> Iterator[Any]:
    """Open a temporary file next to *path*; rename it over *path* on success."""
    p = guard_not_raw(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    try:
        if "b" in mode:
            fh = os.fdopen(fd, mode)
        else:
            fh = os.fdopen(fd, mode, encoding=encoding, newline=newline)
        with fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; outputs are ordinary files
        os.replace(tmp, p)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_text(path: str | os.PathLike, text: str) -> Path:
    with atomic_write(path) as fh:
        fh.write(text)
    return Path(path)


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    with atomic_write(path, "wb", encoding=None) as fh:
        fh.write(data)
    return Path(path)


def _json_default(o: Any) -> Any:
    import numpy as np
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return None if not np.isfinite(o) else float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


def _nan_to_none(o: Any) -> Any:
    if isinstance(o, float) and o != o:  # NaN
        return None
    if isinstance(o, float) and o in (float("inf"), float("-inf")):
        return None
    if isinstance(o, dict):
        return {k: _nan_to_none(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_nan_to_none(v) for v in o]
    return o


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write *obj* as JSON atomically; NaN and infinities become ``null``."""
    text = json.dumps(_nan_to_none(obj), indent=2, ensure_ascii=False,
                      default=_json_default, allow_nan=False)
    return write_text(path, text + "\n")


def write_csv(path: str | os.PathLike, df: "Any", **kwargs: Any) -> Path:
    """Write a DataFrame as UTF-8 CSV atomically (full precision)."""
    with atomic_write(path, newline="") as fh:
        df.to_csv(fh, **kwargs)
    return Path(path)


def _staging_area(final: Path) -> tuple[Path, str]:
    """Where a directory output is built: ``<root>/.staging`` for outputs inside
    the project (so a killed run leaves nothing beside the outputs that DVC
    may later restore from its cache without running this code), else
    beside the target (same file system, so the final rename is atomic)."""
    from pipeline.core import paths

    try:
        rel = final.resolve().relative_to(paths.ROOT)
    except ValueError:
        return final.parent, f".{final.name}"
    area = paths.ROOT / ".staging"
    area.mkdir(exist_ok=True)
    return area, "__".join(rel.parts)


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Build a directory in a staging folder beside *path*; swap it in on success.

    On any exception the staging folder is removed and an existing *path*
    is left untouched, so a crash never leaves a half-written output
    directory.
    """
    import shutil

    final = Path(guard_not_raw(path))
    final.parent.mkdir(parents=True, exist_ok=True)
    area, prefix = _staging_area(final)
    # staging folders left by a killed run (SIGKILL skips the cleanup below)
    for stale in area.glob(f"{prefix}.*.tmp"):
        shutil.rmtree(stale, ignore_errors=True)
    staging = Path(tempfile.mkdtemp(prefix=f"{prefix}.", suffix=".tmp", dir=area))
    try:
        yield staging
        os.chmod(staging, 0o777 & ~_umask())
        if final.exists():
            old = final.with_name(f".{final.name}.old-{os.getpid()}")
            os.replace(final, old)
            os.replace(staging, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def read_yaml(path: str | os.PathLike) -> Any:
    """Parse a YAML file with libyaml's C loader when available (safe subset)."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with open(path, encoding="utf-8") as fh:
        return yaml.load(fh, Loader=loader)  # noqa: S506 - a safe loader
