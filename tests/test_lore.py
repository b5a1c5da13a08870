"""Lorebook matching: keys, secondary logic, regex, case, whole words (CJK aware), budget, depth."""

from __future__ import annotations

import pytest

from engine.cards.lorebooks import (
    book_to_card,
    book_to_lorebook_v3,
    book_to_world_info,
    parse_lorebook,
)
from engine.errors import CardError
from engine.lore import (
    Lorebook,
    LoreEntry,
    expand_macros,
    select_entries,
    strip_decorators,
)
from engine.text.tokens import estimate_tokens


def _ids(entries: list[LoreEntry]) -> list[object]:
    return [e.id for e in entries]


def _pick(entry: LoreEntry, *texts: str, **kwargs: object) -> bool:
    budget = kwargs.pop("budget_tokens", 10_000)
    return bool(select_entries([entry], list(texts), budget_tokens=budget, **kwargs))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Tell me about the fountain.", True),
        ("THE FOUNTAIN!", True),
        ("fountains everywhere", True),
        ("the fountain's edge", True),
        ("a fountainhead", False),
        ("afountain", False),
        ("no water here", False),
    ],
)
def test_primary_key_matches_case_insensitive_whole_word(text: str, expected: bool) -> None:
    entry = LoreEntry(keys=["fountain"], content="The fountain is old.")
    assert _pick(entry, text) is expected


def test_case_sensitive_entry_needs_exact_case() -> None:
    entry = LoreEntry(keys=["Rose"], content="Rose is the baker.", case_sensitive=True)
    assert _pick(entry, "I met Rose today")
    assert not _pick(entry, "a red rose")


def test_whole_words_off_matches_inside_words() -> None:
    entry = LoreEntry(keys=["wood"], content="Woodland lore.", match_whole_words=False)
    assert _pick(entry, "the woodland is dark")


def test_book_default_whole_words_applies_when_entry_unset() -> None:
    entry = LoreEntry(keys=["wood"], content="Woodland lore.")
    assert not _pick(entry, "the woodland is dark")
    assert _pick(entry, "the woodland is dark", match_whole_words=False)


@pytest.mark.parametrize(
    ("key", "text"),
    [
        ("茶馆", "我们去茶馆喝茶吧"),  # CJK key inside CJK text: no spaces exist
        ("magic", "你会magic吗"),  # Latin key between CJK characters
        ("魔法", "Do you know 魔法?"),
        ("お茶", "お茶をください"),
        ("ชา", "ฉันอยากดื่มชาร้อน"),  # Thai has no spaces between words either
    ],
)
def test_whole_words_treats_cjk_as_boundary(key: str, text: str) -> None:
    assert _pick(LoreEntry(keys=[key], content="lore"), text)


def test_fullwidth_text_matches_halfwidth_key() -> None:
    assert _pick(LoreEntry(keys=["magic"], content="lore"), "ＭＡＧＩＣ是什么")


@pytest.mark.parametrize(
    ("logic", "text", "expected"),
    [
        ("and_any", "dragon and gold", True),
        ("and_any", "dragon alone", False),
        ("and_all", "dragon gold cave", True),
        ("and_all", "dragon gold", False),
        ("not_any", "dragon alone", True),
        ("not_any", "dragon in a cave", False),
        ("not_all", "dragon gold", True),
        ("not_all", "dragon gold cave", False),
    ],
)
def test_secondary_key_logic(logic: str, text: str, expected: bool) -> None:
    entry = LoreEntry(
        keys=["dragon"],
        secondary_keys=["gold", "cave"],
        selective=True,
        selective_logic=logic,
        content="x",  # type: ignore[arg-type]
    )
    assert _pick(entry, text) is expected


def test_secondary_keys_ignored_when_not_selective() -> None:
    entry = LoreEntry(keys=["dragon"], secondary_keys=["gold"], content="x")
    assert _pick(entry, "a dragon")


@pytest.mark.parametrize(
    ("key", "use_regex", "text", "expected"),
    [
        ("/drag(on|ons)\\b/i", False, "DRAGONS!", True),
        ("/drag(on|ons)\\b/", False, "DRAGONS!", False),
        ("^hello", True, "hello there", True),
        ("^hello", True, "oh hello", False),
        ("/(?<name>ab)c/", False, "xabc", True),  # JavaScript named group syntax
        ("/([unclosed/", False, "([unclosed", False),  # invalid regex never matches
        ("[bad", True, "[bad", False),
    ],
)
def test_regex_keys(key: str, use_regex: bool, text: str, expected: bool) -> None:
    assert _pick(LoreEntry(keys=[key], use_regex=use_regex, content="x"), text) is expected


def test_constant_entry_always_selected() -> None:
    assert _pick(LoreEntry(constant=True, content="The plaza opens at dawn."), "hi")


@pytest.mark.parametrize(
    "entry",
    [
        LoreEntry(keys=["fountain"], content="x", enabled=False),
        LoreEntry(keys=["fountain"], content=""),
        LoreEntry(keys=["", "  "], content="x"),
        LoreEntry(constant=True, content="x", enabled=False),
    ],
)
def test_entries_never_selected(entry: LoreEntry) -> None:
    assert not _pick(entry, "the fountain")


def test_scan_depth_limits_how_far_back_keys_count() -> None:
    entry = LoreEntry(keys=["fountain"], content="x")
    history = ["the fountain", "one", "two", "three", "four"]
    assert not _pick(entry, *history, scan_depth=4)
    assert _pick(entry, *history, scan_depth=5)


def test_entry_scan_depth_overrides_default() -> None:
    entry = LoreEntry(keys=["fountain"], content="x", scan_depth=1)
    assert not _pick(entry, "the fountain", "later")
    assert _pick(entry, "later", "the fountain")


def test_scan_depth_zero_scans_nothing() -> None:
    assert not _pick(LoreEntry(keys=["fountain"], content="x", scan_depth=0), "the fountain")


def test_result_in_insertion_order() -> None:
    entries = [
        LoreEntry(id="late", keys=["a"], content="x", insertion_order=300),
        LoreEntry(id="early", keys=["a"], content="x", insertion_order=5),
        LoreEntry(id="mid", keys=["a"], content="x", insertion_order=100),
    ]
    assert _ids(select_entries(entries, ["a"], budget_tokens=1000)) == ["early", "mid", "late"]


def test_budget_keeps_higher_priority_entries() -> None:
    text = "word " * 40
    cost = estimate_tokens(text)
    entries = [
        LoreEntry(id="low", keys=["a"], content=text, priority=1, insertion_order=1),
        LoreEntry(id="high", keys=["a"], content=text, priority=50, insertion_order=2),
        LoreEntry(id="mid", keys=["a"], content=text, priority=20, insertion_order=3),
    ]
    assert _ids(select_entries(entries, ["a"], budget_tokens=2 * cost)) == ["high", "mid"]


def test_budget_keeps_constant_entries_first() -> None:
    text = "word " * 40
    cost = estimate_tokens(text)
    entries = [
        LoreEntry(id="keyed", keys=["a"], content=text, priority=99),
        LoreEntry(id="always", constant=True, content=text, priority=0),
    ]
    assert _ids(select_entries(entries, ["a"], budget_tokens=cost)) == ["always"]


def test_zero_budget_selects_nothing() -> None:
    assert select_entries([LoreEntry(constant=True, content="x")], [], budget_tokens=0) == []


def test_recursive_scanning_follows_content() -> None:
    entries = [
        LoreEntry(id="guild", keys=["guild"], content="The guild is run by Bram."),
        LoreEntry(id="bram", keys=["Bram"], content="Bram sells lanterns."),
    ]
    assert _ids(select_entries(entries, ["the guild?"], budget_tokens=100)) == ["guild"]
    assert _ids(select_entries(entries, ["the guild?"], budget_tokens=100, recursive=True)) == [
        "guild",
        "bram",
    ]


def test_recursion_respects_exclude_recursion() -> None:
    entries = [
        LoreEntry(id="guild", keys=["guild"], content="The guild is run by Bram."),
        LoreEntry(
            id="bram", keys=["Bram"], content="Bram.", extensions={"exclude_recursion": True}
        ),
    ]
    assert _ids(select_entries(entries, ["the guild?"], budget_tokens=100, recursive=True)) == [
        "guild"
    ]


def test_macros_expanded_in_returned_copy_only() -> None:
    entry = LoreEntry(keys=["glade"], content="{{char}} guards the glade for {{USER}} and <BOT>.")
    [chosen] = select_entries(
        [entry], ["the glade"], budget_tokens=100, macros={"char": "Sera", "user": "Ann"}
    )
    assert chosen.content == "Sera guards the glade for Ann and Sera."
    assert entry.content.startswith("{{char}}")


def test_expand_macros_leaves_unknown_values() -> None:
    assert expand_macros("{{char}} and {{user}}", {"char": "Mira"}) == "Mira and {{user}}"


@pytest.mark.parametrize(
    ("content", "text", "expected"),
    [
        ("@@activate\nAlways here.", "nothing", True),
        ("@@dont_activate\nNever.", "fountain", False),
        ("@@additional_keys water,stone\nx", "fountain of stone", True),
        ("@@additional_keys water,stone\nx", "fountain", False),
        ("@@exclude_keys broken\nx", "broken fountain", False),
        ("@@scan_depth 1\nx", "fountain|later", False),
        ("@@unknown_thing 3\n@@@activate\nx", "nothing", True),
    ],
)
def test_v3_decorators(content: str, text: str, expected: bool) -> None:
    entry = LoreEntry(keys=["fountain"], content=content)
    assert _pick(entry, *text.split("|")) is expected


def test_decorators_stripped_from_inserted_content() -> None:
    entry = LoreEntry(keys=["fountain"], content="@@depth 4\n@@role system\nThe fountain is old.")
    [chosen] = select_entries([entry], ["fountain"], budget_tokens=100)
    assert chosen.content == "The fountain is old."
    assert strip_decorators("no decorators") == "no decorators"


def test_lorebook_select_uses_book_defaults() -> None:
    text = "word " * 30
    book = Lorebook(
        scan_depth=1,
        token_budget=estimate_tokens(text),
        entries=[
            LoreEntry(id=1, keys=["a"], content=text, priority=5),
            LoreEntry(id=2, keys=["a"], content=text, priority=9),
        ],
    )
    assert _ids(book.select(["a", "b"])) == []
    assert _ids(book.select(["b", "a"])) == [2]


def test_parse_card_book_round_trips_exactly() -> None:
    raw = {
        "name": "Plaza",
        "scan_depth": 3,
        "extensions": {"x/y": 1},
        "entries": [
            {
                "keys": ["fountain"],
                "content": "Old.",
                "extensions": {"selectiveLogic": 3, "custom": [1, 2]},
                "enabled": True,
                "insertion_order": 7,
                "selective": True,
                "secondary_keys": ["stone"],
                "x_editor_field": "kept",
            }
        ],
    }
    book = parse_lorebook(raw)
    assert book.entries[0].selective_logic == "and_all"
    assert book_to_card(book) == raw


def test_v3_export_writes_use_regex() -> None:
    book = Lorebook(entries=[LoreEntry(keys=["a"], content="x")])
    data = book_to_lorebook_v3(book)
    assert data["spec"] == "lorebook_v3"
    assert data["data"]["entries"][0]["use_regex"] is False


def test_edited_logic_written_back_to_extensions() -> None:
    book = parse_lorebook(
        {
            "entries": [
                {
                    "keys": ["a"],
                    "content": "x",
                    "extensions": {"selectiveLogic": 0},
                    "enabled": True,
                    "insertion_order": 1,
                }
            ]
        }
    )
    book.entries[0].selective_logic = "not_any"
    assert book_to_card(book)["entries"][0]["extensions"]["selectiveLogic"] == 2


def test_world_info_round_trips_exactly() -> None:
    raw = {
        "entries": {
            "5": {
                "uid": 5,
                "key": ["Bram"],
                "keysecondary": ["lantern"],
                "comment": "shopkeeper",
                "content": "Bram sells lanterns.",
                "constant": False,
                "selective": True,
                "selectiveLogic": 2,
                "order": 40,
                "position": 1,
                "disable": False,
                "caseSensitive": None,
                "matchWholeWords": False,
                "scanDepth": 2,
                "someFutureField": {"a": 1},
            }
        },
        "name": "plaza",
    }
    book = parse_lorebook(raw)
    entry = book.entries[0]
    assert (entry.selective_logic, entry.match_whole_words, entry.scan_depth, entry.position) == (
        "not_any",
        False,
        2,
        "after_char",
    )
    assert book_to_world_info(book) == raw


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "JSON object or a list of entries, got list"),
        ("x", "JSON object or a list of entries, got str"),
        ({"foo": 1}, "not a lorebook"),
        ({"entries": [{"keys": "a", "content": 3}]}, "entries[0].content: expected a string"),
        (
            {"entries": [{"keys": [1], "content": "x"}]},
            "entries[0].keys: expected a list of strings",
        ),
        (
            {"entries": [{"keys": ["a"], "enabled": "yes"}]},
            "entries[0].enabled: expected true or false",
        ),
        (
            {"entries": [{"keys": ["a"], "insertion_order": "1"}]},
            "insertion_order: expected a number",
        ),
        ({"entries": {"0": {"key": ["a"], "disable": 1}}}, "disable: expected true or false"),
        ({"entries": [5]}, "entries[0]: expected an object"),
    ],
)
def test_bad_lorebook_raises_card_error_naming_field(data: object, message: str) -> None:
    with pytest.raises(CardError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_lorebook(data)


def test_lorebook_case_sensitive_default_reaches_entries_that_did_not_say() -> None:
    book = parse_lorebook(
        {
            "entries": [
                {"keys": ["Rose"], "content": "a", "enabled": True, "insertion_order": 1, "id": 1},
                {
                    "keys": ["Rose"],
                    "content": "b",
                    "enabled": True,
                    "insertion_order": 2,
                    "id": 2,
                    "case_sensitive": False,
                },
            ]
        }
    )
    book.case_sensitive = True
    assert _ids(book.select(["a red rose"])) == [2]
    assert _ids(book.select(["Rose"])) == [1, 2]
