"""Question schemas, what a task shows, and answers checked against both.

A project's question schema is ``{"instructions": str, "questions": [question, ...]}``; each
question has an ``id`` (``[a-z0-9_]``, unique), a ``type``, a ``title`` and ``required``
(default true, false for comments), plus:

==========  ===================================================================================
type        options → answer
==========  ===================================================================================
labels      ``options`` (list of str), ``multi`` (bool) → one option, or a list of options
ratings     ``criteria`` (names), ``scale`` ``[lo, hi]`` (ints), ``per_response`` (default true)
            → ``{criterion: int}``, or one such dict per shown response
ranking     (ranks the task's responses, N ≥ 2) → ``[rank of response 0, rank of response 1, …]``,
            a permutation of 1..N, 1 best
pairwise    ``allow_tie`` (bool) → ``"A"`` (response 0), ``"B"`` (response 1) or ``"tie"``
rewrite     ``prefill`` (default true: starts from response 0) → text; the better answer
prompt      → text; a prompt written from scratch (OpenAssistant step 1)
comment     → text
==========  ===================================================================================

Questions that need responses (ranking, pairwise) are *not applicable* to a task with too few
responses: they are not shown and their answer is ``None``.

The *view* of an item is what its task page shows: ``prompt`` (messages), ``responses``
(``[{"messages", "origin"}]`` in display order; ``origin`` says where each came from in the
record: ``chosen``, ``rejected``, ``completion``, ``response``, ``responses[i]``) and
``document`` (raw text, for document datasets). Pairs and ranked lists are shown in an order
shuffled per item (stable), so the dataset's order does not bias the annotators.
"""

from __future__ import annotations

import hashlib
import math
import re
from typing import Any

from datamill.core.errors import DatamillError

TYPES = ("labels", "ratings", "ranking", "pairwise", "rewrite", "prompt", "comment")
TEXT_TYPES = ("rewrite", "prompt", "comment")
MAX_TEXT = 20_000           # characters in one free-text answer
MAX_QUESTIONS = 30
_ID = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_CRIT = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]{0,39}$")


class AnswerError(DatamillError):
    """An answer that does not fit the question schema; ``field`` names the question."""

    def __init__(self, field: str, why: str):
        self.field, self.why = field, why
        super().__init__(f"{field}: {why}")


def validate_schema(schema: Any) -> dict[str, Any]:
    """The schema, normalised (defaults filled in); :class:`DatamillError` naming the question
    and field when it is not valid."""
    if not isinstance(schema, dict):
        raise DatamillError("question schema: expected an object with 'questions'")
    questions = schema.get("questions")
    if not isinstance(questions, list) or not questions:
        raise DatamillError("question schema: 'questions' must be a non-empty list")
    if len(questions) > MAX_QUESTIONS:
        raise DatamillError(f"question schema: at most {MAX_QUESTIONS} questions")
    instructions = schema.get("instructions", "")
    if not isinstance(instructions, str) or len(instructions) > MAX_TEXT:
        raise DatamillError("question schema: 'instructions' must be text")
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, q in enumerate(questions):
        where = f"question schema: questions[{i}]"
        if not isinstance(q, dict):
            raise DatamillError(f"{where}: expected an object")
        qid, qtype = q.get("id"), q.get("type")
        if not isinstance(qid, str) or not _ID.match(qid):
            raise DatamillError(f"{where}.id: expected lowercase letters, digits and _ (got {qid!r})")
        if qid in seen:
            raise DatamillError(f"{where}.id: {qid!r} is used twice")
        seen.add(qid)
        if qtype not in TYPES:
            raise DatamillError(f"{where}.type: expected one of {', '.join(TYPES)} (got {qtype!r})")
        title = q.get("title") or qid.replace("_", " ").capitalize()
        if not isinstance(title, str) or len(title) > 500:
            raise DatamillError(f"{where}.title: expected text")
        norm: dict[str, Any] = {"id": qid, "type": qtype, "title": title,
                                "help": str(q.get("help") or "")[:2000],
                                "required": bool(q.get("required", qtype != "comment"))}
        if qtype == "labels":
            opts = q.get("options")
            if (not isinstance(opts, list) or not opts or len(opts) > 50
                    or not all(isinstance(o, str) and 0 < len(o) <= 200 for o in opts)
                    or len(set(opts)) != len(opts)):
                raise DatamillError(f"{where}.options: expected 1-50 distinct labels")
            norm["options"], norm["multi"] = list(opts), bool(q.get("multi", False))
        elif qtype == "ratings":
            crits = q.get("criteria")
            if (not isinstance(crits, list) or not crits or len(crits) > 20
                    or not all(isinstance(c, str) and _CRIT.match(c) for c in crits) or len(set(crits)) != len(crits)):
                raise DatamillError(f"{where}.criteria: expected 1-20 distinct names (letters, digits, _ -)")
            scale = q.get("scale", [1, 5])
            if (not isinstance(scale, (list, tuple)) or len(scale) != 2
                    or not all(isinstance(s, int) and not isinstance(s, bool) for s in scale)
                    or not scale[0] < scale[1] or scale[1] - scale[0] > 20):
                raise DatamillError(f"{where}.scale: expected [low, high] integers, high - low <= 20")
            norm["criteria"], norm["scale"] = list(crits), [int(scale[0]), int(scale[1])]
            norm["per_response"] = bool(q.get("per_response", True))
        elif qtype == "pairwise":
            norm["allow_tie"] = bool(q.get("allow_tie", True))
        elif qtype == "rewrite":
            norm["prefill"] = bool(q.get("prefill", True))
        out.append(norm)
    return {"instructions": instructions, "questions": out}


# ---------------------------------------------------------------------------------------------
# item views


def _stable_shuffle(n: int, key: str) -> list[int]:
    order = list(range(n))
    seed = int.from_bytes(hashlib.sha256(key.encode("utf-8", "replace")).digest()[:8], "big")
    for i in range(n - 1, 0, -1):  # Fisher-Yates with a per-item seed
        seed = (seed * 6364136223846793005 + 1442695040888963407) % (1 << 64)
        j = seed % (i + 1)
        order[i], order[j] = order[j], order[i]
    return order


def build_view(record: dict[str, Any], key: str) -> dict[str, Any]:
    """What the task page shows for ``record`` (see the module docstring)."""
    kind = record.get("kind")
    msgs = [m for m in (record.get("messages") or []) if isinstance(m, dict)]
    if kind == "document":
        return {"kind": kind, "prompt": [], "responses": [], "document": str(record.get("text") or "")}
    if kind == "prompt":
        return {"kind": kind, "prompt": msgs, "responses": [], "document": None}
    responses: list[dict[str, Any]] = []
    prompt = msgs
    if kind == "sft":
        last = max((i for i, m in enumerate(msgs) if m.get("role") == "assistant"), default=None)
        if last is not None:
            prompt, responses = msgs[:last], [{"messages": msgs[last:], "origin": "response"}]
    elif kind == "preference":
        responses = [{"messages": record.get("chosen") or [], "origin": "chosen"},
                     {"messages": record.get("rejected") or [], "origin": "rejected"}]
    elif kind == "kto":
        responses = [{"messages": record.get("completion") or [], "origin": "completion"}]
    elif kind == "ranking":
        responses = [{"messages": r.get("messages") or [], "origin": f"responses[{i}]"}
                     for i, r in enumerate(record.get("responses") or [])]
    if len(responses) > 1:
        responses = [responses[i] for i in _stable_shuffle(len(responses), key)]
    return {"kind": kind, "prompt": prompt, "responses": responses, "document": None}


def applicable(question: dict[str, Any], view: dict[str, Any]) -> bool:
    n = len(view.get("responses") or [])
    if question["type"] == "ranking":
        return n >= 2
    if question["type"] == "pairwise":
        return n >= 2
    return True


def rating_targets(question: dict[str, Any], view: dict[str, Any]) -> list[str]:
    """Form keys of the things a ratings question rates: response indices, or ``item``."""
    n = len(view.get("responses") or [])
    if question.get("per_response", True) and n:
        return [str(i) for i in range(n)]
    return ["item"]


def prefill_text(question: dict[str, Any], view: dict[str, Any]) -> str:
    if question["type"] == "rewrite" and question.get("prefill", True) and view.get("responses"):
        return "\n".join(m.get("content") or "" for m in view["responses"][0]["messages"]
                         if m.get("role") == "assistant")
    return ""


# ---------------------------------------------------------------------------------------------
# answers


def _text(qid: str, value: Any) -> str:
    if not isinstance(value, str):
        raise AnswerError(qid, "expected text")
    if len(value) > MAX_TEXT:
        raise AnswerError(qid, f"text longer than {MAX_TEXT} characters")
    if "\x00" in value:
        raise AnswerError(qid, "text holds a NUL character")
    return value.replace("\r\n", "\n")


def _int(qid: str, value: Any, lo: int, hi: int) -> int:
    if isinstance(value, bool):
        raise AnswerError(qid, "expected an integer")
    if isinstance(value, str):
        value = value.strip()
        if not re.fullmatch(r"-?\d{1,4}", value):
            raise AnswerError(qid, f"expected an integer from {lo} to {hi}")
        value = int(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or not lo <= value <= hi:
        raise AnswerError(qid, f"expected an integer from {lo} to {hi}")
    return value


def validate_answer(schema: dict[str, Any], view: dict[str, Any], answer: Any) -> dict[str, Any]:
    """``answer`` normalised against the schema and the task's view; :class:`AnswerError`
    naming the question otherwise. Unknown keys are refused."""
    if not isinstance(answer, dict):
        raise AnswerError("answer", "expected an object keyed by question id")
    questions = schema["questions"]
    unknown = set(answer) - {q["id"] for q in questions}
    if unknown:
        raise AnswerError(sorted(unknown)[0], "no such question")
    n = len(view.get("responses") or [])
    out: dict[str, Any] = {}
    for q in questions:
        qid, qtype = q["id"], q["type"]
        value = answer.get(qid)
        if not applicable(q, view):
            out[qid] = None
            continue
        empty = value is None or value == "" or value == [] or value == {}
        if empty:
            if q["required"]:
                raise AnswerError(qid, "an answer is required")
            out[qid] = None if qtype not in TEXT_TYPES else ""
            continue
        if qtype == "labels":
            if q["multi"]:
                vals = value if isinstance(value, list) else [value]
                if not all(isinstance(v, str) and v in q["options"] for v in vals):
                    raise AnswerError(qid, "not one of the options")
                out[qid] = [o for o in q["options"] if o in set(vals)]
            else:
                if not isinstance(value, str) or value not in q["options"]:
                    raise AnswerError(qid, "not one of the options")
                out[qid] = value
        elif qtype == "ratings":
            lo, hi = q["scale"]
            targets = rating_targets(q, view)

            def one(d: Any, where: str) -> dict[str, int]:
                if not isinstance(d, dict):
                    raise AnswerError(where, "expected {criterion: rating}")
                bad = set(d) - set(q["criteria"])
                if bad:
                    raise AnswerError(where, f"unknown criterion {sorted(bad)[0]!r}")
                res = {}
                for c in q["criteria"]:
                    if d.get(c) in (None, ""):
                        if q["required"]:
                            raise AnswerError(f"{where}.{c}", "a rating is required")
                        continue
                    res[c] = _int(f"{where}.{c}", d[c], lo, hi)
                return res

            if targets == ["item"]:
                out[qid] = one(value, qid)
            else:
                if isinstance(value, dict) and set(value) <= set(targets):  # {"0": {...}} from forms
                    value = [value.get(t, {}) for t in targets]
                if not isinstance(value, list) or len(value) != n:
                    raise AnswerError(qid, f"expected one rating object per response ({n})")
                out[qid] = [one(v, f"{qid}[{i}]") for i, v in enumerate(value)]
        elif qtype == "ranking":
            if isinstance(value, dict):
                value = [value.get(str(i)) for i in range(n)]
            if not isinstance(value, list) or len(value) != n:
                raise AnswerError(qid, f"expected one rank per response ({n})")
            ranks = [_int(qid, v, 1, n) for v in value]
            if sorted(ranks) != list(range(1, n + 1)):
                raise AnswerError(qid, f"ranks must be 1..{n}, each used once")
            out[qid] = ranks
        elif qtype == "pairwise":
            allowed = ("A", "B", "tie") if q.get("allow_tie", True) else ("A", "B")
            if value not in allowed:
                raise AnswerError(qid, f"expected one of {', '.join(allowed)}")
            out[qid] = value
        else:
            text = _text(qid, value)
            if q["required"] and not text.strip():
                raise AnswerError(qid, "an answer is required")
            out[qid] = text
    return out


def answer_from_form(schema: dict[str, Any], view: dict[str, Any], form: Any) -> dict[str, Any]:
    """The raw answer dict from an HTML form (``form.getlist``/``form.get``); field names are
    ``q.<id>`` (labels, pairwise, texts), ``q.<id>.<target>.<criterion>`` (ratings) and
    ``q.<id>.<i>`` (ranking). Validate it with :func:`validate_answer`."""
    answer: dict[str, Any] = {}
    for q in schema["questions"]:
        qid, qtype = q["id"], q["type"]
        if not applicable(q, view):
            continue
        if qtype == "labels":
            vals = [v for v in form.getlist(f"q.{qid}") if v != ""]
            answer[qid] = vals if q["multi"] else (vals[0] if len(vals) == 1 else (vals or None))
        elif qtype == "ratings":
            targets = rating_targets(q, view)
            per = {t: {c: form.get(f"q.{qid}.{t}.{c}") for c in q["criteria"]} for t in targets}
            per = {t: {c: v for c, v in d.items() if v not in (None, "")} for t, d in per.items()}
            if all(not d for d in per.values()):
                answer[qid] = None
            else:
                answer[qid] = per["item"] if targets == ["item"] else per
        elif qtype == "ranking":
            n = len(view["responses"])
            vals = {str(i): form.get(f"q.{qid}.{i}") for i in range(n)}
            answer[qid] = None if all(v in (None, "") for v in vals.values()) else vals
        else:
            answer[qid] = form.get(f"q.{qid}")
    return answer


# ---------------------------------------------------------------------------------------------
# uncertainty for active learning

_UNC_KEYS = ("uncertainty",)
_SCORE_KEYS = ("score", "model_score", "prob", "probability", "quality_score", "reward")


def _lookup(record: dict[str, Any], path: str) -> Any:
    cur: Any = record
    for part in path.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return None
        cur = cur[part]
    return cur


def _num(v: Any) -> float | None:
    if isinstance(v, bool) or v is None:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def uncertainty_from_score(score: float) -> float:
    """How unsure a model is: a probability in [0, 1] is most uncertain at 0.5 (``1 - |2p-1|``);
    any other score is read as a margin/logit, most uncertain at 0 (``1 / (1 + |s|)``)."""
    if 0.0 <= score <= 1.0:
        return 1.0 - abs(2.0 * score - 1.0)
    return 1.0 / (1.0 + abs(score))


def score_and_uncertainty(record: dict[str, Any], score_field: str | None = None) -> tuple[float | None, float | None]:
    """The model score a row carries (``score_field`` as a dotted path, else ``score``/``prob``/…
    at the top level, in ``signals`` or in ``metadata``) and the uncertainty used to order the
    queue (an explicit ``uncertainty`` wins)."""
    places = ("", "signals.", "metadata.")
    if score_field:
        score = _num(_lookup(record, score_field))
        return score, (None if score is None else uncertainty_from_score(score))
    for p in places:
        for k in _UNC_KEYS:
            u = _num(_lookup(record, p + k))
            if u is not None:
                s = next((x for x in (_num(_lookup(record, p2 + k2)) for p2 in places for k2 in _SCORE_KEYS)
                          if x is not None), None)
                return s, u
    for p in places:
        for k in _SCORE_KEYS:
            s = _num(_lookup(record, p + k))
            if s is not None:
                return s, uncertainty_from_score(s)
    return None, None
