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

__all__ = [
    "book_to_card",
    "book_to_lorebook_v3",
    "book_to_world_info",
    "entry_from_card",
    "entry_from_world_info",
    "entry_to_card",
    "entry_to_world_info",
    "looks_like_lorebook",
    "lorebook_format",
    "parse_lorebook",
]


# Fields of a card entry, by the name a card uses, and how they map onto LoreEntry.
_CARD_OPTIONAL = (
    "case_sensitive",
    "name",
    "priority",
    "id",
    "comment",
    "selective",
    "secondary_keys",
    "constant",
    "position",
    "use_regex",
)
_CARD_KNOWN = frozenset(
    ("keys", "content", "extensions", "enabled", "insertion_order", *_CARD_OPTIONAL)
)
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
_WI_DIRECT = frozenset(
    (
        "uid",
        "key",
        "keysecondary",
        "comment",
        "content",
        "constant",
        "selective",
        "order",
        "disable",
        "addMemo",
    )
)


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


class _Reader:
    """Typed access to a JSON object with error messages that name the field."""

    def __init__(
        self, data: Any, where: str, path: str | None, notes: list[str] | None = None
    ) -> None:
        if not isinstance(data, dict):
            raise CardError(
                f"{where or 'lorebook'}: expected an object, got {type(data).__name__}", path=path
            )
        self.data: dict[str, Any] = data
        self.where = where
        self.path = path
        self.notes = notes if notes is not None else []

    def at(self, key: str) -> str:
        return _join(self.where, key)

    def _fail(self, key: str, expected: str) -> CardError:
        got = type(self.data[key]).__name__
        return CardError(f"{self.at(key)}: expected {expected}, got {got}", path=self.path)

    def note(self, key: str, what: str) -> None:
        """Record a coercion of a value whose meaning was clear (listed in the import report)."""
        self.notes.append(f"{self.at(key)}: {what}")

    def has(self, key: str) -> bool:
        return key in self.data and self.data[key] is not None

    def text(self, key: str, default: str = "") -> str:
        if not self.has(key):
            return default
        value = self.data[key]
        if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            # Some editors write a note as a list of lines; the meaning is the joined text.
            self.note(key, f"a list of {len(value)} strings, joined with new lines")
            return "\n".join(value)
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
            parts = [part.strip() for part in value.split(",") if part.strip()]
            self.note(key, f"one comma-separated string, read as {len(parts)} keys")
            return parts
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
    data: Any,
    where: str = "entry",
    *,
    path: str | None = None,
    book: Lorebook | None = None,
    notes: list[str] | None = None,
) -> LoreEntry:
    """A :class:`LoreEntry` from a V2/V3 card book entry; every field is kept for export.

    Values whose meaning is clear are coerced (a list ``comment`` joined, a numeric
    ``position`` as SillyTavern numbers them, Agnai's ``entry``/``keywords``) and each
    coercion is added to ``notes``; the original value is written back on export.
    """
    r = _Reader(data, where, path, notes)
    ext = r.mapping("extensions")
    entry_id = r.data.get("id")
    if entry_id is not None and (isinstance(entry_id, bool) or not isinstance(entry_id, int | str)):
        raise r._fail("id", "a number or a string")
    if isinstance(entry_id, float):
        entry_id = round(entry_id)
    logic = _logic_from(ext.get("selectiveLogic")) or "and_any"
    case = r.flag(
        "case_sensitive",
        default=_ext_bool(ext, "case_sensitive", book.case_sensitive if book else None) or False,
    )
    whole = _ext_bool(ext, "match_whole_words", None)
    depth = ext.get("scan_depth")
    scan_depth = (
        depth if isinstance(depth, int) and not isinstance(depth, bool) and depth >= 0 else None
    )
    unknown = {k: v for k, v in r.data.items() if k not in _CARD_KNOWN}
    if unknown:
        # Fields outside the spec (written by some editor): kept under a private extension key.
        ext = {**ext, "_card_fields": unknown}
    content_key = "content" if r.has("content") or not r.has("entry") else "entry"
    keys_key = next((k for k in ("keys", "keywords", "key") if r.has(k)), "keys")
    second_key = (
        "secondary_keys" if r.has("secondary_keys") or not r.has("keysecondary") else "keysecondary"
    )
    for key, card_key in (
        (content_key, "content"),
        (keys_key, "keys"),
        (second_key, "secondary_keys"),
    ):
        if key != card_key:
            r.note(key, f"read as `{card_key}` (the name {_ALIASES[key]} uses)")
    position = _position(r)
    fields = {"comment": r.text("comment"), "position": position}
    originals = {k: [r.data[k], v] for k, v in fields.items() if k in r.data and r.data[k] != v}
    if originals:
        ext = {**ext, _SOURCE_VALUES: originals}
    try:
        return LoreEntry(
            keys=r.texts(keys_key),
            content=r.text(content_key),
            name=r.text("name"),
            comment=fields["comment"],
            secondary_keys=r.texts(second_key),
            selective=r.flag("selective"),
            selective_logic=logic,
            use_regex=r.flag("use_regex"),
            case_sensitive=case,
            match_whole_words=whole,
            constant=r.flag("constant"),
            enabled=r.flag("enabled", True),
            insertion_order=r.number("insertion_order", 100) or 0,
            priority=r.number("priority", 10) or 0,
            position=position,
            scan_depth=scan_depth,
            id=entry_id,
            extensions=ext,
            absent_fields=[k for k in _CARD_OPTIONAL if k not in r.data and k != "id"],
        )
    except ValidationError as exc:
        raise CardError(f"{where}: {exc.errors()[0]['msg']}", path=path) from exc


_ALIASES = {
    "entry": "Agnai",
    "keywords": "Agnai",
    "key": "World Info",
    "keysecondary": "World Info",
}
# Original values of coerced fields, by field: [as written, as read]. Export writes the
# original back while the entry still holds the value it was read as.
_SOURCE_VALUES = "_source_values"
# SillyTavern's numbering of World Info positions (world_info_position).
_ST_POSITIONS = {0: "before_char", 1: "after_char"}


def _position(r: _Reader) -> str:
    if not r.has("position"):
        return "before_char"
    value = r.data["position"]
    if isinstance(value, int) and not isinstance(value, bool):
        mapped = _ST_POSITIONS.get(value, "after_char")
        r.note("position", f"the number {value} read as {mapped!r} (SillyTavern's numbering)")
        return mapped
    return r.text("position", "before_char")


def _restore_sources(out: dict[str, Any], sources: Any) -> None:
    if isinstance(sources, dict):
        for key, pair in sources.items():
            if isinstance(pair, list) and len(pair) == 2 and key in out and out[key] == pair[1]:
                out[key] = pair[0]


def _ext_bool(ext: Mapping[str, Any], key: str, default: bool | None) -> bool | None:
    value = ext.get(key)
    return value if isinstance(value, bool) else default


def entry_to_card(entry: LoreEntry, spec: Literal["v2", "v3"] = "v2") -> dict[str, Any]:
    """A card book entry (V2 or V3) from a :class:`LoreEntry`, as the source had it if unedited."""
    ext = dict(entry.extensions)
    unknown = ext.pop("_card_fields", None)
    sources = ext.pop(_SOURCE_VALUES, None)
    _mirror(
        ext,
        "selectiveLogic",
        _LOGIC_TO_ST[entry.selective_logic],
        entry.selective_logic != "and_any",
    )
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
    _restore_sources(out, sources)
    return out


def _mirror(ext: dict[str, Any], key: str, value: Any, changed: bool) -> None:
    """Write a SillyTavern extension key when the source had it or the engine's value is set."""
    if key in ext or changed:
        ext[key] = value


def entry_from_world_info(
    data: Any, where: str = "entry", *, path: str | None = None, notes: list[str] | None = None
) -> LoreEntry:
    """A :class:`LoreEntry` from a SillyTavern World Info entry; unknown keys go to extensions."""
    r = _Reader(data, where, path, notes)
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
    comment = r.text("comment")
    if "comment" in r.data and r.data["comment"] != comment and r.data["comment"] is not None:
        ext[_SOURCE_VALUES] = {"comment": [r.data["comment"], comment]}
    try:
        return LoreEntry(
            keys=r.texts("key"),
            content=r.text("content"),
            comment=comment,
            secondary_keys=r.texts("keysecondary"),
            selective=r.flag("selective"),
            selective_logic=_logic_from(r.data.get("selectiveLogic")) or "and_any",
            case_sensitive=r.flag("caseSensitive"),
            match_whole_words=whole if isinstance(whole, bool) else None,
            constant=r.flag("constant"),
            enabled=not r.flag("disable"),
            insertion_order=r.number("order", 100) or 0,
            position="before_char" if position in (0, None, "before_char") else "after_char",
            scan_depth=depth
            if isinstance(depth, int) and not isinstance(depth, bool) and depth >= 0
            else None,
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
    _restore_sources(out, ext.pop(_SOURCE_VALUES, None))
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


def parse_lorebook(
    data: Any, *, path: str | None = None, where: str = "", notes: list[str] | None = None
) -> Lorebook:
    """A :class:`Lorebook` from parsed JSON in any supported shape.

    Accepted: a card's ``character_book`` (V2/V3: ``{"entries": [...]}``), a standalone V3
    lorebook (``{"spec": "lorebook_v3", "data": {...}}``), SillyTavern World Info
    (``{"entries": {"0": {...}}}``), an Agnai lorebook (``{"kind": "memory", "entries":
    [...]}``), a bare list of entries, or a whole card holding a ``character_book``.

    Where the meaning is clear a value is coerced (``entries: null`` is an empty book, a
    numeric ``position`` is read as SillyTavern numbers it, a list ``comment`` is joined) and
    a line saying so is added to ``notes``. Anything else that does not fit raises
    :class:`~engine.errors.CardError` naming the field from ``where`` (the book's place in
    its file; empty for a standalone book).
    """
    notes = notes if notes is not None else []
    if isinstance(data, list) and data:
        return _bare_entries(data, where, path, notes)
    if not isinstance(data, dict):
        raise CardError(
            f"a lorebook must be a JSON object or a list of entries, got {type(data).__name__}",
            path=path,
        )
    if data.get("spec") == "lorebook_v3":
        return _card_book(data.get("data"), _join(where, "data"), path, notes)
    if isinstance(data.get("data"), dict) and "character_book" in data["data"]:
        return _card_book(
            data["data"]["character_book"], _join(where, "data.character_book"), path, notes
        )
    if "entries" not in data:
        raise CardError(
            "not a lorebook: no `entries` list (card book) or object (World Info)", path=path
        )
    entries = data["entries"]
    if entries is None:
        notes.append(f"{_join(where, 'entries')}: null, read as no entries")
        return _card_book({**data, "entries": []}, where, path, notes)
    if isinstance(entries, dict):
        return _world_info(data, where, path, notes)
    if isinstance(entries, list):
        return _card_book(data, where, path, notes)
    raise CardError(
        f"{_join(where, 'entries')}: expected a list (card book) or an object (World Info), got {type(entries).__name__}",
        path=path,
    )


def looks_like_lorebook(data: Any) -> bool:
    """Whether parsed JSON has the shape of a lorebook rather than of a character card.

    A lorebook holds ``entries`` (a list, an object of World Info entries, or null) and no
    card ``spec``; a bare list whose items are entry objects is one too. Character cards
    never have top-level ``entries``.
    """
    if isinstance(data, list):
        return bool(data) and all(isinstance(e, dict) and _ENTRY_KEYS & e.keys() for e in data)
    if not isinstance(data, dict):
        return False
    if data.get("spec") == "lorebook_v3":
        return True
    return (
        "entries" in data
        and data.get("spec") is None
        and isinstance(data["entries"], list | dict | None)
    )


def lorebook_format(data: Any) -> str:
    """A readable name for the lorebook format of parsed JSON (for import reports)."""
    if isinstance(data, list):
        return "a bare list of lorebook entries"
    if not isinstance(data, dict):
        return "unknown"
    if data.get("spec") == "lorebook_v3":
        return "Character Card V3 lorebook (lorebook_v3)"
    if data.get("kind") == "memory":
        return "Agnai lorebook"
    if isinstance(data.get("entries"), dict):
        return "SillyTavern World Info"
    return "lorebook (character_book shape)"


_ENTRY_KEYS = frozenset(("keys", "key", "keywords", "content", "entry"))


def _bare_entries(data: list[Any], where: str, path: str | None, notes: list[str]) -> Lorebook:
    world_info = any(isinstance(e, dict) and "key" in e and "keys" not in e for e in data)
    notes.append(f"{where or 'the file'}: a bare list of {len(data)} entries, read as a lorebook")
    book = Lorebook(absent_fields=["extensions"])
    for i, item in enumerate(data):
        at = f"{where}[{i}]" if where else f"[{i}]"
        if world_info:
            book.entries.append(entry_from_world_info(item, at, path=path, notes=notes))
        else:
            book.entries.append(entry_from_card(item, at, path=path, book=book, notes=notes))
    return book


def _card_book(data: Any, where: str, path: str | None, notes: list[str]) -> Lorebook:
    r = _Reader(data, where, path, notes)
    raw_entries = r.data.get("entries")
    if not isinstance(raw_entries, list):
        raise CardError(f"{r.at('entries')}: expected a list", path=path)
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
            if k
            not in (
                "name",
                "description",
                "scan_depth",
                "token_budget",
                "recursive_scanning",
                "extensions",
                "entries",
            )
            or (
                k in ("name", "description", "scan_depth", "token_budget", "recursive_scanning")
                and v is None
            )
        },
    )
    book.entries = [
        entry_from_card(e, f"{r.at('entries')}[{i}]", path=path, book=book, notes=notes)
        for i, e in enumerate(raw_entries)
    ]
    return book


def _non_negative(value: int | None) -> int | None:
    return None if value is None else max(0, value)


def _world_info(data: dict[str, Any], where: str, path: str | None, notes: list[str]) -> Lorebook:
    entries: dict[str, Any] = data["entries"]
    r = _Reader(data, where, path, notes)
    # World Info files from some tools carry the book's name and defaults beside the entries.
    book = Lorebook(
        name=data["name"] if isinstance(data.get("name"), str) else None,
        extra={k: v for k, v in data.items() if k != "entries"},
    )
    for key in ("scan_depth", "scanDepth"):
        if isinstance(data.get(key), int) and not isinstance(data[key], bool):
            book.scan_depth = _non_negative(r.number(key))
    for key in ("token_budget", "tokenBudget"):
        if isinstance(data.get(key), int) and not isinstance(data[key], bool):
            book.token_budget = _non_negative(r.number(key))
    for key in ("recursive_scanning", "recursiveScanning"):
        if isinstance(data.get(key), bool):
            book.recursive_scanning = data[key]
    for key, value in entries.items():
        book.entries.append(
            entry_from_world_info(value, f"{r.at('entries')}[{key!r}]", path=path, notes=notes)
        )
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
