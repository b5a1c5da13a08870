"""The numbers a line states, written one way (engine.text.numbers)."""

from __future__ import annotations

import doctest

import pytest

import engine.text.numbers
from engine.text.numbers import stated


def test_the_module_examples_hold() -> None:
    assert doctest.testmod(engine.text.numbers).failed == 0


@pytest.mark.parametrize(
    ("text", "numbers"),
    [
        ("头班车六点一刻开，末班车九点三刻。", ["6:15", "9:45"]),
        ("八点半见，十点钟关门。", ["8:30", "10"]),
        ("门票三十块，学生十五块五。", ["30", "15.5"]),
        ("一碗面十二块，加个蛋一块五毛。", ["1", "12", "1.5"]),
        ("桥长一千二百多米，走过去二十分钟。", ["1200", "20"]),
        ("二〇一九年修的，三个钟头一趟。", ["2019", "3", "1"]),
        # numerals that are words, not numbers
        ("一起走吧，十分好，万一下雨呢，慢一点。", []),
        (
            "It shuts at half past 9 and costs twelve pounds, or forty-five for the season.",
            ["9:30", "12", "45"],
        ),
        ("The one by the gate, seven thirty sharp.", ["7:30"]),
        # times in words; number words that are no time ("two ten pound notes")
        ("Half seven, or quarter to eight; the van comes at eight o'clock.", ["7:30", "7:45", "8"]),
        (
            "Two ten pound notes for ten twenty-five year olds, half an hour.",
            ["2", "10", "10", "25"],
        ),
    ],
)
def test_numbers_are_written_one_way(text: str, numbers: list[str]) -> None:
    assert stated(text) == numbers


def test_a_chinese_numeral_and_digits_compare_equal() -> None:
    assert stated("七点二十") == stated("7:20")
    assert stated("二十五块五") == stated("25.5元")
    assert stated("seven o'clock") == stated("7 o'clock")
