"""A SIMULATED production log for the flywheel demo, built from real public data: prompts and
reference answers of instruction sets become liked answers; preference pairs become a
disliked first answer (the rejected one) that the user regenerates, edits, thumbs down or
corrects in a follow-up, with the chosen answer as the better one. Every event carries
``"simulated": true`` and the files are named SIMULATED-*.jsonl: nothing here came from users.
"""

from __future__ import annotations

import os
import random
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson

from datamill.io.atomic import atomic_open

SOURCES = {
    "sft": ["instruction_sft/alpaca/seed_tasks.jsonl", "instruction_sft/llamafactory/alpaca_zh_demo.json"],
    "preference": ["preference/llamafactory/dpo_en_demo.json", "preference/llamafactory/dpo_zh_demo.json",
                   "preference/hh-rlhf/harmless-base"],
}
FOLLOW_UPS = {"en": ["That's wrong, please try again.", "This is incorrect.", "That didn't work."],
              "zh": ["不对，请再试一次。", "你答错了。", "这样不正确。"]}
README = """SIMULATED chat logs for the datamill flywheel demo: NOT real user data.
Prompts and answers come from public instruction and preference sets (see the shared data's
SOURCES.txt); the feedback (thumbs, edits, regenerations, follow-ups) is drawn at random from the
preference labels. Layout: docs/flywheel.md.
"""


def _load(shared: str, kind: str, limit: int, rng: random.Random) -> list[dict[str, Any]]:
    from datamill.post.formats import read_records

    out = []
    for rel in SOURCES[kind]:
        path = os.path.join(shared, rel)
        if not os.path.exists(path):
            continue
        rows = [r for r in read_records(path, errors=[]) if r.get("kind") == kind]
        rng.shuffle(rows)
        out.extend(rows[:limit])
    rng.shuffle(out)
    return out


def _is_zh(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text[:200])


def simulate_logs(shared: str, output: str, *, round_no: int = 1, per_source: int = 60, seed: int = 0,
                  bad_lines: int = 3) -> dict[str, Any]:
    rng = random.Random(seed * 1000 + round_no)
    t = datetime(2026, 11, 1, tzinfo=timezone.utc) + timedelta(days=round_no)
    events: list[dict[str, Any]] = []
    n_conv = 0

    def stamp() -> str:
        nonlocal t
        t += timedelta(seconds=rng.randint(5, 300))
        return t.isoformat().replace("+00:00", "Z")

    def completion(cid, conv, messages, answer, **extra):
        ev = {"type": "completion", "id": cid, "conversation_id": conv, "timestamp": stamp(),
              "model": f"demo-model-r{round_no}", "request": {"model": f"demo-model-r{round_no}", "messages": messages},
              "response": {"object": "chat.completion",
                           "choices": [{"index": 0, "message": {"role": "assistant", "content": answer},
                                        "finish_reason": "stop"}]},
              "simulated": True}
        ev.update(extra)
        events.append(ev)

    def feedback(cid, kind, **extra):
        events.append({"type": "feedback", "completion_id": cid, "timestamp": stamp(), "kind": kind,
                       "simulated": True, **extra})

    def answer_of(msgs):
        return next((m["content"] for m in reversed(msgs or []) if m["role"] == "assistant"), None)

    for rec in _load(shared, "sft", per_source, rng):
        msgs = rec["messages"]
        if len(msgs) < 2 or msgs[-1]["role"] != "assistant":
            continue
        n_conv += 1
        conv, cid = f"r{round_no}-conv-{n_conv}", f"r{round_no}-cmpl-{n_conv}-a"
        completion(cid, conv, msgs[:-1], msgs[-1]["content"])
        if rng.random() < 0.5:
            feedback(cid, "thumbs_up")
    for rec in _load(shared, "preference", per_source, rng):
        good, bad = answer_of(rec.get("chosen")), answer_of(rec.get("rejected"))
        if not good or not bad or good.strip() == bad.strip():
            continue
        n_conv += 1
        conv, first = f"r{round_no}-conv-{n_conv}", f"r{round_no}-cmpl-{n_conv}-a"
        prompt = rec["messages"]
        lang = "zh" if _is_zh(prompt[-1]["content"]) else "en"
        completion(first, conv, prompt, bad)
        r = rng.random()
        if r < 0.3:
            feedback(first, "regenerate")
            second = f"r{round_no}-cmpl-{n_conv}-b"
            completion(second, conv, prompt, good, regenerated_from=first)
            if rng.random() < 0.6:
                feedback(second, "thumbs_up")
        elif r < 0.55:
            feedback(first, "edit", edited_content=good)
        elif r < 0.75:
            feedback(first, "thumbs_down")
        elif r < 0.9:
            follow = rng.choice(FOLLOW_UPS[lang])
            second = f"r{round_no}-cmpl-{n_conv}-b"
            completion(second, conv, prompt + [{"role": "assistant", "content": bad}, {"role": "user", "content": follow}],
                       good)
        else:  # two people disagree about the same answer
            feedback(first, "thumbs_up")
            feedback(first, "thumbs_down")
    os.makedirs(output, exist_ok=True)
    path = os.path.join(output, f"SIMULATED-chat-log-round{round_no}.jsonl")
    lines = [orjson.dumps(e) for e in events]
    broken = [b'{"type": "completion", "id": "broken-1", "request": {"messages": [', b"not json at all",
              orjson.dumps({"type": "feedback", "completion_id": events[0]["id"], "kind": "shrug", "simulated": True})]
    for i in range(min(bad_lines, len(broken))):
        lines.insert(rng.randint(0, len(lines)), broken[i])
    with atomic_open(path, "wb") as fh:
        fh.write(b"\n".join(lines) + b"\n")
    with atomic_open(os.path.join(output, "README-SIMULATED.txt"), "wb") as fh:
        fh.write(README.encode())
    return {"path": path, "events": len(events), "conversations": n_conv, "bad_lines": min(bad_lines, len(broken))}
