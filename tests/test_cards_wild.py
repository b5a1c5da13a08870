"""Cards and lorebooks from the wild (../shared/data/cards/wild, listed in its MANIFEST.tsv).

Each file is imported the way a writer would (`npc import FILE --out DIR`) and checked against
the table below, written from the MANIFEST: cards import and validate with their name,
description, personality, first message, lore entries and picture intact; lorebooks import as
lore files with every entry; invalid files are refused with a message naming the file; nothing
ends in a traceback. Then every card goes back out as V2 and V3 with every field it had.
"""

from __future__ import annotations

import base64
import csv
import json
import struct
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from engine.cards import ImportResult, import_file, persona_to_card, read_png_text
from engine.cli import main
from engine.persona import load_lore_file, load_persona, validate_path


def _find_wild() -> Path:
    for folder in Path(__file__).resolve().parents:
        candidate = folder / "shared" / "data" / "cards" / "wild"
        if candidate.is_dir():
            return candidate
    return Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "cards" / "wild"


WILD = _find_wild()

pytestmark = pytest.mark.skipif(
    not (WILD / "MANIFEST.tsv").is_file(),
    reason=f"cards from the wild not found in {WILD} (shared reference data is absent)",
)


@dataclass(frozen=True)
class Card:
    name: str
    id: str
    lore: int = 0
    picture: bool = False


@dataclass(frozen=True)
class Book:
    id: str
    entries: int


@dataclass(frozen=True)
class Refused:
    reason: str


EXPECTED: dict[str, Card | Book | Refused] = {
    # ossirytk/llama-cpp-chat-memory
    "Shodan_v2.png": Card("Shodan", "shodan", picture=True),
    "Skynet_v2.png": Card("Skynet", "skynet", picture=True),
    "bronya_v2.png": Card("Bronya Zaychik", "bronya-zaychik", picture=True),
    "harry-potter_v2.png": Card("Harry Potter", "harry-potter", picture=True),
    "hogwarts_agnai.lorebook.json": Book("hogwarts-legacy-lore", 4),
    "hogwarts_st.worldinfo.json": Book("harry-potter-canon-lorebook", 1),
    "honkai_agnai.lorebook.json": Book("honkai-impact-rpg", 34),
    "honkai_st.worldinfo.json": Book("honkai-impact-rpg", 34),
    # RenzVEVO/Modified-TAI-OAI: V1 cards in PNGs
    "en_Adam_Smasher.png": Card("Adam Smasher", "adam-smasher", picture=True),
    "en_Amiya.png": Card("Amiya", "amiya", picture=True),
    "en_Aqua.png": Card("Aqua", "aqua", picture=True),
    "en_Cytio.png": Card("Cytio", "cytio", picture=True),
    "en_Darkness.png": Card("Darkness", "darkness", picture=True),
    "en_Hitori_Gotoh.png": Card("Hitori Gotoh", "hitori-gotoh", picture=True),
    "en_Hu_Tao.png": Card("Hu Tao", "hu-tao", picture=True),
    "en_Megumin.png": Card("Megumin", "megumin", picture=True),
    "en_Raiden_Shogun.png": Card("Raiden Shogun", "raiden-shogun", picture=True),
    "en_Saul_Goodman.png": Card("Saul Goodman", "saul-goodman", picture=True),
    "en_Schrodinger.png": Card("Schrodinger", "schrodinger", picture=True),
    "en_Specter.png": Card("Specter", "specter", picture=True),
    "en_Springtrap.png": Card("Springtrap", "springtrap", picture=True),
    "en_Walter_White.png": Card("Walter White", "walter-white", picture=True),
    "en_Wanderer.png": Card("Wanderer", "wanderer", picture=True),
    "en_Wang.png": Card("Wang", "wang", picture=True),
    # oobabooga/text-generation-webui
    "ooba_Example.v1.json": Card("Chiharu Yamada", "chiharu-yamada"),
    # SillyTavern/SillyTavern-Content
    "st_content_CapoGPT.png": Card("CapoGPT", "capogpt", picture=True),
    "st_contest_Amy.png": Card("Amy", "amy", picture=True),
    "st_contest_Gloria.png": Card("Gloria, PA", "gloria-pa", picture=True),
    "st_contest_Sakana.png": Card("Sakana", "sakana", lore=14, picture=True),
    # ywh555hhh/sillytavern-data
    "st_default_Assistant.png": Card("Assistant", "assistant", picture=True),
    "zh_trpg_host.png": Card("TRPG主持人", "trpg-zhu-chi-ren", lore=5, picture=True),
    "zh_two_color_box.png": Card("双色盒子-浅色", "shuang-se-he-zi-qian-se", picture=True),
    "zh_host_v7.worldinfo.json": Book("zh_host_v7", 5),
    "zh_fujikawa.worldinfo.json": Book("zh_fujikawa", 2),
    # lide4144/sillytavern-character-cards
    "zh_ai.json": Card("爱", "ai", lore=27),
    "zh_nun_ninja.json": Card(
        "修女与女忍的双面日常", "xiu-nv-yu-nv-ren-de-shuang-mian-ri-chang", lore=10
    ),
    "zh_nun_ninja_anime.png": Card(
        "修女与女忍的双面日常", "xiu-nv-yu-nv-ren-de-shuang-mian-ri-chang", lore=10, picture=True
    ),
    "zh_nun_ninja_real.png": Card(
        "修女与女忍的双面日常", "xiu-nv-yu-nv-ren-de-shuang-mian-ri-chang", lore=10, picture=True
    ),
    "zh_nun_ninja.worldbook.json": Book("zh_nun_ninja", 10),
    # jasl/tavern_kit fixtures
    "tk_ccv2_with_overrides.json": Card("Bob", "bob", lore=2),
    "tk_ccv3_st_export_like.json": Card("Diana", "diana", lore=1),
    "tk_full_v2_card.json": Card("Aurora", "aurora", lore=1),
    "tk_full_v3_card.json": Card("Nova", "nova", lore=1),
    "tk_minimal_v3.json": Card("Test Character V3", "test-character-v3"),
    "tk_test_character.charx": Card("Test Character", "test-character", picture=True),
    "tk_test_character.png": Card("Test Character", "test-character", picture=True),
    "tk_test_character_v2.png": Card("V2 Test Character", "v2-test-character", picture=True),
    "tk_test_character_with_lorebook.charx": Card(
        "Lorebook Test Character", "lorebook-test-character", lore=2, picture=True
    ),
    "tk_with_lorebook.json": Card("Character with Lorebook", "character-with-lorebook", lore=2),
    "tk_world_one.json": Book("world-one", 1),
    "tk_invalid_missing_name.json": Refused("data.name: missing"),
    "tk_invalid_missing_spec.json": Refused("`data` without `spec`"),
    "tk_lorebook_invalid.json": Refused("not valid JSON"),
}

CARDS = sorted(k for k, v in EXPECTED.items() if isinstance(v, Card))


def _manifest() -> dict[str, str]:
    with (WILD / "MANIFEST.tsv").open(encoding="utf-8") as handle:
        return {row["file"]: row["kind"] for row in csv.DictReader(handle, delimiter="\t")}


def _source_data(path: Path) -> dict[str, object]:
    """The card's fields as the file holds them, read without the engine."""
    raw = path.read_bytes()
    if raw.startswith(b"\x89PNG"):
        texts = read_png_text(raw)
        obj = json.loads(base64.b64decode(texts.get("ccv3") or texts["chara"]))
    elif raw.startswith(b"PK"):
        import io
        import zipfile

        obj = json.loads(zipfile.ZipFile(io.BytesIO(raw)).read("card.json"))
    else:
        obj = json.loads(raw.decode("utf-8-sig"))
    if "char_name" in obj:
        return {
            "name": obj["char_name"],
            "description": obj["char_persona"],
            "first_mes": obj["char_greeting"],
            "scenario": obj["world_scenario"],
            "mes_example": obj["example_dialogue"],
        }
    data = obj.get("data") if isinstance(obj.get("data"), dict) else obj
    assert isinstance(data, dict)
    return data


def _pixels(png: bytes) -> list[tuple[bytes, bytes]]:
    """Every chunk but the text ones: the picture itself."""
    out, pos = [], 8
    while pos < len(png):
        length, kind = struct.unpack(">I4s", png[pos : pos + 8])
        if kind not in (b"tEXt", b"zTXt", b"iTXt"):
            out.append((kind, png[pos + 8 : pos + 8 + length]))
        pos += 12 + length
    return out


def test_the_table_covers_the_manifest() -> None:
    manifest = _manifest()
    assert set(manifest) == set(EXPECTED)
    for name, kind in manifest.items():
        expected = EXPECTED[name]
        if kind.startswith("invalid"):
            assert isinstance(expected, Refused), name
        elif kind.startswith(("worldinfo", "lorebook")):
            assert isinstance(expected, Book), name
        else:
            assert isinstance(expected, Card), name


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_wild_file_imports_as_a_user_would_expect(name: str, tmp_path: Path) -> None:
    source = WILD / name
    out = tmp_path / "characters"
    result = CliRunner().invoke(main, ["import", str(source), "--out", str(out)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    written = (
        sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
        if out.exists()
        else []
    )
    expected = EXPECTED[name]
    if isinstance(expected, Refused):
        assert result.exit_code == 1
        assert f"error: {source}: " in result.output and expected.reason in result.output
        assert written == []
        return
    assert result.exit_code == 0, result.output
    if isinstance(expected, Book):
        assert written == [f"lore/{expected.id}.yaml"]
        assert "lorebook" in result.output.lower()
        book = load_lore_file(out / "lore" / f"{expected.id}.yaml")
        assert len(book.entries) == expected.entries
        source_entries = json.loads(source.read_text(encoding="utf-8-sig"))["entries"]
        contents = [
            e["content"]
            for e in (
                source_entries.values() if isinstance(source_entries, dict) else source_entries
            )
        ]
        assert [e.content for e in book.entries] == contents
        return
    assert f"{expected.id}.yaml" in written
    assert all(r.ok for r in validate_path(out)), [
        str(e) for r in validate_path(out) for e in r.errors
    ]
    persona = load_persona(out / f"{expected.id}.yaml")
    data = _source_data(source)
    assert persona.card is not None
    assert persona.name == expected.name
    assert persona.card.raw_description.strip() == str(data.get("description") or "").strip()
    assert persona.card.raw_personality.strip() == str(data.get("personality") or "").strip()
    if str(data.get("first_mes") or "").strip():
        assert (
            persona.greetings.first_meeting
            and persona.card.raw_first_mes == str(data["first_mes"]).strip()
        )
    book = data.get("character_book")
    assert (
        len(persona.lore)
        == expected.lore
        == (len(book["entries"]) if isinstance(book, dict) else 0)
    )
    if expected.picture:
        assert persona.look.image == f"{expected.id}.png"
        assert f"also wrote: {out / persona.look.image}" in result.output
    else:
        assert not persona.look.image and f"{expected.id}.png" not in written


@pytest.mark.parametrize("name", CARDS)
@pytest.mark.parametrize("spec", ["v2", "v3"])
def test_wild_card_exports_every_field_it_had(name: str, spec: str) -> None:
    result = import_file(WILD / name)
    assert isinstance(result, ImportResult)
    card = persona_to_card(result.persona, spec)  # type: ignore[arg-type]
    assert _lost(result.card.data, card["data"], "data") == []
    # Top-level fields outside `data` come back too; V3 has no top-level V1 copies.
    v1 = {"name", "description", "personality", "scenario", "first_mes", "mes_example"}
    outer = {
        k: v
        for k, v in result.card.outer.items()
        if k != "spec_version" and not (spec == "v3" and k in v1)
    }
    assert _lost(outer, card, "") == []


def _lost(original: object, exported: object, where: str) -> list[str]:
    """Every field of ``original`` missing or changed in ``exported`` (fields the spec requires,
    such as an entry's ``extensions`` or V3's ``use_regex``, may be added)."""
    if isinstance(original, dict) and isinstance(exported, dict):
        return [
            problem
            for key, value in original.items()
            for problem in (
                _lost(value, exported[key], f"{where}.{key}")
                if key in exported
                else [f"{where}.{key}: missing"]
            )
        ]
    if isinstance(original, list) and isinstance(exported, list) and len(original) == len(exported):
        return [
            p
            for i, (a, b) in enumerate(zip(original, exported, strict=True))
            for p in _lost(a, b, f"{where}[{i}]")
        ]
    return [] if original == exported else [f"{where}: {original!r:.60} became {exported!r:.60}"]


@pytest.mark.parametrize("name", [n for n in CARDS if n.endswith(".png")])
def test_wild_png_exports_its_own_picture(name: str, tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "c"
    assert runner.invoke(main, ["import", str(WILD / name), "--out", str(out)]).exit_code == 0
    character = EXPECTED[name]
    assert isinstance(character, Card)
    png = tmp_path / "back.png"
    result = runner.invoke(
        main, ["export", character.id, "-d", str(out), "--format", "png", "-o", str(png)]
    )
    assert result.exit_code == 0, result.output
    exported = png.read_bytes()
    assert _pixels(exported) == _pixels((WILD / name).read_bytes())
    texts = read_png_text(exported)
    assert json.loads(base64.b64decode(texts["ccv3"]))["data"]["name"] == character.name


def test_a_second_card_with_the_same_id_is_refused_clearly(tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "c"
    first = runner.invoke(main, ["import", str(WILD / "zh_nun_ninja.json"), "--out", str(out)])
    assert first.exit_code == 0, first.output
    second = runner.invoke(main, ["import", str(WILD / "zh_nun_ninja_real.png"), "--out", str(out)])
    assert second.exit_code == 1
    assert "already exist" in second.output and "--id" in second.output
    assert yaml.safe_load((out / "xiu-nv-yu-nv-ren-de-shuang-mian-ri-chang.yaml").read_text())[
        "card"
    ]["spec"] == ("chara_card_v2")
    both = runner.invoke(
        main,
        [
            "import",
            str(WILD / "zh_nun_ninja_anime.png"),
            str(WILD / "zh_nun_ninja_real.png"),
            "--out",
            str(tmp_path / "d"),
        ],
    )
    assert both.exit_code == 0, both.output
    assert (tmp_path / "d" / "xiu-nv-yu-nv-ren-de-shuang-mian-ri-chang-2.yaml").is_file()
