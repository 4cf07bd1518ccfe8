"""Screening rules, exclusion log and the 2019 funnel (thesis line 975:
150 distributed -> 120 returned -> 100 valid -> 66.7%)."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from pipeline.data import screening as SC
from pipeline.data.codebook import load_codebook
from pipeline.core.exceptions import DataValidationError

CB = load_codebook("cs2019")


def _wave(n=120, seed=2019):
    """n returned 2019 questionnaires with valid codes for every codebook column."""
    rng = np.random.default_rng(seed)
    cols = {}
    for name, v in CB.variables.items():
        if v.type == "id":
            cols[name] = np.arange(1, n + 1)
        elif v.type == "likert":
            cols[name] = rng.integers(1, 6, n).astype(float)
        elif v.type == "categorical":
            cols[name] = rng.choice(list(v.codes), n)
        elif v.type == "multi":
            codes = list(v.codes)
            cols[name] = [";".join(str(c) for c in sorted(rng.choice(codes, 2, replace=False)))
                          for _ in range(n)]
        elif v.type == "numeric":
            cols[name] = rng.integers(1, 10, n).astype(float)
        else:
            cols[name] = [None] * n
    return pd.DataFrame(cols)


def _questions():
    return [n for n, v in CB.variables.items() if v.section != "meta" and v.required
            and v.type in ("likert", "categorical", "multi", "numeric")]


@pytest.fixture(scope="module")
def wave2019():
    """120 returned: 12 with 20-50% of the questions unanswered, 8 straight-lining
    Section C, 100 valid (the thesis's counts)."""
    df = _wave()
    q = _questions()
    rng = np.random.default_rng(5)
    for k, i in enumerate(range(0, 12)):
        share = 0.2 + 0.3 * k / 11                      # 20% ... 50%
        m = int(np.ceil(share * len(q)))
        df.loc[i, list(rng.choice(q, m, replace=False))] = np.nan
    sec_c = CB.sections["C"]
    for i in range(12, 20):
        df.loc[i, [c for c in sec_c if CB[c].type == "likert"]] = float(1 + i % 5)
    # below the threshold: kept
    df.loc[50, q[: int(0.19 * len(q))]] = np.nan
    return df


def test_thesis_funnel_2019(wave2019):
    res = SC.screen(wave2019, CB, {}, distributed=150)
    assert res.funnel["distributed"] == 150
    assert res.funnel["returned"] == res.n_raw == 120
    assert res.funnel["valid"] == res.n_clean == 100 == len(res.clean)
    assert res.funnel["excluded"] == 20
    assert round(100 * res.funnel["response_rate"], 1) == 66.7
    assert res.funnel["return_rate"] == pytest.approx(0.8)
    counts = res.reason_counts()
    assert counts["missing"] == 12 and counts["straightlining"] == 8
    assert set(res.log["id"]) == set(range(1, 21))
    assert not res.report.set_index("id").loc[51, "excluded"]      # 19% missing: kept
    assert "66.7%" in res.summary()


def test_log_names_id_row_and_reason(wave2019):
    res = SC.screen(wave2019, CB, {}, distributed=150)
    row = res.log[res.log.id == 13].iloc[0]
    assert row["rule"] == "straightlining" and row["row"] == 14
    assert "section C" in row["reason"] and "all 19" in row["reason"]
    first = res.log[res.log.id == 1].iloc[0]
    assert first["rule"] == "missing" and "threshold 20%" in first["reason"]
    rep = res.to_frame().set_index("id")
    assert rep.loc[13, "longest_run"] == 19 and rep.loc[13, "straightlined_sections"] == "C"


def test_threshold_is_configurable(wave2019):
    res = SC.screen(wave2019, CB, {"missing_threshold": 0.5}, distributed=150)
    # only the respondents with >= 50% unanswered are now rejected for missingness
    rep = res.report.set_index("id")
    assert rep.loc[12, "share_missing"] >= 0.5 and rep.loc[12, "excluded"]
    assert not rep.loc[1, "excluded"]
    assert res.reason_counts()["missing"] == int((rep.share_missing >= 0.5).sum())
    with pytest.raises(ValueError, match="missing_threshold"):
        SC.screen(wave2019, CB, {"missing_threshold": 20})
    with pytest.raises(ValueError, match="unknown screening rule"):
        SC.screen(wave2019, CB, {"threshold": 0.2})


def test_mahalanobis_flags_not_drops_by_default():
    df = _wave(seed=3)
    likert = CB.likert_items
    rng = np.random.default_rng(0)
    # correlated answers, then one respondent breaking the pattern
    f = rng.normal(size=len(df))
    for j, c in enumerate(likert):
        df[c] = np.clip(np.round(3 + 1.2 * f + rng.normal(scale=0.5, size=len(df))), 1, 5)
    df.loc[7, likert] = [1.0, 5.0] * 9 + [1.0]
    res = SC.screen(df, CB, {"straightline_sections": []})
    rep = res.report.set_index("id")
    assert rep.loc[8, "mahalanobis_outlier"] and not rep.loc[8, "excluded"]
    # the distance is the textbook one
    X = df.loc[~res.report.excluded.to_numpy(), likert].to_numpy(float)
    d = X - X.mean(0)
    S = np.cov(X, rowvar=False)
    d2 = d @ np.linalg.inv(S) @ d.T
    assert rep.loc[8, "mahalanobis_d2"] == pytest.approx(np.diag(d2)[7], rel=1e-10)
    assert rep.loc[8, "mahalanobis_p"] < 0.001
    res2 = SC.screen(df, CB, {"straightline_sections": [], "drop_mahalanobis": True})
    assert 8 not in set(res2.clean["id"])
    assert "mahalanobis" in set(res2.log.rule)


def test_out_of_range_duplicates_response_time_and_empty_rows():
    df = _wave(n=40, seed=9)
    df["duration"] = 600.0
    df.loc[2, "L1"] = 7.0
    df.loc[5, [c for c in df.columns if c != "id"]] = df.loc[4, [c for c in df.columns if c != "id"]]
    df.loc[9, "duration"] = 30.0
    df.loc[11, [c for c in df.columns if c not in ("id", "duration")]] = np.nan
    res = SC.screen(df, CB, {"min_response_time": 120, "straightline_sections": []})
    by = res.log.groupby("id")["rule"].apply(set)
    assert by[3] == {"out_of_range"} and "L1 = 7" in res.log[res.log.id == 3].reason.iloc[0]
    assert by[6] == {"duplicate_submission"}
    assert by[10] == {"response_time"}
    assert "missing" in by[12]
    assert "no answers at all" in res.log[res.log.id == 12].reason.iloc[0]
    assert res.report.set_index("id").loc[6, "duplicate_of"] == 5
    with pytest.raises(DataValidationError, match="not one of the item's codes") as ei:
        SC.screen(df, CB, {"out_of_range": "error"})
    assert ei.value.columns == ["L1"] and ei.value.rows == [4]


def test_empty_column_is_an_error_naming_it():
    df = _wave(n=30)
    df["S2"] = np.nan
    with pytest.raises(DataValidationError, match="no answers at all") as ei:
        SC.screen(df, CB, {})
    assert ei.value.columns == ["S2"]


def test_explicit_items_without_codebook():
    df = pd.DataFrame({"id": [10, 11, 12, 13, 14, 15],
                       "a": [1, 2, 3, 3, np.nan, 4], "b": [1, 3, 3, 3, np.nan, 2],
                       "c": [2, 4, 3, 3, 5, 4], "d": [5, 5, 3, 3, np.nan, 4]}, dtype=float)
    from pipeline.core.exceptions import NotEstimableWarning
    with pytest.warns(NotEstimableWarning, match="Mahalanobis"):  # 3 kept rows, 4 items
        res = SC.screen(df, None, {"straightline_min_items": 4, "drop_duplicates": False},
                        items=["a", "b", "c", "d"], sections={"S": ["a", "b", "c", "d"]},
                        codes={c: [1, 2, 3, 4, 5] for c in "abcd"}, distributed=10)
    assert any("Mahalanobis" in w for w in res.warnings)
    by = res.log.groupby("id")["rule"].apply(set)
    assert by[12] == {"straightlining"} and by[13] == {"straightlining"}
    assert by[14] == {"missing"}
    assert res.funnel == {"distributed": 10, "returned": 6, "excluded": 3, "valid": 3,
                          "return_rate": 0.6, "response_rate": 0.3}   # no org column


def test_nullable_integer_columns(wave2019):
    df = wave2019.copy()
    for c in CB.likert_items:
        df[c] = df[c].astype("Int64")
    res = SC.screen(df, CB, {}, distributed=150)
    assert (res.n_raw, res.n_clean) == (120, 100)
    assert str(res.clean["L1"].dtype) == "Int64"


def test_longest_run_and_straightlined():
    assert SC.longest_run([1, 1, 2, 2, 2, np.nan, 2, 2]) == 3
    assert SC.longest_run([np.nan, np.nan]) == 0
    assert SC.straightlined([4, 4, np.nan, 4], min_items=3)
    assert not SC.straightlined([4, 4, np.nan, 4], min_items=4)


def test_write_outputs_and_cli(tmp_path, wave2019):
    res = SC.screen(wave2019, CB, {}, distributed=150)
    files = res.write(tmp_path / "out")
    assert pd.read_csv(files["clean"]).shape[0] == 100
    assert pd.read_csv(files["log"]).id.nunique() == 20
    j = json.loads(files["summary"].read_text())
    assert j["funnel"]["valid"] == 100 and j["n_raw"] == 120
    # CLI through the loader (codebook-validated CSV)
    csv = tmp_path / "cs2019.csv"
    raw = wave2019.copy()
    raw.loc[60, "L2"] = 9          # declared "No answer" code: NaN, counted
    raw.to_csv(csv, index=False)
    from pipeline.cli.screen import main
    rc = main([str(csv), "--instrument", "cs2019", "--distributed", "150",
               "--out", str(tmp_path / "cli"), "--json", str(tmp_path / "s.json")])
    assert rc == 0
    j = json.loads((tmp_path / "s.json").read_text())
    assert (j["funnel"]["returned"], j["funnel"]["valid"]) == (120, 100)
    assert j["funnel"]["response_rate"] == pytest.approx(100 / 150)
    assert (tmp_path / "cli" / "clean.csv").exists()
    rec = [r for r in j["recodings"] if r["action"] == "declared_missing"]
    assert rec and rec[0]["column"] == "L2" and rec[0]["count"] == 1


def test_synthetic_2019_wave_reproduces_the_thesis_funnel():
    """The calibrated synthetic 2019 wave (studies.amirova2021.synth) builds in the thesis's
    20 rejections; screening it with params.yaml's rules finds exactly them:
    150 -> 120 -> 100 (ACSA 35, akimat 65), 66.7%, row for row as the
    generator's own rule (synth.screening_flags)."""
    from pipeline.cli import config
    from pipeline.core import paths
    from studies.amirova2021 import synth
    from pipeline.data.loading import read_raw
    csv = paths.DATA_SYNTHETIC / "cs2019.csv"
    if csv.exists():
        loaded = read_raw(csv, CB)
        data, rows = loaded.data, loaded.rows
    else:
        data, _ = synth.generate("cs2019")
        rows = None
    res = SC.screen(data, CB, config.stage_params("screening"),
                    distributed=config.wave_params("cs2019")["distributed"], rows=rows)
    assert (res.funnel["distributed"], res.n_raw, res.n_clean) == (150, 120, 100)
    assert round(100 * res.funnel["response_rate"], 1) == 66.7
    assert res.clean["org"].value_counts().to_dict() == {"akimat": 65, "ACSA": 35}
    assert res.funnel["valid_by_group"] == {"ACSA": 35, "akimat": 65}
    flags = synth.screening_flags(data, CB)
    np.testing.assert_array_equal(flags["rejected"].to_numpy(), res.report["excluded"].to_numpy())


# ------------------------------------------------- round 2: nothing unredacted at rest (issue 14.2)

def _pii_wave(wave2019):
    raw = wave2019.copy()
    raw["D1"] = None
    kept = np.flatnonzero(~SC.screen(wave2019, CB, {}).report["excluded"].to_numpy())[:5]
    raw.loc[kept, "D1"] = ["пишите ivan.petrov@mail.ru", "тел 8.701.123.45.67", "see mysite.xyz",
                         "Токаев знает", "ИИН 900101-300-123"]
    return raw


def test_screen_cli_writes_redacted_text_only(tmp_path, wave2019, capsys):
    from pipeline.cli.screen import main
    csv = tmp_path / "cs2019.csv"
    _pii_wave(wave2019).to_csv(csv, index=False)
    assert main([str(csv), "--instrument", "cs2019", "--out", str(tmp_path / "o")]) == 0
    text = "\n".join(p.read_text() for p in (tmp_path / "o").iterdir())
    for leak in ("ivan.petrov", "701.123", "mysite", "Токаев", "900101"):
        assert leak not in text, leak
    clean = pd.read_csv(tmp_path / "o" / "clean.csv")
    assert sorted(clean["D1"].dropna()) == sorted(["пишите [EMAIL]", "тел [PHONE]", "see [URL]",
                                                   "[NAME] знает", "ИИН [IIN]"])
    assert "free text redacted: 5 replacement(s)" in capsys.readouterr().out


def test_write_redacts_even_when_the_caller_forgot(tmp_path, wave2019):
    res = SC.screen(_pii_wave(wave2019), CB, {}, distributed=150)
    files = res.write(tmp_path / "w", names=CB.names_to_redact)
    body = files["clean"].read_text()
    assert "ivan.petrov" not in body and "[PHONE]" in body and "[NAME]" in body


@pytest.mark.parametrize("bad", ["dir", "raw", "readonly"])
def test_refused_json_path_writes_nothing(tmp_path, wave2019, bad, monkeypatch):
    from pipeline.cli.screen import main
    from pipeline.core import paths
    csv = tmp_path / "cs2019.csv"
    wave2019.to_csv(csv, index=False)
    target = {"dir": tmp_path, "raw": paths.DATA_RAW / "x.json", "readonly": tmp_path / "ro" / "s.json"}[bad]
    if bad == "readonly":
        (tmp_path / "ro").mkdir()
        import os
        real = os.access
        monkeypatch.setattr(os, "access", lambda p, m: False if str(p).endswith("ro") else real(p, m))
    out = tmp_path / "out"
    with pytest.raises(ValueError, match="--json"):
        main([str(csv), "--instrument", "cs2019", "--out", str(out), "--json", str(target)])
    assert not out.exists()


def test_pii_ids_are_pseudonymised_or_refused(tmp_path, wave2019, monkeypatch):
    from pipeline.cli.screen import main
    from pipeline.data.privacy import PSEUDONYM_ENV, pseudonymize
    raw = wave2019.copy()
    raw["id"] = [f"resp{i}@mail.kz" for i in range(len(raw))]
    csv = tmp_path / "cs2019.csv"
    raw.to_csv(csv, index=False)
    monkeypatch.delenv(PSEUDONYM_ENV, raising=False)
    monkeypatch.setattr("pipeline.cli.screen._settings_key", lambda: None)
    with pytest.raises(ValueError, match=PSEUDONYM_ENV):
        main([str(csv), "--instrument", "cs2019", "--out", str(tmp_path / "o")])
    assert not (tmp_path / "o").exists()
    key = "test-key-0123456789abcdef"
    monkeypatch.setenv(PSEUDONYM_ENV, key)
    assert main([str(csv), "--instrument", "cs2019", "--out", str(tmp_path / "o")]) == 0
    text = "\n".join(p.read_text() for p in (tmp_path / "o").iterdir())
    assert "@mail.kz" not in text
    clean = pd.read_csv(tmp_path / "o" / "clean.csv")
    assert set(clean["id"]) <= set(pseudonymize(raw["id"].tolist(), key))
    # stable: a second run gives the same pseudonyms
    assert main([str(csv), "--instrument", "cs2019", "--out", str(tmp_path / "o2")]) == 0
    assert pd.read_csv(tmp_path / "o2" / "clean.csv")["id"].tolist() == clean["id"].tolist()
    # the library refuses to write PII ids at all
    res = SC.screen(raw, CB, {})
    with pytest.raises(ValueError, match="ids"):
        res.write(tmp_path / "lib")
    assert not (tmp_path / "lib").exists()


def test_everything_under_data_processed_is_ignored_by_git():
    import subprocess
    from pipeline.core import paths
    probe = ["data/processed/cs2019/screening/clean.csv", "data/processed/new_wave/prepared/clean.csv",
             "data/processed/cs2019/report.json", "data/processed/x.csv"]
    r = subprocess.run(["git", "check-ignore", "--no-index", *probe], cwd=paths.ROOT,
                       capture_output=True, text=True)
    assert r.stdout.split() == probe
    keep = subprocess.run(["git", "check-ignore", "--no-index", "data/processed/new_wave/.gitignore"],
                          cwd=paths.ROOT, capture_output=True, text=True)
    assert keep.returncode == 1          # DVC's own .gitignore files can still be committed


# ------------------------------------------- issue 15 item 5: vectorised over respondents

def _random_block(n=400, k=12, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.integers(1, 4, (n, k)).astype(float)       # three codes: long runs are common
    a[rng.random((n, k)) < 0.15] = np.nan
    a[:5] = 2.0                                         # straight-liners
    a[5, :] = np.nan                                    # no answer at all
    return pd.DataFrame(a, columns=[f"i{j}" for j in range(k)])


def test_longest_runs_equal_longest_run_row_by_row():
    block = _random_block()
    expected = [SC.longest_run(block.iloc[i].tolist()) for i in range(len(block))]
    assert SC.longest_runs(block).tolist() == expected
    assert max(expected) == 12 and expected[5] == 0
    # object columns (string codes, None and NaN missing, 1 == 1.0): Python's equality
    obj = block.astype(object)
    obj["s"] = ["a" if i % 3 else None for i in range(len(obj))]
    obj["t"] = ["a" if i % 2 else 1 for i in range(len(obj))]
    obj.iloc[::7, 0] = 1                                 # int 1 next to float 1.0
    expected = [SC.longest_run(obj.iloc[i].tolist()) for i in range(len(obj))]
    assert SC.longest_runs(obj).tolist() == expected


def test_straightlined_rows_equal_straightlined_row_by_row():
    block = _random_block(seed=1)
    for k in (2, 5, 12):
        flag, answer, answered = SC.straightlined_rows(block, k)
        rows = [block.iloc[i].dropna() for i in range(len(block))]
        assert flag.tolist() == [SC.straightlined(block.iloc[i].tolist(), k) for i in range(len(block))]
        assert answered.tolist() == [len(r) for r in rows]
        assert all(answer[i] == rows[i].iloc[0] for i in np.flatnonzero(flag))
    assert flag[:5].all() and not flag[5]


def test_duplicate_submissions_match_rows_printed_identically():
    """The per-column grouping finds the rows whose text (``astype(str)``) is identical,
    the definition the rule had; NaN equals NaN, None differs from NaN, 1 from 1.0 in text."""
    df = _wave(n=300, seed=11).drop(columns="id")
    df.loc[[40, 90, 250], :] = df.loc[7].to_numpy()
    df.loc[120, :] = df.loc[60].to_numpy()
    df.loc[[60, 120], "L1"] = np.nan                    # NaN == NaN
    df.loc[200, :] = df.loc[199].to_numpy()
    df["D1"] = df["D1"].astype(object)
    df.loc[199, "D1"] = np.nan                          # 'nan' vs 'None': different
    df.loc[130, :] = df.loc[131].to_numpy()
    df["org"] = df["org"].astype(object)
    df.loc[130, "org"] = 1
    df.loc[131, "org"] = 1.0                            # '1' vs '1.0': different
    key = df.astype(str)
    expected = key.duplicated(keep="first").to_numpy()
    group = SC._row_groups(df)
    _, first = np.unique(group, return_index=True)
    found = first[group] != np.arange(len(df))
    assert found.tolist() == expected.tolist()
    assert np.flatnonzero(found).tolist() == [40, 90, 120, 250]
    assert (first[group][[40, 90, 250]] == 7).all() and first[group][120] == 60


def test_duplicate_ids_and_long_runs_in_the_log():
    df = _random_block(n=300, k=10, seed=4)
    df.insert(0, "id", np.arange(1, 301))
    df.loc[[30, 45], "id"] = 3                  # id 3 again at rows 32 and 47 (first at row 4)
    df.loc[50, [f"i{j}" for j in range(2, 10)]] = 3.0      # a run of 8 (i1 may extend it)
    res = SC.screen(df, items=[f"i{j}" for j in range(10)], sections={},
                    params={"max_run_length": 8, "exclude_long_runs": True, "drop_duplicates": False})
    log = res.log
    dup = log[log.rule == "duplicate_id"]
    assert dup.row.tolist() == [32, 47]
    assert dup.reason.tolist() == ["id 3 already used at row 4"] * 2
    runs = [SC.longest_run(df.iloc[i, 1:].tolist()) for i in range(300)]
    assert res.report["longest_run"].tolist() == runs
    assert set(log[log.rule == "long_run"].row) == {i + 2 for i in range(300) if runs[i] >= 8}
    assert 52 in set(log[log.rule == "long_run"].row)
