"""The Amirova (2021) study, wave by wave: preparation, analyses and report sections.

This module orchestrates the analysis modules for the DVC stages
(:mod:`pipeline.stages`) and renders the stored results for the thin report
notebooks.  It computes nothing itself that belongs to an analysis family:
screening, descriptives, reliability, EFA, SEM and fit indices come from
their own modules.

Stages
------
``prepare_wave(wave)``
    raw file -> codebook validation -> screening -> free-text redaction ->
    ``data/processed/<wave>/prepared/``.
``analyze_wave(wave)``
    prepared data -> every section of the wave's report, stored under
    ``data/processed/<wave>/results/<section>/`` plus ``computed.json``
    (values the replication scorecard compares with the published ones).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pandas as pd

from . import config, paths
from ._io import write_csv, write_json

__all__ = ["REPORT_SECTIONS", "WaveReport", "prepare_wave", "analyze_wave",
           "prepared_dir", "results_dir", "load_prepared"]

# notebook kind -> ordered (section key, title)
REPORT_SECTIONS: dict[str, list[tuple[str, str]]] = {
    "sem_wave_report": [
        ("screening", "Screening"),
        ("demographics", "Demographics (Table 11)"),
        ("descriptives", "Descriptive statistics"),
        ("reliability", "Reliability and validity (Table K.1)"),
        ("efa", "Exploratory factor analysis"),
        ("cfa", "CFA fit (Table 12)"),
        ("structural", "Structural model (Table K.2)"),
        ("hypotheses", "Hypotheses (Table 13)"),
        ("diagram", "Path diagram"),
        ("replication", "Replication of the published numbers"),
    ],
    "org_wave_report": [
        ("screening", "Screening"),
        ("profile", "Respondent profiles (Tables 14 and 16)"),
        ("distributions", "Response distributions (figures 16-27)"),
        ("reliability", "Reliability and CFA of the 2020 instrument"),
        ("comparison", "ACSA vs akimat, item by item"),
        ("replication", "Replication of the published numbers"),
    ],
    "citizens_report": [
        ("screening", "Screening"),
        ("profile", "Respondent profile (Table 17)"),
        ("frequencies", "Frequencies (figures 28-31)"),
        ("freetext", "Free-text answers"),
        ("replication", "Replication of the published numbers"),
    ],
}


def prepared_dir(wave: str) -> Path:
    return paths.wave_dir(wave) / "prepared"


def results_dir(wave: str) -> Path:
    return paths.wave_dir(wave) / "results"


def _raw_path(wave: str) -> Path:
    return paths.resolve(config.wave_params(wave)["raw"])


# ------------------------------------------------------------------ report
class WaveReport:
    """What a report notebook calls: a header (with the synthetic banner) and sections."""

    def __init__(self, wave: str, out_dir: str | os.PathLike = ".") -> None:
        self.wave = wave
        self.out_dir = Path(out_dir)
        self.params = config.wave_params(wave)
        self.results = results_dir(wave)

    def header_html(self) -> str:
        from .reports import synthetic_banner, wave_is_synthetic

        meta = wave_is_synthetic(self.params["raw"])
        info = json.loads((self.results / "info.json").read_text(encoding="utf-8")) \
            if (self.results / "info.json").exists() else {}
        rows = "".join(f"<tr><th style='text-align:left'>{k}</th><td>{v}</td></tr>"
                       for k, v in info.items())
        return synthetic_banner(meta) + f"<table>{rows}</table>"

    def header(self) -> None:
        from IPython.display import HTML, display
        display(HTML(self.header_html()))

    def section_html(self, key: str) -> str:
        from .reports import SectionReader
        return SectionReader(self.results, key).render(self.out_dir)

    def show(self, key: str) -> None:
        from IPython.display import HTML, display
        display(HTML(self.section_html(key)))


def load_prepared(wave: str) -> pd.DataFrame:
    """The screened, redacted data of a wave (as written by :func:`prepare_wave`)."""
    return pd.read_csv(prepared_dir(wave) / "clean.csv", keep_default_na=True)
