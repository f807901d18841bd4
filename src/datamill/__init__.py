"""datamill: one platform for the whole life of LLM training data."""

__version__ = "0.1.0"

from datamill.core.pipeline import Pipeline  # noqa: E402
from datamill.core.step import Filter, GlobalStep, Step, Tagger, Transform  # noqa: E402

__all__ = ["Pipeline", "Step", "Transform", "Tagger", "Filter", "GlobalStep", "__version__"]
