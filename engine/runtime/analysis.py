"""After the reply: importance, facts about the player, relationship, summary and reflection.

Runs in the background once ``TurnDone`` is out (see :func:`after_turn`), through
``complete_json`` on capable backends and :mod:`engine.dialogue.heuristics` otherwise; whatever the
model leaves empty, the heuristics fill.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from engine.backends.base import GenerationParams
from engine.dialogue import heuristics
from engine.dialogue.prompt import Message, Prompt, Section
from engine.dialogue.reply import ParsedReply
from engine.errors import EngineError
from engine.memory.store import MemoryStore
from engine.persona.model import Persona
from engine.runtime.env import BACKGROUND
from engine.types import MemoryRecord, Summary, TurnRecord

if TYPE_CHECKING:
    from engine.runtime.env import Context, TurnEnv, TurnRequest

__all__ = ["Reflection", "SummaryText", "TurnAnalysis", "after_turn"]

log = logging.getLogger(__name__)


class ExtractedFactModel(BaseModel):
    """A fact about the player, as the model reports it."""

    predicate: str = Field(description="A short relation: 'likes', 'comes from', 'sister'.")
    object: str = Field(description="What the relation points at: 'sailing', 'Leeds'.")
    confidence: float = Field(0.7, ge=0, le=1)


class TurnAnalysis(BaseModel):
    """What the model reads out of the player's line after a reply."""

    importance: int = Field(
        5, ge=1, le=10, description="How memorable the player's line is, 1..10."
    )
    facts: list[ExtractedFactModel] = Field(
        default_factory=list, description="Facts the player stated about themselves."
    )
    player_name: str | None = Field(None, description="The name the player gave, if they gave one.")
    affinity: float = Field(
        0, ge=-5, le=5, description="How the line changes the character's liking, -5..5."
    )
    trust: float = Field(
        0, ge=-5, le=5, description="How the line changes the character's trust, -5..5."
    )


class SummaryText(BaseModel):
    """A rolling summary of a conversation."""

    summary: str = Field(description="The summary, at most a short paragraph.")


class Reflection(BaseModel):
    """Higher-level insights a character draws about a player."""

    insights: list[str] = Field(default_factory=list, description="Up to three short insights.")


def _task_prompt(persona: Persona, player: str, task: str, body: str) -> Prompt:
    return Prompt(
        sections=(
            Section.system("task", task),
            Section.of("input", [Message(role="user", content=body, name=player)]),
        ),
        character=persona.name,
        player=player,
        persona=persona,
    )


async def _ask(env: TurnEnv, prompt: Prompt, schema: type[BaseModel]) -> Any:
    """complete_json for background work; None on failure or overload (heuristics follow).

    Dialogue comes first: the call waits (up to ``background_yield`` seconds) until no reply
    is being generated, runs at most ``background_calls`` at a time, and is skipped when more
    than ``background_backlog`` calls are already waiting.
    """
    settings = env.settings
    if env.background_waiting >= settings.background_backlog:
        log.info("background %s skipped: %d calls waiting", schema.__name__, env.background_waiting)
        return None
    if env.background_semaphore is None:
        env.background_semaphore = asyncio.Semaphore(max(1, settings.background_calls))
    env.background_waiting += 1
    try:
        if env.generating:
            try:
                await asyncio.wait_for(env.quiet.wait(), settings.background_yield)
            except TimeoutError:
                pass
        async with env.background_semaphore, env.semaphore:
            async with asyncio.timeout(settings.analysis_timeout):
                return await env.backend.complete_json(
                    prompt, schema, GenerationParams(temperature=0.2)
                )
    except (EngineError, TimeoutError) as exc:
        log.info("background %s fell back to heuristics: %s", schema.__name__, exc)
        return None
    finally:
        env.background_waiting -= 1


async def after_turn(
    env: TurnEnv, req: TurnRequest, ctx: Context, player_text: str, reply: str, parsed: ParsedReply
) -> None:
    """Importance, facts, relationship, summary and reflection, after ``TurnDone`` was emitted.

    Thresholds (see :class:`TurnSettings`): a summary once ``summary_every`` older lines are
    outside it (the last ``summary_keep_recent`` stay verbatim); a reflection once the
    importance of observations since the last reflection sums to ``reflect_at``.
    """
    persona = req.persona
    name = ctx.name or req.player_name or req.player
    analysis: TurnAnalysis | None = None
    if env.capable and heuristics.importance(player_text) > 2:
        task = (
            f"Read the line {name} just said to {persona.name} and answer in JSON: importance 1-10 "
            "(how memorable for a friend), facts the speaker states about THEMSELVES (predicate, object), "
            "the name they gave if any, and how it changes liking (affinity) and trust, each -5..5."
        )
        analysis = await _ask(env, _task_prompt(persona, name, task, player_text), TurnAnalysis)

    found = heuristics.extract_facts(player_text)
    if analysis is not None:
        importance: float | None = float(analysis.importance)
        facts = _merge_facts(analysis, found)
        nudge = {"affinity": analysis.affinity, "trust": analysis.trust}
    else:
        importance = None  # the heuristic score was stored with the line
        facts = found
        nudge = heuristics.sentiment(player_text)
    if not heuristics.statements(player_text):
        facts = []  # a question is never a fact about the player, whatever the model read into it
    if parsed.relationship_delta:
        nudge = {}  # the model already said how the reply changed things
    settings = env.settings

    def write(
        store: MemoryStore,
    ) -> tuple[list[TurnRecord], Summary | None, list[MemoryRecord] | None]:
        character, player = req.character, req.player
        if importance is not None and ctx.turn_id is not None:
            for memory in store.memories(character, player, limit=8):
                if ctx.turn_id in memory.turn_ids:
                    store.set_importance(memory.id, importance)
        subject = store.player_name(player) or name
        for fact in sorted(
            facts, key=lambda f: f.predicate != "name"
        ):  # the name first: it is the subject
            if fact.predicate == "name":
                if fact.confidence >= 0.9 or not store.player_name(player):
                    store.set_player_name(player, fact.object)
                    subject = fact.object
                continue
            source = [ctx.turn_id] if ctx.turn_id is not None else []
            store.add_fact(character, player, subject, fact.predicate, fact.object,
                           confidence=fact.confidence, source_turns=source)  # fmt: skip
        if any(nudge.values()):
            store.adjust_relationship(character, player, affinity=nudge.get("affinity", 0.0),
                                      trust=nudge.get("trust", 0.0), reason="after reply",
                                      defaults=persona.relationship)  # fmt: skip
        pending = store.unsummarised_turns(
            character,
            player,
            keep_recent=settings.summary_keep_recent,
            limit=max(settings.summary_batch, settings.summary_every),
        )
        summary = store.summary(character, player)
        recent = store.memories(character, player, limit=200)
        since = 0.0
        for memory in recent:
            if memory.kind == "reflection":
                break
            if memory.kind in ("observation", "event"):
                since += memory.importance
        reflect = recent if since >= settings.reflect_at else None
        if store.embedder is not None:
            store.embed_pending(limit=64, player=player)
        return (pending if len(pending) >= settings.summary_every else []), summary, reflect

    pending, summary, reflect = await env.store.run(write, priority=BACKGROUND)
    if pending:
        await _summarise(env, req, name, pending, summary)
    if reflect is not None:
        await _reflect(env, req, name, reflect)


def _merge_facts(
    analysis: TurnAnalysis, found: Sequence[heuristics.ExtractedFact]
) -> list[heuristics.ExtractedFact]:
    """The model's facts and name, then what the heuristics found that the model did not say.

    A small model often answers with valid but empty JSON; its silence must not erase a name
    or a fact the heuristics read plainly in the line. For the same relation (``predicate``)
    the model's answer wins.
    """
    facts = [
        heuristics.ExtractedFact(f.predicate, f.object, f.confidence)
        for f in analysis.facts
        if f.predicate.strip() and f.object.strip()
    ]
    if analysis.player_name and analysis.player_name.strip():
        facts.append(heuristics.ExtractedFact("name", analysis.player_name.strip(), 0.9))
    said = {f.predicate.strip().casefold() for f in facts}
    facts.extend(f for f in found if f.predicate.strip().casefold() not in said)
    return facts


def _speaker(env: TurnEnv, req: TurnRequest, speaker: str, name: str) -> str:
    if speaker == req.player:
        return name
    persona = env.personas.get(speaker)
    return persona.name if persona else speaker


async def _summarise(
    env: TurnEnv, req: TurnRequest, name: str, pending: list[TurnRecord], previous: Summary | None
) -> None:
    lines = [(_speaker(env, req, t.speaker, name), t.text) for t in pending]
    text: str | None = None
    if env.capable:
        body = (f"Earlier summary: {previous.text}\n\n" if previous else "") + "\n".join(
            f"{s}: {t}" for s, t in lines
        )
        task = (
            f"Summarise this conversation between {req.persona.name} and {name} in at most five sentences, "
            "keeping names, promises, facts about the people and anything to follow up."
        )
        answer = await _ask(env, _task_prompt(req.persona, name, task, body), SummaryText)
        text = answer.summary.strip() if answer is not None and answer.summary.strip() else None
    if text is None:
        text = heuristics.summarise(lines, previous.text if previous else None)
    covered = sorted({*(previous.turn_ids if previous else []), *(t.id for t in pending)})
    final = text
    await env.store.run(
        lambda s: s.set_summary(req.character, req.player, final, covered), priority=BACKGROUND
    )


async def _reflect(env: TurnEnv, req: TurnRequest, name: str, memories: list[MemoryRecord]) -> None:
    recent = [m for m in memories if m.kind in ("observation", "event")][:30]
    insights: list[str] = []
    if env.capable:
        body = "\n".join(f"- {m.text}" for m in reversed(recent))
        task = (
            f"You are {req.persona.name}. From these memories of {name}, write up to three short insights "
            f"about {name} (who they are, what they care about, how you get on)."
        )
        answer = await _ask(env, _task_prompt(req.persona, name, task, body), Reflection)
        if answer is not None:
            insights = [i.strip() for i in answer.insights[:3] if i.strip()]
    if not insights:
        top = sorted(recent, key=lambda m: (-m.importance, -m.id))[:3]
        if top:
            joined = "; ".join(m.text.strip() for m in top)
            insights = [f"What stands out about {name}: {joined}"]
    ids = [i for m in recent for i in m.turn_ids]

    def write(store: MemoryStore) -> None:
        for insight in insights:
            store.add_memory(
                req.character, req.player, insight, kind="reflection", importance=7.0, turn_ids=ids
            )

    if insights:
        await env.store.run(write, priority=BACKGROUND)
