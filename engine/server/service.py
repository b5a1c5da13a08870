"""The service: one :class:`~engine.runtime.Runtime` per world, shared by every session.

It authenticates credentials, applies limits, starts turns through the runtime's public API
(``say``/``greet`` with a ``sink``, so each turn's events come straight back to the server's
event loop instead of through ``poll()``), turns events into protocol messages, keeps the
metrics, and drains at shutdown: new turns are refused, turns in flight may finish (bounded),
the rest are cancelled, the runtime closes and flushes the store.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from engine.runtime import Runtime
from engine.runtime.events import Event, Sentence, TurnDone, TurnFailed, TurnHandle
from engine.server.auth import ApiError, Keyring, Principal
from engine.server.limits import Limiter, Slot
from engine.server.metrics import Metrics
from engine.server.protocol import event_message

__all__ = ["Service", "TurnRun"]

log = logging.getLogger(__name__)
access_log = logging.getLogger("engine.server.access")

#: Called on the server's loop with each message of a turn, then once with None at its end.
Deliver = Callable[[BaseModel | None], None]


class TurnRun:
    """One turn in flight: its handle, its held limit slot and its timing.

    Timing, for the metrics: ``received`` when the request arrived, ``submitted`` when it was
    handed to the runtime, ``emitted`` when the runtime produced the first sentence (on its
    own thread). When a transport has sent that sentence it calls :meth:`first_sentence_sent`,
    which records the first-sentence latency and the server's own share of it (what it added
    before the runtime started and after the sentence was ready).
    """

    __slots__ = (
        "deliver",
        "emitted",
        "handle",
        "kind",
        "received",
        "ref",
        "service",
        "slot",
        "submitted",
    )

    def __init__(
        self,
        service: Service,
        slot: Slot,
        kind: str,
        ref: str | None,
        deliver: Deliver,
        received: float,
    ) -> None:
        self.service = service
        self.slot = slot
        self.kind = kind
        self.ref = ref
        self.deliver = deliver
        self.received = received
        self.submitted = received
        self.emitted: float | None = None
        self.handle: TurnHandle | None = None

    def on_event(self, event: Event) -> None:
        """Runs on the server's loop for each event of the turn."""
        message = event_message(event, self.ref)
        metrics = self.service.metrics
        if message is not None:
            self.deliver(message)
        if isinstance(event, TurnDone | TurnFailed):
            self.slot.release()
            metrics.active_turns -= 1
            self.service.running.pop(event.handle_id, None)
            if isinstance(event, TurnDone):
                metrics.turn_finished(self.kind, "done")
                usage = event.result.usage
                metrics.used_tokens(usage.prompt_tokens, usage.completion_tokens)
            else:
                metrics.turn_finished(self.kind, "failed", event.reason.value)
            self.deliver(None)

    def first_sentence_sent(self) -> None:
        """The transport has sent the turn's first sentence."""
        now = time.perf_counter()
        metrics = self.service.metrics
        metrics.first_sentence(now - self.received)
        if self.emitted is not None:
            metrics.overhead((self.submitted - self.received) + (now - self.emitted))


class _Inbox:
    """Events from the runtime's thread to the server's loop, woken once per burst.

    A wake-up is a write to the loop's self-pipe; with hundreds of replies streaming, one per
    event would cost a system call each. The flag is cleared before the queue is read, so an
    event put after that point is either read in this pass or schedules the next one.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._queue: deque[tuple[TurnRun, Event]] = deque()
        self._pending = False

    def put(self, run: TurnRun, event: Event) -> None:
        self._queue.append((run, event))
        if not self._pending:
            self._pending = True
            try:
                self._loop.call_soon_threadsafe(self._drain)
            except RuntimeError:  # the server's loop is closed
                pass

    def _drain(self) -> None:
        self._pending = False
        queue = self._queue
        while queue:
            run, event = queue.popleft()
            try:
                run.on_event(event)
            except Exception:
                log.exception("delivering an event of turn %s failed", event.handle_id)


class Service:
    """What every route and socket shares: the runtime, credentials, limits, metrics."""

    def __init__(
        self,
        runtime: Runtime,
        keyring: Keyring,
        limiter: Limiter,
        *,
        characters_dir: str | None = None,
        shutdown_timeout_s: float = 10.0,
        max_token_ttl_s: int = 3600,
        allow_character_writes: bool = True,
        log_text: bool = False,
    ) -> None:
        self.runtime = runtime
        self.keyring = keyring
        self.limiter = limiter
        self.metrics = Metrics()
        self.characters_dir = characters_dir
        self.shutdown_timeout_s = shutdown_timeout_s
        self.max_token_ttl_s = max_token_ttl_s
        self.allow_character_writes = allow_character_writes
        self.log_text = log_text
        self.draining = False
        self.running: dict[int, TurnRun] = {}
        self.sockets: set[Any] = set()
        self._inbox: _Inbox | None = None

    # ------------------------------------------------------------------ credentials

    def authenticate(self, credential: str | None) -> Principal:
        try:
            return self.keyring.authenticate(credential)
        except ApiError as exc:
            self.metrics.refusal(exc.code)
            raise

    # ------------------------------------------------------------------ turns

    def start_turn(
        self,
        principal: Principal,
        player: str,
        character: str,
        *,
        kind: str,
        text: str = "",
        player_name: str | None = None,
        ref: str | None = None,
        deliver: Deliver,
        received: float | None = None,
    ) -> TurnRun:
        """Check everything, start the turn, return its run; :class:`ApiError` when refused.

        Must be called on the server's event loop. ``deliver`` gets each message of the turn
        (``started`` first, ``done`` or ``failed`` last), then None. ``received`` is when the
        request arrived (``time.perf_counter()``; default now).
        """
        if self.draining or self.runtime.closed:
            raise ApiError(503, "draining", "the server is shutting down; try another one")
        principal.check_character(character)
        if character not in self.runtime.characters:
            raise ApiError(404, "unknown_character", f"no character {character!r}")
        if kind == "say":
            self.limiter.check_line(text)
        if player_name is not None and len(player_name) > 64:
            raise ApiError(422, "name_too_long", "player_name has more than 64 characters")
        slot = self.limiter.acquire("turns", principal, player)
        if self._inbox is None:
            self._inbox = _Inbox(asyncio.get_running_loop())
        run = TurnRun(
            self, slot, kind, ref, deliver, time.perf_counter() if received is None else received
        )
        inbox = self._inbox

        def sink(event: Event) -> None:  # on the runtime's thread
            if run.emitted is None and isinstance(event, Sentence):
                run.emitted = time.perf_counter()
            inbox.put(run, event)

        if self.log_text:  # the operator asked for players' lines in the access log
            access_log.info(json.dumps({"turn": kind, "player": player, "character": character, "text": text},
                                       ensure_ascii=False))  # fmt: skip
        run.submitted = time.perf_counter()
        try:
            if kind == "greet":
                handle = self.runtime.greet(character, player, player_name=player_name, sink=sink)
            else:
                handle = self.runtime.say(
                    character, player, text, player_name=player_name, sink=sink
                )
        except Exception as exc:
            slot.release()
            raise ApiError(422, "invalid", str(exc)) from exc
        run.handle = handle
        self.running[handle.id] = run
        self.metrics.active_turns += 1
        return run

    def cancel(self, handle: TurnHandle) -> None:
        self.runtime.cancel(handle)

    # ------------------------------------------------------------------ store queries

    async def query(self, future: Any, *, timeout: float = 10.0) -> Any:
        """Await a runtime store future (memories, facts, export...) from the server's loop."""
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), timeout)
        except TimeoutError as exc:
            raise ApiError(503, "busy", "the world's store did not answer in time") from exc

    # ------------------------------------------------------------------ shutdown

    async def drain(self) -> None:
        """Refuse new turns, let running ones finish (bounded), cancel the rest, close sockets."""
        if self.draining:
            return
        self.draining = True
        deadline = time.monotonic() + self.shutdown_timeout_s
        while self.running and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        if self.running:
            log.warning("cancelling %d turns still running at shutdown", len(self.running))
            for run in list(self.running.values()):
                if run.handle is not None:
                    self.runtime.cancel(run.handle)
            end = time.monotonic() + 2.0
            while self.running and time.monotonic() < end:
                await asyncio.sleep(0.02)
        for socket in list(self.sockets):
            try:
                await socket.close(code=1001, reason="server shutting down")
            except Exception:  # already gone
                pass

    def close(self) -> None:
        """Close the runtime: everything handed to the store is written first."""
        self.runtime.close(timeout=self.shutdown_timeout_s)
