"""Export, completed (issue #10): Dawid-Skene aggregation with per-item posteriors, agreement per
question in the export's metadata, rankings with ties into pairwise preferences and KTO records,
and the round trip of those records through `datamill convert`."""

from __future__ import annotations

import json

from click.testing import CliRunner

from annotate_helpers import new_project, next_task, pair, ranked, response_index, submit
from datamill.post.formats import read_records


def _annotate_all(api, pid, users, answer_for):
    for u in users:
        while (t := next_task(api, u, pid)) is not None:
            assert submit(api, u, t["id"], answer_for(u, t)).status_code == 200
    for q in api("rev1").get(f"/api/projects/{pid}/reviews").json():
        assert api("rev1").post(f"/api/reviews/{q['id']}", json={"decision": "accept"}).status_code == 200


def _export(api, pid, kind, **params):
    r = api("admin").get(f"/api/projects/{pid}/export", params={"kind": kind, **params})
    assert r.status_code == 200, r.text
    return r.json()


def test_dawid_skene_export_with_posteriors(api):
    pid = new_project(api, template="pairwise", records=[pair(i) for i in range(8)], overlap=3)

    def answer(u, t):
        good = "AB"[response_index(t, "Good")]
        bad = "AB"[1 - response_index(t, "Good")]
        if t["item"]["external_id"] == "pair-7":
            return {"choice": {"ann1": good, "ann2": bad, "ann3": "tie"}[u]}   # no majority
        return {"choice": bad if u == "ann3" else good}                       # ann3 is always wrong

    _annotate_all(api, pid, ["ann1", "ann2", "ann3"], answer)
    maj = _export(api, pid, "preference")
    ds = _export(api, pid, "preference", aggregate="dawid-skene")
    assert maj["metadata"]["aggregate"] == "majority" and ds["metadata"]["aggregate"] == "dawid-skene"
    assert {r["metadata"]["annotation"]["item"] for r in maj["records"]} == {f"pair-{i}" for i in range(7)}
    by_item = {r["metadata"]["annotation"]["item"]: r for r in ds["records"]}
    for i in range(7):  # the clear items: the same preference, with the posterior of its label
        rec = by_item[f"pair-{i}"]
        assert rec["chosen"][0]["content"] == f"Good answer {i}."
        agg = rec["metadata"]["annotation"]["aggregate"]["choice"]
        assert agg["method"] == "dawid-skene" and 0.5 < agg["confidence"] <= 1.0 and agg["n_votes"] == 3
        assert abs(sum(agg["distribution"].values()) - 1.0) < 1e-6
        assert rec["metadata"]["annotation"]["derived_from"] == "pairwise (dawid-skene)"
    # Dawid-Skene learnt that ann3 is always wrong, so it resolves the tied item the way ann1 and ann2's
    # reliable track record says, with less than full confidence
    if "pair-7" in by_item:
        agg7 = by_item["pair-7"]["metadata"]["annotation"]["aggregate"]["choice"]
        assert agg7["confidence"] < by_item["pair-0"]["metadata"]["annotation"]["aggregate"]["choice"]["confidence"]
    m = maj["records"][0]["metadata"]["annotation"]["aggregate"]["choice"]
    assert m["method"] == "majority" and abs(m["confidence"] - 2 / 3) < 1e-6
    # agreement per question in the export's metadata
    ag = ds["metadata"]["agreement"]["questions"]["choice"]
    assert ag["n_tasks"] == 8 and isinstance(ag["krippendorff_alpha"], float)
    assert "mean" in ds["metadata"]["ratings"]


def test_rankings_with_ties_become_pairs_and_kto(api):
    pid = new_project(api, template="oa_ranking", records=[ranked(0, n=4)], overlap=2)
    ranks = {"ann1": {0: 1, 1: 2, 2: 3, 3: 4}, "ann2": {0: 2, 1: 1, 2: 4, 3: 3}}
    # mean ranks: reply 0 and reply 1 tied first (1.5), reply 2 and reply 3 tied last (3.5)

    def answer(u, t):
        order = [int(r["messages"][0]["content"].split(".")[1]) for r in t["item"]["view"]["responses"]]
        return {"ranking": [ranks[u][j] for j in order]}

    _annotate_all(api, pid, ["ann1", "ann2"], answer)
    bw = _export(api, pid, "preference")["records"]
    pairs = {(r["chosen"][0]["content"], r["rejected"][0]["content"]) for r in bw}
    assert pairs == {(f"reply 0.{b}", f"reply 0.{w}") for b in (0, 1) for w in (2, 3)}   # ties never paired
    allp = _export(api, pid, "preference", pairs="all")["records"]
    assert {(r["chosen"][0]["content"], r["rejected"][0]["content"]) for r in allp} == pairs
    kto = _export(api, pid, "kto")["records"]
    got = {r["completion"][0]["content"]: r["label"] for r in kto}
    assert got == {"reply 0.0": True, "reply 0.1": True, "reply 0.2": False, "reply 0.3": False}
    assert len({r["id"] for r in kto}) == 4


def test_exported_pairs_and_kto_round_trip_through_datamill_convert(api, app, tmp_path):
    from datamill.cli import main

    pid = new_project(api, name="rt", template="oa_ranking", records=[ranked(i, n=3) for i in range(3)], overlap=2)

    def answer(u, t):
        order = [int(r["messages"][0]["content"].split(".")[1]) for r in t["item"]["view"]["responses"]]
        return {"ranking": [j + 1 for j in order]}   # reply i.0 best, i.2 worst

    _annotate_all(api, pid, ["ann1", "ann2"], answer)
    db = str(app.state.engine.url)
    runner = CliRunner()
    for kind, fmt in (("preference", "trl"), ("kto", "trl"), ("preference", "sharegpt")):
        out = tmp_path / f"{kind}.jsonl"
        res = runner.invoke(main, ["annotate", "export", "rt", str(out), "--kind", kind, "--pairs", "all",
                                   "--db", db])
        assert res.exit_code == 0, res.output
        meta = json.loads((tmp_path / f"{kind}.jsonl.meta.json").read_text())
        assert meta["kind"] == kind and meta["count"] > 0 and "ranking" in meta["agreement"]["questions"]
        conv = tmp_path / f"{kind}-{fmt}.jsonl"
        res = runner.invoke(main, ["convert", str(out), str(conv), "--to", fmt])
        assert res.exit_code == 0, res.output
        original = list(read_records(str(out)))
        back = list(read_records(str(conv)))
        assert len(back) == len(original) == meta["count"]
        if kind == "preference":
            assert len(original) == 9   # 3 items x 3 pairs
            key = lambda r: (r["messages"][-1]["content"], r["chosen"][-1]["content"], r["rejected"][-1]["content"])
            assert sorted(map(key, back)) == sorted(map(key, original))
            assert all(c < r for _, c, r in map(key, back))   # reply i.0 over i.1 over i.2
        else:
            assert len(original) == 6   # best desirable, worst undesirable, per item
            key = lambda r: (r["messages"][-1]["content"], r["completion"][-1]["content"], r["label"])
            assert sorted(map(key, back)) == sorted(map(key, original))
