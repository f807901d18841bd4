"""Export of accepted annotations as datamill post-training records: SFT from rewrites,
preference pairs from rankings / pairwise / ratings with annotation_metrics, KTO, ranking lists,
prompts; provenance on every record; the records go through datamill.post.formats writers.

(Named test_annotate_export.py: tests/post/test_export.py already takes the basename.)"""

from __future__ import annotations

from click.testing import CliRunner

from annotate_helpers import new_project, next_task, pair, ranked, rate_rank_answer, response_index, sft, submit
from datamill.post.formats import read_records, write_records


def _annotate_all(api, pid, users, answer_for, review=True):
    """Each user answers every task they get; ``answer_for(user, task)``; then rev1 accepts all."""
    for u in users:
        while (t := next_task(api, u, pid)) is not None:
            r = submit(api, u, t["id"], answer_for(u, t))
            assert r.status_code == 200, r.text
    if review:
        for q in api("rev1").get(f"/api/projects/{pid}/reviews").json():
            assert api("rev1").post(f"/api/reviews/{q['id']}", json={"decision": "accept"}).status_code == 200


def _export(api, pid, kind, **params):
    r = api("admin").get(f"/api/projects/{pid}/export", params={"kind": kind, **params})
    assert r.status_code == 200, r.text
    return r.json()["records"]


def test_preference_from_rankings_with_annotation_metrics(api, tmp_path):
    pid = new_project(api, records=[pair(0), pair(1)], overlap=2)
    _annotate_all(api, pid, ["ann1", "ann2"], lambda u, t: rate_rank_answer(best=response_index(t, "Good")))
    recs = _export(api, pid, "preference")
    assert len(recs) == 2
    rec = recs[0]
    assert rec["kind"] == "preference" and rec["chosen"][0]["content"] == "Good answer 0."
    assert rec["rejected"][0]["content"] == "Bad answer 0."
    assert rec["ratings"] == {"accuracy": 5.0, "safety": 5.0, "helpfulness": 5.0}
    assert rec["metadata"]["annotation_metrics"]["rejected"] == {"accuracy": 2.0, "safety": 4.0, "helpfulness": 2.0}
    prov = rec["metadata"]["annotation"]
    assert sorted(a["user"] for a in prov["annotators"]) == ["ann1", "ann2"]
    assert all(a["reviewer"] == "rev1" and a["decision"] == "accept" and a["round"] == 1 and a["submitted_at"]
               for a in prov["annotators"])
    assert prov["agreement"]["ranking"] == 1.0 and prov["derived_from"] == "ranking"
    assert prov["source_id"] == "pair-0" and prov["chosen"] == "chosen"
    # the records are valid datamill post records: every converter writes them
    for fmt in ("datamill", "trl", "sharegpt"):
        out = tmp_path / f"pairs-{fmt}.jsonl"
        write_records(recs, str(out), fmt)
        back = list(read_records(str(out)))
        assert len(back) == 2 and back[0]["chosen"][0]["content"] == "Good answer 0."


def test_disagreement_lowers_item_agreement(api):
    pid = new_project(api, records=[pair(0)], overlap=2)

    def answer(u, t):
        good = response_index(t, "Good")
        return rate_rank_answer(best=good if u == "ann1" else 1 - good)

    _annotate_all(api, pid, ["ann1", "ann2"], answer)
    recs = _export(api, pid, "preference")
    assert recs == []  # mean ranks tie: no pair
    ranking = _export(api, pid, "ranking")
    assert ranking == []  # ranks tie, ratings tie too (5,5,5 vs 2,4,2 swapped) -> no order either
    kto = _export(api, pid, "kto")
    assert {r["metadata"]["annotation"]["agreement"]["ranking"] for r in kto} == {0.5}


def test_all_pairs_and_ranking_records_from_three_responses(api):
    pid = new_project(api, template="oa_ranking", records=[ranked(0, 3)])

    def answer(u, t):
        order = [response_index(t, f"reply 0.{j}") for j in range(3)]  # reply 0.0 best
        return {"ranking": [order.index(i) + 1 for i in range(3)]}

    _annotate_all(api, pid, ["ann1"], answer)
    pairs = _export(api, pid, "preference", pairs="all")
    assert len(pairs) == 3
    assert {(p["chosen"][0]["content"], p["rejected"][0]["content"]) for p in pairs} == {
        ("reply 0.0", "reply 0.1"), ("reply 0.0", "reply 0.2"), ("reply 0.1", "reply 0.2")}
    assert len(_export(api, pid, "preference")) == 1  # best vs worst
    rk = _export(api, pid, "ranking")[0]
    ranks = {r["messages"][0]["content"]: r["rank"] for r in rk["responses"]}
    assert ranks == {"reply 0.0": 1, "reply 0.1": 2, "reply 0.2": 3}


def test_pairwise_majority_and_ties(api):
    pid = new_project(api, template="pairwise", records=[pair(0), pair(1)], overlap=3)

    def answer(u, t):
        good = "AB"[response_index(t, "Good")]
        bad = "AB"[1 - response_index(t, "Good")]
        if t["item"]["external_id"] == "pair-0":
            return {"choice": bad if u == "ann3" else good}        # 2 of 3 prefer the good one
        return {"choice": {"ann1": good, "ann2": bad, "ann3": "tie"}[u]}  # no majority

    _annotate_all(api, pid, ["ann1", "ann2", "ann3"], answer)
    recs = _export(api, pid, "preference")
    assert len(recs) == 1 and recs[0]["chosen"][0]["content"] == "Good answer 0."
    assert abs(recs[0]["metadata"]["annotation"]["agreement"]["choice"] - 2 / 3) < 1e-9
    assert len(recs[0]["metadata"]["annotation"]["annotators"]) == 3


def test_kto_from_ratings(api):
    pid = new_project(api, template="write_better_answer", records=[sft(0), sft(1), sft(2)])
    vals = {"sft-0": 5, "sft-1": 1, "sft-2": 3}   # 3 is the middle of 1-5: left out

    def answer(u, t):
        v = vals[t["item"]["external_id"]]
        return {"ratings": [{"accuracy": v, "safety": v, "helpfulness": v}], "rewrite": "Better."}

    _annotate_all(api, pid, ["ann1"], answer)
    kto = _export(api, pid, "kto")
    labels = {r["metadata"]["annotation"]["item"]: r["label"] for r in kto}
    assert labels == {"sft-0": True, "sft-1": False}
    assert kto[0]["completion"][0]["content"] == "Thing 0 is a thing." and kto[0]["ratings"]["accuracy"] == 5.0
    sft_recs = _export(api, pid, "sft")
    assert len(sft_recs) == 3 and all(r["messages"][-1] == {"role": "assistant", "content": "Better."}
                                      for r in sft_recs)
    assert sft_recs[0]["messages"][0]["content"] == "Explain thing 0."


def test_only_accepted_answers_are_exported(api):
    pid = new_project(api, template="write_better_answer", records=[sft(0), sft(1)], review_rounds=1)
    _annotate_all(api, pid, ["ann1"], lambda u, t: {"rewrite": f"rewrite of {t['item']['external_id']}"},
                  review=False)
    assert _export(api, pid, "sft") == []
    q = api("rev1").get(f"/api/projects/{pid}/reviews").json()
    api("rev1").post(f"/api/reviews/{q[0]['id']}", json={"decision": "accept"})
    api("rev1").post(f"/api/reviews/{q[1]['id']}", json={"decision": "reject", "comment": "no"})
    out = _export(api, pid, "sft")
    assert len(out) == 1 and out[0]["metadata"]["annotation"]["annotators"][0]["user"] == "ann1"


def test_prompts_chain_into_reply_writing(api, client):
    docs = [{"id": f"doc-{i}", "text": f"A document about topic {i}."} for i in range(2)]
    pid = new_project(api, name="oa1", template="oa_prompt_writing", records=docs, review_rounds=0)
    _annotate_all(api, pid, ["ann1"], lambda u, t: {"prompt": f"Tell me about {t['item']['view']['document']}"},
                  review=False)
    prompts = _export(api, pid, "prompts")
    assert len(prompts) == 2 and prompts[0]["prompt"].startswith("Tell me about")
    pid2 = new_project(api, name="oa3", template="oa_reply_writing", records=prompts, review_rounds=0)
    t = next_task(api, "ann1", pid2)
    assert t["item"]["view"]["kind"] == "prompt" and t["item"]["view"]["prompt"][0]["role"] == "user"
    assert submit(api, "ann1", t["id"], {"reply": "Here is my reply."}).status_code == 200
    out = _export(api, pid2, "sft")
    assert out[0]["messages"][-1]["content"] == "Here is my reply." and out[0]["messages"][0]["role"] == "user"


def test_cli_export_and_status(app, api, tmp_path):
    from datamill.cli import main

    pid = new_project(api, records=[pair(0)], review_rounds=0)
    _annotate_all(api, pid, ["ann1"], lambda u, t: rate_rank_answer(best=response_index(t, "Good")), review=False)
    db = str(app.state.engine.url.render_as_string(hide_password=False))
    out = tmp_path / "pairs.jsonl"
    res = CliRunner().invoke(main, ["annotate", "export", "p", str(out), "--kind", "preference", "--format", "trl",
                                    "--db", db])
    assert res.exit_code == 0, res.output
    back = list(read_records(str(out)))
    assert len(back) == 1 and back[0]["chosen"][0]["content"] == "Good answer 0."
    res = CliRunner().invoke(main, ["annotate", "status", str(pid), "--db", db])
    assert res.exit_code == 0 and "1/1 items complete" in res.output
    res = CliRunner().invoke(main, ["annotate", "export", "nope", str(out), "--db", db])
    assert res.exit_code == 2 and "no project" in res.output
