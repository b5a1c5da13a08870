"""After a reply, it is checked the way the next prompt's history checks it, so that prompt
finds its newest line already checked (the checks keep their answers by their arguments)."""

from __future__ import annotations

from typing import Any

import pytest
from fixtures_runtime import TextBackend, drain

from engine.dialogue import choice


def _recording(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    calls: list[tuple[Any, ...]] = []
    real = choice.reject

    def reject(text: str, **kwargs: Any) -> str | None:
        calls.append((text, tuple(sorted((k, tuple(v) if isinstance(v, list) else v)
                                         for k, v in kwargs.items()))))  # fmt: skip
        return real(text, **kwargs)

    monkeypatch.setattr(choice, "reject", reject)
    return calls


def test_the_reply_is_checked_as_the_next_history_checks_it(
    make_runtime: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt = make_runtime(TextBackend("The tea house is up the east steps."))
    drain(rt, rt.say("mira", "p1", "Hello there!"))
    calls = _recording(monkeypatch)
    drain(rt, rt.say("mira", "p1", "Where is the tea house?"))
    warmed = calls[-1]
    assert warmed[0] == "The tea house is up the east steps."
    assert ("player_line", "Where is the tea house?") in warmed[1]
    calls.clear()
    drain(rt, rt.say("mira", "p1", "And the market?"))
    assert warmed in calls  # the next prompt's history checked the reply with the same arguments


def test_an_empty_reply_is_not_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.runtime.prompting import warm_history

    calls = _recording(monkeypatch)
    warm_history(None, None, None, "Hello", "   ")  # type: ignore[arg-type]
    assert calls == []
