"""Lorebooks in the formats character cards use: an embedded ``character_book`` (V2/V3), a
standalone ``lorebook_v3`` object and SillyTavern World Info JSON, read into
:class:`~engine.lore.Lorebook` (:func:`parse_lorebook`) and written back
(:func:`book_to_card`, :func:`book_to_lorebook_v3`, :func:`book_to_world_info`), keeping
what the engine does not use verbatim.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import ValidationError

from engine.errors import CardError
from engine.lore import Lorebook, LoreEntry, SelectiveLogic

__all__ = ["book_to_card", "book_to_lorebook_v3", "book_to_world_info", "entry_from_card", "entry_from_world_info", "entry_to_card", "entry_to_world_info", "parse_lorebook"]


# Fields of a card entry, by the name a card uses, and how they map onto LoreEntry.
_CARD_OPTIONAL = ("case_sensitive", "name", "priority", "id", "comment", "selective", "secondary_keys", "constant", "position", "use_regex")
_CARD_KNOWN = frozenset(("keys", "content", "extensions", "enabled", "insertion_order", *_CARD_OPTIONAL))
# SillyTavern keeps its World Info options in a card entry's extensions under these names;
# the engine reads the ones it implements, and writes them back when they changed.
_LOGIC_FROM_ST = {0: "and_any", 1: "not_all", 2: "not_any", 3: "and_all"}
_LOGIC_TO_ST = {v: k for k, v in _LOGIC_FROM_ST.items()}
# World Info entry key -> card-entry extensions key (SillyTavern's own conversion).
_WI_TO_EXT = {
    "position": "position",
    "excludeRecursion": "exclude_recursion",
    "preventRecursion": "prevent_recursion",
    "delayUntilRecursion": "delay_until_recursion",
    "displayIndex": "display_index",
    "probability": "probability",
    "useProbability": "useProbability",
    "depth": "depth",
    "selectiveLogic": "selectiveLogic",
    "group": "group",
    "groupOverride": "group_override",
    "groupWeight": "group_weight",
    "scanDepth": "scan_depth",
    "caseSensitive": "case_sensitive",
    "matchWholeWords": "match_whole_words",
    "useGroupScoring": "use_group_scoring",
    "automationId": "automation_id",
    "role": "role",
    "vectorized": "vectorized",
    "sticky": "sticky",
    "cooldown": "cooldown",
    "delay": "delay",
    "outletName": "outlet_name",
}
_EXT_TO_WI = {v: k for k, v in _WI_TO_EXT.items()}
# World Info keys that map onto LoreEntry fields directly.
_WI_DIRECT = frozenset(("uid", "key", "keysecondary", "comment", "content", "constant", "selective", "order", "disable", "addMemo"))


class _Reader:
    """Typed access to a JSON object with error messages that name the field."""

    def __init__(self, data: Any, where: str, path: str | None) -> None:
        if not isinstance(data, dict):
            raise CardError(f"{where}: expected an object, got {type(data).__name__}", path=path)
        self.data: dict[str, Any] = data
        self.where = where
        self.path = path

    def _fail(self, key: str, expected: str) -> CardError:
        got = type(self.data[key]).__name__
        return CardError(f"{self.where}.{key}: expected {expected}, got {got}", path=self.path)

    def has(self, key: str) -> bool:
        return key in self.data and self.data[key] is not None

    def text(self, key: str, default: str = "") -> str:
        if not self.has(key):
            return default
        value = self.data[key]
        if not isinstance(value, str):
            raise self._fail(key, "a string")
        return value

    def flag(self, key: str, default: bool = False) -> bool:
        if not self.has(key):
            return default
        value = self.data[key]
        if not isinstance(value, bool):
            raise self._fail(key, "true or false")
        return value

    def number(self, key: str, default: int | None = None) -> int | None:
        if not self.has(key):
            return default
        value = self.data[key]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self._fail(key, "a number")
        if isinstance(value, float):
            if value != value or value in (float("inf"), float("-inf")):
                raise self._fail(key, "a finite number")
            return round(value)
        return value

    def texts(self, key: str) -> list[str]:
        if not self.has(key):
            return []
        value = self.data[key]
        if isinstance(value, str):
            # Some editors write a comma-separated string; the V3 spec even describes it so.
            return [part.strip() for part in value.split(",") if part.strip()]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self._fail(key, "a list of strings")
        return list(value)

    def mapping(self, key: str) -> dict[str, Any]:
        if not self.has(key):
            return {}
        value = self.data[key]
        if not isinstance(value, dict):
            raise self._fail(key, "an object")
        return dict(value)


def _logic_from(value: Any) -> SelectiveLogic | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and value in _LOGIC_FROM_ST:
        return _LOGIC_FROM_ST[value]  # type: ignore[return-value]
    if isinstance(value, str) and value.lower() in _LOGIC_TO_ST:
        return value.lower()  # type: ignore[return-value]
    return None


def entry_from_card(
    data: Any, where: str = "entry", *, path: str | None = None, book: Lorebook | None = None
) -> LoreEntry:
    """A :class:`LoreEntry` from a V2/V3 card book entry; every field is kept for export."""
    r = _Reader(data, where, path)
    ext = r.mapping("extensions")
    entry_id = r.data.get("id")
    if entry_id is not None and (isinstance(entry_id, bool) or not isinstance(entry_id, int | str)):
        raise r._fail("id", "a number or a string")
    if isinstance(entry_id, float):
        entry_id = round(entry_id)
    logic = _logic_from(ext.get("selectiveLogic")) or "and_any"
    case = r.flag("case_sensitive", default=_ext_bool(ext, "case_sensitive", book.case_sensitive if book else None) or False)
    whole = _ext_bool(ext, "match_whole_words", None)
    depth = ext.get("scan_depth")
    scan_depth = depth if isinstance(depth, int) and not isinstance(depth, bool) and depth >= 0 else None
    unknown = {k: v for k, v in r.data.items() if k not in _CARD_KNOWN}
    if unknown:
        # Fields outside the spec (written by some editor): kept under a private extension key.
        ext = {**ext, "_card_fields": unknown}
    try:
        return LoreEntry(
            keys=r.texts("keys"),
            content=r.text("content"),
            name=r.text("name"),
            comment=r.text("comment"),
            secondary_keys=r.texts("secondary_keys"),
            selective=r.flag("selective"),
            selective_logic=logic,
            use_regex=r.flag("use_regex"),
            case_sensitive=case,
            match_whole_words=whole,
            constant=r.flag("constant"),
            enabled=r.flag("enabled", True),
            insertion_order=r.number("insertion_order", 100) or 0,
            priority=r.number("priority", 10) or 0,
            position=r.text("position", "before_char"),
            scan_depth=scan_depth,
            id=entry_id,
            extensions=ext,
            absent_fields=[k for k in _CARD_OPTIONAL if k not in r.data and k != "id"],
        )
    except ValidationError as exc:
        raise CardError(f"{where}: {exc.errors()[0]['msg']}", path=path) from exc


def _ext_bool(ext: Mapping[str, Any], key: str, default: bool | None) -> bool | None:
    value = ext.get(key)
    return value if isinstance(value, bool) else default


def entry_to_card(entry: LoreEntry, spec: Literal["v2", "v3"] = "v2") -> dict[str, Any]:
    """A card book entry (V2 or V3) from a :class:`LoreEntry`, as the source had it if unedited."""
    ext = dict(entry.extensions)
    unknown = ext.pop("_card_fields", None)
    _mirror(ext, "selectiveLogic", _LOGIC_TO_ST[entry.selective_logic], entry.selective_logic != "and_any")
    _mirror(ext, "match_whole_words", entry.match_whole_words, entry.match_whole_words is not None)
    _mirror(ext, "scan_depth", entry.scan_depth, entry.scan_depth is not None)
    if "case_sensitive" in ext and isinstance(ext["case_sensitive"], bool):
        ext["case_sensitive"] = entry.case_sensitive
    out: dict[str, Any] = {
        "keys": list(entry.keys),
        "content": entry.content,
        "extensions": ext,
        "enabled": entry.enabled,
        "insertion_order": entry.insertion_order,
    }
    absent = set(entry.absent_fields)
    defaults = {
        "case_sensitive": False,
        "name": "",
        "priority": 10,
        "id": None,
        "comment": "",
        "selective": False,
        "secondary_keys": [],
        "constant": False,
        "position": "before_char",
        "use_regex": False,
    }
    for key in _CARD_OPTIONAL:
        value = getattr(entry, key)
        if key == "use_regex" and spec == "v3":
            out[key] = value  # required in V3
        elif key in absent and value == defaults[key]:
            continue
        elif value is None:
            continue
        else:
            out[key] = value
    if isinstance(unknown, dict):
        for key, value in unknown.items():
            out.setdefault(key, value)
    return out


def _mirror(ext: dict[str, Any], key: str, value: Any, changed: bool) -> None:
    """Write a SillyTavern extension key when the source had it or the engine's value is set."""
    if key in ext or changed:
        ext[key] = value


def entry_from_world_info(data: Any, where: str = "entry", *, path: str | None = None) -> LoreEntry:
    """A :class:`LoreEntry` from a SillyTavern World Info entry; unknown keys go to extensions."""
    r = _Reader(data, where, path)
    ext = r.mapping("extensions")
    for wi_key, ext_key in _WI_TO_EXT.items():
        if wi_key in r.data:
            ext[ext_key] = r.data[wi_key]
    for key, value in r.data.items():
        if key not in _WI_DIRECT and key not in _WI_TO_EXT and key != "extensions":
            ext.setdefault(f"_wi_{key}", value)
    if "addMemo" in r.data:
        ext["_wi_addMemo"] = r.data["addMemo"]
    uid = r.data.get("uid")
    if uid is not None and (isinstance(uid, bool) or not isinstance(uid, int | str)):
        raise r._fail("uid", "a number or a string")
    position = r.data.get("position", 0)
    whole = r.data.get("matchWholeWords")
    depth = r.data.get("scanDepth")
    try:
        return LoreEntry(
            keys=r.texts("key"),
            content=r.text("content"),
            comment=r.text("comment"),
            secondary_keys=r.texts("keysecondary"),
            selective=r.flag("selective"),
            selective_logic=_logic_from(r.data.get("selectiveLogic")) or "and_any",
            case_sensitive=r.flag("caseSensitive"),
            match_whole_words=whole if isinstance(whole, bool) else None,
            constant=r.flag("constant"),
            enabled=not r.flag("disable"),
            insertion_order=r.number("order", 100) or 0,
            position="before_char" if position in (0, None, "before_char") else "after_char",
            scan_depth=depth if isinstance(depth, int) and not isinstance(depth, bool) and depth >= 0 else None,
            id=uid,
            extensions=ext,
            absent_fields=["name", "priority"],
        )
    except ValidationError as exc:
        raise CardError(f"{where}: {exc.errors()[0]['msg']}", path=path) from exc


def entry_to_world_info(entry: LoreEntry, uid: int | str) -> dict[str, Any]:
    """A SillyTavern World Info entry from a :class:`LoreEntry` (inverse of the reader)."""
    ext = dict(entry.extensions)
    out: dict[str, Any] = {
        "uid": uid,
        "key": list(entry.keys),
        "keysecondary": list(entry.secondary_keys),
        "comment": entry.comment or entry.name,
        "content": entry.content,
        "constant": entry.constant,
        "selective": entry.selective,
        "order": entry.insertion_order,
        "position": ext.pop("position", 0 if entry.position == "before_char" else 1),
        "disable": not entry.enabled,
    }
    if "_wi_addMemo" in ext:
        out["addMemo"] = ext.pop("_wi_addMemo")
    ext.pop("_card_fields", None)
    for key in list(ext):
        if key in _EXT_TO_WI:
            out[_EXT_TO_WI[key]] = ext.pop(key)
        elif key.startswith("_wi_"):
            out[key[4:]] = ext.pop(key)
    if "selectiveLogic" in out or entry.selective_logic != "and_any":
        out["selectiveLogic"] = _LOGIC_TO_ST[entry.selective_logic]
    if isinstance(out.get("caseSensitive"), bool) or entry.case_sensitive:
        out["caseSensitive"] = entry.case_sensitive
    if "matchWholeWords" in out or entry.match_whole_words is not None:
        out["matchWholeWords"] = entry.match_whole_words
    if "scanDepth" in out or entry.scan_depth is not None:
        out["scanDepth"] = entry.scan_depth
    if ext:
        out["extensions"] = ext
    return out


def parse_lorebook(data: Any, *, path: str | None = None) -> Lorebook:
    """A :class:`Lorebook` from parsed JSON in any supported shape.

    Accepted: a card's ``character_book`` (V2/V3: ``{"entries": [...]}``), a standalone V3
    lorebook (``{"spec": "lorebook_v3", "data": {...}}``), SillyTavern World Info
    (``{"entries": {"0": {...}}}``), or a whole card holding a ``character_book``. Raises
    :class:`~engine.errors.CardError` naming the field when the shape or a type is wrong.
    """
    if not isinstance(data, dict):
        raise CardError(f"a lorebook must be a JSON object, got {type(data).__name__}", path=path)
    if data.get("spec") == "lorebook_v3":
        return _card_book(data.get("data"), "data", path)
    if isinstance(data.get("data"), dict) and "character_book" in data["data"]:
        return _card_book(data["data"]["character_book"], "data.character_book", path)
    entries = data.get("entries")
    if isinstance(entries, dict):
        return _world_info(data, path)
    if isinstance(entries, list):
        return _card_book(data, "character_book", path)
    raise CardError("not a lorebook: no `entries` list (card book) or object (World Info)", path=path)


def _card_book(data: Any, where: str, path: str | None) -> Lorebook:
    r = _Reader(data, where, path)
    raw_entries = r.data.get("entries")
    if not isinstance(raw_entries, list):
        raise CardError(f"{where}.entries: expected a list", path=path)
    book_ext = r.mapping("extensions")
    book = Lorebook(
        name=r.text("name") if r.has("name") else None,
        description=r.text("description") if r.has("description") else None,
        scan_depth=_non_negative(r.number("scan_depth")),
        token_budget=_non_negative(r.number("token_budget")),
        recursive_scanning=r.flag("recursive_scanning") if r.has("recursive_scanning") else None,
        extensions=book_ext,
        absent_fields=[] if "extensions" in r.data else ["extensions"],
        extra={
            k: v
            for k, v in r.data.items()
            if k not in ("name", "description", "scan_depth", "token_budget", "recursive_scanning", "extensions", "entries")
            or (k in ("name", "description", "scan_depth", "token_budget", "recursive_scanning") and v is None)
        },
    )
    book.entries = [
        entry_from_card(e, f"{where}.entries[{i}]", path=path, book=book) for i, e in enumerate(raw_entries)
    ]
    return book


def _non_negative(value: int | None) -> int | None:
    return None if value is None else max(0, value)


def _world_info(data: dict[str, Any], path: str | None) -> Lorebook:
    entries: dict[str, Any] = data["entries"]
    book = Lorebook(extra={k: v for k, v in data.items() if k != "entries"})
    for key, value in entries.items():
        book.entries.append(entry_from_world_info(value, f"entries[{key!r}]", path=path))
    return book


def book_to_card(book: Lorebook, spec: Literal["v2", "v3"] = "v2") -> dict[str, Any]:
    """``book`` as a card's ``character_book`` object (V2, or V3 with ``use_regex``)."""
    out: dict[str, Any] = {}
    for key in ("name", "description", "scan_depth", "token_budget", "recursive_scanning"):
        value = getattr(book, key)
        if value is not None:
            out[key] = value
    out.update(book.extra)
    if book.extensions or "extensions" not in book.absent_fields:
        out["extensions"] = dict(book.extensions)
    out["entries"] = [entry_to_card(e, spec) for e in book.entries]
    return out


def book_to_lorebook_v3(book: Lorebook) -> dict[str, Any]:
    """``book`` as a standalone V3 lorebook: ``{"spec": "lorebook_v3", "data": {...}}``."""
    return {"spec": "lorebook_v3", "data": book_to_card(book, "v3")}


def book_to_world_info(book: Lorebook) -> dict[str, Any]:
    """``book`` as SillyTavern World Info JSON (``{"entries": {"0": {...}}}``)."""
    out: dict[str, Any] = dict(book.extra)
    out["entries"] = {}
    for index, entry in enumerate(book.entries):
        uid = entry.id if entry.id is not None else index
        out["entries"][str(uid)] = entry_to_world_info(entry, uid)
    return out
