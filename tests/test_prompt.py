"""Prompt assembly under a token budget."""

from __future__ import annotations

import pytest

from engine.dialogue.prompt import SECTION_ORDER, Line, assemble, reply_language
from engine.lore import LoreEntry
from engine.persona import Persona
from engine.text.script import detect_language
from engine.text.tokens import estimate_tokens
from engine.types import Fact, MemoryRecord, Recalled, Relationship, ScoreBreakdown


def _persona(**extra: object) -> Persona:
    data: dict[str, object] = {
        "id": "mira",
        "name": "Mira",
        "names": {"zh": "米拉"},
        "role": "plaza host",
        "personality": {"traits": ["warm", "curious"]},
        "style": {"tone": "casual", "catchphrases": ["Welcome, welcome!"]},
        "backstory": "Mira grew up above the bakery on the east side of the plaza. " * 5,
        "knowledge": [f"Fact number {i} about the plaza and its fountain." for i in range(8)],
        "examples": [
            {"player": f"Question {i}?", "character": f"Answer {i}, friend.", "emotion": "happy"}
            for i in range(5)
        ],
        "actions": [
            {"name": "wave", "description": "greet someone"},
            {
                "name": "walk_to",
                "parameters": [{"name": "target", "choices": ["fountain", "stage"]}],
            },
        ],
        "boundaries": {"ooc_rules": ["Never discuss politics."], "refused_topics": ["politics"]},
    }
    data.update(extra)
    return Persona.model_validate(data)


def _recalled(i: int, score: float) -> Recalled:
    memory = MemoryRecord(
        id=i, character="mira", player="p1", kind="observation", text=f"Memory {i}: the player mentioned boats.",
        importance=5, created=0, last_accessed=0,
    )  # fmt: skip
    return Recalled(
        memory=memory, score=ScoreBreakdown(relevance=score, recency=0, importance=0, total=score)
    )


def _fact(i: int, confidence: float) -> Fact:
    return Fact(id=i, character="mira", player="p1", subject="Ada", predicate="likes", object=f"thing {i}",
                confidence=confidence, created=0)  # fmt: skip


def _full(budget: int, **kwargs: object) -> object:
    return assemble(
        _persona(),
        "Do you remember my boat?",
        player_name="Ada",
        budget_tokens=budget,
        lore=[
            LoreEntry(keys=["boat"], content=f"Lore entry {i} about boats.", priority=i)
            for i in range(4)
        ],
        memories=[_recalled(i, 1 - i / 10) for i in range(6)],
        facts=[_fact(i, 0.5 + i / 10) for i in range(3)],
        relationship=Relationship(
            character="mira",
            player="p1",
            affinity=10,
            trust=5,
            familiarity=20,
            stage="acquaintance",
        ),
        summary="Ada arrived by boat and asked about the fountain.",
        history=[
            Line(speaker="Ada" if i % 2 == 0 else "Mira", text=f"Line {i} of talk.", own=i % 2 == 1)
            for i in range(10)
        ],
        **kwargs,  # type: ignore[arg-type]
    )


def test_sections_come_in_the_documented_order_with_token_counts() -> None:
    prompt = _full(100_000)
    names = [s.name for s in prompt.sections]  # type: ignore[attr-defined]
    assert names == [n for n in SECTION_ORDER if n in names]
    assert names[-1] == "input" and names[-2] == "rules"
    for section in prompt.sections:  # type: ignore[attr-defined]
        text = "\n".join(m.content for m in section.messages)
        assert section.tokens >= estimate_tokens(text) > 0
    assert prompt.cut == {}  # type: ignore[attr-defined]


def test_everything_is_kept_when_the_budget_allows() -> None:
    prompt = _full(100_000)
    assert len(prompt.section("memories").messages[0].content.splitlines()) == 7  # type: ignore[attr-defined,union-attr]
    assert len(prompt.section("history").messages) == 10  # type: ignore[attr-defined,union-attr]


def test_prompt_fits_its_budget_and_counts_what_was_cut() -> None:
    full = _full(100_000).tokens  # type: ignore[attr-defined]
    prompt = _full(full - 60)
    assert prompt.tokens <= full - 60  # type: ignore[attr-defined]
    assert prompt.cut  # type: ignore[attr-defined]


def test_cuts_follow_the_documented_order() -> None:
    full = _full(100_000)
    sizes = {s.name: s.tokens for s in full.sections}  # type: ignore[attr-defined]
    # Enough to exhaust steps 1 and 2 (three extra examples, all lore) and start on memories.
    budget = full.tokens - sizes["lore"] - int(sizes["examples"] * 0.6) - 10  # type: ignore[attr-defined]
    cut = _full(budget).cut  # type: ignore[attr-defined]
    assert cut["examples"] == 3 and cut["lore"] == 4
    assert cut.get("memories", 0) >= 1
    assert not {"history", "knowledge", "facts", "summary", "backstory"} & set(cut)


def test_lowest_scored_memories_and_oldest_history_go_first() -> None:
    full = _full(100_000).tokens  # type: ignore[attr-defined]
    prompt = _full(full - 250)
    memories = prompt.section("memories")  # type: ignore[attr-defined]
    if memories is not None:
        kept = memories.messages[0].content
        assert "Memory 0" in kept
    history = prompt.section("history")  # type: ignore[attr-defined]
    assert history is not None and history.messages[-1].content == "Line 9 of talk."


def test_player_line_and_rules_are_never_cut() -> None:
    prompt = _full(10)
    assert prompt.section("input").messages[0].content == "Do you remember my boat?"  # type: ignore[attr-defined,union-attr]
    assert "Never discuss politics." in prompt.section("rules").messages[0].content  # type: ignore[attr-defined,union-attr]
    assert prompt.section("persona") is not None and prompt.section("format") is not None  # type: ignore[attr-defined]
    assert prompt.section("memories") is None and prompt.section("history") is None  # type: ignore[attr-defined]


def test_guard_wraps_the_player_text() -> None:
    prompt = _full(100_000, guard=lambda t: f"<<{t}>>")
    assert prompt.user_text == "<<Do you remember my boat?>>"  # type: ignore[attr-defined]


def test_format_section_lists_emotions_and_actions() -> None:
    text = _full(100_000).section("format").messages[0].content  # type: ignore[attr-defined,union-attr]
    assert "<meta>" in text and "happy" in text
    assert "walk_to(target: string one of fountain|stage)" in text


def test_history_roles_follow_the_speaker() -> None:
    messages = _full(100_000).section("history").messages  # type: ignore[attr-defined,union-attr]
    assert [m.role for m in messages[:2]] == ["user", "assistant"]
    assert messages[0].name == "Ada"


def test_group_scene_names_the_others_and_stops_on_them() -> None:
    prompt = assemble(_persona(), "Hi all", player_name="Ada", present=["Bram", "Chen"])
    assert "Bram, Chen" in prompt.section("scene").messages[0].content  # type: ignore[union-attr]
    assert "\nBram:" in prompt.stop and "\nAda:" in prompt.stop


@pytest.mark.parametrize(
    ("text", "expected"), [("Hello there", "en"), ("你好，掌柜", "zh"), ("123 !!", None)]
)
def test_detect_language(text: str, expected: str | None) -> None:
    assert detect_language(text) == expected


def test_match_player_language_answers_in_the_players_language() -> None:
    lin = _persona(languages=["zh", "en"], language_mode="match_player")
    assert reply_language(lin, "Hello!") == "en"
    assert reply_language(lin, "你好！") == "zh"
    prompt = assemble(lin, "你好！")
    assert prompt.language == "zh" and prompt.character == "米拉"
    assert "Chinese" in prompt.section("format").messages[0].content  # type: ignore[union-attr]


def test_primary_language_mode_ignores_the_players_language() -> None:
    assert reply_language(_persona(languages=["zh"]), "Hello!") == "zh"


def test_chinese_text_is_counted_per_character() -> None:
    chen = _persona(name="陈掌柜", backstory="陈掌柜在茶馆里待了三十年。" * 10, languages=["zh"])
    prompt = assemble(chen, "掌柜的，来壶茶。", budget_tokens=100_000)
    backstory = prompt.section("backstory")
    assert backstory is not None and backstory.tokens >= 130


def test_history_is_dropped_half_a_window_at_a_time() -> None:
    """The oldest line the model sees stays put for several turns (a stable cached prefix)."""
    from engine.runtime.prompting import history_window

    limit = 12
    shown = [history_window(total, limit) for total in range(8, 30)]
    assert shown[: 12 - 8 + 1] == [limit] * 5  # all lines while they fit
    assert all(6 <= n <= limit for n in shown)
    first_shown = [total - history_window(total, limit) for total in range(13, 30)]
    # the first line shown moves only every six lines, by six
    assert sorted(set(first_shown)) == [6, 12, 18]
    assert history_window(3, 1) == 1


def test_sections_the_backend_does_not_show_take_none_of_the_budget() -> None:
    """A small model's compact transcript leaves out memories, facts, lore and the format; the
    knowledge it does see is not cut to make room for them."""
    full = _full(100_000)
    sizes = {s.name: s.tokens for s in full.sections}  # type: ignore[attr-defined]
    unseen = frozenset({"format", "rules", "facts", "memories", "relationship", "lore"})
    shown = full.tokens - sum(sizes.get(n, 0) for n in unseen)  # type: ignore[attr-defined]
    counted_all = _full(shown + 10)
    assert counted_all.cut.get("knowledge") or counted_all.cut.get("history")  # type: ignore[attr-defined]
    prompt = _full(shown + 10, unseen=unseen)
    assert not {"knowledge", "history", "examples", "backstory"} & set(prompt.cut)  # type: ignore[attr-defined]
    assert len(prompt.section("knowledge").messages[0].content.splitlines()) == 9  # type: ignore[attr-defined,union-attr]
    # what is seen still fits: with less room, the seen sections are cut as before
    tight = _full(shown - 60, unseen=unseen)
    assert tight.cut and not unseen & set(tight.cut)  # type: ignore[attr-defined]


def test_what_reads_the_same_every_turn_is_cut_the_same_every_turn() -> None:
    """Over budget, the persona, knowledge and examples shown depend on the persona and the
    budget, not on how long the turn's history is: the prompt starts the same way from turn to
    turn (a model's prompt cache keeps it), and the history, not an example, gives way."""
    persona = _persona(
        examples=[
            {
                "player": f"Question {i} about the fountain?",
                "character": f"Answer {i}, friend. " * 6,
            }
            for i in range(6)
        ]
    )
    standing = ("persona", "backstory", "knowledge", "examples")

    def turn(lines: int) -> object:
        history = [
            Line(speaker="Ada" if i % 2 == 0 else "Mira", text=f"Line {i} of our talk today. " * 3,
                 own=i % 2 == 1)
            for i in range(lines)
        ]  # fmt: skip
        return assemble(persona, "And the fountain?", player_name="Ada", budget_tokens=1000,
                        history=history)  # fmt: skip

    def shown(prompt: object) -> list[str]:
        return [
            m.content
            for s in prompt.sections  # type: ignore[attr-defined]
            if s.name in standing
            for m in s.messages
        ]

    prompts = [turn(lines) for lines in range(4, 14, 2)]
    assert all(p.tokens <= 1000 for p in prompts)  # type: ignore[attr-defined]
    assert all(shown(p) == shown(prompts[0]) for p in prompts)
    assert prompts[0].cut.get("examples")  # type: ignore[attr-defined]
    assert prompts[-1].cut.get("history")  # type: ignore[attr-defined]


def test_the_embedded_models_compact_layout_says_what_it_leaves_out() -> None:
    from engine.backends.local import LocalBackend
    from engine.backends.render import COMPACT_DROPS

    assert LocalBackend().capabilities.unseen == COMPACT_DROPS
    assert LocalBackend(mode="chat").capabilities.unseen == frozenset()


def _examples_text(persona: Persona, display_language: str = "en") -> str:
    section = assemble(persona, "Hi", language=display_language).section("examples")
    assert section is not None
    return section.messages[0].content


def test_examples_edited_in_place_are_rendered_anew() -> None:
    persona = _persona(
        actions=[{"name": "give", "parameters": [{"name": "item"}, {"name": "count"}]}],
        examples=[
            {
                "player": "Tea?",
                "character": "Here you are.",
                "emotion": "happy",
                "actions": [{"name": "give", "args": {"item": "tea", "count": 1}}],
            }
        ],
    )
    first = _examples_text(persona)
    assert first == _examples_text(persona)  # the same examples: the same text
    assert '"args": {"item": "tea", "count": 1}' in first
    example = persona.examples[0]
    example.actions[0].args["count"] = 1.0  # JSON tells 1 from 1.0: so must the prompt
    assert '"count": 1.0' in _examples_text(persona)
    example.actions[0].args["item"] = "cake"
    assert '"item": "cake"' in _examples_text(persona)
    example.character = "Fresh from the pot."
    example.emotion = "thinking"
    text = _examples_text(persona)
    assert "Mira: Fresh from the pot." in text and '"emotion": "thinking"' in text
    example.actions.clear()
    assert "<meta>" in _examples_text(persona) and "args" not in _examples_text(persona)
    # Another display name (the persona's name in the reply's language) is its own text.
    assert "米拉: Fresh from the pot." in _examples_text(persona, "zh")
