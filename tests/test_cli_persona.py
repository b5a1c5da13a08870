"""The ``npc validate``, ``npc schema``, ``npc show`` and ``npc new`` commands."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from fixtures_persona import CHARACTERS, ROOT, WritePersona

from engine.cli import main
from engine.persona import load_persona, validate_file

PROBLEM_LINE = re.compile(
    r"^(?P<path>.+?):(?P<line>\d+):(?P<column>\d+): (?P<field>[\w.\[\]]+): (?P<message>.+)$"
)


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_validate_prints_ok_for_each_valid_file_and_exits_0(runner: CliRunner) -> None:
    result = runner.invoke(main, ["validate", str(CHARACTERS)])
    assert result.exit_code == 0, result.output
    ok_lines = [line for line in result.stdout.splitlines() if line.startswith("OK ")]
    assert {Path(line.split()[1]).stem for line in ok_lines} >= {
        "mira",
        "chen",
        "bram",
        "lin",
        "plaza_npc",
    }
    assert "all valid" in result.stderr


def test_validate_prints_one_line_per_problem_and_exits_1(
    runner: CliRunner, write_persona: WritePersona
) -> None:
    path = write_persona("name: Ada\npersonallity: {}\nstyle:\n  max_reply_sentences: 0\n")
    result = runner.invoke(main, ["validate", str(path)])
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    first = PROBLEM_LINE.match(lines[0])
    assert first is not None
    assert (first["path"], first["line"], first["column"], first["field"]) == (
        str(path),
        "2",
        "1",
        "personallity",
    )
    assert "did you mean 'personality'?" in first["message"]
    assert PROBLEM_LINE.match(lines[1]) is not None
    assert "1 with 2 problems" in result.stderr


def test_validate_mixes_files_and_folders(
    runner: CliRunner, write_persona: WritePersona, cast_dir: Path
) -> None:
    good = write_persona("name: Ada\n", "ada.yaml")
    bad = write_persona("name: Bo\nrol: x\n", "sub/bo.yaml")
    result = runner.invoke(main, ["validate", str(good), str(cast_dir / "sub")])
    assert result.exit_code == 1
    assert f"OK {good}" in result.stdout
    assert str(bad) in result.stdout


def test_validate_quiet_prints_only_problems(
    runner: CliRunner, write_persona: WritePersona
) -> None:
    path = write_persona("name: Ada\n")
    result = runner.invoke(main, ["validate", "--quiet", str(path)])
    assert (result.exit_code, result.stdout) == (0, "")


def test_validate_nonexistent_path_is_one_clear_line(runner: CliRunner, tmp_path: Path) -> None:
    missing = tmp_path / "nobody.yaml"
    result = runner.invoke(main, ["validate", str(missing)])
    assert result.exit_code == 1
    assert result.stdout.strip() == f"{missing}: no such file or folder"
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    "content",
    [b"", b"\x00\x01\x02binary", "name: Café\n".encode("latin-1"), b"name: [unclosed\n"],
)
def test_validate_never_shows_a_traceback(
    runner: CliRunner, cast_dir: Path, content: bytes
) -> None:
    path = cast_dir / "bad.yaml"
    path.write_bytes(content)
    result = runner.invoke(main, ["validate", str(path)])
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert result.stdout.startswith(str(path))


def test_validate_json_report(runner: CliRunner, write_persona: WritePersona) -> None:
    path = write_persona("name: Ada\nrol: x\n")
    result = runner.invoke(main, ["validate", "--json", str(path)])
    report = json.loads(result.stdout)
    assert report["ok"] is False
    (error,) = report["files"][0]["errors"]
    assert (error["line"], error["field"], error["suggestion"]) == (2, "rol", "role")


def test_validate_requires_a_path(runner: CliRunner) -> None:
    result = runner.invoke(main, ["validate"])
    assert result.exit_code == 2
    assert "Missing argument" in result.output


def test_schema_prints_the_json_schema(runner: CliRunner) -> None:
    result = runner.invoke(main, ["schema"])
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    assert schema["title"] == "Persona"
    assert "personality" in schema["properties"]


def test_schema_writes_to_a_file(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "persona.schema.json"
    result = runner.invoke(main, ["schema", "--out", str(out)])
    assert result.exit_code == 0
    assert json.loads(out.read_text(encoding="utf-8"))["additionalProperties"] is False


def test_schema_to_an_unwritable_place_is_a_clear_error(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(
        main, ["schema", "--out", str(tmp_path / "no" / "such" / "dir" / "s.json")]
    )
    assert result.exit_code != 0
    assert "Traceback" not in result.output


def test_template_schema_requires_nothing(runner: CliRunner) -> None:
    result = runner.invoke(main, ["schema", "--template"])
    assert "required" not in json.loads(result.stdout)


@pytest.mark.parametrize("ref", ["mira", str(CHARACTERS / "mira.yaml")])
def test_show_summarises_a_character_by_id_or_path(runner: CliRunner, ref: str) -> None:
    result = runner.invoke(main, ["show", ref, "--dir", str(CHARACTERS)])
    assert result.exit_code == 0, result.output
    for expected in (
        "Mira",
        "host of Lantern Square",
        "walk_to",
        "Examples",
        "Knowledge",
        "headset",
    ):
        assert expected in result.stdout


def test_show_handles_chinese_text(runner: CliRunner) -> None:
    result = runner.invoke(main, ["show", "chen", "--dir", str(CHARACTERS)])
    assert result.exit_code == 0
    assert "陈掌柜" in result.stdout
    assert "…" not in result.stdout  # long Chinese lines fold, never cut off


def test_show_json_prints_the_resolved_persona(runner: CliRunner) -> None:
    result = runner.invoke(main, ["show", "chen", "--dir", str(CHARACTERS), "--json"])
    data = json.loads(result.stdout)
    assert data["id"] == "chen"
    assert data["relationship"]["affinity"] == 10
    assert data["policy"]["age_rating"] == "teen"  # inherited through two templates


def test_show_unknown_character_suggests_a_close_id(runner: CliRunner) -> None:
    result = runner.invoke(main, ["show", "mria", "--dir", str(CHARACTERS)])
    assert result.exit_code == 1
    assert "no character 'mria'" in result.output
    assert "did you mean 'mira'?" in result.output
    assert "Traceback" not in result.output


def test_show_invalid_file_reports_the_problem(
    runner: CliRunner, write_persona: WritePersona
) -> None:
    path = write_persona("name: Ada\nrol: x\n")
    result = runner.invoke(main, ["show", str(path)])
    assert result.exit_code == 1
    assert f"{path}:2:1: rol" in result.output


def test_new_creates_a_valid_file_from_the_default_template(
    runner: CliRunner, tmp_path: Path
) -> None:
    folder = tmp_path / "characters"
    (folder / "templates").mkdir(parents=True)
    (folder / "templates" / "plaza_npc.yaml").write_text(
        (CHARACTERS / "templates" / "plaza_npc.yaml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    result = runner.invoke(main, ["new", "Old Tom", "--dir", str(folder)])
    assert result.exit_code == 0, result.output
    path = folder / "old-tom.yaml"
    assert validate_file(path) == []
    persona = load_persona(path)
    assert (persona.id, persona.name, persona.extends) == ("old-tom", "Old Tom", "plaza_npc")


def test_new_without_a_template(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(main, ["new", "Ada", "--template", "none", "--dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    persona = load_persona(tmp_path / "ada.yaml")
    assert persona.extends is None
    assert persona.boundaries.ooc_rules


def test_new_refuses_to_overwrite(runner: CliRunner, tmp_path: Path) -> None:
    existing = tmp_path / "ada.yaml"
    existing.write_text("name: Ada\nrole: keep me\n", encoding="utf-8")
    result = runner.invoke(main, ["new", "Ada", "--template", "none", "--dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "already exists" in result.output
    assert existing.read_text(encoding="utf-8") == "name: Ada\nrole: keep me\n"


def test_new_unknown_template_lists_the_available_ones(runner: CliRunner, cast_dir: Path) -> None:
    result = runner.invoke(main, ["new", "Ada", "--template", "bsae", "--dir", str(cast_dir)])
    assert result.exit_code == 1
    assert "available: base" in result.output
    assert not (cast_dir / "ada.yaml").exists()


def test_new_chinese_name_needs_an_id(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(main, ["new", "老汤", "--template", "none", "--dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "--id" in result.output
    result = runner.invoke(
        main, ["new", "老汤", "--id", "lao-tang", "--template", "none", "--dir", str(tmp_path)]
    )
    assert result.exit_code == 0
    assert load_persona(tmp_path / "lao-tang.yaml").name == "老汤"


def test_new_links_the_repository_schema(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "persona.schema.json").write_text("{}", encoding="utf-8")
    folder = tmp_path / "characters"
    result = runner.invoke(main, ["new", "Ada", "--template", "none", "--dir", str(folder)])
    assert result.exit_code == 0
    first = (folder / "ada.yaml").read_text(encoding="utf-8").splitlines()[0]
    assert first == "# yaml-language-server: $schema=../docs/persona.schema.json"


@pytest.mark.slow
def test_npc_console_script_validates_the_shipped_characters() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "engine", "validate", "characters"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "all valid" in result.stderr
