"""From logged completions and their feedback to training records, each with its provenance.

* SFT: answers with a thumbs-up (and no negative signal); user-edited answers (the edit).
* Preference: edited ≻ original; an accepted regeneration ≻ the answer it replaced (accepted:
  a thumbs-up, or no negative signal and not regenerated again).
* KTO: thumbs-up → desirable; thumbs-down or a follow-up saying the answer was wrong →
  undesirable.
* Uncertain: signals that disagree (a thumbs-up and a thumbs-down or a "that's wrong"
  follow-up on one answer; a regeneration that was disliked too). These go to people.

A follow-up is the user's next message in the conversation (or a ``follow_up`` event): it
counts as negative when it matches :data:`NEGATIVE_FOLLOW_UP` (English and Chinese).
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from datamill.flywheel.logs import Completion, LogBatch, iter_conversations

NEGATIVE_FOLLOW_UP = re.compile(
    r"\b(that'?s wrong|(is|was|that'?s|it'?s) (not right|not correct|incorrect|wrong)|wrong answer|incorrect|"
    r"not what i asked|doesn'?t work|didn'?t work|you made a mistake|that is not true)\b"
    r"|不对|错了|不正确|答错|有错误|不是这样|没用",
    re.I)


def _provenance(c: Completion, **extra: Any) -> dict[str, Any]:
    prov = {"source": "flywheel", "log": c.where, "completion_id": c.id, "conversation_id": c.conversation_id,
            "model": c.model, "timestamp": c.timestamp, "feedback": [f.kind for f in c.feedback]}
    prov.update(extra)
    return {"flywheel": prov}


def _assistant(text: str) -> list[dict[str, str]]:
    return [{"role": "assistant", "content": text}]


def negative_follow_ups(batch: LogBatch) -> dict[str, str]:
    """completion id -> the follow-up text that said it was wrong (explicit or the next turn)."""
    out: dict[str, str] = {}
    for c in batch.completions.values():
        for f in c.feedback:
            if f.kind == "follow_up" and f.content and NEGATIVE_FOLLOW_UP.search(f.content):
                out[c.id] = f.content
    for conv in iter_conversations(batch):
        turns = [c for c in conv if not c.regenerated_from]
        for prev, nxt in zip(turns, turns[1:]):
            users = [m for m in nxt.messages if m["role"] == "user"]
            if users and NEGATIVE_FOLLOW_UP.search(users[-1]["content"]) and prev.id not in out:
                out[prev.id] = users[-1]["content"]
    return out


def derive_records(batch: LogBatch) -> tuple[dict[str, list[dict[str, Any]]], Counter]:
    """``{"sft": [...], "preference": [...], "kto": [...], "uncertain": [...]}`` and counts."""
    out: dict[str, list[dict[str, Any]]] = {"sft": [], "preference": [], "kto": [], "uncertain": []}
    counts: Counter = Counter()
    negative = negative_follow_ups(batch)
    regenerations: dict[str, list[Completion]] = {}
    for c in batch.completions.values():
        if c.regenerated_from:
            regenerations.setdefault(c.regenerated_from, []).append(c)
    for c in batch.completions.values():
        kinds = Counter(f.kind for f in c.feedback)
        up, down = kinds["thumbs_up"] > 0, kinds["thumbs_down"] > 0
        wrong = c.id in negative
        edits = [f for f in c.feedback if f.kind == "edit" and f.edited_content and f.edited_content.strip()]
        regenerated = kinds["regenerate"] > 0 or c.id in regenerations
        if up and (down or wrong):
            reason = "thumbs_up_and_down" if down else "thumbs_up_but_follow_up_says_wrong"
            out["uncertain"].append({"id": f"flywheel/uncertain/{c.id}", "kind": "kto", "messages": c.messages,
                                     "completion": _assistant(c.answer), "label": True,
                                     "metadata": _provenance(c, uncertain=reason, follow_up=negative.get(c.id))})
            counts[f"uncertain:{reason}"] += 1
            continue
        if up:
            out["sft"].append({"id": f"flywheel/sft/{c.id}", "kind": "sft", "messages": c.messages + _assistant(c.answer),
                               "metadata": _provenance(c, derived_from="thumbs_up")})
            out["kto"].append({"id": f"flywheel/kto/{c.id}", "kind": "kto", "messages": c.messages,
                               "completion": _assistant(c.answer), "label": True,
                               "metadata": _provenance(c, derived_from="thumbs_up")})
            counts["sft:thumbs_up"] += 1
            counts["kto:desirable"] += 1
        elif down or wrong:
            src = "thumbs_down" if down else "follow_up_says_wrong"
            out["kto"].append({"id": f"flywheel/kto/{c.id}", "kind": "kto", "messages": c.messages,
                               "completion": _assistant(c.answer), "label": False,
                               "metadata": _provenance(c, derived_from=src, follow_up=negative.get(c.id))})
            counts["kto:undesirable"] += 1
        for i, e in enumerate(edits):
            if e.edited_content.strip() == c.answer.strip():
                continue
            out["sft"].append({"id": f"flywheel/sft-edit/{c.id}/{i}", "kind": "sft",
                               "messages": c.messages + _assistant(e.edited_content),
                               "metadata": _provenance(c, derived_from="user_edit", edit=e.where)})
            out["preference"].append({"id": f"flywheel/pref-edit/{c.id}/{i}", "kind": "preference",
                                      "messages": c.messages, "chosen": _assistant(e.edited_content),
                                      "rejected": _assistant(c.answer),
                                      "metadata": _provenance(c, derived_from="user_edit", edit=e.where)})
            counts["sft:user_edit"] += 1
            counts["preference:edit_over_original"] += 1
        for r in regenerations.get(c.id, []):
            rk = Counter(f.kind for f in r.feedback)
            accepted = rk["thumbs_up"] > 0 or not (rk["thumbs_down"] or r.id in negative or rk["regenerate"]
                                                    or r.id in regenerations)
            disliked = rk["thumbs_down"] > 0 or r.id in negative
            if accepted and not disliked and r.answer.strip() != c.answer.strip():
                out["preference"].append({"id": f"flywheel/pref-regen/{r.id}", "kind": "preference",
                                          "messages": c.messages, "chosen": _assistant(r.answer),
                                          "rejected": _assistant(c.answer),
                                          "metadata": _provenance(r, derived_from="accepted_regeneration",
                                                                  replaced=c.id, replaced_log=c.where)})
                counts["preference:regeneration"] += 1
            elif accepted and disliked:
                out["uncertain"].append({"id": f"flywheel/uncertain/{r.id}", "kind": "kto", "messages": r.messages,
                                         "completion": _assistant(r.answer), "label": True,
                                         "metadata": _provenance(r, uncertain="regeneration_liked_and_disliked")})
                counts["uncertain:regeneration_liked_and_disliked"] += 1
        if regenerated and not (up or down or wrong or edits):
            counts["regenerated_only"] += 1
    return out, counts


def route_unsure(records: dict[str, list[dict[str, Any]]], model, band: tuple[float, float] = (0.4, 0.6),
                 counts: Counter | None = None) -> None:
    """Score the KTO records with a quality model (:mod:`datamill.post.quality_model`); those
    it is unsure about (score inside ``band``) move to the uncertain items. Every scored record
    keeps its score in ``signals.flywheel.quality_score``."""
    kto = records["kto"]
    if not kto:
        return
    scores = model.predict(kto)
    keep = []
    for rec, score in zip(kto, scores):
        rec.setdefault("signals", {})["flywheel"] = {"quality_score": float(score)}
        if band[0] <= score <= band[1]:
            rec = dict(rec, id=rec["id"].replace("flywheel/kto/", "flywheel/uncertain/", 1),
                       metadata={"flywheel": dict(rec["metadata"]["flywheel"], uncertain="quality_model_unsure")})
            records["uncertain"].append(rec)
            if counts is not None:
                counts["uncertain:quality_model_unsure"] += 1
        else:
            keep.append(rec)
    records["kto"] = keep
