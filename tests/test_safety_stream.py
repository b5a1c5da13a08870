"""A blocked sentence in the middle of a streamed reply never appears in any event.

The replies stream for real: from the local OpenAI-compatible HTTP server (word by word, through
``OpenAIBackend``) and from the scripted backend, through the runtime's turn pipeline.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from engine.backends.openai import OpenAIBackend
from engine.backends.scripted import ScriptedBackend
from engine.memory.ledger import Ledger
from engine.persona import Persona
from engine.runtime import Runtime
from engine.runtime.events import Sentence, TextDelta, TurnDone, TurnFailed
from engine.testing.openai_server import OpenAIServer


def run_turn(
    rt: Runtime, character: str, player: str, text: str, timeout: float = 15.0
) -> list[Any]:
    """Every event of one turn, polled like a game loop does."""
    handle = rt.say(character, player, text)
    events: list[Any] = []
    deadline = time.monotonic() + timeout
    while not handle.done:
        events.extend(rt.poll())
        assert time.monotonic() < deadline, "the turn did not finish"
        time.sleep(0.002)
    assert rt.wait_idle(timeout)
    events.extend(rt.poll())
    return [e for e in events if e.handle_id == handle.id]


def strings(value: Any) -> list[str]:
    """Every string an event carries (its texts, warnings, result fields), however deep.

    Numbers are left out: a latency of 105.6781 ms is no phone number.
    """
    if isinstance(value, str):
        return [value]
    if isinstance(value, BaseException):
        return [str(value)]
    if isinstance(value, BaseModel):
        return strings(list(dict(value).values()))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return strings([getattr(value, f.name) for f in dataclasses.fields(value)])
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*strings(k), *strings(v))]
    if isinstance(value, (list, tuple, set, frozenset)):
        return [s for item in value for s in strings(item)]
    return []


def carries(event: Any, text: str) -> bool:
    """Whether any string of ``event`` contains ``text``."""
    return any(text in s for s in strings(event))


def shown_text(events: list[Any]) -> str:
    """Everything the game could show: deltas joined, sentences, the final or fallback text."""
    parts = ["".join(e.text for e in events if isinstance(e, TextDelta))]
    parts += [e.text for e in events if isinstance(e, Sentence)]
    parts += [e.result.text for e in events if isinstance(e, TurnDone)]
    parts += [e.fallback_text for e in events if isinstance(e, TurnFailed)]
    return "\n".join(parts)


CASES = [
    # character, player line, streamed reply, what must never be shown, the sentence before it
    (
        "mira",
        "What is there to do around here?",
        "Welcome to the plaza! The casino behind the fountain never closes. The lanterns go up at dusk.",
        "casino",
        "Welcome to the plaza!",
    ),
    (
        "mira",
        "Anything fun tonight?",
        "Oh, plenty! Ask for the c.a.s.i.n.o behind the stage. The music starts at eight.",
        "c.a.s.i.n.o",
        "Oh, plenty!",
    ),
    (
        "chen",
        "掌柜的，附近有什么好玩的？",
        "客官里边请。后院有个賭場，通宵营业。先喝杯龙井吧。",
        "賭場",
        "客官里边请。",
    ),
]


@pytest.mark.parametrize(("character", "line", "reply", "blocked", "before"), CASES)
def test_blocked_sentence_from_a_streamed_model_reply_never_reaches_an_event(
    make_runtime: Callable[..., Runtime],
    cast: dict[str, Persona],
    openai_server: OpenAIServer,
    tmp_path: Path,
    character: str,
    line: str,
    reply: str,
    blocked: str,
    before: str,
) -> None:
    openai_server.reply = reply
    openai_server.tokens_per_s = 400  # word by word, so the sentence arrives in many pieces
    openai_server.structured = "none"
    backend = OpenAIBackend(base_url=openai_server.base_url, model="test-model", structured="none")
    world = tmp_path / "world.db"
    rt = make_runtime(backend, world=world)
    events = run_turn(rt, character, "p1", line)

    shown = shown_text(events)
    assert not any(carries(event, blocked) for event in events), shown
    assert before in shown  # what came before the blocked sentence still streamed
    assert any(refusal in shown for refusal in cast[character].boundaries.refusal_lines)
    assert sum(isinstance(e, TextDelta) for e in events) >= 2

    stored = rt.recent_turns(character, "p1").result(timeout=5)
    assert all(blocked not in turn.text for turn in stored)
    rt.close(timeout=2.0)
    with Ledger(world) as ledger:
        (record,) = [r for r in ledger.audits(player="p1") if r.direction == "output"]
        assert (record.character, record.rule, record.category) == (character, "gambling", "topic")


def test_blocked_sentence_from_the_scripted_backend_never_reaches_an_event(
    make_runtime: Callable[..., Runtime], test_persona: Persona
) -> None:
    data = test_persona.model_dump()
    data["examples"] = [
        {
            "player": "hello there",
            "character": "Hi there! Dragonglass is hidden under the old well. Come back tomorrow.",
        }
    ]
    persona = Persona.model_validate(data)
    rt = make_runtime(ScriptedBackend(), characters={"tess": persona})
    events = run_turn(rt, "tess", "p1", "hello there")
    shown = shown_text(events)
    assert not any(carries(event, "ragonglass") for event in events), shown
    assert "Hi there!" in shown and "I won't talk about that, dear." in shown


def test_personal_information_in_a_streamed_reply_is_redacted_in_every_event(
    make_runtime: Callable[..., Runtime], openai_server: OpenAIServer
) -> None:
    openai_server.reply = "Sure! Bram's number is 138 1234 5678. He is at the market stall."
    openai_server.tokens_per_s = 400
    backend = OpenAIBackend(base_url=openai_server.base_url, model="test-model", structured="none")
    rt = make_runtime(backend)
    events = run_turn(rt, "mira", "p1", "How do I reach Bram?")
    shown = shown_text(events)
    assert not any(carries(event, "5678") for event in events), shown
    assert "[phone]" in shown
