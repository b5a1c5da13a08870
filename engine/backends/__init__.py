"""Language model backends: OpenAI-compatible providers, an embedded local model, scripted
lines, and record/replay, all behind one small protocol (:class:`Backend`).

The only package that touches the network or a model. May import :mod:`engine.errors`,
:mod:`engine.types`, :mod:`engine.text`, :mod:`engine.persona`, :mod:`engine.dialogue` (the
prompt it renders) and :mod:`engine.safety` (the moderation record); must not import memory
or runtime. OpenAI-compatible providers are the :mod:`engine.backends.openai` package.

Example::

    from engine.backends import create_backend
    backend = create_backend("scripted")          # no model, no network
    backend = create_backend("deepseek")          # DEEPSEEK_API_KEY from the environment
    backend = create_backend("local")             # Gemma 3 270M in a process of its own
"""

from __future__ import annotations

from engine.backends.base import Backend, Capabilities, Chunk, GenerationParams
from engine.backends.factory import create_backend
from engine.backends.local import LocalBackend, LocalSampling, LocalStatus
from engine.backends.openai import (
    OpenAIBackend,
    OpenAIEmbedder,
    OpenAIModerator,
    RetryPolicy,
    Timeouts,
)
from engine.backends.presets import PRESETS, Preset
from engine.backends.replay import RecordingBackend, ReplayBackend
from engine.backends.scripted import ScriptedBackend
from engine.types import Usage

__all__ = [
    "PRESETS",
    "Backend",
    "Capabilities",
    "Chunk",
    "GenerationParams",
    "LocalBackend",
    "LocalSampling",
    "LocalStatus",
    "OpenAIBackend",
    "OpenAIEmbedder",
    "OpenAIModerator",
    "Preset",
    "RecordingBackend",
    "ReplayBackend",
    "RetryPolicy",
    "ScriptedBackend",
    "Timeouts",
    "Usage",
    "create_backend",
]
