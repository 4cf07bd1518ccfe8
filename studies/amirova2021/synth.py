"""Calibrated synthetic survey waves: the project's embedded default data.

No respondent-level data of Amirova (2021) was published.  This module
writes three synthetic raw files, in the raw-data contract of
:mod:`pipeline.data.loading` (codebook column names and codes), that reproduce
every published aggregate of the thesis:

``cs2019`` (Annex G)
    120 returned questionnaires: the 100 valid ones reproduce every count of
    Table 11 exactly, per organization; the 20 others are rejected by the
    thesis's screening rule (line 977: 20-50% of answers missing, or one
    identical answer across Section C).  The 19 Likert items of Section C
    are drawn from the lavaan-syntax population model
    ``studies/amirova2021/models/population_cs2019.lav`` (five correlated factors -> Citizen
    Centricity -> Innovative Transformation) with exact sample moments and
    cut into 1-5 at thresholds giving the agreement skew of "it is important
    that ..." statements.  The loadings and thresholds are calibrated so the
    wave reproduces Table K.1 (alphas) and Table K.2 (unstandardized
    loadings); H1-H4 and "Resources weakest" (Table 13) **hold by
    construction of the population model** and cannot be tested on these
    data.
``cs2020`` (Annex H)
    ACSA 168 and akimat 103 civil servants reproducing Tables 14 and 16
    exactly, and item answers meeting every percentage the text states
    (figures 16-27) within 2 percentage points.
``citizens2020`` (Annex I)
    109 residents reproducing Table 17 exactly and the percentages stated
    around figures 28-31 to within one respondent.

Exact counts come from exact allocation (a list with each code repeated its
published number of times, shuffled by the seeded generator), never from
sampling.  Answers of several items are ordered by latent scores (a rank
copula), so that items of one factor correlate.  Every file gets a sidecar
``<wave>.meta.json`` (``synthetic: true``, seed, generator version,
population model, targets, the "holds by construction" statement).  The
same seed gives byte-identical files.

Configuration, not code: the seed and file locations are in ``params.yaml``
(``synth``); the population model, thresholds and every target (with its
thesis line) in ``studies/amirova2021/models/population_cs2019.lav`` and
``studies/amirova2021/models/synth_targets.yaml``; the published numbers are read by key from
``studies/amirova2021/published/*.yaml``.

Public API: :func:`generate`, :func:`write_wave`, :func:`write_all`,
:func:`exact_allocation`, :func:`rank_allocation`, :func:`mvn_exact`,
:func:`thresholds_from_shares`, :func:`discretize`,
:func:`published_values`, :func:`load_targets`, :func:`main`.

In R: ``lavaan::simulateData(model, empirical = TRUE)`` followed by
``cut()`` at the thresholds plays the role of the 2019 Likert generator.
"""
from __future__ import annotations

import argparse
import hashlib
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.core.io import read_yaml
from pipeline import __version__
from pipeline.core import paths
from pipeline.core.io import write_csv, write_json
from pipeline.sem.power import discretized_moments, thresholds_from_shares  # one implementation (library)

__all__ = [
    "WAVES", "GENERATOR_VERSION", "BY_CONSTRUCTION",
    "generate", "write_wave", "write_all", "load_targets", "published_values",
    "exact_allocation", "rank_allocation", "mvn_exact", "thresholds_from_shares",
    "discretize", "largest_remainder", "discretized_moments", "match_correlations",
    "screening_flags", "main",
]

#: The waves this module writes, in workflow order.
WAVES = ("cs2019", "cs2020", "citizens2020")

#: Version of the generating algorithm (bump when the output of a seed changes).
GENERATOR_VERSION = f"studies.amirova2021.synth 1.0 (pipeline {__version__})"

#: Written into every sidecar and into docs/synthetic_data.md.
BY_CONSTRUCTION = (
    "Synthetic data. The 2019 Likert answers are drawn from a population model "
    "in which Leadership, Strategy, Human Capital and Organization have positive "
    "effects on Innovative Transformation and Resources the weakest: hypotheses "
    "H1-H4 and the basic hypothesis (Table 13) hold BY CONSTRUCTION and cannot "
    "be tested on these data. Demographic counts and stated percentages are "
    "reproduced by construction from the published aggregates."
)

_WAVE_SALT = {"cs2019": 2019, "cs2020": 2020, "citizens2020": 12020}


# ---------------------------------------------------------------- helpers
def _rng(seed: int, wave: str, stream: str) -> np.random.Generator:
    """An independent generator per (seed, wave, purpose)."""
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    salt = int(hashlib.sha256(stream.encode()).hexdigest()[:8], 16)
    return np.random.default_rng(np.random.SeedSequence([int(seed), _WAVE_SALT[wave], salt]))


def exact_allocation(counts: Mapping[Any, int], rng: np.random.Generator) -> np.ndarray:
    """Return each key repeated its count times, in a seeded random order.

    Parameters
    ----------
    counts : mapping
        Category -> non-negative integer count.
    rng : numpy.random.Generator

    Returns
    -------
    ndarray of length ``sum(counts.values())`` whose frequency table equals
    *counts* exactly.

    In R: ``sample(rep(names(counts), counts))``.
    """
    values: list[Any] = []
    for key, n in counts.items():
        if int(n) != n or n < 0:
            raise ValueError(f"counts[{key!r}] must be a non-negative integer, got {n!r}")
        values.extend([key] * int(n))
    arr = np.array(values, dtype=object)
    return arr[rng.permutation(len(arr))]


def rank_allocation(scores: np.ndarray, counts: Mapping[Any, int]) -> np.ndarray:
    """Give the highest scores the first category of *counts*, and so on.

    Exact marginal counts with the ordering (and hence the correlation) of
    *scores*: a rank (Gaussian) copula.

    Parameters
    ----------
    scores : array (n,)
        Latent scores; ties are broken by position.
    counts : mapping
        Category -> count, ordered from the category of the highest scores
        down; the counts must sum to ``n``.

    In R: ``cut(rank(-scores, ties.method = "first"), c(0, cumsum(counts)),
    labels = names(counts))``.
    """
    scores = np.asarray(scores, dtype=float)
    total = sum(int(v) for v in counts.values())
    if total != len(scores):
        raise ValueError(f"counts must sum to len(scores)={len(scores)}, got {total}")
    order = np.argsort(-scores, kind="stable")
    out = np.empty(len(scores), dtype=object)
    start = 0
    for key, n in counts.items():
        out[order[start:start + int(n)]] = key
        start += int(n)
    return out


def mvn_exact(sigma: np.ndarray, n: int, rng: np.random.Generator,
              mu: np.ndarray | None = None) -> np.ndarray:
    """Draw *n* multivariate normal rows whose sample moments equal the target.

    The draws are centred and whitened, then coloured with the Cholesky
    factor of *sigma*: the sample mean is *mu* and the sample covariance
    (divisor ``n - 1``) is exactly *sigma*.

    In R: ``MASS::mvrnorm(n, mu, Sigma, empirical = TRUE)``.
    """
    sigma = np.asarray(sigma, dtype=float)
    p = sigma.shape[0]
    if sigma.shape != (p, p):
        raise ValueError("sigma must be a square matrix")
    if n <= p:
        raise ValueError(f"n must exceed the number of variables ({p}), got {n}")
    z = rng.standard_normal((n, p))
    z -= z.mean(axis=0)
    lz = np.linalg.cholesky(np.cov(z, rowvar=False))
    z = np.linalg.solve(lz, z.T).T
    x = z @ np.linalg.cholesky(sigma).T
    if mu is not None:
        x += np.asarray(mu, dtype=float)
    return x


def discretize(z: np.ndarray, cuts: np.ndarray) -> np.ndarray:
    """Map continuous responses to 1..k+1 at the cut points (1 below the first)."""
    return np.searchsorted(np.asarray(cuts), np.asarray(z), side="right") + 1


def load_targets(path: str | Path | None = None) -> dict[str, Any]:
    """Read ``studies/amirova2021/models/synth_targets.yaml`` (or the file ``synth.targets`` names)."""
    if path is None:
        path = _params().get("targets", "studies/amirova2021/models/synth_targets.yaml")
    p = paths.resolve(path)
    if not p.exists():
        raise FileNotFoundError(f"synth targets file not found: {p}")
    return read_yaml(p)


def published_values(files: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Read ``studies/amirova2021/published/<file>`` entries into ``{key: entry}``."""
    out: dict[str, dict[str, Any]] = {}
    for name in files:
        p = paths.DATA_PUBLISHED / name
        if not p.exists():
            raise FileNotFoundError(f"published file not found: {p}")
        doc = read_yaml(p)
        for entry in doc.get("values", []):
            out[entry["key"]] = {**entry, "file": name}
    return out


def _params() -> dict[str, Any]:
    from pipeline.cli.config import stage_params
    try:
        return stage_params("synth") or {}
    except (KeyError, FileNotFoundError):
        return {}


def _count(pub: Mapping[str, Any], key: str) -> int:
    if key not in pub:
        raise KeyError(f"published key {key!r} not found in studies/amirova2021/published")
    v = pub[key]["value"]
    if int(v) != v:
        raise ValueError(f"published {key!r} is not a count: {v!r}")
    return int(v)


def _demographic_counts(pub: Mapping[str, Any], spec: Mapping[str, Any], prefix: str,
                        suffix: str, n: int) -> dict[str, dict[int, int]]:
    """Per codebook column, {code: published count}; checks each sums to n."""
    out: dict[str, dict[int, int]] = {}
    for column, s in spec.items():
        counts = {}
        for slug, code in s["codes"].items():
            key = f"{prefix}.{s['variable']}.{slug}{suffix}"
            if key not in pub and slug in s.get("absent_is_zero", ()):
                continue          # a row the table does not print (no respondent)
            counts[int(code)] = _count(pub, key)
        if sum(counts.values()) != n:
            raise ValueError(f"published counts of {prefix}.{s['variable']}*{suffix} sum to "
                             f"{sum(counts.values())}, not the total {n}")
        out[column] = counts
    return out


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _rel(p: Path) -> str:
    try:
        return str(p.resolve().relative_to(paths.ROOT))
    except ValueError:
        return str(p)


def _ints(values: Any) -> pd.Series:
    return pd.Series(pd.array(list(values), dtype="Int64"))


# ----------------------------------------------------------- free text
# Short answers in Russian, Kazakh and English (the three languages of
# real Kazakh questionnaires), so that encodings are exercised; a few name
# office-holders listed in the codebooks' names_to_redact, so that the
# redaction (pipeline.data.privacy) is exercised too.
_TEXT = {
    "cs2019.D1": [
        "Необходимо сократить количество совещаний и бумажного документооборота.",
        "Нужно повысить заработную плату и внедрить прозрачную систему бонусов.",
        "Прошу учитывать мнение сотрудников при реорганизации структуры.",
        "Мемлекеттік қызметшілердің біліктілігін арттыру курстарын көбейту қажет.",
        "Жұмыс жүктемесін бөлімдер арасында әділ бөлу керек.",
        "Цифрландыру және электрондық құжат айналымын дамыту қажет.",
        "More delegation of authority to territorial departments is needed.",
        "Introduce flexible working hours and a clear KPI system.",
        "Reduce the number of reports requested by the central apparatus.",
        "Больше обучения по проектному управлению, пожалуйста.",
        "Поддерживаю курс на реформы, объявленный Токаевым; нужна обратная связь.",
    ],
    "cs2019.other": [
        "Команда и атмосфера в коллективе", "Ұжымдағы ынтымақ", "Career growth opportunities",
        "Стабильность", "Жалақының уақытылы төленуі", "Flexible schedule",
    ],
    "cs2019.B3_2": [
        "Гибкий график с 9:00 до 18:00", "Төрт күндік жұмыс аптасы", "Remote work two days a week",
    ],
    "cs2020.C1": [
        "Бюрократизм и формализм в работе с гражданами.",
        "Коррупция, хотя ситуация постепенно улучшается.",
        "Считают, что госслужащие получают высокую зарплату и мало работают.",
        "Мемлекеттік қызметші тек қағазбен жұмыс істейді деген пікір бар.",
        "Азаматтардың өтінішіне немқұрайлы қарайды деген стереотип.",
        "People think civil servants are not accountable for results.",
        "Red tape and slow decisions.",
        "Закрытость госорганов, нет обратной связи.",
    ],
    "cs2020.C2": [
        "Сократить количество совещаний и семинаров.",
        "Полностью исключить бумажный документооборот.",
        "Пересмотреть график работы, ввести гибкий график.",
        "Функционалдық міндеттерді нақты бөлу қажет.",
        "Аумақтық бөлімшелердің орталық аппаратқа тәуелділігін азайту.",
        "Reduce managerial positions and strengthen the executive level.",
        "Improve the motivation system: bonuses and compensation for remote work.",
        "Усилить исполнительскую дисциплину и корпоративный дух.",
        "Предлагаю обсудить с Anar Zhailganova сокращение отчётности.",
    ],
    "cs2020.C3": [
        "Цифровизация и оптимизация бизнес-процессов.",
        "Внедрение проектного управления и KPI.",
        "Электрондық құжат айналымын толық енгізу.",
        "Жасанды интеллект элементтерін қолдану.",
        "A 4-day working week with a flexible schedule.",
        "Online services without paper certificates.",
        "Делегирование полномочий на уровень исполнителей.",
    ],
    "citizens.change_quality": [
        "Меньше формальных ответов, больше конкретных решений.",
        "Отвечать на обращения по существу и в срок.",
        "Акимат должен слышать жителей и держать обратную связь.",
        "Тұрғындармен ашық диалог жүргізу керек.",
        "Қызмет көрсету сапасын арттыру қажет.",
        "Be transparent about the budget and report results to residents.",
        "Hold online discussions on key city issues.",
    ],
    "citizens.change_other": [
        "Своевременная уборка снега и ремонт тротуаров.",
        "Аулаларды абаттандыру.",
        "Solve the parking problem near the akimat.",
    ],
    "citizens.contact_center_change": [
        "Давать полную и актуальную информацию.",
        "Сократить время ожидания ответа оператора.",
        "Өтінішті соңына дейін бақылау керек.",
        "Operators should know the services, not just forward the call.",
        "Решать вопрос под ключ с обратной связью.",
    ],
    "citizens.interaction": [
        "Прямой диалог через встречи и социальные сети.",
        "Проводить опросы и голосования на сайте акимата.",
        "Әкім тұрғындармен жиі кездесуі керек.",
        "Report in stories what the akimat is working on.",
        "Выборность акима столицы.",
        "Kulginov should hold open online meetings with residents.",
    ],
    "citizens.services_wanted": [
        "Все услуги в электронном формате, проактивно.",
        "Онлайн информация о свободных местах в детских садах.",
        "Балалар спорт секциялары тегін болса.",
        "Online tracking of budget spending.",
        "Не запрашивать справки, которые есть у госорганов.",
    ],
    "citizens.innovations": [
        "Автоматизация повторяющихся функций, блокчейн.",
        "Жасанды интеллект және цифрландыру.",
        "Agile and kaizen methods in the civil service.",
        "Борьба с коррупцией и сокращение бюрократии.",
    ],
    "citizens.qualities": [
        "Честность, порядочность, компетентность.",
        "Адалдық, сыпайылық, кәсібилік.",
        "Empathy, openness, responsibility for results.",
        "Неподкупность и патриотизм.",
        "Тактичность и готовность быстро решать вопросы.",
    ],
}


def _texts(pool: str, n: int, rng: np.random.Generator) -> list[str]:
    items = _TEXT[pool]
    return [items[i] for i in rng.integers(0, len(items), size=n)]


def _optional_text(pool: str, n: int, share: float | int, rng: np.random.Generator) -> list[str]:
    """*n* answers of which ``share`` (a fraction, or an exact count) are non-empty."""
    k = int(share) if isinstance(share, int) and not isinstance(share, bool) else int(round(share * n))
    if not 0 <= k <= n:
        raise ValueError(f"share of open answers gives {k} of {n}")
    filled = exact_allocation({True: k, False: n - k}, rng)
    texts = _texts(pool, n, rng)
    return [t if f else "" for t, f in zip(texts, filled)]


# ------------------------------------------------------------------ 2019
def _population_moments(model_path: Path) -> tuple[list[str], np.ndarray]:
    from pipeline.sem import implied_moments
    observed, sigma, _mu = implied_moments(model_path.read_text(encoding="utf-8"))
    return list(observed), np.asarray(sigma, dtype=float)


def largest_remainder(shares: Sequence[float], n: int) -> dict[int, int]:
    """Integer counts of categories 5, 4, ... 1 summing to *n* (Hamilton rounding).

    *shares* are given for categories 1..k; the result is ordered from the
    highest category down, as :func:`rank_allocation` expects.
    """
    s = np.asarray(shares, dtype=float) * n
    base = np.floor(s).astype(int)
    rest = n - base.sum()
    for i in np.argsort(-(s - base), kind="stable")[:rest]:
        base[i] += 1
    return {k + 1: int(base[k]) for k in range(len(base) - 1, -1, -1)}


def _shares(categories: Mapping[str, Any], item: str) -> list[float]:
    return list(categories.get(item, categories["default"]))


def _likert_cuts(items: Sequence[str], categories: Mapping[str, Any]) -> dict[str, np.ndarray]:
    default = categories["default"]
    return {it: thresholds_from_shares(categories.get(it, default)) for it in items}


def match_correlations(x: np.ndarray, target_corr: np.ndarray, rng: np.random.Generator,
                       n_iter: int = 20000) -> np.ndarray:
    """Swap answers within items so the sample correlations approach a target.

    Swapping two respondents' answers to one item leaves every item's
    frequency table unchanged; a swap is kept when it lowers the squared
    distance between the sample covariance and ``D R D`` (``D`` the sample
    standard deviations, ``R`` *target_corr*).  A valid questionnaire is
    never left with one identical answer across all items.

    Parameters
    ----------
    x : ndarray (n, p) of int
        Discrete answers (not modified; a copy is returned).
    target_corr : ndarray (p, p)
    rng : numpy.random.Generator
    n_iter : int
        Number of proposed swaps.
    """
    x = np.array(x, dtype=float)
    n, p = x.shape
    if target_corr.shape != (p, p):
        raise ValueError(f"target_corr must be {p}x{p}")
    sd = x.std(axis=0, ddof=1)
    target = target_corr * np.outer(sd, sd)
    diff = np.cov(x, rowvar=False) - target
    np.fill_diagonal(diff, 0.0)
    cols = rng.integers(0, p, size=n_iter)
    pairs = rng.integers(0, n, size=(n_iter, 2))
    for j, (a, b) in zip(cols, pairs):
        d = x[b, j] - x[a, j]
        if d == 0:
            continue
        delta = d * (x[a] - x[b]) / (n - 1)
        delta[j] = 0.0
        # change of sum over k != j of (diff_jk + delta_k)^2 - diff_jk^2, twice (symmetry)
        gain = float(np.dot(2 * diff[j] + delta, delta))
        if gain < 0:
            same_a = np.all(np.delete(x[a], j) == x[a, j] + d)
            same_b = np.all(np.delete(x[b], j) == x[b, j] - d)
            if same_a or same_b:
                continue
            x[a, j] += d
            x[b, j] -= d
            diff[j] += delta
            diff[:, j] += delta
    return x.astype(int)


def _loading_ratio(c: np.ndarray, items: Sequence[str], item: str, marker: str) -> float:
    """Unstandardized loading of *item* relative to its *marker*, from the
    covariances with the items of the other factors (congeneric model)."""
    own = item.rstrip("0123456789")
    other = [j for j, it in enumerate(items) if it.rstrip("0123456789") != own]
    return float(c[items.index(item), other].sum() / c[items.index(marker), other].sum())


def _alpha_cov(c: np.ndarray) -> float:
    """Cronbach's alpha from a covariance matrix (the generator's check only;
    the analysis module is :mod:`pipeline.psychometrics.reliability`)."""
    k = c.shape[0]
    return k / (k - 1) * (1 - np.trace(c) / c.sum())


def _alphas_ok(c: np.ndarray, items: Sequence[str], cb: Any, t: Mapping[str, Any]) -> bool:
    """Every Table K.1 alpha of covariance matrix *c* within the margin."""
    cal, acc = t["calibration"], t["acceptance"]
    for construct, target in cal["alpha"]["scales"].items():
        cols = [items.index(it) for it in cb.constructs[construct]]
        if abs(_alpha_cov(c[np.ix_(cols, cols)]) - target) > acc["alpha"]:
            return False
    return True


def _proxy_ok(c: np.ndarray, items: Sequence[str], t: Mapping[str, Any]) -> bool:
    """Cheap pre-check: K.2 loading ratios from covariances (congeneric proxy)."""
    cal, acc = t["calibration"], t["acceptance"]
    markers = {it.rstrip("0123456789"): it for it in cal["loadings"]["markers"]}
    for item, target in cal["loadings"]["values"].items():
        if abs(_loading_ratio(c, items, item, markers[item.rstrip("0123456789")]) - target) > acc["proxy"]:
            return False
    return True


def _structure_proxy_ok(c: np.ndarray, items: Sequence[str], t: Mapping[str, Any]) -> bool:
    """Cheap pre-check of ``acceptance.max_r2`` on sum scores.

    The dependent's sum score regressed on every other scale's sum score
    (covariances ``A c A'``, ``A`` the 0/1 item-to-scale matrix; scales by
    item prefix): the sum-score R² is attenuated by measurement error, so one
    above ``max_r2`` means a latent R² above it too.  Only a filter before
    :func:`_fit_ok` (which decides), to spare model fits.
    """
    acc = t["acceptance"]
    if "max_r2" not in acc:
        return True
    dep = t["calibration"]["hypotheses"]["dependent"]
    scales = list(dict.fromkeys(it.rstrip("0123456789") for it in items))
    a = np.array([[1.0 if it.rstrip("0123456789") == sc else 0.0 for it in items] for sc in scales])
    s = a @ c @ a.T
    y = scales.index(dep)
    xs = [i for i in range(len(scales)) if i != y]
    beta = np.linalg.solve(s[np.ix_(xs, xs)], s[xs, y])
    return float(s[y, xs] @ beta / s[y, y]) <= float(acc["max_r2"])


def _fit_ok(x: np.ndarray, items: Sequence[str], t: Mapping[str, Any]) -> bool | None:
    """Table K.2 loadings and Table 13's pattern in the analysis model's ML fit.

    Checks: the K.2 unstandardized loadings within the ``acceptance``
    margin; every standardized loading >= ``min_std_loading``; H1-H4 (the
    direct paths of the supported factors on the dependent) positive with
    p < ``alpha_level``; the weakest factor's standardized path the
    smallest (and positive with ``weakest_positive``: H5 says "less
    positively related"); with ``acceptance.max_r2``, the dependent's R² at
    most that (the population's is about .62; a sample near 1 leaves the
    dependent almost no disturbance).  Returns ``None`` when
    :func:`pipeline.sem.fit` is unavailable.
    """
    import warnings
    cal, acc = t["calibration"], t["acceptance"]
    hyp = cal["hypotheses"]
    try:
        from pipeline.sem import fit
    except ImportError:  # pragma: no cover - the engine is another module
        return None
    model = paths.resolve(hyp["model"]).read_text(encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            res = fit(model, pd.DataFrame(np.asarray(x, float), columns=list(items)))
        except (ValueError, np.linalg.LinAlgError):
            return False
    if not (res.converged and res.admissible):
        return False
    p = res.parameters
    load = p[p["op"] == "=~"].set_index("rhs")
    for item, target in cal["loadings"]["values"].items():
        if abs(load.loc[item, "est"] - target) > acc["loading"]:
            return False
    if (load["std.all"] < cal["min_std_loading"]).any():
        return False
    reg = p[(p["op"] == "~") & (p["lhs"] == hyp["dependent"])].set_index("rhs")
    for f in hyp["supported"]:
        if not (reg.loc[f, "est"] > 0 and reg.loc[f, "pvalue"] < hyp["alpha_level"]):
            return False
    weakest = reg.loc[hyp["weakest"], "std.all"]
    if hyp.get("weakest_positive", False) and not weakest > 0:
        return False                       # H5: "less positively related"
    if "max_r2" in acc and not float(res.r2[hyp["dependent"]]) <= float(acc["max_r2"]):
        return False                       # a near-zero disturbance: not a plausible survey
    return bool(all(reg.loc[f, "std.all"] > weakest for f in hyp["supported"]))


def _draw_section_c(sigma: np.ndarray, n: int, items: Sequence[str], cuts: Mapping[str, np.ndarray],
                    cb: Any, t: Mapping[str, Any], rng: np.random.Generator
                    ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Draw Section C, calibrated to Tables K.1, K.2 and 13.

    1. Candidate covariance matrix: the moments the population model
       implies for the discretized answers (:func:`discretized_moments`),
       exact within each construct's block (so the alphas are those of the
       population) and with the sampling error of *n* normal draws outside
       them (so the model's chi-square is of the order of its df, not 0);
       a Table K.2 item shares its marker's error there, scaled by their
       population ratio.  Candidates are drawn until continuous data with exactly these moments
       pass :func:`_fit_ok` (K.2 loadings within the ``acceptance`` margin,
       half the test tolerance; standardized loadings >= .50; H1-H4
       supported and Resources weakest).
    2. Continuous responses with exact sample moments (:func:`mvn_exact`),
       cut by rank into the answer counts of the agreement-skew shares
       (:func:`largest_remainder`), i.e. at the thresholds.
    3. Within-item swaps (:func:`match_correlations`; every item's frequency
       table unchanged) bring the answers' correlations to the candidate's.
    4. Accepted when no questionnaire straight-lines Section C, the alphas
       are within the margin of Table K.1 and :func:`_fit_ok` still holds;
       else the next candidate.  The counts go into the sidecar.
    """
    acc = t["acceptance"]
    counts = {it: largest_remainder(_shares(t["categories"], it), n) for it in items}
    _, dcov = discretized_moments(sigma, [cuts[it] for it in items])
    block = np.zeros(dcov.shape, dtype=bool)
    for construct in t["calibration"]["alpha"]["scales"]:
        cols = [items.index(it) for it in cb.constructs[construct]]
        block[np.ix_(cols, cols)] = True
    np.fill_diagonal(block, True)
    chol = np.linalg.cholesky(dcov)
    markers = {it.rstrip("0123456789"): it for it in t["calibration"]["loadings"]["markers"]}
    pairs = [(it, markers[it.rstrip("0123456789")]) for it in t["calibration"]["loadings"]["values"]]
    ratio = {it: _loading_ratio(dcov, items, it, m) for it, m in pairs}
    noise = float(acc.get("noise_scale", 1.0))
    stats: dict[str, Any] = {"candidates": 0, "samples": 0, "fit_checked": True}
    for _ in range(int(acc["max_candidates"])):
        stats["candidates"] += 1
        w = np.cov(rng.standard_normal((n, len(items))) @ chol.T, rowvar=False)
        w = np.where(block, dcov, dcov + noise * (w - dcov))
        # the K.2 items share their marker's sampling error outside their
        # block: the congeneric ratio holds in the sample, not only in the
        # population (a two-item factor's loading is identified only there)
        for item, marker in pairs:
            i, m = items.index(item), items.index(marker)
            off = ~block[i]
            w[i, off] = dcov[i, off] + ratio[item] * (w[m, off] - dcov[m, off])
            w[off, i] = w[i, off]
        if (np.linalg.eigvalsh(w).min() <= 1e-6 or not _proxy_ok(w, items, t)
                or not _structure_proxy_ok(w, items, t)):
            continue
        ok = _fit_ok(mvn_exact(w, n, rng), items, t)
        if ok is None:
            stats["fit_checked"] = False
        elif not ok:
            continue
        stats["samples"] += 1
        ws = np.sqrt(np.diag(w))
        z = mvn_exact(sigma, n, rng)
        x = np.column_stack([rank_allocation(z[:, j], counts[it]) for j, it in enumerate(items)]).astype(int)
        x = match_correlations(x, w / np.outer(ws, ws), rng, n_iter=int(acc["swaps"]))
        if (not (x == x[:, :1]).all(axis=1).any()
                and _alphas_ok(np.cov(x, rowvar=False), items, cb, t)
                and _fit_ok(x, items, t) is not False):
            return z, x, stats
        if stats["samples"] >= int(acc["max_samples"]):
            break
    raise ValueError(f"no Section C sample met the acceptance margins ({stats}); "
                     "check studies/amirova2021/models/population_cs2019.lav against studies/amirova2021/models/synth_targets.yaml")


def screening_flags(df: pd.DataFrame, codebook: Any, *, missing_range: tuple[float, float] = (0.20, 0.50)
                    ) -> pd.DataFrame:
    """The thesis's screening rule (line 977) applied to a 2019 frame.

    A questionnaire is rejected when the share of unanswered required
    questions of Sections A-C lies in *missing_range* (inclusive), or when
    every Section C item has one identical answer.

    Returns a frame with ``missing_share``, ``missing``, ``straightline`` and
    ``rejected`` per row.  (The analysis module is
    :mod:`pipeline.data.screening`; this is the generator's own check of the rule
    it builds in.)

    In R: ``rowMeans(is.na(df[, required]))`` and
    ``apply(df[, sectionC], 1, function(r) length(unique(r)) == 1)``.
    """
    required = [v for v in codebook.required_columns
                if codebook[v].section in ("A", "B", "C")]
    section_c = codebook.sections["C"]
    share = df[required].isna().mean(axis=1)
    lo, hi = missing_range
    missing = (share >= lo) & (share <= hi)
    c = df[section_c]
    straight = c.notna().all(axis=1) & (c.nunique(axis=1) == 1)
    return pd.DataFrame({"missing_share": share, "missing": missing,
                         "straightline": straight, "rejected": missing | straight})


def _generate_cs2019(seed: int, targets: Mapping[str, Any]) -> tuple[pd.DataFrame, dict[str, Any]]:
    from pipeline.data.codebook import load_codebook
    t = targets["cs2019"]
    cb = load_codebook(t["instrument"])
    pub = published_values(t["published"])
    funnel = t["funnel"]
    n_valid = _count(pub, funnel["valid"])
    n_returned = _count(pub, funnel["returned"])
    n_rejected = _count(pub, funnel["rejected"])
    by_org = {org: _count(pub, key) for org, key in funnel["valid_by_org"].items()}
    if sum(by_org.values()) != n_valid or n_valid + n_rejected != n_returned:
        raise ValueError("published screening funnel is inconsistent: "
                         f"valid {by_org} vs {n_valid}, {n_valid}+{n_rejected} vs {n_returned}")
    t = _resolve_calibration(t, pub)
    inv = t["invalid"]
    if inv["missing"] + inv["straightline"] != n_rejected or sum(inv["by_org"].values()) != n_rejected:
        raise ValueError(f"synth_targets cs2019.invalid must describe {n_rejected} questionnaires")

    section_a = [v for v in cb.sections["A"] if cb[v].type == "categorical"]
    section_b = [v for v in cb.sections["B"] if cb[v].type in ("categorical", "multi")]
    items = list(cb.sections["C"])

    # --- Section C: population model, exact moments, thresholds ---------
    model_path = paths.resolve(t["population_model"])
    observed, sigma = _population_moments(model_path)
    if sorted(observed) != sorted(items):
        raise ValueError(f"{model_path}: observed variables {observed} differ from Section C {items}")
    idx = [observed.index(it) for it in items]
    sigma = sigma[np.ix_(idx, idx)]
    cuts = _likert_cuts(items, t["categories"])
    z, likert, draw_stats = _draw_section_c(sigma, n_valid, items, cuts, cb, t,
                                          _rng(seed, "cs2019", "likert"))
    rows: list[dict[str, Any]] = []
    rng_demo = _rng(seed, "cs2019", "demographics")
    orgs = []
    for org, n in by_org.items():
        counts = _demographic_counts(pub, t["demographics"], t["demographics_prefix"], f".{org}", n)
        cols = {c: exact_allocation(v, rng_demo) for c, v in counts.items()}
        for i in range(n):
            rows.append({"org": org, **{c: int(cols[c][i]) for c in cols}})
        orgs.append((org, counts))
    valid = pd.DataFrame(rows)
    for j, it in enumerate(items):
        valid[it] = likert[:, j]

    rng_b = _rng(seed, "cs2019", "sectionB")
    _fill_section_b(valid, t["section_b"], rng_b)
    _fill_category_experience(valid, rng_b)
    valid["D1"] = _optional_text("cs2019.D1", len(valid), float(t["d1_share"]), rng_b)
    # a few valid questionnaires skip one Section B question (3% missing)
    k = int(t.get("valid_missing_b", 0))
    if k:
        who = rng_b.choice(len(valid), size=k, replace=False)
        for i in who:
            q = section_b[int(rng_b.integers(len(section_b)))]
            valid.loc[i, q] = None
            if f"{q}_other" in valid:
                valid.loc[i, f"{q}_other"] = ""
    valid["_status"] = "valid"

    # --- the 20 rejected questionnaires ----------------------------------
    rng_i = _rng(seed, "cs2019", "invalid")
    kinds = exact_allocation({"missing": inv["missing"], "straightline": inv["straightline"]}, rng_i)
    inv_orgs = exact_allocation(inv["by_org"], rng_i)
    demo_pool = dict(orgs)
    z_inv = rng_i.standard_normal((n_rejected, len(items))) @ np.linalg.cholesky(sigma).T
    inv_rows = []
    for i, (kind, org) in enumerate(zip(kinds, inv_orgs)):
        r: dict[str, Any] = {"org": org}
        for c, counts in demo_pool[org].items():
            codes = list(counts)
            p = np.array([counts[c_] for c_ in codes], float)
            r[c] = int(rng_i.choice(codes, p=p / p.sum()))
        for j, it in enumerate(items):
            r[it] = int(discretize(z_inv[i, j], cuts[it]))
        if kind == "straightline":
            v = int(rng_i.choice([5, 4, 3], p=[0.5, 0.35, 0.15]))
            for it in items:
                r[it] = v
        r["_status"] = f"rejected:{kind}"
        inv_rows.append(r)
    invalid = pd.DataFrame(inv_rows)
    _fill_section_b(invalid, t["section_b"], rng_i)
    _fill_category_experience(invalid, rng_i)
    invalid["D1"] = _optional_text("cs2019.D1", len(invalid), 0.2, rng_i)
    lo, hi = inv["missing_share"]
    for i in np.flatnonzero(kinds == "missing"):
        share = rng_i.uniform(lo, hi)
        for section, names in (("A", section_a), ("B", section_b), ("C", items)):
            m = max(1, int(round(share * len(names))))
            for q in rng_i.choice(names, size=m, replace=False):
                invalid.loc[i, q] = None
                if f"{q}_other" in invalid:
                    invalid.loc[i, f"{q}_other"] = ""

    df = pd.concat([valid, invalid], ignore_index=True)
    order = _rng(seed, "cs2019", "order").permutation(len(df))
    df = df.iloc[order].reset_index(drop=True)
    df.insert(0, "id", np.arange(1, len(df) + 1))
    status = df.pop("_status")
    df = _conform(df, cb)
    meta = {
        "population_model": {"path": _rel(model_path), "sha256": _sha256(model_path),
                             "text": model_path.read_text(encoding="utf-8")},
        "thresholds": {it: [float(x) for x in cuts[it]] for it in items},
        "funnel": {"distributed": _count(pub, funnel["distributed"]), "returned": n_returned,
                   "valid": n_valid, "rejected": n_rejected, "valid_by_org": by_org},
        "rejected_ids": {
            "missing": [int(x) for x in df["id"][status == "rejected:missing"]],
            "straightline": [int(x) for x in df["id"][status == "rejected:straightline"]],
        },
        "calibration": t["calibration"],
        "acceptance": {**t["acceptance"], **draw_stats},
    }
    return df, meta


def _resolve_calibration(t: Mapping[str, Any], pub: Mapping[str, Any]) -> dict[str, Any]:
    """Replace the published keys of ``calibration`` by their values."""
    t = dict(t)
    cal = {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in t["calibration"].items()}
    for group, field in (("alpha", "scales"), ("loadings", "values")):
        cal[group][field] = {k: (float(pub[v]["value"]) if isinstance(v, str) else float(v))
                             for k, v in cal[group][field].items()}
    t["calibration"] = cal
    return t


def _fill_section_b(df: pd.DataFrame, shares: Mapping[str, Mapping[int, float]],
                    rng: np.random.Generator) -> None:
    n = len(df)
    b1 = shares["B1"]
    vals, other = [], []
    for _ in range(n):
        if rng.random() < b1[5]:
            chosen = [5]
        else:
            chosen = [c for c in (1, 2, 3, 4, 6) if rng.random() < b1[c]] or [int(rng.integers(1, 5))]
        vals.append(";".join(str(c) for c in chosen))
        other.append(_texts("cs2019.other", 1, rng)[0] if 6 in chosen else "")
    df["B1"] = vals
    df["B1_other"] = other
    for q in ("B2", "B3", "B4", "B5"):
        codes = list(shares[q])
        p = np.array([shares[q][c] for c in codes], float)
        ans = rng.choice(codes, size=n, p=p / p.sum())
        df[q] = ans.astype(int)
        other_code = max(codes)
        txt = []
        for a in ans:
            if a == other_code:
                txt.append(_texts("cs2019.other", 1, rng)[0])
            elif q == "B3" and a == 2 and rng.random() < 0.5:
                txt.append(_texts("cs2019.B3_2", 1, rng)[0])
            else:
                txt.append("")
        df[f"{q}_other"] = txt
    df["education_other"] = ""


def _fill_category_experience(df: pd.DataFrame, rng: np.random.Generator) -> None:
    # experience in the category cannot exceed civil-service experience
    upper = {1: 3, 2: 4, 3: 6, 4: 7, 5: 7, 6: 7}
    out = []
    for e in df["cs_experience"]:
        hi = upper.get(int(e), 7) if not pd.isna(e) else 7
        out.append(int(rng.integers(1, hi + 1)))
    df["category_experience"] = out


def _conform(df: pd.DataFrame, cb: Any) -> pd.DataFrame:
    """Codebook column order; coded columns as nullable integers; text as str."""
    out = {}
    for name in cb.columns:
        if name not in df:
            raise ValueError(f"generator produced no column {name!r} of codebook {cb.name}")
        var = cb[name]
        col = df[name]
        if var.type in ("likert", "numeric") or (var.type == "categorical" and var.numeric_codes):
            out[name] = pd.array([None if pd.isna(v) else int(v) for v in col], dtype="Int64")
        elif var.type == "id":
            out[name] = col.astype(int).to_numpy()
        else:
            out[name] = [("" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v))
                         for v in col]
    extra = set(df.columns) - set(cb.columns)
    if extra:
        raise ValueError(f"generator produced columns not in codebook {cb.name}: {sorted(extra)}")
    return pd.DataFrame(out)


# ------------------------------------------------------------------ 2020
def _generate_cs2020(seed: int, targets: Mapping[str, Any]) -> tuple[pd.DataFrame, dict[str, Any]]:
    from pipeline.data.codebook import load_codebook
    t = targets["cs2020"]
    cb = load_codebook(t["instrument"])
    pub = published_values(t["published"])
    items = list(cb.likert_items)
    constructs = {it: cb.construct_of(it) for it in items}
    factors = sorted(set(constructs.values()))
    lat = t["latent"]
    frames = []
    for org, spec in t["demographics"].items():
        n = _count(pub, f"{spec['prefix']}.total{spec['suffix']}")
        rng = _rng(seed, "cs2020", f"demographics.{org}")
        counts = _demographic_counts(pub, t["demographic_codes"], spec["prefix"], spec["suffix"], n)
        d = pd.DataFrame({c: exact_allocation(v, rng).astype(int) for c, v in counts.items()})
        d.insert(0, "org", org)
        d["education_other"] = ["Колледж и курсы повышения квалификации" if e == 6 else "" for e in d["education"]]
        auth = t["authorities"][org]
        if sum(auth.values()) != n:
            raise ValueError(f"synth_targets cs2020.authorities.{org} sums to {sum(auth.values())}, not {n}")
        d["authority"] = exact_allocation(auth, rng)
        # answers: exact counts per item, ordered by a latent factor model
        rng_l = _rng(seed, "cs2020", f"items.{org}")
        r = float(lat["factor_correlation"])
        phi = np.full((len(factors), len(factors)), r) + (1 - r) * np.eye(len(factors))
        f = rng_l.standard_normal((n, len(factors))) @ np.linalg.cholesky(phi).T
        lam = float(lat["loading"])
        for it in items:
            counts_it = {int(k): int(v) for k, v in t["items"][org][it].items()}
            if sum(counts_it.values()) != n:
                raise ValueError(f"synth_targets cs2020.items.{org}.{it} sums to {sum(counts_it.values())}, not {n}")
            score = lam * f[:, factors.index(constructs[it])] + math.sqrt(1 - lam ** 2) * rng_l.standard_normal(n)
            ordered = dict(sorted(counts_it.items(), key=lambda kv: -kv[0]))
            d[it] = rank_allocation(score, ordered).astype(int)
        rng_t = _rng(seed, "cs2020", f"open.{org}")
        for q, share in t["open_answers"][org].items():
            d[q] = _optional_text(f"cs2020.{q}", n, share, rng_t)
        frames.append(d)
    df = pd.concat(frames, ignore_index=True)
    order = _rng(seed, "cs2020", "order").permutation(len(df))
    df = df.iloc[order].reset_index(drop=True)
    df.insert(0, "id", np.arange(1, len(df) + 1))
    return _conform(df, cb), {"latent": dict(lat), "top_answer_definition":
                              "top answers = code 5 ('I totally agree') among all answers to the factor's items"}


# --------------------------------------------------------------- citizens
def _generate_citizens(seed: int, targets: Mapping[str, Any]) -> tuple[pd.DataFrame, dict[str, Any]]:
    from pipeline.data.codebook import load_codebook
    t = targets["citizens2020"]
    cb = load_codebook(t["instrument"])
    pub = published_values(t["published"])
    n = _count(pub, f"{t['demographics_prefix']}.total")
    rng = _rng(seed, "citizens2020", "demographics")
    counts = _demographic_counts(pub, t["demographics"], t["demographics_prefix"], "", n)
    df = pd.DataFrame({c: exact_allocation(v, rng).astype(int) for c, v in counts.items()})
    df["education_other"] = ["Среднее специальное" if e == 6 else "" for e in df["education"]]
    df["activity_other"] = [("Пенсионер", "Зейнеткер", "Unemployed", "В декрете")[i % 4] if a == 7 else ""
                            for i, a in enumerate(df["activity"])]
    it = {k: {int(c): int(v) for c, v in d.items()} for k, d in t["items"].items()}
    rng_i = _rng(seed, "citizens2020", "items")
    lam = float(t["latent_loading"])
    trust = rng_i.standard_normal(n)

    def ordered(q: str, idx: np.ndarray | None = None) -> np.ndarray:
        c = dict(sorted(it[q].items(), key=lambda kv: -kv[0]))
        m = n if idx is None else len(idx)
        base = trust if idx is None else trust[idx]
        score = lam * base + math.sqrt(1 - lam ** 2) * rng_i.standard_normal(m)
        return rank_allocation(score, c).astype(int)

    for q in ("request_type", "contact_center_used", "hindrance"):
        if sum(it[q].values()) != n:
            raise ValueError(f"synth_targets citizens2020.items.{q} sums to {sum(it[q].values())}, not {n}")
        df[q] = exact_allocation(it[q], rng_i).astype(int)
    for q in ("akimat_satisfaction", "involvement", "services_satisfaction"):
        if sum(it[q].values()) != n:
            raise ValueError(f"synth_targets citizens2020.items.{q} sums to {sum(it[q].values())}, not {n}")
        df[q] = ordered(q)
    yes = np.flatnonzero(df["contact_center_used"].to_numpy() == 1)
    if sum(it["contact_center_satisfaction"].values()) != len(yes):
        raise ValueError("synth_targets citizens2020.items.contact_center_satisfaction must sum to "
                         f"the {len(yes)} 'Yes' answers of contact_center_used")
    ccs = [None] * n
    for i, v in zip(yes, ordered("contact_center_satisfaction", yes)):
        ccs[i] = int(v)
    df["contact_center_satisfaction"] = ccs
    df["request_type_other"] = ["Получение справки" if v == 4 else "" for v in df["request_type"]]
    df["hindrance_other"] = [("Нехватка сотрудников", "Ақпараттың жоқтығы", "Too many approvals")[i % 3]
                             if v == 5 else "" for i, v in enumerate(df["hindrance"])]
    rng_t = _rng(seed, "citizens2020", "open")
    shares = t["open_answers"]
    change = _optional_text("citizens.change_quality", n, shares["akimat_change"], rng_t)
    q_share = float(t["akimat_change_quality_share"])
    filled = [i for i, s in enumerate(change) if s]
    k_other = len(filled) - int(round(q_share * len(filled)))
    for i in rng_t.choice(filled, size=k_other, replace=False):
        change[i] = _texts("citizens.change_other", 1, rng_t)[0]
    df["akimat_change"] = change
    cc_change = [""] * n
    k = int(round(shares["contact_center_change"] * len(yes)))
    for i in rng_t.choice(yes, size=k, replace=False):
        cc_change[i] = _texts("citizens.contact_center_change", 1, rng_t)[0]
    df["contact_center_change"] = cc_change
    for q in ("interaction", "services_wanted", "innovations", "qualities"):
        df[q] = _optional_text(f"citizens.{q}", n, shares[q], rng_t)
    order = _rng(seed, "citizens2020", "order").permutation(n)
    df = df.iloc[order].reset_index(drop=True)
    df.insert(0, "id", np.arange(1, n + 1))
    return _conform(df, cb), {"latent_loading": lam}


_GENERATORS = {"cs2019": _generate_cs2019, "cs2020": _generate_cs2020,
               "citizens2020": _generate_citizens}


# ------------------------------------------------------------ front door
def generate(wave: str, seed: int | None = None, targets: Mapping[str, Any] | None = None
             ) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Generate one synthetic wave in memory.

    Parameters
    ----------
    wave : {"cs2019", "cs2020", "citizens2020"}
    seed : int, optional
        Defaults to ``params.yaml`` ``synth.seed``.
    targets : mapping, optional
        Parsed ``studies/amirova2021/models/synth_targets.yaml`` (read when omitted).

    Returns
    -------
    df : DataFrame
        The raw file's contents, columns in codebook order.
    meta : dict
        The sidecar: ``synthetic: true``, seed, generator version, targets,
        population model, "holds by construction" statement.

    In R: ``lavaan::simulateData()`` (Likert part of cs2019 only).
    """
    if wave not in _GENERATORS:
        raise ValueError(f"wave must be one of {WAVES}, got {wave!r}")
    params = _params()
    if seed is None:
        seed = params.get("seed")
        if seed is None:
            raise ValueError("seed: none given and params.yaml synth.seed is not set")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    targets_path = paths.resolve(params.get("targets", "studies/amirova2021/models/synth_targets.yaml"))
    if targets is None:
        targets = load_targets(targets_path)
    df, extra = _GENERATORS[wave](int(seed), targets)
    t = targets[wave]
    meta = {
        "synthetic": True,
        "wave": wave,
        "instrument": t["instrument"],
        "seed": int(seed),
        "generator": "studies.amirova2021.synth",
        "generator_version": GENERATOR_VERSION,
        "n_rows": int(len(df)),
        "holds_by_construction": BY_CONSTRUCTION,
        "targets": {"path": _rel(targets_path),
                    "sha256": _sha256(targets_path) if targets_path.exists() else None,
                    "wave": t},
        "published": [f"studies/amirova2021/published/{f}" for f in t["published"]],
        "source": "Amirova (2021), shared/seeds/003_9e4367add784b4c7.txt",
        **extra,
    }
    return df, meta


def write_wave(wave: str, seed: int | None = None, out_dir: str | Path | None = None) -> tuple[Path, Path]:
    """Generate *wave* and write ``<out_dir>/<wave>.csv`` and ``<wave>.meta.json``.

    Output is atomic (:mod:`pipeline.core.io`) and never goes under ``data/raw``.
    """
    df, meta = generate(wave, seed)
    out = paths.resolve(out_dir) if out_dir is not None else paths.DATA_SYNTHETIC
    csv_path = out / f"{wave}.csv"
    meta_path = out / f"{wave}.meta.json"
    write_csv(csv_path, df, index=False, lineterminator="\n")
    meta["file"] = csv_path.name
    meta["sha256"] = _sha256(csv_path)
    write_json(meta_path, meta)
    return csv_path, meta_path


def write_all(seed: int | None = None, out_dir: str | Path | None = None,
              waves: Sequence[str] = WAVES) -> list[Path]:
    """Write every wave; returns the written paths."""
    written: list[Path] = []
    for w in waves:
        written.extend(write_wave(w, seed, out_dir))
    return written


def main(argv: list[str] | None = None) -> int:
    """``python -m pipeline synth [--wave W] [--seed S] [--out DIR]``."""
    ap = argparse.ArgumentParser(prog="python -m pipeline synth",
                                 description="Write the calibrated synthetic survey waves "
                                             "(CSV + .meta.json sidecar).")
    ap.add_argument("--wave", choices=WAVES, action="append",
                    help="wave to write (repeatable; default: all)")
    ap.add_argument("--seed", type=int, default=None, help="default: params.yaml synth.seed")
    ap.add_argument("--out", default=None, help="output directory (default: data/synthetic)")
    args = ap.parse_args(argv)
    for p in write_all(args.seed, args.out, args.wave or WAVES):
        print(p)
    return 0
