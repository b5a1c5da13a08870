"""What the OpenAI-compatible clients share: timeouts, retry policy, and the translation of
``openai`` / ``httpx`` failures into :mod:`engine.errors` with a retry verdict."""

from __future__ import annotations

import asyncio
import email.utils
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

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

__all__ = ["PerLoop", "RetryPolicy", "Timeouts"]

C = TypeVar("C")

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
            return Failure(
                StreamError(f"stream broken: {cause or exc}", **context), retryable=True
            )
        return Failure(
            BackendUnavailableError(f"cannot reach the provider: {cause or exc}", **context),
            retryable=True,
        )
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
