"""``refusal_filter``: answers that refuse, and "As an AI language model…" boilerplate.

Two pattern sets, each with English, Chinese, Spanish, French, German, Portuguese, Italian,
Russian and Japanese forms:

* **refusals** — "I'm sorry, but I can't…", "I cannot fulfill this request", "I must decline",
  "抱歉，我无法…", "Lo siento, pero no puedo…" — searched in the first ``head_chars`` characters
  of the answer (an answer that *discusses* refusing later on is not a refusal). Reason
  ``refusal``.
* **boilerplate** — "As an AI language model", "As a large language model", "I am just an AI",
  "trained by OpenAI", "my knowledge cutoff", "作为一个人工智能语言模型", "En tant que modèle de
  langage"… — anywhere in the answer. Reason ``ai_boilerplate``.

It looks at the answers being taught (every assistant turn of an SFT chat, the chosen side, a
desirable KTO completion, the best ranked response): a refusal in ``rejected`` is often the
point of a preference pair, and for safety data (hh-rlhf harmless) set ``refusals: false``.
``extra_patterns`` adds regular expressions (case-insensitive), reason ``refusal``. The match
is kept in ``signals["refusal_match"]``.
"""

from __future__ import annotations

import re

from datamill.core.record import Record
from datamill.core.step import Filter, register
from datamill.steps.post.sides import set_signals, taught_answers

_CANT = r"(?:can(?:no|['’])t|can not|am unable to|am not able to|won['’]t|will not|must decline to)"
_SENTENCE = r"(?:^|(?<=[.!?]\s))"  # at the start of the answer or of a sentence, not in a quote
REFUSAL_PATTERNS = [
    # English
    rf"{_SENTENCE}i(?:['’]?m| am) (?:really |very |so )?(?:sorry|afraid)\b[^.!?\n]{{0,60}}\bi {_CANT}",
    rf"^(?:sorry|unfortunately|apologies)\b[^.!?\n]{{0,40}}\bi {_CANT}",
    rf"^i {_CANT} (?:help|assist|provide|fulfill|comply|do that|answer|create|generate|write|"
    r"engage|support|give|share|complete|participate)",
    r"\bi (?:cannot|can['’]t|am unable to) (?:fulfill|comply with|help with|assist with) "
    r"(?:this|that|your|such) (?:request|task|question)",
    r"\bi (?:must|have to|will have to) (?:respectfully |politely )?decline\b",
    r"\bit(?: is|['’]s) not appropriate for me to\b",
    r"\bi['’]?m not (?:able|allowed|permitted|comfortable) (?:to )?(?:help|assist|provide|"
    r"answer|engag|generat|writ|creat|shar)",
    r"\bi (?:don['’]t|do not) feel comfortable (?:help|assist|provid|answer|writ|creat|generat|shar)",
    r"\bagainst my (?:programming|guidelines|policy|policies|ethical guidelines)\b",
    # Chinese
    r"^(?:非常|很)?(?:抱歉|对不起|不好意思)[，,。！!\s]*(?:但(?:是)?)?(?:我|作为)[^。！？\n]{0,20}(?:无法|不能|不可以|没办法)",
    r"^我(?:无法|不能|没办法)(?:回答|提供|完成|满足|帮助|协助|生成|编写|执行)",
    # Spanish, Portuguese, Italian
    r"^lo siento,? (?:pero )?no (?:puedo|es posible)",
    r"^(?:desculpe|sinto muito),? (?:mas )?(?:eu )?não (?:posso|consigo)",
    r"^mi dispiace,? (?:ma )?non (?:posso|sono in grado)",
    # French, German
    r"^(?:je suis )?désolée?,? (?:mais )?je ne (?:peux|suis pas en mesure)",
    r"^(?:es tut mir leid|entschuldigung|leider),? (?:aber )?(?:ich )?(?:kann|darf)\b[^.!?\n]{0,30}\b(?:nicht|keine)\b",
    # Russian, Japanese
    r"^(?:извините|простите|к сожалению),? (?:но )?я не (?:могу|в состоянии)",
    r"^申し訳(?:ありません|ございません)が[^。\n]{0,40}(?:できません|お答えできません|お手伝いできません)",
]
BOILERPLATE_PATTERNS = [
    # English
    r"\bas an? (?:ai|artificial intelligence)(?:[- ](?:language|based|powered))?(?: language)? model\b",
    r"\bas an? (?:large |text[- ]based |digital )?language model\b",
    r"\bas an? ai(?: assistant| chatbot| language model| developed by [^,.]{1,30})?,",
    r"\bi(?:['’]m| am) (?:just |only |merely )?an? (?:ai|artificial intelligence)(?: language model| "
    r"assistant| model| chatbot)?\b(?! (?:researcher|engineer|enthusiast))",
    r"\b(?:trained|developed|created|made) by openai\b",
    r"\bmy (?:knowledge|training)(?: data)? (?:cutoff|cut-off)\b",
    r"\bi (?:do not|don['’]t) have (?:personal )?(?:opinions|feelings|emotions|beliefs|experiences|"
    r"preferences|a physical body|the ability to browse)\b",
    # Chinese
    r"作为(?:一个|一名)?(?:AI|人工智能|ai)(?:语言模型|模型|助手|助理)?",
    r"作为(?:一个|一名)?(?:大型)?语言模型",
    r"我(?:只)?是(?:一个|一名)(?:AI|人工智能|ai)(?:语言模型|模型|助手|助理)",
    # Spanish, Portuguese, Italian
    r"\bcomo (?:un |una )?(?:modelo de lenguaje|inteligencia artificial|ia)\b",
    r"\bcomo (?:um |uma )?(?:modelo de linguagem|inteligência artificial|ia)\b",
    r"\bcome (?:un )?(?:modello (?:di linguaggio|linguistico)|intelligenza artificiale|ia)\b",
    # French, German
    r"\ben tant qu['’](?:ia|intelligence artificielle|assistant virtuel)\b",
    r"\ben tant que (?:modèle de langage|ia|intelligence artificielle)\b",
    r"\bals (?:eine? )?(?:KI|KI-Sprachmodell|Sprachmodell|künstliche Intelligenz)\b",
    # Russian, Japanese
    r"\bкак (?:языковая модель|ии|искусственный интеллект)\b",
    r"(?:AI|ＡＩ|人工知能)(?:言語)?モデル(?:として|なので)",
]


def _compile(patterns: list[str]) -> re.Pattern:
    return re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE | re.MULTILINE)


@register("refusal_filter")
class RefusalFilter(Filter):
    """Drop answers that refuse (``refusal``) or speak AI boilerplate (``ai_boilerplate``)."""

    def __init__(self, refusals: bool = True, boilerplate: bool = True, head_chars: int = 300,
                 extra_patterns: list[str] | None = None, all_turns: bool = True,
                 include_rejected: bool = False):
        if head_chars < 1:
            raise ValueError(f"head_chars must be positive, got {head_chars}")
        for p in extra_patterns or ():
            try:
                re.compile(p)
            except re.error as exc:
                raise ValueError(f"extra pattern {p!r} is not a regular expression: {exc}") from exc
        self.refusals = refusals
        self.boilerplate = boilerplate
        self.head_chars = head_chars
        self.extra_patterns = list(extra_patterns or ())
        self.all_turns = all_turns
        self.include_rejected = include_rejected
        pats = (REFUSAL_PATTERNS if refusals else []) + self.extra_patterns
        self._refusal = _compile(pats) if pats else None
        self._boiler = _compile(BOILERPLATE_PATTERNS) if boilerplate else None

    def check(self, text: str) -> tuple[str, str] | None:
        """``(reason, matched text)`` for one answer, or None."""
        if self._refusal is not None:
            m = self._refusal.search(text.lstrip()[: self.head_chars])
            if m:
                return "refusal", m.group(0)
        if self._boiler is not None:
            m = self._boiler.search(text)
            if m:
                return "ai_boilerplate", m.group(0)
        return None

    def keep(self, record: Record) -> None | str:
        for field, text in taught_answers(record, all_turns=self.all_turns,
                                          include_rejected=self.include_rejected):
            found = self.check(text)
            if found:
                set_signals(record, self.label, refusal_match=found[1][:100], refusal_field=field)
                return found[0]
        return None
