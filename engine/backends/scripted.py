"""A deterministic backend that answers from the persona's own authored lines.

No model, no network, no randomness: the same prompt always gets the same reply. It is for
tests, CI and running the engine with nothing installed, and it always says so
(``name == "scripted"``, ``capabilities.kind == "scripted"``).

How a reply is chosen, in order:

0. what the engine found the line asks about (``Prompt.answers``: a remembered detail or the
   knowledge that answers, already said as the character; see
   :mod:`engine.dialogue.grounding`);
1. when the player asks about themselves ("do you remember what I do?", "我最喜欢喝什么？"),
   what the prompt carries about them (the facts, the recalled memories and their own earlier
   lines) that best matches the question, said back in the second person inside the persona's
   own returning-greeting line ("I haven't forgotten: {remembered}."); a player who asks
   whether the character remembers something it was never told hears so;
2. the example exchange or knowledge entry that shares the most words (or Chinese characters)
   with the player's line; an example's emotion and actions go in a trailing ``<meta>`` block;
3. a first-meeting greeting, when the player only said hello (or nothing);
4. a catchphrase, else a fallback line, picked by a stable hash of the player's line.

Example::

    backend = ScriptedBackend()
    async for chunk in backend.stream(prompt):
        print(chunk.text, end="")
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import time
import types
import typing
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, Literal, TypeVar, get_args, get_origin

from pydantic import BaseModel, ValidationError

from engine.backends.base import Capabilities, Chunk, GenerationParams
from engine.backends.scripted_match import (
    asks_to_remember,
    has_cjk,
    not_told,
    recall_answer,
    terms,
    weight,
)
from engine.dialogue.prompt import Prompt
from engine.errors import StructuredOutputError
from engine.persona.model import Persona
from engine.text.tokens import estimate_tokens
from engine.types import Usage

__all__ = ["ScriptedBackend", "render_meta_block", "stream_pieces"]

log = logging.getLogger(__name__)

T = TypeVar("T", bound=BaseModel)

_LATIN_WORD = re.compile(r"[a-z0-9']+")
_GREETING_WORDS = frozenset(
    {"hi", "hello", "hey", "greetings", "howdy", "morning", "evening", "yo"}
)
_CJK_GREETINGS = ("你好", "您好", "嗨", "哈喽", "早上好", "晚上好")
_PIECE = re.compile(
    r"\s*[^\s\u3400-\u9fff\u3000-\u303f\uff00-\uffef]+\s*|[\u3400-\u9fff\u3000-\u303f\uff00-\uffef]{1,2}\s*|\s+"
)


def stream_pieces(text: str) -> list[str]:
    """Split text into token-sized pieces: a word with its spaces, or one or two CJK characters.

    >>> stream_pieces("Hi there. 你好呀")
    ['Hi ', 'there. ', '你好', '呀']
    """
    pieces = _PIECE.findall(text)
    # The pattern covers every character, so joining the pieces gives the text back.
    return [p for p in pieces if p]


def render_meta_block(
    emotion: str | None,
    strength: float | None = None,
    actions: list[dict[str, Any]] | None = None,
    relationship: Mapping[str, float] | None = None,
) -> str:
    """The trailing ``<meta>{...}</meta>`` block of the reply format ('' when there is nothing to say)."""
    payload: dict[str, Any] = {}
    if emotion:
        payload["emotion"] = emotion
        payload["strength"] = 0.7 if strength is None else strength
    if actions:
        payload["actions"] = actions
    if relationship:
        payload["relationship"] = dict(relationship)
    if not payload:
        return ""
    return "<meta>" + json.dumps(payload, ensure_ascii=False) + "</meta>"


def _wants_cjk(language: str | None, user: str) -> bool:
    return language.startswith(("zh", "ja", "ko")) if language else has_cjk(user)


def _stable_index(text: str, n: int) -> int:
    return int(hashlib.sha256(text.encode("utf-8")).hexdigest()[:8], 16) % n


def _strip_guard(text: str) -> str:
    # Player text may arrive wrapped as delimited data (safety.guard_player_text); the words
    # inside are what matter here, the tags are not.
    return re.sub(r"</?[a-z_]+>", " ", text)


class ScriptedBackend:
    """Deterministic replies from ``prompt.persona``'s greetings, examples, knowledge and catchphrases.

    ``delay_s`` waits between streamed pieces (to exercise streaming in a game loop);
    ``json_responses`` maps a schema class name to the object (or a function of the prompt
    returning it) that ``complete_json`` validates and returns; otherwise ``complete_json``
    builds the schema's smallest valid instance.
    """

    def __init__(
        self,
        *,
        delay_s: float = 0.0,
        json_responses: Mapping[str, Any | Callable[[Prompt], Any]] | None = None,
    ) -> None:
        self.delay_s = delay_s
        self.json_responses = dict(json_responses or {})
        self._capabilities = Capabilities(
            kind="scripted",
            mode="chat",
            structured="json_schema",
            context_size=1_000_000,
            streamed_usage=True,
        )

    @property
    def name(self) -> str:
        """Always ``scripted``: these replies never pretend to come from a model."""
        return "scripted"

    @property
    def capabilities(self) -> Capabilities:
        """Scripted, chat-shaped, structured output always valid."""
        return self._capabilities

    # -- choosing a line -------------------------------------------------------------------

    def reply(self, prompt: Prompt) -> str:
        """The full reply text (spoken line plus optional ``<meta>`` block) for ``prompt``."""
        persona = prompt.persona
        if persona is None:
            return "..."
        user = _strip_guard(prompt.user_text)
        if prompt.answers:
            # What the engine found the line asks about (a remembered detail, the knowledge
            # that answers it), already said as the character.
            return prompt.answers[0]
        remembered = recall_answer(prompt, user)
        if remembered is not None:
            return remembered
        example = self._best_example(persona, user)
        knowledge = self._best_line(persona.knowledge, user, prompt.language)
        if example is not None and (knowledge is None or example[0] >= knowledge[0]):
            chosen = persona.examples[example[1]]
            line = self._fill(chosen.character, prompt, persona)
            actions = [{"name": a.name, "args": dict(a.args)} for a in chosen.actions]
            meta = render_meta_block(chosen.emotion, None, actions)
            return f"{line} {meta}" if meta else line
        if knowledge is not None:
            return self._fill(persona.knowledge[knowledge[1]], prompt, persona)
        if asks_to_remember(user):
            return not_told(prompt)
        if self._is_greeting(user):
            # A returning line needs something remembered to fill it; without, it reads broken.
            returning = [g for g in persona.greetings.returning if "{remembered}" not in g]
            lines = persona.greetings.first_meeting or returning
            if lines:
                return self._fill(self._pick(lines, user, prompt.language), prompt, persona)
        for lines in (
            persona.style.catchphrases,
            persona.boundaries.fallback_lines,
            persona.greetings.first_meeting,
        ):
            if lines:
                return self._fill(self._pick(lines, user, prompt.language), prompt, persona)
        return "..."

    def _best_example(self, persona: Persona, user: str) -> tuple[float, int] | None:
        """(score, index) of the example whose player line is closest to ``user``."""
        wanted = terms(user)
        if not wanted:
            return None
        best: tuple[float, int] | None = None
        for index, example in enumerate(persona.examples):
            score = weight(wanted & terms(example.player))
            if score and has_cjk(example.player) == has_cjk(user):
                score += 0.5
            if score and (best is None or score > best[0]):
                best = (score, index)
        return best

    def _best_line(
        self, lines: list[str], user: str, language: str | None = None
    ) -> tuple[float, int] | None:
        """(score, index) of the line sharing the most with ``user``; lines in the reply's
        script (Chinese or not) come first when they share anything."""
        wanted = terms(user)
        want_cjk = _wants_cjk(language, user)
        scored = [(weight(wanted & terms(line)), i, line) for i, line in enumerate(lines)]
        scored = [s for s in scored if s[0] > 0]
        in_script = [s for s in scored if has_cjk(s[2]) == want_cjk]
        pool = in_script or scored
        if not pool:
            return None
        score, index, line = max(pool, key=lambda s: (s[0], -s[1]))
        return (score + 0.5 if has_cjk(line) == want_cjk else score), index

    def _is_greeting(self, user: str) -> bool:
        text = user.strip().lower()
        if not text:
            return True
        words = set(_LATIN_WORD.findall(text))
        return bool(words & _GREETING_WORDS) or any(g in text for g in _CJK_GREETINGS)

    def _pick(self, lines: list[str], user: str, language: str | None = None) -> str:
        # Prefer lines in the script the reply should be in (a bilingual persona's greetings).
        want_cjk = _wants_cjk(language, user)
        matching = [line for line in lines if has_cjk(line) == want_cjk] or lines
        return matching[_stable_index(user, len(matching))]

    def _fill(self, line: str, prompt: Prompt, persona: Persona) -> str:
        return (
            line.replace("{player_name}", prompt.player)
            .replace("{character_name}", persona.display_name(prompt.language))
            .replace("{remembered}", "")
            .strip()
        )

    # -- Backend protocol ------------------------------------------------------------------

    async def stream(
        self, prompt: Prompt, params: GenerationParams | None = None
    ) -> AsyncIterator[Chunk]:
        """Stream the chosen line word by word (CJK two characters at a time); last chunk has usage."""
        start = time.perf_counter()
        text = self.reply(prompt)
        ttft: float | None = None
        for piece in stream_pieces(text):
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
            else:
                await asyncio.sleep(0)  # stay cancellable, like a real stream
            if ttft is None:
                ttft = (time.perf_counter() - start) * 1000
            yield Chunk(text=piece)
        usage = Usage(
            prompt_tokens=prompt.tokens,
            completion_tokens=estimate_tokens(text),
            model="scripted",
            latency_ms=(time.perf_counter() - start) * 1000,
            ttft_ms=ttft,
            estimated=True,
        )
        yield Chunk(text="", usage=usage, finish_reason="stop")

    async def complete_json(
        self, prompt: Prompt, schema: type[T], params: GenerationParams | None = None
    ) -> T:
        """The configured response for ``schema`` or its smallest valid instance."""
        await asyncio.sleep(0)
        configured = self.json_responses.get(schema.__name__)
        data = configured(prompt) if callable(configured) else configured
        if data is None:
            data = minimal_instance_data(schema)
        try:
            return schema.model_validate(data)
        except ValidationError as exc:
            raise StructuredOutputError(
                f"scripted response does not validate against {schema.__name__}: {exc.errors()[0]['msg']}",
                raw=json.dumps(data, ensure_ascii=False, default=str),
                provider="scripted",
            ) from exc

    async def aclose(self) -> None:
        """Nothing to release."""


def minimal_instance_data(schema: type[BaseModel]) -> dict[str, Any]:
    """The smallest data a pydantic model accepts: required fields filled with empty values."""
    data: dict[str, Any] = {}
    for name, field in schema.model_fields.items():
        if field.is_required():
            data[field.alias or name] = _empty_value(field.annotation)
    return data


def _empty_value(annotation: Any) -> Any:
    origin = get_origin(annotation)
    args = get_args(annotation)
    if origin is Literal:
        return args[0]
    if origin in (typing.Union, types.UnionType):
        if type(None) in args:
            return None
        return _empty_value(args[0])
    if origin in (list, tuple, set, frozenset) or annotation in (list, tuple, set, frozenset):
        return []
    if origin is dict or annotation is dict:
        return {}
    if isinstance(annotation, type):
        if issubclass(annotation, BaseModel):
            return minimal_instance_data(annotation)
        if issubclass(annotation, bool):
            return False
        if issubclass(annotation, int | float):
            return 0
        if issubclass(annotation, str):
            return ""
    return None
