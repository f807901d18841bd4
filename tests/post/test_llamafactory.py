"""LLaMA-Factory's dataset_info.json: load entries the way LLaMA-Factory does; write one beside an export."""

from __future__ import annotations

import json

import pytest

from datamill.post.formats import DatasetInfoError, FormatError, read_records, write_records


@pytest.fixture()
def lf(shared_data):
    return shared_data / "instruction_sft" / "llamafactory"


def test_entries_load_like_llamafactory(lf, shared_data):
    info = str(lf / "dataset_info.json")
    glaive = list(read_records(str(lf), dataset="glaive_toolcall_en_demo"))
    assert len(glaive) == 300 and sum(bool(r.get("tools")) for r in glaive) == 191
    alpaca = list(read_records(info, dataset="alpaca_en_demo"))
    assert len(alpaca) == 999 and alpaca[0]["messages"][0]["role"] == "user"
    # the preference demos live in another folder: the folder is the dataset dir
    pref = shared_data / "preference" / "llamafactory"
    dpo = list(read_records(str(pref), dataset="dpo_en_demo", dataset_info=info))
    assert len(dpo) == 300 and {r["kind"] for r in dpo} == {"preference"}
    kto = list(read_records(str(pref), dataset="kto_en_demo", dataset_info=info))  # OpenAI-style tags, kto_tag: label
    assert len(kto) == 300 and {r["kind"] for r in kto} == {"kto"}
    assert sum(r["label"] for r in kto) == 150


def test_refused_entries(lf, shared_data):
    with pytest.raises(DatasetInfoError, match="pretraining"):
        list(read_records(str(lf), dataset="c4_demo"))
    with pytest.raises(DatasetInfoError, match="hf_hub_url"):
        list(read_records(str(lf), dataset="alpaca_en"))
    with pytest.raises(DatasetInfoError, match="did you mean 'identity'"):
        list(read_records(str(lf), dataset="identty"))
    with pytest.raises(DatasetInfoError, match="not found"):
        list(read_records(str(lf), dataset="dpo_en_demo"))


def test_strict_tags_from_the_entry(tmp_path):
    (tmp_path / "d.json").write_text(json.dumps([{"msgs": [{"r": "u", "c": "hi"}, {"r": "a", "c": "yo"}]},
                                                 {"msgs": [{"r": "human", "c": "hi"}, {"r": "a", "c": "yo"}]}]))
    (tmp_path / "dataset_info.json").write_text(json.dumps({"d": {
        "file_name": "d.json", "formatting": "sharegpt", "columns": {"messages": "msgs"},
        "tags": {"role_tag": "r", "content_tag": "c", "user_tag": "u", "assistant_tag": "a"}}}))
    errors: list = []
    recs = list(read_records(str(tmp_path), dataset="d", errors=errors))
    assert len(recs) == 1 and recs[0]["messages"][1] == {"role": "assistant", "content": "yo"}
    assert errors[0].index == 1 and "unknown role tag 'human'" in errors[0].reason


@pytest.mark.parametrize("fmt,name", [("alpaca", "a_sft"), ("sharegpt", "s_sft"), ("openai", "o_sft")])
def test_written_dataset_info_loads_back(tmp_path, lf, fmt, name):
    src = list(read_records(str(lf / "identity.json")))
    out = tmp_path / f"{name}.json"
    rep = write_records(src, str(out), fmt, dataset_info=name)
    info = json.loads((tmp_path / "dataset_info.json").read_text())
    assert info[name]["file_name"] == f"{name}.json" and rep.dataset_info.endswith("dataset_info.json")
    back = list(read_records(str(tmp_path), dataset=name))
    assert [r["messages"] for r in back] == [r["messages"] for r in src]


def test_written_dataset_info_for_preferences_and_tools(tmp_path, shared_data, lf):
    dpo = list(read_records(str(shared_data / "preference/llamafactory/dpo_en_demo.json")))
    write_records(dpo, str(tmp_path / "dpo.json"), "sharegpt", dataset_info="dpo")
    glaive = list(read_records(str(lf / "glaive_toolcall_en_demo.json")))
    write_records(glaive, str(tmp_path / "tools.json"), "sharegpt", dataset_info="tools")
    info = json.loads((tmp_path / "dataset_info.json").read_text())
    assert info["dpo"]["ranking"] is True and info["dpo"]["columns"]["chosen"] == "chosen"
    assert info["tools"]["columns"]["tools"] == "tools"
    back = list(read_records(str(tmp_path), dataset="dpo"))
    assert [(r["messages"], r["chosen"], r["rejected"]) for r in back] == \
        [(r["messages"], r["chosen"], r["rejected"]) for r in dpo]
    with pytest.raises(FormatError, match="sharegpt"):  # OpenAI tool calls are not LLaMA-Factory's shape
        write_records(glaive, str(tmp_path / "tools_openai.json"), "openai", dataset_info="x")
    with pytest.raises(FormatError, match="cannot load"):
        write_records(dpo, str(tmp_path / "dpo.jsonl"), "trl", dataset_info="y")
    assert not (tmp_path / "dpo.jsonl").exists()
