"""Options and helpers shared by several ``npc`` commands."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar, cast

import click

from engine.errors import EngineError

__all__ = ["WorldLocation", "WorldURL", "existing_world_option", "open_or_fail", "valid_text"]

T = TypeVar("T")


class WorldURL(str):
    """A PostgreSQL world (``postgresql://...``) given to ``--db``; ``name`` hides a password."""

    __slots__ = ()

    @property
    def name(self) -> str:
        return re.sub(r"://[^@/]*@", "://", str(self))


class WorldLocation(click.ParamType):  # type: ignore[type-arg]  # generic only from click 8.2
    """``--db``: a SQLite world file (a :class:`Path`) or a ``postgresql://`` URL."""

    name = "world"

    def __init__(self, *, exists: bool) -> None:
        self.file = click.Path(exists=exists, dir_okay=False, path_type=Path)

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> Path | WorldURL:
        if isinstance(value, str) and value.startswith(("postgresql://", "postgres://")):
            return WorldURL(value)
        return self.file.convert(cast(str, value), param, ctx)


existing_world_option = click.option(
    "--db",
    "db_path",
    required=True,
    type=WorldLocation(exists=True),
    help="The world: a SQLite file, or a PostgreSQL database (postgresql://...).",
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
        raise click.BadParameter(
            f"{shown!r} is not valid Unicode (undecodable bytes)", param=param
        ) from None
    return value
