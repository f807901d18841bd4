"""How the ``language_id`` tagger decides a text's language: whitespace normalised, the
script first, lid.176, and a vote with py3langid where lid.176 is unsure.

For each text (its first ``max_chars`` characters):

1. **Whitespace.** No-break, ideographic and other Unicode spaces become plain spaces, zero-width
   characters and byte-order marks go, runs of whitespace collapse. fastText splits words on
   ASCII whitespace only, so ``中文\\u00a0内容`` would be one unknown "word" to it.
2. **Script first.** When most letters are in a script only one language writes (Greek, Thai,
   hangul, kana, Armenian, Georgian, most Indic scripts; ``datamill.text.scripts``), that is
   the language, with the script's share of the letters as the score (method ``script``).
   Han-only text of ``MIN_HAN_FOR_CHINESE`` (6) characters or more is a Chinese variety, scored
   by lid.176's probability of CJK labels (Japanese prose without kana is rare). A
   script several languages write (Han, Cyrillic, Arabic, Devanagari, Bengali, Hebrew) limits
   the labels both models may give.
3. **lid.176** (top 10 labels). If its best allowed label has probability ``vote_below`` (0.9)
   or more, that is the answer (method ``lid176``) -- except for Han-only text.
4. **Chinese or Japanese** for Han-only text shorter than ``MIN_HAN_FOR_CHINESE``: characters
   and dictionaries decide where they can (``han.py``: simplified-only characters or no
   Japanese dictionary entry -> Chinese; Japanese-only shinjitai, or a Japanese word that is no
   Chinese word -> ``ja``); text in traditional forms (Japanese or Traditional Chinese) is
   decided by lid.176 alone; the rest (words both languages write) is voted.
5. **Vote.** Otherwise each allowed label scores ``(1 - vote_weight) * p_lid176 +
   vote_weight * p_py3langid`` and the best wins (method ``vote``). For Han-only text the
   Chinese varieties (zh, wuu, yue) vote together against Japanese, then the best variety is
   named. On short text (``SHORT_TEXT`` characters or fewer) py3langid votes with lid.176's
   labels only, and when lid.176 knows none of the words (it answers its prior, ``en`` 0.12)
   py3langid must be ``PRIOR_OVERRIDE`` sure to overrule it.

Each rule was measured before it was adopted (``benchmarks/eval_langid.py``, docs/langid.md).
py3langid is loaded on its first use only (``second_opinion.py``).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import regex

from datamill.text.scripts import SCRIPT_LANGUAGES, dominant_from_counts, script_counts

log = logging.getLogger(__name__)

UNDETERMINED = "und"
TOP_K = 10
CHINESE = frozenset({"zh", "wuu", "yue"})
CJK_LABELS = CHINESE | {"ja", "ko"}

#: Han-only text with this many Han characters is Chinese; shorter text (a kanji compound
#: is Japanese too) is voted
MIN_HAN_FOR_CHINESE = 6
#: text this long or shorter is "short": py3langid votes only with lid.176's labels there, and
#: when lid.176 knows none of its words py3langid must be ``PRIOR_OVERRIDE`` sure to decide
SHORT_TEXT = 64
PRIOR_OVERRIDE = 0.2
#: py3langid labels spelled differently from lid.176's
_PY_TO_LID = {"zxx": UNDETERMINED}


def keeps_cjk(languages) -> bool:
    """Whether a step keeping ``languages`` (``None``: every language) keeps Chinese or
    Japanese, the languages the short-Han-text rules tell apart."""
    return languages is None or bool(set(languages) & (CHINESE | {"ja"}))


_SPACES = regex.compile(r"[\p{Zs}\t\n\r\f\v\u2028\u2029\u0085]+")
_INVISIBLE = regex.compile(r"[\u200b\u200c\u200d\u2060\ufeff\u00ad]")
_INVISIBLE_CHARS = frozenset("\u200b\u200c\u200d\u2060\ufeff\u00ad")
#: what fastText would not read as whitespace or would read as a letter: the Unicode spaces
#: other than the ASCII one (``Zs``), line/paragraph separators, NEL, and invisible characters
#: (the standard ``re`` module: a plain character class is searched several times faster than
#: the ``regex`` module's set operations)
_ODD = re.compile("[\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000\u2028\u2029\u0085"
                  "\u200b\u200c\u200d\u2060\ufeff\u00ad]")


def normalize_whitespace(text: str) -> str:
    """Unicode spaces to one ASCII space, zero-width characters and soft hyphens removed."""
    return _SPACES.sub(" ", _INVISIBLE.sub("", text)).strip()


def _odd_space(m) -> str:
    return "" if m.group() in _INVISIBLE_CHARS else " "


def for_fasttext(text: str) -> str:
    """What fastText reads the same as :func:`normalize_whitespace`'s result, at a fraction of
    the cost: fastText splits words on runs of ASCII whitespace itself, so only the other
    spaces and the invisible characters need replacing (ASCII text is returned as it is)."""
    if text.isascii() or _ODD.search(text) is None:
        return text
    return _ODD.sub(_odd_space, text)


@dataclass(frozen=True)
class Identification:
    language: str
    score: float
    method: str  # "script", "lid176", "vote" or "empty"
    script: str | None
    lid176_language: str
    lid176_score: float

    def signals(self) -> dict:
        return {"language": self.language, "score": round(self.score, 4), "method": self.method,
                "script": self.script or "", "lid176_language": self.lid176_language,
                "lid176_score": round(self.lid176_score, 4)}


EMPTY = Identification(UNDETERMINED, 0.0, "empty", None, UNDETERMINED, 0.0)


class Identifier:
    """lid.176 plus the rules above; ``identify`` works on a batch of texts."""

    def __init__(self, model, *, max_chars: int = 10_000, script_first: bool = True,
                 second_opinion: bool = True, vote_below: float = 0.9, vote_weight: float = 0.55,
                 normalize: bool = True):
        self.model = model
        self.max_chars = max_chars
        self.script_first = script_first
        self.second_opinion = second_opinion
        self.vote_below = vote_below
        self.vote_weight = vote_weight
        self.normalize = normalize
        self.second_opinion_calls = 0
        #: the Chinese/Japanese rules for short Han text (``han.py``); off when their packages
        #: are missing
        self.han_rules = True
        self._prior: list[tuple[str, float]] | None = None

    def identify(self, texts: list[str]) -> list[Identification]:
        cut = [(t if isinstance(t, str) else "")[: self.max_chars] for t in texts]
        if self.normalize:
            # fastText reads runs of ASCII whitespace as one space: only other spaces and
            # invisible characters change its prediction; a text that goes to py3langid's vote
            # is collapsed in full (``decide``)
            cut = [for_fasttext(t) for t in cut]
        todo = [i for i, t in enumerate(cut) if t and not t.isspace()]
        out = [EMPTY] * len(cut)
        preds = self.model.predict([cut[i] for i in todo], k=TOP_K)
        for i, top in zip(todo, preds):
            out[i] = self.decide(cut[i], top)
        return out

    def decide(self, text: str, top: list[tuple[str, float]]) -> Identification:
        lid_lang, lid_p = top[0]
        script = allowed = None
        if self.script_first:
            counts, letters = script_counts(text)
            script = dominant_from_counts(counts, letters)
            allowed = SCRIPT_LANGUAGES.get(script) if script else None
            if allowed and len(allowed) == 1:
                share = counts[script] / letters if letters else 0.0
                return Identification(allowed[0], min(1.0, share), "script", script, lid_lang, lid_p)
            if script == "Han" and counts["Han"] >= MIN_HAN_FOR_CHINESE:
                # Japanese prose without any kana is rare: a Chinese variety, and lid.176's
                # mass on CJK labels is its confidence that the text is CJK at all
                probs = {l: p for l, p in top if l in CHINESE}
                variety = max(probs, key=probs.__getitem__, default="zh")
                score = sum(p for l, p in top if l in CJK_LABELS)
                return Identification(variety, min(1.0, score), "script", script, lid_lang, lid_p)
        mine = [(l, p) for l, p in top if allowed is None or l in allowed]
        if mine and script != "Han" and mine[0][1] >= self.vote_below:
            return Identification(mine[0][0], min(1.0, mine[0][1]), "lid176", script, lid_lang, lid_p)
        if self.normalize:
            # fastText read the text with only its odd spaces replaced (``for_fasttext``); the
            # rules below (length, dictionaries, py3langid) read it collapsed
            text = normalize_whitespace(text)
        han_evidence = None
        if script == "Han" and self.script_first and self.han_rules:
            han_evidence = self._han_evidence(text)
            if han_evidence == "ja":
                share = counts["Han"] / letters if letters else 0.0
                return Identification("ja", min(1.0, share), "script", script, lid_lang, lid_p)
        short = len(text) <= SHORT_TEXT
        dist = None
        if (short and script is None and self.second_opinion and self._is_prior(top)):
            # lid.176 knows none of the words (its answer is its prior): py3langid decides
            # only when it is fairly sure, else lid.176's prior stands (as raw lid.176)
            from datamill.steps.langid import second_opinion

            self.second_opinion_calls += 1
            dist = second_opinion.distribution(text)
            best = next(((l, p) for l, p in dist if l in self.model.labels), None)
            if best is None or best[1] < PRIOR_OVERRIDE:
                return Identification(lid_lang, lid_p, "lid176", script, lid_lang, lid_p)
        if not self.second_opinion or han_evidence == "traditional":
            if script == "Han":
                # traditional forms (Japanese, or Traditional Chinese): lid.176 alone decides;
                # py3langid calls nearly every Han-only text Chinese
                return self._han(script, {l: p for l, p in mine}, "lid176", lid_lang, lid_p,
                                 chinese_only=han_evidence == "zh")
            if mine:
                return Identification(mine[0][0], min(1.0, mine[0][1]), "lid176", script, lid_lang, lid_p)
            return Identification(allowed[0] if allowed else lid_lang, 0.0 if allowed else lid_p,
                                  "lid176", script, lid_lang, lid_p)
        if dist is None:
            from datamill.steps.langid import second_opinion

            self.second_opinion_calls += 1
            dist = second_opinion.distribution(text)
        w = self.vote_weight
        mixed: dict[str, float] = {}
        for l, p in mine:
            mixed[l] = mixed.get(l, 0.0) + (1.0 - w) * p
        for l, p in dist:
            l = _PY_TO_LID.get(l, l)
            if (allowed is None or l in allowed) and (not short or l in self.model.labels):
                mixed[l] = mixed.get(l, 0.0) + w * p
        if script == "Han":
            return self._han(script, mixed, "vote", lid_lang, lid_p,
                             chinese_only=han_evidence == "zh")
        if not mixed:
            return Identification(allowed[0] if allowed else lid_lang, 0.0, "vote", script, lid_lang, lid_p)
        lang = max(mixed, key=mixed.__getitem__)
        return Identification(lang, min(1.0, mixed[lang]), "vote", script, lid_lang, lid_p)

    def _han_evidence(self, text: str) -> str | None:
        from datamill.steps.langid import han

        try:
            return han.evidence(text)
        except ImportError as e:
            # language_id checks the packages in preflight; other users of Identifier (the
            # HTML prefilter) go on with the vote alone, said once
            self.han_rules = False
            log.warning("Chinese/Japanese rules for short Han text are off: %s", e)
            return None

    def _is_prior(self, top: list[tuple[str, float]]) -> bool:
        """Whether lid.176's answer is the one it gives text with no known word."""
        if self._prior is None:
            self._prior = self.model.predict(["\u0001"], k=2)[0]
        prior = self._prior
        return (len(top) >= 2 and top[0][0] == prior[0][0] and top[1][0] == prior[1][0]
                and abs(top[0][1] - prior[0][1]) < 1e-6)

    @staticmethod
    def _han(script, probs: dict[str, float], method: str, lid_lang: str, lid_p: float,
             chinese_only: bool = False) -> Identification:
        chinese = sum(p for l, p in probs.items() if l in CHINESE)
        japanese = probs.get("ja", 0.0)
        if japanese > chinese and not chinese_only:
            return Identification("ja", min(1.0, japanese), method, script, lid_lang, lid_p)
        variety = max((l for l in probs if l in CHINESE), key=probs.__getitem__, default="zh")
        return Identification(variety, min(1.0, chinese), method, script, lid_lang, lid_p)

