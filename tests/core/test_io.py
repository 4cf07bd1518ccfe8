"""Atomic outputs: no half-written result, no removal of a live writer's folder,
a lock per output, no swap by an orphaned stage, clean errors (issue 14, items 5 and 7)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from pipeline.core import io
from pipeline.core.io import (OrphanedStageError, OutputLockedError, OutputWriteError, atomic_dir,
                              atomic_write, write_csv, write_text)

ROOT = Path(__file__).resolve().parents[2]


def _python(code: str, *args: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(path: Path, timeout: float = 20.0) -> None:
    end = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > end:
            raise AssertionError(f"{path} never appeared")
        time.sleep(0.02)


def test_failed_write_keeps_the_previous_file(tmp_path):
    target = tmp_path / "cs2019.csv"
    target.write_text("old\n")
    with pytest.raises(RuntimeError):
        with atomic_write(target) as fh:
            fh.write("new, half")
            raise RuntimeError("killed")
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["cs2019.csv"]


def test_sigkill_during_a_write_keeps_the_tracked_file_and_the_rerun_cleans_up(tmp_path):
    """A kill during synth: the git-tracked file stays as it was; the temp file the
    killed writer left is removed by the next write of that file."""
    target = tmp_path / "cs2019.csv"
    target.write_text("tracked version\n")
    flag = tmp_path / "writing"
    p = _python("""
        import sys, time
        from pathlib import Path
        from pipeline.core.io import atomic_write
        with atomic_write(sys.argv[1]) as fh:
            fh.write("partial")
            fh.flush()
            Path(sys.argv[2]).touch()
            time.sleep(60)
        """, str(target), str(flag))
    _wait_for(flag)
    p.send_signal(signal.SIGKILL)
    p.wait()
    assert target.read_text() == "tracked version\n"
    leftovers = [q for q in tmp_path.iterdir() if q.name.endswith(".tmp")]
    assert len(leftovers) == 1 and f".{p.pid}." in leftovers[0].name
    write_text(target, "regenerated\n")
    assert target.read_text() == "regenerated\n"
    assert not [q for q in tmp_path.iterdir() if q.name.endswith(".tmp")]


def test_staging_names_carry_the_pid_and_a_live_writers_folder_survives(tmp_path):
    out = tmp_path / "results"
    ready, release = tmp_path / "ready", tmp_path / "release"
    # another process builds a different output whose staging name shares our prefix pattern,
    # and a stale folder of a dead writer lies around
    stale = tmp_path / f".results.999999999.abc.tmp"
    stale.mkdir()
    p = _python("""
        import sys, time
        from pathlib import Path
        from pipeline.core.io import atomic_dir
        out, ready, release = map(Path, sys.argv[1:4])
        with atomic_dir(out) as tmp:
            (tmp / "a.csv").write_text("1")
            ready.write_text(tmp.name)
            while not release.exists():
                time.sleep(0.02)
        """, str(out), str(ready), str(release))
    try:
        _wait_for(ready)
        live = tmp_path / ready.read_text()
        assert f".results.{p.pid}." in live.name
        assert not stale.exists()              # the dead writer's folder was cleared by the live one
        # a second writer of the same output is refused while the first holds the lock ...
        with pytest.raises(OutputLockedError, match=f"pid {p.pid}"):
            with atomic_dir(out):
                pass
        assert live.exists() and (live / "a.csv").exists()   # ... and did not touch its folder
    finally:
        release.touch()
        p.wait(timeout=20)
    assert p.returncode == 0, p.stderr.read()
    assert (out / "a.csv").read_text() == "1"
    with atomic_dir(out) as tmp:               # the lock is free again
        (tmp / "b.csv").write_text("2")
    assert sorted(q.name for q in out.iterdir()) == ["b.csv"]


def test_stale_folder_with_a_free_lock_is_removed_but_a_held_one_is_not(tmp_path):
    out = tmp_path / "prepared"
    held = tmp_path / f".prepared.{os.getpid()}.held.tmp"
    held.mkdir()
    freed = tmp_path / ".prepared.1.freed.tmp"
    freed.mkdir()
    (tmp_path / (freed.name + ".lock")).touch()
    with io._flock(tmp_path / (held.name + ".lock"), blocking=True):
        with atomic_dir(out) as tmp:
            (tmp / "x").write_text("x")
        assert held.exists() and not freed.exists()


def test_an_orphaned_stage_does_not_swap_in_its_results(tmp_path):
    """SIGKILL of the parent (dvc repro): the stage, now an orphan, discards its folder."""
    out = tmp_path / "results"
    ready, release, done = tmp_path / "ready", tmp_path / "release", tmp_path / "done"
    parent = _python("""
        import subprocess, sys, time, os
        child = subprocess.Popen([sys.executable, "-c", '''
        import sys, time
        from pathlib import Path
        from pipeline.core.io import atomic_dir, OrphanedStageError
        out, ready, release, done = map(Path, sys.argv[1:5])
        try:
            with atomic_dir(out) as tmp:
                (tmp / "r.csv").write_text("late")
                ready.touch()
                while not release.exists():
                    time.sleep(0.02)
        except OrphanedStageError as exc:
            done.write_text("orphan: " + str(exc))
        else:
            done.write_text("swapped")
        ''', *sys.argv[1:5]], env=os.environ)
        time.sleep(60)
        """, str(out), str(ready), str(release), str(done))
    _wait_for(ready)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    release.touch()
    _wait_for(done)
    assert done.read_text().startswith("orphan: the parent process")
    assert not out.exists()
    assert not [q for q in tmp_path.iterdir() if q.name.endswith(".tmp")]


def test_read_only_folder_is_a_clean_error(tmp_path, monkeypatch):
    def deny(*a, **k):
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr(tempfile, "mkstemp", deny)
    with pytest.raises(OutputWriteError, match=r"cannot write .*out\.csv: Permission denied"):
        write_text(tmp_path / "out.csv", "x")
    monkeypatch.undo()
    monkeypatch.setattr(os, "access", lambda *a, **k: False)
    with pytest.raises(OutputWriteError, match="read-only"):
        with atomic_dir(tmp_path / "d"):
            pass
    assert isinstance(OutputWriteError("x"), PermissionError)


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_read_only_folder_for_real(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        with pytest.raises(OutputWriteError, match="cannot write"):
            write_text(ro / "x.txt", "x")
    finally:
        ro.chmod(0o755)


def test_cli_prints_the_write_error_without_traceback(tmp_path, monkeypatch, capsys):
    from pipeline.__main__ import main
    monkeypatch.setattr(tempfile, "mkstemp", lambda *a, **k: (_ for _ in ()).throw(PermissionError(13, "Permission denied")))
    data = ROOT / "data" / "synthetic" / "cs2019.csv"
    rc = main(["screen", str(data), "--instrument", "cs2019", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 2 and "cannot write" in err and "Traceback" not in err


def test_csv_for_people_neutralises_formulas(tmp_path):
    import pandas as pd
    df = pd.DataFrame({"label": ["=1+1", "ok"], "x": [-1.5, 2.0]})
    write_csv(tmp_path / "t.csv", df, for_people=True, index=False)
    assert (tmp_path / "t.csv").read_text() == "label,x\n'=1+1,-1.5\nok,2.0\n"
    write_csv(tmp_path / "u.csv", df, index=False)            # machine CSVs keep the value
    assert "=1+1" in (tmp_path / "u.csv").read_text().splitlines()[1].split(",")[0]


@pytest.mark.parametrize("err", [(30, "Read-only file system"), (28, "No space left on device")])
def test_read_only_file_system_and_full_disk_are_clean_errors(tmp_path, monkeypatch, err):
    target = tmp_path / "old.csv"
    target.write_text("kept\n")

    class Full:
        def __init__(self, fh):
            self.fh = fh

        def write(self, s):
            raise OSError(*err)

        def __getattr__(self, name):
            return getattr(self.fh, name)
    with pytest.raises(OutputWriteError, match=err[1]):
        with atomic_write(target) as fh:
            Full(fh).write("x")
    assert target.read_text() == "kept\n"
    assert [p.name for p in tmp_path.iterdir()] == ["old.csv"]
    monkeypatch.setattr(tempfile, "mkstemp", lambda *a, **k: (_ for _ in ()).throw(OSError(*err)))
    with pytest.raises(OutputWriteError, match=err[1]):
        write_text(tmp_path / "new.csv", "x")


def test_exit_when_orphaned_stops_the_orphan(tmp_path):
    """SIGKILL of the parent: a stage that called exit_when_orphaned() stops within seconds."""
    ready, alive = tmp_path / "ready", tmp_path / "pid"
    parent = _python("""
        import subprocess, sys, time, os
        subprocess.Popen([sys.executable, "-c", '''
        import sys, time, os
        from pathlib import Path
        from pipeline.core.io import exit_when_orphaned
        exit_when_orphaned(0.05)
        Path(sys.argv[2]).write_text(str(os.getpid()))
        Path(sys.argv[1]).touch()
        time.sleep(30)
        ''', *sys.argv[1:3]], env=os.environ)
        time.sleep(60)
        """, str(ready), str(alive))
    _wait_for(ready)
    child = int(alive.read_text())
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    def running() -> bool:          # a zombie (not reaped by a container's pid 1) has stopped
        try:
            stat = Path(f"/proc/{child}/stat").read_text()
        except OSError:
            return False
        return stat[stat.rindex(")") + 2] != "Z"
    end = time.monotonic() + 10
    while running() and time.monotonic() < end:
        time.sleep(0.05)
    assert not running()
