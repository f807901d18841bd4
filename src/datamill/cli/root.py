"""The `datamill` command group; each concern adds its commands in its own module."""

from __future__ import annotations

import click

from datamill import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="datamill")
def main() -> None:
    """datamill builds the training data of large language models.

    Start with `datamill run RECIPE --input PATH --output DIR`; `datamill steps` lists the
    steps a recipe can use.
    """

