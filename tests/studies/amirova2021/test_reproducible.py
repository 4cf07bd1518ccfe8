"""Byte-reproducible outputs (issue 13 item 7).

Two fresh clones of the committed project, in two folders with different
names, each run ``dvc repro report@holzinger1939`` (prepare, analyze and
report of the small real-data wave).  Then:

* every output file (``data/processed/holzinger1939``, ``reports/holzinger1939``)
  is byte-identical between the two folders;
* no output contains an absolute path, either folder's name, the staging
  folder, a timestamp or a random id (also inside the ``.docx`` archives);
* ``dvc status`` of the stages is clean, and the two ``dvc.lock`` entries are
  identical;
* the entries equal the committed ``dvc.lock`` (a fresh clone in any folder
  leaves it exactly as committed) - when the committed lock lists the stages.

The clones run side by side (one process each) to stay within ~60 s.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
WAVE = "holzinger1939"
STAGES = [f"prepare@{WAVE}", f"analyze@{WAVE}", f"report@{WAVE}"]
OUTPUTS = (f"data/processed/{WAVE}", f"reports/{WAVE}")

#: what no output may contain besides the folder names: ISO timestamps (the
#: fixed 2000-01-01 of reporting.docx's core properties is not a run's time),
#: uuid4s, pandas Styler ids, papermill's run metadata, the staging folder.
FORBIDDEN = [re.compile(rb"\b(?!2000-01-01T00:00)20\d\d-[01]\d-[0-3]\dT[0-2]\d:[0-5]\d"),
             re.compile(rb"\b[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\b"),
             re.compile(rb'id="T_[0-9a-f]{5}'),
             re.compile(rb'"(start_time|end_time|input_path|output_path)"'),
             re.compile(rb"\.staging")]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.pop("PIPELINE_ROOT", None)
    return env


def _files(clone: Path) -> dict[str, bytes]:
    out = {}
    for top in OUTPUTS:
        for p in sorted((clone / top).rglob("*")):
            if p.is_file():
                out[p.relative_to(clone).as_posix()] = p.read_bytes()
    return out


def _texts(name: str, data: bytes) -> list[bytes]:
    """The bytes to search: the file, or each member of an Office (zip) file."""
    if name.endswith((".docx", ".xlsx")):
        with zipfile.ZipFile(__import__("io").BytesIO(data)) as z:
            return [z.read(n) for n in z.namelist()]
    return [data]


@pytest.fixture(scope="module")
def clones(tmp_path_factory) -> list[Path]:
    base = tmp_path_factory.mktemp("repro")
    dests = [base / "first-folder" / "proj", base / "zz other_place" / "copy2"]
    procs = []
    for d in dests:
        d.parent.mkdir(parents=True)
        subprocess.run(["git", "clone", "--quiet", str(ROOT), str(d)], check=True)
        procs.append(subprocess.Popen([sys.executable, "-m", "dvc", "repro", STAGES[-1]], cwd=d,
                                      env=_env(), stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, text=True))
    for d, p in zip(dests, procs):
        out, _ = p.communicate(timeout=600)
        assert p.returncode == 0, f"dvc repro in {d} failed:\n{out}"
    return dests


def test_outputs_are_byte_identical_in_two_folders(clones):
    a, b = (_files(c) for c in clones)
    assert a and sorted(a) == sorted(b)
    assert f"reports/{WAVE}/report.html" in a and f"reports/{WAVE}/report.docx" in a
    differ = [n for n in a if a[n] != b[n]]
    assert not differ, f"differ between the two folders: {differ}"


def test_no_output_names_a_folder_a_time_or_a_random_id(clones):
    for clone in clones:
        names = [str(clone).encode(), clone.parent.name.encode(), str(ROOT).encode(),
                 str(Path(os.environ.get("TMPDIR", "/tmp"))).encode() + b"/"]
        for name, data in _files(clone).items():
            for text in _texts(name, data):
                for n in names:
                    assert n not in text, f"{name} contains {n!r}"
                for rx in FORBIDDEN:
                    m = rx.search(text)
                    assert m is None, f"{name} contains {m.group(0)!r}"


def test_lock_is_the_same_in_both_folders_and_status_clean(clones):
    locks = []
    for clone in clones:
        r = subprocess.run([sys.executable, "-m", "dvc", "status", *STAGES], cwd=clone, env=_env(),
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0 and "up to date" in r.stdout.lower(), r.stdout + r.stderr
        lock = yaml.safe_load((clone / "dvc.lock").read_text(encoding="utf-8"))["stages"]
        locks.append({s: lock[s] for s in STAGES})
    assert locks[0] == locks[1]
    committed = yaml.safe_load(subprocess.run(["git", "show", "HEAD:dvc.lock"], cwd=clones[0],
                                              capture_output=True, text=True).stdout or "{}")
    committed = (committed or {}).get("stages") or {}
    if not all(s in committed for s in STAGES):
        pytest.skip("the committed dvc.lock has no entry for these stages yet")
    stale = [s for s in STAGES if committed[s] != locks[0][s]]
    assert not stale, (f"a fresh clone changes the committed dvc.lock for {stale}: run "
                       "`dvc repro` and commit dvc.lock (or an output is not reproducible)")
