"""Which text of a post-training record a cleaning step looks at (the walkers live in
:mod:`datamill.post.walk`; this module re-exports them for the steps, and adds
:func:`strip_code` and :func:`set_signals`).

* the **prompt**: the last user turn (:func:`datamill.post.schema.prompt_text`), or every user
  turn, or the whole prompt side with roles (:func:`prompt_key`);
* the **answers being taught** (:func:`taught_answers`): an SFT chat's assistant turns (the
  last one, or all), the chosen side of a preference pair, a KTO completion labelled desirable,
  the best-ranked response. With ``include_rejected`` also rejected, undesirable and lower-ranked
  answers, for checks that concern every text (a leaked template token is a processing bug on
  either side; a refusal in ``rejected`` is what the pair is about).
"""

from __future__ import annotations

import re
from typing import Any

from datamill.post.walk import PROMPT_MODES, prompt_key, taught_answers  # noqa: F401  (re-exported)
_FENCE = re.compile(r"```.*?(?:```|\Z)", re.S)


def strip_code(text: str) -> str:
    """``text`` without fenced code blocks (code repeats itself and confuses language ID)."""
    return _FENCE.sub(" ", text) if "```" in text else text


def set_signals(record: dict, **values: Any) -> None:
    sig = record.get("signals")
    if sig is None:
        sig = record["signals"] = {}
    sig.update(values)
