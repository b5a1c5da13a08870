"""``npc usage`` and ``npc audit``: what a world's players used and what the safety policy blocked.

Both read the ledger tables of a world file (:mod:`engine.memory.ledger`) and print a table,
or JSON with ``--json``.
"""

from __future__ import annotations

import datetime as _dt
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Literal, cast

import click

from engine.cli._common import existing_world_option, open_or_fail, valid_text

if TYPE_CHECKING:
    from engine.memory import Ledger

__all__ = ["COMMANDS", "audit_command", "usage_command"]

_DB = existing_world_option


def _open(db_path: Path) -> Ledger:
    from engine.memory import Ledger

    return open_or_fail(Ledger, db_path)


@click.command("usage")
@_DB
@click.option(
    "--by",
    "group_by",
    type=click.Choice(["player", "character", "model", "day"]),
    default="player",
    show_default=True,
    help="Group the totals by this column.",
)
@click.option("--since", default=None, metavar="YYYY-MM-DD", help="Only days on or after this one.")
@click.option(
    "--days", type=click.IntRange(min=1), default=None, help="Only the last N days (UTC)."
)
@click.option("--player", callback=valid_text, default=None, help="Only this player.")
@click.option("--json", "as_json", is_flag=True, help="Print the totals as JSON.")
def usage_command(
    db_path: Path,
    group_by: str,
    since: str | None,
    days: int | None,
    player: str | None,
    as_json: bool,
) -> None:
    """Token use, cost and charges in a world, totalled per player (or character, model, day).

    \b
    Examples:
      npc usage --db world.db
      npc usage --db world.db --by model --days 7
    """
    from rich.console import Console
    from rich.table import Table

    if since is not None:
        try:
            _dt.date.fromisoformat(since)
        except ValueError as exc:
            raise click.BadParameter(
                f"expected YYYY-MM-DD, got {since!r}", param_hint="--since"
            ) from exc
    if days is not None:
        start = time.gmtime(time.time() - (days - 1) * 86_400)
        since = max(since or "", time.strftime("%Y-%m-%d", start))
    with _open(db_path) as ledger:
        rows = ledger.usage_totals(
            group_by=cast(Literal["player", "character", "model", "day"], group_by),
            since_day=since,
            player=player,
        )
    if as_json:
        click.echo(json.dumps([r.model_dump() for r in rows], ensure_ascii=False, indent=2))
        return
    table = Table(title=f"Usage in {db_path.name}" + (f" since {since}" if since else ""))
    table.add_column(group_by.capitalize())
    for name in ("Calls", "Tokens in", "Tokens out", "Cost", "Charged", "Avg ms"):
        table.add_column(name, justify="right")
    table.add_column("Currency")
    for r in rows:
        table.add_row(
            r.key or "-",
            str(r.calls),
            f"{r.prompt_tokens:,}",
            f"{r.completion_tokens:,}",
            f"{r.cost:.4f}",
            f"{r.charge:.4f}",
            f"{r.mean_latency_ms:.0f}",
            r.currency or "-",
        )
    console = Console()
    if rows:
        console.print(table)
    else:
        console.print("No usage recorded" + (f" since {since}" if since else "") + ".")


@click.command("audit")
@_DB
@click.option("--player", callback=valid_text, default=None, help="Only this player.")
@click.option(
    "-n",
    "--limit",
    type=click.IntRange(min=1),
    default=50,
    show_default=True,
    help="Newest N records.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the records as JSON.")
def audit_command(db_path: Path, player: str | None, limit: int, as_json: bool) -> None:
    """Blocked and neutralised inputs and outputs, newest first (excerpts are redacted)."""
    from rich.console import Console
    from rich.table import Table

    with _open(db_path) as ledger:
        records = ledger.audits(player=player, limit=limit)
    if as_json:
        click.echo(json.dumps([r.model_dump() for r in records], ensure_ascii=False, indent=2))
        return
    table = Table(title=f"Audit log of {db_path.name}")
    for name in ("When (UTC)", "Character", "Player", "Dir", "Rule", "Excerpt"):
        table.add_column(name)
    for r in records:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(r.time))
        table.add_row(when, r.character or "-", r.player or "-", r.direction, r.rule, r.excerpt)
    console = Console()
    if records:
        console.print(table)
    else:
        console.print("No audit records.")


COMMANDS = [usage_command, audit_command]
