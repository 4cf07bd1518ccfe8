"""What every command shares: reading a data file, the help formatter, printing the options used.

Generic commands (``describe``, ``reliability``, ``efa``, ``fit``, ``power``)
use the library's defaults -- lavaan's and psych's -- unless told otherwise:
they never read a study's settings.  ``--help`` shows every default, and each
command prints the options it ran with.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

__all__ = ["read_data", "parser", "options_line"]


def read_data(path: str | Path) -> pd.DataFrame:
    """Read a CSV, XLSX or SAV file (:func:`pipeline.data.loading.read_table`:
    strict encodings, SAV user-missing codes as NaN)."""
    from pipeline.data.loading import read_table
    return read_table(path)


class _Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults shown in ``--help``; the description keeps its line breaks."""


def parser(command: str, description: str) -> argparse.ArgumentParser:
    """An argument parser for ``python -m pipeline COMMAND`` whose ``--help`` shows every default."""
    return argparse.ArgumentParser(prog=f"python -m pipeline {command}", description=description,
                                   formatter_class=_Formatter)


def options_line(options: Mapping[str, Any]) -> str:
    """``options: likelihood=normal, missing=listwise, ...`` (what a command ran with)."""
    return "options: " + ", ".join(f"{k}={v}" for k, v in options.items())
