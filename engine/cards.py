"""Character Card V1/V2/V3 import and export: JSON, PNG (``chara``/``ccv3`` chunks) and CHARX.

Character cards are the format writers already exchange personas in. Importing one maps
its fields onto a :class:`~engine.persona.Persona` (description and personality become
backstory, traits, looks and knowledge; ``first_mes`` and ``alternate_greetings`` become
first-meeting greetings; ``mes_example`` becomes example exchanges; the lorebook becomes
``persona.lore``) and keeps every original field in ``persona.card``, so exporting an
unedited persona gives back the card it came from, field for field. Edited fields are
written from the persona.

Containers are read with the standard library only (``struct`` + ``zlib`` for PNG, with CRC
checks; ``zipfile`` for CHARX) under size limits, so a hostile file is refused with a
:class:`~engine.errors.CardError` before it can exhaust memory.

Example::

    from engine.cards import import_card, export_card
    result = import_card("Seraphina.png")
    result.persona.name, result.report.unmapped
    export_card(result.persona, "seraphina.png", format="png")
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import logging
import math
import re
import string
import struct
import unicodedata
import zipfile
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Literal

import yaml
from pydantic import ValidationError

from engine.errors import CardError
from engine.lore import Lorebook, LoreEntry, expand_macros, parse_lorebook, strip_decorators
from engine.persona import CardInfo, ExampleExchange, Greetings, Look, Persona, Personality
from engine.tokens import is_cjk

__all__ = [
    "Card",
    "CardFormat",
    "ImportReport",
    "ImportResult",
    "Limits",
    "card_from_json",
    "card_to_persona",
    "export_card",
    "import_card",
    "load_lorebook",
    "persona_to_card",
    "persona_to_yaml",
    "portrait_png",
    "read_card",
    "read_png_text",
    "write_charx",
    "write_png",
]

logger = logging.getLogger(__name__)

CardFormat = Literal["v2", "v3", "png"]

V1_FIELDS = ("name", "description", "personality", "scenario", "first_mes", "mes_example")
_V2_STR_FIELDS = (
    *V1_FIELDS,
    "creator_notes",
    "system_prompt",
    "post_history_instructions",
    "creator",
    "character_version",
)
_V2_LIST_FIELDS = ("alternate_greetings", "tags")
_V2_FIELDS = frozenset((*_V2_STR_FIELDS, *_V2_LIST_FIELDS, "extensions", "character_book"))
# V3 additions: type-checked on import and kept verbatim (the engine has no use for them).
_V3_TYPES: dict[str, tuple[type, ...]] = {
    "assets": (list,),
    "nickname": (str,),
    "creator_notes_multilingual": (dict,),
    "source": (list,),
    "group_only_greetings": (list,),
    "creation_date": (int, float),
    "modification_date": (int, float),
}
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_ZIP_SIGNATURE = b"PK\x03\x04"
_BACKFILL_NOTE = (
    "This character card is Character Card V3, but it is loaded as a Character Card V2. "
    "Please use a Character Card V3 compatible application to use this character card properly."
)
_ENGINE_EXT = "npc_engine"


@dataclass(frozen=True)
class Limits:
    """Size limits applied while reading cards. Anything larger is refused with a CardError."""

    max_file_bytes: int = 32 * 1024 * 1024
    """Largest card file (JSON, PNG or CHARX) read at all."""
    max_text_bytes: int = 8 * 1024 * 1024
    """Largest card JSON (decoded chunk, card.json, JSON file)."""
    max_zip_entries: int = 1000
    """Most files inside a CHARX."""
    max_zip_total_bytes: int = 128 * 1024 * 1024
    """Most bytes a CHARX may expand to, declared or actual."""
    max_zip_ratio: float = 200.0
    """Largest compression ratio of a CHARX member (zip bombs compress thousands to one)."""


DEFAULT_LIMITS = Limits()


@dataclass
class Card:
    """A card as read from a file: its spec, its ``data`` object and what surrounds it."""

    spec: str
    """``chara_card_v1``, ``chara_card_v2`` or ``chara_card_v3``."""
    data: dict[str, Any]
    """The card's ``data`` object (for V1, the card itself)."""
    outer: dict[str, Any] = field(default_factory=dict)
    """Top-level fields besides ``spec`` and ``data`` (``spec_version``, V1 copies, editor fields)."""
    assets: dict[str, bytes] = field(default_factory=dict)
    """Embedded files by path (CHARX members, PNG ``chara-ext-asset_`` chunks)."""
    image: bytes | None = None
    """The PNG the card was embedded in, when it came from one."""
    path: str | None = None
    """Where it was read from."""


@dataclass
class ImportReport:
    """What an import did with each part of the card."""

    source: str
    spec: str
    mapped: list[str] = field(default_factory=list)
    """Card fields mapped onto persona fields ("first_mes -> greetings.first_meeting[0]")."""
    unmapped: list[str] = field(default_factory=list)
    """Parts kept only verbatim in ``persona.card`` (exported again, but unused by the engine)."""
    warnings: list[str] = field(default_factory=list)
    """Anything the writer should look at."""

    def lines(self) -> list[str]:
        """The report as readable lines."""
        out = [f"{self.source} ({self.spec})"]
        out += [f"  mapped: {m}" for m in self.mapped]
        out += [f"  not mapped (kept verbatim in card): {u}" for u in self.unmapped]
        out += [f"  warning: {w}" for w in self.warnings]
        return out


@dataclass
class ImportResult:
    """A persona made from a card, the report of how, and the card itself."""

    persona: Persona
    report: ImportReport
    card: Card


# ============================================================================================
# Reading containers
# ============================================================================================


def read_card(source: str | Path | bytes, *, limits: Limits = DEFAULT_LIMITS) -> Card:
    """Read a card from a path or bytes: JSON (V1/V2/V3), PNG/APNG or CHARX, told apart by content.

    Raises :class:`CardError` for anything unreadable, over a size limit or of the wrong shape.
    """
    path: str | None = None
    if isinstance(source, bytes):
        raw = source
        if len(raw) > limits.max_file_bytes:
            raise CardError(f"card is {len(raw)} bytes, over the {limits.max_file_bytes} byte limit")
    else:
        path = str(source)
        raw = _read_limited(Path(source), limits.max_file_bytes)
    if raw.startswith(_PNG_SIGNATURE):
        card = _card_from_png(raw, path, limits)
    elif raw.startswith(_ZIP_SIGNATURE):
        card = _card_from_charx(raw, path, limits)
    else:
        card = card_from_json(_parse_json(raw, path, limits, "card"), path=path)
    card.path = path
    return card


def _read_limited(path: Path, limit: int) -> bytes:
    try:
        size = path.stat().st_size
        if size > limit:
            raise CardError(f"file is {size} bytes, over the {limit} byte limit", path=str(path))
        with path.open("rb") as handle:
            raw = handle.read(limit + 1)
    except OSError as exc:
        raise CardError(f"cannot read: {exc.strerror or exc}", path=str(path)) from exc
    if len(raw) > limit:  # the file grew after stat
        raise CardError(f"file is over the {limit} byte limit", path=str(path))
    return raw


def _parse_json(raw: bytes, path: str | None, limits: Limits, what: str) -> Any:
    if len(raw) > limits.max_text_bytes:
        raise CardError(f"{what} JSON is {len(raw)} bytes, over the {limits.max_text_bytes} byte limit", path=path)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CardError(f"{what} is not UTF-8 text (byte {exc.start})", path=path) from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CardError(f"{what} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}", path=path) from exc
    except RecursionError as exc:
        raise CardError(f"{what} JSON is nested too deeply", path=path) from exc


# --- PNG ------------------------------------------------------------------------------------


def _png_chunks(raw: bytes, path: str | None) -> Iterator[tuple[bytes, bytes]]:
    """(type, body) for each chunk, CRCs verified, up to and including IEND."""
    if not raw.startswith(_PNG_SIGNATURE):
        raise CardError("not a PNG file", path=path)
    pos = len(_PNG_SIGNATURE)
    first = True
    while True:
        if pos + 8 > len(raw):
            raise CardError(f"truncated PNG: no chunk header at byte {pos} (IEND missing)", path=path)
        length, kind = struct.unpack(">I4s", raw[pos : pos + 8])
        end = pos + 12 + length
        if length > 0x7FFFFFFF or end > len(raw):
            raise CardError(
                f"truncated PNG: chunk {kind.decode('latin-1')!r} at byte {pos} needs {length} bytes, "
                f"file ends at {len(raw)}",
                path=path,
            )
        if first and kind != b"IHDR":
            raise CardError("corrupt PNG: the first chunk is not IHDR", path=path)
        first = False
        body = raw[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", raw[end - 4 : end])
        if zlib.crc32(kind + body) & 0xFFFFFFFF != crc:
            raise CardError(f"corrupt PNG: CRC mismatch in chunk {kind.decode('latin-1')!r} at byte {pos}", path=path)
        yield kind, body
        pos = end
        if kind == b"IEND":
            return


def _inflate(data: bytes, limit: int, what: str, path: str | None) -> bytes:
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error as exc:
        raise CardError(f"{what}: cannot decompress: {exc}", path=path) from exc
    if len(out) > limit or inflater.unconsumed_tail:
        raise CardError(f"{what}: expands past the {limit} byte limit", path=path)
    return out


def read_png_text(raw: bytes, *, path: str | None = None, limits: Limits = DEFAULT_LIMITS) -> dict[str, str]:
    """The text chunks of a PNG (tEXt, zTXt, iTXt) by keyword; the first of each keyword wins."""
    found: dict[str, str] = {}
    for kind, body in _png_chunks(raw, path):
        if kind not in (b"tEXt", b"zTXt", b"iTXt"):
            continue
        keyword_bytes, sep, rest = body.partition(b"\0")
        if not sep:
            raise CardError(f"corrupt PNG: {kind.decode()} chunk without a keyword separator", path=path)
        keyword = keyword_bytes.decode("latin-1")
        what = f"PNG {kind.decode()} chunk {keyword!r}"
        if kind == b"tEXt":
            text = rest.decode("latin-1")
        elif kind == b"zTXt":
            text = _inflate(rest[1:], limits.max_text_bytes, what, path).decode("latin-1")
        else:
            if len(rest) < 2:
                raise CardError(f"corrupt PNG: {what} is cut short", path=path)
            compressed, payload = rest[0], rest[2:]
            _lang, _, payload = payload.partition(b"\0")
            _translated, _, payload = payload.partition(b"\0")
            if compressed:
                payload = _inflate(payload, limits.max_text_bytes, what, path)
            try:
                text = payload.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise CardError(f"{what} is not UTF-8", path=path) from exc
        found.setdefault(keyword, text)
    return found


def _decode_chunk(value: str, keyword: str, path: str | None, limits: Limits) -> Any:
    stripped = value.strip()
    if stripped.startswith("{"):
        # A few writers store the JSON itself instead of base64.
        return _parse_json(stripped.encode("utf-8"), path, limits, f"chunk {keyword!r}")
    try:
        decoded = base64.b64decode("".join(stripped.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise CardError(f"chunk {keyword!r} is not valid base64: {exc}", path=path) from exc
    return _parse_json(decoded, path, limits, f"chunk {keyword!r}")


def _card_from_png(raw: bytes, path: str | None, limits: Limits) -> Card:
    texts = read_png_text(raw, path=path, limits=limits)
    keyword = "ccv3" if "ccv3" in texts else "chara" if "chara" in texts else None
    if keyword is None:
        raise CardError("PNG holds no character card (no 'chara' or 'ccv3' text chunk)", path=path)
    card = card_from_json(_decode_chunk(texts[keyword], keyword, path, limits), path=path)
    for name, value in texts.items():
        if name.startswith("chara-ext-asset_:"):
            try:
                card.assets[name.split(":", 1)[1]] = base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise CardError(f"chunk {name!r} is not valid base64", path=path) from exc
    card.image = raw
    return card


# --- CHARX ----------------------------------------------------------------------------------


def _safe_member_name(name: str) -> bool:
    if not name or "\0" in name or "\\" in name or name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return False
    return ".." not in PurePosixPath(name).parts


def _card_from_charx(raw: bytes, path: str | None, limits: Limits) -> Card:
    try:
        archive = zipfile.ZipFile(io.BytesIO(raw))
    except (zipfile.BadZipFile, OSError) as exc:
        raise CardError(f"not a readable CHARX (zip) file: {exc}", path=path) from exc
    with archive:
        infos = archive.infolist()
        if len(infos) > limits.max_zip_entries:
            raise CardError(f"CHARX holds {len(infos)} files, over the {limits.max_zip_entries} file limit", path=path)
        declared = 0
        for info in infos:
            if not _safe_member_name(info.filename):
                raise CardError(f"CHARX member name {info.filename!r} is unsafe (absolute or '..')", path=path)
            if info.flag_bits & 0x1:
                raise CardError(f"CHARX member {info.filename!r} is encrypted", path=path)
            declared += info.file_size
            ratio = info.file_size / max(info.compress_size, 1)
            if info.file_size > 1024 * 1024 and ratio > limits.max_zip_ratio:
                raise CardError(
                    f"CHARX member {info.filename!r} expands {ratio:.0f}x (zip bomb?); limit {limits.max_zip_ratio:.0f}x",
                    path=path,
                )
        if declared > limits.max_zip_total_bytes:
            raise CardError(
                f"CHARX expands to {declared} bytes, over the {limits.max_zip_total_bytes} byte limit", path=path
            )
        if "card.json" not in archive.namelist():
            raise CardError("CHARX has no card.json at its root", path=path)
        members: dict[str, bytes] = {}
        budget = limits.max_zip_total_bytes
        for info in infos:
            if info.is_dir():
                continue
            cap = min(budget, limits.max_text_bytes if info.filename == "card.json" else budget)
            data = _read_member(archive, info, cap, path)
            budget -= len(data)
            members[info.filename] = data
    card = card_from_json(_parse_json(members.pop("card.json"), path, limits, "card.json"), path=path)
    card.assets = members
    return card


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, cap: int, path: str | None) -> bytes:
    """Read one member, counting real bytes: a lying header cannot get past ``cap``."""
    out = bytearray()
    try:
        with archive.open(info) as member:
            while chunk := member.read(64 * 1024):
                out += chunk
                if len(out) > cap or len(out) > info.file_size:
                    raise CardError(
                        f"CHARX member {info.filename!r} expands past its declared size or the limit", path=path
                    )
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, NotImplementedError) as exc:
        raise CardError(f"CHARX member {info.filename!r} is corrupt: {exc}", path=path) from exc
    return bytes(out)


# ============================================================================================
# Card JSON shape
# ============================================================================================


def card_from_json(obj: Any, *, path: str | None = None) -> Card:
    """A :class:`Card` from parsed JSON (V1, V2 or V3), with every known field type-checked."""
    if not isinstance(obj, dict):
        raise CardError(f"a card must be a JSON object, got {type(obj).__name__}", path=path)
    spec = obj.get("spec")
    if spec in ("chara_card_v2", "chara_card_v3"):
        data = obj.get("data")
        if not isinstance(data, dict):
            raise CardError(f"data: expected an object, got {type(data).__name__}", path=path)
        outer = {k: v for k, v in obj.items() if k not in ("spec", "data")}
        where = "data"
    elif spec is None or spec == "chara_card_v1":
        if "name" not in obj and "data" not in obj:
            raise CardError("not a character card: no `spec` and no `name`", path=path)
        spec = "chara_card_v1"
        data = {k: obj[k] for k in V1_FIELDS if k in obj}
        outer = {k: v for k, v in obj.items() if k not in V1_FIELDS}
        where = "card"
    else:
        raise CardError(f"spec: unsupported card spec {spec!r} (expected chara_card_v2 or chara_card_v3)", path=path)
    _check_types(data, where, path)
    if spec == "chara_card_v3":
        version = obj.get("spec_version")
        try:
            if version is not None and float(version) > 3.0:
                logger.warning("%s: card spec_version %s is newer than 3.0; importing what is known", path, version)
        except (TypeError, ValueError):
            pass
    return Card(spec=spec, data=dict(data), outer=outer, path=path)


def _check_types(data: Mapping[str, Any], where: str, path: str | None) -> None:
    def fail(key: str, expected: str) -> CardError:
        return CardError(f"{where}.{key}: expected {expected}, got {type(data[key]).__name__}", path=path)

    for key in _V2_STR_FIELDS:
        if data.get(key) is not None and not isinstance(data[key], str):
            raise fail(key, "a string")
    for key in (*_V2_LIST_FIELDS, "group_only_greetings", "source"):
        value = data.get(key)
        if value is not None and (not isinstance(value, list) or not all(isinstance(v, str) for v in value)):
            raise fail(key, "a list of strings")
    for key in ("extensions", "creator_notes_multilingual"):
        if data.get(key) is not None and not isinstance(data[key], dict):
            raise fail(key, "an object")
    for key, types in _V3_TYPES.items():
        value = data.get(key)
        if value is not None and (not isinstance(value, types) or isinstance(value, bool)):
            raise fail(key, " or ".join(t.__name__ for t in types).replace("float", "number").replace("int", "number"))
    for i, asset in enumerate(data.get("assets") or []):
        if not isinstance(asset, dict) or not all(isinstance(asset.get(k), str) for k in ("type", "uri")):
            raise CardError(f"{where}.assets[{i}]: expected an object with string type and uri", path=path)
    book = data.get("character_book")
    if book is not None:
        if not isinstance(book, dict):
            raise fail("character_book", "an object")
        if not isinstance(book.get("entries"), list):
            raise CardError(f"{where}.character_book.entries: expected a list", path=path)
        _book_from(book, f"{where}.character_book", path)


def _book_from(book: dict[str, Any], where: str, path: str | None) -> Lorebook:
    try:
        return parse_lorebook(book, path=path)
    except CardError as exc:
        # Name the field from the card's root, not the book's.
        raise CardError(exc.message.replace("character_book", where, 1), path=path) from exc


# ============================================================================================
# Card fields -> persona fields
# ============================================================================================

_USER_NAMES = frozenset({"{{user}}", "<user>", "user", "you", "player", "anon", "{{user}}'s"})
_CHAR_NAMES = frozenset({"{{char}}", "<bot>", "<char>", "char", "bot", "assistant"})
_SPEAKER = re.compile(r"^\s*(\{\{\s*(?:user|char)\s*\}\}|<(?:user|bot|char)>|[^\s:：{}\[\]<>*\"][^:：\n*\"]{0,39}?)\s*[:：]\s?(.*)$", re.IGNORECASE)
_START = re.compile(r"^\s*<start>\s*$", re.IGNORECASE)
_WPP_ASSIGN = re.compile(r"^\s*([^=\[\]]{1,80}?)\s*=\s*(.+?)\s*$", re.DOTALL)
_WPP_CALL = re.compile(r"([A-Za-z][\w ]{0,40}?)\s*\(([^()]*)\)")
_QUOTED = re.compile(r"\"([^\"]*)\"")
_TRAIT_KEYS = ("personality", "trait", "mind", "persona", "nature", "temperament", "character")
_LOOK_KEYS = ("body", "appearance", "look", "feature", "outfit", "cloth", "wear", "attire", "hair", "eye", "face", "height")
_GOAL_KEYS = ("goal", "want", "desire", "motivation", "dream")
_ROLE_KEYS = ("role", "occupation", "job", "profession")


@dataclass
class _Mapped:
    """Persona fields derived from a card's text fields (a pure function of the card)."""

    backstory: str = ""
    traits: list[str] = field(default_factory=list)
    look: str = ""
    knowledge: list[str] = field(default_factory=list)
    goals: list[str] = field(default_factory=list)
    role: str = ""
    examples: list[ExampleExchange] = field(default_factory=list)
    greetings: list[str] = field(default_factory=list)
    mapped: list[str] = field(default_factory=list)
    unmapped: list[str] = field(default_factory=list)

    def text_state(self) -> tuple[Any, ...]:
        return _state(self.backstory, self.traits, self.look, self.knowledge, self.goals, self.role, self.examples)


def _state(*parts: Any) -> tuple[Any, ...]:
    return tuple([e.model_dump() for e in p] if p and isinstance(p, list) and isinstance(p[0], ExampleExchange) else p for p in parts)


def _nl(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _fill(text: str, name: str, user: str) -> str:
    """Card macros in a text the engine uses as is: {{char}} -> the name, {{user}} -> ``user``."""
    return expand_macros(text, {"char": name, "user": user}).strip()


def _to_greeting(text: str) -> str:
    """A card greeting as a persona greeting: braces escaped, macros as {placeholders}."""
    marked = re.sub(r"\{\{\s*user\s*\}\}|<user>", "\0u", _nl(text), flags=re.IGNORECASE)
    marked = re.sub(r"\{\{\s*char\s*\}\}|<(?:bot|char)>", "\0c", marked, flags=re.IGNORECASE)
    escaped = marked.replace("{", "{{").replace("}", "}}")
    return escaped.replace("\0u", "{player_name}").replace("\0c", "{character_name}").strip()


def _from_greeting(text: str) -> str:
    """A persona greeting as a card greeting (inverse of :func:`_to_greeting`)."""
    out: list[str] = []
    try:
        parts = list(string.Formatter().parse(text))
    except ValueError:
        return text
    for literal, name, _spec, _conv in parts:
        out.append(literal)
        if name == "player_name":
            out.append("{{user}}")
        elif name == "character_name":
            out.append("{{char}}")
        elif name is not None:
            out.append("{" + name + "}")
    return "".join(out)


def _speaker_kind(label: str, names: set[str]) -> str | None:
    low = label.strip().lower()
    if low in _USER_NAMES:
        return "user"
    if low in _CHAR_NAMES or low in names:
        return "char"
    return None


def _parse_dialogue(block: str, name: str, names: set[str], where: str, mapped: _Mapped) -> None:
    """Turn one <START> block into example exchanges (player line, then character line)."""
    turns: list[list[str]] = []  # [kind, text]
    for line in _nl(block).split("\n"):
        match = _SPEAKER.match(line)
        kind = _speaker_kind(match.group(1), names) if match else None
        if match and kind:
            if turns and turns[-1][0] == kind:
                turns[-1][1] += "\n" + match.group(2)
            else:
                turns.append([kind, match.group(2)])
        elif turns:
            turns[-1][1] += "\n" + line
        elif line.strip():
            mapped.unmapped.append(f"{where}: narration before the first speaker ({line.strip()[:40]!r}...)")
    pending: str | None = None
    for kind, text in turns:
        text = text.strip()
        if kind == "user":
            pending = text
        elif pending:
            player = _fill(pending, name, "I")
            character = _fill(text, name, "you")
            if player and character:
                mapped.examples.append(ExampleExchange(player=player, character=character))
            pending = None
        elif text:
            mapped.unmapped.append(f"{where}: a line of {name} with no player line before it")


def _split_examples(text: str) -> list[str]:
    """mes_example split on <START> (text before the first marker counts as a block too)."""
    blocks: list[list[str]] = [[]]
    for line in _nl(text).split("\n"):
        if _START.match(line):
            blocks.append([])
        else:
            blocks[-1].append(line)
    return ["\n".join(b) for b in blocks if "\n".join(b).strip()]


def _classify(key: str) -> str:
    low = key.lower()
    if any(k in low for k in _TRAIT_KEYS):
        return "traits"
    if any(k in low for k in _LOOK_KEYS):
        return "look"
    if any(k in low for k in _GOAL_KEYS):
        return "goals"
    if any(k in low for k in _ROLE_KEYS):
        return "role"
    return "knowledge"


def _attribute_key(raw: str, names: set[str]) -> str:
    key = raw.strip().strip('"').strip()
    # "Seraphina's Personality" -> "Personality"
    parts = re.split(r"['’]s\s+", key, maxsplit=1)
    if len(parts) == 2 and parts[0].strip().lower() in names | {"{{char}}"}:
        key = parts[1]
    return key.strip()


def _parse_bracket(inner: str, name: str, names: set[str], mapped: _Mapped) -> None:
    """One [ ... ] block: W++ (Key= "a", "b" / Key("a" + "b")), PList (Key: a; Key2: b) or text."""
    inner = inner.strip()
    pairs: list[tuple[str, list[str]]] = []
    assign = _WPP_ASSIGN.match(inner)
    calls = _WPP_CALL.findall(inner)
    if assign and _QUOTED.search(assign.group(2)):
        pairs.append((assign.group(1), _QUOTED.findall(assign.group(2))))
    elif calls and all(_QUOTED.search(v) for _, v in calls):
        pairs.extend((k, _QUOTED.findall(v)) for k, v in calls if k.strip().lower() != "character")
    elif ":" in inner:
        for part in re.split(r";\s*", inner):
            key, sep, value = part.partition(":")
            if sep and value.strip():
                pairs.append((key, [v.strip() for v in value.split(",") if v.strip()]))
            elif part.strip():
                mapped.knowledge.append(_fill(part, name, "the player"))
    else:
        mapped.knowledge.append(_fill(inner, name, "the player"))
    for raw_key, values in pairs:
        key = _attribute_key(raw_key, names)
        values = [_fill(v, name, "the player") for v in values if v.strip()]
        kind = _classify(key)
        if kind == "traits":
            mapped.traits.extend(v for v in values if v not in mapped.traits)
        elif kind == "look":
            mapped.look = ", ".join(filter(None, [mapped.look, *values]))
        elif kind == "goals":
            mapped.goals.extend(values)
        elif kind == "role" and not mapped.role:
            mapped.role = ", ".join(values)
        else:
            mapped.knowledge.append(f"{key}: {', '.join(values)}")


def _parse_description(text: str, name: str, names: set[str], mapped: _Mapped) -> None:
    lines = _nl(text).split("\n")
    prose: list[str] = []
    i = 0
    dialogue = 0
    while i < len(lines):
        stripped = lines[i].strip()
        if _START.match(lines[i]):
            block: list[str] = []
            i += 1
            while i < len(lines) and not _START.match(lines[i]) and not lines[i].strip().startswith("["):
                block.append(lines[i])
                i += 1
            dialogue += 1
            _parse_dialogue("\n".join(block), name, names, f"description example {dialogue}", mapped)
            continue
        if stripped.startswith("["):
            chunk = [stripped]
            while not chunk[-1].endswith("]") and i + 1 < len(lines):
                i += 1
                chunk.append(lines[i].strip())
            joined = " ".join(chunk)
            _parse_bracket(joined[1:-1] if joined.endswith("]") else joined[1:], name, names, mapped)
        else:
            prose.append(lines[i])
        i += 1
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", "\n".join(prose)) if p.strip()]
    mapped.backstory = "\n\n".join(_fill(p, name, "the player") for p in paragraphs)


def _parse_personality(text: str, name: str, names: set[str], mapped: _Mapped) -> None:
    body = _nl(text).strip()
    if not body:
        return
    if body.startswith("[") and body.endswith("]"):
        _parse_bracket(body[1:-1], name, names, mapped)
        return
    pieces = [p.strip(" .") for p in re.split(r"[,;\n、，；]", body) if p.strip(" .")]
    if pieces and all(len(p) <= 40 and not re.search(r"[.!?。！？]", p) for p in pieces):
        mapped.traits.extend(_fill(p, name, "the player") for p in pieces if p not in mapped.traits)
    else:
        mapped.traits.append(_fill(body, name, "the player"))


def _map_text(data: Mapping[str, Any]) -> _Mapped:
    """Persona fields from a card's text fields. Pure: export re-runs it to spot edits."""
    name = (data.get("name") or "").strip() or "Unnamed"
    names = {name.lower(), (data.get("nickname") or "").strip().lower()} - {""}
    mapped = _Mapped()
    description = data.get("description") or ""
    if description.strip():
        _parse_description(description, name, names, mapped)
        mapped.mapped.append("description -> backstory, personality.traits, look.description, knowledge, goals, examples")
    personality = data.get("personality") or ""
    if personality.strip():
        _parse_personality(personality, name, names, mapped)
        mapped.mapped.append("personality -> personality.traits")
    for i, block in enumerate(_split_examples(data.get("mes_example") or "")):
        _parse_dialogue(block, name, names, f"mes_example block {i + 1}", mapped)
    if (data.get("mes_example") or "").strip():
        mapped.mapped.append(f"mes_example -> examples ({len(mapped.examples)} exchanges in all)")
    greetings = [data.get("first_mes") or "", *(data.get("alternate_greetings") or [])]
    mapped.greetings = [g for g in (_to_greeting(x) for x in greetings) if g]
    if mapped.greetings:
        mapped.mapped.append("first_mes, alternate_greetings -> greetings.first_meeting")
    return mapped


def _slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9_-]+", "-", ascii_text.lower()).strip("-_")


def _languages(data: Mapping[str, Any]) -> list[str]:
    sample = "".join(str(data.get(k) or "") for k in ("description", "first_mes", "personality"))
    letters = [c for c in sample if c.isalpha()]
    if letters and sum(is_cjk(c) for c in letters) / len(letters) > 0.3:
        return ["zh", "en"]
    return ["en"]


def _talkativeness(ext: Mapping[str, Any]) -> float | None:
    value = ext.get("talkativeness")
    try:
        number = float(value) if isinstance(value, str | int | float) and not isinstance(value, bool) else None
    except ValueError:
        return None
    return number if number is not None and math.isfinite(number) and 0 <= number <= 1 else None


def card_to_persona(card: Card, *, persona_id: str | None = None) -> tuple[Persona, ImportReport]:
    """Map a card onto a new :class:`Persona`, keeping every card field in ``persona.card``."""
    data = card.data
    report = ImportReport(source=card.path or "<card>", spec=card.spec)
    mapped = _map_text(data)
    report.mapped.extend(mapped.mapped)
    report.unmapped.extend(mapped.unmapped)
    raw_name = data.get("name") or ""
    name = raw_name.strip() or "Unnamed"
    if not raw_name.strip():
        report.warnings.append("the card has no name; using 'Unnamed'")
    extensions = dict(data.get("extensions") or {})
    extensions.pop(_ENGINE_EXT, None)  # regenerated on export
    extra: dict[str, Any] = {k: v for k, v in data.items() if k not in _V2_FIELDS}
    info = CardInfo(
        spec=card.spec,
        scenario=data.get("scenario") or "",
        system_prompt=data.get("system_prompt") or "",
        post_history_instructions=data.get("post_history_instructions") or "",
        creator=data.get("creator") or "",
        creator_notes=data.get("creator_notes") or "",
        character_version=data.get("character_version") or "",
        tags=list(data.get("tags") or []),
        raw_description=data.get("description") or "",
        raw_personality=data.get("personality") or "",
        raw_mes_example=data.get("mes_example") or "",
        raw_first_mes=data.get("first_mes") or "",
        extensions=extensions,
        extra=extra,
        outer=_compact_outer(card.outer, data),
    )
    # Whatever the persona model would trim or default is kept verbatim too.
    stored = _stored_fields(info, name)
    for key in (*_V2_STR_FIELDS, *_V2_LIST_FIELDS):
        if key in data and data[key] != stored.get(key):
            info.extra[key] = data[key]
    lore: list[LoreEntry] = []
    book = data.get("character_book")
    if isinstance(book, dict):
        parsed = _book_from(book, "data.character_book", card.path)
        lore = parsed.entries
        info.extra["character_book"] = {k: v for k, v in book.items() if k != "entries"}
        report.mapped.append(f"character_book -> lore ({len(lore)} entries)")
        decorated = sum(1 for e in lore if strip_decorators(e.content) != e.content)
        if decorated:
            report.warnings.append(f"{decorated} lore entries use V3 @@decorators; only activation ones are applied")
    talk = _talkativeness(extensions)
    for key in sorted(extensions):
        if key != "talkativeness":
            report.unmapped.append(f"extensions.{key}")
    for key in sorted(extra):
        report.unmapped.append(f"data.{key}" + (f" ({len(extra[key])} assets)" if key == "assets" and isinstance(extra[key], list) else ""))
    for key in sorted(k for k in card.outer if k not in ("spec_version", *V1_FIELDS)):
        report.unmapped.append(f"{key} (outside data)")
    for key, text in (("system_prompt", info.system_prompt), ("creator_notes", info.creator_notes)):
        if text:
            report.unmapped.append(f"{key} (kept in card.{key})")
    if card.assets:
        report.warnings.append(
            f"{len(card.assets)} embedded files (assets) are not stored in the persona: "
            + ", ".join(sorted(card.assets)[:5])
        )
    try:
        persona = Persona(
            id=persona_id if persona_id is not None else (_slug(name) or "character"),
            name=name,
            languages=_languages(data),
            backstory=mapped.backstory,
            knowledge=mapped.knowledge,
            goals=mapped.goals,
            role=mapped.role,
            look=Look(description=mapped.look),
            personality=Personality(traits=mapped.traits, talkativeness=talk if talk is not None else 0.5),
            examples=mapped.examples,
            greetings=Greetings(first_meeting=mapped.greetings),
            lore=lore,
            card=info,
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise CardError(f"the mapped persona is invalid at {where}: {first['msg']}", path=card.path) from exc
    engine_ext = (data.get("extensions") or {}).get(_ENGINE_EXT)
    if isinstance(engine_ext, dict) and isinstance(engine_ext.get("persona"), dict):
        persona = _apply_engine_ext(persona, engine_ext["persona"], mapped, data, report)
    return persona, report


def _apply_engine_ext(
    persona: Persona, fields: dict[str, Any], mapped: _Mapped, data: Mapping[str, Any], report: ImportReport
) -> Persona:
    """Restore what this engine exported in ``extensions.npc_engine``, unless the card was edited since."""
    try:
        saved = Persona.model_validate({**fields, "id": persona.id})
    except ValidationError as exc:
        report.warnings.append(f"extensions.npc_engine.persona is not a valid persona ({exc.errors()[0]['msg']}); ignored")
        return persona
    update: dict[str, Any] = {"id": persona.id, "lore": persona.lore, "card": persona.card}
    composed = _compose_text(saved)
    card_text = {k: data.get(k) or "" for k in composed}
    if card_text != composed and mapped.text_state() != _persona_state(saved):
        report.warnings.append("the card's text was edited after export; it replaces the saved persona text")
        update.update(
            backstory=mapped.backstory,
            knowledge=mapped.knowledge,
            goals=mapped.goals,
            role=mapped.role,
            examples=mapped.examples,
            personality=saved.personality.model_copy(update={"traits": mapped.traits}),
            look=saved.look.model_copy(update={"description": mapped.look}),
        )
    if mapped.greetings != saved.greetings.first_meeting:
        update["greetings"] = saved.greetings.model_copy(update={"first_meeting": mapped.greetings})
    if persona.name != saved.name:
        update["name"] = persona.name
    report.mapped.append("extensions.npc_engine -> engine fields (actions, emotions, look, voice...)")
    return saved.model_copy(update=update)


_V1_COPIES = "$v1_copies"


def _compact_outer(outer: Mapping[str, Any], data: Mapping[str, Any]) -> dict[str, Any]:
    """Top-level V1 copies equal to their ``data`` field are listed by name instead of repeated."""
    copies = [k for k in V1_FIELDS if k in outer and outer[k] == data.get(k) and isinstance(outer[k], str)]
    compact = {k: v for k, v in outer.items() if k not in copies}
    if copies:
        compact[_V1_COPIES] = copies
    return compact


def _stored_fields(info: CardInfo, name: str) -> dict[str, Any]:
    """Card field values as the persona stores them (after the model trims whitespace)."""
    return {
        "name": name,
        "description": info.raw_description,
        "personality": info.raw_personality,
        "scenario": info.scenario,
        "first_mes": info.raw_first_mes,
        "mes_example": info.raw_mes_example,
        "creator_notes": info.creator_notes,
        "system_prompt": info.system_prompt,
        "post_history_instructions": info.post_history_instructions,
        "creator": info.creator,
        "character_version": info.character_version,
        "tags": info.tags,
        "alternate_greetings": None,  # always kept verbatim: greetings are reshaped
    }


# ============================================================================================
# Persona -> card
# ============================================================================================


def _persona_state(persona: Persona) -> tuple[Any, ...]:
    return _state(
        persona.backstory,
        persona.personality.traits,
        persona.look.description,
        persona.knowledge,
        persona.goals,
        persona.role,
        persona.examples,
    )


def _quote(text: str) -> str:
    return '"' + text.replace('"', "'") + '"'


def _compose_text(persona: Persona) -> dict[str, str]:
    """description / personality / mes_example written from the persona's own fields."""
    name = persona.name
    blocks: list[str] = []
    if persona.role:
        blocks.append(f"[Role: {persona.role}]")
    if persona.personality.traits:
        blocks.append(f"[{name}'s Personality= " + ", ".join(_quote(t) for t in persona.personality.traits) + "]")
    if persona.look.description:
        blocks.append(f"[{name}'s Body= {_quote(persona.look.description)}]")
    if persona.goals:
        blocks.append(f"[{name}'s Goals= " + ", ".join(_quote(g) for g in persona.goals) + "]")
    blocks.extend(f"[{item}]" for item in persona.knowledge)
    description = "\n\n".join(part for part in (persona.backstory, "\n".join(blocks)) if part)
    simple = all(len(t) <= 40 and not re.search(r"[,;.!?\n]", t) for t in persona.personality.traits)
    personality = ", ".join(persona.personality.traits) if simple else ""
    examples = [
        f"<START>\n{{{{user}}}}: {ex.player}\n{{{{char}}}}: {ex.character}" for ex in persona.examples
    ]
    return {"description": description, "personality": personality, "mes_example": "\n".join(examples)}


def _verbatim(persona: Persona) -> dict[str, Any] | None:
    """The card's data fields as imported (None for a persona that never was a card)."""
    info = persona.card
    if info is None or not info.spec:
        return None
    data: dict[str, Any] = {
        "name": persona.name,
        "description": info.raw_description,
        "personality": info.raw_personality,
        "scenario": info.scenario,
        "first_mes": info.raw_first_mes,
        "mes_example": info.raw_mes_example,
        "creator_notes": info.creator_notes,
        "system_prompt": info.system_prompt,
        "post_history_instructions": info.post_history_instructions,
        "alternate_greetings": [],
        "tags": list(info.tags),
        "creator": info.creator,
        "character_version": info.character_version,
    }
    for key in (*_V2_STR_FIELDS, *_V2_LIST_FIELDS):
        if key in info.extra:
            data[key] = info.extra[key]
    return data


def _same_text(stored: Any, current: Any) -> bool:
    if isinstance(stored, list) and isinstance(current, list):
        return [str(x).strip() for x in stored] == [str(x).strip() for x in current]
    return (stored or "").strip() == (current or "").strip() if isinstance(stored, str | None) else False


def _card_data(persona: Persona, spec: Literal["v2", "v3"]) -> dict[str, Any]:
    info = persona.card or CardInfo()
    verbatim = _verbatim(persona)
    greetings = persona.greetings.first_meeting
    data: dict[str, Any] = {}
    if verbatim is not None:
        base = _map_text(verbatim)
        data["name"] = verbatim["name"] if _same_text(verbatim["name"], persona.name) else persona.name
        text_edited = base.text_state() != _persona_state(persona)
        greet_edited = base.greetings != greetings
    else:
        text_edited = greet_edited = True
        data["name"] = persona.name
    composed = _compose_text(persona) if text_edited else {}
    for key in ("description", "personality"):
        data[key] = composed[key] if text_edited else verbatim[key]  # type: ignore[index]
    scalar = {
        "scenario": info.scenario,
        "creator_notes": info.creator_notes,
        "system_prompt": info.system_prompt,
        "post_history_instructions": info.post_history_instructions,
        "creator": info.creator,
        "character_version": info.character_version,
    }
    for key in ("scenario",):
        data[key] = _keep(info, key, scalar[key])
    if greet_edited:
        data["first_mes"] = _from_greeting(greetings[0]) if greetings else ""
        alternates = [_from_greeting(g) for g in greetings[1:]]
    else:
        data["first_mes"] = verbatim["first_mes"]  # type: ignore[index]
        alternates = list(verbatim["alternate_greetings"] or [])  # type: ignore[index]
    data["mes_example"] = composed["mes_example"] if text_edited else verbatim["mes_example"]  # type: ignore[index]
    for key in ("creator_notes", "system_prompt", "post_history_instructions"):
        data[key] = _keep(info, key, scalar[key])
    data["alternate_greetings"] = alternates
    book = _export_book(persona, spec)
    if book is not None:
        data["character_book"] = book
    data["tags"] = info.extra["tags"] if "tags" in info.extra and _same_text(info.extra["tags"], info.tags) else list(info.tags)
    for key in ("creator", "character_version"):
        data[key] = _keep(info, key, scalar[key])
    data["extensions"] = _export_extensions(persona)
    for key, value in info.extra.items():
        if key not in _V2_FIELDS:
            data[key] = value
    if spec == "v3":
        data.setdefault("group_only_greetings", [])
    return data


def _keep(info: CardInfo, key: str, current: str) -> Any:
    """The verbatim value when the persona's copy is only its trimmed form, else the persona's."""
    stored = info.extra.get(key, current)
    return stored if _same_text(stored, current) else current


def _export_book(persona: Persona, spec: Literal["v2", "v3"]) -> dict[str, Any] | None:
    meta = (persona.card.extra.get("character_book") if persona.card else None) or None
    if meta is None and not persona.lore:
        return None
    book = Lorebook.model_validate(parse_lorebook({**(meta or {}), "entries": []}).model_dump()) if meta else Lorebook()
    book.entries = list(persona.lore)
    return book.to_card_book(spec)


def _export_extensions(persona: Persona) -> dict[str, Any]:
    ext = dict(persona.card.extensions) if persona.card else {}
    talk = persona.personality.talkativeness
    if "talkativeness" in ext:
        if _talkativeness(ext) != talk:
            ext["talkativeness"] = str(talk) if isinstance(ext["talkativeness"], str) else talk
    elif talk != 0.5:
        ext["talkativeness"] = talk
    return ext


def _engine_fields(persona: Persona) -> dict[str, Any]:
    return persona.model_dump(mode="json", exclude_defaults=True, exclude={"card", "lore", "id", "extends"})


def persona_to_card(persona: Persona, spec: Literal["v2", "v3"] = "v2") -> dict[str, Any]:
    """The persona as a Character Card V2 or V3 object (``{"spec", "spec_version", "data"}``).

    Card fields come back verbatim when the persona's copy of them is unedited; edited fields
    are written from the persona. Fields a card cannot express (actions, emotions, look
    colours, returning greetings...) travel in ``data.extensions.npc_engine`` so importing
    the card again gives the same persona.
    """
    data = _card_data(persona, spec)
    info = persona.card
    spec_name = f"chara_card_{spec}"
    card: dict[str, Any] = {"spec": spec_name}
    outer = dict(info.outer) if info else {}
    source_spec = info.spec if info else ""
    card["spec_version"] = (
        outer.pop("spec_version") if source_spec == spec_name and "spec_version" in outer else ("2.0" if spec == "v2" else "3.0")
    )
    outer.pop("spec_version", None)
    card["data"] = data
    copies = outer.pop(_V1_COPIES, [])
    for key, value in outer.items():
        if key in V1_FIELDS and value == data.get(key):
            copies.append(key)
        elif spec == "v2" or key not in V1_FIELDS:
            card[key] = value
    if spec == "v2":
        for key in V1_FIELDS:
            if key in copies:
                card[key] = data[key]  # V1 copies at the top level stay in step with data
    # What an import of this card alone would give back; anything else rides in extensions.
    again, _ = card_to_persona(card_from_json(card))
    if _engine_fields(again) != _engine_fields(persona):
        data["extensions"] = {**data["extensions"], _ENGINE_EXT: {"version": 1, "persona": _engine_fields(persona)}}
    return card


def _backfill_v2(card_v3: dict[str, Any], persona: Persona) -> dict[str, Any]:
    """The V2 ``chara`` chunk written beside ``ccv3``: decorators removed, a note for V2 readers."""
    card = persona_to_card(persona, "v2")
    data = card["data"]
    notes = data.get("creator_notes") or ""
    if _BACKFILL_NOTE not in notes:
        data["creator_notes"] = f"{_BACKFILL_NOTE}\n\n{notes}" if notes else _BACKFILL_NOTE
    for entry in (data.get("character_book") or {}).get("entries", []):
        entry["content"] = strip_decorators(entry["content"])
    return card


# ============================================================================================
# Writing containers
# ============================================================================================


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def _text_chunk(keyword: str, card: Mapping[str, Any]) -> bytes:
    payload = base64.b64encode(json.dumps(card, ensure_ascii=False).encode("utf-8"))
    return _chunk(b"tEXt", keyword.encode("latin-1") + b"\0" + payload)


def write_png(image: bytes, cards: Mapping[str, Mapping[str, Any]], *, limits: Limits = DEFAULT_LIMITS) -> bytes:
    """``image`` with each card in ``cards`` (keyword -> card, e.g. ``chara`` and ``ccv3``) as tEXt.

    Existing card chunks of those keywords are replaced; every other chunk is kept as it was.
    """
    if len(image) > limits.max_file_bytes:
        raise CardError(f"image is {len(image)} bytes, over the {limits.max_file_bytes} byte limit")
    out = bytearray(_PNG_SIGNATURE)
    for kind, body in _png_chunks(image, None):
        if kind in (b"tEXt", b"iTXt", b"zTXt") and body.partition(b"\0")[0].decode("latin-1") in cards:
            continue
        if kind == b"IEND":
            for keyword, card in cards.items():
                out += _text_chunk(keyword, card)
        out += _chunk(kind, body)
    return bytes(out)


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    value = hex_colour.lstrip("#")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


def portrait_png(persona: Persona, *, width: int = 256, height: int = 320) -> bytes:
    """A procedural portrait of the persona (its ``look`` colours) as PNG bytes, made with zlib.

    A soft background, shoulders in the outfit colour with an accent trim, a head, hair in the
    persona's hair style and two eyes. Deterministic: the same persona gives the same bytes.
    """
    look = persona.look
    skin, hair, outfit, accent = (_rgb(c) for c in (look.skin, look.hair, look.outfit, look.accent))
    top = tuple(min(255, c // 3 + 150) for c in accent)
    bottom = tuple(min(255, c // 4 + 60) for c in outfit)
    cx, cy = width / 2, height * 0.40
    rx, ry = width * 0.20, height * 0.19
    eye_y, eye_dx, eye_r = cy + ry * 0.05, rx * 0.42, max(2.0, width * 0.018)
    body_top = cy + ry * 0.85
    long_hair = look.hair_style in ("long", "ponytail")
    rows = bytearray()
    for y in range(height):
        t = y / max(1, height - 1)
        background = tuple(round(a + (b - a) * t) for a, b in zip(top, bottom, strict=True))
        rows.append(0)  # filter type: none
        dy = (y - cy) / ry
        for x in range(width):
            dx = (x - cx) / rx
            colour = background
            in_head = dx * dx + dy * dy <= 1.0
            hair_dx, hair_dy = (x - cx) / (rx * 1.12), (y - (cy - ry * 0.08)) / (ry * 1.1)
            in_hair = hair_dx * hair_dx + hair_dy * hair_dy <= 1.0 and look.hair_style != "bald"
            if long_hair and abs(x - cx) <= rx * 1.15 and cy <= y <= body_top + height * 0.12:
                colour = hair
            if y >= body_top:
                half = rx * 1.6 + (y - body_top) * 0.9
                if abs(x - cx) <= half:
                    colour = accent if y - body_top < height * 0.025 else outfit
            if in_hair and (y < cy - ry * 0.35 or not in_head):
                colour = hair
            elif in_head:
                colour = skin
                ex = min(abs(x - (cx - eye_dx)), abs(x - (cx + eye_dx)))
                if ex * ex + (y - eye_y) ** 2 <= eye_r * eye_r:
                    colour = (40, 30, 30)
            if look.hair_style == "bun":
                bx, by = (x - cx) / (rx * 0.45), (y - (cy - ry * 1.1)) / (ry * 0.35)
                if bx * bx + by * by <= 1.0:
                    colour = hair
            rows += bytes(colour)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return _PNG_SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(bytes(rows), 9)) + _chunk(b"IEND", b"")


def write_charx(card_v3: Mapping[str, Any], assets: Mapping[str, bytes] | None = None) -> bytes:
    """A CHARX (zip) holding ``card.json`` and the given assets (paths like ``assets/icon/images/main.png``)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("card.json", json.dumps(card_v3, ensure_ascii=False, indent=2))
        for name, data in (assets or {}).items():
            if not _safe_member_name(name) or name == "card.json":
                raise CardError(f"asset path {name!r} is not allowed in a CHARX")
            archive.writestr(name, data)
    return buffer.getvalue()


# ============================================================================================
# Files: import and export
# ============================================================================================


def import_card(
    source: str | Path | bytes, *, persona_id: str | None = None, limits: Limits = DEFAULT_LIMITS
) -> ImportResult:
    """Read a card file (JSON, PNG or CHARX) and map it onto a persona.

    Example::

        result = import_card("Seraphina.png")
        result.persona.greetings.first_meeting[0]
        print("\\n".join(result.report.lines()))
    """
    card = read_card(source, limits=limits)
    persona, report = card_to_persona(card, persona_id=persona_id)
    return ImportResult(persona=persona, report=report, card=card)


def export_card(
    persona: Persona,
    path: str | Path | None = None,
    *,
    format: CardFormat = "v2",
    image: bytes | str | Path | None = None,
) -> bytes:
    """The persona as a card file's bytes (V2 JSON, V3 JSON, or PNG with both chunks).

    For ``png``, ``image`` is the picture to embed (bytes or a path); without one a procedural
    portrait is drawn. With ``path`` the bytes are also written there (all at once, so a
    failure leaves nothing half written).
    """
    if format == "v2":
        payload = (json.dumps(persona_to_card(persona, "v2"), ensure_ascii=False, indent=2) + "\n").encode("utf-8")
    elif format == "v3":
        payload = (json.dumps(persona_to_card(persona, "v3"), ensure_ascii=False, indent=2) + "\n").encode("utf-8")
    elif format == "png":
        if isinstance(image, str | Path):
            image = _read_limited(Path(image), DEFAULT_LIMITS.max_file_bytes)
        picture = image if image is not None else portrait_png(persona)
        v3 = persona_to_card(persona, "v3")
        payload = write_png(picture, {"chara": _backfill_v2(v3, persona), "ccv3": v3})
    else:
        raise CardError(f"unknown export format {format!r} (use v2, v3 or png)")
    if path is not None:
        _write_atomic(Path(path), payload)
    return payload


def _write_atomic(path: Path, payload: bytes) -> None:
    temp = path.with_name(f".{path.name}.tmp")
    try:
        temp.write_bytes(payload)
        temp.replace(path)
    except OSError as exc:
        temp.unlink(missing_ok=True)
        raise CardError(f"cannot write: {exc.strerror or exc}", path=str(path)) from exc


def load_lorebook(source: str | Path | bytes, *, limits: Limits = DEFAULT_LIMITS) -> Lorebook:
    """A lorebook from a file: World Info JSON, ``lorebook_v3`` JSON, or a card holding a book."""
    path = None if isinstance(source, bytes) else str(source)
    raw = source if isinstance(source, bytes) else _read_limited(Path(source), limits.max_file_bytes)
    if raw.startswith((_PNG_SIGNATURE, _ZIP_SIGNATURE)):
        card = read_card(raw, limits=limits)
        book = card.data.get("character_book")
        if not isinstance(book, dict):
            raise CardError("the card holds no character_book", path=path)
        return _book_from(book, "data.character_book", path)
    return parse_lorebook(_parse_json(raw, path, limits, "lorebook"), path=path)


class _PersonaDumper(yaml.SafeDumper):
    """Writes multi-line strings as literal blocks so imported text stays readable."""


def _str_representer(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value and "\r" not in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_PersonaDumper.add_representer(str, _str_representer)


def persona_to_yaml(persona: Persona) -> str:
    """The persona as YAML text for ``characters/`` (fields left at their defaults are omitted)."""
    data = persona.model_dump(mode="json", exclude_defaults=True)
    data.pop("extends", None)
    text = yaml.dump(data, Dumper=_PersonaDumper, allow_unicode=True, sort_keys=False, width=100)
    return f"# Imported from a character card ({persona.card.spec if persona.card else 'engine'}).\n{text}"
