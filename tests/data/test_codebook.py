"""Instrument codebooks: transcription checks against the thesis, structure validation."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from pipeline.data.codebook import available_codebooks, load_codebook

THESIS = Path("/work/shared/seeds/003_9e4367add784b4c7.txt")
ROOT = Path(__file__).resolve().parents[2]
for _cand in (ROOT.parent / "shared" / "seeds" / THESIS.name, ROOT / "shared" / "seeds" / THESIS.name):
    if _cand.exists():
        THESIS = _cand


def thesis_lines() -> list[str]:
    if not THESIS.exists():
        pytest.skip("thesis text not available")
    return THESIS.read_text(encoding="utf-8").splitlines()


def test_all_three_codebooks_load():
    assert {"cs2019", "cs2020", "citizens2020"} <= set(available_codebooks())
    for name in ("cs2019", "cs2020", "citizens2020"):
        cb = load_codebook(name)
        assert cb.name == name
        assert cb.id_column == "id"
        assert cb["id"].type == "id"


def test_cs2019_items_constructs_and_scale():
    cb = load_codebook("cs2019")
    assert cb.likert_items == ["L1", "L2", "S1", "S2", "S3", "HC1", "HC2", "HC3", "HC4",
                               "HC5", "O1", "O2", "O3", "R1", "R2", "R3", "CC", "ICS1", "ICS2"]
    assert dict(cb.constructs) == {
        "LEAD": ["L1", "L2"], "STRAT": ["S1", "S2", "S3"],
        "HUMCAP": ["HC1", "HC2", "HC3", "HC4", "HC5"], "ORGAN": ["O1", "O2", "O3"],
        "RES": ["R1", "R2", "R3"], "CITCEN": ["CC"], "TRANSF": ["ICS1", "ICS2"]}
    # construct keys never clash with item names (lavaan latent vs observed)
    assert not set(cb.constructs) & set(cb.variables)
    for item in cb.likert_items:
        v = cb[item]
        assert dict(v.codes) == {1: "Strongly Disagree", 2: "Disagree", 3: "Neutral or No opinion",
                                 4: "Agree", 5: "Strongly Agree"}
        assert v.section == "C" and v.required and not v.reverse
    assert cb.reverse_keyed == frozenset()
    assert [n for n in cb.sections["A"] if cb[n].type == "categorical"] == [
        "age", "gender", "education", "cs_experience", "position", "category_experience"]
    assert [n for n in cb.sections["B"] if cb[n].type != "text"] == ["B1", "B2", "B3", "B4", "B5"]
    assert cb["B1"].type == "multi" and len(cb["B1"].codes) == 6
    assert [len(cb[f"B{i}"].codes) for i in range(1, 6)] == [6, 5, 5, 6, 5]
    assert cb.sections["D"] == ["D1"] and cb["D1"].type == "text"
    assert dict(cb["org"].codes).keys() == {"ACSA", "akimat"}


def test_cs2019_wording_is_table_G1_verbatim():
    """Every Section C statement is a line of Table G.1 at its source_line."""
    lines = thesis_lines()
    cb = load_codebook("cs2019")
    for item in cb.likert_items:
        v = cb[item]
        printed = lines[v.source_line - 1].split("\t")[0].strip()
        assert printed == v.wording, item
    # and in Table G.1 order, between the caption (2905) and Section D (2936)
    src = [cb[i].source_line for i in cb.likert_items]
    assert src == sorted(src) and 2905 < src[0] and src[-1] < 2936


def _table_categories(lines, start, stop):
    """(parameter, answer option) pairs of a thesis demographic table."""
    out, param = [], None
    for line in lines[start - 1:stop]:
        cells = line.split("\t")
        if len(cells) < 3 or not re.search(r"\d", cells[-1]) or cells[1].strip() in {"", "2", "Answer options"}:
            continue
        if cells[0].strip():
            param = cells[0].strip()
        if param and param != "Total":
            out.append((param, cells[1].strip()))
    return out


@pytest.mark.parametrize("wave, start, stop, n_categories", [
    ("cs2019", 985, 1006, 17),        # Table 11
    ("cs2020", 1136, 1164, 19),       # Table 14 (ACSA)
    ("cs2020", 1378, 1401, 18),       # Table 16 (akimat)
    ("citizens2020", 1466, 1495, 19),  # Table 17 (residents)
])
def test_demographic_labels_match_the_thesis_tables(wave, start, stop, n_categories):
    """Each (parameter, answer option) of the table is (label, code label) of one variable."""
    lines = thesis_lines()
    cb = load_codebook(wave)
    by_label = {v.label: v for v in cb.variables.values() if v.type == "categorical"}
    cats = _table_categories(lines, start, stop)
    assert len(cats) == n_categories
    for param, option in cats:
        assert param in by_label, (wave, param)
        assert option in by_label[param].codes.values(), (wave, param, option)


def test_cs2020_items_ordered_from_totally_agree_5_to_completely_disagree_1():
    cb = load_codebook("cs2020")
    assert cb.likert_items == ["L1", "L2", "L3", "S1", "S2", "HC1", "HC2", "HC3",
                               "O1", "O2", "O3", "O4", "R1", "R2"]
    assert {k: len(v) for k, v in cb.constructs.items()} == {
        "LEAD": 3, "STRAT": 2, "HUMCAP": 3, "ORGAN": 4, "RES": 2}
    lines = thesis_lines()
    for item in cb.likert_items:
        v = cb[item]
        assert list(v.codes) == [5, 4, 3, 2, 1]
        assert v.codes[5].startswith("I totally agree")
        assert v.codes[3] == "Difficult to answer"
        assert v.codes[1].startswith("I completely disagree")
        # the five options as printed, in order, after the question line
        printed = [m.group(1).strip() for ln in lines[v.source_line:v.source_line + 13]
                   if (m := re.match(r"\|\s*<input[^|]*\|\s*(.*?)\s*\|$", ln))]
        assert printed == [v.codes[c] for c in (5, 4, 3, 2, 1)], item
    assert [n for n in cb.text_items if cb[n].section == "C"] == ["C1", "C2", "C3"]


def test_citizens_has_all_17_questions():
    cb = load_codebook("citizens2020")
    lines = thesis_lines()
    asked = [v for v in cb.variables.values() if v.type != "id" and not v.name.endswith("_other")]
    assert len(asked) == 17
    for k, v in enumerate(asked, start=1):
        assert lines[v.source_line - 1].startswith(f"{k}. "), (k, v.name)
    assert len(cb["activity"].codes) == 7
    assert cb["akimat_satisfaction"].codes[3] == "To the full extent"


def test_wording_source_lines_point_at_the_question():
    lines = thesis_lines()
    for name in ("cs2019", "cs2020", "citizens2020"):
        cb = load_codebook(name)
        for v in cb.variables.values():
            if v.source_line is None or v.section == "meta" or v.name.endswith("_other"):
                continue
            text = lines[v.source_line - 1]
            probe = re.sub(r"\s+", " ", v.wording)[:25]
            assert probe.split("(")[0].strip()[:20] in text, (name, v.name, text[:60])


def test_missing_code_9_declared_and_disjoint():
    for name in ("cs2019", "cs2020", "citizens2020"):
        cb = load_codebook(name)
        for v in cb.variables.values():
            if v.is_coded and v.numeric_codes:
                assert dict(v.missing_codes) == {9: "No answer"}
                assert 9 not in v.codes


def test_names_to_redact_is_a_list():
    for name in ("cs2019", "cs2020", "citizens2020"):
        names = load_codebook(name).names_to_redact
        assert isinstance(names, list) and all(isinstance(n, str) for n in names)


# -------------------------------------------------------------- validation

def _minimal():
    return {
        "instrument": "tiny", "id_column": "id",
        "constructs": {"F": {"label": "Factor"}},
        "variables": [
            {"name": "id", "section": "meta", "type": "id", "label": "Id", "wording": "id",
             "required": True},
            {"name": "x1", "section": "C", "type": "likert", "label": "x1", "wording": "x1",
             "codes": {1: "a", 2: "b", 3: "c", 4: "d", 5: "e"}, "construct": "F",
             "reverse": True, "required": True},
            {"name": "x2", "section": "C", "type": "likert", "label": "x2", "wording": "x2",
             "codes": {1: "a", 2: "b", 3: "c", 4: "d", 5: "e"}, "construct": "F", "required": True},
        ],
    }


def _write(tmp_path, data, name="tiny.yaml"):
    p = tmp_path / name
    p.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return p


def test_reverse_keying_recodes_min_plus_max_minus_x(tmp_path):
    cb = load_codebook(_write(tmp_path, _minimal()))
    assert cb.reverse_keyed == frozenset({"x1"})
    df = pd.DataFrame({"id": [1, 2, 3], "x1": [1.0, 5.0, np.nan], "x2": [1.0, 2.0, 3.0]})
    out = cb.apply_reverse_keying(df)
    assert out["x1"].tolist()[:2] == [5.0, 1.0] and np.isnan(out["x1"].iloc[2])
    assert out["x2"].tolist() == [1.0, 2.0, 3.0]
    assert df["x1"].tolist()[:2] == [1.0, 5.0]  # input untouched


@pytest.mark.parametrize("mutate, key", [
    (lambda d: d["variables"][1].update(type="scale"), "type"),
    (lambda d: d["variables"][1].pop("codes"), "codes"),
    (lambda d: d["variables"][1].update(codes={1: "a", 2: "b", 4: "d"}), "codes"),
    (lambda d: d["variables"][1].update(construct="G"), "construct"),
    (lambda d: d["variables"][1].update(reverse="yes"), "reverse"),
    (lambda d: d["variables"][1].update(missing_codes={5: "no answer"}), "missing_codes"),
    (lambda d: d["variables"][1].update(colour="red"), "colour"),
    (lambda d: d["variables"][2].update(name="x1"), "name"),
    (lambda d: d["variables"][0].update(type="text"), "id_column"),
    (lambda d: d.update(names_to_redact="Ivanov"), "names_to_redact"),
    (lambda d: d.pop("variables"), "variables"),
    (lambda d: d["variables"][1].pop("wording"), "wording"),
])
def test_bad_structure_names_file_and_key(tmp_path, mutate, key):
    data = _minimal()
    mutate(data)
    p = _write(tmp_path, data)
    with pytest.raises(ValueError) as exc:
        load_codebook(p)
    msg = str(exc.value)
    assert str(p) in msg and key in msg


def test_unknown_codebook_name():
    with pytest.raises(ValueError, match="available"):
        load_codebook("cs1999")


def test_codebook_frame_has_one_row_per_variable():
    cb = load_codebook("cs2019")
    frame = cb.to_frame()
    assert len(frame) == len(cb.variables)
    assert frame.set_index("name").loc["CC", "construct"] == "CITCEN"


def test_crosstab_lists_every_option_in_code_order():
    cb = load_codebook("cs2019")
    df = pd.DataFrame({"age": [2, 3, 3, 5, np.nan, 3], "org": ["ACSA", "akimat", "akimat", "ACSA", "ACSA",
                                                                "ACSA"]})
    tab = cb.crosstab(df, "age", by="org")
    assert list(tab.index) == ["Less than 20 years", "21-30 years", "31-40 years", "41-50 years",
                               "More than 50 years"]
    assert list(tab.columns) == ["Agency for Civil Service Affairs", "Akimat of Nur-Sultan"]
    assert tab.to_numpy().tolist() == [[0, 0], [1, 0], [1, 2], [0, 0], [1, 0]]
    dist = cb.crosstab(df, "age")
    assert dist["n"].tolist() == [0, 1, 3, 0, 1]
    with pytest.raises(ValueError, match="not codes"):
        cb.categorical("age", [1, 7])


def test_categorical_labels_each_answer_of_a_large_column():
    """100,000 answers (floats as the loader gives them, NaN, ints): every label equals
    the codebook's, category order is code order, missing stays missing, bad codes named."""
    cb = load_codebook("cs2019")
    rng = np.random.default_rng(0)
    x = rng.integers(1, 6, 100_000).astype(float)
    x[rng.random(100_000) < 0.05] = np.nan
    cat = cb.categorical("L1", x)
    labels = cb["L1"].codes
    assert list(cat.categories) == [labels[c] for c in sorted(labels)]
    expect = [None if np.isnan(v) else labels[int(v)] for v in x]
    assert [None if pd.isna(v) else v for v in cat] == expect
    assert pd.isna(cat).sum() == np.isnan(x).sum() > 4000
    org = cb.categorical("org", ["ACSA", None, "akimat"])
    assert [None if pd.isna(v) else v for v in org] == ["Agency for Civil Service Affairs", None,
                                                        "Akimat of Nur-Sultan"]
    with pytest.raises(ValueError, match=r"\[0\.0, 9\.0\] are not codes of 'L1'"):
        cb.categorical("L1", np.append(x, [9.0, 0.0, 9.0]))


@pytest.mark.parametrize("wave", ["cs2020", "citizens2020"])
def test_checkbox_options_transcribed_in_printed_order(wave):
    """Annexes H and I print options as checkbox rows: each coded question's options,
    in order, are the codebook's labels (or its `options` wording where the label
    follows the result table instead)."""
    lines = thesis_lines()
    cb = load_codebook(wave)
    checked = 0
    for v in cb.variables.values():
        if not v.is_coded or v.source_line is None or v.section == "meta":
            continue
        printed = []
        for ln in lines[v.source_line:v.source_line + 14]:
            m = re.match(r"\|\s*<input[^|]*\|\s*(.*?)\s*\|$", ln)
            if m:
                printed.append(re.sub(r"</?i>", "", m.group(1)).strip())
            elif printed and not ln.strip().startswith("|"):
                break
        expected = [v.options.get(c, lab) for c, lab in v.codes.items()]
        assert printed == expected, (wave, v.name)
        checked += 1
    assert checked == {"cs2020": 19, "citizens2020": 11}[wave]


def test_cs2019_section_a_and_b_options_are_printed_in_annex_g():
    """Section A options (free layout) appear in the lines after the question;
    Section B options are the '- A.' ... '- F.' lines, in order."""
    lines = thesis_lines()
    cb = load_codebook("cs2019")
    for name in cb.sections["A"]:
        v = cb[name]
        if not v.is_coded:
            continue
        block = " ".join(lines[v.source_line:v.source_line + 7])
        for code, lab in v.codes.items():
            wording = v.options.get(code, lab).split(" _")[0]
            assert wording in block, (name, wording)
    for i in range(1, 6):
        v = cb[f"B{i}"]
        opts = []
        for ln in lines[v.source_line:v.source_line + 8]:
            m = re.match(r"^ - [A-F]\. (.*)$", ln)
            if not m:
                break
            opts.append(m.group(1).replace("*", "").split(" _")[0].strip())
        expected = [v.options.get(c, lab).split(" _")[0] for c, lab in v.codes.items()]
        assert opts == expected, (v.name, opts)


def test_pandera_schema_of_validated_data():
    """The codebook's pandera schema accepts the validated synthetic wave and
    rejects an out-of-code answer, a duplicate id and an out-of-range number."""
    import pandera.errors
    import pytest

    from pipeline.data.codebook import load_codebook
    from pipeline.data.loading import read_raw
    from pipeline.core.paths import DATA_SYNTHETIC

    cb = load_codebook("cs2019")
    data = read_raw(DATA_SYNTHETIC / "cs2019.csv", cb).data
    schema = cb.schema(columns=data.columns)
    schema.validate(data)
    bad = data.copy()
    bad.loc[bad.index[3], "L1"] = 7
    bad.loc[bad.index[5], "id"] = bad.loc[bad.index[4], "id"]
    with pytest.raises(pandera.errors.SchemaErrors) as err:
        schema.validate(bad, lazy=True)
    failed = set(err.value.failure_cases["column"])
    assert {"L1", "id"} <= failed


# ------------------------------------------------------------------ names
def _named(names, construct="Лидер"):
    d = _minimal()
    d["constructs"] = {construct: {"label": "Leader"}}
    d["variables"] = d["variables"][:1] + [
        {"name": n, "section": "C", "type": "likert", "label": n, "wording": n,
         "codes": {1: "a", 2: "b", 3: "c", 4: "d", 5: "e"}, "construct": construct,
         "required": True} for n in names]
    return d


def test_unicode_and_dotted_names_as_the_model_syntax_accepts_them(tmp_path):
    """Issue 11 (item 7): the codebook takes the names lavaan's syntax takes: Cyrillic,
    the Kazakh letters, digits, '_' and '.'; and a model over them parses with the same names."""
    names = ["Лидер1", "clutched.up", "әғқңөұүһі_2", ".hidden", "q_3"]
    cb = load_codebook(_write(tmp_path, _named(names)))
    assert cb.constructs == {"Лидер": names}
    from pipeline.sem.syntax import model_variables, parse_model
    pm = parse_model("Лидер =~ " + " + ".join(names))
    observed, latent = model_variables(pm)
    assert sorted(observed) == sorted(names) and list(latent) == ["Лидер"]


@pytest.mark.parametrize("bad", ["3a", "a-b", "a b", "x$", ""])
def test_names_that_no_model_can_use_are_refused_naming_file_and_variable(tmp_path, bad):
    p = _write(tmp_path, _named(["x1", bad]))
    with pytest.raises(ValueError) as exc:
        load_codebook(p)
    msg = str(exc.value)
    assert str(p) in msg and "must be a name" in msg and repr(bad) in msg


@pytest.mark.parametrize("bad", ["1F", "F-G"])
def test_construct_keys_follow_the_same_rule(tmp_path, bad):
    with pytest.raises(ValueError, match="construct key must be a name"):
        load_codebook(_write(tmp_path, _named(["x1", "x2"], construct=bad)))


def test_one_name_rule_for_codebook_and_model_syntax():
    """pipeline.core.names is the rule; the model syntax uses the same pattern."""
    from pipeline.core import names
    from pipeline.sem import syntax
    assert syntax.NAME_PATTERN == names.NAME_PATTERN
    for ok in ("Лидер1", "clutched.up", "ә.ғ_1", "_x"):
        assert names.is_name(ok) and syntax.is_name(ok)
    for bad in ("1x", "a-b", "a b", "", "NA"):
        assert not names.is_name(bad) and not syntax.is_name(bad)
    with pytest.raises(ValueError, match="variable must be a name"):
        names.check_name("a-b", "variable")


def test_a_name_is_looked_up_in_the_folder_given(tmp_path):
    _write(tmp_path, _minimal(), name="tiny.yaml")
    assert load_codebook("tiny", tmp_path).name == "tiny"
    from pipeline.data.codebook import available_codebooks
    assert available_codebooks(tmp_path) == ["tiny"]
    with pytest.raises(ValueError, match=r"no codebook of that name in .*available: \['tiny'\]"):
        load_codebook("cs2019", tmp_path)
