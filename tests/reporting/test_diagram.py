"""Path diagram renders every structural node and every standardized estimate."""
from __future__ import annotations

import matplotlib
import pandas as pd
import pytest

from pipeline.reporting.diagram import path_diagram

matplotlib.use("Agg")


def _pt():
    rows = [("F1", "=~", "a1", 1.0, 0.8, None), ("F1", "=~", "a2", 1.1, 0.7, 0.0),
            ("F2", "=~", "b1", 1.0, 0.9, None), ("F2", "=~", "b2", 0.9, 0.6, 0.0),
            ("m", "~", "F1", 0.5, 0.41, 0.001), ("F2", "~", "m", 0.3, 0.27, 0.2),
            ("F2", "~", "F1", 0.2, 0.19, 0.04)]
    return pd.DataFrame(rows, columns=["lhs", "op", "rhs", "est", "std.all", "pvalue"])


def test_diagram_labels():
    fig = path_diagram(_pt(), title="t")
    texts = {t.get_text() for t in fig.axes[0].texts}
    assert {"F1", "F2", "m", "a1", "b2"} <= texts
    assert {"0.41*", "0.27", "0.19*"} <= texts  # stars follow p < .05
    # layout: F1 (exogenous) left of m, m left of F2
    pos = {t.get_text(): t.get_position()[0] for t in fig.axes[0].texts}
    assert pos["F1"] < pos["m"] < pos["F2"]


def test_diagram_rejects_table_without_std():
    with pytest.raises(ValueError, match="std.all"):
        path_diagram(_pt().drop(columns="std.all"))
