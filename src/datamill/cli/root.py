"""The `datamill` command group; each concern adds its commands in its own module."""

from __future__ import annotations

import importlib

import click

from datamill import __version__

#: each command's module, imported when the command is used (or listed): ``datamill run``
#: does not pay for the annotation server's, the catalog's or the post-training imports
COMMANDS = {
    "run": "datamill.cli.pipeline", "check": "datamill.cli.pipeline",
    "steps": "datamill.cli.pipeline", "summary": "datamill.cli.pipeline",
    "corpus": "datamill.cli.pipeline",
    "convert": "datamill.cli.post", "select": "datamill.cli.post",
    "quality-model": "datamill.cli.post", "template": "datamill.cli.post",
    "export": "datamill.cli.post", "mix": "datamill.cli.post", "validate": "datamill.cli.post",
    "annotate": "datamill.cli.annotate",
    "llm": "datamill.cli.llm",
    "catalog": "datamill.cli.catalog",
    "report": "datamill.cli.report",
    "flywheel": "datamill.cli.flywheel",
    "classifier": "datamill.cli.classifier",
    "lm": "datamill.cli.lm",
}


class LazyGroup(click.Group):
    """A command group whose commands' modules are imported on first use (``COMMANDS``)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(COMMANDS))

    def get_command(self, ctx: click.Context, cmd_name: str):
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            importlib.import_module(COMMANDS[cmd_name])
        return super().get_command(ctx, cmd_name)


def load_all() -> None:
    """Import every command module (what ``datamill --help`` lists, at once)."""
    for module in dict.fromkeys(COMMANDS.values()):
        importlib.import_module(module)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="datamill")
def main() -> None:
    """datamill builds the training data of large language models.

    Start with `datamill run RECIPE --input PATH --output DIR`; `datamill steps` lists the
    steps a recipe can use.
    """

