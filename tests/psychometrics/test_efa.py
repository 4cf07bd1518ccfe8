"""EFA, KMO, Bartlett and parallel analysis against R psych 2.2.9.

Fixtures: ``tests/reference/psych_reference.R`` (psych::bfi with its missing
values, 2800 x 25; lavaan::HolzingerSwineford1939 x1..x9).
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from pipeline.psychometrics import efa as E
from pipeline.core.exceptions import DataValidationError
from tests.conftest import REFERENCE, load_fixture

FA = load_fixture("psych_fa.json")
KB = load_fixture("psych_kmo.json")
PAR = load_fixture("psych_parallel.json")
BFI = pd.read_csv(REFERENCE / "data" / "bfi.csv")
HS = pd.read_csv(REFERENCE / "data" / "holzinger.csv")
ITEMS = FA["items_bfi"]
HS_ITEMS = FA["items_holzinger"]

LOADING_TOL = 0.01   # the tolerance after aligning sign and order
KMO_TOL = 1e-3


def _align(L: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Reorder and re-sign the columns of L to best match ref (greedy by |r|)."""
    out = np.zeros_like(ref)
    free = list(range(L.shape[1]))
    for j in range(ref.shape[1]):
        m = max(free, key=lambda c: abs(np.corrcoef(ref[:, j], L[:, c])[0, 1]))
        free.remove(m)
        out[:, j] = np.sign(ref[:, j] @ L[:, m]) * L[:, m]
    return out


@pytest.fixture(scope="module")
def bfi_pairwise():
    return E.correlation_matrix(BFI, ITEMS, "pairwise")


def test_pairwise_n_is_smallest_pair_count(bfi_pairwise):
    """R: ``min(psych::pairwiseCount(bfi[, 1:25]))`` = 2739 (psych itself uses 2800 rows)."""
    assert bfi_pairwise.n == KB["bfi_pairwise"]["n"] == 2739
    assert bfi_pairwise.n_rows == 2800
    lw = E.correlation_matrix(BFI, ITEMS, "listwise")
    assert lw.n == KB["bfi_listwise"]["n"] == 2436


@pytest.mark.parametrize("case", ["bfi_pairwise", "bfi_listwise", "holzinger"])
def test_kmo_and_bartlett_match_psych(case):
    """R: ``KMO(R)``; ``cortest.bartlett(R, n = n)`` with R = cor(bfi, use="pairwise"),
    cor(na.omit(bfi)) or cor(HS)."""
    ref = KB[case]
    if case == "holzinger":
        cd = E.correlation_matrix(HS, HS_ITEMS, "listwise")
    else:
        cd = E.correlation_matrix(BFI, ITEMS, case.split("_")[1])
    assert cd.n == ref["n"]
    overall, items = E.kmo(cd.R)
    assert overall == pytest.approx(ref["msa"], abs=KMO_TOL)
    np.testing.assert_allclose(items.to_numpy(), ref["msai"], atol=KMO_TOL)
    # (measured agreement is ~1e-15; the tolerance is 1e-3)
    assert abs(overall - ref["msa"]) < 1e-10
    b = E.bartlett_sphericity(cd.R, cd.n)
    assert b["chisq"] == pytest.approx(ref["chisq"], rel=1e-8)
    assert b["df"] == ref["df"]
    assert b["pvalue"] == pytest.approx(ref["p"], abs=1e-12)


FA_CASES = [k for k in FA if k.startswith(("bfi_", "holzinger_"))]


@pytest.mark.parametrize("case", FA_CASES)
def test_fa_matches_psych(case, bfi_pairwise):
    """R: ``psych::fa(R, nfactors, n.obs, fm = "minres"|"ml"|"pa",
    rotate = "varimax"|"oblimin"|"promax")`` on pairwise / listwise bfi and HS."""
    ref = FA[case]
    if case.startswith("bfi_pairwise"):
        cd = bfi_pairwise
    elif case.startswith("bfi_listwise"):
        cd = E.correlation_matrix(BFI, ITEMS, "listwise")
    else:
        cd = E.correlation_matrix(HS, HS_ITEMS, "listwise")
    res = E.factor_analysis(cd.R, ref["nfactors"], ref["fm"], ref["rotate"], n=cd.n)
    L_ref = np.array(ref["loadings"]).T
    L = _align(res.loadings.to_numpy(), L_ref)
    assert np.abs(L - L_ref).max() < LOADING_TOL
    # our sign and order conventions are psych's: no alignment needed in fact
    assert np.abs(res.loadings.to_numpy() - L_ref).max() < 1e-3
    np.testing.assert_allclose(res.communalities.to_numpy(), ref["communality"], atol=1e-3)
    np.testing.assert_allclose(res.values, ref["values"], atol=1e-3)
    np.testing.assert_allclose(res.eigenvalues, ref["e_values"], atol=1e-10)
    np.testing.assert_allclose(res.variance.loc["ss_loadings"].to_numpy(),
                               ref["ss_loadings"], atol=1e-3)
    if ref["Phi"]:  # R's NULL is written as {} by jsonlite
        np.testing.assert_allclose(res.phi.to_numpy(), np.array(ref["Phi"]).T, atol=1e-3)
    else:
        assert res.phi is None


def test_parallel_analysis_holzinger():
    """R: ``set.seed(20190601); fa.parallel(cor(HS), n.obs = 301, fm = "minres",
    fa = "both", n.iter = 20)`` -> 3 factors, 3 components.  Observed
    eigenvalues are exact; simulated means differ only by random draws."""
    ref = PAR["holzinger"]
    cd = E.correlation_matrix(HS, HS_ITEMS, "listwise")
    pr = E.parallel_analysis(cd.R, cd.n, n_iter=20, seed=7)
    np.testing.assert_allclose(pr.pc_values, ref["pc_values"], atol=1e-10)
    np.testing.assert_allclose(pr.fa_values, ref["fa_values"], atol=1e-6)
    # Simulation error only: R and numpy draw different random numbers.  The
    # first one-factor eigenvalue of a pure-noise matrix has SD ~ 0.2 per draw,
    # so two means of 20 draws differ by up to ~0.15 (3 SE); with 300 draws
    # each, R gives 0.590 and we give 0.616.
    np.testing.assert_allclose(pr.pc_sim_mean, ref["pc_sim"], atol=0.08)
    np.testing.assert_allclose(pr.fa_sim_mean, ref["fa_sim"], atol=0.15)
    assert (pr.n_factors, pr.n_components) == (ref["nfact"], ref["ncomp"]) == (3, 3)
    # seeded: the same seed gives the same draws
    pr2 = E.parallel_analysis(cd.R, cd.n, n_iter=20, seed=7)
    np.testing.assert_array_equal(pr.fa_sim_quantile, pr2.fa_sim_quantile)


def test_parallel_analysis_bfi(bfi_pairwise):
    """R: ``fa.parallel(cor(bfi, use = "pairwise"), n.obs = 2739, n.iter = 20)``:
    6 factors and 6 components."""
    ref = PAR["bfi"]
    pr = E.parallel_analysis(bfi_pairwise.R, bfi_pairwise.n, n_iter=10, seed=3)
    np.testing.assert_allclose(pr.fa_values, ref["fa_values"], atol=1e-6)
    np.testing.assert_allclose(pr.fa_sim_mean, ref["fa_sim"], atol=0.02)
    assert (pr.n_factors, pr.n_components) == (ref["nfact"], ref["ncomp"]) == (6, 6)


def test_efa_wrapper_parallel_and_json(tmp_path):
    res = E.efa(HS, HS_ITEMS, n_factors="parallel", method="ml", rotation="promax",
                missing="listwise", n_iter=10)
    assert res.n_factors == 3 and res.factor_rule == "parallel analysis"
    ref = FA["holzinger_ml_promax"]
    L = _align(res.loadings.to_numpy(), np.array(ref["loadings"]).T)
    assert np.abs(L - np.array(ref["loadings"]).T).max() < LOADING_TOL
    d = res.to_dict()
    assert set(d) >= {"n", "kmo", "kmo_items", "bartlett", "n_factors", "eigenvalues",
                      "loadings", "communalities", "factor_correlations", "missing"}
    assert set(d["bartlett"]) == {"chisq", "df", "pvalue"}
    assert d["missing"] == "listwise" and d["n"] == 301
    assert list(d["loadings"]) == HS_ITEMS and len(d["loadings"]["x1"]) == 3
    assert d["kmo"] == pytest.approx(KB["holzinger"]["msa"], abs=KMO_TOL)
    assert "missing = listwise" in res.summary()
    out = E.scree_plot(res, tmp_path / "scree.png")
    assert out.stat().st_size > 1000


def test_efa_kaiser_rule():
    res = E.efa(HS, HS_ITEMS, n_factors="kaiser", rotation="varimax", missing="listwise")
    assert res.n_factors == int((np.array(FA["holzinger_ml_promax"]["e_values"]) > 1).sum()) == 3


# ---- bad input: errors that name the column, never silent NaN/inf/imputation --------
def _small(seed=0, n=120):
    rng = np.random.default_rng(seed)
    f = rng.normal(size=n)
    X = 0.7 * f[:, None] + rng.normal(scale=0.6, size=(n, 4))
    return pd.DataFrame(np.clip(np.round(3 + X), 1, 5), columns=["q1", "q2", "q3", "q4"])


def test_constant_item_is_an_error_naming_it():
    df = _small()
    df["q3"] = 4.0
    with pytest.raises(DataValidationError, match="constant item") as ei:
        E.efa(df, n_factors=1)
    assert ei.value.columns == ["q3"]


def test_duplicated_item_is_an_error_naming_both():
    df = _small()
    df["q4"] = df["q2"]
    with pytest.raises(DataValidationError, match="duplicated") as ei:
        E.efa(df, n_factors=1)
    assert ei.value.columns == ["q2", "q4"]


def test_collinear_items_are_an_error():
    df = _small()
    df["q5"] = df["q1"] + df["q2"] - df["q3"]
    with pytest.raises(DataValidationError, match="collinear") as ei:
        E.kmo(E.correlation_matrix(df, missing="listwise").R)
    assert {"q1", "q2", "q3", "q5"} <= set(ei.value.columns)


def test_text_and_inf_cells_are_errors_naming_the_cell():
    df = _small().astype(object)
    df.loc[5, "q2"] = "n/a"
    with pytest.raises(DataValidationError, match="non-numeric") as ei:
        E.correlation_matrix(df)
    assert ei.value.columns == ["q2"] and ei.value.rows == [7]
    df = _small()
    df.loc[3, "q1"] = np.inf
    with pytest.raises(DataValidationError, match="infinite") as ei:
        E.correlation_matrix(df)
    assert ei.value.rows == [5]


def test_missing_values_are_never_imputed():
    """Pairwise correlations equal pandas' pairwise-complete ones, not median-imputed."""
    df = _small(n=200)
    df.loc[::7, "q1"] = np.nan
    pw = E.correlation_matrix(df, missing="pairwise")
    np.testing.assert_allclose(pw.R.to_numpy(), df.corr().to_numpy())
    lw = E.correlation_matrix(df, missing="listwise")
    assert lw.n == df.dropna().shape[0] < pw.n_rows
    imputed = df.fillna(df.median()).corr().to_numpy()
    assert not np.allclose(pw.R.to_numpy(), imputed)


def test_too_few_respondents_is_an_error():
    df = _small(n=4)
    with pytest.raises(DataValidationError, match="not larger than the number of items"):
        E.efa(df, n_factors=1, missing="listwise")


def test_argument_errors_name_the_argument(bfi_pairwise):
    with pytest.raises(ValueError, match="missing"):
        E.correlation_matrix(BFI, ITEMS, "everything")
    with pytest.raises(ValueError, match="method"):
        E.extract(bfi_pairwise.R, 2, "principal")
    with pytest.raises(ValueError, match="n_factors"):
        E.extract(bfi_pairwise.R, 25)
    with pytest.raises(ValueError, match="rotation"):
        E.rotate(np.ones((4, 2)), "quartimax")


def test_heywood_case_warns():
    """Two nearly identical items force a communality to the 0.995 bound."""
    rng = np.random.default_rng(4)
    f = rng.normal(size=400)
    df = pd.DataFrame({"a": f + rng.normal(scale=0.02, size=400),
                       "b": f + rng.normal(scale=0.02, size=400),
                       "c": 0.5 * f + rng.normal(size=400), "d": 0.5 * f + rng.normal(size=400),
                       "e": rng.normal(size=400)})
    from pipeline.core.exceptions import HeywoodCaseWarning
    with pytest.warns(HeywoodCaseWarning, match="Heywood"):
        res = E.efa(df, n_factors=1, method="ml")
    assert res.warnings and "Heywood" in res.warnings[0]


def test_dispatcher_exit_code_and_message_for_bad_data(tmp_path, capsys):
    """`python -m pipeline efa|reliability` on a file with a duplicated / constant
    column: exit 2, a one-line message naming file and column, no traceback."""
    from pipeline.__main__ import main as cli
    df = HS.copy()
    df["x9"] = df["x8"]
    bad = tmp_path / "dup.csv"
    df.to_csv(bad, index=False)
    assert cli(["efa", str(bad), "--items", *HS_ITEMS, "--factors", "2"]) == 2
    err = capsys.readouterr().err
    assert "dup.csv" in err and "x8, x9" in err and "Traceback" not in err
    df = HS.copy()
    df["x2"] = 4
    df.to_csv(bad, index=False)
    assert cli(["reliability", str(bad), "--scale", "visual=x1,x2,x3"]) == 2
    err = capsys.readouterr().err
    assert "column x2" in err and "constant item" in err


def test_pairwise_matrix_that_is_not_positive_definite_is_an_error():
    """Three pairs observed on disjoint respondents with r(a,b) = r(b,c) = +.9 and
    r(a,c) = -.9: no data set has this correlation matrix.  psych would smooth it
    (cor.smooth); we refuse, naming the items, and never replace it silently."""
    rng = np.random.default_rng(8)
    def pair(r, n=60):
        z = rng.multivariate_normal([0, 0], [[1, r], [r, 1]], size=n)
        return z[:, 0], z[:, 1]
    a1, b1 = pair(0.9)
    b2, c2 = pair(0.9)
    a3, c3 = pair(-0.9)
    nan = np.full(60, np.nan)
    df = pd.DataFrame({"a": np.r_[a1, nan, a3], "b": np.r_[b1, b2, nan],
                       "c": np.r_[nan, c2, c3]})
    with pytest.raises(DataValidationError, match="not positive definite") as ei:
        E.correlation_matrix(df, missing="pairwise")
    assert set(ei.value.columns) == {"a", "b", "c"}


def test_principal_components_spss_default():
    """SPSS FACTOR's default: principal components, varimax, listwise.
    R: ``psych::principal(cor(HS), 3, rotate = "varimax")``; the number of
    components comes from parallel analysis (components)."""
    ref = FA["holzinger_pc_varimax"]
    res = E.efa(HS, HS_ITEMS, n_factors="parallel", method="pc", rotation="varimax",
                missing="listwise", n_iter=10)
    assert res.n_factors == PAR["holzinger"]["ncomp"] == 3
    assert list(res.loadings.columns) == ["PC1", "PC2", "PC3"]
    np.testing.assert_allclose(res.loadings.to_numpy(), np.array(ref["loadings"]).T, atol=1e-4)
    np.testing.assert_allclose(res.communalities, ref["communality"], atol=1e-8)
