"""OpenAIBackend over the caller's own HTTP client: unit tests on ``httpx2.MockTransport``.

The loopback server (tests/test_backends_openai.py) stays the integration test of the wire;
here a plain function answers each request, so a test states exactly what the server said.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Callable
from typing import Any

import httpx2
import pytest
from pydantic import BaseModel

from engine.backends import OpenAIBackend, RetryPolicy, Timeouts
from engine.dialogue.prompt import Message, Prompt, Section
from engine.errors import BadRequestError, RateLimitError

Handler = Callable[[httpx2.Request], httpx2.Response]


class Mood(BaseModel):
    emotion: str


def prompt() -> Prompt:
    return Prompt(
        sections=(
            Section.system("persona", "You are Mira."),
            Section.of("input", [Message(role="user", content="Hi!")]),
        ),
        character="Mira",
        player="Ada",
    )


def sse(*events: dict[str, Any]) -> httpx2.Response:
    body = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
    return httpx2.Response(
        200, headers={"content-type": "text/event-stream"}, content=body.encode()
    )


def delta(text: str, finish: str | None = None) -> dict[str, Any]:
    return {"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": finish}]}


def run_with(handler: Handler, call: Callable[[OpenAIBackend], Any], **options: Any) -> Any:
    """``call(backend)`` with a backend whose every request ``handler`` answers."""

    async def go() -> Any:
        async with httpx2.AsyncClient(transport=httpx2.MockTransport(handler)) as client:
            backend = OpenAIBackend(
                base_url="http://provider.test/v1",
                model="m",
                http_client=client,
                retry=RetryPolicy(max_retries=2, base_delay=0.0, jitter=0.0),
                timeouts=Timeouts(connect=1, first_token=2, idle=2, total=5),
                rng=random.Random(1),
                **options,
            )
            try:
                return await call(backend)
            finally:
                await backend.aclose()

    return asyncio.run(asyncio.wait_for(go(), 10))


async def streamed(backend: OpenAIBackend) -> list[Any]:
    return [chunk async for chunk in backend.stream(prompt())]


def test_a_stream_is_the_text_of_its_events_then_the_reported_usage() -> None:
    sent: list[dict[str, Any]] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        sent.append(json.loads(request.content))
        usage = {"choices": [], "usage": {"prompt_tokens": 11, "completion_tokens": 3}}
        return sse(delta("Hello"), delta(" there", "stop"), usage)

    chunks = run_with(handler, streamed)
    # The whole body is one read here, and the events of one read go on as one chunk.
    assert [c.text for c in chunks] == ["Hello there", ""]
    final = chunks[-1]
    assert (final.finish_reason, final.usage.prompt_tokens, final.usage.completion_tokens) == (
        "stop",
        11,
        3,
    )
    assert not final.usage.estimated
    assert sent[0]["model"] == "m" and sent[0]["stream"] is True
    assert sent[0]["messages"][-1] == {"role": "user", "content": "Hi!"}


def test_a_rate_limit_is_retried_after_the_servers_hint(caplog: pytest.LogCaptureFixture) -> None:
    answers = [
        httpx2.Response(429, headers={"retry-after": "0"}, json={"error": {"message": "slow down"}})
    ]

    def handler(request: httpx2.Request) -> httpx2.Response:
        return answers.pop(0) if answers else sse(delta("ok", "stop"))

    with caplog.at_level(logging.INFO, logger="engine.backends.openai.chat"):
        chunks = run_with(handler, streamed)
    assert "".join(c.text for c in chunks) == "ok"
    decisions = [r.getMessage() for r in caplog.records if "attempt" in r.getMessage()]
    assert len(decisions) == 1 and "retry-after 0s" in decisions[0], decisions


def test_a_rate_limit_that_lasts_gives_up_with_the_engine_error() -> None:
    calls = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        calls.append(request)
        return httpx2.Response(429, headers={"retry-after": "0"}, json={"error": {"message": "no"}})

    with pytest.raises(RateLimitError) as info:
        run_with(handler, streamed)
    assert len(calls) == 3  # the first attempt and max_retries=2
    assert info.value.status_code == 429 and info.value.provider == "custom"


def test_a_refused_request_is_not_retried() -> None:
    calls = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        calls.append(request)
        return httpx2.Response(400, json={"error": {"message": "bad temperature"}})

    with pytest.raises(BadRequestError, match="bad temperature"):
        run_with(handler, streamed)
    assert len(calls) == 1


def test_a_refused_response_format_steps_down_once_and_is_remembered() -> None:
    formats: list[str] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.content)
        form = body.get("response_format", {}).get("type", "text")
        formats.append(form)
        if form == "json_schema":
            return httpx2.Response(
                400, json={"error": {"message": "response_format json_schema unsupported"}}
            )
        message = {"role": "assistant", "content": '{"emotion": "happy"}'}
        return httpx2.Response(200, json={"choices": [{"index": 0, "message": message}]})

    async def twice(backend: OpenAIBackend) -> tuple[Mood, Mood, str]:
        first = await backend.complete_json(prompt(), Mood)
        second = await backend.complete_json(prompt(), Mood)
        return first, second, backend.capabilities.structured

    first, second, learned = run_with(handler, twice, structured="json_schema")
    assert first == second == Mood(emotion="happy")
    assert formats == ["json_schema", "json_object", "json_object"]
    assert learned == "json_object"


def test_closing_the_backend_leaves_the_callers_client_open() -> None:
    async def go() -> bool:
        handler: Handler = lambda request: sse(delta("ok", "stop"))  # noqa: E731
        async with httpx2.AsyncClient(transport=httpx2.MockTransport(handler)) as client:
            backend = OpenAIBackend(base_url="http://provider.test/v1", http_client=client)
            assert [c.text async for c in backend.stream(prompt())][0] == "ok"
            await backend.aclose()
            return client.is_closed

    assert asyncio.run(go()) is False
