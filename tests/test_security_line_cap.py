"""A player's line is capped (``TurnSettings.max_line_chars``): a longer one is refused at once,
in character, without being segmented, screened, stored or sent; every per-line cost is
bounded, so one player's paste never holds another player's turn."""

from __future__ import annotations

import time
from typing import Any

from fixtures_runtime import drain

from engine.memory.text import query_terms
from engine.runtime.env import TurnSettings
from engine.runtime.events import TurnDone, TurnFailed

HUGE_ZH = "我们今天在广场上聊天，天气很好，" * 37_500  # 600,000 characters


def test_a_line_over_the_cap_is_refused_in_character_and_not_stored(make_runtime: Any) -> None:
    rt = make_runtime()
    started = time.perf_counter()
    handle = rt.say("mira", "bob", HUGE_ZH)
    events = drain(rt, handle)
    elapsed = time.perf_counter() - started
    failed = [e for e in events if isinstance(e, TurnFailed)]
    assert failed and failed[0].error.startswith("too_long:") and failed[0].reason == "too_long"
    assert "600,000" in failed[0].error and "2,000" in failed[0].error
    assert failed[0].fallback_text in rt.characters["mira"].boundaries.fallback_lines
    assert elapsed < 1.0
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


def test_a_huge_paste_does_not_hold_another_players_turn(make_runtime: Any) -> None:
    rt = make_runtime()
    drain(rt, rt.say("mira", "ann", "hello"))  # warm up: jieba, the store, the scripted lines
    alone_started = time.perf_counter()
    drain(rt, rt.say("mira", "ann", "where is the fountain?"))
    alone = time.perf_counter() - alone_started
    attack = rt.say("chen", "bob", HUGE_ZH)
    started = time.perf_counter()
    ann = rt.say("mira", "ann", "where is the fountain?")
    drain(rt, ann)
    held = time.perf_counter() - started
    drain(rt, attack)
    assert held < alone + 0.5, f"ann's turn took {held:.3f} s with the attack, {alone:.3f} s alone"


def test_query_terms_cost_is_bounded_whatever_the_text() -> None:
    query_terms("热身")
    started = time.perf_counter()
    terms = query_terms(HUGE_ZH)
    assert time.perf_counter() - started < 0.2
    assert terms
