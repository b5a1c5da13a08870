"""Metering: prices, per-question charges, atomic daily quotas and the ledger's tables."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from engine.errors import QuotaExceededError, StoreError
from engine.memory import MemoryStore
from engine.memory.ledger import LEDGER_TABLES, Ledger
from engine.metering import Meter, ModelPrice, PriceTable, Quota, day_of
from engine.types import Usage

NOON = 1_767_268_800.0  # 2026-01-01 12:00 UTC


@pytest.fixture(params=["sqlite", "postgres"])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    """The ledger's world: a SQLite file, then a PostgreSQL database."""
    if request.param == "postgres":
        return str(request.getfixturevalue("pg_url"))
    path = tmp_path / "world.db"
    Ledger(path).close()
    return path


@pytest.fixture
def ledger(world: Path | str) -> Ledger:
    led = Ledger(world)
    yield led  # type: ignore[misc]
    led.close()


def usage(prompt: int = 1000, completion: int = 500, model: str = "deepseek-chat") -> Usage:
    return Usage(prompt_tokens=prompt, completion_tokens=completion, model=model, latency_ms=120.0)


# --------------------------------------------------------------------------- prices


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("deepseek-chat", (1000 * 2 + 500 * 3) / 1e6),  # exact name
        ("qwen-plus-latest", (1000 * 0.8 + 500 * 2) / 1e6),  # longest glob
        ("qwen-max", (1000 * 20 + 500 * 60) / 1e6),  # shorter glob
        ("unknown-model", (1000 * 1 + 500 * 1) / 1e6),  # default
    ],
)
def test_cost_uses_price_per_million_tokens(model: str, expected: float) -> None:
    table = PriceTable(
        currency="CNY",
        models={
            "deepseek-chat": ModelPrice(input=2, output=3),
            "qwen-*": ModelPrice(input=20, output=60),
            "qwen-plus*": ModelPrice(input=0.8, output=2),
        },
        default=ModelPrice(input=1, output=1),
    )
    assert table.cost(usage(model=model)) == pytest.approx(expected)


def test_unpriced_model_costs_nothing() -> None:
    assert PriceTable().cost(usage(model="mystery")) == 0.0


def test_per_question_mode_bills_a_flat_price() -> None:
    table = PriceTable(
        currency="credits", models={"m": ModelPrice(input=10, output=10)}, per_question=1.0
    )
    assert table.charge(usage(prompt=50_000, model="m")) == 1.0
    assert table.cost(usage(prompt=50_000, model="m")) == pytest.approx(0.505)


@pytest.mark.parametrize(
    ("offset", "expected"),
    [(0, "2026-01-01"), (8, "2026-01-01"), (12.5, "2026-01-02"), (-13, "2025-12-31")],
)
def test_quota_day_follows_the_utc_offset(offset: float, expected: str) -> None:
    assert day_of(NOON, offset) == expected


# --------------------------------------------------------------------------- quotas


def test_question_quota_admits_exactly_the_limit(ledger: Ledger) -> None:
    meter = Meter(ledger, quota=Quota(questions_per_day=3))
    for _ in range(3):
        meter.reserve("p1", now=NOON)
    with pytest.raises(QuotaExceededError) as info:
        meter.reserve("p1", now=NOON)
    assert (info.value.kind, info.value.player) == ("questions", "p1")
    meter.reserve("p2", now=NOON)  # another player has their own quota
    meter.reserve("p1", now=NOON + 86_400)  # and tomorrow is a new day


def test_release_gives_the_question_back(ledger: Ledger) -> None:
    meter = Meter(ledger, quota=Quota(questions_per_day=1))
    reservation = meter.reserve("p1", now=NOON)
    meter.release(reservation)
    meter.release(reservation)  # twice is harmless
    assert meter.state("p1", now=NOON).questions == 0
    meter.reserve("p1", now=NOON)


def test_token_quota_blocks_once_the_day_is_used_up(ledger: Ledger) -> None:
    meter = Meter(ledger, quota=Quota(tokens_per_day=2000))
    meter.commit(meter.reserve("p1", now=NOON), usage(1000, 500), character="mira")
    meter.commit(
        meter.reserve("p1", now=NOON), usage(400, 200), character="mira"
    )  # 1500 < 2000: admitted
    with pytest.raises(QuotaExceededError) as info:
        meter.reserve("p1", now=NOON)
    assert info.value.kind == "tokens"
    assert meter.state("p1", now=NOON).tokens == 2100


def test_spend_quota_counts_the_per_question_charge(ledger: Ledger) -> None:
    prices = PriceTable(currency="CNY", per_question=0.5)
    meter = Meter(ledger, prices=prices, quota=Quota(spend_per_day=1.0))
    for _ in range(2):
        assert meter.commit(meter.reserve("p1", now=NOON), usage(), character="chen").charge == 0.5
    with pytest.raises(QuotaExceededError) as info:
        meter.reserve("p1", now=NOON)
    assert info.value.kind == "spend"


def test_commit_twice_records_once(ledger: Ledger) -> None:
    meter = Meter(ledger)
    reservation = meter.reserve("p1", now=NOON)
    assert meter.commit(reservation, usage(), character="mira").usage_id is not None
    assert meter.commit(reservation, usage(), character="mira").usage_id is None
    assert ledger.usage_totals()[0].calls == 1


def test_no_quota_means_unlimited(ledger: Ledger) -> None:
    meter = Meter(ledger)
    for _ in range(50):
        meter.reserve("p1", now=NOON)
    assert meter.state("p1", now=NOON).questions == 50


# One connection per thread: on PostgreSQL, tests/test_memory_postgres_writers.py runs
# concurrent reservations from several processes instead.
@pytest.mark.parametrize("world", ["sqlite"], indirect=True)
def test_hundred_concurrent_reservations_admit_exactly_ten(world: Path) -> None:
    admitted: list[int] = []
    refused: list[str | None] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(100)

    def turn() -> None:
        led = Ledger(world)  # each thread has its own connection
        try:
            meter = Meter(led, quota=Quota(questions_per_day=10))
            start.wait()
            try:
                reservation = meter.reserve("p1", now=NOON)
            except QuotaExceededError as exc:
                with lock:
                    refused.append(exc.kind)
                return
            meter.commit(reservation, usage(10, 5), character="mira")
            with lock:
                admitted.append(reservation.id)
        except BaseException as exc:  # surfaced below
            with lock:
                errors.append(exc)
        finally:
            led.close()

    threads = [threading.Thread(target=turn) for _ in range(100)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert len(admitted) == 10 and len(set(admitted)) == 10
    assert refused == ["questions"] * 90
    with Ledger(world) as check:
        state = check.quota_state("p1", day_of(NOON))
        assert (state.questions, state.tokens) == (10, 150)
        assert check.usage_totals()[0].calls == 10


# --------------------------------------------------------------------------- ledger


def test_usage_row_records_tokens_model_latency_and_cost(ledger: Ledger) -> None:
    prices = PriceTable(currency="CNY", models={"deepseek-chat": ModelPrice(input=2, output=3)})
    meter = Meter(ledger, prices=prices, clock=lambda: NOON)
    meter.commit(meter.reserve("p1"), usage(), character="chen")
    (row,) = ledger.export("p1")["usage"]
    assert row["player"] == "p1" and row["character"] == "chen" and row["model"] == "deepseek-chat"
    assert (row["prompt_tokens"], row["completion_tokens"], row["latency_ms"]) == (1000, 500, 120.0)
    assert row["cost"] == pytest.approx(0.0035) and row["currency"] == "CNY"


def test_usage_totals_group_by_character_and_model(ledger: Ledger) -> None:
    meter = Meter(ledger, prices=PriceTable(default=ModelPrice(input=1, output=1)))
    meter.commit(meter.reserve("p1", now=NOON), usage(model="a"), character="mira")
    meter.commit(meter.reserve("p2", now=NOON), usage(model="b"), character="mira")
    meter.commit(meter.reserve("p2", now=NOON), usage(model="b"), character="chen")
    by_character = {r.key: r.calls for r in ledger.usage_totals(group_by="character")}
    by_model = {r.key: r.calls for r in ledger.usage_totals(group_by="model")}
    assert by_character == {"mira": 2, "chen": 1} and by_model == {"a": 1, "b": 2}
    with pytest.raises(ValueError):
        ledger.usage_totals(group_by="nonsense")  # type: ignore[arg-type]


def test_audit_never_stores_raw_pii(ledger: Ledger) -> None:
    ledger.audit(
        "mira",
        "p1",
        "input",
        "gambling",
        "topic",
        "casino? call 13812345678 or a@b.io " + "x" * 400,
    )
    (record,) = ledger.audits(player="p1")
    assert "13812345678" not in record.excerpt and "a@b.io" not in record.excerpt
    assert "[phone]" in record.excerpt and len(record.excerpt) <= 160
    assert (record.direction, record.rule, record.category) == ("input", "gambling", "topic")


def test_audit_rejects_an_unknown_direction(ledger: Ledger) -> None:
    with pytest.raises(ValueError):
        ledger.audit("mira", "p1", "sideways", "x", None, "")  # type: ignore[arg-type]


def test_ledger_shares_the_memory_stores_file_with_its_own_migrations(tmp_path: Path) -> None:
    with MemoryStore(tmp_path / "w.db") as store:
        ledger = Ledger(store.db)
        store.add_turn("mira", "p1", "p1", "hello")
        ledger.audit("mira", "p1", "output", "pii:phone", "pii", "x")
        sets = {row["migration_set"] for row in store.db["_sqlite_migrations"].rows}
        assert {"engine.memory", "engine.ledger"} <= sets
        assert set(LEDGER_TABLES) <= set(store.db.table_names())
    with MemoryStore(tmp_path / "w.db") as again:  # reopening migrates nothing twice
        assert len(Ledger(again.db).audits()) == 1


def test_export_and_forget_cover_every_ledger_table(ledger: Ledger) -> None:
    meter = Meter(ledger)
    meter.commit(meter.reserve("p1", now=NOON), usage(), character="mira")
    meter.reserve("p2", now=NOON)
    ledger.audit("mira", "p1", "input", "gambling", "topic", "casino")
    exported = ledger.export("p1")
    assert {t: len(rows) for t, rows in exported.items()} == {
        "usage": 1, "quota_usage": 1, "quota_reservations": 1, "audit": 1
    }  # fmt: skip
    ledger.forget("p1")
    assert all(rows == [] for rows in ledger.export("p1").values())
    assert ledger.quota_state("p2", day_of(NOON)).questions == 1


def test_a_file_that_is_not_sqlite_raises_store_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError):
        Ledger(bad)
