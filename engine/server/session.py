"""A player's socket session: JSON messages in, a turn's messages out, in order.

The socket authenticates once (``Authorization: Bearer`` header, or ``?token=`` for browsers,
which cannot set socket headers), then the server sends ``hello``. Each ``say`` or ``greet``
starts a turn whose messages (``started``, ``delta``, ``sentence``, ``warning``, ``done`` or
``failed``) are sent as they come; several turns may run at once, up to the player's limit.
A refused message gets an ``error`` message and the socket stays open; a refused connection
gets an ``error`` and the close code ``4000 + HTTP status`` (4401, 4403, 4429, 4503).
Closing the socket cancels the session's running turns (the player walked away).

Messages leave through one queue and one sender task per socket, so a slow client only
delays itself, and every turn's messages keep their order.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ValidationError
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from engine.runtime.events import TurnHandle
from engine.server.auth import ApiError, Principal
from engine.server.protocol import (
    CancelMessage,
    ErrorMessage,
    GreetMessage,
    HelloMessage,
    Limits,
    PingMessage,
    PongMessage,
    SayMessage,
    SentenceMessage,
    client_message,
)
from engine.server.service import Service, TurnRun

__all__ = ["MAX_QUEUED", "run_session"]

log = logging.getLogger(__name__)
access_log = logging.getLogger("engine.server.access")

#: Messages queued for one slow client before the socket is closed (1008): memory stays bounded.
MAX_QUEUED = 4096


def _credential(websocket: WebSocket) -> str | None:
    header = websocket.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip()
    return websocket.query_params.get("token")


async def _refuse(websocket: WebSocket, exc: ApiError) -> None:
    await websocket.accept()
    await websocket.send_text(ErrorMessage(code=exc.code, message=str(exc)).model_dump_json())
    await websocket.close(code=4000 + exc.status, reason=exc.code)


async def run_session(service: Service, websocket: WebSocket) -> None:
    """Serve one socket until it closes."""
    try:
        who = service.authenticate(_credential(websocket))
        player = who.acting_player(websocket.query_params.get("player"))
        if player in service.runtime.characters:
            raise ApiError(422, "invalid", "a player id may not be a character id")
        if service.draining:
            raise ApiError(503, "draining", "the server is shutting down")
        slot = service.limiter.acquire("connections", who, player)
    except ApiError as exc:
        service.metrics.refusal(exc.code)
        await _refuse(websocket, exc)
        return
    await websocket.accept()
    opened = time.monotonic()
    access_log.info(
        json.dumps(
            {"socket": "/v1/session", "event": "open", "who": who.subject}, ensure_ascii=False
        )
    )
    service.sockets.add(websocket)
    service.metrics.active_sessions += 1
    outbox: asyncio.Queue[tuple[str, TurnRun | None] | None] = asyncio.Queue()
    turns: dict[int, TurnHandle] = {}
    state = {"overflow": False}

    def send(message: BaseModel | None, run: TurnRun | None = None) -> None:
        if message is None:
            return
        if outbox.qsize() >= MAX_QUEUED:
            state["overflow"] = True
            return
        first = run if isinstance(message, SentenceMessage) and message.index == 0 else None
        outbox.put_nowait((message.model_dump_json(), first))

    sender = asyncio.create_task(_send_all(websocket, outbox, state))
    limits = service.limiter.settings
    send(
        HelloMessage(
            player=player,
            characters=who.visible(service.runtime.characters),
            limits=Limits(
                max_message_bytes=limits.max_message_bytes,
                max_line_chars=limits.max_line_chars,
                max_concurrent_turns=limits.player_concurrent_turns,
            ),
        )
    )
    try:
        while True:
            raw = await websocket.receive()
            received = time.perf_counter()
            if raw["type"] == "websocket.disconnect":
                break
            data: Any = raw.get("text") if raw.get("text") is not None else raw.get("bytes")
            if data is None:
                continue
            if len(data) > limits.max_message_bytes:
                service.metrics.refusal("message_too_large")
                send(
                    ErrorMessage(
                        code="message_too_large",
                        message=f"messages are at most {limits.max_message_bytes} bytes",
                    )
                )
                continue
            try:
                service.limiter.hit(who, player)
                message = client_message(data)
            except ApiError as exc:
                service.metrics.refusal(exc.code)
                send(ErrorMessage(code=exc.code, message=str(exc)))
                continue
            except ValidationError as exc:
                service.metrics.refusal("bad_message")
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first["loc"])
                send(ErrorMessage(code="bad_message", message=f"{where}: {first['msg']}"[:300]))
                continue
            _handle(service, who, player, message, turns, send, received)
    except WebSocketDisconnect:
        pass
    finally:
        for handle in list(turns.values()):
            if not handle.done:
                service.cancel(handle)
        service.sockets.discard(websocket)
        service.metrics.active_sessions -= 1
        slot.release()
        access_log.info(
            json.dumps(
                {
                    "socket": "/v1/session",
                    "event": "closed",
                    "who": who.subject,
                    "s": round(time.monotonic() - opened, 1),
                },
                ensure_ascii=False,
            )
        )
        outbox.put_nowait(None)
        try:
            await asyncio.wait_for(sender, 1.0)
        except (TimeoutError, asyncio.CancelledError):
            sender.cancel()


def _handle(
    service: Service,
    who: Principal,
    player: str,
    message: SayMessage | GreetMessage | CancelMessage | PingMessage,
    turns: dict[int, TurnHandle],
    send: Callable[[BaseModel | None, TurnRun | None], None],
    received: float,
) -> None:
    if isinstance(message, PingMessage):
        send(PongMessage(), None)
        return
    if isinstance(message, CancelMessage):
        handle = turns.get(message.turn)
        if handle is None:
            send(
                ErrorMessage(
                    code="unknown_turn", message=f"no running turn {message.turn} in this session"
                ),
                None,
            )
        else:
            service.cancel(handle)
        return
    kind = "say" if isinstance(message, SayMessage) else "greet"
    text = message.text if isinstance(message, SayMessage) else ""

    holder: list[TurnRun] = []

    def deliver(out: BaseModel | None, _turns: dict[int, TurnHandle] = turns) -> None:
        if out is None:
            for turn_id in [t for t, h in _turns.items() if h.done]:
                del _turns[turn_id]
        send(out, holder[0] if holder else None)

    try:
        run = service.start_turn(
            who, player, message.character, kind=kind, text=text,
            player_name=message.player_name, ref=message.ref, deliver=deliver, received=received,
        )  # fmt: skip
        holder.append(run)
    except ApiError as exc:
        service.metrics.refusal(exc.code)
        send(ErrorMessage(code=exc.code, message=str(exc), ref=message.ref), None)
        return
    assert run.handle is not None
    turns[run.handle.id] = run.handle


async def _send_all(
    websocket: WebSocket,
    outbox: asyncio.Queue[tuple[str, TurnRun | None] | None],
    state: dict[str, bool],
) -> None:
    try:
        while (item := await outbox.get()) is not None:
            # Everything queued goes out in this one step of the task (a write does not wait
            # unless the client is slow), not one wake-up per message.
            while item is not None:
                if state["overflow"]:
                    await websocket.close(code=1008, reason="client too slow")
                    return
                if websocket.application_state != WebSocketState.CONNECTED:
                    return
                text, first_of = item
                await websocket.send_text(text)
                if first_of is not None:
                    first_of.first_sentence_sent()
                if outbox.empty():
                    break
                item = outbox.get_nowait()
            if item is None:
                return
    except (WebSocketDisconnect, RuntimeError, OSError):
        pass
