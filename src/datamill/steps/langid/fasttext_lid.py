"""``language_id``: fastText lid.176 language identification, with fixes for its weak spots.

Every record it sees gets two signals, ``language`` (a lid.176 label, ISO 639-1 where one
exists: "en", "zh", "no" for Norwegian Bokmål, "und" for text with nothing to read) and
``language_score`` (0..1). It then keeps or drops:

* ``language_not_kept`` — ``languages`` is given and the language is not in it;
* ``low_language_score`` — the score is below ``min_scores[lang]`` or else ``min_score``
  (0.65, FineWeb's threshold). ``min_score: 0`` with no ``languages`` makes it a pure tagger.

lid.176's answer is corrected in two places, each measured in ``benchmarks/eval_langid.py``:

* ``script_correction`` — in mainly-CJK text the writing system decides which CJK language
  (kana → ja, hangul → ko, Han without kana → Chinese), and the probability lid.176 spread over
  CJK languages goes to that one (see ``script.py``);
* ``second_opinion`` — when lid.176 says af/nl, no/nn/da or bs/hr/sr/sh, py3langid chooses
  inside that group; and when the score is still below ``second_opinion_below``, py3langid's
  own answer and probability replace lid.176's (see ``second_opinion.py``). py3langid knows a
  few languages lid.176 lacks (zu, xh, st, sn, ...), so those labels can appear too.
"""

from __future__ import annotations

from datamill.core.record import Batch, Record
from datamill.core.stats import StepStats
from datamill.core.step import Filter, Resources, register
from datamill.steps.langid.script import CHINESE, JAPANESE, KOREAN, cjk_family

UNDETERMINED = "und"
# Codes people write that lid.176 spells differently.
ALIASES = {"nb": "no", "nob": "no", "zh-cn": "zh", "zh-tw": "zh", "zho": "zh", "jpn": "ja",
           "kor": "ko", "eng": "en"}
CJK_LABELS = frozenset({"zh", "wuu", "yue", "ja", "ko"})
TOP_K = 5
# The label a CJK script family gets when lid.176's top-k holds none of its languages.
_FAMILY_HEAD = {CHINESE: "zh", JAPANESE: "ja", KOREAN: "ko"}


def normalize_code(code: str) -> str:
    code = code.strip().lower().replace("_", "-")
    return ALIASES.get(code, code)


@register("language_id")
class LanguageID(Filter):
    """Identify each record's language with fastText lid.176; keep the wanted languages."""

    resources = Resources(cpus=1.0, memory_mb=512, batch_size=1024)

    def __init__(self, languages: list[str] | None = None, min_score: float = 0.65,
                 min_scores: dict[str, float] | None = None, max_chars: int = 10_000,
                 script_correction: bool = True, second_opinion: bool = True,
                 second_opinion_below: float = 0.65, model_path: str | None = None):
        if not 0.0 <= min_score <= 1.0:
            raise ValueError(f"min_score must be within [0, 1], got {min_score}")
        for lang, s in (min_scores or {}).items():
            if not 0.0 <= s <= 1.0:
                raise ValueError(f"min_scores[{lang!r}] must be within [0, 1], got {s}")
        if not 0.0 <= second_opinion_below <= 1.0:
            raise ValueError(f"second_opinion_below must be within [0, 1], got {second_opinion_below}")
        if max_chars <= 0:
            raise ValueError(f"max_chars must be positive, got {max_chars}")
        self.languages = (frozenset(normalize_code(l) for l in languages)
                          if languages is not None else None)
        self.min_score = float(min_score)
        self.min_scores = {normalize_code(k): float(v) for k, v in (min_scores or {}).items()}
        self.max_chars = int(max_chars)
        self.script_correction = script_correction
        self.second_opinion = second_opinion
        self.second_opinion_below = float(second_opinion_below)
        self.model_path = model_path

    def setup(self) -> None:
        from datamill.steps.langid.model import load_model

        self._model = load_model(self.model_path)
        self._second = None
        labels = set(self._model.labels) | {UNDETERMINED}
        if self.second_opinion:
            from datamill.steps.langid.second_opinion import SecondOpinion

            self._second = SecondOpinion()
            labels |= self._second.labels
        if self.languages is not None:
            unknown = sorted(self.languages - labels)
            if unknown:
                raise ValueError(f"language_id: no label {unknown} in lid.176"
                                 f"{' or py3langid' if self.second_opinion else ''}; labels are "
                                 "ISO 639-1 codes where one exists (see docs/langid.md)")

    # --- identification --------------------------------------------------------------------
    def identify(self, texts: list[str]) -> list[tuple[str, float]]:
        """(language, score) for each text."""
        self.ensure_setup()
        cut = [(t or "")[: self.max_chars] for t in texts]
        todo = [i for i, t in enumerate(cut) if t.strip()]
        out: list[tuple[str, float]] = [(UNDETERMINED, 0.0)] * len(cut)
        preds = self._model.predict([cut[i] for i in todo], k=TOP_K)
        for i, top in zip(todo, preds):
            out[i] = self._decide(cut[i], top)
        return out

    def _decide(self, text: str, top: list[tuple[str, float]]) -> tuple[str, float]:
        lang, score = top[0]
        if self.script_correction:
            family = cjk_family(text)
            if family is not None:
                # The script picks the CJK language; lid.176's mass on CJK languages is its
                # confidence that the text is CJK at all.
                allowed = [(l, p) for l, p in top if l in family]
                lang = allowed[0][0] if allowed else _FAMILY_HEAD[family]
                score = sum(p for l, p in top if l in CJK_LABELS)
                return lang, min(1.0, score)
        if self._second is not None:
            decided = self._second.decide_in_group(text, top)
            if decided is not None:
                lang, score = decided
            if score < self.second_opinion_below:
                lang, score = self._second.classify(text)
        return lang, score

    # --- filter --------------------------------------------------------------------------
    def keep_batch(self, batch: Batch) -> list[None | str]:
        results = self.identify([r.get("text") or "" for r in batch])
        verdicts: list[None | str] = []
        for record, (lang, score) in zip(batch, results):
            sig = record.get("signals")
            if sig is None:
                sig = record["signals"] = {}
            sig["language"] = lang
            sig["language_score"] = float(score)
            verdicts.append(self._verdict(lang, score))
        return verdicts

    def keep(self, record: Record) -> None | str:
        return self.keep_batch([record])[0]

    def _verdict(self, lang: str, score: float) -> None | str:
        if self.languages is not None and lang not in self.languages:
            return "language_not_kept"
        if score < self.min_scores.get(lang, self.min_score):
            return "low_language_score"
        return None

    def count(self, record: Record, verdict, stats: StepStats) -> None:
        lang = (record.get("signals") or {}).get("language")
        if lang is not None:
            stats.counter("languages")[lang] += 1
