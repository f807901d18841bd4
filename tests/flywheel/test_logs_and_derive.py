from flywheel_logs import write_log

from datamill.flywheel.derive import derive_records
from datamill.flywheel.logs import read_logs


def test_bad_lines_are_quarantined_with_file_and_line(tmp_path):
    path = write_log(tmp_path / "log.jsonl")
    batch = read_logs([str(path)])
    assert len(batch.completions) == 8
    where = {q["line"]: q["reason"] for q in batch.quarantine}
    assert set(where) == {3, 6, 9, 12, 15} and all(q["file"] == str(path) for q in batch.quarantine)
    assert "malformed JSON" in where[3]
    assert "request.messages" in where[6]
    assert "kind 'love'" in where[9]
    assert "unknown completion 'nobody'" in where[12]
    assert "expected a JSON object" in where[15]


def test_every_feedback_rule(tmp_path):
    batch = read_logs([str(write_log(tmp_path / "log.jsonl", with_bad=False))])
    recs, counts = derive_records(batch)
    by_id = {r["id"]: r for kind in recs for r in recs[kind]}
    # thumbs-up: SFT + desirable KTO, with provenance back to the log line
    sft = by_id["flywheel/sft/c1"]
    assert sft["messages"][-1] == {"role": "assistant", "content": "Paris is the capital of France."}
    assert sft["metadata"]["flywheel"]["log"] == f"{tmp_path / 'log.jsonl'}:1"
    assert by_id["flywheel/kto/c1"]["label"] is True
    # a user's edit (Chinese prompt): SFT of the edit and edit > original
    assert by_id["flywheel/sft-edit/c2/0"]["messages"][-1]["content"] == "Good morning."
    pref = by_id["flywheel/pref-edit/c2/0"]
    assert pref["chosen"][0]["content"] == "Good morning." and pref["rejected"][0]["content"] == "Good night."
    # accepted regeneration > the answer it replaced
    regen = by_id["flywheel/pref-regen/c3b"]
    assert regen["chosen"][0]["content"].startswith("Soft rain") and regen["rejected"][0]["content"] == "Rain rain rain rain."
    assert regen["metadata"]["flywheel"]["replaced"] == "c3"
    # thumbs-down and a Chinese follow-up saying it was wrong: undesirable KTO
    assert by_id["flywheel/kto/c4"]["label"] is False
    c5 = by_id["flywheel/kto/c5"]
    assert c5["label"] is False and c5["metadata"]["flywheel"]["follow_up"] == "不对，请再想想。"
    # disagreeing thumbs: uncertain, not training data
    assert by_id["flywheel/uncertain/c6"]["metadata"]["flywheel"]["uncertain"] == "thumbs_up_and_down"
    assert "flywheel/sft/c6" not in by_id and "flywheel/kto/c6" not in by_id
    assert counts["sft:thumbs_up"] == 1 and counts["preference:regeneration"] == 1
    assert {k: len(v) for k, v in recs.items()} == {"sft": 2, "preference": 2, "kto": 3, "uncertain": 1}


def test_quality_model_sends_unsure_answers_to_people(tmp_path):
    import numpy as np
    from sklearn.feature_extraction.text import HashingVectorizer

    from datamill.flywheel.derive import route_unsure
    from datamill.post.quality_model import train_quality_model

    vec = HashingVectorizer(analyzer="char_wb", ngram_range=(2, 4), n_features=256, norm="l2", alternate_sign=False)

    def embed(texts):
        return vec.transform(list(texts)).toarray().astype(np.float32)

    good = [{"id": f"g{i}", "kind": "kto", "messages": [{"role": "user", "content": f"Question {i}?"}],
             "completion": [{"role": "assistant", "content": "A careful, correct and complete answer."}], "label": True}
            for i in range(30)]
    bad = [{"id": f"b{i}", "kind": "kto", "messages": [{"role": "user", "content": f"Question {i}?"}],
            "completion": [{"role": "assistant", "content": "idk lol"}], "label": False} for i in range(30)]
    model = train_quality_model(good + bad, embed_fn=embed, epochs=200)
    batch = read_logs([str(write_log(tmp_path / "log.jsonl", with_bad=False))])
    recs, counts = derive_records(batch)
    n_kto = len(recs["kto"])
    route_unsure(recs, model, band=(0.0, 1.0), counts=counts)  # a band over everything moves every KTO record
    assert recs["kto"] == [] and counts["uncertain:quality_model_unsure"] == n_kto
    recs, counts = derive_records(batch)
    route_unsure(recs, model, band=(2.0, 3.0), counts=counts)  # an empty band moves none, scores are kept
    assert len(recs["kto"]) == n_kto
    assert all(0.0 <= r["signals"]["flywheel"]["quality_score"] <= 1.0 for r in recs["kto"])
    assert model.predict(good[:1])[0] > model.predict(bad[:1])[0]
