"""``post_language``: the language of the prompt and of the answer, with lid.176 (the
``language_id`` machinery: script correction for CJK, py3langid as second opinion).

Signals: ``prompt_language``/``prompt_language_score`` (the last user turn) and
``response_language``/``response_language_score`` (the answer being taught: the SFT's last
assistant turn, the chosen side…), measured on the prose only (:func:`prose_only`): fenced code
blocks, code-like lines, Markdown/ASCII table rows and rules are left out, and no-break or
zero-width characters become spaces (a non-breaking space made lid.176 score clearly Chinese
text 0). An answer that is all code or all table is not judged. A side
with fewer than ``min_chars`` letters (CJK characters count twice; "42", a bare code block) is
not judged (language
``und``). Drop reasons:

* ``prompt_language_not_kept`` / ``response_language_not_kept`` — ``languages`` is given and
  the side's language (with a score of at least ``min_score``) is not in it;
* ``low_language_score`` — a side of ``long_chars`` or more has a score under ``min_score``
  (a shorter side lid.176 is unsure about, such as "Write hello world", is not judged);
* with ``merge_chinese`` (default) lid.176's Chinese varieties (``wuu``, ``yue``…, which it
  also gives to short Mandarin text) count as ``zh`` for these decisions; the signals keep them;
* ``language_mismatch`` — with ``require_same``, the answer is in another language than the
  prompt (an English question answered in Chinese). Leave it off for translation data.
"""

from __future__ import annotations

from datamill.core.record import Batch, Record
from datamill.core.stats import StepStats
from datamill.core.step import Filter, Resources, register
from datamill.post.schema import prompt_text
from datamill.steps.langid.fasttext_lid import UNDETERMINED, LanguageID, normalize_code
from datamill.steps.post.sides import prose_only, set_signals, taught_answers

SIDES = ("prompt", "response")
#: lid.176 labels written in Han characters that it gives to short Mandarin text too
CHINESE_VARIETIES = frozenset({"wuu", "yue", "gan", "hak", "nan", "cdo", "lzh"})


@register("post_language")
class PostLanguage(Filter):
    """Identify the language of prompt and answer; keep wanted languages, matching sides."""

    resources = Resources(cpus=1.0, memory_mb=512, batch_size=1024)

    def __init__(self, languages: list[str] | None = None, min_score: float = 0.5,
                 sides: list[str] | None = None, require_same: bool = False, min_chars: int = 10,
                 long_chars: int = 100, max_chars: int = 2000, merge_chinese: bool = True,
                 model_path: str | None = None):
        if not 0.0 <= min_score <= 1.0:
            raise ValueError(f"min_score must be within [0, 1], got {min_score}")
        sides = list(sides) if sides is not None else list(SIDES)
        bad = [s for s in sides if s not in SIDES]
        if bad:
            raise ValueError(f"sides must be among {', '.join(SIDES)}, got {bad}")
        self.languages = frozenset(normalize_code(l) for l in languages) if languages else None
        self.min_score = float(min_score)
        self.sides = tuple(sides)
        self.require_same = require_same
        self.min_chars = int(min_chars)
        self.long_chars = int(long_chars)
        self.merge_chinese = merge_chinese
        self.max_chars = int(max_chars)
        self.model_path = model_path

    def setup(self) -> None:
        self._lid = LanguageID(languages=sorted(self.languages) if self.languages else None,
                               min_score=0.0, max_chars=self.max_chars, model_path=self.model_path)
        self._lid.ensure_setup()

    def prefork(self) -> None:
        """Load lid.176, py3langid and, keeping Chinese or Japanese (or every language), the
        short-Han-text tables in the parent before workers are forked: prompts and answers
        are short, so every worker would meet short Han text and load them itself."""
        self.ensure_setup()
        self._lid.prefork(han=True)

    def _judgeable(self, text: str) -> bool:
        n = 0
        for ch in text:
            if ch.isalpha():
                n += 2 if ch >= "\u2e80" else 1  # a CJK character carries about a word
                if n >= self.min_chars:
                    return True
        return False

    def keep_batch(self, batch: Batch) -> list[None | str]:
        self.ensure_setup()
        texts: list[str] = []
        slots: list[tuple[int, str]] = []
        for i, rec in enumerate(batch):
            answers = taught_answers(rec)
            pairs = (("prompt", prompt_text(rec)), ("response", answers[-1][1] if answers else ""))
            for side, text in pairs:
                text = prose_only(text)
                if self._judgeable(text):
                    slots.append((i, side))
                    texts.append(text)
        found: list[dict[str, tuple[str, float, bool]]] = [{} for _ in batch]
        for (i, side), text, (lang, score) in zip(slots, texts, self._lid.identify(texts)):
            found[i][side] = (lang, score, len(text) >= self.long_chars)
        verdicts = []
        for rec, res in zip(batch, found):
            p_lang, p_score, _ = res.get("prompt", (UNDETERMINED, 0.0, False))
            r_lang, r_score, _ = res.get("response", (UNDETERMINED, 0.0, False))
            set_signals(rec, self.label, prompt_language=p_lang, prompt_language_score=round(float(p_score), 4),
                        response_language=r_lang, response_language_score=round(float(r_score), 4))
            verdicts.append(self._verdict(res))
        return verdicts

    def keep(self, record: Record) -> None | str:
        return self.keep_batch([record])[0]

    def _verdict(self, res: dict[str, tuple[str, float, bool]]) -> None | str:
        sure: dict[str, str] = {}
        for side in self.sides:
            if side not in res:
                continue
            lang, score, long = res[side]
            if score < self.min_score:
                if long:
                    return "low_language_score"
                continue  # a short text lid.176 is unsure about ("Write hello world"): not judged
            if self.merge_chinese and lang in CHINESE_VARIETIES:
                lang = "zh"
            sure[side] = lang
            if self.languages is not None and lang not in self.languages:
                return f"{side}_language_not_kept"
        if self.require_same and len(sure) == 2 and sure["prompt"] != sure["response"]:
            return "language_mismatch"
        return None

    def count(self, record: Record, verdict, stats: StepStats) -> None:
        lang = ((record.get("signals") or {}).get(self.label) or {}).get("prompt_language")
        if lang is not None:
            stats.counter("languages")[lang] += 1
