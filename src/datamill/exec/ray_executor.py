"""The Ray executor: the same tasks as the local executor, scheduled on a Ray cluster.

It runs the plan stage by stage (``plan.stages()``), exactly like
:class:`datamill.exec.local.LocalExecutor`: a task whose completion marker exists is skipped,
every pending task of the stage becomes one Ray task calling :func:`datamill.exec.tasks.run_task`,
and the next stage starts when all of them finished. Markers, temporary names and atomic
renames live in ``tasks``, so a run killed at any point resumes on either executor.

Scheduling follows what the steps declare (:class:`datamill.core.step.Resources`): a task asks
Ray for the largest ``cpus``/``gpus``/``memory_mb`` of the steps it runs (clamped to the largest
node, so that a step asking for 8 CPUs still runs on a 2-CPU laptop).

With no ``address`` a private Ray instance is started on this machine (``workers`` CPUs, no
dashboard, a small object store) and shut down at the end; with an address (``ray://…``,
``HOST:PORT`` or ``auto``) the executor connects to that cluster and leaves it running. Every
worker must reach the run's output folder: a local path on one machine, a shared file system or
an fsspec URL (``s3://…``, ``gs://…``) on a cluster. See ``docs/ray.md``.

Task-level parallelism matches datamill's shard model, so Ray Data is not used here; code that
hands datamill output to Ray Data should use ``batch_format="pyarrow"``.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import Any

from datamill.core.errors import DatamillError
from datamill.exec import tasks
from datamill.exec.tasks import PlanStage, RunPlan, stage_resources

#: object store of the private instance, in MB (the plan is small: steps pickle as parameters)
DEFAULT_OBJECT_STORE_MB = 200

# worker side: plans already fetched from the object store, so steps set up once per process
_PLANS: dict[str, RunPlan] = {}


def _run_remote(plan_box: list, stage: PlanStage, index: int) -> dict:
    """Body of a Ray task. ``plan_box`` holds the plan's ObjectRef inside a list, so Ray does
    not resolve it; each worker process fetches (and unpickles) it once, and the steps' heavy
    ``setup()`` runs once per worker process, not once per task."""
    import ray

    ref = plan_box[0]
    key = ref.hex()
    plan = _PLANS.get(key)
    if plan is None:
        plan = ray.get(ref)
        _PLANS.clear()  # one run at a time per worker: keep only the current plan
        _PLANS[key] = plan
    return tasks.run_task(plan, stage, index)


def _local_code_paths() -> list[str]:
    """Folders on this interpreter's path that are not part of the installation (a source
    checkout, a test folder): a private Ray instance's workers get them too."""
    prefixes = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    out = []
    for p in sys.path:
        if not p:
            continue
        real = os.path.realpath(p)
        if not os.path.isdir(real) or any(real == x or real.startswith(x + os.sep) for x in prefixes):
            continue
        if real not in out:
            out.append(real)
    return out


class RayExecutor:
    """Runs every stage's pending tasks as Ray tasks, on a private local instance or a cluster."""

    name = "ray"

    def __init__(self, workers: int = 1, address: str | None = None, progress: bool = True, *,
                 object_store_mb: int = DEFAULT_OBJECT_STORE_MB, runtime_env: dict | None = None,
                 max_retries: int = 3):
        self.workers = max(1, int(workers))
        self.address = address or None
        self.progress = progress
        self.object_store_mb = object_store_mb
        self.runtime_env = runtime_env
        self.max_retries = max_retries
        #: seconds spent starting or connecting to Ray in the last run (the benchmark reports it)
        self.startup_seconds = 0.0

    # --- connection ----------------------------------------------------------------------
    def connect(self) -> bool:
        """Start or join Ray; return True when this executor owns the instance (shuts it down)."""
        try:
            import ray
        except ImportError as exc:  # pragma: no cover - depends on the installation
            raise DatamillError("the ray executor needs Ray: pip install 'ray>=2.9'") from exc
        if ray.is_initialized():
            return False
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        t0 = time.perf_counter()
        common: dict[str, Any] = {"include_dashboard": False, "logging_level": logging.WARNING,
                                  "log_to_driver": True}
        try:
            if self.address is None:
                env = dict(self.runtime_env or {})
                paths = _local_code_paths()
                if paths:
                    env_vars = dict(env.get("env_vars") or {})
                    existing = env_vars.get("PYTHONPATH") or os.environ.get("PYTHONPATH")
                    env_vars["PYTHONPATH"] = os.pathsep.join(paths + ([existing] if existing else []))
                    env["env_vars"] = env_vars
                ray.init(address="local", num_cpus=self.workers, num_gpus=None,
                         object_store_memory=self.object_store_mb * 1024 * 1024,
                         _node_ip_address="127.0.0.1", runtime_env=env or None, **common)
            else:
                _check_reachable(self.address)
                _use_token_if_available()
                ray.init(address=self.address, runtime_env=self.runtime_env, **common)
        except DatamillError:
            raise
        except Exception as exc:  # noqa: BLE001 - connection problems become one clear line
            if self.address is None:
                raise DatamillError(f"could not start a local Ray instance: {type(exc).__name__}: "
                                    f"{_first_line(exc)}") from exc
            hint = ""
            if "auth" in str(exc).lower() or "token" in str(exc).lower():
                hint = (" (the cluster uses token authentication: set RAY_AUTH_TOKEN or copy the "
                        "cluster's token to ~/.ray/auth_token)")
            raise DatamillError(f"could not connect to Ray at {self.address!r}: {type(exc).__name__}: "
                                f"{_first_line(exc)}{hint}") from exc
        self.startup_seconds = time.perf_counter() - t0
        return True

    def _largest_node(self) -> dict[str, float]:
        import ray

        best: dict[str, float] = {"CPU": 0.0, "GPU": 0.0, "memory": 0.0}
        for node in ray.nodes():
            if not node.get("Alive", True):
                continue
            res = node.get("Resources") or {}
            for key in best:
                best[key] = max(best[key], float(res.get(key, 0.0)))
        return best

    def _options(self, plan: RunPlan, stage: PlanStage, largest: dict[str, float]) -> dict[str, Any]:
        need = stage_resources(plan, stage)
        cpus = need.cpus
        if largest["CPU"] > 0:
            cpus = min(cpus, largest["CPU"])
        gpus = need.gpus
        if gpus > 0 and largest["GPU"] < gpus:
            if largest["GPU"] == 0:
                logging.getLogger("datamill").warning(
                    "stage %s asks for %s GPU but the Ray cluster has none; running on CPU", stage.name, gpus)
                gpus = 0
            else:
                gpus = largest["GPU"]
        opts: dict[str, Any] = {"num_cpus": cpus, "max_retries": self.max_retries, "retry_exceptions": False,
                                "name": f"datamill:{stage.name}"}
        if gpus:
            opts["num_gpus"] = gpus
        memory = need.memory_mb * 1024 * 1024
        if largest["memory"] > 0:
            memory = min(memory, int(largest["memory"]))
        if memory > 0:
            opts["memory"] = int(memory)
        return opts

    # --- running -------------------------------------------------------------------------
    def run(self, plan: RunPlan) -> list[dict]:
        """Run what is not done yet; return every task's marker (done before or now)."""
        import ray
        from tqdm import tqdm

        owned = self.connect()
        results: list[dict] = []
        bar = None
        try:
            stages = plan.stages()
            bar = tqdm(total=sum(s.tasks for s in stages), unit=" tasks", desc="datamill[ray]",
                       disable=not self.progress, file=sys.stderr, dynamic_ncols=True, mininterval=0.5)
            remote = ray.remote(_run_remote)
            plan_box = [ray.put(plan)]
            largest = self._largest_node()
            for stage in stages:
                finished, pending = tasks.split_done(plan, stage)
                results.extend(finished)
                bar.update(stage.tasks - len(pending))
                bar.set_postfix_str(f"{stage.name} {stage.tasks - len(pending)}/{stage.tasks}")
                if not pending:
                    continue
                opts = self._options(plan, stage, largest)
                refs = {remote.options(**opts).remote(plan_box, stage, i): i
                        for i in tasks.largest_first(plan, stage, pending)}
                done = stage.tasks - len(pending)
                try:
                    while refs:
                        ready, _ = ray.wait(list(refs), num_returns=1, timeout=0.5)
                        for ref in ready:
                            index = refs.pop(ref)
                            results.append(self._result(ray, ref, plan, stage, index))
                            done += 1
                            bar.update(1)
                        bar.set_postfix_str(f"{stage.name} {done}/{stage.tasks}")
                except BaseException:
                    for ref in refs:
                        ray.cancel(ref, force=True)
                    raise
        finally:
            if bar is not None:
                bar.close()
            if owned:
                ray.shutdown()
        return results

    @staticmethod
    def _result(ray, ref, plan: RunPlan, stage: PlanStage, index: int) -> dict:
        try:
            return ray.get(ref)
        except ray.exceptions.RayTaskError as exc:
            cause = exc.cause if getattr(exc, "cause", None) is not None else exc
            if isinstance(cause, DatamillError):
                raise DatamillError(f"{_where(plan, stage, index)} failed: {cause}") from cause
            raise DatamillError(f"{_where(plan, stage, index)} failed: {type(cause).__name__}: {cause}") from cause
        except ray.exceptions.RayError as exc:  # worker died, out of memory, node lost...
            raise DatamillError(f"{_where(plan, stage, index)} failed on Ray: {type(exc).__name__}: "
                                f"{_first_line(exc)}") from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """Fail fast with one line when nothing listens at HOST:PORT (``ray.init`` would retry for
    minutes). ``auto`` and other forms are left to Ray."""
    import socket
    from urllib.parse import urlsplit

    target = address if "://" in address else f"tcp://{address}"
    try:
        parts = urlsplit(target)
        host, port = parts.hostname, parts.port
    except ValueError:
        return
    if not host or not port:
        return
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as exc:
        raise DatamillError(f"could not connect to Ray at {address!r}: nothing answers at {host}:{port} "
                            f"({exc.strerror or exc}); start the cluster with `ray start --head` or check "
                            f"the address") from None


def _use_token_if_available() -> None:
    """Ray >= 2.5x clusters may require a token. ``ray.init`` started locally finds the token
    by itself, but a client joining a cluster only sends it when ``RAY_AUTH_MODE=token``; when
    the mode is not set and a token is at hand (``RAY_AUTH_TOKEN``, ``RAY_AUTH_TOKEN_PATH`` or
    ``~/.ray/auth_token``), send it. A cluster without authentication ignores it."""
    if os.environ.get("RAY_AUTH_MODE"):
        return
    path = os.environ.get("RAY_AUTH_TOKEN_PATH") or os.path.join(os.path.expanduser("~"), ".ray", "auth_token")
    if os.environ.get("RAY_AUTH_TOKEN") or os.path.isfile(path):
        os.environ["RAY_AUTH_MODE"] = "token"


def _where(plan: RunPlan, stage: PlanStage, index: int) -> str:
    if stage.per_shard and not stage.single and index < len(plan.shards):
        return f"stage {stage.name}, shard {index} ({plan.shards[index].path})"
    if stage.single:
        return f"stage {stage.name}"
    return f"stage {stage.name}, partition {index}"
