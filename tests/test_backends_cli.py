"""``npc providers`` lists every preset and whether its key is set, never the key itself."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from engine.backends import PRESETS
from engine.cli import main


def test_providers_lists_every_preset_and_key_state(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-secret-value")
    monkeypatch.delenv("MOONSHOT_API_KEY", raising=False)
    result = CliRunner().invoke(main, ["providers", "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.output)}
    assert set(rows) == set(PRESETS)
    assert rows["deepseek"]["key_set"] and rows["deepseek"]["ready"]
    assert not rows["kimi"]["key_set"] and not rows["kimi"]["ready"]
    assert rows["ollama"]["ready"]
    assert "sk-secret-value" not in result.output


def test_providers_table_names_key_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DASHSCOPE_API_KEY", raising=False)
    result = CliRunner().invoke(main, ["providers"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "DASHSCOPE_API_KEY not set" in result.output and "llamacpp" in result.output


def test_providers_has_help() -> None:
    result = CliRunner().invoke(main, ["providers", "--help"])
    assert result.exit_code == 0 and "preset" in result.output
