"""Every ``npc`` command and subcommand has help text, including ones added later."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from engine.cli import main


def _commands(
    group: click.Group, prefix: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], click.Command]]:
    """Every command reachable from ``group``, with the words that invoke it."""
    found: list[tuple[tuple[str, ...], click.Command]] = []
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None
        found.append(((*prefix, name), command))
        if isinstance(command, click.Group):
            found.extend(_commands(command, (*prefix, name)))
    return found


COMMANDS = _commands(main)


def test_the_persona_commands_are_registered() -> None:
    names = {path for path, _ in COMMANDS}
    assert {("validate",), ("schema",), ("show",), ("new",)} <= names


def test_top_level_help() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    assert "Usage: npc" in result.output or "Usage: main" in result.output


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_command_has_help_text(path: tuple[str, ...], command: click.Command) -> None:
    assert (command.help or "").strip(), f"npc {' '.join(path)} has no docstring/help"
    assert command.get_short_help_str().strip()
    result = CliRunner().invoke(main, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
    first_line = " ".join(command.help.strip().splitlines()[0].split())
    assert first_line in " ".join(result.output.split())


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_every_option_has_help_text(path: tuple[str, ...], command: click.Command) -> None:
    for param in command.params:
        if isinstance(param, click.Option) and not param.hidden:
            assert (param.help or "").strip(), f"npc {' '.join(path)} {param.opts[0]} has no help"
