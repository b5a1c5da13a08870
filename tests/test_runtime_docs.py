"""The examples in docs/embedding.md run as written (pygame headless, asyncio)."""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path
from typing import Any

import pytest

from engine.memory import MemoryStore

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "embedding.md"


def _examples() -> list[str]:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.DOTALL)
    return [b for b in blocks if "def main" in b]


@pytest.fixture
def game_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "characters").symlink_to(ROOT / "characters", target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_page_has_a_pygame_and_an_asyncio_example() -> None:
    examples = _examples()
    assert len(examples) == 2
    assert "import pygame" in examples[0] and "asyncio.run" in examples[1]


def test_pygame_example_runs_headless(game_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    pygame = pytest.importorskip("pygame")
    namespace: dict[str, Any] = {"__name__": "talk"}
    exec(compile(_examples()[0], "talk.py", "exec"), namespace)  # noqa: S102 (the documented example)

    real_get = pygame.event.get
    frames = {"n": 0}

    def player_input(*args: Any, **kwargs: Any) -> list[Any]:
        # The player types a line on frame 5, presses Enter, and closes the window later.
        frames["n"] += 1
        events = list(real_get(*args, **kwargs))
        if frames["n"] == 5:
            events.append(pygame.event.Event(pygame.TEXTINPUT, text="Where is the tea house?"))
            events.append(
                pygame.event.Event(pygame.KEYDOWN, key=pygame.K_RETURN, mod=0, unicode="\r")
            )
        if frames["n"] == 90:
            events.append(pygame.event.Event(pygame.QUIT))
        return events

    monkeypatch.setattr(pygame.event, "get", player_input)
    namespace["main"]("scripted")
    with MemoryStore(game_dir / "world.db") as store:
        turns = store.recent_turns("mira", "player1")
    assert [t.speaker for t in turns] == ["mira", "player1", "mira"]
    assert turns[1].text == "Where is the tea house?"


def test_asyncio_example_runs(game_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    namespace: dict[str, Any] = {"__name__": "talk_async"}
    exec(compile(_examples()[1], "talk_async.py", "exec"), namespace)  # noqa: S102
    asyncio.run(namespace["main"]())
    out = capsys.readouterr().out
    assert "mira: " in out and "chen: " in out
    assert "mira feels" in out and "chen feels" in out
