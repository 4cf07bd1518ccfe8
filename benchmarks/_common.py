"""Shared helpers of the benchmark scripts (not a test module)."""
from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import time
from contextlib import contextmanager
from datetime import datetime, timezone

from pipeline.core import paths

DATA_N300 = paths.ROOT / "tests" / "reference" / "data" / "thesis_n300.csv"
MODEL = paths.MODELS / "cs2019" / "thesis_sem.lav"
POPULATION = paths.MODELS / "thesis_population.lav"


def machine() -> str:
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as fh:
            m = re.search(r"model name\s*:\s*(.+)", fh.read())
            cpu = m.group(1).strip() if m else cpu
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"{cpu}; {len(os.sched_getaffinity(0))} cores available; load {load:.1f}; "
            f"Python {platform.python_version()}; "
            f"{datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}")


@contextmanager
def timer(out: dict, key: str):
    t = time.perf_counter()
    yield
    out.setdefault(key, []).append(time.perf_counter() - t)


def semopy_syntax(text: str) -> str:
    """The model without ``:=`` lines and labels (semopy 2.3 rejects both)."""
    lines = []
    for line in text.splitlines():
        line = line.split("#")[0].rstrip()
        if not line or ":=" in line:
            continue
        lines.append(re.sub(r"\b[A-Za-z_]\w*\*", "", line))
    return "\n".join(lines)


def have_r() -> bool:
    if shutil.which("Rscript") is None:
        return False
    r = subprocess.run(["Rscript", "-e", "library(lavaan)"], capture_output=True)
    return r.returncode == 0
