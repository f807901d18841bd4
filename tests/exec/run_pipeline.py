"""Run the resume-test pipeline (used in a subprocess that the test kills)."""

import sys

sys.path.insert(0, __file__.rsplit("/", 1)[0])

from slow_steps import SlowUpper  # noqa: E402

from datamill import Pipeline  # noqa: E402
from datamill.steps.dedup.exact import ExactDedup  # noqa: E402
from datamill.steps.mix.sample import Sample  # noqa: E402


def pipeline(delay: float) -> Pipeline:
    return Pipeline([SlowUpper(delay=delay), Sample(rate=0.8, seed=7), ExactDedup(), SlowUpper(delay=0.0)],
                    output_format="jsonl", compression="gz")


if __name__ == "__main__":
    inputs, output, workers, delay = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    pipeline(delay).run([inputs], output, workers=workers)
