"""Replaying a recorded playthrough so the runtime takes the same paths it took when recording.

The engine's :class:`~engine.backends.ReplayBackend` reports ``kind="replay"``, and the runtime
only asks a ``kind="model"`` backend for its background analysis (importance, facts, the
player's name). A playthrough recorded with the embedded model therefore asked the model for
that analysis, while its replay would fall back to heuristics, remember different facts, and
build different prompts from the second line on. :class:`AsRecorded` passes every call
through to the replay but reports the capabilities the recording was made with.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

from engine import Backend, Capabilities, Chunk, GenerationParams

T = TypeVar("T", bound=BaseModel)


def recorded_capabilities(path: str | Path) -> Capabilities | None:
    """The capabilities stored with the first call of a recording, if any."""
    with Path(path).open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                caps = json.loads(line).get("capabilities")
                return Capabilities.model_validate(caps) if isinstance(caps, dict) else None
    return None


class AsRecorded:
    """A replay backend that presents the recorded backend's capabilities."""

    def __init__(self, replay: Backend, capabilities: Capabilities) -> None:
        self.replay = replay
        self._capabilities = capabilities

    @property
    def name(self) -> str:
        return self.replay.name

    @property
    def capabilities(self) -> Capabilities:
        return self._capabilities

    def stream(self, prompt: Any, params: GenerationParams | None = None) -> AsyncIterator[Chunk]:
        return self.replay.stream(prompt, params)

    async def complete_json(
        self, prompt: Any, schema: type[T], params: GenerationParams | None = None
    ) -> T:
        return await self.replay.complete_json(prompt, schema, params)

    async def aclose(self) -> None:
        await self.replay.aclose()


def as_recorded(replay: Backend, path: str | Path) -> Backend:
    """Wrap ``replay`` (reading ``path``) unless the recording was itself of a replay or scripted run."""
    caps = recorded_capabilities(path)
    if caps is None or caps.kind != "model":
        return replay
    return AsRecorded(replay, caps)
