"""Training, evaluating and loading text classifiers on real labelled data (COLD zh, Davidson en)."""

from __future__ import annotations

import json
import os

import pytest
from click.testing import CliRunner

from datamill.cli import main
from datamill.core.errors import InputError
from datamill.models.card import read_card
from datamill.models.classifier import evaluate_file, load_classifier, train
from datamill.models.labelled import LabelledTexts, from_labels_file


def test_fasttext_binary_on_chinese_offensive_comments(cold_small, tmp_path):
    out = str(tmp_path / "cold.ftz")
    model, card = train(out, labels=str(cold_small), text_field="TEXT", label_field="label", epoch=10)
    held = card["metrics"]["heldout"]
    assert held["n"] == 120 and held["auc"] > 0.65, held  # a real signal, not chance
    assert card["training"]["sources"][0]["sha256"] and card["label_kind"] == "binary"
    assert os.path.getsize(out) < 5_000_000
    again = load_classifier(out)
    texts = ["你真是个垃圾，滚出去", "今天天气很好，我们一起去公园散步吧。" * 30, "ok"]
    s = again.predict(texts)
    assert s.shape == (3,) and ((s >= 0) & (s <= 1)).all()
    assert read_card(out)["kind"] == "text_classifier"


def test_graded_labels_report_spearman(davidson_graded, tmp_path):
    out = str(tmp_path / "graded.ftz")
    _, card = train(out, labels=str(davidson_graded), text_field="tweet", label_field="grade", epoch=15)
    assert card["label_kind"] == "graded" and card["grades"] == [0.0, 1.0, 2.0]
    held = card["metrics"]["heldout"]
    assert held["spearman"] is not None and held["spearman"] > 0.2, held
    metrics = evaluate_file(out, str(davidson_graded), "tweet", "grade")
    assert metrics["n"] == 600 and 0 <= metrics["mae"] <= 2


def test_one_class_and_tiny_sets_are_clear_errors(tmp_path):
    with pytest.raises(InputError, match="one class only"):
        LabelledTexts(["a text"] * 20, [1] * 20, "binary").check()
    with pytest.raises(InputError, match="at least 10"):
        LabelledTexts(["a", "b"], [0, 1], "binary").check()
    bad = tmp_path / "labels.csv"
    bad.write_text("text,label\nhello,1\n", encoding="utf-8")
    with pytest.raises(InputError, match="no column 'body'"):
        from_labels_file(str(bad), "body", "label")


def test_wrong_model_path_or_kind_is_one_line(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        load_classifier(str(tmp_path / "missing.ftz"))
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"not a model at all")
    with pytest.raises(InputError, match="no model card"):
        load_classifier(str(junk))
    (tmp_path / "junk.bin.card.json").write_text(json.dumps({"kind": "kenlm"}))
    with pytest.raises(InputError, match="expected a text_classifier"):
        load_classifier(str(junk))
    (tmp_path / "junk.bin.card.json").write_text(json.dumps({"kind": "text_classifier", "backend": "fasttext",
                                                             "label_kind": "binary"}))
    with pytest.raises(InputError, match="not a fastText model"):
        load_classifier(str(junk))


def test_cli_train_and_eval_print_tables_and_json(cold_small, tmp_path):
    out = str(tmp_path / "m.ftz")
    runner = CliRunner()
    res = runner.invoke(main, ["classifier", "train", "--labels", str(cold_small), "--text-field", "TEXT",
                               "--output", out])
    assert res.exit_code == 0, res.output
    assert "held-out:" in res.output and "auc" in res.output
    res = runner.invoke(main, ["classifier", "eval", out, "--labels", str(cold_small), "--text-field", "TEXT"])
    assert res.exit_code == 0, res.output
    last = json.loads(res.output.strip().splitlines()[-1])
    assert set(last) >= {"accuracy", "f1", "auc", "n"} and last["n"] == 600
    res = runner.invoke(main, ["classifier", "eval", str(tmp_path / "nope.ftz"), "--labels", str(cold_small)])
    assert res.exit_code == 2 and "no such file" in res.output


def test_positive_negative_sources_and_output_folders(tmp_path, shared_data):
    """Positives and negatives from JSONL files (here: LIMA answers vs CCNet-processed CC text)."""
    lima = shared_data / "instruction_sft"
    cands = sorted(lima.rglob("*lima*.json*"))
    if not cands:
        pytest.skip("LIMA not found in shared data")
    pos = tmp_path / "pos.jsonl"
    rows = json.load(open(cands[0])) if cands[0].suffix == ".json" else \
        [json.loads(line) for line in open(cands[0])]
    with open(pos, "w") as fh:
        for r in rows[:200]:
            conv = r.get("conversations") or r.get("messages") or []
            text = conv[1] if len(conv) > 1 and isinstance(conv[1], str) else r.get("output", "")
            fh.write(json.dumps({"text": text}) + "\n")
    neg = shared_data / "warc" / "dolma_ccnet_text"
    model, card = train(str(tmp_path / "web.ftz"), positive=[str(pos)], negative=[str(neg)], epoch=5)
    assert card["training"]["class_counts"]["1"] > 50 and card["training"]["class_counts"]["0"] > 10
    assert all(s["sha256"] for s in card["training"]["sources"])


def test_embed_backend_shares_the_head_trainer(tmp_path):
    """The embeddings + head backend, with a deterministic embedding function (the head code is
    post.quality_model's; the real embedder is exercised by post's tests)."""
    import numpy as np

    def embed_fn(texts):
        return np.array([[t.count("好") - t.count("坏"), len(t) % 7, 1.0] for t in texts], dtype=float)

    texts = [f"这个很好 {i}" for i in range(30)] + [f"这个很坏 {i}" for i in range(30)]
    data = LabelledTexts(texts, [1] * 30 + [0] * 30, "binary")
    from datamill.models.classifier import train_classifier

    model, card = train_classifier(data, str(tmp_path / "head.npz"), backend="embed", embed_fn=embed_fn)
    assert card["metrics"]["heldout"]["auc"] == 1.0
    loaded = load_classifier(str(tmp_path / "head.npz"), embed_fn=embed_fn)
    assert loaded.predict(["非常好"])[0] > 0.5 > loaded.predict(["很坏"])[0]


@pytest.mark.slow
def test_embed_backend_with_the_shipped_sentence_model(cold_small, tmp_path):
    """all-MiniLM-L6-v2 (shipped in a wheel) + the linear head, on Chinese offensive comments."""
    pytest.importorskip("transformers")
    out = str(tmp_path / "emb.npz")
    _, card = train(out, labels=str(cold_small), text_field="TEXT", label_field="label", backend="embed")
    assert card["backend"] == "embed" and card["metrics"]["heldout"]["auc"] > 0.55
    again = load_classifier(out)
    assert again.predict(["今天天气很好。"]).shape == (1,)


def test_fasttext_divergence_retries_at_half_the_rate(tmp_path, monkeypatch, caplog):
    """fastText's "Encountered NaN" (Hogwild SGD diverging at a high rate) is retried at half
    the learning rate, logged, and the card records the rate that trained the model."""
    import fasttext

    from datamill.models.classifier import train_classifier

    real = fasttext.train_supervised
    rates = []

    def flaky(*args, **kwargs):
        rates.append(kwargs["lr"])
        if len(rates) == 1:
            raise RuntimeError("Encountered NaN.")
        return real(*args, **kwargs)

    monkeypatch.setattr(fasttext, "train_supervised", flaky)
    texts = [f"好评 很好 推荐 {i}" for i in range(15)] + [f"bad awful terrible {i}" for i in range(15)]
    data = LabelledTexts(texts, [1] * 15 + [0] * 15, "binary")
    path = str(tmp_path / "m")
    with caplog.at_level("WARNING"):
        train_classifier(data, path, epoch=2, lr=0.8, quantize=False)
    assert rates == [0.8, 0.4]
    assert "retrying at lr=0.4" in caplog.text
    assert read_card(path)["params"]["lr"] == 0.4
