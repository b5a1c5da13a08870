"""A hostile server cannot make the HTTP client buffer without bound or starve the event loop:
non-streamed bodies, chunk sizes and SSE lines are capped, and buffers grow linearly."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from test_backends_http import RawServer, _read_request

from engine.backends import OpenAIBackend
from engine.backends.openai.retry import RetryPolicy
from engine.dialogue.prompt import Prompt, Section
from engine.errors import BackendError

PROMPT = Prompt(
    sections=(Section.system("persona", "You are Mira."),), character="Mira", player="Ada"
)
PIECE = b"a" * 65536
#: What the hostile handlers managed to send, in pieces (reset by each test).
SENT = {"pieces": 0}


async def _endless_json(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _read_request(reader)
    writer.write(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 4000000000\r\n\r\n"
    )
    writer.write(b'{"choices": [{"message": {"content": "')
    for _ in range(30_000):  # up to ~2 GB, unless the client stops reading
        writer.write(PIECE)
        await writer.drain()
        SENT["pieces"] += 1


async def _huge_chunk(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _read_request(reader)
    writer.write(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    writer.write(b"ffffffffffffffff\r\n")
    for _ in range(30_000):
        writer.write(PIECE)
        await writer.drain()
        SENT["pieces"] += 1


async def _endless_sse_line(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _read_request(reader)
    writer.write(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    writer.write(b'%x\r\ndata: {"x": "\r\n' % len(b'data: {"x": "'))
    for _ in range(30_000):
        writer.write(b"%x\r\n%s\r\n" % (len(PIECE), PIECE))
        await writer.drain()
        SENT["pieces"] += 1


async def _lag_while(
    work: Callable[[], Awaitable[Any]],
) -> tuple[float, float, BaseException | None]:
    """Run ``work`` while a ticker measures the event loop's worst lag; (seconds, lag, error)."""
    worst = 0.0
    stop = False

    async def ticker() -> None:
        nonlocal worst
        while not stop:
            before = time.perf_counter()
            await asyncio.sleep(0.005)
            worst = max(worst, time.perf_counter() - before - 0.005)

    tick = asyncio.create_task(ticker())
    started = time.perf_counter()
    error: BaseException | None = None
    try:
        await asyncio.wait_for(work(), 30)
    except BaseException as exc:  # noqa: BLE001 (reported to the test)
        error = exc
    elapsed = time.perf_counter() - started
    stop = True
    await tick
    return elapsed, worst, error


@pytest.mark.parametrize(
    ("handler", "call"),
    [(_endless_json, "complete"), (_huge_chunk, "stream"), (_endless_sse_line, "stream")],
    ids=["non-streamed body", "chunk size 2^64", "SSE line without newline"],
)
def test_a_hostile_server_gets_a_clear_error_in_bounded_time(handler: Any, call: str) -> None:
    served = 0
    SENT["pieces"] = 0

    async def first_fine_then_hostile(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        nonlocal served
        served += 1
        if served > 1:
            await handler(reader, writer)
            return
        # The first request warms the client up (its TLS context, its pool), outside the measure.
        await _read_request(reader)
        body = b'{"choices": [{"message": {"content": "hi"}, "finish_reason": "stop"}]}'
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n")
        writer.write(b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        await writer.drain()

    async def go() -> tuple[float, float, BaseException | None]:
        async with RawServer(first_fine_then_hostile) as url:
            backend = OpenAIBackend(
                base_url=url + "/v1", model="m", api_key="k", retry=RetryPolicy(max_retries=0)
            )
            try:
                assert await backend.complete(PROMPT) == "hi"

                async def work() -> None:
                    if call == "complete":
                        await backend.complete(PROMPT)
                    else:
                        async for _ in backend.stream(PROMPT):
                            pass

                return await _lag_while(work)
            finally:
                await backend.aclose()

    _, lag, error = asyncio.run(go())
    assert isinstance(error, BackendError), repr(error)
    assert "limit" in str(error) or "too" in str(error), str(error)
    # The client stopped reading near its cap (8 MiB at most; socket buffers add a little),
    # not after the ~2 GB the server offered.
    assert SENT["pieces"] * len(PIECE) < 32 * 1024 * 1024, SENT
    # Idle, the worst lag is under 10 ms (docs/security.md); the bound leaves room for a loaded
    # machine, far below the seconds a hostile server held the loop before the caps.
    assert lag < 0.25, f"the event loop stalled {lag * 1000:.0f} ms"
