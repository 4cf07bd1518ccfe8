"""Path diagrams of structural equation models, laid out by Graphviz.

:func:`sem_path_diagram` takes a tidy lavaan parameter table (``lhs op rhs
est.std pvalue``) and R², lets ``dot`` (Gansner et al., 1993) rank the
model from the exogenous variables on the left to the dependent on the
right and route every arrow around the boxes, then moves each coefficient
label onto its own arrow and renders the pinned layout with ``neato -n2``.
The result (:class:`PathDiagram`) gives deterministic SVG and PNG bytes and
the rendered layout as JSON, so tests can check geometry: every label lies
on its arrow and no arrow crosses a box other than its two ends.

Requires the Graphviz programs (Debian package ``graphviz``) and the
Python binding ``graphviz``.
"""
from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

__all__ = ["sem_path_diagram", "PathDiagram", "significance_mark", "edge_path",
           "STARS"]


#: Significance marks: (level, mark), strictest first.
STARS: tuple[tuple[float, str], ...] = ((0.001, "***"), (0.01, "**"), (0.05, "*"))


def significance_mark(p: Any, stars: Sequence[tuple[float, str]] = STARS) -> str:
    """``***`` for p < .001, ``**`` for p < .01, ``*`` for p < .05, else ``""``.

    In R: ``stats::symnum(p, cutpoints = c(0, .001, .01, .05, 1),
    symbols = c("***", "**", "*", ""))``.
    """
    if p is None or (isinstance(p, float) and math.isnan(p)) or pd.isna(p):
        return ""
    for level, mark in sorted(stars):
        if float(p) < level:
            return mark
    return ""


def _dot_id(i: int) -> str:
    return f"n{i}"


def _quote(text: str) -> str:
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _html(text: Any) -> str:
    import html as _h
    return _h.escape(str(text), quote=True)


def _bezier_points(pos: str, per_segment: int = 24) -> np.ndarray:
    """Points along an edge's spline (Graphviz ``pos``: ``[e,x,y] [s,x,y] p0 p1 p2 p3 ...``)."""
    ctrl = []
    for tok in pos.split():
        if tok.startswith(("e,", "s,")):
            continue
        x, y = tok.split(",")[:2]
        ctrl.append((float(x), float(y)))
    pts = np.asarray(ctrl, dtype=float)
    if len(pts) < 4:
        return pts
    t = np.linspace(0.0, 1.0, per_segment + 1)[:, None]
    out = []
    for k in range(0, len(pts) - 3, 3):
        p0, p1, p2, p3 = pts[k:k + 4]
        seg = ((1 - t) ** 3) * p0 + 3 * ((1 - t) ** 2) * t * p1 + 3 * (1 - t) * t ** 2 * p2 + t ** 3 * p3
        out.append(seg if k == 0 else seg[1:])
    return np.vstack(out)


def _endpoint(pos: str, which: str) -> tuple[float, float] | None:
    for tok in pos.split():
        if tok.startswith(which + ","):
            _, x, y = tok.split(",")
            return float(x), float(y)
    return None


def edge_path(pos: str, per_segment: int = 24) -> np.ndarray:
    """The drawn path of an edge, arrowhead tips included (points, y up).

    *pos* is the Graphviz ``pos`` attribute of an edge as ``dot -Tjson``
    writes it; the ``s,``/``e,`` points (arrowhead tips at the tail/head)
    are joined to the spline's ends.

    In R: no equivalent (``DiagrammeR`` does not expose the splines).
    """
    pts = _bezier_points(pos, per_segment)
    start, end = _endpoint(pos, "s"), _endpoint(pos, "e")
    parts = [pts]
    if start is not None:
        parts.insert(0, np.asarray([start]))
    if end is not None:
        parts.append(np.asarray([end]))
    return np.vstack(parts)


def _along(path: np.ndarray, frac: float) -> tuple[float, float]:
    seg = np.linalg.norm(np.diff(path, axis=0), axis=1)
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    target = frac * cum[-1]
    k = int(np.clip(np.searchsorted(cum, target) - 1, 0, len(seg) - 1))
    r = 0.0 if seg[k] == 0 else (target - cum[k]) / seg[k]
    x, y = path[k] + r * (path[k + 1] - path[k])
    return float(x), float(y)


def _rect_overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    """Axis-aligned rectangles (x0, y0, x1, y1) overlap."""
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _points_in_rect(points: np.ndarray, r: tuple[float, float, float, float]) -> int:
    inside = ((points[:, 0] > r[0]) & (points[:, 0] < r[2])
              & (points[:, 1] > r[1]) & (points[:, 1] < r[3]))
    return int(inside.sum())


def _bend(pos: str, bulge: float = 16.0) -> str:
    """A straight edge (one Bezier segment on its chord) bent into an arc.

    The arc bulges by *bulge* points to the left of the chord's direction
    of travel rotated to face -x (the side of a column's indicators in a
    left-to-right layout); arrow tips stay where Graphviz put them.
    """
    toks = pos.split()
    tips = [t for t in toks if t.startswith(("s,", "e,"))]
    pts = np.array([[float(v) for v in t.split(",")[:2]] for t in toks
                    if not t.startswith(("s,", "e,"))])
    if len(pts) != 4:
        return pos
    p0, p3 = pts[0], pts[-1]
    chord = p3 - p0
    length = float(np.hypot(*chord))
    if length < 1e-6:
        return pos
    normal = np.array([-chord[1], chord[0]]) / length
    if normal[0] > 0:
        normal = -normal
    off = np.abs((pts[1:3] - p0) @ normal).max()
    if off > 3.0:                      # already a curve
        return pos
    p1 = p0 + chord / 3 + normal * bulge
    p2 = p0 + 2 * chord / 3 + normal * bulge
    ctrl = " ".join(f"{x:.2f},{y:.2f}" for x, y in (p0, p1, p2, p3))
    return " ".join(tips + [ctrl])


def _covariance_arcs(rows: list[dict[str, Any]], arcs: set[int], objs: Mapping[str, Any]
                     ) -> dict[str, dict[str, Any]]:
    """Two-headed arcs on the right of a column of variables (a measurement model).

    An arc leaves each variable horizontally from its right side and bulges
    by an amount that grows with the number of variables it spans, so that
    arcs nest and none enters the column; its label width is estimated
    (Helvetica, 10 points: 5.6 points a character).
    """
    column = sorted({rows[k]["tail"] for k in arcs} | {rows[k]["head"] for k in arcs},
                    key=lambda n: -float(objs[n]["pos"].split(",")[1]))
    order = {n: i for i, n in enumerate(column)}
    out = {}
    tip = 5.0
    for k in sorted(arcs):
        a, b = rows[k]["tail"], rows[k]["head"]
        (xa, ya), (xb, yb) = ((float(v) for v in objs[n]["pos"].split(",")) for n in (a, b))
        ra, rb = float(objs[a]["width"]) * 36, float(objs[b]["width"]) * 36
        bulge = 22.0 + 26.0 * abs(order[a] - order[b])
        sa, sb = (xa + ra, ya), (xb + rb, yb)
        x_out = max(sa[0], sb[0]) + bulge
        ctrl = [(sa[0] + tip, ya), (x_out, ya), (x_out, yb), (sb[0] + tip, yb)]
        pos = (f"s,{sa[0]:.2f},{ya:.2f} e,{sb[0]:.2f},{yb:.2f} "
               + " ".join(f"{x:.2f},{y:.2f}" for x, y in ctrl))
        width = 5.6 * len(rows[k]["label"])
        out[f"e{k}"] = {"id": f"e{k}", "pos": pos,
                        "_ldraw_": [{"op": "T", "width": width, "text": rows[k]["label"]}]}
    return out


@dataclass
class PathDiagram:
    """A laid-out path diagram: Graphviz source with every position fixed.

    ``source`` is rendered by ``neato -n2`` (positions as given): the
    layout was computed once by ``dot``, and the coefficient labels were
    then moved onto their arrows.  :meth:`svg`, :meth:`png` and
    :meth:`layout` render it; :meth:`savefig` lets it stand where a
    matplotlib figure is expected (``SectionWriter.figure``).

    Attributes
    ----------
    source : str
        DOT source (deterministic: no dates, no random ids).
    edges : DataFrame
        One row per drawn arrow: ``kind`` (``loading``, ``regression``,
        ``covariance``, ``disturbance``), ``lhs op rhs``, ``std``,
        ``pvalue``, ``label``, ``label_node`` (the id of its label node).
    r2 : dict
        R² shown for each endogenous variable.
    """

    source: str
    edges: pd.DataFrame
    r2: dict[str, float] = field(default_factory=dict)
    node_ids: dict[str, str] = field(default_factory=dict)

    def _pipe(self, fmt: str, source: str | None = None) -> bytes:
        import graphviz

        return graphviz.Source(source or self.source, engine="neato").pipe(
            format=fmt, neato_no_op=2, quiet=True)

    def svg(self) -> bytes:
        """SVG bytes (the Graphviz version comment removed)."""
        out = self._pipe("svg").decode("utf-8")
        out = re.sub(r"<!-- Generated by graphviz[^>]*-->\n", "", out)
        return out.encode("utf-8")

    def png(self, dpi: int = 150) -> bytes:
        """PNG bytes at *dpi*."""
        src = self.source.replace("graph [", f"graph [dpi={int(dpi)}, ", 1)
        return self._pipe("png", src)

    def layout(self) -> dict[str, Any]:
        """The rendered layout as ``dot -Tjson`` writes it (points, y up)."""
        return json.loads(self._pipe("json").decode("utf-8"))

    def savefig(self, fh: Any, format: str = "png", dpi: int = 150, **_: Any) -> None:
        """Write SVG or PNG to a binary file object or a path (matplotlib's signature)."""
        if format not in ("png", "svg"):
            raise ValueError(f"format: png or svg, got {format!r}")
        data = self.svg() if format == "svg" else self.png(dpi)
        if isinstance(fh, (str, os.PathLike)):
            Path(fh).write_bytes(data)
        else:
            fh.write(data)


def _std_column(pt: pd.DataFrame, std: str | None) -> str:
    if std is not None:
        if std not in pt.columns:
            raise ValueError(f"std: column {std!r} is not in parameters (columns: {list(pt.columns)})")
        return std
    for c in ("est.std", "std.all"):
        if c in pt.columns:
            return c
    raise ValueError("parameters must have columns lhs, op, rhs and a standardized estimate "
                     "('est.std' as lavaan::standardizedSolution or 'std.all')")


def sem_path_diagram(parameters: pd.DataFrame, r2: Mapping[str, float] | pd.Series | None = None,
                     *, title: str = "", std: str | None = None, show_indicators: bool = True,
                     show_covariances: bool = True, digits: int = 2,
                     stars: Sequence[tuple[float, str]] = STARS, font: str = "Helvetica"
                     ) -> PathDiagram:
    """Lay out a path diagram of a fitted SEM with Graphviz.

    Latent variables are ellipses, observed ones boxes.  ``dot`` ranks the
    model from left (exogenous) to right (dependent); indicators of an
    exogenous factor sit on its left, those of an endogenous one on its
    right.  Every arrow carries the standardized estimate with its
    significance mark (``*`` p < .05, ``**`` p < .01, ``***`` p < .001);
    covariances are dashed curves with two heads; every endogenous variable
    has a disturbance (small circle) and shows its R².  Labels are placed
    on their arrows (white background) at the point of the spline, near its
    middle, that overlaps no box and no other label.

    Parameters
    ----------
    parameters : DataFrame
        A tidy lavaan parameter table: ``lhs op rhs`` and a standardized
        estimate (``est.std`` as ``lavaan::standardizedSolution()`` or
        ``std.all`` as ``parameterEstimates(standardized = TRUE)``);
        ``pvalue`` optional (no marks without it).  Rows with ``=~``
        (loadings), ``~`` (regressions) and ``~~`` (covariances; a variance
        of an endogenous variable gives its R² = 1 - std when *r2* omits it)
        are drawn.
    r2 : mapping or Series, optional
        R² of the endogenous variables (``lavInspect(fit, "r2")``).
    title : str
        Printed above the diagram.
    std : str, optional
        The standardized column to use (default: ``est.std``, else ``std.all``).
    show_indicators, show_covariances : bool
        Draw the measurement part / the covariances between exogenous
        variables, between disturbances and between indicators' residuals.
    digits : int
        Decimals of the coefficients (APA: no leading zero).
    stars : sequence of (level, mark)
        Significance marks.
    font : str
        Font of every text.

    Returns
    -------
    PathDiagram

    Raises
    ------
    ValueError
        A missing column, or a table with no ``=~`` and no ``~`` row.

    References
    ----------
    Gansner, E. R., Koutsofios, E., North, S. C., & Vo, K.-P. (1993). A
    technique for drawing directed graphs. *IEEE Transactions on Software
    Engineering*, 19(3), 214-230 (the ``dot`` layout).

    In R: ``semPlot::semPaths(fit, what = "std", layout = "tree2", rotation = 2)``;
    ``lavaanPlot::lavaanPlot(model = fit, coefs = TRUE, stand = TRUE, stars = "regress")``
    (also Graphviz).
    """
    import graphviz  # noqa: F401  (fail early with a clear ImportError)

    from pipeline.reporting.format import format_value

    if not isinstance(parameters, pd.DataFrame):
        raise TypeError(f"parameters: expected a DataFrame, got {type(parameters).__name__}")
    missing = {"lhs", "op", "rhs"} - set(parameters.columns)
    if missing:
        raise ValueError(f"parameters: missing column(s) {sorted(missing)}")
    scol = _std_column(parameters, std)
    pt = parameters.reset_index(drop=True)
    has_p = "pvalue" in pt.columns
    loadings = pt[pt.op == "=~"]
    regs = pt[pt.op == "~"]
    if loadings.empty and regs.empty:
        raise ValueError("parameters: no '=~' or '~' row to draw")
    latents = list(dict.fromkeys(loadings.lhs))
    endogenous = list(dict.fromkeys(regs.lhs))
    struct = list(dict.fromkeys(list(latents) + list(regs.rhs) + list(regs.lhs)))
    if show_covariances:     # an observed variable that only covaries (a one-item construct)
        ind_set = set(loadings.rhs)
        for r in pt[(pt.op == "~~") & (pt.lhs != pt.rhs)].itertuples():
            for v in (r.lhs, r.rhs):
                if v not in struct and v not in ind_set:
                    struct.append(v)
    indicators = [] if not show_indicators else list(dict.fromkeys(
        r for r in loadings.rhs if r not in struct))
    names = struct + indicators
    ids = {n: _dot_id(i) for i, n in enumerate(names)}

    r2_map: dict[str, float] = {}
    if r2 is not None:
        r2_map = {str(k): float(v) for k, v in dict(r2).items() if k in endogenous and pd.notna(v)}
    for n in endogenous:
        if n not in r2_map:
            var = pt[(pt.op == "~~") & (pt.lhs == n) & (pt.rhs == n)]
            if len(var) and pd.notna(var[scol].iloc[0]):
                r2_map[n] = 1.0 - float(var[scol].iloc[0])

    def coef(value: Any, p: Any) -> str:
        if value is None or pd.isna(value):
            return ""
        return format_value(float(value), "bounded", digits=digits) + significance_mark(p, stars)

    def node_label(n: str) -> str:
        name = f"<B>{_html(n)}</B>" if n in struct else _html(n)
        if n in r2_map:
            r2txt = format_value(r2_map[n], "bounded", digits=digits)
            return f'<{name}<BR/><FONT POINT-SIZE="9">R² = {r2txt}</FONT>>'
        return f"<{name}>"

    node_lines, edge_lines, same_rank = [], [], []
    arcs: set[int] = set()           # covariances drawn as arcs in pass 2, not routed by dot
    rows: list[dict[str, Any]] = []
    for n in names:
        shape = "ellipse" if n in latents else "box"
        node_lines.append(f'{ids[n]} [label={node_label(n)}, shape={shape}]')

    def add_edge(kind: str, tail: str, head: str, label: str, attrs: str, r: Any) -> None:
        k = len(rows)
        rows.append({"kind": kind, "lhs": r.lhs if r is not None else head, "op": r.op if r is not None else "",
                     "rhs": r.rhs if r is not None else "", "std": (float(r[scol]) if r is not None
                                                                   and pd.notna(r[scol]) else np.nan),
                     "pvalue": (float(r["pvalue"]) if r is not None and has_p and pd.notna(r["pvalue"])
                                else np.nan),
                     "label": label, "label_node": f"l{k}" if label else "",
                     "tail": tail, "head": head})
        lab = f", label={_quote(label)}" if label else ""
        edge_lines.append(f'{tail} -> {head} [id="e{k}"{lab}{", " + attrs if attrs else ""}]')

    if show_indicators:
        for _, r in loadings.iterrows():
            if r.rhs not in ids:
                continue
            lab = coef(r[scol], r["pvalue"] if has_p else None)
            if r.lhs in endogenous:
                add_edge("loading", ids[r.lhs], ids[r.rhs], lab, "", r)
            else:   # indicators left of an exogenous factor: the edge runs backwards
                add_edge("loading", ids[r.rhs], ids[r.lhs], lab, "dir=back", r)
    for _, r in regs.iterrows():
        add_edge("regression", ids[r.rhs], ids[r.lhs], coef(r[scol], r["pvalue"] if has_p else None),
                 "penwidth=1.3", r)
    if show_covariances:
        exo = set(struct) - set(endogenous)
        for _, r in pt[(pt.op == "~~") & (pt.lhs != pt.rhs)].iterrows():
            both_exo = r.lhs in exo and r.rhs in exo
            both_endo = r.lhs in endogenous and r.rhs in endogenous
            residuals = r.lhs in indicators and r.rhs in indicators     # correlated errors
            if not (both_exo or both_endo or residuals) or r.lhs not in ids or r.rhs not in ids:
                continue
            add_edge("covariance", ids[r.lhs], ids[r.rhs],
                     coef(r[scol], r["pvalue"] if has_p else None),
                     'dir=both, style=dashed, constraint=false, color="#555555", arrowsize=0.6', r)
            if regs.empty and both_exo:  # a measurement model: arcs on the free right side
                arcs.add(len(rows) - 1)
    # keep the reading order of the model: exogenous variables top to bottom
    # in one column, each factor's indicators together and in order
    exo_nodes = [ids[n] for n in struct if n not in endogenous]
    if len(exo_nodes) > 1:
        same_rank.append("{rank=same; " + "; ".join(exo_nodes) + "}")
    if show_indicators:
        left = [ids[r.rhs] for r in loadings.itertuples()
                if r.rhs in indicators and r.lhs not in endogenous]
        left = list(dict.fromkeys(left))
        if len(left) > 1:
            same_rank.append("{rank=same; " + "; ".join(left) + "}")
            same_rank += [f"{a} -> {b} [style=invis]" for a, b in zip(left, left[1:])]
        for lv in endogenous:
            right = list(dict.fromkeys(ids[r.rhs] for r in loadings[loadings.lhs == lv].itertuples()
                                       if r.rhs in indicators))
            if len(right) > 1:
                same_rank.append("{rank=same; " + "; ".join(right) + "}")
                same_rank += [f"{a} -> {b} [style=invis]" for a, b in zip(right, right[1:])]

    graph_attrs = (f'rankdir=LR, splines=true, nodesep=0.3, ranksep=1.1, fontname={_quote(font)}, '
                   f'fontsize=12, labelloc=t, label={_quote(title)}, bgcolor=white')
    pass1 = "\n".join([
        "digraph SEM {",
        f"graph [{graph_attrs}];",
        f'node [fontname={_quote(font)}, fontsize=12, margin="0.12,0.05"];',
        f'edge [fontname={_quote(font)}, fontsize=10, arrowsize=0.8];',
        *node_lines, *same_rank, *(e for k, e in enumerate(edge_lines) if k not in arcs), "}"])
    import graphviz
    lay = json.loads(graphviz.Source(pass1, engine="dot").pipe(format="json", quiet=True)
                     .decode("utf-8"))

    # ---- pass 2: pin everything, move each label onto its arrow ----------
    objs = {o["name"]: o for o in lay.get("objects", [])}
    node_rects: dict[str, tuple[float, float, float, float]] = {}
    for name, o in objs.items():
        if "pos" not in o:
            continue
        x, y = (float(v) for v in o["pos"].split(","))
        w, h = float(o["width"]) * 72 / 2, float(o["height"]) * 72 / 2
        node_rects[name] = (x - w, y - h, x + w, y + h)
    edges_json = {e.get("id"): e for e in lay.get("edges", [])}
    if arcs:
        edges_json.update(_covariance_arcs(rows, arcs, objs))
        x_right = max(max(p[0] for p in edge_path(edges_json[f"e{k}"]["pos"])) for k in arcs)
        lay["bb"] = ",".join(str(v) for v in (*[float(b) for b in lay["bb"].split(",")[:2]],
                                              max(float(lay["bb"].split(",")[2]), x_right + 30),
                                              float(lay["bb"].split(",")[3])))
    for k, row in enumerate(rows):        # covariances are curves, also between neighbours
        if row["kind"] == "covariance" and k not in arcs and f"e{k}" in edges_json:
            edges_json[f"e{k}"]["pos"] = _bend(edges_json[f"e{k}"]["pos"])
    paths = {eid: edge_path(e["pos"], per_segment=64) for eid, e in edges_json.items()}
    pinned_nodes = []
    for line in node_lines:
        nid = line.split(" ", 1)[0]
        o = objs[nid]
        extra = f', pos="{o["pos"]}!", width={o["width"]}, height={o["height"]}, fixedsize=true'
        pinned_nodes.append(line[:-1] + extra + "]")
    placed: list[tuple[float, float, float, float]] = []
    label_nodes = []
    pinned_edges = []
    for k, row in enumerate(rows):
        e = edges_json[f"e{k}"]
        attrs = re.search(r"\[(.*)\]$", edge_lines[k]).group(1)
        attrs = re.sub(r', label="(?:[^"\\]|\\.)*"', "", attrs)
        pinned_edges.append(f'{row["tail"]} -> {row["head"]} [{attrs}, pos={_quote(e["pos"])}]')
        if not row["label"]:
            continue
        text_w = next((op["width"] for op in e.get("_ldraw_", []) if op.get("op") == "T"), 30.0)
        w, h = float(text_w) + 4.0, 12.0
        path = paths[f"e{k}"]
        best, best_cost = None, None
        for frac in (0.5, 0.45, 0.55, 0.4, 0.6, 0.35, 0.65, 0.3, 0.7, 0.25, 0.75, 0.2, 0.8):
            x, y = _along(path, frac)
            r = (x - w / 2, y - h / 2, x + w / 2, y + h / 2)
            cost = 0.0
            cost += 1000 * sum(_rect_overlap(r, nr) for nr in node_rects.values())
            cost += 1000 * sum(_rect_overlap(r, pr) for pr in placed)
            cost += 10 * sum(_points_in_rect(p, r) > 0 for eid, p in paths.items() if eid != f"e{k}")
            cost += abs(frac - 0.5) * 10
            if best_cost is None or cost < best_cost:
                best, best_cost = (x, y, r), cost
        x, y, r = best
        placed.append(r)
        label_nodes.append(
            f'{row["label_node"]} [label={_quote(row["label"])}, shape=box, style=filled, '
            f'fillcolor=white, color=white, penwidth=0, fontsize=10, margin="0,0", '
            f'width={w / 72:.4f}, height={h / 72:.4f}, fixedsize=true, pos="{x:.2f},{y:.2f}!"]')
    # disturbances: a small circle beside each endogenous variable, on the
    # free side, with a straight arrow into it
    label_rects = list(placed)
    all_paths = list(paths.values())
    for i, n in enumerate(endogenous):
        nid = ids[n]
        o = objs[nid]
        cx, cy = (float(v) for v in o["pos"].split(","))
        a, b = float(o["width"]) * 36, float(o["height"]) * 36
        radius, gap, tip = 7.0, 22.0, 6.0
        best, best_cost = None, None
        for deg in (90, 270, 60, 120, 300, 240, 30, 150, 330, 210):
            ux, uy = math.cos(math.radians(deg)), math.sin(math.radians(deg))
            if n in latents:
                t = 1.0 / math.sqrt((ux / a) ** 2 + (uy / b) ** 2)
            else:
                t = min(a / abs(ux) if abs(ux) > 1e-9 else math.inf,
                        b / abs(uy) if abs(uy) > 1e-9 else math.inf)
            bx, by = cx + ux * t, cy + uy * t                   # boundary point
            dx, dy = bx + ux * (gap + radius), by + uy * (gap + radius)
            circle = (dx - radius, dy - radius, dx + radius, dy + radius)
            seg = np.column_stack([np.linspace(bx, dx, 12), np.linspace(by, dy, 12)])
            cost = 1000 * sum(_rect_overlap(circle, r) for r in node_rects.values())
            cost += 1000 * sum(_rect_overlap(circle, r) for r in label_rects)
            cost += 50 * sum(bool(_points_in_rect(p, circle)) for p in all_paths)
            cost += 20 * sum(bool(np.any(np.min(np.hypot(p[:, None, 0] - seg[None, :, 0],
                                                          p[:, None, 1] - seg[None, :, 1]),
                                                 axis=0) < 3.0)) for p in all_paths)
            cost += (0 if deg == 90 else 1)
            if best_cost is None or cost < best_cost:
                best, best_cost = (deg, bx, by, dx, dy, ux, uy, circle), cost
        deg, bx, by, dx, dy, ux, uy, circle = best
        label_rects.append(circle)
        sx, sy = dx - ux * radius, dy - uy * radius            # leaves the circle
        ex, ey = bx + ux * tip, by + uy * tip                   # spline end, arrow tip at bx, by
        ctrl = [(sx + (ex - sx) * f, sy + (ey - sy) * f) for f in (0, 1 / 3, 2 / 3, 1)]
        epos = f"e,{bx:.2f},{by:.2f} " + " ".join(f"{x:.2f},{y:.2f}" for x, y in ctrl)
        all_paths.append(edge_path(epos))
        k = len(rows)
        rows.append({"kind": "disturbance", "lhs": n, "op": "~~", "rhs": n,
                     "std": 1.0 - r2_map[n] if n in r2_map else np.nan, "pvalue": np.nan,
                     "label": "", "label_node": "", "tail": f"d{i}", "head": nid})
        pinned_nodes.append(f'd{i} [label="", shape=circle, width={2 * radius / 72:.4f}, '
                            f'height={2 * radius / 72:.4f}, fixedsize=true, pos="{dx:.2f},{dy:.2f}!"]')
        pinned_edges.append(f'd{i} -> {nid} [id="e{k}", arrowsize=0.6, pos={_quote(epos)}]')
    x0, y0, x1, y1 = (float(v) for v in lay.get("bb", "0,0,0,0").split(","))
    marks = ", ".join(f"{m} p < {format(lv, 'g').lstrip('0')}" for lv, m in sorted(stars, reverse=True))
    note = ("Standardized estimates" + (f"; {marks}" if marks else "")
            + ("; dashed: covariances" if any(r["kind"] == "covariance" for r in rows) else "")
            + ("; circles: disturbances" if endogenous else "") + ".")
    import textwrap
    per_line = max(20, int((x1 - x0) / 5.2))          # ~5 points a character at 9 points
    lines = textwrap.wrap(note, per_line)
    note_h = 12.0 * len(lines) + 4
    note_w = max(len(line) for line in lines) * 5.2
    x1 = max(x1, x0 + note_w)
    note_label = "\\n".join(lines)
    pinned_nodes.append(f'note [label="{note_label}", shape=plaintext, fontsize=9, margin="0,0", '
                        f'width={(x1 - x0) / 72:.4f}, height={note_h / 72:.4f}, fixedsize=true, '
                        f'pos="{(x0 + x1) / 2:.2f},{y0 - note_h / 2 - 4:.2f}!"]')
    bb = f"{x0:.2f},{y0 - note_h - 8:.2f},{x1:.2f},{y1:.2f}"
    source = "\n".join([
        "digraph SEM {",
        f"graph [{graph_attrs}, bb={_quote(bb)}];",
        f'node [fontname={_quote(font)}, fontsize=12, margin="0.12,0.05"];',
        f'edge [fontname={_quote(font)}, fontsize=10, arrowsize=0.8];',
        *pinned_nodes, *pinned_edges, *label_nodes, "}"])
    edges = pd.DataFrame(rows, columns=["kind", "lhs", "op", "rhs", "std", "pvalue", "label",
                                        "label_node", "tail", "head"])
    return PathDiagram(source=source, edges=edges.drop(columns=["tail", "head"]), r2=r2_map,
                       node_ids=dict(ids))
