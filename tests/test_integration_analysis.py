"""Background analysis on a small model: an empty JSON answer never erases what the heuristics
find in the player's line (their name, facts about them)."""

from __future__ import annotations

from typing import Any

import pytest
from fixtures_runtime import drain

from engine.backends import OpenAIBackend, RetryPolicy, Timeouts
from engine.persona import Persona
from engine.testing.openai_server import OpenAIServer


def _backend(server: OpenAIServer) -> OpenAIBackend:
    return OpenAIBackend(
        base_url=server.base_url, model="test-model", api_key="test",
        timeouts=Timeouts(first_token=5, idle=5, total=10), retry=RetryPolicy(max_retries=0),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("character", "line", "name", "fact"),
    [
        ("mira", "Hi Mira! My name is Alex. I just arrived and I love jasmine tea.", "Alex",
         ("Alex", "loves", "jasmine tea")),
        ("chen", "你好，陈掌柜！我叫小明，刚来这里。我最喜欢龙井。", "小明", ("小明", "favourite", "龙井")),
    ],
)  # fmt: skip
def test_empty_model_analysis_keeps_the_heuristic_name_and_facts(
    make_runtime: Any,
    openai_server: OpenAIServer,
    character: str,
    line: str,
    name: str,
    fact: tuple[str, str, str],
) -> None:
    openai_server.reply = "Welcome."
    openai_server.json_reply = {}  # what a small model gives: valid JSON, nothing in it
    rt = make_runtime(_backend(openai_server))
    drain(rt, rt.say(character, "p1", line))
    assert any(r.get("response_format") for r in openai_server.requests)  # the model was asked
    assert rt.player_name("p1").result(5) == name
    facts = [(f.subject, f.predicate, f.object) for f in rt.facts(character, "p1").result(5)]
    assert fact in facts


def test_model_facts_and_heuristic_facts_are_merged_model_first(
    make_runtime: Any, test_persona: Persona, openai_server: OpenAIServer
) -> None:
    openai_server.reply = "Lovely."
    openai_server.json_reply = {
        "importance": 7,
        "facts": [{"predicate": "loves", "object": "sea shanties", "confidence": 0.9}],
        "player_name": None,
    }
    rt = make_runtime(_backend(openai_server), characters={"tess": test_persona})
    drain(rt, rt.say("tess", "p1", "My name is Ada and I love sailing. I come from Leeds."))
    facts = {(f.subject, f.predicate, f.object) for f in rt.facts("tess", "p1").result(5)}
    # The model's "loves" wins over the heuristic one for the same relation; the name and
    # anything else only the heuristics found are kept.
    assert ("Ada", "loves", "sea shanties") in facts
    assert ("Ada", "loves", "sailing") not in facts
    assert rt.player_name("p1").result(5) == "Ada"


def test_model_name_wins_over_the_heuristic_one(
    make_runtime: Any, test_persona: Persona, openai_server: OpenAIServer
) -> None:
    openai_server.reply = "Lovely."
    openai_server.json_reply = {"player_name": "Adaline", "facts": []}
    rt = make_runtime(_backend(openai_server), characters={"tess": test_persona})
    drain(rt, rt.say("tess", "p1", "My name is Ada, well, Adaline really, and I love sailing."))
    assert rt.player_name("p1").result(5) == "Adaline"


@pytest.mark.parametrize(
    ("character", "said", "asked", "fact", "model_facts"),
    [
        ("mira", "My name is Ada and I love plum wine.", "What do I like to drink?",
         ("Ada", "loves", "plum wine"), []),
        ("mira", "My name is Ada and I love plum wine.", "What do I like to drink?",
         ("Ada", "loves", "plum wine"), [{"predicate": "likes", "object": "to drink"}]),
        ("chen", "我叫小明，我最喜欢龙井。", "我最喜欢喝什么茶，你还记得吗？",
         ("小明", "favourite", "龙井"), []),
        ("chen", "我叫小明，我最喜欢龙井。", "我最喜欢喝什么茶？",
         ("小明", "favourite", "龙井"), [{"predicate": "favourite", "object": "喝什么茶"}]),
    ],
)  # fmt: skip
def test_a_question_is_never_stored_as_a_fact(
    make_runtime: Any,
    openai_server: OpenAIServer,
    character: str,
    said: str,
    asked: str,
    fact: tuple[str, str, str],
    model_facts: list[dict[str, str]],
) -> None:
    openai_server.reply = "Welcome."
    openai_server.json_reply = {}
    rt = make_runtime(_backend(openai_server))
    drain(rt, rt.say(character, "p1", said))
    openai_server.json_reply = {"facts": model_facts}
    drain(rt, rt.say(character, "p1", asked))
    facts = [(f.subject, f.predicate, f.object) for f in rt.facts(character, "p1").result(5)]
    assert facts == [fact]
