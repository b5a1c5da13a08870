"""The OpenAI backend's server-sent-events reader, on byte streams split anywhere."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from engine.backends.openai.sse import sse_batches

STREAM = (
    ": keep-alive comment\r\n"
    "event: message\r\n"
    'data: {"text": "héllo, 你好"}\r\n'
    "\r\n"
    "data: first line\n"
    "data:second line\n"
    "id: 7\n"
    "\n"
    "data: [DONE]\n"
    "\n"
).encode()
EXPECTED = ['{"text": "héllo, 你好"}', "first line\nsecond line", "[DONE]"]


def events_of(chunks: list[bytes]) -> list[str]:
    async def source() -> AsyncIterator[bytes]:
        for chunk in chunks:
            yield chunk

    async def collect() -> list[str]:
        return [data async for batch in sse_batches(source()) for data in batch]

    return asyncio.run(collect())


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64, len(STREAM)])
def test_events_are_the_same_however_the_bytes_are_split(size: int) -> None:
    chunks = [STREAM[i : i + size] for i in range(0, len(STREAM), size)]
    assert events_of(chunks) == EXPECTED


def test_a_last_event_without_a_blank_line_is_kept() -> None:
    assert events_of([b"data: one\n\ndata: two"]) == ["one", "two"]


def test_comments_and_other_fields_alone_make_no_event() -> None:
    assert events_of([b": ping\n\nevent: x\nretry: 5\n\n"]) == []
