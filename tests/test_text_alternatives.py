"""Patterns searched by the scripts of the text (engine.text.alternatives): the same matches
as the whole pattern, on every pattern the engine searches this way."""

from __future__ import annotations

import importlib
import json
import pkgutil
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import engine.dialogue
from engine.text.alternatives import Alternatives, by_script, needed, scripts_in

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.mark.parametrize(
    ("pattern", "needs"),
    [
        (r"\bI am\b", {"latin"}),
        (r"我叫(\w+)", {"cjk"}),
        (r"(?:下|上|这)个?(?:月|周)", {"cjk"}),
        (r"[\u4e00-\u9fff]{1,4}的", {"cjk"}),
        (r"(?:^|[，,])\s*x", {"latin"}),  # the comma may be either
        (r"吗?ok", {"latin"}),  # optional: not needed
        (r"[一二三\d]{1,3}月", {"cjk"}),
        (r"(?=我)\w", set()),  # a lookahead is never counted
        (r"[^a-z]+", set()),  # nor a negated class
        (r"\d+", set()),
        (r"(?:cat|猫)", set()),  # either script
        (r"cat|猫", set()),
        (r"(?i:call me) (\w+)", {"latin"}),
        (r"\u6211\x41", {"cjk", "latin"}),
        (r"a{0,3}b?", set()),
        (r"a{2}", {"latin"}),
        (r"(?P<x>a)(?P=x)", {"latin"}),
    ],
)
def test_the_scripts_a_pattern_needs_are_read_from_its_source(
    pattern: str, needs: set[str]
) -> None:
    assert needed(pattern) == needs
    # and what is called needed is: a text without it does not match
    for text in ["I am called Ada, ok", "我叫小明，这个月", "12 月", "aab"]:
        if re.search(pattern, text):
            assert needed(pattern) <= scripts_in(text)


def test_a_search_gives_the_whole_patterns_match_and_groups() -> None:
    whole = re.compile(
        r"我叫([\u4e00-\u9fff]{2,3})|\bcall me ([A-Z]\w+)|(\d+) years", re.IGNORECASE
    )
    fast = by_script(whole)
    for text in [
        "Call me Ada.",
        "我叫小明。",
        "I'm 40 years old",
        "我叫小明, CALL ME Bo",
        "nothing",
    ]:
        a, b = whole.search(text), fast.search(text)
        assert (a and (a.span(), a.groups())) == (b and (b.span(), b.groups()))
        assert [m.span() for m in whole.finditer(text)] == [m.span() for m in fast.finditer(text)]
        assert whole.sub("#", text) == fast.sub("#", text)


def test_a_case_insensitive_pattern_is_searched_in_lowered_text_first() -> None:
    # [A-Z] under IGNORECASE takes lower case too: the lowered search keeps both cases
    fast = by_script(r"\bI'M (?-i:[A-Z])[a-z]+, an? ([a-z]+)|我是([\u4e00-\u9fff]+)", re.I)
    assert fast.search("i'm Ada, a smith").group(1) == "smith"
    assert fast.search("I'M ADA, A SMITH").group(1) == "SMITH"
    assert fast.search("i'm ada, a smith") is None  # (?-i:...) still holds in the whole pattern
    assert fast.search("我是医生").group(2) == "医生"
    kelvin = by_script(r"\bok\b", re.I)
    assert kelvin.search("O\u212a then") is not None  # the Kelvin sign folds to k


def test_a_source_it_cannot_read_is_searched_whole() -> None:
    fast = by_script(r"(?x) cat | 猫  # comment")
    assert fast.search("a cat") is not None and fast.search("一只猫") is not None
    assert needed(r"(?x) cat | 猫  # comment") == frozenset()
    local = by_script("dog|(?x: 猫 # a cat\n)")
    assert local.search("一只猫") is not None and needed(local.pattern) == frozenset()


def _engine_alternatives() -> list[tuple[str, Alternatives]]:
    """Every pattern engine.dialogue searches by script, by module and name."""
    found = []
    for info in pkgutil.walk_packages(engine.dialogue.__path__, "engine.dialogue."):
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            values = value.items() if isinstance(value, dict) else [("", value)]
            for key, item in values:
                if isinstance(item, Alternatives):
                    found.append((f"{info.name}.{name}{f'[{key}]' if key else ''}", item))
    return found


def _texts(root: Path) -> list[str]:
    out: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, str) and len(node) < 500:
            out.add(node)
        elif isinstance(node, dict):
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    for path in sorted(root.rglob("*.json")):
        walk(json.loads(path.read_text(encoding="utf-8")))
    return sorted(out)


def _same(fast: Alternatives, text: str) -> bool:
    a, b = fast.pattern.search(text), fast.search(text)
    if (a and (a.span(), a.groups())) != (b and (b.span(), b.groups())):
        return False
    return fast.pattern.sub("#", text) == fast.sub("#", text)


def test_every_pattern_the_engine_searches_by_script_matches_as_whole_on_the_scenarios() -> None:
    patterns = _engine_alternatives()
    assert len(patterns) >= 15  # the kinds of statement, trades, names
    texts = _texts(ROOT / "bench" / "dialogue")
    assert sum(bool(re.search("[\u4e00-\u9fff]", t)) for t in texts) > 100
    wrong = [(name, t) for name, fast in patterns for t in texts if not _same(fast, t)]
    assert wrong == []


def test_every_pattern_the_engine_searches_by_script_matches_as_whole_on_real_dialogue() -> None:
    if not (SHARED_DATA / "locomo").is_dir():
        pytest.skip(f"{SHARED_DATA / 'locomo'} is absent: real dialogue not checked")
    texts = _texts(SHARED_DATA / "locomo")[::3]
    wrong = [(n, t) for n, fast in _engine_alternatives() for t in texts if not _same(fast, t)]
    assert wrong == []


_PIECES = st.sampled_from(
    ["I", "i", "'m", " am ", " a ", "my ", "name", "called ", "Ada", "ADA", "nurse", "from ",
     "Leeds", "turns ", "70", " on ", "years old", "我", "叫", "是", "老家", "小明", "的",
     "，", "。", ", ", ". ", "!", "?", "  ", "吗", "\u212a", "İ", "ß", "Σ", "ǅ"]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(_PIECES, max_size=14).map("".join))
def test_mixed_random_lines_match_as_whole(text: str) -> None:
    for name, fast in _engine_alternatives():
        assert _same(fast, text), name
