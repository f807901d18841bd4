"""Ready question schemas (see :mod:`datamill.annotate.questions` for the format).

==========================  =================================================================
name                        for
==========================  =================================================================
``rate_and_rank``           rate each response per criterion (accuracy, safety, helpfulness
                            1–5) and rank them; pairs, ranked lists
``write_better_answer``     rate the response, then rewrite it into a better one (→ SFT)
``pairwise``                choose the better of two responses (→ preference pairs)
``classify``                one label per item (``labels`` option: your label set)
``oa_prompt_writing``       OpenAssistant 1: write an initial prompt (from a seed document or
                            topic when the dataset has one)
``oa_prompt_review``        OpenAssistant 2: flag and rate a prompt
``oa_reply_writing``        OpenAssistant 3: write the assistant's reply to a conversation
``oa_reply_review``         OpenAssistant 4: flag and rate a reply
``oa_ranking``              OpenAssistant 5: rank the replies to a prompt
==========================  =================================================================
"""

from __future__ import annotations

import copy
from typing import Any

from datamill.core.errors import DatamillError
from datamill.annotate.questions import validate_schema

DEFAULT_CRITERIA = ["accuracy", "safety", "helpfulness"]
OA_FLAGS_PROMPT = ["spam", "not_appropriate", "pii", "hate_speech", "sexual_content", "lang_mismatch"]
OA_FLAGS_REPLY = ["spam", "fails_task", "not_appropriate", "pii", "hate_speech", "sexual_content",
                  "lang_mismatch"]

_COMMENT = {"id": "comment", "type": "comment", "title": "Comment (optional)", "required": False}

TEMPLATES: dict[str, dict[str, Any]] = {
    "rate_and_rank": {
        "title": "Rate and rank responses",
        "instructions": "Read the prompt and every response. Rate each response on each criterion "
                        "(1 = poor, 5 = excellent), then rank the responses (1 = best).",
        "questions": [
            {"id": "ratings", "type": "ratings", "title": "Rate each response", "criteria": DEFAULT_CRITERIA,
             "scale": [1, 5], "per_response": True},
            {"id": "ranking", "type": "ranking", "title": "Rank the responses (1 = best)"},
            _COMMENT,
        ],
    },
    "write_better_answer": {
        "title": "Write a better answer",
        "instructions": "Rate the response, then rewrite it into the answer you would want a model to "
                        "give. Keep what is right, fix what is wrong.",
        "questions": [
            {"id": "ratings", "type": "ratings", "title": "Rate the original response",
             "criteria": DEFAULT_CRITERIA, "scale": [1, 5], "per_response": True, "required": False},
            {"id": "rewrite", "type": "rewrite", "title": "Your better answer", "prefill": True},
            _COMMENT,
        ],
    },
    "pairwise": {
        "title": "Pairwise choice",
        "instructions": "Which response is better? Choose tie only when you cannot tell.",
        "questions": [
            {"id": "choice", "type": "pairwise", "title": "Which response is better?", "allow_tie": True},
            _COMMENT,
        ],
    },
    "classify": {
        "title": "Classify",
        "instructions": "Choose the label that fits best.",
        "questions": [
            {"id": "label", "type": "labels", "title": "Label", "options": ["good", "bad"], "multi": False},
            _COMMENT,
        ],
    },
    "oa_prompt_writing": {
        "title": "OpenAssistant 1: prompt writing",
        "instructions": "Write a prompt a user could send to an assistant. When a document or topic is "
                        "shown, take your inspiration from it.",
        "questions": [
            {"id": "prompt", "type": "prompt", "title": "Your prompt"},
            _COMMENT,
        ],
    },
    "oa_prompt_review": {
        "title": "OpenAssistant 2: prompt review",
        "instructions": "Flag anything wrong with the prompt, then rate it.",
        "questions": [
            {"id": "flags", "type": "labels", "title": "Flags", "options": OA_FLAGS_PROMPT, "multi": True,
             "required": False},
            {"id": "quality", "type": "ratings", "title": "Rate the prompt",
             "criteria": ["quality", "creativity", "humor"], "scale": [1, 5], "per_response": False},
            _COMMENT,
        ],
    },
    "oa_reply_writing": {
        "title": "OpenAssistant 3: reply writing",
        "instructions": "Write the assistant's reply to the conversation: helpful, honest and harmless.",
        "questions": [
            {"id": "reply", "type": "rewrite", "title": "Assistant reply", "prefill": False},
            _COMMENT,
        ],
    },
    "oa_reply_review": {
        "title": "OpenAssistant 4: reply review",
        "instructions": "Flag anything wrong with the reply, then rate it.",
        "questions": [
            {"id": "flags", "type": "labels", "title": "Flags", "options": OA_FLAGS_REPLY, "multi": True,
             "required": False},
            {"id": "quality", "type": "ratings", "title": "Rate the reply",
             "criteria": ["quality", "helpfulness", "creativity", "humor", "toxicity"], "scale": [1, 5],
             "per_response": True},
            _COMMENT,
        ],
    },
    "oa_ranking": {
        "title": "OpenAssistant 5: ranking",
        "instructions": "Rank the replies from best (1) to worst.",
        "questions": [
            {"id": "ranking", "type": "ranking", "title": "Rank the replies (1 = best)"},
            _COMMENT,
        ],
    },
}


def template_names() -> list[str]:
    return list(TEMPLATES)


def get_template(name: str, *, labels: list[str] | None = None, criteria: list[str] | None = None,
                 scale: tuple[int, int] | list[int] | None = None) -> dict[str, Any]:
    """The question schema of template ``name`` (validated), with optional overrides: the label
    set of ``labels`` questions, the criteria and the scale of ``ratings`` questions."""
    if name not in TEMPLATES:
        raise DatamillError(f"unknown template {name!r}: choose one of {', '.join(TEMPLATES)}")
    tpl = copy.deepcopy(TEMPLATES[name])
    for q in tpl["questions"]:
        if q["type"] == "labels" and labels:
            q["options"] = list(labels)
        if q["type"] == "ratings":
            if criteria:
                q["criteria"] = list(criteria)
            if scale:
                q["scale"] = list(scale)
    return validate_schema({"instructions": tpl["instructions"], "questions": tpl["questions"]})


def catalog() -> list[dict[str, Any]]:
    """Every template: name, title and schema (for the API and the admin page)."""
    return [{"name": n, "title": t["title"], "schema": get_template(n)} for n, t in TEMPLATES.items()]
