"""Tests of the calibrated synthetic waves (studies.amirova2021.synth, issue 3).

Every expected number is read from ``studies/amirova2021/published/*.yaml`` (the thesis's
aggregates, each with its table and line) and compared with what is
computed from the generated files; nothing published is hard-coded here.
The mapping of a published category to a codebook code, and of a stated
percentage to the item(s) and answer codes it describes, is configuration
(``studies/amirova2021/models/synth_targets.yaml``).
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from pipeline.core import paths
from studies.amirova2021 import synth
from pipeline.data.codebook import load_codebook
from pipeline.core.exceptions import RawDataWriteError

SEED = synth._params()["seed"]


def _published(*files: str) -> dict:
    return synth.published_values(list(files))


@pytest.fixture(scope="module")
def targets():
    return synth.load_targets()


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """All three waves written once with the params.yaml seed."""
    out = tmp_path_factory.mktemp("synth")
    synth.write_all(SEED, out)
    return out


def _read(out: Path, wave: str) -> pd.DataFrame:
    """Read through the raw-data contract when the loader exists."""
    try:
        from pipeline.data.loading import read_raw
    except ImportError:  # pragma: no cover
        return pd.read_csv(out / f"{wave}.csv", encoding="utf-8", keep_default_na=True)
    return read_raw(out / f"{wave}.csv", wave).data


@pytest.fixture(scope="module")
def cs2019(generated):
    return _read(generated, "cs2019")


@pytest.fixture(scope="module")
def cs2019_screen(cs2019):
    """(valid frame, ids rejected) by the project's screening module."""
    try:
        from pipeline.data.screening import screen
    except ImportError:  # pragma: no cover - fall back to the thesis rule (line 977)
        flags = synth.screening_flags(cs2019, load_codebook("cs2019"))
        return cs2019[~flags.rejected], set(cs2019["id"][flags.rejected].astype(int))
    from pipeline.cli.config import stage_params
    res = screen(cs2019, load_codebook("cs2019"), stage_params("screening"))
    rejected = set(res.report.loc[res.report["excluded"], "id"].astype(int))
    return res.clean, rejected


# ------------------------------------------------------------ determinism
def test_same_seed_is_byte_identical_to_committed_files(generated):
    """The committed data/synthetic files are what the seed produces."""
    for wave in synth.WAVES:
        for suffix in (".csv", ".meta.json"):
            new = (generated / f"{wave}{suffix}").read_bytes()
            old = (paths.DATA_SYNTHETIC / f"{wave}{suffix}").read_bytes()
            if suffix == ".meta.json":   # the sidecar names its own file only
                assert json.loads(new) == json.loads(old), f"{wave}{suffix} differs: rerun `python -m pipeline synth`"
            else:
                assert new == old, f"{wave}{suffix} differs from a regeneration: rerun `python -m pipeline synth`"


def test_same_seed_twice_in_process(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for out in (a, b):
        synth.write_all(SEED, out, waves=("cs2020", "citizens2020"))
    for wave in ("cs2020", "citizens2020"):
        assert (a / f"{wave}.csv").read_bytes() == (b / f"{wave}.csv").read_bytes()
        assert (a / f"{wave}.meta.json").read_bytes() == (b / f"{wave}.meta.json").read_bytes()


def test_other_seed_gives_different_data(tmp_path, generated, targets):
    synth.write_all(SEED + 1, tmp_path)
    for wave in synth.WAVES:
        new = pd.read_csv(tmp_path / f"{wave}.csv")
        old = pd.read_csv(generated / f"{wave}.csv")
        assert new.shape == old.shape
        assert not new.equals(old), wave
        assert json.loads((tmp_path / f"{wave}.meta.json").read_text())["seed"] == SEED + 1
    # the other seed's wave is calibrated and screened just as well
    df = _read(tmp_path, "cs2019")
    meta = json.loads((tmp_path / "cs2019.meta.json").read_text(encoding="utf-8"))
    flags = synth.screening_flags(df, load_codebook("cs2019"))
    built = set(meta["rejected_ids"]["missing"]) | set(meta["rejected_ids"]["straightline"])
    assert set(df["id"][flags.rejected].astype(int)) == built and len(built) == 20
    valid = df[~flags.rejected]
    k1 = _published("tableK1_alpha.yaml")
    for items in load_codebook("cs2019").constructs.values():
        if len(items) > 1:
            key = f"cs2019.alpha.{items[0].rstrip('0123456789')}"
            tol = targets["cs2019"]["calibration"]["alpha"]["tolerance"]
            assert abs(_alpha(valid[items]) - k1[key]["value"]) <= tol, key


# --------------------------------------------------------------- marking
def test_sidecar_marks_synthetic(generated):
    for wave in synth.WAVES:
        meta = json.loads((generated / f"{wave}.meta.json").read_text(encoding="utf-8"))
        assert meta["synthetic"] is True
        assert meta["seed"] == SEED
        assert meta["generator_version"] == synth.GENERATOR_VERSION
        assert "BY CONSTRUCTION" in meta["holds_by_construction"]
        assert meta["n_rows"] == len(pd.read_csv(generated / f"{wave}.csv"))
    meta = json.loads((generated / "cs2019.meta.json").read_text(encoding="utf-8"))
    lav = paths.MODELS / "population_cs2019.lav"
    assert meta["population_model"]["text"] == lav.read_text(encoding="utf-8")


def test_reports_see_the_sidecar():
    from pipeline.reporting.report import wave_is_synthetic
    for wave in synth.WAVES:
        assert wave_is_synthetic(paths.DATA_SYNTHETIC / f"{wave}.csv")["wave"] == wave


def test_free_text_exercises_three_languages(generated):
    text = "".join((generated / f"{w}.csv").read_text(encoding="utf-8") for w in synth.WAVES)
    assert any(ch in text for ch in "әғқңөұүһі")          # Kazakh-specific letters
    assert any(ch in text for ch in "ыэщъ")                # Russian
    assert "civil" in text.lower() or "the " in text         # English
    for wave in synth.WAVES:
        df = pd.read_csv(generated / f"{wave}.csv", dtype=str, keep_default_na=False)
        cb = load_codebook(wave)
        assert any(df[c].str.len().gt(0).any() for c in cb.text_items), wave


# ------------------------------------------------------------- cs2019
def test_cs2019_funnel_and_screening(cs2019, cs2019_screen, generated):
    pub = _published("text_cs2019_screening.yaml")
    valid, rejected = cs2019_screen
    assert len(cs2019) == pub["cs2019.screening.returned"]["value"]
    assert len(rejected) == pub["cs2019.screening.rejected"]["value"]
    assert len(valid) == pub["cs2019.screening.valid"]["value"]
    for org in ("ACSA", "akimat"):
        assert (valid["org"] == org).sum() == pub[f"cs2019.screening.valid.{org}"]["value"]
    rate = 100 * len(valid) / pub["cs2019.screening.distributed"]["value"]
    assert round(rate, 1) == pub["cs2019.screening.response_rate"]["value"]
    meta = json.loads((generated / "cs2019.meta.json").read_text(encoding="utf-8"))
    built = set(meta["rejected_ids"]["missing"]) | set(meta["rejected_ids"]["straightline"])
    assert rejected == built, "the screening rules must catch exactly the 20 built-in rejects"


def test_cs2019_rejects_follow_the_thesis_rule(cs2019, generated):
    """Line 977: 20-50% unanswered, or one identical answer across Section C."""
    pub = _published("text_cs2019_screening.yaml")
    lo = pub["cs2019.screening.missing_share_min"]["value"] / 100
    hi = pub["cs2019.screening.missing_share_max"]["value"] / 100
    flags = synth.screening_flags(cs2019, load_codebook("cs2019"), missing_range=(lo, hi))
    meta = json.loads((generated / "cs2019.meta.json").read_text(encoding="utf-8"))
    ids = cs2019["id"].astype(int)
    assert set(ids[flags.missing]) == set(meta["rejected_ids"]["missing"])
    assert set(ids[flags.straightline]) == set(meta["rejected_ids"]["straightline"])
    assert flags.missing_share[~flags.rejected].max() < lo


def _demographic_checks(df, pub, spec, prefix, suffix):
    n = 0
    for column, s in spec.items():
        for slug, code in s["codes"].items():
            key = f"{prefix}.{s['variable']}.{slug}{suffix}"
            expected = pub[key]["value"] if key in pub else 0
            assert (df[column] == code).sum() == expected, key
            n += 1
    return n


def test_cs2019_table11_exact_per_organization(cs2019_screen, targets):
    t = targets["cs2019"]
    pub = _published("table11_cs2019_demographics.yaml")
    valid, _ = cs2019_screen
    checked = 0
    for org in ("ACSA", "akimat"):
        part = valid[valid["org"] == org]
        assert len(part) == pub[f"cs2019.table11.total.{org}"]["value"]
        checked += _demographic_checks(part, pub, t["demographics"], t["demographics_prefix"], f".{org}")
    counts = [k for k, v in pub.items() if v["unit"] == "count" and ".total." not in k]
    assert checked == len(counts)       # every count of Table 11


def _alpha(x: pd.DataFrame) -> float:
    x = x.dropna().to_numpy(float)
    k = x.shape[1]
    return k / (k - 1) * (1 - x.var(axis=0, ddof=1).sum() / x.sum(axis=1).var(ddof=1))


def test_cs2019_alphas_within_tolerance_of_table_k1(cs2019_screen, targets):
    tol = targets["cs2019"]["calibration"]["alpha"]["tolerance"]
    pub = _published("tableK1_alpha.yaml")
    cb = load_codebook("cs2019")
    valid, _ = cs2019_screen
    checked = 0
    for construct, items in cb.constructs.items():
        if len(items) < 2:
            continue
        key = f"cs2019.alpha.{items[0].rstrip('0123456789')}"
        a = _alpha(valid[items])
        assert abs(a - pub[key]["value"]) <= tol, (construct, a, pub[key]["value"])
        checked += 1
    assert checked == 6


@pytest.fixture(scope="module")
def sem_fit(cs2019_screen, targets):
    from pipeline import sem
    valid, _ = cs2019_screen
    model = paths.resolve(targets["cs2019"]["calibration"]["hypotheses"]["model"])
    items = load_codebook("cs2019").sections["C"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return sem.fit(model.read_text(encoding="utf-8"), valid[items].astype(float))


def test_cs2019_k2_loadings_and_standardized_loadings(sem_fit, targets):
    """Unstandardized loadings of Table K.2 within +-0.10; every std.all >= .50."""
    cal = targets["cs2019"]["calibration"]
    pub = _published("tableK2_paths.yaml")
    p = sem_fit.parameters
    load = p[p["op"] == "=~"]
    assert sem_fit.converged and sem_fit.admissible
    checked = 0
    for _, row in load.iterrows():
        key = f"cs2019.loading.{row['lhs']}.{row['rhs']}.est"
        if key in pub:
            assert abs(row["est"] - pub[key]["value"]) <= cal["loadings"]["tolerance"], (key, row["est"])
            checked += 1
    assert checked >= 5                      # L1, L2, S1, S2, S3 (markers fixed at 1)
    assert (load["std.all"] >= cal["min_std_loading"]).all(), load[["rhs", "std.all"]]


def test_cs2019_hypotheses_supported_resources_weakest(sem_fit, targets):
    """Table 13: H1-H4 supported; Resources the weakest effect (by construction)."""
    hyp = targets["cs2019"]["calibration"]["hypotheses"]
    pub = _published("table13_hypotheses.yaml")
    assert any("Supported" in str(v.get("printed", "")) for v in pub.values())
    p = sem_fit.parameters
    reg = p[(p["op"] == "~") & (p["lhs"] == hyp["dependent"])].set_index("rhs")
    for f in hyp["supported"]:
        assert reg.loc[f, "est"] > 0 and reg.loc[f, "pvalue"] < hyp["alpha_level"], f
    others = [reg.loc[f, "std.all"] for f in hyp["supported"]]
    assert reg.loc[hyp["weakest"], "std.all"] < min(others)
    assert reg.loc[hyp["weakest"], "est"] > 0          # H5: "less positively related"
    # a plausible survey: the dependent keeps a disturbance (population R² about .62)
    max_r2 = targets["cs2019"]["acceptance"]["max_r2"]
    assert 0.3 < sem_fit.r2[hyp["dependent"]] <= max_r2


def test_cs2019_agreement_skew_and_no_valid_straightliner(cs2019_screen):
    valid, _ = cs2019_screen
    items = load_codebook("cs2019").sections["C"]
    c = valid[items]
    assert c.isin([1, 2, 3, 4, 5]).all().all()
    assert (c.mean() > 3.5).all()                     # "it is important that ..." skew
    assert (c.nunique(axis=1) > 1).all()


def test_cs2019_every_item_has_its_own_marginal(cs2019_screen, targets):
    """Issue 13, item 8: no two Section C items share one answer distribution.

    Each item has its own shares in synth_targets.yaml and the valid
    questionnaires reproduce them exactly (N = 100: a share is a count)."""
    valid, _ = cs2019_screen
    items = load_codebook("cs2019").sections["C"]
    cats = targets["cs2019"]["categories"]
    assert set(items) <= set(cats), sorted(set(items) - set(cats))      # none left to `default`
    tables = {it: tuple(int((valid[it] == k).sum()) for k in range(1, 6)) for it in items}
    for it in items:
        expected = synth.largest_remainder(cats[it], len(valid))
        assert tables[it] == tuple(expected[k] for k in range(1, 6)), it
    assert len(set(tables.values())) == len(items) == 19, tables
    means = valid[items].mean()
    assert means.nunique() >= 15 and means.max() - means.min() >= 0.5, means.round(2).to_dict()


def test_cs2019_no_item_raises_alpha_when_deleted(cs2019_screen):
    """Line 1018: "if any item is omitted the Cronbach's Alpha ... will not arise"."""
    valid, _ = cs2019_screen
    checked = 0
    for construct, items in load_codebook("cs2019").constructs.items():
        if len(items) < 3:
            continue
        a = _alpha(valid[items])
        for it in items:
            assert _alpha(valid[[i for i in items if i != it]]) <= a, (construct, it)
            checked += 1
    assert checked == 14                     # S 3, HC 5, O 3, R 3


# ------------------------------------------------------------- cs2020
@pytest.fixture(scope="module")
def cs2020(generated):
    return _read(generated, "cs2020")


def test_cs2020_tables_14_16_exact(cs2020, targets):
    t = targets["cs2020"]
    for org, spec in t["demographics"].items():
        pub = _published(*t["published"][:2])
        part = cs2020[cs2020["org"] == org]
        assert len(part) == pub[f"{spec['prefix']}.total{spec['suffix']}"]["value"]
        n = _demographic_checks(part, pub, t["demographic_codes"], spec["prefix"], spec["suffix"])
        counts = [k for k, v in pub.items() if v["unit"] == "count" and k.startswith(spec["prefix"])
                  and ".total" not in k]
        assert n >= len(counts)


def _share(df, target):
    if "items" in target:
        vals = df[target["items"]].to_numpy().ravel()
        return 100 * np.isin(vals, target["codes"]).sum() / vals.size
    col = df[target["column"]]
    if target.get("nonempty"):
        return 100 * (col.fillna("").astype(str).str.len() > 0).mean()
    return 100 * col.isin(target["codes"]).mean()


def test_cs2020_stated_percentages_within_2pp(cs2020, targets):
    t = targets["cs2020"]
    pub = _published("text_cs2020_percentages.yaml")
    assert len(t["targets"]) >= 40
    for target in t["targets"]:
        part = cs2020[cs2020["org"] == target["org"]]
        share = _share(part, target)
        value = pub[target["key"]]["value"]
        if target.get("kind") == "min":
            assert share > value, (target["key"], share, value)
        else:
            assert abs(share - value) <= t["tolerance_pp"], (target["key"], share, value)


def test_cs2020_every_stated_item_percentage_has_a_target(targets):
    """Each text percentage is a target unless its note says why not."""
    pub = _published("text_cs2020_percentages.yaml")
    covered = {x["key"] for x in targets["cs2020"]["targets"]}
    for key, v in pub.items():
        if key not in covered and not key.split(".")[3] in ("age", "gender"):
            assert "not" in v.get("note", "").lower(), key


def test_cs2020_factor_items_correlate(cs2020):
    cb = load_codebook("cs2020")
    for org in ("ACSA", "akimat"):
        part = cs2020[cs2020["org"] == org]
        r = part[cb.constructs["LEAD"]].corr(method="spearman").to_numpy()
        assert r[np.triu_indices(3, 1)].min() > 0.2


# ---------------------------------------------------------- citizens2020
@pytest.fixture(scope="module")
def citizens(generated):
    return _read(generated, "citizens2020")


def test_citizens_table17_exact(citizens, targets):
    t = targets["citizens2020"]
    pub = _published("table17_citizens.yaml")
    assert len(citizens) == pub["citizens2020.table17.total"]["value"]
    n = _demographic_checks(citizens, pub, t["demographics"], t["demographics_prefix"], "")
    assert n == len([k for k, v in pub.items() if v["unit"] == "count" and not k.endswith(".total")])


def test_citizens_percentages_within_one_respondent(citizens, targets):
    t = targets["citizens2020"]
    pub = _published("text_citizens_percentages.yaml")
    for target in t["targets"]:
        col = citizens[target["column"]]
        answered = col.notna().sum()
        count = col.isin(target["codes"]).sum()
        expected = pub[target["key"]]["value"] * answered / 100
        assert abs(count - expected) <= 1, (target["key"], count, expected)


def test_citizens_skip_rule(citizens):
    asked = citizens["contact_center_used"] == 1
    assert citizens.loc[~asked, "contact_center_satisfaction"].isna().all()
    assert citizens.loc[asked, "contact_center_satisfaction"].notna().all()


# ------------------------------------------------------------- helpers / CLI
def test_exact_allocation_and_rank_allocation():
    rng = np.random.default_rng(0)
    a = synth.exact_allocation({"x": 3, "y": 2}, rng)
    assert sorted(a) == ["x", "x", "x", "y", "y"]
    r = synth.rank_allocation(np.array([0.1, 2.0, -1.0, 0.5]), {5: 1, 4: 2, 1: 1})
    assert list(r) == [4, 5, 1, 4]
    with pytest.raises(ValueError, match="counts"):
        synth.rank_allocation(np.zeros(3), {1: 2})
    with pytest.raises(ValueError, match="counts"):
        synth.exact_allocation({"x": -1}, rng)


def test_mvn_exact_reproduces_moments():
    sigma = np.array([[1.0, 0.5], [0.5, 2.0]])
    x = synth.mvn_exact(sigma, 10, np.random.default_rng(1), mu=np.array([1.0, -1.0]))
    np.testing.assert_allclose(np.cov(x, rowvar=False), sigma, atol=1e-12)
    np.testing.assert_allclose(x.mean(axis=0), [1.0, -1.0], atol=1e-12)


def test_discretized_moments_match_simulation():
    """Exact discrete moments against a large simulation (invariant check)."""
    sigma = np.array([[1.0, 0.6], [0.6, 1.0]])
    cuts = [synth.thresholds_from_shares([0.1, 0.2, 0.3, 0.4])] * 2
    mean, cov = synth.discretized_moments(sigma, cuts)
    z = np.random.default_rng(2).multivariate_normal([0, 0], sigma, 400_000)
    x = np.column_stack([synth.discretize(z[:, j], cuts[j]) for j in range(2)])
    np.testing.assert_allclose(mean, x.mean(axis=0), atol=0.01)
    np.testing.assert_allclose(cov, np.cov(x, rowvar=False), atol=0.01)
    assert mean[0] == pytest.approx(1 * 0.1 + 2 * 0.2 + 3 * 0.3 + 4 * 0.4)


def test_largest_remainder_sums_to_n():
    c = synth.largest_remainder([0.02, 0.05, 0.13, 0.42, 0.38], 100)
    assert sum(c.values()) == 100 and list(c) == [5, 4, 3, 2, 1]
    assert c == {5: 38, 4: 42, 3: 13, 2: 5, 1: 2}


def test_bad_arguments():
    with pytest.raises(ValueError, match="wave"):
        synth.generate("cs1999")
    with pytest.raises(ValueError, match="shares"):
        synth.thresholds_from_shares([0.5, 0.6])
    with pytest.raises(TypeError, match="seed"):
        synth.generate("cs2020", seed="1")  # type: ignore[arg-type]


def test_refuses_data_raw():
    with pytest.raises(RawDataWriteError):
        synth.write_wave("citizens2020", SEED, paths.DATA_RAW)


def test_cli_writes_one_wave(tmp_path, capsys):
    from pipeline.__main__ import main
    assert main(["synth", "--wave", "citizens2020", "--seed", str(SEED), "--out", str(tmp_path)]) == 0
    assert (tmp_path / "citizens2020.csv").exists() and (tmp_path / "citizens2020.meta.json").exists()
    assert not (tmp_path / "cs2019.csv").exists()
    assert (tmp_path / "citizens2020.csv").read_bytes() == (paths.DATA_SYNTHETIC / "citizens2020.csv").read_bytes()


def test_targets_file_lists_thesis_lines(targets):
    """Configuration, not code: every published file the targets use exists
    and every target key is a published key."""
    for wave in synth.WAVES:
        pub = _published(*targets[wave]["published"])
        for target in targets[wave].get("targets", []):
            assert target["key"] in pub and pub[target["key"]]["line"] > 0
    with (paths.MODELS / "synth_targets.yaml").open(encoding="utf-8") as fh:
        assert "line" in yaml.safe_load(fh)["cs2019"]["calibration"]["alpha"]


# ------------------------------------------------------------- R cross-check
def test_cs2019_tolerances_hold_in_lavaan_and_psych(targets):
    """The committed wave meets K.1/K.2/Table 13 in R too.

    Fixture: ``Rscript tests/reference/synth_cs2019.R`` ->
    ``lavaan::sem(readLines('studies/amirova2021/models/cs2019/thesis_sem.lav'), data = valid rows)``
    and ``psych::alpha`` on each scale.  Tolerances as in the issue: alpha
    +-0.03, unstandardized loading +-0.10.
    """
    import hashlib
    from tests.conftest import load_fixture
    fx = load_fixture("synth_cs2019.json")
    sha = hashlib.sha256((paths.DATA_SYNTHETIC / "cs2019.csv").read_bytes()).hexdigest()
    if fx["csv_sha256"] != sha:
        pytest.fail("data/synthetic/cs2019.csv changed: rerun Rscript tests/reference/synth_cs2019.R")
    cal = targets["cs2019"]["calibration"]
    hyp = cal["hypotheses"]
    k1 = _published("tableK1_alpha.yaml")
    k2 = _published("tableK2_paths.yaml")
    assert fx["n"] == _published("text_cs2019_screening.yaml")["cs2019.screening.valid"]["value"]
    for scale, a in fx["alpha"].items():
        assert abs(a - k1[f"cs2019.alpha.{scale}"]["value"]) <= cal["alpha"]["tolerance"], scale
    for name, est in fx["loadings"].items():
        key = f"cs2019.loading.{name}.est"
        if key in k2:
            assert abs(est - k2[key]["value"]) <= cal["loadings"]["tolerance"], name
    assert min(fx["std_loadings"].values()) >= cal["min_std_loading"]
    paths_ = fx["ics_paths"]
    for f in hyp["supported"]:
        assert paths_[f]["est"] > 0 and paths_[f]["pvalue"] < hyp["alpha_level"], f
    assert 0 < paths_[hyp["weakest"]]["std"] < min(paths_[f]["std"] for f in hyp["supported"])


def test_free_text_names_office_holders_for_redaction(generated):
    """Some answers name a person listed in the codebook's names_to_redact."""
    for wave in synth.WAVES:
        text = (generated / f"{wave}.csv").read_text(encoding="utf-8")
        assert any(name in text for name in load_codebook(wave).names_to_redact), wave
