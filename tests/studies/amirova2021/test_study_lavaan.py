"""The 2019 study's report numbers (Tables 12, K.1, K.2, 13) against lavaan, end to end.

R (tests/reference/lavaan_study.R, lavaan 0.6-14, semTools), on the screened
2019 rows (Likert columns L1..ICS2 of the complete cases of
``data/processed/cs2019/prepared/clean.csv``, frozen in
``tests/reference/data/study_cs2019.csv``)::

    sem(paste(readLines("studies/amirova2021/models/cs2019/thesis_sem.lav"), collapse = "\\n"), d, likelihood = "wishart")
    cfa(paste(readLines("studies/amirova2021/models/cs2019/thesis_cfa.lav"), collapse = "\\n"), d, likelihood = "wishart")
    parameterEstimates(fit, standardized = TRUE); fitMeasures(fit); inspect(fit, "r2")
    compRelSEM(cfa(model, as.data.frame(scale(d)), likelihood = "wishart"), obs.var = FALSE); AVE(idem)
    set.seed(20190601); sem(model, d, likelihood = "wishart", se = "bootstrap", bootstrap = 2000)
    parameterEstimates(fitb, boot.ci.type = "perc")

The Python side runs the study's own functions with the study's settings
(``params.yaml``: ``sem``, ``bootstrap``, ``hypotheses``): ``pipeline.sem.fit``,
``pipeline.workflow.wave.fit_table`` / ``paths_table`` / ``hypothesis_table`` /
``_effects_table``, ``pipeline.psychometrics.reliability.validity_from_sem`` and
``pipeline.sem.bootstrap.bootstrap`` (``drop_inadmissible=False``).

Tolerances (as the brief of this comparison): fit measures 1e-3 absolute (chisq 1e-4
relative); estimates, C.R., P, std.all, R², CR, AVE 1e-3 absolute; SEs (also
delta-method SEs of ``:=`` effects) 1% relative.  Measured on the committed fixture:
estimates, std.all, R², CR, AVE within 1.3e-5, SEs within 1.5e-5 relative, z within
7e-5, fit measures within 1e-7 (optimizer tolerance).

CR / AVE: Table K.1 uses the Fornell-Larcker formulas on the standardized solution;
semTools' defaults weight the items by their raw variances (and, with obs.var = TRUE,
use the observed variance of the sum), which differs here by up to 0.006 (AVE of L,
CR of O).  Both are tested: the study's values against semTools on the standardized
solution, the pure functions against semTools' raw-metric definitions.

Bootstrap: R uses B = 2000, this test B = 1000 (fast; the seed of ``params.yaml``),
so the intervals differ by Monte Carlo error only.  The MC standard deviation of an
estimated q-quantile from n draws is ``sqrt(q(1-q)) s(q) / sqrt(n)`` with ``s = 1/f``
the sparsity at the quantile, estimated from this test's draws as
``(Q(q+h) - Q(q-h)) / 2h``, h = .01 (Siddiqui); the draws are skewed and heavy
tailed here (over half of them have a negative variance, kept as lavaan does), so
no normal approximation is used.  The difference of lavaan's and our endpoint has
MC SD ``sqrt(q(1-q)) s(q) sqrt(1/n_R + 1/n_py)`` (n = successful draws, ~1950 and
~980); endpoints must agree within ``BOOT_K = 5`` such SDs (50 endpoints are
compared, and s(q) is itself estimated).  Bootstrap SEs: the relative MC SD of a
sample SD is ``sqrt((kurtosis - 1)/(4n))``, kurtosis of our draws; combined over
both sides, tolerance BOOT_K of those.  Measured: endpoints within 2.2, SEs within
1.8 MC SDs.  Bias-corrected intervals are not compared: their adjusted levels reach
q = .99 here, where 1000 draws leave ~10 order statistics and the MC error is not
estimable this way.

Regenerate the fixture after ``data/synthetic/cs2019.csv`` changes:
``Rscript tests/reference/lavaan_study.R --prepare``.
"""
from __future__ import annotations

import functools
import math
import warnings

import numpy as np
import pandas as pd
import pytest

from pipeline.cli import config
from pipeline.core import paths
from pipeline.core.exceptions import PipelineWarning
from pipeline.psychometrics.reliability import (average_variance_extracted, composite_reliability,
                                  validity_from_sem)
from pipeline.sem.bootstrap import bootstrap
from pipeline.sem import fit
from pipeline.sem.hypotheses import decide_hypotheses
from pipeline.workflow.wave import _effects_table, fit_table, hypotheses_spec, paths_table
from tests.conftest import REFERENCE, load_fixture

REF = load_fixture("lavaan_study_cs2019.json")
WAVE = config.wave_settings("cs2019")
SEM_P, BOOT_P = WAVE["sem"], WAVE["bootstrap"]
HYP_SPEC = hypotheses_spec(WAVE)          # studies/amirova2021/models/cs2019/hypotheses.yaml
HYP_P = {"alpha": HYP_SPEC["alpha"],
         "factors": {t["id"]: t["factor"] for t in HYP_SPEC["tests"]
                     if t["id"] in ("H1", "H2", "H3", "H4")},
         "effect": "total"}


def hypothesis_table(parameters, boot_table, _spec, admissible=True):
    """The thesis's hypotheses (data) decided by pipeline.sem.hypotheses."""
    return decide_hypotheses(HYP_SPEC, parameters, boot_table=boot_table, admissible=admissible)

FIT_ATOL = 1e-3
CHISQ_RTOL = 1e-4
EST_ATOL = 1e-3
SE_RTOL = 0.01
B_PY = 1000
BOOT_K = 5.0


@functools.lru_cache(maxsize=None)
def _data() -> pd.DataFrame:
    return pd.read_csv(REFERENCE / "data" / REF["data"])


@functools.lru_cache(maxsize=None)
def _fit(which: str):
    model = SEM_P["model"] if which == "sem" else SEM_P["cfa_model"]
    return fit(paths.resolve(model), _data(), likelihood=SEM_P["likelihood"],
               missing=SEM_P["missing"])


@functools.lru_cache(maxsize=None)
def _boot():
    res = _fit("sem")
    with warnings.catch_warnings():
        # inadmissible / failed draws are counted and warned about; lavaan too
        warnings.simplefilter("ignore", PipelineWarning)
        return bootstrap(res, B=B_PY, seed=BOOT_P["seed"], level=BOOT_P["level"],
                         drop_inadmissible=bool(BOOT_P["drop_inadmissible"]),
                         progress=False, attach=False, workers=1)


def _key(df: pd.DataFrame) -> pd.DataFrame:
    """Symmetric ``~~`` rows keyed independently of their orientation (lavaan writes
    ``HC ~~ CC`` where the engine writes ``CC ~~ HC``)."""
    df = df.copy()
    sym = df.op == "~~"
    a, b = df["lhs"].astype(str), df["rhs"].astype(str)
    df["k1"] = np.where(sym, np.minimum(a, b), a)
    df["k2"] = np.where(sym, np.maximum(a, b), b)
    return df


def _merged(which: str) -> pd.DataFrame:
    ref = _key(pd.DataFrame(REF[which]["parameters"]))
    got = _key(_fit(which).parameters)
    m = ref.merge(got, on=["k1", "op", "k2"], suffixes=("_r", ""), how="outer", indicator=True)
    assert (m["_merge"] == "both").all(), m.loc[m["_merge"] != "both", ["k1", "op", "k2"]]
    return m


def test_study_settings_are_what_the_fixture_fits():
    """The R script fits the study's models with likelihood = "wishart", listwise, on
    the rows frozen in the fixture; params.yaml must still say so."""
    assert SEM_P["likelihood"] == "wishart" and SEM_P["missing"] == "listwise"
    assert paths.resolve(SEM_P["model"]).read_text().strip() == REF["sem"]["model"].strip()
    assert paths.resolve(SEM_P["cfa_model"]).read_text().strip() == REF["cfa"]["model"].strip()
    assert BOOT_P["drop_inadmissible"] is False           # lavaan 0.6-14 keeps them
    d = _data()
    assert len(d) == REF["nobs"] == _fit("sem").nobs == _fit("cfa").nobs
    assert not d.isna().any().any()


@pytest.mark.parametrize("which", ["cfa", "sem"])
def test_table12_fit_measures_match_lavaan(which):
    """Table 12 rows (``fit_table``) against ``fitMeasures(fit)`` of the same model
    (R: ``cfa(...)`` / ``sem(...)`` with ``likelihood = "wishart"``)."""
    res = _fit(which)
    assert res.converged and res.admissible
    ft = fit_table(res.fit_measures(), SEM_P["thresholds"], likelihood=SEM_P["likelihood"])
    got = ft.set_index("name")["value"].astype(float)
    rf = REF[which]["fit"]
    assert got["chisq"] == pytest.approx(rf["chisq"], rel=CHISQ_RTOL)
    assert got["df"] == rf["df"]
    assert got["cmin_df"] == pytest.approx(rf["chisq"] / rf["df"], abs=FIT_ATOL)
    for k in ("pvalue", "gfi", "agfi", "rmsea", "rmsea.ci.lower", "rmsea.ci.upper",
              "rmsea.pvalue", "srmr", "tli", "cfi", "ifi", "nfi"):
        assert got[k] == pytest.approx(rf[k], abs=FIT_ATOL), k
    # the verdicts follow from lavaan's values and the thresholds of params.yaml
    ops = {">": float.__gt__, "<": float.__lt__}
    verdicts = ft.set_index("name")["verdict"]
    for k, t in SEM_P["thresholds"].items():
        ref_val = float(rf["chisq"] / rf["df"] if k == "cmin_df" else rf[k])
        if abs(ref_val - t["value"]) > FIT_ATOL:
            ok = ops[t["op"]](ref_val, float(t["value"]))
            assert verdicts[k] == ("meets" if ok else "fails"), (k, verdicts[k])


@pytest.mark.parametrize("which", ["cfa", "sem"])
def test_every_parameter_matches_lavaan(which):
    """``parameterEstimates(fit, standardized = TRUE)``: est, std.all 1e-3, se 1%,
    z and p 1e-3, for every row (``:=`` rows: delta-method SEs)."""
    m = _merged(which)
    np.testing.assert_allclose(m["est"], m["est_r"], atol=EST_ATOL)
    np.testing.assert_allclose(m["std.all"], m["std.all_r"], atol=EST_ATOL)
    free = m["se_r"] > 0
    np.testing.assert_allclose(m.loc[free, "se"], m.loc[free, "se_r"], rtol=SE_RTOL)
    np.testing.assert_allclose(m.loc[free, "z"], m.loc[free, "z_r"], atol=EST_ATOL)
    np.testing.assert_allclose(m.loc[free, "pvalue"], m.loc[free, "pvalue_r"], atol=EST_ATOL)


def test_table_k2_matches_lavaan():
    """Table K.2 (``paths_table``): Estimate, S.E., C.R., P and Standardized of every
    ``=~`` / ``~`` row against ``parameterEstimates(sem, standardized = TRUE)``."""
    k2 = paths_table(_fit("sem").parameters)
    pe = pd.DataFrame(REF["sem"]["parameters"])
    pe = pe[pe.op.isin(["=~", "~"])]
    assert len(k2) == len(pe)
    for r in pe.itertuples(index=False):
        path = f"{r.rhs} <--- {r.lhs}" if r.op == "=~" else f"{r.lhs} <--- {r.rhs}"
        row = k2.loc[path]
        assert row["Estimate"] == pytest.approx(r.est, abs=EST_ATOL), path
        assert row["Standardized"] == pytest.approx(r._11, abs=EST_ATOL), path
        if r.se > 0:
            assert row["S.E."] == pytest.approx(r.se, rel=SE_RTOL), path
            assert row["C.R."] == pytest.approx(r.z, abs=EST_ATOL), path
            assert row["P"] == pytest.approx(r.pvalue, abs=EST_ATOL), path
        else:                                     # fixed marker loading: no S.E.
            assert pd.isna(row["S.E."]) and pd.isna(row["C.R."]) and pd.isna(row["P"]), path


@pytest.mark.parametrize("which", ["cfa", "sem"])
def test_r2_matches_lavaan(which):
    """``inspect(fit, "r2")``: every indicator and dependent variable, 1e-3."""
    got = _fit(which).r2
    ref = pd.Series(REF[which]["r2"], dtype=float)
    assert set(got.index) == set(ref.index)
    np.testing.assert_allclose(got[ref.index], ref, atol=EST_ATOL)


@pytest.mark.parametrize("prefix", ["ind_", "tot_"])
def test_effects_tables_match_lavaan_delta_method(prefix):
    """Indirect / total effects tables (``_effects_table``) against the ``:=`` rows of
    ``parameterEstimates(sem)``: est 1e-3, delta-method SE 1%, z and p 1e-3."""
    tab = _effects_table(None, _fit("sem").parameters, prefix)
    pe = pd.DataFrame(REF["sem"]["parameters"])
    pe = pe[(pe.op == ":=") & pe.lhs.str.startswith(prefix)].set_index("lhs")
    pe.index = [i[len(prefix):] for i in pe.index]
    assert sorted(tab.index) == sorted(pe.index) == ["HC", "L", "O", "R", "S"]
    tab = tab.loc[pe.index]
    np.testing.assert_allclose(tab["est"], pe["est"], atol=EST_ATOL)
    np.testing.assert_allclose(tab["se"], pe["se"], rtol=SE_RTOL)
    np.testing.assert_allclose(tab["z"], pe["z"], atol=EST_ATOL)
    np.testing.assert_allclose(tab["pvalue"], pe["pvalue"], atol=EST_ATOL)
    np.testing.assert_allclose(tab["std.all"], pe["std.all"], atol=EST_ATOL)


def test_hypotheses_h1_h4_match_lavaan():
    """Table 13, H1-H4 (``hypothesis_table``, effect = params.yaml ``hypotheses.effect``):
    the Wald test of lavaan's ``tot_X`` (delta method) row; decision "Supported" iff
    lavaan's est > 0 and p < alpha (where lavaan's p is not within 1e-3 of alpha)."""
    hyp = hypothesis_table(_fit("sem").parameters, None, HYP_P, admissible=True)
    pe = pd.DataFrame(REF["sem"]["parameters"])
    prefix = {"total": "tot_", "indirect": "ind_"}[HYP_P["effect"]]
    alpha = HYP_P["alpha"]
    for h, f in HYP_P["factors"].items():
        r = pe[(pe.op == ":=") & (pe.lhs == prefix + f)].iloc[0]
        assert hyp.loc[h, "estimate"] == pytest.approx(r.est, abs=EST_ATOL)
        assert hyp.loc[h, "se"] == pytest.approx(r.se, rel=SE_RTOL)
        assert hyp.loc[h, "z"] == pytest.approx(r.z, abs=EST_ATOL)
        assert hyp.loc[h, "pvalue"] == pytest.approx(r.pvalue, abs=EST_ATOL)
        if abs(r.pvalue - alpha) > EST_ATOL:
            expected = "Supported" if (r.est > 0 and r.pvalue < alpha) else "Not supported"
            assert hyp.loc[h, "decision"] == expected, h


def test_cr_ave_match_semtools_on_the_standardized_solution():
    """Table K.1 CR / AVE (``validity_from_sem`` on the CFA) against
    ``compRelSEM(cfa(model, as.data.frame(scale(d)), likelihood = "wishart"),
    obs.var = FALSE)`` and ``AVE(idem)``, and against the Fornell-Larcker formulas on
    ``standardizedSolution(cfa)`` (the definitions the study uses), 1e-3."""
    v = validity_from_sem(_fit("cfa")).table
    c = REF["cfa"]
    factors = list(c["std_cr"])
    assert sorted(v.index) == sorted(factors)
    for f in factors:
        assert v.loc[f, "cr"] == pytest.approx(c["compRelSEM_std"][f], abs=EST_ATOL), f
        assert v.loc[f, "ave"] == pytest.approx(c["AVE_std"][f], abs=EST_ATOL), f
        assert v.loc[f, "cr"] == pytest.approx(c["std_cr"][f], abs=EST_ATOL), f
        assert v.loc[f, "ave"] == pytest.approx(c["std_ave"][f], abs=EST_ATOL), f


def test_cr_ave_unstandardized_match_semtools_defaults():
    """semTools' own definitions on the raw-metric CFA, from the engine's unstandardized
    estimates: ``compRelSEM(cfa, obs.var = FALSE)``, ``AVE(cfa, obs.var = FALSE)``
    (model-implied variances) and the defaults ``compRelSEM(cfa)``, ``AVE(cfa)``
    (observed variances, here S with divisor N - 1 as lavaan's wishart sampstat).
    These differ from Table K.1's standardized CR/AVE by up to ~0.006 (L, O) because
    they weight the items by their raw variances; 1e-3."""
    res = _fit("cfa")
    pt = res.parameters
    c = REF["cfa"]
    n = res.nobs
    S = pd.DataFrame(res.sample_cov * n / (n - 1), index=res.observed, columns=res.observed)
    for f in c["compRelSEM"]:
        lo = pt[(pt.op == "=~") & (pt.lhs == f)]
        inds = list(lo.rhs)
        th = pt[(pt.op == "~~") & (pt.lhs == pt.rhs)].set_index("lhs").loc[inds, "est"]
        psi = float(pt[(pt.op == "~~") & (pt.lhs == f) & (pt.rhs == f)]["est"].iloc[0])
        lam = lo["est"].to_numpy()
        assert composite_reliability(lam, th, factor_variance=psi) == pytest.approx(
            c["compRelSEM_implied"][f], abs=EST_ATOL), f
        assert average_variance_extracted(lam, th, factor_variance=psi) == pytest.approx(
            c["AVE_implied"][f], abs=EST_ATOL), f
        Sf = S.loc[inds, inds].to_numpy()
        assert composite_reliability(lam, th, factor_variance=psi,
                                     total_variance=Sf.sum()) == pytest.approx(
            c["compRelSEM"][f], abs=EST_ATOL), f
        assert average_variance_extracted(lam, th, factor_variance=psi,
                                          observed_variances=np.diag(Sf)) == pytest.approx(
            c["AVE"][f], abs=EST_ATOL), f


def _boot_merged() -> pd.DataFrame:
    """lavaan's bootstrap ``:=`` rows next to ours, with the MC SDs of the difference of
    the lower / upper endpoints (``mc.lower``, ``mc.upper``) and the relative MC SD of
    the difference of the bootstrap SEs (``mc.se``); see the module docstring."""
    from scipy import stats
    br = _boot()
    res = _fit("sem")
    bt = br.table[br.table.op == ":="].copy()
    names = list(res.model.defined.names)
    assert list(bt.lhs) == names
    D = br.draws[:, res.model.npar:]
    n_r, n_py = REF["bootstrap"]["n_boot_ok"], br.n_ok
    q, h = (1 - BOOT_P["level"]) / 2, 0.01
    both = math.sqrt(1 / n_r + 1 / n_py)
    for side, qq in (("lower", q), ("upper", 1 - q)):
        lo, hi = np.quantile(D, [qq - h, qq + h], axis=0)
        bt[f"mc.{side}"] = math.sqrt(q * (1 - q)) * (hi - lo) / (2 * h) * both
    kurt = stats.kurtosis(D, axis=0, fisher=False)
    bt["mc.se"] = np.sqrt((kurt - 1) / 4) * both
    ref = pd.DataFrame(REF["bootstrap"]["defined"])
    m = ref.merge(bt, on=["lhs", "op"], suffixes=("_r", ""), how="outer", indicator=True)
    assert (m["_merge"] == "both").all()
    return m


def test_bootstrap_draws_like_lavaan():
    """Failed draws are dropped in both (lavaan: ``n_boot_ok`` of B), at a similar rate."""
    br = _boot()
    ref = REF["bootstrap"]
    assert br.n_ok + br.n_failed == B_PY
    assert abs(br.n_failed / B_PY - (ref["B"] - ref["n_boot_ok"]) / ref["B"]) < 0.03
    assert not br.inadmissible_dropped


def test_bootstrap_percentile_intervals_of_effects_match_lavaan():
    """``parameterEstimates(fitb, boot.ci.type = "perc")`` ``:=`` rows (R: B = 2000,
    ``set.seed(20190601)``) against ``bootstrap(res, B = 1000, drop_inadmissible =
    False)``: endpoints and bootstrap SEs within BOOT_K MC SDs (module docstring)."""
    m = _boot_merged()
    np.testing.assert_allclose(m["est"], m["est_r"], atol=EST_ATOL)
    dev_se = (m["se"] / m["boot_se"] - 1).abs() / m["mc.se"]
    assert dev_se.max() < BOOT_K, m.loc[dev_se.idxmax(), "lhs"]
    for side in ("lower", "upper"):
        dev = (m[f"ci.{side}"] - m[f"perc.{side}"]).abs() / m[f"mc.{side}"]
        assert dev.max() < BOOT_K, (side, m.loc[dev.idxmax(), "lhs"], dev.max())


@pytest.mark.parametrize("prefix", ["ind_", "tot_"])
def test_effects_tables_bootstrap_columns(prefix):
    """The report's effects tables carry the bootstrap SE and percentile CI of the
    same draws (``_effects_table`` with the bootstrap table), close to lavaan's."""
    br = _boot()
    tab = _effects_table(br.table, _fit("sem").parameters, prefix)
    m = _boot_merged().set_index("lhs")
    for f in tab.index:
        r = m.loc[prefix + f]
        assert tab.loc[f, "boot.se"] == pytest.approx(r["se"], rel=1e-12)
        assert tab.loc[f, "ci.lower"] == pytest.approx(r["ci.lower"], rel=1e-12)
        assert tab.loc[f, "ci.upper"] == pytest.approx(r["ci.upper"], rel=1e-12)
        assert abs(tab.loc[f, "boot.se"] / r["boot_se"] - 1) < BOOT_K * r["mc.se"]


def test_hypotheses_h5_basic_match_lavaan_bootstrap():
    """Table 13, H5 and the basic hypothesis: the percentile CIs of ``dtot_X`` /
    ``basic_tot`` and the decisions they imply.  A decision is compared only where
    lavaan's lower endpoints decide it beyond BOOT_K MC SDs of 0."""
    br = _boot()
    hyp = hypothesis_table(_fit("sem").parameters, br.table, HYP_P, admissible=True)
    m = _boot_merged().set_index("lhs")
    sd = m["mc.lower"]
    diff = {"total": "dtot_", "direct": "ddir_", "indirect": "dind_"}[HYP_P["effect"]]
    basic = {"total": "basic_tot", "direct": "basic_dir", "indirect": "basic_ind"}[HYP_P["effect"]]
    names = [diff + f for f in HYP_P["factors"].values()]
    lows = m.loc[names, "perc.lower"]
    assert hyp.loc["H5", "ci.lower"] == pytest.approx(lows.min(), abs=BOOT_K * sd[names].max())
    if (lows < -BOOT_K * sd[names]).any():
        assert hyp.loc["H5", "decision"] == "Not supported"
    elif (lows > BOOT_K * sd[names]).all():
        assert hyp.loc["H5", "decision"] == "Supported"
    assert hyp.loc["basic", "estimate"] == pytest.approx(m.loc[basic, "est_r"], abs=EST_ATOL)
    assert hyp.loc["basic", "ci.lower"] == pytest.approx(m.loc[basic, "perc.lower"],
                                                         abs=BOOT_K * sd[basic])
    assert hyp.loc["basic", "ci.upper"] == pytest.approx(m.loc[basic, "perc.upper"],
                                                         abs=BOOT_K * m.loc[basic, "mc.upper"])
    lo = m.loc[basic, "perc.lower"]
    if abs(lo) > BOOT_K * sd[basic]:
        assert hyp.loc["basic", "decision"] == ("Supported" if lo > 0 else "Not supported")


def test_thesis_hypotheses_as_data_keep_the_thesis_decisions():
    """The hypotheses file of the thesis study, decided by the generic
    pipeline.sem.hypotheses on the 2019 study data: H1-H4 supported, H5 and the
    basic hypothesis not supported (as the wave's report and Table 13's scorecard
    rows show on the current synthetic data)."""
    from pipeline.sem.hypotheses import hypotheses_table

    class _Boot:                      # the cached bootstrap, as hypotheses_table reads it
        table, draws, level = _boot().table, _boot().draws, _boot().level

    hyp = hypotheses_table(HYP_SPEC, _fit("sem"), _Boot())
    assert list(hyp.index) == ["H1", "H2", "H3", "H4", "H5", "basic"]
    assert list(hyp["decision"]) == ["Supported"] * 4 + ["Not supported"] * 2
    assert hyp.loc["H1", "statement"].startswith("Leadership")
