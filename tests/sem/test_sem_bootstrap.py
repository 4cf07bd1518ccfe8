"""Bootstrap (pipeline.sem.bootstrap) against lavaan and for reproducibility.

lavaan fixture (tests/reference/lavaan_engine.R, case boot_poldem):
``set.seed(4321); sem(model, data = PoliticalDemocracy, se = "bootstrap",
bootstrap = 1000)`` with ``parameterEstimates(fit, boot.ci.type = "perc")``
and ``"bca.simple"``.  lavaan 0.6-14 keeps non-admissible draws, so the
comparison uses ``drop_inadmissible=False``.

Monte Carlo tolerance: with B = 300 here and 1000 in lavaan, the standard
error of a 2.5% / 97.5% quantile is about sqrt(q(1-q)/B)/phi(z_q) x SE,
i.e. 0.16 SE (ours) and 0.09 SE (lavaan's), combined ~0.18 SE; endpoints must
agree within 0.8 SE (4.4 MC standard deviations).  Bootstrap SEs: MC
relative error ~ 1/sqrt(2B) = 4%; tolerance 15%.
"""
from __future__ import annotations

import functools
import warnings

import numpy as np
import pandas as pd
import pytest

from pipeline.core.exceptions import InadmissibleFitWarning, PipelineWarning
from pipeline.sem.bootstrap import bc_ci, bootstrap, norm_inter, percentile_ci
from pipeline.sem import fit
from tests.conftest import REFERENCE, load_fixture


@functools.lru_cache(maxsize=None)
def _boot():
    ref = load_fixture("lavaan_boot_poldem.json")
    data = pd.read_csv(REFERENCE / "data" / ref["data"])
    res = fit(ref["model"], data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PipelineWarning)
        br = bootstrap(res, B=300, seed=20190601, progress=False, drop_inadmissible=False)
    return ref, data, res, br


def test_bootstrap_matches_lavaan_within_monte_carlo_error():
    ref, data, res, br = _boot()
    assert br.n_ok + br.n_failed == 300
    assert br.n_failed <= 3
    # lavaan: 321 of 1000 non-admissible; ours should be a similar share
    assert abs(br.n_inadmissible / 300 - ref["bootstrap"]["n_nonadmissible"] / 1000) < 0.1
    perc = pd.DataFrame(ref["bootstrap"]["perc"])
    bca = pd.DataFrame(ref["bootstrap"]["bca.simple"])
    got = res.parameters
    m = perc.merge(got, on=["lhs", "op", "rhs"], suffixes=("_r", ""))
    m = m.merge(bca[["lhs", "op", "rhs", "ci.lower", "ci.upper"]].rename(
        columns={"ci.lower": "bc.lo", "ci.upper": "bc.hi"}), on=["lhs", "op", "rhs"])
    assert len(m) == len(perc)
    free = m["se_r"] > 0
    m = m[free]
    np.testing.assert_allclose(m["se"], m["se_r"], rtol=0.15)
    for ours, theirs in [("ci.lower", "ci.lower_r"), ("ci.upper", "ci.upper_r"),
                         ("ci.lower.bc", "bc.lo"), ("ci.upper.bc", "bc.hi")]:
        dev = (m[ours] - m[theirs]).abs() / m["se_r"]
        assert dev.max() < 0.8, (ours, m.loc[dev.idxmax(), ["lhs", "op", "rhs"]].tolist())
    # the defined indirect effect is bootstrapped too
    ind = got.set_index("lhs").loc["ind"]
    assert ind["ci.lower"] < ind["est"] < ind["ci.upper"]


def test_same_seed_same_intervals_and_different_seed_differs():
    ref = load_fixture("lavaan_hs_normal.json")
    data = pd.read_csv(REFERENCE / "data" / ref["data"])
    res = fit(ref["model"], data)
    a = bootstrap(res, B=40, seed=7, progress=False, attach=False)
    b = bootstrap(res, B=40, seed=7, progress=False, attach=False)
    c = bootstrap(res, B=40, seed=8, progress=False, attach=False)
    np.testing.assert_array_equal(a.draws, b.draws)
    pd.testing.assert_frame_equal(a.table, b.table)
    assert not np.allclose(a.draws, c.draws)
    # draw b depends only on SeedSequence(seed).spawn(B)[b]: a shorter run is a prefix
    d = bootstrap(res, B=20, seed=7, progress=False, attach=False)
    np.testing.assert_array_equal(d.draws, a.draws[:20])


def test_attach_replaces_se_and_adds_bc_columns():
    ref = load_fixture("lavaan_hs_normal.json")
    data = pd.read_csv(REFERENCE / "data" / ref["data"])
    res = fit(ref["model"], data)
    ml = res.parameters.copy()
    br = bootstrap(res, B=30, seed=1, progress=False)
    p = res.parameters
    assert {"ci.lower.bc", "ci.upper.bc"} <= set(p.columns)
    assert res.bootstrap is br and res.options["se"] == "bootstrap"
    pd.testing.assert_frame_equal(res.parameters_ml, ml)
    fixed = ml["se"] == 0
    assert (p.loc[fixed, "se"] == 0).all() and (p.loc[fixed, "ci.lower"] == p.loc[fixed, "est"]).all()
    assert (p.loc[~fixed, "se"] > 0).all()
    d = res.to_dict()
    assert d["options"]["bootstrap"] == 30 and d["bootstrap"]["n_ok"] == br.n_ok


def test_inadmissible_draws_are_counted_and_excluded():
    ref = load_fixture("lavaan_poldem.json")
    data = pd.read_csv(REFERENCE / "data" / ref["data"])
    res = fit(ref["model"], data)
    with pytest.warns(InadmissibleFitWarning, match="excluded"):
        br = bootstrap(res, B=30, seed=3, progress=False)
    assert br.n_inadmissible > 0 and br.n_ok == 30 - br.n_inadmissible - br.n_failed
    assert br.draws.shape[0] == br.n_ok
    assert any("inadmissible" in w for w in res.warnings)


def test_interval_helpers_match_boot_package():
    """R: ``boot:::norm.inter(1:99, c(.025, .975))[, 2]`` = 2.54224949883976,
    97.45775050116025 (rank 2.5 interpolated on the normal scale)."""
    t = np.arange(1.0, 100.0)
    lo, hi = percentile_ci(t, 0.95)
    assert lo == pytest.approx(2.54224949883976, abs=1e-12)
    assert hi == pytest.approx(97.45775050116025, abs=1e-12)
    assert norm_inter(t, np.array([0.5]))[0] == 50.0
    # no bias (half the draws below t0): the bias-corrected interval is the percentile one
    t100 = np.arange(1.0, 101.0)
    assert bc_ci(t100, 50.5, 0.95) == pytest.approx(percentile_ci(t100, 0.95))
    # bias: 49 of 99 draws below t0 = 50 shifts the interval down
    assert bc_ci(t, 50.0, 0.95)[0] < lo
    with pytest.raises(ValueError, match="B"):
        bootstrap(None, B=1)


def test_engine_path_and_fast_path_give_the_same_draws():
    """Same seeds -> same resamples; the engine's Newton refits and the fast path agree."""
    ref = load_fixture("lavaan_hs_normal.json")
    data = pd.read_csv(REFERENCE / "data" / ref["data"])
    res = fit(ref["model"], data)
    kw = dict(B=8, seed=11, progress=False, attach=False, workers=1, drop_inadmissible=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InadmissibleFitWarning)   # HS x2: a few negative draws
        slow = bootstrap(res, fast=False, **kw)
        quick = bootstrap(res, fast=True, **kw)
    assert slow.n_ok == quick.n_ok == 8 and slow.n_inadmissible == quick.n_inadmissible
    np.testing.assert_allclose(slow.draws, quick.draws, atol=1e-5)


def test_fiml_bootstrap_runs_on_the_engine():
    ref = load_fixture("lavaan_hs_fiml.json")
    data = pd.read_csv(REFERENCE / "data" / ref["data"])
    res = fit(ref["model"], data, missing="fiml")
    br = bootstrap(res, B=5, seed=2, progress=False, attach=False)
    assert br.n_ok == 5 and br.draws.shape == (5, res.npar)
    assert np.all(np.isfinite(br.table["se"]))


def test_least_squares_fits_are_refused_with_the_estimator_named():
    """A WLSMV fit has no ML information to resample: a clear error, not a traceback."""
    import pandas as pd

    from pipeline.sem import fit
    from pipeline.sem.bootstrap import bootstrap
    from tests.conftest import REFERENCE
    d = pd.read_csv(REFERENCE / "data" / "bfi.csv")[["A1", "A2", "A3", "A4", "A5"]].dropna()
    res = fit("A =~ A1 + A2 + A3 + A4 + A5", d, estimator="WLSMV", ordered="all")
    with pytest.raises(ValueError, match="estimator='WLSMV'"):
        bootstrap(res, B=5, seed=1)


def test_multigroup_bootstrap_resamples_within_groups_like_lavaan():
    """Multi-group bootstrap against lavaan 0.6-14 (tests/reference/lavaan_boot_multigroup.R:
    ``cfa(HS.model, group = "school", group.equal = "loadings", se = "bootstrap",
    bootstrap = 2000)``).  Different random streams, so the bootstrap SEs agree
    within Monte Carlo error: B = 300 here (relative MC error of an SE about
    sqrt(1/(2B)) = 4.1 %, lavaan's 1.6 %): every SE within 20 %, their mean
    ratio within 4 %; the ML SEs differ from them by up to 2.5x (non-normal x9),
    so the test can tell a bootstrap from the ML SE.  Same seed, same draws."""
    import json
    import warnings

    import numpy as np
    import pandas as pd

    from pipeline.sem import fit
    from pipeline.sem.bootstrap import bootstrap
    from tests.conftest import REFERENCE
    ref = json.loads((REFERENCE / "fixtures" / "lavaan_boot_multigroup.json").read_text())
    ref = pd.DataFrame({k: ref[k] for k in ("lhs", "op", "rhs", "group", "se_boot", "se_ml")})
    d = pd.read_csv(REFERENCE / "data" / "holzinger_swineford.csv")
    model = (REFERENCE / "models" / "holzinger_3factor.lav").read_text()
    res = fit(model, d, group="school", group_equal="loadings")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        br = bootstrap(res, B=300, seed=7, progress=False, drop_inadmissible=False)
        again = bootstrap(fit(model, d, group="school", group_equal="loadings"), B=20,
                          seed=7, progress=False, drop_inadmissible=False)
    assert br.n_ok + br.n_failed == 300 and br.n_failed == 0
    assert np.array_equal(br.draws[:20], again.draws)    # draw b's stream: child b of the seed
    t = br.table.merge(ref, on=["lhs", "op", "rhs", "group"])
    t = t[t.se_boot > 0]
    assert len(t) == 60
    ratio = t["se"] / t["se_boot"]
    assert ratio.between(0.8, 1.2).all(), t.assign(ratio=ratio)
    assert abs(ratio.mean() - 1) < 0.04
    assert (t["se_boot"] / t["se_ml"]).max() > 2          # the ML SE would fail this test
    assert res.options["se"] == "bootstrap"


def test_every_design_is_routed_to_the_parallel_fast_path(monkeypatch):
    """Complete-data ML, MLR and MLM -> FastML draws; FIML and mean structures ->
    the engine task; multi-group -> the multi-group task; all on
    ``pipeline.core.parallel.map_draws`` (workers / Dask).  WLSMV stays refused."""
    import pipeline.sem.fast as fast
    calls = []
    for name in ("bootstrap_draws", "engine_bootstrap_draws", "multigroup_bootstrap_draws"):
        orig = getattr(fast, name)

        def spy(*a, _orig=orig, _name=name, **k):
            calls.append(_name)
            return _orig(*a, **k)
        monkeypatch.setattr(fast, name, spy)
    ref = load_fixture("lavaan_hs_normal.json")
    hs = pd.read_csv(REFERENCE / "data" / ref["data"])
    fiml_ref = load_fixture("lavaan_hs_fiml.json")
    hs_na = pd.read_csv(REFERENCE / "data" / fiml_ref["data"])
    designs = {
        "ML": (fit(ref["model"], hs), "bootstrap_draws"),
        "MLR": (fit(ref["model"], hs, estimator="MLR"), "bootstrap_draws"),
        "MLM": (fit(ref["model"], hs, estimator="MLM"), "bootstrap_draws"),
        "FIML": (fit(fiml_ref["model"], hs_na, missing="fiml"), "engine_bootstrap_draws"),
        "mean structure": (fit(ref["model"], hs, meanstructure=True), "engine_bootstrap_draws"),
        "multi-group": (fit(ref["model"], hs, group="school", group_equal="loadings"),
                        "multigroup_bootstrap_draws"),
    }
    for design, (res, route) in designs.items():
        calls.clear()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PipelineWarning)
            br = bootstrap(res, B=3, seed=1, workers=1, progress=False, attach=False,
                           drop_inadmissible=False)
        assert calls == [route], design
        assert br.n_ok + br.n_failed == 3 and br.n_ok >= 2, design
