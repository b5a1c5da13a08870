"""The numbers a line states, written one way, so a reply's can be checked against a note's.

Digits, English number words and Chinese numerals: "七点二十" and "7:20" are both ``7:20``,
"二十五块五" and "25.5" both ``25.5``, "六千三百多米" ``6300``. A Chinese numeral counts only
as a time (``点``), an amount of money (``块``, ``元``) or before a unit or measure word, so
"一起", "十分好" and "万一" state no number.

>>> stated("5633次每天早上七点二十从普雄站开车，下午五点四十到攀枝花。")
['5633', '7:20', '5:40']
>>> stated("全程的票二十五块五，半价十二块七毛五。")
['25.5', '12.75']
>>> stated("It opens at 7:20 and costs twenty-five pounds, or 3.50 for a child.")
['7:20', '25', '3.50']
>>> stated("Choir's at half past seven, the bus at seven thirty, and the hall shuts at quarter to ten.")
['7:30', '7:30', '9:45']
"""

from __future__ import annotations

import re

__all__ = ["stated"]

_DIGIT = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6,
          "七": 7, "八": 8, "九": 9}  # fmt: skip
_UNIT = {"十": 10, "百": 100, "千": 1000}
# (not the tail of a number written in digits: "25.5元" is the English pattern's)
_ZH = r"(?<![\d.:])[零〇一二两三四五六七八九十百千万\d]+"
# What a Chinese numeral may stand before to be a number: measure words and units ("多" between:
# "六千三百多米"). Not "分" alone: "十分好" is "very good".
_MEASURE = (
    r"(?=[多余来]?(?:[度岁年个文米站秒天号月日次张碗斤里人位公层趟遍只条尺寸倍]"
    r"|分钟|个?小时|个?钟头|公里))"
)
_ZH_NUMBER = re.compile(
    rf"(?P<hour>{_ZH})点(?:(?P<part>一刻|三刻|半)|(?P<minute>{_ZH})分?|(?P<oclock>钟|整))?"
    rf"|(?P<yuan>{_ZH})[块元]钱?(?:(?P<jiao>[零〇一二两三四五六七八九\d])"
    rf"(?:[毛角](?P<fen>[一二两三四五六七八九\d])?|(?![\u3400-\u9fff])))?"
    rf"|(?P<count>{_ZH}){_MEASURE}"
)
_PARTS = {"一刻": 15, "半": 30, "三刻": 45}
_EN_WORDS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
    "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18,
    "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60,
    "seventy": 70, "eighty": 80, "ninety": 90, "hundred": 100, "thousand": 1000,
}  # fmt: skip
_EN_WORD = "|".join(sorted(_EN_WORDS, key=len, reverse=True))
# Number words one at a time ("seven thirty" is a time, not 37), tens and units hyphenated as one.
_EN_NUMBER = re.compile(rf"\d+(?:[.:]\d+)?|\b(?:{_EN_WORD})(?:-(?:{_EN_WORD}))?\b", re.IGNORECASE)
# Times said in words: "half past seven" and "half seven" (7:30), "quarter to ten" (9:45),
# "seven thirty", "eight o'clock".
_HOUR = r"(?:1[0-2]|[1-9]|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve)"
_EN_TIME = re.compile(
    rf"\b(?:half(?: past)?\s+(?P<half>{_HOUR})"
    rf"|quarter\s+(?P<way>past|after|to)\s+(?P<quarter>{_HOUR})"
    rf"|(?P<hour>{_HOUR})\s+(?P<minute>o'clock|fifteen|thirty|forty-five|forty|twenty-five|twenty"
    r"|fifty|ten)(?=\s*(?:$|[,.;:!?)]|[ap]\.?m\b|sharp\b|on\b|in\b|at\b|every\b|and\b|or\b"
    r"|then\b|till\b|until\b|to\b|tonight\b|tomorrow\b)))\b(?!-)",
    re.IGNORECASE,
)
_MINUTES = {"o'clock": 0, "fifteen": 15, "thirty": 30, "forty-five": 45, "forty": 40,
            "twenty-five": 25, "twenty": 20, "fifty": 50, "ten": 10}  # fmt: skip
#: Words that are seldom a number on their own ("the one by the gate").
_NOT_ALONE = frozenset({"one", "zero"})


def stated(text: str) -> list[str]:
    """The numbers ``text`` states, in order, each written one way (see the module's doc)."""
    found: list[tuple[int, str]] = []
    taken: list[tuple[int, int]] = []
    for match in _ZH_NUMBER.finditer(text):
        value = _zh_match(match)
        if value is not None:
            found.append((match.start(), value))
            taken.append(match.span())
    for match in _EN_TIME.finditer(text):
        found.append((match.start(), _en_time(match)))
        taken.append(match.span())
    for match in _EN_NUMBER.finditer(text):
        word = match.group(0)
        if word.lower() in _NOT_ALONE or any(a <= match.start() < b for a, b in taken):
            continue
        found.append((match.start(), word if word[0].isdigit() else _en_words(word)))
    return [value for _start, value in sorted(found)]


def _zh_match(match: re.Match[str]) -> str | None:
    if match.group("hour"):
        hour = _zh_int(match.group("hour"))
        minute, part = match.group("minute"), match.group("part")
        if minute:
            return f"{hour}:{_zh_int(minute):02d}"
        if part:
            return f"{hour}:{_PARTS[part]}"
        # "好一点", "一点点": a little, not one o'clock (unless "一点钟")
        return None if hour == 1 and not match.group("oclock") else str(hour)
    if match.group("yuan"):
        yuan, jiao, fen = match.group("yuan", "jiao", "fen")
        if not jiao:
            return str(_zh_int(yuan))
        return f"{_zh_int(yuan)}.{_zh_int(jiao)}{_zh_int(fen) if fen else ''}"
    return str(_zh_int(match.group("count")))


def _zh_int(numeral: str) -> int:
    """A Chinese (or digit) numeral's value: "二十五" 25, "六千三百" 6300, "二〇〇七" 2007."""
    if not any(ch in _UNIT or ch == "万" for ch in numeral):
        return int("".join(str(_DIGIT.get(ch, ch)) for ch in numeral))  # digit by digit
    total = section = 0
    digit: int | None = None
    for ch in numeral:
        if ch in _UNIT:
            section += (1 if digit is None else digit) * _UNIT[ch]
            digit = None
        elif ch == "万":
            total += (section + (digit or 0)) * 10000
            section, digit = 0, None
        else:
            digit = _DIGIT[ch] if ch in _DIGIT else int(ch)
    return total + section + (digit or 0)


def _en_time(match: re.Match[str]) -> str:
    """ "half past seven" 7:30, "quarter to ten" 9:45, "seven thirty" 7:30, "eight o'clock" 8."""
    if match.group("half"):
        return f"{_hour(match.group('half'))}:30"
    if match.group("quarter"):
        hour = _hour(match.group("quarter"))
        if match.group("way").lower() == "to":
            return f"{hour - 1 or 12}:45"
        return f"{hour}:15"
    hour, minute = _hour(match.group("hour")), _MINUTES[match.group("minute").lower()]
    return f"{hour}:{minute:02d}" if minute else str(hour)


def _hour(word: str) -> int:
    return int(word) if word.isdigit() else _EN_WORDS[word.lower()]


def _en_words(words: str) -> str:
    """ "seven" 7, "twenty-five" 25."""
    return str(sum(_EN_WORDS[word] for word in words.lower().split("-")))
