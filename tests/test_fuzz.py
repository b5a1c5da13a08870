"""The fuzz targets of engine.testing.fuzz, run briefly under hypothesis: every parser that
reads outside input keeps its contract (its own error, or a result, in bounded time).
``bench/fuzz.py`` runs the same targets for longer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from engine.testing.fuzz import TARGETS, runner, strategies

ROOT = Path(__file__).resolve().parent.parent
STRATEGIES = strategies()
EXAMPLES = {"persona": 60, "card": 150, "lorebook": 150, "stream": 40, "turn": 40}


@pytest.fixture(scope="module")
def runners() -> Iterator[dict[str, Any]]:
    made = {name: runner(name, ROOT / "characters") for name in TARGETS}
    yield {name: run for name, (run, _close) in made.items()}
    for _run, close in made.values():
        close()


@pytest.mark.parametrize("target", TARGETS)
def test_fuzz_target_keeps_its_contract(target: str, runners: dict[str, Any]) -> None:
    run = runners[target]

    @settings(
        max_examples=EXAMPLES[target],
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(STRATEGIES[target])
    def check(example: Any) -> None:
        run(example)

    check()
