"""``npc validate``, ``npc schema``, ``npc show`` and ``npc new``: working with character files.

Each command parses its arguments, calls :mod:`engine.persona` and turns an error into a
one-line message and an exit code. No traceback reaches the user.
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from engine.errors import EngineError, PersonaError

if TYPE_CHECKING:
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    from engine.persona import ActionSpec, FileReport, Persona

__all__ = ["COMMANDS", "new", "schema", "show", "validate"]

logger = logging.getLogger(__name__)

SCHEMA_FILE = "persona.schema.json"


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-q", "--quiet", is_flag=True, help="Print only problems, not a line per valid file.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON report instead of text lines.")
def validate(paths: tuple[Path, ...], quiet: bool, as_json: bool) -> None:
    """Check character files; folders are searched for every persona file inside.

    Prints one line per problem as PATH:LINE:COLUMN: FIELD: MESSAGE, and "OK PATH" for each
    valid file. Exits 0 when every file is valid, 1 otherwise.

    \b
    npc validate characters/
    """
    from engine.persona import validate_path

    reports = []
    for path in paths:
        try:
            reports.extend(validate_path(path))
        except Exception as exc:  # noqa: BLE001 - a bug must still not print a traceback
            logger.debug("validating %s failed", path, exc_info=True)
            reports.append(_crash_report(path, exc))
    failed = [r for r in reports if not r.ok]
    if as_json:
        payload = {
            "ok": not failed,
            "files": [
                {
                    "path": str(r.path),
                    "kind": r.kind,
                    "ok": r.ok,
                    "errors": [_error_dict(e) for e in r.errors],
                }
                for r in reports
            ],
        }
        click.echo(json.dumps(payload, ensure_ascii=False, indent=2))
    else:
        for report in reports:
            if report.ok and not quiet:
                click.echo(
                    f"OK {report.path}"
                    + {"template": " (template)", "lorebook": " (lore file)"}.get(report.kind, "")
                )
            for error in report.errors:
                click.echo(str(error))
        total = len(reports)
        problems = sum(len(r.errors) for r in failed)
        summary = (
            f"{total} file{'s' if total != 1 else ''} checked, all valid"
            if not failed
            else f"{total} file{'s' if total != 1 else ''} checked, {len(failed)} with "
            f"{problems} problem{'s' if problems != 1 else ''}"
        )
        click.echo(summary, err=True)
    raise SystemExit(1 if failed else 0)


def _crash_report(path: Path, exc: Exception) -> FileReport:
    from engine.persona import FileReport

    error = PersonaError(
        f"unexpected error while validating ({type(exc).__name__}: {exc})", path=str(path)
    )
    return FileReport(path, "character", [error])


def _error_dict(error: PersonaError) -> dict[str, Any]:
    return {
        "path": error.path,
        "line": error.line,
        "column": error.column,
        "field": error.field,
        "message": error.message,
        "suggestion": error.suggestion,
        "kind": type(error).__name__,
    }


@click.command()
@click.option(
    "-o",
    "--out",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write the schema to this file instead of standard output.",
)
@click.option("--template", is_flag=True, help="The schema of a template: no field is required.")
def schema(out: Path | None, template: bool) -> None:
    """Print the JSON Schema of a character file, for editors.

    Attach it in VS Code's YAML extension with a first line such as
    "# yaml-language-server: $schema=../docs/persona.schema.json".

    \b
    npc schema --out docs/persona.schema.json
    """
    from engine.persona import persona_json_schema

    text = json.dumps(persona_json_schema(template=template), ensure_ascii=False, indent=2) + "\n"
    if out is None:
        click.echo(text, nl=False)
        return
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise click.ClickException(f"{out}: cannot write: {exc.strerror or exc}") from exc
    click.echo(f"wrote {out}", err=True)


@click.command()
@click.argument("character")
@click.option(
    "-d",
    "--dir",
    "directory",
    default="characters",
    show_default=True,
    type=click.Path(path_type=Path),
    help="Folder of character files, for looking up CHARACTER by id.",
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print the resolved persona (templates merged) as JSON."
)
def show(character: str, directory: Path, as_json: bool) -> None:
    """Show a readable summary of a character, by id or file path.

    \b
    npc show mira
    npc show characters/chen.yaml --json
    """
    from engine.persona import find_character, load_persona

    try:
        persona = load_persona(find_character(character, directory))
    except EngineError as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(json.dumps(persona.model_dump(mode="json"), ensure_ascii=False, indent=2))
        return
    from rich.console import Console

    Console(highlight=False).print(_summary(persona))


@click.command()
@click.argument("name")
@click.option(
    "-t",
    "--template",
    default=None,
    help="Template to extend (a file in DIR/templates/); 'none' for a standalone file. "
    "Default: plaza_npc when it exists.",
)
@click.option(
    "-d",
    "--dir",
    "directory",
    default="characters",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder to create the character file in.",
)
@click.option("--id", "char_id", default=None, help="File name and id (default: made from NAME).")
def new(name: str, template: str | None, directory: Path, char_id: str | None) -> None:
    """Create a new character file from a template; never overwrites a file.

    \b
    npc new "Old Tom" --template plaza_npc
    """
    from engine.persona import scaffold_persona, template_names, validate_path

    slug = char_id if char_id is not None else _slug(name)
    if not slug or not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", slug):
        raise click.ClickException(
            f"cannot make a file name from {name!r}; give one with --id (lowercase letters, digits, - and _)"
        )
    available = template_names(directory)
    if template is None:
        template = "plaza_npc" if "plaza_npc" in available else "none"
    if template != "none" and template not in available:
        listing = ", ".join(available) if available else f"none in {directory / 'templates'}"
        raise click.ClickException(f"no template {template!r} (available: {listing}; or 'none')")
    target = directory / f"{slug}.yaml"
    text = scaffold_persona(
        name, template=None if template == "none" else template, schema_ref=_schema_ref(directory)
    )
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with target.open("x", encoding="utf-8") as handle:
            handle.write(text)
    except FileExistsError as exc:
        raise click.ClickException(f"{target} already exists; not overwriting it") from exc
    except OSError as exc:
        raise click.ClickException(f"{target}: cannot write: {exc.strerror or exc}") from exc
    problems = [e for r in validate_path(target) for e in r.errors]
    for problem in problems:
        click.echo(str(problem), err=True)
    click.echo(f"created {target}")
    click.echo(f"next: fill in every section, then run `npc validate {target}`", err=True)


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9_-]+", "-", name.lower()).strip("-_")


def _schema_ref(directory: Path) -> str | None:
    """A path from ``directory`` to the repository's docs/persona.schema.json, if one is near."""
    here = directory.resolve()
    for folder in (here, *here.parents):
        candidate = folder / "docs" / SCHEMA_FILE
        if candidate.is_file():
            return Path(os.path.relpath(candidate, here)).as_posix()
    return None


# npc show ---------------------------------------------------------------------------------


def _swatch(colour: str, label: str) -> Text:
    from rich.text import Text

    return Text.assemble(("  ", f"on {colour}"), f" {label} {colour}  ")


def _signature(action: ActionSpec) -> str:
    params = []
    for param in action.parameters:
        kind = "|".join(str(c) for c in param.choices) if param.choices else param.type
        params.append(f"{param.name}{'' if param.required else '?'}: {kind}")
    return f"{action.name}({', '.join(params)})"


def _bullets(items: list[str]) -> Table | Text:
    from rich.table import Table
    from rich.text import Text

    if not items:
        return Text("—")
    grid = Table.grid(padding=(0, 1))
    grid.add_column(no_wrap=True)
    grid.add_column(overflow="fold")  # Chinese has no spaces to wrap at
    for item in items:
        grid.add_row("•", item)
    return grid


def _summary(persona: Persona) -> Panel:
    from rich.console import Group
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    names = ", ".join(f"{lang}: {n}" for lang, n in persona.names.items() if n != persona.name)
    title = Text.assemble(
        (persona.name, "bold"),
        f" ({names})" if names else "",
        f" · {persona.role}" if persona.role else "",
    )
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold cyan", no_wrap=True)
    # fold, not ellipsis: Chinese has no spaces to wrap at, and nothing should be cut off.
    facts.add_column(overflow="fold")
    identity = [f"id {persona.id}"]
    if persona.extends:
        identity.append(f"extends {persona.extends}")
    if persona.pronouns:
        identity.append(persona.pronouns)
    if persona.age is not None:
        identity.append(f"age {persona.age}")
    facts.add_row("Identity", " · ".join(identity))
    languages = ", ".join(persona.languages) + f" ({persona.language_mode})"
    facts.add_row("Languages", languages)
    look = persona.look
    facts.add_row(
        "Look",
        Group(
            Text(look.description or "—"),
            Text.assemble(
                _swatch(look.hair, "hair"),
                _swatch(look.outfit, "outfit"),
                _swatch(look.accent, "accent"),
                f" {look.hair_style}, {look.accessory}, height {look.height:g}",
            ),
        ),
    )
    traits = ", ".join(persona.personality.traits) or "—"
    if persona.personality.big_five:
        b5 = persona.personality.big_five
        traits += f"\nBig Five O{b5.openness:.1f} C{b5.conscientiousness:.1f} E{b5.extraversion:.1f} A{b5.agreeableness:.1f} N{b5.neuroticism:.1f}"
    facts.add_row("Personality", traits)
    style = persona.style
    facts.add_row(
        "Voice",
        f"{style.tone or '—'}\nat most {style.max_reply_sentences} sentences, {style.max_reply_chars} characters",
    )
    facts.add_row("Quirks", _bullets(style.quirks))
    facts.add_row("Catchphrases", _bullets(style.catchphrases))
    facts.add_row("Backstory", persona.backstory or "—")
    facts.add_row(f"Knowledge ({len(persona.knowledge)})", _bullets(persona.knowledge))
    facts.add_row("Goals", _bullets(persona.goals))
    facts.add_row("First meeting", _bullets(persona.greetings.first_meeting))
    facts.add_row("Returning", _bullets(persona.greetings.returning))
    facts.add_row("Actions", _bullets([_signature(a) for a in persona.actions]))
    emotions = ", ".join(persona.emotions.set) + f" (baseline {persona.emotions.baseline})"
    facts.add_row("Emotions", emotions)
    rel = persona.relationship
    facts.add_row(
        "Relationship",
        f"starts at affinity {rel.affinity:g}, trust {rel.trust:g}, familiarity {rel.familiarity:g}; "
        f"at most ±{rel.max_change_per_turn:g} a turn",
    )
    bounds = persona.boundaries
    facts.add_row("Refuses", _bullets(bounds.refused_topics))
    facts.add_row(
        "Rules",
        f"{len(bounds.ooc_rules)} out-of-character rules, {len(bounds.refusal_lines)} refusal lines, "
        f"{len(bounds.fallback_lines)} fallback lines",
    )
    if persona.lore:
        facts.add_row("Lore", _bullets([e.name or ", ".join(e.keys) for e in persona.lore]))
    examples = Table(title=f"Examples ({len(persona.examples)})", expand=True, show_lines=True)
    examples.add_column("Player", ratio=2, overflow="fold")
    examples.add_column(persona.name, ratio=4, overflow="fold")
    examples.add_column("Shows", ratio=2, overflow="fold")
    for example in persona.examples:
        shown = [example.emotion] if example.emotion else []
        shown += [
            a.name + "".join(f"\n  {k}={v}" for k, v in a.args.items()) for a in example.actions
        ]
        examples.add_row(example.player, example.character, "\n".join(shown))
    return Panel(Group(facts, examples), title=title, title_align="left")


COMMANDS = [validate, schema, show, new]
