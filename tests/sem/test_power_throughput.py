"""Throughput reporting of the power analysis: ``python -m pipeline power`` prints the
replications, wall time, workers and replications per second per worker, and
``--json`` stores them; the statistics do not depend on how the replications ran.

No timing assertions: the figures are checked for consistency (replications =
N values x reps, rate x wall time = replications, per worker = rate / workers).
"""
from __future__ import annotations

import json
import re

import pytest

from pipeline.cli.power import main

POP = "y ~ 0.3*x"


def test_cli_prints_and_stores_throughput_per_worker(tmp_path, capsys):
    out = tmp_path / "power.json"
    rc = main(["--population", POP, "--model", "y ~ x", "--n", "50,80", "--reps", "20",
               "--workers", "2", "--json", str(out), "--no-progress"])
    assert rc == 0
    text = capsys.readouterr().out
    m = re.search(r"Throughput: 40 replications in ([\d.]+) s on 2 local worker processes: "
                  r"([\d,]+) replications/s, ([\d,]+) per worker", text)
    assert m, text
    doc = json.loads(out.read_text())
    t = doc["throughput"]
    assert (t["replications"], t["workers"], t["backend"]) == (40, 2, "processes")
    assert t["reps_per_s"] * t["wall_s"] == pytest.approx(40)
    assert t["reps_per_s_per_worker"] == pytest.approx(t["reps_per_s"] / 2)
    assert float(m.group(1)) == pytest.approx(t["wall_s"], abs=0.006)
    # one worker: the same statistics, reported as one worker in this process
    rc = main(["--population", POP, "--model", "y ~ x", "--n", "50,80", "--reps", "20",
               "--workers", "1", "--json", str(tmp_path / "one.json"), "--no-progress"])
    one = json.loads((tmp_path / "one.json").read_text())
    assert "in this process (1 worker)" in capsys.readouterr().out
    assert one["parameters"] == doc["parameters"] and one["fit"] == doc["fit"]
    assert one["throughput"]["workers"] == 1
