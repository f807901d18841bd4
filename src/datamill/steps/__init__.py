"""Built-in steps, one concern a folder. :func:`load_all` registers them all; :func:`index`
says which module registers which name without importing any, so a run imports only the
modules of the steps its recipe names (``datamill/__init__.py`` hands both to the registry).

Step modules import their heavy libraries inside ``setup()``, so importing them is cheap.
"""

import importlib
import re

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

#: ``@register("name")`` / ``register("name")`` in a step module's source
_REGISTER = re.compile(r"""\bregister\(\s*["']([^"']+)["']\s*\)""")


def load_all() -> None:
    """Import every built-in step module (each registers its steps)."""
    for module in STEP_MODULES:
        importlib.import_module(module)


def index() -> dict[str, str]:
    """Step name -> the module that registers it, read from the source files of this package
    (no module is imported; tests/steps/test_step_index.py checks it against importing them)."""
    import os

    root = os.path.dirname(os.path.abspath(__file__))
    out: dict[str, str] = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith(("_", ".")))
        rel = os.path.relpath(folder, root)
        package = __name__ if rel == "." else __name__ + "." + rel.replace(os.sep, ".")
        for file in sorted(files):
            if not file.endswith(".py") or file == "__init__.py":
                continue
            try:
                with open(os.path.join(folder, file), encoding="utf-8") as fh:
                    source = fh.read()
            except OSError:
                continue
            for name in _REGISTER.findall(source):
                out.setdefault(name, f"{package}.{file[:-3]}")
    return out
