"""``post_normalize``: whitespace, no-break and zero-width characters, leading blank lines, on
Chinese and English messages, short and long."""

from __future__ import annotations

from datamill.core.stats import StepStats
from datamill.core.step import REGISTRY, StepContext
from datamill.post.formats import read_records
from datamill.post.schema import message, preference, sft
from datamill.steps.post.normalize import PostNormalize, normalize_text


def test_normalize_text_cases():
    assert normalize_text("\n\n李白是唐代诗人。") == "李白是唐代诗人。"            # BELLE-style leading blank line
    assert normalize_text("  indented code\n") == "  indented code"                   # first-line indent kept
    assert normalize_text("中文\u00a0文本") == "中文 文本"
    assert normalize_text("zero\u200bwidth\ufeff") == "zerowidth"
    assert normalize_text("a\r\nb\rc") == "a\nb\nc"
    assert normalize_text("a\n\n\n\n\nb") == "a\n\n\nb"
    assert normalize_text("全角\u3000空格") == "全角\u3000空格"                        # ideographic space is real typography
    assert normalize_text("क्\u200dष") == "क्\u200dष"                                   # ZWJ kept (Indic, emoji)
    long = ("这是一个很长的回答。\u00a0" * 300)
    assert "\u00a0" not in normalize_text(long) and len(normalize_text(long)) == len(long.rstrip("\u00a0 ")) 


def test_step_normalises_every_side_and_counts():
    step = REGISTRY["post_normalize"]()
    rec = preference("p", [message("user", "李白是谁？\u00a0")],
                     [message("assistant", "\n李白是唐代诗人。")], [message("assistant", "不知道\u200b")])
    chat = sft("s", [message("user", "Hi\u00a0there"), message("assistant", "\n\nHello!\r\n")])
    stats, ctx = StepStats(step.label, step.kind), StepContext()
    out = step.run_batch([rec, chat], stats, ctx)
    assert out[0]["messages"][0]["content"] == "李白是谁？"
    assert out[0]["chosen"][0]["content"] == "李白是唐代诗人。"
    assert out[0]["rejected"][0]["content"] == "不知道"
    assert out[1]["messages"][0]["content"] == "Hi there"
    assert out[1]["messages"][1]["content"] == "Hello!"
    assert out[0]["signals"]["post_normalize"]["normalized"]["leading_blank_lines"] == 1
    assert out[1]["signals"]["post_normalize"]["normalized"]["nbsp"] == 1
    clean = sft("c", [message("user", "Q"), message("assistant", "A.")])
    assert "signals" not in step.run_batch([clean], stats, ctx)[0]


def test_roles_and_options():
    step = PostNormalize(roles=["assistant"], zero_width=False)
    rec = sft("s", [message("user", "\nq\u200b"), message("assistant", "\na\u200b")])
    step.transform(rec)
    assert rec["messages"][0]["content"] == "\nq\u200b"
    assert rec["messages"][1]["content"] == "a\u200b"


def test_alpaca_zh_answers_lose_leading_blank_lines(shared_data):
    recs = list(read_records(str(shared_data / "instruction_sft/llamafactory/alpaca_zh_demo.json")))[:200]
    step = PostNormalize()
    for r in recs:
        step.transform(r)
        for m in r["messages"]:
            assert not m["content"].startswith("\n") and "\u00a0" not in m["content"]
