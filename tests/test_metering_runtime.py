"""Quotas through the turn pipeline: 100 concurrent turns against a quota of 10."""

from __future__ import annotations

import time
from collections.abc import Callable

from engine.backends.scripted import ScriptedBackend
from engine.memory.ledger import Ledger
from engine.metering import Meter, PriceTable, Quota, day_of
from engine.runtime import Runtime
from engine.runtime.events import TurnDone, TurnFailed


def test_hundred_concurrent_turns_from_two_runtimes_let_exactly_ten_through(
    make_runtime: Callable[..., Runtime], world: str
) -> None:
    quota = Quota(questions_per_day=10)
    prices = PriceTable(currency="credits", per_question=1.0)
    noon = 1_767_268_800.0  # a fixed day, so the test never straddles midnight
    # Two runtimes on one world file, each metering through its own connection, as two game
    # server processes would.
    runtimes = [
        make_runtime(
            ScriptedBackend(),
            world=world,
            meter=Meter(Ledger(world), prices=prices, quota=quota, clock=lambda: noon),
        ),
        make_runtime(
            ScriptedBackend(),
            world=world,
            meter=lambda db: Meter(Ledger(db), prices=prices, quota=quota, clock=lambda: noon),
        ),
    ]
    handles = [
        (rt, rt.say("mira", "p1", f"Hello number {i}!")) for i in range(50) for rt in runtimes
    ]

    deadline = time.monotonic() + 60
    events = []
    while not all(h.done for _, h in handles):
        for rt in runtimes:
            events.extend(rt.poll())
        assert time.monotonic() < deadline, "turns did not finish"
        time.sleep(0.005)
    for rt in runtimes:
        assert rt.wait_idle(30)
        events.extend(rt.poll())

    done = [e for e in events if isinstance(e, TurnDone)]
    refused = [e for e in events if isinstance(e, TurnFailed)]
    assert len(done) == 10
    assert len(refused) == 90 and all(e.reason == "quota" for e in refused)
    assert all(e.fallback_text for e in refused)  # the character still answers, in character
    for rt in runtimes:
        rt.close(timeout=2.0)
    with Ledger(world) as ledger:
        state = ledger.quota_state("p1", day_of(noon))
        assert state.questions == 10 and state.spend == 10.0
        assert ledger.usage_totals()[0].calls == 10
