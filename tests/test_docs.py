"""The README cannot drift from the CLI: every option of every command is documented there."""

from __future__ import annotations

import re

import click
import pytest

from augcli.cli import cli

from .conftest import REPO

README = (REPO / "README.md").read_text()


def all_commands():
    return list(cli.commands.values())


def test_there_are_commands():
    assert "expand" in cli.commands


@pytest.mark.parametrize("command", all_commands(), ids=lambda c: c.name)
def test_every_command_has_help_and_a_readme_section(command):
    assert command.help
    assert f"augcli {command.name}" in README


@pytest.mark.parametrize(
    "command,option",
    [(c, opt) for c in all_commands() for p in c.params if isinstance(p, click.Option)
     for opt in p.opts + p.secondary_opts],
    ids=lambda x: x if isinstance(x, str) else x.name,
)
def test_every_option_is_in_the_readme(command, option):
    # each option appears in a README table row or example, as a whole word
    assert re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", README), f"{command.name} {option} missing"


def test_every_option_in_help_output_is_in_the_readme():
    from click.testing import CliRunner

    for command in all_commands():
        text = CliRunner().invoke(cli, [command.name, "--help"]).output
        for option in set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]+", text)):
            assert option in README, f"{command.name} --help shows {option}, the README does not"
