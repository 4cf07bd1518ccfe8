"""Atomic, raw-safe file output.

Every output the pipeline writes goes through :func:`atomic_write` (a
temporary file in the target directory, then ``os.replace``), so a crash or a
kill never leaves a half-written file, never removes the previous version of
the file (a kill during ``synth`` leaves the git-tracked synthetic files as
they were), and nothing is ever written under ``data/raw``.

Directory outputs (a DVC stage's folder) are built by :func:`atomic_dir` in
a staging folder named after the process (``<output>.<pid>.<random>.tmp``)
and swapped in at the end.  Concurrency and kills:

* a lock per output (``fcntl.flock`` on ``<output>.lock`` in the staging
  area) is held from entry to swap: a second process writing the same
  output fails at once with an error naming the holder, instead of mixing
  its files with the first one's;
* each staging folder has its own lock held by its writer; a stale folder
  (left by a SIGKILL) is removed only when its lock is free, so a live
  process's folder is never removed;
* the parent process id is recorded on entry and checked before the swap:
  a stage whose parent (``dvc repro``) was killed is an orphan and discards
  its results instead of swapping them in later.

A folder the process may not write (read-only, another owner) raises
:class:`~pipeline.core.exceptions.OutputWriteError` naming the path, not a
``PermissionError`` traceback.
"""
from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

from pipeline.core.exceptions import PipelineError, RawDataWriteError
from pipeline.core.paths import is_under_raw

__all__ = ["atomic_write", "atomic_dir", "write_text", "write_bytes", "write_json", "write_csv",
           "guard_not_raw", "read_yaml", "OutputWriteError", "OutputLockedError", "OrphanedStageError",
           "exit_when_orphaned"]


class OutputWriteError(PipelineError, PermissionError):
    """An output cannot be written (read-only folder, permission denied, disk full)."""


class OutputLockedError(PipelineError, RuntimeError):
    """Another live process is writing the same directory output."""


class OrphanedStageError(PipelineError, RuntimeError):
    """The process's parent died (e.g. ``dvc repro`` was killed): results are discarded."""


# errors of writing the file itself (not of whatever else the caller does inside the block)
_WRITE_ERRNOS = {errno.ENOSPC, errno.EROFS, errno.EDQUOT, errno.EFBIG}


def _cannot_write(p: Path, exc: OSError) -> OutputWriteError:
    why = exc.strerror or type(exc).__name__
    return OutputWriteError(f"cannot write {p}: {why} (is the folder read-only, or owned by "
                            "another user?)")


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


_SHELLS = {"sh", "bash", "dash", "zsh", "ksh", "ash", "busybox", "env", "timeout", "nice", "nohup"}


def _proc_stat(pid: int) -> tuple[str, int, str] | None:
    """(command name, parent pid, start time) of *pid* from /proc, or None."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    comm = raw[raw.index("(") + 1:raw.rindex(")")]
    rest = raw[raw.rindex(")") + 2:].split()
    return comm, int(rest[1]), rest[19]


def _ancestry() -> list[tuple[int, str | None]]:
    """The parent, and further ancestors while they are shells or wrappers
    (``dvc repro`` runs a stage through ``sh -c``): ``(pid, start time)``."""
    chain: list[tuple[int, str | None]] = []
    pid = os.getppid()
    for _ in range(8):
        st = _proc_stat(pid)
        chain.append((pid, st[2] if st else None))
        if st is None or st[0] not in _SHELLS or st[1] <= 1:
            break
        pid = st[1]
    return chain


def _orphaned(chain: list[tuple[int, str | None]]) -> int | None:
    """The first recorded ancestor that has died (or whose pid was reused), else None."""
    if chain and os.getppid() != chain[0][0]:
        return chain[0][0]
    for pid, start in chain:
        if start is None:
            if not _pid_alive(pid):
                return pid
            continue
        st = _proc_stat(pid)
        if st is None or st[2] != start:
            return pid
    return None


def exit_when_orphaned(interval: float = 1.0) -> Any:
    """Stop this process soon after its parent (``dvc repro``) dies.

    A daemon thread checks the parent chain recorded now (the parent and the
    shells between it and this process) every *interval* seconds and sends
    SIGTERM to this process when one of them has died, so an orphaned stage
    stops computing instead of running on (its staging folder is cleared by
    the next run; :func:`atomic_dir` refuses to swap in its results anyway).
    Call it once at the start of a stage command.  Returns the thread.
    """
    import signal
    import threading
    import time

    chain = _ancestry()

    def watch() -> None:
        while True:
            time.sleep(interval)
            if _orphaned(chain) is not None:
                os.kill(os.getpid(), signal.SIGTERM)
                return
    t = threading.Thread(target=watch, name="exit-when-orphaned", daemon=True)
    t.start()
    return t


def _remove_stale_temp_files(p: Path) -> None:
    """Temporary files of *p* left by a killed writer (its pid no longer alive)."""
    for tmp in p.parent.glob(f".{glob_escape(p.name)}.*.tmp"):
        parts = tmp.name[len(p.name) + 2:].split(".")
        if parts and parts[0].isdigit() and not _pid_alive(int(parts[0])):
            with contextlib.suppress(OSError):
                tmp.unlink()


def glob_escape(name: str) -> str:
    """*name* with glob metacharacters escaped."""
    import glob
    return glob.escape(name)


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
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_temp_files(p)
        fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.{os.getpid()}.", suffix=".tmp", dir=p.parent)
    except OSError as exc:
        raise _cannot_write(p, exc) from None
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
        try:
            os.replace(tmp, p)
        except OSError as exc:
            raise _cannot_write(p, exc) from None
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and not isinstance(exc, PipelineError) and exc.errno in _WRITE_ERRNOS:
            raise _cannot_write(p, exc) from None      # disk full, read-only file system, quota
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


def json_ready(o: Any) -> Any:
    """*o* with JSON's types: numpy scalars as Python numbers and booleans, NaN
    and infinities as ``None``, tuples as lists, mappings and lists converted
    item by item (the results' ``to_dict`` and :func:`write_json` share it)."""
    import numpy as np
    if isinstance(o, (bool, np.bool_)):
        return bool(o)
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, (float, np.floating)):
        v = float(o)
        return v if math.isfinite(v) else None
    if isinstance(o, dict):
        return {k: json_ready(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [json_ready(v) for v in o]
    return o


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write *obj* as JSON atomically; NaN and infinities become ``null``."""
    text = json.dumps(json_ready(obj), indent=2, ensure_ascii=False,
                      default=_json_default, allow_nan=False)
    return write_text(path, text + "\n")


def write_csv(path: str | os.PathLike, df: "Any", *, for_people: bool = False, **kwargs: Any) -> Path:
    """Write a DataFrame as UTF-8 CSV atomically (full precision).

    ``for_people=True`` marks a CSV meant to be opened in a spreadsheet:
    text cells, column names and index labels beginning with ``= + - @``
    are neutralised (:func:`pipeline.reporting.escape.csv_frame`).
    """
    if for_people:
        from pipeline.reporting.escape import csv_frame
        df = csv_frame(df)
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
    try:
        area.mkdir(exist_ok=True)
    except OSError as exc:
        raise _cannot_write(area, exc) from None
    return area, "__".join(rel.parts)


@contextlib.contextmanager
def _flock(path: Path, *, blocking: bool, remove: bool = False) -> Iterator[int | None]:
    """An exclusive ``flock`` on *path* (created); yields the fd, or None when busy.

    With *remove* the lock file is deleted (while still held) on exit; a
    process that opened the old file before the deletion notices that the
    path no longer names its file and retries, so two holders never coexist.
    """
    import fcntl
    for _ in range(50):
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(fd)
            yield None
            return
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)          # the file was removed by its previous holder: take the new one
    else:  # pragma: no cover - 50 successive races
        raise OutputLockedError(f"cannot take the lock {path}")
    try:
        yield fd
    finally:
        if remove:
            with contextlib.suppress(OSError):
                os.unlink(path)
        os.close(fd)      # closing the fd releases the lock


def _holder(lock: Path) -> str:
    try:
        return lock.read_text().strip() or "unknown"
    except OSError:
        return "unknown"


def _clear_stale(area: Path, prefix: str) -> None:
    """Remove staging folders of *prefix* whose writer is gone (its lock is free)."""
    import shutil
    for stale in area.glob(f"{glob_escape(prefix)}.*.tmp"):
        if not stale.is_dir():
            continue
        lock = stale.with_name(stale.name + ".lock")
        if not lock.exists():
            # a folder of an older version of this code, or a lost lock: judge by the pid
            pid = stale.name[len(prefix) + 1:].split(".")[0]
            if pid.isdigit() and _pid_alive(int(pid)) and int(pid) != os.getpid():
                continue
            shutil.rmtree(stale, ignore_errors=True)
            continue
        with _flock(lock, blocking=False, remove=True) as fd:
            if fd is None:
                continue          # its writer is alive and holds the lock
            shutil.rmtree(stale, ignore_errors=True)


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike, *, check_parent: bool = True) -> Iterator[Path]:
    """Build a directory in a staging folder; swap it in on success.

    On any exception the staging folder is removed and an existing *path*
    is left untouched, so a crash never leaves a half-written output
    directory.  See the module docstring for the locks and the orphan check.

    Parameters
    ----------
    path : path
        The output directory.
    check_parent : bool
        Discard the results (:class:`OrphanedStageError`) when the parent
        process died while the folder was built.

    Raises
    ------
    OutputLockedError
        Another live process is writing *path*.
    OutputWriteError
        The output's folder cannot be written.
    """
    import shutil

    final = Path(guard_not_raw(path))
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _cannot_write(final, exc) from None
    if not os.access(final.parent, os.W_OK | os.X_OK):
        raise OutputWriteError(f"cannot write {final}: permission denied on {final.parent} "
                               "(is the folder read-only?)")
    area, prefix = _staging_area(final)
    chain = _ancestry()
    out_lock = area / f"{prefix}.lock"
    with _flock(out_lock, blocking=False, remove=True) as held:
        if held is None:
            raise OutputLockedError(f"{final} is being written by another process "
                                    f"({_holder(out_lock)}); wait for it to finish")
        os.ftruncate(held, 0)
        os.write(held, f"pid {os.getpid()}\n".encode())
        _clear_stale(area, prefix)
        try:
            staging = Path(tempfile.mkdtemp(prefix=f"{prefix}.{os.getpid()}.", suffix=".tmp", dir=area))
        except OSError as exc:
            raise _cannot_write(area, exc) from None
        own_lock = staging.with_name(staging.name + ".lock")
        with _flock(own_lock, blocking=True, remove=True):
            try:
                yield staging
                dead = _orphaned(chain) if check_parent else None
                if dead is not None:
                    raise OrphanedStageError(
                        f"the parent process (pid {dead}) of this stage died while {final} was "
                        "being built; the results are discarded, not swapped in")
                os.chmod(staging, 0o777 & ~_umask())
                try:
                    if final.exists():
                        old = area / f"{prefix}.{os.getpid()}.old"
                        shutil.rmtree(old, ignore_errors=True)
                        os.replace(final, old)
                        os.replace(staging, final)
                        shutil.rmtree(old, ignore_errors=True)
                    else:
                        os.replace(staging, final)
                except OSError as exc:
                    raise _cannot_write(final, exc) from None
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise


def read_yaml(path: str | os.PathLike) -> Any:
    """Parse a YAML file with libyaml's C loader when available (safe subset)."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with open(path, encoding="utf-8") as fh:
        return yaml.load(fh, Loader=loader)  # noqa: S506 - a safe loader
