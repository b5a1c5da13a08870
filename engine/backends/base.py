"""The backend seam: a small protocol every language model source implements.

Like an HTTP transport, a backend does one thing: turn a :class:`~engine.dialogue.prompt.Prompt` into
streamed text (``stream``) or a validated object (``complete_json``). Everything above it
(persona, memory, safety, parsing) is backend-agnostic.

Cancellation: the caller cancels the task iterating ``stream()``, or calls ``aclose()`` on the
async generator; a backend must then stop generating and release its connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any, Literal, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from engine.dialogue.prompt import Prompt
from engine.types import Usage

__all__ = [
    "Backend",
    "Capabilities",
    "Chunk",
    "Connecting",
    "GenerationParams",
    "Sampling",
    "Warming",
]

T = TypeVar("T", bound=BaseModel)


class Capabilities(BaseModel):
    """What a backend can do; the turn pipeline adapts to it."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["model", "scripted", "replay"] = Field(
        "model", description="A real model, scripted lines, or a replay."
    )
    mode: Literal["chat", "completion"] = Field(
        "chat", description="Chat messages, or a transcript for base models."
    )
    structured: Literal["json_schema", "json_object", "grammar", "none"] = Field(
        "none", description="How structured output is enforced."
    )
    context_size: int = Field(8192, description="Context window in tokens.")
    unseen: frozenset[str] = Field(
        frozenset(),
        description="Prompt sections the backend's rendering leaves out (a small base model's "
        "compact transcript): they take no room in the context window, so they do not count "
        "against the prompt's budget.",
    )
    streamed_usage: bool = Field(False, description="Whether the stream reports exact token usage.")


class GenerationParams(BaseModel):
    """Sampling parameters for one call. None means the backend's default."""

    model_config = ConfigDict(frozen=True)

    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    stop: tuple[str, ...] = ()
    seed: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None


class Chunk(BaseModel):
    """A piece of a streamed reply. The last chunk of a stream carries ``usage`` (text may be '')."""

    model_config = ConfigDict(frozen=True)

    text: str = ""
    usage: Usage | None = None
    finish_reason: str | None = None


@runtime_checkable
class Warming(Protocol):
    """A backend that can load a prompt into its cache ahead of the reply that will use it."""

    async def warm(self, prompt: Prompt) -> None:
        """Evaluate ``prompt`` so a later reply sharing its start begins sooner; says nothing."""
        ...


@runtime_checkable
class Sampling(Protocol):
    """A backend that samples several replies to one prompt side by side (a batch on one
    model), in about the time of a few of them one after another."""

    def stream_several(
        self, prompt: Prompt, params: Sequence[GenerationParams]
    ) -> list[AsyncIterator[Chunk]]:
        """One stream per entry of ``params``, each a reply to ``prompt`` as :meth:`Backend.stream`
        gives it; the replies are generated together once any stream is read, and closing
        one before its end stops that reply alone."""
        ...


@runtime_checkable
class Connecting(Protocol):
    """A backend that can open its connection to the model server before a request needs it."""

    def connect_ahead(self) -> asyncio.Future[Any] | None:
        """Start opening a connection for a request about to be made: the opening (a future
        done once the connection is ready, or failed), or None when none needs opening.
        Called on the event loop the request will run on; returns at once, never raises."""
        ...


@runtime_checkable
class Backend(Protocol):
    """Anything that turns a prompt into text."""

    @property
    def name(self) -> str:
        """A label for status lines and logs: 'local:gemma-3-270m', 'deepseek:deepseek-chat', 'scripted'."""
        ...

    @property
    def capabilities(self) -> Capabilities: ...

    def stream(
        self, prompt: Prompt, params: GenerationParams | None = None
    ) -> AsyncIterator[Chunk]:
        """Stream the reply as text chunks; the last chunk carries usage."""
        ...

    async def complete_json(
        self, prompt: Prompt, schema: type[T], params: GenerationParams | None = None
    ) -> T:
        """Generate a JSON object that validates against ``schema`` and return the instance."""
        ...

    async def aclose(self) -> None:
        """Release connections and models."""
        ...
