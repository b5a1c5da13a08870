"""Test helpers that ship with the engine: a real OpenAI-compatible server with fault injection.

Used by the engine's own tests and benchmarks, and by games that want to test their
integration without a key or a network. May import :mod:`engine.backends` and
:mod:`engine.text`; nothing in the engine imports it.
"""

from __future__ import annotations

from engine.testing.openai_server import Fault, OpenAIServer, RecordedRequest, refused_base_url

__all__ = ["Fault", "OpenAIServer", "RecordedRequest", "refused_base_url"]
