"""`datamill …` commands. Every command has a Python API twin (named in its help).

The command group lives in :mod:`datamill.cli.root`; each concern registers its commands in a
module of its own, imported when one of its commands is used (``COMMANDS`` in
:mod:`datamill.cli.root` names each command's module). A new concern adds a module and its
commands to ``COMMANDS``; ``tests/cli/test_lazy_commands.py`` checks that the two agree.
"""

from __future__ import annotations

from datamill.cli.root import COMMANDS, load_all, main

__all__ = ["COMMANDS", "load_all", "main"]
