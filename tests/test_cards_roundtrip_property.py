"""Property: any card of the spec's shape survives import and export unchanged."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.cards import card_to_persona, persona_to_card, persona_to_yaml, read_card
from engine.lore import LoreEntry, select_entries
from engine.persona import load_persona
from engine.text.tokens import estimate_tokens

# Text with the characters that stress the mapping: macros, braces, brackets, <START>, CJK, CR/LF.
_pieces = st.sampled_from(
    [
        "{{user}}",
        "{{char}}",
        "{{User}}",
        "<BOT>",
        "<START>",
        "{",
        "}",
        "[",
        "]",
        '"',
        ":",
        "=",
        "\r\n",
        "\n",
        " ",
        "茶馆",
        "Ada",
        "x",
    ]
)
_text = st.lists(st.one_of(_pieces, st.text(max_size=8)), max_size=12).map("".join)
_entry = st.fixed_dictionaries(
    {
        "keys": st.lists(_text, max_size=3),
        "content": _text,
        "extensions": st.just({}),
        "enabled": st.booleans(),
        "insertion_order": st.integers(-5, 500),
    },
    optional={
        "secondary_keys": st.lists(_text, max_size=2),
        "selective": st.booleans(),
        "constant": st.booleans(),
        "priority": st.integers(0, 100),
        "name": _text,
        "comment": _text,
        "case_sensitive": st.booleans(),
        "position": st.sampled_from(["before_char", "after_char"]),
        "id": st.one_of(st.integers(0, 99), st.text(max_size=4)),
    },
)


@st.composite
def _cards(draw: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        key: draw(_text)
        for key in (
            "name",
            "description",
            "personality",
            "scenario",
            "first_mes",
            "mes_example",
            "creator_notes",
            "system_prompt",
            "post_history_instructions",
            "creator",
            "character_version",
        )
    }
    data["alternate_greetings"] = draw(st.lists(_text, max_size=3))
    data["tags"] = draw(st.lists(_text, max_size=3))
    data["extensions"] = draw(
        st.dictionaries(st.text(max_size=5), st.one_of(st.none(), st.integers(), _text), max_size=3)
    )
    if draw(st.booleans()):
        data["character_book"] = {"extensions": {}, "entries": draw(st.lists(_entry, max_size=3))}
    return {"spec": "chara_card_v2", "spec_version": "2.0", "data": data}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_cards())
def test_any_v2_card_round_trips(card: dict[str, Any]) -> None:
    persona, _ = card_to_persona(read_card(json.dumps(card).encode()))
    assert persona_to_card(persona, "v2") == card


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.builds(
            LoreEntry,
            keys=st.lists(_text, max_size=3),
            content=_text,
            constant=st.booleans(),
            enabled=st.booleans(),
            priority=st.integers(0, 20),
            insertion_order=st.integers(0, 20),
        ),
        max_size=8,
    ),
    st.lists(_text, max_size=6),
    st.integers(0, 60),
)
def test_selection_respects_budget_order_and_enabled(
    entries: list[LoreEntry], recent: list[str], budget: int
) -> None:
    chosen = select_entries(entries, recent, budget_tokens=budget)
    assert sum(estimate_tokens(e.content) for e in chosen) <= budget
    assert [e.insertion_order for e in chosen] == sorted(e.insertion_order for e in chosen)
    assert all(e.enabled and e.content.strip() for e in chosen)


@st.composite
def _v3_cards(draw: Any) -> dict[str, Any]:
    card = draw(_cards())
    card["spec"], card["spec_version"] = "chara_card_v3", "3.0"
    data = card["data"]
    data["group_only_greetings"] = draw(st.lists(_text, max_size=2))
    if draw(st.booleans()):
        data["nickname"] = draw(_text)
        data["creation_date"] = draw(st.integers(0, 2_000_000_000))
        data["assets"] = [{"type": "icon", "uri": "ccdefault:", "name": "main", "ext": "png"}]
    for entry in (data.get("character_book") or {}).get("entries", []):
        entry["use_regex"] = draw(st.booleans())
    return card


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_v3_cards())
def test_any_v3_card_round_trips_through_a_character_file(card: dict[str, Any]) -> None:
    persona, _ = card_to_persona(read_card(json.dumps(card).encode()))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "card.yaml"
        path.write_text(persona_to_yaml(persona), encoding="utf-8")
        loaded = load_persona(path)
    assert persona_to_card(loaded, "v3") == card
