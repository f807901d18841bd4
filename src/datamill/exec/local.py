"""The local executor: tasks spread over worker processes, resumable task by task.

Scheduling follows what the steps declare (:class:`datamill.core.step.Resources`), as on Ray:

* ``memory_mb``: at most as many tasks of a stage run at once as fit in the memory available
  now (``MemAvailable``), never fewer than one;
* ``gpus``: a stage whose steps ask for GPUs runs in *spawned* worker processes (a forked
  child of a process that touched CUDA cannot use it), at most ``GPUs / gpus`` at once, each
  worker seeing its own share of the GPUs through ``CUDA_VISIBLE_DEVICES``. The GPUs are those
  listed in ``CUDA_VISIBLE_DEVICES`` when it is set, else those ``nvidia-smi -L`` lists. With no
  GPU the stage runs on CPU workers, with a warning (as the Ray executor does);
* ``batch_size``: steps see batches of at most their declared size (:func:`tasks.run_step`).

CPU stages run in forked workers (cheap to start; the plan is inherited, not pickled). Before
the first fork, steps that say so (a ``prefork()`` method) load their read-only models in the
parent (:func:`prefork`), so the workers share those pages copy-on-write instead of each
loading and holding its own copy.
"""

from __future__ import annotations

import logging
import math
import multiprocessing as mp
import os
import shutil
import subprocess
import sys
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Any

from datamill.exec import tasks
from datamill.exec.tasks import PlanStage, RunPlan, stage_resources

_COUNTER: Any = None
_PLAN: RunPlan | None = None

log = logging.getLogger("datamill")


def _init_worker(counter, plan: RunPlan, gpu_slots=None, gpu_lists=None) -> None:
    """Each worker gets the plan once, so a step's ``setup()`` (models, word lists) runs once
    per worker, not once per task. A GPU worker takes the next free share of the GPUs."""
    global _COUNTER, _PLAN
    _COUNTER = counter
    _PLAN = plan
    if gpu_slots is not None:
        with gpu_slots.get_lock():
            slot = gpu_slots.value
            gpu_slots.value += 1
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu_lists[slot % len(gpu_lists)]


def _bump(n: int) -> None:
    if _COUNTER is not None:
        with _COUNTER.get_lock():
            _COUNTER.value += n


def _run_in_worker(stage: PlanStage, index: int) -> dict:
    assert _PLAN is not None, "worker started without a plan"
    return tasks.run_task(_PLAN, stage, index, progress=_bump)


def prefork(plan: RunPlan) -> list[str]:
    """Let CPU steps load what they read only (models, tables) here, before workers are forked.

    A step opts in with a ``prefork()`` method (usually: ``ensure_setup()`` plus models it would
    otherwise load lazily in each worker). GPU steps never do: they run in spawned workers and
    CUDA must not be touched before a fork. A ``prefork`` that fails is logged and skipped: the
    worker then sets the step up itself and reports any real error with its task.
    Returns the labels of the steps that were prepared."""
    done = []
    for step in plan.steps:
        hook = getattr(step, "prefork", None)
        if hook is None or getattr(step, "resources", None) is None or step.resources.gpus > 0:
            continue
        try:
            hook()
        except Exception as exc:  # noqa: BLE001 - the worker repeats it and reports it
            log.warning("prefork of %s failed (%s: %s); each worker loads it instead",
                        step.label, type(exc).__name__, exc)
            continue
        done.append(step.label)
    return done


def visible_gpus() -> list[str]:
    """GPU ids this process may use: ``CUDA_VISIBLE_DEVICES`` when set, else ``nvidia-smi``'s."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        ids = [g.strip() for g in env.split(",") if g.strip()]
        return [] if ids in ([], ["-1"]) else ids
    exe = shutil.which("nvidia-smi")
    if not exe:
        return []
    try:
        out = subprocess.run([exe, "-L"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [str(i) for i, line in enumerate(l for l in out.splitlines() if l.startswith("GPU "))]


def available_memory_mb() -> float:
    """Memory the OS can give without swapping (``MemAvailable``), in MB."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20
    except (ValueError, OSError, AttributeError):
        return float("inf")


def gpu_shares(gpus: list[str], per_task: float) -> list[str]:
    """``CUDA_VISIBLE_DEVICES`` of each concurrent task: ``per_task`` >= 1 gives each task
    that many whole GPUs; a fraction packs ``1 / per_task`` tasks on one GPU."""
    if per_task >= 1:
        k = int(math.ceil(per_task))
        return [",".join(gpus[i:i + k]) for i in range(0, len(gpus) - k + 1, k)] or [",".join(gpus)]
    per_gpu = max(1, int(1 / per_task))
    return [g for g in gpus for _ in range(per_gpu)]


class LocalExecutor:
    """Runs every stage's pending tasks on ``workers`` processes (in-process when 1)."""

    name = "local"

    def __init__(self, workers: int = 1, progress: bool = True):
        self.workers = max(1, int(workers))
        self.progress = progress
        #: per stage: how many tasks ran at once at most and in which kind of process
        self.schedule: dict[str, dict[str, Any]] = {}
        self._seen: dict[int, int] = {}
        #: labels of the steps set up in this process before workers were forked
        self.preforked: list[str] = []

    def plan_stage(self, plan: RunPlan, stage: PlanStage) -> dict[str, Any]:
        """How a stage runs: ``parallel`` tasks at once, ``context`` fork or spawn, and the
        GPU share of each spawned worker."""
        need = stage_resources(plan, stage)
        parallel = self.workers
        if need.memory_mb > 0:
            parallel = min(parallel, max(1, int(available_memory_mb() * 0.9 // need.memory_mb)))
        context, shares = "fork", None
        if need.gpus > 0:
            gpus = visible_gpus()
            if not gpus:
                log.warning("stage %s asks for %s GPU but none is visible; running on CPU", stage.name, need.gpus)
            else:
                shares = gpu_shares(gpus, need.gpus)
                context = "spawn"
                parallel = max(1, min(self.workers, len(shares)))
        return {"parallel": parallel, "context": context, "gpu_shares": shares}

    def run(self, plan: RunPlan) -> list[dict]:
        """Run what is not done yet; return every task's marker (done before or now)."""
        from tqdm import tqdm

        bar = tqdm(total=None, unit=" docs", desc="datamill", disable=not self.progress,
                   file=sys.stderr, dynamic_ncols=True, mininterval=0.5)
        results: list[dict] = []
        pools: dict[tuple, tuple[ProcessPoolExecutor, Any]] = {}
        try:
            for stage in plan.stages():
                finished, pending = tasks.split_done(plan, stage)
                results.extend(finished)
                done = stage.tasks - len(pending)
                bar.set_postfix_str(f"{stage.name} {done}/{stage.tasks}")
                how = self.plan_stage(plan, stage)
                self.schedule[stage.name] = how
                if how["context"] == "fork" and (self.workers == 1 or len(pending) <= 1):
                    for index in pending:
                        results.append(tasks.run_task(plan, stage, index, progress=bar.update))
                        done += 1
                        bar.set_postfix_str(f"{stage.name} {done}/{stage.tasks}")
                    continue
                if not pending:
                    continue
                pool, counter = self._pool(pools, plan, how)
                queue = list(pending)
                futures = set()
                while queue or futures:
                    while queue and len(futures) < how["parallel"]:
                        futures.add(pool.submit(_run_in_worker, stage, queue.pop(0)))
                    finished, futures = wait(futures, timeout=0.5, return_when=FIRST_COMPLETED)
                    self._sync(bar, counter)
                    for fut in finished:
                        results.append(fut.result())
                        done += 1
                    bar.set_postfix_str(f"{stage.name} {done}/{stage.tasks}")
                self._sync(bar, counter)
        finally:
            for pool, _ in pools.values():
                pool.shutdown(wait=True, cancel_futures=True)
            bar.close()
        return results

    def _pool(self, pools: dict, plan: RunPlan, how: dict[str, Any]):
        """One pool per kind of worker, started on first use and kept for later stages."""
        shares = how["gpu_shares"]
        key = (how["context"], tuple(shares) if shares else None)
        if key not in pools:
            ctx = mp.get_context(how["context"])
            counter = ctx.Value("q", 0)
            if shares:
                size = max(1, min(self.workers, len(shares)))
                initargs = (counter, plan, ctx.Value("i", 0), shares)
            else:
                size = self.workers
                initargs = (counter, plan)
                if how["context"] == "fork":
                    self.preforked = prefork(plan)
            pools[key] = (ProcessPoolExecutor(max_workers=size, mp_context=ctx, initializer=_init_worker,
                                              initargs=initargs), counter)
        return pools[key]

    def _sync(self, bar, counter) -> None:
        """Add what a pool's workers counted since the last look (each pool has a counter)."""
        if counter is not None:
            seen = self._seen.get(id(counter), 0)
            value = counter.value
            if value > seen:
                bar.update(value - seen)
                self._seen[id(counter)] = value


def default_workers() -> int:
    return max(1, (os.cpu_count() or 1))
