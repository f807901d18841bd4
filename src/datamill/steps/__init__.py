"""Built-in steps, one concern a folder. Importing this package registers them all.

Step modules import their heavy libraries inside ``setup()``, so importing them is cheap.
"""

import importlib

STEP_MODULES = [
    "datamill.steps.extract.html",
    "datamill.steps.extract.prefilter",
    "datamill.steps.langid.fasttext_lid",
    "datamill.steps.quality.gopher",
    "datamill.steps.quality.gopher_repetition",
    "datamill.steps.quality.c4",
    "datamill.steps.quality.c4_badwords",
    "datamill.steps.quality.fineweb",
    "datamill.steps.safety.pii",
    "datamill.steps.safety.url_blocklist",
    "datamill.steps.text.normalize",
    "datamill.steps.mix.sample",
    "datamill.steps.filter.signal_filter",
    "datamill.steps.quality.classifier",
    "datamill.steps.quality.perplexity",
    "datamill.steps.quality.toxicity",
    "datamill.steps.quality.ensemble",
    "datamill.steps.dedup.exact",
    "datamill.steps.dedup.paragraph",
    "datamill.steps.decontam.step",
    "datamill.steps.dedup.semantic",
    "datamill.steps.dedup.minhash",
    "datamill.steps.post.validate",
    "datamill.steps.post.normalize",
    "datamill.steps.post.dedup",
    "datamill.steps.post.language",
    "datamill.steps.post.length",
    "datamill.steps.post.pii",
    "datamill.steps.post.refusal",
    "datamill.steps.post.template_leak",
    "datamill.steps.post.repetition",
    "datamill.steps.post.relevance",
    "datamill.steps.llm.self_instruct",
    "datamill.steps.llm.evol",
    "datamill.steps.llm.generate",
    "datamill.steps.llm.judge",
    "datamill.steps.llm.preference",
    "datamill.steps.llm.distill",
    "datamill.steps.llm.rewrite",
    "datamill.steps.llm.ifd",
    "datamill.steps.post.select",
]

for _module in STEP_MODULES:
    importlib.import_module(_module)
