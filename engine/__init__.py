"""A persona-and-memory engine for language-model-driven game characters.

Example::

    from engine import load_persona
    mira = load_persona("characters/mira.yaml")
"""

from __future__ import annotations

from engine.errors import (
    BackendError,
    CardError,
    EngineError,
    PersonaError,
    QuotaExceededError,
    StoreError,
)
from engine.persona import Persona
from engine.prompt import Message, Prompt, Section
from engine.tokens import estimate_tokens

__all__ = [
    "BackendError",
    "CardError",
    "EngineError",
    "Message",
    "Persona",
    "PersonaError",
    "Prompt",
    "QuotaExceededError",
    "Section",
    "StoreError",
    "estimate_tokens",
]
