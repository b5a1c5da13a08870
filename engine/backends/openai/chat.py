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
  ``json_object`` with the schema in the prompt, or plain text, learned on the server's first
  refusal (:mod:`engine.backends.openai.structured`); the reply is validated with pydantic
  and repaired once.

Example::

    backend = OpenAIBackend(preset="deepseek")          # key from DEEPSEEK_API_KEY
    async for chunk in backend.stream(prompt):
        print(chunk.text, end="")
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import random
import time
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import httpx2
import openai
from pydantic import BaseModel

from engine.backends.base import Capabilities, Chunk, GenerationParams
from engine.backends.openai.client import ClientPool, TemplatedClient, client_pool
from engine.backends.openai.retry import (
    MAX_REPLY_BODY,
    NO_KEY,
    Failure,
    PerLoop,
    Retries,
    RetryPolicy,
    Timeouts,
    map_error,
    read_capped,
)

# The embedder and the moderator live in their own module; importable from here as before.
from engine.backends.openai.services import OpenAIEmbedder, OpenAIModerator
from engine.backends.openai.sse import drain, sse_batches
from engine.backends.openai.structured import (
    FormatRefused,
    Structured,
    StructuredOutput,
    json_transcript,
    refuses_format,
)
from engine.backends.openai.transport import ReadDeadline, lean_transport_applies
from engine.backends.presets import PRESETS, Preset
from engine.backends.render import chat_messages, render_transcript, transcript_stops
from engine.dialogue.prompt import Prompt
from engine.errors import (
    AuthenticationError,
    BackendError,
    BackendTimeoutError,
    BadRequestError,
    StreamError,
)
from engine.text.tokens import estimate_tokens
from engine.types import Usage, reported_count

__all__ = ["OpenAIBackend", "OpenAIEmbedder", "OpenAIModerator", "RetryPolicy", "Timeouts"]

log = logging.getLogger(__name__)

T = TypeVar("T", bound=BaseModel)


class _UnexpectedEvent(Exception):
    """A streamed event that is well-formed JSON but not a chunk (an error object)."""


@dataclass(slots=True)
class _Attempt:
    """What one streamed attempt holds and has read so far."""

    started: float
    """``time.perf_counter()`` when the call began (first token and latency count from it)."""
    response: httpx2.Response | None = None
    request_id: str | None = None
    usage: dict[str, int] | None = None
    """The provider's counts, when it sent usable ones."""
    finish: str | None = None
    parts: list[str] = field(default_factory=list)
    ttft: float | None = None
    seen_delta: bool = False
    done: bool = False
    """``[DONE]`` arrived."""


class OpenAIBackend:
    """A backend for any OpenAI-compatible endpoint, chosen by preset or by ``base_url``.

    ``preset`` names an entry of :data:`PRESETS` (or is a :class:`Preset`); ``model``,
    ``base_url`` and ``api_key`` override it (the key otherwise comes from the preset's
    environment variable). ``mode`` forces chat or completion rendering; ``extra_body`` adds
    fields to every request; ``rng`` makes the backoff jitter reproducible. ``transport``
    chooses how the bytes travel: ``"lean"`` (the default) is the engine's own HTTP/1.1
    transport (:mod:`engine.backends.openai.transport`), a fraction of httpx's event-loop cost
    per request and per streamed chunk; ``"httpx"`` is httpx's. The lean transport does not
    speak to proxies or HTTP/2: with a proxy set in the environment for the endpoint, httpx's is
    used. ``http_client`` (an ``httpx2.AsyncClient`` of the caller's, e.g. over an
    ``httpx2.MockTransport`` in a test) carries every request instead; the backend never closes
    it.

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
        structured: Structured | None = None,
        extra_body: dict[str, Any] | None = None,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        context_size: int | None = None,
        rng: random.Random | None = None,
        transport: Literal["lean", "httpx"] = "lean",
        http_client: httpx2.AsyncClient | None = None,
    ) -> None:
        preset = _resolve_preset(preset, base_url=base_url, model=model)
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
        self._json = StructuredOutput(
            structured or preset.structured, name=self.name, provider=preset.name, model=self.model
        )
        self.extra_body = {**preset.extra_body, **(extra_body or {})}
        self.timeouts = timeouts or Timeouts()
        self.retry = retry or RetryPolicy()
        self._rng = rng or random.Random()
        if transport not in ("lean", "httpx"):
            raise BadRequestError(f"unknown transport {transport!r}; use 'lean' or 'httpx'")
        direct = transport == "lean" and http_client is None
        self.transport: Literal["lean", "httpx"] = (
            "lean" if direct and lean_transport_applies(self.base_url) else "httpx"
        )
        self._http_client = http_client
        self._capabilities = Capabilities(
            kind="model",
            mode=self.mode,
            structured=self.structured,
            context_size=context_size or preset.context_size,
            streamed_usage=preset.stream_usage,
        )
        self._clients: PerLoop[ClientPool] = PerLoop()
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

    @property
    def structured(self) -> Structured:
        """How JSON is asked for now (weaker after the server refused a stronger form)."""
        return self._json.form

    def _pool(self) -> ClientPool:
        return self._clients.get(self._new_pool)

    def _new_pool(self) -> ClientPool:
        t = self.timeouts
        return client_pool(
            api_key=self._api_key,
            base_url=self.base_url,
            timeout=openai.Timeout(
                timeout=t.total, connect=t.connect, read=max(t.first_token, t.idle), pool=t.connect
            ),
            transport=self.transport,
            http_client=self._http_client,
        )

    def connect_ahead(self) -> asyncio.Future[Any] | None:
        """Start opening a connection to the server for a request about to be made, over the
        engine's own transport: the opening (done when the connection is ready or failed), or
        None when no connection needs opening (or requests go through httpx). Call on the loop
        the request will run on; returns at once, never raises. A turn calls it as it begins
        (see :meth:`engine.backends.openai.transport.LeanTransport.connect_ahead`)."""
        if self.transport != "lean":
            return None
        return self._pool().connect_ahead(self.timeouts.connect)

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
        for field_name in ("top_p", "seed", "presence_penalty", "frequency_penalty"):
            value = getattr(params, field_name)
            if value is not None:
                body[field_name] = value
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

    def _log_decision(self, what: str, attempt: int, failure: Failure, delay: float | None) -> None:
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
        body = self._body(prompt, params or GenerationParams(), stream=True)
        started = time.perf_counter()
        attempts = self._retries("stream").stream(
            lambda deadline: self._attempt_stream(body, prompt, deadline, started),
            shown=lambda chunk: bool(chunk.text),
        )
        async with contextlib.aclosing(attempts) as chunks:
            async for chunk in chunks:
                yield chunk

    async def _attempt_stream(
        self, body: dict[str, Any], prompt: Prompt, deadline: float, started: float
    ) -> AsyncGenerator[Chunk, None]:
        """One attempt: open the stream, pass its text on as it arrives, then the usage."""
        loop = asyncio.get_running_loop()
        first_deadline = min(deadline, loop.time() + self.timeouts.first_token)
        lease = self._pool().lease()
        attempt = _Attempt(started)
        watch: ReadDeadline | None = None
        try:
            response = await self._open_stream(lease.client, body, first_deadline, attempt)
            batches = sse_batches(_body_bytes(response))
            watch = ReadDeadline(first_deadline)
            while not attempt.done:
                limit = (
                    first_deadline
                    if not attempt.seen_delta
                    else min(deadline, loop.time() + self.timeouts.idle)
                )
                batch = await self._next_batch(batches, watch, limit, deadline, attempt)
                if batch is None:
                    break
                text, broken = self._take_batch(batch, attempt)
                if text:
                    yield Chunk(text=text)
                if broken is not None:
                    raise broken
            if attempt.done:
                await drain(batches)
            yield self._last_chunk(prompt, attempt)
        finally:
            lease.release()
            if watch is not None:
                watch.close()
            if attempt.response is not None:
                # Closing the response releases the connection; on cancellation this is what
                # stops the provider generating (and billing) the rest of the reply.
                try:
                    await attempt.response.aclose()
                except Exception:  # noqa: BLE001 (a failed close must not mask the outcome)
                    log.debug("closing the stream of %s failed", self.name, exc_info=True)

    async def _open_stream(
        self,
        client: TemplatedClient,
        body: dict[str, Any],
        first_deadline: float,
        attempt: _Attempt,
    ) -> httpx2.Response:
        """Send the request; the response once its headers arrived (kept in ``attempt``)."""
        try:
            async with asyncio.timeout_at(first_deadline):
                # The body goes out as built and the raw response comes back: the SSE lines
                # are parsed here into plain dicts, a fraction of the cost of the typed
                # request transform and a pydantic model per chunk (status errors are still
                # raised by the client, as openai errors).
                attempt.response = await client.post_streamed(self._path, body)
                attempt.request_id = attempt.response.headers.get("x-request-id")
                return attempt.response
        except TimeoutError as exc:
            raise self._timeout("no response", exc, attempt.request_id) from exc
        except Exception as exc:  # noqa: BLE001 (no foreign exception may reach the caller)
            raise map_error(
                exc, provider=self.preset.name, model=self.model, phase="connect"
            ) from exc

    async def _next_batch(
        self,
        batches: AsyncIterator[list[str]],
        watch: ReadDeadline,
        limit: float,
        deadline: float,
        attempt: _Attempt,
    ) -> list[str] | None:
        """The next read's events, by ``limit`` (None at the end of the body)."""
        try:
            if not watch.begin(limit):
                raise TimeoutError
            try:
                return await anext(batches)
            except asyncio.CancelledError as exc:
                if watch.expired_by(exc):
                    raise TimeoutError from None
                raise
            finally:
                watch.end()
        except StopAsyncIteration:
            return None
        except TimeoutError as exc:
            if limit >= deadline:
                what = "reply not finished"
            elif not attempt.seen_delta:
                what = "no first token"
            else:
                what = "stream went silent"
            failure = self._timeout(what, exc, attempt.request_id)
            failure.retryable = not attempt.seen_delta
            raise failure from exc
        except Exception as exc:  # noqa: BLE001 (no foreign exception may reach the caller)
            raise self._with_id(
                map_error(exc, provider=self.preset.name, model=self.model, phase="stream"),
                attempt.request_id,
            ) from exc

    def _take_batch(self, batch: list[str], attempt: _Attempt) -> tuple[str, Failure | None]:
        """The text of one read's events, and the failure that broke the stream there, if any.

        The events of one read go to the caller as one chunk: when the loop falls behind (many
        streams at once) it catches up in fewer, larger steps.
        """
        chat = self.mode == "chat"
        texts: list[str] = []
        broken: Failure | None = None
        for data in batch:
            if data.startswith("[DONE]"):
                attempt.done = True
                break
            try:
                event = self._event(data, attempt.request_id)
            except Failure as failure:
                broken = failure
                break
            self._take_usage(event, attempt)
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
                attempt.seen_delta = True
            if choice.get("finish_reason"):
                attempt.finish = choice["finish_reason"]
            if attempt.ttft is None and not chat and not texts:
                text = text.lstrip()  # the space after "Character:" in the transcript
            if text:
                texts.append(text)
        if not texts:
            return "", broken
        if attempt.ttft is None:
            attempt.ttft = (time.perf_counter() - attempt.started) * 1000
        joined = "".join(texts)
        attempt.parts.append(joined)
        return joined, broken

    def _take_usage(self, event: dict[str, Any], attempt: _Attempt) -> None:
        reported = event.get("usage")
        if not isinstance(reported, dict):
            return
        counts = (
            reported_count(reported.get("prompt_tokens") or 0),
            reported_count(reported.get("completion_tokens") or 0),
        )
        if counts[0] is not None and counts[1] is not None:
            attempt.usage = {"prompt_tokens": counts[0], "completion_tokens": counts[1]}
        else:  # insane counts: the estimate stands (see Usage)
            log.warning("%s reported unusable usage %r", self.name, reported)

    def _last_chunk(self, prompt: Prompt, attempt: _Attempt) -> Chunk:
        """The chunk that ends a stream: usage and finish reason (a stream that ended before
        any text is a failure, retried)."""
        if attempt.finish is None and not attempt.parts:
            error = StreamError(
                "stream ended before any reply", provider=self.preset.name, model=self.model
            )
            error.request_id = attempt.request_id
            raise Failure(error, retryable=True)
        if attempt.finish is None:
            log.warning(
                "%s stream ended without a finish reason (request %s)",
                self.name,
                attempt.request_id,
            )
        usage = attempt.usage
        self.last_usage = Usage(
            prompt_tokens=usage["prompt_tokens"] if usage else prompt.tokens,
            completion_tokens=usage["completion_tokens"]
            if usage
            else estimate_tokens("".join(attempt.parts)),
            model=self.model,
            latency_ms=(time.perf_counter() - attempt.started) * 1000,
            ttft_ms=attempt.ttft,
            estimated=usage is None,
        )
        return Chunk(text="", usage=self.last_usage, finish_reason=attempt.finish or "incomplete")

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
            body["prompt"] = json_transcript(prompt, extra)
            body["stop"] = ["\n\n"]
        pool = self._pool()

        async def op(deadline: float) -> str:
            started = time.perf_counter()
            lease = pool.lease()
            try:
                reply = await self._post(lease.client, body, deadline)
                text = self._reply_text(reply)
            except _UnexpectedEvent as exc:
                error = BackendError(str(exc), provider=self.preset.name, model=self.model)
                raise Failure(error, retryable=True) from exc
            except TimeoutError as exc:
                raise self._timeout("no reply", exc, None) from exc
            except Exception as exc:  # noqa: BLE001 (no foreign exception may reach the caller)
                failure = map_error(
                    exc, provider=self.preset.name, model=self.model, phase="request"
                )
                if response_format is not None and refuses_format(failure.error):
                    # The server does not take this response_format: asking again will not
                    # change its mind (complete_json moves to the next form instead).
                    raise FormatRefused(failure.error) from exc
                raise failure from exc
            finally:
                lease.release()
            self._record_usage(reply, prompt, text, started)
            return text or ""

        return await self._retries("completion").run(op)

    async def _post(self, client: openai.AsyncOpenAI, body: dict[str, Any], deadline: float) -> Any:
        """The decoded JSON reply to ``body``, within ``deadline``."""
        # A whole reply arrives at once: no byte comes before it is done, so the read
        # limit is what is left of the total, not the streaming first-token limit.
        remaining = max(0.001, deadline - asyncio.get_running_loop().time())
        connect = min(self.timeouts.connect, remaining)
        limits = openai.Timeout(timeout=remaining, connect=connect, pool=connect)
        async with asyncio.timeout_at(deadline):
            response = await client.post(
                self._path,
                cast_to=httpx2.Response,
                body=body,
                options={"timeout": limits},
                stream=True,
            )
            try:
                return json.loads(await read_capped(response, MAX_REPLY_BODY))
            finally:
                await response.aclose()

    def _reply_text(self, reply: Any) -> str | None:
        """The text of a non-streamed reply (:class:`_UnexpectedEvent` if it has no choices)."""
        choices = reply.get("choices") if isinstance(reply, dict) else None
        if not isinstance(choices, list):
            raise _UnexpectedEvent(f"reply without choices: {str(reply)[:80]}")
        first = choices[0] if choices else {}
        if self.mode == "chat":
            text: str | None = (first.get("message") or {}).get("content")
            return text
        completion: str | None = first.get("text")
        return completion

    def _record_usage(self, reply: Any, prompt: Prompt, text: str | None, started: float) -> None:
        usage = reply.get("usage")
        if not isinstance(usage, dict):
            return
        counted = reported_count(usage.get("prompt_tokens") or 0)
        made = reported_count(usage.get("completion_tokens") or 0)
        self.last_usage = Usage(
            prompt_tokens=prompt.tokens if counted is None else counted,
            completion_tokens=estimate_tokens(text or "") if made is None else made,
            model=self.model,
            latency_ms=(time.perf_counter() - started) * 1000,
            estimated=counted is None or made is None,
        )

    async def complete(self, prompt: Prompt, params: GenerationParams | None = None) -> str:
        """The whole reply at once (no streaming), with the same timeouts and retries."""
        return await self._complete_text(prompt, params or GenerationParams(), None)

    async def complete_json(
        self, prompt: Prompt, schema: type[T], params: GenerationParams | None = None
    ) -> T:
        """A reply validated against ``schema``; one repair round if the first does not validate.

        The strongest structured form the server takes is used, learned on its first refusal
        (:mod:`engine.backends.openai.structured`). Raises
        :class:`~engine.errors.StructuredOutputError` (with the raw text) if the repaired reply
        still does not validate.
        """
        chosen = params or GenerationParams()

        async def ask(response_format: dict[str, Any] | None, extra: list[dict[str, Any]]) -> str:
            return await self._complete_text(prompt, chosen, response_format, extra)

        return await self._json.complete(ask, schema, refused=self._refused)

    def _refused(self, error: BackendError) -> None:
        """The server refused a structured form: the capabilities say the one now in use."""
        self._capabilities = self._capabilities.model_copy(update={"structured": self.structured})

    async def aclose(self) -> None:
        """Close the HTTP clients this backend opened on the running loop (others are dropped)."""
        await self._clients.aclose(ClientPool.aclose)


def _resolve_preset(
    preset: Preset | str | None, *, base_url: str | None, model: str | None
) -> Preset:
    """The preset named (a clear error for an unknown name), or a custom one for ``base_url``."""
    if isinstance(preset, str):
        if preset not in PRESETS:
            raise BadRequestError(
                f"unknown provider preset {preset!r}; known: {', '.join(sorted(PRESETS))}"
            )
        return PRESETS[preset]
    if preset is not None:
        return preset
    return Preset(
        name="custom",
        label="OpenAI-compatible server",
        base_url=base_url or "http://localhost:8000/v1",
        key_env=None,
        key_required=False,
        default_model=model or "default",
    )


def _body_bytes(response: httpx2.Response) -> AsyncIterable[bytes]:
    """The streamed body's bytes: undecoded straight from the transport when the body is not
    compressed (SSE seldom is), two layers less per chunk than ``aiter_raw()``."""
    encoded = response.headers.get("content-encoding", "identity") != "identity"
    raw = response.stream
    if encoded or not isinstance(raw, httpx2.AsyncByteStream):
        return response.aiter_bytes()
    return raw
