"""Reading a server-sent event stream: the ``data`` of each event, bounded in size.

:func:`sse_batches` turns the bytes of a streamed reply into its events' data, a batch per read
(what the bytes that arrived completed); :func:`drain` reads what follows the last event, so
the connection can go back to its pool. Pure byte handling: no client, no JSON.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterable, AsyncIterator
from typing import Any

from engine.backends.openai.retry import ReplyTooLarge

__all__ = ["MAX_SSE_EVENT", "MAX_SSE_LINE", "drain", "sse_batches"]

log = logging.getLogger(__name__)

#: Longest line of a server-sent event stream, and longest event (its data lines joined).
MAX_SSE_LINE = 1024 * 1024
MAX_SSE_EVENT = 4 * 1024 * 1024


async def sse_batches(chunks: AsyncIterable[bytes]) -> AsyncIterator[list[str]]:
    """The ``data`` of the server-sent events in a byte stream (multi-line data joined), as a
    list per piece of bytes: the events that piece completed.

    Comments, ``event:``, ``id:`` and ``retry:`` fields are skipped; the bytes may split
    anywhere, even inside a UTF-8 sequence. A line over :data:`MAX_SSE_LINE` bytes or an event
    over :data:`MAX_SSE_EVENT` raises :class:`ReplyTooLarge`; the unfinished line is kept in a
    bytearray searched only where new bytes arrived, so a stream costs time linear in its size.
    """
    pending = bytearray()
    data: list[bytes] = []
    held = 0
    async for chunk in chunks:
        searched = len(pending)
        pending += chunk
        if pending.find(b"\n", searched) < 0:
            if len(pending) > MAX_SSE_LINE:
                raise ReplyTooLarge(
                    f"an event stream line is over the limit of {MAX_SSE_LINE} bytes"
                )
            continue
        cut = pending.rfind(b"\n") + 1
        lines = bytes(pending[:cut]).split(b"\n")
        lines.pop()  # the empty piece after the last newline
        del pending[:cut]
        if len(pending) > MAX_SSE_LINE:
            raise ReplyTooLarge(f"an event stream line is over the limit of {MAX_SSE_LINE} bytes")
        batch: list[str] = []
        for line in lines:
            if line.endswith(b"\r"):
                line = line[:-1]
            if not line:
                if data:
                    batch.append(b"\n".join(data).decode("utf-8"))
                    data = []
                    held = 0
            elif line.startswith(b"data:"):
                value = line[5:]
                if len(value) > MAX_SSE_LINE:
                    raise ReplyTooLarge(
                        f"an event stream line is over the limit of {MAX_SSE_LINE} bytes"
                    )
                held += len(value)
                if held > MAX_SSE_EVENT:
                    raise ReplyTooLarge(f"an event is over the limit of {MAX_SSE_EVENT} bytes")
                data.append(value[1:] if value.startswith(b" ") else value)
        if batch:
            yield batch
    if pending.startswith(b"data:"):
        value = bytes(pending[5:]).rstrip(b"\r")
        data.append(value[1:] if value.startswith(b" ") else value)
    if data:
        yield [b"\n".join(data).decode("utf-8")]


async def drain(events: AsyncIterator[Any]) -> None:
    """Read what follows ``[DONE]`` (the end of the chunked body), briefly.

    An HTTP/1.1 connection goes back to the pool only when its response was read to the end;
    closing it half-read costs a new connection (and a server thread or task) per request.
    """
    try:
        async with asyncio.timeout(0.1):
            async for _ in events:
                pass
    except Exception:  # noqa: BLE001 (the reply is complete; only the connection is lost)
        log.debug("draining a finished stream failed", exc_info=True)
