"""Card containers: JSON, PNG text chunks and CHARX zips, read and written under size limits.

PNG is parsed with ``struct`` and ``zlib`` (every chunk's CRC checked, compressed text inflated
with a cap); CHARX with ``zipfile`` after checking names, entry count and declared sizes, and
while counting the bytes actually inflated. Nothing here knows about personas.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import logging
import re
import struct
import zipfile
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from engine.cards.lorebooks import looks_like_lorebook, parse_lorebook
from engine.errors import CardError
from engine.lore import Lorebook

logger = logging.getLogger(__name__)

V1_FIELDS = ("name", "description", "personality", "scenario", "first_mes", "mes_example")
V2_STR_FIELDS = (
    *V1_FIELDS,
    "creator_notes",
    "system_prompt",
    "post_history_instructions",
    "creator",
    "character_version",
)
V2_LIST_FIELDS = ("alternate_greetings", "tags")
V2_FIELDS = frozenset((*V2_STR_FIELDS, *V2_LIST_FIELDS, "extensions", "character_book"))
# V3 additions: type-checked on import and kept verbatim (the engine has no use for them).
_V3_TYPES: dict[str, tuple[tuple[type, ...], str]] = {
    "assets": ((list,), "a list"),
    "nickname": ((str,), "a string"),
    "creator_notes_multilingual": ((dict,), "an object"),
    "source": ((list,), "a list"),
    "group_only_greetings": ((list,), "a list"),
    "creation_date": ((int, float), "a number"),
    "modification_date": ((int, float), "a number"),
}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
ZIP_SIGNATURE = b"PK\x03\x04"


@dataclass(frozen=True)
class Limits:
    """Size limits applied while reading cards. Anything larger is refused with a CardError."""

    max_file_bytes: int = 32 * 1024 * 1024
    """Largest card file (JSON, PNG or CHARX) read at all."""
    max_text_bytes: int = 8 * 1024 * 1024
    """Largest card JSON (decoded chunk, card.json, JSON file)."""
    max_png_text_bytes: int = 24 * 1024 * 1024
    """Most bytes all text chunks of a PNG may hold together, once decompressed (each chunk is
    also held to ``max_text_bytes``): many small compressed chunks cannot add up to gigabytes."""
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
    format: str = ""
    """The format read, for reports ("Character Card V2 in a PNG", "Pygmalion/oobabooga JSON")."""


# ============================================================================================
# Reading containers
# ============================================================================================


def read_card(
    source: str | Path | bytes, *, limits: Limits = DEFAULT_LIMITS, path: str | None = None
) -> Card:
    """Read a card from a path or bytes: JSON (V1/V2/V3), PNG/APNG or CHARX, told apart by content.

    Raises :class:`CardError` for anything unreadable, over a size limit or of the wrong shape.
    ``path`` names bytes in messages.
    """
    if isinstance(source, bytes):
        raw = source
        if len(raw) > limits.max_file_bytes:
            raise CardError(
                f"card is {len(raw)} bytes, over the {limits.max_file_bytes} byte limit"
            )
    else:
        path = str(source)
        raw = read_limited(Path(source), limits.max_file_bytes)
    if raw.startswith(PNG_SIGNATURE):
        card = _card_from_png(raw, path, limits)
        card.format = f"{_SPEC_NAMES.get(card.spec, card.spec)} in a PNG"
    elif raw.startswith(ZIP_SIGNATURE):
        card = _card_from_charx(raw, path, limits)
        card.format = f"{_SPEC_NAMES.get(card.spec, card.spec)} in a CHARX"
    else:
        refuse_misnamed(raw, path)
        card = card_from_json(parse_json(raw, path, limits, "card"), path=path)
    card.path = path
    return card


_SPEC_NAMES = {
    "chara_card_v1": "Character Card V1",
    "chara_card_v2": "Character Card V2",
    "chara_card_v3": "Character Card V3",
}
_LFS_POINTER = b"version https://git-lfs.github.com/spec/"
_CONTAINER_SUFFIXES = {".png": "a PNG", ".apng": "a PNG", ".charx": "a CHARX (zip)"}


def refuse_misnamed(raw: bytes, path: str | None) -> None:
    """Refuse, with the reason, a file that is neither PNG nor CHARX and cannot be card JSON.

    A Git LFS pointer (the small text file a repository holds instead of the real picture)
    and a file named ``.png``/``.charx`` that is something else are told apart from broken
    JSON, so the message says what the file really is.
    """
    suffix = PurePosixPath(path or "").suffix.lower()
    if not raw.strip():
        raise CardError(f"the file is empty ({len(raw)} bytes)", path=path)
    if raw.lstrip().startswith(_LFS_POINTER):
        expected = _CONTAINER_SUFFIXES.get(suffix, "the file itself")
        raise CardError(
            f"not {expected}: it is a Git LFS pointer ({len(raw)} bytes), not the file it points to; "
            "fetch the real file (`git lfs pull`) and import that",
            path=path,
        )
    if suffix in _CONTAINER_SUFFIXES and not raw.lstrip().startswith((b"{", b"[", b"\xef\xbb\xbf")):
        head = raw[:8]
        raise CardError(
            f"not {_CONTAINER_SUFFIXES[suffix]}: the file starts with {head!r}", path=path
        )


def read_limited(path: Path, limit: int) -> bytes:
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


def parse_json(raw: bytes, path: str | None, limits: Limits, what: str) -> Any:
    if len(raw) > limits.max_text_bytes:
        raise CardError(
            f"{what} JSON is {len(raw)} bytes, over the {limits.max_text_bytes} byte limit",
            path=path,
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CardError(f"{what} is not UTF-8 text (byte {exc.start})", path=path) from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CardError(
            f"{what} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
            path=path,
        ) from exc
    except RecursionError as exc:
        raise CardError(f"{what} JSON is nested too deeply", path=path) from exc


# --- PNG ------------------------------------------------------------------------------------


def _png_chunks(raw: bytes, path: str | None) -> Iterator[tuple[bytes, bytes]]:
    """(type, body) for each chunk, CRCs verified, up to and including IEND."""
    if not raw.startswith(PNG_SIGNATURE):
        raise CardError("not a PNG file", path=path)
    pos = len(PNG_SIGNATURE)
    first = True
    while True:
        if pos + 8 > len(raw):
            raise CardError(
                f"truncated PNG: no chunk header at byte {pos} (IEND missing)", path=path
            )
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
            raise CardError(
                f"corrupt PNG: CRC mismatch in chunk {kind.decode('latin-1')!r} at byte {pos}",
                path=path,
            )
        yield kind, body
        pos = end
        if kind == b"IEND":
            return


def _inflate(data: bytes, limit: int, what: str, path: str | None, total: bool = False) -> bytes:
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error as exc:
        raise CardError(f"{what}: cannot decompress: {exc}", path=path) from exc
    if len(out) > limit or inflater.unconsumed_tail:
        which = "the total text limit of the PNG" if total else f"the {limit} byte limit"
        raise CardError(f"{what}: expands past {which}", path=path)
    return out


def read_png_text(
    raw: bytes, *, path: str | None = None, limits: Limits = DEFAULT_LIMITS
) -> dict[str, str]:
    """The text chunks of a PNG (tEXt, zTXt, iTXt) by keyword; the first of each keyword wins."""
    found: dict[str, str] = {}
    budget = limits.max_png_text_bytes
    for kind, body in _png_chunks(raw, path):
        if kind not in (b"tEXt", b"zTXt", b"iTXt"):
            continue
        keyword_bytes, sep, rest = body.partition(b"\0")
        if not sep:
            raise CardError(
                f"corrupt PNG: {kind.decode()} chunk without a keyword separator", path=path
            )
        keyword = keyword_bytes.decode("latin-1")
        if keyword in found:
            continue  # the first of each keyword wins: a later one is never expanded
        what = f"PNG {kind.decode()} chunk {keyword!r}"
        # Each chunk may expand only as far as the total left allows.
        limit = min(limits.max_text_bytes, budget)
        if kind == b"tEXt":
            text = rest.decode("latin-1")
        elif kind == b"zTXt":
            text = _inflate(rest[1:], limit, what, path, budget < limits.max_text_bytes).decode(
                "latin-1"
            )
        else:
            if len(rest) < 2:
                raise CardError(f"corrupt PNG: {what} is cut short", path=path)
            compressed, payload = rest[0], rest[2:]
            _lang, _, payload = payload.partition(b"\0")
            _translated, _, payload = payload.partition(b"\0")
            if compressed:
                payload = _inflate(payload, limit, what, path, budget < limits.max_text_bytes)
            try:
                text = payload.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise CardError(f"{what} is not UTF-8", path=path) from exc
        budget -= len(text)
        if budget < 0:
            raise CardError(
                f"PNG text chunks hold more than the {limits.max_png_text_bytes} byte total limit",
                path=path,
            )
        found[keyword] = text
    return found


def _decode_chunk(value: str, keyword: str, path: str | None, limits: Limits) -> Any:
    stripped = value.strip()
    if stripped.startswith("{"):
        # A few writers store the JSON itself instead of base64.
        return parse_json(stripped.encode("utf-8"), path, limits, f"chunk {keyword!r}")
    try:
        decoded = base64.b64decode("".join(stripped.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise CardError(f"chunk {keyword!r} is not valid base64: {exc}", path=path) from exc
    return parse_json(decoded, path, limits, f"chunk {keyword!r}")


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
    if (
        not name
        or "\0" in name
        or "\\" in name
        or name.startswith("/")
        or re.match(r"^[A-Za-z]:", name)
    ):
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
            raise CardError(
                f"CHARX holds {len(infos)} files, over the {limits.max_zip_entries} file limit",
                path=path,
            )
        declared = 0
        for info in infos:
            if not _safe_member_name(info.filename):
                raise CardError(
                    f"CHARX member name {info.filename!r} is unsafe (absolute or '..')", path=path
                )
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
                f"CHARX expands to {declared} bytes, over the {limits.max_zip_total_bytes} byte limit",
                path=path,
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
    card = card_from_json(
        parse_json(members.pop("card.json"), path, limits, "card.json"), path=path
    )
    card.assets = members
    return card


def _read_member(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, cap: int, path: str | None
) -> bytes:
    """Read one member, counting real bytes: a lying header cannot get past ``cap``."""
    out = bytearray()
    try:
        with archive.open(info) as member:
            while chunk := member.read(64 * 1024):
                out += chunk
                if len(out) > cap or len(out) > info.file_size:
                    raise CardError(
                        f"CHARX member {info.filename!r} expands past its declared size or the limit",
                        path=path,
                    )
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, NotImplementedError) as exc:
        raise CardError(f"CHARX member {info.filename!r} is corrupt: {exc}", path=path) from exc
    return bytes(out)


# ============================================================================================
# Card JSON shape
# ============================================================================================


def card_from_json(obj: Any, *, path: str | None = None) -> Card:
    """A :class:`Card` from parsed JSON (V1, V2, V3 or Pygmalion/oobabooga), every known field type-checked.

    A lorebook, a card without a name and JSON of another application's format are refused
    with the reason, never turned into an empty character.
    """
    if looks_like_lorebook(obj):
        raise CardError(
            "this is a lorebook (world info), not a character card: `npc import` writes it to "
            "lore/, or add its entries to characters with --lorebook",
            path=path,
        )
    if not isinstance(obj, dict):
        raise CardError(f"a card must be a JSON object, got {type(obj).__name__}", path=path)
    spec = obj.get("spec")
    card_format = ""
    if spec in ("chara_card_v2", "chara_card_v3"):
        data = obj.get("data")
        if not isinstance(data, dict):
            raise CardError(f"data: expected an object, got {type(data).__name__}", path=path)
        outer = {k: v for k, v in obj.items() if k not in ("spec", "data")}
        where = "data"
        if data.get("name") is None:
            # The spec requires the field; an empty name is imported as "Unnamed" with a warning.
            raise CardError("data.name: missing; a character card needs a name", path=path)
    elif spec is None and "char_name" in obj and "name" not in obj:
        spec, data, outer = "chara_card_v1", *_from_pygmalion(obj, path)
        where = "card"
        card_format = "Pygmalion/oobabooga JSON (char_name, char_persona, char_greeting...)"
    elif spec is None or spec == "chara_card_v1":
        if spec is None and isinstance(obj.get("data"), dict) and "name" not in obj:
            raise CardError(
                "`data` without `spec`: expected chara_card_v2 or chara_card_v3", path=path
            )
        _check_v1_shape(obj, path)
        spec = "chara_card_v1"
        data = {k: obj[k] for k in V1_FIELDS if k in obj}
        outer = {k: v for k, v in obj.items() if k not in V1_FIELDS}
        where = "card"
    else:
        raise CardError(
            f"spec: unsupported card spec {spec!r} (expected chara_card_v2 or chara_card_v3)",
            path=path,
        )
    _check_types(data, where, path)
    if spec == "chara_card_v3":
        version = obj.get("spec_version")
        try:
            if version is not None and float(version) > 3.0:
                logger.warning(
                    "%s: card spec_version %s is newer than 3.0; importing what is known",
                    path,
                    version,
                )
        except (TypeError, ValueError):
            pass
    return Card(
        spec=spec,
        data=dict(data),
        outer=outer,
        path=path,
        format=card_format or f"{_SPEC_NAMES[spec]} JSON",
    )


def _check_v1_shape(obj: dict[str, Any], path: str | None) -> None:
    """A V1 card is a name plus card text; anything else is another application's JSON."""
    name = obj.get("name")
    if not isinstance(name, str) or not name.strip():
        found = ", ".join(f"`{k}`" for k in list(obj)[:8]) or "none"
        raise CardError(
            f"not a character card: no `spec` and no `name` (fields found: {found})", path=path
        )
    text = [k for k in V1_FIELDS[1:] if isinstance(obj.get(k), str) and obj[k].strip()]
    if not text:
        others = ", ".join(f"`{k}`" for k in list(obj) if k != "name")[:200] or "nothing else"
        raise CardError(
            "not a character card: it has a `name` but none of description, personality, scenario, "
            f"first_mes or mes_example (it holds {others}); it looks like another application's format",
            path=path,
        )


#: Pygmalion/oobabooga JSON fields and the card fields they hold.
PYGMALION_FIELDS = {
    "char_name": "name",
    "char_persona": "description",
    "world_scenario": "scenario",
    "char_greeting": "first_mes",
    "example_dialogue": "mes_example",
}


def _from_pygmalion(obj: dict[str, Any], path: str | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Card ``data`` and the kept remainder from a Pygmalion/oobabooga ``char_*`` JSON."""
    data: dict[str, Any] = {}
    for source, target in PYGMALION_FIELDS.items():
        value = obj.get(source)
        if value is None:
            continue
        if not isinstance(value, str):
            raise CardError(f"{source}: expected a string, got {type(value).__name__}", path=path)
        data[target] = value
    if not data.get("name", "").strip():
        raise CardError("char_name: a character card needs a name (the field is empty)", path=path)
    return data, {k: v for k, v in obj.items() if k not in PYGMALION_FIELDS}


def _check_types(data: Mapping[str, Any], where: str, path: str | None) -> None:
    def fail(key: str, expected: str) -> CardError:
        return CardError(
            f"{where}.{key}: expected {expected}, got {type(data[key]).__name__}", path=path
        )

    for key in V2_STR_FIELDS:
        if data.get(key) is not None and not isinstance(data[key], str):
            raise fail(key, "a string")
    for key in (*V2_LIST_FIELDS, "group_only_greetings", "source"):
        value = data.get(key)
        if value is not None and (
            not isinstance(value, list) or not all(isinstance(v, str) for v in value)
        ):
            raise fail(key, "a list of strings")
    for key in ("extensions", "creator_notes_multilingual"):
        if data.get(key) is not None and not isinstance(data[key], dict):
            raise fail(key, "an object")
    for key, (types, expected) in _V3_TYPES.items():
        value = data.get(key)
        if value is not None and (not isinstance(value, types) or isinstance(value, bool)):
            raise fail(key, expected)
    for i, asset in enumerate(data.get("assets") or []):
        if not isinstance(asset, dict) or not all(
            isinstance(asset.get(k), str) for k in ("type", "uri")
        ):
            raise CardError(
                f"{where}.assets[{i}]: expected an object with string type and uri", path=path
            )
    book = data.get("character_book")
    if book is not None:
        if not isinstance(book, dict):
            raise fail("character_book", "an object")
        if book.get("entries") is not None and not isinstance(book["entries"], list):
            raise CardError(f"{where}.character_book.entries: expected a list", path=path)
        book_from(book, f"{where}.character_book", path)


def book_from(
    book: dict[str, Any], where: str, path: str | None, notes: list[str] | None = None
) -> Lorebook:
    """A card's embedded book; errors name the field from the card's root (``data.character_book...``)."""
    return parse_lorebook(book, path=path, where=where, notes=notes)


# ============================================================================================
# Writing containers
# ============================================================================================


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return (
        struct.pack(">I", len(body))
        + kind
        + body
        + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    )


def _text_chunk(keyword: str, card: Mapping[str, Any]) -> bytes:
    payload = base64.b64encode(json.dumps(card, ensure_ascii=False).encode("utf-8"))
    return png_chunk(b"tEXt", keyword.encode("latin-1") + b"\0" + payload)


def write_png(
    image: bytes, cards: Mapping[str, Mapping[str, Any]], *, limits: Limits = DEFAULT_LIMITS
) -> bytes:
    """``image`` with each card in ``cards`` (keyword -> card, e.g. ``chara`` and ``ccv3``) as tEXt.

    Existing card chunks of those keywords are replaced; every other chunk is kept as it was.
    """
    if len(image) > limits.max_file_bytes:
        raise CardError(f"image is {len(image)} bytes, over the {limits.max_file_bytes} byte limit")
    out = bytearray(PNG_SIGNATURE)
    for kind, body in _png_chunks(image, None):
        if (
            kind in (b"tEXt", b"iTXt", b"zTXt")
            and body.partition(b"\0")[0].decode("latin-1") in cards
        ):
            continue
        if kind == b"IEND":
            for keyword, card in cards.items():
                out += _text_chunk(keyword, card)
        out += png_chunk(kind, body)
    return bytes(out)


def strip_card_chunks(image: bytes) -> bytes:
    """The PNG without its card text chunks (``chara``, ``ccv3``, ``chara-ext-asset_*``):
    the picture alone, every other chunk byte for byte."""
    out = bytearray(PNG_SIGNATURE)
    for kind, body in _png_chunks(image, None):
        if kind in (b"tEXt", b"iTXt", b"zTXt"):
            keyword = body.partition(b"\0")[0].decode("latin-1")
            if keyword in ("chara", "ccv3") or keyword.startswith("chara-ext-asset_"):
                continue
        out += png_chunk(kind, body)
    return bytes(out)


def card_picture(card: Card) -> bytes | None:
    """The character's own picture: the PNG a card came in (card chunks removed), or a CHARX's
    main icon when it is a PNG; None when the card has no picture."""
    if card.image is not None:
        return strip_card_chunks(card.image)
    for asset in card.data.get("assets") or []:
        if (
            isinstance(asset, dict)
            and asset.get("type") == "icon"
            and asset.get("name") in ("main", None)
        ):
            uri = str(asset.get("uri") or "")
            member = (
                uri.split("://", 1)[1] if uri.startswith(("embeded://", "embedded://")) else None
            )
            raw = card.assets.get(member) if member else None
            if raw and raw.startswith(PNG_SIGNATURE):
                try:
                    return strip_card_chunks(raw)
                except CardError:
                    return None
    return None


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
