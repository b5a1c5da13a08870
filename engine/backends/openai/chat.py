"""Any OpenAI-compatible provider: streaming, timeouts, retries, structured output.

(Embeddings and moderation: :mod:`engine.backends.openai.services`, importable from here too.)

The ``openai`` package does the HTTP; this module decides everything around it, so the game
never sees a raw ``openai`` or ``httpx`` exception:

- timeouts: ``connect`` (TCP/TLS), ``first_token`` (request sent to first streamed delta),
  ``idle`` (between deltas) and ``total`` (the whole call, retries included);
- retries: the client's own retries are off (``max_retries=0``); this loop retries 429, 5xx,
  refused connections, connect and first-token timeouts, and streams that break before any
  text reached the caller, with exponential backoff and jitter, honouring ``Retry-After``,
  and logs each decision;
- errors: mapped into :mod:`engine.errors` with provider, model, status and request id;
- cancellation: cancelling the consuming task (or ``aclose()`` on the stream) closes the
  HTTP response at once;
- structured output: ``json_schema`` where the provider supports it, otherwise
  ``json_object`` with the schema in the prompt; the reply is validated with pydantic and
  repaired once.

Example::

    backend = OpenAIBackend(preset="deepseek")          # key from DEEPSEEK_API_KEY
    async for chunk in backend.stream(prompt):
        print(chunk.text, end="")
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import random
import re
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable
from typing import Any, Literal, TypeVar

import httpx2
import openai
from pydantic import BaseModel, ValidationError

from engine.backends.base import Capabilities, Chunk, GenerationParams
from engine.backends.openai.client import TemplatedClient
from engine.backends.openai.retry import (
    MAX_REPLY_BODY,
    NO_KEY,
    Failure,
    PerLoop,
    ReplyTooLarge,
    Retries,
    RetryPolicy,
    Timeouts,
    map_error,
    read_capped,
)

# The embedder and the moderator live in their own module; importable from here as before.
from engine.backends.openai.services import OpenAIEmbedder, OpenAIModerator
from engine.backends.openai.transport import LeanTransport, ReadDeadline, lean_transport_applies
from engine.backends.presets import PRESETS, Preset
from engine.backends.render import chat_messages, render_transcript, transcript_stops
from engine.dialogue.prompt import Prompt
from engine.errors import (
    AuthenticationError,
    BackendError,
    BackendTimeoutError,
    BadRequestError,
    StreamError,
    StructuredOutputError,
)
from engine.text.tokens import estimate_tokens
from engine.types import Usage, reported_count

__all__ = ["OpenAIBackend", "OpenAIEmbedder", "OpenAIModerator", "RetryPolicy", "Timeouts"]

log = logging.getLogger(__name__)

T = TypeVar("T", bound=BaseModel)

_SHARD_SIZE = 32
"""Most requests one HTTP client (one connection pool) carries at once; more open another.

httpx looks through every connection of a pool on each request and each release, so one pool
of hundreds of connections spends quadratic time on a burst; small pools keep that flat."""


class _Lease:
    """One request's claim on a client of a :class:`_ClientPool`."""

    __slots__ = ("_load", "_index", "client", "_released")

    def __init__(self, load: list[int], index: int, client: openai.AsyncOpenAI) -> None:
        self._load = load
        self._index = index
        self.client = client
        self._released = False

    def release(self) -> None:
        if not self._released:
            self._released = True
            self._load[self._index] -= 1


class _ClientPool:
    """Clients of one event loop; each request goes to the least busy one.

    A lone conversation always uses the first client (and its kept-alive connection); a burst
    opens another client for every :data:`_SHARD_SIZE` requests in flight.
    """

    def __init__(
        self, factory: Callable[[], openai.AsyncOpenAI], *, shard_size: int | None = _SHARD_SIZE
    ) -> None:
        self._factory = factory
        self._shard = shard_size if shard_size is not None else 2**62
        self._clients: list[openai.AsyncOpenAI] = []
        self._load: list[int] = []

    def lease(self) -> _Lease:
        load = self._load
        best = -1
        for index, busy in enumerate(load):
            if busy < self._shard and (best < 0 or busy < load[best]):
                best = index
                if busy == 0:
                    break
        if best < 0:
            self._clients.append(self._factory())
            load.append(0)
            best = len(load) - 1
        load[best] += 1
        return _Lease(load, best, self._clients[best])

    async def aclose(self) -> None:
        clients, self._clients, self._load = self._clients, [], []
        for client in clients:
            await client.close()


async def _drain(events: AsyncIterator[Any]) -> None:
    """Read what follows ``[DONE]`` (the end of the chunked body), briefly.

    An HTTP/1.1 connection goes back to the pool only when its response was read to the end;
    closing it half-read costs a new connection (and a server thread or task) per request.
    """
    try:
        async with asyncio.timeout(0.1):
            async for _ in events:
                pass
    except Exception:  # noqa: BLE001 (the reply is complete; only the connection is lost)
        log.debug("draining a finished stream failed", exc_info=True)


class _UnexpectedEvent(Exception):
    """A streamed event that is well-formed JSON but not a chunk (an error object)."""


#: Longest line of a server-sent event stream, and longest event (its data lines joined).
MAX_SSE_LINE = 1024 * 1024
MAX_SSE_EVENT = 4 * 1024 * 1024


async def _sse_batches(chunks: AsyncIterable[bytes]) -> AsyncIterator[list[str]]:
    """The ``data`` of the server-sent events in a byte stream (multi-line data joined), as a
    list per piece of bytes: the events that piece completed.

    Comments, ``event:``, ``id:`` and ``retry:`` fields are skipped; the bytes may split
    anywhere, even inside a UTF-8 sequence. A line over :data:`MAX_SSE_LINE` bytes or an event
    over :data:`MAX_SSE_EVENT` raises :class:`ReplyTooLarge`; the unfinished line is kept in a
    bytearray searched only where new bytes arrived, so a stream costs time linear in its size.
    """
    pending = bytearray()
    data: list[bytes] = []
    held = 0
    async for chunk in chunks:
        searched = len(pending)
        pending += chunk
        if pending.find(b"\n", searched) < 0:
            if len(pending) > MAX_SSE_LINE:
                raise ReplyTooLarge(f"an event stream line is over the limit of {MAX_SSE_LINE} bytes")
            continue
        cut = pending.rfind(b"\n") + 1
        lines = bytes(pending[:cut]).split(b"\n")
        lines.pop()  # the empty piece after the last newline
        del pending[:cut]
        if len(pending) > MAX_SSE_LINE:
            raise ReplyTooLarge(f"an event stream line is over the limit of {MAX_SSE_LINE} bytes")
        batch: list[str] = []
        for line in lines:
            if line.endswith(b"\r"):
                line = line[:-1]
            if not line:
                if data:
                    batch.append(b"\n".join(data).decode("utf-8"))
                    data = []
                    held = 0
            elif line.startswith(b"data:"):
                value = line[5:]
                if len(value) > MAX_SSE_LINE:
                    raise ReplyTooLarge(f"an event stream line is over the limit of {MAX_SSE_LINE} bytes")
                held += len(value)
                if held > MAX_SSE_EVENT:
                    raise ReplyTooLarge(f"an event is over the limit of {MAX_SSE_EVENT} bytes")
                data.append(value[1:] if value.startswith(b" ") else value)
        if batch:
            yield batch
    if pending.startswith(b"data:"):
        value = bytes(pending[5:]).rstrip(b"\r")
        data.append(value[1:] if value.startswith(b" ") else value)
    if data:
        yield [b"\n".join(data).decode("utf-8")]


class _FormatRefused(Exception):
    """The server refused the request's ``response_format`` (not worth a retry)."""

    def __init__(self, error: BackendError) -> None:
        super().__init__(str(error))
        self.error = error


def _refuses_format(error: BackendError) -> bool:
    """Whether a failed request was refused for its ``response_format`` (HTTP 400/422/500 whose
    message names it, as llama.cpp's server and OpenAI-compatible proxies answer)."""
    text = str(error).lower()
    return error.status_code in (400, 422, 500) and (
        "response_format" in text or "json_schema" in text or "response format" in text
    )


def _response_format(
    structured: str, name: str, json_schema: dict[str, Any]
) -> dict[str, Any] | None:
    """The ``response_format`` for a structured-output form (None for plain text)."""
    if structured == "json_schema":
        return {
            "type": "json_schema",
            "json_schema": {"name": name[:64], "schema": json_schema, "strict": False},
        }
    if structured == "json_object":
        return {"type": "json_object"}
    return None


def _json_transcript(prompt: Prompt, extra: list[dict[str, Any]]) -> str:
    """A base-model prompt for a JSON answer: the transcript, the instruction, then ``JSON:``.

    Earlier attempts and their corrections (a repair round) appear as ``JSON:`` lines and notes.
    """
    head = render_transcript(prompt).rsplit("\n", 1)[0]  # without the trailing "Character:"
    lines = [head, ""]
    for message in extra:
        if message["role"] == "assistant":
            lines.append(f"JSON: {message['content']}")
        else:
            lines.append(str(message["content"]))
    lines.append("JSON:")
    return "\n".join(lines)


def _extract_json(text: str) -> str:
    """The JSON object in a reply, without code fences or chatter around it."""
    stripped = text.strip()
    fence = re.search(r"```(?:json)?\s*(.*?)```", stripped, re.DOTALL)
    if fence:
        stripped = fence.group(1).strip()
    start, end = stripped.find("{"), stripped.rfind("}")
    if start != -1 and end > start:
        return stripped[start : end + 1]
    return stripped


class OpenAIBackend:
    """A backend for any OpenAI-compatible endpoint, chosen by preset or by ``base_url``.

    ``preset`` names an entry of :data:`PRESETS` (or is a :class:`Preset`); ``model``,
    ``base_url`` and ``api_key`` override it (the key otherwise comes from the preset's
    environment variable). ``mode`` forces chat or completion rendering; ``extra_body`` adds
    fields to every request; ``rng`` makes the backoff jitter reproducible. ``transport``
    chooses how the bytes travel: ``"lean"`` (the default) is the engine's own HTTP/1.1
    transport (:mod:`engine.backends.openai.transport`), a fraction of httpx's event-loop cost per request
    and per streamed chunk; ``"httpx"`` is httpx's. The lean transport does not speak to
    proxies or HTTP/2: with a proxy set in the environment for the endpoint, httpx's is used.

    Example::

        backend = OpenAIBackend(preset="ollama", model="qwen2.5:3b")
        reply = await backend.complete_json(prompt, Mood)
    """

    def __init__(
        self,
        *,
        preset: Preset | str | None = None,
        model: str | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        mode: Literal["chat", "completion"] | None = None,
        structured: Literal["json_schema", "json_object", "none"] | None = None,
        extra_body: dict[str, Any] | None = None,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        context_size: int | None = None,
        rng: random.Random | None = None,
        transport: Literal["lean", "httpx"] = "lean",
    ) -> None:
        if isinstance(preset, str):
            if preset not in PRESETS:
                raise BadRequestError(
                    f"unknown provider preset {preset!r}; known: {', '.join(sorted(PRESETS))}"
                )
            preset = PRESETS[preset]
        if preset is None:
            preset = Preset(
                name="custom",
                label="OpenAI-compatible server",
                base_url=base_url or "http://localhost:8000/v1",
                key_env=None,
                key_required=False,
                default_model=model or "default",
            )
        self.preset = preset
        self.model = model or preset.default_model
        self.base_url = base_url or preset.resolved_base_url()
        key = api_key or preset.api_key()
        if not key and preset.key_required:
            raise AuthenticationError(
                f"no API key: set {preset.key_env} or pass api_key=",
                provider=preset.name,
                model=self.model,
            )
        self._api_key = key or NO_KEY
        self.mode: Literal["chat", "completion"] = mode or preset.mode
        self.structured: Literal["json_schema", "json_object", "none"] = (
            structured or preset.structured
        )
        self.extra_body = {**preset.extra_body, **(extra_body or {})}
        self.timeouts = timeouts or Timeouts()
        self.retry = retry or RetryPolicy()
        self._rng = rng or random.Random()
        if transport not in ("lean", "httpx"):
            raise BadRequestError(f"unknown transport {transport!r}; use 'lean' or 'httpx'")
        self.transport: Literal["lean", "httpx"] = (
            "lean" if transport == "lean" and lean_transport_applies(self.base_url) else "httpx"
        )
        self._capabilities = Capabilities(
            kind="model",
            mode=self.mode,
            structured=self.structured,
            context_size=context_size or preset.context_size,
            streamed_usage=preset.stream_usage,
        )
        self._clients: PerLoop[_ClientPool] = PerLoop()
        self.last_usage: Usage | None = None

    # -- identity --------------------------------------------------------------------------

    @property
    def name(self) -> str:
        """``provider:model``, e.g. ``deepseek:deepseek-chat``."""
        return f"{self.preset.name}:{self.model}"

    @property
    def capabilities(self) -> Capabilities:
        """The preset's capabilities, with any overrides given here."""
        return self._capabilities

    def _pool(self) -> _ClientPool:
        return self._clients.get(self._new_pool)

    def _new_pool(self) -> _ClientPool:
        t = self.timeouts
        timeout = openai.Timeout(
            timeout=t.total, connect=t.connect, read=max(t.first_token, t.idle), pool=t.connect
        )
        # Loading the trust store takes tens of milliseconds: once per loop, not per client.
        tls = httpx2.create_ssl_context()
        http_client: Callable[[], httpx2.AsyncClient]
        shard: int | None = _SHARD_SIZE
        if self.transport == "lean":
            # One client: the lean transport has no per-connection cost on each request.
            shared = openai.DefaultAsyncHttpxClient(
                timeout=timeout, transport=LeanTransport(ssl_context=tls, keepalive_expiry=5.0)
            )
            http_client, shard = (lambda: shared), None
        else:
            limits = httpx2.Limits(
                max_connections=None, max_keepalive_connections=_SHARD_SIZE, keepalive_expiry=5.0
            )
            http_client = lambda: openai.DefaultAsyncHttpxClient(  # noqa: E731
                timeout=timeout, verify=tls, limits=limits
            )
        return _ClientPool(
            lambda: TemplatedClient(
                api_key=self._api_key,
                base_url=self.base_url,
                max_retries=0,
                timeout=timeout,
                http_client=http_client(),
            ),
            shard_size=shard,
        )

    # -- request building ------------------------------------------------------------------

    def _body(self, prompt: Prompt, params: GenerationParams, *, stream: bool) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model}
        if self.mode == "chat":
            body["messages"] = chat_messages(prompt, names=self.preset.message_names)
            stops = [*prompt.stop, *params.stop]
        else:
            body["prompt"] = render_transcript(prompt)
            stops = transcript_stops(prompt, params)
        limit = self.preset.max_stop if self.preset.max_stop is not None else 4
        if stops:
            body["stop"] = list(dict.fromkeys(stops))[:limit]
        if params.temperature is not None:
            low, high = self.preset.temperature_range
            body["temperature"] = min(high, max(low, params.temperature))
        for field in ("top_p", "seed", "presence_penalty", "frequency_penalty"):
            value = getattr(params, field)
            if value is not None:
                body[field] = value
        if params.max_tokens is not None:
            body[self.preset.token_limit_field if self.mode == "chat" else "max_tokens"] = (
                params.max_tokens
            )
        if stream:
            body["stream"] = True
            if self.preset.stream_usage:
                body["stream_options"] = {"include_usage": True}
        if self.extra_body:
            body.update(self.extra_body)
        return body

    @property
    def _path(self) -> str:
        return "/chat/completions" if self.mode == "chat" else "/completions"

    # -- retries ---------------------------------------------------------------------------

    def _retries(self, what: str) -> Retries:
        """The attempts of one call, within ``timeouts.total`` (see :class:`RetryPolicy`)."""
        return Retries(
            self.retry,
            self._rng,
            budget=self.timeouts.total,
            settle=0.05,
            decided=functools.partial(self._log_decision, what),
        )

    def _log_decision(
        self, what: str, attempt: int, failure: Failure, delay: float | None
    ) -> None:
        error = failure.error
        hint = f", retry-after {failure.retry_after:g}s" if failure.retry_after is not None else ""
        if delay is None:
            log.warning(
                "%s %s failed on attempt %d, giving up: %s%s", self.name, what, attempt, error, hint
            )
        else:
            log.info(
                "%s %s failed on attempt %d/%d (%s%s); retrying in %.2fs",
                self.name, what, attempt, self.retry.max_retries + 1, error, hint, delay,
            )  # fmt: skip

    # -- streaming -------------------------------------------------------------------------

    async def stream(
        self, prompt: Prompt, params: GenerationParams | None = None
    ) -> AsyncIterator[Chunk]:
        """Stream the reply; the last chunk carries usage (the provider's, or estimated).

        Failures before the first text are retried; after text has reached the caller a broken
        stream raises :class:`~engine.errors.StreamError` (retrying would repeat the text).
        """
        params = params or GenerationParams()
        body = self._body(prompt, params, stream=True)
        started = time.perf_counter()
        retries = self._retries("stream")
        while True:
            deadline = retries.start()
            delivered = False
            try:
                async for chunk in self._attempt_stream(body, prompt, deadline, started):
                    delivered = delivered or bool(chunk.text)
                    yield chunk
                return
            except Failure as failure:
                if delivered:
                    failure.retryable = False
                await retries.after(failure)

    async def _attempt_stream(
        self, body: dict[str, Any], prompt: Prompt, deadline: float, started: float
    ) -> AsyncIterator[Chunk]:
        loop = asyncio.get_running_loop()
        pool = self._pool()
        first_deadline = min(deadline, loop.time() + self.timeouts.first_token)
        phase = "connect"
        request_id: str | None = None
        response: Any = None
        watch: ReadDeadline | None = None
        lease = pool.lease()
        try:
            try:
                async with asyncio.timeout_at(first_deadline):
                    # The body goes out as built and the raw response comes back: the SSE lines
                    # are parsed here into plain dicts, a fraction of the cost of the typed
                    # request transform and a pydantic model per chunk (status errors are still
                    # raised by the client, as openai errors).
                    response = await lease.client.post(
                        self._path, cast_to=httpx2.Response, body=body, stream=True
                    )
                    request_id = response.headers.get("x-request-id")
            except TimeoutError as exc:
                raise self._timeout("no response", exc, request_id) from exc
            except Exception as exc:  # noqa: BLE001 (no foreign exception may reach the caller)
                raise map_error(
                    exc, provider=self.preset.name, model=self.model, phase=phase
                ) from exc
            phase = "stream"
            # Undecoded bytes straight from the transport when the body is not compressed (SSE
            # seldom is): two layers less per chunk than aiter_raw().
            encoded = response.headers.get("content-encoding", "identity") != "identity"
            raw = response.stream
            if encoded or not isinstance(raw, httpx2.AsyncByteStream):
                raw = response.aiter_bytes()
            batches = _sse_batches(raw)
            usage: dict[str, int] | None = None
            finish: str | None = None
            parts: list[str] = []
            ttft: float | None = None
            seen_delta = False
            chat = self.mode == "chat"
            idle = self.timeouts.idle
            watch = ReadDeadline(first_deadline)
            finished = False
            while not finished:
                limit = first_deadline if not seen_delta else min(deadline, loop.time() + idle)
                try:
                    if not watch.begin(limit):
                        raise TimeoutError
                    try:
                        batch = await anext(batches)
                    except asyncio.CancelledError as exc:
                        if watch.expired_by(exc):
                            raise TimeoutError from None
                        raise
                    finally:
                        watch.end()
                except StopAsyncIteration:
                    break
                except TimeoutError as exc:
                    if limit >= deadline:
                        what = "reply not finished"
                    elif not seen_delta:
                        what = "no first token"
                    else:
                        what = "stream went silent"
                    failure = self._timeout(what, exc, request_id)
                    failure.retryable = not seen_delta
                    raise failure from exc
                except Exception as exc:  # noqa: BLE001 (no foreign exception may reach the caller)
                    raise self._with_id(
                        map_error(exc, provider=self.preset.name, model=self.model, phase=phase),
                        request_id,
                    ) from exc
                # The events of one read go to the caller as one chunk: when the loop falls
                # behind (many streams at once) it catches up in fewer, larger steps.
                texts: list[str] = []
                broken: Failure | None = None
                for data in batch:
                    if data.startswith("[DONE]"):
                        finished = True
                        break
                    try:
                        event = self._event(data, request_id)
                    except Failure as failure:
                        broken = failure
                        break
                    reported = event.get("usage")
                    if isinstance(reported, dict):
                        counts = (
                            reported_count(reported.get("prompt_tokens") or 0),
                            reported_count(reported.get("completion_tokens") or 0),
                        )
                        if counts[0] is not None and counts[1] is not None:
                            usage = {"prompt_tokens": counts[0], "completion_tokens": counts[1]}
                        else:  # insane counts: the estimate stands (see Usage)
                            log.warning("%s reported unusable usage %r", self.name, reported)
                    choices = event.get("choices")
                    if not choices:
                        continue
                    choice = choices[0]
                    if chat:
                        delta = choice.get("delta") or {}
                        text = delta.get("content") or ""
                        thinking = delta.get("reasoning_content")
                    else:
                        text, thinking = choice.get("text") or "", None
                    if text or thinking:
                        seen_delta = True
                    if choice.get("finish_reason"):
                        finish = choice["finish_reason"]
                    if ttft is None and not chat and not texts:
                        text = text.lstrip()  # the space after "Character:" in the transcript
                    if text:
                        texts.append(text)
                if texts:
                    if ttft is None:
                        ttft = (time.perf_counter() - started) * 1000
                    text = "".join(texts)
                    parts.append(text)
                    yield Chunk(text=text)
                if broken is not None:
                    raise broken
            if finished:
                await _drain(batches)
            if finish is None and not parts:
                error = StreamError(
                    "stream ended before any reply", provider=self.preset.name, model=self.model
                )
                error.request_id = request_id
                raise Failure(error, retryable=True)
            if finish is None:
                log.warning(
                    "%s stream ended without a finish reason (request %s)", self.name, request_id
                )
            text_out = "".join(parts)
            self.last_usage = Usage(
                prompt_tokens=usage["prompt_tokens"] if usage else prompt.tokens,
                completion_tokens=usage["completion_tokens"]
                if usage
                else estimate_tokens(text_out),
                model=self.model,
                latency_ms=(time.perf_counter() - started) * 1000,
                ttft_ms=ttft,
                estimated=usage is None,
            )
            yield Chunk(text="", usage=self.last_usage, finish_reason=finish or "incomplete")
        finally:
            lease.release()
            if watch is not None:
                watch.close()
            if response is not None:
                # Closing the response releases the connection; on cancellation this is what
                # stops the provider generating (and billing) the rest of the reply.
                try:
                    await response.aclose()
                except Exception:  # noqa: BLE001 (a failed close must not mask the outcome)
                    log.debug("closing the stream of %s failed", self.name, exc_info=True)

    def _event(self, data: str, request_id: str | None) -> dict[str, Any]:
        """One streamed event's JSON object; a :class:`Failure` if it is not a chunk."""
        try:
            event = json.loads(data)
        except ValueError as exc:  # json.JSONDecodeError, or a number too long
            failure = map_error(exc, provider=self.preset.name, model=self.model, phase="stream")
            raise self._with_id(failure, request_id) from exc
        error = event.get("error") if isinstance(event, dict) else None
        if isinstance(event, dict) and not error:
            return event
        if error:
            message = error.get("message") if isinstance(error, dict) else None
            what = "provider sent an error in the stream: " + (
                message if isinstance(message, str) and message else str(error)
            )
        else:
            what = f"unexpected event in stream: {data[:80]}"
        stream_error = StreamError(
            what, provider=self.preset.name, model=self.model, request_id=request_id
        )
        raise Failure(stream_error, retryable=True) from _UnexpectedEvent(what)

    def _timeout(self, what: str, exc: BaseException, request_id: str | None) -> Failure:
        error = BackendTimeoutError(
            f"{what} within the time allowed",
            provider=self.preset.name,
            model=self.model,
            request_id=request_id,
        )
        return Failure(error, retryable=True)

    @staticmethod
    def _with_id(failure: Failure, request_id: str | None) -> Failure:
        if failure.error.request_id is None and request_id is not None:
            failure.error.request_id = request_id
        return failure

    # -- plain completions and structured output -------------------------------------------

    async def _complete_text(
        self, prompt: Prompt, params: GenerationParams, response_format: dict[str, Any] | None,
        extra: list[dict[str, Any]] | None = None,
    ) -> str:  # fmt: skip
        """One non-streamed reply; ``extra`` messages follow the prompt's (instructions, repairs)."""
        body = self._body(prompt, params, stream=False)
        if extra and self.mode == "chat":
            body["messages"] = [*body["messages"], *extra]
        if response_format is not None and self.mode == "chat":
            body["response_format"] = response_format
        if extra and self.mode == "completion":
            body["prompt"] = _json_transcript(prompt, extra)
            body["stop"] = ["\n\n"]
        pool = self._pool()

        async def op(deadline: float) -> str:
            started = time.perf_counter()
            # A whole reply arrives at once: no byte comes before it is done, so the read
            # limit is what is left of the total, not the streaming first-token limit.
            remaining = max(0.001, deadline - asyncio.get_running_loop().time())
            connect = min(self.timeouts.connect, remaining)
            limits = openai.Timeout(timeout=remaining, connect=connect, pool=connect)
            lease = pool.lease()
            client = lease.client
            try:
                async with asyncio.timeout_at(deadline):
                    response = await client.post(
                        self._path,
                        cast_to=httpx2.Response,
                        body=body,
                        options={"timeout": limits},
                        stream=True,
                    )
                    try:
                        reply = json.loads(await read_capped(response, MAX_REPLY_BODY))
                    finally:
                        await response.aclose()
                choices = reply.get("choices") if isinstance(reply, dict) else None
                if not isinstance(choices, list):
                    raise _UnexpectedEvent(f"reply without choices: {str(reply)[:80]}")
                first = choices[0] if choices else {}
                if self.mode == "chat":
                    text = (first.get("message") or {}).get("content")
                else:
                    text = first.get("text")
            except _UnexpectedEvent as exc:
                error = BackendError(str(exc), provider=self.preset.name, model=self.model)
                raise Failure(error, retryable=True) from exc
            except TimeoutError as exc:
                raise self._timeout("no reply", exc, None) from exc
            except Exception as exc:  # noqa: BLE001 (no foreign exception may reach the caller)
                failure = map_error(
                    exc, provider=self.preset.name, model=self.model, phase="request"
                )
                if response_format is not None and _refuses_format(failure.error):
                    # The server does not take this response_format: asking again will not
                    # change its mind (complete_json moves to the next form instead).
                    raise _FormatRefused(failure.error) from exc
                raise failure from exc
            finally:
                lease.release()
            usage = reply.get("usage")
            if isinstance(usage, dict):
                counted = reported_count(usage.get("prompt_tokens") or 0)
                made = reported_count(usage.get("completion_tokens") or 0)
                self.last_usage = Usage(
                    prompt_tokens=prompt.tokens if counted is None else counted,
                    completion_tokens=estimate_tokens(text or "") if made is None else made,
                    model=self.model,
                    latency_ms=(time.perf_counter() - started) * 1000,
                    estimated=counted is None or made is None,
                )
            return text or ""

        return await self._retries("completion").run(op)

    async def complete(self, prompt: Prompt, params: GenerationParams | None = None) -> str:
        """The whole reply at once (no streaming), with the same timeouts and retries."""
        return await self._complete_text(prompt, params or GenerationParams(), None)

    async def complete_json(
        self, prompt: Prompt, schema: type[T], params: GenerationParams | None = None
    ) -> T:
        """A reply validated against ``schema``; one repair round if the first does not validate.

        Raises :class:`~engine.errors.StructuredOutputError` (with the raw text) if the repaired
        reply still does not validate.
        """
        params = params or GenerationParams()
        json_schema = schema.model_json_schema()
        instruction = (
            "Reply with a single JSON object only, no other text. It must match this JSON schema:\n"
            + json.dumps(json_schema, ensure_ascii=False)
        )
        messages: list[dict[str, Any]] = [{"role": "system", "content": instruction}]
        while True:
            response_format = _response_format(self.structured, schema.__name__, json_schema)
            try:
                raw = await self._complete_text(prompt, params, response_format, messages)
                break
            except _FormatRefused as refused:
                self._downgrade(refused.error)
        try:
            return schema.model_validate_json(_extract_json(raw))
        except ValidationError as exc:
            problem = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'reply'}: {e['msg']}" for e in exc.errors()[:5]
            )
        log.info(
            "%s structured reply did not validate (%s); asking for a repair", self.name, problem
        )
        repair = [
            *messages,
            {"role": "assistant", "content": raw},
            {
                "role": "user",
                "content": f"That reply was not valid ({problem}). Send the corrected JSON object only.",
            },
        ]
        fixed = await self._complete_text(prompt, params, response_format, repair)
        try:
            return schema.model_validate_json(_extract_json(fixed))
        except ValidationError as exc:
            raise StructuredOutputError(
                f"reply does not match {schema.__name__} after one repair: {exc.errors()[0]['msg']}",
                raw=fixed,
                provider=self.preset.name,
                model=self.model,
            ) from exc

    def _downgrade(self, error: BackendError) -> None:
        """The server refused the structured form: use the next one from now on."""
        weaker: dict[str, Literal["json_object", "none"]] = {
            "json_schema": "json_object",
            "json_object": "none",
        }
        if self.structured == "none":
            raise error
        before, self.structured = self.structured, weaker[self.structured]
        self._capabilities = self._capabilities.model_copy(update={"structured": self.structured})
        log.info(
            "%s refused response_format %s (HTTP %s); using %s from now on",
            self.name,
            before,
            error.status_code,
            self.structured if self.structured != "none" else "plain text with repair",
        )

    async def aclose(self) -> None:
        """Close the HTTP clients this backend opened on the running loop (others are dropped)."""
        await self._clients.aclose(_ClientPool.aclose)
