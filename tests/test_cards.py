"""Character cards: reading V1/V2/V3 JSON, PNG and CHARX; mapping; lossless export; bad input."""

from __future__ import annotations

import base64
import copy
import io
import json
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any

import pytest

from engine.cards import (
    Limits,
    card_to_persona,
    export_card,
    import_card,
    load_lorebook,
    persona_lorebook,
    persona_to_card,
    persona_to_yaml,
    portrait_png,
    read_card,
    read_png_text,
    write_charx,
    write_png,
)
from engine.cards.lorebooks import book_to_lorebook_v3
from engine.errors import CardError
from engine.persona import Persona, load_characters, load_persona

ROOT = Path(__file__).resolve().parent.parent


# --- builders ---------------------------------------------------------------------------------


def _v2(**data: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "Ada",
        "description": "Ada keeps the lighthouse.",
        "personality": "stern, kind, curious",
        "scenario": "{{user}} arrives at the lighthouse in a storm.",
        "first_mes": "Shut the door, {{user}}! I'm {{char}}.",
        "mes_example": "<START>\n{{user}}: Who are you?\n{{char}}: The keeper.\n<START>\n{{user}}: Why?\n{{char}}: Someone must.",
        "creator_notes": "for testing",
        "system_prompt": "{{original}}",
        "post_history_instructions": "",
        "alternate_greetings": ["Another storm, {{user}}?"],
        "tags": ["sea", "mystery"],
        "creator": "tests",
        "character_version": "1.0",
        "extensions": {"acme/voice": {"pitch": 3, "list": [1, None, "x"]}, "talkativeness": "0.5"},
    }
    base.update(data)
    return {"spec": "chara_card_v2", "spec_version": "2.0", "data": base}


def _v3() -> dict[str, Any]:
    card = _v2()
    card["spec"], card["spec_version"] = "chara_card_v3", "3.0"
    card["data"].update(
        nickname="Addy",
        creator_notes_multilingual={"en": "for testing", "zh": "测试用"},
        source=["https://example.invalid/ada"],
        group_only_greetings=["Hello, all of you."],
        creation_date=1700000000,
        modification_date=1700000100,
        assets=[
            {
                "type": "icon",
                "uri": "embeded://assets/icon/images/main.png",
                "name": "main",
                "ext": "png",
            }
        ],
        character_book={
            "name": "Coast",
            "scan_depth": 3,
            "token_budget": 300,
            "recursive_scanning": False,
            "extensions": {},
            "entries": [
                {
                    "keys": ["/light ?house/i"],
                    "content": "@@depth 2\nThe lighthouse is older than the town.",
                    "extensions": {},
                    "enabled": True,
                    "insertion_order": 10,
                    "use_regex": True,
                    "constant": False,
                    "id": "lh",
                },
                {
                    "keys": ["storm"],
                    "secondary_keys": ["ship"],
                    "selective": True,
                    "content": "Storms wreck a ship every winter.",
                    "extensions": {},
                    "enabled": True,
                    "insertion_order": 20,
                    "use_regex": False,
                    "priority": 5,
                },
            ],
        },
    )
    return card


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return (
        struct.pack(">I", len(body))
        + kind
        + body
        + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    )


def _tiny_png(*extra: bytes) -> bytes:
    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00\xff\x00\x00")
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + b"".join(extra)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


def _b64(card: dict[str, Any]) -> bytes:
    return base64.b64encode(json.dumps(card).encode())


def _charx(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _import(card: dict[str, Any]) -> Persona:
    persona, _ = card_to_persona(read_card(json.dumps(card).encode()))
    return persona


# --- mapping ------------------------------------------------------------------------------------


def test_v2_fields_map_onto_persona() -> None:
    persona = _import(_v2())
    assert persona.id == "ada"
    assert persona.personality.traits == ["stern", "kind", "curious"]
    assert persona.backstory == "Ada keeps the lighthouse."
    assert persona.greetings.first_meeting == [
        "Shut the door, {player_name}! I'm {character_name}.",
        "Another storm, {player_name}?",
    ]
    assert [(e.player, e.character) for e in persona.examples] == [
        ("Who are you?", "The keeper."),
        ("Why?", "Someone must."),
    ]
    assert persona.card is not None
    assert persona.card.scenario == "{{user}} arrives at the lighthouse in a storm."
    assert persona.card.tags == ["sea", "mystery"]
    assert persona.card.system_prompt == "{{original}}"


def test_wpp_and_plist_description_blocks() -> None:
    description = (
        'Ada grew up on the cliffs.\n\n[Ada\'s Personality= "stern", "dry humour"]\n'
        '[Ada\'s body= "grey coat", "salt-white hair"]\n[Genre: mystery; Setting: a northern coast]\n'
        "[Occupation: lighthouse keeper]"
    )
    persona = _import(_v2(description=description, personality=""))
    assert persona.backstory == "Ada grew up on the cliffs."
    assert persona.personality.traits == ["stern", "dry humour"]
    assert persona.look.description == "grey coat, salt-white hair"
    assert persona.knowledge == ["Genre: mystery", "Setting: a northern coast"]
    assert persona.role == "lighthouse keeper"


def test_mes_example_multiline_and_v1_macros() -> None:
    example = "<START>\n<USER>: Hello\nthere\n<BOT>: *nods*\nWelcome.\n{{user}}: Bye\nAda: Farewell, {{user}}."
    persona = _import(_v2(mes_example=example))
    assert [(e.player, e.character) for e in persona.examples] == [
        ("Hello\nthere", "*nods*\nWelcome."),
        ("Bye", "Farewell, you."),
    ]


def test_greeting_braces_are_escaped_and_persona_validates(tmp_path: Path) -> None:
    persona = _import(_v2(first_mes="function f() { return {{char}}; }"))
    assert persona.greetings.first_meeting[0] == "function f() {{ return {character_name}; }}"
    path = tmp_path / "ada.yaml"
    path.write_text(persona_to_yaml(persona), encoding="utf-8")
    assert load_persona(path) == persona


def test_v1_card_imports_and_exports_as_v2() -> None:
    v1 = {
        "name": "Old",
        "description": "An old card.",
        "personality": "",
        "scenario": "",
        "first_mes": "Hi",
        "mes_example": "",
        "avatar": "none",
    }
    persona = _import(v1)
    assert persona.card is not None and persona.card.spec == "chara_card_v1"
    card = persona_to_card(persona, "v2")
    assert card["spec"] == "chara_card_v2"
    assert card["data"]["description"] == "An old card."
    assert card["avatar"] == "none"


def test_cjk_card_gets_chinese_language() -> None:
    persona = _import(
        _v2(
            name="陈掌柜",
            description="陈掌柜在茶馆里忙了三十年。",
            first_mes="客官，里面请！",
            personality="",
        )
    )
    assert persona.languages[0] == "zh"
    assert persona.id == "chen-zhang-gui"  # pinyin: an id that reads


# --- lossless round trips ---------------------------------------------------------------------


@pytest.mark.parametrize("spec", ["v2", "v3"])
def test_unedited_card_round_trips_exactly(spec: str) -> None:
    original = _v2() if spec == "v2" else _v3()
    assert persona_to_card(_import(original), spec) == original  # type: ignore[arg-type]


def test_round_trip_survives_yaml(tmp_path: Path) -> None:
    original = _v3()
    path = tmp_path / "ada.yaml"
    path.write_text(persona_to_yaml(_import(original)), encoding="utf-8")
    assert persona_to_card(load_persona(path), "v3") == original


def test_whitespace_and_nulls_kept_verbatim() -> None:
    original = _v2(
        name=" Ada ",
        first_mes="Hello.\n\n",
        tags=[" sea "],
        creator=None,
        description="  spaced  ",
        alternate_greetings=["  one  "],
    )
    assert persona_to_card(_import(original), "v2") == original


def test_unknown_extensions_and_fields_written_back() -> None:
    original = _v2(x_future_field={"deep": [1, 2]})
    original["x_top_level"] = True
    card = persona_to_card(_import(original), "v2")
    assert card["data"]["extensions"]["acme/voice"] == {"pitch": 3, "list": [1, None, "x"]}
    assert card["data"]["x_future_field"] == {"deep": [1, 2]}
    assert card["x_top_level"] is True


def test_edited_greeting_exported_from_persona() -> None:
    persona = _import(_v2())
    persona.greetings.first_meeting[0] = "Welcome, {player_name}. Mind the {{draught}}."
    data = persona_to_card(persona, "v2")["data"]
    assert data["first_mes"] == "Welcome, {{user}}. Mind the {draught}."
    assert data["alternate_greetings"] == ["Another storm, {{user}}?"]


def test_edited_text_fields_exported_from_persona() -> None:
    persona = _import(_v2())
    persona.backstory = "Ada moved here last spring."
    persona.personality.traits.append("brave")
    data = persona_to_card(persona, "v2")["data"]
    assert data["description"].startswith("Ada moved here last spring.")
    assert data["personality"] == "stern, kind, curious, brave"
    assert "{{char}}: The keeper." in data["mes_example"]
    again = _import({"spec": "chara_card_v2", "spec_version": "2.0", "data": data})
    assert again.backstory == "Ada moved here last spring."
    assert again.personality.traits == ["stern", "kind", "curious", "brave"]


def test_edited_lore_exported_from_persona() -> None:
    persona = _import(_v3())
    persona.lore[1].selective_logic = "not_all"
    persona.lore[0].content = "Changed."
    entries = persona_to_card(persona, "v3")["data"]["character_book"]["entries"]
    assert entries[0]["content"] == "Changed."
    assert entries[1]["extensions"]["selectiveLogic"] == 1


def test_talkativeness_edit_updates_extension() -> None:
    persona = _import(_v2())
    persona.personality.talkativeness = 0.9
    assert persona_to_card(persona, "v2")["data"]["extensions"]["talkativeness"] == "0.9"


@pytest.mark.parametrize("spec", ["v2", "v3"])
def test_shipped_characters_round_trip_through_cards(spec: str) -> None:
    cast = load_characters(ROOT / "characters")
    assert cast, "no shipped characters"
    for persona in cast.values():
        card = persona_to_card(persona, spec)  # type: ignore[arg-type]
        again = _import(json.loads(json.dumps(card)))
        fields = {"card", "id", "extends"}
        assert again.model_dump(exclude=fields) == persona.model_dump(exclude=fields), persona.id


def test_card_edited_elsewhere_wins_over_saved_engine_fields() -> None:
    persona = load_characters(ROOT / "characters")["mira"]
    card = persona_to_card(persona, "v2")
    card["data"]["description"] = "Mira is new in town."
    card["data"]["first_mes"] = "Hi {{user}}."
    again = _import(card)
    assert again.backstory == "Mira is new in town."
    assert again.greetings.first_meeting[0] == "Hi {player_name}."
    assert again.actions == persona.actions


# --- PNG ----------------------------------------------------------------------------------------


def test_png_export_embeds_both_chunks_and_imports_v3(tmp_path: Path) -> None:
    persona = _import(_v3())
    path = tmp_path / "ada.png"
    data = export_card(persona, path, format="png")
    assert path.read_bytes() == data
    texts = read_png_text(data)
    assert {"chara", "ccv3"} <= set(texts)
    chara = json.loads(base64.b64decode(texts["chara"]))
    assert chara["spec"] == "chara_card_v2"
    assert chara["data"]["creator_notes"].startswith("This character card is Character Card V3")
    assert "@@depth" not in chara["data"]["character_book"]["entries"][0]["content"]
    result = import_card(path)
    assert result.card.spec == "chara_card_v3"
    assert persona_to_card(result.persona, "v3") == _v3()


def test_generated_portrait_is_valid_png() -> None:
    persona = load_characters(ROOT / "characters")["mira"]
    data = portrait_png(persona, width=64, height=80)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (64, 80)
    raw = zlib.decompress(data[data.index(b"IDAT") + 4 : data.index(b"IEND") - 8])
    assert len(raw) == 80 * (1 + 64 * 3)
    assert portrait_png(persona, width=64, height=80) == data


def test_supplied_image_keeps_other_chunks_and_replaces_old_card() -> None:
    comment = _png_chunk(b"tEXt", b"Comment\0hello")
    old = _png_chunk(b"tEXt", b"chara\0" + _b64(_v2(name="Old")))
    image = _tiny_png(comment, old)
    out = write_png(image, {"chara": _v2(name="New")})
    texts = read_png_text(out)
    assert texts["Comment"] == "hello"
    assert json.loads(base64.b64decode(texts["chara"]))["data"]["name"] == "New"
    assert out.count(b"chara\0") == 1


@pytest.mark.parametrize("compressed", [False, True])
def test_itxt_card_chunk_is_read(compressed: bool) -> None:
    payload = _b64(_v2(name="Itxt"))
    body = (
        b"chara\0"
        + bytes([int(compressed), 0])
        + b"\0\0"
        + (zlib.compress(payload) if compressed else payload)
    )
    card = read_card(_tiny_png(_png_chunk(b"iTXt", body)))
    assert card.data["name"] == "Itxt"


def test_ccv3_chunk_preferred_over_chara() -> None:
    image = _tiny_png(
        _png_chunk(b"tEXt", b"chara\0" + _b64(_v2(name="Two"))),
        _png_chunk(b"tEXt", b"ccv3\0" + _b64(_v3())),
    )
    assert read_card(image).spec == "chara_card_v3"


def test_raw_json_in_chunk_is_accepted() -> None:
    image = _tiny_png(_png_chunk(b"tEXt", b"chara\0" + json.dumps(_v2(name="Raw")).encode()))
    assert read_card(image).data["name"] == "Raw"


# --- CHARX --------------------------------------------------------------------------------------


def test_charx_card_and_assets_read() -> None:
    icon = portrait_png(_import(_v2()), width=8, height=8)
    data = write_charx(_v3(), {"assets/icon/images/main.png": icon})
    result = import_card(data)
    assert result.card.spec == "chara_card_v3"
    assert result.card.assets == {"assets/icon/images/main.png": icon}
    assert persona_to_card(result.persona, "v3") == _v3()
    assert any("embedded files" in w for w in result.report.warnings)


def test_charx_without_card_json_rejected() -> None:
    with pytest.raises(CardError, match="no card.json"):
        read_card(_charx({"other.json": b"{}"}))


# --- lorebooks ----------------------------------------------------------------------------------


def test_load_lorebook_from_card_and_v3_file(tmp_path: Path) -> None:
    book = load_lorebook(json.dumps(_v3()).encode())
    assert [e.id for e in book.entries] == ["lh", None]
    path = tmp_path / "coast.json"
    path.write_text(json.dumps(book_to_lorebook_v3(book)), encoding="utf-8")
    assert book_to_lorebook_v3(load_lorebook(path)) == book_to_lorebook_v3(book)


def test_imported_lore_selects_by_regex_key() -> None:
    from engine.lore import select_entries

    persona = _import(_v3())
    chosen = select_entries(persona.lore, ["Is that a Light House?"], budget_tokens=200)
    assert [e.content for e in chosen] == ["The lighthouse is older than the town."]
    assert select_entries(persona.lore, ["a storm"], budget_tokens=200) == []
    assert [
        e.priority
        for e in select_entries(persona.lore, ["a storm sank the ship"], budget_tokens=200)
    ] == [5]


# --- bad input: each a clear CardError, nothing written ---------------------------------------


def _bad_inputs() -> list[tuple[str, bytes, str]]:
    good = _tiny_png(_png_chunk(b"tEXt", b"chara\0" + _b64(_v2())))
    bad_crc = bytearray(good)
    bad_crc[40] ^= 0xFF  # inside the chara chunk's text
    return [
        ("png-without-card", _tiny_png(_png_chunk(b"tEXt", b"Comment\0hi")), "no character card"),
        ("truncated-png", good[: len(good) // 2], "truncated PNG"),
        ("png-no-iend", good[:-12], "IEND missing"),
        ("png-bad-crc", bytes(bad_crc), "CRC mismatch"),
        (
            "bad-base64",
            _tiny_png(_png_chunk(b"tEXt", b"chara\0!!!not base64!!!")),
            "not valid base64",
        ),
        (
            "bad-json-in-chunk",
            _tiny_png(_png_chunk(b"tEXt", b"chara\0" + base64.b64encode(b"{oops"))),
            "not valid JSON",
        ),
        (
            "not-utf8-in-chunk",
            _tiny_png(_png_chunk(b"tEXt", b"chara\0" + base64.b64encode(b"\xff\xfe{"))),
            "not UTF-8",
        ),
        (
            "wrong-type-first-mes",
            json.dumps(_v2(first_mes=5)).encode(),
            "data.first_mes: expected a string, got int",
        ),
        (
            "wrong-type-tags",
            json.dumps(_v2(tags="sea")).encode(),
            "data.tags: expected a list of strings",
        ),
        (
            "wrong-type-extensions",
            json.dumps(_v2(extensions=[])).encode(),
            "data.extensions: expected an object",
        ),
        (
            "wrong-type-lore-keys",
            json.dumps(_v2(character_book={"entries": [{"keys": 3, "content": ""}]})).encode(),
            r"data.character_book.entries\[0\].keys",
        ),
        (
            "wrong-type-data",
            json.dumps({"spec": "chara_card_v2", "data": []}).encode(),
            "data: expected an object",
        ),
        (
            "unknown-spec",
            json.dumps({"spec": "chara_card_v9", "data": {}}).encode(),
            "unsupported card spec",
        ),
        (
            "wrong-type-v3-date",
            json.dumps({**_v3(), "data": {**_v3()["data"], "creation_date": "May"}}).encode(),
            "data.creation_date: expected a number, got str",
        ),
        (
            "wrong-type-v3-assets",
            json.dumps({**_v3(), "data": {**_v3()["data"], "assets": [{"type": 1}]}}).encode(),
            r"data.assets\[0\]",
        ),
        ("not-a-card", b'{"hello": 1}', "not a character card"),
        ("lorebook-not-card", b'{"entries": {}}', "is a lorebook"),
        ("not-json", b"hello", "not valid JSON"),
        ("json-array", b"[1, 2]", "must be a JSON object"),
        (
            "charx-traversal",
            _charx({"card.json": json.dumps(_v3()).encode(), "../evil.txt": b"x"}),
            "unsafe",
        ),
        (
            "charx-absolute",
            _charx({"card.json": json.dumps(_v3()).encode(), "/etc/evil": b"x"}),
            "unsafe",
        ),
        (
            "charx-nested-traversal",
            _charx({"card.json": json.dumps(_v3()).encode(), "assets/../../x": b"x"}),
            "unsafe",
        ),
        ("charx-bad-card-json", _charx({"card.json": b"{nope"}), "card.json is not valid JSON"),
        ("corrupt-zip", b"PK\x03\x04garbage", "not a readable CHARX"),
    ]


@pytest.mark.parametrize(
    ("name", "data", "message"), _bad_inputs(), ids=[b[0] for b in _bad_inputs()]
)
def test_bad_card_raises_clear_error(name: str, data: bytes, message: str) -> None:
    with pytest.raises(CardError, match=message):
        read_card(data)


def test_fifty_megabyte_image_refused_before_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "huge.png"
    with path.open("wb") as handle:
        handle.write(b"\x89PNG\r\n\x1a\n")
        handle.truncate(50 * 1024 * 1024)  # sparse: no 50 MB written to disk
    opened: list[str] = []
    real_open = Path.open

    def spy(self: Path, *args: Any, **kwargs: Any) -> Any:
        opened.append(str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", spy)
    with pytest.raises(CardError, match="over the .* byte limit"):
        read_card(path)
    assert str(path) not in opened


def test_fifty_megabyte_bytes_refused() -> None:
    with pytest.raises(CardError, match="byte limit"):
        read_card(b"\x89PNG\r\n\x1a\n" + bytes(50 * 1024 * 1024))


def test_charx_zip_bomb_refused_by_declared_size() -> None:
    bomb = _charx(
        {"card.json": json.dumps(_v3()).encode(), "assets/other/zeros.bin": bytes(20 * 1024 * 1024)}
    )
    assert len(bomb) < 100_000
    with pytest.raises(CardError, match="zip bomb|byte limit"):
        read_card(bomb, limits=Limits(max_zip_total_bytes=10 * 1024 * 1024))


def test_charx_zip_bomb_refused_by_ratio_with_default_limits() -> None:
    bomb = _charx(
        {"card.json": json.dumps(_v3()).encode(), "assets/other/zeros.bin": bytes(8 * 1024 * 1024)}
    )
    with pytest.raises(CardError, match="zip bomb"):
        read_card(bomb)


def test_charx_lying_header_refused_by_actual_size() -> None:
    payload = bytes(range(256)) * 4096  # 1 MiB, barely compressible
    archive = bytearray(_charx({"card.json": json.dumps(_v3()).encode(), "assets/x.bin": payload}))
    # Rewrite the member's declared uncompressed size (local header and central directory) to 10 bytes.
    real = struct.pack("<I", len(payload))
    assert archive.count(real) == 2
    archive = bytearray(bytes(archive).replace(real, struct.pack("<I", 10)))
    with pytest.raises(CardError, match="assets/x.bin"):
        read_card(bytes(archive))


def test_charx_too_many_entries_refused() -> None:
    members = {
        "card.json": json.dumps(_v3()).encode(),
        **{f"assets/other/{i}.txt": b"x" for i in range(12)},
    }
    with pytest.raises(CardError, match="file limit"):
        read_card(_charx(members), limits=Limits(max_zip_entries=10))


def test_charx_writer_refuses_unsafe_asset_names() -> None:
    with pytest.raises(CardError, match="not allowed"):
        write_charx(_v3(), {"../x": b""})


def test_export_failure_leaves_nothing_written(tmp_path: Path) -> None:
    persona = _import(_v2())
    with pytest.raises(CardError):
        export_card(persona, tmp_path / "out.png", format="png", image=b"not a png")
    assert list(tmp_path.iterdir()) == []


def test_import_does_not_mutate_card_data() -> None:
    card = read_card(json.dumps(_v3()).encode())
    before = copy.deepcopy(card.data)
    persona, _ = card_to_persona(card)
    persona_to_card(persona, "v3")
    assert card.data == before


def test_persona_lorebook_applies_imported_book_defaults() -> None:
    persona = _import(_v3())
    book = persona_lorebook(persona)
    assert (book.name, book.scan_depth, book.token_budget) == ("Coast", 3, 300)
    assert book.select(["lighthouse?", "a", "b", "c"]) == []  # the key is 4 messages back; depth 3
    assert [e.id for e in book.select(["a", "b", "lighthouse?"])] == ["lh"]


@pytest.mark.parametrize("size", [(4, 80), (64, 5000)])
def test_portrait_size_is_bounded(size: tuple[int, int]) -> None:
    with pytest.raises(CardError, match="outside"):
        portrait_png(_import(_v2()), width=size[0], height=size[1])


def test_portraits_differ_by_look() -> None:
    cast = load_characters(ROOT / "characters")
    pictures = {portrait_png(p, width=32, height=40) for p in cast.values()}
    assert len(pictures) == len(cast)
