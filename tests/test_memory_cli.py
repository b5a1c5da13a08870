"""``npc memory`` commands against a real world file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from engine.cli import main
from engine.memory import MemoryStore


@pytest.fixture
def world(world_path: Path) -> Path:
    with MemoryStore(world_path) as store:
        store.set_player_name("p1", "Ada")
        store.add_turn("mira", "p1", "p1", "My cat is called Pebble")
        store.add_turn("mira", "p1", "mira", "What a sweet name!")
        store.add_fact("mira", "p1", "player", "cat", "Pebble")
        store.add_turn("mira", "p2", "p2", "I like trains")
    return world_path


def _run(*args: str, input: str | None = None):
    return CliRunner().invoke(main, ["memory", *args], input=input, catch_exceptions=False)


def test_list_shows_conversations(world: Path) -> None:
    result = _run("list", "--db", str(world))
    assert result.exit_code == 0
    assert "mira" in result.output and "p2" in result.output and "Ada" in result.output


def test_list_shows_one_conversations_memories(world: Path) -> None:
    result = _run("list", "--db", str(world), "--character", "mira", "--player", "p1")
    assert result.exit_code == 0
    assert "Pebble" in result.output and "trains" not in result.output


def test_show_prints_facts_and_turns(world: Path) -> None:
    result = _run("show", "--db", str(world), "p1")
    assert result.exit_code == 0
    assert "Pebble" in result.output and "stranger" in result.output


def test_show_unknown_player_is_an_error(world: Path) -> None:
    result = _run("show", "--db", str(world), "nobody")
    assert result.exit_code != 0 and "no conversations" in result.output


def test_search_prints_score_breakdown(world: Path) -> None:
    result = _run("search", "--db", str(world), "mira", "p1", "what is my cat called?")
    assert result.exit_code == 0
    assert "Pebble" in result.output and "relevance" in result.output


def test_export_writes_json(world: Path, tmp_path: Path) -> None:
    out = tmp_path / "p1.json"
    result = _run("export", "--db", str(world), "p1", "-o", str(out))
    assert result.exit_code == 0
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["name"] == "Ada" and len(data["turns"]) == 2


def test_forget_asks_then_removes_player(world: Path) -> None:
    assert _run("forget", "--db", str(world), "p1", input="n\n").exit_code != 0
    result = _run("forget", "--db", str(world), "p1", input="y\n")
    assert result.exit_code == 0
    with MemoryStore(world) as store:
        assert store.memories("mira", "p1") == []
        assert store.memories("mira", "p2")


def test_forget_one_memory(world: Path) -> None:
    with MemoryStore(world) as store:
        mid = store.memories("mira", "p1")[0].id
    assert _run("forget", "--db", str(world), "--memory", str(mid)).exit_code == 0
    assert "no memory" in _run("forget", "--db", str(world), "--memory", str(mid)).output


def test_forget_needs_player_or_memory(world: Path) -> None:
    assert _run("forget", "--db", str(world)).exit_code != 0
