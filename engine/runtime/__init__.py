"""Running characters: the non-blocking :class:`Runtime`, its events, and what a turn does.

- :mod:`~engine.runtime.core`: :class:`Runtime` (game thread, event loop, store thread);
- :mod:`~engine.runtime.events`: handles, events and results the game polls;
- :mod:`~engine.runtime.turn`: one dialogue turn, end to end; :mod:`~engine.runtime.env` what
  it runs with; :mod:`~engine.runtime.prompting` what the model sees for a turn;
  :mod:`~engine.runtime.generation` the reply itself (streamed, or sampled and
  chosen); :mod:`~engine.runtime.greeting` a character speaking first;
  :mod:`~engine.runtime.analysis` the work after a turn (facts, relationship, summaries);
  :mod:`~engine.runtime.store_thread` the one thread that owns the world's store;
- :mod:`~engine.runtime.scenes`: group conversations;
- :mod:`~engine.runtime.safety_gate`: where a turn meets :mod:`engine.safety` and the audit log.

The top of the engine: may import every other package (text, persona, lore, dialogue, safety,
memory, backends, cards); only :mod:`engine.cli` and the public API in :mod:`engine` import
it.
"""

from __future__ import annotations

from engine.runtime.core import WORLD_PLAYER, Runtime
from engine.runtime.env import TurnSettings
from engine.runtime.events import (
    Event,
    FailureReason,
    Sentence,
    TextDelta,
    TurnDone,
    TurnFailed,
    TurnHandle,
    TurnKind,
    TurnResult,
    TurnStarted,
    TurnWarning,
)
from engine.runtime.safety_gate import SafetyGate
from engine.runtime.scenes import Scene, addressed, choose_responder
from engine.runtime.turn import preview_prompt

__all__ = [
    "WORLD_PLAYER",
    "Event",
    "FailureReason",
    "Runtime",
    "SafetyGate",
    "Scene",
    "Sentence",
    "TextDelta",
    "TurnDone",
    "TurnFailed",
    "TurnHandle",
    "TurnKind",
    "TurnResult",
    "TurnSettings",
    "TurnStarted",
    "TurnWarning",
    "addressed",
    "choose_responder",
    "preview_prompt",
]
