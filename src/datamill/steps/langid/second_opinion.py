"""A second opinion from py3langid where lid.176 is unsure or known to be weak.

Two uses, both measured on the lingua sentences (``benchmarks/eval_langid.py``):

1. Close languages (``decide_in_group``). lid.176 is strong between language families and weak inside a few groups of very close
languages: Afrikaans is called Dutch a third of the time, Nynorsk Bokmål, Bosnian Croatian or
Serbo-Croatian. On the lingua test sentences py3langid, restricted to the group, separates
them much better (see docs/langid.md). So when lid.176's best label falls in such a group,
the step asks py3langid to choose *within the group*, and keeps lid.176's probability of the
group as a whole:

    score(lang) = P_fastText(group) * P_py3langid(lang | group)

Malay/Indonesian is left out on purpose: py3langid is no better there (it trades Indonesian
accuracy for Malay accuracy one for one).

2. Low confidence (``classify``). When lid.176's score stays below a threshold (the step's
``second_opinion_below``, by default FineWeb's 0.65), py3langid's own answer and probability
replace it. lid.176 is unsure on short text and on languages it knows poorly (Somali, Yoruba,
Irish, Latin, Slovak), where py3langid is much better; above the threshold lid.176 is rarely
wrong.
"""

from __future__ import annotations

import copy

# lid.176 label -> the group py3langid chooses in (py3langid's labels). lid.176's "sh"
# (Serbo-Croatian) has no py3langid label; it is resolved to bs, hr or sr.
GROUPS: dict[str, tuple[str, ...]] = {}
for _group in (("af", "nl"), ("no", "nn", "da"), ("bs", "hr", "sr")):
    for _lang in _group:
        GROUPS[_lang] = _group
GROUPS["sh"] = ("bs", "hr", "sr")
# lid.176 labels whose probability counts toward each group's mass.
FASTTEXT_MEMBERS: dict[tuple[str, ...], frozenset[str]] = {
    g: frozenset(g) | ({"sh"} if "hr" in g else set()) for g in set(GROUPS.values())}

MAX_CHARS = 3000  # py3langid is pure Python per n-gram; a prefix is plenty for a close call


class SecondOpinion:
    """py3langid identifiers restricted to each group, sharing one loaded model."""

    def __init__(self) -> None:
        try:
            from py3langid.langid import MODEL_FILE, LanguageIdentifier
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError("language_id with second_opinion=True needs py3langid "
                              "(pip install py3langid), or set second_opinion: false") from exc
        base = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
        self._base = base
        self.labels = frozenset(base.labels)
        self._by_group = {}
        for group in set(GROUPS.values()):
            ident = copy.copy(base)
            ident.set_languages(list(group))
            self._by_group[group] = ident

    def decide_in_group(self, text: str, top: list[tuple[str, float]]) -> tuple[str, float] | None:
        """(language, score) when lid.176's best label is in a group, else ``None``."""
        group = GROUPS.get(top[0][0])
        if group is None:
            return None
        members = FASTTEXT_MEMBERS[group]
        mass = sum(p for lang, p in top if lang in members)
        lang, p = self._by_group[group].classify(text[:MAX_CHARS])
        return lang, min(1.0, mass * p)

    def classify(self, text: str) -> tuple[str, float]:
        """py3langid's own (language, probability) over all its languages."""
        lang, p = self._base.classify(text[:MAX_CHARS])
        return lang, float(p)
