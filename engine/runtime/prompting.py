"""What the model sees for one turn: speakers' labels, the history it imitates, what the
character remembers and knows that bears on the line (grounding), and the prompt assembled
under the backend's budget. Pure assembly over a turn's gathered :class:`Context`; the turn
pipeline (:mod:`engine.runtime.turn`) and ``npc prompt``'s preview both build prompts here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from engine.dialogue import choice
from engine.dialogue.grounding import Ground, ground
from engine.dialogue.prompt import UNNAMED_PLAYER, Line, Prompt, assemble, reply_language
from engine.runtime.env import Context, TurnEnv, TurnRequest

__all__ = [
    "build_prompt",
    "history_lines",
    "speaker_label",
    "speaker_labels",
    "turn_grounding",
    "warm_history",
]


def speaker_label(env: TurnEnv, req: TurnRequest, ctx: Context, speaker: str, language: str) -> str:
    """How ``speaker`` is named in the prompt, in ``language``."""
    if speaker == req.character:
        return req.persona.display_name(language)
    if speaker == req.player:
        return ctx.name or req.player_name or UNNAMED_PLAYER
    persona = env.personas.get(speaker)
    if persona is not None:
        return persona.display_name(language)
    return ctx.labels.get(speaker, speaker)


def speaker_labels(env: TurnEnv, req: TurnRequest, ctx: Context, language: str) -> list[str]:
    """Every speaker label a reply must not contain: the player's, the character's, others'."""
    persona = req.persona
    names = [persona.name, *persona.names.values(), persona.display_name(language)]
    for who in (req.player, *req.scene_characters, *req.scene_players):
        names.append(speaker_label(env, req, ctx, who, language))
    return list(dict.fromkeys(n for n in names if n))


def history_window(total: int, limit: int) -> int:
    """How many of the last ``limit`` lines of a conversation of ``total`` lines the model sees:
    all while they fit, then between half and all of them, the oldest dropped half a window at
    a time. The window's first line stays put for several turns, so the prompt up to it is the
    same from turn to turn and a model's prompt cache keeps it (a window sliding by a line
    pair each turn would change the prompt from its oldest line on, every turn)."""
    if total <= limit or limit < 2:
        return limit
    block = limit // 2
    return block + (total - limit) % block


def history_lines(env: TurnEnv, req: TurnRequest, ctx: Context, language: str) -> list[Line]:
    """The recent lines the model sees, without the character's own lines that fail the
    reply checks (markup, an echo of the line before, nothing said): a model imitates
    its history, so one bad line would otherwise breed more."""
    names = speaker_labels(env, req, ctx, language)
    out: list[Line] = []
    before = ""
    for t in ctx.recent[-history_window(ctx.relationship.turns, len(ctx.recent)) :]:
        own = t.speaker == req.character
        if own and choice.reject(t.text, player_line=before, language=None, names=names):
            continue
        if not own:
            before = t.text
        out.append(
            Line(speaker=speaker_label(env, req, ctx, t.speaker, language), text=t.text, own=own)
        )
    return out


def warm_history(
    env: TurnEnv, req: TurnRequest, ctx: Context, player_text: str, reply: str
) -> None:
    """Check ``reply`` as stored against the player's line as stored (``player_text`` is the
    line the prompt was built from, which chose the labels), the way
    :func:`history_lines` will when the next turn shows it: the reply checks keep their
    answers by their arguments (:func:`engine.dialogue.choice.reject`), so done while the
    player reads the reply, the next prompt finds the newest line already checked. The older
    lines were checked by the turns before. Changes no result."""
    if not reply.strip():
        return
    persona = req.persona
    names = speaker_labels(env, req, ctx, reply_language(persona, player_text))
    redact = env.safety.redact
    choice.reject(
        redact(reply, persona), player_line=redact(req.text, persona), language=None, names=names
    )


def turn_grounding(
    req: TurnRequest, ctx: Context, text: str, player_name: str, lore: Sequence[Any]
) -> list[Ground]:
    """What the character remembers and knows that bears on ``text`` (see engine.dialogue.grounding)."""
    said = list(ctx.said)
    seen = set(said)
    # Older lines memory recalled for this one come first (oldest, so the window wins ties).
    older = [
        r.memory.text
        for r in sorted(ctx.recalled, key=lambda r: r.memory.created)
        if r.memory.speaker == req.player and r.memory.text not in seen
    ]
    knowledge = [*req.persona.knowledge, *(e.content for e in lore)]
    similarity = None
    if ctx.similarity:
        # A line without a vector yet (a lore entry with its macros filled in, a knowledge
        # line still being embedded) counts as average.
        known = [ctx.similarity.get(k.strip()) for k in knowledge]
        values = [v for v in known if v is not None]
        if values:
            mean = sum(values) / len(values)
            similarity = [mean if v is None else v for v in known]
    return ground(
        text,
        player=player_name,
        player_lines=[*older, *said],
        knowledge=knowledge,
        knowledge_similarity=similarity,
    )


def build_prompt(
    env: TurnEnv, req: TurnRequest, ctx: Context, text: str, context_size: int | None = None
) -> tuple[Prompt, list[str], list[Ground]]:
    """The prompt for ``text``, the names of the lore entries it used, and its grounding."""
    persona = req.persona
    settings = env.settings
    language = reply_language(persona, text)
    reply_tokens = persona.generation.max_tokens or settings.reply_tokens
    caps = env.backend.capabilities
    budget = max(256, (context_size or caps.context_size) - reply_tokens - 64)
    history = history_lines(env, req, ctx, language)
    recent_texts = [t.text for t in ctx.recent] + [text]
    player_name = speaker_label(env, req, ctx, req.player, language)
    lore = (
        env.lorebook(persona).select(
            recent_texts,
            budget_tokens=int(budget * settings.lore_share),
            macros={"char": persona.display_name(language), "user": player_name},
        )
        if persona.lore
        else []
    )
    present = [
        speaker_label(env, req, ctx, c, language)
        for c in (*req.scene_characters, *req.scene_players)
    ]
    grounding = turn_grounding(req, ctx, text, player_name, lore)
    prompt = assemble(
        persona,
        text,
        player_name=player_name,
        budget_tokens=budget,
        unseen=caps.unseen,
        lore=lore,
        memories=ctx.recalled,
        facts=ctx.facts,
        relationship=ctx.relationship if ctx.met else None,
        summary=ctx.summary,
        history=history,
        present=present,
        language=language,
        guard=env.safety.guard if env.safety.enabled else None,
        rules=env.safety.rules(language),
        grounding=grounding,
    )
    names = [e.name or e.content.strip()[:40] for e in lore]
    return prompt, names, grounding
