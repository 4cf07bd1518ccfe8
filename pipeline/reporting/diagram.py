"""Path diagrams with standardized estimates, drawn with matplotlib only.

Layout: structural variables (latent factors and observed variables that
take part in regressions) are placed in columns by their depth in the
regression graph (exogenous on the left, the dependent on the right);
each latent's indicators sit beside it as boxes.  Arrows carry the
``std.all`` estimate; significance at .05 is marked with ``*``.
No system dependency (Graphviz) is needed.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any

import pandas as pd

__all__ = ["path_diagram"]


def _depths(nodes: list[str], edges: list[tuple[str, str]]) -> dict[str, int]:
    preds: dict[str, set[str]] = defaultdict(set)
    for src, dst in edges:
        preds[dst].add(src)
    depth: dict[str, int] = {}

    def visit(n: str, stack: tuple[str, ...] = ()) -> int:
        if n in depth:
            return depth[n]
        if n in stack:  # non-recursive models only; a cycle gets depth 0
            return 0
        d = 0 if not preds[n] else 1 + max(visit(p, stack + (n,)) for p in preds[n])
        depth[n] = d
        return d

    for n in nodes:
        visit(n)
    return depth


def path_diagram(parameters: pd.DataFrame, *, title: str = "", show_indicators: bool = True,
                 alpha: float = 0.05) -> Any:
    """Draw a path diagram from a lavaan-style parameter table.

    Parameters
    ----------
    parameters : DataFrame
        Columns ``lhs op rhs est std.all pvalue`` (as ``SEMResult.parameters``).
    title : str
        Figure title.
    show_indicators : bool
        Draw each latent variable's indicators with their standardized loadings.
    alpha : float
        Significance level for the ``*`` marks.

    Returns
    -------
    matplotlib.figure.Figure

    In R: ``semPlot::semPaths(fit, "std")``.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Ellipse, FancyArrowPatch, Rectangle

    if not {"lhs", "op", "rhs", "std.all"} <= set(parameters.columns):
        raise ValueError("parameters must have columns lhs, op, rhs and std.all")
    pt = parameters
    loadings = pt[pt.op == "=~"]
    regs = pt[pt.op == "~"]
    latents = list(dict.fromkeys(loadings.lhs))
    struct_nodes = list(dict.fromkeys(list(regs.rhs) + list(regs.lhs)))
    for lv in latents:
        if lv not in struct_nodes:
            struct_nodes.append(lv)
    edges = [(r.rhs, r.lhs) for r in regs.itertuples()]
    depth = _depths(struct_nodes, edges)
    ncol = max(depth.values(), default=0) + 1
    columns: dict[int, list[str]] = defaultdict(list)
    for n in struct_nodes:
        columns[depth[n]].append(n)

    col_gap = 4.0
    pos: dict[str, tuple[float, float]] = {}
    n_ind = {lv: int((loadings.lhs == lv).sum()) for lv in latents}
    for c in range(ncol):
        col = columns[c]
        heights = [max(1.6, 0.55 * n_ind.get(n, 1) + 0.6) if show_indicators else 1.6 for n in col]
        total = sum(heights)
        y = total / 2
        for n, h in zip(col, heights):
            pos[n] = (c * col_gap, y - h / 2)
            y -= h
    fig_h = max(4.0, max(sum(max(1.6, 0.55 * n_ind.get(n, 1) + 0.6) for n in columns[c])
                         for c in range(ncol)) * 0.9)
    fig, ax = plt.subplots(figsize=(3.2 * ncol + 3, fig_h))
    ax.set_aspect("equal")
    ax.axis("off")

    def star(p: float) -> str:
        return "*" if pd.notna(p) and p < alpha else ""

    # indicators
    if show_indicators:
        for lv in latents:
            x0, y0 = pos[lv]
            inds = loadings[loadings.lhs == lv]
            side = -1 if depth[lv] < ncol - 1 or ncol == 1 else 1
            k = len(inds)
            for i, row in enumerate(inds.itertuples()):
                yy = y0 + (k - 1) * 0.275 - i * 0.55
                xx = x0 + side * 1.7
                ax.add_patch(Rectangle((xx - 0.35, yy - 0.2), 0.7, 0.4, fill=False, lw=0.8))
                ax.text(xx, yy, row.rhs, ha="center", va="center", fontsize=7)
                ax.add_patch(FancyArrowPatch((x0 + side * 0.7, y0), (xx - side * 0.35, yy),
                                             arrowstyle="-|>", mutation_scale=7, lw=0.6,
                                             color="0.4"))
                std = getattr(row, "_asdict")().get("std.all", None)
                if std is None:
                    std = pt.loc[row.Index, "std.all"]
                ax.text((x0 + side * 0.7 + xx - side * 0.35) / 2, (y0 + yy) / 2 + 0.08,
                        f"{std:.2f}", fontsize=6, color="0.3", ha="center")
    # structural nodes
    for n, (x, y) in pos.items():
        if n in latents:
            ax.add_patch(Ellipse((x, y), 1.4, 0.8, fill=False, lw=1.2))
        else:
            ax.add_patch(Rectangle((x - 0.6, y - 0.3), 1.2, 0.6, fill=False, lw=1.2))
        ax.text(x, y, n, ha="center", va="center", fontsize=9, weight="bold")
    # regressions
    for r in regs.itertuples():
        (x1, y1), (x2, y2) = pos[r.rhs], pos[r.lhs]
        arrow = FancyArrowPatch((x1 + 0.7, y1), (x2 - 0.7, y2), arrowstyle="-|>",
                                mutation_scale=10, lw=1.0, connectionstyle="arc3,rad=0.05")
        ax.add_patch(arrow)
        std = pt.loc[r.Index, "std.all"]
        p = pt.loc[r.Index, "pvalue"] if "pvalue" in pt.columns else float("nan")
        ax.text(x1 + 0.7 + 0.35 * (x2 - x1 - 1.4), y1 + 0.35 * (y2 - y1) + 0.1,
                f"{std:.2f}{star(p)}", fontsize=8, color="#024", ha="center")
    xs = [p[0] for p in pos.values()]
    ys = [p[1] for p in pos.values()]
    ax.set_xlim(min(xs) - 2.4, max(xs) + 2.4)
    ax.set_ylim(min(ys) - 1.5, max(ys) + 1.5)
    if title:
        ax.set_title(title)
    ax.text(min(xs) - 2.3, min(ys) - 1.4, f"standardized estimates (std.all); * p < {alpha}",
            fontsize=7, color="0.3")
    return fig
