"""Reliability: a writer killed at random moments loses nothing it confirmed; isolation holds
for random scenes; readers and a second writer never see "database is locked"."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from fixtures_memory import CHARACTERS, PLAYERS, QUERIES, SCENES, check_recall_visibility
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.memory import MemoryStore


def _writer(path: Path, fd: int, seed: int) -> None:
    """Child process: write turns forever; after each write returns, report its ids."""
    rng = random.Random(seed)
    store = MemoryStore(path)
    n = 0
    while True:
        if rng.random() < 0.3:
            ids = store.add_turns(
                {
                    "character": "mira",
                    "player": f"p{rng.randint(0, 3)}",
                    "speaker": "mira",
                    "text": f"batch line {n}-{i} about the river and 龙井茶",
                }
                for i in range(rng.randint(2, 40))
            )
        else:
            ids = [store.add_turn("mira", f"p{rng.randint(0, 3)}", "p1", f"line {n} about bees").id]
        if rng.random() < 0.1:
            store.add_fact("mira", "p1", "player", "counter", str(n))
        os.write(fd, b"".join(f"{i}\n".encode() for i in ids))
        n += 1


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    scene_list=SCENES,
    who=st.sampled_from(CHARACTERS),
    player=st.sampled_from(PLAYERS),
    query=QUERIES,
)
def test_recall_never_crosses_players_or_unwitnessed_scenes_on_postgres(
    pg_server: Any, scene_list: Any, who: str, player: str, query: str
) -> None:
    with MemoryStore(pg_server.fresh()) as store:
        check_recall_visibility(store, scene_list, who, player, query)


@pytest.mark.slow
def test_writer_killed_at_random_moments_keeps_every_confirmed_turn(tmp_path: Path) -> None:
    path = tmp_path / "world.db"
    MemoryStore(path).close()
    rng = random.Random(1234)
    confirmed: set[int] = set()
    for run in range(24):
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - child
            os.close(read_fd)
            try:
                _writer(path, write_fd, run)
            finally:
                os._exit(0)
        os.close(write_fd)
        time.sleep(rng.uniform(0.02, 0.4))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        data = b""
        while chunk := os.read(read_fd, 65536):
            data += chunk
        os.close(read_fd)
        # Only complete lines were confirmed (a kill can cut a report short).
        lines = data.split(b"\n")[:-1]
        confirmed.update(int(x) for x in lines)
        conn = sqlite3.connect(path)
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        stored = {r[0] for r in conn.execute("SELECT id FROM turns")}
        missing = confirmed - stored
        assert not missing, f"run {run}: confirmed turns lost: {sorted(missing)[:10]}"
        # Every stored turn kept its memory and index entry: no half-written batch.
        orphans = conn.execute(
            "SELECT count(*) FROM turns t LEFT JOIN memories m ON m.id = t.memory_id WHERE m.id IS NULL"
        ).fetchone()[0]
        unindexed = conn.execute(
            "SELECT count(*) FROM memories WHERE id NOT IN (SELECT rowid FROM memories_fts)"
        ).fetchone()[0]
        assert (orphans, unindexed) == (0, 0)
        conn.close()
    assert len(confirmed) > 24
    with MemoryStore(path) as store:
        assert store.check() == "ok"
        assert store.recall("mira", "p1", "bees")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    scene_list=SCENES,
    who=st.sampled_from(CHARACTERS),
    player=st.sampled_from(PLAYERS),
    query=QUERIES,
)
def test_recall_never_crosses_players_or_unwitnessed_scenes(scene_list, who, player, query) -> None:
    with MemoryStore(":memory:") as store:
        check_recall_visibility(store, scene_list, who, player, query)


@pytest.mark.slow
def test_readers_and_a_second_writer_never_see_database_locked(world_path: Path) -> None:
    MemoryStore(world_path).close()
    stop = threading.Event()
    errors: list[BaseException] = []
    counts = {"reads": 0, "writes": 0}

    def guarded(fn):
        def run() -> None:
            try:
                fn()
            except BaseException as exc:  # noqa: BLE001 - collected and asserted below
                errors.append(exc)
                stop.set()

        return run

    @guarded
    def writer() -> None:
        with MemoryStore(world_path) as store:
            n = 0
            while not stop.is_set():
                store.add_turns(
                    {
                        "character": "mira",
                        "player": "p1",
                        "speaker": "p1",
                        "text": f"river story {n} {i}",
                    }
                    for i in range(50)
                )
                counts["writes"] += 1
                n += 1

    @guarded
    def other_writer() -> None:
        with MemoryStore(world_path) as store:
            while not stop.is_set():
                store.add_fact("bram", "p2", "player", "mood", random.choice(["glad", "sad"]))
                store.adjust_relationship("bram", "p2", affinity=1)
                counts["writes"] += 1

    @guarded
    def reader() -> None:
        with MemoryStore(world_path) as store:
            while not stop.is_set():
                store.recall("mira", "p1", "river story")
                store.recent_turns("mira", "p1")
                store.memories("mira", "p1", limit=20)
                store.relationship("bram", "p2")
                counts["reads"] += 1

    threads = [threading.Thread(target=t) for t in (writer, other_writer, reader, reader, reader)]
    for t in threads:
        t.start()
    time.sleep(4.0)
    stop.set()
    for t in threads:
        t.join(timeout=30)
    assert not errors, errors
    assert counts["reads"] > 10 and counts["writes"] > 10
