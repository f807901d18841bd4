"""``rephrase`` (Nemotron-CC) on pretraining documents and ``augment`` on SFT prompts.

``rephrase``: each document (``text``) is rewritten in each of ``styles`` — ``wikipedia`` for
low-quality documents; ``qa``, ``knowledge_list``, ``distill``, ``extract_knowledge`` for
high-quality ones (Su et al. 2024). Every rewrite is a new document ``ID-STYLE`` with
``metadata.rephrase = {source_id, style}``; ``keep_original`` also passes the document on.
Chinese documents get Chinese answers. A document longer than the model's context is dropped
with reason ``too_long``.

``augment``: new SFT records whose prompt is a ``paraphrase`` of the original, or a
``back_translation`` through ``pivot`` (``auto``: English text goes through Chinese, anything
else through English); the answer is kept. Originals pass on unless ``keep_original: false``.
"""

from __future__ import annotations

from typing import Any

from datamill.core.record import Record
from datamill.core.step import register
from datamill.llm.tasks import rewrite
from datamill.llm.tasks.self_instruct import is_chinese
from datamill.post.schema import message, sft
from datamill.steps.llm.base import LLMStep
from datamill.steps.llm.records import answer, prompt_messages, question


@register("rephrase")
class Rephrase(LLMStep):
    """Rewrite web documents in Nemotron-CC's styles (Wikipedia-like, QA pairs, knowledge lists...)."""

    template_version = rewrite.VERSION_REPHRASE

    def __init__(self, styles: list[str] | None = None, keep_original: bool = False, min_chars: int = 50,
                 llm: dict[str, Any] | None = None):
        styles = list(styles or ["wikipedia"])
        bad = [s for s in styles if s not in rewrite.STYLES]
        if bad:
            raise ValueError(f"unknown style(s) {bad}; expected some of {list(rewrite.STYLES)}")
        super().__init__(llm)
        self.styles, self.keep_original, self.min_chars = styles, keep_original, min_chars

    def process(self, record: Record) -> list[Record] | str:
        text = record.get("text") or ""
        if not text.strip():
            return "empty"
        zh = is_chinese(text[:2000])
        out = [record] if self.keep_original else []
        for style in self.styles:
            new, reply = self.chat_text([{"role": "user", "content": rewrite.rephrase_prompt(text, style, zh)}])
            new = new.strip()
            if len(new) < self.min_chars:
                self.note(f"too_short_{style}")
                continue
            meta = dict(record.get("metadata") or {})
            meta["rephrase"] = {"source_id": record.get("id"), "style": style}
            doc = {"id": f"{record.get('id')}-{style}", "text": new, "metadata": meta, "signals": {}}
            out.append(self.stamp(doc, reply))
        return out if out else "too_short"


@register("augment")
class Augment(LLMStep):
    """New SFT prompts by paraphrase or back-translation through a pivot language."""

    template_version = rewrite.VERSION_AUGMENT

    def __init__(self, methods: list[str] | None = None, pivot: str = "auto", keep_original: bool = True,
                 llm: dict[str, Any] | None = None):
        methods = list(methods or ["paraphrase"])
        bad = [m for m in methods if m not in ("paraphrase", "back_translation")]
        if bad:
            raise ValueError(f"unknown method(s) {bad}; expected paraphrase or back_translation")
        super().__init__(llm)
        self.methods, self.pivot, self.keep_original = methods, pivot, keep_original

    def process(self, record: Record) -> list[Record] | str:
        q, a = question(record), answer(record)
        if not q.strip() or not a.strip():
            return "no_prompt"
        zh = is_chinese(q)
        out = [record] if self.keep_original else []
        for method in self.methods:
            if method == "paraphrase":
                new, reply = self.chat_text([{"role": "user", "content": rewrite.paraphrase_prompt(q, zh)}])
                info: dict[str, Any] = {"method": method}
            else:
                pivot = self.pivot if self.pivot != "auto" else ("en" if zh else "zh")
                mid, _ = self.chat_text([{"role": "user", "content": rewrite.translate_prompt(q, pivot)}],
                                        temperature=0.0)
                new, reply = self.chat_text([{"role": "user", "content": rewrite.translate_prompt(
                    mid.strip(), "zh" if zh else "en")}], temperature=0.0)
                info = {"method": method, "pivot": pivot, "pivot_text": mid.strip()}
            new = new.strip()
            if not new or new == q.strip():
                self.note(f"unchanged_{method}")
                continue
            prompt = prompt_messages(record)
            prompt[-1] = message("user", new)
            meta = dict(record.get("metadata") or {})
            meta["augment"] = {"source_id": record.get("id"), **info}
            out.append(self.stamp(sft(f"{record.get('id')}-{method}", prompt + [message("assistant", a)],
                                      metadata=meta), reply))
        return out if out else "unchanged"
