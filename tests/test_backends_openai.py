"""OpenAIBackend against a real local OpenAI-compatible server: streaming, faults, presets, JSON."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
import time
from typing import Any

import pytest
from pydantic import BaseModel, Field

from engine.backends import (
    PRESETS,
    Chunk,
    GenerationParams,
    OpenAIBackend,
    OpenAIEmbedder,
    RetryPolicy,
    Timeouts,
)
from engine.backends.presets import Preset
from engine.dialogue.prompt import Message, Prompt, Section
from engine.errors import (
    AuthenticationError,
    BackendError,
    BackendTimeoutError,
    BackendUnavailableError,
    BadRequestError,
    RateLimitError,
    ServerError,
    StreamError,
    StructuredOutputError,
)
from engine.testing.openai_server import OpenAIServer, refused_base_url

FAST = Timeouts(connect=1.0, first_token=0.5, idle=0.5, total=4.0)
QUICK_RETRY = RetryPolicy(max_retries=2, base_delay=0.02, max_delay=0.1)
REPLY = "Hello there, traveller. Welcome to the plaza."


class Mood(BaseModel):
    emotion: str
    strength: float = Field(ge=0, le=1)


def make_prompt(user: str = "Hi there!") -> Prompt:
    return Prompt(
        sections=(
            Section.system("persona", "You are Mira, the plaza host."),
            Section.of(
                "history",
                [
                    Message(role="user", content="Hello"),
                    Message(role="assistant", content="Welcome!"),
                ],
            ),
            Section.of("input", [Message(role="user", content=user)]),
        ),
        character="Mira",
        player="Ada",
    )


_TRANSPORT = ["lean"]


@pytest.fixture(autouse=True, params=["lean", "httpx"])
def transport(request: pytest.FixtureRequest) -> Any:
    """Every test runs over the engine's own HTTP transport and over httpx's."""
    _TRANSPORT[0] = request.param
    yield request.param
    _TRANSPORT[0] = "lean"


def backend_for(server: OpenAIServer, **options: Any) -> OpenAIBackend:
    options.setdefault("transport", _TRANSPORT[0])
    options.setdefault("timeouts", FAST)
    options.setdefault("retry", QUICK_RETRY)
    options.setdefault("rng", random.Random(7))
    return OpenAIBackend(base_url=server.base_url, model="test-model", **options)


async def collect(
    backend: OpenAIBackend, prompt: Prompt | None = None, params: GenerationParams | None = None
) -> list[Chunk]:
    async def run() -> list[Chunk]:
        return [c async for c in backend.stream(prompt or make_prompt(), params)]

    try:
        return await asyncio.wait_for(run(), timeout=8)
    finally:
        await backend.aclose()


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_stream_yields_text_then_a_final_usage_chunk(openai_server: OpenAIServer) -> None:
    openai_server.tokens_per_s = 50  # pieces 20 ms apart arrive one by one
    chunks = run(collect(backend_for(openai_server)))
    assert "".join(c.text for c in chunks) == REPLY
    assert len(chunks) > 3
    final = chunks[-1]
    assert final.usage is not None and final.text == "" and final.finish_reason == "stop"
    assert final.usage.completion_tokens == 7 and not final.usage.estimated
    assert final.usage.ttft_ms is not None and final.usage.ttft_ms <= final.usage.latency_ms
    body = openai_server.requests[0]
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert [m["role"] for m in body["messages"]] == ["system", "user", "assistant", "user"]


def test_usage_is_estimated_when_the_server_streams_none(openai_server: OpenAIServer) -> None:
    openai_server.stream_usage = False
    final = run(collect(backend_for(openai_server)))[-1]
    assert final.usage is not None and final.usage.estimated and final.usage.completion_tokens > 0


def test_generation_params_reach_the_request(openai_server: OpenAIServer) -> None:
    params = GenerationParams(temperature=0.7, top_p=0.9, max_tokens=50, stop=("\nAda:",), seed=3)
    run(collect(backend_for(openai_server), params=params))
    body = openai_server.requests[0]
    assert body["temperature"] == 0.7 and body["top_p"] == 0.9 and body["max_tokens"] == 50
    assert body["stop"] == ["\nAda:"] and body["seed"] == 3


def test_completion_mode_sends_a_transcript_with_stop_sequences(
    openai_server: OpenAIServer,
) -> None:
    openai_server.reply = " Welcome to the plaza!\nAda: and then"
    chunks = run(collect(backend_for(openai_server, mode="completion")))
    assert "".join(c.text for c in chunks) == "Welcome to the plaza!"
    body = openai_server.requests[0]
    assert body["prompt"].endswith("Ada: Hi there!\nMira:")
    assert "\nAda:" in body["stop"]


@pytest.mark.parametrize("status", ["429", "500", "502", "503"])
def test_transient_status_is_retried_then_succeeds(
    openai_server: OpenAIServer, status: str
) -> None:
    openai_server.inject(status, times=2)  # type: ignore[arg-type]
    chunks = run(collect(backend_for(openai_server)))
    assert "".join(c.text for c in chunks) == REPLY
    assert len(openai_server.calls) == 3


def decisions(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The retry decisions the backend logged, in order."""
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "engine.backends.openai.chat" and " failed on attempt " in r.getMessage()
    ]


def waited(decision: str) -> float:
    """The backoff a logged decision chose, in seconds."""
    return float(re.search(r"retrying in ([0-9.]+)s", decision).group(1))  # type: ignore[union-attr]


def test_retry_after_is_honoured(
    openai_server: OpenAIServer, caplog: pytest.LogCaptureFixture
) -> None:
    openai_server.inject("429", retry_after=0.4)
    with caplog.at_level(logging.INFO):
        run(collect(backend_for(openai_server)))
    (decision,) = decisions(caplog)
    assert "retry-after 0.4s" in decision
    assert 0.4 <= waited(decision) <= 0.45  # the server's hint, plus a little spread
    assert len(openai_server.calls) == 2


def test_retry_after_beyond_the_limit_gives_up_at_once_with_the_hint(
    openai_server: OpenAIServer, caplog: pytest.LogCaptureFixture
) -> None:
    openai_server.inject("429", retry_after=120)
    with caplog.at_level(logging.INFO), pytest.raises(RateLimitError) as info:
        run(collect(backend_for(openai_server)))
    (decision,) = decisions(caplog)
    assert "giving up" in decision and len(openai_server.calls) == 1  # no wait, no retry
    assert info.value.retry_after == 120 and info.value.status_code == 429
    assert info.value.request_id and info.value.model == "test-model"


@pytest.mark.parametrize(
    ("status", "error"),
    [("429", RateLimitError), ("500", ServerError), ("503", ServerError)],
)
def test_persistent_failure_raises_the_engine_error_with_context(
    openai_server: OpenAIServer, status: str, error: type[BackendError]
) -> None:
    openai_server.inject(status, times=10)  # type: ignore[arg-type]
    with pytest.raises(error) as info:
        run(collect(backend_for(openai_server)))
    assert info.value.status_code == int(status)
    assert info.value.provider == "custom" and info.value.request_id is not None
    assert len(openai_server.calls) == QUICK_RETRY.max_retries + 1


@pytest.mark.parametrize(
    ("status", "error"),
    [("400", BadRequestError), ("404", BadRequestError), ("401", AuthenticationError)],
)
def test_client_errors_are_not_retried(
    openai_server: OpenAIServer, status: str, error: type[BackendError]
) -> None:
    openai_server.inject(status, times=10)  # type: ignore[arg-type]
    with pytest.raises(error):
        run(collect(backend_for(openai_server)))
    assert len(openai_server.calls) == 1


def test_first_byte_later_than_the_timeout_is_retried(
    openai_server: OpenAIServer, caplog: pytest.LogCaptureFixture
) -> None:
    openai_server.inject("slow", delay_s=2.0)
    with caplog.at_level(logging.INFO):
        chunks = run(collect(backend_for(openai_server)))
    assert "".join(c.text for c in chunks) == REPLY
    (decision,) = decisions(caplog)  # the slow attempt was given up for a new one
    assert "no response within the time allowed" in decision and "retrying" in decision
    assert len(openai_server.calls) == 2


def test_server_that_never_answers_in_time_raises_timeout(
    openai_server: OpenAIServer, caplog: pytest.LogCaptureFixture
) -> None:
    openai_server.inject("slow", delay_s=3.0, times=10)
    with caplog.at_level(logging.INFO), pytest.raises(BackendTimeoutError) as info:
        run(collect(backend_for(openai_server)))
    assert info.value.model == "test-model"
    assert "within the time allowed" in str(info.value)
    steps = decisions(caplog)
    assert len(steps) <= QUICK_RETRY.max_retries + 1 and "giving up" in steps[-1]


def test_total_timeout_bounds_a_slow_stream(openai_server: OpenAIServer) -> None:
    openai_server.tokens_per_s = 4  # 7 pieces take ~1.5 s
    backend = backend_for(openai_server, timeouts=Timeouts(first_token=0.5, idle=0.5, total=0.8))
    with pytest.raises(BackendTimeoutError, match="reply not finished"):  # the total, not idle
        run(collect(backend))
    assert len(openai_server.calls) == 1  # text had reached the caller: not retried


def test_stream_that_goes_silent_raises_timeout(openai_server: OpenAIServer) -> None:
    openai_server.inject("stall", after_chunks=2, delay_s=3.0)
    with pytest.raises(BackendTimeoutError, match="silent"):
        run(collect(backend_for(openai_server)))


def test_stream_cut_mid_way_raises_stream_error_without_repeating_text(
    openai_server: OpenAIServer,
) -> None:
    openai_server.inject("cut", after_chunks=2)
    seen: list[str] = []

    async def consume() -> None:
        backend = backend_for(openai_server)
        try:
            async for chunk in backend.stream(make_prompt()):
                seen.append(chunk.text)
        finally:
            await backend.aclose()

    with pytest.raises(StreamError) as info:
        run(asyncio.wait_for(consume(), 8))
    assert "".join(seen) == "Hello there, "
    assert info.value.request_id is not None
    assert len(openai_server.calls) == 1


def test_stream_cut_before_any_text_is_retried(openai_server: OpenAIServer) -> None:
    openai_server.inject("cut", after_chunks=0)
    chunks = run(collect(backend_for(openai_server)))
    assert "".join(c.text for c in chunks) == REPLY


def test_malformed_sse_line_after_text_raises_stream_error(openai_server: OpenAIServer) -> None:
    openai_server.inject("malformed", after_chunks=3)
    with pytest.raises(StreamError, match="unparseable"):
        run(collect(backend_for(openai_server)))


def test_malformed_sse_line_before_text_is_retried(openai_server: OpenAIServer) -> None:
    openai_server.inject("malformed", after_chunks=0)
    chunks = run(collect(backend_for(openai_server)))
    assert "".join(c.text for c in chunks) == REPLY


def test_error_event_mid_stream_raises_stream_error(openai_server: OpenAIServer) -> None:
    openai_server.inject("error_event", after_chunks=2)
    with pytest.raises(StreamError, match="overloaded"):
        run(collect(backend_for(openai_server)))


def test_error_event_before_text_is_retried(openai_server: OpenAIServer) -> None:
    openai_server.inject("error_event", after_chunks=0)
    chunks = run(collect(backend_for(openai_server)))
    assert "".join(c.text for c in chunks) == REPLY


def test_dropped_connection_is_retried(openai_server: OpenAIServer) -> None:
    openai_server.inject("drop")
    chunks = run(collect(backend_for(openai_server)))
    assert "".join(c.text for c in chunks) == REPLY


def test_connection_refused_raises_unavailable_after_retries(
    caplog: pytest.LogCaptureFixture,
) -> None:
    backend = OpenAIBackend(
        base_url=refused_base_url(), model="m", timeouts=FAST, retry=QUICK_RETRY
    )
    with caplog.at_level(logging.INFO), pytest.raises(BackendUnavailableError) as info:
        run(collect(backend))
    assert info.value.model == "m" and info.value.provider == "custom"
    steps = decisions(caplog)
    assert len(steps) == QUICK_RETRY.max_retries + 1 and "giving up" in steps[-1]
    assert all(waited(step) <= QUICK_RETRY.max_delay * 1.25 for step in steps[:-1])


def test_cancelling_the_consumer_closes_the_http_stream(openai_server: OpenAIServer) -> None:
    openai_server.reply = " ".join(["word"] * 200)
    openai_server.tokens_per_s = 100

    async def scenario() -> int:
        backend = backend_for(openai_server, timeouts=Timeouts(first_token=1, idle=1, total=10))
        received = 0

        async def consume() -> None:
            nonlocal received
            async for chunk in backend.stream(make_prompt()):
                received += bool(chunk.text)

        task = asyncio.create_task(consume())
        while received < 3:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await backend.aclose()
        return received

    received = run(asyncio.wait_for(scenario(), 8))
    assert received < 50
    deadline = time.monotonic() + 3
    while openai_server.disconnects == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert openai_server.disconnects == 1


def test_no_key_for_a_cloud_preset_is_an_authentication_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("DEEPSEEK_API_KEY", raising=False)
    with pytest.raises(AuthenticationError, match="DEEPSEEK_API_KEY"):
        OpenAIBackend(preset="deepseek")


def test_wrong_key_is_an_authentication_error(openai_server: OpenAIServer) -> None:
    openai_server.api_key = "right"
    backend = OpenAIBackend(
        base_url=openai_server.base_url,
        api_key="wrong",
        model="m",
        timeouts=FAST,
        retry=QUICK_RETRY,
    )
    with pytest.raises(AuthenticationError) as info:
        run(collect(backend))
    assert info.value.status_code == 401


# -- structured output -------------------------------------------------------------------


def complete_mood(backend: OpenAIBackend) -> Mood:
    async def go() -> Mood:
        try:
            return await asyncio.wait_for(backend.complete_json(make_prompt(), Mood), 8)
        finally:
            await backend.aclose()

    result: Mood = run(go())
    return result


def test_complete_json_uses_json_schema_when_supported(openai_server: OpenAIServer) -> None:
    openai_server.json_reply = {"emotion": "happy", "strength": 0.8}
    assert complete_mood(backend_for(openai_server, structured="json_schema")) == Mood(
        emotion="happy", strength=0.8
    )
    response_format = openai_server.requests[0]["response_format"]
    assert response_format["type"] == "json_schema"
    assert response_format["json_schema"]["schema"]["required"] == ["emotion", "strength"]


def test_complete_json_falls_back_to_json_object_with_schema_in_prompt(
    openai_server: OpenAIServer,
) -> None:
    openai_server.structured = "json_object"
    openai_server.json_reply = '```json\n{"emotion": "sad", "strength": 0.2}\n```'
    assert complete_mood(backend_for(openai_server, structured="json_object")) == Mood(
        emotion="sad", strength=0.2
    )
    body = openai_server.requests[0]
    assert body["response_format"] == {"type": "json_object"}
    assert (
        "JSON schema" in body["messages"][-1]["content"]
        and "strength" in body["messages"][-1]["content"]
    )


def test_invalid_json_is_repaired_once(openai_server: OpenAIServer) -> None:
    openai_server.json_reply = {"emotion": "happy", "strength": 0.5}
    openai_server.inject("invalid_json")
    assert complete_mood(backend_for(openai_server)).emotion == "happy"
    repair = openai_server.requests[1]["messages"]
    assert repair[-2]["role"] == "assistant" and "not valid" in repair[-1]["content"]


def test_reply_failing_validation_twice_raises_structured_output_error(
    openai_server: OpenAIServer,
) -> None:
    openai_server.json_reply = {"emotion": "happy", "strength": 7}
    with pytest.raises(StructuredOutputError) as info:
        complete_mood(backend_for(openai_server))
    assert info.value.raw is not None and '"strength": 7' in info.value.raw
    assert len(openai_server.calls) == 2


def test_invalid_json_twice_raises_structured_output_error(openai_server: OpenAIServer) -> None:
    openai_server.inject("invalid_json", times=2)
    with pytest.raises(StructuredOutputError):
        complete_mood(backend_for(openai_server))


# -- presets ------------------------------------------------------------------------------


def test_every_preset_is_complete() -> None:
    assert set(PRESETS) == {
        "openai", "deepseek", "qwen", "kimi", "glm", "ernie", "doubao", "ollama", "vllm", "lmstudio", "llamacpp",
    }  # fmt: skip
    for preset in PRESETS.values():
        assert preset.base_url.startswith(("https://", "http://localhost"))
        assert preset.key_env and preset.default_model
        assert preset.capabilities().structured == preset.structured


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_preset_streams_and_answers_json_against_a_server_with_its_quirks(name: str) -> None:
    preset = PRESETS[name]
    server = OpenAIServer(
        structured=preset.structured,
        api_key="k-" + name,
        json_reply={"emotion": "happy", "strength": 0.9},
    )
    with server:
        local: Preset = preset.model_copy(
            update={"base_url": server.base_url, "base_url_env": None}
        )
        backend = OpenAIBackend(preset=local, api_key="k-" + name, timeouts=FAST, retry=QUICK_RETRY)
        params = GenerationParams(
            temperature=1.5, max_tokens=20, stop=("\nA:", "\nB:", "\nC:", "\nD:", "\nE:")
        )
        chunks = run(collect(backend, params=params))
        assert "".join(c.text for c in chunks) == REPLY
        assert complete_mood(backend).emotion == "happy"
        streamed, structured = server.requests
    assert backend.name == f"{name}:{preset.default_model}"
    assert streamed["model"] == preset.default_model
    assert streamed[preset.token_limit_field] == 20
    low, high = preset.temperature_range
    assert low <= streamed["temperature"] <= high
    assert len(streamed["stop"]) <= (preset.max_stop or 4)
    for key, value in preset.extra_body.items():
        assert streamed[key] == value and structured[key] == value
    assert structured["response_format"]["type"] == preset.structured


def _formats(server: OpenAIServer) -> list[str]:
    return [(b.get("response_format") or {}).get("type", "text") for b in server.requests]


@pytest.mark.parametrize(
    ("accepts", "status", "expected"),
    [
        ("json_object", 400, ["json_schema", "json_object", "json_object"]),  # DeepSeek
        ("json_object", 500, ["json_schema", "json_object", "json_object"]),  # llama_cpp.server
        ("none", 500, ["json_schema", "json_object", "text", "text"]),
    ],
)
def test_a_refused_response_format_is_learned_once_and_the_next_form_used(
    openai_server: OpenAIServer, accepts: str, status: int, expected: list[str]
) -> None:
    openai_server.structured = accepts  # type: ignore[assignment]
    openai_server.refusal_status = status
    openai_server.json_reply = {"emotion": "happy", "strength": 0.5}
    openai_server.reply = 'Here: {"emotion": "happy", "strength": 0.5}'  # plain text, no format
    backend = backend_for(openai_server, structured="json_schema")
    assert complete_mood(backend) == Mood(emotion="happy", strength=0.5)
    assert complete_mood(backend) == Mood(emotion="happy", strength=0.5)
    # One refused request per weaker form, no retries of a refusal, then the learned form.
    assert _formats(openai_server) == expected
    assert backend.capabilities.structured == accepts


def test_a_server_error_that_is_not_about_the_format_is_still_retried(
    openai_server: OpenAIServer,
) -> None:
    openai_server.inject("500", times=1)
    openai_server.json_reply = {"emotion": "happy", "strength": 0.5}
    backend = backend_for(openai_server, structured="json_schema")
    assert complete_mood(backend) == Mood(emotion="happy", strength=0.5)
    assert _formats(openai_server) == ["json_schema", "json_schema"]
    assert backend.capabilities.structured == "json_schema"


def test_unknown_preset_is_a_clear_error() -> None:
    with pytest.raises(BadRequestError, match="known: deepseek"):
        OpenAIBackend(preset="nonesuch")


def test_base_url_override_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OLLAMA_BASE_URL", "http://127.0.0.1:9/v1")
    assert OpenAIBackend(preset="ollama").base_url == "http://127.0.0.1:9/v1"


# -- embeddings ---------------------------------------------------------------------------


def test_embedder_returns_normalised_float32_rows(openai_server: OpenAIServer) -> None:
    embedder = OpenAIEmbedder(base_url=openai_server.base_url, model="embed", api_key="x")
    vectors = embedder.embed(
        ["the tea house", "the tea house!", "a dragon in the market"], kind="passage"
    )
    assert vectors.shape == (3, 32) and str(vectors.dtype) == "float32"
    norms = (vectors**2).sum(axis=1)
    assert all(abs(n - 1) < 1e-5 for n in norms)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]
    assert embedder.dim == 32
    embedder.close()


def test_embedder_prefixes_and_batches(openai_server: OpenAIServer) -> None:
    embedder = OpenAIEmbedder(
        base_url=openai_server.base_url,
        model="e5",
        api_key="x",
        prefixes=("query: ", "passage: "),
        batch_size=2,
    )
    assert embedder.embed(["a", "b", "c"], kind="query").shape == (3, 32)
    inputs = [body["input"] for body in openai_server.requests]
    assert inputs == [["query: a", "query: b"], ["query: c"]]
    embedder.close()


def test_embedder_retries_then_raises_engine_error(openai_server: OpenAIServer) -> None:
    embedder = OpenAIEmbedder(
        base_url=openai_server.base_url, model="e", api_key="x", retry=QUICK_RETRY
    )
    openai_server.inject("503")
    assert embedder.embed(["hi"], kind="query").shape == (1, 32)
    openai_server.inject("500", times=10)
    with pytest.raises(ServerError):
        embedder.embed(["hi"], kind="query")
    embedder.close()


def test_server_records_requests_as_json(openai_server: OpenAIServer) -> None:
    run(collect(backend_for(openai_server)))
    assert json.dumps(openai_server.requests)
    assert openai_server.calls[0].headers["authorization"] == "Bearer not-needed"


def test_completion_mode_complete_json_asks_after_the_transcript(
    openai_server: OpenAIServer,
) -> None:
    openai_server.inject("invalid_json")
    openai_server.reply = '{"emotion": "thinking", "strength": 0.3}'
    assert complete_mood(backend_for(openai_server, mode="completion")) == Mood(
        emotion="thinking", strength=0.3
    )
    first, repair = (body["prompt"] for body in openai_server.requests)
    assert (
        first.startswith("You are Mira")
        and "Ada: Hi there!\n" in first
        and first.endswith("\nJSON:")
    )
    assert "JSON schema" in first and "response_format" not in openai_server.requests[0]
    assert 'JSON: {"reply"' in repair and "not valid" in repair and repair.endswith("\nJSON:")


def test_plain_complete_returns_the_whole_reply(openai_server: OpenAIServer) -> None:
    async def go() -> str:
        backend = backend_for(openai_server)
        try:
            return await asyncio.wait_for(backend.complete(make_prompt()), 8)
        finally:
            await backend.aclose()

    assert run(go()) == REPLY
    assert "stream" not in openai_server.requests[0]


def test_a_slow_whole_reply_is_allowed_the_total_time_not_the_first_token_limit(
    openai_server: OpenAIServer,
) -> None:
    openai_server.latency_s = 0.8  # longer than FAST.first_token and FAST.idle, within total
    openai_server.json_reply = {"emotion": "calm", "strength": 0.1}
    assert (
        complete_mood(backend_for(openai_server, retry=RetryPolicy(max_retries=0))).emotion
        == "calm"
    )
