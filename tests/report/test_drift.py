from collections import Counter

import numpy as np

from datamill.report.drift import (EMBEDDING_AUC, categorical_drift, compare_profiles, embedding_drift,
                                   numeric_drift, psi)
from datamill.report.profile import Profile


def test_numeric_drift_flags_a_shift_and_not_random_halves():
    rng = np.random.default_rng(1)
    base = rng.lognormal(3, 1, 20_000)
    perm = rng.permutation(base.size)
    halves = numeric_drift(base[perm[:10_000]], base[perm[10_000:]])
    assert not halves["drift"] and halves["method"] == "wasserstein_normed" and halves["psi"] < 0.01
    shifted = numeric_drift(base[:10_000], base[10_000:] * 1.5)
    assert shifted["drift"] and shifted["psi"] > 0.1
    small = numeric_drift(base[:300], base[300:600] + 40)  # <= 1,000 values: KS decides
    assert small["method"] == "ks_p" and small["drift"]


def test_psi_of_identical_is_zero_and_grows_with_shift():
    x = np.arange(1000.0)
    assert psi(x, x) == 0.0
    assert psi(x, x + 100) < psi(x, x + 400)


def test_categorical_drift_languages():
    ref = Counter({"en": 700, "zh": 300})
    assert not categorical_drift(ref, Counter({"en": 690, "zh": 310}))["drift"]
    moved = categorical_drift(Counter({"en": 900, "zh": 100, "fr": 50}), Counter({"en": 300, "zh": 700}))
    assert moved["drift"] and moved["js"] > 0.1 and moved["chi2_p"] < 1e-6


def test_embedding_drift_english_vs_chinese(tmp_path):
    from report_helpers import hashing_embed
    from catalog_docs import EN, ZH

    rng = np.random.default_rng(0)
    en = [" ".join(rng.choice(EN, 3)) for _ in range(120)]
    zh = ["".join(rng.choice(ZH, 3)) for _ in range(120)]
    same = embedding_drift(hashing_embed(en[:60]), hashing_embed(en[60:]), permutations=100)
    assert not same["drift"] and same["classifier_auc"] <= EMBEDDING_AUC and same["mmd2_p"] > 0.05
    moved = embedding_drift(hashing_embed(en[:60]), hashing_embed(zh[:60]), permutations=100)
    assert moved["drift"] and moved["classifier_auc"] > 0.95 and moved["mmd2_p"] < 0.05


def test_compare_profiles_dataset_drift():
    rng = np.random.default_rng(2)
    a = Profile(2000, numeric={"signals.q": rng.normal(0, 1, 2000)}, categorical={"language": Counter(en=1500, zh=500)})
    b = Profile(2000, numeric={"signals.q": rng.normal(2, 1, 2000)}, categorical={"language": Counter(en=500, zh=1500)})
    d = compare_profiles(a, b)
    assert d["dataset_drift"] and d["drifted_columns"] == 2
    assert not compare_profiles(a, a)["dataset_drift"]
