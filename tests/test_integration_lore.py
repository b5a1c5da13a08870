"""Lore and card text reach the model with {{char}}/{{user}} expanded and an imported book's
own settings (scan depth, token budget, recursion) honoured."""

from __future__ import annotations

from typing import Any

import pytest
from fixtures_runtime import TextBackend, drain

from engine.dialogue.prompt import Prompt, assemble
from engine.persona import Persona


def _persona(lore: list[dict[str, Any]], card: dict[str, Any] | None = None) -> Persona:
    data: dict[str, Any] = {"id": "tess", "name": "Tess", "lore": lore}
    if card is not None:
        data["card"] = card
    return Persona.model_validate(data)


def _text(prompt: Prompt) -> str:
    return "\n".join(m.content for m in prompt.messages())


def _play(make_runtime: Any, persona: Persona, lines: list[str]) -> tuple[TextBackend, list[Any]]:
    backend = TextBackend("Mm.")
    rt = make_runtime(backend, characters={"tess": persona})
    done = [drain(rt, rt.say("tess", "p1", line, player_name="Ada"))[-1] for line in lines]
    return backend, done


def test_lore_macros_are_expanded_before_the_model_sees_them(make_runtime: Any) -> None:
    persona = _persona(
        [
            {
                "keys": ["fountain"],
                "content": "{{char}} first met {{user}} at the fountain. <USER> knows.",
            }
        ]
    )
    backend, done = _play(make_runtime, persona, ["Tell me about the fountain."])
    text = _text(backend.prompts[-1])
    assert "Tess first met Ada at the fountain. Ada knows." in text
    assert "{{" not in text and "<USER>" not in text
    assert done[-1].result.lore  # the entry was used


@pytest.mark.parametrize(
    ("book", "expected"),
    [
        ({}, True),  # engine default: the last 4 lines are scanned
        ({"scan_depth": 1}, False),  # the book scans only the newest line
    ],
)
def test_an_imported_books_scan_depth_is_honoured(
    make_runtime: Any, book: dict[str, Any], expected: bool
) -> None:
    card = {"spec": "chara_card_v2", "extra": {"character_book": {**book, "entries": []}}}
    persona = _persona([{"keys": ["lighthouse"], "content": "The lighthouse is haunted."}], card)
    backend, _ = _play(make_runtime, persona, ["I saw the lighthouse.", "Anything else?"])
    assert ("The lighthouse is haunted." in _text(backend.prompts[-1])) is expected


def test_an_imported_books_token_budget_is_honoured(make_runtime: Any) -> None:
    long = "The market guild sets every price in the plaza. " * 12
    card = {
        "spec": "chara_card_v2",
        "extra": {"character_book": {"token_budget": 20, "entries": []}},
    }
    lore = [
        {"keys": ["market"], "content": long},
        {"keys": ["market"], "content": "The market opens at dawn."},
    ]
    backend, _ = _play(make_runtime, _persona(lore, card), ["Where is the market?"])
    text = _text(backend.prompts[-1])
    assert "The market opens at dawn." in text and "sets every price" not in text


@pytest.mark.parametrize("recursive", [False, True])
def test_an_imported_books_recursion_setting_is_honoured(
    make_runtime: Any, recursive: bool
) -> None:
    card = {
        "spec": "chara_card_v2",
        "extra": {"character_book": {"recursive_scanning": recursive, "entries": []}},
    }
    lore = [
        {"keys": ["fountain"], "content": "The fountain was built by the guild."},
        {"keys": ["guild"], "content": "The guild meets on Thursdays."},
    ]
    backend, _ = _play(make_runtime, _persona(lore, card), ["Who built the fountain?"])
    text = _text(backend.prompts[-1])
    assert "built by the guild" in text
    assert ("The guild meets on Thursdays." in text) is recursive


def test_card_scenario_and_post_history_instructions_have_macros_expanded() -> None:
    card = {
        "spec": "chara_card_v2",
        "scenario": "{{user}} walks into {{char}}'s bakery at dawn.",
        "post_history_instructions": "Keep {{char}} grumpy with {{user}}.",
    }
    prompt = assemble(_persona([], card), "Morning!", player_name="Ada", budget_tokens=4000)
    text = _text(prompt)
    assert "Ada walks into Tess's bakery at dawn." in text
    assert "Keep Tess grumpy with Ada." in text
    assert "{{" not in text
