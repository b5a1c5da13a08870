"""ScriptedBackend: deterministic replies from the persona's own lines, labelled as scripted."""

from __future__ import annotations

import asyncio
import json
import re

import pytest
from pydantic import BaseModel, Field

from engine.backends import Backend, Chunk, ScriptedBackend, create_backend
from engine.backends.scripted import minimal_instance_data, stream_pieces
from engine.dialogue.prompt import Message, Prompt, Section
from engine.errors import StructuredOutputError
from engine.persona import Persona

MIRA = Persona.model_validate(
    {
        "id": "mira",
        "name": "Mira",
        "names": {"zh": "米拉"},
        "style": {"catchphrases": ["The plaza never sleeps!"]},
        "knowledge": [
            "The fountain was built by the first settlers.",
            "The tea house opens at dawn.",
        ],
        "examples": [
            {
                "player": "Where can I buy tea?",
                "character": "Chen's tea house, just past the fountain!",
                "emotion": "happy",
                "actions": [{"name": "walk_to", "args": {"target": "tea_house"}}],
            },
            {
                "player": "Tell me about the stage.",
                "character": "Shows every evening, {player_name}.",
            },
            {
                "player": "哪里有茶馆？",
                "character": "陈掌柜的茶馆就在喷泉后面。",
                "emotion": "happy",
            },
        ],
        "greetings": {
            "first_meeting": ["Welcome to the plaza, {player_name}! I'm {character_name}."]
        },
        "boundaries": {"fallback_lines": ["Hmm, let me think about that."]},
    }
)


def prompt_for(user: str, persona: Persona | None = MIRA, language: str | None = None) -> Prompt:
    return Prompt(
        sections=(
            Section.system("persona", "You are Mira."),
            Section.of("input", [Message(role="user", content=user)]),
        ),
        character="Mira",
        player="Ada",
        language=language,
        persona=persona,
    )


def reply_of(user: str, **kwargs: object) -> str:
    async def go() -> list[Chunk]:
        return [c async for c in ScriptedBackend().stream(prompt_for(user, **kwargs))]  # type: ignore[arg-type]

    chunks = asyncio.run(go())
    return "".join(c.text for c in chunks)


def test_scripted_backend_satisfies_the_protocol_and_says_it_is_scripted() -> None:
    backend = create_backend("scripted")
    assert isinstance(backend, Backend)
    assert backend.name == "scripted" and backend.capabilities.kind == "scripted"


def test_closest_example_answers_with_meta_block() -> None:
    text = reply_of("Hi, where could I buy some tea?")
    line, meta = re.fullmatch(r"(.*?) <meta>(.*)</meta>", text).groups()  # type: ignore[union-attr]
    assert line == "Chen's tea house, just past the fountain!"
    assert json.loads(meta) == {
        "emotion": "happy",
        "strength": 0.7,
        "actions": [{"name": "walk_to", "args": {"target": "tea_house"}}],
    }


def test_chinese_question_matches_the_chinese_example() -> None:
    assert reply_of("请问茶馆在哪里？").startswith("陈掌柜的茶馆就在喷泉后面。")


def test_placeholders_are_filled() -> None:
    assert reply_of("What is on the stage tonight?") == "Shows every evening, Ada."


def test_knowledge_answers_when_no_example_matches() -> None:
    assert reply_of("Who built the fountain?") == "The fountain was built by the first settlers."


@pytest.mark.parametrize("user", ["Hello!", "", "你好"])
def test_greeting_opens_with_first_meeting_line(user: str) -> None:
    assert reply_of(user) == "Welcome to the plaza, Ada! I'm Mira."


def test_localised_name_fills_character_name() -> None:
    assert reply_of("hey", language="zh") == "Welcome to the plaza, Ada! I'm 米拉."


def test_unmatched_line_falls_back_to_a_catchphrase() -> None:
    assert reply_of("Quantum chromodynamics?") == "The plaza never sleeps!"


def test_without_a_persona_the_reply_is_an_ellipsis() -> None:
    assert reply_of("anything", persona=None) == "..."


def test_replies_are_deterministic() -> None:
    assert {reply_of("Something odd happened") for _ in range(3)} == {
        reply_of("Something odd happened")
    }


def test_stream_ends_with_estimated_usage() -> None:
    async def go() -> list[Chunk]:
        return [c async for c in ScriptedBackend().stream(prompt_for("Where can I buy tea?"))]

    chunks = asyncio.run(go())
    assert len(chunks) > 3
    usage = chunks[-1].usage
    assert (
        usage is not None
        and usage.estimated
        and usage.model == "scripted"
        and usage.completion_tokens > 0
    )


def test_stream_pieces_rejoin_to_the_text() -> None:
    text = "Hello, 旅人！ Welcome  to 茶馆."
    assert "".join(stream_pieces(text)) == text


class Facts(BaseModel):
    name: str
    count: int
    tags: list[str]
    mood: str | None
    score: float = Field(0.5)


def test_complete_json_builds_the_smallest_valid_instance() -> None:
    result = asyncio.run(ScriptedBackend().complete_json(prompt_for("x"), Facts))
    assert result == Facts(name="", count=0, tags=[], mood=None)
    assert minimal_instance_data(Facts) == {"name": "", "count": 0, "tags": [], "mood": None}


def test_complete_json_uses_configured_responses() -> None:
    backend = ScriptedBackend(
        json_responses={
            "Facts": lambda p: {"name": p.player, "count": 2, "tags": ["a"], "mood": "ok"}
        }
    )
    result = asyncio.run(backend.complete_json(prompt_for("x"), Facts))
    assert result.name == "Ada" and result.count == 2


def test_complete_json_with_an_invalid_configured_response_raises() -> None:
    backend = ScriptedBackend(json_responses={"Facts": {"name": 5}})
    with pytest.raises(StructuredOutputError):
        asyncio.run(backend.complete_json(prompt_for("x"), Facts))


def test_bilingual_greeting_follows_the_players_language() -> None:
    lin = MIRA.model_copy(
        update={
            "greetings": MIRA.greetings.model_copy(
                update={"first_meeting": ["Hi, {player_name}!", "你好，{player_name}！"]}
            )
        }
    )
    assert reply_of("你好", persona=lin) == "你好，Ada！"
    assert reply_of("hello", persona=lin) == "Hi, Ada!"
    assert reply_of("hey", persona=lin, language="zh") == "你好，Ada！"
