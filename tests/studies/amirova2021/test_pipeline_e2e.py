"""End to end: `dvc repro` on a clean clone builds every report; a second run
does nothing; an interrupted run recovers; two runs at once do not corrupt
`dvc.lock` (issue 2 "Done when", issue 6 "Tests", issue 8 items 16-18).

One clone is built per session (module fixture) and reused: the full
pipeline takes minutes, so these tests are marked ``slow`` (they still run
in CI: ``bash test.sh`` runs everything).
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.slow

WAVES = ("cs2019", "cs2020", "citizens2020", "holzinger1939")
THESIS = ("cs2019", "cs2020", "citizens2020")
SECTIONS = {
    "cs2019": ["Screening", "Demographics (Table 11)", "Descriptive statistics",
               "Reliability and validity (Table K.1)", "Exploratory factor analysis",
               "CFA fit (Table 12)", "Structural model (Table K.2)", "Hypotheses (Table 13)",
               "Path diagram", "Replication of the published numbers"],
    "cs2020": ["Respondent profiles (Tables 14 and 16)", "Response distributions (figures 16-27)",
               "Reliability and CFA of the 2020 instrument", "ACSA vs akimat, item by item"],
    "citizens2020": ["Respondent profile (Table 17)", "Frequencies (figures 28-31)",
                     "Free-text answers"],
}


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.pop("PIPELINE_ROOT", None)
    return env


def _dvc(clone: Path, *args: str, check: bool = True, timeout: int = 1800) -> subprocess.CompletedProcess:
    r = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=clone, env=_env(),
                       capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError(f"dvc {' '.join(args)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    return r


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    """A clean clone of the committed project with a full `dvc repro` done.

    The clone is of HEAD: uncommitted work is not part of it (as in CI).
    """
    dest = tmp_path_factory.mktemp("clone") / "repo"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(dest)], check=True)
    # the clone has the committed defaults; only the bootstrap B is lowered
    # to keep the suite within minutes (B is a parameter, not code)
    params = dest / "params.yaml"
    text = params.read_text(encoding="utf-8")
    params.write_text(re.sub(r"(?m)^(\s+B:\s*)\d+", r"\g<1>500", text), encoding="utf-8")
    _dvc(dest, "repro")
    return dest


def test_repro_builds_every_report_and_index(clone):
    for wave in WAVES:
        d = clone / "reports" / wave
        assert (d / "report.ipynb").is_file(), wave
        assert (d / "report.html").is_file(), wave
        assert (d / "report.docx").is_file(), wave          # issue 13 item 3
        assert list((d / "tables").glob("*.csv")), wave
        assert list((d / "tables").glob("*.tex")), wave
        tables = {p.stem for p in (d / "tables").glob("*.csv")}
        assert tables == {p.stem for p in (d / "tables").glob("*.docx")}, wave
        html = (d / "report.html").read_text(encoding="utf-8")
        assert "Methods and provenance" in html and "SHA-256" in html, wave   # item 6
        assert str(clone) not in html and 'id="T_' not in html, wave          # item 7
    assert (clone / "reports" / "index.html").is_file()
    assert (clone / "reports" / "scorecard.csv").is_file()
    cea = clone / "reports" / "cea"
    assert cea.is_dir() and list(cea.rglob("*.png")) and list(cea.rglob("*.svg"))


@pytest.mark.parametrize("wave", THESIS)
def test_report_html_has_every_section_and_the_banner(clone, wave):
    html = (clone / "reports" / wave / "report.html").read_text(encoding="utf-8")
    for title in SECTIONS[wave]:
        assert title in html, f"{wave}: section {title!r} missing"
    assert "SYNTHETIC DATA" in html
    assert "Traceback" not in html


def test_second_study_report_is_real_data_without_thesis_words(clone):
    html = (clone / "reports" / "holzinger1939" / "report.html").read_text(encoding="utf-8")
    assert "SYNTHETIC DATA" not in html and "Traceback" not in html
    for title in ("CFA fit", "Group comparison", "Reliability and validity"):
        assert title in html
    # (the report numbers its own tables, so "Table 11" may appear; the thesis's captions
    # may not; embedded images are base64, where any three letters may occur)
    text = re.sub(r'data:[^"\s]+', "", html)
    for word in ("Citizen", "Annex", "Table 11.", "Demographic characteristics", "ICS"):
        assert word not in text


def test_index_links_every_report_and_shows_banner(clone):
    html = (clone / "reports" / "index.html").read_text(encoding="utf-8")
    for wave in WAVES:
        assert f"{wave}/report.html" in html
    assert "synthetic" in html.lower()


def test_figures_written_as_png_and_svg(clone):
    figs = clone / "reports" / "cs2019" / "figures"
    stems = {p.stem for p in figs.glob("*.png")}
    assert stems and stems == {p.stem for p in figs.glob("*.svg")}
    assert "structural_path_diagram" in stems or "diagram_path_diagram" in stems


def test_second_repro_has_nothing_to_do(clone):
    st = _dvc(clone, "status")
    assert "up to date" in st.stdout.lower(), st.stdout
    r = _dvc(clone, "repro")
    assert "Running stage" not in r.stdout, r.stdout


def test_raw_data_untouched_and_no_respondent_rows_in_reports(clone):
    # data/raw holds nothing the pipeline wrote (only what git tracks, unchanged)
    raw = clone / "data" / "raw"
    tracked = set(subprocess.run(["git", "ls-files", "data/raw"], cwd=clone, capture_output=True,
                                 text=True, check=True).stdout.split())
    assert not [p for p in raw.rglob("*") if p.is_file()
                and p.relative_to(clone).as_posix() not in tracked]
    assert subprocess.run(["git", "diff", "--quiet", "--", "data/raw"], cwd=clone).returncode == 0
    # no report table carries a respondent id column
    for csv in (clone / "reports").rglob("*.csv"):
        head = csv.read_text(encoding="utf-8").splitlines()[0].split(",")
        assert "id" not in head, csv


def test_concurrent_repro_fails_cleanly_and_lock_stays_intact(clone):
    """Issue 8 item 18: the second `dvc repro` fails on DVC's lock; dvc.lock stays valid."""
    lock_before = (clone / "dvc.lock").read_text()
    first = subprocess.Popen([sys.executable, "-m", "dvc", "repro", "--force", "report@citizens2020"],
                             cwd=clone, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    try:
        time.sleep(3)
        second = _dvc(clone, "repro", check=False, timeout=600)
    finally:
        out, err = first.communicate(timeout=900)
    assert first.returncode == 0, err
    assert second.returncode != 0
    assert "lock" in (second.stderr + second.stdout).lower()
    lock = yaml.safe_load((clone / "dvc.lock").read_text())
    assert set(yaml.safe_load(lock_before)["stages"]) == set(lock["stages"])
    # the forced report is byte-identical (no execution times in its notebook);
    # a rerun leaves everything up to date
    _dvc(clone, "repro")
    assert "up to date" in _dvc(clone, "status").stdout.lower()


def test_interrupted_repro_recovers(clone):
    """Issue 8 item 17: kill `dvc repro` mid-stage, rerun: consistent outputs, clean status."""
    report = clone / "reports" / "cs2020" / "report.html"
    proc = subprocess.Popen([sys.executable, "-m", "dvc", "repro", "--force", "analyze@cs2020",
                             "report@cs2020"], cwd=clone, env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    deadline = time.time() + 600
    seen = ""
    while time.time() < deadline:
        line = proc.stdout.readline()
        seen += line
        if "Running stage 'report@cs2020'" in line or not line:
            break
    time.sleep(2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    _dvc(clone, "repro")
    assert report.is_file()
    assert "up to date" in _dvc(clone, "status").stdout.lower()
    # the killed run left nothing beside the outputs (staging happens in .staging/)
    assert not [p for p in (clone / "reports").iterdir()
                if p.name.startswith(".") and p.name != ".gitignore"]
    assert not [p for p in (clone / "data" / "processed" / "cs2020").iterdir()
                if p.name.startswith(".") and p.name != ".gitignore"]
    assert "up to date" in _dvc(clone, "status").stdout.lower()


def test_new_study_then_repro_builds_its_report_and_skips_every_other_stage(clone):
    """Issue 11 item 5: `new-study` on a real file the repository's studies do not use,
    then `dvc repro`: the new report is built with no further edits; every stage of
    the other studies prints "didn't change, skipping"."""
    r = subprocess.run([sys.executable, "-m", "pipeline", "new-study", "bfi", "--data",
                        str(ROOT / "tests" / "reference" / "data" / "bfi.csv"), "--group", "gender"],
                       cwd=clone, env=_env(), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    out = _dvc(clone, "repro").stdout
    assert (clone / "reports" / "bfi" / "report.html").is_file()
    for stage in ("synth", "cea", *(f"{f}@{w}" for f in ("prepare", "analyze", "report")
                                    for w in WAVES)):
        assert f"Stage '{stage}' didn't change, skipping" in out, (stage, out)
    for stage in ("prepare@bfi", "analyze@bfi", "report@bfi"):
        assert f"Running stage '{stage}'" in out
