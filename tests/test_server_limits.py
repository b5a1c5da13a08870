"""Limits per key and per player: refused with a 4xx and a machine-readable code."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest
from fixtures_server import Live, receive, turn_messages
from websockets.exceptions import ConnectionClosed

from engine.backends import OpenAIBackend, RetryPolicy, Timeouts
from engine.server import LimitSettings
from engine.testing.openai_server import OpenAIServer


@pytest.fixture(scope="module")
def slow_model() -> Iterator[OpenAIServer]:
    with OpenAIServer(latency_s=1.0, reply="Let me think about that one.") as server:
        yield server


def _slow(model: OpenAIServer) -> OpenAIBackend:
    return OpenAIBackend(
        base_url=model.base_url, model="test-model",
        timeouts=Timeouts(connect=1.0, first_token=5.0, idle=5.0, total=10.0),
        retry=RetryPolicy(max_retries=0, base_delay=0.01, max_delay=0.02),
    )  # fmt: skip


def test_player_requests_per_minute(serve_world: Callable[..., Live]) -> None:
    live = serve_world(limits=LimitSettings(player_requests_per_minute=3))
    token = live.token("rate-p")
    statuses = [live.http("GET", "/v1/characters", auth=token) for _ in range(4)]
    assert [s for s, _ in statuses[:3]] == [200, 200, 200]
    assert statuses[3][0] == 429 and statuses[3][1]["code"] == "rate_limited"
    # Another player of the same key is not held back.
    assert live.http("GET", "/v1/characters", auth=live.token("rate-q"))[0] == 200


def test_socket_messages_count_against_the_player_rate(serve_world: Callable[..., Live]) -> None:
    live = serve_world(limits=LimitSettings(player_requests_per_minute=2))
    with live.socket(player="rate-ws") as ws:
        receive(ws)
        for _ in range(2):
            ws.send(json.dumps({"type": "ping"}))
            assert receive(ws)["type"] == "pong"
        ws.send(json.dumps({"type": "ping"}))
        assert receive(ws)["code"] == "rate_limited"


def test_concurrent_turns_per_player(
    serve_world: Callable[..., Live], slow_model: OpenAIServer
) -> None:
    live = serve_world(backend=_slow(slow_model), limits=LimitSettings(player_concurrent_turns=1))
    with live.socket(player="busy-p") as ws:
        receive(ws)
        ws.send(json.dumps({"type": "say", "character": "mira", "text": "First question?"}))
        assert receive(ws)["type"] == "started"
        ws.send(
            json.dumps(
                {"type": "say", "character": "mira", "text": "Second question?", "ref": "two"}
            )
        )
        refused = None
        for _ in range(20):
            message = receive(ws)
            if message["type"] == "error":
                refused = message
                break
        assert refused is not None and (refused["code"], refused["ref"]) == (
            "too_many_turns",
            "two",
        )
        rest = turn_messages(ws)
        assert rest[-1]["type"] == "done"
        # The slot is free again once the turn is over.
        ws.send(json.dumps({"type": "say", "character": "mira", "text": "Third?"}))
        assert turn_messages(ws)[-1]["type"] == "done"
    status, body = live.http(
        "POST", "/v1/turns", {"character": "mira", "player": "busy-p", "text": "ok?"}
    )
    assert status == 200


def test_cancel_over_the_socket_and_close_cancels(
    serve_world: Callable[..., Live], slow_model: OpenAIServer
) -> None:
    live = serve_world(backend=_slow(slow_model))
    with live.socket(player="cancel-p") as ws:
        receive(ws)
        ws.send(json.dumps({"type": "say", "character": "mira", "text": "Tell me a long story."}))
        started = receive(ws)
        ws.send(json.dumps({"type": "cancel", "turn": started["turn"]}))
        failed = turn_messages(ws)[-1]
    assert (failed["type"], failed["reason"], failed["fallback_text"]) == (
        "failed",
        "cancelled",
        "",
    )
    with live.socket(player="leaver") as ws:
        receive(ws)
        ws.send(json.dumps({"type": "say", "character": "mira", "text": "Hello?"}))
        receive(ws)
    assert live.service.runtime.wait_idle(10)
    assert live.service.metrics.active_turns == 0
    assert live.service.metrics.turns[(("kind", "say"), ("outcome", "failed"))] >= 2


def test_connections_per_player(serve_world: Callable[..., Live]) -> None:
    live = serve_world(limits=LimitSettings(player_connections=2))
    with live.socket(player="many") as first, live.socket(player="many") as second:
        receive(first), receive(second)
        with live.socket(player="many") as third:
            assert receive(third)["code"] == "too_many_connections"
            with pytest.raises(ConnectionClosed) as closed:
                third.recv(timeout=5)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4429
    with live.socket(player="many") as again:  # closing frees the slots
        assert receive(again)["type"] == "hello"


def test_body_too_large_is_413(live: Live) -> None:
    size = live.service.limiter.settings.max_message_bytes + 1
    status, body = live.http("POST", "/v1/turns", raw=b"x" * size)
    assert (status, body["code"]) == (413, "body_too_large")


def test_line_too_long_over_http_is_422(live: Live) -> None:
    text = "a" * (live.service.limiter.settings.max_line_chars + 1)
    status, body = live.http(
        "POST", "/v1/turns", {"character": "mira", "player": "p", "text": text}
    )
    assert (status, body["code"]) == (422, "line_too_long")
