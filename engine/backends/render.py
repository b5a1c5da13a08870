"""Rendering a :class:`~engine.dialogue.prompt.Prompt` for a model, and hashing it for record/replay.

Pure functions: chat models get role messages, base (completion) models get a transcript that
ends with the character's name and a colon, plus stop sequences that end the turn where the
player would speak next.

>>> from engine.dialogue.prompt import Message, Prompt, Section
>>> p = Prompt(sections=(Section.system("persona", "You are Mira."),
...                      Section.of("input", [Message(role="user", content="Hi!")])),
...            character="Mira", player="Ada")
>>> print(render_transcript(p))
You are Mira.
<BLANKLINE>
Ada: Hi!
Mira:
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Collection
from typing import Any

from engine.backends.base import GenerationParams
from engine.dialogue.prompt import Prompt

__all__ = [
    "chat_messages",
    "prompt_key",
    "render_compact",
    "render_transcript",
    "section_texts",
    "transcript_stops",
]


def chat_messages(prompt: Prompt, *, names: bool = False) -> list[dict[str, Any]]:
    """The prompt as OpenAI-style chat messages (``name`` only when the provider accepts it)."""
    out: list[dict[str, Any]] = []
    for message in prompt.messages():
        item: dict[str, Any] = {"role": message.role, "content": message.content}
        if names and message.name and message.role != "system":
            item["name"] = _safe_name(message.name)
        out.append(item)
    return out


def _safe_name(name: str) -> str:
    # OpenAI restricts `name` to [a-zA-Z0-9_-]{1,64}; other scripts would be rejected.
    cleaned = "".join(c if c.isascii() and (c.isalnum() or c in "_-") else "_" for c in name)
    return cleaned.strip("_")[:64] or "speaker"


_META = re.compile(r"\s*<meta>.*?</meta>", re.DOTALL)
# The safety guard's delimiters around a player's line (engine.safety.guard_player_text).
_GUARDED = re.compile(r"^\s*<player_message>\s*(.*?)\s*</player_message>\s*$", re.DOTALL)


def _speech(text: str) -> str:
    """A line as a transcript shows it: without the guard's tags, on one line.

    A base model copies tags it sees instead of reading them as delimiters; the guard's other
    work (control tokens removed, delimiters defused) is kept, and a line break inside the
    player's text could otherwise open a fake turn of another speaker.
    """
    match = _GUARDED.match(text)
    if match:
        text = match.group(1)
    return " ".join(text.split())


def render_transcript(
    prompt: Prompt, *, drop_sections: Collection[str] = (), strip_meta: bool = False
) -> str:
    """The prompt as a play-script transcript for base models, ending with ``Character:``.

    System text comes first as a preamble; each user line is prefixed with its speaker's name
    (the message's ``name`` or the prompt's player) and each assistant line with the character's.
    ``drop_sections`` leaves out sections by name (instructions a small base model cannot
    follow); ``strip_meta`` removes ``<meta>`` blocks from the text.
    """
    if drop_sections:
        prompt = prompt.model_copy(
            update={"sections": tuple(s for s in prompt.sections if s.name not in drop_sections)}
        )
    preamble: list[str] = []
    lines: list[str] = []
    for message in prompt.messages():
        text = message.content.strip()
        if strip_meta:
            text = _META.sub("", text)
        if message.role == "system":
            if lines:
                # A late system note (e.g. out-of-character rules) goes in brackets inline.
                lines.append(f"[{text}]")
            else:
                preamble.append(text)
        elif message.role == "user":
            lines.append(f"{message.name or prompt.player}: {_speech(text)}")
        else:
            lines.append(f"{message.name or prompt.character}: {_speech(text)}")
    lead = " ".join(prompt.lead.split())
    lines.append(f"{prompt.character}: {lead}" if lead else f"{prompt.character}:")
    head = "\n\n".join(preamble)
    body = "\n".join(lines)
    return f"{head}\n\n{body}" if head else body


#: Sections a small base model imitates instead of following (instructions, numbers, the
#: stored lists it would copy): the compact layout leaves them out.
#: Lore is left out too: it changes with what was said, and high in the transcript it would
#: change the prefix the prompt cache keeps; its most relevant entry reaches the ``focus``.
COMPACT_DROPS = frozenset({"format", "rules", "facts", "memories", "relationship", "lore"})
_LANGUAGE_HINTS = {"zh": "（以下对话用中文。）", "en": "(The conversation is in English.)"}


def render_compact(prompt: Prompt) -> str:
    """The transcript layout for small base models.

    The preamble keeps who the character is, what they know and how they talk; the sections in
    :data:`COMPACT_DROPS` and ``<meta>`` blocks are left out; a one-line cue names the reply's
    language. What the character remembers and knows that bears on the line (``focus``) comes
    in brackets right before the player's line, and what the player has just told about
    themselves (``news``) right after it. A small model names a note before the question
    about twice as often as one between the question and its reply, which it reads as a stage
    direction. The rest of the prompt stays a stable prefix a model's cache reuses.
    """
    text = render_transcript(
        prompt, drop_sections={*COMPACT_DROPS, "focus", "news"}, strip_meta=True
    )
    hint = _LANGUAGE_HINTS.get((prompt.language or "").split("-")[0])
    if hint:
        head, sep, tail = text.rpartition("\n\n")
        text = f"{head}\n\n{hint}\n{tail}" if sep else f"{hint}\n{text}"
    zh = (prompt.language or "").startswith("zh")
    head, _sep, cue = text.rpartition("\n")
    before, line = head, ""
    if prompt.section("input") is not None:  # the player's line is the one before the cue
        before, _sep, line = head.rpartition("\n")
    focus, news = _note(prompt, "focus", zh), _note(prompt, "news", zh)
    parts = [before, focus, line, news, cue]
    return "\n".join(p for p in parts if p)


def _note(prompt: Prompt, name: str, zh: bool) -> str:
    """A section's messages as one bracketed line ('' when it is absent)."""
    section = prompt.section(name)
    if section is None:
        return ""
    notes = " ".join(" ".join(m.content.split("\n")) for m in section.messages)
    return f"（{notes}）" if zh else f"({notes})"


def transcript_stops(prompt: Prompt, params: GenerationParams | None = None) -> list[str]:
    """Stop sequences for a transcript: the next speaker's turn, plus the prompt's and params' own."""
    stops = [f"\n{prompt.player}:", f"\n{prompt.player}：", f"\n{prompt.character}:", "\n\n\n"]
    for message in prompt.messages():
        if message.role == "user" and message.name:
            stops.append(f"\n{message.name}:")
    stops.extend(prompt.stop)
    if params is not None:
        stops.extend(params.stop)
    return list(dict.fromkeys(s for s in stops if s))


def section_texts(prompt: Prompt) -> list[tuple[str, str]]:
    """Each section's name and its rendered text, for recordings and replay diagnostics."""
    return [
        (
            s.name,
            "\n".join(f"{m.role}{'/' + m.name if m.name else ''}: {m.content}" for m in s.messages),
        )
        for s in prompt.sections
    ]


def prompt_key(
    prompt: Prompt,
    params: GenerationParams | None,
    *,
    kind: str = "stream",
    schema: dict[str, Any] | None = None,
) -> str:
    """A stable sha256 of everything that decides a reply: the rendered prompt and the parameters."""
    payload = {
        "kind": kind,
        "sections": section_texts(prompt),
        "character": prompt.character,
        "player": prompt.player,
        "language": prompt.language,
        "stop": list(prompt.stop),
        **({"lead": prompt.lead} if prompt.lead else {}),
        "params": (params or GenerationParams()).model_dump(mode="json"),
        "schema": schema,
    }
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()
