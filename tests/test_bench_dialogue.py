"""The dialogue bench's judges: what counts as an answer, an echo, markup or the wrong language."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from engine import load_persona

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
_spec = importlib.util.spec_from_file_location("dialogue_bench", ROOT / "bench" / "dialogue.py")
assert _spec is not None and _spec.loader is not None
dialogue = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = dialogue
_spec.loader.exec_module(dialogue)


@pytest.mark.parametrize(
    ("reply", "form", "found"),
    [
        ("The open mic starts at eight.", "eight", True),
        ("It starts at 8pm sharp.", "8", True),
        ("I turned eighteen last week.", "eight", False),
        ("Room 18, up the stairs.", "8", False),
        ("You drink PLUM WINE, right?", "plum wine", True),
        ("你最喜歡喝碧螺春。", "碧螺春", True),
        ("你家在蘇州。", "苏州", True),
        ("Ｆｒｉｄａｙ night!", "Friday", True),
        ("I don't remember, sorry.", "blacksmith", False),
    ],
)
def test_an_expected_form_matches_only_as_a_whole_word(reply: str, form: str, found: bool) -> None:
    assert dialogue.contains(reply, form) is found


@pytest.mark.parametrize(
    ("text", "leak"),
    [
        ("<player_message>", "<player_message>"),
        ('Sure! <meta>{"emotion": "happy"}</meta>', "<meta>"),
        ("<![INST]The[/INST]>", "<!["),
        ("Hi there. Player: Welcome to Lantern Square!", "Player:"),
        ("Mira: Hi!", "Mira:"),
        ("玩家：你好", "玩家："),
        ("Hello {player_name}!", "{player_name}"),
        ("<start_of_turn>model", "<start_of_turn>"),
        ("<|im_start|>assistant", "<|im_start|>"),
    ],
)
def test_prompt_markup_and_role_labels_are_found(text: str, leak: str) -> None:
    assert dialogue.markup_in(text, {"Mira", "mira"}) == leak


@pytest.mark.parametrize(
    "text",
    [
        "Open mic at eight: sign up before seven.",
        "Welcome back, Ada! 3 < 5 and 7 > 2.",
        "你好：欢迎",
    ],
)
def test_clean_replies_show_no_markup(text: str) -> None:
    assert dialogue.markup_in(text, {"Mira"}) is None


@pytest.mark.parametrize(
    ("player", "reply", "echo"),
    [
        (
            "Do you remember what I do for a living?",
            "Do you remember what I do for a living?",
            True,
        ),
        (
            "Do you remember what I do for a living?",
            "Hmm, do you remember what I do for a living? Ha.",
            True,
        ),
        ("我最喜欢喝什么茶，你还记得吗？", "我最喜欢喝什么茶，你还记得吗", True),
        ("Do you remember what I do for a living?", "You're a blacksmith, Ada.", False),
        ("Hi!", "Hi! Welcome to Lantern Square!", False),
    ],
)
def test_echo_is_a_near_repeat_of_the_players_line(player: str, reply: str, echo: bool) -> None:
    assert dialogue.is_echo(player, reply) is echo


def test_language_follows_the_persona_or_the_player_for_match_player() -> None:
    chen = load_persona(ROOT / "characters" / "chen.yaml")
    lin = load_persona(ROOT / "characters" / "lin.yaml")
    assert dialogue.expected_language(chen, "Hello there!") == "zh"
    assert dialogue.expected_language(lin, "你好呀") == "zh"
    assert dialogue.expected_language(lin, "Hi Lin!") == "en"
    assert dialogue.language_of("Chen (陈掌柜) runs the tea house.") == "en"
    assert dialogue.language_of("布拉姆 Bram 在西边拱门旁摆摊。") == "zh"


def test_every_shipped_scenario_loads_with_enough_probes() -> None:
    cast, players = dialogue.load_scenarios(ROOT / "bench" / "dialogue")
    assert len(cast) >= 6
    probes = [line for p in players for s in p.sessions for line in s if line.probe]
    assert len(probes) >= 40
    assert {dialogue.language_of(line.say) for line in probes} == {"en", "zh"}


def test_the_held_out_pair_loads_and_stays_out_of_the_default_run() -> None:
    cast, players = dialogue.load_scenarios(ROOT / "bench" / "dialogue" / "fresh")
    assert set(cast) == {"pell", "qin"}
    default, _ = dialogue.load_scenarios(ROOT / "bench" / "dialogue")
    assert not set(cast) & set(default)


def test_a_scenario_whose_answer_is_in_the_question_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(
        '{"character": "characters/mira.yaml", "players": [{"id": "x", "sessions": [[{"say": '
        '"Is the open mic at eight?", "probe": "knowledge", "expect": ["eight"]}]]}]}',
        encoding="utf-8",
    )
    with pytest.raises(SystemExit, match=r"bad.json: players\[0\].sessions\[0\]\[0\].expect"):
        dialogue.load_scenarios(bad)


def test_an_earlier_line_counts_as_an_echo_only_when_said_back_verbatim() -> None:
    earlier = "I have a cat called Pepper who sleeps by my forge all day."
    strict = dialogue.ECHO_EARLIER
    assert dialogue.is_echo(earlier, earlier, similarity=strict)
    said_back = "I remember: you have a cat called Pepper who sleeps by your forge all day."
    assert not dialogue.is_echo(earlier, said_back, similarity=strict)
