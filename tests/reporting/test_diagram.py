"""Path diagrams (issue 13, item 4): Graphviz layout, labels on their arrows, no arrow through a box.

The geometry is checked on the rendered layout (``PathDiagram.layout()``,
Graphviz's JSON output of the drawn diagram, points with y up).
"""
from __future__ import annotations

import html
import re

import numpy as np
import pandas as pd
import pytest

from pipeline.reporting.diagram import PathDiagram, edge_path, sem_path_diagram, significance_mark



def _thesis_shaped() -> tuple[pd.DataFrame, dict[str, float]]:
    """Five correlated factors -> an observed mediator M -> an outcome factor Y, with
    direct paths (the shape whose old drawing ran X3 -> Y through M's box)."""
    rng = np.random.default_rng(7)
    items = {"X1": 2, "X2": 3, "X3": 5, "X4": 3, "X5": 3, "Y": 2}
    rows = []
    for f, k in items.items():
        for i in range(1, k + 1):
            rows.append((f, "=~", f"{f.lower()}{i}", rng.uniform(0.55, 0.9),
                         np.nan if i == 1 else 1e-6))
    exo = ["X1", "X2", "X3", "X4", "X5"]
    for f in exo:
        rows.append(("M", "~", f, rng.uniform(-0.1, 0.4), rng.uniform(0, 0.3)))
        rows.append(("Y", "~", f, rng.uniform(-0.1, 0.4), rng.uniform(0, 0.3)))
    rows.append(("Y", "~", "M", 0.11, 0.2))
    for i, a in enumerate(exo):
        for b in exo[i + 1:]:
            rows.append((a, "~~", b, rng.uniform(-0.1, 0.35), rng.uniform(0, 0.1)))
    rows += [("M", "~~", "M", 0.79, np.nan), ("Y", "~~", "Y", 0.31, np.nan)]
    pt = pd.DataFrame(rows, columns=["lhs", "op", "rhs", "est.std", "pvalue"])
    return pt, {"M": 0.2118, "Y": 0.6859}


def _cfa() -> pd.DataFrame:
    """A measurement model: four correlated factors and an observed covariate c."""
    pt, _ = _thesis_shaped()
    keep = pt[(pt.op == "=~") & pt.lhs.isin(["X1", "X2", "X3", "X4"])]
    rows = [("X1", "~~", "X2", 0.3, 0.01), ("X1", "~~", "X3", 0.21, 0.04),
            ("X1", "~~", "X4", -0.05, 0.6), ("X2", "~~", "X3", 0.44, 1e-5),
            ("X2", "~~", "X4", 0.12, 0.2), ("X3", "~~", "X4", 0.27, 0.003)]
    rows += [("c", "~~", f, 0.1 * i, 0.5) for i, f in enumerate(["X1", "X2", "X3", "X4"], 1)]
    cov = pd.DataFrame(rows, columns=["lhs", "op", "rhs", "est.std", "pvalue"])
    return pd.concat([keep, cov], ignore_index=True)


@pytest.fixture(scope="module")
def drawn() -> tuple[PathDiagram, dict]:
    pt, r2 = _thesis_shaped()
    d = sem_path_diagram(pt, r2, title="model")
    return d, d.layout()


@pytest.fixture(scope="module")
def cfa_drawn() -> tuple[PathDiagram, dict]:
    d = sem_path_diagram(_cfa(), title="a measurement model with a long title")
    return d, d.layout()


@pytest.fixture(scope="module", params=["sem", "cfa"])
def any_drawn(request, drawn, cfa_drawn) -> tuple[PathDiagram, dict]:
    return drawn if request.param == "sem" else cfa_drawn


def _nodes(layout: dict) -> dict[str, dict]:
    out = {}
    for o in layout["objects"]:
        if "pos" not in o:
            continue
        x, y = (float(v) for v in o["pos"].split(","))
        out[o["name"]] = {"x": x, "y": y, "a": float(o["width"]) * 36, "b": float(o["height"]) * 36,
                          "shape": o.get("shape", "ellipse"), "gvid": o["_gvid"]}
    return out


def _inside(node: dict, pts: np.ndarray, margin: float = 1.0) -> np.ndarray:
    """Points strictly inside the node's drawn shape, shrunk by *margin* points."""
    dx, dy = pts[:, 0] - node["x"], pts[:, 1] - node["y"]
    a, b = node["a"] - margin, node["b"] - margin
    if node["shape"] in ("ellipse", "circle"):
        return (dx / a) ** 2 + (dy / b) ** 2 < 1
    return (np.abs(dx) < a) & (np.abs(dy) < b)


def _distance(path: np.ndarray, x: float, y: float) -> float:
    """Distance from (x, y) to the polyline *path*."""
    a, b = path[:-1], path[1:]
    ab = b - a
    t = np.clip(((x - a[:, 0]) * ab[:, 0] + (y - a[:, 1]) * ab[:, 1])
                / np.maximum((ab ** 2).sum(axis=1), 1e-12), 0, 1)
    return float(np.hypot(a[:, 0] + t * ab[:, 0] - x, a[:, 1] + t * ab[:, 1] - y).min())


def _edges(layout: dict) -> list[dict]:
    names = {o["_gvid"]: o["name"] for o in layout["objects"]}
    return [{"id": e.get("id"), "tail": names[e["tail"]], "head": names[e["head"]],
             "path": edge_path(e["pos"], per_segment=60), "style": e.get("style", "")}
            for e in layout["edges"]]


def test_every_parameter_is_drawn_with_its_mark(drawn):
    d, _ = drawn
    pt, r2 = _thesis_shaped()
    kinds = d.edges["kind"].value_counts().to_dict()
    assert kinds == {"loading": 18, "regression": 11, "covariance": 10, "disturbance": 2}
    svg = html.unescape(d.svg().decode())       # Graphviz writes '-' as &#45;
    y_m = d.edges[(d.edges.kind == "regression") & (d.edges.lhs == "Y") & (d.edges.rhs == "M")]
    assert y_m["label"].tolist() == [".11"]                      # p = .2: no mark
    assert significance_mark(0.0009) == "***" and significance_mark(0.009) == "**"
    assert significance_mark(0.049) == "*" and significance_mark(0.05) == ""
    assert significance_mark(np.nan) == ""
    for r in pt[pt.op.isin(["=~", "~"]) | ((pt.op == "~~") & (pt.lhs != pt.rhs))].itertuples():
        label = f"{r[4]:.2f}".replace("0.", ".", 1) + significance_mark(r.pvalue)
        assert f">{label}<" in svg, label
    assert "R² = .21" in svg and "R² = .69" in svg
    # covariances dashed with two heads; nothing else dashed
    assert svg.count('stroke-dasharray="5,2"') == 10


def test_labels_sit_on_their_arrows(any_drawn):
    d, layout = any_drawn
    nodes = _nodes(layout)
    edges = {e["id"]: e for e in _edges(layout)}
    labelled = d.edges[d.edges.label != ""]
    assert len(labelled) == (39 if "Y" in d.node_ids else 13 + 10)
    for k, row in labelled.iterrows():
        lab = nodes[row.label_node]
        path = edges[f"e{k}"]["path"]
        dist = _distance(path, lab["x"], lab["y"])
        assert dist < 0.5, (row.lhs, row.op, row.rhs, dist)
    # no two labels overlap, and no label covers a box
    rects = {name: (n["x"] - n["a"], n["y"] - n["b"], n["x"] + n["a"], n["y"] + n["b"])
             for name, n in nodes.items() if name != "note"}
    labels = [n for n in rects if n.startswith("l")]
    for i, a in enumerate(labels):
        for b in list(rects):
            if b == a or (b.startswith("l") and labels.index(b) < i):
                continue
            ra, rb = rects[a], rects[b]
            overlap = ra[0] < rb[2] and rb[0] < ra[2] and ra[1] < rb[3] and rb[1] < ra[3]
            assert not overlap, (a, b)


def test_no_arrow_runs_through_a_box(any_drawn):
    d, layout = any_drawn
    nodes = _nodes(layout)
    boxes = {n: v for n, v in nodes.items() if re.fullmatch(r"[nd]\d+", n)}
    if "Y" in d.node_ids:
        assert len(boxes) == 18 + 7 + 2      # indicators, X1-X5 M Y, disturbances
    else:
        assert len(boxes) == 13 + 4 + 1      # indicators, factors, the observed covariate
    checked = 0
    for e in _edges(layout):
        for name, node in boxes.items():
            if name in (e["tail"], e["head"]):
                continue
            hits = int(_inside(node, e["path"]).sum())
            assert hits == 0, (e["tail"], e["head"], "through", name)
            checked += 1
    assert checked == len(_edges(layout)) * (len(boxes) - 2)
    # the note under the diagram lies inside the drawing
    x0, y0, x1, y1 = (float(v) for v in layout["bb"].split(","))
    note = nodes["note"]
    assert x0 <= note["x"] - note["a"] and note["x"] + note["a"] <= x1 + 1


def test_measurement_model_covariances_arc_on_the_right(cfa_drawn):
    d, layout = cfa_drawn
    nodes = _nodes(layout)
    factors = [d.node_ids[f] for f in ("X1", "X2", "X3", "X4", "c")]
    assert len({round(nodes[f]["x"], 1) for f in factors}) == 1          # one column
    right = max(nodes[f]["x"] + nodes[f]["a"] for f in factors)
    arcs = [e for e in _edges(layout) if e["tail"] in factors and e["head"] in factors]
    assert len(arcs) == 10
    for e in arcs:                    # every point of every arc right of the column
        assert e["path"][:, 0].min() >= right - 0.01, (e["tail"], e["head"])


def test_structural_order_left_to_right(drawn):
    d, layout = drawn
    nodes = _nodes(layout)
    x = {name: nodes[nid]["x"] for name, nid in d.node_ids.items()}
    assert max(x[f] for f in ("X1", "X2", "X3", "X4", "X5")) < x["M"] < x["Y"]
    assert max(x[i] for i in ("x11", "x31", "x53")) < x["X1"]       # exogenous indicators left
    assert x["y1"] > x["Y"] and x["y2"] > x["Y"]                      # outcome's indicators right
    # each factor's indicators in order, top to bottom (y up)
    ys = [nodes[d.node_ids[f"x3{i}"]]["y"] for i in range(1, 6)]
    assert ys == sorted(ys, reverse=True)


def test_svg_is_deterministic_and_png_renders(drawn, tmp_path):
    d, _ = drawn
    pt, r2 = _thesis_shaped()
    again = sem_path_diagram(pt, r2, title="model")
    svg = d.svg()
    assert svg == again.svg()
    text = svg.decode()
    assert "Generated by graphviz" not in text
    assert not re.search(r"20\d\d-\d\d-\d\d", text)
    png = d.png(dpi=96)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png == again.png(dpi=96)
    # stands in for a matplotlib figure in SectionWriter.figure
    from pipeline.reporting.report import SectionWriter
    w = SectionWriter(tmp_path, "diagram", "Path diagram")
    w.figure("paths", d, caption="x")
    assert (tmp_path / "diagram" / "paths.svg").read_bytes() == svg
    assert (tmp_path / "diagram" / "paths.png").read_bytes()[:4] == b"\x89PNG"


def test_r2_from_residual_variances_and_errors():
    pt, _ = _thesis_shaped()
    d = sem_path_diagram(pt.rename(columns={"est.std": "std.all"}), show_covariances=False)
    assert d.r2 == pytest.approx({"M": 0.21, "Y": 0.69})
    assert (d.edges.kind == "covariance").sum() == 0
    with pytest.raises(ValueError, match="standardized estimate"):
        sem_path_diagram(pt.drop(columns="est.std"))
    with pytest.raises(ValueError, match=r"parameters: missing column\(s\) \['op'\]"):
        sem_path_diagram(pt.drop(columns="op"))
    with pytest.raises(ValueError, match="no '=~' or '~' row"):
        sem_path_diagram(pt[pt.op == "~~"])
    with pytest.raises(TypeError, match="parameters: expected a DataFrame"):
        sem_path_diagram(pt.to_dict())


def test_edge_path_joins_arrow_tips():
    p = edge_path("e,10,0 0,0 3,0 6,0 8,0")
    assert p[0].tolist() == [0, 0] and p[-1].tolist() == [10, 0]
    assert np.all(np.diff(p[:, 0]) >= 0) and np.allclose(p[:, 1], 0)
    assert len(p) == 1 + 24 + 1


def test_covariances_are_curved(any_drawn):
    """Every two-headed arrow is an arc: its path leaves the chord by more than 8 points."""
    d, layout = any_drawn
    cov_ids = {f"e{k}" for k in d.edges.index[d.edges.kind == "covariance"]}
    edges = [e for e in _edges(layout) if e["id"] in cov_ids]
    assert len(edges) == 10
    for e in edges:
        p = e["path"]
        chord = p[-1] - p[0]
        normal = np.array([-chord[1], chord[0]]) / np.hypot(*chord)
        assert np.abs((p - p[0]) @ normal).max() > 8.0, (e["tail"], e["head"])


def test_correlated_residuals_drawn_around_boxes():
    """Bollen's political democracy shape: residual covariances between indicators
    are dashed curves that cross no box and carry their labels."""
    rows = [("ind60", "=~", x, 0.9, 1e-6) for x in ("x1", "x2", "x3")]
    rows += [("dem60", "=~", y, 0.8, 1e-6) for y in ("y1", "y2", "y3", "y4")]
    rows += [("dem65", "=~", y, 0.8, 1e-6) for y in ("y5", "y6", "y7", "y8")]
    rows += [("dem60", "~", "ind60", 0.45, 1e-4), ("dem65", "~", "ind60", 0.18, 0.02),
             ("dem65", "~", "dem60", 0.89, 1e-9),
             ("y1", "~~", "y5", 0.34, 0.02), ("y2", "~~", "y4", 0.30, 0.04),
             ("y2", "~~", "y6", 0.38, 0.008)]
    pt = pd.DataFrame(rows, columns=["lhs", "op", "rhs", "std.all", "pvalue"])
    d = sem_path_diagram(pt, {"dem60": 0.2, "dem65": 0.95})
    layout = d.layout()
    nodes = _nodes(layout)
    boxes = {n: v for n, v in nodes.items() if re.fullmatch(r"[nd]\d+", n)}
    cov = d.edges[d.edges.kind == "covariance"]
    assert cov["label"].tolist() == [".34*", ".30*", ".38**"]
    edges = {e["id"]: e for e in _edges(layout)}
    for k, row in cov.iterrows():
        e = edges[f"e{k}"]
        assert _distance(e["path"], nodes[row.label_node]["x"], nodes[row.label_node]["y"]) < 0.5
        for name, node in boxes.items():
            if name not in (e["tail"], e["head"]):
                assert not _inside(node, e["path"]).any(), (row.lhs, row.rhs, name)
