"""The command group imports a command's module only when the command is used."""

from __future__ import annotations

import subprocess
import sys

from click.testing import CliRunner


def test_commands_map_names_every_command_and_its_module():
    from datamill.cli import COMMANDS, load_all, main

    load_all()
    assert set(main.commands) == set(COMMANDS)
    runner = CliRunner()
    out = runner.invoke(main, ["--help"]).output
    for name in COMMANDS:
        assert name in out


def test_run_does_not_import_the_other_commands_modules():
    code = ("import sys; from click.testing import CliRunner; from datamill.cli import main; "
            "r = CliRunner().invoke(main, ['run', '--help']); assert r.exit_code == 0, r.output; "
            "print(sorted(m for m in ('datamill.cli.post', 'datamill.annotate.cli', "
            "'datamill.cli.catalog', 'datamill.cli.report') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_unknown_command_still_suggests():
    from datamill.cli import main

    r = CliRunner().invoke(main, ["rnu"])
    assert r.exit_code != 0 and "No such command" in r.output
