"""One internal schema for post-training records.

Records are plain dicts (they flow through the same pipeline engine as pretraining documents),
described here with TypedDicts. Every record has ``id``, ``kind``, ``messages`` (the prompt
side of the conversation, or the whole conversation for SFT) and ``metadata``; the other keys
depend on the kind:

=============  =====================================================================
kind           keys besides id/kind/messages/metadata
=============  =====================================================================
``sft``        ``messages`` ends with the assistant answer (single- or multi-turn;
               system/user/assistant/tool roles; tool calls and tool results)
``preference`` ``chosen`` and ``rejected``: each a list of messages continuing
               ``messages`` (usually one assistant message); ``ratings`` optional
``kto``        ``completion`` (messages continuing ``messages``) and ``label`` (bool:
               desirable or not)
``ranking``    ``responses``: a list of :class:`Response` (messages + rank and/or
               score + optional per-criterion ratings); rank 1 is best
=============  =====================================================================

Optional on every kind: ``tools`` (the tool/function schemas offered to the model, as in the
OpenAI API), ``ratings`` (per-criterion scores, e.g. ``{"accuracy": 5, "safety": 5,
"helpfulness": 4}``; for a preference pair they rate the pair as annotated, e.g. HelpSteer /
UltraFeedback ``annotation_metrics``), ``rationale`` (free text, or a dict per criterion),
``signals`` (what taggers measured).

A preference with an *implicit* prompt (TRL's implicit-prompt format, hh-rlhf's dialogues)
is stored with the shared prefix moved into ``messages`` and only the differing continuation in
``chosen``/``rejected``; writers for implicit formats join them back.
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict

try:  # Python 3.11+
    from typing import NotRequired
except ImportError:  # pragma: no cover
    from typing_extensions import NotRequired

Role = Literal["system", "user", "assistant", "tool"]
Kind = Literal["sft", "preference", "kto", "ranking"]
ROLES: tuple[str, ...] = ("system", "user", "assistant", "tool")
KINDS: tuple[str, ...] = ("sft", "preference", "kto", "ranking")


class ToolCall(TypedDict):
    id: NotRequired[str]
    name: str
    arguments: dict[str, Any] | str  # parsed JSON object when it parses, else the raw string


class Message(TypedDict):
    role: Role
    content: str
    tool_calls: NotRequired[list[ToolCall]]   # assistant messages that call tools
    tool_call_id: NotRequired[str]            # tool messages: which call they answer
    name: NotRequired[str]                    # tool messages: the tool's name
    reasoning: NotRequired[str]               # assistant messages: chain of thought shown before
                                              # the content (LLaMA-Factory "reasoning" parts,
                                              # ``reasoning_content``, a leading <think>...</think>)


class Response(TypedDict):
    messages: list[Message]
    rank: NotRequired[int]
    score: NotRequired[float]
    ratings: NotRequired[dict[str, float]]
    rationale: NotRequired[str | dict[str, str]]


class PostRecord(TypedDict):
    id: str
    kind: Kind
    messages: list[Message]
    metadata: dict[str, Any]
    chosen: NotRequired[list[Message]]
    rejected: NotRequired[list[Message]]
    completion: NotRequired[list[Message]]
    label: NotRequired[bool]
    responses: NotRequired[list[Response]]
    tools: NotRequired[list[dict[str, Any]]]
    ratings: NotRequired[dict[str, float]]
    rationale: NotRequired[str | dict[str, str]]
    signals: NotRequired[dict[str, Any]]


def message(role: str, content: str, **extra: Any) -> Message:
    msg: dict[str, Any] = {"role": role, "content": content}
    msg.update({k: v for k, v in extra.items() if v is not None})
    return msg  # type: ignore[return-value]


def sft(id: str, messages: list[Message], **extra: Any) -> PostRecord:
    return _record(id, "sft", messages, extra)


def preference(id: str, prompt: list[Message], chosen: list[Message], rejected: list[Message],
               **extra: Any) -> PostRecord:
    return _record(id, "preference", prompt, dict(extra, chosen=chosen, rejected=rejected))


def kto(id: str, prompt: list[Message], completion: list[Message], label: bool, **extra: Any) -> PostRecord:
    return _record(id, "kto", prompt, dict(extra, completion=completion, label=bool(label)))


def ranking(id: str, prompt: list[Message], responses: list[Response], **extra: Any) -> PostRecord:
    return _record(id, "ranking", prompt, dict(extra, responses=responses))


def _record(id: str, kind: str, messages: list[Message], extra: dict[str, Any]) -> PostRecord:
    rec: dict[str, Any] = {"id": id, "kind": kind, "messages": messages,
                           "metadata": extra.pop("metadata", None) or {}}
    rec.update({k: v for k, v in extra.items() if v is not None})
    return rec  # type: ignore[return-value]


def prompt_text(record: PostRecord | dict[str, Any]) -> str:
    """The last user turn of the prompt side: what selection and dedup compare by default."""
    for msg in reversed(record.get("messages") or []):
        if msg.get("role") == "user":
            return msg.get("content") or ""
    return ""


def response_text(record: PostRecord | dict[str, Any]) -> str:
    """The answer being taught: the SFT's last assistant turn, the chosen or the completion."""
    kind = record.get("kind")
    if kind == "preference":
        msgs = record.get("chosen") or []
    elif kind == "kto":
        msgs = record.get("completion") or []
    elif kind == "ranking":
        ranked = sorted(record.get("responses") or [], key=lambda r: r.get("rank", 1 << 30))
        msgs = ranked[0]["messages"] if ranked else []
    else:
        msgs = record.get("messages") or []
    for msg in reversed(msgs):
        if msg.get("role") == "assistant":
            return msg.get("content") or ""
    return ""
