"""Rewriting prompts: Nemotron-CC's rephrasing of web documents (Su et al. 2024) and the
augmentations of SFT prompts (paraphrase, back-translation through a pivot language).

Nemotron-CC rephrases *low-quality* documents in Wikipedia style and turns *high-quality* ones
into diverse question-answer pairs, knowledge lists, distilled text and extracted knowledge. The
styles and their intent are theirs; the wording is ours.
"""

from __future__ import annotations

VERSION_REPHRASE = "rephrase/v1"
VERSION_AUGMENT = "augment/v1"

STYLES = {
    "wikipedia": "Rewrite the text below in the style of a Wikipedia article: clear, neutral, well "
                 "organised, in complete sentences. Keep every fact; drop ads, navigation and chatter.",
    "qa": "Turn the text below into several diverse question-and-answer pairs (yes/no, open, "
          "multiple choice, comparison) that a student could learn from. Use only facts from the text. "
          "Write each as 'Question: ...' then 'Answer: ...'.",
    "knowledge_list": "Extract the key facts of the text below as a concise bulleted list, one fact per "
                      "line, without adding anything.",
    "distill": "Rewrite the text below more concisely, keeping all of its useful information.",
    "extract_knowledge": "Rewrite the knowledge in the text below as clear textbook-style passages, "
                         "leaving out anything that is not knowledge.",
}
_ZH_SUFFIX = "\n\n（请用中文回答。）"

PARAPHRASE = ("Paraphrase the following request: same meaning and same constraints, different "
              "wording. Write only the paraphrased request.\n\n{text}")
PARAPHRASE_ZH = "请改写下面的请求：意思和要求不变，换一种说法。只写出改写后的请求。\n\n{text}"
TRANSLATE = "Translate the following text into {language}. Write only the translation.\n\n{text}"
LANGUAGE_NAMES = {"en": "English", "zh": "Chinese (简体中文)", "fr": "French", "de": "German",
                  "es": "Spanish", "ja": "Japanese", "ru": "Russian"}


def rephrase_prompt(text: str, style: str, chinese: bool = False) -> str:
    return f"{STYLES[style]}{_ZH_SUFFIX if chinese else ''}\n\nText:\n{text}"


def paraphrase_prompt(text: str, chinese: bool = False) -> str:
    return (PARAPHRASE_ZH if chinese else PARAPHRASE).format(text=text)


def translate_prompt(text: str, language: str) -> str:
    return TRANSLATE.format(language=LANGUAGE_NAMES.get(language, language), text=text)
