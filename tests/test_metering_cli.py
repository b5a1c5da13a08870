"""``npc usage`` and ``npc audit`` over a real world file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from engine.cli import main
from engine.memory.ledger import Ledger
from engine.metering import Meter, ModelPrice, PriceTable
from engine.types import Usage


@pytest.fixture
def world(tmp_path: Path) -> Path:
    path = tmp_path / "world.db"
    with Ledger(path) as ledger:
        meter = Meter(
            ledger,
            prices=PriceTable(
                currency="CNY", models={"deepseek-chat": ModelPrice(input=2, output=3)}
            ),
        )
        for player, character in (("p1", "chen"), ("p2", "mira"), ("p1", "mira")):
            usage = Usage(
                prompt_tokens=1000, completion_tokens=100, model="deepseek-chat", latency_ms=250
            )
            meter.commit(meter.reserve(player), usage, character=character)
        ledger.audit("chen", "p1", "input", "gambling", "topic", "赌场在哪？我的电话13812345678")
    return path


def test_usage_prints_a_table_per_player(world: Path) -> None:
    result = CliRunner().invoke(main, ["usage", "--db", str(world)])
    assert result.exit_code == 0, result.output
    assert "p1" in result.output and "p2" in result.output and "CNY" in result.output


def test_usage_json_groups_by_character(world: Path) -> None:
    result = CliRunner().invoke(main, ["usage", "--db", str(world), "--by", "character", "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["key"]: r for r in json.loads(result.output)}
    assert rows["mira"]["calls"] == 2 and rows["chen"]["prompt_tokens"] == 1000
    assert rows["chen"]["cost"] == pytest.approx(0.0023)


def test_usage_since_a_future_day_is_empty(world: Path) -> None:
    result = CliRunner().invoke(main, ["usage", "--db", str(world), "--since", "2999-01-01"])
    assert result.exit_code == 0 and "No usage recorded" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--since", "yesterday"], "YYYY-MM-DD"), (["--by", "weather"], "weather")],
)
def test_usage_rejects_bad_options(world: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(main, ["usage", "--db", str(world), *args])
    assert result.exit_code == 2 and message in result.output


def test_usage_needs_an_existing_world_file(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["usage", "--db", str(tmp_path / "missing.db")])
    assert result.exit_code == 2 and "does not exist" in result.output


def test_audit_lists_redacted_records(world: Path) -> None:
    result = CliRunner().invoke(main, ["audit", "--db", str(world), "--json"])
    assert result.exit_code == 0, result.output
    (record,) = json.loads(result.output)
    assert record["rule"] == "gambling" and "13812345678" not in record["excerpt"]


@pytest.mark.parametrize("command", ["usage", "audit"])
def test_commands_have_help(command: str) -> None:
    result = CliRunner().invoke(main, [command, "--help"])
    assert result.exit_code == 0 and "--db" in result.output
