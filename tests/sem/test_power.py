"""Monte Carlo power analysis (pipeline.sem.power).

Known answers: for ``y ~ b*x`` with standardized x and y, the ML estimate of
b has standard error sqrt((1 - b^2) / N), so the power of the two-sided Wald
test is ``pnorm(b/se - 1.96) + pnorm(-b/se - 1.96)`` (R), 0.532 for b = 0.2,
N = 100; with b = 0 the rejection rate is alpha.  Monte Carlo tolerance:
4 binomial standard errors sqrt(p(1-p)/reps).  No timing assertions here.
"""
from __future__ import annotations

import math
import tracemalloc

import numpy as np
import pytest

from pipeline.cli.power import _parse_thresholds
from pipeline.sem.power import PowerTask, analytic_power, power_analysis

REG = "y ~ 0.2*x"
NULL = "y ~ 0*x"


def _row(res, n, lhs, op, rhs):
    t = res.parameters
    return t[(t.n == n) & (t.lhs == lhs) & (t.op == op) & (t.rhs == rhs)].iloc[0]


def test_recovers_analytic_power_of_a_regression_path():
    reps = 1000
    res = power_analysis(REG, "y ~ x", [100, 200], reps, seed=11, workers=1, progress=False)
    for n in (100, 200):
        r = _row(res, n, "y", "~", "x")
        expected = analytic_power(0.2, math.sqrt((1 - 0.04) / n))
        mc = math.sqrt(expected * (1 - expected) / reps)
        assert abs(r["power"] - expected) < 4 * mc, (n, r["power"], expected)
        assert r["true"] == pytest.approx(0.2, abs=1e-6)
        assert abs(r["bias"]) < 4 * r["sd_est"] / math.sqrt(reps)
        assert abs(r["coverage"] - 0.95) < 4 * math.sqrt(0.95 * 0.05 / reps)
        assert r["mean_se"] == pytest.approx(r["sd_est"], rel=0.08)
    assert res.fit["converged"].eq(1.0).all()
    # R: pnorm(0.2 / sqrt(0.96 / 200) - qnorm(0.975)) = 0.8230
    assert expected == pytest.approx(0.8230, abs=5e-4)     # N = 200


def test_null_path_rejects_at_alpha():
    reps = 1000
    res = power_analysis(NULL, "y ~ x", [150], reps, seed=3, alpha=0.05, workers=1, progress=False)
    r = _row(res, 150, "y", "~", "x")
    assert abs(r["power"] - 0.05) < 4 * math.sqrt(0.05 * 0.95 / reps)


def test_cfa_coverage_and_fit_distribution():
    pop = "F =~ 0.7*a + 0.7*b + 0.6*c + 0.5*d"
    res = power_analysis(pop, "F =~ a + b + c + d", [300], 400, seed=5, workers=1, progress=False)
    t = res.parameters
    assert (t["true"][t.op == "=~"].to_numpy() == pytest.approx([1.0, 6 / 7, 5 / 7], abs=1e-6))
    assert t["coverage"].between(0.95 - 4 * 0.011, 0.95 + 4 * 0.011).all()
    f = res.fit.iloc[0]
    # correct model, df = 2: chi-square rejections at about alpha, median near 2 ln 2 = 1.39
    assert abs(f["chisq_reject"] - 0.05) < 4 * math.sqrt(0.05 * 0.95 / 400)
    assert 1.0 < f["chisq_q50"] < 1.8
    assert f["cfi_q50"] == 1.0 and f["rmsea_q50"] == 0.0 and 0 <= f["rmsea_q95"] < 0.2


def test_identical_for_any_workers_and_on_a_local_cluster():
    distributed = pytest.importorskip("distributed")
    args = ("studies/amirova2021/models/thesis_population.lav", "studies/amirova2021/models/cs2019/thesis_sem.lav", [80, 120], 12)
    a = power_analysis(*args, seed=9, workers=1, progress=False)
    b = power_analysis(*args, seed=9, workers=2, chunk_size=5, progress=False)
    assert a.parameters.equals(b.parameters) and a.fit.equals(b.fit)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        c = power_analysis(*args, seed=9, scheduler=cluster.scheduler_address, chunk_size=7,
                           progress=False)
    assert a.parameters.equals(c.parameters) and a.fit.equals(c.fit)
    # how they ran: the backend, its workers, and replications per second per worker
    for r, backend, workers in ((a, "inline", 1), (b, "processes", 2), (c, "dask", 2)):
        t = r.throughput
        assert (t["backend"], t["workers"], t["replications"]) == (backend, workers, 24)
        assert t["wall_s"] > 0
        assert t["reps_per_s"] == pytest.approx(24 / t["wall_s"])
        assert t["reps_per_s_per_worker"] == pytest.approx(24 / t["wall_s"] / workers)
        assert f"{workers} " in r.throughput_line() or backend == "inline"
        assert r.to_dict()["throughput"] == t and "per worker" in r.summary()
    # replications are keyed by (N, r): adding a sample size leaves the others unchanged
    d = power_analysis(args[0], args[1], [120], 12, seed=9, workers=1, progress=False)
    assert d.parameters.reset_index(drop=True).equals(
        a.parameters[a.parameters.n == 120].reset_index(drop=True))


def test_likert_data_use_discretized_population_values():
    pop = "F =~ 0.8*a + 0.7*b + 0.7*c"
    cuts = [-2.05, -1.41, -0.7, 0.3]
    task = PowerTask(pop, "F =~ a + b + c", [500], 1, 1,
                     cuts={v: np.array(cuts) for v in "abc"})
    st = task.setup()
    est, se, status, fit = task.run(st, 0, 1)
    assert status[0] == 0
    # one replication's data are Likert 1..5: reproduce it
    from pipeline.core.parallel import draw_seeds
    rng = np.random.default_rng(draw_seeds(1, 0, 1, prefix=(500,))[0])
    z = rng.standard_normal((500, 3)) @ st["chol"].T
    x = np.searchsorted(cuts, z[:, 0], side="right") + 1
    assert set(np.unique(x)) <= {1, 2, 3, 4, 5} and len(np.unique(x)) == 5
    # discretization attenuates: pseudo-true residual variances differ from 1 - l^2
    res = power_analysis(pop, "F =~ a + b + c", [400], 200, seed=2, thresholds=cuts,
                         workers=1, progress=False)
    t = res.parameters
    r = t[(t.op == "=~") & (t.rhs == "b")].iloc[0]
    assert abs(r["bias"]) < 4 * r["sd_est"] / math.sqrt(200)
    assert res.options["ordinal"] is True


def test_streaming_memory_grows_by_three_numbers_per_replication():
    """Peak traced memory for 4x the replications grows by < 3 floats/rep + 64 kB."""
    def peak(reps):
        tracemalloc.start()
        power_analysis(REG, "y ~ x", [50], reps, seed=1, workers=1, chunk_size=25, progress=False)
        _, pk = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return pk
    small, large = peak(100), peak(400)
    assert large - small < 300 * 3 * 8 * 2 + 64 * 1024


def test_bad_arguments_name_the_argument():
    with pytest.raises(ValueError, match="ns"):
        power_analysis(REG, "y ~ x", [1], 10, progress=False)
    with pytest.raises(ValueError, match="reps"):
        power_analysis(REG, "y ~ x", [50], 0, progress=False)
    with pytest.raises(ValueError, match="alpha"):
        power_analysis(REG, "y ~ x", [50], 10, alpha=1.5, progress=False)
    with pytest.raises(ValueError, match="thresholds"):
        power_analysis(REG, "y ~ x", [50], 10, thresholds=[0.5, 0.1], progress=False)
    with pytest.raises(ValueError, match="model: .*z"):
        power_analysis(REG, "y ~ x + z", [50], 10, progress=False)
    with pytest.raises(ValueError, match="se"):
        analytic_power(0.2, 0.0)


def test_threshold_options_follow_the_synthetic_generator():
    from studies.amirova2021.synth import load_targets, thresholds_from_shares
    shares = [0.02, 0.05, 0.13, 0.42, 0.38]
    np.testing.assert_allclose(_parse_thresholds(None, ",".join(map(str, shares))),
                               thresholds_from_shares(shares))
    assert _parse_thresholds("-1,0,1", None) == [-1.0, 0.0, 1.0]
    cuts = _parse_thresholds("synth", None).for_items(["L1", "HC1"])
    cats = load_targets()["cs2019"]["categories"]
    np.testing.assert_allclose(cuts["L1"], thresholds_from_shares(cats["L1"]))
    np.testing.assert_allclose(cuts["HC1"], thresholds_from_shares(cats.get("HC1", cats["default"])))
    with pytest.raises(ValueError, match="not both"):
        _parse_thresholds("-1,0", "0.5,0.5")
