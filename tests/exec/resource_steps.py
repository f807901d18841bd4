"""Test-only steps that report where and how they ran (process, GPUs, batch sizes, times)."""

import multiprocessing as mp
import os
import time

from datamill.core.step import Resources, Tagger


class WhereAmI(Tagger):
    """Tags each record with its worker's pid, start method, CUDA_VISIBLE_DEVICES, the size of
    the batch it came in, and when that batch started and ended (after ``delay`` seconds)."""

    name = "where_am_i"
    resources = Resources(batch_size=3)

    def __init__(self, delay: float = 0.0):
        self.delay = delay

    def tag_batch(self, batch):
        t0 = time.time()
        time.sleep(self.delay)
        t1 = time.time()
        return [{"pid": os.getpid(), "method": mp.get_start_method(allow_none=True) or "",
                 "cuda": os.environ.get("CUDA_VISIBLE_DEVICES"), "batch": len(batch),
                 "t0": t0, "t1": t1} for _ in batch]


class NeedsMemory(WhereAmI):
    name = "needs_memory"
    resources = Resources(memory_mb=800)


class NeedsGPU(WhereAmI):
    name = "needs_gpu"
    resources = Resources(gpus=1)
