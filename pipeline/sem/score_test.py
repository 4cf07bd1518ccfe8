"""Score (Lagrange multiplier) tests of equality constraints, as ``lavTestScore``.

A multi-group model's equality constraints (shared labels, ``group_equal``)
are written in lavaan's unconstrained parameter space: every free row of
every group is a parameter ``x``, and a constraint ``x_i - x_j = 0`` is a row
of the constraint matrix ``R``.  With ``s`` the gradient of ``logL / N`` and
``J`` the expected information per case (block-diagonal over groups,
``n_g / N`` weighted), both at the constrained estimates,

* the total test releasing every constraint is ``N s' J^+ s`` (df = rows of R);
* the univariate test of constraint r is ``N s' Z_r^+ s`` with ``Z_r^+`` the
  upper-left block of the Moore-Penrose inverse of
  ``[[J, R_(-r)'], [R_(-r), 0]]`` (all other constraints kept), df = 1.

A large univariate statistic points to a constraint whose release improves
the fit most: in measurement invariance, the parameter to free for partial
invariance (Byrne, Shavelson & Muthén 1989).

References
----------
Bentler, P. M., & Chou, C.-P. (1992). Some new covariance structure model
improvement statistics. Sociological Methods & Research, 21, 259-282.
Byrne, B. M., Shavelson, R. J., & Muthén, B. (1989). Testing for the
equivalence of factor covariance and mean structures: The issue of partial
measurement invariance. Psychological Bulletin, 105, 456-466.

In R: ``lavaan::lavTestScore(fit)`` (``$test`` and ``$uni``).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from pipeline.core.distributions import chi2_sf


__all__ = ["score_test", "constraint_rows"]


def constraint_rows(res) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """The equality constraints of a multi-group fit as pairs of (group, row):
    the first row of each class against every other, in lavaan's order.

    In R: the ``op == "=="`` rows of ``parTable(fit)``.
    """
    out = []
    for cls in res.mg.classes:
        first = cls[0]
        out += [(first, other) for other in cls[1:]]
    return out


def _row_text(res, g: int, k: int) -> str:
    r = res.models[g].rows[k]
    return f"{r['lhs']} {r['op']} {r['rhs']}".rstrip()


def score_test(res, *, univariate: bool = True, release=()) -> dict:
    """Score tests of a multi-group fit's equality constraints.

    Parameters
    ----------
    res : MultiGroupResult
        From :func:`pipeline.sem.multigroup.fit_multigroup` (any estimator:
        as lavaan, the ordinary score test with the expected information).
    univariate : bool
        Also the test of each constraint alone.
    release : sequence of (group, row)
        Fixed rows (0-based group and row of ``res.models[g].rows``) to test
        as constraints ``x = value`` too (lavaan's ``lavTestScore(add=)``),
        e.g. the intercepts of ordinal items fixed to 0 in a Wu-Estabrook
        scalar model.  Their rows have ``op`` ``"=="`` and ``rhs`` the value.

    Returns
    -------
    dict
        ``test``: one-row DataFrame ``test X2 df p.value``; ``uni``:
        DataFrame ``lhs op rhs X2 df p.value`` plus ``lhs_row``/``rhs_row``
        (``"visual =~ x2"``), ``lhs_group``/``rhs_group`` (labels of the
        groups), ``parameter`` (the group.partial string, e.g.
        ``"visual=~x2"``); ``lhs``/``rhs`` are lavaan's ``.pN.`` plabels.

    Raises
    ------
    ValueError
        If the model has no equality constraints; general (non-label)
        constraints are not handled.

    In R: ``lavTestScore(fit)``.
    """
    from pipeline.sem.multigroup import MultiGroupResult
    if not isinstance(res, MultiGroupResult):
        raise TypeError("score_test needs a MultiGroupResult (fit_multigroup)")
    if len(res.models[0].constraints):
        raise ValueError("score_test: general constraints (==, <, > over expressions) are not "
                         "handled; only label / group_equal equalities")
    pairs = constraint_rows(res)
    release = [tuple(map(int, gk)) for gk in release]
    for g, k in release:
        if res.models[g].rows[k]["par"] >= 0:
            raise ValueError(f"release: row {k} of group {g} is free, not fixed")
    if not pairs and not release:
        raise ValueError("score_test: the model has no equality constraints")
    free = res.mg.free_rows() + release
    pos = {gk: i for i, gk in enumerate(free)}
    nrow_per_group = [len(m.rows) for m in res.models]
    offsets = np.cumsum([0] + nrow_per_group)
    N = res.ntotal
    x = len(free)
    score = np.zeros(x)
    info = np.zeros((x, x))
    if getattr(res, "wls", None) is not None:
        _wls_pieces(res, free, pos, score, info)
    for g, (m, e, s) in enumerate(zip(res.models, res.estimators, res.stats)):
        w = s.nobs / N
        rows = np.array([k for (gg, k) in free if gg == g], dtype=int)
        idx = np.array([pos[(g, k)] for k in rows], dtype=int)
        f, G, gmu, B, C, Bm = e.moment_gradient(res.theta, s, True)
        rg = m.row_gradient(G, gmu, B, C, Bm)
        score[idx] = -0.5 * w * rg[rows]          # d(logL/N)/dx = -1/2 dF/dx
        vals = e.values(res.theta, s)
        Sigma, mu, B, C, Bm = m.moments(vals)
        dS, dm = m.row_jacobian(B, C, Bm, rows)
        info[np.ix_(idx, idx)] = w * e.information_from_jacobian(Sigma, dS, dm, s)
    R = np.zeros((len(pairs) + len(release), x))
    cons = []
    for r, (a, b) in enumerate(pairs):
        R[r, pos[a]] = 1.0
        R[r, pos[b]] = -1.0
        cons.append((a, b, None))
    for r, a in enumerate(release):
        R[len(pairs) + r, pos[a]] = 1.0
        cons.append((a, None, float(res.models[a[0]].rows[a[1]]["ustart"])))
    from pipeline.sem.multigroup import one_thread_blas
    with one_thread_blas():
        return _tests(res, cons, pos, offsets, info, score, R, N, x, univariate)


def _wls_pieces(res, free, pos, score, info) -> None:
    """Least squares: ``s = sum_g (n_g - 1)/N Delta_g' W_g (s_g - sigma_g)`` (the
    gradient of lavaan's fmin, which weights the groups by n_g - 1) and
    ``J = bdiag(n_g/N Delta_g' W_g Delta_g)`` in the unconstrained parameters."""
    from pipeline.sem.multigroup import _num_jacobian
    N = res.ntotal
    w_ = res.wls
    for g, (m, pr) in enumerate(zip(res.models, w_["problems"])):
        rows = np.array([k for (gg, k) in free if gg == g], dtype=int)
        idx = np.array([pos[(g, k)] for k in rows], dtype=int)
        base = m.row_values(res.theta)

        def sig(v, rows=rows, base=base, pr=pr):
            full = base.copy()
            full[rows] = v
            return pr.implied_rows(full)
        s0, J = _num_jacobian(sig, base[rows])
        wv = w_["weights"][g]
        e = w_["obs"][g] - s0
        score[idx] = (res.nobs[g] - 1) / N * J.T @ (wv * e)
        info[np.ix_(idx, idx)] = res.nobs[g] / N * J.T @ (wv[:, None] * J)


def _ginv_solve(Z: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``Z^+ b``: a solve when Z is nonsingular (then equal to the Moore-Penrose
    inverse lavaan uses), else the pseudo-inverse."""
    try:
        out = np.linalg.solve(Z, b)
        if np.all(np.isfinite(out)) and np.allclose(Z @ out, b, rtol=1e-8, atol=1e-10):
            return out
    except np.linalg.LinAlgError:
        pass
    return np.linalg.pinv(Z) @ b


def _tests(res, cons, pos, offsets, info, score, R, N, x, univariate) -> dict:
    stat = float(N * score @ _ginv_solve(info, score))
    test = pd.DataFrame([{"test": "score", "X2": stat, "df": len(cons),
                          "p.value": float(chi2_sf(stat, len(cons)))}])
    out = {"test": test}
    if univariate:
        recs = []
        for r, (a, b, value) in enumerate(cons):
            R1 = np.delete(R, r, axis=0)
            q = R1.shape[0]
            Z = np.block([[info, R1.T], [R1, np.zeros((q, q))]])
            rhs = np.concatenate([score, np.zeros(q)])
            ts = float(N * score @ _ginv_solve(Z, rhs)[:x])
            ra = res.models[a[0]].rows[a[1]]
            recs.append({
                "lhs": f".p{int(offsets[a[0]] + a[1] + 1)}.", "op": "==",
                "rhs": (f".p{int(offsets[b[0]] + b[1] + 1)}." if b is not None
                        else f"{value:g}"), "X2": ts, "df": 1,
                "p.value": float(chi2_sf(ts, 1)),
                "lhs_row": _row_text(res, *a),
                "rhs_row": _row_text(res, *b) if b is not None else f"{value:g}",
                "lhs_group": str(res.groups[a[0]]),
                "rhs_group": str(res.groups[b[0]]) if b is not None else "",
                "parameter": (f"{ra['lhs']}{ra['op']}{ra['rhs']}" if ra["op"] != "~1"
                              else f"{ra['lhs']}~1")})
        out["uni"] = pd.DataFrame(recs)
    return out
