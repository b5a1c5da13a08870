"""``npc chat`` and ``npc prompt``."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from engine.cli import main
from engine.memory import MemoryStore

ROOT = Path(__file__).resolve().parent.parent
CHARS = str(ROOT / "characters")


def test_chat_streams_replies_and_remembers_them(tmp_path: Path) -> None:
    world = tmp_path / "w.db"
    result = CliRunner().invoke(
        main,
        [
            "chat",
            "mira",
            "--backend",
            "scripted",
            "--db",
            str(world),
            "--player",
            "p1",
            "--characters",
            CHARS,
        ],
        input="My name is Ada and I love sailing. My favourite drink is plum wine.\n"
        "What do I like to drink?\n/facts\n/quit\n",
    )
    assert result.exit_code == 0, result.output
    assert "Mira> Hey there, welcome to Lantern Square!" in result.output
    assert "Ada loves sailing" in result.output
    assert "Ada's favourite drink is plum wine" in result.output
    assert "to drink (" not in result.output  # the question is not a fact
    with MemoryStore(world) as store:
        assert store.player_name("p1") == "Ada"
        assert [t.speaker for t in store.recent_turns("mira", "p1")] == [
            "mira",
            "p1",
            "mira",
            "p1",
            "mira",
        ]


def test_chat_unknown_character_is_a_clear_error() -> None:
    result = CliRunner().invoke(
        main, ["chat", "nobody", "--backend", "scripted", "--characters", CHARS]
    )
    assert result.exit_code != 0
    assert "no character 'nobody'" in result.output and "mira" in result.output


def test_prompt_prints_sections_with_sizes_and_writes_nothing(tmp_path: Path) -> None:
    world = tmp_path / "w.db"
    with MemoryStore(world) as store:
        store.add_turn("chen", "p1", "p1", "我最喜欢龙井")
        store.set_player_name("p1", "小林")
    args = [
        "prompt",
        "chen",
        "--player",
        "p1",
        "--say",
        "还记得我喜欢什么茶吗？",
        "--db",
        str(world),
    ]
    result = CliRunner().invoke(main, [*args, "--characters", CHARS])
    assert result.exit_code == 0, result.output
    assert "── persona (" in result.output and "── input (" in result.output
    assert "total" in result.output and "我最喜欢龙井" in result.output
    data = json.loads(CliRunner().invoke(main, [*args, "--json", "--characters", CHARS]).output)
    assert data["sections"][-1]["name"] == "input"
    assert data["total_tokens"] == sum(s["tokens"] for s in data["sections"])
    with MemoryStore(world) as store:
        assert len(store.recent_turns("chen", "p1")) == 1


def test_prompt_with_a_small_context_cuts_and_says_so() -> None:
    result = CliRunner().invoke(
        main,
        [
            "prompt",
            "mira",
            "--player",
            "p1",
            "--say",
            "hello",
            "--context",
            "1024",
            "--characters",
            CHARS,
        ],
    )
    assert result.exit_code == 0, result.output
    assert "cut to fit:" in result.output


def test_chat_as_a_player_with_a_characters_id_says_why_without_a_traceback(
    tmp_path: Path,
) -> None:
    args = ["chat", "chen", "--backend", "scripted", "--db", str(tmp_path / "w.db")]
    result = CliRunner().invoke(main, [*args, "--player", "lin", "--characters", CHARS], input="")
    assert result.exit_code == 1
    assert "player id 'lin' is a character id" in result.output
    assert "Traceback" not in result.output and result.exception is not None
    assert isinstance(result.exception, SystemExit)
