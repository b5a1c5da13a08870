"""The real cards in ../shared/data/cards: Seraphina (with a lorebook), Coding Sensei, Eldoria World Info."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from engine.cards import (
    export_card,
    import_card,
    load_lorebook,
    persona_to_card,
    persona_to_yaml,
    read_png_text,
)
from engine.cards.lorebooks import book_to_world_info
from engine.dialogue.prompt import assemble
from engine.lore import select_entries
from engine.persona import load_persona

CARDS = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "cards"

pytestmark = pytest.mark.skipif(
    not (CARDS / "default_Seraphina.png").is_file(),
    reason=f"real character cards not found in {CARDS} (shared reference data is absent)",
)

NAMES = ["default_Seraphina", "default_CodingSensei"]


def _json(name: str) -> dict[str, object]:
    return json.loads((CARDS / f"{name}.chara.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("suffix", [".png", ".chara.json"])
def test_real_card_round_trips_without_loss(name: str, suffix: str) -> None:
    result = import_card(CARDS / f"{name}{suffix}")
    assert persona_to_card(result.persona, "v2") == _json(name)


@pytest.mark.parametrize("name", NAMES)
def test_imported_real_card_validates_as_a_character_file(name: str, tmp_path: Path) -> None:
    persona = import_card(CARDS / f"{name}.png").persona
    path = tmp_path / f"{persona.id}.yaml"
    path.write_text(persona_to_yaml(persona), encoding="utf-8")
    loaded = load_persona(path)
    assert loaded == persona
    assert persona_to_card(loaded, "v2") == _json(name)


@pytest.mark.parametrize("name", NAMES)
def test_real_card_png_export_keeps_the_card(name: str) -> None:
    persona = import_card(CARDS / f"{name}.png").persona
    source_image = (CARDS / f"{name}.png").read_bytes()
    data = export_card(persona, format="png", image=source_image)
    texts = read_png_text(data)
    chara = json.loads(base64.b64decode(texts["chara"]))
    original = _json(name)
    assert chara["data"]["description"] == original["data"]["description"]  # type: ignore[index]
    again = import_card(data).persona
    assert again.model_dump(exclude={"card", "lore"}) == persona.model_dump(
        exclude={"card", "lore"}
    )
    assert [e.content for e in again.lore] == [e.content for e in persona.lore]


def test_seraphina_mapped_fields() -> None:
    persona = import_card(CARDS / "default_Seraphina.png").persona
    assert persona.name == "Seraphina"
    assert "protective" in persona.personality.traits
    assert "pink hair" in persona.look.description
    assert len(persona.examples) == 2
    assert persona.greetings.first_meeting[0].startswith("*You wake with a start")
    assert len(persona.lore) == 4


def test_seraphina_lore_reaches_prompt_only_when_key_mentioned() -> None:
    persona = import_card(CARDS / "default_Seraphina.png").persona
    macros = {"char": persona.name, "user": "Ann"}
    talk = [
        "*I sit up slowly.* Thank you for the tea.",
        "What were those Shadowfangs that attacked me?",
    ]
    lore = select_entries(persona.lore, talk, budget_tokens=2000, macros=macros)
    assert [e.id for e in lore] == [1]
    prompt = assemble(persona, talk[-1], player_name="Ann", lore=lore)
    text = "\n".join(m.content for s in prompt.sections for m in s.messages)
    assert "The Shadowfangs are beasts of darkness" in text
    assert 'Ann: "What are Shadowfangs?"' in text

    quiet = ["Good morning.", "Thank you for the tea, it is lovely."]
    assert select_entries(persona.lore, quiet, budget_tokens=2000) == []
    text = "\n".join(m.content for s in assemble(persona, quiet[-1]).sections for m in s.messages)
    assert "Shadowfangs are beasts" not in text


def test_eldoria_world_info_imports_without_loss() -> None:
    raw = json.loads((CARDS / "Eldoria.worldinfo.json").read_text(encoding="utf-8"))
    book = load_lorebook(CARDS / "Eldoria.worldinfo.json")
    assert len(book.entries) == 4
    assert book_to_world_info(book) == raw
    assert [e.keys for e in book.entries][1] == [
        "shadowfang",
        "beast",
        "monster",
        "monsters",
        "beasts",
    ]
    assert [e.id for e in book.select(["a magical forest"])] == [0]


def test_eldoria_matches_seraphinas_embedded_book() -> None:
    book = load_lorebook(CARDS / "Eldoria.worldinfo.json")
    embedded = import_card(CARDS / "default_Seraphina.png").persona.lore
    assert [(e.keys, e.content, e.insertion_order) for e in book.entries] == [
        (e.keys, e.content, e.insertion_order) for e in embedded
    ]
