"""The runtime never stalls the game thread: say/poll/cancel in microseconds, cancel and close
mid-turn, a backend that never answers, the asyncio API, queries and concurrency limits."""

from __future__ import annotations

import asyncio
import gc
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from fixtures_runtime import HangingBackend, TextBackend, drain

from engine.backends import ScriptedBackend
from engine.errors import BackendTimeoutError, EngineError, RuntimeClosedError
from engine.memory import MemoryStore
from engine.runtime import TurnSettings
from engine.runtime.core import GC_THRESHOLD
from engine.runtime.events import Sentence, TurnDone, TurnFailed, TurnHandle, TurnStarted

BLOCK_LIMIT_S = 0.001  # no game-thread call may take longer than 1 ms


class Timed:
    """Times the calls made through it: wall clock, and the calling thread's own CPU time.

    A call that blocks (on a lock, I/O, the store or the network) shows in the wall clock. On a
    loaded machine the wall clock also includes waiting for the interpreter lock while the
    runtime's threads work, which no call can avoid; so the CPU time must stay under the limit
    on every call, and the wall clock on all but the rarest (see ``worst_wall``).
    """

    def __init__(self) -> None:
        self.worst = 0.0
        self.walls: list[float] = []
        self.calls = 0

    def __call__(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        cpu = time.thread_time()
        start = time.perf_counter()
        result = fn(*args, **kwargs)
        self.walls.append(time.perf_counter() - start)
        self.worst = max(self.worst, time.thread_time() - cpu)
        self.calls += 1
        return result

    @property
    def worst_wall(self) -> float:
        """The wall-clock time of the slowest call after dropping the slowest 1 %."""
        ordered = sorted(self.walls)
        return ordered[max(0, int(len(ordered) * 0.99) - 1)]


@pytest.fixture(autouse=True)
def _responsive_interpreter() -> Any:
    # What a game does for a smooth frame rate: hand the interpreter lock back sooner.
    previous = sys.getswitchinterval()
    sys.setswitchinterval(0.0005)
    yield
    sys.setswitchinterval(previous)


def _frames(rt: Any, timed: Timed, until: Any, timeout: float = 10.0) -> list[Any]:
    """A 'game loop': poll every 2 ms until ``until()``; the events polled."""
    events: list[Any] = []
    deadline = time.monotonic() + timeout
    while not until():
        events.extend(timed(rt.poll))
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.002)
    events.extend(timed(rt.poll))
    return events


def test_say_poll_and_cancel_never_block_while_replies_stream(make_runtime: Any) -> None:
    rt = make_runtime(ScriptedBackend(delay_s=0.005))
    timed = Timed()
    handles = [timed(rt.say, "mira", f"p{i}", "Where is the tea house?") for i in range(20)]
    timed(rt.cancel, handles[0])
    _frames(rt, timed, lambda: all(h.done for h in handles))
    assert timed.worst < BLOCK_LIMIT_S, f"worst game-thread call {timed.worst * 1000:.3f} ms of CPU"
    assert timed.worst_wall < BLOCK_LIMIT_S, (
        f"p99 game-thread call {timed.worst_wall * 1000:.3f} ms"
    )
    assert timed.calls > 20


def test_a_burst_of_says_costs_the_game_thread_almost_nothing(make_runtime: Any) -> None:
    # At the interpreter's default switch interval: a game that never tuned it. A call that
    # gave up the interpreter lock (a system call per say) while the runtime's threads work
    # would wait a whole switch interval to get it back.
    sys.setswitchinterval(0.005)
    rt = make_runtime(ScriptedBackend(), max_concurrency=250)
    drain(rt, rt.say("mira", "warm-up", "Hello!"))
    start = time.perf_counter()
    handles = [rt.say("mira", f"p{i}", "Where is the tea house?") for i in range(200)]
    took = time.perf_counter() - start
    for h in handles:
        drain(rt, h, timeout=30)
    assert all(h.result is not None for h in handles)
    assert took < 0.02, f"200 say() calls took {took * 1000:.1f} ms"


def test_backend_that_never_answers_times_out_with_a_fallback(make_runtime: Any) -> None:
    backend = HangingBackend()
    rt = make_runtime(backend, settings=TurnSettings(first_token_timeout=0.3))
    timed = Timed()
    handle = timed(rt.say, "mira", "p1", "hello?")
    events = _frames(rt, timed, lambda: handle.done, timeout=5)
    failed = [e for e in events if isinstance(e, TurnFailed)]
    assert len(failed) == 1 and failed[0].reason == "timeout"
    assert isinstance(failed[0].exception, BackendTimeoutError)
    assert failed[0].fallback_text in rt.characters["mira"].boundaries.fallback_lines
    assert timed.worst < BLOCK_LIMIT_S
    assert rt.wait_idle(5) and backend.closed_streams == 1


def test_cancel_mid_stream_stops_the_turn(make_runtime: Any) -> None:
    backend = TextBackend("One. Two. Three. Four. Five. Six. Seven. Eight.", delay_s=0.05, pieces=8)
    rt = make_runtime(backend)
    timed = Timed()
    handle = rt.say("mira", "p1", "Count for me.")
    events: list[Any] = []
    # Poll until the first sentence shows, then walk away.
    deadline = time.monotonic() + 5
    while not any(isinstance(e, Sentence) for e in events):
        events.extend(timed(rt.poll))
        assert time.monotonic() < deadline
        time.sleep(0.002)
    timed(rt.cancel, handle)
    events.extend(_frames(rt, timed, lambda: handle.done))
    assert isinstance(events[-1], TurnFailed) and events[-1].reason == "cancelled"
    assert events[-1].fallback_text == ""
    assert not any(isinstance(e, TurnDone) for e in events)
    assert len([e for e in events if isinstance(e, Sentence)]) < 8
    assert timed.worst < BLOCK_LIMIT_S
    assert rt.wait_idle(5) and backend.active == 0
    shown = " ".join(e.text for e in events if isinstance(e, Sentence))
    stored = rt.recent_turns("mira", "p1").result(5)
    assert [(t.speaker, t.text) for t in stored] == [("p1", "Count for me."), ("mira", shown)]


def test_close_mid_turn_cancels_and_keeps_what_was_committed(make_runtime: Any, world: str) -> None:
    rt = make_runtime(HangingBackend(), world=world)
    handle = rt.say("mira", "p1", "Remember this: the owl flies at noon.")
    deadline = time.monotonic() + 5
    while not rt.recent_turns("mira", "p1").result(5):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    start = time.monotonic()
    rt.close(timeout=0.2)
    assert time.monotonic() - start < 3
    events = rt.poll()
    assert [type(e) for e in events] == [TurnStarted, TurnFailed]
    assert handle.done and handle.reason == "cancelled"
    with pytest.raises(RuntimeClosedError):
        rt.say("mira", "p1", "hello?")
    with MemoryStore(world) as store:
        assert [t.text for t in store.recent_turns("mira", "p1")] == [
            "Remember this: the owl flies at noon."
        ]


def test_close_without_waiting_returns_at_once_mid_turn(make_runtime: Any, tmp_path: Path) -> None:
    world = tmp_path / "nowait.db"
    rt = make_runtime(HangingBackend(), world=world)
    handle = rt.say("mira", "p1", "The owl flies at noon.")
    time.sleep(0.1)
    timed = Timed()
    timed(rt.close, 0.2, wait=False)
    assert timed.worst < BLOCK_LIMIT_S
    assert timed(rt.poll) is not None and rt.closed
    assert rt.wait_closed(10)
    assert handle.done and handle.reason == "cancelled"
    with MemoryStore(world) as store:
        assert [t.text for t in store.recent_turns("mira", "p1")] == ["The owl flies at noon."]


def test_close_lets_running_turns_finish_within_the_timeout(make_runtime: Any) -> None:
    rt = make_runtime(TextBackend("Just a moment. Done.", delay_s=0.02))
    handle = rt.say("mira", "p1", "hello")
    rt.close(timeout=5)
    assert handle.done and handle.result is not None
    assert isinstance(rt.poll()[-1], TurnDone)


def test_close_is_idempotent_and_calls_after_it_fail_fast(make_runtime: Any) -> None:
    rt = make_runtime()
    rt.close()
    rt.close()
    timed = Timed()
    assert timed(rt.poll) == []
    timed(rt.cancel, TurnHandle("mira", "p1", "hello"))
    with pytest.raises(RuntimeClosedError):
        rt.greet("mira", "p1")
    assert timed.worst < BLOCK_LIMIT_S


def test_unknown_character_is_a_clear_error(make_runtime: Any) -> None:
    rt = make_runtime()
    with pytest.raises(EngineError, match="unknown character 'nobody'.*mira"):
        rt.say("nobody", "p1", "hello")


def test_concurrency_limit_per_backend(make_runtime: Any) -> None:
    backend = TextBackend("Fine, thanks.", delay_s=0.02)
    rt = make_runtime(backend, max_concurrency=3)
    handles = [rt.say("mira", f"p{i}", "How are you?") for i in range(12)]
    for h in handles:
        drain(rt, h)
    assert backend.max_active == 3


def test_many_conversations_run_concurrently(make_runtime: Any) -> None:
    backend = TextBackend("Fine, thanks.", delay_s=0.05, pieces=4)
    rt = make_runtime(backend, max_concurrency=50)
    start = time.monotonic()
    handles = [rt.say("mira", f"p{i}", "How are you?") for i in range(30)]
    for h in handles:
        drain(rt, h)
    assert time.monotonic() - start < 3  # 30 in sequence would take >= 6 s
    assert backend.max_active > 10


def test_idle_reports_pending_work(make_runtime: Any) -> None:
    rt = make_runtime(TextBackend("Hi.", delay_s=0.05))
    assert rt.idle()
    handle = rt.say("mira", "p1", "hello")
    assert not rt.idle()
    assert rt.wait_idle(5)
    assert handle.done and rt.idle()


def test_stream_api_for_asyncio_games(make_runtime: Any) -> None:
    rt = make_runtime()

    async def talk() -> list[Any]:
        return [
            event
            async for event in rt.stream("mira", "p1", "Where is the tea house?", player_name="Ada")
        ]

    events = asyncio.run(talk())
    assert isinstance(events[0], TurnStarted) and isinstance(events[-1], TurnDone)
    assert rt.poll() == []  # streamed events do not also go to poll()


def test_leaving_the_stream_early_cancels_the_turn(make_runtime: Any) -> None:
    rt = make_runtime(HangingBackend())

    async def walk_away() -> Any:
        async for event in rt.stream("mira", "p1", "hello"):
            assert isinstance(event, TurnStarted)
            break

    asyncio.run(walk_away())
    assert rt.wait_idle(5)


def test_queries_run_on_the_store_thread(make_runtime: Any, world: str) -> None:
    rt = make_runtime(world=world)
    drain(rt, rt.say("mira", "p1", "I keep bees."))
    memories = rt.memories("mira", "p1").result(5)
    assert any(m.text == "I keep bees." for m in memories)
    rt.forget_memory(memories[0].id).result(5)
    assert len(rt.memories("mira", "p1").result(5)) == len(memories) - 1
    assert rt.on_store(lambda s: threading.current_thread().name).result(5) == "npc-store"


def test_a_turn_marks_the_memories_it_recalled_as_accessed(make_runtime: Any, world: str) -> None:
    now = [1_700_000_000.0]
    rt = make_runtime(clock=lambda: now[0], world=world)
    drain(rt, rt.say("mira", "p1", "My sister keeps bees on the hill."))
    bees = next(m for m in rt.memories("mira", "p1").result(5) if "bees" in m.text)
    assert bees.last_accessed == now[0]
    now[0] += 10 * 3600
    drain(rt, rt.say("mira", "p1", "Do you remember the bees?"))
    with MemoryStore(world) as other:  # on disk, not only in the runtime's store
        assert other.get_memory(bees.id).last_accessed == now[0]


def test_handles_carry_their_outcome(make_runtime: Any) -> None:
    rt = make_runtime()
    handle = rt.say("mira", "p1", "hello")
    drain(rt, handle)
    assert handle.done and handle.result is not None and handle.error is None
    assert handle != rt.say("mira", "p1", "again") and hash(handle) == hash(handle.id)


def test_a_runtime_raises_a_low_collector_threshold_only_when_asked(make_runtime: Any) -> None:
    saved = gc.get_threshold()
    try:
        gc.set_threshold(700, 10, 10)
        frozen = gc.get_freeze_count()
        make_runtime()
        assert gc.get_threshold() == (700, 10, 10)  # by default the game's collector is its own
        assert gc.get_freeze_count() == frozen
        make_runtime(freeze_gc=True)
        assert gc.get_threshold() == (GC_THRESHOLD, 10, 10)
        gc.set_threshold(GC_THRESHOLD * 4, 5, 5)
        make_runtime(freeze_gc=True)
        assert gc.get_threshold() == (GC_THRESHOLD * 4, 5, 5)  # higher already: left alone
        gc.set_threshold(0, 10, 10)  # 0: collection off, as the game asked
        make_runtime(freeze_gc=True)
        assert gc.get_threshold() == (0, 10, 10)
    finally:
        gc.set_threshold(*saved)
