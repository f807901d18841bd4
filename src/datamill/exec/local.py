"""The local executor: tasks spread over worker processes, resumable task by task."""

from __future__ import annotations

import multiprocessing as mp
import os
import sys
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Any

from datamill.exec import tasks
from datamill.exec.tasks import PlanStage, RunPlan

_COUNTER: Any = None
_PLAN: RunPlan | None = None


def _init_worker(counter, plan: RunPlan) -> None:
    """Each worker gets the plan once, so a step's ``setup()`` (models, word lists) runs once
    per worker, not once per task."""
    global _COUNTER, _PLAN
    _COUNTER = counter
    _PLAN = plan


def _bump(n: int) -> None:
    if _COUNTER is not None:
        with _COUNTER.get_lock():
            _COUNTER.value += n


def _run_in_worker(stage: PlanStage, index: int) -> dict:
    assert _PLAN is not None, "worker started without a plan"
    return tasks.run_task(_PLAN, stage, index, progress=_bump)


class LocalExecutor:
    """Runs every stage's pending tasks on ``workers`` processes (in-process when 1)."""

    name = "local"

    def __init__(self, workers: int = 1, progress: bool = True):
        self.workers = max(1, int(workers))
        self.progress = progress

    def run(self, plan: RunPlan) -> list[dict]:
        """Run what is not done yet; return every task's marker (done before or now)."""
        from tqdm import tqdm

        counter = mp.get_context("fork").Value("q", 0) if self.workers > 1 else None
        bar = tqdm(total=None, unit=" docs", desc="datamill", disable=not self.progress,
                   file=sys.stderr, dynamic_ncols=True, mininterval=0.5)
        results: list[dict] = []
        pool = None
        if self.workers > 1:
            pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=mp.get_context("fork"),
                                       initializer=_init_worker, initargs=(counter, plan))
        try:
            for stage in plan.stages():
                finished, pending = tasks.split_done(plan, stage)
                results.extend(finished)
                done = stage.tasks - len(pending)
                bar.set_postfix_str(f"{stage.name} {done}/{stage.tasks}")
                if pool is None or len(pending) <= 1:
                    for index in pending:
                        results.append(tasks.run_task(plan, stage, index, progress=bar.update))
                        done += 1
                        bar.set_postfix_str(f"{stage.name} {done}/{stage.tasks}")
                    continue
                futures = {pool.submit(_run_in_worker, stage, i) for i in pending}
                while futures:
                    finished, futures = wait(futures, timeout=0.5, return_when=FIRST_COMPLETED)
                    self._sync(bar, counter)
                    for fut in finished:
                        results.append(fut.result())
                        done += 1
                    bar.set_postfix_str(f"{stage.name} {done}/{stage.tasks}")
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
