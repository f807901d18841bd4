"""`datamill …` commands. Every command has a Python API twin (named in its help).

The command group lives in :mod:`datamill.cli.root`; each concern registers its commands in a
module of its own, imported here. A new concern adds a module and a line to COMMAND_MODULES.
"""

from __future__ import annotations

import importlib

from datamill.cli.root import main

COMMAND_MODULES = [
    "datamill.cli.pipeline",
    "datamill.cli.post",
    "datamill.cli.annotate",
    "datamill.cli.llm",
    "datamill.cli.catalog",
    "datamill.cli.report",
    "datamill.cli.flywheel",
    "datamill.cli.classifier",
    "datamill.cli.lm",
]

for _module in COMMAND_MODULES:
    importlib.import_module(_module)

__all__ = ["main"]
