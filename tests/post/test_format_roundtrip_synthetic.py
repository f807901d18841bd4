"""Format round trips on records the test makes itself (English and Chinese, short and long,
single- and multi-turn, tool calls, preference, KTO, ranking): the guarantee holds without
../shared/data. The same checks run on the real files in test_formats.py."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from datamill.post.formats import FORMATS, FormatError, from_internal, read_records, to_internal, write_records

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_formats import _canon  # noqa: E402

LONG_ZH = "长城是中国古代的军事防御工程。" * 40
RECORDS = [
    {"id": "sft-en", "kind": "sft", "messages": [
        {"role": "user", "content": "Name a prime number."}, {"role": "assistant", "content": "7"}]},
    {"id": "sft-zh", "kind": "sft", "messages": [
        {"role": "system", "content": "你是一个乐于助人的助手。"},
        {"role": "user", "content": "李白是谁"}, {"role": "assistant", "content": "唐代诗人。"},
        {"role": "user", "content": "谢谢"}, {"role": "assistant", "content": LONG_ZH}]},
    {"id": "sft-tool", "kind": "sft", "tools": [{"type": "function", "function": {
        "name": "weather", "description": "天气", "parameters": {"type": "object", "properties": {
            "city": {"type": "string"}}}}}],
     "messages": [
        {"role": "user", "content": "北京天气怎么样？"},
        {"role": "assistant", "content": "", "tool_calls": [{"name": "weather", "arguments": {"city": "北京"}}]},
        {"role": "tool", "content": "{\"temp\": 3}", "name": "weather"},
        {"role": "assistant", "content": "北京现在 3°C。"}]},
    {"id": "pref-en", "kind": "preference",
     "messages": [{"role": "user", "content": "Is the sky green? Answer yes or no."}],
     "chosen": [{"role": "assistant", "content": "No."}],
     "rejected": [{"role": "assistant", "content": "Yes, the sky is green."}]},
    {"id": "pref-zh", "kind": "preference",
     "messages": [{"role": "user", "content": "用一句话介绍长城。"}],
     "chosen": [{"role": "assistant", "content": LONG_ZH}],
     "rejected": [{"role": "assistant", "content": "不知道。"}]},
    {"id": "kto-zh", "kind": "kto", "messages": [{"role": "user", "content": "一加一等于几？"}],
     "completion": [{"role": "assistant", "content": "二"}], "label": True},
    {"id": "kto-en", "kind": "kto", "messages": [{"role": "user", "content": "Capital of France?"}],
     "completion": [{"role": "assistant", "content": "Berlin"}], "label": False},
]


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: r["id"])
def test_round_trip_through_every_format_that_holds_it(record):
    held = []
    for fmt in FORMATS:
        try:
            row = from_internal(record, fmt)
        except FormatError as exc:
            assert exc.field is not None and exc.why, (fmt, exc)
            continue
        back = to_internal(json.loads(json.dumps(row, ensure_ascii=False)), fmt, id=record["id"])
        assert _canon(back, fmt) == _canon(record, fmt), fmt
        held.append(fmt)
    assert {"openai", "datamill"} <= set(held), held


@pytest.mark.parametrize("fmt", ["openai", "sharegpt", "alpaca", "datamill"])
def test_written_files_read_back_the_same(tmp_path, fmt):
    records = [r for r in RECORDS if _holds(r, fmt)]
    assert records
    path = tmp_path / f"data.{fmt}.jsonl"
    write_records(records, str(path), fmt)
    back = list(read_records(str(path), fmt))
    assert [_canon(b, fmt) for b in back] == [_canon(r, fmt) for r in records]


def _holds(record, fmt) -> bool:
    try:
        from_internal(record, fmt)
        return True
    except FormatError:
        return False
