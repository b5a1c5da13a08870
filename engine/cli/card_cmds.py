"""``npc import`` and ``npc export``: Character Card V1/V2/V3 (JSON, PNG, CHARX) in and out.

Each command parses its arguments, calls :mod:`engine.cards` and turns a
:class:`~engine.errors.CardError` into a one-line message and an exit code. An import that
fails writes nothing.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Literal, cast

import click

from engine.errors import CardError, EngineError, PersonaError

if TYPE_CHECKING:
    from engine import LoreEntry
    from engine.cards import ImportReport, ImportResult, LorebookResult
    from engine.persona import Persona

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
    help="Folder to write the character files (<id>.yaml) into; lorebooks go to its lore/ folder.",
)
@click.option(
    "--id",
    "char_id",
    default=None,
    help="Id (and file name) for the character or lorebook; one file only.",
)
@click.option(
    "--lorebook",
    "lorebooks",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="A World Info / lorebook JSON whose entries are added to every imported character.",
)
@click.option(
    "--attach",
    "attach",
    multiple=True,
    metavar="CHARACTER",
    help="For a lorebook: add `lorebooks: [<id>]` to this character in --out (repeatable).",
)
@click.option("--force", is_flag=True, help="Overwrite a character file that already exists.")
@click.option("--json", "as_json", is_flag=True, help="Print the import reports as JSON.")
def import_command(
    cards: tuple[Path, ...],
    out: Path,
    char_id: str | None,
    lorebooks: tuple[Path, ...],
    attach: tuple[str, ...],
    force: bool,
    as_json: bool,
) -> None:
    """Import character cards (V1/V2/V3 JSON, PNG, CHARX, Pygmalion) and lorebooks.

    A card becomes <id>.yaml with every card field kept in its `card:` section, so `npc
    export` gives the card back; a PNG card's picture is kept as <id>.png. A lorebook (World
    Info, lorebook_v3, Agnai, a list of entries) becomes lore/<id>.yaml, which characters
    use with `lorebooks: [<id>]`. A report lists what was mapped, kept verbatim or coerced.

    \b
    npc import Seraphina.png --out characters/
    npc import Eldoria.worldinfo.json            # characters/lore/eldoria.yaml
    npc import Eldoria.worldinfo.json --attach seraphina
    npc import cards/*.json --lorebook Eldoria.worldinfo.json
    """
    from engine.cards import import_file, import_lorebook

    if char_id is not None and len(cards) > 1:
        raise click.UsageError("--id needs exactly one card")
    if attach and lorebooks:
        raise click.UsageError(
            "--attach is for importing a lorebook; --lorebook adds a book to imported cards"
        )
    extra_lore = []
    for book_path in lorebooks:
        try:
            extra_lore.extend(import_lorebook(book_path).book.entries)
        except CardError as exc:
            raise click.ClickException(str(exc)) from exc
    reports = []
    written: set[Path] = set()
    failed = 0
    for card_path in cards:
        try:
            result = import_file(card_path, persona_id=char_id)
            report = result.report
            target = _write_import(result, out, extra_lore, written, force=force, source=card_path)
            written.add(target)
            if attach:
                _attach(result, target, attach, out)
        except EngineError as exc:
            failed += 1
            click.echo(f"error: {exc}", err=True)
            continue
        reports.append(report)
        if not as_json:
            click.echo(f"wrote {target}")
            for line in report.lines():
                click.echo(line)
    if as_json:
        click.echo(
            json.dumps(
                [
                    {
                        "source": r.source,
                        "kind": r.kind,
                        "format": r.format,
                        "spec": r.spec,
                        "mapped": r.mapped,
                        "unmapped": r.unmapped,
                        "warnings": r.warnings,
                        "written": r.written,
                    }
                    for r in reports
                ],
                ensure_ascii=False,
                indent=2,
            )
        )
    if failed:
        raise SystemExit(1)


def _write_import(
    result: ImportResult | LorebookResult,
    out: Path,
    extra_lore: list[LoreEntry],
    written: set[Path],
    *,
    force: bool,
    source: Path,
) -> Path:
    """Write one imported card (and its picture and side file) or lorebook; return the main file."""
    from engine.cards import (
        LorebookResult,
        lorebook_to_yaml,
        persona_to_yaml,
        split_large_extensions,
    )
    from engine.persona import load_lore_file, load_persona

    if isinstance(result, LorebookResult):
        base = result.id
        target = _free_target(out / "lore", base, written, result.report)
        _refuse_existing([target], force, source)
        _write_checked(target, lorebook_to_yaml(result.book), source=source, check=load_lore_file)
        result.report.mapped.append(f"use it from a character with `lorebooks: [{target.stem}]`")
        return target
    persona = result.persona
    if extra_lore:
        persona = persona.model_copy(update={"lore": [*persona.lore, *extra_lore]})
        result.report.mapped.append(f"--lorebook -> lore (+{len(extra_lore)} entries)")
    target = _free_target(out, persona.id, written, result.report)
    persona = persona.model_copy(update={"id": target.stem})
    side: dict[Path, bytes] = {}
    picture = result.picture
    if picture is not None:
        image_path = out / f"{persona.id}.png"
        side[image_path] = picture
        persona = persona.model_copy(
            update={"look": persona.look.model_copy(update={"image": image_path.name})}
        )
        result.report.written.append(
            f"{image_path} (the card's own picture, {len(picture)} bytes; look.image)"
        )
    persona, large = split_large_extensions(persona, f"{persona.id}.extensions.json")
    if large:
        ext_path = out / f"{persona.id}.extensions.json"
        side[ext_path] = (json.dumps(large, ensure_ascii=False, indent=1) + "\n").encode("utf-8")
        sizes = ", ".join(f"extensions.{k}" for k in sorted(large))
        result.report.written.append(
            f"{ext_path} ({sizes}: kept verbatim outside the character file)"
        )
    _refuse_existing([target, *side], force, source)
    text = persona_to_yaml(persona)
    _check_size(text, persona, source)
    made: list[Path] = []
    try:
        for path, payload in side.items():
            _write_bytes(path, payload)
            made.append(path)
        _write_checked(target, text, source=source, check=load_persona)
    except EngineError:
        for path in made:
            path.unlink(missing_ok=True)
        raise
    return target


def _attach(
    result: ImportResult | LorebookResult, target: Path, characters: tuple[str, ...], out: Path
) -> None:
    """Add ``lorebooks: [<book>]`` to each named character (a line appended; the rest untouched)."""
    from engine.cards import LorebookResult
    from engine.persona import find_character, load_persona

    if not isinstance(result, LorebookResult):
        raise CardError(
            "--attach applies to lorebooks; this file is a character card",
            path=result.report.source,
        )
    for ref in characters:
        file = find_character(ref, out)
        text = file.read_text(encoding="utf-8")
        if re.search(r"^lorebooks\s*:", text, re.MULTILINE):
            if target.stem in load_persona(file).lorebooks:
                continue
            raise CardError(
                f"{file} already has a `lorebooks:` line: add {target.stem!r} to it", path=str(file)
            )
        updated = text + ("" if text.endswith("\n") else "\n") + f"lorebooks: [{target.stem}]\n"
        _write_checked(file, updated, source=file, check=load_persona)
        result.report.mapped.append(f"attached to {file} (lorebooks: [{target.stem}])")
        logger.info("attached %s to %s", target, file)


def _free_target(folder: Path, base: str, written: set[Path], report: ImportReport) -> Path:
    """``folder/<base>.yaml``, numbered when another file of this same import took that name."""
    target = folder / f"{base}.yaml"
    if target not in written:
        return target
    n = 2
    while (folder / f"{base}-{n}.yaml") in written or (folder / f"{base}-{n}.yaml").exists():
        n += 1
    report.warnings.append(f"another file in this import is also {base!r}; saved as '{base}-{n}'")
    return folder / f"{base}-{n}.yaml"


def _refuse_existing(paths: list[Path], force: bool, source: Path) -> None:
    existing = [p for p in paths if p.exists()]
    if existing and not force:
        names = ", ".join(str(p) for p in existing)
        raise CardError(
            f"{names} already exist{'s' if len(existing) == 1 else ''} (another character or lorebook with the "
            "same id?): choose an id with --id, or replace it with --force",
            path=str(source),
        )


def _check_size(text: str, persona: Persona, source: Path) -> None:
    """Refuse a character file over the persona size limit, saying which parts are large."""
    from engine.persona import MAX_PERSONA_BYTES

    size = len(text.encode("utf-8"))
    if size <= MAX_PERSONA_BYTES:
        return
    data = persona.model_dump(mode="json", exclude_defaults=True)
    parts: list[tuple[int, str]] = []
    for key, value in data.items():
        if key == "card" and isinstance(value, dict):
            parts.extend(
                (len(json.dumps(v, ensure_ascii=False).encode()), f"card.{k}")
                for k, v in value.items()
            )
        else:
            parts.append((len(json.dumps(value, ensure_ascii=False).encode()), key))
    largest = ", ".join(f"{name} {n / 1000:.0f} KB" for n, name in sorted(parts, reverse=True)[:3])
    raise CardError(
        f"the character file would be {size / 1_000_000:.2f} MB, over the {MAX_PERSONA_BYTES / 1_000_000:.0f} MB "
        f"limit of persona files; largest parts: {largest}",
        path=str(source),
    )


def _write_bytes(target: Path, payload: bytes) -> None:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        temp = target.with_name(f".import-{os.getpid()}-{target.name}")
        temp.write_bytes(payload)
        temp.replace(target)
    except OSError as exc:
        raise CardError(f"cannot write: {exc.strerror or exc}", path=str(target)) from exc


def _write_checked(
    target: Path, text: str, *, source: Path, check: Callable[[Path], object]
) -> None:
    """Write ``text`` to ``target`` only once it loads back (``check``) without an error."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CardError(
            f"cannot create folder: {exc.strerror or exc}", path=str(target.parent)
        ) from exc
    temp = target.with_name(f".import-{os.getpid()}-{target.name}")
    try:
        temp.write_text(text, encoding="utf-8")
        try:
            check(temp)
        except PersonaError as exc:
            where = f"{exc.field}: " if exc.field else ""
            raise CardError(
                f"the imported file does not validate: {where}{exc.message}", path=str(source)
            ) from exc
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
    help="PNG to embed the card in (default: the character's look.image, else a generated portrait).",
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
def export_command(
    character: str, fmt: str, out: Path | None, image: Path | None, directory: Path
) -> None:
    """Export a character (id or file) as a Character Card V2/V3 JSON or PNG.

    \b
    npc export mira --format png --out mira.png
    npc export characters/chen.yaml --format v3
    """
    from engine.cards import export_card
    from engine.persona import find_character, load_persona

    if image is not None and fmt != "png":
        raise click.UsageError("--image only applies to --format png")
    try:
        file = find_character(character, directory)
        persona = load_persona(file)
        if image is None and fmt == "png" and persona.look.image:
            image = file.parent / persona.look.image  # the character's own picture
        target = out or Path(f"{persona.id}{_SUFFIX[fmt]}")
        export_card(persona, target, format=cast(Literal["v2", "v3", "png"], fmt), image=image)
    except EngineError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"wrote {target}")


COMMANDS = [import_command, export_command]
