"""The SEM diagnostics sections (pipeline.workflow.sem_sections): numbers from the engine.

lavaan 0.6-14 values come from the committed fixtures (tests/reference/lavaan_engine.R,
lavaan_robust.R, lavaan_multigroup.R); the rest are invariants (a nested model's
chi-square difference is the difference of the chi-squares, the population of the
standardized solution reproduces the implied correlations, ...).
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from pipeline.workflow import sem_sections as ss
from tests.conftest import REFERENCE, fitted_case, load_fixture

HS = REFERENCE / "data" / "holzinger_swineford.csv"
CFA = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9\n"
# visual -> textual -> speed, with the direct path: structurally saturated (equivalent to the CFA)
MED = CFA + "textual ~ a*visual\nspeed ~ b*textual + c*visual\nind := a*b\ntot := c + a*b\n"


@pytest.fixture(scope="module")
def hs() -> pd.DataFrame:
    return pd.read_csv(HS)


def _fit(model, data, **kw):
    from pipeline.sem import fit
    return fit(model, data, emit_warnings=False, **kw)


# ------------------------------------------------------------ estimators
def test_estimator_comparison_matches_lavaan_ml_and_mlr(hs):
    fit_df, paths_df, notes = ss.estimator_comparison(CFA, hs, ["ML", "MLR", "WLSMV"])
    ml = load_fixture("lavaan_hs_normal.json")["fit"]
    mlr = load_fixture("lavaan_robust.json")["cases"]["hs_mlr"]["fit"]
    assert list(fit_df.columns) == ["ML", "MLR"]
    assert notes == ["WLSMV not fitted: no ordinal items (settings sem.ordered)"]
    for m in ("chisq", "df", "pvalue", "cfi", "tli", "rmsea", "srmr"):
        assert fit_df.loc[m, "ML"] == pytest.approx(ml[m], abs=1e-3)
    for m in ("chisq.scaled", "chisq.scaling.factor", "cfi.robust", "tli.robust", "rmsea.robust"):
        assert fit_df.loc[m, "MLR"] == pytest.approx(mlr[m], abs=1e-3)
    assert math.isnan(fit_df.loc["chisq.scaled", "ML"])
    # no regressions: the key paths are the nine loadings; MLR has ML's estimates
    assert len(paths_df) == 9
    assert np.allclose(paths_df["ML est"], paths_df["MLR est"])
    assert paths_df.loc["x2 <--- visual", "ML est"] == pytest.approx(0.5535, abs=1e-4)


def test_estimator_comparison_wlsmv_with_ordered_items(hs):
    d = hs[["x1", "x2", "x3", "x4", "x5", "x6"]].apply(
        lambda s: pd.cut(s, 4, labels=False).astype(int) + 1)
    model = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\n"
    items = ss.ordered_items("likert", ["x1", "x2", "x3", "x4", "x5", "x6"], list(d.columns))
    fit_df, paths_df, notes = ss.estimator_comparison(model, d, ["ML", "WLSMV"], ordered=items)
    direct = _fit(model, d, estimator="WLSMV", ordered=items).fit_measures()
    assert notes == []
    assert fit_df.loc["chisq.scaled", "WLSMV"] == pytest.approx(float(direct["chisq.scaled"]),
                                                                 rel=1e-12)
    assert {"WLSMV std.all", "ML std.all"} <= set(paths_df.columns)


def test_ordered_items_rules():
    obs = ["a", "b", "c"]
    assert ss.ordered_items("likert", obs, ["c", "a", "z"]) == ["a", "c"]
    assert ss.ordered_items("all", obs, []) == obs
    assert ss.ordered_items(None, obs, obs) == []
    assert ss.ordered_items(["b"], obs, []) == ["b"]
    with pytest.raises(ValueError, match="sem.ordered"):
        ss.ordered_items(["q"], obs, [])
    with pytest.raises(ValueError, match="sem.ordered"):
        ss.ordered_items("some", obs, [])


# ------------------------------------------------------------ MI and residuals
def test_top_modification_indices_are_lavaans_top_ten():
    ref, res = fitted_case("hs_normal")
    mi = ss.top_modification_indices(res, 10)
    lav = pd.DataFrame(ref["modindices"]).head(10)
    assert len(mi) == 10
    assert (np.diff(mi["mi"].to_numpy()) <= 0).all()
    assert list(zip(mi.lhs, mi.op, mi.rhs)) == list(zip(lav.lhs, lav.op, lav.rhs))
    assert np.allclose(mi["mi"], lav["mi"], atol=1e-3)
    assert np.allclose(mi["epc"], lav["epc"], atol=1e-3)
    assert np.allclose(mi["p"], stats.chi2.sf(mi["mi"], 1))
    with pytest.raises(ValueError, match="top"):
        ss.top_modification_indices(res, 0)


def test_largest_residuals_are_lavaans():
    ref, res = fitted_case("hs_normal")
    top = ss.largest_residuals(res, 10)
    z = pd.DataFrame(ref["residuals_standardized"], index=ref["observed"],
                     columns=ref["observed"])
    assert len(top) == 10
    a = top["std.resid"].abs().to_numpy()
    assert (np.diff(a) <= 0).all()
    for r in top.itertuples():
        assert r._3 == pytest.approx(z.loc[r.var1, r.var2], abs=1e-3)
    # the largest of all distinct pairs
    p = len(z)
    allz = np.abs(z.to_numpy()[np.tril_indices(p)])
    assert a[0] == pytest.approx(allz.max(), abs=1e-3)
    assert set(top["flag"]) <= {"**", "*", ""}
    assert (top.loc[a > 2.58, "flag"] == "**").all()


# ------------------------------------------------------------ alternative models
def test_mediation_alternatives_nested_differences(hs):
    alts = ss.mediation_alternatives(MED)
    assert list(alts) == ["partial mediation", "full mediation", "direct effects only"]
    fits = {name: _fit(pm, hs) for name, (pm, _) in alts.items()}
    fits["cfa"] = _fit(CFA, hs)
    # partial mediation is structurally saturated: the CFA's lavaan chi-square
    ml = load_fixture("lavaan_hs_normal.json")["fit"]
    assert float(fits["partial mediation"].chisq) == pytest.approx(ml["chisq"], abs=1e-3)
    assert int(fits["full mediation"].df) == 25            # speed ~ visual fixed
    assert int(fits["direct effects only"].df) == 26       # textual ~ visual, speed ~ textual fixed
    t = ss.compare_models(fits, "partial mediation")
    ref = fits["partial mediation"]
    for name in ("full mediation", "direct effects only"):
        r = fits[name]
        d = float(r.chisq) - float(ref.chisq)
        assert t.loc[name, "chisq_diff"] == pytest.approx(d, rel=1e-10)
        assert t.loc[name, "df_diff"] == int(r.df) - int(ref.df)
        assert t.loc[name, "p_diff"] == pytest.approx(stats.chi2.sf(d, int(r.df) - int(ref.df)))
        fm = r.fit_measures()
        assert t.loc[name, "aic"] == pytest.approx(-2 * float(fm["logl"]) + 2 * r.npar)
        assert t.loc[name, "bic"] == pytest.approx(-2 * float(fm["logl"])
                                                   + r.npar * math.log(r.nobs))
    assert math.isnan(t.loc["partial mediation", "chisq_diff"])
    assert "speed ~ visual" in alts["full mediation"][1]
    with pytest.raises(ValueError, match="reference"):
        ss.compare_models(fits, "nope")


def test_mediation_alternatives_adds_missing_direct_paths_and_none_without_mediator():
    alts = ss.mediation_alternatives(CFA + "textual ~ visual\nspeed ~ textual\n")
    assert "added: speed ~ visual" in alts["partial mediation"][1]
    assert ss.mediation_alternatives(CFA + "speed ~ visual + textual\n") == {}
    with pytest.raises(ValueError, match="constraint"):
        ss.mediation_alternatives(MED + "c == 0.1\n")


# ------------------------------------------------------------ Harman
def test_harman_shares(hs):
    items = [f"x{i}" for i in range(1, 10)]
    h = ss.harman_test(hs, items)
    R = np.corrcoef(hs[items].to_numpy(), rowvar=False)
    assert h["pc_share"] == pytest.approx(np.linalg.eigvalsh(R)[-1] / 9, rel=1e-12)
    assert 0 <= h["efa_share"] <= h["pc_share"] <= 1
    assert h["concern"] is (max(h["pc_share"], h["efa_share"]) > 0.5)
    assert int(h["cfa"].df) == 9 * 10 // 2 - 18          # one factor: 9 loadings + 9 residuals
    assert h["n"] == 301
    with pytest.raises(ValueError, match="items"):
        ss.harman_test(hs, ["x1", "x2"])
    with pytest.raises(ValueError, match="not columns"):
        ss.harman_test(hs, ["x1", "x2", "nope"])


# ------------------------------------------------------------ validity
def test_validity_verdicts_follow_the_numbers():
    from pipeline.psychometrics.reliability import validity_from_sem
    _, res = fitted_case("hs_normal")
    val = validity_from_sem(res)
    per, pairs = ss.validity_verdicts(val)
    assert list(per.index) == ["visual", "textual", "speed"]
    for c in per.index:
        assert per.loc[c, "AVE >= 0.50"] == ("meets" if per.loc[c, "ave"] >= 0.5 else "fails")
        assert per.loc[c, "HTMT < 0.85"] == ("meets" if per.loc[c, "max_htmt"] < .85 else "fails")
        fl = per.loc[c, "sqrt_ave"] > per.loc[c, "max_r"]
        assert per.loc[c, "Fornell-Larcker"] == ("meets" if fl else "fails")
        assert per.loc[c, "max_htmt"] == pytest.approx(val.htmt.loc[c].drop(c).max())
    assert per.loc["visual", "AVE >= 0.50"] == "fails"      # .37 in the standardized solution
    assert len(pairs) == 3
    assert pairs.loc[("visual", "textual"), "htmt"] == pytest.approx(
        val.htmt.loc["visual", "textual"])


# ------------------------------------------------------------ bootstrap
def test_admissible_draws_count_equals_the_bootstraps(hs):
    from pipeline.sem.bootstrap import bootstrap
    res = _fit(CFA, hs.head(40))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        b = bootstrap(res, B=100, seed=3, drop_inadmissible=False, progress=False,
                      attach=False, workers=1)
    mask = ss.admissible_draws(res, b)
    assert len(mask) == b.n_ok
    assert int((~mask).sum()) == b.n_inadmissible > 0
    t = ss.bootstrap_side_by_side(res, b, ops=("=~",), mask=mask)
    bt = b.table[(b.table.op == "=~") & (b.table.se > 0)]
    assert len(t) == len(bt) == 6
    assert np.allclose(t["all: se"], bt["se"])
    assert np.allclose(t["all: ci.lower"], bt["ci.lower"])
    assert np.allclose(t["all: ci.upper.bc"], bt["ci.upper.bc"])
    j = res.model.rows[int(bt.index[0])]["par"]
    assert t["admissible: se"].iloc[0] == pytest.approx(np.std(b.draws[mask, j], ddof=1))


# ------------------------------------------------------------ power
def test_population_syntax_reproduces_the_standardized_solution(hs):
    from pipeline.sem import implied_moments
    res = _fit(MED, hs)
    obs, Sigma, _ = implied_moments(ss.population_syntax(res))
    S = pd.DataFrame(np.asarray(res.implied_cov), index=res.observed, columns=res.observed)
    d = np.sqrt(np.diag(S.to_numpy()))
    Rm = S / np.outer(d, d)
    assert np.allclose(Sigma, Rm.loc[obs, obs].to_numpy(), atol=1e-8)


def test_power_notes(hs):
    res = _fit(MED, hs)
    spec = {"alpha": 0.05, "tests": [
        {"id": "Hpos", "effect": "ind", "test": "wald", "direction": "positive"},
        {"id": "Hneg", "effect": "c", "test": "wald", "direction": "negative"},
        {"id": "Hok", "effect": "tot", "test": "wald", "direction": "positive"}]}
    table = pd.DataFrame({"decision": ["Not supported", "Not supported", "Supported"]},
                         index=pd.Index(["Hpos", "Hneg", "Hok"], name="hypothesis"))
    notes, pr = ss.power_notes(res, spec, table, MED, reps=30, ns=[50, 150, 400], seed=5,
                               workers=1)
    assert list(notes.index) == [("Hpos", "ind"), ("Hneg", "c")]
    pt = res.parameters
    z = float(pt[pt.lhs == "ind"].est.iloc[0] / pt[pt.lhs == "ind"].se.iloc[0])
    za, zb = stats.norm.ppf(0.975), stats.norm.ppf(0.8)
    assert notes.loc[("Hpos", "ind"), "n_analytic"] == math.ceil(301 * ((za + zb) / z) ** 2)
    powers = notes[[f"power@{n}" for n in (50, 150, 400)]].to_numpy(dtype=float)
    assert ((powers >= 0) & (powers <= 1)).all()
    row = notes.loc[("Hpos", "ind")]
    hit = [n for n in (50, 150, 400) if row[f"power@{n}"] >= 0.8]
    assert (row["n_needed"] == hit[0]) if hit else math.isnan(row["n_needed"])
    # the estimate is positive, the hypothesis negative: no N helps
    assert not notes.loc[("Hneg", "c"), "direction_ok"]
    assert math.isnan(notes.loc[("Hneg", "c"), "n_needed"])
    assert pr.options["reps"] == 30 and pr.options["n"] == [50, 150, 400]
    empty, none = ss.power_notes(res, spec, table.assign(decision="Supported"), MED)
    assert empty.empty and none is None


# ------------------------------------------------------------ invariance
class _Writer:
    def __init__(self):
        self.items = []

    def table(self, name, df, **kw):
        self.items.append(("table", name, df))

    def text(self, md):
        self.items.append(("text", md, None))

    def warning(self, msg):
        self.items.append(("warning", msg, None))


def test_invariance_section_matches_lavaan(hs):
    w = _Writer()
    ss.invariance_section(w, CFA, hs[[f"x{i}" for i in range(1, 10)] + ["school"]], "school",
                          {"estimator": "ML", "partial": False}, model_name="hs")
    tables = {n: df for k, n, df in w.items if k == "table"}
    steps = tables["steps"]
    mg = load_fixture("lavaan_multigroup.json")
    assert list(steps.index) == ["configural", "metric", "scalar", "strict"]
    assert steps.loc["configural", "chisq"] == pytest.approx(115.851343875559, abs=1e-3)
    for step, key in (("metric", "metric_vs_configural_ml"), ("scalar", "scalar_vs_metric_ml"),
                      ("strict", "strict_vs_scalar_ml")):
        lav = mg["lrt"][key][1]
        assert steps.loc[step, "chisq"] == pytest.approx(lav["Chisq"], abs=1e-3)
        assert steps.loc[step, "chisq_diff"] == pytest.approx(lav["Chisq diff"], abs=1e-3)
        assert steps.loc[step, "df_diff"] == lav["Df diff"]
        assert steps.loc[step, "p_diff"] == pytest.approx(lav["Pr(>Chisq)"], abs=1e-6)
    assert steps.loc["scalar", "decision"] == "fails"
    assert tables["sizes"]["n"].tolist() == [156, 145]


def test_invariance_section_degrades_gracefully(hs):
    d = hs[[f"x{i}" for i in range(1, 10)] + ["school"]]
    w = _Writer()
    ss.invariance_section(w, CFA, d[d.school == "Pasteur"], "school", {})
    assert [k for k, *_ in w.items] == ["table", "warning"]
    assert "1 group" in w.items[1][1]
    w = _Writer()
    tiny = pd.concat([d[d.school == "Pasteur"].head(8), d[d.school == "Grant-White"].head(8)])
    ss.invariance_section(w, CFA, tiny, "school", {})
    assert any(k == "warning" for k, *_ in w.items)


# ------------------------------------------------------------ settings
def test_schema_defaults_and_checks():
    from pipeline.cli.schema import SettingsError, defaults, validate_params
    d = defaults()
    assert d["sem"]["compare_estimators"] == ["ML", "MLR", "WLSMV"]
    assert d["diagnostics"]["mi_top"] == 10 and d["power"]["reps"] == 200
    assert d["invariance"]["decision_rule"] == "chen_2007"
    base = {"studies": {"s": {"settings": {}}},
            "waves": {"w": {"study": "s", "codebook": "c", "raw": "r", "models": "m"}}}
    bad = {**base, "waves": {"w": {**base["waves"]["w"], "sem": {"compare_estimators": ["XX"]}}}}
    with pytest.raises(SettingsError, match=r"waves.w.sem.compare_estimators\[0\]"):
        validate_params(bad)
    bad = {**base, "waves": {"w": {**base["waves"]["w"], "invariance": {"decision": "x"}}}}
    with pytest.raises(SettingsError, match="waves.w.invariance.decision"):
        validate_params(bad)


# ------------------------------------------------------------ the sections, end to end
def test_sections_of_a_study_from_its_settings(tmp_path):
    """Every section of a study with a mediation model, hypotheses, a listed alternative
    model file and a grouping column, written from the settings alone."""
    import json

    from pipeline.cli import config
    from pipeline.core import paths
    from pipeline.workflow import wave as W
    ws = config.wave_settings("holzinger1939")
    models = tmp_path / "models"
    models.mkdir()
    (models / "sem.lav").write_text(MED, encoding="utf-8")
    (models / "alt.lav").write_text(CFA + "textual ~ visual\nspeed ~ textual\n",
                                    encoding="utf-8")
    ws["models"] = str(models)
    ws["sem"].update(model=str(models / "sem.lav"), alternative_models={"chain": str(
        models / "alt.lav")})
    ws["hypotheses"] = {"alpha": 0.05, "correction": None, "tests": [
        {"id": "H1", "effect": "ind", "test": "wald", "direction": "negative"},
        {"id": "H2", "effect": "tot", "test": "bootstrap", "direction": "positive"}]}
    ws["bootstrap"].update(B=40, seed=2, workers=1)
    ws["power"].update(reps=10, n=[100, 300])
    cb = W.wave_codebook(ws)
    data = pd.read_csv(paths.ROOT / "data" / "raw" / "holzinger1939" / "holzinger_swineford.csv")
    results = tmp_path / "results"
    results.mkdir()
    ctx = W._Context("holzinger1939", ws, cb, data, results)
    for name in ("validity", "method_bias", "diagnostics", "invariance", "estimators",
                 "alternatives", "bootstrap", "power"):
        W.ANALYSES[name](ctx)
    keys = [k for k, _ in ctx.written]
    assert keys == ["validity", "method_bias", "diagnostics", "invariance", "estimators",
                    "alternatives", "bootstrap", "power"]
    assert dict(ctx.written)["invariance"] == "Measurement invariance across school"
    assert dict(ctx.written)["estimators"] == "Estimator comparison (ML, MLR)"
    alt = pd.read_csv(results / "alternatives" / "models.csv", index_col=0)
    assert list(alt.index) == ["hypothesized", "full mediation", "direct effects only", "chain"]
    # the listed chain model is the full-mediation variant: the same chi-square
    assert alt.loc["chain", "chisq"] == pytest.approx(alt.loc["full mediation", "chisq"])
    assert alt.loc["chain", "df_diff"] == 1
    man = json.loads((results / "diagnostics" / "manifest.json").read_text(encoding="utf-8"))
    assert [i["name"] for i in man["items"] if i["kind"] == "table"] == [
        "cfa_mi", "cfa_residuals", "sem_mi", "sem_residuals"]
    notes = pd.read_csv(results / "power" / "notes.csv")
    assert list(notes["hypothesis"]) == ["H1"] and list(notes["direction_ok"]) == [False]
    outside = tmp_path / "elsewhere.lav"
    outside.write_text(CFA, encoding="utf-8")
    ws["sem"]["alternative_models"] = {"x": str(outside)}
    from pipeline.cli.schema import SettingsError
    with pytest.raises(SettingsError, match="outside the wave's models folder"):
        W.ANALYSES["alternatives"](ctx)


def test_hypotheses_by_estimator_uses_each_fit(hs):
    fits = {}
    ss.estimator_comparison(MED, hs, ["ML", "MLR"], fits_out=fits)
    spec = {"alpha": 0.05, "tests": [
        {"id": "H1", "effect": "ind", "test": "wald", "direction": "positive"},
        {"id": "H2", "effect": "tot", "test": "bootstrap", "direction": "positive"}]}
    t = ss.hypotheses_by_estimator(spec, fits)
    assert list(t.index) == ["H1"]
    for E in ("ML", "MLR"):
        pt = fits[E].parameters
        row = pt[pt.lhs == "ind"].iloc[0]
        assert t.loc["H1", f"{E} estimate"] == pytest.approx(row.est)
        assert t.loc["H1", f"{E} pvalue"] == pytest.approx(row.pvalue)
    assert t.loc["H1", "ML estimate"] == pytest.approx(t.loc["H1", "MLR estimate"])
    assert t.loc["H1", "ML pvalue"] != pytest.approx(t.loc["H1", "MLR pvalue"])


def test_power_notes_of_compare_tests(hs):
    from pipeline.sem.hypotheses import hypotheses_table
    res = _fit(MED, hs)
    spec = {"alpha": 0.05, "tests": [
        {"id": "Hc", "compare": ["c", "b"], "test": "wald", "direction": "positive"},
        {"id": "Hd", "compare": ["ind", "c"], "test": "wald", "direction": "positive"}]}
    table = hypotheses_table(spec, res).assign(decision="Not supported")
    notes, pr = ss.power_notes(res, spec, table, MED, reps=10, ns=[100], workers=1)
    assert list(notes.index) == [("Hc", "Hc_diff"), ("Hd", "Hd_diff")]
    for h in ("Hc", "Hd"):
        assert notes.loc[(h, f"{h}_diff"), "estimate"] == pytest.approx(table.loc[h, "estimate"])
        assert notes.loc[(h, f"{h}_diff"), "z"] == pytest.approx(table.loc[h, "z"])
        assert ((pr.parameters.op == ":=") & (pr.parameters.lhs == f"{h}_diff")).any()
    assert notes.loc[("Hc", "Hc_diff"), "direction_ok"]          # c - b > 0
    assert not notes.loc[("Hd", "Hd_diff"), "direction_ok"]      # ind - c < 0


def test_a_failing_diagnostic_is_a_note_not_a_crash(tmp_path, monkeypatch):
    from pipeline.cli import config
    from pipeline.core import paths
    from pipeline.workflow import wave as W
    ws = config.wave_settings("holzinger1939")
    cb = W.wave_codebook(ws)
    data = pd.read_csv(paths.ROOT / "data" / "raw" / "holzinger1939" / "holzinger_swineford.csv")
    ctx = W._Context("holzinger1939", ws, cb, data, tmp_path)

    def boom(*a, **k):
        raise np.linalg.LinAlgError("Singular matrix")
    monkeypatch.setattr(ss, "harman_test", boom)
    W.ANALYSES["method_bias"](ctx)
    assert [k for k, _ in ctx.written] == ["method_bias"]
    t = pd.read_csv(tmp_path / "method_bias" / "not_computed.csv")
    assert t["reason"].tolist() == ["LinAlgError: Singular matrix"]


def test_a_bad_ordered_setting_stops_the_stage_naming_it(tmp_path):
    from pipeline.cli import config
    from pipeline.cli.schema import SettingsError
    from pipeline.core import paths
    from pipeline.workflow import wave as W
    ws = config.wave_settings("holzinger1939")
    ws["sem"]["ordered"] = ["x1", "q9"]
    data = pd.read_csv(paths.ROOT / "data" / "raw" / "holzinger1939" / "holzinger_swineford.csv")
    ctx = W._Context("holzinger1939", ws, W.wave_codebook(ws), data, tmp_path)
    with pytest.raises(SettingsError, match=r"waves.holzinger1939.sem.ordered: .*\['q9'\]"):
        W.ANALYSES["estimators"](ctx)
