"""What the OpenAI-compatible clients share: timeouts, retry policy, and the translation of
``openai`` / ``httpx`` failures into :mod:`engine.errors` with a retry verdict."""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import json
import math
import random
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any, Generic, TypeVar

import httpx2
import openai
from pydantic import BaseModel, ConfigDict, Field

from engine.errors import (
    AuthenticationError,
    BackendError,
    BackendTimeoutError,
    BackendUnavailableError,
    BadRequestError,
    RateLimitError,
    ServerError,
    StreamError,
)

__all__ = [
    "MAX_REPLY_BODY",
    "PerLoop",
    "ReplyTooLarge",
    "Retries",
    "RetryPolicy",
    "Timeouts",
    "read_capped",
    "retry_blocking",
]

#: Largest non-streamed reply body read (a chat reply, a JSON answer, a moderation verdict).
MAX_REPLY_BODY = 8 * 1024 * 1024

C = TypeVar("C")
R = TypeVar("R")

NO_KEY = "not-needed"


class Timeouts(BaseModel):
    """How long a call may take, in seconds."""

    model_config = ConfigDict(frozen=True)

    connect: float = Field(5.0, gt=0, description="Opening the connection (TCP and TLS).")
    first_token: float = Field(
        20.0, gt=0, description="From sending the request to the first streamed delta."
    )
    idle: float = Field(20.0, gt=0, description="Longest silence between two streamed deltas.")
    total: float = Field(60.0, gt=0, description="The whole call, retries and backoff included.")


class RetryPolicy(BaseModel):
    """When and how long to wait before trying again."""

    model_config = ConfigDict(frozen=True)

    max_retries: int = Field(2, ge=0, description="Retries after the first attempt.")
    base_delay: float = Field(0.5, ge=0, description="First backoff, doubled each retry.")
    max_delay: float = Field(8.0, ge=0, description="Longest backoff.")
    jitter: float = Field(
        0.25, ge=0, le=1, description="Backoff varies by up to this fraction either way."
    )
    max_retry_after: float = Field(30.0, ge=0, description="A longer Retry-After gives up at once.")

    def delay(
        self,
        attempt: int,
        failure: Failure,
        rng: random.Random,
        *,
        remaining: float = math.inf,
        settle: float = 0.0,
    ) -> float | None:
        """Seconds to wait after failed attempt ``attempt`` (1-based), or None to give up.

        A server's Retry-After is followed (plus up to ``settle`` seconds, so clients told the
        same moment do not return at once); otherwise the backoff doubles from ``base_delay``,
        varied by ``jitter``. None when the failure is final, the retries are spent, the
        server asks for longer than ``max_retry_after``, or the wait would leave the next
        attempt no time inside ``remaining``.
        """
        if not failure.retryable or attempt > self.max_retries:
            return None
        if failure.retry_after is not None:
            if failure.retry_after > self.max_retry_after:
                return None
            delay = failure.retry_after + (rng.uniform(0, settle) if settle else 0.0)
        else:
            base = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
            delay = base * (1 + self.jitter * rng.uniform(-1, 1))
        # Leave the next attempt a fair chance to finish inside the total budget.
        if delay + 0.05 >= remaining:
            return None
        return max(0.0, delay)


class Retries:
    """The attempts of one asynchronous call under a :class:`RetryPolicy`.

    Keeps the call's deadline and the attempt count; after a failure, :meth:`after` asks the
    policy, reports the decision to ``decided(attempt, failure, delay)`` (for the log), and
    then raises the engine error or sleeps. :meth:`run` is the whole loop for a call that
    returns a value, :meth:`stream` for a call that yields.
    """

    def __init__(
        self,
        policy: RetryPolicy,
        rng: random.Random,
        *,
        budget: float,
        decided: Callable[[int, Failure, float | None], None],
        settle: float = 0.0,
    ) -> None:
        self.policy = policy
        self.rng = rng
        self.settle = settle
        self.decided = decided
        self.loop = asyncio.get_running_loop()
        self.deadline = self.loop.time() + budget
        self.attempt = 0

    def start(self) -> float:
        """Count a new attempt; returns the deadline it must finish by."""
        self.attempt += 1
        return self.deadline

    async def after(self, failure: Failure) -> None:
        """Raise ``failure``'s engine error if it is final, else wait before the next attempt."""
        delay = self.policy.delay(
            self.attempt,
            failure,
            self.rng,
            remaining=self.deadline - self.loop.time(),
            settle=self.settle,
        )
        self.decided(self.attempt, failure, delay)
        if delay is None:
            raise failure.error from failure.__cause__
        await asyncio.sleep(delay)

    async def run(self, op: Callable[[float], Awaitable[R]]) -> R:
        """``op(deadline)`` until it succeeds or a failure is final."""
        while True:
            deadline = self.start()
            try:
                return await op(deadline)
            except Failure as failure:
                await self.after(failure)

    async def stream(
        self, op: Callable[[float], AsyncGenerator[R, None]], *, shown: Callable[[R], bool]
    ) -> AsyncGenerator[R, None]:
        """The items of ``op(deadline)`` until one attempt ends or a failure is final.

        An attempt that fails before an item ``shown`` reached the caller is retried as in
        :meth:`run`; once one has, its failure is final (trying again would repeat what was
        shown). Each attempt is closed as soon as it ends, is left, or the caller closes this.
        """
        while True:
            deadline = self.start()
            delivered = False
            try:
                async with contextlib.aclosing(op(deadline)) as items:
                    async for item in items:
                        delivered = delivered or shown(item)
                        yield item
                return
            except Failure as failure:
                if delivered:
                    failure.retryable = False
                await self.after(failure)


def retry_blocking(
    policy: RetryPolicy,
    rng: random.Random,
    op: Callable[[], R],
    *,
    decided: Callable[[int, Failure, float | None], None],
) -> R:
    """``op()`` until it succeeds or a failure is final, sleeping between attempts: the loop of
    :meth:`Retries.run` for blocking callers (an embedder runs on the store's thread, with no
    event loop). ``op`` raises :class:`Failure`; ``decided`` hears each decision."""
    attempt = 0
    while True:
        attempt += 1
        try:
            return op()
        except Failure as failure:
            delay = policy.delay(attempt, failure, rng)
            decided(attempt, failure, delay)
            if delay is None:
                raise failure.error from failure.__cause__
            time.sleep(delay)


class ReplyTooLarge(ValueError):
    """A reply body, an event stream line or an event over its size limit. Trying again would
    only fetch it again: mapped to a :class:`StreamError` that is not retried."""


async def read_capped(response: httpx2.Response, limit: int = MAX_REPLY_BODY) -> bytes:
    """The body of a response opened with ``stream=True``, or :class:`ReplyTooLarge` once it
    passes ``limit`` bytes (a server cannot make the client buffer without bound)."""
    body = bytearray()
    async for piece in response.aiter_bytes():
        body += piece
        if len(body) > limit:
            raise ReplyTooLarge(f"the reply body is over the limit of {limit} bytes")
    return bytes(body)


class Failure(Exception):
    """One failed attempt: the engine error, whether trying again may help, and the server's hint."""

    def __init__(
        self, error: BackendError, *, retryable: bool, retry_after: float | None = None
    ) -> None:
        super().__init__(str(error))
        self.error = error
        self.retryable = retryable
        self.retry_after = retry_after


def _parse_retry_after(headers: Any) -> float | None:
    if headers is None:
        return None
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value) if value else None
        if parsed is None:
            return None
        return max(0.0, parsed.timestamp() - time.time())


def map_error(exc: BaseException, *, provider: str, model: str, phase: str) -> Failure:
    """Translate an openai/httpx/json failure into an engine error (and a retry verdict)."""
    context: dict[str, Any] = {"provider": provider, "model": model}
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        context.update(status_code=status, request_id=exc.request_id)
        retry_after = _parse_retry_after(exc.response.headers)
        detail = exc.message
        if status == 429:
            return Failure(
                RateLimitError(f"rate limited: {detail}", retry_after=retry_after, **context),
                retryable=True,
                retry_after=retry_after,
            )
        if status in (401, 403):
            return Failure(
                AuthenticationError(f"not authorised: {detail}", **context), retryable=False
            )
        if status in (408, 409) or status >= 500:
            error_cls = ServerError if status >= 500 else BackendError
            return Failure(
                error_cls(f"provider error: {detail}", **context),
                retryable=True,
                retry_after=retry_after,
            )
        return Failure(BadRequestError(f"request refused: {detail}", **context), retryable=False)
    if isinstance(exc, openai.APITimeoutError):
        message = f"timed out during {phase}"
        return Failure(BackendTimeoutError(message, **context), retryable=phase != "stream")
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__
        if phase == "stream":
            return Failure(StreamError(f"stream broken: {cause or exc}", **context), retryable=True)
        return Failure(
            BackendUnavailableError(f"cannot reach the provider: {cause or exc}", **context),
            retryable=True,
        )
    if isinstance(exc, ReplyTooLarge):
        return Failure(StreamError(f"reply refused: {exc}", **context), retryable=False)
    if isinstance(exc, json.JSONDecodeError):
        return Failure(
            StreamError(f"unparseable chunk in stream: {exc.msg}", **context), retryable=True
        )
    if isinstance(exc, openai.APIError):
        where = "in the stream" if phase == "stream" else "instead of a reply"
        return Failure(
            StreamError(f"provider sent an error {where}: {exc.message}", **context), retryable=True
        )
    if phase == "stream":
        # Anything else from the transport mid-stream (a protocol error while draining, say).
        return Failure(
            StreamError(f"stream failed: {type(exc).__name__}: {exc}", **context), retryable=True
        )
    return Failure(BackendError(f"{type(exc).__name__}: {exc}", **context), retryable=False)


class PerLoop(Generic[C]):
    """One client per event loop: an HTTP connection pool belongs to the loop that opened it,
    and a game may run several loops (one per worker thread)."""

    def __init__(self) -> None:
        self._items: dict[int, tuple[asyncio.AbstractEventLoop, C]] = {}

    def get(self, make: Callable[[], C]) -> C:
        """The running loop's client, made by ``make()`` the first time."""
        loop = asyncio.get_running_loop()
        entry = self._items.get(id(loop))
        if entry is not None and entry[0] is loop:
            return entry[1]
        item = make()
        # Clients of loops closed since are dropped (their loops cannot close them any more).
        self._items = {k: v for k, v in self._items.items() if not v[0].is_closed()}
        self._items[id(loop)] = (loop, item)
        return item

    async def aclose(self, close: Callable[[C], Awaitable[object]]) -> None:
        """Close the running loop's client with ``close``; the others are dropped."""
        items, self._items = self._items, {}
        current = asyncio.get_running_loop()
        for loop, item in items.values():
            if loop is current:
                await close(item)
