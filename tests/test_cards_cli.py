"""``npc import`` and ``npc export``."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from engine.cards import read_png_text
from engine.cli import main
from engine.persona import load_persona

ROOT = Path(__file__).resolve().parent.parent


def _card(name: str = "Ada", **data: object) -> dict[str, object]:
    fields: dict[str, object] = {
        "name": name,
        "description": f"{name} keeps the lighthouse.",
        "personality": "stern, kind",
        "scenario": "",
        "first_mes": "Shut the door, {{user}}!",
        "mes_example": "<START>\n{{user}}: Who are you?\n{{char}}: The keeper.",
        "creator_notes": "",
        "system_prompt": "",
        "post_history_instructions": "",
        "alternate_greetings": [],
        "tags": [],
        "creator": "",
        "character_version": "",
        "extensions": {"x/y": 1},
    }
    fields.update(data)
    return {"spec": "chara_card_v2", "spec_version": "2.0", "data": fields}


def _write(path: Path, card: dict[str, object]) -> Path:
    path.write_text(json.dumps(card), encoding="utf-8")
    return path


@pytest.mark.parametrize("command", ["import", "export"])
def test_command_has_help(command: str) -> None:
    result = CliRunner().invoke(main, [command, "--help"])
    assert result.exit_code == 0
    assert "Usage:" in result.output


def test_import_writes_valid_yaml_and_report(tmp_path: Path) -> None:
    card = _write(tmp_path / "ada.json", _card())
    out = tmp_path / "chars"
    result = CliRunner().invoke(main, ["import", str(card), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f"wrote {out / 'ada.yaml'}" in result.output
    assert "not mapped (kept verbatim in card): extensions.x/y" in result.output
    persona = load_persona(out / "ada.yaml")
    assert persona.greetings.first_meeting == ["Shut the door, {player_name}!"]


def test_import_bad_card_writes_nothing(tmp_path: Path) -> None:
    good = _write(tmp_path / "good.json", _card("Good"))
    bad = _write(tmp_path / "bad.json", _card("Bad", first_mes=12))
    out = tmp_path / "chars"
    result = CliRunner().invoke(main, ["import", str(bad), str(good), "--out", str(out)])
    assert result.exit_code == 1
    assert "data.first_mes: expected a string, got int" in result.output
    assert sorted(p.name for p in out.iterdir()) == ["good.yaml"]


def test_import_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    card = _write(tmp_path / "ada.json", _card())
    out = tmp_path / "chars"
    out.mkdir()
    (out / "ada.yaml").write_text("name: Mine\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["import", str(card), "--out", str(out)])
    assert result.exit_code == 1
    assert "already exists" in result.output
    assert (out / "ada.yaml").read_text(encoding="utf-8") == "name: Mine\n"
    result = CliRunner().invoke(main, ["import", str(card), "--out", str(out), "--force"])
    assert result.exit_code == 0
    assert load_persona(out / "ada.yaml").name == "Ada"


def test_import_with_id_and_lorebook(tmp_path: Path) -> None:
    card = _write(tmp_path / "ada.json", _card())
    book = tmp_path / "coast.json"
    book.write_text(
        json.dumps(
            {"entries": {"0": {"uid": 0, "key": ["storm"], "content": "Storms.", "order": 1}}}
        )
    )
    out = tmp_path / "chars"
    result = CliRunner().invoke(
        main, ["import", str(card), "--out", str(out), "--id", "keeper", "--lorebook", str(book)]
    )
    assert result.exit_code == 0, result.output
    persona = load_persona(out / "keeper.yaml")
    assert persona.id == "keeper"
    assert [e.content for e in persona.lore] == ["Storms."]


def test_import_json_report(tmp_path: Path) -> None:
    card = _write(tmp_path / "ada.json", _card())
    result = CliRunner().invoke(main, ["import", str(card), "--out", str(tmp_path / "c"), "--json"])
    assert result.exit_code == 0
    [report] = json.loads(result.output)
    assert report["spec"] == "chara_card_v2"
    assert "extensions.x/y" in report["unmapped"]


@pytest.mark.parametrize("fmt", ["v2", "v3", "png"])
def test_export_shipped_character(fmt: str, tmp_path: Path) -> None:
    target = tmp_path / f"mira.{fmt}"
    result = CliRunner().invoke(
        main,
        ["export", "mira", "-d", str(ROOT / "characters"), "--format", fmt, "--out", str(target)],
    )
    assert result.exit_code == 0, result.output
    raw = target.read_bytes()
    if fmt == "png":
        card = json.loads(base64.b64decode(read_png_text(raw)["ccv3"]))
    else:
        card = json.loads(raw)
    assert card["spec"] == ("chara_card_v2" if fmt == "v2" else "chara_card_v3")
    assert card["data"]["name"] == "Mira"


def test_export_then_import_gives_the_same_character(tmp_path: Path) -> None:
    runner = CliRunner()
    png = tmp_path / "chen.png"
    assert (
        runner.invoke(
            main, ["export", "chen", "-d", str(ROOT / "characters"), "-f", "png", "-o", str(png)]
        ).exit_code
        == 0
    )
    result = runner.invoke(main, ["import", str(png), "--out", str(tmp_path / "c"), "--id", "chen"])
    assert result.exit_code == 0, result.output
    again = load_persona(tmp_path / "c" / "chen.yaml")
    original = load_persona(ROOT / "characters" / "chen.yaml")
    exclude = {"card": True, "extends": True, "look": {"image"}}
    assert again.model_dump(exclude=exclude) == original.model_dump(exclude=exclude)
    assert again.look.image == "chen.png"  # the PNG's picture is kept beside the character


def test_export_unknown_character_is_an_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["export", "nobody", "-d", str(ROOT / "characters")])
    assert result.exit_code != 0
    assert "nobody" in result.output


def test_export_image_only_for_png(tmp_path: Path) -> None:
    image = tmp_path / "x.png"
    image.write_bytes(b"")
    result = CliRunner().invoke(
        main, ["export", "mira", "-d", str(ROOT / "characters"), "--image", str(image)]
    )
    assert result.exit_code == 2


def test_two_cards_with_one_name_get_distinct_files(tmp_path: Path) -> None:
    first = _write(tmp_path / "a.json", _card("Ada", description="First."))
    second = _write(tmp_path / "b.json", _card("Ada", description="Second."))
    out = tmp_path / "chars"
    result = CliRunner().invoke(main, ["import", str(first), str(second), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert load_persona(out / "ada.yaml").backstory == "First."
    assert load_persona(out / "ada-2.yaml").backstory == "Second."
    assert "saved as 'ada-2'" in result.output
