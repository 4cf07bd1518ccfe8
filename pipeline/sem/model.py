"""The RAM (McArdle-McDonald) representation of a lavaan parameter table.

Every variable (observed first, in lavaan's order, then latent) is a node.
``A[i, j]`` is the direct effect of node *j* on node *i* (loadings and
regressions), ``S`` the symmetric matrix of (residual) variances and
covariances, ``m`` the intercepts.  With ``B = (I - A)^{-1}``,
``C = B S B'`` is the covariance matrix of all nodes, and the model-implied
moments of the observed variables are ``Sigma = C[:p, :p]`` and
``mu = (B m)[:p]``.

A :class:`SEMModel` is built once per model; it keeps integer index arrays
mapping the free parameter vector ``theta`` to matrix cells, so that filling
the matrices, the gradient of the ML discrepancy and the Jacobian of the
moments are a few vectorised numpy operations.

In R: ``lavaan:::lav_model`` (lavaan uses the LISREL "all-y" form; the
implied moments are the same).
"""
from __future__ import annotations

import ast
import math
import operator

import numpy as np

from pipeline.core.exceptions import ModelSpecificationError
from pipeline.sem.syntax import ParTable, lavaanify

__all__ = ["SEMModel", "implied_moments", "DefinedParameters"]

_BINOPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
           ast.Div: operator.truediv, ast.Pow: operator.pow}
_FUNCS = {"sqrt": np.sqrt, "exp": np.exp, "log": np.log, "abs": np.abs}


class DefinedParameters:
    """Compiled ``:=`` expressions over parameter labels (and earlier definitions).

    Names may hold dots and non-ASCII letters (``clutched.up``, ``Лидер``):
    each expression is rewritten with placeholders before Python parses it
    (``py_exprs``, with ``py_names`` mapping placeholder -> name).
    Evaluation raises :class:`ModelSpecificationError` naming the expression
    when a value overflows (``exp(1000)``) or divides by zero.
    """

    def __init__(self, definitions: list[tuple[str, str]], labels: set[str]):
        from pipeline.sem.syntax import _python_expression
        self.names: list[str] = []
        self.exprs: list[str] = []
        self.py_exprs: list[str] = []
        self.py_names: list[dict[str, str]] = []
        self._trees = []
        known = set(labels)
        for name, expr in definitions:
            py, names = _python_expression(expr)
            try:
                tree = ast.parse(py, mode="eval").body
            except SyntaxError:
                raise ModelSpecificationError(
                    f"defined parameter {name} := {expr}: cannot read the expression") from None
            for node in ast.walk(tree):
                if isinstance(node, ast.Name):
                    nm = names.get(node.id, node.id)
                    if nm not in known and nm not in _FUNCS:
                        raise ModelSpecificationError(
                            f"defined parameter {name} := {expr}: unknown label {nm!r}")
                elif isinstance(node, ast.Call) and not (
                        isinstance(node.func, ast.Name)
                        and names.get(node.func.id, node.func.id) in _FUNCS):
                    raise ModelSpecificationError(
                        f"defined parameter {name} := {expr}: only the functions "
                        f"{', '.join(sorted(_FUNCS))} may be called")
            # function calls keep their Python name
            for node in ast.walk(tree):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                    node.func.id = names.get(node.func.id, node.func.id)
            self.names.append(name)
            self.exprs.append(expr)
            self.py_exprs.append(py)
            self.py_names.append(names)
            self._trees.append((tree, names))
            known.add(name)

    def __len__(self) -> int:
        return len(self.names)

    def _eval(self, node, env, names):
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return float(node.value)
        if isinstance(node, ast.Name):
            return env[names.get(node.id, node.id)]
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            return _BINOPS[type(node.op)](self._eval(node.left, env, names),
                                          self._eval(node.right, env, names))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            v = self._eval(node.operand, env, names)
            return -v if isinstance(node.op, ast.USub) else v
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FUNCS:
            return _FUNCS[node.func.id](*[self._eval(a, env, names) for a in node.args])
        raise ModelSpecificationError(f"unsupported expression element {ast.dump(node)}")

    def evaluate(self, env: dict[str, float]) -> np.ndarray:
        env = dict(env)
        out = np.empty(len(self.names))
        for k, (name, (tree, names)) in enumerate(zip(self.names, self._trees)):
            out[k] = env[name] = evaluate_checked(
                lambda: self._eval(tree, env, names), f"{name} := {self.exprs[k]}", env)
        return out


def evaluate_checked(fn, what: str, env: dict | None = None) -> float:
    """Evaluate *fn()* and turn overflow / division by zero / a non-finite
    value from finite inputs into a :class:`ModelSpecificationError` naming *what*.

    In R: lavaan returns ``Inf``/``NaN`` for such ``:=`` values without a message.
    """
    with np.errstate(over="raise", divide="raise", invalid="ignore"):
        try:
            v = float(fn())
        except (OverflowError, FloatingPointError) as exc:
            raise ModelSpecificationError(
                f"the expression {what} overflows ({exc}); rescale it or use log()") from None
        except ZeroDivisionError:
            raise ModelSpecificationError(f"the expression {what} divides by zero") from None
    if math.isinf(v) and (env is None or all(np.isfinite(x) for x in env.values())):
        raise ModelSpecificationError(f"the expression {what} is infinite (overflow)")
    return v


class Constraints:
    """General constraints ``lhs op rhs`` (op ``==``, ``<``, ``>``) over labels.

    :meth:`values` returns ``g(theta)`` so that ``g == 0`` (equalities) and
    ``g >= 0`` (inequalities: ``lhs - rhs`` for ``>``, ``rhs - lhs`` for ``<``).

    In R: lavaan's ``ceq.function`` / ``cin.function`` (``lav_partable_constraints``).
    """

    def __init__(self, constraints, labels: set[str], definitions: DefinedParameters):
        from pipeline.sem.syntax import _python_expression
        self.items = []
        for lhs, op, rhs, line in constraints:
            py, names = _python_expression(f"({lhs}) - ({rhs})" if op != "<"
                                           else f"({rhs}) - ({lhs})")
            tree = ast.parse(py, mode="eval").body
            for node in ast.walk(tree):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                    node.func.id = names.get(node.func.id, node.func.id)
            self.items.append((op, tree, names, f"{lhs} {op} {rhs}", line))
        self.defined = definitions

    def __len__(self) -> int:
        return len(self.items)

    @property
    def is_equality(self) -> np.ndarray:
        return np.array([op == "==" for op, *_ in self.items], dtype=bool)

    @property
    def texts(self) -> list[str]:
        return [t for *_, t, _ in self.items]

    def values(self, env: dict[str, float]) -> np.ndarray:
        env = dict(env)
        if len(self.defined):
            env.update(zip(self.defined.names, self.defined.evaluate(env)))
        return np.array([evaluate_checked(
            lambda: self.defined._eval(tree, env, names), text, env)
            for op, tree, names, text, _ in self.items])



def ram_cells(idx: dict[str, int], triples) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """RAM cell of each ``(lhs, op, rhs)``: kind (0 = A, 1 = S, 2 = mean,
    3 = threshold, 4 = scale factor, both outside the RAM matrices), row, column.

    ``=~`` puts the loading at A[indicator, factor]; ``~`` at A[outcome,
    predictor]; ``~~`` at S[lhs, rhs]; ``~1`` at m[lhs].
    """
    kind, ii, jj = [], [], []
    for lhs, op, rhs in triples:
        if op == "=~":
            kind.append(0); ii.append(idx[rhs]); jj.append(idx[lhs])
        elif op == "~":
            kind.append(0); ii.append(idx[lhs]); jj.append(idx[rhs])
        elif op == "~~":
            kind.append(1); ii.append(idx[lhs]); jj.append(idx[rhs])
        elif op == "~1":
            kind.append(2); ii.append(idx[lhs]); jj.append(0)
        elif op == "|":   # threshold: not a RAM cell (used by the ordinal estimators)
            kind.append(3); ii.append(idx[lhs]); jj.append(0)
        elif op == "~*~":   # scale factor (delta parameterization): not a RAM cell
            kind.append(4); ii.append(idx[lhs]); jj.append(0)
        else:  # pragma: no cover - parser only emits the above
            raise ModelSpecificationError(f"unsupported operator {op}")
    return np.array(kind, dtype=int), np.array(ii, dtype=int), np.array(jj, dtype=int)


class SEMModel:
    """A parameter table compiled into RAM index arrays.

    Parameters
    ----------
    partable : ParTable
        From :func:`pipeline.sem.syntax.lavaanify`.

    par, npar : optional
        Parameter index of every row (-1 fixed) and their number, given by the
        caller (multi-group models share one parameter vector).
    labels : set of str, optional
        Labels known beyond this table's (other groups'), for ``:=``.
    constraints_ok : bool
        The caller imposes general constraints (``a == 2*b``, ``a > 0``);
        otherwise a model with such constraints is refused.

    Attributes
    ----------
    observed, latent : list of str
    npar : int
        Free parameters after equality constraints (shared labels, ``==``).
    rows : list of dict
        The parameter table; ``rows[k]["par"]`` is the index into ``theta``
        (-1 for fixed rows).
    """

    def __init__(self, partable: ParTable, *, par: np.ndarray | None = None,
                 npar: int | None = None, labels: set[str] | None = None,
                 constraints_ok: bool = False):
        self.pt = partable
        self.observed = list(partable.observed)
        self.latent = list(partable.latent)
        self.nodes = self.observed + self.latent
        self.p = len(self.observed)
        self.n = len(self.nodes)
        self.meanstructure = partable.meanstructure
        idx = {v: i for i, v in enumerate(self.nodes)}
        self.rows = [dict(r) for r in partable.rows]
        if par is not None:
            # parameter indices given by the caller (multi-group: one free
            # vector shared by the groups' models; -1 = fixed row)
            par = np.asarray(par, dtype=int)
            if par.shape != (len(self.rows),):
                raise ValueError(f"par must have one entry per row ({len(self.rows)}), "
                                 f"got shape {par.shape}")
            for r, k in zip(self.rows, par):
                r["par"] = int(k)
                r["free"] = bool(k >= 0)
            npar = int(par.max() + 1) if npar is None and len(par) else int(npar or 0)
        else:
            npar = self._number_parameters(partable)
        self.npar = npar
        # matrix positions
        self.kind, self.ii, self.jj = ram_cells(
            idx, [(r["lhs"], r["op"], r["rhs"]) for r in self.rows])
        self.par = np.array([r["par"] for r in self.rows], dtype=int)
        self.free_mask = self.par >= 0
        self.exo_mask = np.array([bool(r["exo"]) for r in self.rows], dtype=bool)
        self.fixed_values = np.array([0.0 if (math.isnan(r["ustart"]) or r["free"])
                                      else r["ustart"] for r in self.rows])
        self.is_A, self.is_S, self.is_m = self.kind == 0, self.kind == 1, self.kind == 2
        self.is_th = self.kind == 3
        self.is_scale = self.kind == 4
        # flat positions for fast fill
        n = self.n
        self._A_pos = self.ii[self.is_A] * n + self.jj[self.is_A]
        self._S_pos1 = self.ii[self.is_S] * n + self.jj[self.is_S]
        self._S_pos2 = self.jj[self.is_S] * n + self.ii[self.is_S]
        self._m_pos = self.ii[self.is_m]
        # a representative (first) row per parameter (for names); linear time
        first = np.full(npar, -1, dtype=int)
        fr = np.flatnonzero(self.free_mask)[::-1]
        first[self.par[fr]] = fr
        self.par_rows = first[first >= 0] if (first >= 0).all() else first
        self._P = None
        labels = {r["label"] for r in self.rows if r["label"]} | set(labels or ())
        self.defined = DefinedParameters(partable.definitions, labels)
        self.constraints = Constraints(getattr(partable, "constraints", []), labels,
                                       self.defined)
        if len(self.constraints) and not constraints_ok:
            # the single-group estimators do not impose them: refuse rather than ignore
            raise ModelSpecificationError(
                "general constraints (" + "; ".join(self.constraints.texts) + ") are fitted by "
                "pipeline.sem.multigroup.fit_multigroup(model, data, group=None); this "
                "estimator would not impose them")
        self._check_recursive_identity()

    def _number_parameters(self, partable: ParTable) -> int:
        """Free-parameter index of every row: shared labels and ``==`` share one."""
        parent: dict[str, str] = {}

        def find(x):
            while parent.get(x, x) != x:
                x = parent[x]
            return x
        for a, b in partable.equalities:
            ra, rb = find(a), find(b)
            if ra != rb:
                parent[rb] = ra
        groups: dict[str, int] = {}
        npar = 0
        fixed_src: dict[str, float] = {}
        for q in self.rows:
            if q["label"] and not q["free"] and not math.isnan(q["ustart"]):
                fixed_src.setdefault(find(q["label"]), q["ustart"])
        fixed_labels = {find(r["label"]) for r in self.rows if r["label"] and not r["free"]}
        for r in self.rows:
            if r["free"]:
                key = find(r["label"]) if r["label"] else None
                if key is not None and key in fixed_labels:
                    # lavaan: a label shared with a fixed parameter fixes it too
                    r["free"] = False
                    r["ustart"] = fixed_src[key]
                    r["par"] = -1
                    continue
                if key is not None and key in groups:
                    r["par"] = groups[key]
                else:
                    r["par"] = npar
                    if key is not None:
                        groups[key] = npar
                    npar += 1
            else:
                r["par"] = -1
        return npar

    @property
    def P(self) -> np.ndarray:
        """Row-to-parameter aggregation matrix (nrows x npar), built on first use."""
        if self._P is None:
            P = np.zeros((len(self.rows), self.npar))
            P[np.flatnonzero(self.free_mask), self.par[self.free_mask]] = 1.0
            self._P = P
        return self._P

    def _check_recursive_identity(self) -> None:
        self_loop = self.is_A & (self.ii == self.jj)
        if self_loop.any():
            bad = sorted({self.nodes[i] for i in self.ii[self_loop]})
            raise ModelSpecificationError(f"a variable cannot be regressed on itself: {bad}")

    # ------------------------------------------------------------------
    def row_values(self, theta: np.ndarray, exo_values: np.ndarray | None = None) -> np.ndarray:
        """Value of every parameter-table row for the free vector *theta*."""
        vals = self.fixed_values.copy()
        vals[self.free_mask] = np.asarray(theta)[self.par[self.free_mask]]
        if exo_values is not None:
            vals[self.exo_mask] = exo_values
        return vals

    def matrices(self, vals: np.ndarray):
        n = self.n
        A = np.zeros(n * n)
        S = np.zeros(n * n)
        A[self._A_pos] = vals[self.is_A]
        sv = vals[self.is_S]
        S[self._S_pos1] = sv
        S[self._S_pos2] = sv
        m = np.zeros(n)
        m[self._m_pos] = vals[self.is_m]
        return A.reshape(n, n), S.reshape(n, n), m

    def moments(self, vals: np.ndarray):
        """Return ``(Sigma, mu, B, C, Bm)`` for row values *vals*."""
        A, S, m = self.matrices(vals)
        B = np.linalg.inv(np.eye(self.n) - A)
        C = B @ S @ B.T
        Bm = B @ m
        return C[:self.p, :self.p], Bm[:self.p], B, C, Bm

    def row_gradient(self, G: np.ndarray, g_mu: np.ndarray | None, B, C, Bm) -> np.ndarray:
        """d f / d(row value) given ``G = df/dSigma`` (symmetric) and ``g_mu = df/dmu``."""
        p = self.p
        Bp = B[:p]
        BtG = Bp.T @ G                     # n x p
        dA = 2.0 * BtG @ C[:p]             # n x n
        dS = BtG @ Bp                      # n x n
        dm = np.zeros(self.n)
        if g_mu is not None:
            bg = Bp.T @ g_mu
            dA = dA + np.outer(bg, Bm)
            dm = bg
        out = np.zeros(len(self.rows))
        out[self.is_A] = dA[self.ii[self.is_A], self.jj[self.is_A]]
        si, sj = self.ii[self.is_S], self.jj[self.is_S]
        out[self.is_S] = np.where(si == sj, dS[si, sj], 2.0 * dS[si, sj])
        out[self.is_m] = dm[self._m_pos]
        return out

    def row_jacobian(self, B, C, Bm, rows: np.ndarray | None = None):
        """Derivatives of Sigma (p x p x k) and mu (p x k) w.r.t. row values."""
        if rows is None:
            rows = np.arange(len(self.rows))
        return self.cell_jacobian(B, C, Bm, self.kind[rows], self.ii[rows], self.jj[rows])

    def cell_jacobian(self, B, C, Bm, kind, I, J):
        """Derivatives of Sigma and mu w.r.t. arbitrary RAM cells.

        ``kind`` 0: ``A[I, J]`` (effect of J on I), 1: symmetric ``S[I, J]``,
        2: ``m[I]``.  Cells need not be parameters of the model (used for
        modification indices).
        """
        p = self.p
        Up, Cp = B[:p], C[:p]
        kind, I, J = np.asarray(kind), np.asarray(I), np.asarray(J)
        k = len(kind)
        dSig = np.zeros((p, p, k))
        dmu = np.zeros((p, k))
        a = kind == 0
        if a.any():
            u, v = Up[:, I[a]], Cp[:, J[a]]
            t = np.einsum("ik,jk->ijk", u, v)
            dSig[:, :, a] = t + t.transpose(1, 0, 2)
            dmu[:, a] = u * Bm[J[a]]
        s = kind == 1
        if s.any():
            u, v = Up[:, I[s]], Up[:, J[s]]
            t = np.einsum("ik,jk->ijk", u, v)
            off = (I[s] != J[s]).astype(float)
            dSig[:, :, s] = t + t.transpose(1, 0, 2) * off
        mm = kind == 2
        if mm.any():
            dmu[:, mm] = Up[:, I[mm]]
        return dSig, dmu

    def cell_gradient(self, G, g_mu, B, C, Bm, kind, I, J) -> np.ndarray:
        """d f / d(cell) for arbitrary RAM cells (see :meth:`cell_jacobian`)."""
        p = self.p
        Bp = B[:p]
        BtG = Bp.T @ G
        dA = 2.0 * BtG @ C[:p]
        dS = BtG @ Bp
        dm = np.zeros(self.n)
        if g_mu is not None:
            bg = Bp.T @ g_mu
            dA = dA + np.outer(bg, Bm)
            dm = bg
        kind, I, J = np.asarray(kind), np.asarray(I), np.asarray(J)
        out = np.zeros(len(kind))
        a = kind == 0
        out[a] = dA[I[a], J[a]]
        s = kind == 1
        out[s] = np.where(I[s] == J[s], dS[I[s], J[s]], 2.0 * dS[I[s], J[s]])
        m = kind == 2
        out[m] = dm[I[m]]
        return out

    def label_env(self, vals: np.ndarray) -> dict[str, float]:
        return {r["label"]: vals[k] for k, r in enumerate(self.rows) if r["label"]}


def set_sample_moments(model: SEMModel, theta: np.ndarray, cov: np.ndarray,
                       mean: np.ndarray | None) -> np.ndarray:
    """Put the observed variables' free variances and intercepts of *model* at
    the sample moments, in place in *theta* (which it returns).

    These are the independence model's ML estimates, and good start values for
    any model: lavaan's ``start = "simple"`` does the same for the variances.
    *theta* may be a longer vector shared by several groups: *model*'s ``par``
    indexes it.

    In R: ``lavaan:::lav_start`` (observed variances, intercepts).
    """
    for k in np.flatnonzero(model.free_mask):
        i, j = model.ii[k], model.jj[k]
        if model.kind[k] == 1 and i == j and i < model.p:
            theta[model.par[k]] = cov[i, i]
        elif model.kind[k] == 2 and i < model.p and mean is not None:
            theta[model.par[k]] = mean[i]
    return theta


def _population_values(model: SEMModel) -> np.ndarray:
    """Row values of a population model; unspecified variances by unit-variance rule."""
    vals = model.fixed_values.copy()
    auto_var = []
    for k, r in enumerate(model.rows):
        if not r["free"] and not r["exo"]:
            continue
        if r["op"] == "~~" and r["lhs"] == r["rhs"]:
            auto_var.append(k)
            vals[k] = 1.0
        elif r["op"] in ("=~", "~") and r["user"] == 1:
            raise ModelSpecificationError(
                f"population model: '{r['lhs']} {r['op']} {r['rhs']}' needs a numeric value "
                "(e.g. 0.7*x)")
        else:
            vals[k] = 0.0
    # choose residual variances so that every node has unit total variance
    # (exogenous nodes: the variance itself is 1); fixed-point iteration
    idx = {v: i for i, v in enumerate(model.nodes)}
    for _ in range(200):
        _, _, B, C, _ = model.moments(vals)
        change = 0.0
        for k in auto_var:
            i = idx[model.rows[k]["lhs"]]
            total = C[i, i]
            new = vals[k] + (1.0 - total)
            change = max(change, abs(new - vals[k]))
            vals[k] = new
        if change < 1e-13:
            break
    for k in auto_var:
        if vals[k] < 0:
            r = model.rows[k]
            raise ModelSpecificationError(
                f"population model: the explained variance of {r['lhs']} exceeds 1, so no "
                "residual variance gives it unit variance; give its residual variance explicitly")
    return vals


def implied_moments(model_text: str, *, meanstructure: bool = True):
    """Model-implied covariance matrix and means of a population model.

    Every loading and regression coefficient must be given as a number
    (``L =~ 0.8*L1 + 0.7*L2``, ``ICS ~ 0.3*CC``); covariances may be given
    (``L ~~ 0.4*S``) and default to 0, intercepts (``L1 ~ 3.2*1``) default
    to 0.  A variance that is not given is chosen so that the variable has
    **unit total variance**: for an exogenous variable (latent or observed)
    its variance is 1, for an endogenous one (indicator, dependent) the
    residual variance is ``1 - explained variance``.  Latent variables are
    therefore standardized, and indicators with unspecified residual
    variances are standardized too (loadings are then standardized
    loadings).  An explicitly given variance (``L1 ~~ 0.36*L1``) is used
    as is.

    Parameters
    ----------
    model_text : str
        lavaan syntax with numeric values.
    meanstructure : bool
        Include intercepts (``mu`` is zeros when none are given).

    Returns
    -------
    observed : list of str
        Observed variable names in lavaan's order.
    Sigma : ndarray (p, p)
    mu : ndarray (p,)

    Raises
    ------
    ModelSpecificationError
        A free (non-numeric) loading or regression, or an explained variance
        above 1 where the residual variance was to be chosen.

    In R: ``lavaan::fitted(lavaan::sem(model, do.fit=FALSE))`` for a model
    with all values fixed, or ``simulateData(model, standardized=TRUE)``'s
    population moments.
    """
    pt = lavaanify(model_text, meanstructure=meanstructure, fixed_x=False)
    model = SEMModel(pt)
    vals = _population_values(model)
    Sigma, mu, *_ = model.moments(vals)
    Sigma = (Sigma + Sigma.T) / 2
    return list(model.observed), Sigma, mu
