"""Validation of post-training records: every rule with the file, record and field it names,
token limits with a real tokenizer, files in every shared format, and `datamill validate`."""

from __future__ import annotations

import gzip
import json
import pickle

import pytest
from click.testing import CliRunner

from datamill.cli import main
from datamill.post.schema import kto, message, preference, ranking, sft
from datamill.post.tokenizer import TokenCounter, load_tokenizer, train_tokenizer
from datamill.post.validate import (CODES, Issue, ValidationError, truncation_reason, validate_file,
                                    validate_record, validate_records)

U, A, S, T = "user", "assistant", "system", "tool"


def codes(record, **kw) -> list[tuple[str, str]]:
    return [(i.code, i.field) for i in validate_record(record, **kw)]


def chat(*turns, **extra):
    return sft("r1", [message(r, c) for r, c in turns], **extra)


# --- rules ----------------------------------------------------------------------------------------

def test_clean_records_have_no_issues():
    assert codes(chat((S, "Be brief."), (U, "Hi"), (A, "Hello!"), (U, "2+2?"), (A, "4."))) == []
    assert codes(preference("p", [message(U, "Q?")], [message(A, "Good.")], [message(A, "Bad.")])) == []
    assert codes(kto("k", [message(U, "Q?")], [message(A, "Yes.")], True)) == []
    resp = [{"messages": [message(A, "One.")], "rank": 1}, {"messages": [message(A, "Two.")], "rank": 2}]
    assert codes(ranking("x", [message(U, "Q?")], resp)) == []


def test_role_order_and_alternation():
    assert codes(chat((U, "a"), (U, "b"), (A, "c."))) == [("role_alternation", "messages[1]")]
    assert codes(chat((U, "a"), (A, "b."), (A, "c."))) == [("role_alternation", "messages[2]")]
    assert codes(chat((A, "Hi."), (U, "b"), (A, "c."))) == [("first_turn_not_user", "messages[0].role")]
    assert ("system_not_first", "messages[2].role") in codes(chat((U, "a"), (A, "b."), (S, "x"), (U, "c"), (A, "d.")))
    assert codes(chat((U, "a"), (A, "b."), ("bot", "c."))) [0] == ("unknown_role", "messages[2].role")


def test_empty_and_whitespace_turns():
    issues = validate_record(chat((U, "  \n\t"), (A, "")))
    assert [(i.code, i.field) for i in issues] == [("empty_turn", "messages[0].content"),
                                                   ("empty_turn", "messages[1].content")]
    assert "only whitespace" in issues[0].message and "empty" in issues[1].message
    assert all(i.severity == "error" and i.record_id == "r1" for i in issues)


def test_chat_must_end_with_assistant():
    assert codes(chat((U, "a"), (A, "b."), (U, "c"))) == [("no_final_assistant", "messages[2].role")]
    assert codes(preference("p", [message(U, "Q?")], [message(A, "x."), message(U, "more")],
                            [message(A, "y.")])) == [("no_final_assistant", "chosen[1].role")]
    assert codes(preference("p", [message(U, "Q?"), message(A, "pre.")], [message(A, "x.")],
                            [message(A, "y.")]))[0] == ("prompt_ends_with_assistant", "messages[1].role")


def test_missing_and_wrong_types():
    rec = preference("p", [message(U, "Q?")], [], [message(A, "y.")])
    assert codes(rec) == [("missing_field", "chosen")]
    rec = chat((U, "a"), (A, "b."))
    rec["messages"][1]["content"] = ["parts"]
    assert codes(rec) == [("wrong_type", "messages[1].content")]
    assert codes({"id": "x", "kind": "dpo", "messages": []}) == [("unknown_kind", "kind")]
    assert codes("not a dict") == [("not_a_record", "")]
    bad_kto = kto("k", [message(U, "Q?")], [message(A, "Yes.")], True)
    bad_kto["label"] = "yes"
    assert codes(bad_kto) == [("wrong_type", "label")]


def test_tool_calls():
    tools = [{"type": "function", "function": {"name": "weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]

    def conv(calls, result_id="c1"):
        return sft("t", [message(U, "Weather in Paris?"),
                         message(A, "", tool_calls=calls),
                         message(T, '{"temp": 20}', tool_call_id=result_id),
                         message(A, "It is 20 degrees.")], tools=tools)

    ok = [{"id": "c1", "name": "weather", "arguments": {"city": "Paris"}}]
    assert codes(conv(ok)) == []
    assert codes(conv([{"id": "c1", "name": "weather", "arguments": '{"city": "Paris"'}])) == [
        ("tool_call_bad_arguments", "messages[1].tool_calls[0].arguments")]
    assert codes(conv([{"id": "c1", "name": "weather", "arguments": "[1, 2]"}])) == [
        ("tool_call_bad_arguments", "messages[1].tool_calls[0].arguments")]
    assert codes(conv([{"id": "c1", "arguments": {}}])) == [("tool_call_malformed", "messages[1].tool_calls[0].name")]
    assert codes(conv([{"id": "c1", "name": "stocks", "arguments": {}}])) == [
        ("unknown_tool", "messages[1].tool_calls[0].name")]
    assert codes(conv([{"id": "c1", "name": "weather", "arguments": {}}])) == [
        ("tool_call_missing_argument", "messages[1].tool_calls[0].arguments")]
    assert codes(conv(ok, result_id="zz")) == [("tool_result_unmatched", "messages[2].tool_call_id"),
                                               ("tool_call_unanswered", "messages[3]")]
    # a tool result after a plain assistant turn, and a call never answered
    rec = sft("t", [message(U, "q"), message(A, "Let me see."), message(T, "{}"), message(A, "Done.")])
    assert ("tool_without_call", "messages[2]") in codes(rec)
    rec = sft("t", [message(U, "q"), message(A, "", tool_calls=ok), message(A, "Done.")], tools=tools)
    assert codes(rec) == [("tool_call_unanswered", "messages[2]")]
    # one result without an id may answer several calls
    two = [{"name": "weather", "arguments": {"city": "Paris"}}, {"name": "weather", "arguments": {"city": "Rome"}}]
    rec = sft("t", [message(U, "q"), message(A, "", tool_calls=two), message(T, "[{}, {}]"),
                    message(A, "Done.")], tools=tools)
    assert codes(rec) == []
    assert codes(sft("t", [message(U, "q"), message(A, "ok.")], tools=[{"type": "function"}])) == [
        ("tool_schema_malformed", "tools[0]")]


def test_chosen_identical_to_rejected():
    rec = preference("p", [message(U, "Q?")], [message(A, "Same  answer.")], [message(A, "Same answer.\n")])
    issues = validate_record(rec)
    assert [(i.code, i.field, i.severity) for i in issues] == [("chosen_equals_rejected", "rejected", "error")]
    resp = [{"messages": [message(A, "One.")], "rank": 1}, {"messages": [message(A, "One.")], "rank": 0}]
    assert codes(ranking("x", [message(U, "Q?")], resp)) == [("bad_rank", "responses[1].rank"),
                                                            ("duplicate_responses", "responses[1]")]
    assert codes(ranking("x", [message(U, "Q?")], resp[:1])) == [("too_few_responses", "responses")]


@pytest.mark.parametrize("text, cut", [
    ("Paris", False), ("42", False), ("The answer is 4.", False), ("Done!)", False),
    ("```python\nprint(1)\n```", False), ("Here is a list:\n- one\n- two", False),
    ("See https://example.com/a", False), ("Use C++", False), ("x = f(a);", False),
    ("1. Java 2. Python 3. C++", False),
    ("The main reasons are economic growth and", True),
    ("There are three steps, first you", False),  # 'you' is not a dangling word
    ("The steps are as follows:", True), ("Mix the flour, the sugar,", True),
    ("```python\nprint(1)\n", True),
    ("Photosynthesis is the process by which green plants use sunlight to make food from carbon dioxide and water", True),
    ("首先，我们需要准备材料，", True), ("这是一个很好的问题", False),
])
def test_truncation(text, cut):
    assert (truncation_reason(text) is not None) is cut, truncation_reason(text)


def test_truncated_response_is_a_warning_with_the_answers_field():
    rec = preference("p", [message(U, "Why?")], [message(A, "Because of the")], [message(A, "No.")])
    [issue] = validate_record(rec)
    assert (issue.code, issue.field, issue.severity) == ("truncated_response", "chosen[0].content", "warning")
    assert "'the'" in issue.message
    assert validate_record(rec, truncation=False) == []


def test_every_code_has_a_severity_and_a_meaning():
    for code, (severity, meaning) in CODES.items():
        assert severity in ("error", "warning") and meaning


# --- tokens ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def small_tokenizer(tmp_path_factory):
    texts = ["the quick brown fox jumps over the lazy dog"] * 50 + ["hello world, how are you?"] * 50
    path = tmp_path_factory.mktemp("tok") / "tokenizer.json"
    train_tokenizer(texts, vocab_size=300, min_frequency=1).save(str(path))
    return str(path)


def test_token_counter_loads_a_tokenizer_json_and_pickles(small_tokenizer):
    counter = load_tokenizer(small_tokenizer)
    n = counter.count("the quick brown fox")
    assert 1 <= n <= 19
    assert counter.count_batch(["the quick brown fox", "", "hello"]) == [n, 0, counter.count("hello")]
    again = pickle.loads(pickle.dumps(counter))
    assert isinstance(again, TokenCounter) and again.count("the quick brown fox") == n


def test_byte_level_bound_holds(small_tokenizer, shared_data):
    """Conversations are not tokenized when their UTF-8 length proves they fit: check the bound."""
    from datamill.post.formats import read_records

    counter = load_tokenizer(small_tokenizer)
    assert counter.max_tokens_per_byte == 1
    texts = [m["content"] for r in read_records(str(shared_data / "instruction_sft/llamafactory/alpaca_zh_demo.json"))
             for m in r["messages"]][:400]
    for t, n in zip(texts, counter.count_batch(texts)):
        assert n <= len(t.encode("utf-8"))


def test_training_is_deterministic():
    texts = [f"sample number {i} about apples and pears, {i * 7} of them" for i in range(300)]
    assert train_tokenizer(texts, vocab_size=400).to_str() == train_tokenizer(texts, vocab_size=400).to_str()


def test_missing_tokenizer_file_is_a_clear_error(tmp_path):
    from datamill.post.tokenizer import TokenizerError

    with pytest.raises(TokenizerError, match="not found"):
        load_tokenizer(str(tmp_path / "nope.json"))


def test_too_many_tokens_per_conversation(small_tokenizer):
    counter = load_tokenizer(small_tokenizer)
    long = " ".join(["the quick brown fox"] * 40) + "."
    recs = [chat((U, "hello"), (A, "the lazy dog.")),
            preference("p", [message(U, "hello")], [message(A, long)], [message(A, "hello.")])]
    out = list(validate_records(recs, max_tokens=50, tokenizer=counter))
    assert out[0][2] == []
    [issue] = out[1][2]
    assert (issue.code, issue.field, issue.index) == ("too_many_tokens", "chosen", 1)
    assert "prompt + chosen" in issue.message and "limit of 50" in issue.message


def test_default_tokenizer_ships_in_the_package_and_reads_no_shared_data(monkeypatch, tmp_path):
    from datamill.post import tokenizer as T

    monkeypatch.setenv("DATAMILL_SHARED_DATA", str(tmp_path / "nowhere"))
    monkeypatch.delenv("DATAMILL_TOKENIZER", raising=False)
    monkeypatch.setattr(T, "_LOADED", {})
    assert T.default_tokenizer_path() == T.PACKAGED_TOKENIZER
    assert T.PACKAGED_TOKENIZER.is_file() and T.PACKAGED_TOKENIZER.stat().st_size < 2_000_000
    counter = load_tokenizer(None)
    assert "datamill-bpe" in counter.source
    n = counter.count("Give three tips for staying healthy.")
    assert 5 <= n <= 12  # a real subword tokenizer: about one token per word
    assert 2 <= counter.count("李白是唐代著名的诗人。") <= 14


def test_shipped_tokenizer_is_the_one_the_build_script_trains(shared_data, tmp_path, monkeypatch):
    from datamill.post.tokenizer import PACKAGED_TOKENIZER, cache_dir, default_tokenizer_path

    monkeypatch.setenv("DATAMILL_CACHE_DIR", str(tmp_path))
    path = default_tokenizer_path(shared_dir=shared_data)
    assert path.parent == cache_dir() and path.is_file()
    assert path.read_bytes() == PACKAGED_TOKENIZER.read_bytes()  # deterministic training


# --- files ----------------------------------------------------------------------------------------

def _write_jsonl(path, rows):
    with open(path, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(row if isinstance(row, str) else json.dumps(row, ensure_ascii=False))
            fh.write("\n")


def test_validate_file_names_file_line_and_field(tmp_path):
    path = tmp_path / "chats.jsonl"
    _write_jsonl(path, [
        {"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello!"}]},
        {"conversations": [{"from": "human", "value": "Hi"}, {"from": "human", "value": "Anyone?"},
                           {"from": "gpt", "value": "Yes."}]},
        "{not json",
        {"conversations": [{"from": "human", "value": "Hi"}, {"from": "bot", "value": "x"}]},
        {"conversations": [{"from": "human", "value": "Q"}, {"from": "gpt", "value": "   "}]},
        {"conversations": [{"from": "human", "value": "Q"}, {"from": "function_call", "value": "{oops"},
                           {"from": "observation", "value": "{}"}, {"from": "gpt", "value": "ok."}]},
    ])
    report = validate_file(str(path))
    assert report.records == 6 and report.invalid_records == 5
    got = [(i.line, i.field, i.code) for i in report.issues]
    assert got == [(2, "messages[1]", "role_alternation"), (3, "", "unreadable"),
                   (4, "conversations[1].from", "unreadable"), (5, "messages[1].content", "empty_turn"),
                   (6, "conversations[1].value", "tool_call_malformed")]
    text = str(report.issues[0])
    assert text.startswith(f"{path}:2:messages[1]: error role_alternation:")
    assert report.ok is False and report.failed is False
    assert validate_file(str(path), strict=True).failed is True
    summary = report.summary()
    assert "6 records, 5 with errors" in summary and "role_alternation" in summary


def test_validate_file_gz_array_and_explicit_format(tmp_path):
    rows = [{"instruction": "Say hi", "input": "", "output": "Hi."},
            {"instruction": "Say hi", "input": "", "output": ""}]
    path = tmp_path / "a.json.gz"
    path.write_bytes(gzip.compress(json.dumps(rows).encode()))
    report = validate_file(str(path), fmt="alpaca")
    assert [(i.index, i.field, i.code) for i in report.issues] == [(1, "messages[1].content", "empty_turn")]
    assert f"{path}[1]:messages[1].content" in str(report.issues[0])
    with pytest.raises(ValidationError, match="unknown format"):
        validate_file(str(path), fmt="nope")
    with pytest.raises(ValidationError, match="no such file"):
        validate_file(str(tmp_path / "missing.jsonl"))


def test_duplicate_ids_and_ignore(tmp_path):
    path = tmp_path / "d.jsonl"
    rec = chat((U, "Hi"), (A, "Because of the"))
    _write_jsonl(path, [rec, rec])
    report = validate_file(str(path))
    assert report.counts == {"truncated_response": 2, "duplicate_id": 1}
    assert report.ok and report.warned_records == 2
    assert validate_file(str(path), ignore=["duplicate_id", "truncated_response"]).counts == {}
    with pytest.raises(ValidationError, match="unknown issue code"):
        validate_file(str(path), ignore=["nope"])


SHARED = ["instruction_sft/llamafactory/alpaca_en_demo.json",
          "instruction_sft/llamafactory/glaive_toolcall_en_demo.json",
          "instruction_sft/fastchat/dummy_conversation.json",
          "preference/llamafactory/dpo_en_demo.json",
          "preference/llamafactory/kto_en_demo.json"]


@pytest.mark.parametrize("name", SHARED)
def test_shared_files_have_no_errors(shared_data, name):
    report = validate_file(str(shared_data / name))
    assert report.records >= 300
    assert report.errors == 0, report.summary(5)
    assert report.warnings <= 0.03 * report.records  # cut answers: about 1-2.5%


def test_shared_hh_rlhf_errors_are_real(shared_data):
    report = validate_file(str(shared_data / "preference/hh-rlhf/harmless-base/test.jsonl.gz"))
    assert report.records == 2312
    # hh-rlhf has dialogues with two Human or two Assistant turns in a row, and empty answers
    assert report.counts["role_alternation"] >= 5 and report.counts["empty_turn"] >= 1
    assert set(report.counts) <= {"role_alternation", "empty_turn", "truncated_response"}


# --- CLI ------------------------------------------------------------------------------------------

def test_cli_validate(tmp_path, small_tokenizer):
    good, bad = tmp_path / "good.jsonl", tmp_path / "bad.jsonl"
    _write_jsonl(good, [chat((U, "Hi"), (A, "Hello."))])
    _write_jsonl(bad, [chat((U, "Hi"), (A, "Hello.")), chat((U, "Hi"), (U, "Again"))])
    runner = CliRunner()
    res = runner.invoke(main, ["validate", str(good), "--strict"])
    assert res.exit_code == 0, res.output
    assert "1 records, 0 with errors" in res.output and "no issues" in res.output
    res = runner.invoke(main, ["validate", str(bad)])
    assert res.exit_code == 0
    assert f"{bad}:2 (id=r1):messages[1]: error role_alternation" in res.output
    res = runner.invoke(main, ["validate", str(bad), "--strict"])
    assert res.exit_code == 1 and "FAILED" in res.output
    res = runner.invoke(main, ["validate", str(good), "--max-tokens", "2", "--tokenizer", small_tokenizer, "--json"])
    data = json.loads(res.output)
    assert data[0]["counts"] == {"too_many_tokens": 1} and data[0]["issues"][0]["field"] == "messages"
    res = runner.invoke(main, ["validate", str(tmp_path / "nope.jsonl")])
    assert res.exit_code == 2 and "no such file" in res.output


def test_issue_location_without_file():
    i = Issue("abc", "messages[0].content", "empty_turn", "x")
    assert i.location() == "<records> (id=abc):messages[0].content"
    assert i.to_dict()["code"] == "empty_turn"
