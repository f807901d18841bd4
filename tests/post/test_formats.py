"""Format conversion on the shared post-training data: every file reads into the internal schema,
writes back to its own format unchanged, and round-trips through every format that can hold it."""

from __future__ import annotations

import copy
import gzip
import json
import re
from functools import lru_cache

import pytest

from datamill.post.formats import (FORMATS, BadRecord, FormatError, ReadReport, from_internal, iter_rows,
                                   read_records, to_internal, write_records)

# file (under shared data) -> (detected format, records, kind)
FILES = {
    "instruction_sft/alpaca/seed_tasks.jsonl": ("self_instruct", 175, "sft"),
    "instruction_sft/fastchat/dummy_conversation.json": ("sharegpt", 500, "sft"),
    "instruction_sft/llamafactory/alpaca_en_demo.json": ("alpaca", 999, "sft"),
    "instruction_sft/llamafactory/alpaca_zh_demo.json": ("alpaca", 1000, "sft"),
    "instruction_sft/llamafactory/glaive_toolcall_en_demo.json": ("sharegpt", 300, "sft"),
    "instruction_sft/llamafactory/glaive_toolcall_zh_demo.json": ("sharegpt", 300, "sft"),
    "instruction_sft/llamafactory/identity.json": ("alpaca", 91, "sft"),
    "instruction_sft/llamafactory/reason_tool_use_demo_50.jsonl": ("llamafactory_v1", 50, "sft"),
    "instruction_sft/llamafactory/v1_sft_demo.jsonl": ("llamafactory_v1", 500, "sft"),
    "instruction_sft/llamafactory_2023-08/lima.json": ("alpaca", 1029, "sft"),
    "instruction_sft/llamafactory_2023-08/oaast_sft_zh.json": ("alpaca", 689, "sft"),
    "instruction_sft/llamafactory_2023-08/self_cognition.json": ("alpaca", 80, "sft"),
    "preference/hh-rlhf/harmless-base/test.jsonl.gz": ("hh_rlhf", 2312, "preference"),
    "preference/llamafactory/dpo_en_demo.json": ("sharegpt", 300, "preference"),
    "preference/llamafactory/dpo_zh_demo.json": ("sharegpt", 300, "preference"),
    "preference/llamafactory/kto_en_demo.json": ("openai", 300, "kto"),
    "preference/llamafactory/v1_dpo_demo.jsonl": ("llamafactory_v1", 10, "preference"),
}
NOT_POST_TRAINING = {"instruction_sft/llamafactory/c4_demo.jsonl", "instruction_sft/llamafactory/wiki_demo.txt"}
POSITIONAL_TOOL_IDS = {"sharegpt", "llamafactory_v1"}  # formats where tool-call ids are positional


@lru_cache(maxsize=None)
def _load(path: str):
    report = ReadReport()
    errors: list = []
    records = list(read_records(path, errors=errors, report=report))
    rows = [row for _, row in iter_rows(path)]
    return records, rows, report, errors


def _norm_row(obj):
    """JSON-in-strings parsed, empty optional alpaca/sharegpt columns dropped."""
    def fix(x):
        if isinstance(x, dict):
            out = {}
            for k, v in x.items():
                if isinstance(v, str) and (k == "tools" or (k == "value" and (x.get("from") == "function_call"
                                                                             or x.get("type") == "tool_call"))):
                    v = json.loads(v)
                out[k] = fix(v)
            for k in ("history", "system", "tools"):
                if k in out and out[k] in ([], "", None):
                    del out[k]
            return out
        if isinstance(x, list):
            return [fix(i) for i in x]
        return x
    return fix(json.loads(json.dumps(obj)))


_GEN_ID = re.compile(r"call_\d+_\d+$")


def _canon(record: dict, fmt: str) -> dict:
    """What must survive a round trip through ``fmt``: everything but id and metadata; tool-call
    ids only where the format has them (and not the positional ones the openai writer adds)."""
    rec = copy.deepcopy({k: v for k, v in record.items() if k not in ("id", "metadata")})
    for side in ("messages", "chosen", "rejected", "completion"):
        for m in rec.get(side) or []:
            for c in m.get("tool_calls") or []:
                if fmt in POSITIONAL_TOOL_IDS or _GEN_ID.match(c.get("id", "")):
                    c.pop("id", None)
            if fmt in POSITIONAL_TOOL_IDS or _GEN_ID.match(m.get("tool_call_id", "")):
                m.pop("tool_call_id", None)
            if fmt in POSITIONAL_TOOL_IDS and m.get("role") == "tool":
                m.pop("name", None)
    if fmt == "trl_standard_implicit" and rec.get("kind") == "preference":
        prompt = "".join(m["content"] for m in rec["messages"])
        for side in ("chosen", "rejected"):
            rec[side] = prompt + "".join((f"<think>{m['reasoning']}</think>" if "reasoning" in m else "")
                                         + m["content"] for m in rec[side])
        rec["messages"] = None
    return rec


@pytest.mark.parametrize("rel", sorted(FILES))
def test_file_reads_and_writes_back_unchanged(shared_data, rel):
    path = str(shared_data / rel)
    fmt, count, kind = FILES[rel]
    records, rows, report, errors = _load(path)
    assert errors == []
    assert report.formats[path] == fmt
    assert len(records) == count and {r["kind"] for r in records} == {kind}
    assert len({r["id"] for r in records}) == count
    for rec in records[:3]:
        assert rec["metadata"]["source"] == path and rec["metadata"]["format"] == fmt
    assert len(rows) == count
    for rec, row in zip(records, rows):
        assert _norm_row(from_internal(rec, fmt)) == _norm_row(row)


@pytest.mark.parametrize("rel", sorted(FILES))
def test_round_trip_through_every_format_that_holds_it(shared_data, rel):
    records, *_ = _load(str(shared_data / rel))
    held = {}
    for fmt in FORMATS:
        ok = 0
        for rec in records:
            try:
                row = from_internal(rec, fmt)
            except FormatError as exc:
                assert exc.field is not None and exc.why
                continue
            back = to_internal(json.loads(json.dumps(row)), fmt, id=rec["id"])
            assert _canon(back, fmt) == _canon(rec, fmt), (fmt, rec["id"])
            ok += 1
        held[fmt] = ok
    # every file goes to the general formats in full
    for fmt in ("openai", "trl", "trl_implicit", "datamill"):
        assert held[fmt] == len(records), fmt


def test_what_each_format_holds(shared_data):
    glaive, *_ = _load(str(shared_data / "instruction_sft/llamafactory/glaive_toolcall_en_demo.json"))
    with_call = next(r for r in glaive if any(m.get("tool_calls") for m in r["messages"]))
    assert all(from_internal(with_call, f) for f in ("sharegpt", "openai", "trl", "llamafactory_v1"))
    no_tools = {k: v for k, v in with_call.items() if k != "tools"}
    with pytest.raises(FormatError) as err:
        from_internal(no_tools, "alpaca")
    assert "tool" in str(err.value) and err.value.field.startswith("messages[")
    with pytest.raises(FormatError, match="tool schemas"):
        from_internal(with_call, "alpaca")
    reason, *_ = _load(str(shared_data / "instruction_sft/llamafactory/reason_tool_use_demo_50.jsonl"))
    thinking_call = next(r for r in reason if any(m.get("tool_calls") and "reasoning" in m for m in r["messages"]))
    with pytest.raises(FormatError, match="reasoning and a function call"):
        from_internal(thinking_call, "sharegpt")
    kto, *_ = _load(str(shared_data / "preference/llamafactory/kto_en_demo.json"))
    with pytest.raises(FormatError, match="cannot hold 'kto'"):
        from_internal(kto[0], "hh_rlhf")
    ranking = {"id": "r", "kind": "ranking", "messages": [{"role": "user", "content": "q"}], "metadata": {},
               "responses": [{"messages": [{"role": "assistant", "content": "a"}], "rank": 1}]}
    for fmt in FORMATS:
        if fmt != "datamill":
            with pytest.raises(FormatError, match="ranking"):
                from_internal(ranking, fmt)
    system_pair = {"id": "p", "kind": "preference", "metadata": {},
                   "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "q"}],
                   "chosen": [{"role": "assistant", "content": "a"}], "rejected": [{"role": "assistant", "content": "b"}]}
    with pytest.raises(FormatError, match="'system' message") as err:
        from_internal(system_pair, "hh_rlhf")
    assert err.value.field == "chosen[0].role"
    with pytest.raises(FormatError, match="trl_standard cannot hold a .system. message"):
        from_internal(system_pair, "trl_standard")


def test_hh_rlhf_implicit_prompt_split_and_byte_exact(shared_data):
    path = str(shared_data / "preference/hh-rlhf/harmless-base/test.jsonl.gz")
    records, rows, *_ = _load(path)
    single = [r for r in records if len(r["chosen"]) == 1 and len(r["rejected"]) == 1]
    assert len(single) >= 2300  # all but a handful differ only in the last assistant turn
    for rec, row in zip(records, rows):
        assert rec["messages"][0]["role"] == "user"
        assert from_internal(rec, "hh_rlhf") == row  # byte for byte
    first = records[0]
    assert first["messages"][-1] == {"role": "user", "content": "okay some of these do not have anything to do with pens"}
    assert first["chosen"][0]["content"].startswith("No, sorry!")
    # the TRL implicit-prompt writer joins them back into the same dialogues
    implicit = from_internal(first, "trl_implicit")
    assert [m["role"] for m in implicit["chosen"]][-2:] == ["user", "assistant"]
    assert to_internal(implicit, "trl", id="x")["messages"] == first["messages"]


def test_alpaca_input_and_history_follow_llamafactory():
    rec = to_internal({"instruction": "Translate", "input": "Hallo", "output": "Hello", "system": "Be brief",
                       "history": [["hi", "hey"]]}, "alpaca", id="a")
    assert [m["role"] for m in rec["messages"]] == ["system", "user", "assistant", "user", "assistant"]
    assert rec["messages"][3]["content"] == "Translate\nHallo"
    assert from_internal(rec, "alpaca") == {"instruction": "Translate", "input": "Hallo", "output": "Hello",
                                            "system": "Be brief", "history": [["hi", "hey"]]}
    assert to_internal({"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]},
                       "auto")["messages"][1] == {"role": "assistant", "content": "a"}
    think = to_internal({"instruction": "q", "output": "<think>hmm</think>A"}, "alpaca")
    assert think["messages"][-1] == {"role": "assistant", "content": "A", "reasoning": "hmm"}
    assert from_internal(think, "openai")["messages"][-1]["reasoning_content"] == "hmm"


def test_bad_rows_are_quarantined_with_file_and_line(tmp_path):
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b'{"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "yo"}]}\n'
                     b'{"conversations": [{"from": "bot", "value": "?"}]}\n'
                     b'not json\n'
                     b'[1, 2]\n'
                     b'{"conversations": [{"from": "human", "value": "a"}, {"from": "function_call", "value": "x"}]}\n'
                     b'\xff\xfe{"a": 1}\n'
                     b'{"conversations": [{"from": "human", "value": "ok"}, {"from": "gpt", "value": "fine"}]}\n')
    errors: list[BadRecord] = []
    report = ReadReport()
    recs = list(read_records(str(path), errors=errors, report=report))
    assert [r["metadata"]["line"] for r in recs] == [1, 7]
    assert [(e.kind, e.line) for e in errors] == [("unconvertible", 2), ("malformed_json", 3), ("malformed_json", 4),
                                                  ("unconvertible", 5), ("invalid_utf8", 6)]
    assert "unknown role tag 'bot'" in errors[0].reason and errors[0].field == "conversations[0].from"
    assert str(errors[0]).startswith(f"{path}:2")
    assert report.errors["unconvertible: conversations[].from"] == 1
    with pytest.raises(BadRecord):  # without an errors list the first bad row is raised
        list(read_records(str(path)))


def test_bom_and_cut_compressed_files(tmp_path):
    """A byte-order mark before the first row is read past; a .zst or .gz file cut short keeps
    its whole rows and quarantines the cut as truncated_file (not as malformed JSON)."""
    import zstandard

    row = {"conversations": [{"from": "human", "value": "李白是谁"}, {"from": "gpt", "value": "唐代诗人。"}]}
    line = json.dumps(row, ensure_ascii=False).encode() + b"\n"
    bom = tmp_path / "bom.jsonl"
    bom.write_bytes(b"\xef\xbb\xbf" + line + line)
    errors: list[BadRecord] = []
    assert len(list(read_records(str(bom), errors=errors))) == 2 and not errors
    for name, data in (("cut.jsonl.zst", zstandard.ZstdCompressor().compress(line * 400)),
                       ("cut.jsonl.gz", gzip.compress(line * 400))):
        path = tmp_path / name
        path.write_bytes(data[: len(data) * 2 // 3])
        errors = []
        recs = list(read_records(str(path), errors=errors))
        assert [e.kind for e in errors] == ["truncated_file"], (name, errors)
        assert all(r["messages"][0]["content"] == "李白是谁" for r in recs)


def test_override_format_and_options(tmp_path):
    path = tmp_path / "custom.json"
    path.write_text(json.dumps([{"q": "2+2?", "a": "4", "sys": "math"}]))
    recs = list(read_records(str(path), "alpaca", columns={"prompt": "q", "response": "a", "system": "sys"}))
    assert recs[0]["messages"] == [{"role": "system", "content": "math"}, {"role": "user", "content": "2+2?"},
                                   {"role": "assistant", "content": "4"}]
    with pytest.raises(Exception, match="no option"):
        list(read_records(str(path), "openai", columns={"prompt": "q"}))


def test_write_records_atomic_formats_and_errors(tmp_path, shared_data):
    records, *_ = _load(str(shared_data / "instruction_sft/llamafactory/glaive_toolcall_en_demo.json"))
    out = tmp_path / "out.jsonl.gz"
    errors: list = []
    rep = write_records(records, str(out), "alpaca", errors=errors)
    assert rep.written + len(errors) == 300 and rep.written == 109
    assert {e.kind for e in errors} == {"cannot_write"} and rep.errors == {"cannot_write: tools": 191}
    with gzip.open(out, "rt") as fh:
        assert len(fh.readlines()) == 109
    strict = tmp_path / "strict.json"
    with pytest.raises(FormatError):
        write_records(records, str(strict), "alpaca")
    assert not strict.exists() and not list(tmp_path.glob(".tmp-*"))
    arr = tmp_path / "arr.json"
    write_records(records[:3], str(arr), "sharegpt")
    assert len(json.loads(arr.read_text())) == 3
    back = list(read_records(str(arr)))
    assert [_canon(r, "sharegpt") for r in back] == [_canon(r, "sharegpt") for r in records[:3]]
    empty = tmp_path / "empty.json"
    write_records([], str(empty), "openai")
    assert json.loads(empty.read_text()) == []


def test_reading_a_datamill_output_folder_reads_only_its_records(tmp_path):
    from datamill.post.formats import read_records, write_records
    from datamill.post import schema

    out = tmp_path / "out"
    (out / ".datamill" / "work").mkdir(parents=True)
    (out / ".datamill" / "run.json").write_text("{}")
    recs = [schema.sft(str(i), [schema.message("user", f"q{i}"), schema.message("assistant", f"a{i}")])
            for i in range(3)]
    write_records(recs, str(out / "part-00000.jsonl"), "datamill")
    write_records(recs, str(out / ".datamill" / "work" / "part-00000.jsonl"), "datamill")
    (out / "stats.json").write_text('{"steps": []}')
    assert [r["id"] for r in read_records(str(out))] == ["0", "1", "2"]
