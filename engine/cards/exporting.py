"""Persona -> card: :func:`persona_to_card` writes a Character Card V2 or V3 (an unedited
imported persona gives back its card field for field; edited fields are written from the
persona), and :func:`backfill_v2` fills a V3 card's V2 fields for readers of the older spec.
"""

from __future__ import annotations

from typing import Any, Literal

from engine.cards.containers import (
    V1_FIELDS,
    V2_FIELDS,
    card_from_json,
)
from engine.cards.importing import ENGINE_EXT, V1_COPIES, card_to_persona, talkativeness
from engine.cards.lorebooks import book_to_card, parse_lorebook
from engine.cards.prose import compose_text, from_greeting, map_text, persona_state
from engine.lore import Lorebook, strip_decorators
from engine.persona.model import CardInfo, Persona

__all__ = ["backfill_v2", "persona_to_card"]

_BACKFILL_NOTE = (
    "This character card is Character Card V3, but it is loaded as a Character Card V2. "
    "Please use a Character Card V3 compatible application to use this character card properly."
)


def _verbatim(persona: Persona) -> dict[str, Any] | None:
    """The card's data fields as imported (None for a persona that never was a card)."""
    info = persona.card
    if info is None or not info.spec:
        return None
    data: dict[str, Any] = {
        "name": persona.name,
        "description": info.raw_description,
        "personality": info.raw_personality,
        "scenario": info.scenario,
        "first_mes": info.raw_first_mes,
        "mes_example": info.raw_mes_example,
        "creator_notes": info.creator_notes,
        "system_prompt": info.system_prompt,
        "post_history_instructions": info.post_history_instructions,
        "alternate_greetings": [],
        "tags": list(info.tags),
        "creator": info.creator,
        "character_version": info.character_version,
    }
    for key, value in info.extra.items():
        if key not in ("character_book", "extensions"):
            data[key] = value  # verbatim overrides, and V3 fields such as nickname
    return data


def _same_text(stored: Any, current: Any) -> bool:
    if isinstance(stored, list) and isinstance(current, list):
        return [str(x).strip() for x in stored] == [str(x).strip() for x in current]
    return (
        (stored or "").strip() == (current or "").strip()
        if isinstance(stored, str | None)
        else False
    )


def _card_data(persona: Persona, spec: Literal["v2", "v3"]) -> dict[str, Any]:
    info = persona.card or CardInfo()
    verbatim = _verbatim(persona)
    greetings = persona.greetings.first_meeting
    data: dict[str, Any] = {}
    if verbatim is not None:
        base = map_text(verbatim)
        same_name = ((verbatim["name"] or "").strip() or "Unnamed") == persona.name
        data["name"] = verbatim["name"] if same_name else persona.name
        text_edited = base.text_state() != persona_state(persona)
        greet_edited = base.greetings != greetings
    else:
        text_edited = greet_edited = True
        data["name"] = persona.name
    composed = compose_text(persona) if text_edited else {}
    for key in ("description", "personality"):
        data[key] = composed[key] if text_edited else verbatim[key]  # type: ignore[index]
    scalar = {
        "scenario": info.scenario,
        "creator_notes": info.creator_notes,
        "system_prompt": info.system_prompt,
        "post_history_instructions": info.post_history_instructions,
        "creator": info.creator,
        "character_version": info.character_version,
    }
    for key in ("scenario",):
        data[key] = _keep(info, key, scalar[key])
    if greet_edited:
        data["first_mes"] = from_greeting(greetings[0]) if greetings else ""
        alternates = [from_greeting(g) for g in greetings[1:]]
    else:
        data["first_mes"] = verbatim["first_mes"]  # type: ignore[index]
        alternates = list(verbatim["alternate_greetings"] or [])  # type: ignore[index]
    data["mes_example"] = composed["mes_example"] if text_edited else verbatim["mes_example"]  # type: ignore[index]
    for key in ("creator_notes", "system_prompt", "post_history_instructions"):
        data[key] = _keep(info, key, scalar[key])
    data["alternate_greetings"] = alternates
    book = _export_book(persona, spec)
    if book is not None:
        data["character_book"] = book
    data["tags"] = (
        info.extra["tags"]
        if "tags" in info.extra and _same_text(info.extra["tags"], info.tags)
        else list(info.tags)
    )
    for key in ("creator", "character_version"):
        data[key] = _keep(info, key, scalar[key])
    data["extensions"] = _export_extensions(persona)
    for key, value in info.extra.items():
        if key not in V2_FIELDS:
            data[key] = value
    if spec == "v3":
        data.setdefault("group_only_greetings", [])
    return data


def _keep(info: CardInfo, key: str, current: str) -> Any:
    """The verbatim value when the persona's copy is only its trimmed form, else the persona's."""
    stored = info.extra.get(key, current)
    return stored if _same_text(stored, current) else current


def _export_book(persona: Persona, spec: Literal["v2", "v3"]) -> dict[str, Any] | None:
    meta = (persona.card.extra.get("character_book") if persona.card else None) or None
    if meta is None and not persona.lore:
        return None
    book = (
        Lorebook.model_validate(parse_lorebook({**(meta or {}), "entries": []}).model_dump())
        if meta
        else Lorebook()
    )
    book.entries = list(persona.lore)
    return book_to_card(book, spec)


# What pydantic trims from strings (Unicode White_Space); Python's str.strip() also takes the
# ASCII separators U+001C-U+001F, which pydantic keeps.
_MODEL_SPACE = "".join(chr(c) for c in range(0x3001) if chr(c).isspace() and not 0x1C <= c <= 0x1F)


def _export_extensions(persona: Persona) -> dict[str, Any]:
    ext = dict(persona.card.extensions) if persona.card else {}
    whole = persona.card.extra.get("extensions") if persona.card else None
    if isinstance(whole, dict) and {k.strip(_MODEL_SPACE): v for k, v in whole.items()} == ext:
        ext = dict(whole)
    talk = persona.personality.talkativeness
    if "talkativeness" in ext:
        if talkativeness(ext) != talk:
            ext["talkativeness"] = str(talk) if isinstance(ext["talkativeness"], str) else talk
    elif talk != 0.5:
        ext["talkativeness"] = talk
    return ext


def _engine_fields(persona: Persona) -> dict[str, Any]:
    # The picture travels as the PNG itself; lore files' entries travel in the card's book.
    return persona.model_dump(
        mode="json",
        exclude_defaults=True,
        exclude={
            "card": True,
            "lore": True,
            "lorebooks": True,
            "id": True,
            "extends": True,
            "look": {"image"},
        },
    )


def persona_to_card(persona: Persona, spec: Literal["v2", "v3"] = "v2") -> dict[str, Any]:
    """The persona as a Character Card V2 or V3 object (``{"spec", "spec_version", "data"}``).

    Card fields come back verbatim when the persona's copy of them is unedited; edited fields
    are written from the persona. Fields a card cannot express (actions, emotions, look
    colours, returning greetings...) travel in ``data.extensions.npc_engine`` so importing
    the card again gives the same persona.
    """
    data = _card_data(persona, spec)
    info = persona.card
    spec_name = f"chara_card_{spec}"
    card: dict[str, Any] = {"spec": spec_name}
    outer = dict(info.outer) if info else {}
    source_spec = info.spec if info else ""
    card["spec_version"] = (
        outer.pop("spec_version")
        if source_spec == spec_name and "spec_version" in outer
        else ("2.0" if spec == "v2" else "3.0")
    )
    outer.pop("spec_version", None)
    card["data"] = data
    copies = outer.pop(V1_COPIES, [])
    for key, value in outer.items():
        if key in V1_FIELDS and value == data.get(key):
            copies.append(key)
        elif spec == "v2" or key not in V1_FIELDS:
            card[key] = value
    if spec == "v2":
        for key in V1_FIELDS:
            if key in copies:
                card[key] = data[key]  # V1 copies at the top level stay in step with data
    # What an import of this card alone would give back; anything else rides in extensions.
    again, _ = card_to_persona(card_from_json(card))
    if _engine_fields(again) != _engine_fields(persona):
        data["extensions"] = {
            **data["extensions"],
            ENGINE_EXT: {"version": 1, "persona": _engine_fields(persona)},
        }
    return card


def backfill_v2(card_v3: dict[str, Any], persona: Persona) -> dict[str, Any]:
    """The V2 ``chara`` chunk written beside ``ccv3``: decorators removed, a note for V2 readers."""
    card = persona_to_card(persona, "v2")
    data = card["data"]
    notes = data.get("creator_notes") or ""
    if _BACKFILL_NOTE not in notes:
        data["creator_notes"] = f"{_BACKFILL_NOTE}\n\n{notes}" if notes else _BACKFILL_NOTE
    for entry in (data.get("character_book") or {}).get("entries", []):
        entry["content"] = strip_decorators(entry["content"])
    return card
