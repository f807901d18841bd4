"""A small hand-written production log (English and Chinese) covering every feedback rule."""

import orjson


def comp(cid, conv, user, answer, ts, **extra):
    msgs = user if isinstance(user, list) else [{"role": "user", "content": user}]
    ev = {"type": "completion", "id": cid, "conversation_id": conv, "timestamp": ts, "model": "m1",
          "request": {"messages": msgs},
          "response": {"choices": [{"message": {"role": "assistant", "content": answer}}]}}
    ev.update(extra)
    return ev


def fb(cid, kind, ts, **extra):
    return {"type": "feedback", "completion_id": cid, "kind": kind, "timestamp": ts, **extra}


EVENTS = [
    comp("c1", "v1", "What is the capital of France?", "Paris is the capital of France.", "2026-11-01T10:00:00Z"),
    fb("c1", "thumbs_up", "2026-11-01T10:00:05Z"),
    comp("c2", "v2", "把这句话翻译成英文：早上好", "Good night.", "2026-11-01T10:01:00Z"),
    fb("c2", "edit", "2026-11-01T10:01:30Z", edited_content="Good morning."),
    comp("c3", "v3", "Write a haiku about rain.", "Rain rain rain rain.", "2026-11-01T10:02:00Z"),
    fb("c3", "regenerate", "2026-11-01T10:02:10Z"),
    comp("c3b", "v3", "Write a haiku about rain.", "Soft rain on the roof / the garden drinks in silence / "
         "puddles hold the sky", "2026-11-01T10:02:20Z", regenerated_from="c3"),
    comp("c4", "v4", "2 + 2 = ?", "5", "2026-11-01T10:03:00Z"),
    fb("c4", "thumbs_down", "2026-11-01T10:03:05Z"),
    comp("c5", "v5", "水的化学式是什么？", "水的化学式是 CO2。", "2026-11-01T10:04:00Z"),
    comp("c5b", "v5", [{"role": "user", "content": "水的化学式是什么？"},
                       {"role": "assistant", "content": "水的化学式是 CO2。"},
                       {"role": "user", "content": "不对，请再想想。"}], "水的化学式是 H2O。", "2026-11-01T10:04:30Z"),
    comp("c6", "v6", "Is the earth flat?", "No, the earth is round.", "2026-11-01T10:05:00Z"),
    fb("c6", "thumbs_up", "2026-11-01T10:05:05Z"),
    fb("c6", "thumbs_down", "2026-11-01T10:05:09Z"),
]
BAD_LINES = [b"{not json", orjson.dumps({"type": "completion", "id": "x1", "request": {"messages": []},
                                          "response": {"choices": []}}),
             orjson.dumps({"type": "feedback", "completion_id": "c1", "kind": "love"}),
             orjson.dumps({"type": "feedback", "completion_id": "nobody", "kind": "thumbs_up"}),
             orjson.dumps(["a", "list"])]


def write_log(path, with_bad=True):
    lines = [orjson.dumps(e) for e in EVENTS]
    if with_bad:  # bad lines at known places: 3, 6, 9, 12, 15
        for i, bad in enumerate(BAD_LINES):
            lines.insert(2 + 3 * i, bad)
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path
