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
            lines.append(f"{message.name or prompt.player}: {text}")
        else:
            lines.append(f"{message.name or prompt.character}: {text}")
    lines.append(f"{prompt.character}:")
    head = "\n\n".join(preamble)
    body = "\n".join(lines)
    return f"{head}\n\n{body}" if head else body


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
        "params": (params or GenerationParams()).model_dump(mode="json"),
        "schema": schema,
    }
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()
