"""Language identification: a tagger (lid.176, script-first rules, py3langid vote), rules that
decide on its result, and ``language_id``, the two together."""

from datamill.steps.langid.fasttext_lid import LanguageID
from datamill.steps.langid.rules import LanguageRules
from datamill.steps.langid.tagger import LanguageTagger

__all__ = ["LanguageID", "LanguageRules", "LanguageTagger"]
