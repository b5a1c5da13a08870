"""Card -> persona: :func:`card_to_persona` maps a card's fields onto a
:class:`~engine.persona.model.Persona`, keeps every original field in ``persona.card``, and
says what it mapped, kept and could not use in an :class:`ImportReport`; :func:`id_from_name`
makes a persona id from a card's name.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import ValidationError

from engine.cards.containers import (
    V1_FIELDS,
    V2_FIELDS,
    V2_LIST_FIELDS,
    V2_STR_FIELDS,
    Card,
    book_from,
)
from engine.cards.prose import Mapped, compose_text, map_text, persona_state
from engine.errors import CardError
from engine.lore import LoreEntry, strip_decorators
from engine.persona.model import CardInfo, Greetings, Look, Persona, Personality
from engine.text.script import is_cjk

__all__ = [
    "ENGINE_EXT",
    "ImportReport",
    "MAX_ID_LENGTH",
    "V1_COPIES",
    "card_to_persona",
    "id_from_name",
    "talkativeness",
]

ENGINE_EXT = "npc_engine"


@dataclass
class ImportReport:
    """What an import did with each part of the card."""

    source: str
    spec: str
    format: str = ""
    """The format read, in words ("Character Card V2 in a PNG", "SillyTavern World Info")."""
    kind: Literal["character", "lorebook"] = "character"
    """What the file held."""
    written: list[str] = field(default_factory=list)
    """Files written beside the character file (its picture, large extension data)."""
    mapped: list[str] = field(default_factory=list)
    """Card fields mapped onto persona fields ("first_mes -> greetings.first_meeting[0]")."""
    unmapped: list[str] = field(default_factory=list)
    """Parts kept only verbatim in ``persona.card`` (exported again, but unused by the engine)."""
    warnings: list[str] = field(default_factory=list)
    """Anything the writer should look at."""

    def lines(self) -> list[str]:
        """The report as readable lines."""
        out = [f"{self.source} ({self.format or self.spec})"]
        out += [f"  mapped: {m}" for m in self.mapped]
        out += [f"  not mapped (kept verbatim in card): {u}" for u in self.unmapped]
        out += [f"  warning: {w}" for w in _grouped(self.warnings)]
        out += [f"  also wrote: {w}" for w in self.written]
        return out


_INDEX = re.compile(r"\[(?:\d+|'[^']*')\]")


def _grouped(lines: list[str]) -> list[str]:
    """Lines that differ only in an entry index, as one line listing the indices (order kept)."""
    groups: dict[str, list[str]] = {}
    for line in lines:
        groups.setdefault(_INDEX.sub("[*]", line), []).append(line)
    out = []
    for pattern, members in groups.items():
        if len(members) == 1:
            out.append(members[0])
            continue
        indices = [m.group(0) for line in members for m in [_INDEX.search(line)] if m]
        shown = ", ".join(indices[:6]) + (
            f" and {len(indices) - 6} more" if len(indices) > 6 else ""
        )
        out.append(f"{pattern} ({len(members)} entries: {shown})")
    return out


def _slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9_-]+", "-", ascii_text.lower()).strip("-_")


#: Longest id made from a name; longer ones are cut at a syllable or word boundary.
MAX_ID_LENGTH = 48


def id_from_name(name: str) -> str:
    """A persona id that reads: a slug of the name, Chinese characters written in pinyin.

    Persona ids are lower-case ASCII (``[a-z0-9_-]``: they name files and key memory), so
    Han characters become toneless pinyin, one syllable per character, joined by hyphens
    (``陈掌柜`` -> ``chen-zhang-gui``, ``TRPG主持人`` -> ``trpg-zhu-chi-ren``; ``ü`` is ``v``).
    Returns ``""`` when nothing readable is left (a name only in another script).

    >>> id_from_name("Hu Tao")
    'hu-tao'
    """
    if any(is_cjk(c) for c in name):
        from pypinyin import lazy_pinyin  # loads its dictionary (~0.3 s): only when needed

        name = "-".join(lazy_pinyin(name))
    slug = re.sub(r"-{2,}", "-", _slug(name))
    if len(slug) > MAX_ID_LENGTH:
        slug = (
            slug[: MAX_ID_LENGTH + 1].rsplit("-", 1)[0]
            if "-" in slug[:MAX_ID_LENGTH]
            else slug[:MAX_ID_LENGTH]
        )
    return slug.strip("-_")


def _languages(data: Mapping[str, Any]) -> list[str]:
    sample = "".join(str(data.get(k) or "") for k in ("description", "first_mes", "personality"))
    letters = [c for c in sample if c.isalpha()]
    if letters and sum(is_cjk(c) for c in letters) / len(letters) > 0.3:
        return ["zh", "en"]
    return ["en"]


def talkativeness(ext: Mapping[str, Any]) -> float | None:
    value = ext.get("talkativeness")
    try:
        number = (
            float(value)
            if isinstance(value, str | int | float) and not isinstance(value, bool)
            else None
        )
    except ValueError:
        return None
    return number if number is not None and math.isfinite(number) and 0 <= number <= 1 else None


def card_to_persona(card: Card, *, persona_id: str | None = None) -> tuple[Persona, ImportReport]:
    """Map a card onto a new :class:`Persona`, keeping every card field in ``persona.card``."""
    data = card.data
    report = ImportReport(source=card.path or "<card>", spec=card.spec, format=card.format)
    mapped = map_text(data)
    report.mapped.extend(mapped.mapped)
    report.unmapped.extend(mapped.unmapped)
    raw_name = data.get("name") or ""
    name = raw_name.strip() or "Unnamed"
    if not raw_name.strip():
        report.warnings.append("the card has no name; using 'Unnamed'")
    extensions = dict(data.get("extensions") or {})
    extensions.pop(ENGINE_EXT, None)  # regenerated on export
    extra: dict[str, Any] = {k: v for k, v in data.items() if k not in V2_FIELDS}
    if any(k != k.strip() for k in extensions):
        # The persona model trims dict keys; such extensions are kept whole, untouched.
        extra["extensions"] = dict(extensions)
    info = CardInfo(
        spec=card.spec,
        scenario=data.get("scenario") or "",
        system_prompt=data.get("system_prompt") or "",
        post_history_instructions=data.get("post_history_instructions") or "",
        creator=data.get("creator") or "",
        creator_notes=data.get("creator_notes") or "",
        character_version=data.get("character_version") or "",
        tags=list(data.get("tags") or []),
        raw_description=data.get("description") or "",
        raw_personality=data.get("personality") or "",
        raw_mes_example=data.get("mes_example") or "",
        raw_first_mes=data.get("first_mes") or "",
        extensions=extensions,
        extra=extra,
        outer=_compact_outer(card.outer, data),
    )
    # Whatever the persona model would trim or default is kept verbatim too.
    stored = _stored_fields(info, name)
    for key in (*V2_STR_FIELDS, *V2_LIST_FIELDS):
        if key in data and data[key] != stored.get(key):
            info.extra[key] = data[key]
    lore: list[LoreEntry] = []
    book = data.get("character_book")
    if isinstance(book, dict):
        parsed = book_from(book, "data.character_book", card.path, report.warnings)
        lore = parsed.entries
        info.extra["character_book"] = {k: v for k, v in book.items() if k != "entries"}
        report.mapped.append(f"character_book -> lore ({len(lore)} entries)")
        decorated = sum(1 for e in lore if strip_decorators(e.content) != e.content)
        if decorated:
            report.warnings.append(
                f"{decorated} lore entries use V3 @@decorators; only activation ones are applied"
            )
    talk = talkativeness(extensions)
    for key in sorted(extensions):
        if key != "talkativeness":
            report.unmapped.append(f"extensions.{key}")
    for key in sorted(k for k in extra if k not in V2_FIELDS):
        report.unmapped.append(
            f"data.{key}"
            + (
                f" ({len(extra[key])} assets)"
                if key == "assets" and isinstance(extra[key], list)
                else ""
            )
        )
    for key in sorted(k for k in card.outer if k not in ("spec_version", *V1_FIELDS)):
        report.unmapped.append(f"{key} (outside data)")
    for key, text in (("system_prompt", info.system_prompt), ("creator_notes", info.creator_notes)):
        if text:
            report.unmapped.append(f"{key} (kept in card.{key})")
    if card.assets:
        report.warnings.append(
            f"{len(card.assets)} embedded files (assets) are not stored in the persona: "
            + ", ".join(sorted(card.assets)[:5])
        )
    if persona_id is None and not id_from_name(name):
        report.warnings.append(
            f"no readable id can be made from the name {name!r}; using 'character' (choose one with --id)"
        )
    try:
        persona = Persona(
            id=persona_id if persona_id is not None else (id_from_name(name) or "character"),
            name=name,
            languages=_languages(data),
            backstory=mapped.backstory,
            knowledge=mapped.knowledge,
            goals=mapped.goals,
            role=mapped.role,
            look=Look(description=mapped.look),
            personality=Personality(
                traits=mapped.traits, talkativeness=talk if talk is not None else 0.5
            ),
            examples=mapped.examples,
            greetings=Greetings(first_meeting=mapped.greetings),
            lore=lore,
            card=info,
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise CardError(
            f"the mapped persona is invalid at {where}: {first['msg']}", path=card.path
        ) from exc
    engine_ext = (data.get("extensions") or {}).get(ENGINE_EXT)
    if isinstance(engine_ext, dict) and isinstance(engine_ext.get("persona"), dict):
        persona = _apply_engine_ext(persona, engine_ext["persona"], mapped, data, report)
    return persona, report


def _apply_engine_ext(
    persona: Persona,
    fields: dict[str, Any],
    mapped: Mapped,
    data: Mapping[str, Any],
    report: ImportReport,
) -> Persona:
    """Restore what this engine exported in ``extensions.npc_engine``, unless the card was edited since."""
    try:
        saved = Persona.model_validate({**fields, "id": persona.id})
    except ValidationError as exc:
        report.warnings.append(
            f"extensions.npc_engine.persona is not a valid persona ({exc.errors()[0]['msg']}); ignored"
        )
        return persona
    update: dict[str, Any] = {"id": persona.id, "lore": persona.lore, "card": persona.card}
    composed = compose_text(saved)
    card_text = {k: data.get(k) or "" for k in composed}
    if card_text != composed and mapped.text_state() != persona_state(saved):
        report.warnings.append(
            "the card's text was edited after export; it replaces the saved persona text"
        )
        update.update(
            backstory=mapped.backstory,
            knowledge=mapped.knowledge,
            goals=mapped.goals,
            role=mapped.role,
            examples=mapped.examples,
            personality=saved.personality.model_copy(update={"traits": mapped.traits}),
            look=saved.look.model_copy(update={"description": mapped.look}),
        )
    if mapped.greetings != saved.greetings.first_meeting:
        update["greetings"] = saved.greetings.model_copy(update={"first_meeting": mapped.greetings})
    if persona.name != saved.name:
        update["name"] = persona.name
    report.mapped.append(
        "extensions.npc_engine -> engine fields (actions, emotions, look, voice...)"
    )
    return saved.model_copy(update=update)


V1_COPIES = "$v1_copies"


def _compact_outer(outer: Mapping[str, Any], data: Mapping[str, Any]) -> dict[str, Any]:
    """Top-level V1 copies equal to their ``data`` field are listed by name instead of repeated."""
    copies = [
        k for k in V1_FIELDS if k in outer and outer[k] == data.get(k) and isinstance(outer[k], str)
    ]
    compact = {k: v for k, v in outer.items() if k not in copies}
    if copies:
        compact[V1_COPIES] = copies
    return compact


def _stored_fields(info: CardInfo, name: str) -> dict[str, Any]:
    """Card field values as the persona stores them (after the model trims whitespace)."""
    return {
        "name": name,
        "description": info.raw_description,
        "personality": info.raw_personality,
        "scenario": info.scenario,
        "first_mes": info.raw_first_mes,
        "mes_example": info.raw_mes_example,
        "creator_notes": info.creator_notes,
        "system_prompt": info.system_prompt,
        "post_history_instructions": info.post_history_instructions,
        "creator": info.creator,
        "character_version": info.character_version,
        "tags": info.tags,
        "alternate_greetings": None,  # always kept verbatim: greetings are reshaped
    }
