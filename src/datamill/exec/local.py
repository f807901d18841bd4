"""The local executor: shards spread over worker processes, resumable by shard."""

from __future__ import annotations

import multiprocessing as mp
import os
import sys
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Any

from datamill.exec import tasks
from datamill.exec.tasks import RunPlan

_COUNTER: Any = None


def _init_worker(counter) -> None:
    global _COUNTER
    _COUNTER = counter


def _bump(n: int) -> None:
    if _COUNTER is not None:
        with _COUNTER.get_lock():
            _COUNTER.value += n


def _run_stage_task(plan: RunPlan, stage: str, index: int, shard_index: int | None) -> dict:
    if stage.startswith("seg"):
        return tasks.run_segment(plan, index, plan.shards[shard_index], progress=_bump)
    if stage.endswith("-map"):
        return tasks.run_global_map(plan, index, plan.shards[shard_index])
    return tasks.run_global_reduce(plan, index)


class LocalExecutor:
    """Runs every stage's pending tasks on ``workers`` processes (in-process when 1)."""

    def __init__(self, workers: int = 1, progress: bool = True):
        self.workers = max(1, int(workers))
        self.progress = progress

    def run(self, plan: RunPlan) -> list[dict]:
        """Run what is not done yet; return every task's marker (done before or now)."""
        from tqdm import tqdm

        counter = mp.get_context("fork").Value("q", 0) if self.workers > 1 else None
        total_shards = len(plan.shards)
        bar = tqdm(total=None, unit=" docs", desc="reading", disable=not self.progress,
                   file=sys.stderr, dynamic_ncols=True, mininterval=0.5)
        results: list[dict] = []
        local_count = [0]

        def local_bump(n: int) -> None:
            local_count[0] += n
            bar.update(n)

        pool = None
        if self.workers > 1:
            pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=mp.get_context("fork"),
                                       initializer=_init_worker, initargs=(counter,))
        try:
            for stage, kind, index in plan.stages():
                if kind == "single":
                    marker = tasks.load_marker(plan, stage)
                    if marker is None:
                        bar.set_postfix_str(f"{stage}")
                        marker = _run_stage_task(plan, stage, index, None)
                    results.append(marker)
                    continue
                pending = []
                for shard in plan.shards:
                    marker = tasks.load_marker(plan, stage, shard.index)
                    if marker is not None:
                        results.append(marker)
                    else:
                        pending.append(shard.index)
                done = total_shards - len(pending)
                bar.set_postfix_str(f"{stage} {done}/{total_shards} shards")
                if pool is None:
                    for si in pending:
                        if stage.startswith("seg"):
                            results.append(tasks.run_segment(plan, index, plan.shards[si], progress=local_bump))
                        else:
                            results.append(_run_stage_task(plan, stage, index, si))
                        done += 1
                        bar.set_postfix_str(f"{stage} {done}/{total_shards} shards")
                    continue
                futures = {pool.submit(_run_stage_task, plan, stage, index, si) for si in pending}
                while futures:
                    finished, futures = wait(futures, timeout=0.5, return_when=FIRST_COMPLETED)
                    self._sync(bar, counter)
                    for fut in finished:
                        results.append(fut.result())
                        done += 1
                    bar.set_postfix_str(f"{stage} {done}/{total_shards} shards")
                self._sync(bar, counter)
        finally:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
            bar.close()
        return results

    @staticmethod
    def _sync(bar, counter) -> None:
        if counter is not None:
            value = counter.value
            if value > bar.n:
                bar.update(value - bar.n)


def default_workers() -> int:
    return max(1, (os.cpu_count() or 1))


__all__ = ["LocalExecutor", "default_workers"]
