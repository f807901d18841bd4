"""Language identification: fastText lid.176 with script and second-opinion corrections."""

from datamill.steps.langid.fasttext_lid import LanguageID

__all__ = ["LanguageID"]
