"""The runtime with a moderation service: the OpenAI-compatible ``/moderations`` endpoint of
the real local test server screens the player's line and each reply sentence after the local
checks; a failing service leaves the local verdict standing (fail-open) unless told otherwise."""

from __future__ import annotations

import logging
import random
from pathlib import Path
from typing import Any

import pytest
from fixtures_runtime import TextBackend, drain

from engine.backends.openai import OpenAIModerator, RetryPolicy
from engine.memory.ledger import Ledger
from engine.persona import Persona
from engine.runtime.events import Sentence, TextDelta, TurnDone
from engine.testing.openai_server import OpenAIServer

WORDS = {"harassment": ["idiot", "moron"], "violence": ["stab"]}


@pytest.fixture
def server() -> Any:
    with OpenAIServer(moderation_words=WORDS) as srv:
        yield srv


def _moderator(srv: OpenAIServer) -> OpenAIModerator:
    return OpenAIModerator(
        base_url=srv.base_url,
        model="test-moderation",
        api_key="test",
        retry=RetryPolicy(max_retries=0),
        timeout=2.0,
        rng=random.Random(1),
    )


def _moderated(srv: OpenAIServer) -> list[str]:
    return [r["input"] for r in srv.requests if "input" in r]


def _shown(events: list[Any]) -> str:
    return " ".join(e.text for e in events if isinstance(e, TextDelta | Sentence))


def test_a_flagged_line_is_refused_before_the_model(
    make_runtime: Any, test_persona: Persona, server: OpenAIServer, tmp_path: Path
) -> None:
    world = tmp_path / "world.db"
    backend = TextBackend("Of course.")
    rt = make_runtime(
        backend, world=world, characters={"tess": test_persona}, moderator=_moderator(server)
    )
    done = drain(rt, rt.say("tess", "p1", "You are an idiot."))[-1]
    assert isinstance(done, TurnDone) and done.result.fallback
    assert done.result.text == "I won't talk about that, dear."
    assert backend.prompts == []  # never reached the model
    assert _moderated(server) == ["You are an idiot."]
    rt.close(timeout=2.0)
    with Ledger(world) as ledger:
        (record,) = ledger.audits(player="p1")
    assert (record.direction, record.rule) == ("input", "moderation:harassment")


def test_a_clean_line_and_reply_pass_through_the_service(
    make_runtime: Any, test_persona: Persona, server: OpenAIServer
) -> None:
    rt = make_runtime(
        TextBackend("Hello there. Lovely day."),
        characters={"tess": test_persona},
        moderator=_moderator(server),
    )
    done = drain(rt, rt.say("tess", "p1", "Good morning!"))[-1]
    assert isinstance(done, TurnDone) and not done.result.fallback
    assert done.result.text == "Hello there. Lovely day."
    assert _moderated(server) == ["Good morning!", "Hello there.", "Lovely day."]


def test_a_flagged_reply_sentence_never_appears_in_any_event(
    make_runtime: Any, test_persona: Persona, server: OpenAIServer, tmp_path: Path
) -> None:
    world = tmp_path / "world.db"
    rt = make_runtime(
        TextBackend("Hello there. I will stab you. Goodbye now."),
        world=world,
        characters={"tess": test_persona},
        moderator=_moderator(server),
    )
    events = drain(rt, rt.say("tess", "p1", "Good morning!"))
    done = events[-1]
    assert isinstance(done, TurnDone) and done.result.fallback
    assert "stab" not in _shown(events) and "stab" not in done.result.text
    assert "Goodbye" not in _shown(events)  # the reply stops at the blocked sentence
    assert _shown(events).startswith("Hello there.")
    stored = [t.text for t in rt.recent_turns("tess", "p1").result(5)]
    assert not any("stab" in t for t in stored)
    rt.close(timeout=2.0)
    with Ledger(world) as ledger:
        (record,) = ledger.audits(player="p1")
    assert (record.direction, record.rule) == ("output", "moderation:violence")


def test_a_failing_service_leaves_the_local_verdict_standing(
    make_runtime: Any,
    test_persona: Persona,
    server: OpenAIServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server.inject("500", times=50, endpoint="moderations")
    rt = make_runtime(
        TextBackend("Hello there."), characters={"tess": test_persona}, moderator=_moderator(server)
    )
    with caplog.at_level(logging.WARNING, logger="engine.runtime.turn"):
        done = drain(rt, rt.say("tess", "p1", "You are an idiot."))[-1]
    assert isinstance(done, TurnDone) and not done.result.fallback
    assert done.result.text == "Hello there."
    assert any("moderation of the input failed" in r.getMessage() for r in caplog.records)


def test_fail_closed_blocks_when_the_service_fails(
    make_runtime: Any, test_persona: Persona, server: OpenAIServer
) -> None:
    server.inject("500", times=50, endpoint="moderations")
    backend = TextBackend("Hello there.")
    rt = make_runtime(
        backend,
        characters={"tess": test_persona},
        moderator=_moderator(server),
        moderation_fail_closed=True,
    )
    done = drain(rt, rt.say("tess", "p1", "Good morning!"))[-1]
    assert isinstance(done, TurnDone) and done.result.fallback
    assert backend.prompts == []


def test_a_line_the_local_check_blocks_is_not_sent_to_the_service(
    make_runtime: Any, test_persona: Persona, server: OpenAIServer
) -> None:
    rt = make_runtime(
        TextBackend("Hm."), characters={"tess": test_persona}, moderator=_moderator(server)
    )
    done = drain(rt, rt.say("tess", "p1", "Tell me about dragonglass."))[-1]
    assert isinstance(done, TurnDone) and done.result.fallback
    assert _moderated(server) == []
