"""Character Card V1/V2/V3 import and export: JSON, PNG (``chara``/``ccv3`` chunks) and CHARX.

Character cards are the format writers already exchange personas in. Importing one maps
its fields onto a :class:`~engine.persona.model.Persona` (description and personality become
backstory, traits, looks and knowledge; ``first_mes`` and ``alternate_greetings`` become
first-meeting greetings; ``mes_example`` becomes example exchanges; the lorebook becomes
``persona.lore``) and keeps every original field in ``persona.card``, so exporting an
unedited persona gives back the card it came from, field for field. Edited fields are
written from the persona.

Modules: :mod:`~engine.cards.containers` (JSON, PNG and CHARX files),
:mod:`~engine.cards.importing` (card -> persona), :mod:`~engine.cards.exporting` (persona ->
card), :mod:`~engine.cards.prose` (a card's free text <-> persona parts),
:mod:`~engine.cards.lorebooks` (``character_book``, ``lorebook_v3``
and World Info <-> :class:`~engine.lore.Lorebook`), :mod:`~engine.cards.portrait` (the PNG
image). May import :mod:`engine.errors`, :mod:`engine.text`, :mod:`engine.lore` and
:mod:`engine.persona`; must not import memory, backends or runtime.

Containers are read with the standard library only (``struct`` + ``zlib`` for PNG, with CRC
checks; ``zipfile`` for CHARX) under size limits, so a hostile file is refused with a
:class:`~engine.errors.CardError` before it can exhaust memory.

Example::

    from engine.cards import import_card, export_card
    result = import_card("Seraphina.png")
    result.persona.name, result.report.unmapped
    export_card(result.persona, "seraphina.png", format="png")
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml

from engine.cards.containers import (
    DEFAULT_LIMITS,
    PNG_SIGNATURE,
    V1_FIELDS,
    ZIP_SIGNATURE,
    Card,
    Limits,
    book_from,
    card_from_json,
    card_picture,
    parse_json,
    read_card,
    read_limited,
    read_png_text,
    refuse_misnamed,
    strip_card_chunks,
    write_charx,
    write_png,
)
from engine.cards.exporting import backfill_v2, persona_to_card
from engine.cards.importing import ImportReport, card_to_persona, id_from_name
from engine.cards.lorebooks import looks_like_lorebook, lorebook_format, parse_lorebook
from engine.cards.portrait import portrait_png
from engine.errors import CardError
from engine.lore import Lorebook
from engine.persona.model import Persona

__all__ = [
    "Card",
    "CardFormat",
    "DEFAULT_LIMITS",
    "ImportReport",
    "ImportResult",
    "LARGE_EXTENSION_BYTES",
    "Limits",
    "LorebookResult",
    "V1_FIELDS",
    "card_from_json",
    "card_picture",
    "card_to_persona",
    "export_card",
    "id_from_name",
    "import_card",
    "import_file",
    "import_lorebook",
    "load_lorebook",
    "lorebook_to_yaml",
    "persona_lorebook",
    "persona_to_card",
    "persona_to_yaml",
    "portrait_png",
    "read_card",
    "read_png_text",
    "split_large_extensions",
    "strip_card_chunks",
    "write_charx",
    "write_png",
]

logger = logging.getLogger(__name__)

CardFormat = Literal["v2", "v3", "png"]


@dataclass
class ImportResult:
    """A persona made from a card, the report of how, and the card itself."""

    persona: Persona
    report: ImportReport
    card: Card

    @property
    def picture(self) -> bytes | None:
        """The card's own picture (a PNG without its card chunks), or None."""
        return card_picture(self.card)


@dataclass
class LorebookResult:
    """A lorebook read from a file, the id to save it under, and the report."""

    book: Lorebook
    id: str
    report: ImportReport


# ============================================================================================
# Files: import and export
# ============================================================================================


def import_card(
    source: str | Path | bytes,
    *,
    persona_id: str | None = None,
    limits: Limits = DEFAULT_LIMITS,
    path: str | None = None,
) -> ImportResult:
    """Read a card file (JSON, PNG or CHARX) and map it onto a persona (``path`` names bytes in messages).

    Example::

        result = import_card("Seraphina.png")
        result.persona.greetings.first_meeting[0]
        print("\\n".join(result.report.lines()))
    """
    card = read_card(source, limits=limits, path=path)
    persona, report = card_to_persona(card, persona_id=persona_id)
    return ImportResult(persona=persona, report=report, card=card)


def import_file(
    source: str | Path, *, persona_id: str | None = None, limits: Limits = DEFAULT_LIMITS
) -> ImportResult | LorebookResult:
    """Read a card or a lorebook, told apart by shape (lorebooks hold ``entries``; cards never do).

    Example::

        result = import_file("Eldoria.worldinfo.json")
        isinstance(result, LorebookResult), len(result.book.entries)
    """
    path = str(source)
    raw = read_limited(Path(source), limits.max_file_bytes)
    if not raw.startswith((PNG_SIGNATURE, ZIP_SIGNATURE)):
        refuse_misnamed(raw, path)
        data = parse_json(raw, path, limits, "file")
        if looks_like_lorebook(data):
            return _lorebook_result(data, path, persona_id)
    return import_card(raw, persona_id=persona_id, limits=limits, path=path)


def import_lorebook(
    source: str | Path, *, book_id: str | None = None, limits: Limits = DEFAULT_LIMITS
) -> LorebookResult:
    """Read a standalone lorebook (World Info, ``lorebook_v3``, Agnai, a bare list of entries).

    The id (the lore file's name) comes from the book's name, else the file name. Every
    coercion made while reading is a warning in the report.
    """
    path = str(source)
    raw = read_limited(Path(source), limits.max_file_bytes)
    refuse_misnamed(raw, path)
    return _lorebook_result(parse_json(raw, path, limits, "lorebook"), path, book_id)


def _lorebook_result(data: object, path: str, book_id: str | None) -> LorebookResult:
    notes: list[str] = []
    book = parse_lorebook(data, path=path, notes=notes)
    stem = Path(path).name.split(".")[0]
    name = book.name or (
        data.get("name") if isinstance(data, dict) and isinstance(data.get("name"), str) else ""
    )
    ident = book_id or id_from_name(name or "") or id_from_name(stem) or "lorebook"
    report = ImportReport(
        source=path, spec="lorebook", format=lorebook_format(data), kind="lorebook"
    )
    report.mapped.append(f"entries -> lore file ({len(book.entries)} entries)")
    report.warnings.extend(notes)
    return LorebookResult(book=book, id=ident, report=report)


def lorebook_to_yaml(book: Lorebook) -> str:
    """The book as YAML text for a lore file (``lore/<id>.yaml``), defaults omitted."""
    data = book.model_dump(mode="json", exclude_defaults=True)
    text = yaml.dump(data, Dumper=_PersonaDumper, allow_unicode=True, sort_keys=False, width=100)
    return (
        "# A lore file: characters use its entries with `lorebooks: [<this file's name>]`.\n" + text
    )


#: Card extensions larger than this (as JSON) go to a side file, outside the character file's budget.
LARGE_EXTENSION_BYTES = 64 * 1024


def split_large_extensions(persona: Persona, file_name: str) -> tuple[Persona, dict[str, object]]:
    """Move card extensions over :data:`LARGE_EXTENSION_BYTES` out of the persona.

    Returns the persona pointing at ``file_name`` (``card.extensions_file``) and the moved
    extensions, to be written there as JSON; the loader merges them back, so the loaded
    persona is the same. With nothing large, returns the persona unchanged and ``{}``.
    """
    if persona.card is None:
        return persona, {}
    large = {
        k: v
        for k, v in persona.card.extensions.items()
        if len(json.dumps(v, ensure_ascii=False).encode("utf-8")) > LARGE_EXTENSION_BYTES
    }
    if not large:
        return persona, {}
    kept = {k: v for k, v in persona.card.extensions.items() if k not in large}
    card = persona.card.model_copy(update={"extensions": kept, "extensions_file": file_name})
    return persona.model_copy(update={"card": card}), large


def export_card(
    persona: Persona,
    path: str | Path | None = None,
    *,
    format: CardFormat = "v2",
    image: bytes | str | Path | None = None,
) -> bytes:
    """The persona as a card file's bytes (V2 JSON, V3 JSON, or PNG with both chunks).

    For ``png``, ``image`` is the picture to embed (bytes or a path); without one a procedural
    portrait is drawn. With ``path`` the bytes are also written there (all at once, so a
    failure leaves nothing half written).
    """
    if format == "v2":
        payload = (
            json.dumps(persona_to_card(persona, "v2"), ensure_ascii=False, indent=2) + "\n"
        ).encode("utf-8")
    elif format == "v3":
        payload = (
            json.dumps(persona_to_card(persona, "v3"), ensure_ascii=False, indent=2) + "\n"
        ).encode("utf-8")
    elif format == "png":
        if isinstance(image, str | Path):
            image = read_limited(Path(image), DEFAULT_LIMITS.max_file_bytes)
        picture = image if image is not None else portrait_png(persona)
        v3 = persona_to_card(persona, "v3")
        payload = write_png(picture, {"chara": backfill_v2(v3, persona), "ccv3": v3})
    else:
        raise CardError(f"unknown export format {format!r} (use v2, v3 or png)")
    if path is not None:
        _write_atomic(Path(path), payload)
    return payload


def _write_atomic(path: Path, payload: bytes) -> None:
    temp = path.with_name(f".{path.name}.tmp")
    try:
        temp.write_bytes(payload)
        temp.replace(path)
    except OSError as exc:
        temp.unlink(missing_ok=True)
        raise CardError(f"cannot write: {exc.strerror or exc}", path=str(path)) from exc


def load_lorebook(source: str | Path | bytes, *, limits: Limits = DEFAULT_LIMITS) -> Lorebook:
    """A lorebook from a file: World Info JSON, ``lorebook_v3`` JSON, or a card holding a book."""
    path = None if isinstance(source, bytes) else str(source)
    raw = source if isinstance(source, bytes) else read_limited(Path(source), limits.max_file_bytes)
    if raw.startswith((PNG_SIGNATURE, ZIP_SIGNATURE)):
        card = read_card(raw, limits=limits)
        book = card.data.get("character_book")
        if not isinstance(book, dict):
            raise CardError("the card holds no character_book", path=path)
        return book_from(book, "data.character_book", path)
    return parse_lorebook(parse_json(raw, path, limits, "lorebook"), path=path)


class _PersonaDumper(yaml.SafeDumper):
    """Writes multi-line strings as literal blocks so imported text stays readable."""


def _str_representer(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    if any(c in value for c in "\x85\u2028\u2029"):
        style: str | None = '"'  # PyYAML folds these Unicode line breaks outside double quotes
    elif "\n" in value and "\r" not in value:
        style = "|"
    else:
        style = None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_PersonaDumper.add_representer(str, _str_representer)


def persona_to_yaml(persona: Persona) -> str:
    """The persona as YAML text for ``characters/`` (fields left at their defaults are omitted)."""
    data = persona.model_dump(mode="json", exclude_defaults=True)
    data.pop("extends", None)
    text = yaml.dump(data, Dumper=_PersonaDumper, allow_unicode=True, sort_keys=False, width=100)
    return f"# Imported from a character card ({persona.card.spec if persona.card else 'engine'}).\n{text}"


def persona_lorebook(persona: Persona) -> Lorebook:
    """The persona's lore as a :class:`~engine.lore.Lorebook` with the imported book's defaults.

    An imported card's book-level ``scan_depth``, ``token_budget`` and ``recursive_scanning``
    live in ``persona.card.extra["character_book"]``; this puts them back around
    ``persona.lore`` so ``persona_lorebook(p).select(recent, budget_tokens=...)`` honours them.
    """
    meta = persona.card.extra.get("character_book") if persona.card else None
    book = parse_lorebook({**meta, "entries": []}) if isinstance(meta, dict) else Lorebook()
    book.entries = list(persona.lore)
    return book
