"""Options and helpers shared by several ``npc`` commands."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import click

from engine.errors import EngineError

__all__ = ["existing_world_option", "open_or_fail"]

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
