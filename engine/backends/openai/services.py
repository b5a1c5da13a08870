"""Embeddings and moderation on OpenAI-compatible endpoints (``/embeddings``, ``/moderations``).

Both retry like the chat backend (:class:`~engine.backends.openai.chat.OpenAIBackend`) and raise only
:mod:`engine.errors`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Sequence
from typing import Any, Literal

import httpx2
import numpy as np
import openai

from engine.backends.openai.retry import (
    NO_KEY,
    Failure,
    PerLoop,
    Retries,
    RetryPolicy,
    map_error,
    read_capped,
    retry_blocking,
)
from engine.backends.presets import PRESETS
from engine.errors import BackendError, BackendTimeoutError
from engine.safety.moderation import Moderation

__all__ = ["OpenAIEmbedder", "OpenAIModerator"]

# One logger for every OpenAI-compatible client (docs/backends.md names it).
log = logging.getLogger("engine.backends.openai")


class OpenAIEmbedder:
    """Embeddings from an OpenAI-compatible ``/embeddings`` endpoint (the memory Embedder protocol).

    Synchronous, batched, retried like the chat backend. Vectors come back as float32 rows,
    L2-normalised. ``prefixes`` (query, passage) are prepended for models trained with them
    (E5: ``("query: ", "passage: ")``).

    Example::

        embedder = OpenAIEmbedder(base_url="http://localhost:11434/v1", model="nomic-embed-text")
        vectors = embedder.embed(["hello"], kind="query")
    """

    def __init__(
        self,
        *,
        base_url: str | None = None,
        model: str = "text-embedding-3-small",
        api_key: str | None = None,
        dim: int | None = None,
        prefixes: tuple[str, str] | None = None,
        batch_size: int = 64,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        provider: str = "openai",
    ) -> None:
        preset = PRESETS.get(provider)
        key = api_key or (preset.api_key() if preset else None) or NO_KEY
        self.model = model
        self.provider = provider
        self.prefixes = prefixes
        self.batch_size = batch_size
        self.retry = retry or RetryPolicy()
        self._dim = dim
        self._client = openai.OpenAI(
            api_key=key,
            base_url=base_url or (preset.resolved_base_url() if preset else None),
            max_retries=0,
            timeout=openai.Timeout(timeout=timeout, connect=min(timeout, 5.0)),
        )
        self._rng = random.Random()

    @property
    def name(self) -> str:
        """``provider:model``."""
        return f"{self.provider}:{self.model}"

    @property
    def dim(self) -> int:
        """Vector length (asks the endpoint once if it was not given)."""
        if self._dim is None:
            self._dim = int(self.embed(["dimension probe"], kind="query").shape[1])
        return self._dim

    def embed(self, texts: Sequence[str], *, kind: Literal["query", "passage"]) -> np.ndarray:
        """Embed ``texts`` as an ``n x dim`` float32 array of unit vectors."""
        if not texts:
            return np.zeros((0, self._dim or 0), dtype=np.float32)
        prefix = "" if self.prefixes is None else self.prefixes[0 if kind == "query" else 1]
        rows: list[np.ndarray] = []
        for start in range(0, len(texts), self.batch_size):
            batch = [prefix + t for t in texts[start : start + self.batch_size]]
            rows.append(self._embed_batch(batch))
        matrix = np.vstack(rows).astype(np.float32)
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        matrix /= np.where(norms == 0, 1.0, norms)
        if self._dim is None:
            self._dim = int(matrix.shape[1])
        return matrix

    def _embed_batch(self, batch: list[str]) -> np.ndarray:
        def once() -> np.ndarray:
            try:
                reply = self._client.embeddings.create(model=self.model, input=batch)
            except openai.OpenAIError as exc:
                raise map_error(
                    exc, provider=self.provider, model=self.model, phase="request"
                ) from exc
            ordered = sorted(reply.data, key=lambda d: d.index)
            return np.asarray([d.embedding for d in ordered], dtype=np.float32)

        return retry_blocking(self.retry, self._rng, once, decided=self._log_decision)

    def _log_decision(self, attempt: int, failure: Failure, delay: float | None) -> None:
        if delay is not None:
            log.info(
                "%s embeddings failed (%s); retrying in %.2fs", self.name, failure.error, delay
            )

    def close(self) -> None:
        """Close the HTTP client."""
        self._client.close()


class OpenAIModerator:
    """A moderation service on an OpenAI-compatible ``/moderations`` endpoint.

    Implements :class:`engine.safety.policy.Moderator`: ``await moderate(text)`` gives a
    :class:`~engine.safety.policy.Moderation` (flagged, and the flagged categories, highest score
    first) to combine with a verdict through :func:`engine.safety.policy.apply_moderation`.
    ``threshold`` flags a category by its score instead of the provider's own decision;
    ``categories`` limits which categories count (others are ignored). Failures are retried
    like the chat backend's and end in an engine :class:`~engine.errors.BackendError`;
    ``timeout`` bounds a whole call, retries included.

    Example::

        moderator = OpenAIModerator(api_key="sk-...")    # OpenAI's omni-moderation-latest
        verdict = apply_moderation(check_input(text, policy), await moderator.moderate(text), policy)
    """

    def __init__(
        self,
        *,
        base_url: str | None = None,
        model: str = "omni-moderation-latest",
        api_key: str | None = None,
        provider: str = "openai",
        threshold: float | None = None,
        categories: Sequence[str] | None = None,
        timeout: float = 5.0,
        retry: RetryPolicy | None = None,
        rng: random.Random | None = None,
    ) -> None:
        preset = PRESETS.get(provider)
        self._api_key = api_key or (preset.api_key() if preset else None) or NO_KEY
        self.base_url = base_url or (preset.resolved_base_url() if preset else None)
        self.model = model
        self.provider = provider
        self.threshold = threshold
        self.categories = frozenset(categories) if categories is not None else None
        self.timeout = timeout
        self.retry = retry or RetryPolicy(max_retries=1, base_delay=0.2, max_delay=1.0)
        self._rng = rng or random.Random()
        self._clients: PerLoop[openai.AsyncOpenAI] = PerLoop()

    @property
    def name(self) -> str:
        """``provider:model``."""
        return f"{self.provider}:{self.model}"

    def _client(self) -> openai.AsyncOpenAI:
        return self._clients.get(
            lambda: openai.AsyncOpenAI(
                api_key=self._api_key,
                base_url=self.base_url,
                max_retries=0,
                timeout=openai.Timeout(timeout=self.timeout, connect=min(self.timeout, 5.0)),
            )
        )

    async def moderate(self, text: str) -> Moderation:
        """Classify ``text`` (an empty text is not sent and is never flagged)."""
        if not text.strip():
            return Moderation()
        retries = Retries(self.retry, self._rng, budget=self.timeout, decided=self._log_decision)
        return await retries.run(lambda deadline: self._attempt(text, deadline))

    def _log_decision(self, attempt: int, failure: Failure, delay: float | None) -> None:
        if delay is None:
            log.warning(
                "%s moderation failed on attempt %d, giving up: %s",
                self.name, attempt, failure.error,
            )  # fmt: skip
        else:
            log.info(
                "%s moderation failed on attempt %d (%s); retrying in %.2fs",
                self.name, attempt, failure.error, delay,
            )  # fmt: skip

    async def _attempt(self, text: str, deadline: float) -> Moderation:
        client = self._client()
        remaining = max(0.001, deadline - asyncio.get_running_loop().time())
        limits = openai.Timeout(timeout=remaining, connect=min(5.0, remaining))
        request_id: str | None = None
        try:
            async with asyncio.timeout_at(deadline):
                response = await client.post(
                    "/moderations",
                    cast_to=httpx2.Response,
                    body={"model": self.model, "input": text},
                    options={"timeout": limits},
                    stream=True,
                )
                request_id = response.headers.get("x-request-id")
                try:
                    reply = json.loads(await read_capped(response))
                finally:
                    await response.aclose()
        except TimeoutError as exc:
            timeout_error = BackendTimeoutError(
                "no moderation answer within the time allowed",
                provider=self.provider,
                model=self.model,
            )
            raise Failure(timeout_error, retryable=True) from exc
        except Exception as exc:  # noqa: BLE001 (no foreign exception may reach the caller)
            if isinstance(exc, json.JSONDecodeError):
                error = BackendError(
                    f"moderation answer is not JSON: {exc.msg}",
                    provider=self.provider,
                    model=self.model,
                )
                raise Failure(error, retryable=True) from exc
            raise map_error(exc, provider=self.provider, model=self.model, phase="request") from exc
        results = reply.get("results") if isinstance(reply, dict) else None
        if not isinstance(results, list) or not results or not isinstance(results[0], dict):
            error = BackendError(
                f"moderation answer without results: {str(reply)[:120]}",
                provider=self.provider,
                model=self.model,
                request_id=request_id,
            )
            raise Failure(error, retryable=False)
        return self._verdict(results[0])

    def _verdict(self, result: dict[str, Any]) -> Moderation:
        raw_flags = result.get("categories")
        flags: dict[str, Any] = raw_flags if isinstance(raw_flags, dict) else {}
        raw_scores = result.get("category_scores")
        scores: dict[str, float] = {}
        if isinstance(raw_scores, dict):
            for category, value in raw_scores.items():
                if isinstance(value, int | float):
                    scores[str(category)] = float(value)
        if self.threshold is not None:
            hits = [c for c, score in scores.items() if score >= self.threshold]
        else:
            hits = [str(c) for c, flagged in flags.items() if flagged is True]
        if self.categories is not None:
            hits = [c for c in hits if c in self.categories]
        elif self.threshold is None and not hits and result.get("flagged") is True:
            hits = ["flagged"]  # flagged without saying why
        hits.sort(key=lambda c: -scores.get(c, 0.0))
        return Moderation(flagged=bool(hits), categories=tuple(c for c in hits if c != "flagged"))

    async def aclose(self) -> None:
        """Close the HTTP client this moderator opened on the running loop."""
        await self._clients.aclose(openai.AsyncOpenAI.close)
