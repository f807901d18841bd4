"""datamill: one platform for the whole life of LLM training data."""

__version__ = "0.1.0"

from datamill.core import registry as _registry  # noqa: E402
from datamill.core.pipeline import Pipeline  # noqa: E402
from datamill.core.step import STEPS, Filter, GlobalStep, Step, Tagger, Transform  # noqa: E402


# The built-in providers of core's registries, imported on the first lookup that needs them
# (core never names the layers above it; this package façade does).
def _output_formats() -> None:
    from datamill.io.writers import COMPRESSIONS, FORMATS

    for fmt in FORMATS:
        _registry.OUTPUT_FORMATS.register(fmt, tuple(sorted(COMPRESSIONS)), replace=True)


def _record_formats() -> None:
    from datamill.post.formats import RECORD_FORMATS

    for fmt in RECORD_FORMATS:
        _registry.RECORD_FORMATS.register(fmt, fmt, replace=True)


def _steps() -> None:
    from datamill import steps

    steps.load_all()


def _step_index() -> dict[str, str]:
    from datamill import steps

    return steps.index()


STEPS.add_loader(_steps)
STEPS.add_index(_step_index)
_registry.EXECUTORS.add_loader("datamill.exec")
_registry.RUNNERS.add_loader("datamill.exec")
_registry.OUTPUT_FORMATS.add_loader(_output_formats)
_registry.RECORD_FORMATS.add_loader(_record_formats)

__all__ = ["Pipeline", "Step", "Transform", "Tagger", "Filter", "GlobalStep", "__version__"]
