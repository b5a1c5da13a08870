"""Greetings: a first-meeting line, or a returning player's name and a remembered detail.

Authored lines from the persona (``greetings``), never a model call, so a greeting is instant
and the same on every backend.
"""

from __future__ import annotations

from collections.abc import Sequence

from engine.dialogue import heuristics
from engine.memory.store import MemoryStore
from engine.persona.model import Persona
from engine.runtime.env import FOREGROUND, WRITE, TurnEnv, TurnRequest
from engine.runtime.events import TurnStarted
from engine.runtime.turn import emit_authored, turn_rows, warm_prompt
from engine.text.script import detect_language, is_cjk
from engine.types import Action, Relationship

__all__ = ["compose_greeting", "run_greet"]

_GREETING_ACTIONS = ("wave", "bow", "nod")


async def run_greet(env: TurnEnv, req: TurnRequest) -> None:
    """Greet a player: a first-meeting line, or a returning line with their name and a detail."""
    persona = req.persona
    req.emit(TurnStarted(req.handle.id, req.character, req.player, "greet"))

    def gather(store: MemoryStore) -> tuple[str | None, bool, list[str], Relationship]:
        if req.player_name:
            store.set_player_name(req.player, req.player_name)
        met = store.has_met(req.character, req.player)
        lines = [
            t.text
            for t in store.recent_turns(req.character, req.player, limit=60)
            if t.speaker == req.player
        ]
        rel = store.relationship(req.character, req.player, defaults=persona.relationship)
        return store.player_name(req.player), met, lines, rel

    name, met, lines, rel = await env.store.run(gather, priority=FOREGROUND)
    text, language = compose_greeting(
        persona, name=name, met=met, player_lines=lines, key=f"{req.player}:{len(lines)}"
    )
    action = next(
        (
            a
            for a in _GREETING_ACTIONS
            if (spec := persona.action(a)) and not any(p.required for p in spec.parameters)
        ),
        None,
    )
    emotion = "happy" if "happy" in persona.emotions.set else persona.emotions.baseline
    stored = env.safety.redact(text, persona)
    await env.store.run(
        lambda s: s.add_turns(turn_rows(req, speaker=req.character, text=stored, importance=2.0)),
        priority=WRITE,
    )
    emit_authored(
        req,
        text,
        emotion,
        fallback=False,
        backend=env.backend.name,
        actions=[Action(name=action)] if action else [],
        relationship=rel,
        language=language,
    )
    # The player reads the greeting before they answer: time for a base model to take in the
    # character's prompt, so their first line is answered as fast as the ones after it.
    await warm_prompt(env, req)


# A greeting for when a persona has none that fits.
_PLAIN = {"en": "Hello, {player_name}.", "zh": "{player_name}，你好。"}


def compose_greeting(
    persona: Persona, *, name: str | None, met: bool, player_lines: Sequence[str], key: str
) -> tuple[str, str]:
    """The greeting text and its language.

    A returning player gets a ``returning`` line with their name and a remembered detail (the
    most memorable thing they said, turned to second person); when the chosen line has no
    ``{remembered}`` slot, the detail is added as a sentence of its own. A player met for the
    first time gets a ``first_meeting`` line.
    """
    greetings = persona.greetings
    returning = met and bool(greetings.returning)
    pool = greetings.returning if returning else greetings.first_meeting
    language = persona.languages[0]
    if persona.language_mode == "match_player" and player_lines:
        spoken = detect_language(player_lines[-1])
        if spoken in persona.languages:
            language = spoken
    plain = _PLAIN["zh" if language.startswith("zh") else "en"]
    pool = pool or [plain]
    chinese_pool = [line for line in pool if any(is_cjk(c) for c in line)]
    latin_pool = [line for line in pool if line not in chinese_pool]
    if persona.language_mode == "match_player":
        pool = (chinese_pool if language.startswith("zh") else latin_pool) or pool
    detail = None
    if returning:
        detail = heuristics.remembered_detail(player_lines, chinese=language.startswith("zh"))
    # Best a line with all it wants; then one that wants only the name it lacks ("Friend! …");
    # then a plain one. A line whose detail slot would stay empty ("我还记着呢：。") never.
    with_detail = [line for line in pool if "{remembered}" not in line or detail]
    usable = [line for line in with_detail if "{player_name}" not in line or name]
    line = heuristics.choose_line(usable or with_detail or [plain], key)
    friend = "朋友" if any(is_cjk(c) for c in line) else "friend"
    text = (
        line.replace("{player_name}", name or friend)
        .replace("{character_name}", persona.display_name(language))
        .replace("{remembered}", detail or "")
        .strip()
    )
    if text[:1].islower():
        text = text[0].upper() + text[1:]  # "friend! You came back." opens the line
    if detail and "{remembered}" not in line:
        text += f" 上次{detail}。" if language.startswith("zh") else f" Last time, {detail}."
    return text, language
