"""Fixtures for memory tests: a real SQLite world file in a temporary directory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.memory import MemoryStore


class FakeClock:
    """A settable clock (seconds) so recency and timestamps are deterministic."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def world_path(tmp_path: Path) -> Path:
    return tmp_path / "world.db"


@pytest.fixture
def store(world_path: Path, clock: FakeClock) -> Iterator[MemoryStore]:
    with MemoryStore(world_path, clock=clock) as s:
        yield s
