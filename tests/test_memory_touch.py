"""Last-accessed times set by recall: seen at once by the store, on disk with its next write."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.memory import MemoryStore


def _on_disk(path: str | Path, memory_id: int) -> float:
    with MemoryStore(path) as other:  # another connection to the same file
        return other.get_memory(memory_id).last_accessed


def _one_line(store: MemoryStore, clock: Any) -> int:
    store.add_turn("mira", "p1", "p1", "My sister keeps bees on the hill.")
    clock.now += 3600
    return store.recall("mira", "p1", "bees", k=1)[0].memory.id


def test_a_recalled_memory_is_fresh_for_the_store_at_once_and_on_disk_after_its_next_write(
    store: MemoryStore, world: str, clock: Any
) -> None:
    created = clock.now
    memory_id = _one_line(store, clock)
    assert store.get_memory(memory_id).last_accessed == clock.now
    assert _on_disk(world, memory_id) == created
    store.add_turn("mira", "p2", "p2", "Unrelated.")  # any write carries the pending times
    assert _on_disk(world, memory_id) == clock.now


def test_flush_and_close_write_pending_times(world_path: Path, clock: Any) -> None:
    with MemoryStore(world_path, clock=clock) as store:
        memory_id = _one_line(store, clock)
        store.flush()
        assert _on_disk(world_path, memory_id) == clock.now
        clock.now += 60
        store.recall("mira", "p1", "bees", k=1)
    assert _on_disk(world_path, memory_id) == clock.now  # written when the store closed


def test_recency_uses_the_time_of_a_recall_not_yet_written(store: MemoryStore, clock: Any) -> None:
    store.add_turn("mira", "p1", "p1", "My sister keeps bees on the hill.")
    clock.now += 10 * 3600
    first = store.recall("mira", "p1", "bees", k=1)[0].score.recency  # ten hours since written
    clock.now += 1
    again = store.recall("mira", "p1", "bees", k=1)[0].score.recency  # a second since recalled
    assert first < 0.96 < 0.999 < again


def test_export_includes_times_of_recalls_not_yet_written(store: MemoryStore, clock: Any) -> None:
    memory_id = _one_line(store, clock)
    exported = store.export("p1")
    times = {m["id"]: m["last_accessed"] for m in exported["memories"]}
    assert times[memory_id] == clock.now


def test_a_memory_forgotten_with_a_time_pending_stays_forgotten(
    store: MemoryStore, world: str, clock: Any
) -> None:
    memory_id = _one_line(store, clock)
    store.forget_memory(memory_id)
    store.flush()
    with MemoryStore(world) as other:
        assert other.memories("mira", "p1") == []
