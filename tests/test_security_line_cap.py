"""A player's line is capped (``TurnSettings.max_line_chars``): a longer one is refused at once,
in character, without being segmented, screened, stored or sent; every per-line cost is
bounded, so one player's paste never holds another player's turn."""

from __future__ import annotations

from typing import Any

from fixtures_runtime import TextBackend, drain

from engine.memory.text import MAX_QUERY_CHARS, query_terms
from engine.runtime.env import TurnSettings
from engine.runtime.events import TurnDone, TurnFailed

HUGE_ZH = "我们今天在广场上聊天，天气很好，" * 37_500  # 600,000 characters


def test_a_line_over_the_cap_is_refused_in_character_and_not_stored(make_runtime: Any) -> None:
    backend = TextBackend("Hello.")
    rt = make_runtime(backend)
    handle = rt.say("mira", "bob", HUGE_ZH)
    events = drain(rt, handle)
    failed = [e for e in events if isinstance(e, TurnFailed)]
    assert failed and failed[0].error.startswith("too_long:") and failed[0].reason == "too_long"
    assert "600,000" in failed[0].error and "2,000" in failed[0].error
    assert failed[0].fallback_text in rt.characters["mira"].boundaries.fallback_lines
    assert backend.prompts == []  # never sent
    assert rt.recent_turns("mira", "bob").result(5) == []


def test_the_cap_is_configurable(make_runtime: Any) -> None:
    rt = make_runtime(settings=TurnSettings(max_line_chars=10))
    events = drain(rt, rt.say("mira", "bob", "hello there, Mira"))
    assert any(isinstance(e, TurnFailed) and e.error.startswith("too_long:") for e in events)
    events = drain(rt, rt.say("mira", "bob", "hello"))
    assert any(isinstance(e, TurnDone) for e in events)


def test_a_long_player_name_is_refused_too(make_runtime: Any) -> None:
    rt = make_runtime()
    events = drain(rt, rt.say("mira", "bob", "hi", player_name="B" * 100_000))
    assert any(isinstance(e, TurnFailed) and e.error.startswith("too_long:") for e in events)


def test_a_huge_paste_costs_nothing_another_players_turn_waits_for(make_runtime: Any) -> None:
    backend = TextBackend("The fountain is in the middle of the plaza.")
    rt = make_runtime(backend)
    attack = rt.say("chen", "bob", HUGE_ZH)
    ann = rt.say("mira", "ann", "where is the fountain?")
    drain(rt, attack)
    drain(rt, ann)
    assert attack.reason == "too_long" and attack.result is None
    assert ann.result is not None and ann.result.text
    # Refused before any per-line work: only ann's line reached the model.
    (prompt,) = backend.prompts
    assert "where is the fountain?" in prompt.sections[-1].messages[-1].content


def test_query_terms_read_only_the_head_of_a_huge_text() -> None:
    text = HUGE_ZH + "龙井茶园"  # words that appear only at the very end
    terms = query_terms(text)
    assert terms == query_terms(text[:MAX_QUERY_CHARS])
    assert terms and "龙井" not in terms
