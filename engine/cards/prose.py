"""A card's free text read into persona parts, and persona parts written back as card text.

Description and personality (plain prose, W++ ``[trait("kind")]`` and bracketed attribute
lists) become traits, looks, goals and knowledge; ``mes_example`` becomes example exchanges
with the speakers told apart; greetings carry ``{{user}}``/``{{char}}`` macros both ways.
What cannot be mapped is kept, so an unedited persona writes back its card's own text.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.lore import expand_macros
from engine.persona.model import ExampleExchange, Persona

__all__ = ["Mapped", "compose_text", "from_greeting", "map_text", "persona_state"]

# ============================================================================================
# Card text -> persona parts
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
class Mapped:
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


def from_greeting(text: str) -> str:
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


def _parse_dialogue(block: str, name: str, names: set[str], where: str, mapped: Mapped) -> None:
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


def _parse_bracket(inner: str, name: str, names: set[str], mapped: Mapped) -> None:
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


def _parse_description(text: str, name: str, names: set[str], mapped: Mapped) -> None:
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


def _parse_personality(text: str, name: str, names: set[str], mapped: Mapped) -> None:
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


def map_text(data: Mapping[str, Any]) -> Mapped:
    """Persona fields from a card's text fields. Pure: export re-runs it to spot edits."""
    nickname = data.get("nickname") if isinstance(data.get("nickname"), str) else ""
    # V3: {{char}} stands for the nickname when the card has one.
    name = (nickname or "").strip() or (data.get("name") or "").strip() or "Unnamed"
    names = {name.lower(), (data.get("name") or "").strip().lower()} - {""}
    mapped = Mapped()
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


# ============================================================================================
# Persona parts -> card text
# ============================================================================================


def persona_state(persona: Persona) -> tuple[Any, ...]:
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


def compose_text(persona: Persona) -> dict[str, str]:
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
