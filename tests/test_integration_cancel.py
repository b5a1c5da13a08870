"""Cancelled turns: the player's line is kept however early the turn is cancelled (the
character heard it), and a quota reservation never leaks."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from fixtures_runtime import HangingBackend, TextBackend, drain, hold_store

from engine.memory.ledger import Ledger
from engine.metering import Meter, Quota
from engine.persona import Persona
from engine.runtime import Runtime
from engine.runtime.events import TurnDone, TurnFailed, TurnStarted


def _wait(condition: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.002)


def _player_lines(rt: Runtime, character: str = "tess") -> list[str]:
    return [t.text for t in rt.recent_turns(character, "p1").result(5) if t.speaker == "p1"]


def test_a_turn_cancelled_while_its_context_is_read_keeps_the_players_line(
    make_runtime: Any, test_persona: Persona
) -> None:
    backend = TextBackend("Of course.")
    rt = make_runtime(backend, characters={"tess": test_persona})
    gate = hold_store(rt)
    handle = rt.say("tess", "p1", "My sister is called Maud.", player_name="Ada")
    events: list[Any] = []
    _wait(lambda: events.extend(rt.poll()) or any(isinstance(e, TurnStarted) for e in events))
    rt.cancel(handle)
    _wait(lambda: handle.done)
    gate.set()
    assert rt.wait_idle(5)
    assert handle.reason == "cancelled" and not backend.prompts  # the model was never asked
    assert _player_lines(rt) == ["My sister is called Maud."]
    assert rt.player_name("p1").result(5) == "Ada"


def test_a_turn_cancelled_before_it_started_keeps_the_players_line(
    make_runtime: Any, test_persona: Persona
) -> None:
    rt = make_runtime(TextBackend("Of course."), characters={"tess": test_persona})
    gate = hold_store(rt)
    handle = rt.say("tess", "p1", "I'll be back tomorrow.")
    rt.cancel(handle)
    _wait(lambda: handle.done)
    gate.set()
    assert rt.wait_idle(5)
    assert handle.reason == "cancelled"
    assert _player_lines(rt) == ["I'll be back tomorrow."]


def test_a_blocked_line_cancelled_early_is_still_not_stored(
    make_runtime: Any, test_persona: Persona
) -> None:
    rt = make_runtime(TextBackend("Of course."), characters={"tess": test_persona})
    gate = hold_store(rt)
    handle = rt.say("tess", "p1", "Where is the dragonglass?")
    rt.cancel(handle)
    _wait(lambda: handle.done)
    gate.set()
    assert rt.wait_idle(5)
    assert _player_lines(rt) == []


class _SlowMeter(Meter):
    """A real meter whose reservation waits for the test (a slow database write)."""

    def __init__(self, ledger: Ledger, **kwargs: Any) -> None:
        super().__init__(ledger, **kwargs)
        self.entered = threading.Event()
        self.proceed = threading.Event()
        self.slow = True

    def reserve(self, player: str, **kwargs: Any) -> Any:
        if self.slow:
            self.entered.set()
            self.proceed.wait(10)
        return super().reserve(player, **kwargs)


def test_a_turn_cancelled_while_reserving_gives_the_question_back(
    make_runtime: Any, test_persona: Persona, tmp_path: Path
) -> None:
    meters: list[_SlowMeter] = []

    def factory(db: Any) -> _SlowMeter:
        meters.append(_SlowMeter(Ledger(db), quota=Quota(questions_per_day=1)))
        return meters[-1]

    rt = make_runtime(TextBackend("Here."), characters={"tess": test_persona}, meter=factory)
    meter = meters[0]
    handle = rt.say("tess", "p1", "hello")
    assert meter.entered.wait(5)
    rt.cancel(handle)
    _wait(lambda: handle.done)
    meter.slow = False
    meter.proceed.set()  # the reservation is made after the turn was cancelled
    assert rt.wait_idle(5)
    assert handle.reason == "cancelled"
    second = drain(rt, rt.say("tess", "p1", "hello again"))[-1]
    assert isinstance(second, TurnDone), second  # the quota of one question was not used up
    assert _player_lines(rt) == ["hello", "hello again"]


def test_a_turn_cancelled_while_generating_gives_the_question_back(
    make_runtime: Any, test_persona: Persona
) -> None:
    backend = HangingBackend()
    rt = make_runtime(
        backend,
        characters={"tess": test_persona},
        meter=lambda db: Meter(Ledger(db), quota=Quota(questions_per_day=1)),
    )
    for started, line in enumerate(("hello", "hello again"), start=1):
        handle = rt.say("tess", "p1", line)
        _wait(lambda n=started: backend.started == n)  # type: ignore[misc]
        rt.cancel(handle)
        _wait(lambda h=handle: h.done)  # type: ignore[misc]
        assert rt.wait_idle(5)
        assert handle.reason == "cancelled"  # not "quota": the first question was given back
    assert _player_lines(rt) == ["hello", "hello again"]


def test_quota_is_still_enforced_when_nothing_is_cancelled(
    make_runtime: Any, test_persona: Persona
) -> None:
    rt = make_runtime(
        TextBackend("Here."),
        characters={"tess": test_persona},
        meter=lambda db: Meter(Ledger(db), quota=Quota(questions_per_day=1)),
    )
    assert isinstance(drain(rt, rt.say("tess", "p1", "one"))[-1], TurnDone)
    assert isinstance(drain(rt, rt.say("tess", "p1", "two"))[-1], TurnFailed)
