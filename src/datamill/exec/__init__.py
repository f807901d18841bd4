"""Executors: the local one (processes, resumable by shard) and Ray (the same tasks).

Importing this package registers them, and the pipeline runner, with core
(:mod:`datamill.core.registry`): ``Pipeline.run(executor="ray")`` looks the name up.
"""

from datamill.core.registry import EXECUTORS, RUNNERS
from datamill.exec import runner
from datamill.exec.local import LocalExecutor
from datamill.exec.ray_executor import RayExecutor

EXECUTORS.register("local", LocalExecutor)
EXECUTORS.register("ray", RayExecutor)
RUNNERS.register("pipeline", runner)
