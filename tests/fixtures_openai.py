"""The ``openai_server`` fixture: a real OpenAI-compatible HTTP server on loopback, per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from engine.testing.openai_server import OpenAIServer


@pytest.fixture
def openai_server() -> Iterator[OpenAIServer]:
    """A fresh server (no latency, instant tokens); configure it with attributes and ``inject``."""
    server = OpenAIServer()
    with server:
        yield server
