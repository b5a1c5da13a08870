"""Patterns from files and cards run on a linear-time engine: no key or topic pattern can hold
the event loop, and a pattern that engine cannot run is refused when the file is read."""

from __future__ import annotations

import time

import pytest

from engine.cards.lorebooks import parse_lorebook
from engine.errors import CardError, PersonaError, PolicyError
from engine.lore import LoreEntry, select_entries
from engine.persona import BlockedTopic, load_persona
from engine.safety import Policy, check_input, check_output

# Exponential on a backtracking engine: each extra "a" doubles the work.
EVIL = ["/(a+)+$/", "/(a|aa)+$/", "/(.*a){12}$/", "/^(\\w+\\s?)*$/"]
ATTACK = "a" * 4000 + "!"


@pytest.mark.parametrize("key", EVIL)
def test_lore_regex_key_is_linear_on_a_catastrophic_line(key: str) -> None:
    entry = LoreEntry(keys=[key], content="x")
    select_entries([entry], ["warm up"], budget_tokens=50)
    # CPU time of this thread: the work itself, not the waits of a loaded machine.
    started = time.thread_time()
    select_entries([entry], [ATTACK], budget_tokens=50)
    assert time.thread_time() - started < 0.1


@pytest.mark.parametrize("pattern", ["(a+)+$", "(x+x+)+y", "^(([a-z])+.)+[A-Z]([a-z])+$"])
def test_blocked_topic_pattern_is_linear_on_a_catastrophic_line(pattern: str) -> None:
    policy = Policy(
        default_topics=False, blocked_topics=(BlockedTopic(name="evil", patterns=[pattern]),)
    )
    line = "a" * 4000 + "!" if "a+" in pattern else "x" * 4000
    check_input("warm up", policy)
    started = time.thread_time()
    check_input(line, policy)
    check_output(line, policy)
    assert time.thread_time() - started < 0.1


def test_regex_keys_still_match() -> None:
    entries = [
        LoreEntry(keys=["/drag(on|ons)\\b/i"], content="dragons"),
        LoreEntry(keys=["/^gate$/m"], content="gate"),
        LoreEntry(keys=["龙+"], use_regex=True, content="long"),
        LoreEntry(keys=["/(?<name>mira)/"], content="named group (JavaScript syntax)"),
    ]
    chosen = select_entries(entries, ["Two DRAGONS fly.\ngate\n龙龙 mira"], budget_tokens=500)
    assert [e.content for e in chosen] == [
        "dragons",
        "gate",
        "long",
        "named group (JavaScript syntax)",
    ]


@pytest.mark.parametrize("key", ["/(a)\\1/", "/(?<!x)a/", "/a(?=b)/"])
def test_a_lorebook_key_the_linear_engine_cannot_run_is_refused_at_import(key: str) -> None:
    book = {"entries": [{"keys": ["ok"], "content": "fine"}, {"keys": [key], "content": "x"}]}
    with pytest.raises(CardError) as caught:
        parse_lorebook(book, path="evil.json")
    message = str(caught.value)
    assert "evil.json" in message and "entries[1]" in message and "keys" in message


def test_a_use_regex_secondary_key_the_engine_cannot_run_is_refused() -> None:
    with pytest.raises(ValueError, match="secondary_keys"):
        LoreEntry(keys=["a"], secondary_keys=["(?=b)"], use_regex=True)


def test_a_blocked_topic_pattern_the_engine_cannot_run_is_refused() -> None:
    with pytest.raises(PolicyError, match="evil"):
        Policy(
            blocked_topics=(
                BlockedTopic.model_construct(name="evil", words=[], patterns=["(a)\\1"]),
            )
        )
    with pytest.raises(ValueError, match="patterns"):
        BlockedTopic(name="evil", patterns=["(?<=a)b"])


def test_a_persona_file_with_a_backtracking_only_pattern_names_file_and_field(tmp_path) -> None:
    path = tmp_path / "evil.yaml"
    path.write_text(
        "name: Evil\nrole: a test\npolicy:\n  blocked_topics:\n"
        "    - name: loops\n      patterns: ['(a)\\1']\n",
        encoding="utf-8",
    )
    with pytest.raises(PersonaError) as caught:
        load_persona(path)
    message = str(caught.value)
    assert "evil.yaml" in message and "patterns" in message
