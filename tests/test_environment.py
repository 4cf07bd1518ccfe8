"""The two environment descriptions pin the same versions, and the CLI lists its commands."""
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
