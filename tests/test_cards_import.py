"""Importing what writers share: lorebooks told from cards, liberal lorebook reading, Pygmalion
cards, pictures kept, readable ids, large extensions outside the persona, misleading files
refused with the reason, and a CLI that starts without loading the engine."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from engine.cards import (
    ImportResult,
    LorebookResult,
    card_from_json,
    export_card,
    id_from_name,
    import_file,
    persona_to_card,
    portrait_png,
    read_png_text,
    write_png,
)
from engine.cards.lorebooks import book_to_card, looks_like_lorebook, parse_lorebook
from engine.cli import main
from engine.errors import CardError, PersonaError
from engine.persona import MAX_PERSONA_BYTES, Persona, load_persona, validate_path

ROOT = Path(__file__).resolve().parent.parent


def _card(name: str = "Ada", **data: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "name": name,
        "description": f"{name} keeps the lighthouse.",
        "personality": "stern, kind",
        "scenario": "",
        "first_mes": "Shut the door, {{user}}!",
        "mes_example": "",
        "creator_notes": "",
        "system_prompt": "",
        "post_history_instructions": "",
        "alternate_greetings": [],
        "tags": [],
        "creator": "",
        "character_version": "",
        "extensions": {},
    }
    fields.update(data)
    return {"spec": "chara_card_v2", "spec_version": "2.0", "data": fields}


def _write(path: Path, obj: object) -> Path:
    path.write_text(json.dumps(obj, ensure_ascii=False), encoding="utf-8")
    return path


def _import(runner: CliRunner, *args: str) -> Any:
    result = runner.invoke(main, ["import", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


# --- lorebooks by shape ----------------------------------------------------------------------

WORLD_INFO = {
    "name": "Harbour Lore",
    "scanDepth": 3,
    "entries": {
        "0": {
            "uid": 0,
            "key": ["harbour"],
            "content": "The harbour freezes in winter.",
            "position": 1,
        }
    },
}
AGNAI = {
    "kind": "memory",
    "name": "Harbour Lore",
    "entries": [
        {
            "name": "harbour",
            "entry": "The harbour freezes.",
            "keywords": ["harbour"],
            "priority": 1,
            "weight": 1,
            "enabled": True,
        }
    ],
}


@pytest.mark.parametrize(
    "data",
    [
        WORLD_INFO,
        AGNAI,
        {"entries": None},
        [{"keys": ["a"], "content": "x"}],
        {"spec": "lorebook_v3", "data": {"entries": []}},
    ],
    ids=["world-info-with-name", "agnai", "entries-null", "bare-list", "lorebook-v3"],
)
def test_lorebook_shapes_are_never_taken_for_a_card(data: object) -> None:
    assert looks_like_lorebook(data)
    with pytest.raises(CardError, match="is a lorebook"):
        card_from_json(data)


@pytest.mark.parametrize(
    "data", [_card(), {"name": "Old", "description": "v1"}, {"char_name": "A", "char_persona": "b"}]
)
def test_cards_are_not_lorebooks(data: object) -> None:
    assert not looks_like_lorebook(data)


def test_npc_import_writes_a_lorebook_to_lore(tmp_path: Path) -> None:
    source = _write(tmp_path / "harbour.worldinfo.json", WORLD_INFO)
    result = _import(CliRunner(), str(source), "--out", str(tmp_path / "chars"))
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "chars").rglob("*.yaml")) == ["harbour-lore.yaml"]
    assert "(SillyTavern World Info)" in result.output
    assert "lorebooks: [harbour-lore]" in result.output
    assert "the number 1 read as 'after_char'" not in result.output  # World Info numbers positions
    assert [r.kind for r in validate_path(tmp_path / "chars")] == ["lorebook"]


def test_a_character_uses_a_lore_file_by_name(tmp_path: Path) -> None:
    chars = tmp_path / "chars"
    _import(CliRunner(), str(_write(tmp_path / "h.json", WORLD_INFO)), "--out", str(chars))
    (chars / "ada.yaml").write_text(
        "name: Ada\nlorebooks: [harbour-lore]\nlore:\n  - {keys: [lamp], content: The lamp is old.}\n",
        encoding="utf-8",
    )
    ada = load_persona(chars / "ada.yaml")
    assert [e.content for e in ada.lore] == ["The lamp is old.", "The harbour freezes in winter."]
    assert ada.lore[1].scan_depth == 3  # the book's default, carried onto its entry
    assert [(r.kind, r.ok) for r in validate_path(chars)] == [
        ("character", True),
        ("lorebook", True),
    ]
    # a card exported from it carries the book's entries; the lore file's name does not travel
    card = persona_to_card(ada, "v2")
    assert len(card["data"]["character_book"]["entries"]) == 2
    assert "lorebooks" not in json.dumps(card["data"]["extensions"])


def test_a_missing_lore_file_is_an_error_with_a_suggestion(tmp_path: Path) -> None:
    _import(CliRunner(), str(_write(tmp_path / "h.json", WORLD_INFO)), "--out", str(tmp_path))
    (tmp_path / "ada.yaml").write_text("name: Ada\nlorebooks: [harbor-lore]\n", encoding="utf-8")
    with pytest.raises(PersonaError) as info:
        load_persona(tmp_path / "ada.yaml")
    assert info.value.line == 2 and info.value.field == "lorebooks[0]"
    assert "not found" in info.value.message and info.value.suggestion == "harbour-lore"


# --- liberal where the meaning is clear ------------------------------------------------------


def test_numeric_position_is_mapped_with_a_note_and_written_back() -> None:
    raw = {
        "entries": [
            {
                "keys": ["a"],
                "content": "x",
                "enabled": True,
                "insertion_order": 1,
                "extensions": {},
                "position": 1,
            }
        ]
    }
    notes: list[str] = []
    book = parse_lorebook(raw, notes=notes)
    assert book.entries[0].position == "after_char"
    assert notes == [
        "entries[0].position: the number 1 read as 'after_char' (SillyTavern's numbering)"
    ]
    assert book_to_card(book) == raw


def test_list_comment_is_joined_with_a_note_and_written_back() -> None:
    raw = {
        "entries": [
            {
                "keys": ["a"],
                "content": "x",
                "enabled": True,
                "insertion_order": 1,
                "extensions": {},
                "comment": ["one", "two"],
            }
        ]
    }
    notes: list[str] = []
    book = parse_lorebook(raw, notes=notes)
    assert book.entries[0].comment == "one\ntwo"
    assert notes and "joined" in notes[0]
    assert book_to_card(book) == raw


def test_entries_null_is_an_empty_book_with_a_note() -> None:
    notes: list[str] = []
    assert parse_lorebook({"name": "Empty", "entries": None}, notes=notes).entries == []
    assert notes == ["entries: null, read as no entries"]


def test_agnai_entry_and_keywords_are_read_as_content_and_keys() -> None:
    notes: list[str] = []
    book = parse_lorebook(AGNAI, notes=notes)
    assert (book.entries[0].keys, book.entries[0].content) == (["harbour"], "The harbour freezes.")
    assert any("Agnai" in n for n in notes)


def test_world_info_key_names_in_a_card_book_list_are_read_with_a_note() -> None:
    notes: list[str] = []
    book = parse_lorebook(
        {"entries": [{"key": ["a"], "keysecondary": ["b"], "content": "x"}]}, notes=notes
    )
    assert (book.entries[0].keys, book.entries[0].secondary_keys) == (["a"], ["b"])
    assert len(notes) == 2 and all("World Info" in n for n in notes)


def test_a_bare_list_of_world_info_entries_is_a_book() -> None:
    book = parse_lorebook(
        [{"uid": 3, "key": ["a"], "content": "x"}, {"uid": 4, "key": ["b"], "content": "y"}]
    )
    assert [e.id for e in book.entries] == [3, 4]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"entries": [{"keys": ["a"], "content": 3}]},
            "entries[0].content: expected a string, got int",
        ),
        (
            {"entries": [{"keys": ["a"], "position": [1]}]},
            "entries[0].position: expected a string, got list",
        ),
        (
            {"entries": "x"},
            "entries: expected a list (card book) or an object (World Info), got str",
        ),
    ],
)
def test_unclear_values_are_refused_naming_the_field_from_the_books_root(
    data: object, message: str
) -> None:
    with pytest.raises(CardError) as info:
        parse_lorebook(data)
    assert info.value.message == message and "character_book" not in info.value.message


def test_an_embedded_book_error_names_the_cards_field() -> None:
    card = _card(character_book={"entries": [{"keys": ["a"], "content": 3}]})
    with pytest.raises(CardError, match=r"data\.character_book\.entries\[0\]\.content"):
        card_from_json(card)


def test_card_report_lists_lore_coercions(tmp_path: Path) -> None:
    entry = {
        "keys": ["a"],
        "content": "x",
        "enabled": True,
        "insertion_order": 1,
        "extensions": {},
        "position": 0,
    }
    result = import_file(
        _write(tmp_path / "c.json", _card(character_book={"entries": [entry, entry]}))
    )
    assert isinstance(result, ImportResult)
    lines = result.report.lines()
    assert any(
        "position: the number 0 read as 'before_char'" in line and "(2 entries: [0], [1])" in line
        for line in lines
    )


# --- Pygmalion / oobabooga -------------------------------------------------------------------


def test_pygmalion_card_imports_and_names_its_format(tmp_path: Path) -> None:
    source = _write(
        tmp_path / "chiharu.json",
        {
            "char_name": "Chiharu",
            "char_persona": "Chiharu is a computer engineer.",
            "char_greeting": "Hey! *waves*",
            "world_scenario": "A hackathon.",
            "example_dialogue": "You: Hi\nChiharu: Hello!",
        },
    )
    result = _import(CliRunner(), str(source), "--out", str(tmp_path / "c"))
    assert result.exit_code == 0, result.output
    assert "Pygmalion/oobabooga" in result.output
    chiharu = load_persona(tmp_path / "c" / "chiharu.yaml")
    assert chiharu.backstory == "Chiharu is a computer engineer."
    assert chiharu.greetings.first_meeting == ["Hey! *waves*"]
    assert chiharu.card is not None and chiharu.card.scenario == "A hackathon."
    assert [(e.player, e.character) for e in chiharu.examples] == [("Hi", "Hello!")]


# --- misleading files ------------------------------------------------------------------------


def test_a_git_lfs_pointer_named_png_says_so(tmp_path: Path) -> None:
    pointer = tmp_path / "hero.png"
    pointer.write_text(
        "version https://git-lfs.github.com/spec/v1\noid sha256:" + "0" * 64 + "\nsize 473931\n",
        encoding="utf-8",
    )
    with pytest.raises(CardError, match=r"not a PNG: it is a Git LFS pointer"):
        import_file(pointer)


def test_a_png_name_on_something_else_says_not_a_png(tmp_path: Path) -> None:
    (tmp_path / "x.png").write_bytes(b"GIF89a....")
    with pytest.raises(CardError, match="not a PNG: the file starts with"):
        import_file(tmp_path / "x.png")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"name": "Helper", "avatar": "a.png", "prompt": "You help.", "model": "x"},
            "another application's format",
        ),
        (
            {"title": "x", "messages": []},
            "no `spec` and no `name` (fields found: `title`, `messages`)",
        ),
        ({"spec": "chara_card_v2", "data": {"description": "no name"}}, "data.name: missing"),
    ],
)
def test_json_that_is_not_a_card_is_refused_never_an_empty_character(
    data: object, message: str, tmp_path: Path
) -> None:
    source = _write(tmp_path / "x.json", data)
    result = _import(CliRunner(), str(source), "--out", str(tmp_path / "c"))
    assert result.exit_code == 1 and message in result.output
    assert not (tmp_path / "c").exists()


# --- ids -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "ident"),
    [
        ("陈掌柜", "chen-zhang-gui"),
        ("TRPG主持人", "trpg-zhu-chi-ren"),
        ("绿萝", "lv-luo"),
        ("Gloria, PA", "gloria-pa"),
        ("ミク", ""),
    ],
)
def test_ids_from_names_read(name: str, ident: str) -> None:
    assert id_from_name(name) == ident


def test_long_ids_are_cut_at_a_syllable() -> None:
    ident = id_from_name("修女与女忍的双面日常" * 3)
    assert len(ident) <= 48 and not ident.endswith("-") and ident.startswith("xiu-nv-yu")


def test_a_name_with_no_readable_id_warns(tmp_path: Path) -> None:
    result = import_file(_write(tmp_path / "c.json", _card("ミク")))
    assert isinstance(result, ImportResult) and result.persona.id == "character"
    assert any("--id" in w for w in result.report.warnings)


# --- pictures --------------------------------------------------------------------------------


def test_a_png_cards_picture_is_kept_and_exported_back(tmp_path: Path) -> None:
    picture = portrait_png(Persona(name="Ada"))
    png = write_png(picture, {"chara": _card()})
    (tmp_path / "ada.png").write_bytes(png)
    runner = CliRunner()
    result = _import(runner, str(tmp_path / "ada.png"), "--out", str(tmp_path / "c"))
    assert result.exit_code == 0, result.output
    assert (
        tmp_path / "c" / "ada.png"
    ).read_bytes() == picture  # the card chunks removed, nothing else
    assert load_persona(tmp_path / "c" / "ada.yaml").look.image == "ada.png"
    out = tmp_path / "back.png"
    assert (
        runner.invoke(
            main, ["export", "ada", "-d", str(tmp_path / "c"), "-f", "png", "-o", str(out)]
        ).exit_code
        == 0
    )
    assert out.read_bytes().startswith(picture[: picture.index(b"IEND") - 4])
    assert set(read_png_text(out.read_bytes())) == {"chara", "ccv3"}


def test_a_missing_picture_is_a_validation_error(tmp_path: Path) -> None:
    (tmp_path / "ada.yaml").write_text("name: Ada\nlook:\n  image: ada.png\n", encoding="utf-8")
    errors = [e for r in validate_path(tmp_path) for e in r.errors]
    assert len(errors) == 1 and errors[0].field == "look.image" and errors[0].line == 3


# --- large extensions ------------------------------------------------------------------------


def _big_card() -> dict[str, Any]:
    scripts = [
        {"scriptName": f"rule {i}", "findRegex": "/x/g", "replaceString": "y" * 1000}
        for i in range(1100)
    ]
    return _card("Big", extensions={"regex_scripts": scripts, "small": {"a": 1}})


def test_large_extensions_go_to_a_side_file_and_come_back(tmp_path: Path) -> None:
    source = _write(tmp_path / "big.json", _big_card())
    assert source.stat().st_size > MAX_PERSONA_BYTES
    result = _import(CliRunner(), str(source), "--out", str(tmp_path / "c"))
    assert result.exit_code == 0, result.output
    yaml_file = tmp_path / "c" / "big.yaml"
    assert yaml_file.stat().st_size < 10_000
    assert "big.extensions.json (extensions.regex_scripts" in result.output
    stored = yaml.safe_load(yaml_file.read_text(encoding="utf-8"))["card"]
    assert stored["extensions_file"] == "big.extensions.json" and stored["extensions"] == {
        "small": {"a": 1}
    }
    big = load_persona(yaml_file)
    assert big.card is not None and len(big.card.extensions["regex_scripts"]) == 1100
    assert persona_to_card(big, "v2")["data"]["extensions"] == _big_card()["data"]["extensions"]


def test_an_oversized_character_file_is_refused_naming_what_is_large(tmp_path: Path) -> None:
    source = _write(tmp_path / "long.json", _card("Long", description="word " * 250_000))
    result = _import(CliRunner(), str(source), "--out", str(tmp_path / "c"))
    assert result.exit_code == 1
    assert "over the 1 MB limit of persona files; largest parts: " in result.output
    assert "card.raw_description" in result.output and "backstory" in result.output
    assert not (tmp_path / "c").exists() or not any((tmp_path / "c").iterdir())


def test_export_card_library_call_is_unchanged_for_plain_personas() -> None:
    assert export_card(Persona(name="Ada"), format="v2").startswith(b"{")


# --- a CLI that starts fast ------------------------------------------------------------------


@pytest.mark.parametrize("args", [["--version"], ["--help"], ["validate", "--help"]])
def test_npc_starts_without_loading_the_engine(args: list[str]) -> None:
    probe = (
        "import sys\n"
        "from engine.cli import main\n"
        f"try:\n    main({args!r})\nexcept SystemExit:\n    pass\n"
        "heavy = sorted(m for m in ('pydantic', 'openai', 'numpy', 'sqlite_utils', 'rich', 'engine.persona') if m in sys.modules)\n"
        "print('LOADED', heavy)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert "LOADED []" in out.stdout, out.stdout + out.stderr


def test_engine_public_names_still_resolve() -> None:
    import engine

    assert all(getattr(engine, name) is not None for name in engine.__all__)
    assert isinstance(LorebookResult, type)


def test_a_cards_book_with_entries_null_imports_with_a_warning(tmp_path: Path) -> None:
    result = import_file(
        _write(tmp_path / "c.json", _card(character_book={"name": "B", "entries": None}))
    )
    assert isinstance(result, ImportResult) and result.persona.lore == []
    assert "data.character_book.entries: null, read as no entries" in result.report.warnings


def test_attach_adds_the_book_to_named_characters(tmp_path: Path) -> None:
    chars = tmp_path / "chars"
    chars.mkdir()
    (chars / "ada.yaml").write_text("# Ada, by hand\nname: Ada\n", encoding="utf-8")
    source = _write(tmp_path / "h.json", WORLD_INFO)
    result = _import(CliRunner(), str(source), "--out", str(chars), "--attach", "ada")
    assert result.exit_code == 0, result.output
    assert (chars / "ada.yaml").read_text(
        encoding="utf-8"
    ) == "# Ada, by hand\nname: Ada\nlorebooks: [harbour-lore]\n"
    assert [e.content for e in load_persona(chars / "ada.yaml").lore] == [
        "The harbour freezes in winter."
    ]
    again = _import(CliRunner(), str(source), "--out", str(chars), "--attach", "nobody", "--force")
    assert again.exit_code == 1 and "no character 'nobody'" in again.output
