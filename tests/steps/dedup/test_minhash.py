"""minhash_dedup: near duplicates of real text found, distinct texts kept, keep policies, CJK,
degenerate texts, worker-count independence and resume after SIGKILL in every stage.

Run as a script, this file runs the pipeline that the SIGKILL tests kill (with a sleep in the
stage named by DATAMILL_TEST_SLOW_STAGE)."""

from __future__ import annotations

import gzip
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

if __name__ != "__main__":
    pytest.importorskip("rensa")

from datamill import Pipeline  # noqa: E402
from datamill.steps.dedup import lsh  # noqa: E402
from datamill.steps.dedup.minhash import MinHashDedup  # noqa: E402

HERE = Path(__file__).resolve()


class SlowMinHash(MinHashDedup):
    """Test only: sleeps in the stage named by DATAMILL_TEST_SLOW_STAGE, so a run can be killed
    there. Before the work in multi-task stages; after it (files written, no marker) in
    ``clusters``."""

    def run_stage(self, stage, index, state_dir, n_shards, records=None):
        slow = os.environ.get("DATAMILL_TEST_SLOW_STAGE") == stage
        if slow and stage != "clusters":
            time.sleep(0.4)
        out = super().run_stage(stage, index, state_dir, n_shards, records)
        if slow and stage == "clusters":
            time.sleep(5.0)
        return out


# --- corpora --------------------------------------------------------------------------------

def _articles(shared: Path) -> list[str]:
    truth = json.loads((shared / "html_extraction" / "scrapinghub_aeb" / "ground-truth.json").read_text())
    return [v["articleBody"] for _, v in sorted(truth.items()) if len((v["articleBody"] or "").split()) >= 150]


def _ccnet(shared: Path) -> list[str]:
    docs = []
    for path in sorted((shared / "warc" / "dolma_ccnet_text").glob("*.jsonl.gz")):
        with gzip.open(path, "rt") as fh:
            docs.extend(json.loads(line)["text"] for line in fh)
    return docs


def _edit_words(text: str, rate: float, rng: random.Random) -> str:
    words = text.split()
    for i in range(len(words)):
        if rng.random() < rate:
            words[i] = rng.choice(["lorem", "ipsum", "dolor", "amet", "sed", "quia"])
    return " ".join(words)


def _shingles(text: str, n: int = 5, chars: bool = False) -> set:
    toks = lsh.tokens(text, chars)
    if len(toks) < n:
        return {tuple(toks)} if toks else set()
    return {tuple(toks[i:i + n]) for i in range(len(toks) - n + 1)}


def jaccard(a: str, b: str, chars: bool = False) -> float:
    x, y = _shingles(a, chars=chars), _shingles(b, chars=chars)
    return len(x & y) / len(x | y) if x | y else 1.0


def write_shards(rows: list[dict], folder: Path, n_shards: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for s in range(n_shards):
        with open(folder / f"shard-{s:02d}.jsonl", "w") as fh:
            for row in rows[s::n_shards]:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    return folder


def read_output(out: Path) -> list[dict]:
    records = []
    for path in sorted(out.glob("part-*.jsonl.gz")):
        with gzip.open(path, "rt") as fh:
            records.extend(json.loads(line) for line in fh)
    return records


@pytest.fixture(scope="module")
def corpus(shared_data) -> list[dict]:
    """Distinct real articles, and near duplicates of some of them at known similarity."""
    rng = random.Random(5)
    arts = _articles(shared_data)[:60]
    rows = [{"id": f"a{i}", "text": t} for i, t in enumerate(arts)]
    for i, t in enumerate(arts[:20]):
        rate = [0.005, 0.01, 0.02, 0.2][i % 4]  # the last: far under the threshold
        rows.append({"id": f"v{i}", "text": _edit_words(t, rate, rng)})
    # the real near-duplicate pair of the copycat (CC-2017) sample
    text = (shared_data / "near_duplicates" / "copycat_cc17_simhash_pairs"
            / "approveSampleForCC17.approved.jsonl").read_text()
    pair = json.JSONDecoder().raw_decode(text.strip())[0]
    rows.append({"id": "cc1", "text": pair["firstDocument"]["content"]})
    rows.append({"id": "cc2", "text": pair["secondDocument"]["content"]})
    return rows


def _clusters(records: list[dict]) -> dict[int, set]:
    out: dict[int, set] = {}
    for r in records:
        c = ((r.get("signals") or {}).get("minhash_dedup") or {}).get("cluster")
        if c is not None:
            out.setdefault(c, set()).add(r["id"])
    return out


def _run(rows, tmp_path, name, n_shards=3, workers=1, keep_dropped=True, **params):
    inputs = write_shards(rows, tmp_path / f"in-{name}", n_shards)
    out = tmp_path / name
    stats = Pipeline([MinHashDedup(**params)]).run([str(inputs)], str(out), workers=workers,
                                                   keep_dropped=keep_dropped)
    dropped = []
    for path in sorted((out / ".datamill" / "dropped").glob("*.jsonl.gz")):
        with gzip.open(path, "rt") as fh:
            dropped.extend(json.loads(line) for line in fh)
    return read_output(out), dropped, stats


# --- detection -------------------------------------------------------------------------------

def test_near_duplicates_found_distinct_texts_kept(corpus, tmp_path):
    kept, dropped, stats = _run(corpus, tmp_path, "out")
    by_id = {r["id"]: r["text"] for r in corpus}
    clusters = _clusters(kept + dropped)
    clustered = {i for ids in clusters.values() for i in ids}
    # every pair of real near duplicates (J >= 0.9) is found, the copycat pair included
    assert jaccard(by_id["cc1"], by_id["cc2"]) > 0.95
    assert any({"cc1", "cc2"} <= ids for ids in clusters.values())
    for i in range(20):
        j = jaccard(by_id[f"a{i}"], by_id[f"v{i}"])
        together = any({f"a{i}", f"v{i}"} <= ids for ids in clusters.values())
        if j >= 0.9:
            assert together, (i, j)
        if j < 0.5:
            assert f"v{i}" not in clustered, (i, j)
    # distinct articles never share a cluster
    for ids in clusters.values():
        assert len({i for i in ids if i.startswith("a")}) <= 1, ids
    # one record per cluster is kept, the first in input order; the rest dropped with reason
    assert {r["drop_reason"] for r in dropped} == {"near_duplicate"}
    assert len(kept) + len(dropped) == len(corpus)
    for ids in clusters.values():
        kept_ids = ids & {r["id"] for r in kept}
        assert len(kept_ids) == 1
    for r in kept + dropped:
        sig = r["signals"]["minhash_dedup"]  # every record: its cluster, or None and size 1
        if sig["cluster"] is not None:
            assert sig["cluster_size"] == len(clusters[sig["cluster"]]) >= 2
        else:
            assert sig["cluster_size"] == 1
    g = stats["globals"]["minhash_dedup"]
    assert g["near_duplicates"] == len(dropped) and g["bands"] * g["rows"] <= 112
    assert stats["steps"][0]["dropped"] == {"near_duplicate": len(dropped)}


def test_estimates_follow_exact_jaccard(corpus):
    step = MinHashDedup()
    texts = [r["text"] for r in corpus]
    sig, _, _ = step.signature_batch([{"text": t} for t in texts])
    errors = []
    for i in range(20):
        a, b = texts[i], texts[60 + i]
        est = float((sig[i] == sig[60 + i]).mean())
        errors.append(abs(est - jaccard(a, b)))
    assert np.mean(errors) < 0.05 and max(errors) < 0.2


def test_verify_and_unverified(corpus, tmp_path):
    # without verification candidates are clusters as they come; with it never more clusters
    kept_v, _, stats_v = _run(corpus, tmp_path, "v", verify=True)
    kept_u, _, stats_u = _run(corpus, tmp_path, "u", verify=False)
    gv, gu = stats_v["globals"]["minhash_dedup"], stats_u["globals"]["minhash_dedup"]
    assert gv["verified_pairs"] <= gv["candidate_pairs"] == gu["candidate_pairs"] == gu["verified_pairs"]
    assert len(kept_u) <= len(kept_v)


# --- keep policies ---------------------------------------------------------------------------

def test_keep_policies(shared_data, tmp_path):
    base = _ccnet(shared_data)[0]
    rows = [
        {"id": "first", "text": base, "signals": {"quality": 0.2}},
        {"id": "longest", "text": base + " And one more closing sentence here.", "signals": {"quality": 0.5}},
        {"id": "best", "text": base.replace(".", "!", 1), "signals": {"quality": 0.9}},
        {"id": "nosignal", "text": base + " x"},
        {"id": "other", "text": _ccnet(shared_data)[1]},
    ]

    def kept_ids(**params):
        kept, dropped, _ = _run(rows, tmp_path, "-".join(f"{k}{v}" for k, v in params.items()),
                                n_shards=2, **params)
        assert len(dropped) == 3
        return {r["id"] for r in kept}

    assert kept_ids(keep="first") == {"first", "other"}
    assert kept_ids(keep="longest") == {"longest", "other"}
    assert kept_ids(keep="signal", keep_signal="quality") == {"best", "other"}
    with pytest.raises(ValueError, match="keep_signal"):
        MinHashDedup(keep="signal")


# --- languages without spaces ----------------------------------------------------------------

def test_cjk_character_shingles(shared_data, tmp_path):
    data = json.loads((shared_data / "instruction_sft" / "llamafactory" / "alpaca_zh_demo.json").read_text())
    texts = sorted({d["output"] for d in data if len(d["output"]) >= 300})[:30]
    rng = random.Random(3)
    rows = [{"id": f"z{i}", "text": t, "signals": {"language": "zh"}} for i, t in enumerate(texts)]
    for i, t in enumerate(texts[:10]):
        chars = list(t)
        for _ in range(max(1, len(chars) // 200)):  # about one character in 200 replaced
            chars[rng.randrange(len(chars))] = "的"
        lang = {"language": "zh"} if i % 2 else {}  # half without a language: found by script
        rows.append({"id": f"d{i}", "text": "".join(chars), "signals": lang})
    assert lsh.uses_chars(texts[0], None) and not lsh.uses_chars("plain English words", None)
    kept, dropped, _ = _run(rows, tmp_path, "zh", n_shards=2)
    clusters = _clusters(kept + dropped)
    for i in range(10):
        j = jaccard(texts[i], rows[30 + i]["text"], chars=True)
        assert j > 0.85
        assert any({f"z{i}", f"d{i}"} <= ids for ids in clusters.values()), (i, j)
    assert len(clusters) == 10 and len(dropped) == 10
    # on words, a Chinese text is a handful of long "words": shingles would be meaningless
    assert len(lsh.tokens(texts[0], chars=False)) < len(texts[0]) / 4


def test_empty_and_one_word_texts(tmp_path):
    rows = [{"id": "e1", "text": ""}, {"id": "e2", "text": "   "}, {"id": "w1", "text": "word"},
            {"id": "w2", "text": "Word!"}, {"id": "w3", "text": "other"}, {"id": "p", "text": "..."},
            {"id": "s1", "text": "two words"}, {"id": "n", "text": None}]
    kept, dropped, stats = _run(rows, tmp_path, "tiny", n_shards=2)
    assert {r["id"] for r in dropped} == {"w2"}  # "word" == "word!" once normalised
    assert {"e1", "e2", "p", "w3", "s1"} <= {r["id"] for r in kept}
    assert stats["globals"]["minhash_dedup"]["without_shingles"] >= 3
    # and a run with no record at all
    kept, dropped, _ = _run([], tmp_path, "none", n_shards=2)
    assert kept == dropped == []


# --- building blocks -------------------------------------------------------------------------

def test_bands_rows_and_parameters():
    assert (MinHashDedup().bands, MinHashDedup().rows) == (14, 8)  # FineWeb's 14 × 8
    step = MinHashDedup(verify=False)
    assert step.bands * step.rows <= 112 and lsh.candidate_probability(0.5, step.bands, step.rows) < 0.01
    assert (MinHashDedup(bands=20).rows, MinHashDedup(rows=4).bands) == (5, 28)
    with pytest.raises(ValueError):
        MinHashDedup(bands=20, rows=8)
    with pytest.raises(ValueError):
        MinHashDedup(threshold=0.0)


def test_bounded_merge_matches_one_pass():
    rng = np.random.default_rng(0)
    arrays = []
    for n in (0, 50, 300, 1000):
        h = np.sort(rng.integers(0, 40, size=n).astype(np.uint64))  # many equal values
        arrays.append(h)
    for chunk in (1, 7, 10_000):
        seen = []
        for ranges in lsh.merge_sorted(arrays, chunk):
            step = np.concatenate([arrays[i][lo:hi] for i, (lo, hi) in enumerate(ranges)])
            if seen and len(step):
                assert step.min() > max(seen[-1])  # a run of equal values is never cut
            if len(step):
                seen.append(step)
            assert all(hi - lo <= chunk + 1000 for lo, hi in ranges)
        assert sum(len(s) for s in seen) == sum(len(a) for a in arrays)


def test_components_and_bucket_pairs():
    labels = lsh.components(np.array([0, 2, 5, 6]), np.array([1, 3, 6, 4]), 8)
    assert labels.tolist() == [0, 0, 2, 2, 4, 4, 4, 7]
    keys = np.array([3, 9, 1, 2, 5], dtype=np.uint64)
    hashes = np.array([1, 1, 2, 3, 3], dtype=np.uint64)
    assert lsh.bucket_pairs(keys, hashes).tolist() == [[3, 9], [2, 5]]


def test_small_merge_chunks_give_the_same_output(corpus, tmp_path, monkeypatch):
    from datamill.steps.dedup import minhash

    ref, _, _ = _run(corpus, tmp_path, "big", keep_dropped=False)
    monkeypatch.setattr(minhash, "MERGE_CHUNK", 3)
    monkeypatch.setattr(minhash, "VERIFY_CHUNK", 2)
    monkeypatch.setattr(minhash, "SIGNATURE_BATCH", 5)
    small, _, _ = _run(corpus, tmp_path, "small", keep_dropped=False)
    assert [(r["id"], r["signals"]) for r in small] == [(r["id"], r["signals"]) for r in ref]


# --- execution ---------------------------------------------------------------------------------

def test_workers_give_the_same_output(corpus, tmp_path):
    one, _, _ = _run(corpus, tmp_path, "one", n_shards=4, workers=1, keep_dropped=False)
    two, _, _ = _run(corpus, tmp_path, "two", n_shards=4, workers=2, keep_dropped=False)
    assert [(r["id"], r["signals"]) for r in one] == [(r["id"], r["signals"]) for r in two]
    assert len(one) < len(corpus)


def _pipeline() -> Pipeline:
    return Pipeline([SlowMinHash()], output_format="jsonl", compression="gz")


@pytest.fixture(scope="module")
def kill_inputs(corpus, tmp_path_factory):
    folder = tmp_path_factory.mktemp("minhash-kill")
    inputs = write_shards(corpus, folder / "in", 8)
    _pipeline().run([str(inputs)], str(folder / "reference"), workers=1)
    return inputs, folder / "reference"


@pytest.mark.parametrize("stage", ["signatures", "buckets", "clusters"])
def test_sigkill_in_a_stage_then_rerun_gives_the_same_output(kill_inputs, tmp_path, stage):
    inputs, reference = kill_inputs
    out = tmp_path / "killed"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path), DATAMILL_TEST_SLOW_STAGE=stage)
    proc = subprocess.Popen([sys.executable, str(HERE), str(inputs), str(out)], env=env,
                            start_new_session=True)
    done_dir = out / ".datamill" / "done"
    name = {"signatures": "global0-signatures-*", "buckets": "global0-buckets-*",
            "clusters": "global0-buckets-*"}[stage]
    need = {"signatures": 2, "buckets": 2, "clusters": 14}[stage]
    deadline = time.time() + 60
    while time.time() < deadline:
        if done_dir.exists() and len(list(done_dir.glob(name))) >= need:
            break
        if proc.poll() is not None:
            pytest.fail("the run finished before it could be killed")
        time.sleep(0.02)
    if stage == "clusters":
        time.sleep(1.0)  # the clusters task has written its files and sleeps before its marker
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    finished = len(list(done_dir.glob(name)))
    total = {"signatures": 8, "buckets": 14, "clusters": 14}[stage]
    assert need <= finished <= total
    if stage != "clusters":
        assert finished < total, f"the kill must land in the middle of {stage}"
    else:
        assert not (done_dir / "global0-clusters.json").exists()
        assert list((out / ".datamill" / "state").rglob("clusters-*.npy"))
    assert not (out / ".datamill" / "stats.json").exists()

    stats = _pipeline().run([str(inputs)], str(out), workers=2)
    assert stats["resumed_tasks"] >= need
    assert read_output(out) == read_output(reference)
    assert not list(out.rglob(".tmp-*")), "no temporary files may be left behind"


if __name__ == "__main__":
    _pipeline().run([sys.argv[1]], sys.argv[2], workers=2)
