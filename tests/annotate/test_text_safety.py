"""Lone surrogates in text (datamill.annotate.text_safety): found with their JSON path, replaced
by U+FFFD, while Chinese, emoji (surrogate *pairs* in JSON) and other valid text pass untouched."""

from __future__ import annotations

import json

from datamill.annotate.db import _load_json
from datamill.annotate.text_safety import clean_deep, clean_text, find_surrogate, has_surrogate

VALID = ["中文标注：请比较两个回答，哪一个更有帮助？" * 50, "emoji 😀 and 𠀀 (astral)", "plain English", ""]


def test_valid_text_is_untouched_short_and_long():
    for text in VALID:
        assert not has_surrogate(text) and clean_text(text) is text
        decoded = json.loads(json.dumps(text))  # "\ud83d\ude00" pairs decode to the character
        assert decoded == text and not has_surrogate(decoded)


def test_lone_surrogates_are_found_and_replaced():
    value = {"answer": {"comment": "好 \udc00 答案", "ratings": [{"x": 1}]}, "list": ["ok", "bad \ud800"]}
    assert find_surrogate(value) == "$.answer.comment"
    assert find_surrogate({"list": ["ok", "bad \ud800"]}) == "$.list[1]"
    assert find_surrogate({"k\udfff": 1}) == "$.k\ufffd"
    cleaned = clean_deep(value)
    assert cleaned["answer"]["comment"] == "好 \ufffd 答案" and cleaned["list"][1] == "bad \ufffd"
    assert find_surrogate(cleaned) is None
    json.dumps(cleaned, ensure_ascii=False).encode("utf-8")  # now encodable


def test_stored_json_reads_back_clean():
    stored = json.dumps({"c": "中 \udc00", "e": "😀"})   # what SQLite holds: ASCII escapes
    assert "\\udc00" in stored and "\\ud83d\\ude00" in stored
    assert _load_json(stored) == {"c": "中 \ufffd", "e": "😀"}
    assert _load_json(stored.encode()) == {"c": "中 \ufffd", "e": "😀"}   # psycopg hands bytes
    assert _load_json(json.dumps({"c": "中文"}, ensure_ascii=False).encode()) == {"c": "中文"}
