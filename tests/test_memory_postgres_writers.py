"""Many processes writing one PostgreSQL world: what SQLite's single writer guarantees holds here
too (quota without overrun, one current fact, no lost relationship update, no lost or duplicated
turn), and a writer killed mid-burst or a server restart loses nothing committed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from engine.errors import StoreError
from engine.memory import Ledger, MemoryStore

ROOT = Path(__file__).resolve().parent.parent

WRITER = textwrap.dedent(
    """
    import sys
    from engine.errors import QuotaExceededError
    from engine.memory import Ledger, MemoryStore
    url, job, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with MemoryStore(url) as store:
        ledger = Ledger(store.db)
        for i in range(n):
            if job == "quota":
                try:
                    ledger.reserve("p1", day="2026-01-01", now=0.0, max_questions=25)
                except QuotaExceededError:
                    pass
            elif job == "facts":
                store.add_fact("mira", "p1", "p1", "lives in", f"town {sys.argv[4]}-{i}")
            elif job == "relationship":
                store.adjust_relationship("mira", "p1", familiarity=0.5)
            elif job == "turns":
                store.add_turn("mira", f"p{sys.argv[4]}", f"p{sys.argv[4]}", f"line {i}")
                print(i, flush=True)
    """
)


def _spawn(url: str, job: str, n: int, tag: str = "0") -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, url, job, str(n), tag],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _run_all(url: str, job: str, n: int, procs: int = 3) -> None:
    running = [_spawn(url, job, n, str(k)) for k in range(procs)]
    for p in running:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err


def test_concurrent_reservations_never_pass_the_quota(pg_url: str) -> None:
    _run_all(pg_url, "quota", 15)  # 45 attempts on a quota of 25
    with Ledger(pg_url) as ledger:
        assert ledger.quota_state("p1", "2026-01-01").questions == 25
        rows = ledger._read("SELECT count(*) FROM quota_reservations")  # noqa: SLF001
        assert rows[0][0] == 25


def test_concurrent_contradicting_facts_leave_exactly_one_current(pg_url: str) -> None:
    _run_all(pg_url, "facts", 10)
    with MemoryStore(pg_url) as store:
        current = store.facts("mira", "p1")
        everything = store.facts("mira", "p1", include_superseded=True)
    assert len(current) == 1
    assert len(everything) == 30
    assert all(f.superseded_by is not None for f in everything if f.id != current[0].id)


def test_concurrent_relationship_updates_are_never_lost(pg_url: str) -> None:
    _run_all(pg_url, "relationship", 20)
    with MemoryStore(pg_url) as store:
        assert store.relationship("mira", "p1").familiarity == pytest.approx(30.0)


def test_a_writer_killed_mid_burst_loses_no_committed_turn_and_writes_none_twice(
    pg_url: str,
) -> None:
    victim = _spawn(pg_url, "turns", 100_000, "1")
    steady = _spawn(pg_url, "turns", 60, "2")
    assert victim.stdout is not None
    acknowledged = -1
    for line in victim.stdout:  # turns the victim saw committed
        acknowledged = int(line)
        if acknowledged >= 40:
            break
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    _, err = steady.communicate(timeout=120)
    assert steady.returncode == 0, err
    with MemoryStore(pg_url) as store:
        texts = [t.text for t in store.recent_turns("mira", "p1", limit=1_000_000)]
        assert texts == [f"line {i}" for i in range(len(texts))]  # in order, none twice
        assert len(texts) >= acknowledged + 1
        assert [t.text for t in store.recent_turns("mira", "p2", limit=1000)] == [
            f"line {i}" for i in range(60)
        ]
        ids = store.db.execute("SELECT count(*), count(DISTINCT memory_id) FROM turns")[0]
        assert ids[0] == ids[1] == len(texts) + 60


def test_a_server_restart_mid_burst_loses_no_committed_turn_and_writes_none_twice(
    pg_server: Any, pg_url: str
) -> None:
    acknowledged: list[str] = []
    unknown: list[str] = []
    stop = threading.Event()

    def burst() -> None:
        with MemoryStore(pg_url) as store:
            for i in range(100_000):
                if stop.is_set():
                    return
                text = f"line {i}"
                try:
                    store.add_turn("mira", "p1", "p1", text)
                except StoreError as exc:  # only a commit cut in flight may end this way
                    assert "may or may not have been stored" in str(exc)
                    unknown.append(text)
                    continue
                acknowledged.append(text)

    writer = threading.Thread(target=burst)
    writer.start()
    while len(acknowledged) < 20:
        time.sleep(0.01)
    pg_server.restart()
    before = len(acknowledged)
    deadline = time.monotonic() + 60
    while len(acknowledged) < before + 20:  # the writer carries on after the restart
        assert time.monotonic() < deadline and writer.is_alive()
        time.sleep(0.01)
    stop.set()
    writer.join(timeout=60)
    with MemoryStore(pg_url) as store:
        stored = [t.text for t in store.recent_turns("mira", "p1", limit=1_000_000)]
    assert len(stored) == len(set(stored))  # nothing twice
    assert set(acknowledged) <= set(stored)  # nothing acknowledged lost
    assert set(stored) <= set(acknowledged) | set(unknown)


def test_every_connection_cut_mid_session_loses_nothing_committed(
    pg_server: Any, pg_url: str
) -> None:
    with MemoryStore(pg_url) as store:
        store.add_turn("mira", "p1", "p1", "before the restart")
        # Every connection of the world is cut, as when the server restarts.
        pg_server.admin(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            f" WHERE datname = '{pg_url.rsplit('/', 1)[1].split('?')[0]}'"
        )
        time.sleep(0.2)
        store.add_turn("mira", "p1", "p1", "after the restart")  # reconnects and retries
        assert [t.text for t in store.recent_turns("mira", "p1")] == [
            "before the restart",
            "after the restart",
        ]
