"""``npc import`` and ``npc export``: Character Card V1/V2/V3 (JSON, PNG, CHARX) in and out.

Each command parses its arguments, calls :mod:`engine.cards` and turns a
:class:`~engine.errors.CardError` into a one-line message and an exit code. An import that
fails writes nothing.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Literal, cast

import click

from engine.cards import export_card, import_card, load_lorebook, persona_to_yaml
from engine.errors import CardError, EngineError, PersonaError
from engine.persona import find_character, load_persona

__all__ = ["COMMANDS", "export_command", "import_command"]

logger = logging.getLogger(__name__)


@click.command("import")
@click.argument("cards", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--out",
    default="characters",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder to write the character files (<id>.yaml) into.",
)
@click.option("--id", "char_id", default=None, help="Id (and file name) for the character; one card only.")
@click.option(
    "--lorebook",
    "lorebooks",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="A World Info / lorebook JSON whose entries are added to every imported character.",
)
@click.option("--force", is_flag=True, help="Overwrite a character file that already exists.")
@click.option("--json", "as_json", is_flag=True, help="Print the import reports as JSON.")
def import_command(
    cards: tuple[Path, ...],
    out: Path,
    char_id: str | None,
    lorebooks: tuple[Path, ...],
    force: bool,
    as_json: bool,
) -> None:
    """Import character cards (V1/V2/V3 JSON, PNG or CHARX) as persona YAML files.

    Every card field is kept in the file's `card:` section, so `npc export` gives the card
    back. A report lists what was mapped and what is only kept verbatim.

    \b
    npc import Seraphina.png --out characters/
    npc import cards/*.json --lorebook Eldoria.worldinfo.json
    """
    if char_id is not None and len(cards) > 1:
        raise click.UsageError("--id needs exactly one card")
    extra_lore = []
    for book_path in lorebooks:
        try:
            extra_lore.extend(load_lorebook(book_path).entries)
        except CardError as exc:
            raise click.ClickException(str(exc)) from exc
    reports = []
    written: set[Path] = set()
    failed = 0
    for card_path in cards:
        try:
            result = import_card(card_path, persona_id=char_id)
            persona = result.persona
            if extra_lore:
                persona = persona.model_copy(update={"lore": [*persona.lore, *extra_lore]})
                result.report.mapped.append(f"--lorebook -> lore (+{len(extra_lore)} entries)")
            target = out / f"{persona.id}.yaml"
            if target in written:
                # Two cards in one run with the same name: number the later ones.
                base, n = persona.id, 2
                while (out / f"{base}-{n}.yaml") in written or (out / f"{base}-{n}.yaml").exists():
                    n += 1
                persona = persona.model_copy(update={"id": f"{base}-{n}"})
                target = out / f"{persona.id}.yaml"
                result.report.warnings.append(f"another card in this import is also {base!r}; saved as {persona.id!r}")
            if target.exists() and not force:
                raise CardError(f"{target} already exists (use --force to overwrite, or --id)", path=str(card_path))
            _write_checked(target, persona_to_yaml(persona), source=card_path)
            written.add(target)
        except EngineError as exc:
            failed += 1
            click.echo(f"error: {exc}", err=True)
            continue
        reports.append(result.report)
        if not as_json:
            click.echo(f"wrote {target}")
            for line in result.report.lines():
                click.echo(line)
    if as_json:
        click.echo(
            json.dumps(
                [
                    {"source": r.source, "spec": r.spec, "mapped": r.mapped, "unmapped": r.unmapped, "warnings": r.warnings}
                    for r in reports
                ],
                ensure_ascii=False,
                indent=2,
            )
        )
    if failed:
        raise SystemExit(1)


def _write_checked(target: Path, text: str, *, source: Path) -> None:
    """Write ``text`` to ``target`` only once it loads back as a valid persona."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CardError(f"cannot create folder: {exc.strerror or exc}", path=str(target.parent)) from exc
    temp = target.with_name(f".import-{os.getpid()}-{target.name}")
    try:
        temp.write_text(text, encoding="utf-8")
        try:
            load_persona(temp)
        except PersonaError as exc:
            where = f"{exc.field}: " if exc.field else ""
            raise CardError(f"the imported character does not validate: {where}{exc.message}", path=str(source)) from exc
        temp.replace(target)
    except OSError as exc:
        raise CardError(f"cannot write: {exc.strerror or exc}", path=str(target)) from exc
    finally:
        temp.unlink(missing_ok=True)


_SUFFIX = {"v2": ".card.json", "v3": ".v3.json", "png": ".png"}


@click.command("export")
@click.argument("character")
@click.option(
    "-f",
    "--format",
    "fmt",
    type=click.Choice(["v2", "v3", "png"]),
    default="v2",
    show_default=True,
    help="Character Card V2 JSON, V3 JSON, or a PNG holding both.",
)
@click.option(
    "-o",
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Output file (default: <id>.card.json, <id>.v3.json or <id>.png here).",
)
@click.option(
    "--image",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="PNG to embed the card in (default: a generated portrait).",
)
@click.option(
    "-d",
    "--dir",
    "directory",
    default="characters",
    show_default=True,
    type=click.Path(path_type=Path),
    help="Folder of character files, for looking up CHARACTER by id.",
)
def export_command(character: str, fmt: str, out: Path | None, image: Path | None, directory: Path) -> None:
    """Export a character (id or file) as a Character Card V2/V3 JSON or PNG.

    \b
    npc export mira --format png --out mira.png
    npc export characters/chen.yaml --format v3
    """
    if image is not None and fmt != "png":
        raise click.UsageError("--image only applies to --format png")
    try:
        persona = load_persona(find_character(character, directory))
        target = out or Path(f"{persona.id}{_SUFFIX[fmt]}")
        export_card(persona, target, format=cast(Literal["v2", "v3", "png"], fmt), image=image)
    except EngineError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"wrote {target}")


COMMANDS = [import_command, export_command]
