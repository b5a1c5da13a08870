"""Generating a reply: streamed sentence by sentence through the output check, or sampled.

A chat model's (or scripted) reply streams: :func:`generate` reads the backend, shows each
complete sentence once the output check passes it, and ends at markup or another speaker's
label. A base model's reply is sampled: :func:`generate_chosen` draws a few candidates without
showing them (side by side when the backend can, :class:`~engine.backends.base.Sampling`),
shows the best (:mod:`engine.dialogue.choice`), or says a line composed from what
the character remembers or knows when none names what was asked. The turn pipeline
(:mod:`engine.runtime.turn`) decides which, and stores what was shown.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.backends.base import Chunk, GenerationParams, Sampling
from engine.dialogue import choice
from engine.dialogue.grounding import Ground, acknowledge, compose, speakable
from engine.dialogue.prompt import Prompt
from engine.dialogue.reply import ReplyStreamer, StreamPiece
from engine.errors import BackendError, BackendTimeoutError
from engine.persona.model import Persona
from engine.runtime.env import BACKGROUND, Context, TurnEnv, TurnRequest, TurnSettings
from engine.runtime.events import Sentence, TextDelta
from engine.text.script import is_cjk
from engine.text.sentences import split_sentences
from engine.types import Usage

__all__ = [
    "EmptyReplyError",
    "Generated",
    "candidate_count",
    "final_text",
    "generate",
    "generate_chosen",
    "joiner",
    "opened",
    "reply_params",
]

log = logging.getLogger(__name__)

#: A candidate's opening is complete at the end of the sentence that reaches this many
#: characters (a Chinese character counts three): enough to judge what it says.
OPENING_CHARS = 40
#: The character's own recent lines a candidate may not say again.
OWN_LINES = 4
#: Tokens an opening may take: a sentence or two is a dozen or so; one with no end by then
#: rambles, and sampled side by side the turn would wait for it (the batch's slowest).
OPENING_TOKENS = 48
#: Tokens the chosen opening's continuation may take.
REST_TOKENS = 96
#: Candidates added to ``TurnSettings.candidates`` when the line asks about something the
#: character remembers or knows (sampling still stops at the first that names it).
EXTRA_WHEN_ASKED = 2


@dataclass
class Generated:
    """What a reply generation produced: the sentences shown, the text, usage and flags."""

    sentences: list[str] = field(default_factory=list)
    visible: str = ""
    usage: Usage | None = None
    blocked: bool = False
    limited: bool = False
    raw: str = ""
    truncated: bool = False
    composed: bool = False
    cut: bool = False
    """Stopped after its opening (the model had more to say)."""


class EmptyReplyError(BackendError):
    """The model said nothing usable."""


def reply_params(persona: Persona, settings: TurnSettings) -> GenerationParams:
    """The persona's sampling settings for one reply."""
    g = persona.generation
    return GenerationParams(
        temperature=g.temperature,
        top_p=g.top_p,
        max_tokens=g.max_tokens or settings.reply_tokens,
        seed=g.seed,
        presence_penalty=g.presence_penalty,
        frequency_penalty=g.frequency_penalty,
    )


def candidate_count(env: TurnEnv) -> int:
    """Candidates to sample per reply: several from a base model (or a replay of one, which
    then serves the recorded candidates), one from a chat model or scripted lines."""
    caps = env.backend.capabilities
    if caps.kind in ("model", "replay") and caps.mode == "completion":
        return max(1, env.settings.candidates)
    return 1


def candidate_params(
    params: GenerationParams, index: int, *, tokens: int = REST_TOKENS
) -> GenerationParams:
    """The first candidate as the persona asks; later ones warmer and with other seeds; at
    most ``tokens`` long."""
    update: dict[str, Any] = {"max_tokens": min(params.max_tokens or tokens, tokens)}
    if index:
        base = params.temperature if params.temperature is not None else 0.5
        update["temperature"] = round(min(1.0, base + 0.2 * index), 2)
        update["seed"] = (params.seed if params.seed is not None else 7919) + index
    return params.model_copy(update=update)


async def generate_chosen(
    env: TurnEnv,
    req: TurnRequest,
    ctx: Context,
    prompt: Prompt,
    params: GenerationParams,
    policy: Any,
    grounding: Sequence[Ground],
    *,
    names: Sequence[str],
    fallback: str,
    on_first_chunk: Callable[[], object] | None,
    out: Generated,
) -> Generated:
    """Sample up to ``settings.candidates`` openings without showing them, show the best, then
    let the model finish it.

    Each candidate stops after its opening (its first sentence or two, see :func:`opened`), so
    choosing costs a few short samples rather than whole replies. A candidate that
    :func:`engine.dialogue.choice.reject` rules out is dropped; the first that names what the
    question asks about (what the character remembers or knows) ends the sampling. A backend
    that samples side by side (:class:`~engine.backends.base.Sampling`) draws them all at once
    when a line asks or tells news, each judged as its opening completes. The chosen
    opening is shown at once; the model then continues it (``Prompt.lead``) and each further
    sentence is shown while :func:`engine.dialogue.choice.follows` accepts it. When no
    candidate names what was asked, a line composed from that memory or knowledge is said
    instead (``composed``); when no candidate passes at all and there is nothing to compose
    from, the persona's fallback line. Nothing rejected is shown or stored.
    """
    persona = req.persona
    # A small model copies its own earlier lines (a greeting most of all, or a question it
    # asked two turns ago): none of the character's last few may be said again.
    own_lines = [t.text for t in ctx.recent if t.speaker == req.character][-OWN_LINES:]
    best: tuple[choice.Rated, Generated, int] | None = None
    usage = [0, 0]
    count = candidate_count(env)
    answers = any(g.asked and speakable(g, prompt.language) for g in grounding)
    if count > 1 and answers:
        # Openings are short: a question about what the character remembers or knows gets a
        # few more tries before the answer is composed for the model.
        count += EXTRA_WHEN_ASKED

    def consider(index: int, candidate: Generated) -> bool:
        """Rate a candidate's opening (and the same turned to the player); keep the best.
        Whether the best so far is good enough to stop sampling."""
        nonlocal best
        _count(candidate, usage, index, req)
        text = choice.trim(candidate.visible, persona.style.max_reply_sentences)
        turned = choice.to_player(text, grounding, prompt.player)
        for option in (text, turned):
            if option is None:
                continue
            rated = choice.rate(
                option, question=req.text, grounding=grounding, player=prompt.player,
                language=prompt.language, names=names, own_lines=own_lines,
            )  # fmt: skip
            log.debug("candidate %d for turn %s: %r -> %s", index, req.handle.id, option, rated)
            if rated is not None and (best is None or rated.score > best[0].score):
                chosen = Generated(visible=option, raw=candidate.raw, usage=candidate.usage)
                chosen.cut = candidate.cut
                best = (rated, chosen, index)
        return best is not None and best[0].good

    # Side by side when the first opening seldom passes: a line that asks what the character
    # remembers or knows, or tells news to take in. Small talk's first opening mostly does, and
    # one alone is quicker than a batch.
    if (
        count > 1
        and isinstance(env.backend, Sampling)
        and (answers or any(g.heard and speakable(g, prompt.language) for g in grounding))
    ):
        await _sample_together(env, req, prompt, params, policy, count, on_first_chunk, consider)
    else:
        for index in range(count):
            candidate = Generated()
            await generate(
                env, req, prompt, candidate_params(params, index, tokens=OPENING_TOKENS), policy,
                on_first_chunk=on_first_chunk, out=candidate, quiet=True, opening=True,
            )  # fmt: skip
            on_first_chunk = None
            if consider(index, candidate):
                break
    model_said = best is not None and (best[0].grounded >= choice.GROUNDED or not answers)
    # What the player has just told about themselves: a reply that says it as the character's
    # own ("I'm a beekeeper." to a beekeeper) gives way to taking it in. (One that only talks
    # past it stays: said back whole, the news reads as an echo of the player's line.)
    heard = [g for g in grounding if g.heard and speakable(g, prompt.language)]
    # (and one that only asks it back, "你喜欢龙井吗？", shows it was not heard)
    owns = best is not None and (best[0].owns or best[0].asks_back)
    if best is not None and model_said and not (heard and owns):
        text = best[1].visible.strip()
    else:
        # What the player has just told is news to take in, not a memory to say back.
        kept = [g for g in grounding if not g.heard]
        asked = [g for g in grounding if g.asked] or heard or (kept if best is None else [])
        asked = [g for g in asked if speakable(g, prompt.language)]
        if asked:
            text = compose(
                asked[0],
                language=prompt.language,
                pronouns=persona.pronouns,
                names=[persona.name, *persona.names.values()],
            )
            if asked[0].heard and choice.parrots(text, req.text):
                # the news said back would be the player's line again: taken in without it
                text = acknowledge(asked[0], prompt.language)
        else:
            text = fallback
        out.composed = True
    await show(env, req, _pieces(split_sentences(text), ""), out, policy)
    shown = final_text(out, gated=True)
    if best is not None and model_said and best[1].cut and not out.blocked and not out.limited:
        room = persona.style.max_reply_sentences - len(split_sentences(text))
        if room > 0:
            more = await _continue(
                env, req, prompt, candidate_params(params, best[2]), policy, shown, usage,
                room=room, grounding=grounding, names=names, own_lines=own_lines,
            )  # fmt: skip
            if more:
                await show(env, req, _pieces(more, shown), out, policy)
                shown = final_text(out, gated=True)
    out.raw = shown
    out.visible = shown
    last = best[1].usage if best is not None and best[1].usage is not None else None
    out.usage = Usage(
        prompt_tokens=usage[0],
        completion_tokens=usage[1],
        model=last.model if last else env.backend.name,
        latency_ms=last.latency_ms if last else 0.0,
        ttft_ms=last.ttft_ms if last else None,
    )
    return out


async def _sample_together(
    env: TurnEnv,
    req: TurnRequest,
    prompt: Prompt,
    params: GenerationParams,
    policy: Any,
    count: int,
    on_first_chunk: Callable[[], object] | None,
    consider: Callable[[int, Generated], bool],
) -> None:
    """``count`` candidates' openings sampled side by side by a backend that can
    (:class:`~engine.backends.base.Sampling`), each handed to ``consider`` as it is complete;
    once ``consider`` finds one good enough, the rest are stopped (as one after another would
    have stopped at it)."""
    backend = env.backend
    assert isinstance(backend, Sampling)
    each = [candidate_params(params, index, tokens=OPENING_TOKENS) for index in range(count)]
    sources = backend.stream_several(prompt, each)
    first = [on_first_chunk]

    def began() -> None:
        call, first[0] = first[0], None
        if call is not None:
            call()

    async def sample(index: int) -> tuple[int, Generated]:
        out = Generated()
        await generate(
            env, req, prompt, each[index], policy, on_first_chunk=began, out=out, quiet=True,
            opening=True, source=sources[index],
        )  # fmt: skip
        return index, out

    waiting = {asyncio.ensure_future(sample(index)) for index in range(count)}
    try:
        while waiting:
            finished, waiting = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            # in the order they were asked for, as one after another would have seen them
            for index, out in sorted((task.result() for task in finished), key=lambda r: r[0]):
                if consider(index, out):
                    return
    finally:
        for task in waiting:
            task.cancel()
        if waiting:
            await asyncio.gather(*waiting, return_exceptions=True)
        for source in sources:
            closer = getattr(source, "aclose", None)
            if closer is not None:
                with contextlib.suppress(Exception):
                    await closer()


def _pieces(sentences: Sequence[str], before: str) -> list[StreamPiece]:
    """Deltas and sentences for ``sentences`` shown after the text ``before``."""
    pieces: list[StreamPiece] = []
    shown = before
    for sentence in sentences:
        pieces.append(StreamPiece("delta", joiner(shown, sentence) + sentence))
        pieces.append(StreamPiece("sentence", sentence))
        shown += joiner(shown, sentence) + sentence
    return pieces


def _count(gen: Generated, usage: list[int], index: int, req: TurnRequest) -> None:
    if gen.usage is None:
        return
    usage[0] += gen.usage.prompt_tokens
    usage[1] += gen.usage.completion_tokens
    log.debug(
        "candidate %d for turn %s: %d prompt tokens, %d generated, first token %.0f ms, "
        "%.0f ms in all", index, req.handle.id, gen.usage.prompt_tokens,
        gen.usage.completion_tokens, gen.usage.ttft_ms or 0.0, gen.usage.latency_ms,
    )  # fmt: skip


async def _continue(
    env: TurnEnv,
    req: TurnRequest,
    prompt: Prompt,
    params: GenerationParams,
    policy: Any,
    shown: str,
    usage: list[int],
    *,
    room: int,
    grounding: Sequence[Ground],
    names: Sequence[str],
    own_lines: Sequence[str] = (),
) -> list[str]:
    """The sentences the model adds after the opening it was chosen for (at most ``room``);
    none that nearly repeats one of the reply's or of the character's recent lines (a small
    model copies its last line, a greeting most of all)."""
    rest = Generated()
    lead = prompt.model_copy(update={"lead": shown})
    try:
        await generate(env, req, lead, params, policy, out=rest, quiet=True)
    except BackendError as exc:  # the opening was said; the rest is a bonus
        log.info("continuing turn %s failed: %s", req.handle.id, exc)
        return []
    _count(rest, usage, -1, req)
    more: list[str] = []
    for sentence in split_sentences(rest.visible)[:room]:
        if sentence[-1:] not in ".!?。！？…\"”'」":
            break  # cut off mid-sentence
        if sentence[0].islower() and sentence[0].isascii():
            sentence = sentence[0].upper() + sentence[1:]
        if not choice.follows(
            sentence, said=[*own_lines, shown, *more], question=req.text, grounding=grounding,
            player=prompt.player, language=prompt.language, names=names,
        ):  # fmt: skip
            break
        more.append(sentence)
    log.debug("continued turn %s: %r -> %r", req.handle.id, rest.visible, more)
    return more


async def generate(
    env: TurnEnv,
    req: TurnRequest,
    prompt: Prompt,
    params: GenerationParams,
    policy: Any,
    *,
    on_first_chunk: Callable[[], object] | None = None,
    out: Generated | None = None,
    quiet: bool = False,
    opening: bool = False,
    source: AsyncIterator[Chunk] | None = None,
) -> Generated:
    persona = req.persona
    # Another speaker's label ends the reply wherever it appears, not only after a line break.
    labels = [prompt.player]
    for other in env.personas.values():
        if other.id != persona.id:
            labels.extend((other.name, *other.names.values()))
    stops = [*prompt.stop, *(s.lstrip("\n") for s in prompt.stop)]
    stops += [f"{label}{sep}" for label in labels if label for sep in (":", "：")]
    streamer = ReplyStreamer(
        names=[persona.name, *persona.names.values(), prompt.character],
        max_chars=persona.style.max_reply_chars,
        stops=stops,
    )
    out = out if out is not None else Generated()
    env.generating += 1
    env.quiet.clear()
    try:
        return await stream_reply(
            env, req, prompt, params, policy, streamer, out, on_first_chunk, quiet=quiet,
            opening=opening, source=source,
        )  # fmt: skip
    finally:
        env.generating -= 1
        if env.generating == 0:
            env.quiet.set()


async def stream_reply(
    env: TurnEnv,
    req: TurnRequest,
    prompt: Prompt,
    params: GenerationParams,
    policy: Any,
    streamer: ReplyStreamer,
    out: Generated,
    on_first_chunk: Callable[[], object] | None,
    *,
    quiet: bool = False,
    opening: bool = False,
    source: AsyncIterator[Chunk] | None = None,
) -> Generated:
    """Stream one reply through ``streamer``; ``quiet`` keeps it (for a choice) without showing it.

    ``opening``: stop once the reply's opening is complete (:func:`opened`), marking it ``cut``.
    ``source``: the reply's stream when it was begun already (one of several sampled side by
    side); otherwise the backend's :meth:`~engine.backends.base.Backend.stream`.
    """
    settings = env.settings
    loop = asyncio.get_running_loop()
    async with env.semaphore:
        start = loop.time()
        deadline = start + settings.total_timeout
        agen = source if source is not None else env.backend.stream(prompt, params)
        got_text = False
        stall = settings.stall_timeout
        slack = min(1.0, 0.05 * stall)
        try:
            async with asyncio.timeout_at(
                min(deadline, start + settings.first_token_timeout)
            ) as timer:
                stop = False
                async for chunk in agen:
                    if on_first_chunk is not None:
                        on_first_chunk()
                        on_first_chunk = None
                    if chunk.usage is not None:
                        out.usage = chunk.usage
                    if chunk.text:
                        got_text = True
                        # Moved on only when it would fall within stall_timeout of now, to a
                        # little beyond (so a chunk seldom costs a timer): a stall is caught
                        # between stall_timeout and stall_timeout + slack after the last text.
                        now = loop.time()
                        when = timer.when() or deadline
                        if when < deadline and when < now + stall:
                            timer.reschedule(min(deadline, now + stall + slack))
                        pieces = streamer.feed(chunk.text)
                        stop = False if quiet else await show(env, req, pieces, out, policy)
                        if (
                            stop or streamer.stopped
                        ):  # blocked, at the limit, or the next speaker's turn
                            break
                        if opening and opened(streamer):
                            out.cut = True  # the rest is asked for once this one is chosen
                            break
                if not stop:
                    pieces = streamer.close()
                    if not quiet:
                        await show(env, req, pieces, out, policy)
        except TimeoutError as exc:
            what = (
                "no text before the first-token timeout"
                if not got_text
                else "the reply stalled or ran too long"
            )
            raise BackendTimeoutError(what, provider=env.backend.name) from exc
        finally:
            closer = getattr(agen, "aclose", None)
            if closer is not None:
                try:
                    await closer()
                except Exception:  # a backend's close must not turn a reply into a failure
                    log.debug("closing the stream failed", exc_info=True)
    out.raw = streamer.raw
    out.visible = streamer.visible
    if out.cut:
        out.visible = ""
        for sentence in streamer.sentences:
            out.visible += joiner(out.visible, sentence) + sentence
    out.truncated = streamer.truncated
    return out


def opened(streamer: ReplyStreamer) -> bool:
    """Whether a candidate's opening is complete: a whole sentence and enough to judge it by
    (at least :data:`OPENING_CHARS` characters, a third of that in Chinese)."""
    if not streamer.sentences:
        return False
    text = "".join(streamer.sentences)
    weight = sum(3 if is_cjk(c) else 1 for c in text)
    return weight >= OPENING_CHARS


def joiner(previous: str, sentence: str) -> str:
    """What goes between ``previous`` text and the next ``sentence``: a space, or nothing in CJK."""
    if not previous:
        return ""
    if is_cjk(previous[-1]) or (sentence and is_cjk(sentence[0])):
        return ""
    return " "


async def show(
    env: TurnEnv, req: TurnRequest, pieces: Sequence[Any], out: Generated, policy: Any
) -> bool:
    """Emit what may be shown of ``pieces``; True when the reply must stop here."""
    h = req.handle
    for piece in pieces:
        if piece.kind == "delta":
            if policy is None:
                req.emit(TextDelta(h.id, h.character, h.player, piece.text))
            continue
        sentence = piece.text
        stop = False
        if policy is not None:
            verdict = env.safety.check_output(sentence, policy, sum(len(s) for s in out.sentences))
            if env.safety.moderator is not None:
                verdict = await env.safety.moderate(verdict, policy, "output")
            assert verdict is not None  # a policy means the checks are on
            if not verdict.allowed:
                audit = functools.partial(
                    env.safety.audit, character=h.character, player=h.player, direction="output",
                    verdict=verdict, excerpt=sentence,
                )  # fmt: skip
                env.store.submit(audit, priority=BACKGROUND)
                out.blocked = True
                stop = True
            elif verdict.category == "length":
                out.limited = True
                stop = True
            sentence = verdict.text.strip()
            if sentence:
                previous = out.sentences[-1] if out.sentences else ""
                req.emit(
                    TextDelta(h.id, h.character, h.player, joiner(previous, sentence) + sentence)
                )
        if sentence:
            req.emit(Sentence(h.id, h.character, h.player, sentence, len(out.sentences)))
            out.sentences.append(sentence)
        if stop:
            return True
    return False


def final_text(gen: Generated, *, gated: bool) -> str:
    """The reply's text as the player saw it (only the sentences the output check passed)."""
    if not gated:
        return gen.visible.strip()
    text = ""
    for sentence in gen.sentences:
        text += joiner(text, sentence) + sentence
    return text
