"""Fixtures for turn and runtime tests: the shipped characters, test personas, runtimes that
always close, and real backends for awkward cases (one that never answers, one that answers
only when the test says, one that counts how many streams run at once)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from pydantic import BaseModel

from engine.backends.base import Capabilities, Chunk, GenerationParams
from engine.backends.scripted import ScriptedBackend
from engine.dialogue.prompt import Prompt
from engine.errors import BackendError
from engine.persona import Persona, load_characters
from engine.runtime import Runtime
from engine.types import Usage

ROOT = Path(__file__).resolve().parent.parent

T = TypeVar("T", bound=BaseModel)


class HangingBackend:
    """A backend that never sends a byte (until cancelled)."""

    name = "hanging"
    capabilities = Capabilities(kind="model", structured="none", context_size=8192)

    def __init__(self) -> None:
        self.started = 0
        self.closed_streams = 0

    async def stream(
        self, prompt: Prompt, params: GenerationParams | None = None
    ) -> AsyncIterator[Chunk]:
        self.started += 1
        try:
            await asyncio.Event().wait()
            yield Chunk(text="never")
        finally:
            self.closed_streams += 1

    async def complete_json(
        self, prompt: Prompt, schema: type[T], params: GenerationParams | None = None
    ) -> T:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def aclose(self) -> None:
        return None


class GatedBackend:
    """Streams its reply only once the test opens ``gate``: until then every turn it serves is
    held mid-generation, so whatever the game thread did meanwhile did not wait for a reply."""

    name = "gated"
    capabilities = Capabilities(kind="model", structured="none", context_size=8192)

    def __init__(self, text: str = "Fine, thanks.", *, patience_s: float = 10.0) -> None:
        self.text = text
        self.gate = threading.Event()
        self.started = 0
        self.patience_s = patience_s
        self.gave_up = 0  # streams that waited out their patience (a caller that blocked)

    async def stream(
        self, prompt: Prompt, params: GenerationParams | None = None
    ) -> AsyncIterator[Chunk]:
        self.started += 1
        give_up = time.monotonic() + self.patience_s
        while not self.gate.is_set():
            if time.monotonic() > give_up:
                self.gave_up += 1
                raise BackendError("the gate was never opened", provider=self.name)
            await asyncio.sleep(0.005)
        yield Chunk(text=self.text)
        yield Chunk(usage=Usage(prompt_tokens=prompt.tokens, completion_tokens=3, model="gated"))

    async def complete_json(
        self, prompt: Prompt, schema: type[T], params: GenerationParams | None = None
    ) -> T:
        raise AssertionError("structured='none': never asked")

    async def aclose(self) -> None:
        return None


class TextBackend:
    """Streams a fixed text in pieces with a delay, counting concurrent streams."""

    name = "text"

    def __init__(
        self, text: str, *, delay_s: float = 0.0, pieces: int = 8, kind: str = "model"
    ) -> None:
        self.text = text
        self.delay_s = delay_s
        self.pieces = pieces
        self.capabilities = Capabilities(kind=kind, structured="none", context_size=8192)  # type: ignore[arg-type]
        self.active = 0
        self.max_active = 0
        self.prompts: list[Prompt] = []

    async def stream(
        self, prompt: Prompt, params: GenerationParams | None = None
    ) -> AsyncIterator[Chunk]:
        self.prompts.append(prompt)
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        try:
            size = max(1, len(self.text) // self.pieces)
            for i in range(0, len(self.text), size):
                await asyncio.sleep(self.delay_s)
                yield Chunk(text=self.text[i : i + size])
            yield Chunk(usage=Usage(prompt_tokens=prompt.tokens, completion_tokens=5, model="text"))
        finally:
            self.active -= 1

    async def complete_json(
        self, prompt: Prompt, schema: type[T], params: GenerationParams | None = None
    ) -> T:
        raise NotImplementedError

    async def aclose(self) -> None:
        return None


@pytest.fixture(scope="session")
def cast() -> dict[str, Persona]:
    """The shipped characters (mira, chen, bram, lin)."""
    return load_characters(ROOT / "characters")


@pytest.fixture
def test_persona() -> Persona:
    """A small persona with a blocked topic, actions with arguments and fallback lines."""
    return Persona.model_validate(
        {
            "id": "tess",
            "name": "Tess",
            "examples": [{"player": "hello", "character": "Hi there!", "emotion": "happy"}],
            "emotions": {"set": ["neutral", "happy", "sad"], "baseline": "neutral"},
            "actions": [
                {"name": "wave"},
                {"name": "give_item", "parameters": [{"name": "item", "type": "string"}]},
            ],
            "boundaries": {
                "refusal_lines": ["I won't talk about that, dear."],
                "fallback_lines": ["Hm, my mind wandered. Say again?"],
            },
            "policy": {"blocked_topics": [{"name": "dragonglass", "words": ["dragonglass"]}]},
            "relationship": {"max_change_per_turn": 3},
        }
    )


@pytest.fixture
def make_runtime(tmp_path: Path, cast: dict[str, Persona]) -> Iterator[Callable[..., Runtime]]:
    """Build runtimes on a world file in tmp_path (``world=`` to choose); all closed at the end."""
    made: list[Runtime] = []

    def make(backend: Any = None, *, world: Path | str | None = None, **kwargs: Any) -> Runtime:
        kwargs.setdefault("characters", cast)
        rt = Runtime(world or tmp_path / "world.db", backend=backend or ScriptedBackend(), **kwargs)
        made.append(rt)
        return rt

    yield make
    for rt in made:
        rt.close(timeout=1.0)


def drain(rt: Runtime, handle: Any, timeout: float = 10.0) -> list[Any]:
    """Poll until ``handle`` is done and background work settled; every event polled."""
    events: list[Any] = []
    deadline = time.monotonic() + timeout
    while not handle.done:
        events.extend(rt.poll())
        if time.monotonic() > deadline:
            raise AssertionError(f"turn {handle!r} did not finish in {timeout} s")
        time.sleep(0.002)
    assert rt.wait_idle(timeout)
    events.extend(rt.poll())
    return [e for e in events if e.handle_id == handle.id]


def hold_store(rt: Runtime) -> threading.Event:
    """Keep the store thread busy until the returned event is set."""
    gate = threading.Event()
    rt._store.submit(lambda _store: gate.wait(10), priority=-1)
    return gate
