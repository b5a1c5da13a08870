"""Options and helpers shared by several ``npc`` commands."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import click

from engine.errors import EngineError

__all__ = ["existing_world_option", "open_or_fail", "valid_text"]

T = TypeVar("T")

existing_world_option = click.option(
    "--db",
    "db_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The world's SQLite file.",
)


def open_or_fail(opener: Callable[[Path], T], db_path: Path) -> T:
    """Open a world file with ``opener``, turning engine errors into a one-line CLI error."""
    try:
        return opener(db_path)
    except EngineError as exc:
        raise click.ClickException(str(exc)) from exc


def valid_text(_ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A click callback: refuse an argument that is not valid Unicode (bytes the terminal's
    encoding could not decode arrive as lone surrogates, which no world file can hold)."""
    if value is None:
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        shown = value.encode("utf-8", "backslashreplace").decode("ascii", "replace")
        raise click.BadParameter(f"{shown!r} is not valid Unicode (undecodable bytes)", param=param) from None
    return value
