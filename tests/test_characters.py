"""Every shipped character file loads, validates, matches the JSON Schema and is rich enough to demo."""

from __future__ import annotations

import json
import re
import string
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from click.testing import CliRunner
from fixtures_persona import CHARACTERS, ROOT

from engine.cli import main
from engine.persona import (
    GREETING_PLACEHOLDERS,
    Persona,
    load_characters,
    load_persona,
    persona_json_schema,
    validate_file,
)

CHARACTER_FILES = sorted(
    p for p in CHARACTERS.glob("*") if p.suffix in (".yaml", ".yml", ".json", ".toml")
)
TEMPLATE_FILES = sorted((CHARACTERS / "templates").glob("*.yaml"))
ALL_FILES = CHARACTER_FILES + TEMPLATE_FILES

# What the demo can draw and animate (contracts.md).
DEMO_EMOTIONS = {
    "neutral",
    "happy",
    "sad",
    "angry",
    "surprised",
    "afraid",
    "thinking",
    "shy",
    "excited",
}
SHARED_ACTIONS = {
    "wave": [],
    "bow": [],
    "nod": [],
    "give_item": ["item"],
    "walk_to": ["target"],
}
PLAZA_SPOTS = {"fountain", "tea_house", "market_stall", "notice_board", "stage"}


def ids(paths: list[Path]) -> list[str]:
    return [str(p.relative_to(CHARACTERS)) for p in paths]


def cli_schema(*args: str) -> dict[str, Any]:
    result = CliRunner().invoke(main, ["schema", *args])
    assert result.exit_code == 0
    schema: dict[str, Any] = json.loads(result.stdout)
    return schema


def test_the_four_shipped_characters_are_there() -> None:
    assert sorted(load_characters(CHARACTERS)) == ["bram", "chen", "lin", "mira"]


@pytest.mark.parametrize("path", ALL_FILES, ids=ids(ALL_FILES))
def test_file_validates(path: Path) -> None:
    assert [str(e) for e in validate_file(path)] == []


@pytest.mark.parametrize("path", CHARACTER_FILES, ids=ids(CHARACTER_FILES))
def test_character_file_matches_the_cli_json_schema(path: Path) -> None:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    jsonschema.validate(raw, cli_schema())


@pytest.mark.parametrize("path", CHARACTER_FILES, ids=ids(CHARACTER_FILES))
def test_resolved_character_matches_the_cli_json_schema(path: Path) -> None:
    resolved = load_persona(path).model_dump(mode="json", exclude_none=True)
    jsonschema.validate(resolved, cli_schema())


@pytest.mark.parametrize("path", TEMPLATE_FILES, ids=ids(TEMPLATE_FILES))
def test_template_file_matches_the_template_schema(path: Path) -> None:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    jsonschema.validate(raw, cli_schema("--template"))


def test_json_schema_rejects_an_unknown_key() -> None:
    raw = yaml.safe_load((CHARACTERS / "mira.yaml").read_text(encoding="utf-8"))
    raw["personallity"] = {"traits": ["warm"]}
    with pytest.raises(jsonschema.ValidationError, match="personallity"):
        jsonschema.validate(raw, cli_schema())


def test_json_schema_rejects_an_unknown_nested_key() -> None:
    raw = yaml.safe_load((CHARACTERS / "bram.yaml").read_text(encoding="utf-8"))
    raw["style"]["catchphrase"] = ["Coin on the counter."]
    with pytest.raises(jsonschema.ValidationError, match="catchphrase"):
        jsonschema.validate(raw, cli_schema())


@pytest.mark.parametrize(
    ("file", "template"), [("persona.schema.json", False), ("persona-template.schema.json", True)]
)
def test_committed_schema_is_up_to_date(file: str, template: bool) -> None:
    committed = json.loads((ROOT / "docs" / file).read_text(encoding="utf-8"))
    assert committed == persona_json_schema(template=template), (
        f"regenerate it: npc schema {'--template ' if template else ''}--out docs/{file}"
    )


@pytest.mark.parametrize("path", ALL_FILES, ids=ids(ALL_FILES))
def test_file_attaches_the_schema_for_editors(path: Path) -> None:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    match = re.fullmatch(r"# yaml-language-server: \$schema=(\S+)", first)
    assert match is not None
    assert (path.parent / match.group(1)).resolve().is_file()


# richness ------------------------------------------------------------------------------------

CAST = {path.stem: load_persona(path) for path in CHARACTER_FILES}


@pytest.mark.parametrize("cid", sorted(CAST))
def test_character_is_rich(cid: str) -> None:
    persona = CAST[cid]
    assert len(persona.examples) >= 3
    assert len(persona.knowledge) >= 5
    assert persona.backstory and persona.goals and persona.personality.traits
    assert persona.style.tone and persona.style.catchphrases
    assert persona.greetings.first_meeting and persona.greetings.returning
    assert persona.boundaries.refusal_lines and persona.boundaries.fallback_lines
    assert persona.boundaries.refused_topics and persona.boundaries.ooc_rules


@pytest.mark.parametrize("cid", sorted(CAST))
def test_examples_show_emotion_and_actions(cid: str) -> None:
    examples = CAST[cid].examples
    assert sum(1 for e in examples if e.emotion) >= 3
    assert any(e.actions for e in examples)


@pytest.mark.parametrize("cid", sorted(CAST))
def test_greetings_use_the_placeholders(cid: str) -> None:
    greetings = CAST[cid].greetings
    used = {
        name
        for line in greetings.first_meeting + greetings.returning
        for _, name, _, _ in string.Formatter().parse(line)
        if name
    }
    assert {"player_name", "remembered"} <= used <= GREETING_PLACEHOLDERS
    assert all("{remembered}" not in line for line in greetings.first_meeting)


@pytest.mark.parametrize("cid", sorted(CAST))
def test_emotions_are_ones_the_demo_can_draw(cid: str) -> None:
    assert set(CAST[cid].emotions.set) <= DEMO_EMOTIONS


@pytest.mark.parametrize("cid", sorted(CAST))
def test_shared_actions_use_the_demo_vocabulary(cid: str) -> None:
    for action in CAST[cid].actions:
        if action.name in SHARED_ACTIONS:
            assert [p.name for p in action.parameters] == SHARED_ACTIONS[action.name]
        if action.name == "walk_to":
            assert set(action.parameters[0].choices or []) == PLAZA_SPOTS


def test_characters_look_different() -> None:
    looks = [(p.look.hair, p.look.outfit, p.look.accent, p.look.accessory) for p in CAST.values()]
    for index in range(4):
        assert len({look[index] for look in looks}) == len(looks)


def test_bram_gives_items_quests_and_opens_shop() -> None:
    names = {a.name for a in CAST["bram"].actions}
    assert {"give_item", "give_quest", "open_shop"} <= names


def test_lin_switches_to_the_players_language() -> None:
    lin = CAST["lin"]
    assert lin.language_mode == "match_player"
    assert set(lin.languages) == {"en", "zh"}
    chinese = [e for e in lin.examples if _mostly_chinese(e.player)]
    english = [e for e in lin.examples if not _mostly_chinese(e.player)]
    assert chinese and english
    assert all(_mostly_chinese(e.character) for e in chinese)
    assert all(not _mostly_chinese(e.character) for e in english)


def _mostly_chinese(text: str) -> bool:
    return len(re.findall(r"[\u4e00-\u9fff]", text)) > len(re.findall(r"[A-Za-z]+", text))


def _prose(persona: Persona) -> list[str]:
    """Every piece of text a player or the model reads (ids, colours and choice values excluded)."""
    texts = [
        persona.name,
        *persona.names.values(),
        persona.pronouns,
        persona.role,
        persona.look.description,
    ]
    texts += (
        persona.personality.traits
        + [persona.style.tone]
        + persona.style.quirks
        + persona.style.catchphrases
    )
    texts += [persona.backstory, *persona.knowledge, *persona.goals]
    texts += [t for e in persona.examples for t in (e.player, e.character)]
    texts += [
        re.sub(r"\{\w+\}", "", t)
        for t in persona.greetings.first_meeting + persona.greetings.returning
    ]
    b = persona.boundaries
    texts += b.refused_topics + b.ooc_rules + b.refusal_lines + b.fallback_lines
    texts += [a.description for a in persona.actions] + [
        p.description for a in persona.actions for p in a.parameters
    ]
    texts += [t for entry in persona.lore for t in (entry.name, entry.content, *entry.keys)]
    return texts


def test_chen_is_written_entirely_in_chinese() -> None:
    chen = CAST["chen"]
    assert chen.languages == ["zh"]
    latin = [text for text in _prose(chen) if re.search(r"[A-Za-z]", text)]
    assert latin == []


def test_mira_opens_the_demo_in_english() -> None:
    mira = CAST["mira"]
    assert mira.languages[0] == "en"
    assert "host" in mira.role
