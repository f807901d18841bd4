"""The pipeline of the kill-and-resume test (run in a subprocess that the test kills)."""

import sys
import time

from datamill import Pipeline
from datamill.core.step import Transform, register
from datamill.steps.filter.signal_filter import SignalFilter
from datamill.steps.quality.classifier import QualityClassifier
from datamill.steps.quality.ensemble import QualityEnsemble


@register("test_quality_slow_pass")
class SlowPass(Transform):
    """Leaves records as they are, slowly enough for a run to be killed in the middle."""

    def __init__(self, delay: float = 0.0):
        self.delay = delay

    def transform_batch(self, batch):
        time.sleep(self.delay)
        return batch


def pipeline(model: str, delay: float) -> Pipeline:
    return Pipeline([SlowPass(delay=delay), QualityClassifier(model=model),
                     QualityEnsemble(signals=["quality_classifier.quality_score"]),
                     SignalFilter(signal="quality_classifier.quality_score", keep_top=0.5)])


if __name__ == "__main__":
    model, inputs, output, delay = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
    pipeline(model, delay).run([inputs], output, workers=2)
