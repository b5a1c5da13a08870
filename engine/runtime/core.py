"""A non-blocking runtime for game loops: submit a line, poll events once a frame, cancel.

Threads::

    game thread          say() / greet() / poll() / cancel()   microseconds, never blocks
        │  call_soon_threadsafe                      ▲  collections.deque (events)
        ▼                                            │
    runtime thread       one asyncio loop: turns, streams, background work
        │  priority queue                            ▲  concurrent Future
        ▼                                            │
    store thread         the one MemoryStore (SQLite): reads and writes in order of priority;
                         turns' lines queued together share one commit

Nothing on the game thread touches SQLite, the network or a model. Requests reach the event
loop through a deque; the loop is woken (a write to its self-pipe, a system call that gives up
the GIL) only when it has no wake-up pending, so a burst of ``say()`` calls costs one system
call, not one each: a thread that gives up the GIL while other threads are busy waits a whole
switch interval (5 ms) to get it back. A turn's own store work
goes before background work (summaries, reflections, queries). Model calls share one
semaphore (``max_concurrency``) per runtime, i.e. per backend.

Example::

    rt = Runtime("world.db", backend=create_backend("scripted"))
    handle = rt.say("mira", "p1", "Hello!", player_name="Ada")
    while running:                       # the game loop
        for event in rt.poll():
            if isinstance(event, Sentence):
                bubble.add(event.text)
            elif isinstance(event, TurnDone):
                face.show(event.result.emotion)
    rt.close()

For asyncio games: ``async for event in rt.stream("mira", "p1", "Hello!")``.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import itertools
import logging
import re
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

from engine.backends.base import Backend
from engine.errors import EngineError, RuntimeClosedError
from engine.memory.embeddings import Embedder
from engine.memory.store import MemoryStore
from engine.persona.model import Persona
from engine.runtime.env import BACKGROUND, FOREGROUND, QUERY, TurnEnv, TurnRequest, TurnSettings
from engine.runtime.events import (
    Event,
    FailureReason,
    TurnDone,
    TurnFailed,
    TurnHandle,
    TurnKind,
    is_final,
)
from engine.runtime.greeting import run_greet
from engine.runtime.safety_gate import SafetyGate
from engine.runtime.scenes import Scene
from engine.runtime.semantics import Semantics, knowledge_texts
from engine.runtime.store_thread import MeterSource, StoreThread
from engine.runtime.turn import failure_reason, fallback_line, keep_cancelled_line, run_say
from engine.safety import Moderator, Policy
from engine.types import Fact, MemoryRecord, Recalled, Relationship, Summary, TurnRecord

__all__ = ["Runtime", "WORLD_PLAYER"]

log = logging.getLogger(__name__)

T = TypeVar("T")

#: The player id under which ``observe`` stores an event no player witnessed.
WORLD_PLAYER = "*world*"

#: The collector's first threshold (allocations between young collections) a runtime sets
#: when it is lower (see ``Runtime(freeze_gc=...)``).
GC_THRESHOLD = 3_000
_SURROGATE = re.compile("[\ud800-\udfff]")


def _valid_unicode(text: str) -> str:
    """``text`` with lone surrogates (characters with no UTF-8 form) replaced by U+FFFD."""
    return _SURROGATE.sub("\ufffd", text) if not text.isascii() else text


def _warm(semantics: Semantics, texts: list[str], _store: object) -> None:
    semantics.warm(texts)


class Runtime:
    """Characters in a world, voiced by one backend, driven from a game loop.

    ``world_path`` is the world's SQLite file (":memory:" for a throw-away world).
    ``characters`` is a mapping of id to persona or a directory of persona files.
    ``clock`` gives the time stored with every record (pass a game clock for determinism).
    ``max_concurrency`` caps simultaneous model calls. ``policy`` is the world's safety policy
    (an :class:`engine.safety.Policy`), combined with each character's; ``safety=False`` turns
    the safety checks off. ``moderator`` (an :class:`engine.safety.Moderator`, such as
    :class:`engine.backends.openai.chat.OpenAIModerator`) also screens the player's line and each
    sentence of the reply that the local checks allowed; when the service fails, the local
    verdict stands (fail-open, logged as a warning) unless ``moderation_fail_closed`` is set;
    it is closed with the backend.
    ``meter`` is an :class:`engine.metering.Meter`, or a function
    building one from the world file's ``sqlite_utils.Database`` (it then runs on the store
    thread). ``close_backend`` makes :meth:`close` close the backend too (the default: the
    runtime owns it, so recordings get flushed). ``freeze_gc=True`` collects garbage once and then
    moves every object alive at start (modules, personas, the backend's clients, the game's own
    start-up state) out of the collector's reach (:func:`gc.freeze`): a full collection then
    walks only what was made since, instead of stalling every thread, the game's included,
    for tens of milliseconds in the middle of a burst of turns. It also raises the collector's
    first threshold to :data:`GC_THRESHOLD` allocations when it is lower (CPython's default is
    700; 2,000 from 3.13): a burst of turns keeps many objects alive for a moment, and with
    the default most of them were walked and promoted before they died (15 to 28 ms of
    collections in a burst of 200 turns, against about 8). A young collection then takes at
    most a fraction of a millisecond more; frame times were unchanged (``bench/frames.py``).
    Both settings are for the whole process, so they are opt-in (``freeze_gc=True``, as the
    demo and ``bench/runtime.py`` do); leave it off when the game manages the collector itself.

    ``say``, ``greet``, ``poll``, ``cancel``, ``observe``, ``idle`` and the store queries
    (``memories``, ``facts``, ``recall``, ... ``on_store``, which return futures) never block the
    calling thread; ``close`` waits up to its timeout (or not at all with ``wait=False``).
    """

    def __init__(
        self,
        world_path: str | Path,
        *,
        backend: Backend,
        characters: Mapping[str, Persona] | str | Path = "characters",
        embedder: Embedder | None = None,
        clock: Callable[[], float] = time.time,
        max_concurrency: int = 8,
        policy: Policy | None = None,
        meter: MeterSource | None = None,
        settings: TurnSettings | None = None,
        safety: bool = True,
        close_backend: bool = True,
        freeze_gc: bool = False,
        moderator: Moderator | None = None,
        moderation_fail_closed: bool = False,
    ) -> None:
        if isinstance(characters, str | Path):
            from engine.persona.load import load_characters

            characters = load_characters(characters)
        self.characters: dict[str, Persona] = dict(characters)
        self.backend = backend
        self.clock = clock
        self.settings = settings or TurnSettings()
        self._close_backend = close_backend
        self._events: deque[Event] = deque()
        self._outstanding: set[int] = set()
        self._background_ids = itertools.count(-1, -1)
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._closed = False
        self._closer: threading.Thread | None = None
        self._inbox: deque[tuple[Callable[..., None], tuple[Any, ...]]] = deque()
        self._wake_pending = False
        self._store = StoreThread(world_path, embedder=embedder, clock=clock, meter=meter)
        self._loop = asyncio.new_event_loop()
        self._semaphore = asyncio.Semaphore(max(1, max_concurrency))
        self._env = TurnEnv(
            backend=backend,
            store=self._store,
            semaphore=self._semaphore,
            personas=self.characters,
            settings=self.settings,
            safety=SafetyGate(
                policy,
                enabled=safety,
                moderator=moderator,
                moderation_fail_closed=moderation_fail_closed,
            ),
            meter=self._store.meter,
            semantics=Semantics(embedder) if embedder is not None else None,
            clock=clock,
            spawn=self._spawn,
        )
        semantics = self._env.semantics
        if semantics is not None:
            # The characters' knowledge is embedded ahead of their first questions, when the
            # store thread has nothing more pressing to do.
            for persona in self.characters.values():
                texts = knowledge_texts(persona)
                if texts:
                    self._store.submit(
                        functools.partial(_warm, semantics, texts), priority=BACKGROUND
                    )
        if freeze_gc and gc.isenabled():
            # Frozen objects are never collected: collect first so no garbage is frozen. Objects
            # frozen by an earlier runtime are not walked again, so this is cheap after the first.
            gc.collect()
            gc.freeze()
            first, *older = gc.get_threshold()
            if 0 < first < GC_THRESHOLD:
                gc.set_threshold(GC_THRESHOLD, *older)
        self._thread = threading.Thread(target=self._run_loop, name="npc-runtime", daemon=True)
        self._thread.start()

    # ----------------------------------------------------------------------- game thread API

    def say(
        self,
        character: str,
        player: str,
        text: str,
        *,
        player_name: str | None = None,
        sink: Callable[[Event], None] | None = None,
    ) -> TurnHandle:
        """Start a turn: ``player`` says ``text`` to ``character``. Returns at once.

        ``sink``: when given, this turn's events go to ``sink(event)`` instead of :meth:`poll`
        (called on the runtime's thread, in order; it must return at once), e.g. a server
        handing each session its own events.
        """
        return self._submit("say", character, player, text, player_name=player_name, sink=sink)

    def greet(
        self,
        character: str,
        player: str,
        *,
        player_name: str | None = None,
        sink: Callable[[Event], None] | None = None,
    ) -> TurnHandle:
        """``character`` greets ``player``: a first-meeting line, or by name with a remembered detail.

        ``sink`` as for :meth:`say`.
        """
        return self._submit("greet", character, player, "", player_name=player_name, sink=sink)

    def poll(self) -> list[Event]:
        """Every event since the last call, oldest first. Call once a frame; never blocks."""
        events = self._events
        n = len(events)
        if not n:
            return []
        pop = events.popleft
        return [pop() for _ in range(n)]

    def cancel(self, handle: TurnHandle) -> None:
        """Stop a turn (the player walked away). Its ``TurnFailed('cancelled')`` follows."""
        if handle.done or self._closed:
            return
        self._post(self._cancel, handle.id)

    def observe(
        self,
        character: str,
        text: str,
        *,
        player: str | None = None,
        present: Sequence[str] = (),
        importance: float = 6.0,
    ) -> Future[list[MemoryRecord]]:
        """Record a game event ("the player gave you a rose") as a memory of ``character``.

        It is stored for ``player``, or else for every player in ``present``, or else under
        :data:`WORLD_PLAYER`; ``present`` (with the character) are its witnesses.
        """
        self._check_open()
        self._persona(character)
        if player:
            self._check_player(player)
        players = (
            [player]
            if player
            else [p for p in present if p not in self.characters] or [WORLD_PLAYER]
        )
        witnesses = list(dict.fromkeys([character, *present, *([player] if player else [])]))

        def write(store: MemoryStore) -> list[MemoryRecord]:
            return [
                store.add_memory(
                    character, p, text, kind="event", importance=importance, present=witnesses
                )
                for p in players
            ]

        return self._store.submit(write, priority=FOREGROUND)

    def idle(self) -> bool:
        """True when no turn, background work or store work is pending."""
        return not self._outstanding and not self._store.busy

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Block until :meth:`idle` (for tests, tools and recorded playthroughs). True if it got there."""
        deadline = time.monotonic() + timeout
        while not self.idle():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.002)
        return True

    def on_store(self, fn: Callable[[MemoryStore], T]) -> Future[T]:
        """Run ``fn(store)`` on the store thread, after the turns' own work; returns a Future.

        For what has no method of its own here, e.g.
        ``rt.on_store(lambda s: s.summary_text("mira", "p1"))``. Block on ``.result()`` only
        off the game thread, or check ``future.done()`` each frame.
        """
        self._check_open()
        return self._store.submit(fn, priority=QUERY)

    def memories(
        self, character: str, player: str, *, limit: int = 200
    ) -> Future[list[MemoryRecord]]:
        """What ``character`` remembers about ``player``, newest first."""
        return self.on_store(lambda s: s.memories(character, player, limit=limit))

    def forget_memory(self, memory_id: int, *, reason: str = "player request") -> Future[None]:
        """Delete one memory."""
        return self.on_store(lambda s: s.forget_memory(memory_id, reason=reason))

    def facts(self, character: str, player: str) -> Future[list[Fact]]:
        """Facts ``character`` holds about ``player``."""
        return self.on_store(lambda s: s.facts(character, player))

    def relationship(self, character: str, player: str) -> Future[Relationship]:
        """The relationship between ``character`` and ``player``."""
        defaults = self._persona(character).relationship
        return self.on_store(lambda s: s.relationship(character, player, defaults=defaults))

    def player_name(self, player: str) -> Future[str | None]:
        """The name ``player`` gave (or was given), if any."""
        return self.on_store(lambda s: s.player_name(player))

    def recent_turns(
        self, character: str, player: str, *, limit: int = 20
    ) -> Future[list[TurnRecord]]:
        """The last ``limit`` lines between ``character`` and ``player``, oldest first."""
        return self.on_store(lambda s: s.recent_turns(character, player, limit))

    def recall(
        self, character: str, player: str, text: str, *, k: int = 8
    ) -> Future[list[Recalled]]:
        """The ``k`` memories of ``character`` about ``player`` that best match ``text``."""
        return self.on_store(lambda s: s.recall(character, player, text, k))

    def summary(self, character: str, player: str) -> Future[Summary | None]:
        """The rolling summary of older lines between ``character`` and ``player``."""
        return self.on_store(lambda s: s.summary(character, player))

    def scene(self, characters: Sequence[str], players: Sequence[str] = ()) -> Scene:
        """A group conversation among ``characters`` and ``players`` (see :class:`engine.runtime.scenes.Scene`)."""
        return Scene(self, characters, players)

    async def stream(
        self, character: str, player: str, text: str, *, player_name: str | None = None
    ) -> AsyncIterator[Event]:
        """Run a turn and yield its events, for asyncio games (any event loop).

        Leaving the loop early cancels the turn.
        """
        caller = asyncio.get_running_loop()
        inbox: asyncio.Queue[Event] = asyncio.Queue()

        def sink(event: Event) -> None:
            try:
                caller.call_soon_threadsafe(inbox.put_nowait, event)
            except RuntimeError:  # the caller's loop is gone
                pass

        handle = self._submit("say", character, player, text, player_name=player_name, sink=sink)
        try:
            while True:
                event = await inbox.get()
                yield event
                if is_final(event):
                    return
        finally:
            if not handle.done:
                self.cancel(handle)

    def close(self, timeout: float = 5.0, *, wait: bool = True) -> None:
        """Let running turns finish for up to ``timeout`` seconds, cancel the rest, flush the store.

        Everything already handed to the store is written before its thread stops. Events of the
        last turns (``TurnDone``, or ``TurnFailed('cancelled')``) stay available to :meth:`poll`.
        ``wait=False`` returns at once and shuts down on a thread of its own (the interpreter
        still waits for it at exit, so nothing is lost); :meth:`wait_closed` waits for it.
        Idempotent.
        """
        if not self._closed:
            self._closed = True
            # Not a daemon: a game that quits right after close(wait=False) still gets its
            # last writes flushed before the interpreter exits.
            self._closer = threading.Thread(
                target=self._close_now, args=(timeout,), name="npc-close"
            )
            self._closer.start()
        if wait:
            self.wait_closed(timeout + 15)

    def wait_closed(self, timeout: float | None = None) -> bool:
        """Block until :meth:`close` has finished; True if it did within ``timeout``."""
        closer = self._closer
        if closer is None:
            return False
        closer.join(timeout)
        return not closer.is_alive()

    def _close_now(self, timeout: float) -> None:
        if self._thread.is_alive():
            future = asyncio.run_coroutine_threadsafe(self._shutdown(timeout), self._loop)
            try:
                future.result(timeout + 10)
            except Exception:
                log.exception("runtime shutdown did not finish cleanly")
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
        self._store.close(timeout=max(5.0, timeout))

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    # ----------------------------------------------------------------------- internals

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeClosedError("the runtime is closed")

    def _persona(self, character: str) -> Persona:
        persona = self.characters.get(character)
        if persona is None:
            known = ", ".join(sorted(self.characters)) or "none"
            raise EngineError(f"unknown character {character!r} (known: {known})")
        return persona

    def _check_player(self, player: str) -> None:
        # Player ids and character ids are separate namespaces (player rights follow a player
        # id into every conversation it spoke in): a player may not take a character's id.
        if player in self.characters:
            raise EngineError(
                f"player id {player!r} is a character id; give players ids of their own"
            )
        if _valid_unicode(player) != player:
            raise EngineError(f"player id {player!r} is not valid Unicode (a lone surrogate)")

    def _submit(
        self,
        kind: TurnKind,
        character: str,
        player: str,
        text: str,
        *,
        player_name: str | None = None,
        scene_characters: Sequence[str] = (),
        scene_players: Sequence[str] = (),
        sink: Callable[[Event], None] | None = None,
    ) -> TurnHandle:
        self._check_open()
        persona = self._persona(character)
        self._check_player(player)
        # Text that is not valid Unicode (lone surrogates, e.g. from a bad decode) cannot be
        # stored or sent: such characters become U+FFFD. A line over the cap is refused
        # whole later on, so it is not scanned here.
        if len(text) <= self.settings.max_line_chars:
            text = _valid_unicode(text)
        if player_name is not None and len(player_name) <= self.settings.max_name_chars:
            player_name = _valid_unicode(player_name)
        handle = TurnHandle(character, player, text, kind)
        request = TurnRequest(
            handle=handle,
            persona=persona,
            text=text,
            emit=self._emitter(handle, sink or self._events.append),
            player_name=player_name,
            scene_characters=tuple(scene_characters),
            scene_players=tuple(scene_players),
        )
        self._outstanding.add(handle.id)
        runner = run_greet if kind == "greet" else run_say
        self._post(self._start, request, runner)
        return handle

    def _post(self, fn: Callable[..., None], *args: Any) -> None:
        """Run ``fn(*args)`` on the event loop, in order, from any thread; wakes it only if needed."""
        self._inbox.append((fn, args))
        if not self._wake_pending:
            self._wake_pending = True
            self._loop.call_soon_threadsafe(self._drain)

    def _drain(self) -> None:
        # The flag is cleared before the inbox is read: a request appended after this point
        # either is read below or sees the flag down and schedules another drain.
        self._wake_pending = False
        inbox = self._inbox
        while inbox:
            fn, args = inbox.popleft()
            try:
                fn(*args)
            except Exception:
                log.exception("runtime request %r failed", fn)

    @staticmethod
    def _emitter(handle: TurnHandle, append: Callable[[Event], None]) -> Callable[[Event], None]:
        def emit(event: Event) -> None:
            # The handle is settled before the game can see the final event.
            if isinstance(event, TurnDone):
                if handle.done:
                    return
                handle.result = event.result
                handle.done = True
            elif isinstance(event, TurnFailed):
                if handle.done:
                    return
                handle.error = event.error
                handle.reason = event.reason
                handle.fallback_text = event.fallback_text
                handle.done = True
            append(event)

        return emit

    def _run_loop(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_forever()
        finally:
            try:
                self._loop.run_until_complete(self._loop.shutdown_asyncgens())
            finally:
                self._loop.close()

    def _start(
        self,
        request: TurnRequest,
        runner: Callable[[TurnEnv, TurnRequest], Coroutine[Any, Any, None]],
    ) -> None:
        task = self._loop.create_task(self._guard(request, runner))
        self._tasks[request.handle.id] = task
        task.add_done_callback(lambda _task: self._finished(request))

    async def _guard(
        self,
        request: TurnRequest,
        runner: Callable[[TurnEnv, TurnRequest], Coroutine[Any, Any, None]],
    ) -> None:
        handle = request.handle
        try:
            await runner(self._env, request)
        except asyncio.CancelledError:
            cancelled = FailureReason.CANCELLED
            request.emit(
                TurnFailed(handle.id, handle.character, handle.player, "cancelled", "", cancelled)
            )
        except Exception as exc:  # a bug or a store error: report it, keep the scene going
            log.exception("turn %s failed", handle.id)
            request.emit(
                TurnFailed(
                    handle.id,
                    handle.character,
                    handle.player,
                    f"{type(exc).__name__}: {exc}",
                    fallback_line(request.persona, handle.text),
                    failure_reason(exc),
                    exc,
                )
            )

    def _finished(self, request: TurnRequest) -> None:
        handle = request.handle
        if not handle.done:  # cancelled before it began to run
            if handle.kind == "say":
                try:
                    keep_cancelled_line(self._env, request)  # the character heard it
                except Exception:
                    log.exception("could not keep the line of cancelled turn %s", handle.id)
            cancelled = FailureReason.CANCELLED
            request.emit(
                TurnFailed(handle.id, handle.character, handle.player, "cancelled", "", cancelled)
            )
        self._tasks.pop(handle.id, None)
        self._outstanding.discard(handle.id)

    def _cancel(self, handle_id: int) -> None:
        task = self._tasks.get(handle_id)
        if task is not None:
            task.cancel()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run background work (after a reply) on the loop, tracked for idle() and close()."""
        token = next(self._background_ids)
        self._outstanding.add(token)

        started = False

        async def wrapped() -> None:
            nonlocal started
            started = True
            try:
                await coro
            except asyncio.CancelledError:
                log.info("background work cancelled at close")
            except Exception:
                log.exception("background work after a reply failed")

        task = self._loop.create_task(wrapped())
        self._tasks[token] = task

        def finished(_task: asyncio.Task[None]) -> None:
            # Also runs when the task was cancelled before it started (wrapped() never ran).
            self._outstanding.discard(token)
            self._tasks.pop(token, None)
            if not started:
                coro.close()

        task.add_done_callback(finished)

    async def _shutdown(self, timeout: float) -> None:
        tasks = list(self._tasks.values())
        if tasks:
            _done, pending = await asyncio.wait(tasks, timeout=timeout)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=2.0)
        # Background work spawned while turns finished.
        late = [t for t in self._tasks.values() if not t.done()]
        for task in late:
            task.cancel()
        if late:
            await asyncio.wait(late, timeout=2.0)
        if self._close_backend:
            try:
                await asyncio.wait_for(self.backend.aclose(), timeout=5.0)
            except Exception:
                log.exception("closing the backend failed")
            closer = getattr(self._env.safety.moderator, "aclose", None)
            if closer is not None:
                try:
                    await asyncio.wait_for(closer(), timeout=5.0)
                except Exception:
                    log.exception("closing the moderator failed")
