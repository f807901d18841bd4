"""A test-only step that makes a run slow enough to be killed in the middle."""

import time

from datamill.core.step import Transform, register


@register("test_slow_upper")
class SlowUpper(Transform):
    def __init__(self, delay: float = 0.02):
        self.delay = delay

    def transform_batch(self, batch):
        time.sleep(self.delay * len(batch) / 10)
        for r in batch:
            r["text"] = r["text"].upper()
        return batch
