"""`npc memory migrate`: a world copied SQLite -> PostgreSQL -> SQLite keeps every row, recalls
the same, resumes after an interruption, and refuses to write over another world."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fixtures_memory import HashEmbedder

from engine.cli import main
from engine.errors import StoreError
from engine.memory import Ledger, MemoryStore, transfer
from engine.metering import Meter, Quota
from engine.types import Usage


def _fill(path: str) -> None:
    with MemoryStore(path, embedder=HashEmbedder()) as store:
        store.set_player_name("p1", "Ada")
        for i in range(30):
            store.add_turn("mira", "p1", "p1" if i % 2 else "mira", f"line {i} about bees and 茶")
        store.add_turn("bram", "p2", "p2", "I sail boats")
        store.add_memory("mira", "p1", "Ada keeps bees", kind="reflection", importance=8)
        store.add_fact("mira", "p1", "p1", "likes", "tea")
        store.add_fact("mira", "p1", "p1", "likes", "coffee")
        store.adjust_relationship("mira", "p1", affinity=4)
        turns = store.recent_turns("mira", "p1", limit=100)
        store.set_summary("mira", "p1", "They talked about bees", [t.id for t in turns[:5]])
        store.forget_memory(store.memories("mira", "p1")[0].id)  # leaves a gap in the ids
        store.embed_pending()
        meter = Meter(Ledger(store.db), quota=Quota(questions_per_day=5))
        meter.commit(
            meter.reserve("p1"),
            Usage(prompt_tokens=10, completion_tokens=5),
            character="mira",
            model="m",
        )


def _recall(path: str) -> list[tuple[str, float]]:
    with MemoryStore(path, embedder=HashEmbedder()) as store:
        return [
            (r.memory.text, round(r.score.total, 6))
            for r in store.recall("mira", "p1", "bees tea", k=5)
        ]


def test_a_world_goes_to_postgres_and_back_with_every_row_verified(
    tmp_path: Path, pg_url: str
) -> None:
    source = str(tmp_path / "world.db")
    _fill(source)
    runner = CliRunner()
    result = runner.invoke(main, ["memory", "migrate", "--from", source, "--to", pg_url])
    assert result.exit_code == 0, result.output
    assert "every table verified" in result.output
    back = str(tmp_path / "back.db")
    result = runner.invoke(main, ["memory", "migrate", "--from", pg_url, "--to", back])
    assert result.exit_code == 0, result.output
    with MemoryStore(source) as a, MemoryStore(back) as b:
        assert a.export("p1") == b.export("p1")
        # New ids continue above every id the source ever gave out.
        assert b.add_turn("mira", "p1", "p1", "new").id > max(
            t.id for t in a.recent_turns("mira", "p1", 100)
        )
    assert [t for t, _ in _recall(pg_url)] == [t for t, _ in _recall(source)]


def test_an_interrupted_copy_resumes_and_writes_no_row_twice(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = str(tmp_path / "world.db")
    _fill(source)
    monkeypatch.setattr(transfer, "CHUNK", 7)
    calls = {"n": 0}
    real = transfer._copy_table

    def failing(src: Any, dst: Any, table: str, progress: Any) -> None:
        calls["n"] += 1
        if table == "memories":

            def stop(t: str, done: int, total: int) -> None:
                progress(t, done, total)
                if done >= 14:
                    raise KeyboardInterrupt

            return real(src, dst, table, stop)
        return real(src, dst, table, progress)

    monkeypatch.setattr(transfer, "_copy_table", failing)
    with MemoryStore(source) as src, MemoryStore(pg_url) as dst, pytest.raises(KeyboardInterrupt):
        transfer.migrate_world(src, dst)
    monkeypatch.setattr(transfer, "_copy_table", real)
    with MemoryStore(source) as src, MemoryStore(pg_url) as dst:
        assert 0 < dst.db.execute("SELECT count(*) FROM memories")[0][0] < 40
        reports = transfer.migrate_world(src, dst)
    assert all(r.ok for r in reports), [r for r in reports if not r.ok]


def test_a_world_is_never_copied_over_another(tmp_path: Path, pg_url: str) -> None:
    source = str(tmp_path / "world.db")
    _fill(source)
    with MemoryStore(pg_url) as dst:
        dst.add_turn("mira", "p9", "p9", "I was here first")
    with MemoryStore(source) as src, MemoryStore(pg_url) as dst, pytest.raises(StoreError):
        transfer.migrate_world(src, dst)
