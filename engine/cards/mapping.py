"""Card fields <-> persona fields, keeping every card field so an unedited export is exact."""

from __future__ import annotations

import math
import re
import string
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import ValidationError

from engine.cards.containers import (
    V1_FIELDS,
    V2_FIELDS,
    V2_LIST_FIELDS,
    V2_STR_FIELDS,
    Card,
    book_from,
    card_from_json,
)
from engine.cards.lorebooks import book_to_card, parse_lorebook
from engine.errors import CardError
from engine.lore import Lorebook, LoreEntry, expand_macros, strip_decorators
from engine.persona.model import CardInfo, ExampleExchange, Greetings, Look, Persona, Personality
from engine.text.script import is_cjk

_BACKFILL_NOTE = (
    "This character card is Character Card V3, but it is loaded as a Character Card V2. "
    "Please use a Character Card V3 compatible application to use this character card properly."
)
_ENGINE_EXT = "npc_engine"


@dataclass
class ImportReport:
    """What an import did with each part of the card."""

    source: str
    spec: str
    format: str = ""
    """The format read, in words ("Character Card V2 in a PNG", "SillyTavern World Info")."""
    kind: Literal["character", "lorebook"] = "character"
    """What the file held."""
    written: list[str] = field(default_factory=list)
    """Files written beside the character file (its picture, large extension data)."""
    mapped: list[str] = field(default_factory=list)
    """Card fields mapped onto persona fields ("first_mes -> greetings.first_meeting[0]")."""
    unmapped: list[str] = field(default_factory=list)
    """Parts kept only verbatim in ``persona.card`` (exported again, but unused by the engine)."""
    warnings: list[str] = field(default_factory=list)
    """Anything the writer should look at."""

    def lines(self) -> list[str]:
        """The report as readable lines."""
        out = [f"{self.source} ({self.format or self.spec})"]
        out += [f"  mapped: {m}" for m in self.mapped]
        out += [f"  not mapped (kept verbatim in card): {u}" for u in self.unmapped]
        out += [f"  warning: {w}" for w in _grouped(self.warnings)]
        out += [f"  also wrote: {w}" for w in self.written]
        return out


_INDEX = re.compile(r"\[(?:\d+|'[^']*')\]")


def _grouped(lines: list[str]) -> list[str]:
    """Lines that differ only in an entry index, as one line listing the indices (order kept)."""
    groups: dict[str, list[str]] = {}
    for line in lines:
        groups.setdefault(_INDEX.sub("[*]", line), []).append(line)
    out = []
    for pattern, members in groups.items():
        if len(members) == 1:
            out.append(members[0])
            continue
        indices = [m.group(0) for line in members for m in [_INDEX.search(line)] if m]
        shown = ", ".join(indices[:6]) + (
            f" and {len(indices) - 6} more" if len(indices) > 6 else ""
        )
        out.append(f"{pattern} ({len(members)} entries: {shown})")
    return out


# ============================================================================================
# Card fields -> persona fields
# ============================================================================================

_USER_NAMES = frozenset({"{{user}}", "<user>", "user", "you", "player", "anon", "{{user}}'s"})
_CHAR_NAMES = frozenset({"{{char}}", "<bot>", "<char>", "char", "bot", "assistant"})
_SPEAKER = re.compile(
    r"^\s*(\{\{\s*(?:user|char)\s*\}\}|<(?:user|bot|char)>|[^\s:：{}\[\]<>*\"][^:：\n*\"]{0,39}?)\s*[:：]\s?(.*)$",
    re.IGNORECASE,
)
_GREETING_MACRO = re.compile(r"\{\{\s*(?:user|char)\s*\}\}|<(?:user|bot|char)>", re.IGNORECASE)
_START = re.compile(r"^\s*<start>\s*$", re.IGNORECASE)
_WPP_ASSIGN = re.compile(r"^\s*([^=\[\]]{1,80}?)\s*=\s*(.+?)\s*$", re.DOTALL)
_WPP_CALL = re.compile(r"([A-Za-z][\w ]{0,40}?)\s*\(([^()]*)\)")
_QUOTED = re.compile(r"\"([^\"]*)\"")
_TRAIT_KEYS = ("personality", "trait", "mind", "persona", "nature", "temperament", "character")
_LOOK_KEYS = (
    "body",
    "appearance",
    "look",
    "feature",
    "outfit",
    "cloth",
    "wear",
    "attire",
    "hair",
    "eye",
    "face",
    "height",
)
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
        return _state(
            self.backstory,
            self.traits,
            self.look,
            self.knowledge,
            self.goals,
            self.role,
            self.examples,
        )


def _state(*parts: Any) -> tuple[Any, ...]:
    return tuple(
        [e.model_dump() for e in p]
        if p and isinstance(p, list) and isinstance(p[0], ExampleExchange)
        else p
        for p in parts
    )


def _nl(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _fill(text: str, name: str, user: str) -> str:
    """Card macros in a text the engine uses as is: {{char}} -> the name, {{user}} -> ``user``."""
    return expand_macros(text, {"char": name, "user": user}).strip()


def _to_greeting(text: str) -> str:
    """A card greeting as a persona greeting: braces escaped, macros as {placeholders}."""
    out: list[str] = []
    last = 0
    text = _nl(text)
    for match in _GREETING_MACRO.finditer(text):
        out.append(text[last : match.start()].replace("{", "{{").replace("}", "}}"))
        out.append("{player_name}" if "user" in match.group(0).lower() else "{character_name}")
        last = match.end()
    out.append(text[last:].replace("{", "{{").replace("}", "}}"))
    return "".join(out).strip()


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
            mapped.unmapped.append(
                f"{where}: narration before the first speaker ({line.strip()[:40]!r}...)"
            )
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
            while (
                i < len(lines)
                and not _START.match(lines[i])
                and not lines[i].strip().startswith("[")
            ):
                block.append(lines[i])
                i += 1
            dialogue += 1
            _parse_dialogue(
                "\n".join(block), name, names, f"description example {dialogue}", mapped
            )
            continue
        if stripped.startswith("["):
            chunk = [stripped]
            while not chunk[-1].endswith("]") and i + 1 < len(lines):
                i += 1
                chunk.append(lines[i].strip())
            joined = " ".join(chunk)
            _parse_bracket(
                joined[1:-1] if joined.endswith("]") else joined[1:], name, names, mapped
            )
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
    nickname = data.get("nickname") if isinstance(data.get("nickname"), str) else ""
    # V3: {{char}} stands for the nickname when the card has one.
    name = (nickname or "").strip() or (data.get("name") or "").strip() or "Unnamed"
    names = {name.lower(), (data.get("name") or "").strip().lower()} - {""}
    mapped = _Mapped()
    description = data.get("description") or ""
    if description.strip():
        _parse_description(description, name, names, mapped)
        mapped.mapped.append(
            "description -> backstory, personality.traits, look.description, knowledge, goals, examples"
        )
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


#: Longest id made from a name; longer ones are cut at a syllable or word boundary.
MAX_ID_LENGTH = 48


def id_from_name(name: str) -> str:
    """A persona id that reads: a slug of the name, Chinese characters written in pinyin.

    Persona ids are lower-case ASCII (``[a-z0-9_-]``: they name files and key memory), so
    Han characters become toneless pinyin, one syllable per character, joined by hyphens
    (``陈掌柜`` -> ``chen-zhang-gui``, ``TRPG主持人`` -> ``trpg-zhu-chi-ren``; ``ü`` is ``v``).
    Returns ``""`` when nothing readable is left (a name only in another script).

    >>> id_from_name("Hu Tao")
    'hu-tao'
    """
    if any(is_cjk(c) for c in name):
        from pypinyin import lazy_pinyin  # loads its dictionary (~0.3 s): only when needed

        name = "-".join(lazy_pinyin(name))
    slug = re.sub(r"-{2,}", "-", _slug(name))
    if len(slug) > MAX_ID_LENGTH:
        slug = (
            slug[: MAX_ID_LENGTH + 1].rsplit("-", 1)[0]
            if "-" in slug[:MAX_ID_LENGTH]
            else slug[:MAX_ID_LENGTH]
        )
    return slug.strip("-_")


def _languages(data: Mapping[str, Any]) -> list[str]:
    sample = "".join(str(data.get(k) or "") for k in ("description", "first_mes", "personality"))
    letters = [c for c in sample if c.isalpha()]
    if letters and sum(is_cjk(c) for c in letters) / len(letters) > 0.3:
        return ["zh", "en"]
    return ["en"]


def _talkativeness(ext: Mapping[str, Any]) -> float | None:
    value = ext.get("talkativeness")
    try:
        number = (
            float(value)
            if isinstance(value, str | int | float) and not isinstance(value, bool)
            else None
        )
    except ValueError:
        return None
    return number if number is not None and math.isfinite(number) and 0 <= number <= 1 else None


def card_to_persona(card: Card, *, persona_id: str | None = None) -> tuple[Persona, ImportReport]:
    """Map a card onto a new :class:`Persona`, keeping every card field in ``persona.card``."""
    data = card.data
    report = ImportReport(source=card.path or "<card>", spec=card.spec, format=card.format)
    mapped = _map_text(data)
    report.mapped.extend(mapped.mapped)
    report.unmapped.extend(mapped.unmapped)
    raw_name = data.get("name") or ""
    name = raw_name.strip() or "Unnamed"
    if not raw_name.strip():
        report.warnings.append("the card has no name; using 'Unnamed'")
    extensions = dict(data.get("extensions") or {})
    extensions.pop(_ENGINE_EXT, None)  # regenerated on export
    extra: dict[str, Any] = {k: v for k, v in data.items() if k not in V2_FIELDS}
    if any(k != k.strip() for k in extensions):
        # The persona model trims dict keys; such extensions are kept whole, untouched.
        extra["extensions"] = dict(extensions)
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
    for key in (*V2_STR_FIELDS, *V2_LIST_FIELDS):
        if key in data and data[key] != stored.get(key):
            info.extra[key] = data[key]
    lore: list[LoreEntry] = []
    book = data.get("character_book")
    if isinstance(book, dict):
        parsed = book_from(book, "data.character_book", card.path, report.warnings)
        lore = parsed.entries
        info.extra["character_book"] = {k: v for k, v in book.items() if k != "entries"}
        report.mapped.append(f"character_book -> lore ({len(lore)} entries)")
        decorated = sum(1 for e in lore if strip_decorators(e.content) != e.content)
        if decorated:
            report.warnings.append(
                f"{decorated} lore entries use V3 @@decorators; only activation ones are applied"
            )
    talk = _talkativeness(extensions)
    for key in sorted(extensions):
        if key != "talkativeness":
            report.unmapped.append(f"extensions.{key}")
    for key in sorted(k for k in extra if k not in V2_FIELDS):
        report.unmapped.append(
            f"data.{key}"
            + (
                f" ({len(extra[key])} assets)"
                if key == "assets" and isinstance(extra[key], list)
                else ""
            )
        )
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
    if persona_id is None and not id_from_name(name):
        report.warnings.append(
            f"no readable id can be made from the name {name!r}; using 'character' (choose one with --id)"
        )
    try:
        persona = Persona(
            id=persona_id if persona_id is not None else (id_from_name(name) or "character"),
            name=name,
            languages=_languages(data),
            backstory=mapped.backstory,
            knowledge=mapped.knowledge,
            goals=mapped.goals,
            role=mapped.role,
            look=Look(description=mapped.look),
            personality=Personality(
                traits=mapped.traits, talkativeness=talk if talk is not None else 0.5
            ),
            examples=mapped.examples,
            greetings=Greetings(first_meeting=mapped.greetings),
            lore=lore,
            card=info,
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise CardError(
            f"the mapped persona is invalid at {where}: {first['msg']}", path=card.path
        ) from exc
    engine_ext = (data.get("extensions") or {}).get(_ENGINE_EXT)
    if isinstance(engine_ext, dict) and isinstance(engine_ext.get("persona"), dict):
        persona = _apply_engine_ext(persona, engine_ext["persona"], mapped, data, report)
    return persona, report


def _apply_engine_ext(
    persona: Persona,
    fields: dict[str, Any],
    mapped: _Mapped,
    data: Mapping[str, Any],
    report: ImportReport,
) -> Persona:
    """Restore what this engine exported in ``extensions.npc_engine``, unless the card was edited since."""
    try:
        saved = Persona.model_validate({**fields, "id": persona.id})
    except ValidationError as exc:
        report.warnings.append(
            f"extensions.npc_engine.persona is not a valid persona ({exc.errors()[0]['msg']}); ignored"
        )
        return persona
    update: dict[str, Any] = {"id": persona.id, "lore": persona.lore, "card": persona.card}
    composed = _compose_text(saved)
    card_text = {k: data.get(k) or "" for k in composed}
    if card_text != composed and mapped.text_state() != _persona_state(saved):
        report.warnings.append(
            "the card's text was edited after export; it replaces the saved persona text"
        )
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
    report.mapped.append(
        "extensions.npc_engine -> engine fields (actions, emotions, look, voice...)"
    )
    return saved.model_copy(update=update)


_V1_COPIES = "$v1_copies"


def _compact_outer(outer: Mapping[str, Any], data: Mapping[str, Any]) -> dict[str, Any]:
    """Top-level V1 copies equal to their ``data`` field are listed by name instead of repeated."""
    copies = [
        k for k in V1_FIELDS if k in outer and outer[k] == data.get(k) and isinstance(outer[k], str)
    ]
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
        blocks.append(
            f"[{name}'s Personality= "
            + ", ".join(_quote(t) for t in persona.personality.traits)
            + "]"
        )
    if persona.look.description:
        blocks.append(f"[{name}'s Body= {_quote(persona.look.description)}]")
    if persona.goals:
        blocks.append(f"[{name}'s Goals= " + ", ".join(_quote(g) for g in persona.goals) + "]")
    blocks.extend(f"[{item}]" for item in persona.knowledge)
    description = "\n\n".join(part for part in (persona.backstory, "\n".join(blocks)) if part)
    simple = all(
        len(t) <= 40 and not re.search(r"[,;.!?\n]", t) for t in persona.personality.traits
    )
    personality = ", ".join(persona.personality.traits) if simple else ""
    examples = [
        f"<START>\n{{{{user}}}}: {ex.player}\n{{{{char}}}}: {ex.character}"
        for ex in persona.examples
    ]
    return {
        "description": description,
        "personality": personality,
        "mes_example": "\n".join(examples),
    }


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
    for key, value in info.extra.items():
        if key not in ("character_book", "extensions"):
            data[key] = value  # verbatim overrides, and V3 fields such as nickname
    return data


def _same_text(stored: Any, current: Any) -> bool:
    if isinstance(stored, list) and isinstance(current, list):
        return [str(x).strip() for x in stored] == [str(x).strip() for x in current]
    return (
        (stored or "").strip() == (current or "").strip()
        if isinstance(stored, str | None)
        else False
    )


def _card_data(persona: Persona, spec: Literal["v2", "v3"]) -> dict[str, Any]:
    info = persona.card or CardInfo()
    verbatim = _verbatim(persona)
    greetings = persona.greetings.first_meeting
    data: dict[str, Any] = {}
    if verbatim is not None:
        base = _map_text(verbatim)
        same_name = ((verbatim["name"] or "").strip() or "Unnamed") == persona.name
        data["name"] = verbatim["name"] if same_name else persona.name
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
    data["tags"] = (
        info.extra["tags"]
        if "tags" in info.extra and _same_text(info.extra["tags"], info.tags)
        else list(info.tags)
    )
    for key in ("creator", "character_version"):
        data[key] = _keep(info, key, scalar[key])
    data["extensions"] = _export_extensions(persona)
    for key, value in info.extra.items():
        if key not in V2_FIELDS:
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
    book = (
        Lorebook.model_validate(parse_lorebook({**(meta or {}), "entries": []}).model_dump())
        if meta
        else Lorebook()
    )
    book.entries = list(persona.lore)
    return book_to_card(book, spec)


# What pydantic trims from strings (Unicode White_Space); Python's str.strip() also takes the
# ASCII separators U+001C-U+001F, which pydantic keeps.
_MODEL_SPACE = "".join(chr(c) for c in range(0x3001) if chr(c).isspace() and not 0x1C <= c <= 0x1F)


def _export_extensions(persona: Persona) -> dict[str, Any]:
    ext = dict(persona.card.extensions) if persona.card else {}
    whole = persona.card.extra.get("extensions") if persona.card else None
    if isinstance(whole, dict) and {k.strip(_MODEL_SPACE): v for k, v in whole.items()} == ext:
        ext = dict(whole)
    talk = persona.personality.talkativeness
    if "talkativeness" in ext:
        if _talkativeness(ext) != talk:
            ext["talkativeness"] = str(talk) if isinstance(ext["talkativeness"], str) else talk
    elif talk != 0.5:
        ext["talkativeness"] = talk
    return ext


def _engine_fields(persona: Persona) -> dict[str, Any]:
    # The picture travels as the PNG itself; lore files' entries travel in the card's book.
    return persona.model_dump(
        mode="json",
        exclude_defaults=True,
        exclude={
            "card": True,
            "lore": True,
            "lorebooks": True,
            "id": True,
            "extends": True,
            "look": {"image"},
        },
    )


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
        outer.pop("spec_version")
        if source_spec == spec_name and "spec_version" in outer
        else ("2.0" if spec == "v2" else "3.0")
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
        data["extensions"] = {
            **data["extensions"],
            _ENGINE_EXT: {"version": 1, "persona": _engine_fields(persona)},
        }
    return card


def backfill_v2(card_v3: dict[str, Any], persona: Persona) -> dict[str, Any]:
    """The V2 ``chara`` chunk written beside ``ccv3``: decorators removed, a note for V2 readers."""
    card = persona_to_card(persona, "v2")
    data = card["data"]
    notes = data.get("creator_notes") or ""
    if _BACKFILL_NOTE not in notes:
        data["creator_notes"] = f"{_BACKFILL_NOTE}\n\n{notes}" if notes else _BACKFILL_NOTE
    for entry in (data.get("character_book") or {}).get("entries", []):
        entry["content"] = strip_decorators(entry["content"])
    return card
