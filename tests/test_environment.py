"""pyproject.toml, environment.yml and constraints.txt pin the same versions; the running
environment is the locked one; test-only packages stay out of the library; the CLI lists
its commands."""
from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pyproject_pins() -> dict[str, str]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    reqs = list(data["project"]["dependencies"])
    for extra in data["project"].get("optional-dependencies", {}).values():
        reqs += extra
    pins = {}
    for r in reqs:
        name, _, version = r.partition("==")
        assert version, f"pyproject.toml: {r!r} is not pinned with =="
        pins[_norm(name)] = version
    return pins


def _conda_pins() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pins = {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            for p in dep.get("pip", []):
                if "==" in p:
                    name, _, version = p.partition("==")
                    pins[_norm(name)] = version
        elif "=" in dep:
            name, _, version = dep.partition("=")
            pins[_norm(name)] = version
    return pins


def _constraints() -> dict[str, str]:
    pins: dict[str, str] = {}
    for n, line in enumerate((ROOT / "constraints.txt").read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([A-Za-z0-9.+!-]+)", line)
        assert m, f"constraints.txt line {n}: {line!r} is not name==version"
        name = _norm(m.group(1))
        assert name not in pins, f"constraints.txt line {n}: {name} pinned twice"
        pins[name] = m.group(2)
    return pins


def test_constraints_lock_every_pin_of_pyproject():
    locked, py = _constraints(), _pyproject_pins()
    assert {k: locked.get(k) for k in py} == py
    assert "amirova-sem-pipeline" not in locked               # the project itself is not locked
    assert len(locked) > 150                                   # the whole tree, not the direct pins


def test_scikit_learn_is_not_held_back():
    """Issue 11 item 9: no runtime pin below 1.8; the lock has a current release."""
    from packaging.version import Version

    assert "scikit-learn" not in _pyproject_pins()             # nothing of ours imports it
    assert Version(_constraints()["scikit-learn"]) >= Version("1.8")
    assert not re.search(r"scikit-learn\s*[<=]", (ROOT / "environment.yml").read_text())


def test_installed_environment_is_the_locked_one():
    from importlib.metadata import PackageNotFoundError, version

    wrong, absent = {}, []
    for name, pinned in _constraints().items():
        try:
            got = version(name)
        except PackageNotFoundError:       # e.g. importlib_metadata, only needed below 3.12
            absent.append(name)
            continue
        if got != pinned:
            wrong[name] = (got, pinned)
    assert not wrong, f"installed != constraints.txt (run bash scripts/venv.sh): {wrong}"
    assert not set(absent) & set(_pyproject_pins()), absent
    assert len(absent) <= 5, absent


def test_python_311_to_313_are_supported():
    from packaging.specifiers import SpecifierSet

    spec = SpecifierSet(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"])
    assert [v for v in ("3.10", "3.11", "3.12", "3.13", "3.14") if v in spec] == ["3.11", "3.12", "3.13"]
    assert f"{sys.version_info.major}.{sys.version_info.minor}" in spec


def test_venv_script_installs_from_the_lock():
    script = (ROOT / "scripts" / "venv.sh").read_text()
    assert re.search(r'pip install --quiet -c constraints\.txt -e "\.\[dev\]"', script)
    assert "cat pyproject.toml constraints.txt | sha256sum" in script       # reinstall on change


def test_test_only_packages_stay_out_of_the_library():
    """semopy, factor_analyzer and scikit-learn are oracles of the tests, not run-time code."""
    dev = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["dev"]
    assert {_norm(r.partition("==")[0]) for r in dev} >= {"semopy", "factor-analyzer"}
    pat = re.compile(r"^\s*(?:import|from)\s+(semopy|factor_analyzer|sklearn)\b", re.M)
    hits = [f"{f.relative_to(ROOT)}: {m.group(1)}"
            for d in ("pipeline", "studies") for f in sorted((ROOT / d).rglob("*.py"))
            for m in pat.finditer(f.read_text(encoding="utf-8"))]
    assert hits == []


def test_environment_yml_agrees_with_pyproject():
    py, conda = _pyproject_pins(), _conda_pins()
    conda.pop("python", None)
    assert py == conda


def test_python_version_in_environment_yml_is_311():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert "python=3.11" in env["dependencies"]


def test_cli_help_lists_subcommands():
    out = subprocess.run([sys.executable, "-m", "pipeline", "--help"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    for cmd in ("synth", "screen", "reliability", "efa", "fit", "power", "cea"):
        assert re.search(rf"^\s+{cmd}\s", out, re.M), cmd


def test_cli_unknown_command_exits_2():
    r = subprocess.run([sys.executable, "-m", "pipeline", "nonsense"], cwd=ROOT,
                       capture_output=True, text=True)
    assert r.returncode == 2
    assert "unknown command" in r.stderr


def test_yaml_config_files_have_no_duplicate_keys():
    """PyYAML keeps the last of two equal keys silently; DVC refuses the file."""
    class Strict(yaml.SafeLoader):
        pass

    def construct_mapping(loader, node, deep=False):
        keys = [loader.construct_object(k, deep=deep) for k, _ in node.value]
        dup = {k for k in keys if keys.count(k) > 1}
        if dup:
            raise AssertionError(f"duplicate key(s) {sorted(dup)} at line {node.start_mark.line + 1}")
        return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)

    Strict.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping)
    files = [ROOT / "params.yaml", ROOT / "dvc.yaml", *sorted((ROOT / "studies" / "amirova2021" / "codebooks").glob("*.yaml")),
             *sorted((ROOT / "data" / "published").glob("*.yaml")), *sorted((ROOT / "models").glob("*.yaml"))]
    for f in files:
        yaml.load(f.read_text(encoding="utf-8"), Loader=Strict)  # noqa: S506
