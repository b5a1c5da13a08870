"""A lone surrogate (text that is not valid Unicode) gets a clear error or an in-character
answer: never a silent cancel, never a raw UnicodeEncodeError from the store or the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fixtures_runtime import drain

from engine.dialogue.heuristics import choose_line
from engine.errors import EngineError, StoreError
from engine.memory import MemoryStore
from engine.runtime.events import TurnDone

ROOT = Path(__file__).resolve().parent.parent
BAD = "bo\udcffb"


def test_a_line_with_a_lone_surrogate_gets_an_answer(make_runtime: Any) -> None:
    rt = make_runtime()
    events = drain(rt, rt.say("mira", "ann", f"hello {BAD}, how are you?", player_name=f"A{BAD}"))
    done = [e for e in events if isinstance(e, TurnDone)]
    assert done and done[0].result.text
    turns = rt.recent_turns("mira", "ann").result(5)
    assert turns and "\ufffd" in turns[0].text


def test_a_player_id_with_a_lone_surrogate_is_a_clear_error(make_runtime: Any) -> None:
    rt = make_runtime()
    with pytest.raises(EngineError, match="not valid Unicode"):
        rt.say("mira", BAD, "hello")


def test_fallback_lines_are_chosen_for_any_key() -> None:
    assert choose_line(["a", "b"], BAD) in ("a", "b")


def test_the_store_raises_a_store_error_not_a_unicode_error(tmp_path: Path) -> None:
    with MemoryStore(tmp_path / "w.db") as store:
        with pytest.raises(StoreError, match="not valid Unicode"):
            store.add_turn("mira", "ann", "ann", f"hi {BAD}")
        with pytest.raises(StoreError, match="not valid Unicode"):
            store.export(BAD)
        with pytest.raises(StoreError, match="not valid Unicode"):
            store.forget(BAD)


@pytest.mark.parametrize("command", ["export", "forget"])
def test_npc_memory_with_an_undecodable_player_argument_is_a_one_line_error(
    tmp_path: Path, command: str
) -> None:
    world = tmp_path / "w.db"
    MemoryStore(world).close()
    args = [
        sys.executable,
        "-m",
        "engine",
        "memory",
        command,
        "--db",
        str(world),
        os.fsencode("bo\udcffb"),
    ]
    if command == "forget":
        args.append("--yes")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(args, capture_output=True, env=env, timeout=60)
    assert result.returncode != 0
    err = result.stderr.decode("utf-8", "replace")
    assert "Traceback" not in err and "not valid Unicode" in err, err
