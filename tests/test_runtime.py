"""The runtime never makes the game thread wait for a reply: say/poll/cancel return while the
model is still working, cancel and close mid-turn, a backend that never answers, the asyncio
API, queries and concurrency limits. (What those calls cost the game thread in time is
measured by bench/runtime.py: say_burst_ms, poll_p99_ms.)"""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from fixtures_runtime import GatedBackend, HangingBackend, TextBackend, drain

from engine.backends import ScriptedBackend
from engine.errors import BackendTimeoutError, EngineError, RuntimeClosedError
from engine.memory import MemoryStore
from engine.runtime import TurnSettings
from engine.runtime.core import GC_THRESHOLD
from engine.runtime.events import Sentence, TurnDone, TurnFailed, TurnHandle, TurnStarted


def _frames(rt: Any, until: Any, timeout: float = 10.0) -> list[Any]:
    """A 'game loop': poll every 2 ms until ``until()``; the events polled."""
    events: list[Any] = []
    deadline = time.monotonic() + timeout
    while not until():
        events.extend(rt.poll())
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.002)
    events.extend(rt.poll())
    return events


def test_say_poll_and_cancel_return_while_the_model_is_still_working(make_runtime: Any) -> None:
    backend = GatedBackend("Over there, by the fountain.")
    rt = make_runtime(backend, max_concurrency=20)
    handles = [rt.say("mira", f"p{i}", "Where is the tea house?") for i in range(20)]
    rt.cancel(handles[0])
    held = _frames(rt, lambda: backend.started >= 19)
    # Every call above returned, and the game polled on, while no reply could be made.
    assert backend.gave_up == 0 and not any(h.done for h in handles[1:])
    assert not any(isinstance(e, Sentence | TurnDone) for e in held)
    backend.gate.set()
    events = held + _frames(rt, lambda: all(h.done for h in handles))
    assert handles[0].reason == "cancelled"
    assert all(h.result is not None for h in handles[1:])
    done = [e for e in events if isinstance(e, TurnDone)]
    assert len(done) == 19


def test_a_burst_of_says_is_each_answered_once(make_runtime: Any) -> None:
    rt = make_runtime(ScriptedBackend(), max_concurrency=250)
    handles = [rt.say("mira", f"p{i}", "Where is the tea house?") for i in range(200)]
    for h in handles:
        drain(rt, h, timeout=30)
    assert all(h.result is not None for h in handles)
    assert len({h.id for h in handles}) == 200


def test_backend_that_never_answers_times_out_with_a_fallback(make_runtime: Any) -> None:
    backend = HangingBackend()
    rt = make_runtime(backend, settings=TurnSettings(first_token_timeout=0.3))
    handle = rt.say("mira", "p1", "hello?")
    events = _frames(rt, lambda: handle.done, timeout=5)
    failed = [e for e in events if isinstance(e, TurnFailed)]
    assert len(failed) == 1 and failed[0].reason == "timeout"
    assert isinstance(failed[0].exception, BackendTimeoutError)
    assert failed[0].fallback_text in rt.characters["mira"].boundaries.fallback_lines
    assert rt.wait_idle(5) and backend.closed_streams == 1


def test_cancel_mid_stream_stops_the_turn(make_runtime: Any) -> None:
    backend = TextBackend("One. Two. Three. Four. Five. Six. Seven. Eight.", delay_s=0.05, pieces=8)
    rt = make_runtime(backend)
    handle = rt.say("mira", "p1", "Count for me.")
    events: list[Any] = []
    # Poll until the first sentence shows, then walk away.
    deadline = time.monotonic() + 5
    while not any(isinstance(e, Sentence) for e in events):
        events.extend(rt.poll())
        assert time.monotonic() < deadline
        time.sleep(0.002)
    rt.cancel(handle)
    events.extend(_frames(rt, lambda: handle.done))
    assert isinstance(events[-1], TurnFailed) and events[-1].reason == "cancelled"
    assert events[-1].fallback_text == ""
    assert not any(isinstance(e, TurnDone) for e in events)
    assert len([e for e in events if isinstance(e, Sentence)]) < 8
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
    rt.close(timeout=0.2)  # the turn never ends by itself: close cancels it
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
    rt.close(0.2, wait=False)  # returns with the turn still held by a model that never answers
    assert rt.poll() is not None and rt.closed
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
    assert rt.poll() == []
    rt.cancel(TurnHandle("mira", "p1", "hello"))
    with pytest.raises(RuntimeClosedError):
        rt.greet("mira", "p1")


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
    handles = [rt.say("mira", f"p{i}", "How are you?") for i in range(30)]
    for h in handles:
        drain(rt, h)
    assert backend.max_active > 10  # in sequence, one at a time


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
