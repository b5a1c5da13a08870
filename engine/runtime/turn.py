"""One dialogue turn, end to end: perceive, recall, prompt, generate, parse, remember.

The pipeline runs as a coroutine on the runtime's event loop. SQLite work runs on the store's
own thread (:class:`StoreAccess`), model calls go through the backend under a per-backend
semaphore, and everything the game should know leaves through ``emit`` as events.

A ``say`` turn:

1. **input safety** (:class:`engine.runtime.safety_gate.SafetyGate`): a blocked topic ends the turn with an in-character
   refusal that never reaches the model; injection attempts are neutralised (and audited);
   personal information is redacted (per the combined world and character policy) before
   anything is stored;
2. **context** (one hop to the store thread): the player's name, whether they have met,
   recent turns, recalled memories, facts, relationship and the rolling summary; then the
   player's line is stored (in a group scene, for every character present);
3. **prompt** (:mod:`engine.runtime.prompting`): matching lore, then
   :func:`engine.dialogue.prompt.assemble` under the backend's budget;
4. **quota**: an optional meter reserves the question;
5. **generation**: streamed under first-token, stall and total timeouts; the
   :class:`~engine.dialogue.reply.ReplyStreamer` withholds the structured block and splits sentences;
   each sentence passes the output check before any event carries it (a blocked sentence is
   replaced by a refusal line and the reply stops there);
6. **parse**: emotion, actions and relationship change from the ``<meta>`` block, validated
   against the persona (problems become ``TurnWarning`` events);
7. **store** the reply and the relationship change, emit ``TurnDone``;
8. **after the reply**, in the background and never delaying ``TurnDone``
   (:func:`engine.runtime.analysis.after_turn`): importance, facts about the player, a relationship nudge, a rolling
   summary and a reflection when their thresholds pass (:class:`TurnSettings`), through
   ``complete_json`` on capable backends and :mod:`engine.dialogue.heuristics` otherwise.

A model failure or timeout ends the turn with ``TurnFailed`` and an in-character fallback line
from ``persona.boundaries.fallback_lines``; the scene keeps going.

Cancellation (the player walked away) ends the turn with ``TurnFailed('cancelled')``. The
player's line is kept however early that happens (even before the turn began to run, see
:func:`keep_cancelled_line`): they said it, the character heard it, and a player expects to be
remembered for it next time; only a line the input check blocks is never stored. Of the reply,
exactly what the player already saw is kept. A quota reservation is given back when the turn
is cancelled while reserving or generating (even if the reservation completes afterwards), and
once a reply has been shown in full its writes and usage are committed even if the cancel
arrives while they are being written.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, TypeVar

from engine.backends.base import Connecting, GenerationParams, Warming
from engine.dialogue import heuristics
from engine.dialogue.grounding import Ground
from engine.dialogue.prompt import Prompt
from engine.dialogue.reply import ParsedReply, parse_reply
from engine.errors import (
    BackendError,
    BackendTimeoutError,
    EngineError,
    InputTooLongError,
    QuotaExceededError,
    StoreError,
)
from engine.memory.store import MemoryStore
from engine.metering import Reservation
from engine.persona.model import Persona
from engine.runtime.analysis import TurnAnalysis, after_turn
from engine.runtime.env import (
    BACKGROUND,
    FOREGROUND,
    QUERY,
    WRITE,
    Context,
    StoreAccess,
    TurnEnv,
    TurnRequest,
    TurnSettings,
)
from engine.runtime.events import (
    FailureReason,
    Sentence,
    TextDelta,
    TurnDone,
    TurnFailed,
    TurnHandle,
    TurnResult,
    TurnStarted,
    TurnWarning,
)
from engine.runtime.generation import (
    EmptyReplyError,
    Generated,
    candidate_count,
    final_text,
    generate,
    generate_chosen,
    joiner,
    reply_params,
)
from engine.runtime.prompting import (
    build_prompt,
    speaker_labels,
    warm_history,
)
from engine.runtime.safety_gate import SafetyGate
from engine.runtime.semantics import Semantics, knowledge_texts
from engine.text.sentences import split_sentences
from engine.types import Action, Recalled, Relationship, Usage

__all__ = [
    "BACKGROUND",
    "FOREGROUND",
    "QUERY",
    "SafetyGate",
    "StoreAccess",
    "TurnAnalysis",
    "TurnEnv",
    "TurnRequest",
    "TurnSettings",
    "WRITE",
    "after_turn",
    "failure_reason",
    "fallback_line",
    "keep_cancelled_line",
    "preview_prompt",
    "run_say",
    "warm_prompt",
]

log = logging.getLogger(__name__)

T = TypeVar("T")

#: How many of the last turns are searched for what the player said about themselves.
SAID_WINDOW = 60

_DEFAULT_FALLBACK = {
    "en": "Sorry, I lost my train of thought. What were you saying?",
    "zh": "抱歉，我刚才走神了。您说什么？",
}


# ============================================================================================
# say


async def run_say(env: TurnEnv, req: TurnRequest) -> None:
    """Run one ``say`` turn and emit its events (see the module docs for the steps).

    Each step below is one phase; a phase that ends the turn (a refusal, a failure) emits the
    turn's last event itself and returns None.
    """
    req.emit(TurnStarted(req.handle.id, req.character, req.player, req.handle.kind))
    # 0. size: every cost below grows with the line, so a line over the cap goes no further
    if _refuse_oversize(env, req):
        return
    # The connection to the model server opens while the line is screened and the context
    # read (one a blocked line does not use waits in the pool for a later request).
    opening = env.backend.connect_ahead() if isinstance(env.backend, Connecting) else None
    # 1. input safety
    screened = await _screen(env, req)
    if screened is None:
        return
    prompt_text, stored_text = screened
    # 2. context; the player's line is stored once the request is out
    ctx = await _context(env, req, stored_text)
    line = _PlayerLine(env, req, stored_text)
    asyncio.get_running_loop().call_later(0.05, line)
    if opening is not None and not opening.done():
        # The prompt is built once the connection is up, so the request goes out as soon as
        # it is: in a burst of turns, a connection's steps would otherwise wait on the event
        # loop behind every other turn's prompt. (A failed opening is the request's to report.)
        try:
            await asyncio.wait([opening])
        except asyncio.CancelledError:
            line()  # the player walked away: the line was heard all the same
            raise
    # 3. prompt
    prompt, lore_names, grounding = build_prompt(env, req, ctx, prompt_text)
    params = reply_params(req.persona, env.settings)
    # 4. quota
    reserved = await _reserve(env, req, prompt, params, line)
    if reserved is None:
        return
    reservation = reserved.reservation
    # 5. generation
    policy = env.safety.policy(req.persona)
    gen = await _generate(env, req, ctx, prompt, params, policy, grounding, line, reservation)
    if gen is None:
        return
    # 6. parse
    parsed, text = _parse(req, gen, gated=policy is not None)
    # 7. store the reply, apply the relationship change
    result = await _remember(env, req, ctx, gen, parsed, text, line, reservation)
    _done(
        req,
        TurnResult(
            text=text,
            emotion=parsed.emotion,
            emotion_strength=parsed.emotion_strength,
            actions=parsed.actions,
            relationship_delta=result.delta,
            relationship=result.relationship,
            usage=result.usage,
            memories=ctx.recalled,
            lore=lore_names,
            sections={s.name: s.tokens for s in prompt.sections},
            backend=env.backend.name,
            fallback=gen.blocked,
            language=prompt.language,
            composed=gen.composed,
        ),
    )
    # 8. after the reply, in the background; then, while the player reads it, the next
    # prompt goes into a base model's cache
    if env.spawn is not None and ctx.turn_id is not None:
        env.spawn(_after_reply(env, req, ctx, prompt_text, text, parsed))


async def _after_reply(
    env: TurnEnv, req: TurnRequest, ctx: Context, player_text: str, reply: str, parsed: ParsedReply
) -> None:
    """What follows a reply: the analysis (:func:`after_turn`), the reply checked as the next
    prompt's history will check it (:func:`warm_history`), then :func:`warm_prompt`."""
    await after_turn(env, req, ctx, player_text, reply, parsed)
    warm_history(env, req, ctx, player_text, reply)
    await warm_prompt(env, req)


class _PlayerLine:
    """The player's line, written once: storing it is not on the way to the model, so it is
    queued once the request is out (at the first streamed chunk, 50 ms in, or when generation
    ends, whichever comes first). Calling it queues the write if it is not yet; its id follows."""

    def __init__(self, env: TurnEnv, req: TurnRequest, stored_text: str) -> None:
        self._env = env
        self._req = req
        self._text = stored_text
        self._written: Future[int | None] | None = None

    def __call__(self) -> Future[int | None]:
        if self._written is None:
            req, text = self._req, self._text
            self._written = self._env.store.submit(
                lambda s: _store_line(s, req, text), priority=WRITE, group=True
            )
        return self._written


@dataclass(frozen=True, slots=True)
class _Reserved:
    """What the quota phase holds: a reservation, or None without a meter."""

    reservation: Reservation | None


@dataclass(frozen=True, slots=True)
class _Remembered:
    """What storing the reply gave: the relationship after it, the change, the usage."""

    relationship: Relationship
    delta: dict[str, float]
    usage: Usage


def _refuse_oversize(env: TurnEnv, req: TurnRequest) -> bool:
    """End the turn (TurnFailed too_long) when the line or the player's name is over its cap."""
    too_long = oversize(env.settings, req)
    if too_long is None:
        return False
    text = req.text[: env.settings.max_line_chars]
    _fail(req, str(too_long), fallback_line(req.persona, text), too_long)
    return True


async def _screen(env: TurnEnv, req: TurnRequest) -> tuple[str, str] | None:
    """The line as the model sees it and as it is stored (redacted); None when the input
    check blocked it (the turn then ended with an in-character refusal)."""
    try:
        verdict = await _screen_input_moderated(env, req)
    except asyncio.CancelledError:
        # Cancelled while the moderation service was asked: the line was heard all the same
        # (unless the local check blocks it).
        keep_cancelled_line(env, req)
        raise
    if verdict is not None and not verdict.allowed:
        persona = req.persona
        emit_authored(
            req, verdict.text, persona.emotions.baseline, fallback=True, backend=env.backend.name
        )
        return None
    prompt_text = verdict.text if verdict is not None else req.text
    return prompt_text, env.safety.redact(req.text, req.persona)


async def _context(env: TurnEnv, req: TurnRequest, stored_text: str) -> Context:
    """What the turn needs from the store (one hop to its thread)."""
    settings = env.settings
    try:
        return await env.store.run(
            lambda s: _gather(
                s,
                req,
                stored_text,
                settings.recall_k,
                settings.history_lines,
                write=False,
                touch=True,
                semantics=env.semantics,
            ),
            priority=FOREGROUND,
        )
    except asyncio.CancelledError:
        # The player walked away right after speaking: the character still heard the line.
        env.store.submit(lambda s: _store_line(s, req, stored_text), priority=WRITE)
        raise


async def _reserve(
    env: TurnEnv, req: TurnRequest, prompt: Prompt, params: GenerationParams, line: _PlayerLine
) -> _Reserved | None:
    """The meter's reservation for the call (None inside without a meter); None when the
    player's quota is spent (the turn then ended with TurnFailed quota)."""
    meter = env.meter
    if meter is None:
        return _Reserved(None)
    # The reservation holds what the call may use, so concurrent turns count it too.
    hold = (prompt.tokens, params.max_tokens or env.settings.reply_tokens)
    model = str(getattr(env.backend, "model", "") or env.backend.name)
    reserving: Future[Any] = env.store.submit(
        lambda s: meter.reserve(
            req.player, prompt_tokens=hold[0], completion_tokens=hold[1], model=model
        ),
        priority=FOREGROUND,
    )
    try:
        return _Reserved(await asyncio.wrap_future(reserving))
    except QuotaExceededError as exc:
        line()
        _fail(req, f"quota: {exc}", fallback_line(req.persona, req.text), exc)
        return None
    except asyncio.CancelledError:
        # The reservation may be under way on the store thread (or made and not yet
        # seen here): give it back as soon as it exists.
        line()
        reserving.cancel()
        reserving.add_done_callback(functools.partial(_release_when_made, env))
        raise


async def _generate(
    env: TurnEnv,
    req: TurnRequest,
    ctx: Context,
    prompt: Prompt,
    params: GenerationParams,
    policy: Any,
    grounding: Sequence[Ground],
    line: _PlayerLine,
    reservation: Reservation | None,
) -> Generated | None:
    """The reply, streamed to the game; None when the model failed (the turn then ended with
    TurnFailed and a fallback line). The reservation is given back unless a reply came."""
    persona = req.persona
    shown = Generated()
    try:
        if candidate_count(env) > 1:
            gen = await generate_chosen(
                env, req, ctx, prompt, params, policy, grounding,
                names=speaker_labels(env, req, ctx, prompt.language or persona.languages[0]),
                fallback=fallback_line(persona, req.text),
                on_first_chunk=line, out=shown,
            )  # fmt: skip
        else:
            gen = await generate(env, req, prompt, params, policy, on_first_chunk=line, out=shown)
        if not gen.sentences and not gen.visible.strip():
            raise EmptyReplyError("the model gave an empty reply", provider=env.backend.name)
        return gen
    except (asyncio.CancelledError, EngineError) as exc:
        if reservation is not None:
            _release(env, reservation)  # the question was not answered
        if isinstance(exc, asyncio.CancelledError):
            _keep_shown(env, req, shown, line)
            raise
        log.warning("turn %s (%s -> %s) failed: %s", req.handle.id, req.character, req.player, exc)
        _fail(req, f"{type(exc).__name__}: {exc}", fallback_line(persona, req.text), exc)
        return None
    finally:
        line()


def _keep_shown(env: TurnEnv, req: TurnRequest, shown: Generated, line: _PlayerLine) -> None:
    """The player walked away mid-reply: what they already saw was said, and is stored."""
    partial = final_text(shown, gated=True)
    if not partial:
        return
    stored_partial = env.safety.redact(partial, req.persona)
    line()
    env.store.submit(
        lambda s: s.add_turns(
            turn_rows(req, speaker=req.character, text=stored_partial, importance=3.0)
        ),
        priority=WRITE,
    )


def _parse(req: TurnRequest, gen: Generated, *, gated: bool) -> tuple[ParsedReply, str]:
    """Emotion, actions and relationship change from the reply (problems become TurnWarning
    events), and the reply's final text."""
    persona = req.persona
    parsed = parse_reply(gen.raw, persona)
    if gen.blocked:
        parsed = ParsedReply(text="", emotion=persona.emotions.baseline, warnings=[])
    text = final_text(gen, gated=gated)
    for warning in parsed.warnings:
        req.emit(TurnWarning(req.handle.id, req.character, req.player, warning))
    if gen.truncated or gen.limited:
        req.emit(
            TurnWarning(req.handle.id, req.character, req.player, "reply cut at the length limit")
        )
    return parsed, text


async def _remember(
    env: TurnEnv,
    req: TurnRequest,
    ctx: Context,
    gen: Generated,
    parsed: ParsedReply,
    text: str,
    line: _PlayerLine,
    reservation: Reservation | None,
) -> _Remembered:
    """Store the reply and the relationship change, commit the usage; sets ``ctx.turn_id``.

    The reply was shown in full: a cancellation from here on must not lose its writes (the
    player's line, the reply, the usage committed against the reservation), so they are
    queued at once and awaited shielded.
    """
    usage = gen.usage or Usage(model=env.backend.name, estimated=True)
    stored_reply = env.safety.redact(text, req.persona)
    before = ctx.relationship
    line_id = line()
    reply_written = env.store.submit(
        lambda s: _store_reply(
            s, env, req, stored_reply, parsed.relationship_delta, reservation, usage
        ),
        priority=WRITE,
        group=reservation is None,  # the meter may write through a connection of its own
    )
    ctx.turn_id = await _written(line_id)
    rel = await _written(reply_written)
    delta = {
        k: round(getattr(rel, k) - getattr(before, k), 3)
        for k in ("affinity", "trust", "familiarity")
        if getattr(rel, k) != getattr(before, k)
    }
    return _Remembered(rel, delta, usage)


async def _written(future: Future[T]) -> T:
    """The outcome of a store write, which a cancellation of the turn does not stop.

    A write already done (the player's line, queued well before the reply ends) is read at
    once: wrapping it for the loop would cost a wake-up of the loop, a system call, per turn.
    """
    if future.done() and not future.cancelled():
        return future.result()
    return await asyncio.shield(asyncio.wrap_future(future))


async def _screen_input_moderated(env: TurnEnv, req: TurnRequest) -> Any:
    """:func:`_screen_input` with the moderation service's word on a line the local check
    allowed (when a moderator is configured)."""
    if env.safety.moderator is None:
        return _screen_input(env, req)
    local = env.safety.check_input(req.text, req.persona)
    verdict = await env.safety.moderate(local, env.safety.policy(req.persona), "input")
    _audit_input(env, req, verdict)
    return verdict


def _screen_input(env: TurnEnv, req: TurnRequest) -> Any:
    """The input check of a ``say`` line (a Verdict, or None with safety off); a blocked line
    and a neutralised injection attempt are put on record in the audit table."""
    verdict = env.safety.check_input(req.text, req.persona)
    _audit_input(env, req, verdict)
    return verdict


def _audit_input(env: TurnEnv, req: TurnRequest, verdict: Any) -> None:
    if verdict is not None and (not verdict.allowed or verdict.injection):
        env.store.submit(
            lambda s: env.safety.audit(s, req.character, req.player, "input", verdict, req.text),
            priority=BACKGROUND,
        )


def oversize(settings: TurnSettings, req: TurnRequest) -> InputTooLongError | None:
    """The error for a line or player name over its cap (message ``too_long: ...``), or None."""
    if len(req.text) > settings.max_line_chars:
        return InputTooLongError(
            f"too_long: the line is {len(req.text):,} characters; the limit is {settings.max_line_chars:,}",
            length=len(req.text),
            limit=settings.max_line_chars,
        )
    name = req.player_name or ""
    if len(name) > settings.max_name_chars:
        return InputTooLongError(
            f"too_long: the player name is {len(name):,} characters; the limit is {settings.max_name_chars:,}",
            length=len(name),
            limit=settings.max_name_chars,
        )
    return None


def keep_cancelled_line(env: TurnEnv, req: TurnRequest) -> None:
    """Store the line of a ``say`` turn cancelled before it began to run.

    What a player expects: a line they said was heard, however soon they walked away, so the
    character remembers it (redacted, as any stored line) unless the input check blocks it.
    :func:`run_say` does the same when cancelled at any later point.
    """
    if oversize(env.settings, req) is not None:
        return
    verdict = _screen_input(env, req)
    if verdict is not None and not verdict.allowed:
        return
    stored_text = env.safety.redact(req.text, req.persona)
    env.store.submit(lambda s: _store_line(s, req, stored_text), priority=WRITE)


def _release_when_made(env: TurnEnv, reserving: Future[Any]) -> None:
    """Give back a quota reservation that completed after its turn was cancelled."""
    if reserving.cancelled() or reserving.exception() is not None:
        return
    _release(env, reserving.result())


def _release(env: TurnEnv, reservation: Reservation) -> None:
    """Give a quota reservation back (the question was not answered)."""
    meter = env.meter
    if meter is not None:
        env.store.submit(lambda s: meter.release(reservation), priority=WRITE)


def _gather(
    store: MemoryStore,
    req: TurnRequest,
    stored_text: str,
    recall_k: int,
    history: int,
    *,
    write: bool = True,
    touch: bool = False,
    semantics: Semantics | None = None,
) -> Context:
    """What a turn needs from the store. ``write`` stores the player's line here; ``touch``
    marks the recalled memories as accessed now (no write of its own: the time goes to disk
    with the store's next write, which a turn's own line soon is)."""
    character, player = req.character, req.player
    if write:
        _store_name(store, req)
    name = req.player_name or store.player_name(player)
    met = store.has_met(character, player)
    recent = store.recent_turns(character, player, limit=history) if met and history > 0 else []
    # The player's own lines further back, which the reply is grounded on (what they told the
    # character sessions ago): plain text, cheaper to read than records.
    window = store.recent_lines(character, player, limit=SAID_WINDOW) if met else []
    said = [text for speaker, text in window if speaker == player]
    recalled = (
        store.recall(character, player, stored_text, k=recall_k, touch=write or touch)
        if met and stored_text.strip()
        else []
    )
    seen = {t.text for t in recent}
    recalled = [r for r in recalled if r.memory.text not in seen]
    facts = store.facts(character, player) if met else []
    rel = store.relationship(character, player, defaults=req.persona.relationship)
    summary = store.summary_text(character, player) if met else None
    labels = {}
    for turn in recent:
        if turn.speaker not in labels and turn.speaker != character:
            labels[turn.speaker] = store.player_name(turn.speaker) or turn.speaker
    turn_id = _store_line(store, req, stored_text) if write else None
    similarity = (
        semantics.similarity(stored_text, knowledge_texts(req.persona))
        if semantics is not None
        else {}
    )
    return Context(
        name, met, recent, recalled, facts, rel, summary, labels, turn_id, said, similarity
    )


def _store_name(store: MemoryStore, req: TurnRequest) -> None:
    if req.player_name and store.player_name(req.player) != req.player_name:
        store.set_player_name(req.player, req.player_name)


def _store_line(store: MemoryStore, req: TurnRequest, stored_text: str) -> int | None:
    """Store the player's line (for every witness); its id in this conversation."""
    _store_name(store, req)
    if not stored_text.strip():
        return None
    rows = turn_rows(
        req, speaker=req.player, text=stored_text, importance=heuristics.importance(stored_text)
    )
    return store.add_turns(rows)[0]


async def warm_prompt(env: TurnEnv, req: TurnRequest) -> None:
    """Load the prompt of the player's next line into a base model's cache, before it is said.

    The prompt is built as for a line not yet spoken: who the character is, what they know,
    how they talk and the conversation so far are what the next reply's prompt starts with,
    and a model that keeps its cache then evaluates only the new line when it comes. Called
    while the player reads the greeting or a reply; skipped while another reply is on the way
    (its conversation keeps the cache). Only for backends that can
    (:class:`engine.backends.base.Warming`) and sample several candidates from a transcript
    (a base model); a failure is logged and changes nothing.
    """
    backend = env.backend
    if not isinstance(backend, Warming) or candidate_count(env) < 2:
        return
    if env.generating:
        return  # another turn's reply is on the way: its conversation keeps the cache
    try:
        ctx = await env.store.run(
            lambda s: _gather(
                s, req, "", env.settings.recall_k, env.settings.history_lines, write=False
            ),
            priority=BACKGROUND,
        )
        prompt, _lore, _grounding = build_prompt(env, req, ctx, "")
        await backend.warm(prompt)
    except EngineError as exc:
        log.info("warming %s's prompt for %s failed: %s", req.character, req.player, exc)


def preview_prompt(
    store: MemoryStore,
    persona: Persona,
    player: str,
    text: str,
    *,
    personas: Mapping[str, Persona] | None = None,
    player_name: str | None = None,
    context_size: int = 8192,
    settings: TurnSettings | None = None,
    safety: bool = True,
) -> tuple[Prompt, list[Recalled]]:
    """The prompt a ``say`` turn would send now, and the memories it recalled; writes nothing.

    For ``npc prompt`` and debugging panels. Runs on the calling thread (give it its own store).
    """
    from engine.backends.scripted import ScriptedBackend

    env = TurnEnv(
        backend=ScriptedBackend(),
        store=None,  # type: ignore[arg-type]  # not used to build a prompt
        semaphore=asyncio.Semaphore(),
        personas=personas or {persona.id: persona},
        settings=settings or TurnSettings(),
        safety=SafetyGate(enabled=safety),
    )
    handle = TurnHandle(persona.id, player, text)
    req = TurnRequest(
        handle=handle, persona=persona, text=text, emit=lambda _event: None, player_name=player_name
    )
    verdict = env.safety.check_input(text, persona)
    prompt_text = verdict.text if verdict is not None else text
    stored = env.safety.redact(text, persona)
    ctx = _gather(
        store, req, stored, env.settings.recall_k, env.settings.history_lines, write=False
    )
    prompt, _lore, _grounding = build_prompt(env, req, ctx, prompt_text, context_size=context_size)
    return prompt, ctx.recalled


def turn_rows(
    req: TurnRequest, *, speaker: str, text: str, importance: float
) -> list[dict[str, Any]]:
    """The turn rows for one line: this conversation first, then every witness's."""
    present = req.present
    rows = [
        {"character": req.character, "player": req.player, "speaker": speaker, "text": text,
         "present": present, "importance": importance}
    ]  # fmt: skip
    for other_player in req.scene_players:
        rows.append({**rows[0], "player": other_player})
    for other in req.scene_characters:
        for player in (req.player, *req.scene_players):
            rows.append({**rows[0], "character": other, "player": player})
    return rows


def _store_reply(
    store: MemoryStore,
    env: TurnEnv,
    req: TurnRequest,
    text: str,
    delta: Mapping[str, float],
    reservation: Any,
    usage: Usage,
) -> Relationship:
    if text.strip():
        store.add_turns(
            turn_rows(req, speaker=req.character, text=text, importance=heuristics.importance(text))
        )
    rel = store.adjust_relationship(
        req.character,
        req.player,
        affinity=delta.get("affinity", 0.0),
        trust=delta.get("trust", 0.0),
        familiarity=1.0 + delta.get("familiarity", 0.0),
        reason="reply",
        defaults=req.persona.relationship,
    )
    if reservation is not None and env.meter is not None:
        try:
            env.meter.commit(
                reservation, usage, character=req.character, model=usage.model or env.backend.name
            )
        except EngineError:
            log.exception("could not record usage for turn %s", req.handle.id)
    return rel


def emit_authored(
    req: TurnRequest,
    text: str,
    emotion: str,
    *,
    fallback: bool,
    backend: str,
    actions: Sequence[Action] = (),
    relationship: Relationship | None = None,
    language: str | None = None,
) -> TurnResult:
    h = req.handle
    shown = ""
    for index, sentence in enumerate(split_sentences(text)):
        req.emit(TextDelta(h.id, h.character, h.player, joiner(shown, sentence) + sentence))
        shown += joiner(shown, sentence) + sentence
        req.emit(Sentence(h.id, h.character, h.player, sentence, index))
    result = TurnResult(
        text=shown,
        emotion=emotion,
        emotion_strength=0.5,
        actions=list(actions),
        relationship=relationship,
        backend=backend,
        fallback=fallback,
        language=language,
    )
    _done(req, result)
    return result


def _done(req: TurnRequest, result: TurnResult) -> None:
    h = req.handle
    req.emit(TurnDone(h.id, h.character, h.player, result))


def _fail(req: TurnRequest, error: str, fallback: str, exc: EngineError) -> None:
    h = req.handle
    req.emit(TurnFailed(h.id, h.character, h.player, error, fallback, failure_reason(exc), exc))


def failure_reason(exc: BaseException) -> FailureReason:
    """The :data:`~engine.runtime.events.FailureReason` of a turn that raised ``exc``."""
    if isinstance(exc, QuotaExceededError):
        return FailureReason.QUOTA
    if isinstance(exc, InputTooLongError):
        return FailureReason.TOO_LONG
    if isinstance(exc, BackendTimeoutError):
        return FailureReason.TIMEOUT
    if isinstance(exc, BackendError):
        return FailureReason.BACKEND
    if isinstance(exc, StoreError):
        return FailureReason.STORE
    return FailureReason.INTERNAL


def fallback_line(persona: Persona, key: str) -> str:
    """An in-character line for when the model fails (picked deterministically from ``key``)."""
    line = heuristics.choose_line(persona.boundaries.fallback_lines, key)
    if line:
        return line
    return _DEFAULT_FALLBACK["zh" if persona.languages[0].startswith("zh") else "en"]
