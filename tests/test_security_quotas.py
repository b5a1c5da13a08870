"""Quotas hold under concurrent turns (tokens and spend in flight are counted), and bad numbers
(negative or absurd token counts, infinite or NaN prices) never corrupt the day's totals or
lose a usage row."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from fixtures_runtime import TextBackend

from engine.memory.ledger import Ledger
from engine.metering import MAX_PRICE, Meter, ModelPrice, PriceTable, Quota, day_of
from engine.runtime import Runtime
from engine.runtime.events import TurnDone, TurnFailed
from engine.types import MAX_CALL_TOKENS, Usage, reported_count

NOON = 1_767_268_800.0


def _run_all(rt: Runtime, handles: list, timeout: float = 60) -> list:
    events = []
    deadline = time.monotonic() + timeout
    while not all(h.done for h in handles):
        events.extend(rt.poll())
        assert time.monotonic() < deadline, "turns did not finish"
        time.sleep(0.005)
    assert rt.wait_idle(30)
    events.extend(rt.poll())
    return events


@pytest.mark.parametrize(
    ("quota", "prices"),
    [
        (Quota(tokens_per_day=300), None),
        (
            Quota(spend_per_day=0.003),
            PriceTable(models={"text": ModelPrice(input=1.0, output=1.0)}),
        ),
    ],
    ids=["tokens", "spend"],
)
def test_twenty_simultaneous_turns_do_not_overrun_a_token_or_spend_quota(
    make_runtime: Callable[..., Runtime], tmp_path: Path, quota: Quota, prices: PriceTable | None
) -> None:
    world = tmp_path / "world.db"
    meter = Meter(Ledger(world), quota=quota, prices=prices, clock=lambda: NOON)
    rt = make_runtime(TextBackend("Hello there, friend.", delay_s=0.02), world=world, meter=meter)
    handles = [rt.say("mira", "p1", f"Hello number {i}!") for i in range(20)]
    events = _run_all(rt, handles)
    done = [e for e in events if isinstance(e, TurnDone)]
    refused = [e for e in events if isinstance(e, TurnFailed) and e.error.startswith("quota")]
    assert len(done) + len(refused) == 20
    one_turn = max(e.result.usage.prompt_tokens + e.result.usage.completion_tokens for e in done)
    state = meter.state("p1", now=NOON)
    # The last admitted question may run over by its own size, never by twenty.
    if quota.tokens_per_day is not None:
        assert state.tokens <= quota.tokens_per_day + one_turn
    else:
        assert state.spend <= quota.spend_per_day + one_turn * 1e-6 * 1.0 + 1e-12
    assert len(done) < 20


def test_a_negative_or_absurd_token_count_is_refused_by_usage() -> None:
    with pytest.raises(ValueError):
        Usage(prompt_tokens=-(10**9))
    with pytest.raises(ValueError):
        Usage(completion_tokens=10**19)
    with pytest.raises(ValueError):
        Usage(latency_ms=math.nan)


@pytest.mark.parametrize("bad", [math.inf, math.nan, -1.0])
def test_a_non_finite_price_is_refused(bad: float) -> None:
    with pytest.raises(ValueError):
        ModelPrice(input=bad)
    with pytest.raises(ValueError):
        PriceTable(per_question=bad)
    with pytest.raises(ValueError):
        Quota(spend_per_day=bad)


def test_an_enormous_but_valid_bill_keeps_its_usage_row(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "w.db")
    prices = PriceTable(models={"m": ModelPrice(input=MAX_PRICE, output=MAX_PRICE)})
    meter = Meter(ledger, prices=prices, clock=lambda: NOON)
    reservation = meter.reserve("p1")
    usage = Usage(prompt_tokens=MAX_CALL_TOKENS, completion_tokens=MAX_CALL_TOKENS, model="m")
    cost = meter.commit(reservation, usage, character="mira")
    assert cost.usage_id is not None and math.isfinite(cost.charge)
    assert ledger.usage_totals()[0].calls == 1
    assert math.isfinite(ledger.quota_state("p1", day_of(NOON)).spend)


@pytest.mark.parametrize("bad", [-(10**9), 10**19, 1e999, math.nan, 2.5, "12", None, True])
def test_a_providers_insane_token_count_is_replaced_by_the_estimate(bad: object) -> None:
    assert reported_count(bad) is None
    assert reported_count(12) == 12 and reported_count(12.0) == 12
