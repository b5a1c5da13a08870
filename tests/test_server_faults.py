"""A failing model (server error, cut stream, stall) reaches the socket as ``failed`` with an
in-character fallback line, and the same socket serves the next turn."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fixtures_server import Live, receive, turn_messages

from engine.backends import OpenAIBackend, RetryPolicy, Timeouts
from engine.testing.openai_server import OpenAIServer

FAST = Timeouts(connect=1.0, first_token=0.5, idle=0.5, total=4.0)
NO_RETRY = RetryPolicy(max_retries=0, base_delay=0.01, max_delay=0.02)


@pytest.fixture(scope="module")
def model() -> Iterator[OpenAIServer]:
    with OpenAIServer(
        reply="Welcome to the plaza, friend. The fountain is lovely tonight, and the tea house is open late."
    ) as server:
        yield server


@pytest.fixture(scope="module")
def faulty(serve_world: Callable[..., Live], model: OpenAIServer) -> Live:
    backend = OpenAIBackend(
        base_url=model.base_url, model="test-model", timeouts=FAST, retry=NO_RETRY
    )
    return serve_world(backend=backend)


@pytest.mark.parametrize(
    ("fault", "options", "reasons"),
    [
        ("500", {}, {"backend"}),
        ("cut", {"after_chunks": 1}, {"backend"}),
        ("stall", {"after_chunks": 1, "delay_s": 3.0}, {"timeout"}),
        ("malformed", {"after_chunks": 1}, {"backend"}),
    ],
)
def test_model_fault_gives_failed_with_fallback_then_socket_still_works(
    faulty: Live, model: OpenAIServer, fault: str, options: dict[str, Any], reasons: set[str]
) -> None:
    model.clear()
    with faulty.socket(player=f"p-{fault}") as ws:
        receive(ws)
        model.inject(fault, times=10, **options)
        ws.send(json.dumps({"type": "say", "character": "mira", "text": "Hello there!"}))
        messages = turn_messages(ws, timeout=30)
        model.clear()
        failed = messages[-1]
        assert failed["type"] == "failed"
        assert failed["reason"] in reasons
        assert failed["fallback_text"].strip()
        ws.send(json.dumps({"type": "say", "character": "mira", "text": "Are you there?"}))
        after = turn_messages(ws, timeout=30)
    assert after[-1]["type"] == "done" and after[-1]["text"]


def test_failures_are_counted_by_reason_in_metrics(faulty: Live, model: OpenAIServer) -> None:
    model.clear()
    model.inject("500", times=10)
    faulty.http("POST", "/v1/turns", {"character": "mira", "player": "p-metrics", "text": "Hi"})
    model.clear()
    status, text = faulty.http("GET", "/metrics", auth=None)
    assert status == 200
    assert 'npc_turn_failures_total{reason="backend"}' in text
