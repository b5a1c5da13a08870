"""``npc memory``: look into what a world's characters remember, and honour players' rights.

\b
  npc memory list   --db world.db [--character C --player P]   conversations, or memories
  npc memory show   --db world.db PLAYER [--character C]        name, relationships, facts, summary
  npc memory search --db world.db CHARACTER PLAYER QUERY        recall, with the score breakdown
  npc memory export --db world.db PLAYER [-o FILE]               everything about a player, as JSON
  npc memory forget --db world.db PLAYER | --memory ID           remove a player, or one memory
  npc memory migrate --from world.db --to postgresql://...        copy a world (and back)
"""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from engine.cli._common import WorldLocation, existing_world_option, open_or_fail, valid_text
from engine.errors import EngineError, NotFoundError

if TYPE_CHECKING:
    from engine.memory import MemoryStore

__all__ = ["COMMANDS", "memory_group"]

_DB = existing_world_option


def _open(db_path: Path) -> MemoryStore:
    from engine.memory import MemoryStore

    return open_or_fail(MemoryStore, db_path)


def _when(seconds: float) -> str:
    # Game time can be small numbers; show wall-clock dates only for plausible epochs.
    if seconds > 10**8:
        return _dt.datetime.fromtimestamp(seconds, _dt.UTC).strftime("%Y-%m-%d %H:%M")
    return f"{seconds:.0f}s"


def _short(text: str, width: int = 90) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


@click.group("memory")
def memory_group() -> None:
    """Inspect, search, export and forget what characters remember about players."""


@memory_group.command("list")
@_DB
@click.option("--character", default=None, help="Only this character.")
@click.option("--player", callback=valid_text, default=None, help="Only this player.")
@click.option(
    "--limit", type=click.IntRange(min=1), default=50, show_default=True, help="Most rows shown."
)
def list_command(db_path: Path, character: str | None, player: str | None, limit: int) -> None:
    """List conversations (character, player), or one conversation's memories, newest first.

    \b
    Examples:
      npc memory list --db world.db
      npc memory list --db world.db --character mira --player p1
    """
    from rich.console import Console
    from rich.table import Table

    console = Console()
    with _open(db_path) as store:
        if character and player:
            memories = store.memories(character, player, limit=limit)
            table = Table(title=f"What {character} remembers about {player}")
            for col in ("id", "kind", "importance", "created", "speaker", "text"):
                table.add_column(col, overflow="fold")
            for m in memories:
                table.add_row(
                    str(m.id),
                    m.kind,
                    f"{m.importance:g}",
                    _when(m.created),
                    m.speaker,
                    _short(m.text),
                )
            console.print(table)
            return
        pairs = [
            p
            for p in store.pairs()
            if (character is None or p[0] == character) and (player is None or p[1] == player)
        ]
        table = Table(title=f"Conversations in {db_path.name}")
        for col in ("character", "player", "name", "turns", "memories", "stage"):
            table.add_column(col)
        for ch, pl, turns, mems in pairs[:limit]:
            table.add_row(
                ch,
                pl,
                store.player_name(pl) or "",
                str(turns),
                str(mems),
                store.relationship(ch, pl).stage,
            )
        console.print(table)


@memory_group.command("show")
@_DB
@click.argument("player", callback=valid_text)
@click.option("--character", default=None, help="Only this character's view of the player.")
@click.option(
    "--turns",
    "n_turns",
    type=click.IntRange(min=0),
    default=10,
    show_default=True,
    help="Recent turns shown per conversation.",
)
def show_command(db_path: Path, player: str, character: str | None, n_turns: int) -> None:
    """Show a player: name, relationships, facts, rolling summary and recent turns.

    \b
    Example:
      npc memory show --db world.db p1 --character mira
    """
    from rich.console import Console
    from rich.table import Table

    console = Console()
    with _open(db_path) as store:
        characters = sorted({ch for ch, pl, _, _ in store.pairs() if pl == player})
        if character:
            characters = [character]
        if not characters:
            raise click.ClickException(f"no conversations with player {player!r} in {db_path}")
        console.print(f"[bold]{player}[/bold]  name: {store.player_name(player) or '-'}")
        for ch in characters:
            rel = store.relationship(ch, player)
            console.print(
                f"\n[bold]{ch}[/bold]: {rel.stage} (affinity {rel.affinity:g}, trust {rel.trust:g}, "
                f"familiarity {rel.familiarity:g}, {rel.turns} turns)"
            )
            facts = store.facts(ch, player, include_superseded=True)
            if facts:
                table = Table(title="facts")
                for col in ("id", "subject", "predicate", "object", "confidence", "superseded by"):
                    table.add_column(col)
                for f in facts:
                    table.add_row(
                        str(f.id),
                        f.subject,
                        f.predicate,
                        f.object,
                        f"{f.confidence:.2f}",
                        str(f.superseded_by or ""),
                    )
                console.print(table)
            summary = store.summary(ch, player)
            if summary:
                console.print(f"summary ({len(summary.turn_ids)} turns): {summary.text}")
            turns = store.recent_turns(ch, player, limit=n_turns)
            if turns:
                table = Table(title="recent turns")
                for col in ("id", "time", "speaker", "text"):
                    table.add_column(col, overflow="fold")
                for t in turns:
                    table.add_row(str(t.id), _when(t.time), t.speaker, _short(t.text))
                console.print(table)


@memory_group.command("search")
@_DB
@click.argument("character")
@click.argument("player", callback=valid_text)
@click.argument("query")
@click.option(
    "-k",
    "k",
    type=click.IntRange(min=1, max=200),
    default=8,
    show_default=True,
    help="How many memories to return.",
)
def search_command(db_path: Path, character: str, player: str, query: str, k: int) -> None:
    """Recall as CHARACTER would about PLAYER, with each result's score breakdown.

    Searching does not change the memories' last-accessed times.

    \b
    Example:
      npc memory search --db world.db mira p1 "what is my cat called"
    """
    from rich.console import Console
    from rich.table import Table

    with _open(db_path) as store:
        hits = store.recall(character, player, query, k=k, touch=False)
    table = Table(title=f"{character} recalls about {player}: {query!r}")
    for col in ("id", "total", "relevance", "lexical", "semantic", "recency", "importance", "text"):
        table.add_column(col, overflow="fold")
    for h in hits:
        s = h.score
        table.add_row(
            str(h.memory.id),
            f"{s.total:.3f}",
            f"{s.relevance:.3f}",
            f"{s.lexical:.3f}",
            f"{s.semantic:.3f}",
            f"{s.recency:.3f}",
            f"{s.importance:.3f}",
            _short(h.memory.text),
        )
    Console().print(table)
    if not hits:
        click.echo("nothing recalled")


@memory_group.command("export")
@_DB
@click.argument("player", callback=valid_text)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the JSON here instead of standard output.",
)
@click.option("--vectors", is_flag=True, help="Include embedding vectors.")
def export_command(db_path: Path, player: str, output: Path | None, vectors: bool) -> None:
    """Everything stored about PLAYER, as JSON (turns, memories, facts, relationships, history).

    \b
    Example:
      npc memory export --db world.db p1 -o p1.json
    """
    with _open(db_path) as store:
        try:
            data = store.export(player, include_vectors=vectors)
        except EngineError as exc:  # a character's id, say
            raise click.ClickException(str(exc)) from exc
    text = json.dumps(data, ensure_ascii=False, indent=2)
    if output:
        output.write_text(text + "\n", encoding="utf-8")
        click.echo(f"wrote {output}")
    else:
        click.echo(text)


@memory_group.command("forget")
@_DB
@click.argument("player", required=False, callback=valid_text)
@click.option("--memory", "memory_id", type=int, default=None, help="Forget only this memory id.")
@click.option("--reason", default="player request", show_default=True, help="Recorded in history.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def forget_command(
    db_path: Path, player: str | None, memory_id: int | None, reason: str, yes: bool
) -> None:
    """Remove PLAYER entirely (rows, index entries, embeddings), or one memory with --memory.

    \b
    Examples:
      npc memory forget --db world.db p1 --yes
      npc memory forget --db world.db --memory 42
    """
    if (player is None) == (memory_id is None):
        raise click.UsageError("give either PLAYER or --memory ID")
    with _open(db_path) as store:
        if memory_id is not None:
            try:
                store.forget_memory(memory_id, reason=reason)
            except NotFoundError as exc:
                raise click.ClickException(str(exc)) from exc
            click.echo(f"forgot memory {memory_id}")
            return
        assert player is not None
        if not yes:
            click.confirm(
                f"Remove everything stored about {player!r}? This cannot be undone", abort=True
            )
        try:
            store.forget(player, reason=reason)
        except EngineError as exc:  # a character's id, say
            raise click.ClickException(str(exc)) from exc
        click.echo(f"forgot player {player}")


@memory_group.command("migrate")
@click.option(
    "--from",
    "source",
    required=True,
    type=WorldLocation(exists=True),
    help="The world to copy: a SQLite file or postgresql://...",
)
@click.option(
    "--to",
    "target",
    required=True,
    type=WorldLocation(exists=False),
    help="Where to copy it: an empty (or half-copied) SQLite file or PostgreSQL database.",
)
def migrate_command(source: Path, target: Path) -> None:
    """Copy every row of a world to another store, with progress; verify counts and checksums.

    Resumable: run the same command again after an interruption and it continues where it
    stopped. The source is only read.

    \b
    Examples:
      npc memory migrate --from world.db --to postgresql://npc@db.internal/world
      npc memory migrate --from postgresql://npc@db.internal/world --to back.db
    """  # fmt: skip
    from rich.progress import Progress, TaskID

    from engine.memory import migrate_world

    with _open(source) as src, open_or_fail(_open_any, target) as dst, Progress() as bar:
        tasks: dict[str, TaskID] = {}

        def progress(table: str, done: int, total: int) -> None:
            if table not in tasks:
                tasks[table] = bar.add_task(table, total=max(total, 1))
            bar.update(tasks[table], completed=done if total else 1)

        try:
            reports = migrate_world(src, dst, progress=progress)
        except EngineError as exc:
            raise click.ClickException(str(exc)) from exc
    bad = [r for r in reports if not r.ok]
    for r in reports:
        click.echo(
            f"{'ok ' if r.ok else 'BAD'} {r.table:20} {r.source_rows:>10} -> {r.target_rows:<10}"
        )
    if bad:
        raise click.ClickException(f"verification failed for {', '.join(r.table for r in bad)}")
    click.echo(
        f"copied {getattr(source, 'name', source)} to {getattr(target, 'name', target)}; every table verified"
    )


def _open_any(where: Path) -> MemoryStore:
    from engine.memory import MemoryStore

    return MemoryStore(str(where))


COMMANDS = [memory_group]
