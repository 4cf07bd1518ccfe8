"""Alpha, Feldt CI, item-total statistics, omega, CR/AVE/HTMT against R.

Fixtures: ``tests/reference/psych_reference.R`` -- psych 2.2.9 on psych::bfi
(2800 respondents with missing values; reverse-keyed A1, C4, C5, E1, E2, O2,
O5; responses 1-6) and lavaan::HolzingerSwineford1939; semTools 0.5-6 on the
three-factor Holzinger-Swineford CFA.
"""
from __future__ import annotations

import json
import warnings
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from pipeline.psychometrics import reliability as RL
from pipeline.core.exceptions import (DataValidationError, NotEstimableWarning,
                                 ReverseKeyedItemWarning)
from tests.conftest import REFERENCE, load_fixture

ALPHA = load_fixture("psych_alpha.json")
OMEGA = load_fixture("psych_omega.json")
SEMT = load_fixture("psych_semtools.json")
BFI = pd.read_csv(REFERENCE / "data" / "bfi.csv")
HS = pd.read_csv(REFERENCE / "data" / "holzinger.csv")

ALPHA_TOL = 1e-4     # the tolerance; measured agreement is ~1e-15


def _rev(v):
    r = v["reverse"]
    return [r] if isinstance(r, str) else list(r)


BFI_CASES = [k for k in ALPHA if k[0] in "ACENO" and not k.startswith("A_unrev")]


@pytest.mark.parametrize("case", BFI_CASES)
def test_alpha_matches_psych_bfi(case):
    """R: ``psych::alpha(d, keys = rev)`` with d = bfi[, items] (pairwise) or
    na.omit(bfi[, items]) (listwise); Feldt CI by ``alpha.ci(alpha, n.obs = n, n.var = k)``
    with n = complete cases (listwise) or min(pairwiseCount(d)) (pairwise)."""
    ref = ALPHA[case]
    r = RL.scale_reliability(BFI, ref["items"], _rev(ref), name=ref["scale"],
                             missing=ref["missing"], min_score=1, max_score=6)
    assert r.alpha == pytest.approx(ref["raw_alpha"], abs=ALPHA_TOL)
    assert r.alpha_std == pytest.approx(ref["std_alpha"], abs=ALPHA_TOL)
    assert abs(r.alpha - ref["raw_alpha"]) < 1e-12
    assert r.n == ref["n_used"]
    assert r.ci_lower == pytest.approx(ref["feldt_lower"], abs=1e-10)
    assert r.ci_upper == pytest.approx(ref["feldt_upper"], abs=1e-10)
    np.testing.assert_allclose(r.item_stats["r_drop"], ref["r_drop"], atol=1e-10)
    np.testing.assert_allclose(r.item_stats["alpha_if_deleted"], ref["alpha_if_deleted"],
                               atol=ALPHA_TOL)
    np.testing.assert_allclose(r.item_stats["std_alpha_if_deleted"],
                               ref["std_alpha_if_deleted"], atol=ALPHA_TOL)
    np.testing.assert_allclose(r.item_stats["mean"], ref["item_mean"], atol=1e-10)
    assert r.average_r == pytest.approx(ref["average_r"], abs=1e-10)
    assert r.n_rows == 2800 and r.missing == ref["missing"]


def test_alpha_complete_data_and_spss_item_total_columns():
    """R: ``psych::alpha(HS[, c("x1","x2","x3")])``; ``alpha.ci(.., n.obs = 301, n.var = 3)``."""
    ref = ALPHA["HS_visual"]
    r = RL.scale_reliability(HS, ref["items"], missing="listwise")
    assert r.alpha == pytest.approx(ref["raw_alpha"], abs=1e-12)
    assert (r.ci_lower, r.ci_upper) == pytest.approx((ref["feldt_lower"], ref["feldt_upper"]))
    cols = {"scale_mean_if_deleted", "scale_var_if_deleted", "r_drop", "smc",
            "alpha_if_deleted"}
    assert cols <= set(r.to_frame().columns)
    # SPSS invariants: scale mean/variance if deleted from the complete data
    X = HS[ref["items"]]
    assert r.item_stats.loc["x1", "scale_mean_if_deleted"] == pytest.approx(
        X[["x2", "x3"]].sum(1).mean())
    assert r.item_stats.loc["x1", "scale_var_if_deleted"] == pytest.approx(
        X[["x2", "x3"]].sum(1).var())


def test_pingouin_n_trap_is_avoided():
    """Listwise Feldt CI uses complete cases, not the number of rows (pingouin's bug):
    with 2800 rows the interval would be narrower than R's with n = 2709."""
    ref = ALPHA["A_listwise"]
    r = RL.scale_reliability(BFI, ref["items"], ["A1"], missing="listwise",
                             min_score=1, max_score=6)
    wrong = RL.feldt_ci(r.alpha, 2800, 5)
    assert r.n == 2709
    assert wrong[0] > ref["feldt_lower"] + 1e-4
    assert r.ci_lower == pytest.approx(ref["feldt_lower"], abs=1e-12)


def test_unreversed_item_warns_and_keeps_number():
    """R: ``psych::alpha(bfi[, paste0("A", 1:5)])`` (A1 not reversed): r.drop(A1) < 0."""
    ref = ALPHA["A_unreversed_pairwise"]
    with pytest.warns(ReverseKeyedItemWarning, match="A1"):
        r = RL.scale_reliability(BFI, ref["items"], name="A")
    assert r.alpha == pytest.approx(ref["raw_alpha"], abs=ALPHA_TOL)
    np.testing.assert_allclose(r.item_stats["r_drop"], ref["r_drop"], atol=1e-10)
    assert any("A1" in w for w in r.warnings)
    assert r.to_dict()["warnings"]


@pytest.mark.filterwarnings("ignore::pipeline.core.exceptions.NotEstimableWarning")  # two items: no omega
def test_negative_alpha_warns():
    rng = np.random.default_rng(1)
    f = rng.normal(size=300)
    df = pd.DataFrame({"a": f + rng.normal(size=300), "b": -f + rng.normal(size=300)})
    with pytest.warns(ReverseKeyedItemWarning):
        r = RL.scale_reliability(df, ["a", "b"])
    assert r.alpha < 0


def test_single_item_scale_is_not_estimable():
    with pytest.warns(NotEstimableWarning, match="single item"):
        r = RL.scale_reliability(HS, ["x1"], name="CC")
    assert r.alpha is None and r.omega is None
    assert r.status.startswith("not estimable")
    d = r.to_dict()
    assert d["alpha"] is None and d["status"].startswith("not estimable")


def test_constant_item_is_an_error_naming_it():
    df = HS[["x1", "x2", "x3"]].copy()
    df["x2"] = 3.0
    with pytest.raises(DataValidationError, match="constant item") as ei:
        RL.scale_reliability(df, ["x1", "x2", "x3"])
    assert ei.value.columns == ["x2"]


def test_alpha_is_invariant_to_item_order():
    ref = ALPHA["C_pairwise"]
    items = ref["items"][::-1]
    r = RL.scale_reliability(BFI, items, _rev(ref), missing="pairwise", min_score=1, max_score=6)
    assert r.alpha == pytest.approx(ref["raw_alpha"], abs=1e-12)


@pytest.mark.parametrize("case", ["A_1", "C_1", "O_1", "all_5"])
def test_omega_total_matches_psych(case):
    """R: ``psych::omega(x_keyed, nfactors = k, fm = "minres", flip = FALSE)$omega.tot``
    (k = 1 per scale; k = 5 for all 25 keyed bfi items)."""
    from pipeline.psychometrics.efa import correlation_matrix, extract
    ref = OMEGA[case]
    X = BFI[ref["items"]].copy()
    for c in _rev(ref):
        X[c] = 7 - X[c]
    cd = correlation_matrix(X, missing="pairwise")
    h2 = extract(cd.R, ref["nfactors"], "minres")["communalities"]
    assert RL.omega_total(cd.R, h2) == pytest.approx(ref["omega_tot"], abs=1e-6)
    if ref["nfactors"] == 1:
        r = RL.scale_reliability(BFI, ref["items"], _rev(ref), min_score=1, max_score=6)
        assert r.omega == pytest.approx(ref["omega_tot"], abs=1e-6)


def test_two_item_scale_gives_alpha_and_nan_omega_with_a_warning():
    """Two items: alpha, Feldt CI and item-total statistics exist (alpha of two items is
    2 r s1 s2 / (s1^2 + s2^2 + 2 r s1 s2)); omega total is NaN with NotEstimableWarning;
    the summary and the JSON never crash on it (issue 13, item 11)."""
    with pytest.warns(NotEstimableWarning, match="omega total is not estimable with 2 items"):
        r = RL.scale_reliability(HS, ["x1", "x2"], name="two")
    C = HS[["x1", "x2"]].cov().to_numpy()
    assert r.alpha == pytest.approx(2 * (1 - np.trace(C) / C.sum()), abs=1e-12)
    assert np.isnan(r.omega)
    assert r.item_stats["r_drop"].to_numpy() == pytest.approx(
        [C[0, 1] / np.sqrt(C[0, 0] * C[1, 1])] * 2, abs=1e-12)
    assert "omega total = n/a" in r.summary()
    d = r.to_dict()
    assert d["omega"] is None and d["alpha"] == pytest.approx(r.alpha)
    json.dumps(d, allow_nan=False)
    assert any("omega total is not estimable" in w for w in d["warnings"])


def test_parse_scale_and_bad_arguments():
    assert RL.parse_scale("-A1, A2,A3") == (["A1", "A2", "A3"], ["A1"])
    with pytest.raises(ValueError, match="missing"):
        RL.scale_reliability(HS, ["x1", "x2"], missing="fiml")
    with pytest.raises(ValueError, match="reverse"):
        RL.scale_reliability(HS, ["x1", "x2"], ["x3"])
    with pytest.raises(DataValidationError, match="outside the response range"):
        RL.scale_reliability(BFI, ["A1", "A2", "A3"], ["A1"], min_score=1, max_score=5)


def test_codebook_wrapper_uses_constructs_and_reverse_keys():
    var = SimpleNamespace(codes={1: "a", 2: "b", 3: "c", 4: "d", 5: "e", 6: "f"})
    cb = SimpleNamespace(constructs={"A": ["A1", "A2", "A3", "A4", "A5"]},
                         reverse_keyed={"A1"},
                         variables={f"A{i}": var for i in range(1, 6)})
    r = RL.reliability_from_codebook(BFI, cb, missing="listwise")
    assert r.scales["A"].alpha == pytest.approx(ALPHA["A_listwise"]["raw_alpha"], abs=1e-12)
    assert r.to_frame().loc["A", "n"] == ALPHA["A_listwise"]["n_used"]


# ---- CR, AVE, HTMT, Fornell-Larcker against semTools ----------------------------------
PT = pd.DataFrame(SEMT["parameters"])
FACTORS = ["visual", "textual", "speed"]


def _block(f, col):
    lo = PT[(PT.op == "=~") & (PT.lhs == f)]
    th = PT[(PT.op == "~~") & (PT.lhs == PT.rhs)].set_index("lhs")
    return lo[col].to_numpy(), th.loc[list(lo.rhs), col].to_numpy(), list(lo.rhs)


@pytest.mark.parametrize("f", FACTORS)
def test_cr_and_ave_match_semtools(f):
    """R: ``fit <- cfa(HS.model, data = HolzingerSwineford1939, std.lv = TRUE)``;
    ``compRelSEM(fit, obs.var = FALSE)``, ``compRelSEM(fit)``, ``AVE(fit, obs.var = FALSE)``,
    ``AVE(fit)`` -- computed here from lavaan's estimates in the fixture."""
    lam, th, inds = _block(f, "est")
    S = pd.DataFrame(np.array(SEMT["observed_cov"]).T, index=SEMT["observed_names"],
                     columns=SEMT["observed_names"])
    assert RL.composite_reliability(lam, th) == pytest.approx(
        SEMT["compRelSEM_implied"][f], abs=1e-6)
    assert RL.composite_reliability(lam, th, total_variance=S.loc[inds, inds].to_numpy().sum()) \
        == pytest.approx(SEMT["compRelSEM_observed"][f], abs=1e-6)
    assert RL.average_variance_extracted(lam, th) == pytest.approx(
        SEMT["AVE_implied"][f], abs=1e-6)
    assert RL.average_variance_extracted(
        lam, th, observed_variances=np.diag(S.loc[inds, inds])) == pytest.approx(
        SEMT["AVE_observed"][f], abs=1e-6)


def test_htmt_matches_semtools():
    """R: ``htmt(HS.model, data = HolzingerSwineford1939)`` (htmt2 = TRUE) and
    ``htmt(..., htmt2 = FALSE)``."""
    names = [f"x{i}" for i in range(1, 10)]
    R = pd.DataFrame(np.array(SEMT["sample_cor"]).T, index=names, columns=names)
    cons = {f: _block(f, "est")[2] for f in FACTORS}
    np.testing.assert_allclose(RL.htmt(R, cons).to_numpy(), np.array(SEMT["htmt2"]).T,
                               atol=1e-6)
    np.testing.assert_allclose(RL.htmt(R, cons, geometric=False).to_numpy(),
                               np.array(SEMT["htmt1"]).T, atol=1e-6)


def test_validity_from_sem_wrapper():
    """Wrapper on a SEMResult-like object (lavaan's parameter table with std.all):
    CR and AVE of the standardized solution as computed in R (``std_cr``, ``std_ave``),
    latent correlations equal to lavaan's std.all of ``f1 ~~ f2``."""
    names = SEMT["observed_names"]
    res = SimpleNamespace(parameters=PT, sample_cov=np.array(SEMT["observed_cov"]).T,
                          observed=names)
    v = RL.validity_from_sem(res)
    for f in FACTORS:
        assert v.table.loc[f, "cr"] == pytest.approx(SEMT["std_cr"][f], abs=1e-6)
        assert v.table.loc[f, "ave"] == pytest.approx(SEMT["std_ave"][f], abs=1e-6)
    lv = PT[(PT.op == "~~") & PT.lhs.isin(FACTORS) & PT.rhs.isin(FACTORS) & (PT.lhs != PT.rhs)]
    for r in lv.itertuples():
        assert v.latent_correlations.loc[r.lhs, r.rhs] == pytest.approx(r._6, abs=1e-4)
    fl = v.fornell_larcker
    assert fl.loc["visual", "visual"] == pytest.approx(np.sqrt(SEMT["std_ave"]["visual"]))
    np.testing.assert_allclose(v.htmt.to_numpy(), np.array(SEMT["htmt2"]).T, atol=1e-4)
    assert "Fornell-Larcker" in v.summary()
    with pytest.raises(TypeError, match="parameters"):
        RL.validity_from_sem(object())


def test_validity_basis_semtools_matches_compRelSEM_and_AVE():
    """``basis="semTools"`` is ``compRelSEM(fit)`` / ``AVE(fit)`` (obs.var = TRUE) and
    ``"semTools.implied"`` is ``obs.var = FALSE`` (semTools 0.5-6, psych_semtools.json); the
    default ``"std.all"`` is the Fornell-Larcker formula on the standardized solution, which
    differs from compRelSEM in the third decimal (visual .6258 vs .6253)."""
    names = SEMT["observed_names"]
    res = SimpleNamespace(parameters=PT, sample_cov=np.array(SEMT["observed_cov"]).T,
                          observed=names)
    obs = RL.validity_from_sem(res, basis="semTools")
    imp = RL.validity_from_sem(res, basis="semTools.implied")
    fl = RL.validity_from_sem(res)
    for f in FACTORS:
        assert obs.table.loc[f, "cr"] == pytest.approx(SEMT["compRelSEM_observed"][f], abs=1e-9)
        assert obs.table.loc[f, "ave"] == pytest.approx(SEMT["AVE_observed"][f], abs=1e-9)
        assert imp.table.loc[f, "cr"] == pytest.approx(SEMT["compRelSEM_implied"][f], abs=1e-9)
        assert imp.table.loc[f, "ave"] == pytest.approx(SEMT["AVE_implied"][f], abs=1e-6)
        lam = PT[(PT.op == "=~") & (PT.lhs == f)]["std.all"].to_numpy()
        assert fl.table.loc[f, "cr"] == pytest.approx(
            lam.sum() ** 2 / (lam.sum() ** 2 + (1 - lam ** 2).sum()), abs=1e-6)
        assert fl.table.loc[f, "ave"] == pytest.approx((lam ** 2).mean(), abs=1e-6)
    assert abs(fl.table.loc["visual", "cr"] - SEMT["compRelSEM_implied"]["visual"]) > 4e-4
    assert obs.basis == "semTools" and fl.basis == "std.all"
    with pytest.raises(ValueError, match="basis"):
        RL.validity_from_sem(res, basis="amos")
    with pytest.raises(ValueError, match="sample_cov"):
        RL.validity_from_sem(SimpleNamespace(parameters=PT), basis="semTools")


@pytest.mark.parametrize("case", ["AC_2", "all_3", "all_5"])
def test_omega_hierarchical_matches_psych(case):
    """R: ``psych::omega(x_keyed, nfactors = k, fm = "minres", flip = FALSE)``
    (``$omega_h``, ``$omega.tot``): Schmid-Leiman from varimax -> oblimin, general
    factor from a minres factor of Phi (two factors: psych's option = "equal")."""
    from pipeline.psychometrics.efa import correlation_matrix
    ref = OMEGA[case]
    X = BFI[ref["items"]].copy()
    for c in _rev(ref):
        X[c] = 7 - X[c]
    R = correlation_matrix(X, missing="pairwise").R
    om = RL.omega_hierarchical(R, ref["nfactors"])
    assert om["omega_h"] == pytest.approx(ref["omega_h"], abs=1e-5)
    assert om["omega_total"] == pytest.approx(ref["omega_tot"], abs=1e-6)
    sl = RL.schmid_leiman(R, ref["nfactors"])
    assert sl["group"].shape == (len(ref["items"]), ref["nfactors"])
    assert om["omega_h"] < om["omega_total"] <= 1


from hypothesis import given, settings, strategies as st


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), k=st.integers(2, 6), data=st.data())
def test_alpha_invariant_to_item_order_property(seed, k, data):
    """Alpha, its CI and each item's statistics do not depend on item order."""
    rng = np.random.default_rng(seed)
    f = rng.normal(size=60)
    X = pd.DataFrame(np.clip(np.round(3 + f[:, None] + rng.normal(size=(60, k))), 1, 5),
                     columns=[f"q{i}" for i in range(k)])
    if (X.nunique() < 2).any():
        return
    X.iloc[rng.integers(0, 60, 5), rng.integers(0, k)] = np.nan
    perm = data.draw(st.permutations(list(X.columns)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # a random item may correlate negatively
        try:
            a = RL.scale_reliability(X, list(X.columns), missing="listwise")
        except DataValidationError:       # e.g. two identical items: refused either way
            with pytest.raises(DataValidationError):
                RL.scale_reliability(X, perm, missing="listwise")
            return
        b = RL.scale_reliability(X, perm, missing="listwise")
    assert b.alpha == pytest.approx(a.alpha, abs=1e-12)
    assert b.ci_lower == pytest.approx(a.ci_lower, abs=1e-12)
    pd.testing.assert_frame_equal(b.item_stats.loc[a.item_stats.index], a.item_stats,
                                  check_exact=False, atol=1e-10)


def test_constant_item_within_a_group_is_an_error_naming_item_and_group():
    df = HS.copy()
    df["org"] = np.where(df.index < 150, "ACSA", "akimat")
    df.loc[df.org == "akimat", "x2"] = 3.0
    res = RL.reliability_by_group(df.loc[df.org == "ACSA"], {"visual": "x1,x2,x3"}, "org")
    assert list(res) == ["ACSA"]
    with pytest.raises(DataValidationError, match="within org = 'akimat'.*constant item") as ei:
        RL.reliability_by_group(df, {"visual": "x1,x2,x3"}, "org")
    assert ei.value.columns == ["x2"]


def test_alpha_threshold_flag():
    res = RL.reliability(BFI, {"A": "-A1,A2,A3,A4,A5", "O": "O1,-O2,O3,O4,-O5"},
                         min_score=1, max_score=6, threshold=0.65)
    t = res.to_frame()
    # psych: A 0.703, O 0.600 (pairwise)
    assert t.loc["A", "alpha_ok"] and not t.loc["O", "alpha_ok"]
    assert t.loc["O", "alpha"] == pytest.approx(ALPHA["O_pairwise"]["raw_alpha"], abs=1e-12)
    assert res.to_dict()["alpha_threshold"] == 0.65
