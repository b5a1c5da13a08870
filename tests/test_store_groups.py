"""Writes that share one commit: savepoints inside a transaction, ``MemoryStore.grouped``, and
the runtime's store thread grouping the writes queued one after another."""

from __future__ import annotations

import sqlite3
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest
from fixtures_runtime import TextBackend, hold_store

from engine.memory import MemoryStore
from engine.memory._sqlite import in_transaction
from engine.runtime import Runtime
from engine.runtime.store_thread import GROUP_LIMIT


class Abort(BaseException):
    """Not an Exception: it stops a whole group, as an interrupt would."""


def _row(text: str, player: str = "p1") -> dict[str, Any]:
    return {"character": "mira", "player": player, "speaker": player, "text": text, "time": 1.0}


def _texts(path: Path, player: str = "p1") -> list[str]:
    """The lines another connection sees."""
    with sqlite3.connect(path) as other:
        rows = other.execute("SELECT text FROM turns WHERE player = ? ORDER BY id", (player,))
        return [r[0] for r in rows]


def _commits(conn: sqlite3.Connection) -> list[str]:
    seen: list[str] = []
    conn.set_trace_callback(lambda sql: seen.append(sql) if sql.strip() == "COMMIT" else None)
    return seen


def test_a_nested_write_that_fails_is_undone_alone(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "t.db")
    conn.execute("CREATE TABLE t (x TEXT)")
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("INSERT INTO t VALUES ('before')")

    def failing(c: sqlite3.Connection) -> None:
        c.execute("INSERT INTO t VALUES ('undone')")
        raise ValueError("no")

    with pytest.raises(ValueError):
        in_transaction(conn, failing)
    assert conn.in_transaction  # the outer transaction is still its owner's
    in_transaction(conn, lambda c: c.execute("INSERT INTO t VALUES ('after')"))
    conn.execute("COMMIT")
    assert [r[0] for r in conn.execute("SELECT x FROM t")] == ["before", "after"]


def test_grouped_writes_commit_once_and_a_failing_one_is_undone_alone(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    with MemoryStore(path) as store:
        commits = _commits(store.db.conn)

        def half_then_fail() -> None:
            store.add_turns([_row("half written")])
            store.db.conn.execute("SELECT * FROM no_such_table")

        outcomes = store.grouped(
            [
                lambda: store.add_turns([_row("first")]),
                half_then_fail,
                lambda: store.add_turns([_row("third")]),
            ]
        )
        assert [ok for ok, _ in outcomes] == [True, False, True]
        assert isinstance(outcomes[1][1], sqlite3.OperationalError)
        assert "no_such_table" in str(outcomes[1][1])
        assert commits == ["COMMIT"]
        assert _texts(path) == ["first", "third"]
        # The store goes on as usual: the next write is its own transaction again.
        store.add_turns([_row("fourth")])
        assert _texts(path) == ["first", "third", "fourth"]


def test_a_group_that_cannot_finish_writes_nothing_and_leaves_no_stale_cache(
    tmp_path: Path,
) -> None:
    path = tmp_path / "w.db"
    with MemoryStore(path) as store:
        store.add_turns([_row("I keep bees on the hill.")])
        [hit] = store.recall("mira", "p1", "bees", k=3, touch=False)
        store._touch([hit.memory.id], 5_000.0)

        def write_read_then_abort() -> None:
            store.add_turns([_row("The lantern festival is tonight.")])
            # Reads inside the group cache what is not committed (the line count moves past
            # the new line's id; the recall touches it).
            assert store.relationship("mira", "p1").turns == 3
            assert store.recall("mira", "p1", "lantern", k=3)
            raise Abort

        with pytest.raises(Abort):
            store.grouped(
                [lambda: store.add_turns([_row("rolled back too")]), write_read_then_abort]
            )
        assert not store.db.conn.in_transaction
        assert _texts(path) == ["I keep bees on the hill."]
        # The touch the group would have written is still waiting for the next write.
        assert store._touches == {hit.memory.id: 5_000.0}
        # New lines may reuse the rolled-back ids: the caches were dropped, so they count.
        store.add_turns([_row("My kite is red.")])
        assert store.relationship("mira", "p1").turns == 2
        found = store.recall("mira", "p1", "kite", k=3)
        assert found[0].memory.text == "My kite is red."
        with sqlite3.connect(path) as other:
            accessed = other.execute(
                "SELECT last_accessed FROM memories WHERE id = ?", (hit.memory.id,)
            ).fetchone()[0]
        assert accessed == 5_000.0


def _trace_commits(rt: Runtime) -> list[str]:
    return rt._store.submit(lambda store: _commits(store.db.conn)).result(5)


def test_the_store_thread_groups_queued_writes_into_one_commit(
    tmp_path: Path, make_runtime: Any, test_persona: Any
) -> None:
    rt = make_runtime(
        TextBackend("Hi."), characters={"tess": test_persona}, world=tmp_path / "w.db"
    )
    commits = _trace_commits(rt)
    gate = hold_store(rt)
    futures: list[Future[Any]] = [
        rt._store.submit(
            lambda s, i=i: s.add_turns([_row(f"line {i}", f"p{i}")])[0], priority=1, group=True
        )
        for i in range(GROUP_LIMIT + 6)
    ]
    bad = rt._store.submit(
        lambda s: s.db.conn.execute("SELECT * FROM no_such_table"), priority=1, group=True
    )
    cancelled = rt._store.submit(lambda s: s.add_turns([_row("never")]), priority=1, group=True)
    assert cancelled.cancel()
    ungrouped = rt._store.submit(lambda s: s.add_turns([_row("alone", "q")])[0], priority=1)
    gate.set()
    ids = [f.result(5) for f in futures]
    assert len(set(ids)) == len(ids)
    assert ungrouped.result(5)
    assert rt.wait_idle(5)
    # 70 grouped writes: 64 in the first commit, the other 6 with the failing and the
    # cancelled one in a second; the ungrouped write commits on its own.
    assert len(commits) == 3
    with pytest.raises(sqlite3.OperationalError, match="no_such_table"):
        bad.result(5)
    assert _texts(tmp_path / "w.db", "p0") == ["line 0"]
    assert _texts(tmp_path / "w.db", f"p{GROUP_LIMIT + 5}") == [f"line {GROUP_LIMIT + 5}"]
    assert "never" not in _texts(tmp_path / "w.db")


def test_writes_of_a_crowd_of_turns_are_all_kept(
    tmp_path: Path, make_runtime: Any, test_persona: Any
) -> None:
    rt = make_runtime(
        TextBackend("Welcome in."),
        characters={"tess": test_persona},
        world=tmp_path / "w.db",
        max_concurrency=64,
    )
    handles = [rt.say("tess", f"p{i}", f"My name is Player{i}.") for i in range(40)]
    assert rt.wait_idle(30)
    assert all(h.done and h.error is None for h in handles)
    for i in (0, 17, 39):
        assert _texts(tmp_path / "w.db", f"p{i}") == [f"My name is Player{i}.", "Welcome in."]
