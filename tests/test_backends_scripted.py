"""ScriptedBackend: deterministic replies from the persona's own lines, labelled as scripted."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

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


# -- answering from memory ----------------------------------------------------------------------

CHEN = Persona.model_validate(
    {
        "id": "chen",
        "name": "陈掌柜",
        "languages": ["zh"],
        "knowledge": ["茶馆每天早上七点开门。"],
        "examples": [{"player": "您好，这里是什么地方？", "character": "这是听雨茶馆，您先坐。"}],
        "greetings": {"returning": ["{player_name}，您又来啦！我还记着呢：{remembered}。"]},
    }
)


def remembering(
    user: str,
    *,
    persona: Persona = MIRA,
    player: str = "Ada",
    facts: list[str] = (),  # type: ignore[assignment]
    memories: list[str] = (),  # type: ignore[assignment]
    said: list[str] = (),  # type: ignore[assignment]
    language: str = "en",
) -> str:
    sections = [Section.system("persona", "You are someone.")]
    if facts:
        sections.append(
            Section.system(
                "facts", f"What you know about {player}:\n" + "\n".join(f"- {f}" for f in facts)
            )
        )
    if memories:
        sections.append(
            Section.system(
                "memories", "Things you remember:\n" + "\n".join(f"- {m}" for m in memories)
            )
        )
    if said:
        sections.append(
            Section.of("history", [Message(role="user", content=s, name=player) for s in said])
        )
    sections.append(Section.of("input", [Message(role="user", content=user, name=player)]))
    prompt = Prompt(
        sections=tuple(sections),
        character=persona.name,
        player=player,
        language=language,
        persona=persona,
    )
    return ScriptedBackend().reply(prompt)


@pytest.mark.parametrize(
    ("user", "facts", "said", "expected"),
    [
        ("What's my favourite drink?", ["Ada's favourite drink is plum wine"], [], "your favourite drink is plum wine"),
        ("Do you remember what I do for a living?", [], ["Hi! I'm Ada. I'm a blacksmith from Harrowdale."], "you're a blacksmith from Harrowdale"),
        ("What's my cat called?", [], ["I have a cat called Pepper who sleeps by the fire."], "you have a cat called Pepper"),
        ("Where did I say I'm from?", ["Ada comes from Leeds"], [], "you come from Leeds"),
    ],
)  # fmt: skip
def test_a_player_asking_about_themselves_hears_the_remembered_fact(
    user: str, facts: list[str], said: list[str], expected: str
) -> None:
    assert expected in remembering(user, facts=facts, said=said)


def test_asked_if_it_remembers_them_the_character_says_the_most_memorable_thing() -> None:
    said = ["Hello there!", "My sister Juno keeps bees on the hill."]
    assert remembering("Do you remember me?", said=said) == (
        "I remember: your sister Juno keeps bees on the hill."
    )
    assert remembering(
        "你还记得我吗？", persona=CHEN, player="小明", said=["我最喜欢喝碧螺春。"], language="zh"
    ) == ("我还记着呢：您最喜欢喝碧螺春。")


def test_chinese_memory_answers_in_the_personas_own_line_and_address() -> None:
    reply = remembering(
        "我最喜欢喝什么茶，您还记得吗？",
        persona=CHEN,
        player="小明",
        said=["您好，我叫小明。我最喜欢喝碧螺春。"],
        language="zh",
    )
    assert reply == "我还记着呢：您最喜欢喝碧螺春。"


def test_a_question_is_never_said_back_as_a_memory() -> None:
    reply = remembering("What do I like to drink?", said=["What do I like to drink?"])
    assert "like to drink" not in reply


def test_asking_about_something_never_told_gets_an_honest_answer() -> None:
    assert remembering("Do you remember my sister's name?", said=["I love sailing."]) == (
        "Hmm, I don't think you've told me that yet."
    )
    assert remembering(
        "我的猫叫什么，你还记得吗？", persona=CHEN, player="小明", language="zh"
    ) == ("这个您还没跟我说过呢。")


def test_the_characters_own_lines_in_memory_are_not_taken_for_the_players() -> None:
    reply = remembering(
        "Do you remember where I can buy tea?",
        memories=["Chen's tea house, just past the fountain!"],
    )
    assert "past the fountain" in reply  # the example answers, not a 'memory' of it
    assert not reply.startswith("I remember")


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        ("When does the tea house open?", "The tea house opens at dawn."),
        ("Where can I buy tea?", "Chen's tea house, just past the fountain!"),
    ],
)
def test_questions_about_the_world_still_get_knowledge_or_examples(
    user: str, expected: str
) -> None:
    assert remembering(user, facts=["Ada's favourite drink is plum wine"]).startswith(expected)


def test_a_closed_and_reopened_world_still_answers_from_memory(tmp_path: Path) -> None:
    from fixtures_runtime import drain

    from engine.persona import load_characters
    from engine.runtime import Runtime

    cast = load_characters(Path(__file__).resolve().parent.parent / "characters")
    world = tmp_path / "world.db"
    rt = Runtime(world, backend=ScriptedBackend(), characters=cast)
    drain(rt, rt.say("chen", "p1", "您好，我叫小明，是从苏州来的。我最喜欢喝碧螺春。"))
    drain(
        rt,
        rt.say(
            "mira", "p2", "Hi Mira, I'm Ada. I'm a blacksmith, and my favourite drink is plum wine."
        ),
    )
    rt.close()
    rt = Runtime(world, backend=ScriptedBackend(), characters=cast)
    try:
        tea = rt.say("chen", "p1", "我最喜欢喝什么茶，您还记得吗？")
        work = rt.say("mira", "p2", "Do you remember what I do for a living?")
        drain(rt, tea)
        drain(rt, work)
        assert tea.result is not None and "碧螺春" in tea.result.text
        assert work.result is not None and "blacksmith" in work.result.text
    finally:
        rt.close()
