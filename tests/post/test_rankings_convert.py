"""LLaMA-Factory's 2023-08 ranked layout, `formatting: openai` entries, ranking -> pairs -> KTO,
and a convert that writes nothing leaving no file (issue #9, exports every trainer accepts)."""

from __future__ import annotations

import json

from click.testing import CliRunner

from datamill.cli import main
from datamill.post.formats import convert, read_records
from datamill.post.rankings import pair_to_kto, ranking_to_pairs
from datamill.post.schema import message, preference


def _ranked_rows(shared_data=None):
    """Rows in the 2023-08 ranked layout; Chinese text from dpo_zh_demo when the data is there."""
    if shared_data is not None:
        recs = list(read_records(str(shared_data / "preference/llamafactory/dpo_zh_demo.json")))[:6]
        return [{"instruction": r["messages"][-1]["content"], "input": "",
                 "output": [r["chosen"][0]["content"], r["rejected"][0]["content"]]} for r in recs]
    return [{"instruction": "李白是谁？", "input": "", "output": ["唐代诗人。", "不知道。"]},
            {"instruction": "1+2", "input": "", "output": ["3", "4", "5"]}]


def _lf_folder(tmp_path, rows, entry):
    (tmp_path / "cmp.json").write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    (tmp_path / "dataset_info.json").write_text(json.dumps({"cmp": {"file_name": "cmp.json", **entry}}),
                                                encoding="utf-8")
    return tmp_path


def test_2023_08_ranked_layout_reads(tmp_path):
    folder = _lf_folder(tmp_path, _ranked_rows(), {"ranking": True})
    bad: list = []
    recs = list(read_records(str(folder), dataset="cmp", dataset_info=str(folder / "dataset_info.json"), errors=bad))
    assert not bad
    assert recs[0]["kind"] == "preference" and recs[0]["chosen"][0]["content"] == "唐代诗人。"
    assert recs[0]["rejected"][0]["content"] == "不知道。"
    assert recs[1]["kind"] == "ranking" and [r["rank"] for r in recs[1]["responses"]] == [1, 2, 3]


def test_2023_08_ranked_layout_on_real_chinese_pairs(tmp_path, shared_data):
    folder = _lf_folder(tmp_path, _ranked_rows(shared_data), {"ranking": True})
    bad: list = []
    recs = list(read_records(str(folder), dataset="cmp", dataset_info=str(folder / "dataset_info.json"), errors=bad))
    assert len(recs) == 6 and not bad and all(r["kind"] == "preference" for r in recs)


def test_ranked_layout_errors_name_the_field(tmp_path):
    folder = _lf_folder(tmp_path, [{"instruction": "q", "output": ["only one"]},
                                   {"instruction": "q", "output": "a string, not a list"}], {"ranking": True})
    bad: list = []
    list(read_records(str(folder), dataset="cmp", dataset_info=str(folder / "dataset_info.json"), errors=bad))
    assert len(bad) == 2
    assert "at least two answers" in str(bad[0])
    assert "chosen" in str(bad[1]) and "NoneType" not in str(bad[1])


def test_formatting_openai_entries_are_read(tmp_path):
    rows = [{"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "你好"},
                          {"role": "assistant", "content": "你好！"}]}]
    folder = _lf_folder(tmp_path, rows, {"formatting": "openai"})
    recs = list(read_records(str(folder), dataset="cmp", dataset_info=str(folder / "dataset_info.json")))
    assert [m["role"] for m in recs[0]["messages"]] == ["system", "user", "assistant"]


def test_ranking_to_pairs_and_kto():
    rec = {"id": "r", "kind": "ranking", "messages": [message("user", "q")], "metadata": {},
           "responses": [{"messages": [message("assistant", t)], "rank": k} for t, k in (("b", 2), ("a", 1), ("c", 3))]}
    pairs = ranking_to_pairs(rec, "pairs")
    assert [(p["chosen"][0]["content"], p["rejected"][0]["content"]) for p in pairs] == [("a", "b"), ("a", "c"), ("b", "c")]
    [bw] = ranking_to_pairs(rec, "best-worst")
    assert (bw["chosen"][0]["content"], bw["rejected"][0]["content"], bw["id"]) == ("a", "c", "r#p1-3")
    kto = pair_to_kto(preference("p", [message("user", "q")], [message("assistant", "good")],
                                 [message("assistant", "bad")]))
    assert [(k["kind"], k["label"], k["completion"][0]["content"]) for k in kto] == [("kto", True, "good"), ("kto", False, "bad")]
    assert kto[0]["metadata"]["origin_id"] == "p"


def test_cli_convert_ranking_to_pairs_then_kto(tmp_path):
    folder = _lf_folder(tmp_path, _ranked_rows(), {"ranking": True})
    out = tmp_path / "kto.jsonl"
    r = CliRunner().invoke(main, ["convert", str(folder), str(out), "--dataset", "cmp", "--ranking-to", "pairs",
                                  "--to-kto", "--to", "trl"])
    assert r.exit_code == 0, r.output
    rows = [json.loads(l) for l in out.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 2 + 3 * 2 and {row["label"] for row in rows} == {True, False}


def test_convert_that_writes_nothing_leaves_no_file(tmp_path):
    src = tmp_path / "tools.jsonl"
    src.write_text(json.dumps({"messages": [{"role": "user", "content": "天气?"},
                                            {"role": "assistant", "content": "",
                                             "tool_calls": [{"type": "function", "function": {"name": "w", "arguments": "{}"}}]},
                                            {"role": "tool", "content": "晴"},
                                            {"role": "assistant", "content": "晴天。"}]}, ensure_ascii=False) + "\n")
    dst = tmp_path / "out.json"
    res = convert(str(src), str(dst), to="alpaca", errors=[])
    assert res["written"] == 0 and not dst.exists()
    r = CliRunner().invoke(main, ["convert", str(src), str(dst), "--to", "alpaca"])
    assert r.exit_code == 1 and "was not created" in r.output and not dst.exists()


def test_trl_standard_implicit_warns_when_the_prompt_boundary_moves(tmp_path):
    from datamill.post.formats import write_records

    same_start = preference("a", [message("user", "What is 2+2?")], [message("assistant", "The answer is 4.")],
                            [message("assistant", "The answer is 5.")])
    differ = preference("b", [message("user", "李白是谁？")], [message("assistant", "唐代诗人。")],
                        [message("assistant", "不知道。")])
    rep = write_records([same_start, differ], str(tmp_path / "x.jsonl"), "trl_standard_implicit")
    assert len(rep.warnings) == 1 and rep.warnings[0].startswith("1 of 2 pairs")
    back = list(read_records(str(tmp_path / "x.jsonl")))
    assert back[0]["messages"][0]["content"] != "What is 2+2?"      # the shift the warning is about
    assert back[1]["chosen"][0]["content"] == "唐代诗人。"
    assert not write_records([same_start], str(tmp_path / "y.jsonl"), "trl_standard").warnings
