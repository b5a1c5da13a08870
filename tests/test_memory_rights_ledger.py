"""Player rights cover the metering ledger kept in the same world (SQLite file or PostgreSQL)."""

from __future__ import annotations

from engine.memory import MemoryStore
from engine.memory.ledger import LEDGER_TABLES, Ledger
from engine.metering import Meter, Quota
from engine.types import Usage


def _metered_world(path: str) -> MemoryStore:
    store = MemoryStore(path)
    store.add_turn("mira", "ana", "ana", "Hi, my email is ana@example.com")
    store.add_turn("mira", "bo", "bo", "Hello there")
    ledger = Ledger(store.db)
    meter = Meter(ledger, quota=Quota(questions_per_day=5))
    for player in ("ana", "bo"):
        reservation = meter.reserve(player)
        meter.commit(
            reservation, Usage(prompt_tokens=10, completion_tokens=5), character="mira", model="m"
        )
    ledger.audit("mira", "ana", "input", "topic:gambling", "topic", "let's bet on it")
    return store


def test_forget_removes_the_players_ledger_rows_and_keeps_others(world: str) -> None:
    store = _metered_world(world)
    store.forget("ana")
    for table in LEDGER_TABLES:
        assert (
            store.db.execute(f"SELECT COUNT(*) FROM {table} WHERE player = 'ana'").fetchone()[0]
            == 0
        )
    assert store.db.execute("SELECT COUNT(*) FROM usage WHERE player = 'bo'").fetchone()[0] == 1
    store.close()


def test_export_includes_the_players_ledger_rows(world: str) -> None:
    store = _metered_world(world)
    data = store.export("ana")
    assert len(data["ledger"]["usage"]) == 1
    assert data["ledger"]["audit"][0]["rule"] == "topic:gambling"
    assert all(row["player"] == "ana" for rows in data["ledger"].values() for row in rows)
    store.close()


def test_export_of_an_unmetered_world_has_an_empty_ledger(world: str) -> None:
    store = MemoryStore(world)
    store.add_turn("mira", "ana", "ana", "Hi")
    # SQLite: no ledger tables until metered; PostgreSQL: the tables, empty.
    assert all(rows == [] for rows in store.export("ana")["ledger"].values())
    store.close()
